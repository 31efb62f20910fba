"""scalefit: scaling laws, loss-to-loss prediction and weight statistics for LM suites.

The three layers live in ``scalefit.evals`` (measure checkpoints), ``scalefit.weightstats``
(measure weight distributions) and ``scalefit.scaling`` (fit laws to the tables). They meet
only through tidy tables keyed on (model, step).

The functions a notebook starts from are importable from here (``from scalefit import fit_law``);
each loads its layer on first use, so ``import scalefit`` needs neither torch nor lm-eval.
"""

__version__ = "0.1.0"

# name -> module under scalefit that defines it: the one list of the top-level API
API = {
    # laws
    "fit_law": "scaling.laws.fit", "compare_laws": "scaling.laws.compare",
    "calibrate_law": "scaling.laws.calibrate", "law_choices": "scaling.laws.registry",
    "laws_frame": "scaling.laws.registry",
    "fit_curves": "scaling.laws.curve_fit", "predict_curve": "scaling.laws.curve_fit",
    # loss-to-loss and loss-to-accuracy
    "run_downstream": "scaling.relations.downstream", "fit_relation": "scaling.relations.downstream",
    "pair_losses": "scaling.relations.loss2loss", "fit_accuracy": "scaling.relations.accuracy",
    # weight-statistic trajectories
    "join_checkpoints": "scaling.trajectories.join", "stat_trajectory": "scaling.trajectories.table",
    "join_stat_and_loss": "scaling.trajectories.table", "transition_study": "scaling.trajectories.transitions",
    "collapse_report": "scaling.trajectories.trajectory", "trajectory_report": "scaling.trajectories.trajectory", "warmup_study": "scaling.trajectories.warmup_study",
    "init_study": "scaling.trajectories.init_study",
    # weight statistics (torch)
    "weight_stats_table": "weightstats.measure", "tensor_stats": "weightstats.measure",
    "fit_families": "weightstats.binned_fit", "Family": "weightstats.families",
    "register_family": "weightstats.families",
    # evaluation (torch, transformers, lm-eval)
    "evaluate": "evals.evaluate", "EvalOptions": "evals.evaluate", "load_suite": "sweep.suites",
    # tables and schedules
    "read_table": "tables", "LRSchedule": "schedule", "InputError": "errors", "ScalefitWarning": "errors",
}

__all__ = ["__version__", *API]


def __getattr__(name: str):
    """Import the defining module of a top-level name on first use (PEP 562)."""
    if name not in API:
        raise AttributeError(f"module 'scalefit' has no attribute '{name}'")
    import importlib

    value = getattr(importlib.import_module(f"scalefit.{API[name]}"), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(API))

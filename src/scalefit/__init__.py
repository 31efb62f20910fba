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
    "laws_frame": "scaling.laws.registry", "predict_run": "scaling.laws.run_prediction",
    "fit_curves": "scaling.laws.curve_fit", "predict_curve": "scaling.laws.curve_fit",
    "schedule_gap": "scaling.laws.schedule_gap", "reconcile": "scaling.laws.reconcile",
    # loss-to-loss and loss-to-accuracy
    "run_downstream": "scaling.relations.downstream", "fit_relation": "scaling.relations.downstream",
    "pair_losses": "scaling.relations.loss_pairs", "fit_accuracy": "scaling.relations.accuracy",
    # weight-statistic trajectories
    "join_checkpoints": "scaling.trajectories.join", "stat_trajectory": "scaling.trajectories.table",
    "join_stat_and_loss": "scaling.trajectories.table", "transition_study": "scaling.trajectories.transitions",
    "collapse_report": "scaling.trajectories.collapse", "trajectory_report": "scaling.trajectories.trajectory", "warmup_study": "scaling.trajectories.warmup_study",
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



def __getattr__(name: str):
    """Import the defining module of a top-level name on first use (PEP 562). A name whose layer
    needs an extra that is not installed raises ModuleNotFoundError saying which extra to
    install; ``__all__`` (what ``from scalefit import *`` takes) is the names that import here,
    so a core install's star import gives the analyses of tables instead of failing on torch."""
    if name == "__all__":
        return globals().setdefault("__all__", ["__version__", *_importable()])
    if name not in API:
        raise AttributeError(f"module 'scalefit' has no attribute '{name}'")
    import importlib

    try:
        module = importlib.import_module(f"scalefit.{API[name]}")
    except ModuleNotFoundError as exc:
        from scalefit.errors import extra_for, extra_needed

        if extra_for(exc.name) is None:
            raise
        raise ModuleNotFoundError(f"scalefit.{name} {extra_needed(exc.name)}",
                                  name=exc.name) from None
    value = getattr(module, name)
    globals()[name] = value
    return value


def _importable() -> list[str]:
    """The names of API whose layer imports (every extra it needs is installed)."""
    from scalefit.errors import extra_for

    names = []
    for name in API:
        try:
            __getattr__(name)
        except ModuleNotFoundError as exc:
            if extra_for(exc.name) is None:
                raise
            continue
        names.append(name)
    return names


def __dir__():
    return sorted(set(globals()) | set(API))

"""`scalefit fit LAW` and `scalefit compare kaplan chinchilla`: thin click shells over fit_law
and compare_laws. LAW is any name or alias of the law registry."""
from __future__ import annotations

import click

from scalefit.data import MINI_RUNS, data_path
from scalefit.errors import InputError
from scalefit.folder_settings import one_setting_per_folder
from scalefit.options import (POSITIVE, Checked, NameChoice, finite_float, analysis_options, apply_column_mapping,
                              bootstrap_option, column_mapping, column_options, holdout_option,
                              delta_option, option_given, seed_option)
from scalefit.report import FIGURE_DPI, dumps
from scalefit.scaling.fitresult import BOOTSTRAP_STDERR_RULE
from scalefit.scaling.laws.registry import law_choices
from scalefit.scaling.relations.cli import FitLawCommand
from scalefit.scaling.outputs import checked_outputs
from scalefit.scaling.objective import HUBER_DELTA
from scalefit.tables import subset_rows


def default_runs_path():
    """The run table that ships with scalefit: the mini suite's measured grid."""
    return data_path(*MINI_RUNS)


def _load(data_path_arg, subset=(), columns=None, keep=()):
    """(runs, source name, shipped?) with --subset COL=VALUE filters applied, then the
    --params/--tokens/--flops/--columns mapping (``columns``: {scalefit name: table column};
    ``keep``: columns the caller splits by, see ``_shipped_default_subset``).

    The shipped mini-suite table mixes corpora (column ``distribution``) and holds warmup
    variants beside the Chinchilla grid (column ``part``); with no --subset its grid runs are
    fitted: one distribution (prose), one recipe, every schedule matched to its run's length.
    """
    from scalefit.scaling.laws.runtable import read_runs
    shipped = data_path_arg is None
    if shipped:
        path = default_runs_path()
        if not path.exists():
            raise InputError(f"{path}: the shipped run table is absent (the mini suite has not "
                             "been measured in this install); pass --data FILE")
        df, source = read_runs(path)
        if not subset:
            subset = _shipped_default_subset(df, keep)
    else:
        df, source = read_runs(data_path_arg)
    df, source = subset_rows(df, subset, source)
    if columns:
        df = apply_column_mapping(df, columns, source)
    return df, source, shipped


RUN_TABLE_KEYS = ("params", "params_nonembed", "tokens", "flops", "loss", "model", "step",
                  "run", "budget", "lr", "dataset", "distribution")


def column_keys() -> list[str]:
    """The names --columns maps to: the run table's columns and every law's own columns."""
    from scalefit.scaling.laws.registry import REGISTRY
    extra = [c for cls in REGISTRY.values() for c in getattr(cls, "columns", {}).values()]
    return list(dict.fromkeys([*RUN_TABLE_KEYS, *extra]))


def _columns_and_loss(loss_column, column_map, **flags):
    """({scalefit name: column} without loss, the loss column): --columns loss=COL picks the
    fitted loss column like --loss COL. A blank --columns, or a key scalefit does not read, is
    an InputError (it was ignored, and the fit then said a column was missing)."""
    if any(not str(item).strip(" ,") for item in column_map or ()):
        raise InputError(f"--columns: empty; expected KEY=COL,... with KEY one of "
                         f"{', '.join(column_keys())}")
    mapping = column_mapping(column_map, **flags)
    unknown = [key for key in mapping if key not in column_keys()]
    if unknown:
        raise InputError(f"--columns: unknown key '{unknown[0]}' (in {unknown[0]}="
                         f"{mapping[unknown[0]]}); keys: {', '.join(column_keys())}")
    loss = mapping.pop("loss", None)
    return mapping, loss or loss_column


def _shipped_default_subset(df, keep=()):
    """The grid part of the shipped table when it has one, else its prose runs. ``keep``:
    columns the caller splits the runs by (reconcile's --by, --panel): no default filter is on
    one of them, nor leaves one of them a single value (`reconcile --by part` walked part=grid
    alone, its other parts filtered away unsaid)."""
    candidates = []
    if "part" in df.columns and (df["part"] == "grid").any():
        candidates.append(("part", "grid"))
    if "distribution" in df.columns and df["distribution"].nunique() > 1:
        candidates.append(("distribution", "prose"))
    for column, value in candidates:
        rows = df[df[column] == value]
        if column in keep or any(rows[k].nunique() < 2 for k in keep if k in df.columns):
            continue
        return (f"{column}={value}",)
    return ()


def fit_options(func):
    """--holdout, --bootstrap, --seed, --delta, --loss: shared by fit and compare."""
    options = [
        holdout_option("Keep the largest-compute runs out of the fit: a fraction (0.2) or a "
                       "count (5), 0 for none; report each law's relative error on them."),
        bootstrap_option(1000, "Bootstrap resamples (parametric draws of the line for isoflop; "
                         "0: none) for each parameter's 95% CI and "
                         f"stderr ({BOOTSTRAP_STDERR_RULE} of the resamples' estimates)."),
        seed_option,
        delta_option(HUBER_DELTA),
        click.option("--loss", "loss_column", default="loss", show_default=True,
                     help="Loss column of the run table to fit."),
        click.option("--budget", "budgets", multiple=True, type=POSITIVE, metavar="FLOPS",
                     help="Project the compute-optimal allocation to this budget (repeatable; no "
                          "more than 1000x under the smallest run; "
                          "default: 10x and 100x the largest run, plus 1e21, 5.76e23 and 1e25 "
                          "when within 1000x of it)."),
        click.option("--subset", multiple=True, metavar="COL=VALUE",
                     help="Fit only rows with COL equal to VALUE (repeatable), e.g. "
                          "distribution=prose. Without --data the shipped table's part=grid "
                          "runs are fitted."),
    ]
    for option in reversed(options):
        func = option(func)
    return column_options(func)


def _progress(as_json):
    return True  # tqdm writes to stderr, so --json stdout stays pure


# LAW: a registry law, or a command of its own (FitLawCommand: shifted-power in
# scalefit.scaling.relations.cli, schedule-law): one list for --help, a missing and a bad LAW
FIT_LAW = NameChoice(law_choices(), also={"shifted-power": "a loss-to-loss law",
                                          "schedule-law": "whole loss curves"})


@click.command("fit", cls=FitLawCommand, epilog=f"LAW is one of: {FIT_LAW.listing()}.")
@click.argument("law", metavar="LAW", type=FIT_LAW)
@analysis_options
@fit_options
@click.option("--isoflop-method", type=click.Choice(["parabola", "akima"]), default="parabola",
              show_default=True, help="IsoFLOP minimum: Hoffmann's parabola or Porian's Akima.")
@checked_outputs
@one_setting_per_folder
def fit(law, data_path, out_dir, as_json, holdout, n_bootstrap, seed, delta, loss_column,
        budgets, subset, params_column, tokens_column, flops_column, column_map, isoflop_method):
    """Fit one scaling law (kaplan = Kaplan's L(N,D); chinchilla; isoflop; ...) to a run table.

    \b
    Prints the fit (points, Huber objective, convergence, RMSE of log loss); each parameter's
    value with its bootstrap se (half the central 68% range of the resamples: their sd where
    they are normal, not inflated by a few far draws), 95% interval and whether the runs identify
    it (--bootstrap 0: the curvature stderr instead); the allocation exponents a and b; N*, D*,
    D*/N* and loss at compute budgets (10x and 100x the largest run, published budgets only
    within 1000x), each marked prediction or projection, with 95% intervals; with --holdout the
    held-out runs' mean |relative error| and coverage; then notes and warnings (parameters the
    runs do not pin down, intervals cut at a bound, too few runs). --json prints all of it as one document.

    \b
    Example:
      scalefit fit chinchilla --data runs.csv --bootstrap 1000 --out report/
    """
    import numpy as np

    from scalefit.scaling.holdout import held_out_mask, parse_holdout
    from scalefit.scaling.laws.fit import budget_compute, fit_law
    from scalefit.scaling.laws.projection import holdout_predictions
    from scalefit.scaling.laws.registry import law_for
    from scalefit.scaling.laws.runtable import validate_runs

    columns, loss_column = _columns_and_loss(loss_column, column_map, params=params_column,
                                             tokens=tokens_column, flops=flops_column)
    law_model = law_for(law)
    if law_model.law_name != "isoflop" and option_given("isoflop_method"):
        raise InputError(f"--isoflop-method: only with LAW isoflop (got {law})")
    df, source, _ = _load(data_path, subset, columns)
    law_name = law_model.law_name
    table = validate_runs(df, law_name, loss=loss_column, source=source)
    # a law of N (or D) alone fits a table with no compute: params and a loss was a KeyError 'C'
    compute = table.C if "C" in table.frame.columns else np.full(len(table.frame), np.nan)
    if not law_model.predicts_loss and parse_holdout(holdout) is not None:  # was ignored unsaid
        raise InputError(f"--holdout: law {law_name} sets an allocation and predicts no loss, so "
                         "there is no error on held-out runs to report; leave it out")
    if parse_holdout(holdout) is not None and not np.isfinite(compute).all():
        raise InputError(f"--holdout: {source} gives no compute (flops, or params and tokens) "
                         "for every run, so there are no largest-compute runs to hold out")
    mask = held_out_mask(compute, holdout, min_fit=law_model.n_free + 1)  # not a 'column loss' error
    train, held = df[~mask], df[mask]
    train_table = validate_runs(train, law_name, loss=loss_column, source=source)
    result = fit_law(train_table, law_name, loss=loss_column, delta=delta,
                     n_bootstrap=n_bootstrap, seed=seed, progress=_progress(as_json),
                     isoflop_method=isoflop_method, budgets=list(budgets) or None,
                     held_flops=budget_compute(table, law_model)[mask], all_runs=table)
    largest = float(np.max(compute[~mask]))
    out = result.to_dict()
    out["law_given"] = law  # as typed (kaplan), beside the registry's name (kaplan-nd): law_heading
    out["data"] = source
    if len(held):
        held_table = validate_runs(held, law_name, loss=loss_column, source=source,
                                   check_size=False)
        out["holdout"] = holdout_predictions(result, held_table, largest_fitted=largest,
                                             seed=seed)
    if out_dir:
        from scalefit.scaling.laws.report import write_fit_report
        write_fit_report(out_dir, out, result, train_table.frame)
    if as_json:
        click.echo(dumps(out))
    else:
        from scalefit.scaling.laws.report import fit_text
        click.echo(fit_text(out))


def _decay(option: str, value):
    """--lambda: 'profile', or a number in [0, 1), checked here before any table is read."""
    from scalefit.scaling.laws.curve_fit import momentum_decay
    if str(value).strip().lower() == "profile":
        return "profile"
    try:
        number = finite_float(option, value)
    except InputError:
        raise InputError(f"{option}: '{value}': expected a decay in [0, 1) such as 0.999, or "
                         "'profile'") from None
    return momentum_decay(option, number)


DECAY = Checked(_decay, "decay")


def schedule_options(func):
    """--schedules, --checkpoints, --finals, --plot: issue 14's answer on one suite."""
    options = [
        click.option("--schedules", is_flag=True, default=False,
                     help="Why Kaplan and Chinchilla disagree, on one suite: fit the Chinchilla "
                          "form to the long runs' checkpoints at the grid lengths (Kaplan-style), "
                          "the own-schedule grid, the WSD cooldowns and the checkpoints "
                          "corrected by a schedule law; a, loss at 10x/100x, the share of the "
                          "gap the schedule explains, and the prediction test (200 "
                          "resamples unless --bootstrap is given)."),
        click.option("--checkpoints", "checkpoints_path", type=click.Path(dir_okay=False),
                     default=None, help="--schedules: every checkpoint of the long runs "
                                        "(default: the shipped mini suite's)."),
        click.option("--finals", "finals_path", type=click.Path(dir_okay=False), default=None,
                     help="--schedules: the last checkpoint of every run (default: the "
                          "shipped one)."),
        click.option("--plot", "plot_path", type=click.Path(dir_okay=False), default=None,
                     help="--schedules: save the figure (points, frontiers, a per set) here."),
        click.option("--lambda", "lam", type=DECAY, default=None, metavar="X|profile",
                     help="--schedules: the momentum law's decay for the corrected set (iv): a "
                          "number in [0, 1) held fixed in every fit and resample (default: Tissue "
                          "et al.'s 0.999), or 'profile': the value whose long-run fits have the "
                          "least summed objective, re-chosen in each resample. The prediction "
                          "test reports the profiled decay either way."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


@click.command("compare", epilog=f"LAWS: any of {', '.join(law_choices())} (default: kaplan chinchilla).")
@click.argument("laws", nargs=-1, metavar="[LAWS]...", type=NameChoice(law_choices()))
@analysis_options
@fit_options
@click.option("--published/--no-published", default=None,
              help="Show each law's published constants (data/published_laws.toml: Kaplan 2020, "
                   "Hoffmann 2022, Besiroglu 2024, ...) beside the fits: in the text, in --json "
                   "(key 'published') and in the --out report. Default: shown for the shipped "
                   "runs (no --data), not with --data; --published shows them beside the fits "
                   "of your own runs too.")
@schedule_options
@checked_outputs
@one_setting_per_folder(defaults={"laws": ("kaplan", "chinchilla")})
def compare(laws, data_path, out_dir, as_json, holdout, n_bootstrap, seed, delta, loss_column,
            budgets, subset, params_column, tokens_column, flops_column, column_map, published,
            schedules, checkpoints_path, finals_path, plot_path, lam):
    """Fit Kaplan's L(N,D) and Chinchilla's form to the same runs and compare them side by side.

    \b
    Shows parameters with CIs and whether the runs identify them, Huber objective, RMSE,
    AIC/BIC, held-out error with 95% prediction intervals, allocation exponents a and b, and
    each law's N*, D*, tokens per parameter and loss (with 95% intervals) at budgets from the
    data's range (10x, 100x the largest run; 1e21, 5.76e23, 1e25 FLOPs only within 1000x),
    each marked projection or prediction, N in one convention (total parameters); and two
    data-derived sentences on why the laws disagree (or that they agree within intervals).
    With no --data it uses the shipped runs and shows the published constants beside the fits
    (--published shows them with --data too).
    With --schedules it answers why they disagree on one suite's checkpoint and finals tables:
    the Chinchilla form on Kaplan-style, grid, WSD and schedule-corrected points, and the
    share of the gap the LR schedule explains, with paired-bootstrap intervals.

    \b
    Examples:
      scalefit compare kaplan chinchilla --holdout 0.2 --out report/
      scalefit compare kaplan chinchilla --schedules --plot gap.png
    """
    from scalefit.scaling.laws.compare import compare_laws

    given = {"--checkpoints": checkpoints_path, "--finals": finals_path, "--plot": plot_path,
             "--lambda": lam}
    if schedules:
        return _compare_schedules(laws, data_path, out_dir, as_json, n_bootstrap, seed, delta,
                                  checkpoints_path, finals_path, plot_path, lam,
                                  holdout=holdout, budget=budgets, subset=subset,
                                  params=params_column, tokens=tokens_column,
                                  flops=flops_column, columns=column_map, published=published)
    unused = [flag for flag, value in given.items() if value is not None]
    if unused:
        raise InputError(f"{unused[0]}: only with --schedules")
    laws = tuple(laws) or ("kaplan", "chinchilla")
    _two_different_laws(laws)
    if published:
        _published_for_some(laws)
    columns, loss_column = _columns_and_loss(loss_column, column_map, params=params_column,
                                             tokens=tokens_column, flops=flops_column)
    df, source, shipped = _load(data_path, subset, columns)
    comparison = compare_laws(df, laws, loss=loss_column, delta=delta, n_bootstrap=n_bootstrap,
                              seed=seed, holdout=holdout, progress=_progress(as_json),
                              source=source, published=shipped if published is None else published,
                              budgets=list(budgets) or None)
    if out_dir:
        from scalefit.scaling.laws.report import write_compare_report
        from scalefit.scaling.laws.runtable import validate_runs
        frame = validate_runs(df, "chinchilla", loss=loss_column, source=source).frame
        write_compare_report(out_dir, comparison, frame)
    if as_json:
        click.echo(dumps(comparison.to_dict()))
    else:
        from scalefit.scaling.laws.report import compare_text
        click.echo(compare_text(comparison.to_dict()))


def _two_different_laws(laws) -> None:
    """compare's laws: at least two, none named twice, an alias counting as its law's name
    (`compare chinchilla hoffmann` would fit one law twice and print it as two)."""
    from scalefit.scaling.laws.compare import distinct_laws

    names = distinct_laws(laws, "compare")
    if len(names) < 2:
        raise InputError(f"compare needs two different laws, got {' '.join(laws)}")


def _published_for_some(laws) -> None:
    """--published: at least one of ``laws`` has published constants to show; the flag was
    otherwise met by silence (kaplan-n, kaplan-nde: none in data/published_laws.toml)."""
    from scalefit.scaling.laws.compare import published_constants

    if not published_constants(laws):
        raise InputError(f"--published: no published constants for {' or '.join(laws)}; "
                         f"data/published_laws.toml has them for "
                         f"{', '.join(published_constants())}")


SCHEDULES_BOOTSTRAP = 200  # --schedules' resamples when --bootstrap is not given


def _compare_schedules(laws, data_arg, out_dir, as_json, n_bootstrap, seed, delta,
                       checkpoints_path, finals_path, plot_path, lam, **unused):
    """`compare kaplan chinchilla --schedules`: schedule_gap on the given or shipped tables."""
    from scalefit.scaling.laws.schedule_inputs import SHIPPED_CHECKPOINTS, SHIPPED_FINALS
    from scalefit.scaling.laws.schedule_gap import schedule_gap
    from scalefit.scaling.laws.schedule_gap_report import gap_text
    from scalefit.tables import read_table_or_shipped

    if set(law.lower() for law in laws) - {"kaplan", "chinchilla"}:
        raise InputError(f"--schedules: compares kaplan and chinchilla, got {' '.join(laws)}")
    if data_arg is not None:
        raise InputError("--data: with --schedules give --checkpoints and --finals")
    for flag, value in unused.items():
        if value:
            raise InputError(f"--{flag}: not used with --schedules")
    if (checkpoints_path is None) != (finals_path is None):
        raise InputError("--checkpoints and --finals: give both tables of one suite, or neither "
                         "(the shipped ones)")
    if not option_given("n_bootstrap"):
        n_bootstrap = SCHEDULES_BOOTSTRAP
    checkpoints, checkpoints_source = read_table_or_shipped(
        checkpoints_path, data_path(*SHIPPED_CHECKPOINTS),
        "the shipped checkpoint table is absent; pass --checkpoints FILE and --finals FILE")
    finals, finals_source = read_table_or_shipped(
        finals_path, data_path(*SHIPPED_FINALS),
        "the shipped finals table is absent; pass --checkpoints FILE and --finals FILE")
    from scalefit.scaling.laws.schedule_gap import (CHECKPOINT_COLUMNS, FINALS_COLUMNS,
                                                    _check_columns)
    _check_columns(checkpoints, CHECKPOINT_COLUMNS, "--checkpoints", checkpoints_source)
    _check_columns(finals, FINALS_COLUMNS, "--finals", finals_source)
    gap = schedule_gap(checkpoints, finals, n_bootstrap=n_bootstrap, seed=seed, delta=delta,
                       lam=lam)
    out = gap.to_dict()
    if plot_path or out_dir:
        from scalefit.scaling.laws.schedule_plots import plot_schedule_gap
        fig = plot_schedule_gap(gap)
        if plot_path:
            from scalefit.report import savefig_reproducible
            savefig_reproducible(fig, plot_path, dpi=FIGURE_DPI, bbox_inches="tight")
        if out_dir:
            from scalefit.atomic import write_frame, write_json
            from scalefit.report import save_figure, to_jsonable, write_text
            from scalefit.scaling.laws.schedule_gap_report import report_markdown
            from scalefit.scaling.outputs import write_report_folder

            def write(staging):  # the files appear together, or none of them
                write_json(staging / "schedule_gap.json", to_jsonable(out))
                write_frame(gap.table(), staging / "schedule_gap.csv")
                save_figure(fig, staging, "schedule_gap")
                write_text(staging, "report.md", report_markdown(gap))  # the text and the CSV's columns
            write_report_folder(out_dir, write)
        import matplotlib.pyplot as plt
        plt.close(fig)
    click.echo(dumps(out) if as_json else gap_text(gap))


__all__ = ["fit", "compare", "default_runs_path"]

"""The runs and options the schedule-law commands read (`fit schedule-law`, `predict curve`):
the law's options, the checkpoint table and its runs. Without --data both read the shipped mini
suite's checkpoints (prose-val loss, every checkpoint of the long runs and the warmup variants)."""
from __future__ import annotations

import click

from scalefit.data import MINI_CHECKPOINTS, MINI_FINALS
from scalefit.data import data_path as shipped_path
from scalefit.errors import InputError, suggestion
from scalefit.options import NONNEGATIVE_INT, Checked, NameChoice, delta_option, split_values
from scalefit.scaling.objective import HUBER_DELTA

SHIPPED_CHECKPOINTS = MINI_CHECKPOINTS
SHIPPED_FINALS = MINI_FINALS
SHIPPED_DATASET = "prose-val"
# the schedule-law commands' --bootstrap default (fit schedule-law, predict curve), the count their
# rough-interval note advises (not the L(N, D) fits' 1000)
SCHEDULE_RESAMPLES = 200


def schedule_law_choices() -> list[str]:
    """The schedule laws of the registry (one size each; --by-size picks the ``-n`` form), then
    their aliases (``tissue``, ``mpl``): what --law accepts."""
    from scalefit.scaling.laws.registry import ALIASES, REGISTRY
    from scalefit.scaling.laws.schedule_law import ScheduleLaw
    names = [n for n, cls in REGISTRY.items() if issubclass(cls, ScheduleLaw) and not cls.by_size]
    return names + [alias for alias, name in ALIASES.items() if name in names]


def _canonical_schedule_law(ctx, param, value):
    """--law's value as the registry names it (an alias such as 'tissue' is 'momentum')."""
    from scalefit.scaling.laws.registry import canonical_law
    return canonical_law(value)


def schedule_law_options(func):
    """--law, --loss-column, --dataset, --model, --by-size, --min-step, --delta."""
    options = [
        click.option("--law", type=NameChoice(schedule_law_choices()), callback=_canonical_schedule_law,
                     default="momentum", show_default=True,
                     help="momentum: Tissue et al. 2024; multi-power: Luo et al. 2025."),
        click.option("--loss-column", default="loss", show_default=True,
                     help="Loss column, or the metric of a long table's metric/value rows."),
        click.option("--dataset", default=None,
                     help=f"Dataset of a long table's loss rows: required with --data when the table has "
                          f"several; without --data, the shipped table's {SHIPPED_DATASET}."),
        click.option("--model", "models", multiple=True, metavar="RUN[,RUN]",
                     help="Runs (model column) to fit on, of one size unless --by-size; "
                          "default every run of the table (which then must be of one size, "
                          "or give --by-size)."),
        click.option("--by-size", is_flag=True, default=False,
                     help="L0 and A power laws of N (params column): one fit for runs of "
                          "several sizes."),
        click.option("--min-step", type=NONNEGATIVE_INT, default=None,
                     help="First checkpoint fitted (default: twice the end of each run's "
                          "warmup)."),
        delta_option(HUBER_DELTA),
        click.option("--lambda", "lam", type=Checked(_momentum_decay, "decay"), default=None,
                     help="Momentum law: the decay lambda of S2, in [0, 1), held fixed "
                          "(default: Tissue et al.'s 0.999)."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _momentum_decay(option: str, value) -> float:
    """--lambda: a decay in [0, 1), checked before any table is read (curve_fit's one check)."""
    from scalefit.scaling.laws.curve_fit import momentum_decay
    return momentum_decay(option, value)


def law_name(law: str, by_size: bool) -> str:
    return f"{law.lower()}-n" if by_size else law.lower()


def load_rows(data_path, loss_column, dataset, runs=()):
    """(loss rows, source, dataset) of the given or the shipped checkpoint table; with ``runs``
    (--model, --measured) only their rows are checked and kept when the table has them all, so
    that a bad row of a run not asked for does not refuse the command (unknown names are
    `pick_runs`'s to say, with every run listed)."""
    from scalefit.scaling.laws.curves import loss_rows
    from scalefit.tables import read_table_or_shipped
    frame, path = read_table_or_shipped(data_path, shipped_path(*SHIPPED_CHECKPOINTS),
                                        "the shipped checkpoint table is absent; pass --data FILE",
                                        "a checkpoint table: a header row, then one row per "
                                        "checkpoint with model, step, lr and a loss")
    if data_path is None:
        dataset = dataset or SHIPPED_DATASET
    _check_columns_named(frame, loss_column, dataset, path)
    runs = split_values(runs)
    if runs and "model" in frame.columns:
        names = frame["model"].astype(str)
        if set(runs) <= set(names):
            frame = frame[names.isin(runs)]
    return loss_rows(frame, loss_column, dataset, path), path, dataset


def _check_columns_named(frame, loss_column, dataset, source) -> None:
    """--dataset and --loss-column against the table before the rows are read: a --dataset that
    a table without a dataset column ignored (the fit ran on all its rows, unsaid) or that no
    row has ('no rows with a step, an lr and a loss'), and a missing loss column with the
    table's loss-like columns to choose from (it named none)."""
    from scalefit.errors import known
    columns = set(frame.columns)
    long = {"metric", "value", "dataset"} <= columns
    if loss_column not in columns and not long:
        losses = [str(c) for c in frame.columns if "loss" in str(c).lower()]
        raise InputError(f"{source}: column '{loss_column}' is missing and the table has no "
                         "metric/value/dataset rows to take it from (columns: "
                         f"{', '.join(map(str, frame.columns))}); choose the loss with "
                         f"--loss-column COL{f', e.g. --loss-column {losses[0]}' if losses else ''}")
    if dataset is None:
        return
    if "dataset" not in columns:
        raise InputError(f"{source}: --dataset {dataset}: the table has no 'dataset' column, so "
                         f"its '{loss_column}' column is the one loss there is; leave --dataset out")
    names = frame["dataset"].dropna().astype(str)
    if not (names == dataset).any():
        raise InputError(f"{source}: --dataset '{dataset}': no row has it (datasets: "
                         f"{known(names.unique())})")


def pick_runs(rows, models, source, option: str = "--model"):
    """The rows of the named runs (all rows with none); ``option`` names the flag that gave
    them in an error."""
    models = split_values(models)
    known = sorted(rows["model"].unique())
    unknown = [m for m in models if m not in known]
    if unknown:  # a near name first: 24 runs are a long list to find a typo's run in
        near = suggestion(unknown[0], known, otherwise="")
        raise InputError(f"{source}: {option} {', '.join(unknown)}: no such run{near} "
                         f"(runs: {', '.join(known)})")
    return rows[rows["model"].isin(models)] if models else rows


def one_size_unless_by_size(rows, by_size: bool, source) -> None:
    """InputError when the runs to fit differ in size (params) without --by-size, before the fit:
    ``curve_fit.mixed_sizes`` says what to pass instead (--by-size, or --model with runs of one
    size), as fit_curves says it to a notebook."""
    if by_size or "params" not in rows.columns:
        return
    from scalefit.scaling.laws.curve_fit import mixed_sizes
    mixed = mixed_sizes(rows.groupby("model")["params"].first().to_dict())
    if mixed:
        raise InputError(f"{source}: {mixed}")

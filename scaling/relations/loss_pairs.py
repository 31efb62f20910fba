"""Pairing two losses of the same models for a loss-to-loss relation (``loss2loss`` fits it):
train-to-test (one model, two of its losses), train-to-train and test-to-test (models trained on
two datasets, paired by equal params and tokens, or by compute: the lowest-loss run of each
dataset at each FLOP budget)."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from scalefit.errors import InputError, known, row_name, rows_name, suggestion
from scalefit.options import nonnegative_int, one_of
from scalefit.renamed import renamed_arguments
from scalefit.scaling.flags import named
from scalefit.scaling.laws.runtable import DISTRIBUTION_COLUMNS, mixed_values, refuse_repeated_rows
from scalefit.scaling.relations.resampling import UNIT, checkpoint_units
from scalefit.schema import FLOPS_PER_PARAM_TOKEN, KEYS, checked_steps, distinct_rows
from scalefit.tables import as_table

PAIRINGS = ("train-to-train", "train-to-test", "test-to-test")
MATCHES = ("tokens", "compute")
RUN_KEYS = ("params", "tokens")


@dataclass
class LossPairs:
    """Paired losses (columns x, y, params, tokens, flops) and the runs behind each side's E fit."""

    pairs: pd.DataFrame
    x_runs: pd.DataFrame  # params, tokens, loss: the x distribution's models (for E_x)
    y_runs: pd.DataFrame  # params, tokens, loss: the y distribution's models (for E_y)
    x: str
    y: str
    pairing: str
    x_from: str | None = None
    y_from: str | None = None
    match: str = "tokens"
    notes: list = field(default_factory=list)  # runs of one side that found no pair

    @property
    def label_x(self) -> str:
        return f"{self.x} ({self.x_from})" if self.x_from else self.x

    @property
    def label_y(self) -> str:
        return f"{self.y} ({self.y_from})" if self.y_from else self.y

    def __repr__(self) -> str:
        """A notebook's view: what was paired with what, how, and how many (the dataclass repr
        printed the three tables)."""
        how = "same model" if self.pairing == "train-to-test" else f"paired by {self.match}"
        return "\n".join([f"LossPairs {self.pairing} ({how}): {self.label_x} -> {self.label_y}, "
                          f"{len(self.pairs)} pairs; for E_x and E_y {len(self.x_runs)} x runs, "
                          f"{len(self.y_runs)} y runs",
                          *[f"  note: {n}" for n in self.notes], "  .pairs, .x_runs, .y_runs"])



def _numbers(frame: pd.DataFrame, column: str, source: str, *, positive: bool = True,
             what: str = "a loss", zero_ok: bool = False) -> np.ndarray:
    """A column as floats: missing cells stay NaN (the row is not used); a cell that is not a
    number, infinite, or not positive (zero allowed with ``zero_ok``) is an InputError naming
    the file, the column and the row."""
    if column not in frame.columns:
        raise InputError(f"{source}: column '{column}' is missing{missing_hint(column, frame)}")
    values = pd.to_numeric(frame[column], errors="coerce").to_numpy(float)
    raw = frame[column].to_numpy()
    for i, (v, r) in enumerate(zip(values, raw)):
        where = f"{source}: column '{column}', {row_name(frame, i)}"
        if np.isnan(v) and not (r is None or (isinstance(r, float) and np.isnan(r))):
            raise InputError(f"{where}: '{r}' is not a number")
        if np.isinf(v):
            raise InputError(f"{where}: value {v:g}; {what} must be a finite number")
        if positive and np.isfinite(v) and (v < 0 or (v == 0 and not zero_ok)):
            raise InputError(f"{where}: {what} must be positive, got {v:g}")
    return values


COLUMN_CUTOFF = 0.8  # how near a missing column's name another must be to be offered


def missing_hint(column: str, frame: pd.DataFrame, limit: int = 20) -> str:
    """The tail of a missing column's message: a column named almost the same (a typo; difflib
    ratio 0.8, ``errors.suggestion``'s default 0.5 offered 'train_loss_5' for a target table
    without 'val_loss'), else the columns (the first ``limit``, sorted, and how many in all: a
    wide table's 86 made a 3,000-character line)."""
    return suggestion(column, frame.columns, cutoff=COLUMN_CUTOFF,
                      otherwise=f" (columns: {known(frame.columns, limit)})")


def _column(frame: pd.DataFrame, column: str, source: str) -> np.ndarray:
    return _numbers(frame, column, source, what="a loss or accuracy", zero_ok=True)


def _runs(frame: pd.DataFrame, loss: str, source: str) -> pd.DataFrame:
    """params, tokens, loss, flops (6ND) of the rows whose loss is present."""
    out = pd.DataFrame({"loss": _column(frame, loss, source)}, index=frame.index)
    for key in RUN_KEYS:
        if key in frame.columns:
            # tokens 0 is a step-0 checkpoint: kept as a pair, left out of the Kaplan fits of E
            out[key] = _numbers(frame, key, source, what=key, zero_ok=key == "tokens")
    if "params" in out and "tokens" in out:
        out["flops"] = FLOPS_PER_PARAM_TOKEN * out["params"] * out["tokens"]
    elif "flops" in frame.columns:
        out["flops"] = _numbers(frame, "flops", source, what="flops", zero_ok=True)
    for key in ("model", "step"):
        if key in frame.columns:
            out[key] = frame[key].to_numpy()
    return out[np.isfinite(out["loss"])]


def _one_value_per_checkpoint(part: pd.DataFrame, columns, source: str) -> pd.DataFrame:
    """``part`` with each checkpoint or run once (``schema.distinct_rows``): one (model, step) of
    a checkpoint table; in a run table without ``step``, two rows of one model that differ only
    in the fitted ``columns`` (one run measured twice). The same values written twice count
    once; different ones are refused, as a long evaluation table's are
    (``evaltables.wide_measurements``): both rows were fitted as two pairs."""
    if "model" not in part.columns or part.empty:
        return part
    values = tuple(dict.fromkeys(columns))
    if "step" in part.columns:
        return distinct_rows(part, KEYS, source, "checkpoint", values=values,
                             hint="a checkpoint is measured once: drop the copies, or pick one "
                                  "with --subset COL=VALUE")
    rest = [c for c in part.columns if c not in values]
    return distinct_rows(part, rest, source, "run", values=values, named=("model",),
                         hint="they differ in nothing else, so they are one run measured twice: "
                              "keep one row (drop the other), or add a column (e.g. seed) that "
                              "tells two runs apart")


def _one_run_per_size(runs: pd.DataFrame, group: str, name, source: str) -> None:
    """Two runs of one training set at the same params and tokens (an LR or seed variant) cannot
    be paired by tokens: refused, naming both rows, instead of keeping whichever came first."""
    twice = np.flatnonzero(runs["_key"].duplicated(keep=False).to_numpy())
    if not twice.size:
        return
    same = twice[runs["_key"].to_numpy()[twice] == runs["_key"].iloc[twice[0]]]
    first = runs.iloc[int(same[0])]
    raise InputError(f"{source}: {group} = '{name}': "
                     f"{rows_name(runs, same)} are {same.size} runs "
                     f"with params {first['params']:g} and tokens {first['tokens']:g}; --match "
                     "tokens pairs one run per (params, tokens) of each training set: keep one "
                     "(--subset COL=VALUE), or pair by --match compute (each budget's lowest loss)")


def _subset(frame, name, group, source):
    if name is None:
        return frame
    if group not in frame.columns:
        raise InputError(f"{source}: column '{group}' is missing (needed to select '{name}')")
    part = frame[frame[group].astype(str) == str(name)]
    if part.empty:
        raise InputError(f"{source}: column '{group}': no rows for '{name}' (have: {known(frame[group])})")
    return part


def _one_training_set(frame: pd.DataFrame, group: str, source: str) -> None:
    """Refuse pooling runs trained on different data in one train-to-test relation (the shipped
    runs.csv holds prose and code runs: pooled, 28 pairs fitted one curve through both)."""
    for column in dict.fromkeys((group, *DISTRIBUTION_COLUMNS)):
        names = mixed_values(frame, column)
        if names:
            raise InputError(f"{source}: column '{column}' holds runs trained on {len(names)} data sets "
                             f"({', '.join(names[:5])}{', ...' if len(names) > 5 else ''}); a train-to-test "
                             f"relation is fitted to the runs of one: choose it with --x-from {names[0]} "
                             f"--group-column {column} (in Python: x_from='{names[0]}', group='{column}')")


def _run_key(runs: pd.DataFrame, match: str) -> pd.Series:
    if match == "tokens":
        return (runs["params"].round().astype("int64").astype(str) + "|"
                + np.log(runs["tokens"]).round(6).astype(str))
    return np.log10(runs["flops"]).round(2).astype(str)


def check_pairing(pairing: str, x=None, y=None, y_from=None, x_from=None) -> None:
    """Refuse what train-to-test cannot mean: a ``y_from`` other than ``x_from`` (both losses are
    of the same runs, which x_from picks: the y side has no runs of its own) and x = y (the
    identity relation)."""
    if pairing != "train-to-test":
        if x is not None and x == y and x_from is not None and str(x_from) == str(y_from):
            raise InputError(f"--x-from and --y-from: both '{x_from}', with --x and --y both "
                             f"'{x}': each run would be paired with itself, so the relation "
                             "would be the identity; name two training sets")
        return
    if y_from is not None and y_from != x_from:
        raise InputError(f"--y-from {y_from}: only with --pair train-to-train or test-to-test; "
                         "train-to-test relates two losses of the same runs (pick them with "
                         "--x-from)")
    if x is not None and x == y:
        raise InputError(f"--x and --y: both name '{x}' of the same runs (--pair train-to-test), "
                         "so the relation would be the identity; give two different "
                         "measurements, or --pair train-to-train with --x-from and --y-from")


@renamed_arguments(frame="table")
def pair_losses(table: pd.DataFrame, x: str, y: str, pairing: str = "train-to-test", *,
                x_from: str | None = None, y_from: str | None = None, group: str = "data",
                match: str = "tokens", source: str = "<table>", min_pairs: int = 3) -> LossPairs:
    """Pair loss x with loss y: on the same model (train-to-test) or across two datasets' models.

    train-to-train / test-to-test need ``x_from`` and ``y_from`` (values of column ``group``):
    the x side is the models trained on x_from, the y side those trained on y_from; ``match``
    "tokens" pairs runs with equal params and tokens, "compute" pairs each dataset's lowest-loss
    run per FLOP budget (6ND, to 2 decimals in log10). ``table``: a DataFrame, a path, row dicts
    or a dict of columns (``tables.as_table``), each run or checkpoint once.
    """
    table, source = as_table(table, source)
    if not table.index.is_unique:  # tables concatenated without ignore_index: rows by position
        table = table.reset_index(drop=True)
    table = checked_steps(table, source)  # a step of 'final' or -5 keyed a checkpoint unsaid
    refuse_repeated_rows(table, source, "a table lists each run or checkpoint once (drop the copies)")
    pairing = one_of(named("pairing"), pairing, PAIRINGS)  # 'Train-To-Test' was refused
    match = one_of(named("match"), match, MATCHES)
    check_pairing(pairing, y_from=y_from, x_from=x_from)  # y_from was overwritten by x_from, unsaid
    if pairing == "train-to-test" and match != "tokens":  # one model's two losses: no matching
        raise InputError(f"{named('match')} {match}: pairs the runs of two training sets (--pair "
                         "train-to-train or test-to-test); train-to-test pairs two losses of "
                         "the same runs (drop --match)")
    min_pairs = nonnegative_int("min_pairs", min_pairs)
    if pairing == "train-to-test":
        part = _subset(table, x_from, group, source)
        x_runs = _runs(part, x, source)  # first: a column missing, a cell that is no number
        y_runs = _runs(part, y, source)
        if x_from is None:  # the columns are there: are the runs of one training set?
            _one_training_set(table, group, source)
        part = _one_value_per_checkpoint(part, (x, y), source)  # after: two sets' runs share model names
        x_runs, y_runs = (runs[runs.index.isin(part.index)] for runs in (x_runs, y_runs))
        units = checkpoint_units(part)  # whole models of a checkpoint table, else each run
        unit_of = units if units is not None else pd.Series(part.index.astype(str),
                                                            index=part.index)
        x_runs[UNIT] = unit_of.loc[x_runs.index].to_numpy()
        y_runs[UNIT] = unit_of.loc[y_runs.index].to_numpy()
        both = x_runs.join(y_runs[["loss"]].rename(columns={"loss": "y"}), how="inner")
        pairs = both.rename(columns={"loss": "x"})
        y_from = x_from
        rows = "checkpoint" if units is not None else "run"
        notes = [f"{n} {rows}{'s' if n > 1 else ''} with {has} {'have' if n > 1 else 'has'} no "
                 f"{lacks} (left out of the pairs)"
                 for n, has, lacks in ((_alone(x_runs.index, y_runs.index), x, y),
                                       (_alone(y_runs.index, x_runs.index), y, x)) if n]
    else:
        if x_from is None or y_from is None:
            raise InputError(f"{named('pairing')} {pairing}: name the two training sets with "
                             f"{named('x_from')} and {named('y_from')} (values of column '{group}')")
        x_part, y_part = _subset(table, x_from, group, source), _subset(table, y_from, group, source)
        x_runs, y_runs = _runs(x_part, x, source), _runs(y_part, y, source)
        x_part = _one_value_per_checkpoint(x_part, (x,), source)
        y_part = _one_value_per_checkpoint(y_part, (y,), source)
        x_runs = x_runs[x_runs.index.isin(x_part.index)]
        y_runs = y_runs[y_runs.index.isin(y_part.index)]
        for key in (("params", "tokens") if match == "tokens" else ("flops",)):
            if key not in x_runs.columns:
                raise InputError(f"{source}: column '{key}' is missing (pairing by {match})")
        x_runs[UNIT] = _run_key(x_runs, match).to_numpy()  # one configuration, two datasets
        y_runs[UNIT] = _run_key(y_runs, match).to_numpy()
        left, right = x_runs, y_runs
        if match == "compute":
            left = x_runs.loc[x_runs.groupby(_run_key(x_runs, match))["loss"].idxmin()]
            right = y_runs.loc[y_runs.groupby(_run_key(y_runs, match))["loss"].idxmin()]
        left = left.assign(_key=_run_key(left, match).to_numpy())
        right = right.assign(_key=_run_key(right, match).to_numpy())
        if match == "tokens":  # the first of two runs was kept: the fit changed with row order
            for side, name in ((left, x_from), (right, y_from)):
                _one_run_per_size(side, group, name, source)
        right = right.drop_duplicates("_key")
        runs, by = (("runs", "of equal params and tokens") if match == "tokens" else
                    ("FLOP budgets", "at the same compute (6ND to 2 decimals in log10)"))
        notes = [f"{n} of the {len(side)} {name} {runs} have no {other} run {by} (left out of "
                 "the pairs)" for n, side, name, other in (
                     (_alone(left["_key"], right["_key"]), left, x_from, y_from),
                     (_alone(right["_key"], left["_key"]), right, y_from, x_from)) if n]
        # by compute the y run is its own run (another N and D at the same FLOPs): keep its size
        # for whatever is scored at the y run (the Kaplan baseline of a held-out pair)
        y_sizes = ({key: f"y_{key}" for key in RUN_KEYS if key in right.columns}
                   if match == "compute" else {})
        pairs = left.drop_duplicates("_key").merge(
            right[["_key", "loss", *y_sizes]].rename(columns={"loss": "y", **y_sizes}),
            on="_key", how="inner")
        pairs = pairs.drop(columns="_key").rename(columns={"loss": "x"})
    pairs = pairs[np.isfinite(pairs["x"]) & np.isfinite(pairs["y"])].reset_index(drop=True)
    if len(pairs) < min_pairs:  # the notes say why: which side's runs found no partner
        raise InputError(f"{source}: only {len(pairs)} (x, y) pairs of '{x}' and '{y}' "
                         f"({pairing}); need at least {min_pairs}"
                         + "".join(f"; {note}" for note in notes))
    check_pairing(pairing, x, y, y_from=y_from, x_from=x_from)  # the identity relation
    return LossPairs(pairs, x_runs.reset_index(drop=True), y_runs.reset_index(drop=True),
                     x, y, pairing, x_from, y_from, match, notes)


def _alone(keys, others) -> int:
    """How many of ``keys`` (one side's runs) have no match in ``others`` (the other side's)."""
    return int((~pd.Index(keys).isin(pd.Index(others))).sum())

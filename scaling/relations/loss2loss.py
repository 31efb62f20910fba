"""Loss-to-loss prediction (Brandfonbrener et al. 2024, arXiv:2411.12925): L_y = K (L_x - E_x)^kappa + E_y.

How the paper fits it (KempnerInstitute/loss-to-loss-notebooks, reproduced exactly on its data):
E_x and E_y are the irreducible terms of per-dataset Kaplan L(N, D) + E fits (``fit_law(...,
"kaplan-nde")``: Huber on log residuals, delta 1e-3); with E fixed the relation is a straight line
in log space, log(L_y - E_y) = log K + kappa log(L_x - E_x), fitted by ordinary least squares.
That is ``method="ols"`` (default). ``method="huber"`` fits the same line with a Huber loss;
``e_source="fit"`` frees E_x and E_y too (log-space least squares on L_y). The bootstrap resamples
runs and refits both Kaplan laws in each resample (``relations.joint_bootstrap``), so the
intervals carry E's uncertainty; with E held fixed kappa's 95% interval was several times too
narrow (it covered the truth 68% of the time on synthetic data; 99% with E refitted).

Pairings: train-to-test (one model, two of its losses), train-to-train and test-to-test (models
trained on two datasets, paired by equal params and tokens, or by compute: the lowest-loss run of
each dataset at each FLOP budget).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import lmfit
import numpy as np
import pandas as pd
from scipy.optimize import least_squares

from scalefit.errors import InputError, data_row, known, suggestion
from scalefit.options import irreducible_loss, nonnegative_int, one_of
from scalefit.renamed import renamed_arguments
from scalefit.scaling.fitresult import FitResult, ParamEstimate, bound_warnings
from scalefit.scaling.flags import named
from scalefit.scaling.laws.runtable import DISTRIBUTION_COLUMNS, mixed_values, refuse_repeated_rows
from scalefit.scaling.objective import HUBER_DELTA
from scalefit.scaling.relations import forms as relation_forms
from scalefit.scaling.relations.intervals import observed_residuals
from scalefit.scaling.relations.resampling import UNIT, attach_draws, checkpoint_units, unit_bootstrap
from scalefit.scaling.resample import resample_indices
from scalefit.schema import FLOPS_PER_PARAM_TOKEN, KEYS, checked_steps, distinct_rows
from scalefit.tables import as_table

PAIRINGS = ("train-to-train", "train-to-test", "test-to-test")
MATCHES = ("tokens", "compute")
E_SOURCES = ("kaplan", "given", "fit")
METHODS = ("ols", "huber")
RUN_KEYS = ("params", "tokens")


# --- pairing --------------------------------------------------------------------------------

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
        where = f"{source}: column '{column}', row {data_row(frame, i)}"
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
    raise InputError(f"{source}: {group} = '{name}': rows "
                     f"{', '.join(str(data_row(runs, int(i))) for i in same)} are {same.size} runs "
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


# --- irreducible losses ---------------------------------------------------------------------

def kaplan_fit(runs: pd.DataFrame, *, n_bootstrap: int = 0, seed: int = 0,
               source: str = "<table>", column: str = "loss") -> FitResult:
    """Kaplan L(N, D) + E fitted to one distribution's runs: the source of E_x or E_y.

    Runs at D = 0 (step-0 checkpoints) and runs without params or tokens are left out, with a
    note; ``components["runs"]`` holds the runs fitted (what a bootstrap resamples).
    ``column``: the table's name of the runs' loss, for the run-table check's messages.
    """
    from scalefit.scaling.laws.fit import fit_law
    from scalefit.scaling.laws.runtable import validate_runs
    for key in RUN_KEYS:
        if key not in runs.columns:
            raise InputError(f"{source}: column '{key}' is missing: E from a Kaplan fit needs "
                             "params and tokens (or give E_x, E_y: --e given, or fit them: "
                             "--e fit)")
    usable = (runs["tokens"] > 0) & np.isfinite(runs["params"]) & np.isfinite(runs["tokens"])
    table = runs.loc[usable, ["params", "tokens", "loss"]]
    notes = []
    if (~usable).any():
        notes.append(f"{int((~usable).sum())} runs at D = 0 tokens or without params/tokens "
                     "left out of the Kaplan fit")
    # each row is its own run (the table's index): two runs with equal N, D and loss are two
    # points, not one run repeated, so the run-table check keys on the row
    keyed = table.assign(run=table.index.astype(str))
    if column not in keyed.columns:  # its messages name the column the file calls the loss
        keyed = keyed.rename(columns={"loss": column})
    else:
        column = "loss"
    validate_runs(keyed, "kaplan-nde", loss=column, source=source)  # errors name the file's row
    table = table.reset_index(drop=True)
    key = (table.to_numpy(dtype=np.float64).tobytes(), int((~usable).sum()), n_bootstrap, seed)
    if key not in _KAPLAN_FITS:
        if len(_KAPLAN_FITS) >= _KAPLAN_CACHE_SIZE:
            _KAPLAN_FITS.pop(next(iter(_KAPLAN_FITS)))
        try:
            fit = fit_law(table.assign(run=np.arange(len(table))), "kaplan-nde", loss="loss",
                          n_bootstrap=n_bootstrap, seed=seed)
        except ValueError as err:  # the optimizer left the finite range of the law
            raise InputError(f"{source}: the Kaplan L(N,D)+E fit of E failed ({err}); give "
                             "E_x, E_y (--e given) or fit them with the relation (--e fit)"
                             ) from None
        fit.warnings.extend(notes)
        fit.components["runs"] = table
        _KAPLAN_FITS[key] = fit
    return _KAPLAN_FITS[key]


# One dataset's E serves every pair it enters: a table of 6 datasets has 30 ordered pairs
# but only 6 Kaplan fits. Keyed on the exact (params, tokens, loss) values; results are not
# mutated by callers.
_KAPLAN_FITS: dict = {}
_KAPLAN_CACHE_SIZE = 64


# --- the relation ---------------------------------------------------------------------------

def _line_ols(u, v):
    """Slope and intercept of v on u by least squares, along the last axis (batched)."""
    um = u.mean(axis=-1, keepdims=True)
    vm = v.mean(axis=-1, keepdims=True)
    du = u - um
    slope = (du * (v - vm)).sum(axis=-1) / (du * du).sum(axis=-1)
    return slope, vm[..., 0] - slope * um[..., 0]


def _log_gap(x, y, E_x, E_y):
    gx, gy = x - E_x, y - E_y
    ok = (gx > 0) & (gy > 0)
    return ok, np.log(np.where(ok, gx, 1.0)), np.log(np.where(ok, gy, 1.0))


def _fixed_e_model():
    def log_gap_line(u, log_K, kappa):
        return log_K + kappa * u
    return lmfit.Model(log_gap_line, independent_vars=["u"])


def _free_e_residual(theta, x, log_y):
    log_K, kappa, E_x, E_y = theta
    gap = np.maximum(x - E_x, 1e-12)
    return np.log(np.exp(log_K) * gap ** kappa + E_y) - log_y


def _free_e_start(x, y):
    """Grid over (E_x, E_y) below the data, OLS for (K, kappa): the best starting point."""
    best = None
    for fx in np.linspace(0.0, 0.95, 20):
        for fy in np.linspace(0.0, 0.95, 20):
            E_x, E_y = fx * x.min(), fy * y.min()
            _, u, v = _log_gap(x, y, E_x, E_y)
            kappa, log_K = _line_ols(u, v)
            r = _free_e_residual((log_K, kappa, E_x, E_y), x, np.log(y))
            sse = float(r @ r)
            if best is None or sse < best[0]:
                best = (sse, np.array([log_K, kappa, E_x, E_y]))
    return best[1]


def fit_shifted_power(x, y, *, E_x: float | None = None, E_y: float | None = None,
                      method: str = "ols", delta: float = HUBER_DELTA, n_bootstrap: int = 0,
                      seed: int = 0, progress: bool = False, units=None) -> FitResult:
    """Fit L_y = K (L_x - E_x)^kappa + E_y to paired losses; E given, or fitted when None.

    With E_x and E_y given: lmfit on the line log(y - E_y) = log K + kappa log(x - E_x),
    least squares (method "ols", the paper's) or Huber(delta). With both None: all four
    parameters by least squares on log y. Bootstrap (pairs resampled; whole ``units`` when
    given, e.g. the models of a checkpoint table) gives the ci95 and ``result.draws``
    (per-parameter arrays) for prediction intervals; given E values stay fixed in it. With E
    from per-dataset Kaplan fits, ``fit_loss_to_loss`` refits them in each resample instead.
    """
    x = np.asarray(x, float)
    y = np.asarray(y, float)
    method = one_of(named("method"), method, METHODS)
    if (E_x is None) != (E_y is None):
        raise InputError("give both E_x and E_y, or neither (then both are fitted)")
    warnings: list[str] = []
    free_e = E_x is None
    if free_e:
        result = _fit_free_e(x, y, warnings)
    else:
        ok, u, v = _log_gap(x, y, E_x, E_y)
        if (~ok).any():
            warnings.append(f"{int((~ok).sum())} pairs lie at or below (E_x, E_y) and were "
                            "left out of the fit")
        if ok.sum() < 3:
            raise InputError(f"only {int(ok.sum())} pairs lie above E_x={E_x:.4g}, "
                             f"E_y={E_y:.4g}; need at least 3")
        x, y, u, v = x[ok], y[ok], u[ok], v[ok]
        units = None if units is None else np.asarray(units)[ok]
        result = _fit_fixed_e(u, v, E_x, E_y, method, delta, warnings)
    result.extra.update({"method": method if not free_e else "least-squares (E fitted)",
                         "e_free": free_e})
    pred = relation_forms.shifted_power_law(x, **result.values())
    resid = np.log(y) - np.log(pred)
    result.extra["rmse_log"] = float(np.sqrt(np.mean(resid ** 2)))
    result.extra["max_abs_rel_error"] = float(np.max(np.abs(pred / y - 1)))
    n_free = 4 if free_e else 2
    result.components["residuals"] = observed_residuals(resid, n_free)
    result.components["seed"] = seed
    if n_bootstrap > 0:
        draws, failed = _bootstrap(x, y, result, free_e, method, delta, n_bootstrap, seed,
                                   progress, units)
        attach_draws(result, draws, failed, n_bootstrap,
                     fixed=() if free_e else ("E_x", "E_y"))
        result.extra["bootstrap"]["e_held_fixed"] = not free_e
    return result


def _fit_fixed_e(u, v, E_x, E_y, method, delta, warnings) -> FitResult:
    model = _fixed_e_model()
    params = model.make_params(log_K=0.0, kappa=1.0)
    params.add("K", expr="exp(log_K)")
    slope, icept = _line_ols(u, v)
    params["log_K"].set(value=float(icept))
    params["kappa"].set(value=float(slope))
    if method == "ols":
        res = model.fit(v, params, u=u, method="leastsq")
    else:
        res = model.fit(v, params, u=u, method="least_squares",
                        fit_kws={"loss": "huber", "f_scale": delta})
    est = {}
    for name in ("K", "kappa"):
        p = res.params[name]
        est[name] = ParamEstimate(float(p.value), float(p.stderr) if p.stderr else float("nan"))
    est["E_x"] = ParamEstimate(float(E_x))
    est["E_y"] = ParamEstimate(float(E_y))
    r = np.asarray(res.residual)
    ss_tot = float(np.sum((v - v.mean()) ** 2))
    warnings.extend(bound_warnings(res.params))
    if len(u) < 6:
        warnings.append(f"too few points: {len(u)} pairs for 2 parameters")
    return FitResult("shifted-power", est, n_points=len(u), objective=float(r @ r),
                     converged=bool(res.success), warnings=warnings,
                     extra={"r_squared_log": 1 - float(r @ r) / ss_tot if ss_tot > 0 else float("nan")},
                     model_result=res)


def _fit_free_e(x, y, warnings) -> FitResult:
    start = _free_e_start(x, y)

    def log_shifted(x, log_K, kappa, E_x, E_y):
        gap = np.maximum(x - E_x, 1e-12)
        return np.log(np.exp(log_K) * gap ** kappa + E_y)

    model = lmfit.Model(log_shifted, independent_vars=["x"])
    params = model.make_params(log_K=start[0], kappa=start[1], E_x=start[2], E_y=start[3])
    params["kappa"].set(min=1e-3, max=20)
    params["E_x"].set(min=0.0, max=float(x.min()) * (1 - 1e-9))
    params["E_y"].set(min=0.0, max=float(y.min()) * (1 - 1e-9))
    params.add("K", expr="exp(log_K)")
    res = model.fit(np.log(y), params, x=x, method="least_squares")
    est = {}
    for name in ("K", "kappa", "E_x", "E_y"):
        p = res.params[name]
        est[name] = ParamEstimate(float(p.value), float(p.stderr) if p.stderr else float("nan"))
    warnings.extend(bound_warnings(res.params))
    if len(x) < 12:
        warnings.append(f"too few points: {len(x)} pairs for 4 parameters")
    r = np.asarray(res.residual)
    return FitResult("shifted-power", est, n_points=len(x), objective=float(r @ r),
                     converged=bool(res.success), warnings=warnings, extra={}, model_result=res)


DRAWN = ("K", "kappa", "E_x", "E_y")


def _bootstrap(x, y, result, free_e, method, delta, n, seed, progress=False, units=None):
    """Pairs (or units) bootstrap of the relation; E held at its value unless it is fitted."""
    v0 = result.values()
    if units is None and not free_e and method == "ols":  # closed form, all resamples at once
        idx = resample_indices(len(x), n, seed)
        _, u, v = _log_gap(x, y, v0["E_x"], v0["E_y"])
        with np.errstate(invalid="ignore", divide="ignore"):
            kappa, log_K = _line_ols(u[idx], v[idx])
        draws = {"K": np.exp(log_K), "kappa": kappa,
                 "E_x": np.full(n, v0["E_x"]), "E_y": np.full(n, v0["E_y"])}
        return draws, int((~np.isfinite(kappa)).sum())
    theta0 = np.array([np.log(v0["K"]), v0["kappa"], v0["E_x"], v0["E_y"]])
    def refit(idx):
        xb, yb = x[idx], y[idx]
        try:
            if free_e:
                hi = [np.inf, 20, xb.min() * (1 - 1e-9), yb.min() * (1 - 1e-9)]
                t0 = np.clip(theta0, [-np.inf, 1e-3, 0, 0], np.array(hi) * (1 - 1e-9))
                ret = least_squares(_free_e_residual, t0, args=(xb, np.log(yb)),
                                    bounds=([-np.inf, 1e-3, 0, 0], hi))
                theta = ret.x
            else:
                _, u, v = _log_gap(xb, yb, v0["E_x"], v0["E_y"])
                if method == "ols":
                    line = _line_ols(u, v)
                    if not np.isfinite(line[0]):
                        return None
                    return dict(zip(DRAWN, (np.exp(line[1]), line[0], v0["E_x"], v0["E_y"])))
                ret = least_squares(lambda t: t[0] + t[1] * u - v, theta0[:2], loss="huber",
                                    f_scale=delta)
                theta = np.r_[ret.x, theta0[2:]]
        except ValueError:
            return None
        if ret.status <= 0:
            return None
        return dict(zip(DRAWN, (np.exp(theta[0]), theta[1], theta[2], theta[3])))

    return unit_bootstrap(len(x), units, n, seed, refit, DRAWN, progress=progress)


# --- prediction -----------------------------------------------------------------------------

def predict_y(result: FitResult, x):
    """L_y predicted from L_x by a fitted shifted power law."""
    return relation_forms.shifted_power_law(x, **result.values())


def prediction_with_ci(result: FitResult, x: float) -> dict:
    """{"value", "ci95", "pi95"} of L_y at L_x = x: the curve's interval and the observed
    value's (``relations.intervals``), both from the bootstrap draws, if any."""
    from scalefit.scaling.relations.intervals import interval_at
    return interval_at(result, x)


# --- the whole procedure --------------------------------------------------------------------

def e_source_for(e_source: str | None, E_x=None, E_y=None) -> str:
    """Where E_x and E_y come from: ``e_source`` as given, else 'given' when either is passed and
    'kaplan' (per-dataset Kaplan fits) when neither is. A source that sets E itself ('kaplan',
    'fit') with E passed too is refused: the values passed would be silently ignored."""
    passed = E_x is not None or E_y is not None
    if e_source is None:
        return "given" if passed else "kaplan"
    e_source = one_of(named("e_source"), e_source, E_SOURCES)
    if passed and e_source != "given":
        raise InputError(f"{named('e_source')} {e_source} sets E_x and E_y itself, so the "
                         "--E-x/--E-y given would be ignored; drop them, or pass --e given to use them")
    return e_source


def check_method(e_source: str | None, method: str) -> None:
    """--method (the log-log line's fit with E fixed) with --e fit, whose one least-squares fit of
    all four parameters ignored it without a word: refused."""
    if e_source == "fit" and method != "ols":
        raise InputError(f"{named('method')} {method}: fits the log-log line with E fixed (--e kaplan or "
                         "--e given); --e fit fits K, kappa, E_x and E_y together by least "
                         "squares (drop --method, or fix E)")


def fit_loss_to_loss(lp: LossPairs, *, e_source: str | None = None, E_x: float | None = None,
                     E_y: float | None = None, method: str = "ols", n_bootstrap: int = 0,
                     seed: int = 0, progress: bool = False, source: str = "<table>") -> FitResult:
    """E from per-dataset Kaplan fits (or given, or fitted: ``e_source_for``), then the relation
    on the pairs.

    With E from Kaplan fits the bootstrap refits both Kaplan laws in every resample
    (``relations.joint_bootstrap``), so the intervals carry E's uncertainty; a Kaplan parameter
    at a bound (E_y = 0 is no estimate) is a warning of the result.
    """
    e_source = e_source_for(e_source, E_x, E_y)
    check_method(e_source, method)
    kaplan = {}
    if e_source == "kaplan":
        for side, runs, label, column in (("x", lp.x_runs, lp.label_x, lp.x),
                                          ("y", lp.y_runs, lp.label_y, lp.y)):
            try:
                kaplan[side] = kaplan_fit(runs, source=source, column=column)
            except InputError as err:  # say which side's runs, and the ways round it
                raise InputError(f"{err} (E_{side} from a Kaplan fit to the {side} side's runs, "
                                 f"{label}; or give --E-x and --E-y, or --e fit)") from None
        E_x, E_y = kaplan["x"].value("E"), kaplan["y"].value("E")
    elif e_source == "given":
        if E_x is None or E_y is None:
            raise InputError(f"{named('e_source')} given needs both {named('E_x')} and {named('E_y')}")
        E_x, E_y = irreducible_loss("E_x (--E-x)", E_x), irreducible_loss("E_y (--E-y)", E_y)
    else:
        E_x = E_y = None
    units = lp.pairs[UNIT].to_numpy() if UNIT in lp.pairs.columns else None
    result = fit_shifted_power(lp.pairs["x"].to_numpy(), lp.pairs["y"].to_numpy(), E_x=E_x,
                               E_y=E_y, method=method, n_bootstrap=0 if kaplan else n_bootstrap,
                               seed=seed, progress=progress, units=units)
    result.extra.update({"pairing": lp.pairing, "x": lp.label_x, "y": lp.label_y,
                         "match": lp.match if lp.pairing != "train-to-test" else "same model",
                         "e_source": e_source})
    if kaplan:
        result.extra["kaplan_fits"] = {side: {"E": r.value("E"), "n_points": r.n_points,
                                              "params": r.values(), "warnings": list(r.warnings)}
                                       for side, r in kaplan.items()}
        result.components["kaplan"] = kaplan
        for side, r in kaplan.items():
            result.warnings.extend(f"Kaplan L(N,D)+E fit of the {side} loss (E_{side}): {w}"
                                   for w in r.warnings)
        if n_bootstrap > 0:
            from scalefit.scaling.relations.joint_bootstrap import bootstrap_with_e
            draws, failed = bootstrap_with_e(lp.pairs, lp.x_runs, lp.y_runs, kaplan,
                                             result.values(), method=method,
                                             n_bootstrap=n_bootstrap, seed=seed,
                                             progress=progress)
            attach_draws(result, draws, failed, n_bootstrap)
            result.extra["bootstrap"]["e_refit"] = "per-dataset Kaplan fits refitted per resample"
    return result

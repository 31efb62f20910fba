"""Loss curves for the schedule-aware laws: each run's LR at every step and its measured losses.

``LossCurves`` holds the per-run schedules (``eta``, the LR at steps 0..T divided by one
reference LR ``lr_scale``) and the measured points (run, step, loss, N) the laws are fitted to;
``select(points)`` gives the same runs with a chosen multiset of points, which is how both
bootstraps (whole runs, blocks of steps) resample. ``read_curves`` builds it from a table with
model, step, lr and a loss (a wide column, or a long evaluation table's metric/value rows);
``parse_schedule`` reads the `--schedule` spec into a ``scalefit.schedule.LRSchedule``.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from scalefit.errors import InputError, known, row_name, warn
from scalefit.schema import checked_steps, distinct_rows
from scalefit.schedule import COOLDOWN_FRACTIONS, LRSchedule, cooldown_fraction, lr_at_step
from scalefit.scaling.laws import schedule_areas as areas
from scalefit.scaling.laws.runtable import numeric_column

SCHEDULE_SPECS = "cosine:STEPS, linear:STEPS, wsd:STEPS:COOLDOWN, constant[:STEPS]"


@dataclass
class LossCurves:
    """Runs (name, LR per step, params) and the measured points (run index, step, loss)."""

    names: list[str]
    etas: list[np.ndarray]  # LR at steps 0..T per run, divided by lr_scale
    params: np.ndarray  # N of each run (NaN where unknown)
    run: np.ndarray  # run index of each point
    step: np.ndarray  # step of each point
    loss: np.ndarray  # measured loss of each point (NaN for a pure prediction)
    lr_scale: float = 1.0
    _cache: dict = field(default_factory=dict, repr=False, compare=False)

    @property
    def n_runs(self) -> int:
        return len(self.names)

    @property
    def N(self) -> np.ndarray:
        return self.params[self.run]

    def __repr__(self) -> str:
        """A notebook's view in one line (the dataclass repr printed every run's LR at every step)."""
        fitted = int(np.isfinite(self.loss).sum())
        return (f"LossCurves of {self.n_runs} runs ({', '.join(map(str, self.names[:3]))}"
                f"{', ...' if self.n_runs > 3 else ''}): {self.step.size} points ({fitted} with a loss), "
                f"LR in units of {self.lr_scale:g}; .to_frame() for the points")

    def to_frame(self) -> pd.DataFrame:
        """One row per point: model, step, lr (at that step, in the table's units), loss, params."""
        lr = np.array([self.etas[r][s] for r, s in zip(self.run, self.step)], float) * self.lr_scale
        return pd.DataFrame({"model": [self.names[r] for r in self.run], "step": self.step, "lr": lr,
                             "loss": self.loss, "params": self.N})

    def select(self, points) -> "LossCurves":
        """The same runs with the points ``points`` (indices, repeats allowed)."""
        points = np.asarray(points, int)
        return LossCurves(self.names, self.etas, self.params, self.run[points],
                          self.step[points], self.loss[points], self.lr_scale)

    def runs_points(self, runs) -> np.ndarray:
        """Indices of every point of the given runs (a run drawn twice gives its points twice)."""
        return np.concatenate([np.flatnonzero(self.run == r) for r in np.asarray(runs, int)])

    def _per_point(self, key, per_run):
        if key not in self._cache:
            out = np.empty(self.step.size, float)
            for r in range(self.n_runs):
                at = self.run == r
                if at.any():
                    out[at] = per_run(self.etas[r])[self.step[at]]
            self._cache[key] = out
        return self._cache[key]

    def S1(self) -> np.ndarray:
        """Forward area S1 at each point (LR in units of lr_scale)."""
        return self._per_point("S1", areas.forward_area)

    def S2(self, lam: float = areas.TISSUE_LAMBDA) -> np.ndarray:
        """Momentum annealing area S2 at each point."""
        return self._per_point(("S2", lam), lambda eta: areas.annealing_area(eta, lam))

    def loss_drop(self, C: float, beta: float, gamma: float) -> np.ndarray:
        """LD/B of the multi-power law at each point."""
        out = np.empty(self.step.size, float)
        for r in range(self.n_runs):
            at = self.run == r
            if at.any():
                out[at] = areas.loss_drop(self.etas[r], self.step[at], C, beta, gamma)
        return out


def curves_from_schedules(schedules: dict, steps: dict, params=None, loss=None,
                          lr_scale: float | None = None) -> LossCurves:
    """LossCurves of runs given as {name: LRSchedule or per-step LR array} at {name: steps}."""
    names = list(schedules)
    raw = []
    for name in names:
        sched = schedules[name]
        last = int(np.max(steps[name]))
        raw.append(lr_at_step(sched, np.arange(last + 1)) if isinstance(sched, LRSchedule)
                   else np.asarray(sched, float)[: last + 1])
    scale = float(lr_scale) if lr_scale else float(max(np.max(e) for e in raw))
    run = np.concatenate([np.full(len(steps[n]), i) for i, n in enumerate(names)])
    step = np.concatenate([np.asarray(steps[n], int) for n in names])
    meas = (np.concatenate([np.asarray(loss[n], float) for n in names]) if loss is not None
            else np.full(step.size, np.nan))
    N = np.array([np.nan if params is None else float(params[n]) for n in names])
    return LossCurves(names, [e / scale for e in raw], N, run, step, meas, scale)


def loss_rows(frame: pd.DataFrame, loss_column: str = "loss", dataset: str | None = None,
              source: str = "<table>") -> pd.DataFrame:
    """(model, step, lr, loss[, params]) rows: a wide loss column, or the long table's
    metric == loss rows of one dataset. A row repeated exactly is kept once; two rows of one
    (model, step) with another loss or lr are an InputError naming both (averaging them would
    mix two measurements, e.g. a step column that is the same on every row); a checkpoint with
    no finite loss (empty, NaN, inf) is left out with a warning, a loss or params cell holding text is an
    InputError."""
    frame = frame.copy()
    for column in ("model", "step", "lr"):
        if column not in frame.columns:
            raise InputError(f"{source}: column '{column}' is missing (a schedule law needs "
                             "model, step, lr and a loss per checkpoint)")
    if loss_column in frame.columns:
        rows = frame.assign(loss=_numeric_losses(frame[loss_column], loss_column, source))
        if "dataset" in frame.columns:
            names = sorted(frame["dataset"].dropna().astype(str).unique())
            if dataset is None and len(names) > 1:  # the mean of two datasets' losses is neither
                raise InputError(f"{source}: --dataset: column 'dataset' holds {len(names)} "
                                 f"datasets; choose one of {', '.join(names)}{_one_dataset(names)}")
            if dataset is not None:
                rows = rows[rows["dataset"].astype(str) == dataset]
    elif {"metric", "value", "dataset"} <= set(frame.columns):
        rows = frame[frame["metric"].astype(str) == loss_column]
        if rows.empty:
            metrics = known(frame["metric"].dropna().astype(str).unique())
            raise InputError(f"{source}: --loss-column '{loss_column}': no such column, and no "
                             f"row has metric = '{loss_column}' (metrics: {metrics})")
        names = sorted(rows["dataset"].dropna().astype(str).unique())
        if dataset is None:
            if len(names) != 1:
                raise InputError(f"{source}: --dataset: choose one of {', '.join(names)}"
                                 f"{_one_dataset(names)}")
            dataset = names[0]
        if dataset not in names:
            raise InputError(f"{source}: --dataset '{dataset}': no '{loss_column}' rows for it "
                             f"(datasets: {', '.join(names)})")
        rows = rows[rows["dataset"].astype(str) == dataset]
        rows = rows.assign(loss=_numeric_losses(rows["value"], "value", source))
    else:
        raise InputError(f"{source}: column '{loss_column}' is missing and the table has no "
                         "metric/value/dataset rows to take it from")
    keep = ["model", "step", "lr", "loss"] + (["params"] if "params" in rows.columns else [])
    if "params" in rows.columns:  # a cell of text dropped the column in the mean below, unsaid
        rows = rows.assign(params=numeric_column(rows, "params", source, text_only=True))
    missing = rows["loss"].isna().to_numpy()
    if missing.any():  # a checkpoint not measured (or diverged): fitted without it, said so
        i = int(np.flatnonzero(missing)[0])
        warn(f"{source}: {int(missing.sum())} checkpoint(s) with no finite loss (empty, NaN or "
             f"inf) left out of the fit "
             f"(first: {row_name(rows, i)}, model {rows['model'].iloc[i]}, step "
             f"{rows['step'].iloc[i]})")
    rows = checked_steps(rows[keep][~missing], source)
    rows = _one_row_per_checkpoint(rows, source)
    if rows.empty:
        raise InputError(f"{source}: no rows with a step, an lr and a loss")
    lr = pd.to_numeric(rows["lr"], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    bad = ~(np.isfinite(lr) & (lr >= 0))
    if bad.any():  # dropped, its loss went unfitted and the LR between its neighbours was guessed
        i = int(np.flatnonzero(bad)[0])
        raise InputError(f"{source}: column 'lr', {row_name(rows, i)}: '{rows['lr'].iloc[i]}' is "
                         "not a learning rate; expected a finite number >= 0 at every checkpoint "
                         "with a loss (a schedule law reads the LR the run trained with)")
    loss = rows["loss"].to_numpy(dtype=float)
    if (loss <= 0).any():  # a log-space fit: 'loss must be positive' named no row
        i = int(np.flatnonzero(loss <= 0)[0])
        raise InputError(f"{source}: column '{loss_column}', {row_name(rows, i)}: "
                         f"'{rows['loss'].iloc[i]:g}' is not a loss; expected a number > 0 at "
                         "every checkpoint (a schedule law is fitted in log space)")
    rows = rows.assign(lr=lr, model=rows["model"].astype(str))
    flat = sorted(rows.loc[rows["lr"] > 0, "model"].unique())
    if len(flat) < rows["model"].nunique():
        zero = sorted(set(rows["model"]) - set(flat))
        raise InputError(f"{source}: column 'lr': run {zero[0]} has lr 0 at every checkpoint; a "
                         "schedule law needs the LR the run trained with (its peak above 0)")
    return rows.groupby(["model", "step"], as_index=False).mean(numeric_only=True)


def _one_dataset(names) -> str:
    """How a notebook chooses the dataset: fit_law(table, 'momentum') takes no --dataset."""
    return f" (in Python, keep its rows: table[table['dataset'] == '{names[0]}'])" if names else ""


def _numeric_losses(cells: pd.Series, column: str, source: str) -> pd.Series:
    """``cells`` as floats (NaN where empty or not finite); a cell holding text is an
    InputError naming its row, where it used to be dropped with the checkpoint unsaid."""
    values = pd.to_numeric(cells, errors="coerce")
    text = values.isna().to_numpy() & cells.notna().to_numpy()
    if text.any():
        i = int(np.flatnonzero(text)[0])
        raise InputError(f"{source}: column '{column}', {row_name(cells, i)}: "
                         f"'{cells.iloc[i]}' is not a loss; expected a number (empty where a "
                         "checkpoint was not measured)")
    return values.where(np.isfinite(values.to_numpy(dtype=float, na_value=np.nan)))


def _one_row_per_checkpoint(rows: pd.DataFrame, source: str) -> pd.DataFrame:
    """``rows`` with exact repeats of (model, step, lr, loss) dropped; two rows of one (model,
    step) that differ in loss or lr are an InputError naming both."""
    return distinct_rows(rows, ("model", "step"), source, "loss checkpoint", values=("loss", "lr"),
                         hint="a loss curve has one checkpoint per step (is the step column right?)")


def curves_from_table(rows: pd.DataFrame, min_step: int | None = None,
                      lr_scale: float | None = None) -> LossCurves:
    """LossCurves from ``loss_rows``: each run's LR between its checkpoints interpolated
    linearly (the lr column as given); the points are the checkpoints at step >= min_step
    (None: past twice the end of each run's warmup, where neither law is meant to hold yet) made
    by an update at an LR above 0 (not step 0, nor step 1 after a warmup from 0: S1 is 0 there).
    Before a run's first row the LR is held at that row's value: a table should carry the LR
    at step 0 and at the end of warmup (its loss there is not fitted). A run of one row (a
    finals table) holds no schedule: an InputError."""
    schedules, steps, loss, params, skipped = {}, {}, {}, {}, []
    counts = rows.groupby("model", sort=False)["step"].agg(["nunique", "first"])
    if (counts["nunique"] < 2).any():  # its LR was held at one value from step 0: made up
        name, step = next((m, s) for m, (n, s) in counts.iterrows() if n < 2)
        raise InputError(f"run {name}: one checkpoint (step {int(step)}); "
                         "a schedule law reads each run's LR at every step from its lr column, so a "
                         "run needs rows at 2 steps or more (step 0 or the end of warmup, and its "
                         "checkpoints), not only its final loss")
    for model, run in rows.groupby("model", sort=False):
        run = run.sort_values("step")
        schedules[model] = areas.lr_per_step(run["step"], run["lr"])
        first = 2 * areas.warmup_end(schedules[model]) if min_step is None else min_step
        first = max(first, areas.first_trained_step(schedules[model]))
        fit = run[run["step"] >= first]
        if fit.empty:
            skipped.append(f"{model} (last step {int(run['step'].max())}, first fitted {first})")
            continue
        steps[model] = fit["step"].to_numpy()
        loss[model] = fit["loss"].to_numpy()
        params[model] = float(run["params"].iloc[0]) if "params" in run.columns else np.nan
    schedules = {m: schedules[m] for m in steps}
    if not steps:  # say where the checkpoints end, so the fix is plain
        last = int(rows["step"].max())
        raise InputError(f"min_step (--min-step) {min_step}: no checkpoint at or after it to fit; "
                         f"the last is at step {last}" if min_step is not None else
                         f"no checkpoint after twice the end of warmup to fit (the last is at step "
                         f"{last}); give --min-step")
    if skipped:  # a run asked for and left out must be said, not found missing from the fit's list
        warn(f"not fitted, no checkpoint at or after the first fitted step: {', '.join(skipped)}")
    return curves_from_schedules(schedules, steps, params, loss, lr_scale)


# the longest schedule parse_schedule takes: the curve holds the LR of every step (8 bytes each,
# 0.8 GB at 1e8), 100x the longest published runs' ~1e6 steps
MAX_SCHEDULE_STEPS = 10 ** 8


def parse_schedule(spec: str, *, peak: float, warmup: int = 0, final_ratio: float = 0.1,
                   steps: int | None = None) -> LRSchedule:
    """`cosine:STEPS`, `linear:STEPS`, `wsd:STEPS:COOLDOWN` (a fraction of STEPS) or
    `constant[:STEPS]` into an LRSchedule with the given peak, warmup steps and final ratio."""
    bad = f"--schedule '{spec}': expected one of {SCHEDULE_SPECS} (STEPS a positive integer, " \
          f"COOLDOWN {COOLDOWN_FRACTIONS})"
    parts = str(spec).strip().lower().split(":")
    style, args = parts[0], parts[1:]
    arity = {"cosine": (1,), "linear": (1,), "wsd": (2,), "constant": (0, 1)}
    if style not in arity or len(args) not in arity[style]:
        raise InputError(bad)
    try:
        total = int(args[0]) if args else steps
        cooldown = float(args[1]) if style == "wsd" else 0.2
    except ValueError:
        raise InputError(bad) from None
    if total is None and style == "constant":
        raise InputError(f"--schedule '{spec}': give its length, constant:STEPS, or a --measured run "
                         "whose last step it takes")
    if total is None or total <= 0:
        raise InputError(bad)
    if total > MAX_SCHEDULE_STEPS:  # np.arange(STEPS + 1) of 1e11 asked 745 GiB: a traceback
        raise InputError(f"--schedule '{spec}': STEPS {total} is over {MAX_SCHEDULE_STEPS:.0e}; the LR "
                         "is computed at every step of the run: give a run of at most that many steps")
    try:  # one rule for a WSD cooldown's share, LRSchedule's (a non-WSD spec's 0.2 is unused)
        cooldown_fraction("COOLDOWN", cooldown)
    except InputError:
        raise InputError(bad) from None
    if not (np.isfinite(peak) and peak > 0):
        raise InputError(f"--peak-lr: must be a positive number, got {peak}")
    if warmup < 0 or warmup >= total:
        raise InputError(f"--warmup: must be a step count in [0, {total}), got {warmup}")
    start = total - cooldown * total  # the WSD cooldown's first step (scalefit.schedule's rule)
    if style == "wsd" and warmup > start + 1e-6:  # the LR fell from peak to mid-cooldown at once
        raise InputError(f"--warmup {warmup}: the cooldown of '{spec}' starts at step {start:.6g}, "
                         f"inside the warmup; give --warmup {int(np.floor(start + 1e-6))} or less, "
                         "or a shorter cooldown")
    if not (np.isfinite(final_ratio) and 0.0 <= final_ratio <= 1.0):
        raise InputError(f"--final-ratio: must be in [0, 1], got {final_ratio}")
    return LRSchedule(peak=float(peak), warmup_steps=int(warmup), decay_steps=int(total),
                      final_ratio=float(final_ratio), style=style, cooldown_fraction=cooldown)

"""Landmarks of a learning-rate schedule, read from a table, and a transition's place among them.

The fitting layer reads tables, not suite registries: a run's warmup end and length come from
`warmup_steps` / `total_steps` columns when the table has them, else are inferred from its `lr`
column assuming the Pythia form (linear warmup to the peak, then cosine to min_ratio x peak).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from scalefit.errors import InputError
from scalefit.scaling.laws.runtable import numeric_column
from scalefit.schedule import STYLES, LRSchedule, lr_at_step

NO_SCHEDULE = "unknown: no lr or warmup_steps column; pass --warmup-steps"


@dataclass
class ScheduleLandmarks:
    """Where a run's LR schedule turns: warmup end (= peak LR), the start of the decay (the
    warmup end; a WSD run's cooldown start) and its end. `style` is a scalefit.schedule style."""

    warmup_end: float        # step at which LR reaches its peak
    total_steps: float       # step at which the decay ends
    peak_lr: float = float("nan")
    tokens_per_step: float = float("nan")
    source: str = "given"    # "given", "columns", "inferred from lr" or NO_SCHEDULE
    style: str = "cosine"    # the table's `schedule` column where it has one
    cooldown_fraction: float = 0.2  # "wsd" only
    warmup_past: float = float("nan")  # warmup end unknown, but after this step (lr rising there)

    @property
    def decay_start(self) -> float:
        """Step at which the LR starts to fall: the warmup end, or a WSD run's cooldown start."""
        if self.style == "wsd":
            return self.total_steps - self.cooldown_fraction * self.total_steps
        return self.warmup_end

    def decay_fraction(self, step: float) -> float:
        """Fraction of the decay done at `step` (0 before it starts, 1 at its end); nan for a
        constant LR or an unknown horizon."""
        span = self.total_steps - self.decay_start
        if self.style == "constant" or not np.isfinite(span) or span <= 0:
            return float("nan")
        return float(np.clip((step - self.decay_start) / span, 0.0, 1.0))

    def lr_fraction(self, step: float, min_ratio: float = 0.1) -> float:
        """LR at `step` as a fraction of the peak: scalefit.schedule's LR at these landmarks."""
        if not np.isfinite(self.warmup_end):
            return float("nan")
        if not np.isfinite(self.total_steps):  # no horizon: the ramp and a constant LR need none
            if 0 < self.warmup_end and step < self.warmup_end:
                return float(step / self.warmup_end)
            return 1.0 if self.style == "constant" else float("nan")
        if self.style != "constant" and step >= self.warmup_end and not np.isfinite(self.decay_fraction(step)):
            return float("nan")  # no decay horizon known
        style = self.style if self.style in STYLES else "cosine"
        return float(lr_at_step(LRSchedule(peak=1.0, warmup_steps=self.warmup_end,
                                           decay_steps=self.total_steps, final_ratio=min_ratio,
                                           style=style, cooldown_fraction=self.cooldown_fraction),
                                step))

    def phase(self, step: float) -> str:
        """Where `step` sits in the schedule, in words: 'in warmup', 'cosine decay 36% done',
        'constant LR', 'before the cooldown', 'cooldown 50% done'."""
        if not np.isfinite(self.warmup_end):
            return "in warmup" if step < self.warmup_past else "schedule unknown"
        if step < self.warmup_end:
            return "in warmup"
        if self.style == "constant":
            return "constant LR"
        done = self.decay_fraction(step)
        if not np.isfinite(done):
            return "decay horizon unknown"
        if step > self.total_steps:  # not '100% done': the LR the run had there is not the schedule's
            return f"after the schedule's end (step {self.total_steps:g})"
        if self.style == "wsd":
            return "before the cooldown" if step < self.decay_start else f"cooldown {100 * done:.0f}% done"
        name = "linear" if self.style == "linear" else "cosine"
        return f"{name} decay {100 * done:.0f}% done"


def infer_landmarks(steps, lr, *, min_ratio: float = 0.1, tokens=None) -> ScheduleLandmarks:
    """Infer warmup end and schedule length from (step, lr) pairs of one run.

    Warmup points (lr rising linearly) give W = step * peak / lr; decay points give the cosine
    horizon by inverting the cosine. The median over points resists a rounded lr or two.
    """
    steps = np.asarray(steps, dtype=float)
    lr = np.asarray(lr, dtype=float)
    ok = np.isfinite(steps) & np.isfinite(lr)
    steps, lr = steps[ok], lr[ok]
    order = np.argsort(steps)
    steps, lr = steps[order], lr[order]
    if len(steps) == 0 or np.nanmax(lr) <= 0:  # said as what is missing, not as "inferred"
        return ScheduleLandmarks(float("nan"), float("nan"),
                                 source="unknown: lr is never above 0; pass --warmup-steps")
    peak_index = int(np.argmax(lr))
    peak = float(lr[peak_index])
    rising = (np.arange(len(steps)) < peak_index) & (lr > 0) & (steps > 0)
    if peak_index == len(steps) - 1 and rising.any():  # no checkpoint shows the peak held or left
        return ScheduleLandmarks(float("nan"), float("nan"), peak, warmup_past=float(steps[-1]), source=(
            f"unknown: lr still rises at the last checkpoint (step {steps[-1]:g}), so the warmup ends "
            "there or later; pass --warmup-steps"))
    # The peak sampled after warmup sits slightly below the true peak: lift it by the cosine
    # value at the sample if later points show the decay; good to ~1e-4 at Pythia's spacing.
    if rising.any():
        warmup_end = float(np.median(steps[rising] * peak / lr[rising]))
        warmup_end = min(warmup_end, float(steps[peak_index]))
    else:
        warmup_end = float(steps[peak_index])
    total = float("nan")
    falling = (steps > warmup_end) & (lr < peak * (1 - 1e-6)) & (lr > peak * min_ratio * (1 + 1e-6))
    if falling.any():
        cosine = np.clip(2 * (lr[falling] / peak - min_ratio) / (1 - min_ratio) - 1, -1, 1)
        theta = np.arccos(cosine)
        horizon = warmup_end + np.pi * (steps[falling] - warmup_end) / np.maximum(theta, 1e-12)
        total = float(np.median(horizon))
    elif np.any(np.isclose(lr, peak * min_ratio, rtol=1e-3)):
        total = float(steps[np.argmax(np.isclose(lr, peak * min_ratio, rtol=1e-3))])
    tps = float("nan")
    if tokens is not None:
        tokens = np.asarray(tokens, dtype=float)[ok][order]
        positive = steps > 0
        if positive.any():
            tps = float(np.median(tokens[positive] / steps[positive]))
    return ScheduleLandmarks(warmup_end, total, peak, tps, source="inferred from lr")


def _first(run: pd.DataFrame, column: str):
    """The run's first non-empty value of `column`, or None."""
    if column not in run or not run[column].notna().any():
        return None
    return run[column].dropna().iloc[0]


def _first_number(run: pd.DataFrame, column: str, source: str) -> float | None:
    """The run's first non-empty value of a numeric `column` as a float, or None; a cell of
    text is an InputError naming the column and its row (was float()'s ValueError)."""
    if column not in run or not run[column].notna().any():
        return None
    return float(numeric_column(run[run[column].notna()], column, source, text_only=True)[0])


def landmarks_for_run(run: pd.DataFrame, *, min_ratio: float = 0.1, warmup_steps=None,
                      total_steps=None) -> ScheduleLandmarks:
    """Landmarks of one run's rows: `warmup_steps`/`total_steps` columns if present, else lr;
    `warmup_steps` / `total_steps` given here override both. The `schedule` column (a
    scalefit.schedule style) and `cooldown_fraction` say how the LR decays; cosine without them."""
    model = _first(run, "model") or "run"
    tokens = run["tokens"] if "tokens" in run else None
    has_lr = "lr" in run and run["lr"].notna().any()
    inferred = (infer_landmarks(run["step"], run["lr"], min_ratio=min_ratio, tokens=tokens)
                if has_lr else ScheduleLandmarks(float("nan"), float("nan"), source=NO_SCHEDULE))
    warmup, total, source = inferred.warmup_end, inferred.total_steps, inferred.source
    given_warmup, given_total = (_first_number(run, column, str(model))
                                 for column in ("warmup_steps", "total_steps"))
    if given_warmup is not None:
        warmup, source = given_warmup, "columns"
    if given_total is not None:
        total = given_total
    if warmup_steps is not None:
        warmup, source = float(warmup_steps), "given"
    if total_steps is not None:
        total = float(total_steps)
        source = source if warmup_steps is None else "given"
    if np.isfinite(warmup) and warmup < 0:
        raise InputError(f"{model}: warmup_steps is {warmup:g}; expected a whole number >= 0")
    if np.isfinite(warmup) and np.isfinite(total) and total <= warmup:
        raise InputError(f"{model}: the schedule ends at step {total:g}, not after its warmup end "
                         f"{warmup:g}; check --warmup-steps / --total-steps or the table's "
                         "warmup_steps / total_steps")
    style = str(_first(run, "schedule") or "cosine")
    cooldown = _first_number(run, "cooldown_fraction", str(model))
    return ScheduleLandmarks(warmup, total, inferred.peak_lr, inferred.tokens_per_step, source=source,
                             style=style, cooldown_fraction=0.2 if cooldown is None else cooldown,
                             warmup_past=inferred.warmup_past)


def place_transition(step: float, landmarks: ScheduleLandmarks) -> dict:
    """A transition step against the landmarks: distance to warmup end in steps and tokens."""
    distance = step - landmarks.warmup_end
    return {
        "warmup_end": landmarks.warmup_end,
        "steps_after_warmup": distance,
        "tokens_after_warmup": distance * landmarks.tokens_per_step,
        "ratio_to_warmup_end": step / landmarks.warmup_end if landmarks.warmup_end else float("nan"),
        "decay_fraction_done": landmarks.decay_fraction(step),
        "lr_fraction_of_peak": landmarks.lr_fraction(step),
        "schedule_phase": landmarks.phase(step),
    }

"""Landmarks of a learning-rate schedule, read from a table, and a transition's place among them.

The fitting layer reads tables, not suite registries: a run's warmup end and length come from
`warmup_steps` / `total_steps` columns when the table has them, else are inferred from its `lr`
column assuming the Pythia form (linear warmup to the peak, then cosine to min_ratio x peak).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from scalefit.schedule import LRSchedule, lr_at_step


@dataclass
class ScheduleLandmarks:
    """Where a run's LR schedule turns: warmup end (= peak LR) and the end of the cosine decay."""

    warmup_end: float        # step at which LR reaches its peak
    total_steps: float       # step at which the cosine decay ends
    peak_lr: float = float("nan")
    tokens_per_step: float = float("nan")
    source: str = "given"    # "given", "columns" or "inferred from lr"

    def decay_fraction(self, step: float) -> float:
        """Fraction of the cosine decay done at `step` (0 before warmup ends, 1 at the end)."""
        span = self.total_steps - self.warmup_end
        if not np.isfinite(span) or span <= 0:
            return float("nan")
        return float(np.clip((step - self.warmup_end) / span, 0.0, 1.0))

    def lr_fraction(self, step: float, min_ratio: float = 0.1) -> float:
        """LR at `step` as a fraction of the peak: scalefit.schedule's warmup + cosine at these landmarks."""
        if step >= self.warmup_end and not np.isfinite(self.decay_fraction(step)):
            return float("nan")  # no decay horizon known
        return float(lr_at_step(LRSchedule(peak=1.0, warmup_steps=self.warmup_end,
                                           decay_steps=self.total_steps, final_ratio=min_ratio), step))


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
    if len(steps) == 0 or np.nanmax(lr) <= 0:
        return ScheduleLandmarks(float("nan"), float("nan"), source="inferred from lr")
    peak_index = int(np.argmax(lr))
    peak = float(lr[peak_index])
    rising = (np.arange(len(steps)) < peak_index) & (lr > 0) & (steps > 0)
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


def landmarks_for_run(run: pd.DataFrame, *, min_ratio: float = 0.1) -> ScheduleLandmarks:
    """Landmarks of one run's rows: `warmup_steps`/`total_steps` columns if present, else lr."""
    tokens = run["tokens"] if "tokens" in run else None
    inferred = (infer_landmarks(run["step"], run["lr"], min_ratio=min_ratio, tokens=tokens)
                if "lr" in run else ScheduleLandmarks(float("nan"), float("nan")))
    if "warmup_steps" in run and run["warmup_steps"].notna().any():
        warmup = float(run["warmup_steps"].dropna().iloc[0])
        total = (float(run["total_steps"].dropna().iloc[0])
                 if "total_steps" in run and run["total_steps"].notna().any()
                 else inferred.total_steps)
        return ScheduleLandmarks(warmup, total, inferred.peak_lr, inferred.tokens_per_step,
                                 source="columns")
    return inferred


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
    }

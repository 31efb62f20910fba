"""The one learning-rate schedule of scalefit (GPT-NeoX AnnealingLR semantics).

The suite registries (Pythia's published schedule), the suite trainer and the schedule-aware
analyses all read the LR at a step from here, so a warmup convention is decided once.
Pure numpy: every layer may import it.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from scalefit.errors import InputError


@dataclass(frozen=True)
class LRSchedule:
    """Linear warmup to `peak`, then cosine (or linear/constant) decay to final_ratio x peak."""

    peak: float
    warmup_steps: int = 0
    decay_steps: int = 0
    final_ratio: float = 0.1
    style: str = "cosine"


def lr_at_step(schedule: LRSchedule, step):
    """Learning rate at optimizer step(s), as GPT-NeoX's AnnealingLR computes it."""
    s = np.asarray(step, dtype=float)
    peak, warm = schedule.peak, schedule.warmup_steps
    low = schedule.final_ratio * peak
    span = max(schedule.decay_steps - warm, 1)
    frac = np.clip((s - warm) / span, 0.0, 1.0)
    if schedule.style == "cosine":
        decayed = low + (peak - low) * 0.5 * (1.0 + np.cos(math.pi * frac))
    elif schedule.style == "linear":
        decayed = peak - (peak - low) * frac
    elif schedule.style == "constant":
        decayed = np.full_like(frac, peak)
    else:
        raise InputError(f"LR schedule: unknown style '{schedule.style}' (cosine, linear, constant)")
    lr = np.where(s < warm, peak * s / max(warm, 1), decayed) if warm > 0 else decayed
    return float(lr) if np.ndim(lr) == 0 else lr

"""The one learning-rate schedule of scalefit: GPT-NeoX's AnnealingLR.get_lr at an iteration count.

The suite registries (Pythia's published schedule), the suite trainer and the schedule-aware
analyses all read the LR at a step from here, so a warmup convention is decided once.
`lr_at_step(schedule, n)` is what EleutherAI/gpt-neox megatron/learning_rates.py returns with
num_iters = n: linear warmup `peak * n / warmup` while n <= warmup (0 at step 0), then the decay,
never below the floor final_ratio x peak. GPT-NeoX steps its scheduler after each optimizer step,
so its n-th update runs at lr_at_step(n - 1), and the LR it logs at iteration n is lr_at_step(n).
Past `decay_steps` the LR stays at the floor (GPT-NeoX's cosine would climb back; no run goes there).
Pure numpy: every layer may import it.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from scalefit.errors import InputError

STYLES = ("cosine", "linear", "constant", "cosine_neox_v1", "wsd")


COOLDOWN_FRACTIONS = "a fraction in (0, 1]"  # what a WSD schedule's cooldown share may be


def cooldown_fraction(option: str, value) -> float:
    """A WSD cooldown's share of decay_steps, checked once for LRSchedule and --schedule wsd:N:F:
    a number in (0, 1] (at 0 the LR would hold the peak through decay_steps and fall to the floor
    a step later, not along a cooldown)."""
    from scalefit.options import finite_float

    number = finite_float(option, value)
    if not 0 < number <= 1:
        raise InputError(f"{option}: '{value}' is out of range; expected {COOLDOWN_FRACTIONS} "
                         "(the share of decay_steps spent cooling down to the floor)")
    return number


@dataclass(frozen=True)
class LRSchedule:
    """Linear warmup to `peak`, then cosine (or linear/constant) decay to final_ratio x peak.

    style "cosine" (GPT-NeoX since PR #1008/#1011, Aug 2023): from peak at `warmup_steps` to the
    floor at `decay_steps` along half a cosine. "linear": peak x (1 - decay done), floored.
    "cosine_neox_v1": GPT-NeoX v1.0's cosine, which trained Pythia: a cosine from peak towards 0
    over the whole `decay_steps`, clamped at the floor (Pythia's LR reaches 0.1 x peak at step
    ~115,000 and stays there), with the step count held at decay_steps - warmup_steps.
    "wsd" (warmup-stable-decay; Hu et al. 2024, Hagele et al. 2024): the peak held until the last
    `cooldown_fraction` x decay_steps steps, then a linear cooldown to the floor at `decay_steps`
    (not a GPT-NeoX style; the warmup and the floor follow the same conventions as the others).

    A decaying style with decay_steps 0 (the default) drops to the floor right after the warmup:
    that warns. A warmup past decay_steps is allowed here (the laws build such schedules for runs
    shorter than their minimum warmup); a suite spec refuses both.

    peak: the peak LR; warmup_steps, decay_steps: optimizer steps. The LR at step(s) n is
    ``scalefit.schedule.lr_at_step(schedule, n)`` (a float, or an array for an array of steps).
    """

    peak: float
    warmup_steps: int = 0
    decay_steps: int = 0
    final_ratio: float = 0.1
    style: str = "cosine"
    cooldown_fraction: float = 0.2  # "wsd" only: share of decay_steps spent in the cooldown

    def __post_init__(self):
        """Refuse a schedule no run trains with, naming the field (a negative or nan peak, a
        floor above the peak, an unknown style gave wrong LRs, or failed only at first use)."""
        from scalefit.errors import suggestion
        from scalefit.options import nonnegative_float

        if self.style not in STYLES:
            raise InputError(f"LRSchedule: unknown style '{self.style}'{suggestion(self.style, STYLES)}")
        for name in ("peak", "warmup_steps"):
            value = nonnegative_float(f"LRSchedule {name}", getattr(self, name))
            if isinstance(getattr(self, name), str):  # '0.004' from a text field: its number
                object.__setattr__(self, name, value)
        try:
            decay = float(self.decay_steps)
        except (TypeError, ValueError):
            decay = float("nan")
        if not decay >= 0:
            raise InputError(f"LRSchedule decay_steps: '{self.decay_steps}' is not a step count; "
                             "expected a number >= 0 (the step where the decay ends)")
        if isinstance(self.decay_steps, str):
            object.__setattr__(self, "decay_steps", decay)
        for name in ("final_ratio", "cooldown_fraction"):
            if name == "cooldown_fraction" and self.style == "wsd":
                value = cooldown_fraction(f"LRSchedule {name}", self.cooldown_fraction)
            else:  # the floor may be 0; another style never reads cooldown_fraction
                value = nonnegative_float(f"LRSchedule {name}", getattr(self, name))
                if value > 1:
                    raise InputError(f"LRSchedule {name}: '{value:g}' is out of range; expected a "
                                     "fraction in [0, 1]")
            if isinstance(getattr(self, name), str):
                object.__setattr__(self, name, value)
        if self.decay_steps == 0 and self.style != "constant" and self.peak > 0 and self.final_ratio < 1:
            from scalefit.errors import warn

            warn(f"LRSchedule decay_steps = 0 with style '{self.style}': the LR drops to the "
                 f"floor, final_ratio x peak, right after the warmup (step {self.warmup_steps:g}); give "
                 "decay_steps, the step where the decay ends, or style='constant'")


def lr_at_step(schedule: LRSchedule, step):
    """Learning rate at optimizer step(s) (>= 0), as GPT-NeoX's AnnealingLR computes it."""
    try:
        n = np.asarray(step, dtype=float)
    except (TypeError, ValueError):  # 'a' was numpy's 'could not convert string to float'
        raise InputError(f"lr_at_step: step {step!r:.40} is not a number; a step is a whole "
                         "number >= 0") from None
    if not np.all(np.isfinite(n)):  # nan and None gave LR nan, inf the floor, without a word
        raise InputError(f"lr_at_step: step {n[~np.isfinite(n)].flat[0]:g} is not finite; a step "
                         "is a whole number >= 0")
    if np.any(n < 0):  # the warmup ramp would give a negative LR there
        raise InputError(f"lr_at_step: step {float(np.min(n)):g} is negative; a step is a whole "
                         "number >= 0")
    peak, warm, end = schedule.peak, schedule.warmup_steps, schedule.decay_steps
    floor = schedule.final_ratio * peak
    count = n
    if schedule.style == "cosine_neox_v1":
        count = np.minimum(n, end - warm)  # v1.0 holds the count (warmup ramp included) here
        decayed = peak / 2.0 * (np.cos(math.pi * (count - warm) / max(end, 1)) + 1.0)
    else:
        done = np.clip((n - warm) / max(end - warm, 1), 0.0, 1.0)  # share of the decay done
        if schedule.style == "cosine":
            decayed = floor + (peak - floor) / 2.0 * (np.cos(math.pi * done) + 1.0)
        elif schedule.style == "linear":
            decayed = peak * (1.0 - done)
        elif schedule.style == "constant":
            decayed = np.full_like(done, peak)
        elif schedule.style == "wsd":
            start = end - schedule.cooldown_fraction * end  # the cooldown's first step
            cooled = np.clip((n - start) / max(end - start, 1e-12), 0.0, 1.0)
            decayed = peak - (peak - floor) * cooled
        else:
            raise InputError(f"LR schedule: unknown style '{schedule.style}' ({', '.join(STYLES)})")
    lr = np.maximum(decayed, floor)
    if warm > 0:
        lr = np.where(n <= warm, peak * count / warm, lr)
    return float(lr) if np.ndim(lr) == 0 else lr

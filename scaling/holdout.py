"""Held-out extrapolation: keep the largest-compute runs out of the fit and score predictions.

One split for every command that takes --holdout (laws and relations alike): ``held_out_mask``.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from scalefit.errors import InputError
from scalefit.options import holdout_spec


def parse_holdout(spec) -> float | int | None:
    """'0.2' -> a fraction of runs, '5' -> a count of runs; None/'0' -> no holdout.

    nan, inf, negatives and non-whole counts are refused (scalefit.options.holdout_spec).
    """
    return holdout_spec("--holdout", spec)


def held_out_mask(compute, holdout, *, min_fit: int = 2, what: str = "runs") -> np.ndarray:
    """Which rows the largest-compute holdout keeps out of the fit (a boolean mask).

    ``holdout`` is a fraction of the rows (rounded up) or a count. The rule: the cut lies at a
    compute value, and every row at or above it is held out, so runs of equal compute are never
    split between fit and held-out (a tie at the cut holds out more than ``count`` rows) and
    every held-out run lies beyond the largest fitted compute: a true extrapolation. A missing
    compute ranks as the largest. Refused when fewer than ``min_fit`` rows would be left to fit.
    """
    spec = parse_holdout(holdout)
    compute = np.asarray(compute, dtype=float)
    n = compute.size
    if spec is None:
        return np.zeros(n, dtype=bool)
    count = math.ceil(spec * n) if isinstance(spec, float) else spec
    filled = np.where(np.isnan(compute), np.inf, compute)  # a missing compute ranks as the largest
    ranked = np.sort(filled)
    held = (filled >= ranked[n - count]) if 0 < count <= n else np.ones(n, dtype=bool)
    if n - int(held.sum()) < min_fit:
        raise InputError(_too_many_held_out(spec, count, held, ranked, min_fit, what))
    return held


def _too_many_held_out(spec, count: int, held, ranked, min_fit: int, what: str) -> str:
    """Why a holdout leaves too few rows to fit: more than there are, a tie at the cut (runs of
    equal compute stay together) or plainly too many; and the most that can be held out."""
    n, n_held = ranked.size, int(held.sum())
    # the most rows a count can hold out and leave min_fit: the rows above a compute that at
    # least min_fit rows lie below
    most = n - int(ranked.searchsorted(ranked[min_fit - 1], side="right")) if n >= min_fit else 0
    asked = f"{spec:g} of {n} {what} is {count}" if isinstance(spec, float) else None
    tail = f"; the fit needs at least {min_fit} (hold out at most {most})"
    if count > n:
        return (f"--holdout {count}: there are only {n} {what}" + tail)
    if n_held > count:
        cut = ranked[n - count]
        at = f"compute {cut:.4g}" if np.isfinite(cut) else "no compute (ranked as the largest)"
        largest = f"the {count} largest-compute {what} reach" if count > 1 else \
            "the largest-compute one reaches"
        return (f"--holdout: {asked + ', and ' if asked else ''}{largest} down to {at}, which "
                f"{int((ranked == cut).sum())} {what} share; {what} of "
                f"equal compute stay on one side (every held-out one lies beyond the fit), so "
                f"{n_held} are held out and {n - n_held} left" + tail)
    return (f"--holdout: {asked + '; ' if asked else ''}keeping {count} of {n} {what} out leaves "
            f"{n - count}" + tail)


def split_holdout(frame: pd.DataFrame, holdout, compute, *, min_fit: int = 2,
                  what: str = "runs") -> tuple[pd.DataFrame, pd.DataFrame]:
    """(fitted, held-out) rows of ``frame``: the held-out ones by ``held_out_mask``."""
    held = held_out_mask(compute, holdout, min_fit=min_fit, what=what)
    return frame[~held], frame[held]


def holdout_errors(predicted, observed) -> dict:
    """Relative error (predicted - observed)/observed per held-out run, with its summary."""
    predicted = np.asarray(predicted, float)
    observed = np.asarray(observed, float)
    rel = (predicted - observed) / observed
    return {"n": int(rel.size), "relative_error": rel.tolist(),
            "mean_abs_rel_error": float(np.mean(np.abs(rel))) if rel.size else float("nan"),
            "max_abs_rel_error": float(np.max(np.abs(rel))) if rel.size else float("nan")}

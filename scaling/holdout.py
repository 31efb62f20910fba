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
    ranked = np.where(np.isnan(compute), np.inf, compute)
    held = (ranked >= np.sort(ranked)[n - count]) if 0 < count <= n else np.ones(n, dtype=bool)
    if n - int(held.sum()) < min_fit:
        kept = max(count, int(held.sum()))
        raise InputError(f"--holdout: keeping {kept} of {n} {what} out leaves {n - kept}; the fit "
                         f"needs at least {min_fit} (hold out at most {max(n - min_fit, 0)})")
    return held


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
            "mean_abs_relative_error": float(np.mean(np.abs(rel))) if rel.size else float("nan"),
            "max_abs_relative_error": float(np.max(np.abs(rel))) if rel.size else float("nan")}

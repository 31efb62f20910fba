"""Held-out extrapolation: keep the largest-compute runs out of the fit and score predictions."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from scalefit.errors import InputError


def parse_holdout(spec) -> float | int | None:
    """'0.2' -> a fraction of runs, '5' -> a count of runs; None/'0' -> no holdout."""
    if spec is None:
        return None
    try:
        value = float(spec)
    except (TypeError, ValueError):
        raise InputError(f"--holdout: '{spec}' is not a fraction (0.2) or a count (5)") from None
    if value <= 0:
        return None
    if value < 1:
        return value
    if value != int(value):
        raise InputError(f"--holdout: '{spec}' must be a fraction below 1 or a whole count")
    return int(value)


def split_holdout(frame: pd.DataFrame, holdout, compute: np.ndarray):
    """(train, held_out) frames: the held-out rows are those with the largest compute."""
    holdout = parse_holdout(holdout)
    if holdout is None:
        return frame, frame.iloc[0:0]
    n = len(frame)
    count = math.ceil(holdout * n) if isinstance(holdout, float) else holdout
    if count >= n - 1:
        raise InputError(f"--holdout: keeping {count} of {n} runs out leaves too few to fit")
    order = np.argsort(compute, kind="stable")
    held = np.sort(order[n - count:])
    keep = np.sort(order[:n - count])
    return frame.iloc[keep], frame.iloc[held]


def holdout_errors(predicted, observed) -> dict:
    """Relative error (predicted - observed)/observed per held-out run, with its summary."""
    predicted = np.asarray(predicted, float)
    observed = np.asarray(observed, float)
    rel = (predicted - observed) / observed
    return {"n": int(rel.size), "relative_error": rel.tolist(),
            "mean_abs_relative_error": float(np.mean(np.abs(rel))) if rel.size else float("nan"),
            "max_abs_relative_error": float(np.max(np.abs(rel))) if rel.size else float("nan")}

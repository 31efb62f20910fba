"""The fitting objective of the field: Huber loss on log residuals (Hoffmann et al. 2022).

residual = log(observed) - log(predicted); objective = sum of Huber_delta(residual).
delta = 1e-3 is the default of Hoffmann et al. and Besiroglu et al.
"""
from __future__ import annotations

import numpy as np

HUBER_DELTA = 1e-3


def huber(residual, delta: float = HUBER_DELTA):
    """Elementwise Huber loss: r^2/2 inside |r| <= delta, delta*(|r| - delta/2) outside."""
    r = np.abs(np.asarray(residual, dtype=float))
    return np.where(r <= delta, 0.5 * r * r, delta * (r - 0.5 * delta))


def huber_grad(residual, delta: float = HUBER_DELTA):
    """Derivative of ``huber`` with respect to the residual."""
    r = np.asarray(residual, dtype=float)
    return np.clip(r, -delta, delta)


def log_residuals(observed, predicted):
    """log(observed) - log(predicted); predicted <= 0 gives +inf-sized residuals (rejected)."""
    predicted = np.asarray(predicted, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.log(np.asarray(observed, dtype=float)) - np.log(predicted)
    return np.where(np.isfinite(out), out, 1e3)


def huber_objective(observed, predicted, delta: float = HUBER_DELTA) -> float:
    """Sum over points of Huber(log residual)."""
    return float(np.sum(huber(log_residuals(observed, predicted), delta)))

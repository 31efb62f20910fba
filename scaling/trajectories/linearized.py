"""The stat-vs-loss fit linearized at its optimum: its Jacobian on each run's points and the
AR(1) traces of the stacked design, which the parameter intervals and the collapse F-test share."""
from __future__ import annotations

import numpy as np

from scalefit.scaling.fitresult import FitResult
from scalefit.scaling.trajectories.stat_law import stat_power_law


def _jacobian_columns(fit: FitResult, loss: np.ndarray) -> dict[str, np.ndarray]:
    """d value / d (each fitted parameter) at the optimum, by central differences."""
    values = {name: par.value for name, par in fit.model_result.params.items()}
    columns = {}
    for name, par in fit.model_result.params.items():
        if not par.vary:
            continue
        h = 1e-6 * max(abs(values[name]), 1e-3)
        up, down = dict(values), dict(values)
        up[name] += h
        down[name] -= h
        columns[name] = (stat_power_law(loss, **up) - stat_power_law(loss, **down)) / (2 * h)
    return columns


def jacobian(fit: FitResult, loss: np.ndarray) -> np.ndarray:
    """The Jacobian at the optimum, without the columns that are not finite there."""
    columns = [c for c in _jacobian_columns(fit, loss).values() if np.all(np.isfinite(c))]
    return np.column_stack(columns) if columns else np.zeros((len(loss), 0))


def jacobian_blocks(fit: FitResult, losses: list) -> tuple[list[np.ndarray], list[str]]:
    """(the fit's Jacobian on each run's points, the parameters it keeps): only parameters whose
    derivative is finite on every run; no blocks when none is."""
    columns = [_jacobian_columns(fit, np.asarray(loss, dtype=float)) for loss in losses]
    names = [n for n in columns[0] if all(np.all(np.isfinite(c[n])) for c in columns)] if columns else []
    if not names:
        return [], []
    return [np.column_stack([c[n] for n in names]) for c in columns], names


def pooled_traces(gram, moments) -> tuple[np.ndarray, float, float]:
    """(C, tr(M S), tr(M S M S)) of the stacked design X of all runs, from its G = (X'X)^+ and the
    runs' design moments: C = X'SX, M = I - X G X' its residual projection, S the block-diagonal
    AR(1) correlation."""
    c = sum(m[0] for m in moments)
    trace_ms = sum(m[3] for m in moments) - np.trace(gram @ c)  # tr(S) = n: unit diagonal
    trace_msms = (sum(m[2] for m in moments) - 2 * np.trace(gram @ sum(m[1] for m in moments))
                  + np.trace(gram @ c @ gram @ c))
    return c, float(trace_ms), float(trace_msms)

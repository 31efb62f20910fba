"""Intervals of a relation's prediction: for the curve (ci95) and for an observed value (pi95).

The curve's interval comes from the bootstrap draws of the parameters alone: it says where the
law is, not where a new model will land. A new model's observed y also scatters about the law,
as the fitted points did, so the prediction interval adds to each draw's prediction one
residual drawn from the fit (scaled by sqrt(n / (n - p)) for the parameters fitted): relative
(y = y_hat exp(r), r a log residual) for the shifted power law of losses, additive
(y = y_hat + r) for an accuracy or error law. A chained (N, D) -> L_x -> y prediction also
carries the Kaplan law of x: its parameter draws and its own log residuals.
"""
from __future__ import annotations

import numpy as np

from scalefit.scaling.fitresult import FitResult, percentile_ci
from scalefit.scaling.relations import forms as relation_forms

NAN2 = [float("nan"), float("nan")]
PI_NOTE = ("pi95: where an observed value falls (parameter draws plus the fit's residual "
           "scatter); ci95: the fitted curve's interval")


def observed_residuals(resid, n_free: int) -> np.ndarray:
    """Fit residuals scaled by sqrt(n / (n - p)): the scatter a new observation adds."""
    resid = np.asarray(resid, float)
    resid = resid[np.isfinite(resid)]
    n = resid.size
    return resid * np.sqrt(n / (n - n_free)) if n > n_free else resid


def _curve(result: FitResult, x, params: dict):
    if result.law == "shifted-power":
        return relation_forms.shifted_power_law(x, params["K"], params["kappa"], params["E_x"],
                                                params["E_y"])
    from scalefit.scaling.relations.accuracy import ACCURACY_LAWS
    func, names = ACCURACY_LAWS[result.law]
    return func(x, *(params[n] for n in names))


def _with_residual(result: FitResult, y, resid):
    """An observation about the curve: relative for losses, additive for accuracies."""
    if result.law == "shifted-power":
        return y * np.exp(resid)
    return y + resid


def _rng(result: FitResult, salt: int) -> np.random.Generator:
    return np.random.default_rng([int(result.components.get("seed", 0)) & 0xFFFFFFFF, salt])


def interval_at(result: FitResult, x, *, x_draws=None, x_residuals=None, level: float = 0.95,
                salt: int = 0) -> dict:
    """{"value", "ci95", "pi95"} of y at x (one value); NaN intervals without bootstrap draws.

    ``x_draws``: x itself drawn per bootstrap resample (a chained prediction); ``x_residuals``:
    log residuals of the law that predicted x, drawn into each resample's x.
    """
    value = float(_curve(result, float(x), result.values()))
    draws = result.draws
    if draws is None:
        return {"value": value, "ci95": list(NAN2), "pi95": list(NAN2)}
    params = {k: np.asarray(v, float) for k, v in draws.items()}
    n = len(next(iter(params.values())))
    xs = np.full(n, float(x)) if x_draws is None else np.asarray(x_draws, float)
    curve = _curve(result, xs, params)
    rng = _rng(result, salt)
    x_obs = xs
    if x_residuals is not None and len(x_residuals):
        x_obs = xs * np.exp(rng.choice(np.asarray(x_residuals, float), n))
    resid = np.asarray(result.components.get("residuals", np.zeros(1)), float)
    observed = _with_residual(result, _curve(result, x_obs, params),
                              rng.choice(resid if resid.size else np.zeros(1), n))
    out = {"value": value, "ci95": list(percentile_ci(curve, level)),
           "pi95": list(percentile_ci(observed, level))}
    undefined = int((~np.isfinite(curve)).sum())
    if undefined > 0.05 * n:  # e.g. draws whose E_x lies above x: the law says nothing there
        out["undefined_draws"] = (f"{undefined} of {n} bootstrap draws give no value here "
                                  "(x at or below their E_x, or a failed refit); the intervals "
                                  "are over the rest")
    return out


def held_out_intervals(result: FitResult, x) -> tuple[np.ndarray, np.ndarray]:
    """(lo, hi) of the 95% prediction interval at each held-out x."""
    lo, hi = [], []
    for i, xi in enumerate(np.asarray(x, float)):
        pi = interval_at(result, xi, salt=i + 1)["pi95"]
        lo.append(pi[0])
        hi.append(pi[1])
    return np.array(lo), np.array(hi)

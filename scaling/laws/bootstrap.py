"""Bootstrap confidence intervals for a fitted law: resample runs, refit warm, take percentiles.

Each resample refits the same log-space Huber objective with scipy's least_squares (what lmfit
calls underneath, without its per-fit bookkeeping), warm-started from the full-data optimum,
with BLAS held to one thread so resamples do not fight over the cores.
"""
from __future__ import annotations

import inspect
import sys

import numpy as np
from scipy.optimize import least_squares
from threadpoolctl import threadpool_limits
from tqdm import tqdm

from scalefit.scaling.laws.allocation import exponents

LSQ_OPTIONS = dict(method="trf", loss="huber", xtol=1e-10, ftol=None, gtol=None, x_scale="jac")


def refit(func, theta0, bounds, indep, log_loss, delta, max_nfev=2000):
    """One Huber log-space fit from theta0; returns (theta, converged)."""
    def residual(theta):
        return func(*theta, **indep) - log_loss
    ret = least_squares(residual, theta0, bounds=bounds, f_scale=delta, max_nfev=max_nfev,
                        **LSQ_OPTIONS)
    return ret.x, bool(ret.status > 0)


def func_params(model) -> list[str]:
    """The fitted (log-scale) parameter names: the model function's arguments, in order."""
    args = inspect.signature(model.func).parameters
    return [name for name in args if name not in model.independent_vars]


def bootstrap_law(model, params, indep: dict, loss, law: str, *, delta: float = 1e-3,
                  n_bootstrap: int = 1000, seed: int = 0, progress: bool = False) -> dict:
    """Refit ``n_bootstrap`` resamples; return per-parameter draws (paper names) and a, b draws."""
    names = func_params(model)
    theta0 = np.array([params[n].value for n in names])
    lo = np.array([params[n].min for n in names], float)
    hi = np.array([params[n].max for n in names], float)
    log_loss = np.log(np.asarray(loss, float))
    indep = {k: np.asarray(v, float) for k, v in indep.items()}
    order = names

    def func(*theta, **x):
        return model.func(**x, **dict(zip(order, theta)))

    rng = np.random.default_rng(seed)
    n = log_loss.size
    draws = {name: np.full(n_bootstrap, np.nan) for name in model.paper_names}
    a_draws = np.full(n_bootstrap, np.nan)
    b_draws = np.full(n_bootstrap, np.nan)
    failed = 0
    bar = tqdm(range(n_bootstrap), desc=f"bootstrap {law}", file=sys.stderr,
               disable=not progress, leave=False)
    with threadpool_limits(limits=1):
        for i in bar:
            idx = rng.integers(0, n, n)
            theta, ok = refit(func, theta0, (lo, hi), {k: v[idx] for k, v in indep.items()},
                              log_loss[idx], delta)
            if not ok:
                failed += 1
                continue
            values = dict(zip(names, theta))
            paper = {}
            for name in model.paper_names:
                paper[name] = np.exp(values[f"log_{name}"]) if name in model.log_scales \
                    else values[name]
                draws[name][i] = paper[name]
            a_draws[i], b_draws[i] = exponents(law, paper)
    return {"params": draws, "a": a_draws, "b": b_draws, "n": n_bootstrap, "n_failed": failed}

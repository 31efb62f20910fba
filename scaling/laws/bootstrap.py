"""Bootstrap confidence intervals for a fitted law: resample runs, refit warm, take percentiles.

Each resample refits the same log-space Huber objective with scipy's least_squares (what lmfit
calls underneath, without its per-fit bookkeeping), warm-started from the full-data optimum,
with BLAS held to one thread so resamples do not fight over the cores. The resamples come from
the one pairs bootstrap of the fitting layer (`scaling/resample.py`).
"""
from __future__ import annotations

import numpy as np
from scipy.optimize import least_squares
from threadpoolctl import threadpool_limits

from scalefit.scaling.resample import pairs_bootstrap

LSQ_OPTIONS = dict(method="trf", loss="huber", xtol=1e-10, ftol=None, gtol=None, x_scale="jac")
ALLOCATION_DRAWS = ("allocation a", "allocation b")  # beside the parameters' draws


def refit(func, theta0, bounds, indep, log_loss, delta, max_nfev=2000):
    """One Huber log-space fit from theta0; returns (theta, converged)."""
    def residual(theta):
        return func(*theta, **indep) - log_loss
    ret = least_squares(residual, theta0, bounds=bounds, f_scale=delta, max_nfev=max_nfev,
                        **LSQ_OPTIONS)
    return ret.x, bool(ret.status > 0)


def bootstrap_law(law, params, indep: dict, loss, *, delta: float = 1e-3,
                  n_bootstrap: int = 1000, seed: int = 0, progress: bool = False) -> dict:
    """Refit ``n_bootstrap`` resamples of a registry ``law`` from its fitted lmfit ``params``;
    return per-parameter draws (paper names) and the allocation exponents' a, b draws."""
    names = law.free_params()
    theta0 = np.array([params[n].value for n in names])
    lo = np.array([params[n].min for n in names], float)
    hi = np.array([params[n].max for n in names], float)
    log_loss = np.log(np.asarray(loss, float))
    indep = {k: np.asarray(v, float) for k, v in indep.items()}

    def func(*theta, **x):
        return law.func(**x, **dict(zip(names, theta)))

    def one_resample(idx):
        theta, ok = refit(func, theta0, (lo, hi), {k: v[idx] for k, v in indep.items()},
                          log_loss[idx], delta)
        if not ok:
            return None
        paper = law.paper_values(dict(zip(names, theta)))
        paper[ALLOCATION_DRAWS[0]], paper[ALLOCATION_DRAWS[1]] = law.exponents(paper)
        return paper

    with threadpool_limits(limits=1):
        draws, failed = pairs_bootstrap(log_loss.size, n_bootstrap, seed, one_resample,
                                        (*law.paper_names, *ALLOCATION_DRAWS),
                                        progress=progress, desc=f"bootstrap {law.law_name}")
    a_draws = draws.pop(ALLOCATION_DRAWS[0])
    b_draws = draws.pop(ALLOCATION_DRAWS[1])
    return {"params": draws, "a": a_draws, "b": b_draws, "n": n_bootstrap, "n_failed": failed}

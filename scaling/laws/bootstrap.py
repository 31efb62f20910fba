"""Bootstrap confidence intervals for a fitted law: resample runs, refit warm, take percentiles.

Every resample minimises the same log-space Huber objective as the fit, warm-started from the
full-data optimum. All resamples are refitted at once: a resample of the runs is a vector of
counts over the same points, so the objective of resample b is sum_i counts[b, i] Huber(r_i), and
one batched Levenberg-Marquardt loop (numpy arrays of resamples x runs, Jacobians by central
differences, one-sided at a bound, Huber curvature weights as in reweighted least squares, bounds
by projection)
moves them all together. A resample the batched loop does not bring to convergence is refitted
one at a time by ``refit_reference`` (scipy's least_squares, the engine's own method), so the
answers are the reference's answers; bench/bench_compare_bootstrap.py compares the two draw by
draw. The resamples come from the one pairs bootstrap of the fitting layer
(`scaling/resample.py`).
"""
from __future__ import annotations

import inspect
import sys

import numpy as np
from scipy.optimize import least_squares
from threadpoolctl import threadpool_limits
from tqdm import tqdm

from scalefit.scaling.resample import pairs_bootstrap, resample_indices
from scalefit.scaling.objective import HUBER_DELTA

LSQ_OPTIONS = dict(method="trf", loss="huber", xtol=1e-10, ftol=None, gtol=None, x_scale="jac")
ALLOCATION_DRAWS = ("allocation a", "allocation b")  # beside the parameters' draws
# batched iterations before the stragglers go to the reference refit: a Kaplan L(N,D)+E refit
# with E at its bound 0 (predict downstream's code loss) needs a median 270, 1590 at the 99th
# percentile (400 left a third of them to the one-at-a-time refit)
BATCH_MAX_ITER = 2000
BATCH_XTOL = 1e-10  # relative step at which a resample counts as converged (as LSQ_OPTIONS)
# curvature of a run outside the Huber kink: the IRLS weight delta/|r| scaled down, nearer the
# true Huber Hessian (0 there) so the last iterations converge fast, yet never singular
OUTSIDE_WEIGHT = 0.1
# a Jacobian's shifted copies are evaluated together up to this many residuals per call
JACOBIAN_ELEMENTS = 1 << 20


# scipy >= 1.16 hands a finite-difference Jacobian's shifted points to a map-like ``workers``
LSQ_TAKES_WORKERS = "workers" in inspect.signature(least_squares).parameters


def stacked_differences(rows, *, check: bool = False) -> dict:
    """least_squares' keyword that evaluates the 2-point Jacobian's p shifted points in one call
    ``rows(X)`` (X: (p, n_params), a point per row; returns (p, m) residuals) instead of p calls
    (scipy's own vectorized ``workers`` pattern). Each row must be the numbers the residual
    function gives alone (an elementwise numpy formula is): the fit is then the same to the
    last bit (a sigmoid accuracy fit's wild bootstrap about 12% faster). A point set with a
    non-finite residual goes through the residual function point by point (an lmfit fit's NaN
    policy then applies as before); ``check``: the first set is also evaluated that way, and
    rows are used only if they equal it bit for bit. {} on a scipy without ``workers`` (the
    same fit, one call per point)."""
    if not LSQ_TAKES_WORKERS:
        return {}
    trusted = [not check, True]  # [rows checked, rows equal the residual function's]

    def workers(fun, points):
        X = np.array(list(points), float)
        out = rows(X) if trusted[1] else None
        if out is None or not np.all(np.isfinite(out)):
            return [fun(x) for x in X]
        if not trusted[0]:
            own = [fun(x) for x in X]
            trusted[:] = [True, all(np.array_equal(a, b) for a, b in zip(own, out))]
            return own
        workers.stacked_points += len(X)  # points the residual function (lmfit's count) never saw
        return list(out)

    workers.stacked_points = 0
    return {"workers": workers}


def point_columns(X) -> list:
    """Each parameter of the points X (a point per row) as a contiguous (k, 1) column: the
    arguments ``stacked_differences``' ``rows`` gives a formula (numpy's SIMD loops may take a
    strided array another way than a contiguous one)."""
    return [np.ascontiguousarray(X[:, j])[:, None] for j in range(X.shape[1])]


def stacked_lmfit_jacobian(model, params, data, indep) -> dict:
    """fit_kws for ``model.fit(data, params, method="least_squares", **indep)`` that evaluate the
    Jacobian's shifted points in one broadcast call of the model's formula (lmfit's residual
    data - model per row; ``stacked_differences``, checked against lmfit's own residuals on the
    first Jacobian), where lmfit varies exactly the formula's parameters in their order and the
    formula broadcasts; else {} (lmfit evaluates each point)."""
    names = [n for n in inspect.signature(model.func).parameters
             if n not in model.independent_vars]
    if [n for n, p in params.items() if p.vary and p.expr is None] != names:
        return {}

    def func(*theta, **x):
        return model.func(**x, **dict(zip(names, theta)))

    if not broadcasts(func, [params[n].value for n in names], indep, np.size(data)):
        return {}
    return stacked_differences(lambda X: data - func(*point_columns(X), **indep), check=True)


def lmfit_limit_kept(fit, stacked: dict, params, max_nfev: int | None = None):
    """``fit(extra_fit_kws)`` (an lmfit least_squares fit) with the Jacobian's points stacked and
    lmfit's evaluation limit kept. lmfit counts every call of its residual, the 2-point Jacobian's
    included, and stops a fit past ``max_nfev``; stacked points bypass that count, so an unconverged
    fit ran about 1 + n_varied times longer than before stacking and ended elsewhere (a sigmoid
    collapsing to a step: Pythia winogrande's calibrated coverage went 75% -> 54%). A fit that came
    within two Jacobians of the limit, counting the stacked points, is run again the plain way:
    every fit is the one lmfit gave before stacking, to the bit. ``params``: the fit's start (its
    varied parameters size a Jacobian); ``max_nfev`` None: lmfit's least_squares default."""
    if not stacked:
        return fit({})
    n_varied = sum(p.vary and p.expr is None for p in params.values())
    if max_nfev is None:
        max_nfev = 2000 * (n_varied + 1)  # lmfit's own default for least_squares
    result = fit(stacked)
    used = result.nfev + stacked["workers"].stacked_points
    if getattr(result, "aborted", False) or used >= max_nfev - 2 * (n_varied + 1):
        return fit({})
    return result


def refit(func, theta0, bounds, indep, log_loss, delta, max_nfev=2000, *, stacked=False):
    """One Huber log-space fit from theta0; returns (theta, converged). ``stacked``: ``func``
    broadcasts (B, 1) parameter columns (``broadcasts``), so its Jacobian's points are
    evaluated together (``stacked_differences``)."""
    def residual(theta):
        return func(*theta, **indep) - log_loss

    def rows(X):
        return func(*point_columns(X), **indep) - log_loss

    ret = least_squares(residual, theta0, bounds=bounds, f_scale=delta, max_nfev=max_nfev,
                        **LSQ_OPTIONS, **(stacked_differences(rows) if stacked else {}))
    return ret.x, bool(ret.status > 0)


refit_reference = refit  # the one-resample-at-a-time refit, kept for stragglers and the bench


# --- batched refits ---------------------------------------------------------------------------

def _huber_cost(resid, counts, delta):
    a = np.abs(resid)
    h = np.where(a <= delta, 0.5 * resid * resid, delta * (a - 0.5 * delta))
    return np.einsum("bn,bn->b", counts, h)


def _damped_steps(A, g, diag):
    """Each row's LM step -A^-1 g; a row whose A is singular takes the scaled gradient step
    -g / diag instead (one singular row sent every row of the batch to it)."""
    try:
        return -np.linalg.solve(A, g[..., None])[..., 0]
    except np.linalg.LinAlgError:
        step = -g / diag
        for b in range(A.shape[0]):
            try:
                step[b] = -np.linalg.solve(A[b], g[b])
            except np.linalg.LinAlgError:
                pass  # this row keeps its gradient step
        return step


def batched_huber_refit(func, theta0, bounds, indep, log_loss, delta, counts, *,
                        max_iter: int = BATCH_MAX_ITER, xtol: float = BATCH_XTOL,
                        lam0: float = 0.1, outside_weight: float = OUTSIDE_WEIGHT,
                        on_converged=None):
    """Minimise sum_i counts[b, i] Huber(func(theta_b, x_i) - log_loss_i) for every row b.

    ``func(*theta, **indep)`` must broadcast: each parameter a (B, 1) column, each variable an
    (n,) array, giving (B, n). Levenberg-Marquardt on the Huber objective, curvature weight 1
    inside the kink and OUTSIDE_WEIGHT * delta/|r| outside (damped IRLS), central-difference
    Jacobians, steps projected on the bounds. Returns (theta (B, p), converged (B,) bool).
    ``log_loss`` may be (B, n): row b's own targets (points whose values differ by resample).
    ``on_converged(k)`` is told each iteration's k newly converged rows (a progress bar).
    """
    lo, hi = (np.asarray(b, float) for b in bounds)
    counts = np.asarray(counts, float)
    B, p = counts.shape[0], len(theta0)
    theta = np.tile(np.asarray(theta0, float), (B, 1))
    log_loss = np.asarray(log_loss, float)

    def resid(th, rows):
        cols = [th[:, j:j + 1] for j in range(p)]
        with np.errstate(all="ignore"):
            r = func(*cols, **indep) - (log_loss[rows] if log_loss.ndim == 2 else log_loss)
        return np.where(np.isfinite(r), r, 1e3)

    def jacobian(th, rows):
        # the 2p shifted copies of th (up, down per parameter) in as few calls as the
        # element cap allows: each row's residuals are the numbers one call per copy gave.
        # A shift never leaves the bounds (one-sided at a bound, as scipy's differences): a
        # point past one (E < 0 under log E) has no residual, and its 1e3 stand-in made the
        # derivative garbage whenever a parameter sat within h of its bound
        k, n = th.shape[0], log_loss.shape[-1]
        h = 1e-6 * np.maximum(1.0, np.abs(th))
        up, down = np.minimum(th + h, hi), np.maximum(th - h, lo)
        shifted = np.empty((2 * p, k, p))
        shifted[:] = th
        for j in range(p):
            shifted[2 * j, :, j] = up[:, j]
            shifted[2 * j + 1, :, j] = down[:, j]
        span = np.where((up == th + h) & (down == th - h), 2 * h, up - down)
        per_call = max(1, JACOBIAN_ELEMENTS // max(k * n, 1))
        R = np.empty((2 * p, k, n))
        for s in range(0, 2 * p, per_call):
            m = min(per_call, 2 * p - s)
            R[s:s + m] = resid(shifted[s:s + m].reshape(m * k, p),
                               np.tile(rows, m)).reshape(m, k, n)
        J = np.empty((k, n, p))
        for j in range(p):
            J[:, :, j] = (R[2 * j] - R[2 * j + 1]) / span[:, j][:, None]
        return J

    r = resid(theta, np.arange(B))
    cost = _huber_cost(r, counts, delta)
    lam = np.full(B, lam0)
    converged = np.zeros(B, bool)
    active = np.arange(B)
    eye = np.eye(p)
    # each row's Jacobian at its current theta: a rejected step leaves theta, so it is reused
    J_at = np.empty((B, log_loss.shape[-1], p))
    stale = np.ones(B, bool)
    for _ in range(max_iter):
        if active.size == 0:
            break
        th, ra, ca = theta[active], r[active], counts[active]
        redo = active[stale[active]]
        if redo.size:
            J_at[redo] = jacobian(theta[redo], redo)
            stale[redo] = False
        J = J_at[active]
        psi = np.clip(ra, -delta, delta)
        g = np.einsum("bn,bnj->bj", ca * psi, J)
        inside = np.abs(ra) <= delta
        w = ca * np.where(inside, 1.0, outside_weight * delta / np.maximum(np.abs(ra), 1e-300))
        H = np.einsum("bni,bn,bnj->bij", J, w, J)
        # a parameter on a bound with the gradient pushing outward stays there
        fixed = ((th <= lo) & (g > 0)) | ((th >= hi) & (g < 0))
        g = np.where(fixed, 0.0, g)
        keep = ~fixed
        H = H * (keep[:, :, None] & keep[:, None, :]) + eye * fixed[:, :, None]
        diag = np.maximum(np.einsum("bii->bi", H), 1e-12)
        la = lam[active]
        A = H + eye * (la[:, None] * diag)[:, :, None]
        step = _damped_steps(A, g, diag)
        step = np.where(np.isfinite(step), step, 0.0)
        trial = np.clip(th + step, lo, hi)
        rt = resid(trial, active)
        ct = _huber_cost(rt, ca, delta)
        better = ct <= cost[active]
        moved = trial - th
        small = (np.linalg.norm(moved, axis=1)
                 <= xtol * (xtol + np.linalg.norm(th, axis=1)))
        idx_ok = active[better]
        stale[idx_ok] = True
        theta[idx_ok] = trial[better]
        r[idx_ok] = rt[better]
        cost[idx_ok] = ct[better]
        lam[active] = np.where(better, np.maximum(la / 3.0, 1e-12), la * 4.0)
        done = (better & small) | (lam[active] > 1e12)
        newly = done & better & small
        converged[active[newly]] = True
        if on_converged is not None and newly.any():
            on_converged(int(newly.sum()))
        active = active[~done]
    return theta, converged


def broadcasts(func, theta0, indep, n):
    """Whether ``func`` takes (B, 1) parameter columns and gives (B, n) (a numpy formula)."""
    try:
        cols = [np.full((2, 1), t) for t in theta0]
        with np.errstate(all="ignore"):
            out = np.asarray(func(*cols, **indep))
    except Exception:  # noqa: BLE001 - any failure means: refit one at a time
        return False
    return out.shape == (2, n)


def refit_resamples(func, theta0, bounds, indep, log_loss, delta, indices, *,
                    batched: bool = True, progress: bool = False, desc: str = "bootstrap"):
    """Refit every resample (rows of ``indices``); returns (thetas (B, p), converged (B,)).

    Batched where the law's formula broadcasts; a resample the batch leaves unconverged is
    refitted by ``refit_reference``, the same method the engine uses, from the same start.
    ``progress``: a bar on stderr counting the resamples finished (the batch's as they converge,
    then each one refitted alone): 20000 draws ran two minutes with nothing on stderr.
    """
    n = log_loss.size
    B = indices.shape[0]
    thetas = np.full((B, len(theta0)), np.nan)
    ok = np.zeros(B, bool)
    todo = np.arange(B)
    stacked = broadcasts(func, theta0, indep, n)
    with tqdm(total=B, desc=desc, file=sys.stderr, disable=not progress, leave=False,
              unit="resample") as bar:
        if batched and stacked:
            counts = np.zeros((B, n))
            np.add.at(counts, (np.repeat(np.arange(B), n), indices.ravel()), 1.0)
            thetas, ok = batched_huber_refit(func, theta0, bounds, indep, log_loss, delta, counts,
                                             on_converged=bar.update)
            todo = np.flatnonzero(~ok)
        for i in todo:
            idx = indices[i]
            theta, conv = refit_reference(func, theta0, bounds, {k: v[idx] for k, v in indep.items()},
                                          log_loss[idx], delta, stacked=stacked)
            thetas[i], ok[i] = theta, conv
            bar.update()
    return thetas, ok


def bootstrap_law(law, params, indep: dict, loss, *, delta: float = HUBER_DELTA,
                  n_bootstrap: int = 1000, seed: int = 0, progress: bool = False,
                  batched: bool = True) -> dict:
    """Refit ``n_bootstrap`` resamples of a registry ``law`` from its fitted lmfit ``params``;
    return per-parameter draws (paper names) and the allocation exponents' a, b draws.

    batched=False refits one resample at a time with ``refit_reference`` (the former path)."""
    names = law.free_params()
    theta0 = np.array([params[n].value for n in names])
    lo = np.array([params[n].min for n in names], float)
    hi = np.array([params[n].max for n in names], float)
    log_loss = np.log(np.asarray(loss, float))
    indep = {k: np.asarray(v, float) for k, v in indep.items()}

    def func(*theta, **x):
        return law.func(**x, **dict(zip(names, theta)))

    def paper_draw(theta):
        paper = law.paper_values(dict(zip(names, theta)))
        paper[ALLOCATION_DRAWS[0]], paper[ALLOCATION_DRAWS[1]] = law.exponents(paper)
        return paper

    all_names = (*law.paper_names, *ALLOCATION_DRAWS)
    with threadpool_limits(limits=1):
        if batched:
            indices = resample_indices(log_loss.size, n_bootstrap, seed)
            thetas, ok = refit_resamples(func, theta0, (lo, hi), indep, log_loss, delta,
                                         indices, progress=progress,
                                         desc=f"bootstrap {law.law_name}")
            draws = {name: np.full(n_bootstrap, np.nan) for name in all_names}
            for i in np.flatnonzero(ok):
                for name, value in paper_draw(thetas[i]).items():
                    draws[name][i] = value
            failed = int((~ok).sum())
        else:
            def one_resample(idx):
                theta, conv = refit_reference(func, theta0, (lo, hi),
                                              {k: v[idx] for k, v in indep.items()},
                                              log_loss[idx], delta)
                return paper_draw(theta) if conv else None

            draws, failed = pairs_bootstrap(log_loss.size, n_bootstrap, seed, one_resample,
                                            all_names, progress=progress,
                                            desc=f"bootstrap {law.law_name}")
    a_draws = draws.pop(ALLOCATION_DRAWS[0])
    b_draws = draws.pop(ALLOCATION_DRAWS[1])
    return {"params": draws, "a": a_draws, "b": b_draws, "n": n_bootstrap, "n_failed": failed}

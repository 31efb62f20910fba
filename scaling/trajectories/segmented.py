"""Change points in a trajectory: continuous piecewise-linear (segmented) fits, BIC-chosen.

y = b0 + b1 x + sum_j c_j max(0, x - t_j), with x = log10(step) for weight-statistic
trajectories. For fixed breakpoints t the model is linear in (b, c), so an exhaustive grid over
breakpoints with least squares (variable projection) finds the basin, and Nelder-Mead refines the
breakpoints. The number of segments is chosen by BIC, and a transition is reported only when
the segmented model also beats a smooth polynomial of the same size: curvature alone is not a
transition.
"""
from __future__ import annotations

import functools
import itertools
from dataclasses import dataclass

import numpy as np

from scalefit.scaling.trajectories import ar1

RHO_ROUNDS = 3  # alternations of (breakpoints | rho) and (rho | breakpoints) in one fit


@dataclass
class SegmentedFit:
    """Best piecewise-linear fit with k breakpoints (k = 0 is a straight line)."""

    breakpoints: np.ndarray            # t_j in x units, sorted
    coef: np.ndarray                   # b0, b1, c_1..c_k
    sse: float                         # of the whitened residuals (GLS) when rho > 0
    n: int
    bic: float
    rho: float = 0.0                   # AR(1) coefficient of the errors the fit assumed
    lags: np.ndarray | None = None     # ar1.gap_lags of the points: None where none was left out

    @property
    def k(self) -> int:
        return len(self.breakpoints)

    def predict(self, x) -> np.ndarray:
        return hinge_design(np.asarray(x, dtype=float), self.breakpoints) @ self.coef

    def slopes(self) -> np.ndarray:
        """Slope of each segment, left to right."""
        return self.coef[1] + np.concatenate([[0.0], np.cumsum(self.coef[2:])])


def hinge_design(x: np.ndarray, breakpoints) -> np.ndarray:
    """Design matrix [1, x, max(0, x - t_1), ...] of a continuous piecewise-linear model."""
    cols = [np.ones_like(x), x] + [np.maximum(0.0, x - t) for t in breakpoints]
    return np.column_stack(cols)


def bic_ar1(sse_whitened: float, n: int, n_params: int, rho: float, lags=None) -> float:
    """BIC of a fit with Gaussian AR(1) errors: -2 log L + (p + 1) log n, rho counted as a
    parameter (with rho = 0, n log(SSE/n) + (p + 1) log n); ``lags``: ar1.whiten's."""
    return -2.0 * ar1.gaussian_loglik(sse_whitened, n, rho, lags) + (n_params + 1) * np.log(n)


def lstsq(x, y, breakpoints, rho=0.0, lags=None):
    """(coef, SSE) by generalized least squares under AR(1) errors (ordinary when rho = 0;
    ``lags``: ar1.whiten's, for points with gaps between them)."""
    design = ar1.whiten(hinge_design(x, breakpoints), rho, lags=lags)
    yw = ar1.whiten(y, rho, lags=lags)
    coef, *_ = np.linalg.lstsq(design, yw, rcond=None)
    resid = yw - design @ coef
    return coef, float(resid @ resid)


def _candidate_breakpoints(x: np.ndarray, min_points: int, n_grid: int) -> np.ndarray:
    """Interior positions leaving at least min_points points on each side."""
    xs = np.sort(x)
    if len(xs) < 2 * min_points + 1:
        return np.array([])
    lo, hi = xs[min_points - 1], xs[-min_points]
    if hi <= lo:
        return np.array([])
    return np.linspace(lo, hi, n_grid + 2)[1:-1]


def _valid(breaks, x, min_points) -> bool:
    edges = np.concatenate([[-np.inf], np.sort(breaks), [np.inf]])
    counts = [np.sum((x > a) & (x <= b)) for a, b in zip(edges[:-1], edges[1:])]
    return min(counts) >= min_points


def fit_segmented(x, y, k: int, *, min_points: int = 3, n_grid: int = 40,
                  rho: float | None = None, lags=None) -> SegmentedFit | None:
    """Best continuous piecewise-linear fit with exactly k breakpoints (None if too few points).

    x must be sorted: the errors are AR(1) in that order (``lags``: ar1.gap_lags of the points,
    where some of the series were left out). With `rho` given the fit is
    generalized least squares at that rho (0: ordinary least squares); without it, rho is
    estimated by REML at the breakpoints and the breakpoints refitted, alternating until rho
    settles (at most RHO_ROUNDS times).
    """
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    if rho is not None:
        return _fit_at_rho(x, y, k, min_points, n_grid, rho, lags)
    fit = _fit_at_rho(x, y, k, min_points, n_grid, 0.0, lags)
    for _ in range(RHO_ROUNDS):
        if fit is None:
            return None
        rho = ar1.reml_rho(hinge_design(x, fit.breakpoints), y, lags)
        if rho == fit.rho:
            break
        fit = _fit_at_rho(x, y, k, min_points, n_grid, rho, lags)
    return fit


def _fit_at_rho(x, y, k, min_points, n_grid, rho, lags=None) -> SegmentedFit | None:
    """Grid search over breakpoint positions with generalized least squares for the linear
    coefficients, then a Nelder-Mead refinement of the breakpoints from the best grid point."""
    return fits_at_rho(x, [y], k, min_points, n_grid, [rho], lags)[0]


def fits_at_rho(x, ys, k, min_points, n_grid, rhos, lags=None) -> list[SegmentedFit | None]:
    """``_fit_at_rho`` of each (y, rho) of ``ys`` and ``rhos`` on one x (a run's resamples, each
    at its own rho), the refinements run side by side (``_refine_many``): the same fits."""
    n = len(x)
    if k == 0:
        fits = []
        for y, rho in zip(ys, rhos):
            coef, sse = lstsq(x, y, [], rho, lags)
            fits.append(SegmentedFit(np.array([]), coef, sse, n, bic_ar1(sse, n, 2, rho, lags), rho,
                                     lags))
        return fits
    grid = _candidate_breakpoints(x, min_points, n_grid if k == 1 else max(12, n_grid // (2 * k)))
    if len(grid) < k:
        return [None] * len(ys)
    bases = {}  # resamples drawn at one rho share their grid's designs
    optima = [_grid_optimum(x, y, grid, k, min_points, rho, bases, lags) for y, rho in zip(ys, rhos)]
    todo = [i for i, (_, breaks) in enumerate(optima) if breaks is not None]
    refined = _refine_many(x, [ys[i] for i in todo], [optima[i][1] for i in todo], min_points,
                           [rhos[i] for i in todo], lags)
    fits = [None] * len(ys)
    for i, breaks in zip(todo, refined):
        (best_sse, best_breaks), y, rho = optima[i], ys[i], rhos[i]
        coef, sse = lstsq(x, y, breaks, rho, lags)
        if sse > best_sse:  # refinement must never lose to the grid
            breaks, (coef, sse) = best_breaks, lstsq(x, y, best_breaks, rho, lags)
        fits[i] = SegmentedFit(np.sort(breaks), coef, sse, n, bic_ar1(sse, n, 2 + 2 * k, rho, lags),
                               rho, lags)
    return fits


# Two sums of squares of one grid search closer than this share of the whitened y's squared norm
# may be ordered differently by the batched screen than by lstsq (both are within ~1e-14 of it).
SCREEN_TOLERANCE = 1e-10


def _grid_optimum(x, y, grid, k, min_points, rho, bases: dict | None = None,
                  lags=None) -> tuple[float, np.ndarray | None]:
    """(SSE, breakpoints) of the best combination of k grid points leaving min_points points
    in every segment, or (inf, None): the first combination (in itertools order) with the least
    ``lstsq`` SSE. Every combination is screened at once (batched QR); only those the screen
    cannot tell from the best are fitted by ``lstsq`` (one or a few), so the choice and its SSE
    are the one-by-one search's to the last bit. ``bases``: the QR bases of earlier searches on
    this x, grid and k, by rho (filled here): they do not depend on y. ``lags``: ar1.whiten's."""
    combos = _valid_combinations(x.tobytes(), grid.tobytes(), k, min_points)
    if not len(combos):
        return np.inf, None
    yw = ar1.whiten(y, rho, lags=lags)
    q = None if bases is None else bases.get(float(rho))
    if q is None:
        designs = np.empty((len(combos), len(x), 2 + k))
        designs[:, :, :2] = ar1.whiten(hinge_design(x, []), rho, lags=lags)
        designs[:, :, 2:] = ar1.whiten(np.maximum(0.0, x[:, None] - grid[None, :]), rho,
                                       lags=lags)[:, combos].transpose(1, 0, 2)
        q, _ = np.linalg.qr(designs)
        if bases is not None:
            bases[float(rho)] = q
    resid = yw - np.einsum("cnp,cp->cn", q, np.einsum("cnp,n->cp", q, yw))
    screened = np.sum(resid * resid, axis=1)
    tolerance = SCREEN_TOLERANCE * float(yw @ yw)
    exact = np.full(len(combos), np.nan)
    fitted = np.zeros(len(combos), dtype=bool)
    threshold = np.nanmin(screened) + tolerance if np.isfinite(screened).any() else np.inf
    while True:  # widened to the best exact SSE: a screen too low (a rank-deficient design) can't hide it
        todo = np.flatnonzero(~fitted & ~(screened > threshold))
        for i in todo:
            exact[i] = lstsq(x, y, grid[combos[i]], rho, lags)[1]
        fitted[todo] = True
        if not np.isfinite(exact).any() or np.nanmin(exact) + tolerance <= threshold:
            break
        threshold = np.nanmin(exact) + tolerance
    best_sse, best_breaks = np.inf, None
    for i in np.flatnonzero(fitted):
        if exact[i] < best_sse:
            best_sse, best_breaks = exact[i], grid[combos[i]]
    return best_sse, best_breaks


@functools.lru_cache(maxsize=64)
def _valid_combinations(x_bytes: bytes, grid_bytes: bytes, k: int, min_points: int) -> np.ndarray:
    """(combinations, k) indices into the grid of the k-point combinations that ``_valid``
    accepts, in itertools order; the same for every resample of one run, so kept."""
    x, grid = np.frombuffer(x_bytes), np.frombuffer(grid_bytes)
    combos = [c for c in itertools.combinations(range(len(grid)), k)
              if _valid(grid[list(c)], x, min_points)]
    return np.array(combos, dtype=int).reshape(len(combos), k)


def refine_breakpoints(x, y, start, min_points, rho=0.0, lags=None) -> np.ndarray:
    """Polish breakpoint positions by Nelder-Mead on the profiled sum of squares (linear
    coefficients solved out), each breakpoint kept in [min(x), max(x)] by the Minuit sine
    transform: what lmfit.minimize(method="nelder", options={"xatol": 1e-6, "fatol": 1e-12})
    did here, step for step (the same objective values, the same start and simplex, so the same
    breakpoints to the last bit), without lmfit's or scipy's bookkeeping around each of the ~165
    evaluations of a refinement (``_nelder_mead_steps``; np.linalg.lstsq's LAPACK call made
    directly): tests/test_segmented_batched_search.py holds it to lmfit's answer."""
    return _refine_many(x, [y], [start], min_points, [rho], lags)[0]


def _refine_many(x, ys, starts, min_points, rhos, lags=None) -> list[np.ndarray]:
    """``refine_breakpoints`` of each (y, start, rho) on one x, as many breakpoints in each
    start: the polishes step side by side, each step's least-squares fits made in one LAPACK
    call over all of them (numpy's gufunc runs gelsd on each matrix as it would alone) and every
    other number computed as one polish computes it, so each gives its own answer to the last
    bit. A polish whose residuals are not finite, or whose fit fails (LAPACK's nan), keeps its
    start, as lmfit's nan_policy "raise" and a LinAlgError did."""
    x = np.asarray(x, dtype=float)
    lo, hi = float(np.min(x)), float(np.max(x))
    results = [np.asarray(start, dtype=float) for start in starts]  # a failed polish keeps its start
    if not starts:
        return results
    k = len(starts[0])
    rho_columns = np.array(rhos, dtype=float)
    yw = np.array([ar1.whiten(y, rho, lags=lags) for y, rho in zip(ys, rhos)])[:, :, None]
    designs = np.empty((len(ys), len(x), 2 + k))  # whitened [1, x, hinges] of each, C order
    for i, rho in enumerate(rhos):
        designs[i, :, :2] = ar1.whiten(hinge_design(x, []), rho, lags=lags)
    rcond = np.finfo(float).eps * max(designs.shape[1:])  # as np.linalg.lstsq passes it
    steps, points = {}, {}  # each polish's Nelder-Mead, and the point it asks for
    for i, start in enumerate(starts):
        try:
            steps[i] = _nelder_mead_steps([_to_internal(t, lo, hi) for t in start], xatol=1e-6,
                                          fatol=1e-12)
            points[i] = next(steps[i])
        except Exception:  # refinement is a polish; the grid optimum stands on failure
            steps.pop(i, None)
    with np.errstate(all="ignore"):  # a failed fit is nan (np.linalg.lstsq raised there)
        while points:
            active = list(points)
            rows = slice(None) if len(active) == len(designs) else active  # all: views, no copies
            at = (_from_internal_array(np.array([points[i] for i in active]), lo, hi) if len(active) > 2
                  else np.array([[_from_internal(value, lo, hi) for value in points[i]] for i in active]))
            # every hinge (points, polishes, breakpoints) whitened at its polish's own rho
            hinges = np.maximum(0.0, x[:, None, None] - at[None, :, :])
            designs[rows, :, 2:] = ar1.whiten(hinges, rhos[0] if len(rhos) == 1  # its scalar path
                                              else rho_columns[rows][:, None],
                                              lags=lags).transpose(1, 0, 2)
            coefs = _LAPACK_LSTSQ(designs[rows], yw[rows], rcond, signature="ddd->ddid")[0]
            # each polish's residuals, as designs[i] @ coefs[row, :, 0] makes them (one gemv each)
            resid = yw[rows, :, 0] - np.matmul(designs[rows], coefs)[:, :, 0]
            totals = (resid * resid).sum(axis=1)  # each row's pairwise sum, as resid.sum() alone
            finite = np.isfinite(totals).tolist()
            for row, (i, total) in enumerate(zip(active, totals.tolist())):  # Python floats: the same values
                if not finite[row] and not np.all(np.isfinite(resid[row])):  # nan_policy "raise"
                    del points[i]
                    continue
                try:
                    points[i] = steps[i].send(total)
                except StopIteration as found:
                    del points[i]
                    breaks = np.array([_from_internal(value, lo, hi) for value in found.value])
                    if _valid(breaks, x, min_points):
                        results[i] = breaks
    return results


# np.linalg.lstsq's gelsd on a whole stack, same bits (ar1's, which its REML profile solves with)
_LAPACK_LSTSQ = ar1._LAPACK_LSTSQ


class _TooManyCalls(Exception):
    pass


def _nelder_mead(f, x0, *, xatol: float, fatol: float) -> list[float]:
    """The minimum scipy.optimize.minimize(f, x0, method="Nelder-Mead", options={"xatol": xatol,
    "fatol": fatol}) finds, to the last bit (``_nelder_mead_steps``, each point asked of ``f``)."""
    steps = _nelder_mead_steps(x0, xatol=xatol, fatol=fatol)
    point = next(steps)
    while True:
        try:
            point = steps.send(f(point))
        except StopIteration as found:
            return found.value


def _nelder_mead_steps(x0, *, xatol: float, fatol: float):
    """scipy's Nelder-Mead as a generator: it yields each point (a list of floats) whose value it
    needs, is sent that value, and returns the minimum. By scipy.optimize.minimize(method=
    "Nelder-Mead")'s arithmetic step for step (the same simplex, the same comparisons and ties,
    the same limits of 200 evaluations and iterations per dimension), on Python floats: its
    bookkeeping was half a polish's time, and as a generator many polishes can step together."""
    n = len(x0)
    limit = 200 * n
    sim = [list(map(float, x0))]
    for k in range(n):
        vertex = list(sim[0])
        vertex[k] = (1 + 0.05) * vertex[k] if vertex[k] != 0 else 0.00025
        sim.append(vertex)
    calls = 0

    def func(point):
        nonlocal calls
        if calls >= limit:
            raise _TooManyCalls
        calls += 1
        return (yield point)

    fsim = [np.inf] * (n + 1)

    def sort():
        if len(set(fsim)) == len(fsim) and not any(v != v for v in fsim):  # distinct, no nan: one order
            order = sorted(range(len(fsim)), key=fsim.__getitem__)
        else:
            order = np.argsort(np.array(fsim))  # numpy's order of ties, as scipy's
        return [sim[i] for i in order], [fsim[i] for i in order]

    try:
        for k in range(n + 1):
            fsim[k] = yield from func(sim[k])
    except _TooManyCalls:
        pass
    sim, fsim = sort()
    iterations = 1
    while calls < limit and iterations < limit:
        try:
            best, worst = sim[0], sim[-1]
            if (max(abs(v - b) for vertex in sim[1:] for v, b in zip(vertex, best)) <= xatol
                    and max(abs(fsim[0] - value) for value in fsim[1:]) <= fatol):
                break
            xbar = list(sim[0])
            for vertex in sim[1:-1]:  # np.add.reduce over the rows: left to right
                xbar = [a + b for a, b in zip(xbar, vertex)]
            xbar = [a / n for a in xbar]
            xr = [2 * a - 1 * w for a, w in zip(xbar, worst)]
            fxr = yield from func(xr)
            shrink = False
            if fxr < fsim[0]:
                xe = [3 * a - 2 * w for a, w in zip(xbar, worst)]
                fxe = yield from func(xe)
                sim[-1], fsim[-1] = (xe, fxe) if fxe < fxr else (xr, fxr)
            elif fxr < fsim[-2]:
                sim[-1], fsim[-1] = xr, fxr
            elif fxr < fsim[-1]:  # contraction outside
                xc = [1.5 * a - 0.5 * w for a, w in zip(xbar, worst)]
                fxc = yield from func(xc)
                if fxc <= fxr:
                    sim[-1], fsim[-1] = xc, fxc
                else:
                    shrink = True
            else:  # contraction inside
                xcc = [0.5 * a + 0.5 * w for a, w in zip(xbar, worst)]
                fxcc = yield from func(xcc)
                if fxcc < fsim[-1]:
                    sim[-1], fsim[-1] = xcc, fxcc
                else:
                    shrink = True
            if shrink:
                for j in range(1, n + 1):
                    sim[j] = [b + 0.5 * (v - b) for v, b in zip(sim[j], sim[0])]
                    fsim[j] = yield from func(sim[j])
            iterations += 1
        except _TooManyCalls:
            pass
        sim, fsim = sort()
    return sim[0]


def _to_internal(value, lo, hi) -> float:
    """A bounded parameter's unbounded internal value (lmfit's Parameter.setup_bounds)."""
    value = min(max(float(value), lo), hi)
    internal = np.arcsin(2 * (value - lo) / (hi - lo) - 1)
    return 0.0 if abs(internal) < 1e-15 else float(internal)


def _from_internal(internal, lo, hi) -> float:
    """The bounded value of an internal one (lmfit's from_internal, then its clip to the bounds)."""
    value = float(lo + (np.sin(internal) + 1) * (hi - lo) / 2.0)
    return hi if value > hi else lo if value < lo else value


def _from_internal_array(internal: np.ndarray, lo, hi) -> np.ndarray:
    """_from_internal of every element of an array: the same operations on each."""
    value = lo + (np.sin(internal) + 1) * (hi - lo) / 2.0
    return np.where(value > hi, hi, np.where(value < lo, lo, value))


def smooth_bic(x, y, n_params: int, rho: float | None = None, lags=None) -> float:
    """BIC of the best polynomial in x with at most n_params coefficients (degree <= 5), each
    under AR(1) errors with its own REML rho (or the `rho` given), as the segmented fits
    (``lags``: ar1.whiten's)."""
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    xc = (x - x.mean()) / (x.std() or 1.0)
    best = np.inf
    for degree in range(1, min(n_params - 1, 5) + 1):
        if degree + 1 >= len(x):
            break
        design = np.vander(xc, degree + 1)
        r = ar1.reml_rho(design, y, lags) if rho is None else rho
        xw, yw = ar1.whiten(design, r, lags=lags), ar1.whiten(y, r, lags=lags)
        coef, *_ = np.linalg.lstsq(xw, yw, rcond=None)
        resid = yw - xw @ coef
        best = min(best, bic_ar1(float(resid @ resid), len(x), degree + 1, r, lags))
    return best


def choose_fit(x, y, *, max_breakpoints: int = 3, min_points: int = 3,
               min_delta_bic: float = 6.0, n_grid: int = 40,
               rho: float | None = None, lags=None) -> tuple[SegmentedFit, dict[int, SegmentedFit]]:
    """(the BIC-chosen fit, the best fit per number of breakpoints) of x sorted: the choice
    `transition_search.find_transitions` makes, and `breakpoint_intervals.search_draws` remakes in every
    resample.

    A segmented model with k > 0 is kept only if its BIC beats both the fewer-breakpoint choice
    so far and the best smooth polynomial with as many parameters by at least `min_delta_bic`.
    ``lags``: ar1.gap_lags of the points (None: no gaps).
    """
    fits = {}
    for k in range(0, max_breakpoints + 1):
        fit = fit_segmented(x, y, k, min_points=min_points, n_grid=n_grid, rho=rho, lags=lags)
        if fit is not None:
            fits[k] = fit
    best = fits[0]
    for k in sorted(fits)[1:]:
        candidate = fits[k]
        rival = min(best.bic, smooth_bic(x, y, 2 + 2 * k, rho, lags))
        if candidate.bic < rival - min_delta_bic:
            best = candidate
    return best, fits


def slope_change_t(x, y, fit: SegmentedFit) -> np.ndarray:
    """Each breakpoint's |slope change| over its standard error (x sorted): generalized least
    squares at the fit's rho with the breakpoints held where the search put them, the residual
    variance counting them among the parameters. Optimistic (the breakpoints were placed to fit),
    so read against a threshold calibrated by simulation (WEAK_KINK_T), not 2."""
    x = np.asarray(x, dtype=float)
    if fit.k == 0:
        return np.array([])
    design = ar1.whiten(hinge_design(x, fit.breakpoints), fit.rho, lags=fit.lags)
    sigma2 = fit.sse / max(len(x) - (2 + 2 * fit.k), 1)
    variance = sigma2 * np.diag(np.linalg.pinv(design.T @ design))[2:]
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.abs(fit.coef[2:]) / np.sqrt(np.maximum(variance, 0.0))


# A transition whose slope change is under this many standard errors (slope_change_t) is flagged
# `weak_kink` (transitions): in bench/bench_transition_intervals.py --cells (44 checkpoints, AR(1)
# errors, one planted kink), 83% of the extra transitions that runs with one kink reported were
# under 8, against 9% of the kinks found (half of the weak kinks, slope change 0.4 at rho 0.8).
WEAK_KINK_T = 8.0

"""Change points in a trajectory: continuous piecewise-linear (segmented) fits, BIC-chosen.

y = b0 + b1 x + sum_j c_j max(0, x - t_j), with x = log10(step) for weight-statistic
trajectories. For fixed breakpoints t the model is linear in (b, c), so an exhaustive grid over
breakpoints with least squares (variable projection) finds the basin, and lmfit refines the
breakpoints. The number of segments is chosen by BIC, and a transition is reported only when
the segmented model also beats a smooth polynomial of the same size: curvature alone is not a
transition.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import lmfit
import numpy as np


@dataclass
class SegmentedFit:
    """Best piecewise-linear fit with k breakpoints (k = 0 is a straight line)."""

    breakpoints: np.ndarray            # t_j in x units, sorted
    coef: np.ndarray                   # b0, b1, c_1..c_k
    sse: float
    n: int
    bic: float

    @property
    def k(self) -> int:
        return len(self.breakpoints)

    def predict(self, x) -> np.ndarray:
        return hinge_design(np.asarray(x, dtype=float), self.breakpoints) @ self.coef

    def slopes(self) -> np.ndarray:
        """Slope of each segment, left to right."""
        return self.coef[1] + np.concatenate([[0.0], np.cumsum(self.coef[2:])])


@dataclass
class TransitionSearch:
    """Outcome of a change-point search on one trajectory."""

    best: SegmentedFit                           # the BIC-chosen segmented fit
    fits: dict[int, SegmentedFit]                # best fit per number of breakpoints
    smooth_bic: float                            # best smooth polynomial, same size as `best`
    delta_bic: float                             # smooth_bic - best.bic (> threshold: abrupt)
    intervals: list[tuple[float, float]] = field(default_factory=list)  # 95% CI per breakpoint

    @property
    def has_transition(self) -> bool:
        return self.best.k > 0


def hinge_design(x: np.ndarray, breakpoints) -> np.ndarray:
    """Design matrix [1, x, max(0, x - t_1), ...] of a continuous piecewise-linear model."""
    cols = [np.ones_like(x), x] + [np.maximum(0.0, x - t) for t in breakpoints]
    return np.column_stack(cols)


def bic_gaussian(sse: float, n: int, n_params: int) -> float:
    """BIC of a least-squares fit with Gaussian errors: n log(SSE/n) + p log n."""
    return n * np.log(max(sse, 1e-300) / n) + n_params * np.log(n)


def _lstsq(x, y, breakpoints):
    design = hinge_design(x, breakpoints)
    coef, *_ = np.linalg.lstsq(design, y, rcond=None)
    resid = y - design @ coef
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


def fit_segmented(x, y, k: int, *, min_points: int = 3, n_grid: int = 40) -> SegmentedFit | None:
    """Best continuous piecewise-linear fit with exactly k breakpoints (None if too few points).

    Grid search over breakpoint positions with least squares for the linear coefficients,
    then an lmfit refinement of the breakpoints from the best grid point.
    """
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    n = len(x)
    if k == 0:
        coef, sse = _lstsq(x, y, [])
        return SegmentedFit(np.array([]), coef, sse, n, bic_gaussian(sse, n, 2))
    grid = _candidate_breakpoints(x, min_points, n_grid if k == 1 else max(12, n_grid // (2 * k)))
    if len(grid) < k:
        return None
    best_sse, best_breaks = np.inf, None
    for breaks in itertools.combinations(grid, k):
        if not _valid(np.array(breaks), x, min_points):
            continue
        _, sse = _lstsq(x, y, breaks)
        if sse < best_sse:
            best_sse, best_breaks = sse, np.array(breaks)
    if best_breaks is None:
        return None
    breaks = _refine_breakpoints(x, y, best_breaks, min_points)
    coef, sse = _lstsq(x, y, breaks)
    if sse > best_sse:  # refinement must never lose to the grid
        breaks, (coef, sse) = best_breaks, _lstsq(x, y, best_breaks)
    return SegmentedFit(np.sort(breaks), coef, sse, n, bic_gaussian(sse, n, 2 + 2 * k))


def _refine_breakpoints(x, y, start, min_points) -> np.ndarray:
    """Polish breakpoint positions with lmfit (linear coefficients profiled out)."""
    params = lmfit.Parameters()
    lo, hi = float(np.min(x)), float(np.max(x))
    for j, t in enumerate(start):
        params.add(f"t{j}", value=float(t), min=lo, max=hi)

    def residual(p):
        breaks = np.array([p[f"t{j}"].value for j in range(len(start))])
        design = hinge_design(x, breaks)
        coef, *_ = np.linalg.lstsq(design, y, rcond=None)
        return y - design @ coef

    try:
        out = lmfit.minimize(residual, params, method="nelder", options={"xatol": 1e-6, "fatol": 1e-12})
    except Exception:  # refinement is a polish; the grid optimum stands on failure
        return np.asarray(start, dtype=float)
    breaks = np.array([out.params[f"t{j}"].value for j in range(len(start))])
    return breaks if _valid(breaks, x, min_points) else np.asarray(start, dtype=float)


def smooth_bic(x, y, n_params: int) -> float:
    """BIC of the best polynomial in x with at most n_params coefficients (degree <= 5)."""
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    xc = (x - x.mean()) / (x.std() or 1.0)
    best = np.inf
    for degree in range(1, min(n_params - 1, 5) + 1):
        if degree + 1 >= len(x):
            break
        coef = np.polyfit(xc, y, degree)
        resid = y - np.polyval(coef, xc)
        best = min(best, bic_gaussian(float(resid @ resid), len(x), degree + 1))
    return best


def find_transitions(x, y, *, max_breakpoints: int = 3, min_points: int = 3,
                     min_delta_bic: float = 6.0, n_bootstrap: int = 200, seed: int = 0,
                     n_grid: int = 40) -> TransitionSearch:
    """Choose the number of breakpoints by BIC and bootstrap each breakpoint's 95% interval.

    A segmented model with k > 0 is kept only if its BIC beats both the straight line and
    the best smooth polynomial with as many parameters by at least `min_delta_bic`.
    """
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    order = np.argsort(x)
    x, y = x[order], y[order]
    fits = {}
    for k in range(0, max_breakpoints + 1):
        fit = fit_segmented(x, y, k, min_points=min_points, n_grid=n_grid)
        if fit is not None:
            fits[k] = fit
    best = fits[0]
    for k in sorted(fits)[1:]:
        candidate = fits[k]
        rival = min(best.bic, smooth_bic(x, y, 2 + 2 * k))
        if candidate.bic < rival - min_delta_bic:
            best = candidate
    smooth = smooth_bic(x, y, 2 + 2 * max(best.k, 1))
    search = TransitionSearch(best=best, fits=fits, smooth_bic=smooth,
                              delta_bic=smooth - best.bic)
    if best.k > 0 and n_bootstrap > 0:
        search.intervals = bootstrap_breakpoints(x, y, best, n_bootstrap=n_bootstrap,
                                                 seed=seed, min_points=min_points, n_grid=n_grid)
    return search


def bootstrap_breakpoints(x, y, fit: SegmentedFit, *, n_bootstrap: int = 200, seed: int = 0,
                          min_points: int = 3, n_grid: int = 40) -> list[tuple[float, float]]:
    """Residual-bootstrap 95% percentile intervals of each breakpoint (x units)."""
    rng = np.random.default_rng(seed)
    fitted = fit.predict(x)
    resid = y - fitted
    resid = resid - resid.mean()
    draws = []
    for _ in range(n_bootstrap):
        y_star = fitted + rng.choice(resid, size=len(resid), replace=True)
        refit = fit_segmented(x, y_star, fit.k, min_points=min_points, n_grid=n_grid)
        if refit is not None:
            draws.append(refit.breakpoints)
    if not draws:
        return [(float("nan"), float("nan"))] * fit.k
    draws = np.array(draws)
    return [tuple(np.percentile(draws[:, j], [2.5, 97.5]).tolist()) for j in range(fit.k)]

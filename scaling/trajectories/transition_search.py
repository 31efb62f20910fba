"""Change points of one trajectory: the number of breakpoints chosen by BIC against a line and
smooth polynomials (segmented.choose_fit), each breakpoint with its bootstrap interval."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from scalefit.scaling.trajectories.breakpoint_intervals import (INTERVAL_METHOD, bootstrap_breakpoints,
                                                                checked_interval_method)
from scalefit.scaling.trajectories import ar1
from scalefit.scaling.trajectories.segmented import (SegmentedFit, choose_fit, fit_segmented, hinge_design,
                                                     smooth_bic)

EXACT_LINE = 1e-20  # residual SS / total SS at or below which a straight line is exact (rounding)
# rho from -MAX_RHO to 0 (RHO_GRID's spacing): where REML's estimate lies when the fits report 0
NEGATIVE_RHO_GRID = -ar1.RHO_GRID[::-1]
# The scatter check (scatter_share): the share of a fit's whitened residual sum of squares held by
# its SCATTER_TOP largest residuals, against the share that Gaussian errors of constant variance
# exceed in 1 - SCATTER_LEVEL of runs (SCATTER_DRAWS simulated runs, seed SCATTER_SEED: the same
# threshold for the same fit on every call)
SCATTER_TOP = 2
SCATTER_LEVEL = 0.99
SCATTER_DRAWS = 10000
SCATTER_SEED = 0


@dataclass
class TransitionSearch:
    """Outcome of a change-point search on one trajectory."""

    best: SegmentedFit                           # the BIC-chosen segmented fit
    fits: dict[int, SegmentedFit]                # best fit per number of breakpoints
    smooth_bic: float                            # best smooth polynomial, same size as `best`
    delta_bic: float                             # smooth_bic - best.bic (> threshold: abrupt)
    intervals: list[tuple[float, float]] = field(default_factory=list)  # 95% CI per breakpoint
    rho: float = 0.0                             # AR(1) coefficient of the errors (REML)
    # REML's estimate over [-MAX_RHO, 0] where rho sits at its lower bound 0 because the errors
    # of neighbouring checkpoints alternate in sign (rho_below_bound); nan otherwise
    rho_below_bound: float = float("nan")
    # per breakpoint: True where the resamples' percentile range missed the estimate and its
    # interval was stretched to hold it (not a calibrated 95% interval; see percentile_intervals)
    widened: list[bool] = field(default_factory=list)

    @property
    def has_transition(self) -> bool:
        return self.best.k > 0


def find_transitions(x, y, *, max_breakpoints: int = 3, min_points: int = 3,
                     min_delta_bic: float = 6.0, n_bootstrap: int = 200, seed: int = 0,
                     n_grid: int = 40, rho: float | None = None,
                     interval_method: str = INTERVAL_METHOD, lags=None) -> TransitionSearch:
    """Choose the number of breakpoints by BIC and bootstrap each breakpoint's 95% interval.

    A segmented model with k > 0 is kept only if its BIC beats both the straight line and
    the best smooth polynomial with as many parameters by at least `min_delta_bic`. Every
    candidate is fitted under AR(1) errors with its own REML rho, or with the `rho` given (0:
    ordinary least squares, independent errors). `interval_method` is the bootstrap's
    (`breakpoint_intervals.bootstrap_draws`; the default is INTERVAL_METHOD, "local-strong"): "local-strong" draws each
    breakpoint from a world that keeps it and the other breakpoints not flagged weak, the weak
    ones left as noise (so a run whose breakpoints are all weak can get an interval of most of
    the run), "fixed" refits each resample of the chosen fit with its number of breakpoints (the
    default until local-strong was measured on every cell), "search" remakes the whole choice in
    each resample, "local" draws each breakpoint from its own one-breakpoint world
    (``breakpoint_intervals.local_draws``), "local-cd" is "local" with rho from REML's confidence distribution
    (coverage of each: bench/README.md). ``lags``: ar1.gap_lags of the points in x's order,
    where some of the run's checkpoints were left out (None: none were).
    """
    interval_method = checked_interval_method(interval_method)
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    order = np.argsort(x)
    if lags is not None and np.any(np.diff(order) != 1):
        raise ValueError("find_transitions: lags need x in increasing order")
    x, y = x[order], y[order]
    line = fit_segmented(x, y, 0, rho=0.0)
    if leaves_no_scatter(y, line.sse):
        # a straight line (or a constant) explains every point: no noise to correlate, no transition
        return TransitionSearch(best=line, fits={0: line}, smooth_bic=line.bic, delta_bic=0.0)
    best, fits = choose_fit(x, y, max_breakpoints=max_breakpoints, min_points=min_points,
                            min_delta_bic=min_delta_bic, n_grid=n_grid, rho=rho, lags=lags)
    smooth = smooth_bic(x, y, 2 + 2 * max(best.k, 1), rho, lags)
    search = TransitionSearch(best=best, fits=fits, smooth_bic=smooth,
                              delta_bic=smooth - best.bic, rho=best.rho,
                              rho_below_bound=rho_below_bound(x, y, best) if rho is None else float("nan"))
    if best.k > 0 and n_bootstrap > 0:
        search.intervals, search.widened = bootstrap_breakpoints(
            x, y, best, n_bootstrap=n_bootstrap, seed=seed, min_points=min_points,
            n_grid=n_grid, rho=rho, method=interval_method, max_breakpoints=max_breakpoints,
            min_delta_bic=min_delta_bic)
    return search


def rho_below_bound(x, y, fit: SegmentedFit) -> float:
    """REML's estimate of the errors' AR(1) coefficient at ``fit``'s breakpoints, searched over
    [-MAX_RHO, 0], where it lies below 0: the fits take negative autocorrelation as none
    (ar1.reml_rho), so a reported rho of 0 may stand for this; nan where REML's maximum is 0
    itself, where ``fit`` did not estimate its rho, or where the run is too short to say."""
    if fit.rho != 0.0:
        return float("nan")
    values = ar1.reml_profile(hinge_design(np.asarray(x, dtype=float), fit.breakpoints),
                              np.asarray(y, dtype=float), fit.lags, grid=NEGATIVE_RHO_GRID)
    if values is None:  # too short to say
        return float("nan")
    best = float(NEGATIVE_RHO_GRID[int(np.argmax(values))])
    return best if best < 0.0 else float("nan")


@dataclass
class ScatterShare:
    """How much of a fit's residual scatter its few largest residuals hold (``scatter_share``)."""

    share: float          # of the whitened residual sum of squares, held by the `top` largest
    threshold: float      # the share Gaussian errors exceed in 1 - level of runs (same n, design)
    largest: np.ndarray   # positions (in x's order) of the `top` largest residuals, largest first
    top: int = SCATTER_TOP
    level: float = SCATTER_LEVEL

    @property
    def concentrated(self) -> bool:
        """The share exceeds what Gaussian errors of constant variance give (a 1 - level false alarm)."""
        return bool(self.share > self.threshold)


def leaves_no_scatter(y, sse: float) -> bool:
    """A fit whose residual sum of squares ``sse`` is at most EXACT_LINE of ``y``'s total (or a
    constant ``y``): exact up to rounding, no scatter to correlate, test or share out."""
    y = np.asarray(y, dtype=float)
    return bool(np.ptp(y) == 0 or sse <= EXACT_LINE * float(np.sum((y - y.mean()) ** 2)))


def _whitened(x, y, fit: SegmentedFit) -> tuple[np.ndarray, np.ndarray]:
    """(the whitened design at the fit's breakpoints, the whitened residuals): Prais-Winsten at
    the fit's rho and lags."""
    design = ar1.whiten(hinge_design(np.asarray(x, dtype=float), fit.breakpoints), fit.rho, lags=fit.lags)
    return design, ar1.whiten(np.asarray(y, dtype=float), fit.rho, lags=fit.lags) - design @ fit.coef


def whitened_residuals(x, y, fit: SegmentedFit) -> np.ndarray:
    """The residuals whose sum of squares is ``fit.sse`` (Prais-Winsten at the fit's rho and lags):
    under the fit's model of Gaussian AR(1) errors, independent with one variance."""
    return _whitened(x, y, fit)[1]


def scatter_share(x, y, fit: SegmentedFit, *, top: int = SCATTER_TOP, level: float = SCATTER_LEVEL,
                  draws: int = SCATTER_DRAWS, seed: int = SCATTER_SEED) -> ScatterShare:
    """The share of ``fit``'s whitened residual sum of squares held by its ``top`` largest
    residuals, and the threshold that share passes in 1 - ``level`` of runs with Gaussian errors.

    Why: the fits (and the bootstrap's intervals) take the errors as Gaussian AR(1) of constant
    variance; a run whose scatter sits in a few checkpoints (a statistic whose variance grows along
    the run, or outliers) breaks that, and its breakpoints and intervals rest on it. Method: under
    the fit's model the whitened errors e are independent N(0, s^2) and the whitened residuals are
    M e, M the projection off the whitened design at the fit's breakpoints and rho. The threshold
    is the ``level`` quantile of the top-``top`` share of M z over ``draws`` standard normal z
    (seeded: the same bits every call); s cancels in the share. Breakpoints and rho estimated from
    the run are taken as known; tests/test_s44_scatter_share.py checks the false-alarm rate of the
    whole search on simulated Gaussian AR(1) runs. nan share and threshold where the fit leaves no
    scatter (``leaves_no_scatter``: an exact fit's residuals are rounding, whose share says nothing)
    or fewer than top + 1 degrees of freedom.
    """
    design, residuals = _whitened(x, y, fit)
    n, p = design.shape
    squares = residuals ** 2
    total = float(squares.sum())
    largest = np.argsort(-squares, kind="stable")[:top]
    if n - p <= top or not total > 0.0 or leaves_no_scatter(y, total):
        return ScatterShare(float("nan"), float("nan"), largest, top, level)
    share = float(squares[largest].sum() / total)
    basis = np.linalg.qr(design)[0]
    z = np.random.default_rng(seed).standard_normal((draws, n))
    null = z - (z @ basis) @ basis.T
    null *= null
    null_share = -np.sum(np.partition(-null, top - 1, axis=1)[:, :top], axis=1) / null.sum(axis=1)
    return ScatterShare(share, float(np.quantile(null_share, level)), largest, top, level)

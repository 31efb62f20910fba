"""The runs' scatter about a fitted law, as a prediction interval draws it: a scale that changes
with model size, log-linearly in log N, with the slope's own uncertainty.

A prediction interval for an observed loss adds to each bootstrap draw's prediction a draw of
the fit's log residuals (scaled by sqrt(n / (n - p)) for the p parameters fitted). One scale at
every size makes an interval at a larger model than the fitted ones too narrow when the runs'
noise grows with size, and too wide when it falls (bench/bench_law_intervals.py --noise: 86-88%
instead of 95% at 1-100x the largest fitted compute for 30 runs whose noise sd grows as N^0.15,
99.5-99.7% when it falls as N^-0.15; sized, 94.8-95.7% and 97.5-99.3%, with the rule below for
sizes beyond the runs'). The sized model:

    r_i = s(x_i) u_i,    log s(x) = a + g (x - x0),    x = log N,  x0 = mean of the runs' x

g by maximum likelihood under normal u: with a profiled out, g minimises
sum_i r_i^2 exp(-2 g (x_i - x0)), a convex function of g (bisection on its derivative). Its standard error
is the Fisher information's, 1 / sqrt(2 sum (x_i - x0)^2), inflated by sqrt(n / (n - p)) as the
scale is. A draw of the scatter at a target size x_t is u exp(g_b (x_t - x0)): u one of the
residuals brought to the scale at x0 (r_i exp(-g (x_i - x0)), scaled as above), g_b one draw of
N(g, se^2) per bootstrap draw, so the slope's uncertainty widens the interval with the distance
from the fitted sizes. With g = 0 and se = 0 the draws are the one-scale draws exactly.

Beyond the fitted runs' sizes the scale is never taken below its value at the nearest fitted
size: s(x_t) = s(x_c) max(1, exp(g_b (x_t - x_c))), x_c = x_t clamped to the runs' log N range.
A rising trend is carried out (growing noise needs it: on the 30 known-truth runs of
tests/test_law_prediction_coverage.py clamping as well covers 85-89% at 1-100x where this rule
covers 90.5-92.5%); a falling one is not, since no run measures how small the scatter becomes
(Chinchilla on the shipped grid, slope -0.80, taken 12x past its largest run predicted about a
seventh of the scatter seen there, an interval no wider than the curve's). Falling noise, known
truth: 94.2-96.4% (extrapolated both ways: 93.2-96.0%); constant: unchanged.

The slope is always fitted where the runs span MIN_SIZES sizes (a test of g = 0 lets it in too
rarely to help: with 20-30 runs its standard error is 0.1-0.2). Runs that a Huber fit with small
delta passes through (at most p residuals within delta of 0) are left out of the slope: their
residuals are ~0 by construction, not draws of the scatter.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

CONSTANT = "one scale at every size"
SIZED = "log scale linear in log N"
MIN_SIZES = 3  # distinct model sizes the sized model needs
BEYOND = "no smaller than at the nearest fitted size"  # the scale past the runs' N (docstring)
SLOPE_LIMIT = 2.0  # |g| beyond this (sd ~ N^2) is no scatter: residuals ~0 (roundoff) at all
# sizes but one, whose likelihood has no maximum


def mle_slopes(r2, z) -> np.ndarray:
    """Maximum-likelihood slopes g of log scale in log N ``z`` for each row of the squared
    residuals ``r2`` (rows x runs; ``z`` the same shape or one row): the minimum of the convex
    log sum_i r2_i exp(-2 g (z_i - mean z)), by bisection on its derivative (increasing in g)
    within +-SLOPE_LIMIT (Newton's method from 0 overshoots where the slope is steep)."""
    r2 = np.atleast_2d(np.asarray(r2, float))
    z = np.broadcast_to(np.asarray(z, float), r2.shape)
    z = z - z.mean(axis=1, keepdims=True)
    scale = np.max(r2, axis=1, keepdims=True)
    r2 = r2 / np.where(scale > 0, scale, 1.0)

    def derivative(g):
        with np.errstate(all="ignore"):
            w = r2 * np.exp(-2 * g[:, None] * z)
            return -2 * np.sum(z * w, axis=1) / np.sum(w, axis=1)

    lo = np.full(r2.shape[0], -SLOPE_LIMIT)
    hi = np.full(r2.shape[0], SLOPE_LIMIT)
    for _ in range(50):  # 4 / 2^50: below 1e-14
        mid = 0.5 * (lo + hi)
        d = derivative(mid)
        up = d < 0  # still falling: the minimum lies above mid
        lo = np.where(up, mid, lo)
        hi = np.where(up, hi, mid)
    g = 0.5 * (lo + hi)
    return np.where(np.isfinite(derivative(g)), g, 0.0)


def bootstrap_slopes(resid, x, rows: int, rng) -> np.ndarray:
    """``rows`` slopes, each fitted to one pairs resample of (``x``, ``resid``)."""
    resid = np.asarray(resid, float)
    idx = rng.integers(0, resid.size, size=(rows, resid.size))
    return mle_slopes(resid[idx] ** 2, np.asarray(x, float)[idx])


@dataclass
class Scatter:
    """How a prediction interval draws the runs' scatter (see the module docstring)."""

    residuals: np.ndarray  # scaled log residuals, brought to the scale at x0 when sized
    model: str = CONSTANT
    x0: float = 0.0  # mean log N of the fitted runs
    slope: float = 0.0  # the fitted g (0 with one scale)
    slope_se: float = 0.0  # its standard error (Fisher information, n / (n - p) inflated)
    slope_draws: str = "fisher"  # how each draw's g is drawn: 'fisher' or 'bootstrap'
    reason: str = ""  # why one scale, when one
    x: np.ndarray = field(default_factory=lambda: np.array([]))  # log N of the slope's runs
    x_range: tuple = (-np.inf, np.inf)  # log N of the smallest and largest fitted run
    raw: np.ndarray = field(default_factory=lambda: np.array([]))  # their log residuals

    def slopes(self, rows: int, rng) -> np.ndarray:
        """``rows`` draws of g: from N(g, slope_se^2), or ('bootstrap', the benchmark's
        alternative) refitted to pairs resamples of the runs' (log N, residual)."""
        if self.slope_draws == "bootstrap":
            return bootstrap_slopes(self.raw, self.x, rows, rng)
        return self.slope + self.slope_se * rng.standard_normal(rows)

    def draw(self, rng, shape, x_target=None, slope_rng=None, per_point: bool = False) -> np.ndarray:
        """Scatter draws of ``shape`` (draws x points); ``x_target``: the log N of each point
        (broadcast to ``shape``), read by the sized model only, whose slope draws (one per
        row) come from ``slope_rng``, apart from ``rng``, so the one-scale draws stay as
        they were.

        One residual per row (bootstrap draw), shared by every point of the row: a point's
        draws are then the same whatever other points are asked for beside it (drawn per point,
        three identical runs got three different intervals, and a budget's interval moved when
        another budget was added). A single point gets the bits it got before:
        rng.choice(size=(n, 1)) draws what size=(n,) draws. Each point's interval is a marginal
        one; the points' scatter draws are not independent of each other. ``per_point``: a residual
        per point instead (independent points, each depending on how many there are): what
        calibrate's coverage over a cut's held-out runs wants, since shared draws made one cut's
        coverage vary 3x more from seed to seed (sd 0.076 against 0.023 over 200 seeds)."""
        if not self.residuals.size:
            return np.full(shape, np.nan)
        shape = tuple(shape)
        rows = shape[0]
        e = rng.choice(self.residuals, size=shape if per_point else (rows,) + (1,) * (len(shape) - 1))
        e = np.broadcast_to(e, shape)
        if self.model == CONSTANT:
            return e.copy()
        g = self.slopes(rows, slope_rng if slope_rng is not None else np.random.default_rng(0))
        g = g.reshape((rows,) + (1,) * (len(shape) - 1))
        with np.errstate(all="ignore"):
            x_t = np.broadcast_to(x_target, shape)
            x_c = np.clip(x_t, *self.x_range)  # beyond the runs: never below the nearest's scale
            return e * np.exp(g * (x_c - self.x0) + np.maximum(0.0, g * (x_t - x_c)))

    def describe(self) -> dict:
        """What the JSON says about the scatter an interval drew."""
        out = {"model": self.model}
        if self.model == SIZED:
            out.update({"slope_log_sd_per_log_N": float(self.slope),
                        "slope_se": float(self.slope_se), "mean_log_N": float(self.x0),
                        "fitted_N_range": [float(np.exp(x)) for x in self.x_range],
                        "beyond_fitted_N": BEYOND})
        if self.reason:
            out["reason"] = self.reason
        return out


def fit_scatter(resid, x, n_free: int, *, delta: float | None = None, sized: bool = True,
                slope_draws: str = "fisher") -> Scatter:
    """The scatter of log residuals ``resid`` of runs at log N ``x`` (None: the law reads no
    N) for a law of ``n_free`` parameters fitted with Huber ``delta``: sized (see the module
    docstring) where the runs outside the Huber kink span at least MIN_SIZES sizes, else one
    scale. sized=False: one scale always."""
    resid = np.asarray(resid, float)
    finite = np.isfinite(resid)
    if x is not None:
        x = np.broadcast_to(np.asarray(x, float), resid.shape)
        finite &= np.isfinite(x)
        x = x[finite]
    resid = resid[finite]
    if resid.size <= n_free:
        return Scatter(np.array([]), reason="too few runs for a residual scatter")
    inflate = np.sqrt(resid.size / (resid.size - n_free))
    if not sized:
        return Scatter(resid * inflate)
    if x is None:
        return Scatter(resid * inflate, reason="the law reads no N")
    outside = interpolated_out(resid, n_free, delta)
    if np.unique(x[outside]).size < MIN_SIZES:
        return Scatter(resid * inflate, reason=f"the runs' residuals span fewer than {MIN_SIZES} "
                       "sizes" + (" outside the Huber kink" if not outside.all() else ""))
    g = float(mle_slopes(resid[outside] ** 2, x[outside])[0])
    if abs(g) >= SLOPE_LIMIT * (1 - 1e-9):
        return Scatter(resid * inflate, reason="the runs' scatter has no finite trend in log N "
                       f"(the slope's likelihood rises to its limit {g:+.0f}: too few runs off "
                       "the fitted curve)")
    xs = x[outside]
    se = inflate / np.sqrt(2 * np.sum((xs - xs.mean()) ** 2))
    x0 = float(np.mean(x))
    centred = resid * np.exp(-g * (x - x0)) * inflate
    return Scatter(centred, model=SIZED, x0=x0, slope=g, slope_se=float(se),
                   slope_draws=slope_draws, x=xs, raw=resid[outside],
                   x_range=(float(np.min(x)), float(np.max(x))))


def interpolated_out(resid, n_free: int, delta: float | None) -> np.ndarray:
    """Which residuals measure the scatter: all but those within ``delta`` of 0 when there are
    at most ``n_free`` of them. A Huber fit with delta far under the runs' scatter is nearly a
    least-absolute-deviations fit, which passes through about as many runs as it has
    parameters: their residuals are ~0 by construction, not draws of the scatter, so they
    neither set the slope nor count in its standard error."""
    resid = np.asarray(resid, float)
    if delta is None:
        return np.ones(resid.shape, bool)
    inside = np.abs(resid) <= delta
    return ~inside if inside.sum() <= n_free else np.ones(resid.shape, bool)


def law_scatter(result, *, sized: bool = True) -> Scatter:
    """The scatter of a fitted law's runs (``result.model_result``: its log residuals and the
    N it read); one scale where the law reads no N."""
    from scalefit.scaling.laws.registry import law_for
    best = result.model_result
    resid = np.asarray(getattr(best, "residual", []), float)
    n = (getattr(best, "userkws", None) or {}).get("N")
    x = None
    if n is not None and np.shape(n) == resid.shape:
        with np.errstate(all="ignore"):
            x = np.log(np.asarray(n, float))
    return fit_scatter(resid, x, law_for(result.law).n_free, delta=result.extra.get("delta"),
                       sized=sized)

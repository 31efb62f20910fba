"""Bootstrap intervals of a segmented fit's breakpoints: sieve resamples (rho drawn from its
likelihood or from REML's confidence distribution) refitted by the fixed, search or local methods,
read as percentile intervals at each method's measured level."""
from __future__ import annotations

import numpy as np

from scalefit.errors import InputError
from scalefit.scaling.trajectories import ar1
from scalefit.scaling.trajectories.segmented import (RHO_ROUNDS, SegmentedFit, WEAK_KINK_T, bic_ar1,
                                                     choose_fit, fit_segmented, fits_at_rho, hinge_design,
                                                     lstsq, refine_breakpoints, slope_change_t)

INTERVAL_METHODS = ("fixed", "search", "local", "local-cd", "local-strong")  # bootstrap_draws' ways to resample
# The breakpoint intervals' method that find_transitions and `scalefit transitions` use unless told:
# on synthetic runs it covered as fixed or better on every measured cell (bench/README.md, "A local
# world per breakpoint"), and where every breakpoint of a run is weak its intervals span most of it.
INTERVAL_METHOD = "local-strong"
# Measured coverage of the 95% intervals by method, (clear kink, weak kink) (bench/README.md;
# bench/bench_transition_intervals.py --cells ... --methods draws|local): a clear kink at
# autocorrelation 0.5-0.95 (at step 300 at 0.5, 0.8 and 0.95, at step 20 at 0.5), a weak one (slope
# change 0.4 at 0.8). local-strong, at its calibrated level: fresh seeds (90000+, not used to choose
# the level), 81-99 kinks a cell, the weak kink 41; fixed, at the plain level: the range over cells
# and seed sets.
INTERVAL_COVERAGE = {"local-strong": ("95-100%", "93%"), "fixed": ("77-90%", "68-77%")}
# The central range of the draws (percent) that a breakpoint's 95% interval is, by method. The plain
# 2.5-97.5% range of local-strong's draws covered 84-92% of clear kinks and 76-90% of weak ones:
# REML puts a high autocorrelation low in some runs, and their resamples wander too little. The
# central 99.5% is the lowest of 98-99.5% that held 94% or more of the clear kinks in every cell on
# the calibration seeds (20000+); on fresh seeds it held 95-100% and 93% (INTERVAL_COVERAGE) at
# about twice the plain range's width (bench/README.md, "A calibrated level"); with independent
# errors, where the plain range held 95-97%, it over-covers (99-100% at 1.5x). The other methods
# keep the plain range their coverage was measured with.
INTERVAL_LEVEL = {"local-strong": 99.5}
CALIBRATION_RESAMPLES = 200  # the resamples per run the level was chosen and checked with
FEW_RESAMPLES_COVERAGE = "86-96%"  # the same fresh runs' clear kinks, their first 50 draws only
PLAIN_LEVEL = 95.0


def interval_level(method: str) -> float:
    """The central percent of the draws that `method`'s 95% breakpoint interval spans."""
    return INTERVAL_LEVEL.get(method, PLAIN_LEVEL)


def checked_interval_method(method: str) -> str:
    """`method` as INTERVAL_METHODS names it (in any case), else one InputError."""
    name = method.strip().lower() if isinstance(method, str) else method
    if name not in INTERVAL_METHODS:
        raise InputError(f"interval_method: '{method}' is not an interval method; expected one of "
                         f"{', '.join(INTERVAL_METHODS)}")
    return name


def bootstrap_breakpoints(x, y, fit: SegmentedFit, *, n_bootstrap: int = 200, seed: int = 0,
                          min_points: int = 3, n_grid: int = 40, rho: float | None = None,
                          method: str = INTERVAL_METHOD, max_breakpoints: int = 3,
                          min_delta_bic: float = 6.0) -> tuple[list[tuple[float, float]], list[bool]]:
    """(interval, widened) of each breakpoint (x units, x sorted): the sieve bootstrap's 95%
    percentile interval (the draws' central ``interval_level(method)`` percent), widened to hold
    the breakpoint where the percentiles miss it, and whether it was (``percentile_intervals``).
    The resampling is ``bootstrap_draws``'s, by `method` (default INTERVAL_METHOD)."""
    method = checked_interval_method(method)
    draws = bootstrap_draws(x, y, fit, n_bootstrap=n_bootstrap, seed=seed, min_points=min_points,
                            n_grid=n_grid, rho=rho, method=method,
                            max_breakpoints=max_breakpoints, min_delta_bic=min_delta_bic)
    return percentile_intervals(draws, fit.breakpoints, level=interval_level(method))


def local_fit(x, y, fit: SegmentedFit, j: int, *, min_points: int = 3,
              rho: float | None = None, keep=()) -> SegmentedFit:
    """The one-breakpoint fit that keeps breakpoint j of `fit` alone (x sorted): its position
    refined from t_j with the other breakpoints dropped, at its own REML rho (alternating as
    ``fit_segmented`` does) or at the `rho` given. The wander the other breakpoints absorbed stays
    in its residuals, so its rho and its noise are those of a world without them. Equal to `fit`
    when fit.k == 1. `keep`: other breakpoints the world keeps beside j (local-strong). The fit's
    lags (points left out between others) hold in the world too."""
    if fit.k == 1 or len(keep) + 1 == fit.k:
        return fit
    n, t, lags = len(x), np.sort(fit.breakpoints[sorted({j, *keep})]), fit.lags
    if rho is not None:
        t = refine_breakpoints(x, y, t, min_points, rho, lags)
    else:
        rho = 0.0
        for _ in range(RHO_ROUNDS + 1):
            t = refine_breakpoints(x, y, t, min_points, rho, lags)
            new_rho = ar1.reml_rho(hinge_design(x, t), y, lags)
            if new_rho == rho:
                break
            rho = new_rho
    coef, sse = lstsq(x, y, t, rho, lags)
    return SegmentedFit(t, coef, sse, n, bic_ar1(sse, n, 2 + 2 * len(t), rho, lags), rho, lags)


LOCAL_KEEP_T = WEAK_KINK_T  # local-strong keeps the breakpoints not flagged weak
CD_SIMS = 50  # error series per true rho in the confidence distribution of REML's rho


def rho_confidence_draws(x, y, fit: SegmentedFit, size: int, rng: np.random.Generator,
                         n_sim: int = CD_SIMS) -> np.ndarray:
    """Draws of rho from the confidence distribution of its REML estimate on the fit's design
    (x sorted, the breakpoints held).

    AR(1) errors are simulated at each rho of ar1.BIAS_TRUTHS (n_sim series each, unit scale,
    common random numbers from `rng`) and rho re-estimated by REML on the design; with H(r) the
    share of estimates at true r above the observed one (mid-p for ties on the grid), made
    monotone, a draw is H^-1(u) for u uniform (mass below H(0) at rho 0, above H(MAX_RHO) at
    MAX_RHO). Where REML underestimates a high rho, H puts the draws at the truths that give
    estimates like the observed one, with the spread the estimate has there (not only its mean
    bias, as ar1.bias_corrector's map). The breakpoints' placement, which adds to the bias in the
    search, is not simulated.
    """
    design = hinge_design(x, fit.breakpoints)
    observed = ar1.reml_rho(design, y, fit.lags)
    shocks = rng.normal(size=(len(x), n_sim))
    errors = ar1.series_at_truths(shocks, fit.lags)
    estimates = np.asarray(ar1.reml_rho(design, errors, fit.lags)).reshape(len(ar1.BIAS_TRUTHS), n_sim)
    above = np.mean(estimates > observed + 1e-12, axis=1) + 0.5 * np.mean(
        np.abs(estimates - observed) <= 1e-12, axis=1)
    knots, index = np.unique(np.maximum.accumulate(above), return_index=True)
    u = rng.uniform(size=size)
    if len(knots) < 2:
        return np.full(size, float(observed))
    return np.interp(u, knots, ar1.BIAS_TRUTHS[index])


def sieve_resamples(x, y, fit: SegmentedFit, *, n_bootstrap: int = 200, seed: int = 0,
                    rho: float | None = None, rho_draw: str = "likelihood"):
    """Yield (rho, y*) for each sieve-bootstrap resample of a fit (x sorted).

    Each resample draws rho from its REML likelihood at the fitted breakpoints (on 40-80
    checkpoints one estimate of rho is too uncertain to condition on: intervals at the point
    estimate covered 72% where the truth was 0.8), then adds to the GLS curve at that rho an
    AR(1) error series driven by its whitened residuals drawn with replacement. A `rho` given
    is taken as known (0: the residual bootstrap of independent errors). `rho_draw`
    "confidence": rho drawn instead from the confidence distribution of REML's estimate on the
    fit's design (``rho_confidence_draws``).
    """
    rng = np.random.default_rng(seed)
    design = hinge_design(x, fit.breakpoints)
    if rho is None and rho_draw == "confidence":
        rhos = rho_confidence_draws(x, y, fit, n_bootstrap, rng)
    elif rho is None:
        grid, weights = ar1.rho_posterior(design, y, fit.lags)
        rhos = rng.choice(grid, size=n_bootstrap, p=weights)
    else:
        rhos = np.full(n_bootstrap, float(rho))
    worlds = {}  # rho -> (fitted curve, centred innovations) of the fit at that rho
    for rho in rhos:
        if rho not in worlds:
            coef, _ = lstsq(x, y, fit.breakpoints, rho, fit.lags)
            innovations = ar1.whiten(y - design @ coef, rho, lags=fit.lags)
            worlds[rho] = (design @ coef, innovations - innovations.mean())
        fitted, innovations = worlds[rho]
        yield rho, fitted + ar1.simulate_errors(innovations, rho, rng, fit.lags)


def bootstrap_draws(x, y, fit: SegmentedFit, *, n_bootstrap: int = 200, seed: int = 0,
                    min_points: int = 3, n_grid: int = 40, rho: float | None = None,
                    method: str = "fixed", max_breakpoints: int = 3,
                    min_delta_bic: float = 6.0) -> np.ndarray:
    """Sieve-bootstrap draws of the breakpoints (one row per resample whose refit succeeded,
    one column per breakpoint, x units; x sorted). The resamples are ``sieve_resamples``'s, each
    refitted at its own rho taken as known.

    method "fixed": each resample refitted with the number of breakpoints held at the fit's.
    method "search": each resample's number of breakpoints chosen again by BIC against the
    smooth rivals (``choose_fit``), each breakpoint's draw that of the resample's nearest
    (``search_draws``).
    method "local": each breakpoint drawn from its own local world (``local_draws``: resamples of
    the one-breakpoint fit keeping it alone, at its own REML rho), so the wander that extra
    breakpoints absorbed is noise in its resamples, not planted kinks; "local-strong": that world
    keeps the other breakpoints whose slope change is at least LOCAL_KEEP_T standard errors;
    "local-cd": "local" with rho drawn from the confidence distribution of REML's estimate
    (``rho_confidence_draws``). "fixed" is this engine's default, the resampling the others are
    measured against; the intervals find_transitions ships use INTERVAL_METHOD (bench/README.md).
    """
    if method == "search":
        return search_draws(x, y, fit, n_bootstrap=n_bootstrap, seed=seed, min_points=min_points,
                            n_grid=n_grid, rho=rho, max_breakpoints=max_breakpoints,
                            min_delta_bic=min_delta_bic)[0]
    if method in ("local", "local-cd", "local-strong"):
        return local_draws(x, y, fit, n_bootstrap=n_bootstrap, seed=seed, min_points=min_points,
                           n_grid=n_grid, rho=rho,
                           rho_draw="confidence" if method == "local-cd" else "likelihood",
                           keep_t=LOCAL_KEEP_T if method == "local-strong" else None)
    if method != "fixed":
        raise ValueError(f"interval method {method!r}: one of {', '.join(INTERVAL_METHODS)}")
    refits = _resample_refits(x, sieve_resamples(x, y, fit, n_bootstrap=n_bootstrap, seed=seed, rho=rho),
                              fit.k, min_points, n_grid, fit.lags)
    draws = [breaks for breaks in refits if breaks is not None]
    return np.array(draws).reshape(len(draws), fit.k)


def _resample_refits(x, resamples, k: int, min_points: int, n_grid: int, lags=None) -> list:
    """Each (rho, y*) resample of ``resamples`` refitted with k breakpoints at its rho taken as
    known (``fit_segmented(x, y*, k, rho=rho, lags=lags)``, all polished side by side): its
    breakpoints, or None where the refit failed."""
    resamples = list(resamples)
    refits = fits_at_rho(np.asarray(x, dtype=float), [np.asarray(y, dtype=float) for _, y in resamples],
                          k, min_points, n_grid, [rho for rho, _ in resamples], lags)
    return [None if refit is None else refit.breakpoints for refit in refits]


def local_draws(x, y, fit: SegmentedFit, *, n_bootstrap: int = 200, seed: int = 0,
                min_points: int = 3, n_grid: int = 40, rho: float | None = None,
                rho_draw: str = "likelihood", columns=None,
                keep_t: float | None = None) -> np.ndarray:
    """Draws of each breakpoint from its own "local world" (x sorted): breakpoint j's resamples
    are ``sieve_resamples`` of ``local_fit(j)`` (the one-breakpoint fit keeping it alone, at its
    own REML rho), each refitted with one breakpoint. A failed refit leaves nan. The same draws
    as method "fixed" when fit.k == 1 (and rho_draw "likelihood"). `columns`: only these
    breakpoints (the others nan). `keep_t` (local-strong): the world keeps beside j every other
    breakpoint whose slope change is at least this many standard errors (``slope_change_t``), and
    each resample is refitted with as many breakpoints, j drawing the one nearest its own."""
    out = np.full((n_bootstrap, fit.k), np.nan)
    strong = [] if keep_t is None else list(np.flatnonzero(slope_change_t(x, y, fit) >= keep_t))
    worlds = {}  # the breakpoints a world keeps -> (that world, its resamples' refits)
    for j in range(fit.k) if columns is None else columns:
        kept = tuple(sorted({j, *strong}))
        if kept not in worlds:  # strong breakpoints share one world (the same draws)
            world = local_fit(x, y, fit, j, min_points=min_points, rho=rho,
                              keep=[i for i in kept if i != j])
            refits = _resample_refits(x, sieve_resamples(x, y, world, n_bootstrap=n_bootstrap, seed=seed,
                                                         rho=rho, rho_draw=rho_draw),
                                      world.k, min_points, n_grid, world.lags)
            worlds[kept] = (world, refits)
        world, refits = worlds[kept]
        t_j = world.breakpoints[np.argmin(np.abs(world.breakpoints - fit.breakpoints[j]))]
        for i, breaks in enumerate(refits):
            if breaks is not None:
                out[i, j] = breaks[np.argmin(np.abs(breaks - t_j))]
    return out[~np.all(np.isnan(out), axis=1)]


def search_draws(x, y, fit: SegmentedFit, *, n_bootstrap: int = 200, seed: int = 0,
                 min_points: int = 3, n_grid: int = 40, rho: float | None = None,
                 max_breakpoints: int = 3, min_delta_bic: float = 6.0,
                 reestimate_rho: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(matched, fixed, found) draws of the bootstrap that remakes the whole choice in each of
    ``sieve_resamples``' resamples (x sorted), at the resample's rho taken as known.

    In each resample ``choose_fit`` chooses the number of breakpoints again by BIC against the
    smooth rivals, so the extra breakpoints BIC takes or drops are part of the resampling
    variability. Matching: each of the fit's breakpoints draws the position of the resample's
    chosen breakpoint nearest to it (two may share one where the resample chose fewer). A
    resample whose choice is no transition draws, for every breakpoint, its refit with the
    number of breakpoints held at the fit's (the "fixed" draw: it has no transition near any).
    matched: one row per resample with a draw; fixed: the "fixed" method's draws of the same
    resamples (the same rows as ``bootstrap_draws(method="fixed")``, as its refit is the choice's
    fit with that many breakpoints); found: per row of matched, whether the resample's choice had
    a transition. `reestimate_rho` (bench only, about 5x the cost): each candidate of the
    resample's choice fitted at its own REML rho, as the original search's are, instead of at the
    resample's rho; fixed is still the refit at the resample's rho.
    """
    matched, fixed, found = [], [], []
    for rho_star, y_star in sieve_resamples(x, y, fit, n_bootstrap=n_bootstrap, seed=seed, rho=rho):
        choice_rho = None if reestimate_rho and rho is None else rho_star
        best, fits = choose_fit(x, y_star, max_breakpoints=max_breakpoints, min_points=min_points,
                                min_delta_bic=min_delta_bic, n_grid=n_grid, rho=choice_rho,
                                lags=fit.lags)
        if choice_rho is None:
            fits = {fit.k: fit_segmented(x, y_star, fit.k, min_points=min_points, n_grid=n_grid,
                                         rho=rho_star, lags=fit.lags)}
        same_k = fits.get(fit.k)
        if same_k is not None:
            fixed.append(same_k.breakpoints)
        if best.k > 0:
            nearest = np.abs(best.breakpoints[None, :] - fit.breakpoints[:, None]).argmin(axis=1)
            matched.append(best.breakpoints[nearest])
            found.append(True)
        elif same_k is not None:
            matched.append(same_k.breakpoints)
            found.append(False)
    return (np.array(matched).reshape(len(matched), fit.k), np.array(fixed).reshape(len(fixed), fit.k),
            np.array(found, dtype=bool))


def percentile_intervals(draws: np.ndarray, estimates, level: float = PLAIN_LEVEL
                         ) -> tuple[list[tuple[float, float]], list[bool]]:
    """(95% interval, widened) of each breakpoint from its bootstrap draws (one column each).

    The interval is the draws' central `level` percent (the plain 2.5-97.5% range by default; a
    calibrated level by method: ``interval_level``), widened where needed to hold the
    estimate itself: with few resamples, or a skewed bootstrap distribution, the range can miss
    the fitted breakpoint. `widened` is True exactly there: the resamples put the breakpoint on
    one side of its estimate, and the interval is that range stretched to the estimate, not a
    calibrated 95% interval. No draws: nan intervals, none widened.
    """
    estimates = np.asarray(estimates, dtype=float)
    if len(draws) == 0:
        return [(float("nan"), float("nan"))] * len(estimates), [False] * len(estimates)
    intervals, widened = [], []
    for j, estimate in enumerate(estimates):
        lo, hi = (float(np.nanpercentile(draws[:, j], q)) for q in ((100 - level) / 2, (100 + level) / 2))
        widened.append(bool(lo > estimate or hi < estimate))
        intervals.append((min(lo, float(estimate)), max(hi, float(estimate))))
    return intervals, widened

"""Transitions on trajectories whose errors are correlated, as a weight statistic's are along a run.

Synthetic runs of 44 checkpoints (log-spaced to 512, then every 30 steps to 1120, as the mini
suite's long runs) with AR(1) errors of coefficient rho:
- false transitions: a smooth curve (quadratic in log step), share of runs where one is reported;
- coverage: one planted kink at step 300, share of found kinks whose 95% interval holds it.
scalefit's AR(1) search (REML rho per fit, sieve bootstrap drawing rho from its likelihood) beside
the peer, the same search with independent errors (`rho=0`: ordinary least squares and the
residual bootstrap, what `scalefit transitions` did before).

    python bench/bench_transition_intervals.py --runs 150 --bootstrap 100

`--cells` measures instead the cells an interval audit found under-covered (scalefit's search
only): a weak kink (slope change 0.4 at rho 0.8), rho 0.95 and an early kink (step 20), beside the
kink at step 300 at rho 0.5 and 0.8. Each reports how often the kink is found, how often a run
with one kink reports two or more transitions, the median REML rho and the coverage of the
breakpoint nearest the kink, each with its Monte Carlo SE, sqrt(p (1 - p) / n): about 3 points
at 85% of 150 (the intervals are the shipped method's, breakpoint_intervals.INTERVAL_METHOD, at its shipped
level: local-strong's central 99.5% since 2026-12-06, its plain 2.5-97.5% range from 2026-12-05,
fixed k in the README's earlier rows). --records writes every found breakpoint
(interval, estimated rho, the slope change over its GLS standard error) as JSON, to look for a
sign of under-coverage in a run's own output.

    python bench/bench_transition_intervals.py --cells weak_rho0.8,early_rho0.5 --runs 150

`--methods` (with --cells) puts beside the fixed-k percentile interval, on the same resamples, a
percentile-t interval (each resample's breakpoint SE at a REML rho re-estimated on it) and the Wald
interval (estimate ± 1.96 delta-method SE), with the paired coverage difference; measured, not
shipped (bench/README.md).

    python bench/bench_transition_intervals.py --cells kink_rho0.8,weak_rho0.8 --methods --runs 150

`--methods local` puts beside the fixed-k interval (shipped until 2026-12-05) the local-world
interval (breakpoint_intervals.local_draws: the breakpoint nearest the kink drawn from resamples of the
one-breakpoint fit keeping it alone, at its own REML rho; the same draws where the search chose
one breakpoint) and the same with rho drawn from the confidence distribution of REML's estimate
(local-cd; --no-cd leaves it out), and the local world that keeps the other breakpoints whose
slope change is 8 standard errors or more (local-strong, shipped since 2026-12-05), with the
paired differences and the runs with two or more breakpoints. two_rho0.8 and two_rho0.5 add a
second, real kink at step 40 (slope change -0.8) beside the one measured; twoweak_rho0.8 two weak
ones (-0.4 at step 40, 0.4 at step 300, the one measured).

    python bench/bench_transition_intervals.py --cells kink_rho0.8,weak_rho0.8,kink_rho0.5 --methods local --runs 80

`--methods draws` keeps the shipped resampling's draws of the breakpoint nearest the kink (--records
saves them) and reads from the same draws the plain 2.5-97.5% range, the bias-corrected percentile,
the basic interval and the central 98%, 99% and 99.5% (breakpoint_intervals.INTERVAL_LEVEL: the level shipped
for local-strong since 2026-12-06, chosen on seeds 20000+ and checked on 90000+).

    python bench/bench_transition_intervals.py --cells kink_rho0.5,kink_rho0.8,kink_rho0.95 --methods draws --runs 100 --bootstrap 200

`--methods search` puts beside it, on the same resamples, the interval of the bootstrap that remakes
the whole choice (number of breakpoints by BIC, the smooth rivals) in each resample and takes the
resample's breakpoint nearest the estimate (breakpoint_intervals.search_draws), with the share of resamples
whose choice had no transition. `--seed-base` moves the runs' noise seeds off the README's 20000+.

    python bench/bench_transition_intervals.py --cells kink_rho0.8,weak_rho0.8 --methods search --runs 80

Every cell also comes with errors of other shapes than Gaussian AR(1) of one variance (the
resampling draws the whitened residuals with replacement, so it takes them as i.i.d.): NAME_SHAPE
is cell NAME with SHAPE one of ERROR_SHAPES: grows (the error sd rising geometrically along the
checkpoints, x4 from first to last, at the other cells' mean variance, the AR(1) correlation
kept), shocks (2 innovations of 6 sd at checkpoints drawn among the last 11, as 2 late checkpoints
held half the scatter of the mini suite's t_nu runs), t3 (innovations t with 3 degrees of
freedom, the same variance). `--methods scatter` gives per cell the kinks found, the shipped
interval's coverage, the share of runs whose chosen fit the scatter check
(transition_search.scatter_share) flags, and the coverage split by whether it fired.

    python bench/bench_transition_intervals.py --cells kink_rho0.5,kink_rho0.5_grows,kink_rho0.5_shocks,kink_rho0.5_t3 --methods scatter --runs 100 --bootstrap 200
"""
from __future__ import annotations

import argparse
import json
import time
import warnings

import numpy as np

from scalefit.scaling.trajectories import ar1
from scalefit.scaling.trajectories.breakpoint_intervals import (INTERVAL_METHOD, LOCAL_KEEP_T,
                                                                bootstrap_breakpoints, bootstrap_draws,
                                                                local_draws, local_fit,
                                                                percentile_intervals, search_draws)
from scalefit.scaling.trajectories.segmented import fit_segmented, hinge_design
from scalefit.scaling.trajectories.transition_search import find_transitions, scatter_share

STEPS = np.unique(np.r_[2.0 ** np.arange(10), np.arange(120, 1121, 30)])
X = np.log10(STEPS)
KINK = np.log10(300.0)
NOISE = 0.05


def ar1_noise(rho: float, rng: np.random.Generator) -> np.ndarray:
    return ar1.stationary_series(rho, (len(X), 1), rng, NOISE)[:, 0]


def false_transitions(rho: float, runs: int, fixed_rho) -> float:
    hits = 0
    for r in range(runs):
        y = 1 + 0.1 * X + 0.15 * X ** 2 + ar1_noise(rho, np.random.default_rng(10_000 + r))
        hits += find_transitions(X, y, n_bootstrap=0, rho=fixed_rho).best.k > 0
    return hits / runs


def coverage(rho: float, runs: int, n_bootstrap: int, fixed_rho) -> tuple[float, int, float]:
    inside, widths = [], []
    for r in range(runs):
        y = 1 + 0.1 * X + np.maximum(X - KINK, 0) + ar1_noise(rho, np.random.default_rng(r))
        # the peer (rho given: independent errors) refits every breakpoint (fixed k), as before
        search = find_transitions(X, y, n_bootstrap=n_bootstrap, seed=r, rho=fixed_rho,
                                  interval_method=INTERVAL_METHOD if fixed_rho is None else "fixed")
        if not search.best.k:
            continue
        j = int(np.argmin(np.abs(search.best.breakpoints - KINK)))
        lo, hi = search.intervals[j]
        inside.append(lo <= KINK <= hi)
        widths.append(hi - lo)
    return float(np.mean(inside)), len(inside), float(np.median(widths))


# name -> (kink step, slope change, rho); the bench's own kink is (300, 1.0)
CELLS = {"kink_rho0": (300.0, 1.0, 0.0), "kink_rho0.5": (300.0, 1.0, 0.5), "kink_rho0.8": (300.0, 1.0, 0.8),
         "kink_rho0.95": (300.0, 1.0, 0.95), "weak_rho0.8": (300.0, 0.4, 0.8),
         "early_rho0.5": (20.0, 1.0, 0.5),
         # a second, real kink at step 40 (slope change -0.8: not a curvature) beside the one measured at step 300
         "two_rho0.8": (300.0, 1.0, 0.8, (40.0, -0.8)), "two_rho0.5": (300.0, 1.0, 0.5, (40.0, -0.8)),
         "twoweak_rho0.8": (300.0, 0.4, 0.8, (40.0, -0.4))}


# Error shapes beside the Gaussian constant-variance AR(1) errors: a cell named BASE_SHAPE (e.g.
# kink_rho0.5_grows) is cell BASE with errors of that shape at BASE's rho (error_series)
GROWTH = 4.0        # grows: the error sd at the last checkpoint over that at the first
SHOCK_SIZE = 6.0    # shocks: the shocked innovations, in innovation sds (sign at random)
SHOCK_COUNT = 2     # shocks: how many checkpoints are shocked ...
SHOCK_WINDOW = 11   # ... among the last SHOCK_WINDOW (the last quarter of the run)
T_DOF = 3           # t3: the innovations' degrees of freedom
ERROR_SHAPES = {
    "grows": f"sd rising geometrically along the checkpoints, x{GROWTH:g} first to last, mean variance "
             "that of the other cells, AR(1) correlation kept",
    "shocks": f"constant variance, {SHOCK_COUNT} innovations of {SHOCK_SIZE:g} sd at checkpoints drawn "
              f"among the last {SHOCK_WINDOW}",
    "t3": f"innovations t with {T_DOF} degrees of freedom, scaled to the same variance"}


def error_series(shape: str, rho: float, rng: np.random.Generator, n: int = len(X)) -> np.ndarray:
    """n errors of one of ERROR_SHAPES at autocorrelation rho, marginal sd NOISE (grows: its root
    mean variance over the checkpoints; shocks: outside the shocks)."""
    if shape == "grows":  # a unit AR(1) series times a rising sd: corr(e_t, e_t-1) = rho still
        sd = GROWTH ** (np.arange(n) / (n - 1))
        sd *= NOISE / np.sqrt(np.mean(sd ** 2))
        return sd * ar1.stationary_series(rho, (n, 1), rng)[:, 0]
    scale = NOISE * np.sqrt(1.0 - rho * rho)  # the innovations' sd
    if shape == "t3":
        return ar1._recursion(scale * rng.standard_t(T_DOF, n) / np.sqrt(T_DOF / (T_DOF - 2)), rho)
    if shape == "shocks":
        innovations = rng.normal(0.0, scale, n)
        at = rng.choice(np.arange(n - SHOCK_WINDOW, n), size=SHOCK_COUNT, replace=False)
        innovations[at] = SHOCK_SIZE * scale * rng.choice([-1.0, 1.0], size=SHOCK_COUNT)
        return ar1._recursion(innovations, rho)
    raise ValueError(f"error shape {shape!r}: one of {', '.join(ERROR_SHAPES)}")


def cell_spec(name: str) -> tuple[tuple, str | None]:
    """(CELLS' tuple, error shape or None) of a cell name: a name in CELLS, or one followed by
    _SHAPE for a shape in ERROR_SHAPES."""
    if name in CELLS:
        return CELLS[name], None
    base, _, shape = name.rpartition("_")
    if base in CELLS and shape in ERROR_SHAPES:
        return CELLS[base], shape
    raise KeyError(name)


def slope_change_t(y: np.ndarray, fit) -> np.ndarray:
    """Each breakpoint's |slope change| over its GLS standard error at the fit's rho, the
    breakpoints held fixed (so optimistic: they were chosen to fit)."""
    design = ar1.whiten(hinge_design(X, fit.breakpoints), fit.rho)
    sigma2 = fit.sse / max(len(X) - (2 + 2 * fit.k), 1)
    se = np.sqrt(sigma2 * np.diag(np.linalg.pinv(design.T @ design))[2:])
    return np.abs(fit.coef[2:]) / se


def cell_run(name: str, seed_base: int, r: int) -> tuple[float, np.ndarray]:
    """Run r of an audit cell: the planted kink (log10 step) and the statistic along X."""
    (kink_step, dslope, rho, *other), shape = cell_spec(name)
    kink = np.log10(kink_step)
    rng = np.random.default_rng(seed_base + r)
    noise = ar1_noise(rho, rng) if shape is None else error_series(shape, rho, rng)
    y = 1 + 0.1 * X + dslope * np.maximum(X - kink, 0) + noise
    for step, change in other:  # a real kink beside the measured one
        y = y + change * np.maximum(X - np.log10(step), 0)
    return kink, y


def found_kinks(name: str, runs: int, seed_base: int):
    """(r, y, chosen fit, kink, index of the breakpoint nearest it) for each run of a cell whose
    search (no bootstrap) found a transition: the runs the interval methods are compared on."""
    for r in range(runs):
        kink, y = cell_run(name, seed_base, r)
        fit = find_transitions(X, y, n_bootstrap=0, seed=r).best
        if fit.k:
            yield r, y, fit, kink, int(np.argmin(np.abs(fit.breakpoints - kink)))


def cell_records(name: str, runs: int, n_bootstrap: int, seed_base: int = 20_000) -> list[dict]:
    """One record per found breakpoint (or per run without one) of scalefit's search."""
    records = []
    for r in range(runs):
        kink, y = cell_run(name, seed_base, r)
        search = find_transitions(X, y, n_bootstrap=n_bootstrap, seed=r)
        base = {"cell": name, "run": r, "k": search.best.k, "rho_hat": float(search.rho)}
        if not search.best.k:
            records.append(base)
            continue
        nearest = int(np.argmin(np.abs(search.best.breakpoints - kink)))
        tvals = slope_change_t(y, search.best)
        for j, (lo, hi) in enumerate(search.intervals):
            bp = float(search.best.breakpoints[j])
            records.append({**base, "nearest": j == nearest, "t": float(tvals[j]),
                            "inside": bool(lo <= kink <= hi), "width": hi - lo,
                            "error": bp - kink,
                            # the percentiles missed the estimate and the interval was widened to it
                            "widened": bool(search.widened[j])})
    return records


def breakpoint_se(x: np.ndarray, y: np.ndarray, breakpoints: np.ndarray, rho: float) -> np.ndarray:
    """Delta-method (Muggeo) standard error of each breakpoint: GLS at `rho` with the breakpoints
    held, Jacobian column -c_j 1(x > t_j) beside the hinge design, residual variance on n - 2 - 2k."""
    design = hinge_design(x, breakpoints)
    coef, *_ = np.linalg.lstsq(ar1.whiten(design, rho), ar1.whiten(y, rho), rcond=None)
    jac = np.column_stack([design] + [-coef[2 + j] * (x > t) for j, t in enumerate(breakpoints)])
    jw = ar1.whiten(jac, rho)
    resid = ar1.whiten(y - design @ coef, rho)
    sigma2 = float(resid @ resid) / max(len(x) - jac.shape[1], 1)
    cov = sigma2 * np.linalg.pinv(jw.T @ jw)
    return np.sqrt(np.maximum(np.diag(cov)[design.shape[1]:], 0.0))


def studentized_draws(x, y, fit, n_bootstrap, seed):
    """The sieve bootstrap of breakpoint_intervals.bootstrap_draws (same generator calls, so the same
    breakpoint draws), each resample also giving its breakpoints' SE at a REML rho re-estimated
    on that resample (every estimated quantity the SE depends on, resampled)."""
    rng = np.random.default_rng(seed)
    design = hinge_design(x, fit.breakpoints)
    grid, weights = ar1.rho_posterior(design, y)
    rhos = rng.choice(grid, size=n_bootstrap, p=weights)
    worlds, draws, ses = {}, [], []
    for rho in rhos:
        if rho not in worlds:
            coef, *_ = np.linalg.lstsq(ar1.whiten(design, rho), ar1.whiten(y, rho), rcond=None)
            innovations = ar1.whiten(y - design @ coef, rho)
            worlds[rho] = (design @ coef, innovations - innovations.mean())
        fitted, innovations = worlds[rho]
        y_star = fitted + ar1.simulate_errors(innovations, rho, rng)
        refit = fit_segmented(x, y_star, fit.k, rho=rho)
        if refit is not None:
            draws.append(refit.breakpoints)
            rho_star = ar1.reml_rho(hinge_design(x, refit.breakpoints), y_star)
            ses.append(breakpoint_se(x, y_star, refit.breakpoints, rho_star))
    return np.array(draws).reshape(-1, fit.k), np.array(ses).reshape(-1, fit.k)


def cell_methods(name: str, runs: int, n_bootstrap: int, seed_base: int = 20_000) -> list[dict]:
    """Per run whose search found a breakpoint: whether the nearest one's percentile interval
    (what scalefit ships), its percentile-t interval and its Wald interval (estimate ± 1.96 SE)
    hold the kink, from the same resamples, with their widths."""
    lo_x, hi_x = X.min(), X.max()
    records = []
    for r, y, fit, kink, j in found_kinks(name, runs, seed_base):
        draws, ses = studentized_draws(X, y, fit, n_bootstrap, r)
        if not len(draws):
            continue
        est = fit.breakpoints[j]
        (pct,), _ = percentile_intervals(draws[:, [j]], [est])
        se_hat = breakpoint_se(X, y, fit.breakpoints, fit.rho)[j]
        with np.errstate(divide="ignore", invalid="ignore"):
            pivots = (draws[:, j] - est) / ses[:, j]
        pivots = pivots[np.isfinite(pivots)]
        q_lo, q_hi = np.percentile(pivots, [2.5, 97.5])
        # clipped to the data's range, where any breakpoint lies
        student = (max(est - q_hi * se_hat, lo_x), min(est - q_lo * se_hat, hi_x))
        wald = (max(est - 1.96 * se_hat, lo_x), min(est + 1.96 * se_hat, hi_x))
        records.append({"cell": name, "run": r, "rho_hat": float(fit.rho), "k": fit.k,
                        **{f"{m}_inside": bool(a <= kink <= b) for m, (a, b) in
                           (("percentile", pct), ("student", student), ("wald", wald))},
                        **{f"{m}_width": float(b - a) for m, (a, b) in
                           (("percentile", pct), ("student", student), ("wald", wald))}})
    return records


def cell_search(name: str, runs: int, n_bootstrap: int, seed_base: int = 20_000,
                reestimate_rho: bool = False) -> list[dict]:
    """Per run whose search found a breakpoint: whether the nearest one's fixed-k interval (the
    bootstrap refitting each resample with the number of breakpoints held) and the interval of the
    bootstrap that remakes the whole choice in each resample (breakpoint_intervals.search_draws) hold the kink,
    from the same resamples, with their widths and the share of resamples whose choice had a
    transition. reestimate_rho: the resample's choice fits each candidate at its own REML rho."""
    records = []
    for r, y, fit, kink, j in found_kinks(name, runs, seed_base):
        matched, fixed, found = search_draws(X, y, fit, n_bootstrap=n_bootstrap, seed=r,
                                             reestimate_rho=reestimate_rho)
        if not len(matched) or not len(fixed):
            continue
        est = fit.breakpoints[j]
        (shipped,), _ = percentile_intervals(fixed[:, [j]], [est])
        (remade,), _ = percentile_intervals(matched[:, [j]], [est])
        records.append({"cell": name, "run": r, "rho_hat": float(fit.rho), "k": fit.k,
                        "found_share": float(found.mean()),
                        **{f"{m}_inside": bool(a <= kink <= b) for m, (a, b) in
                           (("fixed", shipped), ("search", remade))},
                        **{f"{m}_width": float(b - a) for m, (a, b) in
                           (("fixed", shipped), ("search", remade))}})
    return records


CD_RHO_DRAW = ["confidence"]  # local-cd's rho draw ("none": local-cd left out, --no-cd)


def cell_local(name: str, runs: int, n_bootstrap: int, seed_base: int = 20_000) -> list[dict]:
    """Per run whose search found a breakpoint: whether the nearest one's fixed-k interval,
    its interval from its own local world (breakpoint_intervals.local_draws: the one-breakpoint fit keeping it
    alone, at its own REML rho; the fixed-k draws where the search chose one breakpoint) and the
    local world's with rho drawn from the confidence distribution of REML's estimate (local-cd)
    hold the kink, with widths. The three use the same seed; local-cd's resamples differ."""
    records = []
    for r, y, fit, kink, j in found_kinks(name, runs, seed_base):
        fixed = bootstrap_draws(X, y, fit, n_bootstrap=n_bootstrap, seed=r, method="fixed")
        local = fixed if fit.k == 1 else local_draws(X, y, fit, n_bootstrap=n_bootstrap, seed=r,
                                                     columns=[j])
        strong = local if fit.k == 1 else local_draws(X, y, fit, n_bootstrap=n_bootstrap, seed=r,
                                                      columns=[j], keep_t=LOCAL_KEEP_T)
        local_cd = None if CD_RHO_DRAW[0] == "none" else local_draws(
            X, y, fit, n_bootstrap=n_bootstrap, seed=r, columns=[j], rho_draw=CD_RHO_DRAW[0])
        if not len(fixed) or not len(local) or not len(strong) or (local_cd is not None and not len(local_cd)):
            continue
        est = fit.breakpoints[j]
        ints = {m: percentile_intervals(d[:, [j]], [est])[0][0]
                for m, d in (("fixed", fixed), ("local", local), ("localstrong", strong),
                             ("localcd", local_cd)) if d is not None}
        records.append({"cell": name, "run": r, "rho_hat": float(fit.rho), "k": fit.k,
                        "world_rho": float(local_fit(X, y, fit, j).rho),
                        **{f"{m}_inside": bool(a <= kink <= b) for m, (a, b) in ints.items()},
                        **{f"{m}_width": float(b - a) for m, (a, b) in ints.items()}})
    return records


def cell_draws(name: str, runs: int, n_bootstrap: int, seed_base: int = 20_000) -> list[dict]:
    """Per run whose search found a breakpoint: the shipped resampling's draws of the breakpoint
    nearest the kink (bootstrap_draws with INTERVAL_METHOD and the seed find_transitions gives it),
    its estimate and the kink, so that interval rules can be compared on the same draws offline."""
    records = []
    for r, y, fit, kink, j in found_kinks(name, runs, seed_base):
        draws = bootstrap_draws(X, y, fit, n_bootstrap=n_bootstrap, seed=r, method=INTERVAL_METHOD)
        column = draws[:, j][~np.isnan(draws[:, j])]
        if not len(column):
            continue
        # a cell with a second real kink: the breakpoint is scored against the true kink nearest it
        # (where the search found only the other kink, that is the one its interval should hold)
        kinks = [kink, *(np.log10(step) for step, _ in cell_spec(name)[0][3:])]
        truth = min(kinks, key=lambda k: abs(k - fit.breakpoints[j]))
        records.append({"cell": name, "run": r, "rho_hat": float(fit.rho), "k": fit.k,
                        "t": float(slope_change_t(y, fit)[j]), "kink": float(truth),
                        "estimate": float(fit.breakpoints[j]), "draws": column.tolist()})
    return records


def cell_scatter(name: str, runs: int, n_bootstrap: int, seed_base: int = 20_000) -> list[dict]:
    """One record per run: whether the scatter check fires on the chosen fit
    (transition_search.scatter_share) and, where the search found a transition, whether the shipped
    interval of the breakpoint nearest the kink (bootstrap_breakpoints as find_transitions calls it,
    seed r) holds the kink, with its width."""
    records = []
    for r in range(runs):
        kink, y = cell_run(name, seed_base, r)
        fit = find_transitions(X, y, n_bootstrap=0, seed=r).best
        rec = {"cell": name, "run": r, "k": fit.k, "rho_hat": float(fit.rho),
               "fired": scatter_share(X, y, fit).concentrated}
        if fit.k:
            j = int(np.argmin(np.abs(fit.breakpoints - kink)))
            intervals, _ = bootstrap_breakpoints(X, y, fit, n_bootstrap=n_bootstrap, seed=r)
            lo, hi = intervals[j]
            rec.update({"shipped_inside": bool(lo <= kink <= hi), "shipped_width": float(hi - lo)})
        records.append(rec)
    return records


def scatter_row(runs: int, recs: list[dict]) -> list[str]:
    found = [r for r in recs if r["k"]]
    split = [[r for r in found if r["fired"] == fired] for fired in (True, False)]
    return [share(len(found), runs), share(sum(r["fired"] for r in recs), runs),
            share(sum(r["shipped_inside"] for r in found), len(found)),
            " / ".join(share(sum(r["shipped_inside"] for r in part), len(part)) for part in split),
            f"{np.median([r['shipped_width'] for r in found]) if found else float('nan'):.3f}"]


def rule_interval(rule: str, draws: np.ndarray, estimate: float) -> tuple[float, float]:
    """A candidate 95% interval from one breakpoint's draws: "percentile" (the 2.5-97.5% range
    widened to hold the estimate; shipped until 2026-12-06, "p99.5" since), "bc" (bias-corrected percentile, Efron 1981: the levels
    moved by the share of draws below the estimate), "pNN" (the central NN% range, widened the
    same way), "basic" (the percentile range reflected about the estimate)."""
    from scipy.stats import norm
    if rule == "percentile" or rule.startswith("p"):  # the shipped function, at the rule's level
        level = 95.0 if rule == "percentile" else float(rule[1:])
        (interval,), _ = percentile_intervals(np.asarray(draws, float)[:, None], [estimate], level=level)
        return interval
    if rule == "bc":
        below = np.clip((np.sum(draws < estimate) + 0.5 * np.sum(draws == estimate)) / len(draws),
                        0.5 / len(draws), 1 - 0.5 / len(draws))
        z0 = norm.ppf(below)
        lo, hi = np.percentile(draws, 100 * norm.cdf(2 * z0 + np.array([-1.96, 1.96])))
        return min(lo, estimate), max(hi, estimate)
    if rule == "basic":
        lo, hi = np.percentile(draws, [2.5, 97.5])
        return 2 * estimate - hi, 2 * estimate - lo
    raise ValueError(rule)


DRAW_RULES = ("percentile", "bc", "basic", "p98", "p99", "p99.5")


def draws_row(runs: int, recs: list[dict]) -> list[str]:
    n = len(recs)
    cells = [share(n, runs)]
    for rule in DRAW_RULES:
        ints = [rule_interval(rule, np.asarray(r["draws"]), r["estimate"]) for r in recs]
        inside = sum(lo <= r["kink"] <= hi for r, (lo, hi) in zip(recs, ints))
        cells.append(f"{share(inside, n)}, {np.median([hi - lo for lo, hi in ints]) if n else float('nan'):.3f}")
    return cells


def share(hits, n) -> str:
    if not n:
        return "-"
    p = hits / n
    return f"{100 * p:.0f}% ± {100 * np.sqrt(p * (1 - p) / n):.0f} ({n})"


def paired(recs: list[dict], new: str, old: str) -> str:
    """Mean paired coverage difference new - old over the same runs, in points, ± its SE."""
    diff = np.array([r[f"{new}_inside"] for r in recs], float) - np.array([r[f"{old}_inside"] for r in recs], float)
    if len(diff) < 2:
        return "-"
    return f"{100 * diff.mean():+.1f} ± {100 * diff.std(ddof=1) / np.sqrt(len(diff)):.1f}"


def cells_row(runs: int, recs: list[dict]) -> list[str]:
    per_run = {r["run"]: r for r in recs}
    near = [r for r in recs if r.get("nearest")]
    return [share(len(near), runs), share(sum(r["k"] > 1 for r in per_run.values()), runs),
            f"{np.median([r['rho_hat'] for r in per_run.values()]):.2f}",
            share(sum(r["inside"] for r in near), len(near)),
            f"{np.median([r['width'] for r in near]) if near else float('nan'):.3f}"]


def student_row(runs: int, recs: list[dict]) -> list[str]:
    n = len(recs)
    return [share(sum(r["percentile_inside"] for r in recs), n),
            share(sum(r["student_inside"] for r in recs), n), paired(recs, "student", "percentile"),
            share(sum(r["wald_inside"] for r in recs), n),
            "/".join(f"{np.median([r[f'{m}_width'] for r in recs]):.3f}"
                     for m in ("percentile", "student", "wald"))]


def search_row(runs: int, recs: list[dict]) -> list[str]:
    n = len(recs)
    return [share(n, runs), share(sum(r["fixed_inside"] for r in recs), n),
            share(sum(r["search_inside"] for r in recs), n), paired(recs, "search", "fixed"),
            "/".join(f"{np.median([r[f'{m}_width'] for r in recs]):.3f}" for m in ("fixed", "search")),
            f"{100 * (1 - np.mean([r['found_share'] for r in recs])):.1f}%" if n else "-"]


def local_row(runs: int, recs: list[dict]) -> list[str]:
    n = len(recs)
    multi = [r for r in recs if r["k"] > 1]
    def has(m):  # local-cd is left out with --no-cd: its columns print "-"
        return bool(recs) and f"{m}_inside" in recs[0]

    return [share(n, runs)] + [
        (share(sum(r[f"{m}_inside"] for r in recs), n)
         + ("" if m == "fixed" else f", {paired(recs, m, 'fixed')}")) if has(m) else "-"
        for m in ("fixed", "local", "localstrong", "localcd")] + [
        f"{len(multi)}: " + "/".join(share(sum(r[f"{m}_inside"] for r in multi), len(multi))
                                     for m in ("fixed", "local", "localstrong")),
        "/".join(f"{np.median([r[f'{m}_width'] for r in recs]):.3f}" if has(m) else "-"
                 for m in ("fixed", "local", "localstrong", "localcd"))]


# table -> (records of one cell, its row, what the coverage is of, column headers)
TABLES = {
    "cells": (cell_records, cells_row, "coverage of the breakpoint nearest the kink, ± one Monte "
              "Carlo SE (kinks found)",
              ["kink found", "2+ transitions", "median REML rho", "coverage of 95% intervals",
               "median width (log10 step)"]),
    "student": (cell_methods, student_row, "coverage of the breakpoint nearest the kink (kinks "
                "found), the same resamples for every interval; paired: percentile-t minus "
                "percentile, ± its SE",
                ["percentile (fixed k)", "percentile-t", "paired difference", "Wald ± 1.96 SE",
                 "median width: percentile / percentile-t / Wald"]),
    "search": (cell_search, search_row, "coverage of the breakpoint nearest the kink (kinks found), "
               "the same resamples for both intervals; paired: search minus fixed, ± its SE",
               ["kink found", "fixed k", "search in each resample", "paired difference",
                "median width: fixed / search", "resamples choosing no transition"]),
    "local": (cell_local, local_row, "coverage of the breakpoint nearest the kink (kinks found); "
              "paired: minus the fixed-k interval, ± its SE",
              ["kink found", "fixed k", "local world, paired",
               "local world keeping the strong breakpoints (t >= 8; plain 2.5-97.5% range), paired",
               "local world, rho from REML's confidence distribution, paired",
               "runs with 2+ breakpoints: fixed / local / local-strong",
               "median width: fixed / local / local-strong / local-cd"]),
    "draws": (cell_draws, draws_row, "coverage of the breakpoint nearest the kink (kinks found) "
              "and median width (log10 step) by interval rule, on the shipped resampling's draws",
              ["kink found", *DRAW_RULES]),
    "scatter": (cell_scatter, scatter_row, "coverage of the shipped interval of the breakpoint nearest "
                "the kink (kinks found), overall and split by whether the scatter check "
                "(transition_search.scatter_share) fires on the run's chosen fit",
                ["kink found", "scatter check fires (all runs)", "coverage", "coverage: fired / not fired",
                 "median width (log10 step)"]),
    "search-reml": (lambda *a: cell_search(*a, reestimate_rho=True), search_row,
                    "the same, the resamples' choice with REML rho per candidate",
                    ["kink found", "fixed k", "search in each resample (REML rho)",
                     "paired difference", "median width: fixed / search",
                     "resamples choosing no transition"]),
}


def cells_table(table: str, names: list[str], runs: int, n_bootstrap: int, out,
                seed_base: int = 20_000) -> None:
    """One markdown row per cell of a table in TABLES, with its seconds; every record to `out`."""
    records_of, row_of, what, columns = TABLES[table]
    print(f"{runs} synthetic runs of {len(X)} checkpoints per cell (seeds {seed_base}+), "
          f"{n_bootstrap} resamples; {what}")
    print("| cell (kink step, slope change, rho) | " + " | ".join(columns) + " | seconds |")
    print("|---" * (len(columns) + 2) + "|")
    every = []
    for name in names:
        start = time.perf_counter()
        recs = records_of(name, runs, n_bootstrap, seed_base)
        every += recs
        print(f"| {name} {cell_spec(name)[0]} | " + " | ".join(row_of(runs, recs))
              + f" | {time.perf_counter() - start:.0f} |", flush=True)
    if out:
        with open(out, "w") as fh:
            json.dump(every, fh)


def _known(name: str) -> bool:
    try:
        cell_spec(name)
    except KeyError:
        return False
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=150)
    parser.add_argument("--bootstrap", type=int, default=100)
    parser.add_argument("--rho", default="0,0.5,0.8")
    parser.add_argument("--cells", default="",
                        help=f"comma-separated audit cells instead of the rho table: {', '.join(CELLS)}, "
                             f"each also as NAME_SHAPE with errors of a shape in {', '.join(ERROR_SHAPES)}")
    parser.add_argument("--records", default="", help="JSON file for every found breakpoint (--cells)")
    parser.add_argument("--methods", nargs="?", const="student",
                        choices=[name for name in TABLES if name != "cells"],
                        help="with --cells: the fixed-k interval beside, on the same resamples, "
                             "percentile-t and Wald intervals (student, the default) or the "
                             "bootstrap that remakes the whole choice in each resample (search; "
                             "search-reml: with REML rho per candidate, about 5x the cost); scatter: "
                             "the shipped interval's coverage split by whether the scatter check fires")
    parser.add_argument("--no-cd", action="store_true", help="with --methods local: leave local-cd out")
    parser.add_argument("--seed-base", type=int, default=20_000,
                        help="with --cells: run r's noise seed is this + r (the README's tables: 20000)")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    if args.no_cd:
        CD_RHO_DRAW[0] = "none"
    if args.cells:
        unknown = [name for name in args.cells.split(",") if not _known(name)]
        if unknown:
            parser.exit(2, f"--cells: unknown cell {unknown[0]!r}; expected one of {', '.join(CELLS)}, "
                           f"each optionally followed by _SHAPE for SHAPE in {', '.join(ERROR_SHAPES)}\n")
        cells_table(args.methods or "cells", args.cells.split(","), args.runs, args.bootstrap,
                    args.records, args.seed_base)
        return
    print(f"{args.runs} synthetic runs of {len(X)} checkpoints per cell, {args.bootstrap} resamples")
    print("| rho | method | false transitions (smooth) | 95% interval coverage (kinks found) "
          "| median width (log10 step) | seconds |")
    print("|---|---|---|---|---|---|")
    for rho in (float(v) for v in args.rho.split(",")):
        for name, fixed in (("AR(1) errors (scalefit)", None), ("independent errors (peer)", 0.0)):
            start = time.perf_counter()
            fp = false_transitions(rho, args.runs, fixed)
            cov, found, width = coverage(rho, args.runs, args.bootstrap, fixed)
            print(f"| {rho:g} | {name} | {100 * fp:.0f}% | {100 * cov:.0f}% ({found}) | "
                  f"{width:.3f} | {time.perf_counter() - start:.0f} |", flush=True)


if __name__ == "__main__":
    main()

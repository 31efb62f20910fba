"""Coverage of `scalefit trajectory`'s E and p intervals where the truth lies near a bound.

One run laid out like the shipped long runs (44 checkpoints, bench_trajectory_tests.STEPS),
losses 4.07-6.0 (exact), value = v0 + c (L - E)^p + AR(1) noise (sd 0.01, coefficient rho), E
fitted. Cells: E near its bound 0 (0.05) or well inside (2.0), p near its bound -5 (-4.7) or away
from it (-2); c is set so that the value moves by 0.7 over the run. Each run is fitted the way
collapse_report fits a model (fit_stat_vs_loss, REML rho of the residuals on the fit's Jacobian,
bias-corrected, ar1_parameter_intervals). Reported: the share of 95% intervals that hold the
true E and p, ± one Monte Carlo SE, for the Wald intervals cut at the bounds (scalefit before
2026-12-07) and the intervals scalefit gives now, paired on the same runs; --methods adds other
RSS allowances for the same profile intervals on the same runs (tried for p's coverage with E
near 0 at rho 0.8, none shipped: bench/README.md), --linear the shipped allowance's coverage in
the linear model on the truth's Jacobian, --box p's likelihood-ratio coverage in that linear model
with p and E kept in their bounds (whether E's bound alone explains p's shortfall: it does not).

    OMP_NUM_THREADS=1 python bench/bench_trajectory_bounds.py --runs 200 --seed 1
    OMP_NUM_THREADS=1 python bench/bench_trajectory_bounds.py --runs 200 --seed 5 --cells E0.05_p-2,E0.05_p-4.7 \
        --methods "now,neff,boot post"
    OMP_NUM_THREADS=1 python bench/bench_trajectory_bounds.py --runs 200 --seed 6 --methods "now,E free"
    OMP_NUM_THREADS=1 python bench/bench_trajectory_bounds.py --linear
    OMP_NUM_THREADS=1 python bench/bench_trajectory_bounds.py --box --rho 0,0.8
"""
from __future__ import annotations

import argparse
import warnings

import numpy as np
from scipy import stats

from scalefit.scaling.trajectories import ar1
from scalefit.scaling.trajectories import collapse, linearized, parameter_intervals, profile_likelihood, stat_law

from bench_trajectory_tests import STEPS, cpu_seconds, paired, pythia_layout_runs, rate, times

LOSS = 3.8 + 2.2 * STEPS ** -0.3  # 4.07 .. 6.0 nats/token, the shipped long runs' range
CELLS = {"E0.05_p-2": (0.05, -2.0), "E2_p-2": (2.0, -2.0), "E2_p-4.7": (2.0, -4.7),
         "E0.05_p-4.7": (0.05, -4.7)}
NOISE_SD = 0.01
SPREAD = 0.7  # how far the value moves over the run
SEED = 20261207  # the boot methods' simulated sets


def truth_curve(E: float, p: float) -> tuple[float, float]:
    """(v0, c) that make value = v0 + c (L - E)^p run from 0.5 to 0.5 + SPREAD over LOSS."""
    gap = (LOSS - E) ** p
    c = SPREAD / float(np.ptp(gap))
    return 0.5 - c * float(gap.min()), c


def truth_jacobian(E: float, p: float):
    """(Jacobian blocks, parameter names) of the stat law on LOSS at the cell's true parameters:
    the linear model both linear-model checks read."""
    v0, c = truth_curve(E, p)
    value = v0 + c * (LOSS - E) ** p + 1e-9 * np.sin(np.arange(len(LOSS)))
    fit = stat_law.fit_stat_vs_loss(LOSS, value)
    for par, truth in (("v0", v0), ("c", c), ("E", E), ("p", p)):
        fit.model_result.params[par].value = truth  # the Jacobian at the truth
    return linearized.jacobian_blocks(fit, [LOSS])


def profile_with(fit, rho, squared_of):
    """E's and p's profile intervals as ar1_parameter_intervals gives them, with the RSS allowance
    squared_of(blocks, gram, rho, df) * var / [(J'J)^-1] per parameter instead of t^2 on
    Satterthwaite's df (the same numbers where squared_of returns that t^2)."""
    blocks, names = linearized.jacobian_blocks(fit, [LOSS])
    gram = ar1.gram_inverse(np.vstack(blocks))
    meat, df_resid, trace_msms = linearized.pooled_traces(gram, ar1.design_moments(blocks, rho))
    df = df_resid ** 2 / trace_msms
    var = np.diag(fit.objective / df_resid * gram @ meat @ gram)
    half = stats.t.ppf(0.975, max(df, 1.0))
    squared = squared_of(blocks, gram, rho, df)
    # lmfit's, where a column is not finite
    out = {name: fit.params[name].ci95 for name in parameter_intervals.PROFILED}
    for j, name in enumerate(names):
        if name in parameter_intervals.PROFILED:
            se = np.sqrt(var[j])
            out[name] = profile_likelihood.profile_interval(
                fit, name, squared[j] * var[j] / gram[j, j],
                (fit.params[name].value - half * se, fit.params[name].value + half * se))
    return out


def p_with_E_below_0(fit, rho, floor_times=10.0):
    """p's profile interval with E free below its floor 0 in the inner minimization (down to
    -floor_times x the lowest loss, where (L - E)^p is nearly a line in L), the shipped allowance:
    the t^2 allowance is a likelihood-ratio cutoff, calibrated where the other parameter is free;
    E's interval as shipped."""
    out = profile_with(fit, rho, satterthwaite)
    shipped = profile_likelihood.E_FLOOR
    profile_likelihood.E_FLOOR = -floor_times * float(LOSS.min())  # profile_rss reads it for p's inner range of E
    try:
        out["p"] = profile_with(fit, rho, satterthwaite)["p"]
    finally:
        profile_likelihood.E_FLOOR = shipped
    return out


def satterthwaite(blocks, gram, rho, df):
    """t^2 on Satterthwaite's df: what scalefit ships."""
    return np.full(len(gram), stats.t.ppf(0.975, max(df, 1.0)) ** 2)


def effective_size(blocks, gram, rho, df):
    """F(1, n_eff - k), n_eff = n (1 - rho) / (1 + rho) the AR(1) effective sample size (of a mean)."""
    n, k = sum(len(b) for b in blocks), len(gram)
    return np.full(k, stats.f.ppf(0.95, 1, max(n * (1 - rho) / (1 + rho) - k, 1.0)))


def studentized_quantiles(blocks, gram, rho_sim, estimate_rho, n_sim, seed=SEED):
    """Per parameter, the 95% quantile of t^2 = (b_j - beta_j)^2 / var_j in the linear model on
    the fit's Jacobian with AR(1) errors at rho_sim (one rho, or one per set), var_j the AR(1)
    sandwich at rho re-estimated from each set's residuals (estimate_rho): t^2's quantile with
    rho's estimation error in it."""
    rng = np.random.default_rng(seed)
    x = np.vstack(blocks)
    rho_sim = np.broadcast_to(np.asarray(rho_sim, dtype=float), (n_sim,))
    errors = np.empty((len(x), n_sim))
    for r in np.unique(rho_sim):
        errors[:, rho_sim == r] = ar1.stationary_series(float(r), (len(x), int((rho_sim == r).sum())), rng)
    coef = gram @ (x.T @ errors)
    resid = errors - x @ coef
    rss = np.sum(resid * resid, axis=0)
    rhos = np.asarray(estimate_rho(x, resid), dtype=float)
    scale = np.empty((len(gram), n_sim))
    for r in np.unique(rhos):
        meat, trace_ms, _ = linearized.pooled_traces(gram, ar1.design_moments(blocks, float(r)))
        scale[:, rhos == r] = (np.diag(gram @ meat @ gram) / trace_ms)[:, None]
    return np.nanquantile(coef * coef / (rss[None, :] * scale), 0.95, axis=1)


def refitted_quantiles(fit, blocks, gram, rho, n_sim, seed=SEED, n_grid=121):
    """Per profiled parameter, the 95% quantile of (profile RSS at its fitted value - least RSS)
    / (var / [(J'J)^-1]) over sets simulated from the fitted curve (AR(1) errors at rho, the fit's
    scale) and refitted on an (E, p) grid (v0 and c in closed form): a nonlinear parametric
    bootstrap of the allowance at the fitted point; NaN for the parameters not profiled."""
    res = fit.model_result
    fitted = np.asarray(res.data, dtype=float) - np.asarray(res.residual, dtype=float)
    names = linearized.jacobian_blocks(fit, [LOSS])[1]  # the columns of blocks and gram
    E_hat, p_hat, lowest = float(res.params["E"].value), float(res.params["p"].value), float(LOSS.min())
    meat, trace_ms, _ = linearized.pooled_traces(gram, ar1.design_moments(blocks, rho))
    per_rss = np.diag(gram @ meat @ gram) / np.diag(gram) / trace_ms  # var_j / [(J'J)^-1]_jj per unit RSS
    errors = ar1.stationary_series(rho, (len(LOSS), n_sim), np.random.default_rng(seed))
    y = fitted[:, None] + np.sqrt(fit.objective / trace_ms) * errors
    y -= y.mean(axis=0)
    e_grid = lowest - np.unique(np.r_[np.geomspace(1e-9, lowest - profile_likelihood.E_FLOOR, n_grid),
                                      lowest - E_hat])
    p_grid = np.unique(np.r_[np.linspace(*stat_law.P_BOUND, n_grid), p_hat])
    rss = np.stack([_rss_columns(profile_likelihood._power_rows(p_grid[:, None], np.log(LOSS - e0)[None, :]), y)
                    for e0 in e_grid])  # (E, p, set)
    least = rss.reshape(-1, n_sim).min(axis=0)
    profiles = {"E": rss[int(np.argmin(np.abs(e_grid - E_hat)))].min(axis=0),
                "p": rss[:, int(np.argmin(np.abs(p_grid - p_hat)))].min(axis=0)}
    return np.array([np.nanquantile((profiles[n] - least) / (least * per_rss[j]), 0.95) if n in profiles
                     else np.nan for j, n in enumerate(names)])


def _rss_columns(x, y):
    """RSS of the least-squares lines of each column of y (centred) on each row of x."""
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        xc = x - x.mean(axis=1, keepdims=True)
        sxx = np.einsum("ij,ij->i", xc, xc)
        sxy = xc @ y
        rss = np.sum(y * y, axis=0)[None, :] - sxy * sxy / sxx[:, None]
    return np.where(np.isfinite(rss) & (sxx[:, None] > 0), rss, np.inf)


def cutoffs(corrector, grid_weights, n_sim):
    """Each method's squared quantile of the RSS allowance (None: scalefit's own call)."""
    def estimate(x, resid):  # REML on the Jacobian, bias-corrected: how the run's rho is read
        return corrector(ar1.reml_rho(x, resid))

    def boot(blocks, gram, rho, df):  # at the estimate of rho
        return studentized_quantiles(blocks, gram, rho, estimate, n_sim)

    def boot_post(blocks, gram, rho, df):  # rho drawn from its corrected likelihood, as the collapse test's
        grid, weights = grid_weights
        rhos = np.random.default_rng([SEED, 1]).choice(grid, size=n_sim, p=weights / weights.sum())
        return studentized_quantiles(blocks, gram, rhos, estimate, n_sim)

    return {"now": None, "satt": satterthwaite, "neff": effective_size, "boot": boot, "boot post": boot_post,
            "refit": None, "E free": None}


def one_run(E, p, rho, rng, methods=("now",), n_sim=200):
    """(old Wald-cut intervals, {method: intervals}, rho used, fit) of E and p for one synthetic run."""
    v0, c = truth_curve(E, p)
    value = v0 + c * (LOSS - E) ** p + ar1.stationary_series(rho, (len(LOSS), 1), rng, NOISE_SD)[:, 0]
    fit = stat_law.fit_stat_vs_loss(LOSS, value)
    design = [linearized.jacobian(fit, LOSS)]
    correct = ar1.bias_corrector(design)
    residual = [fit.model_result.residual]
    rho_hat = correct(ar1.pooled_reml_rho(design, residual))
    params, extra = dict(fit.params), dict(fit.extra)
    parameter_intervals.ar1_parameter_intervals(fit, [LOSS], rho_hat, profiled=())  # the Wald intervals, cut
    old = {k: fit.params[k].ci95 for k in ("E", "p")}
    fit.params, fit.extra = params, extra
    variants = cutoffs(correct, ar1.corrected_posterior(*ar1.pooled_rho_posterior(design, residual), correct),
                       n_sim) if set(methods) - {"now"} else {}
    now = {}
    for method in methods:
        if method == "now":
            parameter_intervals.ar1_parameter_intervals(fit, [LOSS], rho_hat)
            now[method] = {k: fit.params[k].ci95 for k in ("E", "p")}
            fit.params, fit.extra = dict(params), dict(extra)
        elif method == "E free":
            now[method] = p_with_E_below_0(fit, max(rho_hat, 0.0))
        elif method == "refit":  # the nonlinear bootstrap needs the fit itself
            now[method] = profile_with(fit, max(rho_hat, 0.0), lambda blocks, gram, r, df: refitted_quantiles(
                fit, blocks, gram, r, n_sim))
        else:
            now[method] = profile_with(fit, max(rho_hat, 0.0), variants[method])
    return old, now, rho_hat, fit


def held(interval, truth) -> bool:
    return bool(interval[0] <= truth <= interval[1])


def linear_coverage(rhos, n_sim=3000, seed=7) -> None:
    """Coverage of the shipped allowance (t^2 on Satterthwaite's df, the AR(1) sandwich, both at
    rho re-estimated from each set by REML and bias-corrected as a run's is) in the linear model
    on the Jacobian at the truth of each cell: how much of a shortfall rho's estimation error
    explains where the curve is linear (the profile interval is then the Wald interval)."""
    print(f"linear model on the truth's Jacobian, {n_sim} sets per cell and rho; coverage of v0, c, E, p")
    print("| cell (true E, p) | rho | v0 | c | E | p | mean corrected rho estimate |")
    print("|---|---|---|---|---|---|---|")
    for name, (E, p) in CELLS.items():
        blocks, names = truth_jacobian(E, p)
        x = np.vstack(blocks)
        gram, correct = ar1.gram_inverse(x), ar1.bias_corrector(blocks)
        for rho in rhos:
            errors = ar1.stationary_series(rho, (len(x), n_sim), np.random.default_rng(seed))
            coef = gram @ (x.T @ errors)
            resid = errors - x @ coef
            rss = np.sum(resid * resid, axis=0)
            estimates = correct(ar1.reml_rho(x, resid))
            held_ = np.zeros((len(names), n_sim), dtype=bool)
            for r in np.unique(estimates):
                meat, trace_ms, trace_msms = linearized.pooled_traces(gram, ar1.design_moments(blocks, float(r)))
                t2 = stats.t.ppf(0.975, max(trace_ms ** 2 / trace_msms, 1.0)) ** 2
                at = estimates == r
                var = rss[at] * (np.diag(gram @ meat @ gram) / trace_ms)[:, None]
                held_[:, at] = coef[:, at] ** 2 <= t2 * var
            print(f"| {name} | {rho:g} | " + " | ".join(rate(h) for h in held_)
                  + f" | {estimates.mean():.2f} |", flush=True)


def _box_min(z, cov_inv, box, fixed=None):
    """Least (z - b)' cov_inv (z - b) over b in the box [(lo, hi), (lo, hi)] (per row of z), b_0
    held at ``fixed`` when given: a quadratic, so the minimum is the free one where that lies in the
    box, else on an edge (one coordinate at its bound, the other at its own best, clipped)."""
    def q(b):
        d = z - b
        return np.einsum("ni,ij,nj->n", d, cov_inv, d)

    def along(k, value):  # coordinate k held at value (per row), the other at its best in its range
        o = 1 - k
        b = np.empty_like(z)
        b[:, k] = value
        b[:, o] = np.clip(z[:, o] + cov_inv[o, k] / cov_inv[o, o] * (z[:, k] - value), *box[o])
        return q(b)

    if fixed is not None:
        return along(0, np.full(len(z), fixed))
    inside = np.all([(box[k][0] <= z[:, k]) & (z[:, k] <= box[k][1]) for k in (0, 1)], axis=0)
    edges = np.min([along(k, np.full(len(z), box[k][j])) for k in (0, 1) for j in (0, 1)], axis=0)
    return np.where(inside, 0.0, edges)


def box_geometry(rhos, n_sim=400_000, seed=3) -> None:
    """p's likelihood-ratio coverage at the chi^2_1 cutoff (z^2 = 3.84) in the linear model on the
    truth's Jacobian (AR(1) at the true rho, its sandwich covariance of (p, E) with v0 and c profiled
    out, the noise sd known) with p and E kept in their boxes (-5 <= p <= 5, 0 <= E < the lowest
    loss): where a nuisance bound alone would move the cutoff (a boundary makes the statistic a
    chi-bar-squared mixture, Self and Liang 1987). Also corr(E, p) and E's linearized sd against
    its range."""
    rng = np.random.default_rng(seed)
    print("linear model on the truth's Jacobian, p and E in their boxes; LR coverage of p at chi^2_1")
    print("| cell (true E, p) | rho | corr(E, p) | sd of E / its range | sd of p / its range | "
          "p covered: E free | p covered: E and p in their boxes |")
    print("|---|---|---|---|---|---|---|")
    for name, (E, p) in CELLS.items():
        blocks, names = truth_jacobian(E, p)
        gram = ar1.gram_inverse(np.vstack(blocks))
        ip, ie = names.index("p"), names.index("E")
        for rho in rhos:
            meat, _, _ = linearized.pooled_traces(gram, ar1.design_moments(blocks, rho))
            cov = (NOISE_SD ** 2 * gram @ meat @ gram)[np.ix_([ip, ie], [ip, ie])]
            z = rng.multivariate_normal([0.0, 0.0], cov, n_sim)  # (p_hat - p, E_hat - E)
            cov_inv = np.linalg.inv(cov)
            box = [(stat_law.P_BOUND[0] - p, stat_law.P_BOUND[1] - p),
                   (profile_likelihood.E_FLOOR - E, float(LOSS.min()) - E)]
            lr = _box_min(z, cov_inv, box, fixed=0.0) - _box_min(z, cov_inv, box)
            free = z[:, 0] ** 2 / cov[0, 0]
            sd = np.sqrt(np.diag(cov))
            print(f"| {name} | {rho:g} | {cov[0, 1] / sd[0] / sd[1]:.4f} | "
                  f"{sd[1]:.3g} / {float(LOSS.min()):.3g} | {sd[0]:.3g} / 10 | "
                  f"{100 * np.mean(free <= 3.8415):.1f}% | {100 * np.mean(lr <= 3.8415):.1f}% |", flush=True)


def cost(repeat=3) -> None:
    """CPU seconds of the intervals of collapse_report's 17 fits (16 runs x 153 checkpoints, one
    curve, rho 0.8: bench_trajectory_tests' cost data) with E and p profiled beside the Wald
    intervals cut at the bounds (the peer: scalefit before 2026-12-07), and of the whole report."""
    import pandas as pd
    rows = pythia_layout_runs()
    joined = pd.concat(rows, ignore_index=True)
    report_s, report = cpu_seconds(lambda: collapse.collapse_report(joined), repeat)
    rho = report["residual_autocorrelation"]
    fits = [(report["per_model"][str(r["model"].iloc[0])], [r["loss"].to_numpy()]) for r in rows]
    fits.append((report["pooled"], [r["loss"].to_numpy() for r in rows]))

    def intervals(profiled):
        for fit, losses in fits:
            parameter_intervals.ar1_parameter_intervals(fit, losses, rho, profiled=profiled)

    wald_s, _ = cpu_seconds(lambda: intervals(()), repeat)
    profile_s, _ = cpu_seconds(lambda: intervals(parameter_intervals.PROFILED), repeat)
    print(f"16 runs x 153 checkpoints, rho {rho:.3g}; CPU s, best of {repeat}, one thread")
    print("| | profile (scalefit) | Wald cut (peer) | scalefit / peer |")
    print("|---|---|---|---|")
    print(f"| intervals of the 17 fits | {profile_s:.3f} | {wald_s:.3f} | {times(profile_s / wald_s)} |")
    print(f"| collapse_report, whole (with the profile) | {report_s:.2f} | - | - |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200, help="runs per cell and rho")
    parser.add_argument("--rho", default="0,0.5,0.8")
    parser.add_argument("--cells", default=",".join(CELLS), help=f"comma-separated: {', '.join(CELLS)}")
    parser.add_argument("--seed", type=int, default=1, help="seed of every cell's stream")
    parser.add_argument("--methods", default="now",
                        help="comma-separated RSS cutoffs beside the old Wald cut: now (t^2 on Satterthwaite's "
                             "df, shipped), neff (F(1, n_eff - k), AR(1) effective sample size), boot (studentized "
                             "linear bootstrap at the estimate of rho), boot post (rho drawn from its likelihood), refit "
                             "(nonlinear parametric bootstrap at the fitted point, sets refitted on an (E, p) grid), "
                             "satt (now, recomputed by the bench: a check, the same intervals), E free (p's profile "
                             "minimized over E below 0 too)")
    parser.add_argument("--sims", type=int, default=200, help="simulated sets of the boot methods")
    parser.add_argument("--linear", action="store_true",
                        help="only the shipped allowance's coverage in the linear model on the truth's Jacobian")
    parser.add_argument("--box", action="store_true",
                        help="only p's likelihood-ratio coverage in the linear model with p and E kept in "
                             "their bounds (whether a bound on the nuisance E explains the shortfall)")
    parser.add_argument("--cost", action="store_true",
                        help="only time the 17 fits' intervals on 16 runs x 153 checkpoints, profile beside Wald")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    if args.cost:
        return cost()
    if args.box:
        return box_geometry([float(r) for r in args.rho.split(",")])
    if args.linear:
        return linear_coverage([float(r) for r in args.rho.split(",")])
    methods = args.methods.split(",")
    print(f"{len(LOSS)} checkpoints, losses {LOSS.min():.2f}-{LOSS.max():.2f}, noise sd {NOISE_SD}, "
          f"{args.runs} runs per cell, seed {args.seed}; 95% intervals' coverage ± one MC SE; "
          f"median width beside each method's p")
    head = "".join(f" E: {m} | p: {m} |" for m in methods)
    print(f"| cell (true E, p) | rho | E: Wald cut (old) | p: Wald cut (old) |{head} "
          "paired p: last - first method | E at a bound / p at a bound (fits) |")
    print("|---|---|---|---|" + "---|---|" * len(methods) + "---|---|")
    for name in args.cells.split(","):
        E, p = CELLS[name]
        for rho in (float(r) for r in args.rho.split(",")):
            rng = np.random.default_rng([args.seed, int(1000 * rho), int(100 * E), int(-10 * p)])
            rows, widths = [], []
            for _ in range(args.runs):
                old, now, rho_hat, fit = one_run(E, p, rho, rng, methods, args.sims)
                at = " ".join(fit.warnings)
                rows.append([held(old["E"], E), held(old["p"], p), "parameter E is at" in at,
                             "parameter p is at" in at]
                            + [h for m in methods for h in (held(now[m]["E"], E), held(now[m]["p"], p))])
                widths.append([now[m]["p"][1] - now[m]["p"][0] for m in methods])
            r, w = np.array(rows, dtype=float), np.median(np.array(widths), axis=0)
            cells = "".join(f" {rate(r[:, 4 + 2 * i])} | {rate(r[:, 5 + 2 * i])} (w {w[i]:.2f}) |"
                            for i in range(len(methods)))
            print(f"| {name} | {rho:g} | {rate(r[:, 0])} | {rate(r[:, 1])} |{cells} "
                  f"{paired(r[:, 3 + 2 * len(methods)], r[:, 5])} | "
                  f"{100 * r[:, 2].mean():.0f}% / {100 * r[:, 3].mean():.0f}% |", flush=True)


if __name__ == "__main__":
    main()

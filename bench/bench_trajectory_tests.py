"""`scalefit trajectory`'s tests and intervals on runs whose checkpoints have AR(1) errors.

Null data, with the truth known, laid out like the mini suite's long runs (44 checkpoints):
- partial correlation: statistic and loss with independent AR(1) noise around trends in step,
  so the partial correlation is 0. Share of runs where p < 0.05.
- collapse F-test: five runs on one stat-vs-loss curve, so "one curve per size" is false. Share
  of runs where p < 0.05.
- parameter intervals: one run on value = v0 + c (L - E)^p with E known. Share of 95% intervals
  that hold v0, c and p.
scalefit (AR(1) errors: REML rho, bias-corrected for the F-test and the intervals, effective points,
Satterthwaite degrees of freedom, the sandwich) beside the peers: the same statistics at plain REML
rho (before 2026-12-05), and with checkpoints counted as independent (scipy's pearsonr, the textbook
F-test, lmfit's intervals).

    python bench/bench_trajectory_tests.py --runs 300 --f-runs 60
    python bench/bench_trajectory_tests.py --tests f --f-runs 150 --seed 31 --methods shipped
    python bench/bench_trajectory_tests.py --tests f --f-runs 150 --rho 0.8,0.9 --shift 0.008 --methods shipped
    python bench/bench_trajectory_tests.py --cost

--methods adds the collapse test's parametric bootstrap (scalefit's since 2026-12-05, "shipped")
and the variants it was chosen from, paired with the F-test on the same runs; --shift makes the
sizes' curves truly differ (power). --cost times collapse_report (with its bootstrap) and
partial_correlation on 16 runs x 153 checkpoints (Pythia's layout) and, as the peer, the N x N
forms of their traces at one rho (hat and residual-maker matrices of all 2,448 checkpoints) beside
the run-by-run forms scalefit computes, with the ratio and a check that both give the same numbers.
"""
from __future__ import annotations

import argparse
import os
import warnings

import numpy as np
import pandas as pd
from scipy import stats

from scalefit.scaling.trajectories import ar1
from scalefit.scaling.trajectories import collapse, correlation, linearized, parameter_intervals, stat_law

STEPS = np.unique(np.r_[2.0 ** np.arange(10), np.arange(120, 1121, 30)])


def runs_on_one_curve(rng, rho, n_runs=5, shift=0.0):
    """Five runs on one stat-vs-loss curve; ``shift`` > 0 moves run m's curve up by shift * (m - 2)
    (sizes truly differ: the alternative the collapse test should detect)."""
    rows = []
    for m in range(n_runs):
        loss = 3.0 + 3.0 * STEPS ** -0.3 + ar1.stationary_series(rho, (len(STEPS), 1), rng, 0.01)[:, 0]
        value = (0.5 + shift * (m - (n_runs - 1) / 2) + 0.8 * (loss - 2.5) ** 0.7
                 + ar1.stationary_series(rho, (len(STEPS), 1), rng, 0.01)[:, 0])
        rows.append(pd.DataFrame({"model": f"m{m}", "step": STEPS, "loss": loss, "value": value}))
    return pd.concat(rows, ignore_index=True)


def detrended(joined):
    """The residuals the partial correlation correlates (quartic in log step per run)."""
    out = ([], [])
    for _, run in joined.groupby("model", sort=True):
        z = np.log10(run["step"].to_numpy(dtype=float))
        z = (z - z.mean()) / z.std()
        design = np.column_stack([z ** d for d in range(correlation.STEP_POLY_DEGREE + 1)])
        for series, sink in zip((run["value"], run["loss"]), out):
            t = series.to_numpy(dtype=float)
            sink.append(t - design @ np.linalg.lstsq(design, t, rcond=None)[0])
    return np.concatenate(out[0]), np.concatenate(out[1])


def partial_correlation_rates(rho, runs):
    rng = np.random.default_rng(5)
    ours, peer = [], []
    for _ in range(runs):
        joined = runs_on_one_curve(rng, rho)
        joined["value"] = 1 + 0.2 * np.log10(joined["step"]) + ar1.stationary_series(
            rho, (len(joined), 1), rng, 0.01)[:, 0]
        ours.append(correlation.partial_correlation(joined)["partial_p_value"] < 0.05)
        peer.append(stats.pearsonr(*detrended(joined)).pvalue < 0.05)
    return np.mean(ours), np.mean(peer)


BOOTSTRAP_METHODS = ("shipped", "boot p", "boot F", "boot p post", "boot F post")


def f_test_rates(rho, runs, seed=6, shift=0.0, methods=()):
    """(rejections at 5%: scalefit, plain REML rho, independent; estimated rho: corrected, REML;
    {method: p}, {"F": the F-test's p}), each a list with one entry per run (the same runs for
    every method). "shipped": collapse_report's collapse_p_value (scalefit's test since
    2026-12-05: "boot p post" with its own stream of rho draws). The bootstrap methods
    (collapse.collapse_null_draws, linearized refits, COLLAPSE_SIMS sets):
    "boot p": the F-test's p calibrated by its null distribution with AR(1) errors at the corrected
    estimate of rho (rho re-estimated in each set); "boot F": the ratio RSS(pooled) / RSS(per run)
    against its null distribution at that rho; "post": rho of each set drawn from the corrected
    likelihood instead."""
    rng = np.random.default_rng(seed)
    ours, reml, peer, rho_new, rho_old = [], [], [], [], []
    boot = {m: [] for m in methods}
    boot["F"] = []
    for i in range(runs):
        joined = runs_on_one_curve(rng, rho, shift=shift)
        report = collapse.collapse_report(joined)
        rss = sum(f.objective for f in report["per_model"].values())
        groups = [run for _, run in joined.groupby("model", sort=True)]
        losses = [run["loss"].to_numpy() for run in groups]
        fits = [report["per_model"][str(run["model"].iloc[0])] for run in groups]
        designs = [linearized.jacobian(fit, loss) for fit, loss in zip(fits, losses)]
        residuals = [np.asarray(fit.model_result.residual, dtype=float) for fit in fits]
        p_reml = collapse.collapse_f_test_p_value(report["pooled"], rss, losses,
                                                  *ar1.pooled_rho_posterior(designs, residuals))
        ours.append(report["collapse_f_test_p_value"] < 0.05)
        reml.append(p_reml < 0.05)
        peer.append(collapse._collapse_f_test(report["pooled"], rss, losses, 0.0) < 0.05)
        rho_new.append(report["residual_autocorrelation"])
        rho_old.append(ar1.pooled_reml_rho(designs, residuals))
        boot["F"].append(report["collapse_f_test_p_value"])
        if "shipped" in methods:
            boot["shipped"].append(report["collapse_p_value"])
        if set(methods) - {"shipped"}:
            correct = ar1.bias_corrector(designs)
            ratio = report["pooled"].objective / rss - 1
            draws = {"": collapse.collapse_null_draws(report["pooled"], losses, designs, correct,
                                                      report["residual_autocorrelation"])}
            if any(m.endswith("post") for m in methods):
                grid, weights = ar1.corrected_posterior(*ar1.pooled_rho_posterior(designs, residuals),
                                                        correct)
                sim_rho = np.random.default_rng([seed, i]).choice(grid, size=collapse.COLLAPSE_SIMS,
                                                                  p=weights / weights.sum())
                draws[" post"] = collapse.collapse_null_draws(report["pooled"], losses, designs, correct, sim_rho)
            for m in set(methods) - {"shipped"}:
                d = draws[" post" if m.endswith("post") else ""]
                p = (collapse.bootstrap_share(d.get("p", []), report["collapse_f_test_p_value"], larger=False)
                     if m.startswith("boot p") else collapse.bootstrap_share(d.get("ratio", []), ratio))
                boot[m].append(p)
    return ours, reml, peer, rho_new, rho_old, boot


def parameter_coverage(rho, runs):
    """Coverage of v0, c, p by the AR(1) intervals at the corrected rho, at plain REML rho, and by
    lmfit's (one entry per interval)."""
    rng = np.random.default_rng(7)
    loss = 3.0 + 3.0 * STEPS ** -0.3
    truth = {"v0": 0.5, "c": 0.8, "p": 0.7}
    ours, reml, peer = [], [], []
    for _ in range(runs):
        noise = ar1.stationary_series(rho, (len(loss), 1), rng, 0.01)[:, 0]
        fit = stat_law.fit_stat_vs_loss(loss, 0.5 + 0.8 * (loss - 2.5) ** 0.7 + noise, E=2.5)
        peer += [fit.params[k].ci95[0] <= v <= fit.params[k].ci95[1] for k, v in truth.items()]
        design = [linearized.jacobian(fit, loss)]
        rho_hat = ar1.pooled_reml_rho(design, [fit.model_result.residual])
        for sink, r in ((reml, rho_hat), (ours, ar1.bias_corrector(design)(rho_hat))):
            parameter_intervals.ar1_parameter_intervals(fit, [loss], r)
            sink += [fit.params[k].ci95[0] <= v <= fit.params[k].ci95[1] for k, v in truth.items()]
    return ours, reml, peer


PYTHIA_STEPS = np.r_[2.0 ** np.arange(10), np.arange(1000, 143001, 1000)]  # 153 checkpoints after step 0


def nxn_collapse_terms(blocks, rho, rss_pooled, rss_separate, objective):
    """The peer: the collapse F-test's p and the pooled fit's sandwich variances and degrees of
    freedom at one rho, computed the straightforward way from N x N matrices of all checkpoints
    (H, H_s the pooled and per-run hat matrices, S the block-diagonal AR(1) correlation)."""
    from scipy.linalg import block_diag
    stacked = np.vstack(blocks)
    n = len(stacked)
    corr = block_diag(*[ar1.correlation_matrix(len(b), rho) for b in blocks])
    hat = stacked @ np.linalg.pinv(stacked)
    separate = block_diag(*blocks)
    hat_s = separate @ np.linalg.pinv(separate)
    extra = (hat_s - hat) @ corr
    resid = (np.eye(n) - hat_s) @ corr
    e_extra, e_resid = np.trace(extra), np.trace(resid)
    df_extra = e_extra ** 2 / np.sum(extra * extra.T)
    df_resid = e_resid ** 2 / np.sum(resid * resid.T)
    f = (max(rss_pooled - rss_separate, 0.0) / e_extra) / (rss_separate / e_resid)
    p = float(stats.f.sf(f, df_extra, df_resid))
    ms = (np.eye(n) - hat) @ corr
    trace_ms, trace_msms = np.trace(ms), np.sum(ms * ms.T)
    gram = np.linalg.pinv(stacked.T @ stacked)
    cov = objective / trace_ms * gram @ (stacked.T @ corr @ stacked) @ gram
    return p, np.diag(cov), trace_ms ** 2 / trace_msms


def run_by_run_collapse_terms(blocks, rho, rss_pooled, rss_separate, objective):
    """The same three at one rho the way collapse_report computes them (collapse._f_test_p, and
    ar1_parameter_intervals' traces): k x k expressions in each run's design moments."""
    grams = [ar1.gram_inverse(b) for b in blocks]
    gram = ar1.gram_inverse(np.vstack(blocks))
    p = collapse._f_test_p(blocks, grams, gram, rss_pooled, rss_separate, rho)
    meat, trace_ms, trace_msms = linearized.pooled_traces(gram, ar1.design_moments(blocks, rho))
    return p, np.diag(objective / trace_ms * gram @ meat @ gram), trace_ms ** 2 / trace_msms


def nxn_effective_points(designs, rho_a, rho_b):
    """The peer of ar1.effective_points: tr(M Sa) tr(M Sb) / tr(M Sa M Sb) with M the residual
    maker of all checkpoints (block-diagonal design) and Sa, Sb the N x N AR(1) correlations."""
    from scipy.linalg import block_diag
    m = ar1.residual_maker(block_diag(*designs))
    ma = m @ block_diag(*[ar1.correlation_matrix(len(d), rho_a) for d in designs])
    mb = m @ block_diag(*[ar1.correlation_matrix(len(d), rho_b) for d in designs])
    return float(np.trace(ma) * np.trace(mb) / np.sum(ma * mb.T))


def partial_correlation_designs(joined):
    """partial_correlation's per-run designs (quartic in standardized log10 step; no lr column
    here) and series, to time its effective points apart."""
    designs, values, losses = [], [], []
    for _, run in joined.groupby("model", sort=True):
        run = run[run["step"] > 0].sort_values("step")
        z = np.log10(run["step"].to_numpy(dtype=float))
        z = (z - z.mean()) / z.std()
        designs.append(np.column_stack([z ** d for d in range(correlation.STEP_POLY_DEGREE + 1)]))
        values.append(run["value"].to_numpy(dtype=float))
        losses.append(run["loss"].to_numpy(dtype=float))
    return designs, values, losses


def times(ratio: float) -> str:
    return f"{ratio:.0f}x" if ratio >= 10 else f"{ratio:.1f}x"


def cpu_seconds(func, repeat=3):
    """Best CPU time of `repeat` calls (one thread: CPU time is wall time), and the last result."""
    import time
    best, out = float("inf"), None
    for _ in range(repeat):
        start = time.process_time()
        out = func()
        best = min(best, time.process_time() - start)
    return best, out


def pythia_layout_runs(rho=0.8, n_runs=16, seed=8) -> list[pd.DataFrame]:
    """n_runs runs x 153 checkpoints (Pythia's layout) on one stat-vs-loss curve, AR(1) noise in
    both the loss and the statistic: the data the cost benchmarks time."""
    rng = np.random.default_rng(seed)
    rows = []
    for m in range(n_runs):
        loss = 3.0 + 3.0 * PYTHIA_STEPS ** -0.3 + ar1.stationary_series(rho, (len(PYTHIA_STEPS), 1), rng, 0.01)[:, 0]
        value = 0.5 + 0.8 * (loss - 2.5) ** 0.7 + ar1.stationary_series(rho, (len(PYTHIA_STEPS), 1), rng, 0.01)[:, 0]
        rows.append(pd.DataFrame({"model": f"m{m:02d}", "step": PYTHIA_STEPS, "loss": loss, "value": value}))
    return rows


def cost(rho=0.8, n_runs=16, seed=8, repeat=3):
    """CPU seconds on n_runs x 153 checkpoints (Pythia's layout), one curve: collapse_report and
    its bootstrap (collapse_bootstrap_p_value, COLLAPSE_SIMS null sets), partial_correlation, and
    the N x N forms as the peer beside the run-by-run traces scalefit computes, at one rho: the
    collapse F-test's p with the pooled fit's sandwich intervals, and the partial correlation's
    effective points. Prints a table with the ratios and checks that both forms agree."""
    rows = pythia_layout_runs(rho, n_runs, seed)
    joined = pd.concat(rows, ignore_index=True)
    report_s, report = cpu_seconds(lambda: collapse.collapse_report(joined), repeat)
    corr_s, corr = cpu_seconds(lambda: correlation.partial_correlation(joined), repeat)
    fits = [report["per_model"][f"m{m:02d}"] for m in range(n_runs)]
    losses = [frame["loss"].to_numpy() for frame in rows]
    designs = [linearized.jacobian(fit, loss) for fit, loss in zip(fits, losses)]
    correct = ar1.bias_corrector(designs)
    grid, weights = ar1.corrected_posterior(*ar1.pooled_rho_posterior(
        designs, [fit.model_result.residual for fit in fits]), correct)
    blocks, names = linearized.jacobian_blocks(report["pooled"], losses)
    boot_s, _ = cpu_seconds(lambda: collapse.collapse_bootstrap_p_value(
        report["pooled"], losses, designs, correct, grid, weights, report["collapse_f_test_p_value"],
        blocks=(blocks, names)), repeat)
    rss = sum(fit.objective for fit in fits)
    pooled = report["pooled"]
    grid_s, _ = cpu_seconds(lambda: collapse.collapse_f_test_p_value(pooled, rss, losses, grid, weights,
                                                                     blocks=(blocks, names)), repeat)
    at = report["residual_autocorrelation"]
    terms = (blocks, at, pooled.objective, rss, pooled.objective)
    ours_s, ours = cpu_seconds(lambda: run_by_run_collapse_terms(*terms), repeat)
    peer_s, peer = cpu_seconds(lambda: nxn_collapse_terms(*terms), repeat)
    c_designs, values, c_losses = partial_correlation_designs(joined)
    rho_v, rho_l = ar1.pooled_reml_rho(c_designs, values), ar1.pooled_reml_rho(c_designs, c_losses)
    neff_s, neff = cpu_seconds(lambda: ar1.effective_points(c_designs, rho_v, rho_l), repeat)
    neff_peer_s, neff_peer = cpu_seconds(lambda: nxn_effective_points(c_designs, rho_v, rho_l), repeat)
    n = len(joined)
    print(f"{n_runs} runs x {len(PYTHIA_STEPS)} checkpoints ({n} points), AR(1) rho {rho:g}; CPU s, "
          f"best of {repeat}, one thread")
    print("| | scalefit (run by run) | N x N form (peer) | peer / scalefit |")
    print("|---|---|---|---|")
    print(f"| collapse_report, whole (rho grid of {int(np.sum(np.asarray(weights) > collapse.WEIGHT_FLOOR))} "
          f"points with weight) | {report_s:.2f} | - | - |")
    print(f"| of which its bootstrap ({collapse.COLLAPSE_SIMS} null sets) | {boot_s:.2f} | - | - |")
    print(f"| of which the F-test's p over the rho grid | {grid_s:.3f} | - | - |")
    print(f"| collapse F-test's p + pooled sandwich intervals at one rho ({at:.3g}) | {ours_s:.3f} | "
          f"{peer_s:.3f} | {times(peer_s / ours_s)} |")
    print(f"| partial_correlation, whole | {corr_s:.3f} | {corr_s - neff_s + neff_peer_s:.3f} "
          f"(its effective points swapped for the N x N form) | {times((corr_s - neff_s + neff_peer_s) / corr_s)} |")
    print(f"| of which the effective points at one rho pair ({rho_v:.2f}, {rho_l:.2f}) | {neff_s:.3f} | "
          f"{neff_peer_s:.3f} | {times(neff_peer_s / neff_s)} |")
    print(f"Both forms agree: F-test p {ours[0]:.6g} / {peer[0]:.6g}; sandwich variances max relative "
          f"difference {np.max(np.abs(ours[1] / peer[1] - 1)):.1e}; df {ours[2]:.6g} / {peer[2]:.6g}; "
          f"effective points {neff:.6g} / {neff_peer:.6g} (partial_correlation's "
          f"{corr['partial_n_effective']:.6g})")


def rate(hits) -> str:
    """Share in percent ± one Monte Carlo SE, sqrt(p (1 - p) / n)."""
    p = float(np.mean(hits))
    return f"{100 * p:.1f}% ± {100 * np.sqrt(p * (1 - p) / len(hits)):.1f}"


def paired(hits, base) -> str:
    """Mean difference in rejections (points) ± its SE over the same runs."""
    change = np.array(hits, dtype=float) - np.asarray(base, dtype=float)
    return f"{100 * change.mean():+.1f} ± {100 * change.std(ddof=1) / np.sqrt(len(change)):.1f}"


def mean_se(values) -> str:
    values = np.asarray(values, dtype=float)
    return f"{values.mean():.2f} ± {values.std(ddof=1) / np.sqrt(len(values)):.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=300, help="runs per rho (correlation, intervals)")
    parser.add_argument("--f-runs", type=int, default=60, help="runs per rho for the F-test (slow)")
    parser.add_argument("--rho", default="0,0.5,0.8,0.9")
    parser.add_argument("--tests", default="corr,f,intervals",
                        help="which columns to measure (the others print '-'): corr, f, intervals")
    parser.add_argument("--seed", type=int, default=6, help="the F-test runs' seed (6: the table's)")
    parser.add_argument("--shift", type=float, default=0.0,
                        help="F-test runs: run m's curve moved up by shift * (m - 2) (0: the null)")
    parser.add_argument("--methods", default="",
                        help="F-test: bootstrap methods beside the F-test's p, paired on the same runs "
                             f"(comma-separated: {', '.join(BOOTSTRAP_METHODS)})")
    parser.add_argument("--save", default=None,
                        help="append each F-test run's p values (F-test and --methods) to this CSV")
    parser.add_argument("--cost", action="store_true",
                        help="only time collapse_report, its bootstrap and partial_correlation on 16 "
                             "runs x 153 checkpoints, beside the N x N forms at one rho (the peer)")
    args = parser.parse_args()
    if args.cost:
        return cost()
    methods = [m for m in args.methods.split(",") if m]
    wanted = set(args.tests.split(","))
    warnings.simplefilter("ignore")
    print(f"{len(STEPS)} checkpoints per run; {args.runs} runs per rho ({args.f_runs} for the F-test);"
          " ± one Monte Carlo SE. scalefit: REML rho bias-corrected (ar1.bias_corrector); REML: "
          "plain REML rho (scalefit before 2026-12-05); independent: checkpoints as independent")
    print("| rho | partial corr. rejects at 5%: AR(1) / independent | F-test: mean estimated rho, "
          "scalefit / REML | collapse F-test rejects at 5%: scalefit's F-test / REML / independent "
          "| 95% intervals of v0, c, p cover: scalefit / REML / lmfit |")
    print("|---|---|---|---|---|")
    for rho in (float(v) for v in args.rho.split(",")):
        cells = []
        if "corr" in wanted:
            pc = partial_correlation_rates(rho, args.runs)
            cells.append(f"{100 * pc[0]:.1f}% / {100 * pc[1]:.1f}%")
        else:
            cells.append("-")
        if "f" in wanted:
            ours, reml, peer, rho_new, rho_old, boot = f_test_rates(rho, args.f_runs, args.seed,
                                                                    args.shift, methods)
            cells.append(f"{mean_se(rho_new)} / {mean_se(rho_old)}")
            change = np.array(ours, dtype=float) - np.array(reml, dtype=float)
            cells.append(f"{rate(ours)} / {rate(reml)} / {rate(peer)} (scalefit - REML, paired: "
                         f"{100 * change.mean():+.1f} ± {100 * change.std(ddof=1) / np.sqrt(len(change)):.1f})")
        else:
            cells += ["-", "-"]
        if "intervals" in wanted:
            cells.append(" / ".join(rate(c) for c in parameter_coverage(rho, args.runs)))
        else:
            cells.append("-")
        print(f"| {rho:g} | " + " | ".join(cells) + " |", flush=True)
        if "f" in wanted and methods:
            f_rejects = np.array(ours, dtype=float)
            print(f"  seed {args.seed}, shift {args.shift:g}, {len(ours)} runs: rejects at 5%: F-test "
                  f"{rate(ours)}; " + "; ".join(
                      f"{m} {rate(np.array(boot[m]) < 0.05)} (paired - F-test "
                      f"{paired(np.array(boot[m]) < 0.05, f_rejects)})" for m in methods), flush=True)
            if args.save:
                pd.DataFrame(boot).assign(rho=rho, shift=args.shift, seed=args.seed).to_csv(
                    args.save, mode="a", header=not os.path.exists(args.save), index=False)

if __name__ == "__main__":
    main()

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
"""
from __future__ import annotations

import argparse
import warnings

import numpy as np
import pandas as pd
from scipy import stats

from scalefit.scaling.trajectories import ar1
from scalefit.scaling.trajectories import trajectory as tj

STEPS = np.unique(np.r_[2.0 ** np.arange(10), np.arange(120, 1121, 30)])


def runs_on_one_curve(rng, rho, n_runs=5):
    rows = []
    for m in range(n_runs):
        loss = 3.0 + 3.0 * STEPS ** -0.3 + ar1.stationary_series(rho, (len(STEPS), 1), rng, 0.01)[:, 0]
        value = (0.5 + 0.8 * (loss - 2.5) ** 0.7
                 + ar1.stationary_series(rho, (len(STEPS), 1), rng, 0.01)[:, 0])
        rows.append(pd.DataFrame({"model": f"m{m}", "step": STEPS, "loss": loss, "value": value}))
    return pd.concat(rows, ignore_index=True)


def detrended(joined):
    """The residuals the partial correlation correlates (quartic in log step per run)."""
    out = ([], [])
    for _, run in joined.groupby("model", sort=True):
        z = np.log10(run["step"].to_numpy(dtype=float))
        z = (z - z.mean()) / z.std()
        design = np.column_stack([z ** d for d in range(tj.STEP_POLY_DEGREE + 1)])
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
        ours.append(tj.partial_correlation(joined)["partial_p_value"] < 0.05)
        peer.append(stats.pearsonr(*detrended(joined)).pvalue < 0.05)
    return np.mean(ours), np.mean(peer)


def f_test_rates(rho, runs):
    """(rejections at 5%: scalefit, plain REML rho, independent; estimated rho: corrected, REML),
    each a list with one entry per run (the same runs for every method)."""
    rng = np.random.default_rng(6)
    ours, reml, peer, rho_new, rho_old = [], [], [], [], []
    for _ in range(runs):
        joined = runs_on_one_curve(rng, rho)
        report = tj.collapse_report(joined)
        rss = sum(f.objective for f in report["per_model"].values())
        groups = [run for _, run in joined.groupby("model", sort=True)]
        losses = [run["loss"].to_numpy() for run in groups]
        fits = [report["per_model"][str(run["model"].iloc[0])] for run in groups]
        designs = [tj._jacobian(fit, loss) for fit, loss in zip(fits, losses)]
        residuals = [np.asarray(fit.model_result.residual, dtype=float) for fit in fits]
        p_reml = tj.collapse_p_value(report["pooled"], rss, losses,
                                     *ar1.pooled_rho_posterior(designs, residuals))
        ours.append(report["collapse_p_value"] < 0.05)
        reml.append(p_reml < 0.05)
        peer.append(tj._collapse_f_test(report["pooled"], rss, losses, 0.0) < 0.05)
        rho_new.append(report["residual_autocorrelation"])
        rho_old.append(ar1.pooled_reml_rho(designs, residuals))
    return ours, reml, peer, rho_new, rho_old


def parameter_coverage(rho, runs):
    """Coverage of v0, c, p by the AR(1) intervals at the corrected rho, at plain REML rho, and by
    lmfit's (one entry per interval)."""
    rng = np.random.default_rng(7)
    loss = 3.0 + 3.0 * STEPS ** -0.3
    truth = {"v0": 0.5, "c": 0.8, "p": 0.7}
    ours, reml, peer = [], [], []
    for _ in range(runs):
        noise = ar1.stationary_series(rho, (len(loss), 1), rng, 0.01)[:, 0]
        fit = tj.fit_stat_vs_loss(loss, 0.5 + 0.8 * (loss - 2.5) ** 0.7 + noise, E=2.5)
        peer += [fit.params[k].ci95[0] <= v <= fit.params[k].ci95[1] for k, v in truth.items()]
        design = [tj._jacobian(fit, loss)]
        rho_hat = ar1.pooled_reml_rho(design, [fit.model_result.residual])
        for sink, r in ((reml, rho_hat), (ours, ar1.bias_corrector(design)(rho_hat))):
            tj.ar1_parameter_intervals(fit, [loss], r)
            sink += [fit.params[k].ci95[0] <= v <= fit.params[k].ci95[1] for k, v in truth.items()]
    return ours, reml, peer


def rate(hits) -> str:
    """Share in percent ± one Monte Carlo SE, sqrt(p (1 - p) / n)."""
    p = float(np.mean(hits))
    return f"{100 * p:.1f}% ± {100 * np.sqrt(p * (1 - p) / len(hits)):.1f}"


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
    args = parser.parse_args()
    wanted = set(args.tests.split(","))
    warnings.simplefilter("ignore")
    print(f"{len(STEPS)} checkpoints per run; {args.runs} runs per rho ({args.f_runs} for the F-test);"
          " ± one Monte Carlo SE. scalefit: REML rho bias-corrected (ar1.bias_corrector); REML: "
          "plain REML rho (scalefit before 2026-12-05); independent: checkpoints as independent")
    print("| rho | partial corr. rejects at 5%: AR(1) / independent | F-test: mean estimated rho, "
          "scalefit / REML | collapse F-test rejects at 5%: scalefit / REML / independent "
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
            ours, reml, peer, rho_new, rho_old = f_test_rates(rho, args.f_runs)
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

if __name__ == "__main__":
    main()

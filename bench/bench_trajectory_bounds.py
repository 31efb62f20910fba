"""Coverage of `scalefit trajectory`'s E and p intervals where the truth lies near a bound.

One run laid out like the shipped long runs (44 checkpoints, bench_trajectory_tests.STEPS),
losses 4.07-6.0 (exact), value = v0 + c (L - E)^p + AR(1) noise (sd 0.01, coefficient rho), E
fitted. Cells: E near its bound 0 (0.05) or well inside (2.0), p near its bound -5 (-4.7) or away
from it (-2); c is set so that the value moves by 0.7 over the run. Each run is fitted the way
collapse_report fits a model (fit_stat_vs_loss, REML rho of the residuals on the fit's Jacobian,
bias-corrected, ar1_parameter_intervals). Reported: the share of 95% intervals that hold the
true E and p, ± one Monte Carlo SE, for the Wald intervals cut at the bounds (scalefit before
2026-12-07) and the intervals scalefit gives now, paired on the same runs.

    OMP_NUM_THREADS=1 python bench/bench_trajectory_bounds.py --runs 200 --seed 1
"""
from __future__ import annotations

import argparse
import warnings

import numpy as np

from scalefit.scaling.trajectories import ar1
from scalefit.scaling.trajectories import trajectory as tj

from bench_trajectory_tests import STEPS, cpu_seconds, paired, pythia_layout_runs, rate, times

LOSS = 3.8 + 2.2 * STEPS ** -0.3  # 4.07 .. 6.0 nats/token, the shipped long runs' range
CELLS = {"E0.05_p-2": (0.05, -2.0), "E2_p-2": (2.0, -2.0), "E2_p-4.7": (2.0, -4.7),
         "E0.05_p-4.7": (0.05, -4.7)}
NOISE_SD = 0.01
SPREAD = 0.7  # how far the value moves over the run


def truth_curve(E: float, p: float) -> tuple[float, float]:
    """(v0, c) that make value = v0 + c (L - E)^p run from 0.5 to 0.5 + SPREAD over LOSS."""
    gap = (LOSS - E) ** p
    c = SPREAD / float(np.ptp(gap))
    return 0.5 - c * float(gap.min()), c


def one_run(E, p, rho, rng):
    """(old Wald-cut intervals, current intervals, rho used) of E and p for one synthetic run."""
    v0, c = truth_curve(E, p)
    value = v0 + c * (LOSS - E) ** p + ar1.stationary_series(rho, (len(LOSS), 1), rng, NOISE_SD)[:, 0]
    fit = tj.fit_stat_vs_loss(LOSS, value)
    design = [tj._jacobian(fit, LOSS)]
    rho_hat = ar1.bias_corrector(design)(ar1.pooled_reml_rho(design, [fit.model_result.residual]))
    params, extra = dict(fit.params), dict(fit.extra)
    tj.ar1_parameter_intervals(fit, [LOSS], rho_hat, profiled=())  # the Wald intervals, cut
    old = {k: fit.params[k].ci95 for k in ("E", "p")}
    fit.params, fit.extra = params, extra
    tj.ar1_parameter_intervals(fit, [LOSS], rho_hat)
    now = {k: fit.params[k].ci95 for k in ("E", "p")}
    return old, now, rho_hat, fit


def held(interval, truth) -> bool:
    return bool(interval[0] <= truth <= interval[1])


def cost(repeat=3) -> None:
    """CPU seconds of the intervals of collapse_report's 17 fits (16 runs x 153 checkpoints, one
    curve, rho 0.8: bench_trajectory_tests' cost data) with E and p profiled beside the Wald
    intervals cut at the bounds (the peer: scalefit before 2026-12-07), and of the whole report."""
    import pandas as pd
    rows = pythia_layout_runs()
    joined = pd.concat(rows, ignore_index=True)
    report_s, report = cpu_seconds(lambda: tj.collapse_report(joined), repeat)
    rho = report["residual_autocorrelation"]
    fits = [(report["per_model"][str(r["model"].iloc[0])], [r["loss"].to_numpy()]) for r in rows]
    fits.append((report["pooled"], [r["loss"].to_numpy() for r in rows]))

    def intervals(profiled):
        for fit, losses in fits:
            tj.ar1_parameter_intervals(fit, losses, rho, profiled=profiled)

    wald_s, _ = cpu_seconds(lambda: intervals(()), repeat)
    profile_s, _ = cpu_seconds(lambda: intervals(tj.PROFILED), repeat)
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
    parser.add_argument("--cost", action="store_true",
                        help="only time the 17 fits' intervals on 16 runs x 153 checkpoints, profile beside Wald")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    if args.cost:
        return cost()
    print(f"{len(LOSS)} checkpoints, losses {LOSS.min():.2f}-{LOSS.max():.2f}, noise sd {NOISE_SD}, "
          f"{args.runs} runs per cell, seed {args.seed}; 95% intervals' coverage ± one MC SE")
    print("| cell (true E, p) | rho | E: Wald cut (old) | E: now | paired now - old | p: Wald cut (old) "
          "| p: now | paired now - old | E at a bound / p at a bound (fits) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name in args.cells.split(","):
        E, p = CELLS[name]
        for rho in (float(r) for r in args.rho.split(",")):
            rng = np.random.default_rng([args.seed, int(1000 * rho), int(100 * E), int(-10 * p)])
            rows = []
            for _ in range(args.runs):
                old, now, rho_hat, fit = one_run(E, p, rho, rng)
                at = " ".join(fit.warnings)
                rows.append((held(old["E"], E), held(now["E"], E), held(old["p"], p), held(now["p"], p),
                             "parameter E is at" in at, "parameter p is at" in at))
            r = np.array(rows, dtype=float)
            print(f"| {name} | {rho:g} | {rate(r[:, 0])} | {rate(r[:, 1])} | {paired(r[:, 1], r[:, 0])} | "
                  f"{rate(r[:, 2])} | {rate(r[:, 3])} | {paired(r[:, 3], r[:, 2])} | "
                  f"{100 * r[:, 4].mean():.0f}% / {100 * r[:, 5].mean():.0f}% |", flush=True)


if __name__ == "__main__":
    main()

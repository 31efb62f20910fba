"""Transitions on trajectories whose errors are correlated, as a weight statistic's are along a run.

Synthetic runs of 44 checkpoints (log-spaced to 512, then every 30 steps to 1120, as the mini
suite's long runs) with AR(1) errors of coefficient rho:
- false transitions: a smooth curve (quadratic in log step), share of runs where one is reported;
- coverage: one planted kink at step 300, share of found kinks whose 95% interval holds it.
scalefit's AR(1) search (REML rho per fit, sieve bootstrap drawing rho from its likelihood) beside
the peer, the same search with independent errors (`rho=0`: ordinary least squares and the
residual bootstrap, what `scalefit transitions` did before).

    python bench/bench_transition_intervals.py --runs 150 --bootstrap 100
"""
from __future__ import annotations

import argparse
import time
import warnings

import numpy as np

from scalefit.scaling.trajectories import ar1
from scalefit.scaling.trajectories.segmented import find_transitions

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
        search = find_transitions(X, y, n_bootstrap=n_bootstrap, seed=r, rho=fixed_rho)
        if not search.best.k:
            continue
        j = int(np.argmin(np.abs(search.best.breakpoints - KINK)))
        lo, hi = search.intervals[j]
        inside.append(lo <= KINK <= hi)
        widths.append(hi - lo)
    return float(np.mean(inside)), len(inside), float(np.median(widths))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=150)
    parser.add_argument("--bootstrap", type=int, default=100)
    parser.add_argument("--rho", default="0,0.5,0.8")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
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

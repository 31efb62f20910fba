"""Chinchilla fit on Epoch's 240 points: scalefit's fit_law vs the Hoffmann/Besiroglu recipe.

Peer (Hoffmann et al. 2022; Besiroglu et al. 2024): L = exp(e) + exp(a)/N^alpha + exp(b)/D^beta,
summed Huber(delta=1e-3) on log(L) - logsumexp(...), scipy L-BFGS-B with the analytic gradient from
every point of the 4500-start grid alpha, beta in 0..2 step 0.5, e in -1..1 step 0.5, a, b in
0..25 step 5; the best final objective wins. Both run in one process, BLAS at one thread.

    python bench/bench_chinchilla_fit.py [--anchors ../shared/anchors] [--bootstrap 1000]
"""
from __future__ import annotations

import argparse
import itertools
import time
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.optimize import minimize
from scipy.special import logsumexp
from threadpoolctl import threadpool_limits

from scalefit.scaling.laws.fit import fit_law
from scalefit.scaling.objective import huber, huber_grad

DELTA = 1e-3


def load(anchors: Path) -> pd.DataFrame:
    df = pd.read_csv(anchors / "scaling" / "epoch_chinchilla_svg_extracted_data.csv")
    df = df[df["loss"] < df["loss"].nlargest(5).min()]
    return pd.DataFrame({"params": df["Model Size"], "flops": df["Training FLOP"],
                         "loss": df["loss"]})


def recipe_objective(x, logN, logD, logL):
    """Summed Huber of log L - LSE(a - alpha log N, b - beta log D, e), and its gradient."""
    a, b, e, alpha, beta = x
    terms = np.stack([a - alpha * logN, b - beta * logD, np.full_like(logN, e)])
    lse = logsumexp(terms, axis=0)
    r = logL - lse
    w = np.exp(terms - lse)  # softmax weights: d lse / d term
    g = -huber_grad(r, DELTA)  # d huber / d lse
    grad = np.array([np.sum(g * w[0]), np.sum(g * w[1]), np.sum(g * w[2]),
                     np.sum(g * w[0] * -logN), np.sum(g * w[1] * -logD)])
    return float(np.sum(huber(r, DELTA))), grad


def recipe_fit(runs: pd.DataFrame):
    logN = np.log(runs["params"].to_numpy(float))
    logD = np.log(runs["flops"].to_numpy(float) / (6 * runs["params"].to_numpy(float)))
    logL = np.log(runs["loss"].to_numpy(float))
    grid = itertools.product(np.arange(0, 2.01, 0.5), np.arange(0, 2.01, 0.5),
                             np.arange(-1, 1.01, 0.5), np.arange(0, 25.1, 5), np.arange(0, 25.1, 5))
    best, n_starts = None, 0
    for alpha, beta, e, a, b in grid:
        n_starts += 1
        res = minimize(recipe_objective, np.array([a, b, e, alpha, beta]), jac=True,
                       args=(logN, logD, logL), method="L-BFGS-B")
        if best is None or res.fun < best.fun:
            best = res
    a, b, e, alpha, beta = best.x
    return {"E": np.exp(e), "A": np.exp(a), "B": np.exp(b), "alpha": alpha, "beta": beta}, \
        float(best.fun), n_starts


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--anchors", default=str(Path(__file__).resolve().parents[2] / "shared"
                                                 / "anchors"))
    parser.add_argument("--bootstrap", type=int, default=1000)
    args = parser.parse_args()
    runs = load(Path(args.anchors))
    print(f"data: {len(runs)} runs (Epoch SVG extraction, 5 highest losses dropped)", flush=True)
    with threadpool_limits(limits=1):
        fit_law(runs, "chinchilla", n_bootstrap=0)  # warm imports and caches for both contenders
        t0 = time.perf_counter()
        ours = fit_law(runs, "chinchilla", n_bootstrap=0)
        t_ours = time.perf_counter() - t0
        print(f"scalefit fit_law: {t_ours:.3f} s, objective {ours.objective:.10f}, "
              f"starts at best {ours.extra['n_starts_at_best']}/{ours.extra['n_starts']}, "
              + ", ".join(f"{k}={v:.5g}" for k, v in ours.values().items()), flush=True)
        t0 = time.perf_counter()
        peer, peer_obj, n_starts = recipe_fit(runs)
        t_peer = time.perf_counter() - t0
        print(f"recipe L-BFGS-B x {n_starts} starts: {t_peer:.3f} s, objective {peer_obj:.10f}, "
              + ", ".join(f"{k}={v:.5g}" for k, v in peer.items()), flush=True)
        print(f"speed-up: {t_peer / t_ours:.1f}x; objective ours - recipe = "
              f"{ours.objective - peer_obj:+.3e} ({'no worse' if ours.objective <= peer_obj + 1e-12 else 'WORSE'})",
              flush=True)
        if args.bootstrap:
            t0 = time.perf_counter()
            boot = fit_law(runs, "chinchilla", n_bootstrap=args.bootstrap, seed=0)
            t_boot = time.perf_counter() - t0 - t_ours
            print(f"bootstrap: {args.bootstrap} resamples in {t_boot:.2f} s "
                  f"({1000 * t_boot / args.bootstrap:.2f} ms each), "
                  f"{boot.extra['bootstrap']['n_failed']} failed; bootstrap se "
                  + ", ".join(f"{k}={p.bootstrap_stderr:.4g}" for k, p in boot.params.items()),
                  flush=True)


if __name__ == "__main__":
    main()

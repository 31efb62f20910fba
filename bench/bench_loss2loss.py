"""Loss-to-loss fit time on Brandfonbrener et al.'s full train-to-train table (sweep.csv).

Ours: scalefit's fit_loss_to_loss for all 30 ordered pairs of the 6 pre-training sets (per-dataset
Kaplan L(N,D)+E fits for E_x, E_y, then the relation), and 1000 bootstrap resamples of one pair
(closed form over all resamples at once; and the Huber method, one refit per resample).
Peer, side by side in the same process: the paper's notebook step (np.polyfit of log(y - E_y) on
log(x - E_x) per pair, and per bootstrap resample in a Python loop), and scipy's curve_fit of
L_y = K (L_x - E_x)^kappa + E_y with E fixed. BLAS at one thread.

    python bench/bench_loss2loss.py [--anchors ../shared/anchors] [--bootstrap 1000]
"""
from __future__ import annotations

import argparse
import itertools
import time
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.optimize import curve_fit
from threadpoolctl import threadpool_limits

from scalefit.scaling.relations.loss2loss import fit_loss_to_loss, fit_shifted_power, pair_losses


def timed(func, repeat=1):
    """Best wall time of `repeat` calls, and the last result."""
    best, out = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = func()
        best = min(best, time.perf_counter() - t0)
    return best, out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--anchors", type=Path,
                    default=Path(__file__).resolve().parents[1].parent / "shared" / "anchors")
    ap.add_argument("--bootstrap", type=int, default=1000)
    args = ap.parse_args()
    sweep = pd.read_csv(args.anchors / "loss2loss" / "sweep.csv")
    datasets = sorted(sweep["data"].unique())
    pairs = {(a, b): pair_losses(sweep, "val_loss", "val_loss", "train-to-train", x_from=a,
                                 y_from=b, source="sweep.csv")
             for a, b in itertools.permutations(datasets, 2)}
    n_pairs = sum(len(lp.pairs) for lp in pairs.values())
    print(f"sweep.csv: {len(sweep)} runs, {len(datasets)} datasets, {len(pairs)} ordered "
          f"train-to-train pairs ({n_pairs} (x, y) points)")

    with threadpool_limits(1):
        # 1. the whole table: E from Kaplan fits + the relation, every ordered pair
        t_full, fits = timed(lambda: {k: fit_loss_to_loss(lp) for k, lp in pairs.items()})
        E = {}
        for (a, b), r in fits.items():
            E[a], E[b] = r.value("E_x"), r.value("E_y")

        # 2. the relation alone with E known: ours (lmfit) vs polyfit vs curve_fit
        def ours_relation():
            return [fit_shifted_power(lp.pairs["x"], lp.pairs["y"], E_x=E[a], E_y=E[b])
                    for (a, b), lp in pairs.items()]

        def peer_polyfit():
            return [np.polyfit(np.log(lp.pairs["x"] - E[a]), np.log(lp.pairs["y"] - E[b]), 1)
                    for (a, b), lp in pairs.items()]

        def peer_curve_fit():
            out = []
            for (a, b), lp in pairs.items():
                def law(x, K, kappa, ex=E[a], ey=E[b]):
                    return K * (x - ex) ** kappa + ey
                out.append(curve_fit(law, lp.pairs["x"], lp.pairs["y"], p0=(1.0, 1.0))[0])
            return out

        t_rel, rel = timed(ours_relation, 3)
        t_poly, poly = timed(peer_polyfit, 3)
        t_cf, _ = timed(peer_curve_fit, 3)
        worst = max(abs(r.value("kappa") - p[0]) for r, p in zip(rel, poly))

        # 3. 1000 bootstrap resamples of one pair (FineWeb-Edu -> StarCoder)
        key = ("fineweb-edu-100b", "starcoder")
        x = pairs[key].pairs["x"].to_numpy()
        y = pairs[key].pairs["y"].to_numpy()
        ex, ey, n = E[key[0]], E[key[1]], args.bootstrap
        t_boot, boot = timed(lambda: fit_shifted_power(x, y, E_x=ex, E_y=ey, n_bootstrap=n))
        t_hub, _ = timed(lambda: fit_shifted_power(x, y, E_x=ex, E_y=ey, method="huber",
                                                   n_bootstrap=n))

        def peer_boot():
            rng = np.random.default_rng(0)
            u, v = np.log(x - ex), np.log(y - ey)
            out = np.empty(n)
            for i in range(n):
                idx = rng.integers(0, len(x), len(x))
                out[i] = np.polyfit(u[idx], v[idx], 1)[0]
            return out

        t_peer_boot, peer_kappa = timed(peer_boot)

    print(f"\n[1] full train-to-train table, E from per-dataset Kaplan fits + relation, "
          f"{len(pairs)} pairs: {t_full:.2f} s ({1000 * t_full / len(pairs):.0f} ms/pair)")
    print(f"[2] relation alone, E known, {len(pairs)} pairs (best of 3):")
    print(f"    scalefit fit_shifted_power (lmfit, stderr): {1000 * t_rel:.1f} ms")
    print(f"    peer np.polyfit (the paper's notebooks):     {1000 * t_poly:.1f} ms   "
          f"ratio scalefit/peer {t_rel / t_poly:.1f}x; max |kappa diff| {worst:.1e}")
    print(f"    peer scipy curve_fit (E fixed):              {1000 * t_cf:.1f} ms   "
          f"ratio scalefit/peer {t_rel / t_cf:.2f}x")
    lo, hi = boot.params["kappa"].ci95
    plo, phi = np.percentile(peer_kappa, [2.5, 97.5])
    print(f"[3] {n} bootstrap resamples, {key[0]} -> {key[1]} ({len(x)} pairs):")
    print(f"    scalefit closed form, all resamples at once: {1000 * t_boot:.1f} ms  "
          f"kappa 95% CI [{lo:.4f}, {hi:.4f}]")
    print(f"    scalefit Huber, one refit per resample:      {1000 * t_hub:.1f} ms")
    print(f"    peer np.polyfit loop:                        {1000 * t_peer_boot:.1f} ms  "
          f"kappa 95% CI [{plo:.4f}, {phi:.4f}]   ratio peer/scalefit "
          f"{t_peer_boot / t_boot:.1f}x")


if __name__ == "__main__":
    main()

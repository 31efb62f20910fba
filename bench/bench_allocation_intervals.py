"""Coverage of the allocation's 95% intervals, the numbers `compare` and `reconcile` lead with.

The parameters' and the observed-loss intervals have known-truth audits (tests/test_calibrate.py,
bench_law_intervals.py); the allocation exponent a (N* ~ C^a), the compute-optimal N* and D* and
the optimal loss at a projected budget did not. Synthetic runs come from Chinchilla's form
L = E + A/N^alpha + B/D^beta with known constants and log-normal noise; each replication fits as
`scalefit fit` does (`fit_law`, 1000 resamples) and checks whether each interval holds the truth:
- chinchilla (Approach 3) on two grids of sizes x tokens per parameter: a, and N*, D* and the
  optimal loss at 10x the largest fitted compute;
- isoflop (Approach 2, parabola and Akima) on IsoFLOP designs of 5-12 budgets x 9 sizes: a, with
  scalefit's interval (draws of the line through the budget optima from t(n-2) with its HC3
  covariance, `isoflop.line_draws`) beside the peer it replaced, a pairs bootstrap of the optima;
- a reconcile step: two conditions with known a fitted separately, and the interval of the change
  in a from their draws paired at random (`reconcile.change_interval`), for both kinds of draws.
The truth is computed here, independently of scalefit's allocation code: a = beta / (alpha +
beta), and N*(C) by minimizing the true law along D = C / (6 N) numerically.
Coverage is the share of replications whose interval holds the truth; its Monte Carlo SE is
sqrt(p (1 - p) / reps), 1.5 points at 95% of 200.

    OMP_NUM_THREADS=1 python bench/bench_allocation_intervals.py --reps 200
"""
from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # before numpy: two processes on two cores, one thread each

import argparse  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from multiprocessing import Pool  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from scipy.optimize import minimize_scalar  # noqa: E402

from scalefit.scaling.laws.fit import fit_law  # noqa: E402

TRUTH = {"E": 1.8, "A": 480.0, "B": 2000.0, "alpha": 0.35, "beta": 0.37}
A_TRUE = TRUTH["beta"] / (TRUTH["alpha"] + TRUTH["beta"])
GRIDS = {  # Approach 3 designs: sizes, tokens per parameter, noise sd (log)
    "chinchilla 5x4 sd 0.02": (np.geomspace(2e7, 5e8, 5), (5, 10, 20, 40), 0.02),
    "chinchilla 6x5 sd 0.01": (np.geomspace(2e7, 3e9, 6), (5, 10, 20, 40, 80), 0.01),
}
ISOFLOP = {  # Approach 2 designs: method, budgets, sizes per budget (span either side), noise sd
    "isoflop parabola 7 budgets sd 0.005": ("parabola", np.geomspace(1e18, 1e21, 7), 9, 8.0, 0.005),
    "isoflop parabola 5 budgets sd 0.005": ("parabola", np.geomspace(1e18, 1e21, 5), 9, 8.0, 0.005),
    "isoflop akima 7 budgets sd 0.005": ("akima", np.geomspace(1e18, 1e21, 7), 9, 8.0, 0.005),
    "isoflop akima 12 budgets sd 0.002": ("akima", np.geomspace(1e17, 1e21, 12), 9, 8.0, 0.002),
}
# a reconcile step: two conditions fitted separately (Porian-like: 12 budgets, Akima), the
# second with beta 0.30 (a = 0.4615), and the 95% interval of the change in a
SECOND = {**TRUTH, "beta": 0.30}
CHANGES = {"change in a, akima 12 budgets sd 0.002": ISOFLOP["isoflop akima 12 budgets sd 0.002"]}
PROJECTED = 10.0  # x the largest fitted compute


def true_loss(N, D, t=TRUTH):
    return t["E"] + t["A"] / np.asarray(N, float) ** t["alpha"] + t["B"] / np.asarray(D, float) ** t["beta"]


def true_optimum(flops: float, truth=TRUTH) -> tuple[float, float, float]:
    """(N*, D*, L*) of the true law at compute ``flops`` (C = 6 N D), by a 1-d minimization."""
    def loss_at(log_n):
        n = np.exp(log_n)
        return float(true_loss(n, flops / (6 * n), truth))
    best = minimize_scalar(loss_at, bounds=(np.log(1e3), np.log(flops / 6 / 1e3)), method="bounded",
                           options={"xatol": 1e-10})
    n = float(np.exp(best.x))
    return n, flops / (6 * n), float(best.fun)


def grid_runs(rng, sizes, tpp, sd) -> pd.DataFrame:
    N, ratio = np.meshgrid(sizes, tpp, indexing="ij")
    N, D = N.ravel(), (N * ratio).ravel()
    return pd.DataFrame({"params": N, "tokens": D,
                         "loss": true_loss(N, D) * np.exp(rng.normal(0, sd, N.size))})


def isoflop_runs(rng, budgets, per_budget, span, sd, truth=TRUTH) -> pd.DataFrame:
    rows = []
    for c in budgets:
        n_opt = true_optimum(c, truth)[0]
        for n in n_opt * np.geomspace(1 / span, span, per_budget):
            rows.append({"params": n, "flops": c, "tokens": c / (6 * n)})
    runs = pd.DataFrame(rows)
    runs["loss"] = (true_loss(runs["params"], runs["tokens"], truth)
                    * np.exp(rng.normal(0, sd, len(runs))))
    return runs


def pairs_interval(fit, n_bootstrap: int, seed: int) -> tuple[tuple[float, float], np.ndarray]:
    """The peer: the pairs bootstrap of the budget optima that scalefit used before 2026-12-05
    (percentile interval of the refitted slopes), with its draws."""
    optima = pd.DataFrame(fit.extra["optima"])
    optima = optima[np.isfinite(optima["N_opt"])]
    x, y = np.log(optima["flops"].to_numpy()), np.log(optima["N_opt"].to_numpy())
    idx = np.random.default_rng(seed).integers(0, x.size, size=(n_bootstrap, x.size))
    xs, ys = x[idx], y[idx]
    xc = xs - xs.mean(axis=1, keepdims=True)
    with np.errstate(all="ignore"):
        draws = (xc * ys).sum(axis=1) / (xc ** 2).sum(axis=1)
    draws = draws[np.isfinite(draws)]
    return tuple(np.percentile(draws, [2.5, 97.5])), draws


def holds(interval, truth) -> float:
    lo, hi = interval
    return float(lo <= truth <= hi) if np.isfinite(lo) and np.isfinite(hi) else np.nan


def one(args) -> dict:
    cell, r, n_bootstrap = args
    rng = np.random.default_rng(7000 + r)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if cell in GRIDS:
            runs = grid_runs(rng, *GRIDS[cell])
            largest = float((6 * runs["params"] * runs["tokens"]).max())
            fit = fit_law(runs, "chinchilla", n_bootstrap=n_bootstrap, seed=r,
                          budgets=[PROJECTED * largest])
            alloc = fit.extra["allocation"]
            row = next(b for b in alloc["budgets"] if np.isclose(b["flops"], PROJECTED * largest))
            n_opt, d_opt, l_opt = true_optimum(PROJECTED * largest)
            return {"cell": cell, "a": holds(alloc["a_ci95"], A_TRUE),
                    "N*": holds(row["N_opt_ci95"], n_opt), "D*": holds(row["D_opt_ci95"], d_opt),
                    "L*": holds(row["loss_ci95"], l_opt),
                    "a_width": alloc["a_ci95"][1] - alloc["a_ci95"][0]}
        if cell in CHANGES:
            return change(cell, rng, r, n_bootstrap)
        method, budgets, per_budget, span, sd = ISOFLOP[cell]
        runs = isoflop_runs(rng, budgets, per_budget, span, sd)
        fit = fit_law(runs[["params", "flops", "loss"]], "isoflop", n_bootstrap=n_bootstrap, seed=r,
                      isoflop_method=method)
        lo, hi = fit.params["a"].ci95
        (plo, phi), _ = pairs_interval(fit, n_bootstrap, r)
        return {"cell": cell, "a": holds((lo, hi), A_TRUE), "a_width": hi - lo,
                "a (pairs peer)": holds((plo, phi), A_TRUE), "peer_width": phi - plo}


def change(cell, rng, r, n_bootstrap) -> dict:
    """One reconcile step on known truth: each condition fitted on its own runs, the change's
    interval from the two conditions' draws paired at random (reconcile.change_interval)."""
    from scalefit.scaling.laws.reconcile import change_interval
    method, budgets, per_budget, span, sd = CHANGES[cell]
    fits = [fit_law(isoflop_runs(rng, budgets, per_budget, span, sd, truth)[["params", "flops", "loss"]],
                    "isoflop", n_bootstrap=n_bootstrap, seed=r, isoflop_method=method)
            for truth in (TRUTH, SECOND)]
    truth = SECOND["beta"] / (SECOND["alpha"] + SECOND["beta"]) - A_TRUE
    lo, hi = change_interval(fits[0].allocation_draws["a"], fits[1].allocation_draws["a"], seed=r)
    peer = [pairs_interval(f, n_bootstrap, r)[1] for f in fits]
    plo, phi = change_interval(peer[0], peer[1], seed=r)
    return {"cell": cell, "a": holds((lo, hi), truth), "a_width": hi - lo,
            "a (pairs peer)": holds((plo, phi), truth), "peer_width": phi - plo}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=200)
    parser.add_argument("--bootstrap", type=int, default=1000)
    parser.add_argument("--cells", nargs="*", default=[*GRIDS, *ISOFLOP, *CHANGES])
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    t0 = time.perf_counter()
    jobs = [(cell, r, args.bootstrap) for cell in args.cells for r in range(args.reps)]
    with Pool(args.workers) as pool:
        rows = pd.DataFrame(pool.map(one, jobs, chunksize=4))
    print(f"true a = {A_TRUE:.4f}; {args.reps} replications per cell, {args.bootstrap} resamples per "
          f"fit; coverage of the 95% intervals (share holding the truth) +- Monte Carlo SE")
    out = []
    for cell, part in rows.groupby("cell", sort=False):
        line = {"cell": cell}
        for key in ("a", "a (pairs peer)", "N*", "D*", "L*"):
            if key in part and part[key].notna().any():
                hits = part[key].dropna()
                p = hits.mean()
                line[key] = f"{100 * p:.1f} +- {100 * np.sqrt(p * (1 - p) / len(hits)):.1f}"
        line["a width (median)"] = f"{part['a_width'].median():.3f}"
        if "peer_width" in part and part["peer_width"].notna().any():
            ratio = part["a_width"].median() / part["peer_width"].median()
            line["width vs peer"] = f"{ratio:.2f}x"
        out.append(line)
    print(pd.DataFrame(out).fillna("-").to_string(index=False))
    print(f"({time.perf_counter() - t0:.0f} s)")


if __name__ == "__main__":
    main()

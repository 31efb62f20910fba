"""Coverage of a fitted law's 95% prediction interval for an observed run's loss, with few runs.

Synthetic runs from Chinchilla's form L = E + A/N^alpha + B/D^beta with known constants and
multiplicative log-normal noise, on two grids: 5 sizes x 4 tokens-per-parameter (20 runs, noise
sd 0.02) and 6 x 5 (30 runs, noise sd 0.01). Each replication fits the law with its bootstrap
(`fit_law`, as `scalefit fit` does), asks `prediction_intervals` for the observed loss at 1x, 10x
and 100x the largest fitted compute (20 tokens per parameter), and draws one observation there.

Two estimates of the same coverage:
- hits: the share of the drawn observations inside their interval (what an audit counts); its
  Monte Carlo SE is sqrt(p (1 - p) / reps), about 1.3 points at 95% of 300;
- conditional: the probability that an observation falls inside, given the interval, which is
  known here (Phi(log(hi / L) / sd) - Phi(log(lo / L) / sd)), averaged over replications. Same
  expectation, without the noise of the one observation per interval: its SE is 3-4x smaller.

scalefit's interval (each bootstrap draw's prediction plus a residual drawn from the fit's log
residuals scaled by sqrt(n / (n - p))) beside two peers built from the same fit and draws, the
remedies for small-sample under-coverage of a residual bootstrap: residuals adjusted for leverage,
r_i / sqrt(1 - h_ii) with h from the Jacobian of the law at the optimum (Davison & Hinkley 1997,
eq. 6.9), and the normal-theory scatter s * t(n - p), s^2 = sum r^2 / (n - p).

Replication r uses the seeds of the interval audit (data 1000 + r, bootstrap r, the observations
after two budget-row draws), so `--reps 300` reproduces its fits and its observations; `--first 300`
takes fresh ones (replications 300 to 599).

    OMP_NUM_THREADS=1 python bench/bench_law_intervals.py --reps 300
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
from scipy.stats import norm  # noqa: E402

from scalefit.scaling.laws.fit import fit_law  # noqa: E402
from scalefit.scaling.laws.projection import _draw_values, prediction_intervals  # noqa: E402
from scalefit.scaling.laws.registry import law_for  # noqa: E402

TRUTH = {"E": 1.8, "A": 480.0, "B": 2000.0, "alpha": 0.35, "beta": 0.37}
CELLS = {  # sizes, tokens per parameter, noise sd (log)
    "5x4": (np.geomspace(2e7, 5e8, 5), (5, 10, 20, 40), 0.02),
    "6x5": (np.geomspace(2e7, 3e9, 6), (5, 10, 20, 40, 80), 0.01),
}
DISTANCES = (1.0, 10.0, 100.0)  # multiples of the largest fitted compute
METHODS = ("scalefit", "leverage", "t scatter")


def chinchilla(N, D):
    return TRUTH["E"] + TRUTH["A"] / N ** TRUTH["alpha"] + TRUTH["B"] / D ** TRUTH["beta"]


def leverages(result) -> np.ndarray:
    """Diagonal of the hat matrix J (J'J)^+ J' of the fit, J the law's log-loss Jacobian in its
    varied parameters at the optimum (central differences); capped at 0.99."""
    best = result.model_result
    names = law_for(result.law).free_params()
    values = {name: best.params[name].value for name in names}
    columns = []
    for name in (n for n in names if n in best.var_names):
        step = 1e-6 * max(1.0, abs(values[name]))
        up = best.model.func(**best.userkws, **{**values, name: values[name] + step})
        down = best.model.func(**best.userkws, **{**values, name: values[name] - step})
        columns.append((up - down) / (2 * step))
    u, s, _ = np.linalg.svd(np.column_stack(columns), full_matrices=False)
    return np.minimum(np.sum(u[:, s > 1e-8 * s[0]] ** 2, axis=1), 0.99)


def peer_intervals(result, log_preds: np.ndarray, seed: int) -> dict:
    """(lo, hi) in log loss of each peer from the same draws' predictions (draws x points)."""
    resid = np.asarray(result.model_result.residual, float)
    dof = resid.size - law_for(result.law).n_free
    rng = np.random.default_rng(seed)
    scatter = {"leverage": rng.choice(resid / np.sqrt(1 - leverages(result)), size=log_preds.shape),
               "t scatter": np.sqrt(np.sum(resid ** 2) / dof) * rng.standard_t(dof, log_preds.shape)}
    return {name: np.percentile(log_preds + e, [2.5, 97.5], axis=0) for name, e in scatter.items()}


def replicate(args) -> dict:
    cell, r, n_bootstrap = args
    sizes, tpp, sd = CELLS[cell]
    grid_n, grid_t = np.meshgrid(sizes, tpp, indexing="ij")
    N = grid_n.ravel()
    D = N * grid_t.ravel()
    c_max = 6.0 * float(np.max(N * D))
    n_held = np.sqrt(np.array(DISTANCES) * c_max / (6.0 * 20))
    d_held = 20 * n_held
    truth = chinchilla(n_held, d_held)
    rng = np.random.default_rng(1000 + r)
    L = chinchilla(N, D) * np.exp(rng.normal(0, 1, N.size) * sd)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = fit_law(pd.DataFrame({"params": N, "tokens": D, "loss": L}), "chinchilla",
                         n_bootstrap=n_bootstrap, seed=r, budgets=[10 * c_max, 100 * c_max])
    rng.normal(size=2)  # the audit drew an observation at each budget row first
    observed = truth * np.exp(rng.normal(0, 1, len(DISTANCES)) * sd)
    pi = prediction_intervals(result, n_held, d_held, seed=r)
    bounds = {"scalefit": np.log([pi["pi95_lo"], pi["pi95_hi"]])}
    law = law_for(result.law)
    log_preds = np.log([law.predict(v, n_held, d_held, 6.0) for v in _draw_values(result)])
    bounds.update(peer_intervals(result, log_preds, seed=r))
    out = {}
    for name, (lo, hi) in bounds.items():
        out[name, "hits"] = (lo <= np.log(observed)) & (np.log(observed) <= hi)
        out[name, "conditional"] = norm.cdf((hi - np.log(truth)) / sd) - norm.cdf((lo - np.log(truth)) / sd)
        out[name, "width"] = hi - lo
    return out


def summary(rows: list[dict], name: str, what: str, j: int) -> tuple[float, float]:
    x = np.array([row[name, what][j] for row in rows], float)
    return float(x.mean()), float(x.std(ddof=1) / np.sqrt(x.size))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--reps", type=int, default=100, help="replications per cell (default 100)")
    ap.add_argument("--first", type=int, default=0, help="first replication (its seeds; default 0)")
    ap.add_argument("--bootstrap", type=int, default=400, help="bootstrap resamples per fit")
    ap.add_argument("--cells", default=",".join(CELLS), help="comma-separated: " + ", ".join(CELLS))
    ap.add_argument("--procs", type=int, default=2, help="worker processes (default 2)")
    args = ap.parse_args()
    print(f"{args.reps} replications per cell (from {args.first}), {args.bootstrap} bootstrap resamples "
          "per fit; coverage in % with one Monte Carlo SE; width: median of log(hi / lo)")
    header = ("| cell | distance | scalefit hits | scalefit conditional | leverage conditional | "
              "t scatter conditional | width scalefit / leverage / t |")
    with Pool(args.procs) as pool:
        for cell in args.cells.split(","):
            start = time.perf_counter()
            work = [(cell, r, args.bootstrap) for r in range(args.first, args.first + args.reps)]
            rows = pool.map(replicate, work, chunksize=1)
            seconds = time.perf_counter() - start
            sizes, tpp, sd = CELLS[cell]
            print(f"\n{cell}: {len(sizes) * len(tpp)} runs, noise sd {sd}, {seconds:.0f} s")
            print(header)
            print("|---" * 7 + "|")
            for j, distance in enumerate(DISTANCES):
                hits = "{:.1f} ± {:.1f}".format(*(100 * v for v in summary(rows, "scalefit", "hits", j)))
                cond = ["{:.1f} ± {:.1f}".format(*(100 * v for v in summary(rows, m, "conditional", j)))
                        for m in METHODS]
                widths = " / ".join(f"{np.median([row[m, 'width'][j] for row in rows]):.4f}" for m in METHODS)
                print(f"| {cell} | {distance:g}x | {hits} | {' | '.join(cond)} | {widths} |")


if __name__ == "__main__":
    main()

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

`--noise constant,falls,grows` makes the runs' noise change with model size instead: sd = the
cell's sd x (N / the fitted sizes' geometric mean) ** (0, -slope, +slope) (`--slope`, default
0.15), the same standard-normal draws in every model, the held-out run observed (and its
conditional coverage taken) at its own sd. From the same fits and draws it scores three scatters
of `scaling/laws/scatter.py`: one scale at every size (the interval before the scatter was
sized), the sized scatter scalefit draws (log sd linear in log N, the slope drawn from its
Fisher standard error), and the same with the slope drawn from pairs resamples of the runs'
(log N, residual); each with its paired difference from one scale, replication by replication.

    OMP_NUM_THREADS=1 python bench/bench_law_intervals.py --reps 300
    OMP_NUM_THREADS=1 python bench/bench_law_intervals.py --reps 200 --noise constant,falls,grows
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
from scalefit.scaling.laws.scatter import fit_scatter  # noqa: E402

TRUTH = {"E": 1.8, "A": 480.0, "B": 2000.0, "alpha": 0.35, "beta": 0.37}
CELLS = {  # sizes, tokens per parameter, noise sd (log)
    "5x4": (np.geomspace(2e7, 5e8, 5), (5, 10, 20, 40), 0.02),
    "6x5": (np.geomspace(2e7, 3e9, 6), (5, 10, 20, 40, 80), 0.01),
}
DISTANCES = (1.0, 10.0, 100.0)  # multiples of the largest fitted compute
METHODS = ("scalefit", "leverage", "t scatter")
# noise sd of a run of N parameters: the cell's sd times (N / geometric mean of the fitted
# sizes) ** slope, so the fitted runs scatter about as much as in the constant cell
NOISE = {"constant": 0.0, "falls": -1.0, "grows": 1.0}  # sign of the slope (--slope sets its size)


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


def noise_sd(cell: str, noise: str, slope: float, N) -> np.ndarray:
    """The log-noise sd of runs of ``N`` parameters in ``cell`` under ``noise``."""
    sizes, _, sd = CELLS[cell]
    reference = np.exp(np.mean(np.log(sizes)))
    return sd * (np.asarray(N, float) / reference) ** (NOISE[noise] * slope)


BEFORE = "one scale (before)"
SCATTER_RULES = {  # name: fit_scatter's options
    "one scale (before)": {"sized": False},
    "sized (scalefit)": {"sized": True, "slope_draws": "fisher"},
    "sized, bootstrap slope": {"sized": True, "slope_draws": "bootstrap"},
}


def sized_intervals(result, log_preds: np.ndarray, x_target, seed: int) -> dict:
    """(lo, hi) in log loss with each scatter of `scaling/laws/scatter.py`, the same draws."""
    resid = np.asarray(result.model_result.residual, float)
    x = np.log(result.model_result.userkws["N"])
    out = {}
    for name, options in SCATTER_RULES.items():
        scatter = fit_scatter(resid, x, law_for(result.law).n_free, delta=result.extra["delta"],
                              **options)
        e = scatter.draw(np.random.default_rng(seed), log_preds.shape, x_target,
                         slope_rng=np.random.default_rng([seed, 1]))
        out[name] = np.percentile(log_preds + e, [2.5, 97.5], axis=0)
        out[name, "slope"] = scatter.slope
        out[name, "sized"] = scatter.model != "one scale at every size"
    return out


def replicate(args) -> dict:
    cell, r, n_bootstrap, *heteroscedastic = args
    noise, slope = heteroscedastic or ("constant", 0.0)
    sizes, tpp, _ = CELLS[cell]
    grid_n, grid_t = np.meshgrid(sizes, tpp, indexing="ij")
    N = grid_n.ravel()
    D = N * grid_t.ravel()
    c_max = 6.0 * float(np.max(N * D))
    n_held = np.sqrt(np.array(DISTANCES) * c_max / (6.0 * 20))
    d_held = 20 * n_held
    truth = chinchilla(n_held, d_held)
    sd, sd_held = noise_sd(cell, noise, slope, N), noise_sd(cell, noise, slope, n_held)
    rng = np.random.default_rng(1000 + r)
    L = chinchilla(N, D) * np.exp(rng.normal(0, 1, N.size) * sd)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = fit_law(pd.DataFrame({"params": N, "tokens": D, "loss": L}), "chinchilla",
                         n_bootstrap=n_bootstrap, seed=r, budgets=[10 * c_max, 100 * c_max])
    rng.normal(size=2)  # the audit drew an observation at each budget row first
    observed = truth * np.exp(rng.normal(0, 1, len(DISTANCES)) * sd_held)
    pi = prediction_intervals(result, n_held, d_held, seed=r)
    bounds = {"scalefit": np.log([pi["pi95_lo"], pi["pi95_hi"]])}
    law = law_for(result.law)
    log_preds = np.log([law.predict(v, n_held, d_held, 6.0) for v in _draw_values(result)])
    bounds.update(peer_intervals(result, log_preds, seed=r))
    bounds.update(sized_intervals(result, log_preds, np.log(n_held), seed=r))
    out = {key: bounds.pop(key) for key in [k for k in bounds if isinstance(k, tuple)]}
    for name, (lo, hi) in bounds.items():
        out[name, "hits"] = (lo <= np.log(observed)) & (np.log(observed) <= hi)
        out[name, "conditional"] = (norm.cdf((hi - np.log(truth)) / sd_held)
                                    - norm.cdf((lo - np.log(truth)) / sd_held))
        out[name, "width"] = hi - lo
    return out


def summary(rows: list[dict], name: str, what: str, j: int) -> tuple[float, float]:
    x = np.array([row[name, what][j] for row in rows], float)
    return float(x.mean()), float(x.std(ddof=1) / np.sqrt(x.size))


def noise_table(pool, args) -> None:
    """Coverage and mean width of the interval under each noise model, the same seeds (so the
    same standard-normal draws, scaled by each model's sd) in every model, for each scatter
    rule from the same fits and draws."""
    print("| cell | noise | distance | sd at target / at fitted sizes' mean | scatter | hits | "
          "conditional | paired difference from one scale | mean width | sized in |")
    print("|---" * 10 + "|")
    for cell in args.cells.split(","):
        sizes = CELLS[cell][0]
        for noise in args.noise.split(","):
            start = time.perf_counter()
            work = [(cell, r, args.bootstrap, noise, args.slope)
                    for r in range(args.first, args.first + args.reps)]
            rows = pool.map(replicate, work, chunksize=1)
            seconds = time.perf_counter() - start
            c_max = 6.0 * float(np.max(sizes)) ** 2 * max(CELLS[cell][1])
            n_held = np.sqrt(np.array(DISTANCES) * c_max / (6.0 * 20))
            ratio = noise_sd(cell, noise, args.slope, n_held) / CELLS[cell][2]
            slopes = [row["sized (scalefit)", "slope"] for row in rows]
            for j, distance in enumerate(DISTANCES):
                for m in SCATTER_RULES:
                    hits = "{:.1f} ± {:.1f}".format(*(100 * v for v in summary(rows, m, "hits", j)))
                    cond = "{:.1f} ± {:.1f}".format(*(100 * v for v in summary(rows, m, "conditional", j)))
                    width = "{:.4f}".format(summary(rows, m, "width", j)[0])
                    sized = np.mean([row[m, "sized"] for row in rows])
                    diff = np.array([row[m, "conditional"][j] - row[BEFORE, "conditional"][j]
                                     for row in rows])
                    paired = "{:+.1f} ± {:.1f}".format(100 * diff.mean(),
                                                       100 * diff.std(ddof=1) / np.sqrt(diff.size))
                    print(f"| {cell} | {noise} | {distance:g}x | {ratio[j]:.2f} | {m} | {hits} | "
                          f"{cond} | {paired} | {width} | {100 * sized:.0f}% |")
            print(f"<!-- {cell} {noise}: {seconds:.0f} s; fitted slope mean {np.mean(slopes):+.3f}, "
                  f"sd {np.std(slopes):.3f} -->", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--reps", type=int, default=100, help="replications per cell (default 100)")
    ap.add_argument("--first", type=int, default=0, help="first replication (its seeds; default 0)")
    ap.add_argument("--bootstrap", type=int, default=400, help="bootstrap resamples per fit")
    ap.add_argument("--cells", default=",".join(CELLS), help="comma-separated: " + ", ".join(CELLS))
    ap.add_argument("--procs", type=int, default=2, help="worker processes (default 2)")
    ap.add_argument("--noise", default=None,
                    help="comma-separated noise models (" + ", ".join(NOISE) + "): the "
                    "coverage table by noise model instead of the peers' table")
    ap.add_argument("--slope", type=float, default=0.15,
                    help="|d log sd / d log N| of the falling and growing noise (default 0.15)")
    args = ap.parse_args()
    print(f"{args.reps} replications per cell (from {args.first}), {args.bootstrap} bootstrap resamples "
          "per fit; coverage in % with one Monte Carlo SE; width: "
          + ("mean" if args.noise else "median") + " of log(hi / lo)")
    if args.noise:
        with Pool(args.procs) as pool:
            noise_table(pool, args)
        return
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

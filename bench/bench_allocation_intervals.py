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
  in a from every pair of their draws (`reconcile.change_interval`), for both kinds of draws.
The truth is computed here, independently of scalefit's allocation code: a = beta / (alpha +
beta), and N*(C) by minimizing the true law along D = C / (6 N) numerically.
Coverage is the share of replications whose interval holds the truth; its Monte Carlo SE is
sqrt(p (1 - p) / reps), 1.5 points at 95% of 200.

    OMP_NUM_THREADS=1 python bench/bench_allocation_intervals.py --reps 200

--alternatives (the chinchilla cells only; the default run is unchanged): on the same runs and
seeds, beside the shipped interval of a (percentile of the pairs bootstrap):
- residual bootstrap: the design kept, centred log residuals resampled with replacement and scaled
  by sqrt(n/(n-p)), added to the fitted log loss; also its percentiles widened about a_hat by
  t(n-p)/z (same draws), and a variant on leverage-adjusted residuals r / sqrt(1 - h), centred;
- wild bootstrap: fitted log loss + r / sqrt(1 - h) x Rademacher sign;
  each refitted by the engine's own batched Huber refit from the fitted optimum
  (`bootstrap.batched_huber_refit` with per-resample targets; stragglers by `refit_reference`),
  percentile intervals;
- the delta method from the fit's own covariance (lmfit's, of alpha and beta; normal quantiles).
It also prints |a_hat - a_true|, the spread of a_hat over replications and the draws' median sd:

    OMP_NUM_THREADS=1 python bench/bench_allocation_intervals.py --alternatives --reps 200 \
        --cells "chinchilla 5x4 sd 0.02" "chinchilla 6x5 sd 0.01"

--diagnose (the chinchilla cells): why the shipped interval of a over-covers. The default run's
fits and resamples, their draws split by what each resample did (E, alpha or beta at a bound,
every size kept, distinct runs kept) beside the sd of a_hat over replications; --delta 1 refits
the same runs by least squares:

    OMP_NUM_THREADS=1 python bench/bench_allocation_intervals.py --diagnose --reps 200 \
        --cells "chinchilla 5x4 sd 0.02" "chinchilla 6x5 sd 0.01" [--delta 1]
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


def _design_refit(fit, runs, targets_fn, n_resamples: int, seed: int) -> np.ndarray:
    """Draws of a from refits of synthetic log losses on the fitted design: row b of
    ``targets_fn(fitted, residuals, leverage, rng, B)`` is resample b's log loss."""
    from scalefit.scaling.laws.bootstrap import batched_huber_refit, refit_reference
    from scalefit.scaling.laws.registry import law_for
    from scalefit.scaling.laws.runtable import as_run_table
    law = law_for("chinchilla")
    names = law.free_params()
    params = fit.model_result.params
    theta0 = np.array([params[n].value for n in names])
    bounds = (np.array([params[n].min for n in names], float),
              np.array([params[n].max for n in names], float))
    table = as_run_table(runs, "chinchilla")
    indep = {k: np.asarray(v, float) for k, v in table.variables(law.needs).items()}
    log_loss = np.log(np.asarray(table.L, float))

    def func(*theta, **x):
        return law.func(**x, **dict(zip(names, theta)))

    fitted = np.asarray(func(*theta0, **indep), float)
    resid = log_loss - fitted
    J = np.empty((fitted.size, theta0.size))  # log-prediction Jacobian for the leverage
    for j in range(theta0.size):
        h = 1e-6 * max(1.0, abs(theta0[j]))
        up, down = theta0.copy(), theta0.copy()
        up[j] += h
        down[j] -= h
        J[:, j] = (np.asarray(func(*up, **indep)) - np.asarray(func(*down, **indep))) / (2 * h)
    Q, _ = np.linalg.qr(J)
    leverage = np.clip((Q ** 2).sum(axis=1), 0.0, 0.99)
    rng = np.random.default_rng(10_000 + seed)
    targets = targets_fn(fitted, resid, leverage, rng, n_resamples)
    thetas, ok = batched_huber_refit(func, theta0, bounds, indep, targets, fit.extra["delta"],
                                     np.ones_like(targets))
    for i in np.flatnonzero(~ok):
        thetas[i], ok[i] = refit_reference(func, theta0, bounds, indep, targets[i],
                                           fit.extra["delta"])
    draws = np.full(n_resamples, np.nan)
    for i in np.flatnonzero(ok):
        paper = law.paper_values(dict(zip(names, thetas[i])))
        draws[i] = law.exponents(paper)[0]
    return draws


def residual_targets(fitted, resid, leverage, rng, B):
    n, p = resid.size, 5
    centred = (resid - resid.mean()) * np.sqrt(n / (n - p))
    return fitted + centred[rng.integers(0, n, size=(B, n))]


def modified_residual_targets(fitted, resid, leverage, rng, B):
    """Davison and Hinkley's modified residuals: r_i / sqrt(1 - h_i), centred, resampled."""
    n = resid.size
    mod = resid / np.sqrt(1.0 - leverage)
    mod = mod - mod.mean()
    return fitted + mod[rng.integers(0, n, size=(B, n))]


def wild_targets(fitted, resid, leverage, rng, B):
    signs = rng.choice([-1.0, 1.0], size=(B, resid.size))
    return fitted + signs * (resid / np.sqrt(1.0 - leverage))


def delta_interval(fit) -> tuple[float, float]:
    """a = beta / (alpha + beta), normal interval from lmfit's covariance of (alpha, beta)."""
    p = fit.model_result.params
    al, be = p["alpha"], p["beta"]
    if al.stderr is None or be.stderr is None or not np.isfinite([al.stderr, be.stderr]).all():
        return (np.nan, np.nan)
    rho = (al.correl or {}).get("beta", 0.0)
    s = al.value + be.value
    g = np.array([-be.value / s ** 2, al.value / s ** 2])
    cov = np.array([[al.stderr ** 2, rho * al.stderr * be.stderr],
                    [rho * al.stderr * be.stderr, be.stderr ** 2]])
    se = float(np.sqrt(g @ cov @ g))
    a_hat = be.value / s
    return (a_hat - 1.959964 * se, a_hat + 1.959964 * se)


def alternatives(cell, r, n_bootstrap, n_alt) -> dict:
    rng = np.random.default_rng(7000 + r)  # the same runs as the default run's cell
    runs = grid_runs(rng, *GRIDS[cell])
    fit = fit_law(runs, "chinchilla", n_bootstrap=n_bootstrap, seed=r)
    alloc = fit.extra["allocation"]
    a_hat = float(alloc["a"])
    row = {"cell": cell, "a_hat_err": abs(a_hat - A_TRUE), "a_hat_signed": a_hat - A_TRUE}
    intervals = {"pairs (shipped)": (tuple(alloc["a_ci95"]), fit.allocation_draws["a"])}
    methods = (("residual", residual_targets), ("wild", wild_targets),
               ("residual (leverage-adjusted)", modified_residual_targets))
    for name, fn in methods:
        draws = _design_refit(fit, runs, fn, n_alt, r)
        finite = draws[np.isfinite(draws)]
        intervals[name] = (tuple(np.percentile(finite, [2.5, 97.5])), finite)
    # the residual bootstrap's percentiles widened about a_hat by t(n - p) / z (p = 5), as the
    # sigmoid's wild bootstrap is (intervals.student_t_widening); same draws, no refit
    from scipy.stats import t as student_t
    k = student_t.ppf(0.975, len(runs) - 5) / 1.959964
    (lo, hi), draws = intervals["residual"]
    intervals["residual, t widened"] = ((a_hat - k * (a_hat - lo), a_hat + k * (hi - a_hat)), draws)
    intervals["delta method"] = (delta_interval(fit), None)
    for name, ((lo, hi), draws) in intervals.items():
        row[name] = holds((lo, hi), A_TRUE)
        row[name + " width"] = hi - lo
        row[name + " sd"] = np.nanstd(draws) if draws is not None else np.nan
    return row


def summarize_alternatives(rows: pd.DataFrame, reps: int, n_bootstrap: int, n_alt: int) -> None:
    print(f"true a = {A_TRUE:.4f}; {reps} replications per cell; pairs {n_bootstrap} resamples, "
          f"residual and wild {n_alt}; coverage of a's 95% interval +- Monte Carlo SE")
    out = []
    for cell, part in rows.groupby("cell", sort=False):
        for name in ("pairs (shipped)", "residual", "residual, t widened",
                     "residual (leverage-adjusted)", "wild", "delta method"):
            hits = part[name].dropna()
            p = hits.mean()
            w = part[name + " width"]
            out.append({"cell": cell, "interval": name,
                        "coverage": f"{100 * p:.1f} +- {100 * np.sqrt(p * (1 - p) / len(hits)):.1f}",
                        "n": len(hits), "median width": f"{w.median():.3f}",
                        "width / shipped": f"{w.median() / part['pairs (shipped) width'].median():.2f}",
                        "median draw sd": f"{part[name + ' sd'].median():.3f}"})
        err = part["a_hat_err"]
        print(f"{cell}: median |a_hat - a| {err.median():.3f}, 95th pct {err.quantile(0.95):.3f}, "
              f"sd of a_hat {part['a_hat_signed'].std():.3f}, median a_hat - a "
              f"{part['a_hat_signed'].median():+.3f}")
    print(pd.DataFrame(out).to_string(index=False))


def diagnose(cell, r, n_bootstrap, delta=None) -> dict:
    """Why the pairs bootstrap's interval of a over-covers, on the default run's fits: its draws
    split by what each resample did (bounds reached, runs and sizes kept) against a_hat's spread."""
    from scalefit.scaling.laws.registry import law_for
    from scalefit.scaling.laws.runtable import as_run_table
    from scalefit.scaling.resample import resample_indices
    rng = np.random.default_rng(7000 + r)  # the same runs and resamples as the default run's
    runs = grid_runs(rng, *GRIDS[cell])
    fit = fit_law(runs, "chinchilla", n_bootstrap=n_bootstrap, seed=r,
                  **({} if delta is None else {"delta": delta}))
    a_hat = float(fit.extra["allocation"]["a"])
    draws = fit.allocation_draws["a"]
    bounds = law_for("chinchilla").bounds
    e_zero = fit.draws["E"] <= 1e-9
    at_bound = e_zero.copy()
    for name in ("alpha", "beta"):
        lo, hi = bounds[name]
        at_bound |= (fit.draws[name] <= lo * 1.01) | (fit.draws[name] >= hi * 0.99)
    table = as_run_table(runs, "chinchilla")
    n_of = table.variables(("N",))["N"]
    idx = resample_indices(n_of.size, n_bootstrap, r)  # bootstrap_law's resamples, row by row
    kept = np.array([np.unique(i).size for i in idx])  # distinct runs per resample
    sizes = np.array([np.unique(n_of[i]).size for i in idx])
    ok = np.isfinite(draws)
    row = {"cell": cell, "a_hat": a_hat, "n_runs": n_of.size, "failed": int((~ok).sum()),
           "delta": fit.extra["delta"]}

    def interval(name, d):
        lo, hi = np.percentile(d, [2.5, 97.5])
        row[name] = holds((lo, hi), A_TRUE)
        row[name + " width"] = hi - lo
        row[name + " sd"] = np.std(d)

    interval("all draws (shipped)", draws[ok])
    q25, q50, q75 = np.percentile(draws[ok], [25, 50, 75])
    robust = (q75 - q25) / 1.349
    row["robust sd"] = robust
    row["normal, robust sd"] = holds((a_hat - 1.96 * robust, a_hat + 1.96 * robust), A_TRUE)
    row["normal, robust sd width"] = 2 * 1.96 * robust
    row["median draw - a_hat"] = q50 - a_hat
    lo, hi = np.percentile(draws[ok], [2.5, 97.5])
    row["skew"] = (hi + lo - 2 * q50) / (hi - lo)
    row["at bound"] = float(at_bound[ok].mean())
    row["E at 0"] = float(e_zero[ok].mean())
    row["fit E at 0"] = float(fit.params["E"].value <= 1e-9)
    row["missed low"] = float(hi < A_TRUE)  # the interval lies below the truth
    row["missed high"] = float(lo > A_TRUE)
    row["a_hat E>0 draws"] = float(np.median(draws[ok & ~e_zero])) if (ok & ~e_zero).any() else np.nan
    row["a_hat E=0 draws"] = float(np.median(draws[ok & e_zero])) if (ok & e_zero).any() else np.nan
    interval("draws with E > 0", draws[ok & ~e_zero])
    interval("draws off the bounds", draws[ok & ~at_bound])
    row["all sizes kept"] = float((sizes == np.unique(n_of).size)[ok].mean())
    interval("resamples keeping every size", draws[ok & (sizes == np.unique(n_of).size)])
    many = kept >= np.median(kept[ok])
    row["kept median"] = float(np.median(kept[ok]))
    interval("resamples with >= median distinct runs", draws[ok & many])
    interval("resamples with < median distinct runs", draws[ok & ~many])
    return row


def summarize_diagnosis(rows: pd.DataFrame, reps: int, n_bootstrap: int) -> None:
    print(f"true a = {A_TRUE:.4f}; {reps} replications per cell, {n_bootstrap} pairs resamples, "
          f"Huber delta {rows['delta'].iloc[0]:g}; "
          "coverage of a's 95% interval +- Monte Carlo SE, from subsets of the same draws")
    out = []
    for cell, part in rows.groupby("cell", sort=False):
        spread = part["a_hat"].std()
        print(f"{cell}: sd of a_hat over replications {spread:.4f} (a normal interval of the "
              f"right width: {2 * 1.96 * spread:.3f}); median share of draws with E, alpha or "
              f"beta at a bound {part['at bound'].median():.3f} (mean {part['at bound'].mean():.3f});"
              f" median skew {part['skew'].median():+.3f}; median (median draw - a_hat) "
              f"{part['median draw - a_hat'].median():+.4f}; median robust sd of draws "
              f"{part['robust sd'].median():.4f}; resamples keeping every size "
              f"{part['all sizes kept'].mean():.3f}; median distinct runs {part['kept median'].median():g}"
              f" of {part['n_runs'].iloc[0]}; failed refits {part['failed'].sum()}")
        print(f"  share of draws with E at 0: median {part['E at 0'].median():.3f}, mean "
              f"{part['E at 0'].mean():.3f}; fits with E at 0 {part['fit E at 0'].mean():.3f}; "
              f"median a of draws with E at 0 {part['a_hat E=0 draws'].median():.4f}, with E > 0 "
              f"{part['a_hat E>0 draws'].median():.4f}; shipped interval missed low "
              f"{part['missed low'].mean():.3f}, high {part['missed high'].mean():.3f}")
        for name in ("all draws (shipped)", "normal, robust sd", "draws off the bounds",
                     "draws with E > 0",
                     "resamples keeping every size", "resamples with >= median distinct runs",
                     "resamples with < median distinct runs"):
            hits = part[name].dropna()
            p = hits.mean()
            sd = part.get(name + " sd")
            out.append({"cell": cell, "draws": name,
                        "coverage": f"{100 * p:.1f} +- {100 * np.sqrt(p * (1 - p) / len(hits)):.1f}",
                        "median width": f"{part[name + ' width'].median():.3f}",
                        "median sd of draws": "-" if sd is None else f"{sd.median():.4f}",
                        "sd / sd of a_hat": "-" if sd is None else f"{sd.median() / spread:.2f}"})
    print(pd.DataFrame(out).to_string(index=False))


def one(args) -> dict:
    cell, r, n_bootstrap, *alt = args
    rng = np.random.default_rng(7000 + r)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if alt[:1] == ["diagnose"]:
            return diagnose(cell, r, n_bootstrap, *alt[1:])
        if alt:
            return alternatives(cell, r, n_bootstrap, alt[0])
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
    interval from every pair of the two conditions' draws (reconcile.change_interval)."""
    from scalefit.scaling.laws.reconcile import change_interval
    method, budgets, per_budget, span, sd = CHANGES[cell]
    fits = [fit_law(isoflop_runs(rng, budgets, per_budget, span, sd, truth)[["params", "flops", "loss"]],
                    "isoflop", n_bootstrap=n_bootstrap, seed=r, isoflop_method=method)
            for truth in (TRUTH, SECOND)]
    truth = SECOND["beta"] / (SECOND["alpha"] + SECOND["beta"]) - A_TRUE
    lo, hi = change_interval(fits[0].allocation_draws["a"], fits[1].allocation_draws["a"])
    peer = [pairs_interval(f, n_bootstrap, r)[1] for f in fits]
    plo, phi = change_interval(peer[0], peer[1])
    return {"cell": cell, "a": holds((lo, hi), truth), "a_width": hi - lo,
            "a (pairs peer)": holds((plo, phi), truth), "peer_width": phi - plo}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=200)
    parser.add_argument("--bootstrap", type=int, default=1000)
    parser.add_argument("--cells", nargs="*", default=[*GRIDS, *ISOFLOP, *CHANGES])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--alternatives", action="store_true",
                        help="chinchilla cells: residual and wild bootstrap and delta-method "
                             "intervals of a beside the shipped one")
    parser.add_argument("--alt-resamples", type=int, default=1000)
    parser.add_argument("--diagnose", action="store_true",
                        help="chinchilla cells: why the interval of a over-covers (the shipped "
                             "draws split by bounds reached and runs kept)")
    parser.add_argument("--delta", type=float, default=None,
                        help="--diagnose: the fits' Huber delta (default the field's 1e-3; 1 "
                             "makes them least squares at this noise)")
    args = parser.parse_args()
    t0 = time.perf_counter()
    if args.diagnose:
        jobs = [(cell, r, args.bootstrap, "diagnose", args.delta) for cell in args.cells if cell in GRIDS
                for r in range(args.reps)]
        with Pool(args.workers) as pool:
            rows = pd.DataFrame(pool.map(one, jobs, chunksize=2))
        summarize_diagnosis(rows, args.reps, args.bootstrap)
        print(f"({time.perf_counter() - t0:.0f} s)")
        return
    if args.alternatives:
        cells = [c for c in args.cells if c in GRIDS]
        jobs = [(cell, r, args.bootstrap, args.alt_resamples) for cell in cells
                for r in range(args.reps)]
        with Pool(args.workers) as pool:
            rows = pd.DataFrame(pool.map(one, jobs, chunksize=2))
        summarize_alternatives(rows, args.reps, args.bootstrap, args.alt_resamples)
        print(f"({time.perf_counter() - t0:.0f} s)")
        return
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

"""Coverage of the downstream relations' 95% intervals on synthetic data with known truth.

Cells (the interval audit's):
- acc_n15: the sigmoid accuracy law (a, k, L0, b = 0.45, -2.5, 3.2, 0.25) fitted to 15 points,
  L uniform on [2.2, 4.5], additive N(0, 0.02) noise; intervals at L = 3.0 and 2.3.
- acc_n40_binom: 40 points, L uniform on [2.8, 4.5], accuracy of a 500-item task (binomial);
  intervals at L = 3.5 (inside the data), 2.6 and 2.2 (below it).
- err_n15, err_n40_binom: the exponential-error law (Gadre et al. 2024; eps, k, gamma = 0.85,
  2.6, 0.8, the middle of its fits to Gadre's three datasets) fitted to 15 points, L uniform on
  [3.0, 6.0], N(0, 0.01) noise, and to 40 points, L on [2.7, 6.0], the error of a 2000-item task
  (binomial, sd 0.010-0.011 where Gadre's fits leave rmse 0.010-0.012); intervals at L = 4.0
  (inside), 2.7 and 2.4 (below; Gadre's lowest losses) for 15, at 3.5, 2.4 and 2.2 for 40.
- l2l_6x4: the loss-to-loss shifted power law through `run_downstream` (holdout 2, E_x and E_y
  from Kaplan + E fits refitted per resample), a 6 x 4 (N, D) grid, log-normal noise 0.005;
  coverage of the parameters' ci95 (E_y's was the audit's question).

For the accuracy (error) cells every replicate is fitted twice on the same points and seed:
"pairs", the pairs bootstrap (points with replacement) with HC1 (the sigmoid's method before the
wild bootstrap), and "wild", the wild bootstrap (the fitted curve plus each point's
leverage-adjusted residual times a random sign, ``resampling.wild_bootstrap``) with HC1 and
Student's t; ``accuracy.POINT_BOOTSTRAP[law]`` is set to each in turn. Per L: does the curve
interval (ci95) hold the true curve, the prediction interval (pi95) a new observation; the paired
difference wild - pairs of the curve coverage; for the sigmoid also the curve interval's coverage
over the fits whose a ended on its upper bound 1 (the pairs fit's a; both fits are the same
least-squares fit). ± is one Monte Carlo standard error. The loss-to-loss cell has one method
(its draws are not rescaled).

``--pi-variants``: each accuracy replicate is fitted once (the shipped bootstrap) and the
prediction interval is scored for every PI_VARIANTS way of drawing a new observation's scatter
(``intervals.prediction_scatter``), on the same draws, 20 new observations per L; differences
are paired against "pooled" (the method before "vf+tdist+many" shipped).

``--ci-variants``: each accuracy replicate is fitted once (the shipped bootstrap) and the curve
interval (ci95) is scored for every CI_VARIANTS way of making it from the same widened draws
(or, "delta", from the fit's covariance); differences are paired against "shipped".

    OMP_NUM_THREADS=1 python bench/bench_relation_intervals.py [--reps 300] [--bootstrap 200]
        [--jobs 2] [--cells acc_n15,acc_n40_binom,err_n15,err_n40_binom,l2l_6x4] [--first 0]
        [--pi-variants | --ci-variants] [--save rows.csv]
"""
from __future__ import annotations

import argparse
import os
import time
import warnings
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import pandas as pd

SIGMOID = {"a": 0.45, "k": -2.5, "L0": 3.2, "b": 0.25}
# Gadre et al.'s runs (../shared/anchors/overtrain, C4 val loss -> top-1 error of the 17-task
# subset; bench/calibration_table.py --rows gadre): 34-35 runs per dataset, L from 2.4 to 6.0,
# error 0.45-0.82, least-squares fits eps, k, gamma = 0.84-0.86, 2.3-3.1, 0.72-0.90 with rmse
# 0.010-0.012. The calibration's cuts fit the smaller (higher-loss) runs and predict lower L.
EXPONENTIAL = {"eps": 0.85, "k": 2.6, "gamma": 0.8}
TRUTH = {"sigmoid": SIGMOID, "exponential-error": EXPONENTIAL}
ACC_CELLS = {
    "acc_n15": dict(law="sigmoid", n=15, lo=2.2, hi=4.5, noise=("normal", 0.02), at=(3.0, 2.3)),
    "acc_n40_binom": dict(law="sigmoid", n=40, lo=2.8, hi=4.5, noise=("binomial", 500),
                          at=(3.5, 2.6, 2.2)),
    "err_n15": dict(law="exponential-error", n=15, lo=3.0, hi=6.0, noise=("normal", 0.01),
                    at=(4.0, 2.7, 2.4)),
    "err_n40_binom": dict(law="exponential-error", n=40, lo=2.7, hi=6.0,
                          noise=("binomial", 2000), at=(3.5, 2.4, 2.2)),
}
X_LAW = {"E": 1.8, "N_c": 1e7, "D_c": 1e8, "alpha_N": 0.5, "alpha_D": 0.45}
RELATION = {"K": 0.8, "kappa": 1.2, "E_x": 1.8, "E_y": 1.0}
L2L_CELLS = {"l2l_6x4": dict(sizes=np.geomspace(1e6, 1e9, 6), tokens=np.geomspace(1e8, 1e11, 4),
                             noise=0.005)}
SEED = {"acc_n15": 200_000, "acc_n40_binom": 300_000, "l2l_6x4": 400_000,
        "err_n15": 500_000, "err_n40_binom": 600_000}


def _observe(p, noise, rng):
    kind, v = noise
    return p + rng.normal(0, v, np.shape(p)) if kind == "normal" else rng.binomial(v, p) / v


def accuracy_data(cell: str, r: int):
    """Replicate r of an accuracy (error) cell: (the cell, its law, the true curve as a function
    of L, the generator that goes on to draw new observations, L, the observed y)."""
    from scalefit.scaling.relations import accuracy
    c = ACC_CELLS[cell]
    law = c["law"]
    func, names = accuracy.ACCURACY_LAWS[law]
    truth = TRUTH[law]
    rng = np.random.default_rng(SEED[cell] + r)
    L = rng.uniform(c["lo"], c["hi"], c["n"])
    y = _observe(func(L, *(truth[n] for n in names)), c["noise"], rng)
    return c, law, (lambda x: float(func(x, *(truth[n] for n in names)))), rng, L, y


def accuracy_replicate(cell: str, r: int, n_bootstrap: int) -> list[dict]:
    """One replicate of an accuracy (error) cell, fitted twice on the same points with the same
    seed: the pairs bootstrap ("pairs") and the wild bootstrap ("wild"), set for the cell's law in
    ``accuracy.POINT_BOOTSTRAP``; per L, whether each one's ci95 holds the true curve and its
    pi95 a new observation, both with the fit's small-sample widening (HC1; wild also t)."""
    from scalefit.scaling.relations import accuracy
    from scalefit.scaling.relations.intervals import interval_at
    c, law, truth_of, rng, L, y = accuracy_data(cell, r)
    shipped = accuracy.POINT_BOOTSTRAP[law]
    fits = {}
    for method in ("pairs", "wild"):
        accuracy.POINT_BOOTSTRAP[law] = method
        fits[method] = accuracy.fit_accuracy(L, y, law, n_bootstrap=n_bootstrap, seed=r)
    accuracy.POINT_BOOTSTRAP[law] = shipped
    rows = []
    for at in c["at"]:
        truth = truth_of(at)
        observed = float(_observe(truth, c["noise"], rng))
        row = {"cell": cell, "L": at, "truth": truth,
               "a_at_bound": law == "sigmoid" and fits["pairs"].value("a") > 1 - 1e-6,
               **{f"fit_{name}": value for name, value in fits["wild"].values().items()}}
        for method, res in fits.items():
            iv = interval_at(res, at)
            row[f"ci_{method}"] = iv["ci95"][0] <= truth <= iv["ci95"][1]
            row[f"truth_below_{method}"] = truth < iv["ci95"][0]
            row[f"pi_{method}"] = iv["pi95"][0] <= observed <= iv["pi95"][1]
            row[f"ci_width_{method}"] = iv["ci95"][1] - iv["ci95"][0]
            row[f"pi_width_{method}"] = iv["pi95"][1] - iv["pi95"][0]
        rows.append(row)
    return rows


# Prediction-interval variants scored from one fit and its draws (``--pi-variants``; the terms
# of ``intervals.prediction_scatter``): the scatter a new observation adds to each draw's curve.
# "pooled": a resampled residual times sqrt(n / (n - p)) (the method before this comparison,
# the reference of the paired differences); "lev": Davison & Hinkley's prediction residuals
# e / sqrt(1 - h), centred; "t": the drawn residual times t_{n-p} / z; "vf": residuals over
# (mu (1 - mu))^s, s fitted by maximum likelihood in [0, 1], a draw rescaled at the draw's mu;
# "qb": the same with s = 1/2 fixed (quasi-binomial); "tdist": a Student's t_{n-p} draw times
# the residuals' root mean square on n - p degrees of freedom instead of a resampled residual.
# "many": 20 residual draws per curve draw (the percentiles from 20 x the draws).
# Combinations join with "+"; "shipped": whatever fit_accuracy stores.
PI_VARIANTS = ("pooled", "t", "vf", "vf+t", "tdist", "vf+tdist", "many", "vf+many",
               "vf+tdist+many", "qb+tdist+many", "shipped")
NEW_OBS = 20  # new observations per L and replicate (their coverage averaged per replicate)


def pi_variant(res, variant: str, L, y):
    """A copy of the fit ``res`` whose components give ``variant``'s prediction interval."""
    from scalefit.scaling.relations.accuracy import with_prediction_scatter
    return res if variant == "shipped" else with_prediction_scatter(res, L, y, variant)


def pi_variants_replicate(cell: str, r: int, n_bootstrap: int) -> list[dict]:
    """One replicate fitted once (the shipped bootstrap); per L, the fraction of NEW_OBS new
    observations inside each PI_VARIANTS interval, all from the same draws and the same drawn
    residual indices (the variants are paired)."""
    from scalefit.scaling.relations import accuracy
    from scalefit.scaling.relations.intervals import interval_at, variance_power
    c, law, truth_of, rng, L, y = accuracy_data(cell, r)
    res = accuracy.fit_accuracy(L, y, law, n_bootstrap=n_bootstrap, seed=r)
    fits = {v: pi_variant(res, v, L, y) for v in PI_VARIANTS}
    fitted = accuracy.predict_accuracy(res, L)
    s_hat = variance_power(fitted, y - fitted)
    rows = []
    for at in c["at"]:
        truth = truth_of(at)
        observed = _observe(np.full(NEW_OBS, truth), c["noise"], rng)
        row = {"cell": cell, "L": at, "r": r, "s_hat": s_hat}
        for v, f in fits.items():
            lo, hi = interval_at(f, at)["pi95"]
            row[f"pi_{v}"] = float(np.mean((lo <= observed) & (observed <= hi)))
            row[f"pi_width_{v}"] = hi - lo
        rows.append(row)
    return rows


# Curve-interval variants scored from one fit and its draws (``--ci-variants``), each from the
# draws widened about the fit by the fit's draw_scale (``intervals._scaled_curve``), clipped to
# [0, 1]: "shipped", their 2.5 and 97.5 percentiles (``intervals.interval_at``); "basic", those
# percentiles reflected about the fitted value (2 f - hi, 2 f - lo: the estimate's skew put on
# the side where the truth lies when the fit errs along it, Davison & Hinkley's basic interval);
# "symmetric", f +- 1.96 times the widened draws' sd; "bc", bias-corrected percentiles
# (Efron's z0 from the share of draws below f); "delta", f +- t_{n-p} times the classical
# (least-squares) standard error of the curve at L (lmfit's covariance, gradient by differences);
# "wide-pct", the shipped interval's two arms stretched about f so that it is as wide as
# "symmetric" (the percentile's shape at symmetric's width: which of the two moves coverage);
# "bm", the unwidened draws' deviations scaled by ``design_scale`` at L (the HC3 wild bootstrap's
# expected variance brought to the least-squares variance, t on Bell and McCaffrey's degrees of
# freedom of that variance) instead of HC1 x t_{n-p} / z; "bm-df", HC1 x t on those degrees of
# freedom (the df alone); "bm-max", the wider of shipped and bm at each fit and L (bm where
# the extrapolation rests on few points, never narrower than shipped).
CI_VARIANTS = ("shipped", "basic", "symmetric", "wide-pct", "bc", "delta", "bm", "bm-df", "bm-max")


def design_scale(res, at: float) -> tuple[float, float, float]:
    """(nu, bias, scale) at ``at`` for the wild bootstrap's curve: in the model linearized at the
    fit (Jacobian J at the fitted points, gradient g of the curve at ``at``, a = J (J'J)^-1 g, h
    the leverages, M = I - H), the wild draws' variance is the HC3 sandwich sum a_i^2 e_i^2 /
    (1 - h_i)^2; under constant scatter its mean is sigma^2 sum a_i^2 / (1 - h_i) against the
    curve's sigma^2 sum a_i^2 (bias = their ratio's square root) and its Satterthwaite degrees of
    freedom are tr(M D M)^2 / tr((M D M)^2), D = diag(a^2 / (1 - h)^2) (Bell and McCaffrey 2002;
    Imbens and Kolesar 2016). scale = bias x t_nu / z."""
    from scipy.stats import norm, t

    from scalefit.scaling.relations.accuracy import ACCURACY_LAWS
    func, names = ACCURACY_LAWS[res.law]
    theta = np.array([res.value(k) for k in names])
    L = np.asarray(res.model_result.userkws["L"], float)

    def jac(x):
        cols = []
        for j in range(theta.size):
            d = 1e-6 * max(abs(theta[j]), 1.0)
            up, down = theta.copy(), theta.copy()
            up[j] += d
            down[j] -= d
            cols.append((func(x, *up) - func(x, *down)) / (2 * d))
        return np.stack(cols, axis=-1)
    J, g = jac(L), jac(np.array([float(at)]))[0]
    inv = np.linalg.pinv(J.T @ J)
    a = J @ inv @ g
    h = np.clip(np.einsum("ij,jk,ik->i", J, inv, J), 0.0, 0.99)
    M = np.eye(L.size) - J @ inv @ J.T
    A = M @ np.diag(a * a / (1 - h) ** 2) @ M
    nu = float(np.trace(A) ** 2 / np.sum(A * A))
    bias = float(np.sqrt(np.sum(a * a) / np.trace(A)))
    return nu, bias, bias * float(t.ppf(0.975, max(nu, 1.0)) / norm.ppf(0.975))


def ci_variants(res, at: float) -> dict:
    """{variant: (lo, hi)} of the curve's 95% interval at ``at`` for the fit ``res``."""
    from scipy.stats import norm, t

    from scalefit.scaling.relations.accuracy import ACCURACY_LAWS
    from scalefit.scaling.relations.intervals import _scaled_curve, interval_at, small_sample_scale
    f = float(interval_at(res, at)["value"])
    params = {k: np.asarray(v, float) for k, v in res.draws.items()}
    n = len(next(iter(params.values())))
    w = _scaled_curve(res, np.full(n, float(at)), params, float(res.components["draw_scale"]))
    w = w[np.isfinite(w)]
    lo, hi = np.percentile(w, [2.5, 97.5])
    z0 = norm.ppf(np.clip(np.mean(w < f) + 0.5 * np.mean(w == f), 1e-4, 1 - 1e-4))
    func, names = ACCURACY_LAWS[res.law]
    theta = np.array([res.value(k) for k in names])
    grad = np.empty(theta.size)
    for j in range(theta.size):
        d = 1e-6 * max(abs(theta[j]), 1.0)
        up, down = theta.copy(), theta.copy()
        up[j] += d
        down[j] -= d
        grad[j] = (func(at, *up) - func(at, *down)) / (2 * d)
    covar = res.model_result.covar
    se = float(np.sqrt(grad @ covar @ grad)) if covar is not None else float("nan")
    stretch = 2 * 1.96 * w.std(ddof=1) / (hi - lo)
    raw = _scaled_curve(res, np.full(n, float(at)), params, 1.0)
    raw = raw[np.isfinite(raw)]
    nu, _, bm_scale = design_scale(res, at)
    hc1 = small_sample_scale(res.n_points, theta.size)
    bm_df = hc1 * float(t.ppf(0.975, max(nu, 1.0)) / norm.ppf(0.975))
    out = {"shipped": tuple(interval_at(res, at)["ci95"]),
           "basic": (2 * f - hi, 2 * f - lo),
           "symmetric": (f - 1.96 * w.std(ddof=1), f + 1.96 * w.std(ddof=1)),
           "wide-pct": (f - stretch * (f - lo), f + stretch * (hi - f)),
           "bc": tuple(np.percentile(w, 100 * norm.cdf(2 * z0 + norm.ppf([0.025, 0.975])))),
           "delta": (f - t.ppf(0.975, res.n_points - theta.size) * se,
                     f + t.ppf(0.975, res.n_points - theta.size) * se),
           "bm": tuple(np.percentile(f + bm_scale * (raw - f), [2.5, 97.5])),
           "bm-df": tuple(np.percentile(f + bm_df * (raw - f), [2.5, 97.5])),
           "bm-max": tuple(np.percentile(f + max(bm_scale, float(res.components["draw_scale"]))
                                         * (raw - f), [2.5, 97.5]))}
    return {k: tuple(np.clip(v, 0.0, 1.0)) for k, v in out.items()}


def ci_variants_replicate(cell: str, r: int, n_bootstrap: int) -> list[dict]:
    """One replicate fitted once (the shipped bootstrap); per L, whether each CI_VARIANTS
    interval holds the true curve, whether the truth lies below it, and its width."""
    from scalefit.scaling.relations import accuracy
    c, law, truth_of, rng, L, y = accuracy_data(cell, r)
    res = accuracy.fit_accuracy(L, y, law, n_bootstrap=n_bootstrap, seed=r)
    rows = []
    for at in c["at"]:
        truth = truth_of(at)
        nu, bias, scale = design_scale(res, at)
        row = {"cell": cell, "L": at, "r": r, "truth": truth, "bm_nu": nu, "bm_bias": bias,
               "bm_scale": scale, "draw_scale": res.components["draw_scale"],
               **{f"fit_{name}": value for name, value in res.values().items()}}
        for v, (lo, hi) in ci_variants(res, at).items():
            row[f"ci_{v}"] = lo <= truth <= hi
            row[f"truth_below_{v}"] = truth < lo
            row[f"ci_width_{v}"] = hi - lo
        rows.append(row)
    return rows


def print_ci_variants(out: pd.DataFrame) -> None:
    """Per cell and L: each variant's ci95 coverage of the true curve, its paired difference
    from "shipped", its median width over the shipped one's, and its misses below / above."""
    print("\nci95 coverage of the true curve (± one Monte Carlo SE); paired difference from "
          "'shipped'; median width ratio to 'shipped'; misses with the truth below / above")
    print("\n| cell | L | fits | " + " | ".join(CI_VARIANTS) + " |")
    print("|---|---|---|" + "---|" * len(CI_VARIANTS))
    for (cell, at), g in out.groupby(["cell", "L"], sort=False):
        cells = []
        for v in CI_VARIANTS:
            low = int((~g[f"ci_{v}"] & g[f"truth_below_{v}"]).sum())
            txt = coverage(g[f"ci_{v}"])
            if v != "shipped":
                ratio = np.median(g[f"ci_width_{v}"] / g["ci_width_shipped"])
                txt += f" ({paired(g[f'ci_{v}'], g['ci_shipped'])}; x{ratio:.3f})"
            else:
                txt += f" (w {g['ci_width_shipped'].median():.4f})"
            cells.append(txt + f" [{low} / {int((~g[f'ci_{v}']).sum()) - low}]")
        print(f"| {cell} | {at:g} | {len(g)} | " + " | ".join(cells) + " |")
    print("\nbm's design scale per cell and L (medians over fits): Bell-McCaffrey nu, HC3 bias "
          "factor, bm scale against the shipped draw_scale (HC1 x t_{n-p} / z)")
    for (cell, at), g in out.groupby(["cell", "L"], sort=False):
        print(f"  {cell} L {at:g}: nu {g['bm_nu'].median():.1f} (10-90%: "
              f"{g['bm_nu'].quantile(0.1):.1f}-{g['bm_nu'].quantile(0.9):.1f}), bias "
              f"{g['bm_bias'].median():.3f}, scale {g['bm_scale'].median():.3f} vs "
              f"{g['draw_scale'].median():.3f}")


def l2l_replicate(cell: str, r: int, n_bootstrap: int) -> list[dict]:
    """One loss-to-loss fit: whether each parameter's ci95 holds its truth."""
    from scalefit.scaling.laws import forms as law_forms
    from scalefit.scaling.relations import forms as relation_forms
    from scalefit.scaling.relations.downstream import run_downstream
    c = L2L_CELLS[cell]
    rng = np.random.default_rng(SEED[cell] + r)
    N, D = (a.ravel() for a in np.meshgrid(c["sizes"], c["tokens"]))
    x = law_forms.kaplan_nde(N, D, **X_LAW)
    y = relation_forms.shifted_power_law(x, **RELATION)
    frame = pd.DataFrame({"params": N, "tokens": D,
                          "x": x * np.exp(rng.normal(0, c["noise"], N.size)),
                          "y": y * np.exp(rng.normal(0, c["noise"], N.size))})
    fit = run_downstream(frame, "x", "y", holdout=2, n_bootstrap=n_bootstrap, seed=r).fit
    rows = []
    for name, truth in RELATION.items():
        lo, hi = fit.params[name].ci95
        rows.append({"cell": cell, "param": name, "ci": lo <= truth <= hi, "width": hi - lo})
    return rows


def _chunk(args) -> list[dict]:
    cell, reps, n_bootstrap, variants = args
    warnings.simplefilter("ignore")
    one = accuracy_replicate if cell in ACC_CELLS else l2l_replicate
    if variants and cell in ACC_CELLS:
        one = {"pi": pi_variants_replicate, "ci": ci_variants_replicate}[variants]
    return [row for r in reps for row in one(cell, r, n_bootstrap)]


def coverage(hits) -> str:
    hits = np.asarray(hits, bool)
    if not hits.size:
        return "-"
    p = hits.mean()
    return f"{100 * p:5.1f} ± {100 * np.sqrt(p * (1 - p) / hits.size):.1f}"


def paired(a, b) -> str:
    """Mean of a - b over the same replicates (points) and its standard error."""
    d = np.asarray(a, float) - np.asarray(b, float)
    se = d.std(ddof=1) / np.sqrt(d.size) if d.size > 1 else float("nan")
    return f"{100 * d.mean():+.1f} ± {100 * se:.1f}"


def mean_se(x) -> str:
    """Mean of per-replicate fractions (percent) ± its standard error over the replicates."""
    x = np.asarray(x, float)
    return f"{100 * x.mean():5.1f} ± {100 * x.std(ddof=1) / np.sqrt(x.size):.1f}"


def print_pi_variants(out: pd.DataFrame) -> None:
    """Per cell and L: each variant's pi95 coverage of new observations, its paired difference
    from the shipped interval and its median width over the shipped one's."""
    print(f"\npi95 coverage of {NEW_OBS} new observations per L and replicate (mean ± SE over "
          "replicates); paired difference from 'pooled'; median width ratio to 'pooled'")
    print("\n| cell | L | reps | median s | " + " | ".join(PI_VARIANTS) + " |")
    print("|---|---|---|---|" + "---|" * len(PI_VARIANTS))
    for (cell, at), g in out.groupby(["cell", "L"], sort=False):
        cells = []
        for v in PI_VARIANTS:
            txt = mean_se(g[f"pi_{v}"])
            if v != "pooled":
                d = g[f"pi_{v}"] - g["pi_pooled"]
                ratio = np.median(g[f"pi_width_{v}"] / g["pi_width_pooled"])
                txt += (f" ({100 * d.mean():+.1f} ± {100 * d.std(ddof=1) / np.sqrt(len(d)):.1f};"
                        f" x{ratio:.3f})")
            else:
                txt += f" (w {g['pi_width_pooled'].median():.4f})"
            cells.append(txt)
        print(f"| {cell} | {at:g} | {len(g)} | {g['s_hat'].median():.2f} | "
              + " | ".join(cells) + " |")


def print_by_param(acc: pd.DataFrame, name: str) -> None:
    """The wild curve interval's coverage per quartile of the fitted parameter `name` (the same
    least-squares fit for both bootstraps), per cell and L: where in the estimate's spread the
    misses fall (the bootstrap draws about the estimate, so a fit whose curve is flatter than
    the truth extrapolates with too little spread)."""
    column = f"fit_{name}"
    if column not in acc:
        print(f"\nno fitted parameter {name!r} in these cells")
        return
    print(f"\nwild ci95 coverage per quartile of the fitted {name} (quartile: its range; "
          "misses with the truth below / above the interval)")
    print("\n| cell | L | Q1 | Q2 | Q3 | Q4 |")
    print("|---|---|---|---|---|---|")
    for (cell, at), g in acc.dropna(subset=[column]).groupby(["cell", "L"], sort=False):
        edges = np.percentile(g[column], [0, 25, 50, 75, 100])
        parts = []
        for q in range(4):
            part = g[(g[column] >= edges[q]) & (g[column] <= edges[q + 1])]
            low = int((~part["ci_wild"] & part["truth_below_wild"]).sum())
            parts.append(f"{coverage(part['ci_wild'])} ({edges[q]:.3g}-{edges[q + 1]:.3g}; "
                         f"{low} / {int((~part['ci_wild']).sum()) - low})")
        print(f"| {cell} | {at:g} | " + " | ".join(parts) + " |")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=300,
                    help="replicates per accuracy cell (the loss-to-loss cell: half as many)")
    ap.add_argument("--bootstrap", type=int, default=200, help="resamples per fit")
    ap.add_argument("--jobs", type=int, default=2, help="worker processes")
    ap.add_argument("--cells", default=",".join([*ACC_CELLS, *L2L_CELLS]))
    ap.add_argument("--first", type=int, default=0,
                    help="first replicate (data seed SEED[cell] + r): fresh seeds past a run's")
    ap.add_argument("--pi-variants", action="store_true",
                    help="accuracy cells: fit once (the shipped bootstrap) and score the "
                         "prediction-interval variants of PI_VARIANTS on the same draws")
    ap.add_argument("--ci-variants", action="store_true",
                    help="accuracy cells: fit once (the shipped bootstrap) and score the "
                         "curve-interval variants of CI_VARIANTS on the same draws")
    ap.add_argument("--save", help="write the per-replicate rows to this CSV")
    ap.add_argument("--by-param", metavar="NAME",
                    help="accuracy cells: also the wild interval's coverage per quartile of this "
                         "fitted parameter (e.g. gamma of the exponential-error law)")
    args = ap.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    cells = [c for c in args.cells.split(",") if c]
    if args.pi_variants and args.ci_variants:
        ap.error("--pi-variants and --ci-variants: give one")
    variants = "pi" if args.pi_variants else "ci" if args.ci_variants else None
    tasks = []
    for cell in cells:
        reps = args.reps if cell in ACC_CELLS else max(args.reps // 2, 1)
        end = args.first + reps
        tasks += [(cell, range(s, min(s + 25, end)), args.bootstrap, variants)
                  for s in range(args.first, end, 25)]
    t0 = time.perf_counter()
    with ProcessPoolExecutor(args.jobs) as pool:
        rows = [row for part in pool.map(_chunk, tasks) for row in part]
    seconds = time.perf_counter() - t0
    out = pd.DataFrame(rows)
    print(f"{len(tasks)} chunks, {args.bootstrap} resamples per fit, {args.jobs} processes, "
          f"{seconds:.0f} s")
    if args.save:
        out.to_csv(args.save, index=False)
    acc = out[out["cell"].isin(list(ACC_CELLS))] if "L" in out else out.iloc[0:0]
    if len(acc) and args.pi_variants:
        print_pi_variants(acc)
    elif len(acc) and args.ci_variants:
        print_ci_variants(acc)
    elif len(acc):
        print("\n| cell | L | reps | ci95 covers curve: pairs | wild | wild - pairs (paired) "
              "| a at bound: pairs | wild | median ci95 width pairs -> wild "
              "| pi95 covers observation: pairs | wild | median pi95 width pairs -> wild |")
        print("|---|---|---|---|---|---|---|---|---|---|---|---|")
        for (cell, at), g in acc.groupby(["cell", "L"], sort=False):
            b = g[g["a_at_bound"]]
            bound = (f"{coverage(b['ci_pairs'])} | {coverage(b['ci_wild'])} ({len(b)})"
                     if len(b) else "- | -")
            print(f"| {cell} | {at:g} | {len(g)} | {coverage(g['ci_pairs'])} | "
                  f"{coverage(g['ci_wild'])} | {paired(g['ci_wild'], g['ci_pairs'])} | {bound} | "
                  f"{g['ci_width_pairs'].median():.4f} -> {g['ci_width_wild'].median():.4f} | "
                  f"{coverage(g['pi_pairs'])} | {coverage(g['pi_wild'])} | "
                  f"{g['pi_width_pairs'].median():.4f} -> {g['pi_width_wild'].median():.4f} |")
    if len(acc) and args.by_param and not variants:
        print_by_param(acc, args.by_param)
    l2l = out[out["cell"].isin(list(L2L_CELLS))]
    if len(l2l):
        print("\n| cell | parameter | reps | ci95 covers (one method, unchanged) | median width |")
        print("|---|---|---|---|---|")
        for (cell, name), g in l2l.groupby(["cell", "param"], sort=False):
            print(f"| {cell} | {name} | {len(g)} | {coverage(g['ci'])} | "
                  f"{g['width'].median():.4f} |")


if __name__ == "__main__":
    main()

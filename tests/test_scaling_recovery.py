"""Every law recovers known parameters from data generated with noise; the engine's contract."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from scalefit.scaling.laws import forms as law_forms
from scalefit.scaling.laws.fit import fit_law, predict

RNG_SEED = 7


def _grid(n_sizes=8, tpp=(2, 5, 10, 20, 50, 100, 200), n_lo=1e7, n_hi=1e10):
    N, D = np.meshgrid(np.geomspace(n_lo, n_hi, n_sizes), np.array(tpp, float), indexing="ij")
    N = N.ravel()
    return N, N * D.ravel()


def _noisy(L, sigma, seed=RNG_SEED):
    return L * np.exp(np.random.default_rng(seed).normal(0, sigma, np.shape(L)))


def _runs(N, D, L, **extra):
    return pd.DataFrame({"params": N, "tokens": D, "loss": L, **extra})


TRUE_CHIN = dict(E=1.8, A=480.0, B=2000.0, alpha=0.35, beta=0.37)


def chinchilla_runs(sigma=0.004):
    N, D = _grid()
    return _runs(N, D, _noisy(law_forms.chinchilla(N, D, **TRUE_CHIN), sigma))


def test_chinchilla_recovers_parameters_and_allocation():
    result = fit_law(chinchilla_runs(), "chinchilla", n_bootstrap=0)
    v = result.values()
    assert result.converged
    assert abs(v["E"] - 1.8) < 0.05
    assert abs(v["alpha"] - 0.35) < 0.03 and abs(v["beta"] - 0.37) < 0.03
    assert abs(np.log(v["A"] / 480)) < 0.5 and abs(np.log(v["B"] / 2000)) < 0.5
    a_true = 0.37 / (0.35 + 0.37)
    assert abs(result.extra["allocation"]["a"] - a_true) < 0.02
    assert abs(result.extra["allocation"]["b"] - (1 - a_true)) < 0.02
    assert 1 <= result.extra["n_starts_at_best"] <= result.extra["n_starts"]
    assert all(np.isfinite(p.stderr) and p.stderr > 0 for p in result.params.values())
    N, D = np.array([1e9, 1e11]), np.array([2e10, 3e12])
    assert np.allclose(predict(result, N, D), law_forms.chinchilla(N, D, **TRUE_CHIN), rtol=0.02)


def test_chinchilla_optimum_does_not_depend_on_objective_scale():
    """Duplicating every run doubles the summed objective; the optimum must not move. (A run
    column tells the copies apart: rows equal in every column are refused as a run counted
    twice.)"""
    runs = chinchilla_runs()
    once = fit_law(runs, "chinchilla", n_bootstrap=0).values()
    both = pd.concat([runs, runs], ignore_index=True)
    twice = fit_law(both.assign(run=np.arange(len(both))), "chinchilla",
                    n_bootstrap=0).values()
    for name in once:
        assert twice[name] == pytest.approx(once[name], rel=1e-4)


def test_chinchilla_bootstrap_cis_cover_truth_and_are_seeded():
    runs = chinchilla_runs()
    r1 = fit_law(runs, "chinchilla", n_bootstrap=60, seed=3)
    r2 = fit_law(runs, "chinchilla", n_bootstrap=60, seed=3)
    for name in ("E", "alpha", "beta"):
        lo, hi = r1.params[name].ci95
        assert lo < r1.value(name) < hi
        assert r1.params[name].ci95 == r2.params[name].ci95
    lo, hi = r1.extra["allocation"]["a_ci95"]
    assert lo < r1.extra["allocation"]["a"] < hi


TRUE_KND = dict(N_c=6.4e13, D_c=1.8e13, alpha_N=0.076, alpha_D=0.103)


def test_kaplan_nd_recovers_parameters():
    N, D = _grid(n_sizes=8, tpp=(1, 3, 10, 30, 100, 300, 1000), n_lo=1e6, n_hi=1e10)
    runs = _runs(N, D, _noisy(law_forms.kaplan_nd(N, D, **TRUE_KND), 0.002))
    result = fit_law(runs, "kaplan", n_bootstrap=0)  # "kaplan" is Kaplan's L(N, D)
    v = result.values()
    assert result.law == "kaplan-nd" and result.converged
    assert abs(v["alpha_N"] - 0.076) < 0.006 and abs(v["alpha_D"] - 0.103) < 0.008
    assert abs(np.log10(v["N_c"] / 6.4e13)) < 0.6 and abs(np.log10(v["D_c"] / 1.8e13)) < 0.6
    assert abs(result.extra["allocation"]["a"] - 0.103 / 0.179) < 0.03


def test_kaplan_nde_recovers_irreducible_loss():
    truth = dict(E=1.6, N_c=5e8, D_c=1e10, alpha_N=0.25, alpha_D=0.27)
    N, D = _grid(n_sizes=9, tpp=(1, 3, 10, 30, 100, 300, 1000), n_lo=1e6, n_hi=1e10)
    runs = _runs(N, D, _noisy(law_forms.kaplan_nde(N, D, **truth), 0.002))
    v = fit_law(runs, "kaplan-nde", n_bootstrap=0).values()
    assert abs(v["E"] - 1.6) < 0.08
    assert abs(v["alpha_N"] - 0.25) < 0.04 and abs(v["alpha_D"] - 0.27) < 0.04


@pytest.mark.parametrize("law,column,truth,fn", [
    ("kaplan-n", "params", dict(N_c=8.8e13, alpha_N=0.076), law_forms.kaplan_n),
    ("kaplan-d", "tokens", dict(D_c=5.4e13, alpha_D=0.095), law_forms.kaplan_d),
    ("kaplan-c", "flops", dict(C_c=2.7e28, alpha_C=0.050), law_forms.kaplan_c),
])
def test_single_variable_kaplan_laws(law, column, truth, fn):
    x = np.geomspace(1e6, 1e12, 25) * (1e8 if column == "flops" else 1)
    runs = pd.DataFrame({column: x, "loss": _noisy(fn(x, **truth), 0.003)})
    if column != "params":
        runs["params"] = 1e8
    result = fit_law(runs, law, n_bootstrap=0)
    exponent = [k for k in truth if k.startswith("alpha")][0]
    scale = [k for k in truth if not k.startswith("alpha")][0]
    assert abs(result.value(exponent) - truth[exponent]) < 0.004
    assert abs(np.log10(result.value(scale) / truth[scale])) < 0.5
    assert not np.isfinite(result.extra["allocation"]["a"])  # one input: no N-D trade-off


def isoflop_runs(sigma=0.001, span=8.0, budgets=np.geomspace(1e18, 1e21, 7), seed=RNG_SEED):
    al, be = TRUE_CHIN["alpha"], TRUE_CHIN["beta"]
    g = (al * TRUE_CHIN["A"] / (be * TRUE_CHIN["B"])) ** (1 / (al + be))
    rows = []
    for c in budgets:
        n_opt = g * (c / 6) ** (be / (al + be))
        for n in n_opt * np.geomspace(1 / span, span, 9):
            rows.append({"params": n, "flops": c})
    runs = pd.DataFrame(rows)
    N, D = runs["params"], runs["flops"] / (6 * runs["params"])
    runs["loss"] = _noisy(law_forms.chinchilla(N, D, **TRUE_CHIN), sigma, seed)
    return runs


@pytest.mark.parametrize("method", ["parabola", "akima"])
def test_isoflop_recovers_allocation_exponent(method):
    result = fit_law(isoflop_runs(), "isoflop", isoflop_method=method, n_bootstrap=50)
    a_true = TRUE_CHIN["beta"] / (TRUE_CHIN["alpha"] + TRUE_CHIN["beta"])
    assert abs(result.value("a") - a_true) < 0.03
    assert result.extra["allocation"]["b"] == pytest.approx(1 - result.value("a"))
    assert result.extra["n_budgets_used"] == 7
    # no bound or convergence warning; fit_law judges identifiability as `scalefit fit` does
    assert all(w.startswith("not identified by these runs") for w in result.warnings), result.warnings
    assert result.extra["identifiability"]["a"]["status"] == "identified"


@pytest.mark.slow
def test_isoflop_interval_of_a_covers_the_truth():
    """The interval of a from 5 budget optima holds the true a in ~95% of fits (measured 95.9 +-
    0.6% over 1000; the pairs bootstrap of the optima it replaced: 87.5%, which fails here)."""
    a_true = TRUE_CHIN["beta"] / (TRUE_CHIN["alpha"] + TRUE_CHIN["beta"])
    hits = []
    for r in range(400):
        runs = isoflop_runs(sigma=0.005, budgets=np.geomspace(1e18, 1e21, 5), seed=1000 + r)
        lo, hi = fit_law(runs, "isoflop", n_bootstrap=400, seed=r).params["a"].ci95
        hits.append(lo <= a_true <= hi)
    assert 0.925 <= np.mean(hits) <= 0.985, np.mean(hits)


def test_isoflop_draws_are_the_line_fits_t_distribution():
    """line_draws: a t(n - 2) about the least-squares line with the HC3 covariance, seeded; no
    draws (and a warning instead of an interval) with fewer than 3 budgets."""
    from scipy import stats

    from scalefit.scaling.laws.isoflop import line_draws
    rng = np.random.default_rng(0)
    x = np.log(np.geomspace(1e18, 1e21, 7))
    y = -5.0 + 0.5 * x + rng.normal(0, 0.02 * np.linspace(0.5, 2.0, 7))
    drawn = line_draws(x, y, 200_000, seed=3)
    assert np.array_equal(drawn, line_draws(x, y, 200_000, seed=3))
    design = np.c_[np.ones(7), x]
    coef = np.linalg.lstsq(design, y, rcond=None)[0]
    inverse = np.linalg.inv(design.T @ design)
    h = np.einsum("ij,jk,ik->i", design, inverse, design)
    resid = y - design @ coef
    se = np.sqrt((inverse @ (design.T * (resid / (1 - h)) ** 2) @ design @ inverse)[1, 1])
    assert np.median(drawn[:, 0]) == pytest.approx(coef[1], abs=0.02 * se)
    q = np.percentile(drawn[:, 0], 97.5) - coef[1]
    assert q == pytest.approx(stats.t.ppf(0.975, 5) * se, rel=0.02)
    assert np.median(drawn[:, 1]) == pytest.approx(coef[0], abs=0.02 * abs(coef[0]))
    assert line_draws(x[:2], y[:2], 10, seed=0) is None
    two = isoflop_runs(budgets=np.geomspace(1e18, 1e21, 2))
    result = fit_law(two, "isoflop", n_bootstrap=50)
    assert any("no interval for a: 2 budgets" in w for w in result.warnings)
    assert not np.isfinite(result.params["a"].ci95[0])


def test_isoflop_refuses_unbracketed_budget():
    runs = isoflop_runs()
    last = runs["flops"].max()
    # keep only the small models of the largest budget: its minimum is no longer bracketed
    runs = runs[(runs["flops"] < last) | (runs.index % 9 < 4)]
    result = fit_law(runs, "isoflop", n_bootstrap=0)
    assert result.extra["n_budgets_used"] == 6
    assert any("not bracketed" in w and f"{last:.3g}" in w for w in result.warnings)

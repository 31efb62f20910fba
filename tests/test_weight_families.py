"""Distribution families and the binned fitter: known parameters recovered, exact MLE matched."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from threadpoolctl import threadpool_limits
from scipy import integrate, optimize, stats

from scalefit.weightstats import binned_fit as bf
from scalefit.weightstats.families import (FAMILIES, SCIPY_EQUIVALENT, quartic_log_normaliser,
                                           quartic_logpdf)

torch.set_num_threads(1)
threadpool_limits(1)  # numpy's BLAS too: threads fight on a shared 2-core machine
N = 300_000


def rng(seed=0):
    return np.random.default_rng(seed)


def fit(name, x):
    return bf.fit_family(name, bf.histogram_from_samples(x))


@pytest.mark.parametrize("nu, tol", [(3, 0.03), (5, 0.05), (30, 0.25)])
def test_student_t_recovers_nu(nu, tol):
    x = 0.02 * rng(nu).standard_t(nu, N) + 1e-3
    f = fit("student_t", x)
    assert f.converged
    assert f.params["nu"] == pytest.approx(nu, rel=tol)
    assert f.params["scale"] == pytest.approx(0.02, rel=0.02)
    assert f.params["loc"] == pytest.approx(1e-3, abs=2e-4)


@pytest.mark.parametrize("beta", [1.0, 1.5, 2.0])
def test_gennorm_recovers_beta(beta):
    x = stats.gennorm.rvs(beta, scale=0.05, size=N, random_state=rng(int(10 * beta)))
    f = fit("gennorm", x)
    assert f.params["beta"] == pytest.approx(beta, rel=0.02)
    assert f.params["scale"] == pytest.approx(0.05, rel=0.02)


def test_quartic_recovers_gamma():
    g, scale = 0.1, 0.03
    x = FAMILIES["quartic"].sample(rng(3), (N,), g, 0.0, scale)
    f = fit("quartic", x)
    assert f.params["g"] == pytest.approx(g, rel=0.15)
    assert f.params["scale"] == pytest.approx(scale, rel=0.03)
    # gamma is the x^4 coefficient in the weights' own units: exp(-(x^2/2s^2 + gamma x^4))
    assert f.derived["gamma"] == pytest.approx(g / scale ** 4, rel=0.2)


@pytest.mark.parametrize("name, draw", [
    ("logistic", lambda r: r.logistic(0.0, 0.7, N)),
    ("laplace", lambda r: r.laplace(0.1, 0.3, N)),
    ("gaussian", lambda r: r.normal(-0.2, 1.5, N)),
])
def test_two_parameter_families_recover_scale(name, draw):
    x = draw(rng(7))
    f = fit(name, x)
    loc, scale = SCIPY_EQUIVALENT[name].fit(x)
    assert f.params["scale"] == pytest.approx(scale, rel=2e-3)
    assert f.params["loc"] == pytest.approx(loc, abs=5e-3 * scale)


def test_binned_fit_agrees_with_scipy_exact_mle():
    x = 0.02 * rng(11).standard_t(4.0, 20_000)
    nu, loc, scale = stats.t.fit(x)
    f = fit("student_t", x)
    assert f.params["nu"] == pytest.approx(nu, rel=0.01)
    assert f.params["scale"] == pytest.approx(scale, rel=2e-3)
    assert f.params["loc"] == pytest.approx(loc, abs=1e-3 * scale)
    # the per-weight log-likelihood is the exact one at the fitted parameters
    exact = stats.t.logpdf(x, f.params["nu"], f.params["loc"], f.params["scale"]).mean()
    assert f.loglik_per_weight == pytest.approx(exact, abs=1e-4)

    y = stats.gennorm.rvs(1.3, scale=0.1, size=20_000, random_state=rng(12))
    beta, loc, scale = stats.gennorm.fit(y)
    g = fit("gennorm", y)
    assert g.params["beta"] == pytest.approx(beta, rel=0.01)
    assert g.params["scale"] == pytest.approx(scale, rel=0.01)


def test_goodness_of_fit_picks_the_true_family_and_ks_matches_scipy():
    x = 0.02 * rng(5).standard_t(3.0, 100_000)
    fits = bf.fit_families(bf.histogram_from_samples(x))
    assert fits.best == "student_t"
    t = fits.fits["student_t"]
    ks = stats.kstest(x, "t", args=(t.params["nu"], t.params["loc"], t.params["scale"])).statistic
    assert t.ks == pytest.approx(ks, abs=2e-3)
    assert fits.fits["gaussian"].ks > 5 * t.ks
    n = t.n
    assert t.bic == pytest.approx(3 * math.log(n) - 2 * n * t.loglik_per_weight)
    assert t.aic < fits.fits["gaussian"].aic
    g = rng(6).normal(0, 0.02, 100_000)
    assert bf.fit_families(bf.histogram_from_samples(g)).best in ("gaussian", "quartic")


@pytest.mark.parametrize("name", list(FAMILIES))
def test_density_normalised_cdf_and_score_consistent(name):
    family = FAMILIES[name]
    shapes = {"student_t": (4.0,), "gennorm": (1.4,), "quartic": (0.2,)}.get(name, ())
    params = (*shapes, 0.1, 0.7)
    total = integrate.quad(lambda x: math.exp(family.logpdf(x, *params)), -np.inf, np.inf)[0]
    assert total == pytest.approx(1.0, abs=1e-7)
    xs = np.array([-2.0, -0.3, 0.1, 0.5, 3.0])
    numeric = [integrate.quad(lambda x: math.exp(family.logpdf(x, *params)), -np.inf, v)[0] for v in xs]
    assert family.cdf(xs, *params) == pytest.approx(numeric, abs=1e-7)
    if name in SCIPY_EQUIVALENT:
        assert family.logpdf(xs, *params) == pytest.approx(SCIPY_EQUIVALENT[name].logpdf(xs, *params))
    # scores are the derivatives of the standard log-density
    z = np.array([-1.7, -0.4, 0.3, 2.2])
    d_z, d_shapes = family.score_std(z, *shapes)
    h = 1e-6
    assert d_z == pytest.approx((family.logpdf_std(z + h, *shapes) - family.logpdf_std(z - h, *shapes)) / (2 * h),
                                rel=1e-5, abs=1e-7)
    for i, d in enumerate(d_shapes):
        up = list(shapes); up[i] += h
        dn = list(shapes); dn[i] -= h
        numeric = (family.logpdf_std(z, *up) - family.logpdf_std(z, *dn)) / (2 * h)
        assert d == pytest.approx(numeric, rel=1e-4, abs=1e-6)


def test_quartic_normaliser_is_stable_from_zero_to_large_g():
    for g in (0.0, 1e-14, 1e-9, 1e-4, 0.05, 1.0, 50.0):
        numeric = integrate.quad(lambda z: math.exp(-(z * z / 2 + g * z ** 4)), -np.inf, np.inf)[0]
        assert math.exp(quartic_log_normaliser(g)) == pytest.approx(numeric, rel=1e-8)
    z = np.linspace(-3, 3, 7)
    assert np.isfinite(quartic_logpdf(z, 1e-13)).all()


def test_minimize_box_respects_bounds_and_finds_interior_minimum():
    def fg(x):
        return float((x[0] - 2) ** 2 + (x[1] + 1) ** 4), np.array([2 * (x[0] - 2), 4 * (x[1] + 1) ** 3])

    x, f, ok = bf.minimize_box(fg, [0.0, 0.0], [-5, -5], [1.0, 5])
    assert ok and x[0] == pytest.approx(1.0) and x[1] == pytest.approx(-1.0, abs=0.02)
    x, f, ok = bf.minimize_box(fg, [0.0, 0.0], [-5, -5], [5, 5])
    assert x[0] == pytest.approx(2.0, abs=1e-6)
    ref = optimize.minimize(lambda v: fg(v)[0], [0.0, 0.0]).fun
    assert f <= ref + 1e-6


def test_fitting_never_modifies_the_weights():
    w = torch.randn(256, 64, dtype=torch.float32) * 0.02
    before = w.clone()
    bf.fit_families(bf.standardized_histogram(w))
    assert torch.equal(w, before)

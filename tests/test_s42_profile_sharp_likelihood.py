"""Profile intervals of E and p where the likelihood is sharp (low noise): the profile's inner
minimization must be exact to well within the RSS allowance, which shrinks with the noise, or
the profile at the fit's own value lies above it and the interval collapses to a point."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

from scalefit.scaling.trajectories import ar1, parameter_intervals, profile_likelihood, stat_law

STEPS = np.unique(np.r_[2.0 ** np.arange(10), np.arange(120, 1121, 30)])  # test_trajectory_profile's run
LOSS = 3.8 + 2.2 * STEPS ** -0.3


def low_noise_fit(seed, rho, noise=1e-4):
    """E = 2, p = -2, the value moving by 0.7 over LOSS, AR(1) noise of sd ``noise``."""
    gap = (LOSS - 2.0) ** -2.0
    value = 0.5 + 0.7 * (gap - gap.min()) / np.ptp(gap)
    value = value + ar1.stationary_series(rho, (len(LOSS), 1), np.random.default_rng(seed), noise)[:, 0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return stat_law.fit_stat_vs_loss(LOSS, value)


@pytest.mark.parametrize("seed, rho", [(0, 0.0), (1, 0.0), (1, 0.5)])
def test_a_sharp_profile_interval_has_the_wald_interval_s_width(seed, rho):
    """Noise 1e-4: the profile intervals of E and p were single points, e.g. p (-1.9742, -1.9742)
    (the inner grid over the other parameter left the profile RSS at the estimate 1.8x the fit's
    RSS, above the allowance of ~0.1x); where the curve is this close to linear they are the
    Wald intervals (a residual bootstrap of 300 refits agreed to 0.002 in p)."""
    fit = low_noise_fit(seed, rho)
    parameter_intervals.ar1_parameter_intervals(fit, [LOSS], rho, profiled=())
    wald = {name: fit.params[name].ci95 for name in ("E", "p")}
    parameter_intervals.ar1_parameter_intervals(fit, [LOSS], rho)
    for name in ("E", "p"):
        lo, hi = fit.params[name].ci95
        assert lo < fit.params[name].value < hi, (name, lo, hi)
        width = wald[name][1] - wald[name][0]
        assert 0.8 * width < hi - lo < 1.25 * width, (name, (lo, hi), wald[name])


def test_the_profile_at_the_fit_s_own_p_is_the_fit_s_rss():
    """The least RSS with p held at the fit's value is the fit's RSS (lmfit's optimum), to far
    within the allowance (about 0.1x the RSS here)."""
    fit = low_noise_fit(0, 0.0)
    value = np.asarray(fit.model_result.data, dtype=float)
    for name in ("E", "p"):
        at = profile_likelihood.profile_rss(LOSS, value, name, [fit.params[name].value])[0]
        assert at == pytest.approx(fit.objective, rel=1e-4), name

"""`scalefit trajectory`'s intervals of E and p near their bounds: profile intervals, not Wald
intervals cut at the bounds (which held a true E of 0.05 in 70-80% of synthetic runs,
bench/bench_trajectory_bounds.py)."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

from scalefit.scaling.trajectories import ar1
from scalefit.scaling.trajectories import parameter_intervals, profile_likelihood, stat_law

STEPS = np.unique(np.r_[2.0 ** np.arange(10), np.arange(120, 1121, 30)])  # the long runs' 44
LOSS = 3.8 + 2.2 * STEPS ** -0.3  # 4.07 .. 6.0


def curve(E, p, noise):
    """value = v0 + c (L - E)^p moving by 0.7 over LOSS, plus ``noise``."""
    gap = (LOSS - E) ** p
    c = 0.7 / np.ptp(gap)
    return 0.5 + c * (gap - gap.min()) + noise


def fitted(value, E=None):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return stat_law.fit_stat_vs_loss(LOSS, value, E=E)


def test_a_floor_near_0_is_held_where_the_cut_wald_interval_missed_it():
    """E = 0.05, p = -2, independent noise (seed 0): the fit ends at E = 3.4, p = 0.17, and the
    Wald intervals, [2.6, 4.07] and [-0.49, 0.82], hold neither truth; the profile intervals hold
    both, and reach E's bound 0."""
    fit = fitted(curve(0.05, -2.0, np.random.default_rng(0).normal(0, 0.01, len(LOSS))))
    wald = {k: fit.params[k].ci95 for k in ("E", "p")}
    assert not wald["E"][0] <= 0.05 and not wald["p"][0] <= -2.0, wald  # the case the old method missed
    parameter_intervals.ar1_parameter_intervals(fit, [LOSS], 0.0)
    E, p = fit.params["E"].ci95, fit.params["p"].ci95
    assert E[0] == 0.0 and E[0] <= 0.05 <= E[1], E
    assert p[0] <= -2.0 <= p[1], p
    assert fit.params["E"].stderr == pytest.approx(fit.model_result.params["E"].stderr)  # stderr kept
    assert "E and p: profile intervals" in fit.extra["stderr_from"]
    assert "cut at the parameters' bounds" in fit.extra["stderr_from"]


@pytest.mark.parametrize("E, p, rho, seed", [(0.05, -4.7, 0.8, 3), (2.0, -4.7, 0.5, 4),
                                            (2.0, -2.0, 0.0, 5), (0.05, -2.0, 0.8, 6)])
def test_profile_intervals_hold_the_estimate_and_stay_within_the_bounds(E, p, rho, seed):
    rng = np.random.default_rng(seed)
    fit = fitted(curve(E, p, ar1.stationary_series(rho, (len(LOSS), 1), rng, 0.01)[:, 0]))
    parameter_intervals.ar1_parameter_intervals(fit, [LOSS], rho)
    bounds = {"E": (stat_law.E_FLOOR, LOSS.min()), "p": stat_law.P_BOUND}
    for name in ("E", "p"):
        est = fit.params[name]
        assert bounds[name][0] <= est.ci95[0] <= est.value <= est.ci95[1] <= bounds[name][1], (name, est)


@pytest.mark.parametrize("rho", [0.0, 0.6])
def test_where_the_curve_is_nearly_linear_in_p_the_profile_interval_is_the_wald_interval(rho):
    """Noise of 1e-5 on a curve with E known: over p's interval the model is linear to first order,
    so the profile interval must come out as the sandwich Wald interval (its RSS allowance: t^2
    times the AR(1) sandwich variance per unit of (J'J)^-1; with s^2 alone, leaving out the
    AR(1) factor, it fails at rho 0.6)."""
    rng = np.random.default_rng(9)
    value = 0.5 + 0.8 * (LOSS - 2.5) ** 0.7 + ar1.stationary_series(rho, (len(LOSS), 1), rng, 1e-5)[:, 0]
    fit = fitted(value, E=2.5)
    parameter_intervals.ar1_parameter_intervals(fit, [LOSS], rho, profiled=())
    wald = fit.params["p"].ci95
    parameter_intervals.ar1_parameter_intervals(fit, [LOSS], rho)
    profile = fit.params["p"].ci95
    assert profile[0] < fit.params["p"].value < profile[1]
    assert np.allclose(profile, wald, rtol=0, atol=0.02 * (wald[1] - wald[0])), (profile, wald)


def test_the_profile_is_continuous_through_p_0():
    """At p = 0, (L - E)^p is constant, but the fit's curve tends to v0 + c' log(L - E) as p -> 0:
    the profile RSS there is that limit, so an interval that reaches p = 0 does not stop at it."""
    value = curve(2.0, -0.5, np.random.default_rng(1).normal(0, 0.01, len(LOSS)))
    at_zero, near = profile_likelihood.profile_rss(LOSS, value, "p", [0.0, 1e-6, -1e-6])[[0]], \
        profile_likelihood.profile_rss(LOSS, value, "p", [1e-6, -1e-6])
    assert np.allclose(near, at_zero, rtol=1e-4), (at_zero, near)
    syy = float(np.sum((value - value.mean()) ** 2))
    assert at_zero[0] < 0.5 * syy  # the log curve, not the flat line


def test_the_grid_starts_are_the_profiles_least_squares_lines():
    """_grid_starts and the profile read one closed-form line fit (least_squares_lines): each
    start's (v0, c) is the least-squares line at its (E, p), its RSS the profile's at that p with
    E fixed there, and the starts come best first."""
    value = curve(2.0, -2.0, np.random.default_rng(2).normal(0, 0.01, len(LOSS)))
    starts = stat_law._grid_starts(LOSS, value, None)
    assert len(starts) == stat_law.N_REFINED
    rss = []
    for E, p, v0, c in starts:
        direct = float(np.sum((value - stat_law.stat_power_law(LOSS, v0, c, E, p)) ** 2))
        design = np.column_stack([np.ones_like(LOSS), (LOSS - E) ** p])
        lstsq = np.linalg.lstsq(design, value, rcond=None)
        assert np.allclose([v0, c], lstsq[0], rtol=1e-9, atol=0), ((v0, c), lstsq[0])
        profiled = profile_likelihood.profile_rss(LOSS, value, "p", [p], E_fixed=E)[0]
        assert direct == pytest.approx(profiled, rel=1e-9) and direct == pytest.approx(lstsq[1][0], rel=1e-9)
        rss.append(direct)
    assert rss == sorted(rss)

"""The at-bound rule of every fit (fitresult.at_bound): an estimate within a thousandth of its
scale, max(|value|, |bound|), is on the bound, and a bootstrap interval that ends on a bound is said to.

Audit A3 finding 4: multi-power-n's beta at 4.998 of its bounds (0.01, 5), 95% CI [4.74, 5.00],
was printed as a clean estimate (the tolerance was 1e-5 of the bound; an interval ending on it
was not looked at)."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
from lmfit import Parameters

from scalefit.scaling.fitresult import (BOUND_FRACTION, FitResult, ParamEstimate, at_bound,
                                        attach_intervals, bound_warnings)
from scalefit.scaling.interval_text import interval_text


def params(**spec):
    """lmfit Parameters from name=(value, lo, hi)."""
    out = Parameters()
    for name, (value, lo, hi) in spec.items():
        out.add(name, value=value, min=lo, max=hi)
    return out


def test_an_estimate_short_of_its_bound_by_less_than_a_thousandth_of_its_scale_is_on_it():
    """beta 4.998 of (0.01, 5) is at the upper bound (the audit's case); alpha 0.010005 of
    (0.01, 3) at the lower; log_A a hundredth above log(1e-12) (|bound| 27.6) is A at its lower."""
    got = bound_warnings(params(beta=(4.99798, 0.01, 5.0), alpha=(0.010005, 0.01, 3.0),
                                log_A=(np.log(1e-12) + 0.01, np.log(1e-12), np.log(1e12))))
    assert got == ["parameter beta is at its upper bound", "parameter alpha is at its lower bound",
                   "parameter A is at its lower bound"]


@pytest.mark.parametrize("value", [0.02, 4.99, 4.98, 0.03, 2.5])
def test_an_estimate_inside_its_bounds_is_not_flagged(value):
    """Twice the tolerance (2e-3 of the span 4.99) from either bound, and further in, is an
    estimate: no warning."""
    assert 0.01 / 4.99 > 2 * BOUND_FRACTION
    assert bound_warnings(params(beta=(value, 0.01, 5.0))) == []


def test_a_one_sided_bound_keeps_the_relative_tolerance():
    """E in (0, inf) has no span: E = 1e-6 is at 0, E = 0.001 is not (an irreducible loss of a
    thousandth of a nat is an estimate, as before)."""
    assert bound_warnings(params(E=(1e-6, 0.0, np.inf))) == ["parameter E is at its lower bound"]
    assert bound_warnings(params(E=(1e-3, 0.0, np.inf))) == []
    assert not at_bound(np.nan, 0.0) and not at_bound(0.5, np.inf)


def fit_with(value, lo, hi, draws, name="beta"):
    """A FitResult of one parameter whose bootstrap draws are ``draws``."""
    p = params(**{name: (value, lo, hi)})
    shown = name.removeprefix("log_")
    result = FitResult(law="test", params={shown: ParamEstimate(float(np.exp(value)) if name != shown
                                                                else value)},
                       n_points=10, objective=0.0, converged=True,
                       warnings=bound_warnings(p), model_result=SimpleNamespace(params=p))
    attach_intervals(result, {shown: np.asarray(draws, float)})
    return result


def test_an_interval_that_ends_on_a_bound_is_said_to():
    """beta 4.9 inside (0.01, 5), a fifth of its refits on the cap: the interval ends at 5 and the
    fit says the data do not bound beta from above."""
    draws = np.r_[np.linspace(4.6, 4.99, 80), np.full(20, 5.0 - 1e-15)]
    result = fit_with(4.9, 0.01, 5.0, draws)
    assert result.params["beta"].ci95[1] == pytest.approx(5.0)
    # the ends as every table prints them (interval_text): [4.61, 5.00], not [4.612, 5]
    assert result.warnings == [f"parameter beta: its 95% interval {interval_text(*result.params['beta'].ci95)} "
                               "reaches the upper bound 5: the data do not bound beta from above"]


def test_an_interval_on_a_log_scale_bound_is_read_in_the_fitted_scale():
    """A (fitted as log_A) whose refits reach 1e-12 at the low end: the lower bound 1e-12."""
    draws = np.r_[np.full(10, 1e-12), np.geomspace(1e-3, 10.0, 90)]
    result = fit_with(np.log(0.5), np.log(1e-12), np.log(1e12), draws, name="log_A")
    assert len(result.warnings) == 1
    assert result.warnings[0].startswith("parameter A: its 95% interval [0, ")  # 1e-12 printed 0, as tables do
    # the bound named as it is, and as its printed end reads it (s46: '[0, ...] reaches 1e-12' read as an end below it)
    assert result.warnings[0].endswith("reaches the lower bound 1e-12 (printed 0): the data do not bound A from below")


def test_an_interval_inside_its_bounds_or_of_an_estimate_on_the_bound_adds_nothing():
    """An interval well inside says nothing; an estimate on the bound is said once, as at it."""
    assert fit_with(2.0, 0.01, 5.0, np.linspace(1.5, 2.5, 100)).warnings == []
    on = fit_with(5.0, 0.01, 5.0, np.linspace(4.5, 5.0, 100))
    assert on.warnings == ["parameter beta is at its upper bound"]
    p = params(beta=(4.9, 0.01, 5.0))
    kept = FitResult(law="test", params={"beta": ParamEstimate(4.9)}, n_points=10, objective=0.0,
                     converged=True, model_result=SimpleNamespace(params=p))
    attach_intervals(kept, {"beta": np.full(100, 5.0)}, fixed=("beta",))  # held fixed: no interval
    assert kept.warnings == []


def test_a_schedule_law_line_labels_a_parameter_at_its_bound():
    """fit schedule-law printed 'beta = 4.998  95% CI [4.74, 5.00]' bare, the bound said only in a
    warning below: the line takes the bound's label, as fitresult.param_line does."""
    from scalefit.scaling.laws.schedule_cli import _fit_text
    out = {"law": "multi-power", "n_points": 40, "n_runs": 1, "runs": ["m"], "rmse_log": 0.01,
           "mean_abs_rel_error": 0.01, "max_abs_rel_error": 0.02,
           "params": {"beta": {"value": 4.99798, "ci95": [4.74, 4.999999999999999]},
                      "gamma": {"value": 0.5, "ci95": [0.4, 0.6]}},
           "warnings": ["parameter beta is at its upper bound"]}
    lines = {ln.split("=")[0].strip(): ln for ln in _fit_text(out).splitlines() if "=" in ln}
    assert lines["beta"].endswith("(at its upper bound)"), lines["beta"]
    assert "bound" not in lines["gamma"]


def test_an_E_just_under_the_lowest_loss_is_an_estimate_not_a_bound():
    """E's upper bound in the stat-vs-loss law is the lowest loss (the law's domain): a true E 0.001
    under it, fitted to 2.9988, read 'E ends at its bound 0 ... the fit wanted a floor below 0'."""
    from scalefit.scaling.trajectories.stat_law import fit_stat_vs_loss
    loss = np.linspace(6.0, 3.0, 60)
    value = 0.2 + 1.5 * (loss - 2.999) ** 0.5
    fit = fit_stat_vs_loss(loss, value)
    assert abs(fit.params["E"].value - 2.999) < 0.01
    assert not any(w.startswith("parameter E is at its") for w in fit.warnings), fit.warnings

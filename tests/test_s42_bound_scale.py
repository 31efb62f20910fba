"""The at-bound rule (fitresult.at_bound) reads a parameter's own scale, not its bounds' span.

With the span rule (a thousandth of max - min), a parameter bounded (0, 20) was "at its lower
bound" up to 0.02: an irreducible loss E = 0.019 was no estimate because the cap was generous."""
from __future__ import annotations

import numpy as np
import pytest
from lmfit import Parameters

from scalefit.scaling.fitresult import at_bound, bound_warnings


def params(**spec):
    """lmfit Parameters from name=(value, lo, hi)."""
    out = Parameters()
    for name, (value, lo, hi) in spec.items():
        out.add(name, value=value, min=lo, max=hi)
    return out


def test_an_E_near_zero_under_a_generous_cap_is_an_estimate():
    """E = 0.019 in (0, 20) (multi-power-n's and momentum-n's E) is an estimate, as it is in
    (0, inf); so are alpha 0.0125 of (0.01, 3) and a Huber-fitted kappa 0.015 of (1e-3, 20)."""
    assert bound_warnings(params(E=(0.019, 0.0, 20.0))) == []
    assert bound_warnings(params(E=(0.019, 0.0, np.inf))) == []
    assert bound_warnings(params(alpha=(0.0125, 0.01, 3.0), kappa=(0.015, 1e-3, 20.0))) == []


def test_the_rule_does_not_depend_on_the_other_bound():
    """The same value and bound give the same answer whatever the cap."""
    for cap in (1.0, 20.0, 1e6, np.inf):
        assert not at_bound(0.019, 0.0)
        assert bound_warnings(params(E=(0.019, 0.0, cap))) == []
        assert bound_warnings(params(E=(1e-6, 0.0, cap))) == ["parameter E is at its lower bound"]


def test_a_fit_that_stopped_short_of_its_cap_is_on_it():
    """multi-power's beta 4.998 of (0.01, 5), the case the span rule was made for, is still on it."""
    assert bound_warnings(params(beta=(4.99798, 0.01, 5.0))) == ["parameter beta is at its upper bound"]
    assert at_bound(4.998, 5.0) and not at_bound(4.99, 5.0)


@pytest.mark.parametrize("value, bound", [(0.0, 0.0), (5.0, 5.0), (0.01, 0.01), (-5.0, -5.0), (3.0, 3.0)])
def test_a_value_exactly_on_its_bound_is_at_it(value, bound):
    assert at_bound(value, bound) and at_bound(value, bound, data_limit=True)


def test_a_data_limit_keeps_the_relative_tolerance_alone():
    """E under the lowest loss 3: 2e-5 under it is on it; 0.0025 under (within a thousandth of its scale)
    is on it as a fitted bound, but is an estimate as a limit of the data."""
    assert at_bound(3.0 - 2e-5, 3.0, data_limit=True)
    assert not at_bound(2.9975, 3.0, data_limit=True) and at_bound(2.9975, 3.0)
    assert bound_warnings(params(E=(2.9975, 0.0, 3.0)), data_limits=("E",)) == []

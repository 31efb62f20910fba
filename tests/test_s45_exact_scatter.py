"""The scatter check on a fit that is exact up to rounding: its residuals are rounding error, whose
"share" said nothing but was computed, and fired on some noise-free runs (the 2 largest of 10
residuals of value = 4.81 + 4.57 log10(step) "held 100% of the fit's scatter", try --stat t_xi)."""
import numpy as np

from scalefit.scaling.trajectories.transition_search import (find_transitions, leaves_no_scatter,
                                                             scatter_share)


def test_an_exact_line_or_kink_has_no_scatter_share():
    steps = 10.0 * 2.0 ** np.arange(10)
    x = np.log10(steps)
    exact = [4.81 + 4.57 * x, 1.0 + 0.3 * x + 0.9 * np.maximum(x - x[5], 0.0)]
    for y in exact:
        search = find_transitions(x, y, n_bootstrap=0)
        share = scatter_share(x, y, search.best)
        assert np.isnan(share.share) and np.isnan(share.threshold) and not share.concentrated


def test_a_noisy_run_keeps_its_share():
    rng = np.random.default_rng(3)
    x = np.log10(10.0 * 2.0 ** np.arange(30) / 2 ** 15 * 1e3)
    y = 1.0 + 0.3 * x + rng.normal(0, 0.05, x.size)
    search = find_transitions(x, y, n_bootstrap=0)
    assert not leaves_no_scatter(y, search.best.sse)
    share = scatter_share(x, y, search.best)
    assert 0 < share.share < 1 and 0 < share.threshold < 1


def test_a_bound_warning_prints_its_interval_as_the_parameter_line_beside_it():
    """The warning printed interval_text(lo, hi) without the estimate, so ends (2.0, 3.1249) of a
    value 3.12 read [2.0, 3.1] there and [2.00, 3.12] in the table beside it."""
    from lmfit import Parameters

    from scalefit.scaling.fitresult import ParamEstimate, interval_bound_warnings
    from scalefit.scaling.interval_text import at_zero, interval_text

    params = Parameters()
    params.add("beta", value=3.12, min=0.01, max=3.1249)
    est = ParamEstimate(3.12, ci95=(2.0, 3.1249))
    (warning,) = interval_bound_warnings(params, {"beta": est})
    table = interval_text(*at_zero(*est.ci95, est.value))
    assert table == "[2.00, 3.12]" and f"its 95% interval {table} reaches the upper bound" in str(warning)

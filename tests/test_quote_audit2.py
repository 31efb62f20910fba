"""The quote audit's loose ends (S5's report): fit schedule-law's parameter lines and the
warning beside them print one interval one way (the interval rule), and an interval that
excludes 0 never prints an end as 0."""
from __future__ import annotations

import numpy as np

from scalefit.scaling.fitresult import ParamEstimate
from scalefit.scaling.interval_text import interval_text
from scalefit.scaling.laws.identifiability import identifiability_warning
from scalefit.scaling.laws.schedule_cli import _fit_text


# --------------------------------------------------------------------- the interval rule


def test_an_interval_that_excludes_zero_prints_no_end_as_zero():
    """A's resamples 117 to 9.535e+09 printed at the width's place read [0, 9.5e+09], as if A
    could be 0; E's resamples 3.3e-05 to 0.0185 beside E = 0 read [0, 0.019], which holds the
    estimate that the line calls outside its interval."""
    assert interval_text(117.0, 9.535e9, 1000.0) == "[120, 9.5e+09]"
    assert interval_text(3.332e-05, 0.01854, 0.0) == "[3.3e-05, 0.019]"
    assert interval_text(-9.535e9, -117.0) == "[-9.5e+09, -120]"
    assert interval_text(0.0, 4.0455, 9e-18) == "[0, 4.0]"  # an end at 0 stays 0
    assert interval_text(-0.3, 12.0) == "[0, 12]"  # an interval across 0: the width's place


def test_an_estimate_outside_its_interval_stays_outside_the_printed_ends():
    """C = 1.000e-08 beside resamples in [1.004e-08, 1.3e-08]: at the width's place the lower end
    rounds to the estimate, so the ends get the digit that keeps it out."""
    lo, hi = interval_text(1.004e-08, 1.3e-08, 1.0e-08)[1:-1].split(", ")
    assert float(lo) > 1.0e-08 and lo == "1.004e-08"
    assert interval_text(1.004e-08, 1.3e-08) == "[1.00e-08, 1.30e-08]"  # no estimate to keep out


# --------------------------------------------------------------------- fit schedule-law


def test_schedule_law_lines_and_their_warning_print_one_interval_one_way():
    """fit schedule-law printed 'A = ...  95% CI [117, 9.535e+09]' (4 digits) above the warning
    'A (95% CI [117, 9.54e+09], ...)' (3 digits): both now follow the interval rule."""
    params = {"E": (2.0e-17, (3.332e-05, 0.01854)), "A": (1000.0, (117.0, 9.535e9)),
              "K": (2.469, (2.184, 2.791))}
    ident = {"E": {"relative_width": np.inf, "status": "not identified"},
             "A": {"relative_width": 9.5e6, "status": "not identified"}}
    warning = identifiability_warning(ident, {k: ParamEstimate(v, ci95=ci) for k, (v, ci) in params.items()})
    out = {"law": "momentum-n", "n_points": 123, "n_runs": 3, "runs": ["mini-1", "mini-3", "mini-5"],
           "params": {k: {"value": v, "ci95": list(ci)} for k, (v, ci) in params.items()},
           "rmse_log": 0.0073, "mean_rel_error": 0.0054, "max_rel_error": 0.0237, "warnings": [warning]}
    lines = _fit_text(out).splitlines()
    expected = {"E": "[3.3e-05, 0.019]", "A": "[120, 9.5e+09]", "K": "[2.18, 2.79]"}
    for name, shown in expected.items():
        line = next(x for x in lines if x.strip().startswith(f"{name} = "))
        assert f"  95% CI {shown}" in line, line
    assert "E (95% CI [3.3e-05, 0.019], its value 0" in warning
    assert "A (95% CI [120, 9.5e+09], its value 1e+03" in warning
    assert lines[-1] == f"  warning: {warning}"


"""outputs.percent_columns: the one place calibrate's tables (the cut table and the by-distance
table, terminal and report.md) turn their fraction columns into percentages."""
from __future__ import annotations

import numpy as np
import pandas as pd

from scalefit.scaling.outputs import percent, percent_columns


def test_shares_print_whole_errors_three_digits_and_no_number_a_dash():
    frame = pd.DataFrame({"coverage": [0.95, 1.0, np.nan], "err": [0.0134, 3.6e-5, np.inf],
                          "n": [1, 2, 3]})
    shown = percent_columns(frame, shares=["coverage"], errors=["err"])
    assert list(shown["coverage"]) == ["95%", "100%", "-"]
    assert list(shown["err"]) == ["1.34%", "0.0036%", "-"]
    assert list(shown["n"]) == [1, 2, 3]  # other columns as they were
    assert frame["coverage"].dtype == float  # a copy: the caller's fractions are kept


def test_percent_defaults_to_the_relative_error_form():
    assert percent(0.002718) == "0.27%" and percent(3.6e-5) == "0.0036%"
    assert percent(None) == "-" and percent(float("nan"), ".0%") == "-"

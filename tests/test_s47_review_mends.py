"""Review mends of the s47 scaling-law commits (m2): default_budgets refuses a largest fitted
compute that is no finite positive number, intervals_overlap takes any number of intervals (the
one overlap test compare's verdict also uses), and compare --json says each law as typed
(law_given), as fit --json does."""
from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from scalefit.cli import main
from scalefit.errors import InputError
from scalefit.scaling.interval_text import intervals_overlap
from scalefit.scaling.laws.projection import REACH, default_budgets


@pytest.mark.parametrize("c_max", [np.nan, 0.0, -1e20, np.inf])
def test_default_budgets_refuse_a_largest_compute_that_is_no_positive_number(c_max):
    # [nan] gave [1e21, 5.76e23, 1e25, nan, nan]; [0.0] gave the published budgets, each 'within
    # 1000x' of nothing
    with pytest.raises(InputError, match="expected a finite positive number"):
        default_budgets([c_max])
    with pytest.raises(InputError, match="expected a finite positive number"):
        default_budgets([c_max], [1e20])


def test_default_budgets_still_follow_the_data():
    assert default_budgets([1e19, np.nan], [3e19]) == [3e19, 1e20, 1e21]  # a NaN beside a run
    assert default_budgets([1e22]) == [1e21, 1e23, 5.76e23, 1e24, 1e25]
    assert all(c <= REACH * 1e19 for c in default_budgets([1e19]))


def test_intervals_overlap_takes_any_number_of_intervals():
    assert intervals_overlap((0.1, 0.3), (0.2, 0.5), (0.25, 0.9)) is True
    assert intervals_overlap((0.1, 0.3), (0.2, 0.5), (0.3, 0.9)) is True  # an end on an end
    # each pair but one overlaps: all three share no point
    assert intervals_overlap((0.1, 0.3), (0.2, 0.5), (0.4, 0.9)) is False
    assert intervals_overlap((0.1, 0.3), (0.2, 0.5), (np.nan, 0.9)) is None
    assert intervals_overlap((0.1, 0.3), (0.2, 0.5)) is True  # two, as before
    with pytest.raises(TypeError):
        intervals_overlap((0.1, 0.3))


def test_compare_json_says_each_law_as_typed():
    done = CliRunner().invoke(main, ["compare", "kaplan", "chinchilla", "--bootstrap", "0", "--json"])
    assert done.exit_code == 0, done.output
    fits = json.loads(done.stdout)["fits"]
    assert fits["kaplan"]["law"] == "kaplan-nd" and fits["kaplan"]["law_given"] == "kaplan"
    assert fits["chinchilla"]["law_given"] == "chinchilla"

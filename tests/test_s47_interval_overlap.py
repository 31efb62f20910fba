"""interval_text.intervals_overlap: the one overlap test of two 95% intervals, which reconcile's
walk (Move.overlap) and compare --schedules' sentences (schedule_gap_report) each wrote."""
from __future__ import annotations

import json
import math

import numpy as np

from scalefit.scaling.interval_text import intervals_overlap
from scalefit.scaling.laws import reconcile, schedule_gap_report
from scalefit.scaling.laws.reconcile import Step, walk_moves


def test_overlap_counts_touching_ends_and_needs_both_intervals():
    assert intervals_overlap((0.1, 0.3), (0.2, 0.5)) is True
    assert intervals_overlap((0.1, 0.3), (0.3, 0.5)) is True  # an end on an end
    assert intervals_overlap((0.1, 0.3), (0.31, 0.5)) is False
    assert intervals_overlap((0.31, 0.5), (0.1, 0.3)) is False  # either order
    assert intervals_overlap(np.array([0.1, 0.3]), [0.2, 0.5]) is True  # a plain bool, not np.bool_
    for missing in (None, (math.nan, 0.3), (0.1, math.inf), ()):
        assert intervals_overlap(missing, (0.2, 0.5)) is None
        assert intervals_overlap((0.2, 0.5), missing) is None


def test_both_callers_use_the_shared_test():
    assert not hasattr(reconcile, "_overlap") and not hasattr(schedule_gap_report, "_overlap")
    steps = [Step("", "x", 10, a=0.8, a_lo=0.7, a_hi=0.9), Step("", "y", 10, a=0.6, a_lo=0.5, a_hi=0.7),
             Step("", "z", 10, a=0.3, a_lo=0.2, a_hi=0.4), Step("", "w", 10, a=0.3)]
    moves = walk_moves(steps, n_bootstrap=1000)
    assert [m.overlap for m in moves] == [True, False, None]
    json.dumps([m.overlap for m in moves])  # JSON-ready: bools and None

"""An interval-at-bound warning carries its kind (fitresult.IntervalAtBound: parameter, side,
bound) and ``reaches_bound`` tests that, not the words: it matched a regex on the text, so any
warning worded like one read as one. The words, in JSON and in print, are as before; pickling and
copying keep the kind; a JSON round trip leaves words alone, which nothing reads for the kind."""
from __future__ import annotations

import copy
import json
import pickle

import lmfit
import numpy as np
import pytest

from scalefit.scaling.fitresult import (FitResult, IntervalAtBound, ParamEstimate,
                                        attach_intervals, interval_bound_warnings, reaches_bound)

WORDS = ("parameter E: its 95% interval [0, 0.95] reaches the lower bound 0: the data do not "
         "bound E from below")


def bounded_params() -> lmfit.Parameters:
    params = lmfit.Parameters()
    params.add("E", value=0.04, min=0.0, max=3.0)
    params.add("log_A", value=np.log(5.0), min=np.log(1e-3), max=np.log(50.0))
    return params


def warned() -> list:
    estimates = {"E": ParamEstimate(0.04, 0.1, (0.0, 0.95)), "A": ParamEstimate(5.0, 1.0, (1.0, 50.0))}
    return interval_bound_warnings(bounded_params(), estimates)


def test_the_warnings_carry_their_kind_in_the_same_words():
    cut_e, cut_a = warned()
    assert str(cut_e) == WORDS and type(str(cut_e)) is str
    assert cut_a == ("parameter A: its 95% interval [1, 50] reaches the upper bound 50: the data do "
                     "not bound A from above")
    assert (cut_e.parameter, cut_e.side, cut_e.bound) == ("E", "lower", 0.0)
    assert (cut_a.parameter, cut_a.side, cut_a.bound) == ("A", "upper", pytest.approx(50.0))
    assert all(reaches_bound(w) for w in (cut_e, cut_a))
    assert f"warning: {cut_e}" == f"warning: {WORDS}" and json.dumps(cut_e) == json.dumps(WORDS)


def test_words_alone_are_not_the_kind():
    """The regex took any warning so worded for one (a JSON round trip's words, another
    module's message); the kind is what the warning is, not what it says."""
    assert not reaches_bound(WORDS)
    assert not reaches_bound("parameter E is at its lower bound")


def test_pickling_and_copying_keep_the_kind():
    result = FitResult("chinchilla", {"E": ParamEstimate(0.04)}, 10, 0.1, True, warned())
    for copied in (pickle.loads(pickle.dumps(result)), copy.deepcopy(result), copy.copy(result)):
        for w, original in zip(copied.warnings, result.warnings):
            assert type(w) is IntervalAtBound and w == original and reaches_bound(w)
            assert (w.parameter, w.side, w.bound) == (original.parameter, original.side, original.bound)


def test_to_dict_keeps_the_kind_and_json_the_words():
    result = FitResult("chinchilla", {"E": ParamEstimate(0.04)}, 10, 0.1, True,
                       [*warned(), "too few points"])
    out = result.to_dict()
    assert [reaches_bound(w) for w in out["warnings"]] == [True, True, False]
    loaded = json.loads(json.dumps(out))
    assert loaded["warnings"] == [str(w) for w in result.warnings]  # the words, byte for byte
    assert not any(reaches_bound(w) for w in loaded["warnings"])  # no kind in JSON: none claimed


def test_a_bootstrap_interval_on_a_bound_gets_the_kind():
    """attach_intervals (every bootstrap's one place) adds the warning with its kind."""
    result = FitResult("chinchilla", {"E": ParamEstimate(0.04), "A": ParamEstimate(5.0)}, 10, 0.1, True)
    result.model_result = type("Fitted", (), {"params": bounded_params()})()
    rng = np.random.default_rng(0)
    attach_intervals(result, {"E": np.r_[np.zeros(60), rng.uniform(0, 1, 140)],
                              "A": rng.uniform(3, 7, 200)})
    (cut,) = result.warnings
    assert reaches_bound(cut) and (cut.parameter, cut.side, cut.bound) == ("E", "lower", 0.0)


def test_a_trajectory_fit_s_profile_interval_gets_the_kind():
    from tests.test_s42_traj_interval_bounds import checkpoint_table
    from scalefit.scaling.trajectories.trajectory import trajectory_report

    report = trajectory_report(checkpoint_table(0.3, -2.0, 3e-3), "t_nu")
    cut = [w for w in report.collapse["pooled"].warnings if reaches_bound(w)]
    assert [(w.parameter, w.side, w.bound) for w in cut] == [("E", "lower", 0.0)]
    assert f"- pooled: {cut[0]}" in report.markdown().splitlines()

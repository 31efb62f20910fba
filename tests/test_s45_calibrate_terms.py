"""calibrate (s45): a cut whose fit drives a term to ~0 inside its bounds (Chinchilla's B at 1e-9,
its exponent then arbitrary) is left out as a fit on a bound is (calibrate.vanished_terms,
NEGLIGIBLE_TERM); and after Ctrl-C the 'interrupted after K of N compute cuts' line counts every
cut finished, the ones left out among them, and says how many were left out."""
from __future__ import annotations

import copy
import warnings

import numpy as np
import pytest
from click.testing import CliRunner

from scalefit.cli import main
from scalefit.scaling.laws import calibrate as calibrate_module
from scalefit.scaling.laws.calibrate import (NEGLIGIBLE_TERM, calibrate_law, unconverged_reason,
                                             vanished_terms)
from scalefit.scaling.laws.fit import fit_law
from scalefit.scaling.laws.runtable import validate_runs
from scalefit.signals import Interrupted
from tests.test_s44_laws_honesty import grid_runs, runs_whose_low_cut_rises_with_tokens


def lowest(runs, n: int):
    """The run table of the ``n`` lowest-compute runs, as a cut's fit reads it."""
    table = validate_runs(runs, "chinchilla")
    return validate_runs(runs.iloc[np.argsort(table.C, kind="stable")[:n]], "chinchilla")


def quiet_fit(table):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fit_law(table, "chinchilla", n_bootstrap=20)


def test_a_term_driven_to_zero_inside_its_bounds_is_no_fit_to_score():
    """The 10 lowest runs' loss rises with D (no D term to find): the fit puts B at ~1e-9, inside
    its bounds (log B in [-50, 200]), beta wherever it started; nothing was on a bound, so the
    old rule scored it. The same runs with the law's own D term: a fit to score."""
    gone = lowest(runs_whose_low_cut_rises_with_tokens(), 10)
    result = quiet_fit(gone)
    assert result.converged and -45 < np.log(result.value("B")) < -5  # inside its bounds
    assert unconverged_reason(result) is None  # the bound rule alone: scored
    reason = unconverged_reason(result, gone)
    assert reason.startswith("term B (exponent beta) moves the fitted runs' loss by at most ")
    assert reason.endswith("a term of the law flat or gone, so the fit is not identified")
    assert [scale for scale, _ in vanished_terms(result, gone)] == ["B"]
    fine = lowest(grid_runs(), 10)
    fitted = quiet_fit(fine)
    assert vanished_terms(fitted, fine) == [] and unconverged_reason(fitted, fine) is None


def test_the_rule_reads_the_terms_share_of_the_loss_range():
    """A fine fit with its B scaled down: left out once the B term moves no fitted run's loss by
    NEGLIGIBLE_TERM of the loss's range across them, and not while it moves one by more."""
    table = lowest(grid_runs(), 16)
    fitted = quiet_fit(table)
    D, spread = table.D, np.ptp(table.L)
    v = fitted.values()
    largest = np.max(v["B"] / D ** v["beta"]) / spread  # the B term's share, as fitted
    for factor, gone in ((3 * NEGLIGIBLE_TERM / largest, False), (NEGLIGIBLE_TERM / largest / 3, True)):
        scaled = copy.copy(fitted)
        scaled.params = {k: copy.copy(p) for k, p in fitted.params.items()}
        scaled.params["B"].value = v["B"] * factor
        assert bool(vanished_terms(scaled, table)) is gone, factor


def test_calibrate_leaves_out_the_cut_whose_d_term_is_gone_and_scores_a_fine_table():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cal = calibrate_law(runs_whose_low_cut_rises_with_tokens(), "chinchilla", cuts=4,
                            n_bootstrap=20, min_fit=10)
        fine = calibrate_law(grid_runs(), "chinchilla", cuts=4, n_bootstrap=20, min_fit=10)
    first = next(row for row in cal.left_out if row["n_fit"] == 10)
    assert "term B (exponent beta)" in first["reason"]
    assert first["cut_flops"] not in set(cal.predictions["cut_flops"])
    assert cal.coverage == cal.predictions["inside"].mean()
    assert fine.left_out == [] and len(fine.cuts) == 4


def _forced(monkeypatch, left_out_calls=(1,), stop_call=3):
    """fit_law raises KeyboardInterrupt (Ctrl-C) on its ``stop_call``-th call; the fits of the
    calls in ``left_out_calls`` are judged no fit (a reason, as a term on a bound gives)."""
    real_fit, real_reason, calls = calibrate_module.fit_law, calibrate_module.unconverged_reason, []

    def fit(*args, **kwargs):
        calls.append(1)
        if len(calls) == stop_call:
            raise KeyboardInterrupt
        return real_fit(*args, **kwargs)

    def reason(result, table=None):
        if len(calls) in left_out_calls:
            return "parameter beta at its upper bound: a term of the law flat or gone, so the fit is not identified"
        return real_reason(result, table)

    monkeypatch.setattr(calibrate_module, "fit_law", fit)
    monkeypatch.setattr(calibrate_module, "unconverged_reason", reason)


def test_ctrl_c_counts_the_cuts_finished_and_left_out(monkeypatch):
    """Cut 1 left out, cut 2 scored, Ctrl-C in cut 3: 2 of 3 finished, 1 of them left out (the
    line said 'after 1 of 3', as if the first cut had not been reached)."""
    _forced(monkeypatch)
    with warnings.catch_warnings(), pytest.raises(Interrupted) as stop:
        warnings.simplefilter("ignore")
        calibrate_law(grid_runs(), "chinchilla", cuts=3, n_bootstrap=4)
    partial = stop.value.partial
    assert (stop.value.done, stop.value.total) == (2, 3)
    assert len(partial.cuts) == 1 and len(partial.left_out) == 1
    assert partial.interrupted == (
        "interrupted after 2 of 3 compute cuts (the lowest; 1 of them left out, as a note says): "
        "the coverage counts only the predictions of the 1 scored")
    assert partial.interrupted in partial.notes
    assert any(n.startswith("1 of 3 cuts left out: fit did not converge") for n in partial.notes)


def test_ctrl_c_with_none_left_out_says_what_it_said(monkeypatch):
    _forced(monkeypatch, left_out_calls=())
    with warnings.catch_warnings(), pytest.raises(Interrupted) as stop:
        warnings.simplefilter("ignore")
        calibrate_law(grid_runs(), "chinchilla", cuts=3, n_bootstrap=4)
    assert (stop.value.done, stop.value.total) == (2, 3)
    assert stop.value.partial.interrupted == ("interrupted after 2 of 3 compute cuts (the lowest): "
                                              "the coverage counts only their predictions")


def test_the_command_counts_the_left_out_cut_on_ctrl_c(monkeypatch, tmp_path):
    data = tmp_path / "runs.csv"
    grid_runs().to_csv(data, index=False)
    _forced(monkeypatch)
    result = CliRunner().invoke(main, ["calibrate", "chinchilla", "--data", str(data), "--cuts", "3",
                                       "--bootstrap", "4"])
    assert result.exit_code == 130, result.output
    assert "interrupted: 2 of 3 compute cuts finished; run the command again" in result.stderr
    assert "note: interrupted after 2 of 3 compute cuts (the lowest; 1 of them left out" in result.stdout
    assert "1 leave-future-out cut (1 more left out: fit did not converge)" in result.stdout

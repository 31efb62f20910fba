"""Ctrl-C (or SIGTERM) once an analysis' work is finished no longer loses it.

`calibrate`, `transitions` and `warmup-study` kept the units finished when stopped inside their
loop, but a signal after the last unit (while the result was summarized, regressed, written or
printed) escaped as a bare KeyboardInterrupt: 'interrupted', exit 130, nothing printed, --out not
written. Now such a signal waits (signals.deferring_signals): the complete result is printed and
written, then the command exits 130 (143 for SIGTERM); a second signal stops at once. The
signals here are real ones, sent to this process from the step after the loop."""
from __future__ import annotations

import os
import signal

import pandas as pd
import pytest
from click.testing import CliRunner

import scalefit.scaling.laws.calibrate as law_calibrate
import scalefit.scaling.laws.calibrate_cli as calibrate_cli
from scalefit import signals
from scalefit.cli import main
from tests.test_interrupt_audit import last_line
from tests.test_interrupt_audit_out import _files, _transitions, _warmup
from tests.test_trajectory_inputs import long_table

CALIBRATE = ["calibrate", "chinchilla", "--cuts", "2", "--bootstrap", "4"]
COMPLETE = "once the work was finished: what was printed and written is complete"


def _signal_in(monkeypatch, module, name: str, signum: int) -> None:
    """``module.name`` sends ``signum`` to this process, then does its work: a Ctrl-C (SIGTERM)
    that comes while that step runs."""
    real = getattr(module, name)

    def signalling(*args, **kwargs):
        os.kill(os.getpid(), signum)
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, signalling)


def _without_settings(files: dict) -> dict:
    return {name: data for name, data in files.items() if name != "scalefit_settings.json"}


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    """The trajectory tests' three runs, with a second statistic (two panels for warmup-study)."""
    rows = long_table()
    weights = rows[rows["stat"] == "t_nu"]
    path = tmp_path_factory.mktemp("table") / "t.parquet"
    pd.concat([rows, weights.assign(stat="kurtosis", value=weights["value"] * 2)],
              ignore_index=True).to_parquet(path)
    return path


@pytest.fixture(scope="module")
def complete_calibration(tmp_path_factory):
    out = tmp_path_factory.mktemp("calibration") / "out"
    result = CliRunner().invoke(main, [*CALIBRATE, "--out", str(out)])
    assert result.exit_code == 0, result.output
    return out, result.stdout


def test_ctrl_c_while_the_calibration_is_summarized_prints_and_writes_all_of_it(
        complete_calibration, monkeypatch, tmp_path, capfd):
    out = tmp_path / "out"
    _signal_in(monkeypatch, law_calibrate, "summarize", signal.SIGINT)  # after the last cut's fit
    result = CliRunner().invoke(main, [*CALIBRATE, "--out", str(out)])
    assert result.exit_code == 130, result.output
    said = capfd.readouterr().err  # the handler's line goes to fd 2 (os.write), not click's stderr
    assert "SIGINT: the work is finished; printing and writing it, then stopping" in said
    assert result.stdout == complete_calibration[1]  # the whole calibration, no 'interrupted' note
    assert _without_settings(_files(out)) == _without_settings(_files(complete_calibration[0]))
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # restored
    assert last_line(result.stderr) == f"interrupted (SIGINT) {COMPLETE}"


def test_sigterm_while_the_report_is_written_finishes_it_then_exits_143(
        complete_calibration, monkeypatch, tmp_path):
    out = tmp_path / "out"
    _signal_in(monkeypatch, calibrate_cli, "write_calibration_files", signal.SIGTERM)
    result = CliRunner().invoke(main, [*CALIBRATE, "--out", str(out), "--json"])
    assert result.exit_code == 143, result.output
    assert '"interrupted"' not in result.stdout and '"coverage"' in result.stdout
    assert _without_settings(_files(out)) == _without_settings(_files(complete_calibration[0]))
    assert last_line(result.stderr) == f"interrupted (SIGTERM) {COMPLETE}"


def test_a_second_ctrl_c_stops_at_once(monkeypatch, tmp_path, capfd):
    out = tmp_path / "out"
    _signal_in(monkeypatch, law_calibrate, "summarize", signal.SIGINT)  # held
    _signal_in(monkeypatch, calibrate_cli, "write_calibration_files", signal.SIGINT)
    result = CliRunner().invoke(main, [*CALIBRATE, "--out", str(out)])
    assert result.exit_code == 130, result.output
    assert "SIGINT again: stopping now" in capfd.readouterr().err
    assert last_line(result.stderr) == "interrupted"
    assert not out.exists() and result.stdout == ""
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_ctrl_c_while_transitions_regresses_prints_and_writes_the_regression(
        checkpoints, monkeypatch, tmp_path):
    from scalefit.scaling.trajectories import transitions as module

    complete = tmp_path / "complete"
    whole = CliRunner().invoke(main, _transitions(checkpoints, complete))
    assert whole.exit_code == 0, whole.output
    out = tmp_path / "out"
    _signal_in(monkeypatch, module, "regress_families", signal.SIGINT)  # every run searched
    result = CliRunner().invoke(main, _transitions(checkpoints, out))
    assert result.exit_code == 130, result.output
    assert result.stdout == whole.stdout
    assert (out / "warmup_regression.png").exists()  # the figure an interrupted search has none of
    assert _without_settings(_files(out)) == _without_settings(_files(complete))
    assert last_line(result.stderr) == f"interrupted (SIGINT) {COMPLETE}"


def test_ctrl_c_while_warmup_study_draws_its_figure_writes_the_whole_report(
        checkpoints, monkeypatch, tmp_path):
    from scalefit.scaling.trajectories import plots

    complete = tmp_path / "complete"
    whole = CliRunner().invoke(main, _warmup(checkpoints, complete))
    assert whole.exit_code == 0, whole.output
    out = tmp_path / "out"
    _signal_in(monkeypatch, plots, "plot_warmup_study", signal.SIGINT)
    result = CliRunner().invoke(main, _warmup(checkpoints, out))
    assert result.exit_code == 130, result.output
    assert result.stdout == whole.stdout
    assert len(pd.read_csv(out / "warmup_transitions.csv")) == 2
    assert "Interrupted" not in (out / "report.md").read_text()
    assert _without_settings(_files(out)) == _without_settings(_files(complete))
    assert last_line(result.stderr) == f"interrupted (SIGINT) {COMPLETE}"


def test_ctrl_c_before_any_statistic_finished_says_how_far_it_got(checkpoints, monkeypatch, tmp_path):
    from scalefit.scaling.trajectories import warmup_study as module

    def stop(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(module, "study_row", stop)
    result = CliRunner().invoke(main, _warmup(checkpoints, tmp_path / "out"))
    assert result.exit_code == 130, result.output
    assert last_line(result.stderr) == "interrupted: 0 of 2 statistics finished"
    # calibrate's: tests/test_interrupt_audit.py::test_ctrl_c_before_any_cut_finished_says_how_far_it_got


def test_the_block_holds_only_once_results_are_ready_and_then_delivers_the_signal():
    """Outside a command (no click context) the held Ctrl-C is raised where the block ends,
    after its body ran to the end; before ``results_ready`` a Ctrl-C stops the body at once;
    ``results_ready`` outside a block holds nothing."""
    signals.results_ready()
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    with pytest.raises(KeyboardInterrupt), signals.deferring_signals():
        os.kill(os.getpid(), signal.SIGINT)
        pytest.fail("the Ctrl-C before results_ready was held")
    finished = []
    with pytest.raises(KeyboardInterrupt), signals.deferring_signals():
        signals.results_ready()
        os.kill(os.getpid(), signal.SIGINT)
        finished.append("after the signal")
    assert finished == ["after the signal"]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_ctrl_c_while_warmup_studys_workers_shut_down_keeps_the_study_whole(
        checkpoints, monkeypatch, tmp_path):
    """With --jobs 2 the last row comes before the worker pool has shut down (a tenth of a second
    here): a Ctrl-C then read 'interrupted: 2 of 2 statistics finished; run the command again',
    and report.md said it was partial."""
    from concurrent.futures import ProcessPoolExecutor

    args = _warmup(checkpoints, tmp_path / "out")
    args[args.index("--bootstrap") + 1], args[args.index("--jobs") + 1] = "2", "2"
    real = ProcessPoolExecutor.shutdown

    def shutdown(self, wait=True, *, cancel_futures=False):
        if not cancel_futures:  # the pool's end after every row came, not a stop's
            os.kill(os.getpid(), signal.SIGINT)
        return real(self, wait, cancel_futures=cancel_futures)

    monkeypatch.setattr(ProcessPoolExecutor, "shutdown", shutdown)
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 130, result.output
    assert len(pd.read_csv(tmp_path / "out" / "warmup_transitions.csv")) == 2
    assert "Interrupted" not in (tmp_path / "out" / "report.md").read_text()
    assert last_line(result.stderr) == f"interrupted (SIGINT) {COMPLETE}"


def test_a_stop_after_cuts_that_were_all_left_out_says_how_many_finished():
    """Cuts finished but none scored (each left out): nothing to show, and the line says so
    instead of a bare 'interrupted'."""
    from scalefit.scaling.laws.calibrate import calibrate_cuts

    def one_cut(cut):
        if cut > 1e18:
            raise KeyboardInterrupt
        return None  # left out (no fit to score)

    with pytest.raises(KeyboardInterrupt) as stopped:  # the old code let a bare one escape
        calibrate_cuts([1e18, 2e18, 4e18], one_cut, lambda rows, per_cut, notes=(): pytest.fail("finished"))
    assert isinstance(stopped.value, signals.Interrupted), "a bare KeyboardInterrupt: 'interrupted'"
    assert stopped.value.partial is None and (stopped.value.done, stopped.value.total) == (1, 3)
    assert stopped.value.message() == "interrupted: 1 of 3 compute cuts finished, none with a result to show"

"""An interrupted or re-run analysis never leaves a --out folder that mixes two runs.

`transitions` and `warmup-study` stopped once some work was finished write it (the report says
it is partial), but never over a folder that holds a report: that one stays as it was. The
report writers of compare, fit, reconcile, predict downstream, fit schedule-law and compare
--schedules move their files in together, so a stop while they are written (a plot) leaves the
earlier report whole. Stops are simulated by a function that raises KeyboardInterrupt."""
from __future__ import annotations

import shutil

import pandas as pd
import pytest
from click.testing import CliRunner

from scalefit.cli import main
from tests.test_trajectory_inputs import long_table

LEFT = "holds the report of an earlier run, left as it was"


def _files(folder) -> dict:
    """Every file below ``folder`` (relative name -> bytes)."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _stop_at_call(monkeypatch, module, name: str, call: int) -> None:
    """``module.name`` raises KeyboardInterrupt (as Ctrl-C would) from its ``call``-th call on."""
    real, calls = getattr(module, name), []

    def stopping(*args, **kwargs):
        calls.append(1)
        if len(calls) >= call:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, stopping)


def _invoke(args):
    return CliRunner().invoke(main, args)


@pytest.fixture(scope="module")
def table(tmp_path_factory):
    """The trajectory tests' three runs, with a second statistic for warmup-study to stop in."""
    rows = long_table()
    weights = rows[rows["stat"] == "t_nu"]
    path = tmp_path_factory.mktemp("table") / "t.parquet"
    pd.concat([rows, weights.assign(stat="kurtosis", value=weights["value"] * 2)],
              ignore_index=True).to_parquet(path)
    return path


def _transitions(table, out):
    return ["transitions", "--data", str(table), "--stat", "t_nu", "--group", "mlp_in",
            "--bootstrap", "0", "--out", str(out)]


def _warmup(table, out):
    return ["warmup-study", "--data", str(table), "--panel", "t_nu/mlp_in", "--panel",
            "kurtosis/mlp_in", "--bootstrap", "0", "--jobs", "1", "--out", str(out)]


@pytest.fixture(scope="module")
def complete_transitions(table, tmp_path_factory):
    out = tmp_path_factory.mktemp("transitions") / "out"
    result = _invoke(_transitions(table, out))
    assert result.exit_code == 0, result.output
    assert (out / "warmup_regression.png").exists()  # the complete run's figure a partial one lacks
    return out


def test_an_interrupted_transitions_rerun_leaves_a_complete_report_as_it_was(
        table, complete_transitions, monkeypatch, tmp_path):
    from scalefit.scaling.trajectories import transitions as module

    out = tmp_path / "out"
    shutil.copytree(complete_transitions, out)
    before = _files(out)
    _stop_at_call(monkeypatch, module, "run_transitions", 3)  # two of three runs finished
    result = _invoke(_transitions(table, out))
    assert result.exit_code == 130, result.output
    assert result.stderr.strip().splitlines()[-1] == (
        f"interrupted: 2 of 3 runs finished; run the command again for all of them; {out} {LEFT}")
    assert _files(out) == before
    assert not [p for p in tmp_path.iterdir() if ".tmp-" in p.name]


def test_an_interrupted_transitions_run_into_a_new_folder_writes_a_report_that_says_so(
        table, monkeypatch, tmp_path):
    from scalefit.scaling.trajectories import transitions as module

    out = tmp_path / "out"
    _stop_at_call(monkeypatch, module, "run_transitions", 3)
    result = _invoke(_transitions(table, out))
    assert result.exit_code == 130, result.output
    assert result.stderr.strip().endswith(f"; written to {out}")
    assert len(pd.read_csv(out / "runs.csv")) == 2
    report = (out / "report.md").read_text()
    assert report.splitlines()[2] == "**Interrupted: 2 of 3 runs finished; run the command again for all of them.**"


def test_an_interrupted_warmup_study_rerun_leaves_a_complete_report_as_it_was(table, monkeypatch, tmp_path):
    from scalefit.scaling.trajectories import warmup_study as module

    out = tmp_path / "out"
    assert _invoke(_warmup(table, out)).exit_code == 0
    before = _files(out)
    assert len(pd.read_csv(out / "warmup_transitions.csv")) == 2
    _stop_at_call(monkeypatch, module, "study_row", 2)
    result = _invoke(_warmup(table, out))
    assert result.exit_code == 130, result.output
    assert result.stderr.strip().endswith(f"{out} {LEFT}"), result.stderr
    assert _files(out) == before

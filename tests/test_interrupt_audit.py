"""`scalefit calibrate` stopped by Ctrl-C (or SIGTERM): the cuts it finished are kept (printed,
and written to --out with a report that says it was interrupted), exit status 130; a folder that
holds an earlier report is left as it was; a stop while the report is written leaves --out as it
was; and the cuts' fits show a progress bar (the laws' bootstrap draws none of its own)."""
from __future__ import annotations

import re
import warnings
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

import scalefit.scaling.laws.calibrate as law_calibrate
import scalefit.scaling.laws.calibrate_report as calibrate_report
import scalefit.scaling.relations.calibrate as relation_calibrate
from scalefit.cli import main
from scalefit.signals import Interrupted
from tests.test_calibrate_relations import synthetic_pairs

ARGS = ["calibrate", "chinchilla", "--cuts", "2", "--bootstrap", "4"]


def last_line(stderr: str) -> str:
    """The last line a terminal shows of ``stderr``: progress bars' cursor moves (ESC[A) and
    carriage returns dropped. A nested bar closed by the stop (calibrate's cut bar around a
    bootstrap's) leaves its clearing spaces and a cursor-up before the closing message."""
    lines = re.sub(r"\x1b\[[0-9;]*[A-Za-z]", "", stderr).splitlines()  # splitlines splits on \r too
    return [line.strip() for line in lines if line.strip()][-1]


def _stop_at_call(monkeypatch, module, name: str, call: int):
    """``module.name`` raises KeyboardInterrupt (as Ctrl-C would) on its ``call``-th call."""
    real, calls = getattr(module, name), []

    def stopping(*args, **kwargs):
        calls.append(1)
        if len(calls) == call:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, stopping)


def _files(folder) -> dict:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


@pytest.fixture(scope="module")
def complete(tmp_path_factory):
    """A complete calibration's --out folder and the command's stderr."""
    out = tmp_path_factory.mktemp("calibrated") / "out"
    result = CliRunner().invoke(main, [*ARGS, "--out", str(out)])
    assert result.exit_code == 0, result.output
    return out, result.stderr


def test_ctrl_c_keeps_the_finished_cuts_in_the_output_and_says_so(monkeypatch, tmp_path):
    out = tmp_path / "out"
    _stop_at_call(monkeypatch, law_calibrate, "fit_law", 2)  # in the second cut's fit
    result = CliRunner().invoke(main, [*ARGS, "--out", str(out)])
    assert result.exit_code == 130, result.output
    assert last_line(result.stderr) == (
        f"interrupted: 1 of 2 compute cuts finished; run the command again for all of them; written to {out}")
    assert "Traceback" not in result.output
    line = "interrupted after 1 of 2 compute cuts (the lowest): the coverage counts only their predictions"
    assert f"note: {line}" in result.stdout
    assert len(pd.read_csv(out / "cuts.csv")) == 1 and len(pd.read_csv(out / "predictions.csv")) > 0
    assert f"**I{line[1:]}.**" in (out / "report.md").read_text()


def test_an_interrupted_run_leaves_an_earlier_report_as_it_was(complete, monkeypatch, tmp_path):
    import shutil

    out = tmp_path / "out"
    shutil.copytree(complete[0], out)
    before = _files(out)
    assert "Interrupted" not in before["report.md"].decode() and len(pd.read_csv(out / "cuts.csv")) == 2
    _stop_at_call(monkeypatch, law_calibrate, "fit_law", 2)
    result = CliRunner().invoke(main, [*ARGS, "--out", str(out), "--json"])
    assert result.exit_code == 130, result.output
    assert f"{out} holds the report of an earlier run, left as it was" in result.stderr
    assert _files(out) == before
    assert "interrupted after 1 of 2 compute cuts" in result.stdout  # the --json document says it


def test_a_stop_while_the_report_is_written_leaves_the_folder_as_it_was(complete, monkeypatch, tmp_path):
    import shutil

    def stop(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(calibrate_report, "save_figure", stop)  # after the tables, before report.md
    fresh = CliRunner().invoke(main, [*ARGS, "--out", str(tmp_path / "new")])
    assert fresh.exit_code == 130, fresh.output
    assert not (tmp_path / "new").exists() or not any((tmp_path / "new").iterdir())
    out = tmp_path / "earlier"
    shutil.copytree(complete[0], out)
    before = _files(out)
    again = CliRunner().invoke(main, [*ARGS, "--out", str(out)])
    assert again.exit_code == 130, again.output
    assert _files(out) == before


def test_the_cuts_show_a_progress_bar(complete):
    assert "calibrate:   0%| " in complete[1] and "/2 [" in complete[1] and "cut/s" in complete[1], complete[1]


def test_a_relation_calibration_stopped_keeps_its_finished_cuts(monkeypatch):
    _stop_at_call(monkeypatch, relation_calibrate, "fit_relation", 2)
    with warnings.catch_warnings(), pytest.raises(Interrupted) as stop:
        warnings.simplefilter("ignore")
        relation_calibrate.calibrate_relation(synthetic_pairs(1, "sigmoid"), "loss", "y", "sigmoid",
                                              cuts=2, n_bootstrap=4, min_fit=15)
    partial = stop.value.partial
    assert (stop.value.done, stop.value.total) == (1, 2) and len(partial.cuts) == 1
    assert set(partial.predictions["cut_flops"]) == {partial.cuts["cut_flops"][0]}
    assert partial.interrupted in partial.notes and partial.to_dict()["interrupted"] == partial.interrupted


def test_ctrl_c_before_any_cut_finished_says_how_far_it_got(monkeypatch):
    _stop_at_call(monkeypatch, law_calibrate, "fit_law", 1)
    result = CliRunner().invoke(main, ARGS)
    assert result.exit_code == 130, result.output
    assert last_line(result.stderr) == "interrupted: 0 of 2 compute cuts finished", result.output
    assert "Traceback" not in result.output


def test_a_folder_replaced_by_atomic_write_is_never_left_half_deleted(tmp_path, monkeypatch):
    """A resume checkpoint rewritten in place (suite train's run/resume): the old folder was
    deleted before the new one was renamed in, so a kill during the delete left a half-deleted
    folder at the path and the complete new one as a temporary that the re-run swept away."""
    import scalefit.atomic as atomic

    target = tmp_path / "resume"
    atomic.atomic_write(target, lambda tmp: _checkpoint(tmp, "old"))
    real_rmtree = atomic.shutil.rmtree

    class Killed(BaseException):
        pass

    def killed_while_deleting(folder, *args, **kwargs):  # one file gone, then the process ends
        (Path(folder) / "model.safetensors").unlink()
        raise Killed

    monkeypatch.setattr(atomic.shutil, "rmtree", killed_while_deleting)
    with pytest.raises(Killed):
        atomic.atomic_write(target, lambda tmp: _checkpoint(tmp, "new"))
    monkeypatch.setattr(atomic.shutil, "rmtree", real_rmtree)
    atomic.sweep_stale(tmp_path)  # as the re-run does: the temporaries left are removed
    assert {p.name: p.read_text() for p in target.iterdir()} == {"model.safetensors": "new", "optimizer.pt": "new"}


def _checkpoint(folder, text: str) -> None:
    folder.mkdir()
    for name in ("model.safetensors", "optimizer.pt"):
        (folder / name).write_text(text)

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
from tests.test_interrupt_audit import last_line
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
    assert last_line(result.stderr) == (
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


# ---- report writers: the files move in together ----------------------------------------------

EARLIER = b"an earlier run's file\n"


def _stop_in_plots(monkeypatch) -> None:
    """Every save_figure raises KeyboardInterrupt, as Ctrl-C while a plot is drawn would."""
    import scalefit.report
    import scalefit.scaling.laws.report
    import scalefit.scaling.relations.report

    def stop(*args, **kwargs):
        raise KeyboardInterrupt

    for module in (scalefit.report, scalefit.scaling.laws.report, scalefit.scaling.relations.report):
        monkeypatch.setattr(module, "save_figure", stop)


def _stub_schedule_gap(monkeypatch) -> None:
    """compare --schedules' analysis (14 s on the shipped suite) as a stand-in with one row: what
    is checked here is only how its files are written."""
    import matplotlib.pyplot as plt

    from scalefit.scaling.laws import schedule_gap, schedule_gap_report, schedule_plots

    class Gap:
        def to_dict(self):
            return {"gap": 1.0}

        def table(self):
            return pd.DataFrame({"law": ["kaplan"], "gap": [1.0]})

    monkeypatch.setattr(schedule_gap, "schedule_gap", lambda *a, **k: Gap())
    monkeypatch.setattr(schedule_gap_report, "gap_text", lambda gap: "the gap")
    monkeypatch.setattr(schedule_gap_report, "report_markdown", lambda gap: "# the gap\n")
    monkeypatch.setattr(schedule_plots, "plot_schedule_gap", lambda gap: plt.subplots()[0])


WRITERS = {  # name: the command's arguments ({runs}: a synthetic run table), a stand-in to apply
    "compare": (["compare", "kaplan", "chinchilla", "--data", "{runs}", "--bootstrap", "0"], None),
    "fit": (["fit", "chinchilla", "--data", "{runs}", "--bootstrap", "0"], None),
    "reconcile": (["reconcile", "--data", "{runs}", "--by", "part", "--law", "chinchilla",
                   "--bootstrap", "0"], None),
    "predict downstream": (["predict", "downstream", "--holdout", "2", "--bootstrap", "0"], None),
    "fit schedule-law": (["fit", "schedule-law", "--law", "momentum", "--model", "mini-3",
                          "--bootstrap", "0"], None),
    "predict curve": (["predict", "curve", "--law", "momentum", "--schedule", "wsd:2400:0.2",
                       "--model", "mini-3", "--bootstrap", "0"], None),
    "predict curve --grid-test": (["predict", "curve", "--grid-test", "--law", "momentum"], None),
    "compare --schedules": (["compare", "kaplan", "chinchilla", "--schedules"], _stub_schedule_gap),
}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Synthetic Chinchilla runs in two parts (reconcile walks the exponent over them)."""
    from tests.test_scaling_cli import make_runs

    path = tmp_path_factory.mktemp("runs") / "runs.csv"
    frame = make_runs(path)
    frame.assign(part=["a", "b"] * (len(frame) // 2) + ["a"] * (len(frame) % 2)).to_csv(path, index=False)
    return path


@pytest.mark.parametrize("name", list(WRITERS))
def test_a_stop_while_a_report_is_written_leaves_the_earlier_report_whole(name, runs, monkeypatch, tmp_path):
    """A complete --out whose files (but its settings record) stand for an earlier run on other
    data; the same command stopped in its first plot leaves every one of them as it was (the old
    writers had replaced the tables and JSON before the plot)."""
    args, stand_in = WRITERS[name]
    if stand_in:
        stand_in(monkeypatch)
    out = tmp_path / "out"
    args = [a.format(runs=runs) for a in args] + ["--out", str(out)]
    first = _invoke(args)
    assert first.exit_code == 0, first.output
    for path in out.rglob("*"):
        if path.is_file() and path.name != "scalefit_settings.json":
            path.write_bytes(EARLIER)
    before = _files(out)
    _stop_in_plots(monkeypatch)
    again = _invoke(args)
    assert again.exit_code == 130, again.output
    assert _files(out) == before
    assert not [p for p in tmp_path.iterdir() if ".tmp-" in p.name]


def test_report_text_files_are_written_whole(monkeypatch, tmp_path):
    """report.write_text goes through atomic.write_text: a stop inside the write leaves the
    earlier file, not a truncated one."""
    from pathlib import Path

    from scalefit.report import write_text

    path = write_text(tmp_path, "report.md", "earlier\n")

    real = Path.write_text

    def stop(self, text, *args, **kwargs):  # half the text on disk, then Ctrl-C
        real(self, text[:len(text) // 2])
        raise KeyboardInterrupt

    monkeypatch.setattr(Path, "write_text", stop)
    with pytest.raises(KeyboardInterrupt):
        write_text(tmp_path, "report.md", "new\n")
    monkeypatch.undo()
    assert path.read_text() == "earlier\n" and [p.name for p in tmp_path.iterdir()] == ["report.md"]


def test_the_batched_bootstrap_draws_a_bar_on_stderr_only(runs):
    """fit --bootstrap on the batched path (every law that broadcasts) showed nothing on stderr
    for minutes (compare --bootstrap 20000: 132 s); its bar counts the resamples, stdout's JSON
    stays pure."""
    import json

    result = _invoke(["fit", "chinchilla", "--data", str(runs), "--bootstrap", "30", "--json"])
    assert result.exit_code == 0, result.output
    assert "bootstrap chinchilla:   0%|" in result.stderr and "/30 [" in result.stderr, result.stderr
    assert "resample" in result.stderr
    assert json.loads(result.stdout)["bootstrap"]["n"] == 30


@pytest.mark.parametrize("command", ["fit", "transitions", "calibrate", "trajectory"])
def test_out_may_be_the_current_folder(command, runs, table, monkeypatch, tmp_path):
    """--out . : the staging folder is made beside the folder's full path ('.' has no name to
    stage beside: ValueError, a traceback, after the whole fit)."""
    args = {"fit": ["fit", "chinchilla", "--data", str(runs), "--bootstrap", "0"],
            "transitions": _transitions(table, ".")[:-2],
            "calibrate": ["calibrate", "chinchilla", "--data", str(runs), "--cuts", "1", "--bootstrap", "10"],
            "trajectory": ["trajectory", "--stat", "excess_kurtosis", "--group", "attn_qkv",
                           "--models", "mini-1,mini-2"]}[command]
    monkeypatch.chdir(tmp_path)
    result = _invoke([*args, "--out", "."])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "report.md").exists() and (tmp_path / "scalefit_settings.json").exists()
    assert not [p for p in tmp_path.parent.iterdir() if ".tmp-" in p.name]


def test_staging_sweeps_only_scalefits_own_temporaries_beside_out(tmp_path):
    """A report's staging removes the temporaries killed scalefit runs left beside --out
    (NAME.tmp-PID-8 hex digits, PID not running), and nothing else: a user's 'notes.tmp-draft' or
    'backup.tmp-2024-01-05' (no such pid) beside it was deleted by `scalefit fit --out DIR`."""
    from scalefit.atomic import staged_output

    theirs = [tmp_path / "notes.tmp-draft", tmp_path / "backup.tmp-2024-01-05", tmp_path / "x.tmp-999999999-abc"]
    for path in theirs:
        path.write_text("kept")
    stale = tmp_path / "out.tmp-999999999-deadbeef"  # a killed run's staging (no such pid)
    (stale / "sub").mkdir(parents=True)
    (stale / "sub" / "report.md").write_text("half")
    with staged_output(tmp_path / "out") as staging:
        (staging / "report.md").write_text("new")
    assert all(path.read_text() == "kept" for path in theirs)
    assert not stale.exists() and (tmp_path / "out" / "report.md").read_text() == "new"


def test_sweep_stale_passes_over_another_hosts_temporaries_until_they_are_old(tmp_path):
    """Two shards on two nodes write into one shared --out: the pid in the other node's temporary
    names no process here, so the shard that started second deleted the first one's temporaries
    while they were being written. Another host's temporary is now left until untouched for a day;
    a dead local writer's (and one of an earlier scalefit, with no host) is removed as before."""
    import os
    import time

    from scalefit import atomic

    other = "0" * 6 if atomic.HOST != "0" * 6 else "1" * 6
    dead_pid = 2 ** 22 + 12345  # above Linux's pid_max default: no live process
    fresh = tmp_path / f"evals--loss_val.parquet{atomic.TMP_MARK}{os.getpid()}-{other}-0123abcd"
    old = tmp_path / f"evals--loss_x.parquet{atomic.TMP_MARK}{os.getpid()}-{other}-4567abcd"
    local = tmp_path / f"evals--loss_y.parquet{atomic.TMP_MARK}{dead_pid}-{atomic.HOST}-89abcdef"
    legacy = tmp_path / f"evals--loss_z.parquet{atomic.TMP_MARK}{dead_pid}-0123abcd"
    for path in (fresh, old, local, legacy):
        path.write_bytes(b"partial")
    day_ago = time.time() - atomic.OTHER_HOST_STALE_S - 60
    os.utime(old, (day_ago, day_ago))
    removed = atomic.sweep_stale(tmp_path)
    assert fresh.exists()
    assert sorted(removed) == sorted([old, local, legacy])


def test_a_staged_write_leaves_this_process_other_staging_alone(tmp_path):
    """Two staged writes at once in one process (a notebook's threads, or one report staged
    inside another beside it): the second's sweep of the parent removed the first one's staging
    folder, whose pid is this process's, and the first report was lost."""
    from scalefit.atomic import staged_output

    with staged_output(tmp_path / "a") as first:
        (first / "report.md").write_text("a")
        with staged_output(tmp_path / "b") as second:
            (second / "report.md").write_text("b")
    assert (tmp_path / "a" / "report.md").read_text() == "a"
    assert (tmp_path / "b" / "report.md").read_text() == "b"
    assert not [p for p in tmp_path.iterdir() if ".tmp-" in p.name]


def test_two_commands_started_together_into_one_new_folder_do_not_mix(runs, tmp_path):
    """Both passed the folder check before either wrote (the settings were recorded only at the
    end), so `fit chinchilla --out X` and `fit kaplan --out X` started together left one folder of
    two fits' files. The first now records its settings before the work, in one exclusive step,
    and the second is refused; a refused input leaves no folder behind, and the same settings
    again are let in."""
    from scalefit.folder_settings import SETTINGS_FILE, claim_folder

    out = tmp_path / "X"
    chinchilla = ["fit", "chinchilla", "--data", str(runs), "--bootstrap", "0", "--out", str(out)]
    first = {"command": "fit chinchilla (running)"}  # another command's claim, its work under way
    assert claim_folder(out, first) is not None
    result = _invoke(chinchilla)
    assert result.exit_code == 2 and "is claimed by a command of other settings" in result.output, result.output
    assert sorted(p.name for p in out.iterdir()) == [SETTINGS_FILE]

    fresh = tmp_path / "Y"
    bad = tmp_path / "no_loss.csv"
    bad.write_text("params,tokens\n1e6,2e7\n")
    result = _invoke(["fit", "chinchilla", "--data", str(bad), "--bootstrap", "0", "--out", str(fresh)])
    assert result.exit_code == 2 and not fresh.exists(), result.output  # refused in the work: no folder left
    assert _invoke([*chinchilla[:-1], str(fresh)]).exit_code == 0
    assert _invoke([*chinchilla[:-1], str(fresh)]).exit_code == 0  # the same settings again
    assert (fresh / "report.md").exists()

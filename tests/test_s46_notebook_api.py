"""A notebook gets what the CLI prints: warmup_study runs in a plain script (serial by default),
print(transition_study(...)) is `scalefit transitions`' text and study.write(DIR) its --out
folder, and schedule_gap and reconcile come from scalefit's API with their command's text."""
import os
import subprocess
import sys

import numpy as np
import pandas as pd
from click.testing import CliRunner

from scalefit.cli import main
from scalefit.data import MINI_CHECKPOINTS, data_path
from scalefit.scaling.trajectories import warmup_study as warmup_module
from scalefit.scaling.trajectories.table import stat_trajectory
from scalefit.scaling.trajectories.transitions import transition_study

STEPS = np.unique(np.round(np.geomspace(1, 2000, 18)).astype(int))
WARMUPS = (20, 60, 180)


def kinked_table(seed=3) -> pd.DataFrame:
    """Three runs that differ only in warmup, two statistics of group g whose kink follows the
    warmup end (a at 3x it, b at 2x), in the long form `scalefit weights` writes."""
    rng = np.random.default_rng(seed)
    rows = []
    x = np.log10(STEPS)
    for warmup in WARMUPS:
        for stat, factor in (("a", 3), ("b", 2)):
            value = 1 + 0.05 * x + 0.6 * np.maximum(0, x - np.log10(factor * warmup))
            value = value + rng.normal(0, 0.01, x.size)
            rows += [{"model": f"w{warmup}", "step": int(s), "stat": stat, "group": "g",
                      "value": v, "warmup_steps": warmup, "total_steps": 2000, "tokens": int(s) * 1000}
                     for s, v in zip(STEPS, value)]
    return pd.DataFrame(rows)


# --- 1. warmup_study in a plain script ------------------------------------------------------------

SCRIPT = """\
import os
from concurrent.futures.process import BrokenProcessPool
from scalefit import warmup_study

if (os.cpu_count() or 1) > 1:  # workers asked for, no main guard: a broken pool that says why
    try:
        warmup_study("tiny.csv", panels=["a/g", "b/g"], n_bootstrap=4, jobs=2)
    except BrokenProcessPool as exc:
        print("broken:", exc)
study = warmup_study("tiny.csv", panels=["a/g", "b/g"], n_bootstrap=4)
print("rows:", ",".join(study["stat"]))
"""


def test_a_script_without_the_main_guard_runs_warmup_study_by_default(tmp_path):
    """`python nb.py` calling warmup_study(...) failed with BrokenProcessPool: the default was a
    spawned worker per CPU, each re-running the script. Now the default is serial, and a script
    that asks for workers without the guard is told what to do."""
    kinked_table().to_csv(tmp_path / "tiny.csv", index=False)
    (tmp_path / "nb.py").write_text(SCRIPT)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "nb.py"], cwd=tmp_path, capture_output=True, text=True,
                          timeout=300, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "rows: a,b" in done.stdout
    if (os.cpu_count() or 1) > 1:
        assert "broken:" in done.stdout and 'if __name__ == "__main__":' in done.stdout


def test_the_api_studies_serially_and_the_command_on_every_cpu_by_default(tmp_path, monkeypatch):
    """warmup_study's jobs default is 1 (in this process); the command still passes None (the
    CPU count) unless --jobs is given, and its help says so."""
    asked = []
    original = warmup_module._worker_count

    def recorded(jobs, n_panels, n_bootstrap):
        asked.append(jobs)
        original(jobs, n_panels, n_bootstrap)
        return 1  # no pool here: the count asked for is what is checked
    monkeypatch.setattr(warmup_module, "_worker_count", recorded)
    table = kinked_table()
    warmup_module.warmup_study(table, ["a/g"], n_bootstrap=2)
    path = tmp_path / "tiny.csv"
    table.to_csv(path, index=False)
    for extra in ([], ["--jobs", "3"]):
        result = CliRunner().invoke(main, ["warmup-study", "--data", str(path), "--panel", "a/g",
                                           "--bootstrap", "2", *extra])
        assert result.exit_code == 0, result.output
    assert asked == [1, None, 3]
    help_text = " ".join(CliRunner().invoke(main, ["warmup-study", "--help"]).output.split())
    assert "--jobs" in help_text and "default: the CPU count" in help_text


def test_rows_are_the_same_for_any_jobs(tmp_path, monkeypatch):
    """The serial default and two workers give the same bits (the pool runs here, under pytest's
    guarded main)."""
    monkeypatch.setattr(warmup_module.os, "cpu_count", lambda: 2)
    table = kinked_table()
    serial = warmup_module.warmup_study(table, ["a/g", "b/g"], n_bootstrap=4)
    pooled = warmup_module.warmup_study(table, ["a/g", "b/g"], n_bootstrap=4, jobs=2)
    assert serial.equals(pooled) and serial.attrs == pooled.attrs


# --- 2. print(transition_study(...)) and study.write(DIR) ---------------------------------------

def _cli(args):
    result = CliRunner().invoke(main, ["transitions", *args])
    assert result.exit_code == 0, result.output
    return result


def test_print_of_a_study_is_the_commands_text_and_write_its_folder(tmp_path):
    """print(transition_study(...)) gave 3 lines; the command printed every run's transitions
    (steps and tokens from warmup end, the decay done, weak kinks), the intervals' caveat and the
    regression, and wrote report.md, tables and plots. Both are now the study's."""
    path = tmp_path / "tiny.csv"
    kinked_table().to_csv(path, index=False)
    args = ["--data", str(path), "--stat", "a", "--group", "g", "--bootstrap", "10"]
    result = _cli([*args, "--out", str(tmp_path / "cli")])
    study = transition_study(stat_trajectory(path, "a", group="g", source=str(path)), n_bootstrap=10)
    assert study.label == "a / g" and study.stat == "a"
    assert str(study) + "\n" == result.stdout  # no note here: the text is all
    text = str(study)
    assert "steps from warmup end; cosine decay" in text and "% done; slope" in text
    assert "The breakpoint intervals (local-strong bootstrap" in text and "Warmup regression over" in text
    study.write(tmp_path / "api")
    cli_files = sorted(p.name for p in (tmp_path / "cli").iterdir() if p.name != "scalefit_settings.json")
    assert cli_files == sorted(p.name for p in (tmp_path / "api").iterdir())
    assert {"report.md", "transitions.csv", "runs.csv", "trajectory.csv", "transitions.png",
            "warmup_regression.png"} <= set(cli_files)
    for name in ("report.md", "transitions.csv", "runs.csv", "trajectory.csv"):
        assert (tmp_path / "cli" / name).read_bytes() == (tmp_path / "api" / name).read_bytes(), name


def test_print_of_a_shipped_study_has_the_scatter_warnings_and_ends_with_the_notes():
    """The shipped t_nu / attn_out: the scatter-concentration warnings and the checkpoints at nu's
    cap, as the command prints them on stdout, then its stderr's notes as 'note:' lines."""
    path = str(data_path(*MINI_CHECKPOINTS))
    result = _cli(["--stat", "t_nu", "--group", "attn_out", "--bootstrap", "0"])
    study = transition_study(stat_trajectory(path, "t_nu", group="attn_out", source=path), n_bootstrap=0)
    lines = str(study).splitlines()
    body = [line for line in lines if not line.startswith("note: ")]
    assert "\n".join(body) + "\n" == result.stdout
    assert "warning: the 2 largest of its" in result.stdout and "try --stat t_xi (1/t_nu)" in result.stdout
    notes = [line for line in result.stderr.splitlines() if line.startswith("note: ")]
    assert notes and lines[len(body):] == notes
    assert study.lines(notes=False) == body


def test_a_trajectory_without_its_selection_is_named_by_the_caller_or_plainly():
    table = kinked_table()
    traj = stat_trajectory(table, "b", group="g")
    bare = traj.copy()
    bare.attrs = {k: v for k, v in traj.attrs.items() if k != "selection"}
    plain = transition_study(bare, n_bootstrap=0)
    assert str(plain).startswith("Transitions in the statistic against log10(step)")
    named = transition_study(bare, n_bootstrap=0, label="my b", stat="b")
    assert str(named).startswith("Transitions in my b against") and named.stat == "b"
    assert str(transition_study(traj, n_bootstrap=0)).startswith("Transitions in b / g against")


# --- 3. schedule_gap and reconcile from scalefit's API --------------------------------------------

def test_schedule_gap_and_reconcile_are_top_level_and_a_gap_prints_the_commands_text():
    """`scalefit compare --schedules` runs schedule_gap and `scalefit reconcile` runs reconcile:
    neither was in scalefit.API. print(gap) was the dataclass's repr; it is now the command's
    text (schedule_gap_report.gap_text, what the command echoes)."""
    import warnings

    import scalefit
    from scalefit.scaling.laws import reconcile as reconcile_module
    from scalefit.scaling.laws import schedule_gap as gap_module
    from scalefit.scaling.laws.schedule_gap_report import gap_text
    from test_schedule_gap import synthetic_suite

    assert {"schedule_gap", "reconcile"} <= set(scalefit.API)
    assert scalefit.schedule_gap is gap_module.schedule_gap and scalefit.reconcile is reconcile_module.reconcile
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        gap = scalefit.schedule_gap(*synthetic_suite(), n_bootstrap=0)
    text = str(gap)
    assert text == gap_text(gap) and text != repr(gap)
    assert "Prediction test" in text and "no intervals (--bootstrap 0)" in text


def test_print_of_a_reconciliation_is_the_commands_text(tmp_path):
    """print(reconcile(...)) was the dataclass repr; it is what `scalefit reconcile` prints
    (reconcile_text.walk_text, moved out of the command's module so the result can use it)."""
    import scalefit
    from test_reconcile import isoflop_grid

    runs = pd.concat([isoflop_grid(0.30, 0.36, "wide", 1), isoflop_grid(0.40, 0.26, "narrow", 2)])
    path = tmp_path / "runs.csv"
    runs.to_csv(path, index=False)
    result = CliRunner().invoke(main, ["reconcile", "--data", str(path), "--by", "condition",
                                       "--bootstrap", "0"])
    assert result.exit_code == 0, result.output
    rec = scalefit.reconcile(pd.read_csv(path), "condition", n_bootstrap=0, source=str(path))
    text = str(rec)
    assert text + "\n" == result.stdout and text != repr(rec)
    assert text.startswith("Allocation exponent a (N* ~ C^a) per condition") and "narrow" in text

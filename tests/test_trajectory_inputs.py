"""Bad or odd tables in the weight-statistic analyses (`transitions`, `trajectory`, `warmup-study`,
`init-study`, `weights plot`): one line naming the file, column and row and exit 2 where the input
is wrong; a note where checkpoints are left out; labels that say what the run's schedule is."""
from __future__ import annotations

import inspect
import json
import re

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from scalefit.cli import main
from scalefit.errors import InputError
from scalefit.scaling.trajectories.landmarks import landmarks_for_run
from scalefit.scaling.trajectories.breakpoint_intervals import bootstrap_breakpoints
from scalefit.scaling.trajectories.segmented import fit_segmented
from scalefit.scaling.trajectories.table import join_stat_and_loss, stat_trajectory
from scalefit.scaling.trajectories.collapse import collapse_report, collapse_verdict
from scalefit.scaling.trajectories.correlation import partial_correlation
from scalefit.scaling.trajectories.transitions import (detect_transitions, run_transitions, transition_study,
                                                       warmup_regression)
from scalefit.scaling.trajectories.warmup_study import warmup_study
from scalefit.signals import Interrupted
from scalefit.tables import read_table

STEPS = np.unique(np.r_[0, 2 ** np.arange(8), np.arange(300, 2401, 100)])


def long_table(models=("a", "b", "c"), warmups=(10, 40, 160), rng_seed=0, schedule="cosine"):
    """Weight rows (t_nu of mlp_in, a kink 100 steps after warmup) and loss rows per checkpoint."""
    rng = np.random.default_rng(rng_seed)
    rows = []
    for model, warmup in zip(models, warmups):
        for step in STEPS:
            x = np.log10(max(step, 1))
            value = 5 + 0.2 * x + 2 * max(0.0, x - np.log10(warmup + 100)) + rng.normal(0, 0.01)
            common = {"model": model, "step": int(step), "warmup_steps": warmup, "total_steps": 2400,
                      "schedule": schedule, "params": 1e6, "lr_peak": 1e-3}
            rows.append({**common, "tensor": "*", "group": "mlp_in", "layer": -1, "stat": "t_nu",
                         "value": value})
            rows.append({**common, "dataset": "val", "metric": "loss", "is_train": True,
                         "value": 3 + 4 * (1 + step) ** -0.3 + rng.normal(0, 0.002)})
    return pd.DataFrame(rows)


def run_cli(args):
    result = CliRunner().invoke(main, args)
    return result.exit_code, result.output


def one_line_error(code, out, *words):
    assert code == 2, out
    lines = [line for line in out.strip().splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "Traceback" not in out, out
    for word in words:
        assert word in lines[0], lines[0]


# ---- the table reader: keys, values, repeats ------------------------------------------------

def test_nan_and_inf_values_are_left_out_and_named_not_averaged_into_the_run():
    table = long_table()
    bad = (table["model"] == "a") & (table["stat"] == "t_nu") & table["step"].isin([64, 128, 700])
    table.loc[bad, "value"] = [np.inf, np.nan, -np.inf]
    traj = stat_trajectory(table, "t_nu", group="mlp_in", source="t.csv")
    assert len(traj[traj["model"] == "a"]) == len(STEPS) - 3
    assert np.isfinite(traj["value"]).all()
    (note,) = traj.attrs["notes"]
    assert "t.csv: 3 checkpoint(s)" in note and "a: steps 64, 128, 700" in note


def test_transitions_on_a_run_with_inf_values_still_finds_its_kink(tmp_path):
    table = long_table()
    bad = (table["model"] == "b") & (table["stat"] == "t_nu") & table["step"].isin([300, 400])
    table.loc[bad, "value"] = np.inf
    path = tmp_path / "t.parquet"
    table.to_parquet(path)
    code, out = run_cli(["transitions", "--stat", "t_nu", "--group", "mlp_in", "--data", str(path),
                         "--models", "b", "--bootstrap", "0", "--json"])
    assert code == 0, out
    assert "2 checkpoint(s) have no finite stat 't_nu'" in out  # the note, on stderr
    study = json.loads(out[out.index("{"):])
    assert study["runs"][0]["n_transitions"] >= 1
    assert abs(study["transitions"][0]["step"] - 140) < 30  # the kink at warmup + 100


def test_conflicting_duplicate_rows_are_refused_and_exact_repeats_are_harmless(tmp_path):
    table = long_table()
    weights = table[table["stat"] == "t_nu"]
    repeated = pd.concat([table, weights], ignore_index=True)
    assert stat_trajectory(repeated, "t_nu", group="mlp_in")["value"].equals(
        stat_trajectory(table, "t_nu", group="mlp_in")["value"])
    clash = pd.concat([table, weights.assign(value=weights["value"] * 10)], ignore_index=True)
    path = tmp_path / "dup.csv"
    clash.to_csv(path, index=False)
    for command in ("transitions", "trajectory"):
        code, out = run_cli([command, "--stat", "t_nu", "--group", "mlp_in", "--data", str(path)])
        one_line_error(code, out, "dup.csv: rows", "measure the same stat 't_nu'", "model=a, step=0",
                       "different values")
    loss_clash = pd.concat([table, table[table["metric"] == "loss"].assign(value=9.0)], ignore_index=True)
    with pytest.raises(InputError, match="measure the same val loss"):
        join_stat_and_loss(loss_clash, "t_nu", group="mlp_in")


@pytest.mark.parametrize("bad, words", [
    ("x", ["column 'step', row 4", "'x' is not a step"]),
    (-5, ["column 'step', row 4", "'-5' is not a step"]),
    (2.5, ["column 'step', row 4", "'2.5' is not a step"]),
])
def test_a_bad_step_is_named_with_its_row(tmp_path, bad, words):
    table = long_table().astype({"step": object})
    table.loc[3, "step"] = bad
    path = tmp_path / "t.csv"
    table.to_csv(path, index=False)
    for command in ("transitions", "trajectory"):
        one_line_error(*run_cli([command, "--stat", "t_nu", "--data", str(path)]), "t.csv", *words)


def test_a_text_value_is_named_with_its_row_and_a_parquet_index_does_not_shift_rows(tmp_path):
    table = long_table().astype({"value": object})
    table.loc[6, "value"] = "oops"
    path = tmp_path / "t.csv"
    table.to_csv(path, index=False)
    one_line_error(*run_cli(["trajectory", "--stat", "t_nu", "--data", str(path)]),
                   "column 'value', row 7: 'oops' is not a number")
    shuffled = tmp_path / "t.parquet"
    long_table().iloc[::-1].to_parquet(shuffled)  # a stored, non-range index
    assert list(read_table(shuffled).index[:3]) == [0, 1, 2]


def test_an_empty_table_and_an_empty_models_list_say_what_is_wrong(tmp_path):
    path = tmp_path / "empty.csv"
    long_table().iloc[:0].to_csv(path, index=False)
    one_line_error(*run_cli(["transitions", "--stat", "t_nu", "--data", str(path)]),
                   "empty.csv: no weight-statistic rows")
    one_line_error(*run_cli(["transitions", "--stat", "t_nu", "--models", ","]), "--models", "names no model")


def test_a_losses_table_without_model_is_named_not_the_data_table(tmp_path):
    data, losses = tmp_path / "w.parquet", tmp_path / "losses.parquet"
    table = long_table()
    table[table["stat"].notna()].to_parquet(data)
    table[table["metric"].notna()].drop(columns="model").to_parquet(losses)
    for command in ("transitions", "trajectory"):
        one_line_error(*run_cli([command, "--stat", "t_nu", "--data", str(data), "--losses", str(losses)]),
                       "losses.parquet: column 'model' is missing")


# ---- the schedule a transition is placed against ------------------------------------------

def test_a_constant_lr_run_is_not_described_as_a_cosine_decay():
    run = long_table(models=("c",), warmups=(24,), schedule="constant")
    marks = landmarks_for_run(run)
    assert marks.style == "constant" and np.isnan(marks.decay_fraction(500))
    assert marks.lr_fraction(500) == 1.0 and marks.phase(500) == "constant LR"
    wsd = landmarks_for_run(run.assign(schedule="wsd", cooldown_fraction=0.2))
    assert wsd.decay_start == pytest.approx(1920)
    assert wsd.phase(1000) == "before the cooldown" and wsd.phase(2160) == "cooldown 50% done"
    assert wsd.lr_fraction(1000) == 1.0 and wsd.lr_fraction(2400) == pytest.approx(0.1)
    assert landmarks_for_run(run.assign(schedule="cosine")).phase(1212) == "cosine decay 50% done"


def test_a_step_past_the_schedules_end_is_not_said_to_be_in_its_decay():
    """--total-steps shorter than the run: a later step was 'cosine decay 100% done' (the decay
    clipped), read as the LR the run had there; now it is after the schedule's end."""
    run = long_table(models=("a",), warmups=(24,))
    for style in ("cosine", "linear", "wsd"):
        marks = landmarks_for_run(run.assign(schedule=style, total_steps=300))
        assert marks.phase(426) == "after the schedule's end (step 300)", style
        assert marks.phase(300) != marks.phase(426)
    assert landmarks_for_run(run.assign(schedule="cosine", total_steps=300)).phase(300) == "cosine decay 100% done"


def test_schedule_overrides_are_checked_and_total_steps_alone_is_used():
    run = long_table(models=("a",), warmups=(10,))
    assert landmarks_for_run(run, total_steps=3000).total_steps == 3000
    with pytest.raises(InputError, match="not after its warmup end 5000"):
        landmarks_for_run(run, warmup_steps=5000)
    with pytest.raises(InputError, match="warmup_steps is -5"):
        landmarks_for_run(run.assign(warmup_steps=-5))
    bare = run.drop(columns=["warmup_steps", "total_steps"])
    marks = landmarks_for_run(bare)
    assert np.isnan(marks.warmup_end) and "pass --warmup-steps" in marks.source


def test_transitions_without_a_schedule_say_so_instead_of_printing_nan(tmp_path):
    path = tmp_path / "t.parquet"
    long_table().drop(columns=["warmup_steps", "total_steps"]).to_parquet(path)
    code, out = run_cli(["transitions", "--stat", "t_nu", "--data", str(path), "--bootstrap", "0"])
    assert code == 0, out
    assert "nan" not in out and "schedule unknown" in out and "no interval: --bootstrap 0" in out


def test_a_breakpoint_interval_always_holds_its_estimate():
    rng = np.random.default_rng(2)
    x = np.linspace(0, 3, 40)
    y = 1 + 0.2 * x + 1.5 * np.maximum(0, x - 1.3) + rng.normal(0, 0.05, x.size)
    fit = fit_segmented(x, y, 1, rho=0.0)
    for seed in range(6):
        ((lo, hi),), _ = bootstrap_breakpoints(x, y, fit, n_bootstrap=3, seed=seed, rho=0.0)
        assert lo <= fit.breakpoints[0] <= hi


def test_the_warmup_regression_line_counts_the_runs_it_names(tmp_path):
    table = long_table(models=("a", "b", "c", "d"), warmups=(10, 40, 160, 80))
    table = table[(table["model"] != "d") | (table["step"] <= 4)]  # d: too few checkpoints
    path = tmp_path / "t.parquet"
    table.to_parquet(path)
    code, out = run_cli(["transitions", "--stat", "t_nu", "--data", str(path), "--bootstrap", "0"])
    assert code == 0, out
    assert "over the 3 of 4 runs that differ only in warmup with a transition (a, b, c, d; none in d)" in out


# ---- trajectory ----------------------------------------------------------------------------

def test_the_collapse_verdict_follows_its_test():
    assert collapse_verdict(2.1, 0.55, 0.9).startswith("one pooled curve leaves 2.1x")
    assert "does not reject one curve" in collapse_verdict(2.1, 0.55, 0.9)
    assert collapse_verdict(2.1, 0.001).startswith("runs follow distinct curves")


def test_trajectory_refuses_too_few_points_and_a_far_fixed_E(tmp_path):
    table = long_table()
    few = tmp_path / "few.parquet"
    table[table["step"] <= 0].to_parquet(few)
    one_line_error(*run_cli(["trajectory", "--stat", "t_nu", "--data", str(few)]),
                   "3 checkpoints have both the statistic and a loss", "needs 5")
    path = tmp_path / "t.parquet"
    table.to_parquet(path)
    one_line_error(*run_cli(["trajectory", "--stat", "t_nu", "--data", str(path), "--E", "-1e308"]),
                   "--E", "leave --E out")
    code, out = run_cli(["trajectory", "--stat", "t_nu", "--data", str(path), "--models", "a"])
    assert code == 0, out
    assert "Pooled fit over 1 model (" in out and "- -" not in out and "+ -" not in out


# ---- warmup-study -------------------------------------------------------------------------

def test_warmup_study_names_the_file_and_studies_a_repeated_panel_once(tmp_path):
    path = tmp_path / "t.parquet"
    long_table().to_parquet(path)
    one_line_error(*run_cli(["warmup-study", "--data", str(path), "--panel", "t_nu/attn_out"]),
                   "t.parquet: column 'group' has no 'attn_out'")
    code, out = run_cli(["warmup-study", "--data", str(path), "--panel", "t_nu/mlp_in",
                         "--panel", "t_nu/mlp_in", "--bootstrap", "0", "--json", "--out",
                         str(tmp_path / "report")])
    assert code == 0, out
    assert len(json.loads(out[out.index("{"):])["rows"]) == 1
    assert (tmp_path / "report" / "warmup_study.png").exists()


def test_warmup_study_is_quiet_in_python_and_shows_its_bar_in_the_command(tmp_path, capsys):
    """warmup_study drew a progress bar unless told not to (the other analyses' default is quiet)."""
    table = long_table()
    study = warmup_study(table, [("t_nu", "mlp_in")], n_bootstrap=0)
    assert len(study) == 1 and "warmup study" not in capsys.readouterr().err
    with pytest.raises(InputError, match="n_bootstrap: '1'"):
        warmup_study(table, [("t_nu", "mlp_in")], n_bootstrap=1)
    path = tmp_path / "t.parquet"
    table.to_parquet(path)
    result = CliRunner().invoke(main, ["warmup-study", "--data", str(path), "--panel", "t_nu/mlp_in",
                                       "--bootstrap", "0"])
    assert result.exit_code == 0 and "warmup study" in result.stderr, result.output


def test_warmup_study_keeps_the_statistics_finished_before_ctrl_c(tmp_path, monkeypatch):
    """Ctrl-C in the fourth minute of the shipped study kept nothing: every finished statistic's
    bootstrap was lost. Now the finished rows are printed and written (report.md says it was
    interrupted) and the status is 130; a Python caller gets them on the exception."""
    from scalefit.scaling.trajectories import warmup_study as module

    table = long_table()
    weights = table[table["stat"] == "t_nu"]
    table = pd.concat([table, weights.assign(stat="kurtosis", value=weights["value"] * 2)],
                      ignore_index=True)
    path = tmp_path / "t.parquet"
    table.to_parquet(path)
    real, calls = module.study_row, []

    def stopped_at_the_second(*args, **kwargs):
        calls.append(args[1])
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(module, "study_row", stopped_at_the_second)
    with pytest.raises(Interrupted) as stop:
        warmup_study(table, [("t_nu", "mlp_in"), ("kurtosis", "mlp_in")], n_bootstrap=0)
    assert list(stop.value.partial["stat"]) == ["t_nu"] and (stop.value.done, stop.value.total) == (1, 2)
    calls.clear()
    out = tmp_path / "report"
    result = CliRunner().invoke(main, ["warmup-study", "--data", str(path), "--panel", "t_nu/mlp_in",
                                       "--panel", "kurtosis/mlp_in", "--bootstrap", "0", "--out", str(out)])
    assert result.exit_code == 130, result.output
    assert "interrupted: 1 of 2 statistics finished" in result.stderr and "Traceback" not in result.output
    assert list(read_table(out / "warmup_transitions.csv")["stat"]) == ["t_nu"]
    assert "Interrupted: 1 of 2 statistics finished" in (out / "report.md").read_text()
    assert "t_nu" in result.stdout
    calls.clear()
    monkeypatch.setattr(module, "study_row", lambda *a, **k: (_ for _ in ()).throw(KeyboardInterrupt))
    nothing = CliRunner().invoke(main, ["warmup-study", "--data", str(path), "--panel", "t_nu/mlp_in",
                                        "--bootstrap", "0", "--out", str(tmp_path / "none")])
    assert nothing.exit_code == 130 and not (tmp_path / "none").exists(), nothing.output


def test_transitions_keeps_the_runs_finished_before_ctrl_c(tmp_path, monkeypatch):
    """Ctrl-C in `transitions` (a minute per statistic on the shipped suite, seconds of bootstrap
    per run) kept nothing; the runs finished are now printed and written, with no regression over
    part of a family, and the status is 130."""
    from scalefit.scaling.trajectories import transitions as module

    path = tmp_path / "t.parquet"
    long_table().to_parquet(path)
    real, calls = module.run_transitions, []

    def stopped_at_the_third(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(module, "run_transitions", stopped_at_the_third)
    out = tmp_path / "report"
    result = CliRunner().invoke(main, ["transitions", "--data", str(path), "--stat", "t_nu", "--group",
                                       "mlp_in", "--bootstrap", "0", "--out", str(out), "--json"])
    assert result.exit_code == 130, result.output
    assert "interrupted: 2 of 3 runs finished" in result.stderr and "Traceback" not in result.output
    doc = json.loads(result.stdout)
    assert sorted(r["model"] for r in doc["runs"]) == ["a", "b"] and doc["interrupted"]
    assert doc["warmup_regression"] is None
    assert "interrupted after 2 of 3 runs" in (out / "report.md").read_text()
    calls.clear()
    monkeypatch.setattr(module, "run_transitions", real)
    whole = CliRunner().invoke(main, ["transitions", "--data", str(path), "--stat", "t_nu", "--group",
                                      "mlp_in", "--bootstrap", "0", "--out", str(out), "--json"])
    # the interrupted run's folder records its settings, so the re-run that completes it is let in
    assert whole.exit_code == 0 and len(json.loads(whole.stdout)["runs"]) == 3, whole.output
    assert "interrupted" not in (out / "report.md").read_text()
    other = CliRunner().invoke(main, ["transitions", "--data", str(path), "--stat", "t_nu", "--group",
                                      "attn_out", "--bootstrap", "0", "--out", str(out)])
    assert other.exit_code == 2 and "(--group 'mlp_in' there, 'attn_out' here)" in other.output, other.output


# ---- init-study ---------------------------------------------------------------------------

def init_table(seeds=(1, 2, 3), inits=("pythia", "empirical")):
    rng = np.random.default_rng(4)
    rows = []
    for init in inits:
        for seed in seeds:
            for step in (0, 8, 32, 128, 512):
                loss = 4 + 4 * (1 + step / (10 if init == "pythia" else 20)) ** -0.5 + rng.normal(0, 0.01)
                rows.append({"model": f"m-init-{init}-s{seed}", "step": step, "dataset": "val",
                             "metric": "loss", "is_train": True, "value": loss})
                rows.append({"model": f"m-init-{init}-s{seed}", "step": step, "tensor": "*",
                             "group": "mlp_in", "layer": -1, "stat": "excess_kurtosis", "value": 0.1})
    return pd.DataFrame(rows)


def test_init_study_with_one_seed_a_side_is_undetermined_not_same_speed(tmp_path):
    path = tmp_path / "one.parquet"
    init_table(seeds=(1,)).to_parquet(path)
    code, out = run_cli(["init-study", "--data", str(path)])
    assert code == 0, out
    assert "same speed" not in out and "undetermined (these runs allow no test)" in out


@pytest.mark.parametrize("change, args, words", [
    (lambda t: t, ["--thresholds", "100,90"], ["--thresholds: 100 is not below the loss", "start from"]),
    (lambda t: t, ["--thresholds", "6,5", "--thresholds", "6.0"], ["--thresholds: 6.0 is given twice"]),
    (lambda t: t, ["--stat", "nope"], ["--stat", "no 'nope' rows", "known: excess_kurtosis"]),
    (lambda t: t.drop(columns="metric"), [], ["column 'metric' is missing"]),
    (lambda t: t.drop(columns="value"), [], ["column 'value' is missing"]),
    (lambda t: pd.concat([t, t[t["metric"] == "loss"].assign(value=9.0)], ignore_index=True), [],
     ["measure the same val loss"]),
    (lambda t: t[t["step"] <= 8], [], ["2 checkpoint(s) with a loss"]),
])
def test_init_study_bad_tables_and_options_exit_2(tmp_path, change, args, words):
    path = tmp_path / "t.parquet"
    change(init_table()).to_parquet(path)
    one_line_error(*run_cli(["init-study", "--data", str(path), *args]), *words)


def test_init_study_on_pythia_runs_alone_is_refused(tmp_path):
    path = tmp_path / "t.parquet"
    init_table(inits=("pythia",)).to_parquet(path)
    one_line_error(*run_cli(["init-study", "--data", str(path)]),
                   "no condition to compare", "every run starts from the pythia init")


# ---- weights plot -------------------------------------------------------------------------

def test_weights_plot_refuses_a_table_with_no_number_to_plot(tmp_path):
    table = long_table()
    table = table[table["stat"].notna()].astype({"value": object}).assign(value="abc")
    path = tmp_path / "w.csv"
    table.to_csv(path, index=False)
    one_line_error(*run_cli(["weights", "plot", "--data", str(path), "--out", str(tmp_path / "p")]),
                   "w.csv: column 'value', row 1: 'abc' is not a number")
    one_line_error(*run_cli(["weights", "plot", "--data", str(path), "--stat", "nope",
                             "--out", str(tmp_path / "p")]), "no rows with stat 'nope'")


def test_an_interrupted_report_leaves_the_out_folder_as_it_was(tmp_path, monkeypatch):
    """transitions --out over an earlier run's folder, interrupted while writing its plots: the
    folder keeps the earlier run's files, not its transitions.csv beside the other's report."""
    from scalefit.scaling.trajectories import plots

    path, out = tmp_path / "t.parquet", tmp_path / "report"
    long_table().to_parquet(path)
    args = ["transitions", "--stat", "t_nu", "--data", str(path), "--bootstrap", "0", "--out", str(out)]
    assert run_cli(args)[0] == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}

    def interrupted(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(plots, "plot_transitions", interrupted)
    assert run_cli(args)[0] == 130  # the same settings (others are refused before any work)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert not [p for p in tmp_path.iterdir() if ".tmp-" in p.name]


def test_an_out_folder_below_a_file_is_refused_before_any_fit(tmp_path):
    """The shared --out option checks its folder when it is read: transitions, trajectory,
    warmup-study and init-study raised NotADirectoryError after the whole computation."""
    afile = tmp_path / "afile"
    afile.write_text("")
    for command in (["transitions", "--stat", "t_nu"], ["trajectory", "--stat", "t_nu"],
                    ["warmup-study"], ["init-study"]):
        one_line_error(*run_cli([*command, "--out", str(afile / "sub")]),
                       f"--out {afile / 'sub'}: '{afile}' is a file, so no folder can be made below it")


# ---- the Python API checks a trajectory as the command path does ---------------------------

def test_a_nan_value_in_a_trajectory_is_left_out_and_named_not_read_as_no_transition():
    """One NaN made a run's BIC comparison NaN, read as "no transition" (2 transitions became 0).
    Its checkpoint is a gap in the run's series (the AR(1) errors across it rho^2): the study of the
    table without its row that records it as left out (attrs["left_out"], table.with_left_out)."""
    traj = stat_trajectory(long_table(), "t_nu", group="mlp_in")
    i = traj.index[(traj["model"] == "b") & (traj["step"] == 700)][0]
    without = traj.drop(index=i)
    without.attrs["left_out"] = [{"model": "b", "steps_left_out": [700]}]
    clean = transition_study(without, n_bootstrap=0)
    study = transition_study(traj.assign(value=traj["value"].where(traj.index != i)), n_bootstrap=0)
    assert (clean.runs.set_index("model")["n_transitions"] >= 1).all()
    assert study.runs.set_index("model").loc["b", "n_transitions"] >= 1
    pd.testing.assert_frame_equal(study.runs, clean.runs)
    pd.testing.assert_frame_equal(study.transitions, clean.transitions)
    (note,) = study.notes
    assert "1 checkpoint(s) have no finite value" in note and "b: steps 700" in note
    _, summary = run_transitions(traj[traj["model"] == "b"].assign(value=traj["value"].where(traj.index != i)),
                                 n_bootstrap=0)
    assert summary["n_transitions"] >= 1 and "b: steps 700" in summary["note"]


def _weights():
    table = long_table()
    return table[table["stat"].notna()].drop(columns=["dataset", "metric", "is_train"])


@pytest.mark.parametrize("study", [transition_study, detect_transitions])
@pytest.mark.parametrize("table, words", [
    (long_table, ["has evaluation rows (column 'metric')", "pass stat_trajectory(table, stat"]),
    (lambda: pd.concat([_weights(), _weights().assign(stat="std")]),
     ["has 2 statistics (column 'stat': std, t_nu)", "pass stat_trajectory("]),
    (lambda: pd.concat([_weights(), _weights().assign(group="attn_out")]),
     ["several values of 'group' per checkpoint", "pass stat_trajectory("]),
    (lambda: _weights().drop(columns="value"), ["column 'value' is missing"]),
    (lambda: _weights().drop(columns="model"), ["column 'model' is missing"]),
    (lambda: _weights().assign(step=lambda t: t["step"].where(t["step"] != 64, -64)),
     ["column 'step'", "'-64' is not a step"]),
    (lambda: _weights().assign(value=lambda t: t["value"].astype(object).where(t["step"] != 64, "oops")),
     ["column 'value'", "'oops' is not a number"]),
    (lambda: pd.concat([_weights(), _weights().head(1).assign(value=0.0)]),
     ["measure the same trajectory value", "model=a, step=0"]),
    (lambda: _weights().assign(value=np.nan), ["column 'value' has no finite number"]),
])
def test_the_python_api_refuses_what_the_command_refuses(study, table, words):
    """A long table was fitted as one curve (74,314 mixed values per run), a negative step dropped
    silently, a missing column a KeyError: now one InputError, as on the command's path."""
    with pytest.raises(InputError) as refused:
        study(table(), n_bootstrap=0)
    for word in words:
        assert word in str(refused.value), str(refused.value)


def test_run_transitions_refuses_several_runs():
    with pytest.raises(InputError, match="has 3 runs .* pass one run's rows"):
        run_transitions(stat_trajectory(long_table(), "t_nu", group="mlp_in"), n_bootstrap=0)


def test_transition_study_names_its_settings():
    """Its settings hid in **kwargs."""
    params = inspect.signature(transition_study).parameters
    assert not any(p.kind is p.VAR_KEYWORD for p in params.values())
    assert {"which", "warmup_steps", "total_steps", "max_breakpoints", "min_delta_bic", "n_bootstrap",
            "seed", "progress"} <= set(params)
    traj = stat_trajectory(long_table(), "t_nu", group="mlp_in")
    study = transition_study(traj, n_bootstrap=0, seed=3)
    assert study.regression is not None
    own = warmup_regression(study.picked)
    assert study.regression.params["slope"].ci95 == own.params["slope"].ci95


@pytest.mark.parametrize("setting, words", [
    ({"which": "firstt"}, "which: 'firstt' is not a pick"),
    ({"n_bootstrap": -1}, "n_bootstrap: '-1'"),
    ({"max_breakpoints": 0}, "max_breakpoints: '0' is out of range"),
    ({"max_breakpoints": 5}, "max_breakpoints: '5' is out of range"),
    ({"min_delta_bic": -1.0}, "min_delta_bic: '-1.0' is out of range"),
    ({"warmup_steps": float("nan")}, "warmup_steps: 'nan' is not finite"),
    ({"total_steps": 0}, "total_steps: '0' is out of range"),
    ({"seed": -1}, "seed: '-1' is out of range"),
])
def test_transition_study_refuses_a_setting_the_command_refuses(setting, words):
    with pytest.raises(InputError, match=re.escape(words)):
        transition_study(stat_trajectory(long_table(), "t_nu", group="mlp_in"), **setting)


# ---- the Python API prepares a sweep's tables as the command does -------------------------

def sweep_folder(tmp_path):
    """A sweep folder: weight rows, evaluation rows that carry the schedule, and fingerprints in
    which model a's steps 300 and 400 hold identical weights (both flagged as duplicates)."""
    table = long_table().assign(lr=lambda t: 1e-3, tokens=lambda t: 1000 * t["step"])
    schedule = ["warmup_steps", "total_steps", "schedule", "params", "lr_peak", "lr", "tokens"]
    weights = table[table["stat"].notna()].drop(columns=schedule + ["dataset", "metric", "is_train"])
    weights.to_parquet(tmp_path / "weights.parquet")
    table[table["metric"].notna()].to_parquet(tmp_path / "evals.parquet")
    fingerprints = table[["model", "step"]].drop_duplicates().assign(
        fingerprint=lambda t: [f"{m}-{300 if (m, s) == ('a', 400) else s}" for m, s in zip(t["model"], t["step"])])
    fingerprints.to_parquet(tmp_path / "fingerprints.parquet")
    return tmp_path / "weights.parquet", tmp_path / "evals.parquet"


def test_transitions_in_python_equal_the_command_on_a_sweep_folder(tmp_path):
    """--models, the duplicate checkpoints of the sweep's integrity check and the schedule from
    --losses were the command's alone: a notebook fitted duplicated weights and had no schedule."""
    from scalefit.report import dumps

    weights, evals = sweep_folder(tmp_path)
    code, out = run_cli(["transitions", "--stat", "t_nu", "--group", "mlp_in", "--data", str(weights),
                         "--losses", str(evals), "--models", "a,b", "--bootstrap", "0", "--json"])
    assert code == 0 and "dropped 2 checkpoint(s) with duplicated weights" in out, out
    command = json.loads(out[out.index("{"):])
    traj = stat_trajectory(weights, "t_nu", group="mlp_in", models="a,b", losses=evals)
    assert not traj[traj["model"] == "a"]["step"].isin([300, 400]).any()
    assert "dropped 2 checkpoint(s) with duplicated weights" in traj.attrs["notes"][0]
    assert traj["lr"].notna().all() and traj["warmup_steps"].notna().all()  # from the losses table
    study = json.loads(dumps(transition_study(traj, n_bootstrap=0).to_dict()))
    assert study == {k: v for k, v in command.items() if k not in ("stat", "data")}
    assert {r["schedule_source"] for r in study["runs"]} == {"columns"}
    joined = join_stat_and_loss(weights, "t_nu", group="mlp_in", models=["a"], losses=evals)
    assert len(joined) == len(STEPS) - 2 and "dropped 2" in joined.attrs["notes"][0]
    with pytest.raises(InputError, match="column 'model' has no 'z' \\(known: a, b, c\\)"):
        stat_trajectory(weights, "t_nu", models="a,z")
    bare = read_table(evals)[["model", "step", "dataset", "metric", "value"]]  # no schedule: kept as it is
    assert len(stat_trajectory(weights, "t_nu", losses=bare)) == 3 * len(STEPS) - 2


def test_warmup_study_leaves_out_and_names_the_duplicate_checkpoints(tmp_path):
    weights, evals = sweep_folder(tmp_path)
    pd.concat([read_table(weights), read_table(evals)]).to_parquet(tmp_path / "checkpoints.parquet")
    path = tmp_path / "checkpoints.parquet"
    code, out = run_cli(["warmup-study", "--data", str(path), "--panel", "t_nu/mlp_in", "--bootstrap", "0"])
    assert code == 0 and "note: dropped 2 checkpoint(s) with duplicated weights" in out, out
    study = warmup_study(read_table(path), [("t_nu", "mlp_in")], n_bootstrap=0, source=str(path))
    assert "dropped 2 checkpoint(s)" in study.attrs["notes"][0]
    pd.testing.assert_frame_equal(study, warmup_study(path, [("t_nu", "mlp_in")], n_bootstrap=0))


def test_the_stat_vs_loss_fits_check_their_input_as_the_command_does():
    """A fixed E above the smallest loss was refused by `scalefit trajectory` alone: collapse_report
    fitted it and returned a curve with no warning. A missing column was a KeyError, and one NaN
    value made the partial correlation NaN ("needs more checkpoints"); its checkpoint is a gap in
    the run's series, as one the table records as left out (attrs["left_out"])."""
    joined = join_stat_and_loss(long_table(), "t_nu", group="mlp_in")
    for E in (joined["loss"].min() + 0.1, -1e308, "x"):
        with pytest.raises(InputError, match="--E"):
            collapse_report(joined, E=E)
    for fit in (collapse_report, partial_correlation):
        with pytest.raises(InputError, match="joined: column 'loss' is missing"):
            fit(joined.drop(columns="loss"))
    i = joined.index[(joined["model"] == "b") & (joined["step"] == 700)][0]
    holed = partial_correlation(joined.assign(value=joined["value"].where(joined.index != i)))
    without = joined.drop(index=i)
    without.attrs["left_out"] = [{"model": "b", "steps_left_out": [700]}]
    assert holed == partial_correlation(without) and np.isfinite(holed["partial_pearson"])


def test_the_partial_correlation_says_lr_was_removed_only_where_the_table_has_lr():
    """The report said 'after removing a degree-4 polynomial in log10(step) and lr' for a table
    with no lr column, where only the polynomial was removed (and the partial r differs)."""
    from scalefit.scaling.trajectories.trajectory import trajectory_markdown

    joined = join_stat_and_loss(long_table(), "t_nu", group="mlp_in")
    assert "lr" not in joined
    without = partial_correlation(joined)
    assert "no lr" in without["controls"] and "and lr" not in without["controls"]
    text = trajectory_markdown("t_nu / mlp_in", collapse_report(joined), without)
    assert "log10(step) and lr" not in text and "no lr" in text
    rng = np.random.default_rng(3)
    lr = joined["step"].map(lambda s: 1e-3 * (0.5 + 0.5 * np.cos(np.pi * s / 2400))) + rng.normal(0, 1e-5, len(joined))
    with_lr = partial_correlation(joined.assign(lr=lr))
    assert with_lr["controls"] == "a degree-4 polynomial in log10(step) and lr, within each run"
    assert with_lr["partial_pearson"] != without["partial_pearson"]
    holed = partial_correlation(joined.assign(lr=lr.where(joined["model"] != "b")))
    assert "not lr in b" in holed["controls"]


def test_a_constant_statistic_is_not_reported_as_a_power_law_at_its_bound():
    """A run whose statistic never moves (t_nu at its cap) was reported 'p ends at a bound ... E and
    p are not identified, read the R^2 and the monotone fit instead', both of which are undefined
    for it: with c = 0 the fit's E and p are arbitrary. It now says only that it is constant."""
    from scalefit.scaling.trajectories.stat_law import fit_stat_vs_loss
    from scalefit.scaling.trajectories.trajectory import trajectory_markdown

    joined = join_stat_and_loss(long_table(), "t_nu", group="mlp_in")
    flat = joined[joined["model"] == "a"].assign(value=3.0)
    fit = fit_stat_vs_loss(flat["loss"], flat["value"], label="a")
    assert fit.warnings == ["the statistic is constant (3) over these checkpoints: no curve to fit"]
    text = trajectory_markdown("t_nu / mlp_in", collapse_report(flat), partial_correlation(flat))
    assert "ends at a bound" not in text and "- (constant)" in text


def test_a_misspelt_stat_in_a_full_weights_table_is_answered_with_the_closest_name():
    """A `scalefit weights` table holds 68 statistics; the message listed the first 40 sorted names
    ('... q0.001, ... (68 in all)'), so for 't_nux' or 'stable_rnak' the name meant was not shown."""
    from scalefit.weightstats.plots import stat_series

    table = long_table()
    extra = table[table["stat"] == "t_nu"].iloc[:1]
    names = [f"a{i:02d}_stat" for i in range(45)] + ["stable_rank"]
    table = pd.concat([table, *[extra.assign(stat=n) for n in names]], ignore_index=True)
    for typo, meant in (("t_nux", "t_nu"), ("stable_rnak", "stable_rank")):
        with pytest.raises(InputError, match=f"no rows '{typo}'; did you mean '{meant}'\\?"):
            stat_trajectory(table, typo, group="mlp_in", source="w.csv")
        with pytest.raises(InputError, match=f"no rows with stat '{typo}'; did you mean '{meant}'\\?"):
            stat_series(table, typo, source="w.csv")
    # 48: the table's 47 and t_xi, derived from its t_nu (scalefit.derived_stats)
    with pytest.raises(InputError, match=r"no rows 'zzz' \(known: a00_stat, .*\(48 in all\)"):
        stat_trajectory(table, "zzz", group="mlp_in", source="w.csv")


def test_warmup_study_clears_its_progress_bar_before_an_error(tmp_path):
    """A panel refused inside the loop printed 'warmup study:   0%|...| 0/1 [...]error: ...' on one
    line and the bar again after it: the bar was left open when the error propagated."""
    path = tmp_path / "two.csv"
    long_table(models=("a", "b"), warmups=(10, 40)).to_csv(path, index=False)
    code, out = run_cli(["warmup-study", "--data", str(path), "--panel", "t_nu/mlp_in", "--bootstrap", "0"])
    one_line_error(code, out, "no 3 runs differ only in warmup")
    assert out.splitlines()[-1].startswith("error:"), repr(out)


def test_a_transition_is_placed_without_a_decay_horizon_where_none_is_needed(tmp_path):
    """A table with warmup_steps but no total_steps and no lr: a transition inside warmup, or any
    transition of a constant-LR run, stopped the command with 'LRSchedule decay_steps: 'nan' is not
    a step count' (exit 2, naming nothing the user gave). The warmup ramp and a constant LR need
    no horizon; only a decay does."""
    rng = np.random.default_rng(2)
    steps = np.r_[0, 2 ** np.arange(1, 12)]
    x = np.log10(np.maximum(steps, 1))
    value = 5 + 0.1 * x + 8 * np.maximum(0, x - 2) + rng.normal(0, 0.05, x.size)
    base = pd.DataFrame({"model": "m", "step": steps, "tensor": "*", "group": "mlp_in", "layer": -1,
                         "stat": "t_nu", "value": value})
    for extra, phase, lr in (({"warmup_steps": 1000}, "in warmup", lambda s: s / 1000),
                             ({"warmup_steps": 10, "schedule": "constant"}, "constant LR", lambda s: 1.0),
                             ({"warmup_steps": 10}, "decay horizon unknown", None)):
        path = tmp_path / "t.csv"
        base.assign(**extra).to_csv(path, index=False)
        code, out = run_cli(["transitions", "--data", str(path), "--stat", "t_nu", "--group", "mlp_in",
                             "--bootstrap", "0", "--json"])
        assert code == 0, out
        (row,) = json.loads(out[out.index("{"):])["transitions"]
        assert row["schedule_phase"] == phase
        if lr is None:
            assert row["lr_fraction_of_peak"] is None or np.isnan(row["lr_fraction_of_peak"])
        else:
            assert row["lr_fraction_of_peak"] == pytest.approx(lr(row["step"]))


def test_transitions_without_resamples_claim_no_95_percent_interval(tmp_path):
    """With --bootstrap 0 report.md still said '95% intervals by a sieve bootstrap' and the figure's
    title 'band: 95% CI', where no transition has an interval."""
    import matplotlib
    matplotlib.use("Agg")
    from scalefit.scaling.trajectories.plots import plot_transitions

    path = tmp_path / "t.csv"
    long_table().to_csv(path, index=False)
    for n, said in ((0, "no intervals (--bootstrap 0)"), (20, "95% intervals by a sieve bootstrap")):
        out = tmp_path / f"out{n}"
        code, text = run_cli(["transitions", "--data", str(path), "--stat", "t_nu", "--group", "mlp_in",
                              "--bootstrap", str(n), "--out", str(out)])
        assert code == 0, text
        report = (out / "report.md").read_text()
        assert said in report and (n > 0) == ("95% intervals" in report)
        found = pd.read_csv(out / "transitions.csv")
        traj = pd.read_csv(out / "trajectory.csv")
        title = plot_transitions(traj, found, "t_nu / mlp_in").axes[0].get_title()
        assert ("band: 95% CI" in title) == (n > 0) and ("no intervals" in title) == (n == 0)


def test_an_absent_layer_lists_the_layers_as_whole_numbers(tmp_path):
    """Read back from CSV the layer column is float (evaluation rows leave it empty), and the
    message listed 'known: 0.0, 1.0' for layers the user types as 0 and 1."""
    table = long_table()
    weights = table[table["stat"].notna()]
    table = pd.concat([table[table["stat"].isna()], weights.assign(tensor="l0", layer=0),
                       weights.assign(tensor="l1", layer=1)], ignore_index=True)
    path = tmp_path / "t.csv"
    table.to_csv(path, index=False)
    with pytest.raises(InputError, match=r"column 'layer' has no '-1' for stat 't_nu' \(known: 0, 1\)"):
        stat_trajectory(read_table(path), "t_nu", group="mlp_in", layer=-1, source="t.csv")


def test_a_run_without_the_statistic_is_named_not_dropped_silently(tmp_path):
    """`--models a,b` where b has evaluation rows but no t_nu rows: b vanished from the listing
    and the fits without a word."""
    table = long_table()
    table = table[~((table["model"] == "b") & table["stat"].notna())]
    traj = stat_trajectory(table, "t_nu", group="mlp_in", models="a,b", source="t.csv")
    assert set(traj["model"]) == {"a"}
    assert traj.attrs["notes"] == ["t.csv: 1 run(s) have no stat 't_nu', group mlp_in and are left out (b)"]
    full = stat_trajectory(long_table(), "t_nu", group="mlp_in", source="t.csv")
    assert full.attrs["notes"] == []
    path = tmp_path / "t.csv"
    table.to_csv(path, index=False)
    code, out = run_cli(["transitions", "--data", str(path), "--stat", "t_nu", "--group", "mlp_in",
                         "--bootstrap", "0"])
    assert code == 0 and "have no stat 't_nu', group mlp_in and are left out (b)" in out, out


def test_a_schedule_cell_that_is_no_rate_is_refused_and_an_lr_of_zero_is_said_so(tmp_path):
    """A negative lr, or text in it, was read silently (transitions placed nothing, trajectory
    removed a negative 'lr' from the statistic); an lr of 0 at every checkpoint printed 'warmup
    end inferred from lr' with no warmup end."""
    rows = []
    for step in (0, 1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024):
        rows.append({"model": "m", "step": step, "tensor": "*", "group": "g", "layer": -1, "stat": "s",
                     "value": float(np.log2(step + 1)), "lr": 1e-3})
    table = pd.DataFrame(rows)
    for bad, shown in ((-1e-3, "'-0.001'"), ("x", "'x'")):
        broken = table.astype({"lr": object})
        broken.loc[3, "lr"] = bad
        with pytest.raises(InputError, match=f"t.csv: column 'lr', row with index 3: {shown} is not a finite number >= 0"):
            stat_trajectory(broken, "s", group="g", source="t.csv")
    path = tmp_path / "zero.csv"
    table.assign(lr=0.0).to_csv(path, index=False)
    code, out = run_cli(["transitions", "--data", str(path), "--stat", "s", "--group", "g", "--bootstrap", "0"])
    assert code == 0 and "warmup end unknown: lr is never above 0; pass --warmup-steps" in out, out


def test_a_fractional_warmup_end_is_printed_as_given(tmp_path):
    """--warmup-steps 10.5 printed 'warmup end 10 (given)' beside '+91 steps from warmup end' for a
    transition at step 102 (rounded half to even): the warmup end is printed as it is."""
    path = tmp_path / "t.csv"
    long_table(models=("a",), warmups=(10,)).to_csv(path, index=False)
    code, out = run_cli(["transitions", "--data", str(path), "--stat", "t_nu", "--group", "mlp_in",
                         "--bootstrap", "0", "--warmup-steps", "10.5"])
    assert code == 0 and "warmup end 10.5 (given)" in out, out
    code, out = run_cli(["transitions", "--data", str(path), "--stat", "t_nu", "--group", "mlp_in",
                         "--bootstrap", "0"])
    assert code == 0 and "warmup end 10 (columns)" in out, out


# ---- a notebook gets what the command prints ----------------------------------------------

@pytest.fixture(scope="module")
def shipped_t_nu_report():
    """trajectory_report of the shipped suite's t_nu / mlp_in, made once for the tests that hold
    the command's output to it (a collapse report of 16 runs: seconds each time)."""
    from scalefit.data import MINI_CHECKPOINTS, data_path
    from scalefit.scaling.trajectories.trajectory import trajectory_report
    return trajectory_report(data_path(*MINI_CHECKPOINTS), "t_nu", group="mlp_in")


def test_trajectory_report_in_python_equals_the_command_on_the_shipped_suite(shipped_t_nu_report):
    """`scalefit trajectory` built its JSON and its Markdown itself: a notebook had to copy both."""
    from scalefit.data import MINI_CHECKPOINTS, data_path
    from scalefit.report import dumps
    from scalefit.scaling.trajectories.trajectory import TrajectoryReport, trajectory_report

    args = ["trajectory", "--stat", "t_nu", "--group", "mlp_in"]
    json_run = CliRunner().invoke(main, [*args, "--json"])
    text_run = CliRunner().invoke(main, args)
    assert json_run.exit_code == 0 and text_run.exit_code == 0, json_run.output + text_run.output
    shipped = data_path(*MINI_CHECKPOINTS)
    report = shipped_t_nu_report
    assert isinstance(report, TrajectoryReport)
    assert json.loads(dumps(report.to_dict())) == json.loads(json_run.stdout)
    # the command prints what was left out (t_nu at its cap, for one) as 'note:' lines on stderr
    assert report.markdown(notes=False) + "\n" == text_run.stdout
    assert all(f"note: {n}" in text_run.stderr for n in report.notes)
    assert "![stat vs loss](stat_vs_loss.png)" in report.markdown(plot=True)
    framed = trajectory_report(read_table(shipped), "t_nu", group="mlp_in", source=str(shipped))
    assert dumps(framed.to_dict()) == dumps(report.to_dict())


def test_trajectory_report_writes_the_commands_folder(tmp_path, shipped_t_nu_report):
    """`--out` was written by the command alone; report.write(DIR) writes the same files."""
    args = ["trajectory", "--stat", "t_nu", "--group", "mlp_in", "--out", str(tmp_path / "cli")]
    assert CliRunner().invoke(main, args).exit_code == 0
    shipped_t_nu_report.write(tmp_path / "py")
    names = sorted(p.name for p in (tmp_path / "cli").iterdir() if p.name != "scalefit_settings.json")
    assert names == sorted(p.name for p in (tmp_path / "py").iterdir())  # the command adds its settings
    assert {"stat_vs_loss.csv", "stat_vs_loss.png", "stat_vs_loss.svg", "report.md"} <= set(names)
    for name in ("stat_vs_loss.csv", "report.md"):
        assert (tmp_path / "cli" / name).read_text() == (tmp_path / "py" / name).read_text()


# ---- what a table may be in Python --------------------------------------------------------

def test_stat_trajectory_reads_row_dicts_and_columns_and_refuses_anything_else():
    """A dict, a numpy array or a list gave a raw pandas error (AttributeError, KeyError)."""
    table = long_table()
    frame = stat_trajectory(table, "t_nu", group="mlp_in")
    for form in (table.to_dict("records"), table.to_dict("list")):
        pd.testing.assert_frame_equal(stat_trajectory(form, "t_nu", group="mlp_in"), frame)
    joined = join_stat_and_loss(table, "t_nu", group="mlp_in")
    pd.testing.assert_frame_equal(
        join_stat_and_loss(table.to_dict("list"), "t_nu", group="mlp_in",
                           losses=table[table["metric"].notna()].to_dict("records")), joined)
    accepted = "pass a DataFrame, a table's path (.parquet, .csv, .tsv, .json, .jsonl), a list of " \
               "row dicts or a dict of columns"
    for bad, words in [(table.to_numpy(), "an ndarray is not a table"),
                       (table.to_numpy().tolist(), "a list of rows holds dicts, not list"),
                       ([1, 2], "a list of rows holds dicts, not int"),
                       ({"model": "a", "step": 1}, "not a table (If using all scalar values"),
                       ({"model": ["a", "b"], "step": [1]}, "not a table (All arrays must be"),
                       (3.0, "a float is not a table")]:
        with pytest.raises(InputError) as refused:
            stat_trajectory(bad, "t_nu")
        assert str(refused.value).startswith(f"table: {words}") and accepted in str(refused.value)
    with pytest.raises(InputError, match="losses: an ndarray is not a table"):
        join_stat_and_loss(table, "t_nu", losses=table.to_numpy(), losses_source="losses")


# ---- a loss is > 0 ------------------------------------------------------------------------

@pytest.mark.parametrize("bad", [-0.5, 0.0, "x"])
def test_collapse_report_refuses_a_loss_that_is_not_above_zero(bad):
    """A negative or zero loss was fitted as (L - E)^p without a word."""
    joined = join_stat_and_loss(long_table(), "t_nu", group="mlp_in").astype({"loss": object})
    i = int(np.flatnonzero(((joined["model"] == "b") & (joined["step"] == 700)).to_numpy())[0])
    joined.loc[joined.index[i], "loss"] = bad
    with pytest.raises(InputError) as refused:
        collapse_report(joined)
    assert str(refused.value) == (
        f"joined: column 'loss', row with index {joined.index[i]} (model b, step 700): '{bad}' is "
        "not a loss; expected a number > 0 (a cross entropy in nats/token), or empty where there is none")
    fine = collapse_report(joined.assign(loss=joined["loss"].where(joined.index != joined.index[i])))
    assert fine["pooled"].n_points == len(joined) - 1  # an empty loss is left out, not refused


def test_the_command_names_the_file_row_of_a_loss_below_zero(tmp_path):
    table = long_table()
    row = int(table.index[(table["metric"] == "loss") & (table["model"] == "c") & (table["step"] == 64)][0])
    table.loc[row, "value"] = -2.0
    path = tmp_path / "t.csv"
    table.to_csv(path, index=False)
    one_line_error(*run_cli(["trajectory", "--stat", "t_nu", "--data", str(path)]),
                   f"t.csv: column 'value', row {row + 1} (model c, step 64): '-2.0' is not a loss",
                   "expected a number > 0")
    wide = join_stat_and_loss(long_table(), "t_nu").assign(loss=lambda t: t["loss"].where(t.index != 5, 0.0))
    with pytest.raises(InputError, match=r"wide: column 'loss', row with index 5 \(model a, step 16\): '0.0' is not a loss"):
        join_stat_and_loss(wide.assign(stat="t_nu"), "t_nu", losses=wide, losses_source="wide")

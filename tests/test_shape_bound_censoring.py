"""A shape statistic at its fit's bound (a Student-t nu at its cap 1e4: Gaussian as far as the fit
can tell) is no measurement: transitions, warmup-study and trajectory leave those checkpoints out
(stat_trajectory, the one place all three read), count them and say from which step. Fitted as
values, the shipped mini-3-W0.0025's rise from nu 397 to the cap read as a transition; and the
transitions' 95% intervals are said as 95% intervals in --json too (interval_level was 99.5, the
resamples' central percent)."""
import json

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from scalefit.cli import main
from scalefit.errors import InputError
from scalefit.scaling.trajectories.table import join_stat_and_loss, stat_trajectory
from scalefit.scaling.trajectories.transitions import transition_study
from scalefit.scaling.trajectories.trajectory import trajectory_report

CAP = 1e4
STEPS = np.unique(np.round(np.geomspace(1, 1120, 60)))  # log-spaced, as the shipped warmup runs'
CAPPED_FROM = 300  # the planted runs' nu reaches the cap here and stays (the shipped: step 318)
FIRST_AT_CAP = int(STEPS[STEPS >= CAPPED_FROM][0])  # their first checkpoint at the cap


def long_table(rng, warmups=(10, 40, 120), capped_from=CAPPED_FROM, full_cap=()) -> pd.DataFrame:
    """Weight rows (t_nu of attn_out's pooled row) and loss rows of runs whose nu grows smoothly in
    log10(step), no kink, and sits at the cap from ``capped_from`` on (``full_cap``: runs at the
    cap at every checkpoint); the warmup variants share size, length and peak LR."""
    rows = []
    models = [(f"w{w}", w) for w in warmups] + [(m, 10) for m in full_cap]
    for model, warmup in models:
        nu = 40 + 30 * np.log10(STEPS) + rng.normal(0, 0.3, len(STEPS))
        nu[STEPS >= capped_from] = CAP
        if model in full_cap:
            nu[:] = CAP
        facts = {"model": model, "warmup_steps": warmup, "total_steps": 1120, "lr_peak": 1e-3,
                 "params": 1e6}
        for step, value in zip(STEPS, nu):
            rows.append({**facts, "step": int(step), "tensor": "*", "group": "attn_out", "layer": -1,
                         "stat": "t_nu", "value": float(value)})
            rows.append({**facts, "step": int(step), "dataset": "train-val", "metric": "loss",
                         "value": 3 + 5 * (step + 10) ** -0.3 + 1e-4 * rng.normal()})
    return pd.DataFrame(rows)


def test_a_jump_to_the_cap_is_no_transition_and_the_capped_steps_are_named():
    """Every run's nu is a line in log step but for its jump to 1e4 at step 300. Fitted as values
    (the old stat_trajectory kept them), the jump reads as transitions around it (as the shipped
    mini-3-W0.0025's 263 and 412). Now the capped checkpoints are left out: no transition, and the
    runs' summary, the notes and at_bound say how many checkpoints sat at the cap, from step 300."""
    table = long_table(np.random.default_rng(1))
    raw = table.loc[table["stat"] == "t_nu", ["model", "step", "value", "warmup_steps", "total_steps",
                                              "lr_peak", "params"]]
    fitted_as_values = transition_study(raw, n_bootstrap=0).transitions
    assert set(fitted_as_values["model"]) == {"w10", "w40", "w120"}
    assert fitted_as_values["step"].between(150, 600).all()
    traj = stat_trajectory(table, "t_nu", group="attn_out")
    capped = int((STEPS >= CAPPED_FROM).sum())
    assert traj["value"].max() < CAP and len(traj) == 3 * (len(STEPS) - capped)
    study = transition_study(traj, n_bootstrap=0)
    assert study.transitions.empty, study.transitions[["model", "step"]]
    runs = study.runs.set_index("model")
    assert list(runs["n_at_bound"]) == [capped] * 3
    assert list(runs["first_step_at_bound"]) == [FIRST_AT_CAP] * 3
    assert list(runs["n_points"]) == [len(STEPS) - capped - 0] * 3  # step 0 is not in STEPS
    record = study.to_dict()["at_bound"][0]
    assert record["model"] == "w10" and record["first_step_at_bound"] == FIRST_AT_CAP
    assert record["n_at_bound"] == capped and record["n_checkpoints"] == len(STEPS)
    assert record["steps_at_bound"] == [int(s) for s in STEPS[STEPS >= CAPPED_FROM]]
    note, = [n for n in study.notes if "cap" in n]
    assert ("nu at its cap 10000 (Gaussian as far as the fit can tell), the fit's bound, not a "
            "measured value, and are left out of the fit") in note
    assert f"w10: {capped} of {len(STEPS)}, first at step {FIRST_AT_CAP}" in note


def test_the_command_says_where_each_run_reached_the_cap(tmp_path):
    """`scalefit transitions`: the run's line says the cap was reached and from which step (the
    finding the search no longer sees), --json's runs and at_bound carry it, and a run at the cap
    at every checkpoint is named, not searched."""
    path = tmp_path / "t.csv"
    long_table(np.random.default_rng(2), full_cap=("flat",)).to_csv(path, index=False)
    args = ["transitions", "--stat", "t_nu", "--group", "attn_out", "--data", str(path), "--bootstrap", "0"]
    text = CliRunner().invoke(main, args)
    assert text.exit_code == 0, text.output
    capped = int((STEPS >= CAPPED_FROM).sum())
    assert (f"; {capped} more have nu at its cap 10000 (Gaussian as far as the fit can tell) from step "
            f"{FIRST_AT_CAP}, left out") in text.stdout
    assert (f"flat: every checkpoint ({len(STEPS)}) has nu at its cap 10000 (Gaussian as far as the fit "
            "can tell), from step 1: not searched") in text.stdout
    assert f"flat: {len(STEPS)} of {len(STEPS)} (every checkpoint: the run is left out)" in text.stderr
    doc = json.loads(CliRunner().invoke(main, args + ["--json"]).stdout)
    assert {r["model"]: r["n_at_bound"] for r in doc["runs"]} == {"w10": capped, "w40": capped, "w120": capped}
    assert [r["model"] for r in doc["at_bound"]] == ["flat", "w10", "w120", "w40"]
    assert any("left out of the fit" in n for n in doc["notes"])


def test_a_run_with_too_few_checkpoints_left_is_not_searched_and_says_why():
    steps = np.arange(10, 210, 10)  # 20 checkpoints, 15 at the cap
    traj = stat_trajectory(pd.DataFrame({"model": "m", "step": steps, "tensor": "*", "group": "g",
                                         "stat": "t_nu", "value": np.where(steps > 50, CAP, 30.0 + steps)}),
                           "t_nu", group="g")
    study = transition_study(traj, n_bootstrap=0, warmup_steps=5, total_steps=200)
    run = study.runs.iloc[0]
    assert run["n_points"] == 5 and run["n_transitions"] == 0 and study.transitions.empty
    assert run["note"] == ("only 5 checkpoints after step 0; need 8; 15 more have nu at its cap 10000 "
                           "(Gaussian as far as the fit can tell) from step 60, left out")


def test_the_bound_is_the_figures_within_a_tenth_of_a_percent_and_any_averaged_tensor():
    """at_shape_bound's rule, as plot_marking_bounds marks points: 9995 is at the cap, 9900 is a
    value; a checkpoint averaged over tensors is at the bound when one of them is; a floor has no
    meaning word; a statistic with no bounds keeps every value and has no at_bound."""
    rows = pd.DataFrame({"model": "m", "step": [1, 2, 3, 3, 4], "tensor": ["a", "a", "a", "b", "a"],
                         "group": "g", "stat": "t_nu", "value": [50.0, 9995.0, 60.0, CAP, 9900.0]})
    traj = stat_trajectory(rows, "t_nu", group="g")
    assert list(traj["step"]) == [1, 4] and traj.attrs["at_bound"][0]["steps_at_bound"] == [2, 3]
    floor = stat_trajectory(rows.assign(stat="quartic_g", value=[0.0, 1.0, 2.0, 3.0, 4.0]), "quartic_g", group="g")
    assert list(floor["step"]) == [2, 3, 4]
    assert "g at its floor 0 (the fit's bound, not an estimate)" in floor.attrs["notes"][0]
    other = stat_trajectory(rows.assign(stat="excess_kurtosis"), "excess_kurtosis", group="g")
    assert len(other) == 4 and "at_bound" not in other.attrs and other.attrs["notes"] == []


def test_every_value_at_the_bound_is_refused_in_one_line(tmp_path):
    rows = pd.DataFrame({"model": "m", "step": [1, 2, 3], "tensor": "*", "group": "g", "stat": "t_nu",
                         "value": CAP})
    with pytest.raises(InputError, match="every value of stat 't_nu', group g is at its fit's bound"):
        stat_trajectory(rows, "t_nu", group="g")
    path = tmp_path / "capped.csv"
    rows.to_csv(path, index=False)
    result = CliRunner().invoke(main, ["transitions", "--stat", "t_nu", "--group", "g", "--data", str(path)])
    assert result.exit_code == 2 and len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.output


def test_trajectory_leaves_capped_checkpoints_out_of_its_fits():
    """Old code fitted the capped run as a constant (constant_models) and the others' caps as
    values; now the fits see only measured nu, and --json's at_bound names every capped run."""
    table = long_table(np.random.default_rng(3), full_cap=("flat",))
    joined = join_stat_and_loss(table, "t_nu", group="attn_out")
    assert joined["value"].max() < CAP and "flat" not in set(joined["model"])
    doc = trajectory_report(table, "t_nu", group="attn_out").to_dict()
    assert doc["constant_models"] == {}
    assert {r["model"]: r["n_at_bound"] for r in doc["at_bound"]}["flat"] == len(STEPS)
    assert any("left out of the fit" in n for n in doc["notes"])


def test_warmup_study_says_its_interval_and_the_runs_at_the_cap(tmp_path):
    """stdout printed 'slope [lo, hi]' cells with no level, unit or caption (report.md had them):
    the caption is above the table now, and a line under it names the runs that reached the cap."""
    path = tmp_path / "t.csv"
    long_table(np.random.default_rng(4)).to_csv(path, index=False)
    args = ["warmup-study", "--data", str(path), "--panel", "t_nu/attn_out", "--bootstrap", "0", "--jobs", "1"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("Slope [95% CI] of transition step on warmup end (steps per step "
                                    "of warmup: 1 follows warmup one step per step, 0 does not move with it)")
    capped = int((STEPS >= CAPPED_FROM).sum())
    assert (f"t_nu/attn_out: nu at its cap 10000 (Gaussian as far as the fit can tell) in w10 from step "
            f"{FIRST_AT_CAP} ({capped} of {len(STEPS)} checkpoints), w40 from step {FIRST_AT_CAP}") in result.stdout
    row, = json.loads(CliRunner().invoke(main, args + ["--json"]).stdout)["rows"]
    assert row["at_bound"].endswith(": left out of the fits") and f"w120 from step {FIRST_AT_CAP}" in row["at_bound"]


def test_transitions_json_says_its_intervals_are_95_percent_intervals(tmp_path):
    """The keys step_ci95_lo/hi and the text's '95% CI' are 95% intervals; --json's interval_level
    said 99.5, the resamples' central percent that makes one (a calibrated level, not a
    Bonferroni one). Now interval_level is 95, resamples_central_percent 99.5 (fixed: 95, its
    plain 2.5-97.5% range) and interval says it in words."""
    path = tmp_path / "t.csv"
    long_table(np.random.default_rng(5), capped_from=1e9).to_csv(path, index=False)
    base = ["transitions", "--stat", "t_nu", "--group", "attn_out", "--data", str(path), "--json"]
    doc = json.loads(CliRunner().invoke(main, base + ["--bootstrap", "10"]).stdout)
    assert doc["interval_level"] == 95 and doc["resamples_central_percent"] == 99.5
    assert doc["interval"].startswith("calibrated 95% interval: the central 99.5% of the run's 10 "
                                      "local-strong sieve-bootstrap resamples")
    fixed = json.loads(CliRunner().invoke(main, base + ["--bootstrap", "10", "--interval-method", "fixed"]).stdout)
    assert fixed["interval_level"] == 95 and fixed["resamples_central_percent"] == 95
    assert fixed["interval"].startswith("nominal 95% interval: the 2.5-97.5% range")
    none = json.loads(CliRunner().invoke(main, base + ["--bootstrap", "0"]).stdout)
    assert none["interval_level"] is None and none["resamples_central_percent"] is None
    assert doc["at_bound"] == []


def test_the_transitions_figure_still_marks_where_the_runs_reached_the_cap():
    """The checkpoints left out are drawn as the bound's triangles off each run's line (as the
    figures mark a capped nu), so the figure keeps the finding the fits no longer see."""
    import matplotlib.pyplot as plt

    from scalefit.scaling.trajectories.plots import plot_transitions
    traj = stat_trajectory(long_table(np.random.default_rng(6)), "t_nu", group="attn_out")
    fig = plot_transitions(traj, transition_study(traj, n_bootstrap=0).transitions, "t_nu / attn_out")
    ax = fig.axes[0]
    marks = [line for line in ax.get_lines() if line.get_linestyle() == "None" and line.get_marker() == "^"]
    at_cap = [float(s) for s in STEPS[STEPS >= CAPPED_FROM]]
    assert len(marks) == 3 and all(list(m.get_xdata()) == at_cap for m in marks)
    assert "nu at cap 10000 (Gaussian)" in ax.get_title()
    plt.close(fig)

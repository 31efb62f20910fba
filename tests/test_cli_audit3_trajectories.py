"""What a third audit found in the commands that analyse swept tables (trajectory, transitions,
warmup-study, init-study, weights plot, suite report): input that was dropped without a word, a
traceback where one line was due, and a check that passed by having nothing to compare. Each
case is one line naming what is wrong with exit status 2, or a word where the output was silent."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from scalefit.cli import main
from test_cli_audit import one_line_error  # one line naming what is wrong, exit 2, no traceback

STEPS = [0, 1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024]


def checkpoint_table(models=("run-a", "run-b"), stat="t_nu", group="mlp_in") -> pd.DataFrame:
    """A small long table as `scalefit eval --weights` writes it: per (model, step) one
    weight-statistic row (the group's pooled row) and one training-loss row."""
    rows = []
    for k, model in enumerate(models):
        for step in STEPS:
            loss = 3.0 + 5.0 / (1 + step) ** 0.5 + 0.01 * k
            rows.append({"model": model, "step": step, "tensor": "*", "group": group, "layer": -1,
                         "stat": stat, "value": 10.0 + np.log1p(step) + k})
            rows.append({"model": model, "step": step, "dataset": "train-val", "metric": "loss",
                         "value": loss})
    return pd.DataFrame(rows)


def test_trajectory_names_the_runs_and_checkpoints_the_loss_table_lacks():
    """--losses without one run's losses (or some of its checkpoints) fitted the rest and said
    nothing: the run was gone from the pooled fit and the collapse without a word."""
    from scalefit.scaling.trajectories.table import join_stat_and_loss

    table = checkpoint_table(("run-a", "run-b", "run-c"))
    weights, evals = table[table["stat"].notna()], table[table["metric"].notna()]
    losses = evals[(evals["model"] == "run-a") | ((evals["model"] == "run-b") & (evals["step"] < 100))]
    joined = join_stat_and_loss(weights, "t_nu", losses=losses, source="w.csv", losses_source="l.csv")
    assert set(joined["model"]) == {"run-a", "run-b"}
    notes = " ".join(joined.attrs["notes"])
    assert "run-c" in notes and "l.csv" in notes and "no loss" in notes
    assert "run-b: steps 128, 256, 512, 1024" in notes
    assert "run-a" not in notes
    full = join_stat_and_loss(weights, "t_nu", losses=evals, source="w.csv", losses_source="l.csv")
    assert full.attrs["notes"] == []


def shipped_suite_folder(folder, *, runs=None, table=None):
    """A copy of the shipped mini suite's run table and of its checkpoints' loss rows (the
    weight rows left out: the trajectory figures take seconds), changed by ``runs``/``table``."""
    from scalefit.data import data_path

    mini_runs = pd.read_csv(data_path("suites", "mini", "runs.csv"))
    checkpoints = pd.read_parquet(data_path("suites", "mini", "checkpoints.parquet"))
    checkpoints = checkpoints[checkpoints["metric"].notna()].drop(columns=["stat"])
    folder.mkdir(exist_ok=True)
    (runs or (lambda r: r))(mini_runs).to_csv(folder / "runs.csv", index=False)
    (table or (lambda t: t))(checkpoints).to_parquet(folder / "checkpoints.parquet")
    return folder


@pytest.mark.parametrize("table_name,change,named", [
    ("checkpoints.parquet", {"table": lambda t: t.drop(columns=["part"])}, "column 'part' is missing"),
    ("runs.csv", {"runs": lambda r: r.drop(columns=["part"])}, "column 'part' is missing"),
    ("checkpoints.parquet", {"table": lambda t: t.assign(is_train=False, dataset=t["dataset"].replace(
        {"prose-val": "prose-dev"}))}, "several datasets (code-test, prose-dev, prose-test)"),
])
def test_suite_report_names_a_table_it_cannot_read(tmp_path, table_name, change, named):
    """A suite folder whose checkpoint or run table lacks a column ('part'), or whose loss rows
    name no training set, ended in a KeyError or IndexError traceback."""
    folder = shipped_suite_folder(tmp_path / "suite", **change)
    one_line_error(["suite", "report", str(folder)], f"{folder / table_name}", named)


def test_suite_report_plots_the_training_sets_loss_whatever_its_name(tmp_path):
    """A suite that named its validation set 'pile-val' (marked is_train) got an IndexError: the
    report read 'prose-val' only."""
    import json
    folder = shipped_suite_folder(tmp_path / "suite", table=lambda t: t.assign(
        dataset=t["dataset"].replace({"prose-val": "pile-val"})))
    result = CliRunner().invoke(main, ["suite", "report", str(folder)])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["checks"]["final_long_losses"]["mini-5"] == 4.081  # 4.0813 to its se's place (se 0.081)
    assert [Path(p).name for p in doc["plots"]] == ["loss_vs_compute.png", "loss_vs_tokens.png"]


def test_suite_report_orders_sizes_only_where_there_are_two(tmp_path):
    """One long run was 'larger lower at equal tokens' at 36 of 36 checkpoints, having nothing to
    compare with; a suite without grid runs got an empty loss-vs-compute figure and matplotlib's
    'No artists with labels' warning."""
    import json
    import warnings

    from scalefit.trainer.report import write_plots

    folder = shipped_suite_folder(tmp_path / "suite", runs=lambda r: r[r["part"] != "grid"],
                                  table=lambda t: t[(t["part"] != "long") | (t["model"] == "mini-3")])
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        doc = json.loads(json.dumps(write_plots(folder)))
    order = doc["checks"]["long_runs_larger_lower_at_equal_tokens"]
    assert order["ordered"] == order["checkpoints"] == 0 and "no two sizes" in order["not_checked"]
    assert [Path(p).name for p in doc["plots"]] == ["loss_vs_tokens.png"]
    assert not (folder / "plots" / "loss_vs_compute.png").exists()


def test_weights_plot_refuses_a_group_it_does_not_have_among_ones_it_has(tmp_path):
    """--group mlp_in,attn_ot plotted mlp_in and dropped the typo without a word."""
    data = tmp_path / "w.csv"
    pd.concat([checkpoint_table(group="mlp_in"), checkpoint_table(group="attn_out")]).to_csv(data, index=False)
    one_line_error(["weights", "plot", "--data", str(data), "--group", "mlp_in,attn_ot",
                    "--out", str(tmp_path / "p")], str(data), "'attn_ot'", "did you mean 'attn_out'")
    assert not (tmp_path / "p" / "t_nu_vs_step.png").exists()


@pytest.mark.parametrize("option, value, what", [("--stat", ",", "statistic"), ("--group", " , ", "group")])
def test_weights_plot_refuses_a_list_that_names_nothing(tmp_path, option, value, what):
    """--stat , plotted the default t_nu and --group , every group, without a word."""
    data = tmp_path / "w.csv"
    checkpoint_table().to_csv(data, index=False)
    one_line_error(["weights", "plot", "--data", str(data), option, value, "--out", str(tmp_path / "p")],
                   f"{option} '{value}': names no {what}")
    assert not (tmp_path / "p").exists()


def test_weights_plot_says_which_checkpoints_it_could_not_draw(tmp_path):
    """A statistic that was nan or inf at some checkpoints (a family fit that failed) was drawn
    with those points missing, and the command said nothing of them."""
    table = checkpoint_table(("run-a",))
    table.loc[(table["stat"] == "t_nu") & table["step"].isin([4, 8]), "value"] = [np.nan, np.inf]
    data = tmp_path / "w.csv"
    table.to_csv(data, index=False)
    result = CliRunner().invoke(main, ["weights", "plot", "--data", str(data), "--out", str(tmp_path / "p")])
    assert result.exit_code == 0, result.output
    warned = [line for line in result.output.splitlines() if line.startswith("warning:")]
    assert len(warned) == 1 and "2 checkpoint(s)" in warned[0] and "run-a mlp_in: steps 4, 8" in warned[0]
    assert (tmp_path / "p" / "t_nu_vs_step.png").exists()


@pytest.mark.parametrize("rows", ["header", "evaluations"])
def test_weights_plot_of_a_table_without_weight_rows_says_so(tmp_path, rows):
    """A header-only table, or one of evaluation rows only, said "no rows with stat 't_nu'
    (known: )": an empty list of the statistics it has."""
    table = checkpoint_table()
    data = tmp_path / "w.csv"
    (table.iloc[:0] if rows == "header" else table[table["metric"].notna()]).to_csv(data, index=False)
    line = one_line_error(["weights", "plot", "--data", str(data), "--out", str(tmp_path / "p")],
                          str(data), "no weight-statistic rows", "`scalefit weights`")
    assert "known: )" not in line


def test_warmup_study_says_what_a_dash_means(tmp_path):
    """A statistic with too few transitions in the warmup family printed '-' for its slopes and
    '-,-,-,-' for its steps, with no word of why (the reason was only in --json's verdict)."""
    from scalefit.data import MINI_CHECKPOINTS, data_path

    table = pd.read_parquet(data_path(*MINI_CHECKPOINTS), filters=[("stat", "==", "std"),
                                                                   ("group", "==", "mlp_in"), ("tensor", "==", "*")])
    table = table[table["model"].str.startswith("mini-3-W")].assign(value=0.02)  # no transition
    table.loc[(table["model"] == "mini-3-W0.1") & (table["step"] == 16), "value"] = np.nan  # named in report.md
    data = tmp_path / "w.parquet"
    table.to_parquet(data)
    result = CliRunner().invoke(main, ["warmup-study", "--data", str(data), "--panel", "std/mlp_in",
                                       "--bootstrap", "0", "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert "| std | mlp_in | - | -,-,-,- |" in result.stdout
    legend = "-: not enough runs with a transition for a regression (it needs 3 with different warmup ends)"
    assert legend in result.stdout and legend in (tmp_path / "out" / "report.md").read_text()
    assert "-' in the steps: that run has no transition" in result.stdout
    assert "Left out: " in (tmp_path / "out" / "report.md").read_text()
    assert "mini-3-W0.1: steps 16" in (tmp_path / "out" / "report.md").read_text()


def test_transitions_of_a_constant_statistic_print_no_autocorrelation(tmp_path):
    """A statistic that is one number at every checkpoint printed 'error autocorrelation 0.00'
    for each run: there is no scatter whose autocorrelation could be 0."""
    table = checkpoint_table().assign(value=lambda t: np.where(t["stat"].notna(), 7.5, t["value"]))
    data = tmp_path / "w.csv"
    table.to_csv(data, index=False)
    result = CliRunner().invoke(main, ["transitions", "--data", str(data), "--stat", "t_nu",
                                       "--bootstrap", "0"])
    assert result.exit_code == 0, result.output
    runs = [line for line in result.stdout.splitlines() if line.startswith("  run-")]
    assert len(runs) == 2 and all("constant (7.5 at every checkpoint): no transition" in r for r in runs)
    assert "autocorrelation" not in result.stdout


def init_table(tmp_path, change=None):
    """A small init-study table from the shipped one: mini-3's pythia and empirical runs with
    warmup (3 seeds each), their loss rows only, as CSV; ``change`` edits it first."""
    from scalefit.data import INIT_STUDY_CHECKPOINTS, data_path

    table = pd.read_parquet(data_path(*INIT_STUDY_CHECKPOINTS), filters=[("metric", "==", "loss")])
    table = table[table["model"].str.match(r"mini-3-init-(pythia|empirical)-s\d$")]
    path = tmp_path / "init.csv"
    (change or (lambda t: t))(table).to_csv(path, index=False)
    return path


def test_init_study_refuses_a_loss_at_or_below_zero(tmp_path):
    """Losses of -1 (a sign slip) ran: 'final loss -1.000 ... -> faster', with scipy's
    'catastrophic cancellation' warning on the terminal."""
    def negative(t):
        rows = t["model"].str.contains("empirical") & (t["step"] == 1120)
        return t.assign(value=np.where(rows, -1.0, t["value"]))
    path = init_table(tmp_path, negative)
    one_line_error(["init-study", "--data", str(path)], str(path), "'-1.0' is not a loss",
                   "mini-3-init-empirical")


def test_init_study_names_a_run_without_losses(tmp_path):
    """A run whose loss rows were missing (its evaluation not merged) left the study with 'Init
    study of 5 runs' and no word of which one, its seed gone from every interval."""
    weight_row = pd.DataFrame([{"model": "mini-3-init-empirical-s3", "step": 0, "tensor": "*",
                                "group": "mlp_in", "stat": "excess_kurtosis", "value": 0.1,
                                "init": "empirical", "init_seed": 3, "warmup_steps": 11, "size": "mini-3"}])
    path = init_table(tmp_path, lambda t: pd.concat([t[t["model"] != "mini-3-init-empirical-s3"], weight_row]))
    result = CliRunner().invoke(main, ["init-study", "--data", str(path)])
    assert result.exit_code == 0, result.output
    warned = [line for line in result.output.splitlines() if line.startswith("warning:")]
    assert len(warned) == 1 and "mini-3-init-empirical-s3" in warned[0] and "no prose-val loss" in warned[0]


def test_init_study_refuses_thresholds_from_a_control_whose_loss_does_not_fall(tmp_path):
    """Pythia runs whose loss stayed at 5.0 set every threshold at 5.0, their starting loss: 'steps
    to loss 5.000, 50% of pythia's drop 0 [0, 0]', each run 'reaching' it at step 0."""
    path = init_table(tmp_path, lambda t: t.assign(value=np.where(t["model"].str.contains("pythia"), 5.0,
                                                                    t["value"])))
    one_line_error(["init-study", "--data", str(path)], "mini-3", "pythia", "does not fall",
                   "--thresholds")


def test_weights_plot_offers_the_nearest_tensor(tmp_path):
    """--tensor with a typo said "no tensor 'x' with stat 't_nu'" and named none it has."""
    table = checkpoint_table().assign(tensor=lambda t: np.where(t["stat"].notna(), "gpt_neox.layers.0.mlp.w", None))
    data = tmp_path / "w.csv"
    table.to_csv(data, index=False)
    one_line_error(["weights", "plot", "--data", str(data), "--tensor", "gpt_neox.layers.0.mlp.v",
                    "--out", str(tmp_path / "p")], "did you mean 'gpt_neox.layers.0.mlp.w'?")


def test_suite_precision_refuses_a_pair_given_both_ways():
    """--pair A:B --pair B:A scored both and printed the one difference twice, once per sign."""
    from scalefit.errors import InputError
    from scalefit.trainer.precision import checked_pairs

    assert checked_pairs([("a", "b"), ("c", "a")]) == [("a", "b"), ("c", "a")]
    with pytest.raises(InputError, match=r"--pair 'b:a' is 'a:b' the other way round"):
        checked_pairs([("a", "b"), ("b", "a")])


def test_transition_and_warmup_reports_name_the_checkpoints_left_out(tmp_path):
    """A checkpoint without a finite value was named on the terminal ('note: ...') but not in the
    report.md that --out wrote, which read as if every checkpoint had been fitted."""
    table = checkpoint_table()
    table.loc[(table["stat"] == "t_nu") & (table["model"] == "run-a") & (table["step"] == 64), "value"] = np.nan
    data = tmp_path / "w.csv"
    table.to_csv(data, index=False)
    result = CliRunner().invoke(main, ["transitions", "--data", str(data), "--stat", "t_nu",
                                       "--bootstrap", "0", "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert "run-a: steps 64" in result.stderr
    assert "run-a: steps 64" in (tmp_path / "out" / "report.md").read_text()


def test_a_groups_pooled_row_is_labelled_by_its_group():
    """--group attn_out --tensor '*' (the group's pooled row) titled the report 't_nu / *'."""
    from scalefit.scaling.trajectories.table import stat_label

    assert stat_label("t_nu", "attn_out", "*") == "t_nu / attn_out (pooled row)"
    assert stat_label("t_nu", "attn_out", "l.0.w", 0) == "t_nu / l.0.w / layer 0"
    assert stat_label("t_nu", "attn_out") == "t_nu / attn_out"


def test_suite_checks_leave_out_a_run_without_a_loss():
    """A grid run whose loss is empty in runs.csv (not measured) made 'loss falls with tokens' false
    for its size and 'falls with size' false for its budget: a failed check, from a missing number."""
    from scalefit.data import data_path
    from scalefit.trainer.report import suite_checks

    runs = pd.read_csv(data_path("suites", "mini", "runs.csv"))
    table = pd.read_parquet(data_path("suites", "mini", "checkpoints.parquet"), filters=[("metric", "==", "loss")])
    gone = (runs["part"] == "grid") & (runs["model"] == "mini-2") & (runs["tokens"] == 532480)
    checks = suite_checks(runs.assign(loss=runs["loss"].mask(gone)), table)
    assert all(checks["loss_falls_with_tokens_per_size"].values())
    assert all(checks["loss_falls_with_size_per_budget"].values())
    assert "grid/mini-2-D532480" in checks["left_out"] and "no loss" in checks["left_out"]
    assert "left_out" not in suite_checks(runs, table)


def test_warmup_regression_plot_claims_no_interval_it_does_not_have():
    """With --bootstrap 0 the transitions have no interval, yet the figure's legend read
    'transition (95% CI)'; the fitted slope's own interval was not on the figure."""
    from scalefit.scaling.trajectories.plots import plot_warmup_regression
    from scalefit.scaling.trajectories.transitions import warmup_regression

    picked = pd.DataFrame({"model": list("abcd"), "warmup_end": [3.0, 11, 45, 112],
                           "step": [41.0, 49, 60, 77], "step_ci95_lo": np.nan, "step_ci95_hi": np.nan})
    fit = warmup_regression(picked)
    legend = [t.get_text() for t in plot_warmup_regression(picked, fit).axes[0].get_legend().get_texts()]
    lo, hi = fit.params["slope"].ci95
    assert "transition (no interval: --bootstrap 0)" in legend
    assert f"fit: slope {fit.value('slope'):.2f} [95% CI {lo:.2f}, {hi:.2f}]" in legend


def test_stat_vs_loss_plot_prints_no_nan_collapse_ratio():
    """With one run (or a constant statistic) the figure's legend read 'pooled fit (collapse ratio
    nan)'; the text said why there is none."""
    from scalefit.scaling.trajectories.trajectory import trajectory_report

    from scalefit.scaling.trajectories.plots import plot_stat_vs_loss

    report = trajectory_report(checkpoint_table(("run-a",)), "t_nu")
    legend = [t.get_text() for t in plot_stat_vs_loss(report.joined, report.collapse, report.stat)
              .axes[0].get_legend().get_texts()]
    assert not any("nan" in t for t in legend), legend
    assert "pooled fit (no collapse ratio: fewer than two runs with a per-model fit)" in legend


def test_weights_report_skips_a_statistic_with_no_finite_value(tmp_path):
    """A sweep whose alpha (a default plot) came out nan at every checkpoint ended, after measuring
    everything, in "error: weights table: stat 'alpha' has no finite value to plot": the report
    refused its own table. The plot is left out and report.md says why."""
    from scalefit.weightstats.report import write_weights_report

    table = checkpoint_table(("m",))
    table = table[table["stat"].notna()]
    table = pd.concat([table, table.assign(stat="alpha", value=np.nan)])
    files = [p.name for p in write_weights_report(table, tmp_path, stats=["t_nu", "alpha"])]
    assert "t_nu_vs_step.png" in files and "alpha_vs_step.png" not in files
    assert "No finite value of 'alpha'" in (tmp_path / "report.md").read_text()


def test_suite_report_refuses_two_losses_for_one_checkpoint(tmp_path):
    """A checkpoint table holding one checkpoint's loss twice with different values (two sweeps
    merged) was plotted with both points and checked on their mean, without a word."""
    def twice(t):
        row = t[(t["model"] == "mini-3") & (t["step"] == 480) & (t["metric"] == "loss")
                & (t["dataset"] == "prose-val")]
        return pd.concat([t, row.assign(value=row["value"] + 0.5)])
    folder = shipped_suite_folder(tmp_path / "suite", table=twice)
    one_line_error(["suite", "report", str(folder)], "checkpoints.parquet", "model=mini-3", "step=480",
                   "different values")

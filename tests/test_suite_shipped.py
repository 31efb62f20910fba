"""The mini-suite tables that ship in data/: the shape the commands read, and what a suite must show."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from scalefit.data import data_path
from scalefit.scaling.interval_text import interval_text, value_at_interval

RUNS = data_path("suites", "mini", "runs.csv")
CHECKPOINTS = data_path("suites", "mini", "checkpoints.parquet")



def test_the_tables_ship_with_the_package():
    """Found through scalefit.data, so an installed (not editable) package has them too."""
    for name in ("runs.csv", "checkpoints.parquet", "finals.parquet", "provenance.json",
                 "warmup_transitions.csv"):
        assert data_path("suites", "mini", name).is_file(), name


@pytest.fixture(scope="module")
def runs():
    return pd.read_csv(RUNS)


@pytest.fixture(scope="module")
def table():
    return pd.read_parquet(CHECKPOINTS)


def test_grid_spans_sizes_and_budgets(runs):
    grid = runs[runs["part"] == "grid"]
    assert grid["model"].nunique() >= 5 and grid["run"].is_unique
    assert grid["params_nonembed"].max() / grid["params_nonembed"].min() >= 16
    assert grid["tokens"].max() / grid["tokens"].min() >= 10
    assert grid.groupby("model")["tokens"].nunique().min() >= 3
    assert (runs.loc[runs["part"] == "code", "distribution"] == "code").all()


def test_loss_falls_with_data_and_with_size(runs):
    grid = runs[runs["part"] == "grid"]
    for _, g in grid.groupby("model"):
        assert g.sort_values("tokens")["loss"].is_monotonic_decreasing
    longest = grid[grid["tokens"] == grid["tokens"].max()].sort_values("params")
    assert longest["loss"].is_monotonic_decreasing


def test_checkpoint_table_is_the_shape_trajectories_read(table):
    assert CHECKPOINTS.stat().st_size < 5e6 and table["value"].dtype == np.float32
    for column in ("model", "step", "tokens", "lr", "warmup_steps", "total_steps", "params", "params_nonembed",
                   "dataset", "metric", "value", "n_tokens", "tensor", "group", "layer", "stat"):
        assert column in table.columns
    evals = table[table["metric"].notna()]
    assert not evals.duplicated(["model", "step", "dataset", "metric"]).any()
    assert {"prose-val", "prose-test", "code-test"} <= set(evals["dataset"])
    assert table.groupby("model")["run"].nunique().eq(1).all()  # one run per model name


def test_larger_models_are_lower_at_equal_tokens(table):
    loss = table[(table["part"] == "long") & (table["dataset"] == "prose-val") & (table["metric"] == "loss")]
    order = loss.drop_duplicates("model").sort_values("params")["model"].tolist()
    wide = loss.pivot_table(index="step", columns="model", values="value")[order]
    late = wide[wide.index >= wide.index.max() // 4]
    assert (np.diff(late.to_numpy(), axis=1) < 0).all()


def test_warmup_variants_differ_only_in_warmup(table):
    warm = table[table["part"] == "warmup"].drop_duplicates("model").set_index("model")
    assert sorted(warm["warmup_steps"]) == [3, 11, 45, 112]
    assert warm["total_steps"].nunique() == 1 and warm["size"].nunique() == 1
    steps = table[table["part"] == "warmup"].groupby("model")["step"].apply(lambda s: tuple(sorted(set(s))))
    assert steps.nunique() == 1  # the same checkpoints in every variant


def test_lr_column_is_each_runs_schedule(table):
    """The lr of every checkpoint is its run's schedule at that step (scalefit.schedule, GPT-NeoX's
    convention): cosine for the grid, long and warmup runs, constant and WSD for the wsd part."""
    from scalefit.trainer.sweep import checkpoint_lr, run_model_id
    from scalefit.trainer.spec import load_spec

    spec = load_spec(data_path("suites", "mini.toml"), vocab_size=4096)
    runs = {run_model_id(r): r for r in spec.runs}
    per_step = table.drop_duplicates(["model", "step"])
    assert set(per_step["model"]) <= set(runs)
    for model, rows in per_step.groupby("model"):
        expected = [checkpoint_lr(runs[model], spec.recipe, int(s)) for s in rows["step"]]
        np.testing.assert_allclose(rows["lr"], expected, rtol=1e-6, err_msg=model)  # float32 column


@pytest.fixture(scope="module")
def finals():
    return pd.read_parquet(data_path("suites", "mini", "finals.parquet"))


def test_one_eval_set_final_losses_agree_everywhere(runs, table, finals):
    """runs.csv (the trainer's final losses) and finals/checkpoints.parquet (the sweep) score the
    same windows of each split with one function: every run's final loss is one number."""
    loss = finals[(finals["metric"] == "loss")]
    own = {"prose": "prose-val", "code": None}
    for r in runs.itertuples():
        rows = loss[loss["run"] == r.run].set_index("dataset")["value"]
        if own[r.distribution]:
            assert rows[own[r.distribution]] == pytest.approx(r.loss, abs=2e-5), r.run
        else:
            assert rows["code-test"] == pytest.approx(r.loss_code_test, abs=2e-5), r.run
        assert rows["prose-test"] == pytest.approx(r.loss_prose_test, abs=2e-5), r.run
    # the long runs' last checkpoint is the grid run's final: the same value in both tables
    last = table[(table["part"] == "long") & (table["metric"] == "loss")]
    last = last[last["step"] == last["total_steps"]].set_index(["model", "dataset"])["value"]
    fin = loss.set_index(["model", "dataset"])["value"]
    assert len(last) and np.allclose(last, fin.loc[last.index])


def test_every_loss_carries_its_standard_error(runs, table):
    """SE of a checkpoint's mean loss by a bootstrap over the split's documents; n_docs beside it."""
    evals = table[table["metric"] == "loss"]
    assert evals["se"].notna().all() and (evals["se"] > 0).all()
    assert (evals["n_tokens"] == 32768).all() and (evals["n_docs"] >= 20).all()
    for column in ("loss_se", "loss_prose_test_se", "loss_code_test_se", "eval_tokens", "eval_docs"):
        assert runs[column].notna().all(), column


def test_long_runs_have_checkpoints_at_every_grid_budget(runs, table):
    """Kaplan-style points (the long run's checkpoints) exist at every length a grid run trained to."""
    lengths = set(runs.loc[runs["part"] == "grid", "steps"])
    long = table[table["part"] == "long"]
    assert long["model"].nunique() == 5
    for model, rows in long.groupby("model"):
        steps = set(rows["step"])
        assert lengths <= steps, model
        for n in lengths:  # dense near each
            assert len([s for s in steps if 0.8 * n <= s <= 1.2 * n]) >= 5, (model, n)


def test_wsd_cooldowns_branch_from_one_constant_run(runs, table):
    """Hagele et al.'s recipe for three sizes: one constant-LR run, a 20% linear cooldown
    branched from it at 0.8 T for every grid length T, each cooldown ending below the constant run."""
    wsd = runs[runs["part"] == "wsd"]
    branches = wsd[wsd["schedule"] == "wsd"]
    assert wsd["model"].nunique() >= 3
    assert set(branches["steps"]) == set(runs.loc[runs["part"] == "grid", "steps"])
    assert (branches["branch_step"] == (0.8 * branches["steps"]).round()).all()
    assert (branches["cooldown_fraction"] == 0.2).all()
    const = table[(table["schedule"] == "constant") & (table["dataset"] == "prose-val") & (table["metric"] == "loss")]
    for b in branches.itertuples():
        at_branch = const[(const["size"] == b.model) & (const["step"] == b.branch_step)]["value"]
        assert len(at_branch) == 1 and b.loss < float(at_branch.iloc[0]), b.run


def test_training_time_is_measured_and_under_two_hours():
    import json

    prov = json.loads(data_path("suites", "mini", "provenance.json").read_text())
    assert prov["wall_time"]["all"]["runs"] == len(pd.read_csv(RUNS))
    assert prov["wall_time"]["all"]["busy_wall_s"] < 2 * 3600


def test_init_study_is_on_the_same_eval_sets():
    """The init study (data/suites/mini/init): its rescored runs.csv equals its swept finals, and
    every loss row carries the SE of the suite's eval sets."""
    runs = pd.read_csv(data_path("suites", "mini", "init", "runs.csv"))
    finals = pd.read_parquet(data_path("suites", "mini", "init", "finals.parquet"))
    loss = finals[(finals["metric"] == "loss") & (finals["dataset"] == "prose-val")].set_index("run")["value"]
    own = runs[runs["distribution"] == "prose"].set_index("run")["loss"]
    assert len(loss) >= 30 and set(loss.index) <= set(own.index)
    assert np.allclose(own[loss.index], loss, atol=2e-5)
    assert runs["loss_se"].notna().all() and (runs["eval_tokens"] == 32768).all()
    checkpoints = pd.read_parquet(data_path("suites", "mini", "init", "checkpoints.parquet"),
                                  columns=["metric", "se", "n_tokens"])
    rows = checkpoints[checkpoints["metric"] == "loss"]
    assert rows["se"].notna().all() and (rows["n_tokens"] == 32768).all()


def test_shipped_precision_table_agrees_with_finals_and_the_documents_quoted():
    """precision.csv: each final loss is the one in finals.parquet, docs_needed extrapolates the
    larger SE of the pair as 1/sqrt(documents), and the range README and REPORT quote is the table's."""
    import math
    from pathlib import Path

    precision = pd.read_csv(data_path("suites", "mini", "precision.csv"))
    finals = pd.read_parquet(data_path("suites", "mini", "finals.parquet"))
    val = finals[(finals["dataset"] == "prose-val") & (finals["metric"] == "loss")].set_index("model")["value"]
    assert np.allclose(precision["loss_a"], val.loc[precision["a"]].to_numpy(), atol=2e-5)
    target = precision["target_se"].iloc[0]
    expected = [math.ceil(n * (max(a, b) / target) ** 2)
                for n, a, b in zip(precision["n_docs"], precision["se_a"], precision["se_b"])]
    # the CSV rounds SEs to 6 digits: the count may move by one
    assert np.abs(precision["docs_needed"].to_numpy() - np.array(expected)).max() <= 1
    quoted = f"{precision['docs_needed'].min():,}-{precision['docs_needed'].max():,} documents"
    root = Path(__file__).resolve().parents[1]
    readme = " ".join((root / "README.md").read_text().split())
    report = " ".join(data_path("suites", "mini", "REPORT.md").read_text().split())
    assert quoted in readme and quoted in report


def test_suite_report_on_a_folder_without_the_tables_is_one_line(tmp_path):
    from click.testing import CliRunner

    from scalefit.cli import main

    result = CliRunner().invoke(main, ["suite", "report", str(tmp_path)])
    lines = result.stderr.strip().splitlines()
    assert result.exit_code == 2 and len(lines) == 1
    assert "no runs.csv or checkpoints.parquet" in lines[0] and str(tmp_path) in lines[0]


def test_readme_and_report_warmup_tables_are_the_shipped_csv():
    """The warmup table README and REPORT show is warmup_transitions.csv, as `scalefit
    warmup-study` wrote it: every onset slope with its interval and every run's steps."""
    from pathlib import Path

    from scalefit.scaling.trajectories.warmup_study import markdown

    study = pd.read_csv(data_path("suites", "mini", "warmup_transitions.csv"))
    report = data_path("suites", "mini", "REPORT.md").read_text()
    assert markdown(study) in report
    # every slope's interval weighs the runs by their transitions' intervals, and says so
    assert set(study.loc[study["first_slope"].notna(), "first_interval"]) == {"Hartung-Knapp"}
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    for _, row in study.iterrows():
        steps = row["first_steps"].replace(",", ", ")
        slope = ("-" if np.isnan(row["first_slope"]) else
                 f"{value_at_interval(row['first_slope'], row['first_lo'], row['first_hi'])} "
                 f"{interval_text(row['first_lo'], row['first_hi'], row['first_slope'])}")
        assert f"| {row['group']} | {steps} | {slope} |" in readme, (row["stat"], row["group"])
        # a reading that rests on weak kinks (half or more of the runs) says it is tentative
        verdict = row["first_verdict"]
        if "(slope" in verdict and not verdict.startswith("undetermined"):
            weak = int(row["first_weak_kinks"])
            runs = sum(step != "-" for step in row["first_steps"].split(","))
            assert ("tentative" in verdict) == (2 * weak >= runs), (row["stat"], row["group"])


def test_suite_report_plots_only_the_parts_the_suite_has(tmp_path):
    """A suite trained without the warmup part got an empty 'mini-3 warmup variants' figure
    (nine blank panels) listed among its plots, and matplotlib's 'No artists with labels' warning."""
    import shutil
    import warnings
    from pathlib import Path

    from scalefit.trainer.report import write_plots

    shutil.copy(data_path("suites", "mini", "runs.csv"), tmp_path / "runs.csv")
    table = pd.read_parquet(data_path("suites", "mini", "checkpoints.parquet"))
    keep = (table["part"] == "long") & (table["model"].isin(["mini-1", "mini-2"]))
    table[keep].to_parquet(tmp_path / "checkpoints.parquet")
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        plots = [Path(p).name for p in write_plots(tmp_path)["plots"]]
    assert plots == ["loss_vs_compute.png", "loss_vs_tokens.png", "trajectories_long.png"]
    assert not (tmp_path / "plots" / "trajectories_warmup.png").exists()


def test_the_size_order_check_starts_at_the_suites_shortest_grid_run():
    """The check 'larger long runs are lower at equal tokens' read checkpoints from step 240, the
    mini spec's shortest grid run, for every spec ('0 of 0' for a suite whose steps differ)."""
    from scalefit.tables import read_table
    from scalefit.trainer.report import suite_checks

    runs = read_table(data_path("suites", "mini", "runs.csv"))
    table = read_table(data_path("suites", "mini", "checkpoints.parquet"))
    shipped = suite_checks(runs, table)["long_runs_larger_lower_at_equal_tokens"]
    assert shipped["from_step"] == 240 and 0 < shipped["ordered"] <= shipped["checkpoints"]
    longer = runs.assign(steps=runs["steps"] * 4)  # a spec whose grid starts at 960 steps
    late = suite_checks(longer, table)["long_runs_larger_lower_at_equal_tokens"]
    assert late["from_step"] == 960 and 0 < late["checkpoints"] < shipped["checkpoints"]

"""The mini-suite tables that ship in data/: the shape the commands read, and what a suite must show."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from scalefit.data import data_path

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


def test_shipped_lr_is_the_schedule_with_the_documented_offset(table):
    """The shipped runs were trained before issue 13: the update that made step s ran at the
    schedule's LR at s during warmup and at s - 1 after it, and the lr column records that
    (scalefit.trainer.sweep.checkpoint_lr says so); a new sweep writes the schedule at s."""
    from scalefit.schedule import LRSchedule, lr_at_step
    from scalefit.trainer.sweep import checkpoint_lr, run_model_id
    from scalefit.trainer.train import load_spec

    spec = load_spec(data_path("suites", "mini.toml"), vocab_size=4096)
    runs = {run_model_id(r): r for r in spec.runs}
    per_step = table.drop_duplicates(["model", "step"])
    for model, rows in per_step.groupby("model"):
        first = rows.iloc[0]
        schedule = LRSchedule(peak=float(first["lr_peak"]), warmup_steps=int(first["warmup_steps"]),
                              decay_steps=int(first["total_steps"]), final_ratio=0.1)
        step = rows["step"].to_numpy()
        in_warmup = step <= schedule.warmup_steps
        shipped = np.where(in_warmup, lr_at_step(schedule, step), lr_at_step(schedule, np.maximum(step - 1, 0)))
        np.testing.assert_allclose(rows["lr"], shipped, rtol=1e-6, err_msg=model)
        new = [checkpoint_lr(runs[model], spec.recipe, int(s)) for s in step]
        np.testing.assert_allclose(new, lr_at_step(schedule, step), rtol=1e-6, err_msg=model)  # float32 peak
        np.testing.assert_allclose(rows["lr"], new, rtol=5e-3, err_msg=model)  # one step apart at most

"""What a third audit found in the commands that analyse swept tables (trajectory, transitions,
warmup-study, init-study, weights plot, suite report): input that was dropped without a word, a
traceback where one line was due, and a check that passed by having nothing to compare. Each
case is one line naming what is wrong with exit status 2, or a word where the output was silent."""
from __future__ import annotations

import numpy as np
import pandas as pd

from test_cli_audit import one_line_error  # noqa: F401  (one line naming what is wrong, exit 2, no traceback)

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

"""The note 'earlier checkpoints of the same model are in the fit' counts trained checkpoints
only: calibrate and predict downstream keep every model's step-0 checkpoint (no compute) in each
fit, and counting it made every model 'seen' (16 of 16 predictions where 11 had training seen)."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from test_s41_fitting_audit import checkpoint_table, invoke

ARGS = ["--x", "lambada_openai:ppl", "--y", "piqa:acc"]


@pytest.fixture(scope="module")
def with_step0(tmp_path_factory):
    """The audit's checkpoint table with an untrained step-0 checkpoint of every model."""
    table = checkpoint_table()
    zero = table.drop_duplicates(["model", "task"]).assign(step=0, tokens=0.0, flops=0.0)
    zero["value"] = np.where(zero["metric"] == "ppl", np.exp(10.5), 0.3)  # ln(vocab), chance
    table = pd.concat([zero, table], ignore_index=True)
    path = tmp_path_factory.mktemp("step0") / "evals.csv"
    table.to_csv(path, index=False)
    return path, table


def trained_before(table: pd.DataFrame, model, below: float) -> bool:
    rows = table[(table["model"] == model) & (table["flops"] > 0)]
    return bool((rows["flops"] < below).any())


def note(n_in_fit: int, n: int, what: str) -> str:
    return f"earlier checkpoints of the same model are in the fit for {n_in_fit} of the {n} {what}"


def test_calibrate_counts_models_with_a_trained_checkpoint_below_the_cut(with_step0, tmp_path):
    path, table = with_step0
    args = ["calibrate", "sigmoid", "--data", path, *ARGS, "--bootstrap", "4", "--cuts", "2"]
    predictions = pd.DataFrame(json.loads(invoke(args + ["--json"]).stdout)["predictions"])
    in_fit = sum(trained_before(table, m, cut)
                 for m, cut in zip(predictions["model"], predictions["cut_flops"]))
    assert 0 < in_fit < len(predictions)  # some held-out model has only its step 0 fitted
    text = invoke(args).stdout
    assert text.count(note(in_fit, len(predictions), "predictions")) == 1, text


def test_predict_downstream_counts_models_with_a_trained_checkpoint_in_the_fit(with_step0):
    path, table = with_step0
    args = ["predict", "downstream", "--data", path, *ARGS, "--relation", "sigmoid",
            "--holdout", "0.5", "--bootstrap", "4"]
    h = json.loads(invoke(args + ["--json"]).stdout)["holdout"]
    held = pd.DataFrame(h["points"])
    keys = set(zip(held["model"], held["step"]))
    fitted = table[[(m, s) not in keys for m, s in zip(table["model"], table["step"])]]
    seen = set(fitted.loc[fitted["flops"] > 0, "model"])
    in_fit = int(held["model"].isin(seen).sum())
    assert 0 < in_fit < len(held)
    assert h["same_models"].startswith(note(in_fit, len(held), "held-out checkpoints"))

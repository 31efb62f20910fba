"""Every relation predicts y from a loss x: `scalefit predict downstream --relation sigmoid` and
`--relation exponential-error` fitted an accuracy named as x without a word (exit 0). The one check
the shifted power law used (``downstream.refuse_scores``) now refuses it for every relation, while
an accuracy as y is what the accuracy laws are for."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from scalefit.cli import main
from scalefit.scaling.relations import forms as relation_forms


def invoke(args, code=0):
    result = CliRunner().invoke(main, [str(a) for a in args])
    assert result.exit_code == code, result.output
    return result


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Twelve runs: a loss, two accuracies that follow it by sigmoids, and an error rate."""
    loss = np.linspace(2.2, 4.0, 12)
    piqa = relation_forms.sigmoid_accuracy(loss, 0.5, -2.0, 3.5, 0.3)
    arc = relation_forms.sigmoid_accuracy(loss, 0.6, -1.5, 3.0, 0.25)
    path = tmp_path_factory.mktemp("runs") / "runs.csv"
    pd.DataFrame({"loss": loss, "piqa_acc": piqa, "arc_easy_acc_norm": arc,
                  "arc_easy_error": 1 - arc}).to_csv(path, index=False)
    return path


@pytest.mark.parametrize("relation,y,metric", [("sigmoid", "arc_easy_acc_norm", "acc"),
                                               ("exponential-error", "arc_easy_error", "acc"),
                                               ("sigmoid", "piqa_acc", "acc_norm")])
def test_an_accuracy_as_x_is_refused_in_one_line(runs, relation, y, metric):
    x = "piqa_acc" if metric == "acc" else "arc_easy_acc_norm"
    result = invoke(["predict", "downstream", "--data", runs, "--x", x, "--y", y,
                     "--relation", relation, "--bootstrap", "0"], code=2)
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    assert "Traceback" not in result.output
    said = lines[0]
    assert f"x '{x}'" in said and f"('{metric}': higher is better)" in said
    assert "x must be a loss" in said and "train loss" in said and "a task's loss" in said
    assert relation in said and "shifted power law" not in said


@pytest.mark.parametrize("relation,y,truth", [
    ("sigmoid", "piqa_acc", lambda x: relation_forms.sigmoid_accuracy(x, 0.5, -2.0, 3.5, 0.3)),
    ("exponential-error", "arc_easy_error", None)])
def test_an_accuracy_or_error_as_y_still_fits(runs, relation, y, truth):
    """The refusal reads x alone for the accuracy laws: an accuracy y fits as before."""
    doc = json.loads(invoke(["predict", "downstream", "--data", runs, "--x", "loss", "--y", y,
                             "--relation", relation, "--bootstrap", "0", "--at-x", "3.0",
                             "--json"]).stdout)
    assert doc["relation"] == relation and np.isfinite(doc["prediction"]["value"])
    if truth is not None:
        assert doc["prediction"]["value"] == pytest.approx(float(truth(3.0)), abs=1e-3)

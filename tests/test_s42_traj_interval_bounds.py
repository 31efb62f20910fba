"""`scalefit trajectory` says when a profile interval of E or p reaches the parameter's bound, as a
law's bootstrap interval does (fitresult.interval_bound_warnings): E's interval [0, 0.95] of a fit
whose E is 0.04 was printed in --json with no word that the data do not bound E from below."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from scalefit.cli import main
from scalefit.scaling.fitresult import IntervalAtBound, reaches_bound
from scalefit.scaling.interval_text import interval_text

LOSS = np.linspace(6, 3, 30)


def checkpoint_table(E: float, p: float, noise: float) -> pd.DataFrame:
    """Two runs whose t_nu is 0.1 + 5 (L - E)^p plus noise, with their losses, as rows."""
    rows = []
    for seed, model in enumerate(("a", "b")):
        rng = np.random.default_rng(seed)
        value = 0.1 + 5 * (LOSS - E) ** p + rng.normal(0, noise, LOSS.size)
        for i, (loss, v) in enumerate(zip(LOSS, value)):
            common = {"model": model, "step": 100 * i}
            rows.append({**common, "tensor": "*", "group": "mlp_in", "layer": -1, "stat": "t_nu", "value": v})
            rows.append({**common, "dataset": "val", "metric": "loss", "is_train": True, "value": loss})
    return pd.DataFrame(rows)


def run(path, *extra):
    result = CliRunner().invoke(main, ["trajectory", "--stat", "t_nu", "--data", str(path), *extra])
    assert result.exit_code == 0, result.output
    return result.output


def test_a_profile_interval_that_reaches_E_s_floor_is_said_in_the_text_and_the_json(tmp_path):
    """E = 0.3 under noise: the pooled fit's E is above 0, its profile interval runs down to 0."""
    path = tmp_path / "t.parquet"
    checkpoint_table(0.3, -2.0, 3e-3).to_parquet(path)
    out = json.loads(run(path, "--json"))
    pooled = out["pooled_fit"]["params"]["E"]
    assert pooled["value"] > 0.01 and pooled["ci95"][0] == 0.0
    # --json holds the words alone (a JSON string has no kind: reaches_bound reads the fit's own)
    said = [w for w in out["warnings"]["pooled"] if w.startswith("parameter E: its 95% interval")]
    assert said == [f"parameter E: its 95% interval {interval_text(*pooled['ci95'])} reaches the lower bound 0: "
                    "the data do not bound E from below"]
    text = run(path)
    assert "95% profile intervals (--json) that reach a bound" in text
    assert f"- pooled: {said[0]}" in text.splitlines()


def test_a_profile_interval_inside_its_bounds_adds_nothing():
    """E = 2 with little noise: E and p are bounded by the data on both sides; no such warning."""
    from scalefit.scaling.trajectories.trajectory import trajectory_report

    report = trajectory_report(checkpoint_table(2.0, -2.0, 1e-3), "t_nu")
    fits = [report.collapse["pooled"], *report.collapse["per_model"].values()]
    assert all(0.0 < f.params["E"].ci95[0] for f in fits)
    assert not any(reaches_bound(w) for f in fits for w in f.warnings)
    assert "reach a bound" not in report.markdown()
    assert not any(reaches_bound(w) for ws in report.to_dict()["warnings"].values() for w in ws)


CUT = ("parameter A: its 95% interval [1e-12, 3.2] reaches the lower bound 1e-12: the data do not "
       "bound A from below")


@pytest.mark.parametrize("warning, reaches", [
    (IntervalAtBound(CUT, "A", "lower", 1e-12), True),
    (CUT, False),  # the same words without the kind (a JSON round trip's): s43 reads the kind
    ("parameter E is at its lower bound", False),
    ("too few points: 4 pairs for 2 parameters", False),
])
def test_reaches_bound_knows_the_interval_warning(warning, reaches):
    assert reaches_bound(warning) is reaches

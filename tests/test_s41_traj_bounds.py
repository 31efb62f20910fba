"""Audit A1, finding 6: the `scalefit trajectory` table marks a parameter that ended on its bound
('-5 (bound)', '0 (bound)'), so a p of -4.67 printed '-5' is told apart from one at the bound -5,
and the table agrees with the sentence that counts the fits at a bound."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest


@pytest.fixture(scope="module")
def bounded_markdown():
    """Three runs: one steep law (p = -8: the fit ends at the bound -5), one mild (p = -2), one whose
    floor lies below 0 (E = -2: the fit's E ends at its bound 0)."""
    from scalefit.scaling.trajectories.collapse import collapse_report
    from scalefit.scaling.trajectories.trajectory import trajectory_markdown

    loss = np.linspace(6, 3, 30)
    runs = [pd.DataFrame({"model": model, "step": np.arange(30) * 100, "loss": loss,
                          "value": 0.1 + 5 * (loss - E) ** p + np.random.default_rng(seed).normal(0, 1e-3, loss.size)})
            for seed, (model, E, p) in enumerate((("steep", 2.0, -8.0), ("mild", 2.0, -2.0), ("floor", -2.0, -3.0)))]
    collapse = collapse_report(pd.concat(runs, ignore_index=True))
    corr = {"partial_pearson": np.nan, "raw_pearson": np.nan, "controls": "nothing"}
    return collapse, trajectory_markdown("x / g", collapse, corr)


def test_the_table_marks_the_rows_at_a_bound_as_the_sentence_counts_them(bounded_markdown):
    """mini-4's p of -4.67 printed '-5' (the digits its interval supports) beside rows at the bound
    -5, while the sentence counted the bound rows: the table could not tell which they were."""
    collapse, text = bounded_markdown
    rows = {line.split(" | ")[0][2:]: line.split(" | ") for line in text.splitlines()
            if line.startswith("| ") and not line.startswith("| model")}
    at_p = [m for m, f in collapse["per_model"].items() if any("parameter p is at its" in w for w in f.warnings)]
    assert at_p == ["steep"]
    assert rows["steep"][5].endswith(" (bound)") and not rows["mild"][5].endswith("(bound)")
    assert rows["floor"][4] == "0 (bound)" and rows["mild"][4] != "0 (bound)"
    marked = sum(cells[5].endswith(" (bound)") for cells in rows.values())
    pooled = "(p at its bound)" in text.split("\n| model")[0]
    assert f"p ends at a bound (-5 or +5) in {marked + pooled} of 4 fits" in text
    assert f"the {marked} row{'s' if marked != 1 else ''} whose p is marked (bound)" in text
    assert "E ends at its bound 0 in" in text and "floor" in text.split("E ends at its bound 0 in")[1].split(":")[0]


def test_E_at_its_upper_limit_is_not_read_as_its_floor():
    """c0c2e8d read E's bound with bound_status, either side: an E at its upper limit (under the lowest
    loss) was marked and said as 'E ends at its bound 0 ... wanted a floor below 0'."""
    from types import SimpleNamespace

    from scalefit.scaling.trajectories import trajectory
    from scalefit.scaling.trajectories.stat_law import E_AT_FLOOR
    assert not trajectory._at_bound(SimpleNamespace(warnings=["parameter E is at its upper bound"]), "E")
    assert trajectory._at_bound(SimpleNamespace(warnings=[E_AT_FLOOR]), "E")
    assert trajectory._at_bound(SimpleNamespace(warnings=["parameter p is at its upper bound"]), "p")

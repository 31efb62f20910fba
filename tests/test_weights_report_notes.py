"""What the weights report's Markdown tells a reader about its summary table: a blank cell was
shown without a word on why (families and spectra are not measured on vectors; a failed fit)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest


def pooled_rows(model: str, group: str, stats: dict) -> list[dict]:
    return [{"model": model, "step": 8, "tensor": "*", "group": group, "layer": -1, "stat": stat, "value": value,
             "label": "gaussian" if stat == "best_family" else ""} for stat, value in stats.items()]


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    matrix = {"std": 0.02, "excess_kurtosis": 0.1, "t_nu": 40.0, "gennorm_beta": 1.9, "alpha": 3.0,
              "best_family": 0.0}
    vector = {"std": 0.01, "excess_kurtosis": -1.2}  # moments only, as the pass measures a bias
    rows = (pooled_rows("run-a", "mlp_in", matrix) + pooled_rows("run-a", "bias", vector)
            + pooled_rows("run-b", "mlp_in", {**matrix, "t_nu": np.nan}) + pooled_rows("run-b", "bias", vector))
    return pd.DataFrame(rows)


def test_the_blank_cells_of_the_summary_are_explained(table, tmp_path):
    from scalefit.weightstats.report import write_weights_report

    write_weights_report(table, tmp_path, stats=[])
    text = (tmp_path / "report.md").read_text()
    summary = text.split("## Groups at the last step")[1].split("##")[0]
    assert "| run-a | 8 | bias | 0.01 | -1.2 |  |  |  |  |" in summary  # the blank cells themselves
    assert ("Blank cells: `t_nu`, `gennorm_beta`, `alpha`, `best_family` for bias: not measured for those "
            "groups (fitted families and spectra are measured on matrices only") in summary
    assert "Blank cells: `t_nu` for run-b mlp_in: the statistic's fit gave no finite value there." in summary
    assert "nan" not in text.lower()


def test_the_report_makes_its_folder(table, tmp_path):
    """From the API, a folder that did not exist yet ended in pandas' OSError ('Cannot save file
    into a non-existent directory') at the summary CSV; the figures' writer made its own."""
    from scalefit.weightstats.report import write_weights_report

    files = write_weights_report(table, tmp_path / "new" / "report", stats=[])
    assert {p.name for p in files} == {"group_summary.csv", "report.md"}


def test_checkpoints_left_out_of_a_figure_are_named_under_it(table, tmp_path):
    """A statistic with no finite value at some checkpoints (bias and norm weights are constant at
    step 0, so their kurtosis is undefined) left them out of the figure with a warning on the
    terminal only: report.md showed the figure with the points missing and no word."""
    from scalefit.errors import ScalefitWarning
    from scalefit.weightstats.report import write_weights_report

    gap = table.copy()
    gap.loc[(gap["model"] == "run-b") & (gap["group"] == "bias") & (gap["stat"] == "excess_kurtosis"), "value"] = np.nan
    with pytest.warns(ScalefitWarning, match="run-b bias: steps 8"):
        write_weights_report(gap, tmp_path, stats=["excess_kurtosis"])
    section = (tmp_path / "report.md").read_text().split("## excess_kurtosis against step")[1].split("##")[0]
    assert ("1 checkpoint(s) have no finite stat 'excess_kurtosis' (empty, nan or inf) and are not drawn "
            "(run-b bias: steps 8).") in section

"""warmup-study's warmup_transitions.csv holds list cells (runs, warmup_ends, first_steps,
largest_steps, scatter_concentrated: a run's values separated by ',' in the order of runs) that
nothing described: report.md now ends with the '## Files' section the other commands write
(outputs.files_section), from warmup_study.STUDY_COLUMNS, and read_csv gives the cells back."""
from __future__ import annotations

import pandas as pd
from click.testing import CliRunner

from scalefit.cli import main
from scalefit.data import data_path
from scalefit.scaling.trajectories import warmup_study as module

LISTS = ("warmup_ends", "first_steps", "largest_steps")  # one value per run, in the order of runs


def shipped() -> pd.DataFrame:
    return pd.read_csv(data_path("suites", "mini", "warmup_transitions.csv"))


def test_every_column_is_described_and_the_list_cells_read_back_per_run():
    study = shipped()
    assert set(study.columns) <= set(module.STUDY_COLUMNS)
    for _, r in study.iterrows():
        runs = r["runs"].split(",")
        for column in LISTS:
            values = str(r[column]).split(",")
            assert len(values) == len(runs), (column, r[column], runs)
            assert all(v == "-" or v.isdigit() for v in values), (column, values)
            assert column == "warmup_ends" or "in the order of runs" in module.STUDY_COLUMNS[column]
        flagged = r["scatter_concentrated"]
        assert pd.isna(flagged) or set(flagged.split(",")) <= set(runs)


def test_report_md_says_what_each_column_holds(tmp_path, monkeypatch):
    study = shipped().head(3)
    monkeypatch.setattr(module, "warmup_study", lambda *args, **kwargs: study.copy())
    data = tmp_path / "weights.csv"
    pd.DataFrame({"model": ["m"], "step": [1], "tensor": ["w"], "group": ["mlp_in"], "layer": [0],
                  "stat": ["t_nu"], "value": [1.0]}).to_csv(data, index=False)
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["warmup-study", "--data", str(data), "--out", str(out)])
    assert result.exit_code == 0, result.output
    report = (out / "report.md").read_text()
    files = report[report.index("## Files"):]
    assert "- warmup_transitions.csv:" in files and "as in the input table" not in files
    for column in study.columns:
        assert f"`{column}`" in files, column
    assert "`first_steps`: each run's first transition (the onset) step, separated by ','" in files
    # the CSV the section describes is the one written beside it
    assert list(pd.read_csv(out / "warmup_transitions.csv").columns) == list(study.columns)

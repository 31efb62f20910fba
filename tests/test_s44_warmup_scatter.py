"""warmup-study says which runs of each family hold their fit's scatter in a few checkpoints (s44):
transitions warns on such a run (its Gaussian errors of one variance do not hold, and its
breakpoints and intervals rest on them), but warmup-study, whose slopes weigh those runs by their
intervals, printed its readings with no word of it. Its rows now carry scatter_concentrated (the
runs) and scatter_measured (of how many runs it was measured), and its notes say it."""
import json

import pandas as pd
from click.testing import CliRunner

from scalefit.cli import main
from scalefit.data import data_path
from scalefit.scaling.trajectories.warmup_study import scatter_notes, study_row

CHECKPOINTS = data_path("suites", "mini", "checkpoints.parquet")


def test_a_row_names_the_runs_whose_scatter_is_concentrated():
    """Shipped t_nu / attn_out: all four warmup variants' fits hold their scatter in 2 checkpoints
    (mini-3-W0.1's steps 185 and 265 hold 60% of it, tests/test_s44_scatter_share.py); t_xi, the
    same runs on 1/nu, is measured on the same four runs."""
    table = pd.read_parquet(CHECKPOINTS)
    row = study_row(table, "t_nu", "attn_out", n_bootstrap=0)
    assert row["scatter_measured"] == 4
    assert "mini-3-W0.1" in row["scatter_concentrated"].split(",")
    assert set(row["scatter_concentrated"].split(",")) <= set(row["runs"].split(","))


def test_notes_say_which_and_of_how_many_and_what_rests_on_it():
    study = pd.DataFrame([{"stat": "t_nu", "group": "attn_out", "scatter_concentrated": "a,b",
                           "scatter_measured": 4},
                          {"stat": "std", "group": "mlp_in", "scatter_concentrated": "",
                           "scatter_measured": 4}])
    notes = scatter_notes(study)
    assert notes[0] == "t_nu/attn_out: scatter concentrated in 2 of 4 runs (a, b)"
    assert len(notes) == 2 and "rest on errors the run only roughly follows" in notes[1]
    assert scatter_notes(study.assign(scatter_concentrated="")) == []
    # a CSV read back gives NaN for an empty cell: no run, no note
    assert scatter_notes(study.assign(scatter_concentrated=float("nan"))) == []


def test_the_command_prints_the_note_and_writes_the_columns(tmp_path):
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["warmup-study", "--panel", "t_nu/attn_out", "--bootstrap", "0",
                                       "--out", str(out), "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert any(n.startswith("t_nu/attn_out: scatter concentrated in ") for n in doc["notes"])
    written = pd.read_csv(out / "warmup_transitions.csv")
    assert {"scatter_concentrated", "scatter_measured"} <= set(written.columns)
    assert "scatter concentrated in" in (out / "report.md").read_text()


def test_readme_and_report_count_the_shipped_table():
    """README and REPORT say the scatter check fires on 37 of the shipped table's 52 runs, on all
    four of nu and xi on attention-out: the shipped warmup_transitions.csv's columns."""
    from pathlib import Path

    study = pd.read_csv(data_path("suites", "mini", "warmup_transitions.csv"))
    named = study["scatter_concentrated"].fillna("").map(lambda v: [m for m in v.split(",") if m])
    fired, measured = int(named.map(len).sum()), int(study["scatter_measured"].sum())
    said = f"{fired} of\nthe table's {measured} runs"
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    assert said in readme and f"fires on {fired} of the {measured} runs" in \
        data_path("suites", "mini", "REPORT.md").read_text().replace("\n", " ")
    attn = study[study["group"] == "attn_out"].set_index("stat")
    assert all(len(named[study.index[(study["stat"] == s) & (study["group"] == "attn_out")][0]]) == 4
               for s in ("t_nu", "t_xi")) and int(attn.loc["t_nu", "scatter_measured"]) == 4

"""`scalefit fit kaplan` heads its text and report.md with the law as typed and the registry's
name beside it ('kaplan (kaplan-nd)'), as `scalefit predict run` does, through one function
(run_prediction.law_heading); it printed the registry's name alone."""
from __future__ import annotations

import json

from click.testing import CliRunner

from scalefit.cli import main


def run(args):
    done = CliRunner().invoke(main, args)
    assert done.exit_code == 0, done.output
    return done.output


def test_fit_heading_names_the_law_as_typed(tmp_path):
    text = run(["fit", "kaplan", "--bootstrap", "0", "--out", str(tmp_path / "rep")])
    assert text.splitlines()[0].startswith("law kaplan (kaplan-nd): 20 points, ")
    assert (tmp_path / "rep" / "report.md").read_text().startswith("# Fit: kaplan (kaplan-nd)\n")
    doc = json.loads(run(["fit", "kaplan", "--bootstrap", "0", "--json"]))
    assert doc["law"] == "kaplan-nd" and doc["law_given"] == "kaplan"
    # the registry's own name is said once
    assert run(["fit", "kaplan-nd", "--bootstrap", "0"]).splitlines()[0].startswith("law kaplan-nd: 20 points")
    # predict run heads its text the same way
    assert run(["predict", "run", "kaplan", "--bootstrap", "0", "--N", "1e6", "--D", "1e7"]).startswith(
        "kaplan (kaplan-nd) fitted to 20 runs")

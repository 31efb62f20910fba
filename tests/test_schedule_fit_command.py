"""`scalefit fit momentum` (a schedule law through the run-table command, fit_law's schedule
branch) printed a KeyError 'n_starts_at_best' traceback after fitting: fit_curves gave the
number of starts but not how many reached the best optimum, which fit's text reads."""
from __future__ import annotations

import json

import pandas as pd
from click.testing import CliRunner

from scalefit.cli import main
from test_cli_audit3_fitting import checkpoint_table


def test_fit_prints_a_schedule_law_with_its_starts(tmp_path):
    path = tmp_path / "one_size.csv"
    pd.read_csv(checkpoint_table(path)).assign(params=1e6).to_csv(path, index=False)
    args = ["fit", "momentum", "--data", str(path), "--bootstrap", "0"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    fit = json.loads(CliRunner().invoke(main, [*args, "--json"]).stdout)
    assert 1 <= fit["n_starts_at_best"] <= fit["n_starts"] == 4
    assert (f"law momentum: {fit['n_points']} points, Huber objective {fit['objective']:.6g}, converged True\n"
            f"starts reaching the best optimum: {fit['n_starts_at_best']} of 4; RMSE(log L) "
            f"{fit['rmse_log']:.4g}") in result.output


def test_fit_of_a_schedule_law_writes_its_report_folder(tmp_path):
    """`scalefit fit momentum --out DIR` wrote fit.json and params.csv, then ended in a KeyError
    traceback drawing the frontier plot, which a schedule law (no allocation, no C) has none
    of. It now writes the fitted curves (CSV and figure) as `fit schedule-law --out` does, and
    report.md describes their columns as the law's, not a budget table's."""
    import numpy as np

    path = tmp_path / "one_size.csv"
    table = pd.read_csv(checkpoint_table(path))
    table[table["model"] == "a"].assign(params=1e6).to_csv(path, index=False)
    out = tmp_path / "report"
    result = CliRunner().invoke(main, ["fit", "momentum", "--data", str(path), "--bootstrap", "0",
                                       "--out", str(out)])
    assert result.exit_code == 0, result.output
    curves = pd.read_csv(out / "fitted_curves.csv")
    assert len(curves) == 100 and (out / "fitted_curves.png").exists()
    assert np.allclose(curves["fitted"], curves["loss"], rtol=0.02)  # the curve fitted to these losses
    report = (out / "report.md").read_text()
    assert "`fitted`: the law's loss at that step (nats/token)" in report
    assert "loss at the optimum" not in report and "allocation exponents" not in report


def test_fit_of_a_schedule_law_reads_a_checkpoint_table_with_step_0(tmp_path):
    """A checkpoint table has step 0 with tokens 0: `scalefit fit momentum --data` refused it
    ('column tokens, row 1: must be positive, got 0'), a run table's count check on a column the
    schedule law does not read, while `fit schedule-law` fits the same table."""
    path = tmp_path / "with_step0.csv"
    table = pd.read_csv(checkpoint_table(path))
    table = table[table["model"] == "a"]
    first = table.iloc[:1].assign(step=0, lr=0.0, loss=10.0)
    pd.concat([first, table]).assign(tokens=lambda t: t["step"] * 1024).to_csv(path, index=False)
    fit = CliRunner().invoke(main, ["fit", "momentum", "--data", str(path), "--bootstrap", "0", "--json"])
    assert fit.exit_code == 0, fit.output
    own = CliRunner().invoke(main, ["fit", "schedule-law", "--law", "momentum", "--data", str(path),
                                    "--bootstrap", "0", "--json"])
    assert own.exit_code == 0, own.output
    assert json.loads(fit.stdout)["params"] == json.loads(own.stdout)["params"]

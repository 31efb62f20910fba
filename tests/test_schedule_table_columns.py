"""What a schedule law asks of a checkpoint table: a one-size law (momentum) reads no model size,
so `scalefit fit momentum` takes a table without params, while the by-size law still demands
one; and a params column holding text is refused, not dropped unsaid."""
from __future__ import annotations

import json

import pandas as pd
import pytest
from click.testing import CliRunner

from scalefit.cli import main
from scalefit.errors import InputError
from scalefit.scaling.laws.curve_fit import fit_curves
from scalefit.scaling.laws.curves import curves_from_table, loss_rows
from test_cli_audit3_fitting import checkpoint_table


def _one_line(args) -> str:
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in result.output, result.output
    return lines[0]


def test_a_one_size_law_fits_a_table_without_params_and_the_by_size_law_demands_it(tmp_path):
    """`fit momentum` refused a table with no params ('law momentum needs N'), a variable the
    one-size law never reads; its fit is the one of the same table with params added."""
    plain = checkpoint_table(tmp_path / "plain.csv")
    sized = tmp_path / "sized.csv"
    pd.read_csv(plain).assign(params=1e6).to_csv(sized, index=False)
    args = ["fit", "momentum", "--bootstrap", "0", "--json"]
    result = CliRunner().invoke(main, [*args, "--data", plain])
    assert result.exit_code == 0, result.output
    without = json.loads(result.stdout)
    with_params = json.loads(CliRunner().invoke(main, [*args, "--data", str(sized)]).stdout)
    assert without["params"] == with_params["params"]
    assert without["n_points"] == with_params["n_points"] == len(pd.read_csv(plain))
    line = _one_line(["fit", "momentum-n", "--data", plain, "--bootstrap", "0"])
    assert f"{plain}: column 'params' is missing (law momentum-n needs N" in line
    line = _one_line(["fit", "schedule-law", "--by-size", "--data", plain, "--bootstrap", "0"])
    assert "law momentum-n: needs each run's model size N" in line and "'params' column" in line


def test_a_params_column_holding_text_is_refused_not_dropped(tmp_path):
    """A params cell of text ('1.5M') made the column text, which loss_rows' mean dropped: the
    by-size fit then said 'run a has none, run b has none' of a table with a params column, and
    a one-size fit of runs of two sizes went on unchecked. Now one line names the cell; sizes
    written as text that read as numbers ('1e6' from Python) are kept as numbers."""
    rows = pd.read_csv(checkpoint_table(tmp_path / "plain.csv"))
    as_text = rows.assign(params=rows["model"].map({"a": "1e6", "b": "2e6"}))
    kept = loss_rows(as_text)
    assert kept.groupby("model")["params"].first().to_dict() == {"a": 1e6, "b": 2e6}
    bad = as_text.copy()
    bad.loc[5, "params"] = "1.5M"
    with pytest.raises(InputError, match=r"^<table>: column 'params', row with index 5: '1.5M' is not a"):
        loss_rows(bad)
    path = tmp_path / "bad.csv"
    bad.to_csv(path, index=False)
    for by_size in (["--by-size"], []):
        line = _one_line(["fit", "schedule-law", *by_size, "--data", str(path), "--bootstrap", "0"])
        assert line == f"error: {path}: column 'params', row 6: '1.5M' is not a finite number"


def test_a_decay_for_a_law_without_one_is_named_in_each_callers_words(tmp_path):
    """fit_curves told a Python caller '--lambda: law multi-power has no momentum decay', where
    its other checks say 'lam (--lambda)'; the commands keep saying '--lambda', before the fit."""
    plain = checkpoint_table(tmp_path / "plain.csv")
    curves = curves_from_table(loss_rows(pd.read_csv(plain)))
    with pytest.raises(InputError) as caught:
        fit_curves(curves, "multi-power", lam=0.9, n_bootstrap=0)
    assert str(caught.value) == "lam (--lambda): law multi-power has no momentum decay"
    for command in (["fit", "schedule-law"], ["predict", "curve", "--schedule", "cosine:1000"]):
        line = _one_line([*command, "--law", "multi-power", "--lambda", "0.9", "--data", plain,
                          "--model", "a", "--bootstrap", "0"])
        assert line == "error: --lambda: law multi-power has no momentum decay"

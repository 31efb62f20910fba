"""A schedule law of one size on runs of several sizes: one message (curve_fit.mixed_sizes) in
the caller's words: the command's names --by-size and --model, fit_curves' and fit_law's the
by-size law (momentum-n) and the runs' curves. fit_curves kept an older message of its own
('the runs differ in size (a, b); fit one size (--model) ...', flags a notebook has not)."""
from __future__ import annotations

import pandas as pd
import pytest
from click.testing import CliRunner

from scalefit import fit_curves, fit_law
from scalefit.cli import main
from scalefit.errors import InputError
from scalefit.scaling.laws.curves import curves_from_table, loss_rows
from test_cli_audit3_fitting import checkpoint_table

SIZES = "the 2 runs to fit have 2 sizes (N = 1e+06 to 2e+06); "
PYTHON = (SIZES + "law momentum fits runs of one size: fit law momentum-n, its by-size form (L0 "
          "and A as power laws of N, one fit for them all), or the curves of runs of one size, "
          "e.g. run a (N = 1e+06, 1 run of that size)")


@pytest.fixture(scope="module")
def sized(tmp_path_factory):
    path = tmp_path_factory.mktemp("sized") / "sized.csv"
    rows = pd.read_csv(checkpoint_table(path))
    rows.assign(params=rows["model"].map({"a": 1e6, "b": 2e6})).to_csv(path, index=False)
    return path


def test_the_python_api_says_what_the_command_says_in_its_own_words(sized):
    table = pd.read_csv(sized)
    with pytest.raises(InputError) as caught:
        fit_curves(curves_from_table(loss_rows(table)), "momentum", n_bootstrap=0)
    assert str(caught.value) == f"loss curves: {PYTHON}"
    with pytest.raises(InputError) as caught:
        fit_law(table, "momentum", n_bootstrap=0)
    assert str(caught.value) == f"loss curves: {PYTHON}"
    result = CliRunner().invoke(main, ["fit", "schedule-law", "--data", str(sized), "--bootstrap", "0"])
    assert result.exit_code == 2
    said = " ".join(result.output.split())
    assert f"{sized}: {SIZES}without --by-size a schedule law fits runs of one size: pass " \
           "--by-size (L0 and A as power laws of N, one fit for them all), or --model RUN[,RUN] " \
           "with runs of one size, e.g. --model a (N = 1e+06, 1 run of that size)" in said, said


@pytest.mark.parametrize("size, said", [(0.0, "run c has 0"), (-3e6, "run c has -3e+06"),
                                        (float("inf"), "run c has inf"),
                                        (float("nan"), "run c has none")])
def test_a_by_size_fit_names_the_run_without_a_size(tmp_path, size, said):
    """--by-size with a run of N = 0, N < 0 or N = inf was a traceback from inside the fit (numpy's 'need
    at least one array to stack', lmfit's 'generated NaN values'); a run without N said the table
    needs a 'params' column, which it had."""
    rows = pd.read_csv(checkpoint_table(tmp_path / "base.csv"))
    rows = pd.concat([rows, rows[rows["model"] == "a"].assign(model="c")])
    path = tmp_path / "sized.csv"
    rows.assign(params=rows["model"].map({"a": 1e6, "b": 2e6, "c": size})).to_csv(path, index=False)
    result = CliRunner().invoke(main, ["fit", "schedule-law", "--by-size", "--data", str(path),
                                       "--bootstrap", "0"])
    assert result.exit_code == 2, result.output
    assert result.output.strip() == ("error: law momentum-n: needs each run's model size N, a finite "
                                     f"number > 0 (a 'params' column): {said}"), result.output


@pytest.mark.parametrize("size, said", [(0.0, "is 0"), (float("nan"), "is nan")])
def test_a_by_size_prediction_names_the_measured_run_without_a_size(tmp_path, size, said):
    """predict curve --by-size --measured c, c of params 0 or none, fitted the law and then said
    "N: '0.0' is out of range", naming an argument the command does not have."""
    rows = pd.read_csv(checkpoint_table(tmp_path / "base.csv"))
    rows = pd.concat([rows, *(rows[rows["model"] == "a"].assign(model=m) for m in "cd")])
    path = tmp_path / "sized.csv"
    sizes = {"a": 1e6, "b": 2e6, "c": size, "d": 3e6}
    rows.assign(params=rows["model"].map(sizes)).to_csv(path, index=False)
    result = CliRunner().invoke(main, ["predict", "curve", "--by-size", "--data", str(path),
                                       "--model", "a,b,d", "--measured", "c", "--bootstrap", "0"])
    assert result.exit_code == 2, result.output
    assert result.output.strip() == (f"error: --measured c: its model size N (params) {said}; a "
                                     "--by-size prediction needs a finite number > 0")

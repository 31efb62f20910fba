"""The Python API as a notebook user meets it (helper H4's audit): an argument a function takes
and would not use is refused, what `fit_law` returns equals the command's --json, results read
in a notebook, and the input table is never changed."""
from __future__ import annotations

import pandas as pd
import pytest

from scalefit.data import data_path
from scalefit.errors import InputError

RUNS = data_path("suites", "mini", "runs.csv")
CHECKPOINTS = data_path("suites", "mini", "checkpoints.parquet")


@pytest.fixture(scope="module")
def grid():
    runs = pd.read_csv(RUNS)
    return runs[runs["part"] == "grid"].copy()


@pytest.fixture(scope="module")
def curve():
    """mini-3's prose-val loss curve: (model, step, lr, loss)."""
    table = pd.read_parquet(CHECKPOINTS)
    rows = table[(table["metric"] == "loss") & (table["dataset"] == "prose-val")
                 & (table["model"] == "mini-3")]
    return rows[["model", "step", "lr", "value"]].rename(columns={"value": "loss"})


@pytest.mark.parametrize("law", ["kaplan-n", "momentum"])
def test_budgets_a_law_cannot_project_to_are_refused(grid, curve, law):
    """fit_law(runs, 'kaplan-n', budgets=[1e15]) and a schedule law's fit took the budgets and
    returned no row for them, without a word (`scalefit fit kaplan-n --budget 1e15` the same)."""
    from scalefit import fit_law
    table = curve if law == "momentum" else grid
    with pytest.raises(InputError, match=f"budgets \\(--budget\\): law {law} sets no compute-optimal"):
        fit_law(table, law, n_bootstrap=0, budgets=[1e15])
    fit_law(table, law, n_bootstrap=0)  # without budgets it fits


def test_compare_keeps_budgets_for_the_laws_that_project(grid):
    """compare_laws of a one-variable law beside Chinchilla still projects Chinchilla's
    allocation to the budgets given."""
    from scalefit import compare_laws
    comparison = compare_laws(grid, ["kaplan-n", "chinchilla"], n_bootstrap=0, budgets=[1e15])
    assert [row["flops"] for row in comparison.budgets] == [1e15]
    assert "chinchilla_N_opt" in comparison.budgets[0]


def test_a_schedule_law_fit_is_what_the_command_prints(curve, tmp_path):
    """fit_law(curves, 'momentum') judged which parameters the runs identify; `scalefit fit
    schedule-law --json` (and fit_curves) on the same curve did not, so the two documents differed."""
    import json

    from click.testing import CliRunner

    from scalefit import fit_law
    from scalefit.cli import main
    from scalefit.report import dumps
    path = tmp_path / "curve.parquet"
    curve.to_parquet(path)  # the same float32 LRs the frame holds
    printed = CliRunner().invoke(main, ["fit", "schedule-law", "--data", str(path), "--bootstrap", "20",
                                        "--json"])
    assert printed.exit_code == 0, printed.output
    cli = json.loads(printed.stdout)
    api = json.loads(dumps(fit_law(curve, "momentum", n_bootstrap=20).to_dict()))  # as printed
    assert set(api["identifiability"]) == set(api["params"])
    assert {k: v for k, v in cli.items() if k not in ("data", "dataset")} == api

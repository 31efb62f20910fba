"""What N* of the budget rows counts (FitResult.budget_n_counts, budgets_frame's N_counts) is in the
--json of fit and compare, inside each fit's allocation beside budget_convention; it was in the
Python object alone."""
from __future__ import annotations

import json

from click.testing import CliRunner

from scalefit.cli import main

CONVERTED = "total (converted from non-embedding with the runs' embedding counts)"


def run(args):
    done = CliRunner().invoke(main, args)
    assert done.exit_code == 0, done.output
    return json.loads(done.output)


def test_fit_json_says_what_the_budget_rows_n_counts():
    doc = run(["fit", "kaplan", "--bootstrap", "0", "--json"])
    assert doc["allocation"]["budget_n_counts"] == CONVERTED
    assert run(["fit", "chinchilla", "--bootstrap", "0", "--json"])["allocation"]["budget_n_counts"] == "total"


def test_the_dict_says_what_budgets_frame_says():
    from scalefit.scaling.laws.cli import _load
    from scalefit.scaling.laws.fit import fit_law
    from scalefit.scaling.laws.runtable import validate_runs
    df, source, _ = _load(None)
    table = validate_runs(df, "kaplan", source=source)
    result = fit_law(table, "kaplan", n_bootstrap=0, all_runs=table)
    assert result.to_dict()["allocation"]["budget_n_counts"] == result.budgets_frame().attrs["N_counts"] == CONVERTED


def test_compare_json_says_it_for_each_law():
    doc = run(["compare", "kaplan", "chinchilla", "--bootstrap", "0", "--json"])
    said = {law: fit["allocation"]["budget_n_counts"] for law, fit in doc["fits"].items()}
    assert said == {"kaplan": CONVERTED, "chinchilla": "total"}

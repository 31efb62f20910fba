"""The budget table when N is non-embedding (`--params params_nonembed`): the mapping renamed the
column to 'params', so the fit took k in C = k N D as the median of flops / (N_nonembed D) (26.96
on the shipped runs) and printed rows with 6 N* D* = 0.22 C under the label 'N = params'. Budgets
now use Kaplan's C = 6 N D with N non-embedding, and say so and which column N is."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from scalefit.cli import main
from scalefit.options import apply_column_mapping
from scalefit.scaling.laws import forms as law_forms
from scalefit.scaling.laws.runtable import validate_runs

LABEL = "N = params_nonembed (non-embedding, as Kaplan et al. 2020 count it)"


def runs_with_both_counts(path=None) -> pd.DataFrame:
    """Synthetic runs with total and non-embedding counts (share 43% to 94%) and flops = 6 params
    tokens, the loss a Chinchilla law of total N."""
    rng = np.random.default_rng(3)
    N, tpp = np.meshgrid(np.geomspace(2e7, 5e9, 6), [5, 12, 30, 80], indexing="ij")
    N, D = N.ravel(), N.ravel() * tpp.ravel()
    embed = 1.6e7 * (N / 2e7) ** 0.35
    L = law_forms.chinchilla(N, D, 1.8, 480, 2000, 0.35, 0.37) * np.exp(rng.normal(0, 0.003, N.size))
    df = pd.DataFrame({"model": [f"m{i}" for i in range(N.size)], "params": N,
                       "params_nonembed": N - embed, "tokens": D, "flops": 6 * N * D, "loss": L})
    if path is not None:
        df.to_csv(path, index=False)
    return df


def invoke(args):
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    return result


def kaplan_compute(df: pd.DataFrame) -> np.ndarray:
    return 6 * df["params_nonembed"].to_numpy(float) * df["tokens"].to_numpy(float)


def test_fit_with_nonembedding_n_states_budgets_in_kaplans_compute(tmp_path):
    data = tmp_path / "runs.csv"
    df = runs_with_both_counts(data)
    doc = json.loads(invoke(["fit", "chinchilla", "--data", str(data), "--params", "params_nonembed",
                             "--bootstrap", "0", "--json"]).stdout)
    alloc = doc["allocation"]
    assert alloc["flops_per_param_token"] == 6
    assert alloc["budget_convention"].startswith(LABEL)
    assert "C = 6 N D" in alloc["budget_convention"]
    assert "not the table's flops column, which counts all parameters" in alloc["budget_convention"]
    assert doc["notes"] == [LABEL] and doc["n_source"] == "params_nonembed"
    assert alloc["largest_fitted_flops"] == pytest.approx(kaplan_compute(df).max(), rel=1e-12)
    assert len(alloc["budgets"]) >= 2
    for row in alloc["budgets"]:
        assert 6 * row["N_opt"] * row["D_opt"] == pytest.approx(row["flops"], rel=1e-6)
        assert row["times_largest_run"] == pytest.approx(row["flops"] / kaplan_compute(df).max())
    text = invoke(["fit", "chinchilla", "--data", str(data), "--params", "params_nonembed",
                   "--bootstrap", "0"]).stdout
    assert f"N: {LABEL}; C = 6 N D" in text and "N: N = params\n" not in text


def test_fit_with_nonembedding_n_holds_out_runs_at_their_kaplan_compute(tmp_path):
    """A held-out run checks the budget row at its own 6 N_nonembed D, the budgets' compute."""
    data = tmp_path / "runs.csv"
    df = runs_with_both_counts(data)
    doc = json.loads(invoke(["fit", "chinchilla", "--data", str(data), "--params", "params_nonembed",
                             "--bootstrap", "0", "--holdout", "3", "--json"]).stdout)
    held = df.sort_values("flops").tail(3)
    rows = doc["allocation"]["budgets"]
    assert float(f"{kaplan_compute(held).max():.6g}") in [r["flops"] for r in rows]
    assert doc["holdout"]["flops"] == pytest.approx(held["flops"].tolist())  # runs: their flops


def test_compare_with_nonembedding_n_states_it_once(tmp_path):
    data = tmp_path / "runs.csv"
    df = runs_with_both_counts(data)
    doc = json.loads(invoke(["compare", "kaplan", "chinchilla", "--data", str(data), "--params",
                             "params_nonembed", "--bootstrap", "0", "--json"]).stdout)
    assert doc["budget_convention"].startswith(LABEL) and doc["budget_convention"].count(LABEL) == 1
    assert doc["largest_fitted_flops"] == pytest.approx(kaplan_compute(df).max(), rel=1e-12)
    for name in ("kaplan", "chinchilla"):
        assert doc["fits"][name]["allocation"]["flops_per_param_token"] == 6
        for row in doc["budgets"]:
            assert 6 * row[f"{name}_N_opt"] * row[f"{name}_D_opt"] == pytest.approx(row["flops"],
                                                                                    rel=1e-6)


def test_total_parameter_budgets_are_as_before(tmp_path):
    """Without --params the table's all-parameter N: k from its flops, 'N = params', no C line."""
    data = tmp_path / "runs.csv"
    df = runs_with_both_counts(data)
    doc = json.loads(invoke(["fit", "chinchilla", "--data", str(data), "--bootstrap", "0",
                             "--json"]).stdout)
    alloc = doc["allocation"]
    assert alloc["budget_convention"] == "N = params" and doc["notes"] == ["N = params"]
    assert "compute_convention" not in alloc and "n_source" not in doc
    assert alloc["largest_fitted_flops"] == df["flops"].max()
    for row in alloc["budgets"]:
        assert 6 * row["N_opt"] * row["D_opt"] == pytest.approx(row["flops"], rel=1e-6)


def test_the_run_table_knows_where_n_came_from():
    df = runs_with_both_counts()
    mapped = validate_runs(apply_column_mapping(df, {"params": "params_nonembed"}, "t"), "chinchilla")
    assert (mapped.n_column, mapped.n_source) == ("params", "params_nonembed")
    assert mapped.n_nonembedding and mapped.kaplan_compute and mapped.notes[-1] == LABEL
    kaplan = validate_runs(df, "kaplan")  # non-embedding, with the total beside it to convert to
    assert kaplan.n_nonembedding and not kaplan.kaplan_compute and kaplan.n_source == ""
    sized = validate_runs(apply_column_mapping(df.rename(columns={"params": "Model Size"}),
                                               {"params": "Model Size"}, "t"), "chinchilla")
    assert sized.n_source == "Model Size" and not sized.n_nonembedding
    assert "N = Model Size" in sized.notes

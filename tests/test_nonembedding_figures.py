"""The figures of a fit whose N is non-embedding (`--params params_nonembed`): they labelled the
axis 'parameters, all' and put the runs at the flops column (all parameters) beside frontiers in
Kaplan's C = 6 N D. They now name N as the run table does and place the runs at the compute the
budget rows state; the default (all-parameter) figures are as before."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from scalefit.options import apply_column_mapping  # noqa: E402
from scalefit.scaling.laws import plots  # noqa: E402
from scalefit.scaling.laws.fit import fit_law  # noqa: E402
from scalefit.scaling.laws.runtable import validate_runs  # noqa: E402
from tests.test_nonembedding_budgets import LABEL, kaplan_compute, runs_with_both_counts  # noqa: E402


def fitted(mapping: dict):
    df = runs_with_both_counts()
    table = validate_runs(apply_column_mapping(df, mapping, "t"), "chinchilla")
    return df, table.frame, {"chinchilla": fit_law(table, "chinchilla", n_bootstrap=0)}


def offsets(ax) -> np.ndarray:
    return np.asarray(ax.collections[0].get_offsets(), float)


def one_line(text: str) -> str:
    return text.replace("\n", " ")


@pytest.fixture(scope="module")
def nonembedding():
    return fitted({"params": "params_nonembed"})


def test_frontiers_put_the_runs_at_the_budget_rows_compute_and_name_n(nonembedding):
    df, frame, results = nonembedding
    alloc = results["chinchilla"].extra["allocation"]
    fig = plots.plot_frontiers(results, frame, [row["flops"] for row in alloc["budgets"]])
    ax = fig.axes[0]
    runs = np.asarray(next(c for c in ax.collections if c.get_label() == "runs").get_offsets())
    assert np.array_equal(runs[:, 0], kaplan_compute(df))  # not the flops column
    assert np.array_equal(runs[:, 1], df["params_nonembed"].to_numpy(float))
    largest = next(line for line in ax.lines if line.get_linestyle() == ":")
    assert largest.get_xdata()[0] == alloc["largest_fitted_flops"]
    assert LABEL in one_line(ax.get_ylabel()) and "all" not in ax.get_ylabel()
    assert "6 N D" in ax.get_xlabel() and "not the flops column" in one_line(ax.get_xlabel())
    plt.close(fig)


def test_residuals_and_loss_vs_n_name_n_and_its_compute(nonembedding):
    df, frame, results = nonembedding
    fig = plots.plot_residuals(frame, results)
    assert np.array_equal(offsets(fig.axes[0])[:, 0], kaplan_compute(df))
    assert "6 N D" in fig.axes[0].get_xlabel()
    plt.close(fig)
    fig = plots.plot_loss_vs_n(frame, results)
    assert np.array_equal(offsets(fig.axes[0])[:, 0], df["params_nonembed"].to_numpy(float))
    assert LABEL in one_line(fig.axes[0].get_xlabel())
    plt.close(fig)


def test_all_parameter_figures_are_as_before():
    df, frame, results = fitted({})
    flops, params = df["flops"].to_numpy(float), df["params"].to_numpy(float)
    fig = plots.plot_frontiers(results, frame)
    ax = fig.axes[0]
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("training compute C (FLOPs)",
                                                  "compute-optimal N* (parameters, all)")
    assert np.array_equal(offsets(ax), np.column_stack([flops, params]))
    plt.close(fig)
    fig = plots.plot_residuals(frame, results)
    assert fig.axes[0].get_xlabel() == "training compute C (FLOPs)"
    assert np.array_equal(offsets(fig.axes[0])[:, 0], flops)
    plt.close(fig)
    fig = plots.plot_loss_vs_n(frame, results)
    assert fig.axes[0].get_xlabel() == "parameters N (all)"
    assert np.array_equal(offsets(fig.axes[0])[:, 0], params)
    plt.close(fig)

"""`compare isoflop chinchilla --params params_nonembed`: IsoFLOP finds its optima at the flops
column's budgets, a law of a non-embedding N with no total count beside it states C = 6 N D
(5e9b6a3). The budget table put both under one 'FLOPs' column with one 'x largest run' (the
last law's), and the frontiers figure drew both on the first law's C. Now each basis has rows of
its own that name it ('compute' / 'C is'), distances in its own largest run, and a panel of its
own; the default (all-parameter) compare is one basis as before."""
from __future__ import annotations

import json

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from click.testing import CliRunner  # noqa: E402

from scalefit.cli import main  # noqa: E402
from scalefit.options import apply_column_mapping  # noqa: E402
from scalefit.scaling.laws import plots  # noqa: E402
from scalefit.scaling.laws.compare import compare_laws  # noqa: E402
from scalefit.scaling.laws.fit import FLOPS_COLUMN, KAPLAN_C  # noqa: E402
from scalefit.scaling.laws.runtable import validate_runs  # noqa: E402
from tests.test_reconcile import isoflop_grid  # noqa: E402


def isoflop_runs_with_both_counts() -> pd.DataFrame:
    """IsoFLOP runs of a Chinchilla law (flops = 6 params tokens) whose non-embedding share
    grows from 40% (smallest model) to 90% (largest), as a narrow model's embedding dominates."""
    df = isoflop_grid(0.34, 0.28, "a", 1).drop(columns="condition")
    log_n = np.log(df["params"])
    share = 0.4 + 0.5 * (log_n - log_n.min()) / (log_n.max() - log_n.min())
    return df.assign(params_nonembed=df["params"] * share)


def kaplan_c(df: pd.DataFrame) -> np.ndarray:
    return 6 * df["params_nonembed"].to_numpy(float) * df["tokens"].to_numpy(float)


@pytest.fixture(scope="module")
def runs():
    return isoflop_runs_with_both_counts()


@pytest.fixture(scope="module")
def mixed(runs):
    mapped = apply_column_mapping(runs, {"params": "params_nonembed"}, "t")
    return compare_laws(mapped, ["isoflop", "chinchilla"], n_bootstrap=0)


def test_each_budget_row_states_its_own_compute(runs, mixed):
    flops_max, kaplan_max = runs["flops"].max(), kaplan_c(runs).max()
    assert kaplan_max < 0.95 * flops_max  # the two bases are far apart on these runs
    rows = mixed.to_dict()["budgets"]
    assert {row["compute"] for row in rows} == {FLOPS_COLUMN, KAPLAN_C}
    for row in rows:
        laws = {law for law in ("isoflop", "chinchilla") if f"{law}_N_opt" in row}
        assert len(laws) == 1, row  # no row puts two bases under one number of FLOPs
        own = flops_max if row["compute"] == FLOPS_COLUMN else kaplan_max
        assert laws == ({"isoflop"} if row["compute"] == FLOPS_COLUMN else {"chinchilla"})
        assert row["times_largest_run"] == pytest.approx(row["flops"] / own, rel=1e-12)
    for law, basis, own in (("isoflop", FLOPS_COLUMN, flops_max),
                            ("chinchilla", KAPLAN_C, kaplan_max)):
        shown = [row["flops"] for row in rows if row["compute"] == basis]
        for multiple in (10, 100):  # its own 10x and 100x the largest run
            assert float(f"{multiple * own:.6g}") in shown
        assert mixed.fits[law].extra["allocation"]["largest_fitted_flops"] == own
    assert mixed.to_dict()["compute_bases"] == [
        {"compute": FLOPS_COLUMN, "laws": ["isoflop"], "largest_fitted_flops": flops_max},
        {"compute": KAPLAN_C, "laws": ["chinchilla"], "largest_fitted_flops": kaplan_max}]
    assert "the same number of FLOPs on the two is not the same compute" in mixed.convention


@pytest.mark.parametrize("laws", [["isoflop", "chinchilla"], ["kaplan", "isoflop"]])
def test_the_printed_table_names_each_rows_compute(tmp_path, runs, laws):
    data = tmp_path / "runs.csv"
    runs.to_csv(data, index=False)
    args = ["compare", *laws, "--data", str(data), "--params", "params_nonembed", "--bootstrap", "0"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    table = result.output.split("compute-optimal allocation")[1].split("\n\n")[0]
    header = next(line for line in table.splitlines() if "x largest run" in line)
    assert header.split()[:6] == ["FLOPs", "x", "largest", "run", "kind", "C"]
    for line in table.splitlines():
        if " projection " in line:  # a row: its law beside the compute it states
            law = next(law for law in laws if f" {law} " in line)
            assert (KAPLAN_C if law != "isoflop" else FLOPS_COLUMN) in line, line
    doc = json.loads(CliRunner().invoke(main, [*args, "--json"]).stdout)
    assert [b["laws"] for b in doc["compute_bases"]] == [[law] for law in laws]


def test_held_out_runs_are_placed_in_each_laws_own_compute(runs):
    """A held-out run checks a row at its compute in that row's basis (fit_law took the first
    law's for every law)."""
    mapped = apply_column_mapping(runs, {"params": "params_nonembed"}, "t")
    cmp = compare_laws(mapped, ["chinchilla", "isoflop"], n_bootstrap=0, holdout=9)
    held = runs.sort_values("flops", kind="stable").tail(9)
    rows = cmp.to_dict()["budgets"]
    chin = [row["flops"] for row in rows if row["compute"] == KAPLAN_C]
    iso = [row["flops"] for row in rows if row["compute"] == FLOPS_COLUMN]
    assert float(f"{kaplan_c(held).max():.6g}") in chin and float(f"{held['flops'].max():.6g}") in iso
    assert cmp.fits["chinchilla"].extra["allocation"]["largest_fitted_flops"] == pytest.approx(
        kaplan_c(runs.sort_values("flops", kind="stable").head(len(runs) - 9)).max(), rel=1e-12)


def test_frontiers_draw_each_basis_on_its_own_axis(runs, mixed):
    table = validate_runs(apply_column_mapping(runs, {"params": "params_nonembed"}, "t"), "isoflop")
    results = mixed.fits
    fig = plots.plot_frontiers(results, table.frame, [row["flops"] for row in mixed.budgets])
    assert len(fig.axes) == 2
    for ax, law, compute in zip(fig.axes, ("isoflop", "chinchilla"),
                                (runs["flops"].to_numpy(float), kaplan_c(runs))):
        dots = next(c for c in ax.collections if c.get_label() == "runs")
        assert np.array_equal(np.asarray(dots.get_offsets())[:, 0], compute)
        assert [line.get_label() for line in ax.lines if line.get_label().startswith(law)]
        assert not [line for line in ax.lines if line.get_label().startswith(
            "chinchilla" if law == "isoflop" else "isoflop")]
        largest = next(line for line in ax.lines if line.get_linestyle() == ":")
        assert largest.get_xdata()[0] == compute.max()
    plt.close(fig)
    fig = plots.plot_residuals(table.frame, results)  # chinchilla's residuals at its own C
    assert np.array_equal(np.asarray(fig.axes[0].collections[0].get_offsets())[:, 0], kaplan_c(runs))
    plt.close(fig)


def test_all_parameter_compare_keeps_one_basis(runs):
    """Without --params both laws count all parameters: one basis, no 'compute' key."""
    cmp = compare_laws(runs, ["isoflop", "chinchilla"], n_bootstrap=0)
    doc = cmp.to_dict()
    assert "compute_bases" not in doc and all("compute" not in row for row in doc["budgets"])
    assert all("isoflop_N_opt" in row and "chinchilla_N_opt" in row for row in doc["budgets"])
    assert doc["largest_fitted_flops"] == runs["flops"].max()
    fig = plots.plot_frontiers(cmp.fits, None)
    assert len(fig.axes) == 1
    plt.close(fig)


def test_isoflop_of_a_nonembedding_n_states_no_token_count(runs):
    """IsoFLOP's D* = C/(6 N*) counts all parameters in N*; with N non-embedding and the budgets
    the flops column's it gave 6 N*_nonembed D* = C, tokens no optimum trains on. Its rows now
    leave D*, D*/N* and b out and say why; the all-parameter fit keeps them. (With a tokens
    column D* is read off the runs instead: tests/test_s45_isoflop_tokens.py.)"""
    from scalefit.scaling.laws.fit import fit_law
    from scalefit.scaling.laws.isoflop import NO_TOKENS

    untimed = apply_column_mapping(runs.drop(columns="tokens"), {"params": "params_nonembed"}, "t")
    mixed = compare_laws(untimed, ["isoflop", "chinchilla"], n_bootstrap=0)
    iso = mixed.fits["isoflop"]
    assert NO_TOKENS in iso.warnings and np.isnan(iso.extra["allocation"]["b"])
    assert all(np.isnan(row["D_opt"]) for row in iso.extra["optima"])
    rows = [row for row in mixed.to_dict()["budgets"] if "isoflop_N_opt" in row]
    assert rows and all(np.isnan(row["isoflop_D_opt"]) and np.isnan(row["isoflop_tokens_per_param"])
                        for row in rows)
    total = fit_law(runs, "isoflop", n_bootstrap=20)
    assert NO_TOKENS not in total.warnings and total.extra["allocation"]["b"] == pytest.approx(
        1 - total.value("a"))
    for row in total.extra["allocation"]["budgets"]:
        assert 6 * row["N_opt"] * row["D_opt"] == pytest.approx(row["flops"], rel=1e-12)

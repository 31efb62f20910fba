"""`scalefit suite report` picks the dataset whose loss it plots and checks once per report
(trainer.report.suite_dataset scans every row of the checkpoint table); before, each figure, its
axis label and the checks picked it again, six scans of the shipped table per report."""
from __future__ import annotations

import math

from scalefit.tables import read_table
from test_cli_audit3_trajectories import shipped_suite_folder


def test_the_plotted_dataset_is_picked_once_per_report(tmp_path, monkeypatch):
    from scalefit.trainer import report

    calls = []
    picked = report.suite_dataset

    def counted(*args, **kwargs):
        calls.append(args[1] if len(args) > 1 else kwargs.get("source"))
        return picked(*args, **kwargs)

    monkeypatch.setattr(report, "suite_dataset", counted)
    folder = shipped_suite_folder(tmp_path / "suite", table=lambda t: t[t["model"].isin(["mini-1", "mini-2"])])
    doc = report.write_plots(folder)
    assert len(calls) == 1, calls
    monkeypatch.undo()  # the checks are those of the dataset each step picks for itself
    runs, table = (read_table(folder / name) for name in ("runs.csv", "checkpoints.parquet"))
    assert doc["checks"] == report.suite_checks(runs, table)
    assert set(doc["checks"]["final_long_losses"]) == {"mini-1", "mini-2"}


def test_the_checks_name_the_loss_and_its_unit(tmp_path):
    """The JSON gave final_long_losses and token budgets as bare numbers: which loss, in what unit,
    at which step, and what the budget keys count, were nowhere."""
    from scalefit.trainer.report import suite_checks, suite_dataset

    folder = shipped_suite_folder(tmp_path / "suite", table=lambda t: t[t["model"].isin(["mini-1", "mini-2"])])
    runs, table = (read_table(folder / name) for name in ("runs.csv", "checkpoints.parquet"))
    long = table[(table["part"] == "long") & (table["dataset"] == suite_dataset(table))]
    last = long.groupby("model")["step"].max().min()
    units = suite_checks(runs, table)["units"]
    assert units["final_long_losses"] == (f"{suite_dataset(table)} loss in nats/token at the long runs' last "
                                          f"common step ({last:,})")
    assert "training tokens" in units["loss_falls_with_size_per_budget"]


def test_the_final_losses_come_with_their_standard_errors(tmp_path):
    """final_long_losses had no uncertainty though the table holds each loss's se (a bootstrap over
    the eval set's documents); a table without an se column gives none, and says none."""
    from scalefit.trainer.report import suite_checks, suite_dataset

    folder = shipped_suite_folder(tmp_path / "suite", table=lambda t: t[t["model"].isin(["mini-1", "mini-2"])])
    runs, table = (read_table(folder / name) for name in ("runs.csv", "checkpoints.parquet"))
    checks = suite_checks(runs, table)
    long = table[(table["part"] == "long") & (table["dataset"] == suite_dataset(table)) & (table["metric"] == "loss")]
    at_last = long[long["step"] == long.groupby("model")["step"].max().min()].set_index("model")["se"]
    for m in ("mini-1", "mini-2"):  # 2 significant digits of se; the loss to its last place, no finer
        se, loss = checks["final_long_losses_se"][m], checks["final_long_losses"][m]
        place = math.floor(math.log10(float(at_last[m]))) - 1
        assert se == round(float(at_last[m]), -place)
        assert len(repr(loss).split(".")[1]) <= -place
    assert "bootstrap over the eval set's documents" in checks["units"]["final_long_losses_se"]
    bare = suite_checks(runs, table.drop(columns=["se"]))
    assert "final_long_losses_se" not in bare and "final_long_losses_se" not in bare["units"]


def test_a_suite_with_no_plot_to_draw_gets_no_empty_plots_folder(tmp_path):
    """A suite of WSD runs only has no grid, long or warmup runs to plot: the report made an
    empty plots/ folder (staged and moved in whatever the plots) beside its tables."""
    from scalefit.trainer import report

    folder = shipped_suite_folder(tmp_path / "suite", runs=lambda r: r[r["part"] == "wsd"],
                                  table=lambda t: t[t["part"] == "wsd"])
    doc = report.write_plots(folder)
    assert doc["plots"] == []
    assert not (folder / "plots").exists()

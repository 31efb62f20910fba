"""reconcile.md says what its symbols are and what made it: G of N* = G C^a, how the Chinchilla
a's 95% interval was made, the data and command line, and what reconcile.csv's columns hold."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from scalefit.cli import main
from test_reconcile import isoflop_grid


@pytest.fixture(scope="module")
def walked(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("reconcile")
    path = tmp / "runs.csv"
    pd.concat([isoflop_grid(0.30, 0.36, "a", 1), isoflop_grid(0.40, 0.26, "b", 2)]).to_csv(
        path, index=False)
    result = CliRunner().invoke(main, ["reconcile", "--data", str(path), "--by", "condition",
                                       "--also-chinchilla", "--bootstrap", "4", "--seed", "3",
                                       "--out", str(tmp / "out")])
    assert result.exit_code == 0, result.output
    return path, result.stdout, (tmp / "out" / "reconcile.md").read_text(), \
        pd.read_csv(tmp / "out" / "reconcile.csv")


def test_the_report_defines_g_and_the_chinchilla_interval(walked):
    _, stdout, report, _ = walked
    g = "N*(C) = G C^a (N* in parameters, C in FLOPs)"
    chinchilla = ("a = beta / (alpha + beta); its 95% interval is the percentile interval of a "
                  "over 4 bootstrap resamples of the condition's runs, each refitted (seed 3)")
    for text in (stdout, report):
        assert "G (95% interval" in text  # the notes name G ...
        assert g in text and chinchilla in text  # ... and the walk says what it is


def test_the_report_names_its_data_command_and_columns(walked):
    path, _, report, table = walked
    assert f"Data: {path}." in report
    assert f"`scalefit reconcile --data {path} --by condition --also-chinchilla --bootstrap 4 " \
           "--seed 3`" in report
    files = report[report.index("## Files"):]
    assert "- reconcile.csv:" in files and "as in the input table" not in files
    for column in table.columns:
        assert f"  - `{column}`: " in files, column
    assert "  - `a`: allocation exponent a of N* ~ C^a, the isoflop fit" in files


def test_the_walk_plot_draws_an_interval_that_leaves_out_its_estimate():
    """A few resamples' percentiles can leave a outside its interval: the plot's yerr from a
    went negative and matplotlib refused it (reconcile --bootstrap 4 --out ended in a traceback)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from scalefit.scaling.laws.reconcile import Reconciliation, Step
    from scalefit.scaling.laws.reconcile_cli import plot_walk
    steps = [Step(panel="", condition="a", n_runs=9, a=0.50, a_lo=0.52, a_hi=0.60),
             Step(panel="", condition="b", n_runs=9, a=0.40, a_lo=0.35, a_hi=0.45)]
    rec = Reconciliation(by="condition", panel=[], law="isoflop", method="akima", n_bootstrap=4,
                         seed=0, steps=steps, moves=[], findings=[])
    fig = plot_walk(rec)
    ax = fig.axes[0]
    bars = [seg for coll in ax.collections for seg in coll.get_segments()]
    spans = sorted((float(seg[0][1]), float(seg[1][1])) for seg in bars)
    np.testing.assert_allclose(spans, [(0.35, 0.45), (0.52, 0.60)], rtol=1e-12)
    points = [line for line in ax.lines if line.get_marker() == "o"]
    assert list(points[0].get_ydata()) == [0.50, 0.40]
    plt.close(fig)

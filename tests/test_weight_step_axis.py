"""The step axis of the weight-statistic figures reads as the log axes of the other figures
(report.log_tick_values / log_tick_labels): 0, 1, 10, 100, not 0, 10^0, 10^1; step 0 stays drawn."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from scalefit.report import log_axis_with_zero, log_tick_labels, log_tick_values, save_figure  # noqa: E402
from scalefit.weightstats.plots import stat_vs_step_figure  # noqa: E402

PYTHIA_STEPS = [0, 1, 2, 4, 8, 16, 32, 64, 128, 256, 512, *range(1000, 143001, 1000)]


def step_labels(steps, groups=("attn", "mlp")):
    table = pd.DataFrame([{"model": "m", "step": s, "tensor": "*", "group": g, "layer": 0, "stat": "t_nu",
                           "value": 5 + np.log1p(s)} for s in steps for g in groups])
    fig = stat_vs_step_figure(table, "t_nu")
    fig.canvas.draw()
    ax = fig.axes[0]
    shown = [(float(x), label.get_text()) for x, label in zip(ax.get_xticks(), ax.get_xticklabels())
             if ax.get_xlim()[0] <= x <= ax.get_xlim()[1]]
    return fig, ax, shown


def test_a_short_run_reads_0_1_10_100():
    _, ax, shown = step_labels([0, 1, 2, 4, 8, 16, 64, 256, 1000, 4000])
    assert [label for _, label in shown] == ["0", "1", "10", "100", "1000"]
    assert ax.get_xscale() == "symlog" and ax.lines[0].get_xdata()[0] == 0  # step 0 drawn as before


def test_a_pythia_run_is_labelled_as_the_report_labels_its_log_axes(tmp_path):
    fig, ax, shown = step_labels(PYTHIA_STEPS)
    ticks = log_tick_values(1, ax.get_xlim()[1])
    assert shown == [(0.0, "0"), *zip(ticks, log_tick_labels(ticks))]
    save_figure(fig, tmp_path, "steps")  # saving (readable_log_axes) leaves the step axis as it is


@pytest.mark.parametrize("steps", [[0], [3, 5, 7]])
def test_edge_grids_keep_their_steps_labelled(steps):
    _, _, shown = step_labels(steps)
    assert shown and (shown[0] == (0.0, "0")) == (0 in steps)
    assert all("10^" not in label for _, label in shown)


@pytest.mark.parametrize("which", ["x", "y"])
def test_the_log_axis_with_zero_is_report_s_own_for_any_figure(which):
    """The step axis's ticks are report.log_axis_with_zero, beside readable_log_axes: any axes."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    values = [0, 3, 40, 900]
    ax.plot(*((values, [1, 2, 3, 4]) if which == "x" else ([1, 2, 3, 4], values)))
    log_axis_with_zero(ax, which)
    getattr(ax, f"set_{which}lim")(0, 900)
    fig.canvas.draw()
    axis = getattr(ax, f"{which}axis")
    lo, hi = axis.get_view_interval()
    shown = [label.get_text() for x, label in zip(axis.get_ticklocs(), axis.get_ticklabels()) if lo <= x <= hi]
    assert axis.get_scale() == "symlog" and shown == ["0", "1", "10", "100"]
    plt.close(fig)

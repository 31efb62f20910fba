"""The figures the commands write, checked without looking at pixels: tick labels that do not
overlap (their rendered bounding boxes), legends off the data, units on the axes, and projected
(extrapolated) parts drawn dashed and named in the legend."""
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from scalefit.report import log_tick_labels, log_tick_values, readable_log_axes  # noqa: E402


def overlapping_tick_labels(fig) -> list[tuple[str, str]]:
    """Pairs of drawn tick labels of one axis whose rendered boxes intersect."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    pairs = []
    for ax in fig.axes:
        for axis, coordinate in ((ax.xaxis, 0), (ax.yaxis, 1)):
            lo, hi = sorted(axis.get_view_interval())
            labels = [t for t in axis.get_ticklabels(which="both")
                      if t.get_visible() and t.get_text()
                      and lo <= t.get_position()[coordinate] <= hi]
            boxes = [t.get_window_extent(renderer) for t in labels]
            for i in range(len(labels)):
                for j in range(i + 1, len(labels)):
                    if boxes[i].overlaps(boxes[j]):
                        pairs.append((labels[i].get_text(), labels[j].get_text()))
    return pairs


def drawn_tick_labels(axis) -> list[str]:
    lo, hi = sorted(axis.get_view_interval())
    coordinate = 0 if axis.axis_name == "x" else 1
    return [t.get_text() for t in axis.get_ticklabels(which="both")
            if t.get_visible() and t.get_text() and lo <= t.get_position()[coordinate] <= hi]


def legend_covers_axes(ax, legend) -> bool:
    ax.figure.canvas.draw()
    renderer = ax.figure.canvas.get_renderer()
    return legend.get_window_extent(renderer).overlaps(ax.get_window_extent(renderer))


@pytest.fixture(scope="module")
def shipped_comparison():
    from scalefit.scaling.laws.cli import default_runs_path
    from scalefit.scaling.laws.compare import compare_laws
    from scalefit.scaling.laws.runtable import validate_runs
    runs = pd.read_csv(default_runs_path())
    runs = runs[runs["part"] == "grid"]
    comparison = compare_laws(runs, ("kaplan", "chinchilla"), n_bootstrap=0)
    return validate_runs(runs, "chinchilla").frame, comparison.fits


def test_log_ticks_of_a_short_range_are_few_and_plain():
    """A loss axis from 3.9 to 6.6 (a fifth of a decade) gets 4, 5, 6, not 4x10^0 6x10^0; N from
    2.6e5 to 1.8e6 three labels, not seven minor ones; one axis never mixes plain and 10^k."""
    assert log_tick_labels(log_tick_values(3.9, 6.6)) == ["4", "5", "6"]
    assert len(log_tick_values(2.6e5, 1.8e6)) == 3
    assert log_tick_labels(log_tick_values(1e18, 1e26))[0] == "$10^{18}$"
    assert len(log_tick_values(1e-30, 1e30)) <= 8
    labels = log_tick_labels(log_tick_values(4e-5, 0.2))
    assert all(label.startswith("$") for label in labels)
    assert len(log_tick_values(4.15, 4.32)) >= 2  # no whole mantissa inside: round numbers


def test_readable_log_axes_leaves_no_overlapping_labels():
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    ax.plot([2.6e5, 1.8e6], [6.3, 4.05])
    ax.set(xscale="log", yscale="log")
    readable_log_axes(fig)
    assert overlapping_tick_labels(fig) == []
    assert drawn_tick_labels(ax.yaxis) == ["5", "6"] or "4" in drawn_tick_labels(ax.yaxis)
    plt.close(fig)


def test_compare_loss_vs_n_is_readable(shipped_comparison):
    """The known defect: `compare kaplan chinchilla --out` wrote loss_vs_n.png with tick labels
    3x10^5 4x10^5 5x10^5 6x10^5 on top of one another and a legend over the runs; the loss
    axis named no unit."""
    from scalefit.scaling.laws.plots import plot_loss_vs_n
    frame, fits = shipped_comparison
    fig = plot_loss_vs_n(frame, fits)
    ax = fig.axes[0]
    assert overlapping_tick_labels(fig) == []
    assert not legend_covers_axes(ax, ax.get_legend())
    assert "nats/token" in ax.get_ylabel()
    texts = [t.get_text() for t in ax.get_legend().get_texts()]
    assert any(t.startswith("kaplan") for t in texts) and any(t.startswith("D = ") for t in texts)
    # the curves stay over the runs' own N: no unmarked projection beyond them
    n = frame["params"].to_numpy(float)
    for line in ax.get_lines():
        x = np.asarray(line.get_xdata(), float)
        if x.size:
            assert x.min() >= n.min() * (1 - 1e-9) and x.max() <= n.max() * (1 + 1e-9)
    plt.close(fig)


def test_frontiers_mark_the_projection(shipped_comparison):
    """Past the largest run the frontiers are dashed and the legend says that dashed is a
    projection; the 'largest run' marker text lies inside the axes (it was placed at the
    linear y limit before the log scale and fell out of view)."""
    from scalefit.scaling.laws.plots import plot_frontiers
    frame, fits = shipped_comparison
    fig = plot_frontiers(fits, frame)
    ax = fig.axes[0]
    c_max = frame["C"].max()
    dashed = [line for line in ax.get_lines() if line.get_linestyle() == "--" and len(line.get_xdata())]
    assert dashed and all(np.min(line.get_xdata()) >= c_max * (1 - 1e-9) for line in dashed)
    solid = [line for line in ax.get_lines() if line.get_linestyle() == "-" and len(line.get_xdata())]
    assert solid and all(np.max(line.get_xdata()) <= c_max * (1 + 1e-9) for line in solid)
    texts = [t.get_text() for t in ax.get_legend().get_texts()]
    assert any("projection" in t for t in texts)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    marker = [t for t in ax.texts if "largest run" in t.get_text()][0]
    assert ax.get_window_extent(renderer).contains(*marker.get_window_extent(renderer).p0)
    assert overlapping_tick_labels(fig) == []
    plt.close(fig)

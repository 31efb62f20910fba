"""The figures the commands write, checked without looking at pixels: tick labels that do not
overlap (their rendered bounding boxes), legends off the data, units on the axes, and projected
(extrapolated) parts drawn dashed and named in the legend."""
import re

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from scalefit.report import log_tick_labels, log_tick_values, readable_log_axes  # noqa: E402


def overlapping_tick_labels(fig) -> list[tuple[str, str]]:
    """Pairs of drawn tick labels of one axis whose rendered boxes intersect."""
    if not hasattr(fig.canvas, "get_renderer"):  # closed by save_figure: draw it again
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        FigureCanvasAgg(fig)
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
    assert log_tick_labels(log_tick_values(1e18, 1e26))[0] == "$\\mathdefault{10^{18}}$"
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


def test_predicted_curve_is_dashed_outside_the_fitted_steps():
    """predict curve drew one solid line from step 1, where the law was fitted from step 64 on
    (the text said 'extrapolated there', the figure did not); with no measured run the line is
    named a prediction no run checks; the loss axis has its unit."""
    from types import SimpleNamespace

    from scalefit.scaling.laws.schedule_plots import plot_curve
    steps = np.unique(np.geomspace(1, 3000, 80).astype(int)).astype(float)
    points = pd.DataFrame({"step": steps, "predicted": 4 + 3 * steps ** -0.3, "lr": 1e-3})
    fitted = pd.DataFrame({"step": [64.0, 500.0, 2400.0], "loss": [5.0, 4.5, 4.3]})
    fig = plot_curve(SimpleNamespace(points=points), fitted)
    ax = fig.axes[0]
    curve = [line for line in ax.get_lines() if line.get_color() == "C0"]
    solid = [line for line in curve if line.get_linestyle() == "-"]
    dashed = [line for line in curve if line.get_linestyle() == "--"]
    assert len(solid) == 1 and len(dashed) == 2
    x = np.asarray(solid[0].get_xdata(), float)
    assert x.min() >= 64 and x.max() <= 2400
    before, after = sorted(dashed, key=lambda line: np.min(line.get_xdata()))
    assert np.min(before.get_xdata()) == 1 and np.max(after.get_xdata()) == 3000
    assert fig.legends and not legend_covers_axes(ax, fig.legends[0])  # the curve fills corners
    texts = [t.get_text() for t in fig.legends[0].get_texts()]
    assert any(t.startswith("extrapolated") for t in texts)
    assert any("no run followed this schedule" in t for t in texts)
    assert "nats/token" in ax.get_ylabel()
    plt.close(fig)


def fake_gap():
    """A schedule_gap result with two point sets, as plot_schedule_gap reads it."""
    from types import SimpleNamespace
    sets = {}
    for i, name in enumerate(("kaplan", "grid")):
        flops = np.geomspace(1e12, 2e13, 8)
        sets[name] = SimpleNamespace(
            name=name, label=f"({i}) {name}", points=pd.DataFrame({"flops": flops, "loss": 20 * flops ** -0.05}),
            budgets=[{"flops": 2e14}, {"flops": 2e15}], largest_flops=2e13,
            frontier=lambda c, k=i: (19 + k) * np.asarray(c) ** -0.05, a=0.5 + 0.1 * i,
            a_ci95=(0.4, 0.7))
    return SimpleNamespace(sets=sets, settings={"dataset": "prose-val"},
                           shares={"a": {"value": 0.5, "ci95": (-0.1, 0.9), "identified": False}})


def test_schedule_gap_marks_its_projections_and_units():
    from scalefit.scaling.laws.schedule_plots import plot_schedule_gap
    fig = plot_schedule_gap(fake_gap())
    ax = fig.axes[0]
    for line in ax.get_lines():
        x = np.asarray(line.get_xdata(), float)
        if line.get_linestyle() == "--" and x.size:
            assert x.min() >= 2e13 * (1 - 1e-9)
    texts = [t.get_text() for t in ax.get_legend().get_texts()]
    assert any("projection" in t for t in texts)
    assert "nats/token" in ax.get_ylabel()
    assert overlapping_tick_labels(fig) == []
    plt.close(fig)


def test_schedule_gap_draws_an_interval_that_misses_its_estimate():
    """A percentile interval of few resamples (compare --schedules --bootstrap 2) can lie wholly on one
    side of a: the panel drew it as a - lo, hi - a, and matplotlib refused the negative length."""
    from scalefit.scaling.laws.schedule_plots import plot_schedule_gap
    gap = fake_gap()
    gap.sets["grid"].a_ci95 = (0.65, 0.8)  # a = 0.6
    fig = plot_schedule_gap(gap)
    ax_a = fig.axes[1]
    ends = sorted(x for line in ax_a.get_lines() for x in np.atleast_1d(line.get_xdata()))
    assert ends[0] >= 0.4 - 1e-9 and ends[-1] <= 0.8 + 1e-9  # drawn from its ends, not about a
    assert any(np.allclose(line.get_xdata(), [0.6]) for line in ax_a.get_lines())
    plt.close(fig)


def test_reconcile_walk_fits_a_page():
    """Porian et al.'s four panels were laid out in one row 22 inches wide, the axes a strip
    under 45-degree tick labels of whole sentences; now two panels a row, the conditions' names
    wrapped, every label inside the figure and off its neighbours."""
    from types import SimpleNamespace

    from scalefit.scaling.laws.reconcile_cli import plot_walk
    names = ["Reproducing Kaplan et al.", "Counting last layer FLOPs", "Correcting warmup",
             "Cosine decay", "Optimizer tuning (no decay)"]
    steps = []
    for panel, conditions in (("rw / summary_df.pickle.xz", names),
                              ("rw / summary_df_att.pickle.xz", [f"{n} (attention FLOPs)" for n in names[1:]]),
                              ("owt2 / summary_df_owt2.pickle.xz", names),
                              ("rw / tuned", ["Kaplan adjusted (tuned hparams, long warmup, Kaplan param count)"])):
        for i, condition in enumerate(conditions):
            a = 0.85 - 0.08 * i
            steps.append(SimpleNamespace(panel=panel, condition=condition, a=a, a_lo=a - 0.02, a_hi=a + 0.02,
                                         published_a=a, published_lo=a - 0.01, published_hi=a + 0.01,
                                         chinchilla_a=np.nan, chinchilla_lo=np.nan, chinchilla_hi=np.nan))
    fig = plot_walk(SimpleNamespace(steps=steps, law="isoflop", by="label"))
    assert fig.get_figwidth() <= 16
    assert overlapping_tick_labels(fig) == []
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    page = fig.bbox
    for ax in fig.axes:
        if not ax.get_visible():
            continue
        labels = [t.get_window_extent(renderer) for t in ax.get_xticklabels() if t.get_text()]
        for box in labels:
            assert page.x0 - 1 <= box.x0 and box.x1 <= page.x1 + 1 and box.y0 >= page.y0 - 1
        below = max(box.height for box in labels)
        assert ax.get_window_extent(renderer).height > 2 * below  # a plot, not a strip
    plt.close(fig)


def test_saved_figures_get_readable_log_ticks(tmp_path):
    """calibrate's distance axis (1 to 8) was labelled 10^0 2x10^0 3x10^0 4x10^0 6x10^0:
    save_figure now writes every log axis as readable_log_axes does (1 2 5)."""
    from scalefit.report import save_figure
    fig, ax = plt.subplots()
    ax.scatter([1.05, 2.0, 7.9], [1e-4, 1e-2, 0.1])
    ax.set(xscale="log", yscale="log")
    paths = save_figure(fig, tmp_path, "calibration")
    assert [p.name for p in paths] == ["calibration.png", "calibration.svg"]
    assert drawn_tick_labels(ax.xaxis) == ["1", "2", "5"]
    assert overlapping_tick_labels(fig) == []


def test_a_figure_drawn_twice_is_the_same_svg_file(tmp_path):
    """The shipped plots' SVGs changed on every redraw of the same table (a dc:date and random
    marker ids), so `suite report` on the shipped suite always left a diff: now the same bytes."""
    from scalefit.report import save_figure

    def draw(out):
        fig, ax = plt.subplots()
        ax.plot([1, 2, 3], [3.0, 2.5, 2.2], marker="o", label="mini-1")
        ax.legend()
        return save_figure(fig, out, "loss")

    first, second = draw(tmp_path / "a"), draw(tmp_path / "b")
    assert [p.read_bytes() for p in first] == [p.read_bytes() for p in second]
    assert b"<dc:date>" not in first[1].read_bytes()

    from scalefit.report import savefig_reproducible  # one file of a --plot's format: PDF too

    def draw_one(path):
        fig, ax = plt.subplots()
        ax.plot([1, 2, 3], [3.0, 2.5, 2.2])
        savefig_reproducible(fig, path, bbox_inches="tight")
        plt.close(fig)
        return path.read_bytes()

    for suffix in (".svg", ".pdf"):
        assert draw_one(tmp_path / f"a{suffix}") == draw_one(tmp_path / f"b{suffix}")


def test_transitions_of_many_runs_keep_the_legend_off_the_curves():
    """The shipped suite's 25 runs: the legend covered the upper left of the curves and a capped
    Student-t nu (1e4) pressed every other value onto 0; now the legend is beside the axes and a
    positive statistic over more than two decades gets a log axis. The capped values were joined
    to the measured ones by the run's line, as if nu had jumped to 1e4."""
    from scalefit.scaling.trajectories.plots import plot_transitions
    rows = []
    for i in range(12):
        for step in (1, 2, 4, 8, 16, 32, 64, 128, 256):
            rows.append({"model": f"run-{i}", "step": step, "lr": min(1.0, step / 16) * 1e-3,
                         "value": 1e4 if (i == 0 and step > 100) else 40 + 10 * i + step / 10})
    traj = pd.DataFrame(rows)
    transitions = pd.DataFrame({"model": ["run-1"], "step": [64.0], "step_ci95_lo": [32.0],
                                "step_ci95_hi": [128.0]})
    fig = plot_transitions(traj, transitions, "t_nu / attn_out")
    ax = fig.axes[0]
    assert ax.get_yscale() == "log"
    assert fig.legends and not legend_covers_axes(ax, fig.legends[0])
    assert overlapping_tick_labels(fig) == []
    # run-0's nu at the cap (1e4) is drawn as triangles off its line, and the title says why
    lines = [line for line in ax.get_lines() if line.get_linestyle() == "-" and len(line.get_xdata()) > 2]
    assert not any(np.isclose(np.asarray(line.get_ydata(), float), 1e4).any() for line in lines)
    marks = [line for line in ax.get_lines() if line.get_linestyle() == "None" and line.get_marker() == "^"]
    assert len(marks) == 1 and list(marks[0].get_xdata()) == [128, 256]
    assert "nu at cap 10000 (Gaussian)" in ax.get_title()
    plt.close(fig)


def test_relation_fit_is_dashed_where_no_fitted_pair_lies(tmp_path, monkeypatch):
    """predict downstream --holdout 2 on the shipped suite: the two held-out runs lie below the
    fitted pairs' losses, and the fit was drawn solid through them as if fitted there."""
    from click.testing import CliRunner

    from scalefit.cli import main
    from scalefit.scaling.relations import report
    figures = {}
    monkeypatch.setattr(report, "save_figure", lambda fig, out, stem: figures.setdefault(stem, fig))
    result = CliRunner().invoke(main, ["predict", "downstream", "--holdout", "2", "--bootstrap", "0",
                                       "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    ax = figures["relation"].axes[0]
    fitted_x = pd.read_csv(tmp_path / "pairs.csv")["x"].to_numpy(float)
    fit_lines = [line for line in ax.get_lines() if line.get_color() == "black"]
    for line in fit_lines:
        x = np.asarray(line.get_xdata(), float)
        if line.get_linestyle() == "-":
            assert x.min() >= fitted_x.min() and x.max() <= fitted_x.max()
    held_x = pd.read_csv(tmp_path / "holdout.csv")["x"].to_numpy(float)
    assert held_x.min() < fitted_x.min()  # so a dashed part must reach them
    dashed = [line for line in fit_lines if line.get_linestyle() == "--"]
    assert any(np.min(line.get_xdata()) <= held_x.min() for line in dashed)
    texts = [t.get_text() for t in ax.get_legend().get_texts()]
    assert any("extrapolated" in t for t in texts)
    plt.close(figures["relation"])


def test_weight_stat_lines_are_told_apart_beyond_ten():
    """weights plot of one model's 11 groups (excess_kurtosis of mini-3) drew attn_k and mlp_out
    in the same blue, solid: the 11th line repeated the 1st. Each line now has its own colour and
    dash; stacked panels name the step axis once, under the bottom panel of each column."""
    from scalefit.weightstats.plots import stat_vs_step_figure
    groups = [f"group_{i:02d}" for i in range(11)]
    table = pd.DataFrame([{"model": "m", "step": step, "tensor": "*", "group": group, "layer": -1,
                           "stat": "excess_kurtosis", "value": k + step / 100}
                          for k, group in enumerate(groups) for step in (0, 10, 100)])
    fig = stat_vs_step_figure(table, "excess_kurtosis")
    styles = [(line.get_color(), line.get_linestyle()) for line in fig.axes[0].get_lines()]
    assert len(styles) == 11 and len(set(styles)) == 11
    plt.close(fig)
    many = pd.concat([table.assign(model=f"m{i}") for i in range(13)], ignore_index=True)
    fig = stat_vs_step_figure(many, "excess_kurtosis")  # one panel per group, 3 columns
    shown = [ax for ax in fig.axes if ax.get_visible()]
    assert len(shown) == 11
    assert [ax.get_xlabel() for ax in shown] == [""] * 8 + ["step"] * 3
    fig.canvas.draw()
    assert [bool(drawn_tick_labels(ax.xaxis)) for ax in shown] == [False] * 8 + [True] * 3
    plt.close(fig)


def test_suite_report_figures_read_like_paper_figures(tmp_path, suite_report_figures):
    """suite report on the shipped mini suite: loss_vs_compute's loss axis read 4x10^0 5x10^0
    6x10^0 and its legend sat over the long runs' curves; the trajectory panels of a Student-t nu
    (capped at 1e4, most values 100-500) were linear, every curve pressed onto the floor. The
    figures are written to tmp_path (nothing in data/ changes) and kept for a look."""
    from scalefit.data import data_path
    from scalefit.trainer import report
    figures = suite_report_figures
    runs = pd.read_csv(data_path("suites", "mini", "runs.csv"))
    table = pd.read_parquet(data_path("suites", "mini", "checkpoints.parquet"))
    report.plot_loss_vs_compute(runs, table, tmp_path)
    report.plot_trajectories(table, [("t_nu", "attn_out"), ("std", "mlp_in")], tmp_path, "long",
                             "trajectories_long", "t")
    ax = figures["loss_vs_compute"].axes[0]
    assert all(not label.startswith("$") for label in drawn_tick_labels(ax.yaxis))
    assert overlapping_tick_labels(figures["loss_vs_compute"]) == []
    legend = ax.get_legend().get_window_extent(figures["loss_vs_compute"].canvas.get_renderer())
    for line in ax.get_lines():  # no curve passes under the legend
        xy = ax.transData.transform(np.column_stack([line.get_xdata(), line.get_ydata()]))
        assert not any(legend.contains(x, y) for x, y in xy)
    t_nu, std = figures["trajectories_long"].axes[:2]
    assert t_nu.get_yscale() == "log" and std.get_yscale() == "linear"
    for fig in figures.values():
        plt.close(fig)


def test_shape_bounds_come_from_the_family_registry():
    """The cap of a Student-t nu is the one its family declares, not a number copied into plots."""
    from scalefit.report import bound_label, shape_bound
    from scalefit.shapes import at_shape_bound as at_bound
    from scalefit.weightstats.families import FAMILIES
    lo, hi = FAMILIES["student_t"].shape_bounds[0]
    assert shape_bound("t_nu") == {"family": "student_t", "shape": "nu", "bounds": (lo, hi)}
    assert shape_bound("gennorm_beta")["bounds"] == FAMILIES["gennorm"].shape_bounds[0]
    assert shape_bound("std") is None and shape_bound("excess_kurtosis") is None
    assert list(at_bound([hi, hi * (1 - 1e-5), hi / 2, lo], hi)) == [True, True, False, False]
    assert bound_label("t_nu", "upper") == f"nu at cap {hi:g} (Gaussian)"


def long_run_table(values_by_model: dict, stat: str = "t_nu", group: str = "mlp_in") -> pd.DataFrame:
    """Pooled weight-statistic rows of long runs, as checkpoints.parquet holds them."""
    return pd.DataFrame([{"model": model, "step": step, "part": "long", "params": 1000 * (i + 1),
                          "warmup_steps": 10, "tensor": "*", "group": group, "layer": -1, "stat": stat,
                          "value": value}
                         for i, (model, values) in enumerate(values_by_model.items())
                         for step, value in zip((0, 1, 10, 100, 1000), values)])


def test_suite_trajectories_draw_a_capped_nu_apart_from_the_measured_ones(tmp_path, monkeypatch):
    """trajectories_long drew a t_nu at its fit's cap (1e4) as a plateau of measured values joined
    to the estimates by the lines (a jump from 200 to 10000 that no weight made); now the capped
    points are hollow triangles off the lines, one row per run, the legend and the panel title say
    'nu at cap ... (Gaussian)', and a statistic with no bound gets none."""
    from scalefit.report import shape_bound
    from scalefit.trainer import report
    cap = shape_bound("t_nu")["bounds"][1]
    figures = {}
    monkeypatch.setattr(report, "save_figure", lambda fig, out, stem: figures.setdefault(stem, fig) and [out])
    table = pd.concat([long_run_table({"a": [300, 300, 200, cap, cap], "b": [cap, cap, cap, cap, 400]}),
                       long_run_table({"a": [1, 1, 2, 3, 4], "b": [1, 1, 2, 3, 4]}, stat="std")])
    report.plot_trajectories(table, [("t_nu", "mlp_in"), ("std", "mlp_in")], tmp_path, "long", "traj", "t")
    fig = figures["traj"]
    nu, std = fig.axes[:2]
    lines = [line for line in nu.get_lines() if line.get_linestyle() != "None"]
    assert len(lines) == 2
    for line in lines:  # no capped value on a line
        y = np.asarray(line.get_ydata(), float)
        assert not np.any(np.isclose(y, cap, rtol=1e-3))
    capped = [line for line in nu.get_lines() if line.get_linestyle() == "None"]
    assert sorted(len(line.get_xdata()) for line in capped) == [2, 3]
    assert {line.get_marker() for line in capped} == {"^"} and all(line.get_mfc() == "none" for line in capped)
    assert {line.get_color() for line in capped} == {line.get_color() for line in lines}  # each run's colour
    fig.canvas.draw()  # both runs' triangles apart on screen, inside the axes
    a, b = (line.get_transform().transform([[100, cap]])[0][1] for line in capped)
    assert abs(a - b) >= 2
    assert nu.get_ylim()[1] >= cap
    assert f"nu at cap {cap:g} (Gaussian)" in nu.get_title()
    texts = [t.get_text() for t in fig.legends[0].get_texts()]
    assert any(t.startswith(f"nu at cap {cap:g} (Gaussian)") and "not a measured value" in t for t in texts)
    assert all(line.get_linestyle() != "None" for line in std.get_lines()) and "cap" not in std.get_title()
    plt.close(fig)


def test_suite_report_figures_are_saved_by_the_projects_one_writer(tmp_path):
    """suite report wrote its PNGs at its own 80 dpi (443 x 329 px for loss_vs_tokens) and no SVG;
    now every figure of it is a PNG at FIGURE_DPI with an SVG beside it, as save_figure writes."""
    from PIL import Image

    from scalefit.data import data_path
    from scalefit.report import FIGURE_DPI
    from scalefit.trainer import report
    table = pd.read_parquet(data_path("suites", "mini", "checkpoints.parquet"))
    png = report.plot_loss_vs_tokens(table, tmp_path)
    assert png == tmp_path / "loss_vs_tokens.png" and (tmp_path / "loss_vs_tokens.svg").is_file()
    with Image.open(png) as image:
        assert image.info["dpi"] == pytest.approx((FIGURE_DPI, FIGURE_DPI), abs=0.01)
        width = image.size[0]
    svg = (tmp_path / "loss_vs_tokens.svg").read_text()
    points = float(re.search(r'<svg[^>]* width="([0-9.]+)pt"', svg).group(1))  # 72 to the inch
    assert width == pytest.approx(points / 72 * FIGURE_DPI, abs=2)  # the same figure, at FIGURE_DPI


def test_suite_loss_vs_tokens_says_what_it_draws(monkeypatch, tmp_path):
    """loss_vs_tokens started at 10^3 tokens with no word that step 0 (0 tokens) was dropped; its
    title said only 'Long runs' and the legend named the runs without their sizes."""
    from scalefit.trainer import report
    figures = {}
    monkeypatch.setattr(report, "save_figure", lambda fig, out, stem: figures.setdefault(stem, fig) and [out])
    table = pd.DataFrame([{"model": f"m{i}", "step": step, "tokens": 512 * step, "part": "long", "size": None,
                           "dataset": "prose-val", "metric": "loss", "value": 8 - i / 10 - np.log1p(step) / 3,
                           "params": 10 ** (5 + i), "params_nonembed": 10 ** (4 + i), "flops": 0}
                          for i in range(3) for step in (0, 2, 20, 200)])
    report.plot_loss_vs_tokens(table, tmp_path)
    fig = figures["loss_vs_tokens"]
    ax = fig.axes[0]
    title = ax.get_title()
    assert "from step 2 (1,024 tokens)" in title and "step 0" in title and "7.80-8.00" in title
    assert "tokens" in ax.get_xlabel() and "nats/token" in ax.get_ylabel()
    assert all(np.min(line.get_xdata()) > 0 for line in ax.get_lines())
    texts = [t.get_text() for t in ax.get_legend().get_texts()]
    assert texts == ["m0 (10,000 non-emb. params)", "m1 (100,000 non-emb. params)", "m2 (1,000,000 non-emb. params)"]
    fig.canvas.draw()
    legend = ax.get_legend().get_window_extent(fig.canvas.get_renderer())
    for line in ax.get_lines():  # no curve passes under the legend
        xy = ax.transData.transform(np.column_stack([line.get_xdata(), line.get_ydata()]))
        assert not any(legend.contains(x, y) for x, y in xy)
    assert overlapping_tick_labels(fig) == []
    plt.close(fig)


def test_grid_prediction_says_what_its_numbers_are():
    """predict curve --grid-test: the legend read 'naive (2.64%)' with no word of what 2.64% is,
    the y = x line had no name and the losses no unit."""
    from types import SimpleNamespace

    from scalefit.scaling.laws.schedule_plots import plot_grid_prediction
    measured = np.array([4.4, 4.8, 5.3, 6.2])
    targets = pd.DataFrame({"measured": measured, "naive": measured * 0.97,
                            "naive_rel_error": np.full(4, -0.03)})
    fig = plot_grid_prediction(SimpleNamespace(targets=targets, lambda_profile=None))
    ax = fig.axes[0]
    texts = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "naive (mean |rel. error| 3.00%)" in texts and "predicted = measured" in texts
    assert "nats/token" in ax.get_xlabel() and "nats/token" in ax.get_ylabel()
    plt.close(fig)


def test_init_study_loss_axis_gives_the_thresholds_room(tmp_path, monkeypatch):
    """init-study on the shipped runs: mini-3's 'family' init starts at 27 nats, and on a linear
    axis the thresholds (4.7 to 6.5 nats) and every final loss shared the bottom sixth of the
    panel; the loss axis is now logarithmic (said in its label). The step axis began at step 1,
    leaving out the loss each init starts from; the dotted thresholds said no loss."""
    from click.testing import CliRunner

    from scalefit.cli import main
    from scalefit.data import INIT_STUDY_CHECKPOINTS, data_path
    from scalefit.scaling.trajectories import init_study_cli
    if not data_path(*INIT_STUDY_CHECKPOINTS).is_file():
        pytest.skip("the init study is not shipped in this install")
    figures = {}
    monkeypatch.setattr(init_study_cli, "save_figure", lambda fig, out, stem: figures.setdefault(stem, fig))
    result = CliRunner().invoke(main, ["init-study", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    thresholds = pd.read_csv(tmp_path / "thresholds.csv")
    for ax, (size, levels) in zip(figures["loss_curves"].axes, thresholds.groupby("size", sort=False)):
        assert ax.get_yscale() == "log" and "nats/token" in ax.get_ylabel()
        # step 0, the loss each init starts from (27 nats for mini-3's 'family'), is drawn
        assert all(np.min(line.get_xdata()) == 0 for line in ax.get_lines() if len(line.get_xdata()) > 2)
        assert ax.get_xlim()[0] == 0
        labels = [t.get_text() for t in ax.texts]  # each dotted threshold says its loss
        assert [label.split()[0] for label in labels] == [f"{v:.2f}" for v in levels["loss"]], size
    assert overlapping_tick_labels(figures["loss_curves"]) == []
    plt.close(figures["loss_curves"])


def test_sweep_loss_plot_of_a_whole_suite(tmp_path, monkeypatch):
    """An eval sweep of Pythia's 16 models drew the 11th to 16th models in the colours of the
    1st to 6th, and named all 16 in a legend over the curves of the first panel."""
    from scalefit.sweep import report
    figures = {}
    monkeypatch.setattr(report, "save_figure", lambda fig, out, stem: figures.setdefault(stem, fig))
    evals = pd.DataFrame([{"model": f"pythia-{i:02d}", "step": step, "tokens": step * 2097152,
                           "dataset": "pile-val", "metric": "loss", "value": 4 - 0.05 * i - step / 1e5}
                          for i in range(16) for step in (0, 1000, 10000, 143000)])
    report.plot_losses(evals, tmp_path)
    fig = figures["loss_vs_tokens"]
    styles = [(line.get_color(), line.get_linestyle()) for line in fig.axes[0].get_lines()]
    assert len(styles) == 16 and len(set(styles)) == 16
    assert fig.axes[0].get_legend() is None and fig.legends
    assert not legend_covers_axes(fig.axes[0], fig.legends[0])
    plt.close(fig)


def test_fitted_schedule_curves_name_the_unit_and_each_run():
    """fit schedule-law --out: the loss axis said 'loss' with no unit, and with more than ten
    runs (--by-size over a suite) the 11th run took the 1st's colour and line."""
    from scalefit.scaling.laws.schedule_plots import plot_fitted_curves
    table = pd.DataFrame([{"model": f"run-{i}", "step": step, "loss": 5 - i / 10 - step / 1e4,
                           "fitted": 5 - i / 10 - step / 1e4} for i in range(11) for step in (10, 100, 1000)])
    fig = plot_fitted_curves(table, "momentum")
    ax = fig.axes[0]
    assert "nats/token" in ax.get_ylabel()
    fits = [(line.get_color(), line.get_linestyle()) for line in ax.get_lines() if line.get_linestyle() != "None"]
    assert len(fits) == 11 and len(set(fits)) == 11
    plt.close(fig)


def test_every_compared_law_is_drawn():
    """compare kaplan chinchilla kaplan-nde kaplan-n kaplan-c --out: the plots had four colours
    and zip() left the fifth law (kaplan-c) off the residuals without a word; kaplan-n, a law of N
    alone, was drawn three times over (one per D level) as if D moved it."""
    from scalefit.scaling.laws.cli import default_runs_path
    from scalefit.scaling.laws.compare import compare_laws
    from scalefit.scaling.laws.plots import plot_loss_vs_n, plot_residuals
    from scalefit.scaling.laws.runtable import validate_runs
    runs = pd.read_csv(default_runs_path())
    runs = runs[runs["part"] == "grid"]
    laws = ("kaplan", "chinchilla", "kaplan-nde", "kaplan-n", "kaplan-c")
    fits = compare_laws(runs, laws, n_bootstrap=0).fits
    frame = validate_runs(runs, "chinchilla").frame
    fig = plot_residuals(frame, fits)
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()] == list(laws)
    plt.close(fig)
    fig = plot_loss_vs_n(frame, fits)
    texts = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    n_alone = [t for t in texts if t.startswith("kaplan-n ") or t == "kaplan-n"][0]
    assert n_alone.endswith("any D")
    colors = {line.get_color() for line in fig.axes[0].get_legend().get_lines()[:4]}
    assert len(colors) == 4
    kaplan_n = fig.axes[0].get_legend().get_lines()[texts.index(n_alone)].get_color()
    assert sum(line.get_color() == kaplan_n for line in fig.axes[0].get_lines()) == 1
    plt.close(fig)


def test_calibration_legend_is_off_the_predictions():
    """calibrate chinchilla on Hoffmann et al.'s runs (hundreds of predictions out to 2000x):
    the legend in the lower right covered predictions there, and the few misses (red crosses)
    were drawn under the hits."""
    from types import SimpleNamespace

    from scalefit.scaling.laws.calibrate_report import plot_calibration
    rng = np.random.default_rng(0)
    distance = np.geomspace(1, 2000, 300)
    preds = pd.DataFrame({"distance": distance, "relative_error": rng.lognormal(-4, 1, 300),
                          "interval_half_width": rng.lognormal(-2.5, 1, 300),
                          "inside": np.arange(300) % 50 != 0})
    fig = plot_calibration(SimpleNamespace(predictions=preds, law="chinchilla", coverage=0.98))
    ax = fig.axes[0]
    assert ax.get_legend() is None and fig.legends
    assert not legend_covers_axes(ax, fig.legends[0])
    inside, outside = ax.collections[:2]
    assert outside.get_zorder() > inside.get_zorder()
    assert overlapping_tick_labels(fig) == []
    plt.close(fig)


def test_loss_vs_n_draws_its_curves_at_the_runs_own_token_counts():
    """The curves of loss_vs_n are drawn at token counts of the runs (the 10th/50th/90th
    percentile fell at 8.4e5 on the shipped grid of 2.5e5, 5.3e5, 1.1e6, 2.5e6: no run's count)."""
    from scalefit.scaling.laws.plots import token_levels

    grid = np.repeat([245760.0, 532480.0, 1146880.0, 2457600.0], 5)
    levels = token_levels(grid)
    assert len(levels) == 3 and set(levels) <= set(grid)
    assert levels.min() == grid.min() and levels.max() == grid.max()
    assert list(token_levels(np.array([1e6, 1e6, 2e6]))) == [1e6, 2e6]
    spread = np.geomspace(1e8, 1e11, 40)
    assert set(token_levels(spread)) <= set(spread) and len(token_levels(spread)) == 3


def test_weights_plot_runs_on_the_shipped_suite_with_the_legend_off_the_lines(tmp_path):
    """`weights plot` with no --data reads the shipped suite's checkpoints, as every analysis
    command does; one group over its 25 runs drew the legend over the lines, now beside them."""
    from click.testing import CliRunner

    from scalefit.cli import main
    from scalefit.data import MINI_CHECKPOINTS, data_path
    from scalefit.tables import read_table
    from scalefit.weightstats.plots import stat_vs_step_figure

    result = CliRunner().invoke(main, ["weights", "plot", "--stat", "excess_kurtosis", "--group",
                                       "mlp_in", "--out", str(tmp_path), "--json"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "excess_kurtosis_vs_step.png").exists()
    table = read_table(data_path(*MINI_CHECKPOINTS))
    fig = stat_vs_step_figure(table, "excess_kurtosis", groups=["mlp_in"])
    ax = fig.axes[0]
    assert len(ax.lines) > 12 and ax.get_legend() is None and len(fig.legends) == 1
    plt.close(fig)

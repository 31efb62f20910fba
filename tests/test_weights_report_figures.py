"""The weights report lays out each figure once for both files: savefig(bbox_inches="tight") laid
out and drew the figure a second time per format (four draws, two constrained layouts per figure),
about 2 s a figure on a suite. Same picture: the PNG is the one `save_figure` writes, pixel for
pixel."""
from __future__ import annotations

import matplotlib
import numpy as np
import pandas as pd
import pytest

matplotlib.use("Agg")


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    """Five runs x four groups of one statistic: more lines than one axes holds, so one panel per
    group (constrained layout, the legend outside), as a suite's report draws it."""
    rng = np.random.default_rng(0)
    rows = [{"model": f"run-{m}", "step": step, "tensor": "*", "group": group, "layer": -1, "stat": "t_nu",
             "value": 5 + np.log1p(step) + m + rng.random()}
            for m in range(5) for group in ("attn_qkv", "attn_out", "mlp_in", "mlp_out")
            for step in (0, 1, 2, 4, 8, 16, 32, 64)]
    return pd.DataFrame(rows)


def test_each_figure_is_laid_out_once_for_both_files(table, tmp_path, monkeypatch):
    from matplotlib.figure import Figure
    from matplotlib.layout_engine import ConstrainedLayoutEngine

    from scalefit.weightstats.report import stat_plot

    draws, layouts = [], []
    draw, execute = Figure.draw, ConstrainedLayoutEngine.execute
    monkeypatch.setattr(Figure, "draw", lambda self, renderer: (draws.append(1), draw(self, renderer))[1])
    monkeypatch.setattr(ConstrainedLayoutEngine, "execute",
                        lambda self, fig: (layouts.append(1), execute(self, fig))[1])
    paths = stat_plot(table, "t_nu", tmp_path)
    assert [p.name for p in paths] == ["t_nu_vs_step.png", "t_nu_vs_step.svg"]
    assert (len(layouts), len(draws)) == (1, 3)  # one layout (a draw that renders nothing), one draw per file


@pytest.mark.parametrize("runs", [1, 5])  # one axes; one panel per group
def test_a_capped_student_t_nu_is_marked_not_drawn_as_a_value(table, runs):
    """t_nu at its fit cap (1e4: tails no heavier than a Gaussian's) was drawn on the line as a
    measured value, a jump from ~10 to 10,000; the suite report's figures already marked it."""
    import matplotlib.pyplot as plt

    from scalefit.shapes import SHAPE_BOUNDS
    from scalefit.weightstats.plots import stat_vs_step_figure

    cap = SHAPE_BOUNDS["t_nu"][2][1]
    capped = table[table["model"].isin([f"run-{m}" for m in range(runs)])].copy()
    at_cap = capped["step"].isin([2, 4])
    capped.loc[at_cap, "value"] = cap
    fig = stat_vs_step_figure(capped, "t_nu")
    try:
        lines = [line for ax in fig.axes for line in ax.lines]
        drawn = np.concatenate([line.get_ydata() for line in lines if line.get_linestyle() != "None"])
        assert not np.any(np.isclose(drawn, cap)) and np.isnan(drawn).sum() == at_cap.sum()
        marks = [line for line in lines if line.get_linestyle() == "None" and line.get_marker() == "^"]
        assert sum(len(line.get_xdata()) for line in marks) == at_cap.sum()
        legend = (fig.legends or [ax.get_legend() for ax in fig.axes if ax.get_legend()])[0]
        assert any("the fit's bound, not a measured value" in t.get_text() for t in legend.get_texts())
    finally:
        plt.close(fig)


def test_the_histogram_legend_gives_a_capped_nu_as_the_cap():
    """Weights with tails lighter than a Gaussian's (uniform) put Student-t nu at its cap: the
    legend read 'nu=1e+04', as if measured."""
    import matplotlib.pyplot as plt

    from scalefit.shapes import bounds_of
    from scalefit.weightstats.binned_fit import fit_families, standardized_histogram
    from scalefit.weightstats.plots import histogram_figure

    hist = standardized_histogram(np.random.default_rng(0).uniform(-0.03, 0.03, 20_000))
    fits = fit_families(hist, ["gaussian", "student_t"])
    assert np.isclose(fits.fits["student_t"].params["nu"], bounds_of("t_nu")[1], rtol=1e-3)
    fig = histogram_figure(hist, fits)
    try:
        texts = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
        assert any(t.startswith("Student-t") and "nu at cap 10000 (Gaussian)" in t for t in texts), texts
        assert not any("nu=1e+04" in t for t in texts)
    finally:
        plt.close(fig)

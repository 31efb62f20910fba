"""save_figure, which writes every figure of the project (suite report, fit/compare/predict --out,
trajectories, weights), lays each figure out once for its PNG and SVG: savefig(bbox_inches="tight")
laid out and drew the whole figure a second time per format (four draws, two constrained layouts).
Same picture: the PNG is the one savefig(bbox_inches="tight") writes, pixel for pixel."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.image as mpimg  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

LAYOUTS = ("constrained", "tight_layout", "none")


def figure(layout: str):
    """A small figure of each kind the project draws: constrained layout with its legend outside
    the axes (suite report, weights), fig.tight_layout() called by the plot (trajectories), and
    no layout at all; log axes, so save_figure's readable ticks apply."""
    fig, axes = plt.subplots(1, 2, figsize=(6.4, 3.2), layout="constrained" if layout == "constrained" else None)
    steps = np.array([1, 2, 4, 8, 16, 32, 64, 128])
    for ax in axes:
        for i in range(4):
            ax.plot(steps, 3.0 + i / 4 + 2.0 / np.sqrt(steps), marker="o", label=f"run-{i} (a long legend entry)")
        ax.set(xscale="log", yscale="log", xlabel="step", ylabel="loss (nats/token)")
    fig.legend(*axes[0].get_legend_handles_labels(), loc="outside right upper" if layout == "constrained"
               else "center left", bbox_to_anchor=None if layout == "constrained" else (1.0, 0.5))
    fig.suptitle(f"a title ({layout})")
    fig.legend(*axes[1].get_legend_handles_labels(), ncols=4, loc="outside lower center"
               if layout == "constrained" else "lower center")
    if layout == "tight_layout":
        fig.tight_layout()
    return fig


@pytest.mark.parametrize("layout", LAYOUTS)
def test_each_figure_is_laid_out_once_and_drawn_once_per_file(layout, tmp_path, monkeypatch):
    from matplotlib.figure import Figure
    from matplotlib.layout_engine import ConstrainedLayoutEngine

    from scalefit.report import save_figure

    fig = figure(layout)
    draws, layouts = [], []
    draw, execute = Figure.draw, ConstrainedLayoutEngine.execute
    monkeypatch.setattr(Figure, "draw", lambda self, renderer: (draws.append(1), draw(self, renderer))[1])
    monkeypatch.setattr(ConstrainedLayoutEngine, "execute",
                        lambda self, fig: (layouts.append(1), execute(self, fig))[1])
    paths = save_figure(fig, tmp_path, "f")
    assert [p.name for p in paths] == ["f.png", "f.svg"] and all(p.stat().st_size for p in paths)
    # one layout (a draw that renders nothing), then one draw per file; the old savefig(bbox_inches=
    # "tight") drew four times and ran the constrained layout twice
    assert (len(layouts), len(draws)) == (layout == "constrained", 3)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_the_png_is_the_tight_bbox_one(layout, tmp_path):
    """Nothing clipped or moved: the PNG equals savefig(bbox_inches="tight") at FIGURE_DPI, and the
    SVG holds the same marks, on the page savefig(bbox_inches="tight") gives it on the one layout."""
    from scalefit.report import FIGURE_DPI, readable_log_axes, save_figure

    png, svg = save_figure(figure(layout), tmp_path / "once", "f")
    theirs, laid_out = figure(layout), figure(layout)
    (tmp_path / "tight").mkdir()
    readable_log_axes(theirs)
    theirs.savefig(tmp_path / "tight" / "f.png", dpi=FIGURE_DPI, bbox_inches="tight")
    theirs.savefig(tmp_path / "tight" / "f.svg", bbox_inches="tight")
    readable_log_axes(laid_out)  # savefig's own SVG box, on the layout computed at the PNG's dpi
    laid_out.set_dpi(FIGURE_DPI)
    laid_out.draw_without_rendering()
    laid_out.set_layout_engine("none")
    laid_out.savefig(tmp_path / "laid_out.svg", bbox_inches="tight")
    for fig in (theirs, laid_out):
        plt.close(fig)
    ours, reference = mpimg.imread(png), mpimg.imread(tmp_path / "tight" / "f.png")
    assert ours.shape == reference.shape and np.array_equal(ours, reference)
    mine, tight = svg.read_text(), (tmp_path / "tight" / "f.svg").read_text()
    assert mine.count("<path") == tight.count("<path") and mine.count("<use") == tight.count("<use")
    assert svg_page(mine) == svg_page((tmp_path / "laid_out.svg").read_text())


def svg_page(text: str) -> tuple[str, str]:
    import re

    return tuple(re.search(rf'{side}="([\d.]+)pt"', text).group(1) for side in ("width", "height"))

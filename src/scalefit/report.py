"""Writing a command's results: JSON on stdout, and a report folder (Markdown, CSV, PNG+SVG)."""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd

from scalefit.shapes import SHAPE_BOUNDS, at_shape_bound


def to_jsonable(obj):
    """Convert numpy scalars/arrays, NaN and inf, dataclasses-as-dicts into plain JSON values; a
    missing value of pandas' nullable columns (pd.NA, NaT: the sweep tables' Int64 counts) is null."""
    if obj is pd.NA or obj is pd.NaT:
        return None
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return [to_jsonable(v) for v in obj.tolist()]
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (np.floating, float)):
        value = float(obj)
        return value if math.isfinite(value) else None
    if isinstance(obj, np.bool_):
        return bool(obj)
    return obj


def dumps(obj, *, indent: int | None = 2, default=None) -> str:
    """One JSON document, NaN/inf written as null so every parser accepts it (``default``: how
    to write what JSON has no form for, as json.dumps takes it)."""
    return json.dumps(to_jsonable(obj), indent=indent, allow_nan=False, default=default)


def as_read_back(obj):
    """``obj`` as a JSON file written by ``dumps`` (atomic.write_json) reads back: NaN as None,
    tuples as lists, what JSON has no form for as its str; for comparing settings with a record."""
    return json.loads(dumps(obj, default=str))


LOG_TICK_SUBS = ((1.0,), (1.0, 2.0, 5.0), (1.0, 2.0, 3.0, 5.0), (1.0, 2.0, 3.0, 4.0, 6.0),
                 (1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 8.0))  # labelled mantissas on a log axis, fewest first
PLAIN_TICKS = (1e-3, 1e5)  # tick values in this range are written as plain numbers (4, 0.5, 2000)


def log_tick_values(lo: float, hi: float) -> list[float]:
    """Labelled ticks of a log axis from lo to hi: whole decades where they give three ticks, else
    the fewest mantissas (1-2-5, then more) that do, or two; over many decades every few decades;
    within a narrow range (4.1 to 4.5) evenly spaced round numbers."""
    lo, hi = sorted((float(lo), float(hi)))
    if not (lo > 0 and math.isfinite(hi)):
        return []
    first, last = math.floor(math.log10(lo)), math.ceil(math.log10(hi))
    two = None
    for subs in LOG_TICK_SUBS:
        ticks = [m * 10.0 ** k for k in range(first, last + 1) for m in subs]
        ticks = [t for t in ticks if lo * (1 - 1e-9) <= t <= hi * (1 + 1e-9)]
        if len(ticks) >= 3:
            every = math.ceil(len(ticks) / 8)  # at most 8 labels however many decades
            return ticks[::every]
        two = two or (ticks if len(ticks) == 2 else None)
    if two:
        return two
    from matplotlib.ticker import MaxNLocator
    return [float(t) for t in MaxNLocator(3, steps=[1, 2, 5, 10]).tick_values(lo, hi) if lo <= t <= hi]


def log_tick_labels(values) -> list[str]:
    """Labels of one log axis's ticks: all plain (0.5, 4, 2000) when every tick lies in
    PLAIN_TICKS, else all m x 10^k in mathtext, so one axis never mixes the two."""
    values = [float(v) for v in values]
    plain = all(PLAIN_TICKS[0] <= v < PLAIN_TICKS[1] for v in values)
    labels = []
    for value in values:
        if value <= 0 or not math.isfinite(value):
            labels.append("")
        elif plain:
            labels.append(f"{value:g}")
        else:
            exponent = math.floor(math.log10(value) + 1e-9)
            mantissa = round(value / 10.0 ** exponent, 6)
            text = (f"10^{{{exponent}}}" if mantissa == 1 else
                    f"{mantissa:g}\\times10^{{{exponent}}}")
            labels.append(f"$\\mathdefault{{{text}}}$")  # the text's font, as matplotlib's own
    return labels


def readable_log_axes(fig) -> None:
    """Every log axis of fig: labels only at log_tick_values (never matplotlib's crowded minor
    labels such as 3x10^5 4x10^5 6x10^5 side by side), unlabelled minor ticks between. The ticks
    follow the limits when they change later."""
    from matplotlib import ticker

    class ReadableLogLocator(ticker.LogLocator):  # LogLocator's limits, these ticks
        def tick_values(self, vmin, vmax):
            return np.array(log_tick_values(vmin, vmax))

    for ax in fig.axes:
        for axis, scale in ((ax.xaxis, ax.get_xscale()), (ax.yaxis, ax.get_yscale())):
            if scale != "log":
                continue
            axis.set_major_locator(ReadableLogLocator())
            axis.set_major_formatter(_log_tick_formatter())
            axis.set_minor_formatter(ticker.NullFormatter())


def _log_tick_formatter():
    """The labels of readable_log_axes and log_axis_with_zero: log_tick_labels of the drawn
    positive ticks, taken together so one axis never mixes plain and 10^k labels; 0 is '0'."""
    from matplotlib import ticker

    class LogTickFormatter(ticker.Formatter):
        labels: dict = {}

        def set_locs(self, locs):
            positive = [x for x in locs if x > 0]
            self.labels = {**dict(zip(positive, log_tick_labels(positive))), 0.0: "0"}

        def __call__(self, x, pos=None):
            return self.labels.get(x) or ("0" if x == 0 else log_tick_labels([x])[0])

    return LogTickFormatter()


def log_axis_with_zero(ax, which: str = "x") -> None:
    """A log axis that also shows 0 (a step axis from step 0): symlog, linear below 1, labelled
    as readable_log_axes labels the log axes: 0, then log_tick_values from 1 with their labels
    (1, 10, 100, 1000; not 10^0, 10^1), following the limits when they change."""
    from matplotlib import ticker

    class ZeroLogLocator(ticker.Locator):
        def __call__(self):
            return self.tick_values(*self.axis.get_view_interval())

        def tick_values(self, vmin, vmax):
            vmin, vmax = sorted((float(vmin), float(vmax)))
            zero = [0.0] if vmin <= 0 <= vmax else []
            return np.array(zero + (log_tick_values(max(vmin, 1.0), vmax) if vmax > 1 else []))

    getattr(ax, f"set_{which}scale")("symlog", linthresh=1.0)  # the ticks above start at 1
    axis = getattr(ax, f"{which}axis")
    axis.set_major_locator(ZeroLogLocator())
    axis.set_major_formatter(_log_tick_formatter())
    axis.set_minor_formatter(ticker.NullFormatter())


LINE_STYLES = ("-", "--", ":", "-.")


def distinct_line_style(i: int) -> dict:
    """Colour and dash of the i-th line of one axes: the ten tab10 colours, then the same colours
    dashed, dotted, dash-dotted (an 11th line drawn like the 1st reads as the same series)."""
    return {"color": f"C{i % 10}", "linestyle": LINE_STYLES[(i // 10) % len(LINE_STYLES)]}


LOG_AXIS_SPAN = 20  # positive values spanning more than this factor are drawn on a log axis


def needs_log_axis(values) -> bool:
    """Positive values spanning more than LOG_AXIS_SPAN: on a linear axis the largest (a capped
    Student-t nu of 1e4) press every other onto 0."""
    values = np.asarray(values, float)
    values = values[np.isfinite(values)]
    return bool(values.size and values.min() > 0 and values.max() / values.min() > LOG_AXIS_SPAN)


BOUND_MEANINGS = {("student_t", "upper"): "Gaussian"}  # what a shape at its bound says of the weights


def shape_bound(stat: str) -> dict | None:
    """The fit bounds of a distribution family's shape statistic (t_nu: Student-t nu, fitted
    within the bounds the family in weightstats.families declares), None for any other statistic.
    A value at a bound is the bound, not an estimate: figures mark it (plot_marking_bounds)."""
    found = SHAPE_BOUNDS.get(stat)
    return None if found is None else {"family": found[0], "shape": found[1], "bounds": found[2]}


def bound_label(stat: str, side: str) -> str:
    """Legend text of points at a shape's bound: 'nu at cap 1e+04 (Gaussian)'."""
    info = shape_bound(stat)
    bound = info["bounds"][side == "upper"]
    meaning = BOUND_MEANINGS.get((info["family"], side))
    word = "cap" if side == "upper" else "floor"
    return f"{info['shape']} at {word} {bound:g}" + (f" ({meaning})" if meaning else ", not an estimate")


BOUND_ROWS = 5  # rows of triangles under a bound: deeper, they would read as values below it


def plot_marking_bounds(ax, x, y, stat: str, stack: int = 0, **style) -> list[str]:
    """Plot y against x as a line (style: plot's keywords), except where y sits at a family
    shape's fit bound (shape_bound): those points are hollow triangles at the bound, off the line
    (a jump from 200 to a capped 1e4 is no measured change); the stack-th run's triangles sit
    2.5 points per stack inside the bound (BOUND_ROWS rows, then again from the bound), so runs
    capped at one step do not hide one another. Returns the sides ('upper', 'lower') marked."""
    from matplotlib.transforms import ScaledTranslation

    x, y = np.asarray(x, float), np.asarray(y, float)
    info = shape_bound(stat)
    sides, free = [], np.ones(y.shape, bool)
    for side, bound, marker in zip(("lower", "upper"), info["bounds"] if info else (), ("v", "^")):
        at = at_shape_bound(y, bound)
        if at.any():
            sides.append(side)
            free &= ~at
            inside = (-2.5 if side == "upper" else 2.5) * (stack % BOUND_ROWS) / 72  # inches
            ax.plot(x[at], y[at], linestyle="none", marker=marker, ms=4, mfc="none", mew=0.8, zorder=3,
                    color=style.get("color"),
                    transform=ax.transData + ScaledTranslation(0, inside, ax.figure.dpi_scale_trans))
            ax.update_datalim(np.column_stack([x[at], y[at]]))  # an offset line is not autoscaled
    ax.plot(x, np.where(free, y, np.nan), **style)
    return sides


def fitted_and_extrapolated(x, lo: float, hi: float) -> list[tuple[slice, bool]]:
    """Parts of a curve drawn at ascending x: (slice, inside) for the part within the fitted range
    [lo, hi] and the parts before and after it (inside False: extrapolated, to be drawn dashed and
    named so). Neighbouring parts share their boundary point, so the line stays unbroken."""
    x = np.asarray(x, float)
    inside = np.flatnonzero((x >= lo) & (x <= hi))
    if not inside.size:
        return [(slice(0, len(x)), False)]
    first, last = int(inside[0]), int(inside[-1])
    parts = [(slice(first, last + 1), True)]
    return parts + [(part, False) for part in (slice(0, first + 1), slice(last, len(x)))
                    if part.stop - part.start > 1]


FIGURE_DPI = 130  # every PNG the project writes (save_figure): 6.4 x 4.2 in is 832 x 546 px


# what makes a drawn file differ between two draws of the same figure: its date (SVG, PDF)
UNDATED = {".svg": {"Date": None}, ".svgz": {"Date": None}, ".pdf": {"CreationDate": None}}


def savefig_reproducible(fig, path, **kwargs) -> None:
    """fig.savefig(path, **kwargs) with no date in the file and SVG ids hashed from a fixed salt
    (not random), so the same figure drawn again is the same file (a shipped plot, a --plot)."""
    import matplotlib

    metadata = UNDATED.get(Path(path).suffix.lower())
    if metadata is not None:
        kwargs["metadata"] = metadata
    with matplotlib.rc_context({"svg.hashsalt": "scalefit"}):
        fig.savefig(path, **kwargs)


def save_figure(fig, out_dir, stem: str) -> list[Path]:
    """Save a matplotlib figure as PNG (at FIGURE_DPI) and SVG in out_dir, its log axes readable
    (readable_log_axes), each cropped to its tight bounding box; return the paths. The layout is
    computed once, at the PNG's dpi, and each file drawn once: savefig(bbox_inches="tight") laid
    out and drew the whole figure a second time for each format. The SVG is reproducible (no
    date, fixed element ids), so a shipped plot redrawn from the same table is the same file."""
    import io

    import matplotlib
    import matplotlib.pyplot as plt
    from matplotlib.backends.backend_svg import RendererSVG

    readable_log_axes(fig)
    pad = matplotlib.rcParams["savefig.pad_inches"]
    fig.set_dpi(FIGURE_DPI)
    fig.draw_without_rendering()  # the layout engine places the axes here, once
    with matplotlib.rc_context({"figure.autolayout": False, "figure.constrained_layout.use": False}):
        fig.set_layout_engine(None)  # no engine (not "none"): savefig then draws each file once
    png_box = fig.get_tightbbox(fig.canvas.get_renderer()).padded(pad)
    # the SVG's box with the SVG renderer's text metrics (at its 72 dpi), as savefig measured it:
    # a long legend is up to 3% wider there than in Agg's, and the PNG's box would cut its ends
    fig.set_dpi(72)
    width, height = fig.get_size_inches() * 72
    svg_box = fig.get_tightbbox(RendererSVG(width, height, io.StringIO())).padded(pad)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [out_dir / f"{stem}.{ext}" for ext in ("png", "svg")]
    fig.savefig(paths[0], dpi=FIGURE_DPI, bbox_inches=png_box)
    savefig_reproducible(fig, paths[1], bbox_inches=svg_box)  # at the figure's own dpi, as before
    plt.close(fig)
    return paths


def write_text(out_dir, name: str, text: str) -> Path:
    """Write a text file (the Markdown report, a JSON dump) into out_dir, atomically: a stop
    while it is written leaves the earlier file, not half of the new one."""
    from scalefit.atomic import write_text as write_whole

    return write_whole(Path(out_dir) / name, text)


def printed_report(title: str, text: str, figure: str, after: list[str] = ()) -> str:
    """The Markdown of ``write_printed_report``: the title, what the command printed (as a code
    block), its figure and, after a blank line, the lines ``after`` (a section such as what each
    column of a CSV holds), if any."""
    tail = "\n" + "\n".join(after) + "\n" if after else ""
    return f"# {title}\n\n```\n{text}\n```\n\n![{figure}]({figure}.png)\n{tail}"


def write_printed_report(out_dir, title: str, text: str, figure: str, after: list[str] = ()) -> Path:
    """report.md holding what a command printed (as a code block) and its figure, then the lines
    ``after``: --out promises a Markdown report also of the commands whose report is their
    terminal text."""
    return write_text(out_dir, "report.md", printed_report(title, text, figure, after))


def markdown_table(df, floatfmt: str = ".4g") -> str:
    """A DataFrame as a GitHub Markdown table (no extra dependency such as tabulate)."""
    def cell(value):
        if isinstance(value, (float, np.floating)):
            return format(float(value), floatfmt) if math.isfinite(value) else ""
        return str(value)

    header = "| " + " | ".join(map(str, df.columns)) + " |"
    rule = "|" + "|".join("---" for _ in df.columns) + "|"
    body = ["| " + " | ".join(cell(v) for v in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join([header, rule, *body])

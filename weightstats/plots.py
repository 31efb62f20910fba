"""Figures of the weight-statistics layer: a tensor's histogram against its fitted families, and a
statistic (e.g. Student-t nu of each group) against the checkpoint step."""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from scalefit.errors import InputError, known, suggestion, warn
from scalefit.options import split_values
from scalefit.report import bound_label, distinct_line_style, log_axis_with_zero, plot_marking_bounds
from scalefit.schema import WEIGHT_KEYS, distinct_rows, group_values, numeric_values, refuse_categorical, steps_text

if TYPE_CHECKING:  # plotting a table needs no torch; only the histogram reads weights
    from scalefit.weightstats.binned_fit import FamilyFits, Histogram

UNNAMED_TABLE = "weights table"  # stat_series' default source: a table that came with no name
TABLE_PARTS = 3  # the last folders of a table's path a figure names (suites/mini/weights.parquet)


def histogram_figure(hist: Histogram, fits: FamilyFits | None = None, *, title: str = "",
                     coarsen: int = 8):
    """Empirical density of the weights (log y) with each fitted family's density on top.

    The 2048-bin fitting histogram is merged `coarsen` bins at a time for display; densities are
    in the weights' own units, so the tails show where each family fails.
    """
    import matplotlib.pyplot as plt

    from scalefit.weightstats.families import get_family

    counts = hist.counts.reshape(-1, coarsen).sum(axis=1) if hist.counts.size % coarsen == 0 else hist.counts
    step = hist.counts.size // counts.size
    edges = hist.mean + hist.std * hist.edges[::step]
    density = counts / (hist.n * np.diff(edges))
    centers = 0.5 * (edges[1:] + edges[:-1])
    fig, ax = plt.subplots(figsize=(7, 4.5))
    keep = density > 0
    ax.plot(centers[keep], density[keep], ".", ms=3, color="black", label=f"weights (n={hist.n:,})")
    if fits is not None:
        x = np.linspace(edges[0], edges[-1], 1200)
        for name, fit in fits.fits.items():
            style = "-" if name == fits.best else "--"
            label = get_family(name).label + (" (best BIC)" if name == fits.best else "")
            if name == "student_t":
                label += _nu_text(fit.params["nu"])
            ax.plot(x, np.exp(fit.logpdf(x)), style, lw=1.2, label=label)
    ax.set_yscale("log")
    floor = density[keep].min() if keep.any() else 1e-12
    ax.set_ylim(floor / 3, density.max() * 3)
    ax.set_xlabel("weight")
    ax.set_ylabel("density (log scale)")
    ax.set_title(title)
    ax.legend(fontsize=7, loc="lower center")
    fig.tight_layout()
    return fig


def _nu_text(nu: float) -> str:
    """', nu=4.2', or where nu sits at its fit bound ', nu at cap 10000 (Gaussian)': the bound, not
    an estimate (the legend read 'nu=1e+04' as if the fit had measured it)."""
    from scalefit.shapes import at_shape_bound, bounds_of

    for side, bound in zip(("lower", "upper"), bounds_of("t_nu")):
        if at_shape_bound(nu, bound):
            return f", {bound_label('t_nu', side)}"
    return f", nu={nu:.3g}"


def stat_series(table: pd.DataFrame, stat: str, *, groups=None, tensor: str | None = None,
                source: str = UNNAMED_TABLE) -> pd.DataFrame:
    """(model, group, step, value) of one statistic: a group's pooled row ('*') where that
    (model, step, group) has one, else the mean over its tensors (`scalefit.schema.group_values`);
    `tensor` picks one tensor instead; `groups` a list of groups, or one string of them
    separated by commas. A derived statistic (t_xi = 1/t_nu: scalefit.derived_stats) is computed
    from its source's rows."""
    from scalefit.derived_stats import stat_rows, with_derivable

    for column in ("model", "step", "group", "stat", "value"):
        if column not in table.columns:
            raise InputError(f"{source}: column '{column}' is missing")
    if not table["stat"].notna().any():  # else: "no rows with stat 't_nu' (known: )"
        raise InputError(f"{source}: no weight-statistic rows ("
                         + ("the table has no rows" if table.empty else "column 'stat' is empty")
                         + "); pass a table from `scalefit weights` or `scalefit eval --weights`")
    rows = stat_rows(table, stat)  # t_xi: from the table's t_nu rows
    if rows.empty:
        names = sorted(with_derivable(table["stat"].dropna().astype(str)))
        near = suggestion(stat, names)  # the list stops at 40
        raise InputError(f"{source}: no rows with stat '{stat}'"
                         + (near if near.startswith(";") else f" (known: {known(names)})"))
    refuse_categorical(table, stat, "--stat")  # a line through family codes says nothing
    if tensor is not None:
        have = sorted(set(rows["tensor"].dropna().astype(str)))
        rows = rows[rows["tensor"] == tensor]
        if rows.empty:
            raise InputError(f"{source}: no tensor '{tensor}' with stat '{stat}'"
                             + suggestion(tensor, have, otherwise=f" (known: {known(have)})"))
    if isinstance(groups, str):  # 'mlp_in' is one group, not its letters; 'mlp_in,attn_out' two
        groups = split_values([groups])
    if groups:
        rows_of_tensor = rows
        have = sorted(set(rows_of_tensor["group"].dropna().astype(str)))
        rows = rows[rows["group"].isin(list(groups))]
        if rows.empty:  # a typo of one group ('attn_gatee') is offered its near name too
            raise InputError(f"{source}: none of the groups {', '.join(groups)} has stat '{stat}'"
                             + (f" on tensor '{tensor}' (its group: {known(have)})" if tensor is not None
                                else f" (known: {known(have)})"
                                + (suggestion(groups[0], have, otherwise="") if len(groups) == 1 else "")))
        missing = [g for g in groups if str(g) not in have]
        if missing:  # a typo beside a real name: its lines were left out without a word
            raise InputError(f"{source}: group '{missing[0]}' has no stat '{stat}'"
                             + (f" on tensor '{tensor}'" if tensor is not None else "")
                             + suggestion(missing[0], have, otherwise=f" (known: {known(have)})"))
    # exact repeats dropped; one key with two values refused, as transitions and trajectory do
    rows = distinct_rows(numeric_values(rows, source, f"stat '{stat}'"), WEIGHT_KEYS, source, f"stat '{stat}'")
    if rows["value"].isna().all():
        raise InputError(f"{source}: stat '{stat}' has no finite value to plot (all empty, nan or inf)")
    values = group_values(rows, by=("model", "step", "group"))
    finite = np.isfinite(values["value"].to_numpy(dtype=float, na_value=np.nan))
    if not finite.all():  # a failed family fit: drawn as a gap, so say where
        gone = values[~finite]
        where = "; ".join(f"{model} {group}: steps {steps_text(run['step'])}"
                          for (model, group), run in gone.groupby(["model", "group"], sort=True))
        warn(f"{source}: {len(gone)} checkpoint(s) have no finite stat '{stat}' (empty, nan or inf) "
             f"and are not drawn ({where})")
    values = values[finite]
    return values[["model", "group", "step", "value"]].sort_values(["model", "group", "step"])


def stat_vs_step_figure(table: pd.DataFrame, stat: str, *, groups=None, tensor: str | None = None,
                        source: str = UNNAMED_TABLE):
    """The statistic against the step (log x; step 0 drawn at the left edge), a line per group and
    model; beyond a dozen lines (every model x group of a suite), one panel per group with a line
    per model, the models' legend beside the panels. A family shape at its fit's bound (Student-t
    nu at its cap: tails no heavier than a Gaussian's) is no measured value: it is drawn as a
    hollow triangle off the line (`plot_marking_bounds`), and the legend says so."""
    import matplotlib.pyplot as plt

    series = stat_series(table, stat, groups=groups, tensor=tensor, source=source)
    models = list(series["model"].unique())
    panel_groups = list(series["group"].unique())
    sides: set[str] = set()  # the fit bounds some value sits at
    if series.groupby(["model", "group"]).ngroups <= LEGEND_INSIDE_MAX or len(panel_groups) == 1:
        fig, ax = plt.subplots(figsize=(7, 4.5), layout="constrained")
        for i, ((model, group), rows) in enumerate(series.groupby(["model", "group"], sort=True)):
            label = group if len(models) == 1 else f"{model} {group}"
            sides |= set(plot_marking_bounds(ax, rows["step"], rows["value"], stat, stack=i, marker="o", ms=3,
                                             lw=1.2, label=label, **distinct_line_style(i)))
        _step_axes(ax, stat, series)
        ax.set_title(f"{stat} against step" + (f" ({models[0]})" if len(models) == 1 else "")
                     + _table_line(source))
        handles, labels = ax.get_legend_handles_labels()
        handles, labels = handles + _bound_handles(sides), labels + _bound_labels(stat, sides)
        columns = int(np.ceil(len(labels) / LEGEND_ROWS))
        if len(labels) <= LEGEND_INSIDE_MAX:
            ax.legend(handles, labels, fontsize=7, ncol=columns)
        else:  # one group over a suite's runs: inside, the legend covered the lines
            fig.set_figwidth(7 + 1.8 * columns)
            fig.legend(handles, labels, fontsize=6, ncol=columns, loc="outside right upper")
        return fig
    ncols = min(3, len(panel_groups))
    nrows = int(np.ceil(len(panel_groups) / ncols))
    columns = int(np.ceil(len(models) / LEGEND_ROWS))
    fig, axes = plt.subplots(nrows, ncols, figsize=(4 * ncols + 1.8 * columns, 3 * nrows),
                             sharex=True, squeeze=False, layout="constrained")
    colors = plt.get_cmap("viridis")(np.linspace(0, 0.95, len(models)))
    for ax, group in zip(axes.flat, panel_groups):
        for i, (model, color) in enumerate(zip(models, colors)):
            rows = series[(series["model"] == model) & (series["group"] == group)]
            sides |= set(plot_marking_bounds(ax, rows["step"], rows["value"], stat, stack=i, marker="o", ms=2,
                                             lw=1, color=color, label=model))
        _step_axes(ax, stat, series[series["group"] == group])
        ax.set_title(group, fontsize=9)
    for i, ax in enumerate(axes.flat):
        if i >= len(panel_groups):
            ax.set_visible(False)
        elif i + ncols < len(panel_groups):  # a panel below shows the shared step axis
            ax.set_xlabel("")
        else:  # the lowest of its column, though not of the grid: its step ticks are the column's
            ax.tick_params(axis="x", labelbottom=True)
    handles = [plt.Line2D([], [], color=c, marker="o", ms=3, lw=1) for c in colors] + _bound_handles(sides)
    fig.legend(handles, models + _bound_labels(stat, sides), fontsize=6, ncol=columns, loc="outside right upper")
    fig.suptitle(f"{stat} against step, one panel per group" + _table_line(source))
    return fig


def _table_line(source: str) -> str:
    """'\nfrom .../suites/mini/checkpoints.parquet': the table a figure was drawn from, so that two
    figures of one name from two tables are told apart; '' for a table that came unnamed."""
    from pathlib import PurePath

    if not source or source == UNNAMED_TABLE:
        return ""
    parts = PurePath(source).parts
    shown = str(PurePath(*parts[-TABLE_PARTS:])) if len(parts) > TABLE_PARTS else str(source)
    return f"\nfrom {'.../' if len(parts) > TABLE_PARTS else ''}{shown}"


def _bound_handles(sides) -> list:
    """Legend handles of the hollow triangles that mark values at a fit bound (upper first)."""
    import matplotlib.pyplot as plt

    return [plt.Line2D([], [], color="grey", marker="^" if side == "upper" else "v", mfc="none", ls="none")
            for side in sorted(sides, reverse=True)]


def _bound_labels(stat: str, sides) -> list[str]:
    return [f"{bound_label(stat, side)}: the fit's bound, not a measured value" for side in sorted(sides, reverse=True)]


def _step_axes(ax, stat: str, series: pd.DataFrame) -> None:
    log_axis_with_zero(ax)  # keeps step 0 on a log axis
    ax.set_xlabel("step")
    ax.set_ylabel(stat)
    if stat in ("t_nu",) and (series["value"] > 0).all():
        ax.set_yscale("log")


LEGEND_INSIDE_MAX = 12  # lines drawn on one axes; beyond, one panel per group
LEGEND_ROWS = 24        # entries per legend column

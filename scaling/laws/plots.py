"""Plots of law fits: loss vs N coloured by D with the fitted curves, N*(C) frontiers, residuals.

Figures only: the backend is the caller's (the CLI entry sets one for files)."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from scalefit.scaling.laws.convention import EmbeddingMap
from scalefit.scaling.laws.fit import FLOPS_COLUMN, budget_compute, compute_basis, predict
from scalefit.scaling.laws.projection import budget_basis, optimum
from scalefit.scaling.laws.registry import law_for
from scalefit.scaling.laws.runtable import RunTable, n_label
from scalefit.report import log_tick_labels, readable_log_axes
from scalefit.schema import FLOPS_PER_PARAM_TOKEN

COLORS = ("tab:blue", "tab:red", "tab:green", "tab:purple", "tab:orange", "tab:brown", "tab:pink",
          "tab:olive", "tab:cyan", "tab:gray")  # one a law; a fifth law was left off every plot


def _law_colors(results: dict):
    """(name, result, colour) of each law, every law drawn however many are compared."""
    return [(name, result, COLORS[i % len(COLORS)]) for i, (name, result) in enumerate(results.items())]


def loss_label(results: dict) -> str:
    """The loss axis: the fitted column with its unit where its name tells it (column_unit:
    'bpb (bits/byte)'); 'loss (nats/token)' whatever --loss had fitted mislabelled it."""
    from scalefit.scaling.outputs import column_unit
    columns = {r.extra.get("loss_column") or "loss" for r in results.values()}
    column = columns.pop() if len(columns) == 1 else "loss"
    unit = column_unit(column)
    return f"{column} ({unit})" if unit else column


ALL_PARAMS = n_label("params")  # 'N = params': all parameters, the default figures' own words


def n_axis(frame, results: dict) -> tuple[str, str]:
    """(column, label) of N on a figure: all parameters where the frame has them, else the fit's
    N; the label is the run table's own (``runtable.n_label``), so a non-embedding N mapped with
    --params params_nonembed reads 'N = params_nonembed (non-embedding, ...)', not 'all'."""
    column = "params" if "params" in frame else "N"
    fits = [r.extra for r in results.values()]
    if column == "params":  # the file's name of it: a fit whose N it is says (n_source)
        sources = {e.get("n_source", "") for e in fits if e.get("n_column") == "params"}
        return column, n_label("params", sources.pop() if len(sources) == 1 else "")
    labels = {n_label(e.get("n_column"), e.get("n_source", "")) for e in fits}
    return column, labels.pop() if len(labels) == 1 else "N"


def n_words(label: str, quantity: str, all_words: str) -> str:
    """An axis's words for N: ``all_words`` (the default figures' own) for all parameters, else
    ``quantity`` over the run table's label, its parenthesis on a line of its own (the label is
    longer than the axis)."""
    return all_words if label == ALL_PARAMS else f"{quantity}, {label}".replace(" (", "\n(", 1)


def _fit_table(frame, result) -> RunTable:
    """The run table as ``result`` read it: its N's column and where that came from."""
    extra = result.extra
    return RunTable(frame, "", extra.get("n_column") or "", extra.get("loss_column") or "loss",
                    n_source=extra.get("n_source", ""))


def runs_compute(frame, results: dict) -> tuple[np.ndarray, str]:
    """(C of each run, axis label): the compute the budget rows state (``fit.budget_compute``,
    of the first law that sets an allocation): the flops column, or Kaplan's C = 6 N D where N is
    non-embedding with no total count beside it; the runs and the frontiers on one C."""
    laws = [r for r in results.values() if law_for(r.law).sets_allocation()] or list(results.values())
    if laws and "N" in frame and "D" in frame and _fit_table(frame, laws[0]).kaplan_compute:
        compute = budget_compute(_fit_table(frame, laws[0]), laws[0].law)
        if not np.array_equal(compute, frame["C"].to_numpy(float)):
            return compute, (f"compute C = {FLOPS_PER_PARAM_TOKEN:g} N D (FLOPs; N non-embedding, "
                             "Kaplan's convention,\nnot the flops column)")
    return frame["C"].to_numpy(float), "training compute C (FLOPs)"


def compute_groups(frame, results: dict) -> list[tuple[str, dict]]:
    """The laws that set an allocation, grouped by what their budgets count as compute
    (``fit.compute_basis``): one group unless IsoFLOP (the flops column's budgets) stands beside
    a law of a non-embedding N with no total count (Kaplan's 6 N D), two C's no figure may
    put on one axis: (basis, {name: result}) each. Laws setting none count as FLOPS_COLUMN."""
    groups: dict[str, dict] = {}
    for name, result in results.items():
        basis = (compute_basis(_fit_table(frame, result), result.law)
                 if frame is not None and "N" in frame and "D" in frame
                 and law_for(result.law).sets_allocation() else FLOPS_COLUMN)
        groups.setdefault(basis, {})[name] = result
    return list(groups.items())


def token_levels(D, count: int = 3) -> np.ndarray:
    """Up to ``count`` of the runs' own token counts, spread over their range (nearest to the 10th,
    50th and 90th percentiles), so that each drawn curve runs through a row of runs: the
    quantiles themselves fell between a grid's lengths (8.4e5 tokens, no run's)."""
    D = np.asarray(D, float)
    D = D[np.isfinite(D)]
    observed = np.unique(D)
    if observed.size <= count:
        return observed
    picks = [observed[np.argmin(np.abs(np.log(observed) - np.log(q)))]
             for q in np.quantile(D, np.linspace(0.1, 0.9, count))]
    return np.unique(picks)


def plot_loss_vs_n(frame, results: dict):
    """Runs as points (colour = log10 D) against all parameters (the fit's N, so labelled, where
    the table has no total count: ``n_axis``); each law's curve (colour) at up
    to four of the runs' token counts (line style; the legend says when there are more) over the runs' own N (a non-embedding law's through the runs'
    own embedding counts). The legend sits under the axes, off the data."""
    from matplotlib.lines import Line2D

    fig, ax = plt.subplots(figsize=(6.4, 5.2), layout="constrained")
    n_col, label = n_axis(frame, results)  # all parameters on the axis where the table has them
    N, D, L = (frame[c].to_numpy(float) for c in (n_col, "D", "L"))
    sc = ax.scatter(N, L, c=np.log10(D), cmap="viridis", s=14, zorder=3)
    fig.colorbar(sc, ax=ax, label="log10 tokens D")
    grid = np.geomspace(N.min(), N.max(), 200)  # the runs' range: no projection drawn here
    styles = ("-", "--", "-.", ":")  # a grid of 4 lengths gets a curve at each (3 left 5.3e5 out)
    d_levels = token_levels(D, count=len(styles))
    handles = []
    for name, result, color in _law_colors(results):
        law = law_for(result.law)
        if not law.predicts_loss:
            continue
        if "N" not in law.needs:  # kaplan-c, kaplan-d: no curve in N, said so (it was left off unsaid)
            handles.append(Line2D([], [], color=color, lw=0,
                                  label=f"{name} (of {', '.join(law.needs)}): not drawn"))
            continue
        to_law, note = _n_of_law(frame, result)
        levels = zip(d_levels, styles) if "D" in law.needs else [(d_levels[0], "-")]
        for d, style in levels:  # a law of N alone: one curve, the same at every D
            ax.plot(grid, predict(result, to_law(grid), np.full_like(grid, d)), style,
                    color=color, lw=1.2)
        handles.append(Line2D([], [], color=color, lw=1.2, label=f"{name}{note}"
                              + ("" if "D" in law.needs else ", any D")))
    handles += [Line2D([], [], color="0.3", ls=style, lw=1.2, label=f"D = {log_tick_labels([float(f'{d:.2g}')])[0]} tokens")
                for d, style in zip(d_levels, styles)]
    observed = np.unique(D[np.isfinite(D)]).size
    if observed > len(d_levels):  # the legend says the other token counts have no curve
        handles.append(Line2D([], [], lw=0, label=f"curves at {len(d_levels)} of the runs' "
                                                   f"{observed} token counts"))
    _label(ax, n_words(label, "parameters", "parameters N (all)"), loss_label(results),
           "Loss vs N (colour: D) with fitted laws", legend=False)
    ax.legend(handles=handles, fontsize=7, ncol=2, loc="upper center",
              bbox_to_anchor=(0.5, -0.14), frameon=False)
    return fig


def _n_of_law(frame, result):
    """Total N -> the N the law counts: Kaplan's non-embedding N through the runs' own
    embedding counts (each run's real ratio, interpolated between sizes)."""
    n_col = result.extra.get("n_column")
    if n_col and n_col != "params" and n_col in frame and "params" in frame:
        emb = EmbeddingMap.from_frame(frame)
        if emb is not None:
            return emb.nonembed, " (N_nonembed from each run's own ratio)"
    return (lambda n: n), ""


def basis_budgets(budgets, basis: str) -> list[float]:
    """The FLOPs of ``budgets`` that count compute as ``basis`` does: budget rows (dicts with
    'flops', compare's naming their 'compute' where two bases stand) of that basis or of none,
    or plain FLOPs (one basis's: a fit's own budgets)."""
    return [float(b["flops"]) if isinstance(b, dict) else float(b) for b in budgets or ()
            if not isinstance(b, dict) or b.get("compute", basis) == basis]


def plot_frontiers(results: dict, frame=None, budgets=None):
    """N*(C) of each law, in total parameters, over the runs' compute range (solid, from the
    smallest run) and on to the largest projected budget (dashed: no run there), with the runs'
    own (C, N): C and N as the budget rows state them (``runs_compute``, ``n_axis``). Laws whose
    budgets count compute differently (``compute_groups``) get a panel each, each with its C and
    drawn to its own budgets (``budgets``: compare's rows, each naming its 'compute'; a panel
    drawn to the other basis's budgets ran its projections past any it states)."""
    groups = compute_groups(frame, results) if frame is not None else [(FLOPS_COLUMN, results)]
    colors = {name: color for name, _, color in _law_colors(results)}
    if len(groups) == 1:
        fig, ax = plt.subplots(figsize=(6.0, 4.2))
        _frontier_panel(ax, results, frame, basis_budgets(budgets, groups[0][0]), colors)
        return fig
    fig, axes = plt.subplots(1, len(groups), figsize=(5.6 * len(groups), 4.4), layout="constrained")
    for ax, (basis, group) in zip(axes, groups):
        _frontier_panel(ax, group, frame, basis_budgets(budgets, basis), colors,
                        title=f"{', '.join(group)}: C = {basis}")
    fig.suptitle("Compute-optimal frontiers on two compute bases: a budget of one panel is not "
                 "the same compute as the other's (dashed: projection)", fontsize=9)
    return fig


def _frontier_panel(ax, results: dict, frame, budgets, colors: dict, title: str | None = None):
    """One axes of ``plot_frontiers``: ``results``' frontiers on their own C, with the runs
    (``colors``: each law's, the same in every panel)."""
    c_words, label = "training compute C (FLOPs)", ALL_PARAMS
    if frame is not None and "C" in frame:
        c_runs, c_words = runs_compute(frame, results)
        lo, c_max = np.nanmin(c_runs), np.nanmax(c_runs)
    else:
        lo, c_max = 1e18, 1e22
    far = max([c_max * 100, *(budgets or [])])
    inside = np.geomspace(lo, c_max, 60)  # solid where runs are (it began at half the smallest)
    beyond = np.geomspace(c_max, far, 60)
    convention = "params" if frame is not None and "params" in frame else None
    for name, result in results.items():
        color = colors[name]
        alloc = result.extra.get("allocation", {})
        if not np.isfinite(alloc.get("a", np.nan)):
            continue
        law = law_for(result.law)
        k, emb = budget_basis(result, frame, convention)  # as the budget rows (project)
        for part, style, label in ((inside, "-", f"{name}: N* ~ C^{alloc['a']:.2f}"),
                                   (beyond, "--", None)):
            n_opt = optimum(law, result.values(), part, k, emb)[0]
            ax.plot(part, n_opt, style, color=color, label=label)
    if ax.lines:
        ax.plot([], [], "--", color="0.3", label="projection (no run there)")
    if frame is not None and "C" in frame:
        n_col, label = n_axis(frame, results)
        ax.scatter(c_runs, frame[n_col], s=10, color="gray", alpha=0.7, zorder=3, label="runs")
    ax.axvline(c_max, color="black", lw=0.6, ls=":")
    ax.text(c_max, 0.02, " largest run", fontsize=7, va="bottom",
            transform=ax.get_xaxis_transform())  # the axes' bottom whatever the y scale
    _label(ax, c_words, n_words(label, "compute-optimal N*", "compute-optimal N* (parameters, all)"),
           title or "Compute-optimal frontiers (dashed: projection, no run there)")


def plot_residuals(frame, results: dict):
    """log(observed) - log(predicted) against compute as the budget rows state it
    (``runs_compute``), one marker colour per law."""
    fig, ax = plt.subplots(figsize=(6.0, 3.8))
    # the C of the laws drawn (IsoFLOP beside them may count another: compute_groups)
    drawn = {n: r for n, r in results.items() if law_for(r.law).predicts_loss} or results
    compute, c_words = runs_compute(frame, drawn)
    for name, result, color in _law_colors(results):
        law = law_for(result.law)
        if not law.predicts_loss:
            continue
        n_col = result.extra.get("n_column") or "params"
        N = frame[n_col].to_numpy(float) if n_col in frame else frame["N"].to_numpy(float)
        D = frame["D"].to_numpy(float)
        if "N" not in law.needs and "D" not in law.needs:  # kaplan-c: at the runs' own C
            N, D = frame["C"].to_numpy(float) / FLOPS_PER_PARAM_TOKEN, np.ones(len(frame))
        extra = {v: frame[v].to_numpy(float) for v in law.extra_variables() if v in frame}
        pred = predict(result, N, D, **extra)
        ax.scatter(compute, np.log(frame["L"]) - np.log(pred), s=10, color=color,
                   alpha=0.7, label=name)
    ax.axhline(0, color="black", lw=0.8)
    _label(ax, c_words, "log L observed - log L predicted",
           "Residuals", log_y=False)
    return fig


def _label(ax, xlabel, ylabel, title, *, log_y=True, fontsize=8, legend=True):
    """Log axes (x always, y unless told; readable ticks), labels, legend and title of one panel."""
    ax.set_xscale("log")
    if log_y:
        ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if legend:
        ax.legend(fontsize=fontsize)
    ax.set_title(title)
    readable_log_axes(ax.figure)

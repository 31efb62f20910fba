"""Plots and checks of a measured mini suite: loss against compute, weight-statistic trajectories,
and the warmup experiment, from the shipped runs.csv and checkpoints.parquet.

`scalefit suite report DATA_DIR` writes DATA_DIR/plots/*.png and prints the checks (loss falls
with N and with D; larger models are lower at equal tokens) as JSON.
"""
from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from scalefit.report import bound_label, needs_log_axis, plot_marking_bounds, save_figure
from scalefit.schema import group_values
from scalefit.scaling.interval_text import spread_place


def _save(fig, out: Path, name: str) -> Path:
    """The project's one figure writer (PNG at FIGURE_DPI and SVG); the PNG's path."""
    return save_figure(fig, out, name)[0]


def _size_colors(sizes):
    """Ordered runs (by size, by warmup) in viridis order, stopping short of its pale yellow end,
    which is hard to see on white."""
    cmap = plt.get_cmap("viridis")
    return {s: cmap(0.88 * i / max(1, len(sizes) - 1)) for i, s in enumerate(sizes)}


def _size_label(runs: pd.DataFrame, model: str) -> str:
    """'mini-1 (25,472 non-emb. params)': a run's name and its size."""
    return f"{model} ({int(runs.loc[runs['model'] == model, 'params_nonembed'].iloc[0]):,} non-emb. params)"


def _compute_size_label(runs: pd.DataFrame, model: str) -> str:
    """'mini-1 (N = 287,616; 25,472 non-emb.)': a run's name and its N as the compute axis's
    C = 6ND counts it (all parameters, the ``flops`` column's N), its non-embedding count beside."""
    row = runs.loc[runs["model"] == model].iloc[0]
    return f"{model} (N = {int(row['params']):,}; {int(row['params_nonembed']):,} non-emb.)"


# what each table of a suite folder needs, and what for
RUN_COLUMNS = ("model", "part", "params", "params_nonembed", "tokens", "flops", "loss")
CHECKPOINT_COLUMNS = ("model", "step", "part", "size", "tokens", "params", "params_nonembed", "flops",
                      "dataset", "metric", "value")
STAT_COLUMNS = ("stat", "group", "warmup_steps")  # where the table has weight-statistic rows


def eval_curve(table: pd.DataFrame, dataset: str | None = None) -> pd.DataFrame:
    """Per (model, step): loss on `dataset` (default: the training distribution's evaluation set,
    ``suite_dataset``), with tokens, params and flops."""
    dataset = suite_dataset(table) if dataset is None else dataset
    rows = table[(table["metric"] == "loss") & (table["dataset"] == dataset)]
    return rows[["model", "size", "part", "step", "tokens", "params", "flops", "value"]].rename(
        columns={"value": "loss"}).sort_values(["model", "step"])


def suite_dataset(table: pd.DataFrame, source: str = "checkpoints table") -> str:
    """The dataset whose loss the plots and checks read: the one marked is_train (prose-val in
    the mini suite), else the only one or one named *-val; an InputError naming them otherwise."""
    from scalefit.errors import InputError
    from scalefit.scaling.trajectories.table import training_dataset

    rows = table[(table["metric"] == "loss") & table["dataset"].notna()]
    if rows.empty:
        raise InputError(f"{source}: no loss rows (metric 'loss' with a dataset); a measured suite's "
                         "checkpoint table holds each checkpoint's evaluation losses")
    return training_dataset(rows, "dataset", source, hint="mark its rows with is_train = true")


def plot_loss_vs_compute(runs: pd.DataFrame, table: pd.DataFrame, out: Path, dataset: str | None = None) -> Path:
    """Grid runs (points, one line per size) over the long runs' checkpoint curves of `dataset`
    (default: ``suite_dataset(table)``), against the tables' ``flops``: C = 6ND with N all
    parameters, which the legend gives for each size (it gave the non-embedding count alone)."""
    dataset = suite_dataset(table) if dataset is None else dataset
    grid = runs[runs["part"] == "grid"].sort_values(["params", "tokens"])
    sizes = list(dict.fromkeys(grid["model"]))
    colors = _size_colors(sizes)
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    curves = eval_curve(table[table["part"] == "long"], dataset)
    for size in sizes:
        c = curves[(curves["model"] == size) & (curves["step"] >= 16)]
        ax.plot(c["flops"], c["loss"], color=colors[size], lw=0.8, alpha=0.5)
        g = grid[grid["model"] == size]
        ax.plot(g["flops"], g["loss"], "o-", color=colors[size], label=_compute_size_label(grid, size))
    ax.set(xscale="log", yscale="log", xlabel="training compute C = 6ND, N = all parameters (FLOPs)",
           ylabel=f"{_loss_name(dataset)} loss (nats/token, log scale)")
    ax.set_title("Mini suite: grid runs (dots, each its own cosine)\nand the long runs' checkpoints "
                 "from step 16 (thin lines)", fontsize=10)
    ax.legend(fontsize=7, loc="lower left")  # loss falls with compute: empty there
    return _save(fig, out, "loss_vs_compute")


def _loss_name(dataset: str) -> str:
    """The plotted loss's dataset for an axis label: 'prose val' for prose-val."""
    return dataset.replace("-", " ")


def plot_loss_vs_tokens(table: pd.DataFrame, out: Path, dataset: str | None = None) -> Path:
    """Long runs: loss on `dataset` (default: ``suite_dataset(table)``) against tokens per size
    (larger models lower at equal tokens). Step 0 (no tokens) has no place on the log axis; the
    title says so and gives its losses."""
    dataset = suite_dataset(table) if dataset is None else dataset
    curves = eval_curve(table[table["part"] == "long"], dataset)
    sizes = sorted(curves["model"].unique(), key=lambda m: curves.loc[curves["model"] == m, "params"].iloc[0])
    colors = _size_colors(sizes)
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    sized = table[table["part"] == "long"].drop_duplicates("model")
    for size in sizes:
        c = curves[(curves["model"] == size) & (curves["step"] > 0)]
        ax.plot(c["tokens"], c["loss"], ".-", color=colors[size], label=_size_label(sized, size), ms=3)
    drawn = curves[curves["step"] > 0]
    first = drawn.loc[drawn["step"] == drawn["step"].min()].iloc[0]
    start = curves.loc[curves["step"] == 0, "loss"]
    title = (f"Long runs, {int(curves['step'].max()):,} steps each: checkpoints from step "
             f"{int(first['step'])} ({int(first['tokens']):,} tokens)")
    if len(start):
        title += f"\nstep 0 (0 tokens, off the log axis): {start.min():.2f}-{start.max():.2f} nats/token"
    ax.set(xscale="log", xlabel="tokens seen (log scale)", ylabel=f"{_loss_name(dataset)} loss (nats/token)")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=7, loc="lower left")  # loss falls with tokens: empty there
    return _save(fig, out, "loss_vs_tokens")


def stat_curve(table: pd.DataFrame, stat: str, group: str) -> pd.DataFrame:
    """Per (model, step): a group's statistic by the pooled-row rule (scalefit.schema.group_values)."""
    rows = table[(table["stat"] == stat) & (table["group"] == group)]
    facts = rows.groupby(["model", "step"], as_index=False).agg(warmup_steps=("warmup_steps", "first"),
                                                               params=("params", "first"))
    values = group_values(rows, by=("model", "step"))[["model", "step", "value"]]
    return values.merge(facts, on=["model", "step"], how="left")


def plot_trajectories(table: pd.DataFrame, panels, out: Path, part: str, name: str, title: str) -> Path:
    """A grid of statistic-vs-step panels for one part (long runs or warmup variants). A family
    shape at its fit bound (Student-t nu at its cap: tails no heavier than a Gaussian's) is drawn
    as hollow triangles off the lines, and the legend says what they are."""
    sub = table[table["part"] == part]
    n = len(panels)
    cols = 3
    rows = (n + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(4.0 * cols, 2.9 * rows + 0.6), squeeze=False,
                             layout="constrained")
    models = sorted(sub["model"].unique(), key=lambda m: (sub.loc[sub["model"] == m, "params"].iloc[0],
                                                          sub.loc[sub["model"] == m, "warmup_steps"].iloc[0]))
    colors = _size_colors(models)
    marked = {}  # legend text of each bound drawn -> its marker
    for ax, (stat, group) in zip(axes.flat, panels):
        curves = stat_curve(sub, stat, group)
        sides = set()
        for i, m in enumerate(models):
            c = curves[(curves["model"] == m) & (curves["step"] > 0)]
            sides |= set(plot_marking_bounds(ax, c["step"], c["value"], stat, stack=i, marker=".", ms=2,
                                             lw=0.8, color=colors[m]))
            if part == "warmup" and len(c):
                ax.axvline(c["warmup_steps"].iloc[0], color=colors[m], ls=":", lw=0.8)
        log = needs_log_axis(curves.loc[curves["step"] > 0, "value"])
        ax.set(xscale="log", xlabel="step (log scale)", yscale="log" if log else "linear")
        notes = [" (log scale)" if log else ""]
        for side in sorted(sides, reverse=True):  # upper first
            marked[bound_label(stat, side)] = "^" if side == "upper" else "v"
            notes.append(f"\n{'△' if side == 'upper' else '▽'} {bound_label(stat, side)}")
        ax.set_title(f"{group} / {stat}" + "".join(notes), fontsize=9)
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    handles = [plt.Line2D([], [], color=colors[m], marker=".", lw=0.8) for m in models]
    labels = list(models)
    for text, marker in marked.items():
        handles.append(plt.Line2D([], [], color="grey", marker=marker, mfc="none", ls="none"))
        labels.append(f"{text}: the fit's bound, not a measured value (a row per run)")
    if part == "warmup":
        handles.append(plt.Line2D([], [], color="grey", ls=":", lw=0.8))
        labels.append("warmup end (in the run's colour)")
    fig.legend(handles, labels, loc="outside lower center", ncol=len(labels), fontsize=8, frameon=False)
    fig.suptitle(title, fontsize=11)
    return _save(fig, out, name)


def suite_checks(runs: pd.DataFrame, table: pd.DataFrame, dataset: str | None = None) -> dict:
    """Does the suite show what a suite should? Loss falls with N and with D; bigger is lower at
    equal D (the long runs' loss on `dataset`, default ``suite_dataset(table)``)."""
    grid = runs[runs["part"] == "grid"]
    measured = np.isfinite(pd.to_numeric(grid["loss"], errors="coerce").to_numpy(dtype=float, na_value=np.nan))
    unmeasured = grid.loc[~measured, "run" if "run" in grid else "model"].astype(str).tolist()
    grid = grid[measured]  # a missing loss is no loss that failed to fall

    def falls(g, by):  # strictly, as for the long runs; one run alone has nothing to compare
        return bool(np.all(np.diff(g.sort_values(by)["loss"].to_numpy()) < 0))

    by_size = {m: falls(g, "tokens") for m, g in grid.groupby("model") if g["tokens"].nunique() > 1}
    by_tokens = {int(t): falls(g, "params") for t, g in grid.groupby("tokens") if g["params"].nunique() > 1}
    dataset = suite_dataset(table) if dataset is None else dataset
    curves = eval_curve(table[table["part"] == "long"], dataset)
    wide = curves.pivot_table(index="step", columns="model", values="loss").dropna()
    order = curves.drop_duplicates("model").sort_values("params")["model"].tolist()
    # from the shortest grid run's length on (240 steps in the mini spec): the early steps of a
    # small-LR warmup are not expected to be ordered by size
    start = int(grid["steps"].min()) if len(grid) and "steps" in grid else 0
    late = wide[wide.index >= start][order]
    ordered = late.apply(lambda r: bool(np.all(np.diff(r.to_numpy()) < 0)), axis=1)
    size_order = {"from_step": start, "checkpoints": int(len(ordered)), "ordered": int(ordered.sum())}
    if curves.drop_duplicates("model")["params"].nunique() < 2:  # one run is 'ordered' at every step
        size_order = {"from_step": start, "checkpoints": 0, "ordered": 0,
                      "not_checked": f"{len(order)} long run(s) of {'one size' if order else 'no size'}: "
                                     "no two sizes to order"}
    final_se = _final_se(table, dataset, order, wide.index[-1]) if len(wide) else {}
    finals = {m: _loss_to_se(float(wide[m].iloc[-1]), final_se.get(m)) for m in order}
    return {"loss_falls_with_tokens_per_size": by_size,
            "loss_falls_with_size_per_budget": by_tokens,
            "long_runs_larger_lower_at_equal_tokens": size_order,
            "final_long_losses": {m: finals[m][0] for m in order},
            **({"final_long_losses_se": {m: finals[m][1] for m in final_se}} if final_se else {}),
            "units": {"loss_falls_with_size_per_budget": "keys: the grid runs' training tokens",
                      "final_long_losses": f"{dataset} loss in nats/token at the long runs' last common "
                                           + (f"step ({int(wide.index[-1]):,})" if len(wide) else "step"),
                      **({"final_long_losses_se": "standard error of each loss in nats, by a bootstrap over "
                                                  "the eval set's documents (the checkpoint table's se), to 2 "
                                                  "significant digits; each loss to its se's last place"}
                         if final_se else {})},
            **({"left_out": f"grid run(s) {', '.join(unmeasured)} have no loss in the run table and "
                            "are left out of the checks"} if unmeasured else {})}


LOSS_DECIMALS = 4  # a loss with no standard error: its decimals as a default, not a claim


def _loss_to_se(loss: float, se: float | None) -> tuple[float, float | None]:
    """(loss, se) rounded as every value with an SE is printed: the SE to its SPREAD_DIGITS
    significant digits (interval_text.spread_place, as the laws' stderr column) and the loss to
    the SE's last place (4.1137 with SE 0.0643 is 4.114 and 0.064: no digit the SE says is
    noise); with no SE (or an SE of 0), the loss to LOSS_DECIMALS decimals."""
    if se is None or not np.isfinite(se) or se <= 0:
        return round(loss, LOSS_DECIMALS), se
    place = spread_place(se)
    return round(loss, -place), round(se, -place)


def _final_se(table: pd.DataFrame, dataset: str, models, step) -> dict:
    """{model: the se of its long run's loss on `dataset` at `step`} where the table has a finite one
    (every digit: ``_loss_to_se`` rounds it beside its loss)."""
    if "se" not in table:
        return {}
    rows = table[(table["part"] == "long") & (table["metric"] == "loss") & (table["dataset"] == dataset)
                 & (table["step"] == step)].drop_duplicates("model").set_index("model")["se"]
    values = pd.to_numeric(rows, errors="coerce")
    return {m: float(values[m]) for m in models if m in values.index and np.isfinite(values[m])}


TRAJECTORY_PANELS = [("t_nu", "mlp_in"), ("excess_kurtosis", "mlp_in"), ("std", "mlp_in"),
                     ("stable_rank", "mlp_in"), ("alpha", "mlp_in"), ("excess_kurtosis", "attn_qkv"),
                     ("t_nu", "attn_out"), ("max_abs", "embed_in"), ("gennorm_beta", "mlp_out")]


def write_plots(data_dir, progress: bool = False) -> dict:
    """All plots into DATA_DIR/plots, and the checks. The plots are drawn into a staging folder
    and moved into DATA_DIR/plots together: a stop while they are drawn (tens of seconds)
    leaves the folder's plots as they were, not some redrawn from new tables beside older ones.
    `progress`: a bar on stderr counting the plots."""
    from scalefit.errors import InputError
    from scalefit.schema import require_columns
    from scalefit.schema import distinct_rows
    from scalefit.tables import read_table

    data_dir = Path(data_dir)
    missing = [n for n in ("runs.csv", "checkpoints.parquet") if not (data_dir / n).is_file()]
    if missing:
        raise InputError(f"{data_dir}: no {' or '.join(missing)}; a measured suite folder holds both "
                         "(scalefit suite sweep --tables DIR and suite ship --out DIR write them)")
    runs = read_table(data_dir / "runs.csv")
    table = read_table(data_dir / "checkpoints.parquet")
    require_columns(runs, RUN_COLUMNS, str(data_dir / "runs.csv"), "a suite's run table")
    require_columns(table, CHECKPOINT_COLUMNS, str(data_dir / "checkpoints.parquet"),
                    "a suite's checkpoint table")
    stats = table[table["stat"].notna()] if "stat" in table else table.iloc[:0]
    if len(stats):
        require_columns(table, STAT_COLUMNS, str(data_dir / "checkpoints.parquet"),
                        "a suite's weight-statistic rows")
    dataset = suite_dataset(table, str(data_dir / "checkpoints.parquet"))  # one loss to plot, or a message
    evals = table[table["metric"].notna()]  # one value per checkpoint and measurement, not two averaged
    distinct_rows(evals, ("model", "step", "dataset", "metric"), str(data_dir / "checkpoints.parquet"),
                  "evaluation")
    from tqdm import tqdm

    from scalefit.atomic import staged_output

    # a part the suite has no runs or checkpoints of gets no plot (was: empty axes, and a legend warning)
    plots = [lambda out: plot_loss_vs_compute(runs, table, out, dataset)] if (runs["part"] == "grid").any() else []
    parts = {p for p in ("long", "warmup") if (table["part"] == p).any()}
    if "long" in parts:
        plots.append(lambda out: plot_loss_vs_tokens(table, out, dataset))
    if "long" in parts and (stats["part"] == "long").any():
        plots.append(lambda out: plot_trajectories(table, TRAJECTORY_PANELS, out, "long", "trajectories_long",
                                                   "Weight statistics of the long runs (group rows)"))
    if "warmup" in parts and (stats["part"] == "warmup").any():
        sizes = ", ".join(sorted(table.loc[table["part"] == "warmup", "size"].dropna().unique()))
        plots.append(lambda out: plot_trajectories(table, TRAJECTORY_PANELS, out, "warmup", "trajectories_warmup",
                                                   f"{sizes} warmup variants"))
    names = []
    if plots:  # no plot applies (a suite of one part): no empty plots/ folder
        with staged_output(data_dir / "plots") as staging:
            names = [plot(staging).name for plot in tqdm(plots, desc="suite report", unit="plot", leave=False,
                                                          disable=not progress)]
    paths = [data_dir / "plots" / name for name in names]
    return {"plots": [str(p) for p in paths], "checks": suite_checks(runs, table, dataset)}

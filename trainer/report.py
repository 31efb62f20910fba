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

from scalefit.report import needs_log_axis, readable_log_axes
from scalefit.schema import group_values

DPI = 80


def _save(fig, out: Path, name: str) -> Path:
    readable_log_axes(fig)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{name}.png"
    fig.savefig(path, dpi=DPI, bbox_inches="tight")
    plt.close(fig)
    return path


def _size_colors(sizes):
    cmap = plt.get_cmap("viridis")
    return {s: cmap(i / max(1, len(sizes) - 1)) for i, s in enumerate(sizes)}


def eval_curve(table: pd.DataFrame, dataset: str = "prose-val") -> pd.DataFrame:
    """Per (model, step): loss on `dataset`, with tokens, params and flops."""
    rows = table[(table["metric"] == "loss") & (table["dataset"] == dataset)]
    return rows[["model", "size", "part", "step", "tokens", "params", "flops", "value"]].rename(
        columns={"value": "loss"}).sort_values(["model", "step"])


def plot_loss_vs_compute(runs: pd.DataFrame, table: pd.DataFrame, out: Path) -> Path:
    """Grid runs (points, one line per size) over the long runs' checkpoint curves."""
    grid = runs[runs["part"] == "grid"].sort_values(["params", "tokens"])
    sizes = list(dict.fromkeys(grid["model"]))
    colors = _size_colors(sizes)
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    curves = eval_curve(table[table["part"] == "long"])
    for size in sizes:
        c = curves[(curves["model"] == size) & (curves["step"] >= 16)]
        ax.plot(c["flops"], c["loss"], color=colors[size], lw=0.8, alpha=0.5)
        g = grid[grid["model"] == size]
        ax.plot(g["flops"], g["loss"], "o-", color=colors[size], label=f"{size} ({g['params_nonembed'].iloc[0]:,} non-emb.)")
    ax.set(xscale="log", yscale="log", xlabel="training compute C = 6ND (FLOPs)", ylabel="prose val loss (nats/token)",
           title="Mini suite: grid runs (dots, own cosine) and long-run checkpoints (lines)")
    ax.legend(fontsize=7, loc="lower left")  # loss falls with compute: empty there
    return _save(fig, out, "loss_vs_compute")


def plot_loss_vs_tokens(table: pd.DataFrame, out: Path) -> Path:
    """Long runs: loss against tokens per size (larger models lower at equal tokens)."""
    curves = eval_curve(table[table["part"] == "long"])
    sizes = sorted(curves["model"].unique(), key=lambda m: curves.loc[curves["model"] == m, "params"].iloc[0])
    colors = _size_colors(sizes)
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for size in sizes:
        c = curves[(curves["model"] == size) & (curves["step"] > 0)]
        ax.plot(c["tokens"], c["loss"], ".-", color=colors[size], label=size, ms=3)
    ax.set(xscale="log", xlabel="tokens seen", ylabel="prose val loss (nats/token)", title="Long runs")
    ax.legend(fontsize=7)
    return _save(fig, out, "loss_vs_tokens")


def stat_curve(table: pd.DataFrame, stat: str, group: str) -> pd.DataFrame:
    """Per (model, step): a group's statistic by the pooled-row rule (scalefit.schema.group_values)."""
    rows = table[(table["stat"] == stat) & (table["group"] == group)]
    facts = rows.groupby(["model", "step"], as_index=False).agg(warmup_steps=("warmup_steps", "first"),
                                                               params=("params", "first"))
    values = group_values(rows, by=("model", "step"))[["model", "step", "value"]]
    return values.merge(facts, on=["model", "step"], how="left")


def plot_trajectories(table: pd.DataFrame, panels, out: Path, part: str, name: str, title: str) -> Path:
    """A grid of statistic-vs-step panels for one part (long runs or warmup variants)."""
    sub = table[table["part"] == part]
    n = len(panels)
    cols = 3
    fig, axes = plt.subplots((n + cols - 1) // cols, cols, figsize=(4.0 * cols, 2.9 * ((n + cols - 1) // cols)),
                             squeeze=False)
    models = sorted(sub["model"].unique(), key=lambda m: (sub.loc[sub["model"] == m, "params"].iloc[0],
                                                          sub.loc[sub["model"] == m, "warmup_steps"].iloc[0]))
    colors = _size_colors(models)
    for ax, (stat, group) in zip(axes.flat, panels):
        curves = stat_curve(sub, stat, group)
        for m in models:
            c = curves[(curves["model"] == m) & (curves["step"] > 0)]
            ax.plot(c["step"], c["value"], ".-", ms=2, lw=0.8, color=colors[m], label=m)
            if part == "warmup" and len(c):
                ax.axvline(c["warmup_steps"].iloc[0], color=colors[m], ls=":", lw=0.8)
        ax.set(xscale="log", title=f"{group} / {stat}", xlabel="step")
        if needs_log_axis(curves.loc[curves["step"] > 0, "value"]):
            ax.set(yscale="log", title=f"{group} / {stat} (log scale)")
        ax.title.set_size(9)
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=6)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return _save(fig, out, name)


def suite_checks(runs: pd.DataFrame, table: pd.DataFrame) -> dict:
    """Does the suite show what a suite should? Loss falls with N and with D; bigger is lower at equal D."""
    grid = runs[runs["part"] == "grid"]

    def falls(g, by):  # strictly, as for the long runs; one run alone has nothing to compare
        return bool(np.all(np.diff(g.sort_values(by)["loss"].to_numpy()) < 0))

    by_size = {m: falls(g, "tokens") for m, g in grid.groupby("model") if g["tokens"].nunique() > 1}
    by_tokens = {int(t): falls(g, "params") for t, g in grid.groupby("tokens") if g["params"].nunique() > 1}
    curves = eval_curve(table[table["part"] == "long"])
    wide = curves.pivot_table(index="step", columns="model", values="loss").dropna()
    order = curves.drop_duplicates("model").sort_values("params")["model"].tolist()
    # from the shortest grid run's length on (240 steps in the mini spec): the early steps of a
    # small-LR warmup are not expected to be ordered by size
    start = int(grid["steps"].min()) if len(grid) and "steps" in grid else 0
    late = wide[wide.index >= start][order]
    ordered = late.apply(lambda r: bool(np.all(np.diff(r.to_numpy()) < 0)), axis=1)
    return {"loss_falls_with_tokens_per_size": by_size,
            "loss_falls_with_size_per_budget": by_tokens,
            "long_runs_larger_lower_at_equal_tokens": {"from_step": start, "checkpoints": int(len(ordered)),
                                                       "ordered": int(ordered.sum())},
            "final_long_losses": {m: round(float(wide[m].iloc[-1]), 4) for m in order}}


TRAJECTORY_PANELS = [("t_nu", "mlp_in"), ("excess_kurtosis", "mlp_in"), ("std", "mlp_in"),
                     ("stable_rank", "mlp_in"), ("alpha", "mlp_in"), ("excess_kurtosis", "attn_qkv"),
                     ("t_nu", "attn_out"), ("max_abs", "embed_in"), ("gennorm_beta", "mlp_out")]


def write_plots(data_dir) -> dict:
    """All plots into DATA_DIR/plots, and the checks."""
    from scalefit.errors import InputError
    from scalefit.tables import read_table

    data_dir = Path(data_dir)
    missing = [n for n in ("runs.csv", "checkpoints.parquet") if not (data_dir / n).is_file()]
    if missing:
        raise InputError(f"{data_dir}: no {' or '.join(missing)}; a measured suite folder holds both "
                         "(scalefit suite sweep --tables DIR and suite ship --out DIR write them)")
    runs = read_table(data_dir / "runs.csv")
    table = read_table(data_dir / "checkpoints.parquet")
    out = data_dir / "plots"
    paths = [plot_loss_vs_compute(runs, table, out)]
    # a part the suite has no checkpoints of gets no plot (was: empty axes, and a legend warning)
    parts = {p for p in ("long", "warmup") if (table["part"] == p).any()}
    if "long" in parts:
        paths.append(plot_loss_vs_tokens(table, out))
    stats = table[table["stat"].notna()]
    if "long" in parts and (stats["part"] == "long").any():
        paths.append(plot_trajectories(table, TRAJECTORY_PANELS, out, "long", "trajectories_long",
                                       "Weight statistics of the long runs (group rows)"))
    if "warmup" in parts and (stats["part"] == "warmup").any():
        sizes = ", ".join(sorted(table.loc[table["part"] == "warmup", "size"].dropna().unique()))
        paths.append(plot_trajectories(table, TRAJECTORY_PANELS, out, "warmup", "trajectories_warmup",
                                       f"{sizes} warmup variants (dotted: each warmup end)"))
    return {"plots": [str(p) for p in paths], "checks": suite_checks(runs, table)}

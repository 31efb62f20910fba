"""Plots of law fits: loss vs N coloured by D with the fitted curves, N*(C) frontiers, residuals."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from scalefit.scaling.laws.allocation import optimal_allocation  # noqa: E402
from scalefit.scaling.laws.fit import predict  # noqa: E402

COLORS = ("tab:blue", "tab:red", "tab:green", "tab:purple")


def plot_loss_vs_n(frame, results: dict):
    """Runs as points (colour = log10 D); each law's curve at a few token counts."""
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    N, D, L = (frame[c].to_numpy(float) for c in ("N", "D", "L"))
    sc = ax.scatter(N, L, c=np.log10(D), cmap="viridis", s=14, zorder=3)
    fig.colorbar(sc, ax=ax, label="log10 tokens D")
    grid = np.geomspace(N.min() / 1.5, N.max() * 1.5, 200)
    d_levels = np.quantile(D, [0.1, 0.5, 0.9])
    styles = ("-", "--", ":")
    for (name, result), color in zip(results.items(), COLORS):
        if result.law == "isoflop" or "N" not in _needs(result.law):
            continue
        scale, note = _n_scale(frame, result)
        for d, style in zip(d_levels, styles):
            ax.plot(grid, predict(result, grid * scale, np.full_like(grid, d)), style,
                    color=color, lw=1.2, label=f"{name}, D={d:.2g}{note}")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("parameters N")
    ax.set_ylabel("loss")
    ax.legend(fontsize=7)
    ax.set_title("Loss vs N (colour: D) with fitted laws")
    return fig


def _n_scale(frame, result):
    """Kaplan counts non-embedding N: draw its curve at the runs' median N_nonembed / N."""
    n_col = result.extra.get("n_column")
    if n_col and n_col != "params" and n_col in frame and "params" in frame:
        ratio = float(np.median(frame[n_col].to_numpy(float) / frame["params"].to_numpy(float)))
        return ratio, f" (N_nonembed = {ratio:.2f} N)"
    return 1.0, ""


def _needs(law):
    from scalefit.scaling.laws.runtable import LAW_NEEDS
    return LAW_NEEDS[law][0]


def plot_frontiers(results: dict, frame=None):
    """N*(C) of each law over 1e18..1e26 FLOPs (and the runs' own (C, N) for orientation)."""
    fig, ax = plt.subplots(figsize=(6.0, 4.2))
    flops = np.geomspace(1e18, 1e26, 100)
    for (name, result), color in zip(results.items(), COLORS):
        alloc = result.extra.get("allocation", {})
        if not np.isfinite(alloc.get("a", np.nan)):
            continue
        n_opt, _ = optimal_allocation(result.law, result.values(), flops,
                                      alloc.get("flops_per_param_token", 6.0)
                                      if result.law != "isoflop" else 1.0)
        ax.plot(flops, n_opt, color=color, label=f"{name}: N* ~ C^{alloc['a']:.2f}")
    if frame is not None:
        ax.scatter(frame["C"], frame["N"], s=8, color="gray", alpha=0.5, label="runs")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("training FLOPs C")
    ax.set_ylabel("compute-optimal N*")
    ax.legend(fontsize=8)
    ax.set_title("Compute-optimal frontiers")
    return fig


def plot_residuals(frame, results: dict):
    """log(observed) - log(predicted) against compute, one marker colour per law."""
    fig, ax = plt.subplots(figsize=(6.0, 3.8))
    for (name, result), color in zip(results.items(), COLORS):
        if result.law == "isoflop":
            continue
        n_col = result.extra.get("n_column") or "params"
        N = frame[n_col].to_numpy(float) if n_col in frame else frame["N"].to_numpy(float)
        pred = predict(result, N, frame["D"].to_numpy(float))
        ax.scatter(frame["C"], np.log(frame["L"]) - np.log(pred), s=10, color=color,
                   alpha=0.7, label=name)
    ax.axhline(0, color="black", lw=0.8)
    ax.set_xscale("log")
    ax.set_xlabel("training FLOPs C")
    ax.set_ylabel("log residual")
    ax.legend(fontsize=8)
    ax.set_title("Residuals")
    return fig

"""Plots of law fits: loss vs N coloured by D with the fitted curves, N*(C) frontiers, residuals.

Figures only: the backend is the caller's (the CLI entry sets one for files)."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from scalefit.scaling.laws.fit import predict
from scalefit.scaling.laws.registry import law_for

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
        law = law_for(result.law)
        if not law.predicts_loss or "N" not in law.needs:
            continue
        scale, note = _n_scale(frame, result)
        for d, style in zip(d_levels, styles):
            ax.plot(grid, predict(result, grid * scale, np.full_like(grid, d)), style,
                    color=color, lw=1.2, label=f"{name}, D={d:.2g}{note}")
    _label(ax, "parameters N", "loss", "Loss vs N (colour: D) with fitted laws", fontsize=7)
    return fig


def _n_scale(frame, result):
    """Kaplan counts non-embedding N: draw its curve at the runs' median N_nonembed / N."""
    n_col = result.extra.get("n_column")
    if n_col and n_col != "params" and n_col in frame and "params" in frame:
        ratio = float(np.median(frame[n_col].to_numpy(float) / frame["params"].to_numpy(float)))
        return ratio, f" (N_nonembed = {ratio:.2f} N)"
    return 1.0, ""


def plot_frontiers(results: dict, frame=None):
    """N*(C) of each law over 1e18..1e26 FLOPs (and the runs' own (C, N) for orientation)."""
    fig, ax = plt.subplots(figsize=(6.0, 4.2))
    flops = np.geomspace(1e18, 1e26, 100)
    for (name, result), color in zip(results.items(), COLORS):
        alloc = result.extra.get("allocation", {})
        if not np.isfinite(alloc.get("a", np.nan)):
            continue
        k = alloc.get("flops_per_param_token", 6.0)
        n_opt = np.exp(law_for(result.law).log_frontier(result.values(), flops, k))
        ax.plot(flops, n_opt, color=color, label=f"{name}: N* ~ C^{alloc['a']:.2f}")
    if frame is not None:
        ax.scatter(frame["C"], frame["N"], s=8, color="gray", alpha=0.5, label="runs")
    _label(ax, "training FLOPs C", "compute-optimal N*", "Compute-optimal frontiers")
    return fig


def plot_residuals(frame, results: dict):
    """log(observed) - log(predicted) against compute, one marker colour per law."""
    fig, ax = plt.subplots(figsize=(6.0, 3.8))
    for (name, result), color in zip(results.items(), COLORS):
        law = law_for(result.law)
        if not law.predicts_loss:
            continue
        n_col = result.extra.get("n_column") or "params"
        N = frame[n_col].to_numpy(float) if n_col in frame else frame["N"].to_numpy(float)
        extra = {v: frame[v].to_numpy(float) for v in law.extra_variables() if v in frame}
        pred = predict(result, N, frame["D"].to_numpy(float), **extra)
        ax.scatter(frame["C"], np.log(frame["L"]) - np.log(pred), s=10, color=color,
                   alpha=0.7, label=name)
    ax.axhline(0, color="black", lw=0.8)
    _label(ax, "training FLOPs C", "log residual", "Residuals", log_y=False)
    return fig


def _label(ax, xlabel, ylabel, title, *, log_y=True, fontsize=8):
    """Log axes (x always, y unless told), labels, legend and title of one panel."""
    ax.set_xscale("log")
    if log_y:
        ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=fontsize)
    ax.set_title(title)

"""Plots of statistic trajectories: against step with the LR schedule under it, and against loss."""
from __future__ import annotations

import numpy as np
import pandas as pd

from scalefit.report import bound_label, needs_log_axis, plot_marking_bounds
from scalefit.scaling.trajectories.landmarks import landmarks_for_run


def plot_transitions(traj: pd.DataFrame, transitions: pd.DataFrame, stat_label: str):
    """Statistic vs step (log axis) per run, transitions marked with their intervals, LR below."""
    import matplotlib.pyplot as plt

    fig, (ax, ax_lr) = plt.subplots(2, 1, figsize=(8, 6.5), sharex=True, layout="constrained",
                                    gridspec_kw={"height_ratios": [3, 1.2]})
    colors = plt.cm.viridis(np.linspace(0, 0.9, max(traj["model"].nunique(), 1)))
    # the statistic's name (its shape bounds), not the label's 'sv_max (mean over mlp_in's matrices)'
    stat = (traj.attrs.get("selection") or {}).get("stat") or stat_label.split(" / ")[0].split(" (")[0]
    capped = set()
    at_bound = _bound_points(traj)
    for i, (color, (model, run)) in enumerate(zip(colors, traj.groupby("model", sort=True))):
        run = run[run["step"] > 0].sort_values("step")
        shown = pd.concat([run[["step", "value"]], at_bound.get(model)]).sort_values("step")
        capped |= set(plot_marking_bounds(ax, shown["step"], shown["value"], stat, stack=i, marker="o", ms=3,
                                          lw=1, color=color, label=str(model)))
        for _, tr in transitions[transitions["model"] == model].iterrows():
            ax.axvline(tr["step"], color=color, ls="--", lw=1)
            ax.axvspan(tr["step_ci95_lo"], tr["step_ci95_hi"], color=color, alpha=0.12,
                       hatch="//" if tr.get("ci_widened", False) else None)
        landmarks = landmarks_for_run(run)
        if np.isfinite(landmarks.warmup_end):
            ax_lr.axvline(landmarks.warmup_end, color=color, ls=":", lw=1)
        if "lr" in run and run["lr"].notna().any():
            ax_lr.plot(run["step"], run["lr"], "-", color=color, lw=1)
    ax.set_xscale("log")
    if needs_log_axis(traj.loc[traj["step"] > 0, "value"]):
        ax.set_yscale("log")
    ax.set_ylabel(stat_label + (" (log scale)" if ax.get_yscale() == "log" else ""))
    widened = ", hatched: widened to hold the estimate" if (
        "ci_widened" in transitions and transitions["ci_widened"].any()) else ""
    banded = "step_ci95_lo" in transitions and np.isfinite(transitions["step_ci95_lo"].to_numpy(dtype=float)).any()
    bounds = "".join(f"\n{'△' if side == 'upper' else '▽'} {bound_label(stat, side)}: the fit's bound"
                     for side in sorted(capped, reverse=True))
    ax.set_title(f"{stat_label} against step (dashed: transitions"
                 + (f", band: 95% CI{widened})" if banded else "; no intervals)") + bounds)
    runs = len(ax.get_legend_handles_labels()[0])
    if runs > LEGEND_INSIDE_MAX:  # beside the panels, not over the curves
        fig.legend(*ax.get_legend_handles_labels(), fontsize=7, loc="outside right upper",
                   ncol=-(-runs // LEGEND_ROWS))
    else:
        ax.legend(fontsize=7, ncol=2)
    ax_lr.set_ylabel("learning rate")
    ax_lr.set_xlabel("step (dotted: warmup end)")
    return fig


def _bound_points(traj: pd.DataFrame) -> dict:
    """{model: its (step, value) at the shape's fit bound} of the checkpoints stat_trajectory left
    out (``attrs["at_bound"]``), after step 0: drawn as the bound's triangles, off the run's line, so
    the figure still shows where the run reached the bound."""
    return {r["model"]: pd.DataFrame({"step": [s for s in r["steps_at_bound"] if s > 0],
                                      "value": r["bound"]}, dtype=float)
            for r in traj.attrs.get("at_bound") or []}


LEGEND_INSIDE_MAX = 6   # runs named in a legend inside the axes; beyond, beside them
LEGEND_ROWS = 24        # entries per legend column


def plot_stat_vs_loss(joined: pd.DataFrame, collapse: dict, stat_label: str):
    """Statistic against loss per model, with the pooled power-law fit."""
    import matplotlib.pyplot as plt

    from scalefit.scaling.trajectories.stat_law import stat_power_law

    fig, ax = plt.subplots(figsize=(7, 5))
    colors = plt.cm.viridis(np.linspace(0, 0.9, max(joined["model"].nunique(), 1)))
    for color, (model, run) in zip(colors, joined.groupby("model", sort=True)):
        ax.plot(run["loss"], run["value"], "o", ms=3, color=color, label=str(model))
    pooled = collapse["pooled"].values()
    grid = np.linspace(joined["loss"].min(), joined["loss"].max(), 200)
    ratio = collapse.get("collapse_ratio")
    ratio = float("nan") if ratio is None else float(ratio)
    why = str(collapse.get("collapse_verdict") or "not computed").split(":")[0]  # its reason, as the text says it
    ax.plot(grid, stat_power_law(grid, **pooled), "k-", lw=1.5,
            label=f"pooled fit (collapse ratio {ratio:.2f})" if np.isfinite(ratio)
            else f"pooled fit (no collapse ratio: {why})")
    ax.set_xlabel("loss (nats/token)")
    ax.set_ylabel(stat_label)
    ax.invert_xaxis()
    ax.legend(fontsize=7)
    ax.set_title(f"{stat_label} against loss (training runs left to right)")
    fig.tight_layout()
    return fig


def plot_warmup_regression(picked: pd.DataFrame, regression):
    """Transition step against warmup end across runs, with the fitted line and y = x."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 4.5))
    banded = np.isfinite(picked["step_ci95_lo"].to_numpy(dtype=float)).any()  # none: --bootstrap 0
    ax.errorbar(picked["warmup_end"], picked["step"],
                yerr=[picked["step"] - picked["step_ci95_lo"], picked["step_ci95_hi"] - picked["step"]]
                if banded else None,
                fmt="o", capsize=3,
                label="transition (95% CI)" if banded else "transition (no interval: --bootstrap 0)")
    grid = np.linspace(0, picked["warmup_end"].max() * 1.1, 50)
    slope, intercept = regression.value("slope"), regression.value("intercept")
    lo, hi = regression.params["slope"].ci95
    ax.plot(grid, intercept + slope * grid, "-", label=f"fit: slope {slope:.2f} [95% CI {lo:.2f}, {hi:.2f}]")
    ax.plot(grid, grid, ":", color="gray", label="transition = warmup end")
    ax.set_xlabel("warmup end (step)")
    ax.set_ylabel("transition step")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_warmup_study(study: pd.DataFrame):
    """Slope of transition step on warmup end, one row per statistic, with its 95% interval:
    the first transition (onset) and the largest change side by side; 0 and 1 marked."""
    import matplotlib.pyplot as plt

    labels = [f"{r['stat']} / {r['group']}" for _, r in study.iterrows()]
    y = np.arange(len(study))[::-1].astype(float)
    fig, ax = plt.subplots(figsize=(7.5, 0.45 * len(study) + 2.2))
    for offset, which, color in ((0.15, "first", "tab:blue"), (-0.15, "largest", "tab:orange")):
        slope = study[f"{which}_slope"].to_numpy(dtype=float)
        lo, hi = study[f"{which}_lo"].to_numpy(dtype=float), study[f"{which}_hi"].to_numpy(dtype=float)
        ok = np.isfinite(slope)
        ax.errorbar(slope[ok], y[ok] + offset, xerr=[slope[ok] - lo[ok], hi[ok] - slope[ok]], fmt="o",
                    ms=4, color=color, capsize=2,
                    label="first transition" if which == "first" else "largest change")
    for x, text in ((0, "0: does not follow warmup"), (1, "1: follows warmup")):
        ax.axvline(x, color="grey", ls="--" if x else ":", lw=1, label=text)
    for row, (_, r) in zip(y, study.iterrows()):
        if not np.isfinite(r["first_slope"]) and not np.isfinite(r["largest_slope"]):
            ax.text(0.5, row, "no regression: too few runs with a transition", ha="center",
                    va="center", fontsize=7, color="grey", transform=ax.get_yaxis_transform())
    ax.set_yticks(y, labels, fontsize=8)
    ax.set_xlabel("slope of transition step on warmup end [95% CI]")
    ax.set_title("Which weight statistics move with warmup")
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.09), ncol=2, frameon=False)
    fig.tight_layout()
    return fig

"""The picture of `scalefit predict curve`: the predicted loss curve beside the measured one and
the points the law was fitted to, with the LR schedule below. No backend choice here."""
from __future__ import annotations

import numpy as np


def plot_curve(prediction, fitted=None, *, title: str = ""):
    """A figure: loss against step (predicted line, measured dots, fitted points) over the LR."""
    import matplotlib.pyplot as plt
    points = prediction.points
    fig, (ax, ax_lr) = plt.subplots(2, 1, figsize=(6.5, 5.5), sharex=True,
                                    gridspec_kw={"height_ratios": [3, 1]})
    ax.plot(points["step"], points["predicted"], "-", color="C0", label="predicted")
    if "ci95_lo" in points:
        ax.fill_between(points["step"], points["ci95_lo"], points["ci95_hi"], color="C0",
                        alpha=0.2, lw=0, label="95% interval (bootstrap)")
    if "measured" in points:
        ax.plot(points["step"], points["measured"], "o", ms=3, color="C1",
                label=f"measured (mean |rel. error| {100 * prediction.mean_rel_error:.2f}%)")
    if fitted is not None:
        ax.plot(fitted["step"], fitted["loss"], "x", ms=4, color="0.4", label="fitted on")
    shown = [points["measured"]] if "measured" in points else []
    shown += [fitted["loss"]] if fitted is not None else []
    if shown:  # the measured range: the law is not meant for the warmup's first steps
        values = np.concatenate([np.asarray(v, float) for v in shown])
        lo, hi = float(values.min()), float(values.max())
        ax.set_ylim(lo - 0.05 * (hi - lo), hi + 0.05 * (hi - lo))
    ax.set_ylabel("loss")
    ax.set_xscale("log")
    ax.legend(frameon=False)
    ax.set_title(title)
    ax_lr.plot(points["step"], points["lr"], "-", color="C2")
    ax_lr.set_ylabel("LR")
    ax_lr.set_xlabel("step")
    ax_lr.set_ylim(bottom=0)
    fig.tight_layout()
    return fig


def plot_grid_prediction(grid):
    """Predicted vs measured final loss of the target runs, one marker per method."""
    import matplotlib.pyplot as plt
    t = grid.targets
    fig, ax = plt.subplots(figsize=(5, 5))
    lo, hi = float(t["measured"].min()) - 0.1, float(t["measured"].max()) + 0.1
    ax.plot([lo, hi], [lo, hi], "-", color="0.7", lw=1)
    for method, marker in (("schedule_law", "o"), ("naive", "s"), ("chinchilla", "^")):
        err = 100 * float(np.mean(np.abs(t[f"{method}_rel_error"])))
        ax.plot(t["measured"], t[method], marker, ms=4, label=f"{method} ({err:.2f}%)")
    ax.set_xlabel("measured final loss")
    ax.set_ylabel("predicted final loss")
    ax.legend(frameon=False)
    fig.tight_layout()
    return fig

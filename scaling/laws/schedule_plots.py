"""The picture of `scalefit predict curve`: the predicted loss curve beside the measured one and
the points the law was fitted to, with the LR schedule below; and a schedule law's fitted curves
(fitted_curves.csv and its figure) that `fit schedule-law --out` and the law report write. No
backend choice here."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from scalefit.report import distinct_line_style, fitted_and_extrapolated, readable_log_axes


LOSS = "loss (nats/token)"


def loss_axis_label(loss_column: str = "loss") -> str:
    """The loss axis of a curve fitted to ``loss_column``: a cross entropy in nats/token for
    'loss', another column with the unit its name tells (column_unit: 'bpb (bits/byte)'), else
    the column's own name."""
    from scalefit.scaling.outputs import column_unit
    unit = column_unit(loss_column)
    return LOSS if loss_column == "loss" else f"{loss_column} ({unit})" if unit else str(loss_column)


def plot_curve(prediction, fitted=None, *, title: str = "", loss_label: str = LOSS):
    """A figure: loss against step (predicted line, measured dots, fitted points) over the LR."""
    import matplotlib.pyplot as plt
    points = prediction.points
    fig, (ax, ax_lr) = plt.subplots(2, 1, figsize=(6.5, 6.2), sharex=True, layout="constrained",
                                    gridspec_kw={"height_ratios": [3, 1]})
    steps, predicted = points["step"].to_numpy(float), points["predicted"].to_numpy(float)
    known = "measured" in points  # a held-out run checks it; else nothing does
    for part, style, label in _fitted_range_parts(steps, fitted):
        ax.plot(steps[part], predicted[part], style, color="C0", label=label or (
            "predicted" if known else "predicted (no run followed this schedule)"))
    if "ci95_lo" in points:
        ax.fill_between(points["step"], points["ci95_lo"], points["ci95_hi"], color="C0",
                        alpha=0.2, lw=0, label="95% interval (bootstrap)")
    if "measured" in points:
        ax.plot(points["step"], points["measured"], "o", ms=3, color="C1",
                label=f"measured (mean |rel. error| {100 * prediction.mean_abs_rel_error:.2f}%)")
    if fitted is not None:
        ax.plot(fitted["step"], fitted["loss"], "x", ms=4, color="0.4", label="fitted on")
    shown = [points["measured"]] if "measured" in points else []
    if fitted is not None:  # and the curve from the first step fitted on, so that a projection
        shown += [fitted["loss"], predicted[steps >= np.min(fitted["step"])]]  # past them shows
    if shown:  # not the warmup's first steps: the law is not meant for them
        values = np.concatenate([np.asarray(v, float) for v in shown])
        lo, hi = float(values.min()), float(values.max())
        ax.set_ylim(lo - 0.05 * (hi - lo), hi + 0.05 * (hi - lo))
    ax.set_ylabel(loss_label)
    ax.set_xscale("log")
    ax.set_title(title)
    ax_lr.plot(points["step"], points["lr"], "-", color="C2")
    ax_lr.set_ylabel("learning rate")
    ax_lr.set_xlabel("step")
    ax_lr.set_ylim(bottom=0)
    fig.legend(*ax.get_legend_handles_labels(), frameon=False, fontsize=8, ncol=2,
               loc="outside lower center")  # under the panels: the curve fills any corner
    return fig


EXTRAPOLATED = "extrapolated: outside the steps fitted"


def _fitted_range_parts(steps, fitted):
    """(slice, line style, label) of the curve: solid over the fitted checkpoints' steps, dashed
    before and after them (the law is extrapolated there); the first dashed part is labelled."""
    if fitted is None or not len(fitted):
        return [(slice(0, len(steps)), "-", None)]
    parts = fitted_and_extrapolated(steps, np.min(fitted["step"]), np.max(fitted["step"]))
    labels = iter([EXTRAPOLATED])
    return [(part, "-", None) if inside else (part, "--", next(labels, "_nolegend_"))
            for part, inside in parts]


def plot_fitted_curves(table, law: str, loss_label: str = LOSS):
    """fit schedule-law's figure: each run's measured loss (dots) and the fitted law (line of the
    same colour) against step; `table` has model, step, loss, fitted."""
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    for i, (model, run) in enumerate(table.groupby("model", sort=False)):
        style = distinct_line_style(i)
        ax.plot(run["step"], run["loss"], "o", ms=3, color=style["color"], label=model)
        ax.plot(run["step"], run["fitted"], **style)
    ax.set_xscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel(loss_label)
    ax.set_title(f"{law}: measured (dots) and fitted (lines)")
    ax.legend(frameon=False, fontsize=8)
    return fig


def plot_grid_prediction(grid):
    """Predicted vs measured final loss of the target runs, one marker per method."""
    import matplotlib.pyplot as plt
    t = grid.targets
    fig, ax = plt.subplots(figsize=(5, 5))
    lo, hi = float(t["measured"].min()) - 0.1, float(t["measured"].max()) + 0.1
    ax.plot([lo, hi], [lo, hi], "-", color="0.7", lw=1, label="predicted = measured")
    methods = (("schedule_law", "o"), ("schedule_law_profiled", "D"), ("naive", "s"), ("chinchilla", "^"))
    for method, marker in methods:
        if method not in t:
            continue
        err = 100 * float(np.mean(np.abs(t[f"{method}_rel_error"])))
        label = method if method != "schedule_law_profiled" or grid.lambda_profile is None else \
            f"schedule_law, lambda {grid.lambda_profile.lam:g}"
        ax.plot(t["measured"], t[method], marker, ms=4,
                label=f"{label} (mean |rel. error| {err:.2f}%)")
    ax.set_xlabel("measured final loss (nats/token)")
    ax.set_ylabel("predicted final loss (nats/token)")
    ax.legend(frameon=False)
    fig.tight_layout()
    return fig


def _a_share_title(share: dict, n_bootstrap: int) -> str:
    """The a panel's title: the explained share of the a gap where the text reports it, else why
    not, in share_refusal's order; a gap not identified with its interval's ends and that gaps
    that large are not excluded either ('its interval includes 0' read as no gap)."""
    from scalefit.scaling.interval_text import interval_ends
    from scalefit.scaling.laws.schedule_gap import refusal_kind
    kind = refusal_kind(share, n_bootstrap)
    if kind is None:
        ci = share["ci95"]
        return (f"schedule explains {100 * share['value']:.0f}% "
                f"[{100 * ci[0]:.0f}%, {100 * ci[1]:.0f}%] of the a gap")
    if kind == "none":
        return "share of the a gap not reported (no resamples)"
    if kind == "rough":
        return "share of the a gap not reported (too few resamples)"
    if kind == "no_interval":
        return "a gap not identified (no interval)"
    ci = share["gap_ci95"]
    lo, hi = interval_ends(ci[0], ci[1], share.get("gap"), sign=True)
    return (f"a gap not identified: its interval [{lo}, {hi}] includes 0\n"
            f"and gaps as large as {lo} and {hi} (not excluded either)")


def plot_schedule_gap(gap):
    """Issue 14 section 4 in one figure: each point set's losses against compute with its fitted
    compute-optimal frontier (dashed past the largest compute fitted: a projection), and each
    set's allocation exponent a with its 95% interval."""
    import matplotlib.pyplot as plt
    fig, (ax, ax_a) = plt.subplots(1, 2, figsize=(11, 4.6),
                                   gridspec_kw={"width_ratios": [3, 2]})
    markers = {"kaplan": "o", "grid": "s", "grid-kaplan-steps": "s", "corrected": "D",
               "wsd": "^", "grid-wsd-sizes": "v"}
    sets = list(gap.sets.values())
    for i, s in enumerate(sets):
        color = f"C{i % 10}"
        flops = s.points["flops"].to_numpy(float)
        ax.plot(flops, s.points["loss"], markers.get(s.name, "o"), ms=4, color=color,
                alpha=0.8, label=s.label)
        top = max(b["flops"] for b in s.budgets)
        seen = np.geomspace(flops.min(), s.largest_flops, 60)
        beyond = np.geomspace(s.largest_flops, top, 60)
        ax.plot(seen, s.frontier(seen), "-", color=color, lw=1.2)
        ax.plot(beyond, s.frontier(beyond), "--", color=color, lw=1.2)
        ci = s.a_ci95
        if np.all(np.isfinite(ci)):  # drawn about its middle: a percentile interval of few resamples can miss a
            ax_a.errorbar((ci[0] + ci[1]) / 2, i, xerr=(ci[1] - ci[0]) / 2, fmt="none", color=color, capsize=3)
        ax_a.plot(s.a, i, markers.get(s.name, "o"), color=color)
    ax.plot([], [], "--", color="0.3", lw=1.2, label="frontier past the largest fitted C: projection")
    ax.set_xscale("log")
    ax.set_xlabel("training compute C (FLOPs)")
    ax.set_ylabel(f"loss on {gap.settings['dataset']} (nats/token)")
    ax.set_title("points and compute-optimal frontiers (dashed: projection)", fontsize=9)
    ax.legend(frameon=False, fontsize=7)
    ax_a.set_yticks(range(len(sets)))
    ax_a.set_yticklabels([s.label for s in sets], fontsize=7)
    ax_a.invert_yaxis()
    ax_a.set_xlabel("allocation exponent a (N* ~ C^a), 95% interval")
    share = gap.shares.get("a")
    if share:  # reported as the text and the JSON report it (schedule_gap.share_refusal)
        ax_a.set_title(_a_share_title(share, int(gap.settings.get("n_bootstrap") or 0)), fontsize=9)
    fig.tight_layout()
    readable_log_axes(fig)  # --plot saves it without save_figure
    return fig


def write_fitted_curves(out_dir, result, curves, loss_column="loss"):
    """fitted_curves.csv (model, step, loss, fitted) and its figure: a schedule law's fit drawn
    over the curves it was fitted to (`fit schedule-law --out`, and `fit LAW --out` for one)."""
    import pandas as pd
    from scalefit.atomic import write_frame
    from scalefit.report import save_figure
    from scalefit.scaling.laws.curve_fit import law_of
    fitted = law_of(result).loss_curve(result.values(), curves)
    table = pd.DataFrame({"model": np.asarray(curves.names)[curves.run], "step": curves.step,
                          "loss": curves.loss, "fitted": fitted})
    write_frame(table, Path(out_dir) / "fitted_curves.csv")
    save_figure(plot_fitted_curves(table, result.law, loss_axis_label(loss_column)), out_dir,
                "fitted_curves")
    return table

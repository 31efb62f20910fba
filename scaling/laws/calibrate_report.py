"""The report of a calibration (`scalefit calibrate` and `print(Calibration)`): the cuts table, the
coverage by distance, the text, the figure and the report folder's files."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from scalefit.report import markdown_table, readable_log_axes, save_figure, write_text
from scalefit.scaling.laws.calibrate import scored_inside, shown_by_distance
from scalefit.scaling.outputs import interrupted_lines, percent_columns
from scalefit.scaling.relations.resampling import checkpoints_of
from scalefit.tables import write_table


def _cut_frame(result) -> pd.DataFrame:
    """One row per cut; a law's cuts also say the slope of the runs' log scatter in log N their
    prediction intervals drew (scatter.py; '-' where one scale was drawn). Coverage and the
    median |rel err| print as percentages, as the coverage line below them (cuts.csv keeps the
    fractions)."""
    columns = ["cut_flops", "n_fit", "n_predicted", "n_unscored", "max_distance", "coverage",
               "median_abs_rel_error"]
    columns = [c for c in columns if c != "n_unscored" or c in result.cuts.columns]  # where some were
    columns += [c for c in ("scatter_slope",) if c in result.cuts.columns]
    # fractions as the percentages the coverage line prints
    shown = percent_columns(result.cuts[columns], shares=["coverage"],
                            errors=["median_abs_rel_error"])
    return shown.rename(columns={
        "cut_flops": "cut FLOPs", "n_fit": "fitted", "n_predicted": "predicted", "n_unscored": "unscored",
        "max_distance": "max x largest", "median_abs_rel_error": "median |rel err|",
        "scatter_slope": "scatter slope (log sd per log N)"})


def scatter_note(result) -> list[str]:
    """Why a cut's scatter slope prints '-': its intervals drew one scale of the runs' scatter at
    every size (scatter.py says why: a law of compute alone reads no N, fewer than MIN_SIZES
    sizes, no finite trend); the column of '-' went unexplained."""
    from scalefit.scaling.laws.scatter import CONSTANT, MIN_SIZES
    if "pi95_scatter" not in result.cuts.columns:
        return []
    one = result.cuts[result.cuts["pi95_scatter"] == CONSTANT]
    if not len(one):
        return []
    cuts = "every cut" if len(one) == len(result.cuts) else \
        "cut " + ", ".join(f"{c:.3g}" for c in one["cut_flops"])
    return [f"scatter slope '-' ({cuts}): the intervals drew {CONSTANT}, with no slope in "
            f"log N (a law that reads no N, fitted residuals of fewer than {MIN_SIZES} sizes, "
            "or too few runs off the curve for a finite trend)"]


def left_out_count(result) -> str:
    """' (1 more left out: fit did not converge)' after the count of cuts scored, where a cut's
    fit was no fit (calibrate.unconverged_reason; a note says which and why); '' where none."""
    if not result.left_out:
        return ""
    return f" ({len(result.left_out)} more left out: fit did not converge)"


def calibration_text(result) -> str:
    from scalefit.scaling.laws.report import text_table
    preds = result.predictions
    scored = scored_inside(preds["inside"])  # beyond REACH: no interval, not scored
    inside = int(scored.sum())
    held = ("held-out runs" if not result.checkpoints else checkpoints_of(
        result.checkpoints["n_checkpoints"], result.checkpoints["n_models"], "held-out checkpoint"))
    out = [f"calibrate {result.law} on {result.data}: {len(result.cuts)} leave-future-out "
           f"cut{'s' * (len(result.cuts) != 1)}{left_out_count(result)}, {len(preds)} predictions of {held} "
           f"({result.n_bootstrap} bootstrap draws per fit)", "", text_table(_cut_frame(result)), "",
           "by distance from the largest fitted run:", text_table(shown_by_distance(result.by_distance)), "",
           f"coverage: {inside} of {scored.size} observed {result.observed} "
           f"({result.coverage:.0%}) inside "
           f"their {result.level:.0%} prediction intervals (nominal {result.level:.0%}"
           + ("; the intervals are too narrow)" if result.coverage < result.level - 0.1 else ")")]
    out += [f"note: {n}" for n in [*scatter_note(result), *result.notes]]
    for _, cut in result.cuts.iterrows():
        if cut["warnings"]:
            out.append(f"warning (cut {cut['cut_flops']:.3g}): {cut['warnings']}")
    return "\n".join(out)


WIDTH_CEILING = 10.0  # a relative half-width above this (1000%) holds any loss: plotted at it


def _scored_count(result) -> str:
    """'40' predictions, or '38 scored' where some (beyond REACH) had no interval to score."""
    scored = scored_inside(result.predictions["inside"]).size
    return f"{scored} scored" if scored < len(result.predictions) else str(scored)


def plot_calibration(result):
    """|relative error| against distance, inside (dot) or outside (cross) the 95% interval,
    with the intervals' half-widths for comparison."""
    import matplotlib.pyplot as plt
    preds = result.predictions
    fig, ax = plt.subplots(figsize=(6.0, 5.0), layout="constrained")
    inside = preds["inside"].eq(True).to_numpy()
    outside = preds["inside"].eq(False).to_numpy()  # neither: beyond REACH, no interval to score
    err = np.maximum(preds["relative_error"].abs().to_numpy(float), 1e-6)
    ax.scatter(preds["distance"][inside], err[inside], s=12, color="tab:blue",
               label="inside its 95% interval")
    ax.scatter(preds["distance"][outside], err[outside], s=18, marker="x", color="tab:red",
               label="outside", zorder=3)  # the few misses on top of the many hits
    unscored = ~(inside | outside)
    if unscored.any():
        ax.scatter(preds["distance"][unscored], err[unscored], s=14, facecolors="none",
                   edgecolors="tab:blue", label="no interval (unscored)")
    width = preds["interval_half_width"].to_numpy(float)
    wide = ~(width <= WIDTH_CEILING)  # unbounded draws (1e291, inf) broke the log axis's ticks
    ax.scatter(preds["distance"][~wide], width[~wide], s=6, color="gray", alpha=0.5,
               label="interval half-width (relative)")
    if wide.any():
        ax.scatter(preds["distance"][wide], np.full(int(wide.sum()), WIDTH_CEILING), s=14,
                   marker="^", color="gray", label=f"half-width over {WIDTH_CEILING:.0%} "
                   f"({int(wide.sum())}), drawn at it")
    ax.set_xscale("log")
    ax.set_yscale("log")
    # whole decades from 1 (the largest fitted run) on: matplotlib labelled 1.1-7.8x at 2, 3, 5 only
    distance = preds["distance"].to_numpy(float)
    distance = distance[np.isfinite(distance) & (distance > 0)]
    if distance.size:
        ax.set_xlim(min(1.0, distance.min() / 1.1),
                    10.0 ** max(1, math.ceil(math.log10(distance.max() * 1.05))))
    readable_log_axes(fig)
    ax.set_xlabel("distance: compute / largest fitted compute (x; 1 = the largest fitted run)")
    ax.set_ylabel("|predicted - observed| / observed")
    ax.set_title(f"{result.law}\nleave-future-out error, coverage {result.coverage:.0%}",
                 fontsize=9)
    fig.legend(*ax.get_legend_handles_labels(), fontsize=7, ncol=2, frameon=False,
               loc="outside lower center")  # hundreds of points fill every corner of the axes
    return fig


def write_calibration_files(out: Path, result) -> None:
    """report.md, the three tables and the figure of a Calibration, into ``out`` (a staging folder:
    outputs.write_report_folder moves them into --out together)."""
    write_table(result.predictions, out / "predictions.csv")
    write_table(result.by_distance, out / "by_distance.csv")
    write_table(result.cuts, out / "cuts.csv")
    save_figure(plot_calibration(result), out, "calibration")
    text = [f"# Calibration of {result.law} on {result.data}", "",
            "Leave-future-out: fit below each compute cut, predict every run at or above it; "
            "a 95% prediction interval (bootstrap draws of the law plus the runs' scatter) "
            f"should hold the observed value ({result.observed}) 95% of the time.", "",
            *interrupted_lines(result.interrupted),
            f"Coverage: {result.coverage:.1%} of {_scored_count(result)} predictions "
            f"at {len(result.cuts)} cut{'s' * (len(result.cuts) != 1)}{left_out_count(result)}.", "",
            markdown_table(_cut_frame(result)), "", "## By distance", "",
            markdown_table(shown_by_distance(result.by_distance)), "", "![calibration](calibration.png)"]
    said = [f"- note: {n}" for n in [*scatter_note(result), *result.notes]] + [  # as the terminal says them
        f"- warning (cut {cut['cut_flops']:.3g}): {cut['warnings']}"
        for _, cut in result.cuts.iterrows() if cut.get("warnings")]
    if said:
        text += ["", "## Notes and warnings", "", *said]
    write_text(out, "report.md", "\n".join(text) + "\n")

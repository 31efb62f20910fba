"""The init study in sentences: each condition against pythia early and late (means, intervals, the
test, the outcome), which predicted outcome the data support, the warmup hypothesis and where the
weight laws go; every sentence is built from the study's numbers."""
from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from scalefit.scaling.trajectories.init_contrasts import ALPHA, CONTROL

if TYPE_CHECKING:  # the annotation only: init_study imports this module to write its sentences
    from scalefit.scaling.trajectories.init_study import InitStudy

UPPER_BOUND = "source"  # continued training: the upper bound, not one of the three predictions
OUTCOMES = {"faster": "faster", "same": "same speed or a difference too small to detect",
            "slower": "slower (or won't train)",
            "undetermined": "undetermined (these runs allow no test)"}


def _fmt_steps(x) -> str:
    return "never" if not np.isfinite(x) else f"{x:.0f}"


def _interval(lo, hi, fmt) -> str:
    return "" if not (np.isfinite(lo) and np.isfinite(hi)) else f" [{fmt(lo)}, {fmt(hi)}]"


def permutation_floor(n: int, n_control: int) -> float:
    """The least exact permutation p (``init_contrasts.permutation_p``) that n seeds against
    n_control can give: the observed split alone, with its mirror where the two sides are equal."""
    return (2 if n == n_control else 1) / math.comb(n + n_control, n)


def _p(row, n: int, n_control: int) -> str:
    """The seeds each side and the exact permutation p, then the test's p that decides the outcome:
    Welch's p alone (1.7e-05 for 3 seeds against 3) read as strong evidence, while no split of
    those 6 seeds gives a permutation p below 0.1; a reader who quotes one sees the other."""
    if not np.isfinite(row["p"]):
        return "no test (one run a side)"
    seeds = f"{n} {row['init']} seed{'s' * (n != 1)} vs {n_control} {CONTROL}"
    perm = row.get("p_perm", math.nan)
    if np.isfinite(perm):
        least = (f" (the least {n} vs {n_control} can give)"
                 if perm <= permutation_floor(n, n_control) * (1 + 1e-9) else "")
        seeds += f": exact permutation p = {perm:.2g}{least}"
    return f"{seeds}, p = {row['p']:.2g} ({row['test']})"


def contrast_sentence(row, summary: pd.DataFrame, thresholds: pd.DataFrame) -> str:
    """One contrast in words: the two means with intervals, the difference, the test, the outcome."""
    key = (summary["size"] == row["size"]) & (summary["warmup"] == row["warmup"]) & (
        summary["measure"] == row["measure"])
    mine = summary[key & (summary["init"] == row["init"])].iloc[0]
    ctrl = summary[key & (summary["init"] == CONTROL)].iloc[0]
    if row["measure"] == "final_loss":
        fmt = "{:.3f}".format
        what = "final loss"
        diff = f"{row['diff']:+.3f}{_interval(row['ci_lo'], row['ci_hi'], '{:+.3f}'.format)}"
    else:
        k = int(row["measure"].rsplit("_", 1)[1])
        thr = thresholds[(thresholds["size"] == row["size"]) & (thresholds["threshold"] == k)].iloc[0]
        frac = "" if not np.isfinite(thr["drop_fraction"]) else \
            f", {100 * thr['drop_fraction']:.0f}% of {CONTROL}'s drop"
        fmt = _fmt_steps
        what = f"steps to loss {thr['loss']:.3f}{frac}"
        rel = f", {100 * row['relative']:+.0f}%" if np.isfinite(row["relative"]) else ""
        diff = f"{row['diff']:+.0f} steps{_interval(row['ci_lo'], row['ci_hi'], '{:+.0f}'.format)}{rel}"
    reached = "" if row["measure"] == "final_loss" or mine["n_reached"] == mine["n"] else \
        f" ({int(mine['n_reached'])} of {int(mine['n'])} seeds got there)"
    if np.isfinite(row["diff"]):
        tested = f"{diff}, {_p(row, int(mine['n_reached']), int(ctrl['n_reached']))}"
    elif mine["n_reached"] == 0:
        tested = (f"no difference to test: it never got there, {int(ctrl['n_reached'])} of {int(ctrl['n'])} "
                  f"{CONTROL} seeds did")
    else:  # it got there and the control never did: the difference is not a number, not absent
        tested = (f"no difference to test: {CONTROL} never got there, {int(mine['n_reached'])} of "
                  f"{int(mine['n'])} {row['init']} seed{'s' if int(mine['n']) != 1 else ''} did")
    return (f"{row['init']}: {what} {fmt(mine['mean'])}{_interval(mine['ci_lo'], mine['ci_hi'], fmt)}"
            f"{reached} vs {CONTROL} {fmt(ctrl['mean'])}{_interval(ctrl['ci_lo'], ctrl['ci_hi'], fmt)}: "
            f"{tested} -> {OUTCOMES[row['outcome']]}")


def nothing_to_compare(runs: pd.DataFrame) -> str:
    """Why a table gives no contrast, and what the study needs instead."""
    if set(runs["init"]) == {CONTROL}:
        return (f"no condition to compare: every run starts from the {CONTROL} init; the study needs "
                "runs from another init (empirical, family, ...) beside them")
    return (f"no condition to compare with {CONTROL}: no {CONTROL} run has the size and warmup of "
            "another init's runs (each condition is compared with the control of its size and warmup)")


def sentences(study: InitStudy) -> list[str]:
    """The verdict, built from the numbers: per size and warmup, early (steps to the first
    threshold) and late (final loss), each condition against pythia, then which predicted
    outcome the data support, the warmup hypothesis and where the weight laws go."""
    out = []
    c = study.contrasts
    cells = sorted(c.groupby(["size", "warmup"]), key=lambda kv: (str(kv[0][0]), kv[0][1] != "warmup"))
    for (size, warmup), cell in cells:
        runs = study.runs[(study.runs["size"] == size) & (study.runs["warmup"] == warmup)]
        steps = sorted(set(runs["warmup_steps"]))
        label = "no warmup" if warmup == "no warmup" else (
            f"with warmup ({steps[0]} steps)" if len(steps) == 1 and steps[0] > 0 else "with warmup")
        out.append(f"## {size}, {label}")
        for phase, measure in (("early", "steps_to_1"), ("late", "final_loss")):
            rows = cell[cell["measure"] == measure]
            for _, row in rows.iterrows():
                out.append(f"{phase}: " + contrast_sentence(row, study.summary, study.thresholds))
            predicted = rows[rows["init"] != UPPER_BOUND]
            if len(predicted):
                groups = {}
                for _, row in predicted.iterrows():
                    groups.setdefault(OUTCOMES[row["outcome"]], []).append(row["init"])
                untested = groups.pop(OUTCOMES["undetermined"], [])  # not an outcome the data support
                said = ["the data support " + "; ".join(f"{name} ({', '.join(inits)})"
                                                       for name, inits in groups.items())] if groups else []
                said += [f"no outcome can be read for {', '.join(untested)} (these runs allow no test)"] if untested else []
                out.append(f"{phase}, {label}: {'; '.join(said)}.")
    if len(study.warmup_effect):
        out.append("## The warmup hypothesis: what dropping warmup changes, against what it changes for "
                   f"{CONTROL}")
    for _, row in study.warmup_effect.iterrows():
        if row["measure"] == "steps_to_1":
            thr = study.thresholds[(study.thresholds["size"] == row["size"]) & (study.thresholds["threshold"] == 1)]
            what, fmt = f"steps to loss {thr['loss'].iloc[0]:.3f}", "{:+.0f}".format
        else:
            what, fmt = "final loss", "{:+.3f}".format
        head = (f"warmup, {row['size']} {row['init']}: dropping warmup changes its {what} by {fmt(row['cost'])}, "
                f"{CONTROL}'s by {fmt(row['control_cost'])}; difference {fmt(row['diff'])}")
        if not np.isfinite(row["p"]):
            out.append(f"{head}, no test ({int(row['min_seeds'])} seed in a run set; the test needs two "
                       f"or more in each): no reading of {row['init']}'s need for warmup.")
            continue
        verdict = (f"needs warmup less than {CONTROL}" if row["diff"] < 0 else f"needs warmup more than {CONTROL}") \
            if row["p"] < ALPHA else (f"shows no difference from {CONTROL} in its need for warmup detectable at "
                                      f"the {ALPHA:.0%} level (the interval bounds how large one could be)")
        out.append(f"{head}{_interval(row['ci_lo'], row['ci_hi'], fmt)}, p = {row['p']:.2g} (Welch t over the four "
                   f"run sets, {int(row['min_seeds'])} or more seeds each; no permutation test of a difference of "
                   f"differences): {row['init']} {verdict}.")
    shapes = study.shapes
    if len(shapes):
        axis = "1/t_nu" if study.stat == "t_nu" else study.stat
        out.append(f"## Weight laws: {axis} per group at the first and the last checkpoint (mean over seeds)")
        for (size, init, warmup), cell in shapes.groupby(["size", "init", "warmup"], sort=False):
            parts = [f"{r['group']} {r['start']:.3g} -> {r['end']:.3g} ({r['verdict']})"
                     for _, r in cell.iterrows()]
            out.append(f"weights, {size} {init} {warmup}: {axis} " + "; ".join(parts) + ".")
    return out

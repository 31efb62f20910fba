"""The init study in sentences: what the inits are (where the learned laws come from, what the seeds
vary), each condition against pythia early and late (means, intervals, the test, the outcome), which
predicted outcome the data support, the shape contrasts (each init carrying the source's law against
gauss-matched), the warmup hypothesis and where the weight laws go (with a flag on an init that does
not start with the source's law); every sentence is built from the study's numbers."""
from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from scalefit.scaling.trajectories.init_contrasts import (ALPHA, CONTROL, FAR_FACTOR, JUDGED_SHARE, SHAPE_CONTROL,
                                                        UPPER_BOUND)

if TYPE_CHECKING:  # the annotation only: init_study imports this module to write its sentences
    from scalefit.scaling.trajectories.init_study import InitStudy

OUTCOMES = {"faster": "faster", "same": "same speed or a difference too small to detect",
            "slower": "slower (or won't train)",
            "undetermined": "undetermined (these runs allow no test)"}
# the shape contrasts' outcomes: against the Gaussian of the same scale, not against pythia
SHAPE_OUTCOMES = {"faster": f"faster than {SHAPE_CONTROL}, the Gaussian of its scale",
                  "same": f"no difference from {SHAPE_CONTROL}, the Gaussian of its scale, detectable at the 5% "
                          "level (the interval bounds how large one could be)",
                  "slower": f"slower than {SHAPE_CONTROL}, the Gaussian of its scale",
                  "undetermined": "undetermined (these runs allow no test)"}
# the shape contrasts' outcomes in a phase's summary line (undetermined: said as "no test for")
SHAPE_BRIEF = {"faster": f"faster than {SHAPE_CONTROL}", "slower": f"slower than {SHAPE_CONTROL}",
               "same": f"no difference from {SHAPE_CONTROL} detectable at the 5% level"}
# an outcome left undetermined because the shares of seeds that reached a threshold differ but not
# detectably (Boschloo's exact p >= ALPHA; init_contrasts.outcome), not because nothing could be tested
BY_CHANCE = ("undetermined (the shares of seeds that got there differ, but not detectably at the 5% level; "
             "the steps of those that did are not all the seeds')")
CHANCE_BRIEF = "the shares of seeds that got there differ, but not detectably at the 5% level"
_FRACTIONS = {2: "half", 3: "third", 4: "quarter", 5: "fifth", 10: "tenth"}


def _share_words(share: float) -> str:
    """0.1 -> 'a tenth'; a share with no such word -> its number."""
    n = round(1 / share)
    return f"a {_FRACTIONS[n]}" if n in _FRACTIONS and math.isclose(n * share, 1) else f"{share:g}"


# the tails flag's rule in words (init_study.tails), from its constants
FAR_WORDS = f"outside [1/{FAR_FACTOR:g}, {FAR_FACTOR:g}]"
JUDGED_WORDS = f"at least {_share_words(JUDGED_SHARE)} of its largest"


def _fmt_steps(x) -> str:
    return "never" if not np.isfinite(x) else f"{x:.0f}"


def _interval(lo, hi, fmt) -> str:
    return "" if not (np.isfinite(lo) and np.isfinite(hi)) else f" [{fmt(lo)}, {fmt(hi)}]"


def permutation_floor(n: int, n_control: int) -> float:
    """The least exact permutation p (``init_contrasts.permutation_p``) that n seeds against
    n_control can give: the observed split alone, with its mirror where the two sides are equal."""
    return (2 if n == n_control else 1) / math.comb(n + n_control, n)


def _p(row, n: int, n_control: int, control: str = CONTROL) -> str:
    """The seeds each side and the exact permutation p, then the test's p that decides the outcome:
    Welch's p alone (1.7e-05 for 3 seeds against 3) read as strong evidence, while no split of
    those 6 seeds gives a permutation p below 0.1; a reader who quotes one sees the other."""
    if not np.isfinite(row["p"]):
        return "no test (one run a side)"
    seeds = f"{n} {row['init']} seed{'s' * (n != 1)} vs {n_control} {control}"
    perm = row.get("p_perm", math.nan)
    if np.isfinite(perm):
        least = (f" (the least {n} vs {n_control} can give)"
                 if perm <= permutation_floor(n, n_control) * (1 + 1e-9) else "")
        seeds += f": exact permutation p = {perm:.2g}{least}"
    return f"{seeds}, p = {row['p']:.2g} ({row['test']})"


def contrast_sentence(row, summary: pd.DataFrame, thresholds: pd.DataFrame, origin: dict | None = None) -> str:
    """One contrast in words: the two means with intervals, the difference, the test, the outcome.
    The control is the row's ``control`` (pythia where it has none); `source`'s outcome says its
    prior training (``origin``: ``init_study.run_origin``)."""
    control = row.get("control", CONTROL) if isinstance(row.get("control", CONTROL), str) else CONTROL
    words = OUTCOMES if control == CONTROL else SHAPE_OUTCOMES
    key = (summary["size"] == row["size"]) & (summary["warmup"] == row["warmup"]) & (
        summary["measure"] == row["measure"])
    mine = summary[key & (summary["init"] == row["init"])].iloc[0]
    ctrl = summary[key & (summary["init"] == control)].iloc[0]
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
    shares = ""
    if by_chance(row) or (row["outcome"] != "undetermined" and _shares_differ(row)):
        shares = (f"; {int(row['n_reached'])} of {int(row['n'])} {row['init']} seeds got there against "
                  f"{int(row['n_control_reached'])} of {int(row['n_control'])} {control}: p-value of Boschloo's "
                  f"exact test of equal shares {row['p_reach']:.2g}")
    if np.isfinite(row["diff"]):
        tested = f"{diff}, {_p(row, int(mine['n_reached']), int(ctrl['n_reached']), control)}{shares}"
    elif mine["n_reached"] == 0:
        tested = (f"no difference to test: it never got there, {int(ctrl['n_reached'])} of {int(ctrl['n'])} "
                  f"{control} seeds did")
    else:  # it got there and the control never did: the difference is not a number, not absent
        tested = (f"no difference to test: {control} never got there, {int(mine['n_reached'])} of "
                  f"{int(mine['n'])} {row['init']} seed{'s' if int(mine['n']) != 1 else ''} did")
    if shares and not np.isfinite(row["diff"]):  # the counts are said already
        tested += f" (p-value of Boschloo's exact test of equal shares {row['p_reach']:.2g})"
    said = BY_CHANCE if by_chance(row) else words[row["outcome"]]
    if row["init"] == UPPER_BOUND and control == CONTROL:
        said += f" ({prior_training(row['size'], origin)})"
    return (f"{row['init']}: {what} {fmt(mine['mean'])}{_interval(mine['ci_lo'], mine['ci_hi'], fmt)}"
            f"{reached} vs {control} {fmt(ctrl['mean'])}{_interval(ctrl['ci_lo'], ctrl['ci_hi'], fmt)}: "
            f"{tested} -> {said}")


def _shares_differ(row) -> bool:
    """The two sides' shares of seeds that reached the row's threshold differ (a threshold measure)."""
    p_reach = row.get("p_reach", math.nan)
    return bool(np.isfinite(p_reach)) and row["n_reached"] * row["n_control"] != row["n_control_reached"] * row["n"]


def by_chance(row) -> bool:
    """An undetermined outcome that was tested: the reach shares differ, not detectably."""
    return row["outcome"] == "undetermined" and _shares_differ(row)


def _source_of(size, origin: dict | None) -> dict | None:
    """The origin entry of `size`'s source run (the one `source` copies), else its first."""
    entries = [e for e in (origin or {}).get("sources", []) if e["size"] == size]
    return next((e for e in entries if UPPER_BOUND in e["inits"]), entries[0] if entries else None)


def _steps(x) -> str:
    return f"{x:.0f}" if np.isfinite(x) else "an unrecorded number of"


def prior_training(size, origin: dict | None) -> str:
    """What `source` had before this run: the source run's steps on its data and the compute."""
    src = _source_of(size, origin)
    head = f"the upper bound, not a prediction: {UPPER_BOUND} continues training"
    if src is None or not src.get("source_run"):
        return (f"{head} a trained model (its prior training is not recorded beside this table), so it "
                "has had more training than the runs it is compared with")
    ratio = src["prior_compute_ratio"]
    compute = f", about {ratio:.1f}x the training compute of the others" if np.isfinite(ratio) else ""
    return (f"{head} {src['source_run']} after its {_steps(src['source_steps'])} steps on "
            f"{src['source_distribution'] or 'its own data'}{compute}")


def origin_sentences(study: InitStudy) -> list[str]:
    """The head of the study: which model the learned laws come from (per size: the checkpoint, the
    run that wrote it, its data and steps, whether the embeddings follow the mode) and what the
    seeds vary (the data order recorded per run, else what the trainer does)."""
    origin = study.origin or {}
    out = ["## The inits: where the learned laws come from, and what the seeds vary"]
    for src in origin.get("sources", []):
        inits = ", ".join(src["inits"])
        if not src["init_source"]:
            out.append(f"learned laws, {src['size']}: the table records no source checkpoint for {inits} "
                       "(no init_source column, and no runs table beside it that gives one): which model the weights come from "
                       "is not known here.")
            continue
        wrote = (f", the weights of run {src['source_run']} after {_steps(src['source_steps'])} steps on "
                 f"{src['source_distribution'] or 'unrecorded data'}" if src["source_run"] else
                 " (the run that wrote it is not in the runs table)")
        data = f" (its data against this study's: {src['data_check']})" if src.get("data_check") else ""
        emb = {"same": "; the embeddings follow the mode too (drawn or copied like every other matrix)",
               "pythia": "; the embeddings keep Pythia's init"}.get(src.get("embeddings"),
                                                                   "; whether the embeddings follow the mode "
                                                                   "is not recorded")
        out.append(f"learned laws, {src['size']}: {inits} start from {src['init_source']}{wrote}{data}{emb}.")
    seeds = origin.get("data_seeds", [])
    init_seeds = ", ".join(str(s) for s in origin.get("init_seeds", []))
    if len(seeds) == 1 and origin.get("data_seed_recorded"):
        out.append(f"seeds: every run reads the data in the same order (data seed {seeds[0]}); the seeds "
                   f"({init_seeds}) change the init draw only, so the intervals and tests over seeds hold "
                   "init-draw variance, not data-order variance.")
    elif len(seeds) > 1:
        out.append(f"seeds: the runs read the data in {len(seeds)} orders (data seeds "
                   f"{', '.join(map(str, seeds))}): the intervals over seeds hold data-order variance too.")
    else:
        out.append(f"seeds: the table records no data-order seed; scalefit's trainer keeps the recipe's seed "
                   f"for the data order and varies only the init draw with init_seed ({init_seeds}), so for "
                   "its runs the intervals hold init-draw variance, not data-order variance.")
    return out


def nothing_to_compare(runs: pd.DataFrame) -> str:
    """Why a table gives no contrast, and what the study needs instead."""
    if set(runs["init"]) == {CONTROL}:
        return (f"no condition to compare: every run starts from the {CONTROL} init; the study needs "
                "runs from another init (empirical, family, ...) beside them")
    return (f"no condition to compare with {CONTROL}: no {CONTROL} run has the size and warmup of "
            "another init's runs (each condition is compared with the control of its size and warmup)")


def _cells(frame: pd.DataFrame) -> list:
    """``frame``'s (size, warmup) groups in the text's order: by size, with warmup first."""
    return sorted(frame.groupby(["size", "warmup"]), key=lambda kv: (str(kv[0][0]), kv[0][1] != "warmup"))


def sentences(study: InitStudy) -> list[str]:
    """The head (``origin_sentences``), then the verdicts (``verdict_sentences``)."""
    return origin_sentences(study) + verdict_sentences(study)


def verdict_sentences(study: InitStudy) -> list[str]:
    """The verdict, built from the numbers: per size and warmup, early (steps to the first
    threshold) and late (final loss), each condition against pythia, then which predicted
    outcome the data support, the warmup hypothesis and where the weight laws go."""
    out = []
    for (size, warmup), cell in _cells(study.contrasts):
        label = _label(study.runs, size, warmup)
        out.append(f"## {size}, {label}")
        for phase, measure in (("early", "steps_to_1"), ("late", "final_loss")):
            rows = cell[cell["measure"] == measure]
            for _, row in rows.iterrows():
                out.append(f"{phase}: " + contrast_sentence(row, study.summary, study.thresholds, study.origin))
            predicted = rows[rows["init"] != UPPER_BOUND]
            if len(predicted):
                groups = {}
                for _, row in predicted.iterrows():
                    groups.setdefault(BY_CHANCE if by_chance(row) else OUTCOMES[row["outcome"]], []).append(row["init"])
                untested = groups.pop(OUTCOMES["undetermined"], [])  # not an outcome the data support
                chance = groups.pop(BY_CHANCE, [])
                said = ["the data support " + "; ".join(f"{name} ({', '.join(inits)})"
                                                       for name, inits in groups.items())] if groups else []
                said += [f"no outcome can be read for {', '.join(untested)} (these runs allow no test)"] if untested else []
                said += [f"no outcome can be read for {', '.join(chance)} ({CHANCE_BRIEF})"] if chance else []
                out.append(f"{phase}, {label}: {'; '.join(said)}.")
    out += shape_sentences(study)
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
        out.append(f"## Weight laws: {axis} per group at the first and the last checkpoint (mean over seeds; "
                   f"{NOISE_WORDS})")
        for (size, init, warmup), cell in shapes.groupby(["size", "init", "warmup"], sort=False):
            parts = [f"{r['group']} {r['start']:.3g} -> {r['end']:.3g} ({_spread(r)}{r['verdict']})"
                     for _, r in cell.iterrows()]
            out.append(f"weights, {size} {init} {warmup}: {axis} " + "; ".join(parts) + ".")
            flag = tails_flag(study, size, init, warmup, axis)
            if flag:
                out.append(flag)
    return out


# the weight-law verdicts' noise test in words (init_shapes.shape_table)
NOISE_WORDS = ("change: the mean over seeds of each seed's own change from the first to the last checkpoint, "
               "with its 95% t interval (t_{n-1,0.975} x the seeds' sd / sqrt(n)); where that interval holds 0 "
               "the change reads 'within noise' (a two-sided t test at the 5% level, as every contrast here); "
               "one seed allows no test and its verdict is labelled descriptive")


def _spread(r) -> str:
    """'change -0.0087 [-0.017, -0.00017]; ' (the mean change over seeds and its 95% t interval), or
    'change -0.0087; ' with one seed (its verdict says it is descriptive)."""
    change, lo, hi = r.get("change", math.nan), r.get("change_lo", math.nan), r.get("change_hi", math.nan)
    if not np.isfinite(change):
        return ""
    interval = f" [{lo:.2g}, {hi:.2g}]" if np.isfinite(lo) and np.isfinite(hi) else ""
    return f"change {change:+.2g}{interval}; "


def _label(runs: pd.DataFrame, size, warmup) -> str:
    """'no warmup', 'with warmup (11 steps)' or 'with warmup' (lengths differ or are unknown)."""
    steps = sorted(set(runs.loc[(runs["size"] == size) & (runs["warmup"] == warmup), "warmup_steps"]))
    return "no warmup" if warmup == "no warmup" else (
        f"with warmup ({steps[0]} steps)" if len(steps) == 1 and steps[0] > 0 else "with warmup")


def shape_sentences(study: InitStudy) -> list[str]:
    """Does the shape matter: each init that carries the source's law against gauss-matched of its
    size and warmup (the same scale, Gaussian), early and late, and what the data support."""
    c = study.shape_contrasts
    if c is None or c.empty:
        return []
    out = []
    flagged = set() if study.tails is None or study.tails.empty else set(
        map(tuple, study.tails.loc[study.tails["far"], ["size", "init", "warmup"]].to_numpy()))
    for (size, warmup), cell in _cells(c):
        label = _label(study.runs, size, warmup)
        out.append(f"## The shape, {size}, {label}: each init that carries the source's law against "
                   f"{SHAPE_CONTROL} (each tensor drawn from a Gaussian with the source tensor's mean and std: "
                   "the same scale without the shape)")
        for phase, measure in (("early", "steps_to_1"), ("late", "final_loss")):
            rows = cell[cell["measure"] == measure]
            groups = {}
            for _, row in rows.iterrows():
                out.append(f"shape, {phase}: " + contrast_sentence(row, study.summary, study.thresholds))
                groups.setdefault("by chance" if by_chance(row) else row["outcome"], []).append(row["init"])
            said = [f"{', '.join(inits)}: {SHAPE_BRIEF[o]}" for o, inits in groups.items()
                    if o not in ("undetermined", "by chance")]
            said += [f"no test for {', '.join(groups['undetermined'])}"] if "undetermined" in groups else []
            said += [f"undetermined for {', '.join(groups['by chance'])} ({CHANCE_BRIEF})"] if "by chance" in groups else []
            odd = sorted({i for i in rows["init"] if (size, i, warmup) in flagged})
            said += [f"{', '.join(odd)} does not start with the source's shape (its tails line below)"] if odd else []
            if said:
                out.append(f"shape, {phase}, {size} {label}: " + "; ".join(said) + ".")
    return out


def tails_flag(study: InitStudy, size, init, warmup, axis: str) -> str | None:
    """A sentence for an init whose start lies far from the source's (``init_study.tails``), with
    its step-0 loss against the other inits that carry the source's law: the reader should not
    take it as a faithful copy of the source's shape. None where no judged group is far."""
    t = study.tails
    if t is None or t.empty:
        return None
    far = t[(t["size"] == size) & (t["init"] == init) & (t["warmup"] == warmup) & t["far"]]
    if far.empty:
        return None
    ref = far["reference"].iloc[0]
    groups = "; ".join(f"{r['group']} {r['start']:.3g} against {r['reference_start']:.3g} "
                       f"({r['ratio']:.2g}x the {ref}'s distance from the Gaussian)" for _, r in far.iterrows())
    loss = ""
    curves = study.curves
    first = curves[(curves["size"] == size) & (curves["warmup"] == warmup)]
    first = first[first["step"] == first["step"].min()] if len(first) else first
    mine = first[first["init"] == init]
    flagged = set(t.loc[(t["size"] == size) & t["far"], "init"])
    others = first[~first["init"].isin(flagged | {init, CONTROL, UPPER_BOUND})]
    if len(mine):
        loss = (f"; its loss at step {first['step'].min():g} is {mine['lo'].iloc[0]:.1f}-{mine['hi'].iloc[0]:.1f}"
                f" nats/token")
        if len(others):
            loss += (f" against {others['lo'].min():.1f}-{others['hi'].max():.1f} for "
                     f"{', '.join(sorted(others['init']))}")
    copy = "a copy of the source model's weights" if ref == UPPER_BOUND else "the source model's weights shuffled"
    return (f"tails, {size} {init} {warmup}: its start is far from the {ref} run's ({copy}) on {axis}: "
            f"{groups}{loss}. Far: (S - G) / (R - G) {FAR_WORDS} for its start "
            f"S, the reference's R and the Gaussian's G, in the groups where |R - G| is {JUDGED_WORDS}; "
            f"so {init} is no faithful stand-in for the source's shape.")

"""The sentences and the text table of `scalefit compare kaplan chinchilla --schedules`, written
from a ScheduleGap's fitted numbers (scalefit.scaling.laws.schedule_gap computes them)."""
from __future__ import annotations

import numpy as np
import pandas as pd

from scalefit.scaling.laws.projection import DATA_MULTIPLES
from scalefit.scaling.laws.schedule_gap import (FORM, MIN_LENGTHS, ScheduleGap, share_refusal,
                                                unidentified_share)
from scalefit.scaling.laws.schedule_prediction import percent_summary
from scalefit.scaling.resample import MIN_RESAMPLES_FOR_VERDICT, too_few_resamples


def _ci(ci, fmt=".3f") -> str:
    if ci is None or not np.all(np.isfinite(ci)):
        return "no interval"
    return f"[{ci[0]:{fmt}}, {ci[1]:{fmt}}]"


def _overlap(x, y) -> bool | None:
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
        return None
    return max(x[0], y[0]) <= min(x[1], y[1])


def _pct(x) -> str:
    return f"{100 * x:.0f}%" if np.isfinite(x) else "n/a"


def _pct_interval(share: dict) -> str:
    """'(95% interval 40% to 85%)': an explained share's interval."""
    return f"(95% interval {_pct(share['ci95'][0])} to {_pct(share['ci95'][1])})"


def rough_sentence(gap: ScheduleGap) -> str | None:
    """'Only 50 resamples: the 95% intervals below are rough ...', or None with enough resamples
    (or none). `explain` puts it first and ``gap_text`` prints it above the table, so 'below'
    holds where it is read: it followed the table it spoke of."""
    n_boot = int(gap.settings.get("n_bootstrap") or 0)
    if not too_few_resamples(n_boot):
        return None
    return (f"Only {n_boot} resamples: the 95% intervals below are rough, so no overlap, sign or "
            f"explained share is read from them (run with --bootstrap {2 * MIN_RESAMPLES_FOR_VERDICT} "
            "or more).")


def explain(gap: ScheduleGap) -> list[str]:
    """Sentences computed from the fitted numbers (which set's a is highest, whether intervals
    overlap, the explained share and whether it is identified, the prediction errors)."""
    sets, out = gap.sets, []
    n_boot = int(gap.settings.get("n_bootstrap") or 0)
    rough = too_few_resamples(n_boot)  # intervals too rough to read a verdict from
    if rough:
        out.append(rough_sentence(gap))
    ranked = sorted((s for s in sets.values() if np.isfinite(s.a)), key=lambda s: -s.a)
    if len(ranked) >= 2:
        hi, lo = ranked[0], ranked[-1]
        out.append(f"The allocation exponent a (N* ~ C^a) is highest for {hi.label} "
                   f"(a = {hi.a:.3f} {_ci(hi.a_ci95)}) and lowest for {lo.label} "
                   f"(a = {lo.a:.3f} {_ci(lo.a_ci95)}).")
    if "kaplan" not in sets:
        st = gap.settings
        have = ", ".join(map(str, st["kaplan_steps"])) or "none"
        out.append(f"The long runs have checkpoints at {len(st['kaplan_steps'])} of the "
                   f"{len(st['grid_steps'])} grid lengths ({have} of "
                   f"{', '.join(map(str, st['grid_steps']))} steps), fewer than the "
                   f"{MIN_LENGTHS} the form needs, so the Kaplan-style fit, its gap to the grid "
                   "and the share the schedule explains cannot be measured on these tables.")
    if "a" in gap.shares:
        i, ii, iv = sets["kaplan"], sets[gap.shares["comparator"]], sets["corrected"]
        share = gap.shares["a"]
        ov = None if rough else _overlap(i.a_ci95, ii.a_ci95)
        ov_text = {True: "their 95% intervals overlap", False: "their 95% intervals do not "
                   "overlap", None: "intervals too rough to compare" if rough else "without bootstrap intervals"}[ov]
        gap_text = (f"the paired gap a_grid - a_kaplan = {share['gap']:+.3f} "
                    f"{_ci(share['gap_ci95'], '+.3f')}")
        out.append(f"Kaplan-style checkpoints give a = {i.a:.3f} and the own-schedule grid "
                   f"a = {ii.a:.3f} ({ov_text}); {gap_text}.")
        lam, source = gap.settings.get("lambda"), gap.settings.get("lambda_source")
        decay = ("" if lam is None else
                 f" (momentum decay {lam:g}, profiled on the long runs and re-chosen in each resample)"
                 if source == "profiled" else f" (momentum decay {lam:g}, held fixed)")
        moved = (f"Correcting the checkpoints with the {gap.settings['schedule_law']} law{decay} "
                 f"fitted on each long run moves a to {iv.a:.3f} {_ci(iv.a_ci95)}")
        if not n_boot:  # no interval is no evidence either way (it said: 'there is no gap')
            out.append(f"{moved}; without resamples (--bootstrap 0) nothing tells whether there is "
                       "a gap for the schedule to explain, so no share is reported.")
        elif share_refusal(share, n_boot) is None:  # the JSON's rule (stated_share)
            out.append(f"{moved}, {_pct(share['value'])} of the gap {_pct_interval(share)}.")
        elif rough:
            out.append(f"{moved}; {n_boot} resamples cannot tell whether there is a gap for the schedule to "
                       "explain, so no share is reported.")
        else:  # the JSON's reason in the same words (schedule_gap.unidentified_share)
            out.append(f"{moved}; {unidentified_share(share['gap_ci95'])} (a ratio over a gap "
                       f"of {share['gap']:+.3f} is not reported as a percentage).")
        # the first projected budget (10x) speaks for all; the others are in the table
        key = next((k for k, v in gap.shares.items() if k.startswith("loss_") and isinstance(v, dict)), None)
        if key is not None:
            s, mult = gap.shares[key], key.removeprefix("loss_")
            li, lii, liv = (x.budgets[DATA_MULTIPLES.index(float(mult[:-1]))]["loss"]
                            for x in (i, ii, iv))
            head = (f"Projected to {mult} the largest compute fitted, the compute-optimal loss is "
                    f"{li:.3f} (Kaplan-style), {lii:.3f} (grid) and {liv:.3f} (corrected)")
            if rough or not n_boot:
                out.append(f"{head}; with {n_boot or 'no'} resamples no share of that gap is reported.")
            elif share_refusal(s, n_boot) is None:
                out.append(f"{head}: the correction closes {_pct(s['value'])} of that gap {_pct_interval(s)}.")
            else:
                out.append(f"{head}; {unidentified_share(s['gap_ci95'])}.")
            # a share the JSON reports at a further budget is said too (it stood in the JSON alone)
            for other, t in gap.shares.items():
                if other.startswith("loss_") and other != key and isinstance(t, dict) \
                        and share_refusal(t, n_boot) is None:
                    out.append(f"At {other.removeprefix('loss_')} the largest compute fitted, the "
                               f"correction closes {_pct(t['value'])} of that gap {_pct_interval(t)}.")
    pts = {k: gap.comparisons.get(f"{k}_vs_grid_points") for k in ("kaplan", "corrected", "wsd")}
    if pts["kaplan"]:
        k = pts["kaplan"]
        side = "below" if k["mean_rel_difference"] < 0 else "above"
        text = (f"At the same sizes and lengths the long runs' checkpoints sit "
                f"{100 * abs(k['mean_rel_difference']):.2f}% {side} the grid finals on average "
                f"(largest gap {100 * k['max_abs_rel_difference']:.2f}%, {k['n']} pairs)")
        if pts["corrected"]:
            c = pts["corrected"]
            text += (f"; the corrected points {100 * c['mean_abs_rel_difference']:.2f}% from "
                     f"them (mean |difference|, largest {100 * c['max_abs_rel_difference']:.2f}%)")
        out.append(text + ".")
    if "wsd_vs_grid" in gap.comparisons:
        w, g = sets["wsd"], sets["grid-wsd-sizes"]
        d = gap.comparisons["wsd_vs_grid"]
        ci = d["a_difference_ci95"]
        sig = ("", "") if not np.all(np.isfinite(ci)) or rough else \
            (" (includes 0)", "") if ci[0] <= 0 <= ci[1] else ("", " (excludes 0)")
        out.append(f"WSD cooldown finals give a = {w.a:.3f} {_ci(w.a_ci95)} against "
                   f"{g.a:.3f} {_ci(g.a_ci95)} for the grid on the same {d['n_sizes']} sizes: "
                   f"paired difference {d['a_difference']:+.3f} {_ci(ci, '+.3f')}"
                   f"{sig[0]}{sig[1]}.")
    out += _prediction_sentences(gap.prediction)
    return out


def _prediction_sentences(prediction) -> list[str]:
    s = prediction.summary.set_index(["method", "part"])
    parts = [p for p in prediction.summary["part"].unique() if p != "all"]
    counts = ", ".join(f"{int(s.loc[('schedule_law', p), 'n'])} {p}" for p in parts)
    methods = ("schedule_law", "naive", "chinchilla")
    names = {"schedule_law": "the schedule law", "naive": "the long run's checkpoint",
             "chinchilla": "Chinchilla on the long runs' checkpoints"}
    best = min(methods, key=lambda m: s.loc[(m, "all"), "mean_abs_rel_error"])
    errs = "; ".join(f"{names[m]} {100 * s.loc[(m, 'all'), 'mean_abs_rel_error']:.2f}% "
                     f"(max {100 * s.loc[(m, 'all'), 'max_abs_rel_error']:.2f}%)" for m in methods)
    out = [f"Predicting the final loss of {counts} runs from each size's long run, mean "
           f"|relative error|: {errs}; {names[best]} is the most accurate."]
    if len(parts) > 1:
        per = "; ".join(f"on {p} runs {100 * s.loc[('schedule_law', p), 'mean_abs_rel_error']:.2f}%"
                        f" (naive {100 * s.loc[('naive', p), 'mean_abs_rel_error']:.2f}%)"
                        for p in parts)
        out.append(f"By part, the schedule law's mean |relative error|: {per}.")
    profile = prediction.lambda_profile
    if profile is not None:
        default = prediction.lam
        mean = 100 * s.loc[("schedule_law_profiled", "all"), "mean_abs_rel_error"]
        top = 100 * s.loc[("schedule_law_profiled", "all"), "max_abs_rel_error"]
        before = 100 * s.loc[("schedule_law", "all"), "mean_abs_rel_error"]
        per = "; ".join(f"{p} {100 * s.loc[('schedule_law_profiled', p), 'mean_abs_rel_error']:.2f}%"
                        for p in parts)
        verb = "lowers" if mean < before else "does not lower"
        out.append(f"With the momentum decay profiled on the long runs alone (one lambda for the suite, "
                   f"the least summed in-sample objective over {len(profile.table)} values: "
                   f"{profile.lam:g}, against {default:g} in the schedule_law rows), the schedule law's mean "
                   f"|relative error| is {mean:.2f}% (max {top:.2f}%; {per}): the profile {verb} the "
                   f"error of {before:.2f}%.")
    return out


def _budget_flops(gap: ScheduleGap) -> str:
    """The compute each L@ column stands at, per group of sets sharing it: the WSD sets' largest
    compute is the grid's on their sizes, so one column holds losses at two budgets."""
    groups: dict = {}
    for s in gap.sets.values():
        if s.budgets:
            groups.setdefault(tuple(b["flops"] for b in s.budgets), []).append(s.label.split(" ")[0])
    parts = [" and ".join(f"{flops:.3g}" for flops in key) + " FLOPs"
             + (f" for {', '.join(names)}" if len(groups) > 1 else "")
             for key, names in groups.items()]
    return "; ".join(parts)


def gap_text(gap: ScheduleGap) -> str:
    """The table (set, n, a [CI], L@10x [CI], L@100x [CI]), the sentences, the prediction test's
    summary and the warnings, as `scalefit compare --schedules` prints them."""
    def cell(value, ci, fmt):
        text = f"{value:{fmt}}" if np.isfinite(value) else "n/a"
        if np.all(np.isfinite(ci)):
            text += f" [{ci[0]:{fmt}}, {ci[1]:{fmt}}]"
        return text
    rows = []
    for s in gap.sets.values():
        row = {"set": s.label, "n": len(s.points), "a [95% CI]": cell(s.a, s.a_ci95, ".3f")}
        for b in s.budgets:
            row[f"L@{b['multiple']:g}x [95% CI]"] = cell(b["loss"], b["loss_ci95"], ".3f")
        rows.append(row)
    st = gap.settings
    drawn = '(size, length) points' if st['resampling_unit'] == 'run' else 'sizes'
    intervals = (f"95% intervals from {st['n_bootstrap']} paired resamples of {drawn}"
                 if st["n_bootstrap"] else "no intervals (--bootstrap 0)")
    rough = rough_sentence(gap)  # above every interval it speaks of
    lines = [f"{FORM} form L = E + A/N^alpha + B/D^beta (N all parameters) fitted to each point "
             f"set ({st['dataset']} loss); {intervals}; "
             "L@10x, L@100x: projections of the compute-optimal loss (nats/token) at 10x and 100x the "
             f"largest compute fitted ({_budget_flops(gap)}).", *([rough] if rough else []),
             pd.DataFrame(rows).to_string(index=False), ""]
    lines += [s for s in gap.sentences if s != rough]
    summary = gap.prediction.summary
    lines += ["", f"Prediction test ({st['schedule_law']} law fitted on each long run; "
                  "|relative error| of the final loss):",
              percent_summary(summary).to_string(index=False)]  # in %, as --grid-test and the sentences
    lines += [f"warning: {w}" for w in gap.warnings]
    return "\n".join(lines)

"""The sentences and the text table of `scalefit compare kaplan chinchilla --schedules`, written
from a ScheduleGap's fitted numbers (scalefit.scaling.laws.schedule_gap computes them)."""
from __future__ import annotations

import numpy as np
import pandas as pd

from scalefit.scaling.interval_text import (estimate_text, excludes_zero, finite_interval, intervals_overlap,
                                            with_interval)
from scalefit.scaling.laws.projection import DATA_MULTIPLES
from scalefit.scaling.laws.schedule_gap import (FORM, MIN_LENGTHS, PREDICTION_METHODS, TABLE_COLUMNS,
                                                TABLE_ENDS, ScheduleGap, share_refusal)
from scalefit.scaling.laws.schedule_prediction import percent_summary
from scalefit.scaling.resample import MIN_RESAMPLES_FOR_VERDICT, too_few_resamples


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
                   f"(a = {with_interval(hi.a, hi.a_ci95)}) and lowest for {lo.label} "
                   f"(a = {with_interval(lo.a, lo.a_ci95)}){_ranking_clause(hi, lo, rough)}.")
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
        ov = None if rough else intervals_overlap(i.a_ci95, ii.a_ci95)
        ov_text = {True: "their 95% intervals overlap", False: "their 95% intervals do not "
                   "overlap", None: "intervals too rough to compare" if rough else "without bootstrap intervals"}[ov]
        gap_text = (f"the paired gap a_grid - a_kaplan = "
                    f"{with_interval(share['gap'], share['gap_ci95'], sign=True)}")
        out.append(f"Kaplan-style checkpoints give a = {estimate_text(i.a, i.a_ci95)} and the "
                   f"own-schedule grid a = {estimate_text(ii.a, ii.a_ci95)} ({ov_text}); {gap_text}.")
        lam, source = gap.settings.get("lambda"), gap.settings.get("lambda_source")
        decay = ("" if lam is None else
                 f" (momentum decay {lam:g}, profiled on the long runs and re-chosen in each resample)"
                 if source == "profiled" else f" (momentum decay {lam:g}, held fixed)")
        moved = (f"Correcting the checkpoints with the {gap.settings['schedule_law']} law{decay} "
                 f"fitted on each long run moves a to {with_interval(iv.a, iv.a_ci95)}, "
                 f"{_a_shift(share, rough)}")
        if not n_boot:  # no interval is no evidence either way (it said: 'there is no gap')
            out.append(f"{moved}; without resamples (--bootstrap 0) nothing tells whether there is "
                       "a gap for the schedule to explain, so no share is reported.")
        elif share_refusal(share, n_boot) is None:  # the JSON's rule (stated_share)
            out.append(f"{moved}, {_pct(share['value'])} of the gap {_pct_interval(share)}.")
        elif rough:
            out.append(f"{moved}; {n_boot} resamples cannot tell whether there is a gap for the schedule to "
                       "explain, so no share is reported.")
        else:  # the JSON's reason in the same words (schedule_gap.unidentified_share)
            out.append(f"{moved}; {share_refusal(share, n_boot)} (a ratio over a gap of "
                       f"{estimate_text(share['gap'], share['gap_ci95'], sign=True)} is not reported "
                       "as a percentage).")
        # the first projected budget (10x) speaks for all; the others are in the table
        key = next((k for k, v in gap.shares.items() if k.startswith("loss_") and isinstance(v, dict)), None)
        if key is not None:
            s, mult = gap.shares[key], key.removeprefix("loss_")
            j = DATA_MULTIPLES.index(float(mult[:-1]))
            li, lii, liv = (with_interval(x.budgets[j]["loss"], x.budgets[j]["loss_ci95"], missing="")
                            for x in (i, ii, iv))
            head = (f"Projected to {mult} the largest compute fitted, the compute-optimal loss is "
                    f"{li} (Kaplan-style), {lii} (grid) and {liv} (corrected)")
            if rough or not n_boot:
                out.append(f"{head}; with {n_boot or 'no'} resamples no share of that gap is reported.")
            elif share_refusal(s, n_boot) is None:
                out.append(f"{head}: the correction closes {_pct(s['value'])} of that gap {_pct_interval(s)}.")
            else:
                out.append(f"{head}; {share_refusal(s, n_boot)}.")
            # a share the JSON reports at a further budget is said too (it stood in the JSON alone)
            for other, t in gap.shares.items():
                if other.startswith("loss_") and other != key and isinstance(t, dict) \
                        and share_refusal(t, n_boot) is None:
                    out.append(f"At {other.removeprefix('loss_')} the largest compute fitted, the "
                               f"correction closes {_pct(t['value'])} of that gap {_pct_interval(t)}.")
            shift = _shift_sentence(gap, rough)
            if shift:
                out.append(shift)
    out += _points_sentences(gap, rough)
    if "wsd_vs_grid" in gap.comparisons:
        w, g = sets["wsd"], sets["grid-wsd-sizes"]
        d = gap.comparisons["wsd_vs_grid"]
        ci = d["a_difference_ci95"]
        sig = ("", "") if not np.all(np.isfinite(ci)) or rough else \
            (" (includes 0)", "") if ci[0] <= 0 <= ci[1] else ("", " (excludes 0)")
        out.append(f"WSD cooldown finals give a = {with_interval(w.a, w.a_ci95)} against "
                   f"{with_interval(g.a, g.a_ci95)} for the grid on the same {d['n_sizes']} sizes: "
                   f"paired difference {with_interval(d['a_difference'], ci, sign=True)}"
                   f"{sig[0]}{sig[1]}.")
    out += _prediction_sentences(gap.prediction, gap.comparisons.get("prediction"), n_boot,
                                 gap.settings.get("resampling_unit", "run"))
    return out


def _ranking_clause(hi, lo, rough: bool) -> str:
    """', as point estimates: their 95% intervals overlap, ...': what the ranking of a across the
    sets rests on ('highest for (ii) and lowest for (ii')' ranked intervals that overlapped)."""
    ov = None if rough else intervals_overlap(hi.a_ci95, lo.a_ci95)
    if ov is None:
        return (", as point estimates (their intervals too rough to separate them)" if rough else
                ", as point estimates without intervals")
    if ov:
        return ", as point estimates: their 95% intervals overlap, so they do not separate the two"
    return ", as point estimates whose 95% intervals do not overlap"


def _a_shift(share: dict, rough: bool) -> str:
    """'by -0.08 [-0.40, +0.14] from the Kaplan-style a (paired resamples; its interval includes
    0)': the correction's paired shift of a (the shares' shift; it stood in the CSV alone, while
    the text printed only the corrected a beside the loss shift's interval)."""
    ci = share["shift_ci95"]
    text = f"by {with_interval(share['shift'], ci, sign=True, missing='')} from the Kaplan-style a ("
    if finite_interval(ci) is None:
        return text + "no interval)"
    if rough:
        return text + "paired resamples)"
    return text + f"paired resamples; its interval {'excludes' if excludes_zero(ci) else 'includes'} 0)"


def _loss_shifts(gap: ScheduleGap) -> list:
    """(multiple, share) for each projected loss the shares hold: its 'shift' is the corrected
    set's projection minus the Kaplan-style set's, with a paired interval."""
    return [(k.removeprefix("loss_"), v) for k, v in gap.shares.items()
            if k.startswith("loss_") and isinstance(v, dict)]


def _shift_sentence(gap: ScheduleGap, rough: bool) -> str | None:
    """The correction's effect on the projected loss (corrected minus Kaplan-style, paired),
    with its intervals and, with resamples enough, whether each excludes 0 (it stood in the JSON
    alone, -0.40 [-0.68, -0.13] at 10x, while the text printed only the three losses)."""
    shifts = _loss_shifts(gap)
    if not shifts:
        return None
    said = " and ".join(f"{with_interval(s['shift'], s['shift_ci95'], sign=True, missing='')} at {m}"
                        for m, s in shifts)
    text = (f"The correction moves the projected compute-optimal loss by {said} the largest "
            "compute fitted (corrected minus Kaplan-style")
    finite = [(m, s) for m, s in shifts if finite_interval(s["shift_ci95"]) is not None]
    if not finite:
        return text + "; no interval)."
    text += ", paired resamples"
    if rough:
        return text + ")."
    excluded = [excludes_zero(s["shift_ci95"]) for _, s in finite]
    if all(excluded) or not any(excluded):
        which = ("both intervals" if len(finite) == 2 else "every interval" if len(finite) > 2
                 else "its interval")
        verb = ("exclude" if len(finite) > 1 else "excludes") if all(excluded) else \
            ("include" if len(finite) > 1 else "includes")
        return text + f"; {which} {verb} 0)."
    return text + "; " + ", ".join(f"the interval at {m} {'excludes' if e else 'includes'} 0"
                                   for (m, _), e in zip(finite, excluded)) + ")."


def _points_sentences(gap: ScheduleGap, rough: bool) -> list[str]:
    """Where the Kaplan-style and corrected points sit beside the grid finals of the same (size,
    length), each with its sign (the corrected points' '1.42% from them' hid that they sit
    above), how far the correction moved the points, and, where it moved them one way and a
    projected loss the other (that shift's interval excluding 0), that the projection's move is
    the fitted form's beyond the runs, not the points'."""
    pts = {k: gap.comparisons.get(f"{k}_vs_grid_points") for k in ("kaplan", "corrected")}
    if not pts["kaplan"]:
        return []

    def side(x):
        return "below" if x < 0 else "above"
    k = pts["kaplan"]
    text = (f"At the same sizes and lengths the long runs' checkpoints sit "
            f"{100 * abs(k['mean_rel_difference']):.2f}% {side(k['mean_rel_difference'])} the grid "
            f"finals on average (largest gap {100 * k['max_abs_rel_difference']:.2f}%, {k['n']} pairs)")
    move = gap.comparisons.get("corrected_vs_kaplan_points")
    if pts["corrected"]:
        c = pts["corrected"]
        text += (f"; the corrected points sit {100 * abs(c['mean_rel_difference']):.2f}% "
                 f"{side(c['mean_rel_difference'])} them on average (mean |difference| "
                 f"{100 * c['mean_abs_rel_difference']:.2f}%, largest "
                 f"{100 * c['max_abs_rel_difference']:.2f}%)")
        if move:
            text += (f", the correction having moved the checkpoints "
                     f"{'down' if move['mean_rel_difference'] < 0 else 'up'} by "
                     f"{100 * abs(move['mean_rel_difference']):.2f}% on average")
    out = [text + "."]
    n_boot = int(gap.settings.get("n_bootstrap") or 0)
    if not move or rough or not n_boot or move["mean_rel_difference"] == 0:
        return out
    up = move["mean_rel_difference"] > 0
    against = [m for m, s in _loss_shifts(gap)
               if excludes_zero(s["shift_ci95"]) and (s["shift"] > 0) != up]
    if against:
        at = " and ".join(against)
        out.append(f"So the correction {'raises' if up else 'lowers'} the points yet "
                   f"{'lowers' if up else 'raises'} the projected loss at {at} the largest compute "
                   "fitted: that move is not in the points but in the form fitted to them, "
                   "carried beyond the runs' compute (a projection).")
    return out


SHORT_NAMES = {"schedule_law": "the schedule law", "naive": "naive",
               "chinchilla": "Chinchilla"}  # the by-part sentences' names of the methods


def _lowest_clause(d: dict, names: dict, rough: bool) -> tuple[str, str | None]:
    """('by +0.9 [+0.2, +1.6] points to X and ...', verdict): how much higher each other
    method's mean |relative error| is than the lowest's (prediction_differences, paired), and,
    with resamples enough, whether those differences are separated from 0 (else None)."""
    items = [f"{with_interval(100 * v['difference'], 100 * np.asarray(v['ci95'], float), sign=True)} "
             f"points to {names[m]}" for m, v in d["above_lowest"].items()]
    text = "by " + " and ".join(items)
    if rough or not all(finite_interval(v["ci95"]) is not None for v in d["above_lowest"].values()):
        return text, None
    tied = [names[m] for m, v in d["above_lowest"].items() if not excludes_zero(v["ci95"])]
    if not tied:
        return text, "each interval excludes 0"
    return text, (f"not separated from {' or '.join(tied)}: "
                  f"{'its interval includes' if len(tied) == 1 else 'their intervals include'} 0")


def _prediction_sentences(prediction, differences: dict | None = None, n_boot: int = 0,
                          unit: str = "run") -> list[str]:
    """The prediction test's errors, and which method's mean |relative error| is lowest, by how
    much, with paired intervals from ``differences`` (schedule_gap.prediction_differences; 'the
    schedule law is the most accurate' stood on 0.93% against 0.97% with no interval)."""
    differences = differences or {}
    rough = too_few_resamples(n_boot)
    s = prediction.summary.set_index(["method", "part"])
    parts = [p for p in prediction.summary["part"].unique() if p != "all"]
    counts = ", ".join(f"{int(s.loc[('schedule_law', p), 'n'])} {p}" for p in parts)
    methods = PREDICTION_METHODS
    names = {"schedule_law": "the schedule law", "naive": "the long run's checkpoint",
             "chinchilla": "Chinchilla on the long runs' checkpoints"}
    best = min(methods, key=lambda m: s.loc[(m, "all"), "mean_abs_rel_error"])
    errs = "; ".join(f"{names[m]} {100 * s.loc[(m, 'all'), 'mean_abs_rel_error']:.2f}% "
                     f"(max {100 * s.loc[(m, 'all'), 'max_abs_rel_error']:.2f}%)" for m in methods)
    drawn = "sizes" if unit == "size" else "predicted runs"
    held = (f"paired resamples of the {drawn}, each fit held" if n_boot else
            "no resamples (--bootstrap 0), so no interval")
    lowest = f"{names[best]}'s is the lowest"
    d = differences.get("all")
    if n_boot and d is not None and d["lowest"] == best:
        by, verdict = _lowest_clause(d, names, rough)
        lowest += f", {by} ({held}{'; ' + verdict if verdict else ''})"
    elif not n_boot:
        lowest += f" ({held})"
    out = [f"Predicting the final loss of {counts} runs from each size's long run, mean "
           f"|relative error|: {errs}; {lowest}."]
    if len(parts) > 1:
        per = "; ".join(f"on {p} runs {100 * s.loc[('schedule_law', p), 'mean_abs_rel_error']:.2f}%"
                        f" (naive {100 * s.loc[('naive', p), 'mean_abs_rel_error']:.2f}%, "
                        f"Chinchilla {100 * s.loc[('chinchilla', p), 'mean_abs_rel_error']:.2f}%)"
                        for p in parts)
        out.append(f"By part, the schedule law's mean |relative error|: {per}.")
        if n_boot and all(p in differences for p in parts):
            clauses = {p: _lowest_clause(differences[p], SHORT_NAMES, rough) for p in parts}
            per = "; ".join(f"on {p} runs {SHORT_NAMES[differences[p]['lowest']]}, {by}"
                            + (f" ({verdict})" if verdict else "") for p, (by, verdict) in clauses.items())
            out.append(f"Lowest by part: {per}.")
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
    def cell(value, ci):  # each estimate to the place of its interval's printed ends
        if not np.isfinite(value):
            return "n/a"
        return with_interval(value, ci) if finite_interval(ci) is not None else estimate_text(value, None)
    st = gap.settings
    ci = " [95% CI]" if st["n_bootstrap"] else " (no interval)"  # --bootstrap 0 draws none
    rows = []
    for s in gap.sets.values():
        row = {"set": s.label, "n": len(s.points), f"a{ci}": cell(s.a, s.a_ci95)}
        for b in s.budgets:
            row[f"L@{b['multiple']:g}x{ci}"] = cell(b["loss"], b["loss_ci95"])
        rows.append(row)
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


REPORT_TITLE = "Why Kaplan and Chinchilla disagree: the LR schedule"


def columns_section(gap: ScheduleGap) -> list[str]:
    """report.md's '## Files': what each column of schedule_gap.csv holds (TABLE_COLUMNS, M the
    budget multiple), an interval's _lo and _hi said with the column they bound; a reader of the
    CSV alone had only the column names."""
    groups: dict = {}  # TABLE_COLUMNS key -> the CSV's columns it describes
    for column in gap.table().columns:
        base = next((column[:-len(end)] for end in TABLE_ENDS if column.endswith(end)), column)
        key = base.split("@")[0] + "@Mx" if "@" in base else base
        groups.setdefault(key, []).append(column)
    n_boot = int(gap.settings.get("n_bootstrap") or 0)
    ends = (f", with its 95% interval (_lo, _hi: the percentile interval of {n_boot} paired "
            "resamples)" if n_boot else "; _lo, _hi: empty, no interval (--bootstrap 0)")
    lines = ["## Files", "", "- schedule_gap.csv (one row per point set; M: the budget multiple, "
             f"{', '.join(f'{m:g}x' for m in DATA_MULTIPLES)}):"]
    for key, columns in groups.items():
        shown = [key + next((e for e in TABLE_ENDS if c.endswith(e)), "") for c in columns]
        bounded = any(c.endswith(TABLE_ENDS) for c in columns)
        lines.append(f"  - {', '.join(dict.fromkeys(f'`{c}`' for c in shown))}: "
                     f"{TABLE_COLUMNS.get(key, 'as in the JSON')}{ends if bounded else ''}")
    return lines


def report_markdown(gap: ScheduleGap) -> str:
    """report.md of `compare kaplan chinchilla --schedules --out`: the printed text, the figure
    and what each column of schedule_gap.csv holds."""
    from scalefit.report import printed_report
    return printed_report(REPORT_TITLE, gap_text(gap), "schedule_gap", after=columns_section(gap))

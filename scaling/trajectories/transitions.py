"""Transitions in a weight statistic's trajectory, placed against each run's LR schedule.

Per run: change points of the statistic against log10(step) (`transition_search.find_transitions`),
each with a bootstrap interval, then its distance to the warmup end in steps and tokens and
the fraction of the cosine decay done. Across runs that differ only in warmup length, the
regression of transition step on warmup end says whether the transition follows warmup
(slope near 1) or not (slope near 0).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats as scipy_stats

from scalefit.errors import InputError, known
from scalefit.renamed import renamed_arguments
from scalefit.schema import checkpoints_text
from scalefit.options import (bootstrap_count, nonnegative_float, nonnegative_int, positive_float,
                              positive_int)
from scalefit.scaling.fitresult import FitResult, ParamEstimate
from scalefit.scaling.trajectories.landmarks import ScheduleLandmarks, landmarks_for_run, place_transition
from scalefit.scaling.trajectories.breakpoint_intervals import (CALIBRATION_RESAMPLES, FEW_RESAMPLES_COVERAGE,
                                                                INTERVAL_COVERAGE, INTERVAL_METHOD,
                                                                PLAIN_LEVEL, checked_interval_method,
                                                                interval_level)
from scalefit.scaling.trajectories import ar1
from scalefit.scaling.trajectories.segmented import WEAK_KINK_T, slope_change_t
from scalefit.scaling.trajectories.transition_search import (SCATTER_LEVEL, SCATTER_TOP, find_transitions,
                                                              scatter_share)
from scalefit.scaling.trajectories.table import (bound_record, bound_words, checked_trajectory,
                                                 checkpoint_lags, left_out_steps)
from scalefit.signals import Interrupted, results_ready

MIN_POINTS_PER_RUN = 8
FAMILY_FACTS = ("params", "total_steps", "lr_peak")  # what runs of one warmup family share
FAMILY_TEXT_FACTS = ("schedule",)  # ...and, where the table names it, the LR schedule's style
MIN_WARMUPS_PER_FAMILY = 3
MAX_BREAKPOINTS = 4  # the most change points searched in one run (the command's --max-breakpoints 1-4)
PICKS = ("largest", "first", "matched")  # or a whole number N: each run's N-th transition
# A run's scatter columns before (or without) a fit that leaves scatter to measure: not measured,
# so neither concentrated nor not (null in the JSON, empty in runs.csv)
NO_SCATTER_FACTS = {"scatter_top2_share": float("nan"), "scatter_top2_threshold": float("nan"),
                    "scatter_concentrated": None, "scatter_top2_steps": ""}


def interval_caveat(method: str = INTERVAL_METHOD, n_bootstrap: int = CALIBRATION_RESAMPLES) -> str:
    """What the command says under its intervals: how they are made and their measured coverage
    (and, for a calibrated level read from fewer resamples than it was chosen with, what that costs)."""
    level = interval_level(method)
    calibrated = level != PLAIN_LEVEL
    how = (f"{method} bootstrap, the resamples' central {level:g}%, a level chosen on other synthetic "
           "runs" if calibrated else f"{method} bootstrap, the resamples' 2.5-97.5% range")
    if method in INTERVAL_COVERAGE:
        clear, weak = INTERVAL_COVERAGE[method]
        held = (f"they held the kink in {clear} of runs at autocorrelation 0.5-0.95 and in {weak} "
                "for a weak kink (slope change 0.4 at 0.8)")
    else:
        held = "their coverage was measured on fewer cells (bench/README.md)"
    return (f"The breakpoint intervals ({how}) are {'calibrated' if calibrated else 'nominal'} "
            f"95% intervals. On {'fresh ' if calibrated else ''}synthetic runs of "
            f"44 checkpoints with one kink and AR(1) errors {held}, and 19-32% of runs at 0.8-0.95 "
            f"reported extra transitions; `weak_kink` marks a slope change under {WEAK_KINK_T:g} "
            "standard errors, as most of those extras were (bench/bench_transition_intervals.py "
            "--cells)." + "".join(f" {few}" for few in [few_resamples_caveat(method, n_bootstrap)] if few))


def few_resamples_caveat(method: str = INTERVAL_METHOD, n_bootstrap: int = CALIBRATION_RESAMPLES) -> str:
    """``interval_caveat``'s last sentence, where a calibrated level is read from fewer resamples
    than it was chosen with (0 < ``n_bootstrap`` < CALIBRATION_RESAMPLES): what that costs and how
    many to use for figures to quote ('' otherwise). `scalefit warmup-study` says it too."""
    if interval_level(method) == PLAIN_LEVEL or not 0 < n_bootstrap < CALIBRATION_RESAMPLES:
        return ""
    return (f"The level was chosen with {CALIBRATION_RESAMPLES} resamples; with {n_bootstrap} "
            f"its tails rest on fewer draws (at 50 resamples the clear kinks' intervals held "
            f"{FEW_RESAMPLES_COVERAGE}): use --bootstrap {CALIBRATION_RESAMPLES} or more for "
            "figures to quote.")


INTERVAL_CAVEAT = interval_caveat(INTERVAL_METHOD)
INTERVAL_CONFIDENCE = 95.0  # the level every breakpoint interval is for (step_ci95_lo/hi, '95% CI')


def interval_description(method: str = INTERVAL_METHOD, n_bootstrap: int = CALIBRATION_RESAMPLES) -> str:
    """What a transition's interval is, in one line (--json's ``interval``): its level, how it is
    made from the resamples, and whether that level is calibrated or nominal."""
    if not n_bootstrap:
        return "no intervals (--bootstrap 0)"
    level = interval_level(method)
    made = f"of the run's {n_bootstrap} {method} sieve-bootstrap resamples"
    if level != PLAIN_LEVEL:
        held = (f" (on fresh synthetic runs they held {INTERVAL_COVERAGE[method][0]} of clear kinks)"
                if method in INTERVAL_COVERAGE else "")
        return (f"calibrated {INTERVAL_CONFIDENCE:g}% interval: the central {level:g}% {made}, a level "
                f"chosen on synthetic runs so that the interval covers {INTERVAL_CONFIDENCE:g}%{held}")
    return f"nominal {INTERVAL_CONFIDENCE:g}% interval: the 2.5-97.5% range {made}"


# A weak kink whose interval covers at least this share of its run's log10(step) range is said to
# span most of the run: local-strong's world for it keeps no weak breakpoint, so where every
# breakpoint of a run is weak the resamples cannot place it (the shipped mini-1 and mini-5).
MOST_OF_RUN = 0.5
WEAK_WIDE_NOTE = ("weak: interval spans most of the run; the run cannot tell this kink from noise "
                  "(its resamples treat the run's weak kinks as noise).")
# What `ci_widened` means, said under any table or listing that shows a widened interval.
WIDENED_NOTE = (
    "the bootstrap resamples put this breakpoint on one side of its estimate (their percentile "
    "range missed it); the interval shown is that range stretched to the estimate, not a "
    "calibrated 95% interval.")


def run_transitions(run: pd.DataFrame, *, landmarks: ScheduleLandmarks | None = None,
                    max_breakpoints: int = 3, min_delta_bic: float = 6.0,
                    n_bootstrap: int = 200, seed: int = 0,
                    interval_method: str = INTERVAL_METHOD,
                    steps_left_out=None) -> tuple[list[dict], dict]:
    """Transitions of one run's trajectory (columns step, value[, model, lr, tokens]).

    Returns (one dict per transition, a summary dict of the run). Step 0 is dropped: the
    search runs on log10(step). The rows are checked as ``checked_trajectory`` checks them; a
    checkpoint without a finite value is left out and named in the summary's ``note``.
    `interval_method`: the breakpoint intervals' bootstrap (one of
    breakpoint_intervals.INTERVAL_METHODS; default breakpoint_intervals.INTERVAL_METHOD). A row's
    ``ci95_run_share`` is the share of the run's log10(step) range its interval covers.
    ``steps_left_out``: steps of the run's series that are not in ``run`` (a shape statistic at its
    fit's bound, a value that is not finite): its neighbours across such a gap are that many
    checkpoints apart in the AR(1) errors (``series_lags``), not consecutive. The rows ``run``
    leaves out itself (no finite value), and those its ``attrs["left_out"]`` names
    (stat_trajectory's records, table.gap_records), are gaps too.
    """
    settings = checked_search(max_breakpoints=max_breakpoints, min_delta_bic=min_delta_bic,
                              n_bootstrap=n_bootstrap, seed=seed, interval_method=interval_method)
    run, model, landmarks, summary, gaps = _run_before_search(run, landmarks)
    if len(run) < MIN_POINTS_PER_RUN:
        return [], summary
    x = np.log10(run["step"].to_numpy(dtype=float))
    y = run["value"].to_numpy(dtype=float)
    search = find_transitions(x, y, **settings, lags=checkpoint_lags(
        run, model, gaps, () if steps_left_out is None else steps_left_out))
    summary["n_transitions"] = search.best.k
    summary["delta_bic"] = search.delta_bic
    summary["error_rho"] = search.rho if np.ptp(y) > 0 else float("nan")  # no scatter: no rho measured
    summary["error_rho_below_bound"] = search.rho_below_bound
    summary.update(_scatter_facts(x, y, search, run["step"].to_numpy()))
    slopes = search.best.slopes()
    t_ratios = slope_change_t(x, y, search.best)
    rows = []
    for j, t in enumerate(search.best.breakpoints):
        lo, hi = search.intervals[j] if search.intervals else (np.nan, np.nan)
        step = float(10 ** t)
        row = {"model": model, "index": j + 1, "step": step,
               "step_ci95_lo": float(10 ** lo), "step_ci95_hi": float(10 ** hi),
               "ci_widened": bool(search.widened[j]) if search.widened else False,
               "ci95_run_share": float((hi - lo) / np.ptp(x)),
               "slope_before": float(slopes[j]), "slope_after": float(slopes[j + 1]),
               "slope_change": float(slopes[j + 1] - slopes[j]),
               "slope_change_t": float(t_ratios[j]), "weak_kink": bool(t_ratios[j] < WEAK_KINK_T)}
        row.update(place_transition(step, landmarks))
        row["warmup_end_in_ci95"] = bool(lo <= np.log10(max(landmarks.warmup_end, 1e-12)) <= hi)
        rows.append(row)
    return rows, summary


def rho_bound_text(run) -> str:
    """What follows a run's printed error autocorrelation where it sits at its lower bound 0
    because REML's estimate is negative (``error_rho_below_bound``), else ''."""
    below = run.get("error_rho_below_bound", np.nan)
    if not np.isfinite(below):
        return ""
    edge = " or below" if below <= -ar1.MAX_RHO else ""
    return (f" (at its lower bound 0: REML's estimate is {below:.2f}{edge}, the errors of neighbouring "
            "checkpoints alternating in sign; taken as none)")


def _scatter_facts(x, y, search, steps) -> dict:
    """A searched run's scatter columns (the keys of ``NO_SCATTER_FACTS``) from its chosen fit
    (transition_search.scatter_share); nan where the fit is exact (no scatter to share out)."""
    scatter = scatter_share(x, y, search.best)
    if not np.isfinite(scatter.share):
        return dict(NO_SCATTER_FACTS)
    return {"scatter_top2_share": scatter.share, "scatter_top2_threshold": scatter.threshold,
            "scatter_concentrated": scatter.concentrated,
            "scatter_top2_steps": ", ".join(f"{s:g}" for s in np.sort(steps[scatter.largest]))}


def steadier_scale(stat: str | None) -> str:
    """What the scatter warning suggests for ``stat``: a derived statistic that is its reciprocal
    (scalefit.derived_stats: t_nu -> '--stat t_xi'), else a log or reciprocal scale in words."""
    from scalefit.derived_stats import DERIVED_STATS

    for derived in DERIVED_STATS.values():
        if derived.source == stat and derived.transform is np.reciprocal:
            return f"--stat {derived.name} (1/{stat}), where its variance may be steadier"
    return "a log or reciprocal scale of the statistic, where its variance may be steadier"


def scatter_warning(run, stat: str | None = None) -> str:
    """The warning of a run where a few checkpoints hold far more of its fit's residual scatter
    than Gaussian errors of constant variance give (``scatter_concentrated``), else '': after the
    run's line in the terminal, under the run's name in report.md."""
    flag = run.get("scatter_concentrated", False)  # None where not measured, nan in a table that lacks it
    if not (isinstance(flag, (bool, np.bool_)) and flag):
        return ""
    return (f"warning: the {SCATTER_TOP} largest of its {int(run['n_points'])} residuals (steps "
            f"{run['scatter_top2_steps']}) hold {100 * run['scatter_top2_share']:.0f}% of the fit's "
            f"scatter, where Gaussian errors of constant variance exceed "
            f"{100 * run['scatter_top2_threshold']:.0f}% in {100 * (1 - SCATTER_LEVEL):.0f}% of runs: the "
            "fit's constant-variance errors do not hold here, and its breakpoints and intervals rest "
            f"on them; try {steadier_scale(stat)}")


def _run_before_search(run: pd.DataFrame, landmarks: ScheduleLandmarks | None):
    """(its checkpoints after step 0 in step order, its name, its landmarks, its summary before
    any search, the records of the checkpoints its series left out: table.checked_trajectory)
    of one run's rows, checked as ``run_transitions`` checks them."""
    if isinstance(run, pd.DataFrame) and "model" not in run:
        run = run.assign(model="run")
    run, left_out, gaps = checked_trajectory(run, "run")
    if run["model"].nunique() > 1:
        raise InputError(f"run: has {run['model'].nunique()} runs (column 'model': "
                         f"{known(run['model'], limit=6)}); pass one run's rows, or every run's "
                         "to detect_transitions")
    model = str(run["model"].iloc[0])
    landmarks = landmarks or landmarks_for_run(run)
    run = run[run["step"] > 0].sort_values("step")
    summary = {"model": model, "n_points": int(len(run)), "n_transitions": 0,
               "warmup_end": landmarks.warmup_end, "total_steps": landmarks.total_steps,
               "schedule_source": landmarks.source, "delta_bic": float("nan"),
               "error_rho": float("nan"), "error_rho_below_bound": float("nan"), **NO_SCATTER_FACTS}
    if left_out:
        summary["note"] = left_out
    for fact in ("params", "lr_peak"):
        if fact in run and run[fact].notna().any():
            summary[fact] = float(run[fact].dropna().iloc[0])
    for fact in FAMILY_TEXT_FACTS:
        if fact in run and run[fact].notna().any():
            summary[fact] = str(run[fact].dropna().iloc[0])
    if len(run) < MIN_POINTS_PER_RUN:
        summary["note"] = "; ".join(filter(None, [
            summary.get("note"), f"only {checkpoints_text(len(run))} after step 0; need {MIN_POINTS_PER_RUN}"]))
    return run, model, landmarks, summary, gaps


def _runs_and_landmarks(traj: pd.DataFrame, warmup_steps, total_steps):
    """(the table's runs grouped by model, each run's schedule landmarks, the note on checkpoints
    left out, the runs' records of every checkpoint left out of their series: table.gap_records,
    with those left out here) with the table and the overrides checked: every run's schedule
    first, so a bad warmup or length is refused before any fitting."""
    warmup_steps = None if warmup_steps is None else nonnegative_float("warmup_steps", warmup_steps)
    total_steps = None if total_steps is None else positive_float("total_steps", total_steps)
    traj, left_out, gaps = checked_trajectory(traj)
    runs = traj.groupby("model", sort=True)
    landmarks = {model: landmarks_for_run(run, warmup_steps=warmup_steps, total_steps=total_steps)
                 for model, run in runs}
    return runs, landmarks, left_out, gaps


def run_schedules(traj: pd.DataFrame, *, warmup_steps: float | None = None,
                  total_steps: float | None = None) -> pd.DataFrame:
    """Per run of a trajectory table, what ``detect_transitions``' summary says of it before any
    search (model, n_points, warmup_end, total_steps, schedule_source, params, lr_peak, schedule,
    note, and for a shape statistic n_at_bound and first_step_at_bound; no n_transitions, delta_bic
    or error_rho): what ``warmup_families`` groups runs by,
    without fitting them. The table and every run's schedule are checked as detect_transitions
    checks them."""
    runs, landmarks, left_out, _ = _runs_and_landmarks(traj, warmup_steps, total_steps)
    at_bound = traj.attrs.get("at_bound") if isinstance(traj, pd.DataFrame) else None
    summaries = [_run_before_search(run, landmarks[model])[3] for model, run in runs]
    for summary in summaries if at_bound is not None else ():  # as detect_transitions says them
        summary.update(_bound_facts(summary, at_bound))
    summary = pd.DataFrame(summaries)
    summary.attrs["notes"] = [left_out] if left_out else []
    return summary.drop(columns=["n_transitions", "delta_bic", "error_rho", "error_rho_below_bound",
                                 *NO_SCATTER_FACTS], errors="ignore")


def detect_transitions(traj: pd.DataFrame, *, warmup_steps: float | None = None,
                       total_steps: float | None = None, max_breakpoints: int = 3,
                       min_delta_bic: float = 6.0, n_bootstrap: int = 200, seed: int = 0,
                       progress: bool = False,
                       interval_method: str = INTERVAL_METHOD) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Transitions of every run in a trajectory table (model, step, value[, lr, tokens]).

    `warmup_steps` / `total_steps` override what the table says or implies about the schedule;
    the other settings are ``run_transitions``'s, checked as the command checks its options.
    Returns (transitions, per-run summary) as DataFrames. `progress` shows a bar over runs on
    stderr (the bootstrap makes each run take seconds). The table is checked as
    ``checked_trajectory`` checks it; the summary's ``attrs["notes"]`` names the checkpoints left
    out for want of a finite value. Every checkpoint left out of a run's series (those, and the
    ones ``traj.attrs["left_out"]`` records: table.gap_records) is a gap in its AR(1) errors.
    """
    from tqdm import tqdm

    settings = checked_search(max_breakpoints=max_breakpoints, min_delta_bic=min_delta_bic,
                              n_bootstrap=n_bootstrap, seed=seed, interval_method=interval_method)
    runs, landmarks, left_out, gaps = _runs_and_landmarks(traj, warmup_steps, total_steps)
    at_bound = traj.attrs.get("at_bound") if isinstance(traj, pd.DataFrame) else None
    all_rows, summaries = [], []

    def tables():
        summary = pd.DataFrame(summaries)
        summary.attrs["notes"] = [left_out] if left_out else []
        return pd.DataFrame(all_rows, columns=TRANSITION_COLUMNS), summary

    with tqdm(runs, total=runs.ngroups, desc="transitions", unit="run", disable=not progress,
              leave=False) as bar:
        try:
            for model, run in bar:
                rows, summary = run_transitions(run, landmarks=landmarks[model], **settings,
                                                steps_left_out=left_out_steps(gaps, model))
                if at_bound is not None:  # a shape statistic: its checkpoints at the fit's bound
                    summary.update(_bound_facts(summary, at_bound))
                all_rows.extend(rows)
                summaries.append(summary)
        except KeyboardInterrupt:  # keep the runs finished: seconds of bootstrap each
            raise Interrupted(tables(), len(summaries), runs.ngroups, "runs") from None
    return tables()


def left_out_at_bound(record: dict) -> str:
    """'22 more have nu at its cap 10000 (Gaussian as far as the fit can tell) from step 318, left
    out': what a run's ``bound_record`` says, in its note or after its line."""
    return (f"{record['n_at_bound']} more have {bound_words(record['stat'], record['side'])} "
            f"from step {record['first_step_at_bound']}, left out")


def _bound_facts(summary: dict, at_bound: list[dict]) -> dict:
    """A run's n_at_bound and first_step_at_bound (stat_trajectory's ``attrs["at_bound"]``: the
    checkpoints whose shape statistic sat at its fit's bound, left out of the search), and where
    that left the run too few checkpoints to search, its note saying so."""
    record = bound_record(at_bound, summary["model"])
    facts = {"n_at_bound": record["n_at_bound"] if record else 0,
             "first_step_at_bound": float(record["first_step_at_bound"]) if record else float("nan")}
    if record and summary["n_points"] < MIN_POINTS_PER_RUN:
        facts["note"] = "; ".join(filter(None, [summary.get("note"), left_out_at_bound(record)]))
    return facts


TRANSITION_COLUMNS = ["model", "index", "step", "step_ci95_lo", "step_ci95_hi", "ci_widened",
                      "ci95_run_share", "slope_before", "slope_after", "slope_change", "slope_change_t",
                      "weak_kink", "warmup_end", "steps_after_warmup", "tokens_after_warmup",
                      "ratio_to_warmup_end", "decay_fraction_done", "lr_fraction_of_peak",
                      "schedule_phase", "warmup_end_in_ci95"]

# What each column of the transitions table holds, in its units: the JSON's "columns" and
# report.md's Files section (a slope printed as '+0.0104 -> +0.243' named neither its axis nor
# its unit, and the text's 'log(step)' was the report's log10(step)).
SLOPE_UNIT = "change of the statistic per unit log10(step), i.e. per tenfold of steps"
COLUMN_MEANINGS = {
    "index": "the transition's number within its run (1: the earliest)",
    "step": "optimizer step of the transition (a breakpoint in log10(step))",
    "step_ci95_lo": "95% interval of the transition's step, low end (steps)",
    "step_ci95_hi": "95% interval of the transition's step, high end (steps)",
    "ci_widened": "the interval was stretched to hold its estimate (the resamples' range missed it)",
    "ci95_run_share": "the interval's width as a fraction of the run's log10(step) range",
    "slope_before": f"slope before the transition: {SLOPE_UNIT}",
    "slope_after": f"slope after the transition: {SLOPE_UNIT}",
    "slope_change": f"slope_after - slope_before ({SLOPE_UNIT})",
    "slope_change_t": "the slope change in standard errors",
    "weak_kink": f"the slope change is under {WEAK_KINK_T:g} standard errors: may be noise",
    "warmup_end": "the run's warmup end (steps)",
    "steps_after_warmup": "step - warmup_end (steps; negative: inside warmup)",
    "tokens_after_warmup": "training tokens between the warmup end and the transition (tokens)",
    "ratio_to_warmup_end": "step / warmup_end",
    "decay_fraction_done": "fraction (0-1) of the LR decay done at the transition",
    "lr_fraction_of_peak": "learning rate at the transition as a fraction (0-1) of its peak",
    "schedule_phase": "where the transition falls in the LR schedule, in words",
    "warmup_end_in_ci95": "whether the warmup end lies inside the transition's 95% interval",
}
RUN_MEANINGS = {  # runs.csv: one row per run
    "n_points": "checkpoints after step 0 that the search read",
    "n_transitions": "transitions kept (BIC over a line and a smooth polynomial)",
    "total_steps": "the schedule's length (steps)",
    "schedule_source": "where the warmup end and schedule length were read from (columns, inferred "
                       "from lr, or given)",
    "delta_bic": "BIC of the best smooth polynomial minus that of the chosen segmented fit "
                 "(larger: a more abrupt change)",
    "error_rho": "lag-1 autocorrelation of the fit's errors between consecutive checkpoints (REML, "
                 "AR(1); across checkpoints left out, at the fit's bound or not finite, rho^k for k "
                 "apart); empty "
                 "where the statistic never moves",
    "error_rho_below_bound": "where error_rho is 0 because REML's estimate of it lies below 0 (the "
                             "errors of neighbouring checkpoints alternate in sign; the fits take "
                             "negative autocorrelation as none): that estimate (-0.95 to -0.01); "
                             "empty otherwise",
    "scatter_top2_share": f"share (0-1) of the chosen fit's residual sum of squares (whitened for "
                          f"AR(1), as its likelihood reads them) held by its {SCATTER_TOP} largest "
                          "residuals; empty where the fit leaves no scatter",
    "scatter_top2_threshold": f"the share that Gaussian AR(1) errors of constant variance exceed in "
                              f"{100 * (1 - SCATTER_LEVEL):.0f}% of runs of this run's checkpoints "
                              "and fit (simulated: transition_search.scatter_share)",
    "scatter_concentrated": "scatter_top2_share exceeds scatter_top2_threshold: a few checkpoints "
                            "hold the run's scatter, so the fit's constant-variance errors do not "
                            "hold and its breakpoints and intervals rest on them",
    "scatter_top2_steps": f"steps of the {SCATTER_TOP} largest residuals",
    "lr_peak": "peak learning rate", "schedule": "the LR schedule's shape",
    "note": "why a run has no search (e.g. too few checkpoints)",
    "n_at_bound": "checkpoints whose shape statistic sat at its fit's bound (a Student-t nu at its "
                  "cap 1e4: Gaussian as far as the fit can tell), left out of the search, not in n_points",
    "first_step_at_bound": "the first step at which the statistic sat at its fit's bound (empty: never)",
}
REGRESSION_UNITS = {"slope": "steps of transition step per step of warmup end (1: follows warmup "
                             "one step per step; 0: does not move with it)",
                    "intercept": "steps (the transition step at warmup end 0)"}


def checked_search(*, max_breakpoints, min_delta_bic, n_bootstrap, seed,
                   interval_method=INTERVAL_METHOD) -> dict:
    """The search settings of ``run_transitions``, each refused in one line as its command
    option is (--max-breakpoints 1-4, --min-delta-bic >= 0, --bootstrap 0 or 2+, --seed whole,
    --interval-method one of breakpoint_intervals.INTERVAL_METHODS)."""
    max_breakpoints = positive_int("max_breakpoints", max_breakpoints)
    if max_breakpoints > MAX_BREAKPOINTS:
        raise InputError(f"max_breakpoints: '{max_breakpoints}' is out of range; expected a whole "
                         f"number from 1 to {MAX_BREAKPOINTS}")
    return {"max_breakpoints": max_breakpoints,
            "min_delta_bic": nonnegative_float("min_delta_bic", min_delta_bic),
            "n_bootstrap": bootstrap_count("n_bootstrap", n_bootstrap),
            "seed": nonnegative_int("seed", seed),
            "interval_method": checked_interval_method(interval_method)}


PICK_WORDS = {  # what each --which takes from a run (the help and the refusal say these)
    "largest": "its largest slope change, of either sign",
    "first": "its first transition in time",
    "matched": ("its largest slope change of the sign that most runs' largest change has (a tie: "
                "the sign of the largest change of all); a run with no change of that sign has no pick"),
}
NTH_WORDS = "a whole number N >= 1: its N-th transition in time (a run with fewer has no pick)"


def checked_pick(which, option: str = "which") -> str | int:
    """``which`` as ``pick_transition_per_run`` takes it: 'largest', 'first' or 'matched' (in any
    case), or a whole number N >= 1 (an int, or its digits as text: each run's N-th transition),
    else one InputError naming what is accepted."""
    name = which.strip().lower() if isinstance(which, str) else which
    if name in PICKS:
        return name
    if isinstance(name, str) and name.isdigit():
        name = int(name)
    if isinstance(name, (int, np.integer)) and not isinstance(name, (bool, np.bool_)) and name >= 1:
        return int(name)
    raise InputError(f"{option}: '{which}' is not a pick; expected 'largest', 'first', 'matched' "
                     f"or a whole number N >= 1 (each run's N-th transition)")


def pick_text(which) -> str:
    """The pick in words, as --which names it: 'largest', 'first', 'matched', '2'."""
    return str(checked_pick(which))


def matched_sign(transitions: pd.DataFrame) -> float:
    """The sign (+1.0 or -1.0) of the slope change that ``--which matched`` picks: that of most
    runs' largest change (by its size), a tie broken by the largest change of all."""
    size = transitions["slope_change"].abs()
    largest = transitions.loc[size.groupby(transitions["model"]).idxmax()]
    votes = float(np.sum(np.where(largest["slope_change"] >= 0, 1.0, -1.0)))
    if votes == 0:
        votes = float(transitions.loc[size.idxmax(), "slope_change"])
    return 1.0 if votes >= 0 else -1.0


def pick_transition_per_run(transitions: pd.DataFrame, which="largest") -> pd.DataFrame:
    """One transition per run (fewer where a run has none that ``which`` takes), runs in name
    order: the 'largest' slope change, the 'first' in time, the 'matched' one (the largest change
    of the sign that most runs' largest change has: PICK_WORDS), or with a whole number N, each
    run's N-th transition in time."""
    which = checked_pick(which)
    if transitions.empty:
        return transitions
    if which == "first":
        return transitions.sort_values("step").groupby("model", as_index=False).first()
    if isinstance(which, int):
        _, ordinal = _places(transitions)
        nth = transitions.loc[ordinal[ordinal == which].index]
        return nth.sort_values("model", kind="stable").reset_index(drop=True)
    if which == "matched":
        sign = matched_sign(transitions)
        transitions = transitions[np.where(transitions["slope_change"] >= 0, 1.0, -1.0) == sign]
        if transitions.empty:
            return transitions
    key = transitions.assign(_mag=transitions["slope_change"].abs())  # the largest change
    return (key.sort_values("_mag", ascending=False).groupby("model", as_index=False)
            .first().drop(columns="_mag"))


def pick_in_families(transitions: pd.DataFrame, families: list[list[str]], which="largest") -> pd.DataFrame:
    """``pick_transition_per_run`` of every run, 'matched' within each warmup family (its sign
    is the family's; the runs outside every family together), runs in name order."""
    which = checked_pick(which)
    if which != "matched" or not families or transitions.empty:
        return pick_transition_per_run(transitions, which)
    grouped = [m for family in families for m in family]
    parts = [pick_transition_per_run(transitions[transitions["model"].isin(family)], which)
             for family in families]
    parts.append(pick_transition_per_run(transitions[~transitions["model"].isin(grouped)], which))
    parts = [part for part in parts if len(part)]
    if not parts:
        return transitions.iloc[:0]
    return pd.concat(parts).sort_values("model", kind="stable").reset_index(drop=True)


def pick_mismatch(picked: pd.DataFrame, transitions: pd.DataFrame) -> list[str]:
    """Why the runs' picked transitions may not be one transition seen in every run, one phrase
    per reason ([] where they look alike): weak and strong kinks mixed (``weak_kink``), slope
    changes of both signs, or, where every picked run has the same number of transitions,
    different places in that order (the 1st in one run, the 2nd in another). Only the picked runs'
    rows of ``transitions`` are read."""
    if len(picked) < 2:
        return []
    reasons = []
    weak = [bool(v) for v in picked.get("weak_kink", pd.Series(dtype=object)) if pd.notna(v)]
    if any(weak) and not all(weak):
        reasons.append(f"{sum(weak)} weak and {len(weak) - sum(weak)} strong kinks mixed")
    changes = picked["slope_change"].dropna()
    if (changes > 0).any() and (changes < 0).any():
        reasons.append(f"slope changes of both signs ({int((changes > 0).sum())} rising, "
                       f"{int((changes < 0).sum())} falling)")
    counts = transitions.groupby("model").size().reindex(picked["model"])
    ordinals = _ordinals(picked, transitions)
    if counts.notna().all() and counts.nunique() == 1 and len(set(ordinals)) > 1:
        reasons.append(f"different places among each run's {int(counts.iloc[0])} transitions "
                       f"({', '.join(str(o) for o in sorted(set(ordinals)))})")
    return reasons


def _places(transitions: pd.DataFrame) -> tuple[pd.DataFrame, pd.Series]:
    """(the transitions in time order, each one's place in time among its run's transitions, 1:
    the first), row for row."""
    ordered = transitions.sort_values("step")
    return ordered, ordered.groupby("model").cumcount() + 1


def _ordinals(picked: pd.DataFrame, transitions: pd.DataFrame) -> list[int]:
    """Each picked transition's place in time among its run's transitions (1: the first)."""
    ordered, ordinal = _places(transitions)
    place = {(m, s): int(o) for m, s, o in zip(ordered["model"], ordered["step"], ordinal)}
    return [place.get((m, s), 0) for m, s in zip(picked["model"], picked["step"])]


def pick_mismatch_warning(picked: pd.DataFrame, transitions: pd.DataFrame, which) -> str:
    """'warning: ...' naming every run's pick where ``pick_mismatch`` finds the picks unlike
    (a regression over them mixes different transitions), else ''."""
    reasons = pick_mismatch(picked, transitions)
    if not reasons:
        return ""
    counts = transitions.groupby("model").size()
    picks = []
    for (_, row), ordinal in zip(picked.iterrows(), _ordinals(picked, transitions)):
        weak = row.get("weak_kink")
        kind = "weak" if pd.notna(weak) and bool(weak) else "strong"
        picks.append(f"{row['model']} step {row['step']:.0f} ({ordinal} of {int(counts[row['model']])}, "
                     f"{kind}, slope change {row['slope_change']:+.3g})")
    which = pick_text(which)
    instead = ("--which N (each run's N-th transition)" if which == "matched" else
               "--which matched or another N" if which.isdigit() else
               "--which matched or --which N (each run's N-th transition)")
    return (f"warning: the transitions picked (--which {which}) may not be one transition seen in "
            f"every run: {'; '.join(reasons)}. Picks: {', '.join(picks)}. The slope regresses them "
            f"together; try {instead} to compare like with like")


MISMATCH_CAUTION = "; caution: the runs' picked transitions may be different ones (see the warning)"


def warmup_families(summary: pd.DataFrame) -> list[list[str]]:
    """Sets of runs that differ only in warmup, largest first.

    Runs share a family when they agree on every fact of FAMILY_FACTS the table gives (model
    size, schedule length, peak LR) and on the schedule's style (a WSD run of the same length is
    not a warmup variant of a cosine run); a family needs MIN_WARMUPS_PER_FAMILY distinct warmup
    ends (compared to 3 significant figures). Regressing across sizes or schedule lengths would confound warmup with them.
    """
    if summary.empty:
        return []
    facts = [c for c in FAMILY_FACTS if c in summary and summary[c].notna().all()]
    # 3 significant figures: a schedule length inferred from the lr column is off by a few 1e-6
    keyed = summary.assign(**{c: summary[c].astype(float).map(lambda v: float(f"{v:.3g}"))
                              for c in facts})
    facts += [c for c in FAMILY_TEXT_FACTS if c in summary and summary[c].notna().all()]
    groups = keyed.groupby(facts) if facts else [(None, keyed)]
    families = [sorted(map(str, g["model"])) for _, g in groups
                if g["warmup_end"].map(lambda v: f"{v:.3g}").nunique() >= MIN_WARMUPS_PER_FAMILY]
    return sorted(families, key=len, reverse=True)


Z95 = scipy_stats.norm.ppf(0.975)  # a 95% interval is the estimate +- 1.96 se


def breakpoint_se(picked: pd.DataFrame) -> np.ndarray | None:
    """Each run's transition-step standard error, (step_ci95_hi - step_ci95_lo) / 3.92, or None
    where a run has no interval (a search without bootstrap): the weights of the Hartung-Knapp
    regression."""
    if not {"step_ci95_lo", "step_ci95_hi"} <= set(picked.columns):
        return None
    se = (picked["step_ci95_hi"] - picked["step_ci95_lo"]).to_numpy(dtype=float) / (2 * Z95)
    return se if len(se) and np.all(np.isfinite(se) & (se > 0)) else None


def hartung_knapp(x, y, se) -> tuple[np.ndarray, np.ndarray, float]:
    """(intercept and slope, their covariance, tau^2): the random-effects meta-regression of y on
    x with known standard errors se, between-run variance tau^2 by DerSimonian-Laird's moments,
    weights 1 / (se^2 + tau^2), and Hartung and Knapp's variance (the weighted residual mean
    square times (X'WX)^-1), to be read with t on n - 2 degrees of freedom.

    The mean square is floored at (z_0.975 / t_0.975(n - 2))^2 (0.024 with 3 runs, 0.21 with 4),
    so the 95% t-interval is never narrower than the runs' own intervals allow (the
    DerSimonian-Laird interval with the normal quantile; Jackson et al. 2017, Stat Med 36:3923):
    with 3 runs (1 df) the mean square comes out near 0 whenever the transitions happen to fall
    on a line, and Hartung-Knapp alone then gave a near zero-width interval. On
    bench/bench_warmup_regression.py's families it covered 97.5% ± 1.4 of 119 with 3 runs and
    99.0% ± 1.0 of 102 with 4 (Hartung-Knapp alone 94.1% and 97.1%), widening 25-40% of them
    (median width ratio 1.0); Knapp and Hartung's ad hoc floor at 1 covered 100% at 3.0x and
    1.86x the median width."""
    coef, cov, tau2, _, _ = hartung_knapp_parts(x, y, se)
    return coef, cov, tau2


def hartung_knapp_parts(x, y, se) -> tuple[np.ndarray, np.ndarray, float, float, float]:
    """``hartung_knapp``'s (intercept and slope, their covariance, tau^2) and beside them the
    weighted residual mean square and its floor (z_0.975 / t_0.975(n - 2))^2: where the mean
    square is below the floor, the covariance (and the interval) is the floor's alone."""
    x, y, v = (np.asarray(a, dtype=float) for a in (x, y, np.square(se)))
    k = len(y)
    design = np.column_stack([np.ones(k), x])

    def wls(w):
        inverse = np.linalg.pinv(design.T @ (w[:, None] * design))
        coef = inverse @ design.T @ (w * y)
        return coef, inverse, y - design @ coef

    w0 = 1.0 / v
    _, inverse0, resid0 = wls(w0)
    q = float(np.sum(w0 * resid0 ** 2))
    weighted = w0[:, None] * design
    denominator = float(np.sum(w0) - np.trace(inverse0 @ weighted.T @ weighted))
    tau2 = max(0.0, (q - (k - 2)) / denominator) if denominator > 0 else 0.0
    w = 1.0 / (v + tau2)
    coef, inverse, resid = wls(w)
    scale = float(np.sum(w * resid ** 2)) / (k - 2)
    floor = (Z95 / scipy_stats.t.ppf(0.975, k - 2)) ** 2
    return coef, inverse * max(scale, floor), tau2, scale, float(floor)


def warmup_regression(picked: pd.DataFrame) -> FitResult:
    """Transition step on warmup end across runs: slope ~1 follows warmup, ~0 does not.

    Each run's transition comes with its own 95% interval (the breakpoint bootstrap), so the
    runs are weighted by it: a random-effects meta-regression (DerSimonian-Laird between-run
    variance, Hartung-Knapp variance, t on n - 2 degrees of freedom). On 269 synthetic 4-run
    families (bench/bench_warmup_regression.py) its 95% interval of a true slope of 1 covered
    97.4% ± 1.0, where ordinary least squares' t-interval covered 87.7% ± 2.0 (and a bootstrap
    of the 3-4 runs 77%); with the calibrated breakpoint intervals, 95.8% ± 1.4 of 192 fresh
    families with true slopes 1 and 0. Its interval is never narrower than the runs' own intervals
    allow (hartung_knapp's floor: 97.5% ± 1.4 of 119 synthetic 3-run families, Hartung-Knapp alone
    94.1% ± 2.2). Where a run has no interval (no bootstrap), the OLS t-interval.
    ``extra["interval_floored"]``: the Hartung-Knapp mean square (``hk_mean_square``) fell below
    its floor (``hk_mean_square_floor``), so the interval is the floor's alone (``interval`` says
    so); False for OLS.
    """
    data = picked.dropna(subset=["warmup_end", "step"])
    n = len(data)
    warnings = []
    if n < 3 or data["warmup_end"].nunique() < 2:
        raise InputError(f"warmup regression needs transitions in at least 3 runs with different "
                         f"warmup ends; found {n} run(s) with "
                         f"{data['warmup_end'].nunique()} distinct warmup end(s)")
    if data["warmup_end"].nunique() < 4:
        warnings.append(f"only {data['warmup_end'].nunique()} distinct warmup lengths (4+ advised)")
    x = data["warmup_end"].to_numpy(dtype=float)
    y = data["step"].to_numpy(dtype=float)
    fit = scipy_stats.linregress(x, y)
    dof = n - 2
    tcrit = scipy_stats.t.ppf(0.975, dof)
    se = breakpoint_se(data)
    extra = {"r_squared": float(fit.rvalue ** 2)}
    if se is None:
        coef = np.array([fit.intercept, fit.slope])
        errors = np.array([fit.intercept_stderr, fit.stderr])
        extra.update(p_value_slope_zero=float(fit.pvalue),
                     interval="OLS t-interval: ordinary least squares (the runs' transitions have no interval)",
                     interval_floored=False,
                     stderr_from="OLS: ordinary least squares' standard error of each coefficient, "
                                 "the basis of the t-interval (no run's transition has an interval)")
    else:
        coef, cov, tau2, mean_square, floor = hartung_knapp_parts(x, y, se)
        errors = np.sqrt(np.maximum(np.diag(cov), 0.0))
        t_zero = coef[1] / errors[1] if errors[1] > 0 else np.inf
        extra.update(p_value_slope_zero=float(2 * scipy_stats.t.sf(abs(t_zero), dof)), tau=float(np.sqrt(tau2)),
                     interval="Hartung-Knapp: each run weighted by its transition's interval, "
                              "DerSimonian-Laird between-run scatter, t on n - 2 df",
                     # what the stderr is (FitResult's default named the covariance at an optimum)
                     stderr_from="Hartung-Knapp: the random-effects meta-regression's standard error "
                                 "(runs weighted by their transitions' intervals, DerSimonian-Laird "
                                 "between-run scatter), the basis of the t-interval")
        floored = bool(mean_square < floor)
        extra.update(interval_floored=floored, hk_mean_square=mean_square, hk_mean_square_floor=floor)
        if floored:  # the interval is the floor's alone: say so where it is quoted
            extra["interval"] += "; " + floored_words(mean_square, floor)
    params = {name: ParamEstimate(float(coef[i]), float(errors[i]),
                                  (float(coef[i] - tcrit * errors[i]), float(coef[i] + tcrit * errors[i])))
              for name, i in (("slope", 1), ("intercept", 0))}
    residual = y - (coef[0] + coef[1] * x)
    extra["verdict"] = regression_verdict(params["slope"])
    if not extra["verdict"].startswith("undetermined"):  # a reading to quote: say what it rests on
        extra["verdict"] += weak_kink_caution(data)
    return FitResult(
        law="transition_step = intercept + slope * warmup_end", params=params, n_points=n,
        objective=float(residual @ residual), converged=True, warnings=warnings, extra=extra)


FLOORED_LABEL = "floored"  # after a warmup regression's interval that is the floor's alone
# what such an interval is (after "so the interval is the floor's: ")
FLOORED_MEANING = "as wide as the runs' own transition intervals allow, not the runs' scatter about the line"


def floored_words(mean_square: float, floor: float) -> str:
    """What a floored warmup-regression interval is (the text's and --json's ``interval``)."""
    return (f"{FLOORED_LABEL}: the weighted residual mean square {mean_square:.3g} is below its floor "
            f"{floor:.3g} ((z / t)^2 on n - 2 df), so the interval is the floor's: {FLOORED_MEANING}")


def floored_mark(fit: FitResult | None) -> str:
    """' (floored)' after a warmup regression's interval that is its floor's alone
    (``extra["interval_floored"]``), else ''."""
    return f" ({FLOORED_LABEL})" if fit is not None and fit.extra.get("interval_floored") else ""


def mismatch_line(fit: FitResult | None) -> str:
    """A warmup regression's 'warning: the transitions picked ...' (regress_families puts it first
    in its warnings where its runs' picks are unlike), else ''."""
    if fit is None or not fit.extra.get("pick_mismatch"):
        return ""
    return fit.warnings[0]


def weak_kink_caution(picked: pd.DataFrame) -> str:
    """'; tentative: ...' where half or more of the regressed transitions are weak kinks (slope
    change under WEAK_KINK_T standard errors, most of the extra transitions noise makes), else ''.
    A row whose weak_kink is missing (nan) counts as not weak but among the transitions."""
    if "weak_kink" not in picked:
        return ""
    weak = sum(bool(v) for v in picked["weak_kink"] if pd.notna(v))
    if 2 * weak < len(picked):
        return ""
    return f"; tentative: {weak} of {len(picked)} transitions are weak kinks (may be noise)"


def regression_verdict(slope: ParamEstimate) -> str:
    """Plain words for the slope: does the transition follow the warmup end?"""
    lo, hi = slope.ci95
    if not np.isfinite(lo):
        return "undetermined (too few runs for an interval)"
    if lo <= 1 <= hi and not (lo <= 0 <= hi):
        return "follows warmup (slope interval contains 1, excludes 0)"
    if lo <= 0 <= hi and not (lo <= 1 <= hi):
        return "does not follow warmup (slope interval contains 0, excludes 1)"
    if lo <= 0 <= hi and lo <= 1 <= hi:
        return "undetermined (slope interval contains both 0 and 1)"
    if hi < 0:  # onsets come earlier the longer the warmup: not what "follows" would predict
        return (f"moves against warmup (slope {slope.value:.2f}: earlier with a longer warmup; "
                "interval excludes 0 and 1)")
    if lo > 1:
        return f"moves more than 1:1 with warmup (slope {slope.value:.2f}, interval excludes 0 and 1)"
    return f"partly tied to warmup (slope {slope.value:.2f}, interval excludes 0 and 1)"


NO_FAMILY_NOTE = ("no 3 runs differ only in warmup (same params, schedule length and peak LR, "
                  "3+ warmup ends)")


NO_LABEL = "the statistic"  # the text's name for a trajectory that does not say which statistic it is


@dataclass
class TransitionStudy:
    """Transitions of every run and, per warmup family, the regression of transition step on
    warmup end (largest family first)."""

    transitions: pd.DataFrame  # one row per transition (detect_transitions)
    runs: pd.DataFrame  # one row per run: checkpoints, warmup end, schedule source, ...
    picked: pd.DataFrame  # the transition of each run that enters the regression
    regressions: list[tuple[list[str], FitResult]] = field(default_factory=list)
    note: str | None = None  # why a family could not be regressed, if one could not
    notes: list[str] = field(default_factory=list)  # checkpoints left out of the trajectory
    interval_method: str = INTERVAL_METHOD  # the breakpoint intervals' bootstrap
    n_bootstrap: int = 200  # its resamples per run (0: no intervals)
    # per run, the checkpoints whose shape statistic sat at its fit's bound, left out of the search
    # (stat_trajectory's attrs["at_bound"]; empty for any other statistic)
    at_bound: list[dict] = field(default_factory=list)
    # what the text and report.md need beside the fits: the trajectory searched (its constant runs,
    # trajectory.csv, the figure), the statistic's name in them ('t_nu / attn_out') and the
    # statistic itself (the steadier scale a scatter warning suggests)
    trajectory: pd.DataFrame | None = field(default=None, repr=False)
    label: str = NO_LABEL
    stat: str | None = None
    which: str | int = "largest"  # the pick of each run's transition for the regression (checked_pick)

    @property
    def regression(self) -> FitResult | None:
        """The largest family's regression: the one a report leads with."""
        return self.regressions[0][1] if self.regressions else None

    @property
    def regression_runs(self) -> list[str]:
        return self.regressions[0][0] if self.regressions else []

    @property
    def pick_warning(self) -> str:
        """The leading regression's 'warning: the transitions picked ...' where its runs' picks are
        unlike (pick_mismatch_warning), else ''."""
        return mismatch_line(self.regression)

    def __repr__(self) -> str:
        """A notebook's view: how many transitions in how many runs, and the warmup regression."""
        found = self.transitions
        n_with = found["model"].nunique() if len(found) else 0
        head = (f"TransitionStudy: {len(found)} transitions in {n_with} of {len(self.runs)} runs "
                f"({self.interval_method} intervals, {self.n_bootstrap} resamples per run)")
        fit = self.regression
        if fit is None:
            tail = f"warmup regression: not run ({self.note})"
        else:
            from scalefit.scaling.interval_text import interval_text, value_at_interval
            slope = fit.params["slope"]  # to its interval's precision, as the command prints it
            tail = (f"warmup regression over {fit.n_points} runs: slope "
                    f"{value_at_interval(slope.value, *slope.ci95)} "
                    f"{interval_text(*slope.ci95, slope.value)}{floored_mark(fit)}: "
                    f"{fit.extra.get('verdict', '')}")
            if self.pick_warning:
                tail += f"\n  {self.pick_warning}"
        notes = "".join(f"\n  note: {n}" for n in self.notes)  # checkpoints left out, as the command says
        return (f"{head}\n  {tail}{notes}\n  .transitions, .runs, .picked, .regression, .notes, .to_dict(); "
                "print() for the command's text, .write(out_dir) for its report")

    def __str__(self) -> str:
        """What `scalefit transitions` prints (transitions_report.transition_lines), its notes on
        checkpoints left out at the end as 'note:' lines (the command prints them on stderr)."""
        return "\n".join(self.lines())

    def lines(self, *, notes: bool = True) -> list[str]:
        """The command's text, line by line (transitions_report.transition_lines)."""
        from scalefit.scaling.trajectories.transitions_report import transition_lines
        return transition_lines(self, notes=notes)

    def write(self, out_dir, stopped: str | None = None) -> str:
        """What `scalefit transitions --out DIR` writes: report.md, transitions.csv, runs.csv,
        trajectory.csv and the figures, appearing in ``out_dir`` together
        (transitions_report.write_transition_report)."""
        from scalefit.scaling.trajectories.transitions_report import write_transition_report
        return write_transition_report(self, out_dir, stopped)

    def to_dict(self) -> dict:
        regression = self.regression
        resampled = bool(self.n_bootstrap)
        return {"interval_method": self.interval_method,
                "which": self.which,  # the pick of each run's transition (--which)
                "pick_warning": self.pick_warning or None,
                # step_ci95_lo/hi and the text's '95% CI': a 95% interval, made of the resamples'
                # central resamples_central_percent (99.5 for local-strong: calibrated, not a
                # Bonferroni level); interval says so in words
                "interval_level": INTERVAL_CONFIDENCE if resampled else None,
                "resamples_central_percent": interval_level(self.interval_method) if resampled else None,
                "interval": interval_description(self.interval_method, self.n_bootstrap),
                "runs": self.runs.to_dict("records"),
                "transitions": self.transitions.to_dict("records"),
                "warmup_regression": regression.to_dict() if regression else None,
                "warmup_regression_runs": self.regression_runs,
                "warmup_regressions": [{"runs": runs, "fit": fit.to_dict()}
                                       for runs, fit in self.regressions],
                "warmup_regression_note": self.note,
                "at_bound": self.at_bound,
                "columns": {"transitions": COLUMN_MEANINGS, "runs": RUN_MEANINGS,
                            "warmup_regression": REGRESSION_UNITS},
                "notes": list(dict.fromkeys(self.notes))}  # what was left out, as the 'note:' lines say


def mark_pick_mismatch(fit: FitResult, chosen: pd.DataFrame, transitions: pd.DataFrame, which) -> None:
    """A warmup regression ``fit`` over ``chosen`` (the runs' picks by ``which`` from
    ``transitions``) records the pick (``extra["pick"]``) and ``pick_mismatch``'s reasons
    (``extra["pick_mismatch"]``); where the picks are unlike, ``pick_mismatch_warning`` goes first in
    its warnings and MISMATCH_CAUTION after a verdict that is not 'undetermined'."""
    fit.extra["pick"] = pick_text(which)
    fit.extra["pick_mismatch"] = pick_mismatch(chosen, transitions)
    if fit.extra["pick_mismatch"]:
        fit.warnings.insert(0, pick_mismatch_warning(chosen, transitions, which))
        if not fit.extra["verdict"].startswith("undetermined"):
            fit.extra["verdict"] += MISMATCH_CAUTION


def regress_families(picked: pd.DataFrame, runs: pd.DataFrame, transitions: pd.DataFrame | None = None,
                     which="largest"):
    """([(family's runs, its warmup regression)], largest family first; a note when a family,
    or every family, cannot be regressed). With ``transitions`` (every run's, that ``picked``
    was picked from by ``which``), a family whose picks are unlike (``pick_mismatch``) gets
    ``pick_mismatch_warning`` first in its fit's warnings, the reasons in
    ``extra["pick_mismatch"]`` and a caution after a verdict that is not 'undetermined'."""
    families = warmup_families(runs)
    if not families:
        return [], NO_FAMILY_NOTE
    fits, notes = [], []
    for family in families:
        chosen = picked[picked["model"].isin(family)]
        try:
            fit = warmup_regression(chosen)
        except InputError as exc:
            notes.append(f"{', '.join(family)}: {exc}")
            continue
        if transitions is not None:
            mark_pick_mismatch(fit, chosen, transitions, which)
        fits.append((family, fit))
    return fits, "; ".join(notes) or None


@renamed_arguments(traj="trajectory")
def transition_study(trajectory: pd.DataFrame, *, which: str | int = "largest",
                     warmup_steps: float | None = None, total_steps: float | None = None,
                     max_breakpoints: int = 3, min_delta_bic: float = 6.0, n_bootstrap: int = 200,
                     seed: int = 0, progress: bool = False,
                     interval_method: str = INTERVAL_METHOD, label: str | None = None,
                     stat: str | None = None) -> TransitionStudy:
    """Does a weight statistic's transition follow the warmup? What `scalefit transitions`
    reports, from ``stat_trajectory(...)``'s output: every run's change points against log(step),
    the one per run that ``which`` picks ('largest' slope change, 'first', 'matched': the largest
    change of the sign most runs' largest has, or a whole number N: each run's N-th; PICK_WORDS),
    and per family of runs that differ only in warmup the regression of its step on the warmup
    end. Where a family's picks are unlike (weak and strong kinks, both signs of slope change,
    different places in runs with as many transitions: ``pick_mismatch``), its fit's first warning
    names every run's pick (``study.pick_warning`` for the leading family).

    ``warmup_steps`` / ``total_steps`` override the table's schedule; ``max_breakpoints`` (1-4) and
    ``min_delta_bic`` bound the search; ``n_bootstrap`` sieve resamples give each transition's
    interval (0: none), by ``interval_method`` (one of breakpoint_intervals.INTERVAL_METHODS;
    default breakpoint_intervals.INTERVAL_METHOD). The regression weights each run by its
    transition's interval (``warmup_regression``: Hartung-Knapp; ordinary least squares where
    there are none).

    ``print(study)`` gives the command's text and ``study.write(out_dir)`` its report folder
    (transitions_report). ``label`` names the statistic there and ``stat`` is its name (the
    steadier scale a scatter warning suggests); by default both come from the selection
    ``stat_trajectory`` records in the trajectory's ``attrs["selection"]``.
    """
    which = checked_pick(which)
    label, stat = _named_selection(trajectory, label, stat)
    interval_method = checked_interval_method(interval_method)
    n_bootstrap = bootstrap_count("n_bootstrap", n_bootstrap)
    stopped = None
    try:
        found, runs = detect_transitions(trajectory, warmup_steps=warmup_steps,
                                         total_steps=total_steps, max_breakpoints=max_breakpoints,
                                         min_delta_bic=min_delta_bic, n_bootstrap=n_bootstrap,
                                         seed=seed, progress=progress, interval_method=interval_method)
        results_ready()  # every run searched: a stop now waits until the study is printed and written
    except Interrupted as exc:  # the finished runs, without a regression over part of a family
        (found, runs), stopped = exc.partial, exc
    picked = pick_in_families(found, warmup_families(runs), which)
    if stopped is None:
        regressions, note = regress_families(picked, runs, found, which)
    else:
        regressions, note = [], f"interrupted after {stopped.done} of {stopped.total} runs"
    if regressions:
        picked = picked[picked["model"].isin(regressions[0][0])]
    notes = list(trajectory.attrs.get("notes", [])) + runs.attrs.get("notes", [])
    study = TransitionStudy(found, runs, picked, regressions, note, notes, interval_method, n_bootstrap,
                            list(trajectory.attrs.get("at_bound") or []), trajectory=trajectory,
                            label=label, stat=stat, which=which)
    if stopped is not None:
        raise Interrupted(study, stopped.done, stopped.total, stopped.unit) from None
    return study


def _named_selection(trajectory, label: str | None, stat: str | None) -> tuple[str, str | None]:
    """(the statistic's name in the text, the statistic): ``label`` and ``stat`` where given, else
    from ``attrs["selection"]`` (stat_trajectory's stat, group, tensor and layer), else 'the
    statistic' and None."""
    from scalefit.scaling.trajectories.table import stat_label
    selection = getattr(trajectory, "attrs", {}).get("selection") or {}
    stat = stat if stat is not None else selection.get("stat")
    if label is None:
        label = stat_label(**selection) if selection.get("stat") else NO_LABEL
    return str(label), stat

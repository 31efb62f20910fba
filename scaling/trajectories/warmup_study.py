"""Which weight statistics move with warmup: one row per statistic over a warmup family.

For each (stat, group), the transitions of every run in one family of warmup variants (runs
that differ only in warmup), then the warmup regression of the first transition (the onset)
and of the largest slope change. This is the table the mini-suite report shows; the command is
`scalefit warmup-study --data TABLE --out DIR` (``trajectories.cli.warmup_study_command``).
"""
from __future__ import annotations

import os

import numpy as np
import pandas as pd
from tqdm import tqdm

from scalefit.errors import InputError
from scalefit.options import bootstrap_count, nonnegative_int, positive_int
from scalefit.scaling.interval_text import interval_text, value_at_interval
from scalefit.signals import Interrupted, results_ready
from scalefit.scaling.trajectories.segmented import WEAK_KINK_T
from scalefit.scaling.trajectories.table import as_table, stat_trajectories, stat_trajectory
from scalefit.scaling.trajectories.transition_search import SCATTER_LEVEL, SCATTER_TOP
from scalefit.scaling.trajectories.transitions import (FLOORED_LABEL, FLOORED_MEANING, NO_FAMILY_NOTE,
                                                       detect_transitions, mark_pick_mismatch,
                                                       pick_mismatch, pick_transition_per_run,
                                                       run_schedules, warmup_families, warmup_regression)

PANELS = [("t_nu", "attn_out"), ("t_xi", "attn_out"), ("sv_max", "mlp_in"), ("stable_rank", "attn_qkv"),
          ("max_abs", "embed_in"), ("stable_rank", "mlp_in"), ("gennorm_beta", "mlp_out"),
          ("alpha", "mlp_in"), ("std", "mlp_in"), ("t_nu", "mlp_in"), ("t_xi", "mlp_in"),
          ("excess_kurtosis", "mlp_in"), ("excess_kurtosis", "attn_qkv")]


PANEL_FORMS = "'STAT/GROUP' (e.g. 't_nu/attn_out'), a (stat, group) pair, or a list of either"


def _is_pair(value) -> bool:
    """A (stat, group) pair of names."""
    return isinstance(value, (tuple, list)) and len(value) == 2 and all(isinstance(v, str) for v in value)


def panel(value) -> tuple[str, str]:
    """One (stat, group) from 'STAT/GROUP' (the command's --panel) or a (stat, group) pair."""
    if isinstance(value, str):
        stat, sep, group = value.partition("/")
    elif _is_pair(value):
        (stat, group), sep = value, "/"
    else:
        stat = sep = group = ""
    if not sep or not stat or not group:
        raise InputError(f"panels (--panel): {value!r} is not a statistic and a group; give {PANEL_FORMS}")
    return stat, group


def checked_panels(panels) -> list[tuple[str, str]]:
    """The (stat, group) pairs of ``panels`` (one panel or a list, forms as ``panel``), each once,
    in order; none is an InputError, not an empty study."""
    one = isinstance(panels, str) or (isinstance(panels, tuple) and _is_pair(panels))
    try:
        items = [panels] if one else list(panels)
    except TypeError:
        raise InputError(f"panels: {panels!r} is not a list of panels; give {PANEL_FORMS}") from None
    if not items:
        raise InputError(f"panels: none given; give {PANEL_FORMS} (default: the mini-suite "
                         f"report's {len(PANELS)}, warmup_study.PANELS)")
    return list(dict.fromkeys(panel(p) for p in items))


def study_row(table: pd.DataFrame, stat: str, group: str, *, n_bootstrap: int = 200,
              seed: int = 0, source: str = "table", traj: pd.DataFrame | None = None) -> dict:
    """Transitions of one statistic in the largest warmup family, and both regressions
    (``traj``: the statistic's trajectory, when the caller has already read it from ``table``)."""
    traj = stat_trajectory(table, stat, group=group, source=source) if traj is None else traj
    families = warmup_families(run_schedules(traj))  # the runs' facts: no fit needed
    if not families:
        raise InputError(f"{source}: {stat}/{group}: {NO_FAMILY_NOTE}")
    runs = families[0]
    found, summary = detect_transitions(traj[traj["model"].isin(runs)],
                                        n_bootstrap=n_bootstrap, seed=seed)
    order = summary[summary["model"].isin(runs)].sort_values("warmup_end")
    row = {"stat": stat, "group": group, "runs": ",".join(order["model"]),
           "warmup_ends": ",".join(f"{w:.0f}" for w in order["warmup_end"])}
    if "at_bound" in traj.attrs:  # a shape statistic: where the family's runs reached its bound
        row["at_bound"] = at_bound_text(traj.attrs["at_bound"], list(order["model"]))
    row.update(scatter_facts(order))
    family = found[found["model"].isin(runs)]  # one family: 'matched' takes its sign from these runs
    for which in _PICKS:
        picked = pick_transition_per_run(family, which)
        steps = picked.set_index("model")["step"].reindex(order["model"])
        row[f"{which}_steps"] = ",".join("-" if np.isnan(s) else f"{s:.0f}" for s in steps)
        row[f"{which}_weak_kinks"] = int(picked["weak_kink"].sum()) if len(picked) else 0
        try:
            fit = warmup_regression(picked)
        except InputError:
            row.update({f"{which}_slope": np.nan, f"{which}_lo": np.nan, f"{which}_hi": np.nan,
                        f"{which}_verdict": "not enough runs with a transition"})
            row.update(_pick_checks(pick_mismatch(picked, family), False, which))
            continue
        mark_pick_mismatch(fit, picked, family, which)  # the verdict gains transitions' caution
        slope = fit.params["slope"]
        row.update({f"{which}_slope": slope.value, f"{which}_lo": slope.ci95[0],
                    f"{which}_hi": slope.ci95[1], f"{which}_verdict": fit.extra["verdict"],
                    f"{which}_interval": fit.extra["interval"].split(":")[0]})
        row.update(_pick_checks(fit.extra["pick_mismatch"], fit.extra["interval_floored"], which))
    row["interval_level"] = SLOPE_INTERVAL_LEVEL  # of the slopes' _lo/_hi
    return row


def _pick_checks(reasons: list[str], floored: bool, which: str) -> dict:
    """A pick's ``{which}_floored`` (its slope's interval is the Hartung-Knapp floor's alone) and
    ``{which}_mismatch`` (transitions.pick_mismatch's reasons, '; '-joined; '' where alike)."""
    return {f"{which}_floored": bool(floored), f"{which}_mismatch": "; ".join(reasons)}


SLOPE_INTERVAL_LEVEL = 95.0  # percent (transitions' interval_level): the slopes' _lo/_hi intervals

# the picks of each run's transition the study regresses (transitions.PICK_WORDS), in column order
_PICKS = {"first": "first transition (the onset)", "largest": "largest slope change",
          "matched": "matched change (its largest slope change of the sign most of the family's "
                     "runs' largest change has: `scalefit transitions --which matched`)"}
# warmup_transitions.csv's columns (report.md's '## Files'): the list cells are text, a run's
# values separated by ',' in the order of ``runs``, as read_csv gives them back (str.split(','))
STUDY_COLUMNS = {
    "stat": "the weight statistic (t_xi: 1/t_nu)",
    "group": "the tensor group it is measured on",
    "runs": "the warmup family studied (runs that differ only in warmup), separated by ',' in order "
            "of warmup end; each list cell below gives one value per run in this order",
    "warmup_ends": "each run's warmup end (steps), separated by ',', in the order of runs",
    "at_bound": "where runs of the family reached the statistic's fit bound (a Student-t nu at its "
                "cap), those checkpoints left out of the fits; empty: none did",
    "scatter_concentrated": "the runs whose fit holds its scatter in a few checkpoints (`scalefit "
                            "transitions`' scatter_concentrated), separated by ','; empty: none",
    "scatter_measured": "of how many of the family's runs that was measured",
    **{key: text for which, pick in _PICKS.items() for key, text in {
        f"{which}_steps": f"each run's {pick} step, separated by ',' in the order of runs; '-': the "
                          "run has none",
        f"{which}_weak_kinks": f"how many runs' {pick} changes slope by under {WEAK_KINK_T:g} "
                               "standard errors (a weak kink: may be noise)",
        f"{which}_slope": f"slope of the regression of the {pick} step on the warmup end (steps per "
                          "step of warmup: 1 follows warmup, 0 does not move with it); empty: not "
                          "enough runs with a transition",
        f"{which}_lo": "its 95% interval (interval_level), low end",
        f"{which}_hi": "its 95% interval, high end",
        f"{which}_verdict": "the slope in words: follows warmup (its interval holds 1, excludes 0), "
                            "does not follow it (holds 0, excludes 1), undetermined (holds both), "
                            "or how else it moves",
        f"{which}_interval": "how that interval was made: Hartung-Knapp (each run weighted by its "
                             "transition's interval) or OLS t-interval (no run's transition has "
                             "one)",
        f"{which}_floored": f"True where that interval is {FLOORED_LABEL}: the Hartung-Knapp weighted "
                            f"residual mean square fell below its floor, so the interval is the "
                            f"floor's: {FLOORED_MEANING} (False: not floored, or no regression)",
        f"{which}_mismatch": f"why the runs' {which} picks may not be one transition seen in every run "
                             "(`scalefit transitions`' pick warning: weak and strong kinks mixed, "
                             "slope changes of both signs, different places among runs with as "
                             "many transitions), '; '-separated; empty: alike (the verdict then "
                             "carries no caution)"}.items()},
    "interval_level": "the level of the slopes' intervals, percent",
}


def job_count(option: str, value) -> int | None:
    """Worker processes for ``warmup_study``: a whole number >= 1 (1: serial, in this process),
    or None for this machine's CPU count."""
    return None if value is None else positive_int(option, value)


def warmup_study(table, panels=PANELS, *, n_bootstrap: int = 200, seed: int = 0,
                 progress: bool = False, source: str = "table", jobs: int | None = 1) -> pd.DataFrame:
    """Which weight statistics move with warmup: what `scalefit warmup-study` reports, one row
    per (stat, group) of ``panels`` (``study_row``: over the runs that differ only in warmup, the
    regression on the warmup end of each run's first transition and of its largest one, slope
    with its 95% interval and verdict), so a statistic that tracks warmup stands out from one
    that does not. ``panels``: 'STAT/GROUP' texts or (stat, group) pairs (a panel named twice is
    studied once); ``n_bootstrap`` resamples per run give the transitions' intervals (0: none);
    ``progress`` shows a bar on stderr. Every panel is read from the table before the first fit,
    so a statistic or group the table lacks is refused at once. The table (a DataFrame or its
    path) is read as ``stat_trajectory`` reads it; ``attrs["notes"]`` names the checkpoints left
    out. A panel whose values are all at its fit's bound or not finite (t_nu of a group whose every
    nu is at its cap) is left out and the others studied: ``attrs["panels_left_out"]`` (stat, group,
    why; ``left_out_panel_notes``); with no panel left the study is refused.

    ``jobs``: worker processes that study panels side by side, used where there are resamples to
    draw (``_worker_count``); 1 (the default): one panel after another in this process; None: one
    per CPU (the command's default). The rows are the same bits, in the same order, for any
    ``jobs``. The workers are spawned processes, which import the calling script afresh: a script
    (not a notebook or the interactive interpreter) that asks for jobs > 1 must call this under
    ``if __name__ == "__main__":``, or each worker runs the script again and the pool breaks."""
    n_bootstrap, seed = bootstrap_count("n_bootstrap", n_bootstrap), nonnegative_int("seed", seed)
    jobs = job_count("jobs", jobs)
    table, source = as_table(table, source)
    panels = checked_panels(panels)
    unmeasured = []  # (stat, group, why): panels with rows but no measured value, left out
    trajectories = stat_trajectories(table, panels, source=source, unmeasured=unmeasured)
    if all(traj is None for traj in trajectories):  # nothing left to study: the panel's own refusal
        raise InputError("; ".join(why for _, _, why in unmeasured))
    panels, trajectories = zip(*[(p, t) for p, t in zip(panels, trajectories) if t is not None])
    notes = list(dict.fromkeys(n for traj in trajectories for n in traj.attrs["notes"]))
    left_out = [{"stat": stat, "group": group, "why": why} for stat, group, why in unmeasured]
    tasks = [(stat, group, traj) for (stat, group), traj in zip(panels, trajectories)]
    settings = {"n_bootstrap": n_bootstrap, "seed": seed, "source": source}
    workers = _worker_count(jobs, len(tasks), n_bootstrap)
    finished = {}  # panel index -> its row
    # closed (and cleared) before an error propagates: the message then starts its own line
    with tqdm(total=len(tasks), desc="warmup study", unit="stat", disable=not progress,
              leave=False) as bar:
        try:
            if workers == 1:
                for i, (stat, group, traj) in enumerate(tasks):
                    finished[i] = study_row(table, stat, group, traj=traj, **settings)
                    bar.update()
            else:
                _study_side_by_side(tasks, settings, workers, finished, bar)
            results_ready()  # every panel studied: a stop now waits until they are printed and written
        except KeyboardInterrupt:  # keep the statistics finished: minutes of bootstrap each
            kept = pd.DataFrame([finished[i] for i in sorted(finished)])
            kept.attrs.update(notes=notes, panels_left_out=left_out)
            raise Interrupted(kept, len(finished), len(panels), "statistics") from None
    study = pd.DataFrame([finished[i] for i in range(len(tasks))])
    study.attrs.update(notes=notes, panels_left_out=left_out)
    return study


def _worker_count(jobs: int | None, n_panels: int, n_bootstrap: int) -> int:
    """Processes for a study: ``jobs`` (None: the CPU count), at most one per panel and per CPU;
    1 without resamples, where a row takes a few seconds at most and starting a worker (importing
    numpy, pandas and scipy afresh) about as long."""
    cpus = os.cpu_count() or 1
    return 1 if n_bootstrap == 0 else max(1, min(cpus if jobs is None else jobs, cpus, n_panels))


# Said where a worker of a study with jobs > 1 died: the commonest cause, a script without the guard
MAIN_GUARD_NOTE = ("warmup_study's workers are spawned processes that import the calling script "
                   "afresh: a script that asks for jobs > 1 must call it under "
                   "`if __name__ == \"__main__\":`, or pass jobs=1 to study the panels in this process")


def _study_side_by_side(tasks: list[tuple], settings: dict, workers: int, finished: dict,
                        bar) -> None:
    """``study_row`` of every (stat, group, trajectory) task in ``workers`` spawned processes (one
    BLAS thread each), each row put in ``finished`` under its task's index as it comes. An error is the one the serial
    loop would raise (the first failing task in order); on Ctrl-C the workers are stopped at
    once and ``finished`` holds the rows that came."""
    import multiprocessing
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
    from concurrent.futures.process import BrokenProcessPool

    pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),
                               initializer=_worker_start)
    try:
        futures = [pool.submit(study_row, traj, stat, group, traj=traj, **settings)
                   for stat, group, traj in tasks]
        pending = set(futures)
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in sorted(done, key=futures.index):
                if future.exception() is not None:  # the serial loop's error: the first in order
                    for earlier in futures[:futures.index(future) + 1]:
                        if isinstance(earlier.exception(), BrokenProcessPool):  # a worker died
                            raise BrokenProcessPool(f"{earlier.exception()} ({MAIN_GUARD_NOTE})")
                        if earlier.exception() is not None:
                            raise earlier.exception()
                finished[futures.index(future)] = future.result()
                bar.update()
        results_ready()  # every row is in: a stop while the workers shut down waits for the output
    except BaseException:
        for process in list(getattr(pool, "_processes", {}).values()):  # stop their rows now
            process.terminate()
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown()


def _worker_start() -> None:
    """A worker of ``_study_side_by_side``: one BLAS thread (the workers share the CPUs), Ctrl-C
    left to the main process, which stops the workers itself, and tqdm's lock a thread lock (its
    default, a multiprocessing lock per worker, was left behind by a stopped worker: Python's
    resource_tracker then warned of leaked semaphores; a worker draws no bar)."""
    import signal
    import threading

    from threadpoolctl import threadpool_limits

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    threadpool_limits(1)
    tqdm.set_lock(threading.RLock())


def at_bound_text(at_bound: list[dict], runs: list[str]) -> str:
    """'nu at its cap 10000 (Gaussian as far as the fit can tell) in mini-3-W0.0025 from step
    318 (22 of 74 checkpoints), ...; left out of the fits' for those of ``runs`` (in their order)
    whose statistic reached its fit's bound (stat_trajectory's attrs["at_bound"]); '' for none."""
    from scalefit.scaling.trajectories.table import bound_words
    records = sorted((r for r in at_bound if r["model"] in runs), key=lambda r: runs.index(r["model"]))
    if not records:
        return ""
    by_side = {}
    for r in records:
        by_side.setdefault(bound_words(r["stat"], r["side"]), []).append(
            f"{r['model']} from step {r['first_step_at_bound']} ({r['n_at_bound']} of "
            f"{r['n_checkpoints']} checkpoints)")
    return "; ".join(f"{what} in {', '.join(where)}" for what, where in by_side.items()) + \
        ": left out of the fits"


def scatter_facts(order: pd.DataFrame) -> dict:
    """Which of a family's runs (transitions' run summaries, in warmup order) hold their fit's
    scatter in a few checkpoints (``scatter_concentrated``), and of how many runs that was
    measured: the slope's intervals rest on the runs' Gaussian errors of one variance."""
    flags = order.get("scatter_concentrated", pd.Series(dtype=object))
    measured = [(model, flag) for model, flag in zip(order["model"], flags)
                if isinstance(flag, (bool, np.bool_))]
    return {"scatter_concentrated": ",".join(model for model, flag in measured if flag),
            "scatter_measured": len(measured)}


def scatter_notes(study: pd.DataFrame) -> list[str]:
    """One line per statistic some of whose warmup runs hold their fit's scatter in a few
    checkpoints (transitions' scatter check): which, of how many; then one line on what rests on it."""
    if "scatter_concentrated" not in study:
        return []
    notes = []
    for _, r in study.iterrows():
        runs = [m for m in str(r["scatter_concentrated"]).split(",") if m and m != "nan"]
        if runs:
            notes.append(f"{r['stat']}/{r['group']}: scatter concentrated in {len(runs)} of "
                         f"{int(r['scatter_measured'])} runs ({', '.join(runs)})")
    if notes:
        notes.append(f"scatter concentrated: {SCATTER_TOP} checkpoints hold more of the run's residual "
                     f"scatter than Gaussian errors of one variance give in {100 * (1 - SCATTER_LEVEL):.0f}% "
                     "of runs (`scalefit transitions` names them), so the transitions' intervals, and the "
                     "slope's, rest on errors the run only roughly follows")
    return notes


def left_out_panel_notes(study: pd.DataFrame) -> list[str]:
    """One line per panel ``warmup_study`` left out for having no measured value, naming it and why
    (``attrs["panels_left_out"]``)."""
    return [f"{r['stat']}/{r['group']}: left out of the study, no measured value ({r['why']})"
            for r in study.attrs.get("panels_left_out", [])]


def bound_notes(study: pd.DataFrame) -> list[str]:
    """One line per statistic whose warmup runs reached its fit's bound (a capped nu): which runs,
    from which step, and that those checkpoints are no measurement, so the fits leave them out."""
    if "at_bound" not in study:
        return []
    return [f"{r['stat']}/{r['group']}: {r['at_bound']}" for _, r in study.iterrows()
            if isinstance(r["at_bound"], str) and r["at_bound"]]


def slope_caption(n_bootstrap: int) -> str:
    """What a table cell 'slope [low, high]' is: the regression of transition step on warmup end,
    its unit and its interval (report.md's first sentence, and the command's line above its table)."""
    return ("Slope [95% CI] of transition step on warmup end (steps per step of warmup: 1 follows "
            "warmup one step per step, 0 does not move with it) over one family of "
            + ("warmup variants (each run weighted by its transition's interval: Hartung-Knapp, "
               "t on runs - 2 df)" if n_bootstrap else "warmup variants (ordinary least squares, "
               "t on runs - 2 df: --bootstrap 0 gives the transitions no interval to weight by)"))


def _picks_in(study: pd.DataFrame) -> list[str]:
    """The picks (``_PICKS``, in order) whose slope columns ``study`` has: a study written before
    the matched pick has first and largest only."""
    return [which for which in _PICKS if f"{which}_slope" in study]


def _mismatch(r, which) -> str:
    """A row's ``{which}_mismatch`` reasons, '' where alike or absent (read_csv gives nan for '')."""
    reasons = r.get(f"{which}_mismatch", "")
    return reasons if isinstance(reasons, str) else ""


UNLIKE_MARK = "unlike"  # after a table cell whose runs' picks pick_mismatch finds unlike


def dash_notes(study: pd.DataFrame) -> list[str]:
    """What a '-' in ``markdown(study)`` stands for, one line each, where the table has one: a
    slope with no regression, a run with no transition."""
    notes = []
    picks = _picks_in(study)
    slopes = study[[f"{which}_slope" for which in picks]].to_numpy(dtype=float)
    if np.isnan(slopes).any():
        notes.append("-: not enough runs with a transition for a regression (it needs 3 with different "
                     "warmup ends)")
    steps = study[[c for c in (f"{which}_steps" for which in picks) if c in study]].astype(str)
    if steps.apply(lambda column: column.str.split(",").map(lambda s: "-" in s)).to_numpy().any():
        matched = " (in the matched-change steps: none of the matched sign)" if "matched_steps" in steps else ""
        notes.append(f"'-' in the steps: that run has no transition{matched}")
    return notes


def pick_notes(study: pd.DataFrame) -> list[str]:
    """What '(floored)' and '(unlike)' in ``markdown(study)`` mean, where the table has them, and
    one line per (statistic, pick) whose runs' picks are unlike, naming why (``{which}_mismatch``:
    transitions.pick_mismatch's reasons; its verdict carries transitions' caution)."""
    picks = _picks_in(study)
    floored = any(bool(r.get(f"{which}_floored", False)) for _, r in study.iterrows() for which in picks)
    unlike = [f"{r['stat']}/{r['group']}, {which}: {_mismatch(r, which)}"
              for _, r in study.iterrows() for which in picks if _mismatch(r, which)]
    notes = []
    if floored:
        notes.append(f"({FLOORED_LABEL}): the Hartung-Knapp weighted residual mean square is below its "
                     f"floor, so the interval is the floor's: {FLOORED_MEANING} (`scalefit transitions` "
                     "says so too)")
    if unlike:
        notes.append(f"({UNLIKE_MARK}): the runs' picked transitions may not be one transition seen in "
                     "every run, so the slope regresses different transitions together (`scalefit "
                     "transitions` warns the same; its verdict carries a caution): " + "; ".join(unlike))
    return notes


def markdown(study: pd.DataFrame) -> str:
    """The report table: slope [95% CI] of the onset, of the largest change and (where the study
    has it) of the matched change, to the interval's precision (interval_text: '1 [-5, 8]', not
    '1.23 [-5.29, 7.75]'), each marked '(floored)' where its interval is the Hartung-Knapp floor's
    alone, with how many of its runs' transitions are weak kinks (transitions.WEAK_KINK_T: may be
    noise) and '(unlike)' where its runs' picks may be different transitions (``pick_notes`` says
    why), and each run's transition step in the order of its warmup end (named in the header where
    every row has the same warmup family, in a column of its own otherwise)."""
    def slope(r, which):
        if np.isnan(r[f"{which}_slope"]):
            return "-"
        value, lo, hi = r[f"{which}_slope"], r[f"{which}_lo"], r[f"{which}_hi"]
        text = f"{value_at_interval(value, lo, hi)} {interval_text(lo, hi, value)}"
        text += f" ({FLOORED_LABEL})" if bool(r.get(f"{which}_floored", False)) else ""
        text = f"**{text}**" if r[f"{which}_verdict"].startswith("follows") else text
        weak = r.get(f"{which}_weak_kinks", 0)
        text = f"{text} ({weak} weak)" if weak else text
        return f"{text} ({UNLIKE_MARK})" if _mismatch(r, which) else text
    names = {"first": ("slope, first transition", "first transition steps"),
             "largest": ("slope, largest change", "largest-change steps"),
             "matched": ("slope, matched change", "matched-change steps")}
    picks = _picks_in(study)
    warmups = study["warmup_ends"].astype(str).unique() if "warmup_ends" in study else []
    shared = len(warmups) == 1
    at = f" (warmup {warmups[0].replace(',', ', ')} steps)" if shared else ""
    lines = ["| statistic | group | " + ("" if shared else "warmup ends | ") +
             "".join(f"{names[which][0]} | {names[which][1]}{at} | " for which in picks).rstrip(),
             "|---|---|" + "---|---|" * len(picks) + ("" if shared else "---|")]
    for _, r in study.iterrows():
        ends = "" if shared else f"{r.get('warmup_ends', '-')} | "
        lines.append(f"| {r['stat']} | {r['group']} | {ends}"
                     + "".join(f"{slope(r, which)} | {r[f'{which}_steps']} | " for which in picks).rstrip())
    return "\n".join(lines)

"""What `scalefit transitions` prints and writes of a transition study, as functions a notebook
calls: ``transition_lines`` (the text, run by run: each transition with its steps and tokens from
the warmup end and the decay done, weak kinks, scatter warnings, the intervals' caveat and the
warmup regression) and ``write_transition_report`` (report.md, transitions.csv, runs.csv,
trajectory.csv and the figures). ``print(transition_study(...))`` and ``TransitionStudy.write``
read them; the command (``trajectories.cli.transitions``) is a shell over them."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from scalefit.report import markdown_table, save_figure, write_text
from scalefit.schema import checkpoints_text
from scalefit.scaling.outputs import files_section, interrupted_lines, write_report_folder
from scalefit.scaling.trajectories.table import left_out_lines
from scalefit.tables import write_table

WIDENED_MARK = "*"  # after a breakpoint interval the bootstrap did not centre on its estimate


def steps_text(step: float) -> str:
    """A warmup end as a step: whole where it is one to inference precision (9.9998 from an lr
    column is 10), else to one decimal (a --warmup-steps 10.5 is not printed as 10)."""
    whole = round(step)
    return f"{whole:.0f}" if abs(step - whole) < max(0.01, 1e-4 * abs(step)) else f"{step:.1f}"


def constant_runs(traj: pd.DataFrame | None) -> dict:
    """{model: its value} for each run whose statistic is one number at every checkpoint after
    step 0 (what the fits read), two or more of them: no scatter, so no autocorrelation to print
    (one checkpoint is not a constant); {} without a trajectory."""
    if traj is None:
        return {}
    after = traj[traj["step"] > 0]
    spans = after.groupby("model")["value"].agg(["min", "max", "count"])
    return {m: r["min"] for m, r in spans.iterrows() if r["min"] == r["max"] and r["count"] > 1}


def transition_lines(study, *, notes: bool = True) -> list[str]:
    """The lines `scalefit transitions` prints of ``study`` (a TransitionStudy): per run in order of
    its warmup end, its checkpoints, warmup end, error autocorrelation, checkpoints at the fit's
    bound and scatter warning, then each transition with its 95% interval, its distance from the
    warmup end in steps and tokens, its place in the schedule and slopes (weak kinks flagged);
    then the notes on widened and run-wide intervals, the intervals' caveat and the warmup
    regression. ``notes``: end with the 'note: ...' lines on checkpoints left out (the command
    prints those on stderr instead). The study's ``label`` names the statistic and its ``stat``
    picks the steadier scale a scatter warning suggests (both from ``stat_trajectory``)."""
    from scalefit.scaling.trajectories.ar1 import rho_text
    from scalefit.scaling.trajectories.table import bound_words
    from scalefit.scaling.trajectories.transitions import (SLOPE_UNIT, WEAK_WIDE_NOTE, WIDENED_NOTE,
                                                           floored_mark, interval_caveat, rho_bound_text,
                                                           scatter_warning)

    summary, found, regression = study.runs, study.transitions, study.regression
    constant, stat = constant_runs(study.trajectory), study.stat
    lines = [f"Transitions in {study.label} against log10(step); slopes: {SLOPE_UNIT}"]
    for _, run in summary.sort_values(["warmup_end", "model"]).iterrows():
        rows = found[found["model"] == run["model"]]
        warmup = (f"{steps_text(run['warmup_end'])} ({run['schedule_source']})" if np.isfinite(run["warmup_end"])
                  else f"{run['schedule_source']}")
        head = f"  {run['model']}: {checkpoints_text(int(run['n_points']))} after step 0, warmup end {warmup}"
        if run["model"] in constant:  # no scatter: no autocorrelation measured (error_rho nan)
            head += f", the statistic is constant ({constant[run['model']]:g} at every checkpoint)"
        elif np.isfinite(run.get("error_rho", np.nan)):
            head += f", error autocorrelation {rho_text(run['error_rho'])}{rho_bound_text(run)}"
        head += _bound_text(run, study.at_bound)
        if warning := scatter_warning(run, stat):  # a few checkpoints hold the fit's scatter: the errors' model fails
            head += f"; {warning}"
        if rows.empty:
            lines.append(head + ": no transition" + (f" ({run['note']})" if "note" in run and
                                                      isinstance(run.get("note"), str) else ""))
            continue
        lines.append(head)
        for _, tr in rows.iterrows():
            tokens = tr["tokens_after_warmup"]
            tokens_txt = f", {tokens:+.3g} tokens" if np.isfinite(tokens) else ""
            ci = (f"[95% CI {tr['step_ci95_lo']:.0f}, {tr['step_ci95_hi']:.0f}]"
                  + (WIDENED_MARK if tr["ci_widened"] else "")
                  if np.isfinite(tr["step_ci95_lo"]) else "(no interval: --bootstrap 0)")
            place = (f"{tr['steps_after_warmup']:+.0f} steps from warmup end{tokens_txt}; "
                     if np.isfinite(tr["steps_after_warmup"]) else "")
            weak = (f" (weak kink: slope change {tr['slope_change_t']:.1f} standard errors, may be "
                    "noise" + ("; interval spans most of the run" if spans_run(tr) else "") + ")"
                    if tr["weak_kink"] else "")
            lines.append(f"    step {tr['step']:.0f} {ci}  {place}{tr['schedule_phase']}; "
                         f"slope {tr['slope_before']:+.3g} -> {tr['slope_after']:+.3g}{weak}")
    for record in study.at_bound:  # every checkpoint at the bound: no run left to search
        if record["model"] not in set(summary["model"]):
            lines.append(f"  {record['model']}: every checkpoint ({record['n_checkpoints']}) has "
                         f"{bound_words(record['stat'], record['side'])}, from step "
                         f"{record['first_step_at_bound']}: not searched")
    if found["ci_widened"].any():
        lines.append(f"{WIDENED_MARK} widened interval: {WIDENED_NOTE}")
    if len(found) and found.apply(spans_run, axis=1).any():
        lines.append(WEAK_WIDE_NOTE)
    if len(found) and study.n_bootstrap:  # --bootstrap 0: no interval to say anything about
        lines.append(interval_caveat(study.interval_method, study.n_bootstrap))
    if regression is not None:
        family = study.regression_runs
        without = sorted(set(family) - set(study.picked["model"]))
        value, lo, hi = slope_text(regression)
        lines.append(f"Warmup regression over the {regression.n_points} of {len(family)} runs that differ "
                     f"only in warmup with a transition ({', '.join(family)}"
                     + (f"; none in {', '.join(without)}" if without else "") + f"): slope {value} "
                     f"(95% CI {lo} .. {hi}{floored_mark(regression)}; {regression.extra['interval']}): "
                     f"{regression.extra['verdict']}")
        if study.pick_warning:  # the picks are unlike: the slope mixes different transitions
            lines.append(study.pick_warning)
    else:
        lines.append(f"Warmup regression: not run ({study.note})")
    if notes:
        lines += [f"note: {n}" for n in dict.fromkeys(study.notes)]
    return lines


def _bound_text(run, at_bound: list[dict]) -> str:
    """'; 22 more have nu at its cap 10000 (Gaussian as far as the fit can tell) from step 318,
    left out' for a run whose shape statistic reached its fit's bound: the finding the search no
    longer sees; '' otherwise (and where the run's note already says it)."""
    from scalefit.scaling.trajectories.table import bound_record
    from scalefit.scaling.trajectories.transitions import MIN_POINTS_PER_RUN, left_out_at_bound
    record = bound_record(at_bound, run["model"])
    if record is None or run["n_points"] < MIN_POINTS_PER_RUN:  # its note says it
        return ""
    return f"; {left_out_at_bound(record)}"


def slope_text(regression) -> tuple[str, str, str]:
    """The warmup regression's slope and its 95% interval's ends, to the interval's precision
    (the text and report.md printed '1.033 (95% CI 0.859 .. 1.206)' to 3 decimals whatever the
    interval's width)."""
    from scalefit.scaling.interval_text import estimate_and_ends
    s = regression.params["slope"]
    return estimate_and_ends(s.value, *s.ci95)


def spans_run(tr) -> bool:
    """A weak kink whose interval covers most of its run (transitions.MOST_OF_RUN)."""
    from scalefit.scaling.trajectories.transitions import MOST_OF_RUN
    return bool(tr["weak_kink"]) and tr["ci95_run_share"] >= MOST_OF_RUN


def write_transition_report(study, out_dir, stopped: str | None = None) -> str:
    """What `scalefit transitions --out DIR` writes of ``study`` (a TransitionStudy): report.md,
    transitions.csv, runs.csv, trajectory.csv (the study's trajectory) and the figures, moved into
    ``out_dir`` together (outputs.write_report_folder). ``stopped``: the line of an interrupted
    run, which then heads the report (that holds only the runs finished) and leaves an earlier
    report in ``out_dir`` as it was. Returns write_report_folder's end of that line."""
    return write_report_folder(out_dir, lambda out: _write_files(out, study, stopped), stopped)


def _write_files(out_dir, study, stopped: str | None = None) -> None:
    """report.md, the tables and the figures of a transition study, into ``out_dir`` as it is."""
    from scalefit.scaling.trajectories.plots import plot_transitions, plot_warmup_regression
    from scalefit.scaling.trajectories.transitions import (COLUMN_MEANINGS, RUN_MEANINGS, WEAK_WIDE_NOTE,
                                                           WIDENED_NOTE, floored_mark, interval_caveat,
                                                           interval_description, scatter_warning)

    found, summary, regression = study.transitions, study.runs, study.regression
    traj, label = study.trajectory, study.label
    if traj is None:
        raise ValueError("the study holds no trajectory (TransitionStudy.trajectory) to write")
    out = Path(out_dir)
    write_table(found, out / "transitions.csv")
    write_table(summary, out / "runs.csv")
    write_table(traj, out / "trajectory.csv")
    save_figure(plot_transitions(traj, found, label), out, "transitions")
    lines = [f"# Transitions in {label}", "",
             *interrupted_lines(stopped),
             "Change points against log10(step): continuous piecewise-linear fits, the number "
             "chosen by BIC and kept only when it beats a smooth polynomial of the same size. "
             "The errors of consecutive checkpoints are taken as AR(1), each fit with its own "
             "REML autocorrelation (`error_rho` in runs.csv); "
             + (f"95% intervals by a sieve bootstrap that draws rho from its likelihood ({study.interval_method})."
                if study.n_bootstrap else "no intervals (--bootstrap 0)."), "",
             *([interval_caveat(study.interval_method, study.n_bootstrap), ""] if study.n_bootstrap
               else ["No breakpoint intervals: --bootstrap 0.", ""]),
             *left_out_lines(study.notes),  # the trajectory's notes and the runs' left out
             "![transitions](transitions.png)", "",
             markdown_table(found) if len(found) else "No transition found in any run.", ""]
    if found["ci_widened"].any():
        lines += [f"`ci_widened` true ({int(found['ci_widened'].sum())} of {len(found)}): "
                  f"{WIDENED_NOTE}", ""]
    if len(found) and found.apply(spans_run, axis=1).any():
        lines += [WEAK_WIDE_NOTE, ""]
    warned = [f"- {run['model']}: {warning}" for _, run in summary.iterrows()
              if (warning := scatter_warning(run, study.stat))]  # as the terminal warns
    if warned:
        lines += [*warned, ""]
    if regression is not None:
        save_figure(plot_warmup_regression(study.picked, regression), out, "warmup_regression")
        value, lo, hi = slope_text(regression)
        lines += ["## Transition step against warmup end", "",
                  f"Slope {value} (95% CI {lo} to {hi}{floored_mark(regression)}, "
                  f"{regression.n_points} runs; {regression.extra['interval']}): "
                  f"{regression.extra['verdict']}.", "",
                  *([study.pick_warning, ""] if study.pick_warning else []),
                  "![warmup regression](warmup_regression.png)", ""]
    else:
        lines += [f"Warmup regression not run: {study.note}", ""]
    # step_ci95_lo/hi: the draws' central interval_level(method) percent read as a 95% interval
    words = (interval_description(study.interval_method, study.n_bootstrap) if study.n_bootstrap else
             "95% interval, empty here (--bootstrap 0)")
    lines += [*files_section({"transitions.csv": list(found.columns), "runs.csv": list(summary.columns)},
                             meanings={**COLUMN_MEANINGS, **RUN_MEANINGS}, interval_words=words), ""]
    write_text(out, "report.md", "\n".join(lines))

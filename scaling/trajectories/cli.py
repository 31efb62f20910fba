"""`scalefit transitions`, `scalefit trajectory` and `scalefit warmup-study`: weight-statistic
trajectories against the LR schedule and the loss."""
from __future__ import annotations

from pathlib import Path

import click
import numpy as np
import pandas as pd

from scalefit.data import MINI_CHECKPOINTS, data_path
from scalefit.folder_settings import one_setting_per_folder
from scalefit.options import (BOOTSTRAP, CHECKPOINT_TABLE, LOSS_FLOOR, NONNEGATIVE, POSITIVE, POSITIVE_INT,
                              analysis_options, seed_option)
from scalefit.report import dumps, markdown_table, save_figure, write_text
from scalefit.schema import checkpoints_text
from scalefit.scaling.trajectories.breakpoint_intervals import (CALIBRATION_RESAMPLES, FEW_RESAMPLES_COVERAGE,
                                                                INTERVAL_COVERAGE, INTERVAL_METHOD,
                                                                INTERVAL_METHODS, interval_level)
from scalefit.signals import exit_interrupted, keeping_finished
from scalefit.scaling.flags import command_words
from scalefit.scaling.outputs import files_section, interrupted_lines, write_report_folder
from scalefit.scaling.trajectories.table import left_out_lines
from scalefit.tables import read_table, read_table_or_shipped, write_table

# The shipped mini-suite checkpoint table: evaluation and weight-statistic rows, long form.
DEFAULT_CHECKPOINT_TABLE = MINI_CHECKPOINTS


def _load(data_path_arg: str | None) -> tuple[pd.DataFrame, str]:
    return read_table_or_shipped(data_path_arg, data_path(*DEFAULT_CHECKPOINT_TABLE),
                                 "the shipped suite table is missing; pass --data TABLE (a table "
                                 "from `scalefit eval --weights` or `scalefit weights`)")


def _echo_notes(table: pd.DataFrame) -> None:
    """Say on stderr what the table reader left out (duplicated or non-finite checkpoints)."""
    for note in table.attrs.get("notes", []):
        click.echo(f"note: {note}", err=True)


selection_options = [
    click.option("--stat", required=True, help="Statistic name in the table, e.g. t_nu (Student-t nu), "
                 "t_xi (1/t_nu, the Student-t tail index: 0 = Gaussian; derived from t_nu, no "
                 "checkpoint at nu's cap left out), excess_kurtosis, alpha (spectral), stable_rank, "
                 "gennorm_beta."),
    click.option("--group", default=None, help="Tensor group, e.g. mlp_in, attn_qkv."),
    click.option("--tensor", default=None, help="One tensor by name instead of a group."),
    click.option("--layer", default=None, help="One layer index (-1: the group's pooled row, all "
                 "layers' weights together, where the table has one)."),
    click.option("--models", default=None, help="Comma-separated models to keep (default: all)."),
    click.option("--losses", "losses_path", type=click.Path(dir_okay=False), default=None,
                 help="Separate evaluation table, if losses are not in --data."),
]


def _with_selection(func):
    for option in reversed(selection_options):
        func = option(func)
    return func


@click.command("transitions")
@_with_selection
@click.option("--warmup-steps", type=NONNEGATIVE, default=None,
              help="Warmup length in steps (default: table columns, else inferred from lr).")
@click.option("--total-steps", type=POSITIVE, default=None, help="Schedule length in steps.")
@click.option("--max-breakpoints", type=click.IntRange(1, 4), default=3, show_default=True,
              help="Most transitions searched for in one run (1-4); BIC picks how many are real.")
@click.option("--min-delta-bic", type=NONNEGATIVE, default=6.0, show_default=True,
              help="BIC margin a segmented fit must win by, over a line and a smooth polynomial.")
@click.option("--bootstrap", "n_bootstrap", type=BOOTSTRAP, default=200, show_default=True,
              help="Sieve-bootstrap resamples (AR(1) errors, rho drawn from its likelihood) "
                   "for each transition's interval; local-strong's calibrated level was chosen "
                   f"with {CALIBRATION_RESAMPLES}, and fewer cover less (50: {FEW_RESAMPLES_COVERAGE} "
                   "of clear kinks).")
@click.option("--interval-method", type=click.Choice(INTERVAL_METHODS), default=INTERVAL_METHOD,
              show_default=True,
              help="How each transition's interval resamples: local-strong (shipped) keeps the "
                   "breakpoint and the run's strong ones and treats weak ones as noise, so a run "
                   "whose breakpoints are all weak gets intervals of most of the run; fixed refits "
                   "every breakpoint the search chose. Measured coverage (bench/README.md): "
                   + "; ".join(f"{m} (the resamples' central {interval_level(m):g}%) held a clear "
                               f"kink in {clear} of synthetic runs, a weak one in {weak}"
                               for m, (clear, weak) in INTERVAL_COVERAGE.items()) + ".")
@click.option("--which", type=click.Choice(["largest", "first"]), default="largest",
              show_default=True, help="Which transition of a run enters the warmup regression.")
@seed_option
@analysis_options(table=CHECKPOINT_TABLE)
@one_setting_per_folder
@command_words
def transitions(stat, group, tensor, layer, models, losses_path, warmup_steps, total_steps,
                max_breakpoints, min_delta_bic, n_bootstrap, interval_method, which, seed,
                data_path, out_dir, as_json):
    """Find transitions in a weight statistic and place them against the LR schedule.

    Change points of STAT against log(step) per run (segmented fits with AR(1) errors between
    consecutive checkpoints, number chosen by BIC, 95% bootstrap intervals), their distance to
    the warmup end in steps and tokens, and across runs with different warmups the regression of
    transition step on warmup end.
    """
    from scalefit.scaling.trajectories.table import stat_label, stat_trajectory
    from scalefit.scaling.trajectories.transitions import transition_study

    df, source = _load(data_path)
    losses = read_table(losses_path) if losses_path else None
    traj = stat_trajectory(df, stat, group=group, tensor=tensor, layer=layer, models=models,
                           losses=losses, source=source, losses_source=losses_path)
    _echo_notes(traj)
    study, stopped = keeping_finished(lambda: transition_study(  # no regression if stopped
        traj, which=which, warmup_steps=warmup_steps, total_steps=total_steps,
        max_breakpoints=max_breakpoints, min_delta_bic=min_delta_bic, n_bootstrap=n_bootstrap,
        seed=seed, progress=True, interval_method=interval_method))
    label = stat_label(stat, group, tensor, layer)
    written = write_report_folder(
        out_dir, lambda out: _write_transition_report(out, label, traj, study, stopped, stat), stopped)
    if as_json:
        click.echo(dumps({"stat": label, "data": source, **study.to_dict(),
                          **({"interrupted": stopped} if stopped else {})}))
    else:
        _print_transitions(label, study, _constant_runs(traj), stat)
    if stopped:
        exit_interrupted(stopped + written)


WIDENED_MARK = "*"  # after a breakpoint interval the bootstrap did not centre on its estimate


def _steps_text(step: float) -> str:
    """A warmup end as a step: whole where it is one to inference precision (9.9998 from an lr
    column is 10), else to one decimal (a --warmup-steps 10.5 is not printed as 10)."""
    whole = round(step)
    return f"{whole:.0f}" if abs(step - whole) < max(0.01, 1e-4 * abs(step)) else f"{step:.1f}"


def _constant_runs(traj: pd.DataFrame) -> dict:
    """{model: its value} for each run whose statistic is one number at every checkpoint after
    step 0 (what the fits read), two or more of them: no scatter, so no autocorrelation to print
    (one checkpoint is not a constant)."""
    after = traj[traj["step"] > 0]
    spans = after.groupby("model")["value"].agg(["min", "max", "count"])
    return {m: r["min"] for m, r in spans.iterrows() if r["min"] == r["max"] and r["count"] > 1}


def _print_transitions(label, study, constant: dict | None = None, stat: str | None = None):
    from scalefit.scaling.trajectories.ar1 import rho_text
    from scalefit.scaling.trajectories.table import bound_words
    from scalefit.scaling.trajectories.transitions import (SLOPE_UNIT, WEAK_WIDE_NOTE, WIDENED_NOTE,
                                                           interval_caveat, rho_bound_text, scatter_warning)

    summary, found, regression = study.runs, study.transitions, study.regression
    click.echo(f"Transitions in {label} against log10(step); slopes: {SLOPE_UNIT}")
    for _, run in summary.sort_values(["warmup_end", "model"]).iterrows():
        rows = found[found["model"] == run["model"]]
        warmup = (f"{_steps_text(run['warmup_end'])} ({run['schedule_source']})" if np.isfinite(run["warmup_end"])
                  else f"{run['schedule_source']}")
        head = f"  {run['model']}: {checkpoints_text(int(run['n_points']))} after step 0, warmup end {warmup}"
        if run["model"] in (constant or {}):  # no scatter: no autocorrelation measured (error_rho nan)
            head += f", the statistic is constant ({constant[run['model']]:g} at every checkpoint)"
        elif np.isfinite(run.get("error_rho", np.nan)):
            head += f", error autocorrelation {rho_text(run['error_rho'])}{rho_bound_text(run)}"
        head += _bound_text(run, study.at_bound)
        if warning := scatter_warning(run, stat):  # a few checkpoints hold the fit's scatter: the errors' model fails
            head += f"; {warning}"
        if rows.empty:
            click.echo(head + ": no transition" + (f" ({run['note']})" if "note" in run and
                                                    isinstance(run.get("note"), str) else ""))
            continue
        click.echo(head)
        for _, tr in rows.iterrows():
            tokens = tr["tokens_after_warmup"]
            tokens_txt = f", {tokens:+.3g} tokens" if np.isfinite(tokens) else ""
            ci = (f"[95% CI {tr['step_ci95_lo']:.0f}, {tr['step_ci95_hi']:.0f}]"
                  + (WIDENED_MARK if tr["ci_widened"] else "")
                  if np.isfinite(tr["step_ci95_lo"]) else "(no interval: --bootstrap 0)")
            place = (f"{tr['steps_after_warmup']:+.0f} steps from warmup end{tokens_txt}; "
                     if np.isfinite(tr["steps_after_warmup"]) else "")
            weak = (f" (weak kink: slope change {tr['slope_change_t']:.1f} standard errors, may be "
                    "noise" + ("; interval spans most of the run" if _spans_run(tr) else "") + ")"
                    if tr["weak_kink"] else "")
            click.echo(f"    step {tr['step']:.0f} {ci}  {place}{tr['schedule_phase']}; "
                       f"slope {tr['slope_before']:+.3g} -> {tr['slope_after']:+.3g}{weak}")
    for record in study.at_bound:  # every checkpoint at the bound: no run left to search
        if record["model"] not in set(summary["model"]):
            click.echo(f"  {record['model']}: every checkpoint ({record['n_checkpoints']}) has "
                       f"{bound_words(record['stat'], record['side'])}, from step "
                       f"{record['first_step_at_bound']}: not searched")
    if found["ci_widened"].any():
        click.echo(f"{WIDENED_MARK} widened interval: {WIDENED_NOTE}")
    if len(found) and found.apply(_spans_run, axis=1).any():
        click.echo(WEAK_WIDE_NOTE)
    if len(found) and study.n_bootstrap:  # --bootstrap 0: no interval to say anything about
        click.echo(interval_caveat(study.interval_method, study.n_bootstrap))
    if regression is not None:
        family = study.regression_runs
        without = sorted(set(family) - set(study.picked["model"]))
        value, lo, hi = _slope_text(regression)
        click.echo(f"Warmup regression over the {regression.n_points} of {len(family)} runs that differ "
                   f"only in warmup with a transition ({', '.join(family)}"
                   + (f"; none in {', '.join(without)}" if without else "") + f"): slope {value} "
                   f"(95% CI {lo} .. {hi}; {regression.extra['interval']}): "
                   f"{regression.extra['verdict']}")
    else:
        click.echo(f"Warmup regression: not run ({study.note})")


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


def _slope_text(regression) -> tuple[str, str, str]:
    """The warmup regression's slope and its 95% interval's ends, to the interval's precision
    (the text and report.md printed '1.033 (95% CI 0.859 .. 1.206)' to 3 decimals whatever the
    interval's width)."""
    from scalefit.scaling.interval_text import estimate_and_ends
    s = regression.params["slope"]
    return estimate_and_ends(s.value, *s.ci95)


def _spans_run(tr) -> bool:
    """A weak kink whose interval covers most of its run (transitions.MOST_OF_RUN)."""
    from scalefit.scaling.trajectories.transitions import MOST_OF_RUN
    return bool(tr["weak_kink"]) and tr["ci95_run_share"] >= MOST_OF_RUN


def _write_transition_report(out_dir, label, traj, study, stopped: str | None = None,
                             stat: str | None = None):
    """report.md, the tables and the figures of a transition study; ``stopped`` (the line of an
    interrupted run) heads the report, which then holds only the runs finished. ``stat``: the
    statistic's name, for the steadier scale a run's scatter warning suggests."""
    from scalefit.scaling.trajectories.plots import plot_transitions, plot_warmup_regression
    from scalefit.scaling.trajectories.transitions import (COLUMN_MEANINGS, RUN_MEANINGS, WEAK_WIDE_NOTE,
                                                           WIDENED_NOTE, interval_caveat, interval_description,
                                                           scatter_warning)

    found, summary, regression = study.transitions, study.runs, study.regression
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
             *left_out_lines(list(traj.attrs.get("notes", [])) + list(study.notes)),
             "![transitions](transitions.png)", "",
             markdown_table(found) if len(found) else "No transition found in any run.", ""]
    if found["ci_widened"].any():
        lines += [f"`ci_widened` true ({int(found['ci_widened'].sum())} of {len(found)}): "
                  f"{WIDENED_NOTE}", ""]
    if len(found) and found.apply(_spans_run, axis=1).any():
        lines += [WEAK_WIDE_NOTE, ""]
    warned = [f"- {run['model']}: {warning}" for _, run in summary.iterrows()
              if (warning := scatter_warning(run, stat))]  # as the terminal warns
    if warned:
        lines += [*warned, ""]
    if regression is not None:
        save_figure(plot_warmup_regression(study.picked, regression), out, "warmup_regression")
        value, lo, hi = _slope_text(regression)
        lines += ["## Transition step against warmup end", "",
                  f"Slope {value} (95% CI {lo} to {hi}, "
                  f"{regression.n_points} runs; {regression.extra['interval']}): "
                  f"{regression.extra['verdict']}.", "",
                  "![warmup regression](warmup_regression.png)", ""]
    else:
        lines += [f"Warmup regression not run: {study.note}", ""]
    # step_ci95_lo/hi: the draws' central interval_level(method) percent read as a 95% interval
    words = (interval_description(study.interval_method, study.n_bootstrap) if study.n_bootstrap else
             "95% interval, empty here (--bootstrap 0)")
    lines += [*files_section({"transitions.csv": list(found.columns), "runs.csv": list(summary.columns)},
                             meanings={**COLUMN_MEANINGS, **RUN_MEANINGS}, interval_words=words), ""]
    write_text(out, "report.md", "\n".join(lines))


@click.command("trajectory")
@_with_selection
@click.option("--loss-dataset", default=None,
              help="Dataset whose loss is the x axis (default: the training distribution).")
@click.option("--E", "E_fixed", type=LOSS_FLOOR, default=None,
              help="Fix the irreducible loss E of the power law: 0 <= E < the smallest loss "
                   "(default: fitted in that range; a fit that ends at 0 says so).")
@analysis_options(table=CHECKPOINT_TABLE)
@one_setting_per_folder
@command_words
def trajectory(stat, group, tensor, layer, models, losses_path, loss_dataset, E_fixed, data_path,
               out_dir, as_json):
    """Fit a weight statistic against the loss, per model and pooled over sizes.

    Reports the power law value = v0 + c (L - E)^p per model and pooled, how well sizes
    collapse onto one curve (an F-test of one curve against one per run under AR(1) errors,
    its p calibrated on simulated null data), and the correlation with loss after removing
    what step and learning rate explain.
    """
    from scalefit.scaling.trajectories.trajectory import trajectory_report

    df, source = _load(data_path)
    losses = read_table(losses_path) if losses_path else None
    report = trajectory_report(df, stat, group=group, tensor=tensor, layer=layer,
                               dataset=loss_dataset, models=models, losses=losses, E=E_fixed,
                               source=source, losses_source=losses_path)
    _echo_notes(report.joined)
    if out_dir:
        report.write(out_dir)
    if as_json:
        click.echo(dumps(report.to_dict()))
        return
    click.echo(report.markdown(notes=False))  # the notes went to stderr


@click.command("warmup-study")
@click.option("--panel", "panels", multiple=True, metavar="STAT/GROUP",
              help="A statistic and tensor group to study (repeatable; default: every panel of "
                   "the mini-suite report, t_nu/attn_out, sv_max/mlp_in, ...); STAT may be t_xi "
                   "(1/t_nu, derived from t_nu).")
@click.option("--bootstrap", "n_bootstrap", type=BOOTSTRAP, default=200,
              show_default=True,
              help="Sieve-bootstrap resamples for each transition's interval (the resamples' central "
                   f"{interval_level(INTERVAL_METHOD):g}%, a level chosen with {CALIBRATION_RESAMPLES}; "
                   "fewer cover less).")
@seed_option
@click.option("--jobs", type=POSITIVE_INT, default=None,
              help="Worker processes that study statistics side by side (default: the CPU count; "
                   "1: one after another in this process). Same rows either way.")
@analysis_options(table=CHECKPOINT_TABLE)
@one_setting_per_folder(ignore=("jobs",))  # --jobs changes the speed, not the rows
def warmup_study_command(panels, n_bootstrap, seed, jobs, data_path, out_dir, as_json):
    """Which weight statistics move with warmup: one row per statistic.

    \b
    For each STAT/GROUP: the transitions of every run in the largest family of warmup variants
    (runs that differ only in warmup), and the regression of the first transition (the onset)
    and of the largest slope change on the warmup end. Ctrl-C keeps the statistics finished
    (printed and written to --out, exit status 130).
    Example:
      scalefit warmup-study --out report/     (the shipped mini suite; writes
                                               warmup_transitions.csv and report.md)
    """
    from scalefit.scaling.trajectories.warmup_study import (PANELS, bound_notes, dash_notes, left_out_panel_notes,
                                                            markdown, panel, scatter_notes, slope_caption,
                                                            warmup_study)
    from scalefit.scaling.trajectories.transitions import WEAK_KINK_T

    df, source = _load(data_path)
    chosen = [panel(p) for p in panels] or PANELS
    study, stopped = keeping_finished(lambda: warmup_study(
        df, chosen, n_bootstrap=n_bootstrap, seed=seed, progress=True, source=source, jobs=jobs))
    _echo_notes(study)
    dashes = dash_notes(study) + bound_notes(study) + scatter_notes(study) + left_out_panel_notes(study)
    table = "\n".join([markdown(study), *(["", *dashes] if dashes else [])])
    # what a cell 'slope [low, high]' is, above the table on stdout as in report.md
    caption = (f"{slope_caption(n_bootstrap)}; bold: follows warmup; (n weak): n of those runs' "
               f"transitions change slope by under {WEAK_KINK_T:g} standard errors and may be noise. "
               f"{n_bootstrap} bootstrap resamples per run"
               + (f"; each transition's interval is their central {interval_level(INTERVAL_METHOD):g}%, "
                  "a level calibrated on synthetic runs." if n_bootstrap else "."))

    def write(out):  # the table, the figure and report.md
        from scalefit.scaling.trajectories.plots import plot_warmup_study
        write_table(study, out / "warmup_transitions.csv")
        save_figure(plot_warmup_study(study), out, "warmup_study")
        write_text(out, "report.md", "\n".join([
            "# Transitions against warmup", "",
            f"Data: {source}. {caption}",
            "", *interrupted_lines(stopped),
            *left_out_lines(study.attrs.get("notes", [])),
            "![slopes](warmup_study.png)", "", table, ""]))

    written = write_report_folder(out_dir, write, stopped)
    if as_json:
        click.echo(dumps({"data": source, "rows": study.to_dict("records"),
                          "notes": list(dict.fromkeys([*study.attrs.get("notes", []), *dashes])),
                          **({"interrupted": stopped} if stopped else {})}))
    else:
        click.echo(f"{caption}\n\n{table}")
    if stopped:
        exit_interrupted(stopped + written)

"""`scalefit transitions`, `scalefit trajectory` and `scalefit warmup-study`: weight-statistic
trajectories against the LR schedule and the loss."""
from __future__ import annotations

import click
import pandas as pd

from scalefit.data import MINI_CHECKPOINTS, data_path
from scalefit.folder_settings import one_setting_per_folder
from scalefit.options import (BOOTSTRAP, CHECKPOINT_TABLE, LOSS_FLOOR, NONNEGATIVE, POSITIVE, POSITIVE_INT,
                              Checked, analysis_options, seed_option)
from scalefit.report import dumps, save_figure, write_text
from scalefit.schema import GROUP_RULE
from scalefit.scaling.trajectories.breakpoint_intervals import (CALIBRATION_RESAMPLES, FEW_RESAMPLES_COVERAGE,
                                                                INTERVAL_COVERAGE, INTERVAL_METHOD,
                                                                INTERVAL_METHODS, interval_level)
from scalefit.signals import deferring_signals, exit_interrupted, keeping_finished
from scalefit.scaling.flags import command_words
from scalefit.scaling.outputs import interrupted_lines, write_report_folder
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
    click.option("--layer", default=None, help="One layer index (-1: the group's row, where the table "
                 "has one. " + GROUP_RULE.replace("`", "'") + " A tensor outside the blocks, e.g. the "
                 "final layer norm, also at layer -1, is named by --tensor)."),
    click.option("--models", default=None, help="Comma-separated models to keep (default: all)."),
    click.option("--losses", "losses_path", type=click.Path(dir_okay=False), default=None,
                 help="Separate evaluation table, if losses are not in --data."),
]


def _with_selection(func):
    for option in reversed(selection_options):
        func = option(func)
    return func


def _checked_pick(value, option):
    """--which as transitions.checked_pick reads it (imported when the option is read)."""
    from scalefit.scaling.trajectories.transitions import checked_pick
    return checked_pick(value, option)


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
@click.option("--which", type=Checked(lambda option, value: _checked_pick(value, option), "PICK"),
              default="largest", show_default=True, metavar="largest|first|matched|N",
              help="Which transition of a run enters the warmup regression: largest (its largest "
                   "slope change, either sign), first (its first in time), matched (its largest "
                   "slope change of the sign that most runs' largest change has; a tie: the sign "
                   "of the largest change of all; a run with no change of that sign is left out), "
                   "or N (its N-th transition in time, 1-based; a run with fewer is left out). "
                   "Where the picks are unlike (weak and strong kinks, both signs of slope change, "
                   "different places in runs with as many transitions) a warning names each "
                   "run's pick.")
@seed_option
@analysis_options(table=CHECKPOINT_TABLE)
@one_setting_per_folder
@command_words
@deferring_signals()  # a stop once the work is finished waits until it is printed and written
def transitions(stat, group, tensor, layer, models, losses_path, warmup_steps, total_steps,
                max_breakpoints, min_delta_bic, n_bootstrap, interval_method, which, seed,
                data_path, out_dir, as_json):
    """Find transitions in a weight statistic and place them against the LR schedule.

    Change points of STAT against log(step) per run (segmented fits with AR(1) errors between
    consecutive checkpoints, number chosen by BIC, 95% bootstrap intervals), their distance to
    the warmup end in steps and tokens, and across runs with different warmups the regression of
    transition step on warmup end.
    """
    from scalefit.scaling.trajectories.table import stat_trajectory
    from scalefit.scaling.trajectories.transitions import transition_study

    df, source = _load(data_path)
    losses = read_table(losses_path) if losses_path else None
    traj = stat_trajectory(df, stat, group=group, tensor=tensor, layer=layer, models=models,
                           losses=losses, source=source, losses_source=losses_path)
    _echo_notes(traj)
    study, stopped = keeping_finished(lambda: transition_study(  # no regression if stopped
        traj, which=which, warmup_steps=warmup_steps, total_steps=total_steps,
        max_breakpoints=max_breakpoints, min_delta_bic=min_delta_bic, n_bootstrap=n_bootstrap,
        seed=seed, progress=True, interval_method=interval_method))  # label, stat: traj's selection
    written = study.write(out_dir, stopped)  # '' without --out
    if as_json:
        click.echo(dumps({"stat": study.label, "data": source, **study.to_dict(),
                          **({"interrupted": stopped} if stopped else {})}))
    else:
        click.echo("\n".join(study.lines(notes=False)))  # the notes went to stderr
    if stopped:
        exit_interrupted(stopped + written)


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
    what step and learning rate explain. The pooled formula is printed from its point estimates
    (3 significant figures; where the data fix none of its parameters, the line says so first), the
    per-model table to the place of each 95% interval's ends; --json holds the intervals and, in
    params_at_bound, the parameters that ended on a bound of the fit.
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
@deferring_signals()  # a stop once the work is finished waits until it is printed and written
def warmup_study_command(panels, n_bootstrap, seed, jobs, data_path, out_dir, as_json):
    """Which weight statistics move with warmup: one row per statistic.

    \b
    For each STAT/GROUP: the transitions of every run in the largest family of warmup variants
    (runs that differ only in warmup), and the regression on the warmup end of the first
    transition (the onset), of the largest slope change and of the matched change (the largest
    of the sign most runs' largest has: transitions --which matched). '(unlike)' marks a slope
    whose runs' picks may be different transitions (the notes say why), '(floored)' an interval
    that is the Hartung-Knapp floor's alone. Ctrl-C keeps the statistics finished
    (printed and written to --out, exit status 130); after the last it waits until all are
    printed and written.
    Example:
      scalefit warmup-study --out report/     (the shipped mini suite; writes
                                               warmup_transitions.csv and report.md)
    """
    from scalefit.scaling.trajectories.warmup_study import (PANELS, bound_notes, dash_notes, left_out_panel_notes,
                                                            markdown, panel, pick_notes, scatter_notes,
                                                            slope_caption, warmup_study)
    from scalefit.scaling.trajectories.transitions import WEAK_KINK_T, few_resamples_caveat

    df, source = _load(data_path)
    chosen = [panel(p) for p in panels] or PANELS
    study, stopped = keeping_finished(lambda: warmup_study(
        df, chosen, n_bootstrap=n_bootstrap, seed=seed, progress=True, source=source,
        jobs=jobs))  # no --jobs: None, one worker per CPU (the Python function's default is 1, serial)
    _echo_notes(study)
    dashes = (dash_notes(study) + pick_notes(study) + bound_notes(study) + scatter_notes(study)
              + left_out_panel_notes(study))
    table = "\n".join([markdown(study), *(["", *dashes] if dashes else [])])
    # what a cell 'slope [low, high]' is, above the table on stdout as in report.md
    caption = (f"{slope_caption(n_bootstrap)}; bold: follows warmup; (n weak): n of those runs' "
               f"transitions change slope by under {WEAK_KINK_T:g} standard errors and may be noise. "
               f"{n_bootstrap} bootstrap resamples per run"
               + (f"; each transition's interval is their central {interval_level(INTERVAL_METHOD):g}%, "
                  "a level calibrated on synthetic runs." if n_bootstrap else ".")
               + "".join(f" {few}" for few in [few_resamples_caveat(INTERVAL_METHOD, n_bootstrap)] if few))

    def write(out):  # the table, the figure and report.md
        from scalefit.scaling.outputs import files_section
        from scalefit.scaling.trajectories.plots import plot_warmup_study
        from scalefit.scaling.trajectories.warmup_study import STUDY_COLUMNS
        write_table(study, out / "warmup_transitions.csv")
        save_figure(plot_warmup_study(study), out, "warmup_study")
        write_text(out, "report.md", "\n".join([
            "# Transitions against warmup", "",
            f"Data: {source}. {caption}",
            "", *interrupted_lines(stopped),
            *left_out_lines(study.attrs.get("notes", [])),
            "![slopes](warmup_study.png)", "", table, "",
            *files_section({"warmup_transitions.csv": list(study.columns)}, meanings=STUDY_COLUMNS), ""]))

    written = write_report_folder(out_dir, write, stopped)
    if as_json:
        click.echo(dumps({"data": source, "rows": study.to_dict("records"),
                          "notes": list(dict.fromkeys([*study.attrs.get("notes", []), *dashes])),
                          **({"interrupted": stopped} if stopped else {})}))
    else:
        click.echo(f"{caption}\n\n{table}")
    if stopped:
        exit_interrupted(stopped + written)

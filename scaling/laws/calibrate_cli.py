"""`scalefit calibrate LAW`: leave-future-out coverage of a law's (or a relation's) 95% prediction
intervals and its error against the distance from the data (thin click shells over calibrate_law
and relations.calibrate.calibrate_relation; one report for both)."""
from __future__ import annotations

import click

from scalefit.errors import InputError
from scalefit.folder_settings import one_setting_per_folder
from scalefit.options import (POSITIVE_INT, Checked, NameChoice, analysis_options,
                              column_options, delta_option, positive_int, seed_option)
from scalefit.report import dumps
from scalefit.scaling.laws.calibrate_report import write_calibration_files, calibration_text
from scalefit.scaling.laws.registry import law_choices
from scalefit.scaling.outputs import checked_outputs
from scalefit.scaling.objective import HUBER_DELTA


RELATIONS = ("shifted-power", "sigmoid", "exponential-error")  # = relations.downstream.RELATIONS


def calibration_law_choices() -> list[str]:
    """The laws (and aliases) whose prediction is a loss, the only ones there is to check."""
    from scalefit.scaling.laws.registry import law_for
    return [name for name in law_choices() if law_for(name).predicts_loss]


def _resamples(option: str, value) -> int:
    """--bootstrap of calibrate: at least 2 (a prediction interval needs the law's draws)."""
    accepted = "a whole number >= 2 (the prediction intervals need the law's draws)"
    try:
        number = positive_int(option, value)
    except InputError:
        raise InputError(f"{option}: '{value}': expected {accepted}") from None
    if number < 2:
        raise InputError(f"{option}: '{value}': expected {accepted}")
    return number


RESAMPLES = Checked(_resamples, "integer")
CUTS_HELP = ("Compute cuts (a whole number >= 1; fewer where the runs allow fewer): fit below "
             "each, predict the runs at or above it.")


class CalibrateCommand(click.Command):
    """`scalefit calibrate LAW`, where a LAW that is a relation (shifted-power, sigmoid,
    exponential-error) hands the rest of the line to `calibrate_relation` (its options are
    `predict downstream`'s)."""

    def make_context(self, info_name, args, parent=None, **extra):
        if args and args[0] in RELATIONS:
            return calibrate_relation.make_context(info_name, list(args),
                                                   parent=parent, **extra)
        return super().make_context(info_name, args, parent=parent, **extra)

    def format_epilog(self, ctx, formatter):
        super().format_epilog(ctx, formatter)
        formatter.write_paragraph()
        formatter.write_text("LAW may also be a relation of one measurement to another: "
                             f"{', '.join(RELATIONS)} (see `scalefit calibrate sigmoid "
                             "--help`).")


@click.command("calibrate", cls=CalibrateCommand,
               epilog=f"LAW is one of: {', '.join(calibration_law_choices())}.")
@click.argument("law", metavar="LAW",
                type=NameChoice(calibration_law_choices(),
                                also={name: "a relation" for name in RELATIONS}))
@analysis_options
@click.option("--cuts", type=POSITIVE_INT, default=4, show_default=True, help=CUTS_HELP)
@click.option("--bootstrap", "n_bootstrap", type=RESAMPLES, default=200, show_default=True,
              help="Bootstrap resamples per fit (at least 2: the intervals need them).")
@seed_option
@delta_option(HUBER_DELTA)
@click.option("--loss", "loss_column", default="loss", show_default=True,
              help="Loss column of the run table.")
@click.option("--subset", multiple=True, metavar="COL=VALUE",
              help="Use only rows with COL equal to VALUE (repeatable).")
@column_options
@checked_outputs
@one_setting_per_folder
def calibrate(law, data_path, out_dir, as_json, cuts, n_bootstrap, seed, delta, loss_column,
              subset, params_column, tokens_column, flops_column, column_map):
    """Check a law's 95% prediction intervals on runs it did not see.

    \b
    For several compute cuts: fit LAW on the runs below the cut and predict every run at or
    above it (parameter draws + the runs' scatter). Reports the share of observed losses
    inside their intervals (95% if the intervals hold) and the error against the distance
    from the largest fitted run. Ctrl-C keeps the cuts finished (printed and written to --out,
    exit status 130); after the last cut it waits until all are printed and written.
    Example:
      scalefit calibrate chinchilla --data runs.csv --cuts 5 --out calib/
      scalefit calibrate chinchilla --data epoch.csv --columns 'params=Model Size,flops=Training FLOP'
    """
    from scalefit.scaling.laws.calibrate import calibrate_law
    from scalefit.scaling.laws.cli import _columns_and_loss, _load

    columns, loss_column = _columns_and_loss(loss_column, column_map, params=params_column,
                                             tokens=tokens_column, flops=flops_column)
    df, source, _ = _load(data_path, subset, columns)
    _emit(lambda: calibrate_law(df, law, cuts=cuts, n_bootstrap=n_bootstrap, seed=seed,
                                loss=loss_column, delta=delta, source=source, progress=True),
          out_dir, as_json)


def _emit(calibration, out_dir, as_json) -> None:
    """Run ``calibration()``, write its report to ``out_dir`` and print it. After Ctrl-C (or
    SIGTERM) once a cut was finished, the calibration of the finished cuts is printed and written
    (its report says so), unless ``out_dir`` already holds a report of these settings, which is
    left as it was; then the command exits 130 (143). One that comes once every cut is finished
    waits until the complete calibration is written and printed (signals.deferring_signals)."""
    from scalefit.scaling.outputs import write_report_folder
    from scalefit.signals import deferring_signals, exit_interrupted, keeping_finished

    with deferring_signals():
        result, stopped = keeping_finished(calibration)
        said = write_report_folder(out_dir, lambda out: write_calibration_files(out, result), stopped)
        if as_json:
            click.echo(dumps(result.to_dict()))
        else:
            click.echo(calibration_text(result))
        if stopped:
            exit_interrupted(stopped + said)


def _relation_command():
    """`scalefit calibrate RELATION` (the relation options are `predict downstream`'s)."""
    from scalefit.scaling.flags import command_words
    from scalefit.scaling.relations.cli import BOOTSTRAP_HELP, _load, read_targets, relation_options

    @click.command("calibrate")
    @click.argument("relation", type=click.Choice(RELATIONS))
    @analysis_options
    @relation_options
    @click.option("--cuts", type=POSITIVE_INT, default=4, show_default=True, help=CUTS_HELP)
    @click.option("--min-fit", type=POSITIVE_INT, default=None,
                  help="Pairs a fit needs below a cut (default: 3 per parameter; 15 with "
                       "E from Kaplan fits).")
    @click.option("--holdout-data", default=None, type=click.Path(dir_okay=False),
                  metavar="FILE", help="A table of target runs (e.g. models at 20x the "
                                       "compute) predicted at every cut as well.")
    @checked_outputs
    @one_setting_per_folder
    @command_words  # the relation layer names Python arguments ('match (--match)'); here the flags
    def command(relation, data_path, out_dir, as_json, x, y, pairing, x_from, y_from, group,
                match, e_source, E_x, E_y, method, n_bootstrap, seed, subset, cuts, min_fit,
                holdout_data):
        """Check a relation's 95% prediction intervals on runs it did not see.

        \b
        For several compute cuts: fit the relation of y on x (with E_x, E_y from Kaplan fits
        of the runs below the cut, for shifted-power) on the pairs below the cut and predict
        every pair at or above it, and any --holdout-data runs. Reports the share of observed
        values inside their 95% prediction intervals and the error against the distance from
        the largest fitted run. The options are `predict downstream`'s. Ctrl-C keeps the cuts
        finished (printed and written to --out, exit status 130); after the last cut it waits
        until all are printed and written.
        Examples:
          scalefit calibrate shifted-power --data sweep.csv --x val_loss --y val_loss \\
              --pair train-to-train --x-from fineweb-edu-100b --y-from starcoder \\
              --holdout-data extrapolation.csv
          scalefit calibrate sigmoid --data pythia_evals_core.csv \\
              --x lambada_openai:perplexity --y piqa:acc --subset eval_group=zero-shot
        """
        from scalefit.scaling.relations.calibrate import calibrate_relation
        specs = (x, y)
        frame, source, x, y, group, x_from, y_from, notes = _load(
            data_path, x, y, pairing, group, x_from, y_from, subset)
        targets = read_targets(holdout_data, specs, subset) if holdout_data else None
        def calibration():
            result = calibrate_relation(
                frame, x, y, relation, pairing=pairing, x_from=x_from, y_from=y_from, group=group,
                match=match, e_source=e_source, E_x=E_x, E_y=E_y,
                method=method, targets=targets, cuts=cuts, n_bootstrap=n_bootstrap, seed=seed,
                min_fit=min_fit, source=source, targets_source=str(holdout_data), progress=True)
            result.notes.extend(notes)
            return result

        _emit(calibration, out_dir, as_json)

    for param in command.params:  # a calibration fits once per cut: fewer draws than predict's
        if param.name == "n_bootstrap":
            param.default = 200
            param.type = RESAMPLES  # 0 (predict's 'none') is refused: say so in --help and at parsing
            param.help = BOOTSTRAP_HELP.format(accepted="at least 2: the prediction intervals "
                                                        "need the relation's draws")
    return command


calibrate_relation = _relation_command()


__all__ = ["calibrate"]

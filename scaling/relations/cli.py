"""`scalefit predict downstream` and `fit_shifted_power` (for `scalefit fit shifted-power`): thin
click shells over ``scalefit.scaling.relations.downstream``."""
from __future__ import annotations

import click

from scalefit.data import MINI_RUNS, data_path
from scalefit.errors import InputError
from scalefit.folder_settings import one_setting_per_folder
from scalefit.options import BOOTSTRAP, FINITE, HOLDOUT, HOLDOUT_DEFAULT, LOSS_FLOOR, analysis_options, seed_option
from scalefit.report import dumps
from scalefit.scaling.flags import command_words
from scalefit.scaling.outputs import checked_outputs

# The default run table and the relation shown on it: the mini suite's prose loss -> code loss.
SHIPPED_GROUP, SHIPPED_X_FROM, SHIPPED_Y_FROM = "distribution", "prose", "code"
DEFAULT_X = "loss"
DEFAULT_Y = {"train-to-test": "loss_code_test", "train-to-train": "loss",
             "test-to-test": "loss_code_test"}


def default_runs_path():
    """The shipped mini-suite run table (one row per run, prose and code runs)."""
    return data_path(*MINI_RUNS)


def _load(path_arg, x, y, pairing, group, x_from, y_from, subset=()):
    """(table, its name, x, y, group, x_from, y_from, notes): defaults filled in for the shipped
    table, --subset applied, a long evaluation table pivoted to the TASK:METRIC columns named.

    Shipped: train-to-test relates the prose runs' prose val loss to their code test loss;
    train-to-train pairs each prose-grid run with the code run of equal params and tokens.

    Refused here, for every command that relates two measurements: --y-from with train-to-test
    (both losses are of the same runs, which --x-from picks; the y side has no runs of its own),
    and --x and --y naming one column of the same runs (the relation would be the identity).
    """
    from scalefit.scaling.relations.loss_pairs import check_pairing
    check_pairing(pairing, y_from=y_from)  # before the file is read
    loaded = _read_relation(path_arg, x, y, pairing, group, x_from, y_from, subset)
    check_pairing(pairing, loaded[2], loaded[3])
    return loaded


# --bootstrap's help; {accepted}: what the command takes (calibrate refuses 0)
BOOTSTRAP_HELP = ("Bootstrap resamples for 95% CIs and stderrs (half the central 68% range of the "
                  "estimates; {accepted}): runs (whole models of a checkpoint table) are resampled "
                  "and, with E from Kaplan fits, both Kaplan fits are refitted in each; an accuracy "
                  "law on one point per run keeps the points and redraws their residuals (wild "
                  "bootstrap).")
RELATION_TABLE = ("a run table with a header row and one row per run holding the --x and --y "
                  "columns, or a long evaluation table (model, step, task, metric, value)")


def _read_relation(path_arg, x, y, pairing, group, x_from, y_from, subset=()):
    """_load's reading and defaults, before its checks of the pairing."""
    from scalefit.scaling.relations.downstream import shipped_runs
    from scalefit.scaling.relations.evaltables import as_measurements
    from scalefit.tables import read_table, subset_rows
    if path_arg is None:
        path = default_runs_path()
        if not path.exists():
            raise InputError(f"{path}: the shipped mini-suite run table is absent (the suite "
                             "has not been measured in this install); pass --data FILE")
        x_default = "loss_code_test" if pairing == "test-to-test" else DEFAULT_X
        frame, source = subset_rows(shipped_runs(read_table(path)), subset, str(path))
        return (frame, source, x or x_default,
                y or DEFAULT_Y[pairing], group or SHIPPED_GROUP, x_from or SHIPPED_X_FROM,
                y_from or (SHIPPED_Y_FROM if pairing != "train-to-test" else None), [])
    table = read_table(path_arg, RELATION_TABLE)  # a missing or unreadable file is named first
    if not x or not y:
        shown = ", ".join(map(str, table.columns[:12])) + (", ..." if table.shape[1] > 12 else "")
        raise InputError(f"{path_arg}: --x and --y: name the two columns to relate (e.g. --x loss "
                         "--y loss_code_test), or TASK:METRIC of a long evaluation table "
                         "(e.g. --x lambada_openai:ppl@0shot --y piqa:acc@0shot); the defaults "
                         f"hold only for the shipped table (columns: {shown or 'none'})")
    frame, source = subset_rows(table, subset, str(path_arg))
    frame, x, y, notes = as_measurements(frame, x, y, source)
    return frame, source, x, y, group or "data", x_from, y_from, notes


def read_targets(path, specs, subset=()):
    """A --holdout-data table read as --data is: --subset applied where it has the column (the
    same eval_group or setting as the fitted rows), TASK:METRIC specs pivoted."""
    from scalefit.scaling.relations.evaltables import as_measurements
    from scalefit.tables import read_table, subset_rows
    table = read_table(path, RELATION_TABLE)
    present = tuple(item for item in subset or () if str(item).partition("=")[0] in table.columns)
    table, source = subset_rows(table, present, str(path))
    targets, *_ = as_measurements(table, *specs, source)
    return targets


def relation_options(func):
    """The options shared by `predict downstream` and `fit shifted-power`."""
    options = [
        click.option("--x", "x", metavar="COLUMN", default=None,
                     help=f"Predictor loss column, or TASK:METRIC[@Kshot] of a long evaluation "
                          f"table (default on the shipped data: {DEFAULT_X})."),
        click.option("--y", "y", metavar="COLUMN", default=None,
                     help="Predicted column, or TASK:METRIC[@Kshot] (default on the shipped "
                          "data: loss_code_test; loss for train-to-train)."),
        click.option("--pair", "pairing", default="train-to-test", show_default=True,
                     type=click.Choice(["train-to-train", "train-to-test", "test-to-test"]),
                     help="train-to-test: two losses of one model; train-to-train and "
                          "test-to-test: models trained on --x-from vs --y-from."),
        click.option("--x-from", default=None, metavar="NAME",
                     help="Training set of the x models (a value of --group-column)."),
        click.option("--y-from", default=None, metavar="NAME",
                     help="Training set of the y models (a value of --group-column)."),
        click.option("--group-column", "group", default=None,
                     help="Column naming each run's training set (default: data; on the "
                          "shipped table: distribution, prose vs code)."),
        click.option("--match", type=click.Choice(["tokens", "compute"]), default="tokens",
                     show_default=True,
                     help="Pair across datasets by equal params and tokens, or by compute "
                          "(each dataset's lowest-loss run per FLOP budget)."),
        click.option("--e", "e_source", type=click.Choice(["kaplan", "given", "fit"]),
                     default=None, help="E_x, E_y: from per-dataset Kaplan L(N,D)+E fits "
                                        "(default, the paper's), given (--E-x, --E-y), or "
                                        "fitted with K and kappa."),
        click.option("--E-x", "E_x", type=LOSS_FLOOR, default=None, help="Given E_x."),
        click.option("--E-y", "E_y", type=LOSS_FLOOR, default=None, help="Given E_y."),
        click.option("--method", type=click.Choice(["ols", "huber"]), default="ols",
                     show_default=True,
                     help="With E fixed: least squares on the log-log line (the paper's) or "
                          "Huber."),
        click.option("--bootstrap", "n_bootstrap", type=BOOTSTRAP, default=1000,
                     show_default=True,
                     help=BOOTSTRAP_HELP.format(accepted="0: none, else at least 2")),
        seed_option,
        click.option("--subset", multiple=True, metavar="COL=VALUE",
                     help="Use only rows with COL equal to VALUE (repeatable), e.g. "
                          "eval_group=zero-shot; also the rows of a --holdout-data table that "
                          "has COL."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _emit(downstream, out_dir, as_json):
    """Render a ``Downstream``: the report folder, then JSON or the terminal text."""
    from scalefit.scaling.relations.report import downstream_text, write_downstream_report
    if out_dir:
        write_downstream_report(out_dir, downstream)
    out = downstream.to_dict()
    click.echo(dumps(out) if as_json else downstream_text(out))


@click.group("predict")
def predict():
    """Predict a run's loss from a scaling law (run), a loss curve from an LR schedule (curve), or one
    loss (or accuracy) from another (downstream: loss-to-loss and loss-to-accuracy laws)."""


def _predict_curve_command():
    from scalefit.scaling.laws.curve_cli import predict_curve_command
    return predict_curve_command


predict.add_command(_predict_curve_command(), "curve")
predict.add_command(__import__("scalefit.scaling.laws.run_cli", fromlist=["_"]).predict_run_command, "run")


@predict.command("downstream")
@analysis_options
@relation_options
@click.option("--relation", type=click.Choice(["shifted-power", "sigmoid", "exponential-error"]),
              default="shifted-power", show_default=True,
              help="shifted-power: y a loss; sigmoid: y an accuracy; exponential-error: y an "
                   "error rate (1 - accuracy).")
@click.option("--at-x", type=FINITE, default=None, metavar="VALUE",
              help="Predict y at this x (a loss, at least 0; for the shifted power law: "
                   "above E_x; for an accuracy or error law: where its curve lies in [0, 1]), "
                   "with the curve's 95% CI and the 95% prediction interval of an observed "
                   "value.")
@click.option("--at", "at_nd", default=None, metavar="N,D",
              help="Predict y for a model of N params and D tokens: x from a Kaplan law of x, "
                   "then the relation.")
@click.option("--holdout", type=HOLDOUT, default=None, metavar="X",
              help="Keep the largest-compute pairs out of every fit (fraction 0.2 or count 5; "
                   "pairs of equal compute stay together); report each one's relative error "
                   f"beside a Kaplan law fitted to y alone. {HOLDOUT_DEFAULT}")
@click.option("--holdout-data", default=None, type=click.Path(dir_okay=False), metavar="FILE",
              help="A table of target runs (e.g. models at 20x the compute) to score the same "
                   "way.")
@checked_outputs
@one_setting_per_folder
@command_words
def downstream(data_path, out_dir, as_json, x, y, pairing, x_from, y_from, group, match,
               e_source, E_x, E_y, method, n_bootstrap, seed, subset, relation, at_x, at_nd,
               holdout, holdout_data):
    """Fit y against x, predict y, and score held-out runs.

    \b
    The shifted power law L_y = K (L_x - E_x)^kappa + E_y (Brandfonbrener et al. 2024) with
    E_x, E_y from per-dataset Kaplan L(N,D)+E fits; or an accuracy law of a loss.
    With no --data: the shipped mini suite, prose loss -> code loss, its runs less the warmup
    variants, one per (distribution, N, D) (relations.downstream.shipped_runs: 23 pairs; the
    whole runs.csv, --data runs.csv --x loss --y loss_code_test --x-from prose --group-column
    distribution, pairs 39).
    \b
    Examples:
      scalefit predict downstream --holdout 2
      scalefit predict downstream --data sweep.csv --x val_loss --y val_loss \\
          --pair train-to-train --x-from fineweb-edu-100b --y-from starcoder \\
          --holdout-data extrapolation.csv --out report/
      scalefit predict downstream --data evals.csv --x lambada_nll --y piqa_acc \\
          --relation sigmoid --at-x 1.5
      scalefit predict downstream --data pythia_evals.csv --relation sigmoid \\
          --x lambada_openai:ppl@0shot --y piqa:acc@0shot --holdout 0.1
    \b
    A long evaluation table (model, step, task, metric, value[, num_fewshot]) is read as it
    comes: --x/--y TASK:METRIC[@Kshot] select its rows (a perplexity becomes its loss, ln ppl);
    each checkpoint is a pair and the bootstrap resamples whole models.
    """
    from scalefit.scaling.relations.downstream import run_downstream
    specs = (x, y)
    frame, source, x, y, group, x_from, y_from, notes = _load(data_path, x, y, pairing, group,
                                                              x_from, y_from, subset)
    targets = read_targets(holdout_data, specs, subset) if holdout_data else None
    out = run_downstream(frame, x, y, pairing=pairing, x_from=x_from, y_from=y_from,
                         group=group, match=match, relation=relation,
                         e_source=e_source, E_x=E_x, E_y=E_y,
                         method=method, holdout=holdout, targets=targets, at_x=at_x,
                         at_nd=at_nd, n_bootstrap=n_bootstrap, seed=seed,
                         source=source, targets_source=str(holdout_data), progress=True)
    out.notes.extend(notes)
    _emit(out, out_dir, as_json)


@click.command("shifted-power")
@analysis_options
@relation_options
@checked_outputs
@one_setting_per_folder
@command_words
def fit_shifted_power(data_path, out_dir, as_json, x, y, pairing, x_from, y_from, group, match,
                      e_source, E_x, E_y, method, n_bootstrap, seed, subset):
    """Fit the shifted power law L_y = K (L_x - E_x)^kappa + E_y alone.

    \b
    E_x, E_y from per-dataset Kaplan L(N,D)+E fits (default), given, or fitted.
    Example:
      scalefit fit shifted-power --data sweep.csv --x val_loss --y val_loss \\
          --pair train-to-train --x-from fineweb-edu-100b --y-from proof-pile-2
    """
    from scalefit.scaling.relations.downstream import run_downstream
    frame, source, x, y, group, x_from, y_from, notes = _load(data_path, x, y, pairing, group,
                                                              x_from, y_from, subset)
    out = run_downstream(frame, x, y, pairing=pairing, x_from=x_from, y_from=y_from,
                         group=group, match=match, relation="shifted-power",
                         e_source=e_source, E_x=E_x, E_y=E_y,
                         method=method, n_bootstrap=n_bootstrap, seed=seed, source=source,
                         progress=True)
    out.notes.extend(notes)
    _emit(out, out_dir, as_json)


def _schedule_law_command():
    from scalefit.scaling.laws.schedule_cli import fit_schedule_law
    return fit_schedule_law


# LAW values of `scalefit fit LAW` that hand the rest of the line to their own command
HANDOFF_COMMANDS = {"shifted-power": lambda: fit_shifted_power,
                    "schedule-law": _schedule_law_command}


class FitLawCommand(click.Command):
    """`scalefit fit LAW`, where a LAW of ``HANDOFF_COMMANDS`` (shifted-power, schedule-law)
    hands the rest of the line to its own command (its options differ from the scaling laws')."""

    def make_context(self, info_name, args, parent=None, **extra):
        if args and args[0] in HANDOFF_COMMANDS:
            command = HANDOFF_COMMANDS[args[0]]()
            return command.make_context(f"{info_name} {args[0]}", list(args[1:]),
                                        parent=parent, **extra)
        return super().make_context(info_name, args, parent=parent, **extra)

    def format_epilog(self, ctx, formatter):
        super().format_epilog(ctx, formatter)
        formatter.write_paragraph()
        formatter.write_text("LAW may also be shifted-power: the loss-to-loss law "
                             "L_y = K (L_x - E_x)^kappa + E_y (see `scalefit fit shifted-power "
                             "--help`); or schedule-law: a momentum or multi-power law fitted "
                             "to whole loss curves of a checkpoint table (see `scalefit fit "
                             "schedule-law --help`).")


__all__ = ["predict", "downstream", "fit_shifted_power", "FitLawCommand", "MINI_RUNS",
           "default_runs_path"]

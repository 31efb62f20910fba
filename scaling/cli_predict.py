"""`scalefit predict downstream` and `fit_shifted_power` (for `scalefit fit shifted-power`): thin
click shells over ``scalefit.scaling.downstream``."""
from __future__ import annotations

import click

from scalefit.data import data_path
from scalefit.errors import InputError
from scalefit.options import analysis_options, seed_option
from scalefit.report import dumps

# The default run table and the relation shown on it: the mini suite's prose loss -> code loss.
MINI_RUNS = ("suites", "mini", "runs.csv")
DEFAULT_X, DEFAULT_Y = "loss", "loss_code_test"


def _load(path_arg, x, y):
    """The table, its name, and x, y (defaulted only for the shipped table)."""
    from scalefit.tables import read_table
    if path_arg is None:
        path = data_path(*MINI_RUNS)
        if not path.exists():
            raise InputError(f"{path}: the shipped mini-suite run table is absent (the suite "
                             "has not been measured in this install); pass --data FILE")
        return read_table(path), str(path), x or DEFAULT_X, y or DEFAULT_Y
    if not x or not y:
        raise InputError("--x and --y: name the two columns to relate (e.g. --x loss "
                         "--y loss_code_test)")
    return read_table(path_arg), str(path_arg), x, y


def relation_options(func):
    """The options shared by `predict downstream` and `fit shifted-power`."""
    options = [
        click.option("--x", "x", metavar="COLUMN", default=None,
                     help=f"Predictor loss column (default on the shipped data: {DEFAULT_X})."),
        click.option("--y", "y", metavar="COLUMN", default=None,
                     help=f"Predicted column (default on the shipped data: {DEFAULT_Y})."),
        click.option("--pair", "pairing", default="train-to-test", show_default=True,
                     type=click.Choice(["train-to-train", "train-to-test", "test-to-test"]),
                     help="train-to-test: two losses of one model; train-to-train and "
                          "test-to-test: models trained on --x-from vs --y-from."),
        click.option("--x-from", default=None, metavar="NAME",
                     help="Training set of the x models (a value of --group-column)."),
        click.option("--y-from", default=None, metavar="NAME",
                     help="Training set of the y models (a value of --group-column)."),
        click.option("--group-column", "group", default="data", show_default=True,
                     help="Column naming each run's training set."),
        click.option("--match", type=click.Choice(["tokens", "compute"]), default="tokens",
                     show_default=True,
                     help="Pair across datasets by equal params and tokens, or by compute "
                          "(each dataset's lowest-loss run per FLOP budget)."),
        click.option("--e", "e_source", type=click.Choice(["kaplan", "given", "fit"]),
                     default=None, help="E_x, E_y: from per-dataset Kaplan L(N,D)+E fits "
                                        "(default, the paper's), given (--E-x, --E-y), or "
                                        "fitted with K and kappa."),
        click.option("--E-x", "E_x", type=float, default=None, help="Given E_x."),
        click.option("--E-y", "E_y", type=float, default=None, help="Given E_y."),
        click.option("--method", type=click.Choice(["ols", "huber"]), default="ols",
                     show_default=True,
                     help="With E fixed: least squares on the log-log line (the paper's) or "
                          "Huber."),
        click.option("--bootstrap", "n_bootstrap", type=click.IntRange(min=0), default=1000,
                     show_default=True, help="Bootstrap resamples of the pairs for 95% CIs."),
        seed_option,
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _e_source(e_source, E_x, E_y):
    if e_source is None:
        return "given" if (E_x is not None or E_y is not None) else "kaplan"
    return e_source


def _emit(out, out_dir, as_json):
    from scalefit.scaling.report_downstream import downstream_text, write_downstream_report
    objects = out.pop("_")
    if out_dir:
        write_downstream_report(out_dir, out, objects["result"], objects["train"],
                                objects["held"])
    click.echo(dumps(out) if as_json else downstream_text(out))


@click.group("predict")
def predict():
    """Predict one loss (or accuracy) from another: loss-to-loss and loss-to-accuracy laws."""


@predict.command("downstream")
@analysis_options
@relation_options
@click.option("--relation", type=click.Choice(["shifted-power", "sigmoid", "exponential-error"]),
              default="shifted-power", show_default=True,
              help="shifted-power: y a loss; sigmoid: y an accuracy; exponential-error: y an "
                   "error rate (1 - accuracy).")
@click.option("--at-x", type=float, default=None, metavar="VALUE",
              help="Predict y at this x.")
@click.option("--at", "at_nd", default=None, metavar="N,D",
              help="Predict y for a model of N params and D tokens: x from a Kaplan law of x, "
                   "then the relation.")
@click.option("--holdout", default=None, metavar="X",
              help="Keep the largest-compute pairs out of every fit (fraction 0.2 or count 5); "
                   "report each one's relative error beside a Kaplan law fitted to y alone.")
@click.option("--holdout-data", default=None, type=click.Path(dir_okay=False), metavar="FILE",
              help="A table of target runs (e.g. models at 20x the compute) to score the same "
                   "way.")
def downstream(data_path, out_dir, as_json, x, y, pairing, x_from, y_from, group, match,
               e_source, E_x, E_y, method, n_bootstrap, seed, relation, at_x, at_nd, holdout,
               holdout_data):
    """Fit y against x, predict y, and score held-out runs.

    \b
    The shifted power law L_y = K (L_x - E_x)^kappa + E_y (Brandfonbrener et al. 2024) with
    E_x, E_y from per-dataset Kaplan L(N,D)+E fits; or an accuracy law of a loss.
    With no --data: the shipped mini suite, prose loss -> code loss.
    \b
    Examples:
      scalefit predict downstream --holdout 2
      scalefit predict downstream --data sweep.csv --x val_loss --y val_loss \\
          --pair train-to-train --x-from fineweb-edu-100b --y-from starcoder \\
          --holdout-data extrapolation.csv --out report/
      scalefit predict downstream --data evals.csv --x lambada_nll --y piqa_acc \\
          --relation sigmoid --at-x 1.5
    """
    from scalefit.scaling.downstream import parse_at, run_downstream
    from scalefit.tables import read_table
    if at_x is not None and at_nd is not None:
        raise InputError("--at-x and --at: give one of them")
    frame, source, x, y = _load(data_path, x, y)
    targets = read_table(holdout_data) if holdout_data else None
    out = run_downstream(frame, x, y, pairing=pairing, x_from=x_from, y_from=y_from,
                         group=group, match=match, relation=relation,
                         e_source=_e_source(e_source, E_x, E_y), E_x=E_x, E_y=E_y,
                         method=method, holdout=holdout, targets=targets, at_x=at_x,
                         at_nd=parse_at(at_nd), n_bootstrap=n_bootstrap, seed=seed,
                         source=source)
    _emit(out, out_dir, as_json)


@click.command("shifted-power")
@analysis_options
@relation_options
def fit_shifted_power(data_path, out_dir, as_json, x, y, pairing, x_from, y_from, group, match,
                      e_source, E_x, E_y, method, n_bootstrap, seed):
    """Fit the shifted power law L_y = K (L_x - E_x)^kappa + E_y alone.

    \b
    E_x, E_y from per-dataset Kaplan L(N,D)+E fits (default), given, or fitted.
    Example:
      scalefit fit shifted-power --data sweep.csv --x val_loss --y val_loss \\
          --pair train-to-train --x-from fineweb-edu-100b --y-from proof-pile-2
    """
    from scalefit.scaling.downstream import run_downstream
    frame, source, x, y = _load(data_path, x, y)
    out = run_downstream(frame, x, y, pairing=pairing, x_from=x_from, y_from=y_from,
                         group=group, match=match, relation="shifted-power",
                         e_source=_e_source(e_source, E_x, E_y), E_x=E_x, E_y=E_y,
                         method=method, n_bootstrap=n_bootstrap, seed=seed, source=source)
    _emit(out, out_dir, as_json)


__all__ = ["predict", "downstream", "fit_shifted_power", "MINI_RUNS"]

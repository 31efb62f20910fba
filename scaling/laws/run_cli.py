"""`scalefit predict run LAW --N 1e9 --D 2e10`: the loss a run of N parameters trained on D tokens
reaches by LAW fitted to a run table as `scalefit fit` fits it; a thin click shell over
``run_prediction.predict_run``. (It reads laws.cli's loading helpers inside the command: that module
imports scaling.relations.cli, which registers this one.)"""
from __future__ import annotations

import click

from scalefit.errors import InputError
from scalefit.folder_settings import one_setting_per_folder
from scalefit.options import (NameChoice, analysis_options, bootstrap_option, column_options,
                              delta_option, positive_float, seed_option, split_values)
from scalefit.report import dumps
from scalefit.scaling.fitresult import BOOTSTRAP_STDERR_RULE
from scalefit.scaling.laws.registry import law_choices
from scalefit.scaling.objective import HUBER_DELTA
from scalefit.scaling.outputs import checked_outputs, staged

# the columns of predictions.csv beyond COLUMNS' own (scaling/outputs.py)
RUN_COLUMNS = {
    "N": "the run's N as given (parameters, counted as N_counts says)",
    "N_counts": "what the given N counts: total (all parameters) or non-embedding (Kaplan's count)",
    "N_law": "the N the law reads (parameters, counted as N_law_counts says)",
    "N_law_counts": "what the law's N counts: total or non-embedding",
    "N_converted": "how the given N was converted to the law's (empty: it was not)",
    "D": "training tokens",
    "unique_tokens": "unique tokens U_D that the run's D tokens repeat, as given (the data-constrained law's; "
                     "only for it)",
    "N_total": "the run's total N (all parameters; converted where N counts non-embedding ones): the N that C "
               "and times_largest_N read (only where C_law is given)",
    "C": "training compute in the run table's own count, as compare's and fit's budget rows state it (FLOPs): "
         "C = k N_total D with k the table's flops over params x tokens where the law counts non-embedding N "
         "and the table gives both counts (C_law beside it), else C = k N_law D with the fit's own k (the "
         "table's for a law of compute alone)",
    "C_law": "the law's own compute C = 6 N_law D (FLOPs; Kaplan et al. 2020's count with non-embedding N)",
    "loss": "the law's loss at (N, D) ({loss})",
    "loss_ci95": "95% interval of the law's curve at (N, D) over the bootstrap refits ({loss}), low and "
                 "high end",
    "kind": "interpolation, extrapolation, projection or below the data: where the run lies against the "
            "fitted runs (as the budget rows say it)",
    "times_largest_N": "N / the largest fitted run's, in C's count (N_total where given, else N_law)",
    "times_largest_D": "D / the largest fitted run's",
    "times_largest_run": "C / the largest fitted run's compute, in C's count (compare's 'x largest run')",
    "outside_fitted": "which of N, D, C lie outside the fitted runs' range, and how far",
}


def _values(option: str, given) -> list[float]:
    """--N 1e9 --N 2e9 or --N 1e9,2e9 as numbers > 0 (an InputError naming ``option`` else)."""
    return [positive_float(option, v) for v in split_values(given, option, "number")]


def paired_sizes(n_given, d_given) -> tuple[list[float], list[float]]:
    """(N, D) paired in order, one value of either standing for all; else an InputError."""
    n, d = _values("--N", n_given), _values("--D", d_given)
    if len(n) != len(d) and 1 not in (len(n), len(d)):
        raise InputError(f"--N gives {len(n)} values and --D {len(d)}: give one --D per --N (paired "
                         "in order), or one value of either for all")
    size = max(len(n), len(d))
    return (n * size if len(n) == 1 else n), (d * size if len(d) == 1 else d)


def paired_unique_tokens(u_given, runs: int) -> list[float] | None:
    """--unique-tokens as numbers > 0, one per run (paired in order with --N and --D) or one for
    all; None where it was not given; else an InputError."""
    if not u_given:
        return None
    u = _values("--unique-tokens", u_given)
    if len(u) not in (1, runs):
        raise InputError(f"--unique-tokens gives {len(u)} values for {runs} runs: give one per run "
                         "(paired with --N and --D in order), or one value for all")
    return u * runs if len(u) == 1 else u


@click.command("run", epilog=f"LAW is one of: {', '.join(law_choices())} (a law of the final loss "
                             "of a run; isoflop sets an allocation only).")
@click.argument("law", metavar="LAW", type=NameChoice(law_choices()))
@analysis_options
@click.option("--N", "n_given", multiple=True, required=True, metavar="PARAMS",
              help="Parameters of the run (repeatable, or a comma list: 1e9,3e9), counted as "
                   "--n-counts says.")
@click.option("--D", "d_given", multiple=True, required=True, metavar="TOKENS",
              help="Training tokens of the run (repeatable, or a comma list; paired with --N in "
                   "order, or one value for every N).")
@click.option("--unique-tokens", "u_given", multiple=True, metavar="TOKENS",
              help="Unique tokens U_D that the run's D tokens repeat (D / U_D - 1 repetitions; at "
                   "most D): the data-constrained law (muennighoff) reads them, as its run table's "
                   "unique_tokens column, and needs them: no default (give U_D = D for a run that "
                   "repeats no token); refused for any other law. Repeatable or a comma list, paired "
                   "with --N and --D in order, or one value for every run.")
@click.option("--n-counts", type=click.Choice(["total", "non-embedding"]), default=None,
              help="What --N counts: all parameters, or non-embedding ones (Kaplan's). Default: the "
                   "law's own (non-embedding for kaplan where the table has params_nonembed); the "
                   "other is converted with the runs' own embedding counts.")
@bootstrap_option(1000, "Bootstrap resamples of the fit (0: none) for the curve's 95% interval "
                        f"(and each parameter's, stderr: {BOOTSTRAP_STDERR_RULE} of the resamples).")
@seed_option
@delta_option(HUBER_DELTA)
@click.option("--loss", "loss_column", default="loss", show_default=True,
              help="Loss column of the run table to fit.")
@click.option("--subset", multiple=True, metavar="COL=VALUE",
              help="Fit only rows with COL equal to VALUE (repeatable). Without --data the shipped "
                   "table's part=grid runs are fitted.")
@column_options
@checked_outputs
@one_setting_per_folder
def predict_run_command(law, data_path, out_dir, as_json, n_given, d_given, u_given, n_counts,
                        n_bootstrap, seed, delta, loss_column, subset, params_column, tokens_column,
                        flops_column, column_map):
    """Predict the loss a run of N parameters trained on D tokens reaches, by LAW fitted to the runs.

    \b
    Fits LAW as `scalefit fit` does, then prints per run: N as given and the N the law reads
    (Kaplan's non-embedding N converted from total N with the runs' own embedding counts), D,
    C in the run table's own count as compare's budget rows state it (with Kaplan's N, the law's
    own C = 6 N_nonembed D beside it), the law's loss with the 95% interval of its curve
    (bootstrap refits) and an observed run's 95% interval (those draws times the runs' scatter),
    and where the run lies against the fitted runs: interpolation, extrapolation, projection or
    below the data, with how many times the largest fitted N, D and C it is (in C's count, as
    compare's 'x largest run'). --json prints the same numbers.

    \b
    Examples:
      scalefit predict run chinchilla --N 1.64e6 --D 9.8e6
      scalefit predict run kaplan --N 1643648 --D 9830400 --n-counts total
      scalefit predict run chinchilla --data runs.csv --N 1e9,7e9 --D 2e10,1.4e11 --out report/
      scalefit predict run muennighoff --data repeated.csv --N 1e9 --D 1e11 --unique-tokens 2.5e10
    """
    from scalefit.scaling.laws.cli import _columns_and_loss, _load
    from scalefit.scaling.laws.fit import fit_law
    from scalefit.scaling.laws.run_prediction import (checked_n_counts, checked_unique_tokens, predictable,
                                                      prediction_document, run_text)
    from scalefit.scaling.laws.runtable import validate_runs

    n_values, d_values = paired_sizes(n_given, d_given)  # before the fit, which takes a while
    u_values = paired_unique_tokens(u_given, max(len(n_values), len(d_values)))
    checked_n_counts(n_counts)
    model = predictable(law)  # before the fit, which takes a while
    checked_unique_tokens(model.law_name, u_values, d_values, "--unique-tokens")
    columns, loss_column = _columns_and_loss(loss_column, column_map, params=params_column,
                                             tokens=tokens_column, flops=flops_column)
    df, source, _ = _load(data_path, subset, columns)
    table = validate_runs(df, model.law_name, loss=loss_column, source=source)
    result = fit_law(table, model.law_name, loss=loss_column, delta=delta, n_bootstrap=n_bootstrap,
                     seed=seed, progress=True, all_runs=table)
    out, frame = prediction_document(result, n_values, d_values, n_counts=n_counts, seed=seed,
                                     table=table, source=source, law_given=law, unique_tokens=u_values)
    text = run_text(out)
    if out_dir:
        _write_run(out_dir, out, frame, text)
    click.echo(dumps(out) if as_json else text)


@staged
def _write_run(out_dir, out: dict, frame, text: str) -> None:
    """predictions.csv (one row per run, intervals as _lo/_hi columns), prediction.json (--json's
    document) and report.md (the printed text and what each CSV column holds)."""
    from pathlib import Path

    from scalefit.atomic import write_json, write_text
    from scalefit.scaling.outputs import files_section, provenance_lines
    from scalefit.tables import write_table
    folder = Path(out_dir)
    write_table(frame, folder / "predictions.csv")
    write_json(folder / "prediction.json", out, default=float)
    from scalefit.scaling.laws.run_prediction import law_heading
    lines = [f"# {law_heading(out)}: the loss of a run of N parameters and D tokens", "",
             *provenance_lines(out["data"]), "", "```", text, "```", "",
             *files_section({"predictions.csv": list(frame.columns)}, meanings=RUN_COLUMNS,
                            loss=out["loss_unit"])]
    write_text(folder / "report.md", "\n".join(lines) + "\n")

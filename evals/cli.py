"""`scalefit eval`: measure every checkpoint of a suite, and `scalefit eval merge` for shards.

A thin command over `scalefit.evals.evaluate` (options -> grid + measurements from the registry ->
the sweep engine); the closing lines and exit status are the sweep commands' shared ones.
"""
from __future__ import annotations

import click

from scalefit.evals.loss import CROSS_ENTROPY_CHOICES, CROSS_ENTROPY_HELP
from scalefit.options import NONNEGATIVE_INT, POSITIVE_INT, json_option, split_values
from scalefit.sweep.cli import (cleanup_option, executor_option, finish, grid_options, hub_cache_option,
                                interrupted_exit, no_families_option, no_progress_option, no_spectra_option,
                                on_duplicate_option, shard_option, startup_interrupted, sweep_json,
                                table_rows, threads_value)
from scalefit.sweep.report import SCORING_CONVENTIONS


def quiet_libraries() -> None:
    """Keep stdout for --json and stderr for our own progress bar."""
    import logging

    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()
    for name in ("lm-eval", "lm_eval", "datasets"):
        logging.getLogger(name).setLevel(logging.ERROR)


def _summary_json(result, out_dir) -> dict:
    """The sweep commands' --json document (sweep_json) with the evals rows."""
    doc, evals = sweep_json(result, out_dir), result.tables.get("evals")
    if evals is not None and not evals.empty:
        doc["evals"] = evals.to_dict("records")
    return doc


EVAL_HELP = f"""Measure loss, bits per byte and downstream tasks of every checkpoint of a suite.

\b
Each checkpoint is loaded once and serves every dataset and task; each result is written
as its own file under OUT/parts, so a killed sweep resumes where it stopped (re-run the
same command). A checkpoint that fails to load, or one of whose datasets or tasks fails, is
recorded in failures.csv and the sweep goes on (the checkpoint's other datasets and tasks are
still measured; a re-run measures only what failed); the command then exits with status 1.

{SCORING_CONVENTIONS}

\b
Examples:
  scalefit eval --suite pythia --models 70m,160m --steps log \\
      --dataset pile-val=val.jsonl --tasks lambada_openai --out sweep/
  scalefit eval --suite my_suite.toml --dataset train=train.bin --train-dataset train \\
      --dataset test=test.txt --max-tokens 1000000 --shard 0/4 --out shard0/
  scalefit eval merge shard0/ shard1/ shard2/ shard3/ --out sweep/
"""


@click.group("eval", invoke_without_command=True, no_args_is_help=True, help=EVAL_HELP,
             context_settings={"help_option_names": ["-h", "--help"]})
@grid_options
@click.option("--dataset", "datasets", multiple=True, metavar="NAME=PATH",
              help="Evaluation data: text, JSONL (field 'text'), a folder, or a token file (.npy, or "
                   "a raw uint16 .bin; write PATH@uint32 for 32-bit ids). Repeatable.")
@click.option("--train-dataset", metavar="NAME", help="The --dataset that is the training distribution "
              "(its loss is `train_loss` in the report).")
@click.option("--text-field", default="text", show_default=True, help="JSONL field that holds each document's text.")
@click.option("--tasks", multiple=True, metavar="TASK[,TASK]",
              help="lm-eval tasks by name, or NAME=FILE.jsonl for a local task "
                   "(rows {context, choices, answer} or {context, continuation}; a local task reports acc "
                   "and gold_ce, the gold answer's mean NLL per token, no per-continuation perplexity). Repeatable.")
@click.option("--task-limit", type=POSITIVE_INT, help="At most this many examples per task.")
@click.option("--num-fewshot", type=NONNEGATIVE_INT, help="Few-shot examples per task (lm-eval's default if unset).")
@click.option("--weights", is_flag=True,
              help="Also measure weight statistics of every tensor as stored in the checkpoint's files, "
                   "whatever --dtype (weights table, the rows of scalefit weights).")
@no_families_option
@no_spectra_option
@click.option("--max-tokens", type=POSITIVE_INT, help="Score only the first N tokens of each dataset (same for every checkpoint).")
@click.option("--context", type=POSITIVE_INT, help="Window length in tokens. Default: the suite's, else the model's.")
@click.option("--stride", type=POSITIVE_INT, help="Tokens scored per window after the first; the rest of the window "
              "is unscored context. Default: the context (no overlap).")
@click.option("--batch-size", type=POSITIVE_INT, help="Windows per forward pass. Default: by device.")
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda, cuda:1 ...")
@click.option("--dtype", default="auto", show_default=True, help="auto (CUDA bf16, CPU fp32), float32, bfloat16, float16.")
@click.option("--cross-entropy", default="auto", show_default=True, type=click.Choice(CROSS_ENTROPY_CHOICES),
              help=CROSS_ENTROPY_HELP)
@click.option("--allow-bin", is_flag=True, help="Also load pickle .bin checkpoints (with torch.load(weights_only=True)).")
@cleanup_option
@shard_option
@click.option("--cache-dir", type=click.Path(file_okay=False), help="Token-file cache. Default: OUT/token-cache.")
@hub_cache_option
@click.option("--seed", type=NONNEGATIVE_INT, default=0, show_default=True, help="Seed (lm-eval sampling, torch).")
@click.option("--threads", callback=threads_value, metavar="INTEGER",
              help="torch CPU threads (of each Ray task too), a whole number >= 1. Default: not set, "
                   "so torch's own count (torch.get_num_threads(), usually one per CPU core).")
@click.option("--out", "out_dir", type=click.Path(file_okay=False),
              help="Sweep folder: parts/ (resumable), evals.parquet/.csv, report.md, run.json.")
@executor_option
@on_duplicate_option
@no_progress_option
@json_option
@click.pass_context
def eval_command(ctx, **params):
    """`scalefit eval` (its help: EVAL_HELP)."""
    if ctx.invoked_subcommand is not None:
        return
    try:
        _run_eval(ctx, **params)
    except KeyboardInterrupt:  # a SweepInterrupted was handled inside: this is before the sweep started
        startup_interrupted(ctx)


def _run_eval(ctx, *, suite, out_dir, models, datasets, tasks, threads, no_progress, as_json, **options):
    """The body of `scalefit eval` (see its help)."""
    from scalefit.errors import InputError

    if not suite:
        raise InputError("--suite is required (pythia or a suite spec file)")
    if not out_dir:
        raise InputError("--out DIR is required (the sweep's results and resume state live there)")
    if models and not split_values(models):
        raise InputError("--models '': give member names or aliases (e.g. 70m,160m), or leave --models out for all")
    quiet_libraries()
    if threads:
        import torch

        torch.set_num_threads(threads)
    from scalefit.evals.evaluate import EvalOptions, evaluate, flag_of
    from scalefit.report import dumps
    from scalefit.sweep.engine import SweepInterrupted

    opts = EvalOptions(suite=suite, out_dir=out_dir, models=split_values(models) or None,
                       datasets=list(datasets), tasks=split_values(tasks), threads=threads,
                       progress=not no_progress, **options)
    try:
        result = evaluate(opts, named=flag_of)  # the flag its user typed, not the API's field name
    except SweepInterrupted:
        interrupted_exit(ctx, out_dir)
    if as_json:
        click.echo(dumps(_summary_json(result, out_dir)))
    finish(ctx, result, "evals")


@eval_command.command("merge")
@click.argument("dirs", nargs=-1, required=True, type=click.Path(file_okay=False))
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False),
              help="Folder for the merged evals/weights tables, failures.csv, report.md, run.json.")
@json_option
def merge_command(dirs, out_dir, as_json):
    """Merge the folders of sharded (or repeated) sweeps into one set of tables.

    A (checkpoint, measurement) result found in several folders is taken once.
    """
    from scalefit.evals.merge import merge
    from scalefit.report import dumps
    from scalefit.sweep.report import incomplete_text

    result = merge(dirs, out_dir)
    for line in result.meta.get("warnings", []):
        click.echo(f"warning: {line}", err=True)
    if as_json:
        click.echo(dumps({"out": out_dir, "meta": result.meta, "rows": table_rows(result),
                          "failures": result.failures.to_dict("records"),
                          "warnings": result.meta.get("warnings", [])}))
    else:
        folders = len(result.meta.get("folders", dirs))
        click.echo(f"merged {folders} folder{'s' * (folders != 1)} into {out_dir}: "
                   + ", ".join(f"{k} {len(v)} rows" for k, v in result.tables.items())
                   + f", checkpoints measured {result.meta['measured']}{incomplete_text(result.meta)}, "
                   + f"{len(result.failures)} failed checkpoints", err=True)

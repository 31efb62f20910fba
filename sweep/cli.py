"""`scalefit weights`: weight statistics of every checkpoint of a suite (or of local folders).

A thin command over the sweep engine (`sweep_checkpoints`) with the `weights` measurement from
the registry: the same suite, steps, shard, resume and failure conventions as `scalefit eval`.
`scalefit weights plot` (figures from a table) belongs to the weightstats layer and is attached
here. The helpers below are the closing steps both sweep commands share.
"""
from __future__ import annotations

from pathlib import Path

import click

from scalefit.errors import InputError
from scalefit.options import json_option, split_values
from scalefit.weightstats.cli import DEFAULT_STATS, plot_command


# The options every sweep command shares (one definition each; the same help in both commands).
suite_option = click.option("--suite", help="A shipped suite ('pythia') or a suite spec file (.toml/.json).")
models_option = click.option("--models", multiple=True,
                             help="Members to measure, by name or alias: 70m,160m. Default: all.")
steps_option = click.option("--steps", default="all", show_default=True,
                            help="Checkpoints: all, log (log-spaced), START:STOP:EVERY, or a list 0,1000,143000.")
shard_option = click.option("--shard", metavar="K/N",
                            help="Measure only shard K of N (0-based) of the checkpoint grid.")
cleanup_option = click.option("--cleanup", is_flag=True,
                              help="Delete each hub checkpoint from the local cache once measured. Local "
                                   "checkpoint folders are never deleted (a warning says so).")
hub_cache_option = click.option("--hub-cache", type=click.Path(file_okay=False),
                                help="Hugging Face cache folder for checkpoints.")
no_progress_option = click.option("--no-progress", is_flag=True, help="No progress bar.")
executor_option = click.option("--executor", default="local", show_default=True, metavar="local|ray[:ADDRESS]",
                               help="Where checkpoints are measured: here, or one Ray task per checkpoint "
                                    "(ray: a local Ray cluster; ray:auto or ray:ADDRESS joins a running one; "
                                    "--out must then be a folder every worker can write). Needs "
                                    "pip install 'scalefit[ray]'.")
no_families_option = click.option("--no-families", is_flag=True,
                                  help="Weight statistics: skip the fitted families (moments and spectra only).")
no_spectra_option = click.option("--no-spectra", is_flag=True,
                                 help="Weight statistics: skip the spectra (eigenvalues of W^T W).")
on_duplicate_option = click.option("--on-duplicate", type=click.Choice(["warn", "skip", "fail"]), default="warn",
                                   show_default=True,
                                   help="A checkpoint whose weights are identical to another's: measure it and "
                                        "flag it (warn), do not measure it (skip), or record it as failed (fail).")


def threads_value(ctx, param, value):
    """--threads: a whole number >= 1 (None: torch's default)."""
    if value is None:
        return None
    from scalefit.options import thread_count

    return thread_count("--threads", value)


def startup_interrupted(ctx) -> None:
    """Ctrl-C before the sweep started (imports, checks): nothing measured, exit status 130 (143 after SIGTERM)."""
    from scalefit.signals import interrupted_status

    click.echo("interrupted before the sweep started: nothing was measured", err=True)
    ctx.exit(interrupted_status())


def grid_options(func):
    """Decorate a sweep command with --suite, --models and --steps (in that order)."""
    for option in (steps_option, models_option, suite_option):
        func = option(func)
    return func


def interrupted_exit(ctx, out_dir) -> None:
    """Ctrl-C: say where the results so far are and exit with status 130 (143 after SIGTERM)."""
    from scalefit.signals import interrupted_status

    click.echo(f"interrupted: results so far are in {out_dir} (re-run the same command to resume)", err=True)
    ctx.exit(interrupted_status())


def table_rows(result) -> dict[str, int]:
    """Rows per table, failures last (the `rows` of a sweep's --json document)."""
    return {**{k: int(len(v)) for k, v in result.tables.items()}, "failures": int(len(result.failures))}


def sweep_json(result, out_dir) -> dict:
    """The --json document of `scalefit eval` and `scalefit weights`, one shape for both: out, meta
    (the run's facts and outcome, as run.json), rows (per table), measured, skipped (checkpoint
    keys; absent when interrupted), failures and files. `scalefit eval` adds its evals rows (a few
    per checkpoint); weights rows (thousands per checkpoint) stay in OUT/weights.parquet."""
    doc = {"out": str(out_dir), "meta": result.meta, "rows": table_rows(result)}
    if result.summary is not None:
        doc.update(measured=result.summary.measured, skipped=result.summary.skipped)
    doc.update(failures=result.failures.to_dict("records"), files=[str(p) for p in result.files])
    return doc


def finish(ctx, result, table: str) -> None:
    """The closing lines on stderr; exit status 1 when a checkpoint failed."""
    from scalefit.sweep.report import finish_sweep

    lines, status = finish_sweep(result, table)
    for line in lines:
        click.echo(line, err=True)
    if status:
        ctx.exit(status)


@click.group("weights", invoke_without_command=True, no_args_is_help=True,
             context_settings={"help_option_names": ["-h", "--help"]})
@grid_options
@click.option("--checkpoint", "local", multiple=True, type=click.Path(),
              help="A local checkpoint folder (safetensors) to measure; model = parent folder, step "
                   "from a 'step<N>' (or 'checkpoint-<N>') folder name; any other folder is model = "
                   "its name at step 0, with a warning. Repeatable.")
@shard_option
@click.option("--device", default="auto", show_default=True, help="auto (CUDA when there is one), cpu, cuda ...")
@no_families_option
@no_spectra_option
@cleanup_option
@hub_cache_option
@click.option("--threads", default="1", show_default=True, callback=threads_value, metavar="INTEGER",
              help="torch CPU threads (of each Ray task too), a whole number >= 1.")
@click.option("--stat", "stats", multiple=True, help="Statistics to plot against step in the report "
              f"(default: {', '.join(DEFAULT_STATS)}).")
@click.option("--out", "out_dir", type=click.Path(file_okay=False),
              help="Sweep folder: parts/ (resumable), weights.parquet/.csv, report.md, plots.")
@executor_option
@on_duplicate_option
@no_progress_option
@json_option
@click.pass_context
def weights(ctx, suite, models, steps, local, shard, device, no_families, no_spectra, cleanup, hub_cache,
            threads, stats, out_dir, executor, on_duplicate, no_progress, as_json):
    """Weight statistics of every tensor and group of every checkpoint: moments, quantiles,
    tails, spectra (alpha) and fitted families (Student-t nu, generalized normal beta ...).

    \b
    Output: the long table (model, step, tensor, group, layer, stat, value) as
    OUT/weights.parquet and OUT/weights.csv, a report and plots. Each checkpoint's rows are
    written as soon as it is measured, so a killed sweep resumes where it stopped (re-run the
    same command). Failed checkpoints are recorded and the command exits with status 1.
    \b
    Examples:
      scalefit weights --suite pythia --models 70m --steps log --out w70m/
      scalefit weights --checkpoint runs/mini-3/step1000 --checkpoint runs/mini-3/step2000 --out w/
      scalefit weights plot --data w/weights.parquet --stat t_nu --out w/plots
    """
    if ctx.invoked_subcommand is not None:
        return
    if not out_dir:
        raise InputError("--out DIR is required (the sweep's results and resume state live there)")
    if models and not split_values(models):
        raise InputError("--models '': give member names or aliases (e.g. 70m,160m), or leave --models out for all")
    try:
        run_weights(ctx, suite, models, steps, local, shard, device, no_families, no_spectra, cleanup, hub_cache,
                    threads, stats, out_dir, executor, on_duplicate, no_progress, as_json)
    except KeyboardInterrupt:  # a SweepInterrupted was handled inside: this is before the sweep started
        startup_interrupted(ctx)


def run_weights(ctx, suite, models, steps, local, shard, device, no_families, no_spectra, cleanup, hub_cache,
                threads, stats, out_dir, executor_text, on_duplicate, no_progress, as_json):
    """The body of `scalefit weights` (see its help)."""
    from scalefit.sweep.checkpoints import cleanup_after_measuring, safetensors_loader
    from scalefit.sweep.engine import SweepInterrupted, sweep_checkpoints
    from scalefit.sweep.executors import parse_executor
    from scalefit.sweep.grid import sweep_grid
    from scalefit.sweep.measurements import build_measurements
    from scalefit.sweep.weights import check_stat_names, weights_device

    from scalefit.options import output_folder

    executor = parse_executor(executor_text, threads=threads)
    spec, grid, part = sweep_grid(suite, split_values(models), steps, shard, local)
    output_folder("--out", out_dir)
    if any((Path(out_dir) / "parts").glob("*/*/evals--*.parquet")):  # its report.md would replace the eval's
        raise InputError(f"--out {out_dir}: holds a scalefit eval sweep; measure weights into another folder, "
                         "or add --weights to that eval command (plots: scalefit weights plot --data "
                         f"{Path(out_dir) / 'weights.parquet'})")
    check_stat_names(split_values(stats, "--stat", "statistic", " (e.g. t_nu,alpha) or leave it out"), "--stat")
    import torch

    if threads:
        torch.set_num_threads(threads)
    on = weights_device(device)
    measurements = build_measurements({"weights": dict(device=on, fit_families=not no_families,
                                                       spectra=not no_spectra)})
    from scalefit.sweep.weights import check_weights_source, weights_record
    from scalefit.sweep.engine import recorded_options

    # the suite's checkpoints (a --checkpoint folder's rows carry no tokens): their tokens and LR
    members = [info.model for info in grid if info.tokens is not None]
    for m in measurements:  # the facts `eval --weights` records too: either resumes the other
        weights_record(m, torch.device(on).type if on else "cpu", spec, members)
        check_weights_source(recorded_options(out_dir).get(m.name) or {}, out_dir, m)
    from scalefit.sweep.runinfo import metadata_name, run_metadata, write_metadata

    # the run's facts, as scalefit eval records them (eval merge reads them); weights load as stored
    meta = run_metadata(device=on or "cpu", dtype=None, seed=None, suite=spec.name if spec else None,
                        grid_size=len(grid), shard=part,
                        options={"suite": suite, "models": list(models), "steps": steps, "checkpoint": list(local),
                                 "shard": shard, "no_families": no_families, "no_spectra": no_spectra,
                                 "out_dir": out_dir, "executor": executor_text, "on_duplicate": on_duplicate})

    def report(result):
        files = [write_metadata(result.meta, out_dir, metadata_name(part))]
        table = result.tables.get("weights")
        if table is None or table.empty:
            return files
        from scalefit.errors import known
        from scalefit.weightstats.report import write_weights_report

        wanted = split_values(stats) or DEFAULT_STATS
        from scalefit.derived_stats import with_derivable

        have = with_derivable(table["stat"].dropna().astype(str))
        absent = [s for s in wanted if s not in have]
        if absent and split_values(stats):  # a sweep's statistic this one skips (t_nu with --no-families)
            click.echo(f"note: --stat {', '.join(absent)}: not measured, so not plotted "
                       f"(known: {known(table['stat'].dropna())})", err=True)
        return files + list(write_weights_report(table, out_dir, stats=wanted,
                                                 checkpoints=[g for g in grid if g.path]))

    clean = cleanup_after_measuring(grid, hub_cache) if cleanup else None
    try:
        result = sweep_checkpoints(grid, measurements, out_dir, load=safetensors_loader(hub_cache),
                                   cleanup=clean, progress=not no_progress, tables=["weights"], report=report,
                                   meta=meta, executor=executor, on_duplicate=on_duplicate)
    except SweepInterrupted:
        interrupted_exit(ctx, out_dir)
    finally:
        if executor is not None:
            executor.close()
    if as_json:
        from scalefit.report import dumps

        click.echo(dumps(sweep_json(result, out_dir)))
    finish(ctx, result, "weights")


weights.add_command(plot_command)

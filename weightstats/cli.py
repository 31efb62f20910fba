"""`scalefit weights`: weight statistics of every checkpoint of a suite (or of local folders), and
`scalefit weights plot` for the figures. A thin shell over `weight_stats_table` and the evals
layer's sweep engine (same suite, steps, shard, resume and failure conventions as `scalefit eval`).
"""
from __future__ import annotations

import re
from pathlib import Path

import click

from scalefit.errors import InputError
from scalefit.options import json_option

DEFAULT_STATS = ("t_nu", "excess_kurtosis", "alpha")


def _split(values) -> list[str]:
    out = []
    for value in values or ():
        out += [v.strip() for v in str(value).split(",") if v.strip()]
    return out


def local_checkpoint(path: str):
    """A CheckpointInfo for a folder: model = parent folder and step from 'step<N>', else the folder."""
    from scalefit.sweep.checkpoints import CheckpointInfo

    p = Path(path)
    if not p.exists():
        raise InputError(f"--checkpoint {path}: no such folder or file")
    folder = p if p.is_dir() else p.parent
    hit = re.fullmatch(r"(?:step|checkpoint-?)(\d+)", folder.name)
    model, step = (folder.parent.name, int(hit.group(1))) if hit else (folder.name, 0)
    return CheckpointInfo(model=model, step=step, tokens=None, lr=None, path=str(p))


def checkpoints(suite, models, steps, shard, local) -> list:
    """The grid: a suite's (model, step) checkpoints (this shard) followed by local folders."""
    from scalefit.sweep.checkpoints import checkpoint_grid
    from scalefit.sweep.suites import load_suite, select_steps
    from scalefit.sweep.engine import parse_shard, shard_grid

    grid = []
    part = parse_shard(shard)
    if suite:
        spec = load_suite(suite)
        names = _split(models) or [m.name for m in spec.members]
        for name in names:
            spec.member(name)
        if not spec.steps:
            raise InputError(f"suite '{spec.name}': no checkpoint steps (none in the spec, none found on disk)")
        grid += checkpoint_grid(spec, names, select_steps(steps, spec.steps))
    elif models:
        raise InputError("--models needs --suite")
    grid += [local_checkpoint(p) for p in local]
    if not grid:
        raise InputError("nothing to measure: give --suite (with --models/--steps) or --checkpoint PATH")
    keys = [g.key for g in grid]
    if len(set(keys)) != len(keys):
        dup = next(k for k in keys if keys.count(k) > 1)
        raise InputError(f"two checkpoints have the same model and step ({dup}): rename a folder")
    return shard_grid(grid, part)


def safetensors_loader(hub_cache: str | None = None):
    """load(info) for the sweep: a local path as is, a hub revision downloaded as safetensors only."""
    def load(info):
        if info.path:
            if not Path(info.path).exists():
                raise FileNotFoundError(f"checkpoint {info.path} does not exist")
            return info.path, None
        from huggingface_hub import snapshot_download

        folder = snapshot_download(info.repo, revision=info.revision, cache_dir=hub_cache,
                                   allow_patterns=["*.safetensors", "*.safetensors.index.json", "config.json"])
        return folder, None
    return load


def weights_measurement(*, device=None, fit_families=True, spectra=True):
    """The sweep measurement: weight_stats_table of the loaded source, rows to the `weights` table
    (the same part name as `scalefit eval --weights`, so either command resumes the other)."""
    from scalefit.sweep.engine import Measurement
    from scalefit.weightstats.measure import weight_stats_table

    def measure(source, info):
        return weight_stats_table(source, model=info.model, step=info.step, device=device,
                                  fit_families=fit_families, spectra=spectra)

    return Measurement(name="weights", fn=measure, table="weights")


@click.group("weights", invoke_without_command=True, no_args_is_help=True,
             context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--suite", help="A shipped suite ('pythia') or a suite spec file (.toml/.json).")
@click.option("--models", multiple=True, help="Members to measure, by name or alias: 70m,160m. Default: all.")
@click.option("--steps", default="all", show_default=True,
              help="Checkpoints: all, log (log-spaced), START:STOP:EVERY, or a list 0,1000,143000.")
@click.option("--checkpoint", "local", multiple=True, type=click.Path(),
              help="A local checkpoint folder (safetensors) to measure; model = parent folder, step "
                   "from a 'step<N>' folder name. Repeatable.")
@click.option("--shard", metavar="K/N", help="Measure only shard K of N (0-based) of the checkpoint grid.")
@click.option("--device", default="auto", show_default=True, help="auto (CUDA when there is one), cpu, cuda ...")
@click.option("--no-families", is_flag=True, help="Skip the fitted families (moments and spectra only).")
@click.option("--no-spectra", is_flag=True, help="Skip the spectra (eigenvalues of W^T W).")
@click.option("--cleanup", is_flag=True, help="Delete each hub checkpoint from the local cache once measured.")
@click.option("--hub-cache", type=click.Path(file_okay=False), help="Hugging Face cache folder for checkpoints.")
@click.option("--threads", type=int, default=1, show_default=True, help="torch CPU threads.")
@click.option("--stat", "stats", multiple=True, help="Statistics to plot against step in the report "
              f"(default: {', '.join(DEFAULT_STATS)}).")
@click.option("--out", "out_dir", type=click.Path(file_okay=False),
              help="Sweep folder: parts/ (resumable), weights.parquet/.csv, report.md, plots.")
@click.option("--no-progress", is_flag=True, help="No progress bar.")
@json_option
@click.pass_context
def weights(ctx, suite, models, steps, local, shard, device, no_families, no_spectra, cleanup, hub_cache,
            threads, stats, out_dir, no_progress, as_json):
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
    grid = checkpoints(suite, models, steps, shard, local)
    import torch

    from scalefit.sweep.checkpoints import cleanup_checkpoint
    from scalefit.sweep.engine import collect_failures, collect_parts, run_sweep, write_failures, write_tables

    if threads:
        torch.set_num_threads(threads)
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else None
    elif device.startswith("cuda") and not torch.cuda.is_available():
        raise InputError(f"--device {device}: CUDA is not available on this machine")
    measurement = weights_measurement(device=device, fit_families=not no_families, spectra=not no_spectra)
    clean = (lambda info: cleanup_checkpoint(info, hub_cache)) if cleanup else None
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    interrupted = False
    try:
        summary = run_sweep(grid, [measurement], out_dir, load=safetensors_loader(hub_cache), cleanup=clean,
                            progress=not no_progress)
    except KeyboardInterrupt:
        interrupted, summary = True, None
    table = collect_parts([out_dir]).get("weights")
    failures = collect_failures([out_dir])
    files = []
    if table is not None:
        files += [str(p) for p in write_tables({"weights": table}, out_dir)]
    files.append(str(write_failures(failures, out_dir)))
    if table is not None and not table.empty:
        from scalefit.weightstats.report import write_weights_report

        files += [str(p) for p in write_weights_report(table, out_dir, stats=_split(stats) or DEFAULT_STATS,
                                                       checkpoints=[g for g in grid if g.path])]
    if interrupted:
        click.echo(f"interrupted: results so far are in {out_dir} (re-run the same command to resume)", err=True)
        ctx.exit(130)
    if as_json:
        from scalefit.report import dumps

        click.echo(dumps({"out": out_dir, "rows": 0 if table is None else int(len(table)),
                          "measured": summary.measured, "skipped": summary.skipped,
                          "failures": failures.to_dict("records"), "files": files}))
    from scalefit.sweep.report import finish_sweep
    finish_sweep(summary, failures, 0 if table is None else len(table), f"{out_dir}/weights.parquet",
                 out_dir)


@weights.command("plot")
@click.option("--data", "data_path", required=True, type=click.Path(dir_okay=False),
              help="A weights table (Parquet/CSV) from `scalefit weights`.")
@click.option("--stat", "stats", multiple=True, help="Statistics to plot against step (default: t_nu).")
@click.option("--group", "groups", multiple=True, help="Only these groups, e.g. mlp_in,attn_qkv.")
@click.option("--tensor", help="One tensor by name instead of the groups.")
@click.option("--checkpoint", type=click.Path(), help="A checkpoint folder: also plot the histogram of "
              "--hist (a group or tensor) with the fitted densities.")
@click.option("--hist", "hist_of", default="mlp_in", show_default=True, help="Group or tensor for the histogram.")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False), help="Folder for PNG and SVG.")
@json_option
def plot_command(data_path, stats, groups, tensor, checkpoint, hist_of, out_dir, as_json):
    """Plot statistics against step (log x) and, with --checkpoint, a histogram with fitted families."""
    from scalefit.report import dumps
    from scalefit.tables import read_table
    from scalefit.weightstats.report import histogram_plot, stat_plot

    table = read_table(data_path)
    files = []
    for stat in _split(stats) or ["t_nu"]:
        files += stat_plot(table, stat, out_dir, groups=_split(groups) or None, tensor=tensor)
    if checkpoint:
        files += histogram_plot(checkpoint, hist_of, out_dir)
    files = [str(f) for f in files]
    if as_json:
        click.echo(dumps({"files": files}))
    else:
        click.echo("wrote " + ", ".join(files), err=True)

"""Evaluate a suite end to end: pick checkpoints, build measurements, sweep, write tables and report.

This is what `scalefit eval` runs, as one plain function a notebook can call too. The sweep's
per-checkpoint parts are the record; the consolidated tables (`evals`, `weights`), `failures.csv`,
`evals_wide.csv`, `report.md` and the run metadata are rebuilt from them at the end of every run,
including an interrupted one.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import pandas as pd

from scalefit.errors import InputError
from scalefit.sweep.checkpoints import checkpoint_grid, cleanup_checkpoint, load_checkpoint, pick_device_dtype
from scalefit.sweep.suites import load_suite, select_steps
from scalefit.evals.tokens import TOKEN_SUFFIXES, iter_documents, open_token_file
from scalefit.sweep.engine import (collect_failures, collect_parts, parse_shard, run_sweep, shard_grid,
                                  write_failures, write_tables)


@dataclass
class EvalOptions:
    """Everything a sweep of `scalefit eval` can be told (defaults as on the command line)."""

    suite: str
    out_dir: str
    models: list[str] | None = None
    steps: str = "all"
    datasets: list[str] = field(default_factory=list)   # NAME=PATH
    train_dataset: str | None = None
    text_field: str = "text"                            # JSONL field holding a document
    tasks: list[str] = field(default_factory=list)      # NAME or NAME=FILE.jsonl
    task_limit: int | None = None
    num_fewshot: int | None = None
    weights: bool = False
    max_tokens: int | None = None
    context: int | None = None
    stride: int | None = None
    batch_size: int | None = None
    device: str | None = None
    dtype: str | None = None
    allow_bin: bool = False
    cleanup: bool = False
    shard: str | None = None
    cache_dir: str | None = None
    hub_cache: str | None = None
    seed: int = 0
    progress: bool = True


def _positive(name: str, value):
    if value is not None and int(value) < 1:
        raise InputError(f"--{name} {value}: must be a positive integer")


def plan(opts: EvalOptions):
    """Validate the options before anything loads: (suite, grid of this shard, measurements, device, dtype)."""
    from scalefit.evals.measures import loss_measurement, parse_dataset, weights_measurement

    for name in ("max_tokens", "context", "stride", "batch_size", "task_limit"):
        _positive(name.replace("_", "-"), getattr(opts, name))
    if opts.stride and opts.context and opts.stride > opts.context:
        raise InputError(f"--stride {opts.stride} is longer than --context {opts.context}")
    suite = load_suite(opts.suite)
    models = opts.models or [m.name for m in suite.members]
    for name in models:
        suite.member(name)
    if not suite.steps:
        raise InputError(f"suite '{suite.name}': no checkpoint steps (none in the spec, none found on disk)")
    steps = select_steps(opts.steps, suite.steps)
    shard = parse_shard(opts.shard)
    grid = shard_grid(checkpoint_grid(suite, models, steps), shard)
    datasets = [replace(parse_dataset(d, opts.train_dataset), text_field=opts.text_field) for d in opts.datasets]
    names = [d.name for d in datasets]
    if len(set(names)) != len(names):
        raise InputError(f"--dataset: each name once, got {', '.join(names)}")
    for d in datasets:  # token files and JSONL fields are checked now, not once per checkpoint
        if d.path.is_file() and (d.path.suffix.lower() in TOKEN_SUFFIXES or d.token_dtype):
            open_token_file(d.path, d.token_dtype)
        elif d.path.suffix.lower() == ".jsonl":
            next(iter_documents(d.path, d.text_field), None)
    if opts.train_dataset and opts.train_dataset not in names:
        raise InputError(f"--train-dataset {opts.train_dataset}: no --dataset has that name "
                         f"(given: {', '.join(names) or 'none'})")
    if not (datasets or opts.tasks or opts.weights):
        raise InputError("nothing to measure: give --dataset NAME=PATH, --tasks or --weights")
    device, dtype = pick_device_dtype(opts.device, opts.dtype)
    cache_dir = opts.cache_dir or str(Path(opts.out_dir) / "token-cache")
    context = opts.context or suite.context_length
    measurements = [loss_measurement(d, cache_dir=cache_dir, context=context, stride=opts.stride,
                                     max_tokens=opts.max_tokens, batch_size=opts.batch_size) for d in datasets]
    if opts.tasks:
        from scalefit.evals.downstream import parse_task, tasks_measurement

        specs = [parse_task(t) for t in opts.tasks]
        measurements.append(tasks_measurement(specs, limit=opts.task_limit, num_fewshot=opts.num_fewshot,
                                              seed=opts.seed, batch_size=opts.batch_size or 8))
    if opts.weights:
        measurements.append(weights_measurement())
    return suite, grid, measurements, device, dtype, shard


def consolidate(out_dir, meta: dict) -> dict[str, pd.DataFrame]:
    """Rebuild the tables, failures.csv, evals_wide.csv, report and metadata from the parts on disk."""
    from scalefit.sweep.runinfo import metadata_name, write_metadata
    from scalefit.sweep.report import wide_evals, write_report

    tables = collect_parts([out_dir])
    failures = collect_failures([out_dir])
    write_tables(tables, out_dir)
    write_failures(failures, out_dir)
    evals = tables.get("evals", pd.DataFrame())
    wide_evals(evals).to_csv(Path(out_dir) / "evals_wide.csv", index=False)
    write_report(out_dir, evals, failures, meta, extra_tables={k for k in tables if k != "evals"})
    write_metadata(meta, out_dir, metadata_name(parse_shard(meta.get("shard"))))
    return {**tables, "failures": failures}


def evaluate(opts: EvalOptions) -> dict:
    """Run the sweep of `opts`; returns summary, metadata and tables (also written to opts.out_dir)."""
    import torch

    from scalefit.sweep.runinfo import now, run_metadata

    suite, grid, measurements, device, dtype, shard = plan(opts)
    torch.manual_seed(opts.seed)
    options = {k: v for k, v in vars(opts).items() if k not in ("progress",)}
    meta = run_metadata(device=device, dtype=dtype, seed=opts.seed, options=options, suite=suite.name,
                        grid_size=len(grid), shard=shard)
    Path(opts.out_dir).mkdir(parents=True, exist_ok=True)

    def load(info):
        return load_checkpoint(info, device, dtype, allow_bin=opts.allow_bin, cache_dir=opts.hub_cache)

    cleanup = (lambda info: cleanup_checkpoint(info, opts.hub_cache)) if opts.cleanup else None
    interrupted = False
    try:
        summary = run_sweep(grid, measurements, opts.out_dir, load=load, cleanup=cleanup,
                            progress=opts.progress)
    except KeyboardInterrupt:
        interrupted, summary = True, None
    meta.update({"finished": now(), "interrupted": interrupted})
    if summary is not None:
        meta.update({"measured": len(summary.measured), "skipped": len(summary.skipped),
                     "failed": len(summary.failed), "seconds": round(summary.seconds, 3)})
    tables = consolidate(opts.out_dir, meta)
    if interrupted:
        raise KeyboardInterrupt
    return {"summary": summary, "meta": meta, "tables": tables}


def merge(dirs, out_dir) -> dict:
    """Consolidate sweep folders (shards) into one set of tables, report and run.json in out_dir."""
    from scalefit.sweep.runinfo import now, read_metadata

    dirs = [str(d) for d in dirs]
    for d in dirs:
        if not (Path(d) / "parts").is_dir():
            raise InputError(f"{d}: not a sweep folder (no parts/ inside)")
    runs = read_metadata(dirs)
    meta = {"merged": now(), "folders": dirs, "runs": runs,
            "suite": ", ".join(sorted({str(r.get("suite")) for r in runs})) or None,
            "device": ", ".join(sorted({str(r.get("device")) for r in runs})) or None,
            "dtype": ", ".join(sorted({str(r.get("dtype")) for r in runs})) or None,
            "seed": ", ".join(sorted({str(r.get("seed")) for r in runs})) or None, "shard": None}
    from scalefit.sweep.engine import merge_sweeps
    from scalefit.sweep.runinfo import write_metadata
    from scalefit.sweep.report import wide_evals, write_report

    tables = merge_sweeps(dirs, out_dir)
    failures = tables.pop("failures")
    evals = tables.get("evals", pd.DataFrame())
    meta["rows"] = {k: len(v) for k, v in tables.items()}
    meta["failed"] = len(failures)
    meta["measured"] = int(evals[["model", "step"]].drop_duplicates().shape[0]) if not evals.empty else 0
    wide_evals(evals).to_csv(Path(out_dir) / "evals_wide.csv", index=False)
    write_report(out_dir, evals, failures, meta, extra_tables={k for k in tables if k != "evals"})
    write_metadata(meta, out_dir, "run.json")
    return {"meta": meta, "tables": {**tables, "failures": failures}}

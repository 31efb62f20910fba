"""The sweep engine: one loop over (model, step) checkpoints, each loaded once for every measurement.

A `Measurement` is any function `(model, CheckpointInfo) -> DataFrame` (a loss on a dataset,
downstream tasks, weight statistics) with the table its rows go to; `scalefit.sweep.measurements`
registers the kinds by name. `sweep_checkpoints` is the one function `scalefit eval` and
`scalefit weights` run: measure what is missing (resumable, see `sweep.parts`), then rebuild the
tables from the parts on disk, also after Ctrl-C. The engine knows nothing of any particular suite.
"""
from __future__ import annotations

import gc
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import pandas as pd

from scalefit.atomic import sweep_stale, write_frame, write_json
from scalefit.errors import InputError
from scalefit.sweep.checkpoints import CheckpointInfo, load_checkpoint
from scalefit.sweep.grid import parse_shard, shard_grid  # noqa: F401  (re-exported)
from scalefit.sweep.parts import (collect_failures, collect_parts, failure_path, merge_sweeps,  # noqa: F401
                                  part_path, write_failures, write_tables)

MeasureFn = Callable[[Any, CheckpointInfo], pd.DataFrame]
ROW_KEYS = ("model", "step", "tokens", "lr", "params", "params_nonembed")


@dataclass
class Measurement:
    """A named measurement of a loaded model; its rows go to output table `table`."""

    name: str
    fn: MeasureFn
    table: str = "evals"


@dataclass
class SweepSummary:
    """What a sweep did: checkpoints measured, skipped as already done, and failures with errors."""

    measured: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: list[dict] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        """True when no checkpoint failed."""
        return not self.failed


@dataclass
class SweepResult:
    """A finished (or interrupted) sweep: what it did, the tables rebuilt from its folder, the
    checkpoints whose latest attempt failed, its run metadata and the files written."""

    out_dir: str
    summary: SweepSummary | None            # None when interrupted
    tables: dict[str, pd.DataFrame]          # e.g. {"evals": ..., "weights": ...}
    failures: pd.DataFrame                   # model, step, location, error
    meta: dict = field(default_factory=dict)
    files: list[Path] = field(default_factory=list)
    interrupted: bool = False

    @property
    def ok(self) -> bool:
        """True when the sweep ran to its end and no checkpoint of the folder failed."""
        return not self.interrupted and self.failures.empty


class SweepInterrupted(KeyboardInterrupt):
    """Ctrl-C during a sweep, raised after the tables were rebuilt from what was measured."""

    def __init__(self, result: SweepResult):
        super().__init__(f"interrupted: results so far are in {result.out_dir}")
        self.result = result


def _with_keys(df: pd.DataFrame, info: CheckpointInfo) -> pd.DataFrame:
    """Rows carrying the checkpoint's keys and facts (model, step, tokens, lr, params...)."""
    df = df.copy()
    for position, key in enumerate(ROW_KEYS):
        value = getattr(info, key)
        if key in df.columns:
            df[key] = df[key].fillna(value) if value is not None else df[key]
        else:
            df.insert(min(position, len(df.columns)), key, value)
    return df


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"[:500]


def run_sweep(grid: list[CheckpointInfo], measurements: list[Measurement], out_dir, *,
              load: Callable = load_checkpoint, cleanup: Callable | None = None,
              progress: bool = True) -> SweepSummary:
    """Measure every checkpoint of `grid` with every measurement, resuming from `out_dir`.

    `load(info)` returns (model, tokenizer) and may raise: the error is recorded in
    `out_dir/failures/` and the sweep goes on. `cleanup(info)` runs after a checkpoint is measured
    (e.g. delete it from the hub cache).
    """
    from tqdm import tqdm

    names = [m.name for m in measurements]
    if len(set(names)) != len(names):
        raise InputError(f"sweep: measurement names must be unique, got {names}")
    out_dir = Path(out_dir)
    summary = SweepSummary()
    start = time.perf_counter()
    pending = []
    for info in grid:  # what a previous run finished is skipped up front, so the ETA is honest
        todo = [m for m in measurements if not part_path(out_dir, info, m).exists()]
        if todo:
            pending.append((info, todo))
        else:
            summary.skipped.append(info.key)
            failure_path(out_dir, info).unlink(missing_ok=True)
    bar = tqdm(total=len(grid), initial=len(summary.skipped), unit="ckpt", disable=not progress,
               dynamic_ncols=True, file=sys.stderr)
    tokens_done, busy = 0, 0.0
    for info, todo in pending:
        bar.set_description(f"{info.model} step {info.step}")
        t0 = time.perf_counter()
        sweep_stale(part_path(out_dir, info, todo[0]).parent)  # what a killed run left half-written
        model = None
        try:
            model, _tok = load(info)
            for m in todo:
                rows = m.fn(model, info)
                rows = _with_keys(rows if rows is not None else pd.DataFrame(), info)
                write_frame(rows, part_path(out_dir, info, m))
                if "metric" in rows and "n_tokens" in rows:
                    tokens_done += int(rows.loc[rows["metric"] == "loss", "n_tokens"].fillna(0).sum())
            failure_path(out_dir, info).unlink(missing_ok=True)
            summary.measured.append(info.key)
        except KeyboardInterrupt:
            raise
        except Exception as exc:  # noqa: BLE001 - any loader/measurement failure is recorded
            record = {"model": info.model, "step": info.step, "location": info.location,
                      "error": _one_line(exc), "traceback": traceback.format_exc(limit=5)}
            write_json(failure_path(out_dir, info), record)
            summary.failed.append({k: record[k] for k in ("model", "step", "location", "error")})
            tqdm.write(f"failed: {info.model} step {info.step}: {record['error']}", file=sys.stderr)
        finally:
            del model
            gc.collect()
            _empty_cuda_cache()
        if cleanup is not None and info.key in summary.measured:
            cleanup(info)
        busy += time.perf_counter() - t0
        bar.update(1)
        if busy > 0 and tokens_done:
            bar.set_postfix_str(f"{tokens_done / busy:,.0f} tok/s")
    bar.close()
    summary.seconds = time.perf_counter() - start
    return summary


def _empty_cuda_cache() -> None:
    torch = sys.modules.get("torch")  # only a loaded model can hold CUDA memory
    if torch is not None and torch.cuda.is_available():
        torch.cuda.empty_cache()


def sweep_checkpoints(grid: list[CheckpointInfo], measurements: list[Measurement], out_dir, *,
                      load: Callable = load_checkpoint, cleanup: Callable | None = None,
                      progress: bool = True, meta: dict | None = None, tables=None,
                      report: Callable[[SweepResult], list] | None = None) -> SweepResult:
    """Measure `grid` with `measurements` into `out_dir` (resumable), then rebuild its tables.

    The tables (`tables`: names to write, default every table found), `failures.csv` and the
    `report(result)` files are rebuilt from the parts on disk at the end of every run. `meta`
    (the run metadata) gains the outcome: finished, interrupted, counts, seconds. On Ctrl-C the
    tables are still rebuilt from what was measured, then `SweepInterrupted` (a
    KeyboardInterrupt carrying the result) is raised.
    """
    from scalefit.sweep.runinfo import now

    Path(out_dir).mkdir(parents=True, exist_ok=True)
    meta = {} if meta is None else meta
    interrupted, summary = False, None
    try:
        summary = run_sweep(grid, measurements, out_dir, load=load, cleanup=cleanup, progress=progress)
    except KeyboardInterrupt:
        interrupted = True
    meta.update({"finished": now(), "interrupted": interrupted})
    if summary is not None:
        meta.update({"measured": len(summary.measured), "skipped": len(summary.skipped),
                     "failed": len(summary.failed), "seconds": round(summary.seconds, 3)})
    found = collect_parts([out_dir])
    if tables is not None:
        found = {name: found[name] for name in tables if name in found}
    failures = collect_failures([out_dir])
    result = SweepResult(out_dir=str(out_dir), summary=summary, tables=found, failures=failures,
                         meta=meta, interrupted=interrupted)
    result.files = [*write_tables(found, out_dir), write_failures(failures, out_dir)]
    if report is not None:
        result.files += list(report(result))
    if interrupted:
        raise SweepInterrupted(result)
    return result

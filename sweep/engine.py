"""The sweep engine: one loop over (model, step) checkpoints, each loaded once for every measurement.

A measurement is any function `(model, CheckpointInfo) -> DataFrame` (a loss on a dataset,
downstream tasks, weight statistics). Each (checkpoint, measurement) result is its own file,
written atomically, so a sweep killed at any moment loses at most the checkpoint in progress, a
re-run measures only what is missing, and no row is ever written twice. The engine knows nothing
of any particular suite.
"""
from __future__ import annotations

import gc
import json
import os
import re
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import pandas as pd

from scalefit.errors import InputError
from scalefit.sweep.checkpoints import CheckpointInfo, load_checkpoint

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


def parse_shard(text: str | None) -> tuple[int, int]:
    """'K/N' (K from 0 to N-1) as (K, N); None means the whole grid (0, 1)."""
    if not text:
        return 0, 1
    hit = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", str(text))
    if not hit or int(hit.group(2)) < 1 or int(hit.group(1)) >= int(hit.group(2)):
        raise InputError(f"--shard '{text}': use K/N with 0 <= K < N, e.g. 0/4")
    return int(hit.group(1)), int(hit.group(2))


def shard_grid(grid: list, shard: tuple[int, int]) -> list:
    """Every N-th checkpoint starting at K: shards are disjoint and together cover the grid."""
    k, n = shard
    return grid[k::n]


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._=+-]", "_", name)


def part_path(out_dir, info: CheckpointInfo, measurement: Measurement) -> Path:
    """Result file of one measurement of one checkpoint."""
    return Path(out_dir) / "parts" / info.key / f"{measurement.table}--{_safe(measurement.name)}.parquet"


def failure_path(out_dir, info: CheckpointInfo) -> Path:
    """Where the error of a failed checkpoint is recorded (removed once it succeeds)."""
    return Path(out_dir) / "failures" / f"{info.key}.json"


def _atomic_parquet(df: pd.DataFrame, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    df.to_parquet(tmp, index=False)
    os.replace(tmp, path)


def _atomic_json(obj, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    tmp.write_text(json.dumps(obj, indent=2, default=str))
    os.replace(tmp, path)


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
        model = None
        try:
            model, _tok = load(info)
            for m in todo:
                rows = m.fn(model, info)
                rows = _with_keys(rows if rows is not None else pd.DataFrame(), info)
                _atomic_parquet(rows, part_path(out_dir, info, m))
                if "metric" in rows and "n_tokens" in rows:
                    tokens_done += int(rows.loc[rows["metric"] == "loss", "n_tokens"].fillna(0).sum())
            failure_path(out_dir, info).unlink(missing_ok=True)
            summary.measured.append(info.key)
        except KeyboardInterrupt:
            raise
        except Exception as exc:  # noqa: BLE001 - any loader/measurement failure is recorded
            record = {"model": info.model, "step": info.step, "location": info.location,
                      "error": _one_line(exc), "traceback": traceback.format_exc(limit=5)}
            _atomic_json(record, failure_path(out_dir, info))
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
    try:
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    except ImportError:  # pragma: no cover
        pass


def collect_parts(dirs) -> dict[str, pd.DataFrame]:
    """All result files under one or more sweep folders, concatenated per output table.

    The same (checkpoint, measurement) file found in several folders is taken once.
    """
    seen: dict[tuple[str, str], Path] = {}
    for d in dirs:
        root = Path(d) / "parts"
        if not Path(d).is_dir():
            raise InputError(f"{d}: sweep folder not found")
        for path in sorted(root.rglob("*.parquet")):
            key = (str(path.parent.relative_to(root)), path.name)
            seen.setdefault(key, path)
    tables: dict[str, list[pd.DataFrame]] = {}
    for (_, name), path in sorted(seen.items()):
        table = name.split("--", 1)[0]
        df = pd.read_parquet(path)
        if len(df):
            tables.setdefault(table, []).append(df)
    return {t: pd.concat(frames, ignore_index=True).sort_values(["model", "step"], kind="stable")
            .reset_index(drop=True) for t, frames in tables.items()}


def collect_failures(dirs) -> pd.DataFrame:
    """Checkpoints whose latest attempt failed, across sweep folders.

    A failure is dropped when any folder holds a result of that checkpoint written after it
    (the checkpoint was measured later, e.g. by a re-run into another folder).
    """
    rows = []
    for d in dirs:
        for path in sorted((Path(d) / "failures").rglob("*.json")):
            key = path.relative_to(Path(d) / "failures").with_suffix("")
            failed_at = path.stat().st_mtime_ns
            if any(p.stat().st_mtime_ns > failed_at for e in dirs for p in (Path(e) / "parts" / key).glob("*.parquet")):
                continue
            record = json.loads(path.read_text())
            rows.append({k: record.get(k) for k in ("model", "step", "location", "error")})
    return pd.DataFrame(rows, columns=["model", "step", "location", "error"]).drop_duplicates(["model", "step"])


def write_tables(tables: dict[str, pd.DataFrame], out_dir) -> list[Path]:
    """Each table as Parquet and CSV in out_dir (atomically); returns the paths written."""
    paths = []
    for name, df in tables.items():
        for ext in ("parquet", "csv"):
            path = Path(out_dir) / f"{name}.{ext}"
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(path.name + f".tmp{os.getpid()}")  # shards may share a folder
            df.to_parquet(tmp, index=False) if ext == "parquet" else df.to_csv(tmp, index=False)
            os.replace(tmp, path)
            paths.append(path)
    return paths


def merge_sweeps(dirs, out_dir) -> dict[str, pd.DataFrame]:
    """Consolidate shard folders into one set of tables (evals, weights, failures) in out_dir."""
    tables = collect_parts(dirs)
    failures = collect_failures(dirs)
    write_tables(tables, out_dir)
    write_failures(failures, out_dir)
    return {**tables, "failures": failures}


def write_failures(failures: pd.DataFrame, out_dir) -> Path:
    """failures.csv: one row per checkpoint whose latest attempt failed (header only if none)."""
    path = Path(out_dir) / "failures.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    failures.to_csv(tmp, index=False)
    os.replace(tmp, path)
    return path

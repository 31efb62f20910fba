"""A sweep folder on disk: one result file per (checkpoint, measurement), failures, and merging.

Each (checkpoint, measurement) result is its own Parquet file under `parts/`, written atomically,
so a sweep killed at any moment loses at most the checkpoint in progress, a re-run measures only
what is missing, and shards (or repeated runs) merge by taking each file once.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd

from scalefit.atomic import write_frame
from scalefit.errors import InputError

FAILURE_COLUMNS = ["model", "step", "location", "error"]


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._=+-]", "_", name)


def part_path(out_dir, info, measurement) -> Path:
    """Result file of one measurement of one checkpoint."""
    return Path(out_dir) / "parts" / info.key / f"{measurement.table}--{_safe(measurement.name)}.parquet"


def failure_path(out_dir, info) -> Path:
    """Where the error of a failed checkpoint is recorded (removed once it succeeds)."""
    return Path(out_dir) / "failures" / f"{info.key}.json"


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
            rows.append({k: record.get(k) for k in FAILURE_COLUMNS})
    return pd.DataFrame(rows, columns=FAILURE_COLUMNS).drop_duplicates(["model", "step"])


def write_tables(tables: dict[str, pd.DataFrame], out_dir) -> list[Path]:
    """Each table as Parquet and CSV in out_dir (atomically); returns the paths written."""
    return [write_frame(df, Path(out_dir) / f"{name}.{ext}")
            for name, df in tables.items() for ext in ("parquet", "csv")]


def write_failures(failures: pd.DataFrame, out_dir) -> Path:
    """failures.csv: one row per checkpoint whose latest attempt failed (header only if none)."""
    return write_frame(failures, Path(out_dir) / "failures.csv")


def merge_sweeps(dirs, out_dir) -> dict[str, pd.DataFrame]:
    """Consolidate shard folders into one set of tables (evals, weights, failures) in out_dir."""
    tables = collect_parts(dirs)
    failures = collect_failures(dirs)
    write_tables(tables, out_dir)
    write_failures(failures, out_dir)
    return {**tables, "failures": failures}

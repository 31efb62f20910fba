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

from scalefit.atomic import file_version, write_frame
from scalefit.errors import InputError, warn

FAILURE_COLUMNS = ["model", "step", "location", "error"]


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._=+-]", "_", name)


def _part_name(measurement) -> str:
    """The file name of a measurement's result for one checkpoint (in its folder under parts/)."""
    return f"{measurement.table}--{_safe(measurement.name)}.parquet"


def measurement_of(file_name: str) -> str:
    """The measurement a result file holds, as its name spells it: 'loss_val' of
    'evals--loss_val.parquet'."""
    return file_name.removesuffix(".parquet").split("--", 1)[-1]


def key_name(key: str) -> str:
    """'tiny-a step 8' for the checkpoint key 'tiny-a/step0000008'."""
    model, _, step = key.rpartition("/step")
    return f"{model.replace('__', '/')} step {int(step)}" if step.isdigit() else key


def named_parts(file_names, measurements) -> set[str]:
    """The result file names among `file_names` that hold one of `measurements` (names as a sweep
    records them: 'loss:val')."""
    wanted = {_safe(m) for m in measurements}
    return {name for name in file_names if measurement_of(name) in wanted}


def part_path(out_dir, info, measurement) -> Path:
    """Result file of one measurement of one checkpoint."""
    return Path(out_dir) / "parts" / info.key / _part_name(measurement)


def result_files(out_dir, measurement) -> list[Path]:
    """The complete result files of `measurement` in `out_dir`, of every checkpoint, in name order."""
    return [p for p in sorted((Path(out_dir) / "parts").rglob(_part_name(measurement))) if part_is_valid(p)]


def has_results(out_dir, measurement) -> bool:
    """Whether any checkpoint of the folder has a complete result file of `measurement`."""
    return any(part_is_valid(p) for p in (Path(out_dir) / "parts").rglob(_part_name(measurement)))


def has_model_results(out_dir, measurement, model: str) -> bool:
    """Whether any checkpoint of `model` in the folder has a complete result file of `measurement`."""
    from scalefit.sweep.checkpoints import CheckpointInfo

    folder = CheckpointInfo(model=model, step=0, tokens=None, lr=None).key.rpartition("/")[0]
    return any(part_is_valid(p) for p in (Path(out_dir) / "parts" / folder).glob(f"*/{_part_name(measurement)}"))


def part_is_valid(path) -> bool:
    """A complete Parquet file: the 'PAR1' magic at both ends (not empty, not cut short)."""
    path = Path(path)
    try:
        size = path.stat().st_size
        if size < 12:
            return False
        with open(path, "rb") as fh:
            head = fh.read(4)
            fh.seek(-4, 2)
            return head == b"PAR1" and fh.read(4) == b"PAR1"
    except OSError:
        return False


_COLUMNS_HELD: dict[Path, tuple[tuple, frozenset[str]]] = {}  # path -> (file_version, names)


def held_columns(path) -> frozenset[str]:
    """The column names of a complete result file, from its Parquet footer (not the rows), read
    once per process and file version (atomic.file_version): a sweep's start asks for every
    result file twice (`say_outdated`, then `pending_measurements`), about 0.4 ms a footer."""
    import pyarrow.parquet as pq

    path = Path(path)
    version = file_version(path)
    known = _COLUMNS_HELD.get(path)
    if known is None or known[0] != version:
        known = _COLUMNS_HELD[path] = (version, frozenset(pq.read_schema(path).names))
    return known[1]


def missing_columns(path, columns) -> list[str]:
    """The `columns` a complete result file does not hold (an older scalefit wrote it before its
    measurement gained them)."""
    if not columns:
        return []
    held = held_columns(path)
    return [c for c in columns if c not in held]


def outdated_parts(out_dir, measurement) -> list[Path]:
    """The complete result files of `measurement` in `out_dir` that lack one of its `columns`."""
    return [p for p in result_files(out_dir, measurement) if missing_columns(p, measurement.columns)]


def set_aside(path, out_dir) -> Path:
    """Move a damaged result file to `out_dir/corrupt/` (kept for inspection); its new path."""
    path = Path(path)
    root = Path(out_dir) / "parts"
    try:
        rel = path.relative_to(root)
    except ValueError:
        rel = Path(path.name)
    stat = path.stat()
    target = Path(out_dir) / "corrupt" / rel.parent / f"{rel.name}.{stat.st_mtime_ns}"
    target.parent.mkdir(parents=True, exist_ok=True)
    path.replace(target)
    warn(f"{path}: damaged result file ({stat.st_size} bytes) set aside as {target}; "
          "that checkpoint is measured again")
    return target


def fingerprint_path(out_dir, info) -> Path:
    """The checkpoint's weight fingerprint (one row; see scalefit.sweep.integrity)."""
    return Path(out_dir) / "fingerprints" / f"{info.key}.parquet"


def collect_fingerprints(dirs) -> pd.DataFrame | None:
    """The fingerprints of every checkpoint under the sweep folders (one row per (model, step)),
    or None when there are none."""
    frames = [pd.read_parquet(p) for d in dirs for p in sorted((Path(d) / "fingerprints").rglob("*.parquet"))
              if part_is_valid(p)]
    if not frames:
        return None
    return (concat_parts(frames).drop_duplicates(["model", "step"], keep="last")
            .sort_values(["model", "step"], kind="stable").reset_index(drop=True))


def failure_path(out_dir, info) -> Path:
    """Where the error of a failed checkpoint is recorded (removed once it succeeds)."""
    return Path(out_dir) / "failures" / f"{info.key}.json"


def _holds_integers(column: pd.Series) -> bool | None:
    """Whether a part's column holds whole-number counts (an integer dtype, or Python ints beside
    None); None when it holds no value at all (a column that says nothing either way)."""
    values = column.dropna()
    if values.empty:
        return None
    if pd.api.types.is_bool_dtype(column):
        return False
    if pd.api.types.is_integer_dtype(column):
        return True
    return column.dtype == object and pd.api.types.infer_dtype(values, skipna=True) == "integer"


def concat_parts(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """The parts of one table as one frame whose counts stay integers.

    A column that is an integer in every part holding a value of it (context and stride of the
    loss rows, n_examples of the task rows, n_tokens, a fingerprint's n_bytes) is int64, or pandas'
    nullable Int64 where some rows lack it: a plain concat made it float ("64.0" in the CSV),
    or an object column of ints and None. A column already integer, or with no value at all, is
    not looked at part by part, and the look stops at the first part holding other values (the
    losses, the names): a resumed Pythia-sized sweep asked each of its 2,464 parts about every
    column, 7 s of a table's 7.8 s."""
    table = pd.concat(frames, ignore_index=True)
    for name in table.columns:
        column = table[name]
        if pd.api.types.is_integer_dtype(column) or not column.notna().any():
            continue
        seen = set()
        for frame in frames:
            if name in frame.columns:
                seen.add(_holds_integers(frame[name]))
                if False in seen:
                    break
        if True in seen and False not in seen:
            table[name] = column.astype("Int64" if column.isna().any() else "int64")
    return table


def found_parts(dirs) -> dict[tuple[str, str], Path]:
    """{(checkpoint key, result file name): path} of the complete result files under one or more
    sweep folders, each (checkpoint, measurement) once (the first folder's); a damaged one is left
    out with a warning."""
    seen: dict[tuple[str, str], Path] = {}
    for d in dirs:
        root = Path(d) / "parts"
        if not Path(d).is_dir():
            raise InputError(f"{d}: sweep folder not found")
        for path in sorted(root.rglob("*.parquet")):
            key = (str(path.parent.relative_to(root)), path.name)
            if part_is_valid(path):
                seen.setdefault(key, path)
            else:
                warn(f"{path}: damaged result file ({path.stat().st_size} bytes) left out; "
                      "re-run the sweep of that folder to measure it again")
    return seen


def collect_parts(dirs, found: dict | None = None) -> dict[str, pd.DataFrame]:
    """All result files under one or more sweep folders (or those `found_parts` found there),
    concatenated per output table.

    The same (checkpoint, measurement) file found in several folders is taken once.
    """
    seen = found_parts(dirs) if found is None else found
    tables: dict[str, list[pd.DataFrame]] = {}
    for (_, name), path in sorted(seen.items()):
        table = name.split("--", 1)[0]
        df = pd.read_parquet(path)
        if len(df):
            tables.setdefault(table, []).append(df)
    return {t: concat_parts(frames).sort_values(["model", "step"], kind="stable")
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


def incomplete_checkpoints(found: dict, failures: pd.DataFrame | None = None,
                           judged: dict[str, set[str]] | None = None) -> tuple[int, dict[str, list[str]]]:
    """(checkpoints holding every measurement, {checkpoint: the measurements it lacks}) of the result
    files `found_parts` found: a checkpoint counts as measured only when it has each measurement
    the folders hold of any checkpoint (a shard stopped mid-checkpoint leaves its val loss without
    its test loss or weights). With `judged` ({checkpoint key: the result file names held in the
    folder(s) of that checkpoint whose sweep was stopped}), only those checkpoints are judged, each
    against the measurements of its own folder; every other one counts as measured (its finished
    sweep measured what it was asked: a dataset added for a few steps leaves the rest without
    it). Checkpoints named "model step N";
    `failures`' are left out (counted as failed)."""
    held: dict[str, set[str]] = {}
    for key, name in found:
        held.setdefault(key, set()).add(name)
    every = set().union(*held.values()) if held else set()
    from scalefit.sweep.checkpoints import CheckpointInfo

    failed = {CheckpointInfo(model=str(m), step=int(s), tokens=None, lr=None).key for m, s in
              (failures[["model", "step"]].itertuples(index=False) if failures is not None and len(failures) else ())}
    complete, lacking = 0, {}
    for key, names in sorted(held.items()):
        lacks = every - names if judged is None else judged.get(key, set()) - names
        if not lacks:
            complete += 1
        elif key not in failed:
            lacking[key_name(key)] = sorted(map(measurement_of, lacks))
    return complete, lacking


def merge_sweeps(dirs, out_dir, found: dict | None = None) -> dict[str, pd.DataFrame]:
    """Consolidate shard folders into one set of tables (evals, weights, fingerprints, failures,
    integrity flags) in out_dir (of the result files `found`, where `found_parts` was asked already)."""
    from scalefit.integrity import integrity_flags, marked_duplicates

    tables = collect_parts(dirs, found)
    fingerprints = collect_fingerprints(dirs)
    if fingerprints is not None:
        tables["fingerprints"] = fingerprints
    failures = collect_failures(dirs)
    flags = integrity_flags(fingerprints)
    tables = marked_duplicates(tables, flags)
    write_tables(tables, out_dir)
    write_failures(failures, out_dir)
    write_frame(flags, Path(out_dir) / "integrity.csv")
    return {**tables, "failures": failures, "integrity": flags}

"""Reading tables (CSV, Parquet, JSON) into DataFrames, with errors that name the file.

Validation of a table's contents belongs to the layer that knows its shape (e.g.
``scalefit.scaling.laws.runtable``); this module only gets the rows off disk.
"""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from scalefit.atomic import write_frame
from scalefit.errors import InputError

READERS = {".csv": "csv", ".tsv": "tsv", ".parquet": "parquet", ".pq": "parquet",
           ".json": "json", ".jsonl": "jsonl"}


def read_table(path) -> pd.DataFrame:
    """Load a CSV/TSV, Parquet, JSON (records or columns) or JSONL file as a DataFrame whose
    index is the file's row order (so messages can name a row); a named index stored in a
    Parquet file becomes a column."""
    df = _read(path)
    if not isinstance(df.index, pd.RangeIndex) or df.index.start != 0 or df.index.step != 1:
        df = df.reset_index(drop=all(name is None for name in df.index.names))
    return df


def _read(path) -> pd.DataFrame:
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: file not found")
    kind = READERS.get(path.suffix.lower())
    if kind is None:
        raise InputError(f"{path}: unknown table format '{path.suffix}' "
                         "(use .csv, .tsv, .parquet, .json or .jsonl)")
    try:
        if kind == "csv":  # low_memory=False: one dtype per column, no DtypeWarning on mixed columns
            return pd.read_csv(path, low_memory=False)
        if kind == "tsv":
            return pd.read_csv(path, sep="\t", low_memory=False)
        if kind == "parquet":
            return pd.read_parquet(path)
        if kind == "jsonl":
            return pd.read_json(path, lines=True)
        with open(path) as fh:
            obj = json.load(fh)
        if isinstance(obj, dict) and "runs" in obj:
            obj = obj["runs"]
        return pd.DataFrame(obj)
    except InputError:
        raise
    except Exception as exc:  # parser errors of every library: one line, naming the file
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(f"{path}: cannot read as {kind}: {msg}") from None


def write_table(df: pd.DataFrame, path) -> Path:
    """Write a DataFrame as CSV or Parquet (by suffix), atomically (``scalefit.atomic``)."""
    return write_frame(df, path)


def read_table_or_shipped(path, shipped, missing: str) -> tuple[pd.DataFrame, str]:
    """(table, its name) from ``path``, or with no path from the shipped file ``shipped`` (a Path);
    ``missing`` says what to pass instead when the shipped file is absent from this install."""
    if path is None:
        if not Path(shipped).exists():
            raise InputError(f"{shipped}: {missing}")
        path = shipped
    return read_table(path), str(path)

"""Reading tables (CSV, TSV, Parquet, JSON, JSONL) into DataFrames, with errors that name the file.

Validation of a table's contents belongs to the layer that knows its shape (e.g.
``scalefit.scaling.laws.runtable``); this module only gets the rows off disk.
"""
from __future__ import annotations

import importlib
import json
import os
from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from scalefit.atomic import write_frame
from scalefit.errors import ROWS_OF, InputError, a_type, known

TABLE_FORMS = ("a DataFrame, a table's path (.parquet, .csv, .tsv, .json, .jsonl), a list of row "
               "dicts or a dict of columns")
READERS = {".csv": "csv", ".tsv": "tsv", ".parquet": "parquet", ".pq": "parquet",
           ".json": "json", ".jsonl": "jsonl"}
COMPRESSED = {".gz": "gzip", ".bz2": "bz2", ".xz": "lzma"}  # a text table's compressed forms
BINARY_PEEK = 65536  # bytes of a text table read for a NUL before parsing it


def readable_formats() -> str:
    """What a table file may be, from READERS and COMPRESSED: 'CSV (.csv), TSV (.tsv), ...; the
    text ones may also be compressed (.gz, .bz2, .xz)', as --data's help says it."""
    suffixes = {}
    for suffix, kind in READERS.items():
        suffixes.setdefault(kind, []).append(suffix)
    names = [f"{kind.capitalize() if kind == 'parquet' else kind.upper()} ({', '.join(ends)})"
             for kind, ends in suffixes.items()]
    return (f"{', '.join(names[:-1])} or {names[-1]}; the text ones may also be compressed "
            f"({', '.join(COMPRESSED)})")


def printable(text: str) -> str:
    """``text`` with its control characters (NUL, escape sequences, line breaks) escaped as Python
    writes them ('\\x00', '\\n'): a file's bytes echoed in a message never reach the terminal raw."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in str(text))


ANY_TABLE = "a table: a header row naming its columns, then one row per record"


def read_table(path, expected: str | None = None) -> pd.DataFrame:
    """Load a CSV/TSV, Parquet, JSON (records or columns) or JSONL file as a DataFrame whose
    index is the file's row order (so messages can name a row); a named index stored in a
    Parquet file becomes a column. Its ``attrs[ROWS_OF]`` (errors.ROWS_OF) names the file, so a
    message names a row as the file's 'row N' (``errors.row_name``), not by its index label as
    for a frame made in a notebook. ``expected`` says what table the caller reads (e.g. 'a
    weights table: ...'), for the message of an empty file; else ANY_TABLE."""
    df = _read(path, expected)
    if not isinstance(df.index, pd.RangeIndex) or df.index.start != 0 or df.index.step != 1:
        df = df.reset_index(drop=all(name is None for name in df.index.names))
    df = _stripped_header(df)
    df.attrs[ROWS_OF] = str(path)
    return df


def _stripped_header(df: pd.DataFrame) -> pd.DataFrame:
    """The table with spaces around its column names gone ('params, tokens, loss' as people
    type it read as columns ' tokens' and ' loss', and every check then said "column 'loss' is
    missing; did you mean ' loss'?"), unless two names would then be one."""
    names = [c.strip() if isinstance(c, str) else c for c in df.columns]
    if names != list(df.columns) and len(set(map(str, names))) == len(names):
        df = df.set_axis(names, axis=1)
    return df


def as_table(table, source: str | None) -> tuple[pd.DataFrame, str | None]:
    """(a DataFrame, its name): a path is read, and named by itself; a list of row dicts or a
    dict of columns becomes a DataFrame (``pd.DataFrame``); anything else is an InputError saying
    what is accepted. Every function that takes a table argument reads it through here."""
    name = source or "table"
    if isinstance(table, pd.DataFrame):
        return frame_columns(table, name), source
    if isinstance(table, (str, os.PathLike)):
        return read_table(table), str(table)
    if callable(getattr(table, "to_pandas", None)):
        # a polars DataFrame or a pyarrow Table: 'a DataFrame is not a table; pass a DataFrame'
        try:
            frame = table.to_pandas()
        except Exception as exc:  # another library's error: one line, naming it
            raise InputError(f"{name}: {a_type(table)}: to_pandas() failed ({exc}); pass "
                             f"{TABLE_FORMS}") from None
        if isinstance(frame, pd.DataFrame):
            return frame_columns(frame, name), source
    if isinstance(table, list):
        odd = next((row for row in table if not isinstance(row, Mapping)), None)
        if odd is not None:
            raise InputError(f"{name}: a list of rows holds dicts, not {type(odd).__name__} "
                             f"({odd!r:.40}); pass {TABLE_FORMS}")
    elif not isinstance(table, Mapping):
        raise InputError(f"{name}: {a_type(table)} is not a table; pass {TABLE_FORMS}")
    try:
        return pd.DataFrame(table), source
    except (ValueError, TypeError) as exc:  # columns of different lengths, all scalars, ...
        raise InputError(f"{name}: not a table ({exc}); pass {TABLE_FORMS}") from None


def frame_columns(df: pd.DataFrame, name: str) -> pd.DataFrame:
    """A notebook's DataFrame with its data in columns, as ``read_table`` gives a file's: named
    index levels (``df.set_index('model')``, a groupby's keys) become columns again, as a
    Parquet file's named index does (a MultiIndex raised pandas' TypeError 'Setting a MultiIndex
    dtype', and ``set_index('model')`` hid the model column); a column name given twice
    (``pd.concat([a, b], axis=1)``) is an InputError naming it, since a check of that column
    read two columns at once and failed with pandas' TypeError."""
    names = [n for n in df.index.names if n is not None]
    if names or isinstance(df.index, pd.MultiIndex):
        levels = [n for n in names if n not in df.columns]  # set_index(drop=False) keeps them
        df = df.reset_index(level=levels) if levels else df
        if not isinstance(df.index, pd.RangeIndex) and (
                isinstance(df.index, pd.MultiIndex) or df.index.name is not None):
            df = df.reset_index(drop=True)  # unnamed or repeated levels: no data of their own
    twice = df.columns[df.columns.duplicated()]
    if len(twice):
        column = twice[0]
        raise InputError(f"{name}: column '{column}' appears {int((df.columns == column).sum())} "
                         "times; a table names each column once (rename or drop the copies, "
                         "e.g. df.loc[:, ~df.columns.duplicated()] keeps the first)")
    return df


def empty_file(path, expected: str | None = None) -> InputError:
    """The error for a table file with nothing in it: it says so and what table was expected
    (pandas said 'cannot read as csv: No columns to parse from file')."""
    return InputError(f"{path}: the file is empty; expected {expected or ANY_TABLE} (a table "
                      f"file is {readable_formats()})")


def _read(path, expected: str | None = None) -> pd.DataFrame:
    if not isinstance(path, (str, os.PathLike)):
        raise InputError(f"read_table: {a_type(path)} is not a path; give a file's path "
                         "(.csv, .tsv, .parquet, .json or .jsonl)")
    path = Path(path).expanduser()  # '~/runs.csv', as a notebook writes it
    if not path.exists():
        raise InputError(f"{path}: file not found")
    if path.is_dir():
        raise InputError(f"{path}: is a folder; give a table file's path (.csv, .tsv, .parquet, "
                         ".json or .jsonl)")
    compression = COMPRESSED.get(path.suffix.lower())
    suffix = Path(path.stem).suffix if compression else path.suffix  # runs.csv.gz reads as CSV
    kind = READERS.get(suffix.lower())
    if kind is None or (compression and kind == "parquet"):
        raise InputError(f"{path}: unknown table format '{suffix}{path.suffix if compression else ''}' "
                         f"(a table file is {readable_formats()})")
    if path.stat().st_size == 0:
        raise empty_file(path, expected)
    if kind != "parquet":
        _refuse_binary(path, kind, compression)
    try:
        if kind == "csv":  # low_memory=False: one dtype per column, no DtypeWarning on mixed columns
            # skipinitialspace: 'a, b' is two cells 'a' and 'b', as a person typing it means
            return pd.read_csv(path, sep=_separator(path), low_memory=False,  # infers compression
                               skipinitialspace=True)
        if kind == "tsv":
            return pd.read_csv(path, sep="\t", low_memory=False, skipinitialspace=True)
        if kind == "parquet":
            return pd.read_parquet(path)
        if kind == "jsonl":
            return pd.read_json(path, lines=True)
        opener = importlib.import_module(compression).open if compression else open
        with opener(path, "rt") as fh:
            obj = json.load(fh)
        if isinstance(obj, dict) and "runs" in obj:
            obj = obj["runs"]
        return _json_frame(obj)
    except InputError:
        raise
    except pd.errors.EmptyDataError:  # a compressed empty file, or only blank lines
        raise empty_file(path, expected) from None
    except Exception as exc:  # parser errors of every library: one line, naming the file
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(f"{path}: cannot read as {kind}: {msg}") from None


def _refuse_binary(path: Path, kind: str, compression: str | None) -> None:
    """An InputError for a text table whose first bytes hold a NUL: binary content (a Parquet or
    archive file named .csv, random bytes), which pandas read into column names of raw control
    bytes that the run-table check then echoed to the terminal."""
    opener = importlib.import_module(compression).open if compression else open
    try:
        with opener(path, "rb") as fh:
            head = fh.read(BINARY_PEEK)
    except Exception:  # a corrupt archive: the reader below names it
        return
    if b"\0" in head:
        raise InputError(f"{path}: binary content, not a {kind.upper()} text table (a NUL byte "
                         f"in its first {len(head):,} bytes); a table file is {readable_formats()}")


def _json_frame(obj) -> pd.DataFrame:
    """A JSON table in any of pandas' to_json layouts: records or columns (``pd.DataFrame``),
    'split' ({columns, index, data}), 'table' ({schema, data}) and 'index' (a dict of row
    dicts keyed by row label). 'split' and 'table' raised pandas' 'All arrays must be of the same
    length' / 'Mixing dicts with non-Series', and 'index' read transposed (a column per run)."""
    if isinstance(obj, dict) and {"columns", "data"} <= set(obj) and isinstance(obj["data"], list):
        return pd.DataFrame(obj["data"], columns=obj["columns"])
    if isinstance(obj, dict) and {"schema", "data"} <= set(obj) and isinstance(obj["data"], list):
        frame = pd.DataFrame(obj["data"])
        index = (obj["schema"] or {}).get("primaryKey") or []
        return frame.drop(columns=[k for k in index if k == "index" and k in frame])
    if (isinstance(obj, dict) and obj and all(str(k).lstrip("-").isdigit() for k in obj)
            and all(isinstance(v, dict) for v in obj.values())):
        return pd.DataFrame.from_dict(obj, orient="index").reset_index(drop=True)
    return pd.DataFrame(obj)


def _separator(path) -> str:
    """';' for a CSV whose header holds ';' and no ',' (a spreadsheet's export where ',' is the
    decimal mark), a tab for one whose header holds tabs and no ',' (tab-separated text saved as
    .csv), else ','. Read as ',', its header was one column named 'a;b;c' or 'a<TAB>b<TAB>c'
    (every check then said 'column loss is missing (columns: a;b;c)') or its rows a parser error."""
    header = pd.read_csv(path, nrows=0)
    if len(header.columns) == 1:
        for sep in (";", "\t"):
            if sep in str(header.columns[0]):
                return sep
    return ","


def write_table(df: pd.DataFrame, path) -> Path:
    """Write a DataFrame as CSV or Parquet (by suffix), atomically (``scalefit.atomic``)."""
    return write_frame(df, path)


def read_table_or_shipped(path, shipped, missing: str,
                          expected: str | None = None) -> tuple[pd.DataFrame, str]:
    """(table, its name) from ``path``, or with no path from the shipped file ``shipped`` (a Path);
    ``missing`` says what to pass instead when the shipped file is absent from this install;
    ``expected`` is read_table's (what table an empty file should have held)."""
    if path is None:
        if not Path(shipped).exists():
            raise InputError(f"{shipped}: {missing}")
        path = shipped
    return read_table(path, expected), str(path)


def matches_value(cells: pd.Series, value: str) -> pd.Series:
    """Rows whose cell is ``value``: as text, or as the same number (tokens=2.4576e5 matches
    245760, and tokens=1e9 a CSV's 1000000000.0, which the text alone did not)."""
    keep = cells.astype(str) == value
    number = pd.to_numeric(pd.Series([value]), errors="coerce").iloc[0]
    if not keep.any() and pd.notna(number):
        keep = pd.to_numeric(cells, errors="coerce") == number
    return keep


def subset_rows(frame: pd.DataFrame, subset, source: str) -> tuple[pd.DataFrame, str]:
    """The rows that match every --subset COLUMN=VALUE (``matches_value``), and the source named
    with them; a filter that keeps no row is one InputError (saying so where only the filters
    combined left none)."""
    whole, applied = frame, []
    for item in subset or ():
        column, sep, value = str(item).partition("=")
        if not sep or column not in frame.columns:
            raise InputError(f"{source}: --subset '{item}': expected COLUMN=VALUE with a column "
                             f"of the table ({', '.join(map(str, frame.columns))})")
        keep = matches_value(frame[column], value)
        if not keep.any():
            if applied and matches_value(whole[column], value).any():
                raise InputError(f"{source}: --subset {item}: no row left after "
                                 f"{' '.join(applied)}; --subset filters combine (a row is kept "
                                 "when it matches every one)")
            raise InputError(f"{source}: --subset '{item}': no row has {column} = '{value}' "
                             f"(have: {known(frame[column].dropna())})")
        frame = frame[keep]
        applied.append(str(item))
    if applied:
        source = f"{source} [{' '.join(applied)}]"
    return frame, source

"""The one atomic writer: write beside the target under a unique name, then rename over it.

A reader (or a re-run after a kill) sees either the old file or the whole new one, never half a
file. The temporary name carries the process id and a random token, so two processes writing the
same target (two sweeps, two shards) never share a temporary file; ``sweep_stale`` removes the
temporaries a killed process left behind.
"""
from __future__ import annotations

import json
import os
import re
import secrets
import shutil
from contextlib import contextmanager
from pathlib import Path
from typing import Callable

TMP_MARK = ".tmp-"
TEMPORARY = re.compile(rf"{re.escape(TMP_MARK)}(\d+)-[0-9a-f]{{8}}$")  # the end of temporary_name's names


def temporary_name(path: Path) -> Path:
    """A unique sibling of ``path`` to write into before the rename."""
    return path.with_name(f"{path.name}{TMP_MARK}{os.getpid()}-{secrets.token_hex(4)}")


def atomic_write(path, write: Callable[[Path], object]) -> Path:
    """Call ``write(tmp)`` to produce the file (or folder) at a temporary path, then rename it
    onto ``path``. On any error the temporary is removed and ``path`` is left as it was.

    A folder that ``path`` already holds is renamed aside, the new one renamed in, and only then
    the old one deleted: deleting it first (seconds for a large checkpoint on a network disk)
    left, to a kill in between, a half-deleted folder at ``path`` and the new one as a temporary
    that ``sweep_stale`` removes."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp, old = temporary_name(path), None
    try:
        write(tmp)
        if tmp.is_dir() and path.is_dir():
            old = temporary_name(path)
            os.replace(path, old)
        os.replace(tmp, path)
    except BaseException:
        if old is not None and old.exists() and not path.exists():
            os.replace(old, path)  # stopped between the two renames: the old folder goes back
        if tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            tmp.unlink(missing_ok=True)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
    return path


def write_text(path, text: str) -> Path:
    """Atomically write a text file."""
    return atomic_write(path, lambda tmp: tmp.write_text(text))


def write_bytes(path, data: bytes) -> Path:
    """Atomically write a binary file."""
    return atomic_write(path, lambda tmp: tmp.write_bytes(data))


def write_json(path, obj, **kwargs) -> Path:
    """Atomically write a JSON document (indent 2; objects json cannot encode go through str)."""
    kwargs.setdefault("indent", 2)
    kwargs.setdefault("default", str)
    return write_text(path, json.dumps(obj, **kwargs))


def write_frame(df, path, **kwargs) -> Path:
    """Atomically write a DataFrame as Parquet (.parquet, .pq) or CSV (anything else)."""
    path = Path(path)
    if path.suffix.lower() in (".parquet", ".pq"):
        return atomic_write(path, lambda tmp: df.to_parquet(tmp, index=False, **kwargs))
    return atomic_write(path, lambda tmp: df.to_csv(tmp, index=False, **kwargs))


def sweep_stale(folder, *, recursive: bool = True) -> list[Path]:
    """Remove temporaries (``*.tmp-PID-TOKEN``, temporary_name's form) that a killed writer left
    in ``folder`` or any folder below it (parts, fingerprints, token caches); return them.
    Temporaries of live processes are passed over (the pid is checked), so this is safe beside
    another writer; other names that hold '.tmp-' (a user's 'backup.tmp-2024-01-05') are no
    temporaries of ours and are left alone.
    """
    removed = []
    folder = Path(folder)
    if not folder.is_dir():
        return removed
    found = folder.rglob(f"*{TMP_MARK}*") if recursive else folder.glob(f"*{TMP_MARK}*")
    for tmp in sorted(found, key=lambda p: len(p.parts)):
        named = TEMPORARY.search(tmp.name)
        if named is None or not tmp.exists():  # another's name ('notes.tmp-draft'), or in a folder removed
            continue
        pid = int(named.group(1))
        if pid != os.getpid() and _alive(pid):
            continue
        if tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            tmp.unlink(missing_ok=True)
        removed.append(tmp)
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@contextmanager
def staged_output(out_dir):
    """Write a command's output files into a temporary sibling folder, then move each into
    ``out_dir`` with one rename: an interruption while they are written (seconds of plotting)
    leaves ``out_dir`` as it was, not half this run's files and half an earlier run's. Files
    already in ``out_dir`` that this run does not write are left alone. ``out_dir`` is taken by its
    full path: '.' or '..' names no folder to stage beside."""
    out = Path(out_dir).resolve()
    if out.parent.is_dir():
        sweep_stale(out.parent, recursive=False)  # stagings that killed runs left beside it
    staging = temporary_name(out)
    staging.mkdir(parents=True)
    try:
        yield staging
        out.mkdir(parents=True, exist_ok=True)
        for path in sorted(staging.rglob("*")):
            if path.is_file():
                target = out / path.relative_to(staging)
                target.parent.mkdir(parents=True, exist_ok=True)
                os.replace(path, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)

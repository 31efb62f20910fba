"""The one atomic writer: write beside the target under a unique name, then rename over it.

A reader (or a re-run after a kill) sees either the old file or the whole new one, never half a
file. The temporary name carries the process id and a random token, so two processes writing the
same target (two sweeps, two shards) never share a temporary file; ``sweep_stale`` removes the
temporaries a killed process left behind.
"""
from __future__ import annotations

import json
import os
import secrets
import shutil
from pathlib import Path
from typing import Callable

TMP_MARK = ".tmp-"


def temporary_name(path: Path) -> Path:
    """A unique sibling of ``path`` to write into before the rename."""
    return path.with_name(f"{path.name}{TMP_MARK}{os.getpid()}-{secrets.token_hex(4)}")


def atomic_write(path, write: Callable[[Path], object]) -> Path:
    """Call ``write(tmp)`` to produce the file (or folder) at a temporary path, then rename it
    onto ``path``. On any error the temporary is removed and ``path`` is left as it was."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary_name(path)
    try:
        write(tmp)
        if tmp.is_dir() and path.is_dir():
            shutil.rmtree(path)
        os.replace(tmp, path)
    except BaseException:
        if tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            tmp.unlink(missing_ok=True)
        raise
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


def sweep_stale(folder) -> list[Path]:
    """Remove temporaries (``*.tmp-PID-TOKEN``) that a killed writer left in ``folder``; return them.

    Only call this where no other live process writes into the folder (e.g. at sweep start-up
    under the folder's lock), or pass over temporaries of live processes: this checks the pid.
    """
    removed = []
    folder = Path(folder)
    if not folder.is_dir():
        return removed
    for tmp in folder.glob(f"*{TMP_MARK}*"):
        pid = tmp.name.rsplit(TMP_MARK, 1)[1].split("-", 1)[0]
        if pid.isdigit() and int(pid) != os.getpid() and _alive(int(pid)):
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

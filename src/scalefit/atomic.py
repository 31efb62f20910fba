"""The one atomic writer: write beside the target under a unique name, then rename over it.

A reader (or a re-run after a kill) sees either the old file or the whole new one, never half a
file. The temporary name carries the process id, the host and a random token, so two processes
writing the same target (two sweeps, two shards on two nodes of a shared disk) never share a
temporary file; ``sweep_stale`` removes the temporaries a killed process left behind.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import shutil
import socket
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable

TMP_MARK = ".tmp-"
HOST = hashlib.sha1(socket.gethostname().encode()).hexdigest()[:6]  # this machine, in a temporary's name
# the end of temporary_name's names: pid, host (absent in those of scalefit before 2026-12-07), token
TEMPORARY = re.compile(rf"{re.escape(TMP_MARK)}(\d+)-(?:([0-9a-f]{{6}})-)?[0-9a-f]{{8}}$")
OTHER_HOST_STALE_S = 24 * 3600  # another machine's temporary untouched this long is a killed writer's
_WRITING: set[str] = set()  # this process's temporaries still being written (threads, nested writes)


def temporary_name(path: Path) -> Path:
    """A unique sibling of ``path`` to write into before the rename, marked as being written by
    this process until ``_done`` (so that ``sweep_stale`` in this process passes it over)."""
    tmp = path.with_name(f"{path.name}{TMP_MARK}{os.getpid()}-{HOST}-{secrets.token_hex(4)}")
    _WRITING.add(str(tmp))
    return tmp


def _done(tmp: Path) -> None:
    _WRITING.discard(str(tmp))


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
    finally:
        _done(tmp)
        if old is not None:
            _done(old)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
    return path


def write_text(path, text: str) -> Path:
    """Atomically write a text file."""
    return atomic_write(path, lambda tmp: tmp.write_text(text))


def create_text(path, text: str) -> bool:
    """Write a text file only where none is at ``path``, whole and in one exclusive step (the
    complete file hard-linked in, which fails where one exists, also one made meanwhile by
    another process): True where this call made it, False where one was there. OSError where
    the file system has no hard links."""
    path = Path(path)
    tmp = temporary_name(path)
    try:
        tmp.write_text(text)
        os.link(tmp, path)
    except FileExistsError:
        return False
    finally:
        tmp.unlink(missing_ok=True)
        _done(tmp)
    return True


def file_version(path) -> tuple[int, int, int, int, int]:
    """(device, inode, size, mtime_ns, ctime_ns) of a file (a link's target): any write changes
    one of them, and a file replaced by another (atomic_write's rename) has another inode. What a
    cache of something read from a file is keyed on."""
    stat = os.stat(path)
    return stat.st_dev, stat.st_ino, stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns


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
    """Remove temporaries (``*.tmp-PID-HOST-TOKEN``, temporary_name's form) that a killed writer
    left in ``folder`` or any folder below it (parts, fingerprints, token caches); return them.
    Passed over: those of live processes on this machine (the pid is checked) and those this
    process is writing now, so this is safe beside another writer; another machine's (a shard on
    another node of a shared disk, whose pid cannot be checked here) until untouched for
    OTHER_HOST_STALE_S. Other names that hold '.tmp-' (a user's 'backup.tmp-2024-01-05') are no
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
        pid, host = int(named.group(1)), named.group(2)
        if str(tmp) in _WRITING or (host not in (None, HOST) and not _untouched(tmp, OTHER_HOST_STALE_S)):
            continue
        if host in (None, HOST) and pid != os.getpid() and _alive(pid):
            continue
        if tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            tmp.unlink(missing_ok=True)
        removed.append(tmp)
    return removed


def _untouched(path: Path, seconds: float) -> bool:
    """Nothing in ``path`` (a file, or a folder and what it holds) was modified in ``seconds``."""
    try:
        stamps = [path.stat().st_mtime] + ([p.stat().st_mtime for p in path.rglob("*")] if path.is_dir() else [])
    except OSError:  # removed meanwhile, by its writer
        return False
    return time.time() - max(stamps) > seconds


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
        _done(staging)

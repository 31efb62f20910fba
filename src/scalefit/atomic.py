"""The one atomic writer: write beside the target under a unique name, then rename over it.

A reader (or a re-run after a kill) sees either the old file or the whole new one, never half a
file. The temporary name carries the process id, the host, a tag of the boot and pid namespace
(``space_tag``) and a random token, so two processes writing the same target (two sweeps, two
shards on two nodes or two containers of a shared disk) never share a temporary file;
``sweep_stale`` removes the temporaries a killed process left behind. A folder
replaced in place is swapped with its new version in one step where the system allows it
(Linux's renameat2), and elsewhere a killed swap's old folder is put back rather than removed.
"""
from __future__ import annotations

import ctypes
import errno
import functools
import hashlib
import os
import re
import secrets
import shutil
import socket
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable

from scalefit.errors import ROWS_OF

TMP_MARK = ".tmp-"
ASIDE = "aside"  # in the name of a folder that atomic_write moved aside to rename the new one in
HOST = hashlib.sha1(socket.gethostname().encode()).hexdigest()[:6]  # this machine, in a temporary's name
# the end of temporary_name's names: pid, the writer's place (group 2: host, then '-' and its space_tag;
# the host alone in names of scalefit before the tag, none before 2026-12-07), the aside mark (only an
# old folder moved aside, since 2026-12-07), token
TEMPORARY = re.compile(rf"{re.escape(TMP_MARK)}(\d+)-(?:([0-9a-f]{{6}}(?:-[0-9a-f]{{6}})?)-)?(?:({ASIDE})-)?"
                       r"[0-9a-f]{8}$")
OTHER_HOST_STALE_S = 24 * 3600  # another machine's temporary (or claim) untouched this long is a killed writer's
_WRITING: set[str] = set()  # this process's temporaries still being written (threads, nested writes)


def temporary_name(path: Path, aside: bool = False) -> Path:
    """A unique sibling of ``path`` to write into before the rename, marked as being written by
    this process until ``_done`` (so that ``sweep_stale`` in this process passes it over).
    ``aside``: the name for ``path``'s own folder moved out of the way, which a dead writer's
    clean-up puts back where ``path`` is missing instead of removing it."""
    mark = f"{ASIDE}-" if aside else ""
    tmp = path.with_name(f"{path.name}{TMP_MARK}{os.getpid()}-{HOST}-{space_tag()}-{mark}{secrets.token_hex(4)}")
    _WRITING.add(str(tmp))
    return tmp


def _done(tmp: Path) -> None:
    _WRITING.discard(str(tmp))


def atomic_write(path, write: Callable[[Path], object]) -> Path:
    """Call ``write(tmp)`` to produce the file (or folder) at a temporary path, then rename it
    onto ``path``. On any error the temporary is removed and ``path`` is left as it was.

    A folder that ``path`` already holds is swapped with the new one in one step (``_exchange``)
    and only then deleted: deleting it first (seconds for a large checkpoint on a network disk)
    left, to a kill in between, a half-deleted folder at ``path``. Where the system cannot swap,
    the old folder is renamed aside (a name marked ASIDE), the new one renamed in, and the old
    one deleted; a kill between those two renames leaves no folder at ``path``, so the next
    folder write to ``path`` and ``sweep_stale`` put the aside one back (``_put_back``)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp, old = temporary_name(path), None
    try:
        write(tmp)
        if tmp.is_dir() and not path.exists():
            _put_back_aside(path)  # a killed writer's old folder first: then swapped out like any
        if tmp.is_dir() and path.is_dir() and _exchange(tmp, path):
            old = tmp  # the old folder now, under the temporary's name
        else:
            if tmp.is_dir() and path.is_dir():
                old = temporary_name(path, aside=True)
                os.replace(path, old)
            os.replace(tmp, path)
    except BaseException:
        if old is not None and old != tmp and old.exists() and not path.exists():
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


AT_FDCWD = -100  # renameat2's "relative to the working folder"
RENAME_EXCHANGE = 2  # renameat2's flag: swap the two names, both must exist
# the errors of a file system or kernel that cannot swap (FUSE, NFS, old kernels): rename instead
CANNOT_EXCHANGE = {errno.EINVAL, errno.ENOSYS, errno.EXDEV, errno.EOPNOTSUPP, errno.ENOTSUP}


@functools.lru_cache(maxsize=1)
def _renameat2():
    """libc's renameat2 (Linux, glibc >= 2.28), or None where there is none."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        function = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return None
    function.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    function.restype = ctypes.c_int
    return function


def _exchange(a: Path, b: Path) -> bool:
    """Swap what the names ``a`` and ``b`` hold in one step (renameat2 RENAME_EXCHANGE), so that
    no moment, and no kill, finds either name missing. False where the system cannot (no
    renameat2, or a file system that refuses the flag): the caller renames instead."""
    function = _renameat2()
    if function is None:
        return False
    if function(AT_FDCWD, os.fsencode(a), AT_FDCWD, os.fsencode(b), RENAME_EXCHANGE) == 0:
        return True
    code = ctypes.get_errno()
    if code in CANNOT_EXCHANGE:
        return False
    raise OSError(code, os.strerror(code), str(a), None, str(b))


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


def write_json(path, obj, *, indent: int | None = 2, default=str) -> Path:
    """Atomically write a JSON document as a command's --json prints one (report.dumps): strict
    JSON, a missing value (NaN, inf) as null, which every parser reads (objects json cannot encode
    go through ``default``, str unless told)."""
    from scalefit.report import dumps

    return write_text(path, dumps(obj, indent=indent, default=default))


def write_frame(df, path, **kwargs) -> Path:
    """Atomically write a DataFrame as Parquet (.parquet, .pq) or CSV (anything else)."""
    path = Path(path)
    if path.suffix.lower() in (".parquet", ".pq"):
        if ROWS_OF in df.attrs:  # pandas writes attrs into the file: not the name of the file read
            df = df.copy(deep=False)
            df.attrs = {k: v for k, v in df.attrs.items() if k != ROWS_OF}
        return atomic_write(path, lambda tmp: df.to_parquet(tmp, index=False, **kwargs))
    return atomic_write(path, lambda tmp: df.to_csv(tmp, index=False, **kwargs))


def sweep_stale(folder, *, recursive: bool = True) -> list[Path]:
    """Remove temporaries (``*.tmp-PID-HOST-SPACE-TOKEN``, temporary_name's form) that a killed
    writer left in ``folder`` or any folder below it (parts, fingerprints, token caches); return
    them. Passed over: those of live processes on this machine, boot and pid namespace (the pid is
    checked) and those this process is writing now, so this is safe beside another writer; another
    machine's or container's (a shard on another node of a shared disk, or in another container
    of the same hostname, whose pid cannot be checked here) until untouched for
    OTHER_HOST_STALE_S. Other names that hold '.tmp-' (a user's 'backup.tmp-2024-01-05') are no
    temporaries of ours and are left alone. A folder that atomic_write moved ASIDE goes back to
    its own name where that is missing (its writer killed before the new one was renamed in).
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
        if not _abandoned(tmp, named) or (named.group(3) and _put_back(tmp, named)):
            continue
        if tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            tmp.unlink(missing_ok=True)
        removed.append(tmp)
    return removed


def _abandoned(tmp: Path, named: re.Match) -> bool:
    """Whether temporary ``tmp`` (``named``: TEMPORARY's match of its name) is no longer written:
    not by this process now, its writer here gone (``process_gone``: a pid of no process, or of a
    zombie, killed and not yet reaped), another place's (another machine, boot or pid namespace,
    whose pid cannot be checked here; one left before this machine rebooted is of another boot)
    untouched for OTHER_HOST_STALE_S. A name that predates the space tag (or the host) is judged
    on what it names."""
    pid, (host, _, space) = int(named.group(1)), (named.group(2) or "").partition("-")
    if str(tmp) in _WRITING:
        return False
    if host in ("", HOST) and space in ("", space_tag()):
        return pid == os.getpid() or process_gone(pid)
    return untouched(tmp, OTHER_HOST_STALE_S)


def _put_back(aside: Path, named: re.Match) -> bool:
    """Rename an abandoned ASIDE folder back onto the path it was moved from where that path is
    missing (its writer was killed between atomic_write's two renames): True where it went back
    or is no longer there to remove; False where a folder is at the path (the new one got in,
    the aside one is the older: remove it)."""
    path = aside.with_name(aside.name[:named.start()])
    if os.path.lexists(path):
        return False
    try:
        os.rename(aside, path)
    except FileNotFoundError:  # put back by another process meanwhile
        return True
    except OSError:  # one made at the path meanwhile: this is the older; else leave it be
        return not os.path.lexists(path)
    return True


def _put_back_aside(path: Path) -> None:
    """Put back a folder that a killed atomic_write moved aside from ``path`` (missing now), if
    one is there (each is a whole folder; the first found goes back, sweep_stale removes the rest)."""
    for entry in os.scandir(path.parent):
        named = TEMPORARY.search(entry.name)
        if (named is not None and named.group(3) and named.start() == len(path.name)
                and entry.name.startswith(path.name) and _abandoned(Path(entry.path), named)
                and _put_back(Path(entry.path), named)):
            return


def untouched(path: Path, seconds: float) -> bool:
    """Nothing in ``path`` (a file, or a folder and what it holds) was modified in ``seconds``."""
    try:
        stamps = [path.stat().st_mtime] + ([p.stat().st_mtime for p in path.rglob("*")] if path.is_dir() else [])
    except OSError:  # removed meanwhile, by its writer
        return False
    return time.time() - max(stamps) > seconds


def process_start(pid: int) -> int | None:
    """When process ``pid`` of this machine started (clock ticks after boot: /proc/PID/stat field
    22), None where that cannot be read (no /proc, no such process). With the pid it names one
    process: a pid alone is reused by another once its process ends."""
    stat = _proc_stat(pid)
    return int(stat[19]) if stat is not None and len(stat) > 19 and stat[19].isdigit() else None


def process_gone(pid: int, started: int | None = None) -> bool:
    """No process ``pid`` runs on this machine: none has the pid, or it is a zombie (killed, not
    yet reaped), or it started at another time than ``started`` (the pid reused since)."""
    if pid <= 0 or not _alive(pid):
        return True
    stat = _proc_stat(pid)
    if stat is None:
        return False
    return stat[0] == "Z" or (started is not None and process_start(pid) not in (None, started))


@functools.lru_cache(maxsize=1)
def process_space() -> dict:
    """What, beside HOST, tells apart the places whose pids this process can check: the kernel's
    boot (/proc/sys/kernel/random/boot_id: another boot, or another machine of the same hostname)
    and the pid namespace (the inode of /proc/self/ns/pid: another container of the same hostname
    on one kernel, whose pids are not ours). A fact that cannot be read here is None."""
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip() or None
    except OSError:
        boot = None
    try:
        namespace = os.stat("/proc/self/ns/pid").st_ino
    except OSError:
        namespace = None
    return {"boot": boot, "pid_namespace": namespace}


@functools.lru_cache(maxsize=1)
def space_tag() -> str:
    """process_space in 6 hex digits, for a temporary's name beside HOST: two containers of one
    hostname on a shared disk (each a pid 1234 of its own) do not read each other's temporaries
    as their own. Where neither fact can be read, the one tag of such places."""
    space = process_space()
    return hashlib.sha1(f"{space['boot']}:{space['pid_namespace']}".encode()).hexdigest()[:6]


def _proc_stat(pid: int) -> list[str] | None:
    """The fields of /proc/PID/stat after the command's name (field 3, the state, first)."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (OSError, ValueError):
        return None
    return text[text.rindex(")") + 1:].split() if ")" in text else None


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

"""A SIGKILL never loses a folder that atomic_write replaces, and never leaves a --out claimed.

Each kill is real: a child process (python -c) does the work, stops at the step named (a
monkeypatched os.replace or shutil.rmtree that prints a line and sleeps) and is SIGKILLed there;
then the recovery a re-run does (sweep_stale, or the next atomic_write) runs here."""
from __future__ import annotations

import ctypes
import errno
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from scalefit import atomic

# the child: replace the folder argv[1] with a new one, stopping (to be killed) where argv[2] says
#   'aside': just after the old folder is renamed aside, on a system that cannot swap in one step
#   'swapped': just after the swap, before the old folder is deleted
CHILD = r"""
import os, shutil, sys, time
from pathlib import Path
from scalefit import atomic

target, stop = Path(sys.argv[1]), sys.argv[2]

def pause():
    print("paused", flush=True)
    time.sleep(600)

if stop == "aside":
    atomic._exchange = lambda a, b: False  # as where renameat2 is missing
    real_replace = os.replace
    def replace(src, dst):
        real_replace(src, dst)
        if Path(src) == target:  # the old folder is moved aside, the new one not yet in
            pause()
    os.replace = replace
else:
    shutil.rmtree = lambda *args, **kwargs: pause()

def write(tmp):
    tmp.mkdir()
    for name in ("model.safetensors", "optimizer.pt"):
        (tmp / name).write_text("new")

atomic.atomic_write(target, write)
"""


def _checkpoint(folder: Path, text: str) -> None:
    folder.mkdir()
    for name in ("model.safetensors", "optimizer.pt"):
        (folder / name).write_text(text)


def _held(folder: Path) -> dict:
    return {p.name: p.read_text() for p in folder.iterdir()}


def _killed_while_replacing(target: Path, stop: str) -> None:
    """Run CHILD on ``target`` and SIGKILL it where it pauses."""
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(target), stop], stdout=subprocess.PIPE,
                             text=True)
    try:
        assert child.stdout.readline().strip() == "paused"
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
        child.stdout.close()
    assert child.returncode == -signal.SIGKILL


def _exchange_works(folder: Path) -> bool:
    a, b = folder / "probe-a", folder / "probe-b"
    a.mkdir()
    b.mkdir()
    try:
        return atomic._exchange(a, b)
    finally:
        a.rmdir()
        b.rmdir()


@pytest.mark.parametrize("recovery", ["sweep_stale", "atomic_write"])
def test_a_folder_killed_between_the_two_renames_is_put_back(tmp_path, recovery):
    """Where the folder cannot be swapped in one step, atomic_write renames the old one aside
    and then the new one in. A SIGKILL between the two left no folder at the path, and the
    re-run's sweep_stale removed both the old folder (aside) and the new one (a temporary). The
    aside one is now put back: by sweep_stale, and by the next atomic_write of the folder."""
    target = tmp_path / "resume"
    _checkpoint(target, "old")
    _killed_while_replacing(target, "aside")
    assert not target.exists()  # the kill landed between the two renames
    assert [p for p in tmp_path.iterdir() if atomic.TEMPORARY.search(p.name).group(3)]  # an aside one
    if recovery == "sweep_stale":
        atomic.sweep_stale(tmp_path)
        assert _held(target) == {"model.safetensors": "old", "optimizer.pt": "old"}
    else:
        atomic.atomic_write(target, lambda tmp: _checkpoint(tmp, "newer"))
        assert _held(target) == {"model.safetensors": "newer", "optimizer.pt": "newer"}
        # the old folder was put back and replaced, not left aside for a sweep to judge
        assert sorted(p.name for p in tmp_path.iterdir() if ".tmp-" not in p.name or
                      atomic.TEMPORARY.search(p.name).group(3)) == ["resume"]
        atomic.sweep_stale(tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == ["resume"]


def test_a_folder_is_swapped_in_one_step_where_the_system_can(tmp_path, monkeypatch):
    """renameat2(RENAME_EXCHANGE) swaps two folders whole; atomic_write replaces a folder with it
    (no rename that leaves the path empty), and a kill after the swap leaves the new folder."""
    if not _exchange_works(tmp_path):
        pytest.skip("this system or file system cannot swap two names in one step")
    a, b = tmp_path / "a", tmp_path / "b"
    _checkpoint(a, "A")
    _checkpoint(b, "B")
    assert atomic._exchange(a, b)
    assert _held(a) == {"model.safetensors": "B", "optimizer.pt": "B"}
    assert _held(b) == {"model.safetensors": "A", "optimizer.pt": "A"}

    renames = []
    real_replace = os.replace
    monkeypatch.setattr(atomic.os, "replace", lambda src, dst: (renames.append(src), real_replace(src, dst)))
    atomic.atomic_write(a, lambda tmp: _checkpoint(tmp, "new"))
    assert renames == [] and _held(a) == {"model.safetensors": "new", "optimizer.pt": "new"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "b"]
    monkeypatch.undo()

    _killed_while_replacing(a, "swapped")
    assert _held(a) == {"model.safetensors": "new", "optimizer.pt": "new"}
    atomic.sweep_stale(tmp_path)  # the old folder, under a temporary's name, goes
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "b"]


@pytest.mark.parametrize("code", [errno.EINVAL, errno.ENOSYS, errno.EXDEV, errno.EOPNOTSUPP])
def test_a_file_system_that_cannot_swap_gets_the_two_renames(tmp_path, monkeypatch, code):
    """A file system that refuses RENAME_EXCHANGE (EINVAL on NFS and FUSE, ENOSYS on an old
    kernel): atomic_write falls back to its two renames instead of failing."""
    def refusing(*args):
        ctypes.set_errno(code)
        return -1

    monkeypatch.setattr(atomic, "_renameat2", lambda: refusing)
    target = tmp_path / "resume"
    _checkpoint(target, "old")
    atomic.atomic_write(target, lambda tmp: _checkpoint(tmp, "new"))
    assert _held(target) == {"model.safetensors": "new", "optimizer.pt": "new"}
    assert [p.name for p in tmp_path.iterdir()] == ["resume"]


def test_another_swap_error_leaves_the_folder_as_it_was(tmp_path, monkeypatch):
    """A real error of the swap (permission) is raised, the old folder left whole in place."""
    def refusing(*args):
        ctypes.set_errno(errno.EACCES)
        return -1

    monkeypatch.setattr(atomic, "_renameat2", lambda: refusing)
    target = tmp_path / "resume"
    _checkpoint(target, "old")
    with pytest.raises(PermissionError):
        atomic.atomic_write(target, lambda tmp: _checkpoint(tmp, "new"))
    assert _held(target) == {"model.safetensors": "old", "optimizer.pt": "old"}
    assert [p.name for p in tmp_path.iterdir()] == ["resume"]

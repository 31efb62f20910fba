"""Who owns a temporary or a --out claim: its writer's process is judged gone by one function
(atomic.process_gone: no such pid, a zombie, a pid reused), and a claim is taken over only on
the machine, boot and pid namespace that made it."""
from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from scalefit import atomic


@pytest.fixture
def zombie():
    """The pid of a child that has exited and is not yet reaped (a zombie)."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    try:
        for _ in range(3000):
            stat = atomic._proc_stat(child.pid)
            if stat is not None and stat[0] == "Z":
                break
            time.sleep(0.01)
        else:
            pytest.skip("no /proc/PID/stat showing the child's state here")
        yield child.pid
    finally:
        child.wait()


def test_a_zombie_writers_temporary_is_swept(tmp_path, zombie):
    """A writer killed and not yet reaped (its parent busy) still answers kill(pid, 0): the
    temporary it left was kept as a live writer's until the parent reaped it."""
    assert atomic._alive(zombie) and atomic.process_gone(zombie)
    left = tmp_path / f"table.parquet{atomic.TMP_MARK}{zombie}-{atomic.HOST}-0123abcd"
    left.write_text("half")
    live = tmp_path / f"other.parquet{atomic.TMP_MARK}{os.getppid()}-{atomic.HOST}-0123abcd"
    live.write_text("being written")  # our parent's: alive
    assert atomic.sweep_stale(tmp_path) == [left]
    assert not left.exists() and live.exists()

"""Who owns a temporary or a --out claim: its writer's process is judged gone by one function
(atomic.process_gone: no such pid, a zombie, a pid reused), and a claim is taken over only on
the machine, boot and pid namespace that made it."""
from __future__ import annotations

import json
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


DEAD = 2 ** 22 + 12345  # a pid above Linux's pid_max: no process has it


def claimed(folder, older=False, **claim):
    """``folder`` holding only a settings record of `fit kaplan` claimed by a dead process of this
    machine, boot and pid namespace; ``claim``: what differs; ``older``: the claim as scalefit
    wrote it before it recorded the boot and pid namespace."""
    from scalefit.options import CLAIM, SETTINGS_FILE

    folder.mkdir()
    facts = {"host": atomic.HOST, **({} if older else atomic.process_space()), "pid": DEAD, "started": 1, **claim}
    record = {"command": "fit kaplan", "options": {"--bootstrap": 7}, CLAIM: facts}
    (folder / SETTINGS_FILE).write_text(json.dumps(record))
    return folder


OURS = {"command": "fit chinchilla", "options": {"--bootstrap": 0}}


def test_a_claim_records_the_boot_and_pid_namespace_it_was_made_in(tmp_path):
    from scalefit.options import CLAIM, SETTINGS_FILE, claim_folder

    space = atomic.process_space()
    assert set(space) == {"boot", "pid_namespace"}
    if os.path.exists("/proc/self/ns/pid"):
        assert space["pid_namespace"] == os.stat("/proc/self/ns/pid").st_ino
    record, _ = claim_folder(tmp_path / "X", OURS)
    assert json.loads(record.read_text())[CLAIM] == {"host": atomic.HOST, **space, "pid": os.getpid(),
                                                     "started": atomic.process_start(os.getpid())}
    assert record == tmp_path / "X" / SETTINGS_FILE


@pytest.mark.parametrize("other", [{"pid_namespace": 4026531836 + 7}, {"boot": "another-boot-id"},
                                   {"pid_namespace": None}])
def test_a_claim_of_another_pid_namespace_or_boot_is_not_taken_over(tmp_path, capsys, other):
    """Two containers of one hostname on a shared disk: the other's live claim names a pid that
    this namespace does not have, and was read as dead and taken over. A claim made where the
    namespace could not be read (None) is no match for one where it can."""
    from scalefit.errors import InputError
    from scalefit.options import claim_folder, refuse_other_settings

    if all(atomic.process_space()[key] == value for key, value in other.items()):
        pytest.skip(f"{other} is this machine's")
    folder = claimed(tmp_path / "X", **other)
    for check in (refuse_other_settings, claim_folder):
        with pytest.raises(InputError, match="holds the results of other settings"):
            check(folder, OURS)
    assert "taking it over" not in capsys.readouterr().err


@pytest.mark.parametrize("older", [False, True])
def test_a_dead_claim_of_this_boot_and_namespace_or_an_older_one_is_taken_over(tmp_path, capsys, older):
    from scalefit.options import SETTINGS_FILE, claim_folder

    folder = claimed(tmp_path / "X", older=older)
    assert claim_folder(folder, OURS) == (folder / SETTINGS_FILE, False)
    assert capsys.readouterr().err.count("taking it over from `fit kaplan`") == 1

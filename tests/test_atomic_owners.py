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
    from scalefit.folder_settings import CLAIM, SETTINGS_FILE

    folder.mkdir()
    facts = {"host": atomic.HOST, **({} if older else atomic.process_space()), "pid": DEAD, "started": 1, **claim}
    record = {"command": "fit kaplan", "options": {"--bootstrap": 7}, CLAIM: facts}
    (folder / SETTINGS_FILE).write_text(json.dumps(record))
    return folder


OURS = {"command": "fit chinchilla", "options": {"--bootstrap": 0}}


def test_a_claim_records_the_boot_and_pid_namespace_it_was_made_in(tmp_path):
    from scalefit.folder_settings import CLAIM, SETTINGS_FILE, claim_folder

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
    from scalefit.folder_settings import claim_folder, refuse_other_settings

    if all(atomic.process_space()[key] == value for key, value in other.items()):
        pytest.skip(f"{other} is this machine's")
    folder = claimed(tmp_path / "X", **other)
    for check in (refuse_other_settings, claim_folder):
        with pytest.raises(InputError, match="of other settings"):
            check(folder, OURS)
    assert "taking it over" not in capsys.readouterr().err


@pytest.mark.parametrize("older", [False, True])
def test_a_dead_claim_of_this_boot_and_namespace_or_an_older_one_is_taken_over(tmp_path, capsys, older):
    from scalefit.folder_settings import SETTINGS_FILE, claim_folder

    folder = claimed(tmp_path / "X", older=older)
    assert claim_folder(folder, OURS) == (folder / SETTINGS_FILE, False)
    assert capsys.readouterr().err.count("taking it over from `fit kaplan`") == 1


@pytest.mark.parametrize("other", [{"boot": "another-boot-id"}, {"host": "0" * 6 if atomic.HOST != "0" * 6 else "1" * 6}])
def test_a_claim_of_another_boot_or_machine_is_taken_over_once_a_day_old(tmp_path, capsys, other):
    """A command killed by a reboot or a lost node before it wrote anything left a claim whose pid
    cannot be checked here, and the folder was refused for good, as one holding 'results'. Such a
    claim is refused, naming it a claim, until untouched for OTHER_HOST_STALE_S, then taken over."""
    from scalefit.errors import InputError
    from scalefit.folder_settings import SETTINGS_FILE, claim_folder

    folder = claimed(tmp_path / "X", **other)
    with pytest.raises(InputError, match=r"is claimed by a command of other settings .*, running on another "
                                         r"machine, boot or container \(pid \d+\) or stopped before"):
        claim_folder(folder, OURS)
    day_old = time.time() - atomic.OTHER_HOST_STALE_S - 60
    os.utime(folder / SETTINGS_FILE, (day_old, day_old))
    assert claim_folder(folder, OURS) == (folder / SETTINGS_FILE, False)
    assert "whose claim, made on another machine, boot or container (pid" in capsys.readouterr().err


# a process that writes half of a temporary (temporary_name) and exits, as one killed mid-write;
# argv: the target, and 'here' or another pid namespace's inode (another container of this kernel)
LEAVE = """import sys
from pathlib import Path
from scalefit import atomic
here = atomic.process_space()
if sys.argv[2] != "here":
    atomic.process_space = lambda: {**here, "pid_namespace": int(sys.argv[2])}
tmp = atomic.temporary_name(Path(sys.argv[1]))
tmp.write_text("half")
print(tmp.name)
"""


def left_by_a_dead_writer(target, namespace="here"):
    """The temporary of ``target`` that a process, now ended, left in ``namespace``."""
    done = subprocess.run([sys.executable, "-c", LEAVE, str(target), str(namespace)], capture_output=True,
                          text=True, check=True)
    return target.with_name(done.stdout.strip())


def test_a_temporary_of_another_pid_namespace_is_kept_as_another_machines(tmp_path):
    """Two containers of one hostname on a shared disk (one kernel, a pid namespace each): the
    other's temporary names a pid that is no process here, and was swept mid-write as a dead
    writer's. Its name tells its namespace apart: kept, until untouched for OTHER_HOST_STALE_S."""
    other = (atomic.process_space()["pid_namespace"] or 4026531836) + 7
    theirs = left_by_a_dead_writer(tmp_path / "theirs.parquet", other)
    ours = left_by_a_dead_writer(tmp_path / "ours.parquet")
    for tmp in (theirs, ours):
        named = atomic.TEMPORARY.search(tmp.name)
        assert named is not None and tmp.exists() and atomic.process_gone(int(named.group(1)))
    assert atomic.sweep_stale(tmp_path) == [ours]
    assert theirs.exists() and not ours.exists()
    assert atomic.TEMPORARY.search(theirs.name).group(2) != atomic.TEMPORARY.search(ours.name).group(2)
    week_ago = time.time() - 7 * 24 * 3600
    os.utime(theirs, (week_ago, week_ago))
    assert atomic.sweep_stale(tmp_path) == [theirs]


def test_a_temporary_name_carries_pid_host_and_space_and_stays_short(tmp_path):
    """Older names (no space tag, or no host) are still read, and judged as before: a dead pid of
    this host is swept."""
    target = tmp_path / "weights.parquet"
    tmp, aside = atomic.temporary_name(target), atomic.temporary_name(target, aside=True)
    atomic._done(tmp), atomic._done(aside)
    place = f"{os.getpid()}-{atomic.HOST}-{atomic.space_tag()}-"
    assert tmp.name.startswith(f"{target.name}{atomic.TMP_MARK}{place}")
    assert aside.name.startswith(f"{target.name}{atomic.TMP_MARK}{place}{atomic.ASIDE}-")
    assert len(aside.name) - len(target.name) - len(str(os.getpid())) <= 34  # with a 7-digit pid: 41 bytes
    older = [tmp_path / f"a.parquet{atomic.TMP_MARK}{DEAD}-{atomic.HOST}-0123abcd",
             tmp_path / f"b.parquet{atomic.TMP_MARK}{DEAD}-0123abcd"]
    for path in older:
        path.write_text("half")
    assert atomic.sweep_stale(tmp_path) == older

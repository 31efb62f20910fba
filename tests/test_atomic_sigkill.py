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
import time
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


# ---- a --out claimed by a command that was killed ------------------------------------------

CLAIMER = r"""
import sys, time
from scalefit.folder_settings import claim_folder
claim_folder(sys.argv[1], {"command": "fit kaplan", "options": {"--bootstrap": 7}})
print("claimed", flush=True)
time.sleep(600)
"""


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    from tests.test_scaling_cli import make_runs

    path = tmp_path_factory.mktemp("runs") / "runs.csv"
    make_runs(path)
    return path


def _fit(runs, out):
    from click.testing import CliRunner

    from scalefit.cli import main

    return CliRunner().invoke(main, ["fit", "chinchilla", "--data", str(runs), "--bootstrap", "0",
                                     "--out", str(out)])


def test_a_claim_of_a_killed_command_is_taken_over(runs, tmp_path):
    """A command SIGKILLed during its work left its settings record in --out, and every command
    of other settings was refused until the user deleted it by hand. The record names its
    process now: while that lives, others are refused; once it is gone, having written nothing,
    the next command takes the folder over and says so in one line."""
    import json

    from scalefit.folder_settings import CLAIM, SETTINGS_FILE

    out = tmp_path / "X"
    child = subprocess.Popen([sys.executable, "-c", CLAIMER, str(out)], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "claimed"
        live = _fit(runs, out)
        assert live.exit_code == 2 and "is claimed by a command of other settings" in live.stderr, live.output
        assert [p.name for p in out.iterdir()] == [SETTINGS_FILE]
        os.kill(child.pid, signal.SIGKILL)
        for _ in range(1000):  # dead but not yet reaped (a zombie): gone all the same
            if atomic._proc_stat(child.pid)[0] == "Z":
                break
            time.sleep(0.01)
        taken = _fit(runs, out)
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
        child.stdout.close()
    assert taken.exit_code == 0, taken.output
    assert [line for line in taken.stderr.splitlines() if "taking it over" in line] == [
        f"note: --out {out}: taking it over from `fit kaplan`, whose process ({child.pid}) ended "
        "before it wrote anything there"]
    record = json.loads((out / SETTINGS_FILE).read_text())
    assert record["command"] == "fit" and CLAIM not in record and (out / "report.md").exists()
    assert not [p for p in out.iterdir() if ".tmp-" in p.name]


def _record(folder: Path, claim: dict | None) -> None:
    """A settings record of `fit kaplan` in a new ``folder``; ``claim``: what differs from the
    claim of a dead process of this machine, None: a record without a claim."""
    import json

    from scalefit.folder_settings import CLAIM, SETTINGS_FILE

    folder.mkdir()
    record = {"command": "fit kaplan", "options": {"--bootstrap": 7}}
    if claim is not None:
        record[CLAIM] = {"host": atomic.HOST, "pid": 2 ** 22 + 12345, "started": 1, **claim}  # no such pid
    (folder / SETTINGS_FILE).write_text(json.dumps(record))


def test_only_a_dead_claim_of_this_machine_on_an_empty_folder_is_taken_over(tmp_path, capsys):
    """Refused as before: a claim of another machine (its pid cannot be checked here), of a live
    process, a record without a claim (a finished command's, or an older scalefit's), a dead
    claim in a folder that holds results. Taken over: a dead process's claim, also where its pid
    now names another process (started at another time), beside temporaries only."""
    from scalefit.errors import InputError
    from scalefit.folder_settings import SETTINGS_FILE, claim_folder, refuse_other_settings

    ours = {"command": "fit chinchilla", "options": {"--bootstrap": 0}}
    other_host = "0" * 6 if atomic.HOST != "0" * 6 else "1" * 6
    refused = {"other_host": {"host": other_host}, "live": {"pid": os.getpid(), "started": None},
               "live_same_start": {"pid": os.getpid(), "started": atomic.process_start(os.getpid())},
               "no_claim": None, "dead_with_results": {}}
    for name, claim in refused.items():
        _record(tmp_path / name, claim)
    (tmp_path / "dead_with_results" / "report.md").write_text("half")
    for folder in [tmp_path / name for name in refused]:
        with pytest.raises(InputError, match="of other settings"):
            refuse_other_settings(folder, ours)
        with pytest.raises(InputError, match="of other settings"):
            claim_folder(folder, ours)
    assert "taking it over" not in capsys.readouterr().err

    taken = {"dead": {}, "pid_reused": {"pid": os.getpid(), "started": -1}}
    for name, claim in taken.items():
        _record(tmp_path / name, claim)
        dead_writer = f"{atomic.TMP_MARK}{2 ** 22 + 12345}-{atomic.HOST}-0123abcd"
        (tmp_path / name / f"report.md{dead_writer}").write_text("")
        refuse_other_settings(tmp_path / name, ours)
        assert claim_folder(tmp_path / name, ours) == (tmp_path / name / SETTINGS_FILE, False)
    assert capsys.readouterr().err.count("taking it over from `fit kaplan`") == 2

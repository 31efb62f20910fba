"""Commands on the shipped data run once per pytest session, in a fresh Python with the kernels
pinned (test_golden_json.PINNED), and read by every test file that checks their output.

The README and report tests ran the same commands (`compare kaplan chinchilla` and its
`--schedules`, 1000 resamples each), and test_s43_statement_audit and test_schedule_gap the
`--schedules` analysis again, each on its own; with ``--dist loadfile`` a session fixture runs
once per xdist worker. Here a command's result is a file in a folder the workers share (the
session's temporary folder), keyed by its arguments: the first worker to ask runs it while
holding the key's file lock, and a worker that asks meanwhile waits for the result (or, should
that run fail, for the lock, and runs it). The commands a caller finds free are run together,
in one fresh Python (one import of scalefit, not one per command: the golden JSON's four).
"""
from __future__ import annotations

import fcntl
import hashlib
import json
import os
import subprocess
import sys
import time
from contextlib import ExitStack
from pathlib import Path

OUT = "{out}"  # in a command's arguments: its own --out folder, kept beside its result
# the shipped suite's schedule-gap analysis (1000 resamples): the README and report tests read its
# stdout, test_s43_statement_audit and test_schedule_gap its schedule_gap.json (stdout is the same
# with --out as without)
SHIPPED_SCHEDULES = ["compare", "kaplan", "chinchilla", "--schedules", "--out", OUT]
# the shipped grid test with the decay profiled: the README test reads its stdout,
# test_schedule_laws its grid_prediction.json and report.md
SHIPPED_GRID_TEST = ["predict", "curve", "--grid-test", "--profile-lambda", "--out", OUT]

DRIVER = """
import json, os, sys
from click.testing import CliRunner
from scalefit.cli import main
folder = sys.argv[2]
for key, args in json.loads(sys.argv[1]).items():
    result = CliRunner().invoke(main, args)
    done = {"exit_code": result.exit_code, "stdout": result.stdout,
            "error": repr(result.exception) if result.exit_code else ""}
    path = os.path.join(folder, key + ".json")
    open(path + ".part", "w").write(json.dumps(done))
    os.replace(path + ".part", path)
"""


def shared_folder(tmp_path_factory) -> Path:
    """The session's folder that every xdist worker sees (a worker's base folder is one of its
    subfolders), or the base folder without xdist."""
    base = tmp_path_factory.getbasetemp()
    root = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    folder = root / "pinned-runs"
    folder.mkdir(exist_ok=True)
    return folder


def command_key(args: list[str]) -> str:
    return hashlib.sha256(json.dumps(args).encode()).hexdigest()[:20]


def _result(folder: Path, key: str) -> dict | None:
    path = folder / f"{key}.json"
    return json.loads(path.read_text()) if path.is_file() else None


def _run(folder: Path, todo: dict[str, list[str]]) -> None:
    """The commands of ``todo`` ({key: args}) in one fresh Python with the kernels pinned (where
    cpu_runs_pinned: the tests that need the pinned digits skip elsewhere); each writes KEY.json
    as it ends."""
    from test_golden_json import PINNED, cpu_runs_pinned

    args = {key: [a.replace(OUT, str(folder / key / "out")) for a in words]
            for key, words in todo.items()}
    env = {**os.environ, **(PINNED if cpu_runs_pinned() else {})}
    done = subprocess.run([sys.executable, "-c", DRIVER, json.dumps(args), str(folder)], env=env,
                          capture_output=True, text=True, timeout=1200)
    assert done.returncode == 0, done.stderr[-2000:]


def pinned_outputs(tmp_path_factory, commands: dict[str, list[str]]) -> dict[str, dict]:
    """{name: {"exit_code", "stdout", "error", "out"}} of each ``commands`` {name: args}, each
    run once in this session (see the module's docstring). ``OUT`` in args is the command's
    own folder, returned as "out" (None where args have none)."""
    folder = shared_folder(tmp_path_factory)
    keys = {name: command_key(args) for name, args in commands.items()}
    args_of = {keys[name]: args for name, args in commands.items()}
    waiting = []
    with ExitStack() as held:
        mine = {}
        for key in dict.fromkeys(keys.values()):  # in the caller's order
            lock = held.enter_context(open(folder / f"{key}.lock", "a"))
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:  # another worker is running it: read it after ours
                waiting.append(key)
                continue
            if _result(folder, key) is None:
                mine[key] = args_of[key]
        if mine:
            _run(folder, mine)
    for key in waiting:  # our locks are released: no worker waits on another in a circle
        while _result(folder, key) is None:  # written as soon as its command ends
            with open(folder / f"{key}.lock", "a") as lock:
                try:
                    fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    time.sleep(0.2)
                    continue
                if _result(folder, key) is None:  # the other worker's run failed: run it here
                    _run(folder, {key: args_of[key]})
    results = {}
    for name, key in keys.items():
        result = _result(folder, key)
        assert result is not None, f"{commands[name]}: no result"
        result["out"] = folder / key / "out" if OUT in commands[name] else None
        results[name] = result
    return results

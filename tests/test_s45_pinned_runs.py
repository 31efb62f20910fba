"""tests/pinned_runs.py: a command asked for by several test files (and xdist workers) at once is
run once, each caller reads its result, and a run that fails is made again by a caller that was
waiting for it. Its commands are stood in for by a function that writes their results."""
from __future__ import annotations

import json
import threading
import time

import pytest

import pinned_runs


class Base:
    """tmp_path_factory as pinned_outputs reads it (its base folder)."""

    def __init__(self, path):
        self.path = path

    def getbasetemp(self):
        return self.path


@pytest.fixture
def runs(monkeypatch):
    """pinned_runs._run stood in for: each call is recorded (its keys), takes 0.3 s and writes
    KEY.json as the driver does; a key listed in ``fail`` makes its first call raise instead."""
    calls, fail = [], set()

    def run(folder, todo):
        calls.append(sorted(todo))
        time.sleep(0.3)
        if fail & set(todo):
            fail.difference_update(todo)
            raise AssertionError("the command's Python failed")
        for key, args in todo.items():
            (folder / f"{key}.json").write_text(json.dumps({"exit_code": 0, "stdout": " ".join(args),
                                                            "error": ""}))

    monkeypatch.delenv("PYTEST_XDIST_WORKER", raising=False)
    monkeypatch.setattr(pinned_runs, "_run", run)
    return calls, fail


def _together(base, commands: list[dict]) -> list:
    """pinned_outputs of each of ``commands`` called at once from its own thread."""
    got, errors = [None] * len(commands), []

    def ask(i):
        try:
            got[i] = pinned_runs.pinned_outputs(base, commands[i])
        except AssertionError as error:
            errors.append(error)

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(len(commands))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return got, errors


def test_a_command_asked_for_at_once_by_two_callers_runs_once(runs, tmp_path):
    calls, _ = runs
    a, b, c = ["compare", "kaplan"], ["fit", "chinchilla"], ["init-study", "--out", pinned_runs.OUT]
    got, errors = _together(Base(tmp_path), [{"x": a, "y": b}, {"x": a, "z": c}])
    assert not errors
    ran = [key for call in calls for key in call]
    assert sorted(ran) == sorted({pinned_runs.command_key(w) for w in (a, b, c)})  # each once
    assert got[0]["x"]["stdout"] == got[1]["x"]["stdout"] == "compare kaplan"
    assert got[0]["y"]["stdout"] == "fit chinchilla" and got[0]["x"]["out"] is None
    assert got[1]["z"]["out"] == tmp_path / "pinned-runs" / pinned_runs.command_key(c) / "out"
    n_calls = len(calls)  # asked again later in the session: read back, not run
    assert pinned_runs.pinned_outputs(Base(tmp_path), {"y": b})["y"]["stdout"] == "fit chinchilla"
    assert len(calls) == n_calls


def test_a_failed_run_is_made_again_by_the_caller_waiting_for_it(runs, tmp_path):
    calls, fail = runs
    a = ["compare", "kaplan"]
    fail.add(pinned_runs.command_key(a))
    got, errors = _together(Base(tmp_path), [{"x": a}, {"x": a}])
    assert len(errors) == 1 and "failed" in str(errors[0])  # the caller whose run failed says so
    assert len(calls) == 2  # the failed run and the waiting caller's
    assert [g["x"]["stdout"] for g in got if g is not None] == ["compare kaplan"]


def test_workers_share_the_session_folder(monkeypatch, tmp_path):
    """Under xdist a worker's base folder is one of the session folder's subfolders."""
    worker = tmp_path / "popen-gw1"
    worker.mkdir()
    monkeypatch.setenv("PYTEST_XDIST_WORKER", "gw1")
    assert pinned_runs.shared_folder(Base(worker)) == tmp_path / "pinned-runs"
    monkeypatch.delenv("PYTEST_XDIST_WORKER")
    assert pinned_runs.shared_folder(Base(worker)) == worker / "pinned-runs"

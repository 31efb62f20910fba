"""The tiny test suite trains with the LR schedule its suite.toml states: the LR each update ran
at (recorded by the build beside suite.toml) is the `lr` the sweep's checkpoint grid gives the
step that update made, and no two saved steps of a model hold the same weights."""
from __future__ import annotations

import json

import pandas as pd
import pytest

pytest.importorskip("torch")

from tinysuite import TRAINED_LR, cached_tiny_suite  # noqa: E402

from scalefit.integrity import integrity_flags  # noqa: E402
from scalefit.sweep.checkpoints import checkpoint_grid  # noqa: E402
from scalefit.sweep.integrity import fingerprint_folder  # noqa: E402
from scalefit.sweep.suites import load_suite  # noqa: E402


@pytest.fixture(scope="module")
def suite_file():
    return cached_tiny_suite()


def test_each_checkpoint_was_trained_at_the_lr_of_the_table(suite_file):
    """The build trained at a constant 3e-3 while the table's lr followed a warmup + cosine."""
    suite = load_suite(suite_file)
    trained = json.loads((suite_file.parent / TRAINED_LR).read_text())
    names = [m.name for m in suite.members]
    assert sorted(trained) == sorted(names)
    for info in checkpoint_grid(suite, names, suite.steps):
        if info.step == 0:  # before any update: the warmup starts at 0
            assert info.lr == 0.0
            continue
        assert trained[info.model][str(info.step)] == pytest.approx(info.lr, rel=1e-12, abs=0.0), info
    # every update, saved or not, ran at the schedule's LR of the step it made: warmup, peak, floor
    for updates in trained.values():
        assert [int(s) for s in updates] == list(range(1, max(suite.steps) + 1))
        lrs = [updates[str(s)] for s in range(1, max(suite.steps) + 1)]
        assert lrs[0] == pytest.approx(lrs[1] / 2) and lrs[1] == pytest.approx(suite.schedule.peak)
        assert lrs[-1] == pytest.approx(suite.schedule.final_ratio * suite.schedule.peak)
        assert all(a > b for a, b in zip(lrs[1:], lrs[2:]))  # the cosine decays at every step


def test_no_two_steps_of_the_tiny_suite_hold_the_same_weights(suite_file):
    """A first update at LR 0 would have saved step 1 as a copy of step 0 (flagged as duplicates)."""
    suite = load_suite(suite_file)
    rows = [{"model": m.name, "step": s, **fingerprint_folder(suite_file.parent / m.name / f"step{s}")}
            for m in suite.members for s in suite.steps]
    flags = integrity_flags(pd.DataFrame(rows))
    assert not flags["duplicate"].astype(bool).any(), flags.to_string()
    assert len({r["fingerprint"] for r in rows}) == len(rows)

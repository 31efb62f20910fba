"""The tiny test suite trains with the LR schedule its suite.toml states and the timing of scalefit's
trainer (GPT-NeoX's, Pythia's): the update from step s to s + 1 runs at lr_at_step(schedule, s), the
`lr` the sweep's checkpoint grid gives step s (recorded by the build beside suite.toml), and no two
saved steps of a model hold the same weights (the schedule has no warmup from LR 0, whose first
update would leave step 1 a copy of step 0)."""
from __future__ import annotations

import json

import pandas as pd
import pytest

pytest.importorskip("torch")

from tinysuite import TRAINED_LR, cached_tiny_suite  # noqa: E402

from scalefit.integrity import integrity_flags  # noqa: E402
from scalefit.schedule import lr_at_step  # noqa: E402
from scalefit.sweep.checkpoints import checkpoint_grid  # noqa: E402
from scalefit.sweep.integrity import fingerprint_folder  # noqa: E402
from scalefit.sweep.suites import load_suite  # noqa: E402


@pytest.fixture(scope="module")
def suite_file():
    return cached_tiny_suite()


def test_each_checkpoint_was_trained_at_the_lr_of_the_table(suite_file):
    """The build trained at a constant 3e-3 while the table's lr followed a warmup + cosine; then
    the update that made step n ran at the table's lr of step n, one update late for the trainer."""
    suite = load_suite(suite_file)
    trained = json.loads((suite_file.parent / TRAINED_LR).read_text())
    names = [m.name for m in suite.members]
    assert sorted(trained) == sorted(names)
    last = max(suite.steps)
    for info in checkpoint_grid(suite, names, suite.steps):
        if info.step == last:  # no update runs from the last step; its lr is the cosine's floor
            assert info.lr == pytest.approx(suite.schedule.final_ratio * suite.schedule.peak)
            continue
        # the lr the table gives step s is the LR the update from step s ran at
        assert trained[info.model][str(info.step)] == pytest.approx(info.lr, rel=1e-12, abs=0.0), info
    # every update, saved or not, ran at the trainer's LR: update s (step s -> s + 1) at lr_at_step(s)
    for updates in trained.values():
        assert [int(s) for s in updates] == list(range(last))
        lrs = [updates[str(s)] for s in range(last)]
        assert lrs == pytest.approx([lr_at_step(suite.schedule, s) for s in range(last)], rel=1e-12)
        assert lrs[0] == pytest.approx(suite.schedule.peak)  # the first update: the peak, no warmup from 0
        assert all(a > b > suite.schedule.final_ratio * suite.schedule.peak for a, b in zip(lrs, lrs[1:]))


def test_no_two_steps_of_the_tiny_suite_hold_the_same_weights(suite_file):
    """A first update at LR 0 (a warmup from 0, with the trainer's timing) would have saved step 1
    as a copy of step 0 (flagged as duplicates)."""
    suite = load_suite(suite_file)
    rows = [{"model": m.name, "step": s, **fingerprint_folder(suite_file.parent / m.name / f"step{s}")}
            for m in suite.members for s in suite.steps]
    flags = integrity_flags(pd.DataFrame(rows))
    assert not flags["duplicate"].astype(bool).any(), flags.to_string()
    assert len({r["fingerprint"] for r in rows}) == len(rows)

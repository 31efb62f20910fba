"""The suite registry: Pythia facts against the published configs, the LR schedule, step selection."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from scalefit.errors import InputError
from scalefit.schedule import LRSchedule, lr_at_step
from scalefit.sweep.suites import load_suite, select_steps


@pytest.fixture(scope="module")
def pythia():
    return load_suite("pythia")


def test_pythia_members_match_the_published_configs(pythia, anchors):
    configs = pd.read_csv(anchors / "pythia" / "pythia_configs.csv")
    assert len(pythia.members) == len(configs) == 18
    for row in configs.itertuples(index=False):
        m = pythia.member(row.model)
        assert m.params == row.params_total, row.model
        assert m.params_nonembed == row.params_nonembedding, row.model
        assert m.lr_peak == pytest.approx(row.lr_max_yml), row.model
        assert pythia.tokens_per_step == row.batch_tokens
        assert pythia.schedule.warmup_steps == row.warmup_steps == 1430
        assert pythia.schedule.decay_steps == row.lr_decay_iters == 143000
        assert pythia.lr(m, 143000) == pytest.approx(row.min_lr), row.model
    # the 1B learning-rate disagreement is kept, not silently resolved
    assert "lr_1b" in pythia.notes and pythia.member("1b").extra["lr_peak_readme"] == pytest.approx(3e-4)


def test_pythia_steps_match_the_published_revisions(pythia, anchors):
    steps = pd.read_csv(anchors / "pythia" / "pythia_checkpoint_steps.csv")
    assert list(pythia.steps) == list(steps["step"]) and len(pythia.steps) == 154
    assert [int(pythia.tokens(s)) for s in steps["step"]] == list(steps["tokens"])
    assert [pythia.revision.format(step=s) for s in steps["step"]] == list(steps["hf_revision"])


def test_pythia_facts_without_anchors(pythia):
    assert len(pythia.steps) == 154 and pythia.steps[:3] == (0, 1, 2) and pythia.steps[-1] == 143000
    assert pythia.tokens_per_step == 1024 * 2048
    assert pythia.member("70m").name == "pythia-70m"
    assert pythia.member("160m-deduped").name == "pythia-160m-deduped"
    assert pythia.member("70m").params == 70_426_624


def test_pythia_lr_schedule(pythia):
    m = pythia.member("160m")  # peak 6e-4
    peak = m.lr_peak
    assert pythia.lr(m, 0) == 0.0
    assert pythia.lr(m, 715) == pytest.approx(peak / 2)  # linear warmup over 1430 steps
    assert pythia.lr(m, 1430) == pytest.approx(peak)
    mid = (1430 + 143000) / 2  # half way through the cosine: mean of peak and floor
    assert pythia.lr(m, mid) == pytest.approx(0.55 * peak)
    assert pythia.lr(m, 143000) == pytest.approx(0.1 * peak)
    s = np.arange(1430, 143001, 1000)
    lrs = pythia.lr(m, s)
    assert np.all(np.diff(lrs) < 0)  # decays monotonically after warmup
    expected = 0.1 * peak + 0.9 * peak * 0.5 * (1 + np.cos(math.pi * (s - 1430) / (143000 - 1430)))
    np.testing.assert_allclose(lrs, expected, rtol=1e-12)


def test_lr_schedule_styles():
    lin = LRSchedule(peak=1.0, warmup_steps=10, decay_steps=110, final_ratio=0.0, style="linear")
    assert lr_at_step(lin, 60) == pytest.approx(0.5)
    assert lr_at_step(LRSchedule(peak=2.0, style="constant"), 1234) == 2.0
    with pytest.raises(InputError):
        lr_at_step(LRSchedule(peak=1.0, style="step"), 1)


def test_step_selectors(pythia):
    steps = pythia.steps
    assert select_steps("all", steps) == list(steps)
    assert select_steps("1000:5000:2000", steps) == [1000, 3000, 5000]
    assert select_steps("0,512,143000", steps) == [0, 512, 143000]
    log = select_steps("log", steps)
    assert log[0] == 0 and log[-1] == 143000 and {1, 2, 4, 512, 1000} <= set(log)
    assert len(log) < 30
    for bad in ("7", "5:1:1", "1:2:0", "x", "200000:300000:1000"):
        with pytest.raises(InputError):
            select_steps(bad, steps)


def test_user_spec_errors(tmp_path):
    spec = tmp_path / "s.toml"
    spec.write_text('name = "x"\ntokens_per_step = 8\n[source]\nhub = "a/{model}"\nlocal = "b"\n'
                    '[[members]]\nname = "m"\n')
    with pytest.raises(InputError, match="exactly one"):
        load_suite(spec)
    spec.write_text('name = "x"\n[source]\nhub = "a/{model}"\n')
    with pytest.raises(InputError, match="tokens_per_step"):
        load_suite(spec)
    spec.write_text("name = [\n")
    with pytest.raises(InputError, match="cannot parse"):
        load_suite(spec)


BASE_SPEC = ('name = "x"\ntokens_per_step = 512\ncontext_length = 64\nsteps = [0, 1, 2, 4, 8]\n'
             '[source]\nlocal = "."\n[schedule]\nwarmup_steps = 2\ndecay_steps = 8\nfinal_ratio = 0.1\n'
             '[[members]]\nname = "a"\nparams = 100\nlr_peak = 0.003\n'
             '[[members]]\nname = "b"\nparams = 200\nlr_peak = 0.003\nlayers = 2\n')


@pytest.mark.parametrize("old, new, message", [
    ("context_length = 64", 'context_length = "64"', "context_length = '64': expected a whole number >= 1"),
    ("context_length = 64", "context_length = -64", "context_length = -64"),
    ("context_length = 64", "context_length = true", "context_length = True"),
    ("steps = [0, 1, 2, 4, 8]", "steps = [0, 1.5, 8]", "steps: 1.5 is not a step"),
    ("steps = [0, 1, 2, 4, 8]", "steps = [0, -1, 8]", "steps: -1 is not a step"),
    ('lr_peak = 0.003\n[[', 'lr_paek = 0.003\n[[', "member 'a': unknown key 'lr_paek'; did you mean 'lr_peak'?"),
    ('name = "b"', 'name = "a"', "two members are named 'a'"),
    ("tokens_per_step = 512", "tokens_per_step = 0", "tokens_per_step = 0: expected a whole number >= 1"),
    ("final_ratio = 0.1", "final_ratio = nan", "[schedule] final_ratio = nan"),
    ("lr_peak = 0.003\n[[", "lr_peak = -0.003\n[[", "'lr_peak' = -0.003: expected a number > 0"),
    ('local = "."', 'local = "nope"', "[source] local = 'nope': folder"),
])
def test_suite_spec_values_are_checked_when_it_loads(tmp_path, old, new, message):
    spec = tmp_path / "s.toml"
    assert load_suite_text(spec, BASE_SPEC).members[1].extra == {"layers": 2}  # an extra fact is kept
    with pytest.raises(InputError) as err:
        load_suite_text(spec, BASE_SPEC.replace(old, new, 1))
    assert message in str(err.value)


def load_suite_text(path, text):
    path.write_text(text)
    return load_suite(path)


def test_two_models_that_would_share_a_result_folder_are_refused(tmp_path):
    """A model's results live under its name with '/' stored as '__': 'org/m' and 'org__m' wrote
    into one folder, each resuming (or overwriting) the other's parts. Refused before the sweep."""
    from test_cli_audit import one_line_error

    spec = tmp_path / "s.toml"
    spec.write_text('name = "x"\ntokens_per_step = 8\nsteps = [1]\n[source]\nhub = "a/{model}"\n'
                    '[[members]]\nname = "org/m"\n\n[[members]]\nname = "org__m"\n')
    one_line_error(["eval", "--suite", str(spec), "--models", "org/m,org__m", "--steps", "1",
                    "--out", str(tmp_path / "out")],
                   "two checkpoints would share the result folder org__m/step0000001: org/m step 1 "
                   "(a/org/m@step1) and org__m step 1 (a/org__m@step1); rename one")
    assert not (tmp_path / "out").exists()

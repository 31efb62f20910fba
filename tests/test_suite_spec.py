"""A suite training spec's token budgets: one under a batch trained a whole batch (a run 'D10'
of 32 tokens), and two budgets of one part that round to the same steps were one run, the other
dropped without a word. Both are refused naming the spec, the part and the budgets."""
from __future__ import annotations

import re

import pytest

from scalefit.errors import InputError
from scalefit.trainer.spec import load_spec
from tinyspec import S1, micro_spec

SPEC = micro_spec(("[grid]", {"tokens": [320, 960]}), ("[long]", {"tokens": [960]}),
                  recipe={"seq_len": 16, "batch_seqs": 2, "warmup_min_steps": 2}, sizes=(S1,))


def spec_with(tmp_path, grid_tokens):
    path = tmp_path / "spec.toml"
    path.write_text(SPEC.replace("tokens = [320, 960]", f"tokens = {grid_tokens}", 1))
    return path


def test_a_budget_under_one_batch_is_refused(tmp_path):
    path = spec_with(tmp_path, "[10, 320]")
    with pytest.raises(InputError, match=re.escape(f"{path}: [grid] tokens item = 10: less than one batch "
                                                   "(batch_tokens = seq_len x batch_seqs = 32)")):
        load_spec(path)


def test_two_budgets_of_one_part_that_train_the_same_steps_are_refused(tmp_path):
    path = spec_with(tmp_path, "[320, 330]")
    with pytest.raises(InputError, match=re.escape(f"{path}: [grid] tokens: 320 and 330 both train 10 steps "
                                                   "of 32 tokens (s1); give budgets at least one batch apart")):
        load_spec(path)


def test_a_grid_run_that_is_also_the_long_run_is_still_one_run(tmp_path):
    spec = load_spec(spec_with(tmp_path, "[320, 960]"))
    assert [(r.run, r.also) for r in spec.runs] == [("grid/s1-D320", ""), ("grid/s1-D960", "long")]


def test_eval_tokens_under_one_window_is_refused_before_anything_trains(tmp_path):
    """Every run trained to its end, then its final evaluation failed ('eval set: need 1 <= context')."""
    path = tmp_path / "spec.toml"
    path.write_text(SPEC.replace("batch_seqs = 2", "batch_seqs = 2\neval_tokens = 5", 1))
    with pytest.raises(InputError, match=re.escape(f"{path}: [recipe] eval_tokens = 5 is less than one window of "
                                                   "seq_len = 16 tokens; give eval_tokens >= 16")):
        load_spec(path)
    # the defaults: seq_len 128, eval_tokens 32768 (runs of 4 and 8 batches of 256 tokens)
    path.write_text(SPEC.replace("seq_len = 16\n", "", 1).replace("tokens = [320, 960]", "tokens = [960, 2048]", 1))
    assert load_spec(path).recipe.eval_tokens >= load_spec(path).recipe.seq_len


@pytest.mark.parametrize("fracs, message", [
    ("[0.05, 0.05]", "warmup_fracs 0.05 and 0.05 give the same warmup at tokens = 1280 (2 of 40 steps"),
    ("[0.5, 0.05, 0.1]", "warmup_fracs 0.05 and 0.1 give the same warmup at tokens = 1280 (10 of 40 steps, "
                         "warmup_min_steps = 10)"),
])
def test_warmup_variants_that_train_the_same_warmup_are_refused(tmp_path, fracs, message):
    """Two ids, one training run (a repeated fraction, or two that round or clamp to one warmup
    length): both were trained and the analyses compared a run with itself."""
    path = tmp_path / "spec.toml"
    min_steps = 10 if "0.5," in fracs else 1
    path.write_text(SPEC + f"\n[warmup]\nsizes = [\"s1\"]\ntokens = [1280]\nwarmup_fracs = {fracs}\n"
                    f"warmup_min_steps = {min_steps}\n")
    with pytest.raises(InputError, match=re.escape(f"{path}: [warmup] {message}")):
        load_spec(path)
    path.write_text(SPEC + "\n[warmup]\nsizes = [\"s1\"]\ntokens = [1280]\nwarmup_fracs = [0.05, 0.25]\n")
    assert [r.run for r in load_spec(path).runs if r.part == "warmup"] == ["warmup/s1-D1280-W0.05",
                                                                          "warmup/s1-D1280-W0.25"]


def test_only_is_read_stripped_and_an_empty_one_names_no_run(tmp_path):
    """--only ' grid/s1-D320 ' matched nothing for its spaces, and --only '' trained every run."""
    from scalefit.trainer.train import select_runs

    runs = load_spec(spec_with(tmp_path, "[320, 960]")).runs
    assert [r.run for r in select_runs(runs, " grid/s1-D320 ")] == ["grid/s1-D320"]
    for blank in ("", "  "):
        with pytest.raises(InputError, match=re.escape(f"--only {blank!r}: names no run; give a run id (e.g. "
                                                       "grid/s1-D320), part of one, or a model")):
            select_runs(runs, blank)
    assert select_runs(runs, None) == runs


@pytest.mark.parametrize("tokens, message", [
    ("[640, 650]", "[wsd] tokens: 640 and 650 both train 20 steps of 32 tokens; give lengths at least one batch apart"),
    ("[20]", "[wsd] tokens item = 20: less than one batch (batch_tokens = seq_len x batch_seqs = 32)"),
    ("[64]", "[wsd] tokens = 64: a cooldown_frac of 0.2 x 2 steps rounds to no step"),
])
def test_wsd_lengths_that_train_no_run_of_their_own_are_refused(tmp_path, tokens, message):
    """[640, 650] kept one run (D650, the other dropped), [20] trained 64 tokens as 'D20', and [64]
    branched at its last step: a 'cooldown' of no step under a WSD id."""
    path = tmp_path / "spec.toml"
    path.write_text(SPEC + f'\n[wsd]\nsizes = ["s1"]\ntokens = {tokens}\n')
    with pytest.raises(InputError, match=re.escape(f"{path}: {message}")):
        load_spec(path)
    path.write_text(SPEC + '\n[wsd]\nsizes = ["s1"]\ntokens = [320, 640]\n')
    assert [r.run for r in load_spec(path).runs if r.part == "wsd"] == \
        ["wsd/s1-constant", "wsd/s1-D320-cool0.2", "wsd/s1-D640-cool0.2"]

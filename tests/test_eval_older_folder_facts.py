"""A sweep folder recorded by an earlier scalefit, before it recorded the device, the tokenizer
and the suite spec's facts of its results (measurements.json), cannot be checked against them: a
resume says once, in one line, which facts are absent and so not checked, and records this run's
so that later resumes are checked against them."""
from __future__ import annotations

import json
import shutil

import pandas as pd
import pytest

pytest.importorskip("torch")
from click.testing import CliRunner  # noqa: E402

from scalefit.cli import main  # noqa: E402
from tinysuite import cached_tiny_suite  # noqa: E402

from test_eval_folder_settings import eval_args, one_line_exit_2  # noqa: E402

LATER = ("--device", "the tokenizer of tiny-a", "the tokens and LR of tiny-a in --suite")


@pytest.fixture(scope="module")
def measured(tmp_path_factory):
    """tiny-a step 8 on val, on the CPU, as this scalefit records it."""
    out = tmp_path_factory.mktemp("older") / "now"
    result = CliRunner().invoke(main, eval_args(out))
    assert result.exit_code == 0, result.output
    return out


def older(measured, folder):
    """A copy of `measured` whose record lacks the facts LATER, as before scalefit recorded them."""
    shutil.copytree(measured, folder)
    path = folder / "measurements.json"
    known = json.loads(path.read_text())
    assert all(fact in known["loss:val"] for fact in LATER)
    path.write_text(json.dumps({name: {k: v for k, v in options.items() if k not in LATER}
                                for name, options in known.items()}))
    return folder


def said(out) -> str:
    """The one line a resume of `older(out)` says."""
    return (f"warning: {out}: recorded by an earlier scalefit without {', '.join(LATER)} (loss:val); its "
            "results are not checked against them, and this run records them for later runs")


def notes(result):
    return [line for line in result.stderr.splitlines() if "not checked" in line]


def test_a_resume_of_an_older_folder_names_the_facts_not_checked_and_records_them(measured, tmp_path):
    out = older(measured, tmp_path / "o")
    first = CliRunner().invoke(main, eval_args(out, steps="0,8"))
    assert first.exit_code == 0, first.output
    assert notes(first) == [said(out)]
    recorded = json.loads((out / "measurements.json").read_text())
    assert recorded == json.loads((measured / "measurements.json").read_text())  # this run's facts
    assert set(pd.read_parquet(out / "evals.parquet")["step"]) == {0, 8}
    again = CliRunner().invoke(main, eval_args(out, steps="0,8"))
    assert again.exit_code == 0 and notes(again) == [], again.output  # said once: checked from now on


def test_a_folder_recorded_with_every_fact_says_nothing(measured, tmp_path):
    out = tmp_path / "o"
    shutil.copytree(measured, out)
    result = CliRunner().invoke(main, eval_args(out))
    assert result.exit_code == 0 and notes(result) == [], result.output


def test_an_older_folder_resumed_with_another_option_is_refused_in_one_line(measured, tmp_path):
    """The refusal of a recorded option stays the only line; the record is left as it was."""
    out = older(measured, tmp_path / "o")
    before = (out / "measurements.json").read_text()
    one_line_exit_2(CliRunner().invoke(main, eval_args(out, "--stride", "32", steps="0,8")),
                    f"--stride 32: {out} was measured with --stride (default) (loss:val)")
    assert (out / "measurements.json").read_text() == before


def test_a_head_compared_through_the_recorded_flag_is_not_named(measured, tmp_path):
    """A folder that recorded the --cross-entropy flag (not yet its head) has the head compared
    through the flag (recorded_facts.recorded_head): not a fact left unchecked."""
    out = older(measured, tmp_path / "o")
    path = out / "measurements.json"
    known = json.loads(path.read_text())
    known["loss:val"].pop("the head of --cross-entropy")
    path.write_text(json.dumps({"loss:val": {**known["loss:val"], "--cross-entropy": "auto"}}))
    result = CliRunner().invoke(main, eval_args(out, steps="0,8"))
    assert result.exit_code == 0, result.output
    assert notes(result) == [said(out)]


def weights_args(out, steps):
    return ["weights", "--suite", str(cached_tiny_suite()), "--models", "tiny-a", "--steps", steps, "--device",
            "cpu", "--no-families", "--no-spectra", "--no-progress", "--out", str(out)]


def test_scalefit_weights_on_an_older_folder_names_the_facts_not_checked(tmp_path):
    """`scalefit weights` records its facts through the same check as eval (engine.check_options),
    and says the same one line of a record made before it recorded --device."""
    out = tmp_path / "w"
    assert CliRunner().invoke(main, weights_args(out, "8")).exit_code == 0
    path = out / "measurements.json"
    known = json.loads(path.read_text())
    assert known["weights"]["--device"] == "cpu"
    path.write_text(json.dumps({"weights": {k: v for k, v in known["weights"].items() if k != "--device"}}))
    result = CliRunner().invoke(main, weights_args(out, "0,8"))
    assert result.exit_code == 0, result.output
    assert notes(result) == [f"warning: {out}: recorded by an earlier scalefit without --device (weights); its "
                             "results are not checked against them, and this run records them for later runs"]
    assert json.loads(path.read_text()) == known
    assert set(pd.read_parquet(out / "weights.parquet")["step"]) == {0, 8}
    again = CliRunner().invoke(main, weights_args(out, "0,8"))
    assert again.exit_code == 0 and notes(again) == [], again.output

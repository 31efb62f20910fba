"""`scalefit weights` mends of audit A2: it records what `eval --weights` records of the weights
measurement (the device, the tokens and LR of each suite member), so a re-run under a changed suite
spec is refused and `eval --weights` resumes its folder without a false 'earlier scalefit' warning."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

pytest.importorskip("torch")
from click.testing import CliRunner  # noqa: E402

from scalefit.cli import main  # noqa: E402
from scalefit.errors import InputError  # noqa: E402
from tinysuite import cached_tiny_suite  # noqa: E402

from test_eval_folder_settings import one_line_exit_2  # noqa: E402

QUICK = ("--models", "tiny-a", "--steps", "0,8", "--no-families", "--no-spectra", "--device", "cpu",
         "--no-progress")


def weights_args(out, suite=None, *extra):
    return ["weights", "--suite", str(suite or cached_tiny_suite()), *QUICK, "--out", str(out), *extra]


@pytest.fixture(scope="module")
def measured(tmp_path_factory):
    """tiny-a steps 0 and 8 by `scalefit weights` (moments only)."""
    out = tmp_path_factory.mktemp("weights-record") / "w"
    result = CliRunner().invoke(main, weights_args(out))
    assert result.exit_code == 0, result.output
    return out


def respec(tmp_path, old: str, new: str):
    """The tiny suite's spec with `old` replaced by `new`, its checkpoints where they are."""
    suite = cached_tiny_suite()
    text = suite.read_text().replace('local = "."', f'local = "{suite.parent}"')
    assert old in text
    path = tmp_path / "changed.toml"
    path.write_text(text.replace(old, new))
    return path


def test_weights_records_the_tokens_and_lr_as_eval_weights_does(measured):
    recorded = json.loads((measured / "measurements.json").read_text())["weights"]
    assert recorded["--device"] == "cpu"
    assert recorded["the tokens and LR of tiny-a in --suite"].startswith("tokens_per_step 512, schedule ")


@pytest.mark.parametrize("old, new", [("tokens_per_step = 512", "tokens_per_step = 1024"),
                                      ("decay_steps = 8", "decay_steps = 6")])
def test_a_rerun_under_a_changed_schedule_is_refused(measured, tmp_path, old, new):
    """Was '2 already done' with exit 0, and a resumed sweep mixed two schedules in weights.parquet."""
    out = tmp_path / "w"
    shutil.copytree(measured, out)
    before = pd.read_parquet(out / "weights.parquet")
    result = CliRunner().invoke(main, weights_args(out, respec(tmp_path, old, new)))
    one_line_exit_2(result, f"error: the tokens and LR of tiny-a in --suite changed since {out} was measured")
    assert pd.read_parquet(out / "weights.parquet").equals(before)


def test_eval_weights_resumes_a_weights_folder_without_an_earlier_scalefit_warning(measured, tmp_path):
    """Was 'recorded by an earlier scalefit without the tokens and LR of tiny-a in --suite', of a
    folder this scalefit's `scalefit weights` wrote."""
    out = tmp_path / "w"
    shutil.copytree(measured, out)
    suite = cached_tiny_suite()
    result = CliRunner().invoke(main, ["eval", "--suite", str(suite), "--weights", *QUICK, "--threads", "1",
                                       "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "earlier scalefit" not in result.stderr, result.stderr
    assert "0 checkpoints measured, 2 already done" in result.stderr, result.stderr


@pytest.mark.parametrize("stat, said", [("nope", " (known: alpha, "), ("t_n", "; did you mean 't_nu'?")])
def test_an_unknown_stat_is_refused_before_measuring(tmp_path, stat, said):
    """Was: the whole sweep, then 'note: --stat nope: not measured, so not plotted' and exit 0."""
    out = tmp_path / "w"
    step8 = cached_tiny_suite().parent / "tiny-a" / "step8"
    result = CliRunner().invoke(main, ["weights", "--checkpoint", str(step8), "--stat", stat, "--no-progress",
                                       "--out", str(out)])
    one_line_exit_2(result, f"error: --stat {stat}: no such statistic is measured by a weights sweep{said}")
    assert not (out / "parts").exists()


def test_a_stat_the_flags_skip_is_said_not_refused(measured, tmp_path):
    """A folder measured with --no-families has no t_nu rows; t_nu is a statistic a weights sweep
    measures, so it is not refused up front (the check reads the sweep's own names, not a folder's first
    part, which may be a diverged, damaged or older checkpoint's): the resume measures nothing new and
    says t_nu was not measured, so not plotted."""
    out = tmp_path / "w"
    shutil.copytree(measured, out)
    before = sorted(p.name for p in (out / "parts").rglob("*.parquet"))
    result = CliRunner().invoke(main, weights_args(out, None, "--stat", "t_nu"))
    assert result.exit_code == 0, result.output
    assert "note: --stat t_nu: not measured, so not plotted" in result.output
    assert sorted(p.name for p in (out / "parts").rglob("*.parquet")) == before


def test_the_stat_check_does_not_read_the_folders_parts(measured, tmp_path):
    """The check read the first part file in sort order: a damaged one raised pyarrow's traceback."""
    out = tmp_path / "w"
    shutil.copytree(measured, out)
    first = sorted(out.glob("parts/*/*/weights--*.parquet"))[0]
    first.write_bytes(b"not a parquet file")
    from scalefit.sweep.weights import check_stat_names
    check_stat_names(["t_nu", "alpha"], "--stat")  # measured by a weights sweep: no error, no read of a part
    with pytest.raises(InputError, match="--stat: 'best_family' names a category"):
        check_stat_names(["best_family"], "--stat")


def test_a_damaged_checkpoint_fails_without_a_parameter_count_warning(tmp_path):
    """Was also 'no parameter count ... (no safetensors); give params ... in the suite spec's
    [[members]]', of a folder holding a (truncated) safetensors file, in a run with no suite spec."""
    folder = tmp_path / "corrupt" / "step5"
    shutil.copytree(cached_tiny_suite().parent / "tiny-a" / "step8", folder)
    weights = folder / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])
    result = CliRunner().invoke(main, ["weights", "--checkpoint", str(folder), "--no-progress",
                                       "--out", str(tmp_path / "w")])
    assert result.exit_code == 1, result.output
    assert "failed: corrupt step 5" in result.stderr and "model.safetensors" in result.stderr, result.stderr
    assert "parameter count" not in result.stderr, result.stderr


@pytest.mark.parametrize("tokens, advice", [(None, False), (4096, True)])
def test_the_members_advice_is_given_only_for_a_suite_s_checkpoints(tokens, advice):
    """A --checkpoint folder's rows (no tokens: no suite spec) are not told to fix a suite spec."""
    from scalefit.sweep.params import unknown_parameter_counts

    rows = pd.DataFrame({"model": ["m"], "step": [8], "tokens": [tokens], "params": [None],
                         "params_nonembed": [None], "stat": ["std"], "value": [1.0]})
    said = unknown_parameter_counts({"weights": rows})
    assert said.startswith("1 checkpoint(s) have no parameter count in their rows (m step 8): none could be "
                           "counted from their weight files")
    assert ("[[members]]" in said) == advice
    failed = pd.DataFrame({"model": ["m"], "step": [8], "location": ["x"], "error": ["damaged"]})
    assert unknown_parameter_counts({"weights": rows}, failed) is None


def test_the_report_histogram_is_of_the_latest_step_not_the_last_named(tmp_path, monkeypatch):
    """`--checkpoint .../step8 --checkpoint .../step4` drew step 4 under a summary of step 8."""
    from types import SimpleNamespace

    import scalefit.weightstats.report as report

    drawn = []
    monkeypatch.setattr(report, "histogram_plot", lambda path, what, out, title: drawn.append(path) or [])
    named = [SimpleNamespace(model=m, step=s, path=str(tmp_path / m / f"step{s}"))
             for m, s in (("a", 2), ("b", 8), ("b", 4))]
    for c in named:
        Path(c.path).mkdir(parents=True)
    table = pd.DataFrame({"model": ["a", "b", "b"], "step": [2, 8, 4], "tensor": "*", "group": "mlp_in",
                          "layer": None, "stat": "std", "value": [0.1, 0.2, 0.3]})
    report.write_weights_report(table, tmp_path / "out", stats=[], checkpoints=named)
    assert drawn == [str(tmp_path / "b" / "step8")]


@pytest.mark.parametrize("command", ["weights", "eval"])
def test_a_second_member_into_the_folder_is_no_earlier_scalefit_and_the_first_stays_checked(tmp_path, command):
    """Measuring tiny-b into a folder of tiny-a warned 'recorded by an earlier scalefit without the
    tokens and LR of tiny-b' and replaced the record, so tiny-a's facts were no longer checked."""
    suite = cached_tiny_suite()
    out = tmp_path / "w"
    what = ["--max-tokens", "100", "--dataset", f"val={suite.parent / 'data' / 'val.txt'}"] if command == "eval" \
        else ["--no-families", "--no-spectra"]

    def run(model, spec=suite):
        return CliRunner().invoke(main, [command, "--suite", str(spec), "--models", model, "--steps", "8", *what,
                                         "--device", "cpu", "--no-progress", "--out", str(out)])
    assert run("tiny-a").exit_code == 0
    second = run("tiny-b")
    assert second.exit_code == 0 and "earlier scalefit" not in second.stderr, second.output
    recorded = json.loads((out / "measurements.json").read_text())
    assert all(f"the tokens and LR of {m} in --suite" in options for options in recorded.values()
               for m in ("tiny-a", "tiny-b"))
    one_line_exit_2(run("tiny-a", respec(tmp_path, "tokens_per_step = 512", "tokens_per_step = 1024")),
                    f"error: the tokens and LR of tiny-a in --suite changed since {out} was measured")


def test_a_categorical_stat_is_refused_before_measuring(tmp_path):
    """`scalefit weights --stat best_family` measured every checkpoint, then exited 2 when the report
    plotted the family code (F2's refuse_categorical): refused first, as weights plot refuses it."""
    out = tmp_path / "w"
    r = CliRunner().invoke(main, weights_args(out, None, "--stat", "best_family"))
    assert r.exit_code == 2 and "'best_family' names a category" in r.output, r.output
    assert not list(out.glob("parts/*/*/weights--*.parquet"))  # nothing measured

"""Checkpoints a sweep left out or measured short without a word (audit s42/s13, task s14): a folder
without config.json measured without its q/k/v split, step folders whose name gives no step, and a
--steps range that covers steps with no checkpoint."""
from __future__ import annotations

import json
import shutil
import warnings

import pytest

torch = pytest.importorskip("torch")

from click.testing import CliRunner  # noqa: E402
from tinysuite import cached_tiny_suite  # noqa: E402

from scalefit.cli import main  # noqa: E402
from scalefit.errors import InputError, ScalefitWarning  # noqa: E402
from scalefit.sweep.grid import sweep_grid  # noqa: E402


def _copy_suite(tmp_path, steps=(0, 2), spec_steps=True):
    """tiny-a's `steps` folders and the suite spec (its steps list dropped without `spec_steps`)."""
    root = tmp_path / "suite"
    for step in steps:
        shutil.copytree(cached_tiny_suite().parent / "tiny-a" / f"step{step}", root / "tiny-a" / f"step{step}")
    text = cached_tiny_suite().read_text()
    if not spec_steps:
        text = "\n".join(line for line in text.splitlines() if not line.startswith("steps"))
    (root / "suite.toml").write_text(text)
    return root


def _notes(call):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = call()
    return result, [str(w.message) for w in caught if issubclass(w.category, ScalefitWarning)]


def test_weights_of_a_folder_without_config_json_is_a_failed_checkpoint(tmp_path):
    """It exited 0 with 1044 rows instead of 1452: without the config's heads the fused
    query_key_value is not split into [q], [k], [v] (groups attn_q/attn_k/attn_v), while `eval`
    records the same folder as failed. Now `weights` fails it too, naming the file, by --checkpoint,
    by --suite and for a .safetensors file in such a folder."""
    root = _copy_suite(tmp_path)
    step = root / "tiny-a" / "step2"
    (step / "config.json").unlink()
    base = ["weights", "--no-families", "--no-spectra", "--no-progress", "--json"]
    for n, where in enumerate((["--checkpoint", str(step)], ["--checkpoint", str(step / "model.safetensors")],
                               ["--suite", str(root / "suite.toml"), "--models", "tiny-a", "--steps", "2"])):
        result = CliRunner().invoke(main, [*base, *where, "--out", str(tmp_path / f"w{n}")])
        assert result.exit_code == 1, result.output
        failed = json.loads(result.stdout)["failures"]
        assert len(failed) == 1 and "no config.json in the checkpoint folder" in failed[0]["error"], failed
    # the folder beside it, with its config, is measured with the split
    result = CliRunner().invoke(main, [*base, "--checkpoint", str(root / "tiny-a" / "step0"), "--out", str(tmp_path / "ok")])
    assert result.exit_code == 0, result.output
    import pandas as pd
    rows = pd.read_parquet(tmp_path / "ok" / "weights.parquet")
    assert {"attn_q", "attn_k", "attn_v"} <= set(rows["group"])


def test_step_folders_without_a_step_in_the_name_are_named(tmp_path):
    """A suite whose steps are found on disk left `final` and `stepfoo` out without a word (while
    `weights --checkpoint` warns of such a folder): one note names them, for eval and weights alike
    (both take their grid from sweep_grid)."""
    root = _copy_suite(tmp_path, spec_steps=False)
    for name in ("final", "stepfoo"):
        shutil.copytree(root / "tiny-a" / "step2", root / "tiny-a" / name)
    (root / "tiny-a" / "logs").mkdir()  # not a checkpoint: not named
    (spec, grid, _), notes = _notes(lambda: sweep_grid(str(root / "suite.toml"), ["tiny-a"], "all"))
    assert [info.step for info in grid] == [0, 2]
    said = [n for n in notes if "no step in the name" in n]
    assert len(said) == 1, notes
    assert str(root / "tiny-a" / "final") in said[0] and str(root / "tiny-a" / "stepfoo") in said[0]
    assert "logs" not in said[0]
    shutil.rmtree(root / "tiny-a" / "final")
    shutil.rmtree(root / "tiny-a" / "stepfoo")
    _, notes = _notes(lambda: sweep_grid(str(root / "suite.toml"), ["tiny-a"], "all"))
    assert notes == []


def test_a_step_range_says_which_of_its_steps_are_measured(tmp_path):
    """--steps 3 is refused (no such checkpoint) but --steps 0:100:3 measured only step 0 without
    a word: a range measures the checkpoints it covers and says which, when it covers steps that
    are none; a range that covers none is refused."""
    suite = str(cached_tiny_suite())
    with pytest.raises(InputError, match="step 3 is not a checkpoint"):
        sweep_grid(suite, ["tiny-a"], "3")
    (_, grid, _), notes = _notes(lambda: sweep_grid(suite, ["tiny-a"], "0:100:3"))
    assert [info.step for info in grid] == [0]
    assert notes == ["--steps 0:100:3: 33 of its 34 steps are no checkpoint of the suite; measuring the 1 "
                     "that are: step 0"]
    (_, grid, _), notes = _notes(lambda: sweep_grid(suite, ["tiny-a"], "0:2"))
    assert [info.step for info in grid] == [0, 1, 2] and notes == []
    with pytest.raises(InputError, match="selects no checkpoint"):
        sweep_grid(suite, ["tiny-a"], "5:7")


def test_a_range_over_members_of_other_steps_names_each(tmp_path):
    """Members that keep other checkpoints (steps found on disk) are measured at their own steps of
    the range: the note says which, per member."""
    root = _copy_suite(tmp_path, spec_steps=False)
    shutil.copytree(cached_tiny_suite().parent / "tiny-b" / "step0", root / "tiny-b" / "step0")
    (_, grid, _), notes = _notes(lambda: sweep_grid(str(root / "suite.toml"), None, "0:4"))
    assert [(info.model, info.step) for info in grid] == [("tiny-a", 0), ("tiny-a", 2), ("tiny-b", 0)]
    assert notes == ["--steps 0:4: 3 of its 5 steps are no checkpoint of the suite; measuring the 2 that are: "
                     "tiny-a at 0, 2; tiny-b at 0"]

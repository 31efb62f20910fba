"""--cleanup on a local suite: local checkpoint folders are never deleted, and the command says so
once (it did nothing, silently)."""
from __future__ import annotations

import pytest

pytest.importorskip("torch")

from click.testing import CliRunner  # noqa: E402
from tinysuite import cached_tiny_suite  # noqa: E402

from scalefit.cli import main  # noqa: E402
from scalefit.errors import ScalefitWarning  # noqa: E402
from scalefit.sweep.checkpoints import CheckpointInfo, cleanup_after_measuring  # noqa: E402


def test_cleanup_of_a_local_suite_says_once_that_nothing_is_deleted(tmp_path):
    suite = cached_tiny_suite()
    result = CliRunner().invoke(main, ["weights", "--suite", str(suite), "--models", "tiny-a", "--steps", "0,1",
                                       "--device", "cpu", "--no-families", "--no-spectra", "--no-progress",
                                       "--cleanup", "--out", str(tmp_path / "w")])
    assert result.exit_code == 0, result.output
    said = [line for line in result.stderr.splitlines() if "--cleanup" in line]
    assert said == ["warning: --cleanup: the checkpoints are local folders, which are never deleted (--cleanup "
                    "deletes hub downloads from the cache once measured); nothing will be deleted"]
    assert (suite.parent / "tiny-a" / "step1" / "config.json").is_file()


def test_a_grid_with_hub_and_local_checkpoints_counts_the_local_ones():
    grid = [CheckpointInfo("m", 0, 0, None, repo="org/m", revision="step0"),
            CheckpointInfo("n", 0, 0, None, path="/runs/n/step0")]
    with pytest.warns(ScalefitWarning, match="--cleanup: 1 of the 2 checkpoints are local folders"):
        assert cleanup_after_measuring(grid) is not None  # the hub one is still deleted
    with pytest.warns(ScalefitWarning, match="nothing will be deleted"):
        assert cleanup_after_measuring(grid[1:]) is None


def test_cleanup_help_says_local_folders_are_kept():
    for command in ("weights", "eval"):
        text = " ".join(CliRunner().invoke(main, [command, "--help"]).output.split())
        assert "Local checkpoint folders are never deleted" in text


def test_eval_and_weights_json_documents_have_one_shape(tmp_path):
    """weights --json had no meta and its rows was a number where eval --json gives one per table."""
    import json

    suite = cached_tiny_suite()
    common = ["--suite", str(suite), "--models", "tiny-a", "--steps", "0", "--device", "cpu", "--no-progress",
              "--json"]
    weights = CliRunner().invoke(main, ["weights", *common, "--no-families", "--no-spectra",
                                        "--out", str(tmp_path / "w")])
    evals = CliRunner().invoke(main, ["eval", *common, "--dataset", f"val={suite.parent / 'data' / 'val.txt'}",
                                      "--max-tokens", "64", "--out", str(tmp_path / "e")])
    assert weights.exit_code == 0 and evals.exit_code == 0, weights.output + evals.output
    w, e = json.loads(weights.stdout), json.loads(evals.stdout)
    assert list(w) == [k for k in e if k != "evals"] == ["out", "meta", "rows", "measured", "skipped", "failures",
                                                         "files"]
    assert set(w["rows"]) == {"weights", "fingerprints", "failures"} and w["rows"]["failures"] == 0
    assert set(e["rows"]) == {"evals", "fingerprints", "failures"} and len(e["evals"]) == e["rows"]["evals"]
    assert w["meta"]["measured"] == e["meta"]["measured"] == 1 and w["out"] == str(tmp_path / "w")
    assert str(tmp_path / "w" / "weights.parquet") in w["files"]

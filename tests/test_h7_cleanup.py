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

"""What a third audit of the torch-side commands (eval, weights, suite train, data) found, as a
researcher with their own checkpoint folders on disk would meet it. Each test fails on the code
before its fix; checkpoints are copies of the cached tiny suite's (a few hundred kB each)."""
from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from scalefit.cli import main

pytest.importorskip("torch")


def copy_checkpoints(suite_file: Path, root: Path, layout: dict[str, dict[int, str]]) -> None:
    """root/{model}/{folder} copies of the tiny suite's tiny-a checkpoints: layout maps each model
    to {step of tiny-a: folder name}."""
    for model, folders in layout.items():
        for step, name in folders.items():
            shutil.copytree(suite_file.parent / "tiny-a" / f"step{step}", root / model / name)


def write_spec(path: Path, members, *extra: str) -> Path:
    """A local suite spec at `path` over the folder beside it (steps found on disk)."""
    lines = ['name = "mine"', "tokens_per_step = 512", *extra, "", "[source]", 'local = "."', ""]
    for name in members:
        lines += ["[[members]]", f'name = "{name}"', ""]
    path.write_text("\n".join(lines))
    return path


def weights_sweep(*args: str):
    """`scalefit weights` without families or spectra (moments only: a fraction of a second)."""
    return CliRunner().invoke(main, ["weights", *args, "--no-families", "--no-spectra", "--threads", "1"])


def test_zero_padded_step_folders_load_from_the_folder_they_were_found_in(suite_file, tmp_path):
    """step00000 / step00008 were found on disk as steps 0 and 8, then looked for as step0 and
    step8: every checkpoint failed ('does not exist') and the sweep exited 1."""
    copy_checkpoints(suite_file, tmp_path, {"run": {0: "step00000", 8: "step00008"}})
    spec = write_spec(tmp_path / "suite.toml", ["run"])
    result = weights_sweep("--suite", str(spec), "--out", str(tmp_path / "out"))
    assert result.exit_code == 0, result.output
    table = pd.read_parquet(tmp_path / "out" / "weights.parquet")
    assert sorted(table.step.unique()) == [0, 8]
    assert not (tmp_path / "out" / "failures.csv").exists() or \
        pd.read_csv(tmp_path / "out" / "failures.csv").empty

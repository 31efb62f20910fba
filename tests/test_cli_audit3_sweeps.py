"""What a third audit of the torch-side commands (eval, weights, suite train, data) found, as a
researcher with their own checkpoint folders on disk would meet it. Each test fails on the code
before its fix; checkpoints are copies of the cached tiny suite's (a few hundred kB each)."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from scalefit.errors import ScalefitWarning

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


def grid_of(spec: Path, steps: str = "all") -> dict[tuple[str, int], str]:
    """{(model, step): folder} of the checkpoints a sweep over `spec` measures (nothing loads)."""
    from scalefit.sweep.grid import sweep_grid

    return {(info.model, info.step): info.path for info in sweep_grid(str(spec), steps=steps)[1]}


def test_zero_padded_step_folders_load_from_the_folder_they_were_found_in(suite_file, tmp_path):
    """step00000 / step00008 were found on disk as steps 0 and 8, then looked for as step0 and
    step8: every checkpoint failed ('does not exist') and the sweep exited 1."""
    copy_checkpoints(suite_file, tmp_path, {"run": {0: "step00000", 8: "step00008"}})
    grid = grid_of(write_spec(tmp_path / "suite.toml", ["run"]))
    assert grid == {("run", 0): str(tmp_path / "run" / "step00000"), ("run", 8): str(tmp_path / "run" / "step00008")}


def test_members_with_different_checkpoints_are_measured_at_their_own(suite_file, tmp_path):
    """Steps found on disk were the union over members, and every member was tried at all of them:
    a run saved at steps 0 and 8 beside one saved at 8 only recorded 'step0 does not exist' for the
    second and the sweep exited 1 (suite train's runs of different lengths are this layout)."""
    copy_checkpoints(suite_file, tmp_path, {"long": {0: "step0", 8: "step8"}, "short": {8: "step8"}})
    spec = write_spec(tmp_path / "suite.toml", ["long", "short"])
    assert sorted(grid_of(spec)) == [("long", 0), ("long", 8), ("short", 8)]
    assert all(Path(folder).is_dir() for folder in grid_of(spec).values())
    # a list names the steps: the member without one is told, not failed
    with pytest.warns(ScalefitWarning, match="--steps 0: 'short' has no folder for step 0"):
        assert sorted(grid_of(spec, "0")) == [("long", 0)]

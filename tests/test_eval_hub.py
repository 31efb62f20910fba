"""A hub suite (`step{N}` revisions) served from a Hugging Face cache offline, and --cleanup."""
from __future__ import annotations

import hashlib
import os
import shutil

import pandas as pd
import pytest

torch = pytest.importorskip("torch")
torch.set_num_threads(1)

from click.testing import CliRunner  # noqa: E402
from tinysuite import cached_tiny_suite  # noqa: E402

from scalefit.cli import main  # noqa: E402


def fake_hub_cache(cache, repo: str, revisions: dict) -> None:
    """Lay out `revisions` {name: folder} as the hub cache does: blobs, snapshots/<commit>, refs/<name>."""
    root = cache / ("models--" + repo.replace("/", "--"))
    for name, folder in revisions.items():
        commit = hashlib.sha1(f"{repo}@{name}".encode()).hexdigest()
        (root / "refs").mkdir(parents=True, exist_ok=True)
        (root / "refs" / name).write_text(commit)
        snap = root / "snapshots" / commit
        snap.mkdir(parents=True)
        for f in folder.iterdir():
            blob = root / "blobs" / hashlib.sha256(f.read_bytes()).hexdigest()
            blob.parent.mkdir(parents=True, exist_ok=True)
            if not blob.exists():
                shutil.copy(f, blob)
            os.symlink(os.path.relpath(blob, snap), snap / f.name)


def test_hub_revisions_load_offline_and_cleanup_deletes_them(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    local = cached_tiny_suite().parent
    cache = tmp_path / "hub"
    fake_hub_cache(cache, "scalefit-test/tiny-a", {f"step{s}": local / "tiny-a" / f"step{s}" for s in (0, 8)})
    spec = (local / "suite.toml").read_text().replace('local = "."', 'hub = "scalefit-test/{model}"')
    (tmp_path / "hub.toml").write_text(spec)
    args = ["eval", "--suite", str(tmp_path / "hub.toml"), "--models", "tiny-a", "--steps", "0,8",
            "--dataset", f"val={local / 'data' / 'val.txt'}", "--max-tokens", "300", "--hub-cache", str(cache),
            "--no-progress", "--out", str(tmp_path / "out")]
    root = cache / "models--scalefit-test--tiny-a"
    assert len(list(root.glob("snapshots/*/model.safetensors"))) == 2
    result = CliRunner().invoke(main, args + ["--cleanup"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    evals = pd.read_parquet(tmp_path / "out" / "evals.parquet")
    loss = evals[evals["metric"] == "loss"].set_index("step")["value"]
    assert sorted(loss.index) == [0, 8] and loss[8] < loss[0]  # two different revisions were read
    # the same numbers as the local folders give
    ref = CliRunner().invoke(main, ["eval", "--suite", str(local / "suite.toml"), *args[3:11], "--no-progress",
                                    "--out", str(tmp_path / "ref")], catch_exceptions=False)
    assert ref.exit_code == 0, ref.output
    ref_loss = pd.read_parquet(tmp_path / "ref" / "evals.parquet").query("metric == 'loss'").set_index("step")["value"]
    pd.testing.assert_series_equal(loss.sort_index(), ref_loss.sort_index())
    # --cleanup removed both revisions from the cache; the local suite's folders are untouched
    assert not [p for p in root.rglob("*") if p.is_file() or p.is_symlink()]
    assert (local / "tiny-a" / "step8" / "model.safetensors").exists()

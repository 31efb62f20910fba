"""evals_wide.csv says how it was measured: the losses' context, stride and max tokens, the dtype
and the device, as constant columns that pandas reads, the same in a sweep folder and in the
`scalefit eval merge` of its shards; each taken from where the sweep recorded it."""
from __future__ import annotations

import json

import pandas as pd
import pytest

pytest.importorskip("torch")
from click.testing import CliRunner  # noqa: E402

from scalefit.cli import main  # noqa: E402
from scalefit.sweep.report import SETTING_COLUMNS, measured_wide  # noqa: E402
from tinysuite import cached_tiny_suite  # noqa: E402


def sweep(out, *extra):
    suite = cached_tiny_suite()
    result = CliRunner().invoke(main, [
        "eval", "--suite", str(suite), "--models", "tiny-a", "--steps", "0,8", "--device", "cpu",
        "--dataset", f"val={suite.parent / 'data' / 'val.txt'}", "--threads", "1", "--no-progress",
        "--out", str(out), *extra])
    assert result.exit_code == 0, result.output
    return out


@pytest.fixture(scope="module")
def windowed(tmp_path_factory):
    """tiny-a at steps 0 and 8 scored in 32-token windows moved 16 at a time, 100 tokens: whole
    and as two shards."""
    root = tmp_path_factory.mktemp("wide-settings")
    options = ("--context", "32", "--stride", "16", "--max-tokens", "100")
    whole = sweep(root / "whole", *options)
    shards = [sweep(root / f"sh{k}", *options, "--shard", f"{k}/2") for k in (0, 1)]
    return whole, shards


def test_the_wide_csv_carries_the_settings_it_was_measured_at(windowed):
    whole, _ = windowed
    wide = pd.read_csv(whole / "evals_wide.csv")
    assert list(wide.columns[-len(SETTING_COLUMNS):]) == list(SETTING_COLUMNS)
    assert len(wide) == 2 and (wide[list(SETTING_COLUMNS)].nunique() == 1).all()
    # the same facts as the long table's loss rows and run.json
    evals = pd.read_parquet(whole / "evals.parquet")
    run = json.loads((whole / "run.json").read_text())
    assert set(evals["context"]) == {32} and set(evals["stride"]) == {16}
    assert wide.loc[0, "context"] == 32 and wide.loc[0, "stride"] == 16
    assert wide.loc[0, "max_tokens"] == run["max_tokens"] == 100
    assert (wide.loc[0, "dtype"], wide.loc[0, "device"]) == (run["dtype"], run["device"]) == ("float32", "cpu")
    assert "`evals_wide.csv`: the table above, with how it was measured" in (whole / "report.md").read_text()


def test_a_merge_writes_the_same_wide_csv(windowed, tmp_path):
    whole, shards = windowed
    result = CliRunner().invoke(main, ["eval", "merge", *map(str, shards), "--out", str(tmp_path / "m")])
    assert result.exit_code == 0, result.output
    merged = pd.read_csv(tmp_path / "m" / "evals_wide.csv")
    pd.testing.assert_frame_equal(merged, pd.read_csv(whole / "evals_wide.csv"))


def test_uncut_losses_say_all_tokens(tmp_path):
    wide = pd.read_csv(sweep(tmp_path / "all", "--steps", "8") / "evals_wide.csv")
    evals = pd.read_parquet(tmp_path / "all" / "evals.parquet")
    assert wide.loc[0, "max_tokens"] == "all"
    assert wide.loc[0, "context"] == evals["context"].iloc[0] == 64  # the suite's context_length


def rows(**extra):
    return pd.DataFrame([{"model": "m", "step": s, "tokens": 10 * s, "lr": 1e-3, "dataset": d, "task": None,
                          "metric": "loss", "value": 3.0 - s / 10, "n_tokens": 50, **extra}
                         for s in (1, 2) for d in ("val", "test")])


def test_an_older_table_takes_the_windows_from_the_run_record():
    """A long table written before the rows carried context and stride: run.json's."""
    meta = {"context": 128, "stride": 64, "max_tokens": None, "dtype": "bfloat16", "device": "cuda"}
    wide = measured_wide(rows(), meta)
    assert wide[list(SETTING_COLUMNS)].drop_duplicates().to_dict("records") == [
        {"context": 128, "stride": 64, "max_tokens": "all", "dtype": "bfloat16", "device": "cuda"}]


def test_a_checkpoint_without_a_loss_has_no_windows():
    """Task rows only (no loss was scored at step 3): no context, stride or max tokens there."""
    task = pd.DataFrame([{"model": "m", "step": 3, "tokens": 30, "lr": 1e-3, "dataset": None, "task": "piqa",
                          "metric": "acc", "value": 0.6, "n_tokens": None}])
    evals = pd.concat([rows(context=256, stride=128), task], ignore_index=True)
    wide = measured_wide(evals, {"max_tokens": 1000, "dtype": "float32", "device": "cpu"}).set_index("step")
    assert wide.loc[[1, 2], ["context", "stride", "max_tokens"]].drop_duplicates().values.tolist() == [[256, 128, 1000]]
    assert wide.loc[3, ["context", "stride", "max_tokens"]].isna().all()
    assert (wide["device"] == "cpu").all()

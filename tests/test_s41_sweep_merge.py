"""`scalefit eval merge` counts a checkpoint measured only when it has every measurement the merged
folders hold: a shard stopped mid-checkpoint (its val loss written, not its test loss) is said as
incomplete, by name, in the report, run.json, --json and the closing line (audit A2, finding 4)."""
from __future__ import annotations

import json
import shutil

import pytest

pytest.importorskip("torch")
from click.testing import CliRunner  # noqa: E402

from scalefit.cli import main  # noqa: E402
from tinysuite import cached_tiny_suite  # noqa: E402


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    """tiny-a steps 0 and 8 on val and test, as shards 0/2 and 1/2."""
    root = tmp_path_factory.mktemp("merge-incomplete")
    suite = cached_tiny_suite()
    data = suite.parent / "data"
    out = []
    for k in (0, 1):
        folder = root / f"sh{k}"
        result = CliRunner().invoke(main, [
            "eval", "--suite", str(suite), "--models", "tiny-a", "--steps", "0,8", "--device", "cpu",
            "--dataset", f"val={data / 'val.txt'}", "--dataset", f"test={data / 'test.jsonl'}",
            "--max-tokens", "100", "--threads", "1", "--no-progress", "--shard", f"{k}/2", "--out", str(folder)])
        assert result.exit_code == 0, result.output
        out.append(folder)
    return out


def merged(folders, out):
    """(the closing line of a merge into `out`, the --json document of one into `out`-json)."""
    said = CliRunner().invoke(main, ["eval", "merge", *map(str, folders), "--out", str(out)])
    assert said.exit_code == 0, said.output
    doc = CliRunner().invoke(main, ["eval", "merge", *map(str, folders), "--out", f"{out}-json", "--json"])
    assert doc.exit_code == 0, doc.output
    return said.stderr, json.loads(doc.stdout)


def test_a_checkpoint_lacking_a_measurement_is_not_counted_measured(shards, tmp_path):
    """Was 'checkpoints measured 2' with tiny-a step 8's test loss missing from every table."""
    half = tmp_path / "sh1"
    shutil.copytree(shards[1], half)
    (part,) = half.glob("parts/tiny-a/step0000008/evals--loss_test.parquet")
    part.unlink()  # as a shard stopped after the val loss of its checkpoint
    (record,) = half.glob("run*.json")  # and its run recorded so (a finished run measured what it was asked)
    record.write_text(json.dumps({**json.loads(record.read_text()), "interrupted": True}))
    said, doc = merged([shards[0], half], tmp_path / "m")
    named = "incomplete 1 (tiny-a step 8: no loss_test)"
    assert doc["meta"]["measured"] == 1 and doc["meta"]["incomplete"] == 1
    assert doc["meta"]["incomplete_checkpoints"] == {"tiny-a step 8": ["loss_test"]}
    run = json.loads((tmp_path / "m" / "run.json").read_text())
    assert (run["measured"], run["incomplete"]) == (1, 1)
    assert f"- checkpoints measured 1, {named}, already done 0" in (tmp_path / "m" / "report.md").read_text()
    assert f"checkpoints measured 1, {named}, 0 failed checkpoints" in said


def test_complete_shards_say_no_incomplete_checkpoint(shards, tmp_path):
    said, doc = merged(shards, tmp_path / "m")
    assert doc["meta"]["measured"] == 2 and doc["meta"]["incomplete"] == 0
    assert "- checkpoints measured 2, already done 0" in (tmp_path / "m" / "report.md").read_text()
    assert "incomplete" not in said

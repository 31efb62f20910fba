"""`scalefit weights` records its run (run.json, as `scalefit eval` does), and `eval merge` of
weights-only folders reports their suite and checkpoints: it said '# scalefit eval: None',
'device `None`, dtype `None`, seed None' and 'checkpoints measured 0' over two measured checkpoints."""
from __future__ import annotations

import json

import pytest

pytest.importorskip("torch")

from click.testing import CliRunner  # noqa: E402
from tinysuite import cached_tiny_suite  # noqa: E402

from scalefit.cli import main  # noqa: E402


def weights(out, *extra):
    result = CliRunner().invoke(main, ["weights", "--suite", str(cached_tiny_suite()), "--steps", "0",
                                       "--device", "cpu", "--no-progress", "--no-families", "--no-spectra",
                                       "--out", str(out), *extra])
    assert result.exit_code == 0, result.output
    return out


@pytest.fixture(scope="module")
def merged_shards(tmp_path_factory):
    """Two weights-only shard folders (one checkpoint each) and their `eval merge`: (a, b, merged)."""
    tmp_path = tmp_path_factory.mktemp("weight-merge")
    a = weights(tmp_path / "a", "--shard", "0/2")
    b = weights(tmp_path / "b", "--shard", "1/2")
    merged = tmp_path / "m"
    result = CliRunner().invoke(main, ["eval", "merge", str(a), str(b), "--out", str(merged)])
    assert result.exit_code == 0, result.output
    return a, b, merged


def test_a_weights_sweep_records_its_run_and_merges_with_its_facts(merged_shards):
    a, _, merged = merged_shards
    run = json.loads((a / "run.shard-0-of-2.json").read_text())
    assert run["suite"] == "tiny" and run["device"] == "cpu" and run["shard"] == "0/2"
    assert run["measured"] == 1 and run["packages"]["torch"] and run["dtype"] is None
    head = (merged / "report.md").read_text().splitlines()[:4]
    assert head[0] == "# scalefit eval: tiny" and "None" not in "\n".join(head)
    assert head[2] == "- device `cpu`" and "checkpoints measured 2" in head[3]
    assert json.loads((merged / "run.json").read_text())["measured"] == 2


def test_the_report_says_what_the_fingerprints_table_is(merged_shards):
    """It listed fingerprints.parquet as a 'long table' like evals and weights."""
    report = (merged_shards[2] / "report.md").read_text()
    assert "- `fingerprints.parquet`, `fingerprints.csv`: one row per checkpoint" in report
    assert "- `weights.parquet`, `weights.csv`: long table" in report

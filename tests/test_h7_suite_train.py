"""`scalefit suite train` keeps stderr for its own progress: transformers' 'Writing model shards'
bar was drawn at every checkpoint saved, through the run's bar (and with --json, where the
trainer draws none)."""
from __future__ import annotations

import json

import pytest

pytest.importorskip("torch")

from click.testing import CliRunner  # noqa: E402
from test_h7_suite_spec import SPEC  # noqa: E402

from scalefit.cli import main  # noqa: E402


def test_training_prints_no_library_progress_bars(tmp_path):
    from test_suite_micro import write_sources

    from scalefit.trainer.corpus import build_corpus

    prose, code = write_sources(tmp_path)
    build_corpus(tmp_path / "corpus", [prose], [code], vocab_size=320, seed=3, val_frac=0.1, test_frac=0.1)
    spec = tmp_path / "spec.toml"
    spec.write_text(SPEC.replace("tokens = [320, 960]", "tokens = [320]", 1) + '\n[code]\ntokens = [320]\n')
    for extra in ([], ["--json"]):
        result = CliRunner().invoke(main, ["suite", "train", "--spec", str(spec), "--corpus", str(tmp_path / "corpus"),
                                           "--out", str(tmp_path / "suite"), "--part", "code", *extra])
        assert result.exit_code == 0, result.output
        assert "Writing model shards" not in result.stderr
    assert json.loads(result.stdout)[0]["run"] == "code/s1-D320"


def test_a_refused_training_leaves_no_empty_out_folder(tmp_path):
    spec = tmp_path / "spec.toml"
    spec.write_text(SPEC)
    out, tables = tmp_path / "suite", tmp_path / "tables"
    result = CliRunner().invoke(main, ["suite", "train", "--spec", str(spec), "--corpus", str(tmp_path / "none"),
                                       "--out", str(out), "--tables", str(tables)])
    assert result.exit_code == 2 and "manifest.json: no corpus" in result.stderr, result.output
    assert not out.exists() and not tables.exists()

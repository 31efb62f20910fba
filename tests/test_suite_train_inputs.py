"""`scalefit suite train` keeps stderr for its own progress: transformers' 'Writing model shards'
bar was drawn at every checkpoint saved, through the run's bar (and with --json, where the
trainer draws none)."""
from __future__ import annotations

import json

import pytest

pytest.importorskip("torch")

from click.testing import CliRunner  # noqa: E402
from test_suite_spec import SPEC  # noqa: E402

from scalefit.cli import main  # noqa: E402


@pytest.fixture(scope="module")
def corpus(micro_corpus):
    """The session's micro corpus folder (conftest.micro_corpus), read only."""
    return micro_corpus[0] / "corpus"


def test_training_prints_no_library_progress_bars(tmp_path, corpus):
    spec = tmp_path / "spec.toml"
    spec.write_text(SPEC.replace("tokens = [320, 960]", "tokens = [320]", 1) + '\n[code]\ntokens = [320]\n')
    for extra in ([], ["--json"]):
        result = CliRunner().invoke(main, ["suite", "train", "--spec", str(spec), "--corpus", str(corpus),
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


def test_max_tokens_under_one_window_names_the_option_before_the_sweep(tmp_path, corpus):
    spec = tmp_path / "spec.toml"
    spec.write_text(SPEC)
    result = CliRunner().invoke(main, ["suite", "sweep", "--spec", str(spec), "--corpus", str(corpus),
                                       "--suite-dir", str(tmp_path / "none"), "--out", str(tmp_path / "sweep"),
                                       "--max-tokens", "5"])
    assert result.exit_code == 2, result.output  # was 'eval set: need 1 <= context (16) <= eval tokens (5)'
    assert "--max-tokens 5: fewer than one window of the recipe's seq_len (16 tokens); give at least 16" \
        in result.stderr

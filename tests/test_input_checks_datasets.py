"""Input checks of datasets and corpora: a bad JSONL row anywhere is one error before the sweep;
build-corpus skips binary sources and names non-UTF-8 ones (read with U+FFFD, as the shipped corpus was); the suite's progress line names its
split and unit."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from scalefit.cli import main
from scalefit.errors import InputError
from scalefit.trainer.corpus import Document, read_documents, split_documents


def test_read_documents_skips_binary_and_names_non_utf8_files(tmp_path):
    """A NUL byte: skipped. Latin-1 text: read with U+FFFD as before (the default build must still
    give the shipped corpus, whose stdlib sources hold 4 such files), and named."""
    (tmp_path / "a.txt").write_text("plain text")
    (tmp_path / "b.txt").write_bytes(b"caf\xe9 latin-1")
    (tmp_path / "c.txt").write_bytes(b"ab\x00cd")
    skipped, replaced = [], []
    docs = read_documents([tmp_path], ("*.txt",), skipped=skipped, replaced=replaced)
    assert [d.text for d in docs] == ["plain text", "caf\ufffd latin-1"]
    assert skipped == [(str(tmp_path / "c.txt"), "binary (NUL byte at offset 2)")]
    assert replaced == [(str(tmp_path / "b.txt"), "not UTF-8 (byte offset 3)")]


def test_build_corpus_notes_each_skipped_file_and_records_it(tmp_path):
    pytest.importorskip("tokenizers")
    from tinyspec import write_sources

    prose, code = write_sources(tmp_path)
    (code / "latin.py").write_bytes(b"# caf\xe9\nx = 1\n")
    (prose / "blob.txt").write_bytes(b"\x00\x01\x02binary")
    out = tmp_path / "corpus"
    result = CliRunner().invoke(main, ["data", "build-corpus", "--out", str(out), "--prose-dir", str(prose),
                                       "--code-dir", str(code), "--vocab-size", "320", "--seed", "3",
                                       "--val-frac", "0.1", "--test-frac", "0.1", "--json"])
    assert result.exit_code == 0, result.output
    assert f"note: {code / 'latin.py'}: not UTF-8 (byte offset 5); read with U+FFFD" in result.stderr
    assert f"note: skipped {prose / 'blob.txt'}: binary (NUL byte at offset 0)" in result.stderr
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["distributions"]["prose"]["skipped"] == {str(prose / "blob.txt"): "binary (NUL byte at offset 0)"}
    assert "skipped" not in manifest["distributions"]["code"]
    documents = json.loads((out / "code" / "documents.json").read_text())
    assert str(code / "latin.py") in sum(documents.values(), [])
    prose_docs = json.loads((out / "prose" / "documents.json").read_text())
    assert str(prose / "blob.txt") not in sum(prose_docs.values(), [])


def test_too_few_documents_says_document_in_the_singular():
    with pytest.raises(InputError, match=r"^only 1 document: too few to split"):
        split_documents([Document("a", "x")], 0, 0.1, 0.1)
    with pytest.raises(InputError, match=r"^only 2 documents: too few"):
        split_documents([Document("a", "x"), Document("b", "y")], 0, 0.1, 0.1)


def test_suite_train_names_the_split_and_unit_of_its_loss(tmp_path, monkeypatch):
    from scalefit.trainer import train

    spec = tmp_path / "spec.toml"
    spec.write_text((Path(__file__).parents[1] / "data" / "suites" / "mini.toml").read_text())
    row = {"run": "grid/mini-1-D245760", "distribution": "prose", "loss": 5.20019, "tokens": 245760, "wall_s": 12.0}
    monkeypatch.setattr(train, "train_suite", lambda *a, **k: [row])
    result = CliRunner().invoke(main, ["suite", "train", "--spec", str(spec), "--corpus", str(tmp_path / "c"),
                                       "--out", str(tmp_path / "runs")])
    assert result.exit_code == 0, result.output
    assert "grid/mini-1-D245760: prose val loss 5.2002 nats/token (245,760 tokens, 12 s)" in result.stdout


def test_a_bad_jsonl_row_past_the_first_is_one_error_before_the_sweep(tmp_path):
    pytest.importorskip("torch")
    from tinysuite import cached_tiny_suite

    bad = tmp_path / "badline.jsonl"
    bad.write_text('{"text": "hello world"}\n\nnot json\n')
    out = tmp_path / "o"
    result = CliRunner().invoke(main, ["eval", "--suite", str(cached_tiny_suite()), "--device", "cpu",
                                       "--dataset", f"val={bad}", "--max-tokens", "100", "--models", "tiny-a",
                                       "--steps", "8", "--threads", "1", "--no-progress", "--out", str(out)])
    assert result.exit_code == 2, result.output
    assert (f"--dataset val: {bad}: row 3: not valid JSON (Expecting value); each non-empty line must be "
            "one JSON object") in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.output
    assert not (out / "parts").exists()

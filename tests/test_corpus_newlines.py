"""build-corpus and Windows line endings: kept as read by default (the shipped corpus's code split
holds a CRLF file, so its rebuild must not change), CRLF and CR made LF with --newlines lf."""
from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from scalefit.cli import main
from scalefit.trainer.corpus import read_documents

pytest.importorskip("tokenizers")
from tinyspec import write_sources  # noqa: E402


def windows_sources(root):
    """The micro corpus's sources, with every prose file and one code file in CRLF, one in CR."""
    prose, code = write_sources(root)
    for path in sorted(prose.rglob("*.rst.txt")):
        path.write_bytes(path.read_text().replace(". ", ".\r\n").encode())
    (code / "bisect.py").write_bytes((code / "bisect.py").read_bytes().replace(b"\n", b"\r\n"))
    (code / "keyword.py").write_bytes((code / "keyword.py").read_bytes().replace(b"\n", b"\r"))
    return prose, code


def test_read_documents_keeps_or_normalizes_line_endings(tmp_path):
    (tmp_path / "a.txt").write_bytes(b"one\r\ntwo\rthree\n")
    assert [d.text for d in read_documents([tmp_path], ("*.txt",))] == ["one\r\ntwo\rthree"]
    assert [d.text for d in read_documents([tmp_path], ("*.txt",), newlines="lf")] == ["one\ntwo\nthree"]


def build(out, prose, code, *extra):
    args = ["data", "build-corpus", "--out", str(out), "--prose-dir", str(prose), "--code-dir", str(code),
            "--vocab-size", "320", "--seed", "3", "--val-frac", "0.1", "--test-frac", "0.1", "--json", *extra]
    return CliRunner().invoke(main, args)


def decoded(corpus, distribution):
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(corpus / "tokenizer" / "tokenizer.json"))
    ids = np.fromfile(corpus / distribution / "train.bin", dtype=np.uint16)
    return tok.decode(ids.tolist(), skip_special_tokens=False)


def test_newlines_lf_writes_no_carriage_return_and_is_recorded(tmp_path):
    prose, code = windows_sources(tmp_path)
    kept, lf = tmp_path / "kept", tmp_path / "lf"
    assert build(kept, prose, code).exit_code == 0
    assert "\r" in decoded(kept, "prose") and "\r" in decoded(kept, "code")  # the default keeps them
    assert "newlines" not in json.loads((kept / "manifest.json").read_text())  # the manifest as before
    result = build(lf, prose, code, "--newlines", "lf")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["newlines"] == "lf"
    for name in ("prose", "code"):
        text = decoded(lf, name)
        assert "\r" not in text and text.count("\n") >= decoded(kept, name).count("\n")
    again = build(lf, prose, code)  # the same folder with the default: another corpus
    assert again.exit_code == 2
    assert "holds a corpus built with newlines lf, not keep" in again.stderr
    assert build(kept, prose, code).exit_code == 0  # rebuilt with the same settings: allowed


def test_another_newlines_value_is_one_line_before_anything_is_read(tmp_path):
    from scalefit.errors import InputError
    from scalefit.trainer.corpus import build_corpus

    with pytest.raises(InputError, match=r"^--newlines crlf: use keep \(line endings as read\) or lf"):
        build_corpus(tmp_path / "c", [tmp_path / "absent"], [tmp_path / "absent"], newlines="crlf")

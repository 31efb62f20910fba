"""The tokenizer digest `scalefit eval` records for a local checkpoint: the bytes of the tokenizer
files directly in its folder, hashed once per process while they stay unchanged (a Pythia-sized
local suite has 2,464 checkpoint folders), and again as soon as any of them changes."""
from __future__ import annotations

import hashlib
import os

import pytest

from scalefit.evals import tokens
from scalefit.evals.grid_checks import TOKENIZER_FILES, tokenizer_identities
from scalefit.evals.tokens import content_digest
from scalefit.errors import InputError
from scalefit.sweep.checkpoints import CheckpointInfo


def by_hand(folder, names) -> str:
    """The recorded digest: each file's name and bytes, in name order."""
    digest = hashlib.blake2b(digest_size=12)
    for name in sorted(names):
        digest.update(name.encode() + b"\0" + (folder / name).read_bytes() + b"\0")
    return f"blake2b:{digest.hexdigest()}"


@pytest.fixture
def opened(monkeypatch):
    """The files content_digest opens, in order; a cache of this test's own."""
    paths = []

    def counting_open(path, *args, **kwargs):
        paths.append(os.path.basename(path))
        return open(path, *args, **kwargs)

    monkeypatch.setattr(tokens, "open", counting_open, raising=False)
    monkeypatch.setattr(tokens, "_DIGESTS", {}, raising=False)
    return paths


def checkpoint(tmp_path, name="step0", tokenizer=b'{"model": "bpe"}', merges=b"a b\n"):
    folder = tmp_path / name
    (folder / "sub").mkdir(parents=True)
    (folder / "tokenizer.json").write_bytes(tokenizer)
    (folder / "merges.txt").write_bytes(merges)
    (folder / "model.safetensors").write_bytes(b"\0" * 64)          # not a tokenizer file
    (folder / "sub" / "tokenizer.json").write_bytes(b"elsewhere")  # not directly in the folder
    return folder


def test_the_digest_is_that_of_the_tokenizer_files_directly_in_the_folder(tmp_path, opened):
    folder = checkpoint(tmp_path)
    assert content_digest(folder, TOKENIZER_FILES) == by_hand(folder, ["merges.txt", "tokenizer.json"])
    assert opened == ["merges.txt", "tokenizer.json"]


def test_unchanged_files_are_hashed_once_and_a_changed_file_again(tmp_path, opened, monkeypatch):
    monkeypatch.setattr(tokens, "RECENT_NS", -10 ** 15, raising=False)  # keep files however recently written
    folder = checkpoint(tmp_path)
    first = content_digest(folder, TOKENIZER_FILES)
    assert content_digest(folder, TOKENIZER_FILES) == first and len(opened) == 2  # not read again

    # the same size and modification time, other bytes written in place: only the change time moves
    path, before = folder / "tokenizer.json", (folder / "tokenizer.json").stat()
    while True:
        path.write_bytes(b'{"model": "BPE"}')
        os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
        if path.stat().st_ctime_ns != before.st_ctime_ns:  # written within one tick of the clock: again
            break
    assert path.stat().st_ino == before.st_ino and path.stat().st_size == before.st_size
    del opened[:]
    assert content_digest(folder, TOKENIZER_FILES) == by_hand(folder, ["merges.txt", "tokenizer.json"]) != first
    assert opened == ["merges.txt", "tokenizer.json"]

    # replaced by another file (another inode) of the same size and modification time
    other = tmp_path / "merges.new"
    other.write_bytes(b"b a\n")
    os.utime(other, ns=(before.st_atime_ns, (folder / "merges.txt").stat().st_mtime_ns))
    second = content_digest(folder, TOKENIZER_FILES)
    os.replace(other, folder / "merges.txt")
    del opened[:]
    assert content_digest(folder, TOKENIZER_FILES) == by_hand(folder, ["merges.txt", "tokenizer.json"]) != second
    assert opened == ["merges.txt", "tokenizer.json"]

    # a tokenizer file added
    (folder / "vocab.json").write_bytes(b"{}")
    del opened[:]
    assert content_digest(folder, TOKENIZER_FILES) == by_hand(folder, ["merges.txt", "tokenizer.json", "vocab.json"])
    assert len(opened) == 3


def test_files_written_just_before_they_are_hashed_are_read_every_time(tmp_path, opened):
    """A file rewritten in place at the same size within the clock tick of its last write keeps
    its times: one that recent is not kept, so a second look reads it again."""
    folder = checkpoint(tmp_path)
    assert content_digest(folder, TOKENIZER_FILES) == content_digest(folder, TOKENIZER_FILES)
    assert len(opened) == 4


def test_checkpoints_sharing_their_tokenizer_files_hash_them_once(tmp_path, opened, monkeypatch):
    """Checkpoint folders whose tokenizer files are links to one file (a hub cache's snapshots,
    hard-linked copies) are one file set; another tokenizer is still refused, naming both steps."""
    monkeypatch.setattr(tokens, "RECENT_NS", -10 ** 15, raising=False)
    first = checkpoint(tmp_path)
    grid = [CheckpointInfo(model="m", step=0, tokens=0, lr=None, path=str(first))]
    for step, link in ((1, os.link), (2, os.symlink)):
        folder = tmp_path / f"step{step}"
        folder.mkdir()
        for name in ("tokenizer.json", "merges.txt"):
            link(first / name, folder / name)
        grid.append(CheckpointInfo(model="m", step=step, tokens=0, lr=None, path=str(folder)))
    assert tokenizer_identities(grid) == {"m": by_hand(first, ["merges.txt", "tokenizer.json"])}
    assert opened == ["merges.txt", "tokenizer.json"]

    other = checkpoint(tmp_path, "step3", tokenizer=b'{"model": "unigram"}')
    grid.append(CheckpointInfo(model="m", step=3, tokens=0, lr=None, path=str(other)))
    with pytest.raises(InputError, match="m: the tokenizer of step 3 differs from that of step 0 "):
        tokenizer_identities(grid)


def test_a_checkpoint_without_tokenizer_files_uses_the_suites(tmp_path, opened):
    """No folder, or a folder without tokenizer files: the suite's tokenizer folder, hashed once."""
    suite_tokenizer = checkpoint(tmp_path, "tokenizer")
    bare = tmp_path / "step1"
    bare.mkdir()
    (bare / "tokenizer_config.json").write_text("{}")  # names no file that tokenizes
    grid = [CheckpointInfo(model="m", step=s, tokens=0, lr=None, path=str(p), tokenizer_source=str(suite_tokenizer))
            for s, p in ((0, tmp_path / "missing"), (1, bare), (2, tmp_path / "a-file"))]
    (tmp_path / "a-file").write_text("not a folder")
    assert tokenizer_identities(grid) == {"m": by_hand(suite_tokenizer, ["merges.txt", "tokenizer.json"])}
    assert len(opened) == 2


def test_large_tokenizer_files_are_hashed_on_threads_with_the_same_records_and_refusals(tmp_path, opened,
                                                                                      monkeypatch):
    """Files of a MB and more (Pythia's tokenizer.json is 2.1 MB) are read on threads: the same
    digests, the same first refusal in the grid's order, and an unreadable folder is said where the
    sweep reaches it, after a tokenizer that differs before it."""
    from concurrent.futures import ThreadPoolExecutor

    from scalefit.evals import grid_checks

    pools = []
    monkeypatch.setattr(grid_checks, "ThreadPoolExecutor", lambda n: pools.append(n) or ThreadPoolExecutor(n),
                        raising=False)
    big = b'{"model": "bpe"}' + b" " * (1 << 20)
    folders = [checkpoint(tmp_path, f"step{s}", tokenizer=big if s != 2 else big + b" ") for s in range(4)]
    grid = [CheckpointInfo(model="m", step=s, tokens=0, lr=None, path=str(f)) for s, f in enumerate(folders)]
    same = [info for info in grid if info.step != 2]
    assert tokenizer_identities(same) == {"m": by_hand(folders[0], ["merges.txt", "tokenizer.json"])}
    assert len(pools) == 1 and sorted(opened) == sorted(["merges.txt", "tokenizer.json"] * 3)
    with pytest.raises(InputError, match="m: the tokenizer of step 2 differs from that of step 0 "):
        tokenizer_identities(grid)

    def unreadable(folder, names, digest=grid_checks.folder_files_digest):
        if folder == str(folders[3]):
            raise PermissionError(13, "Permission denied", folder)
        return digest(folder, names)

    monkeypatch.setattr(grid_checks, "folder_files_digest", unreadable)
    with pytest.raises(InputError, match="the tokenizer of step 2 differs"):
        tokenizer_identities(grid)
    with pytest.raises(PermissionError, match="step3"):
        tokenizer_identities(same)


def test_small_tokenizer_files_are_read_no_further_than_the_refusal(tmp_path, opened):
    """One thread for small files: the checkpoints after the first differing tokenizer are not read."""
    folders = [checkpoint(tmp_path, f"step{s}", merges=b"b a\n" if s == 1 else b"a b\n") for s in range(3)]
    grid = [CheckpointInfo(model="m", step=s, tokens=0, lr=None, path=str(f)) for s, f in enumerate(folders)]
    with pytest.raises(InputError, match="m: the tokenizer of step 1 differs from that of step 0 "):
        tokenizer_identities(grid)
    assert len(opened) == 4

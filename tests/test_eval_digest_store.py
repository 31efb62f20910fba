"""The digest store a sweep's --out folder keeps (evals.tokens.stored_digests): a later start takes
the digests of unchanged tokenizer files from it instead of reading them again (a Pythia-sized
local suite: 2,464 x 2.1 MB at every start), and anything else about it (a file written since,
copied elsewhere, a corrupt or foreign store) is one more hashing, never an error."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pandas as pd
import pytest

from scalefit.errors import InputError
from scalefit.evals import tokens
from scalefit.evals.grid_checks import tokenizer_identities
from scalefit.evals.tokens import DIGEST_STORE, read_digest_store, stored_digests
from scalefit.sweep.checkpoints import CheckpointInfo

from test_eval_tokenizer_digest import by_hand, checkpoint

FILES = ["merges.txt", "tokenizer.json"]  # the tokenizer files of each checkpoint()


@pytest.fixture
def opened(monkeypatch):
    """The paths hashing opens, in order; this test's own in-process cache, and files kept
    however recently they were written (a test's files are seconds old)."""
    paths = []

    def counting_open(path, *args, **kwargs):
        paths.append(str(path))
        return open(path, *args, **kwargs)

    monkeypatch.setattr(tokens, "open", counting_open, raising=False)
    monkeypatch.setattr(tokens, "_DIGESTS", {})
    monkeypatch.setattr(tokens, "RECENT_NS", -10 ** 15)
    return paths


def suite(tmp_path, steps=(0, 1, 2)):
    folders = [checkpoint(tmp_path / "suite", f"step{s}") for s in steps]
    return [CheckpointInfo(model="m", step=s, tokens=0, lr=None, path=str(f)) for s, f in zip(steps, folders)]


def start(out, grid, opened, monkeypatch):
    """What a new process's start does: its own empty cache, the store of `out` opened around the
    tokenizer check; the identities, and how many files were read."""
    monkeypatch.setattr(tokens, "_DIGESTS", {})
    del opened[:]
    with stored_digests(out):
        found = tokenizer_identities(grid)
    return found, len(opened)


SCRIPT = """
import json, sys
from scalefit.evals import tokens
from scalefit.evals.grid_checks import tokenizer_identities
from scalefit.sweep.checkpoints import CheckpointInfo
tokens.RECENT_NS = -10 ** 15  # the test's files are seconds old
opened = []
def counting_open(path, *args, **kwargs):
    opened.append(str(path))
    return open(path, *args, **kwargs)
tokens.open = counting_open
out, *folders = sys.argv[1:]
grid = [CheckpointInfo(model="m", step=i, tokens=0, lr=None, path=f) for i, f in enumerate(folders)]
with tokens.stored_digests(out):
    found = tokenizer_identities(grid)
print(json.dumps({"identities": found, "opened": len(opened)}))
"""


def test_a_second_process_takes_the_digests_the_first_stored(tmp_path):
    grid = suite(tmp_path)
    out = tmp_path / "out"
    out.mkdir()

    def run():
        done = subprocess.run([sys.executable, "-c", SCRIPT, str(out), *(info.path for info in grid)],
                              check=True, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
        return json.loads(done.stdout.strip().splitlines()[-1])

    first, second = run(), run()
    expected = {"m": by_hand(tmp_path / "suite" / "step0", FILES)}
    assert first == {"identities": expected, "opened": 2 * len(grid)}
    assert second == {"identities": expected, "opened": 0}  # nothing read: all from the store
    assert len(read_digest_store(out / DIGEST_STORE)) == len(grid)


def test_the_stored_digests_are_those_hashing_gives(tmp_path, opened, monkeypatch):
    """Results unchanged: the same identities with and without a store, from bytes or from it."""
    grid = suite(tmp_path)
    monkeypatch.setattr(tokens, "_DIGESTS", {})
    without = tokenizer_identities(grid)
    assert without == {"m": by_hand(tmp_path / "suite" / "step0", FILES)}
    assert start(tmp_path / "out", grid, opened, monkeypatch) == (without, 2 * len(grid))  # no folder: not kept
    (tmp_path / "out").mkdir()
    assert start(tmp_path / "out", grid, opened, monkeypatch) == (without, 2 * len(grid))
    assert start(tmp_path / "out", grid, opened, monkeypatch) == (without, 0)
    stored = read_digest_store(tmp_path / "out" / DIGEST_STORE)
    assert {digest for _, digest in stored.values()} == set(without.values())


def rewrite_in_place(path, data: bytes):
    """Other bytes of the same size, written into the same inode, its modification time put back:
    only the change time moves (written again until the clock's tick shows it)."""
    before = path.stat()
    assert len(data) == before.st_size
    while True:
        path.write_bytes(data)
        os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
        if path.stat().st_ctime_ns != before.st_ctime_ns:
            break
    now = path.stat()
    assert (now.st_ino, now.st_size, now.st_mtime_ns) == (before.st_ino, before.st_size, before.st_mtime_ns)


def test_a_file_rewritten_at_the_same_size_is_hashed_again(tmp_path, opened, monkeypatch):
    grid = suite(tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    start(out, grid, opened, monkeypatch)
    step1 = tmp_path / "suite" / "step1"
    rewrite_in_place(step1 / "tokenizer.json", b'{"model": "BPE"}')
    with pytest.raises(InputError, match="m: the tokenizer of step 1 differs from that of step 0 "):
        start(out, grid, opened, monkeypatch)
    assert sorted(opened) == sorted(str(step1 / name) for name in FILES)  # step 0's from the store
    # a refused start keeps nothing it found; the next start of that checkpoint alone stores it
    assert start(out, grid[1:2], opened, monkeypatch) == ({"m": by_hand(step1, FILES)}, 2)
    assert start(out, grid[1:2], opened, monkeypatch) == ({"m": by_hand(step1, FILES)}, 0)


def store_bytes(tmp_path, grid, opened, monkeypatch) -> bytes:
    """A store of `grid`'s digests as a start writes it."""
    out = tmp_path / "made"
    out.mkdir()
    start(out, grid, opened, monkeypatch)
    return (out / DIGEST_STORE).read_bytes()


@pytest.mark.parametrize("corrupt", ["empty", "truncated", "not-utf8", "a-list", "other-format", "deep",
                                     "a-folder"])
def test_a_corrupt_or_foreign_store_is_a_miss_and_is_rewritten(tmp_path, opened, monkeypatch, corrupt):
    grid = suite(tmp_path)
    good = store_bytes(tmp_path, grid, opened, monkeypatch)
    out = tmp_path / "out"
    out.mkdir()
    path = out / DIGEST_STORE
    if corrupt == "a-folder":
        path.mkdir()
    else:
        path.write_bytes({"empty": b"", "truncated": good[: len(good) // 2], "not-utf8": b"\xff\xfe{\x00",
                          "a-list": b"[1, 2]", "deep": b"[" * 100_000,
                          "other-format": good.replace(b'"format": "', b'"format": "another ')}[corrupt])
    expected = {"m": by_hand(tmp_path / "suite" / "step0", FILES)}
    assert start(out, grid, opened, monkeypatch) == (expected, 2 * len(grid))
    if corrupt == "a-folder":  # cannot be replaced: every start hashes, and says nothing
        assert start(out, grid, opened, monkeypatch) == (expected, 2 * len(grid))
    else:
        assert start(out, grid, opened, monkeypatch) == (expected, 0)


def test_entries_not_of_the_stores_form_are_dropped_and_the_rest_taken(tmp_path, opened, monkeypatch):
    grid = suite(tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    start(out, grid, opened, monkeypatch)
    path = out / DIGEST_STORE
    store = json.loads(path.read_text())
    keys = list(store["entries"])
    store["entries"][keys[0]][0][0][2] = "16"  # a size that is no int
    store["entries"][keys[1]] = {"digest": store["entries"][keys[1]][1]}
    path.write_text(json.dumps(store))
    assert start(out, grid, opened, monkeypatch)[1] == 2 * 2  # steps 0 and 1 read again, step 2 not
    assert not [p for p in opened if "step2" in p]


def test_a_copied_suite_or_another_device_misses(tmp_path, opened, monkeypatch):
    """Keyed on each file's resolved path and version: the suite copied elsewhere (times kept) is
    hashed again, and so is a store whose files were on another device (another machine's)."""
    grid = suite(tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    start(out, grid, opened, monkeypatch)
    shutil.copytree(tmp_path / "suite", tmp_path / "copy")  # copy2: sizes and modification times kept
    copied = [CheckpointInfo(model="m", step=i.step, tokens=0, lr=None, path=str(tmp_path / "copy" / f"step{i.step}"))
              for i in grid]
    assert start(out, copied, opened, monkeypatch)[1] == 2 * len(grid)
    assert start(out, copied + grid, opened, monkeypatch)[1] == 0  # both kept now

    path = out / DIGEST_STORE
    store = json.loads(path.read_text())
    for versions, _ in store["entries"].values():
        for version in versions:
            version[0] += 1  # the device
    path.write_text(json.dumps(store))
    assert start(out, grid, opened, monkeypatch)[1] == 2 * len(grid)


def test_two_starts_writing_one_store_keep_each_others_entries(tmp_path, opened, monkeypatch):
    """Two shards of one --out: each read the store before the other wrote it; the second to write
    keeps the first's entries (their files unchanged), so a start of the whole grid reads nothing."""
    grid = suite(tmp_path, steps=(0, 1, 2, 3))
    out = tmp_path / "out"
    out.mkdir()
    with stored_digests(out):  # shard 0
        tokenizer_identities(grid[:2])
        shard0, tokens._STORE = tokens._STORE, None  # shard 1 is another process: its own store
        with stored_digests(out):  # shard 1, begun after shard 0 read the store, ends first
            tokenizer_identities(grid[2:])
        tokens._STORE = shard0
        assert len(read_digest_store(out / DIGEST_STORE)) == 2
    assert len(read_digest_store(out / DIGEST_STORE)) == 4
    assert start(out, grid, opened, monkeypatch)[1] == 0


def test_entries_of_files_changed_since_are_not_carried_over(tmp_path, opened, monkeypatch):
    grid = suite(tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    start(out, grid, opened, monkeypatch)
    (tmp_path / "suite" / "step2" / "merges.txt").unlink()
    start(out, grid[:1], opened, monkeypatch)  # nothing new: the store is not written
    assert len(read_digest_store(out / DIGEST_STORE)) == 3
    other = checkpoint(tmp_path / "suite", "step9")
    start(out, [CheckpointInfo(model="m", step=9, tokens=0, lr=None, path=str(other))], opened, monkeypatch)
    assert len(read_digest_store(out / DIGEST_STORE)) == 3  # step 2's entry gone, step 9's added


def test_recent_files_and_a_missing_folder_leave_no_store(tmp_path, opened, monkeypatch):
    """Files changed within the clock's tick are not kept (as in the process's cache), and a start
    into a folder that does not exist yet (a new --out, or a refused command) makes none."""
    monkeypatch.setattr(tokens, "RECENT_NS", 2 * 10 ** 9)
    grid = suite(tmp_path)
    out = tmp_path / "out"
    start(out, grid, opened, monkeypatch)
    assert not out.exists()
    out.mkdir()
    start(out, grid, opened, monkeypatch)
    assert not (out / DIGEST_STORE).exists()


def test_the_sweep_takes_the_store_for_no_result_and_no_temporary(tmp_path, opened, monkeypatch):
    """A sweep folder holding the store resumes, rebuilds its tables and merges as it did: the store
    is no result, no run record and no temporary; a merged folder holds none."""
    from scalefit.atomic import sweep_stale
    from scalefit.evals.merge import merge
    from scalefit.sweep import engine

    grid = suite(tmp_path, steps=(0,))
    out = tmp_path / "out"
    row = {"dataset": "val", "task": None, "metric": "loss", "value": 1.0}
    measured = [engine.Measurement("loss:val", lambda model, info: pd.DataFrame([row]), options={"--context": 64})]
    engine.sweep_checkpoints(grid, measured, out, load=lambda info: (None, None), progress=False)
    start(out, grid, opened, monkeypatch)
    stored = (out / DIGEST_STORE).read_bytes()
    assert sweep_stale(out) == [] and (out / DIGEST_STORE).read_bytes() == stored
    again = engine.sweep_checkpoints(grid, measured, out, load=lambda info: (None, None), progress=False)
    assert len(again.summary.skipped) == 1 and len(again.tables["evals"]) == 1
    merged = merge([out], tmp_path / "merged")
    assert len(merged.tables["evals"]) == 1 and not (tmp_path / "merged" / DIGEST_STORE).exists()


def test_paths_are_resolved_and_a_retargeted_link_misses(tmp_path, opened, monkeypatch):
    """The suite named through a link to its folder is the same files (the store keys resolved
    paths); a tokenizer file that is a link (a hub cache's snapshot) pointed at other bytes is not."""
    grid = suite(tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    start(out, grid, opened, monkeypatch)
    (tmp_path / "linked").symlink_to(tmp_path / "suite")
    through = [CheckpointInfo(model="m", step=i.step, tokens=0, lr=None,
                              path=str(tmp_path / "linked" / f"step{i.step}")) for i in grid]
    assert start(out, through, opened, monkeypatch)[1] == 0
    assert json.loads(next(iter(read_digest_store(out / DIGEST_STORE))))[0][1] == str(
        (tmp_path / "suite" / "step0" / "merges.txt").resolve())

    blobs = tmp_path / "blobs"
    blobs.mkdir()
    for name, data in (("a", b'{"model": "bpe"}'), ("b", b'{"model": "BPE"}')):
        (blobs / name).write_bytes(data)
    step0 = tmp_path / "suite" / "step0"
    (step0 / "tokenizer.json").unlink()
    (step0 / "tokenizer.json").symlink_to(blobs / "a")
    assert start(out, grid[:1], opened, monkeypatch) == ({"m": by_hand(step0, FILES)}, 2)
    assert start(out, grid[:1], opened, monkeypatch)[1] == 0
    (step0 / "tokenizer.json").unlink()
    (step0 / "tokenizer.json").symlink_to(blobs / "b")
    assert start(out, grid[:1], opened, monkeypatch) == ({"m": by_hand(step0, FILES)}, 2)


def test_a_resumed_eval_reads_no_digested_file_again_and_records_the_same(tmp_path, opened, monkeypatch):
    """`scalefit eval` into one --out three times: the first (a new folder) hashes and stores
    once the folder exists, the second and third read neither the tokenizer files nor the
    dataset, and each records the same options (the digests among them) and tables."""
    pytest.importorskip("torch")
    from click.testing import CliRunner
    from tinysuite import cached_tiny_suite

    from scalefit.cli import main

    suite, out = cached_tiny_suite(), tmp_path / "out"
    data = suite.parent / "data" / "val.txt"
    args = ["eval", "--suite", str(suite), "--device", "cpu", "--dataset", f"val={data}", "--max-tokens", "100",
            "--models", "tiny-a", "--steps", "8", "--threads", "1", "--no-progress", "--out", str(out)]
    digested = {"tokenizer.json", "val.txt"}
    records, tables, read = [], [], []
    for _ in range(3):
        del opened[:]
        monkeypatch.setattr(tokens, "_DIGESTS", {})  # each start its own process
        result = CliRunner().invoke(main, args)
        assert result.exit_code == 0, result.output
        read.append(sorted(os.path.basename(p) for p in opened if os.path.basename(p) in digested))
        records.append((out / "measurements.json").read_text())
        tables.append(pd.read_parquet(out / "evals.parquet"))
        if len(read) == 1:  # the new folder's first start stored them (it stored none before)
            assert read_digest_store(out / DIGEST_STORE)
    assert read == [sorted(digested), [], []]
    assert records[0] == records[1] == records[2]
    pd.testing.assert_frame_equal(tables[0], tables[2], check_exact=True)

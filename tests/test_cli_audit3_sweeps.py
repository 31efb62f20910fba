"""What a third audit of the torch-side commands (eval, weights, suite train, data) found, as a
researcher with their own checkpoint folders on disk would meet it. Each test fails on the code
before its fix; checkpoints are copies of the cached tiny suite's (a few hundred kB each)."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from scalefit.errors import InputError, ScalefitWarning
from scalefit.sweep.grid import sweep_grid

pytest.importorskip("torch")


def copy_checkpoints(suite_file: Path, root: Path, layout: dict[str, dict[int, str]]) -> None:
    """root/{model}/{folder} copies of the tiny suite's tiny-a checkpoints: layout maps each model
    to {step of tiny-a: folder name}."""
    for model, folders in layout.items():
        for step, name in folders.items():
            shutil.copytree(suite_file.parent / "tiny-a" / f"step{step}", root / model / name)


def write_spec(path: Path, members, *extra: str) -> Path:
    """A local suite spec at `path` over the folder beside it (steps found on disk)."""
    lines = ['name = "mine"', "tokens_per_step = 512", *extra, "", "[source]", 'local = "."', ""]
    for name in members:
        lines += ["[[members]]", f'name = "{name}"', ""]
    path.write_text("\n".join(lines))
    return path


def sweep_grid_infos(spec: Path, steps: str = "all"):
    """The CheckpointInfos a sweep over `spec` measures (nothing loads)."""
    return sweep_grid(str(spec), steps=steps)[1]


def grid_of(spec: Path, steps: str = "all") -> dict[tuple[str, int], str]:
    """{(model, step): folder} of the checkpoints a sweep over `spec` measures."""
    return {(info.model, info.step): info.path for info in sweep_grid_infos(spec, steps)}


def test_zero_padded_step_folders_load_from_the_folder_they_were_found_in(suite_file, tmp_path):
    """step00000 / step00008 were found on disk as steps 0 and 8, then looked for as step0 and
    step8: every checkpoint failed ('does not exist') and the sweep exited 1."""
    copy_checkpoints(suite_file, tmp_path, {"run": {0: "step00000", 8: "step00008"}})
    grid = grid_of(write_spec(tmp_path / "suite.toml", ["run"]))
    assert grid == {("run", 0): str(tmp_path / "run" / "step00000"), ("run", 8): str(tmp_path / "run" / "step00008")}


def test_members_with_different_checkpoints_are_measured_at_their_own(suite_file, tmp_path):
    """Steps found on disk were the union over members, and every member was tried at all of them:
    a run saved at steps 0 and 8 beside one saved at 8 only recorded 'step0 does not exist' for the
    second and the sweep exited 1 (suite train's runs of different lengths are this layout)."""
    copy_checkpoints(suite_file, tmp_path, {"long": {0: "step0", 8: "step8"}, "short": {8: "step8"}})
    spec = write_spec(tmp_path / "suite.toml", ["long", "short"])
    assert sorted(grid_of(spec)) == [("long", 0), ("long", 8), ("short", 8)]
    assert all(Path(folder).is_dir() for folder in grid_of(spec).values())
    # a list names the steps: the member without one is told, not failed
    with pytest.warns(ScalefitWarning, match="--steps 0: 'short' has no folder for step 0"):
        assert sorted(grid_of(spec, "0")) == [("long", 0)]
    # and a selection that none of the chosen members has is one line, not 'nothing to measure'
    with pytest.raises(InputError, match="--steps '0': selects no checkpoint on disk of short .steps found: 8."):
        sweep_grid(str(spec), models=["short"], steps="0")


def test_a_tokenizer_folder_in_the_spec_is_found_from_any_working_directory(suite_file, tmp_path, monkeypatch):
    """`tokenizer = "tok"` was read against the working directory, not the spec's folder (as
    `local` and `members_csv` are): run from elsewhere, every checkpoint without its own tokenizer
    failed with transformers' 'Repo id must be in the form ...'. suite train saves no tokenizer in
    its checkpoints, so its runs are measured this way."""
    from scalefit.sweep.checkpoints import load_tokenizer
    from scalefit.sweep.suites import load_suite

    copy_checkpoints(suite_file, tmp_path / "suite", {"run": {8: "step8"}})
    tok = tmp_path / "suite" / "tok"
    tok.mkdir()
    for name in ("tokenizer.json", "tokenizer_config.json"):
        (tmp_path / "suite" / "run" / "step8" / name).rename(tok / name)
    spec = write_spec(tmp_path / "suite" / "suite.toml", ["run"], 'tokenizer = "tok"')
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    info = next(iter(sweep_grid_infos(spec)))
    assert load_tokenizer(info)("def f(x):", add_special_tokens=False)["input_ids"]
    # a path that names no folder is one line when the spec loads, not a failure per checkpoint
    write_spec(tmp_path / "suite" / "bad.toml", ["run"], 'tokenizer = "./tokenizer"')
    with pytest.raises(InputError, match="tokenizer = './tokenizer': folder .* does not exist"):
        load_suite(tmp_path / "suite" / "bad.toml")


def tiny_tokenizer(suite_file: Path):
    """The tiny suite's tokenizer (its tiny-a step 8 folder's)."""
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(suite_file.parent / "tiny-a" / "step8")


def test_a_byte_order_mark_is_not_scored_as_text(suite_file, tmp_path):
    """A text file saved by a Windows editor starts with a UTF-8 byte-order mark: it was scored as
    text (extra tokens and 3 bytes in bpb), and a JSONL file with one was refused ('Unexpected
    UTF-8 BOM'). Both now read as the same file without it; CRLF line endings read as LF."""
    import numpy as np

    from scalefit.evals.tokens import tokenize_dataset

    tok, text = tiny_tokenizer(suite_file), "def f(x):\n    return x + 1\n" * 30
    rows = "".join('{"text": "%s"}\n' % line for line in ("first row", "second row"))
    (tmp_path / "plain.txt").write_text(text)
    (tmp_path / "bom.txt").write_bytes(b"\xef\xbb\xbf" + text.replace("\n", "\r\n").encode())
    (tmp_path / "plain.jsonl").write_text(rows)
    (tmp_path / "bom.jsonl").write_bytes(b"\xef\xbb\xbf" + rows.encode())
    for plain, marked in (("plain.txt", "bom.txt"), ("plain.jsonl", "bom.jsonl")):
        a, b = (tokenize_dataset(tmp_path / name, tok, tmp_path / "cache") for name in (plain, marked))
        assert (a.n_tokens, a.n_bytes, a.n_docs) == (b.n_tokens, b.n_bytes, b.n_docs)
        assert np.array_equal(a.tokens(), b.tokens())


def test_a_jsonl_file_that_is_not_utf8_is_one_line(suite_file, tmp_path):
    """A Latin-1 JSONL dataset ended the command with UnicodeDecodeError's traceback (exit 1); a
    text file of the same bytes was already one line."""
    from test_cli_audit import one_line_error

    (tmp_path / "latin.jsonl").write_bytes(b'{"text": "caf\xe9 au lait"}\n')
    one_line_error(["eval", "--suite", str(suite_file), "--models", "tiny-a", "--steps", "8",
                    "--dataset", f"v={tmp_path / 'latin.jsonl'}", "--out", str(tmp_path / "out")],
                   "latin.jsonl: not UTF-8 text")


def test_a_suite_context_beyond_the_models_positions_names_the_spec_not_an_option(suite_file, tmp_path):
    """A suite spec's context_length = 128 over models of 64 positions said '--context 128 exceeds
    ...: use --context 64 or less' to a user who gave no --context."""
    from test_cli_audit import one_line_error

    text = suite_file.read_text().replace("context_length = 64", "context_length = 128")
    spec = tmp_path / "suite.toml"
    spec.write_text(text.replace('local = "."', f'local = "{suite_file.parent}"'))
    line = one_line_error(["eval", "--suite", str(spec), "--models", "tiny-a", "--steps", "8", "--dataset",
                           f"v={suite_file.parent / 'data' / 'val.txt'}", "--out", str(tmp_path / "out")],
                          "suite 'tiny': context_length 128 exceeds the 64 positions of tiny-a", "--context")
    assert "--context 128" not in line


MARKER: list = []


def _ran(text: str) -> str:
    """What a hostile pickle would call while it loads (records that it did)."""
    MARKER.append(text)
    return text


class _Hostile:
    def __reduce__(self):
        return (_ran, ("pickle code ran",))


def test_a_pickle_with_more_than_tensors_is_refused_without_advising_an_unsafe_load(suite_file, tmp_path):
    """A pytorch_model.bin that pickles an object (with --allow-bin) was recorded with torch's own
    message: 'Re-running torch.load with weights_only set to False will likely succeed' - advice
    that runs the pickle's code. Now it says scalefit refuses it; nothing in the pickle runs."""
    import torch

    from scalefit.sweep.checkpoints import load_checkpoint

    folder = tmp_path / "m" / "step8"
    shutil.copytree(suite_file.parent / "tiny-a" / "step8", folder)
    state = dict(load_checkpoint_state(folder / "model.safetensors"), hostile=_Hostile())
    (folder / "model.safetensors").unlink()
    torch.save(state, folder / "pytorch_model.bin")
    info = next(iter(sweep_grid_infos(write_spec(tmp_path / "suite.toml", ["m"]))))
    with pytest.raises(PermissionError, match="holds objects other than tensors.*never loads otherwise") as err:
        load_checkpoint(info, "cpu", "float32", allow_bin=True)
    assert "weights_only set to False" not in str(err.value) and not MARKER


def load_checkpoint_state(path: Path) -> dict:
    """A safetensors file's tensors by name."""
    from safetensors.torch import load_file

    return load_file(str(path))


def test_suite_train_refuses_an_eval_split_shorter_than_one_window_before_training(micro_corpus, tmp_path):
    """A recipe seq_len of 2048 on a corpus whose code val split holds 871 tokens trained the first
    run to its end, then stopped with 'eval set: the split has 871 tokens, fewer than one window of
    2049' (exit 2, no runs.csv, the split not named; every re-run stopped there again)."""
    from test_cli_audit import one_line_error
    from tinyspec import MICRO_RECIPE, S1, micro_spec

    recipe = dict(MICRO_RECIPE, seq_len=2048, batch_seqs=1, eval_tokens=4096)
    spec = tmp_path / "spec.toml"  # 4 steps: a warmup of 2 leaves updates that decay
    spec.write_text(micro_spec(("[grid]", {"distribution": "prose", "tokens": [8192]}), recipe=recipe, sizes=(S1,)))
    one_line_error(["suite", "train", "--spec", str(spec), "--corpus", str(micro_corpus[0] / "corpus"),
                    "--out", str(tmp_path / "runs")],
                   "the code val split has", "fewer than one window of seq_len + 1 = 2049", "--val-frac")
    assert not (tmp_path / "runs").exists()


def test_suite_sweep_names_the_eval_split_shorter_than_one_window(micro_corpus, tmp_path):
    """suite sweep over a spec whose seq_len outgrows the corpus's splits said only 'eval set: the
    split has 1367 tokens, fewer than one window of 2049': which split, and what to change, unsaid."""
    from test_cli_audit import one_line_error
    from tinyspec import MICRO_RECIPE, S1, micro_spec

    recipe = dict(MICRO_RECIPE, seq_len=4096, batch_seqs=1, eval_tokens=4096)
    spec = tmp_path / "spec.toml"  # 4 steps: a warmup of 2 leaves updates that decay
    spec.write_text(micro_spec(("[grid]", {"distribution": "prose", "tokens": [16384]}), recipe=recipe, sizes=(S1,)))
    one_line_error(["suite", "sweep", "--spec", str(spec), "--suite-dir", str(tmp_path), "--corpus",
                    str(micro_corpus[0] / "corpus"), "--out", str(tmp_path / "sweep"), "--no-weights"],
                   "the prose val split has", "fewer than one window of seq_len + 1 = 4097", "[recipe] seq_len")


def test_merge_names_a_shard_folder_without_its_run_record():
    """Ctrl-C while a shard's sweep wrote its tables leaves its parts and tables but no
    run.shard-K-of-N.json; eval merge took its results and still said 'shard(s) 0/2 missing ...;
    their checkpoints are not in the tables', which was false, and never named the folder."""
    from scalefit.evals.merge import coverage_warnings

    runs = [{"folder": "sh1", "file": "run.shard-1-of-2.json", "shard": "1/2"}]
    said = coverage_warnings(runs, ["sh0", "sh1"])
    assert said[0].startswith("sh0: no run*.json") and "re-run its command there" in said[0]
    assert "shard(s) 0/2 missing" in said[1] and "unless sh0 holds them" in said[1]
    assert coverage_warnings(runs, ["sh1"]) == [said[1].replace("unless sh0 holds them, ", "")]


def test_a_truncated_safetensors_file_is_named(suite_file, tmp_path):
    """A checkpoint whose model.safetensors was cut short (an interrupted copy) failed in eval with
    safetensors' 'Error while deserializing header: incomplete metadata, file not fully covered',
    naming no file; scalefit weights named it."""
    from scalefit.sweep.checkpoints import load_checkpoint

    copy_checkpoints(suite_file, tmp_path, {"m": {8: "step8"}})
    weights = tmp_path / "m" / "step8" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:20000])
    info = next(iter(sweep_grid_infos(write_spec(tmp_path / "suite.toml", ["m"]))))
    with pytest.raises(ValueError, match=f"{weights}: cannot read as safetensors .*truncated or damaged"):
        load_checkpoint(info, "cpu", "float32")


def test_a_rerun_says_which_checkpoint_was_rewritten_after_it_was_measured(suite_file, tmp_path):
    """Weights retrained into the same folder after a sweep: the re-run skipped that checkpoint as
    done and said nothing, so its old results stood for weights the folder no longer held."""
    import os

    import pandas as pd

    from scalefit.sweep import engine
    from scalefit.sweep.checkpoints import safetensors_loader

    copy_checkpoints(suite_file, tmp_path / "suite", {"m": {4: "step4", 8: "step8"}})
    grid = sweep_grid_infos(write_spec(tmp_path / "suite" / "suite.toml", ["m"]))
    files = engine.Measurement("files", lambda folder, info: pd.DataFrame([{"stat": "files", "value": 1.0}]),
                               table="weights")
    out = tmp_path / "out"
    engine.run_sweep(grid, [files], out, load=safetensors_loader(), progress=False)
    rewritten = tmp_path / "suite" / "m" / "step8" / "model.safetensors"
    later = os.stat(engine.fingerprint_path(out, grid[1])).st_mtime + 60
    os.utime(rewritten, (later, later))  # as a retrained run's save would leave it
    with pytest.warns(ScalefitWarning, match="m step 8: the weight files in .* are newer than its results") as said:
        summary = engine.run_sweep(grid, [files], out, load=safetensors_loader(), progress=False)
    assert len(summary.skipped) == 2 and len(said) == 1  # step 4 untouched: not named


def test_a_refused_init_source_leaves_no_run_folder_claiming_it(suite_file, micro_corpus, tmp_path):
    """--init source:FOLDER whose tensors do not fit the run was refused only after the run's folder
    had recorded its settings (init_source FOLDER): every later command for that run, with a
    fitting source, was refused as 'trained with init_source FOLDER' though nothing had trained."""
    from test_cli_audit import one_line_error
    from tinyspec import S1, micro_spec

    spec = tmp_path / "spec.toml"
    spec.write_text(micro_spec(("[grid]", {"distribution": "prose", "tokens": [320]}), sizes=(S1,)))
    misfit = suite_file.parent / "tiny-a" / "step8"  # d_model 32, vocabulary 512: not the run's shapes
    one_line_error(["suite", "train", "--spec", str(spec), "--corpus", str(micro_corpus[0] / "corpus"),
                    "--out", str(tmp_path / "runs"), "--init", f"source:{misfit}"],
                   "re-init source:", str(misfit))
    assert not list((tmp_path / "runs").rglob("run_settings.json"))

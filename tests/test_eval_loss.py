"""Loss measurement against a plain per-window computation, bits per byte, token caching, loading."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")
torch.set_num_threads(1)

from tinysuite import plain_window_nll, tiny_checkpoint  # noqa: E402

from scalefit.errors import InputError  # noqa: E402
from scalefit.sweep.checkpoints import checkpoint_grid, load_checkpoint  # noqa: E402
from scalefit.evals.loss import measure_loss, window_plan  # noqa: E402
from scalefit.sweep.suites import load_suite  # noqa: E402
from scalefit.evals.tokens import open_token_file, token_byte_lengths, tokenize_dataset  # noqa: E402


@pytest.fixture(scope="module")
def tiny_b_step8(suite_file):
    """The checkpoint the loss tests measure."""
    return tiny_checkpoint(suite_file)


@pytest.fixture(scope="module")
def loaded(suite_file, tiny_b_step8):
    model, tok = load_checkpoint(tiny_b_step8, "cpu", "float32")
    return model, tok, suite_file.parent


@pytest.mark.parametrize("stride", [None, 40, 17])
def test_loss_equals_plain_per_window_computation(loaded, tmp_path, stride):
    model, tok, root = loaded
    tf = tokenize_dataset(root / "data" / "val.txt", tok, tmp_path)
    tokens = np.asarray(tf.tokens()[:1500], dtype=np.int64)
    result = measure_loss(model, tokens, context=64, stride=stride, batch_size=5)
    want_sum, want_n = plain_window_nll(model, tokens, 64, stride)
    assert result.n_tokens == want_n == len(tokens) - 1
    assert result.loss == pytest.approx(want_sum / want_n, abs=1e-5)
    assert math.log(1) < result.loss < math.log(len(tok)) + 1


def test_bits_per_byte_counts_the_bytes_of_the_text(loaded, tmp_path):
    model, tok, root = loaded
    text = (root / "data" / "val.txt").read_text()
    tf = tokenize_dataset(root / "data" / "val.txt", tok, tmp_path)
    lengths = token_byte_lengths(tok, model.get_output_embeddings().weight.shape[0])
    result = measure_loss(model, tf.tokens(), context=64, byte_lengths=lengths)
    assert result.n_bytes == len(text.encode("utf-8"))  # one document, eos counts 0 bytes
    assert result.bpb == pytest.approx(result.nll_sum / math.log(2) / len(text.encode("utf-8")), rel=1e-12)
    assert result.n_tokens == tf.n_tokens - 1


def test_max_tokens_scores_the_same_prefix(loaded, tmp_path):
    model, tok, root = loaded
    tokens = np.asarray(tokenize_dataset(root / "data" / "val.txt", tok, tmp_path).tokens())
    short = measure_loss(model, tokens, context=64, max_tokens=300)
    alone = measure_loss(model, tokens[:301], context=64)
    assert short.n_tokens == 300
    assert short.loss == pytest.approx(alone.loss, abs=1e-6)


def test_window_plan_scores_every_token_once():
    for n, ctx, stride in [(10, 4, None), (101, 16, 5), (17, 16, 16), (2, 8, 3)]:
        plan = window_plan(n, ctx, stride)
        assert sum(k for _, _, k in plan) == n - 1
        assert all(e - b <= ctx and k <= e - b for b, e, k in plan)
    with pytest.raises(InputError):
        window_plan(100, 8, 9)


def test_token_file_is_cached_with_a_sidecar(loaded, tmp_path):
    _, tok, root = loaded
    first = tokenize_dataset(root / "data" / "test.jsonl", tok, tmp_path)
    meta = json.loads(first.path.with_name(first.path.name + ".json").read_text())
    n_docs = sum(1 for line in open(root / "data" / "test.jsonl") if line.strip())
    assert meta["n_docs"] == n_docs and meta["n_tokens"] == first.n_tokens
    mtime = first.path.stat().st_mtime_ns
    again = tokenize_dataset(root / "data" / "test.jsonl", tok, tmp_path)
    assert again.path == first.path and again.path.stat().st_mtime_ns == mtime
    # a Pile-style raw uint16 file is read as it is
    raw = tmp_path / "raw.bin"
    np.asarray(first.tokens()[:100], dtype=np.uint16).tofile(raw)
    opened = open_token_file(raw)
    assert opened.n_tokens == 100 and list(opened.tokens()) == list(first.tokens()[:100])


def test_raw_uint32_token_files_need_their_width_named(loaded, tmp_path):
    from scalefit.evals.measures import parse_dataset

    model, tok, root = loaded
    text = tokenize_dataset(root / "data" / "val.txt", tok, tmp_path / "cache")
    raw = tmp_path / "val32.bin"
    np.asarray(text.tokens(), dtype=np.uint32).tofile(raw)
    with pytest.raises(InputError, match="looks like uint32"):
        tokenize_dataset(raw, tok, tmp_path / "cache")
    ds = parse_dataset(f"val={raw}@uint32")
    assert ds.path == raw and ds.token_dtype == "uint32"
    as32 = tokenize_dataset(ds.path, tok, tmp_path / "cache", token_dtype=ds.token_dtype)
    assert as32.n_tokens == text.n_tokens and np.array_equal(as32.tokens(), text.tokens())


def test_token_ids_outside_the_vocabulary_are_refused(loaded):
    model, *_ = loaded
    with pytest.raises(InputError, match="outside the model's vocabulary"):
        measure_loss(model, np.array([1, 2, 60000], dtype=np.int64), context=8)


def test_pickle_bin_checkpoint_needs_the_explicit_flag(loaded, tmp_path):
    model, tok, root = loaded
    folder = tmp_path / "tiny-b" / "step8"
    folder.mkdir(parents=True)
    model.config.save_pretrained(folder)
    torch.save(model.state_dict(), folder / "pytorch_model.bin")  # the old pickle format
    tok.save_pretrained(folder)
    assert (folder / "pytorch_model.bin").exists() and not (folder / "model.safetensors").exists()
    spec = (root / "suite.toml").read_text().replace('local = "."', f'local = "{tmp_path}"')
    (tmp_path / "suite.toml").write_text(spec)
    info = tiny_checkpoint(tmp_path / "suite.toml")
    with pytest.raises(PermissionError, match="--allow-bin"):
        load_checkpoint(info, "cpu", "float32")
    again, _ = load_checkpoint(info, "cpu", "float32", allow_bin=True)
    assert torch.equal(again.get_output_embeddings().weight, model.get_output_embeddings().weight)


def test_suite_lr_and_tokens_follow_the_spec(suite_file):
    suite = load_suite(suite_file)
    grid = checkpoint_grid(suite, ["tiny-a"], suite.steps)
    assert [g.step for g in grid] == [0, 1, 2, 4, 8]
    assert [g.tokens for g in grid] == [s * suite.tokens_per_step for s in suite.steps]
    assert grid[0].lr == pytest.approx(3e-3)  # the peak from step 0 (no warmup: tinysuite.tiny_schedule)
    assert grid[-1].lr == pytest.approx(3e-4)  # cosine floor, 0.1 x peak


needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="no GPU")


def _val_tokens(loaded, tmp_path):
    model, tok, root = loaded
    return np.asarray(tokenize_dataset(root / "data" / "val.txt", tok, tmp_path).tokens()[:1500], dtype=np.int64)


@needs_cuda
@pytest.mark.parametrize("stride", [None, 17])
def test_cuda_fp32_loss_equals_the_cpu_hand_computation(loaded, tiny_b_step8, tmp_path, stride):  # pragma: no cover
    tokens = _val_tokens(loaded, tmp_path)
    want_sum, want_n = plain_window_nll(loaded[0], tokens, 64, stride)
    gpu_model, _ = load_checkpoint(tiny_b_step8, "cuda", "float32")
    result = measure_loss(gpu_model, tokens, context=64, stride=stride, batch_size=5)
    assert result.n_tokens == want_n
    assert result.loss == pytest.approx(want_sum / want_n, abs=1e-5)


@needs_cuda
def test_cuda_default_bf16_loss_is_within_bf16_rounding(loaded, tiny_b_step8, tmp_path):  # pragma: no cover
    """What `scalefit eval` loads on a GPU by default: bf16 weights, autocast, chunked CE."""
    tokens = _val_tokens(loaded, tmp_path)
    want_sum, want_n = plain_window_nll(loaded[0], tokens, 64, None)
    gpu_model, _ = load_checkpoint(tiny_b_step8, "auto", "auto")
    assert next(gpu_model.parameters()).device.type == "cuda"
    assert next(gpu_model.parameters()).dtype == torch.bfloat16
    result = measure_loss(gpu_model, tokens, context=64)
    assert result.loss == pytest.approx(want_sum / want_n, rel=1e-2)


def test_a_token_width_other_than_uint16_or_uint32_is_named(tmp_path):
    """--dataset v=ids.bin@uint64 said 'ids.bin@uint64: file not found' of a file that exists."""
    from scalefit.evals.measures import parse_dataset

    raw = tmp_path / "ids.bin"
    np.arange(10, dtype=np.uint16).tofile(raw)
    with pytest.raises(InputError, match=r"@uint64 is not a token width; a raw token file is PATH \(uint16\) "
                                         r"or PATH@uint32"):
        parse_dataset(f"v={raw}@uint64")
    with pytest.raises(InputError, match="file not found"):  # a missing file is still said as such
        parse_dataset(f"v={tmp_path / 'none.bin'}@uint64")
    assert parse_dataset(f"v={raw}@uint32").token_dtype == "uint32"


def test_a_file_edited_inside_a_folder_dataset_is_tokenized_again(loaded, tmp_path):
    """The token cache was keyed on the folder's own size and mtime, which an edit of a file in
    place does not change: with a shared --cache-dir the old text's tokens were scored again
    (the same loss and n_tokens before and after the folder's content changed)."""
    import os

    _, tok, _ = loaded
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "a.txt").write_text("def f(x):\n    return x\n" * 20)
    stamp = os.stat(folder)
    first = tokenize_dataset(folder, tok, tmp_path / "cache")
    (folder / "a.txt").write_text("import os\n" * 200)
    os.utime(folder, ns=(stamp.st_atime_ns, stamp.st_mtime_ns))  # the folder's own stat unchanged
    again = tokenize_dataset(folder, tok, tmp_path / "cache")
    assert again.path != first.path and again.n_tokens != first.n_tokens
    assert list(again.tokens()[1:4]) == tok("import os\n", add_special_tokens=False)["input_ids"][:3]


def test_a_checkpoint_folder_without_tokenizer_files_is_a_failure_not_an_empty_tokenizer(suite_file, tmp_path):
    """transformers builds an empty GPTNeoXTokenizer (2 ids, every text -> []) for a folder with
    config.json and weights but no tokenizer files: each document became its end-of-text token
    alone and the sweep reported a 'loss' of those (n_tokens 2 for 3 documents), exit status 0."""
    import shutil

    from scalefit.sweep.checkpoints import CheckpointInfo, load_tokenizer

    source = suite_file.parent / "tiny-a" / "step8"
    folder = tmp_path / "tiny-a" / "step8"
    shutil.copytree(source, folder, ignore=shutil.ignore_patterns("tokenizer*"))
    info = CheckpointInfo(model="tiny-a", step=8, tokens=None, lr=None, path=str(folder))
    with pytest.raises(ValueError, match="no usable tokenizer in the checkpoint folder"):
        load_tokenizer(info)
    info.tokenizer_source = str(source)  # the suite's tokenizer, where the spec names one
    assert load_tokenizer(info)("def f(x):", add_special_tokens=False)["input_ids"]

"""The standard error `scalefit eval --dataset` gives each loss: a bootstrap over documents when the
token file says where they begin, else over the scored windows, checked against a hand computation."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")
torch.set_num_threads(1)

from tinysuite import tiny_checkpoint  # noqa: E402

from scalefit.evals.evalset import BOOT_SEED, N_BOOT  # noqa: E402
from scalefit.evals.loss import window_plan  # noqa: E402
from scalefit.evals.measures import Dataset, loss_measurement  # noqa: E402
from scalefit.evals.tokens import tokenize_dataset  # noqa: E402
from scalefit.sweep.checkpoints import load_checkpoint  # noqa: E402

CONTEXT = 64


@pytest.fixture(scope="module")
def loaded(suite_file):
    """(model, CheckpointInfo with its tokenizer, the tiny suite's data folder)."""
    info = tiny_checkpoint(suite_file)
    model, tok = load_checkpoint(info, "cpu", "float32")
    info.tokenizer = tok
    return model, info, suite_file.parent / "data"


def write_jsonl(path, texts):
    path.write_text("".join(json.dumps({"text": t}) + "\n" for t in texts))
    return path


def varied_documents(data) -> list[str]:
    """The tiny suite's val.txt cut into 12 documents of unequal length."""
    lines = (data / "val.txt").read_text().splitlines(keepends=True)
    cuts = np.linspace(0, len(lines), 13).round().astype(int)
    return ["".join(lines[a:b]) for a, b in zip(cuts[:-1], cuts[1:])]


def hand_token_nll(model, tokens, context):
    """(NLL of every target, its stream position), one window at a time (window_plan's windows),
    with a full float64 log-softmax, and the window each target was scored in."""
    nll, positions, window = [], [], []
    for i, (begin, end, new) in enumerate(window_plan(len(tokens), context)):
        ids = torch.tensor(np.asarray(tokens[begin:end + 1], dtype=np.int64))[None]
        with torch.no_grad():
            logp = torch.log_softmax(model(input_ids=ids[:, :-1]).logits.double(), -1)[0]
        targets = ids[0, 1:]
        nll.append((-logp[torch.arange(len(targets)), targets])[-new:].numpy())
        positions.append(np.arange(end - new + 1, end + 1))
        window.append(np.full(new, i))
    return np.concatenate(nll), np.concatenate(positions), np.concatenate(window)


def hand_bootstrap_se(nll, unit):
    """The SE of the token-weighted mean by resampling units (evalset's constants), by hand."""
    names = np.unique(unit)
    sums = np.array([nll[unit == u].sum() for u in names])
    counts = np.array([(unit == u).sum() for u in names], dtype=float)
    idx = np.random.default_rng(BOOT_SEED).integers(0, names.size, size=(N_BOOT, names.size))
    return float((sums[idx].sum(1) / counts[idx].sum(1)).std(ddof=1)), names.size


def measure(model, info, path, tmp_path, context=CONTEXT, **options):
    """The rows of the `loss` measurement of one dataset, indexed by metric."""
    m = loss_measurement(Dataset(name="d", path=path), cache_dir=tmp_path / "cache", context=context, **options)
    return m.fn(model, info).set_index("metric")


def test_the_se_is_a_bootstrap_over_the_documents_of_a_tokenized_dataset(loaded, tmp_path):
    model, info, data = loaded
    texts = varied_documents(data)
    path = write_jsonl(tmp_path / "docs.jsonl", texts)
    rows = measure(model, info, path, tmp_path)
    tokens = np.asarray(tokenize_dataset(path, info.tokenizer, tmp_path / "cache").tokens())
    nll, positions, _ = hand_token_nll(model, tokens, CONTEXT)
    eos = np.flatnonzero(tokens == info.tokenizer.eos_token_id)
    assert eos.size == len(texts) and eos[0] == 0
    doc = np.searchsorted(eos, positions, side="left")  # the end-of-text closes the document before it
    want, k = hand_bootstrap_se(nll, doc)
    loss = rows.loc["loss"]
    assert loss["se_by"] == "documents" and loss["n_docs"] == k == len(texts)
    assert loss["value"] == pytest.approx(nll.mean(), abs=1e-5)
    assert loss["se"] == pytest.approx(want, rel=1e-5)
    assert 0.005 < loss["se"] < 0.5
    bpb = rows.loc["bpb"]  # the same resamples of each document's NLL and bytes (all of its bytes are scored)
    doc_bytes = np.array([len(t.encode("utf-8")) for t in texts], dtype=float)
    doc_nll = np.array([nll[doc == u].sum() for u in np.unique(doc)])
    idx = np.random.default_rng(BOOT_SEED).integers(0, k, size=(N_BOOT, k))
    assert bpb["se"] == pytest.approx((doc_nll[idx].sum(1) / math.log(2) / doc_bytes[idx].sum(1)).std(ddof=1), rel=1e-5)


def test_identical_documents_give_an_se_of_zero(loaded, tmp_path):
    model, info, data = loaded
    text = varied_documents(data)[0][:70]
    n = len(info.tokenizer(text, add_special_tokens=False)["input_ids"]) + 1  # with its end-of-text
    assert 20 < n <= model.config.max_position_embeddings
    path = write_jsonl(tmp_path / "same.jsonl", [text] * 9)
    # windows of one document each; the last document, whose closing end-of-text is not in the
    # stream, is left out of the scored tokens
    rows = measure(model, info, path, tmp_path, context=n, max_tokens=8 * n).loc["loss"]
    assert rows["n_docs"] == 8 and rows["se_by"] == "documents"
    assert rows["value"] > 1
    assert rows["se"] < 1e-6 * rows["value"]


def test_a_token_file_without_documents_takes_a_bootstrap_over_windows(loaded, tmp_path):
    """No sidecar and no end-of-text token: where documents begin is unknown (said: the window
    bootstrap understates where documents span windows)."""
    from scalefit.errors import ScalefitWarning

    model, info, data = loaded
    tokens = np.asarray(tokenize_dataset(data / "val.txt", info.tokenizer, tmp_path / "cache").tokens())[1:1501]
    assert not (tokens == info.tokenizer.eos_token_id).any()
    np.save(tmp_path / "val.npy", tokens.astype(np.uint16))
    with pytest.warns(ScalefitWarning, match="the SE resamples the scored windows, which understates it"):
        rows = measure(model, info, tmp_path / "val.npy", tmp_path)
    nll, _, window = hand_token_nll(model, tokens, CONTEXT)
    want, k = hand_bootstrap_se(nll, window)
    loss = rows.loc["loss"]
    assert loss["se_by"] == "windows" and loss["n_docs"] is None and k == math.ceil(1499 / CONTEXT)
    assert loss["se"] == pytest.approx(want, rel=1e-5)


def test_an_end_of_text_inside_a_text_leaves_the_documents_unknown(loaded, tmp_path):
    """A text's literal `<|endoftext|>` is tokenized as text (one document); a stream whose sidecar
    counts fewer documents than it holds end-of-text tokens has no checked document starts."""
    from scalefit.evals.tokens import document_starts, open_token_file

    _, info, data = loaded
    texts = varied_documents(data)[:3]
    whole = tokenize_dataset(write_jsonl(tmp_path / "a.jsonl", texts), info.tokenizer, tmp_path)
    assert document_starts(whole, info.tokenizer.eos_token_id).size == 3
    texts[1] = texts[1] + info.tokenizer.eos_token + texts[1]  # as text, not the special id
    literal = tokenize_dataset(write_jsonl(tmp_path / "b.jsonl", texts), info.tokenizer, tmp_path)
    assert document_starts(literal, info.tokenizer.eos_token_id).size == 3
    tokens = np.asarray(whole.tokens())
    cut = int(np.flatnonzero(tokens == info.tokenizer.eos_token_id)[1]) + 5  # a third end-of-text in a document
    np.insert(tokens, cut, info.tokenizer.eos_token_id).astype(tokens.dtype).tofile(tmp_path / "c.bin")
    meta = json.loads(whole.path.with_name(whole.path.name + ".json").read_text())
    (tmp_path / "c.bin.json").write_text(json.dumps({**meta, "n_tokens": tokens.size + 1}))
    assert document_starts(open_token_file(tmp_path / "c.bin"), info.tokenizer.eos_token_id) is None

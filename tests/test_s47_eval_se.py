"""Standard errors of `scalefit eval` that a paper can quote (audit f11): the bpb SE is the SE of
a ratio whose bytes vary between documents; a token file without a sidecar is resampled by the
documents between its end-of-text tokens; a text holding `<|endoftext|>` stays one document; a
0/1 task metric gets a binomial SE that is not 0 at 0% or 100%; lm-eval scores in fp32.
Each is checked against a computation made here, by hand, or by coverage on simulated data."""
from __future__ import annotations

import json
import math
import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")
torch.set_num_threads(1)

from tinysuite import tiny_checkpoint  # noqa: E402

from scalefit.errors import ScalefitWarning  # noqa: E402
from scalefit.evals.evalset import BOOT_SEED, N_BOOT  # noqa: E402
from scalefit.evals.loss import window_plan  # noqa: E402
from scalefit.evals.measures import Dataset, loss_measurement  # noqa: E402
from scalefit.evals.tokens import tokenize_dataset  # noqa: E402
from scalefit.sweep.checkpoints import load_checkpoint  # noqa: E402

CONTEXT = 64
LN2 = math.log(2)


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


def mixed_documents(data, n: int = 14) -> list[str]:
    """ASCII documents whose bytes per token differ: Python source cut from the tiny suite's
    val.txt (what its tokenizer learned: several bytes a token) between runs of random letters,
    digits and punctuation (about one byte a token, and a different loss per token)."""
    lines = (data / "val.txt").read_text().splitlines(keepends=True)
    half = n // 2
    cuts = np.linspace(0, len(lines), half + 1).round().astype(int)
    code = ["".join(lines[a:b]) for a, b in zip(cuts[:-1], cuts[1:])]
    rng = np.random.default_rng(7)
    alphabet = np.array(list("abcdefghijklmnopqrstuvwxyz0123456789;:!?#@%&*+=-"))
    noise = ["".join(rng.choice(alphabet, size=int(rng.integers(150, 700)))) for _ in range(n - half)]
    docs = [d for pair in zip(code, noise) for d in pair]
    assert all(d.isascii() for d in docs)
    return docs


def hand_token_nll(model, tokens, context):
    """(float64 NLL of every target, its stream position, the window it was scored in), one
    window_plan window at a time, with a full log-softmax."""
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


def hand_ratio_bootstrap(nll, tokens, nbytes, *, seed=BOOT_SEED, n_boot=N_BOOT):
    """SEs of sum(nll)/sum(tokens) and of sum(nll)/(ln 2 sum(bytes)) over resampled documents."""
    idx = np.random.default_rng(seed).integers(0, nll.size, size=(n_boot, nll.size))
    sn, st, sb = nll[idx].sum(1), tokens[idx].sum(1), nbytes[idx].sum(1)
    return float((sn / st).std(ddof=1)), float((sn / LN2 / sb).std(ddof=1))


def delta_bpb_se(nll, nbytes):
    """The delta-method SE of the ratio estimator sum(nll) / (ln 2 sum(bytes)) over documents."""
    k, ratio = nll.size, nll.sum() / nbytes.sum()
    resid = nll - ratio * nbytes
    return math.sqrt((resid ** 2).sum() / (k * (k - 1))) / nbytes.mean() / LN2


def measure(model, info, path, tmp_path, context=CONTEXT, name="d", **options):
    """The rows of the `loss` measurement of one dataset, indexed by metric."""
    m = loss_measurement(Dataset(name=name, path=path), cache_dir=tmp_path / "cache", context=context, **options)
    return m.fn(model, info).set_index("metric")


# 1. the bpb SE resamples each document's bytes with its NLL

def test_the_bpb_se_is_the_ratio_se_of_documents_whose_bytes_per_token_differ(loaded, tmp_path):
    """The bpb row's se was the loss's se times n_tokens / (ln 2 n_bytes), the bytes held fixed:
    on documents whose bytes per token differ it understated the SE of bpb (2.2x in the audit)."""
    model, info, data = loaded
    texts = mixed_documents(data)
    path = write_jsonl(tmp_path / "mixed.jsonl", texts)
    rows = measure(model, info, path, tmp_path)
    tokens = np.asarray(tokenize_dataset(path, info.tokenizer, tmp_path / "cache").tokens())
    nll, positions, _ = hand_token_nll(model, tokens, CONTEXT)
    eos = np.flatnonzero(tokens == info.tokenizer.eos_token_id)
    # the document a target belongs to; an end-of-text target closes the document before it
    doc = np.searchsorted(eos, positions, side="left") - 1
    doc_nll = np.bincount(doc, weights=nll)
    doc_tokens = np.bincount(doc).astype(float)
    doc_bytes = np.array([len(t.encode("utf-8")) for t in texts], dtype=float)  # every byte of it is scored
    per_token = doc_bytes / doc_tokens
    assert per_token.max() > 2 * per_token.min()  # the premise: bytes per token differ
    loss_se, bpb_se = hand_ratio_bootstrap(doc_nll, doc_tokens, doc_bytes)
    loss, bpb = rows.loc["loss"], rows.loc["bpb"]
    assert loss["se_by"] == bpb["se_by"] == "documents" and bpb["n_docs"] == len(texts)
    assert bpb["value"] == pytest.approx(nll.sum() / LN2 / doc_bytes.sum(), rel=1e-6)
    assert loss["se"] == pytest.approx(loss_se, rel=1e-5)
    assert bpb["se"] == pytest.approx(bpb_se, rel=1e-5)
    # an estimate made another way: the delta method, and a bootstrap of other resamples
    assert bpb["se"] == pytest.approx(delta_bpb_se(doc_nll, doc_bytes), rel=0.2)
    assert bpb["se"] == pytest.approx(hand_ratio_bootstrap(doc_nll, doc_tokens, doc_bytes, seed=99)[1], rel=0.15)
    held_fixed = loss["se"] * bpb["value"] / loss["value"]  # the old rescaling
    assert bpb["se"] > 1.3 * held_fixed


def test_the_ratio_se_covers_the_bits_per_byte_of_simulated_documents():
    """Coverage: documents drawn with known population bits per byte (code-like: many bytes a
    token, a low loss per token; noise-like: about one byte a token, a high loss), the bpb
    +- 1.96 SE of ratio_ses holds the truth about 95% of the time; the loss's SE at fixed bytes
    held it far less often."""
    from scalefit.evals.loss import ratio_ses

    rng = np.random.default_rng(11)

    def draw(k):
        code = rng.random(k) < 0.5
        tokens = rng.integers(40, 400, size=k).astype(float)
        per_byte = np.where(code, rng.normal(3.5, 0.4, k), rng.normal(1.1, 0.1, k))
        per_token = np.where(code, rng.normal(2.0, 0.3, k), rng.normal(4.5, 0.3, k))
        return per_token * tokens, tokens, np.round(per_byte * tokens)

    big = draw(2_000_000)
    truth = big[0].sum() / LN2 / big[2].sum()
    hits = held = 0
    trials = 300
    for _ in range(trials):
        nll, tokens, nbytes = draw(40)
        se, bpb_se = ratio_ses(nll, tokens, nbytes, n_boot=400)
        bpb = nll.sum() / LN2 / nbytes.sum()
        hits += abs(bpb - truth) <= 1.96 * bpb_se
        held += abs(bpb - truth) <= 1.96 * se * tokens.sum() / LN2 / nbytes.sum()
    assert 0.89 <= hits / trials <= 0.99
    assert held / trials < 0.8


def test_ratio_ses_gives_the_loss_se_of_doc_bootstrap_se_to_the_bit():
    """Adding the bytes to the resampled columns changes no resample: the loss's SE is unchanged."""
    from scalefit.evals.evalset import doc_bootstrap_se
    from scalefit.evals.loss import ratio_ses

    rng = np.random.default_rng(3)
    nll, tokens, nbytes = rng.random(57) * 300, rng.integers(1, 100, 57).astype(float), rng.integers(1, 400, 57).astype(float)
    assert ratio_ses(nll, tokens, nbytes)[0] == doc_bootstrap_se(nll, tokens)
    assert math.isnan(ratio_ses(nll, tokens, None)[1]) and math.isnan(ratio_ses(nll[:1], tokens[:1], nbytes[:1])[1])


def test_the_suite_sweep_bpb_se_resamples_bytes_too(loaded, tmp_path, monkeypatch):
    """trainer.sweep.evalset_measurement (the mini suite's checkpoints.parquet) rescaled the loss's
    SE the same way; its bpb se is now the ratio's, over the eval set's documents."""
    import scalefit.trainer.corpus as corpus
    from scalefit.evals.evalset import spread_windows
    from scalefit.trainer.sweep import evalset_measurement

    model, info, data = loaded
    texts = mixed_documents(data, 16)
    path = write_jsonl(tmp_path / "mixed.jsonl", texts)
    tokens = np.asarray(tokenize_dataset(path, info.tokenizer, tmp_path / "cache").tokens())
    eos = info.tokenizer.eos_token_id
    evalset = spread_windows(tokens, 32, 32 * 60, eos)
    monkeypatch.setattr(corpus, "suite_eval_set", lambda *a: evalset)
    monkeypatch.setattr(corpus, "corpus_fingerprint", lambda *a: "fp")
    monkeypatch.setattr(corpus, "read_manifest", lambda *a: {"vocab_size_actual": 0})
    rows = evalset_measurement(tmp_path, "val", "prose", "val", False, 32, 32 * 60).fn(model, info).set_index("metric")
    with torch.no_grad():
        ids = torch.from_numpy(evalset.rows)
        logp = torch.log_softmax(model(input_ids=ids[:, :-1]).logits.double(), -1)
        window = -logp.gather(-1, ids[:, 1:, None])[..., 0].sum(1).numpy()
    piece_bytes = {i: len(info.tokenizer.decode([i]).encode("utf-8")) for i in np.unique(evalset.rows)}
    piece_bytes[eos] = 0
    window_bytes = np.array([sum(piece_bytes[t] for t in row[1:]) for row in evalset.rows], dtype=float)
    docs, inverse = np.unique(evalset.doc, return_inverse=True)
    doc_nll, doc_bytes = np.bincount(inverse, weights=window), np.bincount(inverse, weights=window_bytes)
    doc_tokens = np.bincount(inverse).astype(float) * 32
    loss_se, bpb_se = hand_ratio_bootstrap(doc_nll, doc_tokens, doc_bytes)
    assert rows.loc["loss", "n_docs"] == docs.size >= 8
    assert rows.loc["loss", "se"] == pytest.approx(loss_se, rel=1e-5)
    assert rows.loc["bpb", "value"] == pytest.approx(doc_nll.sum() / LN2 / doc_bytes.sum(), rel=1e-6)
    assert rows.loc["bpb", "se"] == pytest.approx(bpb_se, rel=1e-5)
    assert rows.loc["bpb", "se"] > 1.2 * rows.loc["loss", "se"] * rows.loc["bpb", "value"] / rows.loc["loss", "value"]


# 2. a token file without a sidecar: its end-of-text tokens are the documents' boundaries

def test_a_token_file_without_a_sidecar_is_resampled_by_its_end_of_text_documents(loaded, tmp_path):
    """A .npy/.bin stream with end-of-text between documents got a bootstrap over windows (3.9x too
    small in the audit); the documents between its end-of-text tokens give the JSONL file's SEs."""
    model, info, data = loaded
    texts = mixed_documents(data)
    path = write_jsonl(tmp_path / "mixed.jsonl", texts)
    tokens = np.asarray(tokenize_dataset(path, info.tokenizer, tmp_path / "cache").tokens())
    np.save(tmp_path / "mixed.npy", tokens.astype(np.uint16))
    tokens.astype(np.uint16).tofile(tmp_path / "mixed.bin")
    jsonl = measure(model, info, path, tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ScalefitWarning)  # nothing to warn of: the boundaries are known
        for name in ("mixed.npy", "mixed.bin"):
            rows = measure(model, info, tmp_path / name, tmp_path)
            assert set(rows["se_by"]) == {"documents (eos)"} and set(rows["n_docs"]) == {len(texts)}
            for metric in ("loss", "bpb"):
                assert rows.loc[metric, "value"] == jsonl.loc[metric, "value"]
                assert rows.loc[metric, "se"] == jsonl.loc[metric, "se"]
    # end-of-text after each document (the Pile's order) marks the same documents
    after = np.concatenate([np.append(tokens[s + 1:e], tokens[s]) for s, e in
                            zip(np.flatnonzero(tokens == info.tokenizer.eos_token_id),
                                list(np.flatnonzero(tokens == info.tokenizer.eos_token_id)[1:]) + [tokens.size])])
    np.save(tmp_path / "after.npy", after.astype(np.uint16))
    rows = measure(model, info, tmp_path / "after.npy", tmp_path)
    assert set(rows["n_docs"]) == {len(texts)} and rows.loc["loss", "se"] > 0


def test_a_token_file_without_end_of_text_says_its_window_se_understates(loaded, tmp_path):
    model, info, data = loaded
    tokens = np.asarray(tokenize_dataset(write_jsonl(tmp_path / "m.jsonl", mixed_documents(data)),
                                         info.tokenizer, tmp_path / "cache").tokens())
    np.save(tmp_path / "bare.npy", tokens[tokens != info.tokenizer.eos_token_id].astype(np.uint16))
    with pytest.warns(ScalefitWarning, match=r"dataset bare: se: bare.npy holds no end-of-text token, so where "
                                             r"its documents begin is unknown; the SE resamples the scored windows, "
                                             r"which understates it where documents span windows"):
        rows = measure(model, info, tmp_path / "bare.npy", tmp_path, name="bare")
    assert set(rows["se_by"]) == {"windows"} and rows["n_docs"].isna().all()
    assert (rows["se"] > 0).all()


# 3. a text holding the end-of-text token's text stays one document

def test_a_text_holding_the_end_of_text_text_stays_one_document(loaded, tmp_path):
    """`<|endoftext|>` inside a JSONL text was read as the special id: a false break the model saw,
    and one end-of-text more than documents, so the SE fell back to windows without a word."""
    model, info, data = loaded
    texts = mixed_documents(data)
    texts[3] = texts[3][:200] + info.tokenizer.eos_token + texts[3][200:]
    path = write_jsonl(tmp_path / "literal.jsonl", texts)
    token_file = tokenize_dataset(path, info.tokenizer, tmp_path / "cache")
    tokens = np.asarray(token_file.tokens())
    assert (tokens == info.tokenizer.eos_token_id).sum() == token_file.n_docs == len(texts)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ScalefitWarning)
        rows = measure(model, info, path, tmp_path)
    assert set(rows["se_by"]) == {"documents"} and set(rows["n_docs"]) == {len(texts)}


def test_a_sidecar_whose_documents_do_not_check_out_is_said(loaded, tmp_path):
    """A sidecar that marks documents while the stream holds another number of end-of-text tokens
    (a cache written before the fix above, another tokenizer): said, and its end-of-text tokens used."""
    model, info, data = loaded
    texts = mixed_documents(data)
    path = write_jsonl(tmp_path / "m.jsonl", texts)
    token_file = tokenize_dataset(path, info.tokenizer, tmp_path / "cache")
    tokens = np.asarray(token_file.tokens())
    (tmp_path / "t.bin").write_bytes(tokens.astype(np.uint16).tobytes())
    meta = json.loads(token_file.path.with_name(token_file.path.name + ".json").read_text())
    (tmp_path / "t.bin.json").write_text(json.dumps({**meta, "n_docs": len(texts) - 1}))
    with pytest.warns(ScalefitWarning, match=rf"dataset t: se: the sidecar of t.bin says each of its {len(texts) - 1} "
                                             rf"documents opens with end-of-text \(id {info.tokenizer.eos_token_id}\), "
                                             rf"but it holds {len(texts)} .*; the SE resamples the documents between them"):
        rows = measure(model, info, tmp_path / "t.bin", tmp_path, name="t")
    assert set(rows["se_by"]) == {"documents (eos)"} and set(rows["n_docs"]) == {len(texts)}


def test_an_old_cache_is_not_reused_after_the_tokenization_changed(loaded, tmp_path):
    """The cache key names how texts are tokenized: a file cached with the special id is tokenized again."""
    from scalefit.evals import tokens as tokens_module

    _, info, data = loaded
    path = write_jsonl(tmp_path / "a.jsonl", ["x = 1" + info.tokenizer.eos_token + "y = 2", "z = 3"])
    first = tokenize_dataset(path, info.tokenizer, tmp_path / "cache").path
    old = tokens_module.TOKENIZE_VERSION
    try:
        tokens_module.TOKENIZE_VERSION = ""
        assert tokenize_dataset(path, info.tokenizer, tmp_path / "cache").path != first
    finally:
        tokens_module.TOKENIZE_VERSION = old


def test_a_token_file_of_one_end_of_text_document_says_it_has_no_se(loaded, tmp_path):
    model, info, data = loaded
    tokens = np.asarray(tokenize_dataset(data / "val.txt", info.tokenizer, tmp_path / "cache").tokens())[:700]
    np.save(tmp_path / "one.npy", tokens.astype(np.uint16))
    with pytest.warns(ScalefitWarning, match=r"dataset one: se: none \(one.npy holds one document"):
        rows = measure(model, info, tmp_path / "one.npy", tmp_path, name="one")
    assert set(rows["se_by"]) == {"documents (eos)"} and set(rows["n_docs"]) == {1} and rows["se"].isna().all()


# 4. a 0/1 task metric: a binomial SE that is not 0 at 0% or 100%

def test_a_proportion_gets_a_wilson_se_that_covers_at_the_edges_too():
    """acc of 0/100 or 100/100 was reported with se 0 (the examples' SD); the Wilson SE is not 0
    there, and p +- 1.96 se holds the true accuracy at least about 95% of the time near the edges
    (more: it is conservative there) as in the middle, where the sample SD's interval held it far
    less often near the edges."""
    from scalefit.evals.downstream import example_se, mean_se

    for n in (10, 100):
        for ones in (0, n):
            se, by = example_se(np.array([ones // n] * n, dtype=float))
            assert by == "examples (wilson)" and 0.2 / n < se < 1 / n
    rng = np.random.default_rng(5)
    n, trials = 100, 2000
    for p in (0.01, 0.03, 0.3):
        draws = (rng.random((trials, n)) < p).astype(float)
        hat = draws.mean(1)
        wilson = np.array([example_se(d)[0] for d in draws])
        sd = np.array([mean_se(d) for d in draws])
        assert (abs(hat - p) <= 1.96 * wilson).mean() >= 0.9, p
        if p <= 0.01:
            assert (abs(hat - p) <= 1.96 * sd).mean() < 0.8
    graded, by = example_se(np.array([0.5, 1.0, 0.0, 0.25]))  # not 0/1: the sample SD over sqrt(n)
    assert by == "examples" and graded == pytest.approx(np.std([0.5, 1.0, 0.0, 0.25], ddof=1) / 2, rel=1e-12)


def write_task(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_a_task_every_example_gets_right_has_a_nonzero_se(loaded, tmp_path):
    """One choice per row: acc is 1 on every example; its se was 0, now the Wilson SE of 8/8."""
    from scalefit.evals.downstream import jsonl_task, run_tasks

    model, info, _ = loaded
    rows = [{"context": f"x = {i}", "choices": ["print(x)"], "answer": 0} for i in range(8)]
    spec = jsonl_task("one", write_task(tmp_path / "one.jsonl", rows))
    out = run_tasks(model, info.tokenizer, [spec], progress=False).set_index("metric")
    z = 1.959963984540054
    assert out.loc["acc", "value"] == 1.0 and out.loc["acc", "n_examples"] == 8
    assert out.loc["acc", "se"] == pytest.approx(z / (2 * (8 + z * z)), rel=1e-12)
    assert out.loc["acc", "se_by"] == "examples (wilson)"


# 5. lm-eval's log-probabilities in fp32

def test_task_log_probabilities_are_an_fp32_log_softmax_of_half_precision_logits(loaded, tmp_path):
    """HFLM was built without softmax_dtype, so a bf16 model's task log-probs were a bf16 log-softmax
    (~3 digits); gold_ce is now the fp32 log-softmax of its logits, as computed here."""
    from scalefit.evals.downstream import jsonl_task, run_tasks

    _, info, data = loaded
    model, tok = load_checkpoint(info, "cpu", "bfloat16")
    assert next(model.parameters()).dtype == torch.bfloat16
    lines = [ln for ln in (data / "val.txt").read_text().splitlines() if 15 < len(ln.strip()) < 40][:12]
    rows = [{"context": a.strip(), "continuation": b.strip()} for a, b in zip(lines[::2], lines[1::2])]
    fp32, bf16 = [], []
    for r in rows:
        ctx = tok(r["context"], add_special_tokens=False)["input_ids"]
        cont = tok(r["context"] + " " + r["continuation"], add_special_tokens=False)["input_ids"][len(ctx):]
        ids = torch.tensor(ctx + cont)[None]
        with torch.no_grad():
            logits = model(input_ids=ids[:, :-1]).logits[0, -len(cont):]
        target = torch.tensor(cont)
        for out, dtype in ((fp32, torch.float32), (bf16, torch.bfloat16)):
            logp = torch.log_softmax(logits, -1, dtype=dtype).float()
            out.append(-float(logp[torch.arange(len(cont)), target].sum()) / len(cont))
    worst = int(np.argmax(np.abs(np.subtract(fp32, bf16))))
    assert abs(fp32[worst] - bf16[worst]) > 1e-3  # the premise: the two differ on this example
    spec = jsonl_task("cont", write_task(tmp_path / "cont.jsonl", [rows[worst]]))  # alone: no padding
    got = run_tasks(model, tok, [spec], batch_size=1, progress=False).set_index("metric").loc["gold_ce", "value"]
    assert got == pytest.approx(fp32[worst], rel=1e-6)


def test_an_lm_eval_without_softmax_dtype_is_left_as_it_was():
    from lm_eval.models.huggingface import HFLM

    from scalefit.evals.downstream import hflm_precision

    class OldHFLM:
        def __init__(self, pretrained=None, tokenizer=None, batch_size=1, **kwargs):
            pass

    assert hflm_precision(OldHFLM) == {}
    assert hflm_precision(HFLM) == {"softmax_dtype": "float32"}

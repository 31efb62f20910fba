"""The one eval set per split (scalefit.evals.evalset): which windows it takes, which document each
belongs to, and whether its standard errors are the sampling SD they claim to be."""
from __future__ import annotations

import math

import numpy as np
import pytest

from scalefit.errors import InputError
from scalefit.evals.evalset import (EvalLoss, EvalSet, doc_bootstrap_se, documents_for_se, paired_se,
                                    spread_windows)

SEP = 0


def split_of_documents(lengths, seed: int | None = 0):
    """A token stream of documents, each followed by SEP, and each position's document (the
    separator belongs to the document it ends). Ids are random in 1..99, or with seed=None the
    position + 1 (so a window tells where it starts)."""
    rng = np.random.default_rng(seed)
    tokens, owner = [], []
    for i, n in enumerate(lengths):
        ids = (np.arange(len(owner), len(owner) + n) + 1) if seed is None else rng.integers(1, 100, n)
        tokens += list(ids) + [SEP]
        owner += [i] * (n + 1)
    return np.asarray(tokens, dtype=np.int64), np.asarray(owner)


def window_starts(rows) -> np.ndarray:
    """Where each window of a position-id split starts (its first token may be a separator)."""
    return np.where(rows[:, 0] != SEP, rows[:, 0] - 1, rows[:, 1] - 2)


# ---------------------------------------------------------------- windows and documents


def test_windows_are_spread_evenly_over_the_whole_split():
    tokens = np.arange(10_001)
    context = 10  # 1000 non-overlapping windows fit
    ev = spread_windows(tokens, context, 200, separator=None)
    starts = ev.rows[:, 0]
    assert ev.rows.shape == (20, context + 1)
    for row in ev.rows:  # a window is context + 1 consecutive tokens
        np.testing.assert_array_equal(row, np.arange(row[0], row[0] + context + 1))
    assert starts[0] == 0 and starts[-1] == 999 * context  # first and last window of the split
    assert (starts % context == 0).all()  # on the window grid, so no two windows overlap
    gaps = np.diff(starts)
    assert gaps.min() >= 52 * context and gaps.max() <= 53 * context  # 999 / 19 windows apart
    assert ev.n_tokens == 20 * context and ev.n_docs == 1 and (ev.doc == 0).all()


def test_window_document_is_that_of_its_first_target():
    lengths = [5, 40, 3, 17, 60, 1, 25, 8, 90, 12, 33, 7]
    tokens, owner = split_of_documents(lengths, seed=None)
    context = 4
    ev = spread_windows(tokens, context, 40, separator=SEP)
    starts = window_starts(ev.rows)
    assert starts[0] == 0 and starts[-1] == ((tokens.size - 1) // context - 1) * context
    np.testing.assert_array_equal(ev.rows, np.stack([tokens[s:s + context + 1] for s in starts]))
    np.testing.assert_array_equal(ev.doc, owner[starts + 1])
    assert ev.n_docs == np.unique(owner[starts + 1]).size > 5
    # a window whose first target is a separator belongs to the document that separator ends
    ends = np.flatnonzero(tokens == SEP)
    ev_all = spread_windows(tokens, 1, tokens.size, separator=SEP)
    at_end = np.isin(window_starts(ev_all.rows) + 1, ends)
    assert at_end.sum() == len(lengths)
    np.testing.assert_array_equal(ev_all.doc[at_end], np.arange(len(lengths)))


def test_token_count_is_windows_times_context_and_caps_at_the_split():
    tokens, _ = split_of_documents([50] * 20, seed=None)  # 1020 tokens
    ev = spread_windows(tokens, 16, 130, separator=SEP)
    assert ev.rows.shape[0] == 130 // 16 and ev.n_tokens == 8 * 16
    whole = spread_windows(tokens, 16, 10**9, separator=SEP)
    n_all = (tokens.size - 1) // 16
    assert whole.rows.shape[0] == n_all and whole.n_tokens == n_all * 16
    np.testing.assert_array_equal(window_starts(whole.rows), np.arange(n_all) * 16)  # every window, once
    assert whole.n_docs == 20


@pytest.mark.parametrize("context, n_tokens, length", [(0, 100, 1000), (-3, 100, 1000),
                                                       (64, 32, 1000), (64, 640, 64)])
def test_bad_context_or_short_split_is_an_input_error(context, n_tokens, length):
    with pytest.raises(InputError, match="eval set"):
        spread_windows(np.arange(length), context, n_tokens, separator=None)


# ---------------------------------------------------------------- standard errors


def population(n_docs: int = 20_000, seed: int = 1):
    """Documents of varied (heavy-tailed) length and difficulty: (tokens, summed NLL) per document."""
    rng = np.random.default_rng(seed)
    windows = np.ceil(rng.lognormal(2.0, 0.9, n_docs))  # a few long documents weigh most
    tokens = windows * 16  # whole windows of 16 targets
    difficulty = rng.gamma(9.0, 1 / 3.0, n_docs)  # per-document mean loss, mean 3, SD 1
    nll = tokens * difficulty + rng.normal(0.0, 1.0, n_docs) * np.sqrt(tokens)
    return tokens, nll


def test_document_bootstrap_se_is_the_sampling_sd_of_the_mean_loss():
    """Many eval sets of 100 documents (heavy-tailed lengths) from one population: the bootstrap
    SE of each set's token-weighted mean is, on average, the SD of that mean over sets, and ~95%
    of the mean +- 1.96 SE intervals hold the population's loss."""
    tokens, nll = population()
    truth = nll.sum() / tokens.sum()
    rng = np.random.default_rng(2)
    k, n_sets = 100, 400
    picks = rng.integers(0, tokens.size, size=(n_sets, k))
    means = nll[picks].sum(1) / tokens[picks].sum(1)
    ses = np.array([doc_bootstrap_se(nll[p], tokens[p], n_boot=500, seed=i) for i, p in enumerate(picks)])
    sd = means.std(ddof=1)
    assert ses.mean() == pytest.approx(sd, rel=0.2)
    coverage = np.mean(np.abs(means - truth) <= 1.96 * ses)
    assert 0.88 <= coverage <= 0.99


def test_bootstrap_se_of_one_document_is_nan():
    assert math.isnan(doc_bootstrap_se(np.array([30.0]), np.array([10.0])))


def test_documents_for_a_target_se_reach_it_on_a_fresh_draw():
    """The bootstrap SE of 60-document eval sets (averaged over 40 of them), asked for a third of
    itself, gives ~9x the documents; eval sets of that many documents from the same population
    have a mean-loss SD of ~ the target."""
    tokens, nll = population(n_docs=50_000, seed=7)
    rng = np.random.default_rng(8)
    small = rng.integers(0, tokens.size, size=(40, 60))
    se = np.mean([doc_bootstrap_se(nll[p], tokens[p], n_boot=400, seed=i) for i, p in enumerate(small)])
    target = se / 3
    need = documents_for_se(se, 60, target)
    assert need == pytest.approx(540, abs=1)
    draws = rng.integers(0, tokens.size, size=(300, need))
    sd = (nll[draws].sum(1) / tokens[draws].sum(1)).std(ddof=1)
    assert sd == pytest.approx(target, rel=0.2)
    assert documents_for_se(0.001, 60, 0.005) == 3  # already within the target: a few suffice
    assert documents_for_se(math.nan, 1, 0.005) is None


@pytest.mark.parametrize("target", [0.0, -0.01, math.nan, math.inf])
def test_documents_for_se_refuses_a_target_that_is_not_a_positive_number(target):
    with pytest.raises(InputError, match="target SE"):
        documents_for_se(0.05, 50, target)


def _loss(doc_nll, doc_tokens) -> EvalLoss:
    """An EvalLoss from per-document sums, as evalset_loss builds it."""
    return EvalLoss(loss=float(doc_nll.sum() / doc_tokens.sum()), se=doc_bootstrap_se(doc_nll, doc_tokens),
                    n_tokens=int(doc_tokens.sum()), n_docs=doc_nll.size, doc_nll=doc_nll,
                    doc_tokens=doc_tokens)


def test_paired_se_cancels_shared_document_difficulty():
    tokens, nll = population(n_docs=80, seed=3)
    rng = np.random.default_rng(4)
    difficulty = nll / tokens
    later = tokens * (difficulty - 0.05 + rng.normal(0.0, 0.01, tokens.size))  # a better checkpoint
    a, b = _loss(nll, tokens), _loss(later, tokens)
    diff_se = paired_se(a, b)
    assert 0 < diff_se < 0.1 * min(a.se, b.se)
    assert diff_se < 0.1 * math.hypot(a.se, b.se)  # what treating them as independent would say
    # the paired SE is the SD of the difference over resampled document sets
    sets = np.random.default_rng(5).integers(0, tokens.size, size=(2000, tokens.size))
    n = tokens[sets].sum(1)
    assert diff_se == pytest.approx(((nll[sets].sum(1) - later[sets].sum(1)) / n).std(), rel=0.15)
    assert paired_se(a, a) == 0.0


def test_paired_se_refuses_two_different_eval_sets():
    tokens, nll = population(n_docs=30, seed=6)
    a = _loss(nll, tokens)
    with pytest.raises(InputError, match="same eval set"):
        paired_se(a, _loss(nll[:-1], tokens[:-1]))
    moved = tokens.copy()
    moved[0] += 16
    with pytest.raises(InputError, match="same eval set"):
        paired_se(a, _loss(nll, moved))



def _one_array_ses(nll, later, tokens, n_boot, seed):
    """The bootstrap SEs as an (n_boot x k) index array computes them: the reference bits."""
    idx = np.random.default_rng(seed).integers(0, tokens.size, size=(n_boot, tokens.size))
    n = tokens[idx].sum(1)
    return (float((nll[idx].sum(1) / n).std(ddof=1)),
            float(((nll[idx].sum(1) - later[idx].sum(1)) / n).std(ddof=1)))


@pytest.mark.parametrize("chunk", [1, 7, 100, 10**6])  # 1 resample a chunk, 2 (9 = 2+2+2+2+1), 2, all
def test_chunked_bootstrap_gives_the_one_array_se_to_the_bit(monkeypatch, chunk):
    """The indices are drawn a chunk of resamples at a time from one generator: the SEs are those
    of the one-array draw, bit for bit, however the resamples are split."""
    from scalefit.evals import evalset

    monkeypatch.setattr(evalset, "BOOT_CHUNK", chunk)
    tokens, nll = population(n_docs=3, seed=9) if chunk == 7 else population(n_docs=37, seed=9)
    later = nll * np.random.default_rng(10).uniform(0.9, 1.0, nll.size)
    for n_boot, seed in [(9, 0), (250, 3)]:
        se, diff = _one_array_ses(nll, later, tokens, n_boot, seed)
        assert doc_bootstrap_se(nll, tokens, n_boot=n_boot, seed=seed) == se
        assert paired_se(_loss(nll, tokens), _loss(later, tokens), n_boot=n_boot, seed=seed) == diff


def test_bootstrap_index_memory_stays_within_a_chunk(monkeypatch):
    """An (n_boot x k) index array took 3.7 GB for 214k documents: the traced peak now stays near
    one chunk of indices (here 20k, 160 kB), not the 1000 x 2000 draw (16 MB of indices)."""
    import tracemalloc

    from scalefit.evals import evalset

    monkeypatch.setattr(evalset, "BOOT_CHUNK", 20_000)
    tokens, nll = population(n_docs=2000, seed=11)
    a = _loss(nll, tokens)
    for measure in (lambda: doc_bootstrap_se(nll, tokens), lambda: paired_se(a, a)):
        tracemalloc.start()
        try:
            measure()
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert peak < 1_000_000, peak


# ---------------------------------------------------------------- the loss itself


def test_evalset_loss_is_cross_entropy_of_every_target():
    torch = pytest.importorskip("torch")
    from scalefit.evals.evalset import evalset_loss
    from scalefit.trainer.recipe import build_model
    from scalefit.trainer.spec import ModelSize

    vocab, context = 100, 12
    model = build_model(ModelSize("t", d_model=16, n_layer=1, n_head=2, lr=1e-3), vocab, context, seed=3)
    tokens, owner = split_of_documents([30, 7, 55, 12, 80, 3, 41, 20], seed=9)
    ev = spread_windows(tokens, context, 9 * context, separator=SEP)
    assert ev.rows.shape[0] == 9 and ev.n_docs >= 5
    model.train()
    result = evalset_loss(model, ev, batch_size=4)
    assert model.training  # the caller's mode is restored

    per_window = []
    with torch.no_grad():
        model.eval()
        for row in ev.rows:
            ids = torch.from_numpy(row)[None]
            logp = torch.log_softmax(model(input_ids=ids[:, :-1]).logits.double(), -1)[0]
            per_window.append(-float(logp[torch.arange(context), ids[0, 1:]].sum()))
    per_window = np.asarray(per_window)
    assert result.n_tokens == ev.rows.shape[0] * context == ev.n_tokens
    assert result.loss == pytest.approx(per_window.sum() / result.n_tokens, abs=1e-6)
    docs = np.unique(ev.doc)
    assert result.n_docs == docs.size
    np.testing.assert_allclose(result.doc_nll, [per_window[ev.doc == d].sum() for d in docs], atol=1e-4)
    np.testing.assert_array_equal(result.doc_tokens, [context * np.sum(ev.doc == d) for d in docs])
    assert result.se == pytest.approx(doc_bootstrap_se(result.doc_nll, result.doc_tokens), rel=1e-9)
    assert result.se > 0
    one_by_one = evalset_loss(model, ev, batch_size=1)
    assert one_by_one.loss == pytest.approx(result.loss, abs=1e-6)
    # a set without documents is one document: no SE
    single = evalset_loss(model, EvalSet(rows=ev.rows, doc=np.zeros(ev.rows.shape[0], dtype=np.int64)))
    assert single.loss == pytest.approx(result.loss, abs=1e-6) and math.isnan(single.se)

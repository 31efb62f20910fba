"""One evaluation set per split: the same windows, spread over the documents, for every measurement.

The suite trainer's final losses and every checkpoint of the suite sweep are scored here, so a
run's final loss in runs.csv and its last checkpoint in checkpoints.parquet are one number.
Windows of `context + 1` tokens are taken at evenly spaced window positions of the whole split
(not its first tokens), every target of a window is scored (as the training loss scores it), and
each window belongs to the document its first target falls in (documents are delimited by the
end-of-text token). The standard error of the mean loss is a bootstrap over documents: windows of
one document are correlated, so resampling windows would understate it.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from scalefit.errors import InputError

N_BOOT = 1000
BOOT_SEED = 0
# what every loss and task row carries beside its value; a sweep's result file without them was
# written by a scalefit from before standard errors (or before SE_RULE), and is measured again on resume
SE_COLUMNS = ("se", "se_by", "se_rule")
# the SE rule's version, in every row: 2 (2026-12-08) is bpb's SE as the ratio's bootstrap, a token
# file's documents between its end-of-text tokens and a 0/1 metric's Wilson SE; rows of rule 1 (no
# se_rule column) understate some of these, so a folder never mixes the two
SE_RULE = 2


@dataclass(frozen=True)
class EvalSet:
    """Windows (n, context + 1) of token ids and the document index of each window."""

    rows: np.ndarray
    doc: np.ndarray

    @property
    def n_tokens(self) -> int:
        """Scored targets: every position of every window but its first input."""
        return int(self.rows.shape[0] * (self.rows.shape[1] - 1))

    @property
    def n_docs(self) -> int:
        return int(np.unique(self.doc).size)


@dataclass(frozen=True)
class EvalLoss:
    """Mean NLL (nats/token) over an eval set, its bootstrap-over-documents SE, and per-document sums."""

    loss: float
    se: float
    n_tokens: int
    n_docs: int
    doc_nll: np.ndarray  # summed NLL per document (documents in the set, in order)
    doc_tokens: np.ndarray  # scored targets per document


def spread_windows(tokens, context: int, n_tokens: int, separator: int | None) -> EvalSet:
    """`n_tokens // context` windows at evenly spaced positions of the split, with document ids.

    `separator` is the end-of-text id that delimits documents (None: the split is one document,
    and the SE is reported as nan).
    """
    tokens = np.asarray(tokens)
    if context < 1 or n_tokens < context:
        raise InputError(f"eval set: need 1 <= context ({context}) <= eval tokens ({n_tokens})")
    n_all = (tokens.size - 1) // context
    if n_all < 1:
        raise InputError(f"eval set: the split has {tokens.size} tokens, fewer than one window of {context + 1}")
    n = min(n_all, max(1, n_tokens // context))
    starts = (np.linspace(0, n_all - 1, n).round().astype(np.int64)) * context
    rows = np.stack([tokens[s:s + context + 1] for s in starts]).astype(np.int64)
    if separator is None:
        doc = np.zeros(n, dtype=np.int64)
    else:
        ends = np.flatnonzero(tokens == separator)
        doc = np.searchsorted(ends, starts + 1, side="left").astype(np.int64)
    return EvalSet(rows=rows, doc=doc)


def window_nll(model, rows: np.ndarray, *, batch_size: int = 8, cross_entropy: str = "auto") -> np.ndarray:
    """Summed next-token NLL of each window (every target scored), by scalefit.evals.loss's
    scoring path: only the output layer's scored rows, by its cross-entropy head."""
    import torch

    from scalefit.evals.loss import _scored_nll, head_plan

    device = next(model.parameters()).device
    plan = head_plan(model, cross_entropy)
    out = np.empty(rows.shape[0], dtype=np.float64)
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            for i in range(0, rows.shape[0], batch_size):
                ids = torch.from_numpy(rows[i:i + batch_size]).to(device)
                nll = _scored_nll(model, ids[:, :-1], ids[:, 1:], [0] * ids.shape[0], plan, per_row=True)
                out[i:i + ids.shape[0]] = nll.cpu().numpy()
    finally:
        model.train(was_training)
    return out


BOOT_CHUNK = 1 << 22  # bootstrap indices drawn at a time (32 MB of int64), whatever the documents


def resampled_sums(columns, *, n_boot: int = N_BOOT, seed: int = BOOT_SEED) -> list[np.ndarray]:
    """Each per-document array's sum over each of `n_boot` resamples of the documents with
    replacement, drawn in chunks of resamples so that memory stays bounded (an (n_boot x k)
    index array was 3.7 GB for 214k documents). One generator draws the chunks in turn, so the
    indices, and each resample's sum, are those of the one-array draw to the bit."""
    k = columns[0].size
    rng = np.random.default_rng(seed)
    sums = [np.empty(n_boot, dtype=np.float64) for _ in columns]
    step = max(1, BOOT_CHUNK // max(k, 1))
    for start in range(0, n_boot, step):
        stop = min(n_boot, start + step)
        idx = rng.integers(0, k, size=(stop - start, k))
        for out, column in zip(sums, columns):
            out[start:stop] = column[idx].sum(1)
    return sums


def doc_bootstrap_se(doc_nll: np.ndarray, doc_tokens: np.ndarray, *, n_boot: int = N_BOOT,
                     seed: int = BOOT_SEED) -> float:
    """SE of the token-weighted mean loss by resampling documents with replacement (ratio estimator)."""
    if doc_nll.size < 2:
        return math.nan
    nll, tokens = resampled_sums([doc_nll, doc_tokens], n_boot=n_boot, seed=seed)
    return float((nll / tokens).std(ddof=1))


def paired_se(a: EvalLoss, b: EvalLoss, *, n_boot: int = N_BOOT, seed: int = BOOT_SEED) -> float:
    """SE of loss(a) - loss(b) on the same eval set, resampling documents jointly (what governs a
    comparison of two checkpoints: the documents' difficulty cancels)."""
    if a.doc_tokens.shape != b.doc_tokens.shape or not np.array_equal(a.doc_tokens, b.doc_tokens):
        raise InputError("paired SE: the two losses were not measured on the same eval set")
    if a.doc_nll.size < 2:
        return math.nan
    nll_a, nll_b, n = resampled_sums([a.doc_nll, b.doc_nll, a.doc_tokens], n_boot=n_boot, seed=seed)
    return float(((nll_a - nll_b) / n).std(ddof=1))


def check_target_se(target) -> float:
    """A target SE in nats: a finite number > 0 (InputError otherwise)."""
    if not (isinstance(target, (int, float)) and math.isfinite(target) and target > 0):
        raise InputError(f"target SE {target!r}: give a positive number of nats, e.g. 0.005")
    return float(target)


def documents_for_se(se: float, n_docs: int, target: float) -> int | None:
    """Documents an eval set like this one (same windows per document) needs for a bootstrap SE of
    `target`: the SE of a mean over independent documents falls as 1/sqrt(documents). None when
    the SE is unknown (one document)."""
    target = check_target_se(target)
    if not math.isfinite(se) or n_docs < 2:
        return None
    return max(1, math.ceil(n_docs * (se / target) ** 2))


def evalset_loss(model, evalset: EvalSet, *, batch_size: int = 8) -> EvalLoss:
    """Mean loss of `model` on the eval set, with its bootstrap-over-documents SE."""
    nll = window_nll(model, evalset.rows, batch_size=batch_size)
    docs, inverse = np.unique(evalset.doc, return_inverse=True)
    per_window = evalset.rows.shape[1] - 1
    doc_nll = np.bincount(inverse, weights=nll, minlength=docs.size)
    doc_tokens = np.bincount(inverse, minlength=docs.size).astype(np.float64) * per_window
    return EvalLoss(loss=float(nll.sum() / evalset.n_tokens), se=doc_bootstrap_se(doc_nll, doc_tokens),
                    n_tokens=evalset.n_tokens, n_docs=int(docs.size), doc_nll=doc_nll, doc_tokens=doc_tokens)

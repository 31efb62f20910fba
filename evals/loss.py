"""Token-weighted mean NLL (nats/token) and bits per byte of a causal LM over fixed context windows.

Windows tile the token stream: each predicts the next `context` tokens from the tokens before
them; with a stride shorter than the context, a window re-reads `context - stride` earlier tokens
as unscored context. Only scored positions reach the output layer. How their hidden states become
NLL is a cross-entropy head (CROSS_ENTROPY): `chunked` runs the output layer and an fp32
cross-entropy in chunks of rows, so fp32 logits for a 50k vocabulary are never held for a whole
batch; `cce` is Apple's cut-cross-entropy, a fused linear cross-entropy (Triton on a GPU) that
never writes the logits to memory. `auto` takes `cce` for bf16/fp16 weights on a GPU when it is
installed, and checks it on each model's first batch against an fp32 output layer and cross-entropy:
beyond FUSED_RTOL it warns and scores with `chunked` instead, so an untested kernel never decides a
number silently.

The mean's standard error is a bootstrap (scalefit.evals.evalset.resampled_sums) over documents
when the caller says where they begin, else over the scored windows: the NLL, the scored targets
and their UTF-8 bytes are summed per document (or window) as they are scored, so the bootstrap
keeps three numbers per unit, never a token's. The bits-per-byte SE is the SE of the ratio
sum(nll) / (ln 2 sum(bytes)) over the same resamples as the loss's: documents differ in bytes per
token, so the loss's SE rescaled with the bytes held fixed understated it (2.2x on 13 mixed
prose and code documents).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np

from scalefit.errors import InputError, warn

# Model families whose logits are exactly lm_head(base_model(x).last_hidden_state).
SPLIT_HEAD_TYPES = {"gpt_neox", "llama", "mistral", "qwen2", "qwen3", "olmo", "olmo2", "gpt2",
                    "phi3", "stablelm", "pythia"}
LOGIT_BUDGET = 2 ** 26  # fp32 logit elements per cross-entropy chunk on a GPU (256 MB)
CPU_LOGIT_BUDGET = 2 ** 23  # on a CPU, chunks that stay in cache (~166 rows of a 50k vocabulary)
FUSED_RTOL = 1e-4  # largest relative difference of a batch's summed NLL `auto` accepts from the fused head


@dataclass
class LossResult:
    """Summed NLL over scored tokens, their count, the UTF-8 bytes they stand for, and the SEs of
    the mean loss and of bits per byte: one bootstrap over `n_units` documents or windows (`se_by`)."""

    nll_sum: float
    n_tokens: int
    n_bytes: int
    se: float = math.nan
    se_by: str | None = None  # what the bootstrap resampled: SE_BY_DOCUMENTS, SE_BY_EOS or "windows"
    n_units: int = 0  # documents (or windows) with a scored target
    bpb_se: float = math.nan  # SE of bpb: the ratio sum(nll) / (ln 2 sum(bytes)) over the same resamples

    @property
    def loss(self) -> float:
        """Mean NLL in nats per token."""
        return self.nll_sum / self.n_tokens if self.n_tokens else math.nan

    @property
    def bpb(self) -> float:
        """Bits per UTF-8 byte: total NLL in bits over the bytes of the scored tokens."""
        return self.nll_sum / math.log(2) / self.n_bytes if self.n_bytes else math.nan

    @property
    def by_documents(self) -> bool:
        """Whether the SE resampled documents (marked by the token file, or by its end-of-text tokens)."""
        return self.se_by in (SE_BY_DOCUMENTS, SE_BY_EOS)


SE_BY_DOCUMENTS = "documents"  # where the token file's sidecar says each document opens with end-of-text
SE_BY_EOS = "documents (eos)"  # a token file without one: its end-of-text tokens taken as the boundaries


def ratio_ses(unit_nll: np.ndarray, unit_tokens: np.ndarray, unit_bytes: np.ndarray | None = None,
              *, n_boot: int | None = None, seed: int | None = None) -> tuple[float, float]:
    """(SE of the loss sum(nll) / sum(tokens), SE of bits per byte sum(nll) / (ln 2 sum(bytes))),
    from one bootstrap of the units (evalset.resampled_sums: the loss's SE is doc_bootstrap_se's to
    the bit). NaN below two units; the bpb SE is NaN without bytes."""
    from scalefit.evals.evalset import BOOT_SEED, N_BOOT, resampled_sums

    if unit_nll.size < 2:
        return math.nan, math.nan
    with_bytes = unit_bytes is not None and float(np.sum(unit_bytes)) > 0
    columns = [unit_nll, unit_tokens] + ([unit_bytes] if with_bytes else [])
    sums = resampled_sums(columns, n_boot=N_BOOT if n_boot is None else n_boot,
                          seed=BOOT_SEED if seed is None else seed)
    se = float((sums[0] / sums[1]).std(ddof=1))
    if not with_bytes:
        return se, math.nan
    with np.errstate(divide="ignore", invalid="ignore"):  # a resample of units without bytes: inf, said as NaN
        bpb = sums[0] / math.log(2) / sums[2]
    return se, float(bpb.std(ddof=1)) if np.isfinite(bpb).all() else math.nan


def window_plan(n_tokens: int, context: int, stride: int | None = None) -> list[tuple[int, int, int]]:
    """Windows as (begin, end, n_scored): inputs t[begin:end], targets t[begin+1:end+1].

    The last n_scored targets of each window are scored; every token but the first is scored once.
    """
    stride = stride or context
    if context < 1 or stride < 1 or stride > context:
        raise InputError(f"windowing: need 1 <= stride ({stride}) <= context ({context})")
    last = n_tokens - 1  # last target position
    plan, end = [], 0
    while end < last:
        new_end = min(end + (context if not plan else stride), last)
        begin = max(0, new_end - context)
        plan.append((begin, new_end, new_end - end))
        end = new_end
    return plan


def _chunked_nll(hidden, y, head, chunk_rows: int):
    """NLL per row: the output layer (or nothing, when `hidden` are logits already) and an fp32
    cross-entropy, `chunk_rows` rows at a time."""
    import torch
    import torch.nn.functional as F

    parts = []
    for i in range(0, y.numel(), chunk_rows):
        h = hidden[i:i + chunk_rows]
        logits = (head(h) if head is not None else h).float()
        parts.append(F.cross_entropy(logits, y[i:i + chunk_rows], reduction="none"))
    return torch.cat(parts) if parts else hidden.new_zeros(0, dtype=torch.float32)


def _fp32_nll(hidden, y, head, chunk_rows: int):
    """NLL per row with the output layer and the cross-entropy in fp32, autocast off: the reference
    the fused head is checked against."""
    import torch
    import torch.nn.functional as F

    with torch.autocast(hidden.device.type, enabled=False):
        weight = head.weight.float()
        bias = head.bias.float() if getattr(head, "bias", None) is not None else None
        return _chunked_nll(hidden.float(), y, lambda h: F.linear(h, weight, bias), chunk_rows)


def _cce_nll(hidden, y, head, chunk_rows: int):
    """NLL per row by cut-cross-entropy's fused linear cross-entropy: its Triton kernel on a GPU
    (logsumexp over the vocabulary with fp32 accumulation, logits never written), its
    torch.compile form elsewhere (tests on a CPU)."""
    from cut_cross_entropy import linear_cross_entropy

    weight = head.weight
    impl = "cce" if hidden.is_cuda else "torch_compile"
    return linear_cross_entropy(hidden.to(weight.dtype).contiguous(), weight, y.contiguous(),
                                reduction="none", impl=impl).float()


def _cce_missing() -> str | None:
    """Why the `cce` head cannot run on this machine at all (None: it is installed)."""
    import importlib.util

    if importlib.util.find_spec("cut_cross_entropy") is None:
        return 'cut-cross-entropy is not installed (pip install "scalefit[gpu]")'
    return None


def _cce_unusable(model, split_head: bool) -> str | None:
    """Why the `cce` head cannot score this model (None: it can)."""
    missing = _cce_missing()
    if missing:
        return missing
    head = model.get_output_embeddings()
    if not split_head:
        return f"model type {getattr(model.config, 'model_type', None)!r} is not one whose logits are " \
               "lm_head(last hidden state)"
    if getattr(head, "bias", None) is not None:
        return "the output layer has a bias, which cut-cross-entropy does not take"
    return None


@dataclass(frozen=True)
class CrossEntropyHead:
    """One way to turn the scored rows' hidden states into per-row NLL (nats)."""

    name: str
    nll: Callable  # (hidden, targets, output layer or None, chunk_rows) -> fp32 NLL per row
    unusable: Callable  # (model, split_head) -> reason it cannot score this model, or None
    summary: str  # one line for --cross-entropy's help


CROSS_ENTROPY = {h.name: h for h in (
    CrossEntropyHead("chunked", _chunked_nll, lambda model, split_head: None,
                     "output layer and fp32 cross-entropy in chunks"),
    CrossEntropyHead("cce", _cce_nll, _cce_unusable,
                     "cut-cross-entropy's fused kernel, no logits in memory; pip install \"scalefit[gpu]\""),
)}
# `scalefit eval --cross-entropy`'s help, from the registry
CROSS_ENTROPY_HELP = ("How the loss is scored: " + ", ".join(f"{h.name} ({h.summary})" for h in CROSS_ENTROPY.values())
                      + ", auto (cce for bf16/fp16 weights on a GPU, where installed, checked on each model's first "
                      f"batch against an fp32 head: beyond {FUSED_RTOL:g} of the loss it warns and uses chunked).")
CROSS_ENTROPY_CHOICES = ("auto", *CROSS_ENTROPY)


def check_cross_entropy(name: str) -> str:
    """`name` if it is `auto` or a head this machine can run (InputError naming the fix
    otherwise); whether it can score a given model is head_plan's question."""
    if name not in CROSS_ENTROPY_CHOICES:
        raise InputError(f"--cross-entropy {name}: use one of {', '.join(CROSS_ENTROPY_CHOICES)}")
    missing = _cce_missing() if name == "cce" else None
    if missing:
        raise InputError(f"--cross-entropy cce: {missing}; use --cross-entropy chunked")
    return name


CROSS_ENTROPY_RECORD = "the head of --cross-entropy"  # how a sweep folder names what its losses were scored by


def resolved_cross_entropy(name: str, device_type: str, dtype) -> str:
    """The head `name` scores with on `device_type` in `dtype`, as a sweep folder records it: `auto`
    is `chunked` where it never fuses (no GPU, fp32 weights, cut-cross-entropy not installed), so
    equal heads resume each other; on a GPU in half precision it picks per model (and checks the
    first batch), so it stays `auto`."""
    import torch

    if name != "auto":
        return name
    fuses = device_type == "cuda" and dtype in (torch.bfloat16, torch.float16) and _cce_missing() is None
    return name if fuses else "chunked"


@dataclass
class HeadPlan:
    """How one model's scored rows are scored: through the output layer alone (`split_head`), by
    which cross-entropy head, and how many rows a chunk of fp32 logits holds on its device.

    With `verify` (auto chose the fused head), the first batch scored also runs the fp32 reference
    and settles the plan: `fused_rel_diff` records the relative difference of the batch's summed NLL,
    and a difference beyond FUSED_RTOL switches the plan to `chunked` (with a warning).
    """

    split_head: bool
    chunk_rows: int
    cross_entropy: str
    verify: bool = False
    fused_rel_diff: float | None = None

    def settle(self, fused, reference):
        """The NLL to keep for the first batch: `fused` when it agrees with `reference`, else the
        reference, with the plan switched to `chunked` for every later batch."""
        total = float(reference.double().sum())
        if not math.isfinite(total):  # a diverged model: nothing to judge the kernel by; try the next batch
            return reference
        self.fused_rel_diff = abs(float(fused.double().sum()) - total) / max(abs(total), 1e-30)
        self.verify = False
        if self.fused_rel_diff <= FUSED_RTOL:
            return fused
        warn(f"--cross-entropy auto: the fused head ({self.cross_entropy}) differs from an fp32 head "
             f"by {self.fused_rel_diff:.2e} of the loss on the first batch (more than {FUSED_RTOL:g}); scoring "
             "with the chunked head instead")
        self.cross_entropy = "chunked"
        return reference


def _auto_fuses(device, head) -> bool:
    """Whether `auto` wants the fused head: half-precision output weights on a GPU (fp32 weights keep
    the exact fp32 head, since Triton's fp32 dot may run in tf32)."""
    import torch

    half = head is not None and head.weight.dtype in (torch.bfloat16, torch.float16)
    return device.type == "cuda" and half


def head_plan(model, cross_entropy: str = "auto") -> HeadPlan:
    """The HeadPlan of `model`. `auto` takes `cce` for half-precision weights on a GPU where it can
    score the model (to be checked on the first batch), else `chunked`; a named head that cannot is
    an InputError saying why."""
    device = next(model.parameters()).device
    head = model.get_output_embeddings()
    split_head = getattr(model.config, "model_type", None) in SPLIT_HEAD_TYPES and head is not None
    vocab = head.weight.shape[0] if head is not None else 65536
    chunk_rows = max(1, (LOGIT_BUDGET if device.type == "cuda" else CPU_LOGIT_BUDGET) // vocab)
    if cross_entropy == "auto":  # chunked always can; the fused head only after its own check
        fused = _auto_fuses(device, head) and CROSS_ENTROPY["cce"].unusable(model, split_head) is None
        return HeadPlan(split_head=split_head, chunk_rows=chunk_rows,
                        cross_entropy="cce" if fused else "chunked", verify=fused)
    check_cross_entropy(cross_entropy)
    why = CROSS_ENTROPY[cross_entropy].unusable(model, split_head)
    if why:
        raise InputError(f"--cross-entropy {cross_entropy}: {why}; use --cross-entropy chunked")
    return HeadPlan(split_head=split_head, chunk_rows=chunk_rows, cross_entropy=cross_entropy)


def _scored_nll(model, inputs, targets, first_scored: list[int], plan: HeadPlan, per_row: bool = False,
                per_token: bool = False):
    """Summed NLL of one batch's scored targets (row r from position first_scored[r] on); with
    `per_row`, one sum per row; with `per_token`, the float64 NLL of each scored target, row by row.

    Scored positions are picked with an index built on the host, so no device sync is needed;
    only those rows go through the output layer, by the plan's cross-entropy head (checked against
    the fp32 reference while the plan says `verify`).
    """
    import torch

    split_head = plan.split_head
    length = inputs.shape[1]
    out = model.base_model(input_ids=inputs, use_cache=False).last_hidden_state if split_head \
        else model(input_ids=inputs, use_cache=False).logits
    head = model.get_output_embeddings() if split_head else None
    if any(first_scored):
        flat = np.concatenate([r * length + np.arange(f, length) for r, f in enumerate(first_scored)])
        index = torch.from_numpy(flat).to(inputs.device, non_blocking=True)
        hidden = out.reshape(-1, out.shape[-1]).index_select(0, index)
        y = targets.reshape(-1).index_select(0, index)
    else:  # every position scored
        flat = np.arange(targets.numel())
        hidden, y = out.reshape(-1, out.shape[-1]), targets.reshape(-1)
    nll = CROSS_ENTROPY[plan.cross_entropy].nll(hidden, y, head, plan.chunk_rows)
    if plan.verify:
        nll = plan.settle(nll, _fp32_nll(hidden, y, head, plan.chunk_rows))
    nll = nll.double()
    if per_token:
        return nll
    if not per_row:
        return nll.sum()
    rows = torch.from_numpy(flat // length).to(y.device)
    return torch.zeros(inputs.shape[0], dtype=torch.float64, device=y.device).index_add_(0, rows, nll)


def _blocks(tokens: np.ndarray, size: int = 1 << 22):
    """The stream in blocks, so a memory-mapped file is never copied whole."""
    for i in range(0, tokens.size, size):
        yield np.asarray(tokens[i:i + size])


def _scored_positions(batch) -> np.ndarray:
    """Stream positions of the scored targets of a batch of windows (b, e, n_scored, index), in
    _scored_nll's order: the last n_scored targets t[e - n_scored + 1 : e + 1] of each window."""
    return np.concatenate([np.arange(e - k + 1, e + 1) for _, e, k, _ in batch])


def _scored_mask(batch, length: int) -> np.ndarray:
    """Which of a batch's (rows, length) targets are scored, row-major as _scored_nll orders them."""
    return np.arange(length)[None, :] >= np.array([length - k for _, _, k, _ in batch])[:, None]


def _unit_ids(batch, starts: np.ndarray | None) -> np.ndarray:
    """The resampling unit of each scored target of a batch of windows (b, e, n_scored, index), in
    _scored_nll's order: with document `starts`, the number of starts before the target's position
    (a target on a start, the end-of-text token, ends the document before it); else its window."""
    if starts is None:
        return np.repeat([w[3] for w in batch], [w[2] for w in batch])
    return np.searchsorted(starts, _scored_positions(batch), side="left")


def measure_loss(model, tokens, *, context: int, stride: int | None = None, batch_size: int | None = None,
                 max_tokens: int | None = None, byte_lengths: np.ndarray | None = None,
                 cross_entropy: str = "auto", progress=None, documents: np.ndarray | None = None,
                 documents_by: str = SE_BY_DOCUMENTS) -> LossResult:
    """Mean NLL and bits per byte of `model` over a token stream (numpy/memmap of ids), with the SE.

    `max_tokens` scores only the first max_tokens targets: the same subset for every checkpoint.
    `cross_entropy` names the head of CROSS_ENTROPY (auto: `cce` on a GPU when usable).
    `progress` (optional) is called with the number of tokens scored after each batch.
    `documents`: sorted stream positions where documents begin (their end-of-text token); the SEs
    are a bootstrap over documents (`se_by` is `documents_by`: SE_BY_EOS where the boundaries were
    read off the stream's end-of-text tokens), else (None) over the scored windows.
    """
    import torch

    tokens = np.asarray(tokens)
    if max_tokens is not None:
        tokens = tokens[: int(max_tokens) + 1]
    if tokens.size < 2:
        raise InputError("loss: the token stream needs at least 2 tokens")
    vocab = model.get_output_embeddings().weight.shape[0] if model.get_output_embeddings() is not None else None
    top = max(int(b.max()) for b in _blocks(tokens))
    if vocab is not None and top >= vocab:
        raise InputError(f"loss: token id {top} is outside the model's vocabulary ({vocab}); "
                         "is the token file from another tokenizer or the wrong dtype?")
    device = next(model.parameters()).device
    max_pos = getattr(model.config, "max_position_embeddings", None)
    if max_pos and context > max_pos:
        raise InputError(f"--context {context} exceeds the model's {max_pos} positions")
    if batch_size is None:
        batch_size = max(1, (65536 if device.type == "cuda" else 8192) // context)
    plan_head = head_plan(model, cross_entropy)
    # half-precision weights on a GPU: autocast keeps norms and softmax in fp32 (bf16 by default)
    weight_dtype = next(model.parameters()).dtype
    autocast = torch.autocast("cuda", dtype=weight_dtype) if device.type == "cuda" and \
        weight_dtype in (torch.bfloat16, torch.float16) else None

    table = None  # UTF-8 bytes of each token id
    if byte_lengths is not None:
        table = np.zeros(max(byte_lengths.size, top + 1), dtype=np.int64)
        table[: byte_lengths.size] = byte_lengths
    plan = window_plan(tokens.size, context, stride)
    groups: dict[int, list] = {}
    for i, (b, e, k) in enumerate(plan):
        groups.setdefault(e - b, []).append((b, e, k, i))
    starts = None if documents is None else np.asarray(documents, dtype=np.int64)
    if starts is not None:
        starts = starts[starts < tokens.size]
    n_units = len(plan) if starts is None else starts.size + 1
    unit_nll = torch.zeros(n_units, dtype=torch.float64, device=device)  # summed per document or window
    unit_tokens = np.zeros(n_units, dtype=np.int64)
    unit_bytes = np.zeros(n_units, dtype=np.int64)  # the bytes of each unit's scored targets
    nll = torch.zeros((), dtype=torch.float64, device=device)
    n_scored = 0
    with torch.inference_mode():
        for length, windows in groups.items():
            for i in range(0, len(windows), batch_size):
                batch = windows[i:i + batch_size]
                rows = np.stack([tokens[b:e + 1] for b, e, _, _ in batch]).astype(np.int64)
                ids = torch.from_numpy(rows).to(device)
                inputs, targets = ids[:, :-1], ids[:, 1:]
                first = [length - k for _, _, k, _ in batch]
                if autocast is not None:
                    with autocast:
                        scored_nll = _scored_nll(model, inputs, targets, first, plan_head, per_token=True)
                else:
                    scored_nll = _scored_nll(model, inputs, targets, first, plan_head, per_token=True)
                nll += scored_nll.sum()
                units = _unit_ids(batch, starts)
                unit_nll.index_add_(0, torch.from_numpy(units).to(device, non_blocking=True), scored_nll)
                seen, counts = np.unique(units, return_counts=True)
                unit_tokens[seen] += counts
                if table is not None:
                    np.add.at(unit_bytes, units, table[rows[:, 1:][_scored_mask(batch, length)]])
                scored = sum(k for _, _, k, _ in batch)
                n_scored += scored
                if progress is not None:
                    progress(scored)
    kept = unit_tokens > 0
    se, bpb_se = ratio_ses(unit_nll.cpu().numpy()[kept], unit_tokens[kept].astype(np.float64),
                           unit_bytes[kept].astype(np.float64) if table is not None else None)
    # every token but the first is scored exactly once: n_bytes is the bytes of tokens[1:]
    return LossResult(nll_sum=float(nll.item()), n_tokens=n_scored, n_bytes=int(unit_bytes.sum()),
                      se=se, se_by="windows" if starts is None else documents_by, n_units=int(kept.sum()),
                      bpb_se=bpb_se)

"""Token-weighted mean NLL (nats/token) and bits per byte of a causal LM over fixed context windows.

Windows tile the token stream: each predicts the next `context` tokens from the tokens before
them; with a stride shorter than the context, a window re-reads `context - stride` earlier tokens
as unscored context. Only scored positions reach the output layer, and the cross-entropy runs in
chunks of rows so that fp32 logits for a 50k vocabulary are never held for a whole batch.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from scalefit.errors import InputError

# Model families whose logits are exactly lm_head(base_model(x).last_hidden_state).
SPLIT_HEAD_TYPES = {"gpt_neox", "llama", "mistral", "qwen2", "qwen3", "olmo", "olmo2", "gpt2",
                    "phi3", "stablelm", "pythia"}
LOGIT_BUDGET = 2 ** 26  # fp32 logit elements per cross-entropy chunk on a GPU (256 MB)
CPU_LOGIT_BUDGET = 2 ** 23  # on a CPU, chunks that stay in cache (~166 rows of a 50k vocabulary)


@dataclass
class LossResult:
    """Summed NLL over scored tokens, their count, and the UTF-8 bytes they stand for."""

    nll_sum: float
    n_tokens: int
    n_bytes: int

    @property
    def loss(self) -> float:
        """Mean NLL in nats per token."""
        return self.nll_sum / self.n_tokens if self.n_tokens else math.nan

    @property
    def bpb(self) -> float:
        """Bits per UTF-8 byte: total NLL in bits over the bytes of the scored tokens."""
        return self.nll_sum / math.log(2) / self.n_bytes if self.n_bytes else math.nan


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


def head_plan(model) -> tuple[bool, int]:
    """(split_head, chunk_rows): whether only scored positions go through the output layer, and
    how many rows of fp32 logits one cross-entropy chunk holds on the model's device."""
    device = next(model.parameters()).device
    vocab = model.get_output_embeddings().weight.shape[0] if model.get_output_embeddings() is not None else None
    split_head = getattr(model.config, "model_type", None) in SPLIT_HEAD_TYPES and \
        model.get_output_embeddings() is not None
    chunk_rows = max(1, (LOGIT_BUDGET if device.type == "cuda" else CPU_LOGIT_BUDGET) // (vocab or 65536))
    return split_head, chunk_rows


def _scored_nll(model, inputs, targets, first_scored: list[int], split_head: bool, chunk_rows: int,
                per_row: bool = False):
    """Summed NLL of one batch's scored targets (row r from position first_scored[r] on); with
    `per_row`, one sum per row.

    Scored positions are picked with an index built on the host, so no device sync is needed;
    only those rows go through the output layer, in chunks, with the softmax in fp32.
    """
    import torch
    import torch.nn.functional as F

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
    rows = torch.from_numpy(flat // length).to(y.device) if per_row else None
    total = torch.zeros(inputs.shape[0] if per_row else (), dtype=torch.float64, device=y.device)
    for i in range(0, y.numel(), chunk_rows):
        h = hidden[i:i + chunk_rows]
        logits = (head(h) if head is not None else h).float()
        nll = F.cross_entropy(logits, y[i:i + chunk_rows], reduction="none" if per_row else "sum").double()
        if per_row:
            total.index_add_(0, rows[i:i + chunk_rows], nll)
        else:
            total += nll
    return total


def _blocks(tokens: np.ndarray, size: int = 1 << 22):
    """The stream in blocks, so a memory-mapped file is never copied whole."""
    for i in range(0, tokens.size, size):
        yield np.asarray(tokens[i:i + size])


def measure_loss(model, tokens, *, context: int, stride: int | None = None, batch_size: int | None = None,
                 max_tokens: int | None = None, byte_lengths: np.ndarray | None = None,
                 progress=None) -> LossResult:
    """Mean NLL and bits per byte of `model` over a token stream (numpy/memmap of ids).

    `max_tokens` scores only the first max_tokens targets: the same subset for every checkpoint.
    `progress` (optional) is called with the number of tokens scored after each batch.
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
    split_head, chunk_rows = head_plan(model)
    # half-precision weights on a GPU: autocast keeps norms and softmax in fp32 (bf16 by default)
    weight_dtype = next(model.parameters()).dtype
    autocast = torch.autocast("cuda", dtype=weight_dtype) if device.type == "cuda" and \
        weight_dtype in (torch.bfloat16, torch.float16) else None

    plan = window_plan(tokens.size, context, stride)
    groups: dict[int, list] = {}
    for w in plan:
        groups.setdefault(w[1] - w[0], []).append(w)
    nll = torch.zeros((), dtype=torch.float64, device=device)
    n_scored = 0
    with torch.inference_mode():
        for length, windows in groups.items():
            for i in range(0, len(windows), batch_size):
                batch = windows[i:i + batch_size]
                rows = np.stack([tokens[b:e + 1] for b, e, _ in batch]).astype(np.int64)
                ids = torch.from_numpy(rows).to(device)
                inputs, targets = ids[:, :-1], ids[:, 1:]
                first = [length - k for _, _, k in batch]
                if autocast is not None:
                    with autocast:
                        nll += _scored_nll(model, inputs, targets, first, split_head, chunk_rows)
                else:
                    nll += _scored_nll(model, inputs, targets, first, split_head, chunk_rows)
                scored = sum(k for _, _, k in batch)
                n_scored += scored
                if progress is not None:
                    progress(scored)
    n_bytes = 0
    if byte_lengths is not None:  # every token but the first is scored exactly once
        table = np.zeros(max(byte_lengths.size, top + 1), dtype=np.int64)
        table[: byte_lengths.size] = byte_lengths
        n_bytes = sum(int(table[b].sum()) for b in _blocks(tokens[1:]))
    return LossResult(nll_sum=float(nll.item()), n_tokens=n_scored, n_bytes=n_bytes)

"""The Pythia recipe's pieces, scaled down, that a run trains with: its batches (a pure function of
seed and step), its model and its optimizer (its LR schedule is the spec's: spec.run_schedule).
"""
from __future__ import annotations

import numpy as np

from scalefit.trainer.spec import ModelSize, Recipe


# ---------------------------------------------------------------- data


def batch_at_step(tokens: np.ndarray, step: int, batch_seqs: int, seq_len: int, seed: int):
    """The batch of `step`: windows of a seeded per-epoch permutation (a pure function of step)."""
    n_windows = (len(tokens) - 1) // seq_len
    rows = []
    for i in range(step * batch_seqs, (step + 1) * batch_seqs):
        epoch, pos = divmod(i, n_windows)
        w = _epoch_order(seed, epoch, n_windows)[pos]
        rows.append(np.asarray(tokens[w * seq_len:w * seq_len + seq_len + 1], dtype=np.int64))
    return np.stack(rows)


_ORDER_CACHE: dict = {}


def _epoch_order(seed, epoch, n):
    key = (seed, epoch, n)
    if key not in _ORDER_CACHE:
        _ORDER_CACHE.clear()
        _ORDER_CACHE[key] = np.random.default_rng([seed, epoch]).permutation(n)
    return _ORDER_CACHE[key]


# ---------------------------------------------------------------- model


def build_model(size: ModelSize, vocab_size: int, seq_len: int, seed: int):
    """A GPT-NeoX model with the Pythia architecture choices and Pythia's initialization."""
    import torch
    from transformers import GPTNeoXConfig, GPTNeoXForCausalLM

    from scalefit.weightstats.init import init_like_pythia

    cfg = GPTNeoXConfig(vocab_size=vocab_size, hidden_size=size.d_model,
                        num_hidden_layers=size.n_layer, num_attention_heads=size.n_head,
                        intermediate_size=4 * size.d_model, max_position_embeddings=seq_len,
                        rotary_pct=0.25, use_parallel_residual=True, tie_word_embeddings=False,
                        hidden_dropout=0.0, attention_dropout=0.0, bos_token_id=0, eos_token_id=0)
    torch.manual_seed(seed)
    return init_like_pythia(GPTNeoXForCausalLM(cfg), seed=seed)


def make_optimizer(model, recipe: Recipe, lr: float):
    """Adam with decoupled weight decay on matrices only (not biases, norms)."""
    import torch

    decay = [p for n, p in model.named_parameters() if p.ndim >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.ndim < 2]
    return torch.optim.AdamW([{"params": decay, "weight_decay": recipe.weight_decay},
                              {"params": no_decay, "weight_decay": 0.0}],
                             lr=lr, betas=(recipe.beta1, recipe.beta2), eps=recipe.eps)

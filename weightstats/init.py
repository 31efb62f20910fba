"""Pythia's initialization (GPT-NeoX `small_init` and `wang_init`), for step-0 checks and re-init runs.

small_init: std sqrt(2 / (5 d)) for QKV, MLP-in and the embeddings (Nguyen & Salazar 2019);
wang_init: std 2 / (L sqrt(d)) for the attention output and MLP-out (Wang & Komatsuzaki, GPT-J).
Biases start at zero, layer norms at weight 1 and bias 0. These are the rules of the Pythia
training configs (`init_method: small_init`, `output_layer_init_method: wang_init`).
"""
from __future__ import annotations

import math

import torch

from scalefit.weightstats.groups import tensor_group

SMALL_INIT_GROUPS = ("attn_qkv", "attn_q", "attn_k", "attn_v", "mlp_in", "embed_in", "embed_out")
WANG_INIT_GROUPS = ("attn_out", "mlp_out")


def small_init_std(d_model: int) -> float:
    """sqrt(2 / (5 d)): GPT-NeoX small_init."""
    return math.sqrt(2.0 / (5.0 * d_model))


def wang_init_std(d_model: int, n_layers: int) -> float:
    """2 / (L sqrt(d)): GPT-NeoX wang_init."""
    return 2.0 / (n_layers * math.sqrt(d_model))


def pythia_init_std(group: str, d_model: int, n_layers: int) -> float | None:
    """Step-0 std of a weight group under Pythia's rules; None for groups without a random init."""
    if group in SMALL_INIT_GROUPS:
        return small_init_std(d_model)
    if group in WANG_INIT_GROUPS:
        return wang_init_std(d_model, n_layers)
    return None


@torch.no_grad()
def init_like_pythia(model: torch.nn.Module, *, seed: int = 0) -> torch.nn.Module:
    """Re-initialize a GPT-NeoX model in place with Pythia's rules (and return it)."""
    config = model.config
    d, n_layers = config.hidden_size, config.num_hidden_layers
    gen = torch.Generator(device="cpu").manual_seed(seed)
    for name, param in model.named_parameters():
        group = tensor_group(name)
        std = pythia_init_std(group, d, n_layers)
        if std is not None:
            param.copy_(torch.randn(param.shape, generator=gen, dtype=torch.float32) * std)
        elif group == "bias" or (group == "layernorm" and name.endswith(".bias")):
            param.zero_()
        elif group == "layernorm":
            param.fill_(1.0)
    return model

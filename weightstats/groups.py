"""Tensor name -> (group, layer): which role a weight plays, so statistics can be pooled by role.

Groups: attn_qkv (and its split attn_q / attn_k / attn_v), attn_out, mlp_in, mlp_out, embed_in,
embed_pos, embed_out, layernorm, bias, other. GPT-NeoX is the reference; GPT-2, Llama-style
(Mistral, Qwen2, Gemma, OLMo), OPT, GPT-J, BLOOM, Falcon and MPT names map through the same small
table of (pattern, group) rules.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import torch

NO_LAYER = -1  # layer index of tensors outside the transformer blocks (embeddings, final norm)

GROUPS = ("attn_qkv", "attn_q", "attn_k", "attn_v", "attn_out", "mlp_in", "mlp_out",
          "embed_in", "embed_pos", "embed_out", "layernorm", "bias", "other")

# (regex on the tensor name, group); the first match wins. Biases are caught before this table.
NAME_RULES: tuple[tuple[str, str], ...] = (
    # GPT-NeoX / Pythia
    (r"attention\.query_key_value\.weight$", "attn_qkv"),
    (r"attention\.dense\.weight$", "attn_out"),
    (r"mlp\.dense_h_to_4h\.weight$", "mlp_in"),
    (r"mlp\.dense_4h_to_h\.weight$", "mlp_out"),
    (r"embed_in\.weight$", "embed_in"),
    (r"(^|\.)embed_out\.weight$", "embed_out"),
    # GPT-2
    (r"attn\.c_attn\.weight$", "attn_qkv"),
    (r"attn\.c_proj\.weight$", "attn_out"),
    (r"mlp\.c_fc\.weight$", "mlp_in"),
    (r"mlp\.c_proj\.weight$", "mlp_out"),
    (r"(^|\.)wte\.weight$", "embed_in"),
    (r"(^|\.)wpe\.weight$", "embed_pos"),
    (r"(^|\.)ln_(1|2|f)\.weight$", "layernorm"),
    # Llama / Mistral / Qwen / OLMo / Gemma (self_attn.), OPT, GPT-J and MPT (attn.)
    (r"attn\.q_proj\.weight$", "attn_q"),
    (r"attn\.k_proj\.weight$", "attn_k"),
    (r"attn\.v_proj\.weight$", "attn_v"),
    (r"attn\.(o_proj|out_proj|dense)\.weight$", "attn_out"),
    (r"(mlp|ffn)\.(gate_proj|up_proj)\.weight$", "mlp_in"),
    (r"(mlp|ffn)\.down_proj\.weight$", "mlp_out"),
    (r"embed_tokens\.weight$", "embed_in"),
    # OPT, Phi-1/2 (fc1, fc2), GPT-J (fc_in, fc_out)
    (r"(^|\.)(fc1|fc_in)\.weight$", "mlp_in"),
    (r"(^|\.)(fc2|fc_out)\.weight$", "mlp_out"),
    (r"embed_positions\.weight$", "embed_pos"),
    # BLOOM / Falcon
    (r"(^|\.)word_embeddings\.weight$", "embed_in"),
    # shared
    (r"(^|\.)lm_head\.weight$", "embed_out"),
    (r"(layernorm|layer_norm|_norm|\.norm|norm_\w+|ln_\w+)\.weight$", "layernorm"),
)
_COMPILED = tuple((re.compile(p), g) for p, g in NAME_RULES)
_LAYER = re.compile(r"\.(?:layers|h|blocks|layer)\.(\d+)\.")
# buffers that are not weights (rotary tables, causal masks)
_SKIP = re.compile(r"(inv_freq|masked_bias|(?:^|\.)attention\.bias$|(?:^|\.)attn\.bias$|rotary_emb)")


@dataclass(frozen=True)
class TensorRole:
    """Where a tensor sits: its group (role) and block index (NO_LAYER outside the blocks)."""

    group: str
    layer: int


def layer_index(name: str) -> int:
    """The transformer block index in a parameter name, or NO_LAYER."""
    match = _LAYER.search("." + name)
    return int(match.group(1)) if match else NO_LAYER


def is_weight_tensor(name: str) -> bool:
    """False for buffers that are not trained weights (rotary inv_freq, causal masks)."""
    return _SKIP.search(name) is None


def tensor_group(name: str) -> str:
    """The group of a parameter name (see GROUPS); 'bias' for every bias, 'other' if unknown."""
    if name.endswith(".bias"):
        return "bias"
    for pattern, group in _COMPILED:
        if pattern.search(name):
            return group
    return "other"


def tensor_role(name: str) -> TensorRole:
    """Group and layer of a parameter name."""
    return TensorRole(tensor_group(name), layer_index(name))


def split_qkv(weight: torch.Tensor, num_heads: int, layout: str = "neox") -> dict[str, torch.Tensor]:
    """Split a fused QKV weight (or bias) into q, k, v.

    GPT-NeoX interleaves rows per head: the [3*d, ...] weight is [heads, 3, head_dim, ...].
    GPT-2's Conv1D c_attn is [d, 3*d] with q, k, v as three blocks of columns (layout='gpt2').
    A numpy array is split as a tensor.
    """
    from scalefit.weightstats.tensors import as_weights

    weight = as_weights(weight, "split_qkv")
    if layout == "gpt2":
        q, k, v = weight.chunk(3, dim=-1)
        return {"q": q, "k": k, "v": v}
    rows = weight.shape[0]
    if rows % (3 * num_heads):
        raise ValueError(f"QKV tensor with {rows} rows does not split into 3 x {num_heads} heads")
    head_dim = rows // (3 * num_heads)
    per_head = weight.reshape(num_heads, 3, head_dim, *weight.shape[1:])
    return {part: per_head[:, i].reshape(num_heads * head_dim, *weight.shape[1:])
            for i, part in enumerate("qkv")}


# names that transformers gives a module's parameter but not the checkpoint file: the table uses
# the file's (the hub's) name, so a folder and the same model in memory give identical rows
_FILE_NAMES = {"gpt_neox": {"lm_head.weight": "embed_out.weight"}}


def checkpoint_name(name: str, model_type: str | None = None) -> str:
    """A parameter name as the checkpoint file spells it (GPT-NeoX: lm_head -> embed_out)."""
    return _FILE_NAMES.get(model_type or "", {}).get(name, name)


def qkv_layout(model_type: str | None) -> str:
    """How a fused QKV weight is laid out: 'gpt2' (Conv1D column blocks) or 'neox' (per head)."""
    return "gpt2" if model_type == "gpt2" else "neox"

"""Tensor name -> (group, layer): which role a weight plays, so statistics can be pooled by role.

Groups: attn_qkv (and its split attn_q / attn_k / attn_v), attn_kv, attn_out, attn_gate,
attn_indexer, attn_sink, linear_attn_in, linear_attn_conv, linear_attn_decay, mlp_in, mlp_out,
expert_in, expert_out, router, embed_in, embed_pos, embed_out, layernorm, bias, other. GPT-NeoX is the
reference; GPT-2, Llama-style (Mistral, Qwen2, Gemma, OLMo), OPT, GPT-J, BLOOM, Falcon,
StarCoder, Phi-3 and MPT names map through the same small table of (pattern, group) rules.
Multi-head latent attention (DeepSeek-V2/V3 and the models built on it) puts its query path
(q_a_proj, q_b_proj) in attn_q and its joint key-value path (kv_a_proj_with_mqa, kv_b_proj) in
attn_kv; its q_a_layernorm / kv_a_layernorm are in layernorm, as Qwen3's q_norm / k_norm are.
Gated attention's output gate (MiniMax, AFMoE, Laguna) is attn_gate; DeepSeek Sparse Attention's
lightning indexer (DeepSeek-V3.2) attn_indexer; learned per-head sink logits attn_sink; a linear
attention layer (Qwen3-Next's Gated DeltaNet, Bailing-hybrid's) puts its input projections in
linear_attn_in, its short convolution in linear_attn_conv and its decay parameters (A_log,
dt_bias) in linear_attn_decay (its output projection in attn_out, its norm in layernorm).
Mixture-of-experts checkpoints (Mixtral, PhiMoE, Qwen2-MoE, Qwen3-MoE, OLMoE, DeepSeek-V2/V3,
GLM-4-MoE, MiniMax and the others transformers fuses alike) put each expert's gate and up
projections in expert_in, its down projection in expert_out (as a dense MLP's go to mlp_in and
mlp_out), the router in router, and a shared expert (dense, every token) in mlp_in / mlp_out, as
the dense MLP of a layer without experts.
These are the names save_pretrained writes (one matrix per expert). A model loaded by
transformers 5 holds each layer's experts fused into 3-d parameters (mlp.experts.gate_up_proj
[experts, 2 x width, d], gate's rows then up's, and mlp.experts.down_proj [experts, d, width]):
`split_experts` cuts them back into the matrices and names the folder holds (`join_experts` is the
inverse, to write a folder's matrices into a loaded model), so a loaded model and its folder give
the same rows. Both the fusing (`expert_layout`) and the renames on load (Mixtral's
block_sparse_moe. loads as mlp., Flint's softmax_offset as sinks, ...: `checkpoint_name`) are
read from transformers' own conversion_mapping, reversed as save_pretrained reverses it. An
architecture whose experts it does not fuse so keeps its 3-d parameters whole, named as loaded,
in the same groups. A fused QKV weight splits into q, k, v by its architecture's layout
(`fused_qkv`). A tensor that the file and a loaded model cut otherwise (Sarvam-MoE's
query_key_value loads as q_proj, k_proj, v_proj; Bailing-hybrid's q/k/v_conv1d as one conv1d) is
read from the same mapping's converters (`file_pieces`), so a loaded model is measured as its
file holds it.
"""
from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Iterable, Mapping, Sequence, TypeVar

import torch

from scalefit.weightstats import group_names

NO_LAYER = -1  # layer index of tensors outside the transformer blocks (embeddings, final norm)

# the groups' names live in group_names (no torch there: table-only commands name them)
GROUPS, QKV_PARTS = group_names.GROUPS, group_names.QKV_PARTS

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
    # Phi-3, MPT, MiniMax's lightning attention (fused; split by fused_qkv's layout)
    (r"attn\.(qkv_proj|Wqkv)\.weight$", "attn_qkv"),
    (r"mlp\.gate_up_proj\.weight$", "mlp_in"),
    # mixture of experts, as save_pretrained writes them: one matrix per expert (Mixtral's
    # block_sparse_moe.experts.E.w1/w3/w2, Qwen2-MoE's and OLMoE's mlp.experts.E.gate/up/down_proj)
    # and the router; transformers 5 fuses the experts of a loaded model into 3-d
    # mlp.experts.gate_up_proj / down_proj parameters: split_experts cuts a known layout back into
    # these, an unknown one is measured whole in the same groups
    (r"experts\.\d+\.(w1|w3|gate_proj|up_proj)\.weight$", "expert_in"),
    (r"experts\.\d+\.(w2|down_proj)\.weight$", "expert_out"),
    (r"experts\.(gate_up_proj|gate_proj|up_proj)$", "expert_in"),
    (r"experts\.down_proj$", "expert_out"),
    (r"(block_sparse_moe|mlp)\.gate\.weight$", "router"),
    # routers under other names: Hunyuan-MoE's mlp.gate.wg, AFMoE's mlp.router.gate, LongCat-Flash's
    # mlp.router.classifier, LFM2-MoE's feed_forward.gate
    (r"mlp\.(gate\.wg|router\.gate|router\.classifier)\.weight$|feed_forward\.gate\.weight$", "router"),
    (r"shared_expert_gate\.weight$", "router"),  # Qwen2-MoE: the shared expert's sigmoid gate
    # Granite-MoE's file holds its experts fused ([experts, 2 x width, d] input_linear, gate's rows
    # then up's; output_linear), measured whole; its shared MLP's input_linear is gate and up fused
    (r"block_sparse_moe\.input_linear\.weight$", "expert_in"),
    (r"block_sparse_moe\.output_linear\.weight$", "expert_out"),
    (r"block_sparse_moe\.router\.layer\.weight$", "router"),
    (r"shared_mlp\.input_linear\.weight$", "mlp_in"),
    (r"shared_mlp\.output_linear\.weight$", "mlp_out"),
    # Qwen2-MoE's shared expert, a dense MLP every token passes through
    (r"shared_experts?\.(gate_proj|up_proj)\.weight$", "mlp_in"),
    (r"shared_experts?\.down_proj\.weight$", "mlp_out"),
    # attention output gates: a sigmoid (softplus: Laguna's, per head) gate on the attention
    # output computed from the layer's input (gated attention): MiniMax's output_gate, AFMoE's
    # self_attn.gate_proj, Laguna's and Bailing's g_proj, Qwen3.5's linear attention in_proj_z
    (r"(attn|attention)\.(output_gate|gate_proj|g_proj)\.weight$|linear_attn\.in_proj_z\.weight$", "attn_gate"),
    # DeepSeek Sparse Attention's lightning indexer (DeepSeek-V3.2, GLM-MoE-DSA): its query, key
    # and head-weight projections score the tokens that attention then reads
    (r"indexer\.(wq_b|wk|weights_proj)\.weight$", "attn_indexer"),
    # learned attention sinks: one logit per head that joins the softmax over the keys (GPT-OSS's
    # sinks, MiMo-V2-Flash's attention_sink_bias, Flint's softmax_offset)
    (r"attn\.(sinks|attention_sink_bias|softmax_offset)$", "attn_sink"),
    # linear attention (Qwen3-Next's and Qwen3.5's Gated DeltaNet, Bailing-hybrid's): the input
    # projections that feed the recurrence (fused q, k, v (and z); its beta and decay gates:
    # in_proj_ba / _a / _b, Bailing's f_proj and b_proj), the short causal convolution over q, k, v,
    # and the per-head decay parameters (A_log, dt_bias)
    (r"linear_attn\.in_proj_(qkvz|qkv|ba|a|b)\.weight$|attention\.(f_proj|b_proj)\.weight$", "linear_attn_in"),
    (r"(linear_attn|attention)\.([qkv]_)?conv1d\.weight$", "linear_attn_conv"),
    (r"(linear_attn|attention)\.(A_log|dt_bias)$", "linear_attn_decay"),
    # Llama / Mistral / Qwen / OLMo / Gemma (self_attn.), OPT, GPT-J and MPT (attn.); Bailing's and
    # Sarvam-MoE's (attention.)
    (r"(attn|attention)\.q_proj\.weight$", "attn_q"),
    # multi-head latent attention (DeepSeek-V2/V3): the query's low-rank down and up projections,
    # and the joint key-value latent (with the shared rotary key) and its up-projection to K and V
    (r"(attn|attention)\.(q_a_proj|q_b_proj)\.weight$", "attn_q"),
    (r"(attn|attention)\.(kv_a_proj_with_mqa|kv_b_proj)\.weight$", "attn_kv"),
    (r"(attn|attention)\.k_proj\.weight$", "attn_k"),
    (r"(attn|attention)\.v_proj\.weight$", "attn_v"),
    (r"attn\.(o_proj|out_proj|dense)\.weight$", "attn_out"),
    (r"(mlp|ffn)\.(gate_proj|up_proj)\.weight$", "mlp_in"),
    (r"(mlp|ffn)\.down_proj\.weight$", "mlp_out"),
    # LFM2's dense feed_forward (w1, w3 in; w2 out), as a Mixtral expert's
    (r"feed_forward\.(w1|w3)\.weight$", "mlp_in"),
    (r"feed_forward\.w2\.weight$", "mlp_out"),
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
# LongCat-Flash's block holds two of each sublayer (self_attn.0, mlps.1, input_layernorm.0): each
# takes the group of the one sublayer of other blocks
_SUBLAYER = re.compile(r"\.(self_attn|mlp|input_layernorm|post_attention_layernorm)s?\.\d+\.")
_LAYER = re.compile(r"\.(?:layers|h|blocks|layer)\.(\d+)\.")
# buffers that are not weights (rotary tables, causal masks; DeepSeek-V3's and GLM-4-MoE's router
# e_score_correction_bias, a buffer that load balancing moves, not a gradient: the folder holds it;
# Ergo's file calls it feed_forward.router_bias; AFMoE's expert_bias, the same bias kept as a
# parameter without gradient; MiniMax's lightning
# attention decays, buffers computed from the config that save_pretrained writes)
# DeepSeek-V4's hash-routed layers keep gate.tid2eid, a token id -> expert id table (int64, a
# persistent buffer): the folder holds it, the loaded model has it as no parameter
_SKIP = re.compile(r"(inv_freq|masked_bias|(?:^|\.)attention\.bias$|(?:^|\.)attn\.bias$|rotary_emb"
                   r"|e_score_correction_bias$|\.feed_forward\.router_bias$|\.expert_bias$|\.gate\.tid2eid$"
                   r"|\.self_attn\.(slope_rate|query_decay|key_decay|diagonal_decay)$)")


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
    name = _SUBLAYER.sub(r".\1.", name)
    for pattern, group in _COMPILED:
        if pattern.search(name):
            return group
    return "other"


def tensor_role(name: str) -> TensorRole:
    """Group and layer of a parameter name."""
    return TensorRole(tensor_group(name), layer_index(name))


def _kv_heads(num_heads: int, layout: str, num_kv_heads: int | None) -> int:
    """The key/value heads of a fused QKV matrix: the query heads in GPT-NeoX's layout (or where
    none are given), else num_kv_heads (split_qkv's and FusedQKV.unfit's one rule)."""
    return num_heads if layout == "neox" or num_kv_heads is None else num_kv_heads


def _qkv_head_dim(rows: int, num_heads: int, kv: int) -> int:
    """The head size of a fused QKV tensor of `rows` rows for this many query and key/value heads;
    ValueError where they do not divide it (split_qkv's check, and FusedQKV.unfit's from a shape)."""
    if not (kv and num_heads % kv == 0) or rows % (num_heads + 2 * kv):
        raise ValueError(f"QKV tensor with {rows} rows does not split into {num_heads} query and "
                         f"2 x {kv} key/value heads")
    return rows // (num_heads + 2 * kv)


def split_qkv(weight: torch.Tensor, num_heads: int, layout: str = "neox",
              num_kv_heads: int | None = None) -> dict[str, torch.Tensor]:
    """Split a fused QKV weight (or bias) into q, k, v (see QKV_LAYOUTS).

    GPT-NeoX interleaves rows per head: the [3*d, ...] weight is [heads, 3, head_dim, ...].
    GPT-2's Conv1D c_attn is [d, 3*d] with q, k, v as three blocks of columns (layout='gpt2').
    'stacked' is q's rows, then k's, then v's (num_kv_heads heads each: multi-query Falcon and
    StarCoder, Phi-3, MPT); 'grouped' is [kv_heads, heads/kv_heads + 2, head_dim, ...] (Falcon's
    new decoder). A numpy array is split as a tensor.
    """
    from scalefit.weightstats.tensors import as_weights

    weight = as_weights(weight, "split_qkv")
    if layout == "gpt2":
        q, k, v = weight.chunk(3, dim=-1)
        return {"q": q, "k": k, "v": v}
    if layout not in QKV_LAYOUTS:
        raise ValueError(f"QKV layout '{layout}': known are {', '.join(QKV_LAYOUTS)}")
    kv = _kv_heads(num_heads, layout, num_kv_heads)
    rows, rest = weight.shape[0], weight.shape[1:]
    head_dim = _qkv_head_dim(rows, num_heads, kv)
    per_kv = num_heads // kv
    if layout == "stacked":
        q, k, v = weight.split([num_heads * head_dim, kv * head_dim, kv * head_dim])
        return {"q": q, "k": k, "v": v}
    grouped = weight.reshape(kv, per_kv + 2, head_dim, *rest)  # 'neox': kv = heads, one q per group
    return {"q": grouped[:, :per_kv].reshape(num_heads * head_dim, *rest),
            "k": grouped[:, per_kv].reshape(kv * head_dim, *rest),
            "v": grouped[:, per_kv + 1].reshape(kv * head_dim, *rest)}


# names (or parts of names) that transformers gives a module's parameter but not the checkpoint
# file: the table uses the file's (the hub's) name, so a folder and the same model in memory give
# identical rows. transformers 5 renames (and fuses) on load by its conversion_mapping and reverses
# it on save: `file_renames` reads that reversal from transformers itself. This table holds only
# what the mapping does not say: GPT-NeoX's output layer loads as lm_head, its file says embed_out
_FILE_RENAMES = {"gpt_neox": ((re.compile(r"^lm_head\.weight$"), "embed_out.weight"),)}


@functools.lru_cache(maxsize=None)
def _conversions(model_type: str) -> tuple:
    """transformers' conversion mapping of model_type (its WeightRenaming / WeightConverter
    entries, as from_pretrained applies them); () where it has none or transformers is absent."""
    try:
        from transformers.conversion_mapping import get_checkpoint_conversion_mapping
    except ImportError:
        return ()
    return tuple(get_checkpoint_conversion_mapping(model_type) or ())


@functools.lru_cache(maxsize=None)
def file_renames(model_type: str) -> tuple:
    """The renames save_pretrained applies to a model of model_type: its conversion_mapping's
    WeightRenaming entries reversed, last first, as transformers reverses them. Prefix changes
    are left out (as save_pretrained leaves them out for a model it did not load from a folder),
    and so are group renames, whose reversal depends on the order of the keys; () where it has
    none (or transformers is absent)."""
    conversions = _conversions(model_type)
    if not conversions:
        return ()
    from transformers.core_model_loading import GroupWeightRename, PrefixChange, WeightRenaming

    return tuple(t.reverse_transform() for t in reversed(conversions)
                 if isinstance(t, WeightRenaming) and not isinstance(t, (PrefixChange, GroupWeightRename)))


def checkpoint_name(name: str, model_type: str | None = None, *, loaded: bool = True) -> str:
    """A parameter name as the checkpoint file spells it: GPT-NeoX's lm_head -> embed_out and, for
    a name of a model loaded by transformers (`loaded`), its conversion_mapping reversed
    (`file_renames`: e.g. Mixtral's mlp. -> block_sparse_moe., Granite-MoE's experts.gate_up_proj
    -> input_linear.weight, Flint's sinks -> softmax_offset). `loaded=False` for a name read from
    a file (a folder's): it is the file's already, and reading one does not import transformers."""
    for pattern, replacement in _FILE_RENAMES.get(model_type or "", ()):
        name = pattern.sub(replacement, name)
    if loaded and model_type:
        for renaming in file_renames(model_type):
            name = renaming.rename_source_key(name)[0]
    return name


@dataclass(frozen=True)
class FilePieces:
    """Tensors that a loaded model and its checkpoint file cut differently, by a WeightConverter of
    transformers' conversion_mapping: the file's tensors `file` (several: Bailing-hybrid's
    q_conv1d / k_conv1d / v_conv1d, concatenated into `conv1d` on load; or one: Sarvam-MoE's
    query_key_value, split into q_proj / k_proj / v_proj) are the model's `loaded` tensors
    concatenated on `dim` in this order, cut into len(file) equal pieces, as save_pretrained cuts
    them. `equal`: from_pretrained cuts the one file tensor into equal pieces (transformers' Chunk:
    HRM-text's gqkv_proj), not by the sizes of the model's tensors (Split: Sarvam-MoE's).
    `transpose`: the one file tensor is the one loaded tensor with these two dims swapped
    (transformers' Transpose: Ergo's feed_forward.gate_kernel is its mlp.gate.linear.weight).
    Names before checkpoint_name's renames, as transformers reverses a converter first."""

    file: tuple[str, ...]
    loaded: tuple[str, ...]
    dim: int
    equal: bool = False
    transpose: tuple[int, int] | None = None

    def file_tensors(self, loaded: list[torch.Tensor]) -> list[torch.Tensor]:
        """The file's tensors from the loaded ones (in `loaded`'s order): joined, cut into views, or
        transposed (a copy, as save_pretrained writes it)."""
        if self.transpose:
            return [loaded[0].transpose(*self.transpose).contiguous()]
        whole = loaded[0] if len(loaded) == 1 else torch.cat(loaded, dim=self.dim)
        return [piece.contiguous() for piece in whole.chunk(len(self.file), dim=self.dim)]

    def loaded_tensors(self, file: list[torch.Tensor], sizes: list[int]) -> list[torch.Tensor] | None:
        """The inverse: the loaded tensors, `sizes` long on `dim` each, from the file's (in `file`'s
        order), as from_pretrained cuts or joins them; None where the file's do not fit so. Cut into
        equal pieces (`equal`) whatever `sizes`, as from_pretrained does, so a file of another
        model size gives its own pieces (their shapes then differ from the model's). Transposed back
        (`transpose`) whatever `sizes`: a file of another size gives its own shape."""
        if self.transpose:
            return [file[0].transpose(*self.transpose)] if file[0].ndim > max(self.transpose) else None
        if self.equal and len(file) == 1 and file[0].ndim > self.dim and file[0].shape[self.dim] % len(sizes) == 0:
            return list(file[0].chunk(len(sizes), dim=self.dim))
        shapes = {(t.ndim, t.shape[:self.dim] + t.shape[self.dim + 1:]) for t in file}
        if len(shapes) != 1 or file[0].ndim <= self.dim or sum(t.shape[self.dim] for t in file) != sum(sizes):
            return None
        whole = file[0] if len(file) == 1 else torch.cat(file, dim=self.dim)
        return list(whole.split(sizes, dim=self.dim))


@functools.lru_cache(maxsize=None)
def _piece_converters(model_type: str) -> tuple:
    """model_type's converters that cut or transpose a tensor (no experts, no wildcard), reversed as
    save_pretrained reverses them: (reversed converter, dim, whether from_pretrained cuts into
    equal pieces, dims swapped or None) where the reversal joins several loaded tensors into one
    (Concatenate), cuts one into equal pieces (Chunk) or transposes one into one (Transpose, one
    that always transposes: not one that checks the model's shape first)."""
    from transformers.core_model_loading import Chunk, Concatenate, Transpose, WeightConverter

    out = []
    for t in _conversions(model_type):
        if not isinstance(t, WeightConverter) or any("*" in p for p in (*t.source_patterns, *t.target_patterns)):
            continue
        reverse = t.reverse_transform()
        ops = reverse.operations
        if len(ops) != 1 or getattr(ops[0], "num_shards_attribute", None) is not None:
            continue
        joins = isinstance(ops[0], Concatenate) and len(reverse.target_patterns) == 1 < len(reverse.source_patterns)
        cuts = isinstance(ops[0], Chunk) and len(reverse.source_patterns) == 1 < len(reverse.target_patterns)
        if joins or cuts:
            out.append((reverse, ops[0].dim, joins and isinstance(t.operations[0], Chunk), None))
        elif (isinstance(ops[0], Transpose) and not ops[0].check_dims
              and len(reverse.source_patterns) == 1 == len(reverse.target_patterns)):
            out.append((reverse, ops[0].dim0, False, (ops[0].dim0, ops[0].dim1)))
    return tuple(out)


def file_pieces(names, model_type: str | None) -> list[FilePieces]:
    """The tensors among a loaded model's parameter `names` that its file holds cut otherwise
    (FilePieces), read from transformers' conversion_mapping of model_type; [] where it says of
    none (or transformers is absent), and for a group some of whose loaded tensors are missing."""
    if not model_type or not _conversions(model_type):
        return []
    found: dict[tuple, list] = {}
    for name in names:
        for reverse, dim, equal, transpose in _piece_converters(model_type):
            match = reverse.compiled_sources.search(name)
            if match:
                index = int(next(g for g, v in match.groupdict().items() if v is not None)[1:])
                file = tuple(name.replace(match.group(0), target, 1) for target in reverse.target_patterns)
                found.setdefault((file, dim, equal, transpose, len(reverse.source_patterns)), []).append((index, name))
                break
    return [FilePieces(file, tuple(name for _, name in sorted(parts)), dim, equal, transpose)
            for (file, dim, equal, transpose, count), parts in found.items() if len(parts) == count]


_V = TypeVar("_V")


def spliced(items: Mapping[str, _V], swaps: Iterable[tuple[Sequence[str], Mapping[str, _V]]]) -> dict[str, _V]:
    """`items` with, for each (old keys, new items) of `swaps`, the old keys dropped and the new
    items put where its first old key was, in one pass: a loaded model's tensors listed as its
    file cuts them (measure) and a file's as the model cuts them (reinit), by file_pieces."""
    first: dict[str, Mapping[str, _V]] = {}
    dropped: set[str] = set()
    for old, new in swaps:
        first[old[0]] = new
        dropped.update(old)
    out: dict[str, _V] = {}
    for key, value in items.items():
        if key in first:
            out.update(first[key])
        elif key not in dropped:
            out[key] = value
    return out


# How transformers 5 fuses the experts of a loaded model, read from its conversion_mapping: a
# WeightConverter that stacks per-expert matrices on a new dim 0 (MergeModulelist), several of
# them concatenated by rows (Concatenate on dim 1: gate's rows, then up's; no transpose); a
# pattern may start with an escaped dot (Kimi-Linear's, DeepSeek-V4's \.experts.*.w1.weight)
_STACKED = re.compile(r"^(?:\\?\.)?(?:\w+\.)*experts\.(\w+)$")  # the fused parameter, e.g. mlp.experts.gate_up_proj
_PER_EXPERT = re.compile(r"^(?:\\?\.)?(?:\w+\.)*experts\.\*\.(\w+)\.weight$")  # e.g. mlp.experts.*.gate_proj.weight


@functools.lru_cache(maxsize=None)
def expert_layout(model_type: str | None) -> dict[str, tuple[str, ...]]:
    """{fused expert parameter: the per-expert matrices it holds, in row order} of model_type, e.g.
    Mixtral's {'gate_up_proj': ('w1', 'w3'), 'down_proj': ('w2',)}, read from transformers'
    conversion_mapping; {} where it fuses no experts so (or transformers is absent): such
    parameters are measured whole (checked on tiny models: tests/test_weights_moe_fused.py,
    tests/test_arch_renamed.py)."""
    if not model_type or not _conversions(model_type):
        return {}
    from transformers.core_model_loading import Concatenate, MergeModulelist

    layout = {}
    for t in _conversions(model_type):
        ops = [(type(op), getattr(op, "dim", None)) for op in getattr(t, "operations", ())]
        fused = _STACKED.match(t.target_patterns[0]) if len(t.target_patterns) == 1 else None
        parts = [_PER_EXPERT.match(source) for source in t.source_patterns]
        stacks = ops == [(MergeModulelist, 0)] + ([(Concatenate, 1)] if len(parts) > 1 else [])
        if stacks and fused and all(parts):
            layout[fused.group(1)] = tuple(part.group(1) for part in parts)
    return layout


_FUSED_EXPERTS = re.compile(r"^(.*\.experts)\.(\w+)$")


def fused_experts(name: str, model_type: str | None) -> tuple[str, tuple[str, ...]] | None:
    """(prefix, per-expert matrix names) of a fused expert parameter of a loaded model (named as
    the checkpoint file spells it, `checkpoint_name`), e.g. ('model.layers.0.block_sparse_moe.experts',
    ('w1', 'w3')); None where the name is not one or model_type's layout is not known."""
    match = _FUSED_EXPERTS.match(name)
    parts = expert_layout(model_type).get(match.group(2)) if match else None
    return (match.group(1), parts) if parts else None


def expert_matrix_names(name: str, num_experts: int, model_type: str | None) -> list[tuple[str, ...]] | None:
    """Expert by expert, the names save_pretrained writes for the matrices of a fused expert
    parameter (`<prefix>.<expert>.<matrix>.weight`, in the fused rows' order); None where `name`
    is not one whose layout is known (see fused_experts). The one place for split and join."""
    fused = fused_experts(name, model_type)
    if fused is None:
        return None
    prefix, parts = fused
    return [tuple(f"{prefix}.{expert}.{part}.weight" for part in parts) for expert in range(num_experts)]


def split_experts(name: str, weight: torch.Tensor, model_type: str | None) -> dict[str, torch.Tensor] | None:
    """The per-expert matrices of a fused expert parameter [experts, rows, cols], named as
    save_pretrained writes them (expert by expert, `expert_matrix_names`), as views of `weight`;
    None where it is not one whose layout is known (see fused_experts), or whose shape does not
    split so (then it is measured whole). `join_experts` is the inverse."""
    names = expert_matrix_names(name, weight.shape[0], model_type) if weight.ndim == 3 else None
    if not names or weight.shape[1] % len(names[0]):
        return None
    count = len(names[0])
    return {matrix: expert_matrix(weight, expert, index, count)
            for expert, row in enumerate(names) for index, matrix in enumerate(row)}


def expert_matrix(weight: torch.Tensor, expert: int, index: int, count: int) -> torch.Tensor:
    """Expert `expert`'s matrix `index` of its `count` (gate's, then up's rows) in a fused expert
    parameter [experts, rows, cols], as a view: the one cut of split_experts and of measure's group pass."""
    return weight[expert].chunk(count, dim=0)[index]


def join_experts(name: str, matrices: Mapping[str, torch.Tensor], num_experts: int,
                 model_type: str | None) -> torch.Tensor | None:
    """The inverse of split_experts: the fused expert parameter `name` [experts, rows, cols] built
    from the per-expert matrices in `matrices` (by the names save_pretrained writes): each
    expert's matrices concatenated by rows (gate's, then up's), stacked on a new dim 0. None where
    `name` is not a fused expert parameter of a known layout or one of its matrices is missing."""
    names = expert_matrix_names(name, num_experts, model_type)
    if names is None or any(n not in matrices for row in names for n in row):
        return None
    return torch.stack([torch.cat([matrices[n] for n in row], dim=0) for row in names])


QKV_LAYOUTS = ("gpt2", "neox", "stacked", "grouped")


@dataclass(frozen=True)
class FusedQKV:
    """How a model's fused QKV weight splits: its layout (None: not known, so not split), the
    query heads and the key/value heads."""

    layout: str | None
    num_heads: int | None
    num_kv_heads: int | None

    @property
    def splits(self) -> bool:
        """Whether a fused QKV matrix is split at all: its layout is known, with the count of heads
        it needs (GPT-2's needs none). The one check for measure's names and reinit's groups."""
        return self.layout is not None and (self.layout == "gpt2" or bool(self.num_heads))

    def split(self, weight: torch.Tensor) -> dict[str, torch.Tensor]:
        """{'q', 'k', 'v': its part} of a fused QKV matrix split by this layout (split_qkv); {} where
        it is not split (`splits`: the layout is not known, or needs a count of heads that is not)."""
        if not self.splits:
            return {}
        return split_qkv(weight, self.num_heads or 1, self.layout, self.num_kv_heads)

    def unfit(self, shape) -> str | None:
        """Why a fused QKV matrix of `shape` does not split by this layout and heads (split's
        ValueError text), None where it does or is not split at all; from the shape, no part built."""
        if not self.splits or self.layout == "gpt2":  # GPT-2's three column blocks: split never refuses
            return None
        try:
            _qkv_head_dim(shape[0], self.num_heads, _kv_heads(self.num_heads, self.layout, self.num_kv_heads))
        except ValueError as exc:
            return str(exc)
        return None


def fused_qkv(model_type: str | None, config=None) -> FusedQKV:
    """The fused-QKV facts of a model from its config (a config.json dict or a transformers
    config): which layout per architecture, read from the same fields transformers reads.
    No model_type (a bare state dict) is GPT-NeoX's layout; an architecture not listed here is
    not split (its rows could be in any order)."""
    config = config.to_dict() if hasattr(config, "to_dict") else dict(config or {})
    heads = next((config[k] for k in ("num_attention_heads", "n_head", "n_heads") if config.get(k)), None)
    # MiniMax's lightning attention: qkv_proj's rows are [heads, 3, head_dim] (its forward views the
    # output as heads x 3 head_dim and splits each head's into q, k, v), GPT-NeoX's interleave
    by_type = {"gpt2": "gpt2", "gpt_neox": "neox", "bloom": "neox", "minimax": "neox", None: "neox"}
    layout, kv = by_type.get(model_type), heads
    if model_type == "falcon":
        if config.get("new_decoder_architecture"):
            layout, kv = "grouped", config.get("num_kv_heads") or heads
        else:
            layout, kv = ("stacked", 1) if config.get("multi_query", True) else ("neox", heads)
    elif model_type == "gpt_bigcode":
        layout, kv = ("stacked", 1) if config.get("multi_query", True) else ("neox", heads)
    elif model_type in ("phi3", "sarvam_moe", "param2moe"):  # the latter two: transformers splits
        # their file's attention.query_key_value into q_proj, k_proj, v_proj of those sizes, in order
        layout, kv = "stacked", config.get("num_key_value_heads") or heads
    elif model_type == "mpt":
        layout, kv = "stacked", (config.get("attn_config") or {}).get("kv_n_heads") or heads
    return FusedQKV(layout, heads, kv)


def qkv_layout(model_type: str | None, config=None) -> str | None:
    """How a fused QKV weight is laid out (QKV_LAYOUTS; None: not known), see fused_qkv."""
    return fused_qkv(model_type, config).layout

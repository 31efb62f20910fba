"""Re-initialize a model from a trained model's weight distribution, tensor by tensor.

`reinit(model, source, mode, seed)` overwrites every parameter of `model` (in place) before
training, so that training starts from a chosen law instead of the standard init:

  pythia         the standard init (weightstats.init.init_like_pythia): the control
  gauss-matched  N(mean, std) of the source tensor: its scale only
  family         draws from the source tensor's best fitted family by BIC (Student-t,
                 generalized normal, ...; the binned fit of binned_fit): shape and scale
  empirical      draws from the source tensor's empirical law by inverse CDF: the exact
                 marginal, no structure
  permuted       the source tensor's own entries in a random order: the exact values, no structure
  source         the source tensor itself: continued training (the trainer starts a fresh
                 optimizer and the run's own schedule), the upper bound

Norm gains and biases follow the same mode as the matrices (a norm gain drawn from the learned
law of the source's norm gains, and so on). A tensor with no spread in the source (a bias that
never moved) is a point mass: every law mode fills it with that value.

Embeddings (embed_in, embed_out) follow the mode too. They are most of a small model's weights
(78% of mini-3's), so leaving them at the standard init would make a "learned-law init" mostly a
Pythia init; and since every non-`source` mode draws values independently of position, a
sampled embedding keeps the learned scale and shape but no token's vector, so nothing learned
about particular tokens carries over. `embeddings="pythia"` keeps them at Pythia's init instead,
to isolate the transformer blocks.

A fused QKV weight (GPT-NeoX, GPT-2) is drawn part by part: q, k and v each from its own law (a
permutation within each part is still a permutation of the tensor). The fused 3-d experts of a mixture-of-experts model loaded by transformers 5
(groups.expert_layout) take their values from the per-expert matrices a saved folder holds
(groups.join_experts, the inverse of split_experts): each expert's gate, up and down matrix from
its own source matrix, by its own law, seeded by its file name. A source model's fused experts
are cut into those matrices first (groups.split_experts), so every kind of source names them alike.
A source tensor that the file cuts otherwise than the loaded model (groups.file_pieces:
Sarvam-MoE's query_key_value, loaded as q_proj, k_proj, v_proj; Bailing-hybrid's q/k/v_conv1d,
loaded as one conv1d) is cut or joined into the model's pieces first, as from_pretrained does.
A model tensor whose shape
differs from the source's (or that the source lacks) is refused for `permuted` and `source`; the
law modes (gauss-matched, family, empirical) then use the pooled law of the source's tensors of
the same group (weightstats.groups), unscaled. A source's fused QKV matrix, split by its own
heads as measure splits it, adds its q, k, v parts to attn_q, attn_k, attn_v (in a law mode, for a
model that holds such tensors; nothing else draws from them): a Sarvam-MoE
folder with fewer heads than the model (its query_key_value does not cut into the model's q_proj,
k_proj, v_proj) still gives their laws.

The source should be trained on data disjoint from the run that starts from it (the code corpus
for a prose run), so a permuted or sampled init cannot leak memorized text; the trainer checks
this where it knows both corpora. Weights are read from safetensors (or, failing that,
`pytorch_model.bin` with torch.load(weights_only=True)); no code from the folder ever runs.
"""
from __future__ import annotations

import zlib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Mapping

import numpy as np
import torch

from scalefit.errors import InputError
from scalefit.weightstats.binned_fit import fit_families, standardized_histogram
from scalefit.weightstats.groups import (QKV_PARTS, FusedQKV, checkpoint_name, expert_matrix_names, file_pieces,
                                         fused_qkv, is_weight_tensor, join_experts, qkv_layout, spliced,
                                         split_experts, split_qkv, tensor_group)
from scalefit.weightstats.init import init_like_pythia
from scalefit.weightstats.samplers import permuted, sample_empirical, sample_family
from scalefit.weightstats.tensors import as_weights, named_weights

MODES = ("pythia", "gauss-matched", "family", "empirical", "permuted", "source")
LAW_MODES = ("gauss-matched", "family", "empirical")  # may map a tensor to its group's pooled law
EXACT_MODES = ("permuted", "source")  # need the same tensor, same shape
EMBEDDING_GROUPS = ("embed_in", "embed_pos", "embed_out")


@dataclass(frozen=True)
class InitChoice:
    """A parsed `MODE[:SOURCE]`: the mode and the source checkpoint folder (None for pythia)."""

    mode: str
    source: str | None = None

    def __str__(self) -> str:
        return self.mode if self.source is None else f"{self.mode}:{self.source}"


def parse_init(text: str) -> InitChoice:
    """`MODE[:SOURCE]` -> InitChoice; InputError naming the modes, or a missing SOURCE."""
    mode, sep, source = str(text).partition(":")
    mode = mode.strip()
    if mode not in MODES:
        raise InputError(f"--init: unknown mode '{mode}' (known: {', '.join(MODES)}; "
                         "write MODE:SOURCE with a checkpoint folder for every mode but pythia)")
    source = source.strip() or None
    if mode == "pythia" and source is not None:
        raise InputError(f"--init: mode pythia takes no SOURCE (got '{source}')")
    if mode != "pythia" and source is None:
        raise InputError(f"--init: mode {mode} needs a SOURCE checkpoint folder: {mode}:PATH")
    return InitChoice(mode, source)


@dataclass(frozen=True)
class TensorInit:
    """What one parameter became: its group, how its law was chosen, and the family drawn from."""

    name: str
    group: str
    shape: tuple
    how: str  # "tensor" (its own source tensor), "group" (pooled group law), "pythia", "constant"
    family: str = ""


@dataclass
class Reinit:
    """The re-initialized model (the same object, changed in place) and one entry per parameter."""

    model: torch.nn.Module
    mode: str
    seed: int
    source: str | None
    tensors: list[TensorInit] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"mode": self.mode, "seed": self.seed, "source": self.source,
                "tensors": [t.__dict__ for t in self.tensors]}

    def to_frame(self):
        """One row per parameter: name, group, shape, how its law was chosen, family."""
        import pandas as pd

        return pd.DataFrame([t.__dict__ for t in self.tensors], columns=[f.name for f in fields(TensorInit)])

    def __repr__(self) -> str:
        """A notebook's view in one line (the default printed the whole model and every tensor)."""
        how: dict[str, int] = {}
        for t in self.tensors:
            how[t.how] = how.get(t.how, 0) + 1
        said = ", ".join(f"{n} {h}" for h, n in how.items())
        return (f"Reinit of {type(self.model).__name__}: mode {self.mode}, seed {self.seed}"
                f"{f', source {self.source}' if self.source else ''}; {len(self.tensors)} tensors ({said}); "
                ".model, .to_frame() for one row per tensor, .to_dict()")


# ---------------------------------------------------------------- source weights


@dataclass
class SourceWeights:
    """A source's weight tensors by checkpoint name, its model_type, and how its fused QKV matrices
    split (its config's heads and layout, groups.fused_qkv: the [q], [k], [v] parts measure gives it)."""

    tensors: dict[str, torch.Tensor]
    model_type: str | None
    qkv: FusedQKV


def load_source(source) -> tuple[dict[str, torch.Tensor], str | None]:
    """(tensors by checkpoint name, model_type) of a checkpoint folder, a state dict (of tensors
    or numpy arrays) or a model (read_source: the same and how its fused QKV splits).

    Names are as the checkpoint file spells them (GPT-NeoX's head is `embed_out.weight`).
    A bad folder raises InputError with one line: missing, or holding no readable weights.
    """
    weights = read_source(source)
    return weights.tensors, weights.model_type


def read_source(source) -> SourceWeights:
    """The source's weights (see load_source), with how its fused QKV matrices split."""
    if isinstance(source, torch.nn.Module):
        config = getattr(source, "config", None)
        model_type = getattr(config, "model_type", None)
        return SourceWeights({checkpoint_name(n, model_type): p.detach().clone() for n, p in source.named_parameters()},
                             model_type, fused_qkv(model_type, config))
    if isinstance(source, Mapping):
        return SourceWeights(named_weights(source, "init source"), None, fused_qkv(None))
    from scalefit.weightstats.measure import _open_source

    path = Path(source)
    if not path.exists():
        raise InputError(f"init source {path}: no such checkpoint folder")
    if not path.is_dir():
        raise InputError(f"init source {path}: not a folder (give a checkpoint folder with "
                         "model.safetensors)")
    bin_file = path / "pytorch_model.bin"
    if not any(path.glob("*.safetensors")) and bin_file.exists():
        try:
            state = torch.load(bin_file, map_location="cpu", weights_only=True)
        except Exception as exc:  # noqa: BLE001 - a foreign or truncated pickle
            raise InputError(f"init source {bin_file}: cannot read with weights_only=True: "
                             f"{str(exc).splitlines()[0]}") from None
        tensors = {k: v for k, v in state.items() if isinstance(v, torch.Tensor)}
        model_type, qkv = None, fused_qkv(None)
    else:
        try:
            src = _open_source(path, None)
        except InputError as exc:
            raise InputError(f"init source {exc}") from None
        tensors = {name: src.fetch(name) for name in src.names}
        model_type, qkv = src.model_type, src.qkv
    tensors = {k: v for k, v in tensors.items() if is_weight_tensor(k) and v.is_floating_point()}
    if not tensors:
        raise InputError(f"init source {path}: holds no weight tensors")
    return SourceWeights(tensors, model_type, qkv)


def _per_expert(tensors: dict, model_type: str | None) -> dict:
    """`tensors` with every fused expert parameter (a loaded MoE model's, or a state dict of one)
    replaced by the per-expert matrices its saved folder holds (groups.split_experts)."""
    out = {}
    for key, value in tensors.items():
        experts = split_experts(checkpoint_name(key, model_type), value, model_type)
        out.update(experts if experts is not None else {key: value})
    return out


@dataclass(frozen=True)
class _Unfit:
    """File tensors that hold a model's piece but do not cut into the model's pieces (another size)."""

    file: list[str]
    shapes: list[tuple]
    sizes: list[int]
    dim: int

    def said(self, where: str) -> str:
        """Where the model's piece is in the source and why it does not fit: cut from one file tensor
        (Sarvam-MoE's query_key_value), or joined from several (Bailing-hybrid's q/k/v_conv1d)."""
        file, shapes, sizes = ", ".join(self.file), ", ".join(map(str, self.shapes)), ", ".join(map(str, self.sizes))
        if len(self.file) > 1:
            return (f"is joined from {file} in {where} (shapes {shapes}), which do not join into the model's "
                    f"({sizes} on dim {self.dim})")
        return (f"is a piece of {file} in {where} (shape {shapes}), "
                f"which does not cut into the model's pieces ({sizes} on dim {self.dim})")


def _as_model_holds(tensors: dict, params: dict, model_type: str | None) -> tuple[dict, dict[str, _Unfit]]:
    """`tensors` (by file name) with the tensors a file cuts otherwise than the model (groups.file_pieces:
    Sarvam-MoE's query_key_value, loaded as q_proj, k_proj, v_proj; Bailing-hybrid's q/k/v_conv1d,
    loaded as one conv1d) replaced, in their place, by the model's pieces cut or joined from them
    (named as the file would name each, checkpoint_name), so every mode takes each piece from its
    own values; and {a model piece's name: _Unfit} where the source's shapes do not fit the model
    (those are left as they are, as where the source lacks one)."""
    swaps, unfit = [], {}
    for pieces in file_pieces(list(params), model_type):
        keys = [checkpoint_name(name, model_type) for name in pieces.file]
        if not all(key in tensors for key in keys):
            continue
        names = [checkpoint_name(name, model_type) for name in pieces.loaded]
        sizes = [params[n].shape[pieces.dim] for n in pieces.loaded]
        cut = pieces.loaded_tensors([tensors[key] for key in keys], sizes)
        if cut is None:
            shapes = [tuple(tensors[key].shape) for key in keys]
            unfit.update(dict.fromkeys(names, _Unfit(keys, shapes, sizes, pieces.dim)))
        else:
            swaps.append((keys, dict(zip(names, cut))))
    return spliced(tensors, swaps), unfit


def _by_group(tensors: dict, qkv: FusedQKV, parts: bool) -> dict[str, list[torch.Tensor]]:
    """The source's tensors by group, for the law modes' pooled laws; with `parts`, a fused QKV
    matrix's q, k, v parts (split by the source's own heads, as measure splits it) join attn_q,
    attn_k, attn_v too, so a model that holds them apart (Sarvam-MoE's q_proj) draws from a source
    of another size (only then: a split copies the tensor in the neox and stacked layouts)."""
    out: dict[str, list[torch.Tensor]] = {}
    for key, value in tensors.items():
        group = tensor_group(key)
        out.setdefault(group, []).append(value)
        if parts and group == "attn_qkv" and value.ndim >= 2:
            try:
                split = qkv.split(value)
            except ValueError as exc:  # the source's config does not fit its own tensor
                raise InputError(f"init source: {key}: {exc}") from None
            for part, sub in split.items():
                out.setdefault(f"attn_{part}", []).append(sub)
    return out


def _source_experts(tensors: dict, table_name: str, param, model_type: str | None):
    """(its number of expert matrices, None) for a fused expert parameter whose every per-expert
    matrix the source holds with its shape (drawn or joined from them: groups.join_experts);
    (its number, what is missing or of another shape) where one is not; (0, None) for a
    parameter that is not a fused expert one."""
    views = split_experts(table_name, param, model_type)
    if views is None:
        return 0, None
    for key, view in views.items():
        if key not in tensors or tuple(tensors[key].shape) != tuple(view.shape):
            found = "is missing" if key not in tensors else f"has shape {tuple(tensors[key].shape)}"
            return len(views), f"{key} {found} (the model's expert matrix is {tuple(view.shape)})"
    return len(views), None


def _source_tensor(tensors: dict, name: str, model_type: str | None):
    """The source tensor of a model parameter, under its own or its checkpoint-file name."""
    for key in (name, checkpoint_name(name, model_type), checkpoint_name(name, "gpt_neox")):
        if key in tensors:
            return tensors[key]
    if name.startswith("embed_out.") and "lm_head." + name[10:] in tensors:
        return tensors["lm_head." + name[10:]]
    return None


# ---------------------------------------------------------------- one tensor


def _tensor_seed(seed: int, name: str) -> np.random.SeedSequence:
    """A seed per (seed, parameter name): draws do not depend on the order parameters are visited."""
    return np.random.SeedSequence([int(seed), zlib.crc32(name.encode())])


def _splits(values: torch.Tensor, heads: int, layout: str | None) -> bool:
    """Whether a fused QKV tensor splits into q, k, v for this many heads (join_qkv rebuilds the
    GPT-NeoX and GPT-2 layouts only: another is drawn whole)."""
    return layout in ("gpt2", "neox") and values.shape[-1 if layout == "gpt2" else 0] % (3 * (1 if layout == "gpt2" else heads)) == 0


def _flat(values) -> torch.Tensor:
    if isinstance(values, (torch.Tensor, np.ndarray)):
        return as_weights(values).reshape(-1).double()
    return torch.cat([as_weights(v).reshape(-1).double() for v in values])


def draw(mode: str, values, shape, *, seed) -> tuple[torch.Tensor, str]:
    """A float64 tensor of `shape` drawn by a law mode from `values` (a tensor or a list pooled),
    and the family name (family mode) or 'constant' for a point mass; permuted needs one tensor."""
    flat = _flat(values)
    rng = np.random.default_rng(seed)
    mean, std = float(flat.mean()), float(flat.std(unbiased=False))
    if mode == "permuted":
        return permuted(flat.reshape(shape), seed=rng), ""
    if not std > 0:
        return torch.full(tuple(shape), mean, dtype=torch.float64), "constant"
    if mode == "gauss-matched":
        return torch.as_tensor(mean + std * rng.standard_normal(tuple(shape))), ""
    if mode == "empirical":
        return sample_empirical(flat, shape, seed=rng, dtype=torch.float64), ""
    if mode == "family":
        fits = fit_families(standardized_histogram(flat))
        best = fits.fits[fits.best]
        return sample_family(best, shape, seed=rng, dtype=torch.float64), best.family
    raise InputError(f"re-init: unknown mode '{mode}' (known: {', '.join(MODES)})")


def join_qkv(parts: dict, num_heads: int, layout: str = "neox") -> torch.Tensor:
    """The inverse of groups.split_qkv: q, k, v back into one fused QKV weight (or bias)."""
    if layout == "gpt2":
        return torch.cat([parts["q"], parts["k"], parts["v"]], dim=-1)
    rest = parts["q"].shape[1:]
    per_head = [parts[p].reshape(num_heads, -1, *rest) for p in "qkv"]
    return torch.stack(per_head, dim=1).reshape(-1, *rest)


def draw_fused_qkv(mode: str, values: torch.Tensor, shape, *, seed, num_heads: int, layout: str):
    """A fused QKV tensor drawn part by part (q, k and v each from its own law), so a mode keeps
    each part's marginal, not only their mixture; `permuted` stays a permutation of the tensor."""
    parts, families = {}, []
    seeds = seed.spawn(3)  # a SeedSequence: one child per part
    for (part, source_part), part_seed in zip(split_qkv(values, num_heads, layout).items(), seeds):
        parts[part], family = draw(mode, source_part, tuple(source_part.shape), seed=part_seed)
        families.append(family)
    return join_qkv(parts, num_heads, layout).reshape(shape), "/".join(dict.fromkeys(f for f in families if f))


def draw_fused_experts(mode: str, tensors: dict, name: str, num_experts: int, model_type: str | None, *, seed: int):
    """A fused expert parameter drawn matrix by matrix: each expert's gate, up and down matrix from
    its own source matrix's law, seeded by that matrix's file name (as a model holding its experts
    apart would draw it), joined back by groups.join_experts; `permuted` permutes within each."""
    drawn, families = {}, []
    for key in (key for row in expert_matrix_names(name, num_experts, model_type) for key in row):
        drawn[key], family = draw(mode, tensors[key], tuple(tensors[key].shape), seed=_tensor_seed(seed, key))
        families.append(family)
    return join_experts(name, drawn, num_experts, model_type), "/".join(dict.fromkeys(f for f in families if f))


# ---------------------------------------------------------------- the model


@torch.no_grad()
def reinit(model: torch.nn.Module, source=None, mode: str = "pythia", seed: int = 0, *,
           embeddings: str = "same") -> Reinit:
    """Re-initialize every parameter of `model` in place from `source` by `mode` (see the module).

    `source`: a checkpoint folder, a state dict or a model (None for pythia). `seed` drives every
    draw (the same seed gives the same tensors). `embeddings`: "same" (follow the mode) or
    "pythia" (keep Pythia's init). Shapes and dtypes of the model's parameters never change.
    """
    if mode not in MODES:
        raise InputError(f"re-init: unknown mode '{mode}' (known: {', '.join(MODES)})")
    if embeddings not in ("same", "pythia"):
        raise InputError(f"re-init: embeddings must be 'same' or 'pythia', got '{embeddings}'")
    source_label = None if source is None or isinstance(source, (Mapping, torch.nn.Module)) else str(source)
    result = Reinit(model, mode, int(seed), source_label)
    params = [(n, p) for n, p in model.named_parameters() if is_weight_tensor(n)]
    if mode == "pythia" or embeddings == "pythia":
        init_like_pythia(model, seed=seed)
    if mode == "pythia":
        result.tensors = [TensorInit(n, tensor_group(n), tuple(p.shape), "pythia") for n, p in params]
        return result
    if source is None:
        raise InputError(f"re-init: mode {mode} needs a source checkpoint")
    weights = read_source(source)
    source_type = weights.model_type
    model_type = getattr(getattr(model, "config", None), "model_type", None) or source_type
    tensors, unfit = _as_model_holds(_per_expert(weights.tensors, source_type or model_type), dict(params), model_type)
    model_groups = {tensor_group(checkpoint_name(name, model_type)) for name, _ in params}
    parts = mode in LAW_MODES and bool(model_groups & set(QKV_PARTS))  # drawn from only where the model holds them
    by_group = _by_group(tensors, weights.qkv, parts)
    # groups a law mode could draw from (the refusals' advice): the parts too, unsplit, where the source's QKV splits
    # (its law mode would refuse a fused QKV its config does not split: then say so, from shapes)
    drawable, fused = set(by_group), [(k, v) for k, v in tensors.items() if tensor_group(k) == "attn_qkv" and v.ndim >= 2]
    unsplit = next((f"{key}: {why}" for key, value in fused if (why := weights.qkv.unfit(tuple(value.shape)))), None)
    if weights.qkv.splits and fused and unsplit is None:
        drawable |= set(QKV_PARTS)
    where = source_label or "the source"
    heads = getattr(getattr(model, "config", None), "num_attention_heads", None)
    layout = qkv_layout(model_type)
    for name, param in params:
        table_name = checkpoint_name(name, model_type)  # PhiMoE's mlp.router is its block_sparse_moe.gate
        group = tensor_group(table_name)
        if embeddings == "pythia" and group in EMBEDDING_GROUPS:
            result.tensors.append(TensorInit(name, group, tuple(param.shape), "pythia"))
            continue
        n_experts, experts_missing = _source_experts(tensors, table_name, param, model_type)
        joined = n_experts > 0 and experts_missing is None  # a fused expert parameter, from its per-expert matrices
        own = None if n_experts else _source_tensor(tensors, name, model_type)
        if group in drawable:
            by_law = f"a law mode ({', '.join(LAW_MODES)}) draws it from the source's {group} group instead"
        elif unsplit and group in QKV_PARTS:
            by_law = (f"nor can a law mode ({', '.join(LAW_MODES)}) draw it from the source's fused QKV: "
                      f"{where}'s config does not fit it ({unsplit})")
        else:
            by_law = f"nor can a law mode ({', '.join(LAW_MODES)}) draw it: {where} has no tensor of group {group}"
        if joined:  # joined into one tensor only to be copied (source); drawn matrix by matrix below
            values, how = None, "tensor"
        elif own is not None and tuple(own.shape) == tuple(param.shape):
            values, how = own, "tensor"
        elif mode in EXACT_MODES and experts_missing:
            raise InputError(f"re-init {mode}: tensor {name} is a fused expert parameter; its {experts_missing} "
                             f"in {where}; {mode} takes each of its {n_experts} expert matrices from the "
                             f"source's matrix of that name at the model's shape; {by_law}")
        elif mode in EXACT_MODES:
            found = ("is missing" if own is None else f"has shape {tuple(own.shape)}") + f" in {where}"
            found = unfit[table_name].said(where) if own is None and table_name in unfit else found
            raise InputError(f"re-init {mode}: tensor {name} {found}, the model's is "
                             f"{tuple(param.shape)}; {mode} takes it from a source tensor of that name and "
                             f"shape, as a checkpoint of the model's architecture and size holds; {by_law}")
        elif group in by_group:
            values, how = by_group[group], "group"
        else:
            raise InputError(f"re-init {mode}: {where} has no tensor of group {group} "
                             f"(for {name}, shape {tuple(param.shape)})")
        if mode == "source":
            new = join_experts(table_name, tensors, param.shape[0], model_type) if joined else values
            family = ""
        elif joined:
            new, family = draw_fused_experts(mode, tensors, table_name, param.shape[0], model_type, seed=seed)
        elif how == "tensor" and group == "attn_qkv" and heads and _splits(values, heads, layout):
            new, family = draw_fused_qkv(mode, values, tuple(param.shape), seed=_tensor_seed(seed, name),
                                         num_heads=heads, layout=layout)
        else:
            new, family = draw(mode, values, tuple(param.shape), seed=_tensor_seed(seed, name))
            how = "constant" if family == "constant" else how
            family = "" if family == "constant" else family
        param.copy_(new.to(dtype=param.dtype, device=param.device).reshape(param.shape))
        result.tensors.append(TensorInit(name, group, tuple(param.shape), how, family))
    return result

"""The statistics pass: every weight tensor of one checkpoint, and every group, as long rows.

`weight_stats_table(source, model=..., step=...)` returns (model, step, tensor, group, layer,
stat, value) rows for a model in memory (nn.Module), a checkpoint folder (safetensors: a
`model.safetensors` or a sharded `model.safetensors.index.json`), a `.safetensors` file or a
state dict of tensors or numpy arrays. Tensors are read one at a time, so a folder never has to fit in memory twice.
A folder whose config ties the word embeddings but whose file stores the output matrix too is
read as transformers 5 loads it: one tensor where the two hold the same values, both (and a
warning that the tie does not hold) where they differ.

Rows, per tensor (moments for all; spectra and fitted families for matrices, ndim >= 2):
  count mean std rms skew excess_kurtosis q0.001 ... q0.999 max_abs frac_3sd frac_6sd frobenius
  sv_max stable_rank entropy_rank alpha alpha_xmin alpha_ks alpha_n_tail alpha_weighted
  <f>_<param> <f>_loglik <f>_aic <f>_bic <f>_ks   for f the prefix of each registered family:
                                                   gaussian, t, logistic, laplace, gennorm,
                                                   quartic (t = Student-t)
  e.g. t_nu t_loc t_scale, gennorm_beta, quartic_g quartic_gamma, logistic_scale
  best_family: the family with the lowest BIC, by name in the `label` column ("student_t");
  `value` is always numeric and holds the family's fixed `code` (0 gaussian, 1 student_t,
  2 logistic, 3 laplace, 4 gennorm, 5 quartic; a registered family brings its own), which never
  depends on the order of `FAMILIES`. `label` is empty on every other row.
A tensor holding NaN or inf (a diverged run) gets only `count` and `nonfinite` (how many
elements are not finite): no statistic of it means anything. Its group's row gets the same two
(the group's counts), not statistics of the finite tensors alone, which would make the group's
trajectory jump where a tensor went bad.
A fused QKV matrix (GPT-NeoX, GPT-2, BLOOM, Falcon, StarCoder, Phi-3, MPT: groups.fused_qkv)
also gets rows for its Q, K and V parts, named `<tensor>[q]` etc. in groups attn_q/attn_k/attn_v.
The fused 3-d experts of a mixture-of-experts model loaded by transformers 5 (the layouts
groups.expert_layout reads from transformers' conversion_mapping: Mixtral, PhiMoE, Qwen2/3-MoE,
OLMoE, DeepSeek-V2/V3, GLM-4-MoE, MiniMax, Hunyuan-MoE, ERNIE-4.5-MoE, dots1, FlexOlmo, LFM2-MoE
and others; groups.split_experts) are measured per expert instead, named as its saved folder
names them, so the loaded model and the folder give the same rows (Granite-MoE's, fused in its
file too, whole under the file's names). Likewise a loaded model's tensors that its file cuts
otherwise (groups.file_pieces, from the same mapping) are measured as the file holds them:
Sarvam-MoE's and Param2MoE's q_proj, k_proj, v_proj joined into query_key_value (its row, then
its [q], [k], [v] rows), Bailing-hybrid's conv1d cut into q_conv1d, k_conv1d, v_conv1d.

Quantiles are exact order statistics up to EXACT_QUANTILES_MAX (4M) elements, and read off the
fine histogram (bins ~0.01 std wide) above that, e.g. for large embeddings.
Group rows have tensor "*" and layer -1: moments pooled exactly over the group's tensors,
quantiles and tail fractions from the pooled fine histogram, families fitted to the pooled
weights, and spectral statistics as the mean over the group's matrices.
"""
from __future__ import annotations

import functools
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator, Mapping

import numpy as np
import pandas as pd
import torch

from scalefit.errors import InputError, a_type, warn
from scalefit.options import nonnegative_int, positive_int, torch_device
from scalefit.weightstats.binned_fit import fit_families, one_blas_thread, standardized_histogram
from scalefit.weightstats.families import FamilyFacts, family_by_code, get_family
from scalefit.weightstats.groups import (GROUPS, NO_LAYER, QKV_PARTS, FusedQKV, checkpoint_name, expert_matrix,
                                         file_pieces, fused_experts, fused_qkv, is_weight_tensor, spliced,
                                         split_experts, tensor_role)
from scalefit.weightstats.moments import (QUANTILES, CentralMoments, central_moments, quantile_name,
                                          quantiles, shape_stats)
from scalefit.weightstats.spectra import SPECTRUM_STATS, spectrum_stats
from scalefit.weightstats.tensors import STATE_DICT, as_weights, named_weights

COLUMNS = ("model", "step", "tensor", "group", "layer", "stat", "value", "label")
GROUP_TENSOR = "*"
# Live read-only views of the families' records (families.FAMILIES): each family's prefix in the
# stat names, and its fixed code, the numeric `value` of best_family rows (the name is in `label`).
FAMILY_PREFIX = FamilyFacts("prefix", "measure.FAMILY_PREFIX")
FAMILY_CODES = FamilyFacts("code", "measure.FAMILY_CODES")
# above this many elements a tensor's quantiles come from its fine histogram (within ~0.01 std of
# the exact order statistic) instead of a partition that costs more than every other statistic
EXACT_QUANTILES_MAX = 1 << 22


def family_name(code) -> str:
    """The family a `best_family` value (its fixed code) stands for."""
    return family_by_code(code).name


@dataclass
class _Member:
    """One measured tensor: where it sits, its moments, and how to read it again for its group."""

    name: str
    group: str
    layer: int
    ndim: int
    moments: CentralMoments
    fetch: Callable[[], torch.Tensor]
    spectra: dict = field(default_factory=dict)


# ---- sources --------------------------------------------------------------------------------

@dataclass
class _Source:
    names: list[str]
    fetch: Callable[[str], torch.Tensor]
    model_type: str | None = None
    qkv: FusedQKV = field(default_factory=lambda: fused_qkv(None))
    left_out: str | None = None  # a stored name not measured (a tied output embedding's copy)
    loaded: bool = False  # names as a model loaded by transformers spells them (checkpoint_name reverses its renames)


def safetensors_files(folder: Path, missing_ok: bool = False) -> list[Path]:
    """The weight files of a checkpoint folder: the shards its model.safetensors.index.json
    names (listed even where missing, for the reader to name), else model.safetensors, else
    every *.safetensors; InputError where there is none ([] with ``missing_ok``, for a caller
    that reads pickle weights itself). A stray copy beside them (Mistral's
    consolidated.safetensors) is not a weight file of the model."""
    index = folder / "model.safetensors.index.json"
    if index.exists():
        try:
            shards = sorted(set(json.loads(index.read_text())["weight_map"].values()))
        except (ValueError, KeyError) as exc:
            raise InputError(f"{index}: not a safetensors index ({exc})") from None
        return [folder / s for s in shards]
    single = folder / "model.safetensors"
    if single.exists():
        return [single]
    found = sorted(folder.glob("*.safetensors"))
    if found or missing_ok:
        return found
    pickles = sorted(p.name for p in folder.glob("*.bin"))
    if pickles:  # an older hub revision or a trainer's torch.save: say how to measure it
        raise InputError(f"{folder}: holds only pickle weights ({', '.join(pickles[:2])}"
                         f"{' ...' if len(pickles) > 2 else ''}); weights are read from safetensors only: "
                         "convert a trusted copy to safetensors, or measure the loaded model with "
                         "`scalefit eval --weights --allow-bin` (torch.load(weights_only=True))")
    raise InputError(f"{folder}: no model.safetensors or model.safetensors.index.json "
                     "(weights are read from safetensors only)")


def _from_files(files: list[Path], config: dict, say: bool = True) -> _Source:
    from safetensors import safe_open

    where: dict[str, Path] = {}
    for path in files:
        if not path.exists():
            raise InputError(f"{path}: safetensors shard not found")
        try:
            with safe_open(str(path), framework="pt") as fh:
                for key in fh.keys():
                    where[key] = path
        except Exception as exc:  # noqa: BLE001 - a truncated or foreign file
            raise InputError(f"{path}: cannot read as safetensors: {str(exc).splitlines()[0]}") from None

    stored = _module_names(list(where), config.get("model_type"))  # table name -> name in the file

    def fetch(name: str) -> torch.Tensor:
        with safe_open(str(where[stored[name]]), framework="pt") as fh:
            return fh.get_tensor(stored[name])

    tied = _tied_copy(list(stored), fetch, config, files[0].parent, say=say)
    names = [n for n in stored if n != tied]
    source = _Source(names, fetch, config.get("model_type"), fused_qkv(config.get("model_type"), config))
    source.left_out = stored[tied] if tied else None
    return source


def tied_copy_stored(names, get_tensor, config: dict, where=None) -> str | None:
    """The stored name, among ``names`` (tensor names as in the files; ``get_tensor(name)`` reads
    one), of an output embedding that the config ties to the input one and that holds the same
    values: transformers loads one parameter for both, so weight statistics measure it once and
    parameter counts count it once. None where none is."""
    stored = _module_names(list(names), config.get("model_type"))  # name in memory -> in the file
    tied = _tied_copy(list(stored), lambda name: get_tensor(stored[name]), config, where, say=False)
    return stored[tied] if tied else None


def folder_config(folder: Path) -> dict:
    """The checkpoint folder's config.json as a dict ({} where it has none)."""
    path = Path(folder) / "config.json"
    return json.loads(path.read_text()) if path.exists() else {}


def _tied_copy(names: list[str], fetch, config: dict, where, say: bool = True) -> str | None:
    """The stored output embedding to leave out because the model ties it to the input one: where
    the config ties the word embeddings and the file stores both, transformers 5 ties them only
    when their values are identical (then one parameter, measured once, as `eval --weights`
    measures the loaded model); when they differ it loads both, and so are both measured here,
    with a warning that the config's tie does not hold. None where nothing is left out."""
    inputs = [n for n in names if tensor_role(n).group == "embed_in"]
    outputs = [n for n in names if tensor_role(n).group == "embed_out"]
    if len(inputs) != 1 or len(outputs) != 1 or not _config_ties(config):
        return None
    embedding, output = fetch(inputs[0]), fetch(outputs[0])
    if embedding.shape == output.shape and embedding.dtype == output.dtype and torch.equal(embedding, output):
        return outputs[0]
    if say:  # once, by the weight statistics (a parameter count reads the same folder)
        warn(f"{where}: config.json ties the word embeddings (tie_word_embeddings) but {outputs[0]} holds "
             f"other values than {inputs[0]}; the tie does not hold (transformers loads them untied): "
             "both are measured")
    return None


def _config_ties(config: dict) -> bool:
    """Whether a config.json ties the output embedding to the input one: its tie_word_embeddings,
    else the default of transformers' config class for its model_type (False where unknown)."""
    if "tie_word_embeddings" in config:
        return bool(config["tie_word_embeddings"])
    try:
        from transformers import AutoConfig

        return bool(AutoConfig.for_model(config["model_type"]).tie_word_embeddings)
    except Exception:  # noqa: BLE001 - no transformers, no model_type, or one it does not know
        return False


HEAD_NAMES = ("lm_head.", "embed_out.")  # the output layer, outside the base model in every class
_TOP_BLOCKS = re.compile(r"(?:decoder\.)?(?:layers|h|blocks|layer)\.\d+\.")


def _module_names(names: list[str], model_type: str | None) -> dict[str, str]:
    """{name as the model in memory spells it: name in the file}. Hub files written from the base
    model (GPT-2's, BLOOM's; OPT's .bin) lack its prefix ('h.0.attn.c_attn.weight' for
    'transformer.h.0.attn.c_attn.weight'): with it, `scalefit weights` and `eval --weights` name a
    tensor alike. Unchanged where some name has the prefix, the class is not known here, or
    transformers' mapping itself adds it on load (Ergo's ^layers. -> model.layers.: the file's
    names are without it, as checkpoint_name gives a loaded model's)."""
    body = [n for n in names if not n.startswith(HEAD_NAMES)]
    # only names whose blocks sit at the top need transformers' class (seconds to import)
    top = next((n for n in body if _TOP_BLOCKS.match(n)), None)
    prefix = _base_model_prefix(model_type) if top else None
    if not prefix or any(n.startswith(prefix + ".") for n in body) or checkpoint_name(f"{prefix}.{top}", model_type) == top:
        return {n: n for n in names}
    return {(n if n.startswith(HEAD_NAMES) else f"{prefix}.{n}"): n for n in names}


def _base_model_prefix(model_type: str | None) -> str | None:
    """The attribute that holds the base model in transformers' causal-LM class of model_type."""
    if not model_type:
        return None
    try:
        from transformers import MODEL_FOR_CAUSAL_LM_MAPPING, AutoConfig

        return MODEL_FOR_CAUSAL_LM_MAPPING[type(AutoConfig.for_model(model_type))].base_model_prefix or None
    except Exception:  # noqa: BLE001 - no transformers, or a model type it does not know
        return None


def _as_file_holds(params: dict, model_type: str | None):
    """(names, fetch) of a loaded model's parameters cut as its file cuts them (groups.file_pieces:
    Sarvam-MoE's q_proj, k_proj, v_proj joined into query_key_value, Bailing-hybrid's conv1d cut
    into q_conv1d, k_conv1d, v_conv1d), each listed where its first loaded tensor is; the others
    as they are. Names before checkpoint_name, which the table applies to all."""
    readers = spliced({name: param.detach for name, param in params.items()},
                      ((pieces.loaded, {name: functools.partial(_file_piece, params, pieces, i)
                                        for i, name in enumerate(pieces.file)})
                       for pieces in file_pieces(list(params), model_type)))
    return list(readers), lambda name: readers[name]()


def _file_piece(params: dict, pieces, index: int) -> torch.Tensor:
    """The file's tensor `index` of `pieces`, cut or joined from the loaded model's `params`."""
    return pieces.file_tensors([params[n].detach() for n in pieces.loaded])[index]


def _open_source(source, num_heads: int | None) -> _Source:
    if isinstance(source, torch.nn.Module):
        config = getattr(source, "config", None)
        model_type = getattr(config, "model_type", None)
        names, fetch = _as_file_holds(dict(source.named_parameters()), model_type)
        src = _Source(names, fetch, model_type, fused_qkv(model_type, config), loaded=True)
    elif isinstance(source, Mapping):
        tensors = named_weights(source)
        src = _Source(list(tensors), lambda name: tensors[name])
    elif isinstance(source, (str, Path)):
        path = Path(source)
        if path.is_dir():
            src = _from_files(safetensors_files(path), folder_config(path))
        elif path.suffix == ".safetensors":
            src = _from_files([path], folder_config(path.parent))
        elif path.exists():
            raise InputError(f"{path}: weights are read from safetensors only (a folder or a .safetensors file)")
        else:
            raise InputError(f"{path}: no such checkpoint folder or file")
    elif isinstance(source, (torch.Tensor, np.ndarray)):
        raise InputError(f"weight statistics: weight_stats_table reads a whole model (an nn.Module, a state "
                         f"dict, a checkpoint folder), not one {type(source).__name__}: for one tensor use "
                         f"tensor_stats(values), or weight_stats_table({{'name': values}}) for its rows")
    else:
        raise InputError(f"weight statistics: cannot read weights from {a_type(source)} (give an "
                         f"nn.Module, a state dict {STATE_DICT}, a checkpoint folder or a .safetensors file)")
    if num_heads is not None:  # the caller's count of query heads (key/value heads: the config's, else as many)
        kv = src.qkv.num_kv_heads if src.qkv.num_heads == num_heads else num_heads
        src.qkv = FusedQKV(src.qkv.layout, num_heads, kv)
    return src


# ---- one tensor -----------------------------------------------------------------------------

def _family_rows(fits) -> dict[str, float]:
    out = {}
    for name, fit in fits.fits.items():
        prefix = get_family(name).prefix
        for key, value in fit.values().items():
            out[f"{prefix}_{key}"] = value
    out["best_family"] = float(get_family(fits.best).code)
    return out


def _histogram_stats(values, cm: CentralMoments, *, exact_quantiles, fit: bool) -> dict[str, float]:
    """Quantiles, tail fractions and fitted families from one fine histogram (plus exact quantiles)."""
    out: dict[str, float] = {}
    std = cm.std
    if not std > 0:  # constant tensor (layer norms at init): every quantile is the value
        out.update({quantile_name(q): cm.mean for q in QUANTILES})
        out["frac_3sd"] = out["frac_6sd"] = 0.0
        return out
    z_max = max(cm.max - cm.mean, cm.mean - cm.min) / std
    hist = standardized_histogram(values, mean=cm.mean, std=std, z_max=z_max)
    qs = exact_quantiles if exact_quantiles is not None else hist.quantiles(QUANTILES)
    out.update({quantile_name(q): float(v) for q, v in zip(QUANTILES, qs)})
    out["frac_3sd"], out["frac_6sd"] = hist.beyond[0] / cm.n, hist.beyond[1] / cm.n
    if fit:
        out.update(_family_rows(fit_families(hist)))
    return out


def _tensor_stats(values: torch.Tensor, fit: bool, spectra: bool) -> tuple[dict, CentralMoments]:
    """The tensor's statistics and moments; a tensor with non-finite elements gets only `count` and
    `nonfinite`, and empty moments (n = 0), so no group pools it."""
    cm = central_moments(values)
    if cm.n and not math.isfinite(cm.mean):  # a NaN or inf poisons the float64 mean: only then count them
        nonfinite = int(values.numel() - torch.isfinite(values).sum())
        return {"count": float(values.numel()), "nonfinite": float(nonfinite)}, central_moments(values[:0])
    out = shape_stats(cm)
    if cm.n == 0:
        return out, cm
    exact = quantiles(values) if cm.n <= EXACT_QUANTILES_MAX else None
    out.update(_histogram_stats(values, cm, exact_quantiles=exact, fit=fit and values.ndim >= 2))
    if spectra and values.ndim >= 2 and min(values.shape[0], values[0].numel()) >= 2:
        out.update(spectrum_stats(values))
    return out, cm


def tensor_stats(values, *, fit_families: bool = True, spectra: bool = True) -> dict[str, float]:
    """Every statistic of one tensor or numpy array, as {stat: value} (spectra and families for
    matrices only)."""
    values = as_weights(values, "tensor_stats")
    with torch.no_grad(), one_blas_thread():
        return _tensor_stats(values, fit_families, spectra)[0]


# ---- the table --------------------------------------------------------------------------------

def _parts(name: str, tensor: torch.Tensor, src: _Source, split: bool):
    """(name, group, layer, tensor, pick) for a tensor and, for a fused QKV matrix, its Q, K, V; a
    fused expert parameter gives its experts' matrices in its place (whatever `split`: they are the
    tensors the checkpoint file holds). `pick` cuts that part from the whole tensor again."""
    experts = split_experts(name, tensor, src.model_type)
    if experts is not None:
        per_expert = len(experts) // tensor.shape[0]  # matrices per expert (gate and up, or down)
        for i, (expert_name, matrix) in enumerate(experts.items()):
            role = tensor_role(expert_name)
            yield (expert_name, role.group, role.layer, matrix,
                   functools.partial(expert_matrix, expert=i // per_expert, index=i % per_expert, count=per_expert))
        return
    role = tensor_role(name)
    yield name, role.group, role.layer, tensor, _whole
    if split and role.group == "attn_qkv" and tensor.ndim >= 2:
        for part, sub in src.qkv.split(tensor).items():
            yield f"{name}[{part}]", f"attn_{part}", role.layer, sub, functools.partial(_qkv_part, src.qkv, part)


def _whole(tensor: torch.Tensor) -> torch.Tensor:
    return tensor


def _qkv_part(qkv: FusedQKV, part: str, tensor: torch.Tensor) -> torch.Tensor:
    return qkv.split(tensor)[part]


def weight_stats_table(source, model: str = "model", step: int = 0, device=None, fit_families: bool = True,
                       spectra: bool = True, *, groups: bool = True, split: bool = True,
                       num_heads: int | None = None, progress: bool = False) -> pd.DataFrame:
    """Long table (model, step, tensor, group, layer, stat, value, label) of one checkpoint's
    weights; `label` names the family on best_family rows (whose value is its code), else empty.

    `source`: an nn.Module, a checkpoint folder / .safetensors file, or a state dict {name:
    tensor or numpy array} (for one tensor's statistics, `tensor_stats`). `device`
    (e.g. "cuda"; "auto": a GPU where there is one) moves each tensor there for the
    computation; None keeps it where it is.
    `num_heads` (read from the model's config when there is one) lets a fused QKV be split
    into Q, K, V (a state dict's as GPT-NeoX's; an architecture whose layout groups.fused_qkv
    does not know is measured whole); `split=False` leaves out those Q, K, V rows. A loaded
    model's fused experts are measured per expert either way (groups.split_experts).
    Group rows have tensor "*" (see the module docstring for the stats).
    """
    step = nonnegative_int("step", step)  # the table's step: a whole number >= 0, as in every table
    if num_heads is not None:
        num_heads = positive_int("num_heads", num_heads)
    src = _open_source(source, num_heads)
    names = [n for n in src.names if is_weight_tensor(n)]
    if device == "auto":  # as the commands' --device auto: a GPU where there is one
        device = "cuda" if torch.cuda.is_available() else None
    dev = torch.device(torch_device("device", device)) if device is not None else None
    rows: list[tuple] = []
    members: list[_Member] = []
    nonfinite: dict[str, float] = {}  # group -> its tensors' non-finite elements
    counts: dict[str, float] = {}  # group -> its tensors' elements

    iterator = names
    if progress:
        from tqdm import tqdm
        iterator = tqdm(names, desc=f"{model} step {step}", unit="tensor", leave=False)
    with torch.no_grad(), one_blas_thread():
        for name in iterator:
            tensor = _moved(src.fetch(name), dev)
            table_name = checkpoint_name(name, src.model_type, loaded=src.loaded)
            for part_name, group, layer, values, pick in _parts(table_name, tensor, src, split):
                stats, cm = _tensor_stats(values, fit_families, spectra)
                rows += [(part_name, group, layer, stat, value) for stat, value in stats.items()]
                counts[group] = counts.get(group, 0.0) + stats["count"]
                if "nonfinite" in stats:
                    nonfinite[group] = nonfinite.get(group, 0.0) + stats["nonfinite"]
                if groups and cm.n:
                    members.append(_Member(part_name, group, layer, values.ndim, cm,
                                           _refetch(src, name, pick, dev),
                                           {k: stats[k] for k in SPECTRUM_STATS if k in stats}))
            del tensor
        if groups:
            rows += _group_rows([m for m in members if m.group not in nonfinite], fit_families)
            for group, k in nonfinite.items():
                rows += [(GROUP_TENSOR, group, NO_LAYER, "count", counts[group]),
                         (GROUP_TENSOR, group, NO_LAYER, "nonfinite", k)]
    df = pd.DataFrame(rows, columns=["tensor", "group", "layer", "stat", "value"])
    df.insert(0, "step", int(step))
    df.insert(0, "model", model)
    df["layer"] = df["layer"].astype("int64")
    df["value"] = df["value"].astype("float64")
    best = df["stat"] == "best_family"
    df["label"] = None
    df.loc[best, "label"] = df.loc[best, "value"].map(family_name)
    return df


def measurable_stats() -> pd.DataFrame:
    """The rows a weights sweep writes, on a small matrix and a diverged one: their statistic names
    (and labels) are what a --stat or --stats can name, known before a sweep has measured anything."""
    probe = {"layers.0.mlp.dense_h_to_4h.weight": torch.randn(16, 16, generator=torch.Generator().manual_seed(0)),
             "layers.0.mlp.dense_4h_to_h.weight": torch.full((4, 4), float("nan"))}
    return weight_stats_table(probe)


def _moved(tensor: torch.Tensor, dev) -> torch.Tensor:
    """`tensor` on the device `dev` (None: where it is), the one place a weight changes device."""
    return tensor.to(dev) if dev is not None else tensor


def _refetch(src, name, pick, dev):
    """A closure that reads one tensor (or one part of it: an expert's matrix, a Q/K/V part, cut by
    `pick` from the tensor as the source holds it) again for its group's pass, so only the part
    goes to `dev` (not the whole fused expert tensor once per expert)."""
    return lambda: _moved(pick(src.fetch(name)), dev)


def _group_rows(members: list[_Member], fit: bool) -> list[tuple]:
    rows = []
    by_group: dict[str, list[_Member]] = {}
    for m in members:
        by_group.setdefault(m.group, []).append(m)
    for group, ms in by_group.items():
        cm = ms[0].moments
        for m in ms[1:]:
            cm = cm.combine(m.moments)
        stats = shape_stats(cm)
        matrices = all(m.ndim >= 2 for m in ms)
        lazily = (m.fetch() for m in ms)  # one tensor in memory at a time
        stats.update(_histogram_stats(lazily, cm, exact_quantiles=None, fit=fit and matrices))
        spectral = [m.spectra for m in ms if m.spectra]
        for key in SPECTRUM_STATS:
            vals = [s[key] for s in spectral if key in s and math.isfinite(s[key])]
            if vals:
                stats[key] = float(np.mean(vals))
        rows += [(GROUP_TENSOR, group, NO_LAYER, stat, value) for stat, value in stats.items()]
    return rows


def select_tensors(source, what: str, *, num_heads: int | None = None, split: bool = True) -> list[tuple[str, torch.Tensor]]:
    """The tensors of one group (e.g. 'mlp_in') or the one tensor named `what` ('<qkv>[q]' too)."""
    return list(group_tensors(source, what, num_heads=num_heads, split=split)())


def group_tensors(source, what: str, *, num_heads: int | None = None,
                  split: bool = True) -> Callable[[], Iterator[tuple[str, torch.Tensor]]]:
    """select_tensors one at a time: a function that makes a fresh generator of (name, tensor) of
    the group or tensor `what` on each call, reading each tensor as it is reached, so a pass over
    a group too large to hold (a 30B MoE's expert_in) keeps about one tensor in memory. A `what`
    that no name of the checkpoint can hold is refused at once, naming the groups it holds."""
    src = _open_source(source, num_heads)
    names = [n for n in src.names if is_weight_tensor(n)]
    where = source if isinstance(source, (str, Path)) else a_type(source)  # not a model's repr
    missing = f"{where}: no tensor or group '{what}'"
    table_names = {n: checkpoint_name(n, src.model_type, loaded=src.loaded) for n in names}
    wanted = [(n, t) for n, t in table_names.items() if _may_hold(t, what, src, split)]
    if not wanted:
        held = ", ".join(_groups_held(list(table_names.values()), src, split))
        raise InputError(f"{missing} (its groups: {held or 'none'})")

    def tensors():
        found = False
        for name, table_name in wanted:
            for part_name, group, _, values, _ in _parts(table_name, src.fetch(name), src, split):
                if what in (group, part_name):
                    found = True
                    yield part_name, values
                del values  # before the next tensor is read
        if not found:  # a name's prefix, but no part of it ('<expert>.9.w1.weight' of 8 experts)
            raise InputError(missing)

    return tensors


def _may_hold(table_name: str, what: str, src: _Source, split: bool) -> bool:
    """Whether the tensor `table_name` (or a part of it: a fused expert's matrix, a fused QKV's
    q, k or v where _parts splits it) may be `what`, a group or a tensor's name, judged by names alone."""
    group = tensor_role(table_name).group
    experts = fused_experts(table_name, src.model_type)  # a loaded model's: one name per expert
    qkv_parts = split and group == "attn_qkv" and src.qkv.splits
    return (what == group or what == table_name
            or (experts is not None and what.startswith(experts[0] + "."))
            or (qkv_parts and what in (*QKV_PARTS, *(f"{table_name}[{p}]" for p in "qkv"))))


def _groups_held(table_names: list[str], src: _Source, split: bool) -> list[str]:
    """The groups of these tensors in GROUPS' order, with attn_q, attn_k and attn_v where a fused
    QKV matrix splits (as _parts splits it)."""
    held = {tensor_role(name).group for name in table_names}
    if split and "attn_qkv" in held and src.qkv.splits:
        held |= set(QKV_PARTS)
    return [group for group in GROUPS if group in held]

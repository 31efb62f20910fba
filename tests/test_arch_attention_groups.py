"""Attention tensors beyond q, k, v and the output on tiny random models: gated attention's output
gate (attn_gate), DeepSeek Sparse Attention's indexer (attn_indexer), learned sink logits
(attn_sink), linear attention's input projections, short convolution and decay parameters
(linear_attn_in / _conv / _decay); and MiniMax's lightning-attention qkv_proj split into the
q, k, v its forward reads. Each was 'other' (the qkv_proj was measured whole only).
"""
from __future__ import annotations

import os
import re

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from test_arch_renamed import _configs, tiny_model  # noqa: E402

from scalefit.weightstats.groups import GROUPS, checkpoint_name, is_weight_tensor, tensor_group  # noqa: E402
from scalefit.weightstats.measure import select_tensors, weight_stats_table  # noqa: E402

os.environ.setdefault("HF_HUB_OFFLINE", "1")
torch.set_num_threads(1)

# model_type: {the tensor's name in its block (as the file names it): group}, every tensor of
# these kinds the tiny model holds
EXPECTED = {
    "minimax": {"self_attn.output_gate.weight": "attn_gate", "self_attn.qkv_proj.weight": "attn_qkv"},
    "afmoe": {"self_attn.gate_proj.weight": "attn_gate"},
    "laguna": {"self_attn.g_proj.weight": "attn_gate"},
    "deepseek_v32": {"self_attn.indexer.wq_b.weight": "attn_indexer", "self_attn.indexer.wk.weight": "attn_indexer",
                     "self_attn.indexer.weights_proj.weight": "attn_indexer",
                     "self_attn.indexer.k_norm.weight": "layernorm"},
    "mimo_v2_flash": {"self_attn.attention_sink_bias": "attn_sink"},
    "flint": {"self_attn.softmax_offset": "attn_sink"},
    "qwen3_next": {"linear_attn.in_proj_qkvz.weight": "linear_attn_in",
                   "linear_attn.in_proj_ba.weight": "linear_attn_in", "linear_attn.conv1d.weight": "linear_attn_conv",
                   "linear_attn.A_log": "linear_attn_decay",
                   "linear_attn.dt_bias": "linear_attn_decay", "linear_attn.out_proj.weight": "attn_out",
                   "linear_attn.norm.weight": "layernorm"},
    "qwen3_5_moe_text": {"linear_attn.in_proj_qkv.weight": "linear_attn_in", "linear_attn.in_proj_a.weight":
                         "linear_attn_in", "linear_attn.in_proj_b.weight": "linear_attn_in",
                         "linear_attn.in_proj_z.weight": "attn_gate", "linear_attn.conv1d.weight": "linear_attn_conv",
                         "linear_attn.A_log": "linear_attn_decay", "linear_attn.dt_bias": "linear_attn_decay"},
    "bailing_hybrid": {"attention.q_proj.weight": "attn_q", "attention.k_proj.weight": "attn_k",
                       "attention.v_proj.weight": "attn_v", "attention.g_proj.weight": "attn_gate",
                       "attention.f_proj.weight": "linear_attn_in", "attention.b_proj.weight": "linear_attn_in",
                       "attention.conv1d.weight": "linear_attn_conv", "attention.A_log": "linear_attn_decay",
                       "attention.dt_bias": "linear_attn_decay", "attention.dense.weight": "attn_out"},
}
EXPECTED["glm_moe_dsa"] = EXPECTED["deepseek_v32"]
_BLOCK = re.compile(r"^.*?\.layers\.\d+\.")


@pytest.fixture(scope="module")
def models():
    """{model_type: tiny model} (meta tensors: only the names and shapes are read)."""
    out = {}
    for arch, (cls, config) in _configs(EXPECTED).items():
        with torch.device("meta"):
            out[arch] = cls(config)
    return out


@pytest.mark.parametrize("arch", sorted(EXPECTED))
def test_attention_tensors_take_their_groups(models, arch):
    """Each listed tensor of the model (named as its file names it) is in its group, every group
    is one of GROUPS, and no weight of the model is left in 'other'."""
    if arch not in models:
        pytest.skip(f"this transformers has no {arch}")
    names = [checkpoint_name(n, arch) for n, _ in models[arch].named_parameters()]
    found = {}
    for name in filter(is_weight_tensor, names):
        found.setdefault(_BLOCK.sub("", name), set()).add(tensor_group(name))
    for inner, group in EXPECTED[arch].items():
        assert found.get(inner) == {group}, (inner, found.get(inner))
    assert {g for groups in found.values() for g in groups} <= set(GROUPS)
    assert not [n for n, groups in found.items() if "other" in groups]


def test_names_only_a_file_holds():
    """Bailing-hybrid's file holds the convolution over q, k and v apart (loaded as one conv1d)."""
    for part in "qkv":
        assert tensor_group(f"model.layers.0.attention.{part}_conv1d.weight") == "linear_attn_conv"


@pytest.fixture(scope="module")
def minimax(tmp_path_factory):
    """A tiny MiniMax (lightning and full attention layers) saved, and its folder's table."""
    model = tiny_model("minimax")
    folder = tmp_path_factory.mktemp("minimax") / "model"
    model.save_pretrained(folder)
    return model, folder, weight_stats_table(folder, fit_families=False, spectra=False)


def test_minimax_lightning_qkv_splits_as_its_forward_reads_it(minimax):
    """qkv_proj's [q], [k], [v] rows (attn_q / attn_k / attn_v) are the weights whose outputs the
    lightning attention's forward takes as each head's query, key and value (its output viewed
    as heads x 3 head_dim, split in three); the folder and the model in memory give the same."""
    model, folder, table = minimax
    fused = sorted(n for n in table["tensor"].unique() if n.endswith("qkv_proj.weight"))
    assert fused
    heads = model.config.num_attention_heads
    x = torch.randn(5, model.config.hidden_size, generator=torch.Generator().manual_seed(1))
    for name in fused:
        module = model.get_submodule(name.rsplit(".", 1)[0])
        with torch.no_grad():
            out = module(x).reshape(5, heads, -1)
        read = dict(zip("qkv", torch.split(out, out.shape[-1] // 3, dim=-1)))
        for part in "qkv":
            (part_name, weight), = select_tensors(folder, f"{name}[{part}]")
            (_, from_model), = select_tensors(model, f"{name}[{part}]")
            assert torch.equal(weight, from_model)
            torch.testing.assert_close((x @ weight.T).reshape(5, heads, -1), read[part], rtol=0, atol=1e-6)
            rows = table[table["tensor"] == part_name]
            assert set(rows["group"]) == {f"attn_{part}"}


def test_new_groups_get_pooled_rows(minimax):
    """The attn_gate group has its pooled row ('*') counting its tensors' weights."""
    _, _, table = minimax
    counts = table[table["stat"] == "count"]
    members = counts.loc[(counts["group"] == "attn_gate") & (counts["tensor"] != "*"), "value"]
    pooled = counts.loc[(counts["group"] == "attn_gate") & (counts["tensor"] == "*"), "value"]
    assert len(members) > 0 and len(pooled) == 1 and pooled.iloc[0] == members.sum()

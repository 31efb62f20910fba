"""A mixture-of-experts model loaded by transformers 5 holds each layer's experts fused into 3-d
parameters; its weight statistics are measured per expert, as its saved folder names them, so the
loaded model and the folder give the same rows (each architecture of groups.expert_layout built tiny, no hub).
A fused layout this package does not know stays whole, named as loaded, in its groups.
"""
from __future__ import annotations

import os

import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from scalefit.weightstats.groups import checkpoint_name, split_experts, tensor_role  # noqa: E402
from scalefit.weightstats.measure import select_tensors, tensor_stats, weight_stats_table  # noqa: E402

os.environ.setdefault("HF_HUB_OFFLINE", "1")
torch.set_num_threads(1)

KEYS = ["tensor", "group", "layer", "stat"]
MOE = dict(vocab_size=96, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
           num_key_value_heads=2, bos_token_id=0, eos_token_id=0, pad_token_id=0, num_experts_per_tok=2)


def _configs():
    """{model_type: (model class, config)} of the tiny MoE models this transformers has: Mixtral's
    and PhiMoE's w1/w3/w2 experts, the others' gate/up/down_proj; Qwen3-MoE, DeepSeek-V3 and
    GLM-4-MoE with a dense first layer, Qwen2-MoE, DeepSeek-V3 and GLM-4-MoE with a shared expert."""
    t, out = transformers, {}
    if hasattr(t, "MixtralForCausalLM"):
        out["mixtral"] = (t.MixtralForCausalLM, t.MixtralConfig(**MOE, num_local_experts=4))
    if hasattr(t, "PhimoeForCausalLM"):  # its router loads as mlp.router, is saved as block_sparse_moe.gate
        out["phimoe"] = (t.PhimoeForCausalLM, t.PhimoeConfig(**MOE, num_local_experts=4))
    if hasattr(t, "Qwen2MoeForCausalLM"):  # expert width unlike the dense one, and a shared expert
        out["qwen2_moe"] = (t.Qwen2MoeForCausalLM, t.Qwen2MoeConfig(
            **MOE, num_experts=4, moe_intermediate_size=16, shared_expert_intermediate_size=24))
    if hasattr(t, "Qwen3MoeForCausalLM"):
        out["qwen3_moe"] = (t.Qwen3MoeForCausalLM, t.Qwen3MoeConfig(
            **MOE, num_experts=4, moe_intermediate_size=16, mlp_only_layers=[0]))
    if hasattr(t, "OlmoeForCausalLM"):
        out["olmoe"] = (t.OlmoeForCausalLM, t.OlmoeConfig(**MOE, num_experts=4))
    shared = dict(n_routed_experts=4, moe_intermediate_size=16, n_shared_experts=1, first_k_dense_replace=1,
                  n_group=1, topk_group=1)
    if hasattr(t, "DeepseekV3ForCausalLM"):  # multi-head latent attention, router bias buffer
        out["deepseek_v3"] = (t.DeepseekV3ForCausalLM, t.DeepseekV3Config(
            **MOE, **shared, q_lora_rank=16, kv_lora_rank=8, qk_rope_head_dim=4, qk_nope_head_dim=4, v_head_dim=8))
    if hasattr(t, "Glm4MoeForCausalLM"):
        out["glm4_moe"] = (t.Glm4MoeForCausalLM, t.Glm4MoeConfig(**MOE, **shared, head_dim=8))
    return out


ARCHS = ["mixtral", "phimoe", "qwen2_moe", "qwen3_moe", "olmoe", "deepseek_v3", "glm4_moe"]
# the other layouts of groups.expert_layout (transformers 5.25's conversion_mapping fuses them as
# Mixtral's or Qwen2-MoE's), built by model_type from one set of tiny settings; each config takes
# the fields it knows. DeepSeek-V2 without a query compression (V2-Lite's q_proj)
MORE_ARCHS = ["deepseek_v2", "deepseek_v32", "sarvam_mla", "glm4_moe_lite", "glm_moe_dsa", "longcat_flash",
              "hunyuan_v1_moe", "ernie4_5_moe", "dots1", "flex_olmo", "qwen3_next", "qwen3_5_moe_text", "exaone_moe",
              "afmoe", "cohere2_moe", "solar_open", "mellum", "minimax", "minimax_m2", "lfm2_moe"]
MORE = dict(MOE, head_dim=8, num_experts=4, num_local_experts=4, n_routed_experts=4, moe_num_experts=4,
            moe_intermediate_size=16, n_shared_experts=1, first_k_dense_replace=1, n_group=1, topk_group=1,
            kv_lora_rank=8, q_lora_rank=16, qk_rope_head_dim=4, qk_nope_head_dim=4, v_head_dim=8,
            shared_expert_intermediate_size=24, shared_intermediate_size=24)
# Granite-MoE's file holds each layer's experts fused already (input_linear, output_linear): no
# split, the loaded model's 3-d parameters renamed as the file names them
FUSED_FILE_ARCHS = ["granitemoe", "granitemoeshared"]
MORE_SETTINGS = {"deepseek_v2": {"q_lora_rank": None},  # LFM2-MoE: attention layers, a dense first layer
                 "lfm2_moe": {"num_dense_layers": 1, "layer_types": ["full_attention"] * 2}}


def _more_configs(archs=tuple(MORE_ARCHS)):
    """{model_type: (model class, config)} of the `archs` (MORE_ARCHS) this transformers has."""
    out = {}
    for arch in archs:
        try:
            config = transformers.AutoConfig.for_model(arch, **{**MORE, **MORE_SETTINGS.get(arch, {})})
        except (KeyError, ValueError):
            continue
        out[arch] = (transformers.AutoModelForCausalLM._model_mapping[type(config)], config)
    return out


@pytest.fixture(scope="module")
def moe(tmp_path_factory):
    """{model_type: (loaded model, folder, folder's table)}: each model saved by save_pretrained,
    loaded back by from_pretrained (experts fused), and its folder measured once."""
    root, out = tmp_path_factory.mktemp("moe_fused"), {}
    for name, (cls, config) in _configs().items():
        torch.manual_seed(0)
        cls(config).save_pretrained(root / name)
        loaded = cls.from_pretrained(root / name).eval()
        out[name] = (loaded, root / name, _sorted(weight_stats_table(root / name)))
    return out


@pytest.fixture(scope="module")
def more_moe(tmp_path_factory):
    """As `moe` for MORE_ARCHS, the folder measured without families and spectra (the same
    tensors give the same ones; moments, names and groups are what a layout moves)."""
    root, out = tmp_path_factory.mktemp("moe_more"), {}
    for name, (cls, config) in _more_configs((*MORE_ARCHS, *FUSED_FILE_ARCHS)).items():
        torch.manual_seed(0)
        cls(config).save_pretrained(root / name)
        loaded = cls.from_pretrained(root / name).eval()
        out[name] = (loaded, root / name, _sorted(_cheap_table(root / name)))
    return out


def _cheap_table(source):
    return weight_stats_table(source, fit_families=False, spectra=False)


def _sorted(table):
    return table.sort_values(KEYS, ignore_index=True)


def _arch(moe, arch):
    if arch not in moe:
        pytest.skip(f"this transformers has no {arch}")
    return moe[arch]


@pytest.mark.parametrize("arch", ARCHS)
def test_a_loaded_moe_gives_its_folders_rows(moe, arch):
    """Same tensors (names, groups, layers), same statistics per tensor and per group, families too."""
    model, _, folder_rows = _arch(moe, arch)
    _assert_same_rows(_sorted(weight_stats_table(model)), folder_rows, model)
    assert _sorted(weight_stats_table(model))["label"].equals(folder_rows["label"])


@pytest.mark.parametrize("arch", MORE_ARCHS)
def test_the_other_layouts_give_their_folders_rows(more_moe, arch):
    """The other architectures of groups.expert_layout: the loaded model's rows are its folder's
    (names, groups, layers, moments), each expert matrix the one the file holds."""
    model, folder, folder_rows = _arch(more_moe, arch)
    _assert_same_rows(_sorted(_cheap_table(model)), folder_rows, model)
    _assert_file_matrices(model, folder, arch)


@pytest.mark.parametrize("arch", MORE_ARCHS)
def test_the_other_layouts_routers_and_buffers(more_moe, arch):
    """Every sparse layer has its router in router (Hunyuan's mlp.gate.wg, AFMoE's mlp.router.gate,
    LongCat-Flash's mlp.router.classifier, LFM2-MoE's feed_forward.gate were 'other'); no MLP-side
    tensor left in 'other' (LFM2's dense feed_forward.w1/w2/w3 were); a load
    balancing bias (AFMoE's expert_bias) and MiniMax's attention decays, not trained, have no rows."""
    _, _, rows = _arch(more_moe, arch)
    per_tensor = rows[rows["tensor"] != "*"].drop_duplicates("tensor").set_index("tensor")[["group", "layer"]]
    layers = {g: set(per_tensor.loc[per_tensor["group"] == g, "layer"]) for g in ("router", "expert_in")}
    assert layers["router"] == layers["expert_in"] != set()
    other = per_tensor.index[per_tensor["group"] == "other"]
    assert not other.str.contains(r"\.(?:mlps?|block_sparse_moe|feed_forward)\.|router|expert").any(), list(other)
    assert not per_tensor.index.str.contains(r"expert_bias|e_score_correction_bias|_decay$|slope_rate").any()


@pytest.mark.parametrize("arch", FUSED_FILE_ARCHS)
def test_experts_fused_in_the_file_are_measured_whole_under_the_files_names(more_moe, arch):
    """Granite-MoE: the loaded model's rows are its folder's; each layer's input_linear in
    expert_in, output_linear in expert_out, router.layer in router (all three were 'other', and
    the loaded model's experts.gate_up_proj / down_proj / router rows had no match in the folder);
    the shared MLP in mlp_in / mlp_out; nothing in 'other'."""
    model, _, folder_rows = _arch(more_moe, arch)
    loaded_rows = _sorted(_cheap_table(model))
    assert loaded_rows[KEYS].equals(folder_rows[KEYS])
    np.testing.assert_allclose(loaded_rows["value"], folder_rows["value"], rtol=1e-9, atol=1e-12)
    per_tensor = folder_rows[folder_rows["tensor"] != "*"].drop_duplicates("tensor").set_index("tensor")["group"]
    layers = model.config.num_hidden_layers
    for part, group in (("input_linear", "expert_in"), ("output_linear", "expert_out"), ("router.layer", "router")):
        names = [f"model.layers.{i}.block_sparse_moe.{part}.weight" for i in range(layers)]
        assert (per_tensor[names] == group).all() and (per_tensor == group).sum() == layers, part
    assert "other" not in set(per_tensor)
    if arch == "granitemoeshared":
        assert (per_tensor.filter(like="shared_mlp").tolist() == ["mlp_in", "mlp_out"] * layers)


def _assert_same_rows(loaded_rows, folder_rows, model):
    """Rows equal to 1e-9 relative, and 3 matrices (gate, up, down) of 4 experts per sparse layer."""
    fused = [n for n, p in model.named_parameters() if p.ndim == 3 and ".experts." in n]  # not a 3-d conv
    assert fused, "transformers no longer fuses the experts of a loaded model"
    assert loaded_rows[KEYS].equals(folder_rows[KEYS])
    np.testing.assert_allclose(loaded_rows["value"], folder_rows["value"], rtol=1e-9, atol=1e-12)
    experts = folder_rows[folder_rows["group"].isin(["expert_in", "expert_out"]) & (folder_rows["tensor"] != "*")]
    assert experts["tensor"].nunique() == 3 * 4 * len(fused) // 2  # 4 experts per sparse layer


@pytest.mark.parametrize("arch", ARCHS)
def test_each_expert_matrix_is_the_one_the_file_holds(moe, arch):
    """Values and shape, not only statistics (a transposed matrix has the same spectrum)."""
    model, folder, _ = _arch(moe, arch)
    _assert_file_matrices(model, folder, arch)


def _assert_file_matrices(model, folder, arch):
    """Each expert matrix split from the loaded model torch.equal to the file's, every one of them."""
    from safetensors import safe_open

    seen = set()
    with safe_open(str(folder / "model.safetensors"), framework="pt") as fh:
        for name, param in model.named_parameters():
            table_name = checkpoint_name(name, arch)
            for expert_name, matrix in (split_experts(table_name, param.detach(), arch) or {}).items():
                assert torch.equal(matrix, fh.get_tensor(expert_name)), expert_name
                seen.add(expert_name)
        assert seen == {k for k in fh.keys() if ".experts." in k}


# the role of each tensor a tiny MoE folder holds, by its name (first match)
ROLES = ((r"experts\.\d+\.(w1|w3|gate_proj|up_proj)\.weight$", "expert_in"),
         (r"experts\.\d+\.(w2|down_proj)\.weight$", "expert_out"),
         (r"(block_sparse_moe|mlp)\.gate\.weight$|shared_expert_gate\.weight$", "router"),
         (r"mlp\.(shared_experts?\.)?(gate_proj|up_proj)\.weight$", "mlp_in"),
         (r"mlp\.(shared_experts?\.)?down_proj\.weight$", "mlp_out"))
SPARSE_FROM = {"qwen3_moe": 1, "deepseek_v3": 1, "glm4_moe": 1}  # their layer 0 is a dense MLP
SHARED = ("qwen2_moe", "deepseek_v3", "glm4_moe")


@pytest.mark.parametrize("arch", ARCHS)
def test_routers_shared_experts_and_dense_layers_take_their_groups(moe, arch):
    """Every router, expert, shared expert and dense MLP matrix of the folder in its group, one
    router per sparse layer, a dense layer without experts; nothing in 'other'; the
    router's e_score_correction_bias (a buffer, not a weight) has no rows."""
    import re

    model, folder, rows = _arch(moe, arch)
    per_tensor = rows[rows["tensor"] != "*"].groupby("tensor")[["group", "layer"]].first()
    checked = 0
    for name, (group, _) in per_tensor.iterrows():
        role = next((g for pattern, g in ROLES if re.search(pattern, name)), None)
        if role is not None:
            assert group == role, name
            checked += 1
        assert group != "other", name  # DeepSeek-V3's latent attention was (q_a_proj, kv_b_proj, ...)
    layers = model.config.num_hidden_layers
    sparse = range(SPARSE_FROM.get(arch, 0), layers)
    in_layer = {g: set(per_tensor.loc[per_tensor["group"] == g, "layer"]) for g in ("router", "expert_in", "mlp_in")}
    assert in_layer["router"] == in_layer["expert_in"] == set(sparse)
    assert (per_tensor["group"] == "router").sum() == len(sparse) * (2 if arch == "qwen2_moe" else 1)
    dense = set(range(layers)) - set(sparse)
    assert in_layer["mlp_in"] == dense | (set(sparse) if arch in SHARED else set())
    assert checked == 3 * 4 * len(sparse) + len(sparse) * (2 if arch == "qwen2_moe" else 1) + 3 * len(dense) \
        + (3 * len(sparse) if arch in SHARED else 0)
    assert not per_tensor.index.str.contains("e_score_correction_bias").any()


# multi-head latent attention: the query path, the joint key-value path, their norms, the output
MLA_ROLES = {"q_proj": "attn_q", "q_a_proj": "attn_q", "q_b_proj": "attn_q", "kv_a_proj_with_mqa": "attn_kv",
             "kv_b_proj": "attn_kv", "q_a_layernorm": "layernorm", "kv_a_layernorm": "layernorm",
             "o_proj": "attn_out"}
MLA_ARCHS = ["deepseek_v3", "deepseek_v2", "glm4_moe_lite", "sarvam_mla", "deepseek_v32", "glm_moe_dsa"]


@pytest.mark.parametrize("arch", MLA_ARCHS)
def test_latent_attention_puts_queries_in_attn_q_and_keys_values_in_attn_kv(moe, more_moe, arch):
    """DeepSeek-V2/V3's latent attention (and the models built on it): q_a_proj / q_b_proj (or
    V2-Lite's q_proj) in attn_q, kv_a_proj_with_mqa / kv_b_proj in attn_kv (K and V compressed
    together, neither attn_k nor attn_v), q_a_layernorm / kv_a_layernorm in layernorm; they were
    'other'. The attn_kv group gets its pooled row."""
    _, _, rows = _arch({**moe, **more_moe}, arch)
    per_tensor = rows[rows["tensor"] != "*"].drop_duplicates("tensor").set_index("tensor")["group"]
    attention = {n: g for n, g in per_tensor.items() if ".self_attn." in n and ".indexer." not in n}
    assert attention
    for name, group in attention.items():
        assert group == MLA_ROLES[name.split(".self_attn.")[1].rsplit(".", 1)[0]], name
    roles = {name.split(".self_attn.")[1].rsplit(".", 1)[0] for name in attention}
    assert {"kv_a_proj_with_mqa", "kv_b_proj", "kv_a_layernorm"} <= roles
    assert ({"q_proj"} if arch == "deepseek_v2" else {"q_a_proj", "q_b_proj", "q_a_layernorm"}) <= roles
    counts = rows[rows["stat"] == "count"]
    pooled = counts.loc[(counts["tensor"] == "*") & (counts["group"] == "attn_kv"), "value"]
    members = counts.loc[(counts["tensor"] != "*") & (counts["group"] == "attn_kv"), "value"]
    assert len(pooled) == 1 and pooled.iloc[0] == members.sum() > 0


@pytest.mark.parametrize("arch", ["mixtral", "olmoe"])
def test_select_tensors_finds_an_expert_of_a_loaded_model(moe, arch):
    """One expert's matrix by its file name, and a whole expert group, as from the folder."""
    model, folder, _ = _arch(moe, arch)
    name = ("model.layers.1.block_sparse_moe.experts.2.w3.weight" if arch == "mixtral"
            else "model.layers.1.mlp.experts.2.up_proj.weight")
    for what in (name, "expert_out"):
        from_model, from_folder = select_tensors(model, what), select_tensors(folder, what)
        assert sorted(n for n, _ in from_model) == sorted(n for n, _ in from_folder)
        by_name = dict(from_folder)
        assert all(torch.equal(t, by_name[n]) for n, t in from_model)


def test_an_unknown_fused_layout_stays_whole_named_as_loaded(moe, monkeypatch):
    """An architecture whose fused experts are not listed: its 3-d parameters measured whole under
    their loaded names, in the expert groups, with as many weights per group as the folder."""
    model, _, folder_rows = _arch(moe, "olmoe")
    monkeypatch.setattr(model.config, "model_type", "olmoe_fork")
    rows = weight_stats_table(model, fit_families=False, spectra=False)
    name = "model.layers.0.mlp.experts.gate_up_proj"
    mine = rows[rows["tensor"] == name].set_index("stat")["value"]
    assert tensor_role(name).group == "expert_in"
    assert set(rows.loc[rows["tensor"] == name, "group"]) == {"expert_in"}
    assert set(rows.loc[rows["tensor"] == name, "layer"]) == {0}
    param = dict(model.named_parameters())[name].detach()
    expected = tensor_stats(param, fit_families=False, spectra=False)
    np.testing.assert_allclose([mine[k] for k in expected], list(expected.values()), rtol=1e-12)
    assert not rows["tensor"].str.contains(r"experts\.\d", regex=True).any()
    counts = [t[(t["stat"] == "count") & (t["tensor"] != "*")].groupby("group")["value"].sum()
              for t in (rows, folder_rows)]
    assert counts[0].equals(counts[1])


def test_split_experts_leaves_what_it_cannot_map():
    """None (measured whole) for an unknown model_type, a name that is not a fused expert
    parameter, and a shape that does not split; gate's rows come first, then up's."""
    weight = torch.arange(2 * 6 * 3, dtype=torch.float32).reshape(2, 6, 3)
    assert split_experts("model.layers.0.mlp.experts.gate_up_proj", weight, "granitemoe") is None
    assert split_experts("model.layers.0.mlp.experts.gate_up_proj", weight, None) is None
    assert split_experts("model.layers.0.mlp.gate_up_proj", weight, "olmoe") is None
    assert split_experts("model.layers.0.mlp.experts.gate_up_proj", weight[0], "olmoe") is None
    assert split_experts("model.layers.0.mlp.experts.gate_up_proj", weight[:, :5], "olmoe") is None
    parts = split_experts("model.layers.0.mlp.experts.gate_up_proj", weight, "olmoe")
    assert list(parts) == [f"model.layers.0.mlp.experts.{e}.{p}.weight" for e in (0, 1)
                           for p in ("gate_proj", "up_proj")]
    assert torch.equal(parts["model.layers.0.mlp.experts.1.up_proj.weight"], weight[1, 3:])


def test_select_tensors_names_a_missing_tensor_in_one_line(moe):
    """A model in memory is named by its type, not by its many-line repr."""
    from scalefit.errors import InputError

    model, folder, _ = _arch(moe, "olmoe")
    for source in (model, folder):
        with pytest.raises(InputError, match="no tensor or group 'model.layers.0.mlp.experts.9.w1.weight'") as err:
            select_tensors(source, "model.layers.0.mlp.experts.9.w1.weight")
        assert "\n" not in str(err.value)
    assert str(err.value).startswith(str(folder))

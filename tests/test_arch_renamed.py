"""Architectures whose loaded model holds tensors under other names than its saved folder
(transformers 5's conversion_mapping renames them on load and back on save): the loaded model's
rows are its folder's, each name read back through transformers' own mapping (groups.checkpoint_name,
groups.expert_layout), not a hand-written table. Each built tiny from its config, no hub.
"""
from __future__ import annotations

import os
import re
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from test_weights_moe_fused import KEYS, MORE, _assert_same_rows, _cheap_table, _sorted  # noqa: E402

from scalefit.weightstats.groups import checkpoint_name, expert_layout, split_experts  # noqa: E402

os.environ.setdefault("HF_HUB_OFFLINE", "1")
torch.set_num_threads(1)

# renamed on load (norms, attention sinks, routers, shared experts, a gated query), experts fused
RENAMED = ["kolibri1", "mimo_v2_flash", "flint", "hy_v3", "laguna", "axk1", "minicpm5_moe"]
# renamed too, and one tensor the file holds fused or apart the other way round: the file's
# attention.query_key_value is split into q_proj / k_proj / v_proj on load (Sarvam-MoE, Param2MoE),
# its q_conv1d / k_conv1d / v_conv1d concatenated into conv1d (Bailing-hybrid)
REFUSED = {"sarvam_moe": r"\.attention\.(?:query_key_value|[qkv]_proj)\.weight(?:\[[qkv]\])?$",
           "bailing_hybrid": r"\.attention\.(?:[qkv]_)?conv1d\.weight$"}
REFUSED["param2moe"] = REFUSED["sarvam_moe"]
SETTINGS = {"flint": {"mlp_only_layers": [0]}}  # its default makes both tiny layers dense


def _configs(archs):
    """{model_type: (model class, config)} of the `archs` this transformers has, from the tiny
    settings of test_weights_moe_fused (each config takes the fields it knows)."""
    out = {}
    for arch in archs:
        try:
            config = transformers.AutoConfig.for_model(arch, **{**MORE, **SETTINGS.get(arch, {})})
        except (KeyError, ValueError):
            continue
        out[arch] = (transformers.AutoModelForCausalLM._model_mapping[type(config)], config)
    return out


@pytest.fixture(scope="module")
def renamed(tmp_path_factory):
    """{model_type: (loaded model, folder, folder's table)} for those this transformers has."""
    root, out = tmp_path_factory.mktemp("renamed"), {}
    for name, (cls, config) in _configs((*RENAMED, *REFUSED)).items():
        torch.manual_seed(0)
        cls(config).save_pretrained(root / name)
        loaded = cls.from_pretrained(root / name).eval()
        out[name] = (loaded, root / name, _sorted(_cheap_table(root / name)))
    return out


def _arch(renamed, arch):
    if arch not in renamed:
        pytest.skip(f"this transformers has no {arch}")
    return renamed[arch]


def _file_keys(folder) -> set[str]:
    from safetensors import safe_open

    with safe_open(str(folder / "model.safetensors"), framework="pt") as fh:
        return set(fh.keys())


@pytest.mark.parametrize("arch", RENAMED)
def test_a_renamed_model_gives_its_folders_rows(renamed, arch):
    """Names, groups, layers and moments equal the folder's; each expert matrix torch.equal to the
    file's (before, the renamed norms, sinks, routers and shared experts had no match in the
    folder and the experts stayed fused)."""
    model, folder, folder_rows = _arch(renamed, arch)
    _assert_same_rows(_sorted(_cheap_table(model)), folder_rows, model)
    seen = set()
    from safetensors import safe_open

    with safe_open(str(folder / "model.safetensors"), framework="pt") as fh:
        for name, param in model.named_parameters():
            for expert_name, matrix in (split_experts(checkpoint_name(name, arch), param.detach(), arch) or {}).items():
                assert torch.equal(matrix, fh.get_tensor(expert_name)), expert_name
                seen.add(expert_name)
    assert seen == {k for k in _file_keys(folder) if re.search(r"\.experts\.\d+\.", k)}


@pytest.mark.parametrize("arch", [*RENAMED, *REFUSED])
def test_every_loaded_name_is_a_name_the_file_holds(renamed, arch):
    """checkpoint_name maps each tensor of the loaded model's state dict (persistent buffers too,
    a tied output matrix once) onto a key of the file (all but the tensors fused on one side
    only, and the fused experts, split by expert_layout), one to one."""
    model, folder, _ = _arch(renamed, arch)
    refused = re.compile(REFUSED.get(arch, r"^$"))
    layout = expert_layout(arch)
    assert set(layout) == {"gate_up_proj", "down_proj"}
    state, storages = {}, set()
    for name, tensor in model.state_dict().items():
        if tensor.data_ptr() not in storages:  # a tied output matrix is the input embedding's
            storages.add(tensor.data_ptr())
            state[name] = tensor
    names = [checkpoint_name(n, arch) for n in state]
    names = [n for n in names if not refused.search(n) and n.rsplit(".", 1)[-1] not in layout]
    file_keys = {k for k in _file_keys(folder) if not refused.search(k) and not re.search(r"experts\.\d+\.", k)}
    assert len(names) == len(set(names))
    assert set(names) == file_keys


@pytest.mark.parametrize("arch", list(REFUSED))
def test_a_refused_model_gives_its_folders_rows_but_for_the_refused_tensor(renamed, arch):
    """Every tensor's row but those of the tensor fused on one side only equals the folder's (the
    query_key_value / q, k, v_proj and conv1d rows are left to a join that measure does not make;
    the group rows pool them)."""
    model, _, folder_rows = _arch(renamed, arch)
    loaded_rows = _sorted(_cheap_table(model))
    keep = [rows[~rows["tensor"].str.contains(REFUSED[arch]) & (rows["tensor"] != "*")].reset_index(drop=True)
            for rows in (loaded_rows, folder_rows)]
    assert keep[0][KEYS].equals(keep[1][KEYS])
    np.testing.assert_allclose(keep[0]["value"], keep[1]["value"], rtol=1e-9, atol=1e-12)
    assert keep[0]["tensor"].str.contains(r"experts\.\d+\.").any()


@pytest.mark.parametrize("arch", ["sarvam_moe", "param2moe"])
def test_a_files_query_key_value_splits_into_the_loaded_q_k_v(renamed, arch):
    """The folder's attention.query_key_value gives [q], [k], [v] rows (q's heads, then k's and
    v's, as many as num_key_value_heads: groups.fused_qkv) equal to the rows of the q_proj,
    k_proj, v_proj transformers splits it into on load, in attn_q / attn_k / attn_v."""
    model, _, folder_rows = _arch(renamed, arch)
    loaded_rows = _sorted(_cheap_table(model))
    layers = model.config.num_hidden_layers
    for part in "qkv":
        ours = folder_rows[folder_rows["tensor"].str.endswith(f"attention.query_key_value.weight[{part}]")]
        theirs = loaded_rows[loaded_rows["tensor"].str.endswith(f"attention.{part}_proj.weight")]
        assert ours["tensor"].nunique() == layers == theirs["tensor"].nunique()
        assert set(ours["group"]) == {f"attn_{part}"} == set(theirs["group"])
        assert ours["stat"].tolist() == theirs["stat"].tolist()
        np.testing.assert_allclose(ours["value"], theirs["value"], rtol=1e-9, atol=1e-12)


def test_a_folders_names_need_no_transformers(monkeypatch):
    """Without transformers' models imported (no model in memory), a name is the file's as given:
    checkpoint_name does not import transformers for it; GPT-NeoX's lm_head is still embed_out."""
    monkeypatch.delitem(sys.modules, "transformers.conversion_mapping", raising=False)
    name = "model.layers.0.block_sparse_moe.experts.gate_up_proj"
    assert checkpoint_name(name, "granitemoe") == name
    assert checkpoint_name("lm_head.weight", "gpt_neox") == "embed_out.weight"
    assert "transformers.conversion_mapping" not in sys.modules


@pytest.mark.parametrize("arch", [*RENAMED, *REFUSED])
def test_a_files_names_are_left_as_they_are(renamed, arch):
    """checkpoint_name reads transformers' mapping only once transformers is imported (a model in
    memory); a folder's own names must come out the same either way, so a folder measured after a
    model in one process gets its file's names (the reversal is a no-op on them)."""
    import importlib

    importlib.import_module("transformers.conversion_mapping")  # the mapping is read, as after a model loaded

    _, folder, _ = _arch(renamed, arch)
    assert [checkpoint_name(k, arch) for k in sorted(_file_keys(folder))] == sorted(_file_keys(folder))

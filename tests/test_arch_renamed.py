"""Architectures whose loaded model holds tensors under other names than its saved folder
(transformers 5's conversion_mapping renames them on load and back on save): the loaded model's
rows are its folder's, each name read back through transformers' own mapping (groups.checkpoint_name,
groups.expert_layout, groups.file_pieces for a tensor cut otherwise), not a hand-written table.
Each built tiny from its config, no hub.
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
from scalefit.weightstats.measure import tensor_stats  # noqa: E402
from scalefit.weightstats.reinit import reinit  # noqa: E402

os.environ.setdefault("HF_HUB_OFFLINE", "1")
torch.set_num_threads(1)

# renamed on load (norms, attention sinks, routers, shared experts, a gated query), experts fused
RENAMED = ["kolibri1", "mimo_v2_flash", "flint", "hy_v3", "laguna", "axk1", "minicpm5_moe"]
# renamed too, and one tensor the file cuts otherwise than the loaded model (groups.file_pieces):
# the file's attention.query_key_value is split into q_proj / k_proj / v_proj on load (Sarvam-MoE,
# Param2MoE), its q_conv1d / k_conv1d / v_conv1d concatenated into conv1d (Bailing-hybrid); the
# pattern matches the file's tensors' rows
PIECES = {"sarvam_moe": r"\.attention\.query_key_value\.weight(?:\[[qkv]\])?$",
          "bailing_hybrid": r"\.attention\.[qkv]_conv1d\.weight$"}
PIECES["param2moe"] = PIECES["sarvam_moe"]
# Kimi-Linear: its linear attention's q/k/v_conv1d concatenated into conv1d on load too, and its
# experts' converter patterns start with an escaped dot (\.experts.*.w1.weight)
PIECES["kimi_linear"] = r"\.self_attn\.[qkv]_conv1d\.weight$"
# renamed, its file's experts fused already (feed_forward.up_proj), and tensors the file holds
# transposed (groups.file_pieces: a Transpose converter): Ergo's router feed_forward.gate_kernel is
# the loaded mlp.gate.linear.weight, its shared_up_proj / shared_down_proj the shared expert's;
# the file's names lack the "model." its mapping adds on load (^layers. -> model.layers.)
TRANSPOSED = {"ergo": r"\.feed_forward\.(?:gate_kernel|shared_up_proj|shared_down_proj)$"}
SETTINGS = {"flint": {"mlp_only_layers": [0]},  # its default makes both tiny layers dense
            "ergo": {"first_dense_intermediate_size": 64, "shared_intermediate_size": 24,
                     "layer_types": ["sliding_attention", "full_attention"], "mlp_layer_types": ["dense", "sparse"]}}


def _configs(archs, **changed):
    """{model_type: (model class, config)} of the `archs` this transformers has, from the tiny
    settings of test_weights_moe_fused and `changed` (each config takes the fields it knows)."""
    out = {}
    for arch in archs:
        try:
            config = transformers.AutoConfig.for_model(arch, **{**MORE, **SETTINGS.get(arch, {}), **changed})
        except (KeyError, ValueError):
            continue
        out[arch] = (transformers.AutoModelForCausalLM._model_mapping[type(config)], config)
    return out


def tiny_model(arch, **changed):
    """A tiny random model of ``arch`` (seed 0, eval mode) from _configs, or a skip where this
    transformers has no such architecture."""
    configs = _configs([arch], **changed)
    if not configs:
        pytest.skip(f"this transformers has no {arch}")
    cls, config = configs[arch]
    torch.manual_seed(0)
    return cls(config).eval()


@pytest.fixture(scope="module")
def renamed(tmp_path_factory):
    """{model_type: (loaded model, folder, folder's table)} for those this transformers has."""
    root, out = tmp_path_factory.mktemp("renamed"), {}
    for name, (cls, config) in _configs((*RENAMED, *PIECES, *TRANSPOSED)).items():
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


@pytest.mark.parametrize("arch", [*RENAMED, *PIECES])
def test_every_loaded_name_is_a_name_the_file_holds(renamed, arch):
    """checkpoint_name maps each tensor of the loaded model's state dict (persistent buffers too,
    a tied output matrix once) onto a key of the file, one to one, once the tensors the file cuts
    otherwise are named as its (groups.file_pieces: q_proj, k_proj, v_proj as query_key_value;
    conv1d as q_conv1d, k_conv1d, v_conv1d); the fused experts are split by expert_layout."""
    from scalefit.weightstats.groups import file_pieces  # here, so the other tests run without it

    model, folder, _ = _arch(renamed, arch)
    layout = expert_layout(arch)
    assert set(layout) == {"gate_up_proj", "down_proj"}
    state, storages = {}, set()
    for name, tensor in model.state_dict().items():
        if tensor.data_ptr() not in storages:  # a tied output matrix is the input embedding's
            storages.add(tensor.data_ptr())
            state[name] = tensor
    pieces = file_pieces(list(state), arch)
    assert bool(pieces) == (arch in PIECES)
    cut = {name for p in pieces for name in p.loaded}
    names = [n for n in state if n not in cut] + [n for p in pieces for n in p.file]
    names = [checkpoint_name(n, arch) for n in names]
    names = [n for n in names if n.rsplit(".", 1)[-1] not in layout]
    file_keys = {k for k in _file_keys(folder) if not re.search(r"experts\.\d+\.", k)}
    assert len(names) == len(set(names))
    assert set(names) == file_keys


@pytest.mark.parametrize("arch", list(PIECES))
def test_a_model_cut_otherwise_gives_its_folders_rows(renamed, arch):
    """Every row equals the folder's, the tensor the file cuts otherwise included: the loaded
    q_proj, k_proj, v_proj are measured joined as the file's query_key_value (its whole row, then
    its [q], [k], [v] rows), the loaded conv1d cut into the file's q_conv1d, k_conv1d, v_conv1d
    (before, the loaded model had q/k/v_proj and conv1d rows that the folder has not)."""
    model, _, folder_rows = _arch(renamed, arch)
    loaded_rows = _sorted(_cheap_table(model))
    _assert_same_rows(loaded_rows, folder_rows, model)
    pieces = loaded_rows.loc[loaded_rows["tensor"].str.contains(PIECES[arch]), "tensor"]
    per_layer = 4 if arch in ("sarvam_moe", "param2moe") else 3  # the whole and [q], [k], [v]; or 3 pieces
    assert pieces.nunique() == per_layer * len(set(pieces.str.extract(r"layers\.(\d+)\.", expand=False)))
    assert pieces.nunique() >= per_layer


@pytest.mark.parametrize("arch", ["sarvam_moe", "param2moe"])
def test_a_files_query_key_value_splits_into_the_loaded_q_k_v(renamed, arch):
    """The folder's attention.query_key_value gives [q], [k], [v] rows (q's heads, then k's and
    v's, as many as num_key_value_heads: groups.fused_qkv) equal to the statistics of the q_proj,
    k_proj, v_proj transformers splits it into on load, in attn_q / attn_k / attn_v."""
    model, _, folder_rows = _arch(renamed, arch)
    for layer in range(model.config.num_hidden_layers):
        for part in "qkv":
            ours = folder_rows[folder_rows["tensor"] == f"model.layers.{layer}.attention.query_key_value.weight[{part}]"]
            param = model.get_parameter(f"model.layers.{layer}.self_attn.{part}_proj.weight").detach()
            theirs = tensor_stats(param, fit_families=False, spectra=False)
            assert set(ours["group"]) == {f"attn_{part}"}
            assert sorted(ours["stat"]) == sorted(theirs)
            np.testing.assert_allclose(ours.set_index("stat")["value"].loc[list(theirs)], list(theirs.values()),
                                       rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("arch", [*PIECES, *TRANSPOSED])
def test_reinit_source_mode_copies_a_folder_cut_otherwise(renamed, arch):
    """reinit's source mode fills a model of the architecture from the folder with exactly the
    tensors from_pretrained loads (q_proj, k_proj, v_proj cut from query_key_value by their sizes;
    conv1d joined from q/k/v_conv1d; Ergo's router and shared expert transposed back); before, it
    refused (q_proj / conv1d / mlp.gate.linear.weight missing in the folder). permuted permutes
    each within its own file tensor."""
    model, folder, _ = _arch(renamed, arch)
    torch.manual_seed(1)
    fresh = type(model)(model.config).eval()
    result = reinit(fresh, folder, "source")
    assert set(result.to_frame()["how"]) == {"tensor"}
    loaded = dict(model.named_parameters())
    for name, param in fresh.named_parameters():
        assert torch.equal(param, loaded[name]), name
    reinit(fresh, folder, "permuted", seed=3)
    for name, param in fresh.named_parameters():
        assert torch.equal(param.flatten().sort().values, loaded[name].flatten().sort().values), name


@pytest.mark.parametrize("arch", list(TRANSPOSED))
def test_a_model_with_transposed_tensors_gives_its_folders_rows(renamed, arch):
    """Every row equals the folder's, names included: the loaded router and shared expert matrices
    are measured transposed, under the file's names (before: rows of mlp.gate.linear.weight and
    the shared expert's that the folder has not, and the folder's names with a "model." the file's
    lack); the file's router_bias is skipped as the loaded e_score_correction_bias buffer is."""
    model, folder, folder_rows = _arch(renamed, arch)
    loaded_rows = _sorted(_cheap_table(model))
    assert loaded_rows[KEYS].equals(folder_rows[KEYS])
    np.testing.assert_allclose(loaded_rows["value"], folder_rows["value"], rtol=1e-9, atol=1e-12)
    names = set(folder_rows["tensor"]) - {"*"}
    assert names <= _file_keys(folder)
    transposed = {n for n in names if re.search(TRANSPOSED[arch], n)}
    assert len(transposed) == 3 * sum(t == "sparse" for t in model.config.mlp_layer_types)
    assert not any(n.endswith("router_bias") for n in names)


@pytest.mark.parametrize("arch", list(TRANSPOSED))
def test_every_loaded_name_of_a_transposing_model_is_a_name_the_file_holds(renamed, arch):
    """checkpoint_name and file_pieces map each tensor of the loaded state dict (persistent buffers
    too) onto a key of the file, one to one; each transposed piece equals the file's tensor."""
    from safetensors import safe_open

    from scalefit.weightstats.groups import file_pieces

    model, folder, _ = _arch(renamed, arch)
    state = model.state_dict()
    pieces = file_pieces(list(state), arch)
    assert pieces and all(p.transpose and len(p.file) == len(p.loaded) == 1 for p in pieces)
    cut = {name for p in pieces for name in p.loaded}
    names = [checkpoint_name(n, arch) for n in [n for n in state if n not in cut] + [n for p in pieces for n in p.file]]
    assert len(names) == len(set(names))
    assert set(names) == _file_keys(folder)
    with safe_open(str(folder / "model.safetensors"), framework="pt") as fh:
        for p in pieces:
            assert torch.equal(p.file_tensors([state[p.loaded[0]]])[0], fh.get_tensor(checkpoint_name(p.file[0], arch)))


@pytest.mark.parametrize("arch", list(PIECES))
def test_reinit_law_modes_draw_each_loaded_piece_from_its_own_file_piece(renamed, arch):
    """permuted gives each loaded piece a permutation of its own piece of the file's tensor (q_proj
    of query_key_value's q rows, not of the whole; conv1d of the three pieces joined), and a law
    mode draws every tensor from its own source tensor (none from a group's pooled law)."""
    model, folder, _ = _arch(renamed, arch)
    torch.manual_seed(1)
    fresh = type(model)(model.config).eval()
    reinit(fresh, folder, "permuted", seed=3)
    loaded = dict(model.named_parameters())
    # the loaded pieces only (Bailing-hybrid's and Kimi-Linear's ordinary q/k/v_proj are no pieces):
    # 3 per file query_key_value (q_proj, k_proj, v_proj), 1 per file q_conv1d (conv1d)
    cut = re.compile(r"\.self_attn\.[qkv]_proj\.weight$" if arch in ("sarvam_moe", "param2moe")
                     else r"\.self_attn\.conv1d\.weight$")
    file_pieces = [k for k in _file_keys(folder) if re.search(PIECES[arch], k)]
    expected = 3 * len(file_pieces) if arch in ("sarvam_moe", "param2moe") else len(file_pieces) // 3
    checked = 0
    for name, param in fresh.named_parameters():
        if cut.search(name):
            assert torch.equal(param.flatten().sort().values, loaded[name].flatten().sort().values), name
            assert not torch.equal(param, loaded[name]), name
            checked += 1
    assert checked == expected > 0
    torch.manual_seed(1)
    result = reinit(type(model)(model.config), folder, "gauss-matched", seed=3).to_frame()
    assert "group" not in set(result["how"])


# a folder of the same architecture with fewer heads: its fused tensor (Sarvam-MoE's and
# Param2MoE's query_key_value, HRM-text's gqkv_proj) does not cut into the model's q_proj, k_proj,
# v_proj sizes, so the law modes draw them from the pooled q, k, v parts of the folder's
FEWER_HEADS = ["sarvam_moe", "param2moe", "hrm_text"]


@pytest.fixture(scope="module")
def fewer_heads(tmp_path_factory):
    """{model_type: (model class, config, folder of a model with 2 heads, 1 key/value head)}."""
    root, out = tmp_path_factory.mktemp("fewer_heads"), {}
    few = _configs(FEWER_HEADS, num_attention_heads=2, num_key_value_heads=1)
    for name, (cls, config) in _configs(FEWER_HEADS).items():
        torch.manual_seed(0)
        cls(few[name][1]).save_pretrained(root / name)
        out[name] = (cls, config, root / name)
    return out


def _file_parts(folder, arch) -> dict[str, list]:
    """{'q', 'k', 'v': that part of each of the folder's fused tensors, in the file's order}: a
    query_key_value's rows of 2 query heads, then 1 key and 1 value head; a gqkv_proj's second,
    third and fourth quarter (gate's, q's, k's, v's rows, as from_pretrained chunks it)."""
    from scalefit.weightstats.groups import split_qkv
    from scalefit.weightstats.reinit import load_source

    out = {part: [] for part in "qkv"}
    for key, tensor in load_source(folder)[0].items():
        if key.endswith(".query_key_value.weight"):
            parts = split_qkv(tensor, 2, "stacked", 1)
        elif key.endswith(".gqkv_proj.weight"):
            parts = dict(zip("gqkv", tensor.chunk(4)))
        else:
            continue
        for part in "qkv":
            out[part].append(parts[part])
    return out


@pytest.mark.parametrize("mode", ["gauss-matched", "empirical"])
@pytest.mark.parametrize("arch", FEWER_HEADS)
def test_law_modes_fill_a_model_from_a_folder_with_fewer_heads(fewer_heads, arch, mode, monkeypatch):
    """Every q_proj, k_proj, v_proj is drawn from the pooled law of that part of every fused tensor of
    the folder (before: refused, the folder 'has no tensor of group attn_q')."""
    from scalefit.weightstats import reinit as reinit_module

    if arch not in fewer_heads:
        pytest.skip(f"this transformers has no {arch}")
    cls, config, folder = fewer_heads[arch]
    pooled, draw = [], reinit_module.draw

    def recording(mode, values, shape, **kwargs):
        if isinstance(values, list):  # a group's pooled law
            pooled.append(values)
        return draw(mode, values, shape, **kwargs)

    monkeypatch.setattr(reinit_module, "draw", recording)
    torch.manual_seed(1)
    model = cls(config)
    frame = reinit(model, folder, mode, seed=3).to_frame().set_index("name")
    parts = _file_parts(folder, arch)
    for part in "qkv":
        names = [n for n, _ in model.named_parameters() if n.endswith(f".self_attn.{part}_proj.weight")]
        assert len(names) == len(parts[part]) > 0
        assert set(frame.loc[names, "how"]) == {"group"} and set(frame.loc[names, "group"]) == {f"attn_{part}"}
        same = [v for v in pooled if len(v) == len(parts[part]) and all(map(torch.equal, v, parts[part]))]
        assert len(same) == len(names), part
    assert all(torch.isfinite(p).all() for p in model.parameters())


@pytest.mark.parametrize("arch", FEWER_HEADS)
def test_permuted_says_what_a_folder_with_fewer_heads_holds(fewer_heads, arch):
    """permuted refuses, naming the folder's tensor that holds q_proj (not 'missing'), and its advice
    holds: a law mode draws it from the folder's attn_q group (the test above)."""
    from scalefit.errors import InputError

    if arch not in fewer_heads:
        pytest.skip(f"this transformers has no {arch}")
    cls, config, folder = fewer_heads[arch]
    model = cls(config)
    with pytest.raises(InputError) as err:
        reinit(model, folder, "permuted")
    line = str(err.value)
    name = next(n for n, _ in model.named_parameters() if n.endswith(".self_attn.q_proj.weight"))
    q_proj = tuple(model.get_parameter(name).shape)
    if arch == "hrm_text":  # cut into 4 equal pieces, as from_pretrained cuts it: the folder's own q_proj
        shape = tuple(_file_parts(folder, arch)["q"][0].shape)
        assert f"re-init permuted: tensor {name} has shape {shape} in {folder}, the model's is {q_proj}" in line
    else:
        fused = name.replace("self_attn.q_proj", "attention.query_key_value")
        shape = tuple(_source_tensor(folder, fused).shape)
        sizes = ", ".join(str(model.get_parameter(name.replace("q_proj", p)).shape[0]) for p in ("q_proj", "k_proj", "v_proj"))
        assert (f"re-init permuted: tensor {name} is a piece of {fused} in {folder} (shape {shape}), which does "
                f"not cut into the model's pieces ({sizes} on dim 0), the model's is {q_proj}") in line
    assert "missing" not in line
    assert line.endswith("; a law mode (gauss-matched, family, empirical) draws it from the source's attn_q group instead")


@pytest.mark.parametrize("arch", ["sarvam_moe", "param2moe"])
def test_no_law_mode_is_advised_where_the_source_config_does_not_split_its_qkv(fewer_heads, arch, tmp_path):
    """The folder's config says 3 query heads (its 2 + 1 + 1 heads' QKV does not split so): permuted's
    refusal no longer advises a law mode (which refuses with the config's error), it says why; the
    law mode's refusal names the same tensor and reason."""
    import json
    import shutil

    from scalefit.errors import InputError

    if arch not in fewer_heads:
        pytest.skip(f"this transformers has no {arch}")
    cls, config, folder = fewer_heads[arch]
    bad = tmp_path / arch
    shutil.copytree(folder, bad)
    settings = json.loads((bad / "config.json").read_text())
    (bad / "config.json").write_text(json.dumps({**settings, "num_attention_heads": 3}))
    fused = next(k for k in _keys(bad) if k.endswith(".attention.query_key_value.weight"))
    rows = _source_tensor(bad, fused).shape[0]
    assert rows % 5  # 3 query + 2 x 1 key/value heads do not divide it
    why = f"QKV tensor with {rows} rows does not split into 3 query and 2 x 1 key/value heads"
    with pytest.raises(InputError) as law:
        reinit(cls(config), bad, "gauss-matched")
    assert why in str(law.value)
    with pytest.raises(InputError) as err:
        reinit(cls(config), bad, "permuted")
    line = str(err.value)
    assert "draws it from" not in line
    assert line.endswith(f"; nor can a law mode (gauss-matched, family, empirical) draw it from the source's fused "
                         f"QKV: {bad}'s config does not fit it ({fused}: {why})")


def _keys(folder):
    from scalefit.weightstats.reinit import load_source

    return sorted(load_source(folder)[0])


def _source_tensor(folder, key):
    from scalefit.weightstats.reinit import load_source

    return load_source(folder)[0][key]


def test_a_folders_names_need_no_transformers(monkeypatch):
    """A name read from a file (loaded=False) is the file's as given: checkpoint_name does not
    import transformers for it; GPT-NeoX's lm_head is still embed_out."""
    monkeypatch.delitem(sys.modules, "transformers.conversion_mapping", raising=False)
    name = "model.layers.0.block_sparse_moe.experts.gate_up_proj"
    assert checkpoint_name(name, "granitemoe", loaded=False) == name
    assert checkpoint_name("lm_head.weight", "gpt_neox", loaded=False) == "embed_out.weight"
    assert "transformers.conversion_mapping" not in sys.modules


def test_a_loaded_name_is_renamed_whatever_is_imported(monkeypatch):
    """A loaded model's name is the file's whether or not transformers' mapping module happens to be
    imported (before, checkpoint_name read sys.modules: without it a loaded Mixtral's mlp. stayed)."""
    loaded = "model.layers.0.mlp.experts.gate_up_proj"
    assert checkpoint_name(loaded, "mixtral") == "model.layers.0.block_sparse_moe.experts.gate_up_proj"
    monkeypatch.delitem(sys.modules, "transformers.conversion_mapping", raising=False)
    assert checkpoint_name(loaded, "mixtral") == "model.layers.0.block_sparse_moe.experts.gate_up_proj"
    assert checkpoint_name(loaded, "mixtral", loaded=False) == loaded


@pytest.mark.parametrize("arch", ["kolibri1", "sarvam_moe"])
def test_a_folder_is_measured_without_transformers_renames(renamed, arch, monkeypatch):
    """Measuring a folder never reads transformers' renames (its names are the file's), even with
    transformers imported in the process; a loaded model's table does."""
    from scalefit.weightstats import groups

    model, folder, _ = _arch(renamed, arch)
    read, file_renames = [], groups.file_renames
    monkeypatch.setattr(groups, "file_renames", lambda model_type: read.append(model_type) or file_renames(model_type))
    _cheap_table(folder)
    assert read == []
    _cheap_table(model)
    assert set(read) == {arch}


@pytest.mark.parametrize("arch", [*RENAMED, *PIECES])
def test_a_files_names_are_left_as_they_are(renamed, arch):
    """A folder's own names come out as they are through a loaded model's renames too (loaded=True,
    the default): reinit passes names that may be either (a state dict's, a folder's) through them,
    and the reversal must be a no-op on the file's."""
    import importlib

    importlib.import_module("transformers.conversion_mapping")  # the mapping is read, as after a model loaded

    _, folder, _ = _arch(renamed, arch)
    assert [checkpoint_name(k, arch) for k in sorted(_file_keys(folder))] == sorted(_file_keys(folder))


# converters with an op that has no `dim` (Transpose, PermuteForRope, Ergo's and Inkling2's own):
# reading the expert layout raised AttributeError, so measuring such a loaded model failed
NO_DIM_OPS = ["ergo", "inkling2_text", "inkling2_loop_text", "mistral_large4", "kimi_k25", "qwen3_vl_moe"]
# per-expert patterns that start with an escaped dot (\.experts.*.w1.weight): Mixtral's layout
ESCAPED_EXPERTS = ["kimi_linear", "deepseek_v4", "mistral_large4_text", "minimax_m3_vl"]


def _known(arch):
    if arch not in transformers.CONFIG_MAPPING:
        pytest.skip(f"this transformers has no {arch}")


@pytest.mark.parametrize("arch", NO_DIM_OPS)
def test_expert_layout_reads_a_mapping_with_ops_without_dim(arch):
    _known(arch)
    layout = expert_layout(arch)
    assert all(parts and all(isinstance(p, str) for p in parts) for parts in layout.values())


@pytest.mark.parametrize("arch", ESCAPED_EXPERTS)
def test_expert_layout_reads_patterns_that_start_with_an_escaped_dot(arch):
    _known(arch)
    assert expert_layout(arch) == expert_layout("mixtral") == {"gate_up_proj": ("w1", "w3"), "down_proj": ("w2",)}


# dense models whose mapping cuts a tensor on one side only too: OLMo-hybrid's linear_attn
# q/k/v_conv1d (concatenated into conv1d on load), HRM-text's attn.gqkv_proj (split into gate, q,
# k, v on load) and mlp.gate_up_proj (split into gate and up)
DENSE_PIECES = {"olmo_hybrid": r"\.linear_attn\.[qkv]_conv1d\.weight$",
                "hrm_text": r"\.attn\.gqkv_proj\.weight$|\.mlp\.gate_up_proj\.weight$"}


@pytest.fixture(scope="module")
def dense(tmp_path_factory):
    """{model_type: (loaded model, folder's table)} of DENSE_PIECES this transformers has."""
    root, out = tmp_path_factory.mktemp("dense_pieces"), {}
    for name, (cls, config) in _configs(DENSE_PIECES).items():
        torch.manual_seed(0)
        cls(config).save_pretrained(root / name)
        out[name] = (cls.from_pretrained(root / name).eval(), _sorted(_cheap_table(root / name)))
    return out


@pytest.mark.parametrize("arch", list(DENSE_PIECES))
def test_a_dense_model_cut_otherwise_gives_its_folders_rows(dense, arch):
    """Names, groups, layers and statistics equal the folder's, the pieces the file holds included
    (groups.file_pieces reads them from the same converters as Bailing-hybrid's and Sarvam-MoE's)."""
    model, folder_rows = _arch(dense, arch)
    loaded_rows = _sorted(_cheap_table(model))
    assert loaded_rows[KEYS].equals(folder_rows[KEYS])
    np.testing.assert_allclose(loaded_rows["value"], folder_rows["value"], rtol=1e-9, atol=1e-12)
    assert loaded_rows["tensor"].str.contains(DENSE_PIECES[arch]).any()


def test_spliced_puts_each_swap_where_its_first_old_key_was():
    """The one splice of measure (loaded -> file tensors) and reinit (file -> loaded): order kept,
    each swap's new items at its first old key's place (its first as given, not as met)."""
    from scalefit.weightstats.groups import spliced

    items = {"a": 1, "k": 2, "b": 3, "q": 4, "v": 5, "c": 6}
    swaps = [(("q", "k", "v"), {"qkv": 9}), (("c",), {"c1": 7, "c2": 8})]
    assert spliced(items, swaps) == {"a": 1, "b": 3, "qkv": 9, "c1": 7, "c2": 8}
    assert list(spliced(items, swaps)) == ["a", "b", "qkv", "c1", "c2"]
    assert list(spliced(items, [])) == list(items)


def test_deepseek_v4_folder_and_loaded_model_give_the_same_rows(tmp_path):
    """DeepSeek-V4's folder holds each hash-routed layer's gate.tid2eid (token id -> expert id,
    int64, a buffer the loaded model has as no parameter): it is no weight, so the folder's table
    has the loaded model's rows, no more (it measured it as a tensor of group 'other')."""
    model = tiny_model("deepseek_v4")
    model.save_pretrained(tmp_path)
    assert any(k.endswith(".gate.tid2eid") for k in _file_keys(tmp_path))
    folder_rows, loaded_rows = _sorted(_cheap_table(tmp_path)), _sorted(_cheap_table(model))
    assert not folder_rows["tensor"].str.contains("tid2eid").any()
    assert loaded_rows[KEYS].equals(folder_rows[KEYS])
    np.testing.assert_allclose(loaded_rows["value"], folder_rows["value"], rtol=1e-9, atol=1e-12)

"""Re-initializing a mixture-of-experts model loaded by transformers 5 (experts fused into 3-d
parameters) from a saved folder, which holds one matrix per expert: each expert's gate, up and
down matrix comes from its own source matrix (groups.join_experts), in every mode, and a loaded
model or its state dict as the source gives the same tensors as its folder (tiny Mixtral and
Qwen2-MoE, PhiMoE, DeepSeek-V2, Hunyuan-MoE, Granite-MoE, no hub)."""
from __future__ import annotations

import os

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from test_weights_moe_fused import FUSED_FILE_ARCHS, MORE_ARCHS, _configs, _more_configs  # noqa: E402

from scalefit.errors import InputError  # noqa: E402
from scalefit.weightstats.groups import checkpoint_name, join_experts, split_experts  # noqa: E402
from scalefit.weightstats.reinit import _tensor_seed, draw, load_source, reinit  # noqa: E402

os.environ.setdefault("HF_HUB_OFFLINE", "1")
torch.set_num_threads(1)
transformers.utils.logging.disable_progress_bar()
# PhiMoE: its router loads as mlp.router; DeepSeek-V2: latent attention (attn_q, attn_kv);
# Hunyuan-MoE: its router is mlp.gate.wg; Granite-MoE: its file holds the experts fused, renamed
ARCHS = ["mixtral", "qwen2_moe", "phimoe", "deepseek_v2", "hunyuan_v1_moe", "granitemoe"]


@torch.no_grad()
def _distinct_experts(model):
    """Each expert at its own scale, up's rows at 3x gate's: a matrix taken from the wrong expert
    or the wrong half has other values and another spread."""
    for name, p in model.named_parameters():
        if p.ndim == 3:
            p.mul_(torch.arange(1, p.shape[0] + 1, dtype=p.dtype).view(-1, 1, 1))
            if name.endswith("gate_up_proj"):
                p[:, p.shape[1] // 2:] *= 3.0
    return model


@pytest.fixture(scope="module")
def moe(tmp_path_factory):
    """{arch: (class, source folder, its tensors by file name, target folder)}: two models of
    other seeds saved by save_pretrained; a target is loaded fresh by each test."""
    root, out = tmp_path_factory.mktemp("reinit_moe"), {}
    configs = {**_configs(), **_more_configs((*MORE_ARCHS, *FUSED_FILE_ARCHS))}
    for arch in ARCHS:
        if arch not in configs:
            continue
        cls, config = configs[arch]
        for seed, folder in ((0, "source"), (1, "target")):
            torch.manual_seed(seed)
            _distinct_experts(cls(config)).save_pretrained(root / arch / folder)
        out[arch] = (cls, root / arch / "source", load_source(root / arch / "source")[0], root / arch / "target")
    return out


def _arch(moe, arch):
    if arch not in moe:
        pytest.skip(f"this transformers has no {arch}")
    return moe[arch]


def _expert_views(model):
    """{file name of an expert matrix: its view in the loaded model's fused parameter}."""
    arch, views = model.config.model_type, {}
    for name, p in model.named_parameters():
        views.update(split_experts(checkpoint_name(name, arch), p.detach(), arch) or {})
    return views


@pytest.mark.parametrize("arch", ARCHS)
def test_source_mode_puts_each_file_matrix_in_its_expert(moe, arch):
    cls, folder, source, target = _arch(moe, arch)
    model = cls.from_pretrained(target)
    assert any(p.ndim == 3 for p in model.parameters()), "transformers no longer fuses the experts"
    result = reinit(model, folder, "source")
    assert set(result.to_frame()["how"]) == {"tensor"}
    assert "other" not in set(result.to_frame()["group"])  # the router in router, as its file name says
    views = _expert_views(model)
    assert set(views) == {k for k in source if ".experts." in k}
    for key, view in views.items():
        assert torch.equal(view, source[key]), key
    reference = cls.from_pretrained(folder)
    for (name, p), (_, q) in zip(model.named_parameters(), reference.named_parameters()):
        assert torch.equal(p, q), name


@pytest.mark.parametrize("mode", ["permuted", "empirical", "family"])
@pytest.mark.parametrize("arch", ARCHS[:2])
def test_law_modes_draw_each_expert_from_its_own_matrix(moe, arch, mode):
    """Each expert matrix is the draw from its own source matrix, seeded by its file name."""
    cls, folder, source, target = _arch(moe, arch)
    model = cls.from_pretrained(target)
    result = reinit(model, folder, mode, seed=7)
    fused = result.to_frame().query("name.str.contains('experts')")
    assert len(fused) and set(fused["how"]) == {"tensor"}
    for key, view in _expert_views(model).items():
        expected = draw(mode, source[key], tuple(source[key].shape), seed=_tensor_seed(7, key))[0]
        assert torch.equal(view, expected.to(view.dtype)), key
        if mode == "permuted":
            assert torch.equal(view.reshape(-1).sort().values, source[key].reshape(-1).sort().values), key


@pytest.mark.parametrize("arch", ARCHS[:2])
def test_a_loaded_model_or_its_state_dict_is_the_same_source_as_its_folder(moe, arch):
    cls, folder, _, target = _arch(moe, arch)
    loaded = cls.from_pretrained(folder)
    drawn = []
    for source in (folder, loaded, loaded.state_dict()):
        model = cls.from_pretrained(target)
        reinit(model, source, "empirical", seed=3)
        drawn.append(dict(model.named_parameters()))
    for name, p in drawn[0].items():
        assert torch.equal(p, drawn[1][name]) and torch.equal(p, drawn[2][name]), name


def test_a_source_with_narrower_experts(moe, tmp_path):
    """Exact modes refuse in one line naming the first expert matrix of another shape; law modes
    draw the fused parameter from the pooled law of the source's expert group."""
    cls, _, _, target = _arch(moe, "mixtral")
    config = cls.from_pretrained(target).config
    config.intermediate_size //= 2
    cls(config).save_pretrained(tmp_path / "narrow")
    with pytest.raises(InputError, match=r"tensor model\.layers\.0\.mlp\.experts\.gate_up_proj is a fused "
                       r"expert parameter; its model\.layers\.0\.block_sparse_moe\.experts\.0\.w1\.weight "
                       r"has shape \(32, 32\) \(the model's expert matrix is \(64, 32\)\)") as err:
        reinit(cls.from_pretrained(target), tmp_path / "narrow", "permuted")
    assert "\n" not in str(err.value)
    rows = reinit(cls.from_pretrained(target), tmp_path / "narrow", "gauss-matched").to_frame().set_index("name")
    assert rows.loc["model.layers.0.mlp.experts.gate_up_proj", "how"] == "group"
    assert rows.loc["model.layers.0.mlp.experts.down_proj", "group"] == "expert_out"
    assert rows.loc["model.layers.0.mlp.gate.weight", "how"] == "tensor"


def test_join_experts_is_the_inverse_of_split_experts():
    weight = torch.randn(3, 8, 5)
    for arch, name in (("mixtral", "model.layers.0.block_sparse_moe.experts.gate_up_proj"),
                       ("olmoe", "model.layers.0.mlp.experts.down_proj")):
        parts = split_experts(name, weight, arch)
        assert torch.equal(join_experts(name, parts, 3, arch), weight)
        del parts[next(iter(parts))]
        assert join_experts(name, parts, 3, arch) is None
    assert join_experts("model.layers.0.mlp.experts.gate_up_proj", {}, 3, "granitemoe") is None

"""Review mends of weightstats (S11): reinit splits a source's fused QKV only where a law mode draws
its parts; measure refuses an unsplit attn_q from names; standardized_histogram refuses an empty
tensor with given moments as InputError; an unfit join is worded as a join."""
from __future__ import annotations

import json
import os

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from test_reinit import tiny_model  # noqa: E402

from scalefit.errors import InputError  # noqa: E402
from scalefit.weightstats import groups, measure  # noqa: E402
from scalefit.weightstats.binned_fit import standardized_histogram  # noqa: E402
from scalefit.weightstats.reinit import reinit  # noqa: E402

os.environ.setdefault("HF_HUB_OFFLINE", "1")
torch.set_num_threads(1)
transformers.utils.logging.disable_progress_bar()


@pytest.fixture(scope="module")
def neox(tmp_path_factory):
    """A tiny GPT-NeoX (2 heads, 2 layers) saved as safetensors."""
    folder = tmp_path_factory.mktemp("s11") / "neox"
    tiny_model().save_pretrained(folder)
    return folder


def _splits_counted(monkeypatch):
    calls, split = [], groups.FusedQKV.split
    monkeypatch.setattr(groups.FusedQKV, "split", lambda self, weight: calls.append(weight.shape) or split(self, weight))
    return calls


@pytest.mark.parametrize("mode", ["permuted", "gauss-matched"])
def test_a_gpt_neox_from_a_gpt_neox_splits_no_source_qkv(neox, mode, monkeypatch):
    """The model holds no attn_q, attn_k, attn_v: no copy of the source's q, k, v parts is made (before:
    one FusedQKV.split per layer, in every mode)."""
    calls = _splits_counted(monkeypatch)
    result = reinit(tiny_model(), neox, mode, seed=1)
    assert calls == []
    assert "attn_qkv" in set(result.to_frame()["group"])


def test_a_source_whose_config_does_not_fit_its_qkv_is_still_permuted(neox, tmp_path):
    """The source's config says 5 heads (its 96-row QKV does not split so): permuted never splits it,
    so it no longer refuses; the model's QKV is a permutation of the source's."""
    import shutil

    folder = tmp_path / "five"
    shutil.copytree(neox, folder)
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, "num_attention_heads": 5}))
    model = tiny_model()
    reinit(model, folder, "permuted", seed=2)
    name = "gpt_neox.layers.0.attention.query_key_value.weight"
    source = dict(tiny_model().named_parameters())[name]
    drawn = model.get_parameter(name).detach()
    assert torch.equal(drawn.flatten().sort().values, source.detach().flatten().sort().values)
    assert not torch.equal(drawn, source)


def _reads_counted(monkeypatch):
    reads, real = [], measure._parts

    def parts(name, tensor, src, split):
        reads.append(name)
        return real(name, tensor, src, split)

    monkeypatch.setattr(measure, "_parts", parts)
    return reads


@pytest.mark.parametrize("what", ["attn_q", "gpt_neox.layers.0.attention.query_key_value.weight[k]"])
def test_an_unsplit_part_is_refused_from_names_with_the_groups(neox, what, monkeypatch):
    """split=False holds no attn_q: refused at once, naming the groups held (before: every attn_qkv
    tensor was read, then the bare "no tensor or group")."""
    reads = _reads_counted(monkeypatch)
    with pytest.raises(InputError) as err:
        measure.group_tensors(neox, what, split=False)
    line = str(err.value)
    assert f"no tensor or group '{what}' (its groups: " in line and line.endswith(")")
    held = line.split("(its groups: ")[1][:-1].split(", ")
    assert {"attn_qkv", "mlp_in"} <= set(held) and not {"attn_q", "attn_k", "attn_v"} & set(held)
    assert reads == []
    assert len(measure.select_tensors(neox, what)) == (2 if what == "attn_q" else 1)  # split, it is held


def test_a_qkv_of_unknown_layout_holds_no_attn_q(neox, monkeypatch):
    """A fused QKV that is not split (no count of heads) holds no attn_q group either."""
    reads = _reads_counted(monkeypatch)
    state = {n: p.detach() for n, p in tiny_model().named_parameters()}
    with pytest.raises(InputError, match=r"no tensor or group 'attn_q' \(its groups: .*attn_qkv"):
        measure.group_tensors(state, "attn_q")
    assert reads == []


def test_an_empty_tensor_with_given_moments_is_an_input_error():
    """Before: RuntimeError from max() of the empty tensor."""
    for values in (torch.empty(0), [torch.empty(0), torch.empty(0)]):
        with pytest.raises(InputError, match=r"^weights: cannot standardize an empty tensor$"):
            standardized_histogram(values, mean=0.0, std=1.0)


def test_an_empty_tensor_in_a_group_is_skipped():
    """Its group's histogram is that of the others (before: RuntimeError)."""
    torch.manual_seed(0)
    full = torch.randn(200)
    with_empty, alone = standardized_histogram([full, torch.empty(0)]), standardized_histogram(full)
    assert (with_empty.counts == alone.counts).all() and (with_empty.mean, with_empty.std) == (alone.mean, alone.std)


def test_an_unfit_join_is_said_as_a_join(tmp_path):
    """Bailing-hybrid's conv1d is joined from the file's q/k/v_conv1d: a folder whose three hold 8 rows
    each does not join into the model's 96; before, it read "is a piece of q_conv1d, k_conv1d, v_conv1d"."""
    from safetensors.torch import load_file, save_file
    from test_arch_renamed import tiny_model as tiny_arch

    tiny_arch("bailing_hybrid").save_pretrained(tmp_path)
    stored = load_file(tmp_path / "model.safetensors")
    save_file({k: v[:8].contiguous() if "_conv1d." in k else v for k, v in stored.items()},
              tmp_path / "model.safetensors", metadata={"format": "pt"})
    with pytest.raises(InputError) as err:
        reinit(tiny_arch("bailing_hybrid"), tmp_path, "permuted")
    line = str(err.value)
    file = ", ".join(f"model.layers.0.attention.{p}_conv1d.weight" for p in "qkv")
    assert (f"re-init permuted: tensor model.layers.0.self_attn.conv1d.weight is joined from {file} in {tmp_path} "
            "(shapes (8, 1, 4), (8, 1, 4), (8, 1, 4)), which do not join into the model's (96 on dim 0), "
            "the model's is (96, 1, 4)") in line
    assert "piece of" not in line and "cut into" not in line

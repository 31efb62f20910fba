"""What the weights pass moves to --device: each tensor once for its own statistics, then for its
group's pass only the part measured (one expert's matrix, one Q/K/V part), cut where the source
holds it; not the whole fused tensor once per part (3E copies of a fused expert tensor per MoE
layer on a GPU). Counted on the CPU through torch.Tensor.to, so it runs without a GPU."""
from __future__ import annotations

import os

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from test_weights_moe_fused import _configs  # noqa: E402

from scalefit.weightstats.groups import is_weight_tensor  # noqa: E402
from scalefit.weightstats.measure import weight_stats_table  # noqa: E402

os.environ.setdefault("HF_HUB_OFFLINE", "1")
torch.set_num_threads(1)


@pytest.fixture(scope="module")
def mixtral():
    configs = _configs()
    if "mixtral" not in configs:
        pytest.skip("this transformers has no Mixtral")
    cls, config = configs["mixtral"]
    torch.manual_seed(0)
    model = cls(config).eval()
    assert any(p.ndim == 3 for p in model.parameters()), "transformers no longer fuses the experts"
    return model


def _moves(monkeypatch, source, **kwargs):
    """(the table measured on device 'cpu', the element counts of each tensor sent to a device, in order)."""
    moved, to = [], torch.Tensor.to

    def counting_to(self, *args, **kw):
        if any(isinstance(a, torch.device) for a in (*args, *kw.values())):
            moved.append(self.numel())
        return to(self, *args, **kw)

    with monkeypatch.context() as patch:
        patch.setattr(torch.Tensor, "to", counting_to)
        table = weight_stats_table(source, device="cpu", fit_families=False, spectra=False, **kwargs)
    return table, moved


def _check(table, moved, sizes):
    """The first pass moves each stored tensor whole (`sizes`), the group pass each measured part
    at its own size (its `count` row), nothing else (a group of constant tensors, the norm gains
    at init, reads none: its quantiles are its value)."""
    spread = table.query("tensor == '*' and stat == 'std' and value > 0")["group"]
    parts = table.loc[(table["tensor"] != "*") & (table["stat"] == "count") & table["group"].isin(spread),
                      "value"].astype(int).tolist()
    assert len(parts) > 1
    assert moved[:len(sizes)] == sizes
    assert sorted(moved[len(sizes):]) == sorted(parts)


def test_a_fused_expert_tensor_is_moved_once_and_then_expert_by_expert(mixtral, monkeypatch):
    table, moved = _moves(monkeypatch, mixtral)
    sizes = [p.numel() for n, p in mixtral.named_parameters() if is_weight_tensor(n)]
    _check(table, moved, sizes)
    fused = [p for p in mixtral.parameters() if p.ndim == 3]
    # gate_up_proj [4, 128, 32] and down_proj [4, 32, 64]: parts of 2048, the largest tensor else 3072
    assert max(moved[len(sizes):]) < min(p.numel() for p in fused)
    assert moved[len(sizes):].count(2048) == 12 * len(fused) // 2
    assert len(table.loc[table["group"].isin(["expert_in", "expert_out"]) & (table["tensor"] != "*"),
                         "tensor"].unique()) == 12 * len(fused) // 2


def test_a_fused_qkv_is_moved_part_by_part_in_the_group_pass(monkeypatch):
    qkv = torch.randn(3 * 32, 32, generator=torch.Generator().manual_seed(0))
    source = {"gpt_neox.layers.0.attention.query_key_value.weight": qkv}
    table, moved = _moves(monkeypatch, source, num_heads=2)
    _check(table, moved, [qkv.numel()])
    assert sorted(moved[1:]) == [1024, 1024, 1024, 3072]  # q, k, v, and the whole tensor in attn_qkv


def test_moving_to_the_cpu_changes_no_row(mixtral):
    """The same table to the last bit with and without --device cpu (the parts are cut on the source)."""
    kept = weight_stats_table(mixtral, fit_families=False, spectra=False)
    moved = weight_stats_table(mixtral, device="cpu", fit_families=False, spectra=False)
    assert kept.equals(moved)


def test_the_group_pass_cuts_an_expert_matrix_without_splitting_again(mixtral, monkeypatch):
    """split_experts runs once per stored tensor (its first pass); the group pass cuts each expert's
    matrix alone (before: every matrix re-split the whole fused tensor into all E experts' views)."""
    from scalefit.weightstats import measure

    calls, split = [], measure.split_experts
    monkeypatch.setattr(measure, "split_experts", lambda *args: calls.append(args[0]) or split(*args))
    kept = weight_stats_table(mixtral, fit_families=False, spectra=False)
    assert len(calls) == sum(is_weight_tensor(n) for n, _ in mixtral.named_parameters())
    monkeypatch.undo()
    assert kept.equals(weight_stats_table(mixtral, fit_families=False, spectra=False))


def test_a_piece_cut_from_a_loaded_model_is_moved_as_the_file_holds_it(monkeypatch):
    """Sarvam-MoE's q_proj, k_proj, v_proj are moved once joined (the file's query_key_value, in
    q_proj's place), then its [q], [k], [v] parts each at its own size."""
    from test_arch_renamed import tiny_model

    model = tiny_model("sarvam_moe")
    params = dict(model.named_parameters())
    sizes = []
    for name, p in params.items():
        if name.endswith(".self_attn.q_proj.weight"):
            sizes.append(sum(params[name.replace("q_proj", x)].numel() for x in ("q_proj", "k_proj", "v_proj")))
        elif is_weight_tensor(name) and not name.endswith((".self_attn.k_proj.weight", ".self_attn.v_proj.weight")):
            sizes.append(p.numel())
    table, moved = _moves(monkeypatch, model)
    _check(table, moved, sizes)
    parts = table.loc[table["tensor"].str.endswith(("query_key_value.weight[q]", "query_key_value.weight[k]",
                                                    "query_key_value.weight[v]")) & (table["stat"] == "count")]
    assert len(parts) == 3 * model.config.num_hidden_layers


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no GPU")
def test_a_moe_measured_on_cuda_gives_the_cpu_rows(mixtral):  # pragma: no cover - runs where there is a GPU
    """The group pass cuts each expert's matrix where the model sits and moves only that to the
    GPU: the per-expert and group rows on cuda are the CPU's (to float tolerance; bench/gpu_checks.sh
    runs this with the other cuda tests)."""
    import numpy as np

    cpu = weight_stats_table(mixtral, fit_families=False, spectra=False)
    gpu = weight_stats_table(mixtral, device="cuda", fit_families=False, spectra=False)
    merged = cpu.merge(gpu, on=["tensor", "group", "layer", "stat"])
    assert len(merged) == len(cpu) == len(gpu)
    close = np.isclose(merged["value_x"], merged["value_y"], rtol=1e-4, atol=1e-6, equal_nan=True)
    assert close.all(), merged.loc[~close, ["tensor", "stat", "value_x", "value_y"]].to_string()

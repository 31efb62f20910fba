"""The statistics pass: one table from a model in memory, a checkpoint folder or a state dict."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch
from threadpoolctl import threadpool_limits

from scalefit.errors import InputError
from scalefit.weightstats import measure, moments
from scalefit.weightstats.init import init_like_pythia

torch.set_num_threads(1)
threadpool_limits(1)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A tiny Pythia-initialised GPT-NeoX, lightly perturbed, saved as safetensors."""
    from transformers import GPTNeoXConfig, GPTNeoXForCausalLM

    config = GPTNeoXConfig(vocab_size=96, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                           intermediate_size=128, tie_word_embeddings=False)
    model = init_like_pythia(GPTNeoXForCausalLM(config))
    with torch.no_grad():  # trained-looking layer norms and biases, not constants
        for name, p in model.named_parameters():
            if p.ndim == 1:
                p.add_(0.01 * torch.randn(p.shape, generator=torch.Generator().manual_seed(len(name))))
    folder = tmp_path_factory.mktemp("ckpt") / "step0"
    model.save_pretrained(folder, safe_serialization=True)
    return model, folder


@pytest.fixture(scope="module")
def table(tiny):
    return measure.weight_stats_table(tiny[0], model="tiny", step=7)


def test_columns_types_and_stat_names(table):
    assert tuple(table.columns) == measure.COLUMNS
    assert (table["model"] == "tiny").all() and (table["step"] == 7).all()
    assert table["value"].dtype == np.float64 and table["layer"].dtype == np.int64
    stats = set(table["stat"])
    for name in ("mean", "std", "rms", "skew", "excess_kurtosis", "q0.001", "q0.5", "q0.999", "max_abs",
                 "frac_3sd", "frac_6sd", "frobenius", "sv_max", "stable_rank", "entropy_rank", "alpha",
                 "alpha_xmin", "t_nu", "t_scale", "gennorm_beta", "quartic_gamma", "logistic_scale",
                 "best_family", "t_loglik", "gennorm_aic", "laplace_bic", "quartic_ks"):
        assert name in stats, name
    assert not table.duplicated(["tensor", "group", "stat"]).any()
    # families and spectra for matrices only
    ln = table[table["tensor"] == "gpt_neox.layers.0.input_layernorm.weight"]
    assert "t_nu" not in set(ln["stat"]) and "alpha" not in set(ln["stat"]) and "q0.5" in set(ln["stat"])
    best = table[table["stat"] == "best_family"]["value"]
    assert set(best.map(measure.family_name)) <= set(measure.FAMILY_CODES)


def test_qkv_parts_and_file_names(table, tiny):
    tensors = set(table["tensor"])
    qkv = "gpt_neox.layers.1.attention.query_key_value.weight"
    assert {qkv, qkv + "[q]", qkv + "[k]", qkv + "[v]", "embed_out.weight"} <= tensors
    assert "lm_head.weight" not in tensors  # the checkpoint's own name, as in the folder
    rows = table[table["tensor"] == qkv + "[k]"].set_index("stat")["value"]
    w = dict(tiny[0].named_parameters())["gpt_neox.layers.1.attention.query_key_value.weight"].detach()
    k = w.reshape(4, 3, 8, 32)[:, 1].reshape(32, 32)
    assert rows["std"] == pytest.approx(float(k.double().std(correction=0)), rel=1e-9)
    assert set(table.loc[table["tensor"] == qkv + "[k]", "group"]) == {"attn_k"}


def test_group_rows_pool_their_tensors(table, tiny):
    pooled = table[(table["tensor"] == measure.GROUP_TENSOR) & (table["group"] == "mlp_in")].set_index("stat")["value"]
    params = dict(tiny[0].named_parameters())
    cat = torch.cat([params[f"gpt_neox.layers.{i}.mlp.dense_h_to_4h.weight"].detach().reshape(-1) for i in (0, 1)])
    exact = moments.moments(cat)
    for key in ("count", "mean", "std", "skew", "excess_kurtosis", "frobenius", "max_abs", "frac_3sd"):
        assert pooled[key] == pytest.approx(exact[key], rel=1e-9, abs=1e-15), key
    for key in ("q0.01", "q0.5", "q0.99"):  # from the pooled fine histogram
        assert pooled[key] == pytest.approx(exact[key], abs=0.01 * exact["std"])
    per_tensor = table[(table["group"] == "mlp_in") & (table["tensor"] != "*") & (table["stat"] == "alpha")]
    assert pooled["alpha"] == pytest.approx(per_tensor["value"].mean())
    assert set(table.loc[table["tensor"] == "*", "layer"]) == {-1}
    assert {"attn_qkv", "attn_q", "attn_k", "attn_v", "attn_out", "mlp_in", "mlp_out", "embed_in", "embed_out",
            "layernorm", "bias"} <= set(table.loc[table["tensor"] == "*", "group"])
    # Pythia init: t fit of a Gaussian group says nu is large, best family Gaussian-like
    assert pooled["t_nu"] > 30


def _compare(a: pd.DataFrame, b: pd.DataFrame):
    keys = ["tensor", "group", "layer", "stat"]
    merged = a.merge(b, on=keys, how="outer", indicator=True)
    assert (merged["_merge"] == "both").all()
    assert np.allclose(merged["value_x"], merged["value_y"], rtol=1e-10, atol=1e-14, equal_nan=True)


def test_folder_state_dict_and_module_give_the_same_rows(tiny, table):
    model, folder = tiny
    _compare(table, measure.weight_stats_table(folder, model="tiny", step=7))
    _compare(table, measure.weight_stats_table(folder / "model.safetensors", model="tiny", step=7))
    from safetensors.torch import load_file

    state = load_file(folder / "model.safetensors")
    _compare(table, measure.weight_stats_table(state, model="tiny", step=7, num_heads=4))


def test_sharded_checkpoint_folder(tiny, tmp_path, table):
    from safetensors.torch import load_file, save_file

    state = load_file(tiny[1] / "model.safetensors")
    names = sorted(state)
    shards = {"model-00001-of-00002.safetensors": names[: len(names) // 2],
              "model-00002-of-00002.safetensors": names[len(names) // 2:]}
    for file, keys in shards.items():
        save_file({k: state[k] for k in keys}, tmp_path / file)
    index = {"metadata": {}, "weight_map": {k: f for f, ks in shards.items() for k in ks}}
    (tmp_path / "model.safetensors.index.json").write_text(json.dumps(index))
    (tmp_path / "config.json").write_text((tiny[1] / "config.json").read_text())
    _compare(table, measure.weight_stats_table(tmp_path, model="tiny", step=7))


def test_weights_are_never_modified(tiny):
    model = tiny[0]
    before = {k: v.detach().clone() for k, v in model.named_parameters()}
    measure.weight_stats_table(model, device="cpu")
    for k, v in model.named_parameters():
        assert torch.equal(v, before[k]), k


def test_options_drop_families_spectra_groups(tiny):
    df = measure.weight_stats_table(tiny[0], fit_families=False, spectra=False, groups=False, split=False)
    assert not {"t_nu", "alpha", "best_family"} & set(df["stat"])
    assert "*" not in set(df["tensor"]) and not df["tensor"].str.contains(r"\[").any()


def test_bad_sources_are_input_errors(tmp_path):
    with pytest.raises(InputError, match="no such checkpoint"):
        measure.weight_stats_table(tmp_path / "missing")
    (tmp_path / "pytorch_model.bin").write_bytes(b"pickle")
    with pytest.raises(InputError, match="safetensors only"):
        measure.weight_stats_table(tmp_path)
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "model.safetensors").write_bytes(b"\x00" * 20)
    with pytest.raises(InputError, match="cannot read as safetensors"):
        measure.weight_stats_table(bad)
    with pytest.raises(InputError):
        measure.weight_stats_table(42)


def test_a_diverged_tensor_is_counted_not_measured(tiny, table, capsys):
    """NaN or inf in a weight (a diverged run) used to crash the spectra (LinAlgError): the tensor
    now gets count and nonfinite only, and so does its group (no jump from pooling the rest), and
    the sweep's measurement says so."""
    state = {k: v.clone() for k, v in tiny[0].state_dict().items()}
    name = "gpt_neox.layers.0.mlp.dense_h_to_4h.weight"
    state[name][0, :3] = torch.tensor([float("nan"), float("inf"), -float("inf")])
    df = measure.weight_stats_table(state, fit_families=False, split=False)
    rows = df[df["tensor"] == "gpt_neox.layers.0.mlp.dense_h_to_4h.weight"].set_index("stat")["value"]
    assert rows.to_dict() == {"count": state[name].numel(), "nonfinite": 3.0}
    group = df[(df["tensor"] == "*") & (df["group"] == "mlp_in")].set_index("stat")["value"]
    finite = state["gpt_neox.layers.1.mlp.dense_h_to_4h.weight"]
    assert group.to_dict() == {"count": state[name].numel() + finite.numel(), "nonfinite": 3.0}
    other = df[(df["tensor"] == "*") & (df["group"] == "mlp_out")]["stat"]
    assert "std" in set(other) and "nonfinite" not in set(other)  # other groups are measured as ever
    assert "nonfinite" not in set(table["stat"])  # healthy weights: no such row
    one_inf = state[name].clone().nan_to_num(nan=0.0, posinf=0.0, neginf=0.0)
    one_inf[2, 2] = float("inf")  # inf alone (no NaN) is caught too
    assert measure.tensor_stats(one_inf) == {"count": one_inf.numel(), "nonfinite": 1.0}
    measures = pytest.importorskip("scalefit.sweep.weights")
    from scalefit.sweep.checkpoints import CheckpointInfo
    from scalefit.errors import ScalefitWarning
    with pytest.warns(ScalefitWarning, match=r"tiny step 3: 1 weight tensors hold NaN or inf \(3 elements\)"):
        measures.weights_measurement(fit_families=False).fn(state, CheckpointInfo(model="tiny", step=3, tokens=0,
                                                                                  lr=None))


def test_evals_sweep_hook_calls_this_function(tiny):
    measures = pytest.importorskip("scalefit.sweep.weights")
    assert measures.weight_stats_function() is measure.weight_stats_table
    from scalefit.sweep.checkpoints import CheckpointInfo

    m = measures.weights_measurement(fit_families=False)
    rows = m.fn(tiny[0], CheckpointInfo(model="tiny", step=3, tokens=0, lr=None))
    assert set(rows["model"]) == {"tiny"} and set(rows["step"]) == {3} and m.table == "weights"


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no GPU")
def test_cuda_matches_cpu(tiny, table):  # pragma: no cover - runs where there is a GPU
    gpu = measure.weight_stats_table(tiny[0], model="tiny", step=7, device="cuda")
    merged = table.merge(gpu, on=["tensor", "group", "layer", "stat"])
    assert len(merged) == len(table)
    # Student-t nu of a near-Gaussian tensor (hundreds) is ill-conditioned: compare the tail
    # index 1/nu, which is what the data determine (nu 356.11 vs 356.17 is 1/nu within 5e-7)
    inverse = merged["stat"] == "t_nu"
    cpu, gpu_values = merged["value_x"].copy(), merged["value_y"].copy()
    cpu[inverse], gpu_values[inverse] = 1 / cpu[inverse], 1 / gpu_values[inverse]
    close = np.isclose(cpu, gpu_values, rtol=1e-4, atol=1e-6, equal_nan=True)
    assert close.all(), merged.loc[~close, ["tensor", "stat", "value_x", "value_y"]].to_string()

"""Moments, spectra, tensor groups and Pythia's initialization."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch
from threadpoolctl import threadpool_limits
from scipy import stats

from scalefit.weightstats import groups, init, moments, spectra
from scalefit.weightstats.binned_fit import standardized_histogram
from scalefit.weightstats.measure import tensor_stats

torch.set_num_threads(1)
threadpool_limits(1)  # numpy's BLAS too: threads fight on a shared 2-core machine


# ---- moments ----------------------------------------------------------------------------------

def test_moments_match_numpy_and_scipy():
    x = torch.from_numpy(np.random.default_rng(0).standard_t(5, 300_001) * 0.03 + 0.01)
    before = x.clone()
    m = moments.moments(x)
    a = x.numpy()
    assert m["count"] == a.size
    assert m["mean"] == pytest.approx(a.mean(), rel=1e-12)
    assert m["std"] == pytest.approx(a.std(), rel=1e-12)
    assert m["rms"] == pytest.approx(math.sqrt((a * a).mean()), rel=1e-12)
    assert m["skew"] == pytest.approx(stats.skew(a), rel=1e-9, abs=1e-12)
    assert m["excess_kurtosis"] == pytest.approx(stats.kurtosis(a), rel=1e-9)
    for q in moments.QUANTILES:
        assert m[moments.quantile_name(q)] == pytest.approx(np.quantile(a, q), rel=1e-12)
    assert m["max_abs"] == pytest.approx(np.abs(a).max())
    dev = np.abs(a - a.mean())
    assert m["frac_3sd"] == pytest.approx((dev > 3 * a.std()).mean())
    assert m["frac_6sd"] == pytest.approx((dev > 6 * a.std()).mean())
    assert m["frobenius"] == pytest.approx(np.linalg.norm(a), rel=1e-12)
    assert list(m) == list(moments.MOMENT_STATS)
    assert torch.equal(x, before)  # float64 input is not modified in place


def test_pooled_moments_equal_the_concatenation():
    r = np.random.default_rng(1)
    parts = [torch.from_numpy(r.normal(mu, s, n)) for mu, s, n in ((0, 1, 5000), (0.5, 0.1, 300), (-2, 3, 20000))]
    pooled = parts[0]
    cm = moments.central_moments(parts[0])
    for p in parts[1:]:
        cm = cm.combine(moments.central_moments(p))
    whole = moments.shape_stats(moments.central_moments(torch.cat(parts)))
    got = moments.shape_stats(cm)
    for key in whole:
        assert got[key] == pytest.approx(whole[key], rel=1e-10)
    del pooled


def test_histogram_counts_equal_numpy_on_its_own_edges():
    """The fast asinh and bincount binning put each weight where np.histogram does."""
    rng = np.random.default_rng(5)
    w = torch.from_numpy((0.02 * rng.standard_t(3, 300_000)).astype(np.float32))
    hist = standardized_histogram(w)
    z = (w.double().numpy() - hist.mean) / hist.std
    exact, _ = np.histogram(z, bins=hist.edges)
    assert hist.counts.sum() == w.numel() == exact.sum()
    assert np.abs(hist.counts - exact).sum() <= 1e-4 * w.numel()  # float32 rounding at edges


def test_histogram_quantiles_and_tails_match_exact():
    x = torch.from_numpy(np.random.default_rng(2).standard_t(4, 200_000))
    h = standardized_histogram(x)
    exact = np.quantile(x.numpy(), moments.QUANTILES)
    assert h.quantiles(moments.QUANTILES) == pytest.approx(exact, abs=0.01 * float(x.std()))
    dev = (x - x.mean()).abs()
    assert h.beyond == (int((dev > 3 * x.std(correction=0)).sum()), int((dev > 6 * x.std(correction=0)).sum()))
    assert h.counts.sum() == x.numel()
    # pooled from a list equals the histogram of the concatenation
    a, b = x[:50_000], x[50_000:]
    pooled = standardized_histogram([a, b], mean=h.mean, std=h.std, z_max=float((x - h.mean).abs().max()) / h.std)
    assert np.array_equal(pooled.counts, h.counts)


# ---- spectra ----------------------------------------------------------------------------------

def matrix_with_spectrum(eigenvalues, seed=0):
    """W (n x n) whose W^T W has exactly these eigenvalues: diag(sqrt(lambda)) V^T, V orthogonal."""
    r = np.random.default_rng(seed)
    v, _ = np.linalg.qr(r.standard_normal((len(eigenvalues), len(eigenvalues))))
    return torch.from_numpy(np.sqrt(eigenvalues)[:, None] * v.T)


@pytest.mark.parametrize("alpha", [2.5, 4.0])
def test_power_law_alpha_recovers_a_known_exponent(alpha):
    u = np.random.default_rng(int(alpha * 10)).random(500)
    lam = (1 - u) ** (-1.0 / (alpha - 1))  # Pareto: p(x) ~ x^-alpha for x >= 1
    w = matrix_with_spectrum(lam)
    evals = spectra.gram_eigenvalues(w)
    assert np.sort(evals) == pytest.approx(np.sort(lam), rel=1e-8)
    fit = spectra.power_law_alpha(evals)
    assert fit.alpha == pytest.approx(alpha, abs=0.25)
    assert fit.n_tail >= 100


def test_heavy_tailed_entries_give_a_small_alpha():
    r = np.random.default_rng(3)
    heavy = torch.from_numpy(r.standard_t(1.5, (1000, 400)))
    gauss = torch.from_numpy(r.standard_normal((1000, 400)))
    a_heavy = spectra.spectrum_stats(heavy)["alpha"]
    a_gauss = spectra.spectrum_stats(gauss)["alpha"]
    assert a_heavy < 3.0 < a_gauss


def test_spectrum_stats_match_an_svd():
    w = torch.randn(300, 120, dtype=torch.float64)
    w[:, 0] *= 10
    s = torch.linalg.svdvals(w).numpy()
    out = spectra.spectrum_stats(w)
    assert out["sv_max"] == pytest.approx(s[0], rel=1e-10)
    assert out["stable_rank"] == pytest.approx((s ** 2).sum() / s[0] ** 2, rel=1e-10)
    p = s / s.sum()
    assert out["entropy_rank"] == pytest.approx(math.exp(-(p * np.log(p)).sum()), rel=1e-8)
    assert out["alpha_weighted"] == pytest.approx(out["alpha"] * math.log10(s[0] ** 2))
    assert spectra.spectrum_stats(w.T)["sv_max"] == pytest.approx(s[0])


# ---- groups -------------------------------------------------------------------------------------

@pytest.mark.parametrize("name, group, layer", [
    ("gpt_neox.layers.3.attention.query_key_value.weight", "attn_qkv", 3),
    ("gpt_neox.layers.3.attention.dense.weight", "attn_out", 3),
    ("gpt_neox.layers.0.mlp.dense_h_to_4h.weight", "mlp_in", 0),
    ("gpt_neox.layers.11.mlp.dense_4h_to_h.weight", "mlp_out", 11),
    ("gpt_neox.layers.11.mlp.dense_4h_to_h.bias", "bias", 11),
    ("gpt_neox.layers.2.input_layernorm.weight", "layernorm", 2),
    ("gpt_neox.embed_in.weight", "embed_in", -1),
    ("embed_out.weight", "embed_out", -1),
    ("lm_head.weight", "embed_out", -1),
    ("gpt_neox.final_layer_norm.weight", "layernorm", -1),
    ("transformer.h.4.attn.c_attn.weight", "attn_qkv", 4),
    ("transformer.h.4.mlp.c_proj.weight", "mlp_out", 4),
    ("transformer.wpe.weight", "embed_pos", -1),
    ("transformer.ln_f.weight", "layernorm", -1),
    ("model.layers.7.self_attn.k_proj.weight", "attn_k", 7),
    ("model.layers.7.mlp.gate_proj.weight", "mlp_in", 7),
    ("model.layers.7.mlp.down_proj.weight", "mlp_out", 7),
    ("model.layers.7.post_attention_layernorm.weight", "layernorm", 7),
    ("model.embed_tokens.weight", "embed_in", -1),
    ("something.else.weight", "other", -1),
])
def test_tensor_roles(name, group, layer):
    assert groups.tensor_role(name) == groups.TensorRole(group, layer)


def test_buffers_are_not_weights_and_file_names_are_canonical():
    assert not groups.is_weight_tensor("gpt_neox.rotary_emb.inv_freq")
    assert not groups.is_weight_tensor("transformer.h.0.attn.masked_bias")
    assert groups.is_weight_tensor("gpt_neox.layers.0.attention.dense.weight")
    # causal-mask buffers are named <module>.attn.bias / .attention.bias; GPT-2's trained
    # c_attn.bias only ends in the same letters and is a weight
    assert not groups.is_weight_tensor("transformer.h.0.attn.bias")
    assert not groups.is_weight_tensor("gpt_neox.layers.0.attention.bias")
    assert groups.is_weight_tensor("transformer.h.0.attn.c_attn.bias")
    assert groups.is_weight_tensor("gpt_neox.layers.0.attention.query_key_value.bias")
    assert groups.checkpoint_name("lm_head.weight", "gpt_neox") == "embed_out.weight"
    assert groups.checkpoint_name("lm_head.weight", "llama") == "lm_head.weight"


def test_neox_qkv_split_follows_the_per_head_interleave():
    heads, head_dim, d = 4, 3, 5
    # row r of the fused weight is (head, part, i) = [heads, 3, head_dim]; mark each row by its part
    part_of_row = np.repeat(np.tile(np.arange(3), heads), head_dim)
    head_of_row = np.repeat(np.arange(heads), 3 * head_dim)
    w = torch.from_numpy((part_of_row * 100 + head_of_row)[:, None] + np.zeros((1, d)))
    parts = groups.split_qkv(w, heads)
    for k, name in enumerate("qkv"):
        assert parts[name].shape == (heads * head_dim, d)
        assert set(np.unique(parts[name].numpy() // 100)) == {k}
        assert list(parts[name][:, 0].numpy() % 100) == list(np.repeat(np.arange(heads), head_dim))
    bias = torch.from_numpy((part_of_row * 100).astype(float))
    assert set(groups.split_qkv(bias, heads)["v"].numpy()) == {200.0}
    with pytest.raises(ValueError):
        groups.split_qkv(torch.zeros(10, 4), heads)


def test_gpt2_qkv_split_takes_column_blocks():
    w = torch.cat([torch.full((6, 6), float(k)) for k in range(3)], dim=1)  # Conv1D: [d, 3d]
    parts = groups.split_qkv(w, 2, layout="gpt2")
    assert [float(parts[n].mean()) for n in "qkv"] == [0.0, 1.0, 2.0]


# ---- Pythia's initialization ------------------------------------------------------------------

def anchor_rows(anchors):
    df = pd.read_csv(anchors / "weightstats" / "pythia_init_std_expected.csv")
    df["group"] = df["param_suffix"].map(groups.tensor_group)
    return df[~df["init_rule"].str.contains("verify")]  # embeddings: unverified in the anchor notes


def test_init_formulas_match_the_pythia_anchor_table(anchors):
    df = anchor_rows(anchors)
    assert len(df) >= 30
    for row in df.itertuples():
        std = init.pythia_init_std(row.group, row.d_model, row.n_layers)
        assert std == pytest.approx(row.expected_std_step0, rel=1e-5), row


def test_matrices_at_every_pythia_size_give_the_anchor_std_and_gaussian_shape(anchors):
    # big sizes: a small matrix with the size's std stands in for the full one
    gen = torch.Generator().manual_seed(0)
    for row in anchor_rows(anchors).drop_duplicates(["model", "init_rule"]).itertuples():
        std = init.pythia_init_std(row.group, row.d_model, row.n_layers)
        w = torch.randn(256, 256, generator=gen) * std
        s = tensor_stats(w, fit_families=False, spectra=False)
        assert s["std"] == pytest.approx(row.expected_std_step0, rel=0.01)
        assert abs(s["excess_kurtosis"] - row.expected_excess_kurtosis_step0) < 0.05


def test_tiny_gpt_neox_initialised_like_pythia(anchors):
    from transformers import GPTNeoXConfig, GPTNeoXForCausalLM

    from scalefit.weightstats.measure import weight_stats_table

    d, n_layers = 128, 2
    config = GPTNeoXConfig(vocab_size=512, hidden_size=d, num_hidden_layers=n_layers, num_attention_heads=4,
                           intermediate_size=4 * d, tie_word_embeddings=False)
    model = init.init_like_pythia(GPTNeoXForCausalLM(config))
    df = weight_stats_table(model, model="tiny", fit_families=False, spectra=False)
    pooled = df[df["tensor"] == "*"].pivot_table(index="group", columns="stat", values="value")
    expected = {"attn_qkv": init.small_init_std(d), "mlp_in": init.small_init_std(d),
                "attn_out": init.wang_init_std(d, n_layers), "mlp_out": init.wang_init_std(d, n_layers),
                "attn_q": init.small_init_std(d), "embed_in": init.small_init_std(d)}
    for group, std in expected.items():
        assert pooled.loc[group, "std"] == pytest.approx(std, rel=0.02), group
        assert abs(pooled.loc[group, "excess_kurtosis"]) < 0.05, group
    # the same rule for a Pythia size from the anchor table (pythia-70m: d 512, 6 layers)
    ref = pd.read_csv(anchors / "weightstats" / "pythia_init_std_expected.csv").set_index(["model", "param_suffix"])
    assert init.wang_init_std(512, 6) == pytest.approx(ref.loc[("pythia-70m", "attention.dense.weight"),
                                                               "expected_std_step0"], rel=1e-5)
    assert pooled.loc["layernorm", "std"] == 0.0 and pooled.loc["bias", "max_abs"] == 0.0

"""`scalefit weights`, the parameter counts and the loader `scalefit eval` uses, on the checkpoint
shapes researchers have: GPT-NeoX (Pythia), GPT-2, Llama, Mistral, Qwen2, OPT, Gemma, GPT-J, BLOOM,
Falcon, StarCoder, Phi-3 and MPT, tied and untied, built tiny from transformers configs and saved
as save_pretrained writes them (one fixture builds them all once); then stored as shards, in
bf16, as a pickle, and as older hub files are.

Checked against the models themselves: every trainable tensor measured once under its name (no
buffer, no tied copy), the counts equal transformers' own, each tensor's role is the one it
plays in that architecture, and a fused QKV splits as the architecture's forward reads it.
"""
from __future__ import annotations

import copy
import os
import re
import warnings

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from scalefit.sweep.params import checkpoint_shapes, count_parameters  # noqa: E402
from scalefit.weightstats.groups import checkpoint_name  # noqa: E402
from scalefit.weightstats.measure import weight_stats_table  # noqa: E402

os.environ.setdefault("HF_HUB_OFFLINE", "1")
torch.set_num_threads(1)

V, D, F = 96, 32, 64  # vocabulary, width, MLP width
LLAMA_LIKE = dict(vocab_size=V, hidden_size=D, intermediate_size=F, num_hidden_layers=2, num_attention_heads=4,
                  num_key_value_heads=2)


def _configs():
    """{name: (model class, config)} of every architecture the zoo holds."""
    t = transformers
    return {
        "neox": (t.GPTNeoXForCausalLM, t.GPTNeoXConfig(vocab_size=V, hidden_size=D, num_hidden_layers=2,
                                                       num_attention_heads=4, intermediate_size=F,
                                                       tie_word_embeddings=False)),
        "neox_tied": (t.GPTNeoXForCausalLM, t.GPTNeoXConfig(vocab_size=V, hidden_size=D, num_hidden_layers=2,
                                                            num_attention_heads=4, intermediate_size=F,
                                                            tie_word_embeddings=True)),
        "gpt2": (t.GPT2LMHeadModel, t.GPT2Config(vocab_size=V, n_positions=32, n_embd=D, n_layer=2, n_head=4,
                                                 bos_token_id=0, eos_token_id=0)),
        "llama": (t.LlamaForCausalLM, t.LlamaConfig(**LLAMA_LIKE, tie_word_embeddings=False)),
        "llama_tied": (t.LlamaForCausalLM, t.LlamaConfig(**LLAMA_LIKE, tie_word_embeddings=True)),
        "mistral": (t.MistralForCausalLM, t.MistralConfig(**LLAMA_LIKE)),
        "qwen2": (t.Qwen2ForCausalLM, t.Qwen2Config(**LLAMA_LIKE, tie_word_embeddings=True)),
        "gemma": (t.GemmaForCausalLM, t.GemmaConfig(**LLAMA_LIKE, head_dim=8)),
        "opt": (t.OPTForCausalLM, t.OPTConfig(vocab_size=V, hidden_size=D, ffn_dim=F, num_hidden_layers=2,
                                              num_attention_heads=4, max_position_embeddings=32,
                                              word_embed_proj_dim=D, bos_token_id=0, eos_token_id=0,
                                              pad_token_id=1)),
        "gptj": (t.GPTJForCausalLM, t.GPTJConfig(vocab_size=V, n_positions=32, n_embd=D, n_layer=2, n_head=4,
                                                 rotary_dim=4, bos_token_id=0, eos_token_id=0)),
        "bloom": (t.BloomForCausalLM, t.BloomConfig(vocab_size=V, hidden_size=D, n_layer=2, n_head=4,
                                                    bos_token_id=0, eos_token_id=0)),
        # fused QKV weights whose rows are not GPT-NeoX's per-head interleave
        "falcon": (t.FalconForCausalLM, t.FalconConfig(vocab_size=V, hidden_size=D, num_hidden_layers=2,
                                                       num_attention_heads=4, bos_token_id=0, eos_token_id=0)),
        "falcon_new": (t.FalconForCausalLM, t.FalconConfig(vocab_size=V, hidden_size=D, num_hidden_layers=2,
                                                           num_attention_heads=4, num_kv_heads=2,
                                                           new_decoder_architecture=True, bos_token_id=0,
                                                           eos_token_id=0)),
        "starcoder": (t.GPTBigCodeForCausalLM, t.GPTBigCodeConfig(vocab_size=V, n_positions=32, n_embd=D, n_layer=2,
                                                                  n_head=4, bos_token_id=0, eos_token_id=0)),
        "phi3": (t.Phi3ForCausalLM, t.Phi3Config(**LLAMA_LIKE, pad_token_id=0, bos_token_id=0, eos_token_id=0)),
        "mpt": (t.MptForCausalLM, t.MptConfig(vocab_size=V, d_model=D, n_layers=2, n_heads=4, expansion_ratio=2)),
    }


# the role of each tensor, by architecture: a block's tensors by their name inside the block
LLAMA_ROLES = {"self_attn.q_proj.weight": "attn_q", "self_attn.k_proj.weight": "attn_k",
               "self_attn.v_proj.weight": "attn_v", "self_attn.o_proj.weight": "attn_out",
               "mlp.gate_proj.weight": "mlp_in", "mlp.up_proj.weight": "mlp_in", "mlp.down_proj.weight": "mlp_out",
               "input_layernorm.weight": "layernorm", "post_attention_layernorm.weight": "layernorm",
               "model.embed_tokens.weight": "embed_in", "model.norm.weight": "layernorm",
               "lm_head.weight": "embed_out"}
NEOX_ROLES = {"attention.query_key_value.weight": "attn_qkv", "attention.dense.weight": "attn_out",
              "mlp.dense_h_to_4h.weight": "mlp_in", "mlp.dense_4h_to_h.weight": "mlp_out",
              "input_layernorm.weight": "layernorm", "post_attention_layernorm.weight": "layernorm",
              "gpt_neox.embed_in.weight": "embed_in", "gpt_neox.final_layer_norm.weight": "layernorm",
              "embed_out.weight": "embed_out"}
ROLES = {
    "neox": NEOX_ROLES, "neox_tied": NEOX_ROLES,
    "gpt2": {"attn.c_attn.weight": "attn_qkv", "attn.c_proj.weight": "attn_out", "mlp.c_fc.weight": "mlp_in",
             "mlp.c_proj.weight": "mlp_out", "ln_1.weight": "layernorm", "ln_2.weight": "layernorm",
             "transformer.wte.weight": "embed_in", "transformer.wpe.weight": "embed_pos",
             "transformer.ln_f.weight": "layernorm"},
    "llama": LLAMA_ROLES, "llama_tied": LLAMA_ROLES, "mistral": LLAMA_ROLES, "qwen2": LLAMA_ROLES,
    "gemma": LLAMA_ROLES,
    "opt": {"self_attn.q_proj.weight": "attn_q", "self_attn.k_proj.weight": "attn_k",
            "self_attn.v_proj.weight": "attn_v", "self_attn.out_proj.weight": "attn_out",
            "fc1.weight": "mlp_in", "fc2.weight": "mlp_out", "self_attn_layer_norm.weight": "layernorm",
            "final_layer_norm.weight": "layernorm", "model.decoder.embed_tokens.weight": "embed_in",
            "model.decoder.embed_positions.weight": "embed_pos",
            "model.decoder.final_layer_norm.weight": "layernorm"},
    "gptj": {"attn.q_proj.weight": "attn_q", "attn.k_proj.weight": "attn_k", "attn.v_proj.weight": "attn_v",
             "attn.out_proj.weight": "attn_out", "mlp.fc_in.weight": "mlp_in", "mlp.fc_out.weight": "mlp_out",
             "ln_1.weight": "layernorm", "transformer.wte.weight": "embed_in",
             "transformer.ln_f.weight": "layernorm", "lm_head.weight": "embed_out"},
    "bloom": {"self_attention.query_key_value.weight": "attn_qkv", "self_attention.dense.weight": "attn_out",
              "mlp.dense_h_to_4h.weight": "mlp_in", "mlp.dense_4h_to_h.weight": "mlp_out",
              "input_layernorm.weight": "layernorm", "post_attention_layernorm.weight": "layernorm",
              "transformer.word_embeddings.weight": "embed_in",
              "transformer.word_embeddings_layernorm.weight": "layernorm", "transformer.ln_f.weight": "layernorm"},
    "starcoder": {"attn.c_attn.weight": "attn_qkv", "attn.c_proj.weight": "attn_out", "mlp.c_fc.weight": "mlp_in",
                  "mlp.c_proj.weight": "mlp_out", "ln_1.weight": "layernorm", "ln_2.weight": "layernorm",
                  "transformer.wte.weight": "embed_in", "transformer.wpe.weight": "embed_pos",
                  "transformer.ln_f.weight": "layernorm"},
    "phi3": {"self_attn.qkv_proj.weight": "attn_qkv", "self_attn.o_proj.weight": "attn_out",
             "mlp.gate_up_proj.weight": "mlp_in", "mlp.down_proj.weight": "mlp_out",
             "input_layernorm.weight": "layernorm", "post_attention_layernorm.weight": "layernorm",
             "model.embed_tokens.weight": "embed_in", "model.norm.weight": "layernorm", "lm_head.weight": "embed_out"},
    "mpt": {"attn.Wqkv.weight": "attn_qkv", "attn.out_proj.weight": "attn_out", "ffn.up_proj.weight": "mlp_in",
            "ffn.down_proj.weight": "mlp_out", "norm_1.weight": "layernorm", "norm_2.weight": "layernorm",
            "transformer.wte.weight": "embed_in", "transformer.norm_f.weight": "layernorm"},
}
FALCON_ROLES = {"self_attention.query_key_value.weight": "attn_qkv", "self_attention.dense.weight": "attn_out",
                "mlp.dense_h_to_4h.weight": "mlp_in", "mlp.dense_4h_to_h.weight": "mlp_out",
                "input_layernorm.weight": "layernorm", "ln_attn.weight": "layernorm", "ln_mlp.weight": "layernorm",
                "transformer.word_embeddings.weight": "embed_in", "transformer.ln_f.weight": "layernorm"}
ROLES.update(falcon=FALCON_ROLES, falcon_new=FALCON_ROLES)
# fused QKV: (query heads, key/value heads) of each architecture's config above
FUSED = {"neox": (4, 4), "gpt2": (4, 4), "bloom": (4, 4), "falcon": (4, 1), "falcon_new": (4, 2),
         "starcoder": (4, 1), "phi3": (4, 2), "mpt": (4, 4)}
_BLOCK = re.compile(r"^.*?\.(?:layers|h|blocks)\.\d+\.")


@pytest.fixture(scope="module")
def zoo(tmp_path_factory):
    """{name: (model, folder)}: each architecture built once and saved as one safetensors file."""
    root = tmp_path_factory.mktemp("zoo")
    out = {}
    for name, (cls, config) in _configs().items():
        torch.manual_seed(0)
        model = cls(config).eval()
        model.save_pretrained(root / name)
        out[name] = (model, root / name)
    return out


def _output_matrix(model) -> int:
    """Elements of an untied output matrix: transformers' exclude_embeddings counts it (it is a
    Linear), scalefit's params_nonembed (Kaplan's N, Pythia's table) does not."""
    out = model.get_output_embeddings()
    tied = out is None or out.weight is model.get_input_embeddings().weight
    return 0 if tied else out.weight.numel()


@pytest.mark.parametrize("arch", sorted(ROLES))
def test_counts_equal_transformers(zoo, arch):
    """params = num_parameters(); params_nonembed = num_parameters(exclude_embeddings=True) less
    an untied output matrix; from the files' headers and from the loaded model alike."""
    model, folder = zoo[arch]
    expected = (model.num_parameters(), model.num_parameters(exclude_embeddings=True) - _output_matrix(model))
    assert count_parameters(checkpoint_shapes(folder)) == expected
    assert count_parameters(checkpoint_shapes(None, model)) == expected


@pytest.mark.parametrize("arch", sorted(ROLES))
def test_every_parameter_measured_once_with_its_role(zoo, arch):
    """The table's tensors are the model's parameters by their file names, each once (a tied
    output embedding is one tensor, buffers are none), their counts add up to num_parameters(),
    and each has the role it plays in the architecture; folder and model give the same rows."""
    model, folder = zoo[arch]
    table = weight_stats_table(folder, fit_families=False, spectra=False, groups=False, split=False)
    counts = table[table["stat"] == "count"].set_index("tensor")["value"]
    names = {checkpoint_name(n, model.config.model_type): p for n, p in model.named_parameters()}
    assert sorted(counts.index) == sorted(names)
    assert counts.sum() == model.num_parameters()
    roles = ROLES[arch]
    for name, row in table.drop_duplicates("tensor").set_index("tensor").iterrows():
        expected = "bias" if name.endswith(".bias") else roles[_BLOCK.sub("", name)]
        assert row["group"] == expected, (name, row["group"])
        assert (row["layer"] >= 0) == bool(_BLOCK.match(name)), name
    in_memory = weight_stats_table(model, fit_families=False, spectra=False, groups=False, split=False)
    by_name = ["tensor", "stat"]
    assert in_memory.sort_values(by_name, ignore_index=True).equals(table.sort_values(by_name, ignore_index=True))


@pytest.mark.parametrize("arch", sorted(FUSED))
def test_fused_qkv_splits_as_the_architecture_reads_it(zoo, arch):
    """A fused QKV matrix's [q], [k], [v] rows have the shapes of the config's query and
    key/value heads (multi-query Falcon and StarCoder, grouped Falcon, Phi-3, MPT: not three
    equal thirds), and are the rows the attention's forward reads as q, k and v; the folder and
    the model in memory split alike."""
    from scalefit.weightstats.groups import fused_qkv, split_qkv

    model, folder = zoo[arch]
    heads, kv = FUSED[arch]
    table = weight_stats_table(folder, fit_families=False, spectra=False, groups=False)
    qkv = table[table["group"] == "attn_qkv"]["tensor"].unique()
    assert len(qkv) == 2  # one per block
    fused = dict(model.named_parameters())[checkpoint_name(qkv[0], model.config.model_type)].detach()
    width = model.config.to_dict().get("hidden_size") or model.config.to_dict().get("n_embd") or model.config.d_model
    head_dim = width // heads
    counts = table[table["stat"] == "count"].set_index("tensor")["value"]
    assert counts[f"{qkv[0]}[q]"] == heads * head_dim * width
    assert counts[f"{qkv[0]}[k]"] == counts[f"{qkv[0]}[v]"] == kv * head_dim * width
    assert counts[[f"{qkv[0]}[{p}]" for p in "qkv"]].sum() == fused.numel()
    facts = fused_qkv(model.config.model_type, model.config)
    assert (facts.num_heads, facts.num_kv_heads) == (heads, kv)
    rows = torch.arange(fused.numel(), dtype=torch.float64).reshape(fused.shape)
    parts = split_qkv(rows, heads, facts.layout, facts.num_kv_heads)
    as_read = _as_the_forward_reads(arch, rows, heads, kv)
    for part in "qkv":
        assert torch.equal(parts[part], as_read[part]), part
    in_memory = weight_stats_table(model, fit_families=False, spectra=False, groups=False)
    by_name = ["tensor", "stat"]
    assert in_memory.sort_values(by_name, ignore_index=True).equals(table.sort_values(by_name, ignore_index=True))


def _as_the_forward_reads(arch, w, heads, kv):
    """q, k, v rows (columns for GPT-2's Conv1D) of a fused weight, as each model's attention
    forward in transformers cuts its output (modeling_<arch>.py), written out here."""
    if arch == "gpt2":  # c_attn(x).split(embed_dim, dim=2)
        return dict(zip("qkv", w.split(w.shape[1] // 3, dim=1)))
    rows = w.shape[0]
    head_dim = rows // (heads + 2 * kv)
    if arch in ("neox", "bloom"):  # view(..., heads, 3 * head_dim), chunk per head
        per_head = w.reshape(heads, 3, head_dim, -1)
        return {p: per_head[:, i].reshape(heads * head_dim, -1) for i, p in enumerate("qkv")}
    if arch == "falcon_new":  # view(..., num_kv_heads, -1, head_dim): [..., :-2], [..., -2], [..., -1]
        grouped = w.reshape(kv, -1, head_dim, w.shape[1])
        return {"q": grouped[:, :-2].reshape(-1, w.shape[1]), "k": grouped[:, -2].reshape(-1, w.shape[1]),
                "v": grouped[:, -1].reshape(-1, w.shape[1])}
    # falcon, starcoder (multi-query), phi3, mpt: split([heads, kv, kv] * head_dim)
    return dict(zip("qkv", w.split([heads * head_dim, kv * head_dim, kv * head_dim])))


# ---- storage: shards, a stray copy, half precision -------------------------------------------

MISTRAL_NAMES = (("model.embed_tokens", "tok_embeddings"), ("lm_head", "output"), ("model.norm", "norm"),
                 ("model.layers", "layers"), ("self_attn.q_proj", "attention.wq"), ("self_attn.k_proj", "attention.wk"),
                 ("self_attn.v_proj", "attention.wv"), ("self_attn.o_proj", "attention.wo"),
                 ("mlp.gate_proj", "feed_forward.w1"), ("mlp.down_proj", "feed_forward.w2"),
                 ("mlp.up_proj", "feed_forward.w3"), ("input_layernorm", "attention_norm"),
                 ("post_attention_layernorm", "ffn_norm"))


def _mistral_name(name: str) -> str:
    """A Llama tensor's name in Mistral's own consolidated.safetensors."""
    for hf, own in MISTRAL_NAMES:
        name = name.replace(hf, own)
    return name


@pytest.fixture(scope="module")
def stored(zoo, tmp_path_factory):
    """The untied Llama stored three more ways: fp16 in shards with an index and a stray full
    copy beside them (as Mistral's repos hold consolidated.safetensors), the same with a shard
    missing, and bf16 in one file."""
    from safetensors.torch import load_file, save_file

    model, folder = zoo["llama"]
    root = tmp_path_factory.mktemp("stored")
    sharded = root / "sharded"
    copy.deepcopy(model).to(torch.float16).save_pretrained(sharded, max_shard_size="20KB")
    save_file({_mistral_name(k): v for k, v in load_file(folder / "model.safetensors").items()},
              sharded / "consolidated.safetensors")
    assert len(list(sharded.glob("model-*.safetensors"))) > 2
    broken = root / "broken"
    broken.mkdir()
    for path in sharded.iterdir():
        if not path.name.startswith("model-00002-of-"):
            (broken / path.name).write_bytes(path.read_bytes())
    half = root / "bf16"
    copy.deepcopy(model).to(torch.bfloat16).save_pretrained(half)
    return {"sharded": sharded, "broken": broken, "bf16": half}


def test_shards_are_read_once_each_and_a_stray_copy_is_not_counted(zoo, stored):
    """Counts and statistics read the shards the index names, every one, and not the stray full
    copy beside them (which doubled the counts)."""
    model, folder = zoo["llama"]
    expected = (model.num_parameters(), model.num_parameters(exclude_embeddings=True) - _output_matrix(model))
    assert count_parameters(checkpoint_shapes(stored["sharded"])) == expected
    table = weight_stats_table(stored["sharded"], fit_families=False, spectra=False, groups=False)
    counts = table[table["stat"] == "count"].set_index("tensor")["value"]
    assert sorted(counts.index) == sorted(n for n, _ in model.named_parameters())
    assert counts.sum() == model.num_parameters()


def test_a_missing_shard_is_named(stored, tmp_path):
    """A shard the index names but the folder lacks: one line naming it from the statistics (the
    sweep records it as that checkpoint's failure, exit 1 as for any failed checkpoint), and no
    parameter count from the shards that are there."""
    from click.testing import CliRunner

    from scalefit.cli import main
    from scalefit.errors import InputError

    missing = next(p for p in (stored["sharded"]).glob("model-00002-of-*.safetensors")).name
    with pytest.raises(InputError, match=f"{missing}: safetensors shard not found"):
        weight_stats_table(stored["broken"], fit_families=False, spectra=False)
    assert checkpoint_shapes(stored["broken"]) is None
    r = CliRunner().invoke(main, ["weights", "--checkpoint", str(stored["broken"]), "--no-families", "--no-spectra",
                                  "--no-progress", "--out", str(tmp_path / "w")])
    assert r.exit_code == 1 and f"{missing}: safetensors shard not found" in r.output, r.output
    assert "Traceback" not in r.output


def test_plot_names_a_missing_shard_before_drawing(stored, tmp_path):
    """`weights plot --checkpoint` with a shard missing: exit 2 with the shard's name, and no
    figure of the table drawn first (they were, for seconds, before the histogram failed)."""
    from click.testing import CliRunner

    from scalefit.cli import main

    r = CliRunner().invoke(main, ["weights", "plot", "--checkpoint", str(stored["broken"]), "--out",
                                  str(tmp_path / "p")])
    assert r.exit_code == 2 and "model-00002-of-" in r.output and "Traceback" not in r.output, r.output
    assert not list((tmp_path / "p").glob("*.png"))


def test_half_precision_statistics_are_those_of_the_stored_values(stored):
    """A bf16 checkpoint's statistics (moments, quantiles, spectra, fitted families) are those of
    its stored values in float64: nothing is accumulated in bf16."""
    from safetensors.torch import load_file

    as_float64 = {k: v.to(torch.float64) for k, v in load_file(stored["bf16"] / "model.safetensors").items()}
    assert {v.dtype for v in load_file(stored["bf16"] / "model.safetensors").values()} == {torch.bfloat16}
    got = weight_stats_table(stored["bf16"], groups=False).set_index(["tensor", "stat"])["value"]
    want = weight_stats_table(as_float64, groups=False).set_index(["tensor", "stat"])["value"]
    assert got.sort_index().equals(want.sort_index())


# ---- the loader `scalefit eval` uses ------------------------------------------------------------

@pytest.fixture(scope="module")
def tokenizer_dir(tmp_path_factory):
    """A tiny tokenizer folder for the loader (the zoo's folders hold none)."""
    from tinysuite import train_tokenizer

    folder = tmp_path_factory.mktemp("tok")
    train_tokenizer(["def f(x):\n    return x + 1\n" * 20], vocab_size=300).save_pretrained(folder)
    return folder


def _load(folder, tokenizer_dir, **kwargs):
    from scalefit.sweep.checkpoints import CheckpointInfo, load_checkpoint

    info = CheckpointInfo(model="m", step=0, tokens=0, lr=None, path=str(folder), tokenizer_source=str(tokenizer_dir))
    return load_checkpoint(info, "cpu", "float32", **kwargs)[0], info


@pytest.mark.parametrize("arch", sorted(ROLES))
def test_eval_loads_each_architecture_and_weights_rows_match_the_folder(zoo, tokenizer_dir, arch):
    """load_checkpoint gives the saved parameters; the counts filled from it are transformers';
    `eval --weights` (the loaded model) and `scalefit weights` (the folder) give the same rows."""
    from scalefit.sweep.params import fill_parameter_counts

    model, folder = zoo[arch]
    loaded, info = _load(folder, tokenizer_dir)
    saved = dict(model.named_parameters())
    assert all(torch.equal(p, saved[n]) for n, p in loaded.named_parameters())
    fill_parameter_counts(info, loaded)
    assert (info.params, info.params_nonembed) == (model.num_parameters(), model.num_parameters(
        exclude_embeddings=True) - _output_matrix(model))
    order = ["group", "tensor", "stat"]
    rows = [weight_stats_table(s, fit_families=False, spectra=False).sort_values(order, ignore_index=True)
            for s in (loaded, folder)]
    assert rows[0].equals(rows[1])


def test_eval_loads_shards_and_a_weights_only_pickle(zoo, stored, tokenizer_dir, tmp_path):
    """Shards by their index (the stray copy beside them unread), a pytorch_model.bin with
    --allow-bin (torch.load(weights_only=True)), and a missing shard named by the loader. Weight
    statistics of a folder (`scalefit weights`) read no pickle: its line says what to do."""
    from scalefit.errors import InputError

    model, folder = zoo["llama"]
    saved = {n: p.to(torch.float16).float() for n, p in model.named_parameters()}
    loaded, _ = _load(stored["sharded"], tokenizer_dir)
    assert all(torch.equal(p, saved[n]) for n, p in loaded.named_parameters())
    (tmp_path / "config.json").write_bytes((folder / "config.json").read_bytes())
    torch.save(model.state_dict(), tmp_path / "pytorch_model.bin")
    loaded, _ = _load(tmp_path, tokenizer_dir, allow_bin=True)
    assert all(torch.equal(p, dict(model.named_parameters())[n]) for n, p in loaded.named_parameters())
    with pytest.raises(OSError, match="model-00002-of-"):
        _load(stored["broken"], tokenizer_dir)
    with pytest.raises(InputError, match="only pickle weights .pytorch_model.bin.*--weights --allow-bin"):
        weight_stats_table(tmp_path)  # `scalefit weights` reads safetensors only: it says how else


def test_buffers_in_hub_style_files_are_not_weights(zoo, tmp_path):
    """Files as older transformers wrote them to the hub (Pythia's and GPT-2's): causal masks,
    masked_bias and rotary inv_freq stored beside the weights, GPT-2's names without the
    'transformer.' prefix. Only the parameters are measured and counted, with the same roles and
    the names the model in memory gives them, so `scalefit weights` and `eval --weights` rows agree."""
    from safetensors.torch import load_file, save_file

    for arch, buffers, rename in (
            ("neox", {"gpt_neox.layers.{i}.attention.bias": torch.ones(1, 1, 8, 8, dtype=torch.bool).tril(),
                      "gpt_neox.layers.{i}.attention.masked_bias": torch.tensor(-1e9),
                      "gpt_neox.layers.{i}.attention.rotary_emb.inv_freq": torch.rand(4)}, ""),
            ("gpt2", {"h.{i}.attn.bias": torch.ones(1, 1, 8, 8).tril(), "h.{i}.attn.masked_bias": torch.tensor(-1e4)},
             "transformer.")):
        model, folder = zoo[arch]
        state = {k.removeprefix(rename): v for k, v in load_file(folder / "model.safetensors").items()}
        state.update({k.format(i=i): v.clone() for k, v in buffers.items() for i in range(2)})
        (tmp_path / arch).mkdir()
        save_file(state, tmp_path / arch / "model.safetensors", metadata={"format": "pt"})
        (tmp_path / arch / "config.json").write_bytes((folder / "config.json").read_bytes())
        expected = (model.num_parameters(), model.num_parameters(exclude_embeddings=True) - _output_matrix(model))
        assert count_parameters(checkpoint_shapes(tmp_path / arch)) == expected
        table = weight_stats_table(tmp_path / arch, fit_families=False, spectra=False)
        counts = table[(table["stat"] == "count") & (table["tensor"] != "*")].set_index("tensor")["value"]
        names = {checkpoint_name(n, model.config.model_type) for n, _ in model.named_parameters()}
        assert names <= set(counts.index) and counts[sorted(names)].sum() == model.num_parameters()
        roles = table.drop_duplicates("tensor").set_index("tensor")["group"]
        assert all(g == ("bias" if t.endswith(".bias") else ROLES[arch][_BLOCK.sub("", t)])
                   for t, g in roles[sorted(names)].items())
        # named as the model in memory names them (GPT-2's with 'transformer.'): eval --weights' rows
        order = ["group", "tensor", "stat"]
        in_memory = weight_stats_table(model, fit_families=False, spectra=False)
        assert in_memory.sort_values(order, ignore_index=True).equals(table.sort_values(order, ignore_index=True))


def test_a_hub_revision_downloads_the_shards_its_index_names(zoo, stored, tmp_path, monkeypatch):
    """`scalefit weights` on a hub revision fetches config, index and the shards it names, not the
    stray full copy beside them (Mistral's consolidated.safetensors doubled the download)."""
    import fnmatch
    import shutil

    import huggingface_hub

    from scalefit.sweep.checkpoints import CheckpointInfo, safetensors_loader

    fetched = set()

    def snapshot_download(repo_id, revision=None, cache_dir=None, allow_patterns=None, **kwargs):
        snapshot = tmp_path / "cache" / repo_id
        snapshot.mkdir(parents=True, exist_ok=True)
        for path in stored["sharded"].iterdir():
            if any(fnmatch.fnmatch(path.name, p) for p in allow_patterns):
                shutil.copy(path, snapshot / path.name)
                fetched.add(path.name)
        return str(snapshot)

    monkeypatch.setattr(huggingface_hub, "snapshot_download", snapshot_download)
    info = CheckpointInfo(model="m", step=1, tokens=0, lr=None, repo="org/mistral", revision="step1")
    folder, _ = safetensors_loader()(info)
    shards = {p.name for p in stored["sharded"].glob("model-*.safetensors")}
    assert fetched == shards | {"config.json", "model.safetensors.index.json"}
    table = weight_stats_table(folder, fit_families=False, spectra=False, groups=False, split=False)
    assert table["tensor"].nunique() == len(dict(zoo["llama"][0].named_parameters()))


# ---- mixture of experts ------------------------------------------------------------------------

def _moe_configs():
    """{name: (model class, config)} of tiny mixture-of-experts models this transformers has."""
    t, out = transformers, {}
    moe = dict(LLAMA_LIKE, bos_token_id=0, eos_token_id=0, pad_token_id=0, num_experts_per_tok=2)
    if hasattr(t, "MixtralForCausalLM"):
        out["mixtral"] = (t.MixtralForCausalLM, t.MixtralConfig(**moe, num_local_experts=4))
    if hasattr(t, "Qwen2MoeForCausalLM"):  # routed experts and a shared expert with its own gate
        out["qwen2_moe"] = (t.Qwen2MoeForCausalLM, t.Qwen2MoeConfig(
            **moe, num_experts=4, moe_intermediate_size=16, shared_expert_intermediate_size=24))
    if hasattr(t, "OlmoeForCausalLM"):
        out["olmoe"] = (t.OlmoeForCausalLM, t.OlmoeConfig(**moe, num_experts=4))
    return out


MOE_ROLES = {k: v for k, v in LLAMA_ROLES.items() if not k.startswith("mlp.")}
MOE_ROLES.update({
    "block_sparse_moe.experts.E.w1.weight": "expert_in", "block_sparse_moe.experts.E.w3.weight": "expert_in",
    "block_sparse_moe.experts.E.w2.weight": "expert_out", "block_sparse_moe.gate.weight": "router",
    "mlp.experts.E.gate_proj.weight": "expert_in", "mlp.experts.E.up_proj.weight": "expert_in",
    "mlp.experts.E.down_proj.weight": "expert_out", "mlp.gate.weight": "router",
    "mlp.shared_expert.gate_proj.weight": "mlp_in", "mlp.shared_expert.up_proj.weight": "mlp_in",
    "mlp.shared_expert.down_proj.weight": "mlp_out", "mlp.shared_expert_gate.weight": "router",
    "self_attn.q_norm.weight": "layernorm", "self_attn.k_norm.weight": "layernorm"})


@pytest.fixture(scope="module")
def moe_zoo(tmp_path_factory):
    """{name: (model, folder)}: each mixture-of-experts model built once and saved as
    save_pretrained writes it (one matrix per expert)."""
    root, out = tmp_path_factory.mktemp("moe"), {}
    for name, (cls, config) in _moe_configs().items():
        torch.manual_seed(0)
        model = cls(config).eval()
        model.save_pretrained(root / name)
        out[name] = (model, root / name)
    if not out:
        pytest.skip("this transformers has no mixture-of-experts model")
    return out


@pytest.mark.parametrize("arch", ["mixtral", "qwen2_moe", "olmoe"])
def test_experts_and_routers_have_their_roles(moe_zoo, arch):
    """Every tensor of the saved file measured once, counts adding up to transformers' own, each
    expert's gate/up in expert_in and down in expert_out, the router in router (they were 'other');
    the model loaded by transformers (experts fused into 3-d tensors) puts the same number of
    weights in each group."""
    from safetensors import safe_open

    if arch not in moe_zoo:
        pytest.skip(f"this transformers has no {arch}")
    model, folder = moe_zoo[arch]
    expected = (model.num_parameters(), model.num_parameters(exclude_embeddings=True) - _output_matrix(model))
    assert count_parameters(checkpoint_shapes(folder)) == expected
    table = weight_stats_table(folder, fit_families=False, spectra=False, groups=False, split=False)
    counts = table[table["stat"] == "count"].set_index("tensor")["value"]
    with safe_open(str(folder / "model.safetensors"), framework="pt") as fh:
        assert sorted(counts.index) == sorted(fh.keys())
    assert counts.sum() == model.num_parameters()
    groups = table.drop_duplicates("tensor").set_index("tensor")["group"]
    for name, group in groups.items():
        inside = re.sub(r"experts\.\d+\.", "experts.E.", _BLOCK.sub("", name))
        assert group == ("bias" if name.endswith(".bias") else MOE_ROLES[inside]), (name, group)
    n_experts = 4 * model.config.num_hidden_layers
    assert (groups == "expert_out").sum() == n_experts and (groups == "expert_in").sum() == 2 * n_experts
    assert (groups == "router").sum() == (2 if arch == "qwen2_moe" else 1) * model.config.num_hidden_layers
    in_memory = weight_stats_table(model, fit_families=False, spectra=False, groups=False, split=False)
    per_group = [t[t["stat"] == "count"].groupby("group")["value"].sum() for t in (table, in_memory)]
    assert per_group[0].equals(per_group[1]) and "other" not in per_group[0].index


def test_a_stored_copy_of_a_tied_output_embedding_is_measured_as_transformers_loads_it(zoo, tmp_path):
    """A config that ties the word embeddings, with lm_head.weight stored in the file too: the
    same values are one tensor (measured once, as the loaded model holds them), other values are
    two (transformers does not tie them), measured both with a warning that the tie does not hold;
    either way the folder's rows are the loaded model's."""
    import shutil

    from safetensors.torch import load_file, save_file

    from scalefit.errors import ScalefitWarning

    model, folder = zoo["llama_tied"]
    order = ["group", "tensor", "stat"]
    clean = weight_stats_table(folder, fit_families=False, spectra=False).sort_values(order, ignore_index=True)
    embedding = load_file(folder / "model.safetensors")["model.embed_tokens.weight"]
    for kind, head in (("same", embedding.clone()), ("other", embedding + 0.01)):
        copy = tmp_path / kind
        shutil.copytree(folder, copy)
        state = load_file(copy / "model.safetensors")
        save_file({**state, "lm_head.weight": head}, copy / "model.safetensors", metadata={"format": "pt"})
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            table = weight_stats_table(copy, fit_families=False, spectra=False).sort_values(order, ignore_index=True)
        said = [str(w.message) for w in caught if issubclass(w.category, ScalefitWarning)]
        loaded = transformers.LlamaForCausalLM.from_pretrained(copy).eval()
        in_memory = weight_stats_table(loaded, fit_families=False, spectra=False)
        assert table.equals(in_memory.sort_values(order, ignore_index=True)), kind
        counts = table[(table["stat"] == "count") & (table["tensor"] != "*")]["value"]
        # the parameter count reads the folder as the statistics do (it counted the copy: 24,736
        # for transformers' 21,664), and says nothing itself
        from scalefit.sweep.params import checkpoint_shapes, count_parameters
        with warnings.catch_warnings(record=True) as counted:
            warnings.simplefilter("always")
            params = count_parameters(checkpoint_shapes(copy))[0]
        assert params == loaded.num_parameters() and not counted, kind
        if kind == "same":
            assert table.equals(clean) and not said
            assert counts.sum() == model.num_parameters()
        else:
            assert len(said) == 1 and "lm_head.weight holds other values than model.embed_tokens.weight" in said[0]
            assert "the tie does not hold" in said[0]
            assert counts.sum() == model.num_parameters() + embedding.numel()

"""`scalefit weights` and the parameter counts on the checkpoint shapes researchers have: GPT-NeoX
(Pythia), GPT-2, Llama, Mistral, Qwen2, OPT, Gemma, GPT-J and BLOOM, tied and untied, built tiny from
transformers configs and saved as save_pretrained writes them (one fixture builds them all once).

Checked against the models themselves: every trainable tensor measured once under its file name
(no buffer, no tied copy), the counts equal transformers' own, and each tensor's role is the
one it plays in that architecture.
"""
from __future__ import annotations

import os
import re

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
}
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

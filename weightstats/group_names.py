"""The names of the weight groups (groups.py says which tensor goes in which), without torch: the
table-only commands (`weights plot` of a table, its --help and refusals) name them on a core install."""
from __future__ import annotations

# attn_kv: multi-head latent attention compresses K and V together (one down-projection to a
# latent, one up-projection to both), so its matrices are neither attn_k's nor attn_v's.
# attn_gate, attn_indexer, attn_sink and the linear_attn_* groups: see their rules in groups.NAME_RULES
GROUPS = ("attn_qkv", "attn_q", "attn_k", "attn_v", "attn_kv", "attn_out", "attn_gate", "attn_indexer",
          "attn_sink", "linear_attn_in", "linear_attn_conv", "linear_attn_decay", "mlp_in", "mlp_out",
          "expert_in", "expert_out", "router", "embed_in", "embed_pos", "embed_out", "layernorm", "bias", "other")
QKV_PARTS = ("attn_q", "attn_k", "attn_v")  # the groups of a fused QKV matrix's q, k, v parts

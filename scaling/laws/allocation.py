"""Compute-optimal allocation of a fitted law: N*(C), D*(C), tokens per parameter, exponents a, b.

With C = k N D (k = 6 unless the run table's flops say otherwise), minimising L(N, C/(kN)) gives
N* = G (C/k)^a and D* = (C/k)/N*, so b = 1 - a. Each law carries its own frontier
(``Law.log_frontier``, ``Law.exponents``); this module turns one into the reported block.
"""
from __future__ import annotations

import numpy as np

from scalefit.schema import FLOPS_PER_PARAM_TOKEN

REFERENCE_BUDGETS = (1e21, 5.76e23, 1e25)  # 5.76e23 FLOPs: Chinchilla's own budget


def optimal_allocation(law, values: dict, flops, k: float = FLOPS_PER_PARAM_TOKEN):
    """(N*, D*) arrays at the given budgets for a fitted ``law`` (a registry Law)."""
    flops = np.asarray(flops, float)
    n_opt = np.exp(law.log_frontier(values, flops, k))
    return n_opt, flops / (k * n_opt)


def allocation_summary(law, values: dict, predict=None, k: float = FLOPS_PER_PARAM_TOKEN,
                       budgets=REFERENCE_BUDGETS) -> dict:
    """The ``allocation`` block of a fit: a, b, G and N*, D*, D*/N*, L* at reference budgets."""
    a, b = law.exponents(values)
    out = {"a": a, "b": b, "flops_per_param_token": k}
    if not np.isfinite(a):
        out["note"] = f"{law.law_name} has a single input: it sets no N-D trade-off"
        return out
    n_opt, d_opt = optimal_allocation(law, values, budgets, k)
    out["G"] = float(n_opt[0] / (budgets[0] / k) ** a)
    rows = []
    for c, n, d in zip(budgets, n_opt, d_opt):
        row = {"flops": c, "N_opt": n, "D_opt": d, "tokens_per_param": d / n}
        row["loss"] = float(predict(n, d)) if predict is not None else float("nan")
        rows.append(row)
    out["budgets"] = rows
    return out

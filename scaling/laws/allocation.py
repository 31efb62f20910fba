"""Compute-optimal allocation of a fitted law: N*(C), D*(C), tokens per parameter, exponents a, b.

With C = k N D (k = 6 unless the run table's flops say otherwise), minimising L(N, C/(kN)) gives
N* = G (C/k)^a and D* = (C/k)/N*, so b = 1 - a. Closed forms: Chinchilla (Hoffmann et al. 2022,
eq. 4) a = beta/(alpha+beta); Kaplan L(N, D) a = alpha_D/(alpha_N+alpha_D).
"""
from __future__ import annotations

import numpy as np

REFERENCE_BUDGETS = (1e21, 5.76e23, 1e25)  # 5.76e23 FLOPs: Chinchilla's own budget


def log_frontier(law: str, values: dict, flops, k: float = 6.0):
    """log N*(C) for a fitted law (NaN where the law has no N-D trade-off)."""
    logc = np.log(np.asarray(flops, float) / k)
    if law == "chinchilla":
        al, be = values["alpha"], values["beta"]
        log_g = (np.log(al * values["A"]) - np.log(be * values["B"])) / (al + be)
        return log_g + be / (al + be) * logc
    if law in ("kaplan-nd", "kaplan-nde"):
        p = values["alpha_N"] / values["alpha_D"]
        # d/dN [N_c^p N^-p + D_c N / (C/k)] = 0  ->  N^(p+1) = p N_c^p (C/k) / D_c
        return (np.log(p) + p * np.log(values["N_c"]) + logc - np.log(values["D_c"])) / (p + 1)
    if law == "isoflop":
        return np.log(values["G"]) + values["a"] * np.log(np.asarray(flops, float))
    return np.full(np.shape(logc), np.nan)


def exponents(law: str, values: dict) -> tuple[float, float]:
    """(a, b) with N* ~ C^a and D* ~ C^b; NaN for single-variable laws."""
    if law == "chinchilla":
        s = values["alpha"] + values["beta"]
        return values["beta"] / s, values["alpha"] / s
    if law in ("kaplan-nd", "kaplan-nde"):
        s = values["alpha_N"] + values["alpha_D"]
        return values["alpha_D"] / s, values["alpha_N"] / s
    if law == "isoflop":
        return values["a"], 1.0 - values["a"]
    return float("nan"), float("nan")


def optimal_allocation(law: str, values: dict, flops, k: float = 6.0):
    """(N*, D*) arrays at the given budgets."""
    flops = np.asarray(flops, float)
    n_opt = np.exp(log_frontier(law, values, flops, k))
    return n_opt, flops / (k * n_opt)


def allocation_summary(law: str, values: dict, predict=None, k: float = 6.0,
                       budgets=REFERENCE_BUDGETS) -> dict:
    """The ``allocation`` block of a fit: a, b, G and N*, D*, D*/N*, L* at reference budgets."""
    a, b = exponents(law, values)
    out = {"a": a, "b": b, "flops_per_param_token": k}
    if not np.isfinite(a):
        out["note"] = f"{law} has a single input: it sets no N-D trade-off"
        return out
    n_opt, d_opt = optimal_allocation(law, values, budgets, k)
    out["G"] = float(n_opt[0] / (budgets[0] / (k if law != "isoflop" else 1.0)) ** a)
    rows = []
    for c, n, d in zip(budgets, n_opt, d_opt):
        row = {"flops": c, "N_opt": n, "D_opt": d, "tokens_per_param": d / n}
        row["loss"] = float(predict(n, d)) if predict is not None else float("nan")
        rows.append(row)
    out["budgets"] = rows
    return out

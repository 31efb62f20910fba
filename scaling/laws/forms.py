"""Scaling laws and loss relations as plain numpy functions: no state, no fitting.

Each function is the formula of one paper, evaluated elementwise on arrays. The lmfit models
(`scaling/laws/`) wrap them; published constants live in `data/published_laws.toml`.
N is parameters, D training tokens, C training FLOPs, L loss in nats/token.
"""
from __future__ import annotations

import numpy as np


# --- Kaplan et al. 2020, "Scaling Laws for Neural Language Models" (arXiv:2001.08361) ---------
# N counts non-embedding parameters.

def kaplan_n(N, N_c, alpha_N):
    """L(N) = (N_c / N)^alpha_N  (Kaplan et al. 2020, eq. 1.1): models trained to convergence."""
    return (N_c / np.asarray(N, dtype=float)) ** alpha_N


def kaplan_d(D, D_c, alpha_D):
    """L(D) = (D_c / D)^alpha_D  (Kaplan et al. 2020, eq. 1.2): large models, early stopping."""
    return (D_c / np.asarray(D, dtype=float)) ** alpha_D


def kaplan_c(C, C_c, alpha_C):
    """L(C) = (C_c / C)^alpha_C  (Kaplan et al. 2020, eq. 1.3, compute-efficient frontier)."""
    return (C_c / np.asarray(C, dtype=float)) ** alpha_C


def kaplan_nd(N, D, N_c, D_c, alpha_N, alpha_D):
    """L(N, D) = [(N_c/N)^(alpha_N/alpha_D) + D_c/D]^alpha_D  (Kaplan et al. 2020, eq. 1.5)."""
    N = np.asarray(N, dtype=float)
    D = np.asarray(D, dtype=float)
    return ((N_c / N) ** (alpha_N / alpha_D) + D_c / D) ** alpha_D


def kaplan_nde(N, D, E, N_c, D_c, alpha_N, alpha_D):
    """L(N, D) = E + [(N_c/N)^(alpha_N/alpha_D) + D_c/D]^alpha_D.

    Kaplan's L(N, D) with an irreducible term E, as Brandfonbrener et al. 2024 ("Loss-to-Loss
    Prediction", arXiv:2411.12925) fit it per dataset to get the E used in loss-to-loss laws.
    """
    return E + kaplan_nd(N, D, N_c, D_c, alpha_N, alpha_D)


# --- Hoffmann et al. 2022, "Training Compute-Optimal LLMs" (arXiv:2203.15556) ----------------
# N counts all parameters (embeddings included).

def chinchilla(N, D, E, A, B, alpha, beta):
    """L(N, D) = E + A / N^alpha + B / D^beta  (Hoffmann et al. 2022, eq. 2; Approach 3)."""
    N = np.asarray(N, dtype=float)
    D = np.asarray(D, dtype=float)
    return E + A * N ** (-alpha) + B * D ** (-beta)


def isoflop_parabola(log_N, a2, a1, a0):
    """Loss along one IsoFLOP curve as a parabola in log N (Hoffmann et al. 2022, Approach 2)."""
    log_N = np.asarray(log_N, dtype=float)
    return a2 * log_N ** 2 + a1 * log_N + a0


def power_law(x, coef, exponent):
    """y = coef * x^exponent, e.g. N*(C) = G C^a for the compute-optimal frontier."""
    return coef * np.asarray(x, dtype=float) ** exponent

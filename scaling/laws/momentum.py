"""Tissue et al. 2024, "Scaling Law with Learning Rate Annealing" (arXiv:2408.11029): the loss at
every step of a run from its LR schedule,

    L(s) = L0 + A S1(s)^-alpha - C S2(s)
    S1(s) = sum_{i=1..s} eta_i                                   (forward area, warmup included)
    m_i = lambda m_{i-1} + (eta_{i-1} - eta_i),  S2(s) = sum_{i=1..s} m_i   (annealing area)

with lambda = 0.999 (the paper's default; 0.99-0.999 fit alike), held fixed. eta_i is the LR of the
i-th update, which the lr column holds at step i - 1 (GPT-NeoX's timing). S2 counts LR drops from
the end of warmup on. eta is the LR divided by the fitted table's largest LR (the paper scales the
LR by its maximum too), which only rescales A and C. See `schedule_areas.py`.

``momentum-n`` adds model size: L0(N) = E + K (N/1e6)^-a, A(N) = A (N/1e6)^-b, the rest shared.
"""
from __future__ import annotations

import numpy as np

from scalefit.scaling.laws.law import safe_log
from scalefit.scaling.laws.schedule_areas import TISSUE_LAMBDA
from scalefit.scaling.laws.schedule_law import (A_GRID, ALPHA_GRID, B_GRID, LOG_BOUND,
                                                ScheduleLaw, grid, size_terms)


def momentum_loss(S1, S2, L0, A, alpha, C):
    """L = L0 + A S1^-alpha - C S2 (Tissue et al. 2024, eq. 1)."""
    return L0 + A * np.power(np.maximum(S1, 1e-12), -alpha) - C * S2


def log_momentum(S1, S2, L0, log_A, alpha, log_C):
    return safe_log(momentum_loss(S1, S2, L0, np.exp(log_A), alpha, np.exp(log_C)))


def log_momentum_n(S1, S2, N, E, log_K, a, log_A, b, alpha, log_C):
    size_l0, size_a = size_terms(N, a, b)
    return safe_log(momentum_loss(S1, S2, E + np.exp(log_K) * size_l0, np.exp(log_A) * size_a,
                                  alpha, np.exp(log_C)))


class Momentum(ScheduleLaw):
    """Tissue et al. 2024's L(s) = L0 + A S1^-alpha - C S2 of one model size."""

    law_name = "momentum"
    aliases = ("lr-annealing", "tissue")
    function = staticmethod(log_momentum)
    independent = ("S1", "S2")
    paper_names = ("L0", "A", "alpha", "C")
    log_scales = ("A", "C")
    linear = ("L0", "A", "C")
    annealing = ("C",)  # what only the LR's fall after warmup (S2) can estimate
    carried = {"A": ("alpha",)}
    bounds = dict(L0=(0.0, 20.0), log_A=LOG_BOUND, alpha=(0.01, 3.0), log_C=LOG_BOUND)
    lam = TISSUE_LAMBDA

    def independent_values(self, curves):
        return {"S1": curves.S1(), "S2": curves.S2(self.lam)}

    def basis(self, indep, nl):
        S1, S2 = indep["S1"], indep["S2"]
        return np.column_stack([np.ones_like(S1), np.maximum(S1, 1e-12) ** -nl["alpha"], -S2])

    def nonlinear_grid(self):
        return grid(alpha=ALPHA_GRID)


class MomentumBySize(Momentum):
    """Tissue et al.'s law with L0 and A power laws of N: one fit for a suite of sizes."""

    law_name = "momentum-n"
    aliases = ()
    by_size = True
    base_law = "momentum"
    function = staticmethod(log_momentum_n)
    independent = ("S1", "S2", "N")
    paper_names = ("E", "K", "a", "A", "b", "alpha", "C")
    log_scales = ("K", "A", "C")
    linear = ("E", "K", "A", "C")
    carried = {"K": ("a",), "A": ("b", "alpha")}
    bounds = dict(E=(0.0, 20.0), log_K=LOG_BOUND, a=(0.0, 3.0), log_A=LOG_BOUND, b=(-2.0, 3.0),
                  alpha=(0.01, 3.0), log_C=LOG_BOUND)

    def independent_values(self, curves):
        return dict(super().independent_values(curves), N=curves.N)

    def basis(self, indep, nl):
        S1, S2, N = indep["S1"], indep["S2"], indep["N"]
        size_l0, size_a = size_terms(N, nl["a"], nl["b"])
        return np.column_stack([np.ones_like(S1), size_l0,
                                size_a * np.maximum(S1, 1e-12) ** -nl["alpha"], -S2])

    def nonlinear_grid(self):
        return grid(a=A_GRID, b=B_GRID, alpha=ALPHA_GRID)


LAWS = (Momentum, MomentumBySize)

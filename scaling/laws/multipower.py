"""Luo et al. 2025, "A Multi-Power Law for Loss Curve Prediction Across Learning Rate Schedules"
(arXiv:2503.12811, eq. 6-7; the authors' code, src/models.py class MPL): the loss at step t,

    L(t) = L0 + A (S1(t) + S_W)^-alpha - LD(t)
    LD(t) = B sum_{k=1..t} (eta_{k-1} - eta_k) G(eta_k^-gamma S_k(t)),  S_k(t) = sum_{tau=k..t} eta_tau
    G(x) = 1 - (C x + 1)^-beta

eta_tau is the LR of the tau-th update, which the lr column holds at step tau - 1 (GPT-NeoX's
timing, see `schedule_areas.py`). S1(t) + S_W, the LR summed over the t updates with the warmup's
area S_W, is `schedule_areas.forward_area`; the drops count from the end of warmup (the paper's t
counts steps after warmup). eta is the LR divided by the fitted table's largest LR, which rescales A,
B and C only. ``multi-power-n`` adds model size: L0(N) = E + K (N/1e6)^-a, A(N) = A (N/1e6)^-b.
"""
from __future__ import annotations

import numpy as np

from scalefit.scaling.laws.law import safe_log
from scalefit.scaling.laws.schedule_law import (A_GRID, ALPHA_GRID, B_GRID, LOG_BOUND,
                                                ScheduleLaw, grid, size_terms)

C_GRID = tuple(np.geomspace(1e-3, 10.0, 5))
BETA_GRID = (0.3, 0.6, 1.0)
GAMMA_GRID = (0.2, 0.5, 0.8)


def multi_power_loss(S1, LD_unit, L0, A, alpha, B):
    """L = L0 + A S1^-alpha - B LD_unit (LD_unit = LD/B, `schedule_areas.loss_drop`)."""
    return L0 + A * np.power(np.maximum(S1, 1e-12), -alpha) - B * LD_unit


def log_multi_power(S1, curves, L0, log_A, alpha, log_B, log_C, beta, gamma):
    ld = curves.loss_drop(np.exp(log_C), beta, gamma)
    return safe_log(multi_power_loss(S1, ld, L0, np.exp(log_A), alpha, np.exp(log_B)))


def log_multi_power_n(S1, curves, N, E, log_K, a, log_A, b, alpha, log_B, log_C, beta, gamma):
    size_l0, size_a = size_terms(N, a, b)
    ld = curves.loss_drop(np.exp(log_C), beta, gamma)
    return safe_log(multi_power_loss(S1, ld, E + np.exp(log_K) * size_l0,
                                     np.exp(log_A) * size_a, alpha, np.exp(log_B)))


class MultiPower(ScheduleLaw):
    """Luo et al. 2025's multi-power law of one model size."""

    law_name = "multi-power"
    aliases = ("mpl", "multipower")
    function = staticmethod(log_multi_power)
    independent = ("S1", "curves")
    paper_names = ("L0", "A", "alpha", "B", "C", "beta", "gamma")
    log_scales = ("A", "B", "C")
    linear = ("L0", "A", "B")
    annealing = ("B", "C", "beta", "gamma")  # what only the LR's fall after warmup (LD) can estimate
    carried = {"A": ("alpha",), "B": ("C", "beta", "gamma")}
    n_refined = 2  # each refinement costs ~1500 evaluations of LD; the best starts agree
    bounds = dict(L0=(0.0, 20.0), log_A=LOG_BOUND, alpha=(0.01, 3.0), log_B=LOG_BOUND,
                  log_C=(np.log(1e-8), np.log(1e6)), beta=(0.01, 5.0), gamma=(0.0, 2.0))

    def independent_values(self, curves):
        return {"S1": curves.S1(), "curves": curves}

    def _drop_grid(self):
        return grid(log_C=tuple(np.log(C_GRID)), beta=BETA_GRID, gamma=GAMMA_GRID)

    def basis(self, indep, nl):
        S1, curves = indep["S1"], indep["curves"]
        key = (nl["log_C"], nl["beta"], nl["gamma"])
        cache = curves._cache.setdefault("ld_grid", {})
        if key not in cache:
            cache[key] = curves.loss_drop(np.exp(nl["log_C"]), nl["beta"], nl["gamma"])
        return np.column_stack([np.ones_like(S1), np.maximum(S1, 1e-12) ** -nl["alpha"],
                                -cache[key]])

    def nonlinear_grid(self):
        return [dict(d, alpha=al) for d in self._drop_grid() for al in ALPHA_GRID]


class MultiPowerBySize(MultiPower):
    """Luo et al.'s law with L0 and A power laws of N: one fit for a suite of sizes."""

    law_name = "multi-power-n"
    aliases = ()
    by_size = True
    base_law = "multi-power"
    function = staticmethod(log_multi_power_n)
    independent = ("S1", "curves", "N")
    paper_names = ("E", "K", "a", "A", "b", "alpha", "B", "C", "beta", "gamma")
    log_scales = ("K", "A", "B", "C")
    linear = ("E", "K", "A", "B")
    carried = {"K": ("a",), "A": ("b", "alpha"), "B": ("C", "beta", "gamma")}
    bounds = dict({k: v for k, v in MultiPower.bounds.items() if k != "L0"}, E=(0.0, 20.0),
                  log_K=LOG_BOUND, a=(0.0, 3.0), b=(-2.0, 3.0))

    def independent_values(self, curves):
        return dict(super().independent_values(curves), N=curves.N)

    def basis(self, indep, nl):
        base = super().basis(indep, nl)
        size_l0, size_a = size_terms(indep["N"], nl["a"], nl["b"])
        return np.column_stack([base[:, 0], size_l0, size_a * base[:, 1], base[:, 2]])

    def nonlinear_grid(self):
        return [dict(d, a=a, b=b) for d in super().nonlinear_grid() for a in A_GRID
                for b in B_GRID]


LAWS = (MultiPower, MultiPowerBySize)

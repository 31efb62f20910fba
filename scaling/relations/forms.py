"""Loss-to-loss and loss-to-accuracy relations as plain numpy functions: no state, no fitting.

Each function is the formula of one paper, evaluated elementwise on arrays; the fitters in
`scaling/relations/` wrap them. L is a loss in nats/token.
"""
from __future__ import annotations

import numpy as np


def shifted_power_law(L_x, K, kappa, E_x, E_y):
    """L_y = K (L_x - E_x)^kappa + E_y  (Brandfonbrener et al. 2024, eq. 3).

    Predicts one loss from another; E_x and E_y are the irreducible losses of the two
    distributions. Below E_x the law is undefined and returns NaN.
    """
    gap = np.asarray(L_x, dtype=float) - E_x
    with np.errstate(invalid="ignore", over="ignore"):  # far past the data: inf, said by the caller
        return np.where(gap > 0, K * np.abs(gap) ** kappa + E_y, np.nan)


def sigmoid_accuracy(L, a, k, L0, b):
    """acc = a / (1 + exp(-k (L - L0))) + b  (OLMo model ladder, Bhagia et al. 2024, step 2).

    With k < 0 accuracy falls as task loss L rises. The curve runs between its asymptotes b and
    a + b (a >= 0); the fit bounds a and b by [0, 1] and leaves a + b free (it says when a + b
    passes 1, see ``accuracy.BOUNDS``).
    """
    L = np.asarray(L, dtype=float)
    with np.errstate(over="ignore"):  # exp to inf far from L0: the asymptote b, as it should be
        return a / (1.0 + np.exp(-k * (L - L0))) + b


def exponential_error(L, eps, k, gamma):
    """err = eps - k exp(-gamma L)  (Gadre et al. 2024, "LMs scale reliably with over-training")."""
    with np.errstate(over="ignore"):  # far below the data: -inf, said by the caller
        return eps - k * np.exp(-gamma * np.asarray(L, dtype=float))

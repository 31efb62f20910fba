"""Synthetic runs with known truth for the relations' interval tests: two datasets whose losses
follow Kaplan L(N, D) + E laws tied exactly by a shifted power law, and accuracies on a sigmoid."""
from __future__ import annotations

import numpy as np
import pandas as pd

from scalefit.scaling.laws import forms as law_forms
from scalefit.scaling.relations import forms as relation_forms

X_LAW = {"E": 1.8, "N_c": 1e7, "D_c": 1e8, "alpha_N": 0.5, "alpha_D": 0.45}
RELATION = {"K": 0.8, "kappa": 1.2, "E_x": 1.8, "E_y": 1.0}
SIZES = np.geomspace(1e6, 1e9, 6)
TOKENS = np.geomspace(1e8, 1e11, 4)


def y_law() -> dict:
    """The Kaplan + E law of y implied by X_LAW and RELATION: K [..]^(kappa aD) + E_y is again
    Kaplan's form, with alpha_D' = kappa alpha_D and N_c, D_c rescaled by K."""
    aN, aD, kappa, K = X_LAW["alpha_N"], X_LAW["alpha_D"], RELATION["kappa"], RELATION["K"]
    a = kappa * aD
    p = aN / aD
    return {"E": RELATION["E_y"], "alpha_N": p * a, "alpha_D": a,
            "N_c": X_LAW["N_c"] * K ** (1 / (a * p)), "D_c": X_LAW["D_c"] * K ** (1 / a)}


def loss_runs(seed: int, noise: float = 0.005) -> pd.DataFrame:
    """One replicate: a 6 x 4 (N, D) grid, each run's x and y loss with log-normal noise."""
    rng = np.random.default_rng(seed)
    N, D = (a.ravel() for a in np.meshgrid(SIZES, TOKENS))
    x_true = law_forms.kaplan_nde(N, D, **X_LAW)
    y_true = relation_forms.shifted_power_law(x_true, **RELATION)
    return pd.DataFrame({"params": N, "tokens": D,
                         "x": x_true * np.exp(rng.normal(0, noise, N.size)),
                         "y": y_true * np.exp(rng.normal(0, noise, N.size))})


SIGMOID = {"a": 0.45, "k": -2.5, "L0": 3.2, "b": 0.25}


def accuracy_points(seed: int, n: int = 40, noise: float = 0.01, lo: float = 2.2,
                    hi: float = 4.5) -> tuple[np.ndarray, np.ndarray]:
    """Task losses spread over [lo, hi] and accuracies on SIGMOID with additive noise."""
    rng = np.random.default_rng(seed)
    L = rng.uniform(lo, hi, n)
    return L, relation_forms.sigmoid_accuracy(L, **SIGMOID) + rng.normal(0, noise, n)

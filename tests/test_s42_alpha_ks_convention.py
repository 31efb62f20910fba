"""The spectral alpha's xmin is chosen by Clauset's two-sided KS distance, as spectra.py documents,
not by the lower-side reading of WeightWatcher's `powerlaw` package: on this spectrum the two differ."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from scalefit.weightstats.spectra import power_law_alpha, spectrum_stats

# 30 eigenvalues (seeded Pareto draws, rounded) on which the conventions choose different xmin;
# powerlaw 2.0's Fit(EIGENVALUES, xmin_distance="D") gives xmin 1.1, alpha 2.85158 (checked by hand)
EIGENVALUES = np.array([1.01, 1.03, 1.06, 1.1, 1.15, 1.18, 1.19, 1.2, 1.21, 1.22, 1.23, 1.33, 1.36, 1.51,
                        1.53, 1.56, 1.61, 1.68, 1.69, 1.73, 1.78, 1.8, 2.18, 2.44, 2.49, 2.53, 2.64, 2.94,
                        12.37, 13.72])


def xmin_by_ks(evals, lower_side_only: bool, min_tail: int = 10):
    """(xmin, alpha, D) minimising D over candidates, written out one candidate at a time."""
    x = np.sort(evals)
    best = None
    for i in range(x.size - min_tail + 1):
        tail = x[i:]
        k = tail.size
        alpha = 1 + k / np.log(tail / x[i]).sum()
        model = 1 - (tail / x[i]) ** (1 - alpha)
        below, above = np.arange(k) / k, np.arange(1, k + 1) / k
        d = (np.abs(below - model).max() if lower_side_only
             else max(np.abs(above - model).max(), np.abs(model - below).max()))
        if best is None or d < best[2]:
            best = (x[i], alpha, d)
    return best


def test_conventions_differ_here_and_alpha_is_clausets_two_sided():
    clauset, lower_only = xmin_by_ks(EIGENVALUES, False), xmin_by_ks(EIGENVALUES, True)
    assert clauset[0] == 1.01 and lower_only[0] == 1.1  # WeightWatcher's convention: another xmin
    assert lower_only[1] == pytest.approx(2.85158, abs=1e-5)
    fit = power_law_alpha(EIGENVALUES)
    assert fit.xmin == clauset[0] and fit.n_tail == 30
    assert fit.alpha == pytest.approx(clauset[1], rel=1e-12)
    assert fit.ks == pytest.approx(clauset[2], rel=1e-12)


def test_table_alpha_of_a_matrix_with_this_spectrum_is_clausets():
    # W = diag(sqrt(eigenvalues)): W^T W has exactly these eigenvalues
    matrix = torch.diag(torch.from_numpy(np.sqrt(EIGENVALUES)))
    stats = spectrum_stats(matrix)
    clauset = xmin_by_ks(EIGENVALUES, False)
    assert stats["alpha_xmin"] == pytest.approx(clauset[0], rel=1e-12)
    assert stats["alpha"] == pytest.approx(clauset[1], rel=1e-9)
    assert stats["alpha_n_tail"] == 30

"""Spectrum of a weight matrix: top singular value, stable and entropy rank, power-law alpha.

The eigenvalues of W^T W (the smaller Gram matrix, float64, `eigvalsh`) are the squared
singular values: a few times cheaper than a full SVD and all the spectrum statistics need.
alpha is WeightWatcher's exponent (Martin & Mahoney 2021): a continuous power law
p(x) ~ x^-alpha fitted by maximum likelihood to the eigenvalues >= xmin, with xmin the
candidate that minimises the Kolmogorov-Smirnov distance D. Which D differs: here Clauset,
Shalizi & Newman's (2009), the largest gap between the tail's empirical CDF and the model F on
either side of each of the ECDF's steps, max_i max(|(i+1)/k - F(x_i)|, |F(x_i) - i/k|).
WeightWatcher (through the `powerlaw` package, whose empirical CDF is arange(k)/k) compares F
with the lower side only, max_i |i/k - F(x_i)|. The two usually pick the same xmin (all 24
layers of bench/bench_weightstats.py's model), but not always: on one audited MLP matrix this
alpha is 4.663 (xmin 1.717, 56 eigenvalues) and WeightWatcher's 5.076 (xmin 1.883, 44).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import scipy.linalg
from scipy.linalg import blas
import torch

from scalefit.schema import SPECTRUM_STATS  # the statistics spectrum_stats returns (a group's row: their mean)
from scalefit.weightstats.tensors import as_weights


@dataclass(frozen=True)
class PowerLawFit:
    """A power-law tail fit: exponent, lower cutoff, KS distance and tail size."""

    alpha: float
    xmin: float
    ks: float
    n_tail: int


def gram_eigenvalues(matrix: torch.Tensor) -> np.ndarray:
    """Eigenvalues of W^T W or W W^T (whichever is smaller), ascending, float64, clipped at 0.

    On CPU the Gram matrix is one BLAS syrk (half the flops of a matmul: it is symmetric) and
    LAPACK's symmetric eigenvalue solver runs on its upper triangle: 1.9x faster than torch's
    matmul + eigvalsh for Pythia-shaped layers, the same float64 arithmetic.
    """
    matrix = as_weights(matrix, "spectrum")
    w = matrix.reshape(matrix.shape[0], -1)
    if w.is_cuda:
        w = w.double()
        gram = w.T @ w if w.shape[0] >= w.shape[1] else w @ w.T
        return np.clip(torch.linalg.eigvalsh(gram).cpu().numpy(), 0.0, None)
    at = w.double().numpy().T  # Fortran-ordered view of W: syrk reads it without a copy
    # trans=0: at @ at.T = W^T W (tall W); trans=1: at.T @ at = W W^T (wide W)
    gram = blas.dsyrk(1.0, at, trans=0 if w.shape[0] >= w.shape[1] else 1)
    evals = scipy.linalg.eigvalsh(gram, lower=False, overwrite_a=True, check_finite=False)
    return np.clip(evals, 0.0, None)


def power_law_alpha(evals, *, min_tail: int = 10, chunk: int = 256) -> PowerLawFit:
    """MLE exponent of a continuous power law, xmin chosen by minimum KS distance (Clauset's).

    For each candidate xmin = x_i (tails of at least `min_tail` values):
    alpha_i = 1 + k / sum(log(x_j / x_i)), and D_i is the KS distance between the tail's empirical
    CDF and F = 1 - (x / x_i)^(1 - alpha_i) on both sides of each ECDF step (Clauset et al. 2009;
    WeightWatcher's `powerlaw` reads the lower side only, so it can choose another xmin: see the
    module's docstring). Vectorized over candidates in chunks.
    """
    x = np.sort(np.asarray(evals, dtype=np.float64))
    x = x[x > 0]
    n = x.size
    if n < min_tail + 1:
        return PowerLawFit(math.nan, math.nan, math.nan, 0)
    logx = np.log(x)
    suffix = np.cumsum(logx[::-1])[::-1]  # sum_{j>=i} log x_j
    best = (math.inf, math.nan, math.nan, 0)
    candidates = np.arange(0, n - min_tail + 1)
    for start in range(0, candidates.size, chunk):
        idx = candidates[start:start + chunk]
        k = n - idx
        denom = suffix[idx] - k * logx[idx]
        with np.errstate(divide="ignore", invalid="ignore"):
            alpha = 1.0 + k / denom
        j = np.arange(n)
        rel = j[None, :] - idx[:, None]  # position within the tail
        valid = rel >= 0
        dlog = np.where(valid, logx[None, :] - logx[idx][:, None], 0.0)
        with np.errstate(over="ignore", invalid="ignore"):
            theo = 1.0 - np.exp((1.0 - alpha)[:, None] * dlog)
        emp_hi = (rel + 1) / k[:, None]
        emp_lo = rel / k[:, None]
        gap = np.maximum(np.abs(emp_hi - theo), np.abs(theo - emp_lo))
        d = np.where(valid, gap, 0.0).max(axis=1)
        d = np.where(np.isfinite(alpha) & (denom > 0), d, np.inf)
        i = int(np.argmin(d))
        if d[i] < best[0]:
            best = (float(d[i]), float(alpha[i]), float(x[idx[i]]), int(k[i]))
    ks, alpha, xmin, n_tail = best
    return PowerLawFit(alpha, xmin, ks, n_tail)


def spectrum_stats(matrix: torch.Tensor, *, evals=None) -> dict[str, float]:
    """Top singular value, stable rank, entropy (effective) rank and the power-law alpha."""
    if evals is None:
        evals = gram_eigenvalues(matrix)
    top = float(evals.max()) if evals.size else 0.0
    if top <= 0:
        return {name: math.nan for name in SPECTRUM_STATS}
    sv = np.sqrt(evals)
    p = sv / sv.sum()
    p = p[p > 0]
    fit = power_law_alpha(evals)
    return {
        "sv_max": math.sqrt(top),
        "stable_rank": float(evals.sum() / top),
        "entropy_rank": float(np.exp(-(p * np.log(p)).sum())),  # Roy & Vetterli (2007)
        "alpha": fit.alpha,
        "alpha_xmin": fit.xmin,
        "alpha_ks": fit.ks,
        "alpha_n_tail": float(fit.n_tail),
        "alpha_weighted": fit.alpha * math.log10(top),  # WeightWatcher's alpha-hat
    }

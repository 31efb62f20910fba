"""Moments, quantiles and tail fractions of one weight tensor, in float64, on the tensor's device.

Works in chunks of 16M elements so a 12B model's embedding does not need a float64 copy, and
computes quantiles with a sort (GPU) or numpy's partition (CPU): `torch.quantile` refuses inputs
above 16M elements.
"""
from __future__ import annotations

import math

import numpy as np
import torch

QUANTILES = (0.001, 0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99, 0.999)
CHUNK = 1 << 24
CPU_CHUNK = 1 << 18


def quantile_name(q: float) -> str:
    """Column name of a quantile, in percent: 0.001 -> 'q0.1', 0.5 -> 'q50'."""
    return f"q{100 * q:g}"


MOMENT_STATS = ("count", "mean", "std", "rms", "skewness", "excess_kurtosis",
                *(quantile_name(q) for q in QUANTILES),
                "max_abs", "frac_beyond_3std", "frac_beyond_6std", "frobenius_norm")


def _chunks(flat: torch.Tensor):
    """float64 copies of cache-sized pieces (large pieces on GPU): 20x faster than one big copy."""
    size = CHUNK if flat.is_cuda else CPU_CHUNK
    for start in range(0, flat.numel(), size):
        yield flat[start:start + size].double()


def quantiles(values: torch.Tensor, qs=QUANTILES) -> np.ndarray:
    """Linear-interpolated quantiles of any number of elements (numpy partition or torch sort)."""
    flat = values.detach().reshape(-1)
    if flat.is_cuda:
        ordered = torch.sort(flat.float()).values
        pos = torch.tensor(qs, dtype=torch.float64, device=flat.device) * (flat.numel() - 1)
        lo, hi = pos.floor().long(), pos.ceil().long()
        frac = (pos - lo.double())
        out = ordered[lo].double() * (1 - frac) + ordered[hi].double() * frac
        return out.cpu().numpy()
    array = flat.float().numpy() if flat.dtype != torch.float64 else flat.numpy()
    return np.quantile(array, qs)


def moments(values: torch.Tensor) -> dict[str, float]:
    """count, mean, std, RMS, skewness, excess kurtosis, quantiles, max|w|, tails, Frobenius norm.

    Skewness and kurtosis are the population (biased) estimators, as scipy.stats computes them.
    """
    flat = values.detach().reshape(-1)
    n = flat.numel()
    if n == 0:
        return {"count": 0.0}
    total = sq = 0.0
    max_abs = 0.0
    for c in _chunks(flat):
        total += float(c.sum())
        max_abs = max(max_abs, float(c.abs().max()))
        c *= c
        sq += float(c.sum())
    mean = total / n
    std_guess = math.sqrt(max(sq / n - mean * mean, 0.0))
    s2 = s3 = s4 = 0.0
    beyond3 = beyond6 = 0
    for c in _chunks(flat):
        c -= mean
        if std_guess > 0:
            dev = c.abs()
            beyond3 += int((dev > 3 * std_guess).sum())
            beyond6 += int((dev > 6 * std_guess).sum())
        d2 = c * c
        s2 += float(d2.sum())
        c *= d2
        s3 += float(c.sum())
        d2 *= d2
        s4 += float(d2.sum())
    var = s2 / n
    std = math.sqrt(var)
    out = {
        "count": float(n),
        "mean": mean,
        "std": std,
        "rms": math.sqrt(sq / n),
        "skewness": (s3 / n) / var ** 1.5 if var > 0 else math.nan,
        "excess_kurtosis": (s4 / n) / var ** 2 - 3.0 if var > 0 else math.nan,
    }
    for q, value in zip(QUANTILES, quantiles(flat)):
        out[quantile_name(q)] = float(value)
    out.update({
        "max_abs": max_abs,
        "frac_beyond_3std": beyond3 / n,
        "frac_beyond_6std": beyond6 / n,
        "frobenius_norm": math.sqrt(sq),
    })
    return out

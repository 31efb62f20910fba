"""Moments, quantiles and tail fractions of one weight tensor, in float64, on the tensor's device.

Works in chunks (cache-sized on CPU, 16M elements on GPU) so a 12B model's embedding never needs
a float64 copy, and computes quantiles with numpy's partition (CPU) or a sort (GPU):
`torch.quantile` refuses inputs above 16M elements. Central moments of several tensors combine
exactly (Pebay 2008), so a group of tensors is summarised without concatenating it.
Every function takes a tensor or a numpy array (`tensors.as_weights`).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from scalefit.weightstats.tensors import as_weights

QUANTILES = (0.001, 0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99, 0.999)
CHUNK = 1 << 24
CPU_CHUNK = 1 << 18


def quantile_name(q: float) -> str:
    """Stat name of a quantile, as a fraction: 0.001 -> 'q0.001', 0.5 -> 'q0.5'."""
    return f"q{q:g}"


MOMENT_STATS = ("count", "mean", "std", "rms", "skew", "excess_kurtosis",
                *(quantile_name(q) for q in QUANTILES),
                "max_abs", "frac_3sd", "frac_6sd", "frobenius")


@dataclass(frozen=True)
class CentralMoments:
    """Count, mean, sums of centred powers M2..M4 (M_k = sum (x - mean)^k), min and max."""

    n: int
    mean: float
    m2: float
    m3: float
    m4: float
    min: float
    max: float

    @property
    def std(self) -> float:
        """Population standard deviation."""
        return math.sqrt(self.m2 / self.n) if self.n else math.nan

    def combine(self, other: "CentralMoments") -> "CentralMoments":
        """Moments of the union of two sets (Pebay 2008, exact in floating point up to rounding)."""
        if other.n == 0:
            return self
        if self.n == 0:
            return other
        na, nb = self.n, other.n
        n = na + nb
        d = other.mean - self.mean
        m2 = self.m2 + other.m2 + d * d * na * nb / n
        m3 = (self.m3 + other.m3 + d ** 3 * na * nb * (na - nb) / n ** 2
              + 3 * d * (na * other.m2 - nb * self.m2) / n)
        m4 = (self.m4 + other.m4 + d ** 4 * na * nb * (na * na - na * nb + nb * nb) / n ** 3
              + 6 * d * d * (na * na * other.m2 + nb * nb * self.m2) / n ** 2
              + 4 * d * (na * other.m3 - nb * self.m3) / n)
        return CentralMoments(n, self.mean + d * nb / n, m2, m3, m4, min(self.min, other.min),
                              max(self.max, other.max))


def pieces(flat: torch.Tensor):
    """Views of cache-sized pieces of a flat tensor (CPU_CHUNK elements; CHUNK on GPU)."""
    size = CHUNK if flat.is_cuda else CPU_CHUNK
    for start in range(0, flat.numel(), size):
        yield flat[start:start + size]


def float64_pieces(flat: torch.Tensor):
    """float64 copies of cache-sized pieces (large pieces on GPU): 20x faster than one big copy,
    and one piece in memory at a time, never a float64 copy of the whole tensor."""
    for piece in pieces(flat):
        yield piece.to(torch.float64, copy=True)  # never modify the weights


def central_moments(values: torch.Tensor) -> CentralMoments:
    """Two passes in float64: the mean, then the centred power sums."""
    flat = as_weights(values).reshape(-1)
    n = flat.numel()
    if n == 0:
        return CentralMoments(0, math.nan, 0.0, 0.0, 0.0, math.nan, math.nan)
    mean = sum(float(c.sum()) for c in float64_pieces(flat)) / n
    s2 = s3 = s4 = 0.0
    for c in float64_pieces(flat):
        c -= mean
        d2 = c * c
        s2 += float(d2.sum())
        c *= d2
        s3 += float(c.sum())
        d2 *= d2
        s4 += float(d2.sum())
    lo, hi = torch.aminmax(flat)
    return CentralMoments(n, mean, s2, s3, s4, float(lo), float(hi))


def quantiles(values: torch.Tensor, qs=QUANTILES) -> np.ndarray:
    """Linear-interpolated quantiles of any number of elements (numpy partition or torch sort)."""
    flat = as_weights(values).reshape(-1)
    if flat.is_cuda:
        ordered = torch.sort(flat.float()).values
        pos = torch.tensor(qs, dtype=torch.float64, device=flat.device) * (flat.numel() - 1)
        lo, hi = pos.floor().long(), pos.ceil().long()
        frac = (pos - lo.double())
        out = ordered[lo].double() * (1 - frac) + ordered[hi].double() * frac
        return out.cpu().numpy()
    array = flat.float().numpy() if flat.dtype != torch.float64 else flat.numpy()
    return np.quantile(array, qs)


def shape_stats(cm: CentralMoments) -> dict[str, float]:
    """count, mean, std, RMS, skewness, excess kurtosis, max|w| and Frobenius norm from moments.

    Skewness and kurtosis are the population (biased) estimators, as scipy.stats computes them.
    """
    n = cm.n
    if n == 0:
        return {"count": 0.0}
    var = cm.m2 / n
    sq = cm.m2 + n * cm.mean * cm.mean  # sum of squares
    return {
        "count": float(n),
        "mean": cm.mean,
        "std": math.sqrt(var),
        "rms": math.sqrt(sq / n),
        "skew": (cm.m3 / n) / var ** 1.5 if var > 0 else math.nan,
        "excess_kurtosis": (cm.m4 / n) / var ** 2 - 3.0 if var > 0 else math.nan,
        "max_abs": max(abs(cm.min), abs(cm.max)),
        "frobenius": math.sqrt(sq),
    }


def tail_fractions(values: torch.Tensor, mean: float, std: float) -> tuple[float, float]:
    """Fractions of |w - mean| beyond 3 and 6 std."""
    flat = as_weights(values).reshape(-1)
    n = flat.numel()
    if n == 0 or not std > 0:
        return 0.0, 0.0
    b3 = b6 = 0
    for c in float64_pieces(flat):
        dev = (c - mean).abs_()
        b3 += int((dev > 3 * std).sum())
        b6 += int((dev > 6 * std).sum())
    return b3 / n, b6 / n


def moments(values: torch.Tensor) -> dict[str, float]:
    """Every statistic of MOMENT_STATS for one tensor (or numpy array)."""
    flat = as_weights(values).reshape(-1)
    cm = central_moments(flat)
    out = shape_stats(cm)
    if cm.n == 0:
        return out
    for q, value in zip(QUANTILES, quantiles(flat)):
        out[quantile_name(q)] = float(value)
    out["frac_3sd"], out["frac_6sd"] = tail_fractions(flat, cm.mean, out["std"])
    return {name: out[name] for name in MOMENT_STATS}

"""Samplers for re-initialization experiments: a new tensor of any shape drawn from a fitted
family, from a tensor's empirical distribution, or as a permutation of a trained tensor.
"""
from __future__ import annotations

import numpy as np
import torch

from scalefit.weightstats.binned_fit import FamilyFit, Histogram
from scalefit.weightstats.families import get_family
from scalefit.weightstats.tensors import as_weights


def _generator(seed) -> np.random.Generator:
    return seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)


def sample_family(fit: FamilyFit, shape, *, seed=None, dtype=torch.float32) -> torch.Tensor:
    """A tensor of `shape` drawn from a fitted family (its parameters in the weights' units)."""
    family = get_family(fit.family)
    params = [fit.params[name] for name in family.params]
    draws = family.sample(_generator(seed), tuple(shape), *params)
    return torch.as_tensor(draws, dtype=dtype)


def sample_empirical(values: torch.Tensor, shape, *, seed=None, dtype=None) -> torch.Tensor:
    """Draws from a tensor's empirical distribution by its inverse CDF (interpolated order stats).

    u ~ U(0, 1) is mapped through the piecewise-linear quantile function of the sorted values,
    so draws lie within [min, max] and reproduce every quantile of the source tensor.
    """
    values = as_weights(values)
    ordered = np.sort(values.reshape(-1).cpu().double().numpy())
    u = _generator(seed).random(int(np.prod(shape)))
    pos = u * (ordered.size - 1)
    lo = np.floor(pos).astype(np.int64)
    hi = np.minimum(lo + 1, ordered.size - 1)
    draws = ordered[lo] + (pos - lo) * (ordered[hi] - ordered[lo])
    return torch.as_tensor(draws.reshape(tuple(shape)), dtype=dtype or values.dtype)


def sample_histogram(hist: Histogram, shape, *, seed=None, dtype=torch.float32) -> torch.Tensor:
    """Draws from a standardized histogram: pick a bin by its count, then uniform within it.

    Needs only the histogram (2k numbers), not the tensor: the compact form of the empirical law.
    """
    rng = _generator(seed)
    count = int(np.prod(shape))
    p = hist.counts / hist.counts.sum()
    bins = rng.choice(p.size, size=count, p=p)
    z = hist.edges[bins] + rng.random(count) * (hist.edges[bins + 1] - hist.edges[bins])
    return torch.as_tensor((hist.mean + hist.std * z).reshape(tuple(shape)), dtype=dtype)


def permuted(values: torch.Tensor, *, seed=None) -> torch.Tensor:
    """The tensor's own entries in a random order (same shape): keeps the law, drops structure."""
    gen = torch.Generator(device="cpu")
    gen.manual_seed(int(_generator(seed).integers(2 ** 62)))
    values = as_weights(values)
    flat = values.reshape(-1)
    order = torch.randperm(flat.numel(), generator=gen).to(flat.device)
    return flat[order].reshape(values.shape).clone()

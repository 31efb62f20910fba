"""The one fitter of every family: maximum likelihood on a fine histogram of standardized weights.

The weights are standardized (z = (w - mean) / std) and counted in bins that are uniform in
c * asinh(z / c): fine (~0.005 std) in the core, ~0.5% of |z| wide in the tails, covering every
weight. Each occupied bin's probability is the density integrated over it by Gauss-Legendre
quadrature in log space (stable in the far tails, where CDF differences cancel), and the
multinomial log-likelihood sum_i c_i log p_i is maximised with L-BFGS-B. The cost depends on the
number of bins, not on the number of weights, and the bins are fine enough that the answer agrees
with the exact MLE (tests compare with scipy's `fit`).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch
from scipy import integrate, optimize
from scipy.special import logsumexp

from scalefit.weightstats.families import FAMILIES, Family

N_BINS = 2048
ASINH_KNEE = 4.0
GL_NODES, GL_WEIGHTS = np.polynomial.legendre.leggauss(6)
CHUNK = 1 << 20


@dataclass(frozen=True)
class Histogram:
    """Counts of standardized weights; edges are in standard units (z = (w - mean) / std)."""

    edges: np.ndarray
    counts: np.ndarray
    mean: float
    std: float
    n: int

    @property
    def widths(self) -> np.ndarray:
        return np.diff(self.edges)


@dataclass(frozen=True)
class FamilyFit:
    """One family's maximum-likelihood fit: parameters in the weights' units and goodness of fit."""

    family: str
    params: dict
    loglik_per_weight: float
    aic: float
    bic: float
    ks: float
    n: int
    converged: bool
    derived: dict = field(default_factory=dict)

    def values(self) -> dict[str, float]:
        """Flat {name: value}: parameters, derived values, loglik, AIC, BIC, KS."""
        return {**self.params, **self.derived, "loglik": self.loglik_per_weight,
                "aic": self.aic, "bic": self.bic, "ks": self.ks}


@dataclass(frozen=True)
class FamilyFits:
    """Every family's fit of one tensor, and the best one by BIC."""

    fits: dict[str, FamilyFit]

    @property
    def best(self) -> str:
        return min(self.fits, key=lambda name: self.fits[name].bic)


def standardized_histogram(values, *, n_bins: int = N_BINS, knee: float = ASINH_KNEE,
                           mean: float | None = None, std: float | None = None) -> Histogram:
    """Histogram of (w - mean) / std in bins uniform in knee * asinh(z / knee), covering all weights."""
    flat = torch.as_tensor(values).detach().reshape(-1)
    n = flat.numel()
    if mean is None or std is None:
        d = flat.double()
        mean, std = float(d.mean()), float(d.std(correction=0))
    if n == 0 or not std > 0:
        raise ValueError("cannot standardize: empty tensor or zero spread")
    lo, hi = float(flat.min()), float(flat.max())
    t_max = knee * math.asinh(max(abs(lo - mean), abs(hi - mean)) / std / knee) * (1 + 1e-6) + 1e-9
    counts = torch.zeros(n_bins, dtype=torch.float64, device=flat.device)
    size = CHUNK if not flat.is_cuda else 1 << 26
    for start in range(0, n, size):
        z = (flat[start:start + size].double() - mean) / std
        t = torch.asinh(z / knee) * knee
        counts += torch.histc(t, bins=n_bins, min=-t_max, max=t_max).double()
    t_edges = np.linspace(-t_max, t_max, n_bins + 1)
    edges = knee * np.sinh(t_edges / knee)
    return Histogram(edges, counts.cpu().numpy(), mean, std, n)


def histogram_from_samples(x, **kwargs) -> Histogram:
    """Histogram of a numpy array or tensor of samples (convenience for tests and notebooks)."""
    return standardized_histogram(torch.as_tensor(np.asarray(x, dtype=np.float64)), **kwargs)


def _log_bin_probs(family: Family, params, left, right):
    """log of the density integrated over each bin [left, right] (Gauss-Legendre, log space)."""
    half = 0.5 * (right - left)
    mid = 0.5 * (right + left)
    nodes = mid[:, None] + half[:, None] * GL_NODES[None, :]
    logf = family.logpdf(nodes, *params)
    return logsumexp(logf + np.log(GL_WEIGHTS)[None, :], axis=1) + np.log(half)


def _to_params(family: Family, theta):
    """Optimizer vector (shapes, loc, log scale) -> (shapes..., loc, scale)."""
    return (*theta[:-2], theta[-2], math.exp(theta[-1]))


def fit_family(family: Family | str, hist: Histogram) -> FamilyFit:
    """Binned MLE of one family; parameters are returned in the weights' own units."""
    family = FAMILIES[family] if isinstance(family, str) else family
    occupied = hist.counts > 0
    counts = hist.counts[occupied]
    left, right = hist.edges[:-1][occupied], hist.edges[1:][occupied]
    n = float(counts.sum())
    z_mid = 0.5 * (left + right)
    kurt = float((counts * z_mid ** 4).sum() / n - 3.0)

    def nll(theta):
        with np.errstate(all="ignore"):
            value = -(counts * _log_bin_probs(family, _to_params(family, theta), left, right)).sum() / n
        return value if np.isfinite(value) else 1e10

    *shape0, scale0 = family.start(kurt)
    theta0 = np.array([*shape0, 0.0, math.log(scale0)])
    bounds = [*family.shape_bounds, (-5.0, 5.0), (math.log(1e-3), math.log(1e3))]
    result = optimize.minimize(nll, theta0, method="L-BFGS-B", bounds=bounds,
                               options={"maxiter": 500, "ftol": 1e-13, "gtol": 1e-9})
    params_z = _to_params(family, result.x)
    *shapes, loc_z, scale_z = params_z

    # goodness of fit on the same bins
    log_p = _log_bin_probs(family, params_z, left, right)
    loglik_z = float((counts * (log_p - np.log(right - left))).sum() / n)
    loglik = loglik_z - math.log(hist.std)
    k = len(family.params)
    aic = 2 * k - 2 * loglik * n
    bic = k * math.log(n) - 2 * loglik * n
    ks = _ks_distance(family, params_z, hist)

    params = dict(zip(family.shapes, map(float, shapes)))
    params["loc"] = float(hist.mean + hist.std * loc_z)
    params["scale"] = float(hist.std * scale_z)
    return FamilyFit(family.name, params, loglik, aic, bic, ks, int(n), bool(result.success),
                     family.derived(params))


def _ks_distance(family: Family, params, hist: Histogram) -> float:
    """Largest gap between the empirical and the model CDF at the bin edges."""
    log_p = _log_bin_probs(family, params, hist.edges[:-1], hist.edges[1:])
    left_tail = integrate.quad(lambda z: math.exp(family.logpdf(z, *params)), -np.inf, hist.edges[0])[0]
    model_cdf = left_tail + np.concatenate([[0.0], np.cumsum(np.exp(log_p))])
    empirical = np.concatenate([[0.0], np.cumsum(hist.counts)]) / hist.counts.sum()
    return float(np.abs(model_cdf - empirical).max())


def fit_families(hist: Histogram, families=None) -> FamilyFits:
    """Fit each family (default: all of FAMILIES) to one histogram."""
    names = list(families) if families is not None else list(FAMILIES)
    return FamilyFits({name: fit_family(name, hist) for name in names})

"""Samplers for re-initialization: each reproduces the distribution it was built from (KS tests)."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import stats
from threadpoolctl import threadpool_limits

from scalefit.weightstats import binned_fit as bf
from scalefit.weightstats import samplers
from scalefit.weightstats.families import FAMILIES

torch.set_num_threads(1)
threadpool_limits(1)


def trained_like(seed=0, n=(256, 128)):
    """A heavy-tailed 'trained' tensor: Student-t (nu 4) entries with std ~0.02."""
    return torch.from_numpy(0.015 * np.random.default_rng(seed).standard_t(4, n)).float()


@pytest.mark.parametrize("name", list(FAMILIES))
def test_sample_family_draws_from_the_fitted_law(name):
    w = trained_like()
    fit = bf.fit_family(name, bf.standardized_histogram(w))
    draws = samplers.sample_family(fit, (200, 100), seed=1)
    assert draws.shape == (200, 100) and draws.dtype == torch.float32
    family = FAMILIES[name]
    params = [fit.params[p] for p in family.params]
    result = stats.kstest(draws.double().numpy().ravel(), lambda x: family.cdf(x, *params))
    assert result.pvalue > 1e-3, (name, result)
    # and the draws' fit recovers the parameters
    refit = bf.fit_family(name, bf.standardized_histogram(draws))
    assert refit.params["scale"] == pytest.approx(fit.params["scale"], rel=0.05)


def test_sample_empirical_reproduces_the_tensor_distribution():
    w = trained_like(2)
    draws = samplers.sample_empirical(w, (300, 100), seed=3)
    assert draws.shape == (300, 100) and draws.dtype == w.dtype
    assert stats.ks_2samp(draws.numpy().ravel(), w.numpy().ravel()).pvalue > 1e-3
    assert float(draws.min()) >= float(w.min()) and float(draws.max()) <= float(w.max())
    assert samplers.sample_empirical(w, (10,), seed=3).tolist() == samplers.sample_empirical(w, (10,), seed=3).tolist()


def test_sample_histogram_reproduces_the_distribution_from_2k_numbers():
    w = trained_like(4)
    hist = bf.standardized_histogram(w)
    draws = samplers.sample_histogram(hist, (256, 128), seed=5)
    assert stats.ks_2samp(draws.numpy().ravel(), w.numpy().ravel()).pvalue > 1e-3
    assert float(draws.std()) == pytest.approx(float(w.std()), rel=0.02)


def test_permuted_keeps_the_values_and_drops_the_order():
    w = trained_like(6, (64, 32))
    p = samplers.permuted(w, seed=7)
    assert p.shape == w.shape
    assert torch.equal(torch.sort(p.reshape(-1)).values, torch.sort(w.reshape(-1)).values)
    assert not torch.equal(p, w)
    # row structure is gone: row scale no longer follows the row index
    scaled = torch.randn(64, 256, generator=torch.Generator().manual_seed(0)) * torch.linspace(0.1, 3.0, 64)[:, None]
    rank = np.arange(64)
    assert stats.spearmanr(rank, scaled.std(dim=1).numpy()).statistic > 0.95
    assert abs(stats.spearmanr(rank, samplers.permuted(scaled, seed=8).std(dim=1).numpy()).statistic) < 0.4

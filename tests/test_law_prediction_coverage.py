"""A law's 95% prediction interval for an observed loss, with few runs (20 runs for 5 parameters).

An interval audit counted 92.0 ± 1.6% of observations inside at 1x the largest fitted compute on
this cell (300 replications). The probability that an observation falls inside, given each of
those same 300 intervals, averages 95.0 ± 0.4%: the shortfall was the draw of the observations,
not the interval (bench/bench_law_intervals.py, bench/README.md). This test checks that
conditional coverage, which needs no observation draw and so few replications; the second does
so for 30 runs whose noise grows or falls with model size (`--noise` in the benchmark).
"""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm

from scalefit.scaling.laws import forms as law_forms
from scalefit.scaling.laws.fit import fit_law
from scalefit.scaling.laws.projection import prediction_intervals

TRUTH = {"E": 1.8, "A": 480.0, "B": 2000.0, "alpha": 0.35, "beta": 0.37}
SD = 0.02  # log-normal noise of the runs
REPLICATES = 24


def conditional_coverage(seed: int, n_bootstrap: int = 100) -> np.ndarray:
    """P(observed loss inside the 95% interval | the fit) at 1x, 10x and 100x the largest fitted
    compute (20 tokens per parameter), for a fit to 5 sizes x 4 token ratios."""
    grid_n, tpp = np.meshgrid(np.geomspace(2e7, 5e8, 5), [5, 10, 20, 40], indexing="ij")
    N, D = grid_n.ravel(), (grid_n * tpp).ravel()
    rng = np.random.default_rng(1000 + seed)
    L = law_forms.chinchilla(N, D, *TRUTH.values()) * np.exp(rng.normal(0, SD, N.size))
    return _held_out_coverage(N, D, L, lambda n: SD, seed, n_bootstrap)


def _held_out_coverage(N, D, L, sd_at, seed: int, n_bootstrap: int) -> np.ndarray:
    """Fit the runs (N, D, L); the known probability that a run at 1x, 10x and 100x their largest
    compute (20 tokens per parameter, log noise sd ``sd_at(N)``) falls in its 95% interval."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = fit_law(pd.DataFrame({"params": N, "tokens": D, "loss": L}), "chinchilla",
                      n_bootstrap=n_bootstrap, seed=seed, budgets=[])
    c_max = 6.0 * float(np.max(N * D))
    n_held = np.sqrt(np.array([1.0, 10.0, 100.0]) * c_max / (6.0 * 20))
    truth = law_forms.chinchilla(n_held, 20 * n_held, *TRUTH.values())
    sd = sd_at(n_held)
    pi = prediction_intervals(fit, n_held, 20 * n_held, seed=seed)
    return (norm.cdf(np.log(np.asarray(pi["pi95_hi"]) / truth) / sd)
            - norm.cdf(np.log(np.asarray(pi["pi95_lo"]) / truth) / sd))


@pytest.mark.slow
def test_prediction_interval_covers_with_twenty_runs():
    """Mean conditional coverage over 24 fits of 100 resamples each (fixed seeds: 94.6, 99.2 and
    97.3% at 1x, 10x, 100x with the scatter sized in log N; 94.4, 96.5, 95.6% with one scale;
    Monte Carlo SE 2-4 points): a lost scatter term or a halved interval fails it; a point of
    coverage is the benchmark's to measure."""
    coverage = np.mean([conditional_coverage(r) for r in range(REPLICATES)], axis=0)
    assert np.all(coverage >= 0.92) and np.all(coverage <= 0.995), coverage


def sized_noise_coverage(seed: int, slope: float, n_bootstrap: int = 100) -> np.ndarray:
    """As ``conditional_coverage``, for 6 sizes x 5 token ratios (30 runs) whose noise sd is
    0.01 x (N / the sizes' geometric mean) ** slope, at the held-out run's own sd."""
    grid_n, tpp = np.meshgrid(np.geomspace(2e7, 3e9, 6), [5, 10, 20, 40, 80], indexing="ij")
    N, D = grid_n.ravel(), (grid_n * tpp).ravel()
    centre = np.exp(np.mean(np.log(np.geomspace(2e7, 3e9, 6))))
    rng = np.random.default_rng(1000 + seed)
    L = law_forms.chinchilla(N, D, *TRUTH.values()) * np.exp(
        rng.normal(0, 1, N.size) * 0.01 * (N / centre) ** slope)
    return _held_out_coverage(N, D, L, lambda n: 0.01 * (n / centre) ** slope, seed, n_bootstrap)


@pytest.mark.slow
def test_prediction_interval_covers_when_the_noise_changes_with_size():
    """Noise sd growing as N^0.15 (1.6-2.3x the fitted runs' typical sd at 1-100x the largest
    compute) and falling as N^-0.15: mean conditional coverage over 24 fits of 100 resamples
    (fixed seeds: 90.5, 92.5, 92.0% growing and 94.2, 95.2, 96.4% falling at 1x, 10x, 100x,
    Monte Carlo SE about 2 points). The interval's scatter follows the runs' own slope in log N
    (scaling/laws/scatter.py; past the fitted sizes no smaller than at the nearest); with one
    scale at every size the same fits cover 83.6, 82.9, 81.1% growing and 98.9, 99.4, 98.4%
    falling, and fail both bounds."""
    grows = np.mean([sized_noise_coverage(r, 0.15) for r in range(REPLICATES)], axis=0)
    falls = np.mean([sized_noise_coverage(r, -0.15) for r in range(REPLICATES)], axis=0)
    assert np.all(grows >= 0.88) and np.all(grows <= 0.995), grows
    assert np.all(falls >= 0.90) and np.all(falls <= 0.98), falls

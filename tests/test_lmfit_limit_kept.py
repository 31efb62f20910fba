"""Stacking the Jacobian's points (one broadcast call of the formula) must not change a fit: lmfit
counts every residual call, the 2-point Jacobian's included, and stops at its limit; stacked points
bypassed that count, so a sigmoid that never converges (collapsing to a step) ran ~5x longer and
ended elsewhere (Pythia winogrande's calibrated coverage 75% -> 54%). bootstrap.lmfit_limit_kept
runs such a fit again the plain way."""
import numpy as np
import pytest

from scalefit.scaling.laws import bootstrap
from scalefit.scaling.relations import accuracy


def _step_accuracy(seed):
    """An accuracy that steps from 0.62 to 0.50 at L = 3: the sigmoid's k grows without limit."""
    rng = np.random.default_rng(seed)
    L = np.sort(rng.uniform(2.0, 4.0, 12))
    return L, np.where(L < 3.0, 0.62, 0.50) + rng.normal(0, 0.003, L.size)


def _values(fit):
    return {n: p.value for n, p in fit.params.items()}


@pytest.mark.parametrize("seed", [4, 0])  # 4 reaches lmfit's limit; 0 converges in 97 calls
def test_a_sigmoid_fit_is_the_one_lmfit_gives_without_stacking(seed, monkeypatch):
    L, y = _step_accuracy(seed)
    fit = accuracy.fit_accuracy(L, y, "sigmoid", n_bootstrap=0)
    kept = _values(fit)
    # a fit stopped at the limit says so, as the laws' fits do; a converged one does not
    assert any(w.startswith("optimizer did not converge") for w in fit.warnings) == (seed == 4)
    monkeypatch.setattr(accuracy, "stacked_lmfit_jacobian", lambda *a, **k: {})
    plain = _values(accuracy.fit_accuracy(L, y, "sigmoid", n_bootstrap=0))
    assert kept == plain  # to the bit


def test_stacked_points_are_counted():
    """stacked_differences counts the points its rows evaluated (lmfit never saw them)."""
    kws = bootstrap.stacked_differences(lambda X: X.sum(axis=1, keepdims=True) * np.ones((1, 3)))
    if not kws:
        pytest.skip("this scipy has no least_squares workers")
    out = kws["workers"](lambda x: np.full(3, x.sum()), [np.array([1.0, 2.0]), np.array([3.0, 4.0])])
    assert len(out) == 2 and kws["workers"].stacked_points == 2

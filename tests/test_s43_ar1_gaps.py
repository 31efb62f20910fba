"""AR(1) errors of a run with checkpoints left out (a Student-t nu at its cap): neighbours across a
gap of k places are correlated rho^k, not rho (ar1.gap_lags, whiten's lags)."""
import numpy as np
import pandas as pd

from scalefit.scaling.trajectories import ar1
from scalefit.scaling.trajectories.table import series_lags
from scalefit.scaling.trajectories.transitions import run_transitions

RHO = 0.8


def _positions(n_series: int = 200, drop_every: int = 3):
    """The places kept of a 200-point series when every third one is left out: lags 1, 2, 1, 2, ..."""
    everything = np.arange(n_series)
    return everything[everything % drop_every != 1]


def test_whitened_gapped_errors_are_independent_with_equal_variance():
    """W S W' = (1 - rho^2) I for the AR(1) correlation S of the kept places, so GLS on whitened
    rows is exact; without lags the old transform leaves correlated rows."""
    kept = np.array([0, 1, 2, 5, 6, 9, 10, 11, 15])
    lags = ar1.gap_lags(kept)
    assert list(lags) == [1, 1, 1, 3, 1, 3, 1, 1, 4]
    corr = RHO ** np.abs(np.subtract.outer(kept, kept))
    w = ar1.whiten(np.eye(len(kept)), RHO, lags=lags)
    np.testing.assert_allclose(w @ corr @ w.T, (1 - RHO ** 2) * np.eye(len(kept)), atol=1e-12)
    old = ar1.whiten(np.eye(len(kept)), RHO)
    assert np.abs(old @ corr @ old.T - (1 - RHO ** 2) * np.eye(len(kept))).max() > 0.1
    # the Jacobian REML and the BIC count: log |det W|
    assert np.isclose(float(ar1.log_jacobian(RHO, lags)), np.linalg.slogdet(w)[1])


def test_no_gap_is_the_old_transform_to_the_bit():
    z = np.random.default_rng(1).normal(size=(30, 3))
    assert ar1.gap_lags(np.arange(30)) is None
    assert np.array_equal(ar1.whiten(z, RHO, lags=np.ones(30, dtype=int)), ar1.whiten(z, RHO))
    assert series_lags([10, 20, 30], [40, 50]) is None  # left out after the last: no gap
    assert list(series_lags([10, 20, 40], [0, 30])) == [1, 1, 2]  # step 0 is not in the search


def test_rho_is_recovered_from_series_with_points_left_out():
    """Pooled REML over 40 AR(1) series (rho 0.8) with every third point left out: with the lags,
    rho within 3 SE of the truth; read as consecutive (the old code), rho is biased far low."""
    rng = np.random.default_rng(20261207)
    kept = _positions()
    lags = ar1.gap_lags(kept)
    x = np.linspace(0.0, 1.0, 200)[kept]
    design = np.column_stack([np.ones_like(x), x])
    ys = [(1.0 + 2.0 * np.linspace(0.0, 1.0, 200)
           + ar1.stationary_series(RHO, 200, rng, scale=0.3))[kept] for _ in range(40)]
    pairs = 40 * (len(kept) - 1)
    se = np.sqrt((1 - RHO ** 2) / pairs)
    new = ar1.pooled_reml_rho([design] * 40, ys, [lags] * 40)
    old = ar1.pooled_reml_rho([design] * 40, ys)
    assert abs(new - RHO) < 3 * se + 0.01, (new, se)  # + the grid's spacing
    assert RHO - old > 5 * se, (old, se)  # 0.74: 7 SE low


def test_sieve_errors_with_gaps_have_the_lagged_correlation():
    """simulate_errors with lags: neighbours k apart correlate rho^k (whiten's inverse)."""
    rng = np.random.default_rng(3)
    lags = np.array([1] + [1, 3] * 2000)
    series = ar1.simulate_errors(rng.normal(size=len(lags)), RHO, rng, lags)
    pairs = np.column_stack([series[:-1], series[1:]])
    for k in (1, 3):
        at = lags[1:] == k
        r = np.corrcoef(pairs[at].T)[0, 1]
        assert abs(r - RHO ** k) < 0.05, (k, r)


def test_a_run_with_capped_checkpoints_keeps_its_error_autocorrelation():
    """run_transitions with the run's left-out steps (every other checkpoint of 120): the search
    reads them as gaps of 2, and its error_rho is the series' (0.8, mean of 8 runs), where the old
    search (no steps_left_out) read the lag-2 correlation, near 0.8^2."""
    steps = np.unique(np.geomspace(4, 4000, 130).round()).astype(int)[:120]
    left_out = np.arange(len(steps)) % 2 == 1
    settings = dict(n_bootstrap=0, max_breakpoints=1)
    gapped, plain = [], []
    for seed in range(8):
        noise = ar1.stationary_series(RHO, len(steps), np.random.default_rng(seed), scale=0.05)
        value = 1.0 + 0.5 * np.log10(steps) + noise
        run = pd.DataFrame({"model": "r", "step": steps[~left_out], "value": value[~left_out]})
        gapped.append(run_transitions(run, steps_left_out=steps[left_out], **settings)[1]["error_rho"])
        plain.append(run_transitions(run, **settings)[1]["error_rho"])
    assert abs(np.mean(gapped) - RHO) < 0.07, gapped
    assert np.mean(gapped) - np.mean(plain) > 0.08, (gapped, plain)

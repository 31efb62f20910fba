"""The change-point search made faster must give the same answers, to the last bit: its
breakpoint polish without lmfit's bookkeeping is held to lmfit's own Nelder-Mead run."""
import numpy as np
import pytest
from segmented_reference import lmfit_refinement, one_by_one_grid_optimum

from scalefit.scaling.trajectories import ar1, breakpoint_intervals, segmented


def kinked_run(seed, kinks, rho, n=44, scale=0.05):
    """A trajectory against log10(step) with slope changes at `kinks` and AR(1) noise."""
    rng = np.random.default_rng(seed)
    x = np.log10(np.unique(np.geomspace(1, 3000, n).round()))
    y = 1.0 + 0.3 * x + sum(0.8 * (-1) ** i * np.maximum(0.0, x - t) for i, t in enumerate(kinks))
    return x, y + ar1.stationary_series(rho, len(x), rng, scale)


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("rho", [0.0, 0.5, 0.9])
@pytest.mark.parametrize("starts", [[1.2], [0.9, 2.1], [0.7, 1.5, 2.6], [3.3]])
def test_the_breakpoint_polish_is_lmfits_to_the_last_bit(seed, rho, starts):
    x, y = kinked_run(seed, [1.0, 2.2], rho)
    ours = segmented.refine_breakpoints(x, y, np.array(starts), 3, rho)
    assert np.array_equal(ours, lmfit_refinement(x, y, np.array(starts), 3, rho))


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("rho", [0.0, 0.6, 0.95])
@pytest.mark.parametrize("k", [1, 2, 3])
def test_the_batched_grid_search_picks_the_one_by_one_searchs_breakpoints(seed, rho, k):
    x, y = kinked_run(seed, [1.0, 2.2], rho)
    for values in (y, np.round(y, 1), 3.0 + 0.0 * y + (x > 2.0)):  # also ties and a step
        grid = segmented._candidate_breakpoints(x, 3, 40 if k == 1 else max(12, 40 // (2 * k)))
        sse, breaks = segmented._grid_optimum(x, values, grid, k, 3, rho)
        want_sse, want = one_by_one_grid_optimum(x, values, grid, k, 3, rho)
        assert sse == want_sse and np.array_equal(breaks, want)


def test_a_run_too_short_for_k_breakpoints_has_no_grid_optimum():
    x, y = kinked_run(0, [1.0], 0.5, n=11)
    grid = segmented._candidate_breakpoints(x, 3, 12)
    assert segmented._grid_optimum(x, y, grid, 3, 3, 0.5) == (np.inf, None)
    assert one_by_one_grid_optimum(x, y, grid, 3, 3, 0.5) == (np.inf, None)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_a_polish_on_a_non_finite_value_keeps_its_start_as_lmfits_did(bad):
    x, y = kinked_run(1, [1.0, 2.2], 0.5)
    y[10] = bad
    start = np.array([0.9, 2.1])
    assert np.array_equal(segmented.refine_breakpoints(x, y, start, 3, 0.5), start)
    assert np.array_equal(lmfit_refinement(x, y, start, 3, 0.5), start)


@pytest.mark.parametrize("x0", [[0.3], [0.0], [1.2, -0.4], [0.0, 0.5, 2.0], [0.1, 0.2, 0.3, 0.4]])
@pytest.mark.parametrize("shape", ["bowl", "steps", "unbounded"])
def test_the_polish_s_nelder_mead_is_scipy_s_to_the_last_bit(x0, shape):
    """Its own Nelder-Mead (segmented._nelder_mead) against scipy's: a smooth bowl, a staircase
    (ties between vertices: numpy's order of them) and a slope that runs into the evaluation limit."""
    from scipy import optimize as scipy_optimize

    def f(point):
        point = np.asarray(point, dtype=float)
        if shape == "bowl":
            return float(np.sum((point - 0.7) ** 2 * np.arange(1, len(point) + 1)) + 0.1 * point[0])
        if shape == "steps":
            return float(np.sum(np.floor(4 * np.abs(point - 0.5))))
        return float(-np.sum(point))

    want = scipy_optimize.minimize(f, x0, method="Nelder-Mead", options={"xatol": 1e-6, "fatol": 1e-12})
    assert np.array_equal(segmented._nelder_mead(f, x0, xatol=1e-6, fatol=1e-12), want.x)


@pytest.mark.parametrize("starts", [[1.2], [0.9, 2.1], [0.7, 1.5, 2.6]])
def test_polishes_side_by_side_give_each_its_own_answer_to_the_last_bit(starts):
    """_refine_many (a run's resamples polished together, one LAPACK call per step) against each
    polish alone and lmfit's: rhos 0 to 0.95 in one batch, ties, a step, and a resample with a nan
    (its polish keeps its start without stopping the others)."""
    x, _ = kinked_run(0, [1.0, 2.2], 0.5)
    ys, rhos = [], []
    for seed, rho in enumerate([0.0, 0.3, 0.6, 0.95, 0.0, 0.8]):
        ys.append(kinked_run(seed, [1.0, 2.2], rho)[1])
        rhos.append(rho)
    ys += [np.round(ys[1], 1), 3.0 + 0.0 * x + (x > 2.0), ys[2].copy()]
    rhos += [0.4, 0.0, 0.5]
    ys[-1][7] = np.nan
    start = np.array(starts)
    together = segmented._refine_many(x, ys, [start] * len(ys), 3, rhos)
    for y, rho, got in zip(ys, rhos, together):
        assert np.array_equal(got, segmented.refine_breakpoints(x, y, start, 3, rho))
        assert np.array_equal(got, lmfit_refinement(x, y, start, 3, rho))
    assert np.array_equal(together[-1], start)


def test_a_runs_resamples_refitted_together_are_the_one_by_one_refits():
    """bootstrap_draws and local_draws refit a run's resamples together (fits_at_rho): the same
    draws as fit_segmented on each resample alone."""
    x, y = kinked_run(2, [1.0, 2.2], 0.6)
    fit = segmented.fit_segmented(x, y, 2)
    resamples = list(breakpoint_intervals.sieve_resamples(x, y, fit, n_bootstrap=12, seed=3))
    alone = [segmented.fit_segmented(x, y_star, 2, rho=rho_star) for rho_star, y_star in resamples]
    together = breakpoint_intervals._resample_refits(x, resamples, 2, 3, 40)
    for one, draw in zip(alone, together):
        assert (one is None and draw is None) or np.array_equal(one.breakpoints, draw)


def test_without_numpys_batched_lstsq_the_search_finds_the_same_breakpoints(monkeypatch):
    """_LAPACK_LSTSQ is a private numpy name; where a numpy lacks it the polish solves the stack
    one system at a time with np.linalg.lstsq and must land on the same breakpoints."""
    rng = np.random.default_rng(0)
    designs, ys = rng.normal(size=(5, 30, 4)), rng.normal(size=(5, 30, 1))
    rcond = np.finfo(float).eps * 30
    loop = ar1._lstsq_one_by_one(designs, ys, rcond)[0]
    assert np.array_equal(loop, segmented._LAPACK_LSTSQ(designs, ys, rcond, signature="ddd->ddid")[0])
    x, y = kinked_run(1, [1.0, 2.2], 0.5)
    starts = np.array([0.9, 2.1])
    batched = segmented.refine_breakpoints(x, y, starts, 3, 0.5)
    monkeypatch.setattr(segmented, "_LAPACK_LSTSQ", ar1._lstsq_one_by_one)
    assert np.array_equal(segmented.refine_breakpoints(x, y, starts, 3, 0.5), batched)

"""Breakpoint intervals when the errors are not Gaussian of one variance: the error shapes that
bench/bench_transition_intervals.py measures the shipped intervals on (grows, shocks, t3) have the
shape they are named for, on simulated draws, and the Gaussian cells keep their runs."""
import importlib.util
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from scalefit.scaling.trajectories import ar1

BENCH = Path(__file__).resolve().parents[1] / "bench" / "bench_transition_intervals.py"
_spec = importlib.util.spec_from_file_location("bench_transition_intervals", BENCH)
bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench)
X = bench.X
N = len(X)


def draws(shape, rho, count, seed):
    rng = np.random.default_rng(seed)
    return np.array([bench.error_series(shape, rho, rng) for _ in range(count)])


def innovations_of(errors, rho):
    """eta_t = e_t - rho e_(t-1) of each row (t >= 1): the recursion's inputs back."""
    return errors[:, 1:] - rho * errors[:, :-1]


@pytest.mark.parametrize("rho", [0.5, 0.8])
def test_grows_sd_rises_fourfold_with_the_ar1_correlation_kept(rho):
    e = draws("grows", rho, 6000, 1)
    sd = e.std(axis=0)
    assert sd[-1] / sd[0] == pytest.approx(bench.GROWTH, rel=0.08)
    assert np.all(np.diff(sd[::11]) > 0)  # rising along the run
    assert np.mean(sd ** 2) == pytest.approx(bench.NOISE ** 2, rel=0.05)  # the other cells' variance
    scaled = e / sd
    for t in (1, 20, N - 1):
        assert np.corrcoef(scaled[:, t - 1], scaled[:, t])[0, 1] == pytest.approx(rho, abs=0.04)


@pytest.mark.parametrize("rho", [0.5, 0.8])
def test_shocks_are_two_late_innovations_of_six_sd(rho):
    eta = innovations_of(draws("shocks", rho, 500, 2), rho)
    scale = bench.NOISE * np.sqrt(1 - rho * rho)
    big = np.abs(eta) > 5 * scale
    assert np.all(big.sum(axis=1) == bench.SHOCK_COUNT)
    assert np.allclose(np.abs(eta[big]), bench.SHOCK_SIZE * scale, rtol=1e-9)
    late = np.arange(1, N) >= N - bench.SHOCK_WINDOW
    assert not np.any(big[:, ~late])
    # each late place shocked about equally often, both signs
    assert big[:, late].sum(axis=0).min() > 0.5 * 500 * bench.SHOCK_COUNT / bench.SHOCK_WINDOW
    assert 0.4 < np.mean(eta[big] > 0) < 0.6
    assert np.std(eta[~big]) == pytest.approx(scale, rel=0.03)


def test_t3_innovations_follow_a_t_with_3_dof_of_the_gaussian_cells_variance():
    rho = 0.8
    eta = innovations_of(draws("t3", rho, 500, 3), rho).ravel()
    scale = bench.NOISE * np.sqrt(1 - rho * rho)
    t_scale = scale / np.sqrt(bench.T_DOF / (bench.T_DOF - 2))
    assert stats.kstest(eta, stats.t(bench.T_DOF, scale=t_scale).cdf).pvalue > 1e-3
    assert stats.kstest(eta, stats.norm(scale=scale).cdf).pvalue < 1e-6  # heavier tails than Gaussian


def test_a_cell_name_with_a_shape_keeps_the_base_cell_and_its_seeds():
    assert bench.cell_spec("kink_rho0.8_shocks") == (bench.CELLS["kink_rho0.8"], "shocks")
    assert bench.cell_spec("kink_rho0.8") == (bench.CELLS["kink_rho0.8"], None)
    with pytest.raises(KeyError):
        bench.cell_spec("kink_rho0.8_wobbly")
    # the Gaussian cells' runs are those the bench drew before the shapes existed
    kink, y = bench.cell_run("kink_rho0.5", 20_000, 4)
    expected = (1 + 0.1 * X + np.maximum(X - np.log10(300.0), 0)
                + ar1.stationary_series(0.5, (N, 1), np.random.default_rng(20_004), bench.NOISE)[:, 0])
    assert np.array_equal(y, expected)


def test_an_unknown_cell_or_shape_is_one_line_and_exit_status_2():
    done = subprocess.run([sys.executable, str(BENCH), "--cells", "kink_rho0.5,kink_rho0.5_wobbly",
                           "--methods", "scatter", "--runs", "1"], capture_output=True, text=True)
    assert done.returncode == 2
    assert done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "kink_rho0.5_wobbly" in lines[0] and "grows, shocks, t3" in lines[0]

"""A run's error autocorrelation of 0.00 where REML's estimate is negative (s44): the fits take
negative autocorrelation as none (ar1.reml_rho's grid starts at 0), so the shipped t_nu /
attn_out run mini-3-W0.1 printed 'error autocorrelation 0.00' as if its errors were measured
independent. Its REML maximum is -0.11: most of its residual scatter sits in its last ten
checkpoints, where nu (125-1250) jumps by hundreds from one checkpoint to the next. The run's line
and runs.csv (error_rho_below_bound) now say that the 0 is the bound and what REML found below it."""
import numpy as np
import pandas as pd
from click.testing import CliRunner

from scalefit.cli import main
from scalefit.scaling.trajectories import ar1
from scalefit.scaling.trajectories.segmented import hinge_design
from scalefit.scaling.trajectories.table import stat_trajectory
from scalefit.scaling.trajectories.transitions import RUN_MEANINGS, run_transitions
from scalefit.data import data_path

CHECKPOINTS = data_path("suites", "mini", "checkpoints.parquet")


def _kinked_run(rho: float, seed: int, n: int = 70) -> pd.DataFrame:
    """A line in log10(step) that bends at step 300 plus AR(1) errors of coefficient rho."""
    steps = np.unique(np.geomspace(5, 3000, n).round()).astype(int)
    x = np.log10(steps)
    noise = ar1.stationary_series(rho, len(steps), np.random.default_rng(seed), scale=0.05)
    value = 1.0 + 0.3 * x + 2.0 * np.maximum(0.0, x - np.log10(300)) + noise
    return pd.DataFrame({"model": "r", "step": steps, "value": value})


def test_negative_autocorrelation_is_reported_at_the_bound_with_reml_estimate():
    """AR(1) errors of rho -0.5: error_rho is the bound 0 and error_rho_below_bound recovers the
    truth (mean of 8 runs); with rho +0.5 the estimate is positive and nothing is below the bound."""
    settings = dict(n_bootstrap=0, max_breakpoints=1)
    negative = [run_transitions(_kinked_run(-0.5, seed), **settings)[1] for seed in range(8)]
    assert all(s["error_rho"] == 0.0 for s in negative), [s["error_rho"] for s in negative]
    below = [s["error_rho_below_bound"] for s in negative]
    assert abs(np.mean(below) + 0.5) < 0.1 and max(below) < 0.0, below
    positive = [run_transitions(_kinked_run(0.5, seed), **settings)[1] for seed in range(8)]
    assert abs(np.mean([s["error_rho"] for s in positive]) - 0.5) < 0.15
    assert all(np.isnan(s["error_rho_below_bound"]) for s in positive)
    assert "error_rho_below_bound" in RUN_MEANINGS


def _dense_reml(x, y, breakpoints, rhos) -> np.ndarray:
    """REML log-likelihood of AR(1) errors (up to a constant) at each rho from the dense
    correlation matrix S: -log|S|/2 - log|X'S^-1 X|/2 - (n - p)/2 log(r'S^-1 r), r the GLS residuals
    (an independent check of ar1's Prais-Winsten profile)."""
    design = hinge_design(x, breakpoints)
    n, p = design.shape
    out = []
    for rho in rhos:
        corr = rho ** np.abs(np.subtract.outer(np.arange(n), np.arange(n)))
        inv = np.linalg.inv(corr)
        gram = design.T @ inv @ design
        coef = np.linalg.solve(gram, design.T @ inv @ y)
        resid = y - design @ coef
        out.append(-0.5 * np.linalg.slogdet(corr)[1] - 0.5 * np.linalg.slogdet(gram)[1]
                   - 0.5 * (n - p) * np.log(resid @ inv @ resid))
    return np.array(out)


def test_shipped_w01_nu_says_its_rho_is_at_the_bound(tmp_path):
    """mini-3-W0.1's t_nu / attn_out: error autocorrelation 0.00 was printed bare. Its one
    transition's REML profile, recomputed from the dense correlation matrix, peaks below 0 at the
    value the line and runs.csv now give, and falls from 0 into positive rho."""
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["transitions", "--stat", "t_nu", "--group", "attn_out",
                                       "--models", "mini-3-W0.1", "--bootstrap", "0", "--out", str(out)])
    assert result.exit_code == 0, result.output
    runs = pd.read_csv(out / "runs.csv")
    run = runs.iloc[0]
    assert run["error_rho"] == 0.0 and run["error_rho_below_bound"] < 0.0
    assert (f"error autocorrelation 0.00 (at its lower bound 0: REML's estimate is "
            f"{run['error_rho_below_bound']:.2f}, the errors of neighbouring checkpoints alternating "
            "in sign; taken as none); 22 more have nu at its cap") in result.stdout
    found = pd.read_csv(out / "transitions.csv")
    traj = stat_trajectory(CHECKPOINTS, "t_nu", group="attn_out", models=["mini-3-W0.1"])
    traj = traj[traj["step"] > 0].sort_values("step")  # the capped checkpoints are at the end: no gap
    x, y = np.log10(traj["step"].to_numpy(float)), traj["value"].to_numpy(float)
    rhos = np.round(np.arange(-0.95, 0.951, 0.01), 2)
    profile = _dense_reml(x, y, np.log10(found["step"].to_numpy(float)), rhos)
    assert np.isclose(rhos[np.argmax(profile)], run["error_rho_below_bound"])
    assert np.all(np.diff(profile[rhos >= 0]) < 0)  # the positive grid's maximum is its bound 0

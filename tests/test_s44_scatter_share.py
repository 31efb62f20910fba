"""A run whose residual scatter sits in a few checkpoints (s44): the segmented fits take the errors as
Gaussian AR(1) of constant variance, but on nu's own scale the shipped t_nu / attn_out run
mini-3-W0.1 holds most of its scatter in a handful of late checkpoints. transitions now measures,
per run, the share of the chosen fit's whitened residual sum of squares held by its 2 largest
residuals against the share Gaussian errors exceed in 1% of runs (transition_search.scatter_share),
says it in runs.csv / --json (scatter_top2_share, scatter_top2_threshold, scatter_concentrated,
scatter_top2_steps) and warns on the run's line, naming the steps and a steadier scale."""
import json

import numpy as np
import pandas as pd
from click.testing import CliRunner

from scalefit.cli import main
from scalefit.data import data_path
from scalefit.scaling.trajectories import ar1
from scalefit.scaling.trajectories.segmented import hinge_design
from scalefit.scaling.trajectories.table import stat_trajectory
from scalefit.scaling.trajectories.transition_search import (SCATTER_LEVEL, find_transitions,
                                                              scatter_share, whitened_residuals)
from scalefit.scaling.trajectories.transitions import (RUN_MEANINGS, detect_transitions, run_transitions,
                                                       steadier_scale)
from tests.test_s44_rho_w01 import _kinked_run as kinked_run

CHECKPOINTS = data_path("suites", "mini", "checkpoints.parquet")
SCATTER_COLUMNS = ("scatter_top2_share", "scatter_top2_threshold", "scatter_concentrated",
                   "scatter_top2_steps")


def _kinked_run(rho: float, seed: int, n: int = 51) -> pd.DataFrame:
    """test_s44_rho_w01's kinked run (a line in log10(step) bending at step 300, Gaussian AR(1)
    errors of coefficient rho), 51 checkpoints long as the shipped mini-3-W0.1."""
    return kinked_run(rho, seed, n)


def test_threshold_is_the_share_gaussian_errors_exceed_in_one_run_in_a_hundred():
    """Fresh Gaussian errors on one fit's whitened design (draws independent of the function's own,
    residuals by least squares): the share passes the threshold in about 1% of them."""
    run = _kinked_run(0.5, seed=3)
    x, y = np.log10(run["step"].to_numpy(float)), run["value"].to_numpy()
    fit = find_transitions(x, y, n_bootstrap=0).best
    assert np.allclose(whitened_residuals(x, y, fit) @ whitened_residuals(x, y, fit), fit.sse)
    threshold = scatter_share(x, y, fit).threshold
    design = ar1.whiten(hinge_design(x, fit.breakpoints), fit.rho)
    errors = np.random.default_rng(12345).standard_normal((len(x), 6000))
    resid = errors - design @ np.linalg.lstsq(design, errors, rcond=None)[0]
    squares = np.sort(resid ** 2, axis=0)[::-1]
    rate = np.mean(squares[:2].sum(axis=0) / squares.sum(axis=0) > threshold)
    assert 0.006 < rate < 0.015, rate
    assert SCATTER_LEVEL == 0.99


def test_well_specified_runs_rarely_fire():
    """The whole search (breakpoints and REML rho estimated) on simulated Gaussian AR(1) runs of 51
    checkpoints: the warning fires at about the design level of 1% (at most 3% of 240 runs)."""
    fired = []
    for rho in (0.0, 0.6):
        for seed in range(120):
            summary = run_transitions(_kinked_run(rho, seed), n_bootstrap=0, max_breakpoints=2)[1]
            assert np.isfinite(summary["scatter_top2_share"])
            fired.append(summary["scatter_concentrated"])
    assert sum(fired) <= 7, sum(fired)


def test_two_planted_outliers_fire_and_are_named():
    """Two checkpoints pushed 8 error sd's off a well-specified run: the warning fires and names
    their steps; the same run without them does not."""
    for seed in range(3):
        run = _kinked_run(0.3, seed)
        clean = run_transitions(run, n_bootstrap=0, max_breakpoints=2)[1]
        assert not clean["scatter_concentrated"], clean
        planted = run.copy()
        rows = [17, 38]
        planted.loc[rows, "value"] += [0.4, -0.4]
        summary = run_transitions(planted, n_bootstrap=0, max_breakpoints=2)[1]
        assert summary["scatter_concentrated"], summary
        assert summary["scatter_top2_share"] > summary["scatter_top2_threshold"]
        assert summary["scatter_top2_steps"] == ", ".join(f"{s:g}" for s in planted["step"][rows])


def test_shipped_t_nu_run_fires_and_points_to_t_xi(tmp_path):
    """Shipped mini-3-W0.1 t_nu / attn_out: steps 185 and 265 hold far more of the scatter than
    Gaussian errors give; its line says so and suggests --stat t_xi (the registry's 1/t_nu). Its
    t_xi run is less concentrated (its own largest two, steps 168 and 222, still pass the 1% level:
    xi is steadier than nu, not Gaussian)."""
    shares = {}
    for stat in ("t_nu", "t_xi"):
        traj = stat_trajectory(CHECKPOINTS, stat, group="attn_out", models=["mini-3-W0.1"])
        runs = detect_transitions(traj, n_bootstrap=0)[1]
        shares[stat] = runs.iloc[0]["scatter_top2_share"]
        assert set(SCATTER_COLUMNS) <= set(runs.columns) and set(SCATTER_COLUMNS) <= set(RUN_MEANINGS)
        if stat == "t_nu":
            assert runs.iloc[0]["scatter_concentrated"]
            assert runs.iloc[0]["scatter_top2_steps"] == "185, 265"
    assert shares["t_xi"] < shares["t_nu"]
    assert steadier_scale("t_nu").startswith("--stat t_xi")
    assert "log or reciprocal" in steadier_scale("kurtosis")
    result = CliRunner().invoke(main, ["transitions", "--stat", "t_nu", "--group", "attn_out",
                                       "--models", "mini-3-W0.1", "--bootstrap", "0",
                                       "--out", str(tmp_path / "t")])
    assert result.exit_code == 0, result.output
    line = next(t for t in result.output.splitlines() if t.startswith("  mini-3-W0.1:"))
    assert "(steps 185, 265) hold" in line and "try --stat t_xi" in line, line
    warning = line[line.index("warning: "):]
    assert f"- mini-3-W0.1: {warning}" in (tmp_path / "t" / "report.md").read_text()  # as the terminal


def test_a_run_too_short_to_search_has_no_scatter_verdict():
    """A run with too few checkpoints to search has no fit and so no scatter measured: its
    scatter_concentrated is null (not False, which would read as 'measured and fine')."""
    result = CliRunner().invoke(main, ["transitions", "--stat", "t_nu", "--group", "attn_out", "--models",
                                       "mini-1,mini-1-wsd-D245760", "--bootstrap", "0", "--json"])
    assert result.exit_code == 0, result.output
    runs = {r["model"]: r for r in json.loads(result.stdout)["runs"]}
    assert runs["mini-1-wsd-D245760"]["scatter_concentrated"] is None
    assert runs["mini-1"]["scatter_concentrated"] in (True, False)

"""A run's (or a budget's) prediction interval depends on its own (N, D) alone, not on the other
points asked for beside it; beyond projection.REACH x the largest fitted compute no prediction
interval is stated (the runs' scatter is not carried that far), and a note says why."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from scalefit.scaling.laws import projection
from scalefit.scaling.laws.projection import NO_PI_BEYOND_REACH, REACH, prediction_intervals, project
from scalefit.scaling.laws.scatter import SIZED, fit_scatter


@pytest.fixture(scope="module")
def fit():
    """Chinchilla fitted to 30 runs whose log noise grows as N^0.3 (a sized scatter)."""
    from scalefit.scaling.laws.fit import fit_law
    from scalefit.scaling.laws.forms import chinchilla
    grid_n, tpp = np.meshgrid(np.geomspace(2e7, 3e9, 6), [5, 10, 20, 40, 80], indexing="ij")
    N, D = grid_n.ravel(), (grid_n * tpp).ravel()
    sd = 0.01 * (N / np.exp(np.mean(np.log(N)))) ** 0.3
    L = chinchilla(N, D, 1.8, 480.0, 2000.0, 0.35, 0.37) * np.exp(
        sd * np.random.default_rng(11).standard_normal(N.size))
    result = fit_law(pd.DataFrame({"params": N, "tokens": D, "loss": L}), "chinchilla", n_bootstrap=60)
    result.largest_c = float(np.max(6.0 * N * D))
    return result


def test_identical_points_get_identical_intervals(fit):
    """Three copies of one run got three intervals (each point drew its own residuals)."""
    pi = prediction_intervals(fit, [3e10, 3e10, 3e10, 5e9], [6e11, 6e11, 6e11, 1e11])
    assert pi["pi95_scatter"]["model"] == SIZED
    assert pi["pi95_lo"][0] == pi["pi95_lo"][1] == pi["pi95_lo"][2]
    assert pi["pi95_hi"][0] == pi["pi95_hi"][1] == pi["pi95_hi"][2]
    assert pi["pi95_hi"][0] > pi["pi95_lo"][0]


def test_a_points_interval_is_the_same_alone_and_in_a_list(fit):
    alone = prediction_intervals(fit, [3e10], [6e11])
    for others in (([5e9], [1e11]), ([5e9, 1e8, 2e11], [1e11, 2e9, 1e12])):
        listed = prediction_intervals(fit, others[0] + [3e10], others[1] + [6e11])
        assert listed["pi95_lo"][-1] == alone["pi95_lo"][0]
        assert listed["pi95_hi"][-1] == alone["pi95_hi"][0]
    # a budget's loss_pi95 (compare's rows) does not move when other budgets are added
    one = project(fit, [1e21], largest_fitted=fit.largest_c)
    three = project(fit, [3e19, 1e21, 2e22], largest_fitted=fit.largest_c)
    assert one[0]["loss_pi95"] == three[1]["loss_pi95"]
    assert np.all(np.isfinite(one[0]["loss_pi95"]))


def test_one_point_draws_as_before_and_rows_share_a_residual():
    """A single point's draws are those of rng.choice(size=(n,)) (the old draws for one point);
    every point of a row scales the same residual."""
    rng = np.random.default_rng(3)
    x = np.repeat(np.log(np.geomspace(1e6, 1e9, 5)), 6)
    resid = 0.02 * rng.standard_normal(x.size) * np.exp(0.2 * (x - x.mean()))
    scatter = fit_scatter(resid, x, 3)
    assert scatter.model == SIZED
    one = scatter.draw(np.random.default_rng(7), (500, 1), [x.max()], slope_rng=np.random.default_rng(8))
    flat = scatter.draw(np.random.default_rng(7), (500,), x.max(), slope_rng=np.random.default_rng(8))
    assert np.array_equal(one[:, 0], flat)
    picked = np.random.default_rng(7).choice(scatter.residuals, size=500)
    assert np.array_equal(np.sign(flat), np.sign(picked))  # the scale multiplies the same residual
    two = scatter.draw(np.random.default_rng(7), (500, 2), [x.min(), x.max()],
                       slope_rng=np.random.default_rng(8))
    assert np.array_equal(two[:, 1], flat)


def test_no_interval_beyond_reach(fit):
    from scalefit.scaling.laws.run_prediction import predict_run, prediction_document, run_text
    c_max = fit.largest_c
    n_far = 3e12  # C = 6 N D with D = 20 N: far beyond REACH x the largest fitted run
    assert 6 * n_far * 20 * n_far > REACH * c_max
    frame = predict_run(fit, [n_far, 3e10], [20 * n_far, 6e11])
    assert frame["loss_pi95_lo"].isna().iloc[0] and frame["loss_pi95_hi"].isna().iloc[0]
    assert np.isfinite(frame["loss_ci95_lo"].iloc[0])  # the curve's interval is still given
    assert np.isfinite(frame[["loss_pi95_lo", "loss_pi95_hi"]].iloc[1]).all()
    assert NO_PI_BEYOND_REACH in frame.attrs["pi_note"]
    out, _ = prediction_document(fit, [n_far, 3e10], [20 * n_far, 6e11])
    text = run_text(out)
    assert "no prediction interval beyond 1000x" in text
    # within REACH: the interval is stated, no note
    near = predict_run(fit, [3e10], [6e11])
    assert "pi_note" not in near.attrs and np.isfinite(near["loss_pi95_hi"].iloc[0])
    # compare's budget rows: none beyond REACH, with the note; those within keep theirs, unmoved
    rows = project(fit, [1e21, 2 * REACH * c_max], largest_fitted=c_max)
    assert np.isnan(rows[1]["loss_pi95"]).all() and rows[1]["loss_pi95_note"] == NO_PI_BEYOND_REACH
    assert np.all(np.isfinite(rows[1]["loss_ci95"]))
    assert "loss_pi95_note" not in rows[0]
    assert rows[0]["loss_pi95"] == project(fit, [1e21], largest_fitted=c_max)[0]["loss_pi95"]
    from scalefit.scaling.outputs import column_meaning  # budgets.csv's legend says what it is
    assert "1000x" in (column_meaning("kaplan_loss_pi95_note") or column_meaning("loss_pi95_note") or "")


def test_projection_module_reach_is_the_budget_rule(fit):
    """A budget (beyond_reach) and a run's stated distance (prediction_intervals'
    times_largest_run) draw the line at REACH alike: beyond it no interval and a note saying how
    many points; within it (1x-100x, bench/bench_law_intervals.py's design) or at no known
    distance (NaN) the interval is the one given without distances."""
    assert projection.beyond_reach([REACH * 2.0, REACH * 0.5], 1.0).tolist() == [True, False]
    assert not projection.beyond_reach([1e30], None).any()
    c = np.array([1.0, 10.0, 100.0, 100.0]) * fit.largest_c
    n = np.sqrt(c / (6.0 * 20))
    plain = prediction_intervals(fit, n, 20 * n)
    reached = prediction_intervals(fit, n, 20 * n, times_largest_run=[1.0, 10.0, np.nan, 2 * REACH])
    for key in ("pi95_lo", "pi95_hi"):
        assert reached[key][:3] == plain[key][:3] and np.isnan(reached[key][3])
        assert np.isfinite(plain[key][3])
    assert "pi95_note" not in plain and reached["pi95_note"].endswith(f"{NO_PI_BEYOND_REACH} (1 of 4 points)")
    within = prediction_intervals(fit, n[:3], 20 * n[:3], times_largest_run=[1.0, 10.0, 100.0])
    assert within["pi95_lo"] == plain["pi95_lo"][:3] and "pi95_note" not in within


def test_the_audits_commands_on_the_shipped_grid():
    """`predict run kaplan --n-counts total` at three identical runs: one interval; at N 1e12,
    D 2e13 (1.4e13x the largest fitted compute): no PI, the note, the curve's CI still given."""
    import json

    from click.testing import CliRunner

    from scalefit.cli import main
    same = CliRunner().invoke(main, ["predict", "run", "kaplan", "--n-counts", "total", "--N",
                                     "1643648,1643648,1643648", "--D", "9830400", "--json"])
    assert same.exit_code == 0, same.output
    rows = json.loads(same.stdout)["runs"]
    assert rows[0]["loss_pi95"] == rows[1]["loss_pi95"] == rows[2]["loss_pi95"]
    far = CliRunner().invoke(main, ["predict", "run", "kaplan", "--N", "1e12", "--D", "2e13"])
    assert far.exit_code == 0, far.output
    line = next(x for x in far.stdout.splitlines() if x.startswith("1e+12"))
    assert " - " in line and "[" in line  # the PI cell empty, the CI's still there
    assert "no prediction interval beyond 1000x the largest fitted run's compute" in far.stdout


def test_calibrate_draws_a_residual_per_point(fit, monkeypatch):
    """calibrate scores coverage over a cut's many held-out runs: shared per-row residuals made one
    cut's coverage vary 3x more from seed to seed, so it asks for independent draws per point
    (independent_points=True), which give identical points different intervals, as drawn before."""
    pi = prediction_intervals(fit, [3e10, 3e10, 3e10], [6e11, 6e11, 6e11], independent_points=True)
    assert len({float(x) for x in pi["pi95_lo"]}) == 3
    from scalefit.scaling.laws import calibrate
    asked = []
    real = calibrate.prediction_intervals
    monkeypatch.setattr(calibrate, "prediction_intervals",
                        lambda *a, **k: asked.append(k.get("independent_points")) or real(*a, **k))
    from scalefit.scaling.laws.cli import _load
    runs, _, _ = _load(None)
    calibrate.calibrate_law(runs[runs["part"] == "grid"], "chinchilla", cuts=2, n_bootstrap=20)
    assert asked and all(asked)

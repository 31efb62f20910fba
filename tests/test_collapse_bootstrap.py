"""The collapse test's parametric bootstrap (collapse.collapse_bootstrap_p_value): the F-test's
p averaged over rho's corrected likelihood is still liberal at high autocorrelation (7-8% at 5%
for rho 0.8-0.9 in bench/bench_trajectory_tests.py); its null distribution, simulated with
linearized refits, calibrates it. Checked here on known truth: the simulated null statistics of
a linear design follow the exact F distribution, the calibrated p is uniform on null data with
rho 0.9, and curves that truly differ are still told apart."""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from scalefit.scaling.trajectories import ar1
from scalefit.scaling.trajectories import collapse, linearized, stat_law

STEPS = np.unique(np.r_[2.0 ** np.arange(10), np.arange(120, 1121, 30)])  # the bench's 44 checkpoints


def _runs(rng, rho, shift=0.0, n_runs=5):
    """Five runs on value = 0.5 + 0.8 (L - 2.5)^0.7 with AR(1) noise in loss and statistic; run m
    moved up by shift * (m - 2)."""
    rows = []
    for m in range(n_runs):
        loss = 3.0 + 3.0 * STEPS ** -0.3 + ar1.stationary_series(rho, (len(STEPS), 1), rng, 0.01)[:, 0]
        value = (0.5 + shift * (m - 2) + 0.8 * (loss - 2.5) ** 0.7
                 + ar1.stationary_series(rho, (len(STEPS), 1), rng, 0.01)[:, 0])
        rows.append(pd.DataFrame({"model": f"m{m}", "step": STEPS, "loss": loss, "value": value}))
    return pd.concat(rows, ignore_index=True)


def test_bootstrap_share_counts_the_observed_as_one_draw():
    assert collapse.bootstrap_share([0.1, 0.2, 0.3], 0.25) == pytest.approx(2 / 4)
    assert collapse.bootstrap_share([0.1, 0.2, 0.3], 0.15, larger=False) == pytest.approx(2 / 4)
    assert collapse.bootstrap_share([0.1, np.nan], 0.05, larger=False) == pytest.approx(1 / 2)
    assert np.isnan(collapse.bootstrap_share([0.1], np.nan))


def test_the_replayed_search_ends_where_lmfit_ends_from_every_start():
    """fit_stat_vs_loss replays lmfit's leastsq from each start and refits only the lowest with
    lmfit: the replay must end at lmfit's chi-square to the bit, from starts that converge and
    from starts stopped at REFINE_MAX_NFEV (the m4 run of this seed stops from all three)."""
    import lmfit
    joined = _runs(np.random.default_rng(61), 0.9)
    model = lmfit.Model(stat_law.stat_power_law, independent_vars=["L"])
    stopped = converged = 0
    for m in ("m1", "m4"):
        run = joined[joined["model"] == m]
        loss, value = run["loss"].to_numpy(), run["value"].to_numpy()
        for e0, p0, v0, c0 in stat_law._grid_starts(loss, value, None):
            def params():
                made = model.make_params(v0=v0, c=c0, E=e0, p=p0)
                made["E"].set(max=float(loss.min()) - 1e-9)
                made["p"].set(min=stat_law.P_BOUND[0], max=stat_law.P_BOUND[1])
                return made
            result = model.fit(value, params(), L=loss, nan_policy="omit", max_nfev=stat_law.REFINE_MAX_NFEV)
            assert stat_law._replayed_chisqr(params(), loss, value) == result.chisqr
            stopped += result.nfev >= stat_law.REFINE_MAX_NFEV - 1
            converged += bool(result.success)
    assert stopped >= 3 and converged >= 3


def test_null_draws_of_a_linear_design_at_rho_0_follow_the_exact_f_distribution(monkeypatch):
    """Where the model is linear and the errors independent, pooled vs per-run least squares is the
    textbook F-test: the simulated ratio RSS(pooled) / RSS(per run) - 1, times df_resid / df_extra,
    is F(df_extra, df_resid) distributed and the simulated p's are uniform."""
    rng = np.random.default_rng(0)
    losses = [np.sort(rng.uniform(2.8, 4.0, n)) for n in (30, 44, 57)]
    pooled = stat_law.fit_stat_vs_loss(np.concatenate(losses),
                                       0.5 + 0.8 * (np.concatenate(losses) - 2.5) ** 0.7
                                       + rng.normal(0, 0.01, sum(map(len, losses))), E=2.5)
    blocks, names = linearized.jacobian_blocks(pooled, losses)
    k = len(names)
    # rho known to be 0: all of the corrected likelihood on 0
    draws = collapse.collapse_null_draws(pooled, losses, blocks, lambda r: 0.0 * np.asarray(r), 0.0, n_sim=4000)
    df_extra, df_resid = k * (len(losses) - 1), sum(map(len, losses)) - k * len(losses)
    assert stats.kstest(draws["ratio"] * df_resid / df_extra, stats.f(df_extra, df_resid).cdf).pvalue > 0.01
    assert stats.kstest(draws["p"], "uniform").pvalue > 0.01


@pytest.mark.slow
def test_calibrated_collapse_p_is_uniform_on_one_curve_at_rho_0_9():
    """40 null data sets (five runs of 44 checkpoints on one curve, rho 0.9): the calibrated p's
    are uniform (Kolmogorov-Smirnov) and reject at 5% no more often than a 5% test can by chance
    (at most 6 of 40: P = 0.005 under 5%)."""
    rng = np.random.default_rng(61)
    calibrated = []
    for _ in range(40):
        report = collapse.collapse_report(_runs(rng, 0.9))
        calibrated.append(report["collapse_p_value"])
    calibrated = np.array(calibrated)
    assert np.all((calibrated > 0) & (calibrated <= 1))
    assert np.sum(calibrated < 0.05) <= 6, calibrated
    assert stats.kstest(calibrated, "uniform").pvalue > 0.01, calibrated


def test_calibrated_collapse_p_tells_distinct_curves_apart():
    """Runs whose curves differ by 0.02 per size (twice the noise's sd) at rho 0.8: the calibrated
    p rejects one curve at 5% in every data set, and the verdict says the runs differ."""
    rng = np.random.default_rng(62)
    for _ in range(4):
        report = collapse.collapse_report(_runs(rng, 0.8, shift=0.02))
        assert report["collapse_p_value"] < 0.05, report["collapse_p_value"]
        assert report["collapse_p_value"] >= 1 / (collapse.COLLAPSE_SIMS + 1)
        assert report["collapse_verdict"].startswith("runs follow distinct curves")
        assert f"calibrated on {collapse.COLLAPSE_SIMS} simulated null data sets" in report["collapse_verdict"]


def test_calibrated_p_is_reproducible_and_floored():
    rng = np.random.default_rng(63)
    joined = _runs(rng, 0.5, shift=0.05)
    first, again = collapse.collapse_report(joined), collapse.collapse_report(joined)
    assert first["collapse_p_value"] == again["collapse_p_value"]
    floor = 1 / (collapse.COLLAPSE_SIMS + 1)
    assert first["collapse_p_value"] == pytest.approx(floor)
    assert f"p <= {floor:.2g}" in first["collapse_verdict"]



def test_runs_whose_statistic_is_constant_are_left_out_of_the_test_and_named():
    """t_nu at its 1e4 cap on two of five runs (the shipped MLP-in layer 0): their residual is
    rounding, and rho's pooled likelihood went nan (a RuntimeWarning) while the verdict still
    read 'runs follow distinct curves' with no p behind it. Now the flat runs are left out of
    the pooled curve, rho's likelihood and the null simulation alike, so the three runs that vary
    get the test they get alone, and the verdict names the flat runs and their value."""
    rng = np.random.default_rng(3)
    joined = _runs(rng, 0.5, n_runs=3)
    capped = [pd.DataFrame({"model": f"cap{m}", "step": STEPS,
                            "loss": 3.0 + (3.0 + m) * STEPS ** -0.3, "value": 1e4}) for m in range(2)]
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        report = collapse.collapse_report(pd.concat([joined, *capped], ignore_index=True))
    alone = collapse.collapse_report(joined)
    assert np.isfinite(alone["collapse_p_value"])
    for key in ("collapse_p_value", "collapse_f_test_p_value", "residual_autocorrelation", "collapse_ratio"):
        assert report[key] == pytest.approx(alone[key], rel=1e-9), key
    assert report["pooled_models"] == alone["pooled_models"]
    assert set(report["per_model"]) == set(alone["per_model"]) | {"cap0", "cap1"}
    assert report["flat_models"] == {"cap0": 1e4, "cap1": 1e4}
    assert report["collapse_verdict"].startswith(alone["collapse_verdict"])
    assert ("the pooled curve and the test take the 3 runs whose statistic varies, leaving out "
            "cap0, cap1: constant at every checkpoint (10000)") in report["collapse_verdict"]


def test_one_varying_run_beside_flat_runs_gets_no_test_and_says_why():
    """With only one run left that varies there is nothing to compare it with: no p, no rho."""
    rng = np.random.default_rng(4)
    joined = _runs(rng, 0.5, n_runs=1)
    capped = pd.DataFrame({"model": "cap0", "step": STEPS, "loss": 3.0 + 3.0 * STEPS ** -0.3, "value": 7.5})
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        report = collapse.collapse_report(pd.concat([joined, capped], ignore_index=True))
    assert np.isnan(report["collapse_p_value"]) and np.isnan(report["residual_autocorrelation"])
    assert "not tested: cap0 holds the statistic constant at every checkpoint (7.5)" in report["collapse_verdict"]
    assert "fewer than two runs are left to compare" in report["collapse_verdict"]
    assert "distinct curves" not in report["collapse_verdict"]


def test_shipped_mlp_in_layer0_t_nu_tests_the_runs_that_vary():
    """The shipped MLP-in layer 0 t_nu sits at the 1e4 cap on mini-1 and mini-2 (and their WSD
    constant runs) at every checkpoint: `scalefit trajectory --json` once fitted them as constant
    runs (constant_models); a value at the cap is no measurement, so they are now left out before
    any fit (at_bound names them, every checkpoint at the cap) and the other runs are tested."""
    import json

    from click.testing import CliRunner

    from scalefit.cli import main
    args = ["trajectory", "--stat", "t_nu", "--tensor", "gpt_neox.layers.0.mlp.dense_h_to_4h.weight", "--json"]
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    capped = {r["model"]: r for r in doc["at_bound"]}
    for model in ("mini-1", "mini-2", "mini-1-wsd-constant", "mini-2-wsd-constant"):
        assert capped[model]["n_at_bound"] == capped[model]["n_checkpoints"]
    every = {m for m, r in capped.items() if r["n_at_bound"] == r["n_checkpoints"]}
    assert doc["constant_models"] == {} and not every & (set(doc["per_model"]) | set(doc["pooled_models"]))
    assert len(doc["pooled_models"]) >= 2
    assert 0 < doc["collapse_p_value"] <= 1 and 0 <= doc["residual_autocorrelation"] <= ar1.MAX_RHO

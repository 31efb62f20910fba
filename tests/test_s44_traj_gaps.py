"""`scalefit trajectory` with checkpoints left out at a shape's bound (a Student-t nu at its cap): the
AR(1) errors of a run's points k places apart in its series are correlated rho^k, not rho, in the
collapse test, its bias correction and null simulation, the parameter intervals and the partial
correlation's effective points (ar1.correlation_matrix on the run's series positions), as
transitions already reads them (ar1.gap_lags, transitions.series_lags)."""
import json

import numpy as np
import pandas as pd
from click.testing import CliRunner

from scalefit.cli import main
from scalefit.scaling.trajectories import ar1
from scalefit.scaling.trajectories.collapse import collapse_report
from scalefit.scaling.trajectories.correlation import partial_correlation

RHO = 0.8
SERIES = np.arange(90)
KEPT = SERIES[(SERIES % 4 != 1) & (SERIES % 4 != 2)]  # two of every four left out: lags 1, 3, 1, 3, ...


def test_gapped_correlation_is_rho_to_the_distance_in_the_series():
    """correlation_matrix, frobenius_squared and design_moments on a run's places: rho^|i - j| for
    the places i, j kept (the old ones read the kept points as consecutive, rho^1 across a gap)."""
    lags = ar1.gap_lags(KEPT)
    truth = RHO ** np.abs(np.subtract.outer(KEPT, KEPT)).astype(float)
    np.testing.assert_allclose(ar1.correlation_matrix(len(KEPT), RHO, lags), truth, rtol=1e-12)
    assert np.isclose(ar1.frobenius_squared(len(KEPT), RHO, lags), np.sum(truth ** 2))
    x = np.column_stack([np.ones(len(KEPT)), np.linspace(0, 1, len(KEPT))])
    (xsx, sxsx, trace, n), = ar1.design_moments([x], RHO, [lags])
    np.testing.assert_allclose(xsx, x.T @ truth @ x, rtol=1e-12)
    np.testing.assert_allclose(sxsx, (truth @ x).T @ (truth @ x), rtol=1e-12)
    assert n == len(KEPT) and np.isclose(trace, np.sum(truth ** 2))
    consecutive = ar1.correlation_matrix(len(KEPT), RHO)
    assert np.abs(consecutive - truth).max() > 0.2


def test_simulated_gapped_series_have_that_correlation():
    """stationary_series with lags (the collapse test's null data): covariance rho^|i - j| on the
    places kept, unit variance."""
    lags = ar1.gap_lags(KEPT[:8])
    series = ar1.stationary_series(RHO, (8, 40000), np.random.default_rng(4), lags=lags)
    np.testing.assert_allclose(np.cov(series), ar1.correlation_matrix(8, RHO, lags), atol=0.03)


def test_effective_points_of_gapped_runs_match_the_correlations_spread():
    """Var(r) of two independent residual series is 1 / n_eff: on 3 runs of gapped AR(1) errors
    (rho 0.8, quadratic designs) n_eff with the lags gives Var(r) n_eff = 1 within Monte Carlo
    error; read as consecutive (the old code) it was 0.65."""
    rng = np.random.default_rng(7)
    lags = ar1.gap_lags(KEPT)
    x = np.linspace(0, 1, len(SERIES))[KEPT]
    designs = [np.column_stack([np.ones_like(x), x, x * x])] * 3
    makers = [ar1.residual_maker(d) for d in designs]
    r = []
    for _ in range(2000):
        a, b = ([m @ ar1.stationary_series(RHO, len(SERIES), rng)[KEPT] for m in makers] for _ in "ab")
        r.append(np.corrcoef(np.concatenate(a), np.concatenate(b))[0, 1])
    spread = np.var(r)  # its relative SE: sqrt(2 / 2000) = 3%
    assert abs(spread * ar1.effective_points(designs, RHO, RHO, [lags] * 3) - 1) < 0.1
    assert spread * ar1.effective_points(designs, RHO, RHO) < 0.8


def _joined(rng, rho=0.7, models=("a", "b", "c", "d"), series=100):
    """join_stat_and_loss's table of runs on one curve value = 2 + 4 (L - 2.5)^-1.5 with AR(1) errors
    over their whole series, two of every four checkpoints left out at the bound (attrs["at_bound"])."""
    steps = np.unique(np.round(np.geomspace(10, 5000, series))).astype(int)
    drop = np.isin(np.arange(len(steps)) % 4, (1, 2))
    rows, records = [], []
    for model in models:
        loss = 3 + 5 * steps ** -0.3
        value = 2 + 4 * (loss - 2.5) ** -1.5 + ar1.stationary_series(rho, len(steps), rng, scale=0.05)
        rows.append(pd.DataFrame({"model": model, "step": steps[~drop], "value": value[~drop],
                                  "loss": loss[~drop]}))
        records.append({"model": model, "stat": "t_nu", "side": "upper", "bound": 1e4,
                        "n_at_bound": int(drop.sum()), "steps_at_bound": [int(s) for s in steps[drop]]})
    joined = pd.concat(rows, ignore_index=True)
    joined.attrs["at_bound"] = records
    return joined


def test_collapse_rho_is_the_series_rho_across_the_gaps():
    """collapse_report's bias-corrected rho on runs with two of every four checkpoints left out
    (truth 0.7, three seeds): with the runs' lags it is the series' rho (0.72, 0.45, 0.69 with
    this layout); read as consecutive (the old report, which had no lags) it was the lag-mixed
    correlation, far low (0.55, 0.28, 0.47). The verdict and the intervals say rho^k."""
    gapped, plain = [], []
    for seed in range(3):
        joined = _joined(np.random.default_rng(seed))
        report = collapse_report(joined)
        gapped.append(report["residual_autocorrelation"])
        assert report["gapped_models"] == ["a", "b", "c", "d"]
        assert ar1.GAP_WORDS in report["collapse_verdict"]
        assert ar1.GAP_WORDS in report["pooled"].extra["stderr_from"]
        joined.attrs = {}
        plain.append(collapse_report(joined)["residual_autocorrelation"])
    assert abs(np.mean(gapped) - 0.7) < 0.12, gapped
    assert np.mean(gapped) - np.mean(plain) > 0.12, (gapped, plain)


def test_runs_without_gaps_and_capped_tails_are_read_as_before():
    """Checkpoints left out only after a run's last kept one (nu capped from some step on) leave no
    gap: no lags, and the report is the one without any record, to the bit."""
    from scalefit.scaling.trajectories.table import checkpoint_lags
    rng = np.random.default_rng(11)
    steps = np.arange(10, 70)
    run = pd.DataFrame({"model": "a", "step": steps})
    assert checkpoint_lags(run, "a", [{"model": "a", "steps_at_bound": [70, 80, 90]}]) is None
    assert checkpoint_lags(run, "a", [{"model": "b", "steps_at_bound": [20]}]) is None
    assert list(checkpoint_lags(run.drop(index=[3]), "a", [{"model": "a", "steps_at_bound": [13]}]))[:4] == [1, 1, 1, 2]
    joined = _joined(rng, models=("a", "b", "c"), series=60)
    joined.attrs["at_bound"] = [{**r, "steps_at_bound": [99999]} for r in joined.attrs["at_bound"]]
    tail = partial_correlation(joined), collapse_report(joined).to_dict()
    joined.attrs = {}
    none = partial_correlation(joined), collapse_report(joined).to_dict()
    assert json.dumps(tail, sort_keys=True) == json.dumps(none, sort_keys=True)
    assert tail[0]["gapped_models"] == [] and tail[1]["gapped_models"] == []


CAP = 1e4


def _checkpoint_table(rng) -> pd.DataFrame:
    """Weight rows (t_nu of attn_out's pooled row, AR(1) noise about a curve in the loss) and loss
    rows of three runs whose nu touches the cap at a few checkpoints mid-run (interior gaps)."""
    steps = np.unique(np.round(np.geomspace(10, 3000, 70))).astype(int)
    rows = []
    for i, model in enumerate(("m1", "m2", "m3")):
        loss = 3.0 + (5.0 + i) * steps ** -0.3
        nu = 20 + 40 * (loss - 2.5) ** -1.5 + ar1.stationary_series(0.8, len(steps), rng, scale=0.5)
        nu[[10, 11, 25, 40, 41, 42]] = CAP
        for step, value, lo in zip(steps, nu, loss):
            rows.append({"model": model, "step": int(step), "tensor": "*", "group": "attn_out", "layer": -1,
                         "stat": "t_nu", "value": float(value)})
            rows.append({"model": model, "step": int(step), "dataset": "train-val", "metric": "loss",
                         "value": float(lo)})
    return pd.DataFrame(rows)


def test_trajectory_command_says_the_gapped_treatment(tmp_path):
    """`scalefit trajectory` on a table whose nu sits at its cap mid-run: the verdict's rho, the
    partial correlation's effective points and --json's gapped_models say that checkpoints k apart
    are taken as rho^k (the old command took the kept ones as consecutive and said nothing)."""
    path = tmp_path / "checkpoints.csv"
    _checkpoint_table(np.random.default_rng(2)).to_csv(path, index=False)
    args = ["trajectory", "--stat", "t_nu", "--group", "attn_out", "--data", str(path)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "AR(1) with rho" in text and ar1.GAP_WORDS in text.split("Collapse ratio")[1].split("|")[0]
    assert f"independent points for their autocorrelation; AR(1), {ar1.GAP_WORDS})" in text
    doc = json.loads(CliRunner().invoke(main, args + ["--json"]).stdout)
    assert doc["gapped_models"] == ["m1", "m2", "m3"]
    assert doc["correlation"]["gapped_models"] == ["m1", "m2", "m3"]
    assert ar1.GAP_WORDS in doc["pooled_fit"]["stderr_from"]

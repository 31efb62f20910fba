"""One rule for 'beyond projection.REACH x the largest fitted run's compute' (projection.beyond_reach),
and held-out runs there (fit/compare --holdout, calibrate) get no prediction interval, as budget
rows there get none, and no score for one."""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from scalefit.scaling.laws import forms as law_forms
from scalefit.scaling.laws import projection
from scalefit.scaling.laws.projection import NO_PI_FOR_FAR_RUN, REACH

TRUTH = (1.8, 480.0, 2000.0, 0.35, 0.37)  # E, A, B, alpha, beta


def runs(seed: int = 5) -> pd.DataFrame:
    """36 Chinchilla runs, N 1e6 to 3e9 (compute 6e13 to 4e21), 1% lognormal noise."""
    rng = np.random.default_rng(seed)
    N, tpp = np.meshgrid(np.geomspace(1e6, 3e9, 9), [5, 10, 20, 80], indexing="ij")
    N, D = N.ravel(), (N * tpp).ravel()
    L = law_forms.chinchilla(N, D, *TRUTH) * np.exp(rng.normal(0, 0.01, N.size))
    return pd.DataFrame({"params": N, "tokens": D, "loss": L})


def test_every_reach_rule_reads_beyond_reach(monkeypatch):
    """default_budgets, reference_budgets_out_of_reach, prediction_intervals and the budget
    table's warning all ask beyond_reach (they spelled c <= REACH * c_max and times > REACH)."""
    from scalefit.scaling.laws import report
    from scalefit.scaling.laws.allocation import REFERENCE_BUDGETS
    monkeypatch.setattr(projection, "beyond_reach", lambda c, largest: np.ones(np.shape(c), bool))
    monkeypatch.setattr(report, "beyond_reach", lambda c, largest: np.ones(np.shape(c), bool), raising=False)
    assert projection.default_budgets([1e30]) == [1e31, 1e32]  # 1e21..1e25 all 'beyond'
    assert projection.reference_budgets_out_of_reach(1e30) == list(REFERENCE_BUDGETS)
    rows = [{"flops": 1e20, "times_largest_run": 2.0, "kind": "projection", "N_opt": 1e9, "D_opt": 2e10}]
    assert any(line.startswith("warning: budgets 2x beyond") for line in report.projection_lines(rows))


@pytest.fixture(scope="module")
def fitted():
    from scalefit.scaling.laws.fit import fit_law
    from scalefit.scaling.laws.runtable import validate_runs
    df = runs()
    c = 6 * df.params * df.tokens
    small = df[c < 1e17]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = fit_law(validate_runs(small, "chinchilla"), "chinchilla", n_bootstrap=30, seed=0)
    return result, float((6 * small.params * small.tokens).max()), df


def test_held_out_run_beyond_reach_gets_no_interval_and_no_score(fitted):
    from scalefit.scaling.laws.report import holdout_lines
    from scalefit.scaling.laws.runtable import validate_runs
    result, largest, df = fitted
    c = 6 * df.params * df.tokens
    held = df[(c >= 1e17) & ((c < 3 * largest) | (c > 5 * REACH * largest))]
    far = (6 * held.params * held.tokens > REACH * largest).to_numpy()
    assert far.any() and (~far).any()
    table = validate_runs(held, "chinchilla", check_size=False)
    hold = projection.holdout_predictions(result, table, largest_fitted=largest, seed=0)
    lo, hi = np.asarray(hold["pi95_lo"]), np.asarray(hold["pi95_hi"])
    assert np.isnan(lo[far]).all() and np.isnan(hi[far]).all()
    assert np.isfinite(lo[~far]).all() and np.isfinite(hi[~far]).all()
    # the block has no curve interval: the note says what it gives (the point and its error)
    assert NO_PI_FOR_FAR_RUN in hold["pi95_note"] and "curve interval" not in hold["pi95_note"]
    assert [i is None for i in hold["inside_pi95"]] == far.tolist()
    assert hold["pi95_unscored"] == far.sum()
    scored = [i for i in hold["inside_pi95"] if i is not None]
    assert hold["pi95_coverage"] == pytest.approx(np.mean(scored))
    # the point predictions and their errors are still given for every run
    assert np.isfinite(hold["predicted"]).all() and len(hold["relative_error"]) == len(held)
    line = holdout_lines("", hold)[0]
    assert f"{sum(scored)} of {len(scored)} inside" in line
    # why they are unscored is said once, and no curve interval is promised
    assert line.count("no prediction interval beyond") == 1 and "no interval there" not in line
    assert "curve interval" not in line
    assert f"({far.sum()} of {len(far)} points)" in line
    # every held-out run that far: none is scored, not '0 of 0 inside'
    gone = projection.holdout_predictions(result, validate_runs(held[far], "chinchilla", check_size=False),
                                          largest_fitted=largest, seed=0)
    text = holdout_lines("", gone)[0]
    assert "none scored against a 95% prediction interval" in text and "0 of 0" not in text
    assert np.isnan(gone["pi95_coverage"]) and np.isfinite(gone["mean_abs_rel_error"])
    # the near runs' intervals are those of the near runs asked alone
    near = projection.holdout_predictions(result, validate_runs(held[~far], "chinchilla", check_size=False),
                                          largest_fitted=largest, seed=0)
    assert near["pi95_lo"] == lo[~far].tolist() and "pi95_unscored" not in near


def test_calibrate_keeps_runs_beyond_reach_unscored():
    """As fit/compare --holdout: a held-out run beyond REACH keeps its point prediction and its
    error (in the predictions, the cut's and the by-distance errors), only its interval is not
    stated (NaN) and not scored (inside None, out of the coverage)."""
    from scalefit.scaling.laws.calibrate import calibrate_law
    from scalefit.scaling.laws.calibrate_report import calibration_text
    df = runs()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cal = calibrate_law(df, "chinchilla", cuts=3, n_bootstrap=20, seed=0)
    c = (6 * df.params * df.tokens).to_numpy()
    expected, n_all = 0, 0
    for cut in cal.cuts["cut_flops"]:
        largest = c[c < cut].max()
        expected += int(np.sum(c[c >= cut] > REACH * largest))
        n_all += int(np.sum(c >= cut))
    assert expected > 0
    assert cal.unscored == expected and cal.to_dict()["n_unscored_beyond_reach"] == expected
    preds = cal.predictions
    assert len(preds) == n_all == cal.cuts["n_predicted"].sum()  # every held-out run predicted
    far = (preds["distance"] > REACH).to_numpy()
    assert far.sum() == expected
    assert np.isnan(preds.loc[far, ["pi95_lo", "pi95_hi"]].to_numpy()).all()
    assert np.isfinite(preds.loc[~far, ["pi95_lo", "pi95_hi"]].to_numpy()).all()
    assert preds["inside"][far].isna().all() and preds["inside"][~far].notna().all()
    assert np.isfinite(preds["relative_error"]).all()  # the far runs' errors too
    scored = preds["inside"][~far].astype(bool)
    assert cal.coverage == pytest.approx(scored.mean())
    assert cal.to_dict()["predictions"][int(np.argmax(far))]["inside"] is None
    # the tables count the far runs and say how many of them are unscored
    assert cal.by_distance["n"].sum() == n_all and cal.by_distance["n_unscored"].sum() == expected
    assert cal.cuts["n_unscored"].sum() == expected
    for _, cut in cal.cuts.iterrows():
        mine = preds[preds["cut_flops"] == cut["cut_flops"]]
        assert cut["median_abs_rel_error"] == pytest.approx(mine["relative_error"].abs().median())
    note = next(n for n in cal.notes if NO_PI_FOR_FAR_RUN in n)
    assert note.startswith(f"{expected} predictions beyond {REACH:g}x the largest fitted run's compute left unscored")
    assert "in the tables and the errors, not in the coverage" in note
    text = calibration_text(cal)
    assert f"coverage: {int(scored.sum())} of {int((~far).sum())} observed losses" in text

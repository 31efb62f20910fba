"""Every checkpoint left out of a weight statistic's series is a gap in its AR(1) errors, not only one
whose shape statistic sat at its fit's bound: a statistic that is not finite, a checkpoint with the
statistic and no loss row, and one whose loss is not finite leave the same gap (table.with_left_out's
attrs["left_out"], read by checkpoint_lags / series_lags), so the points on either side are
correlated rho^k, not rho (the old code took them as neighbours)."""
import json

import numpy as np
import pandas as pd
from click.testing import CliRunner

from scalefit.cli import main
from scalefit.scaling.trajectories import ar1
from scalefit.scaling.trajectories.collapse import collapse_report
from scalefit.scaling.trajectories.correlation import partial_correlation
from scalefit.scaling.trajectories.table import (checkpoint_lags, gap_records, join_stat_and_loss,
                                                 stat_trajectory)
from scalefit.scaling.trajectories.transition_search import find_transitions
from scalefit.scaling.trajectories.transitions import detect_transitions

CAP = 1e4  # t_nu's cap: a checkpoint there is left out at the bound
MODELS = ("m1", "m2", "m3")
STEPS = np.unique(np.round(np.geomspace(10, 3000, 60))).astype(int)
GONE = [12, 13, 30, 44]  # places in every run's series left out: gaps of 3 and 2 checkpoints
WAYS = ("at_bound", "not_finite", "without_loss", "loss_not_finite")


def _table(way: str | None, seed: int = 2) -> pd.DataFrame:
    """Weight rows (t_nu of attn_out's pooled row: a curve in the loss plus AR(1) noise, rho 0.8)
    and loss rows of three runs whose checkpoints at GONE are left out ``way`` (None: kept)."""
    rng = np.random.default_rng(seed)
    rows = []
    for i, model in enumerate(MODELS):
        loss = 3.0 + (5.0 + i) * STEPS ** -0.3
        nu = 20 + 40 * (loss - 2.5) ** -1.5 + ar1.stationary_series(0.8, len(STEPS), rng, scale=0.5)
        for j, (step, value, lo) in enumerate(zip(STEPS, nu, loss)):
            gone = j in GONE
            value = CAP if gone and way == "at_bound" else np.nan if gone and way == "not_finite" else value
            rows.append({"model": model, "step": int(step), "tensor": "*", "group": "attn_out",
                         "layer": -1, "stat": "t_nu", "value": float(value)})
            if not (gone and way == "without_loss"):
                rows.append({"model": model, "step": int(step), "dataset": "train-val", "metric": "loss",
                             "value": np.nan if gone and way == "loss_not_finite" else float(lo)})
    return pd.DataFrame(rows)


def _joined(way):
    return join_stat_and_loss(_table(way), "t_nu", group="attn_out")


def _lags(joined):
    records = gap_records(joined.attrs)
    return {m: checkpoint_lags(run.sort_values("step"), m, records)
            for m, run in joined.groupby("model", sort=True)}


def _reports(joined) -> str:
    return json.dumps([collapse_report(joined).to_dict(), partial_correlation(joined)], sort_keys=True,
                      default=str)


def test_every_reason_leaves_the_gap_a_checkpoint_at_the_bound_leaves():
    """The series' places of the kept checkpoints, whatever left GONE out: the lags are gap_lags of
    those places (3 and 2 across the gaps), as at the bound; the old code gave lags only for
    checkpoints at the bound (None, read as consecutive, for the other three reasons)."""
    kept = np.setdiff1d(np.arange(len(STEPS)), GONE)
    truth = ar1.gap_lags(kept)
    for way in WAYS:
        joined = _joined(way)
        assert len(joined) == len(MODELS) * len(kept), way
        for model, lags in _lags(joined).items():
            np.testing.assert_array_equal(lags, truth, err_msg=f"{way} {model}")
        record = gap_records(joined.attrs)[0]
        assert record["steps_left_out"] == [int(STEPS[j]) for j in GONE], way
        assert record[f"steps_{way}"] == record["steps_left_out"] and record["n_checkpoints"] == len(STEPS)


def test_trajectory_fits_are_those_of_the_same_gaps_at_the_bound():
    """collapse_report (rho, F-test, bootstrap p, parameter intervals) and partial_correlation (its
    effective points) on the kept checkpoints are the bits of the at-bound case for a statistic that
    is not finite, a checkpoint without a loss row and a loss that is not finite; each lists every
    run as gapped."""
    bound = _joined("at_bound")
    expected = _reports(bound)
    for way in WAYS[1:]:
        joined = _joined(way)
        pd.testing.assert_frame_equal(joined[["model", "step", "value", "loss"]],
                                      bound[["model", "step", "value", "loss"]])
        assert _reports(joined) == expected, way
        assert collapse_report(joined)["gapped_models"] == list(MODELS)
    joined.attrs = {}  # the old reading: the kept points as neighbours
    assert _reports(joined) != expected


def test_rows_a_hand_made_table_leaves_out_are_gaps_too():
    """A joined table made by hand (no attrs) whose rows at GONE have no loss: collapse_report and
    partial_correlation leave those rows out and read the gap they leave, as join_stat_and_loss's
    table records it."""
    table = _table(None)
    joined = join_stat_and_loss(table, "t_nu", group="attn_out").sort_values(["model", "step"])
    joined = joined.reset_index(drop=True)
    place = joined.groupby("model").cumcount().to_numpy()
    joined.loc[np.isin(place, GONE), "loss"] = np.nan
    joined.attrs = {}
    gapped = collapse_report(joined)
    assert gapped["gapped_models"] == list(MODELS)
    assert partial_correlation(joined)["gapped_models"] == list(MODELS)
    expected = collapse_report(_joined("without_loss"))
    assert gapped["residual_autocorrelation"] == expected["residual_autocorrelation"]
    assert gapped["collapse_p_value"] == expected["collapse_p_value"]


def test_transitions_read_the_gap_of_a_statistic_that_is_not_finite():
    """detect_transitions on stat_trajectory's output with t_nu not finite at GONE: each run's search
    is find_transitions on its kept checkpoints with the lags of its series (given explicitly), and
    is the search of the same checkpoints left out at the bound; a hand-made trajectory with those
    values nan is read the same way."""
    settings = {"max_breakpoints": 2, "n_bootstrap": 0}
    traj = stat_trajectory(_table("not_finite"), "t_nu", group="attn_out")
    _, runs = detect_transitions(traj, **settings)
    _, bound = detect_transitions(stat_trajectory(_table("at_bound"), "t_nu", group="attn_out"), **settings)
    kept = np.setdiff1d(np.arange(len(STEPS)), GONE)
    for model, run in traj.groupby("model", sort=True):
        x, y = np.log10(run["step"].to_numpy(dtype=float)), run["value"].to_numpy(dtype=float)
        search = find_transitions(x, y, **settings, lags=ar1.gap_lags(kept))
        row = runs.set_index("model").loc[model]
        assert row["error_rho"] == search.rho and row["delta_bic"] == search.delta_bic, model
        assert row["n_transitions"] == search.best.k
        assert search.delta_bic != find_transitions(x, y, **settings).delta_bic  # the gap matters here
    columns = ["model", "n_points", "n_transitions", "delta_bic", "error_rho"]
    pd.testing.assert_frame_equal(runs[columns], bound[columns])
    by_hand = _table("not_finite")
    by_hand = by_hand[by_hand["stat"].notna()][["model", "step", "value"]]  # no attrs: its nan rows
    _, hand = detect_transitions(by_hand, **settings)
    pd.testing.assert_frame_equal(hand[columns], runs[columns])


def test_runs_with_nothing_left_out_between_their_points_are_unchanged():
    """No checkpoint left out, or only the first of a run's series (the shipped skew and kurtosis of
    biases are nan at steps 0 and 1): no lags, and the fits are the bits of a table without records."""
    for table in (_table(None), _table(None).assign(value=lambda t: t["value"].where(
            ~(t["stat"].notna() & t["step"].isin(STEPS[:2])), np.nan))):
        joined = join_stat_and_loss(table, "t_nu", group="attn_out")
        assert all(lags is None for lags in _lags(joined).values())
        expected = _reports(joined)
        traj = stat_trajectory(table, "t_nu", group="attn_out")
        _, runs = detect_transitions(traj, max_breakpoints=2, n_bootstrap=0)
        joined.attrs, traj.attrs = {}, {}
        assert _reports(joined) == expected
        _, plain = detect_transitions(traj, max_breakpoints=2, n_bootstrap=0)
        pd.testing.assert_frame_equal(runs[plain.columns], plain)  # less n_at_bound: no at_bound


def test_the_command_names_the_gapped_runs_and_why(tmp_path):
    """`scalefit trajectory --json`'s gapped_models lists the runs gapped by checkpoints without a
    loss; the notes still say why they were left out, and the text says rho^k across them."""
    path = tmp_path / "checkpoints.csv"
    _table("without_loss").to_csv(path, index=False)
    args = ["trajectory", "--stat", "t_nu", "--group", "attn_out", "--data", str(path)]
    doc = json.loads(CliRunner().invoke(main, args + ["--json"]).stdout)
    assert doc["gapped_models"] == list(MODELS) and doc["correlation"]["gapped_models"] == list(MODELS)
    assert any("have stat 't_nu' and no loss" in n for n in doc["notes"]), doc["notes"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "no loss" in text and ar1.GAP_WORDS in text

"""A second audit of the Python API (scalefit.API), called as a notebook calls it: text where a
number belongs, a choice in another case, a message naming only the command's flag, a result that
json.dumps cannot write. Each case raised from deep inside or said too little; now one InputError
naming the argument, its row or the accepted values."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from scalefit.data import data_path
from scalefit.errors import InputError


@pytest.fixture(scope="module")
def two_runs():
    """The long runs of mini-1 and mini-2: evaluation and weight rows of 48 checkpoints each."""
    from scalefit import read_table
    checkpoints = read_table(data_path("suites", "mini", "checkpoints.parquet"))
    return checkpoints[checkpoints["model"].isin(["mini-1", "mini-2"])
                       & (checkpoints["part"] == "long")]


@pytest.fixture(scope="module")
def evals(two_runs):
    return two_runs[two_runs["metric"].notna()]


# ---- the join of the layers ------------------------------------------------------------------

def test_join_checkpoints_reads_text_steps_and_names_a_bad_one(evals):
    """Steps as text raised pandas' 'merge on int64 and str'; a step 'a' was called a repeated
    measurement. Whole-number text joins as the numbers do; 'a' is named with its row."""
    from scalefit import join_checkpoints
    pd.testing.assert_frame_equal(join_checkpoints(evals.assign(step=evals["step"].astype(str))),
                                  join_checkpoints(evals))
    bad = evals.assign(step=evals["step"].astype(object))
    bad.iloc[3, bad.columns.get_loc("step")] = "a"
    with pytest.raises(InputError, match=r"join: column 'step', row \d+: 'a' is not a step"):
        join_checkpoints(bad)


# ---- trajectories: text where a number belongs -----------------------------------------------

@pytest.fixture(scope="module")
def kurtosis(two_runs):
    from scalefit import stat_trajectory
    return stat_trajectory(two_runs, "excess_kurtosis", group="attn_qkv")


@pytest.mark.parametrize("column", ["warmup_steps", "total_steps", "cooldown_fraction"])
def test_transition_study_names_a_schedule_cell_of_text(kurtosis, column):
    """traj.assign(warmup_steps='a') raised float()'s ValueError from landmarks_for_run (so did
    total_steps and cooldown_fraction)."""
    from scalefit import transition_study
    with pytest.raises(InputError, match=rf"^mini-1: column '{column}', row 1: 'a' is not a "):
        transition_study(kurtosis.assign(**{column: "a"}), n_bootstrap=0)


def _joined():
    """Two runs on one stat-vs-loss curve, as join_stat_and_loss returns them."""
    steps = np.arange(1.0, 13.0)
    rows = [pd.DataFrame({"model": m, "step": steps, "loss": 3.0 + s * steps ** -0.5,
                          "value": 1.0 + 0.5 * (3.0 + s * steps ** -0.5 - 2.0) ** 0.8})
            for m, s in (("a", 2.0), ("b", 2.5))]
    return pd.concat(rows, ignore_index=True)


def test_collapse_report_names_a_statistic_of_text():
    """joined.assign(value='a') raised numpy's 'could not convert string to float' from the fit."""
    from scalefit import collapse_report
    joined = _joined().astype({"value": object})
    joined.loc[14, "value"] = "a"
    with pytest.raises(InputError, match=r"^joined: column 'value', row 15: 'a' is not a number"):
        collapse_report(joined, E=2.0)


"""A second audit of the Python API (scalefit.API), called as a notebook calls it: text where a
number belongs, a choice in another case, a message naming only the command's flag, a result that
json.dumps cannot write. Each case raised from deep inside or said too little; now one InputError
naming the argument, its row or the accepted values."""
from __future__ import annotations

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

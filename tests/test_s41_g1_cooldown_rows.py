"""A WSD cooldown share is read by the one rule (scalefit.schedule.cooldown_fraction) in a suite
spec's [wsd] block too, and a finals table's bad cooldown_fraction is said naming its row."""
from __future__ import annotations

import re
import warnings

import pytest

from scalefit.errors import InputError
from scalefit.trainer.spec import load_spec
from test_schedule_gap import synthetic_suite
from tinyspec import micro_spec


def wsd_spec(tmp_path, frac):
    path = tmp_path / "spec.toml"
    path.write_text(micro_spec(("[wsd]", {"sizes": ["s1"], "tokens": [640, 1280], "cooldown_frac": frac})))
    return path


@pytest.mark.parametrize("frac", [0.0, -0.5, 1.5])  # nan: the spec schema refuses it first
def test_wsd_cooldown_frac_out_of_range_says_the_shared_rule(tmp_path, frac):
    """[wsd] cooldown_frac kept its own (0, 1) check, worded 'give a fraction between 0 and 1, got 0.0'."""
    path = wsd_spec(tmp_path, frac)
    with pytest.raises(InputError, match=re.escape(f"{path}: [wsd] cooldown_frac: '{frac}' is out of "
                                                   "range; expected a fraction in (0, 1]")):
        load_spec(path)


def test_wsd_cooldown_of_the_whole_run_says_why_it_is_refused(tmp_path):
    """1 is in the shared rule (LRSchedule takes it) but a [wsd] branch would start at step 0."""
    path = wsd_spec(tmp_path, 1.0)
    with pytest.raises(InputError, match=re.escape(f"{path}: [wsd] cooldown_frac = 1: a cooldown of the "
                                                   "whole run would branch from the constant run at step 0")):
        load_spec(path)
    assert load_spec(wsd_spec(tmp_path, 0.5)).runs  # a share inside the range is taken


def test_a_finals_row_with_no_cooldown_is_named_by_table_row_and_model():
    """grid_prediction_test passed a row's cooldown_fraction of 0 to LRSchedule, whose message
    ("LRSchedule cooldown_fraction: '0.0' ...") named no table, row or model."""
    from scalefit.scaling.laws.schedule_prediction import grid_prediction_test

    checkpoints, finals = synthetic_suite(wsd_sizes=("s1",))
    two = finals["size"].isin(["s1", "s2"])
    checkpoints, finals = checkpoints[checkpoints["size"].isin(["s1", "s2"])], finals[two].copy()
    bad = finals.index[finals["model"] == "s1-wsd-D532480"][0]
    finals.loc[bad, "cooldown_fraction"] = 0.0
    with warnings.catch_warnings(), pytest.raises(InputError) as caught:
        warnings.simplefilter("ignore")
        grid_prediction_test(checkpoints, finals, parts=("grid", "wsd"))
    assert str(caught.value).startswith(f"finals table: row with index {bad}, model s1-wsd-D532480: "
                                        "LRSchedule cooldown_fraction: '0.0' is out of range"), caught.value

"""warmup-study reads like-with-like transitions (follow-up of 596642f): each row carries, per pick
(first, largest and the new matched: each run's largest slope change of the sign most runs' largest
has), the reasons its runs' picks may be different transitions (``{which}_mismatch``, empty where
alike: transitions.pick_mismatch), whether the slope's interval is the Hartung-Knapp floor's alone
(``{which}_floored``), and a verdict with transitions' caution where the picks are unlike. On the
shipped sv_max/mlp_in family `largest` regressed three rising kinks with one falling one (4.1
[-0.7, 9.0]) and `first` three weak kinks with a strong one, with no word in the table."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from scalefit.cli import main
from scalefit.scaling.trajectories import warmup_study as module
from scalefit.scaling.trajectories.transitions import (MISMATCH_CAUTION, pick_mismatch,
                                                       pick_transition_per_run, transition_study,
                                                       warmup_regression)
from tests.test_s47_matched_picks import LATE, WARMUPS, kinked_run

PICKS = ("first", "largest", "matched")


@pytest.fixture(scope="module")
def mixed_signs():
    """Four warmup variants whose step of change follows warmup one step per step (1000 + warmup):
    three rise there (+0.6) and fall late (-0.3, at LATE in every run); the last only falls there
    (-0.6). 'largest' and 'first' pick the kink on the line in every run, rising in three and
    falling in one; 'matched' takes the rising ones (the last run has none)."""
    rng = np.random.default_rng(3)
    kinks = {w: [(1000.0 + w, 0.6), (LATE, -0.3)] for w in WARMUPS[:-1]}
    kinks[WARMUPS[-1]] = [(1000.0 + WARMUPS[-1], -0.6)]
    family = pd.concat([kinked_run("", w, kinks[w], rng) for w in WARMUPS], ignore_index=True)
    return family, module.study_row(None, "x", "g", traj=family, n_bootstrap=30, seed=1)


@pytest.fixture(scope="module")
def late_fall():
    """test_s47_matched_picks' family: a rising kink at 1000 + warmup in every run, a falling one
    at LATE larger than the rising one in the last run only ('largest' mixes them)."""
    rng = np.random.default_rng(3)
    family = pd.concat([kinked_run("", w, [(1000.0 + w, 0.6), (LATE, -0.9 if w == WARMUPS[-1] else -0.4)],
                                   rng) for w in WARMUPS], ignore_index=True)
    return family, module.study_row(None, "x", "g", traj=family, n_bootstrap=30, seed=1)


def steps_of(row, which) -> list[float]:
    return [np.nan if s == "-" else float(s) for s in row[f"{which}_steps"].split(",")]


def test_matched_pick_recovers_the_planted_slope_where_largest_mixes_signs(late_fall):
    _, row = late_fall
    assert row["runs"] == ",".join(f"w{w}" for w in WARMUPS)
    for which in PICKS:
        for key in ("steps", "weak_kinks", "slope", "lo", "hi", "verdict", "interval", "floored", "mismatch"):
            assert f"{which}_{key}" in row, (which, key)
    # matched: the rising kink of every run, on the planted line (slope 1)
    assert steps_of(row, "matched") == pytest.approx([1000.0 + w for w in WARMUPS], rel=0.1)
    assert row["matched_lo"] <= 1.0 <= row["matched_hi"] and row["matched_lo"] > 0
    assert row["matched_verdict"].startswith("follows warmup")
    assert row["matched_mismatch"] == "" and MISMATCH_CAUTION not in row["matched_verdict"]
    # largest: the last run's falling kink, of the other sign and at another place
    assert steps_of(row, "largest")[-1] == pytest.approx(LATE, rel=0.1)
    assert "both signs (3 rising, 1 falling)" in row["largest_mismatch"]
    assert "different places" in row["largest_mismatch"]
    assert not row["largest_verdict"].startswith("follows")


def test_unlike_picks_carry_the_reasons_and_a_determined_verdict_the_caution(mixed_signs):
    family, row = mixed_signs
    for which in ("first", "largest"):  # the kink on the line, rising in three runs, falling in one
        assert steps_of(row, which) == pytest.approx([1000.0 + w for w in WARMUPS], rel=0.1)
        assert row[f"{which}_mismatch"] == "slope changes of both signs (3 rising, 1 falling)"
        assert row[f"{which}_verdict"].startswith("follows warmup")  # the steps do follow it...
        assert row[f"{which}_verdict"].endswith(MISMATCH_CAUTION)  # ...but are not one transition
    # the reasons are pick_mismatch's on the same picks, not a copy of its words
    found = transition_study(family, n_bootstrap=30, seed=1).transitions
    assert row["first_mismatch"] == "; ".join(pick_mismatch(pick_transition_per_run(found, "first"), found))
    # matched: the three rising kinks, alike; the run with none of that sign is '-'
    assert steps_of(row, "matched")[:3] == pytest.approx([1000.0 + w for w in WARMUPS[:3]], rel=0.1)
    assert np.isnan(steps_of(row, "matched")[3])
    assert row["matched_mismatch"] == "" and not row["matched_verdict"].endswith(MISMATCH_CAUTION)


def test_floored_and_slope_are_the_regressions_over_the_same_picks(late_fall, mixed_signs):
    """``{which}_floored`` is the warmup regression's own flag (extra['interval_floored']) over
    the picks transitions makes of the same runs, a bool beside the same slope."""
    for family, row in (late_fall, mixed_signs):
        found = transition_study(family, n_bootstrap=30, seed=1).transitions
        for which in PICKS:
            fit = warmup_regression(pick_transition_per_run(found, which))
            assert row[f"{which}_slope"] == fit.params["slope"].value
            assert isinstance(row[f"{which}_floored"], bool)
            assert row[f"{which}_floored"] == fit.extra["interval_floored"]


def test_the_table_marks_unlike_and_floored_cells_and_the_notes_say_why(mixed_signs):
    _, row = mixed_signs
    floored = {**row, "matched_floored": True}
    study = pd.DataFrame([floored])
    table = module.markdown(study)
    header, rule, line = table.splitlines()
    assert "slope, matched change" in header and "matched-change steps" in header
    assert header.count("|") == rule.count("|") == line.count("|") == 9
    cells = [c.strip() for c in line.strip("|").split("|")]
    assert cells[2].endswith("(unlike)") and cells[4].endswith("(unlike)")
    assert "(unlike)" not in cells[6] and "(floored)" in cells[6]
    notes = module.pick_notes(study)
    assert any(n.startswith("(floored):") for n in notes)
    unlike = next(n for n in notes if n.startswith("(unlike):"))
    assert "x/g, first: slope changes of both signs (3 rising, 1 falling)" in unlike
    assert "x/g, matched" not in unlike
    # a table written before the matched pick reads as it did
    old = study[[c for c in study.columns if not c.startswith("matched_")
                 and not c.endswith(("_mismatch", "_floored"))]]
    assert "matched" not in module.markdown(old) and "(unlike)" not in module.markdown(old)
    assert module.pick_notes(old) == []


def test_the_command_writes_the_new_columns_and_notes(mixed_signs, tmp_path, monkeypatch):
    _, row = mixed_signs
    study = pd.DataFrame([row])
    monkeypatch.setattr(module, "warmup_study", lambda *args, **kwargs: study.copy())
    data = tmp_path / "weights.csv"
    pd.DataFrame({"model": ["m"], "step": [1], "tensor": ["w"], "group": ["mlp_in"], "layer": [0],
                  "stat": ["t_nu"], "value": [1.0]}).to_csv(data, index=False)
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["warmup-study", "--data", str(data), "--out", str(out)])
    assert result.exit_code == 0, result.output
    written = pd.read_csv(out / "warmup_transitions.csv")
    for which in PICKS:
        assert {f"{which}_floored", f"{which}_mismatch", f"{which}_slope"} <= set(written.columns)
    assert written["largest_mismatch"].iloc[0] == row["largest_mismatch"]
    assert set(written.columns) <= set(module.STUDY_COLUMNS)
    report = (out / "report.md").read_text()
    for text in (report, result.stdout):
        assert "slope, matched change" in text and "(unlike): " in text
        assert "x/g, largest: slope changes of both signs" in text

"""Transitions across runs compare like with like (an audit of the shipped sv_max/mlp_in family):
every run had a weak early kink, a strong rising kink after warmup and a falling one late, and
`--which first` regressed three weak kinks with one run's strong one, `--which largest` three rising
kinks with one run's falling one, each verdict quoted without a word. Now a warning names every
run's pick where they are unlike (weak and strong, both signs, different places), `--which matched`
and `--which N` pick one transition in every run, and a warmup regression whose interval is its
floor's alone says '(floored)'."""
import json

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from scipy import stats

from scalefit.errors import InputError
from scalefit.scaling.trajectories.landmarks import ScheduleLandmarks
from scalefit.scaling.trajectories import transitions
from scalefit.scaling.trajectories.transitions import (TRANSITION_COLUMNS, TransitionStudy, checked_pick,
                                                       pick_transition_per_run, transition_study,
                                                       warmup_regression)
from tests.test_transitions import TOTAL, checkpoint_steps

Z95 = stats.norm.ppf(0.975)
WARMUPS = (100, 200, 400, 800)
LATE = 8000.0  # the falling kink, at the same step in every run: it does not follow warmup


def kinked_run(model, warmup, kinks, rng, noise=0.005):
    """A statistic linear in log10(step) that changes slope by `change` at each (step, change) of
    `kinks`, with its LR column (cosine, `warmup` steps of warmup)."""
    steps = checkpoint_steps(dense_until=warmup)
    x = np.log10(steps)
    value = 1.0 + 0.05 * x
    for step, change in kinks:
        value = value + change * np.maximum(0, x - np.log10(step))
    value = value + rng.normal(0, noise, len(x))
    landmarks = ScheduleLandmarks(warmup, TOTAL)
    lr = np.array([1e-3 * landmarks.lr_fraction(s) for s in steps])
    return pd.DataFrame({"model": f"w{warmup}", "step": steps, "value": value, "lr": lr,
                         "tokens": steps * 1000.0})


@pytest.fixture(scope="module")
def family():
    """Four warmup variants: a rising kink at 1000 + warmup (+0.6: follows warmup one step per
    step) and a falling one at LATE, smaller than the rising one in three runs and larger in the
    last, so 'largest' picks the rising kink in three runs and the falling one in the fourth."""
    rng = np.random.default_rng(3)
    return pd.concat([kinked_run("", w, [(1000.0 + w, 0.6), (LATE, -0.9 if w == WARMUPS[-1] else -0.4)],
                                 rng) for w in WARMUPS], ignore_index=True)


@pytest.fixture(scope="module")
def studies(family):
    return {which: transition_study(family, which=which, n_bootstrap=30, seed=1)
            for which in ("largest", "matched", 1)}


def test_the_planted_kinks_are_found(studies):
    found = studies["largest"].transitions
    assert found.groupby("model").size().tolist() == [2] * len(WARMUPS)
    for w in WARMUPS:
        steps = found[found["model"] == f"w{w}"]["step"].to_numpy()
        assert steps[0] == pytest.approx(1000 + w, rel=0.1)
        assert steps[1] == pytest.approx(LATE, rel=0.1)


def test_largest_mixes_rising_and_falling_kinks_and_says_so_naming_each_pick(studies):
    study = studies["largest"]
    picked = study.picked.set_index("model")
    assert picked.loc[f"w{WARMUPS[-1]}", "slope_change"] < 0 < picked.loc[f"w{WARMUPS[0]}", "slope_change"]
    warning = study.pick_warning
    assert warning.startswith("warning: the transitions picked (--which largest)")
    assert "both signs" in warning and "different places" in warning
    for model, row in picked.iterrows():  # every run's pick, by its step
        assert f"{model} step {row['step']:.0f} (" in warning
    assert warning in study.lines()
    assert study.to_dict()["pick_warning"] == warning
    fit = study.regression
    assert fit.warnings[0] == warning and fit.extra["pick_mismatch"]
    report = "\n".join(study.lines())
    assert report.index("Warmup regression over") < report.index(warning)


@pytest.mark.parametrize("which", ["matched", 1])
def test_matched_and_nth_pick_the_kink_that_follows_warmup_and_recover_its_slope(studies, which):
    study = studies[which]
    picked = study.picked.set_index("model").reindex([f"w{w}" for w in WARMUPS])
    np.testing.assert_allclose(picked["step"], [1000.0 + w for w in WARMUPS], rtol=0.1)
    assert (picked["slope_change"] > 0).all()
    assert study.pick_warning == "" and study.to_dict()["pick_warning"] is None
    assert study.regression.extra["pick_mismatch"] == []
    lo, hi = study.regression.params["slope"].ci95
    assert lo <= 1.0 <= hi and not lo <= 0.0 <= hi
    assert study.regression.value("slope") == pytest.approx(1.0, abs=0.25)
    assert study.to_dict()["which"] == which


def audit_transitions(strong_first_in_last=True):
    """The shipped sv_max/mlp_in family's transitions as the audit found them (steps, slope
    changes, weak flags): a weak early kink, a strong rising one and a strong falling one a run."""
    rows = []
    table = {"W3": [(11, 0.233, True), (132, 1.24, False), (491, -1.16, False)],
             "W11": [(16, 0.29, True), (157, 1.32, False), (487, -1.28, False)],
             "W45": [(40, 0.205, True), (159, 1.24, False), (538, -1.11, False)],
             "W112": [(119, 0.69, not strong_first_in_last), (247, 0.87, False), (593, -1.30, False)]}
    for model, kinks in table.items():
        for i, (step, change, weak) in enumerate(kinks):
            rows.append({"model": model, "index": i + 1, "step": float(step), "slope_change": change,
                         "weak_kink": weak})
    return pd.DataFrame(rows)


def test_first_mixes_weak_and_strong_kinks_and_says_so():
    found = audit_transitions()
    first = pick_transition_per_run(found, "first")
    assert transitions.pick_mismatch(first, found) == ["3 weak and 1 strong kinks mixed"]
    alike = audit_transitions(strong_first_in_last=False)  # W112's first kink weak too
    assert transitions.pick_mismatch(pick_transition_per_run(alike, "first"), alike) == []


def test_matched_picks_the_strong_rising_kink_of_every_run_in_the_audit_family():
    found = audit_transitions()
    matched = pick_transition_per_run(found, "matched").set_index("model")
    assert matched["step"].to_dict() == {"W3": 132.0, "W11": 157.0, "W45": 159.0, "W112": 247.0}
    assert transitions.pick_mismatch(matched.reset_index(), found) == []
    second = pick_transition_per_run(found, 2).set_index("model")
    assert second["step"].to_dict() == matched["step"].to_dict()
    assert len(pick_transition_per_run(found, 4)) == 0  # no run has a 4th


def test_runs_with_different_numbers_of_transitions_are_not_compared_by_place():
    found = audit_transitions()
    found = found[~((found["model"] == "W112") & (found["step"] == 119.0))]  # W112: 2 transitions
    largest = pick_transition_per_run(found, "largest")
    reasons = transitions.pick_mismatch(largest, found)
    assert not any("places" in r for r in reasons)
    assert any("both signs" in r for r in reasons)


@pytest.mark.parametrize("given, expected", [("Matched", "matched"), (" first", "first"), ("2", 2), (3, 3)])
def test_picks_are_read_in_any_case_and_as_a_whole_number(given, expected):
    assert checked_pick(given) == expected


@pytest.mark.parametrize("bad", ["0", 0, -1, "1.5", 1.5, True, "second", ""])
def test_a_bad_pick_is_one_input_error_naming_what_is_accepted(bad):
    with pytest.raises(InputError, match="expected 'largest', 'first', 'matched' or a whole number N >= 1"):
        checked_pick(bad)


def test_the_command_refuses_a_bad_pick_in_one_line_with_status_2():
    from scalefit.cli import main
    result = CliRunner().invoke(main, ["transitions", "--stat", "sv_max", "--group", "mlp_in",
                                       "--which", "0"])
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    assert "'0' is not a pick" in result.output


def picked_on_a_line(scatter):
    """Four runs' transitions about 20 + 1.0 W (plus ``scatter`` steps, alternating), each known
    to +-1.96 se: on the line the mean square is 0, far off it far above the floor."""
    x = np.array([3.0, 11.0, 45.0, 112.0])
    se = np.array([30.0, 20.0, 25.0, 10.0])
    y = 20.0 + x + scatter * np.array([1.0, -1.0, 1.0, -1.0])
    return pd.DataFrame({"model": ["a", "b", "c", "d"], "warmup_end": x, "step": y,
                         "step_ci95_lo": y - Z95 * se, "step_ci95_hi": y + Z95 * se}), x, se


def floor_half_width(x, se, n=4):
    """The slope's 95% half-width at the floor: t * sqrt(floor * [(X'WX)^-1]_11), W = 1 / se^2."""
    design = np.column_stack([np.ones(len(x)), x])
    inverse = np.linalg.inv(design.T @ (design / np.square(se)[:, None]))
    floor = (Z95 / stats.t.ppf(0.975, n - 2)) ** 2
    return stats.t.ppf(0.975, n - 2) * np.sqrt(floor * inverse[1, 1])


def study_of(fit, picked):
    """A TransitionStudy holding only ``fit`` over ``picked``'s runs: what its text says of it."""
    runs = pd.DataFrame({"model": picked["model"], "n_points": 0, "warmup_end": picked["warmup_end"],
                         "schedule_source": "columns"})
    return TransitionStudy(pd.DataFrame(columns=TRANSITION_COLUMNS), runs.iloc[:0], picked,
                           [(list(picked["model"]), fit)], n_bootstrap=0)


@pytest.mark.parametrize("scatter", [0.0, 5.0, 200.0])
def test_the_floored_label_appears_exactly_when_the_floor_binds(scatter):
    picked, x, se = picked_on_a_line(scatter)
    fit = warmup_regression(picked)
    lo, hi = fit.params["slope"].ci95
    at_floor = (hi - lo) / 2 == pytest.approx(floor_half_width(x, se), rel=1e-9)
    binds = fit.extra["hk_mean_square"] < fit.extra["hk_mean_square_floor"]
    assert fit.extra["interval_floored"] == binds == at_floor
    assert binds == (scatter < 100)  # on the line (and near it) the floor binds; far off, not
    text = "\n".join(study_of(fit, picked).lines())
    assert ("(floored)" in text) == binds
    assert ("floored:" in fit.extra["interval"]) == binds
    assert json.loads(json.dumps(fit.to_dict()))["interval_floored"] == binds


def test_ols_without_intervals_is_never_floored():
    picked, _, _ = picked_on_a_line(0.0)
    fit = warmup_regression(picked.drop(columns=["step_ci95_lo", "step_ci95_hi"]))
    assert fit.extra["interval_floored"] is False
    assert "(floored)" not in "\n".join(study_of(fit, picked).lines())

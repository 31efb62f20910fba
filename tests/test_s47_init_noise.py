"""Audit f7 and its review: the init study's verdicts need a test at a stated level under them.

1. A threshold the seeds reach in different shares was read from the shares alone, untested; then
   by Fisher's exact test OR-ed with the steps' test (Fisher's least p at 3 seeds against 3 is 0.1:
   no power on the shipped design; the OR raises the size). Now one test at 5%: Boschloo's exact
   test of equal shares (0 of 3 against 3 of 3: p = 0.031); not rejecting is undetermined.
2. The weight-law verdicts read 'within noise' where the mean change was no larger than the seeds'
   sd (|t| <= 1.73 with 3 seeds, a ~23% test) or than sqrt(24/n), the sampling sd of a fresh
   Gaussian draw, which is no noise of a trained heavy-tailed tensor's change. Now: 'within noise'
   where the 95% t interval of the mean change over seeds holds 0; one seed: no test, the verdict
   labelled descriptive.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from scalefit.scaling.trajectories.init_contrasts import compare, outcome, reach_p
from scalefit.scaling.trajectories.init_shapes import WITHIN_NOISE, shape_table
from scalefit.scaling.trajectories.init_study import init_study

ONE_SEED = "descriptive; one seed: no noise estimate"  # init_shapes.ONE_SEED, the label said
STEPS = np.array([0, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024])


def plateau_curve(t, end):
    """A loss falling from 8.0 towards ``end``."""
    return end + (8.0 - end) * (1 + t / 10.0) ** -2.0


def loss_table(offsets: dict, weights: bool = True) -> pd.DataFrame:
    """Init-study rows of size s: init -> each seed's final-loss offset from 5.0 (every seed of
    every init follows one law; only its plateau differs); with ``weights``, an mlp_in excess
    kurtosis at the first and the last step."""
    rows = []
    for init, seeds in offsets.items():
        for seed, offset in enumerate(seeds, start=1):
            model = f"s-init-{init}-s{seed}"
            facts = {"model": model, "init": init, "init_seed": seed, "warmup_steps": 11, "size": "s"}
            for step in STEPS:
                rows.append({**facts, "step": int(step), "dataset": "val", "metric": "loss",
                             "value": plateau_curve(float(step), 5.0 + offset), "is_train": True})
            if weights:
                rows += [{**facts, **row} for step in (STEPS[0], STEPS[-1])
                         for row in kurtosis_rows(model, int(step), 0.1 * seed)]
    return pd.DataFrame(rows)


def row_of(frame, init, measure):
    return frame[(frame["init"] == init) & (frame["measure"] == measure)].iloc[0]


def test_reach_shares_that_differ_by_chance_give_no_verdict():
    """One law for both inits; the threshold at the plateau they share, so whether a seed gets
    there is a coin flip: 2 of 3 of one init against 1 of 3 of the other. It read 'faster'."""
    study = init_study(loss_table({"pythia": [-0.02, 0.01, 0.03], "empirical": [-0.03, -0.01, 0.03]}),
                       thresholds=[5.0])
    c = row_of(study.contrasts, "empirical", "steps_to_1")
    assert (c["n_reached"], c["n"]) == (2, 3)
    assert c["outcome"] == "undetermined"  # was 'faster'
    assert (c["n_control_reached"], c["n_control"]) == (1, 3)
    expected = stats.boschloo_exact([[2, 1], [1, 2]]).pvalue
    assert c["p_reach"] == expected and c["p_reach"] > 0.05
    line = next(s for s in study.sentences if s.startswith("early: empirical"))
    assert ("2 of 3 empirical seeds got there against 1 of 3 pythia: p-value of Boschloo's exact test of "
            f"equal shares {expected:.2g}") in line
    assert "-> undetermined (the shares of seeds that got there differ, but not detectably" in line
    summary = next(s for s in study.sentences if s.startswith("early, with warmup"))
    assert "no outcome can be read for empirical (the shares of seeds that got there differ" in summary
    assert "support" not in summary


def test_reach_shares_that_differ_by_a_lot_give_the_verdict_both_ways():
    """Six seeds a side: every seed of one init gets below the threshold, none of the other's."""
    below, above = [-0.05] * 6, [0.05] * 6
    faster = init_study(loss_table({"pythia": above, "empirical": below}), thresholds=[5.0])
    c = row_of(faster.contrasts, "empirical", "steps_to_1")
    assert c["n_reached"] == 6 and c["outcome"] == "faster"
    assert c["n_control_reached"] == 0 and c["p_reach"] < 0.05
    slower = init_study(loss_table({"pythia": below, "empirical": above}), thresholds=[5.0])
    assert row_of(slower.contrasts, "empirical", "steps_to_1")["outcome"] == "slower"
    # the shape contrasts use the same rule: gauss-matched as the control
    shape = init_study(loss_table({"pythia": below, "gauss-matched": above, "permuted": below}),
                       thresholds=[5.0]).shape_contrasts
    assert row_of(shape, "permuted", "steps_to_1")["outcome"] == "faster"


def test_a_chance_share_is_not_rescued_by_the_steps_test():
    """The rule OR-ed the shares' test with the steps' test of the seeds that got there (its size up
    to ~10%); now the shares' test alone decides where the shares differ."""
    assert reach_p((2, 3), (3, 3)) > 0.05 and reach_p((6, 6), (0, 6)) < 0.05
    later = {"p": 0.001, "diff": 40.0}
    sooner = {"p": 0.001, "diff": -40.0}
    assert outcome("steps_to_1", later, (2, 3), (3, 3)) == "undetermined"  # was 'slower'
    assert outcome("steps_to_1", sooner, (3, 3), (2, 3)) == "undetermined"  # was 'faster'
    assert outcome("steps_to_1", {"p": 0.6, "diff": 12.1}, (2, 3), (1, 3)) == "undetermined"
    assert outcome("steps_to_1", {"p": 0.6, "diff": 12.1}, (3, 3), (3, 3)) == "same"  # all there: as before
    assert outcome("steps_to_1", sooner, (3, 3), (3, 3)) == "faster"


def test_the_reach_shares_have_power_on_three_seeds_a_side():
    """0 of 3 against 3 of 3: Fisher's exact p = 0.1 could never reject with three seeds a side;
    Boschloo's exact test gives 1/32, read both ways."""
    assert reach_p((0, 3), (3, 3)) == pytest.approx(1 / 32)
    untested = {"p": np.nan, "diff": np.nan}
    assert outcome("steps_to_1", untested, (0, 3), (3, 3)) == "slower"  # was 'undetermined'
    assert outcome("steps_to_1", untested, (3, 3), (0, 3)) == "faster"
    assert outcome("steps_to_1", untested, (1, 3), (3, 3)) == "undetermined"  # p = 0.16


def null_designs(n, q, reps, rng):
    """`reps` simulated contrasts under the null: both sides' n seeds reach the threshold with
    probability q, at steps drawn from one law; the rule's outcome of each."""
    out = []
    for _ in range(reps):
        a, b = (np.where(rng.random(n) < q, rng.lognormal(5.0, 0.3, n), np.nan) for _ in range(2))
        reached = (int(np.isfinite(a).sum()), n)
        control = (int(np.isfinite(b).sum()), n)
        out.append(outcome("steps_to_1", compare(a, b), reached, control))
    return np.array(out)


@pytest.mark.parametrize("n", [3, 6])
def test_the_reach_rule_holds_its_level_under_the_null(n):
    """Size: with equal reach probabilities and one law of steps, the whole rule (shares' test where
    the shares differ, the steps' Welch test where they are equal) reads faster or slower in at
    most ~5% of designs, whatever the reach probability (0.5 and 0.8 simulated; 400 designs each,
    the bound 5% plus 2.5 binomial sd)."""
    rng = np.random.default_rng(7 + n)
    for q in (0.5, 0.8):
        said = null_designs(n, q, 400, rng)
        rate = np.isin(said, ("faster", "slower")).mean()
        assert rate <= 0.05 + 2.5 * np.sqrt(0.05 * 0.95 / 400), (n, q, rate)


def test_the_reach_rule_finds_a_clear_difference():
    """Power: one side's seeds reach the threshold with probability 0.95, the other's with 0.05:
    with six seeds a side nearly every design reads the difference, the right way."""
    rng = np.random.default_rng(3)
    said = []
    for _ in range(200):
        a = np.where(rng.random(6) < 0.05, rng.lognormal(5.0, 0.3, 6), np.nan)
        b = np.where(rng.random(6) < 0.95, rng.lognormal(5.0, 0.3, 6), np.nan)
        said.append(outcome("steps_to_1", compare(a, b), (int(np.isfinite(a).sum()), 6),
                            (int(np.isfinite(b).sum()), 6)))
    said = np.array(said)
    assert (said == "slower").mean() > 0.9 and not (said == "faster").any()


def kurtosis_rows(model, step, values, group="mlp_in", n_weights=None):
    """A group's pooled weight rows: excess kurtosis, and frobenius and rms for n_weights weights."""
    rows = [{"model": model, "step": step, "tensor": "*", "group": group, "layer": -1,
             "stat": "excess_kurtosis", "value": values}]
    if n_weights:
        rms = 0.02
        rows += [{"model": model, "step": step, "tensor": "*", "group": group, "layer": -1, "stat": "rms",
                  "value": rms},
                 {"model": model, "step": step, "tensor": "*", "group": group, "layer": -1,
                  "stat": "frobenius", "value": rms * np.sqrt(n_weights)}]
    return rows


def seeded_laws(changes: dict, start=3.0, seed_sd=0.05, n_seeds=3, rng_seed=0):
    """Weight rows of many conditions (init -> the law's true change of excess kurtosis), each
    seed's start drawn around ``start`` and its change around the true one with sd ``seed_sd``;
    pythia starts Gaussian and ends at 1.0."""
    rng = np.random.default_rng(rng_seed)
    rows, conditions = [], []
    for init, change in {"pythia": None, **changes}.items():
        for seed in range(n_seeds):
            model = f"{init}-s{seed}"
            conditions.append({"model": model, "size": "s", "init": init, "warmup": "warmup"})
            if init == "pythia":
                s, e = rng.normal(0, 0.01), 1.0 + rng.normal(0, 0.01)
            else:
                s = start + rng.normal(0, 0.3)  # the starts spread more than the changes
                e = s + change + rng.normal(0, seed_sd)
            rows += kurtosis_rows(model, 0, s) + kurtosis_rows(model, 1000, e)
    return pd.DataFrame(rows), pd.DataFrame(conditions)


def test_within_noise_is_a_t_test_at_five_percent():
    """400 simulated conditions whose law does not move (each seed's change: noise of sd 0.05) and
    200 whose law moves by 0.5 (10x that noise). The floor 'mean change <= the seeds' sd' read
    'within noise' for ~77% of the first (|t_2| <= sqrt 3: a ~23% test); the 95% t interval of the
    mean change holds 0 for ~95% of them. None of the second is within noise."""
    still = {f"still{i}": 0.0 for i in range(400)}
    moved = {f"moved{i}": 0.5 for i in range(200)}
    table, conditions = seeded_laws({**still, **moved})
    shapes = shape_table(table, conditions).set_index("init")
    noise_read = shapes["verdict"] == WITHIN_NOISE
    assert 0.92 < noise_read[list(still)].mean() < 0.98  # 95%, 400 draws: sd 1.1%
    assert not noise_read[list(moved)].any()
    assert (shapes.loc[list(moved), "verdict"] == "keeps its shape").all()
    # the interval is the mean change's: the seeds' own changes (their starts spread 6x as much)
    still_rows = shapes.loc[list(still)]
    assert (still_rows["n_seeds"] == 3).all() and still_rows["seed_sd"].median() < 0.1
    half = stats.t.ppf(0.975, 2) * still_rows["seed_sd"] / np.sqrt(3)
    assert np.allclose(still_rows["change_hi"] - still_rows["change_lo"], 2 * half)
    assert np.allclose((still_rows["change_hi"] + still_rows["change_lo"]) / 2, still_rows["change"])


def test_a_change_all_seeds_agree_on_is_not_hidden_by_a_gaussian_sampling_sd():
    """mini-4's empirical mlp_in: every seed falls (about -0.01, seed sd ~0.002) but sqrt(24/n) for
    its n = 100,000 weights, 0.015, made it 'within noise'. The t interval of the mean change
    excludes 0, so the verdict stands."""
    rows, conditions = [], []
    for seed, change in enumerate((-0.008, -0.010, -0.012)):
        model = f"e-s{seed}"
        conditions.append({"model": model, "size": "s", "init": "empirical", "warmup": "warmup"})
        rows += kurtosis_rows(model, 0, 0.5, n_weights=100_000) + \
            kurtosis_rows(model, 1000, 0.5 + change, n_weights=100_000)
    shapes = shape_table(pd.DataFrame(rows), pd.DataFrame(conditions)).set_index("init")
    row = shapes.loc["empirical"]
    assert row["verdict"] == "keeps its shape"  # was 'within noise'
    assert row["change_hi"] < 0 and row["change"] == pytest.approx(-0.010)


def test_one_run_has_no_noise_estimate():
    """One seed: no spread over seeds, so no test; the sampling sd of a fresh Gaussian draw is not
    the noise of a trained tensor's change. The verdict is kept as a description, labelled."""
    rng = np.random.default_rng(1)
    n = 4096
    start = rng.standard_normal(n)
    nudged = start + 0.05 * rng.standard_normal(n)  # the same weights, hardly trained
    tailed = rng.standard_t(5, n)  # a heavy-tailed law: excess kurtosis 6
    rows = []
    for model, end in (("still", nudged), ("tailed", tailed)):
        for step, w in ((0, start), (1000, end)):
            rows += kurtosis_rows(model, step, float(stats.kurtosis(w)), n_weights=n)
    conditions = pd.DataFrame({"model": ["still", "tailed"], "size": "s", "init": ["still", "tailed"],
                               "warmup": "warmup"})
    shapes = shape_table(pd.DataFrame(rows), conditions).set_index("init")
    assert shapes.loc["still", "verdict"].endswith(f" ({ONE_SEED})")  # was 'within noise'
    assert WITHIN_NOISE not in shapes["verdict"].tolist()
    assert shapes.loc["tailed", "verdict"] == f"leaves the Gaussian ({ONE_SEED})"
    assert np.isnan(shapes.loc["still", "seed_sd"]) and shapes.loc["still", "n_seeds"] == 1
    assert np.isnan(shapes.loc["still", "change_lo"]) and np.isfinite(shapes.loc["still", "change"])


def test_a_table_of_losses_alone_has_no_weight_laws():
    """No weight rows (no stat column): the study ran into a KeyError; it has no weight laws."""
    study = init_study(loss_table({"pythia": [-0.1, -0.09, -0.11], "empirical": [0.0, 0.01, -0.01]},
                                  weights=False))
    assert study.shapes.empty and not any(s.startswith("## Weight laws") for s in study.sentences)


def test_the_weight_sentences_show_the_interval_and_the_rule():
    """The text gives each group's mean change and its 95% t interval beside its verdict, and says
    what the rule is (a t test at the 5% level)."""
    table = loss_table({"pythia": [-0.1, -0.09, -0.11], "empirical": [0.0, 0.01, -0.01]}, weights=False)
    weights, _ = seeded_laws({"empirical": 0.0})
    weights["model"] = weights["model"].str.replace(r"^(\w+)-s(\d)$",
                                                    lambda m: f"s-init-{m[1]}-s{int(m[2]) + 1}", regex=True)
    weights["step"] = weights["step"].replace({1000: int(STEPS[-1])})
    study = init_study(pd.concat([table, weights], ignore_index=True))
    heading = next(s for s in study.sentences if s.startswith("## Weight laws"))
    assert "95% t interval" in heading and "a two-sided t test at the 5% level" in heading
    assert "sqrt(24/n)" not in heading
    line = next(s for s in study.sentences if s.startswith("weights, s empirical warmup"))
    r = study.shapes.set_index("init").loc["empirical"]
    assert f"(change {r['change']:+.2g} [{r['change_lo']:.2g}, {r['change_hi']:.2g}]; " in line

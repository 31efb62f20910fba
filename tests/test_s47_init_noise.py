"""Audit f7: the init study's verdicts had no test or noise floor under them.

1. A threshold the seeds reach in different shares was read 'faster' or 'slower' from the shares
   alone, untested: the shipped permuted vs gauss-matched steps_to_3 (2 of 3 seeds there against
   1 of 3, Fisher's exact p = 1, the steps of those there p = 0.86) read 'faster'. The shares are
   now tested (Fisher's exact, two-sided); a share that differs by chance gives no verdict.
2. The weight-law verdicts read changes smaller than the seeds' spread: pythia's mlp_in excess
   kurtosis -0.00609 -> -0.00387 'keeps its shape' with warmup, -> -0.00114 'drifts back toward
   Gaussian' without, while its seeds' values spread by 0.034. A change no larger than its noise
   (the seeds' sd of their change, or the statistic's sampling sd sqrt(24/n) for n weights) now
   reads 'within noise', and the table and text show that spread.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from scalefit.scaling.trajectories.init_contrasts import outcome, reach_p
from scalefit.scaling.trajectories.init_shapes import WITHIN_NOISE, shape_table
from scalefit.scaling.trajectories.init_study import init_study

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
    expected = stats.fisher_exact([[2, 1], [1, 2]]).pvalue
    assert c["p_reach"] == expected and c["p_reach"] > 0.05
    line = next(s for s in study.sentences if s.startswith("early: empirical"))
    assert "2 of 3 empirical seeds got there against 1 of 3 pythia: Fisher's exact p = 1" in line
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


def test_a_chance_share_keeps_a_steps_verdict_only_where_it_points_the_same_way():
    """Shares 2 of 3 against 3 of 3 (Fisher's p = 1): the steps of the seeds that got there decide
    where they differ significantly in the direction of the shares (the seed that never got there
    would only widen the gap), and not against it."""
    assert reach_p((2, 3), (3, 3)) > 0.05 and reach_p((6, 6), (0, 6)) < 0.05
    later = {"p": 0.001, "diff": 40.0}
    sooner = {"p": 0.001, "diff": -40.0}
    assert outcome("steps_to_1", later, (2, 3), (3, 3)) == "slower"
    assert outcome("steps_to_1", sooner, (2, 3), (3, 3)) == "undetermined"
    assert outcome("steps_to_1", sooner, (3, 3), (2, 3)) == "faster"
    assert outcome("steps_to_1", {"p": 0.6, "diff": 12.1}, (2, 3), (1, 3)) == "undetermined"  # was 'faster'
    assert outcome("steps_to_1", {"p": 0.6, "diff": 12.1}, (3, 3), (3, 3)) == "same"  # all there: as before


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


def test_a_change_below_the_seeds_noise_reads_within_noise():
    """200 simulated conditions whose law does not move (each seed's change: noise of sd 0.05)
    and 200 whose law moves by 0.5 (10x that noise): most of the first read 'within noise', none
    of the second, which keep their verdict ('keeps its shape': 3 -> 3.5 with pythia at 1)."""
    still = {f"still{i}": 0.0 for i in range(200)}
    moved = {f"moved{i}": 0.5 for i in range(200)}
    table, conditions = seeded_laws({**still, **moved})
    shapes = shape_table(table, conditions).set_index("init")
    noise_read = shapes["verdict"] == WITHIN_NOISE
    assert noise_read[list(still)].mean() > 0.6  # |mean of 3| <= their sd: P(|t_2| <= sqrt 3) = 0.77
    assert not noise_read[list(moved)].any()
    assert (shapes.loc[list(moved), "verdict"] == "keeps its shape").all()
    # the noise shown is the seeds' sd of their own change (their starts spread 6x as much)
    assert shapes.loc[list(still), "seed_sd"].median() < 0.1
    assert (shapes.loc[list(still), "n_seeds"] == 3).all()


def test_one_run_is_held_to_the_sampling_sd_of_its_weights():
    """One seed: no spread over seeds, so the floor is the statistic's sampling sd for the
    group's n Gaussian weights, sqrt(24/n) for excess kurtosis (n from frobenius and rms)."""
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
    assert np.allclose(shapes["n_weights"], n)
    assert np.allclose(shapes["sampling_sd"], np.sqrt(24 / n))
    assert shapes.loc["still", "verdict"] == WITHIN_NOISE
    assert shapes.loc["tailed", "verdict"] == "leaves the Gaussian"
    assert np.isnan(shapes.loc["still", "seed_sd"]) and shapes.loc["still", "n_seeds"] == 1


def test_a_table_of_losses_alone_has_no_weight_laws():
    """No weight rows (no stat column): the study ran into a KeyError; it has no weight laws."""
    study = init_study(loss_table({"pythia": [-0.1, -0.09, -0.11], "empirical": [0.0, 0.01, -0.01]},
                                  weights=False))
    assert study.shapes.empty and not any(s.startswith("## Weight laws") for s in study.sentences)


def test_the_weight_sentences_show_the_spread():
    """The text gives each group's noise beside its verdict, and says what the floor is."""
    table = loss_table({"pythia": [-0.1, -0.09, -0.11], "empirical": [0.0, 0.01, -0.01]}, weights=False)
    weights, _ = seeded_laws({"empirical": 0.0})
    weights["model"] = weights["model"].str.replace(r"^(\w+)-s(\d)$",
                                                    lambda m: f"s-init-{m[1]}-s{int(m[2]) + 1}", regex=True)
    weights["step"] = weights["step"].replace({1000: int(STEPS[-1])})
    study = init_study(pd.concat([table, weights], ignore_index=True))
    heading = next(s for s in study.sentences if s.startswith("## Weight laws"))
    assert "a change no larger than the larger of the two reads 'within noise'" in heading
    line = next(s for s in study.sentences if s.startswith("weights, s empirical warmup"))
    sd = study.shapes.set_index("init").loc["empirical", "seed_sd"]
    assert f"(seed sd {sd:.2g}; " in line

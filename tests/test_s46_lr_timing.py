"""The schedule laws count the LR of the updates that made each checkpoint.

scalefit's trainer (trainer/train.py), like GPT-NeoX and so Pythia, runs the update that takes the
model from step s to s + 1 at lr_at_step(schedule, s) and logs that LR at step s: the checkpoint
at step t was made by updates at lr_at_step(0) .. lr_at_step(t - 1). Tissue et al.'s S1 and S2
and Luo et al.'s LD sum over those updates. The sums here are written from a loop that runs the
trainer's timing, not from schedule_areas; the old areas counted lr_at_step(1) .. lr_at_step(t)
(the LR of the update after checkpoint t, never the first one's).
"""
from __future__ import annotations

import numpy as np
import pytest

from scalefit.errors import InputError
from scalefit.schedule import LRSchedule, lr_at_step
from scalefit.scaling.laws import schedule_areas as areas
from scalefit.scaling.laws.curve_fit import fit_curves, predict_curve
from scalefit.scaling.laws.curves import curves_from_schedules, curves_from_table

SHORT = LRSchedule(peak=1.0, warmup_steps=2, decay_steps=6, final_ratio=0.1)


def trainer_updates(schedule: LRSchedule, steps: int) -> list[float]:
    """The LR each update ran at, in the trainer's loop: update s (step s -> s + 1) at
    lr_at_step(schedule, s)."""
    return [float(lr_at_step(schedule, step)) for step in range(steps)]


def hand_areas(updates, t, lam, C=1.0, beta=1.0, gamma=0.0, with_ld=True):
    """S1, S2 and LD/B at checkpoint t from the LRs u_1..u_t of the t updates that made it
    (Tissue et al. eq. 1 and 4, Luo et al. eq. 6-7, in the papers' indexing): falls count
    once the LR is past its peak."""
    u = [None] + list(updates[:t])  # u[i]: the i-th update's LR
    peak_update = 1 + int(np.argmax(updates))  # the first update at the peak
    falls = [0.0] * (t + 1)
    for i in range(2, t + 1):
        if i - 1 >= peak_update:
            falls[i] = u[i - 1] - u[i]
    s1 = sum(u[1:])
    m = s2 = 0.0
    for i in range(1, t + 1):
        m = lam * m + falls[i]
        s2 += m
    ld = 0.0
    for k in range(2, t + 1 if with_ld else 0):
        if falls[k] > 0:
            x = max(u[k], areas.ETA_FLOOR) ** -gamma * sum(u[k:t + 1])
            ld += falls[k] * (1 - (C * x + 1) ** -beta)
    return s1, s2, ld


def test_s1_at_each_checkpoint_is_the_sum_of_the_lrs_its_updates_ran_at():
    eta = lr_at_step(SHORT, np.arange(9))  # the lr column the trainer logs at steps 0..8
    updates = trainer_updates(SHORT, 8)
    s1 = areas.forward_area(eta)
    for t in range(9):
        assert s1[t] == pytest.approx(sum(updates[:t]), abs=1e-15), t
    # the first update ran at LR 0 (warmup from 0): step 1 is no further along than step 0
    assert s1[1] == 0.0 and s1[2] == pytest.approx(0.0 + 0.5)
    # by hand: updates at 0, 0.5, 1 (the peak), then the cosine
    assert s1[3] == pytest.approx(1.5)
    assert areas.first_trained_step(eta) == 2
    assert areas.first_trained_step(lr_at_step(LRSchedule(peak=1.0, decay_steps=6), np.arange(9))) == 1


@pytest.mark.parametrize("lam", [0.0, 0.5, 0.999])
def test_s2_and_loss_drop_count_the_falls_of_the_updates_made(lam):
    eta = lr_at_step(SHORT, np.arange(9))
    updates = trainer_updates(SHORT, 8)
    s2 = areas.annealing_area(eta, lam=lam)
    for gamma in (0.0, 0.7):
        ld = areas.loss_drop(eta, np.arange(9), C=1.3, beta=0.8, gamma=gamma)
        for t in range(9):
            _, hand_s2, hand_ld = hand_areas(updates, t, lam, C=1.3, beta=0.8, gamma=gamma)
            assert s2[t] == pytest.approx(hand_s2, abs=1e-14), t
            assert ld[t] == pytest.approx(hand_ld, abs=1e-14), (t, gamma)
    # the first fall (update 3 at the peak, update 4 below it) counts from step 4 on
    assert s2[3] == 0.0 and s2[4] > 0.0
    ld = areas.loss_drop(eta, [3, 4], C=1.0, beta=1.0, gamma=0.0)
    assert ld[0] == 0.0 and ld[1] > 0.0


T = 1000
PEAK = 3e-3
COSINE = LRSchedule(peak=PEAK, warmup_steps=20, decay_steps=T, final_ratio=0.1)
WSD = LRSchedule(peak=PEAK, warmup_steps=20, decay_steps=T, final_ratio=0.0, style="wsd",
                 cooldown_fraction=0.2)
TRUTH = dict(L0=3.0, A=2.0, alpha=0.5, C=5e-4)


def trainer_curve(schedule, steps, truth, lam=areas.TISSUE_LAMBDA):
    """Tissue et al.'s L = L0 + A S1^-alpha - C S2 at ``steps`` of a run trained with the
    trainer's timing (areas from the updates' LRs, by hand)."""
    updates = trainer_updates(schedule, int(max(steps)))
    out = []
    for t in steps:
        s1, s2, _ = hand_areas(updates, int(t), lam, with_ld=False)
        out.append(truth["L0"] + truth["A"] * (s1 / PEAK) ** -truth["alpha"] - truth["C"] * s2 / PEAK)
    return np.array(out)


def test_a_momentum_fit_recovers_a_curve_trained_with_the_trainers_timing():
    """Fitted from twice the warmup's end (the default first step), where one update's LR is
    several percent of S1: the one-step shift biased every parameter."""
    steps = np.unique(np.r_[np.arange(40, 100, 4), np.geomspace(100, T, 25).astype(int)])
    schedules = {"cosine": COSINE, "wsd": WSD}
    loss = {name: trainer_curve(s, steps, TRUTH) for name, s in schedules.items()}
    curves = curves_from_schedules(schedules, {n: steps for n in schedules}, loss=loss, lr_scale=PEAK)
    fit = fit_curves(curves, "momentum", n_bootstrap=0)
    assert fit.converged
    for name, value in TRUTH.items():  # noise-free: the truth, to the optimizer's tolerance
        assert fit.value(name) == pytest.approx(value, rel=1e-6), name  # the shift: A +6%, alpha +3%
    # the first steps of an unseen schedule, predicted from the fit
    unseen = LRSchedule(peak=PEAK, warmup_steps=20, decay_steps=600, final_ratio=0.0, style="linear")
    early = np.arange(40, 81, 5)
    pred = predict_curve(fit, unseen, early, measured=trainer_curve(unseen, early, TRUTH))
    assert pred.max_abs_rel_error < 1e-8  # the shifted areas' fit: 1e-4


def test_step_1_after_a_warmup_from_0_is_not_fitted_or_predicted():
    """Its one update ran at LR 0 (S1 = 0): the law's A S1^-alpha has no value there."""
    steps = np.arange(0, 61)
    eta = lr_at_step(COSINE, steps)
    import pandas as pd

    rows = pd.DataFrame({"model": "run", "step": steps, "lr": eta,
                         "loss": 3.0 + 2.0 * np.maximum(areas.forward_area(eta) / PEAK, 1e-3) ** -0.5})
    curves = curves_from_table(rows, min_step=0)
    assert curves.step.min() == 2  # step 0 and step 1 hold no update at an LR above 0
    fit = fit_curves(curves_from_table(rows), "momentum", n_bootstrap=0)
    with pytest.raises(InputError, match="step 1"):
        predict_curve(fit, COSINE, [1, 10])
    assert predict_curve(fit, LRSchedule(peak=PEAK, decay_steps=T), [1, 10]).points["predicted"].size == 2


def test_predict_curve_of_a_measured_run_reads_its_step_0_lr(tmp_path):
    """`predict curve --measured RUN` built RUN's schedule from its checkpoints after step 0 only,
    so the first update's LR (0 after a warmup from 0) was read as step 1's: every S1 too large."""
    import json

    import pandas as pd
    from click.testing import CliRunner

    from scalefit.cli import main

    steps = np.arange(0, 301)  # a checkpoint every step: the lr column is the whole schedule
    runs = {"fitted": LRSchedule(peak=PEAK, warmup_steps=10, decay_steps=300, final_ratio=0.1),
            "measured": LRSchedule(peak=PEAK, warmup_steps=10, decay_steps=300, final_ratio=0.0,
                                   style="wsd", cooldown_fraction=0.3)}
    rows = [pd.DataFrame({"model": name, "step": steps, "lr": lr_at_step(s, steps),
                          "loss": np.r_[10.0, 10.0, trainer_curve(s, steps[2:], TRUTH)]})
            for name, s in runs.items()]
    path = tmp_path / "curves.csv"
    pd.concat(rows).to_csv(path, index=False)
    result = CliRunner().invoke(main, ["predict", "curve", "--data", str(path), "--model", "fitted",
                                       "--measured", "measured", "--bootstrap", "0", "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    points = pd.DataFrame(out["points"])
    assert points["step"].min() == 2  # step 1: its one update ran at LR 0, no prediction
    assert out["max_abs_rel_error"] < 1e-6  # noise-free: the law itself, to the fit's tolerance

"""The one LR schedule: GPT-NeoX's AnnealingLR step by step, and Pythia's published schedule."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from scalefit.errors import InputError
from scalefit.schedule import STYLES, LRSchedule, lr_at_step

PYTHIA_WARMUP, PYTHIA_STEPS = 1430, 143000  # 1% of 143000 steps; cosine to 0.1 x peak at 143000


def neox_get_lr(n, peak, warmup, total, min_lr, style, v1=False):
    """AnnealingLR.get_lr of EleutherAI/gpt-neox megatron/learning_rates.py, written out per step:
    since PR #1008/#1011 (Aug 2023) when v1 is False, as in v1.0 (which trained Pythia) when True."""
    count = min(n, total - warmup) if v1 else n
    if warmup > 0 and n <= warmup:
        return peak * count / warmup
    count -= warmup
    if style == "cosine" and v1:
        lr = peak / 2.0 * (math.cos(math.pi * count / total) + 1)
    elif style == "cosine":
        lr = min_lr + (peak - min_lr) / 2.0 * (math.cos(math.pi * count / (total - warmup)) + 1)
    elif style == "linear":
        lr = peak * (total - warmup - count) / (total - warmup)
    else:
        lr = peak
    return max(lr, min_lr)


@pytest.mark.parametrize("style, v1", [("cosine", False), ("linear", False), ("constant", False),
                                       ("cosine", True)])
@pytest.mark.parametrize("warmup, total, ratio", [(10, 40, 0.1), (24, 2400, 0.1), (3, 1120, 0.1),
                                                  (7, 100, 0.0), (0, 50, 0.1)])
def test_every_step_is_neox_annealing_lr(style, v1, warmup, total, ratio):
    schedule = LRSchedule(peak=3e-3, warmup_steps=warmup, decay_steps=total, final_ratio=ratio,
                          style="cosine_neox_v1" if v1 else style)
    steps = np.arange(0, total + 1)
    expected = [neox_get_lr(int(n), 3e-3, warmup, total, ratio * 3e-3, style, v1) for n in steps]
    np.testing.assert_allclose(lr_at_step(schedule, steps), expected, rtol=1e-12, atol=1e-18)
    assert lr_at_step(schedule, 7) == pytest.approx(expected[7], rel=1e-12)  # a scalar in, a float out
    assert isinstance(lr_at_step(schedule, 7), float)


def test_warmup_convention_and_floor():
    s = LRSchedule(peak=1.0, warmup_steps=10, decay_steps=110)
    assert lr_at_step(s, 0) == 0.0  # num_iters = 0: GPT-NeoX's first update runs at LR 0
    assert lr_at_step(s, 1) == pytest.approx(0.1) and lr_at_step(s, 10) == 1.0  # peak * n / warmup
    assert lr_at_step(s, 11) < 1.0  # the peak is held for one step only
    assert lr_at_step(s, 110) == pytest.approx(0.1) and lr_at_step(s, 500) == pytest.approx(0.1)
    with pytest.raises(InputError, match="cosine_neox_v1"):
        lr_at_step(LRSchedule(peak=1.0, style="step"), 1)
    assert set(STYLES) == {"cosine", "linear", "constant", "cosine_neox_v1", "wsd"}


def test_pythia_shape_without_anchors():
    s = LRSchedule(peak=1.0, warmup_steps=PYTHIA_WARMUP, decay_steps=PYTHIA_STEPS)
    assert lr_at_step(s, 0) == 0.0 and lr_at_step(s, 715) == pytest.approx(0.5)
    assert lr_at_step(s, PYTHIA_WARMUP) == 1.0 and lr_at_step(s, PYTHIA_STEPS) == pytest.approx(0.1)
    assert lr_at_step(s, (PYTHIA_WARMUP + PYTHIA_STEPS) / 2) == pytest.approx(0.55)  # cosine midpoint


def pythia_schedules(anchors):
    configs = pd.read_csv(anchors / "pythia" / "pythia_configs.csv")
    for row in configs.itertuples(index=False):
        assert row.lr_decay_style == "cosine" and row.train_iters == row.lr_decay_iters == PYTHIA_STEPS
        assert row.warmup_steps == round(row.warmup_frac * row.train_iters) == PYTHIA_WARMUP
        assert row.min_lr == pytest.approx(0.1 * row.lr_max_yml)
        yield row, LRSchedule(peak=row.lr_max_yml, warmup_steps=int(row.warmup_steps),
                              decay_steps=int(row.lr_decay_iters), final_ratio=row.min_lr / row.lr_max_yml)


def test_pythia_published_schedule(anchors):
    """Each Pythia size's yml (peak, min_lr, warmup 1%, cosine to 143000) through the schedule."""
    steps = np.arange(0, PYTHIA_STEPS + 1)
    for row, s in pythia_schedules(anchors):
        peak, lr = row.lr_max_yml, lr_at_step(s, steps)
        assert lr[0] == 0.0 and lr[PYTHIA_WARMUP // 2] == pytest.approx(peak / 2, rel=1e-3)
        assert lr[PYTHIA_WARMUP] == pytest.approx(peak) and lr[PYTHIA_STEPS] == pytest.approx(row.min_lr)
        mid = (PYTHIA_WARMUP + PYTHIA_STEPS) // 2  # half-way through the cosine: halfway to the floor
        assert lr[mid] == pytest.approx((peak + row.min_lr) / 2, rel=1e-4)
        assert np.all(np.diff(lr[:PYTHIA_WARMUP + 1]) > 0) and np.all(np.diff(lr[PYTHIA_WARMUP:]) < 0)
        assert lr[PYTHIA_WARMUP:].min() == pytest.approx(row.min_lr) and lr.max() == pytest.approx(peak)


def test_pythia_as_trained_by_neox_v1(anchors):
    """Pythia trained before GPT-NeoX PR #1008: its cosine aims at 0 over 143000 steps and is
    clamped at min_lr, so the LR reaches 0.1 x peak at step ~115,000 and stays there."""
    steps = np.arange(0, PYTHIA_STEPS + 1)
    for row, s in pythia_schedules(anchors):
        v1 = lr_at_step(LRSchedule(**{**s.__dict__, "style": "cosine_neox_v1"}), steps)
        now = lr_at_step(s, steps)
        np.testing.assert_array_equal(v1[:PYTHIA_WARMUP + 1], now[:PYTHIA_WARMUP + 1])  # same warmup
        assert v1[PYTHIA_STEPS] == pytest.approx(row.min_lr)
        floor_from = PYTHIA_WARMUP + int(np.argmax(v1[PYTHIA_WARMUP:] <= row.min_lr * (1 + 1e-12)))
        theta = math.acos(2 * 0.1 - 1) / math.pi  # cos(pi x) = -0.8: the cosine meets 0.1 x peak
        assert floor_from == math.ceil(PYTHIA_WARMUP + theta * PYTHIA_STEPS)
        assert 115_000 < floor_from < 115_300 and np.all(v1[floor_from:] == pytest.approx(row.min_lr))
        assert np.all(np.diff(v1[PYTHIA_WARMUP:floor_from + 1]) < 0)
        assert np.all(v1[PYTHIA_WARMUP + 1:] <= now[PYTHIA_WARMUP + 1:] * (1 + 1e-12))  # below today's curve

"""A WSD schedule's cooldown share is one rule, (0, 1], for LRSchedule and --schedule wsd:N:F."""
import numpy as np
import pytest

from scalefit.errors import InputError
from scalefit.schedule import LRSchedule, cooldown_fraction, lr_at_step


def test_wsd_with_no_cooldown_is_refused_naming_the_argument():
    """LRSchedule(style='wsd', cooldown_fraction=0) was taken: the LR stayed at the peak through
    decay_steps and fell to the floor at the step after, against the docstring's cooldown to the
    floor at decay_steps; --schedule wsd:N:0 was already refused."""
    with pytest.raises(InputError, match=r"^LRSchedule cooldown_fraction: '0' is out of range; "
                                         r"expected a fraction in \(0, 1\]"):
        LRSchedule(peak=1e-3, decay_steps=10, style="wsd", cooldown_fraction=0)
    for bad in (-0.5, 1.5):
        with pytest.raises(InputError, match=r"cooldown_fraction: .* expected a fraction in \(0, 1\]"):
            LRSchedule(peak=1e-3, decay_steps=10, style="wsd", cooldown_fraction=bad)


def test_the_shares_it_takes_still_cool_down_to_the_floor_at_decay_steps():
    """1 (the whole run a cooldown) and '0.5' from a text field are taken; another style, which
    never reads the share, keeps taking 0."""
    whole = LRSchedule(peak=1e-3, decay_steps=10, style="wsd", cooldown_fraction=1)
    np.testing.assert_allclose(lr_at_step(whole, [0, 5, 10, 11]), [1e-3, 5.5e-4, 1e-4, 1e-4])
    assert LRSchedule(peak=1e-3, decay_steps=10, style="wsd", cooldown_fraction="0.5").cooldown_fraction == 0.5
    assert LRSchedule(peak=1e-3, decay_steps=10, cooldown_fraction=0).cooldown_fraction == 0


def test_the_command_and_the_class_read_one_rule():
    """--schedule wsd:N:0 and LRSchedule give the same answer: what both accept is the rule
    cooldown_fraction states."""
    from scalefit.scaling.laws.curves import parse_schedule

    for share in (0, 1e-9, 0.2, 1, 1.2):
        try:
            cooldown_fraction("share", share)
            rule = True
        except InputError:
            rule = False
        try:
            parse_schedule(f"wsd:100:{share}", peak=1e-3)
            command = True
        except InputError:
            command = False
        try:
            LRSchedule(peak=1e-3, decay_steps=100, style="wsd", cooldown_fraction=share)
            api = True
        except InputError:
            api = False
        assert rule == command == api, share

"""The signed-estimate text helpers in one place (interval_text: value_at_interval(sign=),
with_interval, estimate_text, excludes_zero), the explained share's refusal as a kind
(schedule_gap.refusal_kind) that the JSON's reason and the figure's title both word, and
estimate_place of a 0 its interval does not hold (it raised ValueError: log10(0))."""
from __future__ import annotations

import math

import numpy as np

from scalefit.scaling.interval_text import (at_place, ends_place, estimate_place, estimate_text,
                                            excludes_zero, finite_interval, interval_ends, interval_text,
                                            value_at_interval, with_interval)
from scalefit.scaling.laws.schedule_gap import refusal_kind, share_refusal, unidentified_share
from scalefit.scaling.laws.schedule_plots import _a_share_title
from scalefit.scaling.resample import MIN_RESAMPLES_FOR_VERDICT


def test_a_zero_outside_its_interval_takes_the_ends_place():
    """estimate_place(0, lo, hi) for an interval that excludes 0 is the place its ends print to;
    it raised ValueError (math domain error) from log10(0)."""
    rng = np.random.default_rng(5)
    for _ in range(200):
        lo = 10.0 ** rng.uniform(-12, 12) * rng.choice([-1, 1])
        width = abs(lo) * 10.0 ** rng.uniform(-4, 1)
        lo, hi = (lo, lo + width) if lo > 0 else (lo - width, lo)
        exponent = estimate_place(0.0, lo, hi)
        assert exponent == ends_place(lo, hi, 0.0) is not None
        assert float(at_place(0.0, exponent)) == 0.0


def test_a_signed_estimate_and_its_interval():
    rng = np.random.default_rng(6)
    for _ in range(300):
        centre, width = rng.normal(0, 1), 10.0 ** rng.uniform(-3, 1)
        lo, hi = sorted(centre + width * rng.uniform(-1, 1, 2))
        value = rng.uniform(lo, hi)
        plain = value_at_interval(value, lo, hi)
        signed = value_at_interval(value, lo, hi, sign=True)
        # '+' before every positive estimate, and nothing else changes
        assert signed == (plain if plain == "0" or plain.startswith("-") else "+" + plain)
        assert estimate_text(value, [lo, hi], sign=True) == signed
        assert with_interval(value, (lo, hi), sign=True) == f"{signed} {interval_text(lo, hi, value, True)}"
        assert excludes_zero([lo, hi]) == (lo > 0 or hi < 0)
    # without a finite interval: 4 significant digits, then what the caller says follows
    for ci in (None, [math.nan, 1.0], [None, 1.0], (0.1, math.inf)):
        assert finite_interval(ci) is None and not excludes_zero(ci)
        assert with_interval(0.39401, ci) == "0.394 (no interval)"
        assert with_interval(0.39401, ci, sign=True, missing="") == "+0.394"
    assert value_at_interval(math.nan, None, None, sign=True) == "-"


def _share(gap_ci, identified):
    return {"value": 0.5, "ci95": [0.2, 0.8], "gap": 0.1, "gap_ci95": gap_ci,
            "identified": identified}


def test_the_refusal_kind_is_worded_alike_by_the_reason_and_the_title():
    enough = 2 * MIN_RESAMPLES_FOR_VERDICT
    cases = {  # (share, resamples): the kind
        (0, True): "none", (MIN_RESAMPLES_FOR_VERDICT - 1, True): "rough",
        (enough, False): "holds_zero", (enough, None): "no_interval", (enough, True): None}
    for (n_boot, flag), kind in cases.items():
        gap_ci = [math.nan, math.nan] if flag is None else [-0.2, 0.3] if flag is False else [0.05, 0.2]
        share = _share(gap_ci, bool(flag))
        assert refusal_kind(share, n_boot) == kind
        reason, title = share_refusal(share, n_boot), _a_share_title(share, n_boot)
        if kind is None:
            assert reason is None and title.startswith("schedule explains 50%")
        elif kind == "none":
            assert reason.startswith("no resamples") and title.endswith("(no resamples)")
        elif kind == "rough":
            assert f"{n_boot} resamples cannot tell" in reason and title.endswith("(too few resamples)")
        else:
            assert reason == unidentified_share(gap_ci, 0.1)
            lo, hi = interval_ends(*gap_ci, 0.1, sign=True)
            assert title == ("a gap not identified (no interval)" if kind == "no_interval" else
                             f"a gap not identified: its interval [{lo}, {hi}] includes 0\n"
                             f"and gaps as large as {lo} and {hi} (not excluded either)")

"""Printed digits at the edges (s46): an estimate is printed to the place of its interval's printed
ends however far out the point asked for lies (predict downstream --at-x 1e30 printed 1.05034e+35,
six digits to the cap, beside [3.7e+19, 1.5e+21]), each end is printed to the place asked for
(6.2e+21 at 1e22 printed 6e+21), and an estimate lies on its side of each printed end."""
from __future__ import annotations

import math
import re
from decimal import Decimal

import numpy as np
import pytest

from scalefit.scaling.interval_text import (MAX_DIGITS, PLAIN, WIDTH_DIGITS, at_place, ends_place,
                                            estimate_and_ends, spread_place)
from scalefit.scaling.laws.identifiability import ZERO
from test_s43_value_digits import last_place


def significant_digits(text: str) -> int:
    return len(Decimal(text).as_tuple().digits)


def test_an_end_is_printed_to_the_digit_asked_for_at_every_scale():
    """at_place(v, e) keeps the digit 10**e, and is v to half of it: a value of at least half that
    digit but under it (6.2e+21 at 1e22) printed one digit of its own (6e+21, a place finer than
    asked), and a carry lost a place (9.97e+06 at 1e5 printed 1.0e+07) outside plain digits."""
    rng = np.random.default_rng(46)
    for _ in range(20000):
        power = rng.uniform(-40, 60)
        value = float(rng.choice([-1.0, 1.0]) * 10.0 ** power)
        exponent = math.floor(power) - int(rng.integers(-1, MAX_DIGITS))  # 0 to MAX_DIGITS digits
        text = at_place(value, exponent)
        if abs(value) < 0.5 * 10.0 ** exponent:
            assert text == "0", (value, exponent, text)
            continue
        # the digit 10**exponent is the last one: in plain digits above the units, a multiple of it
        assert last_place(text) == exponent or (exponent > 0 and last_place(text) == 0 and PLAIN[0] <= abs(value)
                                                < PLAIN[1] and Decimal(text) % Decimal(10) ** exponent == 0), \
            (value, exponent, text)
        assert abs(float(text) - value) <= 0.5 * 10.0 ** exponent * (1 + 1e-9), (value, exponent, text)


def _intervals(seed: int, n: int):
    """(value, lo, hi) over 1e-8..1e60, relative widths 1e-3..1e6, the value inside or outside
    but never within 1e-3 of the width of an end (where the ends need more digits than the rule's
    to tell them apart, which MAX_DIGITS caps), none within ZERO of 0 (read as 0 by at_zero)."""
    rng = np.random.default_rng(seed)
    for _ in range(n):
        centre = float(rng.choice([-1.0, 1.0]) * 10.0 ** rng.uniform(-8, 60))
        width = abs(centre) * 10.0 ** rng.uniform(-3, 6)
        lo = centre - width * rng.uniform(0, 1)
        hi = lo + width
        value = centre + width * float(rng.choice([rng.normal(0, 0.5), rng.normal(0, 1e3)]))
        if min(abs(value - lo), abs(value - hi)) < 1e-3 * width or min(abs(value), abs(lo), abs(hi)) <= ZERO:
            continue
        yield value, lo, hi


def test_an_estimate_lies_on_its_intervals_side_of_each_printed_end_in_few_digits():
    """Held by its interval, the printed estimate lies within the printed ends; not held, outside
    them; either way to the ends' place, or a digit finer only where one fewer would print it on
    the wrong side of an end (or 0 beside an interval that excludes 0). An end printed
    at its own place (a small end of an interval that excludes 0) took no digit more where the
    estimate lay just under it (1.1276e+31 under [1.1489e+31, 5.9e+34] printed [1.1e+31, 5.9e+34]),
    and the estimate took digits to the cap, 1.12762e+31, still 'inside' it."""
    for value, lo, hi in _intervals(7, 20000):
        est, a, b = estimate_and_ends(value, lo, hi)
        held = lo <= value <= hi
        assert (float(a) <= float(est) <= float(b)) == held, (value, lo, hi, est, a, b)
        # digits past the ends' place only where one fewer prints it on the wrong side of an end,
        # or, outside an interval that excludes 0, where it would print 0: WIDTH_DIGITS of its own
        place = ends_place(lo, hi, value)
        if est != "0" and last_place(est) < place:
            fewer = at_place(value, last_place(est) + 1)
            own = (not held and (lo > 0) == (hi > 0) and abs(value) < 0.5 * 10.0 ** place
                   and significant_digits(est) == WIDTH_DIGITS)
            assert own or (float(a) <= float(fewer) <= float(b)) != held, (value, lo, hi, est, a, b)


@pytest.mark.parametrize("value, lo, hi", [
    (1.1276233089161096e+31, 1.1489302869405573e+31, 5.878565409804489e+34),  # under an own-place end
    (-6.084418799824814e+21, -6.177022910234122e+21, 6.71730041624512e+26),  # an end at half its place
])
def test_an_estimate_near_an_end_takes_no_digits_to_the_cap(value, lo, hi):
    est, a, b = estimate_and_ends(value, lo, hi)
    assert (float(a) <= float(est) <= float(b)) == (lo <= value <= hi)
    assert significant_digits(est) <= 3, (est, a, b)


def test_an_estimate_far_outside_its_interval_is_quoted_to_its_distance_from_it():
    """predict downstream --at-x 1e30 --bootstrap 2: the fit's 1.0503e+35 beside its resamples'
    [3.7e+19, 1.5e+21]. To the ends' place (1e20) it needs 16 digits; MAX_DIGITS printed
    1.05034e+35. Now the place of its distance from the interval quoted as a spread: the fit and
    its resamples disagree by ~1e+35, so no digit of it finer than that one's second is kept."""
    value, lo, hi = 1.0503415957940681e35, 3.7e19, 1.5e21
    est, a, b = estimate_and_ends(value, lo, hi)
    assert last_place(est) >= spread_place(value - hi)
    assert abs(float(est) - value) <= 0.5 * 10.0 ** last_place(est)
    assert float(est) > float(b)
    # and one just beside a wide interval keeps the ends' place (nothing moves there)
    est, a, b = estimate_and_ends(2.106, 2.51, 3.51)
    assert last_place(est) == last_place(a) == ends_place(2.51, 3.51, 2.106)


def _prediction(value, ci, pi):
    return {"value": value, "ci95": list(ci), "pi95": list(pi), "at_x": 1e30, "kind": "below the data",
            "x_range": [4.08, 6.22]}


def test_the_outside_warning_names_the_estimate_the_line_prints():
    """The warning under the prediction printed its estimate to 5 digits (1.0503e+35), the line
    above it to the interval's rule: one number two ways."""
    from scalefit.scaling.relations.report import prediction_lines
    lines = prediction_lines(_prediction(1.0503415957940681e35, (3.7e19, 1.5e21), (3.6e19, 1.6e21)))
    shown = re.search(r": (\S+)  95% CI of the curve", lines[0]).group(1)
    warned = re.search(r"warning: the estimate (\S+) lies outside", "\n".join(lines)).group(1)
    assert warned == shown
    assert last_place(shown) >= spread_place(1.0503415957940681e35 - 1.5e21)


PREDICTION = re.compile(r" at x = \S+ \([^)]*\): (\S+)  95% CI of the curve(?: over [^\[]*)? \[(\S+), (\S+)\], "
                        r"95% prediction interval of an observed value(?: over those draws)? \[(\S+), (\S+)\]")


@pytest.fixture(scope="module")
def shipped():
    from scalefit.scaling.relations.cli import _load
    return _load(None, None, None, "train-to-test", None, None, None)


@pytest.mark.parametrize("at_x, n_bootstrap", [(5.0, 200), (4.0, 200), (1e6, 200), (1e30, 200),
                                               (1e30, 2), (1e300, 200)])
def test_predict_downstream_prints_each_estimate_on_the_rule_at_any_x(shipped, at_x, n_bootstrap):
    """Inside the data (5), just beyond it (4), far below it (1e6, 1e30) and where the fit's curve
    overflows (1e300): the text's estimate has at most the digits its rule gives, lies within each
    printed interval that holds it and outside each that does not; the notebook repr prints the
    same estimate (it printed 4 significant digits, 1.05e+35 beside [1.3e+10, 5.2e+53])."""
    from scalefit.scaling.relations.downstream import run_downstream
    frame, source, x, y, group, x_from, y_from, _ = shipped
    result = run_downstream(frame, x, y, group=group, x_from=x_from, at_x=at_x, n_bootstrap=n_bootstrap,
                            seed=0, source=source)
    pr = result.to_dict()["prediction"]
    est, *ends = PREDICTION.search(str(result)).groups()
    if not math.isfinite(pr["value"]):  # the curve overflows: no estimate, the draws' intervals
        assert est == "-"
        return
    for (lo, hi), (a, b) in zip((pr["ci95"], pr["pi95"]), (ends[:2], ends[2:])):
        assert (float(a) <= float(est) <= float(b)) == (lo <= pr["value"] <= hi), (est, a, b)
    assert significant_digits(est) <= 3, (est, ends)
    assert f": {est}" in repr(result)


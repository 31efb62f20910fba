"""An interval printed to the precision it has: its ends to the decimal place of its width's second
significant digit ([0.26, 1.15] for kappa's 0.259..1.152, not [0.25902, 1.152]), so that no end
claims digits the interval itself says are noise. One rule for every relation and trajectory
command's text and report."""
from __future__ import annotations

import math

from scalefit.scaling.laws.identifiability import ZERO

WIDTH_DIGITS = 2  # significant digits of the width that the ends keep
SAME = 1e-9  # ends closer than this, relative to their size, are one number: no width to read
MAX_DIGITS = 6  # never more significant digits than this, however narrow the interval
PLAIN = (1e-3, 1e6)  # values printed as plain digits (0.0012, 480000); others as 4.8e+06
MORE_DIGITS = 3  # digits added, at most, so that the rounded ends still hold the estimate
SPREAD_DIGITS = 2  # significant digits a standard error (a spread) is quoted to


def _finite(v) -> bool:
    return v is not None and math.isfinite(float(v))


def place(lo, hi) -> int | None:
    """The exponent of the last digit an interval's ends keep (-2: hundredths); None when the
    interval has no width to read a precision from (an end missing, or lo == hi)."""
    if not (_finite(lo) and _finite(hi)) or not float(hi) - float(lo) > SAME * max(abs(float(lo)), abs(float(hi))):
        return None  # no width, or one of rounding error (a at its bound 1 in every resample)
    return math.floor(math.log10(float(hi) - float(lo))) - (WIDTH_DIGITS - 1)


def spread_place(spread) -> int:
    """The exponent of the last digit a standard error (a bootstrap spread) is quoted to: its
    SPREAD_DIGITS-th significant digit (0.0643 -> -3: 0.064); a value beside it keeps that place."""
    return math.floor(math.log10(abs(float(spread)))) - (SPREAD_DIGITS - 1)


def at_place(value, exponent: int | None, sign: bool = False) -> str:
    """``value`` rounded to the digit 10**exponent, trailing zeros kept (5.30, not 5.3): '-' for
    None or NaN, '0' for a value under half that digit, 4 significant digits with no exponent."""
    if not _finite(value):
        return "-"
    value = float(value)
    plus = "+" if sign else ""
    if exponent is None:
        return format(value, f"{plus}.4g")
    if value == 0 or abs(value) < 0.5 * 10.0 ** exponent:
        return f"{plus}0" if sign else "0"
    digits = math.floor(math.log10(abs(value))) - exponent + 1
    if digits > MAX_DIGITS:
        exponent += digits - MAX_DIGITS
    if PLAIN[0] <= abs(value) < PLAIN[1]:  # plain digits: -10, not -1e+01
        return format(round(value, -exponent), f"{plus}.{max(-exponent, 0)}f")
    text = format(value, f"{plus}#.{min(max(digits, 1), MAX_DIGITS)}g")
    mantissa, _, power = text.partition("e")
    return mantissa.rstrip(".") + (f"e{power}" if power else "")


def interval_ends(lo, hi, value=None, sign: bool = False) -> tuple[str, str]:
    """(lo, hi) as text, to the interval's precision (``place``); where rounding would put an
    estimate that the interval holds outside the printed ends, or one it does not hold inside
    them, a digit more, up to MORE_DIGITS. An end of an interval that excludes 0 never prints
    as 0: it keeps WIDTH_DIGITS significant digits of its own ([120, 9.5e+09] for A's resamples
    117 to 9.535e+09, where [0, 9.5e+09] said A could be 0)."""
    exponent = ends_place(lo, hi, value)
    return tuple(at_place(v, _own_place(v, lo, hi, exponent), sign) for v in (lo, hi))


def ends_place(lo, hi, value=None) -> int | None:
    """The exponent of the last digit ``interval_ends`` prints the ends to: the interval's place,
    a digit finer (up to MORE_DIGITS) where rounding would move ``value`` across an end; None
    where the interval has no width to read a precision from."""
    exponent = place(lo, hi)
    if exponent is not None and _finite(value):
        held = float(lo) <= float(value) <= float(hi)
        for _ in range(MORE_DIGITS):
            shown = [float(at_place(v, _own_place(v, lo, hi, exponent))) for v in (lo, hi)]
            if (shown[0] <= float(value) <= shown[1]) == held:
                break
            exponent -= 1
    return exponent


def _own_place(end, lo, hi, exponent: int | None) -> int | None:
    """``exponent``, or the place of ``end``'s own WIDTH_DIGITS-th significant digit where the
    interval excludes 0 and ``end`` would round to 0 at ``exponent``."""
    if exponent is None or not (_finite(lo) and _finite(hi)):
        return exponent
    end, lo, hi = float(end), float(lo), float(hi)
    excludes = min(abs(lo), abs(hi)) > ZERO and (lo > 0) == (hi > 0)
    if excludes and abs(end) < 0.5 * 10.0 ** exponent:
        return min(exponent, math.floor(math.log10(abs(end))) - (WIDTH_DIGITS - 1))
    return exponent


def at_zero(*values) -> tuple:
    """``values`` with those within ZERO of 0 read as 0 (a floor at its bound, 9e-18, is 0):
    what a parameter's interval and estimate print from, in a table and in its warning alike."""
    return tuple(0.0 if _finite(v) and abs(float(v)) <= ZERO else v for v in values)


def interval_text(lo, hi, value=None, sign: bool = False) -> str:
    """'[lo, hi]' to the interval's precision; '[-, -]' where an end is missing."""
    a, b = interval_ends(lo, hi, value, sign)
    return f"[{a}, {b}]"


def estimate_and_ends(value, lo, hi) -> tuple[str, str, str]:
    """(the estimate, its interval's two ends) as text, each on the one rule: the ends
    (``interval_ends``) and the estimate to their place (``value_at_interval``)."""
    return (value_at_interval(value, lo, hi), *interval_ends(lo, hi, value))


def value_at_interval(value, lo, hi) -> str:
    """An estimate to the place of its interval's printed ends (identifiability.significant, the
    one rule of every printed estimate: 0.6 beside [-28, 29] is 1, 0.07 beside it 0), or 4
    significant digits where the interval gives none; a floor at its bound (9e-18) is 0."""
    from scalefit.scaling.laws.identifiability import significant
    return significant(value, None, (lo, hi))

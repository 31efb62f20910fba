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
    None or NaN, '0' for a value under half that digit, 4 significant digits with no exponent.
    A value of at least half that digit but under it is that digit (6.2e+21 to 1e22 is 1e+22, not
    6e+21: one digit at the place asked for), and a carry keeps the place (9.97e+06 to 1e5 is
    1.00e+07); never more than MAX_DIGITS significant digits."""
    if not _finite(value):
        return "-"
    value = float(value)
    plus = "+" if sign else ""
    if exponent is None:
        return format(value, f"{plus}.4g")
    rounded = rounded_at(value, exponent)
    if rounded == 0:
        return f"{plus}0" if sign else "0"
    digits = _digits(rounded, exponent)
    while digits > MAX_DIGITS:  # the cap: a coarser place, rounded once from the value itself
        exponent += digits - MAX_DIGITS
        rounded = rounded_at(value, exponent)
        digits = _digits(rounded, exponent)
    if PLAIN[0] <= abs(value) < PLAIN[1]:  # plain digits: -10, not -1e+01
        return format(rounded, f"{plus}.{max(-exponent, 0)}f")
    text = format(rounded, f"{plus}#.{digits}g")
    mantissa, _, power = text.partition("e")
    return mantissa.rstrip(".") + (f"e{power}" if power else "")


def rounded_at(value, exponent: int) -> float:
    """``value`` rounded to the digit 10**exponent: 0 under half that digit, else at least that
    digit (round's half-to-even would make 5e21 at 1e22 a 0 that ``at_place`` prints as 1e+22)."""
    value = float(value)
    if value == 0 or abs(value) < 0.5 * 10.0 ** exponent:
        return 0.0
    return round(value, -exponent) or math.copysign(10.0 ** exponent, value)


def _digits(rounded: float, exponent: int) -> int:
    """The significant digits a nonzero ``rounded`` has down to the digit 10**exponent."""
    return math.floor(math.log10(abs(rounded))) - exponent + 1


def interval_ends(lo, hi, value=None, sign: bool = False) -> tuple[str, str]:
    """(lo, hi) as text, to the interval's precision (``place``); where rounding would put an
    estimate that the interval holds outside the printed ends, or one it does not hold inside
    them, a digit more on each end, up to MORE_DIGITS. An end of an interval that excludes 0 never
    prints as 0: it keeps WIDTH_DIGITS significant digits of its own ([120, 9.5e+09] for A's
    resamples 117 to 9.535e+09, where [0, 9.5e+09] said A could be 0)."""
    _, *places = _places(lo, hi, value)
    return tuple(at_place(v, e, sign) for v, e in zip((lo, hi), places))


def ends_place(lo, hi, value=None) -> int | None:
    """The exponent of the last digit ``interval_ends`` prints the ends to: the interval's place,
    a digit finer (up to MORE_DIGITS) where rounding would move ``value`` across an end; None
    where the interval has no width to read a precision from. (An end of an interval that
    excludes 0 and is small beside its width keeps its own finer place, ``_own_place``.)"""
    return _places(lo, hi, value)[0]


def estimate_place(value, lo, hi) -> int | None:
    """The exponent of the last digit an estimate beside its interval is printed to
    (identifiability.significant): the place of the printed ends (``ends_place``). For one the
    interval does not hold, two exceptions. Where that place would take it past MAX_DIGITS (far
    outside a narrow interval), the place of its distance from the nearer end quoted as a spread
    (``spread_place``: SPREAD_DIGITS significant digits of it), the coarser: the fit and its
    resamples disagree by that distance (1.05e+35 beside [3.7e+19, 1.5e+21] is 1.1e+35; to the
    ends' place, 1e+20, it took 6 digits to the cap, 1.05034e+35, a precision nothing in the
    result has). And where it would print 0 beside an interval that excludes 0, WIDTH_DIGITS of its
    own, as such an end keeps (1.4e-05 under [1.5e-05, 0.0180] printed 0). None where the interval
    gives no place; the ends' place for 0 (it has no digits of its own to keep)."""
    exponent = ends_place(lo, hi, value)
    if exponent is None or not _finite(value) or float(value) == 0 or float(lo) <= float(value) <= float(hi):
        return exponent
    value = float(value)
    gap = value - (float(lo) if value < float(lo) else float(hi))
    if _digits(value, exponent) > MAX_DIGITS and math.isfinite(gap):  # (1e308 beside -1e308: inf)
        return max(exponent, spread_place(gap))
    return _own_place(value, lo, hi, exponent)


def _places(lo, hi, value=None) -> tuple:
    """(ends_place, lo's place, hi's place): the interval's place, a digit finer, up to
    MORE_DIGITS, while the printed ends would hold ``value`` where the interval does not, or leave
    it out where the interval holds it; each end at that place or its own finer one
    (``_own_place``). An end at its own place takes the digits it needs first, up to MORE_DIGITS,
    where it prints ``value`` on the wrong side of it: [1.1e+31, 5.9e+34] beside 1.1276e+31, under
    the lower end 1.1489e+31, gave the other end digits (5.8786e+34) and never the one at its own
    place, and the estimate took digits to the 6-digit cap (1.12762e+31) to sit below a 1.1e+31;
    now [1.15e+31, 5.9e+34]."""
    exponent = place(lo, hi)
    if exponent is None:
        return None, None, None
    ends = (float(lo), float(hi))
    if not _finite(value):
        return (exponent, *(_own_place(v, lo, hi, exponent) for v in ends))
    held = ends[0] <= float(value) <= ends[1]
    # one the interval does not hold, as finely as it can print (MAX_DIGITS): -20.97699 over
    # [-21.008, -20.977] printed -20.9770, on the end, however many digits it took
    value = float(value) if held else float(format(float(value), f".{MAX_DIGITS}g"))
    own = [math.inf] * 2  # an end at its own place: that place, a digit finer while it needs one
    for i, end in enumerate(ends):
        first = _own_place(end, lo, hi, exponent)
        if first < exponent:
            side = (value >= end) if i == 0 else (value <= end)
            own[i] = first
            for _ in range(MORE_DIGITS):
                shown = float(at_place(end, own[i]))
                if ((value >= shown) if i == 0 else (value <= shown)) == side:
                    break
                own[i] -= 1
    for _ in range(MORE_DIGITS):
        shown = [float(at_place(v, min(_own_place(v, lo, hi, exponent), o))) for v, o in zip(ends, own)]
        if (shown[0] <= value <= shown[1]) == held:
            break
        exponent -= 1
    return (exponent, *(min(_own_place(v, lo, hi, exponent), o) for v, o in zip(ends, own)))


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


def value_at_interval(value, lo, hi, sign: bool = False) -> str:
    """An estimate to the place of its interval's printed ends (identifiability.significant, the
    one rule of every printed estimate: 0.6 beside [-28, 29] is 1, 0.07 beside it 0), or 4
    significant digits where the interval gives none; a floor at its bound (9e-18) is 0. With
    ``sign``, a '+' before a positive one ('+0.24'; never before '0' or '-')."""
    from scalefit.scaling.laws.identifiability import significant
    text = significant(value, None, (lo, hi))
    return "+" + text if sign and text not in ("-", "0") and not text.startswith("-") else text


def finite_interval(ci):
    """``ci`` as its two ends where both are finite numbers, else None (no interval, or one with
    an end missing: what a signed estimate is printed without)."""
    if ci is None:
        return None
    ends = tuple(ci)
    return ends if len(ends) == 2 and all(_finite(e) for e in ends) else None


def with_interval(value, ci, sign: bool = False, missing: str = " (no interval)") -> str:
    """'0.47 [0.31, 0.80]' ('+0.24 [+0.05, +0.30]' with ``sign``): an estimate and its 95%
    interval, each to the interval's precision; '0.3940 (no interval)' without a finite one
    (``missing``: what follows the value then)."""
    ends = finite_interval(ci)
    if ends is None:
        return f"{estimate_text(value, None, sign)}{missing}"
    return f"{estimate_text(value, ends, sign)} {interval_text(*ends, value, sign)}"


def estimate_text(value, ci, sign: bool = False) -> str:
    """``value`` alone to the place of its interval's printed ends (``value_at_interval``; 4
    significant digits where ``ci`` is not a finite interval), signed where asked."""
    return value_at_interval(value, *(finite_interval(ci) or (None, None)), sign)


def intervals_overlap(*intervals) -> bool | None:
    """Whether all the intervals given (two or more) share a point (an end on an end counts):
    the largest low end is at most the smallest high end; None where any is not a finite
    interval (``finite_interval``: no bootstrap, or an end missing)."""
    if len(intervals) < 2:
        raise TypeError(f"intervals_overlap takes two or more intervals ({len(intervals)} given)")
    ends = [finite_interval(ci) for ci in intervals]
    if any(e is None for e in ends):
        return None
    return bool(max(float(e[0]) for e in ends) <= min(float(e[1]) for e in ends))


def excludes_zero(ci) -> bool:
    """Whether ``ci`` is a finite interval that lies wholly above or wholly below 0."""
    ends = finite_interval(ci)
    return ends is not None and (float(ends[0]) > 0 or float(ends[1]) < 0)

"""Whether the runs pin each parameter down: the width of its bootstrap 95% interval relative to
its value, and the parameter its draws move with most (correlation of the estimates).

Rule (one for every law): relative width w = (ci95 hi - ci95 lo) / |value|.
  w <= 0.5   identified
  w <= 1     weakly identified
  w > 1      not identified    (the interval is wider than the value)
A value is printed to the place of its printed interval's ends, whatever its status
(``significant``: beta = 0.42 beside [0.38, 0.53], E = 2.6 beside [0, 3.1]); the status's DIGITS
serve only a value with no interval to read a place from.
A parameter no resample moves at all (w = 0 because the fitted loss does not depend on it, e.g. a
term pushed to nothing) is not identified either, however narrow its "interval". One whose value
is ~0 next to its interval (E on its bound at 0) is warned of by the interval's ends.
Scale parameters (A, B, N_c, ...) are correlated in log, the others as they are. A parameter
whose draws correlate with another's beyond |r| = 0.95 is named with that partner: the data fix
a combination of the two, not each one.
"""
from __future__ import annotations

import math
from decimal import Decimal

import numpy as np

from scalefit.scaling.fitresult import FitResult

IDENTIFIED, WEAK, NOT_IDENTIFIED = "identified", "weakly identified", "not identified"
WIDTH_IDENTIFIED = 0.5
WIDTH_WEAK = 1.0
STRONG_CORRELATION = 0.95
DIGITS = {IDENTIFIED: 4, WEAK: 2, NOT_IDENTIFIED: 1}  # only where there is no interval (significant)
ZERO = 1e-12  # a value or bound this close to 0 is a floor at its bound: printed as 0, not 2.1e-16
ENDS_OVER = 1e3  # an interval this many times its value: the value is ~0 next to it (E on its
# bound at 0), a width "1.05e+12x its value" says nothing; the warning gives the interval's ends


def status_of(width: float) -> str | None:
    """The status of a relative width (inf: an interval around a value of 0); None for NaN."""
    if np.isnan(width):
        return None
    return IDENTIFIED if width <= WIDTH_IDENTIFIED else WEAK if width <= WIDTH_WEAK \
        else NOT_IDENTIFIED


def identifiability(result: FitResult, log_scales=()) -> dict:
    """{param: {relative_width, status, most_correlated, correlation}} from the draws and CIs.

    Empty when the fit has no bootstrap draws (run with --bootstrap to judge).
    """
    draws = result.draws or {}
    names = [n for n in result.params if n in draws]
    if len(names) == 0:
        return {}
    cols = []
    for name in names:
        x = np.asarray(draws[name], float)
        if name in log_scales:
            with np.errstate(all="ignore"):
                x = np.log(x)
        cols.append(x)
    table = np.column_stack(cols)
    ok = np.all(np.isfinite(table), axis=1)
    corr = None
    if ok.sum() > 2 and len(names) > 1:
        with np.errstate(all="ignore"):
            corr = np.corrcoef(table[ok].T)
    out = {}
    for i, name in enumerate(names):
        p = result.params[name]
        lo, hi = p.ci95
        if not (np.isfinite(lo) and np.isfinite(hi)):
            width = float("nan")
        elif p.value:
            width = float((hi - lo) / abs(p.value))
        else:  # a value of exactly 0 (on its bound) with an interval of any width: not identified
            width = float("inf") if hi > lo else float("nan")
        entry = {"relative_width": width, "status": status_of(width)}
        raw = np.asarray(draws[name], float)
        raw = raw[np.isfinite(raw)]
        unpinned = not (np.isfinite(p.stderr) and p.stderr < abs(p.value))  # no curvature holds it either
        if raw.size > 1 and np.ptp(raw) <= 1e-9 * max(abs(p.value), 1e-300) and unpinned:
            # no resample moved it and the fit's own curvature does not fix it: a bound or an ignored
            # term (exact data, where every resample returns the optimum, keeps a small stderr)
            entry.update(status=NOT_IDENTIFIED, inert=True)
        if corr is not None:
            r = np.where(np.arange(len(names)) == i, np.nan, corr[i])
            if np.isfinite(r).any():
                j = int(np.nanargmax(np.abs(r)))
                entry.update(most_correlated=names[j], correlation=float(r[j]))
        out[name] = entry
    return out


def identifiability_warning(ident: dict, params=None) -> str | None:
    """One sentence naming the parameters the runs do not pin down, or None; a parameter at or
    near 0 (``params``: name -> ParamEstimate) by its interval's ends, not a width relative to ~0."""
    bad = [name for name, e in ident.items() if e.get("status") == NOT_IDENTIFIED]
    if not bad:
        return None
    parts = []
    for name in bad:
        e = ident[name]
        if e.get("inert"):
            parts.append(f"{name} (no resample moved it from its value, a bound or a term the loss ignores: "
                         "the runs do not pin it down)")
            continue
        p = (params or {}).get(name)
        if p is not None and not e["relative_width"] <= ENDS_OVER:
            from scalefit.scaling.interval_text import at_zero, interval_text  # it reads ZERO from here
            zero = abs(p.value) <= ZERO
            value = "0" if zero else f"{p.value:.3g}"
            # the interval rule, as the parameter tables and lines print it
            text = f"{name} (95% CI {interval_text(*at_zero(*p.ci95, p.value))}, its value {value}"
        else:
            text = f"{name} ({width_text(name, e['relative_width'])}"
        if abs(e.get("correlation", 0.0)) >= STRONG_CORRELATION:
            text += f"; moves with {e['most_correlated']}, r = {e['correlation']:+.2f}"
        parts.append(text + ")")
    return ("not identified by these runs: " + ", ".join(parts)
            + "; the data fix a combination, not each value")


def width_text(name: str, relative_width: float) -> str:
    """'95% interval 16.4 times as wide as A itself': a not-identified parameter's interval width
    over its value, in words ('95% CI 1x its value' read as a multiplier of 1, not a width); one
    that rounds to 1 is 'wider than' it (over 1 is what makes it not identified)."""
    ratio = f"{relative_width:.3g}"
    if ratio == "1":
        return f"95% interval wider than {name} itself"
    return f"95% interval {ratio} times as wide as {name} itself"


def bound_status(name: str, warnings) -> str | None:
    """'at its upper bound' (or lower) when the fit's warnings say `name` ended on a bound: such a
    value is not an estimate, however narrow its interval (fitresult.bound_warnings words it)."""
    return next((w.removeprefix(f"parameter {name} is ") for w in warnings or ()
                 if w.startswith(f"parameter {name} is at its")), None)


OUTSIDE = "the estimate lies outside its bootstrap interval"


def outside(value, ci95) -> bool:
    """Whether a finite estimate lies outside its finite 95% interval (a value or end within ZERO
    of 0 read as 0: a floor at its bound is not outside an interval that starts at it)."""
    if ci95 is None:
        return False
    lo, hi = (float(v) if v is not None else float("nan") for v in ci95)
    if value is None or not np.isfinite(value) or not (np.isfinite(lo) and np.isfinite(hi)):
        return False
    floor = [0.0 if abs(v) <= ZERO else v for v in (lo, hi)]
    return not floor[0] <= (0.0 if abs(value) <= ZERO else value) <= floor[1]


def judged(value: float, ci95) -> tuple[str, str]:
    """(the value to the digits its 95% interval supports, its status or '') for a printed
    parameter; a value that is zero to 1e-12 (a floor at its bound) prints as 0. An estimate its
    own interval does not hold (E = 2e-17 at its bound, the resamples in [1.5e-05, 0.018]) says so."""
    lo, hi = (float(v) if v is not None else float("nan") for v in ci95)
    if value is None or not np.isfinite(value):
        return "-", ""
    zero = abs(value) <= ZERO
    width = (hi - lo) / max(abs(value), 1e-300) if np.isfinite(lo) and np.isfinite(hi) else float("nan")
    status = status_of(width) if not (zero and width == 0) else None
    shown = significant(value, status, (lo, hi))
    status = status if status and status != IDENTIFIED else ""
    if outside(value, (lo, hi)):
        status = ", ".join(filter(None, [status, OUTSIDE]))
    return shown, status


def significant(value: float, status: str | None, ci95=None) -> str:
    """A parameter value printed to the place of its printed 95% interval's ends (``estimate_place``:
    beta = 0.4175 beside [0.38, 0.53] is 0.42, k = -0.4484 beside [-0.500, -0.406] is -0.448): no
    digit finer than the interval keeps, and never coarser (E = 2.552 beside [0, 3.1] is 2.6, not
    3, a value its interval's end looked like; p = -4.67 beside [-5, -0.048] is -4.7), trailing
    zeros kept where they are the claim (0.50 beside [0.40, 0.60]). A value under half that place
    prints 0 (v0 = -3.1 beside [-390, 380]: its interval does not fix even its sign, which a text
    printing such a value says). A digit more, up to MAX_DIGITS, only where rounding would print a
    value its interval holds outside the printed ends (or one it does not hold inside them). A
    value its interval does not hold, where the ends' place takes more than MAX_DIGITS: to its
    distance from the nearer end quoted as a spread (``estimate_place``: 1.05e+35 beside
    [3.7e+19, 1.5e+21] is 1.1e+35, where the cap printed 1.05034e+35); where it would print 0
    beside an interval that excludes 0, WIDTH_DIGITS of its own, as such an end keeps. The
    status (identified, weak, not identified) adds no digits; with no interval to read a place from
    (no bootstrap, or no width), the status's DIGITS, or 4 significant digits as a default and no
    claim (0.5, not 0.5000). A value zero to ZERO (a floor at its bound, 9e-18) prints 0 (``at_zero``,
    as its interval's ends do). The one rule of every parameter table and line (laws, schedule laws,
    relations, trajectories; through ``judged``) and of interval_text.value_at_interval."""
    from scalefit.scaling.interval_text import MAX_DIGITS, at_zero, estimate_place, interval_ends, rounded_at
    if value is None or not np.isfinite(value):
        return "-"
    lo, hi = (float(v) if v is not None else float("nan") for v in (ci95 if ci95 is not None else (None, None)))
    lo, hi, at = at_zero(lo, hi, float(value))
    if at == 0:  # zero to ZERO: a floor at its bound (9e-18) prints 0, as its interval's ends do
        return "0"
    exponent = estimate_place(at, lo, hi)
    if exponent is None:  # no place to read: today's default, not a claim of precision
        digits = DIGITS.get(status, 4)
        return with_digits(value, digits) if status is not None else format(float(value), f".{digits}g")
    rounded = rounded_at(value, exponent)  # at the ends' place: -0.0964 at 0.01 is -0.10, 2 digits
    digits = 0 if rounded == 0 else min(math.floor(math.log10(abs(rounded))) - exponent + 1, MAX_DIGITS)
    text = "0" if rounded == 0 else with_digits(value, digits)
    if rounded != 0 and _last_place(text) < exponent:  # the carry: rounded's digits, not value's
        text = with_digits(rounded, digits)
    ends = [float(e) for e in interval_ends(lo, hi, at)]
    held = lo <= at <= hi
    while digits < MAX_DIGITS and (ends[0] <= float(text) <= ends[1]) != held:
        digits += 1  # the printed value on the wrong side of a printed end
        text = with_digits(value, digits)
    return text


def _last_place(text: str) -> int:
    """The exponent of a printed number's last digit ('2.6': -1, '2e+02': 2)."""
    return Decimal(text).as_tuple().exponent


def with_digits(value: float, digits: int) -> str:
    """``value`` to ``digits`` significant digits with its trailing zeros kept (1.100, not 1.1,
    for kappa = 1.1002 to 4 digits: '1.1' reads as a value known to 2); 0 prints as 0."""
    value = float(value)
    if value == 0 or not np.isfinite(value):
        return format(value, "g")
    mantissa, e, power = format(value, f"#.{digits}g").partition("e")
    return mantissa.rstrip(".") + e + power


def annotate(result: FitResult) -> FitResult:
    """Put ``identifiability`` in result.extra and its warning in result.warnings (in place)."""
    from scalefit.scaling.laws.registry import law_for
    ident = identifiability(result, law_for(result.law).log_scales)
    if ident:
        result.extra["identifiability"] = ident
        warning = identifiability_warning(ident, result.params)
        if warning and warning not in result.warnings:
            result.warnings.append(warning)
    return result

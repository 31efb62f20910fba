"""Profile-likelihood intervals of the stat-vs-loss law's nonlinear parameters E and p: the least
RSS with one of them held at each value, and where it rises by the allowed amount."""
from __future__ import annotations

import numpy as np
from scipy import optimize as scipy_optimize

from scalefit.scaling.fitresult import FitResult
from scalefit.scaling.trajectories.stat_law import E_FLOOR, P_BOUND, least_squares_lines

PROFILE_SCAN = 41  # evenly spaced values of a parameter over its range, where its profile is read first
INNER_COARSE = 81  # values of the other nonlinear parameter the profile RSS is minimized over ...
INNER_FINE = 41    # ... then again between the best one's neighbours, INNER_ZOOMS times over
INNER_ZOOMS = 10   # each zoom narrows the bracket 20-fold: 10 take a grid step of 0.1-0.3 to ~1e-14 ...
INNER_RTOL = 1e-9  # ... or fewer, once the profile RSS is this close (relative) to its min: the allowance is ~0.1x


def _power_rows(powers, log_gaps) -> np.ndarray:
    """((L - E)^p - 1) / p for powers and log(L - E) broadcast together, log(L - E) at p = 0:
    the same RSS as (L - E)^p for p != 0 (a line absorbs the shift and the scale), and at p = 0
    the limit the fit approaches (v0 + c (L - E)^p with c p fixed), not a constant; expm1, so no
    cancellation near p = 0."""
    powers = np.asarray(powers, dtype=float)
    with np.errstate(over="ignore", invalid="ignore"):
        scaled = np.expm1(powers * log_gaps) / np.where(powers == 0, 1.0, powers)
    return np.where(powers == 0, log_gaps, scaled)


def _rss_rows(x: np.ndarray, y: np.ndarray, syy: float) -> np.ndarray:
    """The RSS of least_squares_lines alone: what the profile minimizes."""
    return least_squares_lines(x, y, syy)[0]


def _min_over(grid: np.ndarray, rss_of, n_rows: int) -> np.ndarray:
    """Per row, the min of rss_of(values) (values: n_rows x points) over a sorted grid, refined
    on INNER_FINE points between the best point's neighbours, INNER_ZOOMS times. One refinement
    left the inner parameter ~1e-2 of a grid step off, an RSS error that does not shrink with
    the noise while the allowance does (noise 1e-4: the profile at the fit's own p lay above
    the allowance, and p's and E's intervals had zero width)."""
    values = np.broadcast_to(grid, (n_rows, len(grid)))
    rss = rss_of(values)
    least = rss.min(axis=1)
    rows, fine = np.arange(n_rows), np.linspace(0.0, 1.0, INNER_FINE)[None, :]
    for zoom in range(INNER_ZOOMS):
        i = np.argmin(rss, axis=1)
        lo = values[rows, np.maximum(i - 1, 0)]
        hi = values[rows, np.minimum(i + 1, values.shape[1] - 1)]
        if zoom and np.all(rss[rows, np.maximum(i - 1, 0)] + rss[rows, np.minimum(i + 1, rss.shape[1] - 1)]
                           - 2 * rss[rows, i] <= 8 * INNER_RTOL * rss[rows, i]):
            break  # a parabola through the best point and its neighbours: least within INNER_RTOL of its min
        values = lo[:, None] + (hi - lo)[:, None] * fine
        rss = rss_of(values)
        least = np.minimum(least, rss.min(axis=1))
    return least


PROFILE_CHUNK = 2_000_000  # values of the regressor held at once: the scan is profiled in chunks


def profile_rss(loss, value, name: str, at, E_fixed: float | None = None) -> np.ndarray:
    """The profile RSS of value = v0 + c (L - E)^p at each value of ``at`` for ``name`` ("E" or
    "p"): the least RSS over the other parameters (v0 and c in closed form; the other of E and
    p, unless E is fixed, over a grid of its range refined near its best point)."""
    loss = np.asarray(loss, dtype=float)
    y = np.asarray(value, dtype=float) - np.mean(value)
    syy = float(y @ y)
    lowest = float(loss.min())
    at = np.atleast_1d(np.asarray(at, dtype=float))
    if name == "p" and E_fixed is not None:
        return _rss_rows(_power_rows(at[:, None], np.log(loss - E_fixed)), y, syy)
    step = max(1, PROFILE_CHUNK // (INNER_COARSE * len(loss)))
    out = []
    for rows in (at[k:k + step] for k in range(0, len(at), step)):
        if name == "E":  # p over its range, for each E of the chunk
            logs = np.log(loss[None, :] - rows[:, None])

            def rss_of(ps, logs=logs):
                return _rss_rows(_power_rows(ps[:, :, None], logs[:, None, :]), y, syy)
            grid = np.linspace(*P_BOUND, INNER_COARSE)
        else:  # E over its range: the gap at the lowest loss from 1e-9 (E's upper bound) to it (E = 0)
            def rss_of(log_gaps, rows=rows):
                logs = np.log(loss[None, None, :] - lowest + np.exp(log_gaps)[:, :, None])
                return _rss_rows(_power_rows(rows[:, None, None], logs), y, syy)
            grid = np.log(np.geomspace(1e-9, lowest - E_FLOOR, INNER_COARSE))
        out.append(_min_over(grid, rss_of, len(rows)))
    return np.concatenate(out)


def profile_interval(fit: FitResult, name: str, allowed: float, wald=(np.nan, np.nan)) -> tuple[float, float]:
    """The 95% profile interval of E or p: the values within the parameter's bounds where the
    best fit with that value fixed leaves at most ``allowed`` more RSS than the fit; the hull of
    that set and the estimate (never an interval without the fit's own value). Near a bound, or
    where the curve's dependence on the parameter is far from linear, it is lopsided where a
    Wald interval is symmetric and then cut; read on a scan of PROFILE_SCAN values over the
    range, the fit's value and the Wald interval's ends (``wald``), each end then solved
    (brentq) between the last value inside and the first outside."""
    result = fit.model_result
    loss = np.asarray(result.userkws["L"], dtype=float)
    value = np.asarray(result.data, dtype=float)
    E_fixed = None if result.params["E"].vary else float(result.params["E"].value)
    par = result.params[name]
    lo, hi = float(par.min), float(par.max)
    est = float(par.value)
    scan = np.linspace(lo, hi, PROFILE_SCAN)
    if name == "E":  # the gap at the lowest loss from 1e-9 to its range: E's upper end, finely
        scan = np.r_[scan, hi - np.geomspace(1e-9, hi - lo, 10)[:-1] + 1e-9]
    scan = np.unique(np.clip(np.r_[scan, est, [w for w in wald if np.isfinite(w)]], lo, hi))
    rss = profile_rss(loss, value, name, scan, E_fixed)
    best = min(float(fit.objective), float(rss.min()))
    inside = rss - best <= allowed
    inside[scan == est] = True

    def excess(v):
        return float(profile_rss(loss, value, name, [v], E_fixed)[0]) - best - allowed

    first, last = int(np.argmax(inside)), len(scan) - 1 - int(np.argmax(inside[::-1]))
    lower = scan[0] if first == 0 else _crossing(excess, scan[first - 1], scan[first])
    upper = scan[-1] if last == len(scan) - 1 else _crossing(excess, scan[last + 1], scan[last])
    return (float(lower), float(upper))


def _crossing(excess, outside: float, inside: float) -> float:
    """Where excess changes sign between a value outside the interval and one inside it (the
    inside one where the sign does not change: the estimate, which the interval always holds)."""
    if not excess(inside) <= 0 or not excess(outside) > 0:
        return inside
    return scipy_optimize.brentq(excess, outside, inside, xtol=1e-10 * max(1.0, abs(inside)))

"""A weight statistic as a power law in the reducible loss, value = v0 + c (L - E)^p, and its
least-squares fit (lmfit from a grid of closed-form starts); a monotone (isotonic) fit is the
assumption-free alternative."""
from __future__ import annotations

import lmfit
import numpy as np
import pandas as pd
from scipy import optimize as scipy_optimize
from scipy import stats as scipy_stats

from scalefit.errors import InputError
from scalefit.options import irreducible_loss
from scalefit.scaling.fitresult import FitResult, ParamEstimate, bound_warnings, settle_covariance
from scalefit.scaling.flags import named
from scalefit.scaling.trajectories.table import positive_losses

MIN_POINTS = 5


def stat_power_law(L, v0, c, E, p):
    """value = v0 + c (L - E)^p: a statistic as a power law in the reducible loss."""
    gap = np.asarray(L, dtype=float) - E
    with np.errstate(invalid="ignore"):
        return _power_of_gap(gap, v0, c, p)


def _power_of_gap(gap: np.ndarray, v0, c, p):
    """v0 + c gap^p, NaN where the gap is not positive: stat_power_law inside its errstate (a fit
    calls it thousands of times, so np.where only where a gap is not positive)."""
    return v0 + c * (gap if (gap > 0).all() else np.where(gap > 0, gap, np.nan)) ** p


P_BOUND = (-5.0, 5.0)
CONSTANT = "the statistic is constant"  # a fit's warning where c = 0 leaves E and p arbitrary
E_FLOOR = 0.0  # E is the loss's irreducible part, a cross-entropy's floor: never below 0 (as a given --E)
E_AT_FLOOR = (f"parameter E is at its lower bound {E_FLOOR:g}: the fit wanted a floor below 0, which a "
              "cross-entropy does not have, so E and p are not identified separately (their profile intervals say "
              "how far the data bound each)")
REFINE_MAX_NFEV = 3000  # the pooled fit of five long runs took 899 to converge (600 stopped short)
N_REFINED = 3


def _grid_starts(loss, value, E_fixed):
    """The best (E, p, v0, c) of a grid: v0 and c are linear for fixed (E, p), so each grid
    point is a closed-form least-squares line in gap^p (variable projection, as for the
    Chinchilla form); the N_REFINED best seed lmfit."""
    span = float(np.ptp(loss)) or 1.0
    if E_fixed is not None:
        e_grid = [E_fixed]
    else:  # E_FLOOR where the grid would go below it (the fit's bound)
        below = loss.min() - span * np.logspace(-3, 1.5, 28)
        e_grid = list(below[below >= E_FLOOR]) + ([E_FLOOR] if (below < E_FLOOR).any() else [])
    p_grid = np.array([p for p in np.linspace(*P_BOUND, 41) if abs(p) > 1e-9])
    y = value - value.mean()
    syy = float(y @ y)
    scored = []
    for e0 in e_grid:
        gap = loss - e0
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            x = gap[:, None] ** p_grid[None, :]
        # the profile's lines, on the transposed view: the same sums, in the same order, as on x
        rss, c, x_mean = least_squares_lines(x.T, y, syy)
        for j in np.flatnonzero(np.isfinite(rss) & np.isfinite(c)):
            scored.append((float(rss[j]), float(e0), float(p_grid[j]),
                           float(value.mean() - c[j] * x_mean[j]), float(c[j])))
    scored.sort(key=lambda t: t[0])
    return [t[1:] for t in scored[:N_REFINED]]


def least_squares_lines(x: np.ndarray, y: np.ndarray, syy: float):
    """(RSS, slope c, mean of x) of the least-squares line y ~ v0 + c x along the last axis of x
    (y centred, syy its sum of squares): v0 and c are linear for fixed (E, p), so the grid starts
    and the profile solve them in closed form (variable projection; v0 = mean(value) - c mean(x)).
    A row that does not vary leaves RSS = syy and a slope that is not finite; one that overflows
    leaves RSS inf."""
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        x_mean = x.mean(axis=-1, keepdims=True)
        xc = x - x_mean
        sxx = np.einsum("...j,...j->...", xc, xc)
        sxy = xc @ y
        rss = np.where(sxx > 0, syy - sxy * sxy / sxx, syy)
        slope = sxy / sxx
    return np.where(np.isfinite(rss), np.maximum(rss, 0.0), np.inf), slope, x_mean[..., 0]


def fit_stat_vs_loss(loss, value, *, E: float | None = None, label: str = "") -> FitResult:
    """Fit value = v0 + c (L - E)^p by least squares (E fitted in [E_FLOOR, min L) unless given,
    then checked as a given --E is: checked_E)."""
    loss = np.asarray(loss, dtype=float)
    value = np.asarray(value, dtype=float)
    positive_losses(pd.DataFrame({"loss": loss}), label or "trajectory", "loss", value="loss")
    ok = np.isfinite(loss) & np.isfinite(value)
    loss, value = loss[ok], value[ok]
    if len(loss) < MIN_POINTS:
        raise InputError(f"{label or 'trajectory'}: {len(loss)} points; the stat-vs-loss fit needs "
                         f"{MIN_POINTS}")
    if np.ptp(loss) == 0:
        raise InputError(f"{label or 'trajectory'}: {same_loss_message(loss[0])}")
    E = checked_E(E, loss)
    model = lmfit.Model(stat_power_law, independent_vars=["L"])

    def start(e0, p0, v0, c0):
        return start_params(model, loss, e0, p0, v0, c0, vary_E=E is None)

    def refine(params):
        try:
            return model.fit(value, params, L=loss, nan_policy="omit", max_nfev=REFINE_MAX_NFEV)
        except (ValueError, TypeError):
            return None

    starts = _grid_starts(loss, value, E)
    # lmfit's search from every start, replayed at half its cost a call (a start that wanders
    # toward a flat curve runs all REFINE_MAX_NFEV calls); lmfit then refits only the start that
    # ends lowest, the one its loop over every start kept (the first of equals)
    ends = [_replayed_chisqr(start(*s), loss, value) for s in starts]
    finite = [i for i, chisqr in enumerate(ends) if np.isfinite(chisqr)]
    lowest = min(finite, key=ends.__getitem__) if finite else None
    best = refine(start(*starts[lowest])) if finite else None
    if finite and (best is None or best.chisqr != ends[lowest]):
        best = None  # the replay and lmfit parted ways (another lmfit?): lmfit from every start
        for s in starts:
            result = refine(start(*s))
            if result is not None and np.isfinite(result.chisqr) and (best is None or result.chisqr < best.chisqr):
                best = result
    if best is None:
        raise InputError(f"{label or 'trajectory'}: the stat-vs-loss power law did not fit")
    settle_covariance(best)
    params = {name: ParamEstimate(par.value, par.stderr if par.stderr is not None else np.nan,
                                  _ci_from_stderr(par))
              for name, par in best.params.items()}
    if np.ptp(value) == 0:  # c = 0: E and p are arbitrary, so where they stopped says nothing
        warnings = [f"{CONSTANT} ({value[0]:.6g}) over these checkpoints: no curve to fit"]
    else:
        warnings = [E_AT_FLOOR if w == "parameter E is at its lower bound" else w
                    for w in bound_warnings(best.params, data_limits=("E",))]  # E < every loss
        if not best.success:
            warnings.append(f"did not converge in {REFINE_MAX_NFEV} evaluations ({best.message}): "
                            "its parameters are not the optimum")
    return FitResult(law="value = v0 + c (L - E)^p", params=params, n_points=len(loss),
                     objective=float(best.chisqr), converged=bool(best.success), warnings=warnings,
                     extra={"r_squared": r_squared(value, value - best.residual), "label": label},
                     model_result=best)


def start_params(model: lmfit.Model, loss: np.ndarray, e0, p0, v0, c0, *, vary_E: bool = True):
    """fit_stat_vs_loss's lmfit Parameters from one start: E_FLOOR <= E < every loss, p within
    P_BOUND."""
    params = model.make_params(v0=v0, c=c0, E=e0, p=p0)
    params["E"].set(min=E_FLOOR, max=float(loss.min()) - 1e-9, vary=vary_E)
    params["p"].set(min=P_BOUND[0], max=P_BOUND[1])
    return params


class _Aborted(Exception):
    """lmfit's leastsq stops a fit here: one call past its max_nfev."""


def _replayed_chisqr(params, loss, value, max_nfev: int = REFINE_MAX_NFEV) -> float:
    """The chi-square at which lmfit's leastsq (Model.fit, nan_policy "omit") ends from these
    Parameters, from the same MINPACK calls on the same numbers (lmfit's bounds transform and
    clipping, its leastsq options, its stop after max_nfev calls at the last point tried), without
    lmfit's bookkeeping of each call (as costly as the model); inf where lmfit would raise.
    fit_stat_vs_loss compares it with lmfit's own end, and falls back to lmfit on any difference."""
    names = [n for n, par in params.items() if par.vary]
    x0 = np.array([params[n].setup_bounds() for n in names])
    kwargs = {n: par.value for n, par in params.items() if not par.vary}
    varied = [(n, params[n].from_internal, params[n].min, params[n].max) for n in names]
    calls, last = [0], [x0]
    limit = max_nfev + 2  # lmfit counts from -2: scipy's check of the start is one of them

    def residual(fvars):
        calls[0] += 1
        last[0] = fvars
        if calls[0] > limit:
            raise _Aborted
        for (name, from_internal, lo, hi), internal in zip(varied, fvars):
            v = float(from_internal(internal))
            kwargs[name] = hi if v > hi else lo if v < lo else v
        # stat_power_law's numbers (the errstate is the caller's)
        r = value - _power_of_gap(loss - kwargs["E"], kwargs["v0"], kwargs["c"], kwargs["p"])
        return r if np.isfinite(r).all() else lmfit.minimizer.coerce_float64(r, nan_policy="omit")

    with np.errstate(all="ignore"):
        try:
            end = scipy_optimize.leastsq(residual, x0, Dfun=None, full_output=1, col_deriv=0,
                                         ftol=1.5e-8, xtol=1.5e-8, gtol=0.0, maxfev=2 * max_nfev,
                                         epsfcn=1e-10, factor=100, diag=None)[0]
        except _Aborted:
            end = last[0]
        except (ValueError, TypeError):
            return float("inf")
        calls[0] = -np.inf  # lmfit's residual at the end point is not counted against max_nfev
        r = residual(end)
    return float(max((r ** 2).sum(), 1e-250 * len(r)))


def r_squared(y, fitted) -> float:
    """1 - RSS/TSS; NaN for a constant y, where there is no variance to explain (not a perfect fit)."""
    y = np.asarray(y, dtype=float)
    tss = float(np.sum((y - y.mean()) ** 2))
    return 1 - float(np.sum((y - np.asarray(fitted, dtype=float)) ** 2)) / tss if tss > 0 else float("nan")


def _ci_from_stderr(par) -> tuple[float, float]:
    if par.stderr is None or not np.isfinite(par.stderr):
        return (float("nan"), float("nan"))
    return within_bounds(par.value - 1.96 * par.stderr, par.value + 1.96 * par.stderr, par)


def within_bounds(lo: float, hi: float, par) -> tuple[float, float]:
    """A Wald interval cut at the lmfit parameter's bounds: E's [-70, 73] printed a floor below
    0 for a loss floor that cannot be negative, p's [-111, 101] a power past |p| <= 5 that the
    fit never tried. Where it is cut, the interval is the fit's uncertainty reaching the bound,
    not a coverage statement (the parameter is not identified: its warning says so)."""
    low = -np.inf if par is None or par.min is None else par.min
    high = np.inf if par is None or par.max is None else par.max
    return (float(max(lo, low)), float(min(hi, high)))


def isotonic_fit(x, y) -> tuple[np.ndarray, float]:
    """Monotone least-squares fit of y on x (pool adjacent violators), direction by Spearman.

    Returns (fitted values in the input order, R^2).
    """
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    order = np.argsort(x, kind="stable")
    varies = np.ptp(x) > 0 and np.ptp(y) > 0
    sign = 1.0 if not varies or scipy_stats.spearmanr(x, y).statistic >= 0 else -1.0
    ys = sign * y[order]
    blocks = [[v, 1.0] for v in ys]  # [mean, weight]
    merged = []
    for block in blocks:
        merged.append(block)
        while len(merged) > 1 and merged[-2][0] > merged[-1][0]:
            v2, w2 = merged.pop()
            v1, w1 = merged.pop()
            merged.append([(v1 * w1 + v2 * w2) / (w1 + w2), w1 + w2])
    fitted_sorted = np.concatenate([[v] * int(w) for v, w in merged]) * sign
    fitted = np.empty_like(fitted_sorted)
    fitted[order] = fitted_sorted
    return fitted, r_squared(y, fitted)


def checked_E(E, loss) -> float | None:
    """A fixed irreducible loss ``E`` for ``stat_power_law``, or None to fit it: refused unless
    in [E_FLOOR, every loss), the range the fit searches: (L - E)^p needs E < every loss, and a
    cross-entropy's floor is never below 0."""
    if E is None:
        return None
    E = irreducible_loss(named("E"), E)  # a floor of a cross-entropy is never below 0
    loss = pd.Series(loss, dtype=float)
    lowest = loss.min()
    if not E < lowest:
        raise InputError(f"{named('E')}: {E:g} is not below the smallest loss in the data "
                         f"({lowest:.4g}); (L - E)^p needs E < every loss (leave {named('E')} out "
                         "to fit it)")
    return E


def same_loss_message(loss: float) -> str:
    """Why a statistic cannot be fitted against a loss that never changes."""
    return (f"the loss is {loss:.6g} at every checkpoint; value = v0 + c (L - E)^p needs losses that "
            "differ (is it the loss measured at each checkpoint?)")

"""Loss-to-accuracy laws: fit downstream accuracy (or error) as a function of a loss.

- Sigmoid, OLMo model ladder step 2 (Bhagia et al. 2024): acc = a / (1 + exp(-k (L - L0))) + b,
  a and b each in [0, 1]; a fit whose upper asymptote a + b passes 1 says so (``BOUNDS``).
- Exponential, Gadre et al. 2024: err = eps - k exp(-gamma L), eps (the error as L -> inf) in
  [0, 1] (``BOUNDS``).
Both are fitted by least squares on the accuracy (error) itself, as the two papers do (scipy
curve_fit there; lmfit here), from several starts; the bootstrap keeps the points and redraws
their residuals (wild bootstrap), or resamples whole units (models) when given.
The chained prediction (N, D) -> task loss -> accuracy composes a law fit with one of these.
"""
from __future__ import annotations

import copy

import lmfit
import numpy as np
import pandas as pd
from scipy.optimize import least_squares

from scalefit.errors import InputError
from scalefit.options import bootstrap_count, nonnegative_int, one_of
from scalefit.scaling.fitresult import FitResult, ParamEstimate, bound_warnings, settle_covariance
from scalefit.scaling.laws.bootstrap import (lmfit_limit_kept, point_columns, stacked_differences,
                                             stacked_lmfit_jacobian)
from scalefit.scaling.relations import forms as relation_forms
from scalefit.scaling.relations.intervals import (SCATTER_KEYS, prediction_scatter, small_sample_scale,
                                                  student_t_widening)
from scalefit.scaling.relations.resampling import (attach_draws, leverages,
                                                   unit_bootstrap, wild_bootstrap)

ACCURACY_LAWS = {
    "sigmoid": (relation_forms.sigmoid_accuracy, ("a", "k", "L0", "b")),
    "exponential-error": (relation_forms.exponential_error, ("eps", "k", "gamma")),
}

MIN_POINTS = 5  # the fewest (loss, accuracy) points an accuracy law is fitted to


def _sigmoid_starts(L, acc):
    lo, hi = float(np.min(acc)), float(np.max(acc))
    span = max(hi - lo, 1e-3)
    scale = 1.0 / max(np.std(L), 1e-6)
    sign = -1.0 if np.corrcoef(L, acc)[0, 1] <= 0 else 1.0  # accuracy falls as loss rises
    for k in (1.0, 3.0, 10.0):
        for q in (0.25, 0.5, 0.75):
            yield {"a": min(2 * span, 1.0), "k": sign * k * scale,
                   "L0": float(np.quantile(L, q)), "b": lo}


def _exponential_starts(L, err):
    for gamma in (0.3, 1.0, 3.0):
        z = np.exp(-gamma * L)
        A = np.vstack([np.ones_like(z), -z]).T
        eps, k = np.linalg.lstsq(A, err, rcond=None)[0]
        yield {"eps": float(eps), "k": float(k), "gamma": gamma}


# Bounds of each law's parameters. The sigmoid's a (amplitude) and b (floor) are each fractions
# of the examples; their sum, the upper asymptote, is left free: bounding a + b by 1 made the fit
# bend inside the data, and on Pythia's LAMBADA -> task fits its held-out predictions worse
# (piqa 1.56% -> 2.25% mean error, sciq's intervals holding 85% -> 39% of held-out checkpoints).
# A fit whose a + b passes 1 says so (``_ceiling_warning``); a prediction there is refused.
# The exponential-error law's eps is its error as L -> inf (a model that has learned nothing:
# chance error, at most 1), a fraction in [0, 1]; unbounded, the curve passed 1 at high loss.
# The bound changed no held-out prediction on real data (bench/calibration_table.py --rows gadre,
# 4 cuts, 200 resamples: the same coverage and errors to 1e-6; fitted to all of each dataset's
# runs, eps is 0.84-0.86 and no resample leaves [0, 1]). With the error law fitted to 1 - accuracy
# of the OLMo ladder's 7 tasks, coverage moved by at most 0.2 points and errors by less; of
# Pythia's 4 tasks (a poor fit there: median errors 8-115%), coverage rose (sciq 35% -> 67%).
BOUNDS = {
    "sigmoid": {"a": (0.0, 1.0), "k": (-1e3, 1e3), "L0": (-np.inf, np.inf), "b": (0.0, 1.0)},
    "exponential-error": {"eps": (0.0, 1.0), "k": (-np.inf, np.inf), "gamma": (1e-4, 50.0)},
}


def _ceiling_warning(law: str, values: dict) -> list[str]:
    """A sentence when the fitted sigmoid's upper asymptote a + b passes 100%."""
    if law != "sigmoid" or values["a"] + values["b"] <= 1:
        return []
    return [f"a + b = {values['a'] + values['b']:.3f}: the fitted curve's upper asymptote passes "
            "100%; the sigmoid describes these points, not the task's ceiling (a prediction where "
            "the curve passes 1 is refused)"]


def _floats(values, what: str, name: str) -> np.ndarray:
    """``values`` as a float array, or an InputError naming the argument."""
    try:
        return np.asarray(values, float)
    except (TypeError, ValueError):
        raise InputError(f"{what}: {name} holds something that is not a number; give numbers "
                         "(a list, an array or a Series)") from None


def check_fractions(y, where) -> None:
    """The accuracy laws' range check: y (an accuracy or error) holds fractions in [0, 1]; a
    missing value (NaN) passes (it is left out). The first value outside is an InputError at
    ``where(i)`` (its point, or its file, column and run)."""
    y = np.asarray(y, float)
    outside = np.flatnonzero((y < 0) | (y > 1))
    if outside.size:
        i = int(outside[0])
        raise InputError(f"{where(i)}: {y[i]:g} is not a fraction in [0, 1] ({outside.size} such "
                         "values); an accuracy law takes y as a fraction (an accuracy or error, "
                         "not a percentage)")


def _paired_by_label(L, y, units, what):
    """L and y (and units) paired by index label where both are Series, as pandas pairs them: a
    y in another row order was paired by position and fitted without a word (a = 0.254, k = 81
    for a = 0.7, k = -2). Labels that differ are an InputError."""
    if not (isinstance(L, pd.Series) and isinstance(y, pd.Series)) or L.index.equals(y.index):
        return L, y, units
    if not (L.index.is_unique and y.index.is_unique and set(L.index) == set(y.index)):
        raise InputError(f"{what}: L and y are Series whose index labels differ; pair them first "
                         "(e.g. pd.concat([L, y], axis=1, join='inner')) or pass arrays")
    if isinstance(units, pd.Series) and set(units.index) == set(L.index):
        units = units.reindex(L.index)
    return L, y.reindex(L.index), units


def _check(L, y, what, units=None):
    L, y, units = _paired_by_label(L, y, units, what)
    L = np.atleast_1d(_floats(L, what, "L"))
    y = np.atleast_1d(_floats(y, what, "y"))
    sizes = {"L": L.size, "y": y.size}
    if units is not None:
        units = np.atleast_1d(np.asarray(units))
        sizes["units"] = units.size
    if len(set(sizes.values())) > 1:
        raise InputError(f"{what}: " + ", ".join(f"{k} has {n}" for k, n in sizes.items())
                         + " values; give one of each per point")
    infinite = np.flatnonzero(np.isinf(L) | np.isinf(y))
    if infinite.size:  # a missing point (NaN) is left out; an infinite one is a broken measurement
        i = int(infinite[0])
        raise InputError(f"{what}: point {i + 1}: L = {L[i]:g}, y = {y[i]:g} is not finite; give "
                         "finite numbers (NaN where a point is missing: it is left out)")
    negative = np.flatnonzero(L < 0)
    if negative.size:  # a cross-entropy in nats is >= 0 (pair_losses refuses one too)
        i = int(negative[0])
        raise InputError(f"{what}: point {i + 1}: L = {L[i]:g} is negative; L is a loss in "
                         "nats per token, 0 or more")
    ok = np.isfinite(L) & np.isfinite(y)
    check_fractions(np.where(ok, y, np.nan), lambda i: f"{what}: point {i + 1}")
    L, y = L[ok], y[ok]
    units = None if units is None else units[ok]
    if L.size < MIN_POINTS:
        raise InputError(f"{what}: {L.size} usable points; need at least {MIN_POINTS}")
    return L, y, units, int(ok.size - ok.sum())


def _left_out_note(n_missing: int, n_fitted: int) -> list[str]:
    """What a fit says of the points it left out (L or y missing): 7 points in, 6 fitted, unsaid."""
    if not n_missing:
        return []
    return [f"{n_missing} of {n_missing + n_fitted} points left out: L or y is missing (NaN); "
            f"fitted to {n_fitted}"]


def fit_accuracy(L, y, law: str = "sigmoid", *, n_bootstrap: int = 1000, seed: int = 0,
                 progress: bool = False, units=None) -> FitResult:
    """Fit accuracy (sigmoid) or error (exponential-error) against loss L; least squares, with
    ``n_bootstrap`` resamples for the intervals (1000 as `scalefit predict downstream` takes; 0:
    a point fit). A point whose L or y is missing (NaN) is left out, and a warning says how many.
    ``L``: losses in nats (per token), array-like; ``y``: the same number of fractions in
    [0, 1] (an accuracy for 'sigmoid', an error rate for 'exponential-error'; 0.62, not 62%).
    ``law``: 'sigmoid' or 'exponential-error', any case. ``units``: a label per point (below).

    The bootstrap is a wild one (``resampling.wild_bootstrap``: the points kept, the fitted
    curve plus each residual blown up by its leverage times a random sign); whole ``units`` of
    several points are resampled as pairs when given (the models of a checkpoint table: their
    checkpoints are not independent draws; units of one point each, the runs of a run table, are
    points). ``components["residuals"]`` (with ``scatter_power``, ``residual_sd``,
    ``residual_dof``: ``intervals.prediction_scatter`` by ``PREDICTION_SCATTER``) is the scatter
    a prediction interval adds,
    ``components["draw_scale"]`` the widening of the curve's draws: HC1 / CR1
    (``intervals.small_sample_scale``), times Student's t on n - p degrees of freedom
    (``intervals.student_t_widening``) for the wild bootstrap. On fits with known truth
    (bench/bench_relation_intervals.py, the same fits scored both ways) the sigmoid's curve
    interval covered 92.6-93.8% at 40 points of a 500-item task with the pairs bootstrap and HC1,
    94.9-96.8% wild (800 fits per cell); at 15 points 92.5-95.2% and 93.6-96.6%. Below the data
    the pairs bootstrap missed mostly where a ended on its bound 1 (there 74-81% at 40 points;
    wild 95-99%). The exponential-error law's (600 fits per cell, shaped like Gadre's runs):
    at 15 points 92.0-96.5% pairs, 95.2-97.3% wild; at 40 points of a 2000-item task 91.3-93.8%
    pairs, 92.3-95.2% wild (92.3-92.8% below the data; 93.0-93.7% over 900 fits with 300 fresh
    ones, the misses where the fitted gamma is far from the truth). """
    law = one_of("law", law, ACCURACY_LAWS)  # 'Sigmoid' was refused, 'sigmod' without a 'did you mean'
    func, names = ACCURACY_LAWS[law]
    n_bootstrap = bootstrap_count("n_bootstrap (--bootstrap)", n_bootstrap)
    seed = nonnegative_int("seed (--seed)", seed)
    L, y, units, n_missing = _check(L, y, law, units)
    model = lmfit.Model(func, independent_vars=["L"])
    starts = _sigmoid_starts(L, y) if law == "sigmoid" else _exponential_starts(L, y)
    best = None
    for start in starts:
        params = model.make_params(**start)
        for name, (lo, hi) in BOUNDS[law].items():
            params[name].set(min=lo, max=hi, value=float(np.clip(start[name], lo, hi)))
        def fit(stacked, params=params):
            with np.errstate(over="ignore"):
                return model.fit(y, params, L=L, method="least_squares", fit_kws=stacked)

        res = lmfit_limit_kept(fit, stacked_lmfit_jacobian(model, params, y, {"L": L}), params)
        if best is None or res.chisqr < best.chisqr:
            best = res
    settle_covariance(best)
    est = {n: ParamEstimate(float(best.params[n].value),
                            float(best.params[n].stderr) if best.params[n].stderr
                            else float("nan")) for n in names}
    warnings = (_left_out_note(n_missing, L.size) + bound_warnings(best.params)
                + _ceiling_warning(law, {n: e.value for n, e in est.items()}))
    if L.size < 3 * len(names):
        warnings.append(f"too few points: {L.size} for {len(names)} parameters")
    if not best.success:  # every start stopped at lmfit's limit: where the search stopped, as the laws say
        warnings.append(f"optimizer did not converge: {best.message}")
    if law == "exponential-error" and est["k"].value < 0:  # an accuracy passed as y fits this way
        warnings.append("k < 0: the fitted error rises as the loss falls; the exponential-error "
                        "law takes an error rate (1 - accuracy), is y an accuracy?")
    resid = np.asarray(best.residual)
    result = FitResult(law, est, n_points=int(L.size), objective=float(resid @ resid),
                       converged=bool(best.success), warnings=warnings,
                       extra={"rmse": float(np.sqrt(np.mean(resid ** 2))),
                              "method": "least squares on the "
                                        + ("error" if law == "exponential-error" else "accuracy")
                                        + " scale"},
                       model_result=best)
    n_units = None if units is None else len(np.unique(np.asarray(units).astype(str)))
    if n_units == L.size:  # every point its own unit (a run table's runs): points' bootstrap
        units = n_units = None
    # an observation's scatter: PREDICTION_SCATTER for independent points; whole models
    # (checkpoints of one run: not binomial scatter about the curve) keep the pooled residuals
    scatter = PREDICTION_SCATTER if units is None else PREDICTION_SCATTER_UNITS
    result.components.update(scatter_components(result, L, y, scatter))
    result.components["seed"] = seed
    if n_bootstrap > 0:
        draws, failed = _bootstrap(func, names, law, L, y, result.values(), n_bootstrap, seed,
                                   progress, units)
        attach_draws(result, draws, failed, n_bootstrap)
        no_interval_at_bound(result)
        # the curve's and an observation's intervals: the draws widened by HC1 / CR1, and for
        # the wild bootstrap also by Student's t on the fit's n - p degrees of freedom
        scale = small_sample_scale(L.size, len(names), n_units)
        if _wild(law, units):
            scale *= student_t_widening(L.size - len(names))
            result.extra["bootstrap"]["resampled"] = "wild (points kept, residuals redrawn)"
        result.components["draw_scale"] = scale
        result.extra["bootstrap"]["small_sample_scale"] = scale
        if units is not None:
            result.extra["bootstrap"]["resampled"] = "whole models (their checkpoints together)"
    return result


def no_interval_at_bound(result: FitResult) -> FitResult:
    """A parameter the fit left on a bound and every resample too has no interval and no
    stderr: its 'interval' [0.999999999999398, 1] and stderr 3.9e-13 (the fit's curvature 0.33)
    were the bound's, not an estimate's. Such parameters keep their value with stderr, stderr_fit
    and ci95 NaN (null in JSON, '-' in tables), ``extra["no_interval"]`` {name: why} saying so;
    in place. A parameter on a bound that some resamples leave keeps the interval they give."""
    from scalefit.scaling.laws.identifiability import bound_status
    if not result.draws:
        return result
    for name, p in list(result.params.items()):
        status = bound_status(name, result.warnings)
        lo, hi = (float(v) for v in p.ci95)
        if status and np.isfinite(lo) and np.isfinite(hi) and hi - lo <= 1e-9 * max(1.0, abs(hi)):
            result.params[name] = ParamEstimate(p.value)
            result.extra.setdefault("no_interval", {})[name] = f"{status} in the fit and in every resample"
    return result


# How fit_accuracy resamples each law's points where every point is its own unit: "wild" (refit
# the fitted curve plus each point's leverage-adjusted residual times a random sign;
# ``resampling.wild_bootstrap``; its draws also widened by Student's t) or "pairs" (points with
# replacement, HC1 only; each law's method before the wild bootstrap, kept so that
# bench/bench_relation_intervals.py and bench/calibration_table.py can score both on the same
# fits). Whole units of several points (``units``) are always resampled as pairs (the cluster
# bootstrap).
POINT_BOOTSTRAP = {"sigmoid": "wild", "exponential-error": "wild"}


# The scatter a prediction interval (pi95) adds to each draw's curve
# (``intervals.prediction_scatter``): "vf+tdist+many" = residuals over (mu (1 - mu))^s, s fitted
# in [0, 1] (0: constant scatter, 1/2: binomial), their rms on n - p degrees of freedom times a
# Student's t_{n-p} draw rescaled at each draw's mu, 20 per curve draw. On known truth
# (bench_relation_intervals --pi-variants, 300 fresh fits per cell) it covered 94.3-97.5% at
# every L of the four cells, where "pooled" (resampled residuals x sqrt(n / (n - p)), before)
# covered 91.5-97.2% (91.5 inside the 40 binomial errors); paired +0.3 to +2.8 points, width
# +2 to +12%.
PREDICTION_SCATTER = "vf+tdist+many"
# Fits that resample whole units (a checkpoint table's models) keep "pooled": no known-truth cell
# measures them, and on Pythia's table (calibration_table --rows pythia) the new scatter moved
# coverage at 1-2x by -4.6 to +9.1 points per task (sciq 95.5 -> 90.9%, at 2-4x 95.3 -> 84.4%).
PREDICTION_SCATTER_UNITS = "pooled"


def scatter_components(result: FitResult, L, y, method: str) -> dict:
    """The components a prediction interval draws a new observation's scatter from, by ``method``
    (``intervals.prediction_scatter``), for the accuracy fit ``result`` to (L, y)."""
    func, names = ACCURACY_LAWS[result.law]
    theta = [result.value(n) for n in names]
    with np.errstate(over="ignore"):
        fitted = func(np.asarray(L, float), *theta)
    lev = leverages(func, L, theta) if "lev" in method else None
    return prediction_scatter(fitted, np.asarray(y, float) - fitted, len(names), method, lev)


def with_prediction_scatter(result: FitResult, L, y, method: str) -> FitResult:
    """A copy of the accuracy fit ``result`` (same draws and seed) whose prediction interval draws
    its scatter by ``method``: to compare scatter models on one fit."""
    out = copy.copy(result)
    out.components = {k: v for k, v in result.components.items() if k not in SCATTER_KEYS}
    out.components.update(scatter_components(result, L, y, method))
    return out


def _wild(law: str, units) -> bool:
    return units is None and POINT_BOOTSTRAP.get(law) == "wild"


def _bootstrap(func, names, law, L, y, values, n, seed, progress=False, units=None):
    """Wild bootstrap of the points (``_wild``), else pairs of points or of whole units: refit
    each resample by least squares, warm-started at the fit."""
    lo = np.array([BOUNDS[law][k][0] for k in names], float)
    hi = np.array([BOUNDS[law][k][1] for k in names], float)
    theta0 = np.clip(np.array([values[k] for k in names]), lo, hi)

    def refit_to(Lb, yb):
        def rows(X):  # the Jacobian's shifted points at once (``stacked_differences``)
            return func(Lb, *point_columns(X)) - yb

        with np.errstate(over="ignore"):
            ret = least_squares(lambda t: func(Lb, *t) - yb, theta0, bounds=(lo, hi),
                                **stacked_differences(rows))
        return dict(zip(names, ret.x)) if ret.status > 0 else None

    if _wild(law, units):
        with np.errstate(over="ignore"):
            fitted = func(L, *theta0)
        return wild_bootstrap(fitted, y - fitted, leverages(func, L, theta0), n, seed,
                              lambda y_star: refit_to(L, y_star), names, progress=progress)
    return unit_bootstrap(L.size, units, n, seed, lambda idx: refit_to(L[idx], y[idx]), names,
                          progress=progress)


def predict_accuracy(result: FitResult, L):
    """Accuracy (sigmoid) or error (exponential-error) predicted at loss L."""
    func, names = ACCURACY_LAWS[result.law]
    v = result.values()
    return func(L, *(v[n] for n in names))


def accuracy_with_ci(result: FitResult, L: float) -> dict:
    """{"value", "ci95", "pi95"} at loss L: the curve's interval and an observed value's
    (``relations.intervals``), from the bootstrap draws, if any."""
    from scalefit.scaling.relations.intervals import interval_at
    return interval_at(result, L)


def chained_accuracy(loss_fit: FitResult, acc_fit: FitResult, N, D):
    """(N, D) -> task loss (a fitted scaling law) -> accuracy (a fitted accuracy law)."""
    from scalefit.scaling.laws.fit import predict
    task_loss = predict(loss_fit, N, D)
    return task_loss, predict_accuracy(acc_fit, task_loss)

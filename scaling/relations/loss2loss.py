"""Loss-to-loss prediction (Brandfonbrener et al. 2024, arXiv:2411.12925): L_y = K (L_x - E_x)^kappa + E_y.

How the paper fits it (KempnerInstitute/loss-to-loss-notebooks, reproduced exactly on its data):
E_x and E_y are the irreducible terms of per-dataset Kaplan L(N, D) + E fits (``fit_law(...,
"kaplan-nde")``: Huber on log residuals, delta 1e-3); with E fixed the relation is a straight line
in log space, log(L_y - E_y) = log K + kappa log(L_x - E_x), fitted by ordinary least squares.
That is ``method="ols"`` (default). ``method="huber"`` fits the same line with a Huber loss;
``e_source="fit"`` frees E_x and E_y too (log-space least squares on L_y). The bootstrap resamples
runs and refits both Kaplan laws in each resample (``relations.joint_bootstrap``), so the
intervals carry E's uncertainty; with E held fixed kappa's 95% interval was several times too
narrow (it covered the truth 68% of the time on synthetic data; 99% with E refitted).

The pairs come from ``relations.loss_pairs``.
"""
from __future__ import annotations

import lmfit
import numpy as np
import pandas as pd
from scipy.optimize import least_squares

from scalefit.errors import InputError
from scalefit.options import irreducible_loss, one_of
from scalefit.scaling.fitresult import FitResult, ParamEstimate, bound_warnings, settle_covariance
from scalefit.scaling.flags import named
from scalefit.scaling.objective import HUBER_DELTA
from scalefit.scaling.relations import forms as relation_forms
from scalefit.scaling.relations.intervals import observed_residuals
from scalefit.scaling.relations.loss_pairs import RUN_KEYS, LossPairs
from scalefit.scaling.relations.resampling import UNIT, attach_draws, unit_bootstrap
from scalefit.scaling.resample import resample_indices

E_SOURCES = ("kaplan", "given", "fit")
METHODS = ("ols", "huber")


# --- irreducible losses ---------------------------------------------------------------------

def kaplan_fit(runs: pd.DataFrame, *, n_bootstrap: int = 0, seed: int = 0,
               source: str = "<table>", column: str = "loss") -> FitResult:
    """Kaplan L(N, D) + E fitted to one distribution's runs: the source of E_x or E_y.

    Runs at D = 0 (step-0 checkpoints) and runs without params or tokens are left out, with a
    note; ``components["runs"]`` holds the runs fitted (what a bootstrap resamples).
    ``column``: the table's name of the runs' loss, for the run-table check's messages.
    """
    from scalefit.scaling.laws.fit import fit_law
    from scalefit.scaling.laws.runtable import validate_runs
    for key in RUN_KEYS:
        if key not in runs.columns:
            raise InputError(f"{source}: column '{key}' is missing: E from a Kaplan fit needs "
                             "params and tokens (or give E_x, E_y: --e given, or fit them: "
                             "--e fit)")
    usable = (runs["tokens"] > 0) & np.isfinite(runs["params"]) & np.isfinite(runs["tokens"])
    table = runs.loc[usable, ["params", "tokens", "loss"]]
    notes = []
    if (~usable).any():
        notes.append(f"{int((~usable).sum())} runs at D = 0 tokens or without params/tokens "
                     "left out of the Kaplan fit")
    # each row is its own run (the table's index): two runs with equal N, D and loss are two
    # points, not one run repeated, so the run-table check keys on the row
    keyed = table.assign(run=table.index.astype(str))
    if column not in keyed.columns:  # its messages name the column the file calls the loss
        keyed = keyed.rename(columns={"loss": column})
    else:
        column = "loss"
    validate_runs(keyed, "kaplan-nde", loss=column, source=source)  # errors name the file's row
    table = table.reset_index(drop=True)
    key = (table.to_numpy(dtype=np.float64).tobytes(), int((~usable).sum()), n_bootstrap, seed)
    if key not in _KAPLAN_FITS:
        if len(_KAPLAN_FITS) >= _KAPLAN_CACHE_SIZE:
            _KAPLAN_FITS.pop(next(iter(_KAPLAN_FITS)))
        try:
            fit = fit_law(table.assign(run=np.arange(len(table))), "kaplan-nde", loss="loss",
                          n_bootstrap=n_bootstrap, seed=seed)
        except ValueError as err:  # the optimizer left the finite range of the law
            raise InputError(f"{source}: the Kaplan L(N,D)+E fit of E failed ({err}); give "
                             "E_x, E_y (--e given) or fit them with the relation (--e fit)"
                             ) from None
        fit.warnings.extend(notes)
        fit.components["runs"] = table
        _KAPLAN_FITS[key] = fit
    return _KAPLAN_FITS[key]


# One dataset's E serves every pair it enters: a table of 6 datasets has 30 ordered pairs
# but only 6 Kaplan fits. Keyed on the exact (params, tokens, loss) values; results are not
# mutated by callers.
_KAPLAN_FITS: dict = {}
_KAPLAN_CACHE_SIZE = 64


# --- the relation ---------------------------------------------------------------------------

def _line_ols(u, v):
    """Slope and intercept of v on u by least squares, along the last axis (batched)."""
    um = u.mean(axis=-1, keepdims=True)
    vm = v.mean(axis=-1, keepdims=True)
    du = u - um
    slope = (du * (v - vm)).sum(axis=-1) / (du * du).sum(axis=-1)
    return slope, vm[..., 0] - slope * um[..., 0]


def _log_gap(x, y, E_x, E_y):
    gx, gy = x - E_x, y - E_y
    ok = (gx > 0) & (gy > 0)
    return ok, np.log(np.where(ok, gx, 1.0)), np.log(np.where(ok, gy, 1.0))


def _fixed_e_model():
    def log_gap_line(u, log_K, kappa):
        return log_K + kappa * u
    return lmfit.Model(log_gap_line, independent_vars=["u"])


def _free_e_residual(theta, x, log_y):
    log_K, kappa, E_x, E_y = theta
    gap = np.maximum(x - E_x, 1e-12)
    return np.log(np.exp(log_K) * gap ** kappa + E_y) - log_y


def _free_e_start(x, y):
    """Grid over (E_x, E_y) below the data, OLS for (K, kappa): the best starting point."""
    best = None
    for fx in np.linspace(0.0, 0.95, 20):
        for fy in np.linspace(0.0, 0.95, 20):
            E_x, E_y = fx * x.min(), fy * y.min()
            _, u, v = _log_gap(x, y, E_x, E_y)
            kappa, log_K = _line_ols(u, v)
            r = _free_e_residual((log_K, kappa, E_x, E_y), x, np.log(y))
            sse = float(r @ r)
            if best is None or sse < best[0]:
                best = (sse, np.array([log_K, kappa, E_x, E_y]))
    return best[1]


def fit_shifted_power(x, y, *, E_x: float | None = None, E_y: float | None = None,
                      method: str = "ols", delta: float = HUBER_DELTA, n_bootstrap: int = 0,
                      seed: int = 0, progress: bool = False, units=None) -> FitResult:
    """Fit L_y = K (L_x - E_x)^kappa + E_y to paired losses; E given, or fitted when None.

    With E_x and E_y given: lmfit on the line log(y - E_y) = log K + kappa log(x - E_x),
    least squares (method "ols", the paper's) or Huber(delta). With both None: all four
    parameters by least squares on log y. Bootstrap (pairs resampled; whole ``units`` when
    given, e.g. the models of a checkpoint table) gives the ci95 and ``result.draws``
    (per-parameter arrays) for prediction intervals; given E values stay fixed in it. With E
    from per-dataset Kaplan fits, ``fit_loss_to_loss`` refits them in each resample instead.
    """
    x = np.asarray(x, float)
    y = np.asarray(y, float)
    method = one_of(named("method"), method, METHODS)
    if (E_x is None) != (E_y is None):
        raise InputError("give both E_x and E_y, or neither (then both are fitted)")
    warnings: list[str] = []
    free_e = E_x is None
    if free_e:
        result = _fit_free_e(x, y, warnings)
    else:
        ok, u, v = _log_gap(x, y, E_x, E_y)
        if (~ok).any():
            warnings.append(f"{int((~ok).sum())} pairs lie at or below (E_x, E_y) and were "
                            "left out of the fit")
        if ok.sum() < 3:
            raise InputError(f"only {int(ok.sum())} pairs lie above E_x={E_x:.4g}, "
                             f"E_y={E_y:.4g}; need at least 3")
        x, y, u, v = x[ok], y[ok], u[ok], v[ok]
        units = None if units is None else np.asarray(units)[ok]
        result = _fit_fixed_e(u, v, E_x, E_y, method, delta, warnings)
    result.extra.update({"method": method if not free_e else "least-squares (E fitted)",
                         "e_free": free_e})
    pred = relation_forms.shifted_power_law(x, **result.values())
    resid = np.log(y) - np.log(pred)
    result.extra["rmse_log"] = float(np.sqrt(np.mean(resid ** 2)))
    result.extra["max_abs_rel_error"] = float(np.max(np.abs(pred / y - 1)))
    n_free = 4 if free_e else 2
    result.components["residuals"] = observed_residuals(resid, n_free)
    result.components["seed"] = seed
    if n_bootstrap > 0:
        draws, failed = _bootstrap(x, y, result, free_e, method, delta, n_bootstrap, seed,
                                   progress, units)
        attach_draws(result, draws, failed, n_bootstrap,
                     fixed=() if free_e else ("E_x", "E_y"))
        result.extra["bootstrap"]["e_held_fixed"] = not free_e
    return result


def _fit_fixed_e(u, v, E_x, E_y, method, delta, warnings) -> FitResult:
    model = _fixed_e_model()
    params = model.make_params(log_K=0.0, kappa=1.0)
    params.add("K", expr="exp(log_K)")
    slope, icept = _line_ols(u, v)
    params["log_K"].set(value=float(icept))
    params["kappa"].set(value=float(slope))
    if method == "ols":
        res = model.fit(v, params, u=u, method="leastsq")
    else:
        res = model.fit(v, params, u=u, method="least_squares",
                        fit_kws={"loss": "huber", "f_scale": delta})
    settle_covariance(res)
    est = {}
    for name in ("K", "kappa"):
        p = res.params[name]
        est[name] = ParamEstimate(float(p.value), float(p.stderr) if p.stderr else float("nan"))
    est["E_x"] = ParamEstimate(float(E_x))
    est["E_y"] = ParamEstimate(float(E_y))
    r = np.asarray(res.residual)
    ss_tot = float(np.sum((v - v.mean()) ** 2))
    warnings.extend(bound_warnings(res.params))
    if len(u) < 6:
        warnings.append(f"too few points: {len(u)} pairs for 2 parameters")
    return FitResult("shifted-power", est, n_points=len(u), objective=float(r @ r),
                     converged=bool(res.success), warnings=warnings,
                     extra={"r_squared_log": 1 - float(r @ r) / ss_tot if ss_tot > 0 else float("nan")},
                     model_result=res)


def _fit_free_e(x, y, warnings) -> FitResult:
    start = _free_e_start(x, y)

    def log_shifted(x, log_K, kappa, E_x, E_y):
        gap = np.maximum(x - E_x, 1e-12)
        return np.log(np.exp(log_K) * gap ** kappa + E_y)

    model = lmfit.Model(log_shifted, independent_vars=["x"])
    params = model.make_params(log_K=start[0], kappa=start[1], E_x=start[2], E_y=start[3])
    params["kappa"].set(min=1e-3, max=20)
    params["E_x"].set(min=0.0, max=float(x.min()) * (1 - 1e-9))
    params["E_y"].set(min=0.0, max=float(y.min()) * (1 - 1e-9))
    params.add("K", expr="exp(log_K)")
    res = model.fit(np.log(y), params, x=x, method="least_squares")
    settle_covariance(res)
    est = {}
    for name in ("K", "kappa", "E_x", "E_y"):
        p = res.params[name]
        est[name] = ParamEstimate(float(p.value), float(p.stderr) if p.stderr else float("nan"))
    warnings.extend(bound_warnings(res.params, data_limits=("E_x", "E_y")))  # E below every loss
    if len(x) < 12:
        warnings.append(f"too few points: {len(x)} pairs for 4 parameters")
    r = np.asarray(res.residual)
    return FitResult("shifted-power", est, n_points=len(x), objective=float(r @ r),
                     converged=bool(res.success), warnings=warnings, extra={}, model_result=res)


DRAWN = ("K", "kappa", "E_x", "E_y")


def _bootstrap(x, y, result, free_e, method, delta, n, seed, progress=False, units=None):
    """Pairs (or units) bootstrap of the relation; E held at its value unless it is fitted."""
    v0 = result.values()
    if units is None and not free_e and method == "ols":  # closed form, all resamples at once
        idx = resample_indices(len(x), n, seed)
        _, u, v = _log_gap(x, y, v0["E_x"], v0["E_y"])
        with np.errstate(invalid="ignore", divide="ignore"):
            kappa, log_K = _line_ols(u[idx], v[idx])
        draws = {"K": np.exp(log_K), "kappa": kappa,
                 "E_x": np.full(n, v0["E_x"]), "E_y": np.full(n, v0["E_y"])}
        return draws, int((~np.isfinite(kappa)).sum())
    theta0 = np.array([np.log(v0["K"]), v0["kappa"], v0["E_x"], v0["E_y"]])
    def refit(idx):
        xb, yb = x[idx], y[idx]
        try:
            if free_e:
                hi = [np.inf, 20, xb.min() * (1 - 1e-9), yb.min() * (1 - 1e-9)]
                t0 = np.clip(theta0, [-np.inf, 1e-3, 0, 0], np.array(hi) * (1 - 1e-9))
                ret = least_squares(_free_e_residual, t0, args=(xb, np.log(yb)),
                                    bounds=([-np.inf, 1e-3, 0, 0], hi))
                theta = ret.x
            else:
                _, u, v = _log_gap(xb, yb, v0["E_x"], v0["E_y"])
                if method == "ols":
                    line = _line_ols(u, v)
                    if not np.isfinite(line[0]):
                        return None
                    return dict(zip(DRAWN, (np.exp(line[1]), line[0], v0["E_x"], v0["E_y"])))
                ret = least_squares(lambda t: t[0] + t[1] * u - v, theta0[:2], loss="huber",
                                    f_scale=delta)
                theta = np.r_[ret.x, theta0[2:]]
        except ValueError:
            return None
        if ret.status <= 0:
            return None
        return dict(zip(DRAWN, (np.exp(theta[0]), theta[1], theta[2], theta[3])))

    return unit_bootstrap(len(x), units, n, seed, refit, DRAWN, progress=progress)


# --- prediction -----------------------------------------------------------------------------

def predict_y(result: FitResult, x):
    """L_y predicted from L_x by a fitted shifted power law."""
    return relation_forms.shifted_power_law(x, **result.values())


def prediction_with_ci(result: FitResult, x: float) -> dict:
    """{"value", "ci95", "pi95"} of L_y at L_x = x: the curve's interval and the observed
    value's (``relations.intervals``), both from the bootstrap draws, if any."""
    from scalefit.scaling.relations.intervals import interval_at
    return interval_at(result, x)


# --- the whole procedure --------------------------------------------------------------------

def e_source_for(e_source: str | None, E_x=None, E_y=None) -> str:
    """Where E_x and E_y come from: ``e_source`` as given, else 'given' when either is passed and
    'kaplan' (per-dataset Kaplan fits) when neither is. A source that sets E itself ('kaplan',
    'fit') with E passed too is refused: the values passed would be silently ignored; so is one of
    E_x, E_y without the other (and without ``e_source``), naming the one missing."""
    passed = E_x is not None or E_y is not None
    if e_source is None and passed and (E_x is None or E_y is None):  # --e was not given:
        # '--e given needs both --E-x and --E-y' named an option the user never passed
        have, lack = (("E_x", "E_y") if E_y is None else ("E_y", "E_x"))
        raise InputError(f"{named(have)} needs {named(lack)}: give both to fix E (--e given), "
                         "or neither to take E from per-dataset Kaplan fits")
    if e_source is None:
        return "given" if passed else "kaplan"
    e_source = one_of(named("e_source"), e_source, E_SOURCES)
    if passed and e_source != "given":
        raise InputError(f"{named('e_source')} {e_source} sets E_x and E_y itself, so the "
                         "--E-x/--E-y given would be ignored; drop them, or pass --e given to use them")
    return e_source


def check_method(e_source: str | None, method: str) -> None:
    """--method (the log-log line's fit with E fixed) with --e fit, whose one least-squares fit of
    all four parameters ignored it without a word: refused."""
    if e_source == "fit" and method != "ols":
        raise InputError(f"{named('method')} {method}: fits the log-log line with E fixed (--e kaplan or "
                         "--e given); --e fit fits K, kappa, E_x and E_y together by least "
                         "squares (drop --method, or fix E)")


def fit_loss_to_loss(lp: LossPairs, *, e_source: str | None = None, E_x: float | None = None,
                     E_y: float | None = None, method: str = "ols", n_bootstrap: int = 0,
                     seed: int = 0, progress: bool = False, source: str = "<table>") -> FitResult:
    """E from per-dataset Kaplan fits (or given, or fitted: ``e_source_for``), then the relation
    on the pairs.

    With E from Kaplan fits the bootstrap refits both Kaplan laws in every resample
    (``relations.joint_bootstrap``), so the intervals carry E's uncertainty; a Kaplan parameter
    at a bound (E_y = 0 is no estimate) is a warning of the result.
    """
    e_source = e_source_for(e_source, E_x, E_y)
    check_method(e_source, method)
    kaplan = {}
    if e_source == "kaplan":
        for side, runs, label, column in (("x", lp.x_runs, lp.label_x, lp.x),
                                          ("y", lp.y_runs, lp.label_y, lp.y)):
            try:
                kaplan[side] = kaplan_fit(runs, source=source, column=column)
            except InputError as err:  # say which side's runs, and the ways round it
                raise InputError(f"{err} (E_{side} from a Kaplan fit to the {side} side's runs, "
                                 f"{label}; or give --E-x and --E-y, or --e fit)") from None
        E_x, E_y = kaplan["x"].value("E"), kaplan["y"].value("E")
    elif e_source == "given":
        if E_x is None or E_y is None:
            raise InputError(f"{named('e_source')} given needs both {named('E_x')} and {named('E_y')}")
        E_x, E_y = irreducible_loss("E_x (--E-x)", E_x), irreducible_loss("E_y (--E-y)", E_y)
    else:
        E_x = E_y = None
    units = lp.pairs[UNIT].to_numpy() if UNIT in lp.pairs.columns else None
    result = fit_shifted_power(lp.pairs["x"].to_numpy(), lp.pairs["y"].to_numpy(), E_x=E_x,
                               E_y=E_y, method=method, n_bootstrap=0 if kaplan else n_bootstrap,
                               seed=seed, progress=progress, units=units)
    result.extra.update({"pairing": lp.pairing, "x": lp.label_x, "y": lp.label_y,
                         "match": lp.match if lp.pairing != "train-to-test" else "same model",
                         "e_source": e_source})
    if kaplan:
        result.extra["kaplan_fits"] = {side: {"E": r.value("E"), "n_points": r.n_points,
                                              "params": r.values(), "warnings": list(r.warnings)}
                                       for side, r in kaplan.items()}
        result.components["kaplan"] = kaplan
        for side, r in kaplan.items():
            result.warnings.extend(f"Kaplan L(N,D)+E fit of the {side} loss (E_{side}): {w}"
                                   for w in r.warnings)
        if n_bootstrap > 0:
            from scalefit.scaling.relations.joint_bootstrap import bootstrap_with_e
            draws, failed = bootstrap_with_e(lp.pairs, lp.x_runs, lp.y_runs, kaplan,
                                             result.values(), method=method,
                                             n_bootstrap=n_bootstrap, seed=seed,
                                             progress=progress)
            attach_draws(result, draws, failed, n_bootstrap)
            result.extra["bootstrap"]["e_refit"] = "per-dataset Kaplan fits refitted per resample"
    return result

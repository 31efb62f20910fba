"""Intervals of a relation's prediction: for the curve (ci95) and for an observed value (pi95).

The curve's interval comes from the bootstrap draws of the parameters alone: it says where the
law is, not where a new model will land. A new model's observed y also scatters about the law,
as the fitted points did, so the prediction interval adds to each draw's prediction a residual:
for the shifted power law of losses one log residual resampled from the fit (scaled by
sqrt(n / (n - p)) for the parameters fitted; y = y_hat exp(r)); for an accuracy or error law
(y = y_hat + r) what ``prediction_scatter`` stores (``accuracy.PREDICTION_SCATTER``): the
residuals' scale on n - p degrees of freedom over a variance function (mu (1 - mu))^s, s fitted
in [0, 1] (constant to binomial scatter), times Student's t_{n-p} draws rescaled at each draw's
mu, 20 per curve draw (so that the percentiles of B draws, which hold about 94.0% of new values
at B = 200, do not cut the tails). An observation's interval is made to hold the curve's
(``fitresult.observation_interval``). A chained (N, D) -> L_x -> y prediction also carries the
Kaplan law of x: its parameter draws and its own log residuals, drawn into each observation's x
(MANY_RESIDUALS observations per curve draw, whatever the law); an observed x that those put at
or below its draw's E_x (a projection far beyond the data, x near its floor) is an observation
at the floor, y = E_y (``_observed_at_floor``). Where the percentiles of the observations fall
inside the curve's (Monte Carlo noise, the scatter small beside the curve's uncertainty) and
the prediction interval takes the curve's end, ``interval_notes`` says so.

Small samples: the pairs bootstrap of a least-squares fit spreads its draws as the HC0 sandwich
covariance does, which falls short of the sampling variance by about (n - p) / n (each residual
is smaller than its error by its leverage). A fit that says so (``components["draw_scale"]``:
the accuracy laws) has its draws' deviations from the fitted curve widened by that factor
before the percentiles are taken: ``small_sample_scale``, the HC1 (for whole units, CR1)
degrees-of-freedom correction, 1.17 at 15 points, 1.05 at 40; for the accuracy laws' wild
bootstrap (points kept, leverage-adjusted residuals redrawn) also ``student_t_widening``,
t_{n-p} over z (1.12 at 15 points, 1.035 at 40). What each choice covers on known truth is
measured in bench/bench_relation_intervals.py and recorded in bench/README.md ("Relation
intervals" and the sections after it; the accuracy laws' figures also in
``accuracy.fit_accuracy``'s docstring and beside ``accuracy.PREDICTION_SCATTER``). The shape of the
percentile interval (its asymmetry) is kept; the parameters' own ci95 are left as drawn. The
loss-to-loss relation's joint bootstrap (several fits per resample, no one n and p) keeps its
draws as they are: its intervals cover without it (E_y 96.3% of 650 fits at 24 runs).
"""
from __future__ import annotations

import numpy as np

from scalefit.scaling.fitresult import FitResult, observation_interval, percentile_ci
from scalefit.scaling.relations import forms as relation_forms

NAN2 = [float("nan"), float("nan")]
PI_NOTE = ("pi95: where an observed value falls (parameter draws plus the fit's residual "
           "scatter); ci95: the fitted curve's interval")


def pi_note(intervals_over: str | None = None) -> str:
    """PI_NOTE for one prediction: where more than SOME_DRAWS_SHARE of the draws give no value
    there (relation_with_ci's ``intervals_over``, 'the 510 of 1000 draws with a value'), both
    intervals are over the rest,
    as its text label says."""
    if not intervals_over:
        return PI_NOTE
    return (f"pi95: where an observed value falls (parameter draws plus the fit's residual scatter), "
            f"over those draws; ci95: the fitted curve's interval over {intervals_over}")


def observed_residuals(resid, n_free: int) -> np.ndarray:
    """Fit residuals scaled by sqrt(n / (n - p)): the scatter a new observation adds."""
    resid = np.asarray(resid, float)
    resid = resid[np.isfinite(resid)]
    n = resid.size
    return resid * np.sqrt(n / (n - n_free)) if n > n_free else resid


def scatter_basis(mu) -> np.ndarray:
    """mu (1 - mu) of an accuracy or error (a fraction), kept within [1e-4, 0.25]: binomial
    scatter's variance per item, the basis of ``variance_power``."""
    mu = np.clip(np.asarray(mu, float), 0.0, 1.0)
    return np.clip(mu * (1.0 - mu), 1e-4, 0.25)


def variance_power(fitted, resid, grid=np.linspace(0.0, 1.0, 101)) -> float:
    """s in [0, 1] of residual scatter sd proportional to (mu (1 - mu))^s, by maximum likelihood
    (normal errors, the scale profiled out) at the fitted mu: 0 is constant scatter, 1/2 a
    binomial proportion's. The grid's s that maximizes the profile likelihood."""
    g = np.log(scatter_basis(fitted))
    e2 = np.asarray(resid, float) ** 2
    ok = np.isfinite(g) & np.isfinite(e2)
    g, e2 = g[ok], e2[ok]
    if g.size < 3 or np.ptp(g) < 1e-9 or not np.any(e2 > 0):
        return 0.0
    grid = np.asarray(grid, float)
    w = np.exp(-2.0 * np.outer(grid, g))  # 1 / variance shape, per s and point
    nll = 0.5 * g.size * np.log(np.maximum((e2 * w).mean(axis=1), 1e-300)) + grid * g.sum()
    return float(grid[int(np.argmin(nll))])


def standardized_residuals(resid, fitted, n_free: int, power: float = 0.0,
                           leverage=None) -> np.ndarray:
    """Residuals over their scatter's shape (mu (1 - mu))^power, then either over sqrt(1 - h)
    and centred (``leverage`` h given: Davison & Hinkley's prediction residuals) or times
    sqrt(n / (n - p)) (``observed_residuals``); a prediction at mu multiplies a draw of them by
    (mu (1 - mu))^power."""
    resid = np.asarray(resid, float)
    shape = scatter_basis(fitted) ** power if power else np.ones_like(resid)
    z = resid / shape
    if leverage is not None:
        z = z / np.sqrt(1.0 - np.asarray(leverage, float))
        ok = np.isfinite(z)
        return z[ok] - z[ok].mean()
    return observed_residuals(z, n_free)


def prediction_scatter(fitted, resid, n_free: int, method: str = "pooled",
                       leverage=None) -> dict:
    """The components a prediction interval draws an observation's scatter from, by ``method``
    (terms joined by "+"): "pooled", a resampled residual times sqrt(n / (n - p)); "vf",
    residuals over (mu (1 - mu))^s with s fitted (``variance_power``; "qb": s = 1/2), each draw
    rescaled at its own mu; "lev", residuals over sqrt(1 - h), centred (``leverage`` h needed);
    "t", each resampled residual times t_{n-p} / z; "tdist", no resampling: the residuals' root
    mean square on n - p degrees of freedom times a Student's t_{n-p} draw (the classical
    prediction interval's scatter); "many", MANY_RESIDUALS residual draws per curve draw
    (the interval's percentiles then come from that many times the draws: a percentile interval
    of B values holds about (B + 1 - 2 j) / (B + 1) of new values, j = 0.025 B + 1, 94.0% at
    B = 200). {"residuals", "scatter_power", "residual_widening"}, "residual_sd" and
    "residual_dof" for "tdist", "residual_draws_per_curve" for "many"."""
    parts = set(method.split("+"))
    unknown = parts - {"pooled", "vf", "qb", "lev", "t", "tdist", "many"}
    if unknown:
        raise ValueError(f"unknown prediction scatter term(s): {', '.join(sorted(unknown))}")
    fitted = np.asarray(fitted, float)
    resid = np.asarray(resid, float)
    power = (variance_power(fitted, resid) if "vf" in parts
             else 0.5 if "qb" in parts else 0.0)
    pool = standardized_residuals(resid, fitted, n_free, power,
                                  leverage if "lev" in parts else None)
    n = int(np.isfinite(resid).sum())
    out = {"residuals": pool, "scatter_power": power,
           "residual_widening": student_t_widening(n - n_free) if "t" in parts else 1.0}
    if "tdist" in parts and n > n_free:
        out["residual_sd"] = float(np.sqrt(np.mean(pool ** 2)))  # pooled: sum e^2 / (n - p)
        out["residual_dof"] = n - n_free
    if "many" in parts:
        out["residual_draws_per_curve"] = MANY_RESIDUALS
    return out


MANY_RESIDUALS = 20  # residual draws per curve draw for a prediction interval's "many" term
# every component prediction_scatter may set (a fit's scatter is replaced by removing them all)
SCATTER_KEYS = ("residuals", "scatter_power", "residual_widening", "residual_sd",
                "residual_dof", "residual_draws_per_curve")


def small_sample_scale(n_points: int, n_free: int, n_units: int | None = None) -> float:
    """sqrt(G / (G - 1) * (n - 1) / (n - p)): how much wider than its draws a pairs (or units)
    bootstrap of a p-parameter least-squares fit to n points should be; G units were resampled
    (G = n when each point is its own unit, where this is sqrt(n / (n - p)), HC1's factor).
    1 where the fit leaves no degrees of freedom to judge by."""
    n, p = int(n_points), int(n_free)
    g = n if n_units is None else int(n_units)
    if n <= p or g <= 1:
        return 1.0
    return float(np.sqrt(g / (g - 1) * (n - 1) / (n - p)))


def student_t_widening(dof: int, level: float = 0.95) -> float:
    """t_{dof} over the normal quantile at ``level`` (1.035 at 36 degrees of freedom, 1.12 at
    11): a percentile interval whose spread comes from a fit with ``dof`` residual degrees of
    freedom, widened as Student's t widens a z interval. 1 where dof < 1."""
    from scipy.stats import norm, t
    if dof < 1:
        return 1.0
    q = 0.5 + level / 2
    return float(t.ppf(q, dof) / norm.ppf(q))


def _curve(result: FitResult, x, params: dict):
    if result.law == "shifted-power":
        return relation_forms.shifted_power_law(x, params["K"], params["kappa"], params["E_x"],
                                                params["E_y"])
    from scalefit.scaling.relations.accuracy import ACCURACY_LAWS
    func, names = ACCURACY_LAWS[result.law]
    return func(x, *(params[n] for n in names))


def _observed_at_floor(result: FitResult, x_obs, params: dict, curve) -> np.ndarray:
    """Draws whose curve is defined at x but whose observed x (x plus the scatter of the law
    that predicted it) falls at or below their own E_x: that observation has reached the x
    loss's floor, where the shifted power law's y is its limit E_y (kappa > 0). Such draws were
    dropped as undefined (NaN), which took away the observations nearest each draw's floor,
    the prediction interval's low tail (739 of 20,000 observations, 3.7%, at N = 1e9,
    D = 2e10 on the shipped table).
    All False for an accuracy law (defined at every x)."""
    if result.law != "shifted-power":
        return np.zeros(np.shape(curve), bool)
    with np.errstate(invalid="ignore"):
        return np.isfinite(curve) & (x_obs <= params["E_x"]) & (params["kappa"] > 0)


def _with_residual(result: FitResult, y, resid):
    """An observation about the curve: relative for losses, additive for accuracies."""
    if result.law == "shifted-power":
        return y * np.exp(resid)
    return y + resid


def _within_range(result: FitResult, y):
    """An accuracy or error law's values as the fractions they are, within [0, 1]: a draw's
    curve widened about the fit (``_scaled_curve``) or plus a residual could pass 100% near the
    ceiling, where no curve or observation lies. A loss is left as it is."""
    return y if result.law == "shifted-power" else np.clip(y, 0.0, 1.0)


def _rng(result: FitResult, salt: int) -> np.random.Generator:
    return np.random.default_rng([int(result.components.get("seed", 0)) & 0xFFFFFFFF, salt])


def _scaled_curve(result: FitResult, xs, params: dict, scale: float):
    """The curve of each draw at its x, its deviation from the fitted curve (at the same x)
    times ``scale``: the small-sample correction of the module's docstring."""
    curve = _curve(result, xs, params)
    if scale == 1.0:
        return curve
    fitted = _curve(result, xs, result.values())
    return fitted + scale * (curve - fitted)


def interval_at(result: FitResult, x, *, x_draws=None, x_residuals=None, level: float = 0.95,
                salt: int = 0, small_sample: bool = True) -> dict:
    """{"value", "ci95", "pi95"} of y at x (one value); NaN intervals without bootstrap draws.

    ``x_draws``: x itself drawn per bootstrap resample (a chained prediction); ``x_residuals``:
    log residuals of the law that predicted x, drawn into each observation's x (at least
    MANY_RESIDUALS observations per resample: with one, the percentiles of 20 resamples' 20
    observations fell inside the curve's at both ends).
    ``small_sample=False`` leaves out the fit's ``draw_scale`` (the plain percentile intervals,
    as before the correction; for comparing the two).
    """
    value = float(_curve(result, float(x), result.values()))
    draws = result.draws
    if draws is None:
        return {"value": value, "ci95": list(NAN2), "pi95": list(NAN2)}
    params = {k: np.asarray(v, float) for k, v in draws.items()}
    n = len(next(iter(params.values())))
    xs = np.full(n, float(x)) if x_draws is None else np.asarray(x_draws, float)
    scale = float(result.components.get("draw_scale", 1.0)) if small_sample else 1.0
    curve = _scaled_curve(result, xs, params, scale)
    rng = _rng(result, salt)
    m = int(result.components.get("residual_draws_per_curve", 1))
    chained = x_residuals is not None and len(x_residuals) > 0
    if chained:  # x's scatter too: the observations' percentiles need more than B of them
        m = max(m, MANY_RESIDUALS)
    each = (lambda a: np.repeat(a, m)) if m > 1 else (lambda a: a)  # m observations per draw
    params_obs = {k: each(v) for k, v in params.items()}
    x_obs = each(xs)
    if chained:
        x_obs = x_obs * np.exp(rng.choice(np.asarray(x_residuals, float), x_obs.size))
    resid = np.asarray(result.components.get("residuals", np.zeros(1)), float)
    curve_obs = _scaled_curve(result, x_obs, params_obs, scale)
    floor = _observed_at_floor(result, x_obs, params_obs, each(curve))
    curve_obs = np.where(floor, params_obs.get("E_y", np.nan), curve_obs)  # no draw_scale here
    if "residual_dof" in result.components:  # a Student's t draw at the residuals' scale
        drawn = (float(result.components["residual_sd"])
                 * rng.standard_t(float(result.components["residual_dof"]), curve_obs.size))
    else:
        drawn = rng.choice(resid if resid.size else np.zeros(1), curve_obs.size)
    power = float(result.components.get("scatter_power", 0.0))
    if power:  # residuals standardized by (mu (1 - mu))^power: rescaled at this draw's mu
        drawn = drawn * scatter_basis(curve_obs) ** power
    drawn = drawn * float(result.components.get("residual_widening", 1.0))
    observed = _within_range(result, _with_residual(result, curve_obs, drawn))
    ci95 = list(percentile_ci(_within_range(result, curve), level))
    drawn_pi = percentile_ci(observed, level)
    out = {"value": value, "ci95": ci95, "pi95": observation_interval(drawn_pi, ci95)}
    undefined = int((~np.isfinite(curve)).sum())
    if undefined > 0.05 * n:  # e.g. draws whose E_x lies above x: the law says nothing there
        out["undefined_draws"] = (f"{undefined} of {n} bootstrap draws give no value here "
                                  "(x at or below their E_x, or a failed refit); the intervals "
                                  "are over the rest")
    if undefined > SOME_DRAWS_SHARE * n:  # the label itself says whose interval it is
        out["intervals_over"] = f"the {n - undefined} of {n} draws with a value"
    notes = []
    if floor.sum() > FLOOR_NOTE_SHARE * floor.size:
        notes.append(f"{int(floor.sum())} of {floor.size} simulated observations put x (the law "
                     "of x plus its scatter) at or below their draw's E_x: they are taken at "
                     "the law's floor there, y = E_y of the draw")
    notes += _curve_ends_note(result, drawn_pi, ci95, observed - each(curve))
    if notes:
        out["interval_notes"] = notes
    return out


SOME_DRAWS_SHARE = 0.10  # more draws than this with no value: the intervals are labelled as over the rest
FLOOR_NOTE_SHARE = 0.01  # observations at the floor are noted above this share of them


def _curve_ends_note(result: FitResult, drawn_pi, ci95, scatter) -> list[str]:
    """Say so where pi95 took an end of ci95 (``observation_interval``): the observations'
    percentile fell inside the curve's, so the scatter an observation adds is small next to the
    curve's uncertainty and the two differ by Monte Carlo noise; printed bare, the two intervals
    read as if the prediction interval had lost its scatter. An accuracy's end at 0 or 1 is
    both intervals' bound, said as such."""
    ends = [(name, ci95[i]) for i, name, inside in ((0, "lower", drawn_pi[0] >= ci95[0]),
                                                    (1, "upper", drawn_pi[1] <= ci95[1]))
            if inside]
    notes = []
    if result.law != "shifted-power":
        bound = [(name, end) for name, end in ends if end in (0.0, 1.0)]
        ends = [item for item in ends if item not in bound]
        notes += [f"the prediction interval's {name} end is the curve's, {end:g}: y is a "
                  "fraction, and both intervals reach its bound there" for name, end in bound]
    if not ends:
        return notes
    ends = [name for name, _ in ends]
    scatter = np.asarray(scatter, float)
    sd = float(np.std(scatter[np.isfinite(scatter)])) if np.isfinite(scatter).any() else 0.0
    both = len(ends) == 2
    return notes + [
        f"the prediction interval's {' and '.join(ends)} end{'s are' if both else ' is'} the "
        "curve's: the simulated observations' percentile fell inside the curve's interval, as "
        "Monte Carlo noise does where an observation's scatter is small beside the curve's "
        f"uncertainty (here sd {sd:.2g} against a 95% CI {ci95[1] - ci95[0]:.3g} wide); an "
        "observation's interval is kept at least the curve's"]


def held_out_intervals(result: FitResult, x) -> tuple[np.ndarray, np.ndarray]:
    """(lo, hi) of the 95% prediction interval at each held-out x."""
    lo, hi = [], []
    for i, xi in enumerate(np.asarray(x, float)):
        pi = interval_at(result, xi, salt=i + 1)["pi95"]
        lo.append(pi[0])
        hi.append(pi[1])
    return np.array(lo), np.array(hi)

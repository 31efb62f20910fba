"""The stat-vs-loss fit's standard errors and 95% intervals under AR(1) errors: the sandwich
covariance with Satterthwaite's t, profile intervals for E and p."""
from __future__ import annotations

import numpy as np
from scipy import stats as scipy_stats

from scalefit.scaling.fitresult import FitResult, ParamEstimate, interval_bound_warnings
from scalefit.scaling.trajectories import ar1
from scalefit.scaling.trajectories.linearized import jacobian_blocks, pooled_traces
from scalefit.scaling.trajectories.profile_likelihood import profile_interval
from scalefit.scaling.trajectories.stat_law import E_FLOOR, P_BOUND, within_bounds

PROFILED = ("E", "p")  # the nonlinear parameters, whose bounds a Wald interval runs into


def ar1_parameter_intervals(fit: FitResult, losses: list, rho: float, profiled=PROFILED,
                            lags=None) -> None:
    """Replace the fit's standard errors and 95% intervals (which lmfit computes as if every
    checkpoint were independent) by their AR(1) forms, the model linearized at the optimum:
    covariance s^2 (J'J)^-1 (sum over runs of J_r' S_r J_r) (J'J)^-1 with S_r the run's AR(1)
    correlation, s^2 = RSS / tr(M S) (the fit absorbs more of correlated noise than n - p says),
    and a t quantile with Satterthwaite's tr(M S)^2 / tr(M S M S) degrees of freedom (at rho 0,
    lmfit's own standard errors and intervals are kept). The parameters in ``profiled`` (E and
    p: Wald intervals cut at their bounds held the truth in 70-92% of synthetic runs with E near
    0 or p near -5, bench/bench_trajectory_bounds.py) get the profile interval instead (profile_interval),
    at every rho; their stderr stays the sandwich's. `losses`: the fit's points, one array per
    run in step order; ``lags``: ar1.run_lags's, one per run (S_r rho^k between points k places
    apart across checkpoints left out). The traces are computed run by run (ar1.design_moments), so
    the cost does not grow with the cube of all checkpoints. A profile interval that reaches a
    bound adds the laws' warning (fitresult.interval_bound_warnings) to the fit's."""
    designs, names = jacobian_blocks(fit, losses)
    rho = max(float(rho), 0.0)
    if not names or sum(len(d) for d in designs) <= len(names):
        return
    gram = ar1.gram_inverse(np.vstack(designs))
    meat, df_resid, trace_msms = pooled_traces(gram, ar1.design_moments(designs, rho, lags))
    df = df_resid ** 2 / trace_msms
    cov = fit.objective / df_resid * gram @ meat @ gram
    half = scipy_stats.t.ppf(0.975, max(df, 1.0))
    bounds = getattr(fit.model_result, "params", {})
    profiles = []
    for j, (name, var) in enumerate(zip(names, np.diag(cov))):
        est = fit.params[name]
        se = float(np.sqrt(var)) if var >= 0 else float("nan")
        if rho > 0:  # at rho 0 lmfit's intervals are the sandwich's, on a normal quantile
            est = fit.params[name] = ParamEstimate(est.value, se, within_bounds(
                est.value - half * se, est.value + half * se, bounds.get(name)))
        # the drop in RSS a 95% interval allows: t^2 times the sandwich variance per unit of
        # (J'J)^-1, so that a linear model's profile interval is the Wald interval exactly
        allowed = half ** 2 * var / gram[j, j] if var >= 0 and gram[j, j] > 0 else float("nan")
        if name in profiled and np.isfinite(allowed):
            fit.params[name] = ParamEstimate(est.value, est.stderr, profile_interval(
                fit, name, allowed, (est.value - half * se, est.value + half * se)))
            profiles.append(name)
    # a profile interval that runs into a bound says so, as a bootstrap's does (E's upper bound,
    # under the lowest loss, is a limit of the data, judged as the estimate's is)
    fit.warnings.extend(w for w in interval_bound_warnings(bounds, {n: fit.params[n] for n in profiles},
                                                           data_limits=("E",))
                        if w not in fit.warnings)
    gaps = lags is not None and any(g is not None for g in lags)
    sandwich = (f"fit, AR(1) errors (rho {rho:.3g}"
                + (f"; {ar1.GAP_WORDS}" if gaps else "")
                + "): the sandwich covariance at the optimum, "
                f"t intervals on {df:.3g} Satterthwaite degrees of freedom (no bootstrap was run), "
                if rho > 0 else "fit: the covariance at the optimum, checkpoints independent (REML "
                "rho 0), normal intervals (no bootstrap was run), ")
    fit.extra["stderr_from"] = sandwich + (
        f"cut at the parameters' bounds ({E_FLOOR:g} <= E < the lowest loss, "
        f"{P_BOUND[0]:g} <= p <= {P_BOUND[1]:g})" if not profiles else
        f"{' and '.join(profiles)}: profile intervals instead, the values within the parameters' "
        f"bounds ({E_FLOOR:g} <= E < the lowest loss, {P_BOUND[0]:g} <= p <= {P_BOUND[1]:g}) at which "
        f"the best fit leaves at most t^2 var / [(J'J)^-1] more RSS (t on {df:.3g} degrees of freedom, "
        "var the sandwich variance: the Wald interval where the curve is linear in the parameter), "
        "so cut at the parameters' bounds only where the data allow values beyond them")

"""The fit engine: ``fit_law(runs, law)`` fits one scaling law and returns a ``FitResult``.

Objective: Huber(delta) on log residuals, summed (Hoffmann et al. 2022). lmfit is the front end
(Parameters with bounds, ModelResult, fit report); scipy's least_squares runs underneath with the
Huber loss, whose cost 0.5 f^2 rho((r/f)^2) with f = delta is exactly sum Huber_delta(r). It stops
on parameter convergence only (xtol; ftol and gtol off), so sum vs mean cannot move the optimum.
Starts come from each law's ``starts`` (variable projection for the Chinchilla form); the engine
refines the best few and reports how many reached the best optimum. Every law comes from the
registry; a law with its own procedure (IsoFLOP) fits itself through ``Law.fit_runs``.
"""
from __future__ import annotations

import warnings

import numpy as np

from scalefit.errors import InputError
from scalefit.options import bootstrap_count, nonnegative_int, positive_float
from scalefit.scaling.fitresult import (FitResult, ParamEstimate, attach_intervals, bootstrap_stderr, bound_warnings,
                                        curvature_stderr, percentile_ci, settle_covariance)
from scalefit.scaling.laws.allocation import allocation_summary
from scalefit.scaling.laws.bootstrap import LSQ_OPTIONS, bootstrap_law, lmfit_limit_kept, stacked_lmfit_jacobian
from scalefit.scaling.laws.registry import law_for
from scalefit.scaling.laws.runtable import (RunTable, as_run_table, check_varies, kaplan_compute_note,
                                            mixed_conditions_warning, n_convention_warning,
                                            tied_design_warning)
from scalefit.scaling.objective import HUBER_DELTA, huber
from scalefit.schema import FLOPS_PER_PARAM_TOKEN

N_STARTS = 4  # refined starts per fit (the best grid points of the variable projection)
SAME_OPTIMUM_RTOL = 1e-6


def _flops_factor(table: RunTable) -> float:
    """k in C = k N D: 6 unless the table's flops say otherwise (median of flops / (N D), with N
    all parameters as the flops count them)."""
    if table.n_column != "params" or table.n_nonembedding:
        return FLOPS_PER_PARAM_TOKEN  # Kaplan's convention: C = 6 N D with N non-embedding
    return total_flops_factor(table.frame)


def total_flops_factor(frame) -> float:
    """k in C = k N D of a run table's ``frame`` with N all parameters: the median of
    flops / (params tokens), 6 where the frame lacks those columns. A non-embedding law whose
    optimum is stated in total parameters takes its budgets in this count, so that its rows and
    a total-N law's mean the same compute (on flops = 9 N D they were 6 N D and 9 N D)."""
    if "flops" in frame.columns and "tokens" in frame.columns and "params" in frame.columns:
        ratio = frame["C"] / (frame["params"].astype(float) * frame["D"])
        k = float(np.median(ratio))
        if np.isfinite(k) and k > 0:
            return k
    return FLOPS_PER_PARAM_TOKEN


FLOPS_COLUMN = "flops column"  # a budget is the table's own compute (all parameters counted)
KAPLAN_C = f"{FLOPS_PER_PARAM_TOKEN:g} N_nonembed D"  # Kaplan's C with a non-embedding N
EXPONENT_BASIS = f"non-embedding N, C = {KAPLAN_C}"  # what a, b of a non-embedding fit are of


def compute_basis(table: RunTable, law) -> str:
    """What ``law``'s budgets count as compute on ``table``: KAPLAN_C where the engine's
    allocation reads a non-embedding N with no total count beside it
    (``RunTable.kaplan_compute``), else FLOPS_COLUMN (IsoFLOP, whose ``fit_runs`` finds the
    optima of the flops column's own budgets, always)."""
    model = law_for(law) if isinstance(law, str) else law
    if table.kaplan_compute and model.fit_runs is None and {"N", "D"} <= set(model.needs):
        return KAPLAN_C
    return FLOPS_COLUMN


def budget_compute(table: RunTable, law) -> np.ndarray:
    """The runs' compute as ``law``'s budget table states it (its 'x largest run' and held-out
    runs), on its ``compute_basis``: the flops column C, or Kaplan's 6 N D."""
    if "C" not in table.frame.columns:
        return np.full(len(table.frame), np.nan)
    if compute_basis(table, law) == KAPLAN_C:
        return FLOPS_PER_PARAM_TOKEN * table.N * table.D
    return table.C


MAX_NFEV = 4000  # lmfit's limit on residual calls of one law fit, its Jacobian's included


def _fit_one(model, params, log_loss, indep, delta):
    def fit(stacked):
        fit_kws = dict(LSQ_OPTIONS, f_scale=delta, **stacked)
        fit_kws.pop("method")
        with warnings.catch_warnings():  # lmfit's sqrt of a negative variance (a parameter on a
            warnings.simplefilter("ignore", RuntimeWarning)  # bound): its stderr NaN, said so
            return model.fit(log_loss, params, method="least_squares", fit_kws=fit_kws,
                             max_nfev=MAX_NFEV, **indep)

    result = lmfit_limit_kept(fit, stacked_lmfit_jacobian(model, params, log_loss, indep), params, MAX_NFEV)
    settle_covariance(result)
    return result


def _information(resid: np.ndarray, k: int) -> dict:
    n = resid.size
    rss = float(np.sum(resid ** 2))
    ll_term = n * np.log(max(rss, 1e-300) / n)
    return {"rmse_log": float(np.sqrt(rss / n)), "aic": float(ll_term + 2 * k),
            "bic": float(ll_term + k * np.log(n))}


def fit_law(runs, law: str, *, loss: str = "loss", delta: float = HUBER_DELTA,
            n_bootstrap: int = 1000, seed: int = 0, progress: bool = False,
            isoflop_method: str = "parabola", budgets=None, held_flops=(), all_runs=None) -> FitResult:
    """Fit ``law`` to a run table (DataFrame, path or RunTable) and return a ``FitResult``:
    what `scalefit fit` reports, less its held-out runs (``compare_laws(runs, [law], holdout=...)``).

    runs: one row per training run with ``params`` (N, total parameters), ``tokens`` (D, training
    tokens) and/or ``flops`` (C, training FLOPs; 6 N D where absent, tokens C / 6N where absent),
    as the law needs (kaplan-n needs N only, isoflop N and C, ...), and the final loss in
    nats/token in column ``loss``; a ``params_nonembed`` column, where present, is the N of
    Kaplan's laws. A non-embedding N with no total count beside it (`--params params_nonembed`)
    states its budgets as Kaplan do, C = 6 N D, not in the flops column. A schedule law
    (momentum, multi-power) takes a checkpoint table instead (model, step, lr, loss).

    law: a name or alias of the law registry (`registry.law_choices()`: kaplan = kaplan-nd,
    chinchilla, isoflop, ...). Parameters carry the papers' names with stderr and ci95 from
    ``n_bootstrap`` resamples (1000 as `scalefit fit` takes; 0: the fit's own stderr and no
    interval, for a quick point fit) and ``extra["identifiability"]`` (with a warning for
    what the runs do not fix); ``extra`` also holds the allocation projected to ``budgets`` (FLOPs;
    default 10x and 100x the largest run, and the published budgets within 1000x), each row
    labelled projection / interpolation / prediction (``held_flops``: held-out runs' compute;
    ``all_runs``: the table they were held out of, whose embedding counts state N), start statistics, RMSE, AIC and BIC; ``model_result`` the lmfit ModelResult of the best start.
    """
    from scalefit.scaling.laws.identifiability import annotate
    from scalefit.scaling.laws.isoflop import checked_method
    from scalefit.scaling.laws.projection import (check_budgets, checked_budgets, project_allocation,
                                                  sub_unit_optimum_warning)

    model = law_for(law)
    law = model.law_name
    isoflop_method = checked_method(isoflop_method)
    if isoflop_method != "parabola" and law != "isoflop":  # else silently unused
        raise InputError(f"isoflop_method (--isoflop-method) '{isoflop_method}': only with law "
                         f"isoflop (got {law})")
    delta = positive_float("delta (--delta)", delta)  # the options' own checks, as the command applies them
    n_bootstrap = bootstrap_count("n_bootstrap (--bootstrap)", n_bootstrap)
    seed = nonnegative_int("seed (--seed)", seed)
    budgets = checked_budgets(budgets)
    if budgets is not None and not model.sets_allocation():  # else silently unused
        raise InputError(f"budgets (--budget): law {law} sets no compute-optimal allocation N*(C) "
                         "to project (a law of one variable or of the LR schedule); leave them out")
    held_flops = checked_budgets(held_flops, "held_flops") or []
    if model.reads_checkpoints:  # a schedule law: a table of checkpoints, whose step 0 (tokens
        # 0) and missing params a run table's check refused; no allocation to project
        return model.fit_runs(runs, loss=loss, delta=delta, n_bootstrap=n_bootstrap, seed=seed,
                              progress=progress)  # fit_curves judges identifiability
    table = as_run_table(runs, law, loss=loss)
    compute = budget_compute(table, model)
    if budgets is not None and "C" in table.frame.columns:
        check_budgets(budgets, compute)  # before the fit: a unit slip should not cost its bootstrap
    if model.fit_runs is not None:
        result = model.fit_runs(table, loss=loss, delta=delta, n_bootstrap=n_bootstrap, seed=seed,
                                progress=progress, isoflop_method=isoflop_method)
    else:
        result = _fit(model, table, loss=loss, delta=delta, n_bootstrap=n_bootstrap, seed=seed,
                      progress=progress)
    if table.n_source:  # the column N was mapped from (--params params_nonembed)
        result.extra["n_source"] = table.n_source
    from scalefit.scaling.laws.report import loss_unit
    result.extra["loss_unit"] = loss_unit(loss)  # of every loss the JSON states (the text's)
    convention = n_convention_warning(model, table.n_column, table.frame)
    mixed = None if model.law_name == "isoflop" else mixed_conditions_warning(table.frame)
    for warning in (convention, mixed):  # isoflop says it of its budgets' repeated sizes
        if warning and warning not in result.warnings:
            result.warnings.append(warning)
    annotate(result)
    if "C" not in table.frame.columns or not np.isfinite(compute).any():
        return result  # a law of N or D alone on a table without compute: no allocation
    project_allocation(result, budgets, largest_fitted=float(np.nanmax(compute)),
                       held_flops=held_flops, smallest_fitted=float(np.nanmin(compute)),
                       frame=_frame_of(all_runs, law, loss) if all_runs is not None else table.frame)
    for warning in (tied_design_warning(table.frame, model),
                    sub_unit_optimum_warning(result.extra.get("allocation", {}).get("budgets", []))):
        if warning and warning not in result.warnings:
            result.warnings.append(warning)
    return result


def _frame_of(runs, law: str, loss: str):
    """The validated frame of a run table (a RunTable's own, as its caller validated it)."""
    return runs.frame if isinstance(runs, RunTable) else as_run_table(runs, law, loss=loss).frame


def _fit(model, table: RunTable, *, loss: str, delta: float, n_bootstrap: int, seed: int,
         progress: bool) -> FitResult:
    """The Huber fit from the law's starts, its warnings, allocation and bootstrap."""
    law = model.law_name
    check_varies(table, model.needs)
    indep = table.variables(model.needs)
    L = table.L
    log_loss = np.log(L)
    starts = model.starts(L, k=N_STARTS, delta=delta, **indep)

    fits = []
    for params in starts:
        res = _fit_one(model, params, log_loss, indep, delta)
        obj = float(np.sum(huber(res.residual, delta)))
        fits.append((obj, res))
    fits.sort(key=lambda t: t[0])
    best_obj, best = fits[0]
    tol = SAME_OPTIMUM_RTOL * max(abs(best_obj), 1e-12)
    n_at_best = sum(1 for obj, _ in fits if obj - best_obj <= tol)

    converged = bool(best.success and getattr(best, "status", 1) > 0)
    params = {}
    for name in model.paper_names:
        p = best.params[name]
        params[name] = ParamEstimate(float(p.value), curvature_stderr(p, best.errorbars))
    values = {k: v.value for k, v in params.items()}
    n_free = model.n_free

    warnings = bound_warnings(best.params)
    if len(L) < 3 * n_free:
        warnings.append(f"too few points: {len(L)} runs for {n_free} parameters "
                        f"(fewer than 3 per parameter)")
    if not converged:
        warnings.append(f"optimizer did not converge: {best.message}")

    k = _flops_factor(table)

    def predict_nd(n, d):
        return model.predict(values, np.asarray(n, float), np.asarray(d, float), k)

    allocation = allocation_summary(model, values, predict_nd, k)
    allocation["n_counts"] = table.n_column
    if table.n_nonembedding and np.isfinite(allocation.get("a", np.nan)):  # a of another N than C's
        allocation["exponent_basis"] = EXPONENT_BASIS
    if table.kaplan_compute and model.sets_allocation() and "C" in table.frame.columns:
        allocation["compute_convention"] = kaplan_compute_note(table.frame)
    extra = {"allocation": allocation,
             "n_starts": len(fits), "n_starts_at_best": n_at_best, "delta": delta,
             "n_column": table.n_column, "loss_column": loss, "notes": list(table.notes)}
    extra.update(_information(np.asarray(best.residual), n_free))

    result = FitResult(law=law, params=params, n_points=len(L), objective=best_obj,
                       converged=converged, warnings=warnings, extra=extra, model_result=best)
    if n_bootstrap > 0:
        boot = bootstrap_law(model, best.params, indep, L, delta=delta,
                             n_bootstrap=n_bootstrap, seed=seed, progress=progress)
        attach_bootstrap(result, boot)
    return result


def attach_bootstrap(result: FitResult, boot: dict) -> None:
    """Put bootstrap 95% CIs on the parameters and on the allocation exponents a, b."""
    attach_intervals(result, boot["params"])
    alloc = result.extra.setdefault("allocation", {})
    alloc["a_ci95"] = list(percentile_ci(boot["a"]))
    alloc["b_ci95"] = list(percentile_ci(boot["b"]))
    alloc["a_stderr"] = bootstrap_stderr(boot["a"])
    alloc["b_stderr"] = bootstrap_stderr(boot["b"])
    result.allocation_draws = {"a": np.asarray(boot["a"], float), "b": np.asarray(boot["b"], float),
                               "resampled": "runs"}
    result.extra["bootstrap"] = {"n": boot["n"], "n_failed": boot["n_failed"]}
    if boot["n_failed"] > 0.05 * boot["n"]:
        result.warnings.append(f"{boot['n_failed']} of {boot['n']} bootstrap refits did not "
                               "converge")


def predict(result: FitResult, N, D, **extra):
    """Loss predicted by a fitted law at parameters N and tokens D (arrays broadcast); a law
    that reads more variables takes them by name (``unique_tokens=...`` style: its variables)."""
    k = result.extra.get("allocation", {}).get("flops_per_param_token", FLOPS_PER_PARAM_TOKEN)
    return law_for(result.law).predict(result.values(), np.asarray(N, float),
                                       np.asarray(D, float), k, **extra)

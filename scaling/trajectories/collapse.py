"""Does one curve serve every size? The stat-vs-loss law fitted per model and pooled, the
collapse ratio, and its F-test under AR(1) errors calibrated by a parametric bootstrap."""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats as scipy_stats

from scalefit.errors import InputError
from scalefit.scaling.fitresult import FitResult
from scalefit.scaling.trajectories import ar1
from scalefit.scaling.trajectories.linearized import jacobian, jacobian_blocks, pooled_traces
from scalefit.scaling.trajectories.parameter_intervals import ar1_parameter_intervals
from scalefit.scaling.trajectories.stat_law import (MIN_POINTS, checked_E, fit_stat_vs_loss, isotonic_fit,
                                                    same_loss_message)
from scalefit.scaling.trajectories.table import (JOINED, as_table, checkpoint_lags, gap_records,
                                                  positive_losses)
from scalefit.schema import numeric_values, require_columns

MIN_POINTS_PER_MODEL = 8  # two per parameter of v0 + c (L - E)^p: fewer and one run's R^2 says nothing


class CollapseReport(dict):
    """collapse_report's result: a dict (pooled, per_model, collapse_ratio, ...) whose
    ``to_dict()`` is its JSON-ready form, each FitResult as its own to_dict() (json.dumps could
    not write the FitResults)."""

    def to_dict(self) -> dict:
        return _json_ready(dict(self))


def _json_ready(value):
    """``value`` with FitResults as their to_dict(), numpy numbers as Python's, containers walked."""
    if isinstance(value, FitResult):
        return value.to_dict()
    if isinstance(value, dict):
        return {str(k): _json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_ready(v) for v in value]
    return value.item() if isinstance(value, np.generic) else value


def collapse_report(joined: pd.DataFrame, *, E: float | None = None) -> CollapseReport:
    """Fit per model and pooled; sizes collapse onto one curve when pooling costs little.

    collapse_ratio = RSS(pooled fit) / sum of RSS(per-model fits): 1 means one curve serves all
    sizes; large values mean each size follows its own curve. ``E`` fixes the irreducible loss
    (``checked_E``); ``joined``: join_stat_and_loss(...)'s output (model, value, loss[, step]).
    A run with checkpoints left out of its series (its ``attrs["left_out"]``: at a shape's bound,
    without a finite value or loss; or here, a row without a finite value or loss) has AR(1)
    errors rho^k between points k places apart in its series (``checkpoint_lags``).
    A dict (a CollapseReport): ``to_dict()`` is its JSON-ready form.
    """
    joined, _ = as_table(joined, "joined")  # a path or row dicts, as every table argument
    left_out = gap_records(joined.attrs)
    require_columns(joined, ("model", "value", "loss"), "joined", JOINED)
    positive_losses(joined, "joined", "loss", value="loss")  # (L - E)^p of a loss <= 0 fits no loss
    numeric_values(joined, "joined", "the statistic")  # a text cell was numpy's ValueError in the fit
    E = checked_E(E, joined["loss"])
    usable = int(joined[["loss", "value"]].notna().all(axis=1).sum())
    if usable < MIN_POINTS:
        raise InputError(f"{usable} checkpoints have both the statistic and a loss; value = v0 + "
                         f"c (L - E)^p needs {MIN_POINTS}")
    usable_loss = joined.loc[joined[["loss", "value"]].notna().all(axis=1), "loss"].to_numpy(dtype=float)
    if np.ptp(usable_loss) == 0:
        raise InputError(same_loss_message(usable_loss[0]))
    per_model, too_short, runs, same_loss, lags = {}, [], {}, {}, {}
    for model, run in joined.groupby("model", sort=True):
        ok = run[["loss", "value"]].notna().all(axis=1)
        if ok.sum() < MIN_POINTS_PER_MODEL:
            too_short.append(str(model))
            continue
        if np.ptp(run.loc[ok, "loss"].to_numpy(dtype=float)) == 0:  # no curve in L: not fitted alone
            same_loss[str(model)] = float(run.loc[ok, "loss"].iloc[0])
            continue
        run = run.sort_values("step") if "step" in run else run
        fit = fit_stat_vs_loss(run["loss"], run["value"], E=E, label=str(model))
        per_model[str(model)] = fit
        ok = run[["loss", "value"]].notna().all(axis=1).to_numpy()
        runs[str(model)] = (run["loss"].to_numpy(dtype=float)[ok], fit)
        dropped = run.loc[~ok, "step"] if "step" in run else ()
        lags[str(model)] = checkpoint_lags(run[ok], model, left_out, dropped)
    # runs that hold the statistic constant (t_nu at its cap) leave residuals of rounding: no
    # likelihood for rho and no curve to share, so the pooled curve and the test take the others
    flat = {m: float(fit.model_result.data[0]) for m, fit in per_model.items()
            if np.ptp(np.asarray(fit.model_result.data, dtype=float)) == 0} if len(per_model) > 1 else {}
    tested = [m for m in per_model if m not in flat]
    if flat and len(tested) < 2:
        tested = list(per_model)  # nothing left to test: the pooled curve describes every run
    # the pooled curve on the same checkpoints as the per-model ones, so the ratio compares like with like
    fitted = joined[joined["model"].astype(str).isin(tested)] if len(per_model) > 1 else joined
    pooled_models = sorted(fitted["model"].astype(str).unique())
    pooled = fit_stat_vs_loss(fitted["loss"], fitted["value"], E=E, label="all models")
    _, iso_r2 = isotonic_fit(fitted["loss"], fitted["value"])
    rss_sum = sum(per_model[m].objective for m in tested)
    ratio = pooled.objective / rss_sum if rss_sum > 0 and len(tested) > 1 else float("nan")
    nan = float("nan")

    gapped = [m for m in tested if lags.get(m) is not None]  # AR(1) across left-out checkpoints

    def report(verdict: str, ratio: float = ratio, p_value: float = nan, f_p_value: float = nan,
               rho: float = nan) -> CollapseReport:
        return CollapseReport({
            "pooled": pooled, "per_model": per_model, "collapse_ratio": ratio,
            "collapse_p_value": p_value, "collapse_f_test_p_value": f_p_value,
            "residual_autocorrelation": rho, "collapse_verdict": verdict,
            "gapped_models": gapped if np.isfinite(rho) else [],
            "pooled_r_squared": pooled.extra["r_squared"], "isotonic_r_squared": iso_r2,
            "n_models": len(per_model), "too_short": too_short, "pooled_models": pooled_models,
            "flat_models": flat, "same_loss_models": same_loss})

    if np.ptp(fitted["value"].dropna().to_numpy(dtype=float)) == 0:
        # t_nu at its cap: residuals of rounding, whose ratio and AR(1) rho are noise
        value = float(fitted["value"].dropna().iloc[0])
        return report(f"the statistic is {value:.6g} at every checkpoint: no curve, so no collapse "
                      "to judge", ratio=nan)
    if flat and len(tested) == len(per_model):  # one run varies: nothing to test it against
        return report(f"one pooled curve leaves {ratio:.3g}x the residual sum of squares of one curve "
                      f"per run, not tested: {', '.join(flat)} hold{'s' if len(flat) == 1 else ''} "
                      f"the statistic constant at every checkpoint ({_flat_values(flat)}), and fewer "
                      "than two runs are left to compare")
    tested_runs = [runs[m] for m in tested]
    losses = [loss for loss, _ in tested_runs]
    designs = [jacobian(fit, loss) for loss, fit in tested_runs]
    residuals = [np.asarray(fit.model_result.residual, dtype=float) for _, fit in tested_runs]
    run_lags = [lags[m] for m in tested] if gapped else None
    # REML's rho, biased low on 40-80 checkpoints, bias-corrected: the estimate and its likelihood
    correct = ar1.bias_corrector(designs, lags=run_lags)
    rho = correct(ar1.pooled_reml_rho(designs, residuals, run_lags))
    grid, weights = ar1.corrected_posterior(*ar1.pooled_rho_posterior(designs, residuals, run_lags),
                                            correct)
    blocks = jacobian_blocks(pooled, losses)  # the linearized null, shared by the test and its bootstrap
    f_p_value = collapse_f_test_p_value(pooled, rss_sum, losses, grid, weights, blocks=blocks,
                                        lags=run_lags)
    # the F-test's p is still liberal from rho 0.8 (7-8% at 5%): calibrated by its null distribution
    p_value = collapse_bootstrap_p_value(pooled, losses, designs, correct, grid, weights, f_p_value,
                                         blocks=blocks, lags=run_lags)
    for m, (loss, fit) in zip(tested, tested_runs):
        ar1_parameter_intervals(fit, [loss], rho, lags=None if lags[m] is None else [lags[m]])
    if len(tested_runs) > 1:
        ar1_parameter_intervals(pooled, losses, rho, lags=run_lags)
    verdict = collapse_verdict(ratio, p_value, rho, n_sim=COLLAPSE_SIMS, gaps=bool(gapped))
    if flat:
        verdict += (f"; the pooled curve and the test take the {len(tested)} runs whose statistic "
                    f"varies, leaving out {', '.join(flat)}: constant at every checkpoint "
                    f"({_flat_values(flat)}), as a family's shape at its fit's bound is")
    return report(verdict, p_value=p_value, f_p_value=f_p_value, rho=rho)


def _flat_values(flat: dict) -> str:
    """'10000': the constant values of the runs a collapse test cannot use."""
    return ", ".join(f"{v:.6g}" for v in sorted(set(flat.values())))


COLLAPSE_RATIO_NEAR_ONE = 1.5  # pooling within 1.5x of the per-size residuals: one curve


def _collapse_f_test(pooled: FitResult, rss_separate: float, losses: list, rho: float,
                     lags=None) -> float:
    """p-value of 'one curve for all runs' against 'one curve per run' under AR(1) errors of a
    known rho (collapse_f_test_p_value with all weight on that rho)."""
    return collapse_f_test_p_value(pooled, rss_separate, losses, [rho], [1.0], lags=lags)


def collapse_f_test_p_value(pooled: FitResult, rss_separate: float, losses: list, grid, weights,
                            blocks: tuple | None = None, lags=None) -> float:
    """The F-test's p averaged over rho's REML likelihood (grid, weights): on 40-80 checkpoints a
    single estimate of rho is too uncertain, and too low, to condition on (at rho 0.9 the test at
    the estimate rejected one true curve in 24% of synthetic runs, averaged over rho in 12%, over
    the likelihood carried through the bias correction, ar1.corrected_posterior, in 8%).

    Both fits are linearized at the pooled optimum (the null), so the per-run design (the
    blocks of the Jacobian) nests the pooled one (their sum); the Jacobian and the Gram inverses
    are computed once, for every rho; ``blocks``: jacobian_blocks(pooled, losses), where the
    caller has it already; ``lags``: ar1.run_lags's, one per run of ``losses``.
    """
    if len(losses) < 2 or rss_separate <= 0:
        return float("nan")
    blocks, names = blocks or jacobian_blocks(pooled, losses)
    if not names:
        return float("nan")
    grams = [ar1.gram_inverse(b) for b in blocks]
    pooled_gram = ar1.gram_inverse(np.vstack(blocks))
    keep = np.asarray(weights) > WEIGHT_FLOOR
    values = np.array([_f_test_p(blocks, grams, pooled_gram, pooled.objective, rss_separate, r, lags)
                       for r in np.asarray(grid)[keep]])
    w = np.asarray(weights)[keep]
    ok = np.isfinite(values)
    return float(np.sum(w[ok] * values[ok]) / np.sum(w[ok])) if ok.any() else float("nan")


def _f_test_terms(blocks, grams, pooled_gram, rho: float,
                  lags=None) -> tuple[float, float, float, float] | None:
    """(E extra, df extra, E resid, df resid): the F-test's Satterthwaite terms at one rho, None
    where a sum of squares has no expected size (see _f_test_p); ``lags``: ar1.run_lags's."""
    moments = ar1.design_moments(blocks, rho, lags)
    c, _, _ = pooled_traces(pooled_gram, moments)
    own = [(g, *m) for g, m in zip(grams, moments)]
    # extra = (H_s - H) S: the sum of squares pooling adds; resid = (I - H_s) S: what is left
    e_extra = sum(np.trace(g @ a) for g, a, *_ in own) - np.trace(pooled_gram @ c)
    extra_sq = (sum(np.trace(g @ a @ g @ a) for g, a, *_ in own)
                - 2 * np.trace(pooled_gram @ sum(a @ g @ a for g, a, *_ in own))
                + np.trace(pooled_gram @ c @ pooled_gram @ c))
    e_resid = sum(n - np.trace(g @ a) for g, a, _, _, n in own)
    resid_sq = sum(ss - 2 * np.trace(g @ b) + np.trace(g @ a @ g @ a) for g, a, b, ss, _ in own)
    if e_extra <= 0 or e_resid <= 0:
        return None
    return float(e_extra), float(e_extra ** 2 / extra_sq), float(e_resid), float(e_resid ** 2 / resid_sq)


def _f_test_p(blocks, grams, pooled_gram, rss_pooled: float, rss_separate: float, rho: float,
              lags=None) -> float:
    """The F-test at one rho. Each sum of squares is a quadratic form e'Ae in AR(1) errors;
    Satterthwaite's approximation makes it a scaled chi-square with df tr(A S)^2 / tr(A S A S)
    (rho = 0: the usual F-test). The traces are k x k expressions in each run's design moments
    (H_b, H the hat matrices of one run and of all): tr((H_s - H) S) = sum_b tr(G_b A_b) - tr(G C),
    with A_b = X_b'S_b X_b, C = sum_b A_b."""
    terms = _f_test_terms(blocks, grams, pooled_gram, rho, lags)
    if terms is None:
        return float("nan")
    e_extra, df_extra, e_resid, df_resid = terms
    f = (max(rss_pooled - rss_separate, 0.0) / e_extra) / (rss_separate / e_resid)
    return float(scipy_stats.f.sf(f, df_extra, df_resid))


COLLAPSE_SIMS = 300            # simulated null data sets of the collapse test's parametric bootstrap
COLLAPSE_SEED = 20261206       # one stream: the same data get the same bootstrap p


def _orthonormal_basis(design: np.ndarray) -> np.ndarray:
    """Columns spanning the design's column space (thin SVD, np.linalg.pinv's cutoff)."""
    u, sing, _ = np.linalg.svd(np.asarray(design, dtype=float), full_matrices=False)
    return u[:, sing > 1e-15 * (sing.max() if sing.size else 0.0)]


def collapse_null_draws(pooled: FitResult, losses: list, designs: list, corrector, rho_sim,
                        n_sim: int = COLLAPSE_SIMS, seed: int = COLLAPSE_SEED,
                        blocks: tuple | None = None, lags=None) -> dict:
    """The collapse test's statistics on data simulated under its null (one curve, AR(1) errors),
    both fits linearized at the pooled optimum (as collapse_f_test_p_value linearizes them): the errors
    e of each set are AR(1) at ``rho_sim`` (a float, or one rho per set), unit scale (the
    statistics do not depend on it); the pooled refit leaves (I - H) e, the per-run refits
    (I - H_b) e_b; rho is re-estimated from each set by the observed report's way (pooled REML
    on ``designs``, the per-model Jacobians, carried through ``corrector``) and the F-test's p
    averaged over that likelihood. Returns {"p": the p of each set, "ratio": its RSS(pooled) /
    RSS(per run) - 1}; empty where the test has no design. ``blocks``: jacobian_blocks(pooled,
    losses), where the caller has it already; ``lags``: ar1.run_lags's (each run's errors
    simulated, and rho re-estimated, across its gaps)."""
    blocks, names = blocks or jacobian_blocks(pooled, losses)
    if not names or len(blocks) < 2:
        return {}
    rng = np.random.default_rng(seed)
    rho_sim = np.broadcast_to(np.asarray(rho_sim, dtype=float), (n_sim,))
    errors = [np.empty((len(b), n_sim)) for b in blocks]
    run_lags = ar1.run_lags(lags, len(blocks))
    for r in np.unique(rho_sim):
        cols = rho_sim == r
        for e, lag in zip(errors, run_lags):
            e[:, cols] = ar1.stationary_series(float(r), (len(e), int(cols.sum())), rng, lags=lag)
    stacked = np.vstack(errors)
    q = _orthonormal_basis(np.vstack(blocks))
    rss_pooled = np.sum(stacked * stacked, axis=0) - np.sum((q.T @ stacked) ** 2, axis=0)
    rss_separate = sum(np.sum(e * e, axis=0) - np.sum((_orthonormal_basis(b).T @ e) ** 2, axis=0)
                       for b, e in zip(blocks, errors))
    # rho's REML likelihood of each set (one column each), through the bias correction
    rhos, merged = ar1.corrected_posterior(*ar1.pooled_rho_posterior(designs, errors, lags), corrector)
    merged[merged <= WEIGHT_FLOOR] = 0.0
    grams = [ar1.gram_inverse(b) for b in blocks]
    pooled_gram = ar1.gram_inverse(np.vstack(blocks))
    p_sum, w_sum = np.zeros(n_sim), np.zeros(n_sim)
    for j in np.flatnonzero(merged.any(axis=1)):
        terms = _f_test_terms(blocks, grams, pooled_gram, float(rhos[j]), lags)
        if terms is None:
            continue
        e_extra, df_extra, e_resid, df_resid = terms
        f = (np.maximum(rss_pooled - rss_separate, 0.0) / e_extra) / (rss_separate / e_resid)
        p = scipy_stats.f.sf(f, df_extra, df_resid)
        ok = np.isfinite(p)  # as collapse_f_test_p_value, a rho whose p is not finite is left out
        p_sum[ok] += merged[j, ok] * p[ok]
        w_sum[ok] += merged[j, ok]
    with np.errstate(invalid="ignore", divide="ignore"):
        return {"p": np.where(w_sum > 0, p_sum / w_sum, np.nan), "ratio": rss_pooled / rss_separate - 1}


def collapse_bootstrap_p_value(pooled: FitResult, losses: list, designs: list, corrector, grid,
                               weights, p_observed: float, n_sim: int = COLLAPSE_SIMS,
                               seed: int = COLLAPSE_SEED, blocks: tuple | None = None,
                               lags=None) -> float:
    """The collapse F-test's p (collapse_f_test_p_value) calibrated by a parametric bootstrap: the share
    of null data sets whose p is at most the observed one, (1 + hits) / (1 + n_sim). Each set's
    rho is drawn from rho's corrected likelihood (grid, weights: ar1.corrected_posterior), its
    errors are AR(1) at that rho, both fits are refitted linearized and rho re-estimated
    (collapse_null_draws). On five synthetic runs of 44 checkpoints on one curve
    (bench/bench_trajectory_tests.py, 450 runs per rho over three seeds) the F-test alone, p
    averaged over rho, rejected at 5% in 1.3%, 6.7%, 8.0%, 7.1% of runs at rho 0, 0.5, 0.8, 0.9;
    calibrated, in 3.8%, 4.7%, 5.1%, 5.3%. ``lags``: collapse_null_draws's."""
    weights = np.asarray(weights, dtype=float)
    if not np.isfinite(p_observed) or not weights.sum() > 0:
        return float("nan")
    rhos = np.random.default_rng([seed, 1]).choice(np.asarray(grid, dtype=float), size=n_sim,
                                                   p=weights / weights.sum())
    draws = collapse_null_draws(pooled, losses, designs, corrector, rhos, n_sim=n_sim, seed=seed,
                                blocks=blocks, lags=lags)
    return bootstrap_share(draws.get("p", []), p_observed, larger=False)


def bootstrap_share(simulated, observed: float, larger: bool = True) -> float:
    """(1 + simulated statistics at least as extreme as the observed) / (1 + simulations)."""
    simulated = np.asarray(simulated, dtype=float)
    simulated = simulated[np.isfinite(simulated)]
    if not np.isfinite(observed) or not simulated.size:
        return float("nan")
    hits = simulated >= observed if larger else simulated <= observed
    return float((1 + np.sum(hits)) / (1 + simulated.size))


WEIGHT_FLOOR = 1e-3  # grid points of rho with less REML weight than this are left out of the average


def collapse_verdict(ratio: float, p_value: float, rho: float = 0.0, n_sim: int = 0,
                     gaps: bool = False) -> str:
    """One sentence that reads the collapse ratio and its test the right way round; ``n_sim``:
    the null sets that calibrated p (collapse_bootstrap_p_value), 0 for the F-test's own p;
    ``gaps``: some run had checkpoints left out of its series (rho^k across them)."""
    if not np.isfinite(ratio):
        return "fewer than two runs with a per-model fit: no collapse across sizes to judge"
    adjusted = (f", errors of consecutive checkpoints AR(1) with rho {ar1.rho_text(rho)}"
                + (f", {ar1.GAP_WORDS}" if gaps else "") if rho > 0 else "")
    calibrated = f", calibrated on {n_sim} simulated null data sets" if n_sim else ""
    floor = 1.0 / (n_sim + 1) if n_sim else 0.0
    p_text = f"p <= {floor:.2g}" if p_value <= floor else f"p = {p_value:.2g}"
    test = (f" (F-test of one curve vs one per run{adjusted}{calibrated}: {p_text})"
            if np.isfinite(p_value) else "")
    if ratio <= COLLAPSE_RATIO_NEAR_ONE:
        return f"near 1: one curve serves every run{test}"
    if np.isfinite(p_value) and p_value >= 0.05:
        return (f"one pooled curve leaves {ratio:.3g}x the residual sum of squares of one curve per "
                f"run, but the test does not reject one curve at 5%: the runs' own (autocorrelated) "
                f"scatter can account for the difference{test}")
    return (f"runs follow distinct curves: one pooled curve leaves {ratio:.3g}x the residual "
            f"sum of squares of one curve per run{test}")

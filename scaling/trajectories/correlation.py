"""A statistic's correlation with the loss beyond what training time explains. Many statistics
simply grow with training, so the raw correlation with loss is not evidence of a link: the partial
correlation removes what log(step) and the learning rate explain, within each run, before
correlating, and its p counts the checkpoints as the independent points their AR(1) errors are worth."""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats as scipy_stats

from scalefit.scaling.trajectories import ar1
from scalefit.scaling.trajectories.table import JOINED, as_table, checkpoint_lags, gap_records
from scalefit.schema import require_columns

STEP_POLY_DEGREE = 4  # what "step alone explains": a quartic in log10(step), within each run


def partial_correlation(joined: pd.DataFrame) -> dict:
    """Correlation of statistic and loss after removing log(step) and lr within each run.

    Within each model both the statistic and the loss are regressed on a quartic in
    log10(step) and the lr; the residuals are pooled and correlated (Pearson and Spearman). The
    p-value counts the residuals as the number of independent points they are worth, given AR(1)
    errors in both series (each rho by REML over the runs) and the detrending
    (`ar1.effective_points`; rho^k between points k places apart in a run whose series left out
    checkpoints, table.checkpoint_lags: at a shape's bound, without a finite value or loss).
    ``joined``: join_stat_and_loss(...)'s output; a checkpoint without a finite value or loss is
    left out, as ``collapse_report`` leaves it out, and is a gap in its run's series too.
    """
    joined, _ = as_table(joined, "joined")
    left_out = gap_records(joined.attrs)
    require_columns(joined, ("model", "step", "value", "loss"), "joined", JOINED)
    finite = np.isfinite(joined[["value", "loss"]].to_numpy(dtype=float, na_value=np.nan)).all(axis=1)
    dropped = joined.loc[~finite, ["model", "step"]]
    joined = joined[finite]
    res_v, res_l, designs, values, losses, lags, gapped = [], [], [], [], [], [], []
    no_lr, fitted = [], []  # runs without an lr at every checkpoint: their lr is not removed
    for model, run in joined.groupby("model", sort=True):
        run = run[run["step"] > 0].sort_values("step")
        if len(run) < STEP_POLY_DEGREE + 4 or run["loss"].nunique() < 2:  # a constant loss: nothing
            continue  # to correlate, its residuals are rounding (collapse_report's same_loss_models)
        fitted.append(model)
        lags.append(checkpoint_lags(run, model, left_out,
                                    dropped.loc[dropped["model"] == model, "step"]))
        if lags[-1] is not None:
            gapped.append(str(model))
        logstep = np.log10(run["step"].to_numpy(dtype=float))
        z = (logstep - logstep.mean()) / (logstep.std() or 1.0)
        cols = [z ** d for d in range(STEP_POLY_DEGREE + 1)]
        lr = pd.to_numeric(run["lr"], errors="coerce") if "lr" in run else None
        if lr is None or not np.isfinite(lr.to_numpy(dtype=float, na_value=np.nan)).all():
            no_lr.append(str(model))
        elif lr.nunique() > 1:  # a constant lr is already in the intercept
            cols.append(lr.to_numpy(dtype=float) / lr.max())
        design = np.column_stack(cols)
        designs.append(design)
        values.append(run["value"].to_numpy(dtype=float))
        losses.append(run["loss"].to_numpy(dtype=float))
        for target, sink in ((run["value"], res_v), (run["loss"], res_l)):
            t = target.to_numpy(dtype=float)
            coef, *_ = np.linalg.lstsq(design, t, rcond=None)
            sink.append(t - design @ coef)
    varies = len(joined) > 2 and joined["value"].nunique() > 1 and joined["loss"].nunique() > 1
    out = {"raw_pearson": float(scipy_stats.pearsonr(joined["value"], joined["loss"]).statistic)
           if varies else float("nan"),
           "raw_spearman": float(scipy_stats.spearmanr(joined["value"], joined["loss"]).statistic)
           if varies else float("nan"),
           "controls": _controls(no_lr, fitted, "lr" in joined and joined["lr"].notna().any()),
           "gapped_models": gapped}
    if not res_v:
        out.update(partial_pearson=float("nan"), partial_spearman=float("nan"),
                   partial_p_value=float("nan"), n_points=0)
        return out
    rv, rl = np.concatenate(res_v), np.concatenate(res_l)
    # a constant (t_nu at its cap) leaves residuals of rounding noise, not 0: no correlation to take
    if not varies or np.std(rv) == 0 or np.std(rl) == 0:
        out.update(partial_pearson=float("nan"), partial_spearman=float("nan"),
                   partial_p_value=float("nan"), n_points=len(rv))
        return out
    r = float(scipy_stats.pearsonr(rv, rl).statistic)
    lags = lags if gapped else None
    rho_v, rho_l = ar1.pooled_reml_rho(designs, values, lags), ar1.pooled_reml_rho(designs, losses, lags)
    n_eff = ar1.effective_points(designs, rho_v, rho_l, lags)
    out.update(partial_pearson=r, partial_p_value=_correlation_p_value(r, n_eff),
               partial_n_effective=float(n_eff),
               partial_spearman=float(scipy_stats.spearmanr(rv, rl).statistic), n_points=len(rv))
    return out


def _controls(no_lr: list, fitted: list, has_lr: bool) -> str:
    """What partial_correlation removes, as the report says it: lr only where the runs have it."""
    polynomial = f"a degree-{STEP_POLY_DEGREE} polynomial in log10(step)"
    if (not fitted and not has_lr) or (fitted and len(no_lr) == len(fitted)):
        return f"{polynomial} within each run (no lr: the table has no lr at these checkpoints)"
    if no_lr:
        return (f"{polynomial} and lr, within each run (not lr in {', '.join(no_lr)}: "
                "no lr at every checkpoint)")
    return f"{polynomial} and lr, within each run"


def _correlation_p_value(r: float, n_effective: float) -> float:
    """Two-sided p of a Pearson r from n_effective independent points (t with n - 2 df)."""
    df = n_effective - 2
    if df <= 0:
        return float("nan")
    t = r * np.sqrt(df / max(1.0 - r * r, 1e-300))
    return float(2 * scipy_stats.t.sf(abs(t), df))

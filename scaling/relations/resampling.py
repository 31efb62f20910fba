"""What a relation's bootstrap resamples: its units, not its rows.

A unit is what was sampled independently: one run (a row of a run table), one (params, tokens)
configuration trained on two datasets (its x run and its y run), or one whole model of a
checkpoint table, whose checkpoints share one training run and are not independent draws (the
Pythia evals: 27 checkpoints of each of 16 models). Resampling units with replacement and taking
every row of each drawn unit is the cluster (block) bootstrap; with one row per unit it is the
ordinary pairs bootstrap. The resamples themselves come from ``scaling.resample``.

Where every point is its own unit, a least-squares relation can instead keep its points and
redraw their noise: the wild bootstrap (``wild_bootstrap``) refits y* = y_hat + v e / (1 - h)
with Rademacher signs v, each residual e blown up by its leverage h (HC3's residual), so each
point keeps its own scatter (binomial accuracies scatter less near 0 and 1) without being told
where it comes from.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from scalefit.scaling.fitresult import FitResult, attach_intervals
from scalefit.scaling.resample import collect_draws, pairs_bootstrap

UNIT = "_unit"  # the column of LossPairs' frames naming each row's unit


def unit_codes(units) -> tuple[np.ndarray, int]:
    """(code per row in 0..n_units-1, n_units) for unit labels; None: every row its own unit."""
    if units is None:
        return None, 0
    codes, uniques = pd.factorize(pd.Series(np.asarray(units, dtype=object)).astype(str))
    return codes, len(uniques)


class UnitRows:
    """Row indices of the units drawn in a resample, for one or more tables sharing the units."""

    def __init__(self, n_units: int, *codes):
        self.n_units = n_units
        self.members = [[np.flatnonzero(c == u) for u in range(n_units)] for c in codes]

    def rows(self, unit_idx, table: int = 0) -> np.ndarray:
        """Rows of table ``table`` for the drawn units (a unit drawn twice gives its rows twice)."""
        members = self.members[table]
        parts = [members[u] for u in unit_idx]
        return np.concatenate(parts) if parts else np.zeros(0, dtype=int)


def checkpoint_units(frame: pd.DataFrame) -> pd.Series | None:
    """Each row's model where the table holds several checkpoints (steps) of one model, else None.

    Checkpoints of one training run are one sample, so the bootstrap draws whole models.
    """
    if not {"model", "step"} <= set(frame.columns) or frame.empty:
        return None
    if frame.groupby("model")["step"].nunique().max() <= 1:
        return None
    return frame["model"].astype(str)


def trained_rows(frame: pd.DataFrame) -> np.ndarray:
    """Rows past step 0 (flops > 0, else step > 0, whichever the table has): an untrained step-0
    checkpoint is fitted at every cut (calibrate, split_by_compute) yet shows no model's training."""
    for key in ("flops", "step"):
        if key in frame.columns:
            return pd.to_numeric(frame[key], errors="coerce").to_numpy(float) > 0
    return np.ones(len(frame), bool)


def held_out_models(held: pd.DataFrame, fitted: pd.DataFrame) -> dict | None:
    """Where the rows are checkpoints (several steps of one model among ``held`` and ``fitted``
    together, as ``checkpoint_units`` tells): {"n_models": the held-out rows' models, "n_in_fit":
    held-out rows whose model also has trained checkpoints (``trained_rows``) in ``fitted``};
    None for a table of runs. The Pythia evals' 46 'held-out runs' were late checkpoints of 4
    models fitted up to them."""
    keys = ["model", "step"]
    if held.empty or not set(keys) <= set(held.columns):
        return None
    fitted = fitted if set(keys) <= set(fitted.columns) else fitted.iloc[0:0].reindex(columns=keys)
    if checkpoint_units(pd.concat([fitted[keys], held[keys]], ignore_index=True)) is None:
        return None
    models = held["model"].dropna().astype(str)
    return {"n_models": int(models.nunique()),
            "n_in_fit": int(models.isin(set(fitted["model"][trained_rows(fitted)].dropna()
                                                .astype(str))).sum())}


def checkpoints_of(n: int, n_models: int, what: str = "checkpoint") -> str:
    """'46 checkpoints of 4 models' ('46 held-out checkpoints ...' with ``what``): held-out rows
    of a checkpoint table, not runs."""
    return f"{n} {what}{'s' * (n != 1)} of {n_models} model{'s' * (n_models != 1)}"


def fitted_models_note(n_in_fit: int, n: int, what: str) -> str | None:
    """Once, where held-out checkpoints have earlier checkpoints of their model in the fit: they
    test later training of models the fit has seen, not ``n`` independent runs."""
    if not n_in_fit:
        return None
    return (f"earlier checkpoints of the same model are in the fit for {n_in_fit} of the {n} "
            f"{what}: they check later training of models the fit has seen, a less "
            f"independent test than {n} new runs")


def attach_draws(result: FitResult, draws: dict, failed: int, n: int, fixed=()) -> None:
    """Bootstrap draws onto a relation's result: each parameter's ci95 (``fixed`` ones keep
    none), ``result.draws``, ``extra["bootstrap"]`` and a warning when many refits failed."""
    attach_intervals(result, draws, fixed)
    result.extra["bootstrap"] = {"n": n, "n_failed": failed}
    if failed > 0.05 * n:
        result.warnings.append(f"{failed} of {n} bootstrap refits failed")


def leverages(func, x, theta, step: float = 1e-6) -> np.ndarray:
    """Diagonal of the hat matrix J (J'J)^+ J' of a least-squares fit of ``func(x, *theta)``
    (central differences), kept below 0.99: how much each point pulls the curve to itself."""
    theta = np.asarray(theta, float)
    cols = []
    for j in range(theta.size):
        d = step * max(abs(theta[j]), 1.0)
        up, down = theta.copy(), theta.copy()
        up[j] += d
        down[j] -= d
        with np.errstate(over="ignore", invalid="ignore"):
            cols.append((func(x, *up) - func(x, *down)) / (2 * d))
    J = np.stack(cols, axis=-1)
    if not np.all(np.isfinite(J)):
        return np.zeros(len(x))
    h = np.einsum("ij,jk,ik->i", J, np.linalg.pinv(J.T @ J), J)
    return np.clip(h, 0.0, 0.99)


def wild_bootstrap(fitted, residuals, leverage, n_resamples: int, seed: int, refit, names, *,
                   progress: bool = False):
    """Call ``refit(y_star)`` on y* = fitted + v residuals / (1 - leverage), v = +-1 at random
    (Rademacher) per point and resample; return ({name: draws}, number failed) as
    ``scaling.resample.pairs_bootstrap`` does (a failed refit returns None, leaves NaN)."""
    fitted = np.asarray(fitted, float)
    blown = np.asarray(residuals, float) / (1.0 - np.asarray(leverage, float))
    signs = np.random.default_rng(seed).choice([-1.0, 1.0], (n_resamples, fitted.size))
    return collect_draws(fitted + signs * blown, refit, names, progress=progress,
                         desc="wild bootstrap")


def unit_bootstrap(n_rows: int, units, n_resamples: int, seed: int, refit, names, *,
                   progress: bool = False):
    """The pairs bootstrap over units (e.g. every checkpoint of one model together), or over rows
    when ``units`` is None: ``refit(rows)`` gets the resampled row indices."""
    codes, n_units = unit_codes(units)
    groups = UnitRows(n_units, codes) if codes is not None else None

    def refit_rows(idx):
        return refit(groups.rows(idx) if groups is not None else idx)

    return pairs_bootstrap(n_units or n_rows, n_resamples, seed, refit_rows, names,
                           progress=progress)

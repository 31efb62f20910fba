"""What a relation's bootstrap resamples: its units, not its rows.

A unit is what was sampled independently: one run (a row of a run table), one (params, tokens)
configuration trained on two datasets (its x run and its y run), or one whole model of a
checkpoint table, whose checkpoints share one training run and are not independent draws (the
Pythia evals: 27 checkpoints of each of 16 models). Resampling units with replacement and taking
every row of each drawn unit is the cluster (block) bootstrap; with one row per unit it is the
ordinary pairs bootstrap. The resamples themselves come from ``scaling.resample``.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from scalefit.scaling.resample import pairs_bootstrap

from scalefit.scaling.fitresult import FitResult, attach_intervals

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


def attach_draws(result: FitResult, draws: dict, failed: int, n: int, fixed=()) -> None:
    """Bootstrap draws onto a relation's result: each parameter's ci95 (``fixed`` ones keep
    none), ``result.draws``, ``extra["bootstrap"]`` and a warning when many refits failed."""
    attach_intervals(result, draws, fixed)
    result.extra["bootstrap"] = {"n": n, "n_failed": failed}
    if failed > 0.05 * n:
        result.warnings.append(f"{failed} of {n} bootstrap refits failed")


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

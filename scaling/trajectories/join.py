"""The join of the layers: evaluation and weight-statistic long tables, wide on (model, step).

Evaluation rows become one column per `{dataset}/{metric}` (e.g. `pile-val/loss`;
``scalefit.schema.wide_evals``), weight rows one column per `{group}/{stat}` (the group's pooled
row, else the mean over its tensors), and suite metadata (params, tokens, lr, ...) rides along. The result is the table a fit reads: one row per checkpoint.
"""
from __future__ import annotations

import pandas as pd

from scalefit.errors import InputError
from scalefit.schema import pooled_rows, split_rows, wide_evals
from scalefit.scaling.trajectories.table import schedule_columns

KEYS = ["model", "step"]  # scalefit.schema.KEYS, as a list for pandas


def wide_weights(weights: pd.DataFrame, *, stats=None, groups=None) -> pd.DataFrame:
    """One row per (model, step), one column per group and statistic.

    The value is the group's pooled row (tensor "*") where the table has one, else the mean
    over the group's tensors.
    """
    if weights.empty:
        return pd.DataFrame(columns=KEYS)
    rows = weights
    if stats is not None:
        rows = rows[rows["stat"].isin(list(stats))]
    if groups is not None and "group" in rows:
        rows = rows[rows["group"].isin(list(groups))]
    rows = pooled_rows(rows)
    group = rows["group"].astype(str) if "group" in rows else "all"
    keyed = rows.assign(_column=group + "/" + rows["stat"].astype(str),
                        value=pd.to_numeric(rows["value"], errors="coerce"))
    wide = keyed.pivot_table(index=KEYS, columns="_column", values="value", aggfunc="mean")
    wide.columns.name = None
    return wide.reset_index()


def join_checkpoints(evals: pd.DataFrame | None = None, weights: pd.DataFrame | None = None, *,
                     suite: pd.DataFrame | None = None, stats=None, groups=None) -> pd.DataFrame:
    """Wide per-checkpoint table: evaluations, weight statistics and suite metadata.

    Either table may be a combined long table (as `scalefit eval --weights` writes); rows are
    sorted into evaluation and weight rows by which of `metric` and `stat` they fill.
    `suite` adds per-model facts (params, params_nonembed, ...) joined on `model`, or on
    (model, step) when it has a step column.
    """
    frames = [f for f in (evals, weights) if f is not None]
    if not frames:
        raise InputError("join: give an evaluation table, a weight-statistics table, or both")
    combined = pd.concat(frames, ignore_index=True)
    for key in KEYS:
        if key not in combined:
            raise InputError(f"join: column '{key}' is missing")
    weight_rows, eval_rows = split_rows(combined)
    out = schedule_columns(combined)
    if out.empty:
        out = combined[KEYS].drop_duplicates()
    for part in (wide_evals(eval_rows), wide_weights(weight_rows, stats=stats, groups=groups)):
        if len(part.columns) > len(KEYS):
            out = out.merge(part, on=KEYS, how="outer")
    if suite is not None:
        on = KEYS if "step" in suite else ["model"]
        extra = [c for c in suite.columns if c not in out.columns or c in on]
        out = out.merge(suite[extra], on=on, how="left")
    return out.sort_values(KEYS).reset_index(drop=True)

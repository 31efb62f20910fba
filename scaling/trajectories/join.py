"""The join of the layers: evaluation and weight-statistic long tables, wide on (model, step).

Evaluation rows become one column per `{dataset}/{metric}` (e.g. `pile-val/loss`;
``scalefit.schema.wide_evals``), weight rows one column per `{group}/{stat}` (the group's pooled
row, else the mean over its tensors), and suite metadata (params, tokens, lr, ...) rides along. The result is the table a fit reads: one row per checkpoint.
"""
from __future__ import annotations

import pandas as pd

from scalefit.errors import InputError, known
from scalefit.options import split_values
from scalefit.schema import (WEIGHT_KEYS, checked_steps, distinct_rows, measurement_name,
                             numeric_values, pooled_rows, split_rows, wide_evals)
from scalefit.scaling.trajectories.table import schedule_columns
from scalefit.tables import as_table

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
        rows = rows[rows["stat"].isin(_names(stats, rows, "stat"))]
    if groups is not None and "group" in rows:
        rows = rows[rows["group"].isin(_names(groups, rows, "group"))]
    rows = pooled_rows(rows)
    group = rows["group"].astype(str) if "group" in rows else "all"
    keyed = rows.assign(_column=group + "/" + rows["stat"].astype(str),
                        value=pd.to_numeric(rows["value"], errors="coerce"))
    wide = keyed.pivot_table(index=KEYS, columns="_column", values="value", aggfunc="mean")
    wide.columns.name = None
    return wide.reset_index()


def _names(names, rows: pd.DataFrame, column: str) -> list[str]:
    """``names`` (a name, 'a,b' or a list) as a list, each one a value of ``column``, or an
    InputError naming the first that is not (a typo kept no row of it, without a word)."""
    names = split_values([names] if isinstance(names, str) else names)
    have = set(rows[column].dropna().astype(str))
    for name in names:
        if name not in have:
            raise InputError(f"join: {column}s: no weight rows have {column} '{name}' "
                             f"(known: {known(have)})")
    return names


def join_checkpoints(evals: pd.DataFrame | None = None, weights: pd.DataFrame | None = None, *,
                     suite: pd.DataFrame | None = None, stats=None, groups=None) -> pd.DataFrame:
    """Wide per-checkpoint table: evaluations, weight statistics and suite metadata.

    Either table may be a combined long table (as `scalefit eval --weights` writes); rows are
    sorted into evaluation and weight rows by which of `metric` and `stat` they fill.
    `suite` adds per-model facts (params, params_nonembed, ...) joined on `model`, or on
    (model, step) when it has a step column. `stats` / `groups`: names (a list, or "a,b") of the
    weight statistics and groups to keep. Each table may be a DataFrame, a path, row dicts or a
    dict of columns (``tables.as_table``); two rows that give one measurement different values
    are refused (``schema.distinct_rows``), exact repeats count once.
    """
    frames = [as_table(f, name)[0] for f, name in ((evals, "evals"), (weights, "weights"))
              if f is not None]
    if not frames:
        raise InputError("join: give an evaluation table, a weight-statistics table, or both")
    combined = pd.concat(frames, ignore_index=True)
    for key in KEYS:
        if key not in combined:
            raise InputError(f"join: column '{key}' is missing")
    if combined.empty:  # an over-narrow filter upstream: an empty join said nothing of it
        raise InputError(f"join: the table{'s' if len(frames) > 1 else ''} given "
                         f"{'have' if len(frames) > 1 else 'has'} no rows (columns: "
                         f"{', '.join(map(str, combined.columns))})")
    # steps as whole numbers: a text step failed pandas' merge on int64 and str, and 'a' read as
    # a repeat of another row's measurement
    combined = checked_steps(combined, "join")
    weight_rows, eval_rows = split_rows(combined)
    if not eval_rows.empty:
        eval_rows = numeric_values(eval_rows, "join", "an evaluation")
        eval_rows = distinct_rows(eval_rows.assign(measurement=measurement_name(eval_rows)),
                                  (*KEYS, "measurement"), "join", "evaluation")
    if not weight_rows.empty:
        weight_rows = distinct_rows(numeric_values(weight_rows, "join", "a weight statistic"),
                                    WEIGHT_KEYS, "join", "weight statistic")
    out = schedule_columns(combined)
    if out.empty:
        out = combined[KEYS].drop_duplicates()
    for part in (wide_evals(eval_rows), wide_weights(weight_rows, stats=stats, groups=groups)):
        if len(part.columns) > len(KEYS):
            out = out.merge(part, on=KEYS, how="outer")
    if suite is not None:
        suite, _ = as_table(suite, "suite")
        if "model" not in suite:
            raise InputError(f"suite: column 'model' is missing (a suite table has one row per "
                             f"model, or per (model, step), with facts such as params; columns: "
                             f"{', '.join(map(str, suite.columns)) or 'none'})")
        on = KEYS if "step" in suite else ["model"]
        extra = [c for c in suite.columns if c not in out.columns or c in on]
        out = out.merge(suite[extra], on=on, how="left")
    return out.sort_values(KEYS).reset_index(drop=True)

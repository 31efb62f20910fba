"""The long-table schema every layer writes and reads: key columns, row kinds, the pooled-group
rule, and the wide per-checkpoint view of evaluation rows.

Evaluation rows: (model, step, dataset|task, metric, value, n_tokens) plus schedule facts (tokens,
lr). Weight-statistic rows: (model, step, tensor, group, layer, stat, label, value). A table from
``scalefit eval --weights`` holds both; a row is one kind or the other by which of ``metric`` and
``stat`` it fills. Everything joins on (model, step). Pure pandas: every layer may import this.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from scalefit.errors import InputError, row_name, rows_name

KEYS = ("model", "step")
EVAL_COLUMNS = ("model", "step", "dataset", "task", "metric", "value", "n_tokens")
WEIGHT_COLUMNS = ("model", "step", "tensor", "group", "layer", "stat", "label", "value")
# `label`: a text value where a statistic is a name (best_family = "student_t"), else empty
FACT_COLUMNS = ("tokens", "lr")  # per-checkpoint facts that ride along in the wide view
# C = 6 N D: training FLOPs per parameter per token (forward 2, backward 4), the `flops` column's
# rule unless a run says otherwise (Kaplan et al. 2020, Hoffmann et al. 2022)
FLOPS_PER_PARAM_TOKEN = 6.0

# The `tensor` value of a group's row (all MLP-in matrices of a checkpoint): GROUP_RULE says what
# it holds, a statistic of the pooled weights or, for a spectral statistic, the mean over matrices.
POOLED_TENSOR = "*"
# The spectral statistics of a matrix (weightstats.spectra computes them): a group's row of one of
# these is the mean over the group's matrices (weightstats.measure), not the spectrum of the pooled
# weights. Here, below the layers, so that scaling/ names a group row's meaning without weightstats/.
SPECTRUM_STATS = ("sv_max", "stable_rank", "entropy_rank", "alpha", "alpha_xmin",
                  "alpha_ks", "alpha_n_tail", "alpha_weighted")
# the names from SPECTRUM_STATS itself, so the rule and group_row_is_mean cannot part
GROUP_RULE = ("A group's row (tensor `*`) pools the weights of its tensors for the moments, quantiles and "
              "fitted families, and is the mean over its matrices for the spectral statistics ("
              + ", ".join(f"`{s}`" for s in SPECTRUM_STATS) + ").")


def group_row_is_mean(stat) -> bool:
    """Whether a group's row (tensor '*') of ``stat`` is the mean over the group's matrices (a
    spectral statistic, GROUP_RULE) rather than the statistic of its pooled weights."""
    return isinstance(stat, str) and stat in SPECTRUM_STATS
POOLED_KEYS = ("model", "step", "group", "stat")


WEIGHT_KEYS = ("model", "step", "tensor", "group", "layer", "stat")  # one weight-statistic value


def checked_steps(df: pd.DataFrame, source: str) -> pd.DataFrame:
    """The table with its ``step`` column as whole numbers >= 0 (int64); the first row whose
    step is anything else (text, empty, negative, fractional) is an InputError naming it."""
    if "step" not in df:
        return df
    step = pd.to_numeric(df["step"], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    bad = ~(np.isfinite(step) & (step >= 0) & (step == np.round(step)))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InputError(f"{source}: column 'step', {row_name(df, i)}: '{df['step'].iloc[i]}' "
                         "is not a step; expected a whole number >= 0 (the optimizer step)")
    return df.assign(step=step.astype(np.int64))


def steps_text(steps, limit: int = 6) -> str:
    """'0, 1, 2' or '0, 1, 2, 4, 8, 16, ... (40 in all)': steps for a one-line message."""
    steps = sorted(int(s) for s in steps)
    shown = ", ".join(map(str, steps[:limit]))
    return shown + (f", ... ({len(steps)} in all)" if len(steps) > limit else "")


def checkpoints_text(n: int) -> str:
    """'1 checkpoint', '5 checkpoints': a count of checkpoints as a sentence says it."""
    return f"{n} checkpoint{'' if n == 1 else 's'}"


def numeric_values(rows: pd.DataFrame, source: str, what: str) -> pd.DataFrame:
    """``rows`` with ``value`` as floats, NaN where a cell is missing or infinite (a measurement
    that is undefined there, e.g. the kurtosis of an all-zero bias at step 0); a cell holding
    text is an InputError naming its row, as is a table without a ``value`` column."""
    if "value" not in rows:  # was pandas' KeyError 'value'
        raise InputError(f"{source}: column 'value' is missing (a long table holds each "
                         f"measurement's number in 'value'; columns: {', '.join(map(str, rows.columns))})")
    raw = rows["value"]
    values = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    text = np.isnan(values) & raw.notna().to_numpy()
    if text.any():
        i = int(np.flatnonzero(text)[0])
        raise InputError(f"{source}: column 'value', {row_name(rows, i)}: '{raw.iloc[i]}' is not "
                         f"a number ({what}); expected a number, or empty where it is undefined")
    return rows.assign(value=np.where(np.isfinite(values), values, np.nan))


# numeric statistics a message offers in place of a categorical one, in this order where a table has them
NUMERIC_STAT_EXAMPLES = ("excess_kurtosis", "t_nu", "gennorm_beta")


def has_label(rows: pd.DataFrame) -> np.ndarray:
    """Which rows fill ``label``: a statistic that names a category (best_family = "student_t")."""
    if "label" not in rows:
        return np.zeros(len(rows), dtype=bool)
    return rows["label"].fillna("").astype(str).str.strip().ne("").to_numpy()


def refuse_categorical(weights: pd.DataFrame, stat: str, where: str) -> None:
    """An InputError where ``stat``'s rows in ``weights`` name a category in ``label``: their
    ``value`` is the category's code, so a mean, fit or curve of it says nothing. ``where``
    begins the message (the flag or argument); the numeric statistics of ``weights`` are offered."""
    if "stat" not in weights:
        return
    is_stat = (weights["stat"] == stat).to_numpy()
    labelled = has_label(weights)
    if not (is_stat & labelled).any():
        return
    numeric = set(weights.loc[~labelled, "stat"].dropna().astype(str)) - set(
        weights.loc[labelled, "stat"].dropna().astype(str))
    offered = [s for s in NUMERIC_STAT_EXAMPLES if s in numeric] or sorted(numeric)[:3] \
        or list(NUMERIC_STAT_EXAMPLES)
    such = offered[0] if len(offered) == 1 else f"{', '.join(offered[:-1])} or {offered[-1]}"
    raise InputError(f"{where}: '{stat}' names a category in its rows' label column (its value is a "
                     f"code, not a quantity: a mean, fit or plot of it says nothing); give a numeric "
                     f"statistic such as {such}")


def require_columns(df: pd.DataFrame, columns, source: str, what: str = "a weight-statistics table"):
    """An InputError naming the first of ``columns`` that ``df`` lacks, and what needs them: the one
    column check of a long table, for every layer (the trainer's run tables as the trajectories')."""
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise InputError(f"{source}: column '{missing[0]}' is missing "
                         f"({what} needs {', '.join(columns)})")


def distinct_rows(rows: pd.DataFrame, keys, source: str, what: str, *, values=("value",),
                  hint: str = "keep one (a table holds one measurement per key)",
                  named=None) -> pd.DataFrame:
    """``rows`` with exact repeats dropped (a table concatenated twice); two rows with one key and
    different ``values`` are an InputError naming both: averaging them would mix two measurements.
    ``named``: the key columns the message names (default all ``keys``); ``hint``: the message's
    advice, or a function of the two rows that gives it (the column that tells them apart)."""
    keys = [k for k in keys if k in rows]
    keyed = rows[keys].astype(str)
    if not keyed.duplicated().any():
        return rows
    repeat = keyed.assign(**{f"_{v}": rows[v].astype(str) for v in values}).duplicated().to_numpy()
    rows, keyed = rows[~repeat], keyed[~repeat]
    clash = keyed.duplicated().to_numpy()
    if clash.any():
        j = int(np.flatnonzero(clash)[0])
        i = int(np.flatnonzero((keyed == keyed.iloc[j]).all(axis=1).to_numpy())[0])
        key = ", ".join(f"{k}={keyed[k].iloc[j]}" for k in (keys if named is None else
                                                              [k for k in named if k in keys]))
        changed = [v for v in values if str(rows[v].iloc[i]) != str(rows[v].iloc[j])]
        differ = ", ".join(f"{v} {rows[v].iloc[i]} and {rows[v].iloc[j]}" if len(values) > 1
                           else f"{rows[v].iloc[i]} and {rows[v].iloc[j]}" for v in changed)
        advice = hint(rows.iloc[[i, j]]) if callable(hint) else hint
        raise InputError(f"{source}: {rows_name(rows, [i, j], ' and ')} measure the same "
                         f"{what} ({key}) with different values ({differ}); {advice}")
    return rows


def split_rows(df: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split a long table into (weight-statistic rows, evaluation rows)."""
    is_weight = df["stat"].notna() if "stat" in df else pd.Series(False, index=df.index)
    is_eval = df["metric"].notna() if "metric" in df else pd.Series(False, index=df.index)
    return df[is_weight & ~is_eval], df[is_eval]


def pooled_rows(rows: pd.DataFrame) -> pd.DataFrame:
    """The pooled-row rule: where a (model, step, group, stat) has a pooled row, keep only it.

    Averaging a group's pooled statistic with its own tensors' values would mix two quantities.
    Keys with no pooled row keep their per-tensor rows, which the caller averages
    (``group_values`` does both).
    """
    if "tensor" not in rows or "group" not in rows:
        return rows
    is_pooled = rows["tensor"].astype(str) == POOLED_TENSOR
    if not is_pooled.any():
        return rows
    keys = list(POOLED_KEYS)
    covered = pd.MultiIndex.from_frame(rows.loc[is_pooled, keys].astype(str)).unique()
    per_tensor = rows[~is_pooled]
    shadowed = pd.MultiIndex.from_frame(per_tensor[keys].astype(str)).isin(covered)
    return pd.concat([rows[is_pooled], per_tensor[~shadowed]])


def group_values(rows: pd.DataFrame, by=("model", "step", "group")) -> pd.DataFrame:
    """One value per ``by`` key (and stat): the pooled row where there is one, else the mean
    over the group's tensors; ``n_tensors`` says how many rows went into each value."""
    rows = pooled_rows(rows)
    keys = [c for c in (*by, "stat") if c in rows]
    values = pd.to_numeric(rows["value"], errors="coerce")
    return (rows.assign(value=values).groupby(keys, as_index=False)
            .agg(value=("value", "mean"), n_tensors=("value", "size")))


def measurement_name(evals: pd.DataFrame) -> pd.Series:
    """Each evaluation row's column name in the wide view: ``{dataset|task}/{metric}``.

    Distinct settings of one task never share a name: where a task was run with several
    ``num_fewshot`` values the name says which (``piqa/acc@5shot``), so no two settings are
    averaged into one number.
    """
    if "dataset" in evals and "task" in evals:
        name = evals["dataset"].fillna(evals["task"])
    elif "dataset" in evals:
        name = evals["dataset"]
    else:
        name = evals["task"]
    name = name.astype(str) + "/" + evals["metric"].astype(str)
    if "num_fewshot" in evals:
        shots = pd.to_numeric(evals["num_fewshot"], errors="coerce")
        several = shots.groupby(name).transform("nunique") > 1
        suffix = "@" + shots.fillna(0).astype(int).astype(str) + "shot"
        name = name.where(~several, name + suffix)
    return name


def wide_evals(evals: pd.DataFrame, *, facts: bool = False) -> pd.DataFrame:
    """One row per (model, step), one ``{dataset|task}/{metric}`` column per measurement.

    With ``facts``: the per-checkpoint facts (tokens, lr) first and ``train_loss`` (the loss on
    the dataset marked ``is_train``) beside them, and each measured standard error as
    ``{column}_se`` right after its value, as a sweep's report shows them. Repeated rows of one
    measurement (the same value measured twice) collapse to their mean.
    """
    keys = list(KEYS)
    if evals is None or evals.empty:
        return pd.DataFrame(columns=keys + ([c for c in FACT_COLUMNS] if facts else []))
    keyed = evals.assign(_column=measurement_name(evals))
    wide = keyed.pivot_table(index=keys, columns="_column", values="value", aggfunc="mean")
    if facts and "se" in keyed and keyed["se"].notna().any():
        se = keyed.dropna(subset=["se"]).pivot_table(index=keys, columns="_column", values="se",
                                                      aggfunc="mean")
        order = [c for col in wide.columns for c in (col, f"{col}_se")
                 if c == col or col in se.columns]
        wide = wide.join(se.add_suffix("_se"))[order]
    wide.columns.name = None
    wide = wide.reset_index()
    if not facts:
        return wide
    present = [c for c in FACT_COLUMNS if c in evals]
    out = evals[keys + present].drop_duplicates(keys).merge(wide, on=keys)
    lead = keys + present
    if "is_train" in evals:
        train = evals[(evals["is_train"] == True) & (evals["metric"] == "loss")]  # noqa: E712
        if not train.empty:
            out = out.merge(train[keys + ["value"]].rename(columns={"value": "train_loss"}),
                            on=keys, how="left")
            lead = lead + ["train_loss"]
    out = out[lead + [c for c in out.columns if c not in lead]]
    return out.sort_values(keys).reset_index(drop=True)

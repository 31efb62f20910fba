"""Selecting one weight statistic's trajectory from the tables that the sweeps write.

The rows follow ``scalefit.schema``: weight rows (model, step, tensor, group, layer, stat, value)
and evaluation rows (model, step, tokens, lr, dataset|task, metric, value, n_tokens), told apart
by ``split_rows``; a group's pooled row wins over its tensors by ``pooled_rows``. Everything
joins on (model, step). A shape statistic at its fit's bound (a Student-t nu at its cap) is left
out here, for every analysis that reads a trajectory, and said so. A derived statistic (t_xi =
1/t_nu: scalefit.derived_stats) is computed from its source's rows when it is selected.
"""
from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import pandas as pd

from scalefit.derived_stats import stat_rows, with_derivable
from scalefit.errors import InputError, a_type, known, row_name, suggestion
from scalefit.integrity import drop_flagged_beside
from scalefit.renamed import renamed_arguments
from scalefit.tables import as_table  # warmup_study and trajectory import it from here too
from scalefit.report import BOUND_MEANINGS, shape_bound
from scalefit.schema import (KEYS, POOLED_TENSOR, WEIGHT_KEYS, checked_steps, distinct_rows,
                             group_row_is_mean, group_values, numeric_values, pooled_rows, refuse_categorical, require_columns,
                             split_rows, steps_text)
from scalefit.shapes import at_shape_bound
from scalefit.scaling.flags import named
from scalefit.scaling.trajectories.ar1 import gap_lags

WEIGHT_COLUMNS = ("model", "step", "stat", "value")
SCHEDULE_COLUMNS = ("tokens", "lr", "warmup_steps", "total_steps", "lr_peak", "params",
                    "params_nonembed", "schedule", "cooldown_fraction")


def stat_label(stat: str, group=None, tensor=None, layer=None) -> str:
    """The selection's name in reports: 'stat / group (or tensor) / layer L'. A group's row of a
    spectral statistic is the mean over the group's matrices (schema.GROUP_RULE), and its name says
    so: 'sv_max (mean over mlp_in's matrices) / mlp_in'; other statistics' group rows are of the
    pooled weights ('t_nu / attn_out (pooled row)' where tensor '*' is asked for by name)."""
    group_row = bool(group) and tensor in (None, POOLED_TENSOR) and (layer is None or pooled_layer(layer))
    if group_row and group_row_is_mean(stat):
        stat, where = f"{stat} (mean over {group}'s matrices)", group
    else:
        where = f"{group} (pooled row)" if tensor == POOLED_TENSOR and group else tensor or group
    parts = [stat] + ([where] if where else []) + ([f"layer {layer}"] if layer is not None else [])
    return " / ".join(parts)


def select_models(df: pd.DataFrame, models, source: str = "table") -> pd.DataFrame:
    """The rows of ``models`` (names, or text such as "a,b"); every row when None or ""."""
    if models is None or (isinstance(models, str) and not models):
        return df
    if not isinstance(models, str) and not np.iterable(models):  # models=5: 'int' is not iterable
        raise InputError(f"models (--models): got {a_type(models)}; give model names (a list, or "
                         "text such as 'a,b')")
    parts = [part for m in ([models] if isinstance(models, str) else models) for part in str(m).split(",")]
    wanted = [m.strip() for m in parts if m.strip()]
    if not wanted:
        raise InputError(f"--models: '{models}' names no model; give comma-separated model names")
    require_columns(df, ("model",), source, "a table of checkpoints")
    have = df["model"].astype(str)
    missing = [m for m in wanted if m not in set(have)]
    if missing:
        raise InputError(f"{source}: column 'model' has no '{missing[0]}' (known: {known(have)})")
    return df[have.isin(wanted)]


def checkpoint_rows(df: pd.DataFrame, *, models=None, source: str = "table",
                    losses_source: str | None = None) -> tuple[pd.DataFrame, list[str]]:
    """(the rows of ``df`` that the trajectory analyses read, notes saying what was dropped).

    Only ``models`` (``select_models``); without the checkpoints that a sweep's integrity check
    flagged as duplicated weights (``scalefit.integrity``), when ``source`` or ``losses_source``
    is the path of a table in that sweep's folder: one hub branch serving another step's weights
    would otherwise enter the fit twice under two labels.
    """
    df = select_models(df, models, source)
    paths = [p for p in (source, losses_source) if p and Path(str(p)).is_file()]
    df, dropped = drop_flagged_beside(df, *paths)
    return df, [dropped] if dropped else []


@renamed_arguments(df="table")
def stat_trajectory(table: pd.DataFrame, stat: str, *, group: str | None = None,
                    tensor: str | None = None, layer=None, models=None,
                    losses: pd.DataFrame | None = None, source: str = "table",
                    losses_source: str | None = None) -> pd.DataFrame:
    """One row per (model, step): the statistic, averaged over the tensors that match; the
    trajectory `scalefit transitions` fits.

    `group` / `tensor` / `layer` narrow the rows. A group's pooled row (tensor "*") is its
    value when the table has one; otherwise, with several tensors left (e.g. every layer's
    MLP-in), the mean over them is the trajectory and `n_tensors` says how many were averaged.
    ``table`` (a DataFrame, a table's path, a list of row dicts or a dict of columns: ``as_table``)
    is read through ``checkpoint_rows`` (``models``; checkpoints flagged as duplicates beside
    ``source``). The schedule columns (lr, tokens, ...) come from ``losses`` (an evaluation table,
    in any of those forms) where given, else from ``table``.
    ``attrs["notes"]`` says which checkpoints were left out and why. A shape statistic's value at
    its fit's bound (t_nu at its cap 1e4) is no measurement: those checkpoints are left out too,
    and ``attrs["at_bound"]`` lists them per run (``_without_bound_values``). ``attrs["left_out"]``
    has one record per run of every checkpoint of its series left out, at the bound or not finite
    (``with_left_out``): the gaps across which the AR(1) fits correlate points rho^k.
    ``attrs["selection"]``: the stat, group, tensor and layer asked for (what a report names).
    """
    table, source = as_table(table, source)
    if losses is not None:
        losses, losses_source = as_table(losses, losses_source)
    rows, notes = checkpoint_rows(table, models=models, source=source, losses_source=losses_source)
    traj = _trajectory(rows, stat, group=group, tensor=tensor, layer=layer, source=source)
    attrs = dict(traj.attrs)
    if losses is not None:  # the schedule may live in the evaluation table
        schedule = schedule_columns(losses, losses_source or "losses table")
        if not schedule.empty:
            traj = traj.drop(columns=[c for c in schedule.columns if c in traj and c not in KEYS])
            traj = traj.merge(schedule, on=list(KEYS), how="left")
    traj.attrs.update(attrs, notes=notes + attrs.get("notes", []),  # the selection: reports name it
                      selection={"stat": stat, "group": group, "tensor": tensor, "layer": layer})
    return traj


class NoMeasuredValue(InputError):
    """A selection (stat, group, ...) of a checkpoint table whose every value is either not finite
    or at its shape fit's bound: rows, but nothing measured to fit (warmup-study leaves such a
    panel out and goes on with the others)."""


def stat_trajectories(table: pd.DataFrame, selections, *, source: str = "table",
                      unmeasured: list | None = None) -> list[pd.DataFrame | None]:
    """``stat_trajectory(table, stat, group=group, source=source)`` of each (stat, group) of
    ``selections``, in order, the table split and checked once for all of them (warmup-study's
    statistics of one table). ``unmeasured``: where a list is given, a selection with no measured
    value (``NoMeasuredValue``) is None in the result and its (stat, group, message) is appended
    there; without one it is refused."""
    table, source = as_table(table, source)
    rows, notes = checkpoint_rows(table, source=source)
    checkpoints = _Checkpoints(rows, source)
    out = []
    for stat, group in selections:
        try:
            traj = _trajectory(checkpoints, stat, group=group, tensor=None, layer=None, source=source,
                               argument="panels (--panel)")  # warmup-study names a stat in a panel
        except NoMeasuredValue as refusal:
            if unmeasured is None:
                raise
            unmeasured.append((stat, group, str(refusal)))
            out.append(None)
            continue
        traj.attrs["notes"] = notes + traj.attrs.get("notes", [])
        out.append(traj)
    return out


def pooled_layer(wanted) -> bool:
    """Whether a --layer value is -1: the group's row (tensor '*'), not the tensors
    outside the blocks that share layer -1 in a weight table (measure.GROUP_TENSOR, NO_LAYER)."""
    try:
        return float(wanted) == -1
    except (TypeError, ValueError):
        return False


def _matches(values: pd.Series, wanted, *, numeric: bool) -> np.ndarray:
    """Rows whose value is ``wanted``: as text, or for a ``numeric`` column (layer) as a number,
    so layer 0 finds a CSV's float layer 0.0 (its empty cells on evaluation rows made it float)."""
    if numeric:
        try:
            number = float(wanted)
        except (TypeError, ValueError):
            number = None
        if number is not None:
            return (pd.to_numeric(values, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
                    == number)
    return (values.astype(str) == str(wanted)).to_numpy()


class _Checkpoints:
    """What every statistic's trajectory reads from one table of rows already through
    ``checkpoint_rows``, worked out once (``stat_trajectories``: a 660k-row table took seconds
    per statistic): its weight rows with checked steps, its runs, its schedule columns."""

    def __init__(self, df: pd.DataFrame, source: str):
        weights, _ = split_rows(df)
        require_columns(weights if len(weights) else df, WEIGHT_COLUMNS, source)
        if weights.empty:
            raise InputError(f"{source}: no weight-statistic rows (column 'stat' is empty); pass a "
                             "table from `scalefit weights` or `scalefit eval --weights`")
        self.df, self.source, self.weights = df, source, checked_steps(weights, source)
        self.models = set(df["model"].dropna().astype(str).unique())

    @functools.cached_property
    def schedule(self) -> pd.DataFrame:  # read where a selection has been found, as before
        return schedule_columns(self.df, self.source)


def _trajectory(df: pd.DataFrame | _Checkpoints, stat: str, *, group, tensor, layer,
                source: str, argument: str = named("stat")) -> pd.DataFrame:
    """``stat_trajectory`` of rows already through ``checkpoint_rows`` (or their _Checkpoints);
    ``argument``: how a refusal of the statistic itself names where it was given."""
    table = df if isinstance(df, _Checkpoints) else _Checkpoints(df, source)
    weights = table.weights
    rows = stat_rows(weights, stat)  # t_xi: from the table's t_nu rows
    if rows.empty:
        names = sorted(with_derivable(weights["stat"].dropna().astype(str)))
        near = suggestion(stat, names)  # the list stops at 40
        raise InputError(f"{source}: column 'stat' has no rows '{stat}'"
                         + (near if near.startswith(";") else f" (known: {known(names)})"))
    refuse_categorical(weights, stat, argument)  # best_family's code: no curve, fit or breakpoint
    pooled_note = None
    for column, wanted in (("group", group), ("tensor", tensor), ("layer", layer)):
        if wanted is None:
            continue
        if column not in rows:
            raise InputError(f"{source}: column '{column}' is missing, cannot select {column}={wanted}")
        selected = rows[_matches(rows[column], wanted, numeric=column == "layer")]
        if column == "layer" and pooled_layer(wanted) and tensor is None and "tensor" in selected:
            # -1 is also the layer of a tensor outside the blocks (embed_in, final_layer_norm):
            # alone in a table with no pooled row, it was taken as the group's pooled row; a
            # tensor named by --tensor is that tensor at layer -1
            pooled = selected[selected["tensor"].astype(str) == POOLED_TENSOR]
            if pooled.empty and not selected.empty:
                names = known(selected["tensor"].dropna())
                raise InputError(f"{source}: layer -1 selects a group's pooled row (tensor "
                                 f"'{POOLED_TENSOR}'), and stat '{stat}' has none here; its rows "
                                 f"at layer -1 are tensors outside the blocks ({names}): name "
                                 "one with --tensor, without --layer")
            lost = selected[["model", "step"]].drop_duplicates().merge(
                pooled[["model", "step"]].drop_duplicates(), how="left", indicator=True)
            lost = lost[lost["_merge"] == "left_only"]
            if len(lost):  # a group with a non-finite tensor there has no pooled statistics
                pooled_note = (f"{source}: {len(lost)} checkpoint(s) with no pooled row of stat "
                               f"'{stat}' (layer -1) left out (first: model {lost['model'].iloc[0]}, "
                               f"step {lost['step'].iloc[0]})")
            selected = pooled
        if selected.empty:
            have = rows[column].dropna()
            if column == "layer":  # read back from CSV as floats (the evaluation rows leave it empty)
                have = [int(v) if isinstance(v, (int, float, np.number)) and float(v).is_integer() else v
                        for v in have]
            raise InputError(f"{source}: column '{column}' has no '{wanted}' for stat '{stat}' "
                             f"(known: {known(have)})")
        rows = selected
    if group is None and tensor is None and "group" in rows and rows["group"].nunique() > 1:
        # averaged, t_nu of the embeddings and of the MLP (1e4 at its cap) read as one statistic
        raise InputError(f"{source}: stat '{stat}' is measured on {rows['group'].nunique()} groups "
                         f"({known(rows['group'].dropna())}); name one with --group (or one --tensor)")
    # a run of the table (or of --models) with no row of this selection: named, not dropped silently
    absent = sorted(table.models - set(rows["model"].dropna().astype(str).unique()))
    chosen = "".join(f", {c} {w}" for c, w in (("group", group), ("tensor", tensor), ("layer", layer))
                     if w is not None)
    absent_note = (f"{source}: {len(absent)} run(s) have no stat '{stat}'{chosen} and are left out "
                   f"({', '.join(absent)})") if absent else None
    rows = distinct_rows(numeric_values(rows, source, f"stat '{stat}'"), WEIGHT_KEYS, source,
                         f"stat '{stat}'")
    if rows["value"].isna().all():
        raise NoMeasuredValue(f"{source}: column 'value' has no finite number for stat '{stat}'{chosen} "
                              "(every value is empty, nan or inf)")
    traj = group_values(rows, by=KEYS).drop(columns="stat")  # the pooled row, else the mean
    if not np.isfinite(traj["value"].to_numpy(dtype=float)).any():  # the group's rows read, all nan
        pooled = "tensor" in rows and (rows["tensor"].astype(str) == POOLED_TENSOR).any()
        raise NoMeasuredValue(f"{source}: stat '{stat}'{chosen} has no finite value at any checkpoint ("
                              + (f"its group's rows, tensor '{POOLED_TENSOR}', which stand for the group's "
                                 "tensors, are" if pooled else "every value read is") + " empty, nan or inf)")
    series = traj[list(KEYS)]  # every run's series: its checkpoints of this selection, finite or not
    traj, note = _finite_only(traj, f"stat '{stat}'", source)
    left_out = with_left_out([], series, traj, "not_finite")
    measured = traj
    traj, at_bound, bound_note = _without_bound_values(traj, rows, stat, source, chosen)
    left_out = with_left_out(left_out, measured, traj, "at_bound")
    if not table.schedule.empty:
        traj = traj.merge(table.schedule, on=["model", "step"], how="left")
    traj = traj.sort_values(["model", "step"]).reset_index(drop=True)
    traj.attrs["notes"] = [n for n in (absent_note, pooled_note, note, bound_note) if n]
    if at_bound is not None:  # a shape statistic: which checkpoints sat at its fit's bound
        traj.attrs["at_bound"] = at_bound
    traj.attrs["left_out"] = left_out  # every checkpoint of a run's series left out, and why
    return traj


def bound_words(stat: str, side: str) -> str:
    """'nu at its cap 10000 (Gaussian as far as the fit can tell)': what a shape statistic's
    value at its fit's bound says (report.shape_bound; the figures' bound_label in a sentence)."""
    info = shape_bound(stat)
    meaning = BOUND_MEANINGS.get((info["family"], side))
    word = "cap" if side == "upper" else "floor"
    return (f"{info['shape']} at its {word} {info['bounds'][side == 'upper']:g} ("
            + (f"{meaning} as far as the fit can tell" if meaning else "the fit's bound, not an estimate")
            + ")")


def _without_bound_values(traj: pd.DataFrame, rows: pd.DataFrame, stat: str, source: str,
                          chosen: str = ""):
    """(``traj`` without the checkpoints whose shape statistic sits at its fit's bound, one record
    per run that had any, a note saying so; the records are None for a statistic with no bounds).
    ``chosen``: the rest of the selection (', group mlp_in'), named where every value is at the
    bound (``NoMeasuredValue``).

    A Student-t nu at its cap 1e4 says 'Gaussian as far as the fit can tell', not nu = 1e4: fitted
    as a value, the jump from a few hundred to the cap read as a transition. The bound and its
    tolerance are the figures' (report.shape_bound, shapes.at_shape_bound: plot_marking_bounds);
    a checkpoint averaged over tensors is at the bound when any of its tensors is. The records
    (model, stat, side, bound, n_at_bound, n_checkpoints, first_step_at_bound, steps_at_bound) keep what
    the fits no longer see: that the run reached the bound, and from which step.
    """
    info = shape_bound(stat)
    if info is None:
        return traj, None, None
    read = pooled_rows(rows)  # what group_values averaged
    values = read["value"].to_numpy(dtype=float, na_value=np.nan)
    side = np.full(len(read), None, dtype=object)
    for name, bound in zip(("lower", "upper"), info["bounds"]):
        side[at_shape_bound(values, bound)] = name
    flagged = read.assign(_side=side).dropna(subset=["_side"])
    if flagged.empty:
        return traj, [], None
    sides = flagged.groupby(list(KEYS), as_index=False)["_side"].max()  # 'upper' over 'lower'
    marked = traj.merge(sides, on=list(KEYS), how="left")
    at = marked["_side"].notna().to_numpy()
    if at.all():
        raise NoMeasuredValue(f"{source}: every value of stat '{stat}'{chosen} is at its fit's bound "
                              f"({bound_words(stat, sides['_side'].iloc[0])}): no measured value to fit")
    records, parts = [], []
    for model, run in marked.groupby("model", sort=True):
        capped = run[run["_side"].notna()]
        if capped.empty:
            continue
        side_name = str(capped["_side"].mode().iloc[0])
        record = {"model": str(model), "stat": stat, "side": side_name,
                  "bound": float(info["bounds"][side_name == "upper"]),
                  "n_at_bound": int(len(capped)), "n_checkpoints": int(len(run)),
                  "first_step_at_bound": int(capped["step"].min()),
                  "steps_at_bound": sorted(int(s) for s in capped["step"])}
        records.append(record)
        every = " (every checkpoint: the run is left out)" if len(capped) == len(run) else ""
        parts.append(f"{model}: {len(capped)} of {len(run)}{every}, first at step "
                     f"{record['first_step_at_bound']}")
    side_names = sorted({r["side"] for r in records}, reverse=True)
    what = " or ".join(bound_words(stat, s) for s in side_names)
    note = (f"{source}: {int(at.sum())} checkpoint(s) of stat '{stat}' have {what}, the fit's bound, "
            f"not a measured value, and are left out of the fit ({'; '.join(parts)})")
    return traj[~at], records, note


def bound_record(at_bound, model) -> dict | None:
    """One run's record in stat_trajectory's ``attrs["at_bound"]`` (its checkpoints whose shape
    statistic sat at its fit's bound), None where it has none; also one run's record in
    ``attrs["left_out"]`` (``with_left_out``)."""
    return next((r for r in at_bound or () if r["model"] == str(model)), None)


# Why a checkpoint of a run's series is not among the points fitted: each a record's steps_<why>
LEFT_OUT_WHY = {"not_finite": "the statistic is not finite (empty, nan or inf)",
                "at_bound": "the shape statistic sits at its fit's bound",
                "without_loss": "the checkpoint has the statistic but no loss row",
                "loss_not_finite": "the loss is not finite (empty, nan or inf)"}


def with_left_out(records, before: pd.DataFrame, after: pd.DataFrame, why: str) -> list[dict]:
    """``records`` (``attrs["left_out"]``: one per run with a checkpoint of its series left out)
    with the checkpoints of ``before`` (model, step rows: what was kept so far) that ``after``
    no longer has, left out because ``why`` (a key of LEFT_OUT_WHY).

    A record is (model, n_checkpoints: the run's series, every checkpoint it has for the
    selection; steps_left_out: those not fitted, whatever the reason; steps_<why>: per reason).
    Points k places apart in the series have AR(1) errors rho^k (``checkpoint_lags``,
    ``series_lags``): the record is what every AR(1) fit of a trajectory reads for its gaps.
    A new list; ``records`` is not changed.
    """
    if why not in LEFT_OUT_WHY:
        raise ValueError(f"with_left_out: why must be one of {', '.join(LEFT_OUT_WHY)}, not {why!r}")
    out = {r["model"]: dict(r) for r in records or ()}
    keys = list(KEYS)
    gone = before[keys].merge(after[keys].drop_duplicates(), on=keys, how="left", indicator=True)
    gone = gone[gone["_merge"] == "left_only"]
    for model, run in gone.groupby("model", sort=True):
        model = str(model)
        record = out.get(model) or {"model": model, "n_checkpoints": int(
            (before["model"].astype(str) == model).sum()), "steps_left_out": []}
        steps = {int(s) for s in run["step"]}
        record["steps_left_out"] = sorted(set(left_out_steps([record], model) or ()) | steps)
        record[f"steps_{why}"] = sorted(set(record.get(f"steps_{why}", ())) | steps)
        out[model] = record
    return [out[m] for m in sorted(out)]


def gap_records(attrs) -> list[dict]:
    """The runs' records of checkpoints left out of a trajectory or joined table (its
    ``attrs["left_out"]``, ``with_left_out``), or of a table that has only ``attrs["at_bound"]``
    (made by hand or before left_out was kept) those; [] for neither."""
    return list(attrs.get("left_out", attrs.get("at_bound")) or [])


def left_out_steps(records, model) -> list | None:
    """The steps of ``model``'s series left out (its ``gap_records`` record's steps_left_out, or an
    at_bound record's steps_at_bound), None where the run has no record."""
    record = bound_record(records, model)
    if record is None:
        return None
    return record.get("steps_left_out", record.get("steps_at_bound"))


def series_lags(steps, steps_left_out=None):
    """ar1.gap_lags of checkpoints at ``steps`` (increasing) in their run's series, which also had
    ``steps_left_out`` (steps <= 0 not counted: the search starts after step 0); None where no
    left-out step lies between two of ``steps``."""
    steps = np.asarray(steps, dtype=float)
    if steps_left_out is None or not len(steps):
        return None
    left_out = np.asarray(list(steps_left_out), dtype=float)
    series = np.union1d(steps, left_out[left_out > 0])
    return gap_lags(np.searchsorted(series, steps))


def checkpoint_lags(run: pd.DataFrame, model, records, dropped=()) -> np.ndarray | None:
    """ar1.gap_lags of one run's rows of join_stat_and_loss's table (in step order), whose
    series left out checkpoints (``records``: the table's ``gap_records``, left_out or at_bound)
    and ``dropped`` (steps the caller left out itself: a non-finite value or loss): series_lags of
    their steps (the transition search's own rule); None without a gap, or without a step column."""
    dropped = pd.to_numeric(pd.Series(list(dropped), dtype=object), errors="coerce").to_numpy(dtype=float)
    steps = set(left_out_steps(records, model) or ()) | set(dropped[np.isfinite(dropped)].tolist())
    if not steps or "step" not in run:
        return None
    return series_lags(run["step"].to_numpy(dtype=float), sorted(steps))


TRAJECTORY_HINT = ("pass stat_trajectory(table, stat, group=...)'s output: one statistic's value "
                   "per (model, step)")


def checked_trajectory(traj: pd.DataFrame, source: str = "trajectory"):
    """(``traj`` checked as the command's path checks a trajectory, a note naming the checkpoints
    left out or None, the runs' records of the checkpoints left out of their series: ``traj``'s
    ``gap_records`` with those left out here, ``with_left_out``).

    A trajectory is one value per (model, step), as ``stat_trajectory`` returns it. Steps must be
    whole numbers >= 0 and values numbers (``schema.checked_steps`` / ``numeric_values``); exact
    repeats are dropped (``distinct_rows``); a checkpoint without a finite value is left out and
    named. A long table (evaluation rows, several statistics, groups, tensors or layers per
    checkpoint) is refused: fitting it would mix unrelated numbers into one curve.
    """
    if not isinstance(traj, pd.DataFrame):
        raise InputError(f"{source}: expected a DataFrame, not {type(traj).__name__}; {TRAJECTORY_HINT}")
    require_columns(traj, ("model", "step", "value"), source, "a trajectory")
    if "metric" in traj and traj["metric"].notna().any():
        raise InputError(f"{source}: has evaluation rows (column 'metric'), not one statistic's "
                         f"trajectory; {TRAJECTORY_HINT}")
    if "stat" in traj and traj["stat"].nunique() > 1:
        raise InputError(f"{source}: has {traj['stat'].nunique()} statistics (column 'stat': "
                         f"{known(traj['stat'].dropna(), limit=6)}), not one; {TRAJECTORY_HINT}")
    rows = numeric_values(checked_steps(traj, source), source, "the trajectory's value")
    for column in ("group", "tensor", "layer"):
        if column in rows and rows.groupby(list(KEYS))[column].nunique().max() > 1:
            raise InputError(f"{source}: has several values of '{column}' per checkpoint "
                             f"({known(rows[column].dropna(), limit=6)}), not one; {TRAJECTORY_HINT}")
    if rows.empty:
        raise InputError(f"{source}: has no rows; {TRAJECTORY_HINT}")
    rows = distinct_rows(rows, KEYS, source, "trajectory value")
    if rows["value"].isna().all():
        raise InputError(f"{source}: column 'value' has no finite number (every value is empty, "
                         "nan or inf)")
    kept, note = _finite_only(rows, "value", source)
    return kept, note, with_left_out(gap_records(traj.attrs), rows, kept, "not_finite")


def _finite_only(table: pd.DataFrame, what: str, source: str, column: str = "value"):
    """(the rows whose ``column`` is finite, a note naming the checkpoints left out, or None)."""
    finite = np.isfinite(table[column].to_numpy(dtype=float, na_value=np.nan))
    if finite.all():
        return table, None
    gone = table.loc[~finite, ["model", "step"]]
    per_model = "; ".join(f"{model}: steps {steps_text(run['step'])}"
                          for model, run in gone.groupby("model", sort=True))
    return table[finite], (f"{source}: {len(gone)} checkpoint(s) have no finite {what} (empty, nan "
                           f"or inf) and are left out ({per_model})")


def schedule_columns(df: pd.DataFrame, source: str = "table") -> pd.DataFrame:
    """Per (model, step): tokens, lr and run facts from whichever rows carry them."""
    require_columns(df, ("model", "step"), source, "a table of checkpoints")
    df = checked_steps(df, source)
    present = [c for c in SCHEDULE_COLUMNS if c in df.columns]
    if not present:
        return pd.DataFrame()
    sub = df[["model", "step", *present]].dropna(subset=present, how="all")
    for column in present:  # a cell that is no count, rate or fraction: named, not read as missing
        if column == "schedule":
            continue
        cells = sub[column]
        numbers = pd.to_numeric(cells, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
        bad = cells.notna().to_numpy() & ~(np.isfinite(numbers) & (numbers >= 0))
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise InputError(f"{source}: column '{column}', {row_name(sub, i)}: '{cells.iloc[i]}' is "
                             "not a finite number >= 0 (leave the cell empty where it is unknown)")
    return sub.groupby(["model", "step"], as_index=False).first()


def loss_trajectory(df: pd.DataFrame, *, dataset: str | None = None, metric: str = "loss",
                    source: str = "table") -> pd.DataFrame:
    """Per (model, step): the loss on one dataset (default: the training distribution)."""
    rows, dataset = _loss_rows(df, dataset=dataset, metric=metric, source=source)
    out = _loss_frame(rows, source)
    out.attrs["loss_dataset"] = dataset  # which loss the x axis is: the reports name it
    return out


def _loss_rows(df: pd.DataFrame, *, dataset: str | None, metric: str,
               source: str) -> tuple[pd.DataFrame, str]:
    """(the (model, step, value) loss rows of ``df``, finite or not, which loss they are)."""
    require_columns(df, ("model", "step"), source, "an evaluation table")
    _, evals = split_rows(df)
    if evals.empty:
        if "loss" in df.columns:  # already a wide table with a loss column
            wide = numeric_values(checked_steps(df, source)[["model", "step", "loss"]]
                                  .rename(columns={"loss": "value"}), source, "loss")
            positive_losses(wide, source, "loss")
            return distinct_rows(wide, KEYS, source, "loss"), "the table's loss column"
        raise InputError(f"{source}: no evaluation rows (column 'metric') and no 'loss' column")
    evals = checked_steps(evals, source)
    rows = evals[evals["metric"] == metric]
    label = "dataset" if "dataset" in rows else "task"
    if dataset is None:
        dataset = training_dataset(rows, label, source)
    rows = rows[rows[label].astype(str) == dataset]
    if rows.empty:
        raise InputError(f"{source}: column '{label}' has no '{dataset}' with metric '{metric}' "
                         f"(known: {known(evals[label].dropna())})")
    rows = numeric_values(rows, source, f"{dataset} {metric}")
    if metric == "loss":
        positive_losses(rows, source, "value")
    rows = distinct_rows(rows, KEYS, source, f"{dataset} {metric}")
    return rows[["model", "step", "value"]], dataset


def positive_losses(rows: pd.DataFrame, source: str, column: str, value: str = "value") -> None:
    """An InputError naming the first of ``rows`` whose loss (its ``value`` column) is text or
    <= 0: a loss is a cross entropy in nats/token; ``column``: its name in the file. Empty, NaN
    and +inf losses pass (the fits leave those checkpoints out)."""
    raw = rows[value]
    loss = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    bad = (np.isnan(loss) & raw.notna().to_numpy()) | (loss <= 0)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        at = ", ".join(f"{k} {rows[k].iloc[i]}" for k in ("model", "step") if k in rows)
        raise InputError(f"{source}: column '{column}', {row_name(rows, i)}"
                         + (f" ({at})" if at else "") + f": '{raw.iloc[i]}' is not a loss; expected "
                         "a number > 0 (a cross entropy in nats/token), or empty where there is none")


def _loss_frame(rows: pd.DataFrame, source: str) -> pd.DataFrame:
    """(model, step, loss) from (model, step, value) rows; notes name the checkpoints left out."""
    out, note = _finite_only(rows, "loss", source)
    out = out.rename(columns={"value": "loss"}).reset_index(drop=True)
    out.attrs["notes"] = [note] if note else []
    return out


def _without_loss_note(traj: pd.DataFrame, measured: pd.DataFrame, dataset: str, stat: str,
                       source: str) -> str | None:
    """A note naming the runs, and the checkpoints of other runs, that have ``stat`` but no loss
    row (``measured``, finite or not) in ``source``: the inner join leaves them out, and a
    non-finite loss has its own note."""
    keys = traj[["model", "step"]].merge(measured[["model", "step"]].drop_duplicates(),
                                         on=["model", "step"], how="left", indicator=True)
    missing = keys[keys["_merge"] == "left_only"]
    if missing.empty:
        return None
    what = f"no loss{f' ({dataset})' if ' ' not in dataset else ''} in {source}"
    lossless = set(missing["model"]) - set(measured["model"])
    parts = ([f"run(s) {', '.join(sorted(map(str, lossless)))} have stat '{stat}' and {what}"]
             if lossless else [])
    partial = missing[~missing["model"].isin(lossless)]
    if len(partial):
        per_model = "; ".join(f"{model}: steps {steps_text(run['step'])}"
                              for model, run in partial.groupby("model", sort=True))
        parts.append(f"{len(partial)} checkpoint(s){' of other runs' if lossless else ''} have stat '{stat}' and {what} "
                     f"({per_model})")
    return "; ".join(parts) + ": left out of the fit"


def training_dataset(rows: pd.DataFrame, label: str = "dataset", source: str = "table",
                     hint: str = "name one with --loss-dataset") -> str:
    """The dataset of evaluation ``rows`` marked as the training distribution (`is_train`, or one
    named train*, *-val or *_val, or the only one); several and none marked: an InputError ending
    in ``hint``, what the caller's user can do."""
    if "is_train" in rows and rows["is_train"].fillna(False).astype(bool).any():
        return str(rows.loc[rows["is_train"].fillna(False).astype(bool), label].iloc[0])
    names = sorted(map(str, rows[label].dropna().unique()))
    for name in names:
        if name.startswith("train") or name.endswith("-val") or name.endswith("_val"):
            return name
    if len(names) == 1:
        return names[0]
    raise InputError(f"{source}: several datasets ({', '.join(names)}) and none marked as the training "
                     f"distribution (is_train); {hint}")


JOINED = "join_stat_and_loss's table"


@renamed_arguments(df="table")
def join_stat_and_loss(table: pd.DataFrame, stat: str, *, group=None, tensor=None, layer=None,
                       dataset=None, models=None, losses: pd.DataFrame | None = None,
                       source: str = "table", losses_source: str | None = None) -> pd.DataFrame:
    """(model, step, value, loss, lr, tokens, ...) for one statistic, joined on (model, step):
    what `scalefit trajectory` fits. ``table`` and ``losses`` (the losses, when not in ``table``) may be
    DataFrames, paths, lists of row dicts or dicts of columns (``as_table``); ``models`` and the
    duplicate checkpoints as in ``stat_trajectory``; a loss <= 0 is refused (``positive_losses``).
    ``attrs["notes"]`` names the checkpoints left out and why; ``attrs["left_out"]`` records them per
    run (``with_left_out``: stat_trajectory's, and the statistic's checkpoints without a loss row
    or with a loss that is not finite), the gaps of its series that the AR(1) fits read."""
    table, source = as_table(table, source)
    if losses is not None:
        losses, losses_source = as_table(losses, losses_source)
    rows, notes = checkpoint_rows(table, models=models, source=source, losses_source=losses_source)
    traj = _trajectory(rows, stat, group=group, tensor=tensor, layer=layer, source=source)
    loss_source = source if losses is None else losses_source or "losses table"
    measured, dataset = _loss_rows(rows if losses is None else losses, dataset=dataset,
                                   metric="loss", source=loss_source)
    loss = _loss_frame(measured, loss_source)
    joined = traj.merge(loss, on=["model", "step"], how="inner")
    if joined.empty:
        raise InputError(f"{source}: no (model, step) has both stat '{stat}' and a loss")
    without = _without_loss_note(traj, measured, dataset, stat, loss_source)
    joined.attrs["notes"] = (notes + traj.attrs.get("notes", []) + loss.attrs.get("notes", [])
                             + ([without] if without else []))
    joined.attrs["loss_dataset"] = dataset
    if "at_bound" in traj.attrs:
        joined.attrs["at_bound"] = traj.attrs["at_bound"]
    # the run's series is the statistic's: its checkpoints without a loss row, or with a loss that
    # is not finite, are gaps in it as those left out of the trajectory are
    keys = list(KEYS)
    with_row = traj[keys].merge(measured[keys].drop_duplicates(), on=keys, how="inner")
    left_out = with_left_out(traj.attrs.get("left_out"), traj, with_row, "without_loss")
    joined.attrs["left_out"] = with_left_out(left_out, with_row, joined, "loss_not_finite")
    return joined


def left_out_lines(notes) -> list[str]:
    """A report.md's paragraph naming what the terminal's 'note:' lines named (checkpoints or runs
    left out, and why), each once; none without notes."""
    notes = list(dict.fromkeys(notes))
    return ["Left out: " + " ".join(n if n.endswith(".") else n + "." for n in notes), ""] if notes else []

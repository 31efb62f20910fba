"""Checkpoint integrity from a sweep's `fingerprints` table: duplicated weights and trend breaks.

A sweep records, per (model, step), a content hash of the weights (`fingerprint`) and a fixed
sample of their entries (`sample`, float32, base64; see `scalefit.sweep.integrity`). From those
alone (pure pandas and numpy, no torch) this module flags:

- `same_as_step`: two steps of one model hold identical weights (a hub branch serving another
  step's weights). At most one label of the pair is right and the table cannot tell which, so
  every member is a duplicate.
- `same_as_model`: a checkpoint identical to another model's. Two runs that share only their
  initialization (every member at step 0) are reported but not counted as duplicates.
- `trend_break`: a step whose distance to its neighbours breaks the run's own trend (a
  re-uploaded or mislabeled branch). Distance = relative L2 on the sample,
  ||s_a - s_b|| / ||s_b||. An interior step k is flagged when both d(k-1, k) and d(k, k+1)
  exceed TREND_FACTOR x d(k-1, k+1): a genuine step lies between its neighbours, a foreign one
  is far from both. The last step is flagged when its distance per step exceeds LAST_FACTOR x the
  median of the previous (up to) three. Reported, never dropped: it is a suspicion.

`drop_duplicates` removes the flagged duplicates' rows from any table keyed on (model, step);
`scalefit transitions` and `scalefit trajectory` call it with the flags of the sweep folder
their table came from. `mark_duplicates` keeps them and adds DUPLICATE_COLUMN, the other
label(s) of the same weights ('model step N'), as the tables a sweep writes carry it.
"""
from __future__ import annotations

import base64
from pathlib import Path

import numpy as np
import pandas as pd

FLAG_COLUMNS = ["model", "step", "flag", "other", "duplicate", "detail"]
TREND_FACTOR = 2.0
LAST_FACTOR = 10.0
FINGERPRINTS_FILE = "fingerprints.parquet"


def decode_sample(text) -> np.ndarray | None:
    """A fingerprint row's weight sample (base64 float32) as float64, or None when absent."""
    if not isinstance(text, str) or not text:
        return None
    return np.frombuffer(base64.b64decode(text), dtype=np.float32).astype(np.float64)


def relative_l2(a: np.ndarray, b: np.ndarray) -> float:
    """||a - b|| / ||b|| (nan when the samples do not match in size or b is zero)."""
    if a is None or b is None or a.shape != b.shape:
        return float("nan")
    norm = float(np.linalg.norm(b))
    return float(np.linalg.norm(a - b)) / norm if norm > 0 else float("nan")


def _label(model, step) -> str:
    return f"{model} step {int(step)}"


def _identical_groups(fp: pd.DataFrame) -> list[dict]:
    rows = []
    known = fp.dropna(subset=["fingerprint"])
    for _, group in known.groupby("fingerprint", sort=False):
        if len(group) < 2:
            continue
        members = list(group[["model", "step"]].itertuples(index=False, name=None))
        for model, step in members:
            same_model = [s for m, s in members if m == model and s != step]
            if same_model:
                rows.append({"model": model, "step": int(step), "flag": "same_as_step",
                             "other": ", ".join(_label(model, s) for s in same_model), "duplicate": True,
                             "detail": "identical weights under another step's label"})
            others = [(m, s) for m, s in members if m != model]
            if others:
                shared_init = all(int(s) == 0 for _, s in members)
                rows.append({"model": model, "step": int(step), "flag": "same_as_model",
                             "other": ", ".join(_label(m, s) for m, s in others), "duplicate": not shared_init,
                             "detail": "shared initialization (step 0 of every run): kept" if shared_init
                             else "identical weights to another model's checkpoint"})
    return rows


def _trend_breaks(fp: pd.DataFrame, skip: set) -> list[dict]:
    rows = []
    for model, run in fp.groupby("model", sort=True):
        run = run[[(model, int(s)) not in skip for s in run["step"]]].sort_values("step")
        steps = [int(s) for s in run["step"]]
        samples = [decode_sample(s) for s in run["sample"]]
        if len(steps) < 3:
            continue
        d = [relative_l2(samples[i], samples[i - 1]) for i in range(1, len(steps))]  # d[i-1] = d(i-1, i)
        for i in range(1, len(steps) - 1):
            jump = relative_l2(samples[i + 1], samples[i - 1])
            near = min(d[i - 1], d[i])
            if np.isfinite(jump) and jump > 0 and near > TREND_FACTOR * jump:
                rows.append({"model": model, "step": steps[i], "flag": "trend_break",
                             "other": f"{_label(model, steps[i - 1])}, {_label(model, steps[i + 1])}",
                             "duplicate": False,
                             "detail": f"distance to both neighbours ({d[i - 1]:.3g}, {d[i]:.3g}) > "
                                       f"{TREND_FACTOR:g} x their distance to each other ({jump:.3g})"})
        rates = [d[i] / max(steps[i + 1] - steps[i], 1) for i in range(len(d))]
        previous = [r for r in rates[-4:-1] if np.isfinite(r) and r > 0]
        if previous and np.isfinite(rates[-1]) and rates[-1] > LAST_FACTOR * float(np.median(previous)):
            rows.append({"model": model, "step": steps[-1], "flag": "trend_break",
                         "other": _label(model, steps[-2]), "duplicate": False,
                         "detail": f"distance per step {rates[-1]:.3g} > {LAST_FACTOR:g} x the median of "
                                   f"the previous steps ({float(np.median(previous)):.3g})"})
    return rows


def integrity_flags(fingerprints: pd.DataFrame | None) -> pd.DataFrame:
    """The flags of a fingerprints table: one row per (model, step, flag), FLAG_COLUMNS."""
    if fingerprints is None or fingerprints.empty or "fingerprint" not in fingerprints:
        return pd.DataFrame(columns=FLAG_COLUMNS)
    fp = fingerprints.drop_duplicates(["model", "step"], keep="last").copy()
    fp["step"] = fp["step"].astype(int)
    if "sample" not in fp:
        fp["sample"] = None
    identical = _identical_groups(fp)
    skip = {(r["model"], r["step"]) for r in identical if r["flag"] == "same_as_step"}
    rows = identical + _trend_breaks(fp, skip)
    flags = pd.DataFrame(rows, columns=FLAG_COLUMNS)
    return flags.sort_values(["model", "step", "flag"], kind="stable").reset_index(drop=True)


def duplicate_keys(flags: pd.DataFrame) -> set[tuple[str, int]]:
    """(model, step) of every checkpoint flagged as a duplicate."""
    if flags is None or flags.empty:
        return set()
    dup = flags[flags["duplicate"].astype(bool)]
    return {(str(m), int(s)) for m, s in zip(dup["model"], dup["step"])}


DUPLICATE_COLUMN = "duplicate_of"  # in a sweep's tables: the other label(s) of a duplicate's weights


def duplicate_labels(flags: pd.DataFrame | None) -> dict[tuple[str, int], str]:
    """{(model, step): the checkpoint(s) whose weights it repeats, 'model step N' joined by ', '}
    of every checkpoint flagged as a duplicate (both members of a pair: the table cannot tell which
    label is right)."""
    if flags is None or flags.empty:
        return {}
    others: dict[tuple[str, int], list[str]] = {}
    for row in flags[flags["duplicate"].astype(bool)].itertuples(index=False):
        named = others.setdefault((str(row.model), int(row.step)), [])
        named += [o for o in str(row.other).split(", ") if o and o not in named]
    return {key: ", ".join(names) for key, names in others.items()}


def mark_duplicates(table: pd.DataFrame, flags: pd.DataFrame | None) -> pd.DataFrame:
    """`table` (keyed on model, step) with DUPLICATE_COLUMN as its last column: the checkpoint(s)
    whose weights the row's checkpoint repeats (`duplicate_labels`), empty ('') for the others."""
    if table is None or not {"model", "step"} <= set(table.columns):
        return table
    labels = duplicate_labels(flags)
    out = table.drop(columns=[DUPLICATE_COLUMN], errors="ignore")
    pairs = zip(out["model"].astype(str), out["step"].astype(int))
    out[DUPLICATE_COLUMN] = pd.Series([labels.get(p, "") for p in pairs], index=out.index, dtype=object)
    return out


def marked_duplicates(tables: dict[str, pd.DataFrame], flags: pd.DataFrame | None) -> dict[str, pd.DataFrame]:
    """A sweep's measured tables (evals, weights), each with DUPLICATE_COLUMN (`mark_duplicates`);
    the fingerprints table, whose flags these are, as it is."""
    return {name: table if name == "fingerprints" else mark_duplicates(table, flags)
            for name, table in tables.items()}


def drop_duplicates(table: pd.DataFrame, flags: pd.DataFrame) -> tuple[pd.DataFrame, list[tuple[str, int]]]:
    """`table` without the rows of flagged duplicate checkpoints, and the (model, step) dropped."""
    keys = duplicate_keys(flags)
    if not keys or table.empty or not {"model", "step"} <= set(table.columns):
        return table, []
    pairs = list(zip(table["model"].astype(str), table["step"].astype(int)))
    mask = np.array([p in keys for p in pairs], dtype=bool)
    dropped = sorted({p for p, m in zip(pairs, mask) if m})
    return table[~mask], dropped


def flags_beside(path) -> pd.DataFrame | None:
    """The integrity flags of the sweep folder holding the table at `path` (its
    fingerprints.parquet), or None when that folder has no fingerprints."""
    if path is None:
        return None
    fp = Path(path).parent / FINGERPRINTS_FILE
    if not fp.is_file():
        return None
    return integrity_flags(pd.read_parquet(fp))


def drop_flagged_beside(table: pd.DataFrame, *paths) -> tuple[pd.DataFrame, str | None]:
    """`table` without the checkpoints flagged as duplicated weights by the sweep folder(s) of
    `paths`, and one line saying what was dropped (None when nothing was)."""
    flags = [f for f in (flags_beside(p) for p in dict.fromkeys(p for p in paths if p)) if f is not None]
    if not flags:
        return table, None
    kept, dropped = drop_duplicates(table, pd.concat(flags, ignore_index=True))
    if not dropped:
        return table, None
    names = ", ".join(_label(m, s) for m, s in dropped)
    return kept, (f"dropped {len(dropped)} checkpoint(s) with duplicated weights (see the sweep's "
                  f"integrity.csv): {names}")

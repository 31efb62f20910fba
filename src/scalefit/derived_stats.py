"""Weight statistics derived from a measured one when a table is read (never stored, so no re-sweep):
one registry that the readers of tables and the checks of statistic names share.

t_xi = 1 / t_nu is the extreme-value tail index of a Student-t (xi = 1/nu): 0 is a Gaussian, larger
is heavier tails. Unlike nu it is well scaled near a Gaussian: nu between a few hundred and its fit
cap 1e4 is barely identified, while xi there is a measured value near 0 (xi = 1e-4 at the cap), so
no checkpoint needs leaving out.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class DerivedStat:
    """A statistic computed row by row from another one's values (same model, step, tensor)."""

    name: str
    source: str                                    # the measured statistic it is computed from
    meaning: str                                   # for help texts and reports
    transform: Callable[[np.ndarray], np.ndarray]  # source values -> its values


DERIVED_STATS: dict[str, DerivedStat] = {
    "t_xi": DerivedStat("t_xi", "t_nu", "Student-t tail index xi = 1/nu (0: Gaussian; larger: "
                        "heavier tails), derived from t_nu", np.reciprocal),
}


def derived_stat(name) -> DerivedStat | None:
    """The registry's record of a derived statistic, None for any other name."""
    return DERIVED_STATS.get(name) if isinstance(name, str) else None


def derivable(measured) -> list[str]:
    """The derived statistics whose source is among the ``measured`` names (not already measured)."""
    measured = set(measured)
    return [name for name, d in DERIVED_STATS.items() if d.source in measured and name not in measured]


def with_derivable(names) -> set[str]:
    """``names`` and the derived statistics computable from them: what a table of those measured
    statistics can be asked for (the name checks and the 'known:' lists)."""
    names = set(names)
    return names | set(derivable(names))


def stat_rows(table: pd.DataFrame, stat: str) -> pd.DataFrame:
    """``table``'s long rows of ``stat``; for a derived statistic the table does not hold, its
    source's rows as rows of it (``derived_rows``); empty where neither is there."""
    rows = table[table["stat"] == stat]
    derived = derived_stat(stat)
    if rows.empty and derived is not None:
        rows = derived_rows(table[table["stat"] == derived.source], derived)
    return rows


def derived_rows(source_rows: pd.DataFrame, stat: DerivedStat) -> pd.DataFrame:
    """``source_rows`` (long rows of ``stat.source``) as rows of ``stat``: the same keys, each
    number transformed; a cell that is no number is kept as it is, for the reader's check to name."""
    values = source_rows["value"]
    numbers = pd.to_numeric(values, errors="coerce")
    with np.errstate(divide="ignore", invalid="ignore"):
        new = stat.transform(numbers.to_numpy(dtype=float, na_value=np.nan))
    out = source_rows.assign(stat=stat.name)
    out["value"] = values.where(numbers.isna(), pd.Series(new, index=values.index)) \
        if values.dtype == object else new
    return out


def with_derived(table: pd.DataFrame, stats) -> pd.DataFrame:
    """``table`` (long weight rows) with rows of each derived statistic of ``stats`` that it lacks
    and whose source it has appended; the same table where there are none."""
    if "stat" not in table:
        return table
    have = set(table["stat"].dropna().astype(str))
    extra = [derived_rows(table[table["stat"] == d.source], d)
             for d in (derived_stat(s) for s in dict.fromkeys(stats)) if d is not None
             and d.name not in have and d.source in have]
    return pd.concat([table, *extra], ignore_index=True) if extra else table

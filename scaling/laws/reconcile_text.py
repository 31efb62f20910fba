"""The text of a reconciliation (`reconcile.reconcile`'s walk of the allocation exponent a over
the conditions of one table): what `scalefit reconcile` prints and report.md quotes, and what
``print(reconcile(...))`` gives in a notebook. The command (reconcile_cli) is a shell over it."""
from __future__ import annotations

import numpy as np
import pandas as pd

from scalefit.scaling.laws.isoflop import OPTIMA_LINE


def _ci_cell(a, lo, hi):
    if not np.isfinite(a):
        return "-"
    return f"{a:.3f} [{lo:.3f}, {hi:.3f}]" if np.isfinite(lo) else f"{a:.3f}"


def has_chinchilla(rec) -> bool:
    """Whether the walk fitted the Chinchilla form beside its law (--also-chinchilla)."""
    return any(np.isfinite(x.chinchilla_a) or x.chinchilla_note for x in rec.steps)


CHANGES_HEADER = "what differs from the step before"


def walk_frame(rec) -> pd.DataFrame:
    """The walk as a text table: one row per condition, intervals beside each a, and the setting
    columns that differ from the panel's previous condition (reconcile.condition_changes)."""
    rows = []
    step_no = {}
    for s in rec.steps:
        step_no[s.panel] = step_no.get(s.panel, 0) + 1
        row = {"panel": s.panel, "step": step_no[s.panel], rec.by: s.condition, "runs": s.n_runs,
               f"a ({rec.law}) [95%]": _ci_cell(s.a, s.a_lo, s.a_hi),
               "published a [95%]": _ci_cell(s.published_a, s.published_lo, s.published_hi)}
        if has_chinchilla(rec):
            row["Chinchilla a [95%]"] = _ci_cell(s.chinchilla_a, s.chinchilla_lo,
                                                 s.chinchilla_hi)
            row["Chinchilla note"] = s.chinchilla_note
        row[CHANGES_HEADER] = s.changes
        rows.append(row)
    df = pd.DataFrame(rows)
    if not rec.panel:
        df = df.drop(columns="panel")
    if df["published a [95%]"].eq("-").all():
        df = df.drop(columns="published a [95%]")
    if df[CHANGES_HEADER].eq("").all():  # no column besides --by tells the conditions apart
        df = df.drop(columns=CHANGES_HEADER)
    return df


def walk_head(rec) -> str:
    """What the walk is: the law, the minimum's method, and where its intervals come from."""
    method = f", {rec.method} minimum" if rec.law == "isoflop" else ""
    intervals = (f"95% intervals from {rec.n_bootstrap} draws of the line through the budget optima "
                 "(t, HC3 covariance)" if rec.law == "isoflop"
                 else f"95% intervals from {rec.n_bootstrap} bootstrap resamples")
    if not rec.n_bootstrap:  # '95% intervals from 0 draws' was printed above a table without any
        intervals = "no intervals (--bootstrap 0)"
    return (f"Allocation exponent a (N* ~ C^a) per {rec.by}" + (f" on {rec.data}" if rec.data else "")
            + f": {rec.law}{method}, {intervals}"
            + (f" (seed {rec.seed})" if rec.n_bootstrap else ""))


def walk_terms(rec) -> list[str]:
    """What the walk's symbols are: G, which an IsoFLOP fit's notes name, and where the Chinchilla
    a and its 95% interval come from (the report used both and defined neither)."""
    from scalefit.scaling.laws.registry import law_for
    lines = []
    if law_for(rec.law).law_name == "isoflop":
        lines.append(f"IsoFLOP: {OPTIMA_LINE}, fitted per condition.")
    if has_chinchilla(rec):
        n = rec.n_bootstrap if rec.chinchilla_bootstrap is None else rec.chinchilla_bootstrap
        interval = (f"its 95% interval is the percentile interval of a over {n} bootstrap "
                    f"resamples of the condition's runs, each refitted (seed {rec.seed})" if n
                    else "no interval (--bootstrap 0)")
        lines.append("Chinchilla a: the Chinchilla form L = E + A/N^alpha + B/D^beta (Hoffmann "
                     "et al. 2022, Approach 3) fitted to each condition's runs, a = beta / "
                     f"(alpha + beta); {interval}.")
    return lines


def walk_notes(rec) -> list[str]:
    """Each condition's warnings (not fitted, not identified), as 'note: panel / condition: ...'."""
    return [f"note: {s.panel + ' / ' if s.panel else ''}{s.condition}: {w}"
            for s in rec.steps for w in s.warnings]


def walk_text(rec) -> str:
    from scalefit.scaling.laws.report import text_table
    lines = [walk_head(rec), *walk_terms(rec), "", text_table(walk_frame(rec)), ""]
    lines += [f"- {f}" for f in rec.findings]
    return "\n".join(lines + walk_notes(rec))

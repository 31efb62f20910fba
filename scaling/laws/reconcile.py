"""The reconciliation walk (Porian et al. 2024, "Resolving Discrepancies in Compute-Optimal
Scaling of Language Models", arXiv:2406.19146): fit each condition of one run table separately
and follow the allocation exponent a (N* ~ C^a) from one condition to the next.

Porian et al. move from Kaplan's setup to Chinchilla's one change at a time (counting last-layer
FLOPs, correcting warmup, cosine decay matched to the run length, per-size optimizer tuning) and
watch a fall from ~0.83 to ~0.50. ``reconcile`` repeats that on any table with a condition
column: per condition an IsoFLOP fit (their Akima minimum by default) with a 95% interval
(``isoflop.line_draws``), optionally the Chinchilla form (Approach 3) beside it, the published a where a summary
gives it, and which step moves a most, in a sentence built from the fitted numbers.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

from scalefit.errors import InputError, row_name
from scalefit.scaling.interval_text import intervals_overlap
from scalefit.scaling.laws.fit import fit_law
from scalefit.scaling.laws.registry import law_for
from scalefit.scaling.resample import too_few_resamples
from scalefit.scaling.objective import HUBER_DELTA

NAN = float("nan")
INTERVAL_LEVEL = 95.0  # percent, as transitions' interval_level: every step's _lo/_hi interval
# a step's verdict (Move.verdict), in the one wording the text, reconcile.md/.csv and --json share
CHANGES, HOLDS_ZERO, AT_EDGE = "changes a", "leaves 0 inside", "at the edge"
EDGE_WORDS = ("0 lies within the interval's resampling error; more resamples (--bootstrap) would "
              "settle it")
# the walk's order, said once: ORDER_WORDS.format(order=TABLE_ORDER), or GIVEN_ORDER where --order gave it
ORDER_WORDS = ("each step adds one change to all earlier ones, in {order}; these runs "
               "cannot say what a change would do in another order")
TABLE_ORDER, GIVEN_ORDER = "the table's order", "the order --order gave"
MAX_DRAWS_PER_SIDE = 4000  # change_summary thins a larger draw set to this many order statistics
# an end's resampling band (change_summary) reaches out to the share tail - error of the draws;
# with fewer of a condition's draws than this beyond that share, the band's outer end is one of
# its few most extreme draws, which moves with the seed, and a verdict near it moves with it
MIN_DRAWS_BEYOND_BAND = 10
MIN_RUNS_PER_PARAMETER = 3  # the engine's own "too few points" rule, for the Chinchilla form


@dataclass
class Step:
    """One condition of the walk: its fitted a with a 95% interval, beside the published one."""

    panel: str
    condition: str
    n_runs: int
    a: float = NAN
    a_lo: float = NAN
    a_hi: float = NAN
    n_budgets: int = 0
    published_a: float = NAN
    published_lo: float = NAN
    published_hi: float = NAN
    chinchilla_a: float = NAN
    chinchilla_lo: float = NAN
    chinchilla_hi: float = NAN
    chinchilla_note: str = ""
    changes: str = ""  # what differs from the panel's previous condition (condition_changes)
    warnings: list[str] = field(default_factory=list)

    @property
    def inside_published(self) -> bool | None:
        if not np.isfinite(self.published_lo):
            return None
        return bool(self.published_lo <= self.a <= self.published_hi)


@dataclass
class Move:
    """One step of the walk: from one condition to the next, the change in a with the 95% interval
    of that change, and whether the two conditions' own intervals overlap (a weaker test)."""

    panel: str
    source: str
    target: str
    delta_a: float
    overlap: bool | None  # None: an interval is missing (no bootstrap)
    delta_ci95: tuple[float, float] = (NAN, NAN)  # the change's interval (change_interval)
    apart: bool | None = None  # that interval excludes 0; None: not judged
    # each end's resampling error (change_summary): the range the end would take over other draws
    delta_lo_band: tuple[float, float] = (NAN, NAN)
    delta_hi_band: tuple[float, float] = (NAN, NAN)
    edge: bool | None = None  # 0 lies inside an end's band: too close to call with these draws
    # the draws the change's interval and bands rest on: the smaller of the two conditions'
    # counts of finite draws (change_summary's n; failed refits leave fewer than --bootstrap);
    # None: no draws compared
    n_draws: int | None = None

    @property
    def verdict(self) -> str | None:
        """CHANGES, HOLDS_ZERO or AT_EDGE (VERDICTS' keys); None: not judged (no draws, or too
        few resamples)."""
        if self.apart is None:
            return None
        return AT_EDGE if self.edge else CHANGES if self.apart else HOLDS_ZERO


@dataclass
class Reconciliation:
    """The walk of a over the conditions of ``by`` (one walk per value of the ``panel`` columns)."""

    by: str
    panel: list[str]
    law: str
    method: str
    n_bootstrap: int
    seed: int
    steps: list[Step]
    moves: list[Move]
    findings: list[str]
    data: str = ""  # the run table's name (its file, with any --subset): the text names it too
    chinchilla_bootstrap: int | None = None  # the Chinchilla form's resamples; None: n_bootstrap

    def __str__(self) -> str:
        """What `scalefit reconcile` prints: the walk's head, its table, findings and notes
        (reconcile_text.walk_text)."""
        from scalefit.scaling.laws.reconcile_text import walk_text
        return walk_text(self)

    def table(self) -> pd.DataFrame:
        """One row per condition, in walk order (columns: the Step fields, warnings joined)."""
        into = {(m.panel, m.target): m for m in self.moves}
        rows = []
        for s in self.steps:
            row = asdict(s)
            row["warnings"] = "; ".join(s.warnings)
            row["inside_published"] = s.inside_published
            m = into.get((s.panel, s.condition))  # the step into this condition, where one was
            row["delta_a"] = m.delta_a if m else NAN
            row["delta_lo"], row["delta_hi"] = m.delta_ci95 if m else (NAN, NAN)
            row["verdict"] = (m.verdict or "") if m else ""
            rows.append(row)
        return pd.DataFrame(rows)

    def to_dict(self) -> dict:
        return {"by": self.by, "panel": self.panel, "law": self.law, "method": self.method,
                "n_bootstrap": self.n_bootstrap, "seed": self.seed,
                "interval_level": INTERVAL_LEVEL,
                "steps": [dict(asdict(s), inside_published=s.inside_published)
                          for s in self.steps],
                "moves": [dict(asdict(m), verdict=m.verdict) for m in self.moves],
                "findings": self.findings,
                "data": self.data}


# --- the walk's order ------------------------------------------------------------------------

def _panel_key(frame: pd.DataFrame, panel: list[str]) -> pd.Series:
    if not panel:
        return pd.Series("", index=frame.index)
    return frame[panel].astype(str).agg(" / ".join, axis=1)


def walk_order(frame: pd.DataFrame, by: str, panel: list[str], order=None) -> list[tuple]:
    """[(panel value, condition)] in walk order: the table's own order (each condition where it
    first appears; Porian et al.'s files list their conditions in the order of the paper), or
    ``order`` (conditions named in it, in that order, in every panel that has them)."""
    keys = _panel_key(frame, panel)
    conditions = frame[by].astype(str)
    pairs = list(dict.fromkeys(zip(keys, conditions)))
    if not order:
        return pairs
    known = set(conditions)
    unknown = [o for o in order if o not in known]
    if unknown:
        raise InputError(f"--order: no row has {by} = '{unknown[0]}' (values: "
                         f"{', '.join(dict.fromkeys(conditions))})")
    twice = [o for i, o in enumerate(order) if o in order[:i]]
    if twice:
        raise InputError(f"--order: {by} = '{twice[0]}' is named twice; a walk takes each "
                         "condition once (a step to itself would read as a change of 0)")
    panels = list(dict.fromkeys(keys))
    present = set(pairs)
    return [(p, c) for p in panels for c in order if (p, c) in present]


def _setting(value) -> str:
    return "(empty)" if pd.isna(value) else str(value)


def condition_changes(frame: pd.DataFrame, by: str, panel: list[str], walk: list[tuple]) -> dict:
    """(panel value, condition) -> what differs from the panel's previous condition in the walk:
    'param_count kaplan -> standard, loss_split train -> val'; a panel's first condition gets its
    setting ('start: hparams=base, warmup=long, ...'). The setting columns are found, not named:
    those besides --by, --panel and the fitted ones that hold one value in each condition and
    more than one over the walked conditions (Porian et al.'s hparams, warmup, decay,
    param_count and loss_split). {} where the table has no such column."""
    keys = _panel_key(frame, panel)
    conditions = frame[by].astype(str)
    skip = {by, *panel, *FITTED_COLUMNS, "n"}
    groups = {(key, c): frame[(keys == key) & (conditions == c)] for key, c in walk}
    columns = [c for c in frame.columns if c not in skip
               and all(g[c].nunique(dropna=False) == 1 for g in groups.values())
               and len({_setting(g[c].iloc[0]) for g in groups.values()}) > 1]
    if not columns:
        return {}
    settings = {pair: {c: _setting(g[c].iloc[0]) for c in columns} for pair, g in groups.items()}
    out, last = {}, {}  # last: each panel's condition before this one
    for key, condition in walk:
        now = settings[(key, condition)]
        if key not in last:
            out[(key, condition)] = "start: " + ", ".join(f"{c}={v}" for c, v in now.items())
        else:
            was = settings[(key, last[key])]
            moved = [f"{c} {was[c]} -> {now[c]}" for c in columns if was[c] != now[c]]
            out[(key, condition)] = ", ".join(moved) or f"no change in {', '.join(columns)}"
        last[key] = condition
    return out


# --- per-condition fits ----------------------------------------------------------------------

def _chinchilla_a(runs: pd.DataFrame, n_bootstrap: int, seed: int, delta: float):
    """(a, lo, hi, note) of the Chinchilla form on one condition, or NaNs and why not."""
    need = MIN_RUNS_PER_PARAMETER * law_for("chinchilla").n_free
    n_sizes = runs["params"].nunique() if "params" in runs else 0
    n_tokens = runs["tokens"].nunique() if "tokens" in runs else 0
    if len(runs) < need:
        return NAN, NAN, NAN, f"not fitted: {len(runs)} runs, the form needs {need}"
    if n_sizes < 3 or n_tokens < 3:
        return NAN, NAN, NAN, (f"not fitted: {n_sizes} distinct N and {n_tokens} distinct D "
                               "(needs 3 of each)")
    try:
        result = fit_law(runs, "chinchilla", n_bootstrap=n_bootstrap, seed=seed, delta=delta)
    except InputError as exc:
        return NAN, NAN, NAN, f"not fitted: {exc}"
    alloc = result.extra["allocation"]
    lo, hi = alloc.get("a_ci95", (NAN, NAN))
    notes = [w for w in result.warnings if "bound" in w or "converge" in w]
    return float(alloc["a"]), float(lo), float(hi), "; ".join(notes)


PUBLISHED_COLUMNS = "the --by column, a (or a_n_exponent), optionally a_ci95_lo and a_ci95_hi"


def check_published(published: pd.DataFrame, by: str,
                    source: str = "<published table>") -> pd.DataFrame:
    """The published summary with its a and interval columns as floats (``_a``, ``_lo``,
    ``_hi``). InputError for a missing column, a cell that is not a number, an a missing beside
    its interval, or an interval whose low end is above its high end."""
    if by not in published.columns:
        raise InputError(f"{source}: no column '{by}' (the --by column) to match the conditions "
                         f"by; a published summary has {PUBLISHED_COLUMNS} (columns: "
                         f"{', '.join(map(str, published.columns))})")
    a_col = next((c for c in ("a_n_exponent", "a") if c in published.columns), None)
    if a_col is None:
        raise InputError(f"{source}: no column 'a' or 'a_n_exponent'; a published summary has "
                         f"{PUBLISHED_COLUMNS} (columns: {', '.join(map(str, published.columns))})")
    out = published.copy()
    for column, name in ((a_col, "_a"), ("a_ci95_lo", "_lo"), ("a_ci95_hi", "_hi")):
        if column not in published.columns:
            out[name] = NAN
            continue
        values = pd.to_numeric(published[column], errors="coerce").to_numpy(float)
        for i, (v, raw) in enumerate(zip(values, published[column].to_numpy())):
            if np.isnan(v) and not pd.isna(raw) or np.isinf(v):
                raise InputError(f"{source}: column '{column}', {row_name(published, i)}: "
                                 f"'{raw}' is not a finite number")
        out[name] = values
    for i in range(len(out)):
        a, lo, hi = out["_a"].iloc[i], out["_lo"].iloc[i], out["_hi"].iloc[i]
        where = f"{source}: {row_name(published, i)}"
        if np.isnan(a) and (np.isfinite(lo) or np.isfinite(hi)):
            raise InputError(f"{where}: column '{a_col}' is missing (NaN) beside its interval; "
                             "give the published a, or leave the whole row's a columns empty")
        if np.isfinite(lo) and np.isfinite(hi) and lo > hi:
            raise InputError(f"{where}: a_ci95_lo {lo:.4g} is above a_ci95_hi {hi:.4g}; are the "
                             "two columns swapped?")
    return out


def published_a(published: pd.DataFrame | None, by: str, panel: list[str],
                rows: pd.DataFrame, condition: str,
                source: str = "<published table>") -> tuple[float, float, float]:
    """(a, lo, hi) published for one condition: the summary's row with that ``by`` value and
    the same values in the panel columns it has (a_n_exponent or a, a_ci95_lo, a_ci95_hi).
    ``published`` is checked (``check_published``) first; several rows for one condition is an
    InputError (the columns that tell them apart belong in --panel)."""
    if published is None:
        return NAN, NAN, NAN
    if "_a" not in published.columns:
        published = check_published(published, by, source)
    match = published[by].astype(str) == condition
    for column in panel:
        if column in published.columns:
            match &= published[column].astype(str) == str(rows[column].iloc[0])
    for column in _shared_labels(published, rows, by, panel):
        value = str(rows[column].iloc[0])
        same = match & (published[column].isna() | (published[column].astype(str) == value))
        if match.any() and not same.any():
            theirs = ", ".join(dict.fromkeys(published.loc[match, column].astype(str)))
            raise InputError(f"{source}: the row for {by} = '{condition}' has {column} = "
                             f"'{theirs}', its runs have {column} = '{value}': it gives another "
                             f"setting's a; give the summary of these runs, or split the walk "
                             f"by that column with --panel {column}")
        match = same
    if match.sum() > 1:
        others = [c for c in published.columns if not c.startswith("_") and c != by
                  and c not in panel and published.loc[match, c].nunique() > 1]
        hint = f" (they differ in {', '.join(others[:3])})" if others else ""
        raise InputError(f"{source}: {int(match.sum())} rows have {by} = '{condition}'{hint}; "
                         "name the columns that tell them apart with --panel")
    if match.sum() != 1:
        return NAN, NAN, NAN
    row = published[match].iloc[0]
    return float(row["_a"]), float(row["_lo"]), float(row["_hi"])


FITTED_COLUMNS = ("params", "tokens", "flops", "loss")  # what every condition's fit reads


def _shared_labels(published: pd.DataFrame, rows: pd.DataFrame, by: str, panel) -> list[str]:
    """Label columns (text, one value over the condition's runs) that the summary has too,
    besides --by and --panel: e.g. Porian et al.'s dataset, on which a summary row of the
    other dataset must not be matched to these runs (its a was printed beside them unsaid)."""
    return [c for c in published.columns
            if c in rows.columns and c != by and c not in panel and not c.startswith("_")
            and c not in (*FITTED_COLUMNS, "n") and not pd.api.types.is_numeric_dtype(rows[c])
            and rows[c].nunique(dropna=False) == 1]


def reconcile(runs: pd.DataFrame, by: str, *, panel=(), order=None, law: str = "isoflop",
              isoflop_method: str = "akima", also_chinchilla: bool = False,
              n_bootstrap: int = 1000, chinchilla_bootstrap: int | None = None, seed: int = 0,
              delta: float = HUBER_DELTA, published: pd.DataFrame | None = None,
              source: str = "<run table>",
              published_source: str = "<published table>") -> Reconciliation:
    """Fit ``law`` (isoflop, or a law with an allocation such as chinchilla) to each condition
    (value of column ``by``) and walk the allocation exponent a in order.

    runs: a run table (params, tokens, flops, loss; a column ``n`` stands for params).
    panel: columns that split the table into separate walks (e.g. dataset).
    order: the conditions to walk, in order (default: the table's order of first appearance).
    published: a summary with the published a (and a_ci95_lo/hi) per condition, shown beside.
    also_chinchilla: fit the Chinchilla form per condition too, where the runs allow it.
    source, published_source: the tables' names in error messages (their files).
    """
    from scalefit.options import bootstrap_count
    bootstrap_count("--bootstrap", n_bootstrap)  # 0 or at least 2: one resample has no spread
    panel = list(panel or ())
    if by in panel:  # every panel held one condition: a walk of no steps, said as fine
        raise InputError(f"--panel {by}: that is the --by column; a panel splits the walk by "
                         "another column (e.g. dataset), and --by's conditions are walked in each")
    twice = [c for i, c in enumerate(panel) if c in panel[:i]]
    if twice:  # panels were named 'owt2 / owt2'
        raise InputError(f"--panel: {twice[0]} is named twice; name each column once")
    for column in [by, *panel]:
        if column not in runs.columns:
            raise InputError(f"--by/--panel: no column '{column}' in the run table (columns: "
                             f"{', '.join(map(str, runs.columns))})")
    for column in [by, *panel]:  # an empty label was a condition 'nan' fitted to no rows
        empty = runs[column].isna().to_numpy()
        if empty.any():
            i = int(np.flatnonzero(empty)[0])
            raise InputError(f"{source}: column '{column}', {row_name(runs, i)}: empty "
                             f"({int(empty.sum())} such rows); every run needs its {column} "
                             "(the condition it belongs to): fill it, or drop those rows")
    fitted = [c for c in [by, *panel] if c in (*FITTED_COLUMNS, "n")]
    if fitted:
        raise InputError(f"--by/--panel {fitted[0]}: that column is what each condition's law is fitted "
                         f"to ({', '.join(FITTED_COLUMNS)}); name a column that labels the conditions")
    n_named = "params" not in runs.columns and "n" in runs.columns
    if n_named:
        runs = runs.rename(columns={"n": "params"})
    # every cell a condition's fit reads is checked once, on the whole table, so that a bad
    # cell is an error naming the file and its row, not a condition silently left out
    from scalefit.scaling.laws.runtable import validate_runs
    if not len(runs):
        raise InputError(f"{source}: no data rows (columns: {', '.join(map(str, runs.columns))}); "
                         "reconcile needs runs with params (or n), tokens, flops and loss")
    try:
        validate_runs(runs, law, source=source, check_size=False, split_by=(by, *panel))
    except InputError as exc:
        if not n_named:
            raise
        raise InputError(str(exc).replace("column 'params'", "column 'n'")) from None
    if published is not None:
        published = check_published(published, by, published_source)
    keys = _panel_key(runs, panel)
    chin_boot = n_bootstrap if chinchilla_bootstrap is None else chinchilla_bootstrap
    # the IsoFLOP minimum's method, for the law that reads it (fit_law refuses it for another)
    law_name = law_for(law).law_name
    method = {"isoflop_method": isoflop_method} if law_name == "isoflop" else {}
    if also_chinchilla and law_name == "chinchilla":  # was fitted twice, its gap printed as 0
        raise InputError(f"--also-chinchilla: the walk's law {law} is the Chinchilla form "
                         "already; leave --also-chinchilla out, or walk another --law")
    steps, draws = [], {}
    walk = walk_order(runs, by, panel, order)
    changes = condition_changes(runs, by, panel, walk)
    for key, condition in walk:
        rows = runs[(keys == key) & (runs[by].astype(str) == condition)]
        data = rows.drop(columns=[by, *panel])
        step = Step(panel=key, condition=condition, n_runs=len(rows),
                    changes=changes.get((key, condition), ""))
        try:
            table = validate_runs(data, law, source=f"{source} [{by}={condition}]")
            result = fit_law(table, law, n_bootstrap=n_bootstrap, seed=seed, delta=delta,
                             **method)
            alloc = result.extra["allocation"]
            step.a = float(alloc["a"])
            step.a_lo, step.a_hi = (float(v) for v in alloc.get("a_ci95", (NAN, NAN)))
            if result.allocation_draws is not None:
                draws[(key, condition)] = result.allocation_draws["a"]
            step.n_budgets = int(result.extra.get("n_budgets_used", result.n_points))
            step.warnings = [w for w in result.warnings if "excluded" not in w]
        except InputError as exc:
            step.warnings = [f"not fitted: {exc}"]
        step.published_a, step.published_lo, step.published_hi = published_a(
            published, by, panel, rows, condition, published_source)
        if also_chinchilla:
            (step.chinchilla_a, step.chinchilla_lo, step.chinchilla_hi,
             step.chinchilla_note) = _chinchilla_a(data, chin_boot, seed, delta)
        steps.append(step)
    if published is not None and not any(np.isfinite(st.published_a) for st in steps):
        raise InputError(f"{published_source}: no row matches a condition of the run table "
                         f"(--by {by}" + (f", --panel {','.join(panel)}" if panel else "")
                         + f"; its {by} values: {', '.join(published[by].astype(str).unique()[:5])})")
    if steps and all(not np.isfinite(st.a) for st in steps):
        reason = steps[0].warnings[0] if steps[0].warnings else "no allocation"
        raise InputError(f"reconcile: no condition of --by {by} could be fitted (first, "
                         f"{steps[0].condition}: {reason})")
    moves = walk_moves(steps, n_bootstrap, draws)
    return Reconciliation(by=by, panel=panel, law=law, method=isoflop_method,
                          n_bootstrap=n_bootstrap, seed=seed, steps=steps, moves=moves,
                          findings=walk_findings(steps, moves, n_bootstrap, law_name,
                                                 ordered=bool(order)),
                          data=source, chinchilla_bootstrap=chin_boot)


# --- what the walk says ----------------------------------------------------------------------

def _thinned(draws: np.ndarray) -> np.ndarray:
    """The draws, sorted; above MAX_DRAWS_PER_SIDE, that many of their order statistics at evenly
    spaced ranks (the same for the same draws: no random subsample)."""
    draws = np.sort(draws)
    if draws.size <= MAX_DRAWS_PER_SIDE:
        return draws
    ranks = ((np.arange(MAX_DRAWS_PER_SIDE) + 0.5) * draws.size / MAX_DRAWS_PER_SIDE).astype(int)
    return draws[ranks]


def change_summary(source_draws, target_draws, level: float = INTERVAL_LEVEL / 100) -> dict:
    """The change in a between two conditions fitted to separate runs, from their draws of a:
    its percentile interval (``ci``), each end's resampling error (``lo_band``, ``hi_band``) and
    whether 0 lies in one of those bands (``edge``).

    The two conditions' estimates are independent, so the change's distribution is the
    convolution of theirs: every target draw minus every source draw (n_t x n_s differences; a
    set above MAX_DRAWS_PER_SIDE draws is thinned to that many evenly spaced order statistics).
    No pairing is drawn, so the interval is a function of the two draw sets alone (a random
    pairing of n with n added Monte Carlo noise of its own, and moved with the seed).

    An end is a percentile of a finite number of draws and would move with other draws: its band
    is the convolution's quantiles at q +- 1.96 sqrt(q (1 - q) / n) (the order-statistic band of
    the q quantile, ranks n q +- 1.96 sqrt(n q (1 - q)), as a share of n). n is the smaller draw
    set's size, not n_t x n_s: the pairs share their draws (each draw is in n of them), and the
    Monte Carlo variance of the convolution's CDF at a point is V_t/n_t + V_s/n_s, whose two
    terms (Hoeffding's decomposition of the pair indicator, whose variance is q (1 - q)) add to at
    most q (1 - q); so q (1 - q) / min(n_t, n_s) bounds it, and is reached where one condition's
    spread dominates the change's. Where 0 lies within either end's band, these draws cannot say
    on which side of the end 0 falls. ``reconcile`` draws every condition with one seed, so draw i
    of each shares its normal and chi-square variates (on Porian's anchors at seed 1, the first
    five conditions' draws correlate 0.2 to 0.97). The band still covers there: on simulated
    draws made so, an end truly at 0 is called at the edge in 98% of seeds at 200 and at 1000
    draws (tests/test_s47_reconcile_draws.py); but one seed's extreme draw is every condition's,
    so the steps' verdicts move with the seed together."""
    s = np.asarray(source_draws, float)
    t = np.asarray(target_draws, float)
    s, t = s[np.isfinite(s)], t[np.isfinite(t)]
    n = min(s.size, t.size)
    if n < 2:
        return {"ci": (NAN, NAN), "lo_band": (NAN, NAN), "hi_band": (NAN, NAN), "edge": None, "n": n}
    differences = (_thinned(t)[:, None] - _thinned(s)[None, :]).ravel()
    tail = (1 - level) / 2
    error = band_error(n, tail)  # the same for both tails
    shares = np.clip([tail - error, tail, tail + error, 1 - tail - error, 1 - tail,
                      1 - tail + error], 0, 1)
    q = [float(v) for v in np.quantile(differences, shares)]
    lo_band, hi_band = (q[0], q[2]), (q[3], q[5])
    edge = bool(lo_band[0] <= 0 <= lo_band[1] or hi_band[0] <= 0 <= hi_band[1])
    return {"ci": (q[1], q[4]), "lo_band": lo_band, "hi_band": hi_band, "edge": edge, "n": n}


def band_error(n: int, tail: float) -> float:
    """Half the width, as a share of the draws, of the resampling band of an interval's end at
    share ``tail`` of n draws (``change_summary``): 1.96 sqrt(tail (1 - tail) / n)."""
    return 1.96 * np.sqrt(tail * (1 - tail) / n)


def draws_beyond_band(n: int, level: float = INTERVAL_LEVEL / 100) -> float:
    """How many of a condition's n draws lie beyond the outer end of an interval end's resampling
    band (``change_summary``): n (tail - band_error), tail = (1 - level) / 2; 0.7 of 200 draws at
    95% (the band reaches to the 99.66% point, all but the most extreme draw), 15 of 1000."""
    tail = (1 - level) / 2
    return max(n * (tail - band_error(n, tail)), 0.0)


def draws_for_steady_verdicts(level: float = INTERVAL_LEVEL / 100) -> int:
    """The fewest draws per condition that leave MIN_DRAWS_BEYOND_BAND of them beyond each end's
    resampling band (``draws_beyond_band``): 731 at 95%."""
    n = 2
    while draws_beyond_band(n, level) < MIN_DRAWS_BEYOND_BAND:
        n += 1
    return n


def few_draws_finding(n_draws: int, level: float = INTERVAL_LEVEL / 100,
                      n_bootstrap: int | None = None) -> str | None:
    """The walk's finding that its verdicts need more draws, where ``n_draws`` draws per
    condition (the fewest a judged step's band rested on: ``Move.n_draws``, which failed refits
    leave under ``n_bootstrap``, the resamples asked for) leave fewer than MIN_DRAWS_BEYOND_BAND
    beyond an end's resampling band: the band's outer end is then one of a condition's few most
    extreme draws, and whether 0 falls inside it ('at the edge') or beyond it ('changes a',
    'leaves 0 inside') can move with the seed. Porian's anchors, seeds 0-29, verdicts off their
    step's commonest: 20 of 330 at --bootstrap 200 (4 of 11 steps; 3 between 'changes a' and 'at
    the edge'), 15 at 300, 4 at 500, 2 at 731 and 2 at 1000 (OWT2's cosine-decay step, at the edge
    or just holding 0): more draws make the verdicts steadier, not steady. None with enough."""
    steady = draws_for_steady_verdicts(level)
    if n_draws >= steady:
        return None
    beyond = draws_beyond_band(n_draws, level)
    reach = ("reaches out to a condition's most extreme draw" if beyond < 1 else  # 0.7 of 200
             f"leaves only {np.floor(10 * beyond) / 10:.1f} of a condition's {n_draws} draws "
             "beyond it")  # floored: 9.98 of 730 printed 10.0, as many as it needs
    failed = (f" (of {n_bootstrap} resamples: the others' refits failed)"
              if n_bootstrap is not None and n_draws < n_bootstrap else "")
    return (f"{n_draws} draws per condition{failed} are too few for steadier verdicts: an end's "
            f"resampling band {reach} (a steadier band leaves {MIN_DRAWS_BEYOND_BAND}), so whether "
            "0 falls inside a band (at the edge) or beyond it can move with --seed; "
            f"{steady} draws or more (--bootstrap {steady} or more, where every refit succeeds) "
            f"leave {MIN_DRAWS_BEYOND_BAND} beyond it, though a verdict next to its band can still "
            "move (on Porian's anchors over 30 seeds, 2 of 330 verdicts did at 731 draws as at 1000)")


def change_interval(source_draws, target_draws) -> tuple[float, float]:
    """95% interval of the change in a between two conditions fitted to separate runs: the
    percentile interval of all pairwise differences of their draws (``change_summary``)."""
    return change_summary(source_draws, target_draws)["ci"]


def walk_moves(steps: list[Step], n_bootstrap: int = 0, draws: dict | None = None) -> list[Move]:
    """Consecutive conditions of each panel: the change in a, its 95% interval from the two
    conditions' bootstrap draws of a (``draws``: condition -> draws, keyed by (panel, condition)),
    whether it excludes 0 and whether 0 lies within an end's resampling error (``change_summary``),
    and whether the two intervals overlap (None, not judged, below MIN_RESAMPLES_FOR_VERDICT
    resamples)."""
    rough = too_few_resamples(n_bootstrap)
    draws = draws or {}
    moves = []
    for s, t in zip(steps, steps[1:]):
        if s.panel == t.panel and np.isfinite(s.a) and np.isfinite(t.a):
            move = Move(s.panel, s.condition, t.condition, t.a - s.a,
                        None if rough else intervals_overlap((s.a_lo, s.a_hi), (t.a_lo, t.a_hi)))
            ds, dt = draws.get((s.panel, s.condition)), draws.get((t.panel, t.condition))
            if ds is not None and dt is not None:
                change = change_summary(ds, dt)
                move.delta_ci95 = change["ci"]
                move.delta_lo_band, move.delta_hi_band = change["lo_band"], change["hi_band"]
                move.n_draws = int(change["n"])
                if not rough and np.all(np.isfinite(move.delta_ci95)):
                    move.apart = bool(move.delta_ci95[0] > 0 or move.delta_ci95[1] < 0)
                    move.edge = change["edge"]
            moves.append(move)
    return moves


def _signed(x: float) -> str:
    """x to 3 decimals with its sign ('+0.012'); one that rounds to zero without a sign ('0.000':
    '(-0.000)' read as a step down that the table's own 3 decimals cannot show)."""
    text = f"{x:+.3f}"
    return text[1:] if float(text) == 0 else text


def _change(m: Move) -> str:
    lo, hi = m.delta_ci95
    return f"{_signed(m.delta_a)} [{_signed(lo)}, {_signed(hi)}]"


def _ci(lo, hi):
    return f"[{lo:.3f}, {hi:.3f}]" if np.isfinite(lo) and np.isfinite(hi) else "[no interval]"


def walk_findings(steps: list[Step], moves: list[Move], n_bootstrap: int = 0,
                  law: str = "isoflop", ordered: bool = False) -> list[str]:
    """Per panel: which step moves a most (with its share of the whole walk), which steps change
    a (Move.verdict: the 95% interval of the change excludes 0, holds it, or has 0 within an
    end's resampling error; without draws, whether consecutive intervals overlap), and how the
    fits sit against the published intervals; then, once, that the steps are cumulative in the
    walk's order (``ordered``: --order gave it, else the table's)."""
    unknown = (f"are too rough to compare ({n_bootstrap} resamples)"
               if too_few_resamples(n_bootstrap) else "are unknown (no bootstrap)")
    out = []
    for panel in dict.fromkeys(s.panel for s in steps):
        ps = [s for s in steps if s.panel == panel and np.isfinite(s.a)]
        pm = [m for m in moves if m.panel == panel]
        where = f"{panel}: " if panel else ""
        if not pm:
            if ps:
                out.append(f"{where}one condition fitted ({ps[0].condition}: a = {ps[0].a:.3f} "
                           f"{_ci(ps[0].a_lo, ps[0].a_hi)}); no step to compare")
            continue
        big = max(pm, key=lambda m: abs(m.delta_a))
        first, last = ps[0], ps[-1]
        total = last.a - first.a
        s = next(x for x in ps if x.condition == big.source)
        t = next(x for x in ps if x.condition == big.target)
        share = ""
        if len(pm) > 1 and abs(total) > 1e-12:
            ratio = big.delta_a / total
            whole = f"the walk's change {_signed(total)} from '{first.condition}' to '{last.condition}'"
            if ratio <= 1:  # a share only of a change it is part of: not -1440% of +0.009
                share = f", {ratio:.0%} of {whole}" if ratio > 0 else f", against {whole}"
            else:
                share = f", more than {whole}: other steps move a back"
        head = (f"{where}the step from '{big.source}' to '{big.target}' moves a most: "
                f"{s.a:.3f} {_ci(s.a_lo, s.a_hi)} -> {t.a:.3f} {_ci(t.a_lo, t.a_hi)} ")
        if big.verdict is not None:
            out.append(head + f"({_change(big)}{share}), " + {
                CHANGES: "a change whose 95% interval excludes 0",
                HOLDS_ZERO: "a change whose 95% interval includes 0",
                AT_EDGE: f"a change at the edge: {EDGE_WORDS}"}[big.verdict])
        else:
            out.append(head + f"({_signed(big.delta_a)}{share}); their 95% intervals "
                       + {True: "overlap", False: "do not overlap", None: unknown}[big.overlap])
        paired = all(m.verdict is not None for m in pm)

        def listed(ms):
            return ", ".join(f"'{m.target}' {_change(m) if paired else _signed(m.delta_a)}" for m in ms)
        parts = []
        if paired:
            for verdict in (CHANGES, HOLDS_ZERO, AT_EDGE):
                ms = [m for m in pm if m.verdict == verdict]
                if not ms:
                    continue
                one = len(ms) == 1
                parts.append({
                    CHANGES: f"{len(ms)} of {len(pm)} steps change a (95% interval of the change "
                             f"excludes 0: {listed(ms)})",
                    HOLDS_ZERO: f"{len(ms)} {'leaves' if one else 'leave'} 0 inside the change's "
                                f"95% interval ({listed(ms)})",
                    AT_EDGE: f"{len(ms)} {'is' if one else 'are'} at the edge ({listed(ms)}): "
                             + EDGE_WORDS}[verdict])
        else:
            apart = [m for m in pm if m.overlap is False]
            together = [m for m in pm if m.overlap is True]
            if apart:
                parts.append(f"{len(apart)} of {len(pm)} steps leave the 95% intervals apart ("
                             + listed(apart) + ")")
            if together:
                verb = "leaves" if len(together) == 1 else "leave"
                parts.append(f"{len(together)} {verb} overlapping intervals (" + listed(together) + ")")
        if parts:
            out.append(f"{where}" + "; ".join(parts))
        known = [x for x in ps if x.inside_published is not None]
        if known:
            inside = [x for x in known if x.inside_published]
            outside = [x.condition for x in known if not x.inside_published]
            line = (f"{where}{len(inside)} of {len(known)} fitted a lie inside the published 95% "
                    "interval")
            out.append(line + (f" (outside: {', '.join(outside)})" if outside else ""))
        chin = [x for x in ps if np.isfinite(x.chinchilla_a)]
        if chin:
            gaps = np.array([x.chinchilla_a - x.a for x in chin])
            out.append(f"{where}the Chinchilla form (Approach 3) gives a from "
                       f"{min(x.chinchilla_a for x in chin):.3f} to "
                       f"{max(x.chinchilla_a for x in chin):.3f}; minus the "
                       f"{'IsoFLOP' if law == 'isoflop' else law} a: "
                       f"{_signed(gaps.min())} to {_signed(gaps.max())}")
    used = [m.n_draws if m.n_draws is not None else n_bootstrap for m in moves if m.verdict is not None]
    few = few_draws_finding(min(used), n_bootstrap=n_bootstrap) if used else None
    if few:  # once for the walk: the verdicts above rest on each band's few most extreme draws
        out.append(few)
    if moves:  # a share, and each step's change, is of the cumulative walk, said once
        words = ORDER_WORDS.format(order=GIVEN_ORDER if ordered else TABLE_ORDER)
        out.append(f"each change and share is along the walk: {words}")
    return out

"""The `--out` report of `scalefit weights`: a Markdown summary, per-group tables and the plots."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import pandas as pd

from scalefit.errors import known, suggestion
from scalefit.report import markdown_table, save_figure, write_text
from scalefit.schema import GROUP_RULE  # what a group's row holds (sweep/report.py reads it here too)
from scalefit.weightstats.group_names import GROUPS

SUMMARY_STATS = ("std", "excess_kurtosis", "t_nu", "gennorm_beta", "alpha", "best_family")


def _stem(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_")


def stat_plot(table: pd.DataFrame, stat: str, out_dir, *, groups=None, tensor=None,
              source: str = "weights table") -> list[Path]:
    """`<stat>_vs_step.png/svg`: the statistic of each group (or one tensor) against step."""
    from scalefit.weightstats.plots import stat_vs_step_figure

    fig = stat_vs_step_figure(table, stat, groups=groups, tensor=tensor, source=source)
    return save_figure(fig, out_dir, f"{_stem(stat)}_vs_step")


def _plot_telling_gaps(table: pd.DataFrame, stat: str, out_dir) -> tuple[list[Path], list[str]]:
    """stat_plot's files, and what it warned of (checkpoints with no finite value, not drawn) as
    sentences for the Markdown: the warning alone reached the terminal, not the report's reader."""
    import warnings

    from scalefit.errors import ScalefitWarning

    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        paths = stat_plot(table, stat, out_dir)
    for w in said:  # still said where the command runs
        warnings.warn(w.message, stacklevel=2)
    gaps = [str(w.message).split(": ", 1)[-1] for w in said if issubclass(w.category, ScalefitWarning)]
    return paths, [gap[:1].upper() + gap[1:] for gap in gaps]


# the default histogram: the MLP's input weights, or where every MLP is a mixture of experts
# (Mixtral, Qwen3-MoE: no mlp_in at all) the experts' input weights, every expert pooled
HISTOGRAM_GROUPS = {"mlp_in": "MLP-in", "expert_in": "Expert-in"}


def histogram_tensors(checkpoint, what: str | None) -> tuple[str, Callable[[], Iterator]]:
    """(what, its tensors): the group or tensor `what`, or for None the first of HISTOGRAM_GROUPS
    (mlp_in, expert_in) the checkpoint holds; its tensors as a function that makes a fresh
    generator of them (measure.group_tensors: one in memory at a time). A `what` that is neither
    a group nor a tensor's (dotted) name is refused naming the groups; one the checkpoint lacks,
    naming the groups it holds."""
    from scalefit.errors import InputError
    from scalefit.weightstats.measure import group_tensors

    accepted = f"a group ({', '.join(GROUPS)}) or a tensor's name as the weights table names it"
    if what is not None and what not in GROUPS and "." not in what:
        raise InputError(f"--hist '{what}': not a group nor a tensor's name (--hist takes {accepted})"
                         + suggestion(what, GROUPS, otherwise=""))
    if what is not None:
        return what, _values_of(group_tensors(checkpoint, what))
    try:
        return "mlp_in", _values_of(group_tensors(checkpoint, "mlp_in"))
    except InputError as first:  # an unreadable folder says so again; a dense model's message stays
        try:
            return "expert_in", _values_of(group_tensors(checkpoint, "expert_in"))
        except InputError:
            raise first from None


def _values_of(named_tensors: Callable[[], Iterator]) -> Callable[[], Iterator]:
    """A maker of (name, tensor) generators as a maker of tensor generators (each dropping its
    tensor before the next is read, as a generator expression would not)."""
    def tensors():
        for _, tensor in named_tensors():
            yield tensor
            del tensor
    return tensors


def histogram_plot(checkpoint, what: str | None, out_dir, *, title=None) -> list[Path]:
    """`hist_<what>.png/svg`: the pooled histogram of a group (or one tensor) with fitted families;
    `what` None: the MLP-in weights, or a mixture of experts' expert-in weights (HISTOGRAM_GROUPS).
    The group is read one tensor at a time (three passes), never held whole.
    `title`: a string, or a function of the `what` drawn."""
    from scalefit.weightstats.binned_fit import fit_families, pooled_histogram
    from scalefit.weightstats.plots import histogram_figure

    what, tensors = histogram_tensors(checkpoint, what)
    hist = pooled_histogram(tensors, name=f"{checkpoint}: {what}")
    title = title(what) if callable(title) else title
    fig = histogram_figure(hist, fit_families(hist), title=title or f"{what}: {checkpoint}")
    return save_figure(fig, out_dir, f"hist_{_stem(what)}")


def group_summary(table: pd.DataFrame) -> pd.DataFrame:
    """Per model at its last step: the pooled row of each group for the summary statistics."""
    from scalefit.weightstats.measure import family_name

    pooled = table[(table["tensor"] == "*") & table["stat"].isin(SUMMARY_STATS)]
    if pooled.empty:
        return pd.DataFrame()
    last = pooled.groupby("model")["step"].transform("max")
    wide = (pooled[pooled["step"] == last]
            .pivot_table(index=["model", "step", "group"], columns="stat", values="value").reset_index())
    if "best_family" in wide:
        wide["best_family"] = wide["best_family"].map(lambda v: family_name(v) if pd.notna(v) else "")
    return wide[[c for c in ["model", "step", "group", *SUMMARY_STATS] if c in wide.columns]]


def shape_bound_notes(table: pd.DataFrame, shown: int = 4) -> list[str]:
    """A sentence for each fitted-family parameter with a bound (every one in SHAPE_BOUNDS: Student-t
    nu at its cap 1e4, where tails no heavier than a Gaussian's leave nu unidentified; the quartic
    form's g at 0; the generalized normal's beta ...) that sits at that bound in some group rows
    (tensor `*`) of the weights ``table``: how many of its rows, and the first `shown` groups. That
    value is the bound, not an estimate. The one note of `scalefit weights`' and `eval --weights`'
    reports."""
    from scalefit.shapes import SHAPE_BOUNDS, at_shape_bound

    if table is None or table.empty or "stat" not in table:
        return []
    pooled = table[(table["tensor"] == "*") & table["stat"].isin(list(SHAPE_BOUNDS))]
    notes = []
    for column, (_, _, bounds) in SHAPE_BOUNDS.items():
        rows = pooled[pooled["stat"] == column]
        values = pd.to_numeric(rows["value"], errors="coerce").to_numpy(dtype=float)
        finite = np.isfinite(values)
        for bound, side in zip(bounds, ("lower", "upper")):
            at = at_shape_bound(values, bound) & finite
            if at.any():
                groups = list(dict.fromkeys(f"{m} {g}" for m, g in rows.loc[at, ["model", "group"]].to_numpy()))
                named = ", ".join(groups[:shown]) + (f" and {len(groups) - shown} more" if len(groups) > shown else "")
                notes.append(f"`{column}` = {bound:g} is the fit's {side} bound, not an estimate (the data put "
                             f"it at or beyond the bound), in {int(at.sum())} of {int(finite.sum())} group rows: "
                             f"{named}.")
    return notes


def blank_cell_notes(table: pd.DataFrame, summary: pd.DataFrame) -> list[str]:
    """A sentence for the blank cells of the summary table, naming the groups: a statistic the pass
    does not measure for that group (families and spectra are measured on matrices only, so bias
    and norm vectors have none), or one whose rows hold no finite value (a fit that failed). A
    group whose tensors have the statistic's rows, all nan, has no pooled row either (alpha of a
    router of 4 experts: too few eigenvalues): it was measured, so its blank is the second kind."""
    measured = table[table["stat"].isin(SUMMARY_STATS)]  # pooled and per-tensor rows
    keys = ["model", "step", "group"]
    notes = []
    for reason in ("unmeasured", "nonfinite"):
        blank: dict[str, list[str]] = {}
        for column in [c for c in SUMMARY_STATS if c in summary]:
            empty = summary.loc[summary[column].isna() | (summary[column] == ""), keys]
            if empty.empty:
                continue
            rows = measured[measured["stat"] == column].merge(empty, on=keys)
            had = set(rows[keys].itertuples(index=False, name=None))
            groups = {g if reason == "unmeasured" else f"{m} {g}"  # a failed fit: which run's
                      for m, st, g in empty.itertuples(index=False, name=None)
                      if ((m, st, g) in had) == (reason == "nonfinite")}
            if groups:
                blank[column] = sorted(groups)
        if not blank:
            continue
        by_groups: dict[tuple, list[str]] = {}  # the same groups for several columns: said once
        for column, groups in blank.items():
            by_groups.setdefault(tuple(groups), []).append(f"`{column}`")
        named = "; ".join(f"{', '.join(c)} for {', '.join(g)}" for g, c in by_groups.items())
        notes.append(f"Blank cells: {named}: " + (
            "not measured for those groups (fitted families and spectra are measured on matrices only; "
            "biases, norm weights and linear attention's decay parameters are vectors)." if reason == "unmeasured"
            else "the statistic's fit gave no finite value there."))
    return notes


def nonfinite_notes(table: pd.DataFrame) -> list[str]:
    """A paragraph naming each group whose weights hold NaN or inf (a diverged checkpoint): its rows
    carry only `count` and `nonfinite`, so it is missing from the summary and the plots."""
    if "nonfinite" not in set(table["stat"]):
        return []
    pooled = table[(table["tensor"] == "*") & table["stat"].isin(["count", "nonfinite"])]
    wide = pooled.pivot_table(index=["model", "step", "group"], columns="stat", values="value").reset_index()
    if "nonfinite" not in wide:
        return []
    bad = wide[wide["nonfinite"] > 0]
    if bad.empty:
        return []
    where = ", ".join(f"{r.model} step {r.step} {r.group} ({r.nonfinite:,.0f} of {r['count']:,.0f})"
                      for _, r in bad.iterrows())
    return [f"Groups whose weights hold NaN or inf (non-finite elements of all): {where}. They have no "
            "statistics at those steps (their rows carry only `count` and `nonfinite`), so they are "
            "missing there from the summary and the plots.", ""]


def write_weights_report(table: pd.DataFrame, out_dir, *, stats, checkpoints=()) -> list[Path]:
    """report.md, group_summary.csv, a plot per statistic against step, and the histogram of the
    MLP-in weights (a mixture of experts': its expert-in weights) of the last model's latest local
    checkpoint; returns the files written."""
    from scalefit.derived_stats import with_derived

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)  # its first file is the summary CSV, written by pandas
    files: list[Path] = []
    lines = ["# Weight statistics", "",
             f"{table[['model', 'step']].drop_duplicates().shape[0]} checkpoints, "
             f"{table['model'].nunique()} models, {len(table):,} rows in `weights.parquet` / `weights.csv` "
             "(columns model, step, tensor, group, layer, stat, value; group rows have tensor `*`).", ""]
    summary = group_summary(table)
    if not summary.empty:
        path = out_dir / "group_summary.csv"
        summary.to_csv(path, index=False)
        files.append(path)
        lines += ["## Groups at the last step", "", markdown_table(summary), ""]
        notes = shape_bound_notes(table) + blank_cell_notes(table, summary)
        lines += [*notes, ""] if notes else []
    lines += nonfinite_notes(table)
    steps = table["step"].nunique()
    table = with_derived(table, stats)  # a derived statistic asked for (t_xi): from its source's rows
    absent = [stat for stat in stats if stat not in set(table["stat"])]
    if absent:  # the table is written already; only the report's plot of a name it lacks is missing
        lines += [f"No statistic {', '.join(repr(s) for s in absent)} in this table to plot "
                  f"(known: {known(table['stat'].dropna())}).", ""]
    values = pd.to_numeric(table["value"], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    measured = set(table.loc[np.isfinite(values), "stat"].dropna().astype(str))
    empty = [stat for stat in stats if stat not in absent and stat not in measured]
    if empty:  # e.g. alpha nan at every checkpoint: a plot of nothing, not an error after the sweep
        lines += [f"No finite value of {', '.join(repr(s) for s in empty)} to plot (every row empty, nan "
                  "or inf).", ""]
    for stat in stats:
        if stat in absent or stat in empty:
            continue
        paths, gaps = _plot_telling_gaps(table, stat, out_dir)
        files += paths
        lines += [f"## {stat} against step" + (" (one step only)" if steps < 2 else ""), "",
                  f"![{stat}]({paths[0].name})", "", *[f"{gap}.\n" for gap in gaps]]
    local = [c for c in checkpoints if Path(c.path).exists()]
    if local:  # the last model's latest step, as the summary's "last step" (not the last one named)
        last = max((c for c in local if c.model == local[-1].model), key=lambda c: c.step)
        try:
            at = f"{last.model} step {last.step}"
            paths = histogram_plot(last.path, None, out_dir,
                                   title=lambda what: f"{HISTOGRAM_GROUPS[what]} weights, {at}")
        except (ValueError, KeyError):  # neither group in this architecture, or constant weights
            paths = []
        if paths:
            files += paths
            lines += ["## Histogram with fitted families", "", f"![histogram]({paths[0].name})", ""]
    from scalefit.weightstats.families import FAMILIES

    prefixes = ", ".join(f.prefix + (f" ({f.label})" if f.prefix != f.name else "") for f in FAMILIES.values())
    codes = ", ".join(f"{f.code} {f.name}" for f in FAMILIES.values())
    lines += ["## Statistics", "",
              "Moments and quantiles in the weights' units; `frac_3sd`/`frac_6sd`: share beyond 3/6 std; "
              "`sv_max`, `stable_rank`, `entropy_rank`, `alpha` (WeightWatcher's power-law exponent of the "
              "eigenvalues of W^T W; xmin by Clauset's two-sided KS distance, where WeightWatcher's `powerlaw` "
              "compares the lower side of each ECDF step only, so its xmin and alpha can differ); "
              "`<family>_<param>` with `_loglik` (per weight), `_aic`, "
              f"`_bic`, `_ks` for {prefixes}; "
              "`best_family` (lowest BIC) names the family in the `label` column (its `value` is the family's "
              f"fixed code: {codes}). " + GROUP_RULE,
              ""]
    files.append(write_text(out_dir, "report.md", "\n".join(lines)))
    return files

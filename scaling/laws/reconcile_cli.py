"""`scalefit reconcile`: the walk of the allocation exponent a over the conditions of one table
(Porian et al. 2024), a thin click shell over `reconcile.reconcile` that renders its result as a
table, one plot and the sentences the fitted numbers give."""
from __future__ import annotations

from pathlib import Path

import click
import numpy as np

from scalefit.errors import InputError
from scalefit.folder_settings import one_setting_per_folder
from scalefit.options import BOOTSTRAP, analysis_options, option_given, seed_option, split_values
from scalefit.report import dumps
from scalefit.scaling.laws.law import Law
from scalefit.scaling.laws.registry import ALIASES, REGISTRY
from scalefit.scaling.outputs import checked_outputs, files_section, provenance_lines, staged
from scalefit.scaling.laws.reconcile_text import walk_frame, walk_head, walk_notes, walk_terms, walk_text


def allocation_law_choices() -> list[str]:
    """Law names (and aliases) whose law sets an allocation exponent a: its own ``exponents``."""
    names = [n for n, cls in REGISTRY.items() if cls.exponents is not Law.exponents]
    return names + [a for a, n in ALIASES.items() if n in names]

STEM = "reconcile"
SHIPPED_IS_A_GRID = ("the shipped table is a grid of runs, not IsoFLOP points (3+ model sizes at "
                     "each compute budget), so --law isoflop")


def published_table(by: str) -> str:
    """What --published holds, for the message of an empty file (not a run table)."""
    return (f"a summary table of the published a: a header row, then one row per condition with "
            f"the --by column ({by}), a (or a_n_exponent) and optionally a_ci95_lo and "
            "a_ci95_hi")


def _order(values, known) -> list[str]:
    """--order: repeatable, comma-separated; a value that is itself a condition (Porian's labels
    hold commas) is kept whole."""
    out = []
    for value in values or ():
        out += [value] if value in known else split_values([value])
    return out


# reconcile.csv's columns (outputs.files_section; '{law}' is the walk's law)
RECONCILE_COLUMNS = {
    "panel": "the walk's panel (the --panel columns' values, ' / ' between them)",
    "condition": "the condition (the --by column's value)", "n_runs": "runs of this condition",
    "a": "allocation exponent a of N* ~ C^a, the {law} fit",
    "a_lo": "its 95% interval, low end", "a_hi": "its 95% interval, high end",
    "n_budgets": "compute budgets (IsoFLOP) or runs the fit used",
    "published_a": "the published a (--published)", "published_lo": "its 95% interval, low end",
    "published_hi": "its 95% interval, high end",
    "chinchilla_a": "a of the Chinchilla form fitted to the same runs (--also-chinchilla)",
    "chinchilla_lo": "its 95% interval (bootstrap percentiles), low end",
    "chinchilla_hi": "its 95% interval (bootstrap percentiles), high end",
    "chinchilla_note": "why the Chinchilla form was not fitted, or its bound/convergence warnings",
    "changes": "the setting columns that differ from the panel's previous condition ('column "
               "before -> after'; the first condition: 'start:' and its setting); empty where no "
               "column besides --by and --panel holds one value per condition",
    "warnings": "the {law} fit's warnings, '; ' between them",
    "inside_published": "whether a lies inside the published 95% interval (empty: none given)",
    "delta_a": "the change in a from the panel's previous condition (empty for the first)",
    "delta_lo": "its 95% interval (all pairwise differences of the two conditions' draws), low end",
    "delta_hi": "its 95% interval, high end",
}


def verdict_meaning() -> str:
    """reconcile.csv's verdict column, in the words of Move.verdict (imported here: reconcile
    loads the fitting engine, which `scalefit --help` does not need)."""
    from scalefit.scaling.laws.reconcile import AT_EDGE, CHANGES, EDGE_WORDS, HOLDS_ZERO
    return (f"the step's verdict: '{CHANGES}' (the change's 95% interval excludes 0), "
            f"'{HOLDS_ZERO}' (it holds 0) or '{AT_EDGE}' ({EDGE_WORDS}); empty: not judged (no "
            "draws, or too few)")


WALK_COLUMNS = 2     # panels side by side; more panels go on further rows
WALK_LABEL_WIDTH = 16  # characters per line of a condition's tick label


def plot_walk(rec):
    """One figure: a vs condition per panel (two panels a row), 95% intervals as error bars,
    published beside; the conditions' names wrapped onto lines under their points."""
    import textwrap

    import matplotlib.pyplot as plt
    panels = list(dict.fromkeys(s.panel for s in rec.steps))
    most = max(sum(s.panel == p for s in rec.steps) for p in panels)
    ncols = min(WALK_COLUMNS, len(panels))
    nrows = -(-len(panels) // ncols)
    width = max(4.0, 1.25 * most)
    fig, axes = plt.subplots(nrows, ncols, figsize=(width * ncols, 4.4 * nrows), sharey=True,
                             squeeze=False, layout="constrained")
    series = [("fitted", "a", "a_lo", "a_hi", "tab:blue", "o", 0.0),
              ("published", "published_a", "published_lo", "published_hi", "0.45", "s", -0.18),
              ("Chinchilla form", "chinchilla_a", "chinchilla_lo", "chinchilla_hi", "tab:red",
               "^", 0.18)]
    for ax, panel in zip(axes.flat, panels):
        steps = [s for s in rec.steps if s.panel == panel]
        x = np.arange(len(steps))
        for label, key, lo_key, hi_key, color, marker, dx in series:
            y = np.array([getattr(s, key) for s in steps], float)
            if not np.isfinite(y).any():
                continue
            lo = np.array([getattr(s, lo_key) for s in steps], float)
            hi = np.array([getattr(s, hi_key) for s in steps], float)
            ends = np.isfinite(lo) & np.isfinite(hi)  # the bar spans [lo, hi] itself: a few
            # resamples' percentiles can leave the estimate outside (yerr from it went negative)
            ax.errorbar((x + dx)[ends], ((lo + hi) / 2)[ends], yerr=((hi - lo) / 2)[ends],
                        fmt="none", color=color, capsize=3)
            ax.plot(x + dx, y, marker, color=color, ms=5,
                    label=f"{label} a" if label != "fitted" else f"{rec.law} a (fit)")
        ax.plot(x, [s.a for s in steps], "-", color="tab:blue", alpha=0.4)
        ax.set_xlim(-0.6, max(len(steps), 2) - 0.4)
        ax.set_xticks(x, [textwrap.fill(s.condition, WALK_LABEL_WIDTH) for s in steps],
                      fontsize=7)
        ax.set_title(panel or rec.by, fontsize=9)
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(panels):]:
        ax.set_visible(False)
    for row in axes:
        row[0].set_ylabel("allocation exponent a (N* ~ C^a)")
    axes[0][0].legend(fontsize=8)
    return fig


@staged
def write_reconcile_report(out_dir, rec) -> None:
    """reconcile.md, reconcile.csv and the walk's plot, moved into ``out_dir`` together."""
    from scalefit.atomic import write_frame
    from scalefit.report import markdown_table, save_figure, write_text
    out = Path(out_dir)
    table = rec.table()
    write_frame(table, out / f"{STEM}.csv")
    save_figure(plot_walk(rec), out, STEM)
    md = [f"# The walk of a over {rec.by}", "", *provenance_lines(rec.data or "(not given)"), "",
          walk_head(rec), *[f"\n{t}" for t in walk_terms(rec)], "",  # the terminal's words too
          markdown_table(walk_frame(rec)), "", *[f"- {f}" for f in rec.findings],
          *[f"- {n}" for n in walk_notes(rec)], "", f"![walk]({STEM}.png)", "",
          *files_section({f"{STEM}.csv": list(table.columns)},
                         meanings=dict(RECONCILE_COLUMNS, verdict=verdict_meaning()),
                         law=rec.law), ""]
    write_text(out, f"{STEM}.md", "\n".join(md))


@click.command("reconcile")
@analysis_options
@click.option("--by", "by", required=True, metavar="COLUMN",
              help="Column whose values are the conditions to fit one by one (e.g. label).")
@click.option("--panel", multiple=True, metavar="COLUMN",
              help="Columns that split the table into separate walks (e.g. dataset), "
                   "repeatable or comma-separated.")
@click.option("--order", multiple=True, metavar="A,B,C",
              help="The conditions to walk, in order (default: the table's order of first "
                   "appearance, which is the paper's order in Porian et al.'s files).")
@click.option("--law", type=click.Choice(allocation_law_choices(), case_sensitive=False),
              default="isoflop",
              show_default=True, help="Law fitted per condition for a. isoflop needs IsoFLOP "
              "points (3+ model sizes at each compute budget); the shipped table (no --data) is "
              "a grid of runs: walk it with --law chinchilla.")
@click.option("--isoflop-method", type=click.Choice(["parabola", "akima"]), default="akima",
              show_default=True, help="IsoFLOP minimum: Porian's Akima or Hoffmann's parabola.")
@click.option("--also-chinchilla", is_flag=True, default=False,
              help="Fit the Chinchilla form (Approach 3) per condition too, where the runs allow.")
@click.option("--published", "published_path", type=click.Path(dir_okay=False), default=None,
              help="Summary table with the published a per condition (columns: the --by column, "
                   "a or a_n_exponent, a_ci95_lo, a_ci95_hi; panel columns where it has them).")
@click.option("--bootstrap", "n_bootstrap", type=BOOTSTRAP, default=1000, show_default=True,
              help="Bootstrap resamples (parametric draws of the line for isoflop) for the 95% "
                   "intervals (0: none, else at least 2).")
@seed_option
@click.option("--subset", multiple=True, metavar="COL=VALUE",
              help="Use only rows with COL equal to VALUE (repeatable). Without --data and "
                   "--subset: the shipped table's part=grid runs, or its prose runs where --by "
                   "or --panel is part (no default filter on a column the walk splits by).")
@checked_outputs
@one_setting_per_folder
def reconcile_command(data_path, out_dir, as_json, by, panel, order, law, isoflop_method,
                      also_chinchilla, published_path, n_bootstrap, seed, subset):
    """Fit each condition of one table separately and walk the allocation exponent a.

    \b
    Porian et al. 2024's reconciliation of Kaplan and Chinchilla, on their points:
      scalefit reconcile --data porian_isoflop_points.csv --by label \\
          --panel dataset,source_file --published porian_fit_summary.csv --also-chinchilla
    """
    from scalefit.scaling.laws.cli import _load
    from scalefit.scaling.laws.reconcile import reconcile
    from scalefit.tables import read_table

    from scalefit.scaling.laws.registry import law_for
    if law_for(law).law_name != "isoflop" and option_given("isoflop_method"):
        raise InputError(f"--isoflop-method: only with --law isoflop (got --law {law})")
    panel = split_values(panel)
    df, source, _ = _load(data_path, subset, keep=(by, *panel))
    for column in [by, *panel]:
        if column not in df.columns:
            raise InputError(f"{source}: --by/--panel: no column '{column}' (columns: "
                             f"{', '.join(map(str, df.columns))})")
    published = read_table(published_path, published_table(by)) if published_path else None
    try:
        rec = reconcile(df, by, panel=panel, order=_order(order, set(df[by].astype(str))), law=law,
                        isoflop_method=isoflop_method, also_chinchilla=also_chinchilla,
                        n_bootstrap=n_bootstrap, seed=seed, published=published, source=source,
                        published_source=published_path or "<published table>")
    except InputError as exc:
        if data_path is None and law_for(law).law_name == "isoflop" and str(exc).startswith(
                "reconcile: no condition"):  # the default law on the default table: say what to do
            raise InputError(f"reconcile: {SHIPPED_IS_A_GRID} fits none of its conditions of --by "
                             f"{by}; pass --law chinchilla to walk a over its runs, or --data "
                             "with IsoFLOP points") from None
        raise
    if out_dir:
        write_reconcile_report(out_dir, rec)
    if as_json:
        click.echo(dumps(rec.to_dict()))
    else:
        click.echo(walk_text(rec))


__all__ = ["reconcile_command", "walk_text", "plot_walk"]

"""Tables and reports of law fits: the human-readable terminal table, CSV tables, Markdown."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from scalefit.report import dumps, markdown_table, save_figure, write_text
from scalefit.tables import write_table


def params_frame(fit: dict, law_label: str | None = None) -> pd.DataFrame:
    """One row per parameter: value, stderr, ci95 bounds (plus a law column if labelled)."""
    rows = []
    for name, p in fit["params"].items():
        row = {"param": name, "value": p["value"], "stderr": p["stderr"],
               "ci95_lo": p["ci95"][0], "ci95_hi": p["ci95"][1]}
        if law_label:
            row = {"law": law_label, **row}
        rows.append(row)
    alloc = fit.get("allocation", {})
    for key in ("a", "b"):
        if alloc.get(key) is not None and np.isfinite(alloc.get(key, np.nan)):
            ci = alloc.get(f"{key}_ci95", [np.nan, np.nan])
            row = {"param": f"{key} (allocation)", "value": alloc[key], "stderr": np.nan,
                   "ci95_lo": ci[0], "ci95_hi": ci[1]}
            if law_label:
                row = {"law": law_label, **row}
            rows.append(row)
    return pd.DataFrame(rows)


def metrics_frame(fits: dict) -> pd.DataFrame:
    """One row per law: n, objective, RMSE, AIC, BIC, a, b, held-out error, starts."""
    rows = []
    for label, f in fits.items():
        alloc = f.get("allocation", {})
        hold = f.get("holdout", {})
        rows.append({"law": label, "n_points": f["n_points"], "objective": f["objective"],
                     "rmse_log": f.get("rmse_log", np.nan), "aic": f.get("aic", np.nan),
                     "bic": f.get("bic", np.nan), "a": alloc.get("a", np.nan),
                     "b": alloc.get("b", np.nan),
                     "holdout_mean_abs_rel_err": hold.get("mean_abs_relative_error", np.nan),
                     "converged": f["converged"],
                     "starts_at_best": f"{f.get('n_starts_at_best', '')}/{f.get('n_starts', '')}"})
    return pd.DataFrame(rows)


def budgets_frame(fit: dict) -> pd.DataFrame:
    return pd.DataFrame(fit.get("allocation", {}).get("budgets", []))


def _fmt(value, spec=".4g"):
    if value is None:
        return ""
    if isinstance(value, (float, np.floating)):
        return format(float(value), spec) if math.isfinite(value) else "-"
    return str(value)


def text_table(df: pd.DataFrame) -> str:
    """A plain aligned text table for the terminal."""
    cells = [[str(c) for c in df.columns]] + [[_fmt(v) for v in row]
                                               for row in df.itertuples(index=False)]
    widths = [max(len(r[i]) for r in cells) for i in range(len(cells[0]))]
    lines = ["  ".join(c.rjust(w) for c, w in zip(r, widths)) for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def fit_text(fit: dict) -> str:
    """What `scalefit fit` prints: parameters, fit statistics, allocation, warnings."""
    out = [f"law {fit['law']}: {fit['n_points']} points, Huber objective {fit['objective']:.6g}, "
           f"converged {fit['converged']}"]
    if "n_starts" in fit:
        out.append(f"starts reaching the best optimum: {fit['n_starts_at_best']} of "
                   f"{fit['n_starts']}; RMSE(log L) {fit.get('rmse_log', float('nan')):.4g}")
    for note in fit.get("notes", []):
        out.append(f"note: {note}")
    out += ["", text_table(params_frame(fit))]
    budgets = budgets_frame(fit)
    if len(budgets):
        out += ["", "compute-optimal allocation:", text_table(budgets)]
    if "holdout" in fit:
        out.append(f"held-out mean |relative error|: "
                   f"{fit['holdout']['mean_abs_relative_error']:.4g} on {fit['holdout']['n']} runs")
    for w in fit.get("warnings", []):
        out.append(f"warning: {w}")
    return "\n".join(out)


def compare_text(cmp: dict) -> str:
    """What `scalefit compare` prints: metrics, parameters, budgets, the two-sentence reading."""
    params = pd.concat([params_frame(f, label) for label, f in cmp["fits"].items()],
                       ignore_index=True)
    out = [f"{cmp['data']}: {cmp['n_runs']} runs ({cmp['n_fit']} fitted, "
           f"{cmp['n_holdout']} held out)", "", text_table(metrics_frame(cmp["fits"])), "",
           text_table(params), "", text_table(pd.DataFrame(cmp["budgets"]))]
    if cmp.get("published"):
        out += ["", "published constants:", text_table(published_frame(cmp["published"]))]
    for label, f in cmp["fits"].items():
        for w in f.get("warnings", []):
            out.append(f"warning ({label}): {w}")
    out += ["", *cmp["explanation"]]
    return "\n".join(out)


def published_frame(published: dict) -> pd.DataFrame:
    rows = []
    for law, sources in published.items():
        for source, values in sources.items():
            rows.append({"law": law, "source": source, **values})
    return pd.DataFrame(rows)


def _plots(out_dir, frame, results):
    from scalefit.scaling.laws import plots
    paths = []
    paths += save_figure(plots.plot_loss_vs_n(frame, results), out_dir, "loss_vs_n")
    paths += save_figure(plots.plot_frontiers(results, frame), out_dir, "frontiers")
    paths += save_figure(plots.plot_residuals(frame, results), out_dir, "residuals")
    return paths


def write_fit_report(out_dir, fit: dict, result, frame) -> None:
    """report.md, params.csv, allocation.csv, fit.json and the three plots for one law
    (a law without a loss surface, IsoFLOP: its per-budget optima and the frontier plot)."""
    from scalefit.scaling.laws.registry import law_for
    write_table(params_frame(fit), f"{out_dir}/params.csv")
    if len(budgets_frame(fit)):
        write_table(budgets_frame(fit), f"{out_dir}/allocation.csv")
    if "optima" in fit:
        write_table(pd.DataFrame(fit["optima"]), f"{out_dir}/{fit['law']}_optima.csv")
    write_text(out_dir, "fit.json", dumps(fit))
    if law_for(fit["law"]).predicts_loss:
        _plots(out_dir, frame, {fit["law"]: result})
    else:
        from scalefit.scaling.laws import plots
        save_figure(plots.plot_frontiers({fit["law"]: result}, frame), out_dir, "frontiers")
    text = [f"# Fit: {fit['law']}", "", "```", fit_text(fit), "```", "",
            markdown_table(params_frame(fit))]
    if result.model_result is not None:
        text += ["", "## lmfit report", "", "```", result.model_result.fit_report(), "```"]
    write_text(out_dir, "report.md", "\n".join(text) + "\n")


def write_compare_report(out_dir, comparison, frame) -> None:
    """report.md, metrics/params/budgets CSV, compare.json and the three plots of a
    ``compare.Comparison``."""
    cmp = comparison.to_dict()
    params = pd.concat([params_frame(f, label) for label, f in cmp["fits"].items()],
                       ignore_index=True)
    metrics = metrics_frame(cmp["fits"])
    budgets = pd.DataFrame(cmp["budgets"])
    write_table(params, f"{out_dir}/params.csv")
    write_table(metrics, f"{out_dir}/metrics.csv")
    write_table(budgets, f"{out_dir}/budgets.csv")
    for label, f in cmp["fits"].items():
        if "holdout" in f:
            write_table(pd.DataFrame({"flops": f["holdout"]["flops"],
                                      "relative_error": f["holdout"]["relative_error"]}),
                        f"{out_dir}/holdout_{label}.csv")
    write_text(out_dir, "compare.json", dumps(cmp))
    _plots(out_dir, frame, comparison.fits)
    text = [f"# {' vs '.join(cmp['fits'])} on {cmp['data']}", "",
            " ".join(cmp["explanation"]), "", "## Fit quality and allocation", "",
            markdown_table(metrics), "", "## Parameters (stderr from the fit, CI from the "
            "bootstrap)", "", markdown_table(params), "", "## Budgets", "",
            markdown_table(budgets)]
    if cmp.get("published"):
        text += ["", "## Published constants", "", markdown_table(published_frame(
            cmp["published"]))]
    text += ["", "![loss vs N](loss_vs_n.png)", "![frontiers](frontiers.png)",
             "![residuals](residuals.png)"]
    write_text(out_dir, "report.md", "\n".join(text) + "\n")

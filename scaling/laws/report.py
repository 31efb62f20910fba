"""Tables and reports of law fits: the human-readable terminal table, CSV tables, Markdown."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from scalefit.errors import InputError
from scalefit.report import dumps, markdown_table, save_figure, write_text
from scalefit.scaling.fitresult import BOOTSTRAP_STDERR_RULE, BOOTSTRAP_STDERR_WHY, flat_rows
from scalefit.scaling.outputs import (column_unit, error_percent, files_section, no_number, percent,
                                      provenance_lines, staged)
from scalefit.scaling.interval_text import at_place, at_zero, interval_ends, interval_text, spread_place
from scalefit.scaling.laws.identifiability import OUTSIDE, bound_status, outside, with_digits
from scalefit.scaling.laws.isoflop import OPTIMA_LINE
from scalefit.scaling.laws.projection import BEYOND_RUNS, CHECK_FACTOR, REACH, beyond_reach
from scalefit.scaling.laws.runtable import fit_n_note
from scalefit.scaling.resample import rough_intervals_note
from scalefit.tables import write_table


def params_frame(fit: dict, law_label: str | None = None) -> pd.DataFrame:
    """One row per parameter: value, stderr (the bootstrap's when it ran), stderr_fit (the fit's
    curvature), ci95 bounds (plus a law column if labelled)."""
    rows = []
    ident = fit.get("identifiability", {})
    for name, p in fit["params"].items():
        row = {"param": name, "value": p["value"], "stderr": p["stderr"],
               "stderr_fit": p.get("stderr_fit", np.nan), "ci95_lo": p["ci95"][0], "ci95_hi": p["ci95"][1]}
        if ident:
            row["identified"] = bound_status(name, fit.get("warnings")) or \
                (ident.get(name) or {}).get("status") or "-"
            if outside(p["value"], p["ci95"]):  # as the relations' table says it
                row["identified"] += f", {OUTSIDE}"
        if law_label:
            row = {"law": law_label, **row}
        rows.append(row)
    alloc = fit.get("allocation", {})
    for key in ("a", "b"):
        if alloc.get(key) is not None and np.isfinite(alloc.get(key, np.nan)):
            ci = alloc.get(f"{key}_ci95", [np.nan, np.nan])
            row = {"param": f"{key} (allocation)", "value": alloc[key], "stderr": alloc.get(f"{key}_stderr", np.nan),
                   "stderr_fit": np.nan, "ci95_lo": ci[0], "ci95_hi": ci[1]}
            if ident:
                row["identified"] = "-"
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
        # the Huber objective of the loss fits; isoflop's is of another quantity (log N* about
        # its line, objective_name), which beside them read as a far worse fit
        objective = np.nan if f.get("objective_name") else f["objective"]
        starts = f"{f['n_starts_at_best']}/{f['n_starts']}" if "n_starts" in f else "-"
        rows.append({"law": label, "n_points": f["n_points"], "objective": objective,
                     "rmse_log": f.get("rmse_log", np.nan), "aic": f.get("aic", np.nan),
                     "bic": f.get("bic", np.nan), "a": alloc.get("a", np.nan),
                     "b": alloc.get("b", np.nan),
                     "holdout_mean_abs_rel_error": hold.get("mean_abs_rel_error", np.nan),
                     "converged": f["converged"],
                     "starts_at_best": starts})
    return pd.DataFrame(rows)


def metrics_text_frame(fits: dict) -> pd.DataFrame:
    """metrics_frame as the terminal and report.md print it: the held-out error a percentage, as
    the held-out lines below it ('0.002718' above 'mean |relative error| 0.27%'); metrics.csv and
    --json keep the fraction."""
    from scalefit.scaling.laws.identifiability import significant
    frame = metrics_frame(fits)
    frame["holdout_mean_abs_rel_error"] = [percent(v) for v in frame["holdout_mean_abs_rel_error"]]
    for key in ("a", "b"):  # as the allocation rows print them: to their interval's place (s45)
        frame[key] = [v if no_number(v) else significant(v, None, (f.get("allocation") or {}).get(f"{key}_ci95"))
                      for v, f in zip(frame[key], fits.values())]
    return frame


def budgets_frame(fit: dict) -> pd.DataFrame:
    """The allocation rows as a flat table (intervals as _lo/_hi columns) for CSV."""
    return flat_rows(fit.get("allocation", {}).get("budgets", []))


def without_empty_loss(frame: pd.DataFrame) -> pd.DataFrame:
    """A budget table for CSV without the loss columns of a law that has no loss surface
    (isoflop: loss, loss_ci95_lo, loss_ci95_hi empty in every row), as the terminal's table
    leaves them out; a column of blanks read as missing numbers."""
    empty = [c for c in frame.columns if (c == "loss" or c.endswith("_loss"))
             and frame[c].isna().all()]
    drop = [c for c in frame.columns for loss in empty
            if c == loss or c.startswith((f"{loss}_ci95_", f"{loss}_pi95_"))]
    return frame.drop(columns=drop)


def _with_ci(row: dict, key: str, spec=".3g") -> str:
    """'value [lo, hi]' of a budget row's ``key``: ``spec`` '.3g' is 3 significant digits with
    trailing zeros kept (2.00 [1.95, 2.04], where '2 [1.95, 2.04]' read as one digit)."""
    value = row.get(key)
    if value is None or not np.isfinite(value):
        return "-"

    def shown(v):
        return with_digits(v, int(spec[1:-1])) if spec.endswith("g") else format(float(v), spec)
    ci = row.get(f"{key}_ci95")
    text = shown(value)
    if ci is not None and np.all(np.isfinite(ci)):
        text += f" [{shown(ci[0])}, {shown(ci[1])}]"
    return text


def fit_line(fit: dict) -> str:
    """A law's fit (``FitResult.to_dict()``) in one line, for a notebook's view of a result: its
    points and RMSE(log L), the allocation exponent a with its 95% interval where the law sets
    one, the mean error on held-out runs where some were, and how many warnings it carries."""
    alloc = fit.get("allocation", {})
    parts = [f"{fit['n_points']} points"]
    if np.isfinite(fit.get("rmse_log", np.nan)):  # an IsoFLOP fit has none: it fits budget optima
        parts.append(f"RMSE(log L) {fit['rmse_log']:.4g}")
    if np.isfinite(alloc.get("a", np.nan)):
        parts.append(f"a = {_with_ci(alloc, 'a', '.2f')}")
    held = fit.get("holdout", {}).get("mean_abs_rel_error", np.nan)
    if np.isfinite(held):
        parts.append(f"held-out |relative error| {error_percent(held)}")
    if not fit["converged"]:
        parts.append("did not converge")
    n = len(fit.get("warnings", []))
    if n:
        parts.append(f"{n} warning{'s' if n > 1 else ''}")
    return ", ".join(parts)


PROJECTED = (("N_opt", "N*"), ("D_opt", "D*"), ("tokens_per_param", "D*/N*"), ("loss", "loss"))


def projection_frame(rows: list[dict], laws=None) -> pd.DataFrame:
    """Budget rows for the terminal: one line per (budget, law), values with their 95% CIs.

    ``laws`` given: the rows' keys carry a law prefix (compare's table); None: one law's rows.
    """
    out = []
    for row in rows:
        head = {"FLOPs": _fmt(row["flops"], ".3g"),
                "x largest run": _fmt(row.get("times_largest_run", np.nan), ".3g"),
                "kind": row.get("kind", "-")}
        if "compute" in row:  # compare's laws on two compute bases: each row says its own
            head["C is"] = row["compute"]
        for law in (laws or [None]):
            prefix = f"{law}_" if law else ""
            if f"{prefix}N_opt" not in row:
                continue
            cells = {label: _with_ci({k[len(prefix):]: v for k, v in row.items()
                                      if k.startswith(prefix)}, key)
                     for key, label in PROJECTED}
            out.append({**head, **({"law": law} if law else {}), **cells})
    frame = pd.DataFrame(out)
    if "loss" in frame.columns and frame["loss"].eq("-").all():  # isoflop: no loss surface
        frame = frame.drop(columns="loss")
    return frame


def scatter_text(scatters: dict) -> str | None:
    """How loss_pi95 draws the runs' scatter, per law (``scatters``: label or None -> the
    allocation's ``pi95_scatter``), in one clause; None where no law says."""
    from scalefit.scaling.laws.scatter import SIZED
    parts = []
    for label, s in scatters.items():
        if not s:
            continue
        head = f"{label}: " if label else ""
        if s.get("model") == SIZED:
            beyond = (f" (beyond the fitted runs' N, {s['fitted_N_range'][0]:.2g} to "
                      f"{s['fitted_N_range'][1]:.2g}, {s['beyond_fitted_N']})"
                      if s.get("fitted_N_range") else "")
            parts.append(f"{head}the log sd grows {s['slope_log_sd_per_log_N']:+.2f} "
                         f"(se {s['slope_se']:.2f}) per unit log N, taken at each budget's N*{beyond}")
        else:
            reason = f" ({s['reason']})" if s.get("reason") else ""
            parts.append(f"{head}one scale at every size{reason}")
    return "; ".join(parts) or None


def loss_unit(column: str | None) -> str:
    """The unit of a fitted loss column (column_unit: nats/token for loss, loss_*, *_loss;
    bits/byte for bpb), else the column's own."""
    column = column or "loss"
    return column_unit(column) or f"the units of column '{column}'"


def projection_lines(rows: list[dict], laws=None, convention: str = "",
                     bootstrapped: bool = False, scatters: dict | None = None,
                     loss_column: str | None = None, table=None, source: str = "bootstrap") -> list[str]:
    """The budget table with what it is: units, distance, kind, N convention, and how an
    observed run's interval draws the runs' scatter (``scatters``: ``scatter_text``); the head
    line, the table (``table``: a frame to text, the terminal's ``text_table`` unless given),
    then one line a note. ``source``: what drew the intervals (spread_source)."""
    if not rows:
        return []
    if not any(key.endswith("N_opt") for row in rows for key in row):  # compare kaplan-n kaplan-d
        return [f"compute-optimal allocation: none ({', '.join(laws or ['this law'])} read "
                "one variable each; an allocation needs a law of N and D)"]
    far = max(row.get("times_largest_run", 0) for row in rows)
    kinds = {row.get("kind") for row in rows}
    has_ci = any(key.endswith("_ci95") for row in rows for key in row)
    frame = projection_frame(rows, laws)
    units = ("FLOPs; N* in parameters, D* in tokens"
             + (f", loss in {loss_unit(loss_column)}" if "loss" in frame.columns else ""))
    head = (f"compute-optimal allocation at these budgets ({units}; "
            f"up to {far:.3g}x the largest fitted run; "
            + (f"95% intervals from the {source} draws)" if has_ci else
               "no intervals: run with --bootstrap N for them)" if not bootstrapped else
               "no intervals: the bootstrap drew none for these rows)"))
    out = [head + ":", (table or text_table)(frame)]
    has_pi = any(key.endswith("loss_pi95") for row in rows for key in row)
    if has_ci and not has_pi:  # a law with no loss surface (isoflop): no loss_pi95 to point to
        out.append("the intervals are of the law's optimum (the curve)")
    elif has_ci:
        checked = (", and below for the rows a held-out run checks" if "prediction" in kinds else
                   ", and below for the rows near a held-out run" if BEYOND_RUNS in kinds else "")
        out.append("the intervals are of the law's optimum (the curve); an observed run's loss scatters "
                   f"more: its 95% prediction interval is loss_pi95 in --json{checked}")
        scatter = scatter_text(scatters or {})
        if scatter:
            out.append(f"the runs' scatter in loss_pi95: {scatter}")
        far_rows = [row for row in rows if any(key.endswith("loss_pi95_note") for key in row)]
        if far_rows:  # projection.NO_PI_BEYOND_REACH
            note = next(v for key, v in far_rows[0].items() if key.endswith("loss_pi95_note"))
            where = ", ".join(f"{row['flops']:.3g}" for row in far_rows)
            out.append(f"loss_pi95: none at {where} FLOPs: {note}")
    for row in rows:
        if row.get("kind") not in ("prediction", BEYOND_RUNS):
            continue
        own = getattr(row, "law_kinds", {})  # compare's rows: each law's own kind (compare.BudgetRow)
        for law in (laws or [None]):
            pi = row.get(f"{law}_loss_pi95" if law else "loss_pi95")
            beyond = ("; a projection: no run has this N* or D*"
                      if own.get(law, row.get("kind")) == BEYOND_RUNS else "")
            if pi is not None and np.all(np.isfinite(pi)):
                out.append(f"  {row['flops']:.3g} FLOPs{f' ({law})' if law else ''}: a run trained at this optimum "
                           f"would measure a loss in {interval_text(*pi)} (95% prediction interval{beyond})")
    blank = {}  # a law's N* left '-' where its optimum ran off the searched range of N
    for row in rows:
        for law in (laws or [None]):
            key = f"{law}_N_opt" if law else "N_opt"
            if key in row and not (row[key] is not None and np.isfinite(row[key])):
                blank.setdefault(law or "the law", []).append(f"{row['flops']:.3g}")
    for law, flops in blank.items():
        out.append(f"-: {law} has no optimum at {', '.join(flops)} FLOPs within the N searched "
                   "(about 1e-6 to 1e6 x sqrt(C/6)): its frontier leaves that range")
    if "projection" in kinds:
        out.append("projection: no run exists at that compute to check it; the law's form, "
                   "not the data, sets the number")
    if "extrapolation" in kinds:  # inside the compute, outside the runs' shapes: no run checks it
        where = "; ".join(f"{row['flops']:.3g} FLOPs: {row['outside_fitted']}" for row in rows
                          if row.get("kind") == "extrapolation" and row.get("outside_fitted"))
        out.append("extrapolation: within the fitted runs' compute, but the optimum lies outside "
                   f"their sizes or token counts ({where}); no run checks it and the law's form, "
                   "not the data, sets the number")
    if BEYOND_RUNS in kinds:  # a held-out run near the compute, but not at the optimum's N or D
        where = "; ".join(f"{row['flops']:.3g} FLOPs: {row['outside_runs']}" for row in rows
                          if row.get("kind") == BEYOND_RUNS and row.get("outside_runs"))
        out.append(f"{BEYOND_RUNS}: a held-out run lies within {CHECK_FACTOR:g}x of that compute, "
                   f"but the optimum lies outside every run's size or token count ({where}); the "
                   "held-out run checks the law at its own N and D, not there, so the optimum's N*, "
                   "D* and loss are a projection no run checks")
    if "below the data" in kinds:
        out.append("below the data: less compute than the smallest fitted run; no run checks "
                   "it and the law's form, not the data, sets the number")
    if beyond_reach(far, 1.0):  # far: in multiples of the largest fitted run
        out.append(f"warning: budgets {far:.3g}x beyond the largest fitted run (over {REACH:g}x): "
                   + ("the intervals hold the fitted law's uncertainty only, not whether its form "
                      "holds that far" if has_ci else  # no intervals to speak of (--bootstrap 0)
                      "nothing checks whether the law's form holds that far"))
    if convention:
        out.append(f"N: {convention}")
    return out


def out_of_reach_line(largest_fitted: float, rows=(), given: bool = False) -> list[str]:
    """Which published budgets the table leaves out, and how far they are (a budget a row shows,
    given with --budget, is not left out); with budgets ``given`` (--budget), that they replaced
    the published ones: 'pass --budget' blamed a distance beside the budgets it had passed."""
    from scalefit.scaling.laws.allocation import REFERENCE_BUDGETS
    from scalefit.scaling.laws.projection import reference_budgets_out_of_reach
    if not np.isfinite(largest_fitted):
        return []
    shown = [float(r["flops"]) for r in rows if r.get("flops") is not None]
    candidates = REFERENCE_BUDGETS if given else reference_budgets_out_of_reach(largest_fitted)
    skipped = [c for c in candidates if not any(np.isclose(c, f, rtol=1e-9) for f in shown)]
    if not skipped:
        return []
    if given:
        return [f"published budgets {', '.join(f'{c:.3g}' for c in skipped)} FLOPs not shown: "
                "the budgets given (--budget) replace the default ones"]
    return [f"published budgets {', '.join(f'{c:.3g}' for c in skipped)} FLOPs left out: "
            f"{min(skipped) / largest_fitted:.2g}x or more beyond the largest fitted run "
            f"(shown only within {REACH:g}x; pass --budget FLOPS to project there anyway)"]


def params_shown_frame(fit: dict, law_label: str | None = None) -> pd.DataFrame:
    """params_frame with each value printed to the place of its printed 95% interval's ends
    (identifiability.significant; a parameter at its bound as the bound, the status's digits only
    where there is no interval) and the interval's ends on the interval rule (interval_ends, as the warnings print them: the table
    read 14.83 above a warning's 15); what the terminal and report.md show (report.md printed 4
    digits, E = 2.552 under the terminal's 2.6 in one report); params.csv keeps every digit."""
    from scalefit.scaling.laws.identifiability import significant
    frame = params_frame(fit, law_label)
    estimates = list(frame["value"])
    if "identified" in frame.columns:
        frame["value"] = [_at_bound(fit, name, s) or significant(v, s if s != "-" else None, (lo, hi))
                          for name, v, s, lo, hi in zip(frame["param"], frame["value"], frame["identified"],
                                                        frame["ci95_lo"], frame["ci95_hi"])]
    ends = [interval_ends(*at_zero(lo, hi, v)) for v, lo, hi in
            zip(estimates, frame["ci95_lo"], frame["ci95_hi"])]
    frame["ci95_lo"], frame["ci95_hi"] = [e[0] for e in ends], [e[1] for e in ends]
    # a spread to 2 significant digits, as uncertainties are quoted (7.872e+20 beside an
    # interval end of 4.5e+17 claimed digits a bootstrap spread does not have)
    frame["stderr"] = [_spread_text(v) for v in frame["stderr"]]
    return frame


def _spread_text(value) -> str:
    """A standard error to its SPREAD_DIGITS significant digits (spread_place), written as the
    interval ends are (at_place: 350, 0.050, 9.0e+16); '-' where there is none."""
    if no_number(value):
        return "-"
    if value == 0:
        return "0"
    return at_place(value, spread_place(value))


def _at_bound(fit: dict, name: str, status: str) -> str | None:
    """The bound a parameter ended on, printed as the value (E = 1.053e-12 'at its lower bound'
    is the bound 0, within the fit's tolerance, not an estimate of 1e-12); None otherwise."""
    from scalefit.scaling.laws.registry import law_for
    side = {"at its lower bound": 0, "at its upper bound": 1}.get(str(status).split(",")[0])
    if side is None:
        return None
    try:
        bound = law_for(fit["law"]).bounds.get(name, (np.nan, np.nan))[side]
    except InputError:  # a law outside the registry: its value as it is
        return None
    return format(float(bound), ".4g") if np.isfinite(bound) else None


def params_text_frame(fit: dict, law_label: str | None = None) -> pd.DataFrame:
    """params_shown_frame with the spread columns the terminal prints."""
    return _spread_columns(params_shown_frame(fit, law_label), fit)


def spread_source(fits) -> str:
    """What drew these fits' intervals, as the tables name it: 'bootstrap' (refits to resampled runs)
    or 'parametric' (IsoFLOP's line, its (a, log G) drawn from t about the fit: isoflop.DRAWN), both
    where a table holds fits of each kind; 'bootstrap' where none drew any."""
    kinds = {"parametric" if str(boot.get("drawn", "")).startswith("parametric") else "bootstrap"
             for fit in fits if (boot := fit.get("bootstrap") or {}).get("n")}
    return " / ".join(sorted(kinds)) or "bootstrap"


def _spread_columns(frame: pd.DataFrame, fit: dict) -> pd.DataFrame:
    """Say what the spread columns are. With a bootstrap: its standard error (half the central
    68% range: stderr_rule_lines says so) and 95% interval (the fit's curvature stderr, which can
    disagree with the interval by orders of magnitude where the runs do not identify a parameter,
    is left to the JSON's stderr_fit); without one: the curvature stderr alone (the interval
    columns would be empty)."""
    boot = fit.get("bootstrap") or {}
    if boot.get("n"):
        frame = frame.drop(columns=["stderr_fit"])
        source = spread_source([fit])
        return frame.rename(columns={"stderr": f"{source} se", "ci95_lo": f"{source} 95% lo",
                                     "ci95_hi": f"{source} 95% hi"})
    return frame.drop(columns=["stderr_fit", "ci95_lo", "ci95_hi"]).rename(
        columns={"stderr": "stderr (curvature)"})


def stderr_rule_lines(fits: dict) -> list[str]:
    """What the 'bootstrap se' (or 'parametric se': spread_source) column is, once per kind of draws
    under a table of fits ({label or None: fit dict}) with draws: half their central 68% range, not
    their sd, which a few far draws set (Kaplan's N_c: 7.9e+20 beside a 95% interval ending at 4.5e+17)."""
    drawn = {spread_source([fit]) for fit in fits.values() if (fit.get("bootstrap") or {}).get("n")}
    of = {"bootstrap": "the resamples' estimates", "parametric": "the parametric draws"}
    return [f"note: {source} se: {BOOTSTRAP_STDERR_RULE} of {of[source]}{BOOTSTRAP_STDERR_WHY}"
            for source in sorted(drawn)]


def missing_stderr_text(fit: dict) -> str | None:
    """Why a fit without a bootstrap prints '-' for a stderr, or None: the allocation exponents
    are derived (no curvature of their own), and a parameter the fit's covariance gives none for
    (a singular covariance: the runs do not pin it down, e.g. N and D moving together; or a
    quantity the law derives). The table alone left a column of '-' unexplained."""
    if (fit.get("bootstrap") or {}).get("n"):
        return None
    missing = [name for name, p in fit["params"].items() if no_number(p.get("stderr"))]
    alloc = fit.get("allocation", {})
    derived = [f"{key} (allocation)" for key in ("a", "b") if not no_number(alloc.get(key))
               and no_number(alloc.get(f"{key}_stderr"))]
    parts = []
    if missing and len(missing) == len(fit["params"]):
        parts.append("every parameter: the fit's covariance is singular at this optimum (the "
                     "runs do not pin the parameters down)")
    elif missing:
        parts.append(f"{', '.join(missing)}: the fit's covariance gives none (a derived "
                     "quantity, or one the runs do not pin down)")
    if derived:
        parts.append(f"{', '.join(derived)}: derived from the exponents, no curvature of their own")
    if not parts:
        return None
    return f"stderr '-' for {'; for '.join(parts)}; --bootstrap N gives every row an interval"


def missing_stderr_lines(fits: dict) -> list[str]:
    """``missing_stderr_text`` of each fit ({label or None: fit dict}) as note lines, laws with
    the same reason named together (compare's kaplan and chinchilla both derive a and b)."""
    said: dict[str, list] = {}
    for label, fit in fits.items():
        text = missing_stderr_text(fit)
        if text:
            said.setdefault(text, []).append(label)
    return [f"note{' (' + ', '.join(labels) + ')' if labels != [None] else ''}: {text}"
            for text, labels in said.items()]


def holdout_lines(label: str, hold: dict) -> list[str]:
    """Held-out runs: error, and how many observations fell in their 95% prediction interval."""
    text = (f"held-out{' (' + label + ')' if label else ''}: mean |relative error| "
            f"{percent(hold['mean_abs_rel_error'])} on {hold['n']} run{'' if hold['n'] == 1 else 's'}")
    if "inside_pi95" in hold:
        far = max(hold.get("times_largest_run", [np.nan]))
        scored = [i for i in hold["inside_pi95"] if i is not None]  # beyond REACH: None, unscored
        text += (f" at up to {far:.3g}x the largest fitted compute (predictions); "
                 + (f"{sum(scored)} of {len(scored)} inside their 95% prediction intervals" if scored
                    else "none scored against a 95% prediction interval"))
        if hold.get("pi95_note"):  # with unscored runs: NO_PI_FOR_FAR_RUN, which says why, once
            text += f" ({hold['pi95_note']})"
    return [text]


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
    from scalefit.scaling.laws.run_prediction import law_heading
    points = "budget optima" if fit["law"] == "isoflop" else "points"
    out = [f"law {law_heading(fit)}: {fit['n_points']} {points}, "
           f"{fit.get('objective_name', 'Huber objective')} {fit['objective']:.6g}, "
           f"converged {fit['converged']}"]
    if "n_starts" in fit:
        out.append(f"starts reaching the best optimum: {fit['n_starts_at_best']} of "
                   f"{fit['n_starts']}; RMSE(log L) {fit.get('rmse_log', float('nan')):.4g}")
    for note in fit.get("notes", []):
        out.append(f"note: {note}")
    if fit["law"] == "isoflop":  # its parameters: G and a printed with no formula to read them by
        out.append(f"note: {OPTIMA_LINE}")
    units = _units_note(fit)
    if units:
        out.append(f"note: {units}")
    out += ["", text_table(params_text_frame(fit)), *stderr_rule_lines({None: fit}),
            *missing_stderr_lines({None: fit})]
    rows = fit.get("allocation", {}).get("budgets", [])
    if rows and "kind" in rows[0]:
        alloc = fit.get("allocation", {})
        convention = alloc.get("budget_convention") or fit_n_note(fit)
        out += ["", *projection_lines(rows, convention=convention,
                                      bootstrapped=bool((fit.get("bootstrap") or {}).get("n")),
                                      scatters={None: alloc.get("pi95_scatter")},
                                      loss_column=fit.get("loss_column"), source=spread_source([fit])),
                *out_of_reach_line(alloc.get("largest_fitted_flops", float("nan")), rows,
                                   bool(alloc.get("budgets_given")))]
    elif rows:
        out += ["", "compute-optimal allocation:", text_table(budgets_frame(fit))]
    if "holdout" in fit:
        out += holdout_lines("", fit["holdout"])
    rough = rough_intervals_note(int((fit.get("bootstrap") or {}).get("n") or 0),
                                 "the 95% intervals and the identified column")
    if rough:
        out.append(f"note: {rough}")
    for w in fit.get("warnings", []):
        out.append(f"warning: {w}")
    return "\n".join(out)


def _param_units(law: str) -> str:
    """The law's Law.param_units ('' for a law outside the registry)."""
    from scalefit.scaling.laws.registry import law_for
    try:
        return law_for(law).param_units()
    except InputError:
        return ""


def _units_note(fit: dict) -> str:
    """The law's parameter units and, for a fit of non-embedding N, what its a and b are of
    (``exponent_basis``): 'a (allocation) 0.8088' beside a published or total-N a read as the
    same quantity."""
    basis = fit.get("allocation", {}).get("exponent_basis")
    return "; ".join(part for part in (_param_units(fit["law"]),
                                       f"a, b (allocation) are of {basis}" if basis else "") if part)


def units_lines(fits: dict) -> list[str]:
    """compare's 'note (LAW): N_c in parameters, ...' lines, one per law whose parameters carry
    units or whose a, b are of a non-embedding N (the terminal's and report.md's)."""
    units = {label: _units_note(f) for label, f in fits.items()}
    return [f"note ({label}): {said}" for label, said in units.items() if said]


def compare_projection_lines(cmp: dict, table=None) -> list[str]:
    """compare's budget table with its notes and the published budgets it leaves out (the
    terminal's, and report.md's with ``table=markdown_table``)."""
    lines = projection_lines(cmp["budgets"], list(cmp["fits"]), cmp.get("budget_convention", ""),
                             bootstrapped=any((f.get("bootstrap") or {}).get("n")
                                              for f in cmp["fits"].values()),
                             scatters={label: f.get("allocation", {}).get("pi95_scatter")
                                       for label, f in cmp["fits"].items()},
                             loss_column=next(iter(cmp["fits"].values())).get("loss_column"),
                             table=table, source=spread_source(cmp["fits"].values()))
    given = any(f.get("allocation", {}).get("budgets_given") for f in cmp["fits"].values())
    return lines + out_of_reach_line(cmp.get("largest_fitted_flops", float("nan")), cmp["budgets"], given)


def _runs_line(cmp: dict) -> str:
    """The runs: how many, held out, and the largest fitted compute (one per compute basis
    where the laws' budgets count compute differently: compare's ``compute_bases``)."""
    bases = cmp.get("compute_bases") or []
    largest = ("; ".join(f"{b['largest_fitted_flops']:.3g} FLOPs as C = {b['compute']} "
                         f"({', '.join(b['laws'])})" for b in bases) if len(bases) > 1
               else f"{cmp.get('largest_fitted_flops', float('nan')):.3g} FLOPs")
    return (f"{cmp['data']}: {cmp['n_runs']} runs ({cmp['n_fit']} fitted, "
            f"{cmp['n_holdout']} held out; largest fitted compute {largest})")


def compare_text(cmp: dict) -> str:
    """What `scalefit compare` prints: metrics, parameters, budgets, the two-sentence reading."""
    params = pd.concat([params_text_frame(f, label) for label, f in cmp["fits"].items()],
                       ignore_index=True)
    out = [_runs_line(cmp), "",
           text_table(metrics_text_frame(cmp["fits"])), "", text_table(params),
           *stderr_rule_lines(cmp["fits"]), *missing_stderr_lines(cmp["fits"]), *units_lines(cmp["fits"]), ""]
    out += compare_projection_lines(cmp)
    for label, f in cmp["fits"].items():
        if "holdout" in f:
            out += holdout_lines(label, f["holdout"])
    if cmp.get("published"):
        out += ["", "published constants:", text_table(published_frame(cmp["published"])),
                *[f"note: {n}" for n in published_notes(cmp["published"])]]
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


def published_notes(published: dict) -> list[str]:
    """The notes of each law whose published constants the table shows (Law.published_notes:
    Hoffmann's printed a = 0.46 beside the 0.4516 its printed alpha, beta give)."""
    from scalefit.scaling.laws.registry import law_for
    return [n for law in published for n in law_for(law).published_notes()]


HOLDOUT_COLUMNS = ("flops", "times_largest_run", "observed", "predicted", "pi95_lo", "pi95_hi",
                   "inside_pi95", "relative_error")


def _plots(out_dir, frame, results, budgets=None):
    """The plots the runs' columns allow: a law of N (or D, or C) alone fitted to a table of
    that column and a loss has no D (or N) to colour or predict by, nor an N*(C) frontier
    (--out died on KeyError 'D' after writing the tables)."""
    from scalefit.scaling.laws import plots

    def known(*columns):
        return all(c in frame and np.isfinite(frame[c].to_numpy(float)).all() for c in columns)

    paths = []
    if known("N", "D"):
        paths += save_figure(plots.plot_loss_vs_n(frame, results), out_dir, "loss_vs_n")
    if known("C") and any(np.isfinite(r.extra.get("allocation", {}).get("a", np.nan))
                          for r in results.values()):
        paths += save_figure(plots.plot_frontiers(results, frame, budgets), out_dir, "frontiers")
    if known("N", "D", "C"):
        paths += save_figure(plots.plot_residuals(frame, results), out_dir, "residuals")
    return paths


def lmfit_text(model_result) -> str:
    """lmfit's fit report, where it could not estimate uncertainties, without its '+/- nan
    (nan%)' (and the '+/- 0.00000000 (0.00%)' it then gives a parameter derived from those,
    A = exp(log_A)): each says '(no stderr)', as the tables print '-'."""
    import re
    text = model_result.fit_report()
    if "uncertainties could not be estimated" not in text:
        return text
    return re.sub(r" \+/-\s+(nan \(nan%\)|0\.0+ \(0\.00%\))", " (no stderr)", text)


# a schedule law's files: its parameters are the law's own, its curves' columns per checkpoint
SCHEDULE_COLUMNS = {"param": "parameter of the law", "loss": "the measured loss at that checkpoint ({loss})",
                    "fitted": "the law's loss at that step ({loss})"}


@staged
def write_fit_report(out_dir, fit: dict, result, frame) -> None:
    """report.md, params.csv, allocation.csv, fit.json and the three plots for one law
    (a law without a loss surface, IsoFLOP: its per-budget optima and the frontier plot), moved
    into ``out_dir`` together."""
    from scalefit.scaling.laws.registry import law_for
    files = {"params.csv": params_frame(fit)}
    if len(budgets_frame(fit)):
        files["allocation.csv"] = without_empty_loss(budgets_frame(fit))
    if "optima" in fit:
        files[f"{fit['law']}_optima.csv"] = pd.DataFrame(fit["optima"])
    for name, table in files.items():
        write_table(table, f"{out_dir}/{name}")
    write_text(out_dir, "fit.json", dumps(fit))
    budgets = [row["flops"] for row in fit.get("allocation", {}).get("budgets", [])]
    if law_for(fit["law"]).predicts_loss:
        _plots(out_dir, frame, {fit["law"]: result}, budgets)
    elif law_for(fit["law"]).reads_checkpoints:  # a schedule law: no frontier, its fitted curves
        from scalefit.scaling.laws.curves import curves_from_table, loss_rows
        from scalefit.scaling.laws.schedule_plots import write_fitted_curves
        curves = curves_from_table(loss_rows(frame, "loss"))
        table = write_fitted_curves(out_dir, result, curves, fit.get("loss_column") or "loss")
        files["fitted_curves.csv"] = table
    else:
        from scalefit.scaling.laws import plots
        save_figure(plots.plot_frontiers({fit["law"]: result}, frame, budgets), out_dir,
                    "frontiers")
    from scalefit.scaling.laws.run_prediction import law_heading
    text = [f"# Fit: {law_heading(fit)}", "", *provenance_lines(fit.get("data", "(not given)")), "",
            "```", fit_text(fit), "```", "",
            _params_heading({fit["law"]: fit}), "", _markdown(params_shown_frame(fit))]
    text += ["", *files_section({name: list(t.columns) for name, t in files.items()},
                                meanings=SCHEDULE_COLUMNS if "fitted_curves.csv" in files else None,
                                source=spread_source([fit]), loss=loss_unit(fit.get("loss_column")))]
    if result.model_result is not None:
        text += ["", "## lmfit report", "", "```", lmfit_text(result.model_result), "```"]
    write_text(out_dir, "report.md", "\n".join(text) + "\n")


def _markdown(frame: pd.DataFrame) -> str:
    """A table for report.md with '-' where the terminal prints '-' (no number: no held-out runs,
    a law without that parameter, a derived row's stderr_fit); blank cells read as lost numbers."""
    return markdown_table(frame.astype(object).map(
        lambda v: "-" if v is None or (isinstance(v, (float, np.floating)) and not np.isfinite(v)) else v))


def _params_heading(fits: dict) -> str:
    """The report's parameter heading: what its stderr and interval columns hold (without a
    bootstrap it said 'stderr and CI from the bootstrap' above curvature stderrs and no CI)."""
    if any((f.get("bootstrap") or {}).get("n") for f in fits.values()):
        return (f"## Parameters (stderr and 95% CI from the {spread_source(fits.values())} draws, stderr "
                f"{BOOTSTRAP_STDERR_RULE} of its estimates; stderr_fit: the fit's curvature, for diagnosis)")
    return ("## Parameters (no bootstrap: stderr is the fit's curvature, no 95% CI; run with "
            "--bootstrap N for them)")


def _budget_section(cmp: dict) -> list[str]:
    """The terminal's budget table in Markdown: its head line (units, reach, the intervals'
    level and source), the table, and its notes as a list. report.md gave the bare table: no
    unit, no word on its intervals or on what an observed run's loss would do."""
    lines = compare_projection_lines(cmp, table=markdown_table)
    if len(lines) < 2:  # no allocation to tabulate: one sentence
        return lines
    return [lines[0], "", lines[1], "", *(f"- {ln.strip()}" for ln in lines[2:])]


@staged
def write_compare_report(out_dir, comparison, frame) -> None:
    """report.md, metrics/params/budgets CSV, compare.json and the three plots of a
    ``compare.Comparison``, moved into ``out_dir`` together."""
    cmp = comparison.to_dict()
    params = pd.concat([params_frame(f, label) for label, f in cmp["fits"].items()],
                       ignore_index=True)
    shown = pd.concat([params_shown_frame(f, label) for label, f in cmp["fits"].items()],
                      ignore_index=True)
    metrics = metrics_frame(cmp["fits"])
    budgets = without_empty_loss(flat_rows(cmp["budgets"]))
    files = {"params.csv": params, "metrics.csv": metrics, "budgets.csv": budgets}
    for label, f in cmp["fits"].items():
        if "holdout" in f:
            hold = f["holdout"]
            files[f"holdout_{label}.csv"] = pd.DataFrame({key: hold[key] for key in HOLDOUT_COLUMNS
                                                          if key in hold})
    for name, table in files.items():
        write_table(table, f"{out_dir}/{name}")
    write_text(out_dir, "compare.json", dumps(cmp))
    _plots(out_dir, frame, comparison.fits, cmp["budgets"])  # rows: a panel draws its basis's
    text = [f"# {' vs '.join(cmp['fits'])} on {cmp['data']}", "", *provenance_lines(cmp["data"]),
            "", _runs_line(cmp) + ".", "", " ".join(cmp["explanation"]), "", "## Fit quality and allocation", "",
            _markdown(metrics_text_frame(cmp["fits"])), "", _params_heading(cmp["fits"]), "", _markdown(shown),
            *(["", *notes] if (notes := [*stderr_rule_lines(cmp["fits"]), *missing_stderr_lines(cmp["fits"]),
                                         *units_lines(cmp["fits"])]) else []),
            "", "## Budgets", "", f"{cmp.get('budget_rule', '')}.", "", *_budget_section(cmp)]
    held = [f"- {line} (each run: holdout_{label}.csv)" for label, f in cmp["fits"].items()
            if "holdout" in f for line in holdout_lines(label, f["holdout"])]
    if held:  # the terminal's held-out lines; report.md had only the metrics' mean error
        text += ["", "## Held-out runs", "", *held]
    warnings = [f"- {label}: {w}" for label, f in cmp["fits"].items()
                for w in f.get("warnings", [])]
    if warnings:
        text += ["", "## Warnings", "", *warnings]
    if cmp.get("published"):
        notes = [f"- note: {n}" for n in published_notes(cmp["published"])]
        text += ["", "## Published constants", "", _markdown(published_frame(
            cmp["published"])), *([""] + notes if notes else [])]
    text += ["", "![loss vs N](loss_vs_n.png)", "![frontiers](frontiers.png)",
             "![residuals](residuals.png)", "",
             *files_section({name: list(t.columns) for name, t in files.items()}, list(cmp["fits"]),
                            source=spread_source(cmp["fits"].values()),
                            loss=loss_unit(next(iter(cmp["fits"].values())).get("loss_column")))]
    write_text(out_dir, "report.md", "\n".join(text) + "\n")

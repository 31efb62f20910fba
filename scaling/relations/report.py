"""Showing a downstream prediction: terminal text, the y-vs-x plot, and the Markdown report."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from scalefit.report import dumps, fitted_and_extrapolated, markdown_table, save_figure, write_text
from scalefit.scaling.fitresult import BOOTSTRAP_STDERR_RULE
from scalefit.scaling.interval_text import interval_ends, interval_text, value_at_interval
from scalefit.scaling.laws.identifiability import OUTSIDE, bound_status, judged, outside
from scalefit.scaling.outputs import (column_unit, error_percent, files_section, no_number, provenance_lines,
                                     staged)
from scalefit.scaling.relations.resampling import UNIT, checkpoints_of
from scalefit.scaling.resample import rough_intervals_note

FORMULAS = {"shifted-power": "L_y = K (L_x - E_x)^kappa + E_y",
            "sigmoid": "acc = a / (1 + exp(-k (L - L0))) + b",
            "exponential-error": "err = eps - k exp(-gamma L)"}


# the held-out block's notes (score_held_out), in the order the text and report.md print them:
# same_models first, as it says what the held-out count is worth
HOLDOUT_NOTES = ("same_models", "undefined", "zero_observed", "beyond_fitted")
HELD_OUT_KIND = ("where the run's x lies against the fitted pairs' x: projection (below every "
                 "fitted x, a better model than any fitted), interpolation, or below the data")


def _fmt(v, spec=".5g"):
    return format(v, spec) if not no_number(v) else "-"


def _judged(name: str, p: dict, out: dict) -> tuple[str, str]:
    """(value to the place of its printed 95% interval's ends, identifiability.significant through
    judged; status): 'at its upper bound' for a parameter
    the fit left on a bound (not an estimate, whatever its interval's width), else judged()'s."""
    shown, status = judged(p["value"], p["ci95"])
    outside = OUTSIDE if OUTSIDE in status else ""  # E_y 2.106 beside [2.51, 3.51] (--bootstrap 2)
    status = ", ".join(filter(None, [bound_status(name, out.get("warnings")), outside])) or status
    return shown, status


def _degenerate(ci95) -> bool:
    """Whether an interval has no width (every resample ended on the same value: a bound)."""
    lo, hi = (float(v) if v is not None else float("nan") for v in ci95)
    return math.isfinite(lo) and math.isfinite(hi) and hi - lo <= 1e-9 * max(1.0, abs(hi))


def identified_status(name: str, p: dict, out: dict) -> str | None:
    """Whether the runs pin parameter ``name`` down, in one word for the JSON, params.csv and
    report.md as the text labels it: 'at its upper bound', 'weakly identified', ..., 'identified'
    for a finite interval the text leaves unlabelled; None (not judged) without an interval."""
    status = _judged(name, p, out)[1]
    if status:
        return status
    return "identified" if all(not no_number(v) for v in p["ci95"]) else None


def params_frame(out: dict) -> pd.DataFrame:
    """One row per parameter: value, stderr (the bootstrap's, half its central 68% range, when it
    ran), stderr_fit (the fit's own, E held fixed), ci95 bounds, and whether the runs identify it
    (identified_status)."""
    rows = [{"param": k, "value": p["value"], "stderr": p["stderr"], "stderr_fit": p.get("stderr_fit", np.nan),
             "ci95_lo": p["ci95"][0], "ci95_hi": p["ci95"][1],
             "identified": identified_status(k, p, out)}
            for k, p in out["params"].items()]
    return pd.DataFrame(rows)


def params_text_frame(out: dict) -> pd.DataFrame:
    """params_frame as the terminal prints it, for report.md: the value to the place of its
    printed interval's ends (``_judged``; 4 significant digits where it has no interval), a spread
    to 2 digits, the interval's ends to the interval's own precision
    (interval_text; both printed 5 digits, [0.62315, 5.2856] for an interval 4.7 wide)."""
    frame = params_frame(out)
    # a parameter with no interval (on a bound in the fit and every resample) as the text prints it
    frame["value"] = [f"{p['value']:.4g}" if name in out.get("no_interval", {}) else _judged(name, p, out)[0]
                      for name, p in out["params"].items()]
    frame["identified"] = [v if v is not None else "-" for v in frame["identified"]]
    for column in ("stderr", "stderr_fit"):
        frame[column] = [_fmt(v, ".2g") for v in frame[column]]
    ends = [interval_ends(*p["ci95"], p["value"]) for p in out["params"].values()]
    frame["ci95_lo"], frame["ci95_hi"] = [e[0] for e in ends], [e[1] for e in ends]
    return frame


def _params_heading(out: dict) -> str:
    """report.md's parameter heading: where the stderr and the 95% interval come from (the
    bootstrap, how many resamples of what), as the terminal's 'bootstrap 95% CI' says; the
    report's table named neither the interval's method nor its level."""
    boot = out.get("bootstrap") or {}
    own = "the fit's own" + (", E held fixed" if out.get("e_source") in ("kaplan", "given") else "")
    if not boot.get("n"):
        return (f"## Parameters (no bootstrap: stderr is {own}, no 95% CI; run with "
                "--bootstrap N for them)")
    how = ", ".join(filter(None, [boot.get("resampled"), boot.get("e_refit")]))
    return (f"## Parameters (stderr and 95% CI from the bootstrap: {boot['n']} resamples"
            f"{f', {how}' if how else ''}, stderr {BOOTSTRAP_STDERR_RULE} of their estimates; "
            f"stderr_fit: {own}, for diagnosis)")


def holdout_frame(out: dict) -> pd.DataFrame:
    return pd.DataFrame(out.get("holdout", {}).get("points", []))


def describe(out: dict) -> list[str]:
    """The header lines: what was related to what, and where E came from."""
    units = out.get("units") or {}
    unit = (f"x and y in {units['x']}" if units.get("x") == units.get("y") and "x" in units else
            "; ".join(f"{side}: {units[side]}" for side in ("x", "y") if side in units))
    lines = [f"{out['relation']}: {out.get('pairing', '')}  {out.get('x')} -> {out.get('y')}, "
             f"{out['n_points']} pairs"
             + (f" (paired by {out['match']})" if out.get("match") else "")
             + (f"; {unit}" if unit else "")]
    lines.append(f"  {FORMULAS[out['relation']]}   [{out.get('method', '')}]")
    if out.get("e_source") == "kaplan":
        k = out["kaplan_fits"]
        # to the place of their intervals' ends, as the parameter lines below print them (E_x
        # = 0.7893 here and 0.8 there was one number printed two ways)
        shown = {side: judged(k[side]["E"], out["params"][f"E_{side}"]["ci95"])[0]
                 for side in ("x", "y")}
        lines.append(f"  E_x, E_y from per-dataset Kaplan L(N,D)+E fits: E_x = "
                     f"{shown['x']} ({k['x']['n_points']} runs), E_y = "
                     f"{shown['y']} ({k['y']['n_points']} runs)")
    elif out.get("e_source"):
        lines.append(f"  E_x, E_y: {out['e_source']}")
    return lines


def prediction_lines(pr: dict) -> list[str]:
    """The prediction asked for (--at-x or --at): what kind it is (a projection, labelled as one,
    with its distance from the fitted runs), its value and both intervals; the terminal text and
    report.md both print these lines."""
    where = (f"x = {_fmt(pr['at_x'])}" if "at_x" in pr else
             f"N = {pr['at']['params']:.3g}, D = {pr['at']['tokens']:.3g} "
             f"(x predicted {_fmt(pr['x_predicted'])})")
    kind = pr.get("kind", "prediction")
    distance = (f"{pr['times_largest_run']:.3g}x the largest fitted run's compute" if "times_largest_run" in pr
                else f"fitted x {_fmt(pr['x_range'][0])} to {_fmt(pr['x_range'][1])}" if "x_range" in pr else "")
    # the value to its curve interval's precision, each interval's ends to its own
    over = pr.get("intervals_over")  # most draws give no value: the intervals are of the rest
    value = value_at_interval(pr["value"], *pr["ci95"])
    lines = [f"{kind} at {where}{f' ({distance})' if distance else ''}: "
             f"{value}  95% CI of "
             f"{f'the curve over {over}' if over else 'the curve'} "
             f"{interval_text(*pr['ci95'], pr['value'])}, 95% prediction interval "
             f"of an observed value{' over those draws' if over else ''} "
             f"{interval_text(*pr['pi95'], pr['value'])}"]
    if pr.get("no_value"):  # the estimate printed '-': why
        lines.append(f"  warning: {pr['no_value']}")
    missed = [(name, pr[key]) for name, key in (("its 95% CI of the curve", "ci95"),
                                                 ("its 95% prediction interval", "pi95"))
               if outside(pr["value"], pr.get(key))]
    if missed:  # 0.96256 beside [1.1835, 1.3446] printed as if the interval held it
        side = "above" if pr["value"] < missed[0][1][0] else "below"
        lines.append(f"  warning: the estimate {value} lies outside "
                     f"{' and '.join(name for name, _ in missed)}: "
                     f"the bootstrap's refits put the curve {side} the fitted one at this point, so "
                     "the fit and its resamples disagree here")
    if kind == "projection":
        lines.append("  projection: no fitted run reaches it; the relation's form, not the data, sets the number")
    elif kind == "extrapolation":  # inside the runs' compute, outside their N or D
        lines.append(f"  extrapolation: {'; '.join(pr.get('outside_fitted', []))}: inside the fitted runs' "
                     "compute but not their sizes or token counts; no fitted run checks it, the "
                     "Kaplan law of x's form, not the data, sets x there")
    elif kind == "below the data":  # labelled, but unexplained beside the projection's line
        lines.append("  below the data: x above every fitted pair's (a weaker model than any fitted); "
                     "no fitted run checks it, the relation's form, not the data, sets the number")
    if "undefined_draws" in pr:
        lines.append(f"  note: {pr['undefined_draws']}")
    lines += [f"  note: {note}" for note in pr.get("interval_notes", ())]
    return lines


def unbootstrapped_lines(out: dict) -> list[str]:
    """Why a fit without a bootstrap prints '-' (no lines where it prints none): no 95% CI without
    resamples, and no stderr for a parameter held fixed in the fit (E_x, E_y from the Kaplan fits
    or given) or one the fit's covariance gives none for. The '-' went unexplained."""
    missing = [name for name, p in out["params"].items() if p.get("stderr") is None
               or not math.isfinite(p["stderr"])]
    held = {"kaplan": "taken from the per-dataset Kaplan fits", "given": "given"}.get(
        out.get("e_source"))
    fixed = [name for name in missing if held and name in ("E_x", "E_y")]
    other = [name for name in missing if name not in fixed]
    no_ci = any(not all(not no_number(v) for v in p["ci95"])
                for p in out["params"].values())
    parts = (["no 95% CI ('-'; --bootstrap N gives them)"] if no_ci else []) + \
        ([f"no stderr for {', '.join(fixed)}: {held}, held fixed in this fit"] if fixed else []) + \
        ([f"no stderr for {', '.join(other)}: the fit's covariance gives none"] if other else [])
    return [f"note: no bootstrap: {'; '.join(parts)}"] if parts else []


def scored_percent(v) -> str:
    """A mean relative error as a percent (outputs.error_percent: 0.0036%, not 0.00%); '- (no run
    to score)' where no held-out run has a prediction (x at or below E_x for all), not 'nan%'."""
    return "- (no run to score)" if no_number(v) else error_percent(v)


def holdout_summary(h: dict) -> str:
    """The held-out runs in one line: their mean |relative error| (beside the Kaplan baseline's)
    and how many lie inside their 95% prediction intervals; the terminal and report.md print it."""
    percent = scored_percent
    base = (f" (plain Kaplan law on y alone: {percent(h['baseline_mean_abs_rel_error'])})"
            if "baseline_mean_abs_rel_error" in h else "")
    cover = (f"; {100 * h['pi95_coverage']:.0f}% inside their 95% prediction intervals"
             if "pi95_coverage" in h else "")
    # 'held out 1 runs' with --holdout 1; a checkpoint table's are '46 checkpoints of 4 models'
    runs = (checkpoints_of(h["n"], h["n_models"]) if "n_models" in h else
            f"{h['n']} {'run' if h['n'] == 1 else 'runs'}")
    return (f"held out {runs} (largest compute, or --holdout-data): "
            f"mean |rel err| {percent(h['mean_abs_rel_error'])}{base}{cover}")


def _rough(out: dict) -> list[str]:
    """The note that a small bootstrap's intervals are rough, or none."""
    rough = rough_intervals_note(int((out.get("bootstrap") or {}).get("n") or 0), "the 95% intervals above",
                                 " (their coverage says little)")
    return [rough] if rough else []


def downstream_text(out: dict) -> str:
    """What `scalefit predict downstream` prints without --json."""
    lines = describe(out)
    # with a bootstrap the interval is the bootstrap's (E refitted in each resample); the fit's
    # own stderr holds E fixed and would contradict it, so it is not printed beside it
    bootstrapped = bool((out.get("bootstrap") or {}).get("n"))
    for name, p in out["params"].items():  # digits as the interval supports (scaling.laws.identifiability)
        shown, status = _judged(name, p, out)
        # accuracy.no_interval_at_bound's, or (a result written before it) a degenerate interval
        none = out.get("no_interval", {}).get(name) or (
            f"{status} in the fit and in every resample" if status.startswith("at its")
            and _degenerate(p["ci95"]) else None)
        if bootstrapped and none:  # not '1.00000 CI [1, 1]'
            lines.append(f"  {name:6s} {p['value']:>10.4g}  {none}: no interval")
            continue
        spread = ("  bootstrap 95% CI" if bootstrapped else
                  f"  stderr {_fmt(p['stderr'], '.2g'):>8s}  95% CI")
        lines.append(f"  {name:6s} {shown:>10s}{spread} {interval_text(*p['ci95'], p['value'])}"
                     + (f"  {status}" if status else ""))
    if not bootstrapped:
        lines += unbootstrapped_lines(out)
    if "prediction" in out:
        lines += prediction_lines(out["prediction"])
    if "holdout" in out:
        h = out["holdout"]
        lines.append(holdout_summary(h))
        for key in HOLDOUT_NOTES:
            if key in h:
                lines.append(f"  note: {h[key]}")
        for p in h["points"]:
            extra = (f"  baseline {100 * p['baseline_relative_error']:+.2f}%"
                     if "baseline_relative_error" in p else "")
            size = f"N={p['params']:.3g} D={p['tokens']:.3g} " if "params" in p else ""
            pi = (f" PI {interval_text(p['pi95_lo'], p['pi95_hi'], p['predicted'])}"
                  + ("" if p["inside_pi95"] else " outside") if "pi95_lo" in p else "")
            if not math.isfinite(p["predicted"]):  # x at or below E_x
                lines.append(f"  {size}x={p['x']:.4f} y={p['y']:.4f} no prediction (x at or "
                             f"below E_x){extra}")
                continue
            rel = p["relative_error"]
            rel = (f"{100 * rel:+.2f}%" if not no_number(rel)
                   else "no relative error at y = 0")
            kind = f"  {p['kind']}" if p.get("kind", "interpolation") != "interpolation" else ""
            lines.append(f"  {size}x={p['x']:.4f} y={p['y']:.4f} predicted="
                         f"{p['predicted']:.4f} ({rel}){pi}{extra}{kind}")
    for note in out.get("notes", []):
        lines.append(f"note: {note}")
    lines += [f"note: {note}" for note in _rough(out)]
    for w in out.get("warnings", []):
        lines.append(f"warning: {w}")
    return "\n".join(lines)


def unit_of(name: str, relation: str | None = None) -> str | None:
    """The unit of a relation's x (relation None) or y, where it is known: a loss column's
    (column_unit: val_loss nats/token, bpb bits/byte), ln of a perplexity nats, the accuracy
    and error laws' y a fraction; else None."""
    column = name.split(" (")[0]
    if relation == "sigmoid":
        return "accuracy (fraction)"
    if relation == "exponential-error":
        return "error rate (fraction)"
    if column_unit(column):
        return column_unit(column)
    if column.startswith("ln "):
        return "nats"
    return None


def units_of(x: str, y: str, relation: str) -> dict:
    """{"x": unit, "y": unit} for the JSON and the text's header, the known ones only."""
    return {side: unit for side, unit in (("x", unit_of(x)), ("y", unit_of(y, relation))) if unit}


def axis_label(name: str, relation: str | None = None) -> str:
    """An axis of the relation's figure: the column as the text names it, with its unit where it
    is known (unit_of); the axes read 'loss (prose)' and 'piqa:acc@0shot' with no unit."""
    unit = unit_of(name, relation)
    return f"{name}, {unit}" if unit else name


def plot_relation(result, train, held, out: dict):
    """y against x: the fitted pairs, the fit curve, held-out points and the prediction."""
    import matplotlib.pyplot as plt

    from scalefit.scaling.relations.downstream import predict_relation
    fig, ax = plt.subplots(figsize=(6.0, 4.4))
    x = train.pairs["x"].to_numpy(float)
    y = train.pairs["y"].to_numpy(float)
    xs = [x] + ([held["x"].to_numpy(float)] if len(held) else [])
    pred = out.get("prediction", {})
    if "at_x" in pred or "x_predicted" in pred:
        xs.append(np.array([pred.get("at_x", pred.get("x_predicted"))]))
    allx = np.concatenate(xs)
    lo = allx.min()
    if result.law == "shifted-power":
        lo = max(lo - 0.05 * np.ptp(allx), result.value("E_x") + 1e-6)
    grid = np.linspace(lo, allx.max() + 0.05 * np.ptp(allx), 300)
    ax.scatter(x, y, s=14, color="tab:blue", label="fitted pairs", zorder=3)
    curve = predict_relation(result, grid)
    labels = iter(["fit, extrapolated (no fitted pair there)"])
    for part, inside in fitted_and_extrapolated(grid, x.min(), x.max()):
        ax.plot(grid[part], curve[part], "-" if inside else "--", color="black", lw=1.2,
                label="fit" if inside else next(labels, "_nolegend_"))
    if len(held):
        ax.scatter(held["x"], held["y"], s=40, marker="*", color="tab:red",
                   label="held out", zorder=4)
    if "value" in pred:
        px = pred.get("at_x", pred.get("x_predicted"))
        ci = pred["ci95"]
        yerr = None
        if all(not no_number(c) for c in ci):
            yerr = [[pred["value"] - ci[0]], [ci[1] - pred["value"]]]
        pi = pred.get("pi95", [float("nan")] * 2)
        if all(not no_number(c) for c in pi):
            ax.errorbar([px], [pred["value"]],
                        yerr=[[pred["value"] - pi[0]], [pi[1] - pred["value"]]], fmt="none", color="tab:green", alpha=0.4, lw=4,
                        label="95% prediction interval", zorder=4)
        ax.errorbar([px], [pred["value"]], yerr=yerr, fmt="D", color="tab:green",
                    label=f"{pred.get('kind', 'prediction')} (95% CI of the curve"
                          f"{' over ' + pred['intervals_over'] if pred.get('intervals_over') else ''})",
                    zorder=5)
    ax.set_xlabel(axis_label(str(out.get("x"))))
    ax.set_ylabel(axis_label(str(out.get("y")), out["relation"]))
    ax.set_title(FORMULAS[out["relation"]], fontsize=9)
    ax.legend(fontsize=8)
    return fig


def write_downstream_report(out_dir, downstream) -> None:
    """report.md, params.csv, pairs.csv, holdout.csv, result.json and the plot (PNG, SVG) of a
    ``relations.downstream.Downstream``, moved into ``out_dir`` together (outputs.staged)."""
    from pathlib import Path

    if not _write_downstream_files(out_dir, downstream):
        # an earlier run's held-out table would sit beside this run's report as if its own
        (Path(out_dir) / "holdout.csv").unlink(missing_ok=True)


@staged
def _write_downstream_files(out_dir, downstream) -> bool:
    """The files of write_downstream_report, written into a staging folder (``out_dir`` here)
    that outputs.staged moves into the real one together; whether there was a holdout.csv."""
    out = downstream.to_dict()
    result, train, held = downstream.fit, downstream.train, downstream.held
    params = params_frame(out)
    params.to_csv(out_dir / "params.csv", index=False)
    pairs = train.pairs.drop(columns=[UNIT], errors="ignore")
    pairs.to_csv(out_dir / "pairs.csv", index=False)
    hold = holdout_frame(out)
    if len(hold):
        hold.to_csv(out_dir / "holdout.csv", index=False)
    save_figure(plot_relation(result, train, held, out), out_dir, "relation")
    write_text(out_dir, "result.json", dumps(out))
    md = ["# Downstream prediction", "", *provenance_lines(out.get("data", "(not given)")), "",
          "```", *describe(out), "```", "",
          _params_heading(out), "", markdown_table(params_text_frame(out)), ""]
    if not (out.get("bootstrap") or {}).get("n"):
        md += [*unbootstrapped_lines(out), ""]
    if "prediction" in out:
        # as the terminal prints it: a projection says so, with its distance from the data
        md += ["## Prediction", "", "```", *prediction_lines(out["prediction"]), "```", ""]
    if len(hold):
        # the mean error (and the baseline's) as the terminal prints it: the report gave only
        # the coverage, not the number the held-out runs are there to give
        md += [f"## Held-out {'checkpoints' if 'n_models' in out['holdout'] else 'runs'}", "",
               holdout_summary(out["holdout"])
               + (" (pi95_lo, pi95_hi below)." if "pi95_coverage" in out["holdout"] else "."), ""]
        # the terminal's notes on them, as it words them (a list, as the notes below)
        said = [f"- {out['holdout'][key]}" for key in HOLDOUT_NOTES if key in out["holdout"]]
        md += [*said, ""] if said else []
        md += [markdown_table(hold), ""]
    md += ["![y against x](relation.png)", ""]
    notes = [*out.get("notes", []), *_rough(out)]  # report.md left the rough-interval note out
    if notes:
        md += ["## Notes", "", *[f"- {n}" for n in notes], ""]
    if out.get("warnings"):
        md += ["## Warnings", "", *[f"- {w}" for w in out["warnings"]], ""]
    files = {"params.csv": params, "pairs.csv": pairs, **({"holdout.csv": hold} if len(hold) else {})}
    units = out.get("units") or {}
    md += [*files_section({name: list(t.columns) for name, t in files.items()},
                          meanings={"param": f"parameter of {FORMULAS[out['relation']]}",
                                    "kind": HELD_OUT_KIND,
                                    # pairs.csv's and holdout.csv's y is measured, not predicted
                                    "y": "the observed value, {y}"},
                          **{side: str(out.get(side)) + (f", {units[side]}" if side in units else "")
                             for side in ("x", "y")}), ""]
    write_text(out_dir, "report.md", "\n".join(md))
    return bool(len(hold))

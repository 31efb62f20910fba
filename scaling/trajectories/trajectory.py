"""The report of `scalefit trajectory`: a weight statistic against the loss, from the
stat-vs-loss law per model and pooled (collapse.collapse_report) and the partial correlation
(correlation.partial_correlation), as JSON and Markdown."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from scalefit.scaling.fitresult import FitResult, reaches_bound
from scalefit.scaling.laws.identifiability import bound_status
from scalefit.scaling.trajectories import ar1
from scalefit.scaling.trajectories.collapse import COLLAPSE_SIMS, MIN_POINTS_PER_MODEL, collapse_report
from scalefit.scaling.trajectories.correlation import partial_correlation
from scalefit.scaling.trajectories.stat_law import CONSTANT, E_AT_FLOOR, E_FLOOR, P_BOUND
from scalefit.scaling.trajectories.table import as_table, join_stat_and_loss, left_out_lines, stat_label


@dataclass
class TrajectoryReport:
    """A statistic against the loss: what `scalefit trajectory` prints, as ``to_dict()`` (its
    --json) and ``markdown()`` (its text and report.md)."""

    stat: str  # the selection's name, stat_label(...)
    data: str | None  # the table's name (its path, where it was read from one)
    joined: pd.DataFrame  # join_stat_and_loss(...): the checkpoints fitted
    collapse: dict  # collapse_report(joined)
    correlation: dict  # partial_correlation(joined)
    notes: list[str] = field(default_factory=list)  # checkpoints left out, and why

    def to_dict(self) -> dict:
        collapse = self.collapse
        fits = [("pooled", collapse["pooled"]), *collapse["per_model"].items()]
        return {"stat": self.stat, "data": self.data, "loss_dataset": self.joined.attrs.get("loss_dataset"),
                "loss_unit": LOSS_UNIT,
                "n_points": int(len(self.joined)),
                "pooled_fit": collapse["pooled"].to_dict(),
                "per_model": {m: f.to_dict() for m, f in collapse["per_model"].items()},
                "pooled_models": collapse["pooled_models"], "too_few_checkpoints": collapse["too_short"],
                "constant_models": collapse["flat_models"],
                "same_loss_models": collapse["same_loss_models"],
                "collapse_ratio": collapse["collapse_ratio"],
                "collapse_p_value": collapse["collapse_p_value"],
                # the text's 'p <= 0.0033': no simulated null set reached the observed statistic,
                # so the calibrated p is only bounded, by 1 / (simulations + 1)
                "collapse_p_value_is_upper_bound": bool(
                    collapse["collapse_p_value"] <= 1.0 / (COLLAPSE_SIMS + 1)),
                "collapse_f_test_p_value": collapse["collapse_f_test_p_value"],
                "residual_autocorrelation": collapse["residual_autocorrelation"],
                # runs with checkpoints left out between their points (at the fit's bound, without
                # a finite value or loss: attrs["left_out"]): errors rho^k k apart
                "gapped_models": list(collapse.get("gapped_models", [])),
                "collapse_verdict": collapse["collapse_verdict"],
                "pooled_r_squared": collapse["pooled_r_squared"],
                "isotonic_r_squared": collapse["isotonic_r_squared"], "correlation": self.correlation,
                "warnings": {m: f.warnings for m, f in fits if f.warnings},
                # per run, the checkpoints whose shape statistic sat at its fit's bound (a capped
                # nu), left out of every fit: a note says so too. Not the fitted parameters: those at
                # a bound (p at -5, E at its floor) are params_at_bound's
                "at_bound": list(self.joined.attrs.get("at_bound") or []),
                "params_at_bound": params_at_bound(fits),
                "notes": list(dict.fromkeys(self.notes))}  # what was left out, as the 'note:' lines say

    def __repr__(self) -> str:
        """A notebook's view: what was fitted, the pooled fit, whether sizes collapse and the
        partial correlation; ``print()`` gives the report `scalefit trajectory` prints."""
        collapse, corr = self.collapse, self.correlation
        fitted = len(collapse["per_model"])
        verdict = collapse["collapse_verdict"].split(":")[0]  # its first clause; the test in print()
        r, p = corr.get("partial_pearson", np.nan), corr.get("partial_p_value", np.nan)
        return (f"TrajectoryReport of {self.stat} against loss "
                f"({self.joined.attrs.get('loss_dataset') or 'loss'}) on {self.data}: {len(self.joined)} "
                f"checkpoints, {fitted} models fitted\n  pooled R^2 {collapse['pooled_r_squared']:.3g}; "
                f"collapse: {verdict}; partial r {r:+.2f} (p = {p:.2g})\n"
                + "".join(f"  note: {n}\n" for n in self.notes)  # the API warns of none of them
                + "  print() for the report; .joined, .collapse, .correlation, .notes, .to_dict()")

    def __str__(self) -> str:
        return self.markdown()

    def markdown(self, plot: bool = False, notes: bool = True) -> str:
        """The report in Markdown; ``plot`` links the figure (stat_vs_loss.png) beside report.md;
        ``notes`` names what was left out (the command prints those as 'note:' lines instead)."""
        return trajectory_markdown(self.stat, self.collapse, self.correlation, plot=plot,
                                   loss_dataset=self.joined.attrs.get("loss_dataset"),
                                   notes=self.notes if notes else ())

    def write(self, out_dir) -> None:
        """What `scalefit trajectory --out DIR` writes: stat_vs_loss.csv, the figure (PNG, SVG)
        and report.md, into a folder that never holds half of two runs."""
        from scalefit.atomic import staged_output
        from scalefit.report import save_figure, write_text
        from scalefit.scaling.trajectories.plots import plot_stat_vs_loss
        from scalefit.tables import write_table

        with staged_output(out_dir) as out:
            write_table(self.joined, out / "stat_vs_loss.csv")
            save_figure(plot_stat_vs_loss(self.joined, self.collapse, self.stat), out, "stat_vs_loss")
            write_text(out, "report.md", self.markdown(plot=True))


def trajectory_report(table, stat: str, *, group: str | None = None, tensor: str | None = None,
                      layer=None, dataset: str | None = None, models=None, losses=None,
                      E: float | None = None, source: str = "table",
                      losses_source: str | None = None) -> TrajectoryReport:
    """What `scalefit trajectory` reports for one statistic of ``table`` (a checkpoint table in
    any form ``as_table`` reads: a DataFrame, a path, row dicts, a dict of columns): the power
    law value = v0 + c (L - E)^p per model and pooled, how well sizes collapse onto one curve
    (``collapse_report``; ``E`` fixes the irreducible loss), and the correlation with the loss
    after removing what step and learning rate explain (``partial_correlation``). ``dataset``:
    whose loss (default: the training distribution); ``losses``: the evaluation table when the
    losses are not in ``table``; ``models`` and the duplicate checkpoints as in
    ``join_stat_and_loss``.
    """
    table, source = as_table(table, source)  # a path is read once, and named by itself
    joined = join_stat_and_loss(table, stat, group=group, tensor=tensor, layer=layer,
                                dataset=dataset, models=models, losses=losses, source=source,
                                losses_source=losses_source)
    return TrajectoryReport(stat_label(stat, group, tensor, layer), source, joined,
                            collapse_report(joined, E=E), partial_correlation(joined),
                            list(joined.attrs.get("notes", [])))


def params_at_bound(fits) -> dict:
    """{fit: {parameter: 'lower' or 'upper'}} for the fits (('pooled', fit), (model, fit), ...) whose
    parameters ended on a bound of the fit (identifiability.bound_status on its warnings: p at -5 or
    +5, E at its floor 0 or at the lowest loss): values that are the bound, not estimates. --json's
    key beside ``at_bound``, which lists checkpoints of the statistic at its family's bound."""
    out = {}
    for name, fit in fits:
        sides = {n: status.split()[2] for n in fit.params if (status := bound_status(n, fit.warnings))}
        if sides:
            out[name] = sides
    return out


LOSS_UNIT = "nats/token"  # the x axis L and the floor E: an evaluation table's loss


def _shown(fit: FitResult, name: str) -> str:
    """A fitted parameter to the place of its 95% interval's ends (identifiability.judged, the rule
    of every parameter table: c = 2060 beside [-4.8e+05, 4.9e+05] is 0, an interval that does not fix
    its sign, which ``_cell`` and ``_sign_open_text`` say; p = -4.67 beside [-5, -0.048] is -4.7,
    not the bound's -5); a parameter at its bound
    as the bound, as the laws' tables print one (E at its floor 0 as 0, p at -5 as -5)."""
    from scalefit.scaling.laws.identifiability import judged
    p = fit.params[name]
    if name == "E" and E_AT_FLOOR in fit.warnings:
        return f"{E_FLOOR:g}"
    side = {"at its lower bound": 0, "at its upper bound": 1}.get(bound_status(name, fit.warnings) or "")
    if name == "p" and side is not None:
        return f"{P_BOUND[side]:g}"
    return judged(p.value, p.ci95)[0]


BOUND_MARK = " (bound)"  # after a table cell whose parameter ended on its bound: no estimate


def _at_bound(fit: FitResult, name: str) -> bool:
    """Whether ``name`` ended on the bound the table marks: E at its floor (E_AT_FLOOR; its upper bound,
    below every loss, is a limit of the data, not a fitted range), p at -5 or +5 (the laws' rule,
    identifiability.bound_status, on the fit's warnings)."""
    if name == "E":
        return E_AT_FLOOR in fit.warnings
    return bound_status(name, fit.warnings) is not None


def _at_lowest_loss(fit: FitResult) -> bool:
    """Whether E ended on its upper bound, the fitted points' lowest loss (stat_law: a hair below
    it): the data do not place the floor below that loss, so E there is no estimate of a floor.
    Apart from ``_at_bound``, which the table marks: this bound is a limit of the data."""
    return not _is_constant(fit) and bound_status("E", fit.warnings) == "at its upper bound"


def _cell(fit: FitResult, name: str) -> str:
    """``_shown`` marked '(bound)' where the parameter is at its bound (the bound, not an estimate),
    and followed by its 95% interval where that interval holds 0 (``_sign_open``)."""
    if _at_bound(fit, name):
        return _shown(fit, name) + BOUND_MARK
    return _shown(fit, name) + (f" {_interval(fit, name)}" if _sign_open(fit, name) else "")


def _sign_open(fit: FitResult, name: str) -> bool:
    """Whether ``name``'s 95% interval holds 0 on both sides (v0 in [-390, 380]): the data fix not even
    its sign, so its printed value (to its interval's place, maybe 0) must not stand alone; a
    parameter at its bound (E at its floor 0, p at -5) is not an estimate and is said apart."""
    from scalefit.scaling.interval_text import at_zero
    if name not in fit.params or _at_bound(fit, name):
        return False
    p = fit.params[name]
    lo, hi = at_zero(*p.ci95)
    return bool(np.isfinite(lo) and np.isfinite(hi) and lo < 0 < hi)


def _has_interval(fit: FitResult, name: str) -> bool:
    """Whether ``name``'s 95% interval has two finite ends (none where the fit gave no standard error)."""
    ci = fit.params[name].ci95 or (None, None)
    return all(v is not None and np.isfinite(float(v)) for v in ci)


def _interval(fit: FitResult, name: str) -> str:
    """'[-390, 380]': ``name``'s 95% interval on the interval rule, the ends its value is printed to."""
    from scalefit.scaling.interval_text import at_zero, interval_text
    p = fit.params[name]
    return interval_text(*at_zero(*p.ci95, p.value))


def _sign_open_text(fit: FitResult, names) -> str:
    """'; v0 [-390, 380], c [-2800, 2800] and p [-5, 5] hold 0 in their 95% intervals: not even their
    sign is fixed' for the pooled formula's parameters whose interval holds 0; '' where none."""
    open_ = [f"{n} {_interval(fit, n)}" for n in names if _sign_open(fit, n)]
    if not open_:
        return ""
    listed = open_[0] if len(open_) == 1 else ", ".join(open_[:-1]) + " and " + open_[-1]
    verb, its, plural = ("holds", "its", "") if len(open_) == 1 else ("hold", "their", "s")
    return f"; {listed} {verb} 0 in {its} 95% interval{plural}: not even {its} sign is fixed"


def _bound_where(models: list[str]) -> str:
    """Where the fits with p at a bound are shown: 'the pooled fit and the 9 rows whose p is marked (bound)'
    (a row's E at its floor is marked too, and said apart)."""
    rows = [m for m in models if m != "pooled"]
    where = [*(["the pooled fit"] if "pooled" in models else []),
             *([f"the {len(rows)} row{'s' if len(rows) != 1 else ''} whose p is marked{BOUND_MARK}"] if rows else [])]
    return " and ".join(where)


def _signed(shown: str) -> str:
    """'+ 2.19' or '- 2.19' from a printed number: a term of a formula, without '+ -' or '- -'."""
    return f"- {shown[1:]}" if shown.startswith("-") else f"+ {shown}"


def _is_constant(fit: FitResult) -> bool:
    """A fit of a statistic that never moves (c = 0): its E and p say nothing."""
    return any(w.startswith(CONSTANT) for w in fit.warnings)


def _formula_params(fit: FitResult) -> list[str]:
    """The parameters its formula prints: v0 alone for a constant fit, else v0, c, E and p."""
    return ["v0"] if _is_constant(fit) else ["v0", "c", "E", "p"]


# what a fit whose E or p ended on a bound leaves the reader, said once for each such sentence
NOT_SEPARATE = ("E and p are not identified separately there (--json's profile intervals say how far "
                "the data bound each), read the R^2 and the monotone fit instead.")


def _gap_text(fit: FitResult) -> str:
    """'(L - 2.19)', or 'L' where E is 0 or at its bound 0 (not '(L - 1.006e-12)'); E is never
    below E_FLOOR = 0 (fitted within it, a given --E checked), so the term is always a minus."""
    E = fit.params["E"].value
    if E == 0 or E_AT_FLOOR in fit.warnings:
        return "L"
    return f"(L - {_shown(fit, 'E')})"


POINT_DIGITS = 3  # significant figures of the point estimates a formula line prints


def _point(fit: FitResult, name: str) -> str:
    """A parameter's point estimate to POINT_DIGITS significant figures (c = 2060, not the 0 that
    its 95% interval [-4.8e+05, 4.9e+05] rounds it to): what a formula line prints, for a reader to
    copy; p at its bound as the bound, E at its floor as 0 (the laws' tables' rule, ``_shown``)."""
    import math
    from scalefit.scaling.interval_text import at_place
    from scalefit.scaling.laws.identifiability import ZERO
    side = {"at its lower bound": 0, "at its upper bound": 1}.get(bound_status(name, fit.warnings) or "")
    if name == "p" and side is not None:
        return f"{P_BOUND[side]:g}"
    value = fit.params[name].value
    if value is None or not math.isfinite(value):
        return "-"
    if (name == "E" and E_AT_FLOOR in fit.warnings) or abs(value) <= ZERO:
        return "0"
    return at_place(value, math.floor(math.log10(abs(value))) - (POINT_DIGITS - 1))


def _identified(fit: FitResult, name: str) -> bool:
    """Whether the data fix ``name``: not on a bound (p at -5 or +5, E at its floor or at the lowest
    loss), and identified or weakly so by the laws' rule (identifiability.status_of: a 95% interval
    no wider than the value; one that holds 0 is wider)."""
    from scalefit.scaling.laws.identifiability import NOT_IDENTIFIED, status_of
    if _at_bound(fit, name) or (name == "E" and _at_lowest_loss(fit)):
        return False
    p = fit.params[name]
    lo, hi = (float(v) if v is not None else np.nan for v in (p.ci95 or (None, None)))
    if not (np.isfinite(lo) and np.isfinite(hi) and np.isfinite(p.value)) or p.value == 0:
        return False
    return status_of((hi - lo) / abs(p.value)) not in (None, NOT_IDENTIFIED)


def _not_finite(fit: FitResult) -> list[str]:
    """The formula's parameters (``_formula_params``) whose point estimate is not a finite number
    (``_point`` prints '-'): a fit that failed, so no curve to print."""
    return [n for n in _formula_params(fit) if _point(fit, n) == "-"]


def _failed_text(names: list[str]) -> str:
    """'no curve: c is not finite (the fit failed)'; 'c and E are not finite' for two or more."""
    listed = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
    return f"no curve: {listed} {'is' if len(names) == 1 else 'are'} not finite (the fit failed)"


def _point_formula(fit: FitResult) -> str:
    """'value = -3.30 + 15.2 L^-0.750': the fitted curve from its point estimates (``_point``); where
    one is not finite (a failed fit), 'no curve: c is not finite (the fit failed)', not a '-' in
    the formula ('1.30 -  (L - 2.00)' for c, '(L - -)' for E)."""
    if failed := _not_finite(fit):
        return _failed_text(failed)
    E = _point(fit, "E")
    gap = "L" if E == "0" else f"(L - {E})"
    return (f"value = {_point(fit, 'v0')} {_signed(_point(fit, 'c'))} {gap}^{_point(fit, 'p')}"
            + (" (p at its bound)" if _at_bound(fit, "p") else ""))


def _unidentified_text(fit: FitResult) -> str:
    """Why no parameter of a curve is identified: 'v0 [-390, 380], c [-2800, 2800] and p [-5, 5] hold 0
    in their 95% intervals and E ends at its bound 0'; a parameter without a finite interval (no
    standard error) says so: 'v0 has no 95% interval (no standard error)', not '[-, -] is wider'."""
    names = _formula_params(fit)
    parts = []
    open_ = [f"{n} {_interval(fit, n)}" for n in names if _sign_open(fit, n)]
    if open_:
        listed = open_[0] if len(open_) == 1 else ", ".join(open_[:-1]) + " and " + open_[-1]
        parts.append(f"{listed} {'holds' if len(open_) == 1 else 'hold'} 0 in "
                     f"{'its 95% interval' if len(open_) == 1 else 'their 95% intervals'}")
    bare = [n for n in names if not (_at_bound(fit, n) or (n == "E" and _at_lowest_loss(fit)))
            and not _has_interval(fit, n)]
    if bare:
        listed = bare[0] if len(bare) == 1 else ", ".join(bare[:-1]) + " and " + bare[-1]
        parts.append(f"{listed} {'has' if len(bare) == 1 else 'have'} no 95% interval (no standard error)")
    for n in names:
        if _at_bound(fit, n):
            parts.append(f"{n} ends at its bound {_shown(fit, n)}")
        elif n == "E" and _at_lowest_loss(fit):
            parts.append("E ends at the lowest loss fitted")
        elif n not in bare and not _sign_open(fit, n):
            parts.append(f"{n}'s 95% interval {_interval(fit, n)} is wider than its value")
    return ", ".join(parts[:-1]) + " and " + parts[-1] if len(parts) > 1 else "".join(parts)


def _pooled_line(pooled: FitResult, collapse: dict) -> str:
    """The pooled fit's formula line: the curve from its point estimates, or, where the data fix no
    parameter of it, that fact first (no formula of zeros, which the interval-place rounding made)."""
    r2 = (f"R^2 {_r2(collapse['pooled_r_squared'])} "
          f"(monotone fit R^2 {_r2(collapse['isotonic_r_squared'])})")
    if failed := _not_finite(pooled):  # no curve, nor an R^2 of one: the monotone fit's stands
        monotone = collapse["isotonic_r_squared"]
        return _failed_text(failed) + (f"; monotone fit R^2 {_r2(monotone)}." if np.isfinite(monotone) else ".")
    if _is_constant(pooled):
        return f"value = {_shown(pooled, 'v0')} at every checkpoint (no curve in L), {r2}."
    if not any(_identified(pooled, n) for n in _formula_params(pooled)):
        return (f"no parameter of value = v0 + c (L - E)^p is identified ({_unidentified_text(pooled)}); "
                f"its point estimates ({POINT_DIGITS} significant figures; 95% intervals in --json) give "
                f"{_point_formula(pooled)}, {r2}.")
    return (f"{_point_formula(pooled)}, {r2}; point estimates to {POINT_DIGITS} significant figures "
            "(95% intervals in --json)" + _sign_open_text(pooled, _formula_params(pooled)) + ".")


def _r2(value: float) -> str:
    return f"{value:.4f}" if np.isfinite(value) else "- (constant)"


def trajectory_markdown(label: str, collapse: dict, corr: dict, plot: bool = False,
                        loss_dataset: str | None = None, notes=()) -> str:
    """The trajectory report from ``collapse_report`` and ``partial_correlation``'s results;
    ``plot`` links the figure written beside report.md; ``notes``: what was left out."""
    pooled = collapse["pooled"]
    n_models = len(collapse["pooled_models"])
    lines = [f"# {label} against loss" + (f" ({loss_dataset})" if loss_dataset else "")
             + f" in {LOSS_UNIT}", "",
             *left_out_lines(notes),
             f"Pooled fit over {n_models} model{'s' if n_models != 1 else ''} ({pooled.n_points} points): "
             + _pooled_line(pooled, collapse),
             "Collapse ratio (pooled RSS / sum of per-model RSS): "
             + (f"{collapse['collapse_ratio']:.3g}" if np.isfinite(collapse["collapse_ratio"]) else "not computed")
             + f" -- {collapse['collapse_verdict']}."]
    if collapse["per_model"]:
        lines += ["", f"| model | n | v0 | c | E ({LOSS_UNIT}) | p | R^2 |", "|---|---|---|---|---|---|---|"]
    for model, fit in collapse["per_model"].items():
        # arbitrary where c = 0
        e_p = "- | -" if _is_constant(fit) else f"{_cell(fit, 'E')} | {_cell(fit, 'p')}"
        lines.append(f"| {model} | {fit.n_points} | {_cell(fit, 'v0')} | {_cell(fit, 'c')} | {e_p} | "
                     f"{_r2(fit.extra['r_squared'])} |")
    if any(_sign_open(fit, n) for fit in collapse["per_model"].values() for n in _formula_params(fit)):
        lines += ["", "Each value to the place of its 95% interval's ends (--json); one followed by its "
                  "interval: an interval that holds 0, so not even the sign is fixed."]
    if collapse.get("too_short"):
        pooled_too = not set(collapse["too_short"]) & set(collapse["pooled_models"])
        lines += ["", f"Not fitted per model{', nor in the pooled curve' if pooled_too else ''} (fewer than "
                  f"{MIN_POINTS_PER_MODEL} checkpoints): {', '.join(collapse['too_short'])}."]
    if collapse.get("same_loss_models"):
        same = collapse["same_loss_models"]
        lines += ["", "Not fitted per model (the loss is one number at every checkpoint, so no curve in L): "
                  + ", ".join(f"{m} ({v:.4g})" for m, v in same.items()) + "."]
    fits = [("pooled", pooled), *collapse["per_model"].items()]
    bounded = [m for m, f in fits if _at_bound(f, "p")]
    if bounded:
        lines += ["", f"p ends at a bound (-5 or +5) in {len(bounded)} of {len(collapse['per_model']) + 1} "
                  f"fits ({_bound_where(bounded)}): no power law in (L - E) with |p| <= 5 describes those "
                  "runs; E and p are then not identified separately (--json's profile intervals say how far "
                  "the data bound each), read the R^2 and the monotone fit instead."]
    floored = [m for m, f in fits if _at_bound(f, "E")]
    if floored:
        lines += ["", f"E ends at its bound {E_FLOOR:g} in {', '.join(floored)}: the fit wanted a floor below 0, "
                  f"which a cross-entropy does not have; {NOT_SEPARATE}"]
    lowest = [f"{m} ({_shown(f, 'E')})" for m, f in fits if _at_lowest_loss(f)]
    if lowest:
        lines += ["", f"E ends at its upper bound, the lowest loss among the fitted points, in {', '.join(lowest)}: "
                  "the data do not place the floor below the lowest loss they reach, so E there is that loss, "
                  f"not an estimate of a floor; {NOT_SEPARATE}"]
    cut = [f"- {m}: {w}" for m, f in fits for w in f.warnings if reaches_bound(w)]
    if cut:
        lines += ["", "95% profile intervals (--json) that reach a bound (E's upper bound: the run's lowest loss), "
                  "so are cut there, not closed by the data:", *cut]
    unconverged = [m for m, f in fits if not f.converged]
    if unconverged:
        lines += ["", f"Not converged (parameters are not the optimum): {', '.join(unconverged)}."]
    if np.isfinite(corr["partial_pearson"]):
        partial = (f"after removing {corr['controls']}: partial Pearson {corr['partial_pearson']:.3f} "
                   f"(p = {corr['partial_p_value']:.2g}, the {corr['n_points']} checkpoints counted as "
                   f"{max(corr['partial_n_effective'], 0):.0f} independent points for their "
                   f"autocorrelation{'; AR(1), ' + ar1.GAP_WORDS if corr.get('gapped_models') else ''}), "
                   f"partial Spearman {corr['partial_spearman']:.3f}.")
    else:
        partial = (f"no partial correlation: removing {corr['controls']} needs more checkpoints "
                   "per run after step 0 (or leaves no variation).")
    raw = f"{corr['raw_pearson']:.3f}" if np.isfinite(corr["raw_pearson"]) else "- (constant)"
    lines += ["", f"Correlation with loss: raw Pearson {raw}; {partial}"]
    lines += ["![stat vs loss](stat_vs_loss.png)", ""] if plot else [""]
    return "\n".join(lines)

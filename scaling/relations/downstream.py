"""Downstream prediction end to end: pair losses, fit a relation, predict, score held-out runs.

The relation is the shifted power law (loss -> loss) or an accuracy law (loss -> accuracy or
error). Held-out runs are the largest-compute ones (or a separate table of target runs, such as
the paper's 20x-compute models); each is scored beside a plain scaling law (Kaplan L(N, D) + E)
fitted to the target loss alone.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from scalefit.errors import InputError, a_type
from scalefit.options import bootstrap_count, finite_float, nonnegative_int, one_of
from scalefit.renamed import renamed_arguments
from scalefit.scaling.fitresult import FitResult, param_line
from scalefit.scaling.flags import named
from scalefit.scaling.holdout import held_out_mask, parse_holdout
from scalefit.scaling.interval_text import interval_text, value_at_interval
from scalefit.scaling.laws.identifiability import judged
from scalefit.scaling.laws.projection import kind_of, outside_range
from scalefit.scaling.relations.accuracy import (MIN_POINTS, check_fractions, fit_accuracy,
                                                 no_interval_at_bound, predict_accuracy)
from scalefit.scaling.relations.intervals import (PI_NOTE, held_out_intervals, pi_note, interval_at,
                                                  observed_residuals)
from scalefit.scaling.relations.loss2loss import (E_SOURCES, METHODS, check_method, fit_loss_to_loss,
                                                  kaplan_fit, predict_y)
from scalefit.scaling.relations.loss_pairs import LossPairs, pair_losses
from scalefit.scaling.relations.resampling import UNIT, fitted_models_note, held_out_models
from scalefit.schema import FLOPS_PER_PARAM_TOKEN
from scalefit.tables import as_table

RELATIONS = ("shifted-power", "sigmoid", "exponential-error")
PARAM_NAMES = {"shifted-power": ("K", "kappa", "E_x", "E_y"), "sigmoid": ("a", "k", "L0", "b"),
               "exponential-error": ("eps", "k", "gamma")}


@renamed_arguments(lp="loss_pairs")
def fit_relation(loss_pairs: LossPairs, relation: str = "shifted-power", *,
                 e_source: str | None = None, E_x=None, E_y=None, method: str = "ols",
                 n_bootstrap: int = 1000, seed: int = 0, progress: bool = False,
                 source: str = "<table>") -> FitResult:
    """Fit y against x on the pairs: shifted power law, sigmoid accuracy or exponential error;
    ``n_bootstrap`` resamples (1000, as `scalefit predict downstream` takes; 0: a point fit).

    ``loss_pairs``: ``pair_losses(table, x, y)``'s LossPairs. ``relation``: 'shifted-power'
    (L_y = K (L_x - E_x)^kappa + E_y, x and y losses in nats), 'sigmoid' (y an accuracy, a
    fraction in [0, 1]) or 'exponential-error' (y an error rate in [0, 1]); any case.
    The shifted power law's own options (refused with the other two): ``E_x`` / ``E_y``, the
    irreducible losses of x and y in nats (both or neither); ``e_source``, where they come
    from: 'kaplan' (a Kaplan L(N, D) + E fit per dataset, refitted in every resample; the
    default without E_x, E_y), 'given' (E_x and E_y as passed; the default with them) or 'fit'
    (all four parameters by least squares); ``method``, the log-log line's fit with E fixed:
    'ols' (least squares, the paper's) or 'huber' (robust). ``source``: the table's name in
    messages.
    """
    if not isinstance(loss_pairs, LossPairs):
        raise InputError(f"loss_pairs: got {a_type(loss_pairs)}; pass pair_losses(table, x, y)'s "
                         "LossPairs (or run_downstream(table, x, y) to pair and fit in one call)")
    n_bootstrap = bootstrap_count("n_bootstrap (--bootstrap)", n_bootstrap)
    seed = nonnegative_int("seed (--seed)", seed)
    relation, e_source, method = _choices(relation, e_source, method)
    check_relation_options(relation, e_source=e_source, E_x=E_x, E_y=E_y, method=method)
    refuse_scores(relation, loss_pairs.x, loss_pairs.y, source)
    _refuse_constant(loss_pairs, source)
    if relation == "shifted-power":  # a bound's 'interval' is none, as for the accuracy laws
        return no_interval_at_bound(fit_loss_to_loss(
            loss_pairs, e_source=e_source, E_x=E_x, E_y=E_y, method=method,
            n_bootstrap=n_bootstrap, seed=seed, progress=progress, source=source))
    pairs = loss_pairs.pairs
    if len(pairs) < MIN_POINTS:  # fit_accuracy's message named the law, not the file
        raise InputError(f"{source}: only {len(pairs)} (x, y) pairs of '{loss_pairs.x}' and "
                         f"'{loss_pairs.y}'; {named('relation')} {relation} needs at least "
                         f"{MIN_POINTS}" + "".join(f"; {note}" for note in loss_pairs.notes))
    def run(i):  # fit_accuracy's own message names a point, not the file's column or run
        point = ", ".join(f"{k} {pairs[k].iloc[i]}" for k in ("model", "step") if k in pairs)
        return f"{source}: column '{loss_pairs.y}'{f' ({point})' if point else ''}"
    check_fractions(pairs["y"], run)
    units = pairs[UNIT].to_numpy() if UNIT in pairs.columns else None
    result = fit_accuracy(pairs["x"], pairs["y"], relation, n_bootstrap=n_bootstrap, seed=seed,
                          progress=progress, units=units)
    result.extra.update({"pairing": loss_pairs.pairing, "x": loss_pairs.label_x,
                         "y": loss_pairs.label_y})
    return result


def _choices(relation, e_source, method) -> tuple:
    """relation, e_source (None: chosen from E_x and E_y) and method as the names they are
    spelled in, read in any case ('Sigmoid' was refused, 'sigmod' without a 'did you mean')."""
    return (one_of(named("relation"), relation, RELATIONS),
            None if e_source is None else one_of(named("e_source"), e_source, E_SOURCES),
            one_of(named("method"), method, METHODS))


def check_relation_options(relation: str, *, e_source=None, E_x=None, E_y=None,
                           method: str = "ols") -> None:
    """--e, --E-x, --E-y and --method huber are the shifted power law's (its E and its log-log
    line): refused with an accuracy law, which ignored them without a word."""
    if relation == "shifted-power":
        check_method(e_source, method)
        return
    given = [name for name, value in ((f"{named('e_source')} {e_source}", e_source),
                                      (named("E_x"), E_x), (named("E_y"), E_y)) if value is not None]
    given += [f"{named('method')} {method}"] if method != "ols" else []
    if given:
        raise InputError(f"{', '.join(given)}: options of the shifted power law (its E_x, E_y "
                         f"and log-log line); {named('relation')} {relation} fits "
                         f"{'a, k, L0, b' if relation == 'sigmoid' else 'eps, k, gamma'} by least "
                         "squares and would ignore them (drop them)")


def refuse_scores(relation: str, x, y, source: str = "<table>") -> None:
    """An x or y that names a higher-is-better metric (``evaltables.higher_is_better``: piqa:acc,
    acc_norm, exact_match, ...) where a loss belongs is refused. x is a loss for every relation
    (the sigmoid and exponential-error laws fitted an accuracy x without a word); y is a loss for
    the shifted power law, which fitted a Kaplan E_y = 0.60 to piqa's accuracies and left out 232
    of 433 pairs 'at or below (E_x, E_y)', with exit status 0. An accuracy y is pointed to the
    accuracy laws."""
    from scalefit.scaling.relations.evaltables import higher_is_better
    sides = (("y", y), ("x", x)) if relation == "shifted-power" else (("x", x),)
    for side, column in sides:
        metric = higher_is_better(column) if column is not None else None
        if metric is None:
            continue
        said = (f"{source}: {side} '{column}' is an accuracy or score ('{metric}': higher is "
                "better), not a loss; ")
        if side == "y":
            raise InputError(said + "the shifted power law L_y = K (L_x - E_x)^kappa + E_y "
                             f"relates two losses: for an accuracy y use {named('relation')} "
                             "sigmoid, or exponential-error on its error rate (1 - accuracy)")
        raise InputError(said + "x must be a loss, e.g. the train loss or a task's loss (nats, or "
                         "a perplexity such as lambada_openai:ppl, read as its ln): every relation "
                         f"({relation} too) predicts y from a loss x")


def _refuse_constant(loss_pairs: LossPairs, source: str) -> None:
    """x or y equal in every fitted pair: no relation to fit. The accuracy laws returned a step
    (k at its bound) or a flat curve with zero-width 'identified' intervals, and the shifted
    power law with E given crashed inside lmfit (NaN model values)."""
    for side, column in (("x", loss_pairs.x), ("y", loss_pairs.y)):
        values = loss_pairs.pairs[side].to_numpy(float)
        if values.size > 1 and np.ptp(values) == 0:
            raise InputError(f"{source}: column '{column}': all {values.size} fitted pairs have "
                             f"the same {side} ({values[0]:g}); a relation is fitted to how y "
                             f"varies with x (is --{side} the right column?)")


def predict_relation(result: FitResult, x):
    """y predicted at x by a fitted relation of any kind."""
    if result.law == "shifted-power":
        return predict_y(result, x)
    return predict_accuracy(result, x)


def relation_with_ci(result: FitResult, x: float, **chained) -> dict:
    """{"value", "ci95", "pi95"} of the relation at x (``intervals.interval_at``)."""
    return interval_at(result, x, **chained)


MIN_FIT_PAIRS = 3  # a relation's fit needs at least three pairs


def split_by_compute(lp: LossPairs, holdout) -> tuple[LossPairs, pd.DataFrame]:
    """Hold out the largest-compute pairs (fraction or count); every fit sees only the rest.

    The split is ``scaling.holdout.held_out_mask``: pairs of equal compute go to the same side,
    and the runs behind each side's E fit are cut at the same compute.
    """
    if parse_holdout(holdout) is None:
        return lp, lp.pairs.iloc[0:0]
    if "flops" not in lp.pairs.columns:
        raise InputError(f"{named('holdout')}: the table needs params and tokens (or flops) to rank runs "
                         "by compute")
    held_mask = held_out_mask(lp.pairs["flops"].to_numpy(float), holdout,
                              min_fit=MIN_FIT_PAIRS, what="pairs")
    cut = lp.pairs["flops"][held_mask].min()  # the smallest held-out compute
    held = lp.pairs[held_mask].reset_index(drop=True)
    train = LossPairs(lp.pairs[~held_mask].reset_index(drop=True),
                      lp.x_runs[lp.x_runs["flops"] < cut].reset_index(drop=True),
                      lp.y_runs[lp.y_runs["flops"] < cut].reset_index(drop=True),
                      lp.x, lp.y, lp.pairing, lp.x_from, lp.y_from, lp.match)
    return train, held


def target_pairs(frame: pd.DataFrame, lp: LossPairs, *, group: str = "data",
                 source: str = "<targets>") -> pd.DataFrame:
    """Pair a table of target runs (e.g. the 20x-compute models) the way ``lp`` was paired.

    Every target run is scored, so a target row missing its x or y value is an InputError
    naming the row (in a training table such a row is simply not used)."""
    from scalefit.errors import row_name
    sides = ([(lp.x_from, lp.x), (lp.x_from, lp.y)] if lp.pairing == "train-to-test"
             else [(lp.x_from, lp.x), (lp.y_from, lp.y)])
    for name, column in sides:
        part = frame if name is None or group not in frame.columns else \
            frame[frame[group].astype(str) == str(name)]
        if column in part.columns:
            missing = np.flatnonzero(part[column].isna().to_numpy())
            if missing.size:
                i = int(missing[0])
                # a checkpoint by its model and step: a long table's pivoted rows are not the
                # file's (row 52 of the pivot was named as the file's row 52)
                at = (f"model {part['model'].iloc[i]}, step {part['step'].iloc[i]}"
                      if {"model", "step"} <= set(part.columns) else f"{row_name(part, i)}")
                raise InputError(f"{source}: column '{column}', {at}: is missing (NaN), "
                                 f"{missing.size} row(s) in all; every target run is scored, so "
                                 "each needs both values")
    out = pair_losses(frame, lp.x, lp.y, lp.pairing, x_from=lp.x_from, y_from=lp.y_from,
                      group=group, match=lp.match, source=source, min_pairs=1)
    return out.pairs


def _fitted_targets(targets: pd.DataFrame, fitted: pd.DataFrame) -> int:
    """How many target pairs are also fitted pairs: the same params and tokens (and model and
    step) where both tables have them (else the same x and y values). Two models of one size and
    schedule (Pythia's standard and deduped runs) are two runs: the model tells them apart."""
    keys = [k for k in ("model", "params", "tokens", "step") if k in targets and k in fitted]
    if not {"params", "tokens"} <= set(keys):
        keys = ["x", "y"]
    seen = set(map(tuple, fitted[keys].round(12).to_numpy().tolist()))
    return sum(tuple(row) in seen for row in targets[keys].round(12).to_numpy().tolist())


def score_held_out(result: FitResult, train: LossPairs, held: pd.DataFrame,
                   *, baseline: bool = True, source: str = "<table>") -> dict:
    """Relative error of each held-out prediction, beside a Kaplan law fitted to y alone."""
    rows = held.copy()
    predicted = np.asarray(predict_relation(result, rows["x"].to_numpy(float)), float)
    y = rows["y"].to_numpy(float)
    defined = np.isfinite(predicted)  # a held-out x at or below the fit's E_x has no prediction
    rows["predicted"] = predicted
    # where each held-out x lies against the fitted pairs' (a projection beyond the best of
    # them, as --at-x labels one): the held-out runs, the largest compute, are mostly beyond
    rows["kind"] = [_x_kind(float(v), train)["kind"] for v in rows["x"].to_numpy(float)]
    # no relative error where y = 0 (an accuracy of 0: it was +inf, and the run was said to
    # have no prediction)
    with np.errstate(divide="ignore", invalid="ignore"):
        rows["relative_error"] = np.where(y != 0, predicted / y - 1, np.nan)
    out = {"n": len(rows)}
    if result.draws is not None:
        lo, hi = held_out_intervals(result, rows["x"].to_numpy(float))
        rows["pi95_lo"], rows["pi95_hi"] = lo, hi
        # no prediction: a miss, whatever the draws say (the note below says so)
        inside = (y >= lo) & (y <= hi) & defined
        rows["inside_pi95"] = inside
        out["pi95_coverage"] = float(inside.mean()) if len(rows) else float("nan")
        out["pi95_note"] = PI_NOTE
    can_baseline = (baseline and result.law == "shifted-power"
                    and {"params", "tokens"} <= set(rows.columns) and len(train.y_runs) >= 6)
    if can_baseline:
        from scalefit.scaling.laws.fit import predict
        kaplan_y = (result.components.get("kaplan", {}).get("y")
                    or kaplan_fit(train.y_runs, source=source, column=train.y))
        # at the y run's own N and D: paired by compute it is not the x run's size
        n_y = rows["y_params"] if "y_params" in rows.columns else rows["params"]
        d_y = rows["y_tokens"] if "y_tokens" in rows.columns else rows["tokens"]
        rows["baseline_predicted"] = predict(kaplan_y, n_y.to_numpy(float), d_y.to_numpy(float))
        rows["baseline_relative_error"] = rows["baseline_predicted"] / rows["y"] - 1
        out["baseline"] = "Kaplan L(N, D) + E fitted to the target loss alone"
        # over the runs the relation predicts, so that the two means compare the same runs
        defined = np.isfinite(rows["relative_error"].to_numpy(float))
        out["baseline_mean_abs_rel_error"] = (float(
            np.mean(np.abs(rows["baseline_relative_error"].to_numpy(float)[defined])))
            if defined.any() else float("nan"))
    keep = [c for c in ("model", "step", "params", "tokens", "flops", "x", "y_params", "y_tokens",
                        "y", "predicted",
                        "relative_error", "kind", "pi95_lo", "pi95_hi", "inside_pi95",
                        "baseline_predicted", "baseline_relative_error")
            if c in rows.columns]
    out["points"] = rows[keep].to_dict(orient="records")
    models = held_out_models(rows, train.pairs)  # checkpoints of models, not runs
    noun = "runs"
    if models is not None:
        noun = "checkpoints"
        out["n_models"] = models["n_models"]
        said = fitted_models_note(models["n_in_fit"], len(rows), "held-out checkpoints")
        if said:
            out["same_models"] = said
    beyond = [k for k in rows["kind"] if k != "interpolation"]
    if beyond:
        out["beyond_fitted"] = (f"{len(beyond)} of {len(rows)} held-out {noun} lie beyond the "
                                f"fitted pairs' x ({', '.join(sorted(set(beyond)))}): their "
                                "errors measure the relation's extrapolation")
    rel = rows["relative_error"].to_numpy(float)
    ok = np.isfinite(rel)  # a prediction, of a y other than 0
    out["mean_abs_rel_error"] = float(np.mean(np.abs(rel[ok]))) if ok.any() else float("nan")
    out["max_abs_rel_error"] = float(np.max(np.abs(rel[ok]))) if ok.any() else float("nan")
    if (~defined).any():  # one such run made every mean NaN ('mean |rel err| nan%')
        out["undefined"] = (f"{int((~defined).sum())} of {rel.size} held-out {noun} have no "
                            "prediction (x at or below the fit's E_x, where the law says "
                            "nothing): counted outside their intervals, left out of the errors")
    if (defined & ~ok).any():
        out["zero_observed"] = (f"{int((defined & ~ok).sum())} of {rel.size} held-out {noun} "
                                "observe y = 0, where a relative error is undefined: scored by "
                                "their intervals, left out of the errors")
    return out


def _check_x(result: FitResult, x: float, what: str, train: LossPairs) -> None:
    """x below E_x has no shifted-power prediction: say so instead of printing '-'. An accuracy
    or error law whose curve leaves [0, 1] at x (the exponential-error law's error goes below 0
    at low loss) has none either: it printed an error rate of -0.86."""
    if result.law == "shifted-power":
        if not x > result.value("E_x"):
            e_x = judged(result.value("E_x"), result.params["E_x"].ci95)[0]
            raise InputError(f"{what}: x = {x:g} is at or below E_x = {e_x}, "
                             "the irreducible loss of x; the shifted power law "
                             "L_y = K (L_x - E_x)^kappa + E_y needs x > E_x")
        return
    y = float(predict_accuracy(result, x))
    if not 0 <= y <= 1:
        lo, hi = _x_kind(x, train)["x_range"]
        raise InputError(f"{what}: x = {x:g}: the fitted {result.law} law gives {y:.4g} there, "
                         f"outside [0, 1] (y is a fraction); its form does not hold this far "
                         f"from the fitted x ({lo:.4g} to {hi:.4g}): predict nearer the data")


def predict_at(result: FitResult, train: LossPairs, *, at_x=None, at_nd=None,
               source: str = "<table>") -> dict | None:
    """The prediction: y at a given x, or chained (N, D) -> x (Kaplan law of x) -> y, with the
    curve's interval (ci95) and an observed value's (pi95), labelled by where it lies against the
    fitted runs (``kind``: interpolation, projection beyond the best of them, below the data)."""
    if at_x is not None:
        _check_x(result, float(at_x), named("at_x"), train)
        out = relation_with_ci(result, float(at_x))
        out["at_x"] = float(at_x)
        out.update(_x_kind(float(at_x), train))
        out["note"] = pi_note(out.get("intervals_over"))
        return _with_no_value_note(out)
    if at_nd is not None:
        from scalefit.scaling.laws.fit import predict
        from scalefit.scaling.laws.forms import kaplan_nde
        N, D = at_nd
        kaplan_x = result.components.get("kaplan", {}).get("x")
        if kaplan_x is None:  # an accuracy law (or E given): the x law is fitted here, and what
            # its fit warns of (E at a bound, step-0 runs left out) is said as the relation's
            # Kaplan fits' warnings are
            kaplan_x = kaplan_fit(train.x_runs, source=source, column=train.x)
            result.warnings.extend(w for w in (f"Kaplan L(N,D)+E fit of the x loss (x for --at): {w}"
                                               for w in kaplan_x.warnings)
                                   if w not in result.warnings)
        x_value = float(predict(kaplan_x, N, D))
        _check_x(result, x_value, f"{named('at_nd')} {N:g},{D:g}", train)
        draws = result.draws or {}
        log_resid = -np.asarray(kaplan_x.model_result.residual, float)  # log observed/fitted
        chained = {"x_residuals": observed_residuals(log_resid, 5)}
        carried = "the relation's parameters and scatter, and the Kaplan law of x's scatter"
        if "x:E" in draws:  # the joint bootstrap refitted the Kaplan law of x per resample
            chained["x_draws"] = kaplan_nde(N, D, draws["x:E"], draws["x:N_c"], draws["x:D_c"],
                                            draws["x:alpha_N"], draws["x:alpha_D"])
            carried = ("the relation's and the Kaplan law of x's parameters (refitted per "
                       "resample) and both fits' scatter")
        out = relation_with_ci(result, x_value, **chained)
        out.update(_x_kind(x_value, train))
        flops = FLOPS_PER_PARAM_TOKEN * float(N) * float(D)
        fitted = pd.to_numeric(train.x_runs.get("flops", pd.Series(dtype=float)), errors="coerce")
        fitted = fitted[np.isfinite(fitted) & (fitted > 0)]
        if len(fitted):  # distance in compute, as a law's budgets state it
            kind, _ = kind_of(flops, largest_fitted=float(fitted.max()), smallest_fitted=float(fitted.min()))
            out.update(kind=kind, flops=flops, times_largest_run=flops / float(fitted.max()))
        beyond = _outside_fitted_sizes(N, D, train.x_runs)
        if beyond:  # inside the runs' compute is no interpolation when N or D is outside theirs
            out.update(outside_fitted=beyond)
            if out.get("kind") == "interpolation":
                out["kind"] = "extrapolation"
        out.update({"at": {"params": float(N), "tokens": float(D)}, "x_predicted": x_value,
                    "note": f"x from a Kaplan L(N, D) + E fit of the x loss; the intervals "
                            f"carry {carried}. {pi_note(out.get('intervals_over'))}"})
        return _with_no_value_note(out)
    return None


def _with_no_value_note(out: dict) -> dict:
    """``out`` with ``no_value`` where the fitted curve has no finite value at the point (--at-x
    1e308: K (L_x - E_x)^kappa overflows a float), so the estimate is printed '-' (--json null)
    beside the draws' intervals, which are of the draws that have a value."""
    if np.isfinite(out["value"]):
        return out
    finite = np.all(np.isfinite(out.get("ci95", [np.nan, np.nan])))
    out["no_value"] = ("the fitted curve has no finite value here (it passes the largest float), so no "
                       "estimate" + ("; the intervals are of the bootstrap draws that have one, all below "
                                     "the fit's curve: the fit and its resamples disagree here" if finite else ""))
    return out


def _outside_fitted_sizes(N: float, D: float, runs: pd.DataFrame) -> list[str]:
    """'N 6.1x the largest fitted (1.64e+06)' for each of N, D outside the fitted runs' range:
    a point inside their compute can still lie beyond their sizes or token counts."""
    said = (outside_range(name, float(value),
                          pd.to_numeric(runs.get(column, pd.Series(dtype=float)), errors="coerce"))
            for name, value, column in (("N", N, "params"), ("D", D, "tokens")))
    return [s for s in said if s]


def _x_kind(x: float, train: LossPairs) -> dict:
    """Where x lies against the fitted pairs' x: beyond the best fitted run (a lower loss: a
    projection), inside their range, or above it (below the data)."""
    xs = np.asarray(train.pairs["x"], float)
    lo, hi = float(np.min(xs)), float(np.max(xs))
    kind = "projection" if x < lo else ("below the data" if x > hi else "interpolation")
    return {"kind": kind, "x_range": [lo, hi]}


def parse_at(spec: str | None):
    """'1e9,2e10' -> (N, D)."""
    if spec is None:
        return None
    parts = spec.split(",")
    try:
        N, D = (float(p) for p in parts)
    except ValueError:
        raise InputError(f"{named('at_nd')}: '{spec}' is not N,D (e.g. 1e9,2e10)") from None
    if not (np.isfinite(N) and np.isfinite(D)):
        raise InputError(f"{named('at_nd')}: '{spec}': N and D must be finite numbers")
    if D == 0 and N > 0:
        raise InputError(f"{named('at_nd')}: '{spec}': D = 0 tokens is an untrained (step-0) model, where "
                         "a scaling law L(N, D) diverges; give D > 0 (for a step-0 checkpoint "
                         "use --at-x with its measured loss)")
    if not (N > 0 and D > 0):
        raise InputError(f"{named('at_nd')}: N and D must be positive, got '{spec}'")
    return N, D


@dataclass
class Downstream:
    """A downstream prediction: the fitted relation, the pairs it saw, the held-out pairs, the
    prediction asked for and the held-out scores. ``to_dict`` is the JSON the CLI prints."""

    fit: FitResult
    relation: str
    data: str  # where the table came from
    train: LossPairs  # the pairs (and E-fit runs) the relation was fitted to
    held: pd.DataFrame  # held-out pairs: the largest-compute ones, then any target runs
    prediction: dict | None = None  # {"value", "ci95", "at_x" | "at", ...}
    holdout: dict | None = None  # score_held_out of the held-out pairs
    notes: list = field(default_factory=list)  # how the table was read (ln ppl, ...)

    def __repr__(self) -> str:
        """A notebook's view: what was related to what, each parameter, the prediction and the
        held-out error in a few lines (the dataclass repr printed the fit, the pairs and the
        held-out table); ``print()`` gives the report `scalefit predict downstream` prints."""
        train = self.train
        lines = [f"Downstream {self.relation} on {self.data}: {train.pairing} {train.label_x} -> "
                 f"{train.label_y}, {len(train.pairs)} pairs fitted, {len(self.held)} held out"]
        lines += [f"  {param_line(n, p, {}, self.fit.warnings)}" for n, p in self.fit.params.items()]
        pr = self.prediction
        if pr is not None:
            where = (f"x = {pr['at_x']:.4g}" if "at_x" in pr else
                     f"N = {pr['at']['params']:.3g}, D = {pr['at']['tokens']:.3g}")
            # the estimate and the interval as the report prints them (value_at_interval beside
            # the curve's CI, interval_text), not 4 digits beside [1.3e+10, 5.2e+53]
            lo, hi = pr.get("pi95", (np.nan, np.nan))
            pi = (f", 95% prediction interval {interval_text(lo, hi, pr['value'])}"
                  if np.isfinite(lo) and np.isfinite(hi) else "")
            lines.append(f"  {pr.get('kind', 'prediction')} at {where}: "
                         f"{value_at_interval(pr['value'], *pr['ci95'])}{pi}")
            lines += [f"  note: {note}" for note in pr.get("interval_notes", ())]
        h = self.holdout
        if h is not None:
            from scalefit.scaling.relations.report import scored_percent as percent
            line = f"  held out {h['n']}: mean |relative error| {percent(h['mean_abs_rel_error'])}"
            if "baseline_mean_abs_rel_error" in h:
                line += f" (Kaplan law of y alone {percent(h['baseline_mean_abs_rel_error'])})"
            if "pi95_coverage" in h:
                line += f", {h['pi95_coverage']:.0%} inside their 95% prediction intervals"
            lines.append(line)
        n = len(self.fit.warnings)
        lines += [f"  note: {note}" for note in self.notes]
        if n:
            lines.append(f"  {n} warning{'s' if n > 1 else ''} (print() shows them)")
        return "\n".join(lines + ["  print() for the report; .fit, .train, .held, .to_dict()"])

    def __str__(self) -> str:
        from scalefit.scaling.relations.report import downstream_text
        return downstream_text(self.to_dict())

    def to_dict(self) -> dict:
        from scalefit.scaling.relations.report import identified_status, units_of
        out = self.fit.to_dict()
        for name, p in out["params"].items():  # as params.csv, report.md and the text say it
            p["identified"] = identified_status(name, p, out)
        out["relation"] = self.relation
        out["data"] = self.data
        units = units_of(str(out.get("x")), str(out.get("y")), self.relation)
        if units:
            out["units"] = units
        if self.prediction is not None:
            out["prediction"] = self.prediction
        if self.holdout is not None:
            out["holdout"] = self.holdout
        if self.notes:
            out["notes"] = list(self.notes)
        return out


@renamed_arguments(frame="table")
def run_downstream(table: pd.DataFrame, x: str, y: str, *, pairing: str = "train-to-test",
                   x_from=None, y_from=None, group: str = "data", match: str = "tokens",
                   relation: str = "shifted-power", e_source: str | None = None, E_x=None,
                   E_y=None, method: str = "ols", holdout=None,
                   targets: pd.DataFrame | None = None, at_x=None, at_nd=None,
                   n_bootstrap: int = 1000, seed: int = 0, source: str = "<table>",
                   targets_source: str = "<targets>", progress: bool = False) -> Downstream:
    """Pair the losses, hold out the largest-compute pairs (and any target runs), fit the
    relation to the rest, predict, and score the held-out pairs. ``at_nd``: (N, D) or 'N,D'.
    Runs of several training sets need ``x_from`` (and ``group``, their column) for train-to-test;
    a long evaluation table is first made wide by ``evaltables.as_measurements``. ``table`` and
    ``targets``: DataFrames, paths, row dicts or dicts of columns (``tables.as_table``).

    ``x`` / ``y``: the columns (or evaluation names) of the two losses, or of the loss and the
    accuracy. ``pairing``: 'train-to-test' (two losses of the same runs), 'train-to-train' or
    'test-to-test' (the runs of two training sets, ``x_from`` and ``y_from``: values of column
    ``group``); ``match`` pairs those runs: 'tokens' (equal params and tokens) or 'compute'
    (each set's lowest loss per FLOP budget). ``relation``, ``e_source``, ``E_x``, ``E_y`` and
    ``method``: as ``fit_relation`` reads them (choices in any case). ``holdout``: the
    largest-compute pairs kept out of the fit and scored, a fraction in (0, 1) or a whole count
    (None: none). ``at_x``: a loss x (nats, >= 0) to predict y at; ``at_nd`` instead predicts
    at a model of N parameters trained on D tokens (x from a Kaplan law of the x runs); one of
    them at most. ``targets``: runs of another table scored as held out."""
    from scalefit.scaling.relations.evaltables import as_measurements
    relation, e_source, method = _choices(relation, e_source, method)  # before the table is read
    if at_x is not None and at_nd is not None:  # at_nd was silently ignored
        raise InputError(f"{named('at_x')} and {named('at_nd')}: give one of them")
    if at_x is not None:
        at_x = finite_float(named("at_x"), at_x)
        if at_x < 0:  # no loss; an accuracy law's curve went on past it (accuracy 1.09 at -2)
            raise InputError(f"{named('at_x')}: x = {at_x:g} is negative; x is a loss (nats, at least 0), "
                             "as the table's x column is")
    if at_nd is not None and not isinstance(at_nd, str):
        try:
            at_nd = ",".join(str(v) for v in at_nd)
        except TypeError:
            raise InputError(f"{named('at_nd')}: got {a_type(at_nd)}; give (N, D) or 'N,D'") from None
    at_nd = parse_at(at_nd)
    specs = (x, y)
    table, source = as_table(table, source)
    refuse_scores(relation, x, y, source)  # by the names given, before the pairing
    table, x, y, notes = as_measurements(table, x, y, source)
    lp = pair_losses(table, x, y, pairing, x_from=x_from, y_from=y_from, group=group,
                     match=match, source=source)
    if at_nd is not None:  # before any fit: x at (N, D) comes from a Kaplan law of x
        missing = [key for key in ("params", "tokens") if key not in lp.x_runs.columns]
        if missing:
            raise InputError(f"{source}: column '{missing[0]}' is missing: --at N,D predicts x "
                             "from a Kaplan L(N,D)+E law fitted to the runs' params and tokens; "
                             "add them, or predict at a loss with --at-x")
    train, held = split_by_compute(lp, holdout)
    if targets is not None:
        targets, targets_source = as_table(targets, targets_source)
        targets, *_ = as_measurements(targets, *specs, targets_source)
        scored = target_pairs(targets, lp, group=group, source=targets_source)
        fitted_too = _fitted_targets(scored, train.pairs)
        if fitted_too:
            raise InputError(f"{targets_source}: {fitted_too} of its {len(scored)} runs are also "
                             f"runs of {source} that the relation is fitted to; a held-out run "
                             "must be one the fit has not seen (pass the target runs alone)")
        held = pd.concat([held, scored], ignore_index=True)
    result = fit_relation(train, relation, e_source=e_source, E_x=E_x, E_y=E_y,
                          method=method, n_bootstrap=n_bootstrap, seed=seed,
                          progress=progress, source=source)
    return Downstream(result, relation, source, train, held,
                      prediction=predict_at(result, train, at_x=at_x, at_nd=at_nd,
                                            source=source),
                      holdout=score_held_out(result, train, held, source=source)
                      if len(held) else None, notes=list(notes) + lp.notes)


def shipped_runs(frame):
    """The shipped table's runs for loss-to-loss: no warmup variants, one row per run."""
    if "part" in frame.columns:
        frame = frame[frame["part"].astype(str) != "warmup"]
    keys = [c for c in ("distribution", "params", "tokens") if c in frame.columns]
    return frame.drop_duplicates(keys) if keys else frame

"""Calibration of a relation's predictions (loss-to-loss, loss-to-accuracy) by leave-future-out
splits: pair the two measurements once, then for several compute cuts refit the relation (its E
from Kaplan fits cut at the same compute, where it has one) on the pairs below the cut, predict
every pair at or above it (and any target runs), and count how often the observed value lies
inside its 95% prediction interval.

The splits, fits and intervals are those of `predict downstream --holdout`
(``downstream.split_by_compute``, ``fit_relation``, ``score_held_out``); the summary and report
are the laws' (``scaling.laws.calibrate``), so both read the same way.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from scalefit.errors import InputError
from scalefit.renamed import renamed_arguments
from scalefit.scaling.laws.calibrate import (Calibration, calibrate_cuts, cut_points, cut_summary,
                                             summarize)
from scalefit.options import one_of
from scalefit.scaling.flags import named
from scalefit.scaling.relations.downstream import (PARAM_NAMES, RELATIONS,
                                                   check_relation_options, fit_relation,
                                                   refuse_scores, score_held_out,
                                                   split_by_compute, target_pairs)
from scalefit.scaling.relations.loss2loss import e_source_for
from scalefit.scaling.relations.loss_pairs import pair_losses
from scalefit.scaling.relations.resampling import (UNIT, fitted_models_note, held_out_models,
                                                   trained_rows)

OBSERVED = {"shifted-power": "losses", "sigmoid": "accuracies",
            "exponential-error": "error rates"}
KAPLAN_FREE = 5  # E, N_c, D_c, alpha_N, alpha_D: 3 runs each, as the Kaplan fit asks
MIN_UNITS = 5  # models below a cut: a bootstrap of fewer whole models has little to vary
KEEP = ("model", "step", "params", "tokens")  # a held-out point's identity, where present


@renamed_arguments(frame="table")
def calibrate_relation(table: pd.DataFrame, x: str, y: str, relation: str = "shifted-power", *,
                       pairing: str = "train-to-test", x_from=None, y_from=None,
                       group: str = "data", match: str = "tokens", e_source: str | None = None,
                       E_x=None, E_y=None, method: str = "ols",
                       targets: pd.DataFrame | None = None, cuts: int = 4,
                       n_bootstrap: int = 200, seed: int = 0, min_fit: int | None = None,
                       source: str = "<table>", targets_source: str = "<targets>",
                       progress: bool = False) -> Calibration:
    """Leave-future-out calibration of ``relation`` of y on x (see the module docstring).

    targets: runs beyond the table (e.g. Brandfonbrener's 3.3B models) predicted at every cut.
    min_fit: pairs a fit needs below a cut (default: 3 per parameter, the Kaplan fits' own
    minimum; with E from Kaplan fits, 3 per Kaplan parameter: 15). Fewer let a saturating law
    (sigmoid, exponential error) extrapolate without bound.
    A cut whose fit fails (e.g. too few runs below it for the Kaplan fits of E) is left out
    with a note. Ctrl-C (or SIGTERM) once a cut has finished raises ``signals.Interrupted``
    whose ``partial`` is the calibration of the cuts finished (laws.calibrate.calibrate_cuts).
    """
    relation = one_of(named("relation"), relation, RELATIONS)
    if n_bootstrap < 2:
        raise InputError("calibrate: n_bootstrap (--bootstrap): at least 2 resamples (the intervals need "
                         "the relation's draws)")
    check_relation_options(relation, e_source=e_source, E_x=E_x, E_y=E_y, method=method)
    refuse_scores(relation, x, y, source)  # else each cut's fit failed on it, said as a note
    if relation == "shifted-power":
        e_source = e_source_for(e_source, E_x, E_y)
    lp = pair_losses(table, x, y, pairing, x_from=x_from, y_from=y_from, group=group,
                     match=match, source=source)
    if "flops" not in lp.pairs.columns:
        raise InputError(f"calibrate: {source}: the table needs params and tokens (or flops) "
                         "to order the runs by compute")
    extra = (target_pairs(targets, lp, group=group, source=targets_source)
             if targets is not None else lp.pairs.iloc[0:0])
    n_free = len(PARAM_NAMES[relation])
    if relation == "shifted-power" and e_source == "kaplan":
        n_free = max(n_free, KAPLAN_FREE)  # the Kaplan fits of E_x, E_y see the same runs
    min_fit = min_fit or 3 * n_free
    # runs of one budget whose 6ND differ in the last digits (rounded tokens) stay together
    flops = np.array([float(f"{v:.6g}") for v in lp.pairs["flops"].to_numpy(float)])
    notes = list(lp.notes)  # runs that found no pair
    # step-0 checkpoints (no compute) are always fitted, never counted: each cut leaves
    # min_fit trained runs (of MIN_UNITS models) below it, so the distance from the largest
    # fitted one is defined and the bootstrap has models to draw
    trained = flops > 0
    units = lp.pairs[UNIT].to_numpy()[trained] if UNIT in lp.pairs.columns else None

    def one_cut(cut):
        train, held = split_by_compute(lp, int(np.sum(~(flops < cut))))
        is_target = np.r_[np.zeros(len(held), bool), np.ones(len(extra), bool)]
        held = pd.concat([held, extra], ignore_index=True)
        try:
            result = fit_relation(train, relation, e_source=e_source, E_x=E_x, E_y=E_y,
                                  method=method, n_bootstrap=n_bootstrap, seed=seed,
                                  progress=progress, source=source)
        except (InputError, RuntimeError, ValueError) as err:
            notes.append(f"cut {cut:.3g} FLOPs left out: its fit failed ({err})")
            return None
        scored = pd.DataFrame(score_held_out(result, train, held, baseline=False,
                                             source=source)["points"])
        largest = float(train.pairs["flops"].max())
        part = _predictions(scored, cut, largest)
        part["target"] = is_target
        return part, cut_summary(cut, largest, len(train.pairs), part, result.warnings)

    def finish(rows, per_cut, more=()):
        if not rows:
            raise InputError(f"calibrate: {source}: no cut's fit succeeded ({'; '.join(notes)})")
        said = list(notes)
        if len(extra):
            hits = pd.concat(rows)["inside"][pd.concat(rows)["target"]]
            said.append(f"{len(extra)} target runs ({targets_source}) predicted at every cut: "
                        f"{int(hits.sum())} of {len(hits)} inside their 95% intervals")
        undefined = int(sum((~np.isfinite(part["predicted"])).sum() for part in rows))
        if undefined:
            said.append(f"{undefined} predictions undefined (x at or below the fit's E_x, where "
                        "the law says nothing): counted outside their intervals, left out of the "
                        "errors")
        checkpoints = _held_checkpoints(pd.concat(rows, ignore_index=True), lp.pairs, flops)
        if checkpoints and checkpoints["note"]:
            said.append(checkpoints["note"])
        if checkpoints:
            del checkpoints["note"]
        name = f"{relation}: {lp.label_y} from {lp.label_x}"
        result = summarize(name, source, len(lp.pairs) + len(extra), n_bootstrap, rows, per_cut,
                           observed=OBSERVED[relation], notes=[*said, *more])
        result.checkpoints = checkpoints
        return result

    chosen = cut_points(flops[trained], cuts, min_fit, units=units, min_units=MIN_UNITS)
    return calibrate_cuts(chosen, one_cut, finish, progress=progress)


def _held_checkpoints(predictions: pd.DataFrame, pairs: pd.DataFrame, flops) -> dict | None:
    """{"n_checkpoints", "n_models", "note"} where the predicted rows are checkpoints of models
    (``resampling.held_out_models``), else None: the note counts the predictions whose model has
    earlier trained checkpoints below their cut, in that cut's fit ('838 predictions of held-out
    runs' were checkpoints of models the fits had seen); the step-0 checkpoint every fit keeps
    is no training seen (``resampling.trained_rows``)."""
    if held_out_models(predictions, pairs) is None:
        return None
    models = pairs["model"].astype(str).to_numpy()
    trained = trained_rows(pairs)
    fitted = {cut: set(models[(flops < cut) & trained]) for cut in predictions["cut_flops"].unique()}
    in_fit = sum(str(m) in fitted[cut] for m, cut in
                 zip(predictions["model"], predictions["cut_flops"]))
    held = predictions.dropna(subset=["model"]).drop_duplicates(["model", "step"])
    return {"n_checkpoints": int(len(held)), "n_models": int(held["model"].astype(str).nunique()),
            "note": fitted_models_note(int(in_fit), len(predictions), "predictions")}


def _predictions(scored: pd.DataFrame, cut: float, largest: float) -> pd.DataFrame:
    """score_held_out's points in the shape of the laws' calibration predictions."""
    lo, hi = scored["pi95_lo"].to_numpy(float), scored["pi95_hi"].to_numpy(float)
    predicted = scored["predicted"].to_numpy(float)
    part = pd.DataFrame({"cut_flops": cut, "flops": scored["flops"].to_numpy(float),
                         "distance": scored["flops"].to_numpy(float) / largest})
    for key in KEEP:
        if key in scored.columns:
            part[key] = scored[key].to_numpy()
    part["x"] = scored["x"].to_numpy(float)
    part["observed"] = scored["y"].to_numpy(float)
    part["predicted"] = predicted
    part["pi95_lo"], part["pi95_hi"] = lo, hi
    part["inside"] = scored["inside_pi95"].to_numpy(bool)  # no prediction: a miss (score_held_out)
    part["relative_error"] = scored["relative_error"].to_numpy(float)
    part["interval_half_width"] = (hi - lo) / 2 / np.abs(predicted)
    return part

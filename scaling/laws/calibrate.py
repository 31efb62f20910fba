"""Calibration of a law's predictions by leave-future-out splits: fit on the runs below a compute
cut, predict every run at or above it, for several cuts; count how often the observed loss falls
inside its 95% prediction interval, and how the error grows with the distance from the data.

A prediction interval that holds covers about 95% of the held-out runs; one that covers far
fewer is too narrow (the law's form, the runs' scatter or the bootstrap misses something) and
the numbers scalefit projects from such a fit deserve less trust than their intervals say.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from scalefit.errors import InputError
from scalefit.options import bootstrap_count, nonnegative_int, positive_float, positive_int
from scalefit.scaling.laws.fit import fit_law
from scalefit.scaling.laws.projection import (NO_PI_FOR_FAR_RUN, REACH, beyond_reach, prediction_inputs,
                                              prediction_intervals)
from scalefit.scaling.laws.registry import law_for
from scalefit.scaling.laws.runtable import runs_and_source, validate_runs
from scalefit.scaling.resample import MIN_RESAMPLES_FOR_VERDICT, too_few_resamples
from scalefit.scaling.objective import HUBER_DELTA
from scalefit.scaling.outputs import percent_columns

LEVEL = 0.95
DISTANCE_BINS = (1.0, 2.0, 4.0, 10.0, 100.0, np.inf)  # multiples of the largest fitted compute


# what --json's fractions are ("units"): the numbers are fractions, 0.05 being 5%, as the CSVs keep them
FRACTION_UNITS = {
    "coverage": "fraction of the held-out observed values inside their 95% prediction intervals",
    "level": "fraction: the intervals' nominal level",
    "relative_error": "fraction: predicted / observed - 1",
    "median_abs_rel_error": "fraction: median |predicted / observed - 1|",
    "mean_abs_rel_error": "fraction: mean |predicted / observed - 1|",
    "interval_half_width": "fraction of the prediction: half the 95% prediction interval's width "
                           "over |predicted| (0.05 is +-5%)",
    "median_interval_half_width": "fraction of the prediction: the median interval_half_width",
}


@dataclass
class Calibration:
    """Leave-future-out predictions of one law and their coverage."""

    law: str
    data: str
    n_runs: int
    n_bootstrap: int
    cuts: pd.DataFrame  # per cut: flops, n_fit, n_predicted, coverage, median |rel err|
    predictions: pd.DataFrame  # per (cut, run): distance, observed, predicted, interval, inside
    by_distance: pd.DataFrame  # per distance bin: n, coverage, median and mean |rel err|
    coverage: float  # share of all predictions inside their 95% interval
    level: float = LEVEL
    notes: list[str] = field(default_factory=list)
    observed: str = "losses"  # what the intervals predict (losses, accuracies, ...)
    interrupted: str = ""  # after Ctrl-C: which cuts were finished (calibrate_cuts); "" when all were
    # a checkpoint table's held-out rows (several steps per model): {"n_checkpoints", "n_models"}
    # of the predictions, which are no runs; None for a table of runs
    checkpoints: dict | None = None
    # a law's cuts whose fit did not converge (unconverged_reason), each {cut_flops, n_fit,
    # reason}: not scored; None where nothing was judged so (a relation's calibration)
    left_out: list[dict] | None = None
    # held-out runs beyond projection.REACH x a cut's largest fitted run: no interval stated there,
    # so none scored (inside None), their point predictions and errors kept (calibrate_law;
    # unscored_words says which cuts)
    unscored: int = 0

    def __repr__(self) -> str:
        """A notebook's view: the coverage overall and by distance from the data; ``print()``
        gives the report `scalefit calibrate` prints (``to_dict()`` its --json)."""
        by = "; ".join(f"{row.distance_bin} {row.coverage:.0%} of {row.n}"
                       for row in self.by_distance.itertuples())
        dropped = f", {len(self.left_out)} more left out (fit did not converge)" if self.left_out else ""
        return (f"Calibration of {self.law} on {self.data}: {len(self.predictions)} predictions at "
                f"{len(self.cuts)} cut{'s' * (len(self.cuts) != 1)}{dropped} ({self.n_bootstrap} "
                "bootstrap draws per fit); "
                f"{self.coverage:.0%} of the observed {self.observed} inside their {self.level:.0%} "
                f"prediction intervals\n  by distance from the largest fitted run: {by}\n"
                "  print() for the report; .cuts, .by_distance, .predictions, .to_dict()")

    def __str__(self) -> str:
        from scalefit.scaling.laws.calibrate_report import calibration_text
        return calibration_text(self)

    def to_dict(self) -> dict:
        return {"law": self.law, "data": self.data, "n_runs": self.n_runs,
                "observed": self.observed,
                "n_bootstrap": self.n_bootstrap, "level": self.level,
                "coverage": self.coverage, "n_predictions": int(len(self.predictions)),
                "cuts": self.cuts.to_dict("records"),
                "by_distance": self.by_distance.to_dict("records"),
                "predictions": self.predictions.to_dict("records"), "notes": list(self.notes),
                "units": dict(FRACTION_UNITS),
                **({"cuts_left_out": list(self.left_out)} if self.left_out is not None else {}),
                **({"n_unscored_beyond_reach": self.unscored} if self.unscored else {}),
                **(self.checkpoints or {}),
                **({"interrupted": self.interrupted} if self.interrupted else {})}


def cut_points(compute, n_cuts: int, min_fit: int, *, units=None,
               min_units: int = 0, source: str = "calibrate") -> list[float]:
    """Up to ``n_cuts`` compute values to cut at, evenly spaced over the distinct computes that
    leave at least ``min_fit`` runs below the cut and at least one at or above it.

    units: each row's resampling unit (the model of a checkpoint table); a cut must then also
    leave ``min_units`` distinct units below it (a bootstrap of one model's checkpoints has
    nothing to vary)."""
    compute = np.asarray(compute, float)
    distinct = np.unique(compute)
    units = None if units is None else np.asarray(units)
    usable = [c for c in distinct if np.sum(compute < c) >= min_fit
              and (units is None or np.unique(units[compute < c]).size >= min_units)]
    if not usable:
        needs = f"{min_fit} runs" + (f" of {min_units} models" if units is not None else "")
        raise InputError(f"{source}: no compute cut leaves {needs} to fit ({compute.size} "
                         f"run{'s' * (compute.size != 1)}, {distinct.size} distinct "
                         f"compute{'s' * (distinct.size != 1)}); a cut fits the runs below it "
                         f"and predicts those at or above it, so calibrating needs {min_fit} runs "
                         "below a distinct compute: give more runs (or, in Python, a smaller "
                         "min_fit)")
    picks = np.unique(np.round(np.linspace(0, len(usable) - 1, min(n_cuts, len(usable)))))
    return [float(usable[int(i)]) for i in picks]


# parameters whose bound is a value the law lets the runs choose: a loss floor E at 0 (no floor),
# Muennighoff's R*_D, R*_N at their caps (no repetition felt). Any other parameter on a bound (an
# exponent at 1e-4 or 3, a scale at exp(-50)) leaves its term flat or gone, and the term's other
# parameter is then fixed by nothing in the runs
BOUND_CHOSEN = ("E", "R_D_star", "R_N_star")
# a term that moves no fitted run's loss by a thousandth of the loss's range across them is below
# any run's measurement error (loss standard errors ~1e-3 nats and more, ranges ~1 nat): no run sees
# it, so its exponent is fixed by nothing (the smallest term of any cut of the shipped grid's or
# Epoch's runs, every law: 0.54 of the range)
NEGLIGIBLE_TERM = 1e-3


def unconverged_reason(result, table=None) -> str | None:
    """Why a cut's fit is no fit to score, or None where it is one: the optimizer did not
    converge, a parameter or the objective is not finite, a parameter (one not in BOUND_CHOSEN)
    ended on a bound, or (with the fitted runs' ``table``) a term ended inside its bounds too
    small for any run to see (``vanished_terms``): either leaves the fit unidentified. Such a
    fit's predictions test the optimizer's stopping point, not the law, so calibrate_law leaves
    its cut out."""
    from scalefit.scaling.laws.identifiability import bound_status
    values = result.values()
    if not result.converged:
        message = getattr(result.model_result, "message", "") or ""
        return "the optimizer did not converge" + (f" ({message})" if message else "")
    bad = [name for name, value in values.items() if not np.isfinite(value)]
    if bad or not np.isfinite(result.objective):
        return (f"parameter {', '.join(bad)} not finite" if bad else "the objective is not finite")
    on_bound = {name: status for name in values if name not in BOUND_CHOSEN
                and (status := bound_status(name, result.warnings))}
    bound = [f"{name} {status}" for name, status in on_bound.items()]
    gone = []
    if table is not None:  # a term's exponent on a bound is said there already
        terms = law_for(result.law).terms
        gone = [words for scale, words in vanished_terms(result, table)
                if scale not in on_bound and terms[scale] not in on_bound]
    if not bound and not gone:
        return None
    parts = ([f"parameter{'s' * (len(bound) > 1)} {', '.join(bound)}"] if bound else []) + gone
    return f"{'; '.join(parts)}: a term of the law flat or gone, so the fit is not identified"


def vanished_terms(result, table) -> list[tuple[str, str]]:
    """(scale, words) for each term of the fitted law (its ``terms``) whose largest
    contribution to the fitted runs' loss (the loss less the loss without it, its scale set to
    0, each predicted as the held-out runs are: ``projection.table_predictions``) is at most
    NEGLIGIBLE_TERM of the loss's range across them: a term driven to ~0 inside its bounds
    (Chinchilla's B at 1e-9), whose exponent the runs then leave arbitrary. A law of one term
    has no other to stand in for it, and is not judged."""
    from scalefit.scaling.laws.projection import table_predictions
    terms = law_for(result.law).terms
    values = result.values()
    spread = float(np.ptp(table.L)) if len(table.L) > 1 else 0.0
    if len(terms) < 2 or not spread > 0:
        return []
    with np.errstate(all="ignore"):
        full = table_predictions(result, table, values)
        out = []
        for scale, exponent in terms.items():
            without = table_predictions(result, table, {**values, scale: 0.0})
            largest = float(np.max(np.abs(full - without))) / spread
            if largest <= NEGLIGIBLE_TERM:  # NaN (a term that cannot be removed) is kept
                out.append((scale, f"term {scale} (exponent {exponent}) moves the "
                                   f"fitted runs' loss by at most {largest:.1g} of its range "
                                   f"across them (under {NEGLIGIBLE_TERM:g})"))
    return out


def left_out_words(left_out: list[dict], n_cuts: int) -> str:
    """'1 of 4 cuts left out: fit did not converge (cut 1e+18, 6 runs fitted: ...)': the cuts
    whose fit is no fit (unconverged_reason), each with why."""
    which = "; ".join(f"cut {row['cut_flops']:.3g}, {row['n_fit']} runs fitted: {row['reason']}"
                      for row in left_out)
    return f"{len(left_out)} of {n_cuts} cuts left out: fit did not converge ({which})"


def unscored_words(unscored: list[dict]) -> str:
    """'2 predictions beyond 1000x the largest fitted run's compute left unscored (cut 5.15e+18:
    2): ...': the held-out runs ``calibrate_law`` states no interval for
    (``projection.NO_PI_FOR_FAR_RUN``), so scores none; their point predictions and errors stay in
    the tables and the errors, as fit/compare --holdout keep them; '' where there were none."""
    total = sum(row["n"] for row in unscored)
    if not total:
        return ""
    where = ", ".join(f"cut {row['cut_flops']:.3g}: {row['n']}" for row in unscored)
    return (f"{total} prediction{'s' * (total != 1)} beyond {REACH:g}x the largest fitted run's compute "
            f"left unscored ({where}): in the tables and the errors, not in the coverage "
            f"(inside blank, null in --json); {NO_PI_FOR_FAR_RUN}")


def scored_inside(inside) -> np.ndarray:
    """The scored values of an ``inside`` column (bools): a prediction with no interval (None,
    beyond REACH) is left out."""
    return np.array([bool(v) for v in inside if v is not None and not (isinstance(v, float) and np.isnan(v))],
                    bool)


def coverage_of(inside) -> float:
    """The share of the scored predictions inside their interval (``scored_inside``); NaN with none."""
    scored = scored_inside(inside)
    return float(scored.mean()) if scored.size else float("nan")


def _bins(distance: np.ndarray) -> list[str]:
    labels = []
    for d in distance:
        for lo, hi in zip(DISTANCE_BINS[:-1], DISTANCE_BINS[1:]):
            if lo < d <= hi or (d <= lo and lo == DISTANCE_BINS[0]):
                labels.append(f"{lo:g}-{hi:g}x" if np.isfinite(hi) else f">{lo:g}x")
                break
    return labels


def calibrate_law(runs: pd.DataFrame, law: str, *, cuts: int = 4, n_bootstrap: int = 200,
                  seed: int = 0, loss: str = "loss", delta: float = HUBER_DELTA,
                  min_fit: int | None = None, source: str = "<run table>",
                  progress: bool = False) -> Calibration:
    """How far ``law``'s 95% prediction intervals can be trusted on ``runs`` (a run table as
    ``fit_law`` takes it): what `scalefit calibrate LAW` reports. The law is fitted to the runs
    below each of up to ``cuts`` compute cuts and predicts every run at or above it; the share of
    observed losses inside their intervals (``coverage``, overall and by distance from the
    largest fitted run in ``by_distance``) should be near 95%, and where it falls short the
    projections the law makes at that distance deserve less trust than their intervals say.

    n_bootstrap: resamples per fit (at least 2; the intervals come from the law's draws).
    min_fit: runs a fit needs below a cut (default: 2 per parameter, at least parameters + 3).
    A cut whose fit did not converge (``unconverged_reason``) is left out of the scores, listed in
    ``left_out`` and said in a note; with every cut left out there is nothing to score (InputError).
    Ctrl-C (or SIGTERM) once a cut has finished raises ``signals.Interrupted`` whose ``partial``
    is the calibration of the cuts finished (calibrate_cuts), its ``interrupted`` line saying so.
    """
    model = law_for(law)
    if not model.predicts_loss:
        raise InputError(f"calibrate: law {model.law_name} predicts no loss to check")
    if bootstrap_count("n_bootstrap (--bootstrap)", n_bootstrap) < 2:
        raise InputError("calibrate: --bootstrap: at least 2 resamples (the intervals need "
                         "the law's draws)")
    cuts = positive_int("cuts (--cuts)", cuts)
    seed = nonnegative_int("seed (--seed)", seed)
    delta = positive_float("delta (--delta)", delta)
    default_fit = max(2 * model.n_free, model.n_free + 3)
    min_fit = default_fit if min_fit is None else positive_int("min_fit", min_fit)
    if min_fit <= model.n_free:  # the first cut's fit was refused, and the whole calibration with it
        raise InputError(f"min_fit: {min_fit} runs cannot fit law {model.law_name}'s "
                         f"{model.n_free} parameters; expected at least {model.n_free + 1} "
                         f"(default {default_fit})")
    runs, source = runs_and_source(runs, source)
    table = validate_runs(runs, model.law_name, loss=loss, source=source)
    if "C" not in table.frame.columns or not np.isfinite(table.C).all():  # KeyError 'C', or
        # 'no compute cut leaves 5 runs to fit (20 runs, 1 distinct computes)' of all-NaN flops
        raise InputError(f"calibrate: {source} gives no compute (flops, or params and tokens) "
                         "for every run; the runs are cut by compute, so it needs one")
    skipped, left_out = [], []
    unscored = []  # per cut: {cut_flops, n} held-out runs beyond REACH x its largest fitted run
    chosen = cut_points(table.C, cuts, min_fit, source=f"calibrate {model.law_name}: {source}")
    if len(chosen) < cuts:
        skipped.append(f"{cuts} cuts asked for; these runs allow {len(chosen)} (a cut is a "
                       f"distinct compute with at least {min_fit} runs below it and one at or "
                       "above it)")

    def one_cut(cut):
        fit_rows = table.C < cut
        train = validate_runs(runs.iloc[np.flatnonzero(fit_rows)], model.law_name, loss=loss,
                              source=source)
        held = validate_runs(runs.iloc[np.flatnonzero(~fit_rows)], model.law_name, loss=loss,
                             source=source, check_size=False)
        try:  # the runs below a cut may not vary in N or D although the whole table does
            result = fit_law(train, model.law_name, loss=loss, delta=delta,
                             n_bootstrap=n_bootstrap, seed=seed, progress=progress)
        except InputError as exc:
            skipped.append(f"cut {cut:.3g}: not fitted ({exc})")
            return None
        reason = unconverged_reason(result, train)
        if reason is not None:  # its predictions would score where the optimizer stopped
            left_out.append({"cut_flops": float(cut), "n_fit": int(fit_rows.sum()),
                             "reason": reason})
            return None
        largest = float(train.C.max())
        distance = held.C / largest
        pi = prediction_intervals(result, *prediction_inputs(result, held), level=LEVEL, seed=seed,
                                  independent_points=True,  # a coverage wants independent draws
                                  times_largest_run=distance,  # none beyond REACH, as budgets
                                  **held.variables(model.extra_variables()))
        observed = held.L
        predicted = np.asarray(pi["predicted"])
        lo, hi = np.asarray(pi["pi95_lo"]), np.asarray(pi["pi95_hi"])
        inside = (observed >= lo) & (observed <= hi)
        rel = (predicted - observed) / observed
        part = pd.DataFrame({"cut_flops": cut, "flops": held.C,
                             "distance": distance, **_sizes(held),
                             "observed": observed, "predicted": predicted, "pi95_lo": lo,
                             "pi95_hi": hi, "inside": inside, "relative_error": rel,
                             "interval_half_width": (hi - lo) / 2 / predicted})
        far = beyond_reach(distance, 1.0)  # as prediction_intervals read it: no interval stated
        if far.any():  # drawn with the rest (the others' draws unmoved); kept, left unscored
            unscored.append({"cut_flops": float(cut), "n": int(far.sum())})
            part["inside"] = [None if f else bool(i) for i, f in zip(inside, far)]
        summary = cut_summary(cut, largest, int(fit_rows.sum()), part, result.warnings)
        scatter = pi["pi95_scatter"]  # the runs' scatter the intervals drew (scatter.py)
        summary.update({"pi95_scatter": scatter["model"],
                        "scatter_slope": scatter.get("slope_log_sd_per_log_N", float("nan"))})
        return part, summary

    def finish(rows, per_cut, notes=()):
        dropped = left_out_words(left_out, len(chosen)) if left_out else ""
        far = unscored_words(unscored)
        if not rows and left_out:  # no prediction to score: said, not a coverage of NaN
            raise InputError(f"calibrate {model.law_name}: {source}: no prediction to score: "
                             + "; ".join([dropped, *skipped]))
        if dropped:  # said where the coverage and the errors are read
            dropped += "; their predictions are not in the coverage or the errors"
        if not rows:
            raise InputError(f"calibrate: no cut could be fitted; first: {skipped[0]}" if skipped else
                             "calibrate: no cut leaves enough runs to fit")
        said = [*([dropped] if dropped else []), *([far] if far else []), *skipped,
                *unbounded_note(pd.concat(rows, ignore_index=True)), *notes]
        result = summarize(model.law_name, source, len(runs), n_bootstrap, rows, per_cut, notes=said)
        result.left_out = list(left_out)
        result.unscored = sum(row["n"] for row in unscored)
        return result

    return calibrate_cuts(chosen, one_cut, finish, progress=progress)


def calibrate_cuts(cuts, one_cut, finish, *, progress: bool = False) -> Calibration:
    """``one_cut(cut)`` for each compute cut, under a progress bar (the cuts' fits are seconds to
    minutes of bootstrap each), collecting the (predictions, summary row) each returns (None:
    the cut was left out); ``finish(rows, per_cut, notes)`` makes the Calibration of them. Laws
    and relations calibrate through it. Ctrl-C (or SIGTERM) once a cut has been scored raises
    ``signals.Interrupted`` carrying the calibration of the cuts finished (the lowest), its
    ``interrupted`` line (``interrupted_line``) counting every cut finished, scored or left
    out, as a command prints and writes it; one before any cut was scored, an ``Interrupted``
    without a ``partial``. Once every cut is finished a stop waits, in a command's
    ``signals.deferring_signals`` block, until the calibration is printed and written."""
    from tqdm import tqdm

    from scalefit.signals import Interrupted, results_ready

    rows, per_cut, scored = [], [], []  # scored: one entry per cut finished, whether it was scored
    with tqdm(total=len(cuts), desc="calibrate", unit="cut", disable=not progress,
              leave=False) as bar:
        try:  # the whole loop: a stop in the bar's update, after a cut's appends, keeps that cut
            for cut in cuts:
                fitted = one_cut(cut)
                scored.append(fitted is not None)  # one append: the cut is finished
                if fitted is not None:
                    rows.append(fitted[0])
                    per_cut.append(fitted[1])
                bar.update()
            results_ready()  # every cut finished: a stop now waits until they are printed and written
        except KeyboardInterrupt:
            # the cuts the partial calibration holds, not the loop's index (which missed a cut
            # whose rows were appended before the stop; a stop between the appends drops it)
            kept = min(len(rows), len(per_cut))
            left_out = len(scored) - sum(scored)  # finished, and left out (None)
            finished = kept + left_out
            if not kept:  # nothing to show: the command says how far it got
                raise Interrupted(None, finished, len(cuts), "compute cuts") from None
            line = interrupted_line(finished, left_out, len(cuts))
            partial = finish(rows[:kept], per_cut[:kept], [line])
            partial.interrupted = line
            raise Interrupted(partial, finished, len(cuts), "compute cuts") from None
    return finish(rows, per_cut)


def interrupted_line(finished: int, left_out: int, total: int) -> str:
    """'interrupted after 3 of 4 compute cuts (the lowest; 1 of them left out, as a note says):
    the coverage counts only the predictions of the 2 scored': every cut finished, the ones
    left out (no fit to score, or not fitted) among them. It counted the scored cuts only, so a
    cut left out read as one not reached."""
    if not left_out:
        return (f"interrupted after {finished} of {total} compute cuts (the lowest): the coverage "
                "counts only their predictions")
    return (f"interrupted after {finished} of {total} compute cuts (the lowest; {left_out} of them "
            f"left out, as a note says): the coverage counts only the predictions of the "
            f"{finished - left_out} scored")


def _sizes(held) -> dict:
    """The held-out runs' N and D for the predictions table; NaN where the table has only flops
    (kaplan-c on a flops column was a KeyError 'N')."""
    nan = np.full(len(held.frame), np.nan)
    return {v: held.frame[v].to_numpy(float) if v in held.frame.columns else nan for v in ("N", "D")}


UNBOUNDED_HALF_WIDTH = 1.0  # a loss interval wider than the predicted loss on each side


def unbounded_note(predictions: pd.DataFrame) -> list[str]:
    """A note when some loss intervals are wider than the prediction itself (an unidentified fit
    drawn far from its runs: Epoch's lowest cut gave [0, inf]): they hold any loss, so the
    coverage counts them inside without testing them; says which cuts and the rest's coverage."""
    scored = predictions["inside"].notna().to_numpy()  # beyond REACH: no interval, no width
    width = predictions["interval_half_width"].to_numpy(float)[scored]
    wide = ~(width <= UNBOUNDED_HALF_WIDTH)
    if not wide.any():
        return []
    predictions = predictions[scored]
    infinite = int(np.sum(~np.isfinite(width)))
    cuts = ", ".join(f"{c:.3g}" for c in np.unique(predictions["cut_flops"][wide]))
    rest = predictions["inside"].to_numpy(bool)[~wide]
    tail = (f"the other {rest.size}: {rest.mean():.0%} inside" if rest.size
            else "no other prediction to test")
    return [f"{int(wide.sum())} of {len(width)} prediction intervals are wider than the predicted "
            f"loss itself (half-width over {UNBOUNDED_HALF_WIDTH:.0%}"
            + (f"; {infinite} unbounded" if infinite else "") + f"; cut {cuts}): they hold any "
            f"loss, so the coverage counts them inside without testing them ({tail})"]


UNBOUNDED = "unbounded"  # how a table shows an infinite median half-width (null in --json)


def unbounded_median_note(by_distance: pd.DataFrame) -> list[str]:
    """A note naming the distance bins whose median interval half-width is infinite (most of
    their intervals unbounded): the table shows them as 'unbounded' and --json as null, where a
    bare '-' or null read as 'not computed' (Epoch's runs at >100x from the lowest cut)."""
    width = by_distance["median_interval_half_width"].to_numpy(float)
    bins = [str(b) for b, w in zip(by_distance["distance_bin"], width) if np.isinf(w)]
    if not bins:
        return []
    return [f"median_interval_half_width of the {', '.join(bins)} bin{'s' if len(bins) > 1 else ''}: "
            f"{UNBOUNDED} (at least half of its intervals have no upper end; null in --json)"]


def shown_by_distance(by_distance: pd.DataFrame) -> pd.DataFrame:
    """The by-distance table as the terminal and report.md print it: coverage, errors and
    half-widths as the percentages the cut table beside it prints (they printed fractions,
    0.01342 under the cut table's 1.34%); an infinite median half-width reads 'unbounded' (the
    tables printed '-' and a blank cell). by_distance.csv and --json keep the fractions."""
    width = "median_interval_half_width"
    shown = percent_columns(by_distance, shares=["coverage"],
                            errors=["median_abs_rel_error", "mean_abs_rel_error", width])
    shown.loc[np.isinf(by_distance[width].to_numpy(float)), width] = UNBOUNDED
    return shown


MIN_PREDICTIONS_FOR_COVERAGE = 20  # one prediction is 5 points of coverage: coarser says nothing of 95%


def cut_summary(cut: float, largest: float, n_fit: int, part: pd.DataFrame,
                warnings=()) -> dict:
    """One cut's row of ``Calibration.cuts`` from its predictions (``part``); ``n_unscored`` (the
    predictions with no interval, beyond REACH, out of the coverage) where there are any."""
    unscored = int(part["inside"].isna().sum())
    return {"cut_flops": float(cut), "largest_fitted_flops": float(largest), "n_fit": n_fit,
            "n_predicted": int(len(part)), **({"n_unscored": unscored} if unscored else {}),
            "max_distance": float(part["distance"].max()),
            "coverage": coverage_of(part["inside"]),  # NaN where no prediction has an interval
            "median_abs_rel_error": float(part["relative_error"].abs().median()),
            "warnings": "; ".join(warnings)}


def summarize(name: str, source: str, n_runs: int, n_bootstrap: int, rows: list[pd.DataFrame],
              per_cut: list[dict], *, observed: str = "losses",
              notes: list[str] | None = None) -> Calibration:
    """A Calibration from each cut's predictions (distance, inside, relative_error,
    interval_half_width per held-out point) and its summary row; shared by laws and relations."""
    predictions = pd.concat(rows, ignore_index=True)
    predictions["distance_bin"] = _bins(predictions["distance"].to_numpy())
    by = (predictions.assign(abs_err=predictions["relative_error"].abs())
          .groupby("distance_bin", sort=False)
          .agg(n=("inside", "size"), coverage=("inside", coverage_of),
               median_abs_rel_error=("abs_err", "median"),
               mean_abs_rel_error=("abs_err", "mean"),
               median_interval_half_width=("interval_half_width", "median"),
               min_distance=("distance", "min"))
          .sort_values("min_distance").drop(columns="min_distance").reset_index())
    if predictions["inside"].isna().any():  # beyond REACH: in n and the errors, not the coverage
        unscored = predictions["inside"].isna().groupby(predictions["distance_bin"]).sum()
        by.insert(2, "n_unscored", by["distance_bin"].map(unscored).astype(int))
    cuts = pd.DataFrame(per_cut)
    if "n_unscored" in cuts.columns:
        cuts["n_unscored"] = cuts["n_unscored"].fillna(0).astype(int)
    n = int(scored_inside(predictions["inside"]).size)  # the coverage's: scored predictions
    notes = ([f"{len(per_cut)} cuts; a run above several cuts is predicted once per cut, so the "
              "predictions are not independent"] if len(per_cut) > 1 else []) + list(notes or [])
    notes += unbounded_median_note(by)
    if n < MIN_PREDICTIONS_FOR_COVERAGE:  # 1 of 1 read '100% (nominal 95%)' as if it were tested
        notes.append(f"{n} prediction{'s' if n != 1 else ''}: one more miss moves the coverage by "
                     f"{100 / n:.3g} points, too few to test 95%")
    if too_few_resamples(n_bootstrap):
        notes.append(f"{n_bootstrap} resamples per fit: the 95% intervals are rough, so their coverage says "
                     f"little; use --bootstrap {2 * MIN_RESAMPLES_FOR_VERDICT} or more")
    return Calibration(law=name, data=source, n_runs=int(n_runs), n_bootstrap=n_bootstrap,
                       cuts=cuts, predictions=predictions, by_distance=by,
                       coverage=coverage_of(predictions["inside"]), notes=notes,
                       observed=observed)

"""Fit a schedule-aware law to loss curves and predict the curve of another schedule.

``fit_curves`` fits a registry law (momentum, multi-power, or their by-size variants) to every
point of ``LossCurves`` with the field's objective (Huber(1e-3) on log residuals, summed; the
starts by variable projection, see `schedule_law.py`) and returns a ``FitResult``. Bootstrap:
with two runs or more, whole runs (curves) are resampled, since the points of one curve are not
independent; with one run, blocks of consecutive checkpoints. Each resample is refitted from the
full-data optimum. ``predict_curve`` gives the fitted law's loss at each step of a schedule and,
where a measured curve is given, the error per point.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from scalefit.errors import InputError, a_type
from scalefit.options import (bootstrap_count, finite_float, nonnegative_int, positive_float)
from scalefit.schedule import LRSchedule, lr_at_step
from scalefit.schema import checked_steps
from scalefit.scaling.fitresult import (FitResult, ParamEstimate, attach_intervals, bound_warnings,
                                        curvature_stderr, settle_covariance)
from scalefit.scaling.laws.bootstrap import LSQ_OPTIONS, lmfit_limit_kept, stacked_lmfit_jacobian
from scalefit.scaling.laws.curves import LossCurves, curves_from_schedules
from scalefit.scaling.laws.fit import MAX_NFEV, SAME_OPTIMUM_RTOL
from scalefit.scaling.laws.identifiability import ZERO, annotate
from scalefit.scaling.laws.registry import law_for
from scalefit.scaling.laws.schedule_areas import first_trained_step, lr_drops, warmup_end
from scalefit.scaling.objective import HUBER_DELTA, huber
from scalefit.scaling.resample import pairs_bootstrap


def _fit_one(model, params, log_loss, indep, delta, *, stacked=False):
    """lmfit's Huber fit of log loss from ``params``; ``stacked``: the Jacobian's points in one
    call of the law's formula where it broadcasts (``stacked_lmfit_jacobian``: the same numbers,
    lmfit's evaluation limit kept by ``lmfit_limit_kept``)."""
    def fit(stacked_kws):
        fit_kws = dict(LSQ_OPTIONS, f_scale=delta, **stacked_kws)
        fit_kws.pop("method")
        with warnings.catch_warnings():  # lmfit's stderr of a parameter on a bound: NaN, said so
            warnings.simplefilter("ignore", RuntimeWarning)
            return model.fit(log_loss, params, method="least_squares", fit_kws=fit_kws,
                             max_nfev=MAX_NFEV, **indep)

    result = lmfit_limit_kept(fit, stacked_lmfit_jacobian(model, params, log_loss, indep) if stacked else {},
                              params, MAX_NFEV)
    settle_covariance(result)
    return result


def _fit_starts(model, starts, log_loss, indep, delta):
    """[(Huber objective, lmfit result)] of every start, lowest first (the first of equals). A
    by-size law's Jacobian is not stacked: its N ** -a takes numpy's scalar shortcut (1/N at
    a = 1) that a column of a does not."""
    fits = []
    for params in starts:
        res = _fit_one(model, params, log_loss, indep, delta, stacked=not model.by_size)
        fits.append((float(np.sum(huber(res.residual, delta))), res))
    fits.sort(key=lambda t: t[0])
    return fits


def _check(curves: LossCurves, model) -> None:
    if not np.all(np.isfinite(curves.loss)) or curves.loss.size == 0:
        raise InputError("loss curves: every fitted point needs a measured loss")
    if curves.loss.size <= model.n_free:  # lmfit crashed on one point, or "fitted" it exactly
        raise InputError(f"loss curves: {curves.loss.size} checkpoint(s) to fit ("
                         f"{', '.join(curves.names)}, from the first fitted step on); law "
                         f"{model.law_name} needs at least {model.n_free + 1} for its "
                         f"{model.n_free} parameters")
    if model.by_size:
        lacking = [f"run {name} has {'none' if np.isnan(n) else f'{n:g}'}"
                   for name, n in zip(curves.names, curves.params)
                   if not (np.isfinite(n) and n > 0)]
        if lacking:  # N = 0, < 0 or inf was a numpy or lmfit traceback from inside the fit
            raise InputError(f"law {model.law_name}: needs each run's model size N, a finite "
                             f"number > 0 (a 'params' column): {', '.join(lacking)}")
        if np.unique(curves.params).size < 3:
            raise InputError(f"law {model.law_name}: needs runs of 3 model sizes or more, got "
                             f"{np.unique(curves.params).size}")
    else:
        mixed = mixed_sizes(dict(zip(curves.names, curves.params)), law=model.law_name)
        if mixed:
            raise InputError(f"loss curves: {mixed}")


def mixed_sizes(sizes: dict, *, law: str | None = None) -> str | None:
    """What a schedule law of one size says of runs of several ({run: N}, NaN unknown), else
    None: it shares L0 and A among them. What to fit instead in the caller's words: the command's
    (--by-size, --model) when ``law`` is None, else the Python API's (law '<law>-n', runs of one
    size)."""
    by_n: dict[float, list[str]] = {}
    for name, n in sizes.items():
        if np.isfinite(n):
            by_n.setdefault(float(n), []).append(str(name))
    if len(by_n) < 2:
        return None
    lo, hi = min(by_n), max(by_n)
    smallest = sorted(by_n[lo])
    if law is None:
        who, by_size = "without --by-size a schedule law", "pass --by-size"
        some = "--model RUN[,RUN] with"
        example = f"--model {smallest[0]}"
    else:
        who, by_size, some = f"law {law}", f"fit law {law}-n, its by-size form", "the curves of"
        example = f"run {smallest[0]}"
    return (f"the {len(sizes)} runs to fit have {len(by_n)} sizes (N = {lo:.4g} to {hi:.4g}); "
            f"{who} fits runs of one size: {by_size} (L0 and A as power laws of N, one fit for "
            f"them all), or {some} runs of one size, e.g. {example} (N = {lo:.4g}, "
            f"{len(smallest)} run{'s' * (len(smallest) > 1)} of that size)")


def _lr_falls(curves: LossCurves) -> bool:
    """Whether any run's LR falls after its warmup at or before its last point fitted."""
    for r in np.unique(curves.run):
        last = int(np.max(curves.step[curves.run == r]))
        if np.any(lr_drops(curves.etas[r][: last + 1]) > 0):
            return True
    return False


def bootstrap_units(curves: LossCurves) -> tuple[list[np.ndarray], str]:
    """The resampling units: each run's points, or blocks of consecutive checkpoints of one."""
    present = np.unique(curves.run)
    if present.size >= 2:
        return [np.flatnonzero(curves.run == r) for r in present], "whole runs"
    order = np.argsort(curves.step)
    size = max(2, int(round(order.size ** (1 / 3))))
    blocks = [order[i:i + size] for i in range(0, order.size, size)]
    return blocks, f"blocks of {size} consecutive checkpoints"


def refuse_decay_without_one(law: str, lam, option: str) -> None:
    """InputError when a momentum decay ``lam`` is given for a law without one (multi-power),
    which would leave it unused; ``option`` names it in its user's words: 'lam (--lambda)' for
    a Python call, '--lambda' for a command, which checks it before reading its table."""
    model = law_for(law)
    if lam is not None and not hasattr(model, "lam"):
        raise InputError(f"{option}: law {model.law_name} has no momentum decay")


def momentum_decay(option: str, lam) -> float:
    """The momentum law's decay lambda: a number in [0, 1) (at 1 its S2 never forgets an LR
    drop); ``option`` names it in its user's words: 'lam (--lambda)' for a Python call,
    '--lambda' for a command, which checks it before reading its table."""
    lam = finite_float(option, lam)
    if not 0.0 <= lam < 1.0:
        raise InputError(f"{option}: must be in [0, 1), got {lam}")
    return lam


def fit_curves(curves: LossCurves, law: str, *, delta: float = HUBER_DELTA,
               n_bootstrap: int = 200, seed: int = 0, progress: bool = False,
               lam: float | None = None) -> FitResult:
    """Fit the schedule law ``law`` to every point of ``curves`` (``LossCurves``, from
    ``curves.curves_from_table(curves.loss_rows(table))``; a checkpoint table itself goes to
    ``fit_law(table, law)``); ``lam``: the momentum law's
    decay lambda (default Tissue et al.'s 0.999), held fixed. ``n_bootstrap`` resamples give the
    95% intervals (200 as `scalefit fit schedule-law` takes; 0 for a quick point fit)."""
    if not isinstance(curves, LossCurves):
        raise InputError(f"curves: got {a_type(curves)}; give LossCurves (curves.curves_from_table"
                         "(curves.loss_rows(table)) builds them), or fit a checkpoint table (model, "
                         "step, lr, loss) with fit_law(table, law)")
    model = law_for(law)
    if not hasattr(model, "independent_values"):
        raise InputError(f"law '{law}' does not read an LR schedule (choose momentum or "
                         "multi-power)")
    if lam is not None:
        refuse_decay_without_one(model.law_name, lam, "lam (--lambda)")
        model.lam = momentum_decay("lam (--lambda)", lam)
    delta = positive_float("delta (--delta)", delta)
    n_bootstrap = bootstrap_count("n_bootstrap (--bootstrap)", n_bootstrap)
    seed = nonnegative_int("seed (--seed)", seed)
    _check(curves, model)
    indep = model.independent_values(curves)
    log_loss = np.log(curves.loss)
    fits = _fit_starts(model, model.starts(curves.loss, k=model.n_refined, delta=delta, **indep),
                       log_loss, indep, delta)
    if not fits:
        raise InputError(f"law {model.law_name}: no finite start on these curves")
    best_obj, best = fits[0]
    converged = bool(best.success)
    params = {}
    for name in model.paper_names:
        p = best.params[name]
        params[name] = ParamEstimate(float(p.value), curvature_stderr(p, best.errorbars))
    warnings = bound_warnings(best.params)
    if curves.loss.size < 3 * model.n_free:
        warnings.append(f"too few points: {curves.loss.size} for {model.n_free} parameters")
    if not converged:
        warnings.append(f"optimizer did not converge: {best.message}")
    if model.annealing and not _lr_falls(curves):  # those values are the grid's starts
        warnings.append(f"not estimated: {', '.join(model.annealing)}; the LR of the runs fitted "
                        "never falls after warmup before their last checkpoint fitted, so the "
                        "annealing term is 0 at every point (fit runs whose LR decays)")
    for scale, carried in model.carried.items():  # e.g. A at 1e-12: alpha moves nothing
        if f"parameter {scale} is at its lower bound" in warnings:
            warnings.append(f"not estimated: {', '.join(carried)}; {scale} is at its lower bound, "
                            "so the term they shape is 0 at every point")
    pred = np.exp(log_loss - np.asarray(best.residual))
    rel = np.abs(pred - curves.loss) / curves.loss
    extra = {"runs": list(curves.names), "n_runs": curves.n_runs,
             "lr_scale": curves.lr_scale, "delta": delta,
             "rmse_log": float(np.sqrt(np.mean(np.asarray(best.residual) ** 2))),
             "mean_abs_rel_error": float(rel.mean()), "max_abs_rel_error": float(rel.max()),
             "n_starts": len(fits), "n_starts_at_best": sum(  # as fit_law counts them
                 obj - best_obj <= SAME_OPTIMUM_RTOL * max(abs(best_obj), 1e-12) for obj, _ in fits)}
    if hasattr(model, "lam"):
        extra["lambda"] = model.lam
    result = FitResult(law=model.law_name, params=params, n_points=int(curves.loss.size),
                       objective=best_obj, converged=converged, warnings=warnings, extra=extra,
                       model_result=best, components={"curves": curves})
    if n_bootstrap > 0:
        _bootstrap(result, model, curves, best.params, delta, n_bootstrap, seed, progress)
    return annotate(result)  # what the runs do not pin down, as every law fit says it


def _bootstrap(result, model, curves, start, delta, n_bootstrap, seed, progress):
    units, unit_name = bootstrap_units(curves)

    def refit(idx):
        sub = curves.select(np.concatenate([units[i] for i in idx]))
        try:
            _check(sub, model)
            res = _fit_one(model, start.copy(), np.log(sub.loss), model.independent_values(sub),
                           delta)
        except (InputError, ValueError, FloatingPointError):
            return None
        if not res.success:
            return None
        # a refit on its bound at 0 ends at 2e-16 (lmfit's bound transform), printed as an interval
        # [2.113e-16, 3.589] beside the table's [0, 3.6]: it is the bound, 0
        return {name: _at_floor(res.params[name]) for name in model.paper_names}

    draws, failed = pairs_bootstrap(len(units), n_bootstrap, seed, refit, model.paper_names,
                                    progress=progress, desc=f"bootstrap {model.law_name}")
    attach_intervals(result, draws)
    result.extra["bootstrap"] = {"n": n_bootstrap, "n_failed": failed, "resampled": unit_name,
                                 "n_units": len(units)}
    if failed > 0.05 * n_bootstrap:
        result.warnings.append(f"{failed} of {n_bootstrap} bootstrap refits did not converge")


def _at_floor(param) -> float:
    """An lmfit parameter's value, 0 where its lower bound is 0 and it ends within ZERO of it."""
    value = float(param.value)
    return 0.0 if param.min == 0 and abs(value) <= ZERO else value


def law_of(result: FitResult):
    """The fitted law, with the fixed settings it was fitted with (the momentum decay)."""
    model = law_for(result.law)
    if "lambda" in result.extra:
        model.lam = result.extra["lambda"]
    return model


class NoPrediction(InputError):
    """The fitted law's loss falls to 0 (or is not finite) at ``step`` of the schedule asked for:
    far beyond the fitted LRs, steps or sizes the law's form holds no floor."""

    def __init__(self, message: str, step: int, lr: float):
        super().__init__(message)
        self.step, self.lr = step, lr  # the first step without a loss; the schedule's largest LR


@dataclass
class CurvePrediction:
    """A predicted loss curve beside the measured one (where given), with its errors: the mean,
    max and last |relative error| (fractions) against the measured losses."""

    points: pd.DataFrame  # step, lr, predicted[, ci95_lo, ci95_hi], kind[, measured, error, ...]
    mean_abs_rel_error: float = float("nan")
    max_abs_rel_error: float = float("nan")
    final_abs_rel_error: float = float("nan")
    scored_from: int | None = None  # the mean and max count the steps from here on
    scored_from_why: str = ""  # what that step is, in words (scored_from_step)

    def __repr__(self) -> str:
        """A notebook's view: the steps predicted and, against a measured curve, the errors
        (as the commands print them: outputs.error_percent)."""
        from scalefit.scaling.outputs import error_percent

        steps = self.points["step"]
        text = f"CurvePrediction of {len(steps)} steps ({steps.min()} to {steps.max()})"
        if "scored" in self.points:
            n = int(self.points["scored"].sum())
            start = ("" if self.scored_from is None else
                     f" (from step {self.scored_from}: {self.scored_from_why})")
            text += (f"; |relative error| over the {n} scored steps{start}: mean "
                     f"{error_percent(self.mean_abs_rel_error)}, max {error_percent(self.max_abs_rel_error)}" if n else
                     "; no step at or past from_step, so no error is scored (mean, max NaN)")
            text += f"; at the last step {error_percent(self.final_abs_rel_error)}"
        return text + "\n  .points (one row per step), .to_dict()"

    def to_dict(self) -> dict:
        return {"mean_abs_rel_error": self.mean_abs_rel_error,
                "max_abs_rel_error": self.max_abs_rel_error,
                "final_abs_rel_error": self.final_abs_rel_error,
                **({"scored_from": self.scored_from, "scored_from_why": self.scored_from_why}
                   if self.scored_from is not None else {}),
                "points": self.points.to_dict(orient="records")}


def predict_losses(result: FitResult, schedules: dict, steps: dict, params=None) -> np.ndarray:
    """The fitted law's loss at {run: steps} of {run: LRSchedule or per-step LR}, in the LR
    units of the fit; ``params`` {run: N} for a by-size law."""
    model = law_of(result)
    if model.by_size and params is None:
        raise InputError(f"law {model.law_name}: give the model size (params) to predict")
    curves = curves_from_schedules(schedules, steps, params,
                                   lr_scale=result.extra["lr_scale"])
    return model.loss_curve(result.values(), curves)


def _prediction_inputs(result, schedule, steps, measured):
    """(schedule, steps, measured) of ``predict_curve`` checked: an InputError names the first
    argument that is not what it takes (a negative step indexed an LR array from its end)."""
    if not isinstance(result, FitResult) or "lr_scale" not in result.extra:
        got = f"the fit of law '{result.law}'" if isinstance(result, FitResult) else a_type(result)
        raise InputError(f"result: got {got}; give fit_curves(...)'s result (a schedule law: "
                         "momentum, multi-power)")
    if not isinstance(schedule, LRSchedule):
        try:
            schedule = np.asarray(schedule, float)
        except (TypeError, ValueError):
            raise InputError(f"schedule: got {a_type(schedule)}; give an LRSchedule or the LR at "
                             "every step from 0 (an array of numbers)") from None
        if schedule.ndim != 1 or not schedule.size or not np.all(np.isfinite(schedule) & (schedule >= 0)):
            raise InputError("schedule: give an LRSchedule or the LR at every step from 0 (a 1-D "
                             "array of finite numbers >= 0)")
    steps = np.atleast_1d(np.asarray(steps, dtype=object))
    if steps.ndim != 1 or not steps.size:
        raise InputError("steps: give one or more steps (whole numbers >= 0)")
    steps = checked_steps(pd.DataFrame({"step": steps}), "steps")["step"].to_numpy()
    if not isinstance(schedule, LRSchedule) and steps.max() >= schedule.size:
        raise InputError(f"steps: step {int(steps.max())} is past the schedule's last step "
                         f"({schedule.size - 1}: the array holds the LR of steps 0 to "
                         f"{schedule.size - 1})")
    first = first_predictable_step(schedule, int(steps.max()))
    if (steps < first).any():  # predicted 10591 nats at step 0, the law's A S1^-alpha at S1 = 0
        step = int(steps[steps < first].min())
        why = ("comes before the first update" if step == 0 else "comes after updates at LR 0 only "
               "(the first of a warmup from 0: the update from step s runs at the LR of step s)")
        raise InputError(f"steps: step {step} {why}, where the LR area S1 is 0 and the law's loss "
                         f"unbounded; give steps >= {first}")
    if measured is not None:
        try:
            measured = np.atleast_1d(np.asarray(measured, float))
        except (TypeError, ValueError):
            raise InputError("measured: give one measured loss (a number) per step") from None
        if measured.shape != steps.shape:
            raise InputError(f"measured: {measured.size} losses for {steps.size} steps; give one "
                             "per step")
        bad = np.flatnonzero(~(np.isfinite(measured) & (measured > 0)))
        if bad.size:
            raise InputError(f"measured: the loss at step {int(steps[bad[0]])} is "
                             f"{measured[bad[0]]:g}; a measured loss is a finite number > 0 (leave "
                             "out the steps without one)")
    return schedule, steps, measured


def _lr_steps(schedule, last: int) -> np.ndarray:
    """The LR of ``schedule`` (an LRSchedule or the LR at every step from 0) at steps 0 to ``last``."""
    if isinstance(schedule, LRSchedule):
        return lr_at_step(schedule, np.arange(last + 1))
    return np.asarray(schedule, float)[: last + 1]


def first_predictable_step(schedule, last: int) -> int:
    """The first step of ``schedule`` (an LRSchedule or the LR at every step from 0) with S1 > 0:
    1, or 2 after a warmup from LR 0 (schedule_areas.first_trained_step), looked for up to
    ``last``."""
    return first_trained_step(_lr_steps(schedule, last))


def scored_from_step(result: FitResult, schedule, last: int) -> tuple[int, str]:
    """(the first step a predicted curve's error is scored at, why): the later of twice the end of
    ``schedule``'s warmup (as the fit starts) and the first checkpoint ``result`` was fitted on:
    before that the law is extrapolated, so its error there is not the law's on what it models."""
    full = (lr_at_step(schedule, np.arange(last + 1)) if isinstance(schedule, LRSchedule)
            else np.asarray(schedule, float))
    twice = 2 * int(warmup_end(full))
    curves = result.components.get("curves")
    first = int(np.min(curves.step)) if curves is not None and np.size(curves.step) else 0
    if first >= twice:  # a tie names the fit's start: a --measured run's lr column at its checkpoints
        return first, "the first checkpoint fitted"  # only may put the warmup's end at one of them
    return twice, "twice the warmup's end"


LR_MARGIN = 1.01  # an LR this many times the largest fitted is beyond it (not two runs' last digits)


def point_kinds(result: FitResult, schedule, steps, N: float | None = None,
                measured: bool = False) -> np.ndarray:
    """Where each step of a predicted curve lies against what ``result`` was fitted on, in the
    words a law's budgets use: 'prediction' where a measured loss checks it (``measured``);
    else 'projection' past the last checkpoint fitted, after the schedule's LR has risen above
    the largest fitted, or at an N above the largest size fitted (no run checks it: the law's
    form sets the number); 'extrapolation' before the first checkpoint fitted or at an N below
    the smallest size; 'interpolation' otherwise."""
    steps = np.asarray(steps, int)
    if measured:
        return np.full(steps.size, "prediction", dtype=object)
    full = _lr_steps(schedule, int(steps.max()))
    peak_so_far = np.maximum.accumulate(full)[steps]  # the loss at a step carries every LR before it
    curves = result.components.get("curves")
    fitted_steps = np.asarray(curves.step if curves is not None else [], float)
    sizes = np.asarray(curves.params if curves is not None else [], float)
    sizes = sizes[np.isfinite(sizes)]
    beyond = peak_so_far > LR_MARGIN * float(result.extra["lr_scale"])
    before = np.zeros(steps.size, bool)
    if fitted_steps.size:
        beyond |= steps > fitted_steps.max()
        before = steps < fitted_steps.min()
    if N is not None and sizes.size:
        beyond |= N > sizes.max()
        before |= N < sizes.min()
    return np.where(beyond, "projection",
                    np.where(before, "extrapolation", "interpolation")).astype(object)


def predict_curve(result: FitResult, schedule, steps, *, N: float | None = None,
                  measured=None, from_step: int | None = None) -> CurvePrediction:
    """The predicted curve of one schedule at ``steps``, with the error per point when the
    measured losses at those steps are given. The mean and max error count the points at
    step >= ``from_step`` (None: ``scored_from_step``, the later of twice the end of the
    schedule's warmup and the first checkpoint fitted: before it the law is extrapolated).

    ``result``: ``fit_curves``'s; ``schedule``: an ``LRSchedule`` or the LR at every step from 0
    (an array); ``steps``: whole numbers >= 0 (within the array); ``measured``: one positive loss
    per step."""
    schedule, steps, measured = _prediction_inputs(result, schedule, steps, measured)
    if from_step is not None:
        from_step = nonnegative_int("from_step", from_step)
    if N is not None and not law_of(result).by_size:  # it was taken and unused
        raise InputError(f"N: law {result.law} has no model size (only a by-size law, "
                         f"{result.law}-n, reads N); leave N out")
    sizes = None if N is None else {"run": positive_float("N", N)}
    pred = predict_losses(result, {"run": schedule}, {"run": steps}, sizes)
    lr = (lr_at_step(schedule, steps) if isinstance(schedule, LRSchedule)
          else np.asarray(schedule, float)[steps])
    vanished = ~(np.isfinite(pred) & (pred > 1e-100))
    if vanished.any():  # a loss of 1e-300 was returned as the prediction
        step, peak = int(steps[np.flatnonzero(vanished)[0]]), float(np.max(lr))
        raise NoPrediction(f"schedule: the fitted law's loss falls to 0 by step {step} (largest LR "
                           f"fitted {result.extra['lr_scale']:.4g}, this schedule's {peak:.4g}"
                           f"{'' if N is None else f'; N = {N:g}'}); the law knows no instability, "
                           "so a schedule (or size) far beyond the fitted ones has no prediction",
                           step, peak)
    points = pd.DataFrame({"step": steps, "lr": lr, "predicted": pred})
    if result.draws:  # the fitted curve's 95% interval: the law of each bootstrap refit
        model = law_of(result)
        curves = curves_from_schedules({"run": schedule}, {"run": steps}, sizes,
                                       lr_scale=result.extra["lr_scale"])
        names = list(result.draws)
        table = np.column_stack([result.draws[n] for n in names])
        table = table[np.all(np.isfinite(table), axis=1)]
        if len(table) >= 2:
            draws = np.stack([model.loss_curve(dict(zip(names, row)), curves) for row in table])
            points["ci95_lo"], points["ci95_hi"] = np.percentile(draws, [2.5, 97.5], axis=0)
    points["kind"] = point_kinds(result, schedule, steps, N, measured=measured is not None)
    out = CurvePrediction(points)
    if measured is not None:
        points["measured"] = measured
        points["error"] = pred - measured
        points["rel_error"] = (pred - measured) / measured
        if from_step is None:
            from_step, out.scored_from_why = scored_from_step(result, schedule, int(steps.max()))
        else:
            out.scored_from_why = "from_step, as given"
        out.scored_from = int(from_step)
        points["scored"] = steps >= from_step
        rel = np.abs(points["rel_error"].to_numpy())
        scored = rel[points["scored"].to_numpy()]
        if scored.size:
            out.mean_abs_rel_error, out.max_abs_rel_error = float(scored.mean()), float(scored.max())
        out.final_abs_rel_error = float(rel[np.argmax(steps)])
    return out

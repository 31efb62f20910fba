"""`scalefit predict curve`: a whole loss curve for an LR schedule from a schedule law fitted to
other runs, and its --grid-test on a suite; a thin click shell over ``curve_fit`` and
``schedule_prediction`` that reads its table as `fit schedule-law` does (``schedule_inputs``)."""
from __future__ import annotations

from pathlib import Path

import click
import numpy as np

from scalefit.data import data_path as shipped_path
from scalefit.errors import InputError
from scalefit.folder_settings import one_setting_per_folder
from scalefit.options import (LOSS_CURVES, NONNEGATIVE, NONNEGATIVE_INT, POSITIVE, analysis_options,
                              bootstrap_option, option_given, seed_option)
from scalefit.report import dumps, write_printed_report
from scalefit.scaling.laws.schedule_inputs import (SCHEDULE_RESAMPLES, SHIPPED_CHECKPOINTS, SHIPPED_DATASET,
                                                   SHIPPED_FINALS, law_name, load_rows, one_size_unless_by_size,
                                                   pick_runs, schedule_law_options)
from scalefit.scaling.outputs import checked_outputs, staged
from scalefit.scaling.resample import rough_intervals_note


CURVE_POINTS = 200  # steps of a predicted curve with no measured run to compare


@click.command("curve")
@analysis_options(table=LOSS_CURVES)
@schedule_law_options
@click.option("--schedule", "schedule_spec", default=None, metavar="SPEC",
              help="cosine:STEPS, linear:STEPS, wsd:STEPS:COOLDOWN (cooldown a fraction of "
                   "STEPS) or constant[:STEPS]. Default: the --measured run's own LR column.")
@click.option("--warmup", type=NONNEGATIVE_INT, default=0, show_default=True,
              help="Warmup steps of the --schedule.")
@click.option("--final-ratio", type=NONNEGATIVE, default=0.1, show_default=True,
              help="Final LR over the peak of the --schedule.")
@click.option("--peak-lr", type=POSITIVE, default=None,
              help="Peak LR of the --schedule (default: the --measured run's, else the largest "
                   "LR fitted).")
@click.option("--measured", default=None, metavar="RUN",
              help="A run of the table to predict (kept out of the fit) and compare with.")
@click.option("--params", "n_params", type=POSITIVE, default=None,
              help="Model size N for a --by-size prediction without a --measured run.")
@click.option("--grid-test", is_flag=True, default=False,
              help="The schedule law's test on a suite: fit each size's long run, predict "
                   "the final loss of its runs of other lengths (--finals table), beside the "
                   "naive checkpoint reading and a Chinchilla fit to the same checkpoints.")
@click.option("--finals", "finals_path", type=click.Path(dir_okay=False), default=None,
              help="Final checkpoint of every run, for --grid-test (default: the shipped one).")
@click.option("--profile-lambda", is_flag=True, default=False,
              help="With --grid-test and the momentum law: also predict with one decay lambda "
                   "for the suite, the one whose long-run fits have the least summed objective "
                   "(the long runs alone are read; column schedule_law_profiled).")
@bootstrap_option(SCHEDULE_RESAMPLES, "Bootstrap refits for a 95% interval of the predicted curve (0: none); "
                      "whole runs when several are fitted, else blocks of checkpoints.")
@seed_option
@checked_outputs
@one_setting_per_folder
def predict_curve_command(data_path, out_dir, as_json, law, loss_column, dataset, models,
                          by_size, min_step, delta, lam, schedule_spec, warmup, final_ratio,
                          peak_lr, measured, n_params, grid_test, finals_path, profile_lambda,
                          n_bootstrap, seed):
    """Predict a whole loss curve for an LR schedule from a schedule law fitted to other runs.

    \b
    Prints which runs the law was fitted on, the predicted curve (about 24 steps, or every
    checkpoint of a --measured run beside its loss and error) and the final loss with its 95%
    interval over the bootstrap refits; beside a --measured run, the mean and max |relative
    error|. --grid-test prints each other run's measured and predicted final loss and, per
    method, the mean and max |relative error| in percent.

    \b
    Examples:
      scalefit predict curve --model mini-3 --measured mini-3-W0.01 --out report/
      scalefit predict curve --model mini-5 --schedule wsd:2400:0.2 --warmup 24
      scalefit predict curve --grid-test --law multi-power
      scalefit predict curve --grid-test --profile-lambda
    """
    from scalefit.scaling.laws.curve_fit import refuse_decay_without_one
    refuse_decay_without_one(law, lam, "--lambda")
    if profile_lambda and not grid_test:
        raise InputError("--profile-lambda: only with --grid-test")
    if finals_path is not None and not grid_test:
        raise InputError("--finals: only with --grid-test (the final checkpoint of every run "
                         "that the test predicts)")
    if grid_test:
        _grid_test_takes_none_of(GRID_TEST_UNUSED)
        return _grid_test(data_path, finals_path, out_dir, as_json, law, dataset, min_step,
                          by_size, lam, profile_lambda)
    from scalefit.scaling.laws.curve_fit import (NoPrediction, first_predictable_step,
                                                 fit_curves, predict_curve)
    from scalefit.scaling.laws.curves import curves_from_table, parse_schedule
    from scalefit.scaling.laws.schedule_areas import lr_per_step
    if schedule_spec is None:  # the --measured run's own lr column is the schedule: were ignored
        for name, option in (("warmup", "--warmup"), ("final_ratio", "--final-ratio"),
                             ("peak_lr", "--peak-lr")):
            if option_given(name):
                raise InputError(f"{option}: only with --schedule (without it the --measured "
                                 "run's own lr column is the schedule)")
    if schedule_spec is not None:  # a bad spec fails before any fit
        parse_schedule(schedule_spec, peak=peak_lr or 1.0, warmup=warmup,
                       final_ratio=final_ratio, steps=(1 << 40) if measured else None)
    rows, source, dataset = load_rows(data_path, loss_column, dataset,
                                      [*models, measured] if models and measured else models)
    target = None
    if measured is not None:
        target = pick_runs(rows, [measured], source, "--measured").sort_values("step")
        lr_rows = target  # its lr at every checkpoint, step 0's included (the first update's LR)
        target = target[target["step"] > 0]
        if target.empty:  # int(nan) of its last step was a traceback
            raise InputError(f"--measured {measured}: no checkpoint after step 0 to predict")
    train = pick_runs(rows, models, source)
    train = train[train["model"] != measured]
    if train.empty:
        raise InputError("--model: no run left to fit on (the --measured run is kept out)")
    one_size_unless_by_size(train, by_size, source)
    sizes = {name: rows["params"].dropna().unique() if "params" in rows.columns else np.array([])
             for name, rows in (("target", target if target is not None else train), ("train", train))}
    if not by_size and sizes["target"].size and sizes["train"].size \
            and not np.isin(sizes["target"], sizes["train"]).all():
        raise InputError(f"--measured {measured}: N = {float(sizes['target'][0]):.4g}, the runs "
                         f"fitted have N = {', '.join(f'{n:.4g}' for n in sorted(sizes['train']))}; "
                         "a law fitted without --by-size predicts runs of its own size (use --by-size "
                         "with runs of several sizes, or --model a run of this size)")
    N = None  # every option is checked before the fit, which can take minutes
    if by_size:
        N = float(target["params"].iloc[0]) if target is not None and "params" in target \
            else n_params
        if N is None:
            raise InputError("--params: give the model size N to predict with --by-size "
                             "(or a --measured run)")
        if not (np.isfinite(N) and N > 0):  # was 'N: '0.0' is out of range' after the fit
            raise InputError(f"--measured {measured}: its model size N (params) is {N:g}; a "
                             "--by-size prediction needs a finite number > 0")
    elif n_params is not None:
        raise InputError("--params: only with --by-size (one law for several sizes)")
    if schedule_spec is None and target is None:
        raise InputError("--schedule: give a schedule (e.g. cosine:2400) or a --measured run")
    if schedule_spec is None and target["step"].nunique() < 2:  # its LR would be held flat
        raise InputError(f"--measured {measured}: {target['step'].nunique()} checkpoint(s) after "
                         "step 0, too few for its lr column to give its schedule; give the "
                         "schedule it trained with, --schedule (e.g. cosine:STEPS)")
    if schedule_spec is not None and target is not None:  # said before the fit, not after
        _schedule_against_lr_column(schedule_spec, target, measured, peak_lr, warmup, final_ratio)
    fit = fit_curves(curves_from_table(train, min_step=min_step), law_name(law, by_size),
                     delta=delta, n_bootstrap=n_bootstrap, seed=seed, progress=True, lam=lam)
    if schedule_spec is not None:
        peak = peak_lr or (float(target["lr"].max()) if target is not None
                           else fit.extra["lr_scale"])
        total = int(target["step"].max()) if target is not None else None
        schedule = parse_schedule(schedule_spec, peak=peak, warmup=warmup,
                                  final_ratio=final_ratio, steps=total)
        last = schedule.decay_steps
    else:
        schedule = lr_per_step(lr_rows["step"], lr_rows["lr"])
        last = int(target["step"].max())
    first = first_predictable_step(schedule, last)  # step 1 after a warmup from LR 0 holds S1 = 0
    if target is not None:
        target = target[(target["step"] <= last) & (target["step"] >= first)]
        steps, meas = target["step"].to_numpy(), target["loss"].to_numpy()
    else:
        # log-spaced for the early fall, linear for the decay or cooldown at the end
        steps = np.unique(np.r_[np.geomspace(first, last, CURVE_POINTS),
                                np.linspace(first, last, CURVE_POINTS)].astype(int))
        meas = None
    try:
        prediction = predict_curve(fit, schedule, steps, N=N, measured=meas)
    except NoPrediction as exc:  # said again with the options that asked for it
        bad = exc.step
        fitted_n = fit.components["curves"].params
        largest_n = float(np.nanmax(fitted_n)) if np.isfinite(fitted_n).any() else np.nan
        if N is not None and N > largest_n:  # --params 1e30 was blamed on the schedule alone
            given = f"--measured {measured} (N = {N:g})" if target is not None else f"--params {N:g}"
            raise InputError(f"{given}: the fitted law's loss falls to 0 by step {int(bad)} "
                             f"at {N / largest_n:.3g}x the largest size fitted ({largest_n:.4g}); "
                             "the power laws of N hold no floor that far out, so there is no "
                             "prediction") from None
        raise InputError(f"--schedule {out_schedule(schedule_spec, measured)}"
                         + (f" --peak-lr {peak_lr:g}" if peak_lr else "")
                         + f": the fitted law's loss falls to 0 by step {int(bad)} (largest LR "
                           f"fitted {fit.extra['lr_scale']:.4g}, this schedule's "
                           f"{exc.lr:.4g}); the law knows no "
                           "instability, so a schedule far beyond the fitted LRs or steps has no "
                           "prediction") from None
    from scalefit.scaling.laws.report import loss_unit

    out = {"law": fit.law, "data": source, "dataset": dataset, "loss_unit": loss_unit(loss_column),
           "fitted_on": fit.extra["runs"],
           "measured_run": measured, "schedule": out_schedule(schedule_spec, measured),
           "fit": fit.to_dict(), **prediction.to_dict(),
           "notes": extrapolation_notes(fit, prediction.points, N)}
    text = "\n".join(_curve_text(fit, prediction, out["schedule"], measured=meas is not None,
                                 n_bootstrap=n_bootstrap, notes=out["notes"], loss_column=loss_column))
    if out_dir:
        _write_curve(out_dir, fit, prediction, out, text, loss_column)
    if as_json:
        click.echo(dumps(out))
        return
    click.echo(text)


@staged
def _write_curve(out_dir, fit, prediction, out: dict, text: str, loss_column: str) -> None:
    """curve.csv, prediction.json, the curve's figure and report.md (``text``, as printed) of
    `predict curve`, moved into ``out_dir`` together."""
    import pandas as pd
    from scalefit.atomic import write_frame, write_json
    from scalefit.report import save_figure
    from scalefit.scaling.laws.schedule_plots import loss_axis_label, plot_curve
    write_frame(prediction.points, Path(out_dir) / "curve.csv")
    write_json(Path(out_dir) / "prediction.json", out)
    curves = fit.components["curves"]
    fitted = pd.DataFrame({"step": curves.step, "loss": curves.loss})
    save_figure(plot_curve(prediction, fitted, title=f"{fit.law} fitted on "
                                                     f"{', '.join(fit.extra['runs'])}",
                           loss_label=loss_axis_label(loss_column)), out_dir, "curve")
    write_printed_report(out_dir, f"Predicted loss curve: {fit.law}, {out['schedule']}", text, "curve")


LOSS_COLUMNS = ("predicted", "measured", "error", "ci95_lo", "ci95_hi")  # the curve's columns in the loss unit


def _predicted_at_interval(row) -> tuple[str, str, str]:
    """(predicted, ci95_lo, ci95_hi) of one point as text: the ends on the interval rule and the
    prediction to their place (interval_text, identifiability.significant: 4.6072 beside
    [4.5923, 4.6277] is 4.607 [4.592, 4.628], the digits the bootstrap supports)."""
    from scalefit.scaling.interval_text import estimate_and_ends
    return estimate_and_ends(row["predicted"], row["ci95_lo"], row["ci95_hi"])


def _at_intervals(points):
    """The curve's rows with predicted, ci95_lo and ci95_hi printed by ``_predicted_at_interval``
    where the points have an interval (--bootstrap 0: as they are)."""
    if "ci95_lo" not in points:
        return points
    shown = points.copy()
    text = [_predicted_at_interval(row) for _, row in points.iterrows()]
    for i, column in enumerate(("predicted", "ci95_lo", "ci95_hi")):
        shown[column] = [t[i] for t in text]
    return shown


def _curve_text(fit, prediction, schedule: str, *, measured: bool, n_bootstrap: int,
                notes=(), loss_column: str = "loss") -> list[str]:
    """What `predict curve` prints: the curve (every point beside a measured run, else about 24
    rows ending at the last step) with its loss unit, the final loss with its interval, and
    where the law extrapolates."""
    from scalefit.scaling.laws.report import loss_unit
    points = prediction.points
    first_fitted = int(np.min(fit.components["curves"].step))
    where = (f"{len(points)} checkpoints of the measured run" if measured else
             f"{len(points)} steps from {int(points['step'].min())} to {int(points['step'].max())}")
    lines = [f"{fit.law} fitted on {', '.join(fit.extra['runs'])} (checkpoints from step {first_fitted}); "
             f"predicted {schedule} at {where}; {', '.join(c for c in LOSS_COLUMNS if c in points)} "
             f"in {loss_unit(loss_column)}"]
    # beside a measured run every point is a prediction (its kind column says no more)
    shown = (points.drop(columns="kind", errors="ignore") if measured else
             points.iloc[np.unique(np.linspace(0, len(points) - 1, 24).round().astype(int))])
    lines.append(_at_intervals(shown).to_string(index=False, float_format=lambda v: f"{v:.5g}",
                                                formatters={"lr": lambda v: f"{v:.4g}"}))  # 0.003, not 0.0029999
    last = points.iloc[-1]
    if "ci95_lo" in points:
        value, lo, hi = _predicted_at_interval(last)
        band = f" [{lo}, {hi}] (95% interval of the fitted law over {n_bootstrap} bootstrap refits)"
    else:
        value, band = f"{last['predicted']:.4g}", " (no interval: --bootstrap 0)"
    last_fitted = int(np.max(fit.components["curves"].step))
    beyond = int(last["step"]) / last_fitted
    # the last point's kind column, said: past the last step fitted, or (notes below) past the
    # largest LR or size fitted, it is a projection
    distance = (f"{beyond:.3g}x the last step fitted ({last_fitted})" if beyond > 1 else
                "beyond the LRs or sizes fitted (notes below)")
    kind = (f"; a projection, {distance}, of a schedule no fitted run followed: no run checks it"
            if last.get("kind") == "projection" else
            "; a prediction for a schedule no fitted run followed, not a measurement")
    lines.append(f"final loss at step {int(last['step'])}: {value}{band}"
                 + ("" if measured else kind))
    if measured:  # the mean and max count the scored points only: say which
        scored = points["step"][points["scored"]]
        at_last = (f"at the last, step {int(last['step'])}: "
                   f"{100 * prediction.final_abs_rel_error:.3f}%")
        if len(scored):
            lines.append(f"|relative error| at the {len(scored)} checkpoints from step "
                         f"{int(scored.min())} on (scored from step {prediction.scored_from}: "
                         f"{prediction.scored_from_why}): mean "
                         f"{100 * prediction.mean_abs_rel_error:.3f}%, max "
                         f"{100 * prediction.max_abs_rel_error:.3f}%; {at_last}")
        else:  # no mean of nothing ('mean nan%')
            lines.append(f"|relative error|: no checkpoint lies at or past step {prediction.scored_from} "
                         f"({prediction.scored_from_why}), so none is scored; {at_last}")
    rough = rough_intervals_note(n_bootstrap if "ci95_lo" in points else 0,
                                 "the curve's 95% intervals", advise=SCHEDULE_RESAMPLES)
    lines += [f"note: {note}" for note in [*notes, *([rough] if rough else [])]]
    # what the fit itself warns of (a parameter not identified, an interval reaching a bound),
    # as `fit schedule-law` prints it for the same fit: the JSON had it, the text did not
    lines += [f"warning: {w}" for w in fit.warnings]
    return lines


def _schedule_against_lr_column(spec, target, measured, peak_lr, warmup, final_ratio) -> None:
    """Warn when --schedule is not the LR the --measured run's lr column logged (by more than 5%
    of its peak at a checkpoint): the errors printed would then compare the law on one schedule
    with a run trained on another (wsd:2400:0.2 against a 1120-step cosine run: 6% 'error')."""
    from scalefit.errors import warn
    from scalefit.scaling.laws.curves import parse_schedule
    from scalefit.schedule import lr_at_step
    logged = target["lr"].to_numpy(float)
    schedule = parse_schedule(spec, peak=peak_lr or float(logged.max()), warmup=warmup,
                              final_ratio=final_ratio, steps=int(target["step"].max()))
    steps = target["step"].to_numpy()
    kept = steps <= schedule.decay_steps
    given = lr_at_step(schedule, steps[kept])
    off = np.abs(given - logged[kept])
    if off.size and off.max() > 0.05 * logged.max():
        i = int(np.argmax(off))
        warn(f"--schedule {spec}: not the LR that --measured {measured} logged (lr column) at "
             f"step {int(steps[kept][i])}: {given[i]:.4g} here, {logged[kept][i]:.4g} there; the "
             "errors below compare the law on this schedule with a run trained on its own (leave "
             "--schedule out to predict the run's own)")


def out_schedule(schedule_spec, measured) -> str:
    return schedule_spec or f"lr column of {measured}"


def extrapolation_notes(fit, points, N: float | None = None) -> list[str]:
    """Where the predicted curve lies outside what the law was fitted on: steps before the first
    or after the last checkpoint fitted, an LR above the largest fitted (the law's loss only falls
    with more LR area, so there it is a projection, not a prediction), a --by-size N outside the
    fitted sizes."""
    from scalefit.scaling.laws.curve_fit import LR_MARGIN
    curves = fit.components["curves"]
    steps = curves.step
    first_fitted, last_fitted = int(np.min(steps)), int(np.max(steps))
    notes = []
    if int(points["step"].min()) < first_fitted:
        notes.append(f"steps before {first_fitted} lie before the first checkpoint fitted: the law is "
                     "extrapolated there (the warmup and the first fall are not what it models)")
    last = int(points["step"].max())
    if last > last_fitted:
        notes.append(f"steps after {last_fitted} lie beyond the last checkpoint fitted: the curve there "
                     f"is a projection, up to {last / last_fitted:.3g}x the fitted run's length")
    top, fitted_top = float(np.max(points["lr"])), float(fit.extra["lr_scale"])
    if top > fitted_top * LR_MARGIN:  # not the last digits of two runs of one peak LR
        notes.append(f"the schedule's LR reaches {top:.4g}, {top / fitted_top:.3g}x the largest LR "
                     f"fitted ({fitted_top:.4g}): a projection (the law's loss falls with every "
                     "added LR area; it knows no instability)")
    sizes = curves.params[np.isfinite(curves.params)]
    if N is not None and sizes.size and not sizes.min() <= N <= sizes.max():
        side = (f"{N / sizes.max():.3g}x the largest" if N > sizes.max()
                else f"{sizes.min() / N:.3g}x below the smallest")
        notes.append(f"N = {N:.4g} is {side} size fitted ({sizes.min():.4g} to {sizes.max():.4g}): "
                     "a projection of the fitted power laws of N")
    return notes


# predict curve's options that --grid-test does not read (it fits each size's long run and predicts
# the other runs in --finals on their own schedules): given with it, each was silently ignored
GRID_TEST_UNUSED = ("schedule_spec", "warmup", "final_ratio", "peak_lr", "measured", "n_params",
                    "models", "loss_column", "delta", "n_bootstrap", "seed")


def _grid_test_takes_none_of(names) -> None:
    for param in click.get_current_context().command.params:
        if param.name in names and option_given(param.name):
            raise InputError(f"{param.opts[0]}: not with --grid-test, which fits each size's long "
                             "run and predicts the --finals runs on their own schedules; leave it "
                             "out")


def _grid_test(data_path, finals_path, out_dir, as_json, law, dataset, min_step, by_size, lam,
               profile=False):
    from scalefit.scaling.laws.report import loss_unit
    from scalefit.scaling.laws.schedule_prediction import (SCHEDULE_COLUMNS, grid_prediction_test,
                                                           percent_summary)
    from scalefit.tables import read_table
    if data_path is not None and finals_path is None:
        raise InputError("--finals: give the finals table that goes with --data")
    checkpoints = read_table(data_path or shipped_path(*SHIPPED_CHECKPOINTS))
    finals = read_table(finals_path or shipped_path(*SHIPPED_FINALS))
    needed = ("model", "part", "dataset", "metric", "value", "params", "tokens", *SCHEDULE_COLUMNS)
    missing = [column for column in needed if column not in finals.columns]
    if missing:  # a run table here was a KeyError traceback
        raise InputError(f"{finals_path}: --finals: column{'s' if len(missing) > 1 else ''} "
                         f"{', '.join(missing)} missing; it is the last checkpoint of every run as a "
                         f"long table with {', '.join(needed)} (the shipped finals.parquet's shape)")
    grid = grid_prediction_test(checkpoints, finals, law=law.lower(),
                                dataset=dataset or SHIPPED_DATASET, min_step=min_step,
                                by_size=by_size, lam=lam, profile=profile)
    out = grid.to_dict()
    cols = ["model", "total_steps", "measured", "schedule_law",
            *(["schedule_law_profiled"] if profile else []), "naive", "chinchilla"]
    lines = [f"{law} fitted on each size's long run; final loss ({loss_unit('loss')}) of the runs "
             "of other lengths and warmups (one evaluation set), measured and predicted:"]
    if grid.lambda_profile is not None:
        lines.append(f"schedule_law_profiled: decay lambda {grid.lambda_profile.lam:g}, the least summed "
                     f"objective of the long-run fits over {', '.join(f'{v:g}' for v in grid.lambda_profile.table['lambda'])}")
    lines.append(grid.targets[cols].to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    lines.append(percent_summary(grid.summary).to_string(index=False))
    repeats = grid.targets.dropna(subset=["same_run_as"])
    if len(repeats):
        lines.append("part all counts each run once: " + "; ".join(
            f"{r.model} is {r.same_run_as} (same size, tokens, schedule and final loss)"
            for r in repeats.itertuples()))
    if out_dir:
        _write_grid(out_dir, grid, out, f"Grid test: {law}", "\n".join(lines))
    if as_json:
        click.echo(dumps(out))
        return
    click.echo("\n".join(lines))


@staged
def _write_grid(out_dir, grid, out: dict, title: str, text: str) -> None:
    """grid_prediction.csv, grid_summary.csv, grid_prediction.json, the figure and report.md
    (``text``, as printed) of `predict curve --grid-test`, moved into ``out_dir`` together."""
    from scalefit.atomic import write_frame, write_json
    from scalefit.report import save_figure
    from scalefit.scaling.laws.schedule_plots import plot_grid_prediction
    write_frame(grid.targets, Path(out_dir) / "grid_prediction.csv")
    write_frame(grid.summary, Path(out_dir) / "grid_summary.csv")
    write_json(Path(out_dir) / "grid_prediction.json", out)
    save_figure(plot_grid_prediction(grid), out_dir, "grid_prediction")
    write_printed_report(out_dir, title, text, "grid_prediction")

"""`scalefit fit schedule-law`: a thin click shell over the schedule-aware laws (``curve_fit``);
it reads its table and options as `predict curve` does (``schedule_inputs``)."""
from __future__ import annotations

from pathlib import Path

import click
import numpy as np

from scalefit.folder_settings import one_setting_per_folder
from scalefit.options import LOSS_CURVES, analysis_options, bootstrap_option, seed_option
from scalefit.report import dumps, write_printed_report
from scalefit.scaling.interval_text import at_zero, interval_text
from scalefit.scaling.laws.identifiability import bound_status, judged
from scalefit.scaling.laws.schedule_inputs import (SCHEDULE_RESAMPLES, law_name, load_rows, one_size_unless_by_size,
                                                   pick_runs, schedule_law_options)
from scalefit.scaling.laws.schedule_plots import write_fitted_curves
from scalefit.scaling.outputs import checked_outputs, staged
from scalefit.scaling.resample import rough_intervals_note



def _fit_text(out: dict) -> str:
    lines = [f"{out['law']} fitted to {out['n_points']} checkpoints of {out['n_runs']} run(s) "
             f"({', '.join(out['runs'])})"]
    if "lr_scale" in out:  # A, C (B) are in the LR unit the sums use: a paper's are in another
        from scalefit.scaling.laws.registry import law_for
        scaled = [name for name in law_for(out["law"]).log_scales if name != "K"]
        lines.append(f"  LR read as lr / {out['lr_scale']:.4g} (the largest LR fitted): "
                     f"the values of {', '.join(scaled)} depend on it"
                     + (f"; momentum decay lambda {out['lambda']:g}, held fixed"
                        if "lambda" in out else ""))
    for name, p in out["params"].items():
        ci = p["ci95"]
        # the interval rule of every sentence (interval_text), as the warnings print it:
        # [117, 9.535e+09] here beside [117, 9.54e+09] in a warning was one interval two ways
        ci_text = f"  95% CI {interval_text(*at_zero(*ci, p['value']))}" if np.isfinite(ci[0]) else ""
        shown, status = judged(p["value"], ci) if ci_text else (f"{p['value']:.5g}", "")
        status = bound_status(name, out.get("warnings")) or status  # as fitresult.param_line labels it
        lines.append(f"  {name:>6} = {shown}{ci_text}" + (f"  ({status})" if status else ""))
    lines.append(f"  RMSE(log L) {out['rmse_log']:.4f}; |relative error| mean "
                 f"{100 * out['mean_abs_rel_error']:.2f}%, max {100 * out['max_abs_rel_error']:.2f}%")
    if "bootstrap" in out:
        b = out["bootstrap"]
        lines.append(f"  bootstrap: {b['n']} resamples of {b['resampled']} "
                     f"({b['n_failed']} failed)")
        rough = rough_intervals_note(int(b["n"]), "the 95% intervals and the identification labels",
                                     advise=SCHEDULE_RESAMPLES)
        lines += [f"  note: {rough}"] if rough else []  # as fit and compare say it
    lines += [f"  warning: {w}" for w in out["warnings"]]
    return "\n".join(lines)


@click.command("schedule-law")
@analysis_options(table=LOSS_CURVES)
@schedule_law_options
@bootstrap_option(SCHEDULE_RESAMPLES, "Bootstrap resamples for 95% CIs (0: none): whole runs when several "
                       "are fitted, else blocks of consecutive checkpoints.")
@seed_option
@checked_outputs
@one_setting_per_folder
def fit_schedule_law(data_path, out_dir, as_json, law, loss_column, dataset, models, by_size,
                     min_step, delta, lam, n_bootstrap, seed):
    """Fit a law of the LR schedule to whole loss curves (table: model, step, lr, loss).

    \b
    momentum (Tissue et al. 2024):  L(s) = L0 + A S1^-alpha - C S2
    multi-power (Luo et al. 2025):  L(t) = L0 + A (S1 + S_W)^-alpha - LD(t)
    --by-size: L0 = E + K (N/1e6)^-a and A -> A (N/1e6)^-b, the rest shared.
    Example:
      scalefit fit schedule-law --law momentum --model mini-3 --bootstrap 200 --out report/
    """
    from scalefit.scaling.laws.curve_fit import fit_curves, refuse_decay_without_one
    from scalefit.scaling.laws.curves import curves_from_table
    refuse_decay_without_one(law, lam, "--lambda")
    rows, source, dataset = load_rows(data_path, loss_column, dataset, models)
    rows = pick_runs(rows, models, source)
    one_size_unless_by_size(rows, by_size, source)
    curves = curves_from_table(rows, min_step=min_step)
    result = fit_curves(curves, law_name(law, by_size), delta=delta, n_bootstrap=n_bootstrap,
                        seed=seed, progress=True, lam=lam)
    out = result.to_dict()
    out.update(data=source, dataset=dataset)
    if out_dir:
        _write_fit(out_dir, out, result, curves, loss_column)
    click.echo(dumps(out) if as_json else _fit_text(out))


@staged
def _write_fit(out_dir, out, result, curves, loss_column="loss"):
    """fitted_curves.csv and its figure, fit.json and report.md, moved into ``out_dir`` together."""
    from scalefit.atomic import write_json
    write_fitted_curves(out_dir, result, curves, loss_column)
    write_json(Path(out_dir) / "fit.json", out)
    write_printed_report(out_dir, f"Fit: {out['law']}", _fit_text(out), "fitted_curves")

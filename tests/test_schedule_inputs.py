"""`fit schedule-law` and `predict curve` as a new user meets them (issue of the H5 audit): an
--out folder of other settings, a typo in a run's name, a run of one checkpoint, a schedule
whose LR never falls, a prediction far past the fitted steps, and what the printed numbers are
in. Synthetic curves of a known momentum law keep every fit here under a second."""
from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from scalefit.cli import main
from scalefit.schedule import LRSchedule, lr_at_step
from scalefit.scaling.laws.curve_fit import CurvePrediction, fit_curves
from scalefit.scaling.laws.curves import curves_from_schedules
from scalefit.scaling.laws.registry import law_for
from tests.test_schedule_laws import COSINE, PEAK, T, TRUTH, WSD


def _table(schedules=(("cosine", COSINE), ("wsd", WSD)), steps=np.arange(0, T + 1, 40)):
    """A checkpoint table (model, step, lr, loss) of the momentum law's TRUTH, one run per
    schedule, every run with rows from step 0 (its warmup is in the lr column)."""
    frames = []
    for i, (name, schedule) in enumerate(schedules):
        at = steps[steps > 0]
        curves = curves_from_schedules({name: schedule}, {name: at}, lr_scale=PEAK)
        loss = law_for("momentum").loss_curve(TRUTH["momentum"], curves)
        loss *= np.exp(np.random.default_rng(i).normal(0, 5e-4, at.size))
        frames.append(pd.DataFrame({"model": name, "step": steps,
                                    "lr": lr_at_step(schedule, steps), "loss": np.r_[10.0, loss]}))
    return pd.concat(frames, ignore_index=True)


def _run(tmp_path, table, *args):
    path = tmp_path / "curves.csv"
    table.to_csv(path, index=False)
    return CliRunner().invoke(main, [*args, "--data", str(path), "--bootstrap", "0"])


def _one_line(result) -> str:
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in result.output, result.output
    return lines[0]


def test_an_out_folder_of_other_settings_is_refused(tmp_path):
    """fit schedule-law and predict curve wrote into any folder: a curve.csv and prediction.json
    of one fit sat beside fit.json and report.md of another, read as one result."""
    out = str(tmp_path / "report")
    fit = ["fit", "schedule-law", "--model", "cosine", "--out", out]
    assert _run(tmp_path, _table(), *fit).exit_code == 0
    assert _run(tmp_path, _table(), *fit).exit_code == 0  # the same settings rewrite their files
    line = _one_line(_run(tmp_path, _table(), "predict", "curve", "--model", "cosine",
                          "--schedule", "cosine:1500", "--out", out))
    assert "holds the results of other settings (written by `fit schedule-law`, this is `predict curve`)" in line
    line = _one_line(_run(tmp_path, _table(), *fit[:-2], "--law", "multi-power", "--out", out))
    assert "--law 'momentum' there, 'multi-power' here" in line


def test_a_misspelt_run_is_answered_with_the_nearest_name(tmp_path):
    line = _one_line(_run(tmp_path, _table(), "fit", "schedule-law", "--model", "cosin"))
    assert "--model cosin: no such run; did you mean 'cosine'? (runs: cosine, wsd)" in line
    line = _one_line(_run(tmp_path, _table(), "predict", "curve", "--model", "cosine",
                          "--measured", "wds"))
    assert "--measured wds: no such run; did you mean 'wsd'?" in line


def test_a_run_of_one_checkpoint_is_refused_not_given_a_flat_lr(tmp_path):
    """A finals table (one row per run) was fitted with each run's LR held at its final value
    from step 0: a schedule made up from one number."""
    table = _table()
    final = table[(table["step"] == T) & (table["model"] == "cosine")].assign(model="cosine-final")
    line = _one_line(_run(tmp_path, pd.concat([table, final]), "fit", "schedule-law",
                          "--model", "cosine,cosine-final"))
    assert f"run cosine-final: one checkpoint (step {T})" in line and "2 steps or more" in line
    line = _one_line(_run(tmp_path, pd.concat([table, final]), "predict", "curve", "--model",
                          "cosine", "--measured", "cosine-final"))
    assert "--measured cosine-final: 1 checkpoint(s) after step 0" in line and "--schedule" in line
    start = table[table["step"] == 0].assign(model="start", lr=PEAK)  # int(nan) of its last step
    line = _one_line(_run(tmp_path, pd.concat([table, start]), "predict", "curve", "--model",
                          "cosine", "--measured", "start", "--schedule", "cosine:100"))
    assert "--measured start: no checkpoint after step 0" in line


def test_a_schedule_that_never_decays_says_the_annealing_terms_are_not_estimated():
    """With a constant LR, S2 and LD are 0 at every point: multi-power printed C = 0.001,
    beta = 0.3, gamma = 0.2 (its grid's starts) with no word that nothing estimated them."""
    flat = LRSchedule(peak=PEAK, warmup_steps=20, style="constant")
    steps = np.arange(40, T + 1, 40)
    for law in ("momentum", "multi-power"):
        curves = curves_from_schedules({"flat": flat}, {"flat": steps}, lr_scale=PEAK)
        curves.loss = law_for("momentum").loss_curve(TRUTH["momentum"], curves)
        result = fit_curves(curves, law, n_bootstrap=0)
        said = [w for w in result.warnings if w.startswith("not estimated: ")]
        assert said and said[0].startswith(f"not estimated: {', '.join(law_for(law).annealing)};")
    curves = curves_from_schedules({"cos": COSINE}, {"cos": steps}, lr_scale=PEAK)
    curves.loss = law_for("momentum").loss_curve(TRUTH["momentum"], curves)
    assert not any("not estimated" in w for w in fit_curves(curves, "momentum",
                                                            n_bootstrap=0).warnings)


def test_a_final_loss_far_past_the_fitted_steps_is_called_a_projection(tmp_path):
    """cosine:100000 on a law fitted to 2400 steps printed 'a prediction for a schedule no
    fitted run followed', 41.7x past the data; only a note below called it a projection."""
    far = _run(tmp_path, _table(), "predict", "curve", "--model", "cosine", "--schedule",
               f"cosine:{10 * T}")
    assert far.exit_code == 0, far.output
    assert (f"; a projection, 10x the last step fitted ({T}), of a schedule no fitted run "
            "followed: no run checks it") in far.stdout
    near = _run(tmp_path, _table(), "predict", "curve", "--model", "cosine", "--schedule",
                f"cosine:{T // 2}")
    assert "; a prediction for a schedule no fitted run followed, not a measurement" in near.stdout


def test_the_errors_against_a_measured_run_say_which_checkpoints_they_count(tmp_path):
    result = _run(tmp_path, _table(), "predict", "curve", "--model", "cosine", "--measured", "wsd")
    assert result.exit_code == 0, result.output
    line = next(ln for ln in result.stdout.splitlines() if ln.startswith("|relative error|"))
    # warmup 20, so twice its end is step 40; but the fit starts later, at its first checkpoint fitted,
    # and before that the law is extrapolated: the error counts the later (71db560)
    first = int(re.search(r"checkpoints from step (\d+)\)", result.stdout).group(1))
    assert first > 40
    scored = _table().query("model == 'wsd'")["step"]
    scored = scored[scored >= first]
    assert line.startswith(f"|relative error| at the {len(scored)} checkpoints from step {scored.min()} on "
                           f"(scored from step {first}: the first checkpoint fitted): mean ")
    assert f"; at the last, step {T}: " in line


def test_the_fit_says_the_lr_unit_of_its_scales_and_the_decay(tmp_path):
    """A and C are in units of the largest LR fitted (the laws divide the LR by it): printed
    bare, a C of 3.5e-4 read as one per unit of the raw LR, and the decay went unsaid."""
    result = _run(tmp_path, _table(), "fit", "schedule-law", "--model", "cosine")
    assert result.exit_code == 0, result.output
    top = _table().query("model == 'cosine'")["lr"].max()
    assert result.stdout.splitlines()[1] == (f"  LR read as lr / {top:.4g} (the largest LR fitted): "
                                             "the values of A, C depend on it; momentum decay "
                                             "lambda 0.999, held fixed")
    mp = _run(tmp_path, _table(), "fit", "schedule-law", "--model", "cosine", "--law", "multi-power")
    assert "the values of A, B, C depend on it\n" in mp.stdout


def test_the_plot_shows_the_projected_curve_past_the_fitted_points():
    """The y axis was the fitted points' range: a curve projected 10x past them (its loss below
    every fitted one) ran off the bottom of the figure, which showed nothing of the answer."""
    from scalefit.scaling.laws.schedule_plots import plot_curve

    steps = np.unique(np.geomspace(1, 20000, 80).astype(int))
    points = pd.DataFrame({"step": steps, "lr": 1e-3, "predicted": 3.0 + 5.0 * steps ** -0.3})
    fitted = pd.DataFrame({"step": [100, 500, 2000], "loss": 3.0 + 5.0 * np.array([100, 500, 2000]) ** -0.3})
    low, high = plot_curve(CurvePrediction(points), fitted).axes[0].get_ylim()
    assert low <= points["predicted"].iloc[-1] and high >= fitted["loss"].max()
    assert high < points["predicted"].iloc[0]  # the warmup's blow-up at step 1 stays out


def test_a_schedule_other_than_the_measured_runs_lr_is_warned(tmp_path):
    """--measured wsd --schedule cosine:2000 compared a cosine prediction with the WSD run's
    losses and printed the gap as the law's error, with no word that the schedules differ."""
    other = _run(tmp_path, _table(), "predict", "curve", "--model", "cosine", "--measured", "wsd",
                 "--schedule", f"cosine:{T}", "--warmup", "20", "--final-ratio", "0")
    assert other.exit_code == 0, other.output
    assert f"warning: --schedule cosine:{T}: not the LR that --measured wsd logged (lr column)" \
        in other.stderr
    own = _run(tmp_path, _table(), "predict", "curve", "--model", "cosine", "--measured", "wsd",
               "--schedule", f"wsd:{T}:0.2", "--warmup", "20", "--final-ratio", "0")
    assert own.exit_code == 0 and "warning" not in own.stderr, own.output


def test_a_min_step_past_every_checkpoint_says_where_they_end(tmp_path):
    line = _one_line(_run(tmp_path, _table(), "fit", "schedule-law", "--model", "cosine",
                          "--min-step", "5000"))
    assert line.endswith(f"min_step (--min-step) 5000: no checkpoint at or after it to fit; the "
                         f"last is at step {T}")


def test_a_curve_of_another_loss_column_is_not_labelled_nats(tmp_path, monkeypatch):
    """--loss-column bpb --out: the figures' axis said 'loss (nats/token)' of bits per byte."""
    import matplotlib.pyplot as plt

    from scalefit.scaling.laws import schedule_plots

    drawn = []

    def spy(*args, **kwargs):
        fig = real(*args, **kwargs)
        drawn.append(fig.axes[0].get_ylabel())
        return fig

    real = schedule_plots.plot_fitted_curves
    monkeypatch.setattr(schedule_plots, "plot_fitted_curves", spy)
    table = _table().rename(columns={"loss": "bpb"})
    result = _run(tmp_path, table, "fit", "schedule-law", "--model", "cosine", "--loss-column",
                  "bpb", "--out", str(tmp_path / "bpb"))
    assert result.exit_code == 0, result.output
    assert drawn == ["bpb (bits/byte)"]
    assert schedule_plots.loss_axis_label("loss") == "loss (nats/token)"
    plt.close("all")


def test_a_term_at_its_lower_bound_says_its_exponents_are_not_estimated():
    """A run of constant loss: A fell to its bound 1e-12 and alpha = 0.35, the grid's start, was
    printed as an estimate (only 'parameter A is at its lower bound' was said)."""
    steps = np.arange(40, T + 1, 40)
    curves = curves_from_schedules({"cos": COSINE}, {"cos": steps}, lr_scale=PEAK)
    curves.loss = np.full(steps.size, 4.0)
    warnings = fit_curves(curves, "momentum", n_bootstrap=0).warnings
    assert "not estimated: alpha; A is at its lower bound, so the term they shape is 0 at every " \
           "point" in warnings


def test_a_bad_row_of_a_run_not_asked_for_does_not_refuse_the_command(tmp_path):
    """--model cosine was refused for 'run ctrl has lr 0 at every checkpoint' (or a NaN lr of
    another run): the whole table was checked before the runs asked for were picked."""
    table = _table()
    ctrl = table[table["model"] == "cosine"].assign(model="ctrl", lr=0.0)
    both = pd.concat([table, ctrl], ignore_index=True)
    fit = _run(tmp_path, both, "fit", "schedule-law", "--model", "cosine")
    assert fit.exit_code == 0, fit.output
    pred = _run(tmp_path, both, "predict", "curve", "--model", "cosine", "--measured", "wsd")
    assert pred.exit_code == 0, pred.output
    line = _one_line(_run(tmp_path, both, "fit", "schedule-law", "--model", "cosine,ctrl"))
    assert "run ctrl has lr 0 at every checkpoint" in line  # asked for, it is still refused


def test_a_wsd_cooldown_inside_the_warmup_is_refused():
    """wsd:100:0.2 --warmup 90: the LR rose to the peak at step 90 and fell to half of it at 91
    (the cooldown had begun at 80), a schedule no one trains with, predicted without a word."""
    from scalefit.errors import InputError
    from scalefit.scaling.laws.curves import parse_schedule

    with pytest.raises(InputError) as exc:
        parse_schedule("wsd:100:0.2", peak=1.0, warmup=90)
    assert str(exc.value) == ("--warmup 90: the cooldown of 'wsd:100:0.2' starts at step 80, "
                              "inside the warmup; give --warmup 80 or less, or a shorter cooldown")
    assert parse_schedule("wsd:100:0.2", peak=1.0, warmup=80).warmup_steps == 80
    assert parse_schedule("wsd:2400:0.1", peak=1.0, warmup=2160).warmup_steps == 2160  # 2400 - 240


def test_law_takes_every_schedule_law_of_the_registry_and_its_aliases(tmp_path):
    """--law was a hand-written ('momentum', 'multi-power'): the registry's aliases (tissue, mpl)
    were refused. An alias fits the law it names; the choices are the registry's schedule laws."""
    import json

    from scalefit.scaling.laws.registry import ALIASES, REGISTRY
    from scalefit.scaling.laws.schedule_inputs import schedule_law_choices
    from scalefit.scaling.laws.schedule_law import ScheduleLaw
    one_size = {n for n, cls in REGISTRY.items() if issubclass(cls, ScheduleLaw) and not cls.by_size}
    assert {"momentum", "multi-power"} <= one_size
    assert set(schedule_law_choices()) == one_size | {a for a, n in ALIASES.items() if n in one_size}
    table = _table()
    outputs = {}
    for law in ("momentum", "tissue", "MPL"):
        result = _run(tmp_path, table, "fit", "schedule-law", "--law", law, "--json")
        assert result.exit_code == 0, result.output
        outputs[law] = json.loads(result.stdout)
    assert outputs["tissue"] == outputs["momentum"] and outputs["momentum"]["law"] == "momentum"
    assert outputs["MPL"]["law"] == "multi-power"

"""The Python API as a notebook user meets it (helper H4's audit): an argument a function takes
and would not use is refused, what `fit_law` returns equals the command's --json, results read
in a notebook, and the input table is never changed."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from scalefit.data import data_path
from scalefit.errors import InputError

CHECKPOINTS = data_path("suites", "mini", "checkpoints.parquet")
# grid: conftest's module fixture, the shipped runs.csv's 20 grid runs as read_table reads them


@pytest.fixture(scope="module")
def curve():
    """mini-3's prose-val loss curve: (model, step, lr, loss)."""
    table = pd.read_parquet(CHECKPOINTS)
    rows = table[(table["metric"] == "loss") & (table["dataset"] == "prose-val")
                 & (table["model"] == "mini-3")]
    return rows[["model", "step", "lr", "value"]].rename(columns={"value": "loss"})


@pytest.mark.parametrize("law", ["kaplan-n", "momentum"])
def test_budgets_a_law_cannot_project_to_are_refused(grid, curve, law):
    """fit_law(runs, 'kaplan-n', budgets=[1e15]) and a schedule law's fit took the budgets and
    returned no row for them, without a word (`scalefit fit kaplan-n --budget 1e15` the same)."""
    from scalefit import fit_law
    table = curve if law == "momentum" else grid
    with pytest.raises(InputError, match=f"budgets \\(--budget\\): law {law} sets no compute-optimal"):
        fit_law(table, law, n_bootstrap=0, budgets=[1e15])
    fit_law(table, law, n_bootstrap=0)  # without budgets it fits


def test_compare_keeps_budgets_for_the_laws_that_project(grid):
    """compare_laws of a one-variable law beside Chinchilla still projects Chinchilla's
    allocation to the budgets given."""
    from scalefit import compare_laws
    comparison = compare_laws(grid, ["kaplan-n", "chinchilla"], n_bootstrap=0, budgets=[1e15])
    assert [row["flops"] for row in comparison.budgets] == [1e15]
    assert "chinchilla_N_opt" in comparison.budgets[0]


def test_a_schedule_law_fit_is_what_the_command_prints(curve, tmp_path):
    """fit_law(curves, 'momentum') judged which parameters the runs identify; `scalefit fit
    schedule-law --json` (and fit_curves) on the same curve did not, so the two documents differed."""
    import json

    from click.testing import CliRunner

    from scalefit import fit_law
    from scalefit.cli import main
    from scalefit.report import dumps
    path = tmp_path / "curve.parquet"
    curve.to_parquet(path)  # the same float32 LRs the frame holds
    printed = CliRunner().invoke(main, ["fit", "schedule-law", "--data", str(path), "--bootstrap", "20",
                                        "--json"])
    assert printed.exit_code == 0, printed.output
    cli = json.loads(printed.stdout)
    api = json.loads(dumps(fit_law(curve, "momentum", n_bootstrap=20).to_dict()))  # as printed
    assert set(api["identifiability"]) == set(api["params"])
    assert {k: v for k, v in cli.items() if k not in ("data", "dataset")} == api


def _readable(text: str, lines: int = 6, width: int = 200) -> list[str]:
    """The lines of a notebook repr, checked to be a few short lines (the dataclass repr of a
    Comparison was one line of some 10,000 characters: every fit's extra dict, budget rows and
    sentences)."""
    rows = text.splitlines()
    assert 1 <= len(rows) <= lines and max(map(len, rows)) <= width, text
    return rows


def test_a_comparison_reads_in_a_notebook_and_prints_the_commands_report(grid):
    from scalefit import compare_laws
    from scalefit.scaling.laws.report import compare_text
    from scalefit.scaling.outputs import error_percent
    comparison = compare_laws(grid, n_bootstrap=20, holdout=2)
    rows = _readable(repr(comparison))
    assert rows[0] == "Comparison of kaplan, chinchilla on <run table>: 20 runs (18 fitted, 2 held out)"
    for name, fit in comparison.fits.items():
        line = next(r for r in rows if r.startswith(f"  {name}: "))
        alloc, held = fit.extra["allocation"], comparison.holdout[name]
        assert f"a = {alloc['a']:.2f} [{alloc['a_ci95'][0]:.2f}, {alloc['a_ci95'][1]:.2f}]" in line
        assert f"held-out |relative error| {error_percent(held['mean_abs_rel_error'])}" in line
    assert str(comparison) == compare_text(comparison.to_dict())


def test_a_calibration_and_a_curve_prediction_read_in_a_notebook(grid, curve):
    from scalefit import LRSchedule, calibrate_law, fit_law, predict_curve
    from scalefit.scaling.laws.calibrate_report import calibration_text
    from scalefit.scaling.outputs import error_percent
    calibration = calibrate_law(grid, "chinchilla", cuts=2, n_bootstrap=20)
    rows = _readable(repr(calibration))
    assert f"{calibration.coverage:.0%} of the observed losses inside their 95%" in rows[0]
    assert str(calibration) == calibration_text(calibration)
    fit = fit_law(curve, "momentum", n_bootstrap=0)
    steps = curve["step"].to_numpy()[2:]  # from step 2: steps 0 and 1 hold no update at an LR above 0
    prediction = predict_curve(fit, LRSchedule(peak=0.003, warmup_steps=24, decay_steps=2400), steps,
                               measured=curve["loss"].to_numpy()[2:])
    rows = _readable(repr(prediction), lines=2)
    assert f"mean {error_percent(prediction.mean_abs_rel_error)}, max {error_percent(prediction.max_abs_rel_error)}" in rows[0]


def test_calibrate_law_refuses_a_min_fit_too_small_for_the_law(grid):
    """min_fit=3 for Chinchilla's 5 parameters let the first cut keep 3 runs, whose fit was then
    refused ('column loss: 3 rows, law chinchilla needs at least 6 points') and the whole
    calibration with it, after the argument had been accepted."""
    from scalefit import calibrate_law
    with pytest.raises(InputError, match=r"^min_fit: 3 runs cannot fit law chinchilla's 5 parameters; "
                                         r"expected at least 6 \(default 10\)$"):
        calibrate_law(grid, "chinchilla", min_fit=3, n_bootstrap=20)
    assert len(calibrate_law(grid, "chinchilla", min_fit=6, cuts=1, n_bootstrap=20).cuts) == 1


def test_a_missing_column_says_how_to_map_it_in_python_too(grid):
    """The message named only the command's flags (--params COL, --columns params=COL, --loss
    COL), which fit_law and compare_laws do not take."""
    from scalefit import compare_laws, fit_law
    with pytest.raises(InputError, match=r"column 'params' is missing .*; in Python, rename it: "
                                         r"\.rename\(columns=\{'COL': 'params'\}\)\)$"):
        fit_law(grid.drop(columns=["params", "params_nonembed"]), "chinchilla", n_bootstrap=0)
    with pytest.raises(InputError, match=r"column 'final_loss' is missing .*; in Python, loss='COL'\)$"):
        compare_laws(grid, loss="final_loss", n_bootstrap=0)


def test_a_schedule_law_on_several_datasets_says_how_to_choose_one_in_python():
    """fit_law(checkpoints, 'momentum') on a table of three datasets' losses said '--dataset: choose
    one of ...', an option fit_law does not take; the rows it names fit."""
    from scalefit import fit_law
    table = pd.read_parquet(CHECKPOINTS)
    table = table[table["model"] == "mini-3"]
    with pytest.raises(InputError, match=r"choose one of code-test, prose-test, prose-val \(in Python, "
                                         r"keep its rows: table\[table\['dataset'\] == 'code-test'\]\)$"):
        fit_law(table, "momentum", n_bootstrap=0)
    assert fit_law(table[table["dataset"] == "code-test"], "momentum", n_bootstrap=0).converged


@pytest.fixture(scope="module")
def checkpoints():
    return pd.read_parquet(CHECKPOINTS)


def test_the_trajectory_results_read_in_a_notebook(checkpoints):
    """TrajectoryReport, TransitionStudy and InitStudy printed their whole tables (joined
    checkpoints, transitions, runs) and nested dicts of FitResults as dataclass reprs."""
    from scalefit import init_study, stat_trajectory, trajectory_report, transition_study
    three = checkpoints[checkpoints["model"].isin(["mini-1", "mini-2", "mini-3"])]
    report = trajectory_report(three, "excess_kurtosis", group="attn_qkv")
    rows = _readable(repr(report), lines=3)
    assert f"pooled R^2 {report.collapse['pooled_r_squared']:.3g}" in rows[1]
    assert f"partial r {report.correlation['partial_pearson']:+.2f}" in rows[1]
    assert str(report) == report.markdown()
    study = transition_study(stat_trajectory(three, "excess_kurtosis", group="attn_qkv"), n_bootstrap=0)
    rows = _readable(repr(study), lines=3)
    assert rows[0].startswith(f"TransitionStudy: {len(study.transitions)} transitions in ")
    assert rows[1] == f"  warmup regression: not run ({study.note})"
    init = init_study(data_path("suites", "mini", "init", "checkpoints.parquet"))
    rows = _readable(repr(init), lines=12, width=160)
    verdicts = [s for s in init.sentences if "the data support" in s]
    assert verdicts and all(f"    {v}" in rows for v in verdicts)
    assert str(init) == "\n".join(init.sentences)


@pytest.mark.parametrize("laws", [["momentum"], ["chinchilla", "multi-power"]])
def test_compare_laws_refuses_a_law_of_loss_curves(grid, laws):
    """compare_laws(runs, ['momentum']) went on to fit the run table as loss curves and failed on
    its missing 'step' column, in a message about `scalefit fit schedule-law`."""
    from scalefit import compare_laws
    law = laws[-1]
    with pytest.raises(InputError, match=f"^laws: {law} fits whole loss curves of a checkpoint table, "
                                         f"not a table of runs; .* fit_law\\(checkpoints, '{law}'\\)"):
        compare_laws(grid, laws, n_bootstrap=0)


@pytest.mark.parametrize("suffix", [".csv.gz", ".tsv.bz2", ".json.xz", ".jsonl.gz"])
def test_read_table_reads_a_compressed_text_table(grid, tmp_path, suffix):
    """runs.csv.gz was 'unknown table format .gz' (the anchors ship pythia_evals_other.csv.gz);
    pandas reads every compressed text form, and the fit reads it like the plain file."""
    from scalefit import fit_law, read_table
    path = tmp_path / f"runs{suffix}"
    kind = suffix.split(".")[1]
    if kind in ("csv", "tsv"):
        grid.to_csv(path, sep="," if kind == "csv" else "\t", index=False)
    else:
        grid.to_json(path, orient="records", lines=kind == "jsonl")
    table = read_table(path)
    columns = ["params", "tokens", "loss"]  # JSON's floats read back to the last bit or so
    assert table[columns].to_numpy(float) == pytest.approx(grid[columns].to_numpy(float), rel=1e-12)
    assert fit_law(path, "chinchilla", n_bootstrap=0).values() == pytest.approx(
        fit_law(grid, "chinchilla", n_bootstrap=0).values(), rel=1e-6)  # to the fit's tolerance


def test_read_table_names_a_folder_a_home_path_and_a_compressed_parquet(grid, tmp_path, monkeypatch):
    from scalefit import read_table
    with pytest.raises(InputError, match=f"^{tmp_path}: is a folder; give a table file's path"):
        read_table(tmp_path)  # was "unknown table format ''"
    monkeypatch.setenv("HOME", str(tmp_path))
    grid.to_csv(tmp_path / "runs.csv", index=False)
    assert len(read_table("~/runs.csv")) == len(grid)  # was '~/runs.csv: file not found'
    (tmp_path / "runs.parquet.gz").write_bytes(b"x")
    with pytest.raises(InputError, match=r"runs.parquet.gz: unknown table format '\.parquet\.gz'"):
        read_table(tmp_path / "runs.parquet.gz")


def test_join_checkpoints_refuses_tables_with_no_rows(checkpoints):
    """An evaluation table filtered to nothing joined into an empty frame without a word."""
    from scalefit import join_checkpoints
    evals = checkpoints[checkpoints["metric"].notna()]
    with pytest.raises(InputError, match=r"^join: the table given has no rows \(columns: model, step, "):
        join_checkpoints(evals[evals["model"] == "mini-9"])
    with pytest.raises(InputError, match=r"^join: the tables given have no rows"):
        join_checkpoints(evals.iloc[:0], checkpoints.iloc[:0])
    assert len(join_checkpoints(evals[evals["model"] == "mini-1"])) == evals.loc[
        evals["model"] == "mini-1", "step"].nunique()


def test_predict_curve_refuses_what_it_cannot_predict(curve):
    """predict_curve returned a loss of 1e-300 at step 100000 of a schedule at 100x the fitted LR
    (only `scalefit predict curve` checked for it, after the call), and 10591 nats at step 0."""
    from scalefit import LRSchedule, fit_law, predict_curve
    fit = fit_law(curve, "momentum", n_bootstrap=0)
    far = LRSchedule(peak=0.3, warmup_steps=24, decay_steps=100000)
    with pytest.raises(InputError, match=r"^schedule: the fitted law's loss falls to 0 by step 100000 "
                                         r"\(largest LR fitted .*, this schedule's 0\.3\); the law "
                                         "knows no instability"):
        predict_curve(fit, far, [100, 100000])
    assert predict_curve(fit, far, [100]).points["predicted"].iloc[0] > 1
    with pytest.raises(InputError, match="^steps: step 0 comes before the first update"):
        predict_curve(fit, far, [0, 100])


def test_an_old_argument_name_warns_as_a_scalefit_warning(curve):
    """The renamed-argument warning was a plain FutureWarning: warnings.simplefilter('error',
    ScalefitWarning), the library's one category, let it through."""
    import warnings

    from scalefit import ScalefitWarning, stat_trajectory, transition_study
    trajectory = stat_trajectory(pd.read_parquet(CHECKPOINTS), "std", group="mlp_in", models=["mini-1"])
    with warnings.catch_warnings():
        warnings.simplefilter("error", ScalefitWarning)
        with pytest.raises(ScalefitWarning, match="the argument 'traj' is now called 'trajectory'") as caught:
            transition_study(traj=trajectory, n_bootstrap=0)
    assert isinstance(caught.value, FutureWarning)  # still shown by notebooks, as the README says


@pytest.mark.parametrize("models", [5, 2.0])
def test_a_models_argument_that_names_no_model_is_an_input_error(checkpoints, models):
    """stat_trajectory(table, 'std', models=5) raised TypeError: 'int' object is not iterable."""
    from scalefit import stat_trajectory, trajectory_report
    for call in (stat_trajectory, trajectory_report):
        with pytest.raises(InputError, match=r"^models \(--models\): got an? (int|float); give model names"):
            call(checkpoints, "std", group="mlp_in", models=models)


def test_a_run_table_object_is_read_by_every_law_function(grid):
    """compare_laws(RunTable) said 'got a RunTable; give a DataFrame, ..., a RunTable, or ...' and
    calibrate_law(RunTable) 'a RunTable is not a table'; fit_law took it."""
    from scalefit import calibrate_law, compare_laws, fit_law
    from scalefit.scaling.laws.runtable import as_run_table
    table = as_run_table(grid, "chinchilla")
    assert compare_laws(table, n_bootstrap=0).fits["chinchilla"].values() == pytest.approx(
        compare_laws(grid, n_bootstrap=0).fits["chinchilla"].values(), rel=1e-12)
    assert calibrate_law(table, "kaplan", cuts=1, n_bootstrap=4).n_runs == len(grid)
    assert fit_law(table, "kaplan", n_bootstrap=0).n_points == len(grid)


def test_a_comparison_with_an_isoflop_fit_shows_no_rmse_it_does_not_have(anchors):
    """An IsoFLOP fit (budget optima, no loss surface) read 'RMSE(log L) nan' in the repr."""
    from scalefit import compare_laws
    points = pd.read_csv(anchors / "scaling" / "porian" / "porian_isoflop_points.csv")
    one = points[(points["dataset"] == "rw") & (points["hparams"] == "base") & (points["warmup"] == "long")
                 & (points["decay"] == "kaplan") & (points["param_count"] == "kaplan")]
    comparison = compare_laws(one.rename(columns={"n": "params"}), ["isoflop", "chinchilla"], n_bootstrap=0)
    rows = _readable(repr(comparison))
    assert rows[1].startswith("  isoflop: ") and "RMSE" not in rows[1] and "nan" not in rows[1]
    assert f"RMSE(log L) {comparison.fits['chinchilla'].extra['rmse_log']:.4g}" in rows[2]


def test_the_isoflop_method_is_read_in_any_case_as_law_names_are(anchors):
    """fit_law(runs, 'IsoFLOP') was accepted but isoflop_method='Akima' refused; the method is
    now read as the law name is, and the fit uses it."""
    from scalefit import fit_law
    points = pd.read_csv(anchors / "scaling" / "porian" / "porian_isoflop_points.csv")
    one = points[(points["dataset"] == "rw") & (points["hparams"] == "base") & (points["warmup"] == "long")
                 & (points["decay"] == "kaplan") & (points["param_count"] == "kaplan")]
    runs = one.rename(columns={"n": "params"})
    fit = fit_law(runs, "IsoFLOP", n_bootstrap=0, isoflop_method=" Akima ")
    assert fit.extra["method"] == "akima"
    assert fit.values() == fit_law(runs, "isoflop", n_bootstrap=0, isoflop_method="akima").values()
    with pytest.raises(InputError, match=r"unknown method 'spline' \(parabola, akima\)"):
        fit_law(runs, "isoflop", n_bootstrap=0, isoflop_method="spline")


def test_transition_choices_are_read_in_any_case_and_checked_in_one_place(checkpoints):
    """transition_study(which='First') and interval_method='Local-Strong' were refused, though law
    names are read in any case; segmented.py and transitions.py each had a checked_interval_method
    with its own message ('interval method 'x': one of ...' from find_transitions)."""
    from scalefit import stat_trajectory, transition_study
    from scalefit.scaling.trajectories.transition_search import find_transitions
    trajectory = stat_trajectory(checkpoints, "std", group="mlp_in", models=["mini-1"])
    study = transition_study(trajectory, which=" First", interval_method="Local-Strong", n_bootstrap=0)
    plain = transition_study(trajectory, which="first", interval_method="local-strong", n_bootstrap=0)
    assert study.interval_method == "local-strong"
    pd.testing.assert_frame_equal(study.transitions, plain.transitions)
    for call in (lambda: transition_study(trajectory, interval_method="wild", n_bootstrap=0),
                 lambda: find_transitions(np.arange(20.0), np.arange(20.0), interval_method="wild")):
        with pytest.raises(InputError, match=r"^interval_method: 'wild' is not an interval method; expected one of"):
            call()


def test_checkpoints_left_out_show_in_the_trajectory_results(checkpoints):
    """A checkpoint whose statistic is inf is left out with a note, which the command prints
    ('note: ...') but a notebook saw only by looking in .notes."""
    from scalefit import stat_trajectory, trajectory_report, transition_study
    table = checkpoints[checkpoints["model"].isin(["mini-1", "mini-2", "mini-3"])].copy()
    table["value"] = table["value"].astype(float)
    rows = table.index[(table["stat"] == "std") & (table["group"] == "mlp_in") & (table["tensor"] == "*")]
    table.loc[rows[5], "value"] = np.inf
    report = trajectory_report(table, "std", group="mlp_in")
    study = transition_study(stat_trajectory(table, "std", group="mlp_in"), n_bootstrap=0)
    for result in (report, study):
        assert len(result.notes) == 1 and "have no finite stat 'std'" in result.notes[0]
        assert f"  note: {result.notes[0]}" in _readable(repr(result), lines=4, width=300)


@pytest.mark.parametrize("kw", [dict(holdout=True), dict(seed=True), dict(n_bootstrap=False),
                                dict(delta=np.True_)])
def test_true_or_false_where_a_number_goes_is_refused(grid, kw):
    """compare_laws(runs, holdout=True) held out one run ('yes, hold some out' read as the count
    1); seed=True was seed 1 and n_bootstrap=False no bootstrap, without a word."""
    from scalefit import compare_laws
    name, value = next(iter(kw.items()))
    with pytest.raises(InputError, match=f"'{value}' is True or False, not a number; expected"):
        compare_laws(grid, **{"n_bootstrap": 0, **kw})


def test_a_curve_prediction_shows_a_tiny_error_as_not_zero():
    """A curve predicted to 3.6e-05 read 'mean 0.00%' in a notebook, where the commands print
    0.0036% (outputs.error_percent)."""
    import pandas as pd

    from scalefit.scaling.laws.curve_fit import CurvePrediction
    points = pd.DataFrame({"step": [10, 20], "scored": [True, True]})
    text = repr(CurvePrediction(points, mean_abs_rel_error=3.6e-05, max_abs_rel_error=0.0125, final_abs_rel_error=0.0))
    assert "mean 0.0036%, max 1.25%; at the last step 0.00%" in text

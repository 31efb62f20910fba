"""The quote audit's loose ends (S5's report): fit schedule-law's parameter lines and the
warning beside them print one interval one way (the interval rule), and an interval that
excludes 0 never prints an end as 0."""
from __future__ import annotations

import numpy as np
import pytest

from scalefit.scaling.fitresult import ParamEstimate
from scalefit.scaling.interval_text import interval_text
from scalefit.scaling.laws.identifiability import identifiability_warning
from scalefit.scaling.laws.schedule_cli import _fit_text


# --------------------------------------------------------------------- the interval rule


def test_an_interval_that_excludes_zero_prints_no_end_as_zero():
    """A's resamples 117 to 9.535e+09 printed at the width's place read [0, 9.5e+09], as if A
    could be 0; E's resamples 3.3e-05 to 0.0185 beside E = 0 read [0, 0.019], which holds the
    estimate that the line calls outside its interval."""
    assert interval_text(117.0, 9.535e9, 1000.0) == "[120, 9.5e+09]"
    assert interval_text(3.332e-05, 0.01854, 0.0) == "[3.3e-05, 0.019]"
    assert interval_text(-9.535e9, -117.0) == "[-9.5e+09, -120]"
    assert interval_text(0.0, 4.0455, 9e-18) == "[0, 4.0]"  # an end at 0 stays 0
    assert interval_text(-0.3, 12.0) == "[0, 12]"  # an interval across 0: the width's place


def test_an_estimate_outside_its_interval_stays_outside_the_printed_ends():
    """C = 1.000e-08 beside resamples in [1.004e-08, 1.3e-08]: at the width's place the lower end
    rounds to the estimate, so the ends get the digit that keeps it out."""
    lo, hi = interval_text(1.004e-08, 1.3e-08, 1.0e-08)[1:-1].split(", ")
    assert float(lo) > 1.0e-08 and lo == "1.004e-08"
    assert interval_text(1.004e-08, 1.3e-08) == "[1.00e-08, 1.30e-08]"  # no estimate to keep out


# --------------------------------------------------------------------- fit schedule-law


def test_schedule_law_lines_and_their_warning_print_one_interval_one_way():
    """fit schedule-law printed 'A = ...  95% CI [117, 9.535e+09]' (4 digits) above the warning
    'A (95% CI [117, 9.54e+09], ...)' (3 digits): both now follow the interval rule."""
    params = {"E": (2.0e-17, (3.332e-05, 0.01854)), "A": (1000.0, (117.0, 9.535e9)),
              "K": (2.469, (2.184, 2.791))}
    ident = {"E": {"relative_width": np.inf, "status": "not identified"},
             "A": {"relative_width": 9.5e6, "status": "not identified"}}
    warning = identifiability_warning(ident, {k: ParamEstimate(v, ci95=ci) for k, (v, ci) in params.items()})
    out = {"law": "momentum-n", "n_points": 123, "n_runs": 3, "runs": ["mini-1", "mini-3", "mini-5"],
           "params": {k: {"value": v, "ci95": list(ci)} for k, (v, ci) in params.items()},
           "rmse_log": 0.0073, "mean_abs_rel_error": 0.0054, "max_abs_rel_error": 0.0237, "warnings": [warning]}
    lines = _fit_text(out).splitlines()
    expected = {"E": "[3.3e-05, 0.019]", "A": "[120, 9.5e+09]", "K": "[2.18, 2.79]"}
    for name, shown in expected.items():
        line = next(x for x in lines if x.strip().startswith(f"{name} = "))
        assert f"  95% CI {shown}" in line, line
    assert "E (95% CI [3.3e-05, 0.019], its value 0" in warning
    assert "A (95% CI [120, 9.5e+09], its value 1e+03" in warning
    assert lines[-1] == f"  warning: {warning}"


# --------------------------------------------------------------------- loss units


def test_a_loss_column_named_val_loss_carries_its_unit(tmp_path, relation_axis_labels):
    """A loss-to-loss table's val_loss printed no unit in the text or on relation.png's axes: a
    cross entropy named *_loss is in nats/token (DESIGN.md), bpb in bits/byte; a name that does
    not tell stays unitless. Fit's loss_unit reads the same rule."""
    import pandas as pd
    from click.testing import CliRunner

    from scalefit.cli import main
    from scalefit.scaling.laws.cli import default_runs_path
    from scalefit.scaling.laws.report import loss_unit
    from scalefit.scaling.relations.report import units_of

    assert units_of("val_loss (fineweb-edu-100b)", "val_loss (starcoder)", "shifted-power") == \
        {"x": "nats/token", "y": "nats/token"}
    assert units_of("bpb (prose)", "code_bpb (code)", "shifted-power") == {"x": "bits/byte", "y": "bits/byte"}
    assert units_of("gold_ce", "lossy", "shifted-power") == {}  # names that do not tell
    assert loss_unit("val_loss") == "nats/token" and loss_unit("bpb") == "bits/byte"
    runs = pd.read_csv(default_runs_path())
    path = tmp_path / "l2l.csv"
    runs[runs["part"] == "grid"].rename(columns={"loss": "val_loss", "loss_code_test": "code_test_loss"}) \
        .to_csv(path, index=False)
    labels = relation_axis_labels
    result = CliRunner().invoke(main, ["predict", "downstream", "--data", str(path), "--x", "val_loss",
                                       "--y", "code_test_loss", "--bootstrap", "0", "--out", str(tmp_path / "o")])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0].endswith("; x and y in nats/token")
    assert labels == [("val_loss, nats/token", "code_test_loss, nats/token")]


# --------------------------------------------------------------------- budgets given


def _invoke(*args) -> str:
    from click.testing import CliRunner

    from scalefit.cli import main
    result = CliRunner().invoke(main, list(args))
    assert result.exit_code == 0, result.output
    return result.stdout


def test_budgets_given_replace_the_published_ones_not_their_distance():
    """fit isoflop --budget 5.88e23 (Porian's points) printed 'published budgets 5.76e+23, 1e+25
    FLOPs left out: ... beyond the largest fitted run (...; pass --budget FLOPS to project there
    anyway)' beside the --budget it had passed: the budgets given replaced them."""
    import json
    fit = _invoke("fit", "chinchilla", "--budget", "1e24", "--bootstrap", "0")
    assert "pass --budget" not in fit and "left out" not in fit
    assert ("published budgets 1e+21, 5.76e+23, 1e+25 FLOPs not shown: the budgets given (--budget) "
            "replace the default ones") in fit.splitlines()
    compared = _invoke("compare", "kaplan", "chinchilla", "--budget", "1e24", "--budget", "1e21",
                       "--bootstrap", "0")
    assert "pass --budget" not in compared
    assert ("published budgets 5.76e+23, 1e+25 FLOPs not shown: the budgets given (--budget) "
            "replace the default ones") in compared.splitlines()
    doc = json.loads(_invoke("compare", "kaplan", "chinchilla", "--budget", "1e24", "--bootstrap", "0", "--json"))
    assert doc["budget_rule"].startswith("budgets: those given (--budget)")
    assert [r["flops"] for r in doc["budgets"]] == [1e24]
    default = _invoke("fit", "chinchilla", "--bootstrap", "0")  # no --budget: the distance is why
    assert "FLOPs left out: " in default and "pass --budget FLOPS to project there anyway" in default


# --------------------------------------------------------------------- counts and percentages


def test_one_held_out_run_is_singular():
    from scalefit.scaling.laws.report import holdout_lines
    from scalefit.scaling.relations.report import holdout_summary
    assert holdout_summary({"n": 1, "mean_abs_rel_error": 0.0123}).startswith(
        "held out 1 run (largest compute")
    assert holdout_summary({"n": 2, "mean_abs_rel_error": 0.0123}).startswith("held out 2 runs (")
    assert "0.50% on 1 run" in holdout_lines("kaplan", {"n": 1, "mean_abs_rel_error": 0.005})[0]


def test_compare_metrics_print_the_held_out_error_as_the_percentage_beside_it():
    """compare's metrics table printed holdout_mean_abs_rel_error 0.002718 above 'held-out (kaplan):
    mean |relative error| 0.27%': the table now prints the percentage; --json keeps the fraction."""
    import json
    args = ["compare", "kaplan", "chinchilla", "--holdout", "2", "--bootstrap", "0"]
    text = _invoke(*args)
    doc = json.loads(_invoke(*args, "--json"))
    lines = text.splitlines()
    head = next(i for i, x in enumerate(lines) if "holdout_mean_abs_rel_error" in x)
    column = lines[head].split().index("holdout_mean_abs_rel_error")
    for law, fit in doc["fits"].items():
        fraction = fit["holdout"]["mean_abs_rel_error"]
        assert 0 < fraction < 1
        row = next(x.split() for x in lines[head + 2:head + 4] if x.split()[0] == law)
        assert row[column] == f"{fraction:.2%}"
        assert f"held-out ({law}): mean |relative error| {fraction:.2%} on 2 runs" in text


def test_calibrate_cut_table_prints_percentages_beside_its_coverage_line():
    """calibrate's cut table printed coverage 1 and median |rel err| 0.01342 above 'coverage: 22
    of 22 ... (100%)': both are percentages now; cuts.csv and --json keep the fractions."""
    import pandas as pd

    from scalefit.scaling.laws.calibrate import cut_summary, summarize
    from scalefit.scaling.laws.calibrate_report import calibration_text
    distance = np.array([1.5, 1.8, 3.0])
    part = pd.DataFrame({"cut_flops": 1e18, "flops": distance * 1e18, "distance": distance,
                         "observed": 3.0, "predicted": [3.1, 3.0402, 3.3], "pi95_lo": 2.9,
                         "pi95_hi": [3.3, 3.3, 3.2], "inside": [True, True, False]})
    part["relative_error"] = part.predicted / part.observed - 1
    part["interval_half_width"] = (part.pi95_hi - part.pi95_lo) / 2 / part.predicted
    result = summarize("chinchilla", "runs.csv", 20, 200, [part], [cut_summary(1e18, 1e18, 14, part)])
    assert result.cuts["median_abs_rel_error"].iloc[0] == pytest.approx(0.0334, abs=1e-4)
    text = calibration_text(result).splitlines()
    head = next(i for i, x in enumerate(text) if x.startswith("cut FLOPs"))
    assert "  coverage  median |rel err|" in text[head]
    row = text[head + 2].split()
    assert row[4:6] == ["67%", "3.33%"]  # 2 of 3 inside; median |0.0334|
    assert any(x.startswith("coverage: 2 of 3 observed losses (67%)") for x in text)


# --------------------------------------------------------------------- an interrupted calibration


@pytest.mark.parametrize("stop_at", [1, 2])
def test_an_interrupted_calibration_counts_the_cuts_it_holds(monkeypatch, stop_at):
    """Ctrl-C after a cut's rows were appended (here in the progress bar's update) said
    'interrupted after {loop index} of N', one cut fewer than the partial calibration held (or
    escaped as a bare KeyboardInterrupt); the line and Interrupted.done now count the cuts kept."""
    from types import SimpleNamespace

    import tqdm

    from scalefit.scaling.laws.calibrate import calibrate_cuts
    from scalefit.signals import Interrupted
    calls = []
    real = tqdm.tqdm.update

    def update(self, n=1):
        calls.append(n)
        if len(calls) == stop_at:
            raise KeyboardInterrupt
        return real(self, n)

    monkeypatch.setattr(tqdm.tqdm, "update", update)

    def finish(rows, per_cut, notes=()):
        return SimpleNamespace(rows=rows, cuts=per_cut, notes=list(notes))

    with pytest.raises(KeyboardInterrupt) as stopped:  # the old code let a bare one escape
        calibrate_cuts([1e18, 2e18, 4e18], lambda cut: (f"rows of {cut:g}", {"cut_flops": cut}), finish)
    assert isinstance(stopped.value, Interrupted), "a bare KeyboardInterrupt: the finished cuts lost"
    partial = stopped.value.partial
    assert len(partial.cuts) == len(partial.rows) == stop_at == stopped.value.done
    assert partial.interrupted == (f"interrupted after {stop_at} of 3 compute cuts (the lowest): the "
                                   "coverage counts only their predictions")
    assert partial.notes == [partial.interrupted]
    assert stopped.value.message().startswith(f"interrupted: {stop_at} of 3 compute cuts finished")


def test_a_stop_inside_a_cut_keeps_the_cuts_before_it():
    """A stop in the second cut's fit keeps the first cut only, and says 1 of 3."""
    from types import SimpleNamespace

    from scalefit.scaling.laws.calibrate import calibrate_cuts
    from scalefit.signals import Interrupted

    def one_cut(cut):
        if cut > 1e18:
            raise KeyboardInterrupt
        return "rows", {"cut_flops": cut}

    with pytest.raises(Interrupted) as stopped:
        calibrate_cuts([1e18, 2e18, 4e18], one_cut,
                       lambda rows, per_cut, notes=(): SimpleNamespace(cuts=per_cut, notes=list(notes)))
    assert stopped.value.done == len(stopped.value.partial.cuts) == 1
    assert stopped.value.partial.interrupted.startswith("interrupted after 1 of 3 compute cuts")

"""What a result states is the same in every form (audit s43, task s7): `predict curve` prints the
fit's warnings and labels each point's kind in curve.csv and the JSON; `compare --schedules`
reports in its JSON only the shares its text reports, with their unit, and prints its
prediction table in %; a downstream parameter on its bound in the fit and every resample has no
interval and no stderr in the JSON, params.csv and report.md either, and the JSON says how well
each parameter is identified; pairs.csv's y is said to be observed; calibrate's JSON says its
fractions are fractions; a curve's |relative errors| are named as the project names them."""
from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from pinned_runs import SHIPPED_SCHEDULES, pinned_outputs

from scalefit.cli import main

ROOT = Path(__file__).resolve().parents[1]


# --- 1. predict curve: the fit's warnings, each point's kind -------------------------------------

@pytest.fixture(scope="module")
def mini1_fit(mini1_momentum_fit):
    """The momentum law fitted to mini-1's long run (checkpoints from step 64 to 2400)."""
    return mini1_momentum_fit


def test_predict_curve_prints_the_fits_warnings(monkeypatch):
    """`predict curve --schedule wsd:1120:0.2 --model mini-3` printed only the final loss where
    its JSON (and `fit schedule-law` on the same fit) said L0 and alpha are not identified and
    L0's interval reaches 0: the text now prints the fit's warnings, as fit schedule-law does."""
    from scalefit.scaling.laws import curve_fit
    said = ("parameter L0: its 95% interval [0, 3.589] reaches the lower bound 0: the data do not "
            "bound L0 from below")
    real = curve_fit.fit_curves

    def fit_warning_of(*args, **kwargs):  # the bootstrap's warnings, without its 200 refits
        result = real(*args, **kwargs)
        result.warnings.append(said)
        return result

    monkeypatch.setattr(curve_fit, "fit_curves", fit_warning_of)
    result = CliRunner().invoke(main, ["predict", "curve", "--law", "momentum", "--schedule",
                                       "wsd:1120:0.2", "--model", "mini-3", "--bootstrap", "0"])
    assert result.exit_code == 0, result.output
    assert f"warning: {said}" in result.output.splitlines()


def test_each_point_of_a_predicted_curve_has_its_kind(mini1_fit):
    """Before the first checkpoint fitted: extrapolation; within the fitted steps and LRs:
    interpolation; past the last step fitted or above the largest LR fitted: projection;
    beside a measured run: prediction."""
    from scalefit import LRSchedule, predict_curve
    lr = mini1_fit.extra["lr_scale"]
    steps = [10, 100, 1000, 2400, 3000, 4800]
    kinds = predict_curve(mini1_fit, LRSchedule(lr, 10, 4800), steps).points["kind"].tolist()
    assert kinds == ["extrapolation", "interpolation", "interpolation", "interpolation",
                     "projection", "projection"]
    hot = predict_curve(mini1_fit, LRSchedule(2 * lr, 10, 2000), [100, 1000]).points
    assert hot["kind"].tolist() == ["projection", "projection"]  # an LR the fit never saw
    measured = predict_curve(mini1_fit, LRSchedule(lr, 10, 2400), [100, 2000],
                             measured=[5.0, 4.0]).points
    assert measured["kind"].tolist() == ["prediction", "prediction"]


def test_curve_csv_and_json_say_which_points_are_projections(tmp_path):
    """--schedule cosine:5000 on mini-3 (fitted to step 2400): the text said 'a projection,
    2.08x' but curve.csv and the JSON points had no kind."""
    out = tmp_path / "curve"
    result = CliRunner().invoke(main, ["predict", "curve", "--law", "momentum", "--schedule",
                                       "cosine:5000", "--model", "mini-3", "--bootstrap", "0",
                                       "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "a projection, 2.08x the last step fitted (2400)" in result.output
    curve = pd.read_csv(out / "curve.csv")
    assert set(curve["kind"]) == {"extrapolation", "interpolation", "projection"}
    assert (curve.loc[curve["step"] > 2400, "kind"] == "projection").all()
    assert (curve.loc[(curve["step"] >= 64) & (curve["step"] <= 2400), "kind"] == "interpolation").all()
    doc = json.loads((out / "prediction.json").read_text())
    points = doc["points"]
    assert [p["kind"] for p in points] == curve["kind"].tolist()
    assert points[-1]["kind"] == "projection"
    assert doc["loss_unit"] == "nats/token"  # the JSON says the unit of every loss it states


# --- 2. compare --schedules: a share the text does not report is not in the JSON ------------------

def _share(gap, gap_ci, n=200):
    from scalefit.scaling.laws.schedule_gap import _share, stated_share
    rng = np.random.default_rng(0)
    den = rng.normal(gap, (gap_ci[1] - gap_ci[0]) / 3.92, n)
    return stated_share(_share(0.5 * den, den, 0.5 * gap, gap), n)


def test_a_share_not_identified_has_no_value_and_says_why():
    """The shipped suite's gap +0.050 [-0.259, +0.263]: the text says the share is not
    identified; the JSON gave -1.43 (and, at 10x, -172.5 with an interval [-91.4, 42.9])."""
    share = _share(0.05, (-0.26, 0.26))
    assert share["value"] is None and share["ci95"] is None and share["reported"] is False
    assert "includes 0" in share["reason"] and "not identified" in share["reason"]
    assert share["gap"] == pytest.approx(0.05)  # the gap the text prints stays


def test_a_reported_share_says_its_unit_and_few_resamples_report_none():
    from scalefit.scaling.laws.schedule_gap import SHARE_UNIT, share_refusal, stated_share
    share = _share(0.2, (0.1, 0.3))
    assert share["reported"] and share["value"] == pytest.approx(0.5)
    assert share["unit"] == SHARE_UNIT and "fraction" in share["unit"]
    rough = stated_share(share, 50)  # the text: '50 resamples cannot tell whether there is a gap'
    assert rough["value"] is None and "50 resamples" in rough["reason"]
    assert share_refusal(share, 0).startswith("no resamples")


@pytest.fixture(scope="module")
def shipped_gap(tmp_path_factory):
    """`compare kaplan chinchilla --schedules --out` on the shipped suite: (text, JSON). The README
    test's run of it, made once per session (tests/pinned_runs.py)."""
    result = pinned_outputs(tmp_path_factory, {"schedules": SHIPPED_SCHEDULES})["schedules"]
    assert result["exit_code"] == 0, result["error"]
    return result["stdout"], json.loads((result["out"] / "schedule_gap.json").read_text())


def test_shipped_shares_the_text_refuses_are_null_in_the_json(shipped_gap):
    text, doc = shipped_gap
    # the settings say the resampling unit (runs) apart from the loss's unit (it was 'unit': 'run')
    assert doc["settings"]["resampling_unit"] == "run" and "unit" not in doc["settings"]
    assert doc["settings"]["loss_unit"] == "nats/token"
    # the text gives a's and the 10x loss's reason in the JSON's words (schedule_gap.unidentified_share)
    assert doc["shares"]["a"]["reason"] in text and doc["shares"]["loss_10x"]["reason"] in text
    for key in ("a", "loss_10x", "loss_100x"):
        share = doc["shares"][key]
        assert share["value"] is None and share["ci95"] is None, key
        assert share["reported"] is False and "includes 0" in share["reason"]
    assert all(f"{100 * s['value']:.0f}%" not in text for s in doc["shares"].values()
               if isinstance(s, dict) and s.get("value") is not None)


def test_shipped_prediction_table_is_in_percent_as_its_sentences(shipped_gap):
    """The table printed 0.0136 under the sentence's 1.36%."""
    text, doc = shipped_gap
    table = text.split("|relative error| of the final loss):")[1]
    assert "mean |rel err|" in table and "max |rel err|" in table
    summary = pd.DataFrame(doc["prediction"]["summary"]).set_index(["method", "part"])
    mean = summary.loc[("schedule_law", "all"), "mean_abs_rel_error"]
    assert f"{100 * mean:.2f}%" in table and f"{mean:.4f}" not in table
    assert f"the schedule law {100 * mean:.2f}%" in text


# --- 3. predict downstream: a parameter on its bound, and identification in the JSON -------------

def test_no_interval_at_bound_drops_the_bounds_interval_and_stderr():
    from scalefit.scaling.fitresult import FitResult, ParamEstimate
    from scalefit.scaling.relations.accuracy import no_interval_at_bound
    result = FitResult("sigmoid", {"a": ParamEstimate(1.0, 0.327, (0.999999999999398, 1.0), 3.9e-13),
                                   "b": ParamEstimate(0.53, 0.001, (0.527, 0.532), 0.0012)},
                       n_points=40, objective=0.1, converged=True,
                       warnings=["parameter a is at its upper bound"],
                       draws={"a": np.ones(10), "b": np.linspace(0.527, 0.532, 10)})
    no_interval_at_bound(result)
    a = result.params["a"].to_dict()
    assert a["value"] == 1.0
    assert all(np.isnan(v) for v in (a["stderr"], a["stderr_fit"], *a["ci95"]))
    assert result.extra["no_interval"] == {"a": "at its upper bound in the fit and in every resample"}
    assert result.params["b"].ci95 == (0.527, 0.532)  # an estimate keeps its interval


@pytest.fixture(scope="module")
def pythia_downstream(tmp_path_factory):
    """The audit's command on Pythia's evals (a on its upper bound 1 in every resample)."""
    evals = Path(__file__).resolve().parents[1].parent / "shared" / "anchors" / "pythia" / "pythia_evals.csv"
    if not evals.is_file():
        pytest.skip("../shared/anchors is absent")
    out = tmp_path_factory.mktemp("ds") / "ds"
    result = CliRunner().invoke(main, ["predict", "downstream", "--data", str(evals),
                                       "--x", "lambada_openai:perplexity@0shot", "--y",
                                       "piqa:acc@0shot", "--relation", "sigmoid", "--at-x", "1.5",
                                       "--bootstrap", "200", "--out", str(out)])
    assert result.exit_code == 0, result.output
    return result.output, out


def test_a_parameter_on_its_bound_has_no_interval_in_any_form(pythia_downstream):
    text, out = pythia_downstream
    assert re.search(r"^  a +1  at its upper bound in the fit and in every resample: no interval$",
                     text, re.M)
    doc = json.loads((out / "result.json").read_text())
    a = doc["params"]["a"]
    assert a["stderr"] is None and a["stderr_fit"] is None and a["ci95"] == [None, None]
    row = pd.read_csv(out / "params.csv").set_index("param").loc["a"]
    assert row[["stderr", "stderr_fit", "ci95_lo", "ci95_hi"]].isna().all()
    md = (out / "report.md").read_text()
    assert "| a | 1 | - | - | - | - | at its upper bound |" in md


def test_downstream_json_says_how_well_each_parameter_is_identified(pythia_downstream):
    """Text, params.csv and report.md said it; the JSON did not."""
    text, out = pythia_downstream
    doc = json.loads((out / "result.json").read_text())
    csv = pd.read_csv(out / "params.csv").set_index("param")["identified"]
    assert {name: p["identified"] for name, p in doc["params"].items()} == csv.to_dict()
    assert doc["params"]["a"]["identified"] == "at its upper bound"
    for name, p in doc["params"].items():  # the text's label, where it prints one
        line = next(line for line in text.splitlines() if line.startswith(f"  {name} "))
        assert p["identified"] in line or (p["identified"] == "identified"
                                           and "identified" not in line), line


def test_pairs_csv_y_is_said_to_be_observed(pythia_downstream):
    _, out = pythia_downstream
    md = (out / "report.md").read_text()
    pairs = md.split("- pairs.csv:")[1]
    assert "`y`: the observed value, piqa:acc@0shot" in pairs
    assert "the predicted value" not in pairs


# --- 4. names and units --------------------------------------------------------------------------

def test_calibrate_json_says_its_widths_are_fractions():
    from scalefit.scaling.laws.calibrate import cut_summary, summarize
    part = pd.DataFrame({"distance": [1.5, 3.0], "inside": [True, False],
                         "relative_error": [0.02, -0.04], "interval_half_width": [0.05, 0.05]})
    doc = summarize("chinchilla", "runs.csv", 20, 0, [part],
                    [cut_summary(1e18, 1e18, 14, part)]).to_dict()
    assert doc["predictions"][0]["interval_half_width"] == 0.05
    for key in ("interval_half_width", "median_interval_half_width", "relative_error", "coverage"):
        assert "fraction" in doc["units"][key], key


def test_a_curves_abs_relative_errors_are_named_so(mini1_fit):
    """mean_rel_error / max_rel_error held |relative error|s, the project's mean_abs_rel_error."""
    from scalefit import LRSchedule, predict_curve
    assert "mean_abs_rel_error" in mini1_fit.extra and "mean_rel_error" not in mini1_fit.extra
    prediction = predict_curve(mini1_fit, LRSchedule(mini1_fit.extra["lr_scale"], 10, 2400),
                               [100, 2000], measured=[5.0, 4.0])
    out = prediction.to_dict()
    assert {"mean_abs_rel_error", "max_abs_rel_error", "final_abs_rel_error"} <= set(out)
    assert out["max_abs_rel_error"] == prediction.points["rel_error"].abs().max()
    old = re.compile(r"\b(mean|max|final)_rel_error\b")
    said = [f"{path.relative_to(ROOT)}:{n}" for path in sorted((ROOT / "scaling").rglob("*.py"))
            for n, line in enumerate(path.read_text().splitlines(), 1) if old.search(line)]
    assert said == []

"""Loose ends of two audits (s45 s10): warmup-study leaves out a panel with no measured value and
names it; a trajectory whose floor E ends at the lowest loss says so; transitions' Files legend
says what its breakpoint intervals are; rough-interval and prediction notes that match the
command; no raw numpy overflow warning at a far x; bound warnings print their interval's ends as
the tables do."""
from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from lmfit import Parameters

from scalefit.cli import main
from scalefit.data import MINI_CHECKPOINTS, data_path
from scalefit.errors import InputError
from scalefit.scaling.fitresult import ParamEstimate, interval_bound_warnings
from scalefit.scaling.interval_text import interval_text
from scalefit.scaling.relations.forms import shifted_power_law
from scalefit.scaling.trajectories.breakpoint_intervals import INTERVAL_METHOD, interval_level
from scalefit.scaling.trajectories.trajectory import trajectory_report
from scalefit.scaling.trajectories.warmup_study import warmup_study

CAP = 1e4  # t_nu's cap: a value there is no measurement


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


@pytest.fixture(scope="module")
def capped(tmp_path_factory):
    """The shipped mini checkpoint table with every t_nu of group mlp_in at its cap (the audit's
    tiny suite: t_nu/mlp_in had no measured value, the other panels had), and its path."""
    table = pd.read_parquet(data_path(*MINI_CHECKPOINTS))
    rows = (table["stat"] == "t_nu") & (table["group"] == "mlp_in")
    assert rows.any()
    table.loc[rows, "value"] = CAP
    path = tmp_path_factory.mktemp("capped") / "weights.parquet"
    table.to_parquet(path)
    return table, path


@pytest.fixture(scope="module")
def two_runs(capped, tmp_path_factory):
    """The same with two runs only: no family of 3 runs that differ only in warmup."""
    table, _ = capped
    kept = sorted(table["model"].dropna().unique())[:2]
    path = tmp_path_factory.mktemp("two") / "weights.parquet"
    table[table["model"].isin(kept) | table["model"].isna()].to_parquet(path)
    return path


# 1. warmup-study and the selection in the refusal

def test_a_panel_with_no_measured_value_is_left_out_and_named_and_the_others_studied(capped):
    table, _ = capped
    study = warmup_study(table, [("max_abs", "embed_in"), ("t_nu", "mlp_in")], n_bootstrap=0)
    assert list(study["stat"]) == ["max_abs"] and list(study["group"]) == ["embed_in"]
    (left,) = study.attrs["panels_left_out"]
    assert (left["stat"], left["group"]) == ("t_nu", "mlp_in")
    assert "at its fit's bound" in left["why"] and "group mlp_in" in left["why"]


def test_the_command_names_the_left_out_panel_in_text_report_and_json(capped, tmp_path):
    _, path = capped
    panels = ["--panel", "max_abs/embed_in", "--panel", "t_nu/mlp_in", "--bootstrap", 0]
    text = invoke("warmup-study", "--data", path, *panels, "--out", tmp_path / "out")
    assert text.exit_code == 0, text.output
    said = "t_nu/mlp_in: left out of the study, no measured value"
    assert said in text.output
    assert said in (tmp_path / "out" / "report.md").read_text()
    as_json = invoke("warmup-study", "--data", path, *panels, "--json")
    assert as_json.exit_code == 0, as_json.output
    out = json.loads(as_json.output[as_json.output.index("{"):])
    assert [r["stat"] for r in out["rows"]] == ["max_abs"]
    assert any(n.startswith(said) for n in out["notes"])


def test_with_no_warmup_family_the_study_gives_the_single_panels_refusal(two_runs):
    every = invoke("warmup-study", "--data", two_runs, "--bootstrap", 0)
    assert every.exit_code == 2
    assert "no 3 runs differ only in warmup" in every.output
    assert "Traceback" not in every.output
    one = invoke("warmup-study", "--data", two_runs, "--panel", "t_nu/attn_out", "--bootstrap", 0)
    assert one.exit_code == 2 and "no 3 runs differ only in warmup" in one.output


def test_with_no_panel_left_the_study_is_refused_naming_the_selection(capped):
    table, path = capped
    with pytest.raises(InputError, match="stat 't_nu', group mlp_in is at its fit's bound"):
        warmup_study(table, [("t_nu", "mlp_in")], n_bootstrap=0)
    result = invoke("warmup-study", "--data", path, "--panel", "t_nu/mlp_in", "--bootstrap", 0)
    assert result.exit_code == 2 and "group mlp_in" in result.output


@pytest.mark.parametrize("command", ["trajectory", "transitions"])
def test_trajectory_and_transitions_name_the_group_with_no_measured_value(capped, command):
    _, path = capped
    result = invoke(command, "--data", path, "--stat", "t_nu", "--group", "mlp_in")
    assert result.exit_code == 2
    assert "every value of stat 't_nu', group mlp_in is at its fit's bound" in result.output


# 2. trajectory: E at its upper bound, the lowest loss

LOSS = np.linspace(6, 3, 30)


def stat_table(E: float, p: float) -> pd.DataFrame:
    """Two runs whose std is 0.1 + 5 (L - E)^p plus a little noise, with their losses."""
    rows = []
    for seed, model in enumerate(("a", "b")):
        rng = np.random.default_rng(seed)
        value = 0.1 + 5 * (LOSS - E) ** p + rng.normal(0, 1e-3, LOSS.size)
        for i, (loss, v) in enumerate(zip(LOSS, value)):
            common = {"model": model, "step": 100 * i}
            rows.append({**common, "tensor": "*", "group": "mlp_in", "layer": -1, "stat": "std", "value": v})
            rows.append({**common, "dataset": "val", "metric": "loss", "is_train": True, "value": loss})
    return pd.DataFrame(rows)


def test_a_floor_at_the_lowest_loss_is_said_in_the_text_and_report(tmp_path):
    """The floor at the lowest loss itself (E = 3): the fit ends E on its upper bound, which --json
    warned of while the text was silent."""
    report = trajectory_report(stat_table(3.0, 0.3), "std", group="mlp_in")
    pooled = report.collapse["pooled"]
    assert "parameter E is at its upper bound" in pooled.warnings
    assert pooled.params["E"].value == pytest.approx(LOSS.min(), abs=1e-6)
    text = report.markdown()
    assert "E ends at its upper bound, the lowest loss among the fitted points, in pooled" in text
    assert "do not place the floor below the lowest loss" in text
    assert report.to_dict()["at_bound"] == []  # still the checkpoints at a shape bound only
    report.write(tmp_path / "out")
    assert "E ends at its upper bound" in (tmp_path / "out" / "report.md").read_text()


def test_a_floor_below_the_data_gets_no_such_sentence():
    report = trajectory_report(stat_table(1.5, 0.5), "std", group="mlp_in")
    assert "parameter E is at its upper bound" not in report.collapse["pooled"].warnings
    assert "E ends at its upper bound" not in report.markdown()


# 3. transitions' Files legend

def test_the_transitions_legend_says_the_interval_is_the_calibrated_central_range(tmp_path):
    result = invoke("transitions", "--stat", "max_abs", "--group", "embed_in", "--models", "mini-1",
                    "--bootstrap", 5, "--out", tmp_path / "out")
    assert result.exit_code == 0, result.output
    legend = [line for line in (tmp_path / "out" / "report.md").read_text().splitlines()
              if line.lstrip().startswith("- `step`, `step_ci95_lo`")]
    assert len(legend) == 1
    assert "(the bootstrap's)" not in legend[0]
    assert f"the central {interval_level(INTERVAL_METHOD):g}% of the run's 5" in legend[0]
    assert "covers 95%" in legend[0]


# 4. notes that match the command

def test_schedule_law_advises_its_own_bootstrap_count():
    from scalefit.scaling.laws.schedule_cli import fit_schedule_law
    default = next(p.default for p in fit_schedule_law.params if p.name == "n_bootstrap")
    result = invoke("fit", "schedule-law", "--model", "mini-1", "--bootstrap", 5)
    assert result.exit_code == 0, result.output
    assert f"are rough; use --bootstrap {default}\n" in result.output
    assert default != 1000 and "use --bootstrap 1000" not in result.output


def test_a_prediction_over_some_draws_says_so_in_its_json_note():
    result = invoke("predict", "downstream", "--bootstrap", 20, "--at-x", 0.5, "--json")
    assert result.exit_code == 0, result.output
    prediction = json.loads(result.output[result.output.index("{"):])["prediction"]
    over = prediction["intervals_over"]
    assert f"ci95: the fitted curve's interval over {over}" in prediction["note"]


# 5. a far x: no raw numpy warning, the missing estimate said

def test_the_shifted_power_law_overflows_to_inf_without_a_warning():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert shifted_power_law(1e308, 0.6, 1.18, 0.0, 2.1) == np.inf


def test_a_curve_with_no_finite_value_at_x_says_so_without_numpy_s_warning():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = invoke("predict", "downstream", "--bootstrap", 5, "--at-x", 1e308)
        as_json = invoke("predict", "downstream", "--bootstrap", 5, "--at-x", 1e308, "--json")
    assert result.exit_code == 0 and as_json.exit_code == 0, result.output
    assert not [w for w in caught if issubclass(w.category, RuntimeWarning)]
    assert "the fitted curve has no finite value here" in result.output
    prediction = json.loads(as_json.output[as_json.output.index("{"):])["prediction"]
    assert prediction["value"] is None and "no finite value" in prediction["no_value"]


# 6. bound warnings print their interval's ends as every table does

def test_an_interval_at_a_bound_prints_its_ends_on_the_interval_rule():
    params = Parameters()
    params.add("p", value=-2.0, min=-5.0, max=5.0)
    ci = (-5.0, 0.85961234)
    (warning,) = interval_bound_warnings(params, {"p": ParamEstimate(-2.0, ci95=ci)})
    assert warning.startswith(f"parameter p: its 95% interval {interval_text(*ci)} reaches the lower bound -5")
    assert "0.8596" not in warning

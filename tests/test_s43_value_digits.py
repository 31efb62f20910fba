"""A printed estimate carries at least the precision of its own printed interval (E = 2.6 beside
[0, 3.1], not 3: one digit there read as a value at a bound), by one rule in every parameter table
(identifiability.significant through judged); plus weights plot's one setting per --out and the
warmup regression's stderr_from."""
import json
import math
from decimal import Decimal

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from scalefit.cli import main
from scalefit.scaling.fitresult import FitResult, ParamEstimate
from scalefit.scaling.interval_text import at_zero, ends_place, interval_ends
from scalefit.scaling.laws.identifiability import NOT_IDENTIFIED, judged, significant, status_of


def last_place(text: str) -> int:
    """The exponent of a printed number's last digit ('2.6' -1, '2e+02' 2, '0.00035' -5)."""
    return Decimal(text).as_tuple().exponent


@pytest.mark.parametrize("value, ci, shown", [
    (2.552, (0.0, 3.115), "2.6"),      # fit chinchilla's E: printed 3 beside [0, 3.1]
    (2.59, (0.0, 3.589), "2.6"),       # schedule-law's L0: printed 3 beside [0, 3.6]
    (-4.67, (-5.0, -0.04795), "-4.7"),  # trajectory's mini-4 p: printed -5 like the bound
    (0.4175, (0.38, 0.53), "0.42"),  # identified: no digit finer than its ends (s45: was 0.4175)
    (213.0, (13.0, 3900.0), "2e+02"),  # the interval's place is the hundreds: one digit reaches it
])
def test_a_value_is_printed_to_its_intervals_place_at_least(value, ci, shown):
    assert judged(value, ci)[0] == shown


def test_a_value_without_a_status_keeps_the_zeros_its_interval_claims():
    assert significant(0.5, None, (0.4, 0.6)) == "0.50"  # '0.5' beside [0.40, 0.60]
    assert significant(0.5, None, None) == "0.5"  # no interval: 4 digits as a default, not a claim


def test_no_printed_value_is_coarser_than_its_printed_interval():
    rng = np.random.default_rng(3)
    for _ in range(3000):
        value = float(rng.choice([-1, 1]) * 10 ** rng.uniform(-4, 6))
        lo, hi = sorted(value + abs(value) * rng.uniform(-3, 3, 2))
        if not hi > lo:
            continue
        status = status_of((hi - lo) / abs(value)) if rng.random() < 0.8 else None  # None: no status
        text = significant(value, status, (lo, hi))
        exponent = ends_place(*at_zero(lo, hi, value))
        digits = math.floor(math.log10(abs(value))) - exponent + 1
        if digits <= 6:  # MAX_DIGITS: no value prints more
            assert last_place(text) <= exponent, (value, lo, hi, text, interval_ends(lo, hi, value))


def test_laws_table_prints_e_beside_its_interval():
    from scalefit.scaling.laws.report import params_shown_frame
    fit = {"law": "chinchilla", "warnings": [],
           "params": {"E": {"value": 2.552, "stderr": 0.59, "ci95": [0.0, 3.115]}},
           "identifiability": {"E": {"status": NOT_IDENTIFIED}}}
    row = params_shown_frame(fit).iloc[0]
    assert (row["value"], row["ci95_lo"], row["ci95_hi"], row["identified"]) == ("2.6", "0", "3.1", NOT_IDENTIFIED)


def test_schedule_law_text_prints_l0_beside_its_interval():
    from scalefit.scaling.laws.schedule_cli import _fit_text
    out = {"law": "momentum", "n_points": 41, "n_runs": 1, "runs": ["mini-3"], "warnings": [],
           "rmse_log": 0.003, "mean_abs_rel_error": 0.002, "max_abs_rel_error": 0.01,
           "params": {"L0": {"value": 2.59, "ci95": [0.0, 3.589]}}}
    assert "L0 = 2.6  95% CI [0, 3.6]  (not identified)" in _fit_text(out)


def test_relations_table_prints_a_value_beside_its_interval():
    from scalefit.scaling.relations.report import params_text_frame
    out = {"warnings": [], "params": {"E_y": {"value": 2.552, "stderr": 0.6, "ci95": [0.0, 3.115]}}}
    row = params_text_frame(out).iloc[0]
    assert (row["value"], row["ci95_lo"], row["ci95_hi"]) == ("2.6", "0", "3.1")


def test_trajectory_cell_tells_a_value_near_the_bound_from_one_at_it():
    from scalefit.scaling.trajectories.trajectory import _cell
    near = FitResult("stat", {"p": ParamEstimate(-4.67, ci95=(-5.0, -0.04795))}, 48, 0.0, True)
    assert _cell(near, "p") == "-4.7"
    at = FitResult("stat", {"p": ParamEstimate(-4.9999, ci95=(-5.0, 1.07))}, 48, 0.0, True,
                   warnings=["parameter p is at its lower bound"])
    assert _cell(at, "p") == "-5 (bound)"  # the bound, as the laws' tables print one


def test_a_fit_repr_prints_value_and_interval_on_one_rule():
    fit = FitResult("chinchilla", {"E": ParamEstimate(2.552, ci95=(0.0, 3.115))}, 20, 0.0, True)
    assert "  E = 2.6 [0, 3.1]  not identified" in repr(fit)


def test_fit_chinchilla_prints_e_to_its_intervals_place():
    result = CliRunner().invoke(main, ["fit", "chinchilla"])
    assert result.exit_code == 0, result.output
    row = next(line.split() for line in result.output.splitlines() if line.split()[:1] == ["E"])
    assert row[1] == "2.6" and row[3:5] == ["0", "3.1"], row


@pytest.fixture(scope="module")
def two_tables(tmp_path_factory):
    from scalefit.data import MINI_CHECKPOINTS, data_path
    table = pd.read_parquet(data_path(*MINI_CHECKPOINTS))
    table = table[(table["stat"] == "t_nu") & (table["group"] == "mlp_in")]
    folder = tmp_path_factory.mktemp("tables")
    a, b = folder / "a" / "weights.csv", folder / "b" / "weights.csv"
    for path, model in ((a, "mini-1"), (b, "mini-2")):
        path.parent.mkdir()
        table[table["model"] == model].to_csv(path, index=False)
    return a, b


def test_weights_plot_refuses_a_folder_of_another_table(two_tables, tmp_path):
    a, b = two_tables
    out = tmp_path / "plots"
    first = CliRunner().invoke(main, ["weights", "plot", "--data", str(a), "--out", str(out)])
    assert first.exit_code == 0, first.output
    figure = (out / "t_nu_vs_step.png").read_bytes()
    again = CliRunner().invoke(main, ["weights", "plot", "--data", str(a), "--stat", "t_nu", "--out", str(out)])
    assert again.exit_code == 0, again.output  # the same settings (--stat t_nu is the default) rewrite
    other = CliRunner().invoke(main, ["weights", "plot", "--data", str(b), "--out", str(out)])
    assert other.exit_code == 2
    said = other.output.strip().splitlines()
    assert len(said) == 1 and "holds the results of other settings (--data" in said[0], other.output
    assert (out / "t_nu_vs_step.png").read_bytes() == figure  # not drawn over
    recorded = json.loads((out / "scalefit_settings.json").read_text())
    assert recorded["command"] == "weights plot" and recorded["options"]["--data"] == str(a.resolve())


def test_weights_plot_gathers_one_figure_per_statistic(tmp_path):
    """The folder of `weights plot` gathers one figure per statistic (README): a re-run with another
    --stat adds its figure (it was refused once the folder kept one setting), while one of another
    --group is refused and leaves the figure as it was."""
    from scalefit.data import MINI_CHECKPOINTS, data_path
    table = pd.read_parquet(data_path(*MINI_CHECKPOINTS))
    keep = table["stat"].isin(["t_nu", "excess_kurtosis"]) & table["group"].isin(["mlp_in", "attn_qkv"])
    path = tmp_path / "weights.csv"
    table[keep & (table["model"] == "mini-1")].to_csv(path, index=False)
    out = tmp_path / "plots"
    for stat in ("t_nu", "excess_kurtosis"):
        result = CliRunner().invoke(main, ["weights", "plot", "--data", str(path), "--stat", stat,
                                           "--group", "mlp_in", "--out", str(out)])
        assert result.exit_code == 0, result.output
    assert (out / "t_nu_vs_step.png").exists() and (out / "excess_kurtosis_vs_step.png").exists()
    figure = (out / "t_nu_vs_step.png").read_bytes()
    other = CliRunner().invoke(main, ["weights", "plot", "--data", str(path), "--stat", "t_nu",
                                      "--group", "attn_qkv", "--out", str(out)])
    assert other.exit_code == 2 and "--group" in other.output, other.output
    assert (out / "t_nu_vs_step.png").read_bytes() == figure


def test_weights_figure_names_its_table(two_tables):
    from scalefit.weightstats.plots import stat_vs_step_figure
    a, _ = two_tables
    fig = stat_vs_step_figure(pd.read_csv(a), "t_nu", source=str(a))
    assert fig.axes[0].get_title().endswith(f"from .../{a.parent.parent.name}/a/weights.csv")
    unnamed = stat_vs_step_figure(pd.read_csv(a), "t_nu")
    assert "from" not in unnamed.axes[0].get_title()


def test_warmup_regression_says_its_stderr_is_hartung_knapp():
    from scalefit.scaling.trajectories.transitions import warmup_regression
    picked = pd.DataFrame({"model": list("abcd"), "warmup_end": [10.0, 20.0, 40.0, 80.0],
                           "step": [105.0, 118.0, 141.0, 178.0],
                           "step_ci95_lo": [90.0, 100.0, 120.0, 150.0], "step_ci95_hi": [120.0, 135.0, 160.0, 200.0]})
    said = warmup_regression(picked).to_dict()["stderr_from"]
    assert said.startswith("Hartung-Knapp") and "covariance at the optimum" not in said
    plain = warmup_regression(picked.drop(columns=["step_ci95_lo", "step_ci95_hi"])).to_dict()["stderr_from"]
    assert plain.startswith("OLS")

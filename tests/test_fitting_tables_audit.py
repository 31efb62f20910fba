"""The fitting layer's tables and warnings, from an audit of the report folders: every CSV cell
holds one number, each column is described, and warnings say what a reader can use."""
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from scalefit.scaling.interval_text import interval_text
from scalefit.scaling.fitresult import FitResult, ParamEstimate, flat_rows, percentile_ci
from scalefit.scaling.laws.fit import fit_law
from scalefit.scaling.laws.identifiability import NOT_IDENTIFIED, annotate
from scalefit.scaling.laws.report import fit_text
from scalefit.scaling.outputs import files_section


def test_flat_rows_splits_prediction_intervals_as_confidence_intervals():
    """budgets.csv / allocation.csv held LAW_loss_pi95 as a '[lo, hi]' string in one cell."""
    rows = [{"flops": 1e20, "kaplan_loss": 2.5, "kaplan_loss_ci95": [2.4, 2.6],
             "kaplan_loss_pi95": [2.3, 2.7]},
            {"flops": 1e21, "kaplan_loss": 2.2, "kaplan_loss_ci95": [2.1, 2.3],
             "kaplan_loss_pi95": [2.0, 2.4]}]
    frame = flat_rows(rows)
    assert list(frame.columns) == ["flops", "kaplan_loss", "kaplan_loss_ci95_lo", "kaplan_loss_ci95_hi",
                                   "kaplan_loss_pi95_lo", "kaplan_loss_pi95_hi"]
    assert frame["kaplan_loss_pi95_lo"].tolist() == [2.3, 2.0]
    assert frame["kaplan_loss_pi95_hi"].tolist() == [2.7, 2.4]
    assert all(np.issubdtype(t, np.number) for t in frame.dtypes)


def test_files_section_describes_a_prediction_interval_once():
    """The split ends are said once, as the prediction interval of an observed run's loss."""
    columns = ["flops", "kaplan_loss", "kaplan_loss_ci95_lo", "kaplan_loss_ci95_hi",
               "kaplan_loss_pi95_lo", "kaplan_loss_pi95_hi", "pi95_lo", "pi95_hi"]
    lines = files_section({"budgets.csv": columns}, laws=("kaplan",), loss="bits/byte")
    said = [line for line in lines if "pi95" in line]
    assert said[0] == ("  - `LAW_loss_pi95_lo`, `LAW_loss_pi95_hi`: 95% prediction interval of an "
                       "observed run's loss (bits/byte), low and high end")
    # an observed value's own ends (downstream predictions) keep their own words
    assert said[1].startswith("  - `pi95_lo`: 95% prediction interval of an observed value, low end")
    assert "as in the input table" not in "\n".join(lines)


RUNS = Path(__file__).resolve().parents[1] / "data" / "suites" / "mini" / "runs.csv"


@pytest.fixture(scope="module")
def prose_runs():
    runs = pd.read_csv(RUNS)
    return runs[runs["distribution"] == "prose"]


def test_a_derived_parameter_has_no_stderr_where_the_fit_has_none(prose_runs):
    """Five shipped runs (mini-1, mini-5 grid; mini-1, mini-3 wsd) where lmfit's covariance gives
    no error bars: N_c = exp(log_N_c) printed 'stderr (curvature) 0', lmfit's placeholder."""
    five = prose_runs.loc[[0, 16, 19, 25, 35]]
    fit = fit_law(five, "kaplan", n_bootstrap=0)
    assert not fit.model_result.errorbars
    assert np.isnan(fit.model_result.params["log_N_c"].stderr)
    for name in ("N_c", "D_c", "alpha_N", "alpha_D"):
        assert np.isnan(fit.params[name].stderr), (name, fit.params[name].stderr)
    row = next(line.split() for line in fit_text(fit.to_dict()).splitlines()
               if line.split()[:1] == ["N_c"])
    assert row[2] == "-", row


def test_a_derived_parameter_keeps_its_stderr_where_the_fit_has_one(prose_runs):
    """The first six runs: error bars exist, and N_c's is exp(log_N_c)'s delta-method one."""
    fit = fit_law(prose_runs.head(6), "kaplan", n_bootstrap=0)
    assert fit.model_result.errorbars
    p = fit.model_result.params
    assert fit.params["N_c"].stderr == pytest.approx(p["N_c"].value * p["log_N_c"].stderr, rel=1e-6)


def test_a_parameter_at_zero_is_warned_of_by_its_interval_not_a_relative_width():
    """E on its bound at 0: 'E (95% CI 1.05e+12x its value)' said nothing; its ends do. A
    parameter away from 0 keeps the relative width."""
    rng = np.random.default_rng(1)
    e_draws = np.abs(0.005 * rng.standard_normal(200))
    wide = 0.3 * np.exp(rng.standard_normal(200))
    result = FitResult(law="chinchilla", n_points=8, objective=0.0, converged=True,
                       params={"E": ParamEstimate(1e-14, ci95=percentile_ci(e_draws)),
                               "alpha": ParamEstimate(0.3, ci95=percentile_ci(wide))},
                       draws={"E": e_draws, "alpha": wide})
    annotate(result)
    ident = result.extra["identifiability"]
    assert ident["E"]["status"] == ident["alpha"]["status"] == NOT_IDENTIFIED
    lo, hi = percentile_ci(e_draws)
    warning = next(w for w in result.warnings if w.startswith("not identified"))
    assert f"E (95% CI {interval_text(lo, hi, 0.0)}, its value 0" in warning, warning
    assert "x its value" not in warning.split("alpha")[0]
    assert f"alpha (95% interval {ident['alpha']['relative_width']:.3g} times as wide as alpha itself" in warning
    assert "warning: not identified by these runs: E, alpha" in repr(result)  # repr still names them


def test_a_parameter_of_exactly_zero_with_a_spread_interval_is_not_identified():
    """E = 0.0 exactly (its bound): the relative width was NaN, so no status and no warning,
    where the printed table already said 'not identified' (identifiability.judged)."""
    rng = np.random.default_rng(2)
    e_draws = np.abs(0.005 * rng.standard_normal(200))
    result = FitResult(law="chinchilla", n_points=8, objective=0.0, converged=True,
                       params={"E": ParamEstimate(0.0, ci95=percentile_ci(e_draws))},
                       draws={"E": e_draws})
    annotate(result)
    assert result.extra["identifiability"]["E"]["status"] == NOT_IDENTIFIED
    lo, hi = percentile_ci(e_draws)
    assert any(f"E (95% CI {interval_text(lo, hi, 0.0)}, its value 0" in w for w in result.warnings), \
        result.warnings

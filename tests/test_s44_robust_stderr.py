"""A bootstrap's quoted stderr is half the central 68.27% range of its draws, not their standard
deviation: the same number for normal draws, and one that stays with the bulk of heavy-tailed
ones (the mini suite's Kaplan N_c printed sd 7.9e+20 beside a 95% interval [5.3e+11, 4.5e+17]).
Every caller that quotes a bootstrap stderr (the laws' parameters and allocation exponents,
IsoFLOP's, the relations') gives that number, and the JSON, the CSV legend, --help and the text
say what it is. Each test but the first fails on the old code."""
from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from scipy import stats

from scalefit.cli import main
from scalefit.scaling.fitresult import FitResult, ParamEstimate, attach_intervals
from scalefit.scaling.laws.fit import fit_law
from scalefit.scaling.relations import forms as relation_forms
from scalefit.scaling.relations.accuracy import fit_accuracy
from scalefit.scaling.relations.loss2loss import fit_shifted_power

RULE = "half the central 68% range"


def half_central_68(draws) -> float:
    """The rule, written out here from the normal's own quantiles: (q84.13 - q15.87) / 2."""
    draws = np.asarray(draws, float)
    draws = draws[np.isfinite(draws)]
    lo, hi = np.percentile(draws, [100 * stats.norm.cdf(-1), 100 * stats.norm.cdf(1)])
    return (hi - lo) / 2


def quoted(draws) -> dict:
    """The JSON params entry of a one-parameter result given these bootstrap draws."""
    result = FitResult(law="test", params={"x": ParamEstimate(float(np.median(draws)), 1.0)},
                       n_points=10, objective=0.0, converged=True, extra={"bootstrap": {"n": len(draws)}})
    attach_intervals(result, {"x": np.asarray(draws, float)})
    return result.to_dict()


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_normal_draws_quote_their_standard_deviation(seed):
    """For normal draws the quoted stderr is their sd, to Monte Carlo error (20000 draws: the
    percentile range's relative error is ~0.3%)."""
    draws = np.random.default_rng(seed).normal(3.0, 0.7, 20000)
    stderr = quoted(draws)["params"]["x"]["stderr"]
    assert stderr == pytest.approx(np.std(draws, ddof=1), rel=0.02)
    assert stderr == pytest.approx(0.7, rel=0.02)


@pytest.mark.parametrize("family, draw, scale", [
    # lognormal sigma 3: exp(+-3) are its one-sigma quantiles; Cauchy: tan(pi (Phi(1) - 1/2))
    ("lognormal", lambda rng, n: np.exp(rng.normal(0, 3, n)), (math.exp(3) - math.exp(-3)) / 2),
    ("cauchy", lambda rng, n: rng.standard_cauchy(n), math.tan(math.pi * (stats.norm.cdf(1) - 0.5))),
])
def test_heavy_tailed_draws_quote_a_stderr_within_the_interval_scale(family, draw, scale):
    """A few far draws set the sd far beyond the 95% interval's half-width; the quoted stderr
    stays within it and recovers the family's one-sigma half-range (40000 draws: lognormal's
    by ~5%, its quantiles of exp(3 Z) moving 3x as much as Z's)."""
    draws = draw(np.random.default_rng(5), 40000)
    p = quoted(draws)["params"]["x"]
    half_width = (p["ci95"][1] - p["ci95"][0]) / 2
    assert np.std(draws, ddof=1) > half_width, family  # the old quote
    assert 0 < p["stderr"] < half_width, family
    assert p["stderr"] == pytest.approx(scale, rel=0.15), family


def test_the_rule_on_few_far_and_missing_draws():
    """NaN (a failed refit) and infinite draws are left out; under two finite draws there is no
    stderr; draws at +-1e308 give a finite one (their difference would overflow)."""
    draws = np.random.default_rng(1).normal(0, 1, 1001)
    with_failures = np.concatenate([draws, [np.nan, np.inf, -np.inf]])
    assert quoted(with_failures)["params"]["x"]["stderr"] == pytest.approx(half_central_68(draws), rel=1e-12)
    assert quoted(np.array([1.0, np.nan]))["params"]["x"]["stderr"] == 1.0  # the fit's own, stderr_fit
    huge = quoted(np.array([-1e308, 1e308] * 50))["params"]["x"]["stderr"]
    assert math.isfinite(huge) and huge == pytest.approx(1e308)


def invoke(args):
    done = CliRunner().invoke(main, args)
    assert done.exit_code == 0, done.output
    return done.stdout


def test_kaplan_n_c_on_the_shipped_table_has_a_sane_stderr():
    """`scalefit fit kaplan` on the mini suite (1000 resamples, as the command takes): N_c's
    stderr was 7.9e+20, three orders beyond its 95% interval's upper end; now it lies inside
    the interval's half-width, every parameter's does, and the text says what it is."""
    fit = json.loads(invoke(["fit", "kaplan", "--json"]))
    assert fit["bootstrap"]["n"] == 1000
    for name, p in fit["params"].items():
        half_width = (p["ci95"][1] - p["ci95"][0]) / 2
        assert math.isfinite(p["stderr"]) and 0 < p["stderr"] < half_width, name
    n_c = fit["params"]["N_c"]
    assert n_c["ci95"][0] < n_c["stderr"] < n_c["ci95"][1]
    assert fit["stderr_from"].startswith(f"bootstrap: {RULE} of the estimates over 1000 resamples")
    text = invoke(["fit", "kaplan", "--bootstrap", "50"])
    assert "bootstrap se" in text and "bootstrap sd" not in text
    assert f"note: bootstrap se: {RULE} of the resamples' estimates" in text


def grid_runs(seed=0):
    """A 5 x 5 grid of runs on Chinchilla's form with 1% log noise."""
    rng = np.random.default_rng(seed)
    rows = [{"params": N, "tokens": D, "flops": 6 * N * D,
             "loss": (1.7 + 400 / N ** 0.34 + 410 / D ** 0.28) * np.exp(rng.normal(0, 0.01))}
            for N in (1e7, 3e7, 1e8, 3e8, 1e9) for D in (1e8, 3e8, 1e9, 3e9, 1e10)]
    return pd.DataFrame(rows)


def test_a_law_quotes_the_rule_for_its_parameters_and_allocation_exponents():
    """fit.attach_bootstrap: a_stderr and b_stderr were np.std of the exponents' draws."""
    result = fit_law(grid_runs(), "chinchilla", n_bootstrap=40, seed=0)
    doc = result.to_dict()
    for name, p in doc["params"].items():
        assert p["stderr"] == pytest.approx(half_central_68(result.draws[name]), rel=1e-9), name
    for key in ("a", "b"):
        draws = result.allocation_draws[key]
        assert doc["allocation"][f"{key}_stderr"] == pytest.approx(half_central_68(draws), rel=1e-9), key
        assert doc["allocation"][f"{key}_stderr"] != pytest.approx(np.nanstd(draws, ddof=1), rel=1e-6), key


def isoflop_runs(seed=0):
    """Six compute budgets, nine model sizes each around the budget's optimum."""
    rng = np.random.default_rng(seed)
    rows = []
    for C in (1e17, 3e17, 1e18, 3e18, 1e19, 3e19):
        for N in 0.1 * C ** 0.5 * np.geomspace(0.2, 5, 9):
            D = C / (6 * N)
            rows.append({"params": N, "tokens": D, "flops": C,
                         "loss": (1.7 + 400 / N ** 0.34 + 410 / D ** 0.28) * np.exp(rng.normal(0, 0.005))})
    return pd.DataFrame(rows)


def test_isoflop_quotes_the_rule_for_a_g_and_its_allocation():
    """isoflop._bootstrap_isoflop: b_stderr was np.std of 1 - a's draws, a_stderr a's sd."""
    result = fit_law(isoflop_runs(), "isoflop", n_bootstrap=60, seed=0)
    doc = result.to_dict()
    for name in ("a", "G"):
        assert doc["params"][name]["stderr"] == pytest.approx(half_central_68(result.draws[name]), rel=1e-9)
    for key in ("a", "b"):
        draws = result.allocation_draws[key]
        assert doc["allocation"][f"{key}_stderr"] == pytest.approx(half_central_68(draws), rel=1e-9), key
    assert doc["allocation"]["b_stderr"] != pytest.approx(np.std(result.allocation_draws["b"], ddof=1), rel=1e-6)
    assert doc["stderr_from"].startswith("bootstrap (") and RULE in doc["stderr_from"]


def test_the_relations_quote_the_rule():
    """loss-to-loss and loss-to-accuracy fits set their stderr through resampling's
    attach_intervals: the rule on their draws, and stderr_from says so."""
    rng = np.random.default_rng(1)
    true = {"K": 0.62, "kappa": 1.12, "E_x": 1.95, "E_y": 0.85}
    x = true["E_x"] + np.geomspace(0.15, 3.0, 40)
    y = relation_forms.shifted_power_law(x, **true) * np.exp(rng.normal(0, 0.003, x.size))
    loss2loss = fit_shifted_power(x, y, E_x=true["E_x"], E_y=true["E_y"], n_bootstrap=50, seed=2)
    L = np.linspace(2.0, 5.5, 60)
    acc = relation_forms.sigmoid_accuracy(L, a=0.55, k=-2.5, L0=3.4, b=0.25) + rng.normal(0, 0.004, L.size)
    accuracy = fit_accuracy(L, acc, "sigmoid", n_bootstrap=50, seed=1)
    for result in (loss2loss, accuracy):
        doc = result.to_dict()
        assert RULE in doc["stderr_from"], result.law
        for name, p in doc["params"].items():
            if name in result.draws and np.isfinite(p["stderr"]) and p["stderr"] != p["stderr_fit"]:
                assert p["stderr"] == pytest.approx(half_central_68(result.draws[name]), rel=1e-9), name
        assert any(p["stderr"] != p["stderr_fit"] for p in doc["params"].values()), result.law


def test_the_reports_say_what_the_stderr_is():
    """The params.csv legend, the --help of fit and predict, and report.md's headings named the
    bootstrap's stderr its standard deviation, or nothing."""
    from scalefit.scaling.laws.report import _params_heading
    from scalefit.scaling.outputs import COLUMNS
    from scalefit.scaling.relations.report import _params_heading as relation_heading

    assert RULE in COLUMNS["stderr"] and "bootstrap's standard deviation" not in COLUMNS["stderr"]
    assert RULE in _params_heading({"chinchilla": {"bootstrap": {"n": 100}}})
    assert RULE in relation_heading({"bootstrap": {"n": 100}})
    assert RULE in " ".join(invoke(["fit", "--help"]).split())
    assert "68%" in " ".join(invoke(["predict", "downstream", "--help"]).split())

"""trajectory's formula line (s47 audit): the pooled curve printed from its point estimates to 3
significant figures, not rounded to its 95% interval's place ('value = 0 + 0 L^-1' for v0 = -3.30,
c = 15.2, p = -0.750); where the data fix no parameter of the curve, the line says so first; and
--json names the fitted parameters that ended on a bound (params_at_bound) beside at_bound, which
lists checkpoints of the statistic at its family's bound."""
from __future__ import annotations

import math
import re

import numpy as np
import pandas as pd
import pytest

from scalefit.scaling.trajectories import ar1
from scalefit.scaling.trajectories.collapse import collapse_report
from scalefit.scaling.trajectories.correlation import partial_correlation
from scalefit.scaling.trajectories.trajectory import trajectory_markdown

FORMULA = re.compile(r"value = (\S+) ([+-]) (\S+) (?:L|\(L - (\S+)\))\^([^\s,]+)")


def _three_figures(printed: str, value: float) -> bool:
    """Whether ``printed`` is ``value`` to 3 significant figures (trailing zeros kept)."""
    digits = re.sub(r"e.*$", "", printed).lstrip("-").replace(".", "").lstrip("0")
    return len(digits) == 3 and math.isclose(float(printed), float(f"{value:.3g}"), rel_tol=1e-12)


def _formula_values(line: str) -> dict[str, str]:
    v0, sign, c, E, p = FORMULA.findall(line)[-1]  # the numbers, after any 'v0 + c (L - E)^p'
    return {"v0": v0, "c": c if sign == "+" else "-" + c, "E": E or "0", "p": p}


@pytest.fixture(scope="module")
def shipped():
    """The audit's case: excess_kurtosis of attn_qkv, mini-1 ... mini-5 of the shipped table."""
    from scalefit.data import MINI_CHECKPOINTS, data_path
    from scalefit.scaling.trajectories.trajectory import trajectory_report
    report = trajectory_report(data_path(*MINI_CHECKPOINTS), "excess_kurtosis", group="attn_qkv",
                               models=[f"mini-{i}" for i in range(1, 6)])
    return report.markdown(), report.to_dict()


def test_unidentified_pooled_curve_says_so_and_prints_point_estimates(shipped):
    """It printed 'value = 0 + 0 L^-1' beside R^2 0.1464: each value rounded to the place of an
    interval that holds 0. No parameter of this pooled fit is identified, and the line says so;
    the curve it copies is the point estimates', each to 3 significant figures."""
    text, doc = shipped
    line = next(ln for ln in text.splitlines() if ln.startswith("Pooled fit"))
    assert "no parameter of value = v0 + c (L - E)^p is identified" in line, line
    assert "value = 0 + 0" not in line
    pooled = doc["pooled_fit"]["params"]
    printed = _formula_values(line)
    for name in ("v0", "c", "p"):
        assert _three_figures(printed[name], pooled[name]["value"]), (name, printed, pooled[name])
    assert printed["E"] == "0" and doc["params_at_bound"]["pooled"] == {"E": "lower"}


def test_params_at_bound_names_what_the_table_marks(shipped):
    """--json's at_bound was [] while p sat at its bound -5 in three per-model fits: that key lists
    checkpoints of the statistic at its family's bound; params_at_bound lists the parameters, and
    names exactly the cells the table marks '(bound)'."""
    text, doc = shipped
    marked = {}
    for row in re.findall(r"^\| (mini-\S+) \| \d+ \| (.*) \|$", text, re.M):
        model, cells = row
        for name, cell in zip(("v0", "c", "E", "p"), cells.split(" | ")):
            if cell.endswith("(bound)"):
                marked.setdefault(model, {})[name] = "lower" if float(cell.split()[0]) <= 0 else "upper"
    per_model = {m: v for m, v in doc["params_at_bound"].items() if m != "pooled"}
    assert per_model == marked and any("p" in v for v in marked.values())
    assert doc["at_bound"] == []  # excess_kurtosis has no family bound


def _runs(rng, truth, n_runs=4, rho=0.5, noise=0.002):
    steps = np.unique(np.r_[2.0 ** np.arange(10), np.arange(120, 1121, 30)])
    rows = []
    for m in range(n_runs):
        loss = 3.0 + 3.0 * steps ** -0.3 * (1 + 0.1 * m) + ar1.stationary_series(rho, (len(steps), 1), rng, 0.005)[:, 0]
        value = (truth["v0"] + truth["c"] * (loss - truth["E"]) ** truth["p"]
                 + ar1.stationary_series(rho, (len(steps), 1), rng, noise)[:, 0])
        rows.append(pd.DataFrame({"model": f"m{m}", "step": steps, "loss": loss, "value": value,
                                  "lr": 1e-3}))
    return pd.concat(rows, ignore_index=True)


def test_identified_curve_prints_its_point_estimates_and_recovers_truth():
    """Runs on value = 2 + 4 (L - 2.5)^-1.5: the formula line prints the fit's point estimates
    to 3 significant figures (no 'is identified' disclaimer), and they recover the truth."""
    truth = {"v0": 2.0, "c": 4.0, "E": 2.5, "p": -1.5}
    joined = _runs(np.random.default_rng(3), truth)
    collapse = collapse_report(joined)
    text = trajectory_markdown("sim", collapse, partial_correlation(joined))
    line = next(ln for ln in text.splitlines() if ln.startswith("Pooled fit"))
    assert "is identified" not in line and "point estimates to 3 significant figures" in line, line
    pooled = collapse["pooled"].params
    printed = _formula_values(line)
    for name in ("v0", "c", "E", "p"):
        assert _three_figures(printed[name], pooled[name].value), (name, printed[name], pooled[name].value)
        assert float(printed[name]) == pytest.approx(truth[name], rel=0.05), (name, printed[name])


def _pooled_line_with(collapse: dict, joined, **params) -> str:
    """The Pooled fit line of the report whose pooled fit has ``params`` ({name: (value, ci95)})
    in place of its own (what a fit that failed, or gave no standard errors, hands the report)."""
    from dataclasses import replace
    from scalefit.scaling.fitresult import ParamEstimate
    pooled = collapse["pooled"]
    changed = {n: ParamEstimate(v, np.nan if not np.isfinite(ci[0]) else pooled.params[n].stderr, ci)
               for n, (v, ci) in params.items()}
    collapse = {**collapse, "pooled": replace(pooled, params={**pooled.params, **changed})}
    text = trajectory_markdown("sim", collapse, partial_correlation(joined))
    return next(ln for ln in text.splitlines() if ln.startswith("Pooled fit"))


@pytest.fixture(scope="module")
def simulated():
    joined = _runs(np.random.default_rng(3), {"v0": 2.0, "c": 4.0, "E": 2.5, "p": -1.5})
    return joined, collapse_report(joined)


NAN = (math.nan, (math.nan, math.nan))


@pytest.mark.parametrize("failed, said", [(("c",), "c is not finite"), (("E",), "E is not finite"),
                                          (("c", "E"), "c and E are not finite")])
def test_failed_fit_says_no_curve(simulated, failed, said):
    """A point estimate that is not finite printed as '-' inside the formula: 'value = 2.00 -  (L - 2.50)'
    for c (a minus sign), '(L - -)' for E. The line says there is no curve and names the parameters."""
    joined, collapse = simulated
    line = _pooled_line_with(collapse, joined, **{n: NAN for n in failed})
    assert f"no curve: {said} (the fit failed)" in line, line
    assert "value =" not in line and "(L - -)" not in line and " -  " not in line, line
    # the monotone fit does not depend on the failed one, and is still quoted
    assert f"monotone fit R^2 {collapse['isotonic_r_squared']:.4f}" in line, line


def test_finite_fit_keeps_its_formula(simulated):
    joined, collapse = simulated
    line = _pooled_line_with(collapse, joined)
    assert "no curve" not in line and FORMULA.search(line), line


def test_parameter_without_interval_says_no_standard_error(simulated):
    """An unidentified curve whose v0 has no standard error (its 95% interval NaN) read "v0's 95%
    interval [-, -] is wider than its value"; it says it has no interval, and the others keep
    their reasons."""
    joined, collapse = simulated
    pooled = collapse["pooled"].params
    v0, c, E, p = (pooled[n].value for n in ("v0", "c", "E", "p"))
    line = _pooled_line_with(collapse, joined, v0=(v0, (math.nan, math.nan)),
                             c=(c, (-10 * abs(c), 10 * abs(c))), E=(E, (0.1 * E, 0.5 * E + 2 * E)),
                             p=(p, (-5.0, 5.0)))
    assert "no parameter of value = v0 + c (L - E)^p is identified" in line, line
    assert "v0 has no 95% interval (no standard error)" in line, line
    assert "[-, -]" not in line and "v0's" not in line, line
    assert "hold 0 in their 95% intervals" in line and "E's 95% interval" in line, line
    # the point estimates still give the curve (v0 is finite; only its interval is missing)
    assert FORMULA.search(line), line

"""The printing rule reaches the tables (S9): fit's and compare's parameter tables print their
bootstrap interval ends on the interval rule, as the warnings below them do; calibrate's
by-distance table prints percentages, as its cut table does; a held-out error too small for
two decimals is not printed as 0.00%."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from scalefit.scaling.fitresult import ParamEstimate
from scalefit.scaling.laws.identifiability import identifiability_warning

GOLDEN = Path(__file__).parent / "golden"


@pytest.fixture(scope="module")
def fit() -> dict:
    """The shipped grid's chinchilla fit (its --json, kept as a golden file): no refit needed."""
    return json.loads((GOLDEN / "fit_chinchilla.json").read_text())


def _table_rows(text: str, head: str) -> dict[str, list[str]]:
    """The rows of the text table whose header contains ``head``: {param: cells}."""
    lines = text.splitlines()
    start = next(i for i, x in enumerate(lines) if head in x)
    rows = {}
    for line in lines[start + 2:]:
        if not line.strip():
            break
        cells = re.split(r"\s{2,}", line.strip())
        if len(cells) < 3:  # a note under the table
            break
        rows[cells[0] if "law" not in lines[start].split() else (cells[0], cells[1])] = cells
    return rows


# --------------------------------------------------------------------- parameter tables


def test_parameter_table_prints_the_interval_its_warning_prints():
    """Epoch's runs printed A's ends as 14.83 in fit's table and 15 in the warning below it:
    the table's ends now follow the interval rule, so one interval reads one way."""
    from scalefit.scaling.laws.report import fit_text
    out = json.loads((GOLDEN / "fit_chinchilla.json").read_text())
    value, ci = 500.0, (14.83, 3.17e11)  # A's value and resamples on Epoch's runs
    out["params"]["A"].update(value=value, ci95=list(ci))
    out["identifiability"]["A"].update(relative_width=(ci[1] - ci[0]) / value)
    params = {name: ParamEstimate(p["value"], ci95=tuple(p["ci95"])) for name, p in out["params"].items()}
    out["warnings"] = [identifiability_warning(out["identifiability"], params)]
    assert "A (95% CI [15, 3.2e+11], its value 500" in out["warnings"][0]
    row = _table_rows(fit_text(out), "bootstrap 95% lo")["A"]
    assert row[3:5] == ["15", "3.2e+11"], row  # was 14.83, 3.17e+11 (.4g)


def test_fit_and_compare_tables_print_every_end_on_the_interval_rule(fit):
    """Every row of fit's and compare's tables (terminal and report.md) prints its ends as
    interval_text does, the estimate beside them; params.csv keeps every digit."""
    from scalefit.scaling.interval_text import at_zero, interval_ends
    from scalefit.scaling.laws.report import (_markdown, compare_text, fit_text, params_frame,
                                              params_shown_frame)
    raw = params_frame(fit)
    expected = {p: interval_ends(*at_zero(lo, hi, v))
                for p, v, lo, hi in zip(raw["param"], raw["value"], raw["ci95_lo"], raw["ci95_hi"])}
    assert expected["A"] == ("17", "2600")  # A's resamples 17.16 to 2569: printed 17.16, 2569
    assert expected["alpha"] == ("0.16", "0.64")
    rows = _table_rows(fit_text(fit), "bootstrap 95% lo")
    for name, ends in expected.items():
        assert tuple(rows[name][3:5]) == ends, (name, rows[name])
    md = _markdown(params_shown_frame(fit))
    for name, (lo, hi) in expected.items():
        assert any(line.startswith(f"| {name} ") and f"| {lo} | {hi} |" in line for line in md.splitlines()), name
    assert raw.loc[raw["param"] == "A", "ci95_lo"].iloc[0] == fit["params"]["A"]["ci95"][0]  # CSV: all digits

    cmp = json.loads((GOLDEN / "compare.json").read_text())
    rows = _table_rows(compare_text(cmp), "bootstrap 95% lo")
    for label, f in cmp["fits"].items():
        for name, p in f["params"].items():
            assert tuple(rows[(label, name)][4:6]) == interval_ends(*at_zero(*p["ci95"], p["value"])), (label, name)


def test_a_table_without_intervals_prints_a_dash():
    """No bootstrap: report.md's interval cells read '-', as before (the terminal drops them)."""
    from scalefit.scaling.laws.report import _markdown, params_shown_frame
    out = json.loads((GOLDEN / "fit_chinchilla.json").read_text())
    out["bootstrap"] = {"n": 0}
    for p in out["params"].values():
        p["ci95"] = [float("nan"), float("nan")]
    frame = params_shown_frame(out)
    own = frame[frame["param"].isin(list(out["params"]))]
    assert set(own["ci95_lo"]) == set(own["ci95_hi"]) == {"-"} and "| - | - |" in _markdown(frame)


# --------------------------------------------------------------------- calibrate's by-distance table


def test_calibrate_by_distance_table_prints_percentages_beside_the_cut_table():
    """The by-distance table printed coverage 0.6667, median |rel err| 0.0134 and half-width
    0.0645 (fractions, under their JSON names) beside a cut table of percentages: it prints the
    percentages now, in the terminal and report.md; by_distance.csv and --json keep the fractions."""
    import numpy as np
    import pandas as pd

    from scalefit.report import markdown_table
    from scalefit.scaling.laws.calibrate import cut_summary, shown_by_distance, summarize
    from scalefit.scaling.laws.calibrate_report import calibration_text
    distance = np.array([1.5, 1.8, 1.9, 150.0])
    part = pd.DataFrame({"cut_flops": 1e18, "flops": distance * 1e18, "distance": distance,
                         "observed": 3.0, "predicted": [3.1, 3.0402, 3.0001, 3.0], "pi95_lo": 2.9,
                         "pi95_hi": [3.3, 3.3, 3.0002, np.inf], "inside": [True, True, False, True]})
    part["relative_error"] = part.predicted / part.observed - 1
    part["interval_half_width"] = (part.pi95_hi - part.pi95_lo) / 2 / part.predicted
    result = summarize("chinchilla", "runs.csv", 20, 200, [part], [cut_summary(1e18, 1e18, 14, part)])
    near = result.by_distance.iloc[0]
    assert 0 < near["coverage"] < 1 and near["median_abs_rel_error"] < 1  # still fractions
    expected = [f"{near['coverage']:.0%}", f"{100 * near['median_abs_rel_error']:.3g}%",
                f"{100 * near['mean_abs_rel_error']:.3g}%", f"{100 * near['median_interval_half_width']:.3g}%"]
    assert expected == ["67%", "1.34%", "1.56%", "6.45%"]
    lines = calibration_text(result).splitlines()
    head = lines.index("by distance from the largest fitted run:") + 1
    columns = lines[head].split()
    row = next(x.split() for x in lines[head + 2:] if x.split()[:1] == ["1-2x"])
    names = ["coverage", "median_abs_rel_error", "mean_abs_rel_error", "median_interval_half_width"]
    assert [row[columns.index(c)] for c in names] == expected
    far = next(x.split() for x in lines[head + 2:] if x.split()[:1] == [">100x"])
    assert far[columns.index("median_interval_half_width")] == "unbounded"
    assert far[columns.index("coverage")] == "100%"
    md = markdown_table(shown_by_distance(result.by_distance))
    assert "| 1-2x | 3 | 67% | 1.34% | 1.56% | 6.45% |" in md, md


# --------------------------------------------------------------------- a small held-out error


def test_a_held_out_error_below_a_hundredth_of_a_percent_is_not_printed_as_zero():
    """A mean |relative error| of 3.6e-05 printed '0.00%' in the held-out line and compare's
    metrics table, as if the prediction were exact; under 1% it keeps 2 significant digits."""
    import numpy as np

    from scalefit.scaling.laws.report import fit_line, holdout_lines, metrics_text_frame
    from scalefit.scaling.relations.report import holdout_summary
    hold = {"n": 2, "mean_abs_rel_error": 3.6e-05}
    assert "mean |relative error| 0.0036% on 2 runs" in holdout_lines("chinchilla", hold)[0]
    fit = json.loads((GOLDEN / "fit_chinchilla.json").read_text())
    fit["holdout"] = hold
    assert metrics_text_frame({"chinchilla": fit})["holdout_mean_abs_rel_error"].tolist() == ["0.0036%"]
    assert "held-out |relative error| 0.0036%" in fit_line(fit)
    assert "mean |rel err| 0.0036% (plain Kaplan law on y alone: 0.050%)" in holdout_summary(
        {**hold, "baseline_mean_abs_rel_error": 5e-4})
    # from 1% up, and for 0 itself, two decimals as before
    for fraction, shown in [(0.03173, "3.17%"), (0.002718, "0.27%"), (0.0, "0.00%")]:
        assert f"|relative error| {shown} on 2 runs" in holdout_lines("", {"n": 2, "mean_abs_rel_error": fraction})[0]
    assert holdout_summary({"n": 2, "mean_abs_rel_error": np.nan}).endswith("- (no run to score)")


def test_a_bootstrap_sd_prints_two_significant_digits_as_the_interval_ends_do():
    """The parameter table printed a bootstrap sd to 4 digits (7.872e+20) beside interval ends
    on the interval rule (4.5e+17): an uncertainty is quoted to 2 significant digits, written as
    the ends are (350, not 3.5e+02)."""
    from scalefit.scaling.laws.report import params_text_frame

    fit = {"law": "chinchilla", "bootstrap": {"n": 20},
           "params": {"B": {"value": 445.0, "stderr": 347.2, "stderr_fit": 280.0, "ci95": [300.0, 1700.0]},
                      "beta": {"value": 0.4175, "stderr": 0.0403, "stderr_fit": 0.05, "ci95": [0.38, 0.54]},
                      "N_c": {"value": 1e15, "stderr": 7.872e20, "stderr_fit": 1e18, "ci95": [5.3e11, 4.5e17]}}}
    table = params_text_frame(fit).set_index("param")["bootstrap se"]
    assert table.to_dict() == {"B": "350", "beta": "0.040", "N_c": "7.9e+20"}

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


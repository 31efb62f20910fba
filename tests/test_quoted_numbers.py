"""The numbers a researcher quotes agree wherever they are printed: each relation and trajectory
command runs once on the shipped data as text and once with --json --out, and every interval the
text prints is the JSON's to the printed rounding, printed to the interval's own precision, holds
its estimate, and matches the report folder; values beyond the data say so in all three; NaN
never prints as 'nan' and the JSON is strict."""
from __future__ import annotations

import json
import math
import re

import pandas as pd
import pytest
from click.testing import CliRunner

from scalefit.cli import main

NUMBER = r"[+-]?(?:\d+\.?\d*|\.\d+)(?:e[+-]?\d+)?"
INTERVAL = re.compile(rf"\[(?:95% CI )?({NUMBER}|-), ({NUMBER}|-)\]")


def strict_json(text: str):
    """The JSON document, refusing NaN and Infinity (not JSON)."""
    def refuse(name):
        raise ValueError(f"{name} in JSON")
    return json.loads(text, parse_constant=refuse)


def assert_no_nan_words(text: str, where: str) -> None:
    bad = re.findall(r"(?i)(?<![\w.])-?(?:nan|inf)(?![\w])", text)
    assert not bad, f"{where} prints {bad}"


def last_place(printed: str) -> int | None:
    """The exponent of a printed number's last digit (5.30: -2, 4.9e+05: 4, 134: 0); None for 0."""
    mantissa, _, power = printed.lower().lstrip("+-").partition("e")
    if float(mantissa) == 0:
        return None
    decimals = len(mantissa.split(".")[1]) if "." in mantissa else 0
    return (int(power) if power else 0) - decimals


def rounds_to(value, printed: str, scale: float = 1.0) -> bool:
    """Whether ``value`` (times ``scale``) printed to ``printed``'s last digit reads ``printed``."""
    if value is None or printed == "-":
        return value is None and printed == "-"
    place = last_place(printed)
    half = 0.5 * 10.0 ** place if place is not None else 0.5 * 10.0 ** -(len(printed) + 6)
    if place is None:  # a printed 0: anything that rounds to 0 at the coarsest place
        half = 0.5
    return abs(value * scale - float(printed)) <= half * (1 + 1e-9) + 1e-12


def assert_interval_precision(lo: str, hi: str, where: str) -> None:
    """Ends printed to the interval's precision: neither more than 3 significant digits of its
    width (no [0.62315, 5.2856] for an interval 4.7 wide) nor fewer than 1 (no [0.000, 0.000])."""
    if "-" in (lo, hi) or float(hi) <= float(lo):
        return
    width = math.floor(math.log10(float(hi) - float(lo)))
    for end in (lo, hi):
        place = last_place(end)
        if place is not None:
            assert width - 2 <= place <= width, f"{where}: [{lo}, {hi}] prints {end} to 1e{place}"


def run(*args) -> str:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


# --------------------------------------------------------------------- predict downstream

DOWNSTREAM = ["predict", "downstream", "--holdout", "2", "--bootstrap", "50", "--at-x", "3.9"]


@pytest.fixture(scope="module")
def downstream(tmp_path_factory):
    out = tmp_path_factory.mktemp("downstream")
    text = run(*DOWNSTREAM)
    doc = strict_json(run(*DOWNSTREAM, "--json", "--out", str(out)))
    return text, doc, out


def _param_lines(text: str) -> dict:
    lines = {}
    for line in text.splitlines():
        m = re.match(rf"^  (\w+)\s+({NUMBER}|-)\s+(?:bootstrap 95% CI|stderr .*95% CI) "
                     rf"\[({NUMBER}|-), ({NUMBER}|-)\]", line)
        if m:
            lines[m.group(1)] = m.groups()[1:]
    return lines


def test_downstream_parameter_intervals_agree_and_carry_their_precision(downstream):
    text, doc, out = downstream
    assert_no_nan_words(text, "predict downstream")
    assert_no_nan_words((out / "report.md").read_text(), "report.md")
    printed = _param_lines(text)
    assert set(printed) == set(doc["params"]) == {"K", "kappa", "E_x", "E_y"}
    table = pd.read_csv(out / "params.csv").set_index("param")
    md = (out / "report.md").read_text()
    for name, (shown, lo, hi) in printed.items():
        p = doc["params"][name]
        assert rounds_to(p["ci95"][0], lo) and rounds_to(p["ci95"][1], hi), (name, lo, hi, p)
        assert_interval_precision(lo, hi, name)
        assert float(lo) <= float(shown) <= float(hi) or "outside" in text, (name, shown, lo, hi)
        # the report's table: the same ends as the terminal's; the CSV: every digit of the JSON
        assert re.search(rf"\| {name} \| {re.escape(shown)} \| .* \| {re.escape(lo)} \| "
                         rf"{re.escape(hi)} \|", md), (name, lo, hi)
        assert table.loc[name, "value"] == pytest.approx(p["value"], rel=1e-12, abs=1e-300)
        assert table.loc[name, "ci95_lo"] == pytest.approx(p["ci95"][0], rel=1e-12, abs=1e-300)


def test_downstream_prediction_and_held_out_intervals_agree(downstream):
    text, doc, out = downstream
    pr = doc["prediction"]
    line = next(x for x in text.splitlines() if x.startswith(pr["kind"]))
    ci, pi = INTERVAL.findall(line)
    for (lo, hi), key in ((ci, "ci95"), (pi, "pi95")):
        assert rounds_to(pr[key][0], lo) and rounds_to(pr[key][1], hi), (key, lo, hi, pr[key])
        assert_interval_precision(lo, hi, key)
    assert line in (out / "report.md").read_text()
    held = [x for x in text.splitlines() if x.lstrip().startswith("N=")]
    points = doc["holdout"]["points"]
    assert len(held) == len(points) == 2
    frame = pd.read_csv(out / "holdout.csv")
    for line, p, (_, row) in zip(held, points, frame.iterrows()):
        (lo, hi), = INTERVAL.findall(line)
        assert rounds_to(p["pi95_lo"], lo) and rounds_to(p["pi95_hi"], hi), (line, p)
        assert_interval_precision(lo, hi, line)
        rel = re.search(rf"\(({NUMBER})%\)", line).group(1)
        assert rounds_to(p["relative_error"], rel, 100)
        for key in ("predicted", "pi95_lo", "pi95_hi", "relative_error"):
            assert row[key] == pytest.approx(p[key], rel=1e-12)

"""The redesign changed no number: the --json of four commands on the shipped data equals the
output taken before it (tests/golden/, written by the pre-redesign code) to 1e-9 relative.

When a later change is meant to move a number, regenerate the golden file in the same commit and
say why in its message.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from click.testing import CliRunner

from scalefit.cli import main

GOLDEN = Path(__file__).parent / "golden"
COMMANDS = {
    "compare.json": ["compare", "kaplan", "chinchilla", "--bootstrap", "100", "--json"],
    "fit_chinchilla.json": ["fit", "chinchilla", "--bootstrap", "100", "--json"],
    "predict_downstream.json": ["predict", "downstream", "--holdout", "2", "--bootstrap", "100",
                                "--json"],
    "transitions.json": ["transitions", "--stat", "t_nu", "--group", "attn_out", "--which",
                         "first", "--bootstrap", "50", "--json"],
}
RTOL = 1e-9


def differences(expected, actual, where="$"):
    """Every place where two JSON documents differ (numbers to RTOL; file paths by name only)."""
    if isinstance(expected, dict) and isinstance(actual, dict):
        out = [f"{where}: keys {sorted(set(expected) ^ set(actual))}"] \
            if set(expected) != set(actual) else []
        for key in set(expected) & set(actual):
            out += differences(expected[key], actual[key], f"{where}.{key}")
        return out
    if isinstance(expected, list) and isinstance(actual, list):
        if len(expected) != len(actual):
            return [f"{where}: length {len(expected)} != {len(actual)}"]
        return [d for i, (e, a) in enumerate(zip(expected, actual))
                for d in differences(e, a, f"{where}[{i}]")]
    if isinstance(expected, bool) or isinstance(actual, bool):
        return [] if expected == actual else [f"{where}: {expected!r} != {actual!r}"]
    if isinstance(expected, (int, float)) and isinstance(actual, (int, float)):
        ok = math.isclose(expected, actual, rel_tol=RTOL, abs_tol=1e-300)
        return [] if ok else [f"{where}: {expected!r} != {actual!r}"]
    if isinstance(expected, str) and isinstance(actual, str) and "/" in expected:
        # the shipped table's absolute path differs between checkouts: compare the file name
        def tail(s):
            return s.replace(str(Path(s.split(" ")[0]).parent), "")
        return [] if tail(expected) == tail(actual) else [f"{where}: {expected!r} != {actual!r}"]
    return [] if expected == actual else [f"{where}: {expected!r} != {actual!r}"]


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_json_unchanged(name):
    result = CliRunner().invoke(main, COMMANDS[name])
    assert result.exit_code == 0, result.output
    actual = json.loads(result.stdout)
    expected = json.loads((GOLDEN / name).read_text())
    diff = differences(expected, actual)
    assert not diff, "\n".join(diff[:20])


def test_differences_sees_a_changed_number():
    """The comparison itself: a 1e-8 relative change and a changed key are both reported."""
    assert differences({"a": [1.0, 2.0]}, {"a": [1.0, 2.0 * (1 + 1e-8)]})
    assert differences({"a": 1.0}, {"b": 1.0})
    assert not differences({"a": [1.0, "x"]}, {"a": [1.0 * (1 + 1e-12), "x"]})

"""What a second researcher's audit of the commands the first audit covered less (calibrate,
reconcile, warmup-study, trajectory, predict curve, fit isoflop, eval, suite, data, weights) found.
Each case is one line naming what is wrong, exit status 2, no traceback, or a number that was
printed wrong."""
from __future__ import annotations

import pytest
from click.testing import CliRunner

from scalefit.cli import main


def one_line_error(args, *named):
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1, result.output
    assert lines[0].startswith("error: ") and "Traceback" not in result.output
    for text in named:
        assert text in lines[0], lines[0]
    return lines[0]


def test_reconcile_refuses_a_condition_named_twice_in_order(tmp_path):
    """--order 'A,A' walked A to itself and printed a step of change 0 as if it were measured."""
    table = tmp_path / "points.csv"
    rows = ["label,flops,params,tokens,loss"]
    for label in ("A", "B"):
        for c in (1e15, 1e16):
            for n in (1e6, 3e6, 1e7):
                rows.append(f"{label},{c},{n},{c / (6 * n)},{3 + 1e6 / n + 1e9 / (c / n)}")
    table.write_text("\n".join(rows) + "\n")
    one_line_error(["reconcile", "--data", str(table), "--by", "label", "--order", "A,A",
                    "--bootstrap", "0"], "--order", "'A' is named twice")

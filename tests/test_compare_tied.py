"""compare on runs whose N and D move together says so once: in its explanation, the one place
that reads both laws' allocations, not again in each law's warning (fit_law's own warning)."""
from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from scalefit.cli import main
from test_cli_audit3_fitting import tied_runs

TIED = "so N and D move together"


@pytest.fixture(scope="module")
def tied(tmp_path_factory):
    return tied_runs(tmp_path_factory.mktemp("tied") / "tied.csv")


def compare(*args):
    result = CliRunner().invoke(main, ["compare", *args, "--bootstrap", "0"])
    assert result.exit_code == 0, result.output
    return result.stdout


def test_compare_says_once_that_n_and_d_move_together(tied):
    text = compare("--data", tied)
    assert text.count(TIED) == 1, text
    assert "Only 0 of the 20 model sizes were trained at more than one token count" in text
    assert "train some sizes at several token counts to separate the terms; kaplan a = " in text
    out = json.loads(compare("--data", tied, "--json"))
    assert json.dumps(out).count(TIED) == 1
    assert TIED in out["explanation"][0]
    assert not any(TIED in w for fit in out["fits"].values() for w in fit["warnings"])


def test_one_allocation_compared_keeps_the_warning(tied):
    """With one allocation (kaplan-n sets none) the explanation does not read the design: the
    law's warning says it."""
    out = json.loads(compare("chinchilla", "kaplan-n", "--data", tied, "--json"))
    assert json.dumps(out).count(TIED) == 1
    assert any(TIED in w for w in out["fits"]["chinchilla"]["warnings"])

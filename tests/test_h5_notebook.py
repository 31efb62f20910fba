"""Results of the fitting core as a notebook shows them (helper H5): a few lines each, with the
headline numbers; print() gives the command's text where there is one."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from scalefit.data import data_path

RUNS = data_path("suites", "mini", "runs.csv")


def _readable(text: str, lines: int = 12, width: int = 200) -> list[str]:
    rows = text.splitlines()
    assert 1 <= len(rows) <= lines and max(map(len, rows)) <= width, text
    return rows


@pytest.fixture(scope="module")
def grid():
    runs = pd.read_csv(RUNS)
    return runs[runs["part"] == "grid"].copy()


def test_a_law_fit_reads_in_a_notebook(grid):
    """A Chinchilla fit's dataclass repr was ~3,700 characters on one line (every field of extra)."""
    import copy
    import dataclasses

    from scalefit import fit_law
    fit = fit_law(grid, "chinchilla", n_bootstrap=20)
    rows = _readable(repr(fit))
    assert rows[0].startswith("FitResult of chinchilla: 20 points, RMSE(log L) ")
    ident = fit.extra["identifiability"]
    for name, p in fit.params.items():
        line = next(r for r in rows if r.startswith(f"  {name} = "))
        assert f"[{p.ci95[0]:.3g}, {p.ci95[1]:.3g}]" in line
        assert ("not identified" in line) == (ident[name]["status"] == "not identified"), line
    unpinned = [n for n, e in ident.items() if e["status"] == "not identified"]
    said = f"  warning: not identified by these runs: {', '.join(unpinned)} ("
    assert unpinned and any(r.startswith(said) for r in rows)
    assert rows[-1] == "  .params_frame(), .budgets_frame(), .to_dict()"
    assert fit == copy.deepcopy(fit) and fit != dataclasses.replace(fit, n_points=19)  # dataclass ==


def test_an_accuracy_fit_offers_no_budgets_it_does_not_have():
    from scalefit import fit_accuracy
    L = np.linspace(2.5, 4.5, 8)
    acc = 0.25 + 0.5 / (1 + np.exp(3 * (L - 3.5)))
    fit = fit_accuracy(L, acc, "sigmoid", n_bootstrap=0)
    rows = _readable(repr(fit))
    assert rows[0] == "FitResult of sigmoid: 8 points, 1 warning"
    assert "  warning: too few points: 8 for 4 parameters" in rows
    assert rows[-1] == "  .params_frame(), .to_dict()"

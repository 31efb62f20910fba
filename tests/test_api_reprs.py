"""Results of the fitting core as a notebook shows them (helper H5): a few lines each, with the
headline numbers; print() gives the command's text where there is one."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from scalefit.data import data_path

RUNS = data_path("suites", "mini", "runs.csv")
# grid: conftest's module fixture, the shipped runs.csv's 20 grid runs as read_table reads them


def _readable(text: str, lines: int = 12, width: int = 200) -> list[str]:
    rows = text.splitlines()
    assert 1 <= len(rows) <= lines and max(map(len, rows)) <= width, text
    return rows


def test_a_law_fit_reads_in_a_notebook(grid):
    """A Chinchilla fit's dataclass repr was ~3,700 characters on one line (every field of extra)."""
    import copy
    import dataclasses

    from scalefit import fit_law
    from scalefit.scaling.interval_text import at_zero, interval_text
    fit = fit_law(grid, "chinchilla", n_bootstrap=20)
    rows = _readable(repr(fit))
    assert rows[0].startswith("FitResult of chinchilla: 20 points, RMSE(log L) ")
    ident = fit.extra["identifiability"]
    for name, p in fit.params.items():
        line = next(r for r in rows if r.startswith(f"  {name} = "))
        assert interval_text(*at_zero(*p.ci95, p.value)) in line  # the tables' interval rule
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


@pytest.fixture(scope="module")
def downstream():
    from scalefit import run_downstream
    from scalefit.scaling.relations.downstream import shipped_runs
    runs = shipped_runs(pd.read_csv(RUNS))
    return run_downstream(runs, "loss", "loss_code_test", group="distribution", x_from="prose",
                          holdout=2, at_nd="1e6,1e8", n_bootstrap=50, source="runs.csv")


def test_a_downstream_prediction_reads_in_a_notebook_and_prints_the_commands_report(downstream):
    """Downstream's and LossPairs' dataclass reprs printed the fit, the pair tables and the
    held-out table."""
    from scalefit.scaling.interval_text import at_zero, interval_text, value_at_interval
    from scalefit.scaling.relations.report import downstream_text
    d = downstream
    rows = _readable(repr(d))
    assert rows[0] == ("Downstream shifted-power on runs.csv: train-to-test loss (prose) -> "
                       "loss_code_test (prose), 21 pairs fitted, 2 held out")
    for name, p in d.fit.params.items():
        assert any(r.startswith(f"  {name} = ") and interval_text(*at_zero(*p.ci95, p.value)) in r
                   for r in rows), name
    pr, h = d.prediction, d.holdout
    # the estimate and interval as the report prints them (s46: 4 digits beside [1.3e+10, 5.2e+53])
    assert f"  projection at N = 1e+06, D = 1e+08: {value_at_interval(pr['value'], *pr['ci95'])}, 95% " \
           f"prediction interval {interval_text(*pr['pi95'], pr['value'])}" in rows
    assert any(r.startswith(f"  held out 2: mean |relative error| {h['mean_abs_rel_error']:.2%}")
               for r in rows)
    assert str(d) == downstream_text(d.to_dict())
    pairs = _readable(repr(d.train), lines=2 + len(d.train.notes))
    assert pairs[0] == ("LossPairs train-to-test (same model): loss (prose) -> loss_code_test "
                        "(prose), 21 pairs; for E_x and E_y 21 x runs, 21 y runs")


def test_loss_pairs_show_the_runs_that_found_no_pair():
    from scalefit import pair_losses
    runs = pd.DataFrame({"params": [1e6, 2e6, 4e6, 8e6], "tokens": [1e8, 2e8, 4e8, 8e8],
                         "x": [4.0, 3.8, 3.6, 3.4], "y": [5.0, 4.7, 4.4, None]})
    pairs = pair_losses(runs, "x", "y", source="t.csv")
    rows = _readable(repr(pairs))
    assert rows[0].endswith("3 pairs; for E_x and E_y 4 x runs, 3 y runs")
    assert pairs.notes and [f"  note: {n}" for n in pairs.notes] == rows[1:-1]

"""What N* of a fit's budget rows counts is stated by projection.project_allocation when it
converts them (FitResult.budget_n_counts) and read by FitResult.budgets_frame, which worked it out
by comparing the rows' note with the law's own sentence; a result without the fact (its budgets
not stated by project_allocation) is still judged from the note."""
from __future__ import annotations

import dataclasses

import pytest

from scalefit.scaling.laws.cli import _load
from scalefit.scaling.laws.fit import fit_law
from scalefit.scaling.laws.runtable import fit_n_note, validate_runs

CONVERTED = "total (converted from non-embedding with the runs' embedding counts)"


@pytest.fixture(scope="module")
def runs():
    df, source, _ = _load(None)
    return df, source


def _fit(runs, law, drop=()):
    df, source = runs
    table = validate_runs(df.drop(columns=list(drop)), law, source=source)
    return fit_law(table, law, n_bootstrap=0, all_runs=table)


def test_the_projection_states_what_n_counts(runs):
    kaplan = _fit(runs, "kaplan")  # non-embedding N, on a table with both counts: converted
    assert kaplan.budget_n_counts == CONVERTED
    assert kaplan.budgets_frame().attrs["N_counts"] == CONVERTED
    # the stated fact, not the note's wording, says it: a note reworded to the law's own sentence
    # left the rows read as non-embedding
    reworded = dataclasses.replace(kaplan, extra=dict(kaplan.extra, allocation=dict(
        kaplan.extra["allocation"], budget_convention=fit_n_note(kaplan.extra))))
    assert reworded.budgets_frame().attrs["N_counts"] == CONVERTED
    chinchilla = _fit(runs, "chinchilla")
    assert chinchilla.budget_n_counts == "total" == chinchilla.budgets_frame().attrs["N_counts"]
    alone = _fit(runs, "kaplan", drop=["params"])  # one N count: nothing to convert with
    assert alone.budget_n_counts == "non-embedding" == alone.budgets_frame().attrs["N_counts"]


def test_a_result_without_the_fact_is_judged_from_its_note(runs):
    kaplan = _fit(runs, "kaplan")
    unstated = dataclasses.replace(kaplan, budget_n_counts=None)
    assert unstated.budgets_frame().attrs["N_counts"] == CONVERTED
    own = dataclasses.replace(unstated, extra=dict(kaplan.extra, allocation=dict(
        kaplan.extra["allocation"], budget_convention=fit_n_note(kaplan.extra))))
    assert own.budgets_frame().attrs["N_counts"] == "non-embedding"

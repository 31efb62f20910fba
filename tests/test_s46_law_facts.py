"""One place for each fact (s46): which law's optimum lies beyond every run at a budget is carried
by compare's budget rows (compare.BudgetRow.law_kinds), not parsed back out of the words of
``outside_runs``; and each law names its own reducible terms (Law.terms), which
calibrate.vanished_terms judges, predicting the runs as the held-out runs are (the result's own
C = k N D)."""
from __future__ import annotations

import copy
import json
import types
import warnings

import numpy as np
import pandas as pd
import pytest

from scalefit.report import dumps
from scalefit.scaling.fitresult import flat_rows
from scalefit.scaling.laws.calibrate import NEGLIGIBLE_TERM, unconverged_reason, vanished_terms
from scalefit.scaling.laws.compare import budget_rows
from scalefit.scaling.laws.fit import fit_law
from scalefit.scaling.laws.law import Law
from scalefit.scaling.laws.projection import BEYOND_RUNS
from scalefit.scaling.laws.registry import REGISTRY
from scalefit.scaling.laws.report import projection_lines
from scalefit.scaling.laws.runtable import validate_runs
from tests.test_s44_laws_honesty import grid_runs
from tests.test_s45_labels import TRUTH, chinchilla_loss

CLAUSE = "; a projection: no run has this N* or D*"


# --- 1: the law whose optimum lies beyond every run, carried with the row -------------------------

def bracketed_runs() -> pd.DataFrame:
    """6 sizes x 5 token ratios of TRUTH, and two held-out runs at C = 4.8e20 on either side of
    the truth's optimum there (N* / 1.5 and x 1.5): an optimum among the runs."""
    rng = np.random.default_rng(4)
    N, tpp = np.meshgrid(np.geomspace(1e7, 1e9, 6), [5.0, 10.0, 20.0, 40.0, 80.0], indexing="ij")
    N, D = N.ravel(), (N * tpp).ravel()
    c_top, n_top = 4.8e20, 2.156e9
    N = np.append(N, [n_top / 1.5, n_top * 1.5])
    D = np.append(D, [c_top / (6 * n_top / 1.5), c_top / (6 * n_top * 1.5)])
    return pd.DataFrame({"params": N, "tokens": D, "loss": chinchilla_loss(N, D, rng)})


@pytest.fixture(scope="module")
def two_laws_near_a_held_out_run():
    """Budget rows at the held-out runs' compute of a Chinchilla fit (its optimum among the runs)
    and of the same fit with B 30 times larger (its D* far beyond every run), labelled
    'chinchilla' and 'chinchilla b': the first label and a space begin the second."""
    runs = bracketed_runs()
    table = validate_runs(runs, "chinchilla")
    held = np.arange(len(runs)) >= len(runs) - 2
    fitted = validate_runs(runs[~held], "chinchilla")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = fit_law(fitted, "chinchilla", n_bootstrap=20)
    assert result.value("alpha") == pytest.approx(TRUTH["alpha"], abs=0.05)
    assert result.value("beta") == pytest.approx(TRUTH["beta"], abs=0.05)
    hungry = copy.copy(result)
    hungry.params = {k: copy.copy(p) for k, p in result.params.items()}
    hungry.params["B"].value = result.value("B") * 30
    hungry.draws = {**result.draws, "B": np.asarray(result.draws["B"]) * 30}
    rows, _ = budget_rows({"chinchilla": result, "chinchilla b": hungry}, [4.8e20],
                          frame=table.frame, largest_fitted=float(fitted.C.max()),
                          held_flops=table.C[held])
    return rows


def _interval_lines(rows) -> dict[str, str]:
    lines = projection_lines(rows, ["chinchilla", "chinchilla b"])
    return {law: next(ln for ln in lines if ln.startswith(f"  4.8e+20 FLOPs ({law}):"))
            for law in ("chinchilla", "chinchilla b")}


def test_only_the_law_whose_optimum_lies_beyond_the_runs_is_called_a_projection(
        two_laws_near_a_held_out_run):
    """Both laws' lines read 'a projection' before: the row's outside_runs text, 'chinchilla b D*
    57.9x ...', starts with 'chinchilla ', which the parse took for the first law's part."""
    row, = two_laws_near_a_held_out_run
    assert row["kind"] == BEYOND_RUNS and row["outside_runs"].startswith("chinchilla b D* ")
    said = _interval_lines([row])
    assert not said["chinchilla"].endswith(f"(95% prediction interval{CLAUSE})")
    assert said["chinchilla"].endswith("(95% prediction interval)")
    assert said["chinchilla b"].endswith(f"(95% prediction interval{CLAUSE})")


def test_the_fact_does_not_hang_on_the_words_and_stays_out_of_the_outputs(
        two_laws_near_a_held_out_run):
    """Reworded outside_runs: the same lines (the parse found no law in it and said nothing). The
    row's JSON and CSV are the keys they were: flops, ..., outside_runs, then each law's."""
    row, = two_laws_near_a_held_out_run
    reworded = copy.copy(row)
    reworded["outside_runs"] = "beyond every run: chinchilla b (D*)"
    assert _interval_lines([reworded]) == _interval_lines([row])
    shown = json.loads(dumps(row))
    assert list(shown)[:5] == ["flops", "times_largest_run", "kind", "held_out_runs_near", "outside_runs"]
    assert list(shown) == list(row) and "law_kinds" not in shown
    assert "law_kinds" not in flat_rows([row]).columns


# --- 2: each law's own terms, judged by calibrate ---------------------------------------------------

def _log_two_terms(N, D, E, log_P, log_Q, p, q):
    return np.log(E + np.exp(log_P) * N ** -p + np.exp(log_Q) * D ** -q)


class TwoTerms(Law):
    """L = E + P/N^p + Q/D^q: Chinchilla's form under other names."""

    law_name = "two-terms-s46"
    function = staticmethod(_log_two_terms)
    paper_names = ("E", "P", "Q", "p", "q")
    log_scales = ("P", "Q")
    terms = {"P": "p", "Q": "q"}

    def predict(self, values, N, D, k=6.0, **extra):
        v = values
        return v["E"] + v["P"] / np.asarray(N, float) ** v["p"] + v["Q"] / np.asarray(D, float) ** v["q"]


def _log_two_powers_of_c(C, E, log_P, log_Q, p, q):
    return np.log(E + np.exp(log_P) * C ** -p + np.exp(log_Q) * C ** -q)


class TwoPowersOfC(Law):
    """L = E + P/C^p + Q/C^q, C = k N D: a law of compute alone with two terms."""

    law_name = "two-powers-of-c-s46"
    function = staticmethod(_log_two_powers_of_c)
    needs = ("C",)
    paper_names = ("E", "P", "Q", "p", "q")
    log_scales = ("P", "Q")
    terms = {"P": "p", "Q": "q"}

    def predict(self, values, N, D, k=6.0, **extra):
        C = k * np.asarray(N, float) * np.asarray(D, float)
        return values["E"] + values["P"] / C ** values["p"] + values["Q"] / C ** values["q"]


def fitted_as(law: str, values: dict, k: float = 6.0):
    """A fitted result of ``law`` at ``values`` (what vanished_terms and unconverged_reason read)."""
    return types.SimpleNamespace(law=law, values=lambda: dict(values), converged=True, objective=1.0,
                                 warnings=[], model_result=None,
                                 extra={"allocation": {"flops_per_param_token": k}})


@pytest.fixture
def registered(monkeypatch):
    for cls in (TwoTerms, TwoPowersOfC):
        monkeypatch.setitem(REGISTRY, cls.law_name, cls)


def test_a_law_with_other_term_names_has_its_vanished_term_caught(registered):
    """TERM_EXPONENTS knew A, B, N_c, D_c only: a law of P/N^p and Q/D^q with Q ~ 0 was never
    judged (no term found), and a cut of it was scored. Q at a tenth of NEGLIGIBLE_TERM of the
    runs' loss range is caught, and named with its own exponent; Q ten times above it is not."""
    table = validate_runs(grid_runs(), "chinchilla")
    spread = np.ptp(table.L)
    base = {"E": 1.8, "P": 480.0, "p": 0.35, "q": 0.37}
    share = 1 / table.D.min() ** base["q"] / spread  # the Q term's largest share per unit Q
    gone = fitted_as(TwoTerms.law_name, {**base, "Q": 0.1 * NEGLIGIBLE_TERM / share})
    assert [scale for scale, _ in vanished_terms(gone, table)] == ["Q"]
    reason = unconverged_reason(gone, table)
    assert reason.startswith("term Q (exponent q) moves the fitted runs' loss by at most ")
    assert reason.endswith("a term of the law flat or gone, so the fit is not identified")
    kept = fitted_as(TwoTerms.law_name, {**base, "Q": 10 * NEGLIGIBLE_TERM / share})
    assert vanished_terms(kept, table) == [] and unconverged_reason(kept, table) is None


def test_a_law_of_compute_is_judged_at_the_runs_own_compute(registered):
    """prediction_inputs gives a law of compute alone N = C / k and D = 1 with the result's k (9
    here), so the law reads the runs' C only with that k: vanished_terms called predict without
    it (k = 6), reading C x 6/9, where the Q/C term is 1.5 times as large. At 0.8 NEGLIGIBLE_TERM
    of the loss range at the runs' own C the term is gone; read at 6/9 C it was 1.2 and kept."""
    table = validate_runs(grid_runs(), "kaplan-c")
    spread = np.ptp(table.L)
    base = {"E": 1.8, "P": 30.0, "p": 0.05, "q": 1.0}
    q_value = 0.8 * NEGLIGIBLE_TERM * spread * table.C.min() ** base["q"]
    result = fitted_as(TwoPowersOfC.law_name, {**base, "Q": q_value}, k=9.0)
    gone = vanished_terms(result, table)
    assert [scale for scale, _ in gone] == ["Q"]
    assert "at most 0.0008 of its range" in gone[0][1]


def test_rows_on_two_compute_bases_keep_each_laws_kind():
    """compare isoflop chinchilla on a non-embedding N: each basis's rows are made apart and then
    given their 'compute' (mixed_budget_rows); a copy of each row there ({**row, ...}) would have
    dropped the laws' kinds the report reads. Each row holds its one law's kind."""
    from scalefit.options import apply_column_mapping
    from scalefit.scaling.laws.compare import compare_laws
    from tests.test_s43_mixed_budgets import isoflop_runs_with_both_counts

    mapped = apply_column_mapping(isoflop_runs_with_both_counts(), {"params": "params_nonembed"}, "t")
    rows = compare_laws(mapped, ["isoflop", "chinchilla"], n_bootstrap=0).budgets
    assert len({row["compute"] for row in rows}) == 2
    for row in rows:
        law, = (law for law in ("isoflop", "chinchilla") if f"{law}_N_opt" in row)
        assert row.law_kinds == {law: row["kind"]}, row

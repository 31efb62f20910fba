"""Labels a researcher would quote wrongly (s45 audit): compare's budgets of a non-embedding law and
a total-N law at one compute on a table whose flops are not 6 N D; a held-out budget's row called a
'prediction' where its optimum lies beyond every run; the Kaplan allocation exponent's basis and the
published 0.73 beside it; --help and notes that named the wrong draws or counts; and an interval
over only some draws labelled as the curve's."""
from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from scalefit.cli import main
from scalefit.scaling.laws.compare import compare_laws
from scalefit.scaling.laws.projection import BEYOND_RUNS

TRUTH = dict(E=1.8, A=480.0, B=2000.0, alpha=0.35, beta=0.37)  # Chinchilla form, total N


def chinchilla_loss(N, D, rng, sd=0.005):
    t = TRUTH
    return (t["E"] + t["A"] / N ** t["alpha"] + t["B"] / D ** t["beta"]) * np.exp(rng.normal(0, sd, N.size))


def embedded_runs(k: float, seed: int = 3) -> pd.DataFrame:
    """5 sizes x 4 token ratios with an embedding count beside the non-embedding one (share 10-40%)
    and flops = k x params x tokens: the same runs whatever k, only the flops column scaled."""
    rng = np.random.default_rng(seed)
    nonembed, tpp = np.meshgrid(np.geomspace(3e5, 2e7, 5), [2.0, 5.0, 12.0, 30.0], indexing="ij")
    nonembed = nonembed.ravel()
    total = nonembed + 2e5 * (nonembed / 3e5) ** 0.4
    tokens = total * tpp.ravel()
    return pd.DataFrame({"params": total, "params_nonembed": nonembed, "tokens": tokens,
                         "flops": k * total * tokens, "loss": chinchilla_loss(total, tokens, rng)})


def _compare(runs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return compare_laws(runs, ["kaplan", "chinchilla"], n_bootstrap=0).to_dict()


def test_both_laws_budgets_are_the_same_compute_in_the_tables_own_count():
    """flops = 9 N D: Kaplan's rows (non-embedding N converted to total parameters) had
    6 N* D* = C, Chinchilla's 9 N* D* = C, under one 'FLOPs' column. Now both are the table's C,
    and a row is the same physical compute as the row of the same runs counted 6 N D: the same
    N* and D* (neither fit reads the flops column)."""
    nine, six = _compare(embedded_runs(9.0)), _compare(embedded_runs(6.0))
    assert len(nine["budgets"]) == len(six["budgets"]) >= 2
    for row9, row6 in zip(nine["budgets"], six["budgets"]):
        assert row9["flops"] == pytest.approx(1.5 * row6["flops"], rel=1e-5)
        for law in ("kaplan", "chinchilla"):
            n, d = row9[f"{law}_N_opt"], row9[f"{law}_D_opt"]
            assert 9.0 * n * d == pytest.approx(row9["flops"], rel=1e-9), law
            assert n == pytest.approx(row6[f"{law}_N_opt"], rel=1e-6), law
            assert d == pytest.approx(row6[f"{law}_D_opt"], rel=1e-6), law
    assert nine["budgets"][0]["kaplan_flops_per_param_token"] == pytest.approx(9.0)
    assert "kaplan_flops_per_param_token" not in six["budgets"][0]  # 6: nothing to say
    assert "at budgets in the table's own count C = 9 N D" in nine["budget_convention"]
    assert "own count" not in six["budget_convention"]


def test_the_frontier_figure_draws_the_rows_optima():
    """compare's frontier figure drew Kaplan's converted frontier at 6 N D on a 9 N D table:
    its line at the 100x budget now passes through that budget row's N*."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from scalefit.scaling.laws.plots import plot_frontiers
    from scalefit.scaling.laws.runtable import validate_runs
    runs = embedded_runs(9.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cmp = compare_laws(runs, ["kaplan", "chinchilla"], n_bootstrap=0)
    row = max(cmp.budgets, key=lambda r: r["flops"])
    fig = plot_frontiers(cmp.fits, validate_runs(runs, "chinchilla").frame, [r["flops"] for r in cmp.budgets])
    lines = fig.axes[0].get_lines()
    for law in ("kaplan", "chinchilla"):
        i = next(j for j, ln in enumerate(lines) if str(ln.get_label()).startswith(f"{law}:"))
        beyond = lines[i + 1]  # the dashed part, to the largest budget
        assert beyond.get_xdata()[-1] == pytest.approx(row["flops"], rel=1e-5)  # budgets: 6 digits
        assert beyond.get_ydata()[-1] == pytest.approx(row[f"{law}_N_opt"], rel=1e-5), law
    plt.close(fig)


# --- 2: a held-out budget whose optimum lies beyond every run ------------------------------------

def _fit_json(args):
    result = CliRunner().invoke(main, ["fit", "chinchilla", *args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def _fit_text(args):
    result = CliRunner().invoke(main, ["fit", "chinchilla", *args])
    assert result.exit_code == 0, result.output
    return result.stdout


def test_a_held_out_budget_whose_optimum_lies_beyond_every_run_says_so():
    """The shipped grid's `fit chinchilla --holdout 2`: the 2.42e13 row (a held-out run within 2x
    of it) was a 'prediction' with D* 2.06x the largest token count of any run, fitted or held
    out, and 'a run trained at this optimum would measure' read as checked."""
    args = ["--holdout", "2", "--bootstrap", "50"]
    doc = _fit_json(args)
    rows = [r for r in doc["allocation"]["budgets"] if r["held_out_runs_near"]]
    assert rows and all(r["kind"] == BEYOND_RUNS for r in rows)
    assert "D*" in rows[0]["outside_runs"] and "the largest of any run" in rows[0]["outside_runs"]
    text = _fit_text(args)
    assert f"{rows[0]['flops']:.3g}           2.14  {BEYOND_RUNS}" in text
    assert f"{BEYOND_RUNS}: a held-out run lies within 2x" in text
    assert "(95% prediction interval; a projection: no run has this N* or D*)" in text


def test_a_held_out_budget_whose_optimum_a_run_brackets_stays_a_prediction(tmp_path):
    """Two held-out runs on either side of the optimum at their compute (N* /1.5 and x1.5): the
    optimum lies among the runs, so the row stays a prediction."""
    rng = np.random.default_rng(4)
    N, tpp = np.meshgrid(np.geomspace(1e7, 1e9, 6), [5.0, 10.0, 20.0, 40.0, 80.0], indexing="ij")
    N, D = N.ravel(), (N * tpp).ravel()
    c_top, n_top = 4.8e20, 2.156e9  # the truth's optimum at c_top
    N = np.append(N, [n_top / 1.5, n_top * 1.5])
    D = np.append(D, [c_top / (6 * n_top / 1.5), c_top / (6 * n_top * 1.5)])
    path = tmp_path / "runs.csv"
    pd.DataFrame({"params": N, "tokens": D, "loss": chinchilla_loss(N, D, rng)}).to_csv(path, index=False)
    doc = _fit_json(["--data", str(path), "--holdout", "2", "--bootstrap", "0"])
    rows = [r for r in doc["allocation"]["budgets"] if r["held_out_runs_near"]]
    assert rows and all(r["kind"] == "prediction" and "outside_runs" not in r for r in rows)


# --- 3: the Kaplan allocation exponent's basis, and the published 0.73 beside it ---------------

def _json(args):
    result = CliRunner().invoke(main, [*args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def _text(args):
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    return result.stdout


def test_a_of_a_non_embedding_fit_says_its_basis():
    """`fit kaplan` printed 'a (allocation) 0.8088' with nothing saying it is the exponent of a
    non-embedding N under C = 6 N_nonembed D; a fit of total N says nothing of the kind."""
    from scalefit.scaling.laws.fit import EXPONENT_BASIS
    assert EXPONENT_BASIS == "non-embedding N, C = 6 N_nonembed D"
    doc = _json(["fit", "kaplan", "--bootstrap", "0"])
    assert doc["allocation"]["exponent_basis"] == EXPONENT_BASIS
    assert f"a, b (allocation) are of {EXPONENT_BASIS}" in _text(["fit", "kaplan", "--bootstrap", "0"])
    assert "exponent_basis" not in _json(["fit", "chinchilla", "--bootstrap", "0"])["allocation"]


def test_published_kaplan_a_says_its_derivation_beside_what_its_constants_give():
    """compare's published table set Kaplan's eq. 6.1 a = 0.73 (the C_min frontier of L(N, S))
    in one row with Table 2's L(N, D) constants, which by the fit's formula give 0.575."""
    from scalefit.scaling.laws.kaplan import EQ61, TABLE2
    from scalefit.scaling.laws.published import published_laws
    k = published_laws()["kaplan2020"]
    doc = _json(["compare", "kaplan", "chinchilla", "--bootstrap", "0"])
    rows = doc["published"]["kaplan"]
    nd = k["kaplan-nd"]
    assert rows[TABLE2]["a"] == pytest.approx(nd["alpha_D"] / (nd["alpha_N"] + nd["alpha_D"]))
    assert rows[TABLE2]["a"] == pytest.approx(0.575, abs=5e-4)
    assert rows[TABLE2]["alpha_N"] == nd["alpha_N"] and rows[EQ61] == {"a": 0.73, "b": 0.27}
    text = _text(["compare", "kaplan", "chinchilla", "--bootstrap", "0"])
    assert "eq. 6.1's a = 0.73 is fitted to the compute-efficient frontier C_min of L(N, S)" in text
    assert "compare the fit's a with 0.575, not 0.73" in text


# --- 4: --help and notes that named the wrong draws or count; a size column's suggestion ------

@pytest.mark.parametrize("command", [["fit"], ["compare"], ["reconcile"]])
def test_bootstrap_help_says_isoflop_draws_the_line(command):
    """--bootstrap was 'Bootstrap resamples for the 95% intervals', where isoflop's are
    parametric draws of the line through the budget optima (isoflop.line_draws)."""
    result = CliRunner().invoke(main, [*command, "--help"], terminal_width=2000)
    assert result.exit_code == 0, result.output
    assert "parametric draws of the line for isoflop" in " ".join(result.output.split())


def test_rough_interval_note_of_predict_curve_names_its_own_count():
    """predict curve (default and advised 200 refits) was told 'use --bootstrap 1000'."""
    text = _text(["predict", "curve", "--model", "mini-1", "--schedule", "cosine:2400",
                  "--bootstrap", "20"])
    assert "note: 20 bootstrap resamples: the curve's 95% intervals are rough; use --bootstrap 200" \
        in text.splitlines()


def test_a_missing_size_column_suggests_the_tables_size_column_not_a_near_spelling(tmp_path):
    """Porian's table (n, and hparams holding 'base') was asked "did you mean 'hparams'?"."""
    path = tmp_path / "runs.csv"
    pd.DataFrame({"hparams": ["base"] * 3, "n": [1e6, 2e6, 4e6], "tokens": [1e8, 5e7, 2.5e7],
                  "flops": [6e14] * 3, "loss": [3.1, 3.0, 3.2]}).to_csv(path, index=False)
    result = CliRunner().invoke(main, ["fit", "isoflop", "--data", str(path)])
    assert result.exit_code == 2
    line = result.output.strip()
    assert len(line.splitlines()) == 1 and "Traceback" not in line
    assert "column 'params' is missing; did you mean 'n'?" in line and "'hparams'?" not in line


# --- 5: an interval over only some draws, labelled as the curve's -----------------------------

def test_an_interval_over_half_the_draws_says_so_in_its_label():
    """`predict downstream --at-x 0.5`: about half the draws put E_x above x and give no value;
    the text said '95% CI of the curve [0.9, 3.7]' (a note lines below said the rest). Now the
    label says whose interval it is, in text and JSON; at an x every draw reaches, as before."""
    import re
    args = ["predict", "downstream", "--bootstrap", "200"]
    pr = _json([*args, "--at-x", "0.5"])["prediction"]
    undefined, n = map(int, re.match(r"(\d+) of (\d+) bootstrap draws", pr["undefined_draws"]).groups())
    assert undefined > 0.1 * n
    assert pr["intervals_over"] == f"the {n - undefined} of {n} draws with a value"
    text = _text([*args, "--at-x", "0.5"])
    assert f"95% CI of the curve over {pr['intervals_over']} [" in text
    assert "95% prediction interval of an observed value over those draws [" in text
    inside = _json([*args, "--at-x", "5"])["prediction"]
    assert "intervals_over" not in inside and "undefined_draws" not in inside
    assert "95% CI of the curve [" in _text([*args, "--at-x", "5"])

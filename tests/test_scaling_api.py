"""The notebook path of the law fits equals the CLI's: `fit_law` returns what `scalefit fit --json`
prints (identifiability judged, projections labelled), and bad Python input is an InputError."""
from __future__ import annotations

import json
import math

import pandas as pd
import pytest
from click.testing import CliRunner

from scalefit.cli import main
from scalefit.errors import InputError
from scalefit.scaling.laws.compare import compare_laws
from scalefit.scaling.laws.fit import fit_law
from tests.test_scaling_cli import make_runs


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    path = tmp_path_factory.mktemp("runs") / "runs.csv"
    return path, make_runs(path)


def test_fit_law_is_what_scalefit_fit_prints(runs):
    """fit_law gave no identifiability verdict and fixed budgets (1e21, 5.76e23, 1e25 FLOPs, about
    1e4x beyond these runs) with no 'projection' label; the CLI added both after the fit."""
    path, frame = runs
    cli = json.loads(CliRunner().invoke(main, ["fit", "chinchilla", "--data", str(path), "--bootstrap", "40",
                                               "--json"]).stdout)
    api = fit_law(frame, "chinchilla", n_bootstrap=40).to_dict()
    assert api["warnings"] == cli["warnings"] and api["identifiability"] == cli["identifiability"]
    assert api["identifiability"]["beta"]["status"] in ("identified", "not identified")
    rows, cli_rows = api["allocation"]["budgets"], cli["allocation"]["budgets"]
    assert [r["flops"] for r in rows] == [r["flops"] for r in cli_rows]
    largest = frame["flops"].max()
    assert {10, 100} <= {round(r["times_largest_run"]) for r in rows}
    assert all(r["kind"] == ("projection" if r["flops"] > largest else "interpolation") for r in rows)
    assert {r["kind"] for r in rows} == {"projection", "interpolation"}
    assert all(math.isclose(a["N_opt"], b["N_opt"], rel_tol=1e-9) for a, b in zip(rows, cli_rows))
    assert api["allocation"]["budget_convention"] == cli["allocation"]["budget_convention"]


def test_a_total_parameter_law_on_non_embedding_counts_warns(runs):
    """Chinchilla on a table without 'params' fell back to params_nonembed with only a note, which
    also said "flops derived as 6 * params * tokens" for a table with no params column."""
    _, frame = runs
    nonembed = frame.drop(columns=["params", "flops"])
    result = fit_law(nonembed, "chinchilla", n_bootstrap=0)
    assert any("N = params_nonembed counts N differently" in w and "add a 'params' column" in w
               for w in result.warnings)
    assert "flops derived as 6 * params_nonembed * tokens" in result.extra["notes"]
    assert not [w for w in fit_law(frame, "chinchilla", n_bootstrap=0).warnings if "counts N differently" in w]


@pytest.mark.parametrize("call, message", [
    (lambda f: fit_law(f, "chinchilla", delta=float("nan")), r"delta \(--delta\): 'nan' is not finite; expected a finite number > 0"),
    (lambda f: fit_law(f, "chinchilla", delta=-1e-3), r"delta \(--delta\): '-0.001' is out of range; expected a finite number > 0"),
    (lambda f: fit_law(f, "chinchilla", n_bootstrap=-1), r"n_bootstrap \(--bootstrap\): '-1': expected at least 2 resamples, or 0 for none"),
    (lambda f: fit_law(f, "chinchilla", n_bootstrap=2.5), r"'2.5' is not a whole number; expected at least 2 resamples, or 0 for none"),
    (lambda f: fit_law(f.to_numpy(), "chinchilla"), "runs: an ndarray is not a table; pass a DataFrame"),
    (lambda f: compare_laws(f, (), n_bootstrap=0), "name at least one law"),
])
def test_bad_python_input_is_one_input_error(runs, call, message):
    """delta=nan raised IndexError deep in the fit, n_bootstrap=-1 was ignored, an array raised
    AttributeError."""
    with pytest.raises(InputError, match=message):
        call(runs[1])


def test_rows_as_dicts_paths_and_one_law_by_name(runs):
    """A list of row dicts is a table; compare_laws(runs, "chinchilla") iterated the characters
    ("unknown law 'c'")."""
    _, frame = runs
    from_rows = fit_law(frame.to_dict("records"), "chinchilla", n_bootstrap=0)
    assert from_rows.values() == pytest.approx(fit_law(frame, "chinchilla").values(), rel=1e-9)
    comparison = compare_laws(frame, "chinchilla", n_bootstrap=0)
    assert list(comparison.fits) == ["chinchilla"]
    from_path = compare_laws(runs[0], "chinchilla", n_bootstrap=0)  # a path, as fit_law takes (AttributeError before)
    assert from_path.fits["chinchilla"].values() == pytest.approx(comparison.fits["chinchilla"].values(), rel=1e-9)
    assert from_path.data == str(runs[0])
    assert isinstance(pd.DataFrame(comparison.budgets), pd.DataFrame)


def test_params_frame_is_the_json_params_as_a_table(runs):
    result = fit_law(runs[1], "chinchilla", n_bootstrap=20)
    frame = result.params_frame().set_index("param")
    doc = result.to_dict()["params"]
    assert list(frame.index) == list(doc)
    for name, p in doc.items():
        assert frame.loc[name, "stderr"] == p["stderr"] and frame.loc[name, "ci95_hi"] == p["ci95"][1]
        assert frame.loc[name, "stderr_fit"] == p["stderr_fit"] and p["stderr"] == result.params[name].bootstrap_stderr


def test_budgets_as_tables(runs):
    """Comparison.budgets was a list of dicts with [lo, hi] cells: a notebook gets a flat DataFrame."""
    comparison = compare_laws(runs[1], n_bootstrap=20)
    frame = comparison.budgets_frame()
    assert len(frame) == len(comparison.budgets)
    row, first = frame.iloc[0], comparison.budgets[0]
    assert row["chinchilla_N_opt_ci95_lo"] == first["chinchilla_N_opt_ci95"][0]
    assert row["kind"] == first["kind"]
    one = comparison.fits["chinchilla"].budgets_frame()
    assert list(one["flops"]) == [r["flops"] for r in comparison.fits["chinchilla"].extra["allocation"]["budgets"]]
    assert {"N_opt", "N_opt_ci95_lo", "N_opt_ci95_hi", "kind"} <= set(one.columns)


def test_budget_rows_carry_a_prediction_interval_for_an_observed_run(runs, tmp_path):
    """A row a held-out run checks ('prediction') showed only the curve's interval, which covered an
    observed run's loss 84-94% of the time in the audit; loss_pi95 adds the runs' scatter."""
    _, frame = runs
    comparison = compare_laws(frame, "chinchilla", n_bootstrap=40, holdout=0.2)
    rows = comparison.fits["chinchilla"].extra["allocation"]["budgets"]
    assert rows and all("loss_pi95" in r for r in rows)
    widths = [(r["loss_pi95"][1] - r["loss_pi95"][0]) / (r["loss_ci95"][1] - r["loss_ci95"][0]) for r in rows]
    assert min(widths) > 0.9 and sum(widths) / len(widths) > 1.0  # the runs' scatter widens it (40 draws: noisy)
    for r in rows:
        assert r["loss_pi95"][0] < r["loss"] < r["loss_pi95"][1]
    assert any(r["kind"] == "prediction" for r in comparison.budgets)
    path = tmp_path / "runs.csv"
    frame.to_csv(path, index=False)
    text = CliRunner().invoke(main, ["compare", "kaplan", "chinchilla", "--data", str(path), "--bootstrap", "40",
                                     "--holdout", "0.2"]).stdout
    assert "the intervals are of the law's optimum (the curve)" in text
    assert "(chinchilla): a run trained at this optimum would measure a loss in [" in text


def test_a_printed_value_stays_inside_its_printed_interval():
    """E = 1.84 with 95% CI [0, 1.987], not identified (1 significant digit), printed as "2"."""
    from scalefit.scaling.laws.identifiability import judged, significant

    assert significant(1.84, "not identified") == "2"  # no interval given: the status's digits
    shown, status = judged(1.84, (0.0, 1.987))
    assert status == "not identified" and shown == "1.8"
    assert judged(2.5519, (0.0, 3.115))[0] == "2.6"  # to its interval's place [0, 3.1]: '3' read as its end


def test_compare_laws_defaults_are_the_commands(runs):
    """compare_laws defaulted to no bootstrap, so a notebook's verdict was 'unknown' where
    `scalefit compare` gave one; its defaults are now the command's."""
    path, frame = runs
    api = compare_laws(frame, source=str(path)).to_dict()
    cli = json.loads(CliRunner().invoke(main, ["compare", "--data", str(path), "--json"]).stdout)
    assert api["fits"]["chinchilla"]["bootstrap"]["n"] == cli["fits"]["chinchilla"]["bootstrap"]["n"] == 1000
    assert "published" not in api and "published" not in cli and api["explanation"] == cli["explanation"]
    assert api["fits"]["chinchilla"]["allocation"]["a_ci95"] == cli["fits"]["chinchilla"]["allocation"]["a_ci95"]


def test_the_law_registry_as_a_table():
    from scalefit import law_choices, laws_frame

    frame = laws_frame().set_index("law")
    assert list(frame.index) == [c for c in law_choices() if c in frame.index]
    assert frame.loc["chinchilla", "params"] == "E, A, B, alpha, beta"
    assert "hoffmann" in frame.loc["chinchilla", "aliases"] and frame.loc["kaplan-nd", "aliases"] == "kaplan"
    assert frame["doc"].str.len().gt(0).all()


def test_a_law_without_a_loss_surface_does_not_point_to_a_loss_pi95(anchors):
    """isoflop sets an allocation and no loss: its budget table said 'its 95% prediction
    interval is loss_pi95 in --json', a key its rows never have."""
    data = anchors / "scaling" / "porian" / "porian_isoflop_points.csv"
    args = ["fit", "isoflop", "--data", str(data), "--subset", "label=Cosine decay", "--subset",
            "dataset=rw", "--columns", "params=n", "--bootstrap", "20"]
    text = CliRunner().invoke(main, args).stdout
    assert "the intervals are of the law's optimum (the curve)\n" in text
    assert "loss_pi95" not in text
    doc = json.loads(CliRunner().invoke(main, args + ["--json"]).stdout)
    assert doc["allocation"]["budgets"] and not any(
        "loss_pi95" in row for row in doc["allocation"]["budgets"])

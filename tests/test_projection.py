"""Honest extrapolation (issue 15): budgets from the data's range with distance, kind and
intervals; one N convention; identifiability; sentences that follow the intervals; column
mapping."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from scalefit.cli import main
from scalefit.scaling.fitresult import FitResult, ParamEstimate
from scalefit.scaling.laws.compare import allocation_verdict, compare_laws
from scalefit.scaling.laws.convention import EmbeddingMap
from scalefit.scaling.laws.identifiability import (NOT_IDENTIFIED, identifiability, identifiability_warning,
                                                   significant)
from scalefit.scaling.laws.projection import default_budgets, kind_of, optimum
from scalefit.scaling.laws.registry import law_for
from tests.test_scaling_cli import make_runs


def shipped_grid():
    from scalefit.scaling.laws.cli import default_runs_path
    runs = pd.read_csv(default_runs_path())
    return runs[runs["part"] == "grid"]


def test_default_budgets_follow_the_data():
    assert default_budgets([2.4e13]) == [2.4e14, 2.4e15]  # 1e21 is 4e7x away: left out
    assert default_budgets([1e19], [3e19]) == [3e19, 1e20, 1e21]  # 1e21 within 1000x
    assert kind_of(3e19, [2.5e19], largest_fitted=1e19) == ("prediction", 1)
    assert kind_of(1e21, [2.5e19], largest_fitted=1e19) == ("projection", 0)
    assert kind_of(5e18, [], largest_fitted=1e19) == ("interpolation", 0)


def test_embedding_map_keeps_each_runs_ratio():
    runs = shipped_grid()
    emb = EmbeddingMap.from_frame(runs)
    assert np.allclose(emb.total(runs["params_nonembed"]), runs["params"], rtol=1e-9)
    assert np.allclose(emb.nonembed(runs["params"]), runs["params_nonembed"], rtol=1e-3)
    big = emb.total(1e12)
    assert 1e12 < big < 1.01e12  # embeddings are a vanishing share of a huge model
    # exact=True: a run's own count at its size (the grid is off by up to 1e-3), elsewhere the
    # N whose total gives the total asked for back
    own = emb.nonembed(runs["params"], exact=True)
    assert own.tolist() == runs["params_nonembed"].astype(float).tolist()
    between = np.sqrt(runs["params"].min() * runs["params"].max()) * np.array([1.0, 1.37, 1e4])
    assert np.allclose(emb.total(emb.nonembed(between, exact=True)), between, rtol=1e-12)
    assert not np.allclose(emb.total(emb.nonembed(between)), between, rtol=1e-12)


def test_converted_optimum_matches_closed_form_when_embeddings_vanish():
    law = law_for("kaplan")
    values = {"N_c": 8.8e13, "D_c": 5.4e13, "alpha_N": 0.076, "alpha_D": 0.095}
    tiny = EmbeddingMap(np.log([1e3, 1e12]), np.log([1e-6, 1e-6]), 0.0)
    flops = np.array([1e19, 1e21, 1e23])
    n_closed, d_closed, _ = optimum(law, values, flops, 6.0)
    n_num, d_num, loss = optimum(law, values, flops, 6.0, tiny)
    assert np.allclose(n_num, n_closed, rtol=0.01) and np.allclose(d_num, d_closed, rtol=0.01)
    assert np.all(np.isfinite(loss))


def test_compare_on_shipped_grid_is_honest():
    """The issue's case: runs end at 2.4e13 FLOPs; nothing is printed at 1e21-1e25 unasked,
    every budget row says how far and carries intervals, N is total for both laws, and the
    unidentified Chinchilla exponent is flagged with its partner."""
    cmp = compare_laws(shipped_grid(), n_bootstrap=40, seed=0)
    doc = cmp.to_dict()
    assert doc["largest_fitted_flops"] == pytest.approx(2.4237e13, rel=1e-3)
    assert [round(b["times_largest_run"]) for b in doc["budgets"]] == [10, 100]
    for row in doc["budgets"]:
        assert row["kind"] == "projection"
        for law in ("kaplan", "chinchilla"):
            lo, hi = row[f"{law}_tokens_per_param_ci95"]
            assert lo <= row[f"{law}_tokens_per_param"] <= hi
    assert "converted to total parameters" in doc["budget_convention"]
    # Kaplan's tokens per parameter in total N is no longer 1e-5-absurd at 10x the data
    assert doc["budgets"][0]["kaplan_tokens_per_param"] > 0.05
    ident = doc["fits"]["chinchilla"]["identifiability"]
    assert ident["alpha"]["status"] == NOT_IDENTIFIED
    assert ident["alpha"]["most_correlated"] == "A" and ident["alpha"]["correlation"] > 0.95
    assert any("not identified" in w for w in doc["fits"]["chinchilla"]["warnings"])
    for row in doc["fits"]["kaplan"]["allocation"]["budgets"]:  # the fit's own rows too
        assert row["kind"] == "projection" and "tokens_per_param_ci95" in row
    # the printed text says how loss_pi95 drew each law's scatter, with the JSON's slope
    from scalefit.scaling.laws.report import compare_text
    slope = doc["fits"]["chinchilla"]["allocation"]["pi95_scatter"]["slope_log_sd_per_log_N"]
    line = next(x for x in compare_text(doc).splitlines() if x.startswith("the runs' scatter"))
    assert f"chinchilla: the log sd grows {slope:+.2f}" in line and "kaplan: " in line
    # an observed run's interval holds the curve's: here Chinchilla's scatter falls with N (slope
    # about -0.8) and, taken at N*, is small enough that its percentiles fell inside the curve's
    for row in doc["budgets"]:
        for law in ("kaplan", "chinchilla"):
            (pi_lo, pi_hi), (ci_lo, ci_hi) = row[f"{law}_loss_pi95"], row[f"{law}_loss_ci95"]
            assert pi_lo <= ci_lo <= row[f"{law}_loss"] <= ci_hi <= pi_hi


def test_observation_interval_holds_the_curve_interval():
    from scalefit.scaling.fitresult import observation_interval
    assert observation_interval([3.38, 3.61], [3.37, 3.62]) == [3.37, 3.62]  # inside: the curve's
    assert observation_interval([3.30, 3.70], [3.37, 3.62]) == [3.30, 3.70]  # wider: unchanged
    assert observation_interval([3.30, 3.60], [3.37, 3.62]) == [3.30, 3.62]  # one end each
    nan = float("nan")
    assert observation_interval([nan, nan], [nan, nan]) == pytest.approx([nan, nan], nan_ok=True)


def _fit_with_a(a, ci):
    return FitResult(law="chinchilla", params={"E": ParamEstimate(1.0)}, n_points=10,
                     objective=0.0, converged=True,
                     extra={"allocation": {"a": a, "a_ci95": ci}})


def test_explanation_follows_the_intervals():
    agree = {"kaplan": _fit_with_a(0.57, [0.50, 0.64]),
             "chinchilla": _fit_with_a(0.55, [0.45, 0.60])}
    differ = {"kaplan": _fit_with_a(0.87, [0.78, 0.91]),
              "chinchilla": _fit_with_a(0.41, [0.28, 0.74])}
    unknown = {"kaplan": _fit_with_a(0.57, None), "chinchilla": _fit_with_a(0.55, None)}
    assert allocation_verdict(agree)[0] == "agree"
    verdict, text, more = allocation_verdict(differ)
    assert verdict == "differ" and more == "kaplan" and "[0.78, 0.91]" in text
    assert allocation_verdict(unknown)[0] == "unknown"
    few = {name: FitResult(law=f.law, params=f.params, n_points=10, objective=0.0, converged=True, extra=f.extra,
                           draws={"alpha": np.zeros(5)}) for name, f in differ.items()}
    assert allocation_verdict(few)[0] == "unknown"  # 5 resamples cannot tell intervals apart
    from scalefit.scaling.laws.compare import explain_disagreement as explain
    assert "only 5 bootstrap resamples, too few for 95% intervals to tell" in explain(make_runs_frame(), few)[0]
    from scalefit.scaling.laws.compare import explain_disagreement
    frame = make_runs_frame()
    sentence = explain_disagreement(frame, agree)[0]
    assert "agree within their 95% intervals" in sentence and "puts more" not in sentence


def test_the_floor_is_quoted_only_when_the_runs_pin_it_down():
    """E with a wide interval is said to be unidentified, not quoted as a share of the lowest loss."""
    from scalefit.scaling.laws.compare import explain_disagreement
    frame = make_runs_frame()
    fits = {"kaplan": _fit_with_a(0.57, [0.50, 0.64]), "chinchilla": _fit_with_a(0.55, [0.45, 0.60])}
    del fits["kaplan"].params["E"]  # Kaplan's law has no floor
    lowest = frame["L"].min()
    fits["chinchilla"].params["E"] = ParamEstimate(1.2345, ci95=(1.1, 1.3))
    fits["chinchilla"].extra["identifiability"] = {"E": {"status": "identified"}}
    sure = explain_disagreement(frame, fits)[0]
    assert f"E = 1.23 (95% CI [1.10, 1.30]) is {1.2345 / lowest:.0%} of the lowest observed loss" in sure
    fits["chinchilla"].params["E"] = ParamEstimate(2.55, ci95=(0.0, 3.115))
    fits["chinchilla"].extra["identifiability"] = {"E": {"status": "not identified"}}
    unsure = explain_disagreement(frame, fits)[0]
    assert "E is not identified by these runs (95% CI [0, 3.1])" in unsure
    assert "2.55" not in unsure and "% of the lowest" not in unsure


def make_runs_frame():
    from scalefit.scaling.laws.runtable import validate_runs
    import tempfile
    from pathlib import Path
    with tempfile.TemporaryDirectory() as tmp:
        df = make_runs(Path(tmp) / "runs.csv")
    return validate_runs(df, "chinchilla").frame


def test_a_parameter_no_resample_moves_is_not_identified():
    """A zero-width interval from draws that never moved (the loss ignores the parameter) is not an
    estimate; a parameter whose draws do move keeps the width rule."""
    rng = np.random.default_rng(0)
    moving = 0.34 + 0.01 * rng.standard_normal(200)
    result = FitResult(law="chinchilla", n_points=20, objective=0.0, converged=True,
                       params={"alpha": ParamEstimate(0.34, ci95=tuple(np.percentile(moving, [2.5, 97.5]))),
                               "log_A": ParamEstimate(2e-9, ci95=(2e-9, 2e-9))},
                       draws={"alpha": moving, "log_A": np.full(200, 2e-9)})
    ident = identifiability(result)
    assert ident["alpha"]["status"] == "identified" and "inert" not in ident["alpha"]
    assert ident["log_A"]["status"] == NOT_IDENTIFIED and ident["log_A"]["inert"]
    assert "log_A (no resample moved it" in identifiability_warning(ident)
    # exact data: every resample returns the same optimum, which the fit's curvature does fix
    exact = FitResult(law="chinchilla", n_points=20, objective=0.0, converged=True,
                      params={"alpha": ParamEstimate(0.34, 1e-6, ci95=(0.34, 0.34))}, draws={"alpha": np.full(200, 0.34)})
    assert identifiability(exact)["alpha"]["status"] == "identified"


def test_printed_parameters_carry_the_digits_their_interval_supports():
    """Every parameter printout (loss to loss, schedule laws) uses the fit tables' rule: the place of
    the printed interval's ends, never fewer digits ([0.24, 0.97]: 0.64, not 0.6) nor more
    ([0.38, 0.53]: 0.42, not 0.4175), whatever the status."""
    from scalefit.scaling.laws.identifiability import judged
    assert judged(0.64167, (0.24229, 0.97072)) == ("0.64", "not identified")
    assert judged(11.02, (10.34, 16.42)) == ("11.0", "weakly identified")
    assert judged(0.41746, (0.3828, 0.5251)) == ("0.42", "")
    assert judged(1.97e-18, (0.0, 3.83)) == ("0", "not identified")  # a floor at its bound prints as 0
    assert judged(0.0, (0.0, 0.0)) == ("0", "")
    assert judged(0.5, (float("nan"), float("nan"))) == ("0.5", "")
    from scalefit.scaling.relations.report import downstream_text
    text = downstream_text({"relation": "shifted-power", "n_points": 21, "x": "a", "y": "b",
                            "params": {"kappa": {"value": 0.64167, "stderr": 0.021, "ci95": [0.24229, 0.97072]}}})
    assert "kappa        0.64  stderr" in text and text.rstrip().endswith("not identified")
    rough = downstream_text({"relation": "shifted-power", "n_points": 21, "x": "a", "y": "b", "params": {},
                             "bootstrap": {"n": 10}})
    assert "note: 10 bootstrap resamples: the 95% intervals above are rough" in rough
    on_bound = downstream_text({"relation": "sigmoid", "n_points": 9, "x": "a", "y": "b",
                                "warnings": ["parameter a is at its upper bound"],
                                "params": {"a": {"value": 1.0, "stderr": 0.48, "ci95": [1.0, 1.0]}}})
    assert "95% CI [1, 1]  at its upper bound\n" in on_bound
    from scalefit.scaling.laws.report import params_frame
    law_table = params_frame({"params": {"E": {"value": 0.0, "stderr": float("nan"), "ci95": [0.0, 0.0]}},
                              "identifiability": {"E": {"status": "identified"}},
                              "warnings": ["parameter E is at its lower bound"]})
    assert law_table["identified"].tolist() == ["at its lower bound"]
    rough = CliRunner().invoke(main, ["fit", "chinchilla", "--bootstrap", "10"])
    assert "note: 10 bootstrap resamples: the 95% intervals and the identified column are rough" in rough.stdout
    assert "bootstrap resamples" not in CliRunner().invoke(main, ["fit", "chinchilla", "--bootstrap", "100"]).stdout


def test_significant_digits_follow_identifiability():
    assert significant(0.76724, "identified") == "0.7672"
    assert significant(0.76724, "not identified") == "0.8"
    assert significant(float("nan"), None) == "-"


def test_column_mapping_on_fit_and_compare(tmp_path):
    data = tmp_path / "runs.csv"
    df = make_runs(data).rename(columns={"params": "Model Size", "tokens": "Tokens",
                                         "loss": "Final loss"})
    df.drop(columns=["flops"]).to_csv(data, index=False)
    base = ["--data", str(data), "--bootstrap", "0", "--json"]
    one = CliRunner().invoke(main, ["fit", "chinchilla", *base, "--columns",
                                    "params=Model Size,tokens=Tokens,loss=Final loss"])
    assert one.exit_code == 0, one.output
    flags = CliRunner().invoke(main, ["fit", "chinchilla", *base, "--params", "Model Size",
                                      "--tokens", "Tokens", "--loss", "Final loss"])
    assert json.loads(one.stdout)["params"] == json.loads(flags.stdout)["params"]
    cmp = CliRunner().invoke(main, ["compare", "kaplan", "chinchilla", *base, "--columns",
                                    "params=Model Size,tokens=Tokens,loss=Final loss"])
    assert cmp.exit_code == 0, cmp.output
    bare = tmp_path / "bare.csv"
    df.drop(columns=["flops", "params_nonembed"]).to_csv(bare, index=False)
    missing = CliRunner().invoke(main, ["fit", "chinchilla", "--data", str(bare),
                                        "--loss", "Final loss", "--tokens", "Tokens"])
    assert missing.exit_code == 2
    line = missing.output.strip()
    assert len(line.splitlines()) == 1
    assert "Model Size" in line and "--params COL or --columns params=COL" in line
    bad = CliRunner().invoke(main, ["fit", "chinchilla", "--data", str(data), "--columns",
                                    "params"])
    assert bad.exit_code == 2 and "KEY=COL" in bad.output


def test_budget_option_projects_where_asked(tmp_path):
    data = tmp_path / "runs.csv"
    make_runs(data)
    doc = json.loads(CliRunner().invoke(main, ["fit", "chinchilla", "--data", str(data),
                                               "--bootstrap", "0", "--json", "--budget",
                                               "1e25"]).stdout)
    (row,) = doc["allocation"]["budgets"]
    assert row["flops"] == 1e25 and row["kind"] == "projection" and row["times_largest_run"] > 1


def test_epoch_table_as_published(anchors):
    """Epoch's columns as they come ('Model Size', 'Training FLOP'), mapped on the command line."""
    path = anchors / "scaling" / "epoch_chinchilla_svg_extracted_data.csv"
    result = CliRunner().invoke(main, ["fit", "chinchilla", "--data", str(path), "--json",
                                       "--bootstrap", "0", "--columns",
                                       "params=Model Size,flops=Training FLOP"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["n_points"] == 245 and 0.3 < doc["params"]["alpha"]["value"] < 0.4
    # its runs reach 1.3e22 FLOPs: the published budgets within 1000x join the table
    assert {1e21, 5.76e23, 1e25} <= {b["flops"] for b in doc["allocation"]["budgets"]}


def test_loss_plot_maps_total_n_through_each_runs_ratio():
    from scalefit.scaling.laws.fit import fit_law
    from scalefit.scaling.laws.plots import _n_of_law
    from scalefit.scaling.laws.runtable import validate_runs
    runs = shipped_grid()
    kaplan = fit_law(validate_runs(runs, "kaplan"), "kaplan", n_bootstrap=0)
    to_law, note = _n_of_law(runs, kaplan)
    assert np.allclose(to_law(runs["params"].to_numpy(float)), runs["params_nonembed"],
                       rtol=1e-3)
    assert "own ratio" in note


def test_far_budget_is_warned(tmp_path):
    data = tmp_path / "runs.csv"
    make_runs(data)
    text = CliRunner().invoke(main, ["fit", "chinchilla", "--data", str(data), "--bootstrap",
                                     "0", "--budget", "1e30"]).stdout
    assert "projection" in text and "warning: budgets" in text and "no intervals" in text


def test_a_budget_below_the_smallest_run_is_not_an_interpolation(tmp_path):
    """3e11 FLOPs under a smallest run of 4e11 was labelled 'interpolation'."""
    assert kind_of(1e17, [], largest_fitted=1e19, smallest_fitted=1e18) == ("below the data", 0)
    assert kind_of(5e18, [], largest_fitted=1e19, smallest_fitted=1e18) == ("interpolation", 0)
    import json

    from click.testing import CliRunner
    from scalefit.cli import main
    from test_scaling_cli import make_runs
    data = tmp_path / "runs.csv"
    runs = make_runs(data)
    c_min = float(runs["flops"].min())
    result = CliRunner().invoke(main, ["fit", "chinchilla", "--data", str(data), "--bootstrap",
                                       "0", "--json", "--budget", f"{c_min / 3:g}",
                                       "--budget", f"{c_min * 3:g}", "--budget", f"{c_min * 10:g}"])
    assert result.exit_code == 0, result.output
    kinds = [b["kind"] for b in json.loads(result.stdout)["allocation"]["budgets"]]
    # at 3x the smallest run's compute N* (1.5e7) lies under the smallest model (2e7): not an interpolation
    assert kinds == ["below the data", "extrapolation", "interpolation"]


# --- the runs' scatter in a prediction interval (scaling/laws/scatter.py) --------------------

def test_scatter_slope_is_the_runs_own():
    """Residuals whose sd grows as N^0.3: the fitted slope and its standard error; without a
    size the draws are the one-scale draws, rng for rng."""
    from scalefit.scaling.laws.scatter import CONSTANT, SIZED, fit_scatter
    rng = np.random.default_rng(0)
    x = np.log(np.repeat(np.geomspace(1e7, 1e10, 8), 50))
    resid = 0.02 * np.exp(0.3 * (x - x.mean())) * rng.standard_normal(x.size)
    scatter = fit_scatter(resid, x, 5)
    assert scatter.model == SIZED
    assert abs(scatter.slope - 0.3) < 3 * scatter.slope_se
    assert scatter.slope_se == pytest.approx(np.sqrt(400 / 395 / (2 * np.sum((x - x.mean()) ** 2))))
    # the draw at the largest size is wider than at the smallest, by about exp(0.3 * 6.9)
    draws = scatter.draw(np.random.default_rng(1), (4000, 2), [x.min(), x.max()],
                         slope_rng=np.random.default_rng(2))
    assert 6 < np.std(draws[:, 1]) / np.std(draws[:, 0]) < 10
    one = fit_scatter(resid, None, 5)
    assert one.model == CONSTANT and one.reason == "the law reads no N"
    assert np.array_equal(one.draw(np.random.default_rng(3), (5, 2)),
                          np.broadcast_to(np.random.default_rng(3).choice(resid * np.sqrt(400 / 395),
                                                                          size=(5, 1)), (5, 2)))
    two_sizes = fit_scatter(resid[:100], x[:100], 5)
    assert two_sizes.model == CONSTANT and "fewer than 3 sizes" in two_sizes.reason


def test_runs_the_fit_passes_through_do_not_set_the_slope():
    """An L1-like Huber fit (delta far under the scatter) passes within delta of about p runs:
    those residuals are ~0 by construction, so the slope and its standard error count only the
    others. Roundoff residuals (a noiseless table) give a slope within SLOPE_LIMIT."""
    from scalefit.scaling.laws.scatter import SLOPE_LIMIT, fit_scatter
    rng = np.random.default_rng(4)
    x = np.log(np.repeat(np.geomspace(1e7, 1e9, 5), 4))
    resid = 0.02 * rng.standard_normal(x.size)
    resid[-4:] = [2e-4, -5e-4, 1e-4, 3e-4]  # the largest size: interpolated
    with_them = fit_scatter(resid, x, 5)
    without = fit_scatter(resid, x, 5, delta=1e-3)
    assert without.x.size == 15 and with_them.x.size == 20
    assert without.slope_se > with_them.slope_se
    assert without.x0 == with_them.x0 == pytest.approx(np.mean(x))  # the sizes' centre: all runs
    many_inside = fit_scatter(resid, x, 3, delta=1e-3)  # more than p within delta: all count
    assert many_inside.x.size == 20
    noiseless = fit_scatter(1e-13 * rng.standard_normal(x.size), x, 5, delta=1e-3)
    assert np.isfinite(noiseless.slope) and abs(noiseless.slope) <= SLOPE_LIMIT


def test_prediction_intervals_say_which_scatter_they_drew():
    """The interval's scatter is in its output and in a fit's allocation; an interval far
    above runs whose scatter grows with N is wider than with one scale."""
    from scalefit.scaling.laws import projection
    from scalefit.scaling.laws.fit import fit_law
    from scalefit.scaling.laws.forms import chinchilla
    from scalefit.scaling.laws.scatter import SIZED, law_scatter
    grid_n, tpp = np.meshgrid(np.geomspace(2e7, 3e9, 6), [5, 10, 20, 40, 80], indexing="ij")
    N, D = grid_n.ravel(), (grid_n * tpp).ravel()
    sd = 0.01 * (N / np.exp(np.mean(np.log(N)))) ** 0.5
    L = chinchilla(N, D, 1.8, 480.0, 2000.0, 0.35, 0.37) * np.exp(sd * np.random.default_rng(5).standard_normal(N.size))
    fit = fit_law(pd.DataFrame({"params": N, "tokens": D, "loss": L}), "chinchilla", n_bootstrap=50)
    pi = projection.prediction_intervals(fit, [3e10], [6e11])
    assert pi["pi95_scatter"]["model"] == SIZED and pi["pi95_scatter"]["slope_log_sd_per_log_N"] > 0.2
    assert fit.extra["allocation"]["pi95_scatter"]["model"] == SIZED
    one = law_scatter(fit, sized=False)
    original = projection.law_scatter
    try:
        projection.law_scatter = lambda result: one
        flat = projection.prediction_intervals(fit, [3e10], [6e11])
    finally:
        projection.law_scatter = original
    assert "pi95_scatter" in flat and flat["pi95_scatter"]["model"] != SIZED
    width = np.log(pi["pi95_hi"][0] / pi["pi95_lo"][0])
    assert width > 1.3 * np.log(flat["pi95_hi"][0] / flat["pi95_lo"][0])


def test_scatter_text_names_each_laws_model():
    from scalefit.scaling.laws.report import scatter_text
    from scalefit.scaling.laws.scatter import CONSTANT, SIZED
    text = scatter_text({"a": {"model": SIZED, "slope_log_sd_per_log_N": -0.8, "slope_se": 0.29},
                         "b": {"model": CONSTANT, "reason": "2 sizes"}, "c": None})
    assert text == ("a: the log sd grows -0.80 (se 0.29) per unit log N, taken at each budget's N*; "
                    "b: one scale at every size (2 sizes)")
    assert scatter_text({None: None}) is None


def test_a_scatter_trend_at_its_limit_falls_back_to_one_scale():
    """Residuals ~0 at every size but the largest have no finite maximum-likelihood slope (it
    rose to the bisection's limit, +2: sd ~ N^2, which widened a calibrate cut's intervals
    without bound); one scale is drawn instead, and the reason says why."""
    from scalefit.scaling.laws.scatter import CONSTANT, SIZED, fit_scatter
    x = np.log(np.repeat([1e6, 1e7, 1e8, 1e9], 3))
    resid = np.where(x > np.log(5e8), 0.01, 1e-9) * np.tile([1.0, -1.0, 0.5], 4)
    scatter = fit_scatter(resid, x, n_free=2)
    assert scatter.model == CONSTANT and "no finite trend" in scatter.reason
    rng = np.random.default_rng(0)
    assert fit_scatter(rng.normal(0, 0.01, 12) * np.exp(0.2 * (x - x.mean())), x,
                       n_free=2).model == SIZED


def test_a_budget_far_below_the_runs_is_refused_before_the_fit(tmp_path):
    """--budget 1 (a unit slip) printed N* = 0.1 parameter at '4.13e-14x the largest run'."""
    from scalefit.scaling.laws.fit import fit_law
    from test_scaling_cli import make_runs
    data = tmp_path / "runs.csv"
    c_min = float(make_runs(data)["flops"].min())
    for command in (["fit", "chinchilla"], ["compare", "kaplan", "chinchilla"]):
        result = CliRunner().invoke(main, [*command, "--data", str(data), "--bootstrap", "0",
                                           "--budget", "1"])
        assert result.exit_code == 2 and "Traceback" not in result.output, result.output
        assert "--budget 1:" in result.output and "smallest fitted run" in result.output
    # 1000x under the smallest run is still projected (below the data, labelled so)
    result = fit_law(data, "chinchilla", n_bootstrap=0, budgets=[c_min / 1000])
    assert result.extra["allocation"]["budgets"][0]["kind"] == "below the data"
    with pytest.raises(ValueError, match="no more than 1000x under"):
        fit_law(data, "chinchilla", n_bootstrap=0, budgets=[c_min / 2000])


def test_a_budget_given_twice_is_one_row_and_rows_follow_compute(tmp_path):
    """--budget 1e15 --budget 1e15 --budget 2.4e14 printed the 1e15 row twice, above 2.4e14."""
    from scalefit.scaling.laws.projection import checked_budgets
    assert checked_budgets([1e15, 1e15, 2.42366e14]) == [2.42366e14, 1e15]
    result = CliRunner().invoke(main, ["fit", "chinchilla", "--bootstrap", "0", "--json",
                                       "--budget", "1e15", "--budget", "1e15", "--budget", "2.4e14"])
    rows = json.loads(result.stdout)["allocation"]["budgets"]
    assert [r["flops"] for r in rows] == [2.4e14, 1e15]

"""The data-constrained law of Muennighoff et al. 2023 (scaling/laws/muennighoff.py): the law the
registry gained as one module plus one registry line. It reproduces the authors' own numbers,
reduces to Chinchilla without repetition, and a fit recovers R*_D and R*_N from noisy runs."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from scalefit.cli import main
from scalefit.scaling.laws import forms as law_forms
from scalefit.scaling.laws.compare import compare_laws
from scalefit.scaling.laws.fit import fit_law, predict
from scalefit.scaling.laws.muennighoff import compute_optimal_params, data_constrained
from scalefit.scaling.laws.registry import canonical_law, law_choices

# The authors' C4 fit (huggingface/datablations README, "Parametric Fit"), log-scale as printed.
PUBLISHED = dict(E=np.exp(0.6254804), A=np.exp(6.255414), B=np.exp(7.3049974),
                 alpha=0.3526596, beta=0.3526596, R_D_star=15.387756, R_N_star=5.309743)
CHIN = dict(E=1.8, A=480.0, B=2000.0, alpha=0.35, beta=0.37)


def repeated_runs(truth, sigma=0.003, seed=5):
    """4 unique-data sizes x 7 epoch counts (1..64) x 6 model sizes, with log-normal noise."""
    U, epochs, N = (g.ravel() for g in np.meshgrid(
        np.geomspace(1e8, 1e11, 4), [1, 2, 4, 8, 16, 32, 64], np.geomspace(1e7, 3e9, 6),
        indexing="ij"))
    D = U * epochs
    L = data_constrained(N, D, U, **truth)
    L = L * np.exp(np.random.default_rng(seed).normal(0, sigma, L.size))
    return pd.DataFrame({"model": [f"m{i}" for i in range(L.size)], "params": N, "tokens": D,
                         "unique_tokens": U, "loss": L})


def test_registered_under_its_name_and_alias():
    assert "muennighoff" in law_choices() and "data-constrained" in law_choices()
    assert canonical_law("Data-Constrained") == "muennighoff"


def test_formula_reproduces_the_authors_numbers():
    """The two models of their Figure 1 (right), as their README prints the loss."""
    assert data_constrained(6.34e9, 242e9, 25e9, **PUBLISHED) == pytest.approx(
        2.2256440889984477, rel=1e-12)
    assert data_constrained(8.67e9, 178e9, 25e9, **PUBLISHED) == pytest.approx(
        2.2269634075087867, rel=1e-12)


def test_no_repetition_is_chinchilla():
    """R_D = 0 (every token unique) and R_N = 0 (N at most compute-optimal for the data)."""
    D = np.geomspace(1e9, 1e13, 9)
    N = 0.5 * compute_optimal_params(D, CHIN["A"], CHIN["B"], CHIN["alpha"], CHIN["beta"])
    truth = dict(CHIN, R_D_star=3.0, R_N_star=2.0)
    chinchilla = law_forms.chinchilla(N, D, **CHIN)
    assert np.allclose(data_constrained(N, D, D, **truth), chinchilla, rtol=1e-12)
    # and with repetition, as R*_D and R*_N grow without bound
    far = dict(CHIN, R_D_star=1e9, R_N_star=1e9)
    assert np.allclose(data_constrained(4 * N, D, D / 8, **far),
                       law_forms.chinchilla(4 * N, D, **CHIN), rtol=1e-6)


def test_fit_without_repetition_agrees_with_chinchilla_fit():
    N, tpp = (g.ravel() for g in np.meshgrid(np.geomspace(1e7, 1e10, 8), [60, 100, 200, 400],
                                             indexing="ij"))
    D = N * tpp
    L = law_forms.chinchilla(N, D, **CHIN) * np.exp(np.random.default_rng(3).normal(0, .003, N.size))
    runs = pd.DataFrame({"params": N, "tokens": D, "unique_tokens": D, "loss": L})
    chin = fit_law(runs, "chinchilla", n_bootstrap=0).values()
    dc = fit_law(runs, "muennighoff", n_bootstrap=0).values()
    for name in ("E", "alpha", "beta"):
        assert dc[name] == pytest.approx(chin[name], rel=1e-3, abs=1e-4)
    for name in ("A", "B"):
        assert dc[name] == pytest.approx(chin[name], rel=1e-2)


@pytest.mark.parametrize("truth", [
    dict(E=1.87, A=520.0, B=1489.0, alpha=0.353, beta=0.353, R_D_star=15.4, R_N_star=5.3),
    dict(E=1.69, A=406.4, B=410.7, alpha=0.34, beta=0.28, R_D_star=6.0, R_N_star=25.0),
], ids=["muennighoff-c4", "hoffmann-exponents"])
def test_recovers_parameters_from_noisy_repeated_runs(truth):
    result = fit_law(repeated_runs(truth), "muennighoff", n_bootstrap=20, seed=1)
    v = result.values()
    assert result.law == "muennighoff" and result.converged and not result.warnings
    assert abs(v["E"] - truth["E"]) < 0.03
    assert abs(v["alpha"] - truth["alpha"]) < 0.01 and abs(v["beta"] - truth["beta"]) < 0.01
    assert abs(np.log(v["A"] / truth["A"])) < 0.2 and abs(np.log(v["B"] / truth["B"])) < 0.2
    assert abs(np.log(v["R_D_star"] / truth["R_D_star"])) < 0.1
    assert abs(np.log(v["R_N_star"] / truth["R_N_star"])) < 0.1
    assert all(np.isfinite(p.ci95).all() and p.ci95[0] < p.value < p.ci95[1]
               for p in result.params.values())
    a = truth["beta"] / (truth["alpha"] + truth["beta"])  # frontier: Chinchilla's, data unlimited
    assert abs(result.extra["allocation"]["a"] - a) < 0.02


def test_heldout_repeated_runs_beat_chinchilla():
    """Keep the largest-compute runs out: the law that discounts repeats predicts them better."""
    runs = repeated_runs(dict(CHIN, R_D_star=5.0, R_N_star=10.0))
    cmp = compare_laws(runs, ("chinchilla", "muennighoff"), holdout=0.2, n_bootstrap=0)
    err = {name: cmp.holdout[name]["mean_abs_rel_error"] for name in cmp.fits}
    assert err["muennighoff"] < 0.01 < err["chinchilla"]
    fit = cmp.fits["muennighoff"]
    repeated = predict(fit, runs["params"], runs["tokens"], U_D=runs["unique_tokens"])
    assert np.all(repeated >= predict(fit, runs["params"], runs["tokens"]) - 1e-12)


def test_cli_fit_and_missing_unique_tokens(tmp_path):
    path = tmp_path / "runs.csv"
    runs = repeated_runs(dict(CHIN, R_D_star=5.0, R_N_star=10.0))
    runs.to_csv(path, index=False)
    result = CliRunner().invoke(main, ["fit", "muennighoff", "--data", str(path), "--json",
                                       "--bootstrap", "0", "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["law"] == "muennighoff"
    assert set(doc["params"]) == {"E", "A", "B", "alpha", "beta", "R_D_star", "R_N_star"}
    assert (tmp_path / "out" / "residuals.png").exists()
    runs.drop(columns=["unique_tokens"]).to_csv(path, index=False)
    bad = CliRunner().invoke(main, ["fit", "muennighoff", "--data", str(path), "--bootstrap", "0"])
    assert bad.exit_code == 2 and "unique_tokens" in bad.stderr and str(path) in bad.stderr

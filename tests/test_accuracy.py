"""Loss-to-accuracy laws on generated data: the sigmoid and the exponential error law recover
their parameters, bootstrap intervals cover them, and the chained (N, D) prediction composes."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from scalefit.errors import InputError
from scalefit.scaling.laws import forms as law_forms
from scalefit.scaling.relations import forms as relation_forms
from scalefit.scaling.relations.accuracy import accuracy_with_ci, chained_accuracy, fit_accuracy
from scalefit.scaling.relations.downstream import run_downstream

SIGMOID = {"a": 0.55, "k": -2.5, "L0": 3.4, "b": 0.25}
EXPONENTIAL = {"eps": 0.86, "k": 2.2, "gamma": 0.71}


def test_sigmoid_recovery_with_bootstrap():
    rng = np.random.default_rng(0)
    L = np.linspace(2.0, 5.5, 80)
    acc = relation_forms.sigmoid_accuracy(L, **SIGMOID) + rng.normal(0, 0.004, L.size)
    res = fit_accuracy(L, acc, "sigmoid", n_bootstrap=200, seed=1)
    assert res.converged and not res.warnings
    for name, value in SIGMOID.items():
        assert res.value(name) == pytest.approx(value, rel=0.05), name
        lo, hi = res.params[name].ci95
        assert lo < value < hi, name
    at = accuracy_with_ci(res, 2.5)
    truth = float(relation_forms.sigmoid_accuracy(2.5, **SIGMOID))
    assert at["value"] == pytest.approx(truth, abs=0.005)
    assert at["ci95"][0] < truth < at["ci95"][1]


def test_sigmoid_for_an_error_rate_rising_with_loss():
    L = np.linspace(2.0, 5.5, 40)
    err = 1 - relation_forms.sigmoid_accuracy(L, **SIGMOID)  # k > 0 form
    res = fit_accuracy(L, err, "sigmoid", n_bootstrap=0)
    np.testing.assert_allclose(res.model_result.best_fit, err, atol=1e-4)
    assert res.value("k") > 0


def test_exponential_error_recovery():
    rng = np.random.default_rng(2)
    L = np.linspace(2.4, 6.0, 30)
    err = relation_forms.exponential_error(L, **EXPONENTIAL) + rng.normal(0, 0.002, L.size)
    res = fit_accuracy(L, err, "exponential-error", n_bootstrap=200)
    for name, value in EXPONENTIAL.items():
        assert res.value(name) == pytest.approx(value, rel=0.08), name
        lo, hi = res.params[name].ci95
        assert lo < value < hi, name


def test_chained_prediction_composes_law_and_accuracy():
    from scalefit.scaling.laws.fit import fit_law
    N, tpp = np.meshgrid(np.geomspace(3e7, 3e9, 6), [5, 20, 80], indexing="ij")
    N, D = N.ravel(), (N * tpp).ravel()
    chin = dict(E=1.7, A=400.0, B=1800.0, alpha=0.34, beta=0.36)
    L = law_forms.chinchilla(N, D, **chin)
    loss_fit = fit_law(pd.DataFrame({"params": N, "tokens": D, "loss": L}), "chinchilla",
                       n_bootstrap=0)
    acc_fit = fit_accuracy(L, relation_forms.sigmoid_accuracy(L, **SIGMOID), "sigmoid",
                           n_bootstrap=0)
    task_loss, acc = chained_accuracy(loss_fit, acc_fit, 7e9, 1.4e11)
    true_loss = law_forms.chinchilla(7e9, 1.4e11, **chin)
    assert float(task_loss) == pytest.approx(true_loss, rel=1e-3)
    assert float(acc) == pytest.approx(relation_forms.sigmoid_accuracy(true_loss, **SIGMOID), abs=2e-3)


def test_relation_accuracy_through_run_downstream():
    L = np.linspace(2.0, 5.5, 30)
    frame = pd.DataFrame({"loss": L, "acc": relation_forms.sigmoid_accuracy(L, **SIGMOID)})
    out = run_downstream(frame, "loss", "acc", relation="sigmoid", at_x=3.0,
                         n_bootstrap=20).to_dict()
    assert set(out["params"]) == {"a", "k", "L0", "b"}
    assert out["prediction"]["value"] == pytest.approx(
        float(relation_forms.sigmoid_accuracy(3.0, **SIGMOID)), abs=1e-3)


def test_bad_accuracy_input():
    with pytest.raises(InputError, match=r"sigmoid: point 1: 20 is not a fraction in \[0, 1\] "
                                         r"\(8 such values\); .*not a percentage"):
        fit_accuracy(np.arange(1, 9.0), np.linspace(20, 80, 8), "sigmoid")
    with pytest.raises(InputError, match="need at least 5"):
        fit_accuracy([1, 2, 3], [0.2, 0.3, 0.4], "sigmoid")
    with pytest.raises(InputError, match=r"^law: 'linear' is not one of sigmoid, exponential-error"):
        fit_accuracy([1, 2, 3], [0.2, 0.3, 0.4], "linear")


def test_exponential_error_fitted_to_an_accuracy_says_so():
    """--relation exponential-error with y an accuracy (e.g. piqa:acc of a long table) fitted an
    'error' that rises as the loss falls (k < 0) and said nothing."""
    rng = np.random.default_rng(0)
    L = np.linspace(2.0, 5.5, 40)
    err = relation_forms.exponential_error(L, **EXPONENTIAL) + rng.normal(0, 0.004, L.size)
    as_error = fit_accuracy(L, err, "exponential-error", n_bootstrap=0)
    assert as_error.value("k") > 0 and not any("k < 0" in w for w in as_error.warnings)
    as_accuracy = fit_accuracy(L, 1 - err, "exponential-error", n_bootstrap=0)
    assert as_accuracy.value("k") < 0
    assert any(w.startswith("k < 0") and "1 - accuracy" in w for w in as_accuracy.warnings)


def test_each_law_names_the_scale_it_is_fitted_on():
    """The exponential-error law is fitted to the error rate, but its result said 'least squares
    on the accuracy scale' (printed beside err = eps - k exp(-gamma L))."""
    L = np.linspace(2.0, 5.5, 20)
    err = relation_forms.exponential_error(L, **EXPONENTIAL)
    acc = relation_forms.sigmoid_accuracy(L, **SIGMOID)
    assert fit_accuracy(L, err, "exponential-error", n_bootstrap=0).extra["method"] == \
        "least squares on the error scale"
    assert fit_accuracy(L, acc, "sigmoid", n_bootstrap=0).extra["method"] == \
        "least squares on the accuracy scale"


def test_sigmoid_near_the_ceiling_says_when_its_asymptote_passes_100_percent():
    """acc = a / (1 + exp(-k (L - L0))) + b runs between b and a + b. Near 100% some binomial
    fits put a + b above 1 (bounding it by 1 made Pythia's held-out predictions worse, so it is
    left free): each such fit says so, a fit below 1 does not, and the curve's intervals and
    predictions stay within [0, 1]."""
    truth = {"a": 0.6, "k": -3.0, "L0": 3.0, "b": 0.38}
    L = np.linspace(2.6, 4.5, 25)
    above = 0
    for r in range(20):
        rng = np.random.default_rng(r)
        acc = rng.binomial(400, relation_forms.sigmoid_accuracy(L, **truth)) / 400
        res = fit_accuracy(L, acc, "sigmoid", n_bootstrap=30 if r in (3, 5) else 0, seed=r)
        v = res.values()
        assert 0 <= v["a"] <= 1 and 0 <= v["b"] <= 1, v
        passes = v["a"] + v["b"] > 1
        above += passes
        assert passes == any("upper asymptote passes 100%" in w for w in res.warnings), res.warnings
        if res.draws is not None:
            at = accuracy_with_ci(res, 1.0)
            assert 0 <= at["ci95"][0] <= at["ci95"][1] <= 1 and at["pi95"][1] <= 1, at
    assert 0 < above < 20

"""predict run reads each bootstrap draw's prediction once (projection.draw_predictions) for both
the curve's interval and the observed run's (prediction_intervals(drawn=)): it predicted every
draw, and the point, twice."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from scalefit.scaling.laws import projection
from scalefit.scaling.laws.fit import fit_law
from scalefit.scaling.laws.forms import chinchilla
from scalefit.scaling.laws.registry import law_for
from scalefit.scaling.laws.run_prediction import predict_run


@pytest.fixture(scope="module")
def fit():
    grid_n, tpp = np.meshgrid(np.geomspace(2e7, 3e9, 5), [5, 10, 20, 40], indexing="ij")
    N, D = grid_n.ravel(), (grid_n * tpp).ravel()
    L = chinchilla(N, D, 1.8, 480.0, 2000.0, 0.35, 0.37) * np.exp(
        0.01 * np.random.default_rng(3).standard_normal(N.size))
    return fit_law(pd.DataFrame({"params": N, "tokens": D, "loss": L}), "chinchilla", n_bootstrap=40)


def test_draw_predictions_are_the_laws_at_each_draw(fit):
    """The point is the law at the fitted values; each row the law at one draw's."""
    law = law_for(fit.law)
    n, d = np.array([3e10, 1e8]), np.array([6e11, 2e9])
    point, preds = projection.draw_predictions(fit, n, d)
    draws = projection._draw_values(fit)
    assert preds.shape == (len(draws), 2) and len(draws) > 30
    assert point.tolist() == law.predict(fit.values(), n, d, 6.0).tolist()
    assert preds[7].tolist() == law.predict(draws[7], n, d, 6.0).tolist()
    given = projection.prediction_intervals(fit, n, d, drawn=(point, preds))
    assert given == projection.prediction_intervals(fit, n, d)


def test_predict_run_predicts_each_draw_once(fit, monkeypatch):
    law = type(law_for(fit.law))
    calls = []
    original = law.predict

    def counted(self, values, N, D, *args, **kwargs):
        calls.append(1)
        return original(self, values, N, D, *args, **kwargs)

    monkeypatch.setattr(law, "predict", counted)
    frame = predict_run(fit, [3e10, 1e8], [6e11, 2e9])
    n_draws = frame.attrs["n_draws"]
    assert n_draws == len(projection._draw_values(fit)) > 30
    assert len(calls) == n_draws + 1  # the point and each draw, once
    assert np.isfinite(frame[["loss_ci95_lo", "loss_pi95_lo", "loss_pi95_hi"]].to_numpy()).all()

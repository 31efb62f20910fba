"""predict_curve scores its error from the later of twice the warmup's end and the first
checkpoint fitted, and says which (curve_fit.scored_from_step).

Audit A3 finding 5: `predict curve --model mini-3 --measured mini-3-W0.01` scored from step 22
(twice the measured run's warmup) though the fit starts at step 64; its max error, 13.9%, was
step 22's, where the note beside it says the law is extrapolated."""
from __future__ import annotations

import numpy as np
import pytest



@pytest.fixture(scope="module")
def fit(mini1_momentum_fit):
    """The momentum law fitted to mini-1's long run (its first checkpoint fitted: step 64)."""
    return mini1_momentum_fit


STEPS = [5, 10, 50, 100, 200, 1000]
MEASURED = [4.0, 5.0, 6.0, 6.0, 5.5, 4.5]  # the worst errors lie before the first step fitted


def test_no_step_before_the_first_checkpoint_fitted_is_scored(fit):
    """Warmup 2 (twice: step 4) and a fit from step 64: steps 5-50 are extrapolated, not
    scored; the mean and max are those of steps 100-1000, and to_dict says where scoring starts."""
    from scalefit import LRSchedule, predict_curve
    first = int(np.min(fit.components["curves"].step))
    assert first > 2 * 2
    prediction = predict_curve(fit, LRSchedule(0.004, 2, 2400), STEPS, measured=MEASURED)
    points = prediction.points
    assert points["scored"].tolist() == [s >= first for s in STEPS]
    rel = points["rel_error"].abs()
    later = rel[points["step"] >= first]
    assert rel.max() > later.max()  # the case the audit found: the max came from before the fit
    assert prediction.max_abs_rel_error == later.max()
    assert prediction.mean_abs_rel_error == later.mean()
    out = prediction.to_dict()
    assert out["scored_from"] == first and out["max_abs_rel_error"] == later.max()
    assert out["scored_from_why"] == "the first checkpoint fitted"
    assert f"from step {first}: the first checkpoint fitted" in repr(prediction)


def test_a_warmup_longer_than_the_fit_start_keeps_twice_its_end(fit):
    """Warmup 100: scoring starts at step 200, past the first checkpoint fitted."""
    from scalefit import LRSchedule, predict_curve
    prediction = predict_curve(fit, LRSchedule(0.004, 100, 2400), STEPS, measured=MEASURED)
    assert prediction.scored_from == 200 and prediction.scored_from_why == "twice the warmup's end"
    assert prediction.points["scored"].tolist() == [s >= 200 for s in STEPS]


def test_a_from_step_given_is_kept(fit):
    """from_step=0 scores every step, as asked, even those before the fit."""
    from scalefit import LRSchedule, predict_curve
    prediction = predict_curve(fit, LRSchedule(0.004, 2, 2400), STEPS, measured=MEASURED,
                               from_step=0)
    assert prediction.points["scored"].all() and prediction.scored_from == 0
    assert prediction.max_abs_rel_error == prediction.points["rel_error"].abs().max()

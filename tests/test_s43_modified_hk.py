"""The warmup regression's Hartung-Knapp interval is never narrower than the runs' own transition
intervals allow: with 3 runs (1 df) the weighted residual mean square can come out near 0 by
chance, and the interval with it (the shipped t_nu/attn_out onset slope was 0.87 [0.79, 0.95]
from runs whose onsets were known only to [54, 206], [68, 542] and [201, 223])."""
import numpy as np
import pandas as pd
import pytest
from scipy import stats

from scalefit.scaling.trajectories.transitions import hartung_knapp, warmup_regression

Z95 = stats.norm.ppf(0.975)


def fixed_effect_slope_var(x, se):
    """[(X'WX)^-1]_11 with W = 1 / se^2: the slope's variance the runs' intervals imply."""
    design = np.column_stack([np.ones(len(x)), x])
    return np.linalg.inv(design.T @ (design / np.square(se)[:, None]))[1, 1]


def test_three_transitions_on_a_line_get_the_fixed_effect_interval_not_zero_width():
    x, se = np.array([3.0, 45.0, 112.0]), np.array([38.0, 120.0, 5.6])
    y = 20.0 + 1.0 * x  # exactly on a line: the mean square is 0
    coef, cov, tau2 = hartung_knapp(x, y, se)
    assert tau2 == 0.0 and coef[1] == pytest.approx(1.0)
    half = stats.t.ppf(0.975, 1) * np.sqrt(cov[1, 1])
    assert half == pytest.approx(Z95 * np.sqrt(fixed_effect_slope_var(x, se)), rel=1e-9)
    assert half > 0.1


def test_a_mean_square_above_the_floor_is_hartung_knapp_unchanged():
    x, se = np.array([3.0, 11.0, 45.0, 112.0]), np.array([2.0, 3.0, 2.5, 4.0])
    y = np.array([23.0, 45.0, 50.0, 150.0])  # scatter far beyond the runs' intervals
    coef, cov, tau2 = hartung_knapp(x, y, se)
    design = np.column_stack([np.ones(4), x])
    w = 1.0 / (se ** 2 + tau2)
    inverse = np.linalg.pinv(design.T @ (w[:, None] * design))
    scale = np.sum(w * (y - design @ coef) ** 2) / 2
    assert scale > 1
    np.testing.assert_allclose(cov, inverse * scale, rtol=1e-12)


def test_the_shipped_three_run_onset_is_no_longer_read_as_partly_tied_to_warmup():
    """The shipped t_nu/attn_out onsets (steps 124, 162, 218 at warmup ends 3, 45, 112): nearly on
    a line by chance, so Hartung-Knapp alone gave a slope interval that excluded 1."""
    picked = pd.DataFrame({"model": ["W0.0025", "W0.04", "W0.1"], "warmup_end": [3.0, 45.0, 112.0],
                           "step": [124.0, 162.0, 218.0], "step_ci95_lo": [54.0, 68.0, 201.0],
                           "step_ci95_hi": [206.0, 542.0, 223.0]})
    fit = warmup_regression(picked)
    lo, hi = fit.params["slope"].ci95
    se = (picked["step_ci95_hi"] - picked["step_ci95_lo"]).to_numpy() / (2 * Z95)
    assert (hi - lo) / 2 >= Z95 * np.sqrt(fixed_effect_slope_var(picked["warmup_end"].to_numpy(), se)) * (1 - 1e-9)
    assert lo < 1.0 < hi
    assert fit.extra["verdict"].startswith("follows warmup")

"""The REML rho of the collapse report, bias-corrected (ar1.bias_corrector): REML on 44
checkpoints underestimates a high rho, so the AR(1) parameter intervals and the collapse F-test
taken at it are too narrow (bench/bench_trajectory_tests.py)."""
import numpy as np
import pandas as pd
import pytest

from scalefit.scaling.trajectories import ar1
from scalefit.scaling.trajectories import collapse, linearized
from scalefit.scaling.trajectories.segmented import hinge_design

STEPS = np.unique(np.r_[2.0 ** np.arange(10), np.arange(120, 1121, 30)])  # the long runs' 44
X = np.log10(STEPS)
KINK = np.log10(300.0)
MEAN = 1 + 0.1 * X + np.maximum(X - KINK, 0)


def test_corrected_rho_is_near_the_truth_where_reml_is_not():
    """400 series of a known segmented mean with AR(1) errors of rho 0.9, the breakpoint held at
    the truth: plain REML averages 0.81-0.84 (seeds 0-9 and this one, 11), corrected 0.85-0.88
    (the cap at 0.95 keeps the mean of so spread an estimate under 0.9)."""
    truth, tolerance = 0.9, 0.05
    rng = np.random.default_rng(11)
    y = MEAN[:, None] + ar1.stationary_series(truth, (len(X), 400), rng, 0.05)
    design = hinge_design(X, [KINK])
    reml = ar1.reml_rho(design, y)
    corrected = ar1.bias_corrector([design])(reml)
    assert abs(reml.mean() - truth) > tolerance
    assert abs(corrected.mean() - truth) < tolerance
    assert np.all(corrected >= reml - 1e-12) and np.all(corrected <= ar1.MAX_RHO)


def test_corrector_leaves_no_autocorrelation_alone_and_keeps_the_cap():
    correct = ar1.bias_corrector([hinge_design(X, [KINK])])
    assert correct(0.0) == 0.0
    assert correct(ar1.MAX_RHO) == pytest.approx(ar1.MAX_RHO)
    values = correct(ar1.RHO_GRID)
    assert np.all(np.diff(values) >= 0)  # monotone: a higher estimate never corrects lower


def test_collapse_report_takes_the_corrected_rho():
    rng = np.random.default_rng(3)
    rows = []
    for m in range(3):
        loss = 3.0 + 3.0 * STEPS ** -0.3 + ar1.stationary_series(0.9, (len(STEPS), 1), rng, 0.01)[:, 0]
        value = 0.5 + 0.8 * (loss - 2.5) ** 0.7 + ar1.stationary_series(0.9, (len(STEPS), 1), rng, 0.01)[:, 0]
        rows.append(pd.DataFrame({"model": f"m{m}", "step": STEPS, "loss": loss, "value": value}))
    report = collapse.collapse_report(pd.concat(rows, ignore_index=True))
    runs = [report["per_model"][f"m{m}"] for m in range(3)]
    designs = [linearized.jacobian(fit, frame["loss"].to_numpy()) for fit, frame in zip(runs, rows)]
    residuals = [np.asarray(fit.model_result.residual, dtype=float) for fit in runs]
    reml = ar1.pooled_reml_rho(designs, residuals)
    assert report["residual_autocorrelation"] == pytest.approx(ar1.bias_corrector(designs)(reml))
    assert report["residual_autocorrelation"] > reml

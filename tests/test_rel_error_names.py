"""One spelling of the mean |predicted / observed - 1| in every output: the held-out dicts, the
fit report's metrics and calibrate's tables said mean_abs_relative_error, holdout_mean_abs_rel_err,
median_abs_relative_error and (bench/calibration_table.py) median_abs_err beside the schedule
tables' mean_abs_rel_error."""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
OLD = re.compile(r"abs_relative_error|abs_rel_err\b|(mean|median|max)_abs_err\b")


def test_holdout_errors_and_metrics_use_abs_rel_error():
    from scalefit.scaling.holdout import holdout_errors
    from scalefit.scaling.laws.report import metrics_frame, metrics_text_frame
    from scalefit.scaling.outputs import column_meaning
    hold = holdout_errors([1.1, 0.9], [1.0, 1.0])
    assert {"mean_abs_rel_error", "max_abs_rel_error"} <= set(hold)
    assert np.isclose(hold["mean_abs_rel_error"], 0.1) and np.isclose(hold["max_abs_rel_error"], 0.1)
    fit = {"n_points": 5, "objective": 1e-4, "converged": True, "holdout": hold}
    assert np.isclose(metrics_frame({"kaplan": fit})["holdout_mean_abs_rel_error"].iloc[0], 0.1)
    assert metrics_text_frame({"kaplan": fit})["holdout_mean_abs_rel_error"].tolist() == ["10.00%"]
    assert column_meaning("holdout_mean_abs_rel_error").startswith("mean |predicted / observed - 1|")


def test_calibration_tables_use_abs_rel_error():
    from scalefit.scaling.laws.calibrate import cut_summary, summarize
    distance = np.array([1.5, 3.0])
    part = pd.DataFrame({"distance": distance, "inside": [True, False],
                         "relative_error": [0.02, -0.04], "interval_half_width": [0.05, 0.05]})
    result = summarize("chinchilla", "runs.csv", 20, 0, [part], [cut_summary(1e18, 1e18, 14, part)])
    assert np.isclose(result.cuts["median_abs_rel_error"].iloc[0], 0.03)
    assert {"median_abs_rel_error", "mean_abs_rel_error"} <= set(result.by_distance.columns)


def test_no_module_spells_the_old_names():
    old = [f"{path.relative_to(ROOT)}:{n}" for folder in ("scaling", "src", "evals", "weightstats",
                                                          "sweep", "trainer", "bench")
           for path in sorted((ROOT / folder).rglob("*.py"))
           for n, line in enumerate(path.read_text().splitlines(), 1) if OLD.search(line)]
    assert old == []

"""The change-point search as it was written before its speed-up (5c5fb2a, 9bbb274): every grid
combination fitted by its own lstsq, and the breakpoint polish by lmfit's Nelder-Mead. The tests
(test_segmented_batched_search) and bench/bench_transitions_speed.py hold the fast code to it."""
import itertools

import lmfit
import numpy as np

from scalefit.scaling.trajectories import ar1, segmented
from scalefit.scaling.trajectories.segmented import hinge_design


def lmfit_refinement(x, y, start, min_points, rho=0.0):
    """segmented.refine_breakpoints as it was written with lmfit."""
    params = lmfit.Parameters()
    lo, hi = float(np.min(x)), float(np.max(x))
    for j, t in enumerate(start):
        params.add(f"t{j}", value=float(t), min=lo, max=hi)
    yw = ar1.whiten(y, rho)

    def residual(p):
        breaks = np.array([p[f"t{j}"].value for j in range(len(start))])
        design = ar1.whiten(hinge_design(x, breaks), rho)
        coef, *_ = np.linalg.lstsq(design, yw, rcond=None)
        return yw - design @ coef

    try:
        out = lmfit.minimize(residual, params, method="nelder", options={"xatol": 1e-6, "fatol": 1e-12})
    except Exception:
        return np.asarray(start, dtype=float)
    breaks = np.array([out.params[f"t{j}"].value for j in range(len(start))])
    return breaks if segmented._valid(breaks, x, min_points) else np.asarray(start, dtype=float)


def one_by_one_grid_optimum(x, y, grid, k, min_points, rho):
    """segmented._grid_optimum as it was written: every valid combination fitted by lstsq in turn."""
    best_sse, best_breaks = np.inf, None
    for breaks in itertools.combinations(grid, k):
        if not segmented._valid(np.array(breaks), x, min_points):
            continue
        _, sse = segmented.lstsq(x, y, breaks, rho)
        if sse < best_sse:
            best_sse, best_breaks = sse, np.array(breaks)
    return best_sse, best_breaks

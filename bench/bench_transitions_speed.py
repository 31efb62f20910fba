"""Speed of `scalefit transitions` and `scalefit warmup-study` against the code they ran before
(682f9c2), side by side in one run, and a check that both give the same answers to the last bit.

The reference is kept here, flag-free: the change-point search as it was written (every grid
combination fitted by its own lstsq and checked for its segment counts in every call; each grid
optimum polished by lmfit.minimize(method="nelder")), and warmup-study's first pass that fitted
every run (detect_transitions with no bootstrap) to find the warmup family. Each timed piece runs
once with the reference swapped in, once as shipped; the outputs must be equal exactly (the
transitions study's --json text character for character, the warmup-study table by
DataFrame.equals).

Default subset (about 2 minutes on a 2-core VM): the transitions study of t_nu / attn_out over
the shipped mini suite's mini-3 runs (the warmup family, --bootstrap 200, --which first), and the
warmup-study rows of t_nu/attn_out and max_abs/embed_in. --full: the commands' own work, all 24
runs of `scalefit transitions --stat t_nu --group attn_out --which first` and the eleven panels
of `scalefit warmup-study` (about 15 minutes).

    OMP_NUM_THREADS=1 python bench/bench_transitions_speed.py
    OMP_NUM_THREADS=1 python bench/bench_transitions_speed.py --full
"""
from __future__ import annotations

import argparse
import contextlib
import itertools
import time

import lmfit
import numpy as np
import pandas as pd

from scalefit.data import MINI_CHECKPOINTS, data_path
from scalefit.report import dumps
from scalefit.scaling.trajectories import ar1, segmented, warmup_study
from scalefit.scaling.trajectories.segmented import (SegmentedFit, _candidate_breakpoints, _lstsq,
                                                     _valid, bic_ar1, hinge_design)
from scalefit.scaling.trajectories.table import stat_trajectory
from scalefit.scaling.trajectories.transitions import detect_transitions, transition_study


def reference_fit_at_rho(x, y, k, min_points, n_grid, rho):
    """segmented._fit_at_rho as it was: one lstsq per grid combination, then lmfit's polish."""
    n = len(x)
    if k == 0:
        coef, sse = _lstsq(x, y, [], rho)
        return SegmentedFit(np.array([]), coef, sse, n, bic_ar1(sse, n, 2, rho), rho)
    grid = _candidate_breakpoints(x, min_points, n_grid if k == 1 else max(12, n_grid // (2 * k)))
    if len(grid) < k:
        return None
    best_sse, best_breaks = np.inf, None
    for breaks in itertools.combinations(grid, k):
        if not _valid(np.array(breaks), x, min_points):
            continue
        _, sse = _lstsq(x, y, breaks, rho)
        if sse < best_sse:
            best_sse, best_breaks = sse, np.array(breaks)
    if best_breaks is None:
        return None
    breaks = reference_refine(x, y, best_breaks, min_points, rho)
    coef, sse = _lstsq(x, y, breaks, rho)
    if sse > best_sse:
        breaks, (coef, sse) = best_breaks, _lstsq(x, y, best_breaks, rho)
    return SegmentedFit(np.sort(breaks), coef, sse, n, bic_ar1(sse, n, 2 + 2 * k, rho), rho)


def reference_refine(x, y, start, min_points, rho=0.0):
    """segmented._refine_breakpoints as it was: lmfit's Nelder-Mead."""
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
    return breaks if _valid(breaks, x, min_points) else np.asarray(start, dtype=float)


@contextlib.contextmanager
def reference():
    """The code as it was, swapped in for the duration."""
    saved = (segmented._fit_at_rho, segmented._refine_breakpoints, warmup_study.run_schedules)
    segmented._fit_at_rho, segmented._refine_breakpoints = reference_fit_at_rho, reference_refine
    warmup_study.run_schedules = lambda traj: detect_transitions(traj, n_bootstrap=0)[1]
    try:
        yield
    finally:
        segmented._fit_at_rho, segmented._refine_breakpoints, warmup_study.run_schedules = saved


def timed(work):
    start = time.perf_counter()
    out = work()
    return time.perf_counter() - start, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--full", action="store_true", help="the commands' whole work (~15 min)")
    args = parser.parse_args()
    table = pd.read_parquet(data_path(*MINI_CHECKPOINTS))
    traj = stat_trajectory(table, "t_nu", group="attn_out")
    if not args.full:
        traj = traj[traj["model"].str.startswith("mini-3-W")]
    panels = warmup_study.PANELS if args.full else [("t_nu", "attn_out"), ("max_abs", "embed_in")]
    pieces = {
        f"transitions t_nu/attn_out, {traj['model'].nunique()} runs":
            lambda: dumps(transition_study(traj, which="first").to_dict()),  # what --json prints
        f"warmup-study, {len(panels)} panels": lambda: warmup_study.warmup_study(table, panels),
    }
    print(f"{'':42s} {'before':>9s} {'after':>9s} {'ratio':>7s}  same answers")
    for name, work in pieces.items():
        with reference():
            before, old = timed(work)
        after, new = timed(work)
        assert old == new if isinstance(old, str) else old.equals(new), f"{name}: the answers differ"
        print(f"{name:42s} {before:8.1f}s {after:8.1f}s {before / after:6.2f}x  yes (exact)")


if __name__ == "__main__":
    main()

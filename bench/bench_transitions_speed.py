"""Speed of `scalefit transitions` and `scalefit warmup-study` against the code they ran before
(682f9c2), side by side in one run, and a check that both give the same answers to the last bit.

The reference: the change-point search as it was written (tests/segmented_reference.py, which
the tests hold the fast code to as well: every grid combination fitted by its own lstsq and
checked for its segment counts in every call; each grid optimum polished by
lmfit.minimize(method="nelder")), and warmup-study's first pass that fitted
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
import sys
import time
from pathlib import Path

import pandas as pd

from scalefit.data import MINI_CHECKPOINTS, data_path
from scalefit.report import dumps
from scalefit.scaling.trajectories import segmented, warmup_study
from scalefit.scaling.trajectories.table import stat_trajectory
from scalefit.scaling.trajectories.transitions import detect_transitions, transition_study

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from segmented_reference import lmfit_refinement, one_by_one_grid_optimum  # noqa: E402


@contextlib.contextmanager
def reference():
    """The code as it was, swapped in for the duration: the one-by-one grid search, lmfit's
    polish (every polish, where the bootstrap now polishes a run's resamples side by side:
    segmented._refine_many), and warmup-study's pass that fitted every run to find its warmup
    families."""
    saved = (segmented._grid_optimum, segmented._refine_many, warmup_study.run_schedules)
    segmented._grid_optimum = one_by_one_grid_optimum
    segmented._refine_many = lambda x, ys, starts, min_points, rhos: [  # every polish lmfit's, one by one
        lmfit_refinement(x, y, start, min_points, rho) for y, start, rho in zip(ys, starts, rhos)]
    warmup_study.run_schedules = lambda traj: detect_transitions(traj, n_bootstrap=0)[1]
    try:
        yield
    finally:
        segmented._grid_optimum, segmented._refine_many, warmup_study.run_schedules = saved


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
        # jobs=1: in this process, where the reference is swapped in (bench_warmup_study.py times --jobs)
        f"warmup-study, {len(panels)} panels": lambda: warmup_study.warmup_study(table, panels, jobs=1),
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

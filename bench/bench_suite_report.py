"""Benchmark of `scalefit suite report`'s figures: the project's `save_figure` (each figure's PNG and
SVG laid out once, at the PNG's dpi, then one draw per file) against the writer it replaced,
savefig(bbox_inches="tight") per format (which lays out and draws the figure once more per file),
side by side in one run.

The suite is the shipped mini suite (data/suites/mini: 24 runs; the report draws loss against
compute and tokens and the weight-statistic trajectories of the long and warmup runs), copied to a
temporary folder so the shipped plots are not rewritten. The whole report (`write_plots`: tables,
checks, figure building, files) is timed, and within it the figure writer alone. Both ways write
the same files; the PNGs are compared pixel by pixel (size and largest channel difference).

Run:  OMP_NUM_THREADS=1 python bench/bench_suite_report.py [--repeats 2]
Times are process CPU seconds (the machine is shared; wall time is printed beside them).
"""
from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
import warnings
from pathlib import Path

os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def save_tight_per_format(fig, out_dir, stem: str) -> list[Path]:
    """The peer: save_figure as it was before, savefig(bbox_inches="tight") for each format."""
    import matplotlib.pyplot as plt

    from scalefit.report import FIGURE_DPI, readable_log_axes

    readable_log_axes(fig)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for ext in ("png", "svg"):
        path = out_dir / f"{stem}.{ext}"
        fig.savefig(path, dpi=FIGURE_DPI if ext == "png" else None, bbox_inches="tight")
        paths.append(path)
    plt.close(fig)
    return paths


def report_once(suite: Path, saver) -> tuple[float, float, float, int]:
    """(CPU s, wall s, CPU s in the figure writer, figures) of one suite report with `saver`."""
    from scalefit.trainer import report

    spent = []

    def timed(fig, out, stem):
        cpu = time.process_time()
        try:
            return saver(fig, out, stem)
        finally:
            spent.append(time.process_time() - cpu)

    kept = report.save_figure
    report.save_figure = timed
    try:
        cpu, wall = time.process_time(), time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            report.write_plots(suite)
        return time.process_time() - cpu, time.perf_counter() - wall, sum(spent), len(spent)
    finally:
        report.save_figure = kept


def compare_pngs(a: Path, b: Path) -> str:
    import matplotlib.image as mpimg
    import numpy as np

    lines = []
    for png in sorted(a.glob("*.png")):
        x, y = mpimg.imread(png), mpimg.imread(b / png.name)
        if x.shape != y.shape:
            lines.append(f"  {png.name}: sizes differ {x.shape[:2]} vs {y.shape[:2]}")
        else:
            diff = np.abs(x - y).max() * 255
            lines.append(f"  {png.name}: {x.shape[1]} x {x.shape[0]} px both, largest channel difference "
                         f"{diff:.0f}/255, {int((np.abs(x - y).max(axis=2) > 0).sum())} pixels differ")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    from scalefit.data import data_path
    from scalefit.report import save_figure

    shipped = Path(data_path("suites", "mini"))
    ways = {"tight per format (before)": save_tight_per_format, "save_figure (laid out once)": save_figure}
    times = {name: [] for name in ways}
    print(f"suite: {shipped} copied per run; load average {os.getloadavg()[0]:.1f}")
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.repeats):  # interleaved, so a change in the machine's load hits both
            for i, (name, saver) in enumerate(ways.items()):
                suite = Path(tmp) / f"way{i}" / str(r)
                shutil.copytree(shipped, suite, ignore=shutil.ignore_patterns("plots"))
                times[name].append(report_once(suite, saver))
        figures = times[name][0][3]
        for name, runs in times.items():
            print(f"{name:28s} whole report CPU {min(t[0] for t in runs):6.2f} s, figure writer CPU "
                  f"{min(t[2] for t in runs):6.2f} s (best of {len(runs)}; {figures} figures, PNG + SVG "
                  f"each), wall " + ", ".join(f"{t[1]:.2f}" for t in runs) + " s")
        (old, old_save), (new, new_save) = ((min(t[0] for t in runs), min(t[2] for t in runs))
                                            for runs in times.values())
        print(f"ratio before / save_figure: whole report {old / new:.2f}x CPU, figure writer "
              f"{old_save / new_save:.2f}x CPU; load average {os.getloadavg()[0]:.1f}")
        print("PNGs, before vs save_figure:")
        print(compare_pngs(Path(tmp) / "way0" / "0" / "plots", Path(tmp) / "way1" / "0" / "plots"))


if __name__ == "__main__":
    main()

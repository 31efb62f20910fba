"""Benchmark of the `scalefit weights` report's figures: each PNG and SVG laid out once
(`scalefit.report.save_figure`) against the way it was before (savefig with bbox_inches="tight"
per format, which lays out and draws each format a second time: `bench_suite_report.
save_tight_per_format`), side by side in one run.

The table is the shipped mini suite's weight-statistic rows (24 runs, 138 steps, 11 groups: the
statistic figures have one panel per group), reported with the default statistics; with
--checkpoint FOLDER the report also draws that checkpoint's MLP-in histogram. Both ways write
the same files; the PNGs are compared pixel by pixel (size and largest channel difference).

Run:  OMP_NUM_THREADS=1 python bench/bench_weights_report.py [--repeats 2] [--checkpoint FOLDER]
Times are process CPU seconds (the machine is shared; wall time is printed beside them).
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path
from types import SimpleNamespace

os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
sys.path.insert(0, str(Path(__file__).parent))  # bench_suite_report: the old writer (the peer), compare_pngs


def weight_rows():
    from scalefit.data import data_path
    from scalefit.tables import read_table

    table = read_table(data_path("suites", "mini", "checkpoints.parquet"))
    rows = table[table["stat"].notna()]
    return rows[["model", "step", "tensor", "group", "layer", "stat", "value", "label"]].reset_index(drop=True)


def report_once(table, out, checkpoints, saver):
    """(CPU s, wall s) of one write_weights_report with `saver` as its figure writer."""
    from scalefit.weightstats.cli import DEFAULT_STATS
    from scalefit.weightstats import report

    Path(out).mkdir(parents=True)
    kept = report.save_figure
    report.save_figure = saver
    try:
        cpu, wall = time.process_time(), time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            report.write_weights_report(table, out, stats=DEFAULT_STATS, checkpoints=checkpoints)
        return time.process_time() - cpu, time.perf_counter() - wall
    finally:
        report.save_figure = kept


def save_only(table, out, saver, stats):
    """CPU s of writing the statistic figures alone (each built beforehand, outside the clock)."""
    from scalefit.weightstats.plots import stat_vs_step_figure

    total = 0.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for stat in stats:
            fig = stat_vs_step_figure(table, stat)
            cpu = time.process_time()
            saver(fig, out, stat)
            total += time.process_time() - cpu
    return total


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--checkpoint", help="a checkpoint folder (safetensors) for the histogram figure")
    args = parser.parse_args()
    from bench_suite_report import compare_pngs, save_tight_per_format
    from scalefit.report import save_figure

    table = weight_rows()
    checkpoints = ([SimpleNamespace(path=args.checkpoint, model=Path(args.checkpoint).parent.name, step=0)]
                   if args.checkpoint else [])
    print(f"table: {len(table):,} rows, {table['model'].nunique()} models, {table['step'].nunique()} steps; "
          f"histogram: {'yes' if checkpoints else 'no'}; load average {os.getloadavg()[0]:.1f}")
    times = {"savefig tight per format (before)": [], "save_figure (once)": []}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.repeats):  # interleaved, so a change in the machine's load hits both
            for name, saver in (("savefig tight per format (before)", save_tight_per_format),
                                ("save_figure (once)", save_figure)):
                times[name].append(report_once(table, Path(tmp) / name[:9] / str(r), checkpoints, saver))
        for name, runs in times.items():
            cpu = min(c for c, _ in runs)
            print(f"{name:34s} CPU {cpu:6.2f} s (best of {len(runs)}), wall "
                  + ", ".join(f"{w:.2f}" for _, w in runs) + " s")
        old, new = (min(c for c, _ in runs) for runs in times.values())
        print(f"ratio before / save_figure: {old / new:.2f}x CPU; load average {os.getloadavg()[0]:.1f}")
        from scalefit.weightstats.cli import DEFAULT_STATS

        alone = {name: [] for name in times}
        for r in range(args.repeats):
            for name, saver in zip(times, (save_tight_per_format, save_figure)):
                alone[name].append(save_only(table, Path(tmp) / "alone" / name[:9], saver, DEFAULT_STATS))
        old, new = (min(v) for v in alone.values())
        print(f"writing the {len(DEFAULT_STATS)} statistic figures alone (PNG + SVG), CPU best of {args.repeats}: "
              f"before {old:.2f} s, save_figure {new:.2f} s, ratio {old / new:.2f}x")
        print("PNGs, before vs save_figure:")
        print(compare_pngs(Path(tmp) / "savefig t" / "0", Path(tmp) / "save_figu" / "0"))


if __name__ == "__main__":
    main()

"""Peak extra memory of the weights histogram's own moment pass (binned_fit._standardizing: the
mean and the two-pass std), before vs after, side by side in one run: a float64 copy of the whole
tensor for each sum (the code before 2026-12-07, copied below as `whole_tensor_standardizing`)
vs float64 copies of one cache-sized piece at a time (moments.float64_pieces).

One --log2-elements tensor (2^26 by default, 256 MB in float32) per fresh process and path. Peak
extra memory is that process's RSS high-water mark (VmHWM, reset once the tensor is made by
writing 5 to /proc/self/clear_refs; it sees torch's CPU tensors, which tracemalloc does not) less
its RSS at that moment; the largest single
CPU allocation comes from torch's profiler (profile_memory=True). Each path is measured on the
moment pass alone and on the whole histogram (moment pass, then the counting pass, which already
read 2^20-element float32 pieces). Also prints whether both give the same histogram.

Run:  OMP_NUM_THREADS=1 python bench/bench_histogram_memory.py [--log2-elements 26] [--dtype float32]
"""
from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

PATHS = {"before": "whole tensor in float64 (before)", "after": "one float64 piece at a time (after)"}


def _rss_mb() -> float:
    """This process's current resident memory in MB (/proc/self/statm)."""
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def _high_water_mb() -> float:
    """This process's RSS high-water mark in MB (VmHWM of /proc/self/status)."""
    line = next(l for l in Path("/proc/self/status").read_text().splitlines() if l.startswith("VmHWM:"))
    return int(line.split()[1]) / 1024


def whole_tensor_standardizing(f) -> tuple[float, float, float]:
    """binned_fit._standardizing's moment pass of one tensor as it was: mean, std, z_max, each sum
    over a float64 copy of the whole tensor."""
    import torch

    n = f.numel()
    mean = float(f.double().sum()) / n
    std = math.sqrt(float(f.to(torch.float64, copy=True).sub_(mean).pow_(2).sum()) / n)
    reach = max(abs(float(f.max()) - mean), abs(float(f.min()) - mean))
    return mean, std, reach / std


def child(path: str, what: str, log2: int, dtype: str) -> None:
    """One path in this (fresh) process; prints its peak above the tensor and a summary of the result."""
    import torch
    from torch.profiler import ProfilerActivity, profile

    from scalefit.weightstats.binned_fit import _standardizing, standardized_histogram

    torch.set_num_threads(1)
    standardized_histogram(torch.randn(1000))  # first-call allocations out of the way
    f = (torch.randn(1 << log2, generator=torch.Generator().manual_seed(0)) * 0.02).to(getattr(torch, dtype))
    moments = whole_tensor_standardizing if path == "before" else (lambda t: _standardizing(lambda: [t], "w"))

    def work():
        mean, std, z_max = moments(f)
        if what == "moments":
            return mean, std, None
        hist = standardized_histogram(f, mean=mean, std=std, z_max=z_max, name="w")
        return mean, std, hist

    base = _rss_mb()
    Path("/proc/self/clear_refs").write_text("5")  # the high-water mark restarts here, not at the
    mean, std, hist = work()                         # tensor's making (two float32 copies)
    peak = _high_water_mb() - base
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        work()
    largest = max((e.cpu_memory_usage for e in prof.events()), default=0) / 2**20
    counts = None if hist is None else hist.counts.tolist()
    print(json.dumps({"peak_mb": peak, "largest_mb": largest, "mean": mean, "std": std, "counts": counts}))


def run_child(path: str, what: str, args) -> dict:
    done = subprocess.run([sys.executable, __file__, "--child", path, what, "--log2-elements",
                           str(args.log2_elements), "--dtype", args.dtype],
                          capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--log2-elements", type=int, default=26)
    parser.add_argument("--dtype", default="float32", choices=("float32", "float16", "bfloat16"))
    parser.add_argument("--child", nargs=2, metavar=("PATH", "WHAT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child, args.log2_elements, args.dtype)
        return
    n = 1 << args.log2_elements
    print(f"one {args.dtype} tensor of 2^{args.log2_elements} = {n:,} elements; a fresh process per path, 1 thread")
    print(f"{'path':<38}{'what':<12}{'peak above tensor (MB)':>24}{'largest allocation (MB)':>25}")
    results = {}
    for what in ("moments", "histogram"):
        for path, label in PATHS.items():
            results[path, what] = r = run_child(path, what, args)
            print(f"{label:<38}{what:<12}{r['peak_mb']:>24.1f}{r['largest_mb']:>25.1f}")
        before, after = results["before", what], results["after", what]
        print(f"  {what}: peak before / after {before['peak_mb'] / max(after['peak_mb'], 0.1):.1f}x")
    before, after = results["before", "histogram"], results["after", "histogram"]
    ulps = abs(after["std"] - before["std"]) / math.ulp(before["std"])
    print(f"same mean: {after['mean'] == before['mean']}; same counts: {after['counts'] == before['counts']}; "
          f"std before {before['std']!r}, after {after['std']!r} ({ulps:.0f} ulp apart)")


if __name__ == "__main__":
    main()

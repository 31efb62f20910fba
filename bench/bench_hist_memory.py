"""Peak memory of the default weights histogram (`weights plot --checkpoint`, the sweep report's):
the group held as one list (measure.select_tensors, the path before 2026-12-07) vs read one tensor
at a time in three passes (report.histogram_tensors -> binned_fit.pooled_histogram), side by side
in one run, with the ratio; also the time, and whether both give the same histogram and fits.

A synthetic sharded safetensors folder: --tensors matrices of --mb MB (float32) named as GPT-NeoX's
mlp_in (gpt_neox.layers.N.mlp.dense_h_to_4h.weight), one shard each. Each path runs in its own
fresh process; its peak is that process's RSS high-water mark (resource.getrusage ru_maxrss: it sees
torch's CPU tensors, which tracemalloc does not), less its RSS after the imports.

Run:  OMP_NUM_THREADS=1 python bench/bench_hist_memory.py [--tensors 8] [--mb 64] [--repeat 2]
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

GROUP = "mlp_in"


def _rss_mb() -> float:
    """This process's current resident memory in MB (/proc/self/statm)."""
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def build_folder(folder: Path, tensors: int, mb: int) -> None:
    """`tensors` float32 matrices of `mb` MB each, one shard each, with the index naming them."""
    import torch
    from safetensors.torch import save_file

    rows = mb * 2**20 // 4 // 1024
    weight_map = {}
    for i in range(tensors):
        name, shard = f"gpt_neox.layers.{i}.mlp.dense_h_to_4h.weight", f"model-{i + 1:05d}-of-{tensors:05d}.safetensors"
        generator = torch.Generator().manual_seed(i)
        save_file({name: torch.randn(rows, 1024, generator=generator) * 0.02}, str(folder / shard))
        weight_map[name] = shard
    (folder / "model.safetensors.index.json").write_text(json.dumps({"metadata": {}, "weight_map": weight_map}))


def child(mode: str, folder: str) -> None:
    """One path in this (fresh) process; prints its peak above the imports, its time and a digest."""
    import torch

    from scalefit.weightstats.binned_fit import fit_families, standardized_histogram
    from scalefit.weightstats.measure import select_tensors

    if mode != "list":  # only here, so the list path also runs on the code before pooled_histogram
        from scalefit.weightstats.binned_fit import pooled_histogram
        from scalefit.weightstats.report import histogram_tensors
    torch.set_num_threads(1)
    base = _rss_mb()
    start = time.perf_counter()
    if mode == "list":  # the group as one list, as histogram_plot read it before
        hist = standardized_histogram([t for _, t in select_tensors(folder, GROUP)], name=GROUP)
    else:
        _, tensors = histogram_tensors(folder, GROUP)
        hist = pooled_histogram(tensors, name=GROUP)
    fits = fit_families(hist).to_dict()
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KB on Linux
    digest = hashlib.sha256(hist.counts.tobytes() + hist.edges.tobytes()
                            + json.dumps([hist.mean, hist.std, hist.n, hist.beyond, fits], sort_keys=True).encode())
    print(json.dumps({"peak_mb": peak - base, "seconds": seconds, "digest": digest.hexdigest()[:16], "n": hist.n}))


def run_child(mode: str, folder: Path) -> dict:
    done = subprocess.run([sys.executable, __file__, "--child", mode, str(folder)], capture_output=True, text=True,
                          check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tensors", type=int, default=8)
    parser.add_argument("--mb", type=int, default=64, help="MB per tensor (float32)")
    parser.add_argument("--repeat", type=int, default=2, help="runs of each path, alternating (min time, max peak)")
    parser.add_argument("--child", nargs=2, metavar=("MODE", "FOLDER"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    with tempfile.TemporaryDirectory(prefix="bench_hist_memory_") as tmp:
        folder = Path(tmp)
        build_folder(folder, args.tensors, args.mb)
        print(f"{args.tensors} x {args.mb} MB float32 tensors in group {GROUP} ({args.tensors * args.mb} MB); "
              f"{args.repeat} fresh processes per path, alternating")
        runs: dict[str, list[dict]] = {"list": [], "stream": []}
        for _ in range(args.repeat):
            for mode in runs:
                runs[mode].append(run_child(mode, folder))
    best = {mode: {"peak_mb": max(r["peak_mb"] for r in rs), "seconds": min(r["seconds"] for r in rs)}
            for mode, rs in runs.items()}
    print(f"{'path':<34}{'peak above imports (MB)':>25}{'time (s)':>10}")
    for mode, label in (("list", "list (select_tensors, before)"), ("stream", "one at a time (pooled_histogram)")):
        print(f"{label:<34}{best[mode]['peak_mb']:>25.0f}{best[mode]['seconds']:>10.2f}")
    print(f"peak ratio list / one at a time: {best['list']['peak_mb'] / best['stream']['peak_mb']:.2f}x; "
          f"time ratio one at a time / list: {best['stream']['seconds'] / best['list']['seconds']:.2f}x")
    digests = {r["digest"] for rs in runs.values() for r in rs}
    print(f"same histogram and fits (counts, edges, mean, std, n, tails, every family): {len(digests) == 1}")


if __name__ == "__main__":
    main()

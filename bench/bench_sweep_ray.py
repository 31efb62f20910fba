"""Ray executor against the serial sweep on the same grid: tasks per minute and overhead per checkpoint.

The grid is the tiny test suite (tests/tinysuite.py: 2 models x 5 steps, CPU), each checkpoint
measured for its loss on --max-tokens tokens. Measured here: the serial sweep (`--executor
local`, its second run in this process: the first pays imports), then the same sweep as Ray tasks on a local cluster of --workers CPUs, twice: cold (the
workers import torch and transformers on their first task) and warm (workers reused). The Ray
cluster's start-up is timed apart. Overhead per checkpoint = (Ray wall time x workers - serial
wall time) / checkpoints: the CPU seconds a checkpoint costs on Ray beyond its measurement.

    python bench/bench_sweep_ray.py --workers 2 --max-tokens 2000
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))


def sweep(out, suite, max_tokens, executor):
    from scalefit.evals.evaluate import EvalOptions, evaluate

    data = suite.parent / "data"
    opts = EvalOptions(suite=str(suite), out_dir=str(out), datasets=[f"val={data / 'val.txt'}"], device="cpu",
                       max_tokens=max_tokens, progress=False, executor=executor, threads=1)
    t0 = time.perf_counter()
    result = evaluate(opts)
    seconds = time.perf_counter() - t0
    assert result.ok, result.failures
    return seconds, len(result.summary.measured)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2, help="CPUs of the local Ray cluster")
    parser.add_argument("--max-tokens", type=int, default=2000, help="tokens scored per checkpoint")
    args = parser.parse_args()
    import ray
    import torch

    from tinysuite import cached_tiny_suite

    torch.set_num_threads(1)
    suite = cached_tiny_suite()
    root = Path(tempfile.mkdtemp(prefix="bench-sweep-ray-"))
    serial_cold, n = sweep(root / "serial-cold", suite, args.max_tokens, "local")  # imports, kernels
    serial, _ = sweep(root / "serial", suite, args.max_tokens, "local")
    t0 = time.perf_counter()
    ray.init(num_cpus=args.workers, include_dashboard=False, log_to_driver=False, configure_logging=False)
    start = time.perf_counter() - t0
    cold, _ = sweep(root / "cold", suite, args.max_tokens, "ray")
    warm, _ = sweep(root / "warm", suite, args.max_tokens, "ray")
    ray.shutdown()
    cpus = os.cpu_count()
    print(f"grid: {n} checkpoints (tiny suite), loss on {args.max_tokens} tokens each; machine: {cpus} CPUs, "
          f"Ray local cluster of {args.workers} CPUs, torch threads 1")
    print(f"Ray cluster start-up: {start:.1f} s (once per sweep without ADDRESS)")
    print(f"serial, first run : {serial_cold:6.1f} s (imports and first kernels; not the reference)")
    for name, seconds in (("serial (local)", serial), ("ray, cold workers", cold), ("ray, warm workers", warm)):
        overhead = "" if name.startswith("serial") else \
            f", overhead {(seconds * args.workers - serial) / n:+.2f} CPU s/checkpoint, {serial / seconds:.2f}x serial"
        print(f"{name:18s}: {seconds:6.1f} s, {60 * n / seconds:6.1f} tasks/min{overhead}")


if __name__ == "__main__":
    main()

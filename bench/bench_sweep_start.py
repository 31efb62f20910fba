"""A resumed sweep over a Pythia-sized folder with nothing left to measure, this checkout against an
earlier commit's code: its start, and the tables rebuilt at its end.

The folder is synthetic (built once, in a temporary folder): 16 models x 154 steps (Pythia's
steps), each checkpoint with its `loss:val` result file (the loss and bpb rows `scalefit eval
--dataset val=...` writes, with se, so nothing is outdated) and its weight fingerprint (with its
1,024-entry sample); the grid is hub checkpoints (nothing on this machine to stat). Timed in a
fresh Python per run, the peer's and this checkout's alternately, best of --repeats: the start,
what `sweep_checkpoints` does before it would measure (check_options, say_outdated, run_sweep
finding every checkpoint done), with how many Parquet footers it reads (pyarrow.parquet.read_schema
calls) and whether both plan the same work; then the rebuild (`_rebuild`: the tables, failures and
integrity flags from the parts, no report), with whether both write the same evals.parquet.

The peer is that commit's own code (default 1975a98, before each footer was read once):
`git worktree add --detach` checks it out into a temporary folder, and the run points the editable
install's package map (``__editable___scalefit_*_finder.MAPPING``) there. Same interpreter and
libraries. The worktree is removed at the end.

    OMP_NUM_THREADS=1 python bench/bench_sweep_start.py            # ~1 minute on 2 cores
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PEER = "1975a98"
MODELS = [f"pythia-{i:02d}" for i in range(16)]
STEPS = [0] + [2 ** i for i in range(10)] + list(range(1000, 143001, 1000))

# One timed resume (start, then rebuild) in a fresh Python, from the checkout at sys.argv[2] (the package map pointed
# there, as bench_warmup_study does), on the folder sys.argv[3]; prints one JSON line.
START = """
import json, sys, time
root, code, out = sys.argv[1:4]
finder = next(m for name, m in sys.modules.items() if name.startswith("__editable___scalefit"))
finder.MAPPING.update({k: v.replace(root, code, 1) for k, v in finder.MAPPING.items() if k != "scalefit.data"})
import pyarrow.parquet as pq
from scalefit.sweep import engine
assert engine.__file__.startswith(code), engine.__file__
sys.path.insert(0, root + "/bench")
from bench_sweep_start import grid_and_measurements
grid, measurements = grid_and_measurements()
reads = 0
read_schema = pq.read_schema
def counted(*args, **kwargs):
    global reads
    reads += 1
    return read_schema(*args, **kwargs)
pq.read_schema = counted
start, cpu = time.perf_counter(), time.process_time()
engine.check_options(measurements, out)
engine.say_outdated(grid, measurements, out)
summary = engine.run_sweep(grid, measurements, out, load=None, progress=False)
seconds, footers, cpu = time.perf_counter() - start, reads, time.process_time() - cpu
start, rebuild_cpu = time.perf_counter(), time.process_time()
result = engine._rebuild(out, None, summary, {}, False, "warn", None)
rebuild, rebuild_cpu = time.perf_counter() - start, time.process_time() - rebuild_cpu
import hashlib
tables = hashlib.sha256(b"".join(open(f, "rb").read() for f in sorted(map(str, result.files))
                                 if f.endswith(".csv"))).hexdigest()[:16]
print(json.dumps({"seconds": seconds, "reads": footers, "skipped": len(summary.skipped),
                  "measured": len(summary.measured), "rebuild": rebuild, "tables": tables, "cpu": cpu,
                  "rebuild_cpu": rebuild_cpu}))
"""


def grid_and_measurements():
    """The 2,464 hub checkpoints of the synthetic suite and its one measurement (`loss:val`)."""
    from scalefit.evals.evalset import SE_COLUMNS
    from scalefit.sweep.checkpoints import CheckpointInfo
    from scalefit.sweep.engine import Measurement

    grid = [CheckpointInfo(model=m, step=s, tokens=s * 2_097_152, lr=1e-4, params=10 ** 8, params_nonembed=10 ** 7,
                           repo=f"bench/{m}", revision=f"step{s}") for m in MODELS for s in STEPS]
    return grid, [Measurement("loss:val", None, table="evals", options={"--context": 2048}, columns=SE_COLUMNS)]


def build_folder(out: Path) -> int:
    """The sweep folder of every checkpoint measured: a result file and a fingerprint each, and
    measurements.json; the number of result files."""
    from scalefit.sweep.engine import check_options

    grid, measurements = grid_and_measurements()
    check_options(measurements, out)
    return write_finished(out, grid, measurements[0], n_tokens=10 ** 6, n_docs=500, context=2048,
                          n_tensors=100, n_bytes=10 ** 9, sample=True)


def write_finished(out: Path, grid, measurement, *, n_tokens: int, n_docs: int, context: int, n_tensors: int,
                   n_bytes: int, sample: bool) -> int:
    """Every checkpoint of `grid` measured in the sweep folder `out`, as `scalefit eval` writes it: a
    loss and bpb result with se, and a fingerprint (with a 1024-entry sample where `sample`; random
    values, seed 0). Also bench_eval_start's; returns the number of checkpoints."""
    import base64

    import numpy as np
    import pandas as pd

    from scalefit.sweep.parts import fingerprint_path, part_path

    rng = np.random.default_rng(0)
    for n, info in enumerate(grid):
        keys = {k: getattr(info, k) for k in ("model", "step", "tokens", "lr", "params", "params_nonembed")}
        path = part_path(out, info, measurement)
        path.parent.mkdir(parents=True, exist_ok=True)
        pd.DataFrame([{**keys, "dataset": "val", "task": None, "is_train": False, "n_tokens": n_tokens,
                       "n_docs": n_docs, "se_by": "documents", "context": context, "stride": context,
                       "metric": metric, "value": float(rng.uniform(2, 4)), "se": float(rng.uniform(0.001, 0.01))}
                      for metric in ("loss", "bpb")]).to_parquet(path, index=False)
        path = fingerprint_path(out, info)
        path.parent.mkdir(parents=True, exist_ok=True)
        drawn = base64.b64encode(rng.normal(size=1024).astype(np.float32).tobytes()).decode() if sample else ""
        pd.DataFrame([{**keys, "fingerprint": f"{n:032x}", "hash": "blake2b-128/tensors", "n_tensors": n_tensors,
                       "n_bytes": n_bytes, "sample": drawn}]).to_parquet(path, index=False)
    return len(grid)


def timed(code: str, out: Path) -> dict:
    done = subprocess.run([sys.executable, "-c", START, str(ROOT), code, str(out)], cwd=ROOT, check=True,
                          stdout=subprocess.PIPE, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--peer", default=PEER, help=f"the commit to compare with (default {PEER})")
    parser.add_argument("--repeats", type=int, default=3, help="runs of each, alternately (best is shown)")
    args = parser.parse_args()
    print(f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}, {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.1f} at the start")
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "sweep"
        files = build_folder(out)
        old = str(Path(folder) / "peer")
        subprocess.run(["git", "worktree", "add", "--detach", old, args.peer], cwd=ROOT, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        runs = {"peer": [], "new": []}
        try:
            for _ in range(args.repeats):
                runs["peer"].append(timed(old, out))
                runs["new"].append(timed(str(ROOT), out))
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", old], cwd=ROOT, check=True)
    best = {k: {m: min(r[m] for r in v) for m in ("seconds", "cpu", "rebuild", "rebuild_cpu")}
            for k, v in runs.items()}
    plans = {k: {(r["skipped"], r["measured"]) for r in v} for k, v in runs.items()}
    tables = {k: {r["tables"] for r in v} for k, v in runs.items()}
    print(f"{len(MODELS)} models x {len(STEPS)} steps = {files} result files (+ as many fingerprints), all done; "
          f"best of {args.repeats}, wall / CPU seconds")
    print(f"{'':16s} {'start':>13s} {'old/new':>13s} {'footers':>8s} {'plan':>5s} {'rebuild':>13s} {'old/new':>13s} "
          f"{'tables':>7s}")
    for name, label in (("peer", f"peer {args.peer}"), ("new", "this checkout")):
        b, p = best[name], best["peer"]
        ratio = {m: f"{p[m] / b[m]:.2f}x" for m in b}
        same = name == "peer" or (plans["peer"] == plans["new"], tables["peer"] == tables["new"])
        print(f"{label:16s} {b['seconds']:6.2f}/{b['cpu']:6.2f} "
              f"{(ratio['seconds'] + '/' + ratio['cpu']) if name == 'new' else '':>13s} {runs[name][0]['reads']:8d} "
              f"{'' if same is True else ('same' if same[0] else 'NO'):>5s} {b['rebuild']:6.2f}/{b['rebuild_cpu']:6.2f} "
              f"{(ratio['rebuild'] + '/' + ratio['rebuild_cpu']) if name == 'new' else '':>13s} "
              f"{'' if same is True else ('same' if same[1] else 'NO'):>7s}")
    print(f"every run planned (skipped, measured) = {sorted(plans['new'])}")
    print(f"load average {os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
    main()

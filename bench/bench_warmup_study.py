"""Speed of `scalefit warmup-study` as a researcher runs it (no arguments: the shipped mini suite's
eleven statistics, 200 resamples per run) against the code of an earlier commit, side by side in
one run, and whether the --json output is byte-identical.

The peer is that commit's own code (default 08093d4, the code before the polish's own
Nelder-Mead, the once-per-table trajectory reading and --jobs): `git worktree add --detach` checks
it out into a temporary folder, and the command runs in a fresh Python with the editable
install's package map (``__editable___scalefit_*_finder.MAPPING``) pointed at that folder for every
package but scalefit.data (the shipped tables, the same in both, so that --json names the same
--data path). Same interpreter, numpy, scipy and BLAS. Each command runs once, one after the
other: the peer, this checkout with --jobs 1 (serial), this checkout as shipped (--jobs: the CPU
count). The worktree is removed at the end.

    OMP_NUM_THREADS=1 python bench/bench_warmup_study.py                 # ~4-6 minutes on 2 cores
    OMP_NUM_THREADS=1 python bench/bench_warmup_study.py --quick         # 2 panels
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PEER = "08093d4"
# A fresh Python running `scalefit ARGS` from the checkout at OLD: the editable finder's map of
# package -> folder pointed there (all but scalefit.data), checked before the command runs.
AT_CHECKOUT = """
import sys
root, old = sys.argv.pop(1), sys.argv.pop(1)
finder = next(m for name, m in sys.modules.items() if name.startswith("__editable___scalefit"))
finder.MAPPING.update({k: v.replace(root, old, 1) for k, v in finder.MAPPING.items() if k != "scalefit.data"})
import scalefit.scaling.trajectories.segmented as segmented
assert segmented.__file__.startswith(old), segmented.__file__
from scalefit.cli import main
sys.argv[0] = "scalefit"
main()
"""


def timed(command: list[str]) -> tuple[float, bytes]:
    start = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                          check=True)
    return time.perf_counter() - start, done.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--peer", default=PEER, help=f"the commit to compare with (default {PEER})")
    parser.add_argument("--quick", action="store_true",
                        help="two panels (t_nu/attn_out, max_abs/embed_in), not the eleven")
    args = parser.parse_args()
    study = ["warmup-study", "--json"] + (
        ["--panel", "t_nu/attn_out", "--panel", "max_abs/embed_in"] if args.quick else [])
    print(f"scalefit {' '.join(study)}; OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}, "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at the start")
    with tempfile.TemporaryDirectory() as folder:
        old = str(Path(folder) / "peer")
        subprocess.run(["git", "worktree", "add", "--detach", old, args.peer], cwd=ROOT, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            before, want = timed([sys.executable, "-c", AT_CHECKOUT, str(ROOT), old, *study])
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", old], cwd=ROOT, check=True)
    runs = {"--jobs 1": timed([sys.executable, "-m", "scalefit", *study, "--jobs", "1"]),
            "as shipped (--jobs: CPU count)": timed([sys.executable, "-m", "scalefit", *study])}
    print(f"{'':34s} {'seconds':>8s} {'ratio':>7s}  --json byte-identical to the peer's")
    print(f"{'peer ' + args.peer:34s} {before:8.1f}")
    for name, (seconds, out) in runs.items():
        print(f"{name:34s} {seconds:8.1f} {before / seconds:6.2f}x  {'yes' if out == want else 'NO'}")
    print(f"load average {os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
    main()

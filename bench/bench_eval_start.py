"""`scalefit eval` start-up on a Pythia-sized local suite, this checkout against an earlier commit's
code: the start of a new sweep, and the resume of a finished one.

The suite is synthetic (built once, in a temporary folder): 16 models x 154 steps (Pythia's steps),
each checkpoint its own folder (`{model}/step{N}/`) holding a copy of the tiny suite's tokenizer and
configuration files (tests/tinysuite.py; with --tokenizer-mb, tokenizer.json padded with trailing
whitespace to that size: Pythia's is 2.1 MB) and a link to its weights. Two timings of
`scalefit.evals.evaluate.evaluate` (what `scalefit eval --suite SPEC --dataset val=... --device cpu`
runs), each in a fresh Python, the peer's and this checkout's alternately, best of --repeats:

- start: into an empty folder, until the first checkpoint would load (load_checkpoint stopped);
- resume: on a finished folder (every checkpoint's `loss:val` result with se, and its fingerprint),
  until the tables would be rebuilt (the sweep engine's `_rebuild` stopped; bench_sweep_start.py
  times that rebuild), with the plan (checkpoints skipped, measured); no digest store in it;
- second resume: the same again, with the digest store (evals.tokens.stored_digests) the resume
  before it left in the folder: this checkout's second start beside its first, and their ratio.

Each run also times `tokenizer_identities` (hashing each checkpoint's tokenizer files, and reading
and writing the store) and says whether all record the same options (measurements.json: the
tokenizer digests among them) and find the same tokenizer digests. Where evaluate.plan does not
open the store around its digests itself, the run opens it around `tokenizer_identities` (as the
change proposed for plan does) and says so.

The peer is that commit's own code (default 1975a98): `git worktree add --detach` checks it out into
a temporary folder, and the run points the editable install's package map there (as
bench_sweep_start.py does). Same interpreter and libraries. The worktree is removed at the end.

    OMP_NUM_THREADS=1 python bench/bench_eval_start.py            # ~3 minutes on 2 cores
    OMP_NUM_THREADS=1 python bench/bench_eval_start.py --tokenizer-mb 2.1 --repeats 2  # 5.2 GB of files
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from scalefit.evals.tokens import DIGEST_STORE

ROOT = Path(__file__).resolve().parents[1]
PEER = "1975a98"
MODELS = [f"m{i:02d}" for i in range(16)]
STEPS = [0] + [2 ** i for i in range(10)] + list(range(1000, 143001, 1000))
COPIED = ("config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json")

# One timed evaluate() in a fresh Python from the checkout sys.argv[2] (the package map pointed
# there), on the suite sys.argv[3] into the folder sys.argv[4], stopped where sys.argv[5] says
# (load: before the first checkpoint loads; rebuild: before the tables are rebuilt); one JSON line.
RUN = """
import hashlib, json, sys, time
root, code, suite, out, stop_at = sys.argv[1:6]
started = time.perf_counter()
finder = next(m for name, m in sys.modules.items() if name.startswith("__editable___scalefit"))
finder.MAPPING.update({k: v.replace(root, code, 1) for k, v in finder.MAPPING.items() if k != "scalefit.data"})
from scalefit.evals import evaluate as ev, tokens as tk
from scalefit.sweep import engine
import torch
assert ev.__file__.startswith(code), ev.__file__
imports = time.perf_counter() - started

class Stop(BaseException):
    pass

plan = {}
def stop_load(*args, **kwargs):
    raise Stop
def stop_rebuild(out_dir, tables, summary, *rest):
    plan.update(skipped=len(summary.skipped), measured=len(summary.measured))
    raise Stop
identities, stored = ev.tokenizer_identities, getattr(tk, "stored_digests", None)
tokenizers = {}
def timed_identities(grid):
    start, cpu = time.perf_counter(), time.process_time()
    if stored is not None and tk._STORE is None:  # plan does not open the store: as the proposed change would
        with stored(out):
            found = identities(grid)
        store = "opened by the bench"
    else:
        found = identities(grid)
        store = None if stored is None else "opened by evaluate.plan"
    tokenizers.update(seconds=time.perf_counter() - start, cpu=time.process_time() - cpu, n=len(grid), store=store,
                      digests=hashlib.sha256(json.dumps(found, sort_keys=True).encode()).hexdigest()[:16])
    return found
ev.tokenizer_identities = timed_identities
if stop_at == "load":
    ev.load_checkpoint = stop_load
else:
    engine._rebuild = stop_rebuild
opts = ev.EvalOptions(suite=suite, out_dir=out, datasets=["val=" + str(__import__("pathlib").Path(suite).parent /
                      "data" / "val.txt")], device="cpu", progress=False)
start, cpu = time.perf_counter(), time.process_time()
try:
    ev.evaluate(opts)
except Stop:
    pass
seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
recorded = open(out + "/measurements.json").read()
print(json.dumps({"seconds": seconds, "cpu": cpu, "imports": imports, "tokenizers": tokenizers["seconds"],
                  "tokenizers_cpu": tokenizers["cpu"], "plan": plan, "recorded": recorded,
                  "digests": tokenizers["digests"], "store": tokenizers["store"]}))
"""


def build_suite(root: Path, tokenizer_mb: float | None) -> Path:
    """The 2,464 checkpoint folders of the synthetic suite, its data and its spec; the spec's path."""
    sys.path.insert(0, str(ROOT / "tests"))
    from tinysuite import cached_tiny_suite

    tiny = cached_tiny_suite().parent
    source = tiny / "tiny-a" / "step8"
    tokenizer = (source / "tokenizer.json").read_bytes()
    if tokenizer_mb:  # trailing whitespace keeps it the same JSON
        tokenizer += b" " * max(0, int(tokenizer_mb * 1e6) - len(tokenizer))
    for model in MODELS:
        for step in STEPS:
            folder = root / model / f"step{step}"
            folder.mkdir(parents=True)
            for name in COPIED:
                shutil.copyfile(source / name, folder / name)
            (folder / "tokenizer.json").write_bytes(tokenizer)
            (folder / "model.safetensors").symlink_to(source / "model.safetensors")
    shutil.copytree(tiny / "data", root / "data")
    members = "\n".join(f'[[members]]\nname = "{m}"\nparams = 45536\nparams_nonembed = 12768\nlr_peak = 0.003\n'
                        for m in MODELS)
    spec = root / "suite.toml"
    spec.write_text(f'name = "pythia-sized"\ntokens_per_step = 512\ncontext_length = 64\nsteps = {STEPS}\n\n'
                    '[source]\nlocal = "."\n\n[schedule]\nwarmup_steps = 1430\ndecay_steps = 143000\n'
                    'final_ratio = 0.1\n\n' + members)
    return spec


def finish_folder(spec: Path, out: Path) -> int:
    """A sweep folder of the suite with every checkpoint measured (a `loss:val` result with se and a
    fingerprint each, as `scalefit eval` writes them); the number of checkpoints."""
    from bench_sweep_start import write_finished
    from scalefit.evals.evaluate import EvalOptions, plan
    from scalefit.sweep.engine import check_options

    _, grid, measurements, *_ = plan(EvalOptions(suite=str(spec), out_dir=str(out), device="cpu",
                                                 datasets=[f"val={spec.parent / 'data' / 'val.txt'}"]))
    check_options(measurements, out)
    return write_finished(out, grid, measurements[0], n_tokens=5629, n_docs=1, context=64, n_tensors=16,
                          n_bytes=182144, sample=False)


def timed(code: str, spec: Path, out: Path, stop_at: str) -> dict:
    done = subprocess.run([sys.executable, "-c", RUN, str(ROOT), code, str(spec), str(out), stop_at], cwd=ROOT,
                          check=True, stdout=subprocess.PIPE, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--peer", default=PEER, help=f"the commit to compare with (default {PEER})")
    parser.add_argument("--repeats", type=int, default=3, help="runs of each, alternately (best is shown)")
    parser.add_argument("--tokenizer-mb", type=float, help="pad each tokenizer.json to this size (Pythia's: 2.1)")
    args = parser.parse_args()
    print(f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}, {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.1f} at the start")
    cases = ("start", "resume", "resume2")
    runs = {(code, case): [] for code in ("peer", "new") for case in cases}
    with tempfile.TemporaryDirectory() as folder:
        spec = build_suite(Path(folder) / "suite", args.tokenizer_mb)
        done = Path(folder) / "done"
        n = finish_folder(spec, done)
        old = str(Path(folder) / "peer")
        subprocess.run(["git", "worktree", "add", "--detach", old, args.peer], cwd=ROOT, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            for i in range(args.repeats):
                for code, checkout in (("peer", old), ("new", str(ROOT))):
                    runs[code, "start"].append(timed(checkout, spec, Path(folder) / f"new-{code}-{i}", "load"))
                (done / DIGEST_STORE).unlink(missing_ok=True)  # the first resume finds no store, and leaves one
                for case in ("resume", "resume2"):
                    for code, checkout in (("peer", old), ("new", str(ROOT))):
                        runs[code, case].append(timed(checkout, spec, done, "rebuild"))
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", old], cwd=ROOT, check=True)
    size = args.tokenizer_mb
    print(f"{len(MODELS)} models x {len(STEPS)} steps = {n} checkpoint folders, tokenizer.json "
          f"{f'{size:.1f} MB' if size else 'of the tiny suite (22 kB)'} each; best of {args.repeats}, "
          "wall / CPU seconds")
    print(f"{'':16s} {'case':7s} {'evaluate()':>13s} {'old/new':>13s} {'tokenizers':>13s} {'old/new':>13s} "
          f"{'imports':>8s} {'same':>5s}")
    metrics = ("seconds", "cpu", "tokenizers", "tokenizers_cpu", "imports")
    best = {key: {m: min(r[m] for r in found) for m in metrics} for key, found in runs.items()}
    digests = {r["digests"] for found in runs.values() for r in found}
    for case in cases:
        recorded = {code: {r["recorded"] for r in runs[code, case]} for code in ("peer", "new")}
        plans = {code: {json.dumps(r["plan"]) for r in runs[code, case]} for code in ("peer", "new")}
        same = (recorded["peer"] == recorded["new"] and len(recorded["new"]) == 1 and plans["peer"] == plans["new"]
                and len(digests) == 1)
        for code, label in (("peer", f"peer {args.peer}"), ("new", "this checkout")):
            b, p = best[code, case], best["peer", case]
            ratio = (f"{p['seconds'] / b['seconds']:.2f}x/{p['cpu'] / b['cpu']:.2f}x",
                     f"{p['tokenizers'] / b['tokenizers']:.2f}x/{p['tokenizers_cpu'] / b['tokenizers_cpu']:.2f}x")
            print(f"{label:16s} {case:7s} {b['seconds']:6.2f}/{b['cpu']:6.2f} {ratio[0] if code == 'new' else '':>13s} "
                  f"{b['tokenizers']:6.2f}/{b['tokenizers_cpu']:6.2f} {ratio[1] if code == 'new' else '':>13s} "
                  f"{b['imports']:8.2f} {('yes' if same else 'NO') if code == 'new' else '':>5s}")
        if case != "start":
            print(f"the {case}'s plan (skipped, measured): {sorted(plans['new'])}")
    first, second = best["new", "resume"], best["new", "resume2"]
    print(f"this checkout, second resume (digest store present) beside the first: evaluate() "
          f"{first['seconds']:.2f} -> {second['seconds']:.2f} s wall ({first['seconds'] / second['seconds']:.2f}x), "
          f"{first['cpu']:.2f} -> {second['cpu']:.2f} s CPU ({first['cpu'] / second['cpu']:.2f}x); "
          f"tokenizer_identities {first['tokenizers']:.2f} -> {second['tokenizers']:.2f} s wall "
          f"({first['tokenizers'] / second['tokenizers']:.1f}x)")
    print(f"the digest store: {sorted({str(r['store']) for r in runs['new', 'resume2']})}")
    print("resume2: the resume again, with the digest store the first resume left (the peer reads none); "
          "same: all record the same options (measurements.json, the tokenizer digests among them), "
          "find the same tokenizer digests and, resuming, plan the same")
    print(f"load average {os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
    main()

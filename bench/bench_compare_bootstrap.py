"""Bootstrap refits of `scalefit compare kaplan chinchilla` on the shipped table: today's batched
refits vs the former one-resample-at-a-time path (``refit_reference``, scipy least_squares).

Both refit the same resamples (same seed) of Kaplan's L(N, D) and the Chinchilla form from the
same full-data optimum, BLAS at one thread, in one process. Prints each law's seconds (wall and
CPU: on a shared machine the wall time grows with the load, the CPU time of this one-thread
process does not), the ratio, whether 1000 resamples of both take under 3 s, and how far the two
paths' draws and 95% intervals are apart.

    python bench/bench_compare_bootstrap.py [--bootstrap 1000] [--seed 0]
"""
from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np

from scalefit.scaling.fitresult import percentile_ci
from scalefit.scaling.laws.bootstrap import bootstrap_law
from scalefit.scaling.laws.cli import _load
from scalefit.scaling.laws.fit import fit_law
from scalefit.scaling.laws.registry import law_for
from scalefit.scaling.laws.runtable import as_run_table

TARGET_S = 3.0


def timed_bootstrap(runs, law, n, seed, batched):
    result = fit_law(runs, law, n_bootstrap=0)
    model = law_for(law)
    table = as_run_table(runs, model.law_name)
    t0, c0 = time.perf_counter(), time.process_time()
    boot = bootstrap_law(model, result.model_result.params, table.variables(model.needs),
                         table.L, n_bootstrap=n, seed=seed, batched=batched)
    return (time.perf_counter() - t0, time.process_time() - c0), boot


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bootstrap", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    runs, source, _ = _load(None)
    print(f"{source}: {len(runs)} runs, {args.bootstrap} resamples per law, "
          f"{platform.processor() or platform.machine()}")
    totals = {"reference": np.zeros(2), "batched": np.zeros(2)}
    print(f"{'law':<12}{'reference s':>12}{'batched s':>11}{'ratio':>8}   "
          f"{'draws within 1e-6':>18}{'within 1e-3':>12}{'a CI rel. diff':>16}   (wall; CPU)")
    for law in ("kaplan", "chinchilla"):
        t_ref, ref = timed_bootstrap(runs, law, args.bootstrap, args.seed, batched=False)
        t_new, new = timed_bootstrap(runs, law, args.bootstrap, args.seed, batched=True)
        totals["reference"] += t_ref
        totals["batched"] += t_new
        cpu = f"   CPU {t_ref[1]:.2f} s vs {t_new[1]:.2f} s, {t_ref[1] / t_new[1]:.1f}x"
        rel = np.abs(new["a"] - ref["a"]) / np.abs(ref["a"])
        ci_new, ci_ref = np.array(percentile_ci(new["a"])), np.array(percentile_ci(ref["a"]))
        ci_rel = float(np.max(np.abs(ci_new - ci_ref) / np.abs(ci_ref)))
        print(f"{law:<12}{t_ref[0]:>12.2f}{t_new[0]:>11.2f}{t_ref[0] / t_new[0]:>7.1f}x   "
              f"{np.mean(rel <= 1e-6):>17.1%}{np.mean(rel <= 1e-3):>12.1%}{ci_rel:>16.1e}{cpu}")
        for name in ref["params"]:
            d = np.abs(new["params"][name] - ref["params"][name]) / np.abs(ref["params"][name])
            print(f"    {name:<8} per-resample rel. diff: median {np.nanmedian(d):.1e}, "
                  f"{np.sum(d > 1e-3)} of {d.size} over 1e-3; CI "
                  f"{percentile_ci(new['params'][name])} vs {percentile_ci(ref['params'][name])}")
        print(f"    failed refits: batched {new['n_failed']}, reference {ref['n_failed']}")
    ref, new = totals["reference"], totals["batched"]
    print(f"{'both':<12}{ref[0]:>12.2f}{new[0]:>11.2f}{ref[0] / new[0]:>7.1f}x   "
          f"CPU {ref[1]:.2f} s vs {new[1]:.2f} s, {ref[1] / new[1]:.1f}x")
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    for what, t in (("wall", new[0]), ("CPU", new[1])):
        met = "met" if t < TARGET_S else "NOT met"
        print(f"target: {args.bootstrap} resamples of both laws under {TARGET_S:.0f} s ({what}): "
              f"{met} ({t:.2f} s; load average {load:.1f} on {os.cpu_count()} cores)")


if __name__ == "__main__":
    main()

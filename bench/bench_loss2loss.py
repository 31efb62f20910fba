"""Loss-to-loss fit time on Brandfonbrener et al.'s full train-to-train table (sweep.csv).

Ours: scalefit's fit_loss_to_loss for all 30 ordered pairs of the 6 pre-training sets (per-dataset
Kaplan L(N,D)+E fits for E_x, E_y, then the relation), and 1000 bootstrap resamples of one pair
(closed form over all resamples at once; and the Huber method, one refit per resample).
Peer, side by side in the same process: the paper's notebook step (np.polyfit of log(y - E_y) on
log(x - E_x) per pair, and per bootstrap resample in a Python loop), and scipy's curve_fit of
L_y = K (L_x - E_x)^kappa + E_y with E fixed. BLAS at one thread.

    python bench/bench_loss2loss.py [--anchors ../shared/anchors] [--bootstrap 1000]

--kappa-coverage measures instead how often kappa's 95% interval holds the truth on synthetic runs
like the shipped mini suite's (`scalefit predict downstream --holdout 2`): the shipped table's
prose runs (their N, D grid, shipped_runs), prose loss from a Kaplan L(N,D)+E law (the shipped
prose fit's parameters), code test loss L_y = K (L_x - E_x)^kappa + E_y (K, kappa from the shipped
relation, E_y = 0.5: the shipped fit puts it at its bound 0), each with log-normal noise of the
shipped per-dataset Kaplan fits' rmse (log). Per replicate, on the same data and seed: the
interval scalefit ships (run_downstream: the bootstrap refits both Kaplan laws in every resample,
joint_bootstrap.bootstrap_with_e), and the one with E_x and E_y held at the per-dataset fits'
values (the same call with e_source="given": the pairs bootstrap of the relation alone, what the
tool once did). Prints both coverages ± one Monte Carlo SE, the paired difference and the median
widths.

    OMP_NUM_THREADS=1 python bench/bench_loss2loss.py --kappa-coverage --reps 200 [--bootstrap 200] [--e-y 0.5]

--refits times the per-dataset Kaplan L(N,D)+E refits of `scalefit predict downstream --holdout 2`
(the shipped mini suite, 1000 resamples): ours, `joint_bootstrap.KaplanRefits.many` (all resamples
in one batch, the few it leaves unconverged by scipy from its last iterate), against the peer,
scipy least_squares one resample at a time from the full-data fit (the reference optimum), on the
same resamples. Prints CPU seconds and their ratio, how many the batch left unconverged, and how
the two paths' optima compare (Huber objective and parameters, resample by resample).

    OMP_NUM_THREADS=1 python bench/bench_loss2loss.py --refits [--bootstrap 1000]
"""
from __future__ import annotations

import argparse
import itertools
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.optimize import curve_fit
from threadpoolctl import threadpool_limits

from scalefit.scaling.relations.loss2loss import fit_loss_to_loss, fit_shifted_power
from scalefit.scaling.relations.loss_pairs import pair_losses


def timed(func, repeat=1):
    """Best wall time of `repeat` calls, and the last result."""
    best, out = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = func()
        best = min(best, time.perf_counter() - t0)
    return best, out


E_Y_TRUE = 0.5  # the synthetic code loss's floor (the shipped fit's E_y sits at its bound 0)


def kappa_coverage(reps: int, n_bootstrap: int, seed: int = 500_000, e_y: float = E_Y_TRUE) -> None:
    """Coverage of kappa's 95% interval, E refitted per resample (shipped) vs E held fixed."""
    import warnings
    from scalefit.scaling.laws.forms import kaplan_nde
    from scalefit.scaling.relations.cli import default_runs_path
    from scalefit.scaling.relations.downstream import run_downstream, shipped_runs
    from scalefit.scaling.relations.forms import shifted_power_law
    from scalefit.tables import read_table

    warnings.simplefilter("ignore")
    table = shipped_runs(read_table(default_runs_path()))
    table = table[table["distribution"] == "prose"].reset_index(drop=True)
    call = dict(x_from="prose", group="distribution", holdout=2)
    shipped = run_downstream(table, "loss", "loss_code_test", n_bootstrap=0, **call).fit
    law = shipped.components["kaplan"]["x"].values()
    noise = {side: k.extra["rmse_log"] for side, k in shipped.components["kaplan"].items()}
    truth = {"K": shipped.value("K"), "kappa": shipped.value("kappa"), "E_x": law["E"],
             "E_y": e_y}
    N, D = table["params"].to_numpy(float), table["tokens"].to_numpy(float)
    x_true = kaplan_nde(N, D, **law)
    y_true = shifted_power_law(x_true, **truth)
    print(f"{len(table)} prose runs of the shipped table (N {N.min():.3g}-{N.max():.3g}, D "
          f"{D.min():.3g}-{D.max():.3g}), 2 held out; prose loss from Kaplan+E "
          + ", ".join(f"{k} {v:.4g}" for k, v in law.items())
          + "; code loss K (L_x - E_x)^kappa + E_y with " + ", ".join(f"{k} {v:.4g}" for k, v in truth.items())
          + f"; log-normal noise sd {noise['x']:.4f} (prose), {noise['y']:.4f} (code), the shipped "
          f"Kaplan fits' rmse (log); {reps} replicates, {n_bootstrap} resamples each")
    rows = []
    start = time.process_time()
    for r in range(reps):
        rng = np.random.default_rng(seed + r)
        frame = table.assign(loss=x_true * np.exp(rng.normal(0, noise["x"], len(table))),
                             loss_code_test=y_true * np.exp(rng.normal(0, noise["y"], len(table))))
        try:
            refit = run_downstream(frame, "loss", "loss_code_test", n_bootstrap=n_bootstrap,
                                   seed=r, **call).fit
            held = run_downstream(frame, "loss", "loss_code_test", e_source="given",
                                  E_x=refit.value("E_x"), E_y=refit.value("E_y"),
                                  n_bootstrap=n_bootstrap, seed=r, **call).fit
        except Exception as err:  # a replicate the pipeline refuses counts as a miss for both
            rows.append({"failed": type(err).__name__})
            continue
        row = {"failed": ""}
        for name, fit in (("refit", refit), ("held", held)):
            lo, hi = fit.params["kappa"].ci95
            row[name] = bool(lo <= truth["kappa"] <= hi)
            row[f"{name}_width"] = hi - lo
        row["E_y_at_bound"] = refit.value("E_y") <= 1e-9
        rows.append(row)
        if (r + 1) % 20 == 0:
            print(f"  {r + 1} replicates, {time.process_time() - start:.0f} CPU s", file=sys.stderr,
                  flush=True)
    out = pd.DataFrame(rows)
    ok = out[out["failed"] == ""]

    def share(hits):
        p = float(np.mean(hits))
        return f"{100 * p:.1f}% ± {100 * np.sqrt(p * (1 - p) / len(hits)):.1f}"

    d = ok["refit"].astype(float) - ok["held"].astype(float)
    print(f"replicates fitted: {len(ok)} of {len(out)} "
          f"({len(out) - len(ok)} refused); {time.process_time() - start:.0f} CPU s")
    print("| kappa's 95% interval | covers the true kappa | median width |")
    print("|---|---|---|")
    print(f"| E_x, E_y held at the per-dataset Kaplan fits' values (the tool before the refit) | "
          f"{share(ok['held'])} | {ok['held_width'].median():.3g} |")
    print(f"| E refitted in every resample (shipped, joint_bootstrap) | {share(ok['refit'])} | "
          f"{ok['refit_width'].median():.3g} |")
    print(f"paired, refit - held: {100 * d.mean():+.1f} ± {100 * d.std(ddof=1) / np.sqrt(len(d)):.1f} "
          f"points; fits with E_y at its bound 0: {100 * ok['E_y_at_bound'].mean():.0f}%")


def refit_speed(n_bootstrap: int) -> None:
    """predict downstream's Kaplan refits: the batch (ours) vs scipy one resample at a time."""
    import warnings
    from scalefit.scaling.laws.bootstrap import _huber_cost, batched_huber_refit
    from scalefit.scaling.relations import joint_bootstrap
    from scalefit.scaling.relations.cli import _load
    from scalefit.scaling.relations.downstream import run_downstream

    warnings.simplefilter("ignore")
    seen = []  # (refits, counts): the resamples the command's bootstrap hands each side
    many = joint_bootstrap.KaplanRefits.many

    def recording(self, counts):
        seen.append((self, np.asarray(counts, float)))
        return many(self, counts)

    joint_bootstrap.KaplanRefits.many = recording
    try:
        frame, _, x, y, group, x_from, y_from, _ = _load(None, "loss", "loss_code_test",
                                                         "train-to-test", None, None, None)
        run_downstream(frame, x, y, x_from=x_from, y_from=y_from, group=group, holdout=2,
                       n_bootstrap=n_bootstrap)
    finally:
        joint_bootstrap.KaplanRefits.many = many
    print(f"predict downstream --holdout 2: per-dataset Kaplan L(N,D)+E refits of {n_bootstrap} "
          "resamples per side, BLAS at one thread")
    print("| side | E of the full-data fit | batch left unconverged | ours CPU s | scipy one by one "
          "CPU s | ratio | optimum = scipy's (1e-9 rel.) | ours lower / higher | there, max |diff| "
          "per parameter |")
    print("|---|---|---|---|---|---|---|---|---|")
    for side, (refits, counts) in zip(("prose (x)", "code (y)"), seen):
        with np.errstate(all="ignore"):
            _, ok = batched_huber_refit(joint_bootstrap._log_kaplan_nde, refits.theta0,
                                        refits.bounds, {"logN": refits.logN, "logD": refits.logD},
                                        refits.log_loss, refits.delta, counts)
        c0 = time.process_time()
        ours = many(refits, counts)
        t_ours = time.process_time() - c0
        c0 = time.process_time()
        peer = np.array([refits.one(np.repeat(np.arange(counts.shape[1]), row.astype(int)))
                         for row in counts])
        t_peer = time.process_time() - c0

        def objective(thetas):
            cols = [thetas[:, j:j + 1] for j in range(thetas.shape[1])]
            r = joint_bootstrap._log_kaplan_nde(*cols, refits.logN, refits.logD) - refits.log_loss
            return _huber_cost(r, counts, refits.delta)

        rel = (objective(ours) - objective(peer)) / objective(peer)
        same = np.abs(rel) <= 1e-9
        diff = np.max(np.abs(ours[same] - peer[same]), axis=0)
        print(f"| {side} | {refits.theta0[0]:.3g} | {(~ok).sum()} of {ok.size} | {t_ours:.2f} | "
              f"{t_peer:.2f} | {t_peer / t_ours:.1f}x | {same.sum()} | {(rel < -1e-9).sum()} / "
              f"{(rel > 1e-9).sum()} (max {rel.max():+.1e}) | "
              + ", ".join(f"{n} {d:.1e}" for n, d in zip(refits.names, diff)) + " |")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--anchors", type=Path,
                    default=Path(__file__).resolve().parents[1].parent / "shared" / "anchors")
    ap.add_argument("--bootstrap", type=int, default=None,
                    help="resamples (default 1000; 200 per replicate with --kappa-coverage)")
    ap.add_argument("--kappa-coverage", action="store_true",
                    help="coverage of kappa's interval on synthetic runs with known truth, E "
                         "refitted per resample (shipped) vs held fixed")
    ap.add_argument("--reps", type=int, default=200, help="--kappa-coverage: replicates")
    ap.add_argument("--e-y", type=float, default=E_Y_TRUE,
                    help="--kappa-coverage: the true E_y (0.5; 0 is the shipped fit's, at its bound)")
    ap.add_argument("--refits", action="store_true",
                    help="predict downstream's Kaplan refits: the batch vs scipy one by one")
    args = ap.parse_args()
    if args.refits:
        with threadpool_limits(1):
            return refit_speed(args.bootstrap or 1000)
    if args.kappa_coverage:
        with threadpool_limits(1):
            return kappa_coverage(args.reps, args.bootstrap or 200, e_y=args.e_y)
    args.bootstrap = args.bootstrap or 1000
    sweep = pd.read_csv(args.anchors / "loss2loss" / "sweep.csv")
    datasets = sorted(sweep["data"].unique())
    pairs = {(a, b): pair_losses(sweep, "val_loss", "val_loss", "train-to-train", x_from=a,
                                 y_from=b, source="sweep.csv")
             for a, b in itertools.permutations(datasets, 2)}
    n_pairs = sum(len(lp.pairs) for lp in pairs.values())
    print(f"sweep.csv: {len(sweep)} runs, {len(datasets)} datasets, {len(pairs)} ordered "
          f"train-to-train pairs ({n_pairs} (x, y) points)")

    with threadpool_limits(1):
        # 1. the whole table: E from Kaplan fits + the relation, every ordered pair
        t_full, fits = timed(lambda: {k: fit_loss_to_loss(lp) for k, lp in pairs.items()})
        E = {}
        for (a, b), r in fits.items():
            E[a], E[b] = r.value("E_x"), r.value("E_y")

        # 2. the relation alone with E known: ours (lmfit) vs polyfit vs curve_fit
        def ours_relation():
            return [fit_shifted_power(lp.pairs["x"], lp.pairs["y"], E_x=E[a], E_y=E[b])
                    for (a, b), lp in pairs.items()]

        def peer_polyfit():
            return [np.polyfit(np.log(lp.pairs["x"] - E[a]), np.log(lp.pairs["y"] - E[b]), 1)
                    for (a, b), lp in pairs.items()]

        def peer_curve_fit():
            out = []
            for (a, b), lp in pairs.items():
                def law(x, K, kappa, ex=E[a], ey=E[b]):
                    return K * (x - ex) ** kappa + ey
                out.append(curve_fit(law, lp.pairs["x"], lp.pairs["y"], p0=(1.0, 1.0))[0])
            return out

        t_rel, rel = timed(ours_relation, 3)
        t_poly, poly = timed(peer_polyfit, 3)
        t_cf, _ = timed(peer_curve_fit, 3)
        worst = max(abs(r.value("kappa") - p[0]) for r, p in zip(rel, poly))

        # 3. 1000 bootstrap resamples of one pair (FineWeb-Edu -> StarCoder)
        key = ("fineweb-edu-100b", "starcoder")
        x = pairs[key].pairs["x"].to_numpy()
        y = pairs[key].pairs["y"].to_numpy()
        ex, ey, n = E[key[0]], E[key[1]], args.bootstrap
        t_boot, boot = timed(lambda: fit_shifted_power(x, y, E_x=ex, E_y=ey, n_bootstrap=n))
        t_hub, _ = timed(lambda: fit_shifted_power(x, y, E_x=ex, E_y=ey, method="huber",
                                                   n_bootstrap=n))

        def peer_boot():
            rng = np.random.default_rng(0)
            u, v = np.log(x - ex), np.log(y - ey)
            out = np.empty(n)
            for i in range(n):
                idx = rng.integers(0, len(x), len(x))
                out[i] = np.polyfit(u[idx], v[idx], 1)[0]
            return out

        t_peer_boot, peer_kappa = timed(peer_boot)

    print(f"\n[1] full train-to-train table, E from per-dataset Kaplan fits + relation, "
          f"{len(pairs)} pairs: {t_full:.2f} s ({1000 * t_full / len(pairs):.0f} ms/pair)")
    print(f"[2] relation alone, E known, {len(pairs)} pairs (best of 3):")
    print(f"    scalefit fit_shifted_power (lmfit, stderr): {1000 * t_rel:.1f} ms")
    print(f"    peer np.polyfit (the paper's notebooks):     {1000 * t_poly:.1f} ms   "
          f"ratio scalefit/peer {t_rel / t_poly:.1f}x; max |kappa diff| {worst:.1e}")
    print(f"    peer scipy curve_fit (E fixed):              {1000 * t_cf:.1f} ms   "
          f"ratio scalefit/peer {t_rel / t_cf:.2f}x")
    lo, hi = boot.params["kappa"].ci95
    plo, phi = np.percentile(peer_kappa, [2.5, 97.5])
    print(f"[3] {n} bootstrap resamples, {key[0]} -> {key[1]} ({len(x)} pairs):")
    print(f"    scalefit closed form, all resamples at once: {1000 * t_boot:.1f} ms  "
          f"kappa 95% CI [{lo:.4f}, {hi:.4f}]")
    print(f"    scalefit Huber, one refit per resample:      {1000 * t_hub:.1f} ms")
    print(f"    peer np.polyfit loop:                        {1000 * t_peer_boot:.1f} ms  "
          f"kappa 95% CI [{plo:.4f}, {phi:.4f}]   ratio peer/scalefit "
          f"{t_peer_boot / t_boot:.1f}x")


if __name__ == "__main__":
    main()

"""Coverage of the warmup regression's slope interval on synthetic warmup families with known truth.

A family is four runs that differ only in warmup (warmup ends 3, 11, 45, 112 of 1120 steps, as the
shipped mini-3 warmup family; --warmups sets them), each with the 74 checkpoints of the shipped
warmup runs (steps 1-1120 of data/suites/mini/checkpoints.parquet's mini-3-W0.01). A statistic with one kink in
log10(step) at step a + 1.0 * warmup_end (a = 20, so the true slope of transition step on warmup
end is 1): value = 1 + 0.1 log10(step) + dslope * max(log10(step) - log10(kink), 0) plus AR(1)
noise (sd 0.05) of coefficient rho, as bench/bench_transition_intervals.py's runs. Cells: a clear
kink (slope change 1.0) and a weak one (0.6), at rho 0.5 and 0.9.

Each family goes through the shipped pipeline: transitions.detect_transitions (local-strong
breakpoint intervals, --bootstrap resamples) -> pick_transition_per_run(which="first") ->
warmup_regression, whose slope interval is the t-interval of OLS on n - 2 degrees of freedom.
Printed per cell: the share of families whose 95% slope interval holds 1 (± one Monte Carlo SE,
sqrt(p (1 - p) / n)), its median width, and the share of families where no regression is possible
(fewer than 3 runs with a transition).

Beside it, measured on the same families and not shipped: slope intervals that use what each run
already knows, each transition's own step uncertainty (se_i = (step_ci95_hi - step_ci95_lo) /
3.92 from the transitions table), in a weighted meta-regression with weights 1 / (se_i^2 + tau^2)
and tau^2 the between-run scatter beyond the se_i:
- fe-z: tau^2 = 0, normal quantile (the runs' intervals taken at their word);
- wls-t: tau^2 = 0, the weights relative only: weighted least squares with its residual mean
  square as the scale and t on n - 2 df (the t-interval with each run weighted by its se_i);
- dl-t: DerSimonian-Laird tau^2 (method of moments), t quantile on n - 2 df;
- hk: DerSimonian-Laird tau^2, Hartung-Knapp(-Sidik-Jonkman) variance (the weighted residual
  mean square times the model variance) and t on n - 2 df;
- hk-mod: hk with the mean square floored at 1 (never narrower than dl-t): the modified ("ad hoc")
  Hartung-Knapp of Knapp & Hartung 2003 (Roever, Knapp & Friede 2015);
- hk-z: hk never narrower than dl-z, the DerSimonian-Laird interval with the normal quantile (the
  mean square floored at (z_0.975 / t_0.975(n - 2))^2: 0.024 on 1 df, 0.21 on 2; Jackson et al. 2017).
"installed": the interval the installed warmup_regression returns (the OLS t-interval until
2026-12-06, hk until 2026-12-07, hk-z since). And the peer warmup_regression's docstring names (not shipped: it covered 78%): pairs-boot, the
percentile interval of 1000 pairs-bootstrap resamples of the runs (resamples with fewer than two
distinct warmup ends dropped).
"paired" is the variant's coverage minus the t-interval's over the same families (± its SE).
Below the table, hk beside hk-mod by the number of runs with a transition (3 or 4: a 3-run family
has 1 df, where hk's scale can fall far below 1 by chance): coverage ± SE, median width, the
share of families where hk's scale is under 1 (its interval narrower than the runs' own intervals,
read with DerSimonian-Laird weights, allow) and hk-mod minus hk paired. --warmups 3,45,112 makes
3-run families outright (the shipped t_nu/attn_out onset row's runs).

    OMP_NUM_THREADS=1 python bench/bench_warmup_regression.py            # --runs 25 per cell, ~9 min
    OMP_NUM_THREADS=1 python bench/bench_warmup_regression.py --runs 80 --save picks.csv
    OMP_NUM_THREADS=1 python bench/bench_warmup_regression.py --warmups 3,45,112   # 3-run families
    python bench/bench_warmup_regression.py --runs 80 --load picks.csv   # the table again, from the picks
"""
from __future__ import annotations

import argparse
import sys
import time
import warnings

import numpy as np
import pandas as pd
from scipy import stats

from scalefit.errors import InputError
from scalefit.scaling.trajectories import ar1
from scalefit.scaling.trajectories.transitions import (detect_transitions, pick_transition_per_run,
                                                       warmup_regression)

# the 73 checkpoints after step 0 of the shipped warmup runs (mini-3-W0.01; the same in every W)
STEPS = np.array([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 18, 21, 22, 26, 31, 32,
                  33, 37, 38, 44, 45, 46, 52, 56, 58, 63, 68, 75, 78, 90, 95, 108, 111, 112, 113,
                  129, 135, 146, 155, 168, 185, 222, 224, 265, 280, 318, 336, 380, 392, 448, 455,
                  504, 545, 560, 616, 653, 672, 728, 781, 784, 840, 896, 935, 952, 1008, 1064,
                  1120], dtype=float)
X = np.log10(STEPS)
WARMUPS = (3, 11, 45, 112)
TOTAL_STEPS = 1120
OFFSET = 20.0          # a: the kink sits at step a + 1.0 * warmup_end
TRUE_SLOPE = 1.0
NOISE = 0.05
# name -> (slope change at the kink, rho)
# (a slope change of 0.4, bench_transition_intervals' weak kink, was found in under half of these
# runs and left 0-17% of families with the 3 transitions a regression needs: 0.6 is the weak one)
CELLS = {"clear_rho0.5": (1.0, 0.5), "clear_rho0.9": (1.0, 0.9),
         "weak_rho0.5": (0.6, 0.5), "weak_rho0.9": (0.6, 0.9)}
VARIANTS = ("fe-z", "wls-t", "dl-t", "hk", "hk-mod", "hk-z", "pairs-boot", "installed")


def family(cell: str, f: int) -> pd.DataFrame:
    """Family f of a cell: four runs' trajectories (model, step, value, warmup_steps, total_steps)."""
    dslope, rho = CELLS[cell]
    rng = np.random.default_rng([list(CELLS).index(cell), f, 2026])
    rows = []
    for w in WARMUPS:
        kink = np.log10(OFFSET + TRUE_SLOPE * w)
        y = 1 + 0.1 * X + dslope * np.maximum(X - kink, 0) + ar1.stationary_series(
            rho, (len(X), 1), rng, NOISE)[:, 0]
        rows.append(pd.DataFrame({"model": f"W{w}", "step": STEPS, "value": y, "warmup_steps": w,
                                  "total_steps": TOTAL_STEPS}))
    return pd.concat(rows, ignore_index=True)


def meta_regression(x, y, se, variant: str) -> tuple[float, float, float]:
    """(slope, lo, hi): weighted regression of y on x with weights 1 / (se^2 + tau^2)."""
    x, y, v = (np.asarray(a, dtype=float) for a in (x, y, np.square(se)))
    k = len(y)
    design = np.column_stack([np.ones(k), x])

    def wls(w):
        xtwx_inv = np.linalg.inv(design.T @ (w[:, None] * design))
        coef = xtwx_inv @ design.T @ (w * y)
        return coef, xtwx_inv

    w0 = 1.0 / v
    coef0, inv0 = wls(w0)
    tau2 = 0.0
    if variant not in ("fe-z", "wls-t"):  # DerSimonian-Laird for meta-regression (method of moments)
        q = float(np.sum(w0 * (y - design @ coef0) ** 2))
        w_design = w0[:, None] * design
        denom = float(np.sum(w0) - np.trace(inv0 @ (w_design.T @ w_design)))
        tau2 = max(0.0, (q - (k - 2)) / denom) if denom > 0 else 0.0
    w = 1.0 / (v + tau2)
    coef, inv = wls(w)
    var = inv[1, 1]
    if variant in ("wls-t", "hk", "hk-mod", "hk-z"):
        scale = float(np.sum(w * (y - design @ coef) ** 2)) / (k - 2)
        floor = {"hk-mod": 1.0, "hk-z": (stats.norm.ppf(0.975) / stats.t.ppf(0.975, k - 2)) ** 2}
        var *= max(scale, floor.get(variant, 0.0))
    quantile = stats.norm.ppf(0.975) if variant == "fe-z" else stats.t.ppf(0.975, k - 2)
    half = quantile * np.sqrt(var)
    return float(coef[1]), float(coef[1] - half), float(coef[1] + half)


def family_record(cell: str, f: int, n_bootstrap: int) -> tuple[dict, pd.DataFrame]:
    """One family through the pipeline: the t-interval and each variant's (lo, hi) of the slope."""
    found, _ = detect_transitions(family(cell, f), n_bootstrap=n_bootstrap)
    picked = pick_transition_per_run(found, "first")
    return slope_intervals(cell, f, picked), picked.assign(cell=cell, family=f)


def slope_intervals(cell: str, f: int, picked: pd.DataFrame) -> dict:
    """warmup_regression's t-interval of the picked transitions' slope and each variant's."""
    out = {"cell": cell, "family": f, "n_runs": int(len(picked))}
    try:
        fit = warmup_regression(picked)
    except InputError:
        return out
    # the OLS t-interval (warmup_regression's until it changes), computed here so that the column
    # keeps its meaning; "installed" is whatever the installed warmup_regression returns
    x, y = picked["warmup_end"].to_numpy(dtype=float), picked["step"].to_numpy(dtype=float)
    ols = stats.linregress(x, y)
    half = stats.t.ppf(0.975, len(x) - 2) * ols.stderr
    out["t_lo"], out["t_hi"] = ols.slope - half, ols.slope + half
    out["slope"] = ols.slope
    out["installed_lo"], out["installed_hi"] = fit.params["slope"].ci95
    se = (picked["step_ci95_hi"] - picked["step_ci95_lo"]).to_numpy(dtype=float) / (2 * 1.959964)
    usable = len(picked) > 2 and np.all(np.isfinite(se) & (se > 0))
    idx = np.random.default_rng([list(CELLS).index(cell), f, 7]).integers(0, len(x), (1000, len(x)))
    xb, yb = x[idx], y[idx]
    xc = xb - xb.mean(axis=1, keepdims=True)
    sxx = np.sum(xc * xc, axis=1)
    ok = sxx > 0
    slopes = np.sum(xc * (yb - yb.mean(axis=1, keepdims=True)), axis=1)[ok] / sxx[ok]
    out["pairs-boot_lo"], out["pairs-boot_hi"] = np.percentile(slopes, [2.5, 97.5])
    for variant in VARIANTS[:-2]:
        if usable:
            _, lo, hi = meta_regression(picked["warmup_end"], picked["step"], se, variant)
        else:  # a run without an interval: the variant falls back to the t-interval
            lo, hi = out["t_lo"], out["t_hi"]
        out[f"{variant}_lo"], out[f"{variant}_hi"] = lo, hi
    out["fallback"] = not usable
    return out


def share(hits) -> str:
    hits = np.asarray(hits, dtype=float)
    p = hits.mean()
    return f"{100 * p:.1f}% ± {100 * np.sqrt(p * (1 - p) / hits.size):.1f}"


def paired(hits, base) -> str:
    d = np.asarray(hits, dtype=float) - np.asarray(base, dtype=float)
    return f"{100 * d.mean():+.1f} ± {100 * d.std(ddof=1) / np.sqrt(d.size):.1f}"


def covers(records: pd.DataFrame, name: str) -> np.ndarray:
    return ((records[f"{name}_lo"] <= TRUE_SLOPE) & (TRUE_SLOPE <= records[f"{name}_hi"])).to_numpy()


def summary(records: pd.DataFrame, label: str) -> None:
    done = records[records["t_lo"].notna()] if "t_lo" in records else records.iloc[:0]
    line = f"| {label} | {len(records)} | {100 * (1 - len(done) / len(records)):.1f}% |"
    if not len(done):
        print(line + " -" * (2 + len(VARIANTS)) + " |", flush=True)
        return
    base = covers(done, "t")
    line += f" {share(base)} | {np.median(done['t_hi'] - done['t_lo']):.3g} |"
    for v in VARIANTS:
        hits = covers(done, v)
        line += (f" {share(hits)} ({paired(hits, base)}), "
                 f"{np.median(done[f'{v}_hi'] - done[f'{v}_lo']):.3g} |")
    print(line, flush=True)


def by_runs(records: pd.DataFrame) -> None:
    """hk beside hk-mod (its scale floored at 1) and hk-z over the families with 3 and with 4 runs."""
    done = records[records["t_lo"].notna()] if "t_lo" in records else records.iloc[:0]
    for n, group in done.groupby("n_runs"):
        hk = covers(group, "hk")
        width_hk = (group["hk_hi"] - group["hk_lo"]).to_numpy()
        line = f"{n} runs, {len(group)} families: hk covers {share(hk)}, median width {np.median(width_hk):.3g}"
        for v in ("hk-mod", "hk-z"):
            hits, width = covers(group, v), (group[f"{v}_hi"] - group[f"{v}_lo"]).to_numpy()
            line += (f"; {v} covers {share(hits)}, median width {np.median(width):.3g} (paired - hk "
                     f"{paired(hits, hk) if len(group) > 1 else '-'}, median width ratio "
                     f"{np.median(width / width_hk):.3g}, wider than hk in {share(width > width_hk * (1 + 1e-12))})")
        print(line, flush=True)


def pick_coverage(picks: pd.DataFrame) -> str:
    """The picked transitions' own breakpoint intervals on this layout (73 checkpoints, which the
    calibrated level was not chosen on): per cell, the share of picks within 0.3 decades of their
    run's true kink (OFFSET + TRUE_SLOPE x warmup end) whose interval holds it, and the median
    width in decades."""
    picks = picks.astype({"step": float, "warmup_end": float, "step_ci95_lo": float, "step_ci95_hi": float})
    true = OFFSET + TRUE_SLOPE * picks["warmup_end"]
    near = picks[np.abs(np.log10(picks["step"]) - np.log10(true)) < 0.3]
    held = (near["step_ci95_lo"] <= true[near.index]) & (true[near.index] <= near["step_ci95_hi"])
    parts = []
    for cell, group in near.groupby("cell", sort=False):
        h = held[group.index]
        width = np.median(np.log10(group["step_ci95_hi"] / group["step_ci95_lo"]))
        parts.append(f"{cell} {100 * h.mean():.1f}% of {len(h)} (width {width:.2f})")
    return "picked transitions' intervals holding the true kink: " + "; ".join(parts)


def main() -> None:
    global TRUE_SLOPE, OFFSET, WARMUPS  # family() and covers() read them: the cell's truth
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=25, help="families per cell")
    parser.add_argument("--cells", default=",".join(CELLS))
    parser.add_argument("--bootstrap", type=int, default=200,
                        help="breakpoint-interval resamples per run (the command's default, 200)")
    parser.add_argument("--save", default=None, help="write every family's picked transitions to this CSV")
    parser.add_argument("--load", default=None,
                        help="read the picked transitions --save wrote (same --runs and --cells) "
                             "and print the table from them, without detecting again")
    parser.add_argument("--first", type=int, default=0,
                        help="index of the first family of each cell (families 1000+ are the fresh "
                             "seeds that checked the shipped interval)")
    parser.add_argument("--true-slope", type=float, default=TRUE_SLOPE,
                        help="slope of transition step on warmup end (1: follows warmup, 0: does not)")
    parser.add_argument("--warmups", default=",".join(map(str, WARMUPS)),
                        help="the runs' warmup ends, comma-separated (3,45,112: 3-run families)")
    parser.add_argument("--offset", type=float, default=OFFSET,
                        help="the kink sits at step OFFSET + slope x warmup end")
    args = parser.parse_args()
    TRUE_SLOPE, OFFSET = args.true_slope, args.offset
    try:
        WARMUPS = tuple(int(w) for w in args.warmups.split(","))
    except ValueError:
        WARMUPS = ()
    if len(WARMUPS) < 3:
        print(f"--warmups {args.warmups!r}: expected 3 or more comma-separated integer warmup ends",
              file=sys.stderr)
        sys.exit(2)
    warnings.simplefilter("ignore")
    cells = [c for c in args.cells.split(",") if c]
    print(f"{args.runs} families per cell, {len(WARMUPS)} runs each (warmup ends {WARMUPS} of {TOTAL_STEPS}), "
          f"{len(STEPS)} checkpoints, true slope {TRUE_SLOPE:g}, {args.bootstrap} resamples per "
          "breakpoint interval; ± one Monte Carlo SE; (paired: variant - t-interval, same families)")
    print(f"| cell | families | no regression | OLS t-interval covers {TRUE_SLOPE:g} | its median width | "
          + " | ".join(f"{v}: covers (paired), median width" for v in VARIANTS) + " |")
    print("|---" * (5 + len(VARIANTS)) + "|")
    start = time.process_time()
    records, picks = [], []
    loaded = pd.read_csv(args.load) if args.load else None
    for cell in cells:
        rows = []
        for f in range(args.first, args.first + args.runs):
            if loaded is not None:
                picked = loaded[(loaded["cell"] == cell) & (loaded["family"] == f)]
                rows.append(slope_intervals(cell, f, picked))
                continue
            rec, picked = family_record(cell, f, args.bootstrap)
            rows.append(rec)
            picks.append(picked)
        records += rows
        summary(pd.DataFrame(rows), cell)
    if len(cells) > 1:
        summary(pd.DataFrame(records), "all")
    done = pd.DataFrame(records)
    by_runs(done)
    fallback = int(done["fallback"].eq(True).sum()) if "fallback" in done else 0
    print(f"families where a variant fell back to the t-interval (a picked run without an interval): "
          f"{fallback}; {time.process_time() - start:.0f} CPU s")
    every = pd.concat(picks, ignore_index=True) if picks else loaded
    if every is not None and "step_ci95_lo" in every:
        print(pick_coverage(every[every["cell"].isin(cells)]))
    if args.save and picks:
        every.to_csv(args.save, index=False)


if __name__ == "__main__":
    main()

"""The README's "How far the intervals hold" table, row by row, with the current code.

Each row is `scalefit calibrate LAW|RELATION` (calibrate_law / calibrate_relation, the command's
defaults: 4 cuts, 200 bootstrap resamples, seed 0, unless --cuts/--bootstrap say otherwise) on
the published tables in ../shared/anchors:

  chinchilla  Epoch/Hoffmann runs (240 points: the 5 highest losses dropped; D = C/6N)
  loss2loss   Brandfonbrener sweep, train-to-train val loss, fineweb-edu-100b -> each of the
              other 5 datasets (the 3.3B runs of extrapolation.csv predicted at every cut)
  hellaswag   Brandfonbrener, train-to-test: own val loss -> hellaswag CE, each of 6 datasets
  gadre       Gadre over-training: C4 val loss -> top-1 error of the 17-task subset,
              exponential-error, datasets rpj, rw_original, c4_original
  ladder      OLMo ladder checkpoints (after the first 10% of each run, bpb a 5-checkpoint
              moving average): task bpb -> accuracy, sigmoid, 7 tasks, 7B/13B targets
  pythia      Pythia long table (pythia_evals_core.csv, zero-shot): ln LAMBADA perplexity ->
              accuracy, sigmoid, 4 tasks, through the command line as the test runs it

For the accuracy rows (gadre, ladder, pythia) the same predictions are also scored with the
intervals before 4099dbf (interval_at(..., small_sample=False): the plain percentile intervals,
same draws), printed as "old". The Gadre row is calibrated once per point bootstrap of the
error law named by --error-bootstrap (default pairs,wild: the pairs bootstrap with HC1 and the
wild bootstrap with HC1 and Student's t, `accuracy.POINT_BOOTSTRAP`), same cuts and seed.

  OMP_NUM_THREADS=1 python bench/calibration_table.py [--rows ladder,pythia] [--jobs 2]
      [--error-bootstrap pairs,wild] [--prediction-scatter pooled]
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
import warnings
from multiprocessing import Pool
from pathlib import Path

import numpy as np
import pandas as pd

ANCHORS = Path(__file__).resolve().parents[1].parent / "shared" / "anchors"
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the anchor tables the tests read
from tests.ladder_tables import LADDER_TASKS, ladder_checkpoints  # noqa: E402

GADRE_SUBSET = ["bigbench_operators", "pubmed_qa_labeled", "hellaswag_zeroshot", "boolq",
                "arc_easy", "coqa", "bigbench_dyck_languages", "lambada_openai",
                "bigbench_novel_concepts", "winograd", "bigbench_cs_algorithms",
                "commonsense_qa", "bigbench_qa_wikidata", "hellaswag", "copa", "squad", "piqa"]
GADRE_DATASETS = ["rpj", "rw_original", "c4_original"]
PYTHIA_TASKS = ["piqa", "arc_easy", "sciq", "winogrande"]
L2L_FROM = "fineweb-edu-100b"
HELLASWAG_CE = "eval/downstream_ce_loss/hellaswag_test_ce_loss"

ROWS = {  # key: (README label, near bins, far bins, how the far cell reads, its words)
    "chinchilla": ("Epoch/Hoffmann runs (Chinchilla law)", ["1-2x"],
                   ["2-4x", "4-10x", "10-100x"], "coverage", "at 2-100x"),
    "loss2loss": ("Brandfonbrener sweep (loss to loss, 5 datasets)", ["2-4x"], [">100x"],
                  "coverage", "beyond 100x"),
    "hellaswag": ("Brandfonbrener (loss to hellaswag CE, 6 datasets)", [], [], "undefined",
                  ""),
    "gadre": ("Gadre over-training (loss to error, 3 datasets)", ["1-2x"],
              ["10-100x", ">100x"], "error", "beyond 10x"),
    "ladder": ("OLMo ladder (bpb to accuracy, 7 tasks)", ["1-2x"], ["10-100x", ">100x"],
               "coverage", "beyond 10x"),
    "pythia": ("Pythia (ln LAMBADA ppl to accuracy, 4 tasks)", ["1-2x"], [">100x"],
               "coverage", "beyond 100x"),
}
ACCURACY_ROWS = ("gadre", "ladder", "pythia")
OLD = []  # (lo, hi) of the pre-4099dbf intervals, one entry per scored cut


def _capture_old_intervals():
    """Score every held-out point with the plain percentile intervals as well (same draws,
    same salts: only the small-sample widening differs)."""
    from scalefit.scaling.relations import downstream
    from scalefit.scaling.relations.intervals import interval_at
    new = downstream.held_out_intervals
    if getattr(new, "captures_old", False):
        return

    def both(result, x):
        lo, hi = new(result, x)
        old = [interval_at(result, xi, salt=i + 1, small_sample=False)["pi95"]
               for i, xi in enumerate(np.asarray(x, float))]
        OLD.append(np.array(old, float).reshape(-1, 2))
        return lo, hi
    both.captures_old = True
    downstream.held_out_intervals = both


# --- the tables -----------------------------------------------------------------------------

def epoch_runs() -> pd.DataFrame:
    df = pd.read_csv(ANCHORS / "scaling" / "epoch_chinchilla_svg_extracted_data.csv")
    df = df[df["loss"] < df["loss"].nlargest(5).min()]
    return pd.DataFrame({"params": df["Model Size"], "flops": df["Training FLOP"],
                         "loss": df["loss"]})



def run_one(job):
    """One (row, item): its Calibration's summary (and the old intervals' coverage)."""
    row, item, cuts, n_boot, method, scatter = job
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    from scalefit.scaling.laws.calibrate import calibrate_law
    from scalefit.scaling.relations.calibrate import calibrate_relation
    if row in ACCURACY_ROWS:
        _capture_old_intervals()
    # the error law's points: pairs or wild bootstrap (same cuts and seed), None the shipped
    # one (a worker's first job sees the module as shipped; later jobs restore it)
    from scalefit.scaling.relations import accuracy
    shipped = run_one.__dict__.setdefault("shipped", dict(accuracy.POINT_BOOTSTRAP))
    accuracy.POINT_BOOTSTRAP["exponential-error"] = method or shipped["exponential-error"]
    shipped_scatter = run_one.__dict__.setdefault("scatter", accuracy.PREDICTION_SCATTER)
    accuracy.PREDICTION_SCATTER = scatter or shipped_scatter
    OLD.clear()
    t0 = time.perf_counter()
    kw = {"cuts": cuts, "n_bootstrap": n_boot, "seed": 0}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if row == "chinchilla":
            cal = calibrate_law(epoch_runs(), "chinchilla", **kw)
        elif row in ("loss2loss", "hellaswag"):
            sweep = pd.read_csv(ANCHORS / "loss2loss" / "sweep.csv")
            extra = pd.read_csv(ANCHORS / "loss2loss" / "extrapolation.csv")
            if row == "loss2loss":
                cal = calibrate_relation(sweep, "val_loss", "val_loss", "shifted-power",
                                         pairing="train-to-train", x_from=L2L_FROM,
                                         y_from=item, targets=extra, source="sweep.csv", **kw)
            else:
                cal = calibrate_relation(sweep, "val_loss", HELLASWAG_CE, "shifted-power",
                                         pairing="train-to-test", x_from=item,
                                         targets=extra, source="sweep.csv", **kw)
        elif row == "gadre":
            models = pd.read_csv(ANCHORS / "overtrain" / "overtrain_models_tidy.csv")
            models["err"] = 1 - models[[f"acc_{t}" for t in GADRE_SUBSET]].mean(axis=1)
            cal = calibrate_relation(models, "loss_c4_val", "err", "exponential-error",
                                     group="dataset", x_from=item,
                                     source="overtrain_models_tidy.csv", **kw)
        elif row == "ladder":
            train, targets = ladder_checkpoints(ANCHORS, item)
            cal = calibrate_relation(train, "bpb", "acc", "sigmoid", targets=targets,
                                     source="ladder", **kw)
        elif row == "pythia":
            cal = _pythia_by_the_command(item, cuts, n_boot)
        else:
            raise ValueError(row)
    preds = cal.predictions.reset_index(drop=True)
    if row in ACCURACY_ROWS and OLD:
        lohi = np.concatenate(OLD)
        assert len(lohi) == len(preds), (len(lohi), len(preds))
        obs = preds["observed"].to_numpy(float)
        preds["inside_old"] = ((obs >= lohi[:, 0]) & (obs <= lohi[:, 1])
                               & np.isfinite(preds["predicted"].to_numpy(float)))
    bins = {}
    preds = preds.sort_values("distance", kind="stable")
    for name, part in preds.groupby("distance_bin", sort=False):
        err = part["relative_error"].abs()
        bins[name] = {"n": int(len(part)), "coverage": float(part["inside"].mean()),
                      "median_abs_rel_error": float(err.median()),
                      "undefined": int((~np.isfinite(part["predicted"])).sum())}
        if "inside_old" in part:
            bins[name]["coverage_old"] = float(part["inside_old"].mean())
    beyond = {}
    for times in (10, 100):
        part = preds[preds["distance"] > times]
        err = part["relative_error"].abs()
        beyond[f">{times}x"] = {"n": int(len(part)), "median_abs_rel_error": float(err.median()),
                                "mean_abs_rel_error": float(err.mean())}
    out = {"row": row, "item": item, "method": method, "n": int(len(preds)),
           "n_scored": int(preds["inside"].notna().sum()),  # runs beyond 1000x have no interval
           "coverage": cal.coverage,
           "beyond": beyond,
           "cuts": [float(c) for c in cal.cuts["cut_flops"]], "bins": bins,
           "undefined": int((~np.isfinite(preds["predicted"])).sum()),
           "seconds": time.perf_counter() - t0}
    if "inside_old" in preds:
        out["coverage_old"] = float(preds["inside_old"].mean())
    return out


def _pythia_by_the_command(task: str, cuts: int, n_boot: int):
    """`scalefit calibrate sigmoid --data pythia_evals_core.csv --x lambada_openai:perplexity
    --y TASK:acc --subset eval_group=zero-shot`: the command's own loading, in process."""
    from scalefit.scaling.relations.calibrate import calibrate_relation
    from scalefit.scaling.relations.cli import _load
    frame, source, x, y, group, x_from, y_from, _ = _load(
        str(ANCHORS / "pythia" / "pythia_evals_core.csv"), "lambada_openai:perplexity",
        f"{task}:acc", "train-to-test", "data", None, None, ("eval_group=zero-shot",))
    return calibrate_relation(frame, x, y, "sigmoid", group=group, x_from=x_from,
                              y_from=y_from, cuts=cuts, n_bootstrap=n_boot, seed=0,
                              source=source)


def jobs_for(row: str, cuts: int, n_boot: int, error_bootstrap=(None,)) -> list:
    """(row, item, cuts, resamples, method): the Gadre row once per ``error_bootstrap`` method
    (None: the shipped one), every other row once."""
    items = {"chinchilla": ["all"],
             "loss2loss": ["fineweb-100b", "smollm-corpus", "slimpajama-chunk1",
                           "proof-pile-2", "starcoder"],
             "hellaswag": ["fineweb-edu-100b", "fineweb-100b", "smollm-corpus",
                           "slimpajama-chunk1", "proof-pile-2", "starcoder"],
             "gadre": GADRE_DATASETS, "ladder": LADDER_TASKS, "pythia": PYTHIA_TASKS}[row]
    methods = error_bootstrap if row == "gadre" else (None,)
    return [(row, item, cuts, n_boot, m) for m in methods for item in items]


# --- the table ------------------------------------------------------------------------------

def _pct(values) -> str:
    values = [v for v in values if v is not None and np.isfinite(v)]
    if not values:
        return ""
    lo, hi = f"{min(values):.0%}", f"{max(values):.0%}"  # rounded as the command prints
    return lo if lo == hi else f"{lo[:-1]}-{hi}"


def _bin_values(results, bins, key):
    return [r["bins"][b][key] for r in results for b in bins
            if b in r["bins"] and key in r["bins"][b]]


def summary_row(row: str, results: list, key: str = "coverage", method=None) -> str:
    """The README row: ranges over the row's datasets/tasks (coverage overall, in the near
    bins, in the far bins; for the error-law row the median |relative error| per far bin)."""
    label, near, far, far_kind, far_words = ROWS[row]
    overall = _pct([r.get(key if key == "coverage" else "coverage_old") for r in results])
    near_txt = f"{_pct(_bin_values(results, near, key))} at {'/'.join(near)}" if near else ""
    if far_kind == "coverage":
        far_txt = f"{_pct(_bin_values(results, far, key))} {far_words}"
    elif far_kind == "error":
        per_item = ", ".join(f"{r['item']} {_pct(_bin_values([r], far, 'median_abs_rel_error'))}"
                             for r in results)
        far_txt = f"errors {far_words} (median per bin, {'/'.join(far)}): {per_item}"
    else:
        n_undef = sum(r["undefined"] for r in results)
        n = sum(r["n"] for r in results)
        far_txt = (f"x below the fitted E_x: no prediction ({n_undef} of {n} predictions; "
                   f"{', '.join(str(r['undefined']) for r in results)} per dataset)")
    if method is not None:
        label = f"{label}, {method} bootstrap"
    return f"| {label} | {overall} | {near_txt} | {far_txt} |"


def print_detail(r) -> None:
    old = f" (old {r['coverage_old']:.3f})" if "coverage_old" in r else ""
    how = f" ({r['method']} bootstrap)" if r.get("method") else ""
    print(f"  {r['row']} {r['item']}{how}: coverage {r['coverage']:.3f}{old} of {r['n_scored']} scored "
          f"({r['n']} predictions, "
          f"{len(r['cuts'])} cuts, {r['undefined']} undefined, {r['seconds']:.0f} s)")
    for b, v in r["bins"].items():
        old = f" old {v['coverage_old']:.3f}" if "coverage_old" in v else ""
        print(f"      {b:>8}: n {v['n']:4d} coverage {v['coverage']:.3f}{old} "
              f"median |err| {v['median_abs_rel_error']:.4f}")
    sys.stdout.flush()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", default=",".join(ROWS), help="comma-separated: " + ",".join(ROWS))
    ap.add_argument("--cuts", type=int, default=4, help="compute cuts (the command's 4)")
    ap.add_argument("--bootstrap", type=int, default=200,
                    help="resamples per fit (the command's 200)")
    ap.add_argument("--jobs", type=int, default=2, help="processes")
    ap.add_argument("--json", default=None, help="write every result to this file")
    ap.add_argument("--error-bootstrap", default="pairs,wild",
                    help="the Gadre row's point bootstraps, each scored on the same cuts and "
                         "seed ('shipped': accuracy.POINT_BOOTSTRAP's)")
    ap.add_argument("--prediction-scatter", default=None,
                    help="the accuracy laws' prediction-interval scatter "
                         "(accuracy.PREDICTION_SCATTER, e.g. pooled; default: the shipped one)")
    args = ap.parse_args(argv)
    if not ANCHORS.is_dir():
        print(f"skipped: {ANCHORS} is absent (the published tables live there)")
        return 0
    rows = [r.strip() for r in args.rows.split(",") if r.strip()]
    unknown = [r for r in rows if r not in ROWS]
    if unknown:
        ap.error(f"unknown rows: {', '.join(unknown)}")
    methods = tuple(None if m == "shipped" else m
                    for m in args.error_bootstrap.split(",") if m.strip())
    jobs = [(*j, args.prediction_scatter) for r in rows
            for j in jobs_for(r, args.cuts, args.bootstrap, methods)]
    print(f"{len(jobs)} calibrations, {args.cuts} cuts, {args.bootstrap} resamples, seed 0, "
          f"{args.jobs} processes", flush=True)
    t0 = time.perf_counter()
    results = []
    with Pool(args.jobs) as pool:
        for r in pool.imap_unordered(run_one, jobs):
            print_detail(r)
            results.append(r)
    order = {(j[0], j[1], j[4]): i for i, j in enumerate(jobs)}
    results.sort(key=lambda r: order[(r["row"], r["item"], r["method"])])
    print(f"\nwall time {time.perf_counter() - t0:.0f} s\n")
    print("| table (relation) | coverage overall | near the data | far from it |")
    print("|---|---|---|---|")
    for row in rows:
        for m in (methods if row == "gadre" else (None,)):
            part = [r for r in results if r["row"] == row and r["method"] == m]
            print(summary_row(row, part, method=m))
    old_rows = [row for row in rows if row in ACCURACY_ROWS]
    if old_rows:
        print("\nthe same predictions with the intervals before 4099dbf (no small-sample "
              "widening):\n")
        for row in old_rows:
            for m in (methods if row == "gadre" else (None,)):
                part = [r for r in results if r["row"] == row and r["method"] == m]
                print(summary_row(row, part, "coverage_old", method=m))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    sys.exit(main())

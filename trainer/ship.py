"""Merge the run tables that training lanes wrote into the one shipped runs.csv, with provenance.

Several `scalefit suite train --tables DIR` invocations (lanes, the warmup experiment) each keep
their own runs.csv; the shipped table is their union, one row per run, sorted by part, size and
tokens. Provenance records the spec, package versions, seeds, hardware, every run's wall time,
and the wall time of the whole spec measured from when each run started and finished.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from scalefit.atomic import staged_output, write_frame, write_json
from scalefit.errors import InputError, row_name
from scalefit.schema import distinct_rows, require_columns
from scalefit.tables import read_table
from scalefit.trainer.final_losses import EVAL_COLUMNS, LOSS_COLUMNS
from scalefit.trainer.train import RUN_COLUMNS, in_run_order, provenance

PART_ORDER = {"grid": 0, "code": 1, "wsd": 2, "warmup": 3, "init": 4}


def merge_run_tables(table_dirs, rescore: bool = False) -> pd.DataFrame:
    """Union of the runs.csv files in `table_dirs`, one row per run, sorted. A run two tables hold
    alike is kept once; held with different values (retrained in a second lane, or a lane trained
    before a fix) it is an InputError naming the run, both tables and the columns: which row is
    published must not depend on the order of --from. rescore: the losses are re-measured next
    (rescore_runs), so a lane's non-finite loss is no reason to refuse it (``lane_runs``)."""
    frames = [lane_runs(d, rescore=rescore) for d in table_dirs]
    runs = pd.concat(frames)  # each row keeps its row number in its own file, for the message
    if "warmup_frac" in runs:
        runs["warmup_frac"] = runs["warmup_frac"].fillna((runs["warmup_steps"] / runs["steps"]).round(4))
    runs = distinct_rows(runs, ["run"], "--from", "run",
                         values=[c for c in runs.columns if c not in ("run", "_lane")],
                         hint=_two_rows_of_a_run)
    runs = runs.drop(columns="_lane").reset_index(drop=True)
    size_order = runs["model"].str.extract(r"(\d+)$")[0].astype(float)
    runs = (runs.assign(_p=runs["part"].map(PART_ORDER).fillna(9), _s=size_order)
            .sort_values(["_p", "_s", "model", "tokens", "run"]).drop(columns=["_p", "_s"]))
    return in_run_order(runs).reset_index(drop=True)


def _two_rows_of_a_run(two: pd.DataFrame) -> str:
    """The advice when two rows of a run differ: where they are, and what to do."""
    first, second = two["_lane"]
    where = f"{first} holds both" if first == second else f"{first} and {second} hold one each"
    return (f"{where} (a run trained twice?): keep the row to ship and delete the other"
            f"{'' if first == second else ', or leave out its --from folder'}")


def lane_runs(table_dir, rescore: bool = False) -> pd.DataFrame:
    """One lane's runs.csv, checked as `scalefit suite train --tables` writes it: at least one run,
    every column of RUN_COLUMNS, finite losses; anything else is an InputError naming the file.
    rescore: the LOSS_COLUMNS are not checked here, as rescore_runs overwrites them and checks
    what it measured (a NaN loss refused a lane that --rescore would have mended)."""
    path = Path(table_dir) / "runs.csv"
    if not path.exists():
        raise InputError(f"{path}: no run table (was `scalefit suite train --tables {table_dir}` run?)")
    runs = read_table(path)
    if runs.empty:
        raise InputError(f"{path}: no runs (a header only); a --from folder holds the runs.csv of "
                         f"`scalefit suite train --tables {table_dir}`, one row per trained run")
    require_columns(runs, RUN_COLUMNS, str(path), "a run table of `scalefit suite train`")
    for column in () if rescore else LOSS_COLUMNS:
        values = pd.to_numeric(runs[column], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
        bad = ~np.isfinite(values)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            cell = runs[column].iloc[i]
            raise InputError(f"{path}: column '{column}', {row_name(runs, i)} (run {runs['run'].iloc[i]}): "
                             f"{'empty' if pd.isna(cell) else repr(str(cell))}; expected a finite number "
                             "(the run's final loss, as `scalefit suite train` writes it)")
    return runs.assign(_lane=str(path))


def check_runs_of_spec(runs: pd.DataFrame, spec_path) -> list[str]:
    """Refuse runs the spec does not name (another spec's tables in --from: provenance would name
    this spec for them); the spec's runs the tables lack are returned as notes (a suite shipped
    before every lane finished)."""
    from scalefit.trainer.spec import load_spec

    spec_runs = [r.run for r in load_spec(spec_path).runs]
    foreign = [run for run in runs["run"] if run not in set(spec_runs)]
    if foreign:
        raise InputError(f"--from: {len(foreign)} run(s) are not runs of {spec_path} "
                         f"({', '.join(foreign[:4])}{', ...' if len(foreign) > 4 else ''}): give the "
                         "spec they were trained from, or leave out the --from folder that holds them")
    missing = [run for run in spec_runs if run not in set(runs["run"])]
    return ([f"{len(missing)} run(s) of {spec_path} are in no --from table and are not shipped "
             f"({', '.join(missing[:4])}{', ...' if len(missing) > 4 else ''})"] if missing else [])


def run_intervals(runs: pd.DataFrame, suite_dir) -> pd.DataFrame:
    """(run, start, end) in Unix seconds: end = when result.json was written, start = end - wall_s."""
    rows = []
    for run, wall in zip(runs["run"], runs["wall_s"]):
        result = Path(suite_dir) / run / "result.json"
        if result.exists():
            end = result.stat().st_mtime
            rows.append({"run": run, "start": end - float(wall), "end": end})
    return pd.DataFrame(rows, columns=["run", "start", "end"])


def busy_seconds(intervals: pd.DataFrame) -> float:
    """Wall time during which at least one run was training (the union of the intervals)."""
    total, cur_start, cur_end = 0.0, None, None
    for start, end in sorted(zip(intervals["start"], intervals["end"])):
        if cur_end is None or start > cur_end:
            if cur_end is not None:
                total += cur_end - cur_start
            cur_start, cur_end = start, end
        else:
            cur_end = max(cur_end, end)
    if cur_end is not None:
        total += cur_end - cur_start
    return total


def suite_provenance(spec_path, runs: pd.DataFrame, suite_dir, corpus_dir, notes: str = "") -> dict:
    """Spec, versions, seeds, hardware, per-run wall times, and the measured wall time per part."""
    from scalefit.trainer.spec import spec_for_corpus

    spec = spec_for_corpus(spec_path, corpus_dir)
    prov = provenance(spec_path, spec, "cpu")
    prov["hardware"].pop("torch_threads", None)
    prov["threads_per_run"] = 1
    from scalefit.trainer.corpus import read_manifest

    manifest = read_manifest(corpus_dir, required=False)
    if manifest:
        prov["corpus"] = manifest
    intervals = run_intervals(runs, suite_dir).merge(runs[["run", "part", "wall_s"]], on="run")
    prov["runs"] = [{"run": r, "part": p, "wall_s": round(float(w), 1)}
                    for r, p, w in zip(runs["run"], runs["part"], runs["wall_s"])]
    timing = {}
    main = intervals["part"] != "warmup"
    main_label = "+".join(["grid+long" if p == "grid" else p
                           for p in PART_ORDER if p != "warmup" and (intervals["part"] == p).any()])
    for label, mask in ((main_label or "main", main),
                        ("warmup", intervals["part"] == "warmup"), ("all", intervals["part"].notna())):
        part = intervals[mask]
        if part.empty:
            continue
        timing[label] = {"runs": int(len(part)), "sum_of_run_wall_s": round(float(part["wall_s"].sum()), 1),
                         "busy_wall_s": round(busy_seconds(part), 1),
                         "first_start_utc": pd.Timestamp(part["start"].min(), unit="s").isoformat(),
                         "last_end_utc": pd.Timestamp(part["end"].max(), unit="s").isoformat()}
    prov["wall_time"] = timing
    prov["wall_time_note"] = ("busy_wall_s: wall-clock time during which at least one run was training "
                              "(from each run's result.json time and its own wall_s); sum_of_run_wall_s: "
                              "the same runs one after another on one lane. " + notes).strip()
    return prov


def rescore_runs(spec_path, runs: pd.DataFrame, suite_dir, corpus_dir, progress: bool = True) -> pd.DataFrame:
    """Re-measure every run's final losses from its last checkpoint on the spec's eval sets
    (trainer.final_losses.evaluate_run): for runs trained before the eval sets were unified, so that
    runs.csv and the sweep's tables hold one number per run. Other columns are kept. A measured
    loss that is not finite (a diverged checkpoint) is an InputError naming the run and folder."""
    from scalefit.trainer.final_losses import evaluate_run
    from scalefit.trainer.spec import spec_for_corpus
    from scalefit.trainer.sweep import load_suite_model

    spec = spec_for_corpus(spec_path, corpus_dir)
    by_id = {r.run: r for r in spec.runs}
    runs = runs.copy()
    for c in LOSS_COLUMNS:  # all overwritten below; a lane's 'diverged' made a column of text
        runs[c] = pd.to_numeric(runs[c], errors="coerce")
    for i, row in runs.iterrows():
        run = by_id.get(row["run"])
        if run is None:
            raise InputError(f"runs.csv: run {row['run']} is not in {spec_path}")
        folder = Path(suite_dir) / run.run / f"step{run.steps}"
        if not (folder / "model.safetensors").exists():
            raise InputError(f"{folder}: no last checkpoint to rescore {run.run} from")
        model = load_suite_model(folder)
        fresh = evaluate_run(spec, run, model, corpus_dir, float(row.get("wall_s", 0.0)))
        bad = [c for c in LOSS_COLUMNS if not np.isfinite(float(fresh[c]))]
        if bad:
            raise InputError(f"{folder}: rescoring {run.run} measured {bad[0]} = {fresh[bad[0]]}; "
                             "expected a finite number (a diverged checkpoint?): leave the run "
                             "out of the --from tables, or retrain it")
        for c in EVAL_COLUMNS:
            runs.loc[i, c] = fresh[c]
        if progress:
            print(f"{run.run}: loss {fresh['loss']:.5f} (was {row['loss']:.5f})", flush=True)
    return in_run_order(runs)


def write_shipped_runs(runs: pd.DataFrame, prov: dict, out_dir) -> list[Path]:
    """runs.csv and provenance.json in out_dir, written beside it and moved in together: a stop
    while they are written leaves both old files, not new runs beside the old provenance."""
    out = Path(out_dir)
    with staged_output(out) as staging:
        write_frame(runs, staging / "runs.csv")
        write_json(staging / "provenance.json", prov)
    return [out / "runs.csv", out / "provenance.json"]

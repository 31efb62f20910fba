"""The sweep engine: one loop over (model, step) checkpoints, each loaded once for every measurement.

A `Measurement` is any function `(model, CheckpointInfo) -> DataFrame` (a loss on a dataset,
downstream tasks, weight statistics) with the table its rows go to; `scalefit.sweep.measurements`
registers the kinds by name. `sweep_checkpoints` is the one function `scalefit eval` and
`scalefit weights` run: measure what is missing (resumable, see `sweep.parts`), then rebuild the
tables from the parts on disk, also after Ctrl-C. The engine knows nothing of any particular suite.

`measure_checkpoint` is one checkpoint's work (load, fingerprint of its weight files, every
missing measurement, failure record): the local loop runs it here, `--executor ray` runs it as
one Ray task per checkpoint (`scalefit.sweep.ray_executor`); both write the same files, so a
sweep can move between them. `--on-duplicate` decides what happens to a checkpoint whose
weights are identical to another's already in the folder (see `scalefit.integrity`).
"""
from __future__ import annotations

import gc
import sys
import time
import traceback
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import pandas as pd

from scalefit.atomic import sweep_stale, write_frame, write_json
from scalefit.errors import InputError, warn
from scalefit.sweep.checkpoints import CheckpointInfo, load_checkpoint
from scalefit.sweep import hub
from scalefit.sweep.params import fill_parameter_counts, unknown_parameter_counts
from scalefit.sweep.parts import (collect_failures, collect_fingerprints, collect_parts,  # noqa: F401
                                  failure_path, fingerprint_path, missing_columns, outdated_parts,
                                  key_name, part_is_valid, part_path, set_aside, write_failures,
                                  write_tables)

MeasureFn = Callable[[Any, CheckpointInfo], pd.DataFrame]
ROW_KEYS = ("model", "step", "tokens", "lr", "params", "params_nonembed")


@dataclass
class Measurement:
    """A named measurement of a loaded model; its rows go to output table `table`."""

    name: str
    fn: MeasureFn
    table: str = "evals"
    options: dict = field(default_factory=dict)  # {"--context": 64}: what its values depend on
    columns: tuple[str, ...] = ()  # columns each result file holds: one lacking them is measured again
    # {option: an older option whose record stands for it}: eval's recorded --cross-entropy flag for its head
    checked_by: dict = field(default_factory=dict)
    # {option: the model it is a fact of} ('the tokens and LR of tiny-a in --suite'): the folder's
    # record keeps other models' facts, and one lacking is said only where that model was measured
    of_model: dict = field(default_factory=dict)


@dataclass
class SweepSummary:
    """What a sweep did: checkpoints measured, skipped as already done, and failures with errors."""

    measured: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: list[dict] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)  # not measured: weights identical to another's (skip)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        """True when no checkpoint failed."""
        return not self.failed


@dataclass
class SweepResult:
    """A finished (or interrupted) sweep: what it did, the tables rebuilt from its folder, the
    checkpoints whose latest attempt failed, its run metadata and the files written."""

    out_dir: str
    summary: SweepSummary | None            # None when interrupted
    tables: dict[str, pd.DataFrame]          # e.g. {"evals": ..., "weights": ...}
    failures: pd.DataFrame                   # model, step, location, error
    meta: dict = field(default_factory=dict)
    files: list[Path] = field(default_factory=list)
    interrupted: bool = False
    integrity: pd.DataFrame | None = None    # scalefit.integrity flags of the folder's checkpoints
    on_duplicate: str = "warn"

    @property
    def ok(self) -> bool:
        """True when the sweep ran to its end and no checkpoint of the folder failed."""
        return not self.interrupted and self.failures.empty


class SweepInterrupted(KeyboardInterrupt):
    """Ctrl-C during a sweep, raised after the tables were rebuilt from what was measured."""

    def __init__(self, result: SweepResult | None, out_dir=None):
        where = result.out_dir if result is not None else out_dir
        super().__init__(f"interrupted: results so far are in {where}")
        self.result = result


def _with_keys(df: pd.DataFrame, info: CheckpointInfo) -> pd.DataFrame:
    """Rows carrying the checkpoint's keys and facts (model, step, tokens, lr, params...)."""
    df = df.copy()
    for position, key in enumerate(ROW_KEYS):
        value = getattr(info, key)
        if key in df.columns:
            df[key] = df[key].fillna(value) if value is not None else df[key]
        else:
            df.insert(min(position, len(df.columns)), key, value)
    return df


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"[:500]


class DuplicateCheckpoint(Exception):
    """A checkpoint's weights are identical to another checkpoint's (--on-duplicate fail)."""


class MeasurementsFailed(Exception):
    """Some measurements of a loaded checkpoint raised; the others were measured and written (each
    is its own result file with its own recorded options, so nothing of another setting mixes in),
    and a re-run measures only the failed ones (their files are missing)."""

    def __init__(self, failed: list[tuple[str, BaseException, str]], asked: int):
        named = "; ".join(f"{name}: {_one_line(exc)}" for name, exc, _ in failed)
        kept = asked - len(failed)
        super().__init__(named[:500] + (f" (the other {kept} measurement{'s' * (kept != 1)} of this checkpoint "
                                        f"{'were' if kept != 1 else 'was'} measured)" if kept else ""))
        self.traces = "\n".join(trace for _, _, trace in failed)


ON_DUPLICATE = ("warn", "skip", "fail")
FINGERPRINTS = "fingerprints"  # the table of weight fingerprints, recorded for every checkpoint


def pending_measurements(info: CheckpointInfo, measurements: list[Measurement], out_dir) -> list[Measurement]:
    """The measurements of `info` with no valid result file in `out_dir` (an empty or truncated
    file, e.g. from a disk that filled up, is set aside under `out_dir/corrupt/` first), or one
    lacking the measurement's `columns` (written by an older scalefit: measured again, over it)."""
    todo = []
    for m in measurements:
        path = part_path(out_dir, info, m)
        if path.exists() and not part_is_valid(path):
            set_aside(path, out_dir)
        if not measured(path, m):
            todo.append(m)
    return todo


def measured(path: Path, measurement: Measurement) -> bool:
    """Whether `path` is a complete result file of `measurement`: valid Parquet holding its
    `columns` (one written by an older scalefit without them is measured again)."""
    return path.exists() and part_is_valid(path) and not missing_columns(path, measurement.columns)


def say_outdated(grid: list[CheckpointInfo], measurements: list[Measurement], out_dir) -> None:
    """One line for the results of the folder that lack columns their measurement now writes (the
    `se` of a folder measured before standard errors): those of `grid` are measured again, so the
    table never mixes rows with and without them; those of other checkpoints are named, with how
    to measure them again."""
    keys = {info.key for info in grid}
    again, other, lacking = 0, [], set()
    for m in measurements:
        for path in outdated_parts(out_dir, m):
            lacking.update(missing_columns(path, m.columns))
            key = path.parent.relative_to(Path(out_dir) / "parts").as_posix()
            if key in keys:
                again += 1
            else:
                other.append(path)
    if not again and not other:
        return
    what = ", ".join(sorted(lacking))
    line = (f"{out_dir}: {again + len(other)} result file(s) hold no {what} (measured by an earlier scalefit); "
            f"this run measures {again} of them again")
    if other:
        line += (f"; {len(other)} belong to checkpoints outside it (e.g. {_checkpoint_of(other[0], out_dir)}) and "
                 "keep none until a run that includes them (their --models/--steps) measures them again")
    warn(line)


def _checkpoint_of(path: Path, out_dir) -> str:
    """'model step N' of a result file, from its rows: its folder's name stands for a '/' in the
    model's name by '__', so 'my__model' read back from it would be 'my/model'. The folder's
    name where the file holds no row."""
    rows = pd.read_parquet(path, columns=["model", "step"])
    if len(rows):
        return f"{rows['model'].iloc[0]} step {int(rows['step'].iloc[0])}"
    return path.parent.relative_to(Path(out_dir) / "parts").as_posix()


def _fingerprint_row(info: CheckpointInfo, out_dir) -> dict | None:
    """Fingerprint the checkpoint's files once (written as its `fingerprints` part); its row."""
    from scalefit.sweep.integrity import checkpoint_folder, fingerprint_folder

    path = fingerprint_path(out_dir, info)
    if path.exists() and part_is_valid(path):
        return pd.read_parquet(path).iloc[0].to_dict()
    folder = checkpoint_folder(info)
    if folder is None:
        return None
    try:
        row = fingerprint_folder(folder)
    except (OSError, ValueError, KeyError) as exc:  # unreadable header: the loader will say more
        row = {"fingerprint": None, "hash": f"unavailable: {_one_line(exc)}", "n_tensors": None,
               "n_bytes": None, "sample": None}
    write_frame(_with_keys(pd.DataFrame([row]), info), path)
    return row


_FINGERPRINT_CACHE: dict[Path, tuple[int, str, int, str | None]] = {}  # path -> (mtime, model, step, fingerprint)


def _known_fingerprint(path: Path) -> tuple[str, int, str | None] | None:
    """(model, step, fingerprint) of one fingerprint file, read once per process and file version."""
    try:
        mtime = path.stat().st_mtime_ns
    except OSError:
        return None
    hit = _FINGERPRINT_CACHE.get(path)
    if hit is None or hit[0] != mtime:
        if not part_is_valid(path):
            return None
        row = pd.read_parquet(path, columns=["model", "step", "fingerprint"]).iloc[0]
        hit = _FINGERPRINT_CACHE[path] = (mtime, str(row["model"]), int(row["step"]), row["fingerprint"])
    return hit[1:]


def duplicate_of(info: CheckpointInfo, fingerprint: str | None, out_dir) -> str | None:
    """Another checkpoint of `out_dir` with the same fingerprint ('model step N'), or None.

    Two runs' step 0 (a shared initialization) does not count."""
    if not fingerprint:
        return None
    own = fingerprint_path(out_dir, info)
    for path in sorted((Path(out_dir) / "fingerprints").glob("*/*.parquet")):
        known = _known_fingerprint(path) if path != own else None
        if known is None or known[2] != fingerprint:
            continue
        model, step, _ = known
        if step == 0 and info.step == 0 and model != info.model:
            continue
        return f"{model} step {step}"
    return None


def measure_checkpoint(info: CheckpointInfo, measurements: list[Measurement], out_dir, *,
                       load: Callable = load_checkpoint, cleanup: Callable | None = None,
                       on_duplicate: str = "warn") -> dict:
    """Measure what is missing of one checkpoint into `out_dir`; the outcome as a plain dict.

    Safe to run again after a crash (a retried Ray task): only the missing result files are
    measured. The outcome: key, status (measured, done, failed, duplicate), error, tokens,
    seconds; a failure is also recorded in `out_dir/failures/`.
    """
    t0 = time.perf_counter()
    outcome = {"key": info.key, "model": info.model, "step": info.step, "status": "measured",
               "error": None, "tokens": 0, "seconds": 0.0}
    todo = pending_measurements(info, measurements, out_dir)
    if not todo:
        failure_path(out_dir, info).unlink(missing_ok=True)
        outcome["status"] = "done"
        return outcome
    sweep_stale(part_path(out_dir, info, todo[0]).parent)  # what a killed run left half-written
    model = None
    try:
        known = fingerprint_path(out_dir, info)
        if on_duplicate != "warn" and known.exists() and part_is_valid(known):
            twin = duplicate_of(info, pd.read_parquet(known)["fingerprint"].iloc[0], out_dir)
            if twin is not None:
                raise DuplicateCheckpoint(f"weights identical to {twin}")
        model, _tok = load(info)
        fill_parameter_counts(info, model)  # a spec without params: count them from the files
        row = _fingerprint_row(info, out_dir)
        twin = duplicate_of(info, row and row.get("fingerprint"), out_dir) if on_duplicate != "warn" else None
        if twin is not None:
            raise DuplicateCheckpoint(f"weights identical to {twin}")
        failed = []  # one measurement that raises (a hub task offline) leaves the others measured
        for m in todo:
            try:
                rows = m.fn(model, info)  # long rows: a DataFrame, or a list of row dicts
            except KeyboardInterrupt:
                raise
            except Exception as exc:  # noqa: BLE001 - recorded with the checkpoint's failure below
                failed.append((m.name, exc, traceback.format_exc(limit=5)))
                continue
            rows = _with_keys(pd.DataFrame(rows) if rows is not None else pd.DataFrame(), info)
            write_frame(rows, part_path(out_dir, info, m))
            if "metric" in rows and "n_tokens" in rows:
                outcome["tokens"] += int(rows.loc[rows["metric"] == "loss", "n_tokens"].fillna(0).sum())
        if failed:
            raise MeasurementsFailed(failed, len(todo))
        failure_path(out_dir, info).unlink(missing_ok=True)
    except KeyboardInterrupt:
        raise
    except MeasurementsFailed as exc:  # the checkpoint failed; the parts of the others are kept
        outcome.update(status="failed", error=str(exc))
        _record_failure(out_dir, info, outcome["error"], exc.traces)
    except DuplicateCheckpoint as exc:
        if on_duplicate == "skip":
            outcome.update(status="duplicate", error=str(exc))
        else:
            outcome.update(status="failed", error=_one_line(exc))
            _record_failure(out_dir, info, outcome["error"], traceback.format_exc(limit=1))
    except Exception as exc:  # noqa: BLE001 - any loader/measurement failure is recorded
        outcome.update(status="failed", error=_one_line(exc))
        _record_failure(out_dir, info, outcome["error"], traceback.format_exc(limit=5))
    finally:
        survivor = _weak(model)
        del model
        if survivor is not None and survivor() is not None:
            gc.collect()  # a reference cycle holds the model: free it before the next one loads
        _empty_cuda_cache()
    if cleanup is not None and outcome["status"] == "measured":
        cleanup(info)
    outcome["seconds"] = time.perf_counter() - t0
    return outcome


def _record_failure(out_dir, info: CheckpointInfo, error: str, trace: str = "") -> None:
    write_json(failure_path(out_dir, info), {"model": info.model, "step": info.step, "location": info.location,
                                             "error": error, "traceback": trace})


class SweepProgress:
    """The driver's view of a running sweep: the bar over finished checkpoints and the summary."""

    def __init__(self, total: int, done: int, progress: bool, summary: SweepSummary):
        from tqdm import tqdm

        self.bar = tqdm(total=total, initial=done, unit="ckpt", disable=not progress, dynamic_ncols=True,
                        file=sys.stderr)
        self.summary, self.tokens, self.busy = summary, 0, 0.0

    def describe(self, text: str) -> None:
        self.bar.set_description(text)

    def finished(self, outcome: dict, info: CheckpointInfo) -> None:
        """Count one checkpoint's outcome (and print its failure)."""
        from tqdm import tqdm

        status = outcome["status"]
        if status in ("measured", "done"):
            self.summary.measured.append(info.key)
        elif status == "duplicate":
            self.summary.duplicates.append(info.key)
            tqdm.write(f"skipped: {info.model} step {info.step}: {outcome['error']}", file=sys.stderr)
        else:
            self.summary.failed.append({"model": info.model, "step": info.step, "location": info.location,
                                        "error": outcome["error"]})
            tqdm.write(f"failed: {info.model} step {info.step}: {outcome['error']}", file=sys.stderr)
        self.tokens += outcome.get("tokens", 0)
        self.busy += outcome.get("seconds", 0.0)
        self.bar.update(1)
        if self.busy > 0 and self.tokens:
            self.bar.set_postfix_str(f"{self.tokens / self.busy:,.0f} tok/s")

    def close(self) -> None:
        self.bar.close()


def warn_if_changed_since_measured(info: CheckpointInfo, fingerprint: Path, out_dir) -> None:
    """A local checkpoint whose weight files are newer than its recorded fingerprint (retrained or
    rewritten in place after it was measured) is said once: a re-run skips it as done, and its
    results would otherwise stand for weights the folder no longer holds (a stat per file, no
    hashing)."""
    if not info.path or not Path(info.path).is_dir():
        return
    files = [f for pattern in ("*.safetensors", "*.bin") for f in Path(info.path).glob(pattern)]
    newest = max((f.stat().st_mtime for f in files), default=0.0)
    if newest > fingerprint.stat().st_mtime:
        warn(f"{info.model} step {info.step}: the weight files in {info.path} are newer than its results in "
             f"{out_dir} (changed or copied since it was measured); they are kept as measured: to measure "
             f"it again, delete {Path(out_dir) / 'parts' / info.key} and {fingerprint}")


def run_sweep(grid: list[CheckpointInfo], measurements: list[Measurement], out_dir, *,
              load: Callable = load_checkpoint, cleanup: Callable | None = None,
              progress: bool = True, executor=None, on_duplicate: str = "warn") -> SweepSummary:
    """Measure every checkpoint of `grid` with every measurement, resuming from `out_dir`.

    `load(info)` returns (model, tokenizer) and may raise: the error is recorded in
    `out_dir/failures/` and the sweep goes on. `cleanup(info)` runs after a checkpoint is measured
    (e.g. delete it from the hub cache). `executor` (a `scalefit.sweep.executors.Executor`) runs
    the checkpoints elsewhere (Ray); None measures them here, one after another.
    """
    names = [m.name for m in measurements]
    if len(set(names)) != len(names):
        raise InputError(f"sweep: measurement names must be unique, got {names}")
    if on_duplicate not in ON_DUPLICATE:
        raise InputError(f"--on-duplicate {on_duplicate}: use warn, skip or fail")
    out_dir = Path(out_dir)
    summary = SweepSummary()
    start = time.perf_counter()
    hub.reset()  # a new sweep tries the hub again
    pending = []
    for info in grid:  # what a previous run finished is skipped up front, so the ETA is honest
        if pending_measurements(info, measurements, out_dir):
            pending.append(info)
        else:
            known = fingerprint_path(out_dir, info)
            if not part_is_valid(known):  # lost or emptied (a full disk): hash the files again
                if known.exists():
                    set_aside(known, out_dir)
                _fingerprint_row(info, out_dir)
            else:
                warn_if_changed_since_measured(info, known, out_dir)
            summary.skipped.append(info.key)
            failure_path(out_dir, info).unlink(missing_ok=True)
    tracker = SweepProgress(len(grid), len(summary.skipped), progress, summary)
    try:
        if executor is not None and pending:
            executor.run(pending, measurements, out_dir, load=load, cleanup=cleanup,
                         on_duplicate=on_duplicate, tracker=tracker)
        else:
            for info in pending:
                tracker.describe(f"{info.model} step {info.step}")
                outcome = measure_checkpoint(info, measurements, out_dir, load=load, cleanup=cleanup,
                                             on_duplicate=on_duplicate)
                tracker.finished(outcome, info)
    finally:
        tracker.close()
    summary.seconds = time.perf_counter() - start
    return summary


def _weak(model):
    """A weak reference to a loaded model, None for what cannot have one (a folder path, None).
    A full gc pass costs 0.3-0.7 s in a process holding torch and transformers; refcounting frees
    a model that no cycle holds, so the sweep collects only when the model outlives its `del`."""
    try:
        return weakref.ref(model)
    except TypeError:
        return None


def _empty_cuda_cache() -> None:
    torch = sys.modules.get("torch")  # only a loaded model can hold CUDA memory
    if torch is not None and torch.cuda.is_available():
        torch.cuda.empty_cache()


def sweep_checkpoints(grid: list[CheckpointInfo], measurements: list[Measurement], out_dir, *,
                      load: Callable = load_checkpoint, cleanup: Callable | None = None,
                      progress: bool = True, meta: dict | None = None, tables=None,
                      report: Callable[[SweepResult], list] | None = None, executor=None,
                      on_duplicate: str = "warn") -> SweepResult:
    """Measure `grid` with `measurements` into `out_dir` (resumable), then rebuild its tables.

    The tables (`tables`: names to write, default every table found; the `fingerprints` of the
    checkpoints always), `failures.csv`, `integrity.csv` and the `report(result)` files are
    rebuilt from the parts on disk at the end of every run. `meta` (the run metadata) gains the
    outcome: finished, interrupted, counts, seconds. A folder holds one measurement: options that
    differ from those its results were measured with are refused (`check_options`). On Ctrl-C
    the tables are still rebuilt from what was measured, then `SweepInterrupted` (a
    KeyboardInterrupt carrying the result) is raised.
    """
    from scalefit.sweep.runinfo import now

    if on_duplicate not in ON_DUPLICATE:
        raise InputError(f"--on-duplicate {on_duplicate}: use warn, skip or fail")
    made = not Path(out_dir).exists()
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    new = check_options(measurements, out_dir)
    say_outdated(grid, measurements, out_dir)
    sweep_stale(out_dir)  # temporaries of tables a killed run was writing
    meta = {} if meta is None else meta
    meta.setdefault("executor", executor.describe() if executor is not None else "local")
    meta.setdefault("on_duplicate", on_duplicate)
    interrupted, summary = False, None
    try:
        summary = run_sweep(grid, measurements, out_dir, load=load, cleanup=cleanup, progress=progress,
                            executor=executor, on_duplicate=on_duplicate)
    except KeyboardInterrupt:
        interrupted = True
    except Exception:  # the sweep could not start (a Ray cluster not there): a folder it made is not left empty
        forget_unmeasured([m for m in measurements if m.name in new], out_dir)
        if made and not any(Path(out_dir).iterdir()):
            Path(out_dir).rmdir()
        raise
    forget_unmeasured([m for m in measurements if m.name in new], out_dir)
    meta.update({"finished": now(), "interrupted": interrupted})
    if interrupted:  # each checkpoint of the grid measured in full, or in part (its loss, not its weights)
        meta.update(interrupted_counts(grid, measurements, out_dir))
    if summary is not None:
        meta.update({"measured": len(summary.measured), "skipped": len(summary.skipped),
                     "failed": len(summary.failed), "duplicates_skipped": len(summary.duplicates),
                     "seconds": round(summary.seconds, 3)})
    try:
        result = _rebuild(out_dir, tables, summary, meta, interrupted, on_duplicate, report)
    except SweepInterrupted:
        raise
    except KeyboardInterrupt:  # Ctrl-C while the tables were rebuilt: the parts are all on disk
        raise SweepInterrupted(None, out_dir) from None
    if interrupted:
        raise SweepInterrupted(result)
    return result


def interrupted_counts(grid, measurements, out_dir) -> dict:
    """What a stopped sweep's grid holds: {"whole": checkpoints with a result of every measurement,
    "partly": {"model step N": [the measurements it lacks]} for those with some but not all}. A
    result counts as pending_measurements counts it: a valid file holding the measurement's columns
    (an empty or truncated one is not set aside here: the re-run does so)."""
    whole, partly = 0, {}
    for info in grid:
        lacks = [m.name for m in measurements if not measured(part_path(out_dir, info, m), m)]
        if not lacks:
            whole += 1
        elif len(lacks) < len(measurements):
            partly[key_name(info.key)] = lacks
    return {"whole": whole, "partly": partly}


def _rebuild(out_dir, tables, summary, meta, interrupted, on_duplicate, report) -> SweepResult:
    """The tables, failures.csv, integrity.csv and the report, rebuilt from the parts on disk; each
    measured table with `duplicate_of` (scalefit.integrity.mark_duplicates: the other label(s) of a
    checkpoint whose weights another one holds too, empty for the rest)."""
    from scalefit.integrity import integrity_flags, marked_duplicates

    found = collect_parts([out_dir])
    if tables is not None:
        found = {name: found[name] for name in tables if name in found}
    fingerprints = collect_fingerprints([out_dir])
    if fingerprints is not None:
        found[FINGERPRINTS] = fingerprints
    failures = collect_failures([out_dir])
    unknown = unknown_parameter_counts(found, failures)
    if unknown:
        warn(unknown)
    flags = integrity_flags(fingerprints)
    found = marked_duplicates(found, flags)
    result = SweepResult(out_dir=str(out_dir), summary=summary, tables=found, failures=failures,
                         meta=meta, interrupted=interrupted, integrity=flags, on_duplicate=on_duplicate)
    result.files = [*write_tables(found, out_dir), write_failures(failures, out_dir),
                    write_frame(flags, Path(out_dir) / "integrity.csv")]
    if report is not None:
        result.files += list(report(result))
    return result


OPTIONS_FILE = "measurements.json"


def recorded_options(out_dir) -> dict:
    """{measurement name: the options its results were measured with} of a sweep folder
    (`measurements.json`; empty when there is none)."""
    import json

    path = Path(out_dir) / OPTIONS_FILE
    try:
        known = json.loads(path.read_text()) if path.is_file() else {}
    except json.JSONDecodeError:
        known = {}
    return known if isinstance(known, dict) else {}


def check_options(measurements: list[Measurement], out_dir) -> set[str]:
    """Refuse to add results measured with other options to a folder; record the options.

    `out_dir/measurements.json` holds, per measurement name, the options its results were
    measured with (`Measurement.options`, keyed by the command-line option, or by a phrase such
    as 'the content of --dataset val' for a fact that no option states). A measurement already
    there with a different value is an InputError naming the option and both values. Returns the
    names recorded for the first time (`forget_unmeasured` drops those that measured nothing). A
    recorded measurement with no result in the folder (a second Ctrl-C or a kill between recording
    and forgetting) binds nothing: it is recorded afresh with today's options. A record that lacks
    options this run records (an earlier scalefit's) is said once (`say_unrecorded`).
    """
    from scalefit.sweep.parts import has_results

    path = Path(out_dir) / OPTIONS_FILE
    known = recorded_options(out_dir)
    stale = set()  # recorded, but no result in the folder (a kill before forget_unmeasured ran)
    for m in measurements:
        before = known.get(m.name)
        if before is None:
            continue
        for option, value in m.options.items():
            if option in before and _plain(before[option]) != _plain(value):
                if not has_results(out_dir, m):  # nothing was measured with the old value: nothing to mix
                    stale.add(m.name)
                    break
                was = before[option]
                if not option.startswith("-"):  # a fact of the input, not an option to give again
                    raise InputError(f"{option} changed since {out_dir} was measured ({m.name}: {shown_option(was)} "
                                     f"then, {shown_option(value)} now); a sweep folder holds one measurement: "
                                     "measure into a new --out")
                if isinstance(value, bool) and isinstance(was, bool):  # a flag: given or not
                    now, then = f"{option} {'given' if value else 'not given'}", \
                        f"{'with' if was else 'without'} {option}"
                else:
                    now, then = f"{option} {shown_option(value)}", f"with {option} {shown_option(was)}"
                raise InputError(f"{now}: {out_dir} was measured {then} ({m.name}); a sweep folder holds "
                                 f"one measurement: re-run {then} or measure into a new --out")
    say_unrecorded(measurements, known, out_dir)  # every recorded option matched: those not recorded

    def record(m):  # today's options over the folder's (which keep the facts of models not in this run)
        kept = known.get(m.name) if m.name not in stale and isinstance(known.get(m.name), dict) else {}
        return {**kept, **{k: _plain(v) for k, v in m.options.items()}}
    updated = {**known, **{m.name: record(m) for m in measurements}}
    if updated != known:
        write_json(path, updated)
    return {m.name for m in measurements if m.name not in known or m.name in stale}


def say_unrecorded(measurements: list[Measurement], known: dict, out_dir) -> list[str]:
    """One warning naming the options this run records of its measurements (--device, the tokenizer
    of a model, the tokens and LR of a model in --suite, ...) that the folder's record ``known``
    lacks for measurements it holds results of: written by an earlier scalefit, before it recorded
    them, so those results cannot be checked against them; check_options records this run's, so
    later runs are. An option whose older stand-in is recorded (`Measurement.checked_by`) is
    checked through it; a fact of one model (`Measurement.of_model`) is lacking only where the folder
    holds that model's results (else this run is its first). Called by check_options once every
    recorded option matched. Returns the options named."""
    from scalefit.sweep.parts import has_model_results, has_results

    absent: dict[str, None] = {}  # the options, in order of first appearance
    names = []
    for m in measurements:
        before = known.get(m.name)
        if not isinstance(before, dict):
            continue  # a record to be made afresh
        lacking = [k for k in m.options if k not in before and m.checked_by.get(k) not in before
                   and (k not in m.of_model or has_model_results(out_dir, m, m.of_model[k]))]
        if lacking and has_results(out_dir, m):  # nothing measured: nothing to check against
            absent.update(dict.fromkeys(lacking))
            names.append(m.name)
    if absent:
        warn(f"{out_dir}: recorded by an earlier scalefit without {', '.join(absent)} ({', '.join(names)}); "
             "its results are not checked against them, and this run records them for later runs")
    return list(absent)


def forget_unmeasured(measurements: list[Measurement], out_dir) -> None:
    """Drop from `measurements.json` the measurements that have no result in the folder (recorded
    by a run that measured nothing, e.g. an option the model refused): a corrected re-run is not
    then refused as 'measured with' a setting that never produced a number. A file left with no
    measurement is removed."""
    from scalefit.sweep.parts import has_results

    known = recorded_options(out_dir)
    gone = [m.name for m in measurements if m.name in known and not has_results(out_dir, m)]
    kept = {k: v for k, v in known.items() if k not in gone}
    if gone and kept:
        write_json(Path(out_dir) / OPTIONS_FILE, kept)
    elif gone:  # nothing measured in the folder: no file at all, not '{}'
        (Path(out_dir) / OPTIONS_FILE).unlink(missing_ok=True)


def _plain(value):
    """``value`` as OPTIONS_FILE holds it once read back (write_json's strict JSON: NaN as null)."""
    from scalefit.report import as_read_back

    return as_read_back(value)


def shown_option(value) -> str:
    """An option's value as an error message shows it: None is the command's default."""
    return "(default)" if value is None else str(value)

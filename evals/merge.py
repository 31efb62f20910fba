"""Merge of sweep folders (shards of one grid, or repeated sweeps) into one set of tables, refused where
their suites, recorded options or columns differ, with a warning for the shards that are missing."""
from __future__ import annotations

from pathlib import Path

from scalefit.atomic import staged_output
from scalefit.errors import InputError
from scalefit.evals.evalset import SE_COLUMNS
from scalefit.evals.loss import CROSS_ENTROPY_RECORD
from scalefit.evals.recorded_facts import recorded_head
from scalefit.options import output_folder, split_values
from scalefit.sweep.engine import SweepResult, recorded_options, shown_option
from scalefit.sweep.weights import weights_source


def merge(dirs, out_dir) -> SweepResult:
    """Consolidate sweep folders (shards) into one set of tables, report and run.json in out_dir."""
    from scalefit.sweep.parts import found_parts, incomplete_checkpoints, merge_sweeps
    from scalefit.sweep.report import write_sweep_report
    from scalefit.sweep.runinfo import now, read_metadata

    unique: dict[Path, str] = {}  # a folder named twice (ma, ma/, ./ma) is merged once
    for d in map(str, dirs):
        unique.setdefault(Path(d).resolve(), d)
    dirs = list(unique.values())
    for d in dirs:
        if not Path(d).is_dir():
            raise InputError(f"{d}: no such folder")
        if not (Path(d) / "parts").is_dir():
            merged = [r for r in read_metadata([d]) if r.get("merged")]
            hint = (f"; it is a merged folder (tables only): merge the sweep folders it came from "
                    f"({', '.join(map(str, merged[0].get('folders') or []))})") if merged else ""
            raise InputError(f"{d}: not a sweep folder (no parts/ inside){hint}")
    runs = read_metadata(dirs)
    check_mergeable(dirs, runs)
    output_folder("--out", out_dir)
    meta = {"merged": now(), "folders": dirs, "runs": runs, "shard": None,  # each fact as the runs recorded it
            **{k: ", ".join(sorted({str(r[k]) for r in runs if r.get(k) is not None})) or None
               for k in ("suite", "device", "dtype", "seed", "context", "stride", "max_tokens")}}
    if (Path(out_dir) / "parts").is_dir():
        raise InputError(f"--out {out_dir}: is a sweep folder (parts/ inside); merge into a new folder")
    # written aside and moved in at the end: a merge interrupted while writing leaves the folder
    # as it was, and tables an earlier merge wrote that this one does not are removed
    with staged_output(out_dir) as staging:
        found = found_parts(dirs)
        tables = merge_sweeps(dirs, staging, found)
        failures = tables.pop("failures")
        flags = tables.pop("integrity")
        meta["rows"] = {k: len(v) for k, v in tables.items()}
        meta["failed"] = len(failures)
        # measured: every measurement the folders hold; a shard stopped mid-checkpoint left some out
        # (judged within the folders whose run was stopped: elsewhere a measurement a checkpoint
        # lacks is one its run did not ask for, counted per measurement instead)
        bare, held = unrecorded(runs, dirs), {key for key, _ in found}
        meta["measured"], lacking = incomplete_checkpoints(found, failures, judged=stopped_parts(runs, dirs, bare))
        meta["incomplete"], meta["incomplete_checkpoints"] = len(lacking), lacking
        meta["checkpoints"] = len(held)
        meta["partly_measured"] = measurement_counts(found)
        meta["warnings"] = coverage_warnings(runs, dirs, held=held, bare=bare)
        files = write_sweep_report(staging, tables, failures, meta, "run.json", integrity=flags)
        files = [Path(out_dir) / Path(f).relative_to(staging) for f in files]
        for name in set(MERGED_TABLES) - set(tables):
            for ext in ("parquet", "csv"):
                (Path(out_dir) / f"{name}.{ext}").unlink(missing_ok=True)
    return SweepResult(out_dir=str(out_dir), summary=None, tables=tables, failures=failures, meta=meta,
                       files=files, integrity=flags)


MERGED_TABLES = ("evals", "weights", "fingerprints")  # the tables a merge writes when it has rows for them


def unrecorded(runs: list[dict], dirs) -> list[str]:
    """The folders among `dirs` that no run*.json of `runs` belongs to (a sweep stopped while it
    wrote its tables)."""
    return [str(d) for d in dirs if not any(run.get("folder") == str(d) for run in runs)]


def stopped_parts(runs: list[dict], dirs, bare: list[str] | None = None) -> dict[str, set[str]]:
    """{checkpoint key: the result file names its run asked} of the folders whose sweep was
    interrupted (or left no run*.json): the names held anywhere in that folder, and those (held
    in any merged folder) of the measurements its measurements.json records; there a checkpoint
    lacking one may have been stopped part way (a key in several such folders: the names of all
    of them). A folder whose sweep finished measured what it was asked. `bare`: `unrecorded(runs,
    dirs)` where it was found already."""
    from scalefit.sweep.parts import named_parts

    stopped = list(unrecorded(runs, dirs) if bare is None else bare)
    stopped += [run["folder"] for run in runs if run.get("interrupted")]
    every = {path.name for d in dirs for path in (Path(d) / "parts").rglob("*.parquet")}
    judged: dict[str, set[str]] = {}
    for d in dict.fromkeys(stopped):
        paths = list((Path(d) / "parts").rglob("*.parquet"))
        names = {path.name for path in paths} | named_parts(every, recorded_options(d))
        for path in paths:
            judged.setdefault(str(path.parent.relative_to(Path(d) / "parts")), set()).update(names)
    return judged


def measurement_counts(found: dict) -> dict[str, int]:
    """{measurement: checkpoints that hold it} for the measurements some of the merged checkpoints
    lack (asked of part of the grid only, e.g. a dataset added for a few steps); {} when every
    checkpoint holds every one."""
    from scalefit.sweep.parts import measurement_of

    held: dict[str, set[str]] = {}
    for key, name in found:
        held.setdefault(measurement_of(name), set()).add(key)
    every = set().union(*held.values()) if held else set()
    return {name: len(keys) for name, keys in sorted(held.items()) if keys != every}


def grid_inputs(run: dict) -> tuple:
    """What `run_grid` rebuilds a run's grid from: (the suite spec paths to try, the model names
    or None, --steps, --checkpoint); the shards of one run share them."""
    options = run.get("options") or {}
    suite = options.get("suite")
    models = options.get("models") or None
    if isinstance(models, str):
        models = [models]
    tries = [suite] if not suite or Path(str(suite)).is_absolute() else [suite, str(Path(run["folder"]).parent / suite)]
    return (tuple(tries), tuple(split_values(models)) or None, options.get("steps") or "all",
            tuple(options.get("checkpoint") or ()))


def run_grid(run: dict, inputs: tuple | None = None) -> list[str] | None:
    """The checkpoint keys of a run's whole grid (all its shards), rebuilt from its recorded
    --suite/--models/--steps/--checkpoint (the suite spec path as given, else beside the folder's
    parent); None where it cannot be rebuilt (the spec moved, an older run.json). `inputs`:
    `grid_inputs(run)` where it was found already."""
    import warnings

    from scalefit.sweep.grid import sweep_grid

    tries, names, steps, local = grid_inputs(run) if inputs is None else inputs
    for spec in tries:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                _, grid, _ = sweep_grid(spec, list(names) if names else None, steps, None, local)
            return [info.key for info in grid]
        except Exception:  # noqa: BLE001 - any failure: the grid is not known
            continue
    return None


def coverage_warnings(runs: list[dict], dirs=(), held=None, bare: list[str] | None = None) -> list[str]:
    """What merged folders leave out of their grid: the checkpoints of a sharded run's grid that
    no merged folder holds (any mix of shards and whole sweeps covers it), named; and runs that
    were interrupted (from their run.shard-K-of-N.json). Where a sharded run's grid cannot be
    rebuilt (its suite spec moved), the shards of K/N not among the folders are named instead.
    A folder without any run*.json
    (Ctrl-C while its tables were written) is named: its results are merged, but which shard it
    holds is not known. `held`: the checkpoint keys the merged folders hold (None: not judged);
    `bare`: `unrecorded(runs, dirs)` where it was found already. A grid is rebuilt once per
    distinct `grid_inputs` (once for all the shards of one run)."""
    from scalefit.sweep.parts import key_name

    out, shards, grids, rebuilt = [], {}, {}, {}
    bare = unrecorded(runs, dirs) if bare is None else bare
    for d in bare:
        out.append(f"{d}: no run*.json (its sweep was stopped while it wrote its tables); its results are "
                   "merged, but which shard it holds is unknown: re-run its command there to finish it")
    for run in runs:
        k, _, n = str(run.get("shard") or "").partition("/")
        if k.isdigit() and n.isdigit() and int(n) > 1:
            shards.setdefault(int(n), set()).add(int(k))
            if held is not None:
                inputs = grid_inputs(run)
                key = repr(inputs)  # --steps may be recorded as a list
                if key not in rebuilt:
                    rebuilt[key] = run_grid(run, inputs)
                grid = rebuilt[key]
                if grid is not None:
                    grids.setdefault(int(n), set()).update(grid)
        if run.get("interrupted"):
            out.append(f"{run['folder']}/{run['file']}: that sweep was interrupted; re-run it to measure the rest")
    for n, found in sorted(shards.items()):
        if n in grids:
            missing = sorted(grids[n] - set(held))
            if missing:
                named = ", ".join(key_name(k) for k in missing[:5]) + (f" and {len(missing) - 5} more"
                                                                      if len(missing) > 5 else "")
                absent = sorted(set(range(n)) - found)  # said as before where whole shards are missing too
                shards_said = (f"shard(s) {', '.join(f'{k}/{n}' for k in absent)} missing "
                               f"(found {', '.join(f'{k}/{n}' for k in sorted(found))}); " if absent else "")
                out.append(f"the merged {'shards' if absent else 'folders'} do not cover the grid: {shards_said}"
                           f"{len(missing)} of the {len(grids[n])} checkpoints of the {n} shards' grid are in "
                           f"none of the folders ({named}); "
                           + (f"unless {', '.join(bare)} holds them, " if bare else "")
                           + "they are not in the tables")
            continue
        missing = sorted(set(range(n)) - found)
        if missing:
            out.append(f"the merged shards do not cover the grid: shard(s) {', '.join(f'{k}/{n}' for k in missing)} "
                       f"missing (found {', '.join(f'{k}/{n}' for k in sorted(found))}); "
                       + (f"unless {', '.join(bare)} holds them, " if bare else "")
                       + "their checkpoints are not in the tables")
    return out


def check_mergeable(dirs, runs: list[dict]) -> None:
    """Refuse to merge folders of different suites, or a measurement recorded with other options
    in one folder than in another (the merged table would mix settings, and a result found in
    both would be taken from one of them silently): InputError naming the option and the folders."""
    suites = {}
    for run in runs:  # a merged folder's run.json lists the runs it was merged from
        for one in run.get("runs") or [run]:
            if isinstance(one, dict) and one.get("suite") is not None and one.get("merged") is None:
                suites.setdefault(str(one["suite"]), run["folder"])
    if len(suites) > 1:
        (a, da), (b, db) = list(suites.items())[:2]
        raise InputError(f"eval merge: {da} measured suite '{a}' and {db} suite '{b}'; "
                         "only folders of one suite merge")
    seen: dict[str, tuple[str, dict]] = {}
    for d in dirs:
        for name, options in recorded_options(d).items():
            if name not in seen:
                seen[name] = (d, options)
                continue
            first, before = seen[name]
            sources = weights_source(before), weights_source(options)
            if name == "weights" and sources[0] != sources[1]:
                raise InputError(f"eval merge: the weight statistics in {first} are of {sources[0]} and those in {d} "
                                 f"of {sources[1]}; only folders measured with the same options merge")
            heads = recorded_head(before), recorded_head(options)  # the flag's spelling is not compared
            if None not in heads and heads[0] != heads[1]:
                raise InputError(f"eval merge: {name} was scored by the cross-entropy head {heads[0]} in {first} and "
                                 f"{heads[1]} in {d}; only folders measured with the same options merge")
            for option in sorted(set(before) & set(options) - {"--cross-entropy", CROSS_ENTROPY_RECORD}):
                if option == "--dataset" and f"the content of --dataset {name.split(':', 1)[-1]}" in options:
                    continue  # the same data elsewhere on disk: its content is compared
                if before[option] != options[option]:
                    raise InputError(f"eval merge: {name} was measured with {option} {shown_option(before[option])} "
                                     f"in {first} and {shown_option(options[option])} in {d}; only folders "
                                     "measured with the same options merge")
    check_same_columns(dirs)


def check_same_columns(dirs) -> None:
    """Refuse to merge results of one measurement some of which hold no standard error (written
    by a scalefit from before `se`) with others that do: the merged table would quote an
    uncertainty for half its rows. A re-run of the sweep in the folder measures them again."""
    from scalefit.sweep.parts import missing_columns, part_is_valid

    found: dict[str, dict[bool, list]] = {}  # result file name -> {lacks se: [(folder, path) of each such file]}
    for d in dirs:
        for path in sorted((Path(d) / "parts").rglob("evals--*.parquet")):
            if part_is_valid(path):
                lacks = bool(missing_columns(path, SE_COLUMNS))
                found.setdefault(path.name, {}).setdefault(lacks, []).append((d, path))
    for name, by in found.items():
        if len(by) == 2:  # named as on disk: the measurement's name is not recoverable from it
            old, new = by[True], by[False]
            stale = ", ".join(str(d) for d in dict.fromkeys(d for d, _ in old))
            fresh = ", ".join(str(d) for d in dict.fromkeys(d for d, _ in new))
            raise InputError(f"eval merge: {len(old)} result file(s) {name} in {stale} hold no "
                             f"{'/'.join(SE_COLUMNS)} (measured by an earlier scalefit; "
                             f"{'e.g. ' if len(old) > 1 else ''}{old[0][1]}), those in {fresh} do; "
                             f"re-run the sweep of {stale} (its results without se are measured again), "
                             "then merge")

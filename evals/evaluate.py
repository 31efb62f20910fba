"""Evaluate a suite end to end: pick checkpoints, build measurements, sweep, write tables and report.

This is what `scalefit eval` runs, as one plain function a notebook can call too: the options
become a checkpoint grid (`sweep.grid`) and measurements from the registry (`loss`, `tasks`,
`weights`), and the one engine function `sweep_checkpoints` measures them. The sweep's
per-checkpoint parts are the record; the consolidated tables (`evals`, `weights`), `failures.csv`,
`evals_wide.csv`, `report.md` and the run metadata are rebuilt from them at the end of every run,
including an interrupted one.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path

import pandas as pd

import scalefit.evals.downstream  # noqa: F401  (registers the `tasks` measurement)
from scalefit.atomic import staged_output
from scalefit.errors import InputError, a_type, suggestion
from scalefit.options import (nonnegative_int, output_folder, positive_int, split_values,
                              thread_count)
from scalefit.evals.evalset import SE_COLUMNS
from scalefit.evals.grid_checks import check_positions, check_token_ids, tokenizer_identities
from scalefit.evals.loss import CROSS_ENTROPY_RECORD, check_cross_entropy
from scalefit.evals.measures import parse_dataset
from scalefit.evals.recorded_facts import (cross_entropy_record, dataset_reading, recorded_head, suite_facts,
                                           suite_identity)
from scalefit.evals.tokens import content_digest, is_token_file, iter_documents, open_token_file, stored_digests
from scalefit.sweep.checkpoints import cleanup_after_measuring, load_checkpoint, pick_device_dtype
from scalefit.sweep.engine import ON_DUPLICATE, OPTIONS_FILE, SweepResult, recorded_options
from scalefit.sweep.grid import sweep_grid
from scalefit.sweep.measurements import build_measurements
from scalefit.sweep.weights import (check_weights_source, stored_weights,  # registers `weights` too
                                    weights_source)


@dataclass
class EvalOptions:
    """Everything a sweep of `scalefit eval` can be told (defaults as on the command line)."""

    suite: str
    out_dir: str
    models: list[str] | None = None
    steps: str = "all"
    datasets: list[str] = field(default_factory=list)   # NAME=PATH
    train_dataset: str | None = None
    text_field: str = "text"                            # JSONL field holding a document
    tasks: list[str] = field(default_factory=list)      # NAME or NAME=FILE.jsonl
    task_limit: int | None = None
    num_fewshot: int | None = None
    weights: bool = False
    no_families: bool = False                           # with weights: moments and spectra only
    no_spectra: bool = False                            # with weights: no eigenvalues of W^T W
    max_tokens: int | None = None
    context: int | None = None
    stride: int | None = None
    batch_size: int | None = None
    device: str | None = None
    dtype: str | None = None
    cross_entropy: str = "auto"                         # a head of scalefit.evals.loss.CROSS_ENTROPY
    allow_bin: bool = False
    cleanup: bool = False
    shard: str | None = None
    cache_dir: str | None = None
    hub_cache: str | None = None
    seed: int = 0
    progress: bool = True
    executor: str = "local"                             # local, ray or ray:ADDRESS
    on_duplicate: str = "warn"                          # warn, skip or fail
    threads: int | None = None                          # torch CPU threads (of each Ray task too)

    def __post_init__(self):
        """One name where a list goes is a list of it, as on the command line (models and tasks
        take 'a,b' too): iterated, 'pythia-14m' was the unknown models 'p', 'y', ...; steps
        may be a list of steps."""
        if isinstance(self.models, str):
            self.models = split_values([self.models]) or None
        if isinstance(self.tasks, str):
            self.tasks = split_values([self.tasks])
        if isinstance(self.datasets, str):
            self.datasets = [self.datasets]
        if isinstance(self.steps, (list, tuple)):  # [0, 1000]: the command's '0,1000'
            self.steps = ",".join(str(s) for s in self.steps)


def _positive(name: str, value):
    if value is not None:
        positive_int(f"--{name}", value)  # 'a' raised int()'s ValueError, 2.5 passed as 2


def plan(opts: EvalOptions):
    """Validate the options before anything loads: (suite, grid of this shard, measurements, device, dtype, shard)."""
    for name in ("max_tokens", "context", "stride", "batch_size", "task_limit"):
        _positive(name.replace("_", "-"), getattr(opts, name))
    if opts.num_fewshot is not None:
        nonnegative_int("--num-fewshot", opts.num_fewshot)
    nonnegative_int("--seed", opts.seed)
    if opts.threads is not None:
        thread_count("--threads", opts.threads)
    for name in ("cache_dir", "hub_cache"):  # 5 raised pathlib's TypeError deep in the sweep
        if getattr(opts, name) is not None and not isinstance(getattr(opts, name), (str, os.PathLike)):
            raise InputError(f"--{name.replace('_', '-')}: {name} is {a_type(getattr(opts, name))}; "
                             "give a folder's path, or None for the default")
    if not isinstance(opts.out_dir, (str, os.PathLike)):
        raise InputError(f"--out: out_dir is {a_type(opts.out_dir)}; give the folder to write the "
                         "sweep's tables into (its resume state lives there too)")
    if opts.stride and opts.context and opts.stride > opts.context:
        raise InputError(f"--stride {opts.stride} is longer than --context {opts.context}")
    suite, grid, shard = sweep_grid(opts.suite, opts.models, opts.steps, opts.shard)
    datasets = [replace(parse_dataset(d, opts.train_dataset), text_field=opts.text_field) for d in opts.datasets]
    names = [d.name for d in datasets]
    if len(set(names)) != len(names):
        raise InputError(f"--dataset: each name once, got {', '.join(names)}")
    if opts.text_field != "text" and not any(d.path.is_dir() or d.path.suffix.lower() == ".jsonl"
                                             for d in datasets):  # it would be silently ignored
        raise InputError(f"--text-field {opts.text_field}: only a JSONL --dataset (or a folder of them) "
                         f"has fields; given: {', '.join(str(d.path) for d in datasets) or 'no --dataset'}")
    for d in datasets:  # token files, JSONL fields and empty files are checked now, not once per checkpoint
        try:
            if is_token_file(d.path, d.token_dtype):
                if open_token_file(d.path, d.token_dtype).n_tokens < 2:
                    raise InputError(f"{d.path}: the token file holds fewer than 2 tokens")
            elif not any(doc.strip() for doc in iter_documents(d.path, d.text_field)):
                raise InputError(f"{d.path}: no text (the file is empty or only whitespace)")
        except InputError as exc:  # the file's own complaint, under the --dataset that named it
            raise InputError(f"--dataset {d.name}: {exc}") from None
    if opts.train_dataset and opts.train_dataset not in names:
        raise InputError(f"--train-dataset {opts.train_dataset}: no --dataset has that name "
                         f"(given: {', '.join(names) or 'none'})")
    if not (datasets or opts.tasks or opts.weights):
        raise InputError("nothing to measure: give --dataset NAME=PATH, --tasks or --weights")
    device, dtype = pick_device_dtype(opts.device, opts.dtype)
    check_cross_entropy(opts.cross_entropy)
    output_folder("--out", opts.out_dir)
    if opts.on_duplicate not in ON_DUPLICATE:
        raise InputError(f"--on-duplicate {opts.on_duplicate}: use warn, skip or fail")
    requests = {}
    if datasets:
        requests["loss"] = dict(datasets=datasets, cache_dir=opts.cache_dir or str(Path(opts.out_dir) / "token-cache"),
                                context=opts.context or suite.context_length, stride=opts.stride,
                                max_tokens=opts.max_tokens, batch_size=opts.batch_size,
                                cross_entropy=opts.cross_entropy)
    if datasets and opts.cache_dir:
        output_folder("--cache-dir", opts.cache_dir)
    if opts.tasks:
        from scalefit.evals.downstream import parse_task

        for spec in (parse_task(t) for t in opts.tasks if "=" in t):  # local files: every row checked now
            if opts.num_fewshot and opts.num_fewshot >= spec.n_examples:
                raise InputError(f"--num-fewshot {opts.num_fewshot}: task {spec.name} has {spec.n_examples} "
                                 f"examples; few-shot examples come from the others, so give at most "
                                 f"{spec.n_examples - 1}")
        requests["tasks"] = dict(tasks=opts.tasks, limit=opts.task_limit, num_fewshot=opts.num_fewshot,
                                 seed=opts.seed, batch_size=opts.batch_size or 8, progress=opts.progress)
    for what, given, names in (("--tasks", opts.tasks, ("task_limit", "num_fewshot")),
                               ("--dataset", datasets, ("max_tokens", "context", "stride"))):
        unused = [f"--{n.replace('_', '-')}" for n in names if getattr(opts, n) is not None]
        if unused and not given:  # it would be ignored in silence
            raise InputError(f"{'/'.join(unused)}: {'it shapes' if len(unused) == 1 else 'they shape'} what "
                             f"{what} measures, and no {what} is given")
    if opts.weights:
        requests["weights"] = dict(fit_families=not opts.no_families, spectra=not opts.no_spectra)
    elif opts.no_families or opts.no_spectra:
        raise InputError("--no-families/--no-spectra: they shape the weight statistics; give --weights too")
    context = opts.context or suite.context_length
    check_positions(grid, context, opts.stride,
                    given="--context" if opts.context else f"suite '{suite.name}': context_length")
    check_token_ids(grid, datasets, opts.max_tokens)
    measurements = build_measurements(requests)
    known = recorded_options(opts.out_dir)
    joint = [k for k in known if k.startswith("tasks:") and "," in k]
    if joint and opts.tasks:  # each task is its own measurement now: those tasks would be measured twice
        raise InputError(f"--out {opts.out_dir}: its tasks were measured together ({joint[0]}) by an earlier "
                         "scalefit, which each task's own results would repeat; measure --tasks into a new --out")
    with stored_digests(opts.out_dir, beside=OPTIONS_FILE):  # files unchanged since an earlier start are not read again
        digests = {d.name: content_digest(d.path) for d in datasets}
        tokenizers = tokenizer_identities(grid)
    facts = {f"the tokens and LR of {name} in --suite": suite_facts(suite, name) for name in dict.fromkeys(
        info.model for info in grid)}
    for m in measurements:  # what each measurement's values depend on: a folder holds one setting
        if m.table == "weights":  # the stored tensors' statistics (as `scalefit weights`), summed on the device
            m.fn = stored_weights(**requests["weights"])
            m.options.update({"--device": device.type, **facts})
            check_weights_source(known.get(m.name) or {}, opts.out_dir, m)
        if m.table == "evals":
            # the device's kind too: cpu and cuda sum in other orders (the last bits differ)
            m.options = {"--suite": suite_identity(suite), "--device": device.type,
                         "--dtype": str(dtype).replace("torch.", ""),
                         "--max-tokens": opts.max_tokens, "--context": context, "--stride": opts.stride,
                         **{f"the tokenizer of {model}": identity for model, identity in tokenizers.items()},
                         **facts}
            if m.name.startswith("tasks"):
                m.options.update({"--task-limit": opts.task_limit, "--num-fewshot": opts.num_fewshot,
                                  "--seed": opts.seed})
                for name, _, path in (t.partition("=") for t in opts.tasks):
                    if m.name == f"tasks:{name.strip()}":  # a local file's bytes, or lm-eval's task of that name
                        m.options[f"the content of --tasks {name.strip()}"] = (
                            content_digest(path.strip()) if path.strip() else f"lm-eval's task {name.strip()}")
            else:
                d = next((d for d in datasets if m.name == f"loss:{d.name}"), None)
                if d is not None:
                    # the data's bytes and how they are read, not where the file lies (eval merge compares so too)
                    m.options.update({f"how --dataset {d.name} is read": dataset_reading(d),
                                      "--text-field": d.text_field,
                                      **cross_entropy_record(opts.cross_entropy, device.type, dtype,
                                                             known.get(m.name) or {}),
                                      # each row's is_train: a table half marked is no train_loss
                                      "--train-dataset": opts.train_dataset,
                                      f"the content of --dataset {d.name}": digests[d.name]})
                    m.checked_by = {CROSS_ENTROPY_RECORD: "--cross-entropy"}  # an older record's flag: its head
    return suite, grid, measurements, device, dtype, shard


def eval_options(opts) -> EvalOptions:
    """``opts`` as EvalOptions: a dict of its fields is taken as EvalOptions(**dict) (a notebook's
    evaluate({'suite': 'pythia', ...}) raised AttributeError 'executor'); a field it does not have,
    or anything else, is an InputError saying what is accepted."""
    from dataclasses import fields

    if isinstance(opts, EvalOptions):
        return opts
    if not isinstance(opts, dict):
        raise InputError(f"evaluate: got {a_type(opts)}; pass EvalOptions(suite=..., out_dir=...) "
                         "or a dict of its fields")
    known = [f.name for f in fields(EvalOptions)]
    for key in opts:
        if key not in known:
            raise InputError(f"evaluate: EvalOptions has no field '{key}'"
                             f"{suggestion(str(key), known, otherwise='')} (fields: {', '.join(known)})")
    missing = [k for k in ("suite", "out_dir") if k not in opts]
    if missing:
        raise InputError(f"evaluate: {' and '.join(missing)} missing; EvalOptions needs suite "
                         "(a suite name or spec) and out_dir (the sweep's folder)")
    return EvalOptions(**opts)


def evaluate(opts: EvalOptions) -> SweepResult:
    """Run the sweep of `opts`; returns what it did and its tables (also written to opts.out_dir).

    Ctrl-C raises `SweepInterrupted` (a KeyboardInterrupt) once the tables are rebuilt.
    """
    import torch

    from scalefit.sweep.engine import sweep_checkpoints
    from scalefit.sweep.report import write_sweep_report
    from scalefit.sweep.runinfo import metadata_name, run_metadata

    from scalefit.sweep.executors import parse_executor

    opts = eval_options(opts)
    executor = parse_executor(opts.executor, threads=opts.threads)
    # kept only beside the sweep's record: a new or empty --out holds one once the sweep starts
    with stored_digests(opts.out_dir, beside=OPTIONS_FILE) as digests:
        suite, grid, measurements, device, dtype, shard = plan(opts)
    torch.manual_seed(opts.seed)
    if executor is not None and opts.device in (None, "auto") and executor.gpus() >= 1:
        # the driver may have no GPU while the cluster's workers do: each worker picks CUDA
        device, dtype = "cuda", (dtype if opts.dtype not in (None, "auto") else torch.bfloat16)
        for m in measurements:  # recorded as the workers measure, not as this driver would have
            if "--device" in m.options:  # weights: where their sums run; the rest: in what dtype too
                m.options["--device"] = "cuda"
            if "--dtype" in m.options:
                m.options["--dtype"] = str(dtype).replace("torch.", "")
            if CROSS_ENTROPY_RECORD in m.options:
                m.options.update(cross_entropy_record(opts.cross_entropy, "cuda", dtype,
                                                      recorded_options(opts.out_dir).get(m.name) or {}))
    options = {k: v for k, v in vars(opts).items() if k not in ("progress",)}
    meta = run_metadata(device=device, dtype=dtype, seed=opts.seed, options=options, suite=suite.name,
                        grid_size=len(grid), shard=shard)
    device_name, dtype_name = str(device), str(dtype).replace("torch.", "")

    def load(info):
        return load_checkpoint(info, device_name, dtype_name, allow_bin=opts.allow_bin, cache_dir=opts.hub_cache)

    def report(result):
        digests.save()  # where plan's hashing found no record to keep it beside (a new or empty --out)
        return write_sweep_report(opts.out_dir, result.tables, result.failures, result.meta, metadata_name(shard),
                                  integrity=result.integrity)

    cleanup = cleanup_after_measuring(grid, opts.hub_cache) if opts.cleanup else None
    threads_before = torch.get_num_threads()
    if opts.threads:  # this process's torch threads for the sweep, as --threads (each Ray task sets its own)
        torch.set_num_threads(int(opts.threads))
    try:
        return sweep_checkpoints(grid, measurements, opts.out_dir, load=load, cleanup=cleanup,
                                 progress=opts.progress, meta=meta, report=report, executor=executor,
                                 on_duplicate=opts.on_duplicate)
    finally:
        torch.set_num_threads(threads_before)
        if executor is not None:
            executor.close()


def merge(dirs, out_dir) -> SweepResult:
    """Consolidate sweep folders (shards) into one set of tables, report and run.json in out_dir."""
    from scalefit.sweep.parts import merge_sweeps
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
               for k in ("suite", "device", "dtype", "seed")}}
    if (Path(out_dir) / "parts").is_dir():
        raise InputError(f"--out {out_dir}: is a sweep folder (parts/ inside); merge into a new folder")
    # written aside and moved in at the end: a merge interrupted while writing leaves the folder
    # as it was, and tables an earlier merge wrote that this one does not are removed
    with staged_output(out_dir) as staging:
        tables = merge_sweeps(dirs, staging)
        failures = tables.pop("failures")
        flags = tables.pop("integrity")
        meta["rows"] = {k: len(v) for k, v in tables.items()}
        meta["failed"] = len(failures)
        measured = [t[["model", "step"]] for name, t in tables.items() if name != "fingerprints" and len(t)]
        meta["measured"] = len(pd.concat(measured).drop_duplicates()) if measured else 0  # evals or weights
        meta["warnings"] = coverage_warnings(runs, dirs)
        files = write_sweep_report(staging, tables, failures, meta, "run.json", integrity=flags)
        files = [Path(out_dir) / Path(f).relative_to(staging) for f in files]
        for name in set(MERGED_TABLES) - set(tables):
            for ext in ("parquet", "csv"):
                (Path(out_dir) / f"{name}.{ext}").unlink(missing_ok=True)
    return SweepResult(out_dir=str(out_dir), summary=None, tables=tables, failures=failures, meta=meta,
                       files=files, integrity=flags)


MERGED_TABLES = ("evals", "weights", "fingerprints")  # the tables a merge writes when it has rows for them


def coverage_warnings(runs: list[dict], dirs=()) -> list[str]:
    """What merged shard folders leave out of their grid: shards of K/N not among them, and
    shards whose run was interrupted (from their run.shard-K-of-N.json). A folder without any
    run*.json (Ctrl-C while its tables were written) is named: its results are merged, but which
    shard it holds is not known, so a shard said missing may be that folder's."""
    out, shards = [], {}
    bare = [str(d) for d in dirs if not any(run.get("folder") == str(d) for run in runs)]
    for d in bare:
        out.append(f"{d}: no run*.json (its sweep was stopped while it wrote its tables); its results are "
                   "merged, but which shard it holds is unknown: re-run its command there to finish it")
    for run in runs:
        k, _, n = str(run.get("shard") or "").partition("/")
        if k.isdigit() and n.isdigit() and int(n) > 1:
            shards.setdefault(int(n), set()).add(int(k))
        if run.get("interrupted"):
            out.append(f"{run['folder']}/{run['file']}: that sweep was interrupted; re-run it to measure the rest")
    for n, found in sorted(shards.items()):
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
                    raise InputError(f"eval merge: {name} was measured with {option} {_shown(before[option])} "
                                     f"in {first} and {_shown(options[option])} in {d}; only folders "
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


def _shown(value) -> str:
    return "(default)" if value is None else str(value)

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
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

import scalefit.evals.downstream  # noqa: F401  (registers the `tasks` measurement)
from scalefit.errors import InputError, a_type, suggestion
from scalefit.options import (nonnegative_int, output_folder, positive_int, split_values,
                              thread_count)
from scalefit.evals.grid_checks import check_positions, check_token_ids, tokenizer_identities
from scalefit.evals.loss import CROSS_ENTROPY_RECORD, check_cross_entropy
from scalefit.evals.measures import parse_dataset
from scalefit.evals.recorded_facts import cross_entropy_record, dataset_reading, suite_identity
from scalefit.evals.tokens import content_digest, has_text, is_token_file, open_token_file, stored_digests
from scalefit.sweep.checkpoints import cleanup_after_measuring, load_checkpoint, pick_device_dtype
from scalefit.sweep.engine import ON_DUPLICATE, OPTIONS_FILE, SweepResult, recorded_options
from scalefit.sweep.grid import sweep_grid
from scalefit.sweep.measurements import build_measurements
from scalefit.sweep.suites import schedule_fact_models, schedule_facts
from scalefit.sweep.weights import check_weights_source, stored_weights, weights_record  # registers `weights` too


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


FIELD_FLAGS = {"out_dir": "--out", "datasets": "--dataset"}  # the fields whose flag is not --field-name


def flag_of(field: str) -> str:
    """The `scalefit eval` flag that sets an EvalOptions field: max_tokens -> --max-tokens."""
    return FIELD_FLAGS.get(field, "--" + field.replace("_", "-"))


def option_name(field: str) -> str:
    """'max_tokens (--max-tokens)': a field and its flag, as the API's other checks name an
    argument (n_bootstrap (--bootstrap)): a notebook user sees the argument they passed, a
    command's user the flag."""
    return f"{field} ({flag_of(field)})"


@contextmanager
def named_as_fields(fields, named=option_name):
    """An InputError of a shared checker (the sweep grid's --steps and --shard, --dtype,
    --cross-entropy) that begins with the flag of one of ``fields`` begins with named(field)."""
    try:
        yield
    except InputError as exc:
        text = str(exc)
        for name in fields:
            flag = flag_of(name)
            if text.startswith(flag) and text[len(flag):len(flag) + 1] in (" ", ":", ""):
                raise InputError(named(name) + text[len(flag):]) from None
        raise


def check_values(opts: EvalOptions, named=option_name) -> None:
    """Each option's own value (counts, seed, threads, folder paths), named by ``named`` (the API's
    option_name, the command's flag_of): before the executor is built or the out folder is read."""
    for name in ("max_tokens", "context", "stride", "batch_size", "task_limit"):
        if getattr(opts, name) is not None:  # 'a' raised int()'s ValueError, 2.5 passed as 2
            positive_int(named(name), getattr(opts, name))
    if opts.num_fewshot is not None:
        nonnegative_int(named("num_fewshot"), opts.num_fewshot)
    nonnegative_int(named("seed"), opts.seed)
    if opts.threads is not None:
        thread_count(named("threads"), opts.threads)
    for name in ("cache_dir", "hub_cache"):  # 5 raised pathlib's TypeError deep in the sweep
        if getattr(opts, name) is not None and not isinstance(getattr(opts, name), (str, os.PathLike)):
            raise InputError(f"{named(name)}: got {a_type(getattr(opts, name))}; "
                             "give a folder's path, or None for the default")
    if not isinstance(opts.out_dir, (str, os.PathLike)):
        raise InputError(f"{named('out_dir')}: got {a_type(opts.out_dir)}; give the folder to write the "
                         "sweep's tables into (its resume state lives there too)")


def plan(opts: EvalOptions, named=option_name):
    """Validate the options before anything loads: (suite, grid of this shard, measurements, device,
    dtype, shard). ``named`` names a bad option: option_name for the API (max_tokens (--max-tokens)),
    flag_of for `scalefit eval` (--max-tokens, the flag its user typed)."""
    check_values(opts, named)
    return checked_plan(opts, named)


def checked_plan(opts: EvalOptions, named=option_name):
    """plan of options whose own values check_values has passed (evaluate checks them before it
    builds the executor and opens the out folder's digest store)."""
    if opts.stride and opts.context and opts.stride > opts.context:
        raise InputError(f"--stride {opts.stride} is longer than --context {opts.context}")
    with named_as_fields(("steps", "shard"), named):
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
            elif not has_text(d.path, d.text_field):
                raise InputError(f"{d.path}: no text (the file is empty or only whitespace)")
        except InputError as exc:  # the file's own complaint, under the --dataset that named it
            raise InputError(f"--dataset {d.name}: {exc}") from None
    if opts.train_dataset and opts.train_dataset not in names:
        raise InputError(f"--train-dataset {opts.train_dataset}: no --dataset has that name "
                         f"(given: {', '.join(names) or 'none'})")
    if not (datasets or opts.tasks or opts.weights):
        raise InputError("nothing to measure: give --dataset NAME=PATH, --tasks or --weights")
    with named_as_fields(("device", "dtype"), named):  # the API's 'device (--device) gpu', the command's '--device gpu'
        device, dtype = pick_device_dtype(opts.device, opts.dtype)
    with named_as_fields(("cross_entropy",), named):
        check_cross_entropy(opts.cross_entropy)
    output_folder("--out", opts.out_dir)
    if opts.on_duplicate not in ON_DUPLICATE:
        raise InputError(f"{named('on_duplicate')} {opts.on_duplicate}: use warn, skip or fail")
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
    models = [info.model for info in grid]
    facts = schedule_facts(suite, models)
    for m in measurements:  # what each measurement's values depend on: a folder holds one setting
        if m.table == "weights":  # the stored tensors' statistics (as `scalefit weights`), summed on the device
            m.fn = stored_weights(**requests["weights"])
            weights_record(m, device.type, suite, models)
            check_weights_source(known.get(m.name) or {}, opts.out_dir, m)
        if m.table == "evals":
            # the device's kind too: cpu and cuda sum in other orders (the last bits differ)
            m.options = {"--suite": suite_identity(suite), "--device": device.type,
                         "--dtype": str(dtype).replace("torch.", ""),
                         "--max-tokens": opts.max_tokens, "--context": context, "--stride": opts.stride,
                         **{f"the tokenizer of {model}": identity for model, identity in tokenizers.items()},
                         **facts}
            m.of_model = {**{f"the tokenizer of {model}": model for model in tokenizers},
                          **schedule_fact_models(models)}
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


def check_not_weights_folder(out_dir, named=option_name) -> None:
    """Refuse an --out that holds a `scalefit weights` sweep, for a sweep without --weights
    (InputError, before anything is written): its run.json and report.md would replace that
    sweep's, after which `scalefit weights` refuses the folder (it holds eval parts), as it refuses
    any eval folder. (`eval --weights` measures what that folder holds: it carries it on, its
    report with the weights' notes.)"""
    from scalefit.sweep.runinfo import weights_sweep_in

    if weights_sweep_in(out_dir):
        raise InputError(f"{named('out_dir')} {out_dir}: holds a scalefit weights sweep, whose run.json and "
                         "report.md this sweep's would replace; evaluate into another --out, or add --weights to measure "
                         "the folder's weight statistics with the evals")


def evaluate(opts: EvalOptions, *, named=option_name) -> SweepResult:
    """Run the sweep of `opts`; returns what it did and its tables (also written to opts.out_dir).

    A bad option is an InputError that ``named`` names: by its field and flag (option_name:
    'max_tokens (--max-tokens)'), or by the flag alone for `scalefit eval` (flag_of).
    Ctrl-C raises `SweepInterrupted` (a KeyboardInterrupt) once the tables are rebuilt.
    """
    import torch

    from scalefit.sweep.engine import sweep_checkpoints
    from scalefit.sweep.report import write_sweep_report
    from scalefit.sweep.runinfo import metadata_name, run_metadata

    from scalefit.sweep.executors import parse_executor

    opts = eval_options(opts)
    check_values(opts, named)  # out_dir=None was pathlib's TypeError in stored_digests, before plan looked
    if not opts.weights:  # eval --weights measures what such a folder holds, and carries it on
        check_not_weights_folder(opts.out_dir, named)
    executor = parse_executor(opts.executor, threads=opts.threads)
    # kept only beside the sweep's record: a new or empty --out holds one once the sweep starts
    try:
        with stored_digests(opts.out_dir, beside=OPTIONS_FILE) as digests:
            suite, grid, measurements, device, dtype, shard = checked_plan(opts, named)
    except BaseException:  # a plan refused: the executor (a Ray cluster it started) is not left running
        if executor is not None:
            executor.close()
        raise
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
    # how the losses were windowed (the suite's or model's context where --context is not given),
    # stated in report.md's header: two folders scored at another --context do not look alike
    windowing = next((m.options for m in measurements if m.name.startswith("loss:")), None)
    if windowing is not None:
        meta.update(context=windowing["--context"], stride=windowing["--stride"] or windowing["--context"],
                    max_tokens=windowing["--max-tokens"])
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

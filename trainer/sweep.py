"""Sweep every checkpoint of a trained mini suite with the evals sweep engine, and join the tables.

The checkpoints come from the run folders that `scalefit suite train` wrote
(`SUITE/<part>/<run>/step<N>/`, safetensors + config.json); the tokenizer is the corpus's.
Each (model, step) is measured once by `scalefit.sweep.engine.run_sweep` (resumable, one file per
checkpoint and measurement): loss on prose val (the training distribution), prose test and code
test, and weight statistics when the weightstats layer is installed. `model` is unique per run:
`mini-3` for a long run, `mini-3-W0.04` for a warmup variant, `mini-3-D245760` / `mini-3-code-D1146880`
for the final checkpoint of another grid / code run.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from scalefit import schema
from scalefit.atomic import write_frame
from scalefit.errors import InputError, known
from scalefit.schedule import lr_at_step
from scalefit.trainer.final_losses import check_eval_splits
from scalefit.trainer.spec import (RunSpec, SuiteSpec, count_params, run_schedule, run_warmup_steps,
                                   spec_for_corpus)

DATASETS = (("prose-val", "prose", "val", True), ("prose-test", "prose", "test", False),
            ("code-test", "code", "test", False))
TRAJECTORY_PARTS = ("long", "warmup", "init", "wsd")
EVAL_COLUMNS = ["model", "step", "dataset", "metric", "value", "se", "n_tokens", "n_docs", "is_train"]
WEIGHT_COLUMNS = list(schema.WEIGHT_COLUMNS)
# Weight statistics kept in the shipped tables (the sweep folder keeps all of them).
SHIPPED_STATS = ("mean", "std", "rms", "skew", "excess_kurtosis", "max_abs", "frac_3sd", "frac_6sd",
                 "q0.001", "q0.999", "frobenius", "sv_max", "stable_rank", "entropy_rank", "alpha",
                 "alpha_weighted", "t_nu", "t_scale", "gennorm_beta", "laplace_scale", "quartic_g",
                 "best_family")


@dataclass
class SuiteCheckpoint:
    """One checkpoint folder of a suite run and the schedule facts its rows carry."""

    model: str
    run: RunSpec
    step: int
    path: Path
    final: bool


def run_model_id(run: RunSpec) -> str:
    """The unique `model` name of a run's rows (the size for a long run, size + variant otherwise)."""
    if run.part == "long" or run.also == "long":
        return run.size.name
    if run.part in ("warmup", "init", "wsd"):
        return run.model_name
    tokens_tag = run.run.rsplit("-", 1)[-1]  # D<tokens> or C<flops>
    return f"{run.size.name}-{run.part}-{tokens_tag}" if run.part == "code" else f"{run.size.name}-{tokens_tag}"


def is_trajectory(run: RunSpec) -> bool:
    """A run whose every checkpoint is swept (long runs and warmup variants)."""
    return run.part in TRAJECTORY_PARTS or run.also in TRAJECTORY_PARTS


def suite_checkpoints(spec: SuiteSpec, suite_dir, *, finals: bool = True,
                      incomplete: list | None = None) -> list[SuiteCheckpoint]:
    """Checkpoint folders on disk: every step of long/warmup runs, the last step of other runs.

    A step folder that exists without its weights or config (the trainer writes each folder
    whole, so it was damaged or emptied later) is not a checkpoint; with `incomplete` (a list),
    each such folder is appended to it as a failure record (model, step, location, error)."""
    found = {}
    for run in spec.runs:
        run_dir = Path(suite_dir) / run.run
        traj = is_trajectory(run)
        if not traj and not finals:
            continue
        steps = run.checkpoints if traj else [run.steps]
        for step in steps:
            folder = run_dir / f"step{step}"
            missing = [n for n in ("model.safetensors", "config.json") if not (folder / n).exists()]
            if not missing:
                ck = SuiteCheckpoint(run_model_id(run), run, int(step), folder, step == run.steps)
                found[(ck.model, ck.step)] = ck
            elif folder.is_dir() and incomplete is not None:
                incomplete.append({"model": run_model_id(run), "step": int(step), "location": str(folder),
                                   "error": f"incomplete checkpoint folder: no {' and no '.join(missing)}"})
    return [found[k] for k in sorted(found)]


def checkpoint_lr(run: RunSpec, recipe, step: int) -> float:
    """The LR at checkpoint `step`: the run's schedule there, as the train_log and Pythia's tables have it."""
    return lr_at_step(run_schedule(recipe, run), step)


def run_facts(spec: SuiteSpec) -> pd.DataFrame:
    """One row per model id: run, part, size, schedule (warmup_steps, total_steps, ...), params.

    `part` is the trajectory part: a grid run that is also the long run (runs.csv: part grid, also
    long) is 'long' here, as the analyses of long runs select it; its `run` id keeps 'grid/'."""
    rows = []
    for run in spec.runs:
        params, nonembed = count_params(run.size, spec.vocab_size)
        part = "long" if run.also == "long" else run.part
        rows.append({"model": run_model_id(run), "run": run.run, "part": part, "size": run.size.name,
                     "distribution": run.distribution, "schedule": run.style,
                     "cooldown_fraction": run.cooldown_frac if run.style == "wsd" else np.nan,
                     "branch_step": run.branch_step,
                     "warmup_steps": run_warmup_steps(spec.recipe, run), "total_steps": run.steps,
                     "warmup_frac": (run.warmup_frac if run.warmup_frac is not None
                                     else spec.recipe.warmup_frac),
                     "init": run.init,
                     "init_seed": spec.recipe.seed if run.init_seed is None else run.init_seed,
                     "lr_peak": run.size.lr, "params": params, "params_nonembed": nonembed})
    return pd.DataFrame(rows).drop_duplicates("model")


def checkpoint_infos(spec: SuiteSpec, checkpoints: list[SuiteCheckpoint], tokenizer_dir):
    """The sweep engine's CheckpointInfo for each suite checkpoint."""
    from scalefit.sweep.checkpoints import CheckpointInfo

    infos = []
    for ck in checkpoints:
        params, nonembed = count_params(ck.run.size, spec.vocab_size)
        infos.append(CheckpointInfo(model=ck.model, step=ck.step, tokens=ck.step * spec.recipe.batch_tokens,
                                    lr=checkpoint_lr(ck.run, spec.recipe, ck.step), params=params,
                                    params_nonembed=nonembed, path=str(ck.path),
                                    tokenizer_source=str(tokenizer_dir)))
    return infos


def suite_measurements(corpus_dir, cache_dir=None, *, max_tokens: int | None = 32768, seq_len: int = 128,
                       weights: bool = True, weight_options: dict | None = None):
    """Loss on the eval sets of prose val / prose test / code test (scalefit.evals.evalset, the
    sets the trainer's final losses use), with its SE over documents, and weight statistics."""
    from scalefit.sweep.weights import weight_stats_function, weights_measurement

    out = [evalset_measurement(corpus_dir, name, dist, split, is_train, seq_len, max_tokens or 32768)
           for name, dist, split, is_train in DATASETS]
    if weights:
        if weight_stats_function() is None:
            raise InputError("weight statistics: scalefit.weightstats.measure.weight_stats_table is not "
                             "installed; pass --no-weights to measure losses only")
        out.append(weights_measurement(**(weight_options or {})))
    return out


def evalset_measurement(corpus_dir, name: str, dist: str, split: str, is_train: bool, seq_len: int,
                        n_tokens: int):
    """Rows `loss` and `bpb` of one split's eval set, each with its bootstrap-over-documents `se`
    from the same resamples: bpb's is the SE of the ratio of summed NLL to summed bytes (the
    documents' bytes per token differ, so the loss's SE rescaled at fixed bytes understated it)."""
    from scalefit.evals.evalset import evalset_loss
    from scalefit.evals.loss import ratio_ses
    from scalefit.evals.tokens import token_byte_lengths
    from scalefit.sweep.engine import Measurement
    from scalefit.trainer.corpus import suite_eval_set

    evalset = suite_eval_set(corpus_dir, dist, split, seq_len, n_tokens)  # checks the files once
    cache = {}

    def measure(model, info) -> pd.DataFrame:
        result = evalset_loss(model, evalset)
        if "bytes" not in cache:  # the bytes of each document's scored targets, in evalset_loss's order
            lengths = token_byte_lengths(info.tokenizer, model.get_output_embeddings().weight.shape[0])
            inverse = np.unique(evalset.doc, return_inverse=True)[1]
            cache["bytes"] = np.bincount(inverse, weights=lengths[evalset.rows[:, 1:]].sum(1))
        doc_bytes = cache["bytes"]
        base = {"dataset": name, "task": None, "is_train": is_train, "n_tokens": result.n_tokens,
                "n_docs": result.n_docs, "context": seq_len, "stride": seq_len}
        bpb = result.loss * result.n_tokens / np.log(2) / int(doc_bytes.sum())
        bpb_se = ratio_ses(result.doc_nll, result.doc_tokens, doc_bytes)[1]
        return pd.DataFrame([{**base, "metric": "loss", "value": result.loss, "se": result.se},
                             {**base, "metric": "bpb", "value": bpb, "se": bpb_se}])

    from scalefit.trainer.corpus import corpus_fingerprint, read_manifest

    corpus = f"{corpus_fingerprint(corpus_dir, dist)} (vocabulary {read_manifest(corpus_dir).get('vocab_size_actual')})"
    return Measurement(name=f"loss:{name}", fn=measure, table="evals",
                       options={"--max-tokens": n_tokens, "the spec's seq_len": seq_len,
                                f"the {dist} corpus of --corpus": corpus})


def load_suite_model(folder):
    """A suite checkpoint in fp32, from safetensors only (never remote code), in eval mode."""
    import torch
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(str(folder), dtype=torch.float32, use_safetensors=True,
                                                trust_remote_code=False).eval()


def make_loader(tokenizer_dir):
    """A checkpoint loader for run_sweep: weights from safetensors only, the corpus tokenizer once."""
    from transformers import AutoTokenizer

    cache = {}

    def load(info):
        if "tok" not in cache:
            cache["tok"] = AutoTokenizer.from_pretrained(str(tokenizer_dir), trust_remote_code=False)
        info.tokenizer = cache["tok"]
        return load_suite_model(info.path), cache["tok"]

    return load


def sweep_suite(spec_path, suite_dir, corpus_dir, out_dir, *, finals: bool = True,
                max_tokens: int | None = None, weights: bool = True, only: str | None = None,
                progress: bool = True):
    """Measure every suite checkpoint (resumable in out_dir); returns the engine's SweepSummary."""
    from scalefit.sweep.engine import check_options, forget_unmeasured, run_sweep

    spec = spec_for_corpus(spec_path, corpus_dir)
    check_eval_splits(spec, spec_path, corpus_dir, [(d, s) for _, d, s, _ in DATASETS])
    if max_tokens is not None and max_tokens < spec.recipe.seq_len:  # the eval set's message named no option
        raise InputError(f"--max-tokens {max_tokens}: fewer than one window of the recipe's seq_len "
                         f"({spec.recipe.seq_len} tokens); give at least {spec.recipe.seq_len}")
    incomplete: list[dict] = []
    cks = suite_checkpoints(spec, suite_dir, finals=finals, incomplete=incomplete)
    if only is not None:  # --only '' is refused by select_runs (it was every run)
        from scalefit.trainer.train import select_runs

        runs = list({id(c.run): c.run for c in cks}.values())
        chosen = {id(r) for r in select_runs(runs, only, where=f" with checkpoints in {suite_dir}",
                                             model_of=run_model_id)}
        cks = [c for c in cks if id(c.run) in chosen]
        kept = {c.model for c in cks}
        incomplete = [f for f in incomplete if f["model"] in kept]
    if not cks:
        raise InputError(f"{suite_dir}: no checkpoint folders (step<N>/model.safetensors) for this spec")
    tokenizer_dir = Path(corpus_dir) / "tokenizer"
    measurements = suite_measurements(corpus_dir, max_tokens=max_tokens or spec.recipe.eval_tokens,
                                      seq_len=spec.recipe.seq_len, weights=weights)
    grid = checkpoint_infos(spec, cks, tokenizer_dir)
    check_trained_on(cks, corpus_dir)
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    new = check_options(measurements, out_dir)  # a sweep folder holds one setting
    try:
        summary = run_sweep(grid, measurements, out_dir, load=make_loader(tokenizer_dir), progress=progress)
        summary.failed += incomplete  # damaged folders are failures, not checkpoints the spec lacks
        return summary
    finally:
        forget_unmeasured([m for m in measurements if m.name in new], out_dir)


def check_trained_on(checkpoints: list[SuiteCheckpoint], corpus_dir) -> None:
    """InputError when a run was trained with another corpus than --corpus (its vocabulary, or the
    corpus fingerprint its checkpoints record): its losses would be measured on foreign tokens."""
    import json

    from scalefit.trainer.corpus import corpus_fingerprint, read_manifest
    from scalefit.trainer.checkpoints import TRAINING_DATA_FILE

    vocab = read_manifest(corpus_dir).get("vocab_size_actual")
    seen = set()
    for ck in checkpoints:
        if ck.run.run in seen:
            continue
        seen.add(ck.run.run)
        try:
            trained = json.loads((ck.path / "config.json").read_text()).get("vocab_size")
        except (OSError, ValueError, AttributeError):
            trained = None
        if vocab is not None and trained is not None and int(trained) != int(vocab):
            raise InputError(f"{ck.run.run}: trained with a vocabulary of {trained} tokens ({ck.path}/config.json), "
                             f"but the tokenizer of --corpus {corpus_dir} has {vocab}: sweep with the corpus "
                             "the suite was trained on")
        record = ck.path / TRAINING_DATA_FILE
        if record.is_file():
            was = json.loads(record.read_text()).get("corpus")
            now = corpus_fingerprint(corpus_dir, ck.run.distribution)
            if was and was != now:
                raise InputError(f"{ck.run.run}: trained on corpus {was} ({record}), but --corpus {corpus_dir} "
                                 f"is {now}: sweep with the corpus the suite was trained on")


# ---------------------------------------------------------------- joined tables


def kept_stats(text: str):
    """--stats: 'shipped' (SHIPPED_STATS), 'all' (None: every statistic) or names separated by
    commas (spaces around them ignored); InputError for a value that names none."""
    from scalefit.options import split_values

    choice = str(text).strip()
    if choice in ("shipped", "all"):
        return SHIPPED_STATS if choice == "shipped" else None
    return split_values([text], "--stats", "statistic", " (t_nu,alpha), 'shipped' or 'all'")


def check_folder_stats(stats, weights: pd.DataFrame, sweep_dirs) -> None:
    """InputError naming a --stats statistic that a weights sweep measures but the folder's weight rows
    lack (measured with fewer statistics, or by an older scalefit); a name no sweep measures is
    refused before sweeping (sweep.weights.check_stat_names)."""
    if stats is None or not len(weights):
        return
    held = set(weights["stat"].dropna().astype(str))
    missing = [s for s in stats if s not in held]
    if missing:
        where = sweep_dirs if isinstance(sweep_dirs, (str, Path)) else ", ".join(map(str, sweep_dirs))
        raise InputError(f"--stats {', '.join(missing)}: not in the weight rows of {where} (they hold: "
                         f"{known(held)}; or give 'shipped', 'all')")


def suite_tables(spec: SuiteSpec, sweep_dirs, *, stats=None) -> dict[str, pd.DataFrame]:
    """Long tables from sweep folders: `checkpoints` (long + warmup runs) and `finals` (last steps).

    Both hold evaluation rows (dataset, metric, value, n_tokens) and weight rows (tensor, group,
    layer, stat, value), each carrying the run's schedule facts (tokens, lr, warmup_steps,
    total_steps, params, ...). Values are float32; `stats` keeps only those weight statistics.
    `part` is run_facts's: the grid run that is also the long run is part 'long' in both tables, so
    the grid's finals are the rows whose `run` starts with 'grid/' (part 'grid' misses those runs).
    """
    from scalefit.sweep.engine import collect_parts

    parts = collect_parts([sweep_dirs] if isinstance(sweep_dirs, (str, Path)) else sweep_dirs)
    evals = parts.get("evals", pd.DataFrame(columns=EVAL_COLUMNS))
    weights = parts.get("weights", pd.DataFrame(columns=WEIGHT_COLUMNS))
    check_folder_stats(stats, weights, sweep_dirs)
    if stats is not None and len(weights):
        weights = weights[weights["stat"].isin(list(stats))]
    evals = evals[[c for c in EVAL_COLUMNS if c in evals.columns]]
    weights = weights[[c for c in WEIGHT_COLUMNS if c in weights.columns]]
    long = pd.concat([evals, weights], ignore_index=True)
    if long.empty:
        raise InputError(f"{sweep_dirs}: the sweep holds no measured checkpoints yet")
    facts = run_facts(spec)
    long = long.merge(facts, on="model", how="left")
    long["tokens"] = long["step"].astype("int64") * spec.recipe.batch_tokens
    long["flops"] = schema.FLOPS_PER_PARAM_TOKEN * long["params"] * long["tokens"]
    by_model = {run_model_id(r): r for r in spec.runs}
    lr = {(m, s): checkpoint_lr(by_model[m], spec.recipe, int(s))
          for m, s in long[["model", "step"]].drop_duplicates().itertuples(index=False) if m in by_model}
    long["lr"] = [lr.get((m, s), np.nan) for m, s in zip(long["model"], long["step"])]
    long = _compact(long)
    traj_models = {run_model_id(r) for r in spec.runs if is_trajectory(r)}
    final_keys = {(run_model_id(r), r.steps) for r in spec.runs}
    keys = list(zip(long["model"], long["step"]))
    is_final = np.fromiter(((m, s) in final_keys for m, s in keys), bool, len(keys))
    return {"checkpoints": long[long["model"].isin(traj_models)].reset_index(drop=True),
            "finals": long[is_final].reset_index(drop=True)}


def _compact(long: pd.DataFrame) -> pd.DataFrame:
    """float32 measurements, categorical text columns: a table of a few MB for the whole suite."""
    order = ["model", "step", "tokens", "lr", "dataset", "metric", "value", "se", "n_tokens", "n_docs", "is_train",
             "tensor", "group", "layer", "stat", "label", "run", "part", "size", "distribution", "schedule",
             "cooldown_fraction", "branch_step",
             "warmup_steps", "total_steps", "warmup_frac", "init", "init_seed", "lr_peak", "params",
             "params_nonembed", "flops"]
    long = long[[c for c in order if c in long.columns]].copy()
    long["value"] = pd.to_numeric(long["value"], errors="coerce").astype("float32")
    for c in ("lr", "warmup_frac", "lr_peak", "cooldown_fraction"):
        long[c] = long[c].astype("float32")
    long["flops"] = long["flops"].astype("float64")
    for c in ("step", "tokens", "warmup_steps", "total_steps", "init_seed", "params", "params_nonembed",
              "branch_step"):
        long[c] = long[c].astype("int64")
    for c in ("n_tokens", "n_docs"):
        if c in long:
            long[c] = pd.to_numeric(long[c], errors="coerce").astype("Int64")
    if "se" in long:
        long["se"] = pd.to_numeric(long["se"], errors="coerce").astype("float32")
    if "layer" in long:
        long["layer"] = pd.to_numeric(long["layer"], errors="coerce").astype("Int16")
    if "is_train" in long:
        long["is_train"] = long["is_train"].astype("boolean")
    for c in ("dataset", "metric", "tensor", "group", "stat", "label", "run", "part", "size", "distribution",
              "init", "schedule"):
        if c in long:
            long[c] = long[c].astype("string")
    return long.sort_values(["model", "step", "stat", "tensor", "dataset", "metric"],
                            na_position="first", kind="stable").reset_index(drop=True)


def write_suite_tables(tables: dict[str, pd.DataFrame], out_dir) -> list[Path]:
    """Write each table as zstd Parquet, atomically; returns the paths."""
    return [write_frame(df, Path(out_dir) / f"{name}.parquet", compression="zstd") for name, df in tables.items()]

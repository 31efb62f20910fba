"""Train the mini suite with the Pythia recipe, scaled down; resumable (Ctrl-C keeps every step).

GPT-NeoX (rotary on 25% of head dims, parallel residual, untied embeddings), Pythia's init
(scalefit.weightstats.init: small_init, wang_init on output projections, norms 1/0, biases 0),
Adam(0.9, 0.95, 1e-8), weight decay 0.1, the LR of scalefit.schedule (GPT-NeoX AnnealingLR:
linear warmup, cosine to 0.1 x peak over each run's own length) stepped as GPT-NeoX steps it,
constant batch, gradient clipping 1.0, fixed seeds, a data order that is a pure function of
(seed, step); the model, optimizer, schedule and batches are built in trainer.recipe. Final
losses come from trainer.final_losses (scalefit.evals.evalset.evalset_loss, on the eval sets the
suite sweep scores). Every finished run appends one row to the suite's runs.csv (atomically), so
a kill loses no finished run. Ctrl-C or SIGTERM while a run trains lets the current optimizer
step finish, saves a resume point at that step, then stops: a re-run loses no step (a SIGKILL or
a crash loses the steps since the last checkpoint or `resume_every` point).

The shipped mini suite (data/suites/mini) was trained by this code; the init study
(data/suites/mini/init) by the same trainer before its eval sets were unified (see its REPORT).
"""
from __future__ import annotations

import json
import os
import platform
import shutil
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np

from scalefit.atomic import sweep_stale, write_frame, write_json, write_text
from scalefit.errors import InputError, warn
from scalefit.schedule import lr_at_step
from scalefit.signals import DeferredSignals
from scalefit.trainer.checkpoints import (latest_resumable, load_checkpoint, save_checkpoint, set_aside_damaged,
                                          training_data)
from scalefit.trainer.final_losses import EVAL_COLUMNS, check_eval_splits, evaluate_run
from scalefit.trainer.init_source import apply_init
from scalefit.trainer.recipe import batch_at_step, build_model, make_optimizer
from scalefit.trainer.run_settings import check_run_settings, check_table_settings, record_run_settings
from scalefit.trainer.spec import RunSpec, SuiteSpec, run_schedule, spec_for_corpus

RUN_COLUMNS = ["model", "run", "part", "also", "checkpoints", "distribution", "params", "params_nonembed", "tokens",
               "flops", "flops_budget", *EVAL_COLUMNS,
               "d_model", "n_layer", "n_head", "lr_peak", "warmup_steps", "steps", "batch_tokens",
               "seq_len", "seed", "wall_s"]


# ---------------------------------------------------------------- one run


def train_run(spec: SuiteSpec, run: RunSpec, corpus_dir, out_dir, device: str = "cpu",
              progress: bool = True, stop_after_step: int | None = None) -> dict | None:
    """Train (or resume) one run to its end, evaluate it, and return its runs.csv row."""
    import torch
    from tqdm import tqdm

    from scalefit.trainer.corpus import load_tokens

    recipe = spec.recipe
    run_dir = Path(out_dir) / run.run
    done = run_dir / "result.json"
    if done.exists():
        check_run_settings(spec, run, corpus_dir, out_dir)
        return json.loads(done.read_text())
    settings = check_run_settings(spec, run, corpus_dir, out_dir)
    train_tokens = load_tokens(corpus_dir, run.distribution, "train")

    def fresh():
        """The run's model and optimizer at step 0, its init applied (which checks the source)."""
        model = build_model(run.size, spec.vocab_size, recipe.seq_len, recipe.seed).to(device)
        optimizer = make_optimizer(model, recipe, run.size.lr)
        return model, optimizer, apply_init(spec, run, model, corpus_dir, out_dir)

    # before resuming, and before the run's folder records its settings: an init source that is
    # refused leaves no folder claiming the run was trained from it
    model, optimizer, init_facts = fresh()
    run_dir.mkdir(parents=True, exist_ok=True)
    record_run_settings(run_dir, settings)
    sweep_stale(run_dir)  # checkpoint folders a killed run left half-written
    schedule = run_schedule(recipe, run)
    start, wall_before = 0, 0.0
    data = training_data(corpus_dir, run)
    resumed = latest_resumable(run_dir)
    while resumed:
        try:
            state = load_checkpoint(resumed[1], model, optimizer)
            start, wall_before = state["step"], state["wall_s"]
            break
        except Exception as exc:  # noqa: BLE001 - a damaged checkpoint (disk full, bad copy) of any kind
            aside = set_aside_damaged(resumed[1])
            warn(f"{run.run}: checkpoint {resumed[1].name} cannot be read ({_first_line(exc)}); moved to "
                 f"{aside} and resuming from an earlier one")
            model, optimizer, init_facts = fresh()  # a failed load may have filled part of them
            resumed = latest_resumable(run_dir)
    if not resumed and run.branch_of:  # a cooldown branch: the parent's state at branch_step
        load_checkpoint(branch_folder(run, out_dir), model, optimizer)
        start = run.branch_step
    elif not resumed and 0 in run.checkpoints:
        save_checkpoint(run_dir / "step0", model, data=data)
    log_path = run_dir / "train_log.csv"
    _truncate_log(log_path, start)
    keep = set(run.checkpoints)
    t0 = time.time()
    bar = tqdm(total=run.steps, initial=start, desc=run.run, unit="step", disable=not progress,
               mininterval=2.0, leave=False)
    fresh_log = not log_path.exists() or log_path.stat().st_size == 0
    # line-buffered: every finished step's row is on disk (and in `tail -f`) before the next starts
    with bar, open(log_path, "a", buffering=1) as log, DeferredSignals(run.run, start) as held:
        if fresh_log:
            log.write("step,tokens,lr,loss\n")
        for step in range(start, run.steps):
            held.step = step + 1
            for g in optimizer.param_groups:
                g["lr"] = lr_at_step(schedule, step)  # GPT-NeoX: num_iters = updates done so far
            batch = torch.from_numpy(batch_at_step(train_tokens, step, recipe.batch_seqs,
                                                   recipe.seq_len, recipe.seed)).to(device)
            loss = _causal_loss(model, batch)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), recipe.grad_clip)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            done_steps = step + 1  # logged as GPT-NeoX logs it: the LR its scheduler holds at this step
            log.write(f"{done_steps},{done_steps * recipe.batch_tokens},"
                      f"{lr_at_step(schedule, done_steps):.6g},{loss.item():.5f}\n")
            elapsed = wall_before + time.time() - t0
            tok_s = (done_steps - start) * recipe.batch_tokens / max(time.time() - t0, 1e-9)
            # drawn by update() at most every mininterval: a refresh per step wrote a bar per step
            bar.set_postfix(loss=f"{loss.item():.3f}", tok_s=f"{tok_s:.0f}", refresh=False)
            bar.update(1)
            state = {"step": done_steps, "tokens": done_steps * recipe.batch_tokens, "wall_s": elapsed}
            stop = held.pending is not None  # read once: a signal after this is taken at the next step's end
            held.step = done_steps + (not stop)  # so one that comes while this step is saved says the next
            if done_steps in keep:
                save_checkpoint(run_dir / f"step{done_steps}", model, optimizer, state, data)
                _drop_resume(run_dir)
                held.saved = done_steps
            elif done_steps % recipe.resume_every == 0 or stop:  # Ctrl-C or SIGTERM came: save this step
                save_checkpoint(run_dir / "resume", model, optimizer, state, data)
                held.saved = done_steps
            if stop:  # the step the signal came in, now saved
                folder = run_dir / (f"step{done_steps}" if done_steps in keep else "resume")
                held.deliver(TrainingInterrupted(run.run, done_steps, run.steps, folder))
            if stop_after_step is not None and done_steps >= stop_after_step:
                return None
    wall = wall_before + time.time() - t0
    row = evaluate_run(spec, run, model, corpus_dir, wall)
    if run.part == "init" or init_facts["init"] != "pythia" or run.init_seed is not None:
        row.update(init_facts)
    _drop_resume(run_dir)
    write_json(done, row, indent=None)
    return row


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C or SIGTERM taken at the end of a training step, once that step was saved: which
    run stopped, at which step, and the checkpoint folder a re-run resumes it from."""

    def __init__(self, run: str, step: int, steps: int, folder: Path):
        super().__init__(f"{run} stopped at step {step} of {steps}")
        self.run, self.step, self.steps, self.folder = run, step, steps, Path(folder)

    def message(self) -> str:
        """What stopped where, and how to go on."""
        return (f"{self.run} stopped at step {self.step} of {self.steps} (saved in {self.folder}); re-running "
                "the same command resumes it from that step")


def branch_folder(run: RunSpec, out_dir) -> Path:
    """The parent checkpoint a branch starts from; InputError saying how to train it when absent."""
    folder = Path(out_dir) / run.branch_of / f"step{run.branch_step}"
    if not (folder / "optimizer.pt").exists():
        raise InputError(f"{run.run}: branches from {run.branch_of} at step {run.branch_step}, which is not "
                         f"trained yet (no {folder}); train it first: scalefit suite train --part wsd "
                         f"--only {run.branch_of}")
    return folder


def _causal_loss(model, batch):
    """Mean next-token cross-entropy of a (B, T+1) batch."""
    import torch

    logits = model(input_ids=batch[:, :-1]).logits
    return torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(),
                                             batch[:, 1:].reshape(-1))


def _drop_resume(run_dir: Path) -> None:
    shutil.rmtree(run_dir / "resume", ignore_errors=True)


def _truncate_log(path: Path, step: int) -> None:
    """Keep only whole log lines up to `step`, so a resumed run's log has no duplicated steps."""
    if not path.exists():
        return
    lines = path.read_text().splitlines()
    if not lines:
        return
    width = len(lines[0].split(","))  # a kill can leave a cut last line: keep only whole rows
    kept = [lines[0]] + [ln for ln in lines[1:] if len(ln.split(",")) == width
                         and ln.split(",")[0].isdigit() and int(ln.split(",")[0]) <= step]
    write_text(path, "\n".join(kept) + ("\n" if kept else ""))


def _first_line(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


# ---------------------------------------------------------------- the suite


def append_row(table: Path, row: dict) -> None:
    """Add one run's row to a CSV atomically (write a temp file, then rename), replacing its old row."""
    import pandas as pd

    new = pd.DataFrame([row])
    if table.exists():
        old = pd.read_csv(table)
        old = old[old["run"] != row["run"]]
        new = pd.concat([old, new], ignore_index=True)
    write_frame(in_run_order(new), table)


def in_run_order(runs):
    """A run table's columns in RUN_COLUMNS order, any others after them."""
    return runs[[c for c in RUN_COLUMNS if c in runs.columns] + [c for c in runs.columns if c not in RUN_COLUMNS]]


def provenance(spec_path, spec: SuiteSpec, device: str) -> dict:
    """Spec, package versions, seeds and hardware, for the provenance file that ships with tables."""
    import tokenizers
    import torch
    import transformers

    return {"spec_file": str(spec_path), "spec": Path(spec_path).read_text(),
            "suite": spec.name, "seed": spec.recipe.seed, "recipe": asdict(spec.recipe),
            "vocab_size": spec.vocab_size,
            "versions": {"python": platform.python_version(), "torch": torch.__version__,
                         "transformers": transformers.__version__,
                         "tokenizers": tokenizers.__version__, "numpy": np.__version__},
            "hardware": {"machine": platform.machine(), "processor": platform.processor(),
                         "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(),
                         "device": device, "platform": platform.platform()}}


def with_init(run: RunSpec, mode: str, source: str | None, seed: int | None, *,
              allow_same_data: bool = False) -> RunSpec:
    """A run started from another init (`--init MODE[:SOURCE]`, `--init-seed`): a run of its own,
    `{run}-init-{mode}-s{seed}`, so it never resumes or overwrites the standard-init run."""
    from dataclasses import replace

    if run.part == "init":
        raise InputError(f"{run.run}: --init applies to the grid, long, code and warmup runs; the "
                         "[[init]] part's runs carry their own init")
    tag = f"init-{mode}-s{'recipe' if seed is None else seed}"
    return replace(run, run=f"{run.run}-{tag}", model_id=f"{run.model_name}-{tag}", init=mode,
                   init_source=source or "", init_seed=seed, allow_same_data=allow_same_data,
                   branch_of=f"{run.branch_of}-{tag}" if run.branch_of else "")


def select_runs(runs: list, only: str | None, *, where: str = "", model_of=None) -> list:
    """The runs `--only` names: the one whose id equals it (grid/mini-1-D245760 is not also
    grid/mini-1-D2457600), else every run whose id contains it or whose model it is; none is an
    InputError naming what ids look like. `where` says which runs were searched. The text is read
    stripped; one that is empty or blank names no run (it was every run)."""
    if only is None:
        return list(runs)
    if not str(only).strip():
        example = f" (e.g. {runs[0].run})" if runs else ""
        raise InputError(f"--only {only!r}: names no run; give a run id{example}, part of one, or a model, or "
                         "leave --only out for every run")
    only = str(only).strip()
    model_of = model_of or (lambda r: r.model_name)
    exact = [r for r in runs if r.run == only]
    chosen = exact or [r for r in runs if only in r.run or only == model_of(r)]
    if not chosen:
        examples = ", ".join(r.run for r in runs[:3]) or "none"
        raise InputError(f"--only {only}: no run{where} has that id, an id containing it, or that model "
                         f"(ids: {examples}{', ...' if len(runs) > 3 else ''})")
    return chosen


def train_suite(spec_path, corpus_dir, out_dir, parts=("grid", "long", "code"), device: str = "cpu",
                table_dir=None, progress: bool = True, only: str | None = None, init=None,
                init_seed: int | None = None, allow_same_data: bool = False) -> list[dict]:
    """Train every run of the chosen parts in spec order, appending each finished run to runs.csv.

    `init` (a weightstats.reinit.InitChoice or `MODE[:SOURCE]` text) and `init_seed` start every
    chosen run from that init instead of Pythia's, as runs of their own (see `with_init`);
    `allow_same_data` accepts a source trained on the run's own training split.
    """
    from scalefit.trainer.corpus import load_tokens

    out = Path(out_dir)
    spec = spec_for_corpus(spec_path, corpus_dir)
    load_tokens(corpus_dir, "prose", "train")
    check_eval_splits(spec, spec_path, corpus_dir)
    tables = Path(table_dir) if table_dir else out
    prov = provenance(spec_path, spec, device)
    rows = []
    # a long run as long as a grid run is that grid run (part grid, also long): --part long trains it
    chosen = [r for r in spec.runs if r.part in parts or r.also in parts]
    if not chosen:  # nothing to train was an exit status 0 with no word
        have = sorted({r.part for r in spec.runs} | {r.also for r in spec.runs if r.also})
        raise InputError(f"--part {', '.join(parts)}: {spec_path} has no run of "
                         f"{'that part' if len(parts) == 1 else 'these parts'} (its parts: {', '.join(have)})")
    runs = select_runs(chosen, only, where=f" of the parts {', '.join(parts)} (--part)")
    if init is not None or init_seed is not None:
        from scalefit.weightstats.reinit import InitChoice, parse_init

        choice = init if isinstance(init, InitChoice) else parse_init(init or "pythia")
        if choice.mode != "pythia" or init_seed is not None:
            runs = [with_init(r, choice.mode, choice.source, init_seed, allow_same_data=allow_same_data)
                    for r in runs]
    elif allow_same_data:
        from dataclasses import replace

        runs = [replace(r, allow_same_data=True) for r in runs]
    for run in runs:  # every run folder's settings before anything trains
        check_run_settings(spec, run, corpus_dir, out)
    check_table_settings(spec, runs, corpus_dir, tables)
    for folder in (out, tables):  # made once every check passed: a refused command leaves no empty folder
        folder.mkdir(parents=True, exist_ok=True)
    t_start = time.time()
    for run in runs:
        row = train_run(spec, run, corpus_dir, out, device=device, progress=progress)
        rows.append(row)
        append_row(tables / "runs.csv", row)
        prov["wall_s_this_invocation"] = round(time.time() - t_start, 1)
        prov["runs_done"] = len(rows)
        prov["runs_total"] = len(runs)
        write_json(tables / "provenance.json", prov)
    return rows

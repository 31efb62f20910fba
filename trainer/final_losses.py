"""A finished run's final losses on the suite's eval splits (the sets every checkpoint is swept on),
as its runs.csv row; and the check, before anything trains or is measured, that each split holds a window.
"""
from __future__ import annotations

from scalefit.errors import InputError
from scalefit.schema import FLOPS_PER_PARAM_TOKEN
from scalefit.trainer.spec import RunSpec, SuiteSpec, count_params, run_warmup_steps


EVAL_SPLITS = (("prose", "val"), ("prose", "test"), ("code", "val"), ("code", "test"))  # a run's final losses
# a run row's loss columns: `loss` on the run's own distribution's val split, then the others by split
LOSS_COLUMNS = ("loss", "loss_prose_test", "loss_code_test", "loss_code_val")
# every column evaluate_run measures, in runs.csv order: the losses, their SEs, the own split's eval set size
EVAL_COLUMNS = LOSS_COLUMNS + tuple(f"{c}_se" for c in LOSS_COLUMNS) + ("eval_tokens", "eval_docs")


def check_eval_splits(spec: SuiteSpec, spec_path, corpus_dir, splits=EVAL_SPLITS) -> None:
    """InputError, before anything trains or is measured, for an eval split shorter than one window
    of the recipe's seq_len: losses are scored on windows of seq_len + 1 tokens, and a split too
    short for one was found only once the first run had trained."""
    from scalefit.trainer.corpus import load_tokens

    window = spec.recipe.seq_len + 1
    for distribution, split in splits:
        n = load_tokens(corpus_dir, distribution, split).size
        if n < window:
            raise InputError(f"{corpus_dir}: the {distribution} {split} split has {n} tokens, fewer than one "
                             f"window of seq_len + 1 = {window} (the windows losses are scored on): lower "
                             f"[recipe] seq_len in {spec_path}, or build the corpus with more {split} documents "
                             f"(--{split}-frac)")


def evaluate_run(spec: SuiteSpec, run: RunSpec, model, corpus_dir, wall_s: float) -> dict:
    """Final losses (and their bootstrap-over-documents SE) on prose val (the grid's training
    distribution), prose test, code val and test: the eval sets every checkpoint is swept on."""
    from scalefit.evals.evalset import evalset_loss
    from scalefit.trainer.corpus import suite_eval_set

    r = spec.recipe
    ev = {f"{d}_{s}": evalset_loss(model, suite_eval_set(corpus_dir, d, s, r.seq_len, r.eval_tokens))
          for d, s in EVAL_SPLITS}
    params, nonembed = count_params(run.size, spec.vocab_size)
    tokens = run.steps * r.batch_tokens
    own_val = ev[f"{run.distribution}_val"]
    scored = {"loss": own_val, **{f"loss_{split}": result for split, result in ev.items()}}
    measured = {**{c: round(scored[c].loss, 5) for c in LOSS_COLUMNS},
                **{f"{c}_se": round(scored[c].se, 5) for c in LOSS_COLUMNS},
                "eval_tokens": own_val.n_tokens, "eval_docs": own_val.n_docs}
    row = {"model": run.size.name, "run": run.run, "part": run.part, "also": run.also,
           "checkpoints": len(run.checkpoints),
           "distribution": run.distribution, "params": params, "params_nonembed": nonembed,
           "tokens": tokens, "flops": FLOPS_PER_PARAM_TOKEN * params * tokens, "flops_budget": run.flops_budget,
           **{c: measured[c] for c in EVAL_COLUMNS},
           "d_model": run.size.d_model, "n_layer": run.size.n_layer, "n_head": run.size.n_head,
           "lr_peak": run.size.lr, "warmup_steps": run_warmup_steps(r, run), "steps": run.steps,
           "batch_tokens": r.batch_tokens, "seq_len": r.seq_len, "seed": r.seed,
           "wall_s": round(wall_s, 2), "schedule": run.style,
           **({"warmup_frac": run.warmup_frac} if run.warmup_frac is not None else {})}
    if run.branch_of:
        row.update(branch_of=run.branch_of, branch_step=run.branch_step, cooldown_fraction=run.cooldown_frac)
    return row

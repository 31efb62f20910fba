"""A finished run's final losses on the suite's eval splits (the sets every checkpoint is swept on),
as its runs.csv row; and the check, before anything trains or is measured, that each split holds a window.
"""
from __future__ import annotations

from scalefit.errors import InputError
from scalefit.schema import FLOPS_PER_PARAM_TOKEN
from scalefit.trainer.spec import RunSpec, SuiteSpec, count_params, run_warmup_steps


EVAL_SPLITS = (("prose", "val"), ("prose", "test"), ("code", "val"), ("code", "test"))  # a run's final losses


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
    row = {"model": run.size.name, "run": run.run, "part": run.part, "also": run.also,
           "checkpoints": len(run.checkpoints),
           "distribution": run.distribution, "params": params, "params_nonembed": nonembed,
           "tokens": tokens, "flops": FLOPS_PER_PARAM_TOKEN * params * tokens, "flops_budget": run.flops_budget,
           "loss": round(own_val.loss, 5), "loss_prose_test": round(ev["prose_test"].loss, 5),
           "loss_code_test": round(ev["code_test"].loss, 5), "loss_code_val": round(ev["code_val"].loss, 5),
           "loss_se": round(own_val.se, 5), "loss_prose_test_se": round(ev["prose_test"].se, 5),
           "loss_code_test_se": round(ev["code_test"].se, 5), "loss_code_val_se": round(ev["code_val"].se, 5),
           "eval_tokens": own_val.n_tokens, "eval_docs": own_val.n_docs,
           "d_model": run.size.d_model, "n_layer": run.size.n_layer, "n_head": run.size.n_head,
           "lr_peak": run.size.lr, "warmup_steps": run_warmup_steps(r, run), "steps": run.steps,
           "batch_tokens": r.batch_tokens, "seq_len": r.seq_len, "seed": r.seed,
           "wall_s": round(wall_s, 2), "schedule": run.style,
           **({"warmup_frac": run.warmup_frac} if run.warmup_frac is not None else {})}
    if run.branch_of:
        row.update(branch_of=run.branch_of, branch_step=run.branch_step, cooldown_fraction=run.cooldown_frac)
    return row

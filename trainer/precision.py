"""How precisely the suite's eval sets measure a loss, and a difference of two losses.

A checkpoint's mean loss has a standard error from the documents its eval set happens to hold
(`se` in the tables: a bootstrap over documents). Comparisons inside the suite use one eval set
for every checkpoint, so document difficulty cancels: the paired SE of a difference (documents
resampled jointly, scalefit.evals.evalset.paired_se) is what decides whether two runs differ.
`scalefit suite precision` measures both for the pairs the suite's analyses compare, and with a
target SE says how many documents an eval set like this one would need to reach it.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from scalefit.errors import InputError, known
from scalefit.trainer.spec import spec_for_corpus
from scalefit.trainer.sweep import SuiteCheckpoint, load_suite_model, suite_checkpoints

DATASET_SPLITS = {"prose-val": ("prose", "val"), "prose-test": ("prose", "test"), "code-test": ("code", "test")}


def default_pairs(checkpoints: list[SuiteCheckpoint]) -> list[tuple[str, str]]:
    """Pairs of final checkpoints the analyses compare: neighbouring warmup variants, neighbouring
    sizes at each length, a WSD cooldown against the cosine run of the same size and length."""
    finals = {c.model: c for c in checkpoints if c.final}
    pairs = []
    warm = sorted((c.run.warmup_frac, m) for m, c in finals.items() if c.run.part == "warmup")
    pairs += [(a[1], b[1]) for a, b in zip(warm, warm[1:])]
    cosine = {(c.run.size.name, c.run.steps): m for m, c in finals.items()
              if c.run.part == "grid" and c.run.style == "cosine"}
    by_name = {c.run.size.name: c.run.size for c in finals.values()}
    sizes = sorted({s for s, _ in cosine}, key=lambda s: by_name[s].d_model * by_name[s].n_layer)
    for steps in sorted({t for _, t in cosine}):
        have = [cosine[(s, steps)] for s in sizes if (s, steps) in cosine]
        pairs += list(zip(have, have[1:]))
    for m, c in finals.items():
        if c.run.part == "wsd" and c.run.style == "wsd" and (c.run.size.name, c.run.steps) in cosine:
            pairs.append((m, cosine[(c.run.size.name, c.run.steps)]))
    return pairs


def checked_pairs(pairs) -> list[tuple[str, str]]:
    """``pairs`` of model ids as given, each comparison once: B:A after A:B is an InputError (the
    same difference with its sign flipped, printed as if a second comparison)."""
    out = [tuple(p) for p in pairs]
    for i, (a, b) in enumerate(out):
        if (b, a) in out[:i]:
            raise InputError(f"--pair '{a}:{b}' is '{b}:{a}' the other way round (the same difference, "
                             "its sign flipped); give each pair once")
    return out


def precision_table(spec_path, suite_dir, corpus_dir, *, pairs=None, dataset: str = "prose-val",
                    target_se: float | None = None, progress: bool = True) -> pd.DataFrame:
    """Per pair of final checkpoints: both losses and SEs, the difference and its paired SE; with
    `target_se`, the documents an eval set like this one needs for either SE to reach it."""
    from scalefit.evals.evalset import check_target_se, documents_for_se, evalset_loss, paired_se
    from scalefit.trainer.corpus import suite_eval_set

    if target_se is not None:  # before any model is scored
        target_se = check_target_se(target_se)
    if dataset not in DATASET_SPLITS:
        raise InputError(f"--dataset {dataset}: use one of {', '.join(DATASET_SPLITS)}")
    spec = spec_for_corpus(spec_path, corpus_dir)
    cks = {c.model: c for c in suite_checkpoints(spec, suite_dir) if c.final}
    if not cks:  # said as suite sweep says it, not as 'no pair ... (known: )'
        raise InputError(f"{suite_dir}: no final checkpoint folders (step<N>/model.safetensors) for "
                         "this spec; --suite-dir is the folder `scalefit suite train --out` wrote")
    pairs = checked_pairs(pairs) if pairs else default_pairs(list(cks.values()))
    if not pairs:
        raise InputError(f"{suite_dir}: no pair to compare by default (warmup variants, neighbouring "
                         f"sizes at one length, WSD cooldowns); name two final checkpoints with "
                         f"--pair A:B (known: {known(cks)})")
    missing = sorted({m for p in pairs for m in p if m not in cks})
    if missing:
        raise InputError(f"{suite_dir}: no final checkpoint for {', '.join(missing)} "
                         f"(known: {known(cks)})")
    evalset = suite_eval_set(corpus_dir, *DATASET_SPLITS[dataset], spec.recipe.seq_len, spec.recipe.eval_tokens)
    losses = {}
    for m in sorted({m for p in pairs for m in p}):
        losses[m] = evalset_loss(load_suite_model(cks[m].path), evalset)
        if progress:
            print(f"{m}: {losses[m].loss:.4f} +- {format_se(losses[m].se)}", flush=True)
    rows = []
    for a, b in pairs:
        la, lb = losses[a], losses[b]
        row = {"a": a, "b": b, "dataset": dataset, "loss_a": la.loss, "loss_b": lb.loss,
               "se_a": la.se, "se_b": lb.se, "difference": la.loss - lb.loss,
               "paired_se": paired_se(la, lb), "n_docs": la.n_docs, "n_tokens": la.n_tokens}
        if target_se is not None:
            need = [documents_for_se(se, la.n_docs, target_se) for se in (la.se, lb.se, row["paired_se"])]
            row.update({"target_se": target_se, "docs_needed": max((n for n in need[:2] if n), default=None),
                        "docs_needed_paired": need[2]})
        rows.append(row)
    return pd.DataFrame(rows)


def format_se(se) -> str:
    """An SE for the terminal: 'n/a' where it is undefined (an eval set within one document has no
    spread between documents to bootstrap), not 'nan'."""
    import math

    return f"{se:.4f}" if se is not None and math.isfinite(se) else "n/a"


def target_summary(table: pd.DataFrame, corpus_dir) -> str:
    """One sentence: the documents a target SE needs, against what the split and the corpus hold."""
    from scalefit.trainer.corpus import read_manifest

    target, dataset = float(table["target_se"].iloc[0]), table["dataset"].iloc[0]
    distribution, split = DATASET_SPLITS[dataset]
    facts = read_manifest(corpus_dir, required=False).get("distributions", {}).get(distribution, {})
    # documents, as the split counts them: an exact duplicate file was dropped before the split
    in_split, files = facts.get(split, {}).get("n_docs"), facts.get("n_files")
    docs = files - facts.get("n_duplicates", 0) if files else None
    have = int(table["n_docs"].iloc[0])
    needed = table["docs_needed"].dropna()
    if needed.empty:
        return f"{dataset}: the eval set's windows fall in one document, so no SE can be extrapolated."
    lo, hi = int(needed.min()), int(needed.max())
    span = f"{hi:,}" if lo == hi else f"{lo:,}-{hi:,}"
    paired_ok = int((table["paired_se"] <= target).sum())
    held = f", the split {in_split}" if in_split else ""
    corpus = f", the whole {distribution} corpus {docs:,}" if docs else ""
    return (f"SE {target:g} nats for one checkpoint's loss on {dataset} needs {span} documents like "
            f"these (up to {hi / have:.0f}x the eval tokens); the eval set has {have}{held}{corpus}. "
            f"The paired SE of a difference is already within {target:g} for {paired_ok} of {len(table)} pairs.")


def write_precision(table: pd.DataFrame, out: Path) -> Path:
    """The table as CSV (atomically), for the suite's REPORT."""
    from scalefit.atomic import write_frame

    return write_frame(table.round(6), Path(out))

"""How a run's weights start: the init mode it asks for (weightstats.reinit) applied to a fresh
model, from a source checkpoint that is checked not to be trained on the run's own data.
"""
from __future__ import annotations

import json
from pathlib import Path

from scalefit.errors import InputError
from scalefit.trainer.checkpoints import TRAINING_DATA_FILE
from scalefit.trainer.corpus import corpus_fingerprint
from scalefit.trainer.spec import RunSpec, SuiteSpec


def init_source_folder(spec: SuiteSpec, run: RunSpec, out_dir) -> Path:
    """The checkpoint folder a run starts from: a spec run's last checkpoint under `out_dir`, or a path."""
    src = next((r for r in spec.runs if r.run == run.init_source), None)
    if src is None:
        if not Path(run.init_source).is_dir():
            raise InputError(f"{run.run}: init source '{run.init_source}' is neither a run of this spec "
                             "nor a checkpoint folder")
        return Path(run.init_source)
    folder = Path(out_dir) / src.run / f"step{src.steps}"
    if not (folder / "model.safetensors").exists():
        raise InputError(f"{run.run}: init source run {src.run} is not trained yet (no {folder}); "
                         f"train it first: scalefit suite train --part {src.part} --only {src.run}")
    return folder


def check_disjoint_data(source: Path, corpus_dir, run: RunSpec) -> str:
    """Refuse a source trained on this run's own training split (a permuted or sampled init could
    leak memorized text) unless the run allows it; returns what was checked, for the run's row."""
    record = Path(source) / TRAINING_DATA_FILE
    if not record.exists():
        return "unchecked (the source records no training data)"
    seen = json.loads(record.read_text())
    mine = corpus_fingerprint(corpus_dir, run.distribution)
    if seen.get("corpus") != mine:
        return f"disjoint ({seen.get('distribution', '?')} train vs {run.distribution} train)"
    if run.allow_same_data:
        return f"same data allowed ({run.distribution} train)"
    raise InputError(f"{run.run}: init source {source} was trained on this run's own data "
                     f"({run.distribution} train split of this corpus); train the source on the code "
                     "corpus (or another disjoint split), or pass --allow-same-data")


def apply_init(spec: SuiteSpec, run: RunSpec, model, corpus_dir, out_dir) -> dict:
    """Re-initialize a fresh model as the run asks (weightstats.reinit); returns the row's init facts."""
    from scalefit.weightstats.reinit import reinit

    seed = spec.recipe.seed if run.init_seed is None else run.init_seed
    facts = {"init": run.init, "init_seed": seed, "init_source": "", "init_data_check": ""}
    if run.init == "pythia" and run.init_seed is None:
        return facts  # build_model's Pythia init with the recipe's seed: today's default
    source = None
    if run.init != "pythia":
        source = init_source_folder(spec, run, out_dir)
        facts["init_data_check"] = check_disjoint_data(source, corpus_dir, run)
        facts["init_source"] = str(source)
    reinit(model, source, run.init, seed, embeddings=run.init_embeddings)
    return facts

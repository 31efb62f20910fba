"""What a run folder (and a --tables folder) records it was trained with (RUN_SETTINGS_FILE, read,
checked and written here alone), and the check that refuses to reuse one under another spec or corpus.
"""
from __future__ import annotations

import json
import math
from dataclasses import asdict
from pathlib import Path

from scalefit.atomic import write_json
from scalefit.errors import InputError
from scalefit.trainer.checkpoints import TRAINING_DATA_FILE
from scalefit.trainer.corpus import corpus_fingerprint
from scalefit.trainer.spec import RunSpec, SuiteSpec, run_warmup_steps

RUN_SETTINGS_FILE = "run_settings.json"
# result.json columns of runs trained before run_settings.json existed, by the setting they record
LEGACY_RESULT_KEYS = {"lr": "lr_peak", "seed": "seed", "seq_len": "seq_len", "steps": "steps",
                      "d_model": "d_model", "n_layer": "n_layer", "n_head": "n_head",
                      "warmup_steps": "warmup_steps"}


def run_settings(spec: SuiteSpec, run: RunSpec, corpus_dir) -> dict:
    """Everything a run's weights and final losses depend on, by the spec key that sets it (and
    `corpus`, the fingerprint of its training distribution): recorded in the run folder, so a
    re-run with another spec or corpus is refused instead of reusing the old run."""
    r = spec.recipe
    out = {"lr": run.size.lr, "d_model": run.size.d_model, "n_layer": run.size.n_layer,
           "n_head": run.size.n_head, "vocab_size": spec.vocab_size, "steps": run.steps,
           "distribution": run.distribution, "corpus": corpus_fingerprint(corpus_dir, run.distribution),
           "seq_len": r.seq_len, "batch_seqs": r.batch_seqs, "seed": r.seed,
           "warmup_steps": run_warmup_steps(r, run), "min_lr_ratio": r.min_lr_ratio,
           "weight_decay": r.weight_decay, "beta1": r.beta1, "beta2": r.beta2, "eps": r.eps,
           "grad_clip": r.grad_clip, "eval_tokens": r.eval_tokens, "schedule": run.style,
           "init": run.init, "init_source": run.init_source, "init_seed": run.init_seed,
           "init_embeddings": run.init_embeddings, "branch_of": run.branch_of, "branch_step": run.branch_step}
    if run.style == "wsd":
        out["cooldown_frac"] = run.cooldown_frac
    return out


def _recorded_settings(run_dir: Path) -> dict:
    """The settings a run folder records: run_settings.json, else (a run trained before it
    existed) what its result.json and checkpoints' training_data.json say."""
    path = run_dir / RUN_SETTINGS_FILE
    if path.is_file():
        return json.loads(path.read_text())
    out = {}
    done = run_dir / "result.json"
    if done.is_file():
        row = json.loads(done.read_text())
        out.update({key: row[col] for key, col in LEGACY_RESULT_KEYS.items() if col in row})
    for record in sorted(run_dir.glob(f"*/{TRAINING_DATA_FILE}")):
        out.setdefault("corpus", json.loads(record.read_text()).get("corpus"))
    return out


def check_run_settings(spec: SuiteSpec, run: RunSpec, corpus_dir, out_dir) -> dict:
    """InputError when the run's folder was trained with other settings (a changed spec key or
    another corpus); returns the run's settings."""
    settings = run_settings(spec, run, corpus_dir)
    run_dir = Path(out_dir) / run.run
    if not run_dir.is_dir():
        return settings
    changed = _changed_setting(_recorded_settings(run_dir), settings)
    if changed:
        key, was, now = changed
        what = "--corpus" if key == "corpus" else f"'{key}'"
        raise InputError(f"{run.run}: {run_dir} was trained with {key} {was}, the spec and corpus now give "
                         f"{now} ({what} changed); a run folder holds one run: train into a new --out, "
                         f"or delete {run_dir} to train it again")
    return settings


def record_run_settings(run_dir: Path, settings: dict) -> None:
    """Write the run's settings into its folder once, when training starts there: a resumed run
    keeps the record it was started under (check_run_settings compares against it)."""
    path = Path(run_dir) / RUN_SETTINGS_FILE
    if not path.exists():
        write_json(path, settings)


def _changed_setting(recorded: dict, settings: dict):
    """The first (key, recorded value, value now) of `recorded` that `settings` gives otherwise
    (numbers equal to 1e-9 relative; a key `settings` lacks is not compared), or None."""
    for key, was in recorded.items():
        now = settings.get(key, was)
        same = was == now or (isinstance(was, (int, float)) and isinstance(now, (int, float))
                              and not isinstance(was, bool) and math.isclose(was, now, rel_tol=1e-9))
        if not same:
            return key, was, now
    return None


def check_table_settings(spec: SuiteSpec, runs: list[RunSpec], corpus_dir, tables: Path) -> None:
    """InputError when the --tables folder (default --out) holds runs of other settings: its
    provenance.json records another recipe or vocabulary, or runs.csv a row of one of `runs`
    trained otherwise. Their rows would stand in one runs.csv beside this spec's (or be replaced
    by them), under a provenance.json that describes only the last spec."""
    import pandas as pd

    where = (f"a folder's runs.csv holds the runs of one spec: give a new --tables (or --out), or remove "
             f"{tables / 'runs.csv'} and {tables / 'provenance.json'}")
    prov = tables / "provenance.json"
    if prov.is_file():
        try:
            old = json.loads(prov.read_text())
        except ValueError as exc:
            raise InputError(f"--tables {tables}: {prov} is not JSON ({exc}); {where}") from None
        if not isinstance(old, dict) or not isinstance(old.get("recipe", {}), dict):
            raise InputError(f"--tables {tables}: {prov} is not a suite's provenance (an object with a "
                             f"'recipe' object); {where}")
        now = {"vocab_size": spec.vocab_size, **asdict(spec.recipe)}
        was = {"vocab_size": old.get("vocab_size"), **old.get("recipe", {})}
        was.pop("resume_every", None)  # how often a resume point is saved: the weights are the same
        changed = _changed_setting({k: v for k, v in was.items() if v is not None and k in now}, now)
        if changed:
            key, before, after = changed
            raise InputError(f"--tables {tables}: holds runs trained with {key} {before} ({prov}), the spec "
                             f"now gives {after}; {where}")
    table = tables / "runs.csv"
    if not table.is_file():
        return
    try:
        frame = pd.read_csv(table)
    except ValueError as exc:  # pandas.errors.EmptyDataError and ParserError are ValueErrors
        raise InputError(f"--tables {tables}: {table} cannot be read as CSV ({exc}); {where}") from None
    if "run" not in frame.columns:
        raise InputError(f"--tables {tables}: {table} has no 'run' column (its columns: "
                         f"{', '.join(map(str, frame.columns))}), so it is no suite's runs.csv; {where}")
    rows = {row["run"]: row for row in frame.to_dict("records")}
    for run in runs:
        if run.run not in rows:
            continue
        row = rows[run.run]
        recorded = {key: row[col] for key, col in LEGACY_RESULT_KEYS.items() if col in row and pd.notna(row[col])}
        changed = _changed_setting(recorded, run_settings(spec, run, corpus_dir))
        if changed:
            key, before, after = changed
            raise InputError(f"--tables {tables}: its runs.csv holds {run.run} trained with {key} {before}, the "
                             f"spec now gives {after}; {where}")

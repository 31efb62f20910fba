"""Run metadata written beside a sweep's tables: versions, device, dtype, seed, options, outcome.

A table of losses is only comparable with another if the code, the precision and the windowing
match, so every sweep records them (`run.json`, or `run.shard-K-of-N.json` for one shard).
"""
from __future__ import annotations

import datetime as dt
import json
import platform
import sys
from importlib import metadata
from pathlib import Path

from scalefit.atomic import write_json
from scalefit.errors import warn

PACKAGES = ("scalefit", "torch", "transformers", "lm_eval", "tokenizers", "safetensors", "numpy", "pandas")


def package_versions() -> dict[str, str | None]:
    """Installed version of each package a measurement depends on (None when absent)."""
    out = {}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name.replace("_", "-"))
        except metadata.PackageNotFoundError:
            try:
                out[name] = metadata.version(name)
            except metadata.PackageNotFoundError:
                out[name] = None
    return out


def now() -> str:
    """The current UTC time, ISO 8601 to the second."""
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat()


def run_metadata(*, device, dtype, seed: int, options: dict, suite: str, grid_size: int,
                 shard: tuple[int, int]) -> dict:
    """The facts of one sweep invocation (its outcome is added when it ends)."""
    import torch

    dev = str(device)
    gpu = torch.cuda.get_device_name(device) if dev.startswith("cuda") and torch.cuda.is_available() else None
    return {"started": now(), "suite": suite, "checkpoints_in_shard": grid_size,
            "shard": f"{shard[0]}/{shard[1]}", "device": dev, "gpu": gpu,
            "dtype": None if dtype is None else str(dtype).replace("torch.", ""), "seed": seed,
            "torch_threads": torch.get_num_threads(), "python": sys.version.split()[0],
            "platform": platform.platform(), "packages": package_versions(),
            "command": " ".join(sys.argv), "options": options}


def metadata_name(shard: tuple[int, int]) -> str:
    """run.json for a whole sweep, run.shard-K-of-N.json for one shard of it."""
    return "run.json" if shard[1] == 1 else f"run.shard-{shard[0]}-of-{shard[1]}.json"


def write_metadata(meta: dict, out_dir, name: str) -> Path:
    """Write the metadata JSON atomically."""
    return write_json(Path(out_dir) / name, meta)


def read_metadata(dirs) -> list[dict]:
    """Every run*.json found in the given sweep folders (for `scalefit eval merge`)."""
    runs = []
    for d in dirs:
        for path in sorted(Path(d).glob("run*.json")):
            try:
                runs.append({"folder": str(d), "file": path.name, **json.loads(path.read_text())})
            except json.JSONDecodeError:
                continue
    return runs


def say_unrecorded_facts(measurements, known: dict, out_dir, checked_by: dict | None = None) -> list[str]:
    """One warning naming the facts this run records of its measurements (their options: --device,
    the tokenizer of a model, the tokens and LR of a model in --suite, ...) that the folder's record
    ``known`` (sweep.engine.recorded_options) lacks for measurements it holds results of: written by
    an earlier scalefit, before it recorded them, so those results cannot be checked against them.
    This run records them (check_options), so that later runs are checked against its own.
    ``checked_by``: {fact: an older option whose record compares it} (a recorded --cross-entropy flag
    stands for the head resolved from it). Said only where the facts that are recorded all match
    (otherwise check_options refuses the run in one line). Returns the facts named."""
    from scalefit.sweep.engine import _plain
    from scalefit.sweep.parts import has_results

    checked_by = checked_by or {}
    absent: dict[str, None] = {}  # the facts, in order of first appearance
    names = []
    for m in measurements:
        before = known.get(m.name)
        if not isinstance(before, dict) or not has_results(out_dir, m):
            continue  # nothing measured (or a record to be made afresh): nothing to check against
        if any(k in before and _plain(before[k]) != _plain(v) for k, v in m.options.items()):
            return []  # refused by check_options, in its own one line
        lacking = [k for k in m.options if k not in before and checked_by.get(k) not in before]
        if lacking:
            absent.update(dict.fromkeys(lacking))
            names.append(m.name)
    if absent:
        warn(f"{out_dir}: recorded by an earlier scalefit without {', '.join(absent)} ({', '.join(names)}); "
             "its results are not checked against them, and this run records them for later runs")
    return list(absent)

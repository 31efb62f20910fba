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


def weights_sweep_in(folder) -> bool:
    """Whether `folder` holds a `scalefit weights` sweep: a run*.json it recorded (its options name
    --checkpoint and no --dataset), or, with none (stopped while it wrote its tables), the report
    that command writes. `scalefit eval` into it would replace that record and report."""
    folder = Path(folder)
    for run in read_metadata([folder]):
        options = run.get("options")
        if isinstance(options, dict) and "checkpoint" in options and "datasets" not in options:
            return True
    report = folder / "report.md"
    try:
        return report.is_file() and report.read_text().startswith("# Weight statistics")
    except (OSError, UnicodeDecodeError):
        return False

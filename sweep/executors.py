"""Where a sweep's checkpoints are measured: here one after another (local), or on a Ray cluster.

`--executor local` (the default) runs `engine.measure_checkpoint` for each pending checkpoint in
this process; `--executor ray[:ADDRESS]` sends one Ray task per checkpoint (see
`scalefit.sweep.ray_executor`). Every executor writes the same idempotent result files into the
same folder, so a sweep started with one can be finished with another, and `--shard K/N` (SLURM
arrays) combines with either.
"""
from __future__ import annotations

import importlib.util

from scalefit.errors import InputError

EXECUTORS = ("local", "ray")


def ray_missing() -> ModuleNotFoundError:
    """The error the `scalefit` command turns into "pip install 'scalefit[ray]'" (exit 2)."""
    return ModuleNotFoundError("No module named 'ray'", name="ray")


def parse_executor(text: str | None, *, threads: int | None = None, max_retries: int = 3):
    """'local' -> None (measure here); 'ray' or 'ray:ADDRESS' -> a RayExecutor.

    Refuses anything else (InputError), a HOST:PORT address where nothing listens (InputError),
    and a Ray executor where ray is not installed (ModuleNotFoundError naming ray) before
    anything is measured.
    """
    value = (text or "local").strip()
    kind, sep, address = value.partition(":")  # 'ray:' with no address was a local cluster in silence
    if kind not in EXECUTORS or (kind == "local" and address) or (sep and not address.strip()):
        raise InputError(f"--executor {value}: use local, ray (a local Ray cluster) or ray:ADDRESS "
                         "(e.g. ray:auto, ray:10.0.0.1:6379, ray:ray://head:10001)")
    if kind == "local":
        return None
    if importlib.util.find_spec("ray") is None:
        raise ray_missing()
    from scalefit.sweep.ray_executor import RayExecutor, probe

    probe(address or None)  # nothing listening there (or at RAY_ADDRESS): said now, before the sweep folder is touched
    return RayExecutor(address=address or None, threads=threads, max_retries=max_retries)

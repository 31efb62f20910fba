"""A run's checkpoint folders on disk: written atomically (safetensors weights, optimizer and step
to resume, what the weights were trained on), read back, the latest resumable one, damaged ones set aside.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

from scalefit.atomic import TMP_MARK, atomic_write
from scalefit.trainer.corpus import corpus_fingerprint
from scalefit.trainer.spec import RunSpec


TRAINING_DATA_FILE = "training_data.json"


def save_checkpoint(folder: Path, model, optimizer=None, state: dict | None = None,
                    data: dict | None = None) -> None:
    """Write a checkpoint folder atomically: safetensors weights (+ optimizer and state to resume),
    and `data` (what the weights were trained on) as training_data.json."""
    import torch

    def write(tmp: Path) -> None:
        model.save_pretrained(str(tmp), safe_serialization=True)
        if optimizer is not None:
            torch.save(optimizer.state_dict(), tmp / "optimizer.pt")
        if state is not None:
            (tmp / "trainer_state.json").write_text(json.dumps(state))
        if data is not None:
            (tmp / TRAINING_DATA_FILE).write_text(json.dumps(data))

    atomic_write(folder, write)


def latest_resumable(run_dir: Path):
    """The resumable checkpoint with the highest step in a run folder, or None."""
    best = None
    for f in run_dir.glob("*/trainer_state.json"):
        if TMP_MARK in f.parent.name or f.parent.name.endswith(".tmp"):
            continue
        step = json.loads(f.read_text())["step"]
        if (f.parent / "optimizer.pt").exists() and (best is None or step > best[0]):
            best = (step, f.parent)
    return best


DAMAGED = "damaged"  # a run folder's subfolder for checkpoints that could not be read


def set_aside_damaged(folder: Path) -> Path:
    """Move an unreadable checkpoint folder to RUN/damaged/ (out of the resume and sweep paths,
    kept for a look) and return where it went."""
    target = folder.parent / DAMAGED / folder.name
    if target.exists():
        shutil.rmtree(target)
    target.parent.mkdir(exist_ok=True)
    folder.rename(target)
    return target


def load_checkpoint(folder: Path, model, optimizer) -> dict:
    """Restore weights (safetensors) and optimizer state (torch.load weights_only) into place."""
    import torch
    from safetensors.torch import load_file

    state = _own_names(load_file(str(folder / "model.safetensors")), model)
    model.load_state_dict(state, strict=True)
    optimizer.load_state_dict(torch.load(folder / "optimizer.pt", weights_only=True))
    return json.loads((folder / "trainer_state.json").read_text())


def _own_names(state: dict, model) -> dict:
    """Saved tensor names as the model names them: transformers 5 writes GPT-NeoX's output head as
    `embed_out.weight` but calls it `lm_head.weight` in memory (a silent mismatch under strict=False)."""
    own = set(model.state_dict())
    renamed = {}
    for name, tensor in state.items():
        if name not in own and name.startswith("embed_out.") and "lm_head." + name[10:] in own:
            name = "lm_head." + name[10:]
        renamed[name] = tensor
    return renamed


def training_data(corpus_dir, run: RunSpec) -> dict:
    """What a run's checkpoints were trained on (written beside each checkpoint's weights)."""
    return {"corpus": corpus_fingerprint(corpus_dir, run.distribution), "distribution": run.distribution,
            "split": "train", "run": run.run, "init": run.init}

"""Loading one checkpoint of a suite (hub revision or local folder) safely, and forgetting it after.

Weights load only from safetensors unless the user allows `.bin` files, and then only through
`torch.load(weights_only=True)`; remote code is never trusted. Device and dtype are chosen
automatically (CUDA bf16 when there is a GPU, CPU fp32 otherwise) and can be overridden.
"""
from __future__ import annotations

from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scalefit.errors import InputError, warn
from scalefit.sweep import hub
from scalefit.sweep.suites import SuiteSpec, local_step_folders

DTYPES = {"float32": "float32", "fp32": "float32", "bfloat16": "bfloat16", "bf16": "bfloat16",
          "float16": "float16", "fp16": "float16"}


@dataclass
class CheckpointInfo:
    """One (model, step) of a suite: where its weights are and the facts a result row carries."""

    model: str
    step: int
    tokens: int
    lr: float | None
    params: int | None = None
    params_nonembed: int | None = None
    repo: str | None = None          # hub repo id, or None for a local folder
    revision: str | None = None
    path: str | None = None          # local folder
    tokenizer_source: str | None = None
    vocab_size: int | None = None    # embedding rows per the suite's registry (padded_vocab), if it says
    seq_len: int | None = None       # the context it was trained at, per the registry (seq_len), if it says
    tokenizer: Any = field(default=None, repr=False, compare=False)  # set once loaded
    folder: str | None = field(default=None, compare=False)  # the weight files on this machine, once loaded

    @property
    def location(self) -> str:
        """Human-readable place of the weights (repo@revision or folder)."""
        return f"{self.repo}@{self.revision}" if self.repo else str(self.path)

    @property
    def key(self) -> str:
        """File-name-safe identifier of this checkpoint."""
        return f"{self.model.replace('/', '__')}/step{self.step:07d}"


def checkpoint_grid(suite: SuiteSpec, models, steps) -> list[CheckpointInfo]:
    """Every (model, step) checkpoint to measure, in a fixed order (model, then step)."""
    grid = []
    for name in models:
        m = suite.member(name)
        on_disk = local_step_folders(suite, m.name) if suite.local else {}
        for step in steps:
            info = CheckpointInfo(model=m.name, step=int(step), tokens=int(step) * suite.tokens_per_step,
                                  lr=float(suite.lr(m, step)) if (m.lr_peak or suite.schedule.peak) else None,
                                  params=m.params, params_nonembed=m.params_nonembed,
                                  tokenizer_source=suite.tokenizer,
                                  vocab_size=_whole(m.extra.get("padded_vocab")),
                                  seq_len=_whole(m.extra.get("seq_len")))
            if suite.hub:
                info.repo = suite.hub.format(model=m.name, step=step)
                info.revision = suite.revision.format(model=m.name, step=step)
            else:
                info.path = suite.local.format(model=m.name, step=step)
                if not Path(info.path).exists():  # the folder that names this step otherwise (step00100)
                    info.path = on_disk.get(int(step), info.path)
            grid.append(info)
    return grid


def _whole(value) -> int | None:
    """A registry fact as a whole number > 0, or None where it is absent or not one."""
    try:
        number = int(value)
    except (TypeError, ValueError):
        return None
    return number if number > 0 and number == value else None


def pick_device_dtype(device: str | None = None, dtype: str | None = None):
    """(torch.device, torch.dtype): CUDA + bf16 when available, else CPU + fp32, unless given."""
    import torch

    from scalefit.options import torch_device

    if device in (None, "auto"):
        device = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch_device("--device", device)
    if dtype in (None, "auto"):
        dtype = "bfloat16" if device.startswith("cuda") else "float32"
    if dtype not in DTYPES:
        raise InputError(f"--dtype {dtype}: use auto, float32, bfloat16 or float16")
    return torch.device(device), getattr(torch, DTYPES[dtype])


def load_checkpoint(info: CheckpointInfo, device=None, dtype=None, *, allow_bin: bool = False,
                    cache_dir: str | None = None):
    """Load (model, tokenizer) for one checkpoint, in eval mode on `device` with `dtype`.

    Raises the loader's own exception when the checkpoint is missing or unreadable: the sweep
    records it and goes on.
    """
    from transformers import AutoModelForCausalLM

    dev, dt = device, dtype
    if not hasattr(dev, "type"):
        dev, dt = pick_device_dtype(device, dtype)
    source = info.repo if info.repo else info.path
    kwargs = dict(revision=info.revision, cache_dir=cache_dir, **hub.hub_kwargs()) if info.repo else {}
    if info.path and not Path(info.path).is_dir():
        raise FileNotFoundError(f"checkpoint folder {info.path} does not exist")
    if info.path:
        require_config(info.path)
    if info.path and not allow_bin and not list(Path(info.path).glob("*.safetensors")) \
            and list(Path(info.path).glob("*.bin")):
        raise PermissionError(f"{info.path} holds only pickle .bin weights; pass --allow-bin to load them "
                              "(with torch.load(weights_only=True))")
    with hub.attempt(f"{info.repo} {info.revision}") if info.repo else nullcontext(), named_load_errors(info):
        model = AutoModelForCausalLM.from_pretrained(
            source, dtype=dt, trust_remote_code=False,
            use_safetensors=None if allow_bin else True, weights_only=True, **kwargs)
    model.to(dev).eval()
    info.folder = info.path or _hub_folder(info, cache_dir)
    info.tokenizer = load_tokenizer(info, cache_dir=cache_dir)
    return model, info.tokenizer


@contextmanager
def named_load_errors(info: CheckpointInfo):
    """A .bin that torch.load(weights_only=True) refuses (it pickles more than tensors) is
    recorded as refused: torch's own message advises re-running with weights_only=False, which
    runs whatever code the pickle holds, and scalefit never does that. A damaged safetensors file
    is named (safetensors' error names none)."""
    import pickle

    try:
        yield
    except pickle.UnpicklingError as exc:
        raise PermissionError(f"{info.location}: a pickle .bin holds objects other than tensors, which "
                              "torch.load(weights_only=True) refuses and scalefit never loads otherwise "
                              "(it could run code); convert a trusted copy to safetensors") from exc
    except Exception as exc:  # safetensors' own error names no file: find the one it could not read
        damaged = _unreadable_safetensors(info.path) if type(exc).__name__ == "SafetensorError" else None
        if damaged is None:
            raise
        raise ValueError(f"{damaged}: cannot read as safetensors ({str(exc).splitlines()[0]}); the file is "
                         "truncated or damaged (an interrupted copy?)") from exc


def _unreadable_safetensors(folder) -> Path | None:
    """The first *.safetensors file of a local checkpoint folder whose header cannot be read."""
    from safetensors import safe_open

    for path in sorted(Path(folder).glob("*.safetensors")) if folder else ():
        try:
            with safe_open(str(path), framework="pt"):
                pass
        except Exception:  # noqa: BLE001 - a truncated or foreign file is what is looked for
            return path
    return None


def require_config(folder) -> None:
    """A local checkpoint folder holds a readable config.json, else FileNotFoundError (or
    ValueError) naming it: the model's configuration is what loads the model, and what weight
    statistics split a fused attention matrix into q, k, v by (its heads), so a folder without
    it is a failed checkpoint for `eval` and `weights` alike, not one measured with fewer rows."""
    if not (Path(folder) / "config.json").is_file():
        raise FileNotFoundError(f"{folder}: no config.json in the checkpoint folder (the model's "
                                "configuration, saved beside the weights by save_pretrained)")
    _check_config(Path(folder) / "config.json")


def _check_config(path: Path) -> None:
    """A config.json that is not a JSON object is named (transformers says only 'Expecting ...')."""
    import json

    try:
        config = json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path}: not valid JSON ({getattr(exc, 'msg', exc)})") from None
    if not isinstance(config, dict):
        raise ValueError(f"{path}: not a JSON object (the model's configuration)")


def _hub_folder(info: CheckpointInfo, cache_dir: str | None) -> str | None:
    """The cached snapshot folder of a hub revision that was just loaded (None if not found)."""
    try:
        from huggingface_hub import snapshot_download

        return snapshot_download(info.repo, revision=info.revision, cache_dir=cache_dir, local_files_only=True,
                                 allow_patterns=["*.safetensors", "*.safetensors.index.json", "*.bin",
                                                 "config.json"])
    except Exception:  # noqa: BLE001 - no fingerprint is better than a failed checkpoint
        return None


def load_tokenizer(info: CheckpointInfo, cache_dir: str | None = None):
    """The checkpoint's tokenizer (from its folder/revision), else the suite's named tokenizer."""
    from transformers import AutoTokenizer

    source = info.repo if info.repo else info.path
    kwargs = dict(revision=info.revision, cache_dir=cache_dir, **hub.hub_kwargs()) if info.repo else {}
    try:
        tok = AutoTokenizer.from_pretrained(source, trust_remote_code=False, **kwargs)
        if not _encodes_text(tok):  # a folder without tokenizer files gave an empty one (2 ids)
            raise ValueError("its tokenizer encodes text as no tokens (no tokenizer.json, or vocab and "
                             "merges files)")
        return tok
    except (OSError, ValueError) as exc:
        if info.tokenizer_source:
            return AutoTokenizer.from_pretrained(info.tokenizer_source, trust_remote_code=False, **hub.hub_kwargs())
        if info.repo:
            raise
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ValueError(f"{info.path}: no usable tokenizer in the checkpoint folder ({first}) and the suite "
                         "names none (tokenizer = ... in the suite spec)") from None


def _encodes_text(tokenizer) -> bool:
    """Whether the tokenizer turns a line of plain text into tokens: an empty GPTNeoXTokenizer,
    which transformers builds for a folder that holds no tokenizer files, returns [] for any
    text, and every document of a dataset became its end-of-text token alone."""
    return bool(tokenizer("The quick brown fox.", add_special_tokens=False)["input_ids"])


def cleanup_checkpoint(info: CheckpointInfo, cache_dir: str | None = None) -> int:
    """Delete this checkpoint's revision from the local HF cache; returns bytes freed (0 if none).

    Local folders are never deleted: they are the user's data, not a cache.
    """
    if not info.repo:
        return 0
    from huggingface_hub import scan_cache_dir

    try:
        cache = scan_cache_dir(cache_dir)
    except Exception:  # no cache yet
        return 0
    for repo in cache.repos:
        if repo.repo_id != info.repo:
            continue
        hashes = [r.commit_hash for r in repo.revisions if info.revision in r.refs
                  or r.commit_hash.startswith(str(info.revision))]
        if hashes:
            strategy = cache.delete_revisions(*hashes)
            freed = strategy.expected_freed_size
            strategy.execute()
            return int(freed)
    return 0


def cleanup_after_measuring(grid: list[CheckpointInfo], cache_dir: str | None = None):
    """cleanup(info) for --cleanup: each hub checkpoint deleted from the cache once measured.

    Local folders are never deleted (they are the user's data, not a cache): a grid that holds
    some says so once (a ScalefitWarning naming --cleanup) rather than doing nothing in silence;
    None when no checkpoint of the grid comes from the hub.
    """
    local = [info for info in grid if not info.repo]
    if local:
        every = len(local) == len(grid)
        warn(f"--cleanup: {'the' if every else f'{len(local)} of the {len(grid)}'} checkpoints are local "
             "folders, which are never deleted (--cleanup deletes hub downloads from the cache once measured)"
             + ("; nothing will be deleted" if every else ""))
    if len(local) == len(grid):
        return None
    return lambda info: cleanup_checkpoint(info, cache_dir)


def safetensors_loader(hub_cache: str | None = None):
    """load(info) for a sweep that reads weights from files: a local path as it is, a hub
    revision downloaded as safetensors only (config.json beside it); no model is built. A folder
    without its config.json fails, as `load_checkpoint`'s does (`require_config`)."""
    def load(info: CheckpointInfo):
        if info.path:
            if not Path(info.path).exists():
                raise FileNotFoundError(f"checkpoint {info.path} does not exist")
            path = Path(info.path)
            require_config(path if path.is_dir() else path.parent)
            info.folder = info.path
            return info.path, None
        with hub.attempt(f"{info.repo} {info.revision}"):
            folder = _download_weight_files(info, hub_cache)
        require_config(folder)
        info.folder = folder
        return folder, None
    return load


MODEL_FILES = ["config.json", "model.safetensors", "model.safetensors.index.json"]


def _download_weight_files(info: CheckpointInfo, hub_cache: str | None) -> str:
    """A hub revision's config and the safetensors files the model is read from: model.safetensors,
    or the shards its index names (not a stray copy such as Mistral's consolidated.safetensors,
    which weight statistics never read: it doubled the download); every *.safetensors only
    where the revision has neither."""
    import json

    from huggingface_hub import snapshot_download

    def download(patterns):
        return snapshot_download(info.repo, revision=info.revision, cache_dir=hub_cache,
                                 allow_patterns=patterns, **hub.hub_kwargs())

    folder = Path(download(MODEL_FILES))
    index = folder / "model.safetensors.index.json"
    if (folder / "model.safetensors").exists() and not index.exists():
        return str(folder)
    if index.exists():
        try:
            shards = sorted(set(json.loads(index.read_text())["weight_map"].values()))
        except (ValueError, KeyError, TypeError, AttributeError):
            shards = ["*.safetensors"]  # an index that names none: weight statistics says what is wrong
        return download(MODEL_FILES + shards)
    return download(MODEL_FILES + ["*.safetensors"])

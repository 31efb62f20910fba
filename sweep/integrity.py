"""A content fingerprint of a checkpoint's weights, read from its files (no model is built).

`fingerprint_folder(folder)` reads the files the weights are read from (weightstats'
`safetensors_files`: the shards model.safetensors.index.json names, else model.safetensors; a
stray full copy beside them, Mistral's consolidated.safetensors, is not read) by their headers and
hashes each tensor's raw bytes with BLAKE2b (128-bit digest), tensors in name order, each
preceded by its name, dtype and shape: two checkpoints share a fingerprint exactly when they
hold the same tensors with the same stored bytes, whatever the file sharding. Every byte is read
(about 1 GB/s on one core: 24 s for a 12B fp16 checkpoint, small next to its download). A
folder without safetensors (pickle `.bin` weights) is hashed file by file (`blake2b-128/files`).

It also keeps a fixed sample of SAMPLE_SIZE weight entries (positions drawn per tensor from
its name and shape, so every step of a run samples the same entries) as float32, for the
distance between steps that `scalefit.integrity` uses to find trend breaks.
"""
from __future__ import annotations

import base64
import hashlib
import json
import struct
from pathlib import Path

import numpy as np

SAMPLE_SIZE = 1024
HASH = "blake2b-128/tensors"
_FLOATS = {"F64": np.float64, "F32": np.float32, "F16": np.float16, "BF16": np.uint16}
_SIZES = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U8": 1,
          "BOOL": 1, "F8_E4M3": 1, "F8_E5M2": 1, "U16": 2, "U32": 4, "U64": 8}


def _header(path: Path) -> tuple[int, dict]:
    with open(path, "rb") as fh:
        (size,) = struct.unpack("<Q", fh.read(8))
        header = json.loads(fh.read(size))
    header.pop("__metadata__", None)
    return 8 + size, header


def _sample_positions(name: str, shape, numel: int, total: int) -> np.ndarray:
    count = max(1, round(SAMPLE_SIZE * numel / total)) if total else 1
    seed = int.from_bytes(hashlib.blake2b(f"{name}{list(shape)}".encode(), digest_size=8).digest(), "little")
    return np.sort(np.random.default_rng(seed).integers(0, numel, size=min(count, numel)))


def _as_float32(raw: np.ndarray, dtype: str) -> np.ndarray:
    if dtype == "BF16":
        return (raw.astype(np.uint32) << 16).view(np.float32)
    return raw.astype(np.float32)


def fingerprint_folder(folder) -> dict:
    """{fingerprint, hash, n_tensors, n_bytes, sample} of the weights in `folder` (or one file)."""
    folder = Path(folder)
    files = _weight_files(folder)
    if not files:
        return _file_hash(sorted(folder.glob("*.bin")) if folder.is_dir() else [])
    tensors = []
    for path in files:
        start, header = _header(path)
        tensors += [(name, path, start, spec) for name, spec in header.items()]
    tensors.sort(key=lambda t: t[0])
    total = sum(int(np.prod(spec["shape"], dtype=np.int64)) for _, _, _, spec in tensors
                if spec["dtype"] in _FLOATS)
    digest = hashlib.blake2b(digest_size=16)
    samples, n_bytes, handles = [], 0, {}
    try:
        for name, path, start, spec in tensors:
            fh = handles.get(path) or handles.setdefault(path, open(path, "rb"))
            begin, end = (start + int(o) for o in spec["data_offsets"])
            fh.seek(begin)
            data = fh.read(end - begin)  # one tensor at a time: the largest of a 12B model is ~0.5 GB
            digest.update(f"{name}\0{spec['dtype']}\0{list(spec['shape'])}\0".encode())
            digest.update(data)
            n_bytes += len(data)
            if spec["dtype"] in _FLOATS and data:
                raw = np.frombuffer(data, dtype=_FLOATS[spec["dtype"]])
                samples.append(_as_float32(raw[_sample_positions(name, spec["shape"], raw.size, total)],
                                           spec["dtype"]))
    finally:
        for fh in handles.values():
            fh.close()
    sample = np.concatenate(samples).astype(np.float32) if samples else np.zeros(0, np.float32)
    return {"fingerprint": digest.hexdigest(), "hash": HASH, "n_tensors": len(tensors), "n_bytes": n_bytes,
            "sample": base64.b64encode(sample.tobytes()).decode("ascii")}


def _weight_files(folder: Path) -> list[Path]:
    """The safetensors files the weights of `folder` are read from (as weight statistics read
    them), `[folder]` for one file, [] for a folder without safetensors."""
    if folder.is_file():
        return [folder]
    if not folder.is_dir():
        return []
    from scalefit.weightstats.measure import safetensors_files

    return safetensors_files(folder, missing_ok=True)


def _file_hash(files) -> dict:
    if not files:
        return {"fingerprint": None, "hash": "unavailable: no weight files", "n_tensors": 0, "n_bytes": 0,
                "sample": None}
    digest = hashlib.blake2b(digest_size=16)
    n_bytes = 0
    for path in files:
        digest.update(f"{path.name}\0".encode())
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 22), b""):
                digest.update(block)
                n_bytes += len(block)
    return {"fingerprint": digest.hexdigest(), "hash": "blake2b-128/files", "n_tensors": None,
            "n_bytes": n_bytes, "sample": None}


def checkpoint_folder(info) -> Path | None:
    """Where the checkpoint's weight files are on this machine (after it was loaded), or None."""
    folder = getattr(info, "folder", None) or info.path
    return Path(folder) if folder and Path(folder).exists() else None

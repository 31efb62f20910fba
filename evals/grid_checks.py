"""Checks of a sweep's grid before anything loads or downloads, from the checkpoints' own files and the
suite registry: one tokenizer per model (its identity is recorded), token ids within the vocabulary, the
context within the positions."""
from __future__ import annotations

import errno
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from scalefit.errors import InputError
from scalefit.evals.tokens import content_digest, folder_files_digest, is_token_file, named_files, open_token_file


TOKENIZER_FILES = ("tokenizer.json", "vocab.json", "merges.txt", "tokenizer.model", "added_tokens.json",
                   "special_tokens_map.json")  # what tokenizes (tokenizer_config.json may name its own path)


def tokenizer_identities(grid) -> dict[str, str]:
    """{model: its tokenizer} for the models of `grid` read from local folders: a digest of the
    tokenizer files of its checkpoints (each step's the same, else an InputError naming two), or,
    where a checkpoint holds none, of the suite's tokenizer folder (a hub id as it is). A sweep
    folder records it: results tokenized otherwise are never added to it. Hub checkpoints bring
    their own tokenizer with each revision and are not read before they download."""
    found: dict[str, tuple[str, str]] = {}
    digests: dict[Path, str] = {}  # the suite's one tokenizer folder is hashed once, not per checkpoint

    def digest(folder: Path) -> str:
        if folder not in digests:
            digests[folder] = content_digest(folder, TOKENIZER_FILES)
        return digests[folder]

    for info, own in zip(grid, own_tokenizers(grid)):
        if isinstance(own, OSError):  # where it failed reading, in the grid's order
            raise own
        if own is not None:
            identity, where = own, f"step {info.step}"
        elif info.path and info.tokenizer_source:  # the loader falls back to the suite's
            source = Path(info.tokenizer_source)
            identity = digest(source) if source.is_dir() else info.tokenizer_source
            where = f"step {info.step} (the suite's tokenizer)"
        else:
            continue
        first = found.setdefault(info.model, (identity, where))
        if first[0] != identity:
            raise InputError(f"{info.model}: the tokenizer of {where} differs from that of {first[1]} ({identity} "
                             f"and {first[0]}); one sweep measures a model with one tokenizer: measure them apart")
    return {model: identity for model, (identity, _) in found.items()}


def own_tokenizers(grid):
    """Each checkpoint's digest of the tokenizer files its folder holds (None where it holds none,
    the OSError where reading them failed). Files of a MB and more (a Pythia-sized local suite holds
    2,464 tokenizer.json files of 2.1 MB) are read on a few threads: reading and hashing release the
    GIL. Small ones are not: their listing and bookkeeping hold it, and threads would only wait."""
    def own(path):
        try:
            names = tokenizer_files(path) if path else []  # one listing: which files, then their digest
            return folder_files_digest(path, names) if names else None
        except OSError as exc:
            return exc

    paths = [info.path for info in grid]
    if tokenizer_bytes(paths) < 1 << 20:  # one at a time, as the grid is checked (a refusal stops it)
        return (own(path) for path in paths)
    pool = ThreadPoolExecutor(max(1, min(8, os.cpu_count() or 1)))
    try:
        return list(pool.map(own, paths))
    finally:  # Ctrl-C: the folders not begun are not hashed
        pool.shutdown(cancel_futures=True)


def tokenizer_bytes(paths) -> int:
    """The size of the tokenizer files of the first local checkpoint of `paths` (0 where it holds
    none, or they cannot be read): a suite's checkpoints are alike."""
    path = next(filter(None, paths), None)
    try:
        return sum(os.stat(os.path.join(path, name)).st_size for name in tokenizer_files(path)) if path else 0
    except OSError:
        return 0


def tokenizer_files(folder) -> list[str]:
    """The names of the tokenizer files a checkpoint's folder holds (none where there is no such folder)."""
    try:
        return named_files(folder, TOKENIZER_FILES)
    except OSError as exc:  # as pathlib's is_file says of each: no folder there holds none
        if exc.errno in (errno.ENOENT, errno.ENOTDIR, errno.EBADF, errno.ELOOP):
            return []
        raise


def _config_count(info, *keys) -> int | None:
    """The first of ``keys`` in a local checkpoint's config.json, a whole number > 0, read without
    loading the model; None for a hub checkpoint or an unreadable config (the loader says more)."""
    import json

    if not info.path:
        return None
    try:
        config = json.loads((Path(info.path) / "config.json").read_text())
    except (OSError, ValueError):
        return None
    value = next((config[k] for k in keys if k in config), None) if isinstance(config, dict) else None
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def model_positions(info) -> int | None:
    """The positions of a local checkpoint's model (max_position_embeddings in its config.json)."""
    return _config_count(info, "max_position_embeddings", "n_positions")


def _model_fact(info, from_config: int | None, from_registry: int | None, registry_key: str):
    """(value, where it was read): a local checkpoint's config.json first, else the suite
    registry's fact (hub checkpoints: nothing is on disk before the download); (None, None)."""
    if from_config is not None:
        return from_config, f"{info.path}/config.json"
    if from_registry:
        return from_registry, f"the suite registry's {registry_key}"
    return None, None


def check_token_ids(grid, datasets, max_tokens: int | None) -> None:
    """Refuse a token file whose ids (the first max_tokens + 1 that are scored) reach past a model's
    vocabulary before anything loads (or downloads): found in the sweep, every checkpoint failed
    (exit 1). The vocabulary is a local checkpoint's config.json, else the suite registry's
    padded_vocab (the hub suites: Pythia's 50304-50688 rows)."""
    files = [d for d in datasets if is_token_file(d.path, d.token_dtype)]
    if not files:
        return
    vocabs = {}
    for info in grid:  # one config per model, not per step
        if info.model in vocabs:
            continue
        vocab, source = _model_fact(info, _config_count(info, "vocab_size"), info.vocab_size, "padded_vocab")
        if vocab is not None:
            vocabs[info.model] = (vocab, source)
    if not vocabs:  # no config and no registry fact: the vocabulary is known only once loaded
        return
    for d in files:
        tokens = open_token_file(d.path, d.token_dtype).tokens()
        top = int(np.max(tokens[: int(max_tokens) + 1] if max_tokens else tokens))
        for model, (vocab, source) in vocabs.items():
            if top >= vocab:
                raise InputError(f"--dataset {d.name}: {d.path}: token id {top} is outside the vocabulary "
                                 f"of {model} ({vocab}, {source}); is the token file from "
                                 "another tokenizer or the wrong dtype?")


def check_positions(grid, context: int | None, stride: int | None, given: str = "--context") -> None:
    """Refuse a --context longer than a model's positions (a local checkpoint's config.json, else
    the context the suite registry says it was trained at: its seq_len, as for Pythia on the hub),
    or a --stride longer than the context the models will use, before anything loads or downloads
    (once per model). `given` names where the context came from (the option, or the suite spec's
    context_length when the option is not given)."""
    seen = set()
    for info in grid:
        if info.model in seen:
            continue
        positions, source = _model_fact(info, model_positions(info), info.seq_len, "seq_len")
        if positions is None:
            continue
        seen.add(info.model)
        if context and context > positions:
            what = (f"the {positions} positions of {info.model}" if source.endswith("config.json")
                    else f"the {positions}-token context {info.model} was trained at")
            fix = "" if given == "--context" else " (or give --context)"
            raise InputError(f"{given} {context} exceeds {what} ({source}): use {given.split(': ')[-1]} "
                             f"{positions} or less{fix}")
        if stride and stride > (context or positions):
            raise InputError(f"--stride {stride} is longer than the context of {info.model} "
                             f"({context or positions} tokens): use --stride {context or positions} or less")

"""Parameter counts of a checkpoint read from its own files, for rows whose suite spec gives none.

`params` is every stored weight, embeddings included (N in Hoffmann et al.); `params_nonembed`
leaves out the token and position embeddings and the output (unembedding) matrix (N in Kaplan et
al.), the convention of the shipped Pythia table (`data/suites/pythia.csv`) and the trainer. That
is not transformers' `num_parameters(exclude_embeddings=True)`, which leaves out only nn.Embedding
tables and so keeps an untied output matrix (vocab x width more); tied, the two agree. The
shapes come from the safetensors headers (no tensor is read); a tied output embedding is stored
once and counted once, as `model.num_parameters()` does. Buffers that are not weights (rotary
tables, causal masks) are left out.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

EMBEDDING_GROUPS = ("embed_in", "embed_pos", "embed_out")  # weightstats.groups names


def count_parameters(shapes) -> tuple[int, int] | None:
    """(params, params_nonembed) of {tensor name: shape}; None when it holds no weight."""
    from scalefit.weightstats.groups import is_weight_tensor, tensor_group

    total = embed = 0
    for name, shape in shapes.items():
        if not is_weight_tensor(name):
            continue
        numel = int(np.prod(shape, dtype=np.int64))
        total += numel
        if tensor_group(name) in EMBEDDING_GROUPS:
            embed += numel
    return (total, total - embed) if total else None


def checkpoint_shapes(folder=None, model=None) -> dict | None:
    """{tensor name: shape} from the headers of the folder's weight files (those its index
    names, as weight statistics reads them; a stored copy of a tied output embedding left out,
    as transformers loads one parameter for both), else from a loaded model's parameters (a pickle .bin
    checkpoint loaded with --allow-bin); None when neither has any or a file cannot be read."""
    from scalefit.errors import InputError
    from scalefit.weightstats.measure import safetensors_files

    files = []
    if folder and Path(folder).is_dir():
        try:
            files = safetensors_files(Path(folder))  # the files weight statistics read, no other
        except InputError:  # no safetensors (a pickle .bin checkpoint)
            files = []
    elif folder and Path(folder).suffix == ".safetensors" and Path(folder).is_file():
        files = [Path(folder)]
    shapes = _stored_shapes(files, Path(folder) if files and Path(folder).is_dir() else None)
    if shapes is None:  # a damaged header or missing shard: the loader says so
        return None
    if not shapes and hasattr(model, "named_parameters"):
        shapes = {name: tuple(p.shape) for name, p in model.named_parameters()}
    return shapes or None


def _stored_shapes(files, folder: Path | None) -> dict | None:
    """{name: shape} of the tensors stored in `files`, each opened once: its header, and where
    the folder's config ties the output embedding to the input one, the two tensors compared
    from the same open file (a copy holding the same values is one parameter: left out). None
    when a file cannot be read."""
    from contextlib import ExitStack

    from safetensors import safe_open

    from scalefit.weightstats.measure import folder_config, tied_copy_stored

    with ExitStack() as stack:
        try:
            where = {}  # stored name -> its open file
            for path in files:
                fh = stack.enter_context(safe_open(str(path), framework="pt"))
                where.update(dict.fromkeys(fh.keys(), fh))
            shapes = {name: list(fh.get_slice(name).get_shape()) for name, fh in where.items()}
        except Exception:  # noqa: BLE001 - a missing shard, a truncated or foreign file
            return None
        if shapes and folder is not None:  # a tied output embedding stored twice is one parameter
            config = folder_config(folder)
            tied = tied_copy_stored(where, lambda name: where[name].get_tensor(name), config, folder)
            shapes.pop(tied or "", None)
    return shapes


def fill_parameter_counts(info, model=None) -> None:
    """Set `info.params` / `info.params_nonembed` from the checkpoint's files where the suite
    spec gave none (a local suite or --checkpoint folder without params): the counts every row
    of that checkpoint carries. Left None where nothing can be counted."""
    if info.params is not None and info.params_nonembed is not None:
        return
    folder = getattr(info, "folder", None) or info.path
    shapes = checkpoint_shapes(folder, model)
    counts = count_parameters(shapes) if shapes else None
    if counts is None:
        return
    if info.params is None:
        info.params = counts[0]
    if info.params_nonembed is None:
        info.params_nonembed = counts[1]


def unknown_parameter_counts(tables: dict, failures=None) -> str | None:
    """One line naming the checkpoints whose rows carry no parameter count, or None when all do.

    A checkpoint whose latest attempt failed (in `failures`; a damaged weight file) is left out: its
    failure says what is wrong. The advice to give params in the suite spec's [[members]] is added
    where a suite gave the rows (their tokens are the spec's); a --checkpoint folder's rows have none."""
    missing, from_suite = set(), False
    failed = set() if failures is None or not len(failures) else \
        {(m, int(s)) for m, s in failures[["model", "step"]].itertuples(index=False)}
    for frame in tables.values():
        if frame is None or frame.empty or "params" not in frame:
            continue
        gap = frame["params"].isna() | (frame["params_nonembed"].isna() if "params_nonembed" in frame else False)
        gap &= np.array([(m, int(s)) not in failed for m, s in zip(frame["model"], frame["step"])], dtype=bool)
        missing.update(zip(frame.loc[gap, "model"], frame.loc[gap, "step"]))
        from_suite |= "tokens" in frame and bool(frame.loc[gap, "tokens"].notna().any())
    if not missing:
        return None
    named = sorted(missing)
    shown = ", ".join(f"{m} step {int(s)}" for m, s in named[:4]) + (f" and {len(named) - 4} more"
                                                                      if len(named) > 4 else "")
    return (f"{len(named)} checkpoint(s) have no parameter count in their rows ({shown}): none could be counted "
            "from their weight files" + ("; give params and params_nonembed in the suite spec's [[members]]"
                                         if from_suite else ""))

"""The `loss` measurement: loss and bits per byte of each dataset on each loaded checkpoint.

Each builder returns a `Measurement` whose function maps (model, CheckpointInfo) to long rows;
`LOSS` registers the kind with the sweep engine. Tokenization happens once per dataset and
tokenizer, and is cached on disk and in memory.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from scalefit.errors import InputError, warn
from scalefit.evals.evalset import SE_COLUMNS, SE_RULE
from scalefit.evals.loss import SE_BY_DOCUMENTS, measure_loss
from scalefit.sweep.engine import Measurement
from scalefit.sweep.measurements import MeasurementKind, register_measurement
from scalefit.evals.tokens import document_boundaries, token_byte_lengths, tokenize_dataset, tokenizer_fingerprint


@dataclass(frozen=True)
class Dataset:
    """A named evaluation dataset: text, JSONL, a folder of text, or a token file."""

    name: str
    path: Path
    is_train: bool = False
    text_field: str = "text"
    token_dtype: str | None = None  # width of a raw token file (PATH@uint32)


def parse_dataset(text: str, train_name: str | None = None) -> Dataset:
    """'NAME=PATH' (or 'NAME=PATH@uint32' for a raw token file) as a Dataset; InputError when
    malformed or the path does not exist."""
    if "=" not in text:
        raise InputError(f"--dataset '{text}': use NAME=PATH, e.g. pile-val=val.jsonl")
    name, path = (p.strip() for p in text.split("=", 1))
    if not name or not path:
        raise InputError(f"--dataset '{text}': use NAME=PATH with both parts non-empty")
    token_dtype = None
    base, at, suffix = path.rpartition("@")
    if at and suffix in ("uint16", "uint32"):
        path, token_dtype = base, suffix
    elif at and base and not Path(path).exists() and Path(base).exists():  # PATH@int64: a width it cannot read
        raise InputError(f"--dataset {name}: {path}: @{suffix} is not a token width; a raw token file is "
                         "PATH (uint16) or PATH@uint32")
    if not Path(path).exists():
        raise InputError(f"--dataset {name}: {path}: file not found")
    return Dataset(name=name, path=Path(path), is_train=(name == train_name), token_dtype=token_dtype)


def one_document_note(ds: Dataset) -> str:
    """Why a dataset of one document gets no SE (its rows' se is empty), and how to get one."""
    return (f"dataset {ds.name}: se: none ({ds.path.name} is one document; the SE of a loss is a "
            "bootstrap over documents: give a JSONL file, one document a line, or a folder of text "
            "files, one document each)")


def loss_measurement(ds: Dataset, *, cache_dir, context: int | None = None, stride: int | None = None,
                     max_tokens: int | None = None, batch_size: int | None = None,
                     cross_entropy: str = "auto") -> Measurement:
    """Mean NLL (nats/token) and bits per byte on one dataset, as rows `loss` and `bpb`, each with
    its `se` from one bootstrap: over the documents (`n_docs`) where the token file's sidecar says
    where they begin (`documents`), else between its end-of-text tokens (`documents (eos)`), else
    over the scored windows (`windows`, with a warning); `se_by` names which. The bpb row's se is
    the SE of the ratio of summed NLL to summed bytes (documents differ in bytes per token)."""
    tokenized: dict[str, tuple] = {}

    def measure(model, info) -> pd.DataFrame:
        tok = info.tokenizer
        if tok is None:
            raise InputError(f"{info.location}: no tokenizer for dataset '{ds.name}'")
        fp = tokenizer_fingerprint(tok)
        if fp not in tokenized:
            vocab = model.get_output_embeddings().weight.shape[0]
            token_file = tokenize_dataset(ds.path, tok, cache_dir, text_field=ds.text_field,
                                          token_dtype=ds.token_dtype)
            bounds = document_boundaries(token_file, tok.eos_token_id, ds.name)
            tokenized[fp] = (token_file, token_byte_lengths(tok, vocab), bounds)
            scorable = tokenized[fp][0].n_tokens - 1  # the first token is context only
            if bounds.note:  # where documents begin is not what the file says, or unknown: said once
                warn(bounds.note)
            if bounds.se_by == SE_BY_DOCUMENTS and bounds.starts.size < 2:  # its se is NaN on every row: said once
                warn(one_document_note(ds))
            if max_tokens and scorable < max_tokens:  # said once per dataset and tokenizer
                warn(f"--max-tokens {max_tokens}: dataset {ds.name} holds {scorable + 1} tokens, so "
                     f"{scorable} are scored")
        token_file, byte_lengths, bounds = tokenized[fp]
        ctx = context or getattr(model.config, "max_position_embeddings", None) or 2048
        result = measure_loss(model, token_file.tokens(), context=ctx, stride=stride,
                              max_tokens=max_tokens, batch_size=batch_size, byte_lengths=byte_lengths,
                              cross_entropy=cross_entropy, documents=bounds.starts, documents_by=bounds.se_by)
        if not math.isfinite(result.loss):  # recorded as it is, and said: a diverged checkpoint is a finding
            warn(f"{info.model} step {info.step}: the loss on {ds.name} is {result.loss} (the weights "
                 "or activations are not finite)")
        base = {"dataset": ds.name, "task": None, "is_train": ds.is_train, "n_tokens": result.n_tokens,
                "n_docs": result.n_units if result.by_documents else None,
                "se_by": result.se_by, "se_rule": SE_RULE, "context": ctx, "stride": stride or ctx}
        return pd.DataFrame([{**base, "metric": "loss", "value": result.loss, "se": result.se},
                             {**base, "metric": "bpb", "value": result.bpb, "se": result.bpb_se}])

    return Measurement(name=f"loss:{ds.name}", fn=measure, table="evals", columns=SE_COLUMNS)


def loss_measurements(*, datasets, cache_dir, context: int | None = None, stride: int | None = None,
                      max_tokens: int | None = None, batch_size: int | None = None,
                      cross_entropy: str = "auto") -> list[Measurement]:
    """One loss measurement per dataset (the `loss` kind of the registry)."""
    return [loss_measurement(d, cache_dir=cache_dir, context=context, stride=stride, max_tokens=max_tokens,
                             batch_size=batch_size, cross_entropy=cross_entropy) for d in datasets]


LOSS = register_measurement(MeasurementKind(
    "loss", table="evals", build=loss_measurements,
    summary="mean NLL (nats/token) and bits per byte of each dataset, one window plan for all checkpoints"))

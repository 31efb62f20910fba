"""What a sweep folder records with each measurement beyond its flags (the suite, how a dataset is
read, the cross-entropy head; the tokens and LR of a suite's members are sweep.suites.schedule_facts),
so a resume or a merge never mixes results of other settings."""
from __future__ import annotations

from scalefit.evals.loss import CROSS_ENTROPY_RECORD, resolved_cross_entropy
from scalefit.evals.tokens import is_token_file, open_token_file


def cross_entropy_record(name: str, device_type: str, dtype, before: dict) -> dict:
    """What a loss measurement records of --cross-entropy `name`: the head it scores with. A folder
    recorded before that (its flag only) has its flag compared as a head (`recorded_head`): the same
    head records the folder's flag again, another one the flag given, which then differs and is refused."""
    head = resolved_cross_entropy(name, device_type, dtype)
    record = {CROSS_ENTROPY_RECORD: head}
    if isinstance(before.get("--cross-entropy"), str) and CROSS_ENTROPY_RECORD not in before:
        record["--cross-entropy"] = before["--cross-entropy"] if recorded_head(before) == head else name
    return record


def recorded_head(options: dict) -> str | None:
    """The cross-entropy head a folder's record of a loss measurement names: recorded as such, else
    its --cross-entropy flag resolved on its recorded --device and --dtype (auto as it is where no
    device was recorded: what it chose is not known); None where it records neither."""
    import torch

    if CROSS_ENTROPY_RECORD in options:
        return options[CROSS_ENTROPY_RECORD]
    flag = options.get("--cross-entropy")
    if not isinstance(flag, str) or "--device" not in options:
        return flag if isinstance(flag, str) else None
    return resolved_cross_entropy(flag, str(options["--device"]), getattr(torch, str(options.get("--dtype")), None))


def dataset_reading(d) -> str:
    """How a --dataset file's bytes become tokens, which its content digest does not say (it hashes
    the bytes, not the name): token ids of a width (a .npy header, a sidecar, @uint32 or uint16),
    JSONL rows, one text document, or a folder (whose file names its digest holds)."""
    if d.path.is_dir():
        return "a folder of text and JSONL files"
    if is_token_file(d.path, d.token_dtype):
        token_file = open_token_file(d.path, d.token_dtype)
        return f"token ids ({token_file.dtype}{', .npy' if d.path.suffix.lower() == '.npy' else ''})"
    return "JSONL rows" if d.path.suffix.lower() == ".jsonl" else "one text document"


def suite_identity(suite) -> str:
    """The suite a folder's results come from, as recorded: its name and where its checkpoints
    are (a renamed suite, or another folder of checkpoints, is another suite)."""
    return f"{suite.name} ({suite.hub or suite.local})"

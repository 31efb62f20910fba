"""A tiny GPT-NeoX suite built from scratch for tests and benchmarks (no hub, seconds on a CPU).

`build_tiny_suite(root)` trains a byte-level BPE tokenizer on Python standard-library source,
trains small GPT-NeoX models for a few steps under the LR schedule of their spec and saves each
chosen step as its own folder (`root/{model}/step{N}/`, safetensors + tokenizer), plus
`root/suite.toml` (a scalefit suite spec), `root/trained_lr.json` (the LR each update ran at) and
evaluation texts under `root/data/`. Other layers' tests can reuse it.
"""
from __future__ import annotations

import json
import sysconfig
from pathlib import Path

import numpy as np

from scalefit.schedule import LRSchedule, lr_at_step

EOS = "<|endoftext|>"
PAD = "<|padding|>"
DEFAULT_MODELS = {"tiny-a": {"hidden_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2},
                  "tiny-b": {"hidden_size": 48, "num_hidden_layers": 2, "num_attention_heads": 4}}


def _source_files():
    """Python sources in a fixed order: the stdlib's top level, then its sub-packages, then
    site-packages (some images ship a trimmed stdlib; the later ones are read only if needed)."""
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    yield from sorted(stdlib.glob("*.py"))
    yield from sorted(p for p in stdlib.glob("*/**/*.py") if "site-packages" not in p.parts)
    yield from sorted(Path(sysconfig.get_paths()["purelib"]).rglob("*.py"))


def stdlib_documents(max_bytes: int, skip_bytes: int = 0, min_docs: int = 1) -> list[str]:
    """Python source files (standard library first), in sorted order, until max_bytes and
    min_docs (after skip_bytes)."""
    docs, seen, total = [], 0, 0
    for path in _source_files():
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        seen += len(text.encode())
        if seen <= skip_bytes:
            continue
        docs.append(text)
        total += len(text.encode())
        if total >= max_bytes and len(docs) >= min_docs:
            break
    return docs


def train_tokenizer(texts, vocab_size: int = 512):
    """A GPT-NeoX-style byte-level BPE tokenizer as a transformers PreTrainedTokenizerFast."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=[EOS, PAD],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(texts, trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tok, eos_token=EOS, bos_token=EOS, pad_token=PAD,
                                   unk_token=EOS)


def tiny_config(tokenizer, context: int, **shape):
    """A GPTNeoXConfig like Pythia's (rotary 0.25, parallel residual, untied), tiny."""
    from transformers import GPTNeoXConfig

    hidden = shape.get("hidden_size", 32)
    return GPTNeoXConfig(vocab_size=len(tokenizer), hidden_size=hidden,
                         num_hidden_layers=shape.get("num_hidden_layers", 1),
                         num_attention_heads=shape.get("num_attention_heads", 2),
                         intermediate_size=4 * hidden, max_position_embeddings=context,
                         rotary_pct=0.25, use_parallel_residual=True, tie_word_embeddings=False,
                         eos_token_id=tokenizer.eos_token_id, bos_token_id=tokenizer.eos_token_id)


TRAINED_LR = "trained_lr.json"  # beside suite.toml: {model: {step s: the LR of the update from s to s + 1}}


def tiny_schedule(peak: float, last: int):
    """The tiny suite's LR schedule, the one its suite.toml states: the peak from step 0 (no
    warmup), cosine to 0.1 x peak at the last step. With the trainer's timing a warmup from LR 0
    would run the first update at LR 0 and save step 1 as a copy of step 0 (as Pythia's are),
    which the integrity check flags as duplicates; without a warmup every update moves the model."""
    return LRSchedule(peak=peak, warmup_steps=0, decay_steps=last, final_ratio=0.1)


def build_tiny_suite(root, *, models=None, steps=(0, 1, 2, 4, 8), vocab_size: int = 512, context: int = 64,
                     batch: int = 8, lr: float = 3e-3, tokenizer_bytes: int = 300_000,
                     eval_bytes: int = 60_000, seed: int = 0) -> Path:
    """Train and save the suite under `root`; returns the path of its suite.toml.

    Each model trains with the suite.toml's [schedule] and the timing of scalefit's trainer
    (GPT-NeoX's): the update from step s to s + 1 runs at scalefit.schedule.lr_at_step(schedule, s),
    the lr the sweep table gives step s, and `root/trained_lr.json` records, per model and step
    s < the last, the LR the optimizer ran that update at."""
    import torch
    from transformers import GPTNeoXForCausalLM
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    models = models or DEFAULT_MODELS
    train_docs = stdlib_documents(tokenizer_bytes)
    tokenizer = train_tokenizer(train_docs, vocab_size)
    stream = []
    for doc in train_docs:
        stream += [tokenizer.eos_token_id] + tokenizer(doc, add_special_tokens=False)["input_ids"]
    stream = torch.tensor(stream, dtype=torch.long)

    # two documents at least: one for val.txt, one for test.jsonl, whatever this Python's files are
    eval_docs = stdlib_documents(eval_bytes, skip_bytes=tokenizer_bytes + 200_000, min_docs=2)
    data = root / "data"
    data.mkdir(exist_ok=True)
    if len(eval_docs) < 2:
        raise RuntimeError(f"tiny suite: only {len(eval_docs)} evaluation document(s) of Python source found")
    half = len(eval_docs) // 2
    (data / "val.txt").write_text("\n".join(eval_docs[:half]))
    with open(data / "test.jsonl", "w") as fh:
        for doc in eval_docs[half:]:
            fh.write(json.dumps({"text": doc}) + "\n")

    members, trained_lr = [], {}
    last = max(steps)
    schedule = tiny_schedule(lr, last)
    for name, shape in models.items():
        torch.manual_seed(seed)
        model = GPTNeoXForCausalLM(tiny_config(tokenizer, context, **shape))
        opt = torch.optim.AdamW(model.parameters(), lr=lr, betas=(0.9, 0.95), weight_decay=0.1)
        # the trainer's timing (trainer/train.py, GPT-NeoX's): the update from step s to s + 1 runs
        # at lr_at_step(s), the suite table's lr of step s (the schedule laws' S1(t) = lr_0 + ... +
        # lr_{t-1}), set on the optimizer before it steps as the trainer does
        gen = torch.Generator().manual_seed(seed)
        trained_lr[name] = {}
        for step in range(last + 1):
            if step in steps:
                out = root / name / f"step{step}"
                model.save_pretrained(out, safe_serialization=True)
                tokenizer.save_pretrained(out)
            if step == last:
                break
            starts = torch.randint(0, stream.numel() - context - 1, (batch,), generator=gen)
            x = torch.stack([stream[s:s + context] for s in starts])
            loss = model(input_ids=x, labels=x).loss
            opt.zero_grad()
            loss.backward()
            for g in opt.param_groups:
                g["lr"] = lr_at_step(schedule, step)
            trained_lr[name][step] = opt.param_groups[0]["lr"]  # what the update from this step runs at
            opt.step()
        n_total = sum(p.numel() for p in model.parameters())
        n_embed = (model.get_input_embeddings().weight.numel()
                   + model.get_output_embeddings().weight.numel())
        members.append(f'[[members]]\nname = "{name}"\nparams = {n_total}\n'
                       f'params_nonembed = {n_total - n_embed}\nlr_peak = {lr}\n')
    spec = (f'name = "tiny"\ntokens_per_step = {batch * context}\ncontext_length = {context}\n'
            f'steps = {list(steps)}\n\n[source]\nlocal = "."\n\n'
            f'[schedule]\nwarmup_steps = {schedule.warmup_steps}\ndecay_steps = {schedule.decay_steps}\n'
            f'final_ratio = {schedule.final_ratio}\n\n' + "\n".join(members))
    (root / TRAINED_LR).write_text(json.dumps(trained_lr, indent=1))
    (root / "suite.toml").write_text(spec)
    return root / "suite.toml"


def token_stream(tokenizer, docs) -> np.ndarray:
    """Documents as one stream with the end-of-text token before each (scalefit's layout)."""
    ids = []
    for doc in docs:
        ids += [tokenizer.eos_token_id] + tokenizer(doc, add_special_tokens=False)["input_ids"]
    return np.asarray(ids, dtype=np.int64)


def cached_tiny_suite() -> Path:
    """The default tiny suite, built once per version of this file in the temp folder, then reused.

    Several test files (and repeated runs) share one build: it is made in a private folder and
    renamed into place, so concurrent builders never see a half-written suite.
    """
    import hashlib
    import os
    import shutil
    import tempfile

    import transformers

    key = hashlib.sha256(Path(__file__).read_bytes() + transformers.__version__.encode()).hexdigest()[:12]
    final = Path(tempfile.gettempdir()) / f"scalefit-tinysuite-{key}"
    if not (final / "suite.toml").exists():
        work = Path(tempfile.mkdtemp(prefix="scalefit-tinysuite-build-"))
        build_tiny_suite(work / "suite")
        try:
            os.replace(work / "suite", final)
        except OSError:  # another process finished first: use theirs
            pass
        shutil.rmtree(work, ignore_errors=True)
    return final / "suite.toml"


def plain_window_nll(model, tokens, context, stride):
    """The hand computation a loss must match: (NLL sum, count), one window at a time, full
    float64 log-softmax; with a stride, each window after the first scores only its last `stride`."""
    import torch

    stride = stride or context
    total, count, scored_upto = 0.0, 0, 0  # targets 1..scored_upto are done
    last = len(tokens) - 1
    while scored_upto < last:
        end = min(scored_upto + (context if count == 0 else stride), last)
        begin = max(0, end - context)
        ids = torch.tensor(tokens[begin:end + 1], dtype=torch.long)[None]
        with torch.no_grad():
            logp = torch.log_softmax(model(input_ids=ids[:, :-1]).logits.double(), -1)[0]
        targets = ids[0, 1:]
        nll = -logp[torch.arange(len(targets)), targets]
        new = end - scored_upto
        total += float(nll[-new:].sum())
        count += new
        scored_upto = end
    return total, count


def tiny_checkpoint(suite_file=None, model: str = "tiny-b", step: int = 8):
    """The CheckpointInfo of one checkpoint of a tiny suite (default: the cached one's tiny-b at
    step 8, the checkpoint the loss tests measure)."""
    from scalefit.sweep.checkpoints import checkpoint_grid
    from scalefit.sweep.suites import load_suite

    return checkpoint_grid(load_suite(suite_file or cached_tiny_suite()), [model], [step])[0]


def default_sigint() -> None:
    """Popen preexec_fn: SIGINT back to its default in the child. A shell started in the
    background (nohup, `&`) hands its children SIGINT ignored, and then Python never raises
    KeyboardInterrupt, so a Ctrl-C test would see the sweep run to its end."""
    import signal
    signal.signal(signal.SIGINT, signal.SIG_DFL)

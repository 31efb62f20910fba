"""Build the mini suite's two corpora (technical prose, Python code) and its byte-level BPE tokenizer.

Documents are read from explicit source folders, deduplicated by content hash, split into
train / val / test by document with a fixed seed, and tokenized to memory-mapped uint16 files
with a JSON sidecar, so training and evaluation read tokens without re-tokenizing.
"""
from __future__ import annotations

import hashlib
import json
import sysconfig
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from scalefit.atomic import atomic_write, staged_output, sweep_stale, write_json
from scalefit.errors import InputError

EOS = "<|endoftext|>"
PAD = "<|padding|>"
SPLITS = ("train", "val", "test")
PROSE_DEFAULT_DIRS = ("/usr/share/doc/linux-doc-6.1/html/_sources",
                      "/usr/share/doc/python3.11/html/_sources")
PROSE_PATTERNS = ("*.rst.txt", "*.rst", "*.txt")
CODE_PATTERNS = ("*.py",)
CODE_EXCLUDE = ("site-packages", "__pycache__", "dist-packages")


@dataclass
class Document:
    """One source file: where it came from and its text."""

    source: str
    text: str


def default_code_dirs() -> list[str]:
    """The CPython standard library of the running interpreter (real, installed Python code)."""
    return [sysconfig.get_paths()["stdlib"]]


NEWLINES = ("keep", "lf")  # build-corpus --newlines: line endings as read, or CRLF and CR made LF


def check_newlines(newlines: str) -> None:
    """Refuse a --newlines other than keep or lf (one line, before any folder is read)."""
    if newlines not in NEWLINES:
        raise InputError(f"--newlines {newlines}: use keep (line endings as read) or lf (CRLF and CR become LF)")


def binary_file(data: bytes) -> str | None:
    """Why a file's bytes are no text (a NUL byte), or None."""
    nul = data.find(b"\0")
    return f"binary (NUL byte at offset {nul})" if nul >= 0 else None


def not_utf8(data: bytes) -> str | None:
    """Where a file's bytes stop decoding as UTF-8, or None when they decode."""
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return f"not UTF-8 (byte offset {exc.start})"
    return None


def read_documents(dirs, patterns, exclude=(), newlines: str = "keep", skipped: list | None = None,
                   replaced: list | None = None) -> list[Document]:
    """Read every file matching `patterns` under `dirs` (sorted, so the order is reproducible).

    newlines="keep" keeps each file's line endings as read (a Windows file's CRLF too: the shipped
    corpus was built so, and its code train split holds lib2to3/tests/data/crlf.py); "lf" makes
    CRLF and a lone CR LF, before the text is deduplicated. A binary file (a NUL byte) is skipped,
    (path, why) appended to `skipped`; a non-UTF-8 text file is read with U+FFFD for the bytes that
    do not decode, as the shipped corpus was built (the stdlib's test/encoded_modules hold Latin-1
    and KOI8-R sources: 4 of its 1,762 code files), (path, why) appended to `replaced`."""
    check_newlines(newlines)
    docs = []
    for d in dirs:
        root = Path(d)
        if not root.is_dir():
            raise InputError(f"{d}: source folder does not exist")
        paths = set()
        for pattern in patterns:
            paths.update(root.rglob(pattern))
        for path in sorted(paths):
            if not path.is_file() or any(part in exclude for part in path.parts):
                continue
            data = path.read_bytes()
            why = binary_file(data)
            if why is not None:
                if skipped is not None:
                    skipped.append((str(path), why))
                continue
            why = not_utf8(data)
            if why is not None and replaced is not None:
                replaced.append((str(path), why))
            text = data.decode("utf-8", errors="replace")
            if newlines == "lf":
                text = text.replace("\r\n", "\n").replace("\r", "\n")
            text = text.strip()
            if text:
                docs.append(Document(str(path), text))
    return docs


def deduplicate(docs: list[Document]) -> list[Document]:
    """Drop exact duplicates (same sha256 of the stripped text), keeping the first seen."""
    seen, kept = set(), []
    for doc in docs:
        digest = hashlib.sha256(doc.text.encode("utf-8")).hexdigest()
        if digest not in seen:
            seen.add(digest)
            kept.append(doc)
    return kept


def split_documents(docs: list[Document], seed: int, val_frac: float, test_frac: float
                    ) -> dict[str, list[Document]]:
    """Split by document with a seeded permutation; each split keeps a reproducible order."""
    order = np.random.default_rng(seed).permutation(len(docs))
    n_val = max(1, round(val_frac * len(docs))) if val_frac > 0 else 0
    n_test = max(1, round(test_frac * len(docs))) if test_frac > 0 else 0
    if n_val + n_test >= len(docs):
        raise InputError(f"only {len(docs)} document{'' if len(docs) == 1 else 's'}: too few to split "
                         "into train/val/test")
    idx = {"val": order[:n_val], "test": order[n_val:n_val + n_test],
           "train": order[n_val + n_test:]}
    return {k: [docs[i] for i in sorted(v)] for k, v in idx.items()}


def train_tokenizer(texts, vocab_size: int, progress: bool = False):
    """Train a GPT-NeoX-style byte-level BPE tokenizer (no lowercasing, byte fallback by design);
    `progress`: the tokenizers library's own bar (drawn on a terminal only)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=[EOS, PAD],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  show_progress=progress)
    tok.train_from_iterator(texts, trainer=trainer)
    return tok


def save_tokenizer(tok, out_dir: Path) -> None:
    """Save tokenizer.json plus the files `AutoTokenizer.from_pretrained(out_dir)` needs."""
    from transformers import PreTrainedTokenizerFast

    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token=EOS, eos_token=EOS,
                                   unk_token=EOS, pad_token=PAD)
    fast.save_pretrained(str(out_dir))


def tokenize_split(tok, docs: list[Document], path: Path, bar=None) -> dict:
    """Write documents as one uint16 token stream, each followed by EOS; return the sidecar.
    `bar` (a tqdm) counts the documents tokenized."""
    eos_id = tok.token_to_id(EOS)
    if tok.get_vocab_size() > np.iinfo(np.uint16).max:
        raise InputError(f"vocabulary of {tok.get_vocab_size()} does not fit uint16 tokens")
    n_tokens = 0

    def write(tmp: Path) -> None:
        nonlocal n_tokens
        with open(tmp, "wb") as f:
            for start in range(0, len(docs), 256):
                chunk = docs[start:start + 256]
                for enc in tok.encode_batch([d.text for d in chunk]):
                    ids = np.asarray(enc.ids + [eos_id], dtype=np.uint16)
                    f.write(ids.tobytes())
                    n_tokens += ids.size
                if bar is not None:
                    bar.update(len(chunk))

    atomic_write(path, write)
    n_bytes = sum(len(d.text.encode("utf-8")) for d in docs)
    return {"file": path.name, "dtype": "uint16", "n_tokens": n_tokens, "n_docs": len(docs),
            "n_bytes": n_bytes, "bytes_per_token": n_bytes / max(n_tokens, 1)}


def load_tokens(corpus_dir, distribution: str, split: str) -> np.memmap:
    """Memory-map the token file of one (distribution, split) of a built corpus."""
    path = Path(corpus_dir) / distribution / f"{split}.bin"
    if not path.exists():
        raise InputError(f"{path}: no token file; run `scalefit data build-corpus` first")
    return np.memmap(path, dtype=np.uint16, mode="r")


def read_manifest(corpus_dir, *, required: bool = True) -> dict:
    """The corpus's manifest.json (what `build_corpus` wrote); when it is absent, an InputError
    saying how to build the corpus, or {} if not `required`."""
    import json

    path = Path(corpus_dir) / "manifest.json"
    if not path.exists():
        if required:
            raise InputError(f"{path}: no corpus; run `scalefit data build-corpus --out {corpus_dir}`")
        return {}
    return json.loads(path.read_text())


def corpus_fingerprint(corpus_dir, distribution: str) -> str:
    """A short hash of one distribution of a corpus (its sources, files and split sizes, from the
    manifest): two runs with the same fingerprint trained on the same training split."""
    manifest = read_manifest(corpus_dir)
    info = manifest.get("distributions", {}).get(distribution, {})
    text = json.dumps({"distribution": distribution, "seed": manifest.get("seed"), **info}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def separator_id(corpus_dir) -> int:
    """The end-of-text id that follows every document of the corpus's token files (the manifest's
    `separator_id`; corpora built before it was recorded: the tokenizer's id of EOS)."""
    from tokenizers import Tokenizer

    recorded = read_manifest(corpus_dir, required=False).get("separator_id")
    if recorded is not None:
        return int(recorded)
    path = Path(corpus_dir) / "tokenizer" / "tokenizer.json"
    if not path.exists():
        raise InputError(f"{path}: no tokenizer; run `scalefit data build-corpus --out {corpus_dir}`")
    return Tokenizer.from_file(str(path)).token_to_id(EOS)


def suite_eval_set(corpus_dir, distribution: str, split: str, seq_len: int, n_tokens: int):
    """The one eval set of a split (scalefit.evals.evalset.spread_windows): the trainer's final
    losses and the suite sweep's checkpoints are scored on it."""
    from scalefit.evals.evalset import spread_windows

    return spread_windows(load_tokens(corpus_dir, distribution, split), seq_len, n_tokens,
                          separator_id(corpus_dir))


def build_corpus(out_dir, prose_dirs=None, code_dirs=None, vocab_size: int = 4096,
                 seed: int = 1234, val_frac: float = 0.02, test_frac: float = 0.02,
                 tokenizer_chars: int = 40_000_000, newlines: str = "keep", progress: bool = False,
                 replaced: list | None = None) -> dict:
    """Read, dedup, split and tokenize both corpora; write tokenizer, token files and manifest.

    `newlines` (see read_documents) is recorded in the manifest when it is not the default "keep",
    so a corpus built as before has the manifest it had. The files are written beside `out_dir`
    and moved in at the end, the manifest (what marks a corpus built) last: a build stopped
    half-way leaves the folder as it was, never a new tokenizer beside the old token files and
    manifest (a rebuild after the sources changed). `progress`: bars on stderr for the tokenizer's
    training and the documents tokenized (a minute or more for the default sources). `replaced`
    receives (path, why) of each non-UTF-8 source read with U+FFFD (not in the manifest, which stays
    the shipped corpus's)."""
    low, high = 256 + 2, int(np.iinfo(np.uint16).max)  # the byte alphabet and EOS, PAD; uint16 ids
    if not low <= vocab_size <= high:
        raise InputError(f"--vocab-size {vocab_size}: use {low} to {high} (a byte-level BPE with "
                         "end-of-text and padding tokens, ids stored as uint16)")
    if not (0 < val_frac < 1 and 0 < test_frac < 1 and val_frac + test_frac < 1):
        raise InputError(f"--val-frac {val_frac} and --test-frac {test_frac}: each in (0, 1) and "
                         "together below 1, so that documents remain to train on")
    out = Path(out_dir)
    if not prose_dirs:  # the defaults are Debian packages: say so, not only that a folder is absent
        absent = [d for d in PROSE_DEFAULT_DIRS if not Path(d).is_dir()]
        if absent:
            raise InputError(f"no --prose-dir given and the default prose folder {absent[0]} does not exist: "
                             "install Debian's linux-doc-6.1 and python3.11-doc, or give --prose-dir")
    prose_dirs = [str(d) for d in (prose_dirs or PROSE_DEFAULT_DIRS)]
    code_dirs = [str(d) for d in (code_dirs or default_code_dirs())]
    check_newlines(newlines)
    skipped = {"prose": [], "code": []}
    sources = {"prose": read_documents(prose_dirs, PROSE_PATTERNS, newlines=newlines, skipped=skipped["prose"],
                                       replaced=replaced),
               "code": read_documents(code_dirs, CODE_PATTERNS, CODE_EXCLUDE, newlines=newlines,
                                      skipped=skipped["code"], replaced=replaced)}
    splits, manifest = {}, {"seed": seed, "vocab_size": vocab_size, "val_frac": val_frac,
                            "test_frac": test_frac, "distributions": {}}
    if newlines != "keep":
        manifest["newlines"] = newlines
    for name, docs in sources.items():
        if not docs:
            raise InputError(f"no {name} documents found under {prose_dirs if name == 'prose' else code_dirs}")
        kept = deduplicate(docs)
        splits[name] = split_documents(kept, seed, val_frac, test_frac)
        manifest["distributions"][name] = {
            "source_dirs": prose_dirs if name == "prose" else code_dirs,
            "n_files": len(docs), "n_duplicates": len(docs) - len(kept)}
        if skipped[name]:  # only then: a corpus without binary files keeps the manifest it had
            manifest["distributions"][name]["skipped"] = {path: why for path, why in skipped[name]}
    _refuse_other_corpus(out, manifest)
    sweep_stale(out)  # token files a killed build was writing
    tok = train_tokenizer(_tokenizer_texts(splits, tokenizer_chars), vocab_size, progress=progress)
    from tqdm import tqdm

    with staged_output(out) as staging, tqdm(total=sum(len(docs) for parts in splits.values()
                                                       for docs in parts.values()),
                                             desc="tokenize", unit="doc", disable=not progress,
                                             leave=False) as bar:
        (staging / "tokenizer").mkdir()
        save_tokenizer(tok, staging / "tokenizer")
        for name, parts in splits.items():
            (staging / name).mkdir()
            info = manifest["distributions"][name]
            for split in SPLITS:
                info[split] = tokenize_split(tok, parts[split], staging / name / f"{split}.bin", bar=bar)
            write_json(staging / name / "documents.json", {s: [d.source for d in parts[s]] for s in SPLITS},
                       indent=0)
        (out / "manifest.json").unlink(missing_ok=True)  # the files move in now: no manifest until all are
    manifest["vocab_size_actual"] = tok.get_vocab_size()
    manifest["separator_id"] = tok.token_to_id(EOS)
    write_json(out / "manifest.json", manifest)
    return manifest


def _refuse_other_corpus(out: Path, manifest: dict) -> None:
    """A folder holds one corpus: rebuilding with the same settings is allowed (the build is
    deterministic), overwriting one built with others is not (runs trained on it would no longer
    match their corpus)."""
    path = out / "manifest.json"
    if not path.exists():
        return
    try:
        old = json.loads(path.read_text())
    except (OSError, ValueError):
        return  # a half-written manifest: the earlier build did not finish
    keys = ("seed", "vocab_size", "val_frac", "test_frac", "newlines")
    default = {"newlines": "keep"}  # a manifest without the key: built with the default
    changed = [k for k in keys if old.get(k, default.get(k)) != manifest.get(k, default.get(k))]
    for name, info in manifest["distributions"].items():
        if old.get("distributions", {}).get(name, {}).get("source_dirs") != info["source_dirs"]:
            changed.append(f"{name} source folders")
    if changed:
        first = changed[0]
        was = old.get(first, default.get(first, "other")) if first in keys else "other folders"
        now = manifest.get(first, default.get(first)) if first in keys else "these"
        raise InputError(f"--out {out}: holds a corpus built with {first} {was}, not {now}; build into "
                         "a new --out (runs trained on that corpus would no longer match it)")


def _tokenizer_texts(splits, max_chars):
    """Train documents of both distributions, interleaved, up to `max_chars` of each."""
    for name in splits:
        used = 0
        for doc in splits[name]["train"]:
            if used >= max_chars:
                break
            used += len(doc.text)
            yield doc.text

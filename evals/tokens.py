"""Evaluation datasets as token files: text or JSONL tokenized once, cached memory-mapped.

A cached dataset is a flat token file (uint16 when the vocabulary fits, else uint32) with a JSON
sidecar (tokenizer, document count, token count, byte count). Every document is preceded by the
end-of-text token, as in Pile-style token files, so each document's first token is scored; a text
that holds a special token's literal text (`<|endoftext|>`) is tokenized as that text, never as
the special id (split_special_tokens), so the end-of-text tokens are the documents' boundaries.
An existing uint16/uint32 token file (`.bin` Pile-style, or `.npy`) is used as it is; without a
sidecar, its end-of-text tokens are taken as the documents' boundaries (document_boundaries).
The digests a sweep records of its datasets and tokenizer files are hashed here too, once per
process and, with `stored_digests`, once per --out folder while the files stay unchanged.
"""
from __future__ import annotations

import hashlib
import json
import os
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from scalefit.atomic import atomic_write, file_version, write_json
from scalefit.errors import InputError

TEXT_SUFFIXES = (".txt", ".md", ".rst", ".py", ".text")
TOKEN_SUFFIXES = (".bin", ".npy", ".tokens")


@dataclass(frozen=True)
class TokenFile:
    """A memory-mapped token stream and what is known about it."""

    path: Path
    dtype: str
    n_tokens: int
    n_docs: int | None = None
    n_bytes: int | None = None
    tokenizer: str | None = None
    offset: int = 0  # header bytes before the tokens (.npy)
    eos_before_each_doc: bool = False  # the sidecar says every document opens with end-of-text

    def tokens(self) -> np.ndarray:
        """The tokens, memory-mapped read-only."""
        return np.memmap(self.path, dtype=self.dtype, mode="r", offset=self.offset, shape=(self.n_tokens,))


def tokenizer_fingerprint(tokenizer) -> str:
    """A stable hash of the tokenizer's vocabulary and rules (same tokens <=> same fingerprint)."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    text = backend.to_str() if backend is not None else json.dumps(sorted(tokenizer.get_vocab().items()))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def content_digest(path, names=None) -> str:
    """A hash of a dataset's bytes (a file, or every file of a folder with its relative name; only
    the files called `names` where given): what a sweep folder records, so that results of a
    changed dataset (or tokenizer) never join older ones."""
    path = Path(path)
    if path.is_dir() and names is not None:
        return folder_files_digest(path, named_files(path, names))
    if path.is_dir():
        return files_digest([(str(f.relative_to(path)), f) for f in sorted(p for p in path.rglob("*") if p.is_file())])
    sidecar = path.with_name(path.name + ".json")  # a token file's dtype and counts
    return files_digest([(None, path)] + ([(None, sidecar)] if sidecar.is_file() else []))


def folder_files_digest(folder, names) -> str:
    """content_digest(folder, names) of the files `names` (sorted, as named_files lists them) of
    `folder`, for a caller that has listed them already."""
    return files_digest([(name, os.path.join(folder, name)) for name in names])


def files_digest(files) -> str:
    """The digest of (name or None, path) pairs in order: each file's name (where given) and bytes.
    A file set hashed before in this process, or found in the digest store that `stored_digests`
    opened (an earlier start's), and unchanged since (atomic.file_version) is not read again."""
    started = time.time_ns()
    key = tuple((name, file_version(f)) for name, f in files)
    store = _STORE
    where = store.key(files) if store is not None else None
    versions = tuple(identity for _, identity in key)
    value = _DIGESTS.get(key) or (store.get(where, versions) if store is not None else None)
    if value is None:
        value = hash_files(files)
        if not all(max(identity[3:]) < started - RECENT_NS for identity in versions):
            return value
    _DIGESTS[key] = value
    if store is not None:
        store.put(where, versions, value)
    return value


def hash_files(files) -> str:
    """files_digest's value, read from the bytes: blake2b of each file's name (where given) and bytes."""
    digest = hashlib.blake2b(digest_size=12)
    for name, f in files:
        if name is not None:
            digest.update(name.encode() + b"\0")
        with open(f, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
        digest.update(b"\0")
    return f"blake2b:{digest.hexdigest()}"


# A file set's identity (name in its folder, device, inode, size, modification and change times
# of each file) -> its digest. A file is only kept once its last change is RECENT_NS older than the
# moment it was looked at: a file rewritten in place within one tick of the file system's clock,
# at the same size, would keep its times (kernels stamp files from a coarse clock).
_DIGESTS: dict[tuple, str] = {}
RECENT_NS = 2 * 10 ** 9

# The digests of earlier processes, kept in a sweep's --out folder (a cache, never a result):
# a resumed `scalefit eval` of a Pythia-sized local suite read 2,464 x 2.1 MB of tokenizer files
# at every start to find the digests it had found before.
DIGEST_STORE = "file-digests.cache.json"
STORE_FORMAT = "scalefit file digests: a cache of hashed files, no results (1)"
_STORE = None  # the DigestStore that stored_digests opened, while it is open


class DigestStore:
    """The digests kept in a folder's DIGEST_STORE: {where: (versions, digest)}, `where` being the
    files' names and resolved paths (DigestStore.key) and `versions` their atomic.file_version. A digest
    is taken only for the same paths at the same versions: a file written since (its change time
    moves, and no user can set it back), replaced or copied elsewhere (another path, inode and
    device: a folder copied to another machine) is hashed again. `beside`: the name of a file
    (a sweep's record) without which the folder is not written in: a cache never makes a folder
    that holds nothing else look like one of results."""

    def __init__(self, folder, beside: str | None = None):
        self.path = Path(folder) / DIGEST_STORE
        self.beside = beside
        self.entries = read_digest_store(self.path)
        self.seen: dict[str, tuple] = {}  # the file sets looked up here, with what they are now
        self.changed = False
        self.folders: dict[str, str] = {}  # each folder's resolved path, found once while open

    def key(self, files) -> str:
        """Where a file set lies, as the store keys it: each file's name and resolved path."""
        return json.dumps([[name, self.resolved(f)] for name, f in files])

    def resolved(self, path) -> str:
        """os.path.realpath(path), with the folders above it resolved once (a suite's 2,464
        checkpoint folders share theirs: realpath tested each part of each file's path)."""
        path = os.path.abspath(path)
        folder, name = os.path.split(path)
        if not name:
            return path
        if folder not in self.folders:
            self.folders[folder] = self.resolved(folder)
        joined = os.path.join(self.folders[folder], name)
        return os.path.realpath(joined) if os.path.islink(joined) else joined

    def get(self, where: str, versions: tuple) -> str | None:
        """The stored digest of the files at `where` at these versions, None where there is none."""
        entry = self.entries.get(where)
        return entry[1] if entry is not None and entry[0] == versions else None

    def put(self, where: str, versions: tuple, digest: str) -> None:
        """Note the digest of a stable file set (looked up, found or hashed), for save()."""
        self.seen[where] = (versions, digest)
        self.changed = self.changed or self.entries.get(where) != (versions, digest)

    def save(self) -> bool:
        """Write the store where something was hashed that it lacked: the file sets looked up here,
        and of the others it holds now (another shard may have written it meanwhile) those whose
        files are unchanged. Only into a folder that exists (a refused command leaves no folder
        behind) and holds the file `beside` where one is named (a sweep that failed before it
        recorded anything leaves an empty --out empty); last writer wins, and an entry lost so is
        one more hashing. True where written."""
        if not self.changed or not self.path.parent.is_dir() or (
                self.beside is not None and not (self.path.parent / self.beside).is_file()):
            return False
        kept = {where: entry for where, entry in read_digest_store(self.path).items()
                if where not in self.seen and _unchanged(where, entry[0])}
        entries = {where: [[list(v) for v in versions], digest]
                   for where, (versions, digest) in {**kept, **self.seen}.items()}
        try:
            write_json(self.path, {"format": STORE_FORMAT, "entries": entries}, indent=None)
        except OSError:  # a cache that cannot be written is one more hashing next time
            return False
        self.entries, self.changed = {**kept, **self.seen}, False
        return True


def read_digest_store(path) -> dict[str, tuple]:
    """The entries of a digest store file; {} for a missing, unreadable, truncated or foreign one,
    and without the entries that are not of its form: it is a cache, never an error."""
    try:
        found = json.loads(Path(path).read_bytes())
    except (OSError, ValueError, RecursionError):
        return {}
    if not isinstance(found, dict) or found.get("format") != STORE_FORMAT or not isinstance(found.get("entries"), dict):
        return {}
    entries = {}
    for where, entry in found["entries"].items():
        try:
            versions, digest = entry
            versions = tuple(tuple(v) for v in versions)
        except (TypeError, ValueError):
            continue
        if isinstance(digest, str) and versions and all(
                len(v) == 5 and all(type(x) is int for x in v) for v in versions):
            entries[where] = (versions, digest)
    return entries


def _unchanged(where: str, versions: tuple) -> bool:
    """The files a store entry names are there, at the versions it holds."""
    try:
        paths = [path for _, path in json.loads(where)]
        return all(isinstance(path, str) for path in paths) and tuple(map(file_version, paths)) == versions
    except (OSError, ValueError, TypeError):
        return False


@contextmanager
def stored_digests(folder, beside: str | None = None):
    """Within the block, files_digest takes the digests that `folder`'s DIGEST_STORE holds for
    unchanged files (a sweep's --out: the tokenizer files of every checkpoint are hashed at every
    start), and on leaving it (not after an error) stores what was hashed there (where `folder`
    holds the file `beside`, if named: DigestStore). Opened again for the same folder within the
    block, it is the same store, saved by the outer block (whose caller can save it again once
    the folder holds its results: `DigestStore.save`)."""
    global _STORE
    if _STORE is not None and _STORE.path == Path(folder) / DIGEST_STORE:
        yield _STORE
        return
    store, previous = DigestStore(folder, beside), _STORE
    _STORE = store
    try:
        yield store
    finally:
        _STORE = previous
    store.save()


def named_files(folder, names) -> list[str]:
    """The names of the files directly in `folder` called one of `names`, sorted: one listing of
    the folder, not a walk of all it holds (a checkpoint's folder holds its weights too)."""
    with os.scandir(folder) as entries:
        return sorted(entry.name for entry in entries if entry.name in names and entry.is_file())


def jsonl_objects(lines, path):
    """(row number, parsed object) of each non-empty JSONL line; a line that is not JSON is an
    InputError naming the file and row."""
    for i, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            yield i, json.loads(line)
        except json.JSONDecodeError as exc:
            raise InputError(f"{path}: row {i}: not valid JSON ({exc.msg}); each non-empty line "
                             "must be one JSON object") from None


def iter_documents(path: Path, text_field: str = "text"):
    """Documents of a text file (one), a JSONL file (one per line) or a folder (its files, sorted).

    A byte-order mark that opens a file (Windows editors write one) is no text: it is dropped, and
    newlines read as \\n whatever the file's line endings."""
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in TEXT_SUFFIXES + (".jsonl",))
        if not files:
            raise InputError(f"{path}: folder holds no .txt/.jsonl/.md/.rst/.py files")
        for f in files:
            yield from iter_documents(f, text_field)
        return
    try:
        if path.suffix.lower() != ".jsonl":
            yield path.read_text(encoding="utf-8-sig")
            return
        with open(path, encoding="utf-8-sig") as fh:
            for i, obj in jsonl_objects(fh, path):
                if not isinstance(obj, dict) or not isinstance(obj.get(text_field), str):
                    raise InputError(f"{path}: row {i}: no string field '{text_field}' (--text-field)")
                yield obj[text_field]
    except UnicodeDecodeError:  # a JSONL file too: it failed with the codec's traceback
        raise InputError(f"{path}: not UTF-8 text (token files must end in .bin or .npy)") from None


def has_text(path: Path, text_field: str = "text") -> bool:
    """Whether a dataset holds any non-blank document, every row read (streamed): a bad row past the
    first is one error before the sweep, not the same error at every checkpoint."""
    found = False
    for doc in iter_documents(path, text_field):
        found = found or bool(doc.strip())
    return found


def open_token_file(path, dtype: str | None = None) -> TokenFile:
    """An existing token file: its JSON sidecar if present, else .npy header or uint16 (.bin)."""
    path = Path(path)
    sidecar = path.with_name(path.name + ".json")
    if sidecar.exists():
        meta = json.loads(sidecar.read_text())
        return TokenFile(path=path, dtype=meta["dtype"], n_tokens=int(meta["n_tokens"]),
                         n_docs=meta.get("n_docs"), n_bytes=meta.get("n_bytes"),
                         tokenizer=meta.get("tokenizer"),
                         eos_before_each_doc=bool(meta.get("eos_before_each_doc", False)))
    if path.suffix.lower() == ".npy":
        arr = np.load(path, mmap_mode="r")
        if arr.ndim != 1 or arr.dtype not in (np.uint16, np.uint32, np.int32, np.int64):
            raise InputError(f"{path}: a token file must be 1-D uint16/uint32, or int32/int64 ids >= 0 "
                             f"(got {arr.dtype}, {arr.ndim}-D)")
        if arr.dtype.kind == "i" and arr.size and int(arr.min()) < 0:
            raise InputError(f"{path}: token id {int(arr.min())} at position {int(np.argmin(arr))} is negative; "
                             "token ids are >= 0")
        return TokenFile(path=path, dtype=str(arr.dtype), n_tokens=int(arr.shape[0]), offset=int(arr.offset))
    given = dtype
    dtype = dtype or "uint16"
    if dtype not in ("uint16", "uint32"):
        raise InputError(f"{path}: token dtype must be uint16 or uint32, not {dtype}")
    size = path.stat().st_size
    width = np.dtype(dtype).itemsize
    if size % width:
        raise InputError(f"{path}: size {size} bytes is not a whole number of {dtype} tokens")
    if given is None:  # uint32 ids read as uint16 leave every second value 0: refuse to guess
        head = np.fromfile(path, dtype=np.uint16, count=8192)
        if head.size >= 64 and not head[1::2].any() and head[0::2].any():
            raise InputError(f"{path}: looks like uint32 tokens; name it as PATH@uint32 "
                             "(or add a PATH.json sidecar with \"dtype\")")
    return TokenFile(path=path, dtype=dtype, n_tokens=size // width)


def is_token_file(path, token_dtype: str | None = None) -> bool:
    """A file of token ids (.bin/.npy/.tokens, or a raw file whose width is named), read as it is
    rather than tokenized."""
    path = Path(path)
    return path.is_file() and (path.suffix.lower() in TOKEN_SUFFIXES or bool(token_dtype))


def source_stamp(path: Path) -> str:
    """Size and modification time of a dataset file, or of every file of a folder with its
    relative name: the folder's own stat changes only when an entry is added or removed, so a
    file edited in place inside it kept its cached tokens."""
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    stamps = []
    for f in files:
        stat = f.stat()
        stamps.append(f"{f.relative_to(path) if path.is_dir() else ''}:{stat.st_size}:{stat.st_mtime_ns}")
    return "|".join(stamps)


TOKENIZE_VERSION = "|split-special-1"  # in the cache key: how texts are tokenized (see encode_texts)


def encode_texts(tokenizer, texts: list[str]) -> list[list[int]]:
    """Token ids of each text, no special tokens added and none read from the text: a document
    holding the literal text `<|endoftext|>` gets the ids of those characters, not the end-of-text
    id, which split it in two (a false break the model saw, and one boundary more than documents,
    so the SE fell back to windows). transformers' split_special_tokens (4.45 and later take it)."""
    return tokenizer(texts, add_special_tokens=False, split_special_tokens=True)["input_ids"]


def tokenize_dataset(path, tokenizer, cache_dir, *, text_field: str = "text", batch_docs: int = 256,
                     token_dtype: str | None = None) -> TokenFile:
    """Tokenize a text/JSONL dataset once per tokenizer; later calls reuse the cached file.

    A token file (.bin/.npy/.tokens) is used as it is; `token_dtype` names a raw file's width.
    """
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: dataset not found")
    if is_token_file(path, token_dtype):
        return open_token_file(path, token_dtype)
    # TOKENIZE_VERSION: a file cached before split_special_tokens held the special id where a text
    # had `<|endoftext|>` as text, so it is tokenized again
    source_key = hashlib.sha256(f"{path.resolve()}|{source_stamp(path)}|{text_field}{TOKENIZE_VERSION}".encode())
    fp = tokenizer_fingerprint(tokenizer)
    cache_dir = Path(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    out = cache_dir / f"{path.stem}-{fp}-{source_key.hexdigest()[:12]}.tokens"
    sidecar = out.with_name(out.name + ".json")
    if out.exists() and sidecar.exists():
        return open_token_file(out)
    eos = tokenizer.eos_token_id
    dtype = np.uint16 if len(tokenizer) <= 65535 else np.uint32
    counts = {"n_docs": 0, "n_tokens": 0, "n_bytes": 0}

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as fh:
            batch: list[str] = []

            def flush():
                ids = encode_texts(tokenizer, batch)
                for text, doc in zip(batch, ids):
                    arr = np.asarray(([eos] if eos is not None else []) + list(doc), dtype=dtype)
                    fh.write(arr.tobytes())
                    counts["n_tokens"] += arr.size
                    counts["n_bytes"] += len(text.encode("utf-8"))
                    counts["n_docs"] += 1
                batch.clear()

            for doc in iter_documents(path, text_field):
                batch.append(doc)
                if len(batch) >= batch_docs:
                    flush()
            if batch:
                flush()
        if counts["n_tokens"] == 0:
            raise InputError(f"{path}: dataset holds no text")

    atomic_write(out, write)
    meta = {"source": str(path.resolve()), "tokenizer": getattr(tokenizer, "name_or_path", None),
            "tokenizer_fingerprint": fp, "dtype": np.dtype(dtype).name, **counts,
            "eos_before_each_doc": eos is not None}
    write_json(sidecar, meta)
    return open_token_file(out)


def document_starts(token_file: TokenFile, eos_id: int | None) -> np.ndarray | None:
    """Positions of the end-of-text tokens that open the documents of a token file whose sidecar
    says each document opens with one (tokenize_dataset's files), checked: the stream opens with
    one and holds exactly its n_docs of them (an end-of-text inside a text would split a
    document). None when where documents begin is not known."""
    if not token_file.eos_before_each_doc or eos_id is None or not token_file.n_docs:
        return None
    starts = eos_positions(token_file, eos_id)
    if starts.size != token_file.n_docs or starts[0] != 0:
        return None
    return starts


def eos_positions(token_file: TokenFile, eos_id: int) -> np.ndarray:
    """Stream positions of every end-of-text token, read in blocks (never the whole file at once)."""
    from scalefit.evals.loss import _blocks

    found, offset = [], 0
    for block in _blocks(token_file.tokens()):
        found.append(np.flatnonzero(block == eos_id) + offset)
        offset += block.size
    return np.concatenate(found).astype(np.int64) if found else np.zeros(0, dtype=np.int64)


@dataclass(frozen=True)
class Boundaries:
    """Where a token file's documents begin for the loss's bootstrap (None: it resamples windows),
    what `se_by` calls that, and a note to give once (None: nothing to say)."""

    starts: np.ndarray | None
    se_by: str
    note: str | None = None


def document_boundaries(token_file: TokenFile, eos_id: int | None, name: str) -> Boundaries:
    """The units of the loss SE's bootstrap for a token file (`name`: the dataset, for the notes).

    A sidecar that marks documents (tokenize_dataset's) and checks out (document_starts): its
    documents, `documents`. Otherwise the stream's end-of-text tokens are the boundaries
    (`documents (eos)`: Pile-style files end or open every document with one): a sidecar that marks
    documents but does not check out says so first. A stream without an end-of-text token (or a
    tokenizer without one) resamples the scored windows, `windows`, with a note that this
    understates the SE where documents span windows."""
    from scalefit.evals.loss import SE_BY_DOCUMENTS, SE_BY_EOS

    starts = document_starts(token_file, eos_id)
    if starts is not None:
        return Boundaries(starts, SE_BY_DOCUMENTS)
    found = eos_positions(token_file, eos_id) if eos_id is not None else np.zeros(0, dtype=np.int64)
    windows = "the SE resamples the scored windows, which understates it where documents span windows"
    if token_file.eos_before_each_doc and token_file.n_docs and eos_id is not None:
        why = (f"dataset {name}: se: the sidecar of {token_file.path.name} says each of its {token_file.n_docs} "
               f"documents opens with end-of-text (id {eos_id}), but it holds {found.size}"
               + (", the first not at its start" if found.size and found[0] != 0 else "")
               + " (a tokenizer other than the one that wrote it, or a text holding that token)")
        if found.size:
            return Boundaries(found, SE_BY_EOS, f"{why}; the SE resamples the documents between them")
        return Boundaries(None, "windows", f"{why}; {windows}")
    if found.size:  # documents: the scored targets up to each end-of-text and after the last one
        documents = int(found[0] >= 1) + found.size - 1 + int(found[-1] < token_file.n_tokens - 1)
        return Boundaries(found, SE_BY_EOS, None if documents >= 2 else (
            f"dataset {name}: se: none ({token_file.path.name} holds one document: its only end-of-text token "
            "is at its start or end; the SE of a loss is a bootstrap over documents)"))
    what = f"{token_file.path.name} holds no end-of-text token" if eos_id is not None else \
        "the tokenizer has no end-of-text token"
    return Boundaries(None, "windows", (
        f"dataset {name}: se: {what}, so where its documents begin is unknown; "
        f"{windows} (give JSONL, one document a line, or a token file with end-of-text between documents)"))


def token_byte_lengths(tokenizer, vocab_size: int | None = None) -> np.ndarray:
    """UTF-8 bytes each token id stands for (0 for special tokens), for bits per byte.

    Exact for byte-level BPE (GPT-2/NeoX style: one alphabet character per byte); for other
    tokenizers, the byte length of each token decoded on its own.
    """
    n = max(len(tokenizer), vocab_size or 0)
    lengths = np.zeros(n, dtype=np.int64)
    special = set(tokenizer.all_special_ids)
    backend = getattr(tokenizer, "backend_tokenizer", None)
    byte_level = backend is not None and "ByteLevel" in type(backend.decoder).__name__ + str(backend.decoder)
    pieces = tokenizer.convert_ids_to_tokens(list(range(len(tokenizer))))
    for i, piece in enumerate(pieces):
        if i in special or piece is None:
            continue
        if byte_level:
            lengths[i] = len(piece)
        else:
            lengths[i] = len(tokenizer.decode([i]).encode("utf-8"))
    added = getattr(tokenizer, "added_tokens_decoder", {}) or {}
    for i, tok in added.items():
        if getattr(tok, "special", False) and i < n:
            lengths[i] = 0
    return lengths

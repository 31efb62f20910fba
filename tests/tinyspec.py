"""The micro suite the trainer tests train: its sources, its corpus and its spec text, in one place.

`micro_spec` writes a `suite train` spec from tables of keys (the [recipe] and [[sizes]] rows the
tests share, then the parts a test names), so the tests that train a micro suite differ only in
what they change. `write_sources` and `build_micro_corpus` make the corpus they train on (seconds).
"""
from __future__ import annotations

import json
import sysconfig
from pathlib import Path

import numpy as np

WORDS = ("the kernel driver memory page table scheduler thread lock device buffer interrupt queue "
         "module function returns value when called with argument file system mount socket packet "
         "network interface process signal handler timer clock event user space call").split()

MICRO_RECIPE = {"seq_len": 16, "batch_seqs": 2, "seed": 7, "warmup_frac": 0.1, "warmup_min_steps": 2,
          "eval_tokens": 512, "resume_every": 5}
S1 = {"name": "s1", "d_model": 16, "n_layer": 1, "n_head": 2, "lr": 5e-3}
S2 = {"name": "s2", "d_model": 32, "n_layer": 1, "n_head": 2, "lr": 4e-3}


def toml_value(value) -> str:
    """A TOML literal of a bool, number, string or list of them."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, str):
        return json.dumps(value)
    return repr(value)


def toml_table(header: str, keys: dict) -> str:
    """One table: `header` as written ('[grid]', '[[sizes]]'), then a `key = value` line per key."""
    return header + "\n" + "".join(f"{k} = {toml_value(v)}\n" for k, v in keys.items())


def micro_spec(*parts: tuple[str, dict], name: str = "micro", vocab_size: int = 320,
               recipe: dict = MICRO_RECIPE, sizes=(S1, S2)) -> str:
    """A `suite train` spec: [suite], [recipe], the [[sizes]] rows, then `parts` as (header, keys)."""
    tables = [("[suite]", {"name": name, "vocab_size": vocab_size}), ("[recipe]", recipe),
              *(("[[sizes]]", size) for size in sizes), *parts]
    return "\n" + "\n".join(toml_table(header, keys) for header, keys in tables)


def write_sources(root: Path) -> tuple[Path, Path]:
    """A prose folder of seeded sentences (one exact duplicate) and a code folder of stdlib files."""
    rng = np.random.default_rng(0)
    prose, code = root / "prose_src", root / "code_src"
    (prose / "sub").mkdir(parents=True)
    code.mkdir()
    for i in range(30):
        sentences = [" ".join(rng.choice(WORDS, rng.integers(5, 12))).capitalize() + "."
                     for _ in range(40)]
        (prose / ("sub" if i % 2 else "") / f"doc{i}.rst.txt").write_text(" ".join(sentences))
    (prose / "copy_of_doc0.rst.txt").write_text((prose / "doc0.rst.txt").read_text())
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    for name in ("bisect.py", "colorsys.py", "keyword.py", "this.py", "abc.py", "glob.py",
                 "fnmatch.py", "genericpath.py", "heapq.py", "numbers.py", "textwrap.py", "shlex.py"):
        (code / name).write_text((stdlib / name).read_text())
    return prose, code


def build_micro_corpus(root: Path) -> dict:
    """The sources under `root` and their corpus in `root/corpus` (vocabulary 320); its manifest."""
    from scalefit.trainer.corpus import build_corpus

    prose, code = write_sources(root)
    return build_corpus(root / "corpus", [prose], [code], vocab_size=320, seed=3, val_frac=0.1, test_frac=0.1)

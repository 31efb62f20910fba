"""A suite spec TOML read into a SuiteSpec: its recipe, its sizes, and every run of its parts
(grid, long, code, warmup, wsd, init) with the checkpoints each keeps and its warmup length.
"""
from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from scalefit.errors import InputError, suggestion
from scalefit.schedule import LRSchedule, cooldown_fraction
from scalefit.schema import FLOPS_PER_PARAM_TOKEN


@dataclass
class ModelSize:
    """One suite member's shape and peak learning rate."""

    name: str
    d_model: int
    n_layer: int
    n_head: int
    lr: float


@dataclass
class RunSpec:
    """One training run: a size, a distribution, a length, and the checkpoints to keep."""

    run: str
    part: str
    size: ModelSize
    distribution: str
    steps: int
    flops_budget: float
    checkpoints: list[int] = field(default_factory=list)
    also: str = ""  # another part this same run serves (a grid run that is also the long run)
    warmup_frac: float | None = None      # a run's own warmup (the warmup part); None: the recipe's
    warmup_min_steps: int | None = None
    model_id: str = ""  # unique model name of this run's checkpoints in sweep tables (default: size)
    init: str = "pythia"  # weightstats.reinit mode applied before training (the init part, --init)
    init_source: str = ""  # a run id of this spec (its last checkpoint) or a checkpoint folder
    init_seed: int | None = None  # seed of the init draw; None: the recipe's seed (data order never changes)
    init_embeddings: str = "same"  # "same": embeddings follow the mode; "pythia": keep Pythia's init
    allow_same_data: bool = False  # accept a source trained on this run's own training split
    style: str = "cosine"  # LR decay (scalefit.schedule styles): cosine; constant / wsd for the wsd part
    cooldown_frac: float = 0.2  # "wsd" only: share of the run spent in the linear cooldown
    warmup_fixed: int | None = None  # a warmup length shared by a wsd part's runs (None: by run length)
    branch_of: str = ""  # a run id of this spec whose checkpoint at branch_step this run resumes from
    branch_step: int = 0

    @property
    def model_name(self) -> str:
        """The `model` key of this run's checkpoint rows: the size, or size + warmup variant."""
        return self.model_id or self.size.name


@dataclass
class Recipe:
    """Suite-wide hyperparameters shared by every run (the Pythia recipe, scaled down)."""

    seq_len: int = 128
    batch_seqs: int = 8
    seed: int = 1234
    warmup_frac: float = 0.01
    warmup_min_steps: int = 10
    min_lr_ratio: float = 0.1
    weight_decay: float = 0.1
    beta1: float = 0.9
    beta2: float = 0.95
    eps: float = 1e-8
    grad_clip: float = 1.0
    eval_tokens: int = 32768  # per split: windows spread over the split (scalefit.evals.evalset)
    resume_every: int = 250  # steps between resume points (what a SIGKILL can lose; Ctrl-C loses none)

    @property
    def batch_tokens(self) -> int:
        return self.seq_len * self.batch_seqs


@dataclass
class SuiteSpec:
    """A parsed spec TOML: recipe, sizes, and the runs of its parts (grid, long, code, warmup)."""

    name: str
    recipe: Recipe
    sizes: list[ModelSize]
    runs: list[RunSpec]
    vocab_size: int


# ---------------------------------------------------------------- spec


def pythia_checkpoints(steps: int, n_even: int) -> list[int]:
    """Steps 0, 1, 2, 4, ... (powers of two below the first even step), then `n_even` evenly spaced."""
    every = max(1, steps // n_even)
    even = list(range(every, steps + 1, every))
    if even[-1] != steps:
        even.append(steps)
    logs = [0] + [2 ** k for k in range(0, 64) if 2 ** k < every]
    return sorted(set(logs + even))


def warmup_checkpoints(steps: int, warmups, n_log: int, n_even: int) -> list[int]:
    """Pythia's log + even steps, `n_log` log-spaced steps, and a dense ring around each warmup end."""
    ckpts = set(pythia_checkpoints(steps, n_even))
    ckpts.update(int(round(x)) for x in np.geomspace(1, steps, max(2, n_log)))
    for w in warmups:
        for f in (0.5, 0.7, 0.85, 1.0, 1.15, 1.3, 1.5, 2.0, 3.0):
            ckpts.add(int(round(w * f)))
        ckpts.update((w - 1, w + 1))
    return sorted(s for s in ckpts if 0 <= s <= steps)


def count_params(size: ModelSize, vocab_size: int) -> tuple[int, int]:
    """(params, params_nonembed) of a GPT-NeoX size with untied input and output embeddings."""
    d, L = size.d_model, size.n_layer
    per_layer = 4 * d * d + 4 * d + 8 * d * d + 5 * d + 4 * d  # attn qkv+dense, mlp, 2 layernorms
    nonembed = L * per_layer + 2 * d
    return nonembed + 2 * vocab_size * d, nonembed


# What a suite spec may hold: per table, each key and its kind (the kinds are checked by
# `_spec_value`). A key outside these is refused with the closest known one suggested: a misspelling
# would otherwise be ignored silently (a [gird] that trains nothing, a default used for `lr_paek`).
_COUNT, _COUNT0, _POS, _FRAC = ("int", 1, None), ("int", 0, None), ("float", 0, "strict"), ("frac", None, None)
_PART_KEYS = {"distribution": ("dist", None, None), "flops": ("list", _POS, None), "tokens": ("list", _POS, None),
              "sizes": ("list", ("str", None, None), None), "n_even_checkpoints": _COUNT,
              "n_log_checkpoints": _COUNT}
SPEC_SCHEMA = {
    "suite": {"name": ("str", None, None), "vocab_size": ("int", 2, None), "description": ("str", None, None)},
    "recipe": {"seq_len": _COUNT, "batch_seqs": _COUNT, "seed": _COUNT0, "warmup_frac": ("float01", None, None),
               "warmup_min_steps": _COUNT0, "min_lr_ratio": ("float01", None, None), "weight_decay": ("float", 0, None),
               "beta1": _FRAC, "beta2": _FRAC, "eps": _POS, "grad_clip": _POS, "eval_tokens": _COUNT,
               "resume_every": _COUNT},
    "sizes": {"name": ("str", None, None), "d_model": _COUNT, "n_layer": _COUNT, "n_head": _COUNT, "lr": _POS},
    "grid": {k: v for k, v in _PART_KEYS.items() if k != "n_log_checkpoints"},
    "long": {**{k: v for k, v in _PART_KEYS.items() if k != "n_log_checkpoints"}, "near_grid": ("bool", None, None)},
    "code": {k: v for k, v in _PART_KEYS.items() if k != "n_log_checkpoints"},
    "warmup": {**_PART_KEYS, "warmup_fracs": ("list", ("float", None, None), None), "warmup_min_steps": _COUNT0},
    "wsd": {**{k: v for k, v in _PART_KEYS.items() if k not in ("flops", "n_log_checkpoints")},
            "cooldown_frac": ("float", None, None), "n_cooldown_checkpoints": _COUNT},
    "init": {**{k: v for k, v in _PART_KEYS.items() if k != "flops"}, "modes": ("list", ("str", None, None), None),
             "seeds": ("list", _COUNT0, None), "source": ("str", None, None),
             "no_warmup_modes": ("list", ("str", None, None), None), "embeddings": ("choice:same,pythia", None, None),
             "allow_same_data": ("bool", None, None)},
}
DISTRIBUTIONS = ("prose", "code")


def _spec_value(where: str, value, kind) -> None:
    """InputError unless `value` is of `kind` (name, bound, 'strict'), saying what is accepted."""
    name, bound, strict = kind
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if name == "list":
        if not isinstance(value, list):
            example = '["s1"]' if bound[0] == "str" else "[4096]"
            raise InputError(f"{where} = {value!r}: expected a list, e.g. {example}")
        for item in value:
            _spec_value(f"{where} item", item, bound)
        return
    if name == "str":
        ok, accepted = isinstance(value, str) and value.strip() != "", "a non-empty string"
    elif name == "dist":
        ok, accepted = value in DISTRIBUTIONS, "one of " + ", ".join(f'"{d}"' for d in DISTRIBUTIONS)
    elif name.startswith("choice:"):
        choices = name.split(":", 1)[1].split(",")
        ok, accepted = value in choices, "one of " + ", ".join(f'"{c}"' for c in choices)
    elif name == "bool":
        ok, accepted = isinstance(value, bool), "true or false"
    elif name == "int":
        accepted = f"a whole number >= {bound}"
        ok = isinstance(value, int) and not isinstance(value, bool) and value >= bound
    elif name == "float01":
        accepted = "a number from 0 to 1"
        ok = number and math.isfinite(value) and 0 <= value <= 1
    elif name == "frac":
        accepted = "a number from 0 to less than 1"
        ok = number and math.isfinite(value) and 0 <= value < 1
    else:  # float
        accepted = "a finite number" + ("" if bound is None else f" {'>' if strict else '>='} {bound}")
        ok = number and math.isfinite(value) and (bound is None or value > bound or (not strict and value == bound))
    if not ok:
        raise InputError(f"{where} = {value!r}: expected {accepted}")


def check_spec(raw: dict, path) -> None:
    """InputError for anything a suite spec cannot mean: an unknown table or key (the closest known
    one suggested), a value of the wrong type or out of range, a width the heads do not divide."""
    for table, body in raw.items():
        if table not in SPEC_SCHEMA:
            raise InputError(f"{path}: unknown table [{table}]{suggestion(table, SPEC_SCHEMA, '[{}]')}")
        many = table in ("sizes", "init") and isinstance(body, list)
        rows = body if many else [body]
        for i, row in enumerate(rows):
            label = f"[[{table}]] {i + 1}" if many else f"[{table}]"
            if not isinstance(row, dict):
                raise InputError(f"{path}: {table} must be a table ({'[[' + table + ']]' if table in ('sizes', 'init') else '[' + table + ']'}), got {row!r}")
            for key, value in row.items():
                if key not in SPEC_SCHEMA[table]:
                    raise InputError(f"{path}: {label}: unknown key '{key}'{suggestion(key, SPEC_SCHEMA[table])}")
                _spec_value(f"{path}: {label} {key}", value, SPEC_SCHEMA[table][key])
    recipe = raw.get("recipe", {})
    seq_len, eval_tokens = recipe.get("seq_len", Recipe.seq_len), recipe.get("eval_tokens", Recipe.eval_tokens)
    if eval_tokens < seq_len:  # every run trained to its end, then its final evaluation failed
        raise InputError(f"{path}: [recipe] eval_tokens = {eval_tokens} is less than one window of seq_len = "
                         f"{seq_len} tokens; give eval_tokens >= {seq_len}")
    if "sizes" in raw and not isinstance(raw["sizes"], list):
        raise InputError(f"{path}: sizes: write each size as its own [[sizes]] table")
    for i, size in enumerate(raw.get("sizes", [])):
        d, h = size.get("d_model"), size.get("n_head")
        if isinstance(d, int) and isinstance(h, int) and d % h:
            raise InputError(f"{path}: [[sizes]] {i + 1} ({size.get('name')}): d_model = {d} is not a multiple of "
                             f"n_head = {h}")


def spec_for_corpus(spec_path, corpus_dir) -> SuiteSpec:
    """The spec with the vocabulary size the corpus's tokenizer really has (as training uses).
    A spec `vocab_size` other than the corpus was built for is refused: it was silently ignored."""
    from scalefit.trainer.corpus import read_manifest

    manifest = read_manifest(corpus_dir)
    spec = load_spec(spec_path, vocab_size=manifest["vocab_size_actual"])
    try:
        asked = tomllib.loads(Path(spec_path).read_text()).get("suite", {}).get("vocab_size")
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):  # load_spec read it a moment ago
        asked = None
    built = manifest.get("vocab_size")
    if asked is not None and built is not None and int(asked) != int(built):
        raise InputError(f"{spec_path}: [suite] vocab_size = {asked}, but the corpus {corpus_dir} was built with "
                         f"--vocab-size {built} (its tokenizer has {manifest['vocab_size_actual']} tokens): "
                         f"build a corpus with `scalefit data build-corpus --vocab-size {asked}`, or set "
                         f"vocab_size = {built}")
    return spec


def load_spec(path, vocab_size: int | None = None) -> SuiteSpec:
    """Read a suite spec TOML; every run's length comes from its FLOP budget or token count."""
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text())
    except UnicodeDecodeError as e:
        raise InputError(f"{path}: cannot read spec: not UTF-8 text (byte offset {e.start}); a "
                         "suite spec is a TOML text file") from None
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise InputError(f"{path}: cannot read spec: {e}") from e
    check_spec(raw, path)
    suite = raw.get("suite", {})
    recipe = Recipe(**{k: v for k, v in raw.get("recipe", {}).items()})
    vocab = int(vocab_size or suite.get("vocab_size", 4096))
    sizes = []
    for i, s in enumerate(raw.get("sizes", [])):
        try:
            sizes.append(ModelSize(name=s["name"], d_model=int(s["d_model"]), n_layer=int(s["n_layer"]),
                                   n_head=int(s["n_head"]), lr=float(s["lr"])))
        except KeyError as e:
            raise InputError(f"{path}: sizes, row {i + 1}: missing {e}") from e
    if not sizes:
        raise InputError(f"{path}: no [[sizes]] in spec")
    twice = next((s.name for i, s in enumerate(sizes) if s.name in {t.name for t in sizes[:i]}), None)
    if twice is not None:  # the last one replaced the other: a size never trained, its run id the other's
        raise InputError(f"{path}: two [[sizes]] are named '{twice}'; name each size once")
    by_name = {s.name: s for s in sizes}
    runs: list[RunSpec] = []
    for part in ("grid", "long", "code"):
        block = raw.get(part)
        if not block:
            continue
        names = block_sizes(block, by_name, f"{path}: [{part}]")
        dist = block.get("distribution", "code" if part == "code" else "prose")
        # budget-major order: a grid cut short is still a grid (every size at the budgets done)
        for budget in block.get("flops", []):
            for n in names:
                params = count_params(by_name[n], vocab)[0]
                steps = max(1, round(budget / (FLOPS_PER_PARAM_TOKEN * params * recipe.batch_tokens)))
                runs.append(RunSpec(f"{part}/{n}-C{budget:.2g}", part, by_name[n], dist, steps,
                                    float(budget), [steps]))
        for tokens in block.get("tokens", []):
            if tokens < recipe.batch_tokens:  # one step of a batch trained more tokens than its id said
                raise InputError(f"{path}: [{part}] tokens item = {tokens!r}: less than one batch (batch_tokens = "
                                 f"seq_len x batch_seqs = {recipe.batch_tokens}); a run trains whole batches")
            for n in names:
                params = count_params(by_name[n], vocab)[0]
                steps = max(1, round(tokens / recipe.batch_tokens))
                ckpts = (pythia_checkpoints(steps, int(block.get("n_even_checkpoints", 20)))
                         if part == "long" else [steps])
                if part == "long" and block.get("near_grid", False):
                    ckpts = sorted(set(ckpts) | near_checkpoints(grid_steps(raw, recipe), steps))
                run = RunSpec(f"{part}/{n}-D{int(tokens)}", part, by_name[n], dist, steps,
                              FLOPS_PER_PARAM_TOKEN * params * steps * recipe.batch_tokens, ckpts)
                twin = next((r for r in runs if (r.size.name, r.distribution, r.steps)
                             == (n, dist, steps)), None)
                if twin is not None and twin.part == part:  # two budgets of one part, one run: one was dropped
                    raise InputError(f"{path}: [{part}] tokens: {twin.run.rsplit('-D', 1)[-1]} and {tokens!r} both "
                                     f"train {steps} steps of {recipe.batch_tokens} tokens ({n}); give budgets at "
                                     "least one batch apart")
                if twin is not None:  # same training run already in the spec: keep its checkpoints
                    twin.checkpoints = sorted(set(twin.checkpoints) | set(ckpts))
                    twin.also = part
                else:
                    runs.append(run)
    runs += _warmup_runs(raw.get("warmup"), by_name, vocab, recipe, path)
    runs += _wsd_runs(raw.get("wsd"), by_name, vocab, recipe, path)
    runs += _init_runs(raw.get("init"), by_name, vocab, recipe, path)
    check_decays(runs, recipe, path)
    return SuiteSpec(suite.get("name", path.stem), recipe, sizes, runs, vocab)


def block_sizes(block: dict, by_name: dict, where: str) -> list[str]:
    """The sizes a spec block names (default: every size); InputError naming an unknown one."""
    names = list(block.get("sizes", list(by_name)))
    unknown = [n for n in names if n not in by_name]
    if unknown:
        raise InputError(f"{where} sizes: unknown size {unknown[0]!r} (known: {', '.join(by_name)})")
    return names


NEAR_FRACS = (0.8, 0.9, 0.95, 1.0, 1.05, 1.1, 1.2)  # checkpoints of a long run around each grid length


def grid_steps(raw: dict, recipe: Recipe) -> list[int]:
    """The training lengths (steps) of the spec's [grid] part."""
    return sorted({max(1, round(t / recipe.batch_tokens)) for t in raw.get("grid", {}).get("tokens", [])})


def near_checkpoints(lengths, steps: int) -> set[int]:
    """Steps at NEAR_FRACS x each length (within the run): Kaplan-style points at every grid budget."""
    return {int(round(f * n)) for n in lengths for f in NEAR_FRACS if 1 <= round(f * n) <= steps}


def _wsd_runs(block, by_name, vocab: int, recipe: Recipe, path) -> list[RunSpec]:
    """The [wsd] part (Hagele et al. 2024): per size, one constant-LR run, and for each length T a
    linear cooldown over the last `cooldown_frac` x T steps branched from it at step (1 - frac) x T.

    Every run of a size shares one warmup (the recipe's for the longest length), so a branch is
    step for step the WSD run of length T trained from scratch (the data order is a function of
    the step). Model ids: `{size}-wsd-constant`, `{size}-wsd-D{tokens}`.
    """
    if not block:
        return []
    names = block_sizes(block, by_name, f"{path}: [wsd]")
    frac = cooldown_fraction(f"{path}: [wsd] cooldown_frac", block.get("cooldown_frac", 0.2))
    if frac == 1:  # LRSchedule takes it; a branch of the constant run cannot
        raise InputError(f"{path}: [wsd] cooldown_frac = 1: a cooldown of the whole run would branch from "
                         "the constant run at step 0, before the shared warmup; give a fraction below 1")
    dist = block.get("distribution", "prose")
    by_steps: dict[int, int] = {}
    for t in block.get("tokens", []):  # as [grid] tokens: whole batches, one run per length
        steps = max(2, round(t / recipe.batch_tokens))
        if t < recipe.batch_tokens:
            raise InputError(f"{path}: [wsd] tokens item = {t!r}: less than one batch (batch_tokens = seq_len x "
                             f"batch_seqs = {recipe.batch_tokens}); a run trains whole batches")
        if steps in by_steps:
            raise InputError(f"{path}: [wsd] tokens: {by_steps[steps]} and {t!r} both train {steps} steps of "
                             f"{recipe.batch_tokens} tokens; give lengths at least one batch apart")
        by_steps[steps] = int(t)
    lengths = sorted(by_steps.items())
    if not lengths:
        raise InputError(f"{path}: [wsd] tokens: give the lengths (tokens) to cool down at")
    branch = {n: int(round((1 - frac) * n)) for n, _ in lengths}
    short = next(((n, t) for n, t in lengths if branch[n] >= n), None)
    if short:  # a 'cooldown' of no step: the branch was the constant run under a WSD id
        raise InputError(f"{path}: [wsd] tokens = {short[1]}: a cooldown_frac of {frac:g} x {short[0]} steps rounds "
                         "to no step; give more tokens or a larger cooldown_frac")
    longest = max(n for n, _ in lengths)
    warm = warmup_steps(recipe, longest)
    if max(branch.values()) < warm:
        raise InputError(f"{path}: [wsd] the constant run ({max(branch.values())} steps) is shorter than "
                         f"the shared warmup ({warm} steps); give longer tokens")
    n_cool = int(block.get("n_cooldown_checkpoints", 5))
    runs = []
    for n in names:
        params = count_params(by_name[n], vocab)[0]
        const_steps = max(branch.values())
        ckpts = set(pythia_checkpoints(const_steps, int(block.get("n_even_checkpoints", 20))))
        ckpts |= set(branch.values()) | {s for s, _ in lengths if s <= const_steps}
        const = RunSpec(f"wsd/{n}-constant", "wsd", by_name[n], dist, const_steps,
                        FLOPS_PER_PARAM_TOKEN * params * const_steps * recipe.batch_tokens, sorted(ckpts),
                        model_id=f"{n}-wsd-constant", style="constant", warmup_fixed=warm)
        runs.append(const)
        for steps, tokens in lengths:
            b = branch[steps]
            cool = sorted({b + int(round(k * (steps - b) / n_cool)) for k in range(1, n_cool + 1)})
            runs.append(RunSpec(f"wsd/{n}-D{tokens}-cool{frac:g}", "wsd", by_name[n], dist, steps,
                                FLOPS_PER_PARAM_TOKEN * params * steps * recipe.batch_tokens, cool,
                                model_id=f"{n}-wsd-D{tokens}", style="wsd", cooldown_frac=frac,
                                warmup_fixed=warm, branch_of=const.run, branch_step=b))
    return runs


def _warmup_runs(block, by_name, vocab: int, recipe: Recipe, path) -> list[RunSpec]:
    """The [warmup] part: runs identical but for the warmup fraction, checkpointed around every warmup end.

    Never merged with a grid twin: a different warmup is a different training run.
    """
    if not block:
        return []
    names = block_sizes(block, by_name, f"{path}: [warmup]")
    fracs = [float(f) for f in block.get("warmup_fracs", [])]
    if not fracs or any(not 0 < f < 1 for f in fracs):
        raise InputError(f"{path}: [warmup] warmup_fracs: give fractions between 0 and 1, got {fracs}")
    min_steps = int(block.get("warmup_min_steps", 1))
    dist = block.get("distribution", "prose")
    runs = []
    for tokens in block.get("tokens", []):
        steps = max(1, round(tokens / recipe.batch_tokens))
        ends = [min(steps, max(min_steps, round(f * steps))) for f in fracs]
        for i, (a, end) in enumerate(zip(fracs, ends)):
            b = next((b for b, other in zip(fracs[i + 1:], ends[i + 1:]) if other == end), None)
            if b is not None:  # two ids, one training run: the analyses would compare a run with itself
                raise InputError(f"{path}: [warmup] warmup_fracs {a:g} and {b:g} give the same warmup at tokens = "
                                 f"{tokens!r} ({end} of {steps} steps, warmup_min_steps = {min_steps}); give "
                                 "fractions whose warmups differ")
        ckpts = warmup_checkpoints(steps, ends, int(block.get("n_log_checkpoints", 40)),
                                   int(block.get("n_even_checkpoints", 20)))
        for n in names:
            params = count_params(by_name[n], vocab)[0]
            for f in fracs:
                runs.append(RunSpec(f"warmup/{n}-D{int(tokens)}-W{f:g}", "warmup", by_name[n], dist,
                                    steps, FLOPS_PER_PARAM_TOKEN * params * steps * recipe.batch_tokens, list(ckpts),
                                    warmup_frac=f, warmup_min_steps=min_steps,
                                    model_id=f"{n}-W{f:g}"))
    return runs


def _init_runs(blocks, by_name, vocab: int, recipe: Recipe, path) -> list[RunSpec]:
    """The [[init]] part: the same run under several inits (weightstats.reinit modes) and init seeds.

    Each block: sizes, tokens, modes, seeds, source (a run id of this spec, `{size}` filled in,
    whose last checkpoint is the source; or a checkpoint folder), no_warmup_modes (these modes
    also run with no warmup at all), embeddings, allow_same_data, n_log/n_even_checkpoints.
    The data order is the recipe's for every run: only the init draw changes with the seed, so
    `source` (a copy, no draw) runs once, with the first seed.
    Model ids: `{size}-init-{mode}[-nowarmup]-s{seed}`.
    """
    if not blocks:
        return []
    from scalefit.weightstats.reinit import MODES  # torch: only for a spec that has [[init]] blocks

    runs = []
    for b, block in enumerate([blocks] if isinstance(blocks, dict) else blocks):
        where = f"{path}: [[init]] block {b + 1}"
        names = block_sizes(block, by_name, where)
        modes = list(block.get("modes", []))
        bad = [m for m in modes if m not in MODES]
        if not modes or bad:
            raise InputError(f"{where}: modes: give some of {', '.join(MODES)}, got {modes}")
        no_warmup = list(block.get("no_warmup_modes", []))
        if any(m not in modes for m in no_warmup):
            raise InputError(f"{where}: no_warmup_modes must be among its modes {modes}, got {no_warmup}")
        seeds = [int(s) for s in block.get("seeds", [recipe.seed])]
        source = str(block.get("source", ""))
        if not source and any(m != "pythia" for m in modes):
            raise InputError(f"{where}: source: a run id of this spec or a checkpoint folder is "
                             "needed for modes other than pythia")
        embeddings = str(block.get("embeddings", "same"))
        dist = block.get("distribution", "prose")
        for tokens in block.get("tokens", []):
            steps = max(1, round(tokens / recipe.batch_tokens))
            ckpts = warmup_checkpoints(steps, [warmup_steps(recipe, steps)],
                                       int(block.get("n_log_checkpoints", 30)),
                                       int(block.get("n_even_checkpoints", 20)))
            for n in names:
                params = count_params(by_name[n], vocab)[0]
                src = source.replace("{size}", n)  # checked when a run trains (the sweep needs no source)
                for mode in modes:
                    for warm in ([True, False] if mode in no_warmup else [True]):
                        for seed in (seeds[:1] if mode == "source" else seeds):  # a copy: no draw
                            tag = f"{mode}{'' if warm else '-nowarmup'}-s{seed}"
                            runs.append(RunSpec(
                                f"init/{n}-D{int(tokens)}-{tag}", "init", by_name[n], dist, steps,
                                FLOPS_PER_PARAM_TOKEN * params * steps * recipe.batch_tokens, list(ckpts),
                                warmup_frac=None if warm else 0.0, warmup_min_steps=None if warm else 0,
                                model_id=f"{n}-init-{tag}", init=mode,
                                init_source="" if mode == "pythia" else src, init_seed=seed,
                                init_embeddings=embeddings,
                                allow_same_data=bool(block.get("allow_same_data", False))))
    return runs


# ---------------------------------------------------------------- warmup lengths


def warmup_steps(recipe: Recipe, steps: int) -> int:
    """Pythia's 1% warmup, with a floor so the shortest runs still warm up."""
    return min(steps, max(recipe.warmup_min_steps, round(recipe.warmup_frac * steps)))


def run_warmup_steps(recipe: Recipe, run: RunSpec) -> int:
    """A run's warmup length: its part's fixed length (wsd), its own fraction and floor (warmup
    part), else the recipe's; never past the run's end."""
    return min(run.steps, asked_warmup_steps(recipe, run))


def run_schedule(recipe: Recipe, run: RunSpec) -> LRSchedule:
    """A run's LR schedule: warmup to its size's peak, cosine to min_lr_ratio x peak at its last step.

    As in GPT-NeoX, the update that takes the model from step s to s + 1 runs at
    lr_at_step(schedule, s) (0 for the very first update, as in Pythia), and the LR logged at step s
    is lr_at_step(schedule, s).
    """
    return LRSchedule(peak=run.size.lr, warmup_steps=run_warmup_steps(recipe, run), decay_steps=run.steps,
                      final_ratio=recipe.min_lr_ratio, style=run.style, cooldown_fraction=run.cooldown_frac)


def asked_warmup_steps(recipe: Recipe, run: RunSpec) -> int:
    """The warmup a run's spec keys ask for, before it is cut to the run's length (what a message
    about those keys should quote)."""
    if run.warmup_fixed is not None:
        return run.warmup_fixed
    frac = recipe.warmup_frac if run.warmup_frac is None else run.warmup_frac
    floor = recipe.warmup_min_steps if run.warmup_min_steps is None else run.warmup_min_steps
    return max(floor, round(frac * run.steps))


def check_decays(runs: list[RunSpec], recipe: Recipe, path) -> None:
    """InputError naming the runs whose LR never decays: no update runs past the warmup below the
    peak (a warmup as long as the run, a floor of min_lr_ratio = 1, a WSD cooldown of no update).
    They trained, labelled cosine; the eval suite spec refuses the same (sweep.suites._check_decay)."""
    from scalefit.schedule import lr_at_step

    def flat(run: RunSpec) -> bool:  # update s runs at lr_at_step(s), s < steps (GPT-NeoX): the last decays most
        last = run.steps - 1
        return last <= run_warmup_steps(recipe, run) or lr_at_step(run_schedule(recipe, run), last) >= run.size.lr

    never = [r for r in runs if r.style != "constant" and flat(r)]
    if not never:
        return
    run = never[0]
    ids = ", ".join(r.run for r in never[:3]) + (f" and {len(never) - 3} more" if len(never) > 3 else "")
    warm, steps = asked_warmup_steps(recipe, run), run.steps
    if recipe.min_lr_ratio >= 1:
        raise InputError(f"{path}: [recipe] min_lr_ratio = {recipe.min_lr_ratio:g}: the LR of {ids} never "
                         "decays below its peak; give a floor under 1 (Pythia's is 0.1)")
    if steps < 2:
        raise InputError(f"{path}: [{run.part}] tokens: {ids}: one step each, whose one update runs "
                         f"before any decay; give at least 2 batches ({2 * recipe.batch_tokens} tokens)")
    if warm < steps - 1:  # a WSD branch whose cooldown starts at its last update
        raise InputError(f"{path}: [wsd] cooldown_frac = {run.cooldown_frac:g}: the cooldown of {ids} "
                         f"({steps} steps) starts at its last update, so its LR never decays; give more "
                         "tokens or a larger cooldown_frac")
    if run.part == "warmup":
        keys = f"[warmup] warmup_fracs item {run.warmup_frac:g} / warmup_min_steps = {run.warmup_min_steps}"
    else:
        keys = (f"[recipe] warmup_frac = {recipe.warmup_frac:g} / warmup_min_steps = {recipe.warmup_min_steps}"
                + (" (the [wsd] runs share the longest length's warmup)" if run.part == "wsd" else ""))
    raise InputError(f"{path}: {keys}: a warmup of {warm} steps leaves no update of {ids} ({steps} steps) "
                     f"past it, so the LR never decays; give a warmup of at most {steps - 2} steps for "
                     "these runs, or longer runs")

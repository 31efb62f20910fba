"""Suites as data: members, checkpoint steps, tokens per step and the LR schedule of a model family.

Pythia ships as `data/suites/pythia.toml` + `pythia.csv`; any other suite is a small TOML or JSON
spec of the same shape (a hub repo with `step{N}` revisions, or a local folder with one
sub-folder per checkpoint). Nothing downstream knows which suite it is measuring.
"""
from __future__ import annotations

import json
import math
import re
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from scalefit.data import data_path
from scalefit.errors import InputError, suggestion
from scalefit.schedule import LRSchedule, cooldown_fraction, lr_at_step

SHIPPED = ("pythia",)


@dataclass(frozen=True)
class Member:
    """One model of a suite: its name, size and peak LR (plus any extra per-member facts)."""

    name: str
    params: int | None = None
    params_nonembed: int | None = None
    lr_peak: float | None = None
    alias: str | None = None
    extra: dict = field(default_factory=dict, compare=False, hash=False)


@dataclass(frozen=True)
class SuiteSpec:
    """A suite: members, checkpoint steps, tokens per step, schedule, and where checkpoints live.

    `hub` is a repo template such as "EleutherAI/{model}" with `revision` "step{step}";
    `local` is a folder template such as "/runs/tiny/{model}/step{step}" (one folder per
    checkpoint). Exactly one of the two is set.
    """

    name: str
    members: tuple[Member, ...]
    steps: tuple[int, ...]
    tokens_per_step: int
    schedule: LRSchedule
    hub: str | None = None
    revision: str = "step{step}"
    local: str | None = None
    tokenizer: str | None = None
    context_length: int | None = None
    notes: dict = field(default_factory=dict, compare=False, hash=False)
    steps_on_disk: bool = False  # no steps in the spec: `steps` are those found in the local folders

    def member(self, name: str) -> Member:
        """The member called `name` (full name or alias such as '70m'); InputError if unknown."""
        for m in self.members:
            if name in (m.name, m.alias):
                return m
        known = ", ".join(m.alias or m.name for m in self.members)
        raise InputError(f"suite '{self.name}': unknown model '{name}' (known: {known})")

    def schedule_for(self, member: Member) -> LRSchedule:
        """The member's LR schedule: the suite's shape with the member's own peak LR."""
        if member.lr_peak is None:
            return self.schedule
        return replace(self.schedule, peak=member.lr_peak)

    def lr(self, member: Member, step):
        """Learning rate of `member` at `step`."""
        return lr_at_step(self.schedule_for(member), step)

    def tokens(self, step):
        """Training tokens seen at `step` (constant batch)."""
        return np.asarray(step, dtype=np.int64) * self.tokens_per_step if np.ndim(step) else \
            int(step) * self.tokens_per_step

    def __repr__(self) -> str:
        """A notebook's view in one line (the default dataclass repr of Pythia ran to ~10k characters)."""
        where = f"hub {self.hub}" if self.hub else f"local {self.local}"
        steps = (f"{len(self.steps)} steps ({min(self.steps)}..{max(self.steps)})" if self.steps
                 else "no steps")
        return (f"SuiteSpec '{self.name}': {len(self.members)} members, {steps}, "
                f"{self.tokens_per_step:,} tokens/step, {where}; .table() for the members, .steps")

    def table(self) -> pd.DataFrame:
        """One row per member: name, params, params_nonembed, lr_peak and the extra facts."""
        rows = [{"model": m.name, "params": m.params, "params_nonembed": m.params_nonembed,
                 "lr_peak": m.lr_peak, **m.extra} for m in self.members]
        return pd.DataFrame(rows)


def _whole_steps(values, where: str, what: str) -> list[int]:
    """Steps as whole numbers >= 0; InputError naming the first that is not (1.5, -1, "8", true)."""
    if not isinstance(values, list):
        raise InputError(f"{where}: {what} must be a list of whole numbers >= 0, got {values!r}")
    for v in values:
        if isinstance(v, bool) or not isinstance(v, int) or v < 0:
            raise InputError(f"{where}: {what}: {v!r} is not a step; steps are whole numbers >= 0")
    return list(values)


def _steps_from(obj, where: str) -> tuple[int, ...]:
    """Steps from a list, or {explicit = [...], range = [start, stop, every]}."""
    if obj is None:
        return ()
    if isinstance(obj, list):
        return tuple(sorted(set(_whole_steps(obj, where, "steps"))))
    if isinstance(obj, dict):
        steps = set(_whole_steps(obj.get("explicit", []), where, "steps.explicit"))
        if "range" in obj:
            r = _whole_steps(obj["range"], where, "steps.range")
            if len(r) != 3 or r[2] <= 0:
                raise InputError(f"{where}: steps.range must be [start, stop, every] with every > 0")
            steps.update(range(r[0], r[1] + 1, r[2]))
        return tuple(sorted(steps))
    raise InputError(f"{where}: 'steps' must be a list or a table with explicit/range")


def _members_from(spec: dict, base: Path, where: str) -> tuple[Member, ...]:
    """Members from an inline [[members]] list and/or a members_csv file beside the spec."""
    rows = list(spec.get("members", []))
    inline = len(rows)
    if "members_csv" in spec:
        csv = base / spec["members_csv"]
        if not csv.exists():
            raise InputError(f"{where}: members_csv '{csv}' not found")
        rows += pd.read_csv(csv, keep_default_na=False).to_dict("records")
    if not rows:
        raise InputError(f"{where}: a suite needs at least one member ([[members]] or members_csv)")
    out = []
    core = {"model", "name", "params", "params_nonembed", "lr_peak", "alias"}
    for i, row in enumerate(rows):
        name = row.get("name", row.get("model"))
        if not name:
            raise InputError(f"{where}: member {i + 1} has no 'name'")
        for key in row if i < inline else ():  # an extra fact is welcome; a near miss of a known key
            near = (suggestion(key, sorted(core - {"model"}), cutoff=0.75, otherwise="")  # is a typo
                    if key not in core else "")
            if near:
                raise InputError(f"{where}: member '{name}': unknown key '{key}'{near}")
        alias = row.get("alias")
        if alias is None and "size" in row:
            alias = str(row["size"]) + ("-deduped" if str(row.get("deduped")) == "True" else "")

        def num(key, kind):
            value = row.get(key)
            if value in (None, ""):
                return None
            try:
                return kind(value)
            except (TypeError, ValueError):
                raise InputError(f"{where}: member '{name}', '{key}' = {value!r} is not a number") from None

        member = Member(name=str(name), params=num("params", int),
                        params_nonembed=num("params_nonembed", int), lr_peak=num("lr_peak", float),
                        alias=alias, extra={k: v for k, v in row.items() if k not in core})
        for key in ("params", "params_nonembed", "lr_peak"):
            value = getattr(member, key)
            if value is not None and not (math.isfinite(value) and value > 0):
                raise InputError(f"{where}: member '{name}', '{key}' = {row.get(key)!r}: expected a number > 0")
        out.append(member)
    names = [m.name for m in out]
    twice = next((n for n in names if names.count(n) > 1), None)
    if twice is not None:
        raise InputError(f"{where}: two members are named '{twice}'; each member once")
    return tuple(out)


def _spec_number(spec: dict, key: str, where: str, *, whole: bool, low: float, high: float | None = None,
                 table: str = ""):
    """spec[key] as a number of the right kind and range (None when absent); InputError otherwise."""
    if key not in spec:
        return None
    value = spec[key]
    kind = "a whole number" if whole else "a number"
    accepted = f"{kind} >= {low:g}" + (f" and <= {high:g}" if high is not None else "")
    ok = (isinstance(value, int) if whole else isinstance(value, (int, float))) and not isinstance(value, bool) \
        and math.isfinite(value) and value >= low and (high is None or value <= high)
    if not ok:
        place = f"[{table}] " if table else ""
        raise InputError(f"{where}: {place}{key} = {value!r}: expected {accepted}")
    return value


# The keys a suite spec may hold, per table; [optimizer], [discrepancies] and [notes] are free-form
# and a member may carry any extra fact. A key outside these is refused (a misspelling would
# otherwise be ignored silently), with the closest known key suggested.
SPEC_KEYS = {
    "": ("name", "tokens_per_step", "source", "schedule", "members", "members_csv", "steps", "tokenizer",
         "context_length", "discrepancies", "optimizer", "notes", "description"),
    "source": ("hub", "local", "revision", "steps"),
    "steps": ("explicit", "range"),
}


def _check_keys(table: dict, known, where: str, section: str) -> None:
    for key in table:
        if key not in known:
            place = f"[{section}]" if section else "top level"
            raise InputError(f"{where}: unknown key '{key}' at {place}{suggestion(key, known)}")


def check_spec_keys(spec: dict, where: str = "suite spec") -> None:
    """InputError for a key that no suite spec has (top level, [source], [steps], [schedule])."""
    from dataclasses import fields

    _check_keys(spec, SPEC_KEYS[""], where, "")
    for section in ("source", "steps"):
        if isinstance(spec.get(section), dict):
            _check_keys(spec[section], SPEC_KEYS[section], where, section)
    if isinstance(spec.get("schedule"), dict):
        _check_keys(spec["schedule"], tuple(f.name for f in fields(LRSchedule)), where, "schedule")


def _check_decay(sched: dict, where: str) -> None:
    """A decaying schedule (any style but constant) needs decay_steps > warmup_steps: with
    decay_steps 0 (or missing) the LR drops to the floor right after the warmup, and a warmup past
    the decay's end never reaches it; both gave a wrong lr column without a word."""
    if sched.get("style", "cosine") == "constant":
        return
    decay, warmup = sched.get("decay_steps"), sched.get("warmup_steps", 0)
    if not decay:
        said = "decay_steps is missing" if decay is None else "decay_steps = 0"
        raise InputError(f"{where}: [schedule] {said}: give decay_steps, the step where the decay to "
                         "final_ratio x peak ends (> warmup_steps), or style = \"constant\"")
    if warmup >= decay:
        raise InputError(f"{where}: [schedule] warmup_steps = {warmup} is not below decay_steps = {decay}: the "
                         "warmup must end before the decay does (decay_steps is the step where it ends)")


def _tokenizer_source(value, base: Path, where: str) -> str | None:
    """The spec's tokenizer: a folder beside the spec (resolved against it, as `local` is, not
    against the working directory), else a hub id; a path that names no folder is refused."""
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise InputError(f"{where}: tokenizer = {value!r}: expected a tokenizer folder or a hub id (org/name)")
    folder = base / Path(value).expanduser()
    if folder.exists():
        return str(folder)
    if value.startswith(("/", ".", "~")) or value.count("/") > 1:
        raise InputError(f"{where}: tokenizer = {value!r}: folder {folder} does not exist (a tokenizer "
                         "folder, relative to the spec, or a hub id org/name)")
    return value


def suite_from_dict(spec: dict, base: Path | str = ".", where: str = "suite spec") -> SuiteSpec:
    """Build a SuiteSpec from a parsed TOML/JSON spec; relative paths resolve against `base`."""
    base = Path(base)
    check_spec_keys(spec, where)
    for key in ("name", "tokens_per_step"):
        if key not in spec:
            raise InputError(f"{where}: missing '{key}'")
    _spec_number(spec, "tokens_per_step", where, whole=True, low=1)
    _spec_number(spec, "context_length", where, whole=True, low=1)
    source = spec.get("source", {})
    hub, local = source.get("hub"), source.get("local")
    if (hub is None) == (local is None):
        raise InputError(f"{where}: [source] needs exactly one of 'hub' (repo template) or 'local' (folder)")
    if local is not None:
        local = str(local)
        if "{" not in local:  # plain folder: one sub-folder per model, one per checkpoint inside
            local = str(Path(local) / "{model}" / "step{step}")
        if not Path(local).is_absolute():
            local = str(base / local)
        fixed = Path(local.split("{", 1)[0] + "x").parent  # the folder the template starts in
        if not fixed.is_dir():
            raise InputError(f"{where}: [source] local = {source.get('local')!r}: folder {fixed} does not exist")
    sched = dict(spec.get("schedule", {}))
    for key in ("warmup_steps", "decay_steps"):
        _spec_number(sched, key, where, whole=True, low=0, table="schedule")
    for key in ("final_ratio", "cooldown_fraction"):
        _spec_number(sched, key, where, whole=False, low=0, high=1, table="schedule")
    if sched.get("style") == "wsd" and "cooldown_fraction" in sched:  # LRSchedule's rule, named by the spec file
        cooldown_fraction(f"{where}: [schedule] cooldown_fraction", sched["cooldown_fraction"])
    _spec_number(sched, "peak", where, whole=False, low=0, table="schedule")
    members = _members_from(spec, base, where)
    if sched.get("peak") or any(m.lr_peak for m in members):
        _check_decay(sched, where)
    peak = float(sched.pop("peak", members[0].lr_peak or 0.0))
    try:
        schedule = LRSchedule(peak=peak, **sched)
    except TypeError as exc:
        raise InputError(f"{where}: [schedule]: {exc}") from None
    steps = _steps_from(spec.get("steps", source.get("steps")), where)
    tokenizer = _tokenizer_source(spec.get("tokenizer"), base, where)
    return SuiteSpec(name=str(spec["name"]), members=members, steps=steps,
                     tokens_per_step=int(spec["tokens_per_step"]), schedule=schedule,
                     hub=hub, revision=str(source.get("revision", "step{step}")), local=local,
                     tokenizer=tokenizer, context_length=spec.get("context_length"),
                     notes=dict(spec.get("discrepancies", {})))


def load_suite(name_or_path) -> SuiteSpec:
    """A shipped suite by name ('pythia') or a user's spec file (.toml or .json)."""
    text = str(name_or_path)
    path = data_path("suites", f"{text}.toml") if text in SHIPPED else Path(text)
    if not path.exists():
        raise InputError(f"{text}: no such suite (shipped: {', '.join(SHIPPED)}) and no such spec file"
                         f"{suggestion(text, SHIPPED, cutoff=0.75, otherwise='')}")
    if not path.is_file():
        raise InputError(f"{text}: a folder, not a suite spec file (.toml or .json) nor a shipped "
                         f"suite ({', '.join(SHIPPED)})")
    try:
        if path.suffix.lower() == ".json":
            spec = json.loads(path.read_text())
        else:
            spec = tomllib.loads(path.read_text())
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: cannot read suite spec: not UTF-8 text (byte offset {exc.start}); "
                         "a suite spec is a TOML or JSON text file") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot read suite spec: {exc.strerror or exc}") from None
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"{path}: cannot parse suite spec: {exc}") from None
    suite = suite_from_dict(spec, base=path.parent, where=str(path))
    if not suite.steps and suite.local:
        suite = replace(suite, steps=discover_local_steps(suite), steps_on_disk=True)
    return suite


def suite_facts(suite: SuiteSpec, model: str) -> str:
    """What a row's tokens and lr columns are computed from (tokens per step, the member's LR
    schedule): a spec corrected between runs would give old and new rows of one table other
    tokens or LR, so a sweep folder records it."""
    from dataclasses import asdict

    schedule = asdict(suite.schedule_for(suite.member(model)))
    return f"tokens_per_step {suite.tokens_per_step}, schedule " + ", ".join(f"{k} {v}" for k, v in schedule.items())


def schedule_fact(model: str) -> str:
    """The name a sweep folder records a member's `suite_facts` under."""
    return f"the tokens and LR of {model} in --suite"


def schedule_facts(suite: SuiteSpec, models) -> dict[str, str]:
    """{schedule_fact(model): suite_facts} for each member in `models` (each once, in order): what
    every measurement of a suite's checkpoints records of it."""
    return {schedule_fact(name): suite_facts(suite, name) for name in dict.fromkeys(models)}


def schedule_fact_models(models) -> dict[str, str]:
    """{schedule_fact(model): model}: the member each recorded schedule fact is about
    (Measurement.of_model), for eval and weights alike."""
    return {schedule_fact(name): name for name in dict.fromkeys(models)}


def _step_folder_regex(leaf: str) -> re.Pattern:
    """The template's checkpoint folder name as a regex, digits in place of {step} (or {step:05d})."""
    parts = re.split(r"\{step(?::[^}]*)?\}", leaf)
    return re.compile("^" + r"(\d+)".join(re.escape(part) for part in parts) + "$")


def local_step_folders(suite: SuiteSpec, member: str) -> dict[int, str]:
    """One member's checkpoint folders on disk, by step: every folder named as the template's with
    digits for {step}, so a zero-padded step00100 is step 100 (and is where step 100 loads from)."""
    pattern = suite.local.replace("{model}", member)
    parent, leaf = Path(pattern).parent, Path(pattern).name
    if "{step" not in leaf or not parent.is_dir():
        return {}
    regex, found = _step_folder_regex(leaf), {}
    for child in sorted(parent.iterdir()):
        hit = regex.match(child.name)
        if hit:
            found.setdefault(int(hit.group(1)), str(child))
    return found


def unnumbered_step_folders(suite: SuiteSpec, member: str) -> list[str]:
    """One member's checkpoint folders (config.json or weights inside) whose name does not give a
    step by the template's (`final`, `stepfoo` beside step{step}): no step is found for them."""
    pattern = suite.local.replace("{model}", member)
    parent, leaf = Path(pattern).parent, Path(pattern).name
    if "{step" not in leaf or not parent.is_dir():
        return []
    regex = _step_folder_regex(leaf)
    return [str(child) for child in sorted(parent.iterdir())
            if child.is_dir() and not regex.match(child.name) and _holds_checkpoint(child)]


def _holds_checkpoint(folder: Path) -> bool:
    """Whether a folder looks like a saved checkpoint: a config.json or weight files in it."""
    return (folder / "config.json").is_file() or any(folder.glob("*.safetensors")) or any(folder.glob("*.bin"))


def discover_local_steps(suite: SuiteSpec) -> tuple[int, ...]:
    """Steps found on disk for a local suite (folders matching its template), across members."""
    steps = set()
    for m in suite.members:
        steps.update(local_step_folders(suite, m.name))
    return tuple(sorted(steps))


def log_spaced(steps) -> list[int]:
    """Step 0, then the available step nearest (in log) to each power of two, plus the last."""
    steps = sorted(set(int(s) for s in steps))
    if not steps:
        return []
    positive = np.array([s for s in steps if s > 0], dtype=float)
    picked = {steps[0], steps[-1]}
    if positive.size:
        k = 0
        while 2 ** k <= positive.max() * 1.5:
            near = positive[np.argmin(np.abs(np.log(positive) - k * math.log(2)))]
            picked.add(int(near))
            k += 1
    return sorted(picked)


def step_range(text: str) -> range:
    """The steps of a --steps range 'START:STOP:EVERY' (or 'START:STOP'), STOP included."""
    parts = str(text).strip().split(":")
    try:
        a, b, s = (int(p) for p in parts) if len(parts) == 3 else (*(int(p) for p in parts), 1)
    except ValueError:
        raise InputError(f"--steps '{text}': a range is START:STOP:EVERY of integers") from None
    if s <= 0 or b < a:
        raise InputError(f"--steps '{text}': need STOP >= START and EVERY > 0")
    return range(a, b + 1, s)


def select_steps(selector: str, available) -> list[int]:
    """Steps chosen by 'all', 'log', 'A:B:S' (inclusive range) or 'N,N,...' from `available`."""
    available = sorted(set(int(s) for s in available))
    text = str(selector).strip()
    if text == "all":
        chosen = available
    elif text == "log":
        chosen = log_spaced(available)
    elif ":" in text:
        wanted = set(step_range(text))
        chosen = sorted(wanted & set(available)) if available else sorted(wanted)
    else:
        try:
            chosen = sorted({int(p) for p in text.split(",") if p.strip()})
        except ValueError:
            raise InputError(f"--steps '{text}': use all, log, START:STOP:EVERY or a list like 0,1000") from None
        missing = [s for s in chosen if available and s not in available]
        if missing:
            raise InputError(f"--steps: step {missing[0]} is not a checkpoint of this suite")
    if not chosen:
        raise InputError(f"--steps '{text}': selects no checkpoint of this suite")
    return chosen

"""Which checkpoints a sweep measures: a suite's (model, step) grid, local folders, and shards.

`sweep_grid` is the one place both `scalefit eval` and `scalefit weights` turn their --suite,
--models, --steps, --checkpoint and --shard options into the list of checkpoints to measure.
"""
from __future__ import annotations

import re
from pathlib import Path

from scalefit.errors import InputError, warn
from scalefit.sweep.checkpoints import CheckpointInfo, checkpoint_grid
from scalefit.sweep.suites import (SuiteSpec, load_suite, local_step_folders, log_spaced, select_steps, step_range,
                                   unnumbered_step_folders)


def parse_shard(text: str | None) -> tuple[int, int]:
    """'K/N' (K from 0 to N-1) as (K, N); None means the whole grid (0, 1)."""
    if not text:
        return 0, 1
    hit = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", str(text))
    if not hit or int(hit.group(2)) < 1 or int(hit.group(1)) >= int(hit.group(2)):
        raise InputError(f"--shard '{text}': use K/N with 0 <= K < N, e.g. 0/4")
    return int(hit.group(1)), int(hit.group(2))


def shard_grid(grid: list, shard: tuple[int, int]) -> list:
    """Every N-th checkpoint starting at K: shards are disjoint and together cover the grid."""
    k, n = shard
    return grid[k::n]


def local_checkpoint(path: str) -> CheckpointInfo:
    """A CheckpointInfo for a folder: model = parent folder and step from 'step<N>', else the folder
    at step 0 (with a warning: a final model's folder would read as its initial weights)."""
    p = Path(path)
    if not p.exists():
        raise InputError(f"--checkpoint {path}: no such folder or file")
    if p.is_file() and p.suffix != ".safetensors":
        raise InputError(f"--checkpoint {path}: not a checkpoint; give its folder (config.json and "
                         "*.safetensors) or a .safetensors file")
    if p.is_dir() and not any(p.glob("*.safetensors")) and not any(p.glob("*.bin")):
        raise InputError(f"--checkpoint {path}: no weights in this folder; a checkpoint folder holds "
                         "*.safetensors beside config.json (pickle *.bin weights are read by "
                         "`scalefit eval --weights --allow-bin` only)")
    folder = p if p.is_dir() else p.parent
    hit = re.fullmatch(r"(?:step|checkpoint-?)(\d+)", folder.name)
    model, step = (folder.parent.name, int(hit.group(1))) if hit else (folder.name, 0)
    if not hit:  # a final model's folder read as step 0 reads as the initial weights in every table
        warn(f"--checkpoint {path}: the folder is not named step<N> or checkpoint-<N>, so it is "
             f"recorded as model '{model}' at step 0; to record its step, put it in a folder "
             f"{model}/step<N>")
    return CheckpointInfo(model=model, step=step, tokens=None, lr=None, path=str(p))


def member_steps(spec: SuiteSpec, name: str, selector: str, chosen: list[int]) -> tuple[list[int], str | None]:
    """(the steps member `name` is measured at, what to tell of the ones it lacks or None): the
    selection, or, where the steps were found on disk (none in the spec), the selected ones it has
    a folder for ('log' picked among its own).

    Members of a local suite often keep different checkpoints (runs of different lengths); each
    measured at every other member's steps recorded a failed checkpoint per missing folder."""
    if not spec.steps_on_disk:
        return chosen, None
    own = local_step_folders(spec, name)
    if not own:
        return [], f"suite '{spec.name}': no checkpoint folder of '{name}' on disk ({spec.local}); it is left out"
    if str(selector).strip() == "log":
        return log_spaced(own), None
    kept = [s for s in chosen if s in own]
    missing = [s for s in chosen if s not in own]
    if missing and str(selector).strip() != "all" and ":" not in str(selector):
        return kept, (f"--steps {selector}: '{name}' has no folder for step {', '.join(map(str, missing))}; "
                      "left out for it")
    return kept, None


def sweep_grid(suite: str | None = None, models=None, steps: str = "all", shard: str | None = None,
               local=()) -> tuple[SuiteSpec | None, list[CheckpointInfo], tuple[int, int]]:
    """(suite, this shard's checkpoints, shard): the suite's (model, step) grid, then local folders.

    Checks everything before anything loads: unknown members, steps that are no checkpoint of
    the suite, a malformed shard, two checkpoints with the same (model, step).
    """
    part = parse_shard(shard)
    spec, grid = None, []
    if suite:
        spec = load_suite(suite)
        # each member once, however often (or under which alias) --models names it
        names = list(dict.fromkeys(spec.member(name).name for name in models or ())) or \
            [m.name for m in spec.members]
        if not spec.steps:
            raise InputError(f"suite '{spec.name}': no checkpoint steps (none in the spec, none found on disk)")
        chosen = select_steps(steps, spec.steps)
        picked = {name: member_steps(spec, name, steps, chosen) for name in names}
        if not any(kept for kept, _ in picked.values()):
            have = sorted({s for name in names for s in local_step_folders(spec, name)})
            found = ", ".join(map(str, have)) if len(have) <= 6 else f"{len(have)} from {have[0]} to {have[-1]}"
            raise InputError(f"--steps '{steps}': selects no checkpoint on disk of {', '.join(names)} "
                             f"(steps found: {found or 'none'})")
        for name, (kept, told) in picked.items():
            if told:
                warn(told)
            grid += checkpoint_grid(spec, [name], kept)
        _say_unnumbered(spec, names)
        _say_range_measures(steps, {name: kept for name, (kept, _) in picked.items()})
    elif models:
        raise InputError("--models needs --suite")
    elif str(steps) != "all":  # a --checkpoint folder is one step, named by its folder
        raise InputError(f"--steps {steps}: needs --suite (each --checkpoint folder is one checkpoint; "
                         "name the folders to measure instead)")
    grid += [local_checkpoint(p) for p in local]
    if not grid:
        raise InputError("nothing to measure: give --suite (with --models/--steps) or --checkpoint PATH")
    _one_folder_each(grid)
    mine = shard_grid(grid, part)
    if not mine:  # more shards than checkpoints: a SLURM array sized for another grid, say
        warn(f"--shard {part[0]}/{part[1]}: the grid has {len(grid)} checkpoint{'s' * (len(grid) != 1)}, "
             f"so shard {part[0]} holds none and nothing is measured (shards 0 to {len(grid) - 1} of "
             f"{part[1]} hold one each)")
    return spec, mine, part


def _steps_text(steps) -> str:
    """Steps as a short list: all of them up to 8, else how many and from which to which."""
    steps = sorted(steps)
    return ", ".join(map(str, steps)) if len(steps) <= 8 else f"{len(steps)} steps from {steps[0]} to {steps[-1]}"


def _say_unnumbered(spec: SuiteSpec, names) -> None:
    """One note naming the checkpoint folders of the measured members that a suite whose steps
    are found on disk leaves out because their name gives no step (`final`, `stepfoo`), as
    `--checkpoint` says of such a folder; they were left out without a word."""
    if not spec.steps_on_disk:
        return
    left = [folder for name in names for folder in unnumbered_step_folders(spec, name)]
    if left:
        template = Path(spec.local).name
        warn(f"suite '{spec.name}': {len(left)} checkpoint folder{'s' * (len(left) != 1)} not named as "
             f"{template} (no step in the name), so not measured: {', '.join(left)}")


def _say_range_measures(selector: str, kept: dict[str, list[int]]) -> None:
    """A --steps range that covers steps with no checkpoint measures the ones it has: say which,
    per member where they differ (a list naming a missing step is refused instead)."""
    text = str(selector).strip()
    if ":" not in text:
        return
    wanted = set(step_range(text))
    measured = set().union(*map(set, kept.values()))
    if not wanted - measured:
        return
    own = {tuple(steps) for steps in kept.values()}
    which = (f"step{'s' * (len(measured) != 1)} {_steps_text(measured)}" if len(own) == 1 else
             "; ".join(f"{name} at {_steps_text(steps) or 'none'}" for name, steps in kept.items()))
    warn(f"--steps {text}: {len(wanted - measured)} of its {len(wanted)} steps are no checkpoint of the "
         f"suite; measuring the {len(measured)} that are: {which}")


def _one_folder_each(grid) -> None:
    """Refuse two checkpoints whose results would share a folder (CheckpointInfo.key): two
    --checkpoint folders of one name and step, or models such as 'org/m' and 'org__m' (a model's
    '/' is stored as '__'); their parts would resume or overwrite each other."""
    seen = {}
    for info in grid:
        other = seen.setdefault(info.key, info)
        if other is not info:
            raise InputError(f"two checkpoints would share the result folder {info.key}: {other.model} step "
                             f"{other.step} ({other.location}) and {info.model} step {info.step} "
                             f"({info.location}); rename one (a model's '/' is stored as '__')")

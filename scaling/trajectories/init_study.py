"""The init study: does a model that starts from a learned weight law train slower, at the same
speed, or faster than one that starts from Pythia's init, early and late, with and without warmup?

Reads a checkpoint table (long rows, as `scalefit suite sweep --tables` writes for the [[init]]
part of a spec) whose runs carry their condition: `init` (the weightstats.reinit mode),
`init_seed` (the init draw; the data order is the same for every run, so seeds measure the
init's own variance) and `warmup_steps` (0: no warmup). A table without `init`/`init_seed` may
name its runs `{size}-init-{mode}[-nowarmup]-s{seed}`, as the trainer does. A condition is
(size, init, warmup or not); the control is `pythia` with the same size and warmup.

Per condition: loss curves (mean and seed range), the steps to three loss thresholds (50%, 80%
and 95% of the control's drop from step 0 to its last step, unless given) with 95% t intervals
over seeds, the final loss with its interval, and each difference to the control with Welch's t
test (a single run, such as `source`, is tested against the control's seeds as one new draw)
and an exact permutation test over seeds. Early = steps to the first threshold; late = the final
loss. Weight statistics (default excess kurtosis, per group): where each condition's law starts,
and whether it keeps its shape, drifts back toward the Gaussian, ends where the Pythia-init run
ends, leaves the Gaussian it started at, or goes elsewhere, or reads 'within noise' where the 95% t interval
over seeds of the mean change holds 0 (one seed: no test, the verdict labelled descriptive) (``init_shapes.shape_table`` says what
each means). A threshold the seeds of two conditions reach in different shares: the shares are tested
(Boschloo's exact test, one test at 5%) before a verdict (``init_contrasts.outcome``). Every sentence of the verdict is built from these numbers.

What the inits are (``run_origin``): which checkpoint the learned laws come from, what that run was
trained on and for how long, whether the embeddings follow the mode, and which data order the runs
read, from the table's init_source column or the runs table (runs.csv) and provenance.json that
`suite ship` writes beside it. The shape contrasts test each init that carries the source's law
(family, empirical, permuted) against gauss-matched, the same scale without the shape; ``tails``
flags an init whose start lies far from the source's on the weight statistic.

This module reads the runs, their conditions and loss curves, and runs the study; the statistics
are in init_contrasts, the weight-law verdicts in init_shapes, the sentences in init_study_text.
"""
from __future__ import annotations

import json
import math
import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from scalefit.errors import InputError, warn
from scalefit.schema import KEYS, checked_steps, distinct_rows, numeric_values, split_rows
from scalefit.scaling.trajectories.init_contrasts import (CONTROL, FAR_FACTOR, JUDGED_SHARE, SHAPE_CONTROL,
                                                        UPPER_BOUND, checked_thresholds,
                                                        per_run, shape_contrasts, summarize, threshold_table,
                                                        warmup_effects)
from scalefit.scaling.trajectories.init_shapes import shape_table
from scalefit.scaling.trajectories.init_study_text import nothing_to_compare, origin_sentences, verdict_sentences
from scalefit.scaling.trajectories.table import positive_losses
from scalefit.tables import as_table, read_table

MODEL_ID = re.compile(r"^(?P<size>.+?)-init-(?P<init>[a-z][a-z-]*?)(?P<nowarmup>-nowarmup)?-s(?P<seed>\d+)$")


@dataclass
class InitStudy:
    """Every table of the study and the sentences that state what it supports."""

    dataset: str
    thresholds: pd.DataFrame  # size, threshold (1..3), loss, drop_fraction
    curves: pd.DataFrame  # size, init, warmup, step, mean, lo, hi, n
    runs: pd.DataFrame  # one row per run: condition, seed, steps_to_1..3, final_loss
    summary: pd.DataFrame  # per condition and measure: mean, ci_lo, ci_hi, n, n_reached
    contrasts: pd.DataFrame  # per condition and measure vs its control: diff, ci, p values, outcome
    shapes: pd.DataFrame  # per condition and group: stat at start / end, control end, verdict
    warmup_effect: pd.DataFrame  # per init with both warmups: cost of no warmup vs pythia's
    sentences: list[str] = field(default_factory=list)
    stat: str = "excess_kurtosis"
    # each init but pythia/source/gauss-matched against gauss-matched (init_contrasts.shape_contrasts)
    shape_contrasts: pd.DataFrame = field(default_factory=pd.DataFrame)
    tails: pd.DataFrame = field(default_factory=pd.DataFrame)  # per init and group: start vs the source's
    origin: dict = field(default_factory=dict)  # where the learned laws come from, the data order (run_origin)
    head: list[str] = field(default_factory=list)  # sentences' first lines: what the inits are (origin_sentences)

    def __repr__(self) -> str:
        """A notebook's view: the runs and the verdicts (the sentences saying what the data
        support); ``print()`` gives every sentence, as `scalefit init-study` prints them."""
        lines = [f"InitStudy of {len(self.runs)} runs ({self.stat}, loss on {self.dataset})"]
        heading = None
        for sentence in self.sentences:  # each size and warmup's heading, then its verdicts
            if sentence.startswith("## "):
                heading = f"  {sentence[3:]}:"  # shown once a verdict stands under it
            elif "the data support" in sentence:
                lines += [heading] if heading else []
                heading = None
                lines.append(f"    {sentence}")
        return "\n".join(lines + ["  print() for every sentence; .runs, .summary, .contrasts, "
                                   ".shape_contrasts, .shapes, .tails, .warmup_effect, .origin, .to_dict()"])

    def __str__(self) -> str:
        return "\n".join(self.sentences)

    def to_dict(self) -> dict:
        frames = ("thresholds", "summary", "contrasts", "shape_contrasts", "shapes", "tails", "warmup_effect",
                  "runs")
        return {"dataset": self.dataset, "stat": self.stat, "units": UNITS, "origin": self.origin,
                "sentences": self.sentences, **{name: getattr(self, name).to_dict("records") for name in frames}}


# What the tables' numbers are in (the JSON's "units"; the text and report.md say it in words).
UNITS = {"loss": "nats/token", "final_loss": "nats/token", "steps_to_N": "optimizer steps",
         "mean, diff, ci_lo, ci_hi, cost, control_cost": "the measure's units: nats/token for final_loss, "
         "optimizer steps for steps_to_N; ci_lo and ci_hi: the 95% interval (t over seeds)",
         "relative": "fraction (0.69: 69% more steps than pythia)",
         "drop_fraction": "fraction of pythia's loss drop from step 0",
         "p_reach": "p-value of Boschloo's exact test (two-sided) of equal shares of seeds reaching the "
                    "threshold (n_reached of n against n_control_reached of n_control); the outcome reads the "
                    "shares where it is < 0.05 and is undetermined otherwise",
         "start, end, control_end, change, seed_sd, change_lo, change_hi": "the weight statistic's own units "
                    "(1/t_nu for t_nu); change: the mean over n_seeds seeds of each seed's change from start to end; "
                    "seed_sd: their sd; change_lo, change_hi: the mean change's 95% t interval (t_{n-1,0.975} * "
                    "seed_sd / sqrt(n_seeds)); where it holds 0 the verdict is 'within noise' (a two-sided t test "
                    "at the 5% level); one seed: no interval, and the verdict is labelled descriptive"}


# ---------------------------------------------------------------- the runs and their conditions


def run_conditions(table: pd.DataFrame, source: str = "table") -> pd.DataFrame:
    """One row per model: size, init, init_seed, warmup_steps, warmup ('warmup' / 'no warmup')."""
    missing = [c for c in ("model", "step", "value") if c not in table]
    if missing:
        raise InputError(f"{source}: column '{missing[0]}' is missing (an init-study table needs "
                         "model, step, value and the loss rows' metric and dataset)")
    models = table.drop_duplicates("model").set_index("model")
    rows = []
    for model, row in models.iterrows():
        match = MODEL_ID.match(str(model))
        init = row["init"] if "init" in models and pd.notna(row.get("init")) else (
            match["init"] if match else None)
        seed = row["init_seed"] if "init_seed" in models and pd.notna(row.get("init_seed")) else (
            int(match["seed"]) if match else None)
        if init is None or seed is None:
            continue  # not a run of the init study
        if "warmup_steps" in models and pd.notna(row.get("warmup_steps")):
            warm = int(row["warmup_steps"])
        elif match:
            warm = 0 if match["nowarmup"] else -1  # -1: some warmup, length unknown
        else:
            raise InputError(f"{source}: model {model}: no warmup_steps")
        size = row["size"] if "size" in models and pd.notna(row.get("size")) else (
            match["size"] if match else str(model))
        rows.append({"model": str(model), "size": str(size), "init": str(init), "init_seed": int(seed),
                     "warmup_steps": warm, "warmup": "warmup" if warm != 0 else "no warmup"})
    if not rows:
        raise InputError(f"{source}: no init-study runs (columns init, init_seed, warmup_steps, or "
                         "models named SIZE-init-MODE[-nowarmup]-sSEED); train and sweep the [[init]] "
                         "part of data/suites/init_study.toml")
    return pd.DataFrame(rows)


def any_control_pair(conditions: pd.DataFrame) -> bool:
    """Whether some run of another init has a control run (the CONTROL init) of its size and
    warmup: without one the study has no contrast, whatever the loss curves hold."""
    control = conditions.loc[conditions["init"] == CONTROL, ["size", "warmup"]].drop_duplicates()
    others = conditions.loc[conditions["init"] != CONTROL, ["size", "warmup"]]
    return not others.merge(control, on=["size", "warmup"]).empty


def loss_curves(table: pd.DataFrame, conditions: pd.DataFrame, dataset: str | None = None,
                source: str = "table") -> tuple[pd.DataFrame, str]:
    """(model, step, loss) of every init run on one dataset (default: the training distribution's
    evaluation set, rows with is_train), joined with the run's condition."""
    _, evals = split_rows(table)
    if "metric" not in evals or "dataset" not in evals:
        raise InputError(f"{source}: columns 'metric' and 'dataset' are needed for the loss rows "
                         f"(column '{'metric' if 'metric' not in evals else 'dataset'}' is missing)")
    evals = evals[(evals["metric"] == "loss") & evals["model"].isin(conditions["model"])]
    if evals.empty:
        raise InputError(f"{source}: no loss rows (metric 'loss') for the init-study runs")
    names = sorted(evals["dataset"].dropna().astype(str).unique()) if "dataset" in evals else []
    if dataset is None:
        train = evals[evals["is_train"] == True] if "is_train" in evals else evals.iloc[:0]  # noqa: E712
        if len(train):
            dataset = str(train["dataset"].iloc[0])
        elif len(names) == 1:
            dataset = names[0]
        else:
            raise InputError(f"{source}: which dataset's loss? pass --dataset (one of {', '.join(names)})")
    if dataset not in names:
        raise InputError(f"{source}: column 'dataset' has no '{dataset}' (known: {', '.join(names)})")
    rows = evals[evals["dataset"].astype(str) == dataset]
    rows = numeric_values(rows, source, f"{dataset} loss")
    positive_losses(rows, source, "value")  # a loss of -1 read as far below pythia's: 'faster'
    rows = distinct_rows(rows, KEYS, source, f"{dataset} loss")
    lossless = sorted(set(conditions["model"]) - set(rows["model"]))
    if lossless:  # in the table by other rows (weights): its seed would be gone from every interval
        warn(f"{source}: run(s) {', '.join(lossless)} have no {dataset} loss rows and are left out of "
             "the study")
    missing = rows[rows["value"].isna()]
    if len(missing):  # a checkpoint not measured (or diverged): left out of its curve, said so
        where_ = "; ".join(f"{m}: steps {', '.join(str(int(s)) for s in sorted(g['step']))}"
                           for m, g in missing.groupby("model", sort=True))
        warn(f"{source}: {len(missing)} checkpoint(s) have no finite {dataset} loss and are left out of "
             f"their loss curves ({where_})")
    rows = rows[rows["value"].notna()]
    if rows.empty:
        raise InputError(f"{source}: column 'value' has no finite {dataset} loss for the init-study runs")
    out = rows[["model", "step", "value"]].rename(columns={"value": "loss"}).merge(conditions, on="model")
    return out.sort_values(["model", "step"]).reset_index(drop=True), dataset


def curve_table(losses: pd.DataFrame) -> pd.DataFrame:
    """Mean and seed range (min, max) of the loss per condition and step."""
    return (losses.groupby(["size", "init", "warmup", "step"], as_index=False)["loss"]
            .agg(mean="mean", lo="min", hi="max", n="count"))


# ---------------------------------------------------------------- what the inits are


def records_beside(path) -> tuple[pd.DataFrame | None, dict | None]:
    """(runs.csv, provenance.json) in the folder of a checkpoint table, as `suite ship` writes them
    (None for each one absent or unreadable: the study then says what it does not know)."""
    folder = Path(path).expanduser().parent
    runs = provenance = None
    if (folder / "runs.csv").is_file():
        try:
            runs = read_table(folder / "runs.csv")
        except (InputError, OSError, ValueError) as exc:
            warn(f"{folder / 'runs.csv'}: not read ({exc}); the study cannot say where the learned laws come from")
    if (folder / "provenance.json").is_file():
        try:
            provenance = json.loads((folder / "provenance.json").read_text())
        except (OSError, ValueError) as exc:
            warn(f"{folder / 'provenance.json'}: not read ({exc})")
    return runs, provenance if isinstance(provenance, dict) else None


def _spec_embeddings(provenance: dict | None) -> dict:
    """size -> the [[init]] block's embeddings setting ("same": they follow the mode; "pythia":
    Pythia's init), from the spec text provenance.json holds; the trainer's default is "same"."""
    try:
        spec = tomllib.loads(str((provenance or {}).get("spec", "")))
    except tomllib.TOMLDecodeError:
        return {}
    blocks = spec.get("init", [])
    out = {}
    for block in [blocks] if isinstance(blocks, dict) else blocks if isinstance(blocks, list) else []:
        sizes = block.get("sizes", []) if isinstance(block, dict) else []
        if isinstance(sizes, list):
            for size in sizes:
                out[str(size)] = str(block.get("embeddings", "same"))  # trainer.spec: default "same"
    return out


def _number(value) -> float:
    try:
        value = float(value)
    except (TypeError, ValueError):
        return math.nan
    return value


def run_origin(table: pd.DataFrame, runs_done: pd.DataFrame, runs: pd.DataFrame | None = None,
               provenance: dict | None = None) -> dict:
    """What the study's inits are: per size, the checkpoint every init but pythia starts from
    (init_source: the table's column, else the runs table's row of the run), the run that wrote it
    (the runs table's run whose id the path holds: its distribution, steps and compute, and how
    much compute it adds to a run that continues it), the embeddings setting (the spec in
    provenance.json), and the data-order seeds of the study's runs (the runs table's seed)."""
    models = table.drop_duplicates("model").set_index("model")
    by_run = None
    if runs is not None and "run" in runs and "run" in models:
        by_run = runs.drop_duplicates("run").set_index(runs.drop_duplicates("run")["run"].astype(str))

    def fact(model, column, table_first: bool = True):
        if table_first and column in models and pd.notna(models.at[model, column]) and str(models.at[model, column]):
            return models.at[model, column]
        if by_run is not None and str(models.at[model, "run"]) in by_run.index and column in by_run:
            value = by_run.at[str(models.at[model, "run"]), column]
            return value if pd.notna(value) and str(value) else None
        return None

    embeddings = _spec_embeddings(provenance)
    sources = []
    learned = runs_done[runs_done["init"] != CONTROL]
    for (size, path), group in learned.assign(
            init_source=[fact(m, "init_source") for m in learned["model"]]).fillna({"init_source": ""}).groupby(
            ["size", "init_source"], sort=True):
        entry = {"size": size, "init_source": str(path) or None, "inits": sorted(set(group["init"])),
                 "source_run": None, "source_distribution": None, "source_steps": math.nan,
                 "checkpoint_step": math.nan, "prior_compute_ratio": math.nan,
                 "data_check": fact(group["model"].iloc[0], "init_data_check"),
                 "embeddings": embeddings.get(str(size))}
        step = re.search(r"step(\d+)/?$", str(path))
        entry["checkpoint_step"] = float(step[1]) if step else math.nan
        if path and runs is not None and "run" in runs:
            wrote = [r for _, r in runs.iterrows() if f"/{r['run']}/" in f"/{path}/"]
            if wrote:
                src = max(wrote, key=lambda r: len(str(r["run"])))  # the longest id the path holds
                entry.update(source_run=str(src["run"]), source_distribution=src.get("distribution"),
                             source_steps=_number(src.get("steps")))
                # the run's own compute: the runs table's (a checkpoint row's flops is its step's)
                done = [_number(fact(m, "flops", table_first=False)) for m in group["model"]]
                done = float(np.median(done)) if done and all(np.isfinite(done)) else math.nan
                prior = _number(src.get("flops"))
                if not (np.isfinite(prior) and np.isfinite(done) and done > 0):  # compute from steps instead
                    prior, done = _number(src.get("steps")), float(group["final_step"].median())
                entry["prior_compute_ratio"] = (prior + done) / done if done > 0 else math.nan
        sources.append(entry)
    seeds = [fact(m, "seed") for m in runs_done["model"]]
    data_seeds = sorted({int(_number(v)) for v in seeds if np.isfinite(_number(v))})
    return {"sources": sources, "data_seeds": data_seeds,
            "data_seed_recorded": len(data_seeds) > 0 and all(np.isfinite(_number(v)) for v in seeds),
            "init_seeds": sorted({int(v) for v in runs_done["init_seed"]})}


# ---------------------------------------------------------------- the start against the source's law

TAILS_COLUMNS = ["size", "init", "warmup", "group", "start", "reference", "reference_start", "gaussian", "ratio",
                 "far"]


def tails(shapes: pd.DataFrame) -> pd.DataFrame:
    """Does each init start with the source's law? Per size and group, the start of the `source`
    run (a copy of the source's weights; else `permuted`, its values shuffled) is the reference R;
    an init's start S (mean over seeds at the first checkpoint) is far from it where
    (S - G) / (R - G) lies outside [1/FAR_FACTOR, FAR_FACTOR] (G: the statistic's Gaussian value),
    judged in the groups where |R - G| is at least JUDGED_SHARE of its largest over the groups
    (in a near-Gaussian group the ratio is noise). pythia and gauss-matched start Gaussian by
    design and are not judged."""
    rows = []
    if shapes.empty:
        return pd.DataFrame(columns=TAILS_COLUMNS)
    for size, cell in shapes.groupby("size", sort=False):
        reference = next((i for i in (UPPER_BOUND, "permuted") if (cell["init"] == i).any()), None)
        if reference is None:
            continue
        ref = cell[cell["init"] == reference].groupby("group")[["start", "gaussian"]].mean()
        dist = (ref["start"] - ref["gaussian"]).abs()
        if not np.isfinite(dist).any() or not dist.max() > 0:
            continue
        judged = dist[dist >= JUDGED_SHARE * dist.max()].index
        for _, r in cell[cell["group"].isin(judged)].iterrows():
            if r["init"] in (CONTROL, SHAPE_CONTROL, reference):
                continue
            g, rs = ref.at[r["group"], "gaussian"], ref.at[r["group"], "start"]
            ratio = (r["start"] - g) / (rs - g)
            rows.append({"size": size, "init": r["init"], "warmup": r["warmup"], "group": r["group"],
                         "start": r["start"], "reference": reference, "reference_start": rs, "gaussian": g,
                         "ratio": ratio,  # a missing start (NaN ratio) is not far: nothing says so
                         "far": bool(np.isfinite(ratio) and not 1 / FAR_FACTOR <= ratio <= FAR_FACTOR)})
    return pd.DataFrame(rows, columns=TAILS_COLUMNS)


# ---------------------------------------------------------------- the study


def init_study(table: pd.DataFrame, *, dataset: str | None = None, thresholds=None,
               stat: str = "excess_kurtosis", source: str = "table", runs=None,
               provenance: dict | None = None) -> InitStudy:
    """The whole study of one checkpoint table (see the module docstring); ``thresholds``: loss
    thresholds (``checked_thresholds``), else three from the control's drop. ``table``: a
    DataFrame, a path, row dicts or a dict of columns (``tables.as_table``). ``runs`` (a run
    table, one row per run: run, seed, init_source, init_data_check, distribution, steps, flops)
    and ``provenance`` (provenance.json's dict) say what the inits are; by default those beside a
    table given as a path. InputError where the table gives nothing to compare (only pythia runs,
    or no pythia run of another init's size and warmup)."""
    thresholds = checked_thresholds(thresholds)
    if isinstance(table, (str, os.PathLike)) and runs is None and provenance is None:
        runs, provenance = records_beside(table)
    if runs is not None:
        runs, _ = as_table(runs, "runs")
    table, source = as_table(table, source)
    table = checked_steps(table, source)
    conditions = run_conditions(table, source)
    if not any_control_pair(conditions):  # said before the per-run warnings of the curves
        raise InputError(f"{source}: {nothing_to_compare(conditions)}")
    losses, dataset = loss_curves(table, conditions, dataset, source)
    thr = threshold_table(losses, thresholds)
    runs_done = per_run(losses, thr)
    summary, contrasts = summarize(runs_done)
    if contrasts.empty:
        raise InputError(f"{source}: {nothing_to_compare(runs_done)}")
    shapes = shape_table(table, conditions, stat, source=source)
    study = InitStudy(dataset, thr, curve_table(losses), runs_done, summary, contrasts, shapes,
                      warmup_effects(runs_done), stat=stat, shape_contrasts=shape_contrasts(runs_done),
                      tails=tails(shapes), origin=run_origin(table, runs_done, runs, provenance))
    study.head = origin_sentences(study)
    study.sentences = study.head + verdict_sentences(study)
    return study

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
ends, leaves the Gaussian it started at, or goes elsewhere (``init_shapes.shape_table`` says what
each means). Every sentence of the verdict is built from these numbers.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from scalefit.errors import InputError, warn
from scalefit.schema import KEYS, checked_steps, distinct_rows, numeric_values, split_rows
from scalefit.scaling.trajectories.init_contrasts import (ALPHA, CONTROL, checked_thresholds, per_run,
                                                        summarize, threshold_table, warmup_effects)
from scalefit.scaling.trajectories.init_shapes import shape_table
from scalefit.scaling.trajectories.table import positive_losses
from scalefit.tables import as_table

UPPER_BOUND = "source"  # continued training: the upper bound, not one of the three predictions
OUTCOMES = {"faster": "faster", "same": "same speed or a difference too small to detect",
            "slower": "slower (or won't train)",
            "undetermined": "undetermined (these runs allow no test)"}
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
                                   ".shapes, .warmup_effect, .to_dict()"])

    def __str__(self) -> str:
        return "\n".join(self.sentences)

    def to_dict(self) -> dict:
        frames = ("thresholds", "summary", "contrasts", "shapes", "warmup_effect", "runs")
        return {"dataset": self.dataset, "stat": self.stat, "units": UNITS, "sentences": self.sentences,
                **{name: getattr(self, name).to_dict("records") for name in frames}}


# What the tables' numbers are in (the JSON's "units"; the text and report.md say it in words).
UNITS = {"loss": "nats/token", "final_loss": "nats/token", "steps_to_N": "optimizer steps",
         "mean, diff, ci_lo, ci_hi, cost, control_cost": "the measure's units: nats/token for final_loss, "
         "optimizer steps for steps_to_N; ci_lo and ci_hi: the 95% interval (t over seeds)",
         "relative": "fraction (0.69: 69% more steps than pythia)",
         "drop_fraction": "fraction of pythia's loss drop from step 0"}


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


# ---------------------------------------------------------------- the study


def init_study(table: pd.DataFrame, *, dataset: str | None = None, thresholds=None,
               stat: str = "excess_kurtosis", source: str = "table") -> InitStudy:
    """The whole study of one checkpoint table (see the module docstring); ``thresholds``: loss
    thresholds (``checked_thresholds``), else three from the control's drop. ``table``: a
    DataFrame, a path, row dicts or a dict of columns (``tables.as_table``). InputError where the
    table gives nothing to compare (only pythia runs, or no pythia run of another init's size and
    warmup)."""
    thresholds = checked_thresholds(thresholds)
    table, source = as_table(table, source)
    table = checked_steps(table, source)
    conditions = run_conditions(table, source)
    losses, dataset = loss_curves(table, conditions, dataset, source)
    thr = threshold_table(losses, thresholds)
    runs = per_run(losses, thr)
    summary, contrasts = summarize(runs)
    if contrasts.empty:
        raise InputError(f"{source}: {nothing_to_compare(runs)}")
    study = InitStudy(dataset, thr, curve_table(losses), runs, summary, contrasts,
                      shape_table(table, conditions, stat, source=source), warmup_effects(runs), stat=stat)
    study.sentences = sentences(study)
    return study


# ---------------------------------------------------------------- what the numbers say


def _fmt_steps(x) -> str:
    return "never" if not np.isfinite(x) else f"{x:.0f}"


def _interval(lo, hi, fmt) -> str:
    return "" if not (np.isfinite(lo) and np.isfinite(hi)) else f" [{fmt(lo)}, {fmt(hi)}]"


def _p(row) -> str:
    if not np.isfinite(row["p"]):
        return "no test (one run a side)"
    return f"p = {row['p']:.2g} ({row['test']})"


def contrast_sentence(row, summary: pd.DataFrame, thresholds: pd.DataFrame) -> str:
    """One contrast in words: the two means with intervals, the difference, the test, the outcome."""
    key = (summary["size"] == row["size"]) & (summary["warmup"] == row["warmup"]) & (
        summary["measure"] == row["measure"])
    mine = summary[key & (summary["init"] == row["init"])].iloc[0]
    ctrl = summary[key & (summary["init"] == CONTROL)].iloc[0]
    if row["measure"] == "final_loss":
        fmt = "{:.3f}".format
        what = "final loss"
        diff = f"{row['diff']:+.3f}{_interval(row['ci_lo'], row['ci_hi'], '{:+.3f}'.format)}"
    else:
        k = int(row["measure"].rsplit("_", 1)[1])
        thr = thresholds[(thresholds["size"] == row["size"]) & (thresholds["threshold"] == k)].iloc[0]
        frac = "" if not np.isfinite(thr["drop_fraction"]) else \
            f", {100 * thr['drop_fraction']:.0f}% of {CONTROL}'s drop"
        fmt = _fmt_steps
        what = f"steps to loss {thr['loss']:.3f}{frac}"
        rel = f", {100 * row['relative']:+.0f}%" if np.isfinite(row["relative"]) else ""
        diff = f"{row['diff']:+.0f} steps{_interval(row['ci_lo'], row['ci_hi'], '{:+.0f}'.format)}{rel}"
    reached = "" if row["measure"] == "final_loss" or mine["n_reached"] == mine["n"] else \
        f" ({int(mine['n_reached'])} of {int(mine['n'])} seeds got there)"
    if np.isfinite(row["diff"]):
        tested = f"{diff}, {_p(row)}"
    elif mine["n_reached"] == 0:
        tested = (f"no difference to test: it never got there, {int(ctrl['n_reached'])} of {int(ctrl['n'])} "
                  f"{CONTROL} seeds did")
    else:  # it got there and the control never did: the difference is not a number, not absent
        tested = (f"no difference to test: {CONTROL} never got there, {int(mine['n_reached'])} of "
                  f"{int(mine['n'])} {row['init']} seed{'s' if int(mine['n']) != 1 else ''} did")
    return (f"{row['init']}: {what} {fmt(mine['mean'])}{_interval(mine['ci_lo'], mine['ci_hi'], fmt)}"
            f"{reached} vs {CONTROL} {fmt(ctrl['mean'])}{_interval(ctrl['ci_lo'], ctrl['ci_hi'], fmt)}: "
            f"{tested} -> {OUTCOMES[row['outcome']]}")


def nothing_to_compare(runs: pd.DataFrame) -> str:
    """Why a table gives no contrast, and what the study needs instead."""
    if set(runs["init"]) == {CONTROL}:
        return (f"no condition to compare: every run starts from the {CONTROL} init; the study needs "
                "runs from another init (empirical, family, ...) beside them")
    return (f"no condition to compare with {CONTROL}: no {CONTROL} run has the size and warmup of "
            "another init's runs (each condition is compared with the control of its size and warmup)")


def sentences(study: InitStudy) -> list[str]:
    """The verdict, built from the numbers: per size and warmup, early (steps to the first
    threshold) and late (final loss), each condition against pythia, then which predicted
    outcome the data support, the warmup hypothesis and where the weight laws go."""
    out = []
    c = study.contrasts
    cells = sorted(c.groupby(["size", "warmup"]), key=lambda kv: (str(kv[0][0]), kv[0][1] != "warmup"))
    for (size, warmup), cell in cells:
        runs = study.runs[(study.runs["size"] == size) & (study.runs["warmup"] == warmup)]
        steps = sorted(set(runs["warmup_steps"]))
        label = "no warmup" if warmup == "no warmup" else (
            f"with warmup ({steps[0]} steps)" if len(steps) == 1 and steps[0] > 0 else "with warmup")
        out.append(f"## {size}, {label}")
        for phase, measure in (("early", "steps_to_1"), ("late", "final_loss")):
            rows = cell[cell["measure"] == measure]
            for _, row in rows.iterrows():
                out.append(f"{phase}: " + contrast_sentence(row, study.summary, study.thresholds))
            predicted = rows[rows["init"] != UPPER_BOUND]
            if len(predicted):
                groups = {}
                for _, row in predicted.iterrows():
                    groups.setdefault(OUTCOMES[row["outcome"]], []).append(row["init"])
                untested = groups.pop(OUTCOMES["undetermined"], [])  # not an outcome the data support
                said = ["the data support " + "; ".join(f"{name} ({', '.join(inits)})"
                                                       for name, inits in groups.items())] if groups else []
                said += [f"no outcome can be read for {', '.join(untested)} (these runs allow no test)"] if untested else []
                out.append(f"{phase}, {label}: {'; '.join(said)}.")
    if len(study.warmup_effect):
        out.append("## The warmup hypothesis: what dropping warmup changes, against what it changes for "
                   f"{CONTROL}")
    for _, row in study.warmup_effect.iterrows():
        if row["measure"] == "steps_to_1":
            thr = study.thresholds[(study.thresholds["size"] == row["size"]) & (study.thresholds["threshold"] == 1)]
            what, fmt = f"steps to loss {thr['loss'].iloc[0]:.3f}", "{:+.0f}".format
        else:
            what, fmt = "final loss", "{:+.3f}".format
        head = (f"warmup, {row['size']} {row['init']}: dropping warmup changes its {what} by {fmt(row['cost'])}, "
                f"{CONTROL}'s by {fmt(row['control_cost'])}; difference {fmt(row['diff'])}")
        if not np.isfinite(row["p"]):
            out.append(f"{head}, no test ({int(row['min_seeds'])} seed in a run set; the test needs two "
                       f"or more in each): no reading of {row['init']}'s need for warmup.")
            continue
        verdict = (f"needs warmup less than {CONTROL}" if row["diff"] < 0 else f"needs warmup more than {CONTROL}") \
            if row["p"] < ALPHA else (f"shows no difference from {CONTROL} in its need for warmup detectable at "
                                      f"the {ALPHA:.0%} level (the interval bounds how large one could be)")
        out.append(f"{head}{_interval(row['ci_lo'], row['ci_hi'], fmt)}, p = {row['p']:.2g}: {row['init']} {verdict}.")
    shapes = study.shapes
    if len(shapes):
        axis = "1/t_nu" if study.stat == "t_nu" else study.stat
        out.append(f"## Weight laws: {axis} per group at the first and the last checkpoint (mean over seeds)")
        for (size, init, warmup), cell in shapes.groupby(["size", "init", "warmup"], sort=False):
            parts = [f"{r['group']} {r['start']:.3g} -> {r['end']:.3g} ({r['verdict']})"
                     for _, r in cell.iterrows()]
            out.append(f"weights, {size} {init} {warmup}: {axis} " + "; ".join(parts) + ".")
    return out

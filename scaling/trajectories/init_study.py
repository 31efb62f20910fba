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
ends, leaves the Gaussian it started at, or goes elsewhere (``shape_table`` says what each means).
Every sentence of the verdict is built from these numbers.
"""
from __future__ import annotations

import itertools
import math
import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from scalefit.errors import InputError, known, suggestion, warn
from scalefit.schema import (KEYS, WEIGHT_KEYS, checked_steps, distinct_rows, group_values, numeric_values,
                             refuse_categorical, split_rows)
from scalefit.scaling.flags import named
from scalefit.scaling.trajectories.table import positive_losses
from scalefit.tables import as_table

CONTROL = "pythia"
UPPER_BOUND = "source"  # continued training: the upper bound, not one of the three predictions
DROP_FRACTIONS = (0.5, 0.8, 0.95)  # thresholds: this share of the control's loss drop done
ALPHA = 0.05
MIN_CHECKPOINTS = 3  # a loss curve: the start, the end and one point between
OUTCOMES = {"faster": "faster", "same": "same speed or a difference too small to detect",
            "slower": "slower (or won't train)",
            "undetermined": "undetermined (these runs allow no test)"}
# the matrices a re-init draws from a law (weightstats.reinit: every weight tensor by its
# group), a mixture of experts' too: their shape at the start and the end is what the study reads
MATRIX_GROUPS = ("attn_qkv", "attn_out", "mlp_in", "mlp_out", "expert_in", "expert_out", "router",
                 "embed_in", "embed_out")
# attention matrices a model holds apart (Llama's q/k/v_proj, latent attention's query and joint
# key-value paths): read too, except a model's attn_q/k/v rows that split its own attn_qkv matrix
# (GPT-NeoX's; the fused matrix already counts them)
SEPARATE_ATTENTION = ("attn_q", "attn_k", "attn_v", "attn_kv")
# a statistic's value for Gaussian weights, on the axis the comparison uses (t_nu as 1/nu)
GAUSSIAN_VALUE = {"excess_kurtosis": 0.0, "skew": 0.0, "gennorm_beta": 2.0, "t_nu": 0.0, "quartic_g": 0.0}
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


# ---------------------------------------------------------------- numbers per run and condition


def steps_to_reach(steps, losses, threshold: float) -> float:
    """The first step where the loss is at or below `threshold`, linear between checkpoints; NaN if never."""
    steps, losses = np.asarray(steps, float), np.asarray(losses, float)
    below = np.flatnonzero(losses <= threshold)
    if below.size == 0:
        return math.nan
    i = below[0]
    if i == 0:
        return float(steps[0])
    a, b = losses[i - 1], losses[i]
    return float(steps[i - 1] + (a - threshold) / (a - b) * (steps[i] - steps[i - 1]))


def t_interval(values) -> tuple[float, float, float, int]:
    """(mean, lo, hi, n) with the 95% t interval over seeds; NaN bounds below two values."""
    x = np.asarray([v for v in values if np.isfinite(v)], float)
    if x.size == 0:
        return math.nan, math.nan, math.nan, 0
    mean = float(x.mean())
    if x.size < 2:
        return mean, math.nan, math.nan, 1
    half = stats.t.ppf(0.975, x.size - 1) * x.std(ddof=1) / math.sqrt(x.size)
    return mean, mean - half, mean + half, int(x.size)


def permutation_p(a, b) -> float:
    """Two-sided exact permutation p of the difference of means (all splits of the pooled seeds)."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    pooled = np.concatenate([a, b])
    observed = abs(a.mean() - b.mean())
    count = total = 0
    for idx in itertools.combinations(range(pooled.size), a.size):
        mask = np.zeros(pooled.size, bool)
        mask[list(idx)] = True
        total += 1
        count += abs(pooled[mask].mean() - pooled[~mask].mean()) >= observed - 1e-12
    return count / total


def compare(a, b) -> dict:
    """Difference of means a - b over seeds with its 95% interval and p values.

    Welch's t for two samples; one run against the control's seeds as one new draw from them
    (prediction t, n_b - 1 degrees of freedom); the exact permutation p alongside (with three
    seeds a side it cannot go below 0.1, so the decision rests on the t test).
    """
    a = np.asarray([v for v in a if np.isfinite(v)], float)
    b = np.asarray([v for v in b if np.isfinite(v)], float)
    out = {"diff": math.nan, "ci_lo": math.nan, "ci_hi": math.nan, "p": math.nan, "p_perm": math.nan,
           "test": ""}
    if a.size == 0 or b.size == 0:
        return out
    diff = float(a.mean() - b.mean())
    out["diff"] = diff
    if a.size >= 2 and b.size >= 2:
        va, vb = a.var(ddof=1) / a.size, b.var(ddof=1) / b.size
        se = math.sqrt(va + vb)
        if se == 0:
            return {**out, "p": 0.0 if diff else 1.0, "ci_lo": diff, "ci_hi": diff, "test": "welch"}
        df = (va + vb) ** 2 / (va ** 2 / (a.size - 1) + vb ** 2 / (b.size - 1))
        half = stats.t.ppf(0.975, df) * se
        out.update(ci_lo=diff - half, ci_hi=diff + half, test="welch",
                   p=float(stats.ttest_ind(a, b, equal_var=False).pvalue), p_perm=permutation_p(a, b))
    elif b.size >= 2 or a.size >= 2:
        one, many = (a, b) if a.size == 1 else (b, a)
        se = many.std(ddof=1) * math.sqrt(1 + 1 / many.size)
        half = stats.t.ppf(0.975, many.size - 1) * se
        gap = one[0] - many.mean()
        tval = gap / se if se > 0 else (math.inf if gap else 0.0)
        out.update(ci_lo=diff - half, ci_hi=diff + half, test="one run vs seeds",
                   p=float(2 * stats.t.sf(abs(tval), many.size - 1)), p_perm=permutation_p(a, b))
    return out


def outcome(measure: str, comparison: dict, reached: tuple[int, int],
            control_reached: tuple[int, int]) -> str:
    """faster / same / slower from one contrast: fewer steps or a lower final loss is faster.
    A threshold some seeds never reach is read first from the share of seeds that reached it,
    either way: fewer of the condition's than of the control's is slower, more is faster."""
    if measure != "final_loss":
        (n_reached, n), (control_ok, n_control) = reached, control_reached
        share = n_reached / n if n else 0.0
        control_share = control_ok / n_control if n_control else 0.0
        if share < control_share:
            return "slower"  # some seeds never got there, more of the control's did
        if share > control_share:
            return "faster"  # more of its seeds got there than the control's
    p, diff = comparison["p"], comparison["diff"]
    if not np.isfinite(p):
        return "undetermined"  # one run a side, or neither got there: nothing was tested
    if p >= ALPHA or diff == 0:
        return "same"
    return "faster" if diff < 0 else "slower"


# ---------------------------------------------------------------- the study


def checked_thresholds(values) -> list[float] | None:
    """Loss thresholds as given (numbers, or text such as "6.0,5.5"), distinct positive finite losses;
    None when none are given (the study then sets three from the control's drop)."""
    if values is None:
        return None
    if isinstance(values, (str, bytes, int, float, np.number)):
        values = [values]
    out = []
    for value in values:
        texts = [t.strip() for t in value.split(",") if t.strip()] if isinstance(value, str) else [value]
        if not texts:  # "" or ",": a threshold meant and none given, not the default three
            raise InputError(f"{named('thresholds')}: '{value}' holds no loss (give losses, e.g. 6.0,5.5,5.0, "
                             "or leave the option out for three from pythia's drop)")
        for text in texts:
            try:
                number = float(text)
            except (TypeError, ValueError):
                raise InputError(f"{named('thresholds')}: '{text}' is not a number (give losses, e.g. "
                                 "6.0,5.5,5.0)") from None
            if not np.isfinite(number) or number <= 0:
                raise InputError(f"{named('thresholds')}: {text} is not a positive finite loss")
            if number in out:
                raise InputError(f"{named('thresholds')}: {text} is given twice (give distinct losses, "
                                 "e.g. 6.0,5.5,5.0)")
            out.append(number)
    return out or None


def threshold_table(losses: pd.DataFrame, thresholds=None) -> pd.DataFrame:
    """Three loss thresholds per size: given ones, or 50/80/95% of the control's drop."""
    rows = []
    for size, runs in losses.groupby("size"):
        control = runs[(runs["init"] == CONTROL) & (runs["warmup"] == "warmup")]
        if control.empty:
            control = runs[runs["init"] == CONTROL]
        if thresholds:
            starts = (control if len(control) else runs).sort_values("step").groupby("model")["loss"].first()
            start = float(starts.mean())
            if max(thresholds) >= start:
                raise InputError(f"{named('thresholds')}: {max(thresholds):g} is not below the loss the runs of "
                                 f"size {size} start from ({start:.4g} at their first checkpoint); "
                                 "give losses between that and the final losses")
            values, fractions = sorted(thresholds, reverse=True), [math.nan] * len(thresholds)
        else:
            if control.empty:
                raise InputError(f"size {size}: no '{CONTROL}' runs to set the loss thresholds from; "
                                 "pass --thresholds")
            curve = control.groupby("step")["loss"].mean().sort_index()
            start, end = float(curve.iloc[0]), float(curve.iloc[-1])
            if not end < start:  # the thresholds would sit at (or above) the start: reached at once
                raise InputError(f"size {size}: the '{CONTROL}' runs' loss does not fall ({start:.4g} at "
                                 f"step {curve.index[0]:g}, {end:.4g} at step {curve.index[-1]:g}): no drop "
                                 "to set the loss thresholds from; pass --thresholds")
            values = [start - f * (start - end) for f in DROP_FRACTIONS]
            fractions = list(DROP_FRACTIONS)
        for k, (value, frac) in enumerate(zip(values, fractions), start=1):
            rows.append({"size": size, "threshold": k, "loss": value, "drop_fraction": frac})
    return pd.DataFrame(rows)


def per_run(losses: pd.DataFrame, thresholds: pd.DataFrame) -> pd.DataFrame:
    """Steps to each threshold and the final loss of every run."""
    rows = []
    for model, run in losses.groupby("model"):
        if len(run) < MIN_CHECKPOINTS:
            raise InputError(f"{model}: {len(run)} checkpoint(s) with a loss; steps to a threshold and "
                             f"the final loss need its loss curve ({MIN_CHECKPOINTS} checkpoints or more, "
                             "step 0 among them)")
        run = run.sort_values("step")
        first = run.iloc[0]
        row = {k: first[k] for k in ("model", "size", "init", "init_seed", "warmup", "warmup_steps")}
        for _, thr in thresholds[thresholds["size"] == first["size"]].iterrows():
            row[f"steps_to_{int(thr['threshold'])}"] = steps_to_reach(run["step"], run["loss"], thr["loss"])
        row["final_step"] = int(run["step"].iloc[-1])
        row["final_loss"] = float(run["loss"].iloc[-1])
        rows.append(row)
    out = pd.DataFrame(rows)
    # a run whose curve ends early (its last checkpoints have no loss) is compared late at its own end
    end = out.groupby("size")["final_step"].transform("max")
    for _, r in out[out["final_step"] < end].iterrows():
        warn(f"{r['model']}: its last loss is at step {r['final_step']}, before step "
             f"{int(end[_])} where the other {r['size']} runs end; its final loss (the late contrast) "
             f"is the loss at step {r['final_step']}")
    return out


def curve_table(losses: pd.DataFrame) -> pd.DataFrame:
    """Mean and seed range (min, max) of the loss per condition and step."""
    return (losses.groupby(["size", "init", "warmup", "step"], as_index=False)["loss"]
            .agg(mean="mean", lo="min", hi="max", n="count"))


def _measures(runs: pd.DataFrame) -> list[str]:
    return sorted(c for c in runs.columns if c.startswith("steps_to_")) + ["final_loss"]


def _control_of(runs: pd.DataFrame, size, warmup) -> pd.DataFrame:
    control = runs[(runs["size"] == size) & (runs["init"] == CONTROL) & (runs["warmup"] == warmup)]
    return control


def summarize(runs: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(summary: interval per condition and measure, contrasts: each condition vs its control)."""
    summary, contrasts = [], []
    for (size, init, warmup), cond in runs.groupby(["size", "init", "warmup"]):
        control = _control_of(runs, size, warmup)
        for measure in _measures(runs):
            mean, lo, hi, n_ok = t_interval(cond[measure])
            summary.append({"size": size, "init": init, "warmup": warmup, "measure": measure, "mean": mean,
                            "ci_lo": lo, "ci_hi": hi, "n": len(cond), "n_reached": n_ok})
            if init == CONTROL or control.empty:
                continue
            comparison = compare(cond[measure], control[measure])
            ctrl_ok = int(np.isfinite(control[measure]).sum())
            control_mean = t_interval(control[measure])[0]
            contrasts.append({"size": size, "init": init, "warmup": warmup, "measure": measure,
                              "mean": mean, "control_mean": control_mean, **comparison,
                              "relative": comparison["diff"] / control_mean if control_mean else math.nan,
                              "n": len(cond), "n_reached": n_ok, "n_control": len(control),
                              "outcome": outcome(measure, comparison, (n_ok, len(cond)),
                                                 (ctrl_ok, len(control)))})
    return pd.DataFrame(summary), pd.DataFrame(contrasts)


WARMUP_EFFECT_COLUMNS = ["size", "init", "measure", "cost", "control_cost", "diff", "ci_lo", "ci_hi", "p",
                         "min_seeds"]


def warmup_effects(runs: pd.DataFrame) -> pd.DataFrame:
    """For each init run with and without warmup: what dropping warmup costs it (the change of its
    mean steps to the first threshold, or of its final loss), against what it costs pythia (the
    warmup hypothesis: a learned-law init would need warmup less). Tested where each of the four
    run sets has two seeds or more (``min_seeds``); else the means alone, with no interval or p."""
    rows = []
    for (size, init), cond in runs.groupby(["size", "init"]):
        if init == CONTROL or set(cond["warmup"]) != {"warmup", "no warmup"}:
            continue
        ctrl = runs[(runs["size"] == size) & (runs["init"] == CONTROL)]
        if set(ctrl["warmup"]) != {"warmup", "no warmup"}:
            continue
        for measure in ("steps_to_1", "final_loss"):
            parts = [frame.loc[frame["warmup"] == warmup, measure].to_numpy(float)
                     for frame in (cond, ctrl) for warmup in ("warmup", "no warmup")]
            parts = [p[np.isfinite(p)] for p in parts]
            fewest = min(p.size for p in parts)
            if fewest == 0:
                continue  # a run set never reached the threshold: no cost to state
            mine = parts[1].mean() - parts[0].mean()
            theirs = parts[3].mean() - parts[2].mean()
            diff = mine - theirs
            lo = hi = p = math.nan
            if fewest >= 2:
                variances = [p.var(ddof=1) / p.size for p in parts]
                se = math.sqrt(sum(variances))
                df = sum(variances) ** 2 / sum(v ** 2 / (p.size - 1) for v, p in zip(variances, parts)) if se else 1
                half = stats.t.ppf(0.975, df) * se
                lo, hi = diff - half, diff + half
                p = float(2 * stats.t.sf(abs(diff) / se, df)) if se else (0.0 if diff else 1.0)
            rows.append({"size": size, "init": init, "measure": measure, "cost": mine, "control_cost": theirs,
                         "diff": diff, "ci_lo": lo, "ci_hi": hi, "p": p, "min_seeds": fewest})
    return pd.DataFrame(rows, columns=WARMUP_EFFECT_COLUMNS)


def _gauss_axis(stat: str, values):
    values = np.asarray(values, float)
    return 1.0 / values if stat == "t_nu" else values


SHAPE_REFERENCES = {"keeps its shape": "its start", "drifts back toward Gaussian": "the Gaussian",
                    "ends where the Pythia-init run ends": "the Pythia-init run's end"}
AS_NEAR = 1.25  # a second reference within this factor of the nearest's distance is as near


def _or_as_near(nearest: str, dist: dict, refs: dict, spread: float) -> str:
    """The nearest reference's verdict, or 'between A and B' where a second, distinct reference is
    about as near (2.7 -> 1.4 lies as near its start as the Gaussian: not 'keeps its shape')."""
    rivals = [k for k in dist if k != nearest and dist[k] <= AS_NEAR * dist[nearest]
              and abs(refs[k] - refs[nearest]) > 0.1 * spread]
    if not rivals:
        return nearest
    rival = min(rivals, key=dist.get)
    first, second = sorted((nearest, rival), key=list(SHAPE_REFERENCES).index)  # one wording per pair
    return f"between {SHAPE_REFERENCES[first]} and {SHAPE_REFERENCES[second]} (nearer {SHAPE_REFERENCES[nearest]})"


def shape_table(table: pd.DataFrame, conditions: pd.DataFrame, stat: str = "excess_kurtosis",
                groups=None, source: str = "table") -> pd.DataFrame:
    """Where each condition's weight law starts and ends (mean over seeds, per group), and a verdict
    on its end E against three references: its start S, the Gaussian G (only where E is nearer G
    than S was) and the Pythia-init run's end P (not for the Pythia-init run itself). A reference
    is near where E lies within max(half the spread of the references left, a tenth of
    max(|S|, |E|)) of it; each verdict means:

    - 'keeps its shape', 'drifts back toward Gaussian', 'ends where the Pythia-init run ends': E
      is near S, G or P and nearest it ('between A and B' where a second is about as near);
    - 'leaves the Gaussian': it started at the Gaussian (|S - G| under a tenth of its move
      |E - S|) and does not end near P, however far it went (a move from the Gaussian is the
      change of shape; P's distance is no yardstick for it);
    - 'goes elsewhere': near no reference.

    ``groups``: those groups only; by default MATRIX_GROUPS and each model's SEPARATE_ATTENTION
    matrices."""
    weights, _ = split_rows(table)
    weights = weights[weights["model"].isin(conditions["model"])]
    if len(weights) and not (weights["stat"] == stat).any():
        names = sorted(set(weights["stat"].dropna().astype(str)))
        raise InputError(f"{named('stat')}: the init-study runs have no '{stat}' rows"
                         + suggestion(stat, names, otherwise=f" (known: {known(names)})"))
    refuse_categorical(weights, stat, named("stat"))  # a mean over seeds of a code says nothing
    weights = weights[weights["stat"] == stat]
    if weights.empty:
        return pd.DataFrame(columns=["size", "init", "warmup", "group", "start", "end", "control_end",
                                     "gaussian", "verdict"])
    # exact repeats dropped; one key with two values refused (averaging mixes two measurements)
    if groups is None:
        fused = weights.loc[weights["group"] == "attn_qkv", "model"].unique()
        kept = weights["group"].isin(MATRIX_GROUPS) | (
            weights["group"].isin(SEPARATE_ATTENTION) & ~weights["model"].isin(fused))
    else:
        kept = weights["group"].isin(groups)
    chosen = distinct_rows(numeric_values(weights[kept], source, f"stat '{stat}'"),
                           WEIGHT_KEYS, source, f"stat '{stat}'")
    values = group_values(chosen).merge(conditions, on="model")
    values["value"] = _gauss_axis(stat, values["value"])
    mean = values.groupby(["size", "init", "warmup", "group", "step"], as_index=False)["value"].mean()
    rows = []
    gauss = GAUSSIAN_VALUE.get(stat, math.nan)
    for (size, init, warmup, group), traj in mean.groupby(["size", "init", "warmup", "group"]):
        traj = traj.sort_values("step")
        start, end = float(traj["value"].iloc[0]), float(traj["value"].iloc[-1])
        ctrl = mean[(mean["size"] == size) & (mean["init"] == CONTROL) & (mean["group"] == group)
                    & (mean["warmup"] == warmup)].sort_values("step")
        control_end = float(ctrl["value"].iloc[-1]) if len(ctrl) else math.nan
        refs = {"keeps its shape": start, "drifts back toward Gaussian": gauss,
                "ends where the Pythia-init run ends": control_end}
        refs = {k: v for k, v in refs.items() if np.isfinite(v)}
        if init == CONTROL:
            refs.pop("ends where the Pythia-init run ends", None)
        if len(refs) > 1 and abs(end - gauss) >= abs(start - gauss):
            refs.pop("drifts back toward Gaussian", None)  # no nearer the Gaussian than it started
        dist = {k: abs(end - v) for k, v in refs.items()}
        # the spread of the references still in play: a Gaussian dropped above no longer widens "near"
        spread = max((abs(x - y) for x, y in itertools.combinations(refs.values(), 2)), default=0.0)
        nearest = min(dist, key=dist.get)
        far = dist[nearest] > max(0.5 * spread, 0.1 * max(abs(start), abs(end), 1e-9))
        at_control = nearest == "ends where the Pythia-init run ends" and not far
        if abs(start - gauss) < 0.1 * abs(end - start) and not at_control:
            verdict = "leaves the Gaussian"  # started Gaussian (pythia, gauss-matched) and moved away
        elif far:
            verdict = "goes elsewhere"  # all references at one value (spread 0) too
        else:
            verdict = _or_as_near(nearest, dist, refs, spread)
        rows.append({"size": size, "init": init, "warmup": warmup, "group": group, "start": start,
                     "end": end, "control_end": control_end, "gaussian": gauss, "verdict": verdict})
    return pd.DataFrame(rows)


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

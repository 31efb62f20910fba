"""The init study's statistics: loss thresholds, each run's steps to them and final loss, and each
condition against the control of its size and warmup (t intervals over seeds, Welch's t, the exact
permutation p, Boschloo's exact p of equal shares of seeds that reach a threshold, the outcome), each init that carries the source's shape against the Gaussian of the
same scale (the shape contrasts), and what dropping warmup costs an init against what it costs pythia."""
from __future__ import annotations

import functools
import itertools
import math

import numpy as np
import pandas as pd
from scipy import stats

from scalefit.errors import InputError, warn
from scalefit.scaling.flags import named

CONTROL = "pythia"
UPPER_BOUND = "source"  # continued training: the upper bound, not one of the three predictions
# the shape's control: each tensor drawn from a Gaussian with the source tensor's mean and std (the
# learned scale without its shape); every other init but pythia and source is tested against it
SHAPE_CONTROL = "gauss-matched"
# the tails flag (init_study.tails): a start more than FAR_FACTOR times, or under 1/FAR_FACTOR of, the
# source's distance from the Gaussian, judged in the groups where the source is at least JUDGED_SHARE as
# far from it as in its farthest
FAR_FACTOR = 2.0
JUDGED_SHARE = 0.1
DROP_FRACTIONS = (0.5, 0.8, 0.95)  # thresholds: this share of the control's loss drop done
ALPHA = 0.05
MIN_CHECKPOINTS = 3  # a loss curve: the start, the end and one point between


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


@functools.lru_cache(maxsize=None)
def reach_p(reached: tuple[int, int], control_reached: tuple[int, int]) -> float:
    """p-value of Boschloo's exact test (two-sided) of equal shares of seeds reaching a threshold:
    k of n against j of m (0 of 3 against 3 of 3: p = 0.031; 2 of 3 against 1 of 3: p = 1). NaN
    where a side has no seeds; 1 where the shares are equal.

    Why Boschloo's and not Fisher's exact test or a permutation test over the seeds: Fisher's test
    conditions on both margins, so with three seeds a side its least p is 0.1 (0 of 3 against 3 of
    3) and it can never reject at ALPHA on the shipped design; an exact permutation test over all
    seeds (the steps, never-reached as +inf, by rank) has the same floor, 2 / C(6, 3) = 0.1, at 3
    against 3. Boschloo's test is unconditional (it maximizes over the common reach probability the
    chance of a table as extreme by Fisher's p), exact (its size is at most ALPHA for every
    reach probability) and uniformly more powerful than Fisher's; it reads the shares alone, which
    is all a threshold that some seeds never reach lets one compare over all the seeds (the steps
    of the seeds that got there are not all the seeds)."""
    (k, n), (j, m) = reached, control_reached
    if n <= 0 or m <= 0:
        return math.nan
    if k * m == j * n:
        return 1.0  # equal shares: nothing as extreme is less likely (and scipy returns NaN for 0/0)
    return float(stats.boschloo_exact([[k, j], [n - k, m - j]], alternative="two-sided").pvalue)


def outcome(measure: str, comparison: dict, reached: tuple[int, int],
            control_reached: tuple[int, int]) -> str:
    """faster / same / slower / undetermined from one contrast: fewer steps or a lower final loss
    is faster, where its test says so at ALPHA (``comparison``'s p); undetermined where nothing
    was tested.

    A threshold that the two sides' seeds reach in different shares is decided by one test at
    ALPHA, of the shares alone (``reach_p``, Boschloo's exact, two-sided): where it rejects, fewer
    of the condition's seeds getting there is slower and more is faster; otherwise undetermined
    (the seeds that got there are not all the seeds, so their steps decide nothing and give no
    'same'). No second test is OR-ed in: that would raise the rule's size above ALPHA."""
    p, diff = comparison["p"], comparison["diff"]
    if measure != "final_loss":
        (n_reached, n), (control_ok, n_control) = reached, control_reached
        share = n_reached / n if n else 0.0
        control_share = control_ok / n_control if n_control else 0.0
        if share != control_share:
            if reach_p((n_reached, n), (control_ok, n_control)) < ALPHA:
                return "slower" if share < control_share else "faster"
            return "undetermined"
    if not np.isfinite(p):
        return "undetermined"  # one run a side, or neither got there: nothing was tested
    if p >= ALPHA or diff == 0:
        return "same"
    return "faster" if diff < 0 else "slower"


# the outcome rule for a threshold some seeds never reach (``outcome``), in report.md's words
REACH_RULE = ("A threshold that the two sides' seeds reach in different shares (some never get there) is "
              "decided by one test, Boschloo's exact test (two-sided) of equal shares of seeds that get there: "
              f"where its p < {ALPHA:g}, fewer of a condition's seeds there is slower and more is faster; "
              "otherwise the outcome is undetermined (no 'same': the seeds that got there are not all the "
              "seeds, and their steps decide nothing). p_reach in the tables is that test's p-value.")


# ---------------------------------------------------------------- thresholds, runs, conditions


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
            contrasts.append({"size": size, "init": init, "warmup": warmup, "measure": measure,
                              **_contrast(cond, control, measure)})
    return pd.DataFrame(summary), pd.DataFrame(contrasts)


def _contrast(cond: pd.DataFrame, control: pd.DataFrame, measure: str) -> dict:
    """One condition's runs against its control's on one measure: both means, ``compare``'s
    difference, interval and p values, the relative difference, the seed counts, the p-value of
    Boschloo's exact test of equal shares of seeds that reached a threshold (``reach_p``; NaN for the final loss) and the
    outcome."""
    mean, _, _, n_ok = t_interval(cond[measure])
    comparison = compare(cond[measure], control[measure])
    ctrl_ok = int(np.isfinite(control[measure]).sum())
    control_mean = t_interval(control[measure])[0]
    reached, control_reached = (n_ok, len(cond)), (ctrl_ok, len(control))
    return {"mean": mean, "control_mean": control_mean, **comparison,
            "relative": comparison["diff"] / control_mean if control_mean else math.nan,
            "n": len(cond), "n_reached": n_ok, "n_control": len(control), "n_control_reached": ctrl_ok,
            "p_reach": math.nan if measure == "final_loss" else reach_p(reached, control_reached),
            "outcome": outcome(measure, comparison, reached, control_reached)}


SHAPE_CONTRAST_COLUMNS = ["size", "init", "control", "warmup", "measure", "mean", "control_mean", "diff", "ci_lo",
                          "ci_hi", "p", "p_perm", "test", "relative", "n", "n_reached", "n_control",
                          "n_control_reached", "p_reach", "outcome"]


def shape_contrasts(runs: pd.DataFrame) -> pd.DataFrame:
    """Does the shape matter? Each init but pythia, source and gauss-matched (family, empirical,
    permuted: the source's law with its shape) against SHAPE_CONTROL of the same size and warmup,
    the same scale without the shape, by the tests of the pythia contrasts (``compare``: Welch's t,
    the exact permutation p; ``outcome``: faster / same / slower than the Gaussian). Empty where
    no gauss-matched run shares a condition's size and warmup."""
    rows = []
    for (size, init, warmup), cond in runs.groupby(["size", "init", "warmup"]):
        if init in (CONTROL, UPPER_BOUND, SHAPE_CONTROL):
            continue
        control = runs[(runs["size"] == size) & (runs["init"] == SHAPE_CONTROL) & (runs["warmup"] == warmup)]
        if control.empty:
            continue
        for measure in _measures(runs):
            rows.append({"size": size, "init": init, "control": SHAPE_CONTROL, "warmup": warmup,
                         "measure": measure, **_contrast(cond, control, measure)})
    return pd.DataFrame(rows, columns=SHAPE_CONTRAST_COLUMNS)


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

"""Where an init's weight law goes in the init study: a weight statistic's start and end per condition
and group (mean over seeds), and the verdict on that end against its start, the Gaussian and the
Pythia-init run's end."""
from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
from scipy import stats

from scalefit.errors import InputError, known, suggestion
from scalefit.schema import (WEIGHT_KEYS, distinct_rows, group_values, numeric_values, refuse_categorical,
                             split_rows)
from scalefit.scaling.flags import named
from scalefit.scaling.trajectories.init_contrasts import CONTROL

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


WITHIN_NOISE = "within noise"
# the label of a verdict read from one seed: no spread over seeds, so no test of its change
ONE_SEED = "descriptive; one seed: no noise estimate"
SHAPE_COLUMNS = ["size", "init", "warmup", "group", "start", "end", "control_end", "gaussian", "n_seeds", "change",
                 "seed_sd", "change_lo", "change_hi", "verdict"]


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


def change_interval(changes) -> tuple[float, float, float, float, int]:
    """(mean, sd, lo, hi, n) of each seed's own change: its mean, the sd over seeds (ddof 1) and the
    95% t interval of the mean, mean -+ t_{n-1,0.975} * sd / sqrt(n); NaN sd and bounds under two seeds."""
    x = np.asarray(changes, float)
    x = x[np.isfinite(x)]
    if x.size == 0:
        return math.nan, math.nan, math.nan, math.nan, 0
    mean = float(x.mean())
    if x.size < 2:
        return mean, math.nan, math.nan, math.nan, 1
    sd = float(x.std(ddof=1))
    half = float(stats.t.ppf(0.975, x.size - 1)) * sd / math.sqrt(x.size)
    return mean, sd, mean - half, mean + half, int(x.size)


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
    - 'goes elsewhere': near no reference;
    - 'within noise': checked first, with two seeds or more: the 95% t interval of the mean over
      seeds of each seed's own change (its end minus its start; ``change``, ``change_lo``,
      ``change_hi``; mean -+ t_{n-1,0.975} * ``seed_sd`` / sqrt(``n_seeds``)) holds 0, a two-sided
      t test at the 5% level of no change that does not reject;
    - one seed: no test is possible (no spread over seeds; the sampling sd of a fresh Gaussian draw,
      sqrt(24/n) for excess kurtosis, is not the noise of a change of trained, heavy-tailed weights),
      so the verdict above is kept as a description, labelled '(descriptive; one seed: no noise
      estimate)'.

    ``groups``: those groups only; by default MATRIX_GROUPS and each model's SEPARATE_ATTENTION
    matrices."""
    weights, _ = split_rows(table)
    weights = weights[weights["model"].isin(conditions["model"])]
    if "stat" not in weights:  # a table of losses alone: no weight law to place
        return pd.DataFrame(columns=SHAPE_COLUMNS)
    if len(weights) and not (weights["stat"] == stat).any():
        names = sorted(set(weights["stat"].dropna().astype(str)))
        raise InputError(f"{named('stat')}: the init-study runs have no '{stat}' rows"
                         + suggestion(stat, names, otherwise=f" (known: {known(names)})"))
    refuse_categorical(weights, stat, named("stat"))  # a mean over seeds of a code says nothing
    weights = weights[weights["stat"] == stat]
    if weights.empty:
        return pd.DataFrame(columns=SHAPE_COLUMNS)
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
        # the noise test: each seed's own change (its start and end are one run's), its mean's t interval
        first, last = traj["step"].iloc[0], traj["step"].iloc[-1]
        mine = values[(values["size"] == size) & (values["init"] == init) & (values["warmup"] == warmup)
                      & (values["group"] == group)]
        ends = mine[mine["step"].isin((first, last))].pivot_table(index="model", columns="step", values="value")
        change = ends[last] - ends[first] if first in ends and last in ends else pd.Series(dtype=float)
        mean_change, seed_sd, lo, hi, n_seeds = change_interval(change)
        if n_seeds >= 2 and lo <= 0 <= hi:
            verdict = WITHIN_NOISE  # no change detectable at the 5% level over the seeds
        elif n_seeds < 2:
            verdict = f"{verdict} ({ONE_SEED})"
        rows.append({"size": size, "init": init, "warmup": warmup, "group": group, "start": start,
                     "end": end, "control_end": control_end, "gaussian": gauss, "n_seeds": n_seeds,
                     "change": mean_change, "seed_sd": seed_sd, "change_lo": lo, "change_hi": hi,
                     "verdict": verdict})
    return pd.DataFrame(rows, columns=SHAPE_COLUMNS)

"""Honest extrapolation of a fitted law: every number beyond the runs says how far beyond it is,
carries its 95% interval and is called what it is.

- A *projection* is a number at a compute no run reached or held out: nothing checks it.
- A *prediction* is a number that a held-out run checks (a budget within a factor of
  ``CHECK_FACTOR`` of a held-out run's compute, or a held-out run's own loss).
- An *interpolation* is a budget within the fitted runs' compute (smallest to largest) whose
  optimum N* and D* also lie within the fitted runs' sizes and token counts.
- An *extrapolation* is a budget within the fitted runs' compute whose N* or D* lies outside
  their sizes or token counts (``outside_fitted`` says which and how far): no run of that shape
  checks it (N* = 1.6e5 at a budget inside a grid whose smallest model had 2.9e5 parameters was
  called an interpolation).
- A budget *below the data* is under the smallest fitted run: nothing checks it either, and the
  law's form, not the runs, sets the number there.

Default budgets come from the data: 10x and 100x the largest fitted run, the held-out runs'
largest compute (when there is one), and the published reference budgets (1e21, Chinchilla's
5.76e23, 1e25 FLOPs) only where they lie within ``REACH`` (1000x) of the largest fitted run.

Intervals come from the bootstrap draws of the law (``FitResult.draws``): each draw's optimum at
each budget, percentiles over draws. A held-out run's prediction interval adds the residual
scatter of the fit to the draws (an interval for the observed loss, not for the law's mean),
at the scale the runs' scatter has at that N (`scatter.py`: log sd linear in log N, the slope's
uncertainty drawn with it).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from scalefit.errors import InputError, a_type
from scalefit.options import positive_float
from scalefit.scaling.fitresult import FitResult, n_counts_words, observation_interval, percentile_ci
from scalefit.scaling.laws.allocation import REFERENCE_BUDGETS
from scalefit.scaling.laws.convention import TOTAL, EmbeddingMap
from scalefit.scaling.laws.fit import total_flops_factor
from scalefit.scaling.laws.registry import law_for
from scalefit.scaling.laws.runtable import fit_n_note
from scalefit.scaling.laws.scatter import law_scatter
from scalefit.schema import FLOPS_PER_PARAM_TOKEN

DATA_MULTIPLES = (10.0, 100.0)  # default budgets: these multiples of the largest fitted run
REACH = 1000.0  # published budgets join the defaults within this multiple of the largest run
CHECK_FACTOR = 2.0  # a held-out run within this factor of a budget's compute checks it
NO_PI_BEYOND_REACH = (f"no prediction interval beyond {REACH:g}x the largest fitted run's compute: the runs' "
                      f"scatter is not carried beyond {REACH:g}x, so only the law's curve interval is given "
                      "there, itself a projection of the law's form")  # Kaplan on the mini grid at N 1e12,
# D 2e13 (1.4e13x): its sized scatter's slope, drawn from N(0.10, 0.15^2) and carried over 14
# e-folds of N, gave the loss 1.54 a PI of [0.1, 9.2] nats (the audit's: [0.70, 66000])

# a held-out run there (fit/compare --holdout, calibrate): its point prediction and error are
# kept, as a projection exists there; only the interval, and so its coverage, is not stated
NO_PI_FOR_FAR_RUN = (f"no prediction interval beyond {REACH:g}x the largest fitted run's compute: the "
                     f"runs' scatter is not carried beyond {REACH:g}x, so a held-out run there keeps its "
                     "point prediction and its error, but no interval to score")

GRID = np.linspace(-14.0, 14.0, 561)  # log(N / sqrt(C/k)) searched for a converted optimum


def beyond_reach(flops, largest_fitted) -> np.ndarray:
    """Which of ``flops`` lie more than ``REACH`` x beyond ``largest_fitted`` (none where it is no
    finite positive number, nor where a flops value is NaN): where no prediction interval is
    stated (``NO_PI_BEYOND_REACH``) and where the published budgets leave the defaults. The one
    spelling of the rule: a distance already in multiples of the largest fitted run (a row's
    ``times_largest_run``) is ``beyond_reach(times, 1.0)``."""
    flops = np.asarray(flops, float)
    if largest_fitted is None or not (np.isfinite(largest_fitted) and largest_fitted > 0):
        return np.zeros(flops.shape, bool)
    return flops > REACH * float(largest_fitted)


def default_budgets(fitted_flops, held_flops=()) -> list[float]:
    """Budgets from the data's own range (see the module docstring for the rule). The largest
    fitted compute must be a finite positive number of FLOPs (an InputError otherwise: with a NaN
    the published budgets joined NaN multiples, with 0 every published budget was 'within reach')."""
    fitted = np.asarray(fitted_flops, float).ravel()
    c_max = float(np.nanmax(fitted)) if fitted.size and not np.isnan(fitted).all() else float("nan")
    if not (np.isfinite(c_max) and c_max > 0):
        raise InputError(f"default budgets: the largest fitted run's compute is {c_max:g} FLOPs; "
                         "expected a finite positive number (6 x params x tokens), to take "
                         "multiples of")
    budgets = [m * c_max for m in DATA_MULTIPLES]
    held = np.asarray(held_flops, float)
    if held.size and np.isfinite(held).any():
        budgets.append(float(np.nanmax(held)))
    budgets += [c for c in REFERENCE_BUDGETS if not beyond_reach(c, c_max)]
    return sorted({float(f"{c:.6g}") for c in budgets})


def checked_budgets(budgets, name: str = "budgets (--budget)") -> list[float] | None:
    """``budgets`` (one number or several, FLOPs) as a sorted list of distinct positive floats, or
    None for the defaults; anything else is an InputError naming the argument (``name``)."""
    if budgets is None:
        return None
    if isinstance(budgets, str):
        raise InputError(f"{name}: got {a_type(budgets)} '{budgets}'; give FLOPs as a "
                         "number or a list of numbers, e.g. [1e21, 1e22]")
    values = [positive_float(name, c) for c in (budgets if np.iterable(budgets) else [budgets])]
    return sorted(set(values))  # --budget 1e15 --budget 1e15 printed the same row twice


def check_budgets(budgets, fitted_flops) -> None:
    """Refuse a budget more than ``REACH`` x under the smallest fitted run: there the law's form
    alone sets N* and D* (a budget of 1 FLOP gave N* = 0.1 parameter), so it is a unit slip."""
    floor = float(np.nanmin(np.asarray(fitted_flops, float))) / REACH
    for c in budgets:
        if not c >= floor:
            raise InputError(f"--budget {c:g}: {c / (floor * REACH):.3g}x the smallest fitted run "
                             f"({floor * REACH:.6g} FLOPs); expected FLOPs no more than {REACH:g}x "
                             f"under it (>= {floor:.6g}), e.g. 6 x params x tokens")


def kind_of(budget: float, held_flops=(), largest_fitted: float = np.inf,
            smallest_fitted: float = 0.0) -> tuple[str, int]:
    """('prediction', n held-out runs near it), ('interpolation', 0) within the fitted runs'
    compute, ('below the data', 0) under the smallest fitted run, or ('projection', 0) above
    the largest: by compute alone (``project`` calls an 'interpolation' whose N* or D* lies
    outside the runs' an 'extrapolation')."""
    held = np.asarray(held_flops, float)
    near = int(np.sum((held >= budget / CHECK_FACTOR) & (held <= budget * CHECK_FACTOR)))
    if near:
        return "prediction", near
    if budget > largest_fitted:
        return "projection", 0
    return ("below the data" if budget < smallest_fitted else "interpolation"), 0


def outside_range(name: str, value: float, fitted, of: str = "fitted") -> str | None:
    """'N* 1.84x under the smallest fitted (2.88e+05)' or 'D 6.1x the largest fitted (1.64e+06)'
    where ``value`` lies outside the finite positive ``fitted`` values' range; None inside it, or
    with nothing to compare (no fitted value, or ``value`` no number). ``of`` names the runs
    compared with ('fitted'; 'of any run' for the fitted and held-out runs together)."""
    fitted = np.asarray(fitted, float)
    fitted = fitted[np.isfinite(fitted) & (fitted > 0)]
    if not fitted.size or not np.isfinite(value):
        return None
    lo, hi = float(fitted.min()), float(fitted.max())
    if value > hi:
        return f"{name} {value / hi:.3g}x the largest {of} ({hi:.3g})"
    if value < lo:
        return f"{name} {lo / value:.3g}x under the smallest {of} ({lo:.3g})"
    return None


BEYOND_RUNS = "prediction (optimum beyond the runs)"  # a held-out run near its compute, none near its N*, D*


def run_shapes(frame, n_column: str | None) -> dict[str, np.ndarray]:
    """{'N*': sizes, 'D*': token counts} of every run of ``frame``, fitted and held out alike."""
    if frame is None:
        return {}
    return {name: pd.to_numeric(frame[column], errors="coerce").to_numpy(float)
            for name, column in (("N*", n_column), ("D*", "D"))
            if column is not None and column in frame.columns}


def fitted_shapes(frame, n_column: str | None, largest_fitted: float,
                  smallest_fitted: float) -> dict[str, np.ndarray]:
    """{'N*': sizes, 'D*': token counts} of the fitted runs of a validated run table's ``frame``,
    sizes from ``n_column`` (the N the optimum is stated in): the rows within the fitted compute,
    which excludes the held-out runs (the largest-compute ones) that a caller's frame may hold.
    Empty where the frame lacks the columns."""
    if frame is None or "C" not in frame.columns:
        return {}
    c = pd.to_numeric(frame["C"], errors="coerce").to_numpy(float)
    fitted = (c >= smallest_fitted * (1 - 1e-9)) & (c <= largest_fitted * (1 + 1e-9))
    return {name: values[fitted] for name, values in run_shapes(frame, n_column).items()}


def outside_shapes(n_opt, d_opt, shapes: dict, of: str = "fitted") -> list[str]:
    """``outside_range``'s sentence for each of N* = ``n_opt``, D* = ``d_opt`` outside the runs'
    ``shapes`` (``run_shapes``, ``fitted_shapes``); empty where both fall within them."""
    return [said for name, value in (("N*", n_opt), ("D*", d_opt)) if name in shapes
            and (said := outside_range(name, float(value), shapes[name], of))]


def _flops_per_param_token(result: FitResult) -> float:
    return float(result.extra.get("allocation", {}).get("flops_per_param_token", FLOPS_PER_PARAM_TOKEN))


def optimum(law, values: dict, flops, k: float, embedding: EmbeddingMap | None = None):
    """(N*, D*, L*) arrays at ``flops``: the law's own frontier, or with ``embedding`` the
    optimum of a non-embedding law under C = k * total N * D, in total parameters."""
    flops = np.atleast_1d(np.asarray(flops, float))
    if embedding is None:
        n = np.exp(law.log_frontier(values, flops, k))
        d = flops / (k * n)
        loss = law.predict(values, n, d, k) if law.predicts_loss else np.full(n.shape, np.nan)
        return n, d, np.asarray(loss, float)
    # grid over the law's N (non-embedding) around sqrt(C/k), D from the total-N budget
    n_law = np.exp(0.5 * np.log(flops / k)[:, None] + GRID[None, :])
    n_total = embedding.total(n_law)
    d = flops[:, None] / (k * n_total)
    with np.errstate(all="ignore"):
        loss = np.asarray(law.predict(values, n_law, d, FLOPS_PER_PARAM_TOKEN), float)
    loss = np.where(np.isfinite(loss), loss, np.inf)
    i = np.clip(np.argmin(loss, axis=1), 1, GRID.size - 2)
    rows = np.arange(flops.size)
    # parabola through the grid minimum and its neighbours, in log N
    y0, y1, y2 = (np.log(loss[rows, i + s]) for s in (-1, 0, 1))
    denom = y0 - 2 * y1 + y2
    shift = np.where(denom > 0, 0.5 * (y0 - y2) / np.where(denom > 0, denom, 1.0), 0.0)
    step = GRID[1] - GRID[0]
    log_n = 0.5 * np.log(flops / k) + GRID[i] + np.clip(shift, -1, 1) * step
    n_best = np.exp(log_n)
    total = embedding.total(n_best)
    d_best = flops / (k * total)
    loss_best = np.asarray(law.predict(values, n_best, d_best, FLOPS_PER_PARAM_TOKEN), float)
    at_edge = (np.argmin(loss, axis=1) == 0) | (np.argmin(loss, axis=1) == GRID.size - 1)
    loss_best[at_edge] = np.nan  # no interior optimum within 1e6x of sqrt(C/k)
    return np.where(at_edge, np.nan, total), np.where(at_edge, np.nan, d_best), loss_best


def _draw_values(result: FitResult, also=()):
    """Each bootstrap draw as a paper-named dict (skipping failed, NaN draws), with the drawn
    quantities ``also`` beside the parameters (IsoFLOP's b and H)."""
    draws = result.draws or {}
    names = list(result.params) + list(also)
    if not draws or any(name not in draws for name in names):
        return []
    table = np.column_stack([np.asarray(draws[name], float) for name in names])
    return [dict(zip(names, row)) for row in table if np.all(np.isfinite(row))]


def convert_embedding(result: FitResult, frame, convention: str | None) -> EmbeddingMap | None:
    """The map needed to state ``result`` in ``convention`` (None: already in it)."""
    n_column = result.extra.get("n_column") or TOTAL
    if convention is None or convention == n_column:
        return None
    if convention == TOTAL and n_column != TOTAL:
        return EmbeddingMap.from_frame(frame)
    return None


def budget_basis(result: FitResult, frame, convention: str | None) -> tuple[float, EmbeddingMap | None]:
    """(k, embedding) that budgets of ``result`` are read in: the law's own C = k N D, or, where
    stating it in ``convention`` needs the runs' embedding counts (``convert_embedding``), that map
    and the table's own count (``total_flops_factor``): a budget in total N is the table's compute."""
    embedding = convert_embedding(result, frame, convention) if frame is not None else None
    if embedding is not None:
        return total_flops_factor(frame), embedding
    return _flops_per_param_token(result), None


def project(result: FitResult, budgets, *, frame=None, largest_fitted: float,
            held_flops=(), convention: str | None = None,
            smallest_fitted: float = 0.0) -> list[dict]:
    """One row per budget: its distance from the data, its kind (projection, prediction,
    interpolation, extrapolation with ``outside_fitted``, below the data: the module docstring),
    and the fitted law's N*, D*, tokens per parameter and loss there, each with a 95% interval of
    the law's optimum (the curve), and ``loss_pi95``: where an observed run's loss there would
    fall (the law's draws times the runs' own scatter, as held-out runs' intervals are made).

    convention: 'params' states N as total parameters (a non-embedding law is converted with
    the runs' own embedding counts); None keeps the law's own N.
    """
    law = law_for(result.law)
    own_k = _flops_per_param_token(result)
    k, embedding = budget_basis(result, frame, convention)
    budgets = np.asarray(list(budgets), float)
    rows = []
    if not np.isfinite(result.extra.get("allocation", {}).get("a", np.nan)):
        return rows
    n, d, loss = optimum(law, result.values(), budgets, k, embedding)
    alloc = result.extra.get("allocation", {})
    no_tokens = bool(alloc.get("tokens_not_stated"))  # isoflop.NO_TOKENS
    tokens_line = "tokens_from" in alloc  # isoflop.TOKENS_FROM: D*(C) = H C^b off the runs' tokens

    def tokens(v, d_law):
        if no_tokens:
            return np.full_like(d_law, np.nan)
        return v["H"] * budgets ** v["b"] if tokens_line else d_law

    d = tokens(alloc, d)
    n_column = TOTAL if embedding is not None else result.extra.get("n_column") or TOTAL
    shapes = fitted_shapes(frame, n_column, largest_fitted, smallest_fitted)
    every_run = run_shapes(frame, n_column)
    draws = _draw_values(result, ("b", "H") if tokens_line else ())
    if draws:
        per_draw = [optimum(law, v, budgets, k, embedding) for v in draws]
        n_d = np.array([p[0] for p in per_draw])
        d_d = np.array([tokens(v, p[1]) for v, p in zip(draws, per_draw)])
        l_d = np.array([p[2] for p in per_draw])
        scatter = law_scatter(result)
        law_n = n_d if embedding is None else embedding.nonembed(n_d)  # the N the scatter read
        with np.errstate(all="ignore"):
            observed = np.log(l_d) + scatter.draw(np.random.default_rng(0), l_d.shape, np.log(law_n),
                                                  slope_rng=np.random.default_rng([0, 1]))
    for j, c in enumerate(budgets):
        kind, checked = kind_of(c, held_flops, largest_fitted, smallest_fitted)
        row = {"flops": float(c), "times_largest_run": float(c / largest_fitted),
               "kind": kind, "held_out_runs_near": checked,
               "N_opt": float(n[j]), "D_opt": float(d[j]),
               "tokens_per_param": float(d[j] / n[j]), "loss": float(loss[j])}
        if k != own_k:  # N* D* = C / k in the table's count, not the law's
            row["flops_per_param_token"] = k
        outside = outside_shapes(n[j], d[j], shapes)
        if kind == "interpolation" and outside:  # inside the runs' compute, not their shapes
            row.update(kind="extrapolation", outside_fitted="; ".join(outside))
        beyond = outside_shapes(n[j], d[j], every_run, "of any run")
        if kind == "prediction" and beyond:  # a held-out run checks the compute, not this shape
            row.update(kind=BEYOND_RUNS, outside_runs="; ".join(beyond))
        if draws:
            row["N_opt_ci95"] = list(percentile_ci(n_d[:, j]))
            row["D_opt_ci95"] = list(percentile_ci(d_d[:, j]))
            row["tokens_per_param_ci95"] = list(percentile_ci(d_d[:, j] / n_d[:, j]))
            row["loss_ci95"] = list(percentile_ci(l_d[:, j]))
            if law.predicts_loss:
                with np.errstate(over="ignore"):  # a draw beyond 1e308: the interval is unbounded
                    bounds = np.exp(percentile_ci(observed[:, j]))
                row["loss_pi95"] = observation_interval(bounds, row["loss_ci95"])
                if beyond_reach(c, largest_fitted):  # the scatter's trend is not carried that far
                    row["loss_pi95"] = [float("nan"), float("nan")]
                    row["loss_pi95_note"] = NO_PI_BEYOND_REACH
        rows.append(row)
    return rows


def n_convention_note(result: FitResult, frame, convention: str | None) -> str:
    """What N means in ``project``'s rows for this result."""
    k, emb = budget_basis(result, frame, convention)
    if emb is not None:
        said = emb.describe()
        own = _flops_per_param_token(result)
        if k != own:  # flops = 9 N D: its budgets are in that count, not the law's 6 N D
            said += f", at budgets in the table's own count C = {k:.3g} N D (the law's is {own:g} N D)"
        return said
    return fit_n_note(result.extra)


# --- held-out runs: prediction intervals for the observed loss ----------------------------------

def draw_predictions(result: FitResult, N, D, **extra) -> tuple[np.ndarray, np.ndarray | None]:
    """(point, preds): the fitted law's prediction at each (N, D), and each bootstrap draw's, one
    row per draw (``_draw_values``: the draws finite in every parameter); preds is None without
    draws."""
    law = law_for(result.law)
    k = _flops_per_param_token(result)
    N = np.asarray(N, float)
    D = np.asarray(D, float)
    point = np.asarray(law.predict(result.values(), N, D, k, **extra), float)
    draws = _draw_values(result)
    preds = np.array([np.asarray(law.predict(v, N, D, k, **extra), float) for v in draws]) if draws else None
    return point, preds


def prediction_intervals(result: FitResult, N, D, *, level: float = 0.95, seed: int = 0,
                         times_largest_run=None, drawn=None, independent_points: bool = False,
                         **extra) -> dict:
    """Point prediction and a ``level`` interval for the observed loss at each (N, D).

    Each bootstrap draw's prediction times exp(a residual drawn from the fit's own scaled
    log residuals, brought to the scale of the runs' scatter at N: `scatter.law_scatter`):
    the law's uncertainty and the runs' scatter together; ``pi95_scatter`` says which scatter
    it drew. Without draws the interval holds the scatter only, and says so. On synthetic
    Chinchilla runs with known truth (20 and 30 runs, 1x to 100x the largest fitted compute)
    it holds an observation 94-98% of the time whether the runs' noise is the same at every
    size, grows or falls as N^+-0.15 (bench/bench_law_intervals.py --noise, bench/README.md).

    Each point's interval depends on its own (N, D) and ``seed`` alone, not on the other points
    asked for (``Scatter.draw``: one residual per bootstrap draw); ``independent_points``: a
    residual per point instead (calibrate: coverage over many points wants independent draws).
    ``times_largest_run``: each point's compute in multiples of the largest fitted run's (as the
    caller states its distance);
    a point beyond ``REACH`` gets no interval (NaN) and the note says why (``NO_PI_BEYOND_REACH``).
    None: every point gets one. ``drawn``: ``draw_predictions``' (point, preds) at these (N, D),
    for a caller that reads the draws' predictions too (None: predicted here).
    """
    N = np.asarray(N, float)
    D = np.asarray(D, float)
    point, preds = draw_predictions(result, N, D, **extra) if drawn is None else drawn
    scatter = law_scatter(result)
    rng = np.random.default_rng(seed)
    note = ""
    if preds is None:
        note = "no bootstrap draws: the interval holds the runs' scatter only"
        preds = np.tile(point, (max(200, scatter.residuals.size), 1))
    with np.errstate(all="ignore"):
        log_preds = np.log(preds)
        log_n = np.log(np.broadcast_to(N, point.shape))
    if scatter.residuals.size:
        log_preds = log_preds + scatter.draw(rng, log_preds.shape, log_n,
                                             slope_rng=np.random.default_rng([seed, 1]),
                                             per_point=independent_points)
    else:
        note = (note + "; " if note else "") + "too few runs for a residual scatter"
    tail = (1 - level) / 2 * 100
    lo, hi = np.nanpercentile(log_preds, [tail, 100 - tail], axis=0) \
        if log_preds.shape[0] >= 2 else (np.full(N.shape, np.nan),) * 2
    far = (np.zeros(point.shape, bool) if times_largest_run is None else  # NaN: not far
           np.broadcast_to(beyond_reach(times_largest_run, 1.0), point.shape))
    if far.any():
        lo, hi = np.where(far, np.nan, lo), np.where(far, np.nan, hi)
        note = (note + "; " if note else "") + (f"{NO_PI_BEYOND_REACH} ({int(far.sum())} of "
                                                f"{far.size} {'point' if far.size == 1 else 'points'})")
    with np.errstate(over="ignore"):  # a draw beyond 1e308: the interval is unbounded (inf)
        out = {"predicted": point.tolist(), "pi95_lo": np.exp(lo).tolist(),
               "pi95_hi": np.exp(hi).tolist(), "pi95_scatter": scatter.describe()}
    if note:
        out["pi95_note"] = note
    return out


def prediction_inputs(result: FitResult, table) -> tuple[np.ndarray, np.ndarray]:
    """(N, D) to predict ``table``'s runs with ``prediction_intervals``: the table's own, or for
    a law of compute alone (kaplan-c, fitted to the flops column) N = C / k and D = 1, so that
    the law reads the runs' own C = k N D. (With N, D it read 6 x params_nonembed x tokens, the
    N a Kaplan law counts: 9-36% of the shipped runs' flops, and held-out errors of 9% for 4%.)"""
    if "N" in law_for(result.law).needs or "D" in law_for(result.law).needs:
        return table.N, table.D
    return table.C / _flops_per_param_token(result), np.ones(len(table.C))


def table_predictions(result: FitResult, table, values: dict) -> np.ndarray:
    """The law of ``result`` at ``table``'s runs from paper-named ``values``, read as
    ``prediction_intervals`` reads them: ``prediction_inputs``, the result's own C = k N D and
    the law's extra variables (Muennighoff's U_D)."""
    law = law_for(result.law)
    extra = table.variables(law.extra_variables())
    return np.asarray(law.predict(values, *prediction_inputs(result, table),
                                  _flops_per_param_token(result), **extra), float)


def holdout_predictions(result: FitResult, held_table, *, largest_fitted: float,
                        seed: int = 0) -> dict:
    """The held-out block: relative errors, each run's 95% prediction interval for its observed
    loss, whether the observation fell inside, and its distance from the fitted runs.

    A run beyond ``REACH`` x the largest fitted compute (``beyond_reach``) gets no interval (NaN,
    ``pi95_note`` says why: ``NO_PI_FOR_FAR_RUN``), as a budget row there gets none: its
    ``inside_pi95`` is None, ``pi95_coverage`` counts the others (NaN where none is scored),
    ``pi95_unscored`` how many were left out (the key only where some were). Its point prediction
    and error stay, in ``mean_abs_rel_error`` too (calibrate keeps them the same way)."""
    from scalefit.scaling.holdout import holdout_errors
    law = law_for(result.law)
    extra = held_table.variables(law.extra_variables())
    times = held_table.C / largest_fitted
    pi = prediction_intervals(result, *prediction_inputs(result, held_table), seed=seed,
                              times_largest_run=times, **extra)
    out = holdout_errors(pi["predicted"], held_table.L)
    observed = held_table.L
    inside = (observed >= np.asarray(pi["pi95_lo"])) & (observed <= np.asarray(pi["pi95_hi"]))
    far = beyond_reach(times, 1.0)  # as prediction_intervals reads it: no interval, none to score
    scored = inside[~far]
    out.update({"flops": held_table.C.tolist(),
                "times_largest_run": times.tolist(),
                "kind": "prediction", "observed": observed.tolist(), **pi,
                "inside_pi95": [None if f else bool(i) for i, f in zip(inside, far)] if far.any()
                else inside.tolist(),
                "pi95_coverage": float(scored.mean()) if scored.size else float("nan")})
    if far.any():
        out["pi95_unscored"] = int(far.sum())
        # prediction_intervals' note speaks of budget rows' curve interval, which this block has not
        out["pi95_note"] = out["pi95_note"].replace(NO_PI_BEYOND_REACH, NO_PI_FOR_FAR_RUN)
    return out


def reference_budgets_out_of_reach(largest_fitted: float) -> list[float]:
    """The published budgets the default rule leaves out (beyond ``REACH`` x the runs)."""
    return [c for c in REFERENCE_BUDGETS if beyond_reach(c, largest_fitted)]


def budget_convention(frame) -> str | None:
    """The one convention every budget table states N in: total parameters ('params', the N
    the table's own flops count, so a budget means the same compute as 'x largest run') when
    the table has them; None (each law's own N) when it has only one count."""
    return TOTAL if frame is not None and TOTAL in frame.columns else None


def project_allocation(result: FitResult, budgets=None, *, largest_fitted: float,
                       held_flops=(), frame=None, smallest_fitted: float = 0.0) -> FitResult:
    """Replace the allocation's fixed reference budgets with ``project``'s rows, so a fit's
    JSON never holds an unlabelled extrapolation (in place). With the runs' ``frame``, N is
    stated in ``budget_convention`` (a non-embedding law converted with the runs' embedding
    counts, as compare does), and ``budget_convention`` in the allocation says so, with
    ``budget_n_counts`` (``FitResult.budget_n_counts``: what the rows' N_opt counts, in the words
    of budgets_frame's N_counts column)."""
    alloc = result.extra.get("allocation")
    if not alloc or "budgets" not in alloc:
        return result
    given = budgets is not None
    if budgets is None:
        budgets = default_budgets([largest_fitted], held_flops)
    convention = budget_convention(frame)
    alloc["budgets"] = project(result, budgets, frame=frame, largest_fitted=largest_fitted,
                               held_flops=held_flops, smallest_fitted=smallest_fitted,
                               convention=convention)
    alloc["budget_convention"] = (n_convention_note(result, frame, convention)
                                  if frame is not None else fit_n_note(result.extra))
    converted = frame is not None and convert_embedding(result, frame, convention) is not None
    result.budget_n_counts = n_counts_words(result.extra, converted)  # what budgets_frame's N* counts
    alloc["budget_n_counts"] = result.budget_n_counts  # and --json's: what the rows' N_opt counts
    alloc["largest_fitted_flops"] = float(largest_fitted)
    if given:  # --budget's: the published budgets are not left out for their distance
        alloc["budgets_given"] = True
    if any("loss_pi95" in row for row in alloc["budgets"]):
        alloc["pi95_scatter"] = law_scatter(result).describe()
    return result


SUB_UNIT_TAIL = (": meaningless as an allocation, a sign that the runs do not separate the law's N and "
                 "D terms, so its optimum is an artefact of the fit, not a size to train")


def sub_unit_optimum_warning(rows, prefix: str = "") -> str | None:
    """A warning when a projected N* or D* (``rows``: budget rows, keys ``prefix + 'N_opt'``) is
    below 1: no model has under one parameter, nor trains on under one token, so the number is
    meaningless; it comes from a law whose N and D terms the runs did not separate."""
    parts = []
    for key, symbol, unit in (("N_opt", "N*", "parameter"), ("D_opt", "D*", "token")):
        low = [r for r in rows if np.isfinite(r.get(prefix + key, np.nan)) and r[prefix + key] < 1]
        if low:
            parts.append(f"{symbol} = {low[0][prefix + key]:.3g} at {low[0]['flops']:.3g} FLOPs "
                         f"(below 1 at {len(low)} of {len(rows)} budgets) is under one {unit}")
    if not parts:
        return None
    return "; ".join(parts) + SUB_UNIT_TAIL

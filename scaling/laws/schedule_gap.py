"""Issue 14 section 4: why Kaplan and Chinchilla disagree, answered on one suite.

The same law form (Chinchilla, L = E + A/N^alpha + B/D^beta, N all parameters as the grid
counts it) is fitted to four point sets of one suite, all measured on one evaluation set:

- (i) ``kaplan``: each size's long cosine run read at the grid lengths (mid-schedule checkpoints,
  Kaplan et al.'s kind of point);
- (ii) ``grid``: each size at each length with its own warmup + cosine (Hoffmann et al.'s);
  the long run's final is the grid run of its length;
- (iii) ``wsd``: the WSD cooldown finals (one constant-LR run per size, cooled down at each
  length; Hagele et al. 2024), beside (ii') ``grid-wsd-sizes``, the grid on the same sizes;
- (iv) ``corrected``: the points of (i), each moved by a schedule law fitted on its long run to
  what a run whose own schedule ends there would reach (`matched_schedule_points`'s schedule).

For each set: the allocation exponent a (N* ~ C^a) and the compute-optimal loss at 10x and 100x
the set's largest compute (projections), with 95% bootstrap intervals. Then the share of the
Kaplan/Chinchilla gap the schedule explains, (a_iv - a_i) / (a_ii - a_i) (and the same for the
loss at 10x), from paired resamples: one draw of (size, length) keys (or of sizes) serves every
set, and in the same draw each long run's schedule law is refitted on a block resample of its
checkpoints, so (iv) carries the law's uncertainty and the ratio's interval the sets'
correlation. Beside it, `grid_prediction_test` predicts the grid and WSD finals from the long
runs. The report's sentences are computed from these numbers.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from scalefit.errors import InputError
from scalefit.schedule import LRSchedule
from scalefit.scaling.fitresult import FitResult, percentile_ci
from scalefit.scaling.interval_text import interval_ends
from scalefit.scaling.laws import schedule_areas as areas
from scalefit.scaling.laws.bootstrap import batched_huber_refit, refit_reference
from scalefit.scaling.laws.curve_fit import bootstrap_units, law_of
from scalefit.scaling.laws.curves import curves_from_schedules, loss_rows
from scalefit.scaling.laws.fit import fit_law
from scalefit.scaling.laws.projection import DATA_MULTIPLES
from scalefit.scaling.laws.registry import law_for
from scalefit.scaling.laws.schedule_prediction import grid_prediction_test
from scalefit.scaling.objective import HUBER_DELTA, huber
from scalefit.scaling.resample import MIN_RESAMPLES_FOR_VERDICT, resample_indices, too_few_resamples
from scalefit.schema import FLOPS_PER_PARAM_TOKEN

FORM = "chinchilla"  # the one law form fitted to every point set
SETS = {  # name -> label, in the order of the report
    "kaplan": "(i) Kaplan-style: long-run checkpoints",
    "grid": "(ii) Chinchilla-style grid",
    "grid-kaplan-steps": "(ii) grid at the Kaplan-style points",
    "corrected": "(iv) Kaplan-style, schedule-corrected",
    "wsd": "(iii) WSD cooldowns",
    "grid-wsd-sizes": "(ii') grid, same sizes as (iii)",
}
CHECKPOINT_COLUMNS = ("model", "step", "tokens", "lr", "dataset", "metric", "value", "part",
                      "params")
FINALS_COLUMNS = ("model", "step", "tokens", "lr", "dataset", "metric", "value", "part", "params",
                  "total_steps", "warmup_steps", "lr_peak")
UNITS = ("run", "size")
CORRECTIONS = ("ratio", "law")
# the matched schedule of `matched_schedule_points`: the grid recipe's warmup for a run that ends
# at `step` (1% of its steps, at least 10), the long run's peak, final ratio and style
MATCHED_WARMUP_FRAC = 0.01
MATCHED_WARMUP_MIN = 10
MIN_SIZES, MIN_LENGTHS = 3, 3  # fewer distinct sizes or lengths do not identify the form


@dataclass
class PointSet:
    """One point set, its Chinchilla fit, a and the projected losses with 95% intervals."""

    name: str
    label: str
    points: pd.DataFrame  # model, size, params, step, tokens, flops, loss
    fit: FitResult
    a: float
    a_ci95: tuple
    largest_flops: float
    budgets: list  # {multiple, flops, kind, loss, loss_ci95}
    n_failed: int = 0
    draws: dict = field(default_factory=dict, repr=False)  # a, loss@budget per resample

    def frontier(self, flops) -> np.ndarray:
        """The fitted form's compute-optimal loss L*(C) at ``flops``."""
        k = self.fit.extra["allocation"]["flops_per_param_token"]
        return _optimal_loss(law_for(FORM), self.fit.values(), np.atleast_1d(flops), k)[0]

    def to_dict(self) -> dict:
        return {"name": self.name, "label": self.label, "n_points": int(len(self.points)),
                "sizes": sorted(self.points["size"].astype(str).unique()),
                "steps": sorted(int(s) for s in self.points["step"].unique()),
                "a": self.a, "a_ci95": list(self.a_ci95),
                "params": {k: v for k, v in self.fit.values().items()},
                "largest_flops": self.largest_flops, "budgets": self.budgets,
                "bootstrap_failed": self.n_failed, "warnings": list(self.fit.warnings),
                "points": self.points.to_dict(orient="records")}


# what each column of ScheduleGap.table() (the CLI's schedule_gap.csv) holds, M standing for a
# budget multiple (10x, 100x); report.md lists them (schedule_gap_report.columns_section)
TABLE_COLUMNS = {
    "set": "the point set, labelled as the printed table labels it",
    "n": "the number of (size, length) points the set's Chinchilla-form fit was fitted to",
    "a": "the allocation exponent a (N* ~ C^a) of the set's fit",
    "flops@Mx": "the compute the projection stands at (FLOPs): M times the set's own largest compute "
                "fitted",
    "projected_loss@Mx": "the fitted form's compute-optimal loss at flops@Mx (nats/token): a "
                         "projection beyond the runs' compute",
    "correction_shift_a": "the corrected set's a minus the Kaplan-style set's, paired (on the "
                          "corrected set's row; empty on the others)",
    "correction_shift_projected_loss@Mx": "the corrected set's projected_loss@Mx minus the "
                                          "Kaplan-style set's (nats/token), paired (on the "
                                          "corrected set's row; empty on the others)",
}
TABLE_ENDS = ("_lo", "_hi")  # a column's 95% interval: the ends of its paired-resample percentiles


@dataclass
class ScheduleGap:
    """The four point sets, the explained share of the gap, the prediction test, sentences."""

    sets: dict  # name -> PointSet
    shares: dict  # 'a', 'loss_10x', ... -> stated_share's: value (None: not reported), ci95, gap, ...
    comparisons: dict  # 'wsd_vs_grid' (paired a difference), '<set>_vs_grid_points',
    # 'corrected_vs_kaplan_points', 'prediction' (prediction_differences)
    prediction: object  # schedule_prediction.GridPrediction
    sentences: list
    settings: dict
    warnings: list = field(default_factory=list)

    def __str__(self) -> str:
        """What `scalefit compare kaplan chinchilla --schedules` prints (schedule_gap_report.gap_text)."""
        from scalefit.scaling.laws.schedule_gap_report import gap_text
        return gap_text(self)

    def table(self) -> pd.DataFrame:
        """set, n points, a [CI]; per budget multiple M the FLOPs the set's projection stands at
        (``flops@Mx``: M times the set's own largest compute, the JSON's budgets' flops) and the
        projected compute-optimal loss [CI] (``projected_loss@Mx``, the JSON's kind
        'projection'); and on the corrected set's row the correction's paired shift of a and of
        each projected loss from the Kaplan-style set's (``correction_shift_*``, the JSON's
        shares' shift and shift_ci95). The CLI's schedule_gap.csv."""
        rows = []
        for s in self.sets.values():
            row = {"set": s.label, "n": len(s.points), "a": s.a,
                   "a_lo": s.a_ci95[0], "a_hi": s.a_ci95[1]}
            for b in s.budgets:
                tag = f"{b['multiple']:g}x"
                row[f"flops@{tag}"] = b["flops"]
                row[f"projected_loss@{tag}"], row[f"projected_loss@{tag}_lo"], \
                    row[f"projected_loss@{tag}_hi"] = (b["loss"], *b["loss_ci95"])
            rows.append(row)
        table = pd.DataFrame(rows)
        for key, share in self.shares.items():
            if not isinstance(share, dict):
                continue
            column = "correction_shift_a" if key == "a" else \
                f"correction_shift_projected_loss@{key.removeprefix('loss_')}"
            values = [(share["shift"], *share["shift_ci95"]) if s == "corrected"
                      else (np.nan,) * 3 for s in self.sets]
            for j, suffix in enumerate(("", "_lo", "_hi")):
                table[column + suffix] = [v[j] for v in values]
        return table

    def to_dict(self) -> dict:
        return {"law_form": FORM, "settings": self.settings,
                "sets": {k: v.to_dict() for k, v in self.sets.items()},
                "shares": self.shares, "comparisons": self.comparisons,
                "prediction": {k: v for k, v in self.prediction.to_dict().items() if k != "fits"},
                "sentences": list(self.sentences), "warnings": list(self.warnings)}


# --- the point sets ------------------------------------------------------------------------------

def _check_columns(frame: pd.DataFrame, needed, name: str, source: str | None = None) -> None:
    """``source``: the file the table came from, named before the table's role (the CLI's)."""
    missing = [c for c in needed if c not in frame.columns]
    if missing:
        where = f"{source} (the {name} table)" if source else f"{name} table"
        raise InputError(f"{where}: column{'s' if len(missing) > 1 else ''} "
                         f"{', '.join(missing)} missing (needs {', '.join(needed)})")


def _loss(frame: pd.DataFrame, dataset: str) -> pd.DataFrame:
    return frame[(frame["metric"].astype(str) == "loss") &
                 (frame["dataset"].astype(str) == dataset)]


def _as_points(rows: pd.DataFrame, sizes: dict, step_column: str = "step") -> pd.DataFrame:
    """A run table (model, size, params, step, tokens, flops, loss) from loss rows."""
    params = rows["params"].astype(float)
    tokens = rows["tokens"].astype(float)
    flops = (rows["flops"].astype(float) if "flops" in rows.columns
             else FLOPS_PER_PARAM_TOKEN * params * tokens)
    flops = flops.where(flops > 0, FLOPS_PER_PARAM_TOKEN * params * tokens)
    out = pd.DataFrame({"model": rows["model"].astype(str).to_numpy(),
                        "size": [sizes.get(float(p), str(p)) for p in params],
                        "params": params.to_numpy(),
                        "step": rows[step_column].astype(int).to_numpy(),
                        "tokens": tokens.to_numpy(), "flops": flops.to_numpy(),
                        "loss": rows["value"].astype(float).to_numpy()})
    out = out.drop_duplicates(["params", "step"]).sort_values(["params", "step"])
    return out.reset_index(drop=True)


def _cooldown_finals(finals: pd.DataFrame) -> pd.DataFrame:
    """The wsd part's cooldown branches (not its constant-LR run)."""
    wsd = finals[finals["part"].astype(str) == "wsd"]
    if "schedule" in wsd.columns:
        return wsd[wsd["schedule"].astype(str) != "constant"]
    if "cooldown_fraction" in wsd.columns:
        return wsd[wsd["cooldown_fraction"].notna()]
    return wsd[~wsd["model"].astype(str).str.endswith("constant")]


def matched_schedule(step: int, peak: float, final_ratio: float, style: str = "cosine"):
    """The schedule of a run that ends at ``step`` (matched_schedule_points' rule)."""
    return LRSchedule(peak=peak, warmup_steps=max(MATCHED_WARMUP_MIN,
                                                  int(MATCHED_WARMUP_FRAC * step)),
                      decay_steps=int(step), final_ratio=round(final_ratio, 6), style=style)


@dataclass
class _Correction:
    """One long run's schedule law, evaluated at its Kaplan steps: on its own LR (long) and on
    the schedule that ends there (matched), for the fit and for each bootstrap draw."""

    steps: np.ndarray
    log_ratio: np.ndarray  # log L_matched - log L_long at each step (the fit)
    log_matched: np.ndarray  # log L_matched (the fit)
    draws_log_ratio: np.ndarray | None = None  # (B, steps)
    draws_log_matched: np.ndarray | None = None
    draws_objective: np.ndarray | None = None  # (B,) each draw's Huber objective on its points


def _law_terms(fit: FitResult, run: pd.DataFrame, steps: np.ndarray):
    """(law, free names, theta of the fit, bounds, indep at the long run's steps, indep at the
    matched schedules' ends)."""
    model = law_of(fit)
    names = model.free_params()
    params = fit.model_result.params
    theta = np.array([params[n].value for n in names], float)
    bounds = (np.array([params[n].min for n in names], float),
              np.array([params[n].max for n in names], float))
    run = run.sort_values("step")
    eta = areas.lr_per_step(run["step"], run["lr"])
    peak = float(run["lr"].max())
    ratio = float(run["lr"].iloc[-1]) / peak
    scale = fit.extra["lr_scale"]
    long = model.independent_values(curves_from_schedules({"long": eta}, {"long": steps},
                                                          lr_scale=scale))
    schedules = {str(s): matched_schedule(s, peak, ratio) for s in steps}
    matched = model.independent_values(curves_from_schedules(
        schedules, {str(s): np.array([s]) for s in steps}, lr_scale=scale))
    return model, names, theta, bounds, long, matched


def _law_func(model, names):
    def func(*theta, **x):
        return model.func(**x, **dict(zip(names, theta)))
    return func


def _refit_counts(func, theta0, bounds, indep, log_loss, counts, delta):
    """Refit every row of ``counts`` (weights over the same points; ``log_loss`` (n,) or one
    row of targets per resample) in one batch; a row the batch leaves unconverged is refitted
    alone by the engine's reference method."""
    thetas, ok = batched_huber_refit(func, theta0, bounds, indep, log_loss, delta, counts)
    for i in np.flatnonzero(~ok):
        idx = np.repeat(np.arange(counts.shape[1]), counts[i].astype(int))
        target = log_loss[i] if log_loss.ndim == 2 else log_loss
        thetas[i], ok[i] = refit_reference(func, theta0, bounds,
                                           {k: v[idx] for k, v in indep.items()},
                                           target[idx], delta)
    return thetas, ok


def _correction(fit: FitResult, run: pd.DataFrame, steps: np.ndarray, n_bootstrap: int,
                seed: int, delta: float, warnings: list) -> _Correction:
    model, names, theta, bounds, long, matched = _law_terms(fit, run, steps)
    func = _law_func(model, names)
    log_long = func(*theta, **long)
    log_matched = func(*theta, **matched)
    out = _Correction(steps, log_matched - log_long, log_matched)
    if n_bootstrap <= 0:
        return out
    curves = fit.components["curves"]
    indep = model.independent_values(curves)
    try:
        cols = [np.full((2, 1), t) for t in theta]
        broadcasts = np.shape(func(*cols, **indep)) == (2, curves.step.size)
    except Exception:  # noqa: BLE001 - a law whose terms depend on its parameters
        broadcasts = False
    if not broadcasts:
        warnings.append(f"{fit.law}: the schedule law is held at its fit in the bootstrap "
                        "(its refits do not batch); (iv)'s intervals leave its uncertainty out")
        return out
    units, _ = bootstrap_units(curves)
    counts = np.zeros((n_bootstrap, curves.step.size))
    for b, draw in enumerate(resample_indices(len(units), n_bootstrap, seed)):
        for u in draw:
            counts[b, units[u]] += 1.0
    log_loss = np.log(curves.loss)
    thetas, ok = _refit_counts(func, theta, bounds, indep, log_loss, counts, delta)
    cols = [thetas[:, j:j + 1] for j in range(len(names))]
    with np.errstate(all="ignore"):
        d_long, d_matched = func(*cols, **long), func(*cols, **matched)
        objective = (counts * huber(log_loss[None, :] - func(*cols, **indep), delta)).sum(axis=1)
    d_long[~ok], d_matched[~ok], objective[~ok] = np.nan, np.nan, np.nan
    out.draws_log_ratio, out.draws_log_matched = d_matched - d_long, d_matched
    out.draws_objective = objective
    return out


# --- fitting the form to every resample ----------------------------------------------------------

def _fit_set(name: str, points: pd.DataFrame, delta: float) -> FitResult:
    try:
        return fit_law(points[["model", "step", "params", "tokens", "flops", "loss"]], FORM,
                       delta=delta, n_bootstrap=0)
    except InputError as exc:
        raise InputError(f"point set {name}: {exc}") from None


def _optimal_loss(law, values: dict, flops, k: float) -> np.ndarray:
    """L*(C) of the form at budgets ``flops`` for (arrays of) paper values: rows x budgets."""
    flops = np.asarray(flops, float)[None, :]
    vals = {key: np.atleast_1d(np.asarray(v, float))[:, None] for key, v in values.items()}
    with np.errstate(all="ignore"):
        n_opt = np.exp(law.log_frontier(vals, flops, k))
        return law.predict(vals, n_opt, flops / (k * n_opt), k)


def _paper_arrays(law, thetas: np.ndarray) -> dict:
    names = law.free_params()
    return {n: (np.exp(thetas[:, names.index(f"log_{n}")]) if n in law.log_scales
                else thetas[:, names.index(n)]) for n in law.paper_names}


def _set_draws(law, fit: FitResult, points: pd.DataFrame, counts: np.ndarray,
               log_targets: np.ndarray | None, delta: float, budgets) -> tuple[dict, int]:
    """a and L*(budgets) of every resample (rows of ``counts`` over the set's points);
    ``log_targets`` (B, n): per-resample log losses (the corrected set), else the measured."""
    names = law.free_params()
    params = fit.model_result.params
    theta0 = np.array([params[n].value for n in names], float)
    bounds = (np.array([params[n].min for n in names], float),
              np.array([params[n].max for n in names], float))
    indep = {"N": points["params"].to_numpy(float), "D": points["tokens"].to_numpy(float)}
    func = _law_func(law, names)
    B = counts.shape[0]
    thetas = np.full((B, len(names)), np.nan)
    ok = np.zeros(B, bool)
    size_id = pd.factorize(points["params"])[0]
    step_id = pd.factorize(points["step"])[0]
    usable = np.array([np.unique(size_id[c > 0]).size >= MIN_SIZES and
                       np.unique(step_id[c > 0]).size >= MIN_LENGTHS for c in counts])
    if log_targets is None:
        log_targets = np.log(points["loss"].to_numpy(float))
    else:
        usable &= np.all(np.isfinite(log_targets), axis=1)
        log_targets = log_targets[usable]
    rows = np.flatnonzero(usable)
    if rows.size:
        thetas[rows], ok[rows] = _refit_counts(func, theta0, bounds, indep, log_targets,
                                               counts[rows], delta)
    thetas[~ok] = np.nan
    values = _paper_arrays(law, thetas)
    a = values["beta"] / (values["alpha"] + values["beta"])
    k = fit.extra["allocation"]["flops_per_param_token"]
    return {"a": a, "loss": _optimal_loss(law, values, budgets, k)}, int(B - ok.sum())


def _point_set(name, points, fit, draws, n_failed, k_budgets) -> PointSet:
    alloc = fit.extra["allocation"]
    largest = float(points["flops"].max())
    budgets = []
    point_loss = _optimal_loss(law_for(FORM), fit.values(), k_budgets,
                               alloc["flops_per_param_token"])[0]
    for j, m in enumerate(DATA_MULTIPLES):
        ci = percentile_ci(draws["loss"][:, j]) if draws else (np.nan, np.nan)
        budgets.append({"multiple": float(m), "flops": float(k_budgets[j]), "kind": "projection",
                        "loss": float(point_loss[j]), "loss_ci95": [float(c) for c in ci]})
    a_ci = percentile_ci(draws["a"]) if draws else (np.nan, np.nan)
    return PointSet(name, SETS[name], points, fit, float(alloc["a"]), tuple(a_ci), largest,
                    budgets, n_failed, draws)


def _key_counts(points: pd.DataFrame, keys: pd.DataFrame, key_counts: np.ndarray) -> np.ndarray:
    """(B, n_points) counts of a set's points from the draws' counts over (params, step) keys."""
    index = {(float(p), int(s)): i for i, (p, s) in enumerate(zip(keys["params"], keys["step"]))}
    cols = [index.get((float(p), int(s))) for p, s in zip(points["params"], points["step"])]
    out = np.zeros((key_counts.shape[0], len(points)))
    for j, c in enumerate(cols):
        if c is not None:
            out[:, j] = key_counts[:, c]
    return out


def _draw_keys(keys: pd.DataFrame, n_bootstrap: int, seed: int, unit: str,
               by: str = "params") -> np.ndarray:
    """(B, n_keys) counts: keys drawn with replacement (unit 'run'), or sizes (the distinct
    values of column ``by``) drawn with replacement, each bringing all its keys (unit 'size')."""
    if unit == "run":
        idx = resample_indices(len(keys), n_bootstrap, seed)
        counts = np.zeros((n_bootstrap, len(keys)))
        np.add.at(counts, (np.repeat(np.arange(n_bootstrap), len(keys)), idx.ravel()), 1.0)
        return counts
    size_id, sizes = pd.factorize(keys[by])
    idx = resample_indices(len(sizes), n_bootstrap, seed)
    per_size = np.zeros((n_bootstrap, len(sizes)))
    np.add.at(per_size, (np.repeat(np.arange(n_bootstrap), len(sizes)), idx.ravel()), 1.0)
    return per_size[:, size_id]


# --- the analysis ------------------------------------------------------------------------------

def _share(num_draws, den_draws, num, den) -> dict:
    """(x_iv - x_i) / (x_ii - x_i): the value, its paired-bootstrap interval, the gap's."""
    gap_ci = percentile_ci(den_draws)
    identified = bool(np.all(np.isfinite(gap_ci)) and (gap_ci[0] > 0 or gap_ci[1] < 0))
    with np.errstate(all="ignore"):
        ratio = num_draws / den_draws
    return {"value": float(num / den) if den != 0 else float("nan"),
            "ci95": [float(c) for c in percentile_ci(ratio)],
            "gap": float(den), "gap_ci95": [float(c) for c in gap_ci],
            "shift": float(num), "shift_ci95": [float(c) for c in percentile_ci(num_draws)],
            "identified": identified}


SHARE_UNIT = "fraction of the Kaplan-to-grid gap (1 = all of it)"


def share_refusal(share: dict, n_bootstrap: int) -> str | None:
    """Why an explained share is not reported, or None where it is: the one rule of the text
    (``schedule_gap_report.explain``), the JSON (``stated_share``) and the figure. A ratio over a
    gap that its resamples cannot tell from 0 is noise (-172 with an interval [-91, 43] that
    does not hold it); so are the intervals of too few resamples, and none at all. The reason's
    kind is ``refusal_kind``'s (the figure's title words it too)."""
    kind = refusal_kind(share, n_bootstrap)
    if kind == "none":
        return ("no resamples (--bootstrap 0): nothing tells whether there is a gap for the "
                "schedule to explain")
    if kind == "rough":
        return (f"{n_bootstrap} resamples cannot tell whether there is a gap for the schedule to "
                f"explain (run with --bootstrap {2 * MIN_RESAMPLES_FOR_VERDICT} or more)")
    if kind is not None:  # 'no_interval', 'holds_zero': unidentified_share says which
        return unidentified_share(share.get("gap_ci95"), share.get("gap"))
    return None


def refusal_kind(share: dict, n_bootstrap: int) -> str | None:
    """Why an explained share is not reported, as a kind, in share_refusal's order: 'none' (no
    resamples), 'rough' (too few), 'no_interval' (the gap has no finite interval), 'holds_zero'
    (the gap's interval holds 0); None where the share is reported. share_refusal and the
    figure's title (schedule_plots) each put it in their words."""
    if not n_bootstrap:
        return "none"
    if too_few_resamples(n_bootstrap):
        return "rough"
    if not share["identified"]:
        gap_ci = share.get("gap_ci95")
        finite = gap_ci is not None and np.all(np.isfinite(np.asarray(gap_ci, float)))
        return "holds_zero" if finite else "no_interval"
    return None


def unidentified_share(gap_ci, gap=None) -> str:
    """Why a share over a gap with interval ``gap_ci`` is not identified, saying only what
    applies (the interval includes 0, or there is none): the one wording of the JSON's reason
    (share_refusal) and of the printed sentences (schedule_gap_report.explain). An interval that
    holds 0 holds gaps as large as its ends too, so the words say both: the runs find no gap and
    cannot exclude one of that size ('no gap for the schedule to explain' read an interval
    [-0.259, +0.263], as wide as the whole Kaplan/Chinchilla disagreement, as evidence that
    there is none). The ends are printed to the interval's precision (interval_text; ``gap``,
    the estimate, keeps them on its side)."""
    if gap_ci is None or not np.all(np.isfinite(np.asarray(gap_ci, float))):
        return "the Kaplan-to-grid gap has no bootstrap interval, so the share is not identified"
    lo, hi = interval_ends(gap_ci[0], gap_ci[1], gap, sign=True)
    return (f"the Kaplan-to-grid gap's 95% interval [{lo}, {hi}] includes 0, and gaps as large "
            f"as {lo} and {hi}: these runs find no gap but cannot exclude one of that size, so "
            "the share is not identified")


def stated_share(share: dict, n_bootstrap: int) -> dict:
    """``share`` as the JSON states it: a reported share with its ``unit``; one the text does not
    report with value and ci95 None and the ``reason`` (share_refusal's). The gap and the shift
    it divides stay, with their intervals: the text prints the gap."""
    reason = share_refusal(share, n_bootstrap)
    if reason is None:
        return {**share, "reported": True, "unit": SHARE_UNIT}
    return {**share, "value": None, "ci95": None, "reported": False, "reason": reason}


def schedule_gap(checkpoints: pd.DataFrame, finals: pd.DataFrame, *, dataset: str = "prose-val",
                 law: str = "momentum", n_bootstrap: int = 200, seed: int = 0,
                 unit: str = "run", correction: str = "ratio",
                 delta: float = HUBER_DELTA, lam: float | str | None = None) -> ScheduleGap:
    """Fit the Chinchilla form to the Kaplan-style, grid, WSD and schedule-corrected points of one
    suite and say how much of the Kaplan/Chinchilla gap in a the schedule explains.

    checkpoints: every checkpoint of the long runs (part 'long'); finals: every run's last
    checkpoint (parts 'grid', 'long', 'wsd'); long tables (metric/value rows of ``dataset``).
    law: the schedule law fitted on each long run (momentum; multi-power is held at its fit in
    the bootstrap). unit: what a resample draws, (size, length) keys ('run') or whole sizes
    ('size'); either way one draw serves every set. correction: 'ratio' moves each measured
    checkpoint by the law's matched/own-schedule ratio at that step; 'law' takes the law's loss
    for the matched schedule outright (`matched_schedule_points`'s loss_matched).
    """
    if unit not in UNITS:
        raise InputError(f"unit: '{unit}' is not one of {', '.join(UNITS)}")
    if correction not in CORRECTIONS:
        raise InputError(f"correction: '{correction}' is not one of {', '.join(CORRECTIONS)}")
    _check_columns(checkpoints, CHECKPOINT_COLUMNS, "checkpoints")
    _check_columns(finals, FINALS_COLUMNS, "finals")
    long = checkpoints[checkpoints["part"].astype(str) == "long"]
    if long.empty:
        raise InputError("checkpoints table: no long runs (part == 'long')")
    long_loss = _loss(long, dataset)
    if long_loss.empty:
        raise InputError(f"checkpoints table: the long runs have no '{dataset}' loss rows")
    fin = _loss(finals, dataset)
    grid_rows = fin[fin["part"].astype(str).isin(["grid", "long"])].drop_duplicates("model")
    if not (grid_rows["part"].astype(str) == "grid").any():
        raise InputError(f"finals table: no grid runs (part == 'grid') with '{dataset}' loss")
    size_col = "size" if "size" in long_loss.columns else "model"
    sizes = {float(p): str(s) for p, s in zip(long_loss["params"], long_loss[size_col])}
    lengths = np.sort(grid_rows["total_steps"].astype(int).unique())

    warnings: list[str] = []
    with threadpool_limits(limits=1):
        targets = pd.concat([finals[finals["part"].astype(str) != "wsd"],
                             _cooldown_finals(finals)])
        profiled = lam == "profile"
        if profiled and not hasattr(law_for(law), "lam"):
            raise InputError(f"--lambda profile: law {law} has no momentum decay")
        prediction = grid_prediction_test(checkpoints, targets, law=law, dataset=dataset,
                                          parts=("grid", "wsd"), lam=None if profiled else lam,
                                          profile=hasattr(law_for(law), "lam"))
        kaplan = _as_points(long_loss[long_loss["step"].astype(int).isin(lengths)], sizes)
        kaplan = kaplan[kaplan["model"].isin(prediction.fits)].reset_index(drop=True)
        grid = _as_points(grid_rows, sizes, "total_steps")
        grid = grid[grid["params"].isin(long_loss["params"].astype(float))].reset_index(drop=True)
        wsd = _as_points(_cooldown_finals(fin), sizes, "total_steps")
        wsd = wsd[wsd["params"].isin(grid["params"])].reset_index(drop=True)

        members = {"grid": grid}
        decay = {"lambda": prediction.lam, "lambda_source": "fixed"}
        if _fittable(kaplan, "kaplan", warnings):
            members["kaplan"] = kaplan
            if profiled:
                members["corrected"], corr, lam_fit, lam_draws = _profiled_corrected_points(
                    kaplan, loss_rows(long, "loss", dataset), prediction.lambda_profile, correction,
                    n_bootstrap, seed, delta, warnings)
                decay = {"lambda": lam_fit, "lambda_source": "profiled",
                         "lambda_draws": ({f"{v:g}": int(n) for v, n in zip(*np.unique(
                             lam_draws[np.isfinite(lam_draws)], return_counts=True))}
                             if lam_draws is not None else None)}
            else:
                members["corrected"], corr = _corrected_points(
                    kaplan, loss_rows(long, "loss", dataset), prediction.fits, correction,
                    n_bootstrap, seed, delta, warnings)
            on_kaplan = grid.merge(kaplan[["params", "step"]], on=["params", "step"])
            if len(on_kaplan) < len(grid):  # the share compares the sets on the same points
                members["grid-kaplan-steps"] = on_kaplan
                warnings.append(f"the long runs have checkpoints at {len(kaplan)} of the grid's "
                                f"{len(grid)} (size, length) points; the share of the gap "
                                "compares them with the grid at those points")
        families = {"main": (grid, members)}
        if not wsd.empty:
            grid_w = grid[grid["params"].isin(wsd["params"])].reset_index(drop=True)
            families["wsd"] = (grid_w, {"wsd": wsd, "grid-wsd-sizes": grid_w})
        elif (finals["part"].astype(str) == "wsd").any():
            warnings.append("finals table: the wsd part has no cooldown finals of a long-run "
                            "size")
        sets = {}
        for keys, family in families.values():
            key_frame = keys[["params", "step"]].reset_index(drop=True)
            key_counts = (_draw_keys(key_frame, n_bootstrap, seed, unit)
                          if n_bootstrap > 0 else None)
            budgets = [m * float(keys["flops"].max()) for m in DATA_MULTIPLES]
            for name, points in family.items():
                if not _fittable(points, name, warnings):
                    continue
                fit = _fit_set(name, points, delta)
                draws, failed = {}, 0
                if key_counts is not None:
                    draws, failed = _set_draws(
                        law_for(FORM), fit, points, _key_counts(points, key_frame, key_counts),
                        _corrected_draws(kaplan, corr, correction, n_bootstrap)
                        if name == "corrected" else None, delta, budgets)
                sets[name] = _point_set(name, points, fit, draws, failed, budgets)
    sets = {k: sets[k] for k in SETS if k in sets}
    for s in sets.values():
        warnings += [f"point set {s.name}: {w}" for w in s.fit.warnings]
        if n_bootstrap and s.n_failed > 0.05 * n_bootstrap:
            warnings.append(f"point set {s.name}: {s.n_failed} of {n_bootstrap} resamples "
                            "could not be refitted (too few sizes or lengths drawn, or no "
                            "convergence)")
    from scalefit.scaling.laws.report import loss_unit

    settings = {"dataset": dataset, "schedule_law": law, "law_form": FORM,
                **decay,
                "lambda_profiled": (prediction.lambda_profile.lam
                                    if prediction.lambda_profile is not None else None),
                "n_bootstrap": n_bootstrap, "seed": seed, "resampling_unit": unit,
                "loss_unit": loss_unit("loss"),
                "correction": correction, "grid_steps": [int(s) for s in lengths],
                "kaplan_steps": sorted(int(s) for s in kaplan["step"].unique()),
                "budget_multiples": list(DATA_MULTIPLES)}
    comparisons = {**_comparisons(sets), "prediction": prediction_differences(
        prediction.targets, n_bootstrap, seed, unit)}
    gap = ScheduleGap(sets, _shares(sets, n_bootstrap), comparisons, prediction, [], settings,
                      warnings)
    from scalefit.scaling.laws.schedule_gap_report import explain

    gap.sentences = explain(gap)
    return gap


def _fittable(points: pd.DataFrame, name: str, warnings: list) -> bool:
    """Whether a point set has the sizes and lengths that identify the form (else a warning)."""
    n_sizes, n_steps = points["params"].nunique(), points["step"].nunique()
    if n_sizes >= MIN_SIZES and n_steps >= MIN_LENGTHS:
        return True
    warnings.append(f"point set {name}: {n_sizes} sizes at {n_steps} lengths; the form needs "
                    f"{MIN_SIZES} sizes at {MIN_LENGTHS} lengths or more; left out")
    return False


def _corrected_points(kaplan, rows, fits, correction, n_bootstrap, seed, delta, warnings):
    """(iv): the Kaplan-style points moved by each long run's schedule law; and the per-run
    corrections (with their bootstrap draws)."""
    corr = {}
    for i, (model, run) in enumerate(rows.groupby("model")):
        mine = kaplan[kaplan["model"] == model]
        if not mine.empty:
            corr[model] = _correction(fits[model], run, mine["step"].to_numpy(int),
                                      n_bootstrap, seed + 1 + i, delta, warnings)
    models = kaplan["model"].unique()
    log_ratio = np.concatenate([corr[m].log_ratio for m in models])
    log_matched = np.concatenate([corr[m].log_matched for m in models])
    corrected = kaplan.copy()
    corrected["loss_measured"] = kaplan["loss"]
    corrected["loss"] = (kaplan["loss"] * np.exp(log_ratio) if correction == "ratio"
                         else np.exp(log_matched))
    return corrected, corr


def _profiled_corrected_points(kaplan, rows, profile, correction, n_bootstrap, seed, delta,
                               warnings):
    """(iv) with the momentum decay profiled: the fits of `profile` (schedule_prediction's
    LambdaProfile) at its λ give the points; each bootstrap draw takes the λ with the least
    summed objective of its own refits, so the intervals carry the choice of λ too. Returns
    (corrected points, per-run corrections, λ of the fit, λ of each draw)."""
    models = list(kaplan["model"].unique())
    grid = list(profile.fits)
    by_lam, notes = [], []
    for lam in grid:
        notes.append([])
        by_lam.append(_corrected_points(kaplan, rows, profile.fits[lam], correction, n_bootstrap,
                                        seed, delta, notes[-1]))
    best = grid.index(profile.lam)
    warnings += notes[best]
    corrected, corr = by_lam[best]
    if n_bootstrap <= 0 or any(c.draws_objective is None for c in corr.values()):
        return corrected, corr, profile.lam, None
    objective = np.array([sum(c[m].draws_objective for m in models) for _, c in by_lam])  # (λ, B)
    finite = np.isfinite(objective)
    pick = np.where(finite.any(axis=0), np.argmin(np.where(finite, objective, np.inf), axis=0), -1)
    drawn = {}
    for m in models:
        ratio = np.full_like(corr[m].draws_log_ratio, np.nan)
        matched = np.full_like(corr[m].draws_log_matched, np.nan)
        for k, (_, c) in enumerate(by_lam):
            rows_k = pick == k
            ratio[rows_k], matched[rows_k] = c[m].draws_log_ratio[rows_k], c[m].draws_log_matched[rows_k]
        drawn[m] = _Correction(corr[m].steps, corr[m].log_ratio, corr[m].log_matched, ratio, matched)
    lam_draws = np.array([grid[k] if k >= 0 else np.nan for k in pick], float)
    return corrected, drawn, profile.lam, lam_draws


def _corrected_draws(kaplan: pd.DataFrame, corr: dict, correction: str,
                     n_bootstrap: int) -> np.ndarray:
    """(B, n) log losses of the corrected points under each draw of the schedule laws (a law
    without draws held at its fit)."""
    parts = []
    for model in kaplan["model"].unique():
        c = corr[model]
        draws = c.draws_log_ratio if correction == "ratio" else c.draws_log_matched
        if draws is None:
            draws = np.broadcast_to(c.log_ratio if correction == "ratio" else c.log_matched,
                                    (n_bootstrap, c.steps.size))
        parts.append(draws)
    draws = np.concatenate(parts, axis=1)
    if correction == "ratio":
        draws = np.log(kaplan["loss"].to_numpy(float))[None, :] + draws
    return draws


def _shares(sets: dict, n_bootstrap: int) -> dict:
    """Share of the Kaplan/Chinchilla gap the schedule correction closes, for a and L@10x/100x,
    as stated (``stated_share``: no value where it is not reported)."""
    if not all(k in sets for k in ("kaplan", "grid", "corrected")):
        return {}
    i, ii, iv = sets["kaplan"], sets.get("grid-kaplan-steps", sets["grid"]), sets["corrected"]
    out = {"comparator": ii.name}

    def draws(s, key, j=None):
        if not s.draws:
            return np.full(1, np.nan)
        return s.draws[key] if j is None else s.draws[key][:, j]
    out["a"] = stated_share(_share(draws(iv, "a") - draws(i, "a"), draws(ii, "a") - draws(i, "a"),
                                   iv.a - i.a, ii.a - i.a), n_bootstrap)
    for j, m in enumerate(DATA_MULTIPLES):
        li, lii, liv = (s.budgets[j]["loss"] for s in (i, ii, iv))
        out[f"loss_{m:g}x"] = stated_share(_share(draws(iv, "loss", j) - draws(i, "loss", j),
                                                  draws(ii, "loss", j) - draws(i, "loss", j),
                                                  liv - li, lii - li), n_bootstrap)
    return out


def _comparisons(sets: dict) -> dict:
    """WSD against the grid on the same sizes (paired difference of a); and how far the Kaplan
    and corrected points sit from the grid finals of the same (size, length)."""
    out = {}
    if "wsd" in sets and "grid-wsd-sizes" in sets:
        w, g = sets["wsd"], sets["grid-wsd-sizes"]
        diff = (w.draws["a"] - g.draws["a"]) if w.draws and g.draws else np.full(1, np.nan)
        out["wsd_vs_grid"] = {"a_difference": w.a - g.a,
                              "a_difference_ci95": [float(c) for c in percentile_ci(diff)],
                              "n_sizes": int(w.points["params"].nunique())}
    if "grid" in sets:
        grid = sets["grid"].points.set_index(["params", "step"])["loss"]
        for name in ("kaplan", "corrected", "wsd"):
            if name not in sets:
                continue
            pts = sets[name].points.set_index(["params", "step"])["loss"]
            common = pts.index.intersection(grid.index)
            if len(common):
                rel = (pts.loc[common] - grid.loc[common]) / grid.loc[common]
                out[f"{name}_vs_grid_points"] = {
                    "n": int(len(common)), "mean_rel_difference": float(rel.mean()),
                    "mean_abs_rel_difference": float(rel.abs().mean()),
                    "max_abs_rel_difference": float(rel.abs().max())}
    if "corrected" in sets and "loss_measured" in sets["corrected"].points:
        pts = sets["corrected"].points  # how far the correction moved the points it was given
        rel = pts["loss"] / pts["loss_measured"] - 1.0
        out["corrected_vs_kaplan_points"] = {
            "n": int(len(pts)), "mean_rel_difference": float(rel.mean()),
            "mean_abs_rel_difference": float(rel.abs().mean()),
            "max_abs_rel_difference": float(rel.abs().max())}
    return out


PREDICTION_METHODS = ("schedule_law", "naive", "chinchilla")  # the prediction test's rivals


def prediction_differences(targets: pd.DataFrame, n_bootstrap: int, seed: int,
                           unit: str = "run") -> dict:
    """Per part ('all' and each part): the method of PREDICTION_METHODS with the lowest mean
    |relative error| of the predicted final losses and, for each other method, how much higher
    its mean is (a fraction) with a paired 95% interval: one draw of the predicted runs (unit
    'run'), or of the long runs' sizes each bringing all its runs ('size'), serves every method,
    the fitted laws held at their fits (the interval says which runs were predicted, not how
    the laws would refit). 'all' counts a run the targets repeat under another name once
    (``same_run_as``), as the summary does. No interval without resamples."""
    out = {}
    parts = ["all"] + [p for p in targets["part"].astype(str).unique()]
    for part in parts:
        rows = (targets[targets["same_run_as"].isna()] if part == "all"
                else targets[targets["part"].astype(str) == part])
        errors = np.abs(np.column_stack([rows[f"{m}_rel_error"].to_numpy(float)
                                         for m in PREDICTION_METHODS]))  # (runs, methods)
        if not len(rows) or not np.all(np.isfinite(errors)):
            continue
        mean = errors.mean(axis=0)
        best = int(np.argmin(mean))
        draws = np.full((0, len(PREDICTION_METHODS)), np.nan)
        if n_bootstrap > 0:
            # a size is a long run: its predicted runs are drawn together
            weights = _draw_keys(rows, n_bootstrap, seed, unit, by="long_run")
            with np.errstate(all="ignore"):  # a draw of sizes none of whose runs are in part
                draws = weights @ errors / weights.sum(axis=1, keepdims=True)
        out[part] = {"n": int(len(rows)), "lowest": PREDICTION_METHODS[best],
                     "above_lowest": {
                         m: {"difference": float(mean[j] - mean[best]),
                             "ci95": [float(c) for c in percentile_ci(draws[:, j] - draws[:, best])]}
                         for j, m in enumerate(PREDICTION_METHODS) if j != best}}
    return out


# --- the sentences -----------------------------------------------------------------------------

"""Issue 14's prediction test: fit a schedule law on each size's one long cosine run and predict
the final loss of that size's runs of other lengths (and other warmups), beside the naive
reading of the long run's checkpoint at that step and beside a Chinchilla fit to the same
long-run checkpoints (Kaplan-style points: mid-schedule checkpoints of one schedule).

Every loss compared is measured on one evaluation set (the shipped ``checkpoints.parquet`` and
``finals.parquet`` share it; ``runs.csv`` does not, and is not read here). A target run's
schedule is rebuilt from its schedule columns (lr_peak, warmup_steps, total_steps and its final
LR over the peak) with ``scalefit.schedule``; the long runs' LR is their ``lr`` column as logged.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from scalefit.errors import InputError, row_name
from scalefit.schedule import LRSchedule
from scalefit.scaling.laws.curve_fit import fit_curves, predict_losses
from scalefit.scaling.laws import schedule_areas as areas
from scalefit.scaling.laws.curves import curves_from_table, loss_rows
from scalefit.scaling.laws.registry import REGISTRY, canonical_law

SCHEDULE_COLUMNS = ("lr_peak", "warmup_steps", "total_steps")


@dataclass
class LambdaProfile:
    """The momentum law's decay lambda chosen for a suite's long runs: the grid value whose fits
    have the least summed Huber objective (in-sample: no target run is read)."""

    lam: float
    table: pd.DataFrame  # lambda, objective (summed over the long runs' fits)
    fits: dict = field(default_factory=dict, repr=False)  # lambda -> {model: FitResult}

    def to_dict(self) -> dict:
        return {"lambda": self.lam, "profile": self.table.to_dict(orient="records")}


@dataclass
class GridPrediction:
    """Per target run: measured final loss and the predictions (``same_run_as``: the model it
    repeats under another name, counted once in part "all"); summary per method."""

    targets: pd.DataFrame
    summary: pd.DataFrame  # method, part, n, mean_abs_rel_error, max_abs_rel_error
    fits: dict = field(default_factory=dict)  # model -> FitResult of the schedule law
    lambda_profile: LambdaProfile | None = None  # with profile_lambda: the λ of schedule_law_profiled

    @property
    def lam(self) -> float | None:
        """The momentum decay of the schedule_law fits (None for a law without one)."""
        return next((f.extra["lambda"] for f in self.fits.values() if "lambda" in f.extra), None)

    def to_dict(self) -> dict:
        out = {"summary": self.summary.to_dict(orient="records"),
               "targets": self.targets.to_dict(orient="records"),
               "fits": {m: r.to_dict() for m, r in self.fits.items()}}
        if self.lambda_profile is not None:
            out["lambda_profile"] = self.lambda_profile.to_dict()
        return out


def percent_summary(summary):
    """A grid prediction test's summary as printed (`predict curve --grid-test`, `compare
    --schedules`): its |relative error| columns (fractions, as --json and grid_summary.csv keep
    them) in percent, the unit in each header, as the sentences say them."""
    shown = summary.copy()
    for column in ("mean_abs_rel_error", "max_abs_rel_error"):
        if column in summary:
            shown[column] = [f"{100 * v:.2f}%" for v in summary[column]]
    return shown.rename(columns={"mean_abs_rel_error": "mean |rel err|",
                                 "max_abs_rel_error": "max |rel err|"})


# Momentum decays tried by the profile: Tissue et al.'s 0.999 and shorter memories, for suites
# whose runs are far shorter than the 10^4-10^5 steps it was chosen on.
LAMBDA_GRID = (0.98, 0.99, 0.993, 0.995, 0.996, 0.997, 0.998, 0.999, 0.9995)


STYLE_COLUMNS = ("schedule", "lr_style", "schedule_style")  # optional: the style (default cosine)
COOLDOWN_COLUMN = "cooldown_fraction"  # optional: a WSD run's cooldown share of its steps


def target_schedule(row, where: str | None = None) -> LRSchedule:
    """The schedule a finished run trained with, from its schedule columns (lr_peak,
    warmup_steps, total_steps, the final lr over the peak; a style and cooldown_fraction
    column where the table has them, else cosine). ``where`` (the table, row and model) begins
    the message of a schedule no run trains with: LRSchedule's own named none of them."""
    peak = float(row["lr_peak"])
    ratio = float(row["lr"]) / peak if "lr" in row and np.isfinite(row["lr"]) else 0.1
    style = next((str(row[c]) for c in STYLE_COLUMNS if c in row and pd.notna(row[c])),
                 "cosine")
    cooldown = (float(row[COOLDOWN_COLUMN]) if COOLDOWN_COLUMN in row
                and pd.notna(row[COOLDOWN_COLUMN]) else 0.2)
    try:
        return LRSchedule(peak=peak, warmup_steps=int(row["warmup_steps"]),
                          decay_steps=int(row["total_steps"]), final_ratio=round(ratio, 6),
                          style=style, cooldown_fraction=cooldown)
    except InputError as exc:  # a cooldown_fraction of 0: "LRSchedule cooldown_fraction: '0.0' ..."
        if where is None:
            raise
        raise InputError(f"{where}: {exc}") from None


def _targets(finals, dataset, parts):
    rows = finals[(finals["metric"].astype(str) == "loss") &
                  (finals["dataset"].astype(str) == dataset) &
                  finals["part"].astype(str).isin(parts)]
    missing = [c for c in SCHEDULE_COLUMNS + ("params",) if c not in rows.columns]
    if missing:
        raise InputError(f"finals table: columns {', '.join(missing)} are missing")
    return rows.drop_duplicates(["model"])  # its index labels name the table's rows (row_name)


def _chinchilla(long_rows, min_step):
    from scalefit.scaling.laws.fit import fit_law, predict
    runs = long_rows[long_rows["step"] >= min_step][["model", "params", "tokens", "value"]]
    runs = runs.rename(columns={"value": "loss"})
    result = fit_law(runs, "chinchilla", n_bootstrap=0)
    return result, lambda N, D: predict(result, N, D)


def _schedule_fits(rows: pd.DataFrame, law: str, models, *, min_step, by_size: bool, lam) -> dict:
    """{model: FitResult} for the long runs in `models`: each fitted alone, or (by_size) one
    joint fit of the law's by-size form on every long run, under every model and "all long runs"."""
    if by_size:
        base = REGISTRY[canonical_law(law)].base_law or canonical_law(law)
        joint = fit_curves(curves_from_table(rows, min_step=min_step), f"{base}-n", lam=lam,
                           n_bootstrap=0)
        return {"all long runs": joint, **{m: joint for m in models}}
    return {m: fit_curves(curves_from_table(rows[rows["model"] == m], min_step=min_step), law,
                          lam=lam, n_bootstrap=0)
            for m in models}


def profile_lambda(rows: pd.DataFrame, models, *, law: str = "momentum", min_step=None,
                   by_size: bool = False, grid=LAMBDA_GRID, known: dict | None = None) -> LambdaProfile:
    """One momentum decay for the suite: the λ of `grid` whose long-run fits have the least
    summed objective. Only the long runs are read, so a prediction with it stays out of sample.
    ``known``: {λ: `_schedule_fits`' result at that λ, same rows and settings} already fitted
    (the caller's fits at the default decay), taken as they are instead of fitted again."""
    objective, by_lam = [], {}
    for lam in grid:
        fits = by_lam[lam] = (known or {}).get(lam) or _schedule_fits(
            rows, law, models, min_step=min_step, by_size=by_size, lam=lam)
        distinct = {id(f): f for f in fits.values()}.values()
        objective.append(float(sum(f.objective for f in distinct)))
    table = pd.DataFrame({"lambda": list(grid), "objective": objective})
    return LambdaProfile(float(table.loc[table["objective"].idxmin(), "lambda"]), table, by_lam)


RUN_IDENTITY = ("params", "tokens", "total_steps", "warmup_steps", "measured")


def same_run_as(targets: pd.DataFrame) -> pd.Series:
    """Per target, the model of an earlier row that is the same run under another name (the same
    size, tokens, schedule and final loss: a suite spec can train one config in two parts, as
    the mini suite's warmup variant at the grid's own warmup), else None."""
    first = targets.groupby(list(RUN_IDENTITY), sort=False)["model"].transform("first")
    return first.where(first != targets["model"], None)


def grid_prediction_test(checkpoints: pd.DataFrame, finals: pd.DataFrame, *,
                         law: str = "momentum", dataset: str = "prose-val",
                         parts=("grid", "warmup"), min_step: int | None = None,
                         by_size: bool = False, lam: float | None = None,
                         profile: bool = False) -> GridPrediction:
    """Fit ``law`` on each size's long run (``by_size``: its by-size form on all long runs at
    once), predict every target run's final loss. ``min_step``: the first long-run checkpoint
    fitted, by both the schedule law and Chinchilla (None: twice the end of warmup). ``lam``:
    the momentum law's decay (None: Tissue et al.'s 0.999); ``profile`` (momentum law only):
    also predict with the λ `profile_lambda` picks on the long runs (method
    schedule_law_profiled)."""
    if profile and not hasattr(REGISTRY[canonical_law(law)], "lam"):  # before the fits
        raise InputError(f"law {law}: only the momentum law has a decay lambda to profile")
    long = checkpoints[checkpoints["part"].astype(str) == "long"]
    if long.empty:
        raise InputError("checkpoints table: no long runs (part == 'long')")
    long_loss = long[(long["metric"].astype(str) == "loss") &
                     (long["dataset"].astype(str) == dataset)]
    rows = loss_rows(long, "loss", dataset)
    targets = _targets(finals, dataset, parts)
    first = min_step
    if first is None:
        first = int(2 * max(areas.warmup_end(areas.lr_per_step(r["step"], r["lr"]))
                            for _, r in rows.groupby("model")))
    chin, chin_predict = _chinchilla(long_loss.drop_duplicates(["model", "step"]), first)
    sizes = {m: float(r["params"].iloc[0]) for m, r in rows.groupby("model")}
    models = [m for m, N in sizes.items() if np.isclose(targets["params"].astype(float), N).any()]
    fits = _schedule_fits(rows, law, models, min_step=min_step, by_size=by_size, lam=lam)
    predictors = {"schedule_law": fits}
    prof = None
    if profile:
        used = next((f.extra["lambda"] for f in fits.values()), None)  # the decay of `fits`
        prof = profile_lambda(rows, models, law=law, min_step=min_step, by_size=by_size,
                              known={used: fits})
        predictors["schedule_law_profiled"] = prof.fits[prof.lam]
    out = []
    for model in models:
        run = rows[rows["model"] == model]
        N = sizes[model]
        mine = targets[np.isclose(targets["params"].astype(float), N)]
        steps = run["step"].to_numpy()
        loss = run["loss"].to_numpy()
        for k, (_, t) in enumerate(mine.iterrows()):
            total = int(t["total_steps"])
            schedule = target_schedule(t, f"finals table: {row_name(mine, k)}, model {t['model']}")
            row = {"long_run": model, "model": t["model"], "part": t["part"],
                   "total_steps": total, "warmup_steps": int(t["warmup_steps"]),
                   "params": N, "tokens": float(t["tokens"]), "measured": float(t["value"])}
            for method, by_model in predictors.items():
                row[method] = float(predict_losses(by_model[model], {"t": schedule},
                                                   {"t": np.array([total])},
                                                   {"t": N} if by_size else None)[0])
            row["naive"] = float(np.interp(total, steps, loss))
            row["chinchilla"] = float(chin_predict(N, float(t["tokens"]))[()])
            out.append(row)
    table = pd.DataFrame(out)
    if table.empty:
        raise InputError("no target run shares a size with a long run")
    table["same_run_as"] = same_run_as(table)
    # "all" counts a run in two parts once; each part holds its own runs
    parts = [("all", table["same_run_as"].isna())] + [(part, table["part"] == part)
                                                      for part in sorted(table["part"].unique())]
    summary = []
    for method in (*predictors, "naive", "chinchilla"):
        table[f"{method}_rel_error"] = (table[method] - table["measured"]) / table["measured"]
        for part, rows in parts:
            err = table.loc[rows, f"{method}_rel_error"].abs()
            summary.append({"method": method, "part": part, "n": int(rows.sum()),
                            "mean_abs_rel_error": float(err.mean()),
                            "max_abs_rel_error": float(err.max())})
    kept = {m: f for m, f in fits.items() if not by_size or m == "all long runs"}
    result = GridPrediction(table, pd.DataFrame(summary), kept, prof)
    result.fits["chinchilla (long-run checkpoints)"] = chin
    return result


def matched_schedule_points(checkpoints: pd.DataFrame, *, law: str = "momentum",
                            dataset: str = "prose-val", min_step: int | None = None,
                            warmup_frac: float = 0.01, warmup_min: int = 10,
                            lam: float | None = None) -> pd.DataFrame:
    """Kaplan-style points corrected by the schedule law (issue 14 section 4 (iv)): for every
    checkpoint of each size's long run, the loss the law predicts for a run whose own schedule
    ends there (same peak and final ratio, warmup max(warmup_min, warmup_frac x steps), the
    long run's style: cosine). Columns: model, params, tokens, flops, step, loss (measured at
    the checkpoint), loss_matched (the law's); a run table for `fit_law` either way."""
    long = checkpoints[checkpoints["part"].astype(str) == "long"]
    if long.empty:
        raise InputError("checkpoints table: no long runs (part == 'long')")
    rows = loss_rows(long, "loss", dataset)
    facts = long.drop_duplicates(["model", "step"]).set_index(["model", "step"])
    out = []
    for model, run in rows.groupby("model"):
        fit = fit_curves(curves_from_table(run, min_step=min_step), law, lam=lam, n_bootstrap=0)
        first = 2 * areas.warmup_end(areas.lr_per_step(run["step"], run["lr"]))
        if min_step is not None:
            first = min_step
        peak = float(run["lr"].max())
        ratio = float(run.sort_values("step")["lr"].iloc[-1]) / peak
        for step in run["step"][run["step"] >= max(first, 1)].astype(int):
            schedule = LRSchedule(peak=peak, warmup_steps=max(warmup_min,
                                                              int(warmup_frac * step)),
                                  decay_steps=int(step), final_ratio=round(ratio, 6))
            row = facts.loc[(model, step)]
            out.append({"model": model, "params": float(row["params"]),
                        "tokens": float(row["tokens"]), "flops": float(row["flops"]),
                        "step": step, "loss": float(run.loc[run["step"] == step, "loss"].iloc[0]),
                        "loss_matched": float(predict_losses(fit, {"m": schedule},
                                                             {"m": np.array([step])})[0])})
    return pd.DataFrame(out)

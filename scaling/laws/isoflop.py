"""IsoFLOP analysis (Hoffmann et al. 2022, Approach 2): per budget the loss-minimising N*, then
N*(C) = G C^a and D*(C) = C/(6 N*). A law of the registry with its own fit procedure.

Per compute budget, loss is fitted against log N and its minimum taken: ``parabola`` (Hoffmann's
method: a parabola through the budget's points) or ``akima`` (Porian et al. 2024: the minimum of an
Akima interpolant). A budget whose minimum is not bracketed by its points (the lowest loss at the
smallest or largest N, or a parabola that opens downward or peaks outside the sampled range) is
excluded with a warning that says so.

D* counts tokens: C/(6 N*) where N* counts all parameters, as the flops column's budgets do. With
a non-embedding N* (``RunTable.kaplan_compute``) C/(6 N*) is no run's token count; where the table
has a tokens column, D* is read off the budget's own runs instead (``profile_tokens``) and b is
the slope of the line through log D* against log C; without one, D* and b are not stated.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.interpolate import Akima1DInterpolator

from scalefit.errors import InputError, rows_name
from scalefit.scaling.fitresult import FitResult, ParamEstimate, attach_intervals, bootstrap_stderr, percentile_ci
from scalefit.scaling.laws import forms as law_forms
from scalefit.scaling.laws.allocation import allocation_summary
from scalefit.scaling.laws.law import Law
from scalefit.scaling.laws.published import published_laws
from scalefit.schema import FLOPS_PER_PARAM_TOKEN

MIN_POINTS_PER_BUDGET = 3
MIN_BUDGETS = 3
# D* = C/(6 N*) counts all parameters in N*, as the flops column's budgets do; a non-embedding N
# with no total count beside it (--params params_nonembed) and no tokens column gives no D*: the
# fit says so
NO_TOKENS = ("D*, D*/N* and b not stated: N* counts non-embedding parameters and the budgets (the "
             "flops column) all of them, so C/(6 N*) is not the optimum's token count, and no "
             "count of all parameters stands beside this N to give it (a tokens column would: "
             "D* is then read off each budget's runs)")
# D* read off the budget's runs where N* is non-embedding and the table has tokens: the fit's note
# and its allocation's tokens_from say so
TOKENS_FROM = ("D* per budget read off the budget's own runs (N* counts non-embedding parameters, "
               "so C/(6 N*) is not its token count): log tokens interpolated in log N at log N* "
               "(an Akima curve through the runs); D*(C) = H C^b is the line through those D*")
# what G and a of an IsoFLOP fit are: `fit isoflop` and `reconcile`'s walk print it to define them
OPTIMA_LINE = ("the line through the budget optima is N*(C) = G C^a (N* in parameters, C in "
               "FLOPs)")


def budget_groups(frame: pd.DataFrame) -> pd.Series:
    """The compute budget of each run: a ``budget`` column, or flops rounded to 3 digits."""
    if "budget" in frame.columns:
        return pd.to_numeric(frame["budget"], errors="coerce")
    return frame["C"].map(lambda c: float(f"{c:.3g}"))


def isoflop_minimum(log_n, loss, method: str = "parabola"):
    """(log N*, L*, why-not) for one IsoFLOP curve; log N* is NaN when it is not bracketed."""
    order = np.argsort(log_n)
    x = np.asarray(log_n, float)[order]
    y = np.asarray(loss, float)[order]
    sizes = np.unique(x).size
    if sizes < MIN_POINTS_PER_BUDGET:
        return np.nan, np.nan, f"only {sizes} model size{'s' * (sizes != 1)}"
    i = int(np.argmin(y))
    if i == 0 or i == x.size - 1:
        side = "smallest" if i == 0 else "largest"
        return np.nan, np.nan, f"lowest loss at the {side} model: minimum not bracketed"
    if method == "akima":
        grid = np.linspace(x[0], x[-1], 4001)
        curve = Akima1DInterpolator(x, y)(grid)
        j = int(np.argmin(curve))
        return float(grid[j]), float(curve[j]), None
    checked_method(method)
    a2, a1, a0 = np.polyfit(x, y, 2)
    if a2 <= 0:
        return np.nan, np.nan, "parabola opens downward: minimum not bracketed"
    m = -a1 / (2 * a2)
    if not x[0] < m < x[-1]:
        return np.nan, np.nan, "parabola minimum outside the sampled sizes: not bracketed"
    return float(m), float(a2 * m * m + a1 * m + a0), None


METHODS = ("parabola", "akima")  # how a budget's minimum is read off its losses


def checked_method(method: str) -> str:
    """``method`` as one of METHODS (in any case, as law names are), else an InputError naming
    them."""
    name = method.strip().lower() if isinstance(method, str) else method
    if name not in METHODS:
        raise InputError(f"isoflop_method (--isoflop-method): unknown method '{method}' "
                         f"({', '.join(METHODS)})")
    return name


def repeated_sizes(frame: pd.DataFrame, method: str, source: str = "<run table>",
                   rows=None) -> list[str]:
    """Budgets at which two rows have the same N: an IsoFLOP curve has one loss per model size.
    Akima (an interpolant through the points) cannot take them: InputError naming both rows.
    A parabola is a least-squares fit and can, but the repeats usually mean several conditions
    (or seeds) are mixed in one table: one warning per such budget."""
    budgets = budget_groups(frame).to_numpy()
    key = pd.DataFrame({"C": budgets, "N": frame["N"].to_numpy(float)})
    repeated = key.duplicated(keep=False).to_numpy()
    if not repeated.any():
        return []
    # a run table's rows by their labels (RunTable.rows: label + 1), named as row_name says
    named = frame if rows is None else frame.set_axis(np.asarray(rows) - 1)
    hint = ("several conditions or repeated runs are mixed; fit one at a time with "
            "--subset COLUMN=VALUE")
    if method == "akima":
        i = int(np.flatnonzero(repeated)[0])
        j = int(np.flatnonzero(repeated & (key["C"].to_numpy() == key["C"].iloc[i])
                               & (key["N"].to_numpy() == key["N"].iloc[i]))[1])
        raise InputError(f"{source}: {rows_name(named, [i, j], ' and ')} repeat N = {key['N'].iloc[i]:.4g} "
                         f"at the budget {key['C'].iloc[i]:.3g} FLOPs; the Akima minimum needs "
                         f"one loss per model size at each budget ({hint})")
    counts = key[repeated].groupby("C").size()
    c, n = next(iter(counts.items()))
    return [f"{len(counts)} of {len(np.unique(budgets))} budgets have rows that repeat a model "
            f"size (at {c:.3g} FLOPs: {n} rows); the parabola is fitted through all of them "
            f"({hint})"]


def profile_tokens(log_n, log_d, log_n_star: float) -> float:
    """log D* of one budget: its runs' log tokens against log N, read at log N*.

    An Akima curve through the runs (repeated sizes averaged), whatever curve found N*: a run's
    token count is exact, not noisy as its loss, so the curve passes through the runs rather
    than smoothing them as the parabola does the losses. Within a budget log D falls with log N
    at a slope between -1 and 0, -1 exactly where N counts every parameter the flops count: the
    curve then gives C/(6 N*) itself. With a vocabulary of 50k and embeddings 7% to
    85% of the parameters, sizes a factor 2 apart, it errs by 3e-4 in log D*; linear between the
    bracketing runs by 6e-3, a least-squares parabola by 9e-3."""
    x, where = np.unique(np.asarray(log_n, float), return_inverse=True)
    y = np.bincount(where, weights=np.asarray(log_d, float)) / np.bincount(where)
    if x.size < 2 or not np.isfinite(log_n_star) or not x[0] <= log_n_star <= x[-1]:
        return float("nan")
    return float(Akima1DInterpolator(x, y)(log_n_star))


TOKEN_SOURCES = ("budget", "runs", None)  # D* as C/(6 N*), off the runs' tokens, or not stated


def isoflop_optima(frame: pd.DataFrame, method: str = "parabola", source: str = "<run table>",
                   file_rows=None, tokens: str | None = "budget"):
    """Per budget: flops, N*, D*, L* (NaN when excluded) and the reason for each exclusion
    (plus one warning when budgets have rows that repeat a model size; with Akima an
    InputError naming the file and its rows, ``file_rows`` being each run's 1-based row).
    ``tokens``: D* as C/(6 N*) ('budget'), read off the runs' tokens column D ('runs',
    ``profile_tokens``), or NaN (None)."""
    method = checked_method(method)
    if tokens not in TOKEN_SOURCES:
        raise ValueError(f"tokens: one of {TOKEN_SOURCES}, got {tokens!r}")
    budgets = budget_groups(frame)
    rows, warnings = [], repeated_sizes(frame, method, source, file_rows)
    excluded: dict[str, list[float]] = {}  # why: the budgets it excludes
    for c, group in frame.groupby(budgets, sort=True):
        m, l_star, why = isoflop_minimum(np.log(group["N"]), group["L"], method)
        n_star = float(np.exp(m)) if np.isfinite(m) else np.nan
        if tokens == "runs":
            d_star = float(np.exp(profile_tokens(np.log(group["N"]), np.log(group["D"]), m)))
        elif tokens == "budget" and np.isfinite(n_star):
            d_star = c / (FLOPS_PER_PARAM_TOKEN * n_star)
        else:
            d_star = np.nan
        rows.append({"flops": float(c), "n_runs": len(group), "N_opt": n_star, "D_opt": d_star,
                     "loss_opt": l_star, "excluded": why or ""})
        if why:
            excluded.setdefault(why, []).append(float(c))
    warnings += [excluded_line(budgets_out, why) for why, budgets_out in excluded.items()]
    return pd.DataFrame(rows), warnings


def excluded_line(budgets, why: str, shown: int = 8) -> str:
    """One warning for every budget excluded for one reason ('budgets 6e+15, 5.4e+16 FLOPs
    excluded: only 1 model size'): one line per budget was nine lines of the same words."""
    listed = ", ".join(f"{c:.3g}" for c in budgets[:shown])
    more = f", ... ({len(budgets)} in all)" if len(budgets) > shown else ""
    return f"budget{'s' * (len(budgets) > 1)} {listed}{more} FLOPs excluded: {why}"


def too_few_budgets(table, optima: pd.DataFrame, n_good: int) -> str:
    """Why no N*(C) line can be drawn: the budgets' column (the user's own name for a mapped
    one), how many budgets and runs per budget the table has, and what a budget needs."""
    from scalefit.options import file_column
    has_budgets = "budget" in table.frame.columns
    column = file_column(table.frame, "budget" if has_budgets else "flops")
    most = int(optima["n_runs"].max()) if len(optima) else 0
    return (f"{table.source}: column '{column}': only {n_good} compute budgets with a bracketed "
            f"minimum; the IsoFLOP fit needs at least 2 (the table has {len(optima)} budgets with "
            f"at most {most} run{'' if most == 1 else 's'} each; a budget needs 3+ sizes at that "
            "compute whose lowest loss is not at either end; "
            + ("" if has_budgets else
               "runs share a budget when their flops agree to 3 significant digits, "
               "or give a column of budgets with --columns budget=COL; ")
            + "a Chinchilla-style grid fits with 'scalefit fit chinchilla')")


def _power_fit(log_c, log_n):
    a, log_g = np.polyfit(log_c, log_n, 1)
    return float(a), float(log_g)


def fit_isoflop(runs, *, loss: str = "loss", n_bootstrap: int = 0, seed: int = 0,
                progress: bool = False, method: str = "parabola") -> FitResult:
    """IsoFLOP fit of N*(C) = G C^a; ``a`` and ``G`` as params, b = 1 - a in the allocation
    (D* = C/(6 N*)); with a non-embedding N, b and H of D*(C) = H C^b through the D* read off a
    tokens column (TOKENS_FROM), or none without one (NO_TOKENS)."""
    from scalefit.scaling.laws.runtable import as_run_table  # runtable reads the registry
    table, method = as_run_table(runs, "isoflop", loss=loss), checked_method(method)
    # N* non-embedding, C of all parameters: C/(6 N*) is no run's token count (project reads it)
    # and D* is read off a tokens column ("runs"), or not stated (None); else D* = C/(6 N*)
    tokens = "budget"
    if table.kaplan_compute:
        tokens = "runs" if "tokens" in table.frame.columns else None
    optima, warnings = isoflop_optima(table.frame, method, table.source, table.rows, tokens)
    good = optima[np.isfinite(optima["N_opt"])]
    if len(good) < 2:
        raise InputError(too_few_budgets(table, optima, len(good)))
    if len(good) < MIN_BUDGETS:
        warnings.append(f"too few points: only {len(good)} budgets with a bracketed minimum")
    log_c = np.log(good["flops"].to_numpy())
    log_n = np.log(good["N_opt"].to_numpy())
    a, log_g = _power_fit(log_c, log_n)
    resid = log_n - (log_g + a * log_c)
    dof = max(len(good) - 2, 1)
    s2 = float(resid @ resid) / dof
    sxx = float(np.sum((log_c - log_c.mean()) ** 2))
    a_se = float(np.sqrt(s2 / sxx)) if sxx > 0 else float("nan")
    params = {"a": ParamEstimate(a, a_se), "G": ParamEstimate(float(np.exp(log_g)))}
    values = {"a": a, "G": float(np.exp(log_g))}
    extra = {"allocation": allocation_summary(IsoFLOP(), values, None, 1.0),
             "method": method, "n_budgets": int(len(optima)), "n_budgets_used": int(len(good)),
             "optima": optima.to_dict(orient="records"), "n_column": table.n_column,
             "loss_column": loss, "notes": list(table.notes),
             "objective_name": "sum of squared log N* residuals about the line"}
    # D* = C/(6 N*) is part of the method where N* counts all parameters: k = 6 stated explicitly
    extra["allocation"]["flops_per_param_token"] = FLOPS_PER_PARAM_TOKEN
    if tokens == "runs":  # D*(C) = H C^b through the D* read off the runs; b is no longer 1 - a
        b, log_h = _power_fit(log_c, np.log(good["D_opt"].to_numpy()))
        extra["allocation"].update(b=b, H=float(np.exp(log_h)), tokens_from=TOKENS_FROM)
        extra["notes"].append(TOKENS_FROM)
    for row in extra["allocation"].get("budgets", []):
        if tokens == "runs":
            row["D_opt"] = extra["allocation"]["H"] * row["flops"] ** extra["allocation"]["b"]
        elif tokens == "budget":
            row["D_opt"] = row["flops"] / (FLOPS_PER_PARAM_TOKEN * row["N_opt"])
        else:
            row["D_opt"] = float("nan")
        row["tokens_per_param"] = row["D_opt"] / row["N_opt"]
    if tokens is None:
        extra["allocation"].update(tokens_not_stated=NO_TOKENS, b=float("nan"))
        warnings.append(NO_TOKENS)
    result = FitResult(law="isoflop", params=params, n_points=int(len(good)),
                       objective=float(resid @ resid), converged=True, warnings=warnings,
                       extra=extra)
    if n_bootstrap > 0:
        _bootstrap_isoflop(result, good, n_bootstrap, seed)
    return result


DRAWN = ("parametric: (a, log G) drawn from t with n - 2 degrees of freedom about the line's fit, "
         "with its HC3 covariance")


def line_draws(log_c, log_n, n_draws: int, seed: int) -> np.ndarray | None:
    """Draws of (a, log G) for the line log N* = log G + a log C through n budget optima: a
    multivariate t with n - 2 degrees of freedom about the least-squares fit, scaled by its HC3
    covariance (heteroscedasticity-consistent, leverage-adjusted: MacKinnon & White 1985).

    A pairs bootstrap of 5-12 optima covered the true a in 87-93% of known-truth fits (it spreads
    like HC0 and takes normal quantiles); this covers 94-98% (bench/bench_allocation_intervals.py).
    The errors of the optima differ by budget (the curves flatten relative to the noise as C
    grows), hence HC3 rather than one pooled scatter. None with fewer than 3 budgets."""
    drawn = joint_line_draws(log_c, log_n, None, n_draws, seed)
    return None if drawn is None else drawn[0]


def joint_line_draws(log_c, log_n, log_d, n_draws: int, seed: int):
    """(draws of (a, log G), draws of (b, log H)) for the lines log N* = log G + a log C and
    log D* = log H + b log C through the same budgets, drawn jointly: one multivariate t with
    the HC3 covariance of both lines' coefficients (its cross terms from the products of their
    residuals), so D*/N* at a budget spreads as the two optima move together. The first draws
    are ``line_draws``' own, bit for bit; the second are drawn given them (a second stream,
    seeded [seed, 1]), None where ``log_d`` is. None with fewer than 3 budgets."""
    x = np.asarray(log_c, float)
    y = np.asarray(log_n, float)
    n = x.size
    if n < 3 or np.ptp(x) == 0:
        return None
    design = np.c_[np.ones(n), x - x.mean()]
    inverse = np.linalg.inv(design.T @ design)
    leverage = np.einsum("ij,jk,ik->i", design, inverse, design)
    hc3 = np.clip(1.0 - leverage, 1e-12, None) ** 2

    def sandwich(u, v):  # HC3 covariance of two lines' coefficients from their residuals u, v
        return inverse @ (design.T * (u * v / hc3)) @ design @ inverse

    def to_line(coef, scaled):  # coefficients about the mean of log C -> (slope, intercept)
        slope = coef[1] + scaled[:, 1]
        return np.c_[slope, coef[0] + scaled[:, 0] - slope * x.mean()]

    coef = inverse @ design.T @ y
    resid = y - design @ coef
    cov = sandwich(resid, resid)
    rng = np.random.default_rng(seed)
    dof = n - 2
    normal = rng.multivariate_normal(np.zeros(2), cov, size=n_draws, method="eigh")
    spread = np.sqrt(rng.chisquare(dof, size=n_draws) / dof)[:, None]
    first = to_line(coef, normal / spread)
    if log_d is None:
        return first, None
    y2 = np.asarray(log_d, float)
    coef2 = inverse @ design.T @ y2
    resid2 = y2 - design @ coef2
    cross, cov2 = sandwich(resid, resid2), sandwich(resid2, resid2)
    given = np.linalg.pinv(cov) @ cross  # the second line's normal given the first's
    rest = cov2 - cross.T @ given
    normal2 = normal @ given + np.random.default_rng([seed, 1]).multivariate_normal(
        np.zeros(2), (rest + rest.T) / 2, size=n_draws, method="eigh", check_valid="ignore")
    return first, to_line(coef2, normal2 / spread)


def _bootstrap_isoflop(result: FitResult, good: pd.DataFrame, n_bootstrap: int, seed: int):
    """Intervals on a and G from ``line_draws`` of the fitted line through the budget optima;
    where D* was read off the runs (``TOKENS_FROM``), on b and H too, drawn with them
    (``joint_line_draws``)."""
    alloc = result.extra["allocation"]
    from_runs = "tokens_from" in alloc
    log_c, log_n = np.log(good["flops"].to_numpy()), np.log(good["N_opt"].to_numpy())
    drawn = joint_line_draws(log_c, log_n, np.log(good["D_opt"].to_numpy()) if from_runs else None,
                             n_bootstrap, seed)
    if drawn is None:
        result.warnings.append(f"no interval for a: {len(good)} budgets leave no scatter about "
                               "the line to judge it by (3 or more needed)")
        return
    (a_draws, log_g), tokens_line = drawn[0].T, drawn[1]
    attach_intervals(result, {"a": a_draws, "G": np.exp(log_g)})
    if from_runs:
        b_draws = tokens_line[:, 0]
        result.draws.update(b=b_draws, H=np.exp(tokens_line[:, 1]))  # project's D* per draw
    else:
        b_draws = np.full_like(a_draws, np.nan) if alloc.get("tokens_not_stated") else 1.0 - a_draws
    alloc["a_ci95"] = list(percentile_ci(a_draws))
    alloc["b_ci95"] = list(percentile_ci(b_draws))
    alloc["a_stderr"] = result.params["a"].bootstrap_stderr
    alloc["b_stderr"] = bootstrap_stderr(b_draws)
    result.allocation_draws = {"a": a_draws, "b": b_draws, "resampled": "budget optima"}
    result.extra["bootstrap"] = {"n": n_bootstrap, "n_failed": 0, "drawn": DRAWN}


class IsoFLOP(Law):
    """Hoffmann et al. 2022 Approach 2: per compute budget a parabola of loss in log N (its
    minimum is N*), then N*(C) = G C^a. Needs N and C; sets an allocation, no loss surface."""

    law_name = "isoflop"
    aliases = ("approach2",)
    function = staticmethod(law_forms.isoflop_parabola)
    needs = ("N", "C")
    independent = ("log_N",)
    predicts_loss = False
    paper_names = ("a", "G")
    reads_budget = True  # a 'budget' column groups the runs (budget_groups): each cell checked
    # the line N*(C) needs 2 budgets with a minimum each; the run table's check says so
    min_runs = 2 * MIN_POINTS_PER_BUDGET
    min_runs_why = (f"2 compute budgets of {MIN_POINTS_PER_BUDGET} model sizes each, whose "
                    "lowest loss is not at either end")

    def fit_runs(self, runs, *, loss="loss", n_bootstrap=0, seed=0, progress=False,
                 isoflop_method="parabola", **options):
        return fit_isoflop(runs, loss=loss, n_bootstrap=n_bootstrap, seed=seed,
                           progress=progress, method=isoflop_method)

    def log_frontier(self, values, flops, k=FLOPS_PER_PARAM_TOKEN):
        """log N*(C) = log G + a log C (C itself, not C/k: Approach 2 fits N* against C)."""
        return np.log(values["G"]) + values["a"] * np.log(np.asarray(flops, float))

    def exponents(self, values):
        return values["a"], 1.0 - values["a"]

    def published(self):
        h = published_laws()["hoffmann2022"]["approach2"]
        p = published_laws()["porian2024"]
        return {"Hoffmann 2022 Approach 2": {"a": h["a"], "b": h["b"]},
                "Porian 2024 corrected": {"a": p["corrected"]["a"]},
                "Porian 2024 reproducing Kaplan": {"a": p["reproducing_kaplan"]["a"]}}


LAWS = (IsoFLOP,)

"""The result every fit in scalefit returns, and its JSON shape.

One shape for every law and relation: ``params`` maps the paper's parameter names to
``{"value", "stderr", "stderr_fit", "ci95": [lo, hi]}``; ``warnings`` lists what a user must know
(parameter at a bound, too few points, minimum not bracketed). ``stderr`` is the one to quote: half
the central 68% range of the bootstrap estimates when a bootstrap ran (``bootstrap_stderr``: their
standard deviation where they are normal, and not blown up by a few far draws where they are not;
``stderr_from`` says which), else the fit's own. ``stderr_fit`` is the fit's own (lmfit's covariance
at the optimum, the curvature of the objective): under the Huber loss it is 2-3x too wide for
exponents and too narrow for log-scale coefficients, and a loss-to-loss fit's holds E fixed (Wald
intervals from it covered 15-40%), so it is kept for diagnosis only. For laws and relations ``ci95``
is the bootstrap percentile interval; trajectory fits give t intervals from their AR(1) errors (E and
p: profile intervals, near their bounds).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from scalefit.errors import InputError, suggestion
from scalefit.schema import FLOPS_PER_PARAM_TOKEN

BOUND_RTOL = 1e-5  # within this distance of a bound (relative, scale max(1, |bound|)) = at it
# or within this fraction of the parameter's scale, max(|value|, |bound|): an optimum that stopped
# short of a bound (multi-power's beta at 4.998 of (0.01, 5), its fit not converged) is on it; the
# scale is the parameter's own, not the span of its bounds, so a generous cap (E in (0, 20)) does
# not turn an estimate near the other bound (E = 0.019) into one "at its bound"
BOUND_FRACTION = 1e-3


@dataclass
class ParamEstimate:
    """One fitted parameter: value, standard error (from the fit's curvature), and the standard
    error (``bootstrap_stderr``) and 95% percentile interval of its bootstrap draws."""

    value: float
    stderr: float = float("nan")
    ci95: tuple[float, float] = (float("nan"), float("nan"))
    bootstrap_stderr: float = float("nan")

    @property
    def quoted_stderr(self) -> float:
        """The standard error to quote: the bootstrap's when there is one, else the fit's own."""
        return self.bootstrap_stderr if np.isfinite(self.bootstrap_stderr) else self.stderr

    def to_dict(self) -> dict:
        return {"value": float(self.value), "stderr": float(self.quoted_stderr), "stderr_fit": float(self.stderr),
                "ci95": [float(self.ci95[0]), float(self.ci95[1])]}


@dataclass
class FitResult:
    """A fitted law or relation with everything a user quotes from it."""

    law: str
    params: dict[str, ParamEstimate]
    n_points: int
    objective: float
    converged: bool
    warnings: list[str] = field(default_factory=list)
    extra: dict = field(default_factory=dict)  # law-specific: allocation, n_starts_at_best, ...
    # Not part of the JSON: objects a report or a prediction reads back from the fit.
    model_result: object = field(default=None, repr=False, compare=False)  # lmfit ModelResult
    draws: dict | None = field(default=None, repr=False, compare=False)  # bootstrap draws per param
    # a law's allocation exponents per resample (a, b), aligned with ``draws`` (NaN where a refit
    # failed), and what was resampled ("runs", or an IsoFLOP fit's "budget optima")
    allocation_draws: dict | None = field(default=None, repr=False, compare=False)
    components: dict = field(default_factory=dict, repr=False, compare=False)  # sub-fits by name
    # what N* of the allocation's budget rows counts (n_counts_words), as
    # projection.project_allocation stated them; None: budgets_frame judges it from the rows' note
    budget_n_counts: str | None = field(default=None, repr=False, compare=False)

    def __repr__(self) -> str:
        """A notebook's view in a few lines (the dataclass repr printed every field of ``extra``:
        a Chinchilla fit ran to ~3,700 characters on one line): the fit's headline
        (``report.fit_line``), each parameter to the digits its 95% interval supports with what
        the runs do not pin down, the warnings and notes; ``to_dict()`` holds the rest."""
        from scalefit.scaling.laws.identifiability import NOT_IDENTIFIED, identifiability_warning
        from scalefit.scaling.laws.report import fit_line
        ident = self.extra.get("identifiability") or {}
        said = identifiability_warning(ident, self.params)  # each parameter's line says why: named here
        unpinned = [n for n, e in ident.items() if e.get("status") == NOT_IDENTIFIED]
        lines = [f"FitResult of {self.law}: {fit_line(self.to_dict())}"]
        lines += [f"  {param_line(name, p, ident.get(name) or {}, self.warnings)}"
                  for name, p in self.params.items()]
        lines += [f"  warning: {w}" if w != said else
                  f"  warning: not identified by these runs: {', '.join(unpinned)} (the data fix a "
                  "combination, not each value)" for w in self.warnings]
        lines += [f"  note: {n}" for n in self.extra.get("notes") or ()]
        frames = ".params_frame(), " + (".budgets_frame(), "
                                        if self.extra.get("allocation", {}).get("budgets") else "")
        return "\n".join(lines + [f"  {frames}.to_dict()"])

    def value(self, name: str) -> float:
        """The estimate of parameter ``name`` (the paper's name: E, alpha, A, ...)."""
        if name not in self.params:  # a KeyError named only the key
            raise InputError(f"law {self.law}: no parameter '{name}'"
                             f"{suggestion(name, self.params)}")
        return self.params[name].value

    def values(self) -> dict[str, float]:
        return {name: p.value for name, p in self.params.items()}

    def params_frame(self):
        """One row per parameter: value, stderr (the bootstrap's when it ran), stderr_fit, ci95_lo, ci95_hi."""
        import pandas as pd

        return pd.DataFrame([{"param": name, "value": p.value, "stderr": p.quoted_stderr, "stderr_fit": p.stderr,
                              "ci95_lo": p.ci95[0], "ci95_hi": p.ci95[1]} for name, p in self.params.items()])

    def stderr_from(self) -> str:
        """What the `stderr` of the parameters is."""
        if any(np.isfinite(p.bootstrap_stderr) for p in self.params.values()):
            boot = self.extra.get("bootstrap") or {}
            n = boot.get("n")
            if not n:
                return f"bootstrap ({BOOTSTRAP_STDERR_RULE})"
            drawn = f"bootstrap ({boot['drawn']}): {BOOTSTRAP_STDERR_RULE} of {n} draws" if boot.get("drawn") \
                else f"bootstrap: {BOOTSTRAP_STDERR_RULE} of the estimates over {n} resamples"
            return drawn + BOOTSTRAP_STDERR_WHY
        return "fit: the covariance at the optimum (no bootstrap was run)"

    def budgets_frame(self):
        """The allocation projected to each budget, one row per budget (CIs as _lo/_hi columns), with
        what its N* counts (column and attrs ``N_counts``: a Kaplan fit's rows are in total
        parameters, converted with the runs' embedding counts, while its repr and ``extra`` say
        non-embedding) and its budgets' FLOP count (``flops_per_param_token``: C = k N D)."""
        alloc = self.extra.get("allocation", {})
        frame = flat_rows(alloc.get("budgets", []))
        counts = self.budget_n_counts
        if counts is None:  # rows project_allocation did not state: converted where their note
            # (projection.n_convention_note's) is not the law's own
            from scalefit.scaling.laws.runtable import fit_n_note
            note = alloc.get("budget_convention")
            counts = n_counts_words(self.extra, note is not None and note != fit_n_note(self.extra))
        k = float(alloc.get("flops_per_param_token", FLOPS_PER_PARAM_TOKEN))  # the law's own count
        if len(frame):  # a converted row states its own (the table's count): projection.project
            rows_k = frame["flops_per_param_token"] if "flops_per_param_token" in frame else None
            frame["N_counts"] = counts
            frame["flops_per_param_token"] = k if rows_k is None else rows_k.fillna(k)
            k = float(frame["flops_per_param_token"].iloc[0])  # one count for all of a fit's budgets
        frame.attrs.update(N_counts=counts, flops_per_param_token=k)
        return frame

    def to_dict(self) -> dict:
        out = {"law": self.law, "n_points": int(self.n_points),
               "objective": float(self.objective), "converged": bool(self.converged),
               "params": {k: v.to_dict() for k, v in self.params.items()}, "stderr_from": self.stderr_from(),
               "warnings": list(self.warnings)}
        out.update(self.extra)
        return out


def n_counts_words(extra: dict, converted: bool) -> str:
    """What N* of a fit's budget rows counts: the law's own N, 'non-embedding' or 'total' (its
    ``extra``'s n_column and n_source), or where ``converted``, total parameters converted from it
    with the runs' embedding counts."""
    from scalefit.scaling.laws.runtable import counts_nonembedding
    own = "non-embedding" if counts_nonembedding(extra.get("n_column"), extra.get("n_source", "")) else "total"
    return f"total (converted from {own} with the runs' embedding counts)" if converted else own


def param_line(name: str, p: ParamEstimate, ident: dict, warnings) -> str:
    """'alpha = 0.39 [0.21, 0.62]  not identified (moves with A, r = +1.00)': the value and its
    interval on the tables' rule (judged, interval_text), and what the fit says of it (on a bound,
    not identified)."""
    from scalefit.scaling.laws.identifiability import (IDENTIFIED, STRONG_CORRELATION,
                                                       bound_status, judged)
    shown, status = judged(p.value, p.ci95)
    flagged = ident.get("status")
    status = bound_status(name, warnings) or (flagged if flagged not in (None, IDENTIFIED)
                                               else status)
    if flagged not in (None, IDENTIFIED) and abs(ident.get("correlation", 0.0)) >= STRONG_CORRELATION:
        status += f" (moves with {ident['most_correlated']}, r = {ident['correlation']:+.2f})"
    from scalefit.scaling.interval_text import at_zero, interval_text
    # the interval rule of the tables (interval_text): 'E = 2.6 [0, 3.12]' printed the interval a
    # digit finer than the value its width supports
    ci = f" {interval_text(*at_zero(*p.ci95, p.value))}" if np.all(np.isfinite(p.ci95)) else ""
    return f"{name} = {shown}{ci}" + (f"  {status}" if status else "")


def flat_rows(rows: list[dict]):
    """Rows holding intervals ``X_ci95: [lo, hi]`` or ``X_pi95: [lo, hi]`` as a flat DataFrame
    (X_ci95_lo, X_ci95_hi, X_pi95_lo, X_pi95_hi columns): a CSV cell holds one number."""
    import pandas as pd

    out = []
    for row in rows:
        flat = {}
        for key, value in row.items():
            if key.endswith(("_ci95", "_pi95")) and isinstance(value, (list, tuple)):
                flat[f"{key}_lo"], flat[f"{key}_hi"] = value
            else:
                flat[key] = value
        out.append(flat)
    return pd.DataFrame(out)


SINGULAR_CORRELATION = 1e-10  # least eigenvalue of a fit's correlation matrix: below it, no error bars


def settle_covariance(result) -> None:
    """Drop an lmfit result's covariance where it is numerically singular, as lmfit drops one whose
    diagonal comes out negative: whether a nearly singular J'J inverts to a usable matrix depends on
    the CPU's BLAS kernels (five runs of a 4-parameter law gave error bars of 10^7 on an AVX-512
    machine and none on an AVX2 one), so a printed stderr must not. Singular: the least eigenvalue
    of the correlation matrix below SINGULAR_CORRELATION, a million times double rounding; then
    ``errorbars`` is False, varied parameters' stderr NaN and derived ones' 0 (lmfit's state when a
    variance comes out negative; one that did not invert at all left None: made the same)."""
    covar = getattr(result, "covar", None)
    if covar is not None and getattr(result, "errorbars", False):
        covar = np.asarray(covar, dtype=float)
        sd = np.sqrt(np.abs(np.diag(covar)))
        with np.errstate(divide="ignore", invalid="ignore"):
            corr = covar / np.outer(sd, sd)
        if np.all(np.isfinite(corr)) and np.linalg.eigvalsh(corr)[0] >= SINGULAR_CORRELATION:
            return
    result.errorbars = False
    result.uvars = None
    for name, par in result.params.items():
        par.stderr, par.correl = (float("nan") if name in result.var_names else 0.0), None


def curvature_stderr(param, errorbars: bool) -> float:
    """An lmfit parameter's curvature stderr, NaN where the fit has none: lmfit zeroes every
    stderr before its covariance and fills a derived one (an expr, N_c = exp(log_N_c)) only when
    the covariance gives error bars (``errorbars``), so a derived 0 means 'not estimated'."""
    if param.stderr is None or (param.expr is not None and not (errorbars and param.stderr > 0)):
        return float("nan")
    return float(param.stderr)


def percentile_ci(samples, level: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap interval of a 1-D sample, ignoring non-finite draws."""
    samples = np.asarray(samples, dtype=float)
    samples = samples[np.isfinite(samples)]
    if samples.size < 2:
        return (float("nan"), float("nan"))
    tail = (1 - level) / 2 * 100
    lo, hi = np.percentile(samples, [tail, 100 - tail])
    return (float(lo), float(hi))


def observation_interval(pi95, ci95) -> list[float]:
    """An observation's interval made to hold the curve's: an observation is the curve plus its
    scatter, so its interval is at least as wide; where the scatter is small next to the curve's
    uncertainty (a runs' scatter that falls with N, extrapolated) the two sets of percentiles
    differ by Monte Carlo noise alone and the observation's could fall inside the curve's."""
    return [float(np.fmin(pi95[0], ci95[0])), float(np.fmax(pi95[1], ci95[1]))]


# A normal's central one-sigma probability, erf(1/sqrt 2) = 68.27%: half the range of that many
# central draws is their sd where they are normal
ONE_SIGMA_TAIL = 0.5 * math.erfc(1 / math.sqrt(2))  # 0.1587 below and above it
BOOTSTRAP_STDERR_RULE = "half the central 68% range"
BOOTSTRAP_STDERR_WHY = " (their standard deviation where they are normal; a few far draws do not inflate it)"


def bootstrap_stderr(samples) -> float:
    """The standard error a bootstrap quotes: half the central 68.27% percentile range of the finite
    draws, (q84.13 - q15.87) / 2; nan with fewer than two. For normal draws it is their standard
    deviation; for heavy-tailed ones the sd is set by a few far draws (Kaplan's N_c on the mini
    suite: sd 7.9e20 beside a 95% interval [5.3e11, 4.5e17]) and this stays with the bulk. The
    percentiles are the same machinery as ``percentile_ci``'s, so a skewed parameter's two agree."""
    samples = np.asarray(samples, dtype=float)
    samples = samples[np.isfinite(samples)]
    if samples.size < 2:
        return float("nan")
    lo, hi = np.percentile(samples, [100 * ONE_SIGMA_TAIL, 100 * (1 - ONE_SIGMA_TAIL)])
    with np.errstate(all="ignore"):  # halved first: ends near +-1e308 (an unidentified parameter's) would
        return float(hi / 2 - lo / 2)  # overflow their difference (halving is exact)


def attach_intervals(result: "FitResult", draws: dict, fixed=()) -> None:
    """Bootstrap draws onto a result: each drawn parameter's ci95 and bootstrap_stderr (``fixed``
    parameters, not estimated, keep none) and ``result.draws``. The one place intervals are set."""
    for name, d in draws.items():
        if name in result.params and name not in fixed:
            result.params[name].ci95 = percentile_ci(d)
            result.params[name].bootstrap_stderr = bootstrap_stderr(d)
    result.draws = draws
    params = getattr(result.model_result, "params", None)
    if params is not None:
        result.warnings.extend(w for w in interval_bound_warnings(params, result.params, fixed)
                               if w not in result.warnings)


def at_bound(value: float, bound: float, *, data_limit: bool = False) -> bool:
    """Whether ``value`` lies on ``bound``, one of its parameter's bounds: |value - bound| at most
    BOUND_FRACTION x max(|value|, |bound|) (relative to the parameter's own size: beta 4.998 is on
    5, E 0.019 is not on 0, whatever the other bound), or BOUND_RTOL x max(1, |bound|) (a value
    next to a bound at 0: E 1e-6). A ``data_limit`` bound (E below every loss: the law's domain,
    not a range the fit was given) is judged by BOUND_RTOL alone: an E 0.1% under the lowest loss
    is an estimate. The one at-bound rule, for an estimate and an interval's end alike: it reads
    the numbers alone (an interval's end has no objective to probe), so a fit that stopped short
    of a bound at 0 (gamma 0.001 for 0) reads as an estimate."""
    if not (np.isfinite(bound) and np.isfinite(value)):
        return False
    tolerance = BOUND_RTOL * max(1.0, abs(bound))
    if not data_limit:
        tolerance = max(tolerance, BOUND_FRACTION * max(abs(value), abs(bound)))
    return abs(value - bound) <= tolerance


def _varied(params):
    """(lmfit name, paper name, parameter) of each varied parameter (``log_A`` is ``A``)."""
    for name, p in params.items():
        if getattr(p, "vary", True) and not getattr(p, "expr", None):
            yield name, (name[4:] if name.startswith("log_") else name), p


def bound_warnings(params, data_limits=()) -> list[str]:
    """'parameter X is at its lower/upper bound' for each varied lmfit parameter that ended on
    one of its bounds (``at_bound``; log-scale parameters ``log_A`` are named by their paper name
    ``A``; ``data_limits``: the parameters whose upper bound is a limit of the data, as E below
    every loss).

    The one at-bound check of the fitting layer: a parameter on a bound is not an estimate, its
    interval is not an interval, and the result says so.
    """
    out = []
    for name, shown, p in _varied(params):
        for side, bound in (("lower", p.min), ("upper", p.max)):
            if at_bound(p.value, bound, data_limit=side == "upper" and shown in data_limits):
                out.append(f"parameter {shown} is at its {side} bound")
    return out


class IntervalAtBound(str):
    """A warning of ``interval_bound_warnings``: its words (a str, so JSON and printed text are
    those words alone) and what it says as attributes: ``parameter`` (paper name), ``side``
    ('lower' or 'upper') and ``bound`` (the bound as shown), so a reader tests the kind, not the
    words (``reaches_bound``). Pickling and copying keep it; a JSON round trip, or a caller's
    rewording (a prefix), leaves plain words, which no reader takes for this kind."""

    def __new__(cls, text: str, parameter: str, side: str, bound: float):
        self = super().__new__(cls, text)
        self.parameter, self.side, self.bound = parameter, side, float(bound)
        return self

    def __reduce__(self):  # str's own reduction re-creates it from the words alone
        return type(self), (str(self), self.parameter, self.side, self.bound)


def reaches_bound(warning: str) -> bool:
    """Whether ``warning`` is one of interval_bound_warnings': an interval cut at a bound (a report
    that lists those apart from the rest finds them by this), by its kind, not its words."""
    return isinstance(warning, IntervalAtBound)


def bound_words(bound: float, printed, side: str) -> str:
    """A bound as a warning names it beside its interval's printed ends (``printed``, text): '5',
    or '1e-12 (printed 0)' where the end, printed, lies past the bound (a log-scale A's floor
    1e-12 is 0 to ZERO, so '[0, 3.2] reaches the lower bound 1e-12' read as an end below its
    bound); the bound itself, not the rounded end, so the words say where the fit stopped."""
    end, named = printed[0] if side == "lower" else printed[1], float(f"{bound:g}")  # exp(log 50): 50
    past = float(end) < named if side == "lower" else float(end) > named
    return f"{bound:g} (printed {end})" if past else f"{bound:g}"


def interval_bound_warnings(params, estimates: dict, fixed=(), data_limits=()) -> list[IntervalAtBound]:
    """'parameter X: its 95% interval [lo, hi] reaches the upper bound B: the data do not bound X
    from above' for each varied lmfit parameter (``params``) whose interval (in ``estimates``,
    ParamEstimate by paper name: a bootstrap's, or a trajectory fit's profile interval) ends on a
    bound (``at_bound``, in the fitted scale: log for ``log_A``; ``data_limits`` as for
    bound_warnings) while its estimate does not (that one is said at the bound): the refits piled
    up on the bound, or the profile stays low up to it, so the interval is cut off there."""
    from scalefit.scaling.interval_text import at_zero, interval_ends  # the ends as every table prints them
    out = []
    for name, shown, p in _varied(params):
        est = estimates.get(shown)
        if est is None or shown in fixed or not np.all(np.isfinite(est.ci95)):
            continue
        log = name.startswith("log_")
        if log and min(est.ci95) <= 0:
            continue
        ends = np.log(est.ci95) if log else np.asarray(est.ci95, float)
        for side, end, bound, way in (("lower", ends[0], p.min, "below"),
                                      ("upper", ends[1], p.max, "above")):
            limit = side == "upper" and shown in data_limits
            if at_bound(end, bound, data_limit=limit) and not at_bound(p.value, bound, data_limit=limit):
                shown_bound = float(np.exp(bound) if log else bound)
                printed = interval_ends(*at_zero(*est.ci95, est.value))
                out.append(IntervalAtBound(
                    f"parameter {shown}: its 95% interval [{printed[0]}, {printed[1]}] "
                    f"reaches the {side} bound {bound_words(shown_bound, printed, side)}: the data do "
                    f"not bound {shown} from {way}", shown, side, shown_bound))
    return out

"""What will a run of N parameters trained on D tokens reach? ``predict_run``: a fitted law's loss
at given (N, D), with the curve's 95% interval (the fit's bootstrap draws), an observed run's 95%
interval (``projection.prediction_intervals``: the draws times the runs' own scatter), the N it
was read in, and where the run lies against the fitted runs, in the budget rows' words
(``projection.kind_of``): an interpolation (its compute, N and D within the fitted runs'), an
extrapolation (its compute within theirs, N or D outside), a projection (beyond the largest
fitted compute: nothing checks it) or below the data, with how many times the largest fitted N, D
and C it is.

N is counted as the law counts it (Kaplan et al. 2020: non-embedding; Hoffmann et al. 2022:
all parameters) unless ``n_counts`` says otherwise; the other count is converted with the fitted
runs' own embedding counts (``convention.EmbeddingMap``, as the budget table converts N*). A
Kaplan fit read at total N gave mini-5 at 4x tokens 3.587 where its own, non-embedding N gave
3.784, unsaid; here the count is a column and the conversion is said.

C, and the distances from the largest fitted run, are counted as compare's and fit's budget rows
count them (``table_basis``): for a non-embedding law on a table with both counts, the table's
own C = k N_total D, with the law's 6 N_nonembed D beside it. The run at Kaplan's 10x budget row
(2.42e14 FLOPs, 10x) read 1.51e14 and 17x in the law's count: 62% of the FLOPs it would spend.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from scalefit.errors import InputError
from scalefit.scaling.fitresult import FitResult, observation_interval, percentile_ci
from scalefit.scaling.laws.convention import TOTAL, EmbeddingMap
from scalefit.scaling.laws.fit import total_flops_factor
from scalefit.scaling.laws.projection import (_flops_per_param_token, draw_predictions, kind_of,
                                              outside_range, prediction_intervals)
from scalefit.scaling.laws.projection import budget_basis, budget_convention
from scalefit.scaling.laws.registry import law_for
from scalefit.scaling.laws.runtable import as_run_table, counts_nonembedding, n_label

TOTAL_WORDS, NONEMBED_WORDS = "total", "non-embedding"
N_COUNTS = {"total": TOTAL_WORDS, "params": TOTAL_WORDS, "non-embedding": NONEMBED_WORDS,
            "nonembedding": NONEMBED_WORDS, "params_nonembed": NONEMBED_WORDS}
NOT_JUDGED = "not judged (no fitted runs to compare with: pass table=)"


def compute_only(result: FitResult) -> bool:
    """Whether the law of ``result`` reads compute alone (kaplan-c): fitted to the flops column, which
    counts all parameters, it reads a run's C = k N D with total N and the table's own k."""
    return not {"N", "D"} & set(law_for(result.law).needs)


def law_n_counts(result: FitResult) -> str:
    """'non-embedding' or 'total': the N the law of ``result`` reads (its fitted N column; all
    parameters for a law of compute alone, whose flops count them)."""
    extra = result.extra
    if compute_only(result):
        return TOTAL_WORDS
    return NONEMBED_WORDS if counts_nonembedding(extra.get("n_column"), extra.get("n_source", "")) \
        else TOTAL_WORDS


def checked_n_counts(n_counts) -> str | None:
    """``n_counts`` as 'total' or 'non-embedding' (None: the law's own); else an InputError."""
    if n_counts is None:
        return None
    said = N_COUNTS.get(str(n_counts).strip().lower())
    if said is None:
        raise InputError(f"n_counts (--n-counts) '{n_counts}': expected 'total' (all parameters) or "
                         "'non-embedding' (Kaplan's count)")
    return said


def checked_sizes(N, D) -> tuple[np.ndarray, np.ndarray]:
    """(N, D) broadcast to one shape, each a finite number > 0; else an InputError naming it."""
    arrays = []
    for name, unit, value in (("N", "parameters", N), ("D", "tokens", D)):
        try:
            array = np.asarray(value, dtype=float)
        except (TypeError, ValueError):
            raise InputError(f"{name}: {value!r} is not a number; expected {unit} as a finite number "
                             "> 0 or an array of them") from None
        flat = array.ravel()
        bad = np.flatnonzero(~(np.isfinite(flat) & (flat > 0)))
        if flat.size == 0 or bad.size:
            shown = "nothing" if flat.size == 0 else f"{flat[bad[0]]:g}" + (
                f" (at position {bad[0]})" if flat.size > 1 else "")
            raise InputError(f"{name}: {shown}; expected {unit} as a finite number > 0")
        arrays.append(array)
    try:
        n, d = np.broadcast_arrays(*arrays)
    except ValueError:
        raise InputError(f"N (shape {arrays[0].shape}) and D (shape {arrays[1].shape}) do not "
                         "broadcast: give one D per N, or one of either for all") from None
    return n.ravel().astype(float), d.ravel().astype(float)


def _fitted_frame(result: FitResult, table):
    """The validated frame of the fitted runs (``table``), or None without one."""
    if table is None:
        return None
    return as_run_table(table, result.law, loss=result.extra.get("loss_column", "loss")).frame


def _fitted_runs(result: FitResult, frame, k: float) -> dict | None:
    """{'N', 'D', 'C'} of the fitted runs, N as the law reads it and C = k N D: from ``frame``,
    else from the fit's own lmfit result (its independent variables); None where neither has them.
    A law of compute alone: total N and the compute it was fitted to (the C column)."""
    if frame is not None and compute_only(result) and {"D", "C"} <= set(frame.columns):
        n = frame[TOTAL if TOTAL in frame.columns else "N"].to_numpy(float)
        return {"N": n, "D": frame["D"].to_numpy(float), "C": frame["C"].to_numpy(float)}
    if frame is not None and {"N", "D"} <= set(frame.columns):
        n, d = frame["N"].to_numpy(float), frame["D"].to_numpy(float)
    else:
        kws = getattr(result.model_result, "userkws", None) or {}
        if "N" not in kws or "D" not in kws:
            return None
        n, d = np.broadcast_arrays(np.asarray(kws["N"], float), np.asarray(kws["D"], float))
    return {"N": n, "D": d, "C": k * n * d}


def table_basis(result: FitResult, frame) -> tuple[float, EmbeddingMap] | None:
    """(k, the runs' embedding map) where the budget rows of `scalefit compare` and `scalefit fit`
    count compute otherwise than the law (``projection.budget_basis`` in ``budget_convention``): a
    non-embedding law on a table with both counts states C = k N_total D, the table's own count
    (k its flops over params x tokens), where the law's C is 6 N_nonembed D. None where they
    count it alike (a law of total N, a table of one N count, no table; a law of compute alone
    already reads the table's count)."""
    if frame is None or compute_only(result):
        return None
    k, embedding = budget_basis(result, frame, budget_convention(frame))
    return None if embedding is None else (k, embedding)


def _table_runs(frame) -> dict:
    """{'N', 'D', 'C'} of the fitted runs in the table's own counts: total N (params) and the
    compute of the flops column (or 6 params tokens, as the run table derives it)."""
    return {name: pd.to_numeric(frame[column], errors="coerce").to_numpy(float)
            for name, column in (("N", TOTAL), ("D", "D"), ("C", "C"))}


def _conversion(result: FitResult, frame, given: str, own: str):
    """(the map from the given N to the law's N, its words); (None, '') where the counts agree.
    An InputError where they differ and the table gives no embedding counts to convert with."""
    if given == own:
        return None, ""
    embedding = None if frame is None or result.extra.get("n_source") else EmbeddingMap.from_frame(frame)
    if embedding is None:
        why = ("no run table was given (table=)" if frame is None else
               "the run table has one N column" if not result.extra.get("n_source") else
               f"its N was mapped from column '{result.extra['n_source']}'")
        raise InputError(f"n_counts '{given}': law {result.law} reads {own} N "
                         f"({n_label(result.extra.get('n_column'), result.extra.get('n_source', ''))}), "
                         f"and {given} N cannot be converted to it: {why}, so there are no embedding "
                         f"counts (params and params_nonembed) to convert with; give {own} N")
    convert = (lambda n: embedding.nonembed(n, exact=True)) if own == NONEMBED_WORDS else embedding.total
    words = (f"{given} N converted to the law's {own} N with the fitted runs' own embedding counts "
             f"(interpolated between their sizes, embed ~ N_nonembed^{embedding.slope:.2f} beyond them)")
    return convert, words


def _kinds(n_law, d, c, runs: dict | None) -> list[dict]:
    """Each run's kind, distance from the largest fitted N, D, C and what lies outside them."""
    if runs is None:
        return [{"kind": NOT_JUDGED} for _ in c]
    largest = {name: float(np.nanmax(v)) for name, v in runs.items()}
    smallest_c = float(np.nanmin(runs["C"]))
    out = []
    for n, dd, cc in zip(n_law, d, c):
        kind, _ = kind_of(cc, (), largest["C"], smallest_c)
        outside = [said for name, value in (("N", n), ("D", dd), ("C", cc))
                   if (said := outside_range(name, float(value), runs[name]))]
        if kind == "interpolation" and outside:  # inside the runs' compute, not their shapes
            kind = "extrapolation"
        out.append({"kind": kind, "times_largest_N": float(n / largest["N"]),
                    "times_largest_D": float(dd / largest["D"]),
                    "times_largest_run": float(cc / largest["C"]),
                    "outside_fitted": "; ".join(outside)})
    return out


def predictable(name: str):
    """The registry's law ``name`` where it predicts a run's final loss from N and D (and C, and
    for the data-constrained law U_D: ``checked_unique_tokens``); an InputError for a law of whole
    loss curves, of an allocation alone, or of variables this command cannot be given."""
    law = law_for(name)
    if law.reads_checkpoints or not law.predicts_loss:
        why = "a law of whole loss curves: predict_curve" if law.reads_checkpoints else "it sets an allocation only"
        raise InputError(f"law {law.law_name}: predicts no final loss of a run of N parameters and D tokens ({why})")
    unknown = [v for v in law.extra_variables() if v != UNIQUE]
    if unknown:
        raise InputError(f"law {law.law_name}: reads {', '.join(unknown)} besides N and D; "
                         "use scalefit.scaling.laws.fit.predict(result, N, D, ...) with them")
    return law


UNIQUE = "U_D"  # the unique tokens a run's D tokens repeat (Muennighoff et al. 2023; muennighoff.py)
UNIQUE_NEEDED = ("the data-constrained law reads the unique tokens U_D that each run's D tokens "
                 "repeat (D / U_D - 1 repetitions), as its run table's unique_tokens column gives "
                 "them; U_D = D for a run that repeats no token")


def checked_unique_tokens(name: str, unique_tokens, D=None, option: str = "unique_tokens"):
    """``unique_tokens`` (U_D) as a flat array of finite numbers > 0, each at most its run's D
    where ``D`` is given (broadcast with it), for a law that reads U_D (muennighoff), where it is
    required: no default, since U_D = D (no repetition) would silently predict a run without
    repetition for one that had it. None for any other law, which refuses it. An InputError
    naming ``option`` otherwise."""
    law = law_for(name)
    reads = UNIQUE in law.extra_variables()
    if unique_tokens is None:
        if reads:
            raise InputError(f"{option}: required for law {law.law_name}: {UNIQUE_NEEDED}")
        return None
    if not reads:
        raise InputError(f"{option}: law {law.law_name} reads no unique tokens (only the "
                         "data-constrained law muennighoff does); leave it out")
    try:
        u = np.asarray(unique_tokens, dtype=float).ravel()
    except (TypeError, ValueError):
        raise InputError(f"{option}: {unique_tokens!r} is not a number; expected unique tokens as a "
                         "finite number > 0 or an array of them") from None
    bad = np.flatnonzero(~(np.isfinite(u) & (u > 0)))
    if u.size == 0 or bad.size:
        shown = "nothing" if u.size == 0 else f"{u[bad[0]]:g}"
        raise InputError(f"{option}: {shown}; expected unique tokens as a finite number > 0")
    if D is not None:
        d = np.asarray(D, float).ravel()
        if u.size not in (1, d.size):
            raise InputError(f"{option}: {u.size} values for {d.size} runs; give one per run (paired "
                             "with N and D in order), or one for all")
        u = np.broadcast_to(u, d.shape).astype(float)
        over = np.flatnonzero(u > d)
        if over.size:
            i = int(over[0])
            raise InputError(f"{option}: {u[i]:.4g} unique tokens above the run's {d[i]:.4g} tokens; "
                             "accepted: unique tokens <= D (a run trains on its unique tokens "
                             "D / U_D >= 1 times)")
    return u


def interval_name(kind: str, level: float) -> str:
    """'ci95', 'pi90': an interval's column stem at ``level``."""
    return f"{kind}{100 * level:g}"


def predict_run(result: FitResult, N, D, *, n_counts=None, level: float = 0.95, seed: int = 0,
                table=None, unique_tokens=None) -> pd.DataFrame:
    """The loss a run of ``N`` parameters trained on ``D`` tokens reaches by the fitted law of
    ``result`` (arrays broadcast): one row per run.

    Columns: N (as given), N_counts (what it counts: 'total' or 'non-embedding'), N_law (the N
    the law reads) and N_law_counts, N_converted (how N was converted, '' where it was not), D, C
    (the run's compute as the budget rows of compare and fit count it, its k
    ``flops_per_param_token`` in attrs: k N_law D with the fit's own k; a law of compute alone,
    kaplan-c, reads total N and the table's own k, the count of the flops it was fitted to; a
    non-embedding law on a table with both counts (``table_basis``) k N_total D with the table's
    own k, with N_total and C_law, the law's own 6 N_law D, beside it), loss (the law's curve),
    loss_ci95_lo/hi (the curve's interval over the fit's bootstrap draws; NaN without draws),
    loss_pi95_lo/hi (an observed run's: the draws times the runs' scatter, at least as wide as the
    curve's), kind (interpolation, extrapolation, projection, below the data: the budget rows'
    words, judged against ``table``'s runs, else the fit's own data), times_largest_N,
    times_largest_D, times_largest_run (C) and outside_fitted (which of N, D, C lie outside the
    fitted runs' range, and how far), N and C in C's count (N_total where it is given, else N_law).

    n_counts: the N passed, 'total' or 'non-embedding' (default: the law's own). The other count
    is converted with ``table``'s embedding counts (params and params_nonembed); without them it
    is an InputError that says which N the law reads. ``table``: the run table the law was fitted
    to. ``level``: of both intervals (columns ci95, pi95 at 0.95; ci90 at 0.9).
    ``unique_tokens``: U_D, the unique tokens each run's D tokens repeat (broadcast with D, each
    at most D), required for the data-constrained law (muennighoff: no default, U_D = D for a run
    that repeats none) and refused for any other (``checked_unique_tokens``); a column
    ``unique_tokens`` then follows D.
    """
    predictable(result.law)  # an InputError for a law that predicts no run's final loss
    if not (isinstance(level, (int, float)) and 0 < level < 1):
        raise InputError(f"level: {level!r}; expected a probability in (0, 1), e.g. 0.95")
    n_given, d = checked_sizes(N, D)
    u = checked_unique_tokens(result.law, unique_tokens, d)
    extra = {} if u is None else {UNIQUE: u}
    own = law_n_counts(result)
    given = checked_n_counts(n_counts) or own
    frame = _fitted_frame(result, table)
    convert, converted = _conversion(result, frame, given, own)
    n_law = convert(n_given) if convert is not None else n_given
    k = _flops_per_param_token(result)
    if compute_only(result):  # the law reads C: the run's compute in the table's count, as
        k = total_flops_factor(frame) if frame is not None else k  # prediction_inputs gives it
    c = k * n_law * d
    basis = table_basis(result, frame)  # compute as compare's budget rows count it, and distances in it
    if basis is None:
        n_total, c_run, distance = None, c, (n_law, d, c, _fitted_runs(result, frame, k))
    else:
        n_total = n_given if given == TOTAL_WORDS else basis[1].total(n_law)
        c_run = basis[0] * n_total * d
        distance = (n_total, d, c_run, _table_runs(frame))

    def compute(j: int) -> dict:  # C in the table's count, and the law's own beside it where they differ
        if basis is None:
            return {"C": float(c[j])}
        return {"N_total": float(n_total[j]), "C": float(c_run[j]), "C_law": float(c[j])}

    n_in, d_in = (c / _flops_per_param_token(result), np.ones_like(c)) if compute_only(result) \
        else (n_law, d)
    with np.errstate(all="ignore"):  # the law's curve and each draw's, predicted once for both intervals
        loss, per_draw = drawn = draw_predictions(result, n_in, d_in, **extra)
    n_draws = 0 if per_draw is None else len(per_draw)
    if n_draws:
        ci = np.array([percentile_ci(per_draw[:, j], level) for j in range(n_law.size)])
    else:
        ci = np.full((n_law.size, 2), np.nan)
    kinds = _kinds(*distance)  # no PI beyond REACH x the largest fitted run, as the row states it
    pi = prediction_intervals(result, n_in, d_in, level=level, seed=seed, drawn=drawn,
                              times_largest_run=[j.get("times_largest_run", np.nan) for j in kinds],
                              **extra)
    ci_name, pi_name = interval_name("loss_ci", level), interval_name("loss_pi", level)
    rows = []
    for j, judged in enumerate(kinds):
        pi_j = [pi["pi95_lo"][j], pi["pi95_hi"][j]]
        if n_draws and not np.isnan(pi_j).all():  # no PI (beyond REACH) stays none, not the CI
            pi_j = observation_interval(pi_j, ci[j])
        rows.append({"N": float(n_given[j]), "N_counts": given, "N_law": float(n_law[j]),
                     "N_law_counts": own, "N_converted": converted, "D": float(d[j]),
                     **({} if u is None else {"unique_tokens": float(u[j])}), **compute(j),
                     "loss": float(loss[j]), f"{ci_name}_lo": float(ci[j][0]),
                     f"{ci_name}_hi": float(ci[j][1]), f"{pi_name}_lo": float(pi_j[0]),
                     f"{pi_name}_hi": float(pi_j[1]), **judged})
    out = pd.DataFrame(rows)
    out.attrs.update({"law": result.law, "level": float(level),
                      "flops_per_param_token": k if basis is None else basis[0],
                      "N_law": ("N = params (all parameters: the law reads compute, fitted to a "
                                "flops column that counts them)") if compute_only(result) else
                      n_label(result.extra.get("n_column"), result.extra.get("n_source", "")),
                      "loss_unit": result.extra.get("loss_unit", ""),
                      "n_draws": n_draws, "pi_scatter": pi["pi95_scatter"]})
    if "pi95_note" in pi:
        out.attrs["pi_note"] = pi["pi95_note"]
    if basis is not None:  # C and the distances in the table's count; the law's own C beside them
        out.attrs["law_flops_per_param_token"] = k
    return out


# --- the command's document and text ---------------------------------------------------------

KIND_WORDS = {  # in the order the text says them
    "interpolation": "its compute, N and D within the fitted runs'",
    "extrapolation": "its compute within the fitted runs', its N or D outside their range (outside_fitted "
                     "says which and how far)",
    "projection": "beyond the largest fitted run's compute: no run checks it",
    "below the data": "under the smallest fitted run's compute: the law's form, not the runs, sets it",
}


def prediction_document(result: FitResult, N, D, *, n_counts=None, seed: int = 0, table=None,
                        source: str = "", law_given: str | None = None,
                        unique_tokens=None) -> tuple[dict, pd.DataFrame]:
    """(`scalefit predict run`'s --json document, ``predict_run``'s frame): the rows with their
    intervals as [lo, hi] (the budget rows' shape), what N and C count, what the distances are
    of, what the intervals are, and the fit. ``law_given``: the law as the user named it (an
    alias, `kaplan` for kaplan-nd; default the fit's own name). ``unique_tokens``: predict_run's."""
    from scalefit.scaling.laws.report import scatter_text
    frame = predict_run(result, N, D, n_counts=n_counts, seed=seed, table=table,
                        unique_tokens=unique_tokens)
    rows = []
    for record in frame.to_dict("records"):
        row = {}
        for key, value in record.items():
            if key.endswith("_lo") and key[:-3].endswith(("_ci95", "_pi95")):
                row[key[:-3]] = [value, record[key[:-3] + "_hi"]]
            elif not (key.endswith("_hi") and key[:-3].endswith(("_ci95", "_pi95"))):
                row[key] = value
        rows.append(row)
    attrs = frame.attrs
    k = attrs["flops_per_param_token"]
    compute = f"C = {k:g} N D with the law's N ({law_n_counts(result)})"
    if compute_only(result):
        compute = (f"C = {k:g} N D with total N: the run table's own count (its flops over params x "
                   "tokens), the compute the law was fitted to")
    elif law_n_counts(result) == NONEMBED_WORDS:  # Kaplan's count: a table's flops count all parameters
        compute += ", as Kaplan et al. 2020 count compute: not a flops column's count, which holds all parameters"
    distances = ("x largest fitted (and the lines under kind): N as the law reads it, D and C over the "
                 "largest fitted run's")
    if "law_flops_per_param_token" in attrs:  # compare's and fit's budget rows' count, not the law's
        compute = (f"C = {k:.3g} N D with total N: the run table's own count (its flops over params x "
                   "tokens), as the budget rows of `scalefit compare` and `scalefit fit` count compute; "
                   f"law's C = {attrs['law_flops_per_param_token']:g} N D with the law's N "
                   f"({law_n_counts(result)}), as Kaplan et al. 2020 count it")
        distances = ("x largest fitted (and the lines under kind): total N, D and C in the table's count "
                     "over the largest fitted run's, as compare's 'x largest run'")
    scatter = (scatter_text({None: attrs["pi_scatter"]}) or "").replace("each budget's N*", "the law's N")
    boot = (result.extra.get("bootstrap") or {}).get("n")
    out = {"law": result.law, "law_given": law_given or result.law, "data": source,
           "loss_unit": attrs["loss_unit"],
           "n_counts": rows[0]["N_counts"], "law_n": attrs["N_law"],
           "n_converted": rows[0]["N_converted"], "compute": compute, "flops_per_param_token": k,
           "distances": distances,
           "ci95": (f"the law's curve over its {attrs['n_draws']} bootstrap refits (of {boot})"
                    if attrs["n_draws"] else "none: no bootstrap draws (--bootstrap 0)"),
           "pi95": ("where an observed run's loss would fall: "
                    + ("the curve's draws" if attrs["n_draws"] else "the law's curve")
                    + f" times the runs' own scatter ({scatter})"
                    + (", at least as wide as the curve's interval" if attrs["n_draws"] else "")
                    + (f"; {attrs['pi_note']}" if attrs.get("pi_note") else "")),
           "runs": rows, "fit": result.to_dict()}
    if "unique_tokens" in frame.columns:  # the data-constrained law's U_D, as given
        out["unique_tokens"] = ("U_D, those each run's D tokens repeat, as given (D / U_D - 1 "
                                "repetitions; U_D = D: none)")
    return out, frame


def _times(row: dict) -> str:
    """'N 1.68x, D 12x, C 1.68e+06x': a run's distance from the largest fitted run, to 3
    significant digits as the footnote's (``projection.outside_range``)."""
    if "times_largest_N" not in row:
        return "-"
    return ", ".join(f"{name} {row[key]:.3g}x" for name, key in
                     (("N", "times_largest_N"), ("D", "times_largest_D"), ("C", "times_largest_run")))


def law_heading(out: dict) -> str:
    """'kaplan (kaplan-nd)': the law as the user named it (``out['law_given']``), with the registry's
    name (``out['law']``) where that was an alias ('chinchilla' where it was not, or where no
    ``law_given`` is said). The one heading of `scalefit predict run` and `scalefit fit`."""
    given = out.get("law_given") or out["law"]
    return given if given == out["law"] else f"{given} ({out['law']})"


def run_text(out: dict) -> str:
    """What `scalefit predict run` prints: the table (each loss to the place of its interval's
    printed ends), then what N and C count, what the two intervals are and what each kind means."""
    from scalefit.scaling.interval_text import estimate_and_ends, interval_ends, value_at_interval
    from scalefit.scaling.laws.report import text_table
    unit = out["loss_unit"]
    cells = []
    for row in out["runs"]:
        ci, pi = row["loss_ci95"], row["loss_pi95"]
        if np.all(np.isfinite(ci)):
            loss, lo, hi = estimate_and_ends(row["loss"], *ci)
            ci_text = f"[{lo}, {hi}]"
        else:
            loss, ci_text = value_at_interval(row["loss"], *pi), "-"
        pi_text = "[{}, {}]".format(*interval_ends(*pi, row["loss"])) if np.all(np.isfinite(pi)) else "-"
        cell = {"N (parameters)": f"{row['N']:.4g} {row['N_counts']}",
                "law's N": f"{row['N_law']:.4g} {row['N_law_counts']}"}
        if "N_total" in row and row["N_counts"] != TOTAL_WORDS:  # the N that C and the distances read
            cell["total N"] = f"{row['N_total']:.4g}"
        cell["D (tokens)"] = f"{row['D']:.4g}"
        if "unique_tokens" in row:  # the data-constrained law's U_D
            cell["unique tokens"] = f"{row['unique_tokens']:.4g}"
        cell["C (FLOPs)"] = f"{row['C']:.3g}"
        if "C_law" in row:  # the table's count first, as compare's budget rows; the law's own beside it
            cell["law's C"] = f"{row['C_law']:.3g}"
        cells.append({**cell, f"loss ({unit})": loss, "95% CI": ci_text, "95% PI": pi_text,
                      "kind": row["kind"], "x largest fitted": _times(row)})
    lines = [f"{law_heading(out)} fitted to {out['fit']['n_points']} runs of {out['data']}: the loss of a "
             "run of N parameters trained on D tokens", "", text_table(pd.DataFrame(cells)), ""]
    counts = f"N: {out['n_counts']} parameters as given; the law reads {out['law_n']}"
    lines.append(counts + (f": {out['n_converted']}" if out["n_converted"] else ""))
    if "unique_tokens" in out:
        lines.append(f"unique tokens: {out['unique_tokens']}")
    lines.append(out["compute"])
    if any("times_largest_N" in row for row in out["runs"]):
        lines.append(out["distances"])
    lines.append(f"95% CI: {out['ci95']}")
    lines.append(f"95% PI: {out['pi95']}")
    kinds = {row["kind"] for row in out["runs"]}
    said = [f"{kind}: {words}" for kind, words in KIND_WORDS.items() if kind in kinds]
    lines += [f"kind: {'; '.join(said)}"] if said else []
    lines += [f"  {row['N']:.4g}, {row['D']:.4g}: {row['outside_fitted']}" for row in out["runs"]
              if row.get("outside_fitted")]
    lines += [f"warning: {w}" for w in out["fit"].get("warnings", ())]
    return "\n".join(lines)

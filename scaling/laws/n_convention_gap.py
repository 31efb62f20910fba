"""How the gap between two laws' allocation exponents moves with the way they count parameters
and with their functional form, in both orders.

Kaplan et al. 2020 count non-embedding parameters, Hoffmann et al. 2022 all of them; Pearce & Song
2024 ("Reconciling Kaplan and Chinchilla Scaling Laws", arXiv:2406.12907) argue that this, at small
scale, is much of why Kaplan's a is higher. On a table with both columns each law can be fitted on
either count, which gives a 2x2 of allocation exponents (form x N convention):

                         N non-embedding    N total
    non-embedding law    a_K  (its fit)     a_K'  (refitted with N = params)
    total-N law          a_C' (refitted)    a_C   (its fit)

The gap a_K - a_C can be walked in two orders, and the parts depend on the order:

    N convention first:  (a_C' - a_C) the N convention,  then (a_K - a_C') the form
    form first:          (a_K' - a_C) the form,          then (a_K - a_K') the N convention

Each path's two parts add up to the gap. Neither order is the right one, so the split reported
as the answer is their average (the Shapley split: each factor's change averaged over both
orders), with both orders beside it; where the gap's own interval holds 0 these are changes of a
along paths, not shares of an identified gap. Every fit is refitted to the same resamples of the
same runs (the comparison's seed and n_bootstrap), so each part's 95% interval is the percentile
interval of its per-resample values.

What C is in each fit: every a is the exponent of N*(C) at C = k N D with the fit's own N (a law's
``exponents``, in which the constant k does not enter), so the two fits on non-embedding N (the
Kaplan law's own fit and the total-N law refitted) give a at Kaplan's C = 6 N_nonembed D, and the
two on all parameters (the total-N law's own fit and the Kaplan law refitted) at C = k N_total D,
the compute the flops column counts. The refits read D and the flops column as the original fits
read them (``validate_runs`` on the whole table: the flops column, or 6 N_total D where it is
missing), so relabelling N never changes the table's compute; only the refits' own budget rows,
which nothing here reads, state C in the relabelled N.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from scalefit.scaling.fitresult import FitResult, percentile_ci
from scalefit.scaling.interval_text import estimate_text, excludes_zero, finite_interval, with_interval
from scalefit.scaling.laws.convention import NONEMBED, TOTAL
from scalefit.scaling.laws.registry import law_for
from scalefit.scaling.laws.runtable import validate_runs
from scalefit.scaling.resample import too_few_resamples

CONVENTION, FORM = "n_convention", "functional_form"
CONVENTION_FIRST, FORM_FIRST = "n_convention_first", "functional_form_first"


def _part(value: float, draws) -> dict:
    out = {"value": float(value)}
    if draws is not None:
        out["ci95"] = list(percentile_ci(draws))
    return out


def _a(fit: FitResult) -> float:
    return float(fit.extra.get("allocation", {}).get("a", np.nan))


def _runs_draws(fit: FitResult):
    draws = fit.allocation_draws or {}
    return np.asarray(draws["a"], float) if draws.get("resampled") == "runs" else None


def refit_on_other_n(runs: pd.DataFrame, law: str, n_from: str, n_to: str, *, loss: str,
                     delta: float, n_bootstrap: int, seed: int) -> FitResult:
    """``law`` fitted to ``runs`` with N read from column ``n_from``, relabelled ``n_to`` (the
    column the law reads N from on a table with both, which is dropped), D and C as the fit of
    the whole table read them: the flops column, or 6 N_total D where it is missing."""
    from scalefit.scaling.laws.fit import fit_law

    table = validate_runs(runs, law, loss=loss, check_size=False)
    relabelled = (runs.drop(columns=[n_to]).rename(columns={n_from: n_to})
                  .assign(tokens=table.D, flops=table.C))
    return fit_law(relabelled, law, loss=loss, delta=delta, n_bootstrap=n_bootstrap, seed=seed)


def n_convention_gap(runs: pd.DataFrame, fits: dict[str, FitResult], *, loss: str = "loss",
                     delta: float, n_bootstrap: int, seed: int) -> dict | None:
    """The 2x2 of allocation exponents (each law on each N count) of a non-embedding-N law and a
    total-N law fitted to the same ``runs`` (their names in ``fits``), the gap's split along both
    orders and their average, or None where it does not apply (the table lacks one of the two
    columns, or no such pair of laws was fitted).

    Keys: ``laws`` [non-embedding law, total-N law]; ``a`` {law: {column: {value, ci95}}};
    ``total`` the gap; ``paths`` {n_convention_first, functional_form_first: {via (the refit the
    path passes through), n_convention, functional_form}}; ``shapley`` {n_convention,
    functional_form}: each the mean of the two paths' parts, per resample too; ``interaction``
    the N convention's part with the total-N law's form less that with the non-embedding law's
    (how far the split depends on the order). Kept from before, with their meaning: ``refit``,
    ``a_refit`` (``a_refit_ci95``) the total-N law on non-embedding N, and ``parts`` {total,
    n_convention, functional_form}, the N-convention-first path."""
    if TOTAL not in runs.columns or NONEMBED not in runs.columns:
        return None
    counts = {name: f.extra.get("n_column") for name, f in fits.items() if np.isfinite(_a(f))}
    nonembed = next((n for n, c in counts.items() if c == NONEMBED), None)
    total = next((n for n, c in counts.items() if c == TOTAL and law_for(fits[n].law).predicts_loss), None)
    if nonembed is None or total is None:
        return None
    same = dict(loss=loss, delta=delta, n_bootstrap=n_bootstrap, seed=seed)
    # the total-N law on non-embedding N, and its mirror: the non-embedding law on all parameters
    total_on_nonembed = refit_on_other_n(runs, fits[total].law, NONEMBED, TOTAL, **same)
    nonembed_on_total = refit_on_other_n(runs, fits[nonembed].law, TOTAL, NONEMBED, **same)
    grid = {(nonembed, NONEMBED): fits[nonembed], (nonembed, TOTAL): nonembed_on_total,
            (total, TOTAL): fits[total], (total, NONEMBED): total_on_nonembed}
    a = {key: _a(f) for key, f in grid.items()}
    draws = {key: _runs_draws(f) for key, f in grid.items()}
    paired = (all(d is not None for d in draws.values())
              and len({d.size for d in draws.values()}) == 1)
    if not paired:
        draws = {key: None for key in grid}

    def change(values, to, frm):
        return values[to] - values[frm]

    K, Kt, C, Cn = (nonembed, NONEMBED), (nonembed, TOTAL), (total, TOTAL), (total, NONEMBED)
    steps = {CONVENTION_FIRST: {CONVENTION: (Cn, C), FORM: (K, Cn)},
             FORM_FIRST: {FORM: (Kt, C), CONVENTION: (K, Kt)}}
    vias = {CONVENTION_FIRST: f"{total} with N = {NONEMBED}", FORM_FIRST: f"{nonembed} with N = {TOTAL}"}

    def both(to, frm):  # (value, per-resample values or None)
        return change(a, to, frm), (change(draws, to, frm) if paired else None)

    paths = {}
    for path, parts in steps.items():
        paths[path] = {"via": vias[path], **{name: _part(*both(*ends)) for name, ends in parts.items()}}
    shapley = {}
    for name in (CONVENTION, FORM):  # each factor's change averaged over the two orders
        (v1, d1), (v2, d2) = (both(*steps[path][name]) for path in (CONVENTION_FIRST, FORM_FIRST))
        shapley[name] = _part((v1 + v2) / 2, (d1 + d2) / 2 if paired else None)
    (c1, e1), (c2, e2) = (both(*steps[path][CONVENTION]) for path in (CONVENTION_FIRST, FORM_FIRST))
    gap_total = _part(*both(K, C))
    out = {"laws": [nonembed, total],
           "a": {law: {column: _part(a[(law, column)], draws[(law, column)])
                       for column in (NONEMBED, TOTAL)} for law in (nonembed, total)},
           "total": gap_total, "paths": paths, "shapley": shapley,
           "interaction": _part(c1 - c2, e1 - e2 if paired else None),
           # kept from before: the N-convention-first path, through the total-N law's refit
           "refit": vias[CONVENTION_FIRST], "a_refit": a[Cn],
           "parts": {"total": gap_total, **{name: paths[CONVENTION_FIRST][name] for name in (CONVENTION, FORM)}}}
    if paired:
        out["a_refit_ci95"] = list(percentile_ci(draws[Cn]))
        out["n_resamples"] = int(np.isfinite(sum(draws.values())).sum())
    return out


def _ci(part: dict):
    return finite_interval(part.get("ci95"))


def _estimate(part: dict, sign: bool = False) -> str:
    """The value to the place of its interval's printed ends (4 significant digits without one)."""
    return estimate_text(part["value"], part.get("ci95"), sign)


def _shown(part: dict) -> str:
    """'+0.24 [+0.05, +0.30]': signed, every number to the place of the interval's ends."""
    return with_interval(part["value"], part.get("ci95"), sign=True, missing="")


def _side(part: dict) -> int:
    """+1 or -1 where the part's 95% interval lies above or below 0; 0 where it holds 0 or there
    is none."""
    ci = part.get("ci95")
    return 0 if not excludes_zero(ci) else (1 if ci[0] > 0 else -1)


def _readable_split(gap: dict) -> bool:
    """Whether the split has paired intervals over enough resamples to read a verdict from."""
    return "n_resamples" in gap and not too_few_resamples(gap["n_resamples"])


def parts_beyond_zero(gap: dict) -> list[str] | None:
    """The parts of the averaged split (``n_convention``, ``functional_form``) whose 95% interval
    excludes 0 on the gap's side: what these runs show moving a the way the gap goes. None where
    the split has no such intervals (no bootstrap, too few resamples) or the gap is 0."""
    sign = np.sign(gap["total"]["value"])
    if not _readable_split(gap) or sign == 0:
        return None
    return [name for name in (CONVENTION, FORM) if _side(gap["shapley"][name]) == sign]


def _order_reading(gap: dict) -> tuple[bool, str]:
    """Whether the runs show that the split depends on the order (the interaction's interval
    excludes 0, over enough resamples), and, where not, why they cannot say."""
    inter = gap["interaction"]
    if _ci(inter) is None:
        return False, "has no interval here (--bootstrap)"
    if not _side(inter):
        return False, "holds 0"
    if not _readable_split(gap):
        return False, f"rests on only {gap.get('n_resamples', 0)} resamples"
    return True, "excludes 0"


def gap_sentence(gap: dict) -> str:
    """The comparison's reading of ``n_convention_gap``: the 2x2 of a, the split averaged over
    both orders with each order's value, whether the split depends on the order (said only where
    the interaction's interval excludes 0), and, where the gap's interval holds 0 (or there is
    none), that the parts are changes along paths, not a decomposition of an identified gap."""
    nonembed, total = gap["laws"]
    a, paths, shapley = gap["a"], gap["paths"], gap["shapley"]
    first, second = paths[CONVENTION_FIRST], paths[FORM_FIRST]

    def pair(law):
        return " / ".join(_estimate(a[law][column]) for column in (NONEMBED, TOTAL))
    text = (f"on non-embedding / total N, {nonembed}'s form gives a = {pair(nonembed)} and "
            f"{total}'s {pair(total)}, so ")
    gap_text = f"the gap {nonembed} - {total} = {_shown(gap['total'])}"
    # each factor changed first and second: the N convention is changed first on the
    # N-convention-first path, the form on the other; first less second is the interaction for both
    conv_first = _estimate(first[CONVENTION], True)
    conv_second = _estimate(second[CONVENTION], True)
    form_first, form_second = _estimate(second[FORM], True), _estimate(first[FORM], True)

    def averaged(conv_orders: str = "", form_orders: str = "") -> str:
        """The split averaged over both orders, each part followed by its ``*_orders`` aside."""
        return (f"the N convention moves a by {_shown(shapley[CONVENTION])}{conv_orders} and the "
                f"form by {_shown(shapley[FORM])}{form_orders}")
    interaction = _shown(gap["interaction"])
    depends, why = _order_reading(gap)
    if depends:
        text += (f"the split of {gap_text} depends on the order (changed first less second: "
                 f"{interaction}): averaged over both, "
                 + averaged(f" ({conv_first} if changed first, {conv_second} if second)",
                            f" ({form_first} if first, {form_second} if second)"))
    elif conv_first == conv_second and form_first == form_second:
        text += f"in either order, of {gap_text}, {averaged()}"
    else:
        text += (f"of {gap_text}, averaged over both orders, {averaged()}; changed first / second, "
                 f"the two give {conv_first} / {conv_second} (N convention) and {form_first} / "
                 f"{form_second} (form); their difference, {interaction}, {why}, so these runs "
                 f"cannot say whether the split depends on the order")
    ci = _ci(gap["total"])
    if ci is None:
        text += ("; the gap has no interval here (--bootstrap), so these are changes along paths, "
                 "not a decomposition of an identified gap")
    elif ci[0] <= 0 <= ci[1]:
        text += "; the gap's interval holds 0, so these are changes along paths, not a decomposition of an identified gap"
    return text

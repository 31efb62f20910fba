"""How much of the gap between two laws' allocation exponents is the way they count parameters.

Kaplan et al. 2020 count non-embedding parameters, Hoffmann et al. 2022 all of them; Pearce & Song
2024 ("Reconciling Kaplan and Chinchilla Scaling Laws", arXiv:2406.12907) argue that this, at small
scale, is much of why Kaplan's a is higher. On a table with both columns the question has a
measured answer: refit the total-N law with N = non-embedding parameters, then

    a_kaplan - a_chinchilla = (a_chinchilla[N non-embedding] - a_chinchilla)   the N convention
                            + (a_kaplan - a_chinchilla[N non-embedding])        the functional form

Every fit is refitted to the same resamples of the same runs, so each part's 95% interval is the
percentile interval of its per-resample values.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from scalefit.scaling.fitresult import FitResult, percentile_ci
from scalefit.scaling.laws.convention import NONEMBED, TOTAL
from scalefit.scaling.laws.registry import law_for
from scalefit.scaling.laws.runtable import validate_runs

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


def n_convention_gap(runs: pd.DataFrame, fits: dict[str, FitResult], *, loss: str = "loss",
                     delta: float, n_bootstrap: int, seed: int) -> dict | None:
    """The split of the allocation gap between a non-embedding-N law and a total-N law fitted to
    the same ``runs`` (their names in ``fits``), or None where it does not apply (the table lacks
    one of the two columns, or no such pair of laws was fitted)."""
    from scalefit.scaling.laws.fit import fit_law

    if TOTAL not in runs.columns or NONEMBED not in runs.columns:
        return None
    counts = {name: f.extra.get("n_column") for name, f in fits.items() if np.isfinite(_a(f))}
    nonembed = next((n for n, c in counts.items() if c == NONEMBED), None)
    total = next((n for n, c in counts.items() if c == TOTAL and law_for(fits[n].law).predicts_loss), None)
    if nonembed is None or total is None:
        return None
    # the total-N law with N = non-embedding parameters (compute and tokens as the table has them)
    table = validate_runs(runs, fits[total].law, loss=loss, check_size=False)  # D and C as the fit read them
    relabelled = (runs.drop(columns=[TOTAL]).rename(columns={NONEMBED: TOTAL})
                  .assign(tokens=table.D, flops=table.C))
    refit = fit_law(relabelled, fits[total].law, loss=loss, delta=delta, n_bootstrap=n_bootstrap, seed=seed)
    a_k, a_c, a_r = _a(fits[nonembed]), _a(fits[total]), _a(refit)
    d_k, d_c, d_r = _runs_draws(fits[nonembed]), _runs_draws(fits[total]), _runs_draws(refit)
    paired = all(d is not None for d in (d_k, d_c, d_r)) and d_k.size == d_c.size == d_r.size
    parts = {"total": _part(a_k - a_c, d_k - d_c if paired else None),
             "n_convention": _part(a_r - a_c, d_r - d_c if paired else None),
             "functional_form": _part(a_k - a_r, d_k - d_r if paired else None)}
    out = {"laws": [nonembed, total], "refit": f"{total} with N = {NONEMBED}",
           "a_refit": a_r, "parts": parts}
    if paired:
        out["a_refit_ci95"] = list(percentile_ci(d_r))
        out["n_resamples"] = int(np.isfinite(d_k - d_c).sum())
    return out


def gap_sentence(gap: dict) -> str:
    """One clause for the comparison's reading: the refit's a and the two parts with intervals."""
    nonembed, total = gap["laws"]
    p = gap["parts"]

    def show(part):
        ci = part.get("ci95")
        return (f"{part['value']:+.2f} [{ci[0]:+.2f}, {ci[1]:+.2f}]" if ci and np.all(np.isfinite(ci))
                else f"{part['value']:+.2f}")
    ci = gap.get("a_refit_ci95")
    refit = f"a = {gap['a_refit']:.2f}" + (f" [{ci[0]:.2f}, {ci[1]:.2f}]" if ci else "")
    return (f"refitted with non-embedding N as {nonembed} counts it, {total}'s form gives {refit}, "
            f"so of the gap {nonembed} - {total} = {show(p['total'])} the N convention accounts for "
            f"{show(p['n_convention'])} and the functional form for {show(p['functional_form'])}")

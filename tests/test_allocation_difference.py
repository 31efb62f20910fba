"""Whether two laws' allocations differ is read from their paired difference in a: both laws are
refitted to the same resamples of the same runs, so the interval of the difference is the test, and
the two intervals' overlap (a far weaker test) is only the fallback."""
from __future__ import annotations

import numpy as np
import pytest

from scalefit.scaling.fitresult import FitResult, ParamEstimate, percentile_ci
from scalefit.scaling.laws.compare import (allocation_difference, allocation_verdict, compare_laws,
                                           explain_disagreement)
from tests.test_projection import make_runs_frame, shipped_grid


def _fit(a_draws, law="chinchilla"):
    a_draws = np.asarray(a_draws, float)
    return FitResult(law=law, params={"E": ParamEstimate(1.0)}, n_points=20, objective=0.0,
                     converged=True, draws={"E": np.ones(a_draws.size)},
                     extra={"allocation": {"a": float(np.nanmedian(a_draws)),
                                           "a_ci95": list(percentile_ci(a_draws))}},
                     allocation_draws={"a": a_draws, "b": 1 - a_draws, "resampled": "runs"})


def _shared_noise_fits(gap, n=1000, seed=0):
    """Two laws whose a moves with the same resample (shared sd 0.05) and differs by ``gap``."""
    rng = np.random.default_rng(seed)
    shared = 0.05 * rng.standard_normal(n)
    return {"kaplan": _fit(0.60 + gap + shared + 0.004 * rng.standard_normal(n), "kaplan-nd"),
            "chinchilla": _fit(0.60 + shared + 0.004 * rng.standard_normal(n))}


def test_paired_difference_tells_apart_what_overlapping_intervals_cannot():
    fits = _shared_noise_fits(gap=0.04)
    lo_k, hi_k = fits["kaplan"].extra["allocation"]["a_ci95"]
    lo_c, hi_c = fits["chinchilla"].extra["allocation"]["a_ci95"]
    assert max(lo_k, lo_c) < min(hi_k, hi_c)  # the intervals overlap widely
    assert allocation_verdict(fits)[0] == "agree"  # the overlap rule cannot tell them apart
    diff = allocation_difference(fits)
    assert diff["laws"] == ["kaplan", "chinchilla"] and diff["n_resamples"] == 1000
    assert diff["a_difference"] == pytest.approx(fits["kaplan"].extra["allocation"]["a"]
                                                 - fits["chinchilla"].extra["allocation"]["a"])
    assert 0.02 < diff["ci95"][0] < 0.04 < diff["ci95"][1] < 0.06  # sd of the difference 0.0057
    verdict, _, more = allocation_verdict(fits, diff)
    assert verdict == "differ" and more == "kaplan"
    sentence = explain_disagreement(make_runs_frame(), fits, diff)[0]
    assert "differ: the difference kaplan - chinchilla = 0.04 [0.03, 0.05] over the same resamples excludes 0" in sentence
    assert "excludes 0" in sentence and "agree" not in sentence


def test_a_difference_whose_interval_holds_zero_is_not_told_apart():
    fits = _shared_noise_fits(gap=0.0)
    diff = allocation_difference(fits)
    assert diff["ci95"][0] < 0 < diff["ci95"][1]
    assert allocation_verdict(fits, diff)[0] == "agree"
    sentence = explain_disagreement(make_runs_frame(), fits, diff)[0]
    assert "includes 0, so these runs do not tell the two allocations apart" in sentence
    assert "agree within" not in sentence  # not told apart is not shown equal


def test_no_paired_difference_without_aligned_draws():
    fits = _shared_noise_fits(gap=0.04)
    fits["chinchilla"].allocation_draws = {"a": np.ones(999), "b": np.zeros(999), "resampled": "runs"}  # another bootstrap
    assert allocation_difference(fits) is None
    fits["chinchilla"].allocation_draws = dict(fits["kaplan"].allocation_draws, resampled="budget optima")
    assert allocation_difference(fits) is None  # an IsoFLOP fit resamples its budgets' optima, not the runs
    fits["chinchilla"].allocation_draws = None  # no bootstrap at all
    assert allocation_difference(fits) is None
    few = _shared_noise_fits(gap=0.04, n=5)  # 5 resamples cannot tell anything apart
    assert allocation_verdict(few, allocation_difference(few))[0] == "unknown"


def test_compare_pairs_the_laws_resamples_on_the_shipped_grid():
    """compare_laws refits both laws to the same resamples: the difference's interval is the
    percentile interval of the per-resample differences, and the JSON carries it."""
    cmp = compare_laws(shipped_grid(), n_bootstrap=200, seed=0)
    diff = cmp.to_dict()["allocation_difference"]
    kap, chin = cmp.fits["kaplan"], cmp.fits["chinchilla"]
    assert diff["laws"] == ["kaplan", "chinchilla"]
    assert diff["a_difference"] == pytest.approx(kap.extra["allocation"]["a"]
                                                 - chin.extra["allocation"]["a"])
    per_resample = kap.allocation_draws["a"] - chin.allocation_draws["a"]
    assert diff["ci95"] == pytest.approx(list(percentile_ci(per_resample)))
    assert diff["n_resamples"] == np.isfinite(per_resample).sum() >= 190
    # the draws are each law's own: their intervals are the ones the fits report
    assert kap.extra["allocation"]["a_ci95"] == pytest.approx(list(percentile_ci(kap.allocation_draws["a"])))
    assert "same resamples" in cmp.explanation[0]


@pytest.mark.slow
def test_readme_quotes_what_the_main_command_prints():
    """The README's Kaplan-vs-Chinchilla paragraph holds the numbers `scalefit compare kaplan
    chinchilla` gives on the shipped grid (its defaults: 1000 resamples, seed 0)."""
    from pathlib import Path
    readme = " ".join((Path(__file__).resolve().parents[1] / "README.md").read_text().split())
    cmp = compare_laws(shipped_grid(), n_bootstrap=1000, seed=0)
    chin, kap = cmp.fits["chinchilla"], cmp.fits["kaplan"]

    def ci(lo, hi, fmt=".2f"):
        return f"[{lo:{fmt}}, {hi:{fmt}}]"
    beta = chin.params["beta"]
    diff = cmp.allocation_difference
    n_opt = cmp.budgets[0]
    quoted = [
        f"RMSE(log L) {chin.extra['rmse_log']:.4f} and AIC {chin.extra['aic']:.1f}",
        f"beta = {beta.value:.2f} {ci(*beta.ci95)}",
        f"a = {chin.extra['allocation']['a']:.2f} {ci(*chin.extra['allocation']['a_ci95'])}",
        f"RMSE {kap.extra['rmse_log']:.4f}, AIC {kap.extra['aic']:.1f}, "
        f"a = {kap.extra['allocation']['a']:.2f} {ci(*kap.extra['allocation']['a_ci95'])}",
        f"differ by {diff['a_difference']:.2f} {ci(*diff['ci95'])}",
        f"same {diff['n_resamples']} resamples",
        "N* = {} {} total parameters".format(
            f"{n_opt['chinchilla_N_opt']:.3g}".replace("e+0", "e"),
            ci(*n_opt["chinchilla_N_opt_ci95"], ".3g").replace("e+0", "e")),
    ]
    gap = cmp.n_convention_gap

    def part(p):
        return f"{p['value']:+.2f} [{p['ci95'][0]:+.2f}, {p['ci95'][1]:+.2f}]"

    def pair(law):
        return " / ".join(f"{gap['a'][law][c]['value']:.2f}" for c in ("params_nonembed", "params"))
    first, second = gap["paths"]["n_convention_first"], gap["paths"]["functional_form_first"]
    quoted += [f"Kaplan's form gives a = {pair('kaplan')} and Chinchilla's {pair('chinchilla')}",
               f"the N convention moves a by {part(gap['shapley']['n_convention'])} and the form by "
               f"{part(gap['shapley']['functional_form'])}",
               f"changed first / second they give {first['n_convention']['value']:+.2f} / "
               f"{second['n_convention']['value']:+.2f} (N convention) and {second['functional_form']['value']:+.2f} / "
               f"{first['functional_form']['value']:+.2f} (form)",
               f"that difference, {part(gap['interaction'])}"]
    for text in quoted:
        assert text in readme, text
    assert (diff["ci95"][0] < 0 < diff["ci95"][1]) == ("do not tell the two allocations apart" in readme)
    lo, hi = gap["total"]["ci95"]
    assert (lo <= 0 <= hi) == ("not a decomposition of an identified gap" in readme)
    lo, hi = gap["interaction"]["ci95"]
    assert (lo <= 0 <= hi) == ("cannot say whether the split depends on the order" in readme)

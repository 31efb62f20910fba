"""The Kaplan/Chinchilla allocation gap walked through the N convention and the functional form in
both orders (n_convention_gap): the 2x2 of a (each form on each N count), each path's parts, their
average over the two orders, each on the same resamples.

The simulated runs follow a Chinchilla law in total parameters, L = E + A / N_tot^alpha + B / D^beta,
with N_tot = c N_nonembed^k: on non-embedding N the same law is E + A c^-alpha / N_ne^(alpha k) +
B / D^beta, so the Chinchilla form's a moves, exactly, from beta / (alpha + beta) on total N to
beta / (alpha k + beta) on non-embedding N (the embedding share falls with size, 84% to 60%)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from scalefit.scaling.fitresult import percentile_ci
from scalefit.scaling.interval_text import value_at_interval
from scalefit.scaling.laws.compare import compare_laws, explain_disagreement
from scalefit.scaling.laws.fit import fit_law
from scalefit.scaling.laws.n_convention_gap import gap_sentence
from scalefit.scaling.laws.runtable import validate_runs

E, A, ALPHA, B, BETA = 1.7, 400.0, 0.34, 410.0, 0.28
C, K = 100.0, 0.8  # N_tot = C * N_nonembed^K
A_TOTAL = BETA / (ALPHA + BETA)  # Chinchilla's a on total N
A_NONEMBED = BETA / (ALPHA * K + BETA)  # the same law read on non-embedding N
N_BOOT = 40


def simulated_runs(seed=0, sigma=0.002):
    rng = np.random.default_rng(seed)
    nonembed = np.repeat(np.geomspace(1e6, 1e8, 5), 4)
    total = C * nonembed ** K
    tokens = np.tile(np.geomspace(1e8, 1e10, 4), 5)
    loss = (E + A / total ** ALPHA + B / tokens ** BETA) * np.exp(sigma * rng.standard_normal(total.size))
    return pd.DataFrame({"params": total, "params_nonembed": nonembed, "tokens": tokens, "loss": loss})


@pytest.fixture(scope="module")
def compared():
    runs = simulated_runs()
    return runs, compare_laws(runs, n_bootstrap=N_BOOT, seed=0)


def _alloc_a(fit):
    return fit.extra["allocation"]["a"]


def test_the_2x2_holds_the_four_fits_allocations_and_recovers_the_chinchilla_pair(compared):
    """Each cell is the a of that law fitted on that N count: the comparison's own two fits, the
    total-N law with N = params_nonembed, and (new) the Kaplan law with N = params, the same fit
    as Kaplan's law on a table that has only the total count."""
    runs, cmp = compared
    a = cmp.to_dict()["n_convention_gap"]["a"]
    assert a["kaplan"]["params_nonembed"]["value"] == _alloc_a(cmp.fits["kaplan"])
    assert a["chinchilla"]["params"]["value"] == _alloc_a(cmp.fits["chinchilla"])
    chin_ne = fit_law(runs.drop(columns=["params"]).rename(columns={"params_nonembed": "params"}),
                      "chinchilla", n_bootstrap=0)
    kap_tot = fit_law(runs.drop(columns=["params_nonembed"]), "kaplan", n_bootstrap=0)
    assert a["chinchilla"]["params_nonembed"]["value"] == pytest.approx(_alloc_a(chin_ne), rel=1e-9)
    assert a["kaplan"]["params"]["value"] == pytest.approx(_alloc_a(kap_tot), rel=1e-9)
    # recovery: the Chinchilla form's a on each count, and the convention's move between them
    assert a["chinchilla"]["params"]["value"] == pytest.approx(A_TOTAL, abs=0.01)
    assert a["chinchilla"]["params_nonembed"]["value"] == pytest.approx(A_NONEMBED, abs=0.01)
    moved = cmp.n_convention_gap["paths"]["n_convention_first"]["n_convention"]
    assert moved["value"] == pytest.approx(A_NONEMBED - A_TOTAL, abs=0.005)
    for law in ("kaplan", "chinchilla"):
        for column in ("params", "params_nonembed"):
            lo, hi = a[law][column]["ci95"]
            assert lo <= a[law][column]["value"] <= hi


def test_each_path_adds_up_and_the_average_is_the_mean_of_both_orders_per_resample(compared):
    runs, cmp = compared
    gap = cmp.n_convention_gap
    a = {(law, col): cell["value"] for law, row in gap["a"].items() for col, cell in row.items()}
    total = gap["total"]["value"]
    assert total == pytest.approx(a["kaplan", "params_nonembed"] - a["chinchilla", "params"], abs=1e-15)
    first, second = gap["paths"]["n_convention_first"], gap["paths"]["functional_form_first"]
    assert first["via"] == "chinchilla with N = params_nonembed"
    assert second["via"] == "kaplan with N = params"
    for path in (first, second):
        assert path["n_convention"]["value"] + path["functional_form"]["value"] == pytest.approx(total, abs=1e-12)
    assert first["n_convention"]["value"] == pytest.approx(a["chinchilla", "params_nonembed"] - a["chinchilla", "params"])
    assert second["n_convention"]["value"] == pytest.approx(a["kaplan", "params_nonembed"] - a["kaplan", "params"])
    for name in ("n_convention", "functional_form"):
        mean = (first[name]["value"] + second[name]["value"]) / 2
        assert gap["shapley"][name]["value"] == pytest.approx(mean, abs=1e-15)
    assert gap["shapley"]["n_convention"]["value"] + gap["shapley"]["functional_form"]["value"] \
        == pytest.approx(total, abs=1e-12)
    assert gap["interaction"]["value"] == pytest.approx(first["n_convention"]["value"]
                                                        - second["n_convention"]["value"], abs=1e-15)
    # the intervals are over the same resamples: the four fits' draws, refitted here alone
    draws = {("kaplan", "params_nonembed"): cmp.fits["kaplan"].allocation_draws["a"],
             ("chinchilla", "params"): cmp.fits["chinchilla"].allocation_draws["a"],
             ("chinchilla", "params_nonembed"): fit_law(
                 runs.drop(columns=["params"]).rename(columns={"params_nonembed": "params"}),
                 "chinchilla", n_bootstrap=N_BOOT, seed=0).allocation_draws["a"],
             ("kaplan", "params"): fit_law(runs.drop(columns=["params_nonembed"]), "kaplan",
                                           n_bootstrap=N_BOOT, seed=0).allocation_draws["a"]}
    kn, kt = draws["kaplan", "params_nonembed"], draws["kaplan", "params"]
    cn, ct = draws["chinchilla", "params_nonembed"], draws["chinchilla", "params"]
    shapley = ((cn - ct) + (kn - kt)) / 2
    assert gap["shapley"]["n_convention"]["ci95"] == pytest.approx(list(percentile_ci(shapley)), rel=1e-9)
    assert second["n_convention"]["ci95"] == pytest.approx(list(percentile_ci(kn - kt)), rel=1e-9)
    assert gap["a"]["kaplan"]["params"]["ci95"] == pytest.approx(list(percentile_ci(kt)), rel=1e-9)
    assert gap["n_resamples"] == int(np.isfinite(kn + kt + cn + ct).sum())
    # today's keys keep their meaning: the N-convention-first path and its refit
    assert gap["parts"]["n_convention"] == first["n_convention"]
    assert gap["parts"]["functional_form"] == first["functional_form"]
    assert gap["a_refit"] == a["chinchilla", "params_nonembed"]


def test_the_reading_gives_the_2x2_both_orders_and_the_average_not_an_attribution(compared):
    _, cmp = compared
    gap = cmp.n_convention_gap
    text = cmp.explanation[0]
    assert "accounts for" not in text
    for row in gap["a"].values():
        shown = " / ".join(value_at_interval(row[c]["value"], *row[c]["ci95"])
                           for c in ("params_nonembed", "params"))
        assert shown in text
    # 40 resamples: too few to read from the interaction's interval whether the order matters
    assert "depends on the order (" not in text
    assert "averaged over both orders, the N convention moves a by" in text
    assert "changed first / second" in text
    sentence = gap_sentence(gap)
    lo, hi = gap["total"]["ci95"]
    caveat = "these are changes along paths, not a decomposition of an identified gap"
    assert (caveat in sentence) == (lo <= 0 <= hi)
    held = {**gap, "total": {**gap["total"], "ci95": [-0.05, hi]}}
    assert "the gap's interval holds 0, so " + caveat in gap_sentence(held)
    bare = {**gap, "total": {"value": gap["total"]["value"]}}
    assert "no interval" in gap_sentence(bare) and caveat in gap_sentence(bare)


# Noisier runs (1% scatter) and 120 resamples: the gap kaplan - chinchilla excludes 0, the N
# convention's part of it (the known shift of Chinchilla's a between the two counts) excludes 0,
# the form's part does not, and the interaction (first less second) holds 0.
NOISY, N_READ = 0.01, 120


@pytest.fixture(scope="module")
def noisy():
    runs = simulated_runs(sigma=NOISY)
    return runs, compare_laws(runs, n_bootstrap=N_READ, seed=0)


def _holds_0(part):
    lo, hi = part["ci95"]
    return lo <= 0 <= hi


def test_the_order_is_said_to_matter_only_where_the_interaction_excludes_0(noisy):
    """The two orders' point estimates print differently here, yet their difference's interval
    holds 0: the sentence gives both orders and that difference, and says the runs cannot tell
    whether the split depends on the order (the old sentence said it did)."""
    _, cmp = noisy
    gap = cmp.n_convention_gap
    first, second = gap["paths"]["n_convention_first"], gap["paths"]["functional_form_first"]
    assert gap["n_resamples"] == N_READ and _holds_0(gap["interaction"])
    shown = [value_at_interval(p["value"], *p["ci95"]) for p in (first["n_convention"], second["n_convention"])]
    assert shown[0] != shown[1]  # the case the audit found: the orders print apart
    sentence = gap_sentence(gap)
    assert sentence in cmp.explanation[0]
    assert "depends on the order (" not in sentence
    assert "holds 0, so these runs cannot say whether the split depends on the order" in sentence
    signed = [s if s.startswith("-") else f"+{s}" for s in shown]
    assert f"changed first / second, the two give {signed[0]} / {signed[1]} (N convention)" in sentence
    # the same runs, had the interaction's interval excluded 0 (over enough resamples): it does
    v = gap["interaction"]["value"]
    apart = {**gap, "interaction": {"value": v, "ci95": [v / 2, 3 * v / 2]}}
    assert "depends on the order (changed first less second: +" in gap_sentence(apart)
    assert "cannot say whether the split depends on the order" not in gap_sentence(apart)
    few = {**apart, "n_resamples": 40}
    assert "rests on only 40 resamples, so these runs cannot say" in gap_sentence(few)
    bare = {**gap, "interaction": {"value": v}}
    assert "has no interval here (--bootstrap), so these runs cannot say" in gap_sentence(bare)


E_READING = "a form without E reads that flattening as diminishing returns"


def test_the_reason_the_laws_differ_agrees_with_the_split(noisy):
    """The gap excludes 0 and, of its split, only the N convention's part does: the reason names
    the N convention, not the fitted E's flattening read by a form without E (the old reason)."""
    runs, cmp = noisy
    gap, diff = cmp.n_convention_gap, cmp.allocation_difference
    assert diff["ci95"][0] > 0 and gap["total"]["ci95"][0] > 0
    assert gap["shapley"]["n_convention"]["ci95"][0] > 0 and _holds_0(gap["shapley"]["functional_form"])
    text = cmp.explanation[0]
    assert "differ: the difference kaplan - chinchilla" in text
    assert "only the N convention's part excludes 0 in the gap's direction" in text
    assert E_READING not in text

    frame = validate_runs(runs, "chinchilla").frame

    def reason(**shapley):
        split = {**gap, "shapley": {**gap["shapley"], **shapley}}
        return explain_disagreement(frame, cmp.fits, diff, split)[0]
    form = gap["shapley"]["functional_form"]["value"]
    beyond, within = {"value": form, "ci95": [form / 2, 2 * form]}, {"value": 0.01, "ci95": [-0.1, 0.1]}
    only_form = reason(n_convention=within, functional_form=beyond)
    assert "only the form's part excludes 0" in only_form and E_READING in only_form
    both = reason(functional_form=beyond)
    assert "both parts of the gap's split below" in both and E_READING in both
    neither = reason(n_convention=within)
    assert "neither part of the gap's split below" in neither and E_READING not in neither
    against = reason(n_convention=within, functional_form={"value": -0.1, "ci95": [-0.2, -0.05]})
    assert "neither part" in against  # below 0 while the gap is above it: no reason for the gap
    # no split (the table has one N count), or one without intervals: the E reading as before
    assert E_READING in explain_disagreement(frame, cmp.fits, diff, None)[0]
    bare = {**gap, "shapley": {k: {"value": p["value"]} for k, p in gap["shapley"].items()}}
    bare.pop("n_resamples")
    assert E_READING in explain_disagreement(frame, cmp.fits, diff, bare)[0]

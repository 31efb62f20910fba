"""IsoFLOP with a non-embedding N (`--params params_nonembed`, no total count beside it) and a
tokens column: D* per budget is read off the budget's own runs (log tokens in log N at log N*),
b is the slope of the line through log D* against log C, with an interval drawn jointly with a's.
Without a tokens column D* is not stated (NO_TOKENS, as before); where N counts all parameters
D* = C/(6 N*) as before, and the runs' tokens give the same number."""
from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import brentq

from scalefit.options import apply_column_mapping
from scalefit.scaling.laws.fit import fit_law
from scalefit.scaling.laws.isoflop import (NO_TOKENS, TOKENS_FROM, isoflop_optima, joint_line_draws,
                                           line_draws, profile_tokens)
from tests.test_reconcile import isoflop_grid

# a Chinchilla law of all parameters (Hoffmann's fitted form), trained at C = 6 N_total D
ALPHA, BETA, E, A, B = 0.34, 0.28, 1.7, 400.0, 410.0
A_TRUE = BETA / (ALPHA + BETA)  # N_total* ~ C^a, D* ~ C^(1 - a)
G_TRUE = (ALPHA * A / (BETA * B)) ** (1 / (ALPHA + BETA))
VOCAB = 50257


def embedding(n_nonembed):
    """Embedding parameters of a GPT of this non-embedding size (12 L d^2 with L = d/64): from
    85% of all parameters at 1e6 to 7% at 1e10."""
    return VOCAB * (64 / 12 * np.asarray(n_nonembed, float)) ** (1 / 3)


def nonembed_of(total: float) -> float:
    return float(np.exp(brentq(lambda x: np.log(np.exp(x) + embedding(np.exp(x))) - np.log(total),
                               0.0, 60.0)))


def true_optimum(flops: float) -> tuple[float, float]:
    """(N*_nonembed, D*) at ``flops``: the law's optimum N_total* = G (C/6)^a, its non-embedding
    part, and D* = C/(6 N_total*)."""
    total = G_TRUE * (flops / 6) ** A_TRUE
    return nonembed_of(total), flops / (6 * total)


def nonembed_runs(seed: int, noise: float, span: float = 6.0, sizes: int = 9) -> pd.DataFrame:
    """IsoFLOP runs of the law above at 7 budgets, ``sizes`` non-embedding sizes each from
    N*/span to N* span, tokens C/(6 N_total): the table has params_nonembed, tokens, flops, loss
    and no total count."""
    rng = np.random.default_rng(seed)
    rows = []
    for c in np.geomspace(1e17, 1e20, 7):
        n_star, _ = true_optimum(c)
        for n in n_star * np.geomspace(1 / span, span, sizes):
            total = n + embedding(n)
            d = c / (6 * total)
            loss = E + A / total ** ALPHA + B / d ** BETA
            rows.append({"params_nonembed": n, "tokens": d, "flops": c,
                         "loss": loss * np.exp(rng.normal(0, noise))})
    return pd.DataFrame(rows)


def as_nonembed(runs: pd.DataFrame) -> pd.DataFrame:
    """`--params params_nonembed`"""
    return apply_column_mapping(runs, {"params": "params_nonembed"}, "test")


@pytest.mark.parametrize("method", ["parabola", "akima"])
def test_d_star_is_the_token_count_of_a_run_of_size_n_star(method):
    """Whatever N* the loss curve gives, D* is the tokens a run of that size gets at that budget,
    C/(6 (N* + its embedding)), to the Akima curve's accuracy; the old code stated none."""
    result = fit_law(as_nonembed(nonembed_runs(0, 0.002)), "isoflop", n_bootstrap=0,
                     isoflop_method=method)
    optima = pd.DataFrame(result.extra["optima"])
    good = optima[optima["excluded"] == ""]
    assert len(good) == 7
    at_n_star = good["flops"] / (6 * (good["N_opt"] + embedding(good["N_opt"])))
    np.testing.assert_allclose(good["D_opt"], at_n_star, rtol=1e-3)
    alloc = result.extra["allocation"]
    assert NO_TOKENS not in result.warnings and "tokens_not_stated" not in alloc
    assert alloc["tokens_from"] == TOKENS_FROM and TOKENS_FROM in result.extra["notes"]
    for row in alloc["budgets"]:
        assert row["D_opt"] == pytest.approx(alloc["H"] * row["flops"] ** alloc["b"], rel=1e-12)
        assert row["tokens_per_param"] == pytest.approx(row["D_opt"] / row["N_opt"], rel=1e-12)


def test_d_star_and_b_recover_the_known_optimum():
    """Exact losses, Akima minimum (nine sizes 1.6x apart: N* within 2.3% of the law's): each
    budget's D* within 2% of the law's, b within 0.003 of 1 - a of the law of all parameters
    (b is not 1 - a of this fit's non-embedding a). The curves are flat: a loss noise of 0.05%
    moves N* by up to 25%, which the interval test below takes up."""
    result = fit_law(as_nonembed(nonembed_runs(1, 0.0)), "isoflop", n_bootstrap=0,
                     isoflop_method="akima")
    for row in result.extra["optima"]:
        n_star, d_star = true_optimum(row["flops"])
        assert row["N_opt"] == pytest.approx(n_star, rel=0.03)
        assert row["D_opt"] == pytest.approx(d_star, rel=0.02)
    b = result.extra["allocation"]["b"]
    assert b == pytest.approx(1 - A_TRUE, abs=0.003)
    assert abs(b - (1 - result.value("a"))) > 0.02  # the non-embedding a moves; D* ~ C^b does not


def test_b_and_tokens_per_param_intervals_cover():
    """100 simulated tables (sizes within 3x of N*, 0.5% loss noise, parabola minima): the 95%
    intervals of b and of D*/N* at 3e19 FLOPs hold the law's values in 88-99% of them (measured
    here: 95% and 95%)."""
    n_star, d_star = true_optimum(3e19)
    held = {"b": 0, "D*/N*": 0}
    fits = 100
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a far draw of G or H overflows exp
        for seed in range(fits):
            result = fit_law(as_nonembed(nonembed_runs(seed, 0.005, span=3.0, sizes=7)), "isoflop",
                             n_bootstrap=400, seed=seed, budgets=[3e19])
            alloc = result.extra["allocation"]
            lo, hi = alloc["b_ci95"]
            held["b"] += lo <= 1 - A_TRUE <= hi
            lo, hi = alloc["budgets"][0]["tokens_per_param_ci95"]
            held["D*/N*"] += lo <= d_star / n_star <= hi
    for name, count in held.items():
        assert 0.88 <= count / fits <= 0.99, (name, count)


def test_joint_draws_keep_the_first_lines_bits_and_follow_an_exact_second():
    """The N* line's draws are line_draws' own; where D* = C/(6 N*) at every budget (tokens
    C/(6 N) with N counting every parameter), each draw of b is 1 - a and of log H,
    -log 6 - log G: the second line moves with the first, not apart from it."""
    rng = np.random.default_rng(5)
    log_c = np.log(np.geomspace(1e17, 1e21, 8))
    log_n = -3.0 + 0.5 * log_c + rng.normal(0, 0.05, log_c.size) * np.linspace(1, 3, log_c.size)
    first, second = joint_line_draws(log_c, log_n, log_c - np.log(6) - log_n, 5000, seed=2)
    assert np.array_equal(first, line_draws(log_c, log_n, 5000, seed=2))
    np.testing.assert_allclose(second[:, 0], 1 - first[:, 0], atol=1e-9)
    np.testing.assert_allclose(second[:, 1], -np.log(6) - first[:, 1], atol=1e-7)
    assert joint_line_draws(log_c[:2], log_n[:2], log_n[:2], 10, seed=0) is None


def test_without_a_tokens_column_no_d_star_is_stated():
    runs = as_nonembed(nonembed_runs(0, 0.002).drop(columns="tokens"))
    result = fit_law(runs, "isoflop", n_bootstrap=50)
    alloc = result.extra["allocation"]
    assert NO_TOKENS in result.warnings and "tokens_from" not in alloc and np.isnan(alloc["b"])
    assert all(np.isnan(row["D_opt"]) for row in result.extra["optima"])
    assert all(np.isnan(row["D_opt"]) for row in alloc["budgets"])


def test_all_parameter_fit_is_as_before():
    """N counts all parameters: D* = C/(6 N*) per budget and on the line, b = 1 - a, draw for
    draw; the same fit with the tokens column dropped (tokens then derived from flops) states
    the same allocation and optima; the runs' own tokens read at N* agree with C/(6 N*) of the
    runs' C."""
    runs = isoflop_grid(0.34, 0.28, "a", 1).drop(columns="condition")
    result = fit_law(runs, "isoflop", n_bootstrap=200, seed=3)
    alloc = result.extra["allocation"]
    assert "tokens_from" not in alloc and "H" not in alloc and TOKENS_FROM not in result.extra["notes"]
    for row in result.extra["optima"]:
        assert row["D_opt"] == row["flops"] / (6 * row["N_opt"])
    for row in alloc["budgets"]:
        assert row["D_opt"] == pytest.approx(row["flops"] / (6 * row["N_opt"]), rel=1e-12)
    assert alloc["b"] == 1 - alloc["a"]
    assert np.array_equal(result.allocation_draws["b"], 1.0 - result.allocation_draws["a"])
    untimed = fit_law(runs.drop(columns="tokens"), "isoflop", n_bootstrap=200, seed=3)
    for key in ("allocation", "optima"):  # as text: NaN (the loss IsoFLOP has none of) is no NaN
        assert json.dumps(untimed.extra[key]) == json.dumps(result.extra[key])
    frame = runs.rename(columns={"params": "N", "tokens": "D", "flops": "C", "loss": "L"})
    read = isoflop_optima(frame, tokens="runs")[0]
    # a budget is its runs' flops to 3 digits (3.16e17 for 3.1623e17), which C/(6 N*) divides:
    # the runs' tokens give their own C/(6 N*)
    flops = frame.groupby(frame["C"].map(lambda c: float(f"{c:.3g}")))["C"].first().to_numpy()
    np.testing.assert_allclose(read["D_opt"], flops / (6 * read["N_opt"]), rtol=1e-9)
    np.testing.assert_allclose(read["N_opt"], pd.DataFrame(result.extra["optima"])["N_opt"],
                               rtol=0, atol=0)


def test_profile_tokens_reads_inside_the_runs_only():
    log_n, log_d = np.log([1e6, 2e6, 4e6]), np.log([4e9, 2e9, 1e9])
    assert profile_tokens(log_n, log_d, np.log(3e6)) == pytest.approx(np.log(4e9 * 1e6 / 3e6))
    assert np.isnan(profile_tokens(log_n, log_d, np.log(8e6)))
    assert np.isnan(profile_tokens(log_n, log_d, np.nan))
    # a repeated size: its runs' log tokens averaged
    twice = profile_tokens(np.r_[log_n, log_n[1]], np.r_[log_d, log_d[1] + 0.2], log_n[1])
    assert twice == pytest.approx(log_d[1] + 0.1)


def porian_conditions(anchors):
    folder = anchors / "scaling" / "porian"
    points = pd.read_csv(folder / "porian_isoflop_points.csv")
    return (points, pd.read_csv(folder / "porian_optimal_pairs.csv"),
            pd.read_csv(folder / "porian_fit_summary.csv"))


def test_porian_tokens_read_off_the_runs_agree_with_c_over_6n(anchors):
    """Porian et al.'s 15 conditions, tokens C/(6 n) in every run: with n as all parameters the
    runs' tokens at N* give C/(6 N*); with n as a non-embedding N (their Kaplan-count
    conditions, fitted as `--params params_nonembed`) D* per budget is the same, b = 1 - a with
    the same interval, within their own b interval, and each D* within their bootstrap sd of
    log D* of their optimum."""
    points, pairs, summary = porian_conditions(anchors)
    kaplan_count = 0
    for (source, label), group in points.groupby(["source_file", "label"], sort=False):
        runs = group.rename(columns={"n": "params"})[["params", "tokens", "flops", "loss"]]
        total = fit_law(runs, "isoflop", isoflop_method="akima", n_bootstrap=200)
        optima = pd.DataFrame(total.extra["optima"])
        frame = runs.rename(columns={"params": "N", "tokens": "D", "flops": "C", "loss": "L"})
        read = isoflop_optima(frame, "akima", tokens="runs")[0]
        np.testing.assert_allclose(read["D_opt"], optima["D_opt"], rtol=1e-9)
        if group["param_count"].iloc[0] != "kaplan":
            continue
        kaplan_count += 1
        nonembed = fit_law(as_nonembed(runs.rename(columns={"params": "params_nonembed"})),
                           "isoflop", isoflop_method="akima", n_bootstrap=200)
        alloc = nonembed.extra["allocation"]
        assert alloc["tokens_from"] == TOKENS_FROM
        mine = pd.DataFrame(nonembed.extra["optima"])
        np.testing.assert_allclose(mine["D_opt"], optima["D_opt"], rtol=1e-9)
        assert alloc["b"] == pytest.approx(1 - nonembed.value("a"), abs=1e-9)
        lo, hi = alloc["a_ci95"]
        np.testing.assert_allclose(alloc["b_ci95"], [1 - hi, 1 - lo], atol=1e-7)
        theirs = summary[(summary.source_file == source) & (summary.label == label)].iloc[0]
        assert theirs.b_ci95_lo <= alloc["b"] <= theirs.b_ci95_hi, label
        theirs = pairs[(pairs.source_file == source) & (pairs.label == label)].merge(mine, on="flops")
        assert len(theirs) == len(mine)
        gap = np.abs(np.log(theirs["D_opt"] / theirs["tokens_star"])) / theirs["t_star_std_log"]
        assert (gap[theirs["excluded"] == ""] < 1).all(), (label, gap.max())
    assert kaplan_count == 3

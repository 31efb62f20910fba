"""Intervals of the relations that cover: tested by their coverage on synthetic data with known
truth (``relation_truth``), and the resampling units behind them.

Monte-Carlo tolerance: with R replicates a 95% interval's empirical coverage has a standard
error of sqrt(0.95 * 0.05 / R) (5.4 points at R = 16, 4.4 at R = 24); each test asserts a
bound that a correct 95% interval misses with probability below about 1% (a one-sided binomial
bound), and prints the coverage it measured. Larger runs are in the report of issue 15: 72
replicates x 100 resamples gave kappa 98.6% (E refitted) against 68.1% with E held fixed, and
95.8% for the prediction interval of a new observation.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import binom

from relation_truth import RELATION, SIGMOID, accuracy_points, loss_runs
from scalefit.errors import InputError
from scalefit.scaling.relations import forms as relation_forms
from scalefit.scaling.relations import accuracy
from scalefit.scaling.relations.accuracy import fit_accuracy
from scalefit.scaling.fitresult import FitResult, ParamEstimate, percentile_ci
from scalefit.scaling.relations.intervals import (interval_at, small_sample_scale,
                                                  student_t_widening)
from scalefit.scaling.relations.loss2loss import fit_loss_to_loss, fit_shifted_power
from scalefit.scaling.relations.loss_pairs import pair_losses
from scalefit.scaling.relations.resampling import (UNIT, UnitRows, checkpoint_units, leverages,
                                                   unit_codes, wild_bootstrap)


def lowest_acceptable(n: int, level: float = 0.95, risk: float = 0.01) -> int:
    """The fewest hits out of n that a true ``level`` interval reaches with prob. 1 - risk."""
    return int(binom.ppf(risk, n, level))


@pytest.mark.slow
def test_kappa_interval_covers_when_e_is_refitted():
    """Two datasets' losses from Kaplan + E laws tied by a known shifted power law: the 95% CI
    of kappa (and of E_x, E_y) covers the truth about 95% of the time once the bootstrap refits
    both Kaplan laws; holding E fixed covers far less."""
    hits = {"kappa": 0, "E_x": 0, "E_y": 0}
    fixed_hits = 0
    n = 0
    for seed in range(1000, 1060):
        if n == 16:
            break
        runs = loss_runs(seed)
        try:
            res = fit_loss_to_loss(pair_losses(runs, "x", "y"), n_bootstrap=60, seed=seed)
        except InputError:  # the law engine's Kaplan fit failed on this replicate (see report)
            continue
        n += 1
        for name in hits:
            lo, hi = res.params[name].ci95
            hits[name] += lo <= RELATION[name] <= hi
        fixed = fit_shifted_power(runs["x"], runs["y"], E_x=res.value("E_x"),
                                  E_y=res.value("E_y"), n_bootstrap=60, seed=seed)
        lo, hi = fixed.params["kappa"].ci95
        fixed_hits += lo <= RELATION["kappa"] <= hi
    print(f"\ncoverage over {n} replicates: " + ", ".join(f"{k} {v / n:.2f}"
                                                       for k, v in hits.items())
          + f"; kappa with E held fixed {fixed_hits / n:.2f}")
    assert n == 16
    assert hits["kappa"] >= lowest_acceptable(n)
    assert hits["E_x"] >= lowest_acceptable(n) - 1 and hits["E_y"] >= lowest_acceptable(n) - 1
    assert fixed_hits < hits["kappa"]


@pytest.mark.slow
def test_prediction_interval_covers_new_observations():
    """A sigmoid accuracy law fitted to 40 noisy points: the 95% prediction interval (bootstrap
    draws plus a resampled residual) holds a new observation about 95% of the time; the curve's
    interval alone, which ignores the scatter, holds far fewer. 100 resamples (the fewest that
    ``scaling.resample`` reads a verdict from): with 40 the interval's ends are the draws' 1st
    and 40th, and the count swings by chance (22 of 24 with the pairs bootstrap, 19 with the
    wild; both 21 at 100)."""
    R = 24
    pi_hits = ci_hits = 0
    for seed in range(R):
        L, acc = accuracy_points(seed)
        res = fit_accuracy(L, acc, "sigmoid", n_bootstrap=100, seed=seed)
        rng = np.random.default_rng(10_000 + seed)
        at = rng.uniform(2.2, 4.5)
        observed = relation_forms.sigmoid_accuracy(at, **SIGMOID) + rng.normal(0, 0.01)
        iv = interval_at(res, at)
        pi_hits += iv["pi95"][0] <= observed <= iv["pi95"][1]
        ci_hits += iv["ci95"][0] <= observed <= iv["ci95"][1]
    print(f"\nprediction interval coverage {pi_hits / R:.2f}, curve interval {ci_hits / R:.2f}")
    assert pi_hits >= lowest_acceptable(R)
    assert ci_hits < pi_hits


@pytest.fixture(scope="module")
def loss_fit():
    """A loss-to-loss fit (E refitted, 40 resamples) of loss_runs(1000), read by two tests."""
    return fit_loss_to_loss(pair_losses(loss_runs(1000), "x", "y"), n_bootstrap=40, seed=0)


def test_loss_prediction_interval_is_wider_than_the_curve_and_holds_the_runs(loss_fit):
    res = loss_fit
    iv = interval_at(res, 3.0)
    assert iv["pi95"][0] < iv["ci95"][0] <= iv["value"] <= iv["ci95"][1] < iv["pi95"][1]
    truth = relation_forms.shifted_power_law(3.0, **RELATION)
    assert iv["pi95"][0] < truth < iv["pi95"][1]
    assert res.extra["bootstrap"]["e_refit"]
    assert {"x:E", "y:alpha_D"} <= set(res.draws)


def test_checkpoints_of_one_model_are_one_unit():
    """A (model, step) table with several steps per model: the bootstrap draws whole models."""
    frame = pd.DataFrame({"model": ["a", "a", "a", "b", "b", "c"], "step": [1, 2, 3, 1, 2, 1]})
    assert list(checkpoint_units(frame)) == ["a", "a", "a", "b", "b", "c"]
    assert checkpoint_units(frame.assign(step=1).drop_duplicates("model")) is None
    codes, n = unit_codes(checkpoint_units(frame))
    rows = UnitRows(n, codes)
    assert sorted(rows.rows(np.array([0, 0, 2]))) == [0, 0, 1, 1, 2, 2, 5]


def test_accuracy_bootstrap_by_models_is_wider_than_by_points():
    """Checkpoints sharing a model-level offset are not independent: resampling whole models
    gives a wider (honest) interval than resampling points."""
    rng = np.random.default_rng(3)
    models = np.repeat(np.arange(10), 12)
    L = np.tile(np.linspace(2.3, 4.4, 12), 10) + rng.normal(0, 0.02, models.size)
    offset = rng.normal(0, 0.02, 10)[models]
    acc = relation_forms.sigmoid_accuracy(L, **SIGMOID) + offset + rng.normal(0, 0.003, L.size)
    by_points = fit_accuracy(L, acc, n_bootstrap=60, seed=1)
    by_models = fit_accuracy(L, acc, n_bootstrap=60, seed=1, units=models)
    width = {name: np.diff(interval_at(r, 2.6)["ci95"])[0]
             for name, r in (("points", by_points), ("models", by_models))}
    assert width["models"] > 1.5 * width["points"]
    assert by_models.extra["bootstrap"]["resampled"].startswith("whole models")


def test_accuracy_units_of_one_point_each_are_points():
    """A run table's pairs carry one unit per run: both accuracy laws then take the points'
    (wild) bootstrap, the same draws as without units, widened by HC1 and Student's t."""
    L, acc = accuracy_points(2, n=20)
    plain = fit_accuracy(L, acc, n_bootstrap=20, seed=4)
    per_run = fit_accuracy(L, acc, n_bootstrap=20, seed=4, units=[f"run{i}" for i in range(20)])
    assert per_run.extra["bootstrap"]["resampled"].startswith("wild")
    np.testing.assert_array_equal(per_run.draws["k"], plain.draws["k"])
    err = fit_accuracy(L, 1 - acc, "exponential-error", n_bootstrap=20, seed=4)
    err_per_run = fit_accuracy(L, 1 - acc, "exponential-error", n_bootstrap=20, seed=4,
                               units=[f"run{i}" for i in range(20)])
    assert err.extra["bootstrap"]["resampled"].startswith("wild")
    np.testing.assert_array_equal(err_per_run.draws["gamma"], err.draws["gamma"])
    assert err.components["draw_scale"] == pytest.approx(small_sample_scale(20, 3)
                                                         * student_t_widening(17))


def test_pairs_carry_their_units():
    runs = loss_runs(1000).assign(data="a")
    lp = pair_losses(runs, "x", "y")
    assert lp.pairs[UNIT].nunique() == len(lp.pairs) == len(runs)
    both = pd.concat([runs.assign(data="p"), runs.assign(data="q", x=runs["x"] * 1.1)])
    cross = pair_losses(both, "x", "x", "train-to-train", x_from="p", y_from="q")
    assert (cross.pairs[UNIT].isin(cross.x_runs[UNIT])).all()
    assert (cross.pairs[UNIT].isin(cross.y_runs[UNIT])).all()


def test_shipped_table_warns_when_e_sits_on_its_bound():
    """Issue 15: on the shipped runs with the 2 largest held out, the y loss's Kaplan fit puts
    E_y on its bound 0; the result says so, and kappa's interval holds E's uncertainty."""
    from scalefit.scaling.relations.cli import default_runs_path
    from scalefit.scaling.relations.downstream import shipped_runs
    from scalefit.scaling.relations.downstream import run_downstream
    from scalefit.tables import read_table
    path = default_runs_path()
    if not path.exists():
        pytest.skip(f"{path} is not measured yet")
    out = run_downstream(shipped_runs(read_table(path)), "loss", "loss_code_test",
                         x_from="prose", group="distribution", holdout=2, n_bootstrap=60,
                         source=str(path)).to_dict()
    assert out["params"]["E_y"]["value"] < 1e-6
    assert any("(E_y): parameter E is at its lower bound" in w for w in out["warnings"])
    assert out["kaplan_fits"]["y"]["warnings"] == ["parameter E is at its lower bound"]
    lo, hi = out["params"]["kappa"]["ci95"]
    assert hi - lo > 0.1  # was [0.306, 0.325] with E held fixed


def test_prediction_where_draws_put_e_above_x_says_so(loss_fit):
    res = loss_fit
    near = res.value("E_x") + 0.001  # E_x's 95% CI is about +-0.02 here
    iv = interval_at(res, near)
    assert "undefined_draws" in iv and "E_x" in iv["undefined_draws"]


def test_small_sample_scale_is_hc1_and_cr1():
    assert small_sample_scale(15, 4) == pytest.approx(np.sqrt(15 / 11))
    assert small_sample_scale(40, 4) == pytest.approx(np.sqrt(40 / 36))
    # 10 models of 12 checkpoints: G / (G - 1) * (n - 1) / (n - p)
    assert small_sample_scale(120, 4, n_units=10) == pytest.approx(np.sqrt(10 / 9 * 119 / 116))
    assert small_sample_scale(4, 4) == 1.0 and small_sample_scale(20, 4, n_units=1) == 1.0


def test_student_t_widening():
    assert student_t_widening(11) == pytest.approx(2.200985 / 1.959964, rel=1e-6)
    assert student_t_widening(36) == pytest.approx(1.0347, abs=1e-4)
    assert student_t_widening(0) == 1.0 and student_t_widening(10_000) == pytest.approx(1, abs=1e-3)


def test_wild_bootstrap_redraws_residuals_blown_up_by_leverage():
    """Points kept, y* = y_hat + v e / (1 - h), v = +-1: each refit sees the same x and one of
    two values per point; leverages of a straight line are the textbook ones."""
    x = np.linspace(0, 1, 9)
    h = leverages(lambda x, c, m: c + m * x, x, [1.0, 2.0])
    X = np.vstack([np.ones_like(x), x]).T
    assert h == pytest.approx(np.diag(X @ np.linalg.inv(X.T @ X) @ X.T), rel=1e-6)
    fitted, resid = 1 + 2 * x, np.linspace(-0.1, 0.1, 9)
    seen = []
    draws, failed = wild_bootstrap(fitted, resid, h, 30, 0, lambda y: seen.append(y) or {"m": 0.0},
                                   ["m"])
    assert failed == 0 and len(seen) == 30
    dev = np.abs(np.array(seen) - fitted)
    assert dev == pytest.approx(np.broadcast_to(np.abs(resid) / (1 - h), dev.shape))


def test_accuracy_curve_interval_is_the_percentile_interval_widened_about_the_fit():
    L, acc = accuracy_points(5, n=15, noise=0.02)
    res = fit_accuracy(L, acc, n_bootstrap=50, seed=5)
    scale = res.components["draw_scale"]
    assert scale == pytest.approx(np.sqrt(15 / 11) * student_t_widening(11))
    assert res.extra["bootstrap"]["resampled"].startswith("wild")
    assert res.extra["bootstrap"]["small_sample_scale"] == scale
    iv = interval_at(res, 3.0)
    plain = interval_at(res, 3.0, small_sample=False)
    d = res.draws
    lo, hi = percentile_ci(relation_forms.sigmoid_accuracy(3.0, d["a"], d["k"], d["L0"], d["b"]))
    assert plain["ci95"] == pytest.approx([lo, hi], rel=1e-12)
    v = iv["value"]
    assert iv["ci95"] == pytest.approx([v + scale * (lo - v), v + scale * (hi - v)], rel=1e-12)
    assert iv["pi95"][1] - iv["pi95"][0] > plain["pi95"][1] - plain["pi95"][0]
    # the parameters' own intervals are the plain percentiles of their draws
    assert res.params["k"].ci95 == pytest.approx(percentile_ci(d["k"]), rel=1e-12)


@pytest.mark.slow
def test_accuracy_curve_interval_is_as_wide_as_the_sampling_spread_at_15_points():
    """15 points, 4 parameters: the pairs bootstrap's draws spread like the HC0 sandwich, about
    sqrt(11 / 15) = 0.86 of the fitted curve's sampling sd (its percentile interval covered
    90-93% of the time; bench/bench_relation_intervals.py). The sd here is exact for the fixed
    design: sigma sqrt(g' (J'J)^-1 g) at the true parameters. With the pairs bootstrap and HC1
    the interval's half-width over 1.96 sd had a median of 1.006 here (0.862 plain); the wild
    bootstrap with HC1 and Student's t (t_11 / z = 1.12, a t interval's width) gives 1.19."""
    n, sigma, R = 15, 0.02, 30
    L = np.linspace(2.2, 4.5, n)
    theta = np.array([SIGMOID[k] for k in ("a", "k", "L0", "b")])

    def gradient(x):
        f0 = relation_forms.sigmoid_accuracy(x, *theta)
        return np.stack([(relation_forms.sigmoid_accuracy(x, *(theta + 1e-7 * e)) - f0) / 1e-7
                         for e in np.eye(4)], axis=-1)

    J = gradient(L)
    at = np.array([2.4, 2.8, 3.0, 3.4, 4.0])
    g = gradient(at)
    sd = sigma * np.sqrt(np.einsum("ij,jk,ik->i", g, np.linalg.inv(J.T @ J), g))
    ratios = []
    for r in range(R):
        rng = np.random.default_rng(500 + r)
        acc = relation_forms.sigmoid_accuracy(L, **SIGMOID) + rng.normal(0, sigma, n)
        res = fit_accuracy(L, acc, n_bootstrap=60, seed=r)
        width = np.array([np.diff(interval_at(res, x)["ci95"])[0] for x in at])
        ratios.append(width / (2 * 1.96 * sd))
    ratio = float(np.median(ratios))
    print(f"\nmedian ci95 half-width / (1.96 sampling sd) over {R} fits x {at.size} L: {ratio:.3f}")
    assert 1.0 < ratio < 1.3


# Replicates r of bench/bench_relation_intervals.py's acc_n40_binom cell (data seed 300000 + r)
# whose sigmoid fit ends with a on its upper bound 1: 37 of the first 400 do, and there the pairs
# bootstrap's curve interval below the data covered 78-81% (L = 2.6, 2.2; the wild 92-100%).
A_AT_BOUND = (2, 22, 26, 40, 55, 66, 81, 83, 85, 94, 99, 100, 113, 135, 138, 139)


def binomial_accuracies(r: int) -> tuple[np.ndarray, np.ndarray]:
    """40 points, L uniform on [2.8, 4.5], accuracy of a 500-item task on SIGMOID (the bench's)."""
    rng = np.random.default_rng(300_000 + r)
    L = rng.uniform(2.8, 4.5, 40)
    return L, rng.binomial(500, relation_forms.sigmoid_accuracy(L, **SIGMOID)) / 500


@pytest.mark.slow
def test_accuracy_interval_below_binomial_data_covers_when_a_ends_on_its_bound(monkeypatch):
    """Fits whose a ends on its bound overshoot below the data (a steeper, exponential-like
    curve); the pairs bootstrap's draws pile onto the bound with them and its curve interval
    misses the truth there about one time in four. The wild bootstrap (the points kept, their
    residuals redrawn) covers. The two L of one fit are not independent trials, so the bound
    (the binomial one of this module's docstring over 2 x 16) is a rough one."""
    hits = {"wild": 0, "pairs": 0}
    for r in A_AT_BOUND:
        L, acc = binomial_accuracies(r)
        for method in hits:
            monkeypatch.setitem(accuracy.POINT_BOOTSTRAP, "sigmoid", method)
            res = fit_accuracy(L, acc, n_bootstrap=100, seed=r)
            assert res.value("a") == pytest.approx(1.0)
            for at in (2.6, 2.2):
                lo, hi = interval_at(res, at)["ci95"]
                hits[method] += lo <= relation_forms.sigmoid_accuracy(at, **SIGMOID) <= hi
    n = 2 * len(A_AT_BOUND)
    print(f"\ncurve interval coverage below the data over {len(A_AT_BOUND)} fits with a on its "
          f"bound: wild {hits['wild'] / n:.2f}, pairs {hits['pairs'] / n:.2f}")
    assert hits["wild"] >= lowest_acceptable(n)
    assert hits["pairs"] < lowest_acceptable(n) <= hits["wild"]


# The exponential-error law (Gadre et al. 2024) shaped like Gadre's runs, as
# bench/bench_relation_intervals.py's err_n15 cell (its data seeds are 500000 + r; these are not).
EXPONENTIAL = {"eps": 0.85, "k": 2.6, "gamma": 0.8}


def _cell_fits(cell, R: int, seed0: int) -> list:
    """R exponential-error fits to ``cell["n"]`` points, L uniform on [cell["lo"], cell["hi"]],
    observed by ``cell["observe"]`` (data seed seed0 + r, bootstrap seed r): (L, y, fit, rng)
    per fit, the rng left where the data ended (fresh observations are drawn from it)."""
    fits = []
    for r in range(R):
        rng = np.random.default_rng(seed0 + r)
        L = rng.uniform(cell["lo"], cell["hi"], cell["n"])
        y = cell["observe"](relation_forms.exponential_error(L, **EXPONENTIAL), rng)
        fits.append((L, y, fit_accuracy(L, y, "exponential-error", n_bootstrap=100, seed=r), rng))
    return fits


# The err_n15 shape: 15 points, L uniform on [3.0, 6.0] (Gadre's smaller runs), N(0, 0.01) noise
ERR_N15 = {"n": 15, "lo": 3.0, "hi": 6.0, "at": 4.0,
           "observe": lambda p, rng: p + rng.normal(0, 0.01, np.shape(p))}


@pytest.fixture(scope="module")
def err_n15_fits():
    """30 fits of the err_n15 shape (data seeds 700000 + r): the curve's interval and an
    observation's are tested on the same fits."""
    return _cell_fits(ERR_N15, 30, 700_000)


@pytest.mark.slow
def test_exponential_error_curve_interval_covers_on_known_truth(err_n15_fits):
    """15 points, L uniform on [3.0, 6.0] (Gadre's smaller runs), N(0, 0.01) noise: the wild
    bootstrap's curve interval holds the true error inside the data (L = 4.0) and below it
    (2.7, 2.4; Gadre's lowest losses). The bench's 600 fits per L: 95.2-97.3% (the pairs
    bootstrap with HC1, before: 92.0% at L = 4.0). Three L of one fit are not independent
    trials, so the bound (the binomial one of this module's docstring over 3 x 30) is rough."""
    at = np.array([4.0, 2.7, 2.4])
    truth = relation_forms.exponential_error(at, **EXPONENTIAL)
    hits, R = 0, len(err_n15_fits)
    for _, _, res, _ in err_n15_fits:
        assert res.extra["bootstrap"]["resampled"].startswith("wild")
        for x, t in zip(at, truth):
            lo, hi = interval_at(res, x)["ci95"]
            hits += lo <= t <= hi
    n = R * at.size
    print(f"\nexponential-error curve interval coverage over {R} fits x {at.size} L: "
          f"{hits / n:.3f}")
    assert hits >= lowest_acceptable(n)


def _pi_coverage(cell, fits, new: int = 50) -> dict:
    """Mean over ``fits`` (``_cell_fits`` of ``cell``) of the fraction of ``new`` fresh
    observations at ``cell["at"]`` inside the shipped pi95 and inside the pooled one (the
    method before), from the same fit."""
    frac = {"shipped": [], "pooled": []}
    for L, y, res, rng in fits:
        obs = cell["observe"](np.full(new, relation_forms.exponential_error(
            cell["at"], **EXPONENTIAL)), rng)
        for name, fit in (("shipped", res), ("pooled", accuracy.with_prediction_scatter(res, L, y, "pooled"))):
            lo, hi = interval_at(fit, cell["at"])["pi95"]
            frac[name].append(np.mean((lo <= obs) & (obs <= hi)))
    return {k: np.array(v) for k, v in frac.items()}


@pytest.mark.slow
def test_prediction_interval_covers_binomial_errors_inside_the_data():
    """The error of a 2000-item task at 40 points, L uniform on [2.7, 6.0] (the bench's
    err_n40_binom; seeds 810000 + r, not the bench's): the shipped pi95 at L = 3.5 (inside the
    data) holds about 95% of new observations; the pooled residuals (the method before) held
    91.5% in the bench (300 fresh fits; the shipped one 94.3%). Binomial scatter is larger near
    error 0.5 than at the high-L points, and a percentile interval of B draws holds about
    (B + 1 - 2 j) / (B + 1) of new values (j = 0.025 B + 1). The bound: the mean over 30 fits
    plus 2.33 standard errors of the per-fit fractions reaches 95% (a one-sided 1% test that
    the interval covers 95%), and the shipped interval holds more than the pooled one."""
    cell = {"n": 40, "lo": 2.7, "hi": 6.0, "at": 3.5,
            "observe": lambda p, rng: rng.binomial(2000, p) / 2000}
    frac = _pi_coverage(cell, _cell_fits(cell, 30, 810_000))
    se = {k: v.std(ddof=1) / np.sqrt(v.size) for k, v in frac.items()}
    print("\npi95 coverage of new binomial errors at L = 3.5 over 30 fits: "
          + ", ".join(f"{k} {v.mean():.3f} ± {se[k]:.3f}" for k, v in frac.items()))
    assert frac["shipped"].mean() + 2.33 * se["shipped"] >= 0.95
    assert frac["shipped"].mean() > frac["pooled"].mean()


@pytest.mark.slow
def test_prediction_interval_with_constant_noise_is_not_made_worse(err_n15_fits):
    """The err_n15 shape (15 points, N(0, 0.01) noise, constant; the curve interval's fits,
    data seeds 700000 + r): the variance function fits s near 0 and the shipped pi95 at
    L = 4.0 holds at least as many new observations as the pooled residuals' did, on the same
    fits."""
    frac = _pi_coverage(ERR_N15, err_n15_fits)
    print("\npi95 coverage of new observations at L = 4.0, constant noise, over 30 fits: "
          + ", ".join(f"{k} {v.mean():.3f}" for k, v in frac.items()))
    assert frac["shipped"].mean() >= frac["pooled"].mean()
    assert frac["shipped"].mean() >= 0.93


def test_observation_interval_holds_the_curve_interval_everywhere():
    """An observation is the curve plus scatter, so pi95 holds ci95 at every x, inside the data
    and far beyond it (where the curve's uncertainty dwarfs the scatter and the two sets of
    percentiles would otherwise differ by Monte Carlo noise alone)."""
    runs = loss_runs(5)  # a replicate whose percentiles crossed beyond x = 5 before the hull
    fits = [fit_shifted_power(runs["x"], runs["y"], E_x=1.8, E_y=1.0, n_bootstrap=40, seed=5)]
    L, acc = accuracy_points(5, n=15)
    fits.append(fit_accuracy(L, acc, n_bootstrap=40, seed=5))
    for res, xs in zip(fits, (np.linspace(1.85, 6.0, 30), np.linspace(1.0, 6.0, 12))):
        for x in xs:
            iv = interval_at(res, float(x))
            assert iv["pi95"][0] <= iv["ci95"][0] and iv["ci95"][1] <= iv["pi95"][1], (x, iv)


def _far_projection(n: int = 400, seed: int = 3, resid=(-0.01, 0.0, 0.01)):
    """A shifted power law's draws as a projection far beyond the data makes them: x (drawn
    per resample, as a chained (N, D) prediction draws it) just above each draw's E_x, the gap
    lognormal, so the lowest curves are the draws nearest their floor E_y = 2."""
    rng = np.random.default_rng(seed)
    e_x = rng.uniform(1.0, 2.0, n)
    gap = np.exp(rng.normal(np.log(0.5), 1.5, n))
    draws = {"K": np.ones(n), "kappa": np.ones(n), "E_x": e_x, "E_y": np.full(n, 2.0)}
    params = {k: ParamEstimate(float(np.median(v))) for k, v in draws.items()}
    res = FitResult("shifted-power", params, 20, 0.0, True, draws=draws,
                    components={"residuals": np.asarray(resid, float), "seed": 0})
    return res, e_x + gap


def test_observed_x_below_its_draws_e_x_is_at_the_floor_not_dropped():
    """An observed x (the x law plus its scatter) at or below its draw's E_x is an observation
    at the floor, y = E_y: it was dropped (NaN), which took the draws nearest their floor out of
    the prediction interval's low tail; the interval then took the curve's low end, and the
    shipped --at 1e9,2e10 printed two identical intervals."""
    res, x_draws = _far_projection()
    iv = interval_at(res, float(np.median(x_draws)), x_draws=x_draws,
                     x_residuals=np.array([-0.05, 0.05]))
    curve_lo = iv["ci95"][0]
    assert curve_lo > 2.02  # the curve's 2.5% is above the floor (2 + gap)
    # about 1 in 20 observations sit at the floor, E_y = 2 times exp(+-1%)
    assert 2.0 * np.exp(-0.0101) <= iv["pi95"][0] <= 2.0 * np.exp(0.0101), iv
    assert iv["pi95"][0] < curve_lo
    note = " ".join(iv.get("interval_notes", ()))
    assert "at or below their draw's E_x" in note and "E_y" in note, iv


def test_prediction_interval_that_takes_the_curves_ends_says_so():
    """With no scatter an observation is the curve, so pi95 is ci95: said in a note, not
    printed as two identical intervals silently; a scatter that widens both ends says nothing."""
    res, x_draws = _far_projection(resid=(0.0,))
    iv = interval_at(res, float(np.median(x_draws)), x_draws=x_draws)
    assert iv["pi95"] == iv["ci95"]
    note = " ".join(iv.get("interval_notes", ()))
    assert "lower and upper ends are the curve's" in note and "sd 0 " in note, iv
    wide, _ = _far_projection(resid=np.linspace(-0.3, 0.3, 21))
    iv = interval_at(wide, float(np.median(x_draws)), x_draws=x_draws)
    assert iv["pi95"][0] < iv["ci95"][0] and iv["ci95"][1] < iv["pi95"][1]
    assert "interval_notes" not in iv, iv


def test_chained_prediction_draws_many_observations_per_curve_draw():
    """A chained prediction's observations carry x's scatter and y's: with one per curve draw,
    20 resamples gave 20 observations whose percentiles fell inside the curve's at both ends
    (the shipped --at 1e9,2e10 --bootstrap 20 printed [1.7063, 4.0405] twice); MANY_RESIDUALS
    per draw, x redrawn for each, widen both ends."""
    res, x_draws = _far_projection(n=20, seed=4, resid=np.linspace(-0.03, 0.03, 7))
    iv = interval_at(res, float(np.median(x_draws)), x_draws=x_draws,
                     x_residuals=np.linspace(-0.02, 0.02, 5))
    assert iv["pi95"][0] < iv["ci95"][0] and iv["ci95"][1] < iv["pi95"][1], iv
    assert "interval_notes" not in iv or "curve's:" not in " ".join(iv["interval_notes"]), iv


def test_an_accuracy_interval_at_its_ceiling_says_both_reach_it():
    """A sigmoid whose draws pass 100% (a + b > 1) near zero loss: both intervals end at 1,
    said as the fraction's bound, not as Monte Carlo noise."""
    rng = np.random.default_rng(2)
    n = 200
    draws = {"a": rng.uniform(0.8, 1.0, n), "k": np.full(n, -5.0), "L0": np.full(n, 3.0),
             "b": rng.uniform(0.0, 0.2, n)}
    params = {k: ParamEstimate(float(np.median(v))) for k, v in draws.items()}
    res = FitResult("sigmoid", params, 20, 0.0, True, draws=draws,
                    components={"residuals": np.array([-0.01, 0.0, 0.01]), "seed": 0})
    iv = interval_at(res, 0.1)
    assert iv["ci95"][1] == iv["pi95"][1] == 1.0
    note = " ".join(iv["interval_notes"])
    assert "upper end is the curve's, 1: y is a fraction" in note
    assert "upper end is the curve's:" not in note and "upper ends" not in note, note

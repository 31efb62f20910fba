"""reconcile's step verdicts do not hang on the bootstrap seed (s46 audit): the change's interval
is the convolution of the two conditions' draws (every pair, no random pairing), a step whose
interval end lies at 0 within that end's resampling error is 'at the edge', not a change nor a
0 inside, and each condition says which setting columns differ from the one before it."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from scipy.stats import norm

from scalefit.cli import main
from scalefit.scaling.laws.reconcile import (AT_EDGE, CHANGES, EDGE_WORDS, GIVEN_ORDER, HOLDS_ZERO,
                                             ORDER_WORDS, TABLE_ORDER, Step, change_interval,
                                             change_summary,
                                             condition_changes, walk_findings, walk_moves)
from test_reconcile import isoflop_grid

SD = 0.01  # each condition's spread of a; the change's sd is SD * sqrt(2)


def _normal_draws(mean, n, seed):
    return mean + SD * np.random.default_rng(seed).standard_normal(n)


def _grid_draws(mean, n):
    """n draws of N(mean, SD) at evenly spaced probabilities: no Monte Carlo noise of their own."""
    return mean + SD * norm.ppf((np.arange(n) + 0.5) / n)


def test_the_change_interval_does_not_depend_on_how_the_draws_are_ordered():
    """A random pairing of n draws with n made the interval move with the seed (Porian's OWT2
    'Cosine decay' step changed a on seeds 0 and 2, held 0 on 1 and 3). With every pair, the same
    two draw sets give the same interval bit for bit in any order, and the interval is the
    convolution's: N(-0.03, 0.01 sqrt 2)'s 2.5% and 97.5% points."""
    source, target = _normal_draws(0.60, 1000, 1), _normal_draws(0.57, 1000, 2)
    lo, hi = change_interval(source, target)
    rng = np.random.default_rng(7)
    for _ in range(3):
        assert change_interval(rng.permutation(source), rng.permutation(target)) == (lo, hi)
    half = 1.96 * SD * np.sqrt(2)
    assert lo == pytest.approx(-0.03 - half, abs=0.003) and hi == pytest.approx(-0.03 + half, abs=0.003)


def test_draw_sets_above_the_cap_are_thinned_the_same_way_every_time():
    """Above MAX_DRAWS_PER_SIDE draws a set is thinned to evenly spaced order statistics, not a
    random subsample: the interval is still a function of the draws, and still the convolution."""
    source, target = _normal_draws(0.60, 9000, 3), _normal_draws(0.50, 6000, 4)
    lo, hi = change_interval(source, target)
    assert change_interval(source[::-1], np.roll(target, 17)) == (lo, hi)
    half = 1.96 * SD * np.sqrt(2)
    assert lo == pytest.approx(-0.10 - half, abs=0.002) and hi == pytest.approx(-0.10 + half, abs=0.002)


def _three_steps(gap):
    """Conditions a -> b -> c whose change b -> c has its 97.5% end at 0 + gap (draws on a grid)."""
    half = norm.ppf(0.975) * SD * np.sqrt(2)
    draws = {("", "a"): _grid_draws(0.70, 1000), ("", "b"): _grid_draws(0.60, 1000),
             ("", "c"): _grid_draws(0.60 - half + gap, 1000)}
    steps = [Step("", c, 10, a=float(np.mean(d)), a_lo=float(np.percentile(d, 2.5)),
                  a_hi=float(np.percentile(d, 97.5))) for (_, c), d in draws.items()]
    return steps, walk_moves(steps, 1000, draws)


def test_an_end_at_zero_within_its_resampling_error_is_at_the_edge():
    """The change b -> c has its 97.5% end at 0: with 1000 draws that end moves by about
    +-0.005 over other draws, so neither 'changes a' nor 'leaves 0 inside' is what the draws
    say. Moved 0.01 either way (beyond the band) the step is called as before."""
    steps, moves = _three_steps(0.0)
    assert [m.verdict for m in moves] == [CHANGES, AT_EDGE]
    lo_band, hi_band = moves[1].delta_lo_band, moves[1].delta_hi_band
    assert lo_band[0] < moves[1].delta_ci95[0] < lo_band[1]
    assert hi_band[0] < 0 < hi_band[1] and moves[1].delta_ci95[1] == pytest.approx(0, abs=1e-3)
    findings = walk_findings(steps, moves, 1000)
    text = " ".join(findings)
    assert "1 is at the edge ('c' " in text and f"): {EDGE_WORDS}" in text
    assert "1 of 2 steps change a (95% interval of the change excludes 0: 'b' -0.100" in text
    assert "leaves 0 inside" not in text
    # the walk's order, said once
    assert sum(ORDER_WORDS.format(order=TABLE_ORDER) in f for f in findings) == 1
    for gap, verdict in ((-0.01, CHANGES), (0.01, HOLDS_ZERO)):
        assert _three_steps(gap)[1][1].verdict == verdict


def test_the_band_is_the_smaller_draw_set_s():
    """The band of an end is the order-statistic band of the smaller draw set (200 here, beside
    2000), not of the 400,000 pairs: the pairs share their draws."""
    source, target = _grid_draws(0.60, 200), _grid_draws(0.55, 2000)
    change = change_summary(source, target)
    error = 1.96 * np.sqrt(0.975 * 0.025 / 200)
    sd = SD * np.sqrt(2)
    expected = (-0.05 + sd * norm.ppf(0.975 - error), -0.05 + sd * norm.ppf(0.975 + error))
    assert change["hi_band"] == pytest.approx(expected, abs=0.0008)
    expected_lo = (-0.05 + sd * norm.ppf(0.025 - error), -0.05 + sd * norm.ppf(0.025 + error))
    assert change["lo_band"] == pytest.approx(expected_lo, abs=0.0008)


def _settings_table():
    """Three conditions with Porian-like setting columns (other names), a column that varies
    inside each condition (not a setting) and one that never varies."""
    frames = []
    for (condition, count, schedule), seed in zip(
            [("first", "kaplan", "long"), ("recount", "standard", "long"),
             ("short warmup", "standard", "short")], (1, 2, 3)):
        grid = isoflop_grid(0.34, 0.30, condition, seed)
        grid["counting"], grid["warmup_len"], grid["corpus"] = count, schedule, "web"
        grid["run_id"] = np.arange(len(grid))
        frames.append(grid)
    return pd.concat(frames, ignore_index=True)


def test_each_condition_names_the_setting_columns_that_differ():
    """Porian's first step recounts parameters (param_count kaplan -> standard) and nothing said
    so; each condition now names the columns that differ from the one before, found from the
    table (columns with one value per condition), in the text, reconcile.csv and --json."""
    runs = _settings_table()
    walk = [("", "first"), ("", "recount"), ("", "short warmup")]
    assert condition_changes(runs, "condition", [], walk) == {
        ("", "first"): "start: counting=kaplan, warmup_len=long",
        ("", "recount"): "counting kaplan -> standard",
        ("", "short warmup"): "warmup_len long -> short"}
    # a second panel whose counting never changes still states it at its start (Porian's
    # attention-FLOPs walk counts one way throughout); a panel of one condition states its setting
    other = runs[runs.condition != "first"].assign(corpus="code", counting="attention")
    alone = runs[runs.condition == "first"].assign(corpus="books")
    both = pd.concat([runs, other, alone], ignore_index=True)
    walk = [(p, c) for p, c in dict.fromkeys(zip(both.corpus, both.condition))]
    changes = condition_changes(both, "condition", ["corpus"], walk)
    assert changes[("code", "recount")] == "start: counting=attention, warmup_len=long"
    assert changes[("code", "short warmup")] == "warmup_len long -> short"
    assert changes[("web", "recount")] == "counting kaplan -> standard"
    assert changes[("books", "first")] == "start: counting=kaplan, warmup_len=long"


def test_the_cli_states_changes_and_verdicts(tmp_path):
    path = tmp_path / "runs.csv"
    _settings_table().to_csv(path, index=False)
    args = ["reconcile", "--data", str(path), "--by", "condition", "--bootstrap", "200"]
    text = CliRunner().invoke(main, args)
    assert text.exit_code == 0, text.output
    assert "what differs from the step before" in text.stdout
    assert "counting kaplan -> standard" in text.stdout and "warmup_len long -> short" in text.stdout
    assert "run_id" not in text.stdout and "corpus" not in text.stdout
    assert ORDER_WORDS.format(order=TABLE_ORDER) in text.stdout
    done = CliRunner().invoke(main, [*args, "--json", "--out", str(tmp_path / "out")])
    assert done.exit_code == 0, done.output
    moves = json.loads(done.stdout)["moves"]
    assert [m["verdict"] in (CHANGES, HOLDS_ZERO, AT_EDGE) for m in moves] == [True, True]
    table = pd.read_csv(tmp_path / "out" / "reconcile.csv")
    assert list(table["changes"])[1:] == ["counting kaplan -> standard", "warmup_len long -> short"]
    assert list(table["verdict"].fillna(""))[1:] == [m["verdict"] for m in moves]
    report = (tmp_path / "out" / "reconcile.md").read_text()
    assert "counting kaplan -> standard" in report and "`verdict`" in report


def test_the_order_words_name_the_order_that_was_walked(tmp_path):
    """With --order the walk is said to follow the order --order gave (it read 'in the --order
    order'); without it, the table's order; the sentence is said once either way."""
    path = tmp_path / "runs.csv"
    _settings_table().to_csv(path, index=False)
    args = ["reconcile", "--data", str(path), "--by", "condition", "--bootstrap", "200"]
    given = CliRunner().invoke(main, [*args, "--order", "short warmup,recount,first"])
    assert given.exit_code == 0, given.output
    said = "each step adds one change to all earlier ones, in the order --order gave; these runs"
    assert said in given.stdout and given.stdout.count(said) == 1
    assert ORDER_WORDS.format(order=GIVEN_ORDER) in given.stdout
    assert "the --order order" not in given.stdout and TABLE_ORDER not in given.stdout
    table = CliRunner().invoke(main, args)
    assert table.exit_code == 0, table.output
    assert "in the table's order; these runs" in table.stdout and GIVEN_ORDER not in table.stdout

"""`compare kaplan chinchilla --schedules` says what its intervals allow and shows the effect it
measured (s46 task s8):

1. a gap whose interval holds 0 is 'no gap found, none of that size excluded', not 'no gap to
   explain' (the interval [-0.259, +0.263] was as wide as the whole Kaplan/Chinchilla
   disagreement), in the JSON's reason and the text alike;
2. the correction's shift of the projected loss (corrected minus Kaplan-style, paired) is printed
   with its interval and written to the CSV; the corrected points' distance from the grid finals
   has its sign; where the correction moves the points one way and the projection the other,
   the text says the projection's move is the fitted form's beyond the runs;
3. every estimate beside an interval is printed to the place of the interval's printed ends;
4. the CSV names the FLOPs of each row's projections and calls them projections;
5. 'the schedule law is the most accurate' (0.93% against 0.97%) is now the lowest error with a
   paired interval of each difference, and 'not separated' where one holds 0.
"""
from __future__ import annotations

import warnings
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from test_schedule_gap import synthetic_suite

from scalefit.cli import main
from scalefit.scaling.interval_text import interval_text, value_at_interval
from scalefit.scaling.laws.schedule_gap import _share, schedule_gap, stated_share, unidentified_share
from scalefit.scaling.laws.schedule_gap_report import explain, gap_text


@pytest.fixture(scope="module")
def gap():
    """The synthetic suite of test_schedule_gap (known momentum-law truth), 20 resamples: cheap;
    a test that reads verdicts off the intervals says the count is 200 (explain reads it)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return schedule_gap(*synthetic_suite(), n_bootstrap=20, seed=0)


def _as_if(gap, n=200, **changes):
    """``gap`` as if run with ``n`` resamples (explain reads the count from the settings); a
    share the 20 resamples left unreported for their number, reported as its point value."""
    shares = {k: dict(v, value=v["shift"] / v["gap"], ci95=[np.nan, np.nan], reported=True)
              if isinstance(v, dict) and v["value"] is None and v["identified"] else v
              for k, v in changes.pop("shares", gap.shares).items()}
    return replace(gap, settings=dict(gap.settings, n_bootstrap=n), shares=shares, **changes)


# --- 1. absence of evidence ------------------------------------------------------------------

def test_a_gap_interval_holding_0_is_not_said_as_no_gap():
    reason = unidentified_share([-0.259, 0.263], 0.050)
    lo, hi = interval_text(-0.259, 0.263, 0.050, sign=True)[1:-1].split(", ")
    assert f"[{lo}, {hi}] includes 0" in reason
    assert "cannot exclude" in reason and f"as large as {lo} and {hi}" in reason
    assert "no gap for the schedule to explain" not in reason
    assert "not identified" in reason


def test_the_text_and_the_json_give_one_reason(gap):
    rng = np.random.default_rng(0)
    den = rng.normal(0.05, 0.13, 200)  # a gap the resamples cannot tell from 0, nor from +-0.25
    share = stated_share(_share(-0.5 * den, den, -0.025, 0.05), 200)
    assert share["reported"] is False
    held = _as_if(gap, shares={**gap.shares, "a": share, "loss_10x": share, "loss_100x": share})
    text = explain(held)
    assert sum(share["reason"] in s for s in text) == 2  # a's sentence and the 10x loss's
    assert "cannot exclude" in share["reason"]
    assert not any("no gap for the schedule to explain" in s for s in text)


# --- 2. the effect measured, its sign, and where it comes from -------------------------------

def test_the_projected_loss_shift_is_printed_with_its_interval(gap):
    text = " ".join(explain(_as_if(gap)))
    for key, mult in (("loss_10x", "10x"), ("loss_100x", "100x")):
        s = gap.shares[key]
        value = value_at_interval(s["shift"], *s["shift_ci95"])
        value = value if value.startswith("-") else "+" + value
        assert f"{value} {interval_text(*s['shift_ci95'], s['shift'], sign=True)} at {mult}" in text
    # the suite's truth: the correction lowers the projection, the interval excludes 0
    s = gap.shares["loss_10x"]
    assert s["shift_ci95"][1] < 0
    assert "both intervals exclude 0" in text


def test_the_points_sentence_gives_the_sign_and_the_projection_its_source(gap):
    comparisons = dict(gap.comparisons)
    comparisons["kaplan_vs_grid_points"] = dict(comparisons["kaplan_vs_grid_points"],
                                                mean_rel_difference=-0.0234)
    comparisons["corrected_vs_grid_points"] = dict(comparisons["corrected_vs_grid_points"],
                                                   mean_rel_difference=0.0141,
                                                   mean_abs_rel_difference=0.0142)
    comparisons["corrected_vs_kaplan_points"] = dict(comparisons["corrected_vs_kaplan_points"],
                                                     mean_rel_difference=0.038)
    down = {k: dict(v, shift=-0.40, shift_ci95=[-0.68, -0.13]) for k, v in gap.shares.items()
            if k.startswith("loss_")}
    text = " ".join(explain(_as_if(gap, comparisons=comparisons, shares={**gap.shares, **down})))
    assert "2.34% below the grid finals" in text and "1.41% above them" in text
    assert "moved the checkpoints up by 3.80%" in text
    assert "raises the points yet lowers the projected loss at 10x and 100x" in text
    assert "a projection" in text
    # the points and the projection moving the same way: no such sentence
    same = {**comparisons, "corrected_vs_kaplan_points": dict(
        comparisons["corrected_vs_kaplan_points"], mean_rel_difference=-0.038)}
    text = " ".join(explain(_as_if(gap, comparisons=same, shares={**gap.shares, **down})))
    assert "moved the checkpoints down by 3.80%" in text and "yet" not in text
    # a shift whose interval holds 0 is no move to explain
    held = {k: dict(v, shift=-0.40, shift_ci95=[-0.68, 0.13]) for k, v in down.items()}
    text = " ".join(explain(_as_if(gap, comparisons=comparisons, shares={**gap.shares, **held})))
    assert "yet lowers" not in text and "both intervals include 0" in text
    # nor is one read off too few resamples
    text = " ".join(explain(_as_if(gap, n=20, comparisons=comparisons, shares={**gap.shares, **down})))
    assert "yet lowers" not in text and "exclude 0" not in text


def test_the_correction_moves_the_points_it_was_given(gap):
    pts = gap.sets["corrected"].points
    moved = gap.comparisons["corrected_vs_kaplan_points"]
    assert moved["n"] == len(pts)
    assert moved["mean_rel_difference"] == pytest.approx((pts["loss"] / pts["loss_measured"] - 1).mean())


# --- 3. digits -------------------------------------------------------------------------------

def test_estimates_are_printed_to_their_intervals_place(gap):
    kaplan = replace(gap.sets["kaplan"], a=0.4659282, a_ci95=(0.3089218, 0.8029876))
    shown = _as_if(gap, sets={**gap.sets, "kaplan": kaplan})
    shown = replace(shown, sentences=explain(shown))
    text = gap_text(shown)
    a = value_at_interval(0.4659282, 0.3089218, 0.8029876)
    assert f"{a} {interval_text(0.3089218, 0.8029876, 0.4659282)}" in text
    assert "0.466" not in text and "0.309" not in text  # .3f beside an interval 0.49 wide
    for s in shown.sets.values():  # the table's and the sentences' loss cells
        b = s.budgets[0]
        assert f"{value_at_interval(b['loss'], *b['loss_ci95'])} {interval_text(*b['loss_ci95'], b['loss'])}" in text


# --- 4. the CSV --------------------------------------------------------------------------------

def test_the_table_names_each_rows_flops_and_the_projection(gap):
    table = gap.table().set_index("set")
    assert not any(c.startswith("L@") for c in table.columns)
    for s in gap.sets.values():
        for b in s.budgets:
            tag = f"{b['multiple']:g}x"
            assert table.loc[s.label, f"flops@{tag}"] == b["flops"]  # the JSON's budgets
            assert table.loc[s.label, f"projected_loss@{tag}"] == b["loss"]
            assert b["kind"] == "projection"
    main_, wsd = gap.sets["grid"].label, gap.sets["wsd"].label
    assert table.loc[wsd, "flops@10x"] < table.loc[main_, "flops@10x"]  # the WSD sets' own compute
    corrected = table.loc[gap.sets["corrected"].label]
    share = gap.shares["loss_10x"]
    assert corrected["correction_shift_projected_loss@10x"] == share["shift"]
    assert [corrected["correction_shift_projected_loss@10x_lo"],
            corrected["correction_shift_projected_loss@10x_hi"]] == share["shift_ci95"]
    assert corrected["correction_shift_a"] == gap.shares["a"]["shift"]
    assert table.drop(index=gap.sets["corrected"].label)["correction_shift_a"].isna().all()


def test_the_command_writes_the_shift_and_the_flops(tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the synthetic truth's step-0 power
        checkpoints, finals = synthetic_suite(every=240, wsd_sizes=())
    paths = [tmp_path / "checkpoints.parquet", tmp_path / "finals.parquet"]
    checkpoints.to_parquet(paths[0])
    finals.to_parquet(paths[1])
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["compare", "kaplan", "chinchilla", "--schedules",
                                       "--checkpoints", str(paths[0]), "--finals", str(paths[1]),
                                       "--bootstrap", "10", "--out", str(out)])
    assert result.exit_code == 0, result.output
    csv = pd.read_csv(out / "schedule_gap.csv")
    assert {"flops@10x", "projected_loss@100x_hi", "correction_shift_projected_loss@10x_lo"} <= set(csv.columns)
    report = (out / "report.md").read_text()
    assert "The correction moves the projected compute-optimal loss by" in report
    assert "the corrected points sit" in report
    assert "from the Kaplan-style a (paired resamples)" in report  # the shift of a (s19)
    assert "## Files" in report and "`correction_shift_a`, `correction_shift_a_lo`" in report


# --- 5. the prediction test's ranking --------------------------------------------------------

def _targets(rng, n, scales=(0.01, 0.02, 0.05)):
    from scalefit.scaling.laws.schedule_gap import PREDICTION_METHODS
    errors = {f"{m}_rel_error": rng.normal(0, s, n) for m, s in zip(PREDICTION_METHODS, scales)}
    return pd.DataFrame({"part": "grid", "long_run": [f"s{i % 5}" for i in range(n)],
                         "same_run_as": None, **errors})


def test_the_paired_interval_of_an_error_difference_covers_the_truth():
    """Errors N(0, 0.01) against N(0, 0.02): the mean |error| differs by 0.01 sqrt(2/pi); the
    paired percentile interval over 30 predicted runs holds it in about 95% of suites."""
    from scalefit.scaling.laws.schedule_gap import prediction_differences
    truth = 0.01 * np.sqrt(2 / np.pi)
    rng = np.random.default_rng(1)
    held = []
    for k in range(200):
        d = prediction_differences(_targets(rng, 30), 200, k)["all"]
        if d["lowest"] == "schedule_law":
            lo, hi = d["above_lowest"]["naive"]["ci95"]
            held.append(lo <= truth <= hi)
    assert len(held) > 190
    assert 0.88 <= np.mean(held) <= 0.99


def test_the_lowest_error_is_said_with_its_intervals(gap):
    from scalefit.scaling.laws.schedule_gap import PREDICTION_METHODS, prediction_differences
    d = gap.comparisons["prediction"]
    summary = gap.prediction.summary.set_index(["method", "part"])["mean_abs_rel_error"]
    for part, got in d.items():  # the same means as the summary ('all' counts a run once)
        best = min(PREDICTION_METHODS, key=lambda m: summary[(m, part)])
        assert got["lowest"] == best
        for m, v in got["above_lowest"].items():
            assert v["difference"] == pytest.approx(summary[(m, part)] - summary[(best, part)])
    text = " ".join(explain(_as_if(gap)))
    assert "most accurate" not in text and "is the lowest, by" in text
    assert "paired resamples of the predicted runs, each fit held" in text
    # an interval holding 0: said as not separated
    tied = {p: dict(v, above_lowest={m: dict(w, ci95=[-0.003, 0.004]) for m, w in v["above_lowest"].items()})
            for p, v in d.items()}
    text = " ".join(explain(_as_if(gap, comparisons={**gap.comparisons, "prediction": tied})))
    assert "not separated from" in text and "each interval excludes 0" not in text
    # no resamples: the lowest, no interval
    none = prediction_differences(gap.prediction.targets, 0, 0)
    assert all(np.isnan(v["ci95"][0]) for p in none.values() for v in p["above_lowest"].values())
    text = " ".join(explain(_as_if(gap, n=0, comparisons={**gap.comparisons, "prediction": none})))
    assert "is the lowest (no resamples (--bootstrap 0), so no interval)" in text


def test_without_resamples_no_interval_is_claimed(gap):
    """--bootstrap 0: the shift is no 'paired resamples' finding, and a loss without interval
    reads '3.472 (Kaplan-style)', not '3.472 (no interval) (Kaplan-style)'."""
    nan = [np.nan, np.nan]
    sets = {k: replace(s, a_ci95=tuple(nan), budgets=[dict(b, loss_ci95=nan) for b in s.budgets])
            for k, s in gap.sets.items()}
    shares = {k: dict(v, shift_ci95=nan, gap_ci95=nan, identified=False) if isinstance(v, dict) else v
              for k, v in gap.shares.items()}
    text = " ".join(explain(_as_if(gap, n=0, sets=sets, shares=shares)))
    shift = next(s for s in text.split(". ") if s.startswith("The correction moves"))
    assert shift.endswith("(corrected minus Kaplan-style; no interval)") and "paired" not in shift
    assert "(no interval) (Kaplan-style)" not in text and "(Kaplan-style)" in text


# --- s46 task s19: the shift of a, the ranking, the CSV's columns, --bootstrap 0, the figure ---

def _shift_text(value, ci):
    text = value_at_interval(value, *ci)
    return f"{text if text.startswith('-') else '+' + text} {interval_text(*ci, value, sign=True)}"


def test_the_correction_shift_of_a_is_printed_with_its_interval(gap):
    """'moves a to 0.39 [0.22, 0.63]' gave no paired shift of a (it stood in the CSV alone)."""
    s = gap.shares["a"]
    text = " ".join(explain(_as_if(gap)))
    assert f"by {_shift_text(s['shift'], s['shift_ci95'])} from the Kaplan-style a" in text
    assert s["shift_ci95"][1] < 0 and "its interval excludes 0" in text  # the suite's truth
    held = dict(s, shift=-0.08, shift_ci95=[-0.40, 0.14])
    text = " ".join(explain(_as_if(gap, shares={**gap.shares, "a": held})))
    assert f"by {_shift_text(-0.08, [-0.40, 0.14])} from the Kaplan-style a (paired resamples; " \
           "its interval includes 0)" in text
    text = " ".join(explain(_as_if(gap, n=20, shares={**gap.shares, "a": held})))
    assert "from the Kaplan-style a (paired resamples)" in text  # no verdict off 20 resamples
    nan = dict(s, shift_ci95=[np.nan, np.nan])
    text = " ".join(explain(_as_if(gap, n=0, shares={**gap.shares, "a": nan})))
    assert f"by {value_at_interval(s['shift'], np.nan, np.nan)} from the Kaplan-style a (no interval)" in text


def test_the_ranking_of_a_says_what_it_rests_on(gap):
    """'a is highest for (ii) and lowest for (ii')' ranked point estimates whose intervals
    overlapped: the sentence says they are point estimates and whether the intervals separate them."""
    def ranking(sets, n=200):
        text = explain(_as_if(gap, n=n, sets=sets))
        return next(s for s in text if s.startswith("The allocation exponent a"))
    apart = {k: replace(s, a=0.30 + 0.05 * j, a_ci95=(0.29 + 0.05 * j, 0.31 + 0.05 * j))
             for j, (k, s) in enumerate(gap.sets.items())}
    said = ranking(apart)
    assert "as point estimates whose 95% intervals do not overlap" in said
    assert "do not separate" not in said
    overlapping = {k: replace(s, a_ci95=(0.1, 0.9)) for k, s in apart.items()}
    said = ranking(overlapping)
    assert "as point estimates: their 95% intervals overlap, so they do not separate the two" in said
    assert "as point estimates (their intervals too rough to separate them)" in ranking(apart, n=20)


def test_report_md_describes_every_column_of_the_csv(gap):
    from scalefit.scaling.laws.schedule_gap_report import report_markdown
    shown = replace(gap, sentences=explain(gap))
    report = report_markdown(shown)
    files = report[report.index("## Files"):]
    assert "schedule_gap.csv" in files
    for column in gap.table().columns:
        generic = column
        for b in gap.sets["grid"].budgets:
            generic = generic.replace(f"@{b['multiple']:g}x", "@Mx")
        assert f"`{generic}`" in files, column
    assert "as in the JSON" not in files  # each column has its own words
    assert "paired resamples" in files and gap_text(shown) in report


def test_without_resamples_the_table_header_claims_no_interval(gap):
    nan = (np.nan, np.nan)
    sets = {k: replace(s, a_ci95=nan, budgets=[dict(b, loss_ci95=list(nan)) for b in s.budgets])
            for k, s in gap.sets.items()}
    none = _as_if(gap, n=0, sets=sets)
    text = gap_text(replace(none, sentences=explain(none)))
    assert "95% CI" not in text
    assert "a (no interval)" in text and "L@10x (no interval)" in text
    assert "a [95% CI]" in gap_text(gap)


def test_the_figure_title_gives_the_gap_interval_not_excluded(gap):
    """'a gap not identified (its interval includes 0)' read as no gap: it gives the interval
    and that gaps of its size are not excluded either; without resamples it claims no interval."""
    import matplotlib.pyplot as plt

    from scalefit.scaling.laws.schedule_plots import plot_schedule_gap
    from scalefit.scaling.interval_text import interval_ends

    def title(g):
        fig = plot_schedule_gap(g)
        try:
            return fig.axes[1].get_title()
        finally:
            plt.close(fig)
    held = stated_share(dict(gap.shares["a"], gap=0.05, gap_ci95=[-0.259, 0.263], identified=False), 200)
    said = title(_as_if(gap, shares={**gap.shares, "a": held}))
    lo, hi = interval_ends(-0.259, 0.263, 0.05, sign=True)
    assert f"[{lo}, {hi}] includes 0" in said and "not excluded" in said and hi in said.split("\n")[-1]
    none = dict(gap.shares["a"], gap_ci95=[np.nan, np.nan], identified=False)
    said = title(_as_if(gap, n=0, shares={**gap.shares, "a": none}))
    assert "includes 0" not in said and "no resamples" in said

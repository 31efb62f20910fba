"""A researcher's audit of the numbers the law commands print: a value keeps the digits its rule
gives it (trailing zeros included: kappa = 1.100, not 1.1), the budget table's cells keep 3
significant digits (2.00 [1.95, 2.04], not 2 [1.95, 2.04]), an interval in a sentence follows the
interval-precision rule of the relation commands, a held-out error reads as a percentage, an
unbounded median interval says so, and a published a that the table derives is told apart from
the one the paper prints."""
from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from scalefit.scaling.interval_text import interval_text
from scalefit.scaling.laws.identifiability import judged, significant
from scalefit.scaling.laws.projection import BEYOND_RUNS
from test_quoted_numbers import NUMBER, rounds_to, run, strict_json


def digits_of(printed: str) -> int:
    """Significant digits of a printed number, trailing zeros counted (2.00: 3, 1e+04: 1)."""
    mantissa = printed.lower().lstrip("+-").partition("e")[0]
    return len(mantissa.replace(".", "").lstrip("0")) or 1


# --------------------------------------------------------------------- the digits rules


@pytest.mark.parametrize("value, status, shown", [
    (1.1002380970847079, "identified", "1.100"),  # kappa of fineweb-edu -> starcoder: printed 1.1
    (0.76724, "identified", "0.7672"),
    (0.76724, "not identified", "0.8"),
    (2.0000004, "weakly identified", "2.0"),
    (12845.6, "not identified", "1e+04"),
    (12.0, "identified", "12.00"),
])
def test_a_value_keeps_the_digits_its_identifiability_gives(value, status, shown):
    assert significant(value, status) == shown
    assert digits_of(shown) == {"identified": 4, "weakly identified": 2, "not identified": 1}.get(status, 4)


def test_judged_keeps_trailing_zeros_and_zero_stays_zero():
    """The relations' parameter lines print judged(): kappa 1.1002 in [0.948, 1.249] read '1.1'
    (two digits, as if weakly identified) beside K = 0.6331; its interval's ends [0.95, 1.25] keep
    hundredths, so 1.10: the trailing zero is the claim, no digit beyond the ends'."""
    from scalefit.scaling.laws.identifiability import with_digits
    assert judged(1.1002380970847079, (0.9479495489827169, 1.2488214542590526)) == ("1.10", "")
    assert judged(0.0, (0.0, 0.3))[0] == "0" and with_digits(0.0, 3) == "0"
    assert with_digits(1.0e12, 3) == "1.00e+12" and with_digits(5e-5, 2) == "5.0e-05"


def test_budget_cells_keep_three_significant_digits():
    """A budget row's loss 1.9998 [1.953, 2.041] printed '2 [1.95, 2.04]' and an N* end
    5.0e9 as '5e+09': each now keeps 3 significant digits."""
    from scalefit.scaling.laws.report import projection_frame
    row = {"flops": 1e24, "times_largest_run": 100.0, "kind": "projection",
           "N_opt": 1.49e11, "N_opt_ci95": [9.23e10, 5.0e11], "D_opt": 1.0e12,
           "D_opt_ci95": [4.84e11, 2.08e12], "tokens_per_param": 14.0,
           "tokens_per_param_ci95": [6.87, 20.8], "loss": 1.9998, "loss_ci95": [1.953, 2.041]}
    shown = projection_frame([row]).iloc[0]
    assert shown["loss"] == "2.00 [1.95, 2.04]"
    assert shown["N*"] == "1.49e+11 [9.23e+10, 5.00e+11]"
    assert shown["D*"] == "1.00e+12 [4.84e+11, 2.08e+12]"
    assert shown["D*/N*"] == "14.0 [6.87, 20.8]"


def test_schedule_law_interval_ends_keep_their_trailing_zeros():
    """fit schedule-law on a PolyPythia-70m curve printed 'L0 = 2.834  95% CI [2.803, 2.87]': the
    upper end read as known to 3 digits, the lower to 4. Both ends keep 4 significant digits."""
    from scalefit.scaling.laws.schedule_cli import _fit_text
    out = {"law": "momentum", "n_points": 150, "n_runs": 1, "runs": ["pythia-70m-seed1"],
           "params": {"L0": {"value": 2.8341, "ci95": [2.80312, 2.86996]},
                      "C": {"value": 5.1e-05, "ci95": [2.5654e-05, 8.0e-05]}},
           "rmse_log": 0.0043, "mean_abs_rel_error": 0.0033, "max_abs_rel_error": 0.0145, "warnings": []}
    lines = _fit_text(out).splitlines()
    assert lines[1] == "      L0 = 2.834  95% CI [2.803, 2.870]"
    # the interval rule (S7), and the value to its interval's place at least (s43: 5e-05 beside it)
    assert lines[2].startswith("       C = 5.1e-05  95% CI [2.6e-05, 8.0e-05]")



# --------------------------------------------------------------------- compare, three ways


COMPARE = ["compare", "kaplan", "chinchilla", "--holdout", "2", "--bootstrap", "20"]


@pytest.fixture(scope="module")
def compared():
    return run(*COMPARE), strict_json(run(*COMPARE, "--json"))


def test_held_out_error_is_a_percentage_as_the_json_fraction_says(compared):
    """'mean |relative error| 0.03173 on 10 runs' could be read as 0.03%: the fraction of
    --json is printed as the percentage it is, as predict downstream and fit_line print it."""
    text, doc = compared
    for law, fit in doc["fits"].items():
        line = next(x for x in text.splitlines() if x.startswith(f"held-out ({law}): "))
        printed = re.search(rf"mean \|relative error\| ({NUMBER})% on (\d+) runs", line)
        assert printed, line
        assert rounds_to(fit["holdout"]["mean_abs_rel_error"], printed.group(1), 100)
        assert int(printed.group(2)) == fit["holdout"]["n"]


def test_prediction_interval_lines_follow_the_interval_rule(compared):
    """A held-out optimum's prediction interval read '[1.835, 2.093]' beside '[1.89, 2.458]'
    (.4g, a trailing zero dropped): ends to the width's second significant digit (interval_text,
    as every relation command prints them)."""
    text, doc = compared
    checked = 0
    for law, fit in doc["fits"].items():
        for row in fit["allocation"]["budgets"]:
            if row["kind"] in ("prediction", BEYOND_RUNS) and "loss_pi95" in row:
                expected = (f"{row['flops']:.3g} FLOPs ({law}): a run trained at this optimum "
                            f"would measure a loss in {interval_text(*row['loss_pi95'])} ")
                assert expected in text, expected
                checked += 1
    assert checked  # --holdout 2: the held-out budget's row (its optimum beyond the runs since s45)


def test_budget_table_cells_agree_with_json_to_three_digits(compared):
    text, doc = compared
    lines = text.splitlines()
    head = next(i for i, x in enumerate(lines) if x.startswith("compute-optimal allocation"))
    kinds = r"(projection|prediction \(optimum beyond the runs\)|prediction|interpolation)"
    rows = [x for x in lines[head + 3:] if re.match(rf"^\s*[\d.e+]+\s+[\d.]+\s+{kinds}", x)]
    cells = [re.findall(rf"({NUMBER}) \[({NUMBER}), ({NUMBER})\]", x) for x in rows]
    budgets = [(law, r) for r in doc["fits"]["chinchilla"]["allocation"]["budgets"]
               for law in ("kaplan", "chinchilla")]
    assert len(cells) == len(budgets) > 0
    for row_cells in cells:
        for triple in row_cells:
            assert all(digits_of(p) == 3 for p in triple), triple
    for (law, _), line, row_cells in zip(budgets, rows, cells):
        assert f" {law} " in line
        row = next(r for r in doc["fits"][law]["allocation"]["budgets"]
                   if f"{r['flops']:.3g}" == line.split()[0])
        loss = row_cells[-1]
        assert rounds_to(row["loss"], loss[0]) and rounds_to(row["loss_ci95"][0], loss[1])
        assert rounds_to(row["loss_ci95"][1], loss[2])


def test_published_a_derived_from_the_constants_is_told_apart(compared):
    """The published-constants table showed a = 0.4516 on the row 'Hoffmann 2022 Approach 3
    (printed)', whose paper prints a = 0.46 (Table 2): the table's a is derived from alpha and
    beta, and a note says so and gives the printed value."""
    from scalefit.scaling.laws.published import published_laws
    from scalefit.scaling.laws.registry import law_for
    text, doc = compared
    block = published_laws()["hoffmann2022"]["approach3"]
    derived = block["beta"] / (block["alpha"] + block["beta"])
    row = doc["published"]["chinchilla"]["Hoffmann 2022 Approach 3 (printed)"]
    assert row["a"] == pytest.approx(derived)  # the JSON is unchanged: the derived a
    notes = law_for("chinchilla").published_notes()
    assert len(notes) == 1
    assert f"the paper prints a = {block['a']:g}, b = {block['b']:g}" in notes[0]
    assert f"(a = {derived:.4g})" in notes[0]
    assert "Besiroglu" not in notes[0]  # its printed a = 0.5126 is what its constants give
    assert f"note: {notes[0]}" in text
    kaplan = law_for("kaplan").published_notes()  # s45: eq. 6.1's a told apart from Table 2's
    assert len(kaplan) == 1 and f"note: {kaplan[0]}" in text


# --------------------------------------------------------------------- calibrate


def test_calibration_says_an_unbounded_median_interval():
    """The >100x bin of Epoch's runs, most of its intervals [0, inf] from the lowest cut, printed
    its median half-width as '-' in the terminal, a blank cell in report.md and null in --json:
    all three read as 'not computed'. The tables now say 'unbounded' and a note explains null."""
    from scalefit.scaling.laws.calibrate import cut_summary, summarize
    from scalefit.scaling.laws.calibrate_report import calibration_text
    distance = np.array([1.5, 1.8, 3.0, 150.0, 200.0, 300.0])
    part = pd.DataFrame({"cut_flops": 1e18, "flops": distance * 1e18, "distance": distance,
                         "observed": 3.0, "predicted": 3.1, "pi95_lo": 2.9,
                         "pi95_hi": [3.3, 3.3, 3.4, np.inf, np.inf, 3.6],
                         "inside": True, "relative_error": 0.03})
    part["interval_half_width"] = (part.pi95_hi - part.pi95_lo) / 2 / part.predicted
    result = summarize("chinchilla", "runs.csv", 20, 200, [part], [cut_summary(1e18, 1e18, 14, part)])
    far = result.by_distance.set_index("distance_bin").loc[">100x", "median_interval_half_width"]
    assert np.isinf(far)
    note = next(n for n in result.notes if n.startswith("median_interval_half_width"))
    assert ">100x bin: unbounded" in note and "null in --json" in note
    text = calibration_text(result)
    row = next(x for x in text.splitlines() if x.strip().startswith(">100x"))
    assert row.split()[-1] == "unbounded"
    near = next(x for x in text.splitlines() if x.strip().startswith("1-2x"))
    assert near.split()[-1].endswith("%")  # a percentage, as the cut table prints (S9)
    assert rounds_to(100 * result.by_distance.iloc[0]["median_interval_half_width"], near.split()[-1][:-1])
    assert f"note: {note}" in text


def test_schedule_gap_table_says_the_loss_unit():
    """compare --schedules' table header named the L@10x and L@100x columns 'projections of the
    compute-optimal loss' with no unit; the loss rows it fits are metric 'loss', nats/token."""
    from types import SimpleNamespace

    from scalefit.scaling.laws.schedule_gap_report import gap_text
    budgets = [{"multiple": m, "flops": m * 2.42e13, "loss": 3.4, "loss_ci95": [3.3, 3.6]} for m in (10, 100)]
    one = SimpleNamespace(label="(ii) Chinchilla-style grid", points=[0] * 20, a=0.516,
                          a_ci95=[0.43, 0.69], budgets=budgets)
    gap = SimpleNamespace(sets={"grid": one}, sentences=[], warnings=[],
                          settings={"resampling_unit": "run", "n_bootstrap": 50, "dataset": "prose-val",
                                    "schedule_law": "momentum"},
                          prediction=SimpleNamespace(summary=pd.DataFrame({"method": ["naive"]})))
    head = gap_text(gap).splitlines()[0]
    assert "L@10x, L@100x: projections of the compute-optimal loss (nats/token) at 10x" in head


def test_frontier_is_solid_only_over_the_runs_compute():
    """The frontier plot's title says 'dashed: projection, no run there', yet each law's solid
    line began at half the smallest run's compute (2.2e11 FLOPs on the shipped grid, whose
    smallest run is 4.4e11): a stretch with no run drawn as data. Solid now starts at the
    smallest run."""
    import matplotlib.pyplot as plt

    from scalefit.scaling.laws.cli import default_runs_path
    from scalefit.scaling.laws.compare import compare_laws
    from scalefit.scaling.laws.plots import plot_frontiers
    from scalefit.scaling.laws.runtable import validate_runs
    runs = pd.read_csv(default_runs_path())
    runs = runs[runs["part"] == "grid"]
    frame = validate_runs(runs, "chinchilla").frame
    fig = plot_frontiers(compare_laws(runs, ("chinchilla",), n_bootstrap=0).fits, frame)
    solid = [ln for ln in fig.axes[0].get_lines() if ln.get_linestyle() == "-" and len(ln.get_xdata())]
    assert solid
    c = frame["C"].to_numpy(float)
    for line in solid:
        x = np.asarray(line.get_xdata(), float)
        assert x.min() >= c.min() * (1 - 1e-9) and x.max() <= c.max() * (1 + 1e-9)
    plt.close(fig)


def test_predicted_curve_says_its_loss_unit():
    """predict curve printed its curve (predicted, measured, error, ci95_lo, ci95_hi) and the final
    loss with no unit, where its figure's axis reads 'loss (nats/token)'; a --loss-column other
    than 'loss' is in that column's units, which the line says instead."""
    head = run("predict", "curve", "--law", "momentum", "--model", "mini-3", "--measured",
               "mini-3-wsd-D1146880", "--bootstrap", "0").splitlines()[0]
    assert re.search(r"at \d+ checkpoints of the measured run; predicted, measured, error in nats/token$", head)
    from scalefit.scaling.laws.report import loss_unit
    assert loss_unit("bpb") == "bits/byte"  # column_unit (S7); a name that does not tell:
    assert loss_unit("gold_ce") == "the units of column 'gold_ce'"


def test_scale_parameters_say_their_units(compared):
    """fit kaplan-c printed C_c = 4.4e+27 (Epoch's runs) with no unit, where Kaplan et al. quote
    C_c = 3.1e8 in PF-days: the text now says C_c is in FLOPs and converts theirs; N_c and D_c
    say parameters and tokens, in fit's and compare's text."""
    from scalefit.scaling.laws.published import published_laws
    k = published_laws()["kaplan2020"]
    text = run("fit", "kaplan-c", "--bootstrap", "0")
    flops = k["kaplan-c"]["C_c_pf_days"] * k["allocation"]["pf_day_flops"]
    assert (f"note: C_c in FLOPs (Kaplan et al. 2020 give C_c = {k['kaplan-c']['C_c_pf_days']:.3g} "
            f"PF-days = {flops:.3g} FLOPs;") in text
    assert "note: N_c in parameters, D_c in tokens" in run("fit", "kaplan", "--bootstrap", "0")
    assert "note (kaplan): N_c in parameters, D_c in tokens" in compared[0]
    assert "note (chinchilla)" not in compared[0].split("compute-optimal")[0]  # no unit to add

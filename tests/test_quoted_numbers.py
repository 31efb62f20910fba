"""The numbers a researcher quotes agree wherever they are printed: each relation and trajectory
command runs once on the shipped data as text and once with --json --out, and every interval the
text prints is the JSON's to the printed rounding, printed to the interval's own precision, holds
its estimate, and matches the report folder; values beyond the data say so in all three; NaN
never prints as 'nan' and the JSON is strict."""
from __future__ import annotations

import json
import math
import re

import pandas as pd
import pytest
from click.testing import CliRunner

from scalefit.cli import main

NUMBER = r"[+-]?(?:\d+\.?\d*|\.\d+)(?:e[+-]?\d+)?"
INTERVAL = re.compile(rf"\[(?:95% CI )?({NUMBER}|-), ({NUMBER}|-)\]")


def strict_json(text: str):
    """The JSON document, refusing NaN and Infinity (not JSON)."""
    def refuse(name):
        raise ValueError(f"{name} in JSON")
    return json.loads(text, parse_constant=refuse)


def assert_no_nan_words(text: str, where: str) -> None:
    bad = re.findall(r"(?i)(?<![\w.])-?(?:nan|inf)(?![\w])", text)
    assert not bad, f"{where} prints {bad}"


def last_place(printed: str) -> int | None:
    """The exponent of a printed number's last digit (5.30: -2, 4.9e+05: 4, 134: 0); None for 0."""
    mantissa, _, power = printed.lower().lstrip("+-").partition("e")
    if float(mantissa) == 0:
        return None
    decimals = len(mantissa.split(".")[1]) if "." in mantissa else 0
    return (int(power) if power else 0) - decimals


def rounds_to(value, printed: str, scale: float = 1.0) -> bool:
    """Whether ``value`` (times ``scale``) printed to ``printed``'s last digit reads ``printed``."""
    if value is None or printed == "-":
        return value is None and printed == "-"
    place = last_place(printed)
    half = 0.5 * 10.0 ** place if place is not None else 0.5 * 10.0 ** -(len(printed) + 6)
    if place is None:  # a printed 0: anything that rounds to 0 at the coarsest place
        half = 0.5
    return abs(value * scale - float(printed)) <= half * (1 + 1e-9) + 1e-12


def assert_interval_precision(lo: str, hi: str, where: str) -> None:
    """Ends printed to the interval's precision: neither more than 2 significant digits of its
    width (no [0.62315, 5.2856] for an interval 4.7 wide, no [0.969, 1.094] for one 0.12 wide)
    nor fewer than 1 (no [0.000, 0.000]); whole numbers (steps) may keep their units digit."""
    if "-" in (lo, hi) or float(hi) <= float(lo):
        return
    width = math.floor(math.log10(float(hi) - float(lo)))
    for end in (lo, hi):
        place = last_place(end)
        if place is not None and not (place == 0 and "." not in end):
            assert width - 1 <= place <= width, f"{where}: [{lo}, {hi}] prints {end} to 1e{place}"


def run(*args) -> str:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.stdout  # progress bars and notes go to stderr


# --------------------------------------------------------------------- the rule itself


@pytest.mark.parametrize("lo, hi, value, shown", [
    (0.6231480095967715, 5.28564780306227, 2.37, ("[0.6, 5.3]", "2.4")),
    (0.2590155, 1.1520025, 0.64, ("[0.26, 1.15]", "0.64")),
    (4.961814889104724, 5.302737363531018, 5.19, ("[4.96, 5.30]", "5.19")),
    (-9.77, 13.80, 2.01, ("[-10, 14]", "2")),  # not '-1e+01'
    (-0.88, 10.74, 4.93, ("[-1, 11]", "5")),  # -0.88 to the units digit is -1, not '-0.9'
    (0.0, 4.0455, 9e-18, ("[0, 4.0]", "0")),  # a floor at its bound, not '9e-18'
    (-4.8e5, 4.9e5, 2060.0, ("[-480000, 490000]", "0")),  # to the ends' place (s45; was '2000')
    (2.4e6, 9.1e7, 5e6, ("[2e+06, 9.1e+07]", "5e+06")),
    (float("nan"), 1.0, 0.5, ("[-, 1]", "0.5")),  # no width: 4 significant digits
    (1.0 - 1e-13, 1.0, 1.0, ("[1, 1]", "1")),  # a bound in every resample, not [1.000000, 1.000000]
])
def test_interval_text_rounds_to_the_width(lo, hi, value, shown):
    from scalefit.scaling.interval_text import interval_text, value_at_interval
    assert (interval_text(lo, hi, value), value_at_interval(value, lo, hi)) == shown


def test_interval_text_keeps_an_estimate_its_interval_holds_inside_the_printed_ends():
    """An estimate at an end stays inside the printed ends: 1.06 in [1.06, 2.3] would read
    [1.1, 2.3] at the width's place, so the ends get the digit it needs."""
    from scalefit.scaling.interval_text import interval_text
    assert interval_text(113.2, 157.04, 157.04) == "[113.20, 157.04]"  # 157 would leave it out
    assert interval_text(1.04, 2.3, 1.04) == "[1.0, 2.3]"
    assert interval_text(1.06, 2.3, 1.06) == "[1.06, 2.30]"
    assert interval_text(1.06, 2.3) == "[1.1, 2.3]"  # no estimate to hold


def three_ways(tmp_path_factory, name: str, args: list) -> tuple[str, dict, object]:
    """A command's (text, --json document, --out folder): the three forms whose numbers agree."""
    out = tmp_path_factory.mktemp(name)
    return run(*args), strict_json(run(*args, "--json", "--out", str(out))), out


# --------------------------------------------------------------------- predict downstream

DOWNSTREAM = ["predict", "downstream", "--holdout", "2", "--bootstrap", "50", "--at-x", "3.9"]


@pytest.fixture(scope="module")
def downstream(tmp_path_factory):
    return three_ways(tmp_path_factory, "downstream", DOWNSTREAM)


def _param_lines(text: str) -> dict:
    lines = {}
    for line in text.splitlines():
        m = re.match(rf"^  (\w+)\s+({NUMBER}|-)\s+(?:bootstrap 95% CI|stderr .*95% CI) "
                     rf"\[({NUMBER}|-), ({NUMBER}|-)\]", line)
        if m:
            lines[m.group(1)] = m.groups()[1:]
    return lines


def test_downstream_parameter_intervals_agree_and_carry_their_precision(downstream):
    text, doc, out = downstream
    assert_no_nan_words(text, "predict downstream")
    assert_no_nan_words((out / "report.md").read_text(), "report.md")
    printed = _param_lines(text)
    assert set(printed) == set(doc["params"]) == {"K", "kappa", "E_x", "E_y"}
    table = pd.read_csv(out / "params.csv").set_index("param")
    md = (out / "report.md").read_text()
    for name, (shown, lo, hi) in printed.items():
        p = doc["params"][name]
        assert rounds_to(p["ci95"][0], lo) and rounds_to(p["ci95"][1], hi), (name, lo, hi, p)
        assert_interval_precision(lo, hi, name)
        assert float(lo) <= float(shown) <= float(hi) or "outside" in text, (name, shown, lo, hi)
        # the report's table: the same ends as the terminal's; the CSV: every digit of the JSON
        assert re.search(rf"\| {name} \| {re.escape(shown)} \| .* \| {re.escape(lo)} \| "
                         rf"{re.escape(hi)} \|", md), (name, lo, hi)
        assert table.loc[name, "value"] == pytest.approx(p["value"], rel=1e-12, abs=1e-300)
        assert table.loc[name, "ci95_lo"] == pytest.approx(p["ci95"][0], rel=1e-12, abs=1e-300)


def test_downstream_prediction_and_held_out_intervals_agree(downstream):
    text, doc, out = downstream
    pr = doc["prediction"]
    line = next(x for x in text.splitlines() if x.startswith(pr["kind"]))
    ci, pi = INTERVAL.findall(line)
    for (lo, hi), key in ((ci, "ci95"), (pi, "pi95")):
        assert rounds_to(pr[key][0], lo) and rounds_to(pr[key][1], hi), (key, lo, hi, pr[key])
        assert_interval_precision(lo, hi, key)
    assert line in (out / "report.md").read_text()
    held = [x for x in text.splitlines() if x.lstrip().startswith("N=")]
    points = doc["holdout"]["points"]
    assert len(held) == len(points) == 2
    frame = pd.read_csv(out / "holdout.csv")
    for line, p, (_, row) in zip(held, points, frame.iterrows()):
        (lo, hi), = INTERVAL.findall(line)
        assert rounds_to(p["pi95_lo"], lo) and rounds_to(p["pi95_hi"], hi), (line, p)
        assert_interval_precision(lo, hi, line)
        rel = re.search(rf"\(({NUMBER})%\)", line).group(1)
        assert rounds_to(p["relative_error"], rel, 100)
        for key in ("predicted", "pi95_lo", "pi95_hi", "relative_error"):
            assert row[key] == pytest.approx(p[key], rel=1e-12)


def test_downstream_units_and_held_out_runs_beyond_the_data_are_labelled(downstream):
    """Both held-out runs lie below every fitted pair's x (a projection, as --at-x 3.9 is): the
    text, the JSON and holdout.csv say so, and each names x's and y's unit."""
    text, doc, out = downstream
    assert doc["units"] == {"x": "nats/token", "y": "nats/token"}
    assert "x and y in nats/token" in text.splitlines()[0]
    lowest = doc["prediction"]["x_range"][0]
    points = doc["holdout"]["points"]
    assert all(p["x"] < lowest for p in points)  # the shipped data: both beyond the fitted pairs
    assert [p["kind"] for p in points] == ["projection"] * 2
    held = [x for x in text.splitlines() if x.lstrip().startswith("N=")]
    assert all(line.endswith("  projection") for line in held), held
    assert "2 of 2 held-out runs lie beyond the fitted pairs' x" in doc["holdout"]["beyond_fitted"]
    assert doc["holdout"]["beyond_fitted"] in text
    assert list(pd.read_csv(out / "holdout.csv")["kind"]) == ["projection"] * 2
    md = (out / "report.md").read_text()
    assert doc["holdout"]["beyond_fitted"] in md and "`x`: the predictor, loss (prose), nats/token" in md
    assert doc["prediction"]["kind"] == "projection" and "projection at x = 3.9" in md


# --------------------------------------------------------------------- transitions

WARMUP_RUNS = "mini-3-W0.0025,mini-3-W0.01,mini-3-W0.04,mini-3-W0.1"
TRANSITIONS = ["transitions", "--stat", "sv_max", "--group", "mlp_in", "--which", "first",
               "--models", WARMUP_RUNS, "--bootstrap", "10"]


@pytest.fixture(scope="module")
def transitions(tmp_path_factory):
    return three_ways(tmp_path_factory, "transitions", TRANSITIONS)


def test_transition_steps_and_intervals_agree(transitions):
    text, doc, out = transitions
    assert_no_nan_words(text, "transitions")
    assert_no_nan_words((out / "report.md").read_text(), "transitions report.md")
    printed = re.findall(rf"^    step ({NUMBER}) \[95% CI ({NUMBER}), ({NUMBER})\](\*?)  .* slope "
                         rf"({NUMBER}) -> ({NUMBER})", text, re.M)
    rows = doc["transitions"]
    assert len(printed) == len(rows) > 4
    table = pd.read_csv(out / "transitions.csv")
    for (step, lo, hi, widened, before, after), row, (_, csv) in zip(printed, rows, table.iterrows()):
        assert rounds_to(row["step"], step) and rounds_to(row["step_ci95_lo"], lo)
        assert rounds_to(row["step_ci95_hi"], hi) and (widened == "*") == row["ci_widened"]
        assert rounds_to(row["slope_before"], before) and rounds_to(row["slope_after"], after)
        assert row["step_ci95_lo"] <= row["step"] <= row["step_ci95_hi"]
        for key in ("step", "step_ci95_lo", "step_ci95_hi", "slope_before", "slope_change_t"):
            assert csv[key] == pytest.approx(row[key], rel=1e-12)


def test_transition_slopes_say_their_axis_and_unit(transitions):
    """'slope +0.0104 -> +0.243' against 'log(step)' in the text, log10(step) in report.md: the
    axis is log10(step) in all three, and the slope's unit is said in each."""
    text, doc, out = transitions
    unit = doc["columns"]["transitions"]["slope_before"]
    assert "per unit log10(step)" in unit
    assert text.splitlines()[0].endswith(f"against log10(step); slopes: {unit.split(': ', 1)[1]}")
    assert "log(step)" not in text.replace("log10(step)", "")
    md = (out / "report.md").read_text()
    assert f"`slope_before`: {unit}" in md and "`tokens_after_warmup`:" in md
    assert f"`error_rho`: {doc['columns']['runs']['error_rho']}" in md  # runs.csv's columns too
    assert "steps of transition step per step of warmup end" in doc["columns"]["warmup_regression"]["slope"]


def test_warmup_regression_slope_to_its_interval_precision(transitions):
    text, doc, out = transitions
    slope = doc["warmup_regression"]["params"]["slope"]
    value, lo, hi = re.search(rf"slope ({NUMBER}) \(95% CI ({NUMBER}) \.\. ({NUMBER});", text).groups()
    assert rounds_to(slope["value"], value)
    assert rounds_to(slope["ci95"][0], lo) and rounds_to(slope["ci95"][1], hi)
    assert_interval_precision(lo, hi, "warmup regression slope")
    assert last_place(value) >= last_place(lo) - 0  # no more digits than the interval's
    assert f"Slope {value} (95% CI {lo} to {hi}, 4 runs" in (out / "report.md").read_text()


# --------------------------------------------------------------------- trajectory

TRAJECTORY = ["trajectory", "--stat", "excess_kurtosis", "--group", "attn_qkv"]


@pytest.fixture(scope="module")
def trajectory(tmp_path_factory):
    return three_ways(tmp_path_factory, "trajectory", TRAJECTORY)


def _ends_place(ci95, value) -> int:
    """The exponent of the last digit ``ci95``'s printed ends keep (interval_text.ends_place)."""
    from scalefit.scaling.interval_text import at_zero, ends_place
    return ends_place(*at_zero(*ci95, value))


def _at_place(value: float, printed: str, place: int) -> bool:
    """Whether ``printed`` has no digit finer than 10**place and reads ``value`` to that place
    (a printed 0: ``value`` rounds to 0 there)."""
    own = last_place(printed)
    return (own is None or own >= place) and \
        abs(value - float(printed)) <= 0.5 * 10.0 ** max(own if own is not None else place, place) * (1 + 1e-9)


def test_trajectory_parameters_to_the_digits_their_intervals_support(trajectory):
    """The per-model table printed c = 2060 and E = 1.508 beside 95% intervals of +-4.8e+05 and
    +-71 (in --json): each value to the place of its interval's printed ends (no digit finer, s45),
    within half that place of the estimate, E at its floor as 0; a value whose interval holds 0 is
    printed with that interval beside it (its sign is not fixed), and only such a value."""
    from scalefit.scaling.interval_text import at_zero, interval_text
    text, doc, out = trajectory
    assert_no_nan_words(text, "trajectory")
    cell = r"(\S+(?: \(bound\)| \[\S+, \S+\])?)"  # '-5 (bound)' at its bound; '0 [-6, 5]' sign not fixed
    rows = re.findall(rf"^\| (mini-\S+) \| (\d+) \| {cell} \| {cell} \| {cell} \| {cell} \| (\S+) \|$", text, re.M)
    assert len(rows) == len(doc["per_model"]) == 12
    for model, n, *shown, r2 in rows:
        fit = doc["per_model"][model]
        assert int(n) == fit["n_points"] and rounds_to(fit["r_squared"], r2)
        for name, printed in zip(("v0", "c", "E", "p"), shown):
            p = fit["params"][name]
            bound = printed.endswith(" (bound)")
            printed = printed.removesuffix(" (bound)")
            assert bound == any(w.startswith(f"parameter {name} is at its") for w in fit["warnings"]), \
                (model, name, printed, fit["warnings"])
            if name == "E" and any("is at its lower bound 0" in w for w in fit["warnings"]):
                assert printed == "0", (model, printed, p)
                continue
            if bound:
                continue
            printed, _, interval = printed.partition(" ")
            lo, hi = at_zero(*p["ci95"])
            assert bool(interval) == (lo < 0 < hi), (model, name, printed, interval, p)
            if interval:
                assert interval == interval_text(lo, hi, p["value"])
                ends = [float(e) for e in interval.strip("[]").split(", ")]
                assert ends[0] <= float(printed) <= ends[1], (model, name, printed, interval)
            assert _at_place(p["value"], printed, _ends_place(p["ci95"], p["value"])), (model, name, printed, p)
    # the pooled formula line: point estimates to 3 significant figures (s47), not the table's rule
    formula = re.findall(r"value = (\S+) ([+-]) (\S+) L\^([^\s,]+)", text)[-1]
    pooled = doc["pooled_fit"]["params"]
    for name, printed, scale in (("v0", formula[0], 1), ("c", formula[2], -1 if formula[1] == "-" else 1),
                                 ("p", formula[3], 1)):
        p = pooled[name]
        assert float(printed) == float(f"{scale * p['value']:.3g}"), (name, printed, p)


def test_trajectory_says_the_loss_unit_and_report_matches_text(trajectory):
    text, doc, out = trajectory
    assert doc["loss_unit"] == "nats/token"
    assert text.startswith("# excess_kurtosis / attn_qkv against loss (prose-val) in nats/token")
    assert "| E (nats/token) |" in text
    md = (out / "report.md").read_text()
    assert [ln for ln in md.splitlines() if not ln.startswith("![")] == text.rstrip("\n").splitlines()


# --------------------------------------------------------------------- warmup-study

WARMUP_STUDY = ["warmup-study", "--panel", "std/mlp_in", "--bootstrap", "10", "--jobs", "1"]


@pytest.fixture(scope="module")
def warmup_study(tmp_path_factory):
    return three_ways(tmp_path_factory, "warmup_study", WARMUP_STUDY)


def test_warmup_study_slopes_agree(warmup_study):
    """Each slope and interval of the table is the JSON's and the CSV's to the printed rounding,
    and holds its estimate. (The table prints 2 decimals whatever the interval's width, '4.12
    [-0.72, 8.96]': README and data/suites/mini/REPORT.md quote it as it is, so its digits are
    left to the lead.)"""
    text, doc, out = warmup_study
    assert_no_nan_words(text, "warmup-study")
    rows = {(r["stat"], r["group"]): r for r in doc["rows"]}
    table = pd.read_csv(out / "warmup_transitions.csv")
    printed = re.findall(rf"^\| (\w+) \| (\w+) \| \**({NUMBER}) \[({NUMBER}), ({NUMBER})\]\**.*? \| [-\d,]+ \| "
                         rf"\**({NUMBER}) \[({NUMBER}), ({NUMBER})\]", text, re.M)
    assert len(printed) == len(rows) == 1
    for stat, group, *slopes in printed:
        row = rows[(stat, group)]
        csv = table[(table["stat"] == stat) & (table["group"] == group)].iloc[0]
        for which, (value, lo, hi) in zip(("first", "largest"), (slopes[:3], slopes[3:])):
            assert rounds_to(row[f"{which}_slope"], value), (stat, which, value, row)
            assert rounds_to(row[f"{which}_lo"], lo) and rounds_to(row[f"{which}_hi"], hi)
            assert float(lo) <= float(value) <= float(hi)
            assert csv[f"{which}_slope"] == pytest.approx(row[f"{which}_slope"], rel=1e-12)
    md = (out / "report.md").read_text()
    assert text.strip().splitlines()[2] in md


# --------------------------------------------------------------------- init-study


@pytest.fixture(scope="module")
def init_study(tmp_path_factory):
    return three_ways(tmp_path_factory, "init_study", ["init-study"])


def test_init_study_sentences_agree_and_say_their_units(init_study):
    """Every sentence is the JSON's and report.md's; each mean and difference with its interval
    is the summary's and contrasts' (and their CSVs') to the printed rounding, holds its
    estimate and is printed to its precision; report.md said 'loss on prose-val' with no unit."""
    text, doc, out = init_study
    assert_no_nan_words(text, "init-study")
    lines = text.rstrip("\n").splitlines()
    assert lines[1:] == doc["sentences"]
    md = (out / "report.md").read_text()
    assert "loss on prose-val in nats/token" in lines[0] and "loss on prose-val in nats/token" in md
    assert "[a, b] = 95% interval" in lines[0] and "[a, b] = 95% interval" in md
    assert doc["units"]["final_loss"] == "nats/token" and "steps" in doc["units"]["steps_to_N"]
    for s in doc["sentences"]:
        assert (f"#{s}" if s.startswith("#") else f"- {s}") in md
    summary = pd.read_csv(out / "summary.csv")
    contrasts = pd.read_csv(out / "contrasts.csv")
    checked = 0
    for s in doc["sentences"]:
        m = re.match(rf"(early|late): (\S+): (?:steps to loss {NUMBER}, \d+% of pythia's drop|final "
                     rf"loss) ({NUMBER})(?: \[({NUMBER}), ({NUMBER})\])? vs pythia ({NUMBER}) "
                     rf"\[({NUMBER}), ({NUMBER})\]: ({NUMBER})(?: steps)? \[({NUMBER}), ({NUMBER})\]", s)
        if not m:
            continue
        phase, init, mean, lo, hi, cmean, clo, chi, diff, dlo, dhi = m.groups()
        size = next(h for h in reversed(doc["sentences"][:doc["sentences"].index(s)])
                    if h.startswith("## "))[3:].split(",")[0]
        warm = "no warmup" if "no warmup" in next(h for h in reversed(
            doc["sentences"][:doc["sentences"].index(s)]) if h.startswith("## ")) else "warmup"
        measure = "steps_to_1" if phase == "early" else "final_loss"
        row = next(r for r in doc["contrasts"] if (r["size"], r["init"], r["warmup"], r["measure"])
                   == (size, init, warm, measure))
        ctrl = next(r for r in doc["summary"] if (r["size"], r["init"], r["warmup"], r["measure"])
                    == (size, "pythia", warm, measure))
        assert rounds_to(row["mean"], mean) and rounds_to(ctrl["mean"], cmean), s
        assert rounds_to(ctrl["ci_lo"], clo) and rounds_to(ctrl["ci_hi"], chi), s
        assert rounds_to(row["diff"], diff) and rounds_to(row["ci_lo"], dlo) and rounds_to(row["ci_hi"], dhi), s
        for a, b, v in ((clo, chi, cmean), (dlo, dhi, diff)) + (((lo, hi, mean),) if lo else ()):
            assert float(a) <= float(v) <= float(b), s
            assert_interval_precision(a, b, s)
        hit = contrasts[(contrasts["size"] == size) & (contrasts["init"] == init)
                        & (contrasts["warmup"] == warm) & (contrasts["measure"] == measure)]
        assert hit["diff"].iloc[0] == pytest.approx(row["diff"], rel=1e-12)
        assert len(summary) == len(doc["summary"])
        checked += 1
    assert checked == 18  # every early and late contrast of the shipped study


def test_held_out_runs_with_no_prediction_print_no_nan(tmp_path):
    """With E_x given above both held-out runs' x, neither has a prediction: the summary read
    'mean |rel err| nan% (plain Kaplan law on y alone: nan%)'; the JSON has null there."""
    args = ["predict", "downstream", "--holdout", "2", "--bootstrap", "20", "--e", "given",
            "--E-x", "4.2", "--E-y", "0"]
    text = run(*args)
    doc = strict_json(run(*args, "--json", "--out", str(tmp_path)))
    assert doc["holdout"]["mean_abs_rel_error"] is None
    assert all(p["predicted"] is None for p in doc["holdout"]["points"])
    for where, said in (("text", text), ("report.md", (tmp_path / "report.md").read_text())):
        assert_no_nan_words(said, where)
        assert "mean |rel err| - (no run to score)" in said, where


def test_notebook_views_print_no_nan_and_the_commands_rounding():
    """Downstream's repr read 'mean |relative error| nan%' where no held-out run had a
    prediction; TransitionStudy's printed the warmup slope to 3 decimals beside the command's
    interval-precision text."""
    from scalefit import run_downstream
    from scalefit.data import data_path
    from scalefit.scaling.relations.downstream import shipped_runs
    from scalefit.scaling.trajectories.transitions_report import slope_text as _slope_text
    from scalefit.scaling.trajectories.table import stat_trajectory
    from scalefit.scaling.trajectories.transitions import transition_study

    runs = shipped_runs(pd.read_csv(data_path("suites", "mini", "runs.csv")))
    d = run_downstream(runs, "loss", "loss_code_test", group="distribution", x_from="prose",
                       holdout=2, e_source="given", E_x=4.2, E_y=0.0, n_bootstrap=20)
    assert_no_nan_words(repr(d), "Downstream repr")
    assert "mean |relative error| - (no run to score)" in repr(d)
    table = pd.read_parquet(data_path("suites", "mini", "checkpoints.parquet"))
    traj = stat_trajectory(table, "sv_max", group="mlp_in", models=WARMUP_RUNS)
    study = transition_study(traj, which="first", n_bootstrap=0)  # OLS interval: no resampling
    value, lo, hi = _slope_text(study.regression)  # as the command prints it
    assert_interval_precision(lo, hi, "warmup regression slope")
    assert f"slope {value} [{lo}, {hi}]:" in repr(study)


def test_trajectory_collapse_p_value_bound_is_said_in_json(trajectory):
    """The text reads 'p <= 0.0033' (no simulated null set reached the observed statistic); the
    JSON gave 0.0033 as if it were the p-value itself."""
    text, doc, out = trajectory
    p = re.search(rf"p (<=|=) ({NUMBER})\)", text)
    assert rounds_to(doc["collapse_p_value"], p.group(2))
    assert doc["collapse_p_value_is_upper_bound"] is (p.group(1) == "<=")
    assert p.group(1) == "<="  # the shipped QKV kurtosis: every null set fell short


def test_trajectory_intervals_stay_inside_the_parameters_bounds(trajectory):
    """The AR(1) Wald intervals of the shipped QKV kurtosis ran past the parameters' bounds: E's
    [-70, 73] gave a loss floor below 0, p's [-111, 101] powers the fit never tried (|p| <= 5).
    Each interval is cut at its bounds, and stderr_from says so."""
    _, doc, _ = trajectory
    fits = [*doc["per_model"].values(), doc["pooled_fit"]]
    for fit in fits:
        E, p = fit["params"]["E"]["ci95"], fit["params"]["p"]["ci95"]
        assert 0 <= E[0] <= fit["params"]["E"]["value"] <= E[1]
        assert -5 <= p[0] <= p[1] <= 5
        assert "cut at the parameters' bounds" in fit["stderr_from"]
    assert any(fit["params"]["E"]["ci95"][0] == 0 for fit in fits)  # the case that was below 0

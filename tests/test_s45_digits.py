"""Every printed estimate to the place of its printed interval's ends, whatever its identifiability
status (s45 audit): `fit chinchilla` printed beta 0.4175 beside [0.38, 0.53] and a (allocation)
0.5161 beside [0.41, 0.80], `fit kaplan-d` alpha_D 0.1514 beside [0.102, 0.168], `predict curve`
4.6072 beside [4.5923, 4.6277], warmup-study 0.6 beside [-28, 29]; trajectory said 'each parameter
here to the digits its 95% interval supports' beside v0, c and p whose intervals hold 0; suite
report gave the final losses 4 decimals beside standard errors of 0.064-0.081. Checked here: no
printed digit finer than the printed ends, the value inside them (and within half their place of
the estimate), and the trajectory sentence names each parameter whose interval holds 0."""
from __future__ import annotations

import json
import math
import re
from decimal import Decimal

import numpy as np
import pandas as pd
from click.testing import CliRunner

from scalefit.cli import main
from scalefit.scaling.interval_text import at_zero, ends_place, interval_ends
from scalefit.scaling.laws.identifiability import IDENTIFIED, judged, significant, status_of


def last_place(text: str) -> int | None:
    """The exponent of a printed number's last digit ('0.42': -2, '2e+02': 2, '2600': 0); None for 0."""
    d = Decimal(text)
    return None if d == 0 else d.as_tuple().exponent


def assert_at_its_ends(value: str, lo: str, hi: str, where) -> None:
    """``value`` has no digit finer than its printed ends (than the finer of the two, where an end of
    an interval that excludes 0 keeps digits of its own) and lies within [lo, hi] as printed."""
    own = last_place(value)
    ends = [p for p in (last_place(lo), last_place(hi)) if p is not None]
    if own is not None and ends:
        assert own >= min(ends), (where, value, lo, hi)
    assert float(lo) <= float(value) <= float(hi), (where, value, lo, hi)


def test_a_value_is_printed_to_its_interval_ends_place_whatever_its_status():
    """Simulated values and intervals: the place is the ends' (ends_place), neither finer (the old
    4 digits of an 'identified' value) nor coarser, and the printed value inside its printed ends."""
    rng = np.random.default_rng(45)
    finer = 0
    for _ in range(4000):
        value = float(rng.choice([-1, 1]) * 10 ** rng.uniform(-4, 6))
        lo, hi = sorted(value + abs(value) * rng.uniform(-2, 2, 2) * 10 ** rng.uniform(-3, 0.5))
        if not hi > lo:
            continue
        status = status_of((hi - lo) / abs(value))
        text = significant(value, status, (lo, hi))
        place = ends_place(*at_zero(lo, hi, value))
        shown = [float(e) for e in interval_ends(lo, hi, value)]
        held = lo <= value <= hi
        coarse = round(value, -place)  # the value at the ends' place: on its side of the printed ends?
        if (shown[0] <= coarse <= shown[1]) == held and last_place(text) is not None \
                and last_place(text) < place:
            finer += 1  # a digit finer than the ends where no end needed it
        own = place if last_place(text) is None else last_place(text)  # a last place of 0 ('4895') is one
        assert abs(float(text) - value) <= 0.5 * 10.0 ** max(place, own) * (1 + 1e-9)
        if held:
            assert shown[0] <= float(text) <= shown[1], (value, lo, hi, text, shown)
    assert finer == 0
    # the audit's examples
    assert judged(0.41746, (0.3828, 0.5251))[0] == "0.42"
    assert significant(0.5161, None, (0.4093, 0.7981)) == "0.52"
    assert judged(-0.4484, (-0.5003, -0.4061))[0] == "-0.448"
    assert judged(0.1514, (0.1021, 0.1684))[0] == "0.151"
    assert significant(0.41746, IDENTIFIED) == "0.4175"  # no interval: the status's digits, as before


def _rows(text: str, names) -> dict:
    """{param: (value, lo, hi)} from a laws table (value, bootstrap se, lo, hi columns)."""
    out = {}
    for line in text.splitlines():
        m = re.match(r"^\s*(.+?)\s{2,}(\S+)\s+\S+\s+(\S+)\s+(\S+)\s+\S.*$", line)
        if m and m.group(1).strip() in names:
            out[m.group(1).strip()] = m.groups()[1:]
    return out


def test_chinchilla_table_and_allocation_rows_to_their_ends(tmp_path):
    """Simulated Chinchilla runs (truth E 1.8, A 480, B 2000, alpha 0.35, beta 0.37): every row of
    `fit chinchilla`'s table, the allocation's a and b too, to its interval's place."""
    from test_scaling_cli import make_runs
    data = tmp_path / "runs.csv"
    make_runs(data)
    text = CliRunner().invoke(main, ["fit", "chinchilla", "--data", str(data), "--bootstrap", "40"]).stdout
    names = ["E", "A", "B", "alpha", "beta", "a (allocation)", "b (allocation)"]
    rows = _rows(text, names)
    assert set(rows) == set(names), text
    for name, (value, lo, hi) in rows.items():
        assert_at_its_ends(value, lo, hi, name)


def test_kaplan_d_exponent_to_its_ends():
    """`fit kaplan-d` on the shipped runs printed alpha_D 0.1514 beside [0.102, 0.168]."""
    text = CliRunner().invoke(main, ["fit", "kaplan-d", "--bootstrap", "40"]).stdout
    rows = _rows(text, ["alpha_D", "D_c"])
    assert set(rows) == {"alpha_D", "D_c"}, text
    for name, (value, lo, hi) in rows.items():
        assert_at_its_ends(value, lo, hi, name)


def test_predict_curve_rows_and_final_loss_to_their_ends():
    """`predict curve` printed 4.6072 beside [4.5923, 4.6277]: each row's interval on the interval
    rule (its --json ends) and its prediction, and the final loss line, to the place of those ends."""
    args = ["predict", "curve", "--model", "mini-3", "--schedule", "wsd:1120:0.2", "--bootstrap", "40"]
    text = CliRunner().invoke(main, args).stdout
    points = {int(p["step"]): p for p in json.loads(CliRunner().invoke(main, [*args, "--json"]).stdout)["points"]}
    lines = text.splitlines()
    header = next(i for i, ln in enumerate(lines) if ln.split()[:5] == ["step", "lr", "predicted", "ci95_lo", "ci95_hi"])
    rows = [ln.split() for ln in lines[header + 1:] if re.match(r"^\s*\d+\s", ln)]
    assert len(rows) > 10
    for step, _, value, lo, hi, *_ in rows:
        p = points[int(step)]
        assert (lo, hi) == interval_ends(p["ci95_lo"], p["ci95_hi"], p["predicted"]), (step, lo, hi, p)
        assert_at_its_ends(value, lo, hi, step)
        assert abs(float(value) - p["predicted"]) <= 0.5 * 10.0 ** last_place(value) * (1 + 1e-9)
    final = re.search(r"final loss at step 1120: (\S+) \[(\S+), (\S+)\]", text)
    assert final, text
    assert final.groups()[1:] == interval_ends(points[1120]["ci95_lo"], points[1120]["ci95_hi"],
                                               points[1120]["predicted"])
    assert_at_its_ends(*final.groups(), "final")


def test_warmup_study_slopes_to_their_ends():
    """The shipped warmup table printed 0.6 beside [-28, 29] and 0.07 beside [-21, 21]."""
    from scalefit.data import data_path
    from scalefit.scaling.trajectories.warmup_study import markdown
    table = markdown(pd.read_csv(data_path("suites", "mini", "warmup_transitions.csv")))
    cells = re.findall(r"(?<![\w.])(-?[\d.e+]+) \[(-?[\d.e+]+), (-?[\d.e+]+)\]", table)
    assert len(cells) >= 10
    for value, lo, hi in cells:
        assert_at_its_ends(value, lo, hi, table)


def test_trajectory_sentence_names_every_parameter_whose_interval_holds_zero():
    """trajectory said 'each parameter here to the digits its 95% interval (--json) supports'
    beside v0 -3, c 2e+01, p -0.8 with intervals [-386, 379], [-2801, 2832], [-5, 5]: each
    printed value is now to its interval's place, and the sentence names exactly the parameters
    whose interval holds 0 (their sign is not fixed), with that interval."""
    from scalefit.scaling.interval_text import interval_text
    args = ["trajectory", "--stat", "excess_kurtosis", "--group", "attn_qkv",
            "--models", "mini-1,mini-2,mini-3,mini-4,mini-5"]
    runner = CliRunner()
    text = runner.invoke(main, args).stdout
    doc = json.loads(runner.invoke(main, [*args, "--json"]).stdout)
    pooled = doc["pooled_fit"]["params"]
    line = next(ln for ln in text.splitlines() if ln.startswith("Pooled fit"))
    # the formula's numbers: point estimates to 3 significant figures (s47, tests/test_s47_trajectory_formula.py)
    v0, sign, c, p = re.findall(r"value = (\S+) ([+-]) (\S+) L\^([^\s,]+)", line)[-1]
    for name, printed, scale in (("v0", v0, 1), ("c", c, -1 if sign == "-" else 1), ("p", p, 1)):
        est = pooled[name]
        assert float(printed) == float(f"{scale * est['value']:.3g}"), (name, printed, est)
        lo, hi = at_zero(*est["ci95"])
        named = f"{name} {interval_text(lo, hi, est['value'])}" in line
        assert named == (lo < 0 < hi), (name, line)
    assert "hold 0 in their 95% intervals" in line
    assert "to the digits its 95% interval (--json) supports" not in text
    # the per-model table: a cell whose interval holds 0 shows it (mini-2's p -3.4 beside [-5, 0.86])
    row = next(ln for ln in text.splitlines() if ln.startswith("| mini-2 |"))
    est = doc["per_model"]["mini-2"]["params"]["p"]
    assert f"{judged(est['value'], est['ci95'])[0]} {interval_text(*est['ci95'], est['value'])}" in row


def test_suite_report_final_losses_to_their_standard_errors():
    """suite report printed final_long_losses to 4 decimals beside SEs of 0.064-0.081: each SE now to
    2 significant digits and each loss to that SE's last place."""
    from scalefit.data import data_path
    from scalefit.tables import read_table
    from scalefit.trainer.report import suite_checks
    folder = data_path("suites", "mini")
    runs, table = read_table(folder / "runs.csv"), read_table(folder / "checkpoints.parquet")
    checks = suite_checks(runs, table)
    losses, ses = checks["final_long_losses"], checks["final_long_losses_se"]
    assert set(ses) == set(losses) and len(ses) == 5
    for model, se in ses.items():
        place = math.floor(math.log10(se)) - 1
        assert round(se, -place) == se and len(repr(se).rstrip("0").split(".")[1]) <= -place, (model, se)
        assert len(repr(losses[model]).split(".")[1]) <= -place, (model, losses[model], se)
    bare = suite_checks(runs, table.drop(columns=["se"]))  # no SE: 4 decimals as before
    assert all(round(v, 4) == v for v in bare["final_long_losses"].values())
    assert any(len(repr(v).split(".")[1]) == 4 for v in bare["final_long_losses"].values())


def test_compare_metrics_a_b_as_the_allocation_rows_print_them(tmp_path):
    """compare's metrics table printed a 0.5161 above the allocation row's 0.52 [0.41, 0.80]: the
    same estimate now prints the same, to its interval's place, in both tables."""
    from test_scaling_cli import make_runs
    data = tmp_path / "runs.csv"
    make_runs(data)
    text = CliRunner().invoke(main, ["compare", "kaplan", "chinchilla", "--data", str(data),
                                     "--bootstrap", "40"]).stdout
    lines = text.splitlines()
    header = next(ln.split() for ln in lines if ln.split()[:2] == ["law", "n_points"])
    metrics = {ln.split()[0]: dict(zip(header, ln.split())) for ln in lines
               if ln.split()[:1] in (["kaplan"], ["chinchilla"]) and len(ln.split()) == len(header)}
    assert set(metrics) == {"kaplan", "chinchilla"}, text
    for law in metrics:
        for key in ("a", "b"):
            row = re.search(rf"^\s*{law}\s+{key} \(allocation\)\s+(\S+)\s+\S+\s+(\S+)\s+(\S+)", text, re.M)
            assert row, (law, key, text)
            assert metrics[law][key] == row.group(1), (law, key, metrics[law][key], row.groups())
            assert_at_its_ends(*row.groups(), (law, key))


def test_a_floor_at_its_bound_prints_0_through_the_one_rule_itself():
    """significant printed E = 9e-18 beside [0, 3.1] as '9e-18' (value_at_interval and judged each
    caught it in front of it; its direct callers, the laws' params table among them, did not)."""
    from scalefit.scaling.interval_text import value_at_interval
    from scalefit.scaling.laws.identifiability import IDENTIFIED, judged, significant

    for status in (None, IDENTIFIED):
        assert significant(9e-18, status, (0.0, 3.1)) == "0"
        assert significant(-2e-16, status, (None, None)) == "0"
    assert value_at_interval(9e-18, 0.0, 3.1) == "0" and judged(9e-18, (0.0, 3.1))[0] == "0"
    assert significant(2e-12, None, (0.0, 3.1e-11)) != "0"  # above ZERO: a value, not a floor

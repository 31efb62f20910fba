"""The README's numbers are what its commands print on the shipped data.

Each passage below is found by a stable anchor (its bold heading or a phrase), not by line
numbers; its command runs once per session (tests/pinned_runs.py: in a fresh Python with the BLAS
and SIMD kernels pinned as for the golden JSON, since the last digits of a bootstrap interval
depend on them; the other tests that read the same command's output share the run), and every
number of the passage must appear in the command's output at the README's printed precision
(tests/readme_numbers.py says how numbers are read and matched). Numbers that are no output of
the command (a year in a citation, a benchmark's figure) are listed per passage, each with why.

Passages whose command takes more than ~20 s here are not run: `compare --schedules --lambda
profile` (~45 s; the --schedules passage ends before its sentence), `warmup-study` (~100 s; test_suite_shipped checks its table in the README
against the shipped warmup_transitions.csv), `reconcile` on Porian's points (~105 s), the
`calibrate` table (bench/calibration_table.py), `predict curve --schedule wsd:1120:0.2` (~20 s;
test_schedule_laws checks its one number) and `transitions --stat t_nu --group attn_out` (~20 s).
"""
from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from pinned_runs import SHIPPED_GRID_TEST, SHIPPED_SCHEDULES, pinned_outputs
from readme_numbers import disagreements, matches, numbers, passage
from test_golden_json import cpu_runs_pinned

README = Path(__file__).resolve().parents[1] / "README.md"

COMMANDS = {
    "compare": ["compare", "kaplan", "chinchilla"],
    "schedules": SHIPPED_SCHEDULES,  # with --out: other tests read its JSON; stdout is the same
    "downstream": ["predict", "downstream", "--holdout", "2"],
    "grid-test": SHIPPED_GRID_TEST,
    "init-study": ["init-study"],
    "predict-run": ["predict", "run", "kaplan", "--N", "1643648", "--D", "9830400", "--n-counts", "total"],
    "trajectory": ["trajectory", "--stat", "excess_kurtosis", "--group", "attn_qkv", "--models",
                   "mini-1,mini-2,mini-3,mini-4,mini-5", "--json"],
}


@dataclass(frozen=True)
class Passage:
    name: str
    start: str  # the passage runs from this anchor ...
    end: str  # ... to the end of the first occurrence of this after it
    source: str  # a key of COMMANDS, or "grid" for the shipped run table itself
    allowed: dict = field(default_factory=dict)  # phrase holding numbers that are no output -> why


PASSAGES = [
    Passage("grid losses", "**Loss falls with N and D.**", "from step 240 on.", "grid"),
    Passage("predict run", "**What will a bigger run reach?**", "N 1x, D 4x, C 4x", "predict-run", {
        "mini-5 (1,643,648 parameters in all) at 4x": "the run asked for: mini-5's size, 4x the grid's longest",
        "--N 1643648 --D 9830400": "the command's inputs"}),
    Passage("Kaplan vs Chinchilla", "**Kaplan vs Chinchilla**", "with `--budget`.", "compare", {
        "Pearce & Song 2024": "a citation's year",
        "1000 bootstrap resamples": "the command's default, not printed by its text",
        "same 1000 resamples": "the command's default, not printed by its text",
        "Table 2 L(N, D) constants\ngive a = 0.575": "`compare --published`'s Kaplan 2020 Table 2 row "
                                                      "(alpha_D / (alpha_N + alpha_D) of its constants)",
        "published 0.73, eq. 6.1,": "`compare --published`'s Kaplan 2020 eq. 6.1 row (a citation)"}),
    Passage("--schedules", "**Why Kaplan and Chinchilla disagree, on our own suite**",
            "The corrected set (iv) above uses 0.999.", "schedules", {
                "at 240, 520, 1120, 2400 steps": "the long runs' checkpoints that the set takes (the design)",
                "0.29 between": "the plain compare's allocation difference (the Kaplan vs Chinchilla passage)",
                "by 0.06-0.37 nats": "read off the shipped finals, not printed by --schedules",
                "0.1-0.2% Luo et al.": "the paper's figure",
                "10^4-10^5 steps": "the paper's run lengths"}),
    Passage("loss to loss", "**Loss to loss**", "7B/13B predictions.", "downstream", {
        "covered kappa 25% of the time on synthetic runs like these with known truth, 9% with the "
        "code floor at 0; the refit covers 99-100%":
            "bench/bench_loss2loss.py --kappa-coverage, on synthetic runs",
        "within 2.5%": "the anchors tests' bound on the published sweeps",
        "(the 18 grid\nruns not held out and the 3 constant-LR WSD runs": "shipped_runs of the shipped "
            "runs.csv: 20 grid + 3 WSD constant-LR prose runs, 2 held out (test_s44_parametric_labels)"}),
    Passage("schedule-law prediction test", "**Loss curves from the LR schedule**",
            "(0.5-1.8% mean), so quote both.", "grid-test", {
                "within 0.1% (mean)": "on synthetic curves (tests), not the shipped suite",
                "(`compare --schedules`), 1.33% (2.83%)": "--schedules' figure (its own passage)",
                "the 15 grid runs and the 12 WSD cooldowns": "--schedules' sets (its own passage)",
                "0.1-0.2% Luo et al.": "the paper's figure",
                "the 95% interval of the fitted law over 200 bootstrap refits (e.g. mini-3 on "
                "`wsd:1120:0.2`: 4.606 [4.591, 4.627])": "predict curve --schedule (~20 s); test_schedule_laws "
                                                         "checks its final loss"}),
    Passage("init study", "**What happens when a model starts from the learned weight distribution**",
            "tiny models, one source each.", "init-study", {
                "issue 16's": "an issue number",
                "for 1120 steps, 3 seeds each": "the design of the study",
                "seed 1234": "the data order's seed, from runs.csv",
                "34 runs: the 2 code models": "the design of the study",
                "77 min of wall clock": "the training time",
                "after 1120 steps": "the design of the study",
                "p < 0.01 for each": "a bound on the printed p-values (3.8e-05 to 0.0072)",
                "p < 0.002": "a bound on the printed p-values (9.6e-05 to 0.00072)",
                "a step-0 prose-val loss of 12.6-14.6 nats, the fitted family's 20.4-31.8 aside, against 8.5":
                    "read off the init table's step 0 (prose-val, min-max over seeds and sizes), not printed",
                "p > 0.2": "a bound on the printed p-values (0.29 to 0.77)",
                "within [-8, +9] steps early": "the envelope of the two printed intervals, [-8, +6] and [-7, +9]",
                "~0.3 nats higher": "the losses the rescoring replaced",
                "78% of mini-3's parameters": "the model's shape, not printed"}),
    Passage("trajectory p-values", "Counted as independent, the 240 checkpoints",
            "worth about 40 independent points)", "trajectory", {
                "F-test p = 6e-115 and the partial correlation p = 1e-13":
                    "with the checkpoints counted as independent, which the command no longer does"}),
    Passage("trajectory collapse p", "for the shipped QKV kurtosis they are",
            "0.013 and 0.003.", "trajectory"),
]


def readme_passage(p: Passage) -> str:
    return passage(README.read_text(), p.start, p.end)


def grid_text() -> str:
    """The shipped grid runs' prose-val losses and the suite's checks (`scalefit suite report`
    prints these checks; the grid table is the run table's)."""
    from scalefit import read_table
    from scalefit.data import data_path
    from scalefit.trainer.report import suite_checks

    runs = read_table(data_path("suites", "mini", "runs.csv"))
    table = read_table(data_path("suites", "mini", "checkpoints.parquet"))
    grid = runs[runs["part"] == "grid"].pivot(index="tokens", columns="model", values="loss")
    return grid.to_string() + "\n" + json.dumps(suite_checks(runs, table))


@pytest.fixture(scope="module")
def outputs(tmp_path_factory):
    """Every command's stdout, each run once in this session in a fresh Python with the kernels
    pinned (pinned_runs: the report, golden and audit tests read the same runs)."""
    if not cpu_runs_pinned():
        pytest.skip("the README's digits were printed with AVX2 kernels: needs an x86-64 CPU with AVX2 and FMA")
    results = pinned_outputs(tmp_path_factory, COMMANDS)
    for name, result in results.items():
        assert result["exit_code"] == 0, f"{COMMANDS[name]}: {result['error']}"
    return {name: result["stdout"] for name, result in results.items()} | {"grid": grid_text()}


@pytest.mark.slow
@pytest.mark.parametrize("p", PASSAGES, ids=[p.name for p in PASSAGES])
def test_readme_passage_numbers_are_printed(p, outputs):
    problems = disagreements(readme_passage(p), outputs[p.source], p.allowed)
    assert not problems, f"README passage {p.start!r} ({p.source}):\n" + "\n".join(problems)


@pytest.mark.slow
def test_a_changed_readme_digit_fails(outputs, tmp_path, monkeypatch):
    """The check itself: one digit changed in a copy of the README is named, with its context
    and the output's nearest numbers."""
    kaplan = next(p for p in PASSAGES if p.name == "Kaplan vs Chinchilla")
    text = README.read_text()
    quoted = "RMSE(log L) 0.0044 and AIC"
    assert text.count(quoted) == 1
    changed = tmp_path / "README.md"
    changed.write_text(text.replace(quoted, quoted.replace("0.0044", "0.0045")))
    monkeypatch.setattr(sys.modules[__name__], "README", changed)
    problems = disagreements(readme_passage(kaplan), outputs["compare"], kaplan.allowed)
    assert len(problems) == 1 and problems[0].startswith("README 0.0045 in '...")
    assert "RMSE(log L) 0.0045" in problems[0] and "0.004376" in problems[0]


@pytest.mark.parametrize("readme, output, found", [
    ("0.0044", "0.004376", True), ("0.0044", "0.0044", True), ("0.0044", "0.00435", True),
    ("0.0044", "0.004", False), ("0.0044", "0.0046", False),
    ("2.42e15", "2.42e+15", True), ("2.42e15", "2.43e+15", False),
    ("4e7x", "4.1e+07x", True), ("4e7x", "4.6e+07x", False),
    ("1.36%", "0.0136", True), ("1.36%", "1.36%", True), ("1.36", "0.0136", False),
    ("0.23 lower", "-0.228", True), ("-0.08", "0.08", False), ("+0.37", "+0.37", True),
    ("1,146,880", "1146880", True), ("1,146,880", "1,146,880", True),
    ("426", "263,426,261,263", True),  # warmup-study prints a run's steps so
])
def test_a_readme_number_matches_at_its_printed_precision(readme, output, found):
    r, = numbers(readme)
    assert any(matches(r, o) for o in numbers(output, code=True)) == found


@pytest.mark.parametrize("text, read", [
    ("by 0.06-0.37 nats", ["0.06", "0.37"]),  # a range's hyphen is no minus sign
    ("[-0.01, 0.43] and AIC -207.3", ["-0.01", "0.43", "-207.3"]),
    ("mini-3 at W0.01, D1146880 and t_nu", []),  # identifiers
    ("`--holdout 2` and `wsd:1120:0.2`: 4.607", ["4.607"]),  # code spans are inputs
    ("3,118-13,690 documents; 94-98% cover", ["3118", "13690", "94", "98"]),
])
def test_readme_numbers_are_read_as_written(text, read):
    assert [n.printed for n in numbers(text)] == read
    assert [n.percent for n in numbers(text)][-2:] == ([True, True] if "%" in text else [False] * len(read[-2:]))

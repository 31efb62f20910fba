"""The shipped reports' numbers are what their commands print, or what the shipped tables hold.

data/suites/mini/REPORT.md and data/suites/mini/init/REPORT.md quote the mini suite's results. As in
tests/test_readme_numbers.py (whose matcher, tests/readme_numbers.py, this file reuses), each
passage is found by a stable anchor, its source is a command's output on the shipped data or a
text printed here from a shipped table, and every number of the passage must appear in the source
at the report's printed precision; numbers that are no output (a citation's year, a timing taken
once, a benchmark's figure) are listed per passage with why.

Commands: `compare kaplan chinchilla` and `compare ... --schedules` are the README test's; each
command runs once per pytest session (tests/pinned_runs.py), whichever test (on whichever xdist
worker) asks first, and the others read its output.
`init-study --out DIR` prints init-study's stdout and writes the tables of the init report.
Not run (too slow here; 2-core VM at load ~7): `compare --schedules --lambda profile` (44 s wall,
24 s CPU; its one sentence is allow-listed, and agreed when checked by hand), `warmup-study`
(~100 s; test_suite_shipped checks the warmup table against the shipped warmup_transitions.csv,
whose rows the paragraphs around the table are checked against here), `suite precision` (needs
the trained run folders: precision.csv is its shipped output). Outside every passage: the
report's headings, the warmup table (test_suite_shipped) and the `Commands:` line.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pytest

from pinned_runs import OUT, pinned_outputs
from readme_numbers import disagreements, passage
from test_golden_json import cpu_runs_pinned
from test_readme_numbers import COMMANDS as README_COMMANDS

ROOT = Path(__file__).resolve().parents[1]
MINI = ROOT / "data" / "suites" / "mini"
REPORTS = {"mini": MINI / "REPORT.md", "init": MINI / "init" / "REPORT.md"}

COMMANDS = {  # compare and --schedules: the README test's (the same run, see pinned_runs)
    "compare": README_COMMANDS["compare"],
    "schedules": README_COMMANDS["schedules"],
    "init-study": ["init-study", "--out", OUT],
}


@dataclass(frozen=True)
class Passage:
    report: str  # a key of REPORTS
    name: str
    start: str  # the passage runs from this anchor ...
    end: str | None  # ... to the end of the first occurrence of this after it (None: of the file)
    source: str  # a key of COMMANDS or of TABLES
    allowed: dict = field(default_factory=dict)  # phrase holding numbers that are no output -> why
    xfail: str = ""  # why the report disagrees with its source (reported to the lead)


def table_text(frame: pd.DataFrame) -> str:
    """A table printed in full precision, one row a line (no thousands commas to misread)."""
    return frame.to_string(float_format=lambda v: repr(float(v)))


def recipe_text() -> str:
    """The training recipe and hardware recorded in provenance.json."""
    prov = json.loads((MINI / "provenance.json").read_text())
    return json.dumps(prov["recipe"]) + f"\ncpu_count {prov['hardware']['cpu_count']}"


def contents_text() -> str:
    """What the tables hold: runs.csv's runs per part (steps, warmup, checkpoints; the long runs
    are the grid runs with checkpoints, the WSD cooldowns those with a cooldown) and the weight
    statistics of checkpoints.parquet."""
    runs = pd.read_csv(MINI / "runs.csv")
    stats = pd.read_parquet(MINI / "checkpoints.parquet", columns=["stat"])["stat"].dropna().nunique()
    lines = [f"{len(runs)} runs; weight statistics {stats}"]
    for part, rows in runs.groupby("part"):
        lines.append(f"{part}: {len(rows)} runs; steps {sorted(set(rows['steps']))}; warmup_steps "
                     f"{sorted(set(rows['warmup_steps']))}; warmup % {sorted(set(100 * rows['warmup_frac']))}; "
                     f"checkpoints {sorted(set(rows['checkpoints']))}")
    long = runs[(runs["part"] == "grid") & (runs["checkpoints"] > 1)]
    cooldown = runs["cooldown_fraction"].notna()
    wsd = runs["part"] == "wsd"
    lines.append(f"long runs {len(long)}; WSD constant-LR runs {(wsd & ~cooldown).sum()}, cooldowns {(wsd & cooldown).sum()}")
    return "\n".join(lines)


def evalset_text() -> str:
    """runs.csv's eval-set columns, the documents of each split (finals.parquet's n_docs and the
    corpus in provenance.json), and how far runs.csv is from finals.parquet."""
    runs = pd.read_csv(MINI / "runs.csv")
    finals = pd.read_parquet(MINI / "finals.parquet")
    prov = json.loads((MINI / "provenance.json").read_text())
    lines = [f"runs {len(runs)}; eval_tokens {sorted(set(runs['eval_tokens']))}; windows "
             f"{sorted(set(runs['eval_tokens'] // runs['seq_len']))} of {sorted(set(runs['seq_len'] + 1))} tokens"]
    for dataset, rows in finals[finals["metric"] == "loss"].groupby("dataset"):
        dist, split = dataset.split("-")
        lines.append(f"{dataset}: n_docs {sorted(set(rows['n_docs']))} of "
                     f"{prov['corpus']['distributions'][dist][split]['n_docs']} documents in the split")
    long_final = finals[(finals["part"] == "long") & (finals["metric"] == "loss")]
    lines.append(f"long runs' last step {sorted(set(long_final['step']))}; grid steps "
                 f"{sorted(set(runs.loc[runs['part'] == 'grid', 'steps']))}")
    return "\n".join(lines)


def precision_text() -> str:
    """precision.csv (the paired SEs, `suite precision --target-se 0.005`), each final's SE in
    runs.csv per distribution, the documents an SE of 0.005 needs on prose-test and code-test
    (the command's rule, docs_needed = ceil(n_docs (max SE of the pair / 0.005)^2), on the
    finals' SEs), and the corpus sizes of provenance.json."""
    import math

    precision = pd.read_csv(MINI / "precision.csv")
    runs = pd.read_csv(MINI / "runs.csv")
    finals = pd.read_parquet(MINI / "finals.parquet")
    prov = json.loads((MINI / "provenance.json").read_text())
    lines = [table_text(precision)]
    for dist, rows in runs.groupby("distribution"):
        lines.append(f"{dist} runs: loss_se {rows['loss_se'].min()} to {rows['loss_se'].max()}; "
                     f"val documents {prov['corpus']['distributions'][dist]['val']['n_docs']}")
    target = precision["target_se"].iloc[0]
    ratios = [precision["docs_needed"].max() / precision["n_docs"].iloc[0]]
    lines.append(f"prose-val: docs_needed {precision['docs_needed'].min()} to {precision['docs_needed'].max()}"
                 f" of {precision['n_docs'].iloc[0]}")
    for dataset in ("prose-test", "code-test"):
        loss = finals[(finals["dataset"] == dataset) & (finals["metric"] == "loss")]
        se = loss.set_index("model")["se"]
        docs = int(loss["n_docs"].iloc[0])
        need = [math.ceil(docs * (max(se[a], se[b]) / target) ** 2) for a, b in zip(precision["a"], precision["b"])]
        ratios.append(max(need) / docs)
        lines.append(f"{dataset}: docs_needed {min(need)} to {max(need)} of {docs}")
    lines.append(f"largest docs_needed / n_docs {max(ratios)}")
    for dist in ("prose", "code"):  # documents: files less duplicates, as suite precision counts them
        files, copies = (prov["corpus"]["distributions"][dist].get(k, 0) for k in ("n_files", "n_duplicates"))
        lines.append(f"{dist} corpus files {files}, duplicates {copies}, documents {files - copies}")
    kinds = {"warmup variants": precision["a"].str.contains("-W"), "WSD cooldowns": precision["a"].str.contains("wsd")}
    kinds["sizes"] = ~(kinds["warmup variants"] | kinds["WSD cooldowns"])
    for kind, rows in kinds.items():
        rows = precision[rows]
        lines.append(f"{kind}: paired_se {rows['paired_se'].min()} to {rows['paired_se'].max()}; "
                     f"|difference| {rows['difference'].abs().min()} to {rows['difference'].abs().max()}")
    warm = precision[kinds["warmup variants"]]
    lines.append(f"warmup finals {min(warm['loss_a'].min(), warm['loss_b'].min())} to "
                 f"{max(warm['loss_a'].max(), warm['loss_b'].max())}")
    return "\n".join(lines)


def wall_time_text() -> str:
    """provenance.json's wall times in minutes, and the checkpoints the sweep measured: those of
    checkpoints.parquet and the finals of the runs that have no other (finals.parquet)."""
    prov = json.loads((MINI / "provenance.json").read_text())
    lines = [f"{part}: {t['runs']} runs, busy {t['busy_wall_s'] / 60} min, one after another "
             f"{t['sum_of_run_wall_s'] / 60} min" for part, t in prov["wall_time"].items()]
    swept = pd.concat([pd.read_parquet(MINI / name, columns=["run", "step"])
                       for name in ("checkpoints.parquet", "finals.parquet")])
    lines.append(f"checkpoints {len(swept.drop_duplicates())}; cpu_count {prov['hardware']['cpu_count']}")
    return "\n".join(lines)


def runs_text() -> str:
    """The grid and WSD runs' final prose-val losses (runs.csv), the suite's checks (`scalefit
    suite report` prints them) and each WSD cooldown against its cosine run (precision.csv)."""
    from scalefit import read_table
    from scalefit.trainer.report import suite_checks

    runs = read_table(MINI / "runs.csv")
    table = read_table(MINI / "checkpoints.parquet")
    grid = runs[runs["part"] == "grid"].pivot(index="tokens", columns="model", values="loss")
    cooldowns = runs[(runs["part"] == "wsd") & runs["cooldown_fraction"].notna()]
    wsd = cooldowns.pivot(index="tokens", columns="model", values="loss")
    precision = pd.read_csv(MINI / "precision.csv")
    against = precision[precision["a"].str.contains("wsd")]
    return "\n".join([grid.to_string(), wsd.to_string(), json.dumps(suite_checks(runs, table)),
                      f"cooldown - cosine: {against['difference'].min()} to {against['difference'].max()}, "
                      f"paired_se {against['paired_se'].min()} to {against['paired_se'].max()}"])


def trajectories_text() -> str:
    """The long runs' group rows (statistic of a group's pooled weights, tensor '*'):
    MLP-in stable rank and QKV excess kurtosis at a few steps, MLP-in's largest |excess kurtosis|
    and smallest Student-t nu, and the runs' warmup."""
    table = pd.read_parquet(MINI / "checkpoints.parquet",
                            columns=["model", "step", "part", "tensor", "group", "stat", "value", "warmup_steps"])
    long = table[table["part"] == "long"]
    rows = long[long["tensor"] == "*"]

    def at(stat, group, steps):
        one = rows[(rows["stat"] == stat) & (rows["group"] == group)]
        return one.pivot_table(index="step", columns="model", values="value").loc[steps].to_string()
    mlp_in = rows[rows["group"] == "mlp_in"]
    return "\n".join([
        f"warmup_steps {sorted(set(long['warmup_steps']))}",
        "stable_rank mlp_in\n" + at("stable_rank", "mlp_in", [0, 240, 2400]),
        "excess_kurtosis attn_qkv\n" + at("excess_kurtosis", "attn_qkv", [0, 240, 520, 1120, 2400]),
        f"mlp_in: max |excess_kurtosis| {mlp_in.loc[mlp_in['stat'] == 'excess_kurtosis', 'value'].abs().max()}, "
        f"min t_nu {mlp_in.loc[mlp_in['stat'] == 't_nu', 'value'].min()}"])


def warmup_text() -> str:
    """warmup_transitions.csv (`scalefit warmup-study`'s table) and the warmup variants' final
    losses (precision.csv)."""
    study = pd.read_csv(MINI / "warmup_transitions.csv")
    precision = pd.read_csv(MINI / "precision.csv")
    warm = precision[precision["a"].str.contains("-W")]
    return "\n".join([table_text(study.drop(columns=["runs"])),
                      f"warmup finals {warm[['loss_a', 'loss_b']].min().min()} to {warm[['loss_a', 'loss_b']].max().max()}"])


TABLES = {"recipe": recipe_text, "contents": contents_text, "evalset": evalset_text,
          "precision": precision_text, "wall time": wall_time_text, "runs": runs_text,
          "trajectories": trajectories_text, "warmup": warmup_text}

MEASURED_ONCE = "measured once when the eval sets were designed; no shipped table holds it"
PASSAGES = [
    Passage("mini", "recipe", "Pythia recipe scaled down", "(`scalefit data build-corpus`).", "recipe", {
        "rotary 25%": "the model's architecture (the trainer's GPT-NeoX config), not in a table"}),
    Passage("mini", "tables", "Tables: `runs.csv`", "wall times).", "contents"),
    Passage("mini", "one eval set", "Every loss in every table of this folder", "grid run's final.", "evalset", {
        "to 2e-5 for all": "the tolerance test_suite_shipped asserts, not a measured figure"}),
    Passage("mini", "standard errors", "**Standard errors.**", "about one paired SE: not resolved.", "precision", {
        "The 0.005-nat target": "the target, an input (--target-se)",
        "all 1,985 windows of prose-val give 0.073, as 256 windows do": MEASURED_ONCE,
        "1/sqrt(documents)": "the rule's formula",
        "one 129-token window": "the eval set's window (checked in the 'one eval set' passage)",
        "the 256-window cost": "the eval set's windows (checked in the 'one eval set' passage)",
        "costs 6.6 ms on one thread (256 windows in 1.7 s, measured), so such eval sets would take "
        "about 90 s per split for each mini-5 checkpoint": MEASURED_ONCE + " (a timing)"}),
    Passage("mini", "wall time", "**Wall time (measured):**", "beside the last training runs.", "wall time", {
        "two 1-thread lanes": "how the runs were laid out (the spec's threads_per_run)",
        "ran 26 min of wall clock": "the sweep's wall time: no shipped table records it"}),
    Passage("mini", "grid and WSD losses", "Grid (each run with its own warmup + cosine)",
            "than the cosine's early decay.", "runs", {
                "Hagele et al. 2024": "a citation's year",
                "to 0.1x over the last 20% of each length, branched from it at 0.8 T": "the spec's WSD design"}),
    Passage("mini", "Kaplan and Chinchilla", "The default command fits the 20 grid runs",
            "## Why Kaplan and Chinchilla disagree", "compare", {
                "1000 resamples": "the command's default, not printed by its text"}),
    Passage("mini", "--schedules", "The same Chinchilla form (total N) fitted to five sets",
            "## Weight-statistic trajectories", "schedules", {
                "checkpoints at 240/520/1120/2400": "the long runs' checkpoints that the set takes (the design)",
                "Tissue et al. 2024": "a citation's year",
                "0.1-0.2% Luo et al.": "the paper's figure",
                "over 0.98-0.9995": "the profiled lambdas, the option's grid (printed as '9 values')",
                "the schedule-corrected set (iv) gives a = 0.49 [0.30, 0.83], its points 0.42% above the grid "
                "finals (mean |difference| 0.46%; 1.39% at 0.999)": "compare --schedules --lambda profile (~45 s "
                                                                   "here), not run",
                "with the decay profiled, below, that drop is -0.08 [-0.44, +0.23]":
                    "compare --schedules --lambda profile (~45 s here), not run"}),
    Passage("mini", "trajectories", "Group rows (tensor `*`: the statistic of a group", "## Warmup variants", "trajectories", {
        "mini-2, -4 and -5": "model names (mini-4, mini-5) shortened, no numbers",
        "within 0.15 of 0, Student-t nu above 125":
            "bounds on the printed largest |excess kurtosis| (0.145) and smallest nu (125.5)"}),
    Passage("mini", "warmup design", "## Warmup variants", "floor's alone.", "contents", {
        "(issue 7)": "an issue number", "(slope, 95% CI)": "the interval's level"}),
    Passage("mini", "warmup variants", "(steps listed for W",
            "differ by about one paired SE (`precision.csv`).", "warmup", {
                "the WSD cooldown of mini-3 at 1120 steps": "the run's length (the spec)",
                "200 bootstrap resamples per run": "the command's default",
                "whose 24-step warmup": "the WSD run's warmup (the spec)",
                "-0.26 [-0.61, 0.09]": "the reading before the calibrated intervals (history)",
                "t on runs - 2 degrees of freedom": "the method",
                "95.8% of 192 fresh families": "bench/bench_warmup_regression.py",
                "(96.4-97.4% with their plain range)": "bench/bench_warmup_regression.py",
                "covered 87.7-91.7%": "bench/bench_warmup_regression.py",
                "0.00-0.95 on these runs, median 0.92, many at the 0.95 cap":
                    "`scalefit transitions`' error_rho per run (~20 s per statistic), not in the table",
                "(-0.2 [-2.8, 2.4])": "the reading before capped nu was left out (history)",
                "(0.84 [0.61, 1.08])": "the reading before the AR(1) gaps were taken (history)",
                "(0.87 [0.79, 0.95])": "the reading before the slope interval's floor (history)",
                "(-0.27 [-0.48, -0.05])": "the reading before the slope interval's floor (history)",
                "0 by chance: 3e-4": "Hartung-Knapp's mean square for t_nu/attn_out without the floor "
                                     "(transitions.hartung_knapp; not in the table)",
                "error_rho was 0.00,\nnow 0.08": "`scalefit transitions --stat t_nu --group attn_out` error_rho of "
                                                  "mini-3-W0.04, before and after the AR(1) gaps (not in the table)",
                "xi = 1e-4": "1 / nu's cap 1e4 (the fit's bound)",
                "negative (-0.11, -0.45;": "`scalefit transitions --stat t_nu --group attn_out|mlp_in --models "
                                           "mini-3-W0.1`: the run line's REML estimate below rho's bound 0 "
                                           "(error_rho_below_bound; not in the table; tests/test_s44_rho_w01.py)",
                "same runs give 0.30 and 0.95;": "`scalefit transitions --stat t_xi --group attn_out|mlp_in --models "
                                                 "mini-3-W0.1`'s error_rho (0.30, '>= 0.95'; not in the table)",
                "the 2 largest of 51\nresiduals, steps 185 and 265, hold 60% of the attention-out t_nu fit's scatter, "
                "where Gaussian errors\nexceed 36% in 1% of runs. The warning fires on 10 of 12":
                    "`scalefit transitions --stat t_nu --group attn_out` run line and runs.csv's scatter_top2_* "
                    "(not in the table; tests/test_s44_scatter_share.py checks the steps)",
                "fires on 37 of the 52 runs": "the runs named in warmup_transitions.csv's scatter_concentrated, "
                                              "over its scatter_measured (tests/test_s44_warmup_scatter.py)",
                "errors of that kind, sd rising 4x or 2 late shocks of 6 sd, the intervals still held a clear kink in\n"
                "98-100% of runs, 96-100% where the check fired":
                    "bench/bench_transition_intervals.py --methods scatter on the _grows/_shocks/_t3 cells "
                    "(bench/README.md, Errors of other shapes)",
                "on 5 of 12 attention-out and 8 of 12 MLP-in runs":
                    "`scalefit transitions --stat t_xi --group attn_out|mlp_in`'s scatter_concentrated (not in the table)",
                "(steps 261-426)": "the onsets before capped nu was left out (history)",
                "central 99.5%": "the calibrated level (the method)",
                "in 44-45% of runs at rho 0.8-0.95 (4-6% now), and its intervals covered 59-67% at rho "
                "0.5-0.95 (95-100% now": "bench/bench_transition_intervals.py",
                "max |w| (0.64)": "the reading that did not survive (history)"}),
    Passage("init", "what the data support", "## What the data support", "## Thresholds", "init-study"),
    Passage("init", "tables", "## Thresholds", None, "init-study tables"),
]


@pytest.fixture(scope="module")
def outputs(tmp_path_factory):
    """Each command's stdout (run once in this session in a fresh Python with the kernels pinned,
    pinned_runs: the README test's runs are these), the init study's written tables, and the
    texts of the shipped tables."""
    if not cpu_runs_pinned():
        pytest.skip("the reports' digits were printed with AVX2 kernels: needs an x86-64 CPU with AVX2 and FMA")
    results = pinned_outputs(tmp_path_factory, COMMANDS)
    done = {}
    for name, result in results.items():
        assert result["exit_code"] == 0, f"{COMMANDS[name]}: {result['error']}"
        done[name] = result["stdout"]
    written = ["thresholds", "summary", "contrasts", "warmup_effect", "shapes", "shape_contrasts", "tails"]
    done["init-study tables"] = "\n".join(table_text(pd.read_csv(results["init-study"]["out"] / f"{name}.csv"))
                                          for name in written)
    return done


def source_text(p: Passage, outputs: dict) -> str:
    return TABLES[p.source]() if p.source in TABLES else outputs[p.source]


def report_passage(p: Passage) -> str:
    return passage(REPORTS[p.report].read_text(), p.start, p.end, name=str(REPORTS[p.report].relative_to(ROOT)))


def marks(p: Passage):
    return [pytest.mark.xfail(strict=True, reason=p.xfail)] if p.xfail else []


@pytest.mark.slow
@pytest.mark.parametrize("p", [pytest.param(p, marks=marks(p), id=f"{p.report}: {p.name}") for p in PASSAGES])
def test_report_passage_numbers_are_printed(p, outputs):
    problems = disagreements(report_passage(p), source_text(p, outputs), p.allowed, name=p.report + " REPORT")
    assert not problems, f"{p.report} REPORT passage {p.start!r} ({p.source}):\n" + "\n".join(problems)


def test_a_changed_report_digit_fails(tmp_path, monkeypatch):
    """The check itself, on a passage read from a shipped table: one digit changed in a copy of
    the report is named, with its context and the table's nearest numbers."""
    standard_errors = next(p for p in PASSAGES if p.name == "standard errors")
    text = REPORTS["mini"].read_text()
    quoted = "understate it): 0.038-0.081"
    assert text.count(quoted) == 1
    changed = tmp_path / "REPORT.md"
    changed.write_text(text.replace(quoted, quoted.replace("0.081", "0.082")))
    monkeypatch.setitem(REPORTS, "mini", changed)
    problems = disagreements(passage(changed.read_text(), standard_errors.start, standard_errors.end),
                             precision_text(), standard_errors.allowed, name="mini REPORT")
    assert len(problems) == 1 and problems[0].startswith("mini REPORT 0.082 in '...")
    assert "0.038-0.082 nats" in problems[0] and "0.081125" in problems[0]

"""Audit A1's findings 2, 4, 5 and 7 on the fitting layer, on tiny synthetic tables:

2. the shifted power law (loss -> loss) took an accuracy as y (or x) without a word;
4. held-out checkpoints of a checkpoint table were counted as independent "runs";
5. a budget inside the fitted compute whose N* lies below every fitted size read "interpolation";
7. `compare --schedules` said "the 95% intervals below" after the table that held them.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from scalefit.cli import main
from scalefit.errors import InputError
from scalefit.scaling.laws import forms as law_forms
from scalefit.scaling.relations import forms as relation_forms
from scalefit.scaling.relations.downstream import run_downstream

ROOT = Path(__file__).resolve().parents[1]


def invoke(args, code=0):
    result = CliRunner().invoke(main, [str(a) for a in args])
    assert result.exit_code == code, result.output
    return result


def one_line_error(args, *fragments) -> str:
    """The command exits 2 with one line naming each fragment, and no traceback."""
    result = invoke(args, code=2)
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    assert "Traceback" not in result.output
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


# --- tables -------------------------------------------------------------------------------------

SIZES = np.geomspace(2e7, 1e9, 6)
STEPS = (1000, 2000, 4000, 8000, 16000)
TOKENS_PER_STEP = 2e5


def checkpoint_table() -> pd.DataFrame:
    """Six models, five checkpoints each: a Chinchilla loss, its perplexity on a task, and an
    accuracy that follows the loss by a sigmoid (a long evaluation table, as Pythia's evals)."""
    rng = np.random.default_rng(3)
    rows = []
    for i, n in enumerate(SIZES):
        for step in STEPS:
            d = step * TOKENS_PER_STEP
            loss = float(law_forms.chinchilla(n, d, 1.8, 480, 2000, 0.35, 0.37))
            acc = float(relation_forms.sigmoid_accuracy(loss, 0.5, -2.0, 3.5, 0.3))
            base = {"model": f"m{i}", "step": step, "params": n, "tokens": d, "flops": 6 * n * d}
            rows.append({**base, "task": "lambada_openai", "metric": "ppl",
                         "value": float(np.exp(loss + rng.normal(0, 0.003)))})
            rows.append({**base, "task": "piqa", "metric": "acc",
                         "value": acc + float(rng.normal(0, 0.003))})
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    path = tmp_path_factory.mktemp("checkpoints") / "evals.csv"
    checkpoint_table().to_csv(path, index=False)
    return path


def run_table() -> pd.DataFrame:
    """One row per run: a loss x, a downstream loss y below 1 (shifted power of x), an accuracy."""
    n = np.repeat(SIZES, 2)
    d = n * np.tile([20.0, 60.0], SIZES.size)
    x = law_forms.chinchilla(n, d, 1.8, 480, 2000, 0.35, 0.37)
    return pd.DataFrame({"model": [f"r{i}" for i in range(n.size)], "params": n, "tokens": d,
                         "flops": 6 * n * d, "loss": x,
                         "loss_downstream": 0.15 * (x - 1.5) ** 1.2 + 0.1,
                         "piqa_acc": relation_forms.sigmoid_accuracy(x, 0.5, -2.0, 3.5, 0.3)})


# --- 2: the shifted power law refuses an accuracy or score by its name ----------------------------

@pytest.mark.parametrize("x,y,side,metric", [("loss", "piqa_acc", "y", "acc"),
                                             ("piqa_acc", "loss", "x", "acc")])
def test_shifted_power_refuses_a_higher_is_better_metric(x, y, side, metric):
    """It fitted a Kaplan E_y = 0.60 to piqa's accuracies and left out half the pairs, exit 0."""
    with pytest.raises(InputError) as err:
        run_downstream(run_table(), x, y, relation="shifted-power", E_x=1.5, E_y=0.1,
                       n_bootstrap=0)
    said = str(err.value)
    assert f"{side} 'piqa_acc'" in said and f"'{metric}'" in said and "not a loss" in said
    if side == "y":  # an accuracy y is pointed to the accuracy laws
        assert "relation (--relation) sigmoid" in said and "exponential-error" in said


def test_a_loss_below_one_is_no_accuracy_and_the_accuracy_laws_still_take_one():
    """The name decides, not the range: a downstream loss under 1 fits as before."""
    table = run_table()
    assert table["loss_downstream"].max() < 1
    fit = run_downstream(table, "loss", "loss_downstream", relation="shifted-power", E_x=1.5,
                         E_y=0.1, n_bootstrap=0).fit
    assert fit.value("kappa") == pytest.approx(1.2, rel=1e-3)
    sigmoid = run_downstream(table, "loss", "piqa_acc", relation="sigmoid", n_bootstrap=0).fit
    assert sigmoid.value("L0") == pytest.approx(3.5, rel=1e-2)


def test_commands_refuse_an_accuracy_in_one_line(checkpoints):
    """predict downstream, fit shifted-power and calibrate share the refusal (exit 2, one line)."""
    one_line_error(["predict", "downstream", "--data", checkpoints, "--x", "lambada_openai:ppl",
                    "--y", "piqa:acc", "--relation", "shifted-power", "--bootstrap", "0"],
                   "y 'piqa:acc'", "('acc': higher is better)", "--relation sigmoid",
                   "exponential-error")
    one_line_error(["fit", "shifted-power", "--data", checkpoints, "--x", "lambada_openai:ppl",
                    "--y", "piqa:acc", "--bootstrap", "0"], "y 'piqa:acc'", "not a loss")
    one_line_error(["calibrate", "shifted-power", "--data", checkpoints, "--x", "piqa:acc",
                    "--y", "lambada_openai:ppl", "--bootstrap", "2"], "x 'piqa:acc'",
                   "not a loss")


def test_metric_names_as_lm_eval_writes_them():
    from scalefit.scaling.relations.evaltables import higher_is_better
    named = {"piqa:acc@0shot": "acc", "acc,none": "acc", "arc_easy_acc_norm": "acc_norm",
             "truthfulqa_mc2:mc2": "mc2", "triviaqa:exact_match,remove_whitespace": "exact_match",
             "drop:em": "em", "ln lambada_openai:ppl@0shot": None, "val_loss": None,
             "loss_code_test": None, "gold_ce": None, "loss_em": None}
    assert {name: higher_is_better(name) for name in named} == named


# --- 4: held-out checkpoints are counted as checkpoints of models -------------------------------

@pytest.fixture(scope="module")
def held_checkpoints(checkpoints, tmp_path_factory):
    """predict downstream on the checkpoint table, holding out its largest-compute fifth."""
    args = ["predict", "downstream", "--data", checkpoints, "--x", "lambada_openai:ppl",
            "--y", "piqa:acc", "--relation", "sigmoid", "--holdout", "0.2", "--bootstrap", "20"]
    out = tmp_path_factory.mktemp("report") / "out"
    text = invoke(args + ["--out", out]).stdout
    doc = json.loads(invoke(args + ["--json"]).stdout)
    return text, doc, (out / "report.md").read_text()


def test_held_out_checkpoints_are_counted_by_model(held_checkpoints):
    """'held out 6 runs' were late checkpoints of models whose earlier ones were fitted."""
    text, doc, report = held_checkpoints
    h = doc["holdout"]
    models = {p["model"] for p in h["points"]}
    assert h["n"] == len(h["points"]) and h["n"] > len(models) > 1  # several per model
    assert h["n_models"] == len(models)  # a new key; the old ones keep their names
    said = f"held out {h['n']} checkpoints of {len(models)} models"
    assert said in text and said in report
    assert "held-out runs" not in text and "held out 1" not in text
    note = (f"earlier checkpoints of the same model are in the fit for {h['n']} of the {h['n']} "
            "held-out checkpoints")
    assert text.count(note) == 1 and report.count(note) == 1 and h["same_models"].startswith(note)
    assert "## Held-out checkpoints" in report


def test_a_run_tables_held_out_runs_stay_runs(tmp_path):
    """One row per model: the rows are runs, and nothing about checkpoints is said."""
    table = run_table()
    out = run_downstream(table, "loss", "piqa_acc", relation="sigmoid", holdout=3,
                         n_bootstrap=0).to_dict()["holdout"]
    assert "n_models" not in out and "same_models" not in out
    path = tmp_path / "runs.csv"
    table.to_csv(path, index=False)
    text = invoke(["predict", "downstream", "--data", path, "--x", "loss", "--y", "piqa_acc",
                   "--relation", "sigmoid", "--holdout", "3", "--bootstrap", "0"]).stdout
    assert "held out 3 runs" in text and "checkpoint" not in text


def test_calibrate_counts_checkpoints_of_models(checkpoints, tmp_path):
    args = ["calibrate", "sigmoid", "--data", checkpoints, "--x", "lambada_openai:ppl",
            "--y", "piqa:acc", "--bootstrap", "4", "--cuts", "2"]
    doc = json.loads(invoke(args + ["--json"]).stdout)
    predictions = pd.DataFrame(doc["predictions"])
    n_held = len(predictions.drop_duplicates(["model", "step"]))
    n_models = predictions["model"].nunique()
    assert (doc["n_checkpoints"], doc["n_models"]) == (n_held, n_models) and n_held > n_models
    text = invoke(args + ["--out", tmp_path / "cal"]).stdout
    assert (f"{len(predictions)} predictions of {n_held} held-out checkpoints of {n_models} "
            "models") in text.splitlines()[0]
    # a prediction whose model has a checkpoint below its cut: that checkpoint was fitted
    first = pd.read_csv(checkpoints).groupby("model")["flops"].min()
    in_fit = int((predictions["model"].map(first) < predictions["cut_flops"]).sum())
    assert 0 < in_fit < len(predictions)  # the largest model lies wholly above the first cut
    note = (f"earlier checkpoints of the same model are in the fit for {in_fit} of the "
            f"{len(predictions)} predictions")
    assert text.count(note) == 1 and (tmp_path / "cal" / "report.md").read_text().count(note) == 1


def test_pythia_held_out_checkpoints(anchors):
    """The audit's command: 46 late checkpoints of 4 Pythia models."""
    data = anchors / "pythia" / "pythia_evals_core.csv"
    text = invoke(["predict", "downstream", "--data", data, "--relation", "sigmoid",
                   "--x", "lambada_openai:ppl@0shot", "--y", "piqa:acc@0shot", "--holdout",
                   "0.1", "--bootstrap", "0"]).stdout
    assert "held out 46 checkpoints of 4 models" in text and "46 held-out runs" not in text
    assert "for 46 of the 46 held-out checkpoints" in text


# --- 5: a budget is an interpolation only inside the runs' compute, sizes and token counts -------

def grid_table(smallest: float = 2.9e5) -> pd.DataFrame:
    """A small Chinchilla grid (5 sizes x 4 lengths) whose smallest model has ``smallest``
    parameters, as the audit's grid.csv."""
    rng = np.random.default_rng(0)
    n, d = (a.ravel() for a in np.meshgrid(smallest * np.geomspace(1, 5.7, 5),
                                           2.46e5 * np.geomspace(1, 10, 4), indexing="ij"))
    loss = law_forms.chinchilla(n, d, 2.6, 200, 400, 0.4, 0.42) * np.exp(rng.normal(0, 0.004, n.size))
    return pd.DataFrame({"params": n, "tokens": d, "flops": 6 * n * d, "loss": loss})


@pytest.fixture(scope="module")
def grid(tmp_path_factory):
    path = tmp_path_factory.mktemp("grid") / "grid.csv"
    grid_table().to_csv(path, index=False)
    return path


def test_a_budget_whose_optimum_lies_below_every_size_is_no_interpolation(grid, tmp_path):
    """1e12 FLOPs lies inside the grid's compute, but its N* below its smallest model."""
    frame = pd.read_csv(grid)
    args = ["fit", "chinchilla", "--data", grid, "--bootstrap", "0", "--budget", "1e12"]
    row = json.loads(invoke(args + ["--json"]).stdout)["allocation"]["budgets"][0]
    assert frame["flops"].min() < row["flops"] < frame["flops"].max()
    assert row["N_opt"] < frame["params"].min()
    assert row["kind"] == "extrapolation"
    ratio = frame["params"].min() / row["N_opt"]
    assert row["outside_fitted"] == (f"N* {ratio:.3g}x under the smallest fitted "
                                     f"({frame['params'].min():.3g})")
    text = invoke(args).stdout
    assert "interpolation" not in text
    legend = next(line for line in text.splitlines() if line.startswith("extrapolation: "))
    assert f"1e+12 FLOPs: {row['outside_fitted']}" in legend
    invoke(args + ["--out", tmp_path / "fit"])  # budgets.csv's new column is described
    files = (tmp_path / "fit" / "report.md").read_text().split("## Files", 1)[1]
    assert "`outside_fitted`: for an extrapolation" in files and "extrapolation (compute" in files


def test_a_budget_inside_the_runs_sizes_and_tokens_stays_an_interpolation(grid):
    frame = pd.read_csv(grid)
    rows = json.loads(invoke(["fit", "chinchilla", "--data", grid, "--bootstrap", "0", "--budget",
                              "1e13", "--json"]).stdout)["allocation"]["budgets"]
    row = rows[0]
    assert frame["params"].min() <= row["N_opt"] <= frame["params"].max()
    assert frame["tokens"].min() <= row["D_opt"] <= frame["tokens"].max()
    assert row["kind"] == "interpolation" and "outside_fitted" not in row


def test_compare_labels_the_row_by_every_laws_optimum(grid):
    """compare's budget row holds each law's N*: one outside the runs' sizes makes it no
    interpolation, and outside_fitted names the law."""
    doc = json.loads(invoke(["compare", "kaplan", "chinchilla", "--data", grid, "--bootstrap",
                             "0", "--budget", "1e12", "--json"]).stdout)
    row = doc["budgets"][0]
    smallest = pd.read_csv(grid)["params"].min()
    below = [law for law in ("kaplan", "chinchilla") if row[f"{law}_N_opt"] < smallest]
    assert below and row["kind"] == "extrapolation"
    assert all(f"{law} N* " in row["outside_fitted"] for law in below)


# --- 7: the rough-interval sentence stands above the intervals it speaks of ---------------------

def test_rough_intervals_sentence_precedes_the_table(tmp_path):
    """`compare --schedules --bootstrap 50` printed 'the 95% intervals below are rough' after the
    table of intervals; it now stands above the table, in the text and in report.md."""
    from test_schedule_gap import synthetic_suite
    checkpoints, finals = synthetic_suite(every=240, wsd_sizes=())
    paths = tmp_path / "checkpoints.parquet", tmp_path / "finals.parquet"
    checkpoints.to_parquet(paths[0])
    finals.to_parquet(paths[1])
    text = invoke(["compare", "kaplan", "chinchilla", "--schedules", "--checkpoints", paths[0],
                   "--finals", paths[1], "--bootstrap", "3", "--out", tmp_path / "gap"]).stdout
    report = (tmp_path / "gap" / "report.md").read_text()
    for shown in (text, report):
        lines = shown.splitlines()
        rough = [i for i, line in enumerate(lines)
                 if line.startswith("Only 3 resamples: the 95% intervals below are rough")]
        table = next(i for i, line in enumerate(lines) if line.split()[:2] == ["set", "n"])
        intervals = [i for i, line in enumerate(lines) if "[95% CI]" in line or
                     ("[" in line and "]" in line and i != table)]
        assert len(rough) == 1 and rough[0] < table and min(intervals) > rough[0], shown


def test_the_shipped_selection_of_predict_downstream_is_said_with_its_counts():
    """--help and the README say what predict downstream pairs without --data (shipped_runs) and what
    the whole runs.csv pairs; the counts they print are the library's (an audit found 21 vs 37
    runs between the two paths with nothing saying so)."""
    import re

    from scalefit.data import data_path
    from scalefit.scaling.relations.downstream import shipped_runs
    runs = pd.read_csv(data_path("suites", "mini", "runs.csv"))
    counts = [len(run_downstream(r, "loss", "loss_code_test", x_from="prose", group="distribution",
                                 n_bootstrap=0).train.pairs) for r in (shipped_runs(runs), runs)]
    help_text = " ".join(CliRunner().invoke(main, ["predict", "downstream", "--help"]).output.split())
    said = re.search(r"shipped_runs: (\d+) pairs; the whole runs.csv, --data runs.csv --x loss --y "
                     r"loss_code_test --x-from prose --group-column distribution, pairs (\d+)", help_text)
    assert said and [int(n) for n in said.groups()] == counts, (help_text, counts)
    readme = " ".join((ROOT / "README.md").read_text().split())
    assert f"shipped_runs(runs)`: {counts[0]} pairs" in readme and f"`runs.csv` pairs {counts[1]} (`--data" in readme

"""`scalefit predict downstream` and `scalefit fit shifted-power` end to end: --json shape,
--out files, the shipped-table defaults, and bad input as one line with exit status 2."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from scalefit.cli import main
from scalefit.scaling.relations import cli as cli_predict
from scalefit.scaling.laws import forms as law_forms
from scalefit.scaling.relations import forms as relation_forms

PARAM_KEYS = {"value", "stderr", "stderr_fit", "ci95", "identified"}
REL = {"K": 0.7, "kappa": 1.1, "E_x": 1.2, "E_y": 0.5}
PROSE = {"E": 1.2, "N_c": 3e5, "D_c": 2e6, "alpha_N": 0.4, "alpha_D": 0.3}


def mini_suite_table(path, seed=0):
    """A table shaped like data/suites/mini/runs.csv: a prose grid, code runs, warmup variants."""
    rng = np.random.default_rng(seed)
    sizes = {f"mini-{i}": n for i, n in enumerate(np.geomspace(4e5, 6e6, 5), start=1)}
    rows = []
    for part, dist, token_list in (("grid", "prose", [245760, 532480, 1146880, 2457600]),
                                   ("code", "code", [1146880])):
        for model, n in sizes.items():
            for d in token_list:
                prose_val = float(law_forms.kaplan_nde(n, d, **PROSE)) * np.exp(rng.normal(0, 2e-3))
                code_test = float(relation_forms.shifted_power_law(prose_val, **REL))
                code_test *= np.exp(rng.normal(0, 2e-3))
                own = prose_val if dist == "prose" else code_test * 0.98
                rows.append({"model": model, "run": f"{part}/{model}-D{d}", "part": part,
                             "distribution": dist, "params": n, "params_nonembed": 0.4 * n,
                             "tokens": d, "flops": 6 * n * d, "loss": own,
                             "loss_prose_test": prose_val * 1.01, "loss_code_test": code_test,
                             "loss_code_val": code_test * 0.99})
    warm = dict(rows[2], part="warmup", run="warmup/mini-1-W0.01", loss=9.9)  # not a pair
    df = pd.DataFrame(rows + [warm])
    df.to_csv(path, index=False)
    return df


def invoke(args, code=0):
    result = CliRunner().invoke(main, args)
    assert result.exit_code == code, result.output + result.stderr
    return result


@pytest.fixture
def shipped(tmp_path, monkeypatch):
    path = tmp_path / "runs.csv"
    mini_suite_table(path)
    monkeypatch.setattr(cli_predict, "default_runs_path", lambda: path)
    return path


def test_no_data_uses_shipped_table_json_shape(shipped):
    doc = json.loads(invoke(["predict", "downstream", "--json", "--holdout", "3",
                             "--at-x", "3.0", "--bootstrap", "100"]).stdout)
    assert doc["data"] == str(shipped) and doc["relation"] == "shifted-power"
    assert doc["pairing"] == "train-to-test" and doc["x"] == "loss (prose)"
    assert doc["y"] == "loss_code_test (prose)"
    assert set(doc["params"]) == {"K", "kappa", "E_x", "E_y"}
    assert all(set(p) == PARAM_KEYS for p in doc["params"].values())
    assert doc["n_points"] == 20 - 3  # 20 prose grid runs; warmup and code runs are not pairs
    assert doc["e_source"] == "kaplan"
    assert doc["params"]["kappa"]["value"] == pytest.approx(REL["kappa"], rel=0.1)
    lo, hi = doc["params"]["kappa"]["ci95"]
    assert lo < doc["params"]["kappa"]["value"] < hi
    pred = doc["prediction"]
    assert set(pred) >= {"value", "ci95"} and pred["at_x"] == 3.0
    assert pred["value"] == pytest.approx(float(relation_forms.shifted_power_law(3.0, **REL)), rel=0.02)
    assert pred["ci95"][0] < pred["value"] < pred["ci95"][1]
    held = doc["holdout"]
    assert held["n"] == 3 and len(held["points"]) == 3
    for p in held["points"]:
        assert {"params", "tokens", "x", "y", "predicted", "relative_error",
                "baseline_relative_error"} <= set(p)
        assert abs(p["relative_error"]) < 0.03


def test_shipped_train_to_train_pairs_grid_with_code_runs(shipped):
    doc = json.loads(invoke(["predict", "downstream", "--pair", "train-to-train", "--json",
                             "--e", "given", "--E-x", "1.2", "--E-y", "0.45",
                             "--bootstrap", "0"]).stdout)
    assert doc["n_points"] == 5  # one code run per size, at the grid's 1146880 tokens
    assert doc["x"] == "loss (prose)" and doc["y"] == "loss (code)"
    assert doc["params"]["E_y"]["value"] == 0.45 and doc["e_source"] == "given"


def test_out_report_and_human_text(shipped, tmp_path):
    out = tmp_path / "report"
    text = invoke(["predict", "downstream", "--holdout", "0.2", "--at", "2e6,3e6",
                   "--bootstrap", "50", "--out", str(out)]).stdout
    assert "L_y = K (L_x - E_x)^kappa + E_y" in text and "held out 4" in text
    assert "projection at N = 2e+06, D = 3e+06 (x predicted" in text and "x the largest fitted run" in text
    for name in ("report.md", "params.csv", "pairs.csv", "holdout.csv", "result.json",
                 "relation.png", "relation.svg"):
        assert (out / name).stat().st_size > 0, name
    params = pd.read_csv(out / "params.csv")
    assert list(params["param"]) == ["K", "kappa", "E_x", "E_y"]
    assert len(pd.read_csv(out / "holdout.csv")) == 4
    assert "## Held-out runs" in (out / "report.md").read_text()
    written = {f.name: f.read_bytes() for f in out.iterdir()}
    assert "scalefit_settings.json" in written
    # another holdout into the same folder would leave holdout.csv of one beside params.csv of the other
    bad = CliRunner().invoke(main, ["predict", "downstream", "--holdout", "0.4", "--at", "2e6,3e6",
                                    "--bootstrap", "50", "--out", str(out)])
    assert bad.exit_code == 2 and "(--holdout 0.2 there, 0.4 here)" in bad.output, bad.output
    assert len(bad.output.strip().splitlines()) == 1
    assert {f.name: f.read_bytes() for f in out.iterdir()} == written
    other = CliRunner().invoke(main, ["fit", "shifted-power", "--bootstrap", "0", "--out", str(out)])
    assert other.exit_code == 2 and "(written by `predict downstream`, this is `fit shifted-power`)" \
        in other.output, other.output


def test_fit_shifted_power_on_a_file(tmp_path):
    data = tmp_path / "sweep.csv"
    mini_suite_table(data).rename(columns={"distribution": "data"}).to_csv(data, index=False)
    doc = json.loads(invoke(["fit", "shifted-power", "--data", str(data), "--x", "loss",
                             "--y", "loss_code_test", "--x-from", "prose", "--json",
                             "--bootstrap", "30"]).stdout)
    assert doc["law"] == "shifted-power" and set(doc["params"]) == {"K", "kappa", "E_x", "E_y"}
    assert "prediction" not in doc and "holdout" not in doc
    free = json.loads(invoke(["fit", "shifted-power", "--data", str(data), "--x", "loss",
                              "--y", "loss_code_test", "--x-from", "prose", "--e", "fit", "--json",
                              "--bootstrap", "0"]).stdout)
    assert free["e_free"] and free["e_source"] == "fit"


def test_accuracy_relation_from_the_cli(tmp_path):
    L = np.linspace(2.0, 5.0, 25)
    data = tmp_path / "evals.json"
    pd.DataFrame({"lambada_nll": L, "piqa_acc": relation_forms.sigmoid_accuracy(L, 0.5, -2.0, 3.5, 0.3)}
                 ).to_json(data, orient="records")
    doc = json.loads(invoke(["predict", "downstream", "--data", str(data), "--x", "lambada_nll",
                             "--y", "piqa_acc", "--relation", "sigmoid", "--at-x", "2.5",
                             "--json", "--bootstrap", "20"]).stdout)
    assert set(doc["params"]) == {"a", "k", "L0", "b"}
    assert doc["prediction"]["value"] == pytest.approx(
        float(relation_forms.sigmoid_accuracy(2.5, 0.5, -2.0, 3.5, 0.3)), abs=1e-3)


def one_line_error(args, *fragments):
    result = invoke(args, code=2)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.output
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def test_bad_input_is_one_line_exit_2(tmp_path, monkeypatch):
    data = tmp_path / "bad.csv"
    df = mini_suite_table(tmp_path / "ok.csv")
    df["loss_code_test"] = df["loss_code_test"].astype(object)
    df.loc[11, "loss_code_test"] = "oops"
    df.to_csv(data, index=False)
    base = ["predict", "downstream", "--data", str(data), "--x", "loss"]
    one_line_error(base + ["--y", "loss_code_test"], "bad.csv", "column 'loss_code_test'",
                   "row 12", "'oops'")
    one_line_error(base + ["--y", "nope"], "bad.csv", "column 'nope' is missing")
    one_line_error(base, "--x and --y")
    ok = str(tmp_path / "ok.csv")
    one_line_error(["predict", "downstream", "--data", ok, "--x", "loss", "--y", "loss_code_val",
                    "--at", "big"], "--at", "N,D")
    one_line_error(["predict", "downstream", "--data", ok, "--x", "loss", "--y", "loss_code_val",
                    "--at", "1e6,1e7", "--at-x", "3"], "--at-x and --at")
    one_line_error(["predict", "downstream", "--data", ok, "--x", "loss", "--y", "loss_code_val",
                    "--pair", "train-to-train"], "--x-from and --y-from")
    one_line_error(["predict", "downstream", "--data", ok, "--x", "loss", "--y", "loss_code_val",
                    "--holdout", "abc"], "--holdout")
    one_line_error(["fit", "shifted-power", "--data", str(tmp_path / "missing.csv"),
                    "--x", "a", "--y", "b"], "missing.csv", "not found")
    monkeypatch.setattr(cli_predict, "default_runs_path", lambda: tmp_path / "absent.csv")
    one_line_error(["predict", "downstream"], "absent.csv", "--data")
    # one run listed twice with other losses (no step column): was fitted as two pairs
    twice = tmp_path / "twice.csv"
    pd.concat([df, df.iloc[[3]].assign(loss=df["loss"].iloc[3] * 1.01)]).to_csv(twice, index=False)
    one_line_error(["predict", "downstream", "--data", str(twice), "--x", "loss", "--y",
                    "loss_code_val", "--x-from", "prose", "--group-column", "distribution"],
                   "twice.csv", "rows 4 and 27", "(model=mini-1)",
                   "keep one row")


def test_real_shipped_table_when_present():
    path = cli_predict.default_runs_path()
    if not path.exists():
        pytest.skip(f"{path} is not measured yet")
    doc = json.loads(invoke(["predict", "downstream", "--json", "--bootstrap", "50"]).stdout)
    assert doc["n_points"] >= 5 and np.isfinite(doc["params"]["kappa"]["value"])
    assert doc["y"].startswith("loss_code_test")


def test_bad_values_are_one_line_exit_2(tmp_path):
    """Issue 15: --holdout nan/inf/-1, --seed -1 with a bootstrap, --bootstrap 1 are refused;
    --at-x below E_x and --at with D = 0 get a clear answer."""
    ok = str(tmp_path / "ok.csv")
    mini_suite_table(tmp_path / "ok.csv")
    base = ["predict", "downstream", "--data", ok, "--x", "loss", "--y", "loss_code_test",
            "--x-from", "prose", "--group-column", "distribution"]
    for bad in ("nan", "inf", "-1"):
        one_line_error(base + ["--holdout", bad], "--holdout", bad)
    one_line_error(base + ["--seed", "-1", "--bootstrap", "10"], "--seed", "-1")
    one_line_error(base + ["--bootstrap", "1"], "--bootstrap", "at least 2")
    one_line_error(base + ["--at-x", "nan"], "--at-x", "nan")
    one_line_error(base + ["--at-x=-2", "--bootstrap", "0"], "--at-x", "x = -2 is negative")
    one_line_error(base + ["--at-x", "0.5", "--bootstrap", "0"], "--at-x", "x = 0.5",
                   "E_x = ")
    one_line_error(base + ["--at", "1e6,0", "--bootstrap", "0"], "--at", "D = 0",
                   "step-0")
    one_line_error(base + ["--at", "1e6,inf", "--bootstrap", "0"], "--at", "finite")


def test_errors_name_the_file_and_the_cause(tmp_path):
    df = mini_suite_table(tmp_path / "ok.csv")
    df.loc[1, "loss_code_test"] = np.inf
    data = tmp_path / "infinite.csv"
    df.to_csv(data, index=False)
    one_line_error(["predict", "downstream", "--data", str(data), "--x", "loss", "--y",
                    "loss_code_test", "--bootstrap", "0"], "infinite.csv",
                   "column 'loss_code_test', row 2", "inf")
    df = mini_suite_table(tmp_path / "ok.csv").drop(columns=["tokens"])
    data = tmp_path / "notokens.csv"
    df.to_csv(data, index=False)
    one_line_error(["predict", "downstream", "--data", str(data), "--x", "loss", "--y",
                    "loss_code_test", "--x-from", "prose", "--group-column", "distribution", "--bootstrap", "0"],
                   "notokens.csv", "'tokens'")
    # prose and code runs pooled into one train-to-test curve (28 pairs) without a word
    one_line_error(["predict", "downstream", "--data", str(data), "--x", "loss", "--y",
                    "loss_code_test", "--bootstrap", "0"], "notokens.csv",
                   "column 'distribution' holds runs trained on 2 data sets (code, prose)",
                   "--x-from code --group-column distribution")


def test_prediction_and_held_out_runs_carry_prediction_intervals(shipped):
    doc = json.loads(invoke(["predict", "downstream", "--json", "--holdout", "3",
                             "--at-x", "3.0", "--bootstrap", "60"]).stdout)
    pred = doc["prediction"]
    assert pred["pi95"][0] < pred["ci95"][0] < pred["value"] < pred["ci95"][1] < pred["pi95"][1]
    held = doc["holdout"]
    assert 0 <= held["pi95_coverage"] <= 1
    for p in held["points"]:
        assert p["pi95_lo"] < p["predicted"] < p["pi95_hi"]
        assert p["inside_pi95"] == (p["pi95_lo"] <= p["y"] <= p["pi95_hi"])
    # E is refitted in every resample: its interval is an interval
    for e in ("E_x", "E_y"):
        lo, hi = doc["params"][e]["ci95"]
        assert lo < hi
    assert doc["bootstrap"]["e_refit"]
    chained = json.loads(invoke(["predict", "downstream", "--json", "--at", "2e6,3e6",
                                 "--bootstrap", "40"]).stdout)["prediction"]
    assert chained["pi95"][0] < chained["value"] < chained["pi95"][1]
    assert "refitted per resample" in chained["note"]


def long_evals(path, seed=0):
    """A long evaluation table as Pythia's (model, step, task, metric, value, num_fewshot):
    lambada perplexity and piqa accuracy, 0-shot at every step and 5-shot at the last two."""
    rng = np.random.default_rng(seed)
    rows = []
    for m, n in enumerate(np.geomspace(7e7, 3e9, 6)):
        for step in (1000, 4000, 16000, 64000, 143000):
            loss = 1.2 + 40 * (n ** -0.2) + 2e3 * step ** -0.8 + rng.normal(0, 0.01)
            acc = float(relation_forms.sigmoid_accuracy(loss, 0.35, -3.0, 2.6, 0.5))
            for shots in ((0, 5) if step >= 64000 else (0,)):
                lift = 0.01 * shots
                rows += [{"model": f"m{m}", "step": step, "params": n, "tokens": step * 2e6,
                          "task": "lambada_openai", "metric": "ppl", "num_fewshot": shots,
                          "value": float(np.exp(loss - lift))},
                         {"model": f"m{m}", "step": step, "params": n, "tokens": step * 2e6,
                          "task": "piqa", "metric": "acc", "num_fewshot": shots,
                          "value": acc + rng.normal(0, 0.005) + lift}]
    df = pd.DataFrame(rows)
    df.to_csv(path, index=False)
    return df


def test_a_column_name_that_is_not_there_says_what_is(tmp_path):
    """--y piqa_acc on a long evaluation table said "column 'piqa_acc' is missing" and listed the
    pivoted table's columns (model, step, ln lambada..., params, tokens), never TASK:METRIC; a
    column missing from a wide table of 86 columns listed all 86 on one 3,000-character line."""
    data = tmp_path / "evals.csv"
    long_evals(data)
    base = ["predict", "downstream", "--data", str(data), "--relation", "sigmoid",
            "--bootstrap", "0", "--x", "lambada_openai:ppl@0shot"]
    one_line_error(base + ["--y", "piqa_acc"], "evals.csv: 'piqa_acc' is no column",
                   "TASK:METRIC[@Kshot] (task piqa: metrics acc)")
    one_line_error(base + ["--y", "accuracy"], "(tasks: lambada_openai, piqa)")
    wide = tmp_path / "wide.csv"
    table = mini_suite_table(tmp_path / "runs.csv")
    table.assign(**{f"extra_{i}": 1.0 for i in range(80)}).to_csv(wide, index=False)
    base = ["predict", "downstream", "--data", str(wide), "--x", "loss", "--x-from", "prose",
            "--group-column", "distribution", "--bootstrap", "0"]
    one_line_error(base + ["--y", "loss_code_tset"], "column 'loss_code_tset' is missing; did "
                   "you mean 'loss_code_test'?")
    line = CliRunner().invoke(main, base + ["--y", "code_loss"]).stderr
    assert "(columns: distribution, extra_0, " in line and f"({table.shape[1] + 80} in all))" in line
    assert len(line) < 500, line


def test_a_target_checkpoint_without_y_is_named_by_model_and_step(tmp_path):
    """A long --holdout-data table whose checkpoint lacked its y was named by the pivoted table's
    row ('row 52' of a file whose row 52 is another measurement); now by model and step."""
    long_evals(tmp_path / "evals.csv")
    df = long_evals(tmp_path / "other.csv", seed=1)
    df = df.assign(model="t" + df["model"].str[1:], params=df["params"] * 3)
    gone = (df["model"] == "t2") & (df["step"] == 16000) & (df["task"] == "piqa")
    df[~gone].to_csv(tmp_path / "targets.csv", index=False)
    one_line_error(["predict", "downstream", "--data", str(tmp_path / "evals.csv"), "--holdout-data",
                    str(tmp_path / "targets.csv"), "--relation", "sigmoid", "--bootstrap", "0",
                    "--x", "lambada_openai:ppl@0shot", "--y", "piqa:acc@0shot"],
                   "targets.csv: column 'piqa:acc@0shot', model t2, step 16000: is missing (NaN)")


def test_long_evaluation_table_as_it_comes(tmp_path):
    data = tmp_path / "evals.csv"
    df = long_evals(data)
    base = ["predict", "downstream", "--data", str(data), "--relation", "sigmoid",
            "--bootstrap", "30"]
    # 0-shot and 5-shot are never averaged: the user names one
    one_line_error(base + ["--x", "lambada_openai:perplexity", "--y", "piqa:acc"],
                   "evals.csv", "2 settings", "@0shot", "@5shot")
    doc = json.loads(invoke(base + ["--x", "lambada_openai:perplexity@0shot", "--y",
                                    "piqa:acc@0shot", "--holdout", "0.2", "--json"]).stdout)
    assert doc["x"] == "ln lambada_openai:ppl@0shot" and doc["y"] == "piqa:acc@0shot"
    assert doc["n_points"] + doc["holdout"]["n"] == 30  # 6 models x 5 steps, 0-shot only
    assert any("ln of the perplexity" in n for n in doc["notes"])
    assert doc["bootstrap"]["resampled"].startswith("whole models")
    sub = json.loads(invoke(base + ["--x", "lambada_openai:ppl", "--y", "piqa:acc",
                                    "--subset", "num_fewshot=0", "--json"]).stdout)
    assert sub["n_points"] == 30 and "num_fewshot=0" in sub["data"]
    one_line_error(base + ["--x", "lambada_openai:ppl", "--y", "piqa:f1", "--subset",
                           "num_fewshot=0"], "evals.csv", "no metric 'f1'", "acc")
    one_line_error(base + ["--x", "lambada_openai:ppl", "--y", "piqa:acc", "--subset",
                           "num_fewshot=3"], "--subset", "num_fewshot", "0, 5")
    # two variants of one measurement: say which column tells them apart
    twice = pd.concat([df.assign(variant="a"), df.assign(variant="b",
                                                         value=df["value"] * 1.01)])
    twice.to_csv(data, index=False)
    one_line_error(base + ["--x", "lambada_openai:ppl@0shot", "--y", "piqa:acc@0shot"],
                   f"evals.csv: rows 1 and {len(df) + 1} measure the same checkpoint for "
                   "'lambada_openai:ppl@0shot' (model=m0, step=1000) with different values",
                   "they differ in variant: select one with --subset variant=a")
    ok = json.loads(invoke(base + ["--x", "lambada_openai:ppl@0shot", "--y", "piqa:acc@0shot",
                                   "--subset", "variant=b", "--json"]).stdout)
    assert ok["n_points"] == 30


def test_subset_on_a_wide_table(tmp_path):
    data = tmp_path / "sweep.csv"
    mini_suite_table(data)
    doc = json.loads(invoke(["predict", "downstream", "--data", str(data), "--x", "loss",
                             "--y", "loss_code_test", "--subset", "part=grid",
                             "--subset", "distribution=prose", "--bootstrap", "0",
                             "--json"]).stdout)
    assert doc["n_points"] == 20
    one_line_error(["predict", "downstream", "--data", str(data), "--x", "loss", "--y",
                    "loss_code_test", "--subset", "nope=1"], "sweep.csv", "--subset 'nope=1'")


def test_huber_method_bootstrap_refits_e_on_the_shipped_table():
    """--method huber takes the robust line in every resample too (the E-refit bootstrap)."""
    result = CliRunner().invoke(main, ["predict", "downstream", "--method", "huber",
                                       "--bootstrap", "20", "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    lo, hi = out["params"]["kappa"]["ci95"]
    assert lo < out["params"]["kappa"]["value"] < hi
    assert out["bootstrap"]["n_failed"] < 20


def test_a_missing_file_is_named_before_the_x_y_defaults(tmp_path):
    """--data nope.csv without --x/--y said '--x and --y: ...', never that the file is absent."""
    one_line_error(["predict", "downstream", "--data", str(tmp_path / "nope.csv")],
                   "nope.csv: file not found")
    (tmp_path / "good.txt").write_text("a,b\n1,2\n")
    one_line_error(["predict", "downstream", "--data", str(tmp_path / "good.txt")],
                   "good.txt: unknown table format '.txt'")
    mini_suite_table(tmp_path / "ok.csv")
    one_line_error(["predict", "downstream", "--data", str(tmp_path / "ok.csv")],
                   "ok.csv: --x and --y", "columns: model, run,")


def test_holdout_data_rows_are_all_scored_and_must_be_unfitted(shipped, tmp_path):
    """A target row missing y was dropped silently; the fitted runs were scored as held out."""
    df = pd.read_csv(shipped)
    targets = df[df["distribution"] == "prose"].copy()
    targets["tokens"] = targets["tokens"] * 10  # runs the fit has not seen
    targets["loss_code_test"] = targets["loss_code_test"].astype(float)
    targets.loc[targets.index[2], "loss_code_test"] = np.nan
    path = tmp_path / "targets.csv"
    targets.to_csv(path, index=False)
    one_line_error(["predict", "downstream", "--holdout-data", str(path), "--bootstrap", "0"],
                   "targets.csv: column 'loss_code_test', row 3: is missing (NaN)")
    df.to_csv(path, index=False)
    one_line_error(["predict", "downstream", "--holdout-data", str(path), "--bootstrap", "0"],
                   "targets.csv: 21 of its 21 runs are also runs of", "must be one the fit "
                   "has not seen")


def test_a_bootstrap_interval_is_not_printed_beside_the_fixed_e_stderr(shipped):
    """kappa 'stderr 0.021' (E held fixed) stood beside its bootstrap CI [0.27, 0.81]."""
    text = invoke(["predict", "downstream", "--bootstrap", "20"]).stdout
    kappa = next(line for line in text.splitlines() if line.strip().startswith("kappa"))
    assert "bootstrap 95% CI [" in kappa and "stderr" not in kappa
    text = invoke(["predict", "downstream", "--bootstrap", "0"]).stdout
    kappa = next(line for line in text.splitlines() if line.strip().startswith("kappa"))
    assert "stderr" in kappa


def test_report_md_labels_a_projection_as_the_terminal_does(shipped, tmp_path):
    """report.md's Prediction section printed value and intervals at x with no word that it was
    a projection (the terminal said so): a reader of the report took it for a prediction."""
    out = tmp_path / "report"
    text = invoke(["predict", "downstream", "--at", "1e8,1e9", "--bootstrap", "20",
                   "--out", str(out)]).stdout
    report = (out / "report.md").read_text()
    section = report.split("## Prediction", 1)[1].split("##", 1)[0]
    assert "projection at N = 1e+08, D = 1e+09" in section
    assert "x the largest fitted run's compute" in section
    assert "projection: no fitted run reaches it" in section
    printed = next(line for line in text.splitlines() if line.startswith("projection at"))
    assert printed in section  # the same numbers as the terminal


def test_a_constant_x_or_y_is_one_line_exit_2(tmp_path):
    """A column equal in every pair has no relation to y: the sigmoid returned a step with
    zero-width intervals and no warning, --e given crashed inside lmfit (exit 1)."""
    L = np.linspace(2.0, 5.0, 12)
    frame = pd.DataFrame({"model": [f"m{i}" for i in range(12)], "params": np.geomspace(1e6, 1e8, 12),
                          "tokens": 2e9, "nll": L, "other": 0.8 * L - 0.5,
                          "acc": relation_forms.sigmoid_accuracy(L, 0.5, -2.0, 3.5, 0.3)})
    flat_x, flat_y = tmp_path / "flat_x.csv", tmp_path / "flat_y.csv"
    frame.assign(nll=3.0).to_csv(flat_x, index=False)
    frame.assign(acc=0.5, other=2.0).to_csv(flat_y, index=False)
    base = ["predict", "downstream", "--bootstrap", "20"]
    one_line_error(base + ["--data", str(flat_x), "--x", "nll", "--y", "acc", "--relation",
                           "sigmoid"], "flat_x.csv", "column 'nll'", "same x (3)")
    one_line_error(base + ["--data", str(flat_x), "--x", "nll", "--y", "other", "--E-x", "1",
                           "--E-y", "0.5"], "flat_x.csv", "column 'nll'", "same x (3)")
    one_line_error(base + ["--data", str(flat_y), "--x", "nll", "--y", "acc", "--relation",
                           "exponential-error"], "flat_y.csv", "column 'acc'", "same y (0.5)")
    one_line_error(base + ["--data", str(flat_y), "--x", "nll", "--y", "other", "--e", "fit"],
                   "flat_y.csv", "column 'other'", "same y (2)")
    invoke(base + ["--data", str(tmp_path / "flat_x.csv"), "--x", "other", "--y", "acc",
                   "--relation", "sigmoid"])  # a varying x: fitted as before


def test_at_n_d_with_an_accuracy_law_says_what_its_x_law_warns(tmp_path):
    """--at N,D with a sigmoid fits a Kaplan law of x to predict x; what that fit warned of (here
    step-0 rows left out) was dropped, while the shifted power law's Kaplan warnings are printed."""
    rows = []
    for n in np.geomspace(4e5, 6e6, 5):
        for d in (0, 2.5e5, 5e5, 1e6, 2e6, 4e6):
            L = 10.8 if d == 0 else float(law_forms.kaplan_nde(n, d, **PROSE))
            rows.append({"model": f"m{n:.0f}", "step": int(d // 1000), "params": n, "tokens": d,
                         "nll": L, "acc": float(relation_forms.sigmoid_accuracy(L, 0.5, -2.0, 3.5, 0.3))})
    data = tmp_path / "evals.csv"
    pd.DataFrame(rows).to_csv(data, index=False)
    doc = json.loads(invoke(["predict", "downstream", "--data", str(data), "--x", "nll", "--y", "acc",
                             "--relation", "sigmoid", "--at", "1e7,1e7", "--bootstrap", "20",
                             "--json"]).stdout)
    assert "x_predicted" in doc["prediction"]
    assert any(w.startswith("Kaplan L(N,D)+E fit of the x loss") and "D = 0 tokens" in w
               for w in doc["warnings"]), doc["warnings"]


def test_a_negative_at_x_is_refused_for_an_accuracy_law(tmp_path):
    """--at-x -2 (no loss is negative; the table's x column refuses one) printed a sigmoid's
    accuracy 1.09 as a projection."""
    L = np.linspace(2.0, 5.0, 25)
    data = tmp_path / "evals.csv"
    pd.DataFrame({"nll": L, "acc": relation_forms.sigmoid_accuracy(L, 1.0, -2.0, 3.5, 0.3)}
                 ).to_csv(data, index=False)
    one_line_error(["predict", "downstream", "--data", str(data), "--x", "nll", "--y", "acc",
                    "--relation", "sigmoid", "--bootstrap", "0", "--at-x=-2"],
                   "--at-x", "x = -2 is negative")
    text = " ".join(invoke(["predict", "downstream", "--help"]).stdout.split())
    assert "a loss, at least 0" in text and "error law: where its curve lies in [0, 1]" in text


def test_the_plot_labels_a_projection_as_one(shipped):
    """relation.png's legend called every --at/--at-x point a 'prediction', a projection too."""
    import matplotlib
    matplotlib.use("Agg")
    from scalefit.scaling.relations.downstream import run_downstream, shipped_runs
    from scalefit.scaling.relations.report import plot_relation
    runs = shipped_runs(pd.read_csv(shipped))
    for at, kind in ((dict(at_nd=(1e8, 1e9)), "projection"), (dict(at_nd=(1e6, 1e6)), "interpolation"),
                     (dict(at_nd=(2e6, 3e6)), "extrapolation")):
        out = run_downstream(runs, "loss", "loss_code_test", x_from="prose", group="distribution",
                             n_bootstrap=20, **at)
        assert out.prediction["kind"] == kind
        fig = plot_relation(out.fit, out.train, out.held, out.to_dict())
        labels = fig.axes[0].get_legend_handles_labels()[1]
        assert f"{kind} (95% CI of the curve)" in labels, labels


def test_at_n_d_without_params_says_what_at_needs(tmp_path):
    """--at N,D on a table without params/tokens, with a sigmoid, failed after the fit with the
    Kaplan-E advice (--e given, --e fit), which has nothing to do with an accuracy law."""
    L = np.linspace(2.0, 5.0, 25)
    data = tmp_path / "evals.csv"
    pd.DataFrame({"nll": L, "acc": relation_forms.sigmoid_accuracy(L, 0.5, -2.0, 3.5, 0.3)}
                 ).to_csv(data, index=False)
    result = invoke(["predict", "downstream", "--data", str(data), "--x", "nll", "--y", "acc",
                     "--relation", "sigmoid", "--bootstrap", "20", "--at", "1e9,1e10"], code=2)
    line = result.stderr.strip().splitlines()[-1]
    assert "evals.csv: column 'params' is missing: --at N,D" in line and "--at-x" in line
    assert "--e " not in line and "bootstrap" not in result.stderr  # refused before any fit


def test_the_header_prints_e_as_the_parameter_lines_do(shipped):
    """The header printed E_x = 0.7893 and the parameter line below it 0.8 (the digits its
    interval supports): one number printed two ways in one output."""
    import re
    text = invoke(["predict", "downstream", "--bootstrap", "50"]).stdout
    header = re.search(r"E_x = (\S+) \(\d+ runs\), E_y = (\S+) \(\d+ runs\)", text)
    lines = {m.group(1): m.group(2) for m in re.finditer(r"^  (E_[xy])\s+(\S+)\s+bootstrap", text, re.M)}
    assert header and (header.group(1), header.group(2)) == (lines["E_x"], lines["E_y"]), text


def test_kaplan_e_errors_name_the_files_column(tmp_path):
    """The Kaplan fit of E checks its runs under the name 'loss'; its errors named column 'loss',
    which the user's file (x in 'nll') does not have."""
    data = tmp_path / "three.csv"
    pd.DataFrame({"params": 1e6, "tokens": [1e8, 3e8, 1e9], "nll": [4.0, 3.6, 3.3],
                  "code": [3.0, 2.7, 2.5]}).to_csv(data, index=False)
    one_line_error(["predict", "downstream", "--data", str(data), "--x", "nll", "--y", "code",
                    "--bootstrap", "0"], "three.csv: column 'nll': 3 rows", "kaplan-nde")


def test_options_a_relation_would_ignore_are_refused(tmp_path):
    """--E-x/--E-y, --e and --method huber with an accuracy law, --method huber with --e fit and
    --match compute with train-to-test were each accepted and ignored without a word."""
    L = np.linspace(2.0, 5.0, 25)
    data = tmp_path / "evals.csv"
    pd.DataFrame({"model": [f"m{i}" for i in range(25)], "params": np.geomspace(1e6, 1e9, 25),
                  "tokens": 2e10, "nll": L, "code": 0.7 * (L - 1.2) ** 1.1 + 0.5,
                  "acc": relation_forms.sigmoid_accuracy(L, 0.5, -2.0, 3.5, 0.3)}).to_csv(data, index=False)
    base = ["predict", "downstream", "--data", str(data), "--x", "nll", "--bootstrap", "0"]
    acc = base + ["--y", "acc", "--relation", "sigmoid"]
    one_line_error(acc + ["--E-x", "1", "--E-y", "0.2"], "--E-x, --E-y", "--relation sigmoid")
    one_line_error(acc + ["--e", "kaplan"], "--e kaplan", "would ignore")
    one_line_error(base + ["--y", "acc", "--relation", "exponential-error", "--method", "huber"],
                   "--method huber", "--relation exponential-error")
    one_line_error(base + ["--y", "code", "--e", "fit", "--method", "huber"], "--method huber",
                   "--e fit")
    one_line_error(base + ["--y", "code", "--match", "compute"], "--match compute",
                   "train-to-test")
    one_line_error(["calibrate", "sigmoid", "--data", str(data), "--x", "nll", "--y", "acc",
                    "--bootstrap", "20", "--E-x", "1", "--E-y", "0.2"], "--E-x, --E-y")
    invoke(acc)  # without them: fitted
    invoke(base + ["--y", "code", "--method", "huber", "--E-x", "1", "--E-y", "0.2"])


def test_holdout_data_reads_as_data_does_subset_and_model(tmp_path):
    """Two faults on Pythia's tables (fit on the small models, score 6.9B and 12B): --subset
    num_fewshot=0 was not applied to the --holdout-data table ('2 settings'), and a target run
    was called fitted when a fitted run had its params, tokens and step (pythia-12b beside
    pythia-12b-deduped: two runs, told apart by the model)."""
    df = long_evals(tmp_path / "all.csv")
    data, targets = tmp_path / "fit.csv", tmp_path / "targets.csv"
    fitted, big = df[df["model"] != "m5"], df[df["model"] == "m5"]
    twin = big.assign(model="m5-deduped", value=big["value"] * 1.001)  # m5's size and schedule
    pd.concat([fitted, twin]).to_csv(data, index=False)
    big.to_csv(targets, index=False)
    doc = json.loads(invoke(["predict", "downstream", "--data", str(data), "--holdout-data",
                             str(targets), "--x", "lambada_openai:ppl", "--y", "piqa:acc",
                             "--subset", "num_fewshot=0", "--relation", "sigmoid",
                             "--bootstrap", "20", "--json"]).stdout)
    assert doc["holdout"]["n"] == 5  # m5's five 0-shot checkpoints
    assert {p["model"] for p in doc["holdout"]["points"]} == {"m5"}
    big.assign(model="m5-deduped").to_csv(targets, index=False)  # the fitted twin itself
    one_line_error(["predict", "downstream", "--data", str(data), "--holdout-data",
                    str(targets), "--x", "lambada_openai:ppl", "--y", "piqa:acc", "--subset",
                    "num_fewshot=0", "--relation", "sigmoid", "--bootstrap", "0"],
                   "5 of its 5 runs are also runs of")
    big.to_csv(targets, index=False)  # calibrate reads --holdout-data as predict does
    cal = json.loads(invoke(["calibrate", "sigmoid", "--data", str(data), "--holdout-data", str(targets),
                             "--x", "lambada_openai:ppl", "--y", "piqa:acc", "--subset",
                             "num_fewshot=0", "--bootstrap", "20", "--json"]).stdout)
    scored = pd.DataFrame(cal["predictions"]).query("target")
    assert set(scored["model"]) == {"m5"} and scored.groupby("cut_flops").size().eq(5).all()


def test_a_held_out_run_below_e_x_does_not_make_the_errors_nan(shipped):
    """With --E-x above one held-out run's x that run has no prediction; the mean error of all of
    them printed 'nan%' and the per-run line 'predicted=nan (+nan%)'."""
    args = ["predict", "downstream", "--holdout", "4", "--bootstrap", "20"]
    pairs = json.loads(invoke(args + ["--json"]).stdout)["holdout"]["points"]
    xs = sorted(p["x"] for p in pairs)
    e_x = (xs[0] + xs[1]) / 2  # above the lowest held-out x only
    doc = json.loads(invoke(args + ["--E-x", f"{e_x}", "--E-y", "0", "--json"]).stdout)["holdout"]
    rel = [p["relative_error"] for p in doc["points"]]
    assert sum(r is None for r in rel) == 1  # no prediction: JSON null
    assert doc["mean_abs_rel_error"] == pytest.approx(np.mean([abs(r) for r in rel if r is not None]))
    assert doc["undefined"].startswith("1 of 4 held-out runs have no prediction")
    assert [p["inside_pi95"] for p, r in zip(doc["points"], rel) if r is None] == [False]
    base = [p["baseline_relative_error"] for p, r in zip(doc["points"], rel) if r is not None]
    assert doc["baseline_mean_abs_rel_error"] == pytest.approx(np.mean(np.abs(base)))
    text = invoke(args + ["--E-x", f"{e_x}", "--E-y", "0"]).stdout
    assert "nan" not in text and "no prediction (x at or below E_x)" in text


def test_a_held_out_accuracy_of_0_is_scored_by_its_interval(tmp_path):
    """A held-out run of accuracy 0 (Gadre's bigbench repeat_copy_logic) got a relative error of
    +inf and was said to have 'no prediction (x at or below the fit's E_x)', while its interval
    counted it inside; its prediction stands, only its relative error is undefined."""
    n = np.geomspace(1e7, 3e9, 12)
    L = 2.0 + 40 * n ** -0.2
    acc = relation_forms.sigmoid_accuracy(L, 0.4, -4.0, 3.0, 0.01)
    acc[-1] = 0.0  # the largest run
    data = tmp_path / "runs.csv"
    pd.DataFrame({"params": n, "tokens": 20 * n, "nll": L, "acc": acc}).to_csv(data, index=False)
    args = ["predict", "downstream", "--data", str(data), "--x", "nll", "--y", "acc",
            "--relation", "sigmoid", "--holdout", "2", "--bootstrap", "20"]
    doc = json.loads(invoke(args + ["--json"]).stdout)["holdout"]
    assert "undefined" not in doc
    assert doc["zero_observed"].startswith("1 of 2 held-out runs observe y = 0")
    zero = [p for p in doc["points"] if p["y"] == 0]
    assert len(zero) == 1 and zero[0]["relative_error"] is None and zero[0]["predicted"] > 0
    other = [p["relative_error"] for p in doc["points"] if p["y"] > 0]
    assert doc["mean_abs_rel_error"] == pytest.approx(abs(other[0]))
    assert "(no relative error at y = 0)" in invoke(args).stdout


def test_an_accuracy_outside_0_1_names_the_file_column_and_run(tmp_path):
    """A percentage accuracy was refused as 'sigmoid: point 1: 26.3 is not a fraction', naming
    neither the file, the column nor the run."""
    L = np.linspace(2.0, 5.0, 12)
    data = tmp_path / "evals.csv"
    pd.DataFrame({"model": [f"m{i}" for i in range(12)], "nll": L,
                  "acc": 100 * relation_forms.sigmoid_accuracy(L, 0.5, -2.0, 3.5, 0.3)}
                 ).to_csv(data, index=False)
    one_line_error(["predict", "downstream", "--data", str(data), "--x", "nll", "--y", "acc",
                    "--relation", "sigmoid", "--bootstrap", "0"],
                   "evals.csv: column 'acc' (model m0):", "not a fraction in [0, 1]",
                   "12 such values", "not a percentage")


def test_too_few_pairs_for_an_accuracy_law_names_the_file(tmp_path):
    """Four pairs for a sigmoid were refused as 'sigmoid: 4 usable points; need at least 5'."""
    L = np.linspace(2.0, 5.0, 4)
    data = tmp_path / "four.csv"
    pd.DataFrame({"nll": L, "acc": relation_forms.sigmoid_accuracy(L, 0.5, -2.0, 3.5, 0.3)}
                 ).to_csv(data, index=False)
    one_line_error(["predict", "downstream", "--data", str(data), "--x", "nll", "--y", "acc",
                    "--relation", "sigmoid", "--bootstrap", "0"],
                   "four.csv: only 4 (x, y) pairs of 'nll' and 'acc'", "at least 5")


def test_a_rerun_without_holdout_leaves_no_stale_holdout_table(shipped, tmp_path):
    """--out R with --holdout 2, then --out R without: R/holdout.csv of the first fit stayed
    beside the second fit's report.md and result.json. Another setting is now refused there (the
    folder keeps the first fit whole); the same setting rewrites it, and an emptied folder takes
    the second without a stale holdout table."""
    out = tmp_path / "R"
    invoke(["predict", "downstream", "--holdout", "2", "--bootstrap", "20", "--out", str(out)])
    assert (out / "holdout.csv").exists()
    first = {f.name: f.read_bytes() for f in out.iterdir()}
    assert "(--holdout 2 there, (default) here)" in invoke(
        ["predict", "downstream", "--bootstrap", "20", "--out", str(out)], code=2).output
    assert {f.name: f.read_bytes() for f in out.iterdir()} == first
    for f in out.iterdir():
        f.unlink()
    invoke(["predict", "downstream", "--bootstrap", "20", "--out", str(out)])
    assert not (out / "holdout.csv").exists()
    assert "holdout" not in json.loads((out / "result.json").read_text())


def test_an_estimate_outside_its_own_interval_is_said_so():
    """--bootstrap 2 on the shipped table printed 'E_y 2.106  bootstrap 95% CI [2.5099, 3.5125]'
    with no word that the interval does not hold the estimate (as fit schedule-law now says)."""
    from scalefit.scaling.relations.report import downstream_text, params_frame
    out = {"relation": "shifted-power", "pairing": "train-to-test", "x": "a", "y": "b",
           "n_points": 21, "method": "ols", "e_source": "given", "bootstrap": {"n": 2},
           "warnings": [],
           "params": {"K": {"value": 0.58, "stderr": 0.1, "ci95": [0.47, 1.5]},
                      "E_x": {"value": 2.1e-14, "stderr": 1.0, "ci95": [0.0758, 2.958]},
                      "E_y": {"value": 2.106, "stderr": 0.7, "ci95": [2.5099, 3.5125]}}}
    lines = {line.split()[0]: line for line in downstream_text(out).splitlines()
             if "bootstrap 95% CI" in line}
    assert "outside its bootstrap interval" in lines["E_y"] and "outside" in lines["E_x"]
    assert "outside" not in lines["K"]
    frame = params_frame(out).set_index("param")["identified"]
    assert "outside its bootstrap interval" in frame["E_y"] and "outside" not in frame["K"]

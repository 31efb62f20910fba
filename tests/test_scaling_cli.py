"""`scalefit fit` and `scalefit compare` end to end: pure --json parsed back, --out files."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from scalefit.cli import main
from scalefit.scaling.laws import forms as law_forms
from scalefit.scaling.laws.cli import default_runs_path
from scalefit.scaling.laws.projection import BEYOND_RUNS

PARAM_KEYS = {"value", "stderr", "stderr_fit", "ci95"}


def make_runs(path):
    rng = np.random.default_rng(1)
    N, tpp = np.meshgrid(np.geomspace(2e7, 5e9, 7), [4, 10, 25, 60, 150], indexing="ij")
    N = N.ravel()
    D = N * tpp.ravel()
    L = law_forms.chinchilla(N, D, 1.8, 480, 2000, 0.35, 0.37) * np.exp(rng.normal(0, 0.004, N.size))
    df = pd.DataFrame({"model": [f"m{i}" for i in range(N.size)], "params": N,
                       "params_nonembed": 0.85 * N, "tokens": D, "flops": 6 * N * D, "loss": L})
    df.to_csv(path, index=False)
    return df


def invoke(args):
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output + result.stderr
    return result


def test_compare_json_and_report(tmp_path):
    data = tmp_path / "runs.csv"
    make_runs(data)
    out = tmp_path / "report"
    result = invoke(["compare", "kaplan", "chinchilla", "--data", str(data), "--json",
                     "--holdout", "0.2", "--bootstrap", "20", "--out", str(out)])
    doc = json.loads(result.stdout)  # stdout holds exactly one JSON document
    assert set(doc["fits"]) == {"kaplan", "chinchilla"}
    for name, fit in doc["fits"].items():
        assert {"law", "n_points", "objective", "converged", "params", "allocation"} <= set(fit)
        assert all(set(p) == PARAM_KEYS for p in fit["params"].values())
        assert {"a", "b"} <= set(fit["allocation"])
        assert fit["holdout"]["n"] == 7 and len(fit["holdout"]["relative_error"]) == 7
        assert {"rmse_log", "aic", "bic"} <= set(fit)
    assert set(doc["fits"]["chinchilla"]["params"]) == {"E", "A", "B", "alpha", "beta"}
    assert set(doc["fits"]["kaplan"]["params"]) == {"N_c", "D_c", "alpha_N", "alpha_D"}
    assert doc["fits"]["kaplan"]["n_column"] == "params_nonembed"
    # budgets from the data's range (issue 15): 10x, 100x the largest fitted run, the largest
    # held-out run, and the published budgets within 1000x; each says how far and what it is
    c_max = doc["largest_fitted_flops"]
    held = max(doc["fits"]["chinchilla"]["holdout"]["flops"])
    expected = sorted({float(f"{c:.6g}") for c in (10 * c_max, 100 * c_max, held,
                                                   *[c for c in (1e21, 5.76e23, 1e25)
                                                     if c <= 1000 * c_max])})
    assert [b["flops"] for b in doc["budgets"]] == expected
    for row in doc["budgets"]:
        assert row["times_largest_run"] == pytest.approx(row["flops"] / c_max)
        near = [c for c in doc["fits"]["chinchilla"]["holdout"]["flops"]
                if row["flops"] / 2 <= c <= 2 * row["flops"]]
        assert row["held_out_runs_near"] == len(near)
        beyond = "outside_runs" in row  # a held-out run near, the optimum beyond every run (s45)
        assert row["kind"] == ((BEYOND_RUNS if beyond else "prediction") if near else
                               "interpolation" if row["flops"] <= c_max else "projection")
        assert row["chinchilla_loss_ci95"][0] <= row["chinchilla_loss"] \
            <= row["chinchilla_loss_ci95"][1]
    assert "non-embedding" in doc["budget_convention"]
    assert len(doc["explanation"]) == 2
    for name in ("report.md", "params.csv", "metrics.csv", "budgets.csv", "compare.json",
                 "loss_vs_n.png", "loss_vs_n.svg", "frontiers.png", "frontiers.svg",
                 "residuals.png", "residuals.svg"):
        assert (out / name).stat().st_size > 0, name
    assert "chinchilla" in (out / "report.md").read_text()
    # the stderr a reader quotes is one number everywhere: --json's stderr (the bootstrap's, half its
    # draws' central 68% range), params.csv's, and the text table's "bootstrap se"; the JSON's stderr was the curvature one
    # (2-3x too wide for exponents, too narrow for A and B), now stderr_fit
    table = pd.read_csv(out / "params.csv").set_index(["law", "param"])
    for name, fit in doc["fits"].items():
        assert fit["stderr_from"].startswith("bootstrap: ") and "20 resamples" in fit["stderr_from"]
        for param, p in fit["params"].items():
            assert np.isfinite(p["stderr"]) and p["stderr"] != p["stderr_fit"]
            assert table.loc[(name, param), "stderr"] == pytest.approx(p["stderr"], rel=1e-9)
        assert table.loc[(name, "a (allocation)"), "stderr"] == pytest.approx(fit["allocation"]["a_stderr"], rel=1e-9)
    args = ["fit", "chinchilla", "--data", str(data), "--bootstrap", "20"]
    text, fit = invoke(args).stdout, json.loads(invoke([*args, "--json"]).stdout)
    beta = next(line.split() for line in text.splitlines() if line.split()[:1] == ["beta"])
    assert float(beta[2]) == float(f"{fit['params']['beta']['stderr']:.2g}")  # the text: 2 significant digits
    bare = json.loads(invoke([*args[:-2], "--bootstrap", "0", "--json"]).stdout)
    assert bare["stderr_from"].startswith("fit: ") and \
        all(p["stderr"] == p["stderr_fit"] for p in bare["params"].values())


def test_fit_human_table_and_json(tmp_path):
    data = tmp_path / "runs.parquet"
    make_runs(tmp_path / "runs.csv").to_parquet(data)
    text = invoke(["fit", "chinchilla", "--data", str(data), "--bootstrap", "0"]).stdout
    assert "alpha" in text and "starts reaching the best optimum" in text
    doc = json.loads(invoke(["fit", "kaplan-nde", "--data", str(data), "--json",
                             "--bootstrap", "10", "--delta", "0.01"]).stdout)
    assert doc["law"] == "kaplan-nde" and doc["delta"] == 0.01
    assert all(np.isfinite(p["ci95"][0]) for p in doc["params"].values())


def test_fit_isoflop_cli(tmp_path):
    from tests.test_scaling_recovery import isoflop_runs
    data = tmp_path / "iso.csv"
    isoflop_runs().to_csv(data, index=False)
    out = tmp_path / "iso"
    doc = json.loads(invoke(["fit", "isoflop", "--data", str(data), "--json", "--out", str(out),
                             "--isoflop-method", "akima", "--bootstrap", "50"]).stdout)
    assert doc["law"] == "isoflop" and 0.4 < doc["allocation"]["a"] < 0.6
    assert (out / "isoflop_optima.csv").exists() and (out / "frontiers.svg").exists()


def test_default_data_path():
    """No --data: the shipped mini-suite table, with published constants beside the fits."""
    path = default_runs_path()
    result = CliRunner().invoke(main, ["compare", "kaplan", "chinchilla", "--json",
                                       "--bootstrap", "10"])
    assert path.exists()  # the mini suite ships with the package
    assert result.exit_code == 0, result.output + result.stderr
    doc = json.loads(result.stdout)
    assert "Besiroglu 2024 replication" in doc["published"]["chinchilla"]
    shipped = pd.read_csv(path)
    grid = shipped[shipped["part"] == "grid"]
    assert len(grid) < len(shipped)  # warmup variants and code runs stay out of the default fit
    assert {fit["n_points"] for fit in doc["fits"].values()} == {len(grid)}
    assert "part=grid" in doc["data"]


def test_holdout_keeps_largest_compute_runs_out(tmp_path):
    data = tmp_path / "runs.csv"
    df = make_runs(data)
    doc = json.loads(invoke(["fit", "chinchilla", "--data", str(data), "--json",
                             "--holdout", "5", "--bootstrap", "0"]).stdout)
    assert doc["n_points"] == len(df) - 5
    assert sorted(doc["holdout"]["flops"]) == sorted(df["flops"].nlargest(5))
    assert doc["holdout"]["mean_abs_rel_error"] < 0.05  # the law extrapolates its own data


def test_explanation_reads_the_design_and_schedule():
    from scalefit.scaling.laws.compare import compare_laws
    rng = np.random.default_rng(2)
    N = np.repeat(np.geomspace(2e7, 5e9, 8), 3)
    D = N * np.tile([10.0, 20.0, 40.0], 8)
    L = law_forms.chinchilla(N, D, 1.8, 480, 2000, 0.35, 0.37) * np.exp(rng.normal(0, .003, N.size))
    steps = (D / 1024).round()
    runs = pd.DataFrame({"params": N, "tokens": steps * 1024, "loss": L, "steps": steps,
                         "batch_tokens": 1024})
    runs.loc[:5, "steps"] *= 2  # six runs read mid-way through a longer schedule
    cmp = compare_laws(runs, ("kaplan", "chinchilla"), n_bootstrap=0)
    first, second = cmp.explanation
    assert "8 of the 8 model sizes" in first and "tokens per parameter 10 to 40" in first
    assert "18 of 24 runs" in second
    single = runs.groupby("params").head(1)
    first, _ = compare_laws(single, ("kaplan", "chinchilla"), n_bootstrap=0).explanation
    assert first.startswith("Only 0 of the 8 model sizes")


def test_subset_filters_rows(tmp_path):
    data = tmp_path / "runs.csv"
    df = make_runs(data)
    df["distribution"] = np.where(df.index % 2 == 0, "prose", "code")
    df.to_csv(data, index=False)
    doc = json.loads(invoke(["fit", "chinchilla", "--data", str(data), "--json", "--bootstrap",
                             "0", "--subset", "distribution=prose"]).stdout)
    assert doc["n_points"] == int((df.distribution == "prose").sum())
    bad = CliRunner().invoke(main, ["fit", "chinchilla", "--data", str(data),
                                    "--subset", "distribution=poetry"])
    assert bad.exit_code == 2 and "poetry" in bad.stderr


def test_unwritable_out_and_plot_paths_are_refused_before_any_fit(tmp_path):
    """--out below a file, --plot with no writer or in no folder: one line, exit 2, up front."""
    data = tmp_path / "runs.csv"
    make_runs(data)
    afile = tmp_path / "afile"
    afile.write_text("")
    for command in (["fit", "chinchilla", "--data", str(data)],
                    ["compare", "--data", str(data)],
                    ["calibrate", "chinchilla", "--data", str(data)],
                    ["reconcile", "--data", str(data), "--by", "model"],
                    ["predict", "downstream"]):
        result = CliRunner().invoke(main, [*command, "--out", str(afile / "sub")])
        assert result.exit_code == 2, result.output
        assert result.output.strip() == (f"error: --out {afile / 'sub'}: '{afile}' is a file, so "
                                         "no folder can be made below it; expected a folder to "
                                         "write into"), result.output
    result = CliRunner().invoke(main, ["compare", "--schedules", "--plot", str(tmp_path / "x.txt")])
    assert result.exit_code == 2 and "unknown figure format '.txt'" in result.output
    result = CliRunner().invoke(main, ["compare", "--schedules", "--plot",
                                       str(tmp_path / "nodir" / "x.png")])
    assert result.exit_code == 2 and "nodir' does not exist" in result.output


def test_fit_and_compare_state_a_budget_in_one_convention(tmp_path):
    """fit kaplan used C = 6 N_nonembed D, compare C = 6 N D (total): two N* at one budget."""
    data = tmp_path / "runs.csv"
    make_runs(data)
    args = ["--data", str(data), "--bootstrap", "0", "--json", "--budget", "1e21"]
    fit = json.loads(invoke(["fit", "kaplan", *args]).stdout)
    cmp = json.loads(invoke(["compare", "kaplan", "chinchilla", *args]).stdout)
    alone, beside, top = (fit["allocation"]["budgets"][0],
                          cmp["fits"]["kaplan"]["allocation"]["budgets"][0], cmp["budgets"][0])
    assert alone["N_opt"] == pytest.approx(top["kaplan_N_opt"], rel=1e-9)
    assert beside["N_opt"] == pytest.approx(top["kaplan_N_opt"], rel=1e-9)
    assert alone["loss"] == pytest.approx(top["kaplan_loss"], rel=1e-9)
    assert "converted to total parameters" in fit["allocation"]["budget_convention"]
    text = invoke(["fit", "kaplan", "--data", str(data), "--bootstrap", "0", "--budget", "1e21"])
    assert "N: Kaplan's non-embedding N converted to total parameters" in text.output


def test_isoflop_bootstrap_puts_intervals_on_its_budgets(tmp_path):
    """--bootstrap 20 printed 'no intervals: run with --bootstrap N' and a blank 'N: N = '."""
    from test_reconcile import isoflop_grid
    data = tmp_path / "iso.csv"
    isoflop_grid(0.34, 0.28, "a", 1).to_csv(data, index=False)
    text = invoke(["fit", "isoflop", "--data", str(data), "--bootstrap", "20"]).output
    assert "95% intervals from the parametric draws" in text and "no intervals" not in text
    assert "N: N = params" in text
    doc = json.loads(invoke(["fit", "isoflop", "--data", str(data), "--bootstrap", "20",
                             "--json"]).stdout)
    for row in doc["allocation"]["budgets"]:
        lo, hi = row["N_opt_ci95"]
        assert lo <= row["N_opt"] <= hi


def test_columns_refuses_an_unknown_key_and_an_empty_mapping(tmp_path):
    """--columns foo=Tokens was accepted (then 'column loss is missing'); --columns '' ignored."""
    data = tmp_path / "renamed.csv"
    make_runs(tmp_path / "runs.csv").rename(columns={"tokens": "Tokens"}).to_csv(data, index=False)
    for command in (["fit", "chinchilla"], ["compare"], ["calibrate", "chinchilla"]):
        bad = CliRunner().invoke(main, [*command, "--data", str(data), "--columns", "foo=Tokens"])
        assert bad.exit_code == 2
        assert bad.output.startswith("error: --columns: unknown key 'foo' (in foo=Tokens); keys: "
                                     "params, params_nonembed, tokens,"), bad.output
        bad = CliRunner().invoke(main, [*command, "--data", str(data), "--columns", ""])
        assert bad.exit_code == 2 and bad.output.startswith("error: --columns: empty; expected "
                                                            "KEY=COL"), bad.output
    invoke(["fit", "chinchilla", "--data", str(data), "--columns", "tokens=Tokens",
            "--bootstrap", "0"])


def test_isoflop_method_only_with_the_isoflop_law(tmp_path):
    data = tmp_path / "runs.csv"
    make_runs(data)
    bad = CliRunner().invoke(main, ["fit", "chinchilla", "--data", str(data),
                                    "--isoflop-method", "akima"])
    assert bad.exit_code == 2
    assert bad.output.strip() == "error: --isoflop-method: only with LAW isoflop (got chinchilla)"


def test_compare_help_names_its_argument_laws():
    """The positional argument is the laws to compare, said so in the usage line and the epilog."""
    out = CliRunner().invoke(main, ["compare", "--help"]).output
    assert "Usage: scalefit compare [OPTIONS] [LAWS]..." in out
    assert "LAWS: any of kaplan-n" in " ".join(out.split()) and "REGISTRY" not in out


@pytest.mark.parametrize("law, columns", [("kaplan-n", ["params"]), ("kaplan-d", ["tokens"]),
                                          ("kaplan-c", ["flops"])])
def test_a_law_of_one_variable_fits_a_table_of_that_column_alone(tmp_path, law, columns):
    """kaplan-n on (model, params, loss) was a KeyError 'C' traceback; kaplan-d on tokens alone
    printed two numpy 'All-NaN slice' warnings; --out died on KeyError 'D' in the loss-vs-N plot;
    --holdout on a table without compute held out every run ('keeping 5 of 5 runs out')."""
    import warnings
    N = np.geomspace(1e7, 1e9, 6)
    D = 20 * N
    df = pd.DataFrame({"model": [f"m{i}" for i in range(6)], "params": N, "tokens": D,
                       "flops": 6 * N * D, "loss": 1.5 * (1e14 / N) ** 0.07})
    path = tmp_path / "runs.csv"
    df[["model", *columns, "loss"]].to_csv(path, index=False)
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        result = invoke(["fit", law, "--data", str(path), "--bootstrap", "20", "--json",
                         "--out", str(tmp_path / "out")])
    assert not [w for w in seen if issubclass(w.category, RuntimeWarning)]
    assert json.loads(result.stdout)["law"] == law
    assert {"report.md", "params.csv", "fit.json"} <= {p.name for p in (tmp_path / "out").iterdir()}
    held = CliRunner().invoke(main, ["fit", law, "--data", str(path), "--holdout", "1"])
    if columns == ["flops"]:  # compute is the table's one column: the largest run is held out
        assert held.exit_code == 0 and "held-out:" in held.stdout, held.output
    else:
        assert held.exit_code == 2
        assert f"--holdout: {path} gives no compute" in held.output
        assert len(held.output.strip().splitlines()) == 1


def test_kaplan_c_predicts_held_out_runs_at_their_own_compute(tmp_path):
    """kaplan-c is fitted to the flops column, but a held-out run (and calibrate's, and the
    residual plot) was predicted at C = 6 x params_nonembed x tokens, the N Kaplan counts: on the
    shipped grid 0 of 3 held-out runs inside their intervals at 9.1% error, against 3 of 3 at
    3.7% for the same fit given flops alone. Both tables now give the same predictions."""
    runs = pd.read_csv(default_runs_path())
    runs = runs[runs["part"] == "grid"]
    full, flops_only = tmp_path / "full.csv", tmp_path / "flops.csv"
    runs[["model", "params", "params_nonembed", "tokens", "flops", "loss"]].to_csv(full, index=False)
    runs[["model", "flops", "loss"]].to_csv(flops_only, index=False)
    docs = [json.loads(invoke(["fit", "kaplan-c", "--data", str(path), "--holdout", "3",
                               "--bootstrap", "20", "--json"]).stdout)["holdout"]
            for path in (full, flops_only)]
    assert docs[0]["predicted"] == pytest.approx(docs[1]["predicted"], rel=1e-9)
    assert docs[0]["mean_abs_rel_error"] < 0.05


def test_compare_of_laws_without_an_allocation_says_so_instead_of_a_nan(tmp_path):
    """compare kaplan-n kaplan-d printed 'kaplan-n a = nan vs kaplan-d a = nan (only 100
    bootstrap resamples, too few ...)' and an empty budget table under its heading."""
    data = tmp_path / "runs.csv"
    make_runs(data)
    text = invoke(["compare", "kaplan-n", "kaplan-d", "--data", str(data), "--bootstrap",
                   "100"]).stdout
    assert "nan" not in text and "too few" not in text
    assert ("compute-optimal allocation: none (kaplan-n, kaplan-d read one variable each; an "
            "allocation needs a law of N and D)") in text
    assert ("kaplan-n sets no allocation (it reads N only) vs kaplan-d sets no allocation (it "
            "reads D only) (no two allocations to compare)") in text
    # and no sentence that holds only for laws of N and D: these read one variable each
    assert "see the N-D trade-off" not in text and "Kaplan's N counts" not in text


def test_holdout_that_leaves_too_few_runs_or_meets_isoflop_is_said_as_such(tmp_path):
    """--holdout 15 of the shipped 20 runs said "column 'loss': 5 rows, law chinchilla needs at
    least 6 points", not naming --holdout; fit isoflop --holdout 3 ignored the option unsaid."""
    for command in (["fit", "chinchilla"], ["compare"]):
        result = CliRunner().invoke(main, [*command, "--holdout", "15", "--bootstrap", "0"])
        assert result.exit_code == 2
        assert result.output.strip() == ("error: --holdout: keeping 15 of 20 runs out leaves 5; the fit "
                                         "needs at least 6 (hold out at most 14)")
    assert CliRunner().invoke(main, ["fit", "chinchilla", "--holdout", "14", "--bootstrap",
                                     "0"]).exit_code == 0
    data = tmp_path / "iso.csv"
    rows = [{"params": N, "tokens": C / (6 * N), "flops": C,
             "loss": 1.7 + 400 / N ** 0.34 + 410 / (C / (6 * N)) ** 0.28}
            for C in np.geomspace(1e18, 1e20, 4) for N in np.geomspace(3e7, 3e9, 9) * (C / 1e18) ** 0.5]
    pd.DataFrame(rows).to_csv(data, index=False)
    iso = CliRunner().invoke(main, ["fit", "isoflop", "--data", str(data), "--holdout", "3"])
    assert iso.exit_code == 2 and "--holdout: law isoflop sets an allocation and predicts no loss" in iso.output
    assert invoke(["fit", "isoflop", "--data", str(data), "--bootstrap", "0"]).exit_code == 0


def test_subset_matches_numbers_and_says_when_filters_combine_to_nothing(tmp_path):
    """--subset tokens=2.4576e5 matched no row of tokens 245760 (text compared); two --subset
    of one column said "no row has the value '532480'" of a value the table has: the filters
    combine, and the first had removed it."""
    one = invoke(["fit", "kaplan-n", "--subset", "tokens=2.4576e5", "--bootstrap", "0", "--json"])
    shipped = pd.read_csv(default_runs_path())
    assert json.loads(one.stdout)["n_points"] == int((shipped["tokens"] == 245760).sum()) > 0
    both = CliRunner().invoke(main, ["fit", "kaplan-n", "--subset", "tokens=245760", "--subset",
                                     "tokens=532480", "--bootstrap", "0"])
    assert both.exit_code == 2
    assert "--subset tokens=532480: no row left after tokens=245760; --subset filters combine" in both.output
    none = CliRunner().invoke(main, ["fit", "kaplan-n", "--subset", "tokens=1", "--bootstrap", "0"])
    assert none.exit_code == 2 and "--subset 'tokens=1': no row has tokens = '1'" in none.output


def test_checkpoints_of_one_run_per_size_are_not_said_to_be_trained_at_each_length(tmp_path):
    """A Kaplan-style table (model, step: four checkpoints of one run per size) read '5 of the 5
    model sizes were trained at several token counts', and the next sentence that the token
    counts come from intermediate checkpoints of one schedule per model."""
    df = make_runs(tmp_path / "runs.csv")
    df["model"] = [f"m{i // 5}" for i in range(len(df))]
    df["step"] = [1000 * (i % 5 + 1) for i in range(len(df))]
    path = tmp_path / "checkpoints.csv"
    df.to_csv(path, index=False)
    text = invoke(["compare", "--data", str(path), "--bootstrap", "0"]).stdout
    assert "model sizes were measured (as checkpoints of one run each) at several token counts" in text
    assert "were trained at" not in text
    assert "Token counts come from intermediate checkpoints of one schedule per model" in text


def test_a_budget_given_is_not_said_to_be_left_out():
    """compare --budget 1e21 printed the 1e21 projection, then 'published budgets 1e+21, 5.76e+23,
    1e+25 FLOPs left out ... pass --budget FLOPS to project there anyway' under it."""
    for command in (["compare"], ["fit", "chinchilla"]):
        text = CliRunner().invoke(main, [*command, "--budget", "1e21", "--bootstrap", "0"]).stdout
        line = next(x for x in text.splitlines() if x.startswith("published budgets"))
        assert line == ("published budgets 5.76e+23, 1e+25 FLOPs not shown: the budgets given "
                        "(--budget) replace the default ones"), line  # not their distance (S7)
    default = CliRunner().invoke(main, ["compare", "--bootstrap", "0"]).stdout
    assert "published budgets 1e+21, 5.76e+23, 1e+25 FLOPs left out" in default


def test_out_folder_never_mixes_the_results_of_two_settings(tmp_path):
    """compare --bootstrap 0 --out R, then compare --bootstrap 20 --seed 3 --out R, then fit
    chinchilla --out R, then calibrate --out R: each overwrote some of the files (report.md,
    params.csv, budgets.csv) and left the others, so one folder held four settings' results."""
    from tests.test_reconcile import isoflop_grid

    data = tmp_path / "runs.csv"
    make_runs(data)
    out = tmp_path / "report"
    first = ["compare", "--data", str(data), "--bootstrap", "0", "--out", str(out)]
    invoke(first)
    written = {p.name: p.read_bytes() for p in out.iterdir()}
    assert "scalefit_settings.json" in written and "report.md" in written
    for args, says in [
            (["compare", "--data", str(data), "--bootstrap", "20", "--seed", "3"],
             "(--bootstrap 0 there, 20 here; --seed 0 there, 3 here)"),
            (["fit", "chinchilla", "--data", str(data), "--bootstrap", "0"],
             "(written by `compare`, this is `fit`)"),
            (["calibrate", "chinchilla", "--data", str(data), "--bootstrap", "2"],
             "(written by `compare`, this is `calibrate`)")]:
        bad = CliRunner().invoke(main, [*args, "--out", str(out)])
        assert bad.exit_code == 2, bad.output
        assert bad.output.strip().splitlines() == [
            f"error: --out {out}: holds the results of other settings {says}; a folder holds the "
            "results of one command and its options: give a new or empty folder, or remove what "
            "it holds"]
        assert {p.name: p.read_bytes() for p in out.iterdir()} == written  # nothing touched
    # the same settings again: --json only changes stdout, and no LAWS means kaplan chinchilla
    invoke(["compare", "kaplan", "chinchilla", *first[1:], "--json"])
    assert {p.name for p in out.iterdir()} == set(written)
    # a folder of files no setting is recorded for (a user's own, an interrupted run's)
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    (mixed / "notes.txt").write_text("mine")
    isoflop_grid(0.34, 0.28, "a", 1).to_csv(tmp_path / "iso.csv", index=False)
    bad = CliRunner().invoke(main, ["reconcile", "--data", str(tmp_path / "iso.csv"), "--by",
                                    "condition", "--bootstrap", "0", "--out", str(mixed)])
    assert bad.exit_code == 2 and bad.output.startswith(
        f"error: --out {mixed}: holds 1 file (e.g. notes.txt) and no scalefit_settings.json"), bad.output
    assert [p.name for p in mixed.iterdir()] == ["notes.txt"]


def test_a_folder_from_before_a_command_gained_an_option_is_its_setting(tmp_path):
    """A compare --out folder recorded before compare had --published (its record lacks the key)
    was refused on a re-run as 'holds the results of other settings ()': an option a record
    lacks reads as left out. Giving the new option a value is another setting, and says so."""
    import json

    data = tmp_path / "runs.csv"
    make_runs(data)
    out = tmp_path / "report"
    args = ["compare", "--data", str(data), "--bootstrap", "0", "--out", str(out)]
    invoke(args)
    record = out / "scalefit_settings.json"
    settings = json.loads(record.read_text())
    assert settings["options"].pop("--published") is None
    record.write_text(json.dumps(settings))  # as scalefit wrote it before --published
    again = CliRunner().invoke(main, args)
    assert again.exit_code == 0, again.output
    bad = CliRunner().invoke(main, [*args, "--published"])
    assert bad.exit_code == 2 and "(--published (default) there, True here)" in bad.output, bad.output


def test_isoflop_objective_is_not_called_a_huber_objective(tmp_path):
    """fit isoflop printed 'Huber objective 0.0564' for the squared log N* residuals about its
    line (no Huber loss is involved), and compare put that number in one 'objective' column with
    the loss fits' Huber objectives, where it read as a fit 30x worse; starts_at_best was ' /'."""
    from tests.test_reconcile import isoflop_grid

    data = tmp_path / "iso.csv"
    isoflop_grid(0.34, 0.28, "a", 1).drop(columns="condition").to_csv(data, index=False)
    first = invoke(["fit", "isoflop", "--data", str(data), "--bootstrap", "0"]).stdout.splitlines()[0]
    assert first.startswith("law isoflop: 7 budget optima, sum of squared log N* residuals about "
                            "the line ") and "Huber" not in first
    doc = json.loads(invoke(["compare", "kaplan", "isoflop", "--data", str(data), "--bootstrap",
                             "0", "--json"]).stdout)
    from scalefit.scaling.laws.report import metrics_frame
    metrics = metrics_frame(doc["fits"]).set_index("law")
    assert np.isnan(metrics.loc["isoflop", "objective"]) and metrics.loc["isoflop", "starts_at_best"] == "-"
    assert metrics.loc["kaplan", "objective"] == doc["fits"]["kaplan"]["objective"]


def test_a_budget_row_left_blank_says_why():
    """compare --budget 1e40: Kaplan's row was '-' in every column with no word why (its
    converted optimum runs off the N it searches), beside Chinchilla's numbers."""
    from scalefit.scaling.laws.report import projection_lines

    rows = [{"flops": 1e40, "times_largest_run": 4e26, "kind": "projection",
             "kaplan_N_opt": float("nan"), "kaplan_D_opt": float("nan"),
             "chinchilla_N_opt": 4.4e19, "chinchilla_D_opt": 3.8e19},
            {"flops": 1e30, "times_largest_run": 4e16, "kind": "projection",
             "kaplan_N_opt": 2e19, "kaplan_D_opt": 8e9,
             "chinchilla_N_opt": 3e14, "chinchilla_D_opt": 5e14}]
    lines = projection_lines(rows, ["kaplan", "chinchilla"])
    said = [ln for ln in lines if ln.startswith("-: ")]
    assert said == ["-: kaplan has no optimum at 1e+40 FLOPs within the N searched (about 1e-6 "
                    "to 1e6 x sqrt(C/6)): its frontier leaves that range"]


def test_compare_report_says_where_its_stderr_comes_from(tmp_path):
    """compare --bootstrap 0 --out: report.md headed the parameters 'stderr and CI from the
    bootstrap' above the fit's curvature stderrs and empty CI columns."""
    data = tmp_path / "runs.csv"
    make_runs(data)
    for n in ("0", "20"):
        out = tmp_path / f"b{n}"
        invoke(["compare", "--data", str(data), "--bootstrap", n, "--out", str(out)])
        heads = [ln for ln in (out / "report.md").read_text().splitlines()
                 if ln.startswith("## Parameters")]
        assert heads == [("## Parameters (no bootstrap: stderr is the fit's curvature, no 95% "
                          "CI; run with --bootstrap N for them)") if n == "0" else
                         ("## Parameters (stderr and 95% CI from the bootstrap draws, stderr half the "
                          "central 68% range of its estimates; stderr_fit: the fit's curvature, "
                          "for diagnosis)")]


def test_isoflop_budget_table_has_no_column_of_dashes(tmp_path):
    """fit isoflop printed a 'loss' column of '-' in every row: the law has no loss surface."""
    from tests.test_reconcile import isoflop_grid

    data = tmp_path / "iso.csv"
    isoflop_grid(0.34, 0.28, "a", 1).drop(columns="condition").to_csv(data, index=False)
    lines = invoke(["fit", "isoflop", "--data", str(data), "--bootstrap", "20"]).stdout.splitlines()
    header = lines[lines.index(next(ln for ln in lines if ln.startswith("compute-optimal"))) + 1]
    assert header.split() == ["FLOPs", "x", "largest", "run", "kind", "N*", "D*", "D*/N*"]

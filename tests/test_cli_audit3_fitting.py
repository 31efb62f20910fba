"""What a third audit of the fitting commands (fit, compare, calibrate, reconcile, predict) found,
pointing them at tables as researchers have them: a '-' or a number printed without a word
saying why, an estimate outside its own interval said nowhere. Each test fails on the old code."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from scalefit.cli import main


def grid_runs(path, tokens_per_param=None, seed=0):
    """A 5 x 5 grid of runs on Chinchilla's form with 1% log noise; with ``tokens_per_param``
    every run is trained at D = that x N instead (N and D move together)."""
    rng = np.random.default_rng(seed)
    rows = []
    for N in (1e7, 3e7, 1e8, 3e8, 1e9):
        for D in (1e8, 3e8, 1e9, 3e9, 1e10):
            D = D if tokens_per_param is None else N * tokens_per_param * D / 1e8
            loss = (1.7 + 400 / N ** 0.34 + 410 / D ** 0.28) * np.exp(rng.normal(0, 0.01))
            rows.append({"params": N, "tokens": D, "flops": 6 * N * D, "loss": loss})
    pd.DataFrame(rows).to_csv(path, index=False)
    return str(path)


def run(args):
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    return result


def fit_dict(**params):
    """A law fit's to_dict() with a bootstrap of 20 and the given {name: (value, sd, lo, hi, status)}."""
    return {"law": "chinchilla", "n_points": 25, "objective": 1e-4, "converged": True,
            "params": {k: {"value": v, "stderr": sd, "stderr_fit": sd, "ci95": [lo, hi]}
                       for k, (v, sd, lo, hi, _) in params.items()},
            "identifiability": {k: {"status": s} for k, (*_, s) in params.items()},
            "warnings": [], "bootstrap": {"n": 20, "n_failed": 0}, "allocation": {}}


def test_fit_without_a_bootstrap_says_why_a_stderr_is_a_dash(tmp_path):
    """Without --bootstrap the stderr column printed '-' for a (allocation) and b (allocation)
    of every law, and for every parameter where the covariance was singular (runs whose D moves
    with N), with no word saying why."""
    from scalefit.scaling.laws.report import fit_text
    out = run(["fit", "kaplan", "--data", grid_runs(tmp_path / "runs.csv"), "--bootstrap", "0"]).output
    assert "stderr '-' for a (allocation), b (allocation): derived from the exponents" in out
    singular = {"law": "chinchilla", "n_points": 25, "objective": 3e-3, "converged": True,
                "params": {k: {"value": v, "stderr": None, "stderr_fit": None, "ci95": [None, None]}
                           for k, v in {"E": 2.9, "A": 2e-9, "B": 171.0, "alpha": 0.5,
                                        "beta": 0.33}.items()},
                "warnings": [], "allocation": {"a": 0.4, "b": 0.6}}
    text = fit_text(singular)
    assert "stderr '-' for every parameter: the fit's covariance is singular" in text
    singular["params"]["E"]["stderr"] = 0.1  # one parameter has a curvature stderr
    assert "stderr '-' for A, B, alpha, beta: the fit's covariance gives none" in fit_text(singular)


def test_b_of_the_allocation_prints_its_bootstrap_sd(tmp_path):
    """a (allocation) printed its bootstrap sd and b (allocation), which is 1 - a in every draw,
    a '-' beside it (only a_stderr was stored; now b_stderr is, from b's draws); IsoFLOP's a
    (allocation) printed '-' beside its own parameter a's sd."""
    from scalefit.scaling.laws.report import params_frame
    data = grid_runs(tmp_path / "runs.csv")
    for law in ("chinchilla", "isoflop"):
        fit = json.loads(run(["fit", law, "--data", data, "--bootstrap", "10", "--json"]).stdout)
        rows = params_frame(fit).set_index("param")
        a_sd = rows.loc["a (allocation)", "stderr"]
        assert np.isfinite(a_sd) and a_sd > 0, law
        assert rows.loc["b (allocation)", "stderr"] == pytest.approx(a_sd, rel=1e-9), law
        assert fit["allocation"]["b_stderr"] == rows.loc["b (allocation)", "stderr"], law  # stored with a's


def test_a_law_parameter_outside_its_interval_says_so():
    """beta = 0.2443 beside a bootstrap interval [0.2533, 0.3078] (10 resamples) printed
    'identified' and nothing else; the relations' table says 'the estimate lies outside its
    bootstrap interval', and so does the laws' now (text and params.csv)."""
    from scalefit.scaling.laws.report import params_frame, params_text_frame
    fit = fit_dict(alpha=(0.3769, 0.037, 0.3377, 0.4453, "identified"),
                   beta=(0.2443, 0.020, 0.2533, 0.3078, "identified"))
    rows = params_frame(fit).set_index("param")["identified"]
    assert rows["alpha"] == "identified"
    assert rows["beta"] == "identified, the estimate lies outside its bootstrap interval"
    assert "outside" in params_text_frame(fit).set_index("param").loc["beta", "identified"]


def test_calibrate_says_why_a_scatter_slope_is_a_dash(tmp_path):
    """calibrate kaplan-c (a law of compute alone: no N to give the scatter a slope) printed '-'
    in every cut's scatter slope and said nothing of it."""
    out = run(["calibrate", "kaplan-c", "--data", grid_runs(tmp_path / "runs.csv"),
               "--bootstrap", "4", "--cuts", "2"]).output
    assert "note: scatter slope '-' (every cut): the intervals drew one scale at every size" in out


def test_a_relation_prediction_outside_its_intervals_says_so():
    """predict downstream --at-x 2.5 printed 'projection at x = 2.5: 0.96256  95% CI of the curve
    [1.1835, 1.3446], 95% prediction interval [1.1835, 1.3614]' (the bootstrap's refits of E_x
    put the curve above the fit there) and said nothing of it."""
    from scalefit.scaling.interval_text import value_at_interval
    from scalefit.scaling.relations.report import prediction_lines
    pr = {"value": 0.96256, "ci95": [1.1835, 1.3446], "pi95": [1.1835, 1.3614], "at_x": 2.5,
          "kind": "projection", "x_range": [2.72, 5.73]}
    lines = prediction_lines(pr)
    shown = value_at_interval(0.96256, *pr["ci95"])  # as the line above prints it (s46: it printed 0.96256)
    assert f": {shown}  95% CI of the curve" in lines[0]
    assert any(f"the estimate {shown} lies outside its 95% CI of the curve and its 95% prediction "
               "interval: the bootstrap's refits put the curve above" in line for line in lines)
    pr.update(ci95=[0.9, 1.0], pi95=[0.85, 1.1])
    assert not any("outside" in line for line in prediction_lines(pr))


def test_a_csv_typed_with_spaces_after_its_commas_reads(tmp_path):
    """'params, tokens, flops, loss' (as people type a CSV) read as columns ' tokens', ' flops'
    and ' loss', and fit said "column 'loss' is missing; did you mean ' loss'?"."""
    from scalefit.tables import read_table
    plain = pd.read_csv(grid_runs(tmp_path / "runs.csv"))
    typed = tmp_path / "typed.csv"
    typed.write_text("params, tokens , flops, loss\n" + "\n".join(
        ", ".join(repr(float(v)) for v in row) for row in plain.itertuples(index=False)) + "\n")
    table = read_table(typed)
    assert list(table.columns) == ["params", "tokens", "flops", "loss"]
    assert table.dtypes.eq(float).all() and np.array_equal(table.to_numpy(), plain.to_numpy())
    assert "law chinchilla: 25 points" in run(["fit", "chinchilla", "--data", str(typed),
                                               "--bootstrap", "0"]).output


def test_a_relation_without_a_bootstrap_says_why_it_prints_dashes(tmp_path):
    """predict downstream --bootstrap 0 printed '95% CI [-, -]' on every line and 'stderr -' for
    E_x and E_y (taken from the Kaplan fits and held fixed) with no word of either."""
    data = tmp_path / "runs.csv"
    runs = pd.read_csv(grid_runs(data))
    runs["loss_code"] = 0.5 + 0.8 * (runs["loss"] - 1.5) ** 1.2
    runs.to_csv(data, index=False)
    out = run(["predict", "downstream", "--data", str(data), "--x", "loss", "--y", "loss_code",
               "--bootstrap", "0"]).output
    assert ("note: no bootstrap: no 95% CI ('-'; --bootstrap N gives them); no stderr for E_x, "
            "E_y: taken from the per-dataset Kaplan fits, held fixed in this fit") in out


def checkpoint_table(path, **extra):
    """Two cosine runs (1000 and 2000 steps) with a momentum-like loss, one row per 10 steps."""
    rows = []
    for model, steps in (("a", 1000), ("b", 2000)):
        for step in range(10, steps + 1, 10):
            lr = 3e-3 * (0.1 + 0.45 * (1 + np.cos(np.pi * step / steps)))
            rows.append({"model": model, "step": step, "lr": lr, **extra,
                         "loss": 3 + 5 * (step * 3e-3) ** -0.3 - 0.1 * (3e-3 - lr) / 3e-3})
    pd.DataFrame(rows).to_csv(path, index=False)
    return str(path)


def test_schedule_law_refuses_a_dataset_the_table_does_not_have(tmp_path):
    """fit schedule-law --dataset foo on a table with no dataset column fitted every row, the
    option ignored unsaid; on a table whose dataset column lacks foo it said 'no rows with a
    step, an lr and a loss'; a loss column named val_loss got no hint of --loss-column."""
    from test_cli_audit import one_line_error
    plain = checkpoint_table(tmp_path / "plain.csv")
    one_line_error(["fit", "schedule-law", "--data", plain, "--model", "a", "--dataset", "foo"],
                   "--dataset foo: the table has no 'dataset' column")
    one_line_error(["predict", "curve", "--data", plain, "--model", "a", "--dataset", "foo",
                    "--schedule", "cosine:1000"], "--dataset foo")
    named = checkpoint_table(tmp_path / "named.csv", dataset="val")
    one_line_error(["fit", "schedule-law", "--data", named, "--model", "a", "--dataset", "foo"],
                   "--dataset 'foo': no row has it (datasets: val)")
    assert "momentum fitted to 100 checkpoints" in run(
        ["fit", "schedule-law", "--data", named, "--model", "a", "--dataset", "val",
         "--bootstrap", "0"]).output
    renamed = tmp_path / "val_loss.csv"
    pd.read_csv(plain).rename(columns={"loss": "val_loss"}).to_csv(renamed, index=False)
    one_line_error(["fit", "schedule-law", "--data", str(renamed), "--model", "a"],
                   "column 'loss' is missing", "--loss-column val_loss")


def test_schedule_laws_say_a_small_bootstrap_is_rough(tmp_path):
    """fit schedule-law and predict curve with --bootstrap 5 printed intervals and '(not
    identified)' labels from 5 refits without the note fit, compare and predict downstream
    print ('5 bootstrap resamples: ... are rough; use --bootstrap 1000')."""
    data = checkpoint_table(tmp_path / "curves.csv")
    fit = run(["fit", "schedule-law", "--data", data, "--model", "b", "--bootstrap", "5"]).output
    assert "note: 5 bootstrap resamples: the 95% intervals and the identification labels are rough" in fit
    curve = run(["predict", "curve", "--data", data, "--model", "b", "--schedule", "cosine:1000",
                 "--bootstrap", "5"]).output
    assert "note: 5 bootstrap resamples: the curve's 95% intervals are rough" in curve


def test_a_column_named_in_another_case_is_offered(tmp_path):
    """--x LOSS on a table with column 'loss' said "column 'LOSS' is missing (columns: ...)":
    the near-name matcher counted case, so 'loss' had ratio 0 against 'LOSS'."""
    from test_cli_audit import one_line_error
    from scalefit.errors import suggestion
    assert suggestion("LOSS", ["params", "loss"], cutoff=0.8) == "; did you mean 'loss'?"
    assert suggestion("Kaplan", ["kaplan", "chinchilla"], cutoff=0.75) == "; did you mean 'kaplan'?"
    data = tmp_path / "runs.csv"
    runs = pd.read_csv(grid_runs(data)).assign(loss_code=lambda t: t["loss"] / 2)
    runs.to_csv(data, index=False)
    one_line_error(["predict", "downstream", "--data", str(data), "--x", "LOSS", "--y",
                    "loss_code"], "column 'LOSS' is missing; did you mean 'loss'?")


def test_a_folder_as_data_and_a_file_as_out_say_what_is_accepted(tmp_path):
    """--data FOLDER said "Invalid value for '--data': File 'x' is a directory." and --out FILE
    "Directory 'x' is a file." (click's words: neither said what the option takes); the
    reader's and output_folder's own messages do."""
    from test_cli_audit import one_line_error
    data = grid_runs(tmp_path / "runs.csv")
    one_line_error(["fit", "chinchilla", "--data", str(tmp_path)],
                   "is a folder; give a table file's path (.csv, .tsv, .parquet, .json or .jsonl)")
    one_line_error(["compare", "--data", data, "--out", data],
                   f"--out {data}: is a file; expected a folder to write into")


def test_a_far_budget_without_intervals_speaks_of_none(tmp_path):
    """--budget 1e30 with --bootstrap 0 warned 'the intervals hold the fitted law's uncertainty
    only' under a table that has no intervals."""
    out = run(["fit", "chinchilla", "--data", grid_runs(tmp_path / "runs.csv"), "--bootstrap", "0",
               "--budget", "1e30"]).output
    far = next(line for line in out.splitlines() if "beyond the largest fitted run (over" in line)
    assert "intervals" not in far and "nothing checks whether the law's form holds that far" in far


def test_muennighoff_refuses_more_unique_tokens_than_tokens(tmp_path):
    """A row with unique_tokens > tokens (a negative repetition count, R_D < 0) was accepted and
    fitted as if it held U_D = D; with every row so, every stderr printed '-'. Now refused in one
    line naming the file, the rows and what is accepted."""
    from test_cli_audit import one_line_error
    from test_muennighoff import CHIN, repeated_runs
    data = tmp_path / "runs.csv"
    runs = repeated_runs(dict(CHIN, R_D_star=5.0, R_N_star=10.0))
    runs.loc[[3, 7], "unique_tokens"] = runs.loc[[3, 7], "tokens"] * 4
    runs.to_csv(data, index=False)
    one_line_error(["fit", "muennighoff", "--data", str(data), "--bootstrap", "0"],
                   f"{data}: column 'unique_tokens', rows 4, 8: unique tokens above the run's "
                   "tokens (row 4: 4e+08 > 1e+08)", "accepted: unique_tokens <= tokens")
    runs.loc[[3, 7], "unique_tokens"] = runs.loc[[3, 7], "tokens"]  # U_D = D: no repetition
    runs.to_csv(data, index=False)
    assert "law muennighoff: 168 points" in run(["fit", "muennighoff", "--data", str(data),
                                                 "--bootstrap", "0"]).output


def tied_runs(path, seed=9):
    """20 runs trained at D = N / 10 each (N and D move together), Chinchilla's form with 1% log
    noise; with seed 9 the fitted law puts N* below one parameter at every default budget."""
    rng = np.random.default_rng(seed)
    N = np.geomspace(1e7, 1e10, 20)
    D = N / 10
    loss = (1.7 + 400 / N ** 0.34 + 410 / D ** 0.28) * np.exp(rng.normal(0, 0.01, N.size))
    pd.DataFrame({"params": N, "tokens": D, "loss": loss}).to_csv(path, index=False)
    return str(path)


def test_fit_warns_when_n_and_d_move_together_and_n_star_is_below_one(tmp_path):
    """fit chinchilla on runs at D = N/10 printed N* = 3.41e-09 parameters as a projection with
    no warning (compare's explanation said N and D move together; fit said nothing). Now fit
    warns of the design (compare's own clause) and both say an N* below 1 is meaningless."""
    data = tied_runs(tmp_path / "tied.csv")
    fit = json.loads(run(["fit", "chinchilla", "--data", data, "--bootstrap", "0",
                          "--json"]).stdout)
    tied = ("only 0 of the 20 model sizes were trained at more than one token count (tokens per "
            "parameter 0.1 to 0.1), so N and D move together")
    assert any(w.startswith(tied) and "the allocation (a, b, N*, D*) is the form's" in w
               for w in fit["warnings"]), fit["warnings"]
    # which side the unseparated terms push the optimum to (N* below one parameter, or D* below
    # one token) depends on the CPU's BLAS kernels (AVX2: N* 3.41e-09; AVX-512: N* 4.8e+29, D* 2e-10):
    # either is warned of as meaningless
    row = fit["allocation"]["budgets"][0]
    key, symbol, unit = next((k, s, u) for k, s, u in (("N_opt", "N*", "parameter"), ("D_opt", "D*", "token"))
                             if row[k] < 1)
    assert f"{symbol} = {row[key]:.3g} at 6e+20 FLOPs (below 1 at 3 of 3 budgets) is under one {unit}" \
           in " ".join(fit["warnings"]) and "meaningless as an allocation" in " ".join(fit["warnings"])
    out = run(["compare", "--data", data, "--bootstrap", "0"]).output
    assert f"warning (chinchilla): {symbol} = " in out and "Only 0 of the 20 model sizes" in out
    grid = json.loads(run(["fit", "chinchilla", "--data", grid_runs(tmp_path / "grid.csv"),
                           "--bootstrap", "0", "--json"]).stdout)
    assert not any("move together" in w or "meaningless" in w for w in grid["warnings"])
    from scalefit import fit_law  # a notebook's fit says it too: the command is a shell over it
    assert fit_law(pd.read_csv(data), "chinchilla", n_bootstrap=0).warnings == fit["warnings"]
    comparison = run(["compare", "--data", data, "--bootstrap", "0", "--json"]).stdout
    said = [w for w in json.loads(comparison)["fits"]["chinchilla"]["warnings"] if "meaningless" in w]
    assert len(said) == 1, said  # fit_law's and compare's budgets: said once


def test_compare_says_isoflop_has_no_loss_rmse(tmp_path):
    """compare isoflop chinchilla printed 'in-sample fit: isoflop RMSE(log L) nan': IsoFLOP fits
    each budget's optimum, not a loss surface, so it has no RMSE of log L to print."""
    out = run(["compare", "isoflop", "chinchilla", "--data", grid_runs(tmp_path / "runs.csv"),
               "--bootstrap", "0"]).output
    assert "nan" not in out.splitlines()[-1]
    assert ("in-sample fit: isoflop no RMSE(log L) (it fits budget optima, not a loss surface), "
            "chinchilla RMSE(log L) 0.") in out


def test_isoflop_says_once_which_budgets_it_excluded(tmp_path):
    """fit isoflop on a 5 x 5 grid printed 'budget ... FLOPs excluded: only 1 model sizes' as
    one warning line per budget (nine lines); now one line per reason, listing the budgets, with
    'only 1 model size' in the singular."""
    out = run(["fit", "isoflop", "--data", grid_runs(tmp_path / "runs.csv"), "--bootstrap",
               "0"]).output
    excluded = [line for line in out.splitlines() if "FLOPs excluded" in line]
    assert excluded == ["warning: budgets 6e+15, 5.4e+16, 5.4e+18, 6e+19 FLOPs excluded: only 1 "
                        "model size",
                        "warning: budgets 1.8e+16, 6e+16, 5.4e+17, 6e+18, 1.8e+19 FLOPs excluded: "
                        "only 2 model sizes"], excluded
    from scalefit.scaling.laws.isoflop import excluded_line
    many = excluded_line([float(c) for c in range(1, 11)], "why")
    assert many == "budgets 1, 2, 3, 4, 5, 6, 7, 8, ... (10 in all) FLOPs excluded: why"
    assert excluded_line([6e15], "why") == "budget 6e+15 FLOPs excluded: why"


def test_reconcile_prints_a_change_that_rounds_to_zero_without_a_sign():
    """reconcile's findings printed a step of '(-0.000)': a change of -0.0002 in a, shown to 3
    decimals, read as a step down. A value that rounds to zero now prints '0.000'."""
    from scalefit.scaling.laws.reconcile import Move, Step, walk_findings
    steps = [Step("", "x", 20, a=0.5, a_lo=0.45, a_hi=0.55),
             Step("", "y", 20, a=0.4998, a_lo=0.45, a_hi=0.55, chinchilla_a=0.4997)]
    moves = [Move("", "x", "y", -0.0002, True, delta_ci95=(-0.0004, 0.03), apart=False)]
    text = " ".join(walk_findings(steps, moves, n_bootstrap=100))
    assert "-0.000" not in text and "+0.000" not in text, text
    assert "(0.000 [0.000, +0.030])" in text and "'y' 0.000 [0.000, +0.030]" in text, text
    assert "minus the IsoFLOP a: 0.000 to 0.000" in text, text
    moves[0].delta_ci95, moves[0].apart = (np.nan, np.nan), None
    assert "(0.000); their 95% intervals overlap" in " ".join(walk_findings(steps, moves))


def test_schedule_law_on_runs_of_several_sizes_says_what_to_pass(tmp_path):
    """Plain `fit schedule-law` on the shipped suite failed with 'the runs differ in size (24
    runs named); fit one size (--model) ...' while --model's help said 'default every run of the
    table'. The help now says the runs must be of one size unless --by-size, and the error says
    what to pass: --by-size, or --model RUN[,RUN] with runs of one size (predict curve too)."""
    from test_cli_audit import one_line_error
    data = tmp_path / "sized.csv"
    rows = pd.read_csv(checkpoint_table(data))
    rows.assign(params=rows["model"].map({"a": 1e6, "b": 2e6})).to_csv(data, index=False)
    said = (f"{data}: the 2 runs to fit have 2 sizes (N = 1e+06 to 2e+06); without --by-size a "
            "schedule law fits runs of one size: pass --by-size", "or --model RUN[,RUN] with "
            "runs of one size, e.g. --model a (N = 1e+06, 1 run of that size)")
    one_line_error(["fit", "schedule-law", "--data", str(data), "--bootstrap", "0"], *said)
    one_line_error(["predict", "curve", "--data", str(data), "--schedule", "cosine:1000",
                    "--bootstrap", "0"], *said)
    helped = " ".join(run(["fit", "schedule-law", "--help"]).output.split())
    assert "of one size unless --by-size; default every run of the table (which then must be " \
           "of one size, or give --by-size)" in helped
    assert "momentum fitted to" in run(["fit", "schedule-law", "--data", str(data), "--model",
                                        "a", "--bootstrap", "0"]).output


def test_a_relation_predictions_interval_notes_are_printed():
    """prediction['interval_notes'] (8f85696: a PI taking an end of the curve's CI, observations
    at the floor) reached --json and the repr only; the terminal and report.md print them."""
    from scalefit.scaling.relations.report import prediction_lines
    notes = ["the 95% prediction interval's low end is the curve's: a Monte Carlo coincidence",
             "18 of 400 simulated observations put x at or below their draw's E_x"]
    pr = {"value": 3.3, "ci95": [1.7, 4.0], "pi95": [1.7, 4.4], "at": {"params": 1e9, "tokens": 2e10},
          "x_predicted": 1.85,
          "kind": "projection", "interval_notes": notes}
    lines = prediction_lines(pr)
    assert all(any(note in line for line in lines) for note in notes), lines


def test_a_chained_prediction_outside_the_fitted_sizes_is_no_interpolation():
    """predict downstream --at N,D was labelled by compute alone: N = 1e7 (6x the largest fitted
    N of the shipped runs) at D = 2e5 read 'interpolation (0.495x the largest fitted run's
    compute)'. A point beyond the runs' N or D is an extrapolation, named with its distance."""
    result = CliRunner().invoke(main, ["predict", "downstream", "--at", "1e7,2e5", "--bootstrap", "0",
                                       "--json"])
    assert result.exit_code == 0, result.output
    pr = json.loads(result.stdout)["prediction"]
    assert pr["kind"] == "extrapolation" and pr["times_largest_run"] < 1
    assert pr["outside_fitted"][0].startswith("N 6.08x the largest fitted")
    text = CliRunner().invoke(main, ["predict", "downstream", "--at", "1e6,1e6", "--bootstrap", "0"]).output
    assert "interpolation at N = 1e+06" in text and "extrapolation" not in text  # inside both ranges

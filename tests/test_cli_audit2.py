"""What a second researcher's audit of the commands the first audit covered less (calibrate,
reconcile, warmup-study, trajectory, predict curve, fit isoflop, eval, suite, data, weights) found.
Each case is one line naming what is wrong, exit status 2, no traceback, or a number that was
printed wrong."""
from __future__ import annotations

import pytest
from click.testing import CliRunner

from scalefit.cli import main
from test_cli_audit import one_line_error  # one line naming what is wrong, exit 2, no traceback


def test_reconcile_refuses_a_condition_named_twice_in_order(tmp_path):
    """--order 'A,A' walked A to itself and printed a step of change 0 as if it were measured."""
    table = tmp_path / "points.csv"
    rows = ["label,flops,params,tokens,loss"]
    for label in ("A", "B"):
        for c in (1e15, 1e16):
            for n in (1e6, 3e6, 1e7):
                rows.append(f"{label},{c},{n},{c / (6 * n)},{3 + 1e6 / n + 1e9 / (c / n)}")
    table.write_text("\n".join(rows) + "\n")
    one_line_error(["reconcile", "--data", str(table), "--by", "label", "--order", "A,A",
                    "--bootstrap", "0"], "--order", "'A' is named twice")


def test_trajectory_fits_converge_and_say_where_their_stderr_comes_from():
    """The pooled fit of the shipped QKV kurtosis stopped at lmfit's 600 evaluations (converged
    false in --json, nothing in the text) at p = -4.73, where the optimum is at the bound -5; and
    stderr_from said 'the covariance at the optimum' for what are AR(1) sandwich errors."""
    import json
    result = CliRunner().invoke(main, ["trajectory", "--stat", "excess_kurtosis", "--group",
                                       "attn_qkv", "--models", "mini-1,mini-2,mini-3,mini-4,mini-5",
                                       "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    fits = [doc["pooled_fit"], *doc["per_model"].values()]
    assert all(f["converged"] for f in fits)
    # since 6dc803c E is bounded at 0 (a cross-entropy's floor): the pooled optimum sits there
    # (it was p = -5 on p's bound with E = -13.9), and the fit says E and p are not identified
    pooled = doc["pooled_fit"]
    assert pooled["params"]["E"]["value"] == 0
    assert any("E is at its lower bound 0" in w for w in pooled["warnings"])
    assert all("AR(1)" in f["stderr_from"] and "Satterthwaite" in f["stderr_from"] for f in fits)


def test_trajectory_text_names_a_fit_that_did_not_converge(monkeypatch):
    from scalefit.scaling.trajectories import stat_law, trajectory as tj
    # 10: with E bounded at 0 (6dc803c) the pooled fit of these two runs converges within 20
    monkeypatch.setattr(stat_law, "REFINE_MAX_NFEV", 10)
    report = tj.trajectory_report(tj_shipped(), "excess_kurtosis", group="attn_qkv",
                                  models="mini-1,mini-3")
    text = report.markdown()
    assert "Not converged (parameters are not the optimum):" in text
    assert any("did not converge in 10 evaluations" in w for w in report.collapse["pooled"].warnings)


def tj_shipped():
    from scalefit.data import MINI_CHECKPOINTS, data_path
    return data_path(*MINI_CHECKPOINTS)


def test_predict_curve_refuses_a_loss_of_zero_and_labels_lr_and_length_projections():
    """--peak-lr 100 (33,000x the fitted LR) printed 'final loss at step 1120: 1e-300' (the law's
    clamp) as a prediction; --peak-lr 0.03 and cosine:100000 (42x the fitted run) printed their
    losses with no word that they lie beyond the fitted LRs and steps."""
    import json
    base = ["predict", "curve", "--model", "mini-3", "--bootstrap", "0"]
    one_line_error([*base, "--schedule", "cosine:1120", "--peak-lr", "100"],
                   "--peak-lr 100", "falls to 0", "largest LR fitted 0.003")
    result = CliRunner().invoke(main, [*base, "--schedule", "cosine:1120", "--peak-lr", "0.03"])
    assert result.exit_code == 0, result.output
    # 'predicted cosine:1120 at 302 steps' read as a prediction at step 302
    assert "predicted cosine:1120 at 302 steps from 1 to 1120" in result.output
    assert "10x the largest LR fitted (0.003): a projection" in result.output
    result = CliRunner().invoke(main, [*base, "--schedule", "cosine:100000", "--json"])
    notes = json.loads(result.stdout)["notes"]
    assert any("beyond the last checkpoint fitted" in n and "41.7x" in n for n in notes), notes
    result = CliRunner().invoke(main, [*base, "--measured", "mini-3-W0.01"])  # same peak LR
    assert result.exit_code == 0 and "projection" not in result.output, result.output


def _curve_table(tmp_path, change=None):
    rows = ["model,step,lr,loss"]
    for step in range(0, 400, 10):
        lr = 1e-3 * min(1.0, (step + 1) / 20) * (0.1 + 0.9 * (1 - step / 400))
        rows.append(f"run,{step},{lr},{3 + 5 / (1 + step) ** 0.5}")
    if change:
        rows[change[0]] = change[1]
    path = tmp_path / "curve.csv"
    path.write_text("\n".join(rows) + "\n")
    return path


# fit schedule-law / predict curve: a row with no lr was dropped (its loss unfitted, the LR between
# its neighbours guessed), a negative or fractional step was taken as given (int() of -5 or 10.5),
# and a run whose lr is 0 everywhere was a 'need at least one array to stack' traceback
@pytest.mark.parametrize("row,named", [
    ("run,50,,3.7", ["column 'lr', row 6", "not a learning rate"]),
    ("run,-50,0.001,3.7", ["column 'step', row 6", "'-50' is not a step"]),
    ("run,50.5,0.001,3.7", ["column 'step', row 6", "'50.5' is not a step"]),
])
def test_schedule_law_refuses_a_bad_step_or_lr_by_row(tmp_path, row, named):
    path = _curve_table(tmp_path, (6, row))
    one_line_error(["fit", "schedule-law", "--data", str(path), "--bootstrap", "0"], str(path), *named)


def test_schedule_law_refuses_a_run_without_an_lr(tmp_path):
    path = _curve_table(tmp_path)
    path.write_text("\n".join(line.rsplit(",", 2)[0] + ",0," + line.rsplit(",", 1)[1]
                              if i else line for i, line in enumerate(path.read_text().splitlines())))
    one_line_error(["fit", "schedule-law", "--data", str(path), "--bootstrap", "0"],
                   "run run has lr 0 at every checkpoint")


def test_suite_precision_refuses_a_run_paired_with_itself():
    """--pair mini-3:mini-3 was measured and printed '+0.0000 (paired SE 0.0000 ...)' as if two runs
    agreed exactly."""
    pytest.importorskip("torch")
    from pathlib import Path
    spec = Path(__file__).resolve().parents[1] / "data" / "suites" / "mini.toml"
    one_line_error(["suite", "precision", "--spec", str(spec), "--pair", "mini-3:mini-3"],
                   "--pair 'mini-3:mini-3'", "against itself")


def test_suite_report_checks_only_what_has_two_runs_to_compare():
    """suite report on a grid of one size printed loss_falls_with_size_per_budget true at every
    budget: a single run 'fell with size' by having nothing to compare with."""
    import pandas as pd
    from pathlib import Path
    from scalefit.trainer.report import suite_checks
    mini = Path(__file__).resolve().parents[1] / "data" / "suites" / "mini"
    runs = pd.read_csv(mini / "runs.csv")
    table = pd.read_parquet(mini / "checkpoints.parquet")
    checks = suite_checks(runs[(runs["part"] != "grid") | (runs["model"] == "mini-1")], table)
    assert checks["loss_falls_with_size_per_budget"] == {}
    assert checks["loss_falls_with_tokens_per_size"] == {"mini-1": True}
    full = suite_checks(runs, table)
    assert len(full["loss_falls_with_size_per_budget"]) == 4 and all(full["loss_falls_with_size_per_budget"].values())


def test_weights_report_says_a_family_shape_at_its_bound_is_not_an_estimate(tmp_path):
    """weights on a tiny checkpoint printed t_nu 1e+04 for five groups in 'Groups at the last
    step' as if measured: it is the Student-t fit's upper bound (tails no heavier than a Gaussian's)."""
    import pandas as pd
    from scalefit.weightstats.report import write_weights_report
    rows = [{"model": "m", "step": 8, "tensor": "*", "group": g, "layer": -1, "stat": s, "value": v}
            for g, nu in (("mlp_in", 1e4), ("attn_out", 74.1)) for s, v in (("std", 0.02), ("t_nu", nu))]
    write_weights_report(pd.DataFrame(rows), tmp_path, stats=())
    report = (tmp_path / "report.md").read_text()
    assert "`t_nu` = 10000 is the fit's upper bound, not an estimate" in report
    assert "m mlp_in." in report and "attn_out" not in report.split("upper bound")[1]


def test_weights_refuses_steps_without_a_suite(tmp_path):
    """weights --checkpoint DIR --steps 0,1 measured DIR and ignored --steps (--models was refused)."""
    pytest.importorskip("torch")
    folder = tmp_path / "m" / "step8"
    folder.mkdir(parents=True)
    (folder / "model.safetensors").write_bytes(b"")
    one_line_error(["weights", "--checkpoint", str(folder), "--steps", "0,1", "--out",
                    str(tmp_path / "out")], "--steps 0,1", "needs --suite")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("command,table", [(["trajectory"], "Checkpoint table"),
                                           (["warmup-study"], "Checkpoint table"),
                                           (["fit", "schedule-law"], "Loss curves"),
                                           (["predict", "curve"], "Loss curves")])
def test_help_names_the_table_data_reads(command, table):
    """--help said '--data FILE  Run table ...' for commands that read a checkpoint table (one row
    per run would be refused by each of them)."""
    import re
    text = re.sub(r"\s+", " ", CliRunner().invoke(main, [*command, "--help"]).output)
    data_help = text.split("--data FILE ")[1].split(" --out")[0]
    assert data_help.startswith(table) and "Run table" not in data_help, data_help
    assert "checkpoints.parquet" in data_help


def test_predict_curve_by_size_labels_a_size_beyond_the_fitted_ones():
    """--by-size --params 1e9 on runs of 2.9e5-1.6e6 parameters printed 'final loss 1.776' with no
    word that N lies 608x beyond the fitted sizes; a size inside them gets no such note."""
    base = ["predict", "curve", "--by-size", "--model", "mini-1,mini-3,mini-5", "--bootstrap", "0"]
    result = CliRunner().invoke(main, [*base, "--schedule", "cosine:2400", "--params", "1e9"])
    assert result.exit_code == 0, result.output
    assert "N = 1e+09 is 608x the largest size fitted" in result.output
    inside = CliRunner().invoke(main, [*base, "--measured", "mini-2"])
    assert inside.exit_code == 0 and "size fitted" not in inside.output, inside.output


def test_trajectory_names_the_loss_it_fits_against(tmp_path):
    """trajectory chose the loss dataset itself (the training distribution, or a *-val name) and
    never said which; two unmarked datasets were refused as 'table: several datasets' without
    naming the file."""
    import json

    import pandas as pd
    result = CliRunner().invoke(main, ["trajectory", "--stat", "std", "--group", "mlp_in",
                                       "--models", "mini-1", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["loss_dataset"] == "prose-val"
    text = CliRunner().invoke(main, ["trajectory", "--stat", "std", "--group", "mlp_in",
                                     "--models", "mini-1"]).output
    assert "# std / mlp_in against loss (prose-val)" in text
    table = pd.read_parquet(tj_shipped())
    losses = table[(table["metric"] == "loss") & (table["model"] == "mini-1")]
    losses = losses[["model", "step", "dataset", "metric", "value"]].replace(
        {"dataset": {"prose-val": "a", "prose-test": "b", "code-test": "c"}})
    path = tmp_path / "losses.csv"
    losses.to_csv(path, index=False)
    one_line_error(["trajectory", "--stat", "std", "--group", "mlp_in", "--models", "mini-1",
                    "--losses", str(path)], f"{path}: several datasets (a, b, c)", "--loss-dataset")


def test_calibrate_says_when_too_few_predictions_test_95_percent(tmp_path):
    """calibrate on 11 runs made one cut and one prediction and printed '1 of 1 (100%) inside
    ... (nominal 95%)' beside a note that runs 'above several cuts' are predicted once per cut."""
    import json

    import pandas as pd
    from scalefit.scaling.laws.cli import default_runs_path
    runs = pd.read_csv(default_runs_path())
    path = tmp_path / "runs.csv"
    runs[runs["part"] == "grid"].sort_values("flops").head(11).to_csv(path, index=False)
    result = CliRunner().invoke(main, ["calibrate", "chinchilla", "--data", str(path),
                                       "--bootstrap", "4", "--json"])
    assert result.exit_code == 0, result.output
    notes = json.loads(result.stdout)["notes"]
    assert "1 prediction: one more miss moves the coverage by 100 points, too few to test 95%" in notes
    assert not any("several cuts" in n for n in notes), notes


def test_suite_precision_names_a_suite_folder_without_checkpoints(tmp_path, micro_corpus):
    """An empty --suite-dir was 'no pair to compare by default ... (known: )', as if the runs were
    there and only the pairs missing."""
    pytest.importorskip("torch")
    from test_suite_micro import MICRO_SPEC

    spec = tmp_path / "micro.toml"
    spec.write_text(MICRO_SPEC)
    (tmp_path / "empty").mkdir()
    for pair in ([], ["--pair", "s1:s2"]):
        one_line_error(["suite", "precision", "--spec", str(spec), "--corpus", str(micro_corpus[0] / "corpus"),
                        "--suite-dir", str(tmp_path / "empty"), *pair],
                       "no final checkpoint folders", "scalefit suite train --out")


def test_trajectory_refuses_a_stat_averaged_over_groups():
    """--stat t_nu without --group averaged t_nu over the 9 groups (embeddings with MLP, values at
    the 1e4 cap with values of 5) and printed the fit as 't_nu against loss'."""
    one_line_error(["trajectory", "--stat", "t_nu", "--models", "mini-1"],
                   "stat 't_nu' is measured on 9 groups", "name one with --group")


def test_trajectory_of_a_constant_statistic_prints_no_correlation_or_collapse_of_noise(tmp_path):
    """MLP-in layer 0's t_nu sits at the 1e4 cap at every checkpoint: trajectory printed 'raw
    Pearson nan', a partial Pearson and Spearman of rounding residuals (-0.003, -0.337), a
    collapse ratio 1 ('one curve serves every run') and numpy's RuntimeWarning from AR(1)'s rho.
    A nu at its cap is no measurement and is now refused before any fit (every value is at the
    bound: one line, exit 2); a statistic that is constant at measured values still gets no
    correlation and no collapse of noise."""
    import json
    import warnings

    import numpy as np
    import pandas as pd
    one_line_error(["trajectory", "--stat", "t_nu", "--tensor", "gpt_neox.layers.0.mlp.dense_h_to_4h.weight",
                    "--models", "mini-1,mini-2"],
                   "every value of stat 't_nu', tensor gpt_neox.layers.0.mlp.dense_h_to_4h.weight is at its fit's bound")
    steps = np.r_[0, 2 ** np.arange(0, 11)]
    rows = [{"model": m, "step": int(s), "tensor": "*", "group": "mlp_in", "stat": "std", "value": 0.02}
            for m in ("a", "b") for s in steps]
    rows += [{"model": m, "step": int(s), "dataset": "train-val", "metric": "loss",
              "value": 3 + (4 + i) * (s + 10) ** -0.3} for i, m in enumerate(("a", "b")) for s in steps]
    path = tmp_path / "constant.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    args = ["trajectory", "--stat", "std", "--group", "mlp_in", "--data", str(path)]
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        result = CliRunner().invoke(main, args)
        doc = json.loads(CliRunner().invoke(main, [*args, "--json"]).stdout)
    assert result.exit_code == 0, result.output
    assert "raw Pearson - (constant)" in result.output and "nan" not in result.output
    assert "partial Pearson" not in result.output
    assert "no collapse to judge" in result.output and "one curve serves" not in result.output
    assert doc["collapse_ratio"] is None and doc["correlation"]["partial_pearson"] is None


def test_predict_curve_refuses_a_measured_run_of_another_size_without_by_size():
    """--model mini-3 --measured mini-5 predicted mini-5's curve with mini-3's law (N is not in
    it) and printed a 10.6% error as the law's."""
    one_line_error(["predict", "curve", "--model", "mini-3", "--measured", "mini-5", "--bootstrap", "0"],
                   "--measured mini-5: N = 1.644e+06", "6.744e+05", "--by-size")


def test_reconcile_text_names_the_table_it_walked():
    """reconcile --by part on the shipped table walked its grid runs only ([part=grid], said in
    --json alone) and the text's 'one condition fitted (grid ...)' did not say why. The default
    filter no longer removes the walked column's values (4738082): the prose runs of every part."""
    result = CliRunner().invoke(main, ["reconcile", "--by", "part", "--law", "chinchilla",
                                       "--bootstrap", "0"])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[0].startswith("Allocation exponent a (N* ~ C^a) per part on ")
    assert "runs.csv [distribution=prose]:" in result.output.splitlines()[0]
    assert [line.split()[1] for line in result.output.splitlines()[4:7]] == ["grid", "wsd", "warmup"]


def test_suite_report_help_says_where_its_default_folder_is():
    """'scalefit suite report' run outside the repository failed with 'Directory data/suites/mini
    does not exist', and --help did not say that DATA_DIR has a default, relative to the current
    folder, whose plots it rewrites."""
    import re
    text = re.sub(r"\s+", " ", CliRunner().invoke(main, ["suite", "report", "--help"]).output)
    assert "DATA_DIR defaults to data/suites/mini below the current folder" in text
    assert "rewrites" in text


@pytest.mark.parametrize("size", ["0", "-5", "100"])
def test_build_corpus_names_the_vocabulary_range_for_every_bad_size(size, tmp_path):
    """--vocab-size 0 said 'expected a whole number >= 1' and 1 then said 'use 258 to 65535'."""
    one_line_error(["data", "build-corpus", "--out", str(tmp_path / "corpus"), "--vocab-size", size],
                   f"--vocab-size {size}: use 258 to 65535")
    assert not (tmp_path / "corpus").exists()


def test_eval_refuses_a_token_file_beyond_a_local_models_vocabulary(tmp_path):
    """A .npy of ids up to 1999 against models of 512 tokens was found inside the sweep: every
    checkpoint recorded as failed, exit 1; now one line before anything loads, naming the file,
    the id, the model and its config."""
    pytest.importorskip("torch")
    import numpy as np
    from tinysuite import cached_tiny_suite
    suite = cached_tiny_suite()
    tokens = tmp_path / "ids.npy"
    np.save(tokens, np.arange(2000) % 5000)
    one_line_error(["eval", "--suite", str(suite), "--models", "tiny-a", "--steps", "8",
                    "--dataset", f"v={tokens}", "--out", str(tmp_path / "out")],
                   "--dataset v:", "token id 1999 is outside the vocabulary of tiny-a (512",
                   "config.json")
    assert not (tmp_path / "out").exists()


def test_eval_refuses_a_text_field_no_dataset_has(tmp_path):
    """--text-field body with a plain-text --dataset was silently ignored (the whole file scored)."""
    pytest.importorskip("torch")
    from tinysuite import cached_tiny_suite
    suite = cached_tiny_suite()
    text = tmp_path / "val.txt"
    text.write_text("def f(x):\n    return x + 1\n" * 20)
    one_line_error(["eval", "--suite", str(suite), "--models", "tiny-a", "--steps", "8",
                    "--dataset", f"v={text}", "--text-field", "body", "--out", str(tmp_path / "out")],
                   "--text-field body", "only a JSONL --dataset")


def test_schedule_law_says_which_runs_it_left_out():
    """--by-size --model mini-1,mini-2,mini-5,mini-3-W0.01 --min-step 1500 fitted three runs: the
    1120-step run has no checkpoint at or after 1500 and was dropped without a word."""
    result = CliRunner().invoke(main, ["fit", "schedule-law", "--by-size", "--model",
                                       "mini-1,mini-2,mini-5,mini-3-W0.01", "--min-step", "1500",
                                       "--bootstrap", "0"])
    assert result.exit_code == 0, result.output
    assert "warning: not fitted, no checkpoint at or after the first fitted step: mini-3-W0.01 " \
           "(last step 1120, first fitted 1500)" in result.output


def test_eval_refuses_a_token_file_beyond_a_hub_models_vocabulary_before_downloading(tmp_path):
    """Hub checkpoints have no local config.json: the check took the vocabulary as unknown, so a
    token file from another tokenizer was found only after each checkpoint downloaded (every one
    failed). The suite registry's padded_vocab (pythia-70m: 50304) now answers before anything
    loads; ids inside it pass the check (the sweep then needs the hub, so only the check is run)."""
    pytest.importorskip("torch")
    import numpy as np
    from scalefit.evals.grid_checks import check_token_ids
    from scalefit.evals.measures import parse_dataset
    from scalefit.sweep.checkpoints import checkpoint_grid
    from scalefit.sweep.suites import load_suite
    tokens = tmp_path / "ids.npy"
    np.save(tokens, np.arange(60_000))
    one_line_error(["eval", "--suite", "pythia", "--models", "70m,12b", "--steps", "1000",
                    "--dataset", f"v={tokens}", "--out", str(tmp_path / "out")],
                   "--dataset v:", "token id 59999 is outside the vocabulary of pythia-70m (50304, "
                   "the suite registry's padded_vocab)")
    assert not (tmp_path / "out").exists()
    grid = checkpoint_grid(load_suite("pythia"), ["pythia-70m", "pythia-12b"], [1000])
    assert [info.vocab_size for info in grid] == [50304, 50688]
    inside = tmp_path / "inside.npy"
    np.save(inside, np.arange(50_304))
    check_token_ids(grid, [parse_dataset(f"v={inside}")], None)  # 50303 < 50304: no complaint


def test_eval_refuses_a_context_longer_than_a_hub_model_was_trained_at_before_downloading(tmp_path):
    """Hub checkpoints have no local config.json to read positions from: --context 4096 for
    Pythia (trained at 2048) went on to download every checkpoint. The registry's seq_len now
    answers first; a local checkpoint's config.json still names its own positions."""
    pytest.importorskip("torch")
    from scalefit.evals.grid_checks import check_positions
    from scalefit.sweep.checkpoints import checkpoint_grid
    from scalefit.sweep.suites import load_suite
    text = tmp_path / "val.txt"
    text.write_text("some text to score\n" * 10)
    one_line_error(["eval", "--suite", "pythia", "--models", "160m", "--steps", "1000",
                    "--dataset", f"v={text}", "--context", "4096", "--out", str(tmp_path / "out")],
                   "--context 4096 exceeds the 2048-token context pythia-160m was trained at "
                   "(the suite registry's seq_len): use --context 2048 or less")
    assert not (tmp_path / "out").exists()
    grid = checkpoint_grid(load_suite("pythia"), ["pythia-160m"], [1000])
    assert grid[0].seq_len == 2048
    check_positions(grid, 2048, 512)  # at the trained context: no complaint

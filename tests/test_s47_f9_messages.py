"""Bad input and --help that fell short of the standard (s47 audit, task f9): one line that names
the bad input and says what is accepted, exit status 2, no traceback; --help that says what an
option accepts and defaults to."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from scalefit.cli import main


def _run(args):
    return CliRunner().invoke(main, [str(a) for a in args])


def _help(command) -> str:
    """A command's --help with its line breaks and indents folded to single spaces."""
    result = _run([*command, "--help"])
    assert result.exit_code == 0, result.output
    return " ".join(result.output.split())


def _one_error(result) -> str:
    """The one 'error:' line of a refused command (exit 2, no traceback)."""
    assert result.exit_code == 2 and "Traceback" not in result.output, result.output
    lines = [ln for ln in result.output.splitlines() if ln.strip()]
    assert len(lines) == 1, result.output
    return lines[0]


@pytest.fixture(scope="module")
def mini3_curve(tmp_path_factory):
    """mini-3's prose-val loss checkpoints from the shipped table, as a small CSV."""
    from scalefit.data import MINI_CHECKPOINTS, data_path
    table = pd.read_parquet(data_path(*MINI_CHECKPOINTS),
                            columns=["model", "step", "tokens", "lr", "dataset", "metric", "value",
                                     "params"])
    table = table[(table["model"] == "mini-3") & (table["metric"] == "loss")
                  & (table["dataset"] == "prose-val")].reset_index(drop=True)
    assert len(table) > 5
    return table


def _curve_file(tmp_path, table, name="ck.csv"):
    path = tmp_path / name
    table.to_csv(path, index=False)
    return path


# ---- 4a: a loss <= 0 names its row and value --------------------------------------------------

@pytest.mark.parametrize("command", [["fit", "schedule-law"], ["predict", "curve"]])
def test_a_negative_loss_names_its_row_and_value(tmp_path, mini3_curve, command):
    table = mini3_curve.copy()
    table.loc[4, "value"] = -0.5
    path = _curve_file(tmp_path, table)
    line = _one_error(_run([*command, "--model", "mini-3", "--bootstrap", 0, "--data", path,
                            "--dataset", "prose-val"]))
    assert str(path) in line and "row 5" in line and "'-0.5'" in line, line
    assert "expected a number > 0" in line, line


# ---- 7: an inf loss is 'no finite loss' -------------------------------------------------------

def test_an_inf_loss_is_left_out_as_not_finite(tmp_path, mini3_curve):
    table = mini3_curve.copy()
    table.loc[4, "value"] = np.inf
    path = _curve_file(tmp_path, table)
    result = _run(["fit", "schedule-law", "--model", "mini-3", "--bootstrap", 0, "--data", path,
                   "--dataset", "prose-val"])
    assert result.exit_code == 0, result.output
    assert "1 checkpoint(s) with no finite loss" in result.stderr, result.stderr
    assert "with no loss" not in result.stderr


# ---- 4b: an empty file says so, and what table was expected -----------------------------------

@pytest.mark.parametrize("command, expected", [
    (["transitions", "--stat", "t_nu"], "expected a table"),
    (["trajectory", "--stat", "t_nu"], "expected a table"),
    (["weights", "plot", "--out", "{tmp}/figs"], "expected a weights table"),
    (["fit", "schedule-law", "--bootstrap", "0"], "expected a checkpoint table"),
    (["predict", "curve", "--bootstrap", "0"], "expected a checkpoint table"),
    (["predict", "downstream", "--bootstrap", "0"], "expected a run table"),
])
@pytest.mark.parametrize("content", [b"", b"\n\n"])
def test_an_empty_file_says_it_is_empty_and_what_table_is_expected(tmp_path, command, expected,
                                                                    content):
    path = tmp_path / "empty.csv"
    path.write_bytes(content)
    line = _one_error(_run([c.format(tmp=tmp_path) for c in command] + ["--data", path]))
    assert f"{path}: the file is empty; {expected}" in line, line
    assert "No columns to parse" not in line


def test_read_table_names_the_expected_table_of_an_empty_compressed_file(tmp_path):
    import gzip

    from scalefit.errors import InputError
    from scalefit.tables import read_table
    path = tmp_path / "runs.csv.gz"
    path.write_bytes(gzip.compress(b""))
    with pytest.raises(InputError, match="the file is empty; expected a loss table"):
        read_table(path, expected="a loss table")


# ---- 3, 4c: reconcile on the shipped table, and an empty --published ------------------------

def test_reconcile_on_the_shipped_grid_with_the_default_law_says_what_to_do():
    line = _one_error(_run(["reconcile", "--by", "part", "--bootstrap", 0]))
    assert "the shipped table is a grid of runs, not IsoFLOP points" in line, line
    assert "pass --law chinchilla" in line and "--data with IsoFLOP points" in line, line
    helptext = _help(["reconcile"])
    assert "the shipped table (no --data) is a grid of runs: walk it with --law chinchilla" in helptext


def test_reconcile_with_law_chinchilla_walks_the_shipped_table():
    """What the message above suggests works."""
    result = _run(["reconcile", "--by", "part", "--bootstrap", 0, "--law", "chinchilla", "--json"])
    assert result.exit_code == 0, result.output


def test_an_empty_published_table_is_not_called_a_run_table(tmp_path):
    path = tmp_path / "published.csv"
    path.write_bytes(b"")
    line = _one_error(_run(["reconcile", "--by", "model", "--published", path, "--bootstrap", 0,
                            "--law", "chinchilla"]))
    assert f"{path}: the file is empty; expected a summary table of the published a" in line
    assert "the --by column (model), a (or a_n_exponent)" in line and "a_ci95_lo" in line, line
    assert "run table" not in line


# ---- 4d: a folder or missing file says what the option takes -----------------------------------

def test_weights_plot_data_of_a_folder_says_what_it_takes(tmp_path):
    line = _one_error(_run(["weights", "plot", "--data", tmp_path, "--out", tmp_path / "figs"]))
    assert f"{tmp_path}: is a folder; give a table file's path (.csv" in line, line


@pytest.mark.parametrize("command", [["suite", "sweep"], ["suite", "train"]])
@pytest.mark.parametrize("kind", ["missing", "folder"])
def test_suite_spec_of_a_folder_or_missing_file_says_what_it_takes(tmp_path, command, kind):
    spec = tmp_path / "nope.toml" if kind == "missing" else tmp_path
    line = _one_error(_run([*command, "--spec", spec]))
    words = "file not found" if kind == "missing" else "is a folder"
    assert f"--spec {spec}: {words}; give a suite spec TOML file's path" in line, line


# ---- 4e: one of --E-x, --E-y without --e names the one missing ---------------------------------

@pytest.mark.parametrize("command", [["predict", "downstream"], ["fit", "shifted-power"]])
@pytest.mark.parametrize("given, missing", [("--E-x", "--E-y"), ("--E-y", "--E-x")])
def test_one_given_floor_names_the_other_not_an_unasked_e_given(command, given, missing):
    line = _one_error(_run([*command, given, "1", "--bootstrap", 0]))
    assert f"{given} needs {missing}" in line, line
    assert "--e given needs" not in line


def test_with_e_given_the_message_still_names_it():
    line = _one_error(_run(["predict", "downstream", "--E-x", "1", "--e", "given",
                            "--bootstrap", 0]))
    assert "--e given needs both --E-x and --E-y" in line, line


# ---- 4f: init-study of a table with no condition to compare: the one line, no warnings first ---

def test_init_study_without_conditions_says_only_that(tmp_path):
    """The shipped suite table holds pythia-init runs only, some of whose curves end early: their
    per-run 'its last loss is at step ...' warnings came before the error that mattered."""
    from scalefit.data import MINI_CHECKPOINTS, data_path
    table = pd.read_parquet(data_path(*MINI_CHECKPOINTS))
    table = table[table["model"].isin(["mini-1", "mini-1-wsd-D245760", "mini-2"])]
    path = tmp_path / "ck_good.parquet"
    table.to_parquet(path)
    line = _one_error(_run(["init-study", "--data", path]))
    assert "no condition to compare: every run starts from the pythia init" in line, line


def test_any_control_pair_of_conditions():
    from scalefit.scaling.trajectories.init_study import any_control_pair
    runs = pd.DataFrame({"size": ["mini-1", "mini-1", "mini-2"],
                         "init": ["pythia", "empirical", "empirical"],
                         "warmup": ["warmup", "warmup", "warmup"]})
    assert any_control_pair(runs)
    assert not any_control_pair(runs.iloc[1:])  # no pythia run
    assert not any_control_pair(runs.assign(warmup=["warmup", "no warmup", "warmup"]))


# ---- 4g: a missing and a bad LAW list the same names ------------------------------------------

def _names_listed(line: str) -> set[str]:
    import re
    return set(re.findall(r"[a-z][a-z0-9-]+", line.split("Choose from:")[-1]
                          .split("is not one of")[-1].split("(see")[0])) - {"or", "a", "loss",
                                                                            "law", "whole", "curves",
                                                                            "to", "did", "you", "mean"}


def test_fit_without_law_lists_every_law_a_bad_law_lists():
    missing = _one_error(_run(["fit"]))
    invalid = _one_error(_run(["fit", "nolaw"]))
    assert "'shifted-power' (a loss-to-loss law)" in missing, missing
    assert "'schedule-law' (whole loss curves)" in missing, missing
    assert _names_listed(missing) == _names_listed(invalid)
    assert {"chinchilla", "shifted-power", "schedule-law"} <= _names_listed(missing)
    assert "shifted-power" in _help(["fit"]).split("LAW is one of:")[1]


# ---- 5a: calibrate RELATION --bootstrap says (and parses) what it accepts ----------------------

def test_calibrate_relation_bootstrap_help_and_parsing_agree():
    helptext = _help(["calibrate", "shifted-power"])
    assert "0: none" not in helptext
    assert "at least 2: the prediction intervals need the relation's draws" in helptext
    for value in ("0", "1"):
        line = _one_error(_run(["calibrate", "shifted-power", "--bootstrap", value]))
        assert "--bootstrap" in line and ">= 2" in line and "0 for none" not in line, line
    assert "0: none, else at least 2" in _help(["predict", "downstream"])


# ---- 5b, 5c, 5d: --help says what a group holds and what an option defaults to -----------------

def test_suite_group_summary_names_every_command():
    helptext = _help(["suite"])
    assert "Train the mini suite described by a spec TOML" not in helptext
    summary = helptext.split("Options:")[0]
    for command in ("train", "sweep", "ship", "report", "precision"):
        assert command in summary, summary
    assert "Train, measure and report a suite" in _help([])


@pytest.mark.parametrize("command", [["fit", "chinchilla"], ["compare"], ["predict", "downstream"]])
def test_holdout_help_states_its_default(command):
    helptext = _help(command)
    holdout = helptext.split("--holdout X")[1].split("--")[0]
    assert "Default: 0 (none held out)." in holdout, holdout


def test_threads_help_states_each_true_default():
    evalhelp = _help(["eval"]).split("--threads")[1].split(" --")[0]
    assert "Default: not set, so torch's own count (torch.get_num_threads()" in evalhelp, evalhelp
    weighthelp = _help(["weights"]).split("--threads")[1].split(" --")[0]
    assert "INTEGER" in weighthelp and "whole number >= 1" in weighthelp, weighthelp
    assert "[default: 1]" in weighthelp, weighthelp


# ---- 6: a one-document .txt dataset says why its losses have no SE ----------------------------

def test_a_one_document_text_dataset_says_why_its_se_is_empty(suite_file, tmp_path):
    torch = pytest.importorskip("torch")
    torch.set_num_threads(1)
    from tinysuite import tiny_checkpoint

    from scalefit.errors import ScalefitWarning
    from scalefit.evals.measures import Dataset, loss_measurement
    from scalefit.sweep.checkpoints import load_checkpoint
    info = tiny_checkpoint(suite_file)
    model, info.tokenizer = load_checkpoint(info, "cpu", "float32")
    data = suite_file.parent / "data" / "val.txt"
    one = loss_measurement(Dataset(name="val", path=data), cache_dir=tmp_path / "c1", context=64)
    with pytest.warns(ScalefitWarning, match=r"dataset val: se: none \(val.txt is one document; "
                                             "the SE of a loss is a bootstrap over documents"):
        rows = one.fn(model, info)
    assert rows["se"].isna().all()
    many = tmp_path / "val.jsonl"  # two documents: an SE, and no note
    import json
    text = data.read_text()
    many.write_text("".join(json.dumps({"text": t}) + "\n"
                            for t in (text[:len(text) // 2], text[len(text) // 2:])))
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error", ScalefitWarning)
        rows = loss_measurement(Dataset(name="val", path=many), cache_dir=tmp_path / "c2",
                                context=64).fn(model, info)
    assert np.isfinite(rows["se"]).all()

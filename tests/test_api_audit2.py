"""A second audit of the Python API (scalefit.API), called as a notebook calls it: text where a
number belongs, a choice in another case, a message naming only the command's flag, a result that
json.dumps cannot write. Each case raised from deep inside or said too little; now one InputError
naming the argument, its row or the accepted values."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from scalefit.data import data_path
from scalefit.errors import InputError
from tests.test_api_audit import _joined  # two runs on one stat-vs-loss curve

RUNS = data_path("suites", "mini", "runs.csv")


@pytest.fixture(scope="module")
def two_runs():
    """The long runs of mini-1 and mini-2: evaluation and weight rows of 48 checkpoints each."""
    from scalefit import read_table
    checkpoints = read_table(data_path("suites", "mini", "checkpoints.parquet"))
    return checkpoints[checkpoints["model"].isin(["mini-1", "mini-2"])
                       & (checkpoints["part"] == "long")]


@pytest.fixture(scope="module")
def evals(two_runs):
    return two_runs[two_runs["metric"].notna()]


# ---- the join of the layers ------------------------------------------------------------------

def test_join_checkpoints_reads_text_steps_and_names_a_bad_one(evals):
    """Steps as text raised pandas' 'merge on int64 and str'; a step 'a' was called a repeated
    measurement. Whole-number text joins as the numbers do; 'a' is named with its row."""
    from scalefit import join_checkpoints
    pd.testing.assert_frame_equal(join_checkpoints(evals.assign(step=evals["step"].astype(str))),
                                  join_checkpoints(evals))
    bad = evals.assign(step=evals["step"].astype(object))
    bad.iloc[3, bad.columns.get_loc("step")] = "a"
    with pytest.raises(InputError, match=r"join: column 'step', row \d+: 'a' is not a step"):
        join_checkpoints(bad)


# ---- trajectories: text where a number belongs -----------------------------------------------

@pytest.fixture(scope="module")
def kurtosis(two_runs):
    from scalefit import stat_trajectory
    return stat_trajectory(two_runs, "excess_kurtosis", group="attn_qkv")


@pytest.mark.parametrize("column", ["warmup_steps", "total_steps", "cooldown_fraction"])
def test_transition_study_names_a_schedule_cell_of_text(kurtosis, column):
    """traj.assign(warmup_steps='a') raised float()'s ValueError from landmarks_for_run (so did
    total_steps and cooldown_fraction)."""
    from scalefit import transition_study
    with pytest.raises(InputError, match=rf"^mini-1: column '{column}', row with index 0: 'a' is not a "):
        transition_study(kurtosis.assign(**{column: "a"}), n_bootstrap=0)


def test_collapse_report_names_a_statistic_of_text():
    """joined.assign(value='a') raised numpy's 'could not convert string to float' from the fit."""
    from scalefit import collapse_report
    joined = _joined().astype({"value": object})
    joined.loc[14, "value"] = "a"
    with pytest.raises(InputError, match=r"^joined: column 'value', row with index 14: 'a' is not a number"):
        collapse_report(joined, E=2.0)


# ---- relations: choices read in any case, a typo gets the closest name -----------------------

# grid (the shipped grid runs) and loss_pairs (their prose/code test-loss pairs): conftest.py


def test_pair_losses_reads_its_choices_in_any_case(grid, loss_pairs):
    """pairing='Train-To-Test' and match='Tokens' were refused ("--pair: 'Train-To-Test' is not
    one of ..."); a typo now gets the closest name, under the argument's name."""
    from scalefit import pair_losses
    pairs = pair_losses(grid, "loss_prose_test", "loss_code_test", "Train-To-Test", match="Tokens")
    assert pairs.pairing == "train-to-test" and pairs.pairs.equals(loss_pairs.pairs)
    with pytest.raises(InputError, match=r"^pairing \(--pair\): 'train-to-tset' is not one of "
                                         r".*; did you mean 'train-to-test'\?$"):
        pair_losses(grid, "loss_prose_test", "loss_code_test", "train-to-tset")
    with pytest.raises(InputError, match=r"^match \(--match\): 'compte' is not one of tokens, "
                                         r"compute; did you mean 'compute'\?$"):
        pair_losses(grid, "loss_prose_test", "loss_code_test", match="compte")


def test_fit_relation_and_fit_accuracy_read_their_choices_in_any_case(loss_pairs):
    """relation='Shifted-Power', method='OLS', e_source='Kaplan' and law='Sigmoid' were refused;
    'sigmod' had no 'did you mean'."""
    from scalefit import fit_accuracy, fit_relation
    fit = fit_relation(loss_pairs, "Shifted-Power", e_source="Kaplan", method="OLS", n_bootstrap=0)
    assert fit.values() == fit_relation(loss_pairs, e_source="kaplan", n_bootstrap=0).values()
    for kw, said in ((dict(relation="sigmod"), r"relation \(--relation\): 'sigmod' .*'sigmoid'"),
                     (dict(method="hubr"), r"method \(--method\): 'hubr' .*'huber'"),
                     (dict(e_source="fitt"), r"e_source \(--e\): 'fitt' .*'fit'")):
        with pytest.raises(InputError, match=rf"^{said}\?$"):
            fit_relation(loss_pairs, n_bootstrap=0, **kw)
    L = np.linspace(3.0, 6.0, 12)
    y = 0.25 + 0.6 / (1 + np.exp(3 * (L - 4.5)))
    assert fit_accuracy(L, y, "Sigmoid", n_bootstrap=0).values() == \
        fit_accuracy(L, y, "sigmoid", n_bootstrap=0).values()
    with pytest.raises(InputError, match=r"^law: 'sigmod' is not one of sigmoid, "
                                         r"exponential-error; did you mean 'sigmoid'\?$"):
        fit_accuracy(L, y, "sigmod", n_bootstrap=0)


def test_run_downstream_reads_its_relation_in_any_case(grid):
    """run_downstream(relation='Sigmoid') was refused after the table was paired; a typo now
    says so before the table is read, with the closest name."""
    from scalefit import run_downstream
    with pytest.raises(InputError, match=r"^relation \(--relation\): 'sigmod' .*'sigmoid'\?$"):
        run_downstream("no-such-file.csv", "loss_prose_test", "loss_code_test", relation="sigmod")
    out = run_downstream(grid, "loss_prose_test", "loss_code_test", relation="Shifted-Power",
                         pairing="TRAIN-TO-TEST", n_bootstrap=0)
    assert out.relation == "shifted-power"


# ---- trajectories: results that json.dumps can write -----------------------------------------

def test_collapse_report_has_a_json_ready_form():
    """collapse_report returned a dict of FitResults: json.dumps raised 'Object of type FitResult
    is not JSON serializable'. to_dict() gives each fit as FitResult.to_dict; the dict is as it was."""
    from scalefit import collapse_report
    report = collapse_report(_joined(), E=2.0)
    data = json.loads(json.dumps(report.to_dict()))
    assert data["pooled"] == json.loads(json.dumps(report["pooled"].to_dict()))
    assert set(data["per_model"]) == {"a", "b"}
    assert data["per_model"]["b"]["params"]["p"]["value"] == report["per_model"]["b"].params["p"].value
    assert data["collapse_ratio"] == report["collapse_ratio"] and data["n_models"] == 2


# ---- the init study: a mixture of experts' matrices ------------------------------------------

def test_init_study_reads_the_shape_of_expert_matrices():
    """expert_in / expert_out / router rows (weightstats' mixture-of-experts groups, which a
    re-init draws as it draws the dense matrices) were left out of the shape table unsaid."""
    from scalefit import init_study
    # the evaluation rows and mlp_in's excess kurtosis (reading only them keeps the test short)
    table = pd.read_parquet(data_path("suites", "mini", "init", "checkpoints.parquet"),
                            filters=[[("metric", "!=", "")],
                                     [("stat", "==", "excess_kurtosis"), ("group", "==", "mlp_in")]])
    mlp = table[table["group"] == "mlp_in"]
    small = pd.concat([table[table["metric"].notna()], mlp,
                       *(mlp.assign(group=g)
                         for g in ("expert_in", "router"))], ignore_index=True)
    shapes = init_study(small).shapes
    dense = shapes[shapes["group"] == "mlp_in"].drop(columns="group").reset_index(drop=True)
    for group in ("expert_in", "router"):
        pd.testing.assert_frame_equal(
            shapes[shapes["group"] == group].drop(columns="group").reset_index(drop=True), dense)


# ---- docstrings enough to call the function --------------------------------------------------

@pytest.mark.parametrize("name, arguments", [
    ("fit_relation", ("loss_pairs", "relation", "E_x", "E_y", "e_source", "method")),
    ("fit_accuracy", ("L", "y", "law", "units")),
    ("run_downstream", ("x", "y", "pairing", "match", "relation", "holdout", "at_x", "at_nd"))])
def test_the_relations_docstrings_say_what_each_argument_takes(name, arguments):
    """help(fit_relation) did not say what E_x, E_y, e_source and method take; fit_accuracy's
    did not say y is a fraction in [0, 1] and L a loss in nats; run_downstream's named neither
    pairing, match, relation, holdout nor at_x."""
    import scalefit
    doc = getattr(scalefit, name).__doc__
    missing = [a for a in arguments if f"``{a}``" not in doc]
    assert not missing, f"{name}'s docstring does not describe {missing}"
    if name == "fit_accuracy":
        assert "[0, 1]" in doc and "nats" in doc


# ---- messages name the argument a Python caller passed, and its flag --------------------------

def test_messages_name_the_argument_and_the_commands_print_the_flag(grid, loss_pairs, evals):
    """pair_losses, fit_relation, run_downstream, collapse_report and init_study said '--match',
    '--e', '--method', '--relation', '--at', '--at-x', '--E', '--thresholds' only: a notebook
    passes match=, e_source=, at_x=, E=, ... Each now says 'match (--match)'; a command still
    prints the flag alone (flags.command_words)."""
    from scalefit import collapse_report, fit_relation, init_study, pair_losses, run_downstream
    from scalefit.cli import main
    from scalefit.scaling.flags import as_command
    calls = [
        (lambda: pair_losses(grid, "loss_prose_test", "loss_code_test", match="compute"),
         "match (--match) compute: pairs the runs of two training sets"),
        (lambda: pair_losses(grid, "loss_prose_test", "loss_code_test", "train-to-train"),
         "pairing (--pair) train-to-train: name the two training sets with x_from (--x-from) and "
         "y_from (--y-from)"),
        (lambda: fit_relation(loss_pairs, e_source="kaplan", E_x=1.0, E_y=0.5, n_bootstrap=0),
         "e_source (--e) kaplan sets E_x and E_y itself"),
        (lambda: fit_relation(loss_pairs, e_source="fit", method="huber", n_bootstrap=0),
         "method (--method) huber: fits the log-log line with E fixed"),
        (lambda: fit_relation(loss_pairs, e_source="given", E_x=1.0, n_bootstrap=0),
         "e_source (--e) given needs both E_x (--E-x) and E_y (--E-y)"),
        (lambda: fit_relation(loss_pairs, "sigmoid", E_x=1.0, E_y=0.2, n_bootstrap=0),
         "E_x (--E-x), E_y (--E-y): options of the shifted power law"),
        (lambda: run_downstream(grid, "loss_prose_test", "loss_code_test", at_x=3.0, at_nd="1e6,1e7"),
         "at_x (--at-x) and at_nd (--at): give one of them"),
        (lambda: run_downstream(grid, "loss_prose_test", "loss_code_test", at_x=-1.0),
         "at_x (--at-x): x = -1 is negative"),
        (lambda: run_downstream(grid, "loss_prose_test", "loss_code_test", at_nd="abc"),
         "at_nd (--at): 'abc' is not N,D"),
        (lambda: collapse_report(_joined(), E=10.0),
         "E (--E): 10 is not below the smallest loss in the data"),
        (lambda: init_study(evals, thresholds="abc"), "thresholds (--thresholds): 'abc' is not a number"),
    ]
    for call, said in calls:
        with pytest.raises(InputError) as caught:
            call()
        assert str(caught.value).startswith(said), str(caught.value)
    # a command prints the flags alone, as it did: as_command takes each 'argument (--flag)' back
    assert as_command(calls[1][1]) == ("--pair train-to-train: name the two training sets with "
                                       "--x-from and --y-from")
    result = CliRunner().invoke(main, ["predict", "downstream", "--data", str(RUNS), "--x",
                                       "loss_prose_test", "--y", "loss_code_test", "--match", "compute"])
    assert result.exit_code == 2
    assert result.output.startswith("error: --match compute: pairs the runs of two training sets")


def test_calibrate_relation_names_python_arguments_and_reads_any_case():
    """calibrate_relation itself was wrapped to name bare flags, so a Python caller read '--match';
    its relation was case-sensitive with no 'did you mean'. The command keeps the flags."""
    import pandas as pd

    from scalefit.errors import InputError
    from scalefit.scaling.relations.calibrate import calibrate_relation
    table = pd.DataFrame({"a": [1.0]})
    with pytest.raises(InputError, match=r"^relation \(--relation\): 'sigmod' is not one of "
                                         r".*did you mean 'sigmoid'\?"):
        calibrate_relation(table, "x", "y", "sigmod")
    with pytest.raises(InputError, match=r"^match \(--match\): 'foo' is not one of tokens, compute"):
        calibrate_relation(table, "x", "y", "Shifted-Power", match="foo")

"""Audit A1, finding 1: a categorical statistic (best_family, whose value is a family's code and
whose name is in `label`) refused by every command that would average, fit or plot it:
trajectory, transitions, weights plot and init-study, through one check (schema.refuse_categorical)."""
from __future__ import annotations

import pandas as pd
import pytest

from scalefit.errors import InputError
from scalefit.schema import refuse_categorical
from test_init_study import synthetic_table
from test_trajectory_inputs import long_table, one_line_error, run_cli


CATEGORY = "'best_family' names a category in its rows' label column"


@pytest.fixture(scope="module")
def with_family(tmp_path_factory):
    """long_table (t_nu of mlp_in and the loss of three runs) with a best_family row beside each
    t_nu row: value 1 (the code), label student_t, as `scalefit weights` writes them."""
    table = long_table()
    family = table[table["stat"] == "t_nu"].assign(stat="best_family", value=1.0, label="student_t")
    path = tmp_path_factory.mktemp("family") / "checkpoints.parquet"
    pd.concat([table, family], ignore_index=True).to_parquet(path)
    return path


@pytest.mark.parametrize("command", [
    ["trajectory", "--stat", "best_family", "--group", "mlp_in"],
    ["transitions", "--stat", "best_family", "--group", "mlp_in", "--bootstrap", "0"],
    ["weights", "plot", "--stat", "best_family", "--out", "{out}"],
])
def test_a_categorical_statistic_is_refused_by_the_trajectory_commands(command, with_family, tmp_path):
    """trajectory printed a power law with R^2 and a collapse verdict for the family code,
    transitions fitted hinges to it, weights plot drew it (exit 0 each): one line, exit 2, naming
    the stat and the numeric statistic of the table to give instead."""
    args = [a.replace("{out}", str(tmp_path / "plots")) for a in command]
    code, out = run_cli(args + ["--data", str(with_family)])
    one_line_error(code, out, "--stat: " + CATEGORY, "such as t_nu")
    assert not (tmp_path / "plots").exists()  # refused before any figure or folder


def test_every_command_and_the_api_say_the_same_refusal(with_family, tmp_path):
    """The one check (schema.refuse_categorical) serves init-study too, whose own copy it replaced,
    and the Python API of the selection and the plot."""
    from scalefit.scaling.trajectories.table import stat_trajectory
    from scalefit.weightstats.plots import stat_series

    table = pd.read_parquet(with_family)
    for call in (lambda: stat_trajectory(table, "best_family", group="mlp_in"),
                 lambda: stat_series(table, "best_family")):
        with pytest.raises(InputError, match=CATEGORY):
            call()
    assert len(stat_trajectory(table, "t_nu", group="mlp_in")) == (table["stat"] == "t_nu").sum()
    init = synthetic_table()
    family = init[init["stat"] == "excess_kurtosis"].assign(stat="best_family", value=1.0, label="student_t")
    data = tmp_path / "init.parquet"
    pd.concat([init, family], ignore_index=True).to_parquet(data)
    code, out = run_cli(["init-study", "--data", str(data), "--stat", "best_family"])
    one_line_error(code, out, "--stat: " + CATEGORY, "such as excess_kurtosis")


def test_the_refusal_offers_the_tables_own_numeric_statistics():
    """Offered: the usual numeric ones where the table has them, else its own, never a labelled one."""
    rows = pd.DataFrame({"stat": ["std", "best_family", "alpha"], "label": [None, "gaussian", ""],
                         "value": [0.02, 0.0, 3.0]})
    with pytest.raises(InputError, match=r"^--stat: 'best_family' .* such as alpha or std$"):
        refuse_categorical(rows, "best_family", "--stat")
    refuse_categorical(rows, "std", "--stat")  # a numeric statistic passes
    refuse_categorical(rows.drop(columns="label"), "best_family", "--stat")  # no label column: no category


def test_warmup_study_names_the_panel_that_holds_a_categorical_statistic(with_family):
    """warmup-study reads its statistics through the same selection: its refusal names --panel,
    where the user gave the statistic (it said 'stat (--stat)', a flag warmup-study has not)."""
    code, out = run_cli(["warmup-study", "--data", str(with_family), "--panel", "best_family/mlp_in",
                         "--bootstrap", "0", "--jobs", "1"])
    one_line_error(code, out, "panels (--panel): " + CATEGORY, "such as t_nu")

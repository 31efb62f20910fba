"""Bad-input messages that named the wrong thing (s47 audit): a statistic whose group rows are all
nan reached `transitions` as an empty trajectory ('trajectory: has no rows; pass stat_trajectory(...)
's output', no file, no stat) and `trajectory` as 'no (model, step) has both stat ... and a loss';
`scalefit weights --checkpoint` of a folder without weights named an --allow-bin it does not have."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from scalefit.cli import main


@pytest.fixture(scope="module")
def nan_group_rows(tmp_path_factory):
    """Two runs of the shipped table with sv_max's group rows (tensor '*') all nan."""
    from scalefit.data import MINI_CHECKPOINTS, data_path
    table = pd.read_parquet(data_path(*MINI_CHECKPOINTS))
    table = table[table["model"].isin(["mini-1", "mini-2"])].copy()
    table.loc[(table["stat"] == "sv_max") & (table["tensor"] == "*"), "value"] = np.nan
    path = tmp_path_factory.mktemp("nan") / "weights_nan.parquet"
    table.to_parquet(path)
    return path


@pytest.mark.parametrize("command", ["transitions", "trajectory"])
def test_an_all_nan_statistic_is_named_with_its_file(nan_group_rows, command):
    result = CliRunner().invoke(main, [command, "--data", str(nan_group_rows), "--stat", "sv_max",
                                       "--group", "mlp_in"])
    assert result.exit_code == 2 and "Traceback" not in result.output, result.output
    error = [ln for ln in result.output.splitlines() if ln.startswith("error:")]
    assert len(error) == 1, result.output
    assert str(nan_group_rows) in error[0] and "stat 'sv_max', group mlp_in" in error[0], error
    assert "has no finite value" in error[0] and "nan" in error[0], error
    assert "has no rows" not in error[0] and "and a loss" not in error[0], error


def test_the_api_refuses_it_as_no_measured_value(nan_group_rows):
    """warmup-study skips such a panel by this error's kind (NoMeasuredValue), not its words."""
    from scalefit.scaling.trajectories.table import NoMeasuredValue, stat_trajectory
    with pytest.raises(NoMeasuredValue, match="has no finite value"):
        stat_trajectory(pd.read_parquet(nan_group_rows), "sv_max", group="mlp_in")


def test_weights_checkpoint_without_weights_names_a_real_option(tmp_path):
    """It said '(or pickle *.bin, loaded only with --allow-bin)'; weights has no --allow-bin."""
    (tmp_path / "config.json").write_text("{}")
    result = CliRunner().invoke(main, ["weights", "--checkpoint", str(tmp_path), "--out", str(tmp_path / "out")])
    assert result.exit_code == 2 and "Traceback" not in result.output, result.output
    assert "no weights in this folder" in result.output
    assert "scalefit eval --weights --allow-bin" in result.output
    assert "loaded only with --allow-bin" not in result.output
    # the option it names is an option of that command
    help_text = CliRunner().invoke(main, ["eval", "--help"]).output
    assert "--allow-bin" in help_text and "--weights" in help_text

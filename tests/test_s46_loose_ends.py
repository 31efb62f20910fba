"""A notebook audit's loose ends: how a message names a row (a file's row or a frame's index
label), what --layer -1 selects in a weight table, and the shipped tables' column dictionary."""
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from scalefit.data import MINI_CHECKPOINTS, MINI_FINALS, MINI_RUNS, data_path
from scalefit.errors import ROWS_OF, InputError, row_name, rows_name
from scalefit.tables import read_table
from test_reconcile import isoflop_grid

ROOT = Path(__file__).resolve().parents[1]
RUNS, CHECKPOINTS = data_path(*MINI_RUNS), data_path(*MINI_CHECKPOINTS)
COLUMNS = RUNS.with_name("COLUMNS.md")  # the shipped tables' column dictionary, beside them


def _bad_wsd_run(runs: pd.DataFrame) -> tuple[pd.DataFrame, object]:
    """The audit's case: the WSD runs of the shipped table, the third with a negative loss."""
    wsd = runs[runs.part == "wsd"].copy()
    label = wsd.index[2]
    wsd.loc[label, "loss"] = -1
    return wsd, label


def test_a_notebook_frame_names_the_index_label_not_label_plus_one():
    """fit_law on a filtered in-memory frame said 'row 28' for the frame's row at position 2,
    label 27: neither its position nor its label."""
    from scalefit import fit_law

    wsd, label = _bad_wsd_run(pd.read_csv(RUNS))
    assert label != 2  # the label is not the position: the case the message got wrong
    with pytest.raises(InputError) as error:
        fit_law(wsd, "chinchilla", n_bootstrap=0)
    message = str(error.value)
    assert f"column 'loss', row with index {label}: must be positive, got -1" in message
    assert f"row {label + 1}" not in message


def test_a_table_read_from_a_file_keeps_the_files_row_through_a_notebooks_filter():
    """read_table marks its frame (attrs) and the mark survives the subsetting and copy a
    notebook does: the message names the file's data row, as the command's does."""
    from scalefit import fit_law

    runs = read_table(RUNS)
    assert runs.attrs[ROWS_OF] == str(RUNS)
    wsd, label = _bad_wsd_run(runs)
    with pytest.raises(InputError, match=rf"column 'loss', row {label + 1}: must be positive"):
        fit_law(wsd, "chinchilla", n_bootstrap=0)


def test_the_command_names_the_files_row(tmp_path):
    from click.testing import CliRunner
    from scalefit.cli import main

    runs = pd.read_csv(RUNS)
    _, label = _bad_wsd_run(runs)
    runs.loc[label, "loss"] = -1
    path = tmp_path / "runs.csv"
    runs.to_csv(path, index=False)
    result = CliRunner().invoke(main, ["fit", "chinchilla", "--data", str(path),
                                       "--subset", "part=wsd", "--bootstrap", "0"])
    assert result.exit_code == 2, result.output
    assert f"{path} [part=wsd]: column 'loss', row {label + 1}: must be positive, got -1" in result.output


@pytest.mark.parametrize("index, named", [
    (pd.RangeIndex(3), ["row with index 0", "row with index 1", "row with index 2"]),
    (pd.Index([10, 20, 30]), ["row with index 10", "row with index 20", "row with index 30"]),
    (pd.Index(["a", "b", "c"]), ["row with index 'a'", "row with index 'b'", "row with index 'c'"]),
])
def test_row_name_of_a_frame_without_a_file(index, named):
    frame = pd.DataFrame({"x": [1, 2, 3]}, index=index)
    assert [row_name(frame, i) for i in range(3)] == named
    assert rows_name(frame, [0, 2], " and ") == (
        f"rows with index {named[0].split()[-1]} and {named[2].split()[-1]}")
    assert rows_name(frame, np.array([1])) == named[1]


def test_row_name_of_a_file_frame_is_the_files_data_row(tmp_path):
    path = tmp_path / "t.csv"
    pd.DataFrame({"x": range(6)}).to_csv(path, index=False)
    frame = read_table(path)
    sub = frame[frame["x"] % 2 == 1].sort_values("x", ascending=False)  # labels 5, 3, 1
    assert [row_name(sub, i) for i in range(3)] == ["row 6", "row 4", "row 2"]
    assert rows_name(sub, [0, 1]) == "rows 6, 4"
    # a frame whose mark pandas drops (a merge) falls back to its index labels, which stay true
    merged = sub.merge(pd.DataFrame({"x": [1, 3, 5]}), on="x")
    assert ROWS_OF not in merged.attrs and row_name(merged, 0) == "row with index 0"


def test_a_written_parquet_file_does_not_carry_the_mark(tmp_path):
    """The mark names the file read; a Parquet file written from that frame (pandas writes attrs
    as PANDAS_ATTRS metadata) must not carry the other file's name as its own."""
    import pyarrow.parquet as pq
    from scalefit.tables import write_table

    source = tmp_path / "t.csv"
    pd.DataFrame({"x": [1, 2]}).to_csv(source, index=False)
    frame = read_table(source)
    out = write_table(frame, tmp_path / "t.parquet")
    metadata = pq.read_schema(out).metadata or {}
    assert b"PANDAS_ATTRS" not in metadata
    assert ROWS_OF in frame.attrs  # the caller's frame keeps its mark
    assert read_table(out).attrs[ROWS_OF] == str(out)


def test_a_messages_row_is_the_row_of_the_file(tmp_path):
    """Every 'row N' said of a file read with read_table is the file's 1-based data row: the
    trajectory's schedule check on a sorted and filtered table."""
    from scalefit.scaling.trajectories.table import stat_trajectory

    rows = [{"model": "m", "step": s, "tensor": "*", "group": "mlp_in", "layer": -1,
             "stat": "t_nu", "value": 5.0 + s, "lr": 1e-3} for s in (0, 1, 2, 3)]
    rows += [{"model": "m", "step": s, "dataset": "val", "metric": "loss", "value": 4.0 - s,
              "lr": 1e-3} for s in (0, 1, 2, 3)]
    table = pd.DataFrame(rows).astype({"lr": object})
    table.loc[6, "lr"] = "fast"
    path = tmp_path / "t.csv"
    table.to_csv(path, index=False)
    with pytest.raises(InputError, match=r"t.csv: column 'lr', row 7: 'fast'"):
        stat_trajectory(read_table(path), "t_nu", group="mlp_in", source="t.csv")
    with pytest.raises(InputError, match=r"t.csv: column 'lr', row with index 6: 'fast'"):
        stat_trajectory(table, "t_nu", group="mlp_in", source="t.csv")


# --layer -1: the group's pooled row (tensor '*'), never a tensor outside the blocks alone

def _layernorm_table(pooled_steps=(0, 1, 2, 3)) -> pd.DataFrame:
    """A weight table's layernorm group: the final norm (layer -1, outside the blocks), layer 0's
    norm, and the group's pooled row (tensor '*', layer -1) at ``pooled_steps``; with losses."""
    rows = []
    for s in range(4):
        rows += [{"model": "m", "step": s, "tensor": "gpt_neox.final_layer_norm.weight",
                  "group": "layernorm", "layer": -1, "stat": "rms", "value": 100.0 + s},
                 {"model": "m", "step": s, "tensor": "gpt_neox.layers.0.input_layernorm.weight",
                  "group": "layernorm", "layer": 0, "stat": "rms", "value": 200.0 + s},
                 {"model": "m", "step": s, "dataset": "val", "metric": "loss", "value": 4.0 - s / 4}]
        if s in pooled_steps:
            rows.append({"model": "m", "step": s, "tensor": "*", "group": "layernorm", "layer": -1,
                         "stat": "rms", "value": 150.0 + s})
    return pd.DataFrame(rows)


def test_layer_minus_one_is_the_pooled_row():
    from scalefit.scaling.trajectories.table import stat_trajectory

    traj = stat_trajectory(_layernorm_table(), "rms", group="layernorm", layer=-1)
    assert traj["value"].tolist() == [150.0, 151.0, 152.0, 153.0]


def test_layer_minus_one_without_a_pooled_row_is_refused_not_the_final_norm_alone():
    """A table with no pooled rows (weight_stats_table(groups=False)): --layer -1 took the final
    layer norm's own value as the group's pooled row."""
    from scalefit.scaling.trajectories.table import stat_trajectory

    table = _layernorm_table(pooled_steps=())
    with pytest.raises(InputError, match=r"layer -1 selects a group's pooled row \(tensor '\*'\).*"
                                         r"gpt_neox.final_layer_norm.weight.*--tensor"):
        stat_trajectory(table, "rms", group="layernorm", layer=-1)
    # the tensor outside the blocks is still selected by its name
    alone = stat_trajectory(table, "rms", tensor="gpt_neox.final_layer_norm.weight")
    assert alone["value"].tolist() == [100.0, 101.0, 102.0, 103.0]


def test_a_named_tensor_at_layer_minus_one_is_that_tensor():
    """--tensor X --layer -1 selects tensor X at layer -1 (as before b5e0405), pooled rows or not:
    the pooled-row rule is for a selection that names no tensor."""
    from scalefit.scaling.trajectories.table import stat_trajectory

    for pooled_steps in ((), (0, 1, 2, 3)):
        traj = stat_trajectory(_layernorm_table(pooled_steps), "rms",
                               tensor="gpt_neox.final_layer_norm.weight", layer=-1)
        assert traj["value"].tolist() == [100.0, 101.0, 102.0, 103.0]
        assert not any("pooled" in note for note in traj.attrs.get("notes", []))
    pooled = stat_trajectory(_layernorm_table(), "rms", tensor="*", group="layernorm", layer=-1)
    assert pooled["value"].tolist() == [150.0, 151.0, 152.0, 153.0]


def test_a_checkpoint_without_a_pooled_row_is_left_out_and_said():
    """A group with a non-finite tensor at a checkpoint has no pooled statistics there: that
    checkpoint took the final norm's value under --layer -1."""
    from scalefit.scaling.trajectories.table import stat_trajectory

    traj = stat_trajectory(_layernorm_table(pooled_steps=(0, 1, 3)), "rms", group="layernorm",
                           layer=-1)
    assert traj.set_index("step")["value"].to_dict() == {0: 150.0, 1: 151.0, 3: 153.0}
    assert any("1 checkpoint(s) with no pooled row of stat 'rms' (layer -1) left out "
               "(first: model m, step 2)" in note for note in traj.attrs["notes"])


def test_layer_minus_one_on_the_shipped_checkpoints_is_the_pooled_row():
    """On the shipped table, where every group has pooled rows, --layer -1 of embed_in (whose one
    tensor also sits at layer -1) is the pooled row: the same trajectory as the group alone."""
    from scalefit.scaling.trajectories.table import stat_trajectory

    table = pd.read_parquet(CHECKPOINTS)
    table = table[table["model"] == "mini-1"]
    for group in ("embed_in", "layernorm"):
        pooled = stat_trajectory(table, "rms", group=group, layer=-1)
        whole = stat_trajectory(table, "rms", group=group)
        np.testing.assert_array_equal(pooled["value"].to_numpy(), whole["value"].to_numpy())


def test_the_layer_help_says_what_minus_one_selects():
    from click.testing import CliRunner
    from scalefit.cli import main

    text = CliRunner().invoke(main, ["transitions", "--help"], terminal_width=200).output
    text = " ".join(text.split())
    assert "-1: the group's row" in text and "(tensor '*')" in text and "--tensor" in text  # s47: not 'pooled'


# the shipped tables' column dictionary

def _described(table: str) -> dict[str, str]:
    """{column: description} of one table's section of data/suites/mini/COLUMNS.md."""
    text = COLUMNS.read_text()
    section = re.search(rf"^## {re.escape(table)}\n(.*?)(?=^## |\Z)", text, re.S | re.M)
    assert section, f"COLUMNS.md has no section '## {table}'"
    return dict(re.findall(r"^\| `([^`]+)` \| (.+?) \|$", section.group(1), re.M))


@pytest.mark.parametrize("shipped", [MINI_RUNS, MINI_CHECKPOINTS, MINI_FINALS], ids=lambda parts: parts[-1])
def test_every_column_of_a_shipped_table_is_described_and_no_other(shipped):
    path = data_path(*shipped)
    table = path.name
    columns = (pd.read_csv(path, nrows=0) if table.endswith(".csv")
               else pd.read_parquet(path).iloc[:0]).columns
    described = _described(table)
    assert list(described) == list(columns)
    assert all(len(text) > 10 for text in described.values())


def test_the_runs_loss_column_says_whose_validation_split():
    """`loss` is each run's own distribution's validation loss (prose runs: prose-val; code
    runs: code-val, equal to loss_code_val): the description says so, and the table agrees."""
    loss = _described("runs.csv")["loss"]
    assert "prose-val" in loss and "code-val" in loss and "loss_code_val" in loss
    runs = pd.read_csv(RUNS)
    code = runs[runs["distribution"] == "code"]
    assert len(code) and (code["loss"] == code["loss_code_val"]).all()
    prose = runs[runs["distribution"] == "prose"]
    assert len(prose) and not np.isclose(prose["loss"], prose["loss_prose_test"]).all()
    text = COLUMNS.read_text()
    assert "`scalefit compare`" in text and "part=grid" in text


def test_the_column_dictionary_installs_with_the_tables():
    import tomllib

    setup = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    patterns = setup["package-data"]["scalefit.data.suites.mini"]
    assert "*.md" in patterns and "*.csv" in patterns and "*.parquet" in patterns


def test_an_akima_isoflop_repeat_names_a_notebook_frames_index_labels(tmp_path):
    """The run table's rows reach isoflop as numbers (RunTable.rows, label + 1): a notebook
    frame's repeated size was named 'rows 1 and 64', its labels being 0 and 63."""
    from scalefit import fit_law

    runs = pd.concat([isoflop_grid(0.34, 0.28, "a", 1), isoflop_grid(0.34, 0.28, "b", 2)],
                     ignore_index=True)
    runs.index = runs.index + 100  # labels that are not positions
    with pytest.raises(InputError, match=r"rows with index 100 and 163 repeat N = "):
        fit_law(runs, "isoflop", isoflop_method="akima", n_bootstrap=0)
    path = tmp_path / "runs.csv"
    runs.to_csv(path, index=False)
    for table in (read_table(path), str(path)):  # the file's rows, read in a notebook or by name
        with pytest.raises(InputError, match=r": rows 1 and 64 repeat N = "):
            fit_law(table, "isoflop", isoflop_method="akima", n_bootstrap=0)

"""suite ship: lane tables are checked as `suite train` writes them, and two lanes that disagree
about a run are refused, so what ships never depends on the order of --from."""
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from test_cli_audit import one_line_error

from scalefit.errors import InputError
from scalefit.trainer.ship import merge_run_tables

DATA = Path(__file__).resolve().parents[1] / "data" / "suites"
SPEC = DATA / "mini.toml"


@pytest.fixture(scope="module")
def table():
    """The shipped mini suite's run table: every column `suite train` writes."""
    return pd.read_csv(DATA / "mini" / "runs.csv")


def lane(root: Path, name: str, runs: pd.DataFrame) -> Path:
    folder = root / name
    folder.mkdir()
    runs.to_csv(folder / "runs.csv", index=False)
    return folder


def ship(*lanes, out):
    args = ["suite", "ship", "--spec", str(SPEC), "--out", str(out)]
    for folder in lanes:
        args += ["--from", str(folder)]
    return args


def test_two_lanes_that_disagree_about_a_run_are_refused_in_either_order(table, tmp_path):
    """A run in two lanes with different losses shipped the last --from's row, exit 0 (the audit's
    grid run at loss 7.0 where lane0 had 5.65899)."""
    grid = table[table["part"] == "grid"]
    first = lane(tmp_path, "lane0", grid)
    run = grid["run"].iloc[1]
    second = lane(tmp_path, "lanediff", grid.assign(loss=np.where(grid["run"] == run, 7.0, grid["loss"])))
    for order in ((first, second), (second, first)):
        line = one_line_error(ship(*order, out=tmp_path / "out"), f"run={run}", "with different values (loss",
                              "7.0", str(first / "runs.csv"), str(second / "runs.csv"))
        assert "keep the row to ship" in line
    assert not (tmp_path / "out").exists()


def test_identical_rows_merge_and_the_order_of_lanes_does_not_matter(table, tmp_path):
    """A run two lanes hold alike is shipped once; any order of --from gives the same table."""
    grid, rest = table[table["part"] == "grid"], table[table["part"] != "grid"]
    a = lane(tmp_path, "a", grid)
    b = lane(tmp_path, "b", pd.concat([rest, grid.head(3)]))  # three grid runs in both lanes
    merged = merge_run_tables([a, b])
    assert len(merged) == len(table) and merged["run"].is_unique
    shipped = merged.to_csv(index=False)  # what runs.csv would hold
    assert merge_run_tables([b, a]).to_csv(index=False) == shipped
    assert merge_run_tables([lane(tmp_path, "all", table)]).to_csv(index=False) == shipped


@pytest.mark.parametrize("change, named", [
    (lambda t: t.iloc[:0], ["header only", "no runs"]),
    (lambda t: t.drop(columns="loss"), ["column 'loss' is missing", "scalefit suite train"]),
    (lambda t: t.drop(columns="flops"), ["column 'flops' is missing"]),
    (lambda t: t.assign(loss=t["loss"].where(t.index != 2)), ["column 'loss', row 3", "empty",
                                                              "expected a finite number"]),
    (lambda t: t.assign(loss_code_test=t["loss_code_test"].where(t.index != 0, np.inf)),
     ["column 'loss_code_test', row 1", "'inf'", "expected a finite number"]),
    (lambda t: t.assign(loss=t["loss"].astype(object).where(t.index != 1, "diverged")),
     ["column 'loss', row 2", "'diverged'"]),
])
def test_a_lane_table_suite_train_would_not_write_is_refused(table, tmp_path, change, named):
    """A header-only runs.csv shipped 0 runs, one without `loss` shipped a table `scalefit fit`
    cannot read, a NaN loss shipped as NaN: each exit 0."""
    bad = lane(tmp_path, "lane", change(table))
    runs = change(table)
    line = one_line_error(ship(bad, out=tmp_path / "out"), str(bad / "runs.csv"), *named)
    if len(runs) and "row" in named[0]:
        row = int(named[0].rsplit(" ", 1)[1])
        assert f"(run {runs['run'].iloc[row - 1]})" in line
    assert not (tmp_path / "out").exists()
    with pytest.raises(InputError, match="runs.csv"):
        merge_run_tables([bad])


def test_two_rows_of_a_run_in_one_lane_are_refused(table, tmp_path):
    """A lane's runs.csv edited by hand to hold a run twice, with two losses: the row kept was
    the later one, in silence."""
    twice = pd.concat([table, table.head(1).assign(loss=9.0)])
    bad = lane(tmp_path, "lane", twice)
    one_line_error(ship(bad, out=tmp_path / "out"), f"run={table['run'].iloc[0]}", "loss",
                   f"{bad / 'runs.csv'} holds both")

"""suite ship --rescore re-measures every loss column the lane check reads, so a lane whose
runs.csv holds a NaN (or text) loss is taken and checked after rescoring; every other lane check
stays. The checkpoints' evaluation is stubbed: what is tested is ship's handling of the tables."""
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from test_s41_ship_lanes import DATA, SPEC, lane

from scalefit.errors import InputError
from scalefit.trainer.final_losses import EVAL_COLUMNS, LOSS_COLUMNS
from scalefit.trainer.ship import merge_run_tables, rescore_runs
from scalefit.trainer.spec import load_spec


@pytest.fixture(scope="module")
def table():
    """The shipped mini suite's run table (test_s41_ship_lanes' lanes are cut from it)."""
    return pd.read_csv(DATA / "mini" / "runs.csv")


@pytest.fixture
def measured(table, tmp_path, monkeypatch):
    """A suite folder with a last checkpoint (an empty file) for three grid runs, and an evaluator
    that 'measures' the shipped table's losses; returns (runs, suite_dir, measured losses)."""
    import scalefit.trainer.final_losses as final_losses
    import scalefit.trainer.spec as spec_module
    import scalefit.trainer.sweep as sweep

    runs = table[table["part"] == "grid"].head(3).reset_index(drop=True)
    steps = {r.run: r.steps for r in load_spec(SPEC).runs}
    suite = tmp_path / "suite"
    for run in runs["run"]:
        folder = suite / run / f"step{steps[run]}"
        folder.mkdir(parents=True)
        (folder / "model.safetensors").touch()
    fresh = runs.set_index("run")[list(EVAL_COLUMNS)].copy()
    monkeypatch.setattr(spec_module, "spec_for_corpus", lambda path, corpus: load_spec(path))
    monkeypatch.setattr(sweep, "load_suite_model", lambda folder: None)
    monkeypatch.setattr(final_losses, "evaluate_run",
                        lambda spec, run, model, corpus, wall_s: fresh.loc[run.run].to_dict())
    return runs, suite, fresh


def rescored(folder: Path, suite: Path) -> pd.DataFrame:
    runs = merge_run_tables([folder], rescore=True)
    return rescore_runs(SPEC, runs, suite, suite / "corpus", progress=False).set_index("run")


def test_rescore_takes_a_lane_whose_losses_it_replaces(measured, tmp_path):
    """A NaN loss refused the lane although --rescore re-measures it (F5's note)."""
    runs, suite, fresh = measured
    stale = runs.assign(loss=runs["loss"].astype(object).where(runs.index != 1, "diverged"),
                        loss_code_val=runs["loss_code_val"].where(runs.index != 2))
    folder = lane(tmp_path, "lane", stale)
    with pytest.raises(InputError, match="expected a finite number"):
        merge_run_tables([folder])  # without --rescore the lane check stands
    shipped = rescored(folder, suite)
    for column in LOSS_COLUMNS:
        assert shipped[column].dtype == float
        np.testing.assert_array_equal(shipped.loc[fresh.index, column], fresh[column])


@pytest.mark.parametrize("change, named", [
    (lambda t: t.iloc[:0], "no runs"),
    (lambda t: t.drop(columns="flops"), "column 'flops' is missing"),
    (lambda t: pd.concat([t, t.head(1).assign(loss=np.nan)]), "holds both"),
])
def test_rescore_keeps_every_other_lane_check(table, tmp_path, change, named):
    with pytest.raises(InputError, match=named):
        merge_run_tables([lane(tmp_path, "lane", change(table))], rescore=True)


def test_a_rescored_loss_that_is_not_finite_is_refused(measured, tmp_path):
    """The losses --rescore writes are checked as the lane's were: a diverged checkpoint."""
    runs, suite, fresh = measured
    run = runs["run"].iloc[1]
    fresh.loc[run, "loss_code_test"] = np.inf
    with pytest.raises(InputError) as err:
        rescored(lane(tmp_path, "lane", runs), suite)
    said = str(err.value)
    assert run in said and "loss_code_test = inf" in said and "expected a finite number" in said


def test_ship_rescore_takes_a_nan_lane(table, tmp_path):
    """The command passes --rescore to the lane check: a lane's NaN loss is re-measured, not refused
    (it stops here at the missing corpus, after the lane check)."""
    from test_cli_audit import one_line_error
    from test_s41_ship_lanes import ship
    bad = lane(tmp_path, "lane", table.assign(loss=table["loss"].where(table.index != 2)))
    one_line_error(ship(bad, out=tmp_path / "out") + ["--rescore", "--suite-dir",
                   str(tmp_path / "none"), "--corpus", str(tmp_path / "none")], "no corpus")

"""The tables a sweep writes keep its counts integers: context, stride, n_tokens and n_examples of
a sweep that mixes loss rows and task rows print as "64", not "64.0" (CSV), and are integer
columns (nullable Int64 where some rows lack them) in Parquet, also after `eval merge`."""
from __future__ import annotations

import json

import pandas as pd
import pytest

torch = pytest.importorskip("torch")
torch.set_num_threads(1)

from click.testing import CliRunner  # noqa: E402
from tinysuite import cached_tiny_suite  # noqa: E402

from scalefit.cli import main  # noqa: E402
from scalefit.sweep import engine  # noqa: E402
from scalefit.sweep.checkpoints import safetensors_loader  # noqa: E402
from scalefit.sweep.grid import sweep_grid  # noqa: E402

COUNTS = ("n_tokens", "context", "stride", "n_examples")


@pytest.fixture(scope="module")
def mixed_sweep(tmp_path_factory):
    """One model, two steps: the loss on a JSONL of documents and a local multiple-choice task."""
    suite = cached_tiny_suite()
    folder = tmp_path_factory.mktemp("h1-mixed")
    task = folder / "mc.jsonl"
    task.write_text("".join(json.dumps({"context": f"x = {i}", "choices": [" y", " z", " w"], "answer": i % 3}) + "\n"
                            for i in range(4)))
    lines = (suite.parent / "data" / "val.txt").read_text().splitlines()
    docs = folder / "val.jsonl"  # several documents: the loss's se is a bootstrap over them
    docs.write_text("".join(json.dumps({"text": "\n".join(lines[i:i + 4])}) + "\n"
                            for i in range(0, len(lines), 4)))
    out = folder / "sweep"
    result = CliRunner().invoke(main, ["eval", "--suite", str(suite), "--models", "tiny-a", "--steps", "0,8",
                                       "--device", "cpu", "--threads", "1", "--no-progress",
                                       "--dataset", f"val={docs}",
                                       "--max-tokens", "200", "--tasks", f"mc={task}", "--json",
                                       "--out", str(out)])
    assert result.exit_code == 0, result.output
    return out, json.loads(result.stdout)


def check_counts(out):
    csv = pd.read_csv(out / "evals.csv", dtype=str, keep_default_na=False)
    loss, task = csv[csv["metric"] == "loss"], csv[csv["task"] == "mc"]
    assert not loss.empty and not task.empty
    assert set(loss["context"]) == {"64"} and set(loss["stride"]) == {"64"} and set(loss["n_tokens"]) == {"200"}
    assert set(task["n_examples"]) == {"4"} and set(task["context"]) == {""}
    table = pd.read_parquet(out / "evals.parquet")
    for name in COUNTS:
        assert pd.api.types.is_integer_dtype(table[name]), (name, table[name].dtype)
    assert table.loc[table["metric"] == "loss", "context"].tolist() == [64] * 2
    assert table.loc[table["task"] == "mc", "context"].isna().all()


def test_a_sweep_of_losses_and_tasks_keeps_its_counts_integers(mixed_sweep):
    out, doc = mixed_sweep
    check_counts(out)
    rows = [r for r in doc["evals"] if r["metric"] == "loss"]
    assert {r["context"] for r in rows} == {64} and all(r["n_examples"] is None for r in rows)


def test_a_merged_folder_keeps_its_counts_integers(mixed_sweep, tmp_path):
    out, _ = mixed_sweep
    result = CliRunner().invoke(main, ["eval", "merge", str(out), "--out", str(tmp_path / "merged")])
    assert result.exit_code == 0, result.output
    check_counts(tmp_path / "merged")


def test_counts_of_two_measurements_in_one_table_stay_integers(tmp_path):
    """Engine level: a count one measurement writes and another lacks (None or no column)."""
    _, grid, _ = sweep_grid(str(cached_tiny_suite()), ["tiny-a"], "0,8")

    def files(folder, info):
        return [{"stat": "files", "value": 1.0, "n_files": 3, "n_seen": None}]

    def nothing(folder, info):
        return [{"stat": "zero", "value": 0.0, "n_seen": 7}]

    measurements = [engine.Measurement("files", files, table="weights"),
                    engine.Measurement("nothing", nothing, table="weights")]
    result = engine.sweep_checkpoints(grid, measurements, tmp_path, load=safetensors_loader(), progress=False)
    assert result.ok, result.failures
    table = pd.read_parquet(tmp_path / "weights.parquet")
    assert str(table["n_files"].dtype) == "Int64" and str(table["n_seen"].dtype) == "Int64"
    assert table["step"].dtype == "int64" and table["value"].dtype == "float64"
    csv = pd.read_csv(tmp_path / "weights.csv", dtype=str, keep_default_na=False)
    assert set(csv["n_files"]) == {"3", ""} and set(csv["n_seen"]) == {"7", ""}


def test_the_wide_table_and_report_give_each_loss_its_standard_error(mixed_sweep):
    """evals_wide.csv and report.md carry each loss's se (a bootstrap over documents) as
    `{dataset}/loss_se` right after the loss: a quoted checkpoint loss comes with its SE."""
    out, _ = mixed_sweep
    long = pd.read_parquet(out / "evals.parquet")
    wide = pd.read_csv(out / "evals_wide.csv")
    cols = list(wide.columns)
    assert cols[cols.index("val/loss") + 1] == "val/loss_se"
    loss = long[long["metric"] == "loss"].sort_values("step")
    assert wide.sort_values("step")["val/loss_se"].tolist() == pytest.approx(loss["se"].tolist())
    assert (loss["se"] > 0).all()
    report = (out / "report.md").read_text()
    assert "val/loss_se" in report and "bootstrap over the dataset's documents" in report
    assert "the examples' sd / sqrt(n)" in report  # the task's mc/acc_se


@pytest.mark.parametrize("parts, dtype", [
    ([[1, 2], [float("nan")]], "Int64"),             # a count some parts lack: every part is looked at
    ([[1], [1.5]], "float64"),                        # a real number in a later part
    ([[1.5], [1], [float("nan")]], "float64"),        # ... or in the first: the look stops there
    ([pd.Series([1, None], dtype=object), [3]], "Int64"),  # ints beside None (object)
    ([["a"], [1]], "object"),                         # a name and a count: left as it is
    ([[None], [float("nan")]], "object"),             # no value at all: nothing said either way
])
def test_a_count_column_is_integer_exactly_when_every_part_holding_a_value_holds_integers(parts, dtype):
    from scalefit.sweep.parts import concat_parts

    frames = [pd.DataFrame({"x": values, "value": 0.5}) for values in parts]
    table = concat_parts(frames)
    assert str(table["x"].dtype) == dtype and table["value"].dtype == "float64"
    assert table["x"].isna().tolist() == pd.concat(frames, ignore_index=True)["x"].isna().tolist()

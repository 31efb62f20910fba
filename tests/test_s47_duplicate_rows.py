"""Rows of duplicated checkpoints are marked where they are read: a `duplicate_of` column in the
long and wide tables a sweep writes (eval, eval merge, weights) and a marked step in report.md's
table, on a tiny suite whose step 2 folder is a copy of step 1 (the audit's setup)."""
from __future__ import annotations

import shutil

import pandas as pd
import pytest

torch = pytest.importorskip("torch")
torch.set_num_threads(1)

from click.testing import CliRunner  # noqa: E402
from tinysuite import cached_tiny_suite  # noqa: E402

from scalefit.cli import main  # noqa: E402
from scalefit.integrity import DUPLICATE_COLUMN, mark_duplicates  # noqa: E402


@pytest.fixture(scope="module")
def copied_step(tmp_path_factory):
    """tiny-a of the cached suite with its step 2 folder replaced by a copy of step 1."""
    tiny = cached_tiny_suite().parent
    root = tmp_path_factory.mktemp("copied")
    for name in ("suite.toml", "trained_lr.json"):
        shutil.copy(tiny / name, root / name)
    shutil.copytree(tiny / "data", root / "data")
    for step in (0, 1, 2):
        shutil.copytree(tiny / "tiny-a" / f"step{step if step != 2 else 1}", root / "tiny-a" / f"step{step}")
    return root / "suite.toml"


EXPECTED = {0: "", 1: "tiny-a step 2", 2: "tiny-a step 1"}


def marks(table):
    rows = table[["step", DUPLICATE_COLUMN]].drop_duplicates()
    assert rows["step"].is_unique, rows
    return {int(s): ("" if pd.isna(d) else d) for s, d in zip(rows["step"], rows[DUPLICATE_COLUMN])}


@pytest.fixture(scope="module")
def eval_folder(copied_step, tmp_path_factory):
    out = tmp_path_factory.mktemp("eval") / "out"
    args = ["eval", "--suite", str(copied_step), "--device", "cpu", "--dataset",
            f"val={copied_step.parent / 'data' / 'val.txt'}", "--max-tokens", "100", "--models", "tiny-a",
            "--steps", "0,1,2", "--threads", "1", "--no-progress", "--out", str(out)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert "tiny-a step 2: same_as_step (tiny-a step 1) [duplicate]" in result.stderr
    return out


def test_eval_tables_name_the_twin_of_each_duplicated_checkpoint(eval_folder):
    evals = pd.read_parquet(eval_folder / "evals.parquet")
    assert marks(evals) == EXPECTED
    assert marks(pd.read_csv(eval_folder / "evals.csv")) == EXPECTED
    wide = pd.read_csv(eval_folder / "evals_wide.csv")
    assert marks(wide) == EXPECTED and len(wide) == 3
    # a fact of the checkpoint, before how it was measured (the settings stay the last columns)
    assert list(wide.columns)[-6:] == [DUPLICATE_COLUMN, "context", "stride", "max_tokens", "dtype", "device"]
    # the marked rows carry the same numbers (one measurement under two labels), the others do not
    loss = evals[evals["metric"] == "loss"].set_index("step")["value"]
    assert loss[1] == loss[2] and loss[0] != loss[1]


def test_report_marks_the_steps_in_its_table_and_says_why(eval_folder):
    from scalefit.sweep.report import DUPLICATE_MARK

    text = (eval_folder / "report.md").read_text()
    table = [line for line in text.split("## Per checkpoint")[1].split("## ")[0].splitlines()
             if line.startswith("| tiny-a |")]
    steps = [line.split("|")[2].strip() for line in table]
    assert steps == ["0", f"1 {DUPLICATE_MARK}", f"2 {DUPLICATE_MARK}"]
    note = next(line for line in text.splitlines() if line.startswith(f"{DUPLICATE_MARK} "))
    assert "tiny-a step 2 = tiny-a step 1" in note and "duplicate_of" in note


def test_a_merge_marks_the_same_rows(eval_folder, tmp_path):
    result = CliRunner().invoke(main, ["eval", "merge", str(eval_folder), "--out", str(tmp_path / "m")])
    assert result.exit_code == 0, result.output
    assert marks(pd.read_parquet(tmp_path / "m" / "evals.parquet")) == EXPECTED
    assert marks(pd.read_csv(tmp_path / "m" / "evals_wide.csv")) == EXPECTED


def test_weights_sweep_table_is_marked(copied_step, tmp_path):
    args = ["weights", "--suite", str(copied_step), "--models", "tiny-a", "--steps", "0,1,2", "--no-families",
            "--no-spectra", "--device", "cpu", "--no-progress", "--out", str(tmp_path / "w")]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert marks(pd.read_parquet(tmp_path / "w" / "weights.parquet")) == EXPECTED


def test_mark_duplicates_reads_only_duplicate_flags():
    flags = pd.DataFrame([
        # one model's step 4 repeating steps 2 and 3, and another model's step 1 (both flags of step 4)
        {"model": "a", "step": 4, "flag": "same_as_step", "other": "a step 2, a step 3", "duplicate": True,
         "detail": ""},
        {"model": "a", "step": 4, "flag": "same_as_model", "other": "b step 1", "duplicate": True, "detail": ""},
        # a shared initialization and a trend break are not duplicates
        {"model": "a", "step": 0, "flag": "same_as_model", "other": "b step 0", "duplicate": False, "detail": ""},
        {"model": "a", "step": 8, "flag": "trend_break", "other": "a step 4", "duplicate": False, "detail": ""},
    ])
    table = pd.DataFrame({"model": ["a", "a", "a", "a", "b"], "step": [0, 4, 4, 8, 1], "value": [1.0] * 5})
    marked = mark_duplicates(table, flags)
    assert list(marked[DUPLICATE_COLUMN]) == ["", "a step 2, a step 3, b step 1", "a step 2, a step 3, b step 1",
                                              "", ""]
    assert list(marked.columns) == ["model", "step", "value", DUPLICATE_COLUMN]
    assert (mark_duplicates(table, None)[DUPLICATE_COLUMN] == "").all()


# ---- eval's scoring conventions, said in one place (sweep.report.SCORING_CONVENTIONS) -------------

def words(text):
    return " ".join(text.split())


def test_eval_help_and_report_state_the_scoring_conventions(eval_folder):
    from scalefit.sweep.report import SCORING_CONVENTIONS

    for said in ("windows tile the dataset's token stream across documents", "counts 0 bytes in bpb",
                 "a .txt file (one document)", "lm-eval scores each document on its own"):
        assert said in SCORING_CONVENTIONS
    help_text = CliRunner().invoke(main, ["eval", "--help"]).output
    assert words(SCORING_CONVENTIONS) in words(help_text)
    header = (eval_folder / "report.md").read_text().split("## ")[0]
    assert f"- {SCORING_CONVENTIONS}" in header.splitlines()


# ---- one measurement that raises leaves the checkpoint's others measured ------------------------

def test_a_failing_task_leaves_the_later_tasks_of_the_checkpoint_measured(tmp_path):
    """`--tasks lambada_openai --tasks mc=local.jsonl` offline: the hub task raised and mc was
    never measured. Each task is its own result file with its own options, so the others are
    measured and kept; the checkpoint is still a failure (failures.csv, exit 1) naming the task,
    and a re-run measures only that one."""
    from scalefit.sweep import engine
    from scalefit.sweep.checkpoints import safetensors_loader
    from scalefit.sweep.grid import sweep_grid
    from scalefit.sweep.report import finish_sweep

    calls = []

    def hub_task(folder, info):
        calls.append("hub")
        if len(calls) == 1:
            raise ConnectionError("lambada_openai: the dataset hub is unreachable")
        return pd.DataFrame([{"task": "hub", "metric": "acc", "value": 0.25}])

    def local_task(folder, info):
        calls.append("mc")
        return pd.DataFrame([{"task": "mc", "metric": "acc", "value": 0.5}])

    measurements = [engine.Measurement("tasks:hub", hub_task, table="evals"),
                    engine.Measurement("tasks:mc", local_task, table="evals")]
    _, grid, _ = sweep_grid(str(cached_tiny_suite()), ["tiny-a"], "8")
    out = tmp_path / "out"
    first = engine.sweep_checkpoints(grid, measurements, out, load=safetensors_loader(), progress=False)
    assert calls == ["hub", "mc"]
    assert list(first.tables["evals"]["task"]) == ["mc"]
    failures = pd.read_csv(out / "failures.csv")
    assert list(failures["step"]) == [8]
    assert failures["error"][0].startswith("tasks:hub: ConnectionError: lambada_openai: the dataset hub")
    assert "the other 1 measurement of this checkpoint was measured" in failures["error"][0]
    lines, status = finish_sweep(first, "evals")
    assert status == 1 and any("failures.csv" in line for line in lines)
    again = engine.sweep_checkpoints(grid, measurements, out, load=safetensors_loader(), progress=False)
    assert calls == ["hub", "mc", "hub"]  # only the task that failed
    assert sorted(again.tables["evals"]["task"]) == ["hub", "mc"] and again.failures.empty
    assert finish_sweep(again, "evals")[1] == 0

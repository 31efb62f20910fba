"""The sweep engine's registry of measurements, and `scalefit eval` / `scalefit weights` as thin
commands over the one engine function (`scalefit.sweep.engine.sweep_checkpoints`)."""
from __future__ import annotations

import json

import pandas as pd
import pytest

pytest.importorskip("torch")

from click.testing import CliRunner  # noqa: E402
from tinysuite import cached_tiny_suite  # noqa: E402

import scalefit.evals.evaluate  # noqa: E402,F401  (imports every built-in measurement)
from scalefit.cli import main  # noqa: E402
from scalefit.errors import InputError  # noqa: E402
from scalefit.sweep import engine  # noqa: E402
from scalefit.sweep.measurements import (MEASUREMENTS, MeasurementKind, build_measurements,  # noqa: E402
                                         measurement_kind, register_measurement)
from scalefit.sweep.report import finish_sweep  # noqa: E402


def test_registry_lists_the_three_built_in_measurements():
    assert {"loss", "tasks", "weights"} <= set(MEASUREMENTS)
    assert {k: MEASUREMENTS[k].table for k in ("loss", "tasks", "weights")} == \
        {"loss": "evals", "tasks": "evals", "weights": "weights"}
    with pytest.raises(InputError, match="unknown measurement 'nope'"):
        measurement_kind("nope")


def test_a_new_measurement_is_one_registered_object():
    def build(*, scale=1.0):
        return [engine.Measurement("param-count", lambda model, info: pd.DataFrame(
            [{"tensor": "*", "stat": "n_params", "value": scale * 3.0}]), table="weights")]

    kind = register_measurement(MeasurementKind("param-count", table="weights", build=build))
    try:
        assert register_measurement(kind) is kind  # registering the same object again is harmless
        with pytest.raises(ValueError, match="already registered"):
            register_measurement(MeasurementKind("param-count", table="weights", build=build))
        (m,) = build_measurements({"param-count": {"scale": 2.0}})
        assert m.table == "weights" and m.fn(None, None)["value"].item() == 6.0
    finally:
        MEASUREMENTS.pop("param-count")


@pytest.fixture()
def recorded(monkeypatch):
    """sweep_checkpoints replaced by a recorder: what each command asks the engine to do."""
    calls = []

    def fake(grid, measurements, out_dir, **kwargs):
        calls.append({"grid": [g.key for g in grid], "measurements": [(m.name, m.table) for m in measurements],
                      "tables": kwargs.get("tables")})
        return engine.SweepResult(out_dir=str(out_dir), summary=engine.SweepSummary(), tables={},
                                  failures=pd.DataFrame(columns=["model", "step", "location", "error"]))

    monkeypatch.setattr(engine, "sweep_checkpoints", fake)
    return calls


def test_eval_and_weights_run_through_the_same_engine_function(recorded, tmp_path):
    suite = cached_tiny_suite()
    data = suite.parent / "data"
    result = CliRunner().invoke(main, ["eval", "--suite", str(suite), "--models", "tiny-a", "--steps", "0,8",
                                       "--device", "cpu", "--dataset", f"val={data / 'val.txt'}", "--weights",
                                       "--no-progress", "--out", str(tmp_path / "e"), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["rows"] == {"failures": 0}
    result = CliRunner().invoke(main, ["weights", "--checkpoint", str(suite.parent / "tiny-a" / "step8"),
                                       "--device", "cpu", "--no-progress", "--out", str(tmp_path / "w")])
    assert result.exit_code == 0, result.output
    evals_call, weights_call = recorded
    assert evals_call["grid"] == ["tiny-a/step0000000", "tiny-a/step0000008"]
    assert evals_call["measurements"] == [("loss:val", "evals"), ("weights", "weights")]
    assert weights_call["grid"] == ["tiny-a/step0000008"]
    assert weights_call["measurements"] == [("weights", "weights")] and weights_call["tables"] == ["weights"]


def test_ctrl_c_in_the_engine_is_exit_130(monkeypatch, tmp_path):
    suite = cached_tiny_suite()

    def interrupted(grid, measurements, out_dir, **kwargs):
        raise engine.SweepInterrupted(engine.SweepResult(out_dir=str(out_dir), summary=None, tables={},
                                                         failures=pd.DataFrame(), interrupted=True))

    monkeypatch.setattr(engine, "sweep_checkpoints", interrupted)
    result = CliRunner().invoke(main, ["weights", "--checkpoint", str(suite.parent / "tiny-a" / "step8"),
                                       "--device", "cpu", "--no-progress", "--out", str(tmp_path / "w")])
    assert result.exit_code == 130 and "re-run the same command to resume" in result.stderr


def test_finish_sweep_returns_the_status_instead_of_exiting():
    failures = pd.DataFrame([{"model": "m", "step": 2, "location": "/x", "error": "OSError: gone"}])
    summary = engine.SweepSummary(measured=["m/step0000001"], failed=[])  # failed in an earlier run
    result = engine.SweepResult(out_dir="out", summary=summary, tables={"evals": pd.DataFrame({"v": [1, 2]})},
                                failures=failures)
    lines, status = finish_sweep(result, "evals")
    assert status == 1 and not result.ok
    assert lines == ["1 checkpoint measured, 0 already done, 0 failed; 2 rows in out/evals.parquet "
                     "(report: out/report.md)", "failed: m step 2 (/x): OSError: gone"]
    # failed in this run: its line was printed as it failed, and is not printed twice
    summary.failed = [{"model": "m", "step": 2, "location": "/x", "error": "OSError: gone"}]
    lines, status = finish_sweep(result, "evals")
    assert status == 1 and lines[1:] == ["the failed checkpoints are in out/failures.csv"]
    summary.measured.append("m/step0000003")  # one checkpoint, two checkpoints
    assert finish_sweep(result, "evals")[0][0].startswith("2 checkpoints measured, 0 already done")
    result.failures = failures.iloc[:0]
    assert finish_sweep(result, "evals")[1] == 0 and result.ok


def test_executor_ray_without_ray_says_how_to_install_it(monkeypatch, tmp_path):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "ray" else real(name, *a))
    suite = cached_tiny_suite()
    args = ["eval", "--suite", str(suite), "--device", "cpu", "--dataset", f"val={suite.parent / 'data' / 'val.txt'}",
            "--no-progress", "--out", str(tmp_path / "o")]
    for command in (args, ["weights", "--checkpoint", str(suite.parent / "tiny-a" / "step8"), "--out", str(tmp_path / "w")]):
        result = CliRunner().invoke(main, [*command, "--executor", "ray"])
        assert result.exit_code == 2 and "pip install 'scalefit[ray]'" in result.stderr, result.output
        assert len(result.stderr.strip().splitlines()) == 1
    bad = CliRunner().invoke(main, [*args, "--executor", "dask"])
    assert bad.exit_code == 2 and "--executor dask" in bad.stderr


def test_the_measurement_registry_lists_the_built_in_kinds_without_imports():
    """MEASUREMENTS stayed empty until scalefit.evals.evaluate was imported: a fresh process
    listing the kinds, or asking for one, saw nothing."""
    import subprocess
    import sys

    code = ("from scalefit.sweep.measurements import known_measurements, measurement_kind; "
            "print(sorted(known_measurements())); print(measurement_kind('weights').table)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[:2] == ["['loss', 'tasks', 'weights']", "weights"]


def _evals_rows(keys):
    return pd.DataFrame([{"model": m, "step": s, "tokens": 10 * s, "lr": 0.0, "dataset": "val", "task": None,
                          "is_train": False, "n_tokens": 5, "metric": "loss", "value": 1.0} for m, s in keys])


def test_the_report_of_an_interrupted_sweep_counts_what_its_table_holds(tmp_path):
    """After Ctrl-C the run keeps no counts: report.md said 'checkpoints measured 0, already done
    0, failed 0' above a table of the checkpoints it had measured, and nothing of the interrupt."""
    from scalefit.sweep.report import write_report

    evals = _evals_rows([("a", 0), ("a", 1), ("b", 0)])
    text = write_report(tmp_path, evals, pd.DataFrame(), {"suite": "s", "interrupted": True}).read_text()
    assert "checkpoints measured 0" not in text
    assert "interrupted: the table holds the 3 checkpoints measured so far" in text


def test_the_report_of_a_merge_says_which_shards_are_missing(tmp_path):
    """`eval merge` of shards that do not cover the grid warned on stderr only; report.md (what is
    kept beside the tables) said nothing."""
    from scalefit.sweep.report import write_report

    meta = {"suite": "s", "measured": 1, "warnings": ["the merged shards do not cover the grid: shard(s) 1/2 missing"]}
    text = write_report(tmp_path, _evals_rows([("a", 0)]), pd.DataFrame(), meta).read_text()
    assert "- warning: the merged shards do not cover the grid: shard(s) 1/2 missing" in text


def test_a_model_named_twice_in_models_is_measured_once():
    """--models 70m,pythia-70m (or tiny-a,tiny-a) was refused as 'two checkpoints have the same
    model and step ...: rename a folder', which names no folder the user could rename."""
    from scalefit.sweep.grid import sweep_grid

    _, grid, _ = sweep_grid("pythia", ["70m", "pythia-70m", "70m", "160m"], "1000")
    assert [(g.model, g.step) for g in grid] == [("pythia-70m", 1000), ("pythia-160m", 1000)]


@pytest.mark.parametrize("kw, said", [
    (dict(datasets=[], weights=True, max_tokens=100), "--max-tokens: it shapes what --dataset measures"),
    (dict(datasets=[], weights=True, stride=8, context=16), "--context/--stride: they shape what --dataset"),
    (dict(num_fewshot=1), "--num-fewshot: it shapes what --tasks measures, and no --tasks is given"),
    (dict(task_limit=5, num_fewshot=0), "--task-limit/--num-fewshot: they shape what --tasks measures"),
])
def test_an_option_of_a_measurement_that_is_not_asked_for_is_refused(tmp_path, kw, said):
    """--num-fewshot/--task-limit without --tasks, and --max-tokens/--context/--stride without
    --dataset, were ignored in silence (the sweep ran and recorded nothing of them)."""
    from scalefit import EvalOptions
    from scalefit.evals.evaluate import plan

    data = cached_tiny_suite().parent / "data"
    opts = EvalOptions(**{"suite": str(cached_tiny_suite()), "out_dir": str(tmp_path / "out"), "models": "tiny-a",
                          "steps": [8], "datasets": [f"v={data / 'val.txt'}"], "progress": False, **kw})
    with pytest.raises(InputError, match=said):
        plan(opts)


def test_the_report_of_a_weights_only_sweep_lists_only_the_tables_it_wrote(tmp_path):
    """`eval --weights` alone writes no evals table, yet report.md listed `evals.parquet`,
    `evals.csv` among its files."""
    from scalefit.sweep.report import write_report

    text = write_report(tmp_path, pd.DataFrame(), pd.DataFrame(), {"suite": "s"},
                        extra_tables={"weights", "fingerprints"}).read_text()
    assert "`evals.parquet`" not in text
    assert "- `weights.parquet`, `weights.csv`: long table" in text
    assert "`evals.parquet`, `evals.csv`" in write_report(tmp_path, _evals_rows([("a", 0)]), pd.DataFrame(),
                                                          {"suite": "s"}).read_text()


@pytest.mark.parametrize("text", ["ray:", "ray: ", "local:"])
def test_an_executor_with_an_empty_address_is_refused(text):
    """--executor 'ray:' (an address left empty, e.g. an unset shell variable) started a local
    cluster in silence instead of joining the one meant."""
    from scalefit.sweep.executors import parse_executor

    with pytest.raises(InputError, match=f"--executor {text.strip()}: use local, ray"):
        parse_executor(text)


def test_an_unreachable_hub_is_tried_once_per_sweep_then_the_cache_alone(monkeypatch, tmp_path):
    """Offline, each hub checkpoint spent about 50 s in the hub client's retries (measured 50.2 s
    for one Pythia revision) before it failed: hours for a suite. After the first failure to
    connect the sweep reads the cache alone: a cached revision still loads, the others fail at
    once naming the first; a new sweep tries the hub again."""
    import transformers

    from scalefit.sweep.checkpoints import CheckpointInfo

    class ConnectError(Exception):  # httpx's (the hub client's) name for it
        pass

    asked = []

    def from_pretrained(source, **kwargs):
        cache_only = kwargs.get("local_files_only", False)
        asked.append((kwargs["revision"], cache_only))
        if not cache_only:
            raise OSError("We couldn't connect to 'https://huggingface.co' to load the files") \
                from ConnectError("[Errno -2] Name or service not known")
        if kwargs["revision"] == "step3":  # in the cache
            raise RuntimeError("cached, and unreadable for another reason")
        raise OSError("couldn't find them in the cached files")

    monkeypatch.setattr(transformers.AutoModelForCausalLM, "from_pretrained", from_pretrained)
    grid = [CheckpointInfo(model="pythia-70m", step=s, tokens=None, lr=None, repo="EleutherAI/pythia-70m",
                           revision=f"step{s}") for s in (1, 2, 3)]
    measure = engine.Measurement("n", lambda model, info: pd.DataFrame([{"value": 1.0}]), table="weights")
    load = lambda info: engine.load_checkpoint(info, "cpu", "float32")  # noqa: E731
    summary = engine.run_sweep(grid, [measure], tmp_path / "a", load=load, progress=False)
    assert asked == [("step1", False), ("step2", True), ("step3", True)]
    errors = {f["step"]: f["error"] for f in summary.failed}
    assert "couldn't connect" in errors[1]
    assert "step2: not in the local cache, and the model hub was unreachable at EleutherAI/pythia-70m step1" \
        in errors[2]
    assert "unreadable for another reason" in errors[3]  # a cached revision's own error, as it is
    asked.clear()
    engine.run_sweep(grid[:1], [measure], tmp_path / "b", load=load, progress=False)
    assert asked == [("step1", False)]  # a new sweep asks the hub again

    from scalefit.sweep import hub

    class ReadTimeout(Exception):  # one slow download from a hub that answers: not unreachable
        pass

    assert not hub.is_connection_failure(ReadTimeout("read timed out"))
    assert not hub.is_connection_failure(ConnectionResetError("reset by peer"))
    assert hub.is_connection_failure(OSError("We couldn't connect")) is False

"""`--executor ray`: one Ray task per checkpoint on a local 2-CPU cluster (shared by these tests).

The Ray sweep equals the serial one row for row; a worker killed mid-task is retried and every
(model, step) appears once; Ctrl-C on the driver leaves a folder that a re-run completes; a
sweep started on one executor is finished on the other. Skipped where ray is not installed.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

torch = pytest.importorskip("torch")
ray = pytest.importorskip("ray")
torch.set_num_threads(1)

from click.testing import CliRunner  # noqa: E402
from tinysuite import cached_tiny_suite, default_sigint  # noqa: E402

from scalefit.cli import main  # noqa: E402

pytestmark = pytest.mark.slow
KEYS = ["model", "step", "dataset", "metric"]


@pytest.fixture(scope="module")
def cluster():
    """One local Ray cluster (2 CPUs) for every test here; the commands join it in-process."""
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])  # workers need not import tests/
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield ray.get_runtime_context().gcs_address
    ray.shutdown()


def eval_args(out, *extra):
    suite = cached_tiny_suite()
    data = suite.parent / "data"
    return ["eval", "--suite", str(suite), "--device", "cpu", "--dataset", f"val={data / 'val.txt'}",
            "--max-tokens", "300", "--steps", "0,8", "--threads", "1", "--no-progress", "--out", str(out), *extra]


def rows(folder):
    return pd.read_parquet(Path(folder) / "evals.parquet").sort_values(KEYS).reset_index(drop=True)


@pytest.fixture(scope="module")
def serial(tmp_path_factory):
    out = tmp_path_factory.mktemp("serial")
    result = CliRunner().invoke(main, eval_args(out))
    assert result.exit_code == 0, result.output
    return out


def test_the_ray_sweep_equals_the_serial_one_row_for_row(cluster, serial, tmp_path):
    result = CliRunner().invoke(main, eval_args(tmp_path / "ray", "--executor", "ray", "--json"))
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert len(doc["measured"]) == 4 and doc["meta"]["executor"] == "ray (local cluster)"
    pd.testing.assert_frame_equal(rows(tmp_path / "ray"), rows(serial), atol=1e-6)
    fp = pd.read_parquet(tmp_path / "ray" / "fingerprints.parquet")
    assert fp.equals(pd.read_parquet(serial / "fingerprints.parquet"))


def test_a_sweep_started_locally_is_finished_on_ray(cluster, serial, tmp_path):
    out = tmp_path / "resumed"
    shutil.copytree(serial, out)
    for key in ("tiny-a/step0000008", "tiny-b/step0000000"):
        shutil.rmtree(out / "parts" / key)
    result = CliRunner().invoke(main, eval_args(out, "--executor", "ray", "--json"))
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert sorted(doc["measured"]) == ["tiny-a/step0000008", "tiny-b/step0000000"] and len(doc["skipped"]) == 2
    pd.testing.assert_frame_equal(rows(out), rows(serial), atol=1e-6)


def _killer(marker: str):
    """A measurement whose first attempt on tiny-a step 8 kills its own worker process."""
    def measure(folder, info):
        if info.model == "tiny-a" and info.step == 8 and not os.path.exists(marker):
            Path(marker).touch()
            os.kill(os.getpid(), signal.SIGKILL)
        return pd.DataFrame([{"stat": "pid", "value": float(os.getpid())}])
    return measure


def test_a_killed_worker_is_retried_and_every_checkpoint_appears_once(cluster, tmp_path):
    from scalefit.sweep import engine
    from scalefit.sweep.checkpoints import safetensors_loader
    from scalefit.sweep.grid import sweep_grid
    from scalefit.sweep.ray_executor import RayExecutor

    marker = tmp_path / "killed-once"
    _, grid, _ = sweep_grid(str(cached_tiny_suite()), None, "0,2,8")
    measurement = engine.Measurement("pid", _killer(str(marker)), table="weights")
    result = engine.sweep_checkpoints(grid, [measurement], tmp_path / "out", load=safetensors_loader(),
                                      progress=False, executor=RayExecutor(max_retries=2))
    assert marker.exists()  # the worker was killed mid-task
    assert result.ok and len(result.summary.measured) == 6
    table = result.tables["weights"]
    assert len(table) == 6 and not table.duplicated(["model", "step"]).any()


def test_ctrl_c_on_the_driver_leaves_a_folder_that_a_rerun_completes(cluster, serial, tmp_path):
    out = tmp_path / "interrupted"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    args = eval_args(out, "--executor", f"ray:{cluster}")
    proc = subprocess.Popen([sys.executable, "-m", "scalefit", *args], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, env=env, preexec_fn=default_sigint)
    deadline = time.time() + 180
    while not list((out / "parts").rglob("*.parquet")):
        assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
        assert time.time() < deadline, "no result after 180 s"
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    err = err.decode()
    if proc.returncode != 130 and "ray::core::" in err:
        # Ray 2.60's core worker sometimes aborts the driver itself on SIGINT (a RAY_CHECK in a
        # task-reply thread, seen once in a few runs); scalefit never gets to exit 130. What must
        # hold even then: the folder keeps what was measured and a re-run completes it (below).
        assert proc.returncode != 0
    else:
        assert proc.returncode == 130, err[-2000:]
        assert "re-run the same command to resume" in err
        assert json.loads((out / "run.json").read_text())["interrupted"] is True
    # finished here, without Ray: the results of both executors make one table
    result = CliRunner().invoke(main, eval_args(out, "--json"))
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert len(doc["measured"]) + len(doc["skipped"]) == 4 and doc["skipped"]
    pd.testing.assert_frame_equal(rows(out), rows(serial), atol=1e-6)



def test_an_unreachable_ray_address_is_one_line_and_exit_2(monkeypatch, tmp_path):
    """--executor ray:ADDRESS with no cluster there ended in ray's ConnectionError traceback and
    exit status 1 (after ray's ~30 s of retries, simulated here). The TCP probe is passed over, as
    for an address where something other than Ray's head answers."""
    from scalefit.sweep import ray_executor

    def no_cluster(*args, **kwargs):
        raise ConnectionError("Failed to connect to Ray cluster at 10.255.255.1:6379")

    monkeypatch.setattr(ray_executor, "probe", lambda address: None)
    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    monkeypatch.setattr(ray, "init", no_cluster)
    result = CliRunner().invoke(main, eval_args(tmp_path / "o", "--executor", "ray:10.255.255.1:6379"))
    assert result.exit_code == 2, result.output
    assert "--executor ray:10.255.255.1:6379: no Ray cluster to join there" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.output

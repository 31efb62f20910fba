"""`--executor ray` places one task per GPU where the cluster has GPUs.

No GPU is needed: a local Ray cluster that declares one logical GPU (`num_gpus=1`) schedules and
isolates tasks exactly as on a GPU node (Ray sets CUDA_VISIBLE_DEVICES per task and never runs two
one-GPU tasks at once on one GPU). Skipped where ray is not installed.
"""
from __future__ import annotations

import os
import sys
import time

import pandas as pd
import pytest

ray = pytest.importorskip("ray")

from scalefit.sweep.checkpoints import CheckpointInfo  # noqa: E402
from scalefit.sweep.engine import Measurement  # noqa: E402
from scalefit.sweep.ray_executor import RayExecutor  # noqa: E402

pytestmark = pytest.mark.slow


def _no_model(info):
    return None, None


def _placement(model, info) -> pd.DataFrame:
    """Where the task ran: Ray's GPU ids, CUDA_VISIBLE_DEVICES, and when (to see overlap)."""
    start = time.time()
    time.sleep(0.5)
    return pd.DataFrame([{"metric": "placement", "value": float(len(ray.get_gpu_ids())),
                          "devices": os.environ.get("CUDA_VISIBLE_DEVICES", ""),
                          "start": start, "end": time.time()}])


class _Tracker:
    def __init__(self):
        self.outcomes = []

    def describe(self, text):
        self.text = text

    def finished(self, outcome, info):
        self.outcomes.append(outcome)


@pytest.fixture
def gpu_cluster():
    if ray.is_initialized():
        ray.shutdown()
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    ray.init(num_cpus=2, num_gpus=1, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield
    ray.shutdown()


def test_tasks_get_one_gpu_each_and_never_share_it(gpu_cluster, tmp_path):
    grid = [CheckpointInfo(model="m", step=s, tokens=s, lr=None) for s in (1, 2, 3)]
    tracker = _Tracker()
    executor = RayExecutor()
    assert executor.gpus() == 1.0
    executor.run(grid, [Measurement("placement", _placement, table="evals")], tmp_path,
                 load=_no_model, cleanup=None, on_duplicate="warn", tracker=tracker)
    assert [o["status"] for o in tracker.outcomes] == ["measured"] * 3
    rows = pd.concat(pd.read_parquet(p) for p in tmp_path.glob("parts/m/*/evals--placement.parquet"))
    assert len(rows) == 3
    assert (rows["value"] == 1).all() and (rows["devices"] == "0").all()  # one GPU, made visible
    spans = rows.sort_values("start")[["start", "end"]].to_numpy()
    assert all(later[0] >= earlier[1] for earlier, later in zip(spans, spans[1:]))  # one at a time


def test_a_cpu_only_cluster_runs_tasks_without_gpus(tmp_path):
    if ray.is_initialized():
        ray.shutdown()
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    ray.init(num_cpus=2, num_gpus=0, include_dashboard=False, log_to_driver=False, configure_logging=False)
    try:
        grid = [CheckpointInfo(model="m", step=s, tokens=s, lr=None) for s in (1, 2)]
        tracker = _Tracker()
        executor = RayExecutor()
        assert executor.gpus() == 0.0
        executor.run(grid, [Measurement("placement", _placement, table="evals")], tmp_path,
                     load=_no_model, cleanup=None, on_duplicate="warn", tracker=tracker)
        rows = pd.concat(pd.read_parquet(p) for p in tmp_path.glob("parts/m/*/evals--placement.parquet"))
        assert len(rows) == 2 and (rows["value"] == 0).all() and (rows["devices"] == "").all()
    finally:
        ray.shutdown()

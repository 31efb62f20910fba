"""Sweep loose ends: what a failed start leaves behind."""
from __future__ import annotations

import json

import pandas as pd
import pytest

from scalefit.errors import InputError
from scalefit.sweep import engine
from scalefit.sweep.checkpoints import CheckpointInfo


class UnreachableCluster:
    """An executor whose cluster is not there: run() fails before any checkpoint is measured."""

    def describe(self):
        return "ray:10.0.0.1:6379"

    def run(self, *args, **kwargs):
        raise InputError("--executor ray:10.0.0.1:6379: no Ray cluster to join there")


def one_measurement(name="loss:val", value=1.0):
    return [engine.Measurement(name, lambda model, info: pd.DataFrame([{"metric": "loss", "value": value}]),
                               options={"--context": 64})]


GRID = [CheckpointInfo(model="m", step=0, tokens=0, lr=None)]


def test_a_failed_start_leaves_no_folder_and_no_empty_measurements_json(tmp_path):
    out = tmp_path / "new"
    with pytest.raises(InputError, match="no Ray cluster"):
        engine.sweep_checkpoints(GRID, one_measurement(), out, load=lambda info: (None, None), progress=False,
                                 executor=UnreachableCluster())
    assert not out.exists()  # measurements.json was left as '{}' in a folder of its own


def test_a_failed_start_in_a_measured_folder_keeps_what_was_measured(tmp_path):
    out = tmp_path / "sweep"
    engine.sweep_checkpoints(GRID, one_measurement(), out, load=lambda info: (None, None), progress=False)
    with pytest.raises(InputError, match="no Ray cluster"):
        engine.sweep_checkpoints(GRID, one_measurement("loss:test"), out, load=lambda info: (None, None),
                                 progress=False, executor=UnreachableCluster())
    assert json.loads((out / engine.OPTIONS_FILE).read_text()) == {"loss:val": {"--context": 64}}


def test_forgetting_the_only_measurement_removes_the_file(tmp_path):
    engine.check_options(one_measurement(), tmp_path)
    engine.forget_unmeasured(one_measurement(), tmp_path)
    assert not (tmp_path / engine.OPTIONS_FILE).exists()
    assert engine.recorded_options(tmp_path) == {}

"""A sweep that stops with an error before measuring anything (an executor that cannot start, such
as `--executor ray:auto` with no cluster) keeps no record of its options: the corrected re-run,
with other options, is not refused as 'measured with' them."""
from __future__ import annotations

import pandas as pd
import pytest

from scalefit.errors import InputError
from scalefit.sweep import engine
from scalefit.sweep.checkpoints import safetensors_loader
from scalefit.sweep.grid import sweep_grid

pytest.importorskip("torch")
from tinysuite import cached_tiny_suite  # noqa: E402


class NoCluster:
    def describe(self):
        return "ray:auto"

    def run(self, *args, **kwargs):
        raise InputError("--executor ray:auto: no Ray cluster to join there")

    def close(self):
        pass


def measurement(option):
    return engine.Measurement("files", lambda folder, info: pd.DataFrame([{"stat": "files", "value": 1.0}]),
                              table="weights", options={"--no-spectra": option})


def test_a_sweep_that_could_not_start_keeps_no_options(tmp_path):
    _, grid, _ = sweep_grid(str(cached_tiny_suite()), ["tiny-a"], "0")
    with pytest.raises(InputError, match="no Ray cluster"):
        engine.sweep_checkpoints(grid, [measurement(True)], tmp_path, load=safetensors_loader(), progress=False,
                                 executor=NoCluster())
    assert "files" not in engine.recorded_options(tmp_path)
    result = engine.sweep_checkpoints(grid, [measurement(False)], tmp_path, load=safetensors_loader(),
                                      progress=False)
    assert result.ok and len(result.tables["weights"]) == 1
    assert engine.recorded_options(tmp_path)["files"] == {"--no-spectra": False}

"""Sweep loose ends: what a failed start leaves behind."""
from __future__ import annotations

import json
import re

import pandas as pd
import pytest

from scalefit.errors import InputError, ScalefitWarning
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


SPEC = ('name = "x"\ntokens_per_step = 8\nsteps = [0, 10, 20]\n[source]\nlocal = "."\n'
        '[schedule]\nwarmup_steps = 2\ndecay_steps = 20\n[[members]]\nname = "m"\nlr_peak = 0.003\n')


@pytest.mark.parametrize("old, new, message", [
    ("decay_steps = 20", "decay_steps = 0", "[schedule] decay_steps = 0: give decay_steps"),
    ("decay_steps = 20\n", "", "[schedule] decay_steps is missing: give decay_steps"),
    ("warmup_steps = 2", "warmup_steps = 30", "[schedule] warmup_steps = 30 is not below decay_steps = 20"),
    ("warmup_steps = 2", 'style = "wsd"\nwarmup_steps = 20',
     "[schedule] warmup_steps = 20 is not below decay_steps = 20"),
    # a WSD cooldown of 0 holds the peak to decay_steps: LRSchedule refused it without naming the spec
    ("warmup_steps = 2", 'style = "wsd"\ncooldown_fraction = 0\nwarmup_steps = 2',
     "[schedule] cooldown_fraction: '0' is out of range; expected a fraction in (0, 1]"),
])
def test_a_schedule_that_never_decays_as_written_is_refused_naming_the_spec_and_key(tmp_path, old, new, message):
    from click.testing import CliRunner

    from scalefit.cli import main
    from scalefit.sweep.suites import load_suite

    spec = tmp_path / "s.toml"
    spec.write_text(SPEC)
    assert load_suite(spec).schedule.decay_steps == 20
    spec.write_text(SPEC.replace(old, new, 1))
    with pytest.raises(InputError, match="^" + re.escape(f"{spec}: {message}")):
        load_suite(spec)
    result = CliRunner().invoke(main, ["weights", "--suite", str(spec), "--out", str(tmp_path / "w")])
    assert result.exit_code == 2 and result.stderr.count("\n") == 1 and message in result.stderr, result.output


def test_a_constant_schedule_or_one_without_an_lr_needs_no_decay(tmp_path):
    from scalefit.sweep.suites import load_suite

    spec = tmp_path / "s.toml"
    spec.write_text(SPEC.replace("decay_steps = 20\n", 'style = "constant"\n'))
    assert load_suite(spec).lr(load_suite(spec).members[0], 10) == pytest.approx(0.003)
    spec.write_text(SPEC.replace("decay_steps = 20\n", "").replace("lr_peak = 0.003\n", ""))
    assert load_suite(spec).schedule.decay_steps == 0  # no LR in the rows: nothing to decay


def test_a_decaying_lr_schedule_without_decay_steps_warns():
    from scalefit.errors import ScalefitWarning
    from scalefit.schedule import LRSchedule

    with pytest.warns(ScalefitWarning, match="LRSchedule decay_steps = 0 with style 'cosine': the LR drops to the "
                                             r"floor, final_ratio x peak, right after the warmup \(step 100\)"):
        LRSchedule(1e-3, warmup_steps=100)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        LRSchedule(1e-3, warmup_steps=100, style="constant")
        LRSchedule(1e-3, warmup_steps=8, decay_steps=4)  # the laws' schedules of runs under their warmup


def test_a_recorded_measurement_with_no_result_does_not_refuse_other_options(tmp_path):
    """A second Ctrl-C (or a kill) after check_options recorded --context 64 but before
    forget_unmeasured dropped it leaves a record with no result: a re-run with --context 32 has
    nothing to mix with and must run, not be refused as 'measured with --context 64'."""
    out = tmp_path / "sweep"
    out.mkdir()
    engine.check_options(one_measurement(), out)  # recorded, then killed: nothing measured
    other = [engine.Measurement("loss:val", one_measurement()[0].fn, options={"--context": 32})]
    assert engine.check_options(other, out) == {"loss:val"}  # new again: forget_unmeasured may drop it
    assert engine.recorded_options(out) == {"loss:val": {"--context": 32}}
    engine.sweep_checkpoints(GRID, other, out, load=lambda info: (None, None), progress=False)
    with pytest.raises(InputError, match="measured with --context 32"):  # now it has a result: binding
        engine.check_options(one_measurement(), out)


def se_measurement():
    """A measurement whose result files must hold se (as loss and tasks)."""
    return engine.Measurement("loss:val", lambda model, info: pd.DataFrame([{"metric": "loss", "value": 1.0,
                                                                            "se": 0.1}]),
                              options={"--context": 64}, columns=("se",))


def test_a_resumed_sweep_reads_each_result_footer_once_and_sees_a_rewritten_one(tmp_path, monkeypatch):
    """At start, say_outdated and then pending_measurements asked every result file for its columns
    (two Parquet footer reads a file: ~2 s of a Pythia-sized folder's start); each is read once. A
    file rewritten since (an older scalefit's rows, without se) is read again and measured again."""
    import pyarrow.parquet as pq

    grid = [CheckpointInfo(model="m", step=s, tokens=0, lr=None, params=9, params_nonembed=8) for s in (0, 1, 2)]
    out = tmp_path / "sweep"
    engine.sweep_checkpoints(grid, [se_measurement()], out, load=lambda info: (None, None), progress=False)
    reads = []
    read_schema = pq.read_schema
    monkeypatch.setattr(pq, "read_schema", lambda path, *a, **k: reads.append(str(path)) or read_schema(path, *a, **k))
    again = engine.sweep_checkpoints(grid, [se_measurement()], out, load=lambda info: (None, None), progress=False)
    assert again.summary.skipped == [info.key for info in grid] and not again.summary.measured
    files = sorted(str(p) for p in (out / "parts").rglob("*.parquet"))
    assert len(files) == 3 and sorted(reads) == files  # once each (twice each before)
    old = engine.part_path(out, grid[1], se_measurement())
    pd.read_parquet(old).drop(columns=["se"]).to_parquet(old, index=False)
    reads.clear()
    with pytest.warns(ScalefitWarning, match="1 result file.s. hold no se"):
        third = engine.sweep_checkpoints(grid, [se_measurement()], out, load=lambda info: (None, None),
                                         progress=False)
    assert third.summary.measured == [grid[1].key] and reads.count(str(old)) == 1
    assert "se" in pq.read_schema(old).names


def test_results_without_se_outside_the_run_are_named_by_their_model_as_given(tmp_path):
    """A model whose name holds '__' (the folder names' stand-in for '/') was named 'my/model'."""
    grid = [CheckpointInfo(model="my__model", step=s, tokens=0, lr=None, params=9, params_nonembed=8) for s in (0, 1)]
    out = tmp_path / "sweep"
    engine.sweep_checkpoints(grid, [se_measurement()], out, load=lambda info: (None, None), progress=False)
    old = engine.part_path(out, grid[1], se_measurement())
    pd.read_parquet(old).drop(columns=["se"]).to_parquet(old, index=False)
    with pytest.warns(ScalefitWarning, match=re.escape("1 belong to checkpoints outside it (e.g. my__model step 1)")):
        engine.say_outdated(grid[:1], [se_measurement()], out)

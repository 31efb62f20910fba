"""warmup-study's worker processes (--jobs): the same rows as the serial study, a bad count
refused in one line, and Ctrl-C keeping the statistics that came back."""
import multiprocessing

import pandas as pd
import pytest
from click.testing import CliRunner

from scalefit.cli import main
from scalefit.data import MINI_CHECKPOINTS, data_path
from scalefit.errors import InputError
from scalefit.scaling.trajectories import warmup_study as module
from scalefit.signals import Interrupted

PANELS = [("t_nu", "attn_out"), ("max_abs", "embed_in")]


@pytest.fixture(scope="module")
def table():
    return pd.read_parquet(data_path(*MINI_CHECKPOINTS))


def test_two_workers_give_the_serial_studys_rows_in_its_order(table, monkeypatch):
    monkeypatch.setattr(module.os, "cpu_count", lambda: 2)  # workers even on a one-CPU machine
    assert module._worker_count(2, len(PANELS), 3) == 2
    serial = module.warmup_study(table, PANELS, n_bootstrap=3, jobs=1)
    side_by_side = module.warmup_study(table, PANELS, n_bootstrap=3, jobs=2)
    assert list(side_by_side["stat"]) == ["t_nu", "max_abs"]
    assert side_by_side.equals(serial) and side_by_side.attrs == serial.attrs


def test_the_worker_count_is_capped_by_the_cpus_and_the_panels_and_is_one_without_resamples(monkeypatch):
    monkeypatch.setattr(module.os, "cpu_count", lambda: 4)
    assert module._worker_count(None, 11, 200) == 4
    assert module._worker_count(16, 11, 200) == 4
    assert module._worker_count(None, 3, 200) == 3
    assert module._worker_count(1, 11, 200) == 1
    assert module._worker_count(None, 11, 0) == 1


@pytest.mark.parametrize("bad", ["0", "-1", "nan", "1.5", "two"])
def test_a_bad_jobs_count_is_one_line_and_exit_2(bad):
    result = CliRunner().invoke(main, ["warmup-study", "--jobs", bad])
    lines = [line for line in result.output.strip().splitlines() if line.startswith("error:")]
    assert result.exit_code == 2 and len(lines) == 1 and "--jobs" in lines[0], result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize("bad", [0, -2, float("nan")])
def test_a_bad_jobs_count_is_an_input_error_in_python(table, bad):
    with pytest.raises(InputError, match="jobs"):
        module.warmup_study(table, PANELS, n_bootstrap=3, jobs=bad)


def test_ctrl_c_among_the_workers_keeps_the_statistics_that_came_and_stops_the_workers(table, monkeypatch):
    """Ctrl-C after the first row came back (raised where the bar counts it): that row is kept,
    and no worker is left running."""
    monkeypatch.setattr(module.os, "cpu_count", lambda: 2)

    class StoppedBar:
        def __init__(self, *args, **kwargs):
            pass

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def update(self, n=1):
            raise KeyboardInterrupt

    monkeypatch.setattr(module, "tqdm", StoppedBar)
    with pytest.raises(Interrupted) as stop:
        module.warmup_study(table, PANELS, n_bootstrap=3, jobs=2)
    assert (stop.value.done, stop.value.total) == (1, 2)
    assert len(stop.value.partial) == 1 and stop.value.partial["stat"].iloc[0] in {"t_nu", "max_abs"}
    assert not multiprocessing.active_children()

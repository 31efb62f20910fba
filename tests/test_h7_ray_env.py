"""RAY_ADDRESS in the environment: ray.init joins it in place of no address (--executor ray) or
'auto', so a dead one is probed as ray:HOST:PORT is and named in the one-line error (ray.init
retried it for 30 s to minutes, printing its own log lines). Ray itself is never started here."""
from __future__ import annotations

import os
import socket
import subprocess
import sys

import pytest

pytest.importorskip("torch")
ray = pytest.importorskip("ray")

from click.testing import CliRunner  # noqa: E402
from tinysuite import cached_tiny_suite  # noqa: E402

from scalefit.cli import main  # noqa: E402
from scalefit.errors import InputError  # noqa: E402
from scalefit.sweep.executors import parse_executor  # noqa: E402
from scalefit.sweep.ray_executor import RayExecutor  # noqa: E402


def unused_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_dead_ray_address_in_the_environment_is_one_line_naming_it(tmp_path):
    port = unused_port()
    out = tmp_path / "w"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "RAY_ADDRESS": f"127.0.0.1:{port}"}
    proc = subprocess.run([sys.executable, "-m", "scalefit", "weights", "--suite", str(cached_tiny_suite()),
                           "--models", "tiny-a", "--steps", "0", "--device", "cpu", "--no-progress",
                           "--executor", "ray", "--out", str(out)], capture_output=True, text=True, env=env,
                          timeout=60)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith(f"error: --executor ray: RAY_ADDRESS=127.0.0.1:{port}: no Ray cluster to join there")
    assert "unset RAY_ADDRESS" in lines[0]
    assert not out.exists()  # refused before the sweep folder was made


@pytest.mark.parametrize("given", ["ray", "ray:auto"])
def test_ray_address_replaces_no_address_and_auto_only(monkeypatch, given):
    monkeypatch.setenv("RAY_ADDRESS", f"127.0.0.1:{unused_port()}")
    with pytest.raises(InputError, match=f"--executor {given}: RAY_ADDRESS=127.0.0.1:"):
        parse_executor(given)
    monkeypatch.setenv("RAY_ADDRESS", "head")  # no port: named as RAY_ADDRESS's, not the flag's
    with pytest.raises(InputError, match=f"--executor {given}: RAY_ADDRESS=head: not a Ray address.*RAY_ADDRESS"):
        parse_executor(given)
    with socket.socket() as server:  # an explicit address is ray.init's own: RAY_ADDRESS does not count
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        assert parse_executor(f"ray:127.0.0.1:{port}").describe() == f"ray:127.0.0.1:{port}"
        monkeypatch.setenv("RAY_ADDRESS", f"127.0.0.1:{port}")
        assert parse_executor("ray").describe() == f"ray:127.0.0.1:{port} (RAY_ADDRESS)"


def test_a_cluster_gone_from_ray_address_is_one_line_not_a_traceback(monkeypatch, tmp_path):
    """Past the probe (a cluster that went away between it and ray.init): ray.init's error was
    re-raised as it was for --executor ray, since no address was given."""
    def gone(*args, **kwargs):
        raise ConnectionError("GCS did not answer")

    monkeypatch.setenv("RAY_ADDRESS", "10.255.255.1:6379")
    monkeypatch.setattr("scalefit.sweep.ray_executor.probe", lambda address: None)
    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    monkeypatch.setattr(ray, "init", gone)
    with pytest.raises(InputError, match="--executor ray: RAY_ADDRESS=10.255.255.1:6379: no Ray cluster to join "
                                         r"there \(GCS did not answer\)"):
        RayExecutor().connect()
    result = CliRunner().invoke(main, ["weights", "--suite", str(cached_tiny_suite()), "--models", "tiny-a",
                                       "--steps", "0", "--device", "cpu", "--no-progress", "--executor", "ray",
                                       "--out", str(tmp_path / "w")])
    assert result.exit_code == 2 and "Traceback" not in result.output, result.output
    assert len(result.stderr.strip().splitlines()) == 1


def test_ray_address_auto_with_no_cluster_says_so_without_ray_s_flags(monkeypatch):
    def none_running(*args, **kwargs):
        raise ConnectionError("Could not find any running Ray instance. Please specify the one to connect to "
                              "by setting `--address` flag or `RAY_ADDRESS` environment variable.")

    monkeypatch.setenv("RAY_ADDRESS", "auto")
    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    monkeypatch.setattr(ray, "init", none_running)
    with pytest.raises(InputError, match=r"--executor ray: RAY_ADDRESS=auto: no Ray cluster to join there \(none "
                                         r"runs on this node\)") as err:
        RayExecutor().connect()
    assert "--address" not in str(err.value)

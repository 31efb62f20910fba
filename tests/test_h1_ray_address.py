"""`--executor ray:HOST:PORT` with nothing listening there: one line and exit status 2 at once,
from a plain TCP probe, without entering ray.init (which retried such an address for 30 s to
minutes, printing its own log lines). Ray itself is never started here."""
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
from scalefit.sweep import ray_executor  # noqa: E402
from scalefit.sweep.executors import parse_executor  # noqa: E402


def unused_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_nothing_listening_is_one_line_and_exit_2_without_ray(tmp_path):
    suite, port = cached_tiny_suite(), unused_port()
    out = tmp_path / "w"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    proc = subprocess.run([sys.executable, "-m", "scalefit", "weights", "--suite", str(suite), "--models", "tiny-a",
                           "--steps", "0", "--device", "cpu", "--no-progress", "--executor", f"ray:127.0.0.1:{port}",
                           "--out", str(out)], capture_output=True, text=True, env=env, timeout=60)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert f"--executor ray:127.0.0.1:{port}: no Ray cluster to join there" in lines[0]
    assert not out.exists()  # refused before the sweep folder was made


def test_eval_refuses_it_before_ray_init(monkeypatch, tmp_path):
    def entered(*args, **kwargs):
        raise AssertionError("ray.init was called")

    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    monkeypatch.setattr(ray, "init", entered)
    suite, port = cached_tiny_suite(), unused_port()
    result = CliRunner().invoke(main, ["eval", "--suite", str(suite), "--dataset",
                                       f"val={suite.parent / 'data' / 'val.txt'}", "--no-progress",
                                       "--executor", f"ray:ray://localhost:{port}", "--out", str(tmp_path / "o")])
    assert result.exit_code == 2, result.output
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.output
    assert "no Ray cluster to join there" in result.stderr


def test_a_listening_address_passes_the_probe_and_other_addresses_are_ray_s():
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        executor = parse_executor(f"ray:127.0.0.1:{port}")
        assert executor.address == f"127.0.0.1:{port}"
        ray_executor.probe(f"ray://127.0.0.1:{port}")
    assert ray_executor.host_port("[::1]:6379") == ("::1", 6379)
    assert ray_executor.host_port("ray://head:10001") == ("head", 10001)
    for address in ("auto", "local", "ray://head", "anyscale://cluster"):  # Ray's own lookup: not probed
        assert ray_executor.host_port(address) is None
        assert parse_executor(f"ray:{address}").address == address
    for address in ("localhost", "127.0.0.1:abc", "ray://head:x"):  # Ray's ValueError was a traceback
        with pytest.raises(InputError, match=f"--executor ray:{address}: not a Ray address; use ray:auto"):
            parse_executor(f"ray:{address}")
    for port in ("0", "70000"):
        with pytest.raises(InputError, match=f"port {port} is not a TCP port"):
            parse_executor(f"ray:127.0.0.1:{port}")


def test_an_address_ray_cannot_parse_is_one_line(monkeypatch, tmp_path):
    def unparsable(*args, **kwargs):
        raise ValueError("Invalid address format: anyscale://c")

    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    monkeypatch.setattr(ray, "init", unparsable)
    suite = cached_tiny_suite()
    result = CliRunner().invoke(main, ["weights", "--suite", str(suite), "--models", "tiny-a", "--steps", "0",
                                       "--device", "cpu", "--no-progress", "--executor", "ray:anyscale://c",
                                       "--out", str(tmp_path / "w")])
    assert result.exit_code == 2, result.output
    assert "--executor ray:anyscale://c: no Ray cluster to join there (Invalid address format" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_ray_auto_with_no_cluster_says_so_without_ray_s_flags(monkeypatch, tmp_path):
    """Ray's text asked for its own `--address` flag or RAY_ADDRESS, which scalefit has not."""
    def none_running(*args, **kwargs):
        raise ConnectionError("Could not find any running Ray instance. Please specify the one to connect to "
                              "by setting `--address` flag or `RAY_ADDRESS` environment variable.")

    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    monkeypatch.setattr(ray, "init", none_running)
    result = CliRunner().invoke(main, ["weights", "--suite", str(cached_tiny_suite()), "--models", "tiny-a",
                                       "--steps", "0", "--device", "cpu", "--no-progress", "--executor", "ray:auto",
                                       "--out", str(tmp_path / "w")])
    assert result.exit_code == 2, result.output
    assert "--executor ray:auto: no Ray cluster to join there (none runs on this node)" in result.stderr
    assert "--address" not in result.stderr and len(result.stderr.strip().splitlines()) == 1

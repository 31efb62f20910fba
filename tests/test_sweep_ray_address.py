"""`--executor ray:HOST:PORT`, and RAY_ADDRESS in the environment (ray.init joins it in place of no
address or 'auto'): with nothing listening there, one line and exit status 2 at once, from a plain
TCP probe, without entering ray.init (which retried such an address for 30 s to minutes, printing
its own log lines); the refusal names the address as given. Ray itself is never started here."""
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
from scalefit.sweep.ray_executor import RayExecutor  # noqa: E402


def unused_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def weights_args(executor: str, out) -> list[str]:
    """`scalefit weights` on one checkpoint of the tiny suite through ``executor``."""
    return ["weights", "--suite", str(cached_tiny_suite()), "--models", "tiny-a", "--steps", "0", "--device",
            "cpu", "--no-progress", "--executor", executor, "--out", str(out)]


def refused_in_a_subprocess(executor: str, out, **env) -> str:
    """The one stderr line of a `scalefit weights` process refused with exit status 2 (no monkeypatch:
    the probe itself), before the sweep folder was made."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", **env}
    proc = subprocess.run([sys.executable, "-m", "scalefit", *weights_args(executor, out)], capture_output=True,
                          text=True, env=env, timeout=60)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert not out.exists()  # refused before the sweep folder was made
    return lines[0]


def test_nothing_listening_is_one_line_and_exit_2_without_ray(tmp_path):
    port = unused_port()
    line = refused_in_a_subprocess(f"ray:127.0.0.1:{port}", tmp_path / "w")
    assert f"--executor ray:127.0.0.1:{port}: no Ray cluster to join there" in line


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
    """A Ray head answers the probe at once (a SETTINGS frame); a listener that stays silent passes
    too, once the probe's wait is over (given 0.5 s here instead of PROBE_SECONDS)."""
    port, thread = serving(SETTINGS)
    executor = parse_executor(f"ray:127.0.0.1:{port}")
    assert executor.address == f"127.0.0.1:{port}"
    thread.join(10)
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        ray_executor.probe(f"ray://127.0.0.1:{server.getsockname()[1]}", seconds=0.5)
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
    result = CliRunner().invoke(main, weights_args("ray:anyscale://c", tmp_path / "w"))
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
    result = CliRunner().invoke(main, weights_args("ray:auto", tmp_path / "w"))
    assert result.exit_code == 2, result.output
    assert "--executor ray:auto: no Ray cluster to join there (none runs on this node)" in result.stderr
    assert "--address" not in result.stderr and len(result.stderr.strip().splitlines()) == 1


# RAY_ADDRESS in the environment

def test_a_dead_ray_address_in_the_environment_is_one_line_naming_it(tmp_path):
    port = unused_port()
    line = refused_in_a_subprocess("ray", tmp_path / "w", RAY_ADDRESS=f"127.0.0.1:{port}")
    assert line.startswith(f"error: --executor ray: RAY_ADDRESS=127.0.0.1:{port}: no Ray cluster to join there")
    assert "unset RAY_ADDRESS" in line


@pytest.mark.parametrize("given", ["ray", "ray:auto"])
def test_ray_address_replaces_no_address_and_auto_only(monkeypatch, given):
    monkeypatch.setenv("RAY_ADDRESS", f"127.0.0.1:{unused_port()}")
    with pytest.raises(InputError, match=f"--executor {given}: RAY_ADDRESS=127.0.0.1:"):
        parse_executor(given)
    monkeypatch.setenv("RAY_ADDRESS", "head")  # no port: named as RAY_ADDRESS's, not the flag's
    with pytest.raises(InputError, match=f"--executor {given}: RAY_ADDRESS=head: not a Ray address.*RAY_ADDRESS"):
        parse_executor(given)
    # an explicit address is ray.init's own: RAY_ADDRESS does not count (each probe meets a head's answer)
    port, thread = serving(SETTINGS)
    assert parse_executor(f"ray:127.0.0.1:{port}").describe() == f"ray:127.0.0.1:{port}"
    thread.join(10)
    port, thread = serving(SETTINGS)
    monkeypatch.setenv("RAY_ADDRESS", f"127.0.0.1:{port}")
    assert parse_executor("ray").describe() == f"ray:127.0.0.1:{port} (RAY_ADDRESS)"
    thread.join(10)


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
    result = CliRunner().invoke(main, weights_args("ray", tmp_path / "w"))
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


SETTINGS = bytes([0, 0, 0x18, 4, 0, 0, 0, 0, 0]) + b"\x00" * 24  # what a Ray head's GCS answers the probe


def serving(reply: bytes):
    """A one-connection TCP server on a free local port that answers the first bytes it reads
    with ``reply``; returns (port, thread)."""
    import threading

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)

    def answer():
        conn, _ = server.accept()
        with conn:
            conn.recv(64)
            conn.sendall(reply)
        server.close()

    thread = threading.Thread(target=answer, daemon=True)
    thread.start()
    return server.getsockname()[1], thread


def test_a_web_server_at_the_address_is_refused_not_joined(tmp_path):
    """A port where a web server answers passed the TCP probe, and ray.init then hung past 100 s
    printing Ray's log lines; a server that does not answer the HTTP/2 preface with a SETTINGS
    frame, as Ray's gRPC head does, is now refused in one line."""
    port, thread = serving(b"HTTP/1.0 400 Bad request\r\n\r\n")
    line = refused_in_a_subprocess(f"ray:127.0.0.1:{port}", tmp_path / "w")
    thread.join(10)
    assert "something other than a Ray head answers at 127.0.0.1" in line and "'HTTP/1.0'" in line, line


def test_a_server_answering_in_http2_passes_the_probe():
    """A gRPC server's first frame is SETTINGS (type 4): such an address goes on to ray.init, as a
    real Ray head did in test_sweep_ray (its GCS answered 000018 04 ...)."""
    port, thread = serving(SETTINGS)
    ray_executor.probe(f"127.0.0.1:{port}")
    thread.join(10)

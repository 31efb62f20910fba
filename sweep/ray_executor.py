"""Measure a sweep's checkpoints as Ray tasks: one task per checkpoint, results into --out.

Each task runs `engine.measure_checkpoint` (load, fingerprint, every measurement, failures
recorded) on a worker, with `num_gpus=1` where the cluster has GPUs and one CPU otherwise, and
writes the same per-checkpoint result files as a local sweep into the output folder (which must
be a path every worker can write: a shared file system). A worker that dies is retried
(`max_retries`): the retry measures only what the dead one had not written. The driver
(this process) only schedules, counts finished tasks on the progress bar and, at the end, merges
the result files into the tables, as a local sweep does. Ctrl-C cancels the tasks still running;
a re-run (on Ray or locally) measures what is missing.

Without an address a local Ray cluster is started (and stopped at the end); `ray:auto` joins the
cluster that `ray start --head` (or KubeRay, or Ray on SLURM) runs on this node; an address joins
that cluster. RAY_ADDRESS in the environment, as ray.init reads it, replaces no address and
`auto`: that cluster is joined (and probed, and named in messages, as an address given is). A Ray
session that is already initialized in this process is used as it is.
"""
from __future__ import annotations

import os
import socket
from dataclasses import dataclass

from scalefit.errors import InputError
from scalefit.sweep.engine import _record_failure, measure_checkpoint


def _measure_task(info, measurements, out_dir, load, cleanup, on_duplicate, threads):
    """The body of one Ray task: the checkpoint measured on this worker (torch threads set first)."""
    if threads:
        import torch

        torch.set_num_threads(threads)
    return measure_checkpoint(info, measurements, out_dir, load=load, cleanup=cleanup,
                              on_duplicate=on_duplicate)


PROBE_SECONDS = 3.0  # a TCP connect to a cluster's head answers in milliseconds


def _no_cluster(address: str, reason: str, named: str | None = None) -> InputError:
    """The one line for an address with no cluster; `named` says where the address came from
    (RAY_ADDRESS in the environment), whose advice differs: --executor ray joins it too."""
    if named:
        return InputError(f"{named}: no Ray cluster to join there ({reason}); start one with `ray start "
                          "--head`, or unset RAY_ADDRESS (--executor ray then starts a local cluster)")
    return InputError(f"--executor ray:{address}: no Ray cluster to join there ({reason}); start one with "
                      "`ray start --head`, or use --executor ray for a local cluster")


def environment_address(address: str | None) -> str | None:
    """RAY_ADDRESS where ray.init reads it: in place of no address or 'auto' (None otherwise)."""
    value = os.environ.get("RAY_ADDRESS")
    return value if value and address in (None, "auto") else None


def environment_label(address: str | None) -> str:
    """How a message names an address taken from RAY_ADDRESS."""
    return f"--executor {'ray:' + address if address else 'ray'}: RAY_ADDRESS={os.environ.get('RAY_ADDRESS')}"


RESOLVED_BY_RAY = ("auto", "local")  # ray.init's own lookups: the running cluster, a new local one


def host_port(address: str, named: str | None = None) -> tuple[str, int] | None:
    """(host, port) of a 'HOST:PORT' or 'ray://HOST:PORT' address ('[::1]:6379' too); None for an
    address Ray resolves itself ('auto', 'local', another client scheme, 'ray://HOST'). A bare
    host or a port that is no number is an InputError (Ray's ValueError on it was a traceback)."""
    client = address.startswith("ray://")
    if address in RESOLVED_BY_RAY or ("://" in address and not client):
        return None
    rest = address[len("ray://"):] if client else address
    host, sep, port = rest.rstrip("/").rpartition(":")
    if client and not sep:
        return None
    if not sep or not host or not port.isdigit():
        raise InputError(f"{named or '--executor ray:' + address}: not a Ray address; use ray:auto (the "
                         "cluster on this node), ray:HOST:PORT (its head, e.g. ray:10.0.0.1:6379) or "
                         "ray:ray://HOST:PORT (Ray client)" + (" in RAY_ADDRESS, or unset it" if named else ""))
    if not 0 < int(port) < 65536:
        raise _no_cluster(address, f"port {port} is not a TCP port, 1 to 65535", named)
    return host.strip("[]"), int(port)


def probe(address: str | None, seconds: float = PROBE_SECONDS) -> None:
    """Refuse (InputError) a HOST:PORT address where nothing accepts a TCP connection, before Ray
    tries: ray.init retries such an address for 30 s to minutes, printing its own log lines. The
    address ray.init joins is probed: RAY_ADDRESS in place of none or 'auto', named as such."""
    joined, named = environment_address(address), None
    if joined:
        address, named = joined, environment_label(address)
    if address is None:
        return
    target = host_port(address, named)
    if target is None:
        return
    try:
        with socket.create_connection(target, timeout=seconds) as conn:
            reply = _reply_to_http2_preface(conn)
    except socket.gaierror as exc:
        raise _no_cluster(address, f"unknown host {target[0]}: {exc.strerror}", named) from None
    except TimeoutError:
        raise _no_cluster(address, f"no answer from {target[0]}:{target[1]} within {seconds:g} s", named) from None
    except OSError as exc:
        raise _no_cluster(address, f"{exc.strerror or type(exc).__name__} at {target[0]}:{target[1]}",
                          named) from None
    if reply and not (len(reply) == 9 and reply[3] == SETTINGS_FRAME):
        shown = reply[:12].decode("ascii", "replace").strip() or reply.hex()
        raise _no_cluster(address, f"something other than a Ray head answers at {target[0]}:{target[1]}: "
                          f"its reply begins {shown!r}, where a Ray head's gRPC sends an HTTP/2 "
                          "SETTINGS frame", named)


# A client's HTTP/2 connection preface and an empty SETTINGS frame: a gRPC server (Ray's GCS and
# its client server) answers with a SETTINGS frame at once (frame type 4, the 4th of 9 header
# bytes). Without this a web server at the address passed the TCP probe and ray.init hung.
HTTP2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + bytes([0, 0, 0, 4, 0, 0, 0, 0, 0])
SETTINGS_FRAME = 4


def _reply_to_http2_preface(conn) -> bytes:
    """The first 9 bytes (or fewer) a server sends back to the HTTP/2 preface; b'' where it is
    silent or closes, and where the cluster speaks TLS (RAY_USE_TLS), whose handshake this is not:
    those pass, as before, rather than refuse a head this check cannot read."""
    if os.environ.get("RAY_USE_TLS", "0").lower() in ("1", "true"):
        return b""
    reply = b""
    try:
        conn.sendall(HTTP2_PREFACE)
        while len(reply) < 9:
            chunk = conn.recv(9 - len(reply))
            if not chunk:
                break
            reply += chunk
    except OSError:  # a timeout or a reset after connecting: not a sign either way
        pass
    return reply


@dataclass
class RayExecutor:
    """One Ray task per checkpoint on the cluster at `address` (None: a local cluster)."""

    address: str | None = None
    threads: int | None = None    # torch threads per task (None: Ray's one CPU per task)
    max_retries: int = 3          # re-runs of a task whose worker died
    started: bool = False

    def describe(self) -> str:
        joined = environment_address(self.address)
        if joined:
            return f"ray:{joined} (RAY_ADDRESS)"
        return f"ray:{self.address}" if self.address else "ray (local cluster)"

    def connect(self):
        """The ray module, initialized (joining `address`, or a new local cluster)."""
        import ray

        if not ray.is_initialized():
            probe(self.address)
            named = environment_address(self.address) and environment_label(self.address)
            os.environ.setdefault("RAY_DEDUP_LOGS", "0")
            try:
                ray.init(address=self.address, include_dashboard=False, log_to_driver=False,
                         configure_logging=False)
            except (ConnectionError, RuntimeError, ValueError) as exc:  # ValueError: an address Ray cannot parse
                if not (self.address or named):  # a local cluster that does not start: not the user's input
                    raise
                reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
                if (environment_address(self.address) or self.address) == "auto" \
                        and "Could not find any running Ray instance" in reason:
                    reason = "none runs on this node"  # Ray's text sends the user to its own --address flag
                raise _no_cluster(self.address, reason, named) from None
            self.started = True
        return ray

    def gpus(self) -> float:
        """GPUs in the cluster (0 on a CPU-only one)."""
        return float(self.connect().cluster_resources().get("GPU", 0))

    def run(self, pending, measurements, out_dir, *, load, cleanup, on_duplicate, tracker) -> None:
        """Measure `pending` as tasks; report each finished one to `tracker` (the driver's bar)."""
        ray = self.connect()
        resources = {"num_gpus": 1} if self.gpus() >= 1 else {"num_cpus": 1}
        task = ray.remote(max_retries=self.max_retries, **resources)(_measure_task)
        shared = [ray.put(x) for x in (measurements, str(out_dir), load, cleanup)]
        refs = {task.remote(info, *shared, on_duplicate, self.threads): info for info in pending}
        tracker.describe(f"{len(pending)} tasks on {self.describe()}")
        waiting = list(refs)
        try:
            while waiting:
                ready, waiting = ray.wait(waiting, num_returns=1, timeout=1.0)
                for ref in ready:
                    info = refs[ref]
                    try:
                        outcome = ray.get(ref)
                    except Exception as exc:  # noqa: BLE001 - the task died past its retries
                        error = f"{type(exc).__name__}: Ray task failed after {self.max_retries} retries"
                        _record_failure(out_dir, info, error, str(exc)[-2000:])
                        outcome = {"status": "failed", "error": error, "tokens": 0, "seconds": 0.0}
                    tracker.finished(outcome, info)
        except KeyboardInterrupt:
            for ref in waiting:
                ray.cancel(ref, force=True)
            raise
        finally:
            self.close()

    def close(self) -> None:
        """Stop the local cluster this executor started (a joined one keeps running)."""
        if self.started:
            import ray

            ray.shutdown()
            self.started = False

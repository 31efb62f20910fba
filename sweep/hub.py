"""Whether the model hub answers: after one connection failure a sweep reads the local cache only.

Unreachable, each hub checkpoint spent about 50 s in the hub client's retries before it failed
(measured: 50.2 s for one Pythia revision), so `--steps all` on a suite would spend hours failing.
After the first failure to connect, the rest of the sweep asks the cache alone
(``local_files_only``): cached revisions still load, the others fail at once, naming the first.
"""
from __future__ import annotations

import socket
from contextlib import contextmanager

# failures to open a connection (requests, httpx and the hub client's vendored copy, httpcore,
# urllib3): a hub that cannot be reached. A read timeout or a reset is one slow or broken
# download from a hub that answers, and must not send the rest of the sweep to the cache.
_CONNECTION_ERRORS = {"ConnectError", "ConnectTimeout", "NewConnectionError", "ProxyError"}

_unreachable: list[str] = []  # the first checkpoint whose download could not connect, as "where: why"


def _chain(exc: BaseException | None):
    """The exception and those it was raised from."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        yield exc
        exc = exc.__cause__ or exc.__context__


def is_connection_failure(exc: BaseException) -> bool:
    """Whether an exception (or one it was raised from) is a failure to reach a server."""
    return any(isinstance(e, (ConnectionRefusedError, socket.gaierror))
               or type(e).__name__ in _CONNECTION_ERRORS for e in _chain(exc))


def _not_cached(exc: BaseException) -> bool:
    """Whether a cache-only download failed because the files are not in the cache."""
    return any(type(e).__name__ in ("LocalEntryNotFoundError", "OfflineModeIsEnabled")
               or "cached files" in str(e) or "local cache" in str(e) for e in _chain(exc))


def hub_kwargs() -> dict:
    """Extra keyword arguments of a hub download: the local cache alone once the hub was unreachable."""
    return {"local_files_only": True} if _unreachable else {}


def hub_failure(exc: BaseException, where: str) -> BaseException:
    """The exception to record for a hub checkpoint that failed to load: a first connection
    failure is remembered (the rest of the sweep reads the cache) and returned as it is; a
    checkpoint that then is not in the cache gets one line naming the first failure."""
    if _unreachable and (_not_cached(exc) or is_connection_failure(exc)):
        return ConnectionError(f"{where}: not in the local cache, and the model hub was unreachable "
                               f"at {_unreachable[0]}; re-run the same command when it is reachable "
                               "(measured checkpoints are kept)")
    if is_connection_failure(exc):
        _unreachable.append(where)
    return exc


@contextmanager
def attempt(where: str):
    """Run a hub download: its failure is raised as ``hub_failure`` says (the first failure to
    connect as it is, a revision then missing from the cache as one line naming that failure)."""
    try:
        yield
    except Exception as exc:  # noqa: BLE001 - the sweep records it; a dead hub is tried once
        failure = hub_failure(exc, where)
        if failure is exc:
            raise
        raise failure from exc


def reset() -> None:
    """Forget a connection failure (a new sweep, or a test)."""
    _unreachable.clear()

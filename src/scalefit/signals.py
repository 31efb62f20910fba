"""SIGTERM takes the Ctrl-C path, and the exit status says which of the two stopped the command."""
from __future__ import annotations

import signal

EXIT_INTERRUPTED = 130  # Ctrl-C (128 + SIGINT), as a shell reports it
EXIT_TERMINATED = 143   # SIGTERM (128 + 15): Slurm's time limit, `docker stop`, `kill`

_received: list[int] = []


def _terminated(signum, frame):
    _received.append(signum)
    raise KeyboardInterrupt("terminated")


def terminate_as_interrupt() -> None:
    """SIGTERM (Slurm's time limit, `docker stop`, `kill`) takes the Ctrl-C path: a sweep keeps
    what it measured, rebuilds its tables and forgets options nothing was measured with."""
    _received.clear()
    try:
        signal.signal(signal.SIGTERM, _terminated)
    except ValueError:  # not the main thread (a notebook's worker): leave the default
        pass


def interrupted_status() -> int:
    """130 after Ctrl-C, 143 after SIGTERM: the status a shell reports for each signal."""
    return EXIT_TERMINATED if _received else EXIT_INTERRUPTED


class Interrupted(KeyboardInterrupt):
    """Ctrl-C (or SIGTERM) in a long analysis, carrying what it finished: ``partial`` (the
    analysis' own result of the ``done`` of ``total`` units), so a command can keep it."""

    def __init__(self, partial, done: int, total: int, unit: str):
        super().__init__(f"interrupted after {done} of {total} {unit}")
        self.partial, self.done, self.total, self.unit = partial, done, total, unit

    def message(self) -> str:
        """The line a command prints: what was kept and how to get the rest."""
        return (f"interrupted: {self.done} of {self.total} {self.unit} finished; run the command "
                "again for all of them")

"""SIGTERM takes the Ctrl-C path, the exit status says which of the two stopped the command, and
work that must not be cut in half (a training step) holds both until it ends (DeferredSignals)."""
from __future__ import annotations

import os
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


def keeping_finished(analysis):
    """(analysis(), None); after Ctrl-C (or SIGTERM) that came once some of its work was finished
    (an ``Interrupted`` with ``done`` > 0), (that work, the line saying so), for a command to print
    and write before ``exit_interrupted``. An interruption before any unit finished propagates."""
    try:
        return analysis(), None
    except Interrupted as exc:
        if not exc.done:
            raise
        return exc.partial, exc.message()


def exit_interrupted(line: str) -> None:
    """End the running click command after Ctrl-C (SIGTERM): ``line`` on stderr, exit status 130
    (143), once the command has printed and written what it kept."""
    import click

    click.echo(line, err=True)
    click.get_current_context().exit(interrupted_status())


class DeferredSignals:
    """Hold SIGINT and SIGTERM until the current unit of work ends (suite train: an optimizer
    step; a KeyboardInterrupt inside backward() or optimizer.step() would leave the weights and
    Adam's moments half updated).

    The first signal is recorded in `pending` (the loop saves its step, then calls `deliver`); a
    second one stops at once. The handlers found on entry are restored on exit. A signal whose
    handler is SIG_IGN (nohup, a background job) stays ignored; outside the main thread, where
    Python cannot set handlers, nothing is held."""

    def __init__(self, run: str, saved: int):
        self.run, self.step, self.saved = run, saved, saved  # step: the one being trained
        self.pending: int | None = None
        self.previous: dict = {}

    def __enter__(self) -> DeferredSignals:
        for signum in (signal.SIGINT, signal.SIGTERM):
            before = signal.getsignal(signum)
            if before in (signal.SIG_IGN, None):  # ignored, or set outside Python: not ours to change
                continue
            try:
                signal.signal(signum, self._hold)
            except ValueError:  # not the main thread
                break
            self.previous[signum] = before
        return self

    def __exit__(self, exc_type, *exc) -> None:
        previous, self.previous = self.previous, {}
        for signum, before in previous.items():
            signal.signal(signum, before)
        if self.pending is not None and exc_type is None:  # came after the last step's check: not lost
            signum, self.pending = self.pending, None
            _take_as_before(previous[signum], signum)

    def _hold(self, signum, frame) -> None:
        name = signal.Signals(signum).name
        if self.pending is None:
            self.pending = signum
            _say(f"\n{name}: {self.run} finishes step {self.step}, saves it, then stops "
                 f"(send it again to stop at once, losing the steps after {self.saved})\n")
            return
        _say(f"\n{name} again: stopping now, inside step {self.step}; {self.run} resumes from step "
             f"{self.saved}\n")
        _take_as_before(self.previous[signum], signum)

    def deliver(self, stop: KeyboardInterrupt) -> None:
        """Hand the held signal to the handler it had before training (the CLI's turns SIGINT into
        KeyboardInterrupt and records SIGTERM for exit status 143), then raise `stop` in its place.
        A handler that returns (a user's own that chose to go on) lets training continue."""
        signum, self.pending = self.pending, None
        try:
            _take_as_before(self.previous[signum], signum)
        except KeyboardInterrupt as exc:
            raise stop from exc


def _take_as_before(handler, signum: int) -> None:
    """Run the handler a signal had before it was held; SIG_DFL (SIGTERM outside the CLI, which
    would end the process) becomes KeyboardInterrupt, the way the training loop stops."""
    if callable(handler):
        handler(signum, None)
    else:
        raise KeyboardInterrupt


def _say(text: str) -> None:
    """Write to stderr from a signal handler: os.write, as the handler may run while Python's own
    buffered stderr is in the middle of a write (a re-entrant call there raises)."""
    try:
        os.write(2, text.encode())
    except OSError:
        pass

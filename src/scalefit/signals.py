"""SIGTERM takes the Ctrl-C path, the exit status says which of the two stopped the command, work
that must not be cut in half (a training step) holds both until it ends (DeferredSignals), and an
analysis whose work is finished is printed and written before either stops the command
(deferring_signals, results_ready)."""
from __future__ import annotations

import os
import signal
from contextlib import ContextDecorator

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
        """The line a command prints: what was kept and how to get the rest; with nothing kept
        (``partial`` None, or no unit finished) how far it got."""
        if not self.done:
            return f"interrupted: 0 of {self.total} {self.unit} finished"
        if self.partial is None:
            return f"interrupted: {self.done} of {self.total} {self.unit} finished, none with a result to show"
        return (f"interrupted: {self.done} of {self.total} {self.unit} finished; run the command "
                "again for all of them")


def keeping_finished(analysis):
    """(analysis(), None); after Ctrl-C (or SIGTERM) that came once some of its work was finished
    (an ``Interrupted`` with ``done`` > 0 and a ``partial``), (that work, the line saying so), for
    a command to print and write before ``exit_interrupted``. An interruption before any unit
    finished propagates (the CLI prints its ``message``: '0 of 4 compute cuts finished').

    Inside a command's ``deferring_signals`` block, a signal that comes once ``analysis`` has
    returned (or once it called ``results_ready``) waits until the block has printed and written
    its result."""
    try:
        result = analysis()
    except Interrupted as exc:
        if not exc.done or exc.partial is None:
            raise
        return exc.partial, exc.message()
    results_ready()
    return result, None


_holding: list[deferring_signals] = []  # the running command's block (innermost last)


def results_ready() -> None:
    """Said by an analysis once its last unit has finished (inside the loop's ``try``, so a signal
    before it still keeps every unit as an ``Interrupted``): from here a SIGINT or SIGTERM waits
    until the command's ``deferring_signals`` block has printed and written the result. Without
    such a block (a notebook, a script) it does nothing."""
    if _holding:
        _holding[-1].hold()


class deferring_signals(ContextDecorator):
    """A command's block (``with deferring_signals():``, or ``@deferring_signals()`` on its
    function) that runs an analysis (through ``keeping_finished``), then prints and writes its
    result. Until the analysis' work is finished (``results_ready``) Ctrl-C and SIGTERM
    stop it as before (the analysis keeps the units finished); after that the first one waits:
    the block prints and writes the complete result, then the command exits 130 (143 for SIGTERM)
    with a line saying the output is complete. A second signal stops at once. An exception that
    ends the block (an input error, click's exit after a partial result) goes on and the held
    signal is dropped. Handlers found on ``hold`` are restored when the block ends; a signal whose
    handler is SIG_IGN (nohup, a background job) stays ignored; outside the main thread, where
    Python cannot set handlers, nothing is held."""

    def __init__(self):
        self.pending: int | None = None
        self.previous: dict = {}
        self.holding = False

    def __enter__(self) -> deferring_signals:
        _holding.append(self)
        return self

    def hold(self) -> None:
        """From now on, hold SIGINT and SIGTERM until the block ends."""
        if self.holding:
            return
        self.holding = True
        self.previous = _hold_signals(self._hold)

    def __exit__(self, exc_type, *exc) -> None:
        if self in _holding:
            _holding.remove(self)
        previous, self.previous, self.holding = self.previous, {}, False
        for signum, before in previous.items():
            signal.signal(signum, before)
        if self.pending is None or exc_type is not None:
            return
        signum, self.pending = self.pending, None
        try:
            _take_as_before(previous[signum], signum)  # the CLI's: KeyboardInterrupt, SIGTERM recorded
        except KeyboardInterrupt:
            import click

            if click.get_current_context(silent=True) is None:
                raise
            exit_interrupted(f"interrupted ({signal.Signals(signum).name}) once the work was "
                             "finished: what was printed and written is complete")

    def _hold(self, signum, frame) -> None:
        name = signal.Signals(signum).name
        if self.pending is None:
            self.pending = signum
            _say(f"\n{name}: the work is finished; printing and writing it, then stopping "
                 "(send it again to stop at once, losing what is not yet written)\n")
            return
        _say(f"\n{name} again: stopping now\n")
        _take_as_before(self.previous[signum], signum)


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
        self.previous = _hold_signals(self._hold)
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


def _hold_signals(handler) -> dict:
    """Set ``handler`` for SIGINT and SIGTERM; {signal: the handler it replaced}. A signal that is
    ignored (SIG_IGN) or whose handler was set outside Python is left alone, and so is every
    signal outside the main thread, where Python cannot set handlers."""
    previous = {}
    for signum in (signal.SIGINT, signal.SIGTERM):
        before = signal.getsignal(signum)
        if before in (signal.SIG_IGN, None):  # ignored, or set outside Python: not ours to change
            continue
        try:
            signal.signal(signum, handler)
        except ValueError:  # not the main thread
            break
        previous[signum] = before
    return previous


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

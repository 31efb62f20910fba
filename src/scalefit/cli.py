"""The ``scalefit`` command: a thin click shell over the layers' plain functions.

Subcommands are imported lazily (torch and transformers take seconds to import), and every
``InputError`` a layer raises, like every usage error click finds (an unknown option, a value
outside a choice), becomes a one-line message with exit status 2.
"""
from __future__ import annotations

import importlib
import os
import sys
import warnings

import click

from scalefit import __version__
from scalefit.errors import InputError, ScalefitWarning, extra_for, extra_needed
from scalefit.signals import Interrupted, interrupted_status, terminate_as_interrupt

# name -> "module:attribute"; each layer owns its own commands.
SUBCOMMANDS = {
    "compare": "scalefit.scaling.laws.cli:compare",
    "calibrate": "scalefit.scaling.laws.calibrate_cli:calibrate",
    "reconcile": "scalefit.scaling.laws.reconcile_cli:reconcile_command",
    "fit": "scalefit.scaling.laws.cli:fit",
    "predict": "scalefit.scaling.relations.cli:predict",
    "eval": "scalefit.evals.cli:eval_command",
    "weights": "scalefit.sweep.cli:weights",
    "transitions": "scalefit.scaling.trajectories.cli:transitions",
    "trajectory": "scalefit.scaling.trajectories.cli:trajectory",
    "warmup-study": "scalefit.scaling.trajectories.cli:warmup_study_command",
    "init-study": "scalefit.scaling.trajectories.init_study_cli:init_study_command",
    "data": "scalefit.trainer.cli:data",
    "suite": "scalefit.trainer.cli:suite",
}


def missing_extra_message(command: str | None, module: str) -> str:
    """A command that needs a missing extra (``errors.EXTRAS``) says which to install (exit 2)
    instead of a traceback."""
    return f"scalefit {command or ''}: {extra_needed(module)}"


def missing_extra_command(name: str, module: str) -> click.Command:
    """A stand-in for a command whose module cannot import without an extra: it says so."""
    def run(args):
        click.echo(f"error: {missing_extra_message(name, module)}", err=True)
        raise SystemExit(2)
    return click.Command(name, callback=run, help=f"(needs the '{extra_for(module)}' extra)",
                         params=[click.Argument(["args"], nargs=-1)],
                         context_settings={"ignore_unknown_options": True,
                                           "allow_extra_args": True, "help_option_names": []})


class LazyGroup(click.Group):
    """A click group that imports a subcommand's module only when it is used."""

    def list_commands(self, ctx):
        return sorted(name for name in SUBCOMMANDS if self._load(name) is not None)

    def get_command(self, ctx, name):
        return self._load(name)

    @staticmethod
    def _load(name):
        target = SUBCOMMANDS.get(name)
        if target is None:
            return None
        module_name, attr = target.split(":")
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name and exc.name.startswith("scalefit"):  # a layer not built yet
                return None
            if extra_for(exc.name) is None:
                raise
            return missing_extra_command(name, exc.name)
        return getattr(module, attr, None)

    def _path(self, ctx, args) -> str:
        """The command path `args` name (`scalefit suite precision`), for a usage error raised
        before the subcommand had a context."""
        words, command = [ctx.command_path], self
        for arg in args:
            sub = command.get_command(ctx, arg) if isinstance(command, click.Group) else None
            if sub is None:
                break
            words.append(arg)
            command = sub
        return " ".join(words)

    def invoke(self, ctx):
        # the commands only write figures to files: no GUI backend, unless the user chose one
        # (set before a subcommand's module can import matplotlib)
        if "MPLBACKEND" not in os.environ:
            os.environ["MPLBACKEND"] = "Agg"
        # lmfit's and uncertainties' "invalid value in sqrt" when a covariance is singular: the
        # commands print that stderr as '-' and say which parameters are not identified, so the raw
        # numpy warnings are noise on the terminal (a notebook keeps Python's default filters)
        args = [*getattr(ctx, "_protected_args", ()), *ctx.args]  # click empties both as it goes
        terminate_as_interrupt()
        try:
            with warnings.catch_warnings():  # the command's filters and display, restored after it
                warnings.filterwarnings("ignore", category=RuntimeWarning, module=r"(lmfit|uncertainties)(\.|$)")
                show_scalefit_warnings()
                return super().invoke(ctx)
        except InputError as exc:  # a file's bytes in it (a column name) escaped, never raw
            from scalefit.tables import printable
            click.echo(f"error: {printable(exc)}", err=True)
            ctx.exit(2)
        except getattr(click.exceptions, "NoArgsIsHelpError", ()):  # a bare group: its help, as click shows it
            raise
        except click.UsageError as exc:  # an unknown option or command, a value click refused
            where = exc.ctx.command_path if exc.ctx is not None else self._path(ctx, args)
            message = " ".join(exc.format_message().split())  # click lists choices on lines of their own
            click.echo(f"error: {message} (see '{where} --help')", err=True)
            ctx.exit(2)
        except KeyboardInterrupt as exc:  # Ctrl-C before a command took over (e.g. while importing)
            # or before an analysis finished a unit ('interrupted: 0 of 4 compute cuts finished')
            click.echo(exc.message() if isinstance(exc, Interrupted) else "interrupted", err=True)
            ctx.exit(interrupted_status())
        except ModuleNotFoundError as exc:  # a lazy import inside a command
            if extra_for(exc.name) is None:
                raise
            click.echo(f"error: {missing_extra_message(ctx.invoked_subcommand, exc.name)}",
                       err=True)
            ctx.exit(2)


def show_scalefit_warnings() -> None:
    """Every ScalefitWarning as one 'warning: ...' line on stderr (each time, not once per place):
    what a long run went on past, said as the sweep says it; other warnings as Python shows them.
    Call inside warnings.catch_warnings(), which restores both."""
    shown = warnings.showwarning

    def show(message, category, filename, lineno, file=None, line=None):
        if issubclass(category, ScalefitWarning):
            click.echo(f"warning: {message}", err=True)
        else:
            shown(message, category, filename, lineno, file, line)

    warnings.simplefilter("always", ScalefitWarning)
    warnings.showwarning = show


@click.group(name="scalefit", cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="scalefit")
def main():
    """Scaling laws, loss-to-loss prediction and weight statistics for LM suites.

    \b
    Start here:
      scalefit compare kaplan chinchilla        fit both laws to the shipped runs
      scalefit fit chinchilla --data runs.csv   fit one law to your own run table
    Analysis commands take --data FILE (default: the shipped data), --out DIR and --json;
    `scalefit COMMAND --help` says which table each reads.
    """


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

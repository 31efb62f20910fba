"""The ``scalefit`` command: a thin click shell over the layers' plain functions.

Subcommands are imported lazily (torch and transformers take seconds to import), and every
``InputError`` a layer raises becomes a one-line message with exit status 2.
"""
from __future__ import annotations

import importlib
import os
import sys

import click

from scalefit import __version__
from scalefit.errors import InputError

# name -> "module:attribute"; each layer owns its own commands.
SUBCOMMANDS = {
    "compare": "scalefit.scaling.laws.cli:compare",
    "fit": "scalefit.scaling.laws.cli:fit",
    "predict": "scalefit.scaling.relations.cli:predict",
    "eval": "scalefit.evals.cli:eval_command",
    "weights": "scalefit.sweep.cli:weights",
    "transitions": "scalefit.scaling.trajectories.cli:transitions",
    "trajectory": "scalefit.scaling.trajectories.cli:trajectory",
    "warmup-study": "scalefit.scaling.trajectories.cli:warmup_study_command",
    "data": "scalefit.trainer.cli:data",
    "suite": "scalefit.trainer.cli:suite",
}


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
        except ModuleNotFoundError as exc:  # a layer not built yet
            if exc.name and exc.name.startswith("scalefit"):
                return None
            raise
        return getattr(module, attr, None)

    def invoke(self, ctx):
        # the commands only write figures to files: no GUI backend, unless the user chose one
        # (set before a subcommand's module can import matplotlib)
        if "MPLBACKEND" not in os.environ:
            os.environ["MPLBACKEND"] = "Agg"
        try:
            return super().invoke(ctx)
        except InputError as exc:
            click.echo(f"error: {exc}", err=True)
            ctx.exit(2)


@click.group(name="scalefit", cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="scalefit")
def main():
    """Scaling laws, loss-to-loss prediction and weight statistics for LM suites.

    \b
    Start here:
      scalefit compare kaplan chinchilla        fit both laws to the shipped runs
      scalefit fit chinchilla --data runs.csv   fit one law to your own run table
    Every analysis command takes --data FILE, --out DIR and --json.
    """


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

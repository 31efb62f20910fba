"""The words a message names an argument by: 'pairing (--pair)' to a Python caller, who knows the
argument, and '--pair' as a command prints it, whose user knows only the flag (as the laws layer
says 'lam (--lambda)' and its command '--lambda')."""
from __future__ import annotations

import functools

from scalefit.errors import InputError

# argument -> the commands' flag, for the arguments whose messages the relations and trajectories
# layers share with their commands
FLAGS = {"pairing": "--pair", "match": "--match", "e_source": "--e", "method": "--method",
         "relation": "--relation", "x_from": "--x-from", "y_from": "--y-from",
         "holdout": "--holdout", "at_x": "--at-x", "at_nd": "--at", "E_x": "--E-x", "E_y": "--E-y",
         "E": "--E", "thresholds": "--thresholds", "stat": "--stat"}


def named(argument: str) -> str:
    """'pairing (--pair)': an argument as a message to a Python caller names it."""
    return f"{argument} ({FLAGS[argument]})"


def as_command(text: str) -> str:
    """``text`` with each ``named(argument)`` as its flag alone: the message as a command says it."""
    for argument in FLAGS:
        text = text.replace(named(argument), FLAGS[argument])
    return text


def command_words(command):
    """A command whose InputErrors name the flags alone (``as_command``): the functions it calls
    name each argument as a Python caller passes it."""
    @functools.wraps(command)
    def run(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except InputError as exc:  # reworded in place: its type and traceback kept
            exc.args = (as_command(str(exc)), *exc.args[1:])
            raise
    return run

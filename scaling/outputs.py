"""Where a figure goes (--plot FILE), checked before any work is done.

A fit can take minutes; a figure path that cannot be written (a folder that does not exist, a
format matplotlib has no writer for) is an ``InputError`` at the start, one line naming the
option, not a traceback after the computation. --out FOLDER is checked the same way by the
shared option itself (``scalefit.options.check_out_dir``), for every analysis command.
"""
from __future__ import annotations

import functools
import os
from pathlib import Path

from scalefit.errors import InputError

FIGURE_FORMATS = ("png", "svg", "pdf", "jpg", "jpeg", "eps", "ps", "tif", "tiff", "webp", "svgz")


def check_figure_path(plot_path, option: str = "--plot") -> None:
    """InputError unless ``plot_path`` names a file in an existing, writable folder with a
    suffix matplotlib can write."""
    if plot_path is None:
        return
    path = Path(plot_path)
    suffix = path.suffix.lower().lstrip(".")
    if suffix not in FIGURE_FORMATS:
        raise InputError(f"{option} {plot_path}: unknown figure format '{path.suffix or '(none)'}'"
                         f"; expected a file ending in one of .{', .'.join(FIGURE_FORMATS)}")
    if path.is_dir():
        raise InputError(f"{option} {plot_path}: is a folder; expected a figure file name")
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise InputError(f"{option} {plot_path}: the folder '{folder}' does not exist")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise InputError(f"{option} {plot_path}: the folder '{folder}' is not writable")


def checked_outputs(command):
    """Decorate a click callback (below the click decorators): its ``plot_path`` argument, when
    present, is checked before it runs."""
    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        check_figure_path(kwargs.get("plot_path"))
        return command(*args, **kwargs)
    return wrapper


def rerun_command() -> str | None:
    """The command line that made the output being written (the options given that shape its
    results, paths absolute; scalefit_settings.json spells out the defaults too), from the
    running click command; None outside one (a notebook's call). A report names it so that a
    reader can re-run it. A default is left out: some options are refused where they do not
    apply (fit chinchilla --isoflop-method parabola) even at their default value."""
    import shlex

    import click

    from scalefit.options import command_settings

    ctx = click.get_current_context(silent=True)
    if ctx is None:
        return None
    options = command_settings(ctx)["options"]
    words = ["scalefit", *ctx.command_path.split()[1:]]
    for param in ctx.command.params:
        key = param.opts[0] if param.opts and param.opts[0].startswith("-") else param.name.upper()
        if key not in options:
            continue
        value = options[key]
        values = value if isinstance(value, list) else [value]
        default = param.get_default(ctx) if callable(getattr(param, "get_default", None)) else None
        if value in (None, [], ()) or (not isinstance(value, list) and value == default):
            continue
        if not key.startswith("-"):  # an argument (compare's LAWS, fit's LAW)
            words += [str(v) for v in values]
        elif getattr(param, "is_flag", False) and isinstance(value, bool):
            flag = key if value else next(iter(param.secondary_opts), None)
            if flag:
                words.append(flag)
        else:
            for v in values:
                words += [key, str(v)]
    return " ".join(shlex.quote(w) for w in words)


def provenance_lines(data) -> list[str]:
    """A report's lines on what made it: the data it read and, run from the command line, the
    command that re-runs it (Markdown)."""
    from scalefit import __version__

    command = rerun_command()
    return [f"Data: {data}."] + ([f"Made with scalefit {__version__}: `{command}`"
                                  " (also in scalefit_settings.json)."] if command else [])

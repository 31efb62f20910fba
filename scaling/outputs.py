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

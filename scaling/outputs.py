"""Where a command writes (--out FOLDER, --plot FILE), checked before any work is done.

A fit can take minutes; a path that cannot be written (a file where a folder is named, a folder
that does not exist, a figure format matplotlib has no writer for) is an ``InputError`` at the
start, one line naming the option, not a traceback after the computation.
"""
from __future__ import annotations

import functools
import os
from pathlib import Path

from scalefit.errors import InputError

FIGURE_FORMATS = ("png", "svg", "pdf", "jpg", "jpeg", "eps", "ps", "tif", "tiff", "webp", "svgz")


def _nearest_existing(path: Path) -> Path:
    for candidate in (path, *path.parents):
        if candidate.exists():
            return candidate
    return Path(".")


def check_out_dir(out_dir, option: str = "--out") -> None:
    """InputError unless ``out_dir`` is a folder, or can be made one (its nearest existing
    ancestor is a writable folder)."""
    if out_dir is None:
        return
    path = Path(out_dir)
    if path.exists() and not path.is_dir():
        raise InputError(f"{option} {out_dir}: is a file; expected a folder to write the report "
                         "into (an existing one, or a new one to create)")
    base = _nearest_existing(path)
    if not base.is_dir():
        raise InputError(f"{option} {out_dir}: '{base}' is a file, so no folder can be made "
                         "below it; expected a folder to write the report into")
    if not os.access(base, os.W_OK | os.X_OK):
        raise InputError(f"{option} {out_dir}: the folder '{base}' is not writable")


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
    """Decorate a click callback (below the click decorators): its ``out_dir`` and
    ``plot_path`` arguments, when present, are checked before it runs."""
    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        check_out_dir(kwargs.get("out_dir"))
        check_figure_path(kwargs.get("plot_path"))
        return command(*args, **kwargs)
    return wrapper

"""The one exception type for a user's mistake (bad file, bad column, bad option value), and the
one warning type for what a long run finds and goes on past (a diverged checkpoint, a damaged file).

The CLI turns an InputError into a one-line message and exit status 2, never a traceback, and
prints a ScalefitWarning as one 'warning: ...' line. The plain Python API lets the error propagate
as an ordinary ``ValueError`` and the warning go through Python's warnings (filter or catch it).
"""
import warnings

import numpy as np


class InputError(ValueError):
    """Bad user input; the message names the file, column and row where that is known."""


class ScalefitWarning(UserWarning):
    """Something a run measured or met that a user must know, and went on past."""


class RenamedArgumentWarning(ScalefitWarning, FutureWarning):
    """An argument passed under its old name (``renamed.renamed_arguments``): a ScalefitWarning
    as every warning of the library, and a FutureWarning, which notebooks show by default."""


# Optional extras and the top-level modules each brings: what needs a missing one says which
# extra to install (the command with exit 2, the Python API as its ImportError's message)
EXTRAS = {"eval": ("torch", "transformers", "lm_eval", "safetensors", "tokenizers"),
          "ray": ("ray",)}


def extra_for(module: str | None) -> str | None:
    """The extra that installs ``module`` (e.g. 'eval' for torch), or None."""
    top = (module or "").split(".")[0]
    return next((extra for extra, mods in EXTRAS.items() if top in mods), None)


def extra_needed(module: str) -> str:
    """"needs the 'eval' extra, which provides torch: pip install 'scalefit[eval]' ...": what
    to install for ``module`` (one that ``extra_for`` knows)."""
    extra = extra_for(module)
    hint = " (on a CPU machine first: pip install torch==2.13.0)" if extra == "eval" else ""
    return (f"needs the '{extra}' extra, which provides {module.split('.')[0]}: "
            f"pip install 'scalefit[{extra}]'{hint}")


def warn(text: str) -> None:
    """Issue a ScalefitWarning (the library's way to say what it went on past; never print)."""
    warnings.warn(text, ScalefitWarning, stacklevel=2)


# modules whose types a message names bare ('a DataFrame' is pandas'); another library's type
# is named with its module, so that a polars DataFrame is not refused as 'a DataFrame'
BARE_TYPE_MODULES = ("builtins", "__main__", "numpy", "pandas", "torch", "scalefit")


def a_type(value) -> str:
    """'a list', 'an int', 'an ndarray', 'a pyarrow Table': the type of ``value`` with its
    article, for messages on a wrong kind."""
    kind = type(value)
    name = kind.__name__
    module = (kind.__module__ or "").partition(".")[0]
    if module and module not in BARE_TYPE_MODULES:
        name = f"{module} {name}"
    return f"{'an' if name[:1].lower() in 'aeiou' or name.startswith('nd') else 'a'} {name}"


# the attrs key ``tables.read_table`` sets: the frame's index labels are the 0-based data rows
# of this file (pandas keeps attrs through the subsetting, copies and sorts a command does)
ROWS_OF = "rows_of_file"


def data_row(frame, i: int) -> int:
    """1-based number of positional row i of ``frame``: its index label + 1 (for a table read
    from a file, the data row of the file, as pandas index labels survive subsetting), or i + 1
    where the label is no integer. A number to store (``RunTable.rows``); a message names the
    row by ``row_name``."""
    label = frame.index[i]
    return int(label) + 1 if isinstance(label, (int, np.integer)) else i + 1


def _from_file(frame) -> bool:
    return bool(getattr(frame, "attrs", {}).get(ROWS_OF))


def _label(label) -> str:
    if isinstance(label, (int, np.integer)):
        return str(int(label))
    return f"'{label}'" if isinstance(label, str) else str(label)


def row_name(frame, i: int) -> str:
    """How a message names positional row i of ``frame``: 'row 28', the file's 1-based data row,
    for a table ``read_table`` read (its attrs say so); 'row with index 27', the row's index
    label, for a frame made in a notebook, or one whose attrs were lost (``pd.merge``,
    ``pd.DataFrame(frame)``): its labels need not be positions (a filtered frame's row 2 may be
    label 27, and was named 'row 28', neither)."""
    if _from_file(frame):
        return f"row {data_row(frame, i)}"
    return f"row with index {_label(frame.index[i])}"


def rows_name(frame, positions, sep: str = ", ") -> str:
    """Several rows as ``row_name`` names one: 'rows 3, 8' (file rows) or 'rows with index 2, 7'
    (index labels), joined by ``sep``; one row as ``row_name`` says it."""
    positions = [int(i) for i in positions]
    if len(positions) == 1:
        return row_name(frame, positions[0])
    if _from_file(frame):
        return f"rows {sep.join(str(data_row(frame, i)) for i in positions)}"
    return f"rows with index {sep.join(_label(frame.index[i]) for i in positions)}"


def where(file=None, column=None, row=None) -> str:
    """Format the 'file, column, row' location prefix used in every InputError message."""
    parts = []
    if file is not None:
        parts.append(str(file))
    if column is not None:
        parts.append(f"column '{column}'")
    if row is not None:
        parts.append(f"row {row}")
    return ": ".join([", ".join(parts)]) if parts else ""


def known(values, limit: int = 40) -> str:
    """The accepted values for a message, sorted; past `limit` the rest are counted, not dropped
    silently (a user looking for one must learn that the list goes on)."""
    names = sorted({str(v) for v in values} - {"nan", "None"})
    shown = ", ".join(names[:limit])
    return shown + (f", ... ({len(names)} in all)" if len(names) > limit else "")


def suggestion(name, choices, form: str = "'{}'", *, cutoff: float = 0.5, n: int = 1,
               otherwise=None) -> str:
    """The tail of an unknown-name message: "; did you mean 'x'?" for the closest of ``choices``
    (difflib ratio at least ``cutoff``; up to ``n`` of them, closest first: "'x', 'y' or 'z'"),
    else ``otherwise`` (default " (known: a, b, ...)" in the order given); ``form`` quotes the
    name. The one near-name matcher: 0.5 suits short keys and names (a typo of 'cosine'); a
    table's columns take 0.8 (at 0.5 'train_loss_5' was offered for a missing 'val_loss'); names
    where a shared word part must not count (laws, a suite member's keys) take 0.75."""
    import difflib

    choices = [str(c) for c in choices]
    # compared without case: 'LOSS' is nearest 'loss' (ratio 1), where the case counted it had
    # ratio 0 and --x LOSS was offered nothing
    lowered = {}
    for c in choices:
        lowered.setdefault(c.lower(), c)
    near = [form.format(lowered[c]) for c in
            difflib.get_close_matches(str(name).lower(), list(lowered), n=n, cutoff=cutoff)]
    if near:
        return f"; did you mean {', '.join(near[:-1]) + ' or ' if near[1:] else ''}{near[-1]}?"
    return f" (known: {', '.join(choices)})" if otherwise is None else otherwise

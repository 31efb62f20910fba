"""The options every analysis command shares (--data, --out, --json, --seed) and the validated
value types of the numeric options (--holdout, --bootstrap, --delta, counts, finite floats).

A bad value is one line that names the option and says what it accepts, exit status 2: the
types raise ``InputError`` (which the ``scalefit`` group prints as one line) rather than
click's ``BadParameter`` (which prints the usage block first). The parsers are plain functions
too, so the Python API checks its arguments with the same words.
"""
from __future__ import annotations

import math

import click

from scalefit.errors import InputError, suggestion
from scalefit.tables import readable_formats


# ---- plain parsers: value -> checked value, or InputError naming the option -----------------

def _number(option: str, value, accepted: str) -> float:
    if type(value).__name__ in ("bool", "bool_"):  # holdout=True held out 1 run, seed=True was 1
        raise InputError(f"{option}: '{value}' is True or False, not a number; expected {accepted}")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise InputError(f"{option}: '{value}' is not a number; expected {accepted}") from None
    if not math.isfinite(number):
        raise InputError(f"{option}: '{value}' is not finite; expected {accepted}")
    return number


def _whole(option: str, value, accepted: str) -> int:
    number = _number(option, value, accepted)
    if number != int(number):
        raise InputError(f"{option}: '{value}' is not a whole number; expected {accepted}")
    return int(number)


def finite_float(option: str, value) -> float:
    """Any finite number (nan and inf refused)."""
    return _number(option, value, "a finite number")


def _at_least(option: str, value, low: float, *, whole: bool, strict: bool):
    """A finite number (whole if ``whole``) >= low, or > low if ``strict``."""
    kind = "a whole number" if whole else "a finite number"
    accepted = f"{kind} {'>' if strict else '>='} {low:g}"
    number = (_whole if whole else _number)(option, value, accepted)
    if number < low or (strict and number == low):
        raise InputError(f"{option}: '{value}' is out of range; expected {accepted}")
    return number


def positive_float(option: str, value) -> float:
    """A finite number > 0."""
    return _at_least(option, value, 0, whole=False, strict=True)


def nonnegative_float(option: str, value) -> float:
    """A finite number >= 0."""
    return _at_least(option, value, 0, whole=False, strict=False)


def positive_int(option: str, value) -> int:
    """A whole number >= 1."""
    return _at_least(option, value, 1, whole=True, strict=False)


def nonnegative_int(option: str, value) -> int:
    """A whole number >= 0."""
    return _at_least(option, value, 0, whole=True, strict=False)


def irreducible_loss(option: str, value) -> float:
    """A given irreducible loss E: a finite number >= 0 (a cross-entropy, in nats or bits, is
    never negative, so neither is its floor)."""
    accepted = "an irreducible loss, a finite number >= 0"
    number = _number(option, value, accepted)
    if number < 0:
        raise InputError(f"{option}: '{value}' is negative; expected {accepted} (a loss is never "
                         f"below 0; leave {option} out to fit it)")
    return number


def fraction(option: str, value) -> float:
    """A share strictly between 0 and 1."""
    accepted = "a fraction in (0, 1) such as 0.02"
    number = _number(option, value, accepted)
    if not 0 < number < 1:
        raise InputError(f"{option}: '{value}' is out of range; expected {accepted}")
    return number


def one_of(option: str, value, choices) -> str:
    """``value`` as one of ``choices``, read in any case with the spaces around it ignored, else
    one InputError naming ``option``, the closest choice and every one: the plain parser of a
    choice, as ``NameChoice`` is the command's ('Sigmoid' and 'sigmod' were refused without the
    'did you mean' the command gives)."""
    choices = [str(c) for c in choices]
    text = value.strip().lower() if isinstance(value, str) else None
    for choice in choices:
        if text == choice.lower():
            return choice
    raise InputError(f"{option}: '{value}' is not one of {', '.join(choices)}"
                     + suggestion(str(value), choices, cutoff=0.75, otherwise=""))


MAX_RESAMPLES = 100_000  # 1e9 resamples asked numpy for 149 GiB (a MemoryError traceback, or the OOM killer)


def bootstrap_count(option: str, value) -> int:
    """Bootstrap resamples: 0 (none) or 2 to MAX_RESAMPLES (one resample has no spread; a
    mistyped 1e9 would hold its draws in memory before the first refit)."""
    accepted = f"at least 2 resamples, or 0 for none; at most {MAX_RESAMPLES}"
    number = _whole(option, value, accepted)
    if number < 0 or number == 1 or number > MAX_RESAMPLES:
        raise InputError(f"{option}: '{value}': expected {accepted}")
    return number


def holdout_spec(option: str, value) -> float | int | None:
    """A holdout: a fraction in (0, 1), a whole count >= 1, or None / 0 / 'none' for no holdout."""
    if value is None or str(value).strip().lower() in ("", "none", "no"):
        return None
    accepted = "a fraction in (0, 1) such as 0.2, a whole count such as 5, or 0 for none"
    number = _number(option, value, accepted)
    if number < 0:
        raise InputError(f"{option}: '{value}' is negative; expected {accepted}")
    if number == 0:
        return None
    if number < 1:
        return number
    if number != int(number):
        raise InputError(f"{option}: '{value}' is neither a fraction below 1 nor a whole count; "
                         f"expected {accepted}")
    return int(number)


# ---- click types over the parsers -----------------------------------------------------------

class Checked(click.ParamType):
    """A click type that runs one of the parsers above; errors are one-line InputErrors."""

    def __init__(self, parse, name: str):
        self.parse = parse
        self.name = name

    def convert(self, value, param, ctx):
        if value is None:
            return None
        option = param.opts[0] if param is not None and param.opts else self.name
        return self.parse(option, value)


FINITE = Checked(finite_float, "number")
POSITIVE = Checked(positive_float, "number")
NONNEGATIVE = Checked(nonnegative_float, "number")
POSITIVE_INT = Checked(positive_int, "integer")
NONNEGATIVE_INT = Checked(nonnegative_int, "integer")
BOOTSTRAP = Checked(bootstrap_count, "integer")
FRACTION = Checked(fraction, "fraction")
LOSS_FLOOR = Checked(irreducible_loss, "number")
HOLDOUT = Checked(holdout_spec, "X")


class NameChoice(click.Choice):
    """A choice of names (laws, relations) whose refusal also names the other values the command
    takes at that place (``also``: name -> what it is, e.g. `fit shifted-power`) and the closest
    name ("did you mean 'chinchilla'?"); click's own message said neither."""

    def __init__(self, choices, also=None, case_sensitive: bool = False):
        super().__init__(list(choices), case_sensitive=case_sensitive)
        self.also = dict(also or {})

    def others(self) -> str:
        """"; or 'shifted-power' (a loss-to-loss law), ..." for ``also``; '' without it."""
        return ("; or " + ", ".join(f"'{name}' ({what})" for name, what in self.also.items())
                if self.also else "")

    def listing(self) -> str:
        """Every name this place takes, the choices and then ``also``: the one list that the
        missing-value and invalid-value messages and a command's epilog print."""
        return ", ".join(map(str, self.choices)) + self.others()

    def get_missing_message(self, param, ctx) -> str:
        # click's 'Choose from:' listed the choices only ('scalefit fit' left out shifted-power)
        return f"Choose from: {self.listing()}"

    def get_invalid_choice_message(self, value, ctx) -> str:
        message = super().get_invalid_choice_message(value, ctx).rstrip(".") + self.others()
        return message + suggestion(str(value).lower(), [*self.choices, *self.also],
                                    cutoff=0.75, otherwise="")  # a typo, not any shared word part


# ---- the shared options ---------------------------------------------------------------------

def data_option_for(table: str, default: str):
    """--data for a command that reads ``table`` (what it holds), ``default`` without it."""
    # a plain path: the reader's own message for a folder says which files it takes, where
    # click.Path(dir_okay=False) said only "File 'x' is a directory"
    return click.option("--data", "data_path", type=click.Path(), metavar="FILE", default=None,
                        help=f"{table}: {readable_formats()}. Default: {default}.")


data_option = data_option_for("Run table", "the data that ships with scalefit")
# the commands that read checkpoints (trajectory, warmup-study, schedule laws): not a run table
CHECKPOINT_TABLE = ("Checkpoint table: long rows keyed on (model, step), as `scalefit eval "
                    "--weights`, `scalefit weights` and `suite sweep` write them",
                    "the shipped mini suite's checkpoints.parquet")
LOSS_CURVES = ("Loss curves: a checkpoint table with model, step, lr and a loss (a column, or "
               "metric/value rows)", "the shipped mini suite's checkpoints.parquet")


def _nearest_existing(path):
    for candidate in (path, *path.parents):
        if candidate.exists():
            return candidate
    from pathlib import Path

    return Path(".")


def check_out_dir(out_dir, option: str = "--out") -> None:
    """The --out option's check when it is read (None: no folder asked for), before a fit or a
    sweep that takes minutes, not as a traceback when the report is written: `output_folder`."""
    if out_dir is not None:
        output_folder(option, out_dir)


def out_dir_callback(ctx, param, value):
    """A click callback for an --out folder option: ``check_out_dir`` when the option is read."""
    check_out_dir(value)
    return value


def option_given(name: str) -> bool:
    """Whether the user gave the current command's option ``name`` (not its default): for
    options that only some modes read."""
    ctx = click.get_current_context()
    return ctx.get_parameter_source(name) != click.core.ParameterSource.DEFAULT


out_option = click.option(  # a plain path: output_folder's message for a file in the way says what it takes
    "--out", "out_dir", type=click.Path(), metavar="DIRECTORY", default=None, callback=out_dir_callback,
    help="Write a report (Markdown), tables (CSV) and plots (PNG and SVG) to this folder.")
json_option = click.option(
    "--json", "as_json", is_flag=True, default=False,
    help="Print the full result as one JSON document on stdout, and nothing else.")
seed_option = click.option("--seed", type=NONNEGATIVE_INT, default=0, show_default=True,
                           help="Seed for bootstrap resampling (a whole number >= 0).")


def delta_option(default: float):
    """--delta: the Huber delta on log residuals (``default``: the fitting layer's HUBER_DELTA, which
    this core module does not import)."""
    return click.option("--delta", type=POSITIVE, default=default, show_default=True,
                        help="Huber delta on log residuals (a finite number > 0).")


def bootstrap_option(default: int, help: str = "Bootstrap resamples for 95% CIs (0: none)."):
    """--bootstrap N: 0 or at least 2."""
    return click.option("--bootstrap", "n_bootstrap", type=BOOTSTRAP, default=default,
                        show_default=True, help=help)


HOLDOUT_DEFAULT = "Default: 0 (none held out)."  # what --holdout's help ends with


def holdout_option(help: str = "Keep the largest-compute runs out of the fit: a fraction (0.2) "
                               "or a count (5); 0: none."):
    """--holdout X: a fraction in (0, 1), a whole count, or 0 for none (nan, inf, <0 refused)."""
    return click.option("--holdout", type=HOLDOUT, default=None, metavar="X",
                        help=f"{help} {HOLDOUT_DEFAULT}")


# ---- column mapping: a published table as it comes -------------------------------------------

COLUMN_FLAGS = ("params", "tokens", "flops")  # each has its own --FLAG COL option


def column_options(func):
    """--params COL, --tokens COL, --flops COL and --columns KEY=COL,...: which of the table's
    columns hold the quantities scalefit reads (e.g. --columns 'params=Model Size')."""
    options = [click.option(f"--{flag}", f"{flag}_column", default=None, metavar="COL",
                            help=f"Column holding {flag} (default: '{flag}').")
               for flag in COLUMN_FLAGS]
    options.append(click.option(
        "--columns", "column_map", multiple=True, metavar="KEY=COL,...",
        help="Map the table's columns to scalefit's names in one go, e.g. "
             "--columns 'params=Model Size,flops=Training FLOP' (keys: params, "
             "params_nonembed, tokens, flops, loss, model, step, ...)."))
    for option in reversed(options):
        func = option(func)
    return func


def column_mapping(column_map=(), **flags) -> dict[str, str]:
    """{scalefit name: the table's column} from --columns KEY=COL,... and --params/--tokens/...

    A flag (``params_column='Model Size'``) wins over the same key in --columns.
    """
    mapping = {}
    for item in split_values(column_map):
        key, sep, column = item.partition("=")
        if not sep or not key.strip() or not column.strip():
            raise InputError(f"--columns: '{item}' is not KEY=COL (e.g. params=Model Size)")
        if mapping.get(key.strip(), column.strip()) != column.strip():
            raise InputError(f"--columns: {key.strip()} is mapped twice, to '{mapping[key.strip()]}' "
                             f"and '{column.strip()}' (map each name once)")
        mapping[key.strip()] = column.strip()
    for name, column in flags.items():
        if column:
            mapping[name.removesuffix("_column")] = column
    return mapping


def apply_column_mapping(df, mapping: dict[str, str], source: str):
    """The table with each mapped column renamed to scalefit's name (a column that already has
    that name is replaced); a mapped column the table lacks is an InputError naming them all."""
    for key, column in mapping.items():
        if column not in df.columns:
            raise InputError(f"{source}: column '{column}' (mapped to {key}) is missing "
                             f"(columns: {', '.join(map(str, df.columns))})")
    renamed = {column: key for key, column in mapping.items() if column != key}
    if not renamed:
        return df
    # a column mapped to two names (budget=C,flops=C) is both; the dict above kept the last one
    copies = {key: renamed[column] for key, column in mapping.items()
              if column != key and renamed[column] != key}
    df = df.drop(columns=[k for k in [*renamed.values(), *copies] if k in df.columns and
                          k not in renamed])
    df = df.rename(columns=renamed)
    for key, kept in copies.items():
        df[key] = df[kept]
    df.attrs["mapped_columns"] = {key: column for key, column in mapping.items() if column != key}
    return df


def file_column(df, name: str) -> str:
    """The table's own name for scalefit's column ``name``: the column --columns or --flops COL
    mapped to it (so a message names 'Training FLOP', which the user's file has, not 'flops')."""
    return df.attrs.get("mapped_columns", {}).get(name, name)


def map_hint(key: str) -> str:
    """How to map a missing column, on the command line and in Python (whose functions take no
    column flags): '--params COL or --columns params=COL; in Python, rename it ...'."""
    flag = f"--{key} COL or " if key in COLUMN_FLAGS else ""
    return f"map one with {flag}--columns {key}=COL; in Python, rename it: .rename(columns={{'COL': '{key}'}})"


def analysis_options(func=None, *, table: tuple[str, str] | None = None):
    """Decorate a command with --data, --out and --json; ``table`` (what --data holds, its
    default) for a command whose --data is not a run table, e.g. CHECKPOINT_TABLE."""
    if func is None:
        return lambda f: analysis_options(f, table=table)
    for option in (json_option, out_option, data_option_for(*table) if table else data_option):
        func = option(func)
    return func


def split_values(values, option: str | None = None, what: str = "name", hint: str = "") -> list[str]:
    """Repeatable options that also take comma-separated lists: ('a,b', 'c') -> ['a', 'b', 'c'].
    With ``option``, a value given that names nothing (',', ' ') is an InputError: it read as the
    option left out (its default), unsaid."""
    out = []
    for value in values or ():
        out += [v.strip() for v in str(value).split(",") if v.strip()]
    if option and values and not out:
        raise InputError(f"{option} {','.join(map(str, values))!r}: names no {what}; give names separated "
                         f"by commas{hint}")
    return out


# ---- machine-facing values: threads, devices, output places ---------------------------------

def thread_count(option: str, value) -> int:
    """A whole number of CPU threads from 1 to 4 x this machine's CPUs (far more threads than
    cores only slows a run down, and a huge count crashes torch's thread pool)."""
    import os

    number = positive_int(option, value)
    most = 4 * (os.cpu_count() or 1)
    if number > most:
        raise InputError(f"{option}: '{value}' is out of range; expected a whole number from 1 to {most} "
                         f"(4 x this machine's {os.cpu_count() or 1} CPUs)")
    return number


THREADS = Checked(thread_count, "integer")


def torch_device(option: str, value: str) -> str:
    """A torch device this machine has: cpu, cuda, cuda:N (N < the GPU count) or mps."""
    import torch

    accepted = "auto, cpu, cuda or cuda:N"
    try:
        device = torch.device(str(value))
    except (RuntimeError, ValueError, TypeError):
        raise InputError(f"{option} {value}: not a device; use {accepted}") from None
    if device.type not in ("cpu", "cuda", "mps"):
        raise InputError(f"{option} {value}: cannot measure on a '{device.type}' device; use {accepted}")
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise InputError(f"{option} {value}: CUDA is not available on this machine")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise InputError(f"{option} {value}: this machine has {torch.cuda.device_count()} GPU(s) "
                             f"(cuda:0 to cuda:{torch.cuda.device_count() - 1})")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise InputError(f"{option} {value}: MPS is not available on this machine")
    return str(value)


def output_folder(option: str, path):
    """Check that the output folder `path` is a folder or can be made one, and written in, leaving
    nothing behind (a command refused for another option must not leave an empty folder);
    InputError naming it when not (a file in the way, a read-only place). Returns the Path."""
    import tempfile
    from pathlib import Path

    folder = Path(path)
    if folder.exists() and not folder.is_dir():
        raise InputError(f"{option} {path}: is a file; expected a folder to write into (an existing "
                         "one, or a new one to create)")
    base = _nearest_existing(folder)
    if not base.is_dir():
        raise InputError(f"{option} {path}: '{base}' is a file, so no folder can be made below it; "
                         "expected a folder to write into")
    created = [p for p in (folder, *folder.parents) if not p.exists()]
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):  # can files be written there?
            pass
    except OSError as exc:
        raise InputError(f"{option} {path}: cannot write in that folder ({exc.strerror or exc}); "
                         "give a folder you can write") from None
    finally:
        for made in created:  # deepest first: the folders this check made, still empty
            try:
                made.rmdir()
            except OSError:
                break
    return folder


def output_file(option: str, path):
    """Make sure the folder of output file `path` exists and `path` is not a folder (InputError
    naming it otherwise), before any work is done."""
    from pathlib import Path

    file = Path(path)
    if file.is_dir():
        raise InputError(f"{option} {path}: is a folder; give a file name")
    try:
        output_folder(option, file.parent)
    except InputError:
        raise InputError(f"{option} {path}: cannot write in its folder {file.parent}; give a file in a "
                         "folder you can write") from None
    return file

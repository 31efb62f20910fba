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

    def get_invalid_choice_message(self, value, ctx) -> str:
        message = super().get_invalid_choice_message(value, ctx).rstrip(".")
        if self.also:
            message += "; or " + ", ".join(f"'{name}' ({what})" for name, what in self.also.items())
        return message + suggestion(str(value).lower(), [*self.choices, *self.also],
                                    cutoff=0.75, otherwise="")  # a typo, not any shared word part


# ---- the shared options ---------------------------------------------------------------------

def data_option_for(table: str, default: str):
    """--data for a command that reads ``table`` (what it holds), ``default`` without it."""
    # a plain path: the reader's own message for a folder says which files it takes, where
    # click.Path(dir_okay=False) said only "File 'x' is a directory"
    return click.option("--data", "data_path", type=click.Path(), metavar="FILE", default=None,
                        help=f"{table} (CSV, Parquet or JSON). Default: {default}.")


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


def bootstrap_option(default: int, help: str = "Bootstrap resamples for 95% CIs (0: none)."):
    """--bootstrap N: 0 or at least 2."""
    return click.option("--bootstrap", "n_bootstrap", type=BOOTSTRAP, default=default,
                        show_default=True, help=help)


def holdout_option(help: str = "Keep the largest-compute runs out of the fit: a fraction (0.2) "
                               "or a count (5); 0: none."):
    """--holdout X: a fraction in (0, 1), a whole count, or 0 for none (nan, inf, <0 refused)."""
    return click.option("--holdout", type=HOLDOUT, default=None, metavar="X", help=help)


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


# ---- one folder, one setting: --out never mixes the results of different options ------------

SETTINGS_FILE = "scalefit_settings.json"  # the command and options whose results a folder holds


def command_settings(ctx, defaults=None, ignore=()) -> dict:
    """{'command': its path under scalefit, 'options': {flag: value}} of a parsed click context: every option that
    shapes the results (not --out, nor --json, which only changes stdout); paths made absolute,
    so '--data runs.csv' and '--data ./runs.csv' are one setting."""
    from pathlib import Path

    options = {}
    for param in ctx.command.params:
        if param.name in ("out_dir", "as_json", *ignore) or param.name not in ctx.params:
            continue
        value = ctx.params[param.name]
        if defaults and param.name in defaults and value in ((), None):  # compare = compare kaplan chinchilla
            value = defaults[param.name]
        if isinstance(value, tuple):
            value = [str(v) if not isinstance(v, (int, float)) else v for v in value]
        elif isinstance(param.type, click.Path) and isinstance(value, str):
            value = str(Path(value).expanduser().resolve())
        elif not isinstance(value, (int, float, bool, type(None))):
            value = str(value)
        options[param.opts[0] if param.opts and param.opts[0].startswith("-") else
                 param.name.upper()] = value
    path = ctx.command_path.split()[1:]  # 'predict downstream', 'fit shifted-power': not the program's name
    return {"command": " ".join(path) or ctx.command.name, "options": options}


def _setting_differences(old: dict, new: dict) -> str:
    if old.get("command") != new["command"]:
        return f"written by `{old.get('command')}`, this is `{new['command']}`"
    before, after = old.get("options", {}), new["options"]
    names = _differing_options(before, after)
    def said(value):  # an option left out reads as what it is, not as Python's None
        return "(default)" if value is None else repr(value)

    shown = "; ".join(f"{k} {said(before.get(k))} there, {said(after.get(k))} here" for k in names[:3])
    return shown + (f"; and {len(names) - 3} more" if len(names) > 3 else "")


def _differing_options(before: dict, after: dict) -> list[str]:
    """The options two records set apart, an option one record lacks read as left out (None): a
    folder written before a command gained an option (compare's --published) is the setting it
    was; it was refused as 'other settings ()'."""
    return [k for k in dict.fromkeys([*before, *after]) if before.get(k) != after.get(k)]


def _same_settings(old: dict, new: dict) -> bool:
    """Whether two settings records name one setting: the same command and options
    (``_differing_options``)."""
    before, after = old.get("options"), new.get("options")
    if set(old) != set(new) or not isinstance(before, dict) or not isinstance(after, dict):
        return old == new
    return all(old[k] == new[k] for k in old if k != "options") and not _differing_options(before, after)


def refuse_other_settings(out_dir, settings: dict, option: str = "--out") -> None:
    """InputError when folder ``out_dir`` already holds files of another command or other
    options (its SETTINGS_FILE differs) or files of unknown settings (no SETTINGS_FILE): a
    report, tables and figures of two settings side by side read as one result. The same
    settings again rewrite the same files, so they are let through, and so is the claim of a
    command that was killed before it wrote anything (``_abandoned``): claim_folder takes it over."""
    import json
    from pathlib import Path

    folder = Path(out_dir)
    if not folder.is_dir():
        return
    others = sorted(p.name for p in folder.iterdir() if p.name != SETTINGS_FILE)
    record = folder / SETTINGS_FILE
    if not others and not record.is_file():
        return
    fix = "give a new or empty folder, or remove what it holds"
    if not record.is_file():
        raise InputError(f"{option} {out_dir}: holds {len(others)} file{'s' * (len(others) > 1)} "
                         f"(e.g. {others[0]}) "
                         f"and no {SETTINGS_FILE} saying which settings wrote them; a folder "
                         f"holds the results of one command and its options: {fix}")
    try:
        old = json.loads(record.read_text())
    except (OSError, ValueError):
        old = {}
    if not isinstance(old, dict):
        old = {}
    recorded = {key: value for key, value in old.items() if key != CLAIM}
    if _same_settings(recorded, json.loads(json.dumps(settings))) or _abandoned(folder, old):
        return
    claim = old.get(CLAIM)
    if isinstance(claim, dict) and _claim_only(folder):  # a command of other settings, not done yet
        where = "" if _claimed_here(claim) else " on another machine, boot or container"
        raise InputError(f"{option} {out_dir}: is claimed by a command of other settings "
                         f"({_setting_differences(recorded, settings)}), running{where} (pid "
                         f"{claim.get('pid')}) or stopped before it wrote anything; a folder holds the "
                         f"results of one command and its options: give a new folder, or remove "
                         f"{SETTINGS_FILE} once that command is gone")
    raise InputError(f"{option} {out_dir}: holds the results of other settings "
                     f"({_setting_differences(recorded, settings)}); a folder holds the results "
                     f"of one command and its options: {fix}")


def one_setting_per_folder(command=None, *, defaults=None, ignore=()):
    """Decorate a click callback (below the click decorators) that writes into ``out_dir``:
    refuse a folder of other settings before any work (``refuse_other_settings``), and record
    the settings (SETTINGS_FILE) once the command has written its results. ``defaults``:
    {parameter: the value an empty one stands for}, so that both spellings are one setting;
    ``ignore``: parameters that do not change the results (--jobs)."""
    import functools

    if command is None:
        return lambda func: one_setting_per_folder(func, defaults=defaults, ignore=ignore)

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        out_dir = kwargs.get("out_dir")
        if not out_dir:
            return command(*args, **kwargs)
        from pathlib import Path

        from scalefit.atomic import write_json

        settings = command_settings(click.get_current_context(), defaults, ignore)
        refuse_other_settings(out_dir, settings)
        claimed = claim_folder(out_dir, settings)
        try:
            return command(*args, **kwargs)
        finally:  # also after Ctrl-C's partial results (exit 130): the re-run that completes them is let in
            folder = Path(out_dir)
            if folder.is_dir() and any(p.name != SETTINGS_FILE for p in folder.iterdir()):
                write_json(folder / SETTINGS_FILE, settings, indent=1)
            elif claimed:  # nothing written (refused input, an early stop): the folder is not this run's
                release_folder(*claimed)
    return wrapper


def claim_folder(out_dir, settings: dict, option: str = "--out"):
    """Record ``settings`` in ``out_dir`` before the work where no record is there yet, in one
    exclusive step (atomic.create_text): two commands started together into one new folder both
    passed refuse_other_settings and mixed their files; the second now finds the first's record
    and is refused if its settings differ. The record also names this command's process (CLAIM)
    until the command writes it again at the end, so that the claim of one killed before it wrote
    anything is taken over (``_take_over``) rather than refusing every later command. Returns
    (record, whether the folder was made here) for release_folder, or None where a record was
    there already."""
    import json
    import os
    from pathlib import Path

    from scalefit.atomic import HOST, create_text, process_space, process_start

    folder = Path(out_dir)
    made = not folder.exists()
    folder.mkdir(parents=True, exist_ok=True)
    record = folder / SETTINGS_FILE
    claim = {CLAIM: {"host": HOST, **process_space(), "pid": os.getpid(), "started": process_start(os.getpid())}}
    while True:  # again only after a killed command's claim was taken over
        if record.exists() and not _take_over(record, option):
            refuse_other_settings(out_dir, settings, option)  # one made since the caller's check
            return None
        try:
            created = create_text(record, json.dumps({**settings, **claim}, indent=1, default=str))
        except OSError:  # a file system without hard links: recorded at the end only, as before
            return None
        if created:
            return record, made


# a record's key while its command runs: {'host': atomic.HOST, 'boot', 'pid_namespace' (atomic.process_space,
# since 2026-12-07), 'pid', 'started'}
CLAIM = "claim"


def _abandoned(folder, recorded: dict) -> bool:
    """Whether the record ``recorded`` of ``folder`` is the claim of a command killed before it
    wrote anything, in a folder that holds nothing else but temporaries (``_claim_only``): a claim
    made here (``_claimed_here``) whose process is gone (or whose pid now names a process started
    at another time); or one made on another machine, boot or pid namespace, whose pid cannot be
    checked here, once untouched for atomic.OTHER_HOST_STALE_S (a day, as another machine's
    temporaries: a reboot or a node lost mid-command had left such a folder refused for good).
    A record without a claim (one of a finished command, or of scalefit before 2026-12-07) is
    never abandoned."""
    from scalefit.atomic import OTHER_HOST_STALE_S, process_gone, untouched

    claim = recorded.get(CLAIM)
    if not isinstance(claim, dict) or not _claim_only(folder):
        return False
    if not _claimed_here(claim):
        return untouched(folder / SETTINGS_FILE, OTHER_HOST_STALE_S)
    pid, started = claim.get("pid"), claim.get("started")
    return type(pid) is int and type(started) in (int, type(None)) and process_gone(pid, started)


def _claimed_here(claim: dict) -> bool:
    """Whether a claim was made on this machine, boot and pid namespace, where its pid can be
    checked (two containers of one hostname on a shared disk each have a pid 1234). A claim is
    judged on the facts it records (one that predates the boot and namespace, on its host alone)."""
    from scalefit.atomic import HOST, process_space

    return claim.get("host") == HOST and not any(key in claim and claim[key] != value
                                                 for key, value in process_space().items())


def _claim_only(folder) -> bool:
    """Whether ``folder`` holds nothing but its settings record and temporaries."""
    from scalefit.atomic import TEMPORARY

    return all(p.name == SETTINGS_FILE or TEMPORARY.search(p.name) for p in folder.iterdir())


def _take_over(record, option: str) -> bool:
    """Remove ``record`` where it is an abandoned claim (``_abandoned``), saying so in one line on
    stderr: True where it is gone, so that the caller's exclusive create decides who claims the
    folder next. The record is renamed away and checked to be the very file judged (another
    command may have taken it over and claimed the folder meanwhile: that claim is put back)."""
    import json
    import os

    from scalefit.atomic import _done, temporary_name

    try:
        with open(record) as file:
            judged, recorded = os.fstat(file.fileno()), json.loads(file.read())
    except FileNotFoundError:
        return True
    except (OSError, ValueError):
        return False
    if not isinstance(recorded, dict) or not _abandoned(record.parent, recorded):
        return False
    aside = temporary_name(record)
    try:
        os.rename(record, aside)
        moved = os.stat(aside)
        if (moved.st_dev, moved.st_ino) != (judged.st_dev, judged.st_ino):  # another's new claim
            try:
                os.link(aside, record)
            except FileExistsError:
                pass
            return False
    except FileNotFoundError:  # taken over by another command meanwhile
        return True
    finally:
        aside.unlink(missing_ok=True)
        _done(aside)
    claim = recorded[CLAIM]
    why = (f"whose process ({claim.get('pid')}) ended" if _claimed_here(claim) else
           f"whose claim, made on another machine, boot or container (pid {claim.get('pid')}), went a day")
    click.echo(f"note: {option} {record.parent}: taking it over from `{recorded.get('command')}`, "
               f"{why} before it wrote anything there", err=True)
    return True


def release_folder(record, made: bool) -> None:
    """Undo claim_folder where the command wrote nothing: its record goes, and the folder too if
    this command made it (a refused input leaves no --out behind)."""
    record.unlink(missing_ok=True)
    if made:
        try:
            record.parent.rmdir()
        except OSError:  # not empty: another command's files meanwhile
            pass

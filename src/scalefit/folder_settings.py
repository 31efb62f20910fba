"""One folder, one setting: a command's --out never mixes the results of different options. Its
SETTINGS_FILE records the command and options that wrote it (claimed before the work), and a command
of other settings is refused there."""
from __future__ import annotations

import click

from scalefit.errors import InputError


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

    from scalefit.report import as_read_back

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
    if _same_settings(recorded, as_read_back(settings)) or _abandoned(folder, old):
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
    import os
    from pathlib import Path

    from scalefit.atomic import HOST, create_text, process_space, process_start
    from scalefit.report import dumps

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
            created = create_text(record, dumps({**settings, **claim}, indent=1, default=str))
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

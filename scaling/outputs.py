"""Where a figure goes (--plot FILE), checked before any work is done.

A fit can take minutes; a figure path that cannot be written (a folder that does not exist, a
format matplotlib has no writer for) is an ``InputError`` at the start, one line naming the
option, not a traceback after the computation. --out FOLDER is checked the same way by the
shared option itself (``scalefit.options.check_out_dir``), for every analysis command.
"""
from __future__ import annotations

import functools
import math
import os
from pathlib import Path

from scalefit.atomic import staged_output
from scalefit.errors import InputError
from scalefit.scaling.fitresult import BOOTSTRAP_STDERR_RULE

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

    from scalefit.folder_settings import command_settings

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


# What each column of a report folder's CSV files holds, in the field's words and units ('{loss}'
# is the fitted loss's unit); a law's columns carry its name first (kaplan_N_opt), an interval's
# ends _ci95_lo/_ci95_hi (the bootstrap's percentiles), _pi95_lo/_pi95_hi (an observed value's) or _lo/_hi.
COLUMNS = {
    "law": "the law fitted", "param": "parameter (a, b: the allocation exponents, N* ~ C^a, D* ~ C^b)",
    "value": "the estimate, every digit (report.md rounds it to what its interval supports)",
    "stderr": (f"standard error: when a bootstrap ran, {BOOTSTRAP_STDERR_RULE} of its estimates (their "
               "standard deviation where they are normal), else the fit's curvature"),
    "stderr_fit": "the fit's own (curvature) standard error, for diagnosis",
    "ci95_lo": "95% interval, low end", "ci95_hi": "95% interval, high end",
    "identified": "whether the runs pin the parameter down (its interval's width against its value)",
    "n_points": "points fitted", "objective": "the fit's Huber objective on log residuals",
    "rmse_log": "root mean square of log(observed) - log(predicted)",
    "aic": "Akaike information criterion", "bic": "Bayesian information criterion",
    "a": "allocation exponent of N* ~ C^a", "b": "allocation exponent of D* ~ C^b",
    "holdout_mean_abs_rel_error": "mean |predicted / observed - 1| on the held-out runs (a fraction)",
    "converged": "whether the fit converged", "starts_at_best": "starts reaching the best optimum, of all",
    "flops": "training compute C (FLOPs)", "times_largest_run": "compute / the largest fitted run's",
    "kind": "projection (no run checks it), prediction (a held-out run within 2x checks it), "
            "interpolation (compute, N* and D* within the fitted runs'), extrapolation (compute within "
            "theirs, N* or D* outside their sizes or token counts), below the data, or prediction "
            "(optimum beyond the runs) (a held-out run within 2x of the compute, N* or D* outside "
            "every run's sizes or token counts: the optimum is a projection)",
    "outside_runs": "for a prediction (optimum beyond the runs): which of N*, D* lies outside every "
                    "run's range (fitted and held out), how far, and (compare) for which law",
    "outside_fitted": "for an extrapolation: which of N*, D* lies outside the fitted runs' range, how far, "
                      "and (compare) for which law",
    "held_out_runs_near": "held-out runs within 2x of this compute",
    "N_opt": "compute-optimal N* (parameters)", "D_opt": "compute-optimal D* (tokens)",
    "tokens_per_param": "D*/N* (tokens per parameter)", "loss": "loss at the optimum ({loss})",
    "loss_pi95": "95% prediction interval of an observed run's loss ({loss}), low and high end",
    "loss_pi95_note": "why loss_pi95 is empty: beyond 1000x the largest fitted run's compute the runs' "
                      "scatter is not carried, only the curve's interval (loss_ci95) is given",
    "observed": "the run's loss ({loss})", "predicted": "the prediction (the observed value's units)",
    "pi95_lo": "95% prediction interval of an observed value, low end",
    "pi95_hi": "95% prediction interval of an observed value, high end",
    "inside_pi95": "whether the observed value lies inside its 95% prediction interval (empty where none "
                   "is stated, e.g. for a run beyond 1000x the largest fitted run's compute)",
    "relative_error": "predicted / observed - 1 (a fraction)",
    "n_runs": "runs at this compute budget",
    "loss_opt": "the loss at this budget's minimum ({loss})",
    "excluded": "why this budget is left out of the fitted line (empty: it is in)",
    "model": "the run's model", "step": "checkpoint step", "params": "total parameters",
    "tokens": "training tokens", "x": "the predictor, {x}", "y": "the predicted value, {y}",
    "baseline_predicted": "a Kaplan L(N, D) + E law fitted to y alone, its prediction",
    "baseline_relative_error": "the baseline's predicted / observed - 1 (a fraction)",
}
LOSS_UNITS = (("loss", "nats/token"), ("bpb", "bits/byte"))  # DESIGN.md's metric names and units


def column_unit(column: str | None) -> str | None:
    """The unit of a loss column by the project's naming: a cross entropy named loss, loss_* or
    *_loss (val_loss) is in nats/token, bpb (bpb_*, *_bpb) in bits/byte; None for a name that
    does not tell (gold_ce, ppl, a user's own), which is left unitless rather than guessed."""
    name = str(column or "")
    return next((unit for stem, unit in LOSS_UNITS
                 if name == stem or name.startswith(f"{stem}_") or name.endswith(f"_{stem}")), None)


def error_percent(fraction: float) -> str:
    """A relative error (a fraction) as a percentage: two decimals from 1% up (3.17%), two
    significant digits below it (0.0036%, where two decimals printed 0.00% beside a nonzero
    error); the caller prints a missing value its own way."""
    value = 100 * float(fraction)
    if value == 0 or abs(value) >= 1:
        return f"{value:.2f}%"
    return f"{value:#.2g}%"


def no_number(value) -> bool:
    """Whether ``value`` is no number to print (None, nan, inf): its cell reads '-'."""
    return value is None or not math.isfinite(value)


def percent(value, spec: str | None = None) -> str:
    """A fraction printed as the percentage it is: by default as a relative error
    (error_percent: '0.27%', and 0.0036%, not 0.00%); a spec ending in '%' formats the fraction
    ('.0%'); another gives the percentage's digits ('.3g', 0.0036% for 3.6e-05); '-' where there
    is no number."""
    if no_number(value):
        return "-"
    if spec is None:
        return error_percent(value)
    return format(float(value), spec) if spec.endswith("%") else f"{100 * float(value):{spec}}%"


SHARE_SPEC, ERROR_SPEC = ".0%", ".3g"  # a share of points ('95%'); an error or width ('1.34%')


def percent_columns(frame, shares=(), errors=()):
    """A copy of ``frame`` with its fraction columns printed as percentages, as the terminal and
    report.md print calibrate's tables (their CSV and --json keep the fractions): ``shares`` (a
    coverage) whole, '95%'; ``errors`` (a relative error, an interval's half-width) to 3
    significant digits, '1.34%', '0.00362%'; '-' where there is no number."""
    shown = frame.copy()
    for columns, spec in ((shares, SHARE_SPEC), (errors, ERROR_SPEC)):
        for column in columns:
            shown[column] = [percent(v, spec) for v in shown[column]]
    return shown


ENDS = ("_ci95_lo", "_ci95_hi")  # a column's 95% interval (the bootstrap's percentiles)
PI_ENDS = ("_pi95_lo", "_pi95_hi")  # X_pi95's ends: described once, by COLUMNS["X_pi95"]


def column_meaning(column: str, meanings=None, **units) -> str | None:
    """What ``column`` holds (``meanings``, a command's own words, else COLUMNS), its units
    filled in from ``units`` (loss=..., x=..., y=...); None for a column not described."""
    said = {**COLUMNS, **(meanings or {})}.get(column)
    if said is None:
        return None
    return " ".join(said.format(**{"loss": "nats/token", "x": "", "y": "", **units}).split())


def files_section(files: dict, laws=(), meanings=None, source: str = "bootstrap",
                  interval_words: str | None = None, **units) -> list[str]:
    """report.md's '## Files': each CSV (``files``: name -> its columns) and what its columns hold
    and in which units, a law's columns (LAW_N_opt) and an interval's ends (_ci95_lo, _ci95_hi;
    _pi95_lo, _pi95_hi) said once each; a reader of the CSV alone had only the column names.
    ``source``: what drew the 95% intervals (laws.report.spread_source: IsoFLOP's are parametric);
    ``interval_words``: what the intervals are, in full, where ``source`` alone would not say it
    ('calibrated 95% interval: the central 99.5% of ...', transitions' breakpoint intervals)."""
    lines = ["## Files", ""]
    for name, columns in files.items():
        groups: dict[str, list[str]] = {}  # the column a group describes -> its columns
        for column in columns:
            base = next((column[len(law) + 1:] for law in laws if column.startswith(f"{law}_")),
                        column)
            law = base != column
            base = next((base[:-len(end)] for end in ENDS if base.endswith(end)),
                        base[:-3] if base.endswith(PI_ENDS) else base)
            shown = f"LAW_{column.split('_', 1)[1]}" if law else column
            key = f"LAW_{base}" if law else base
            if shown not in groups.setdefault(key, []):
                groups[key].append(shown)
        per_law = f" (LAW: {', '.join(laws)})" if any(k.startswith("LAW_") for k in groups) else ""
        lines.append(f"- {name}{per_law}:")
        for key, shown in groups.items():
            base = key.removeprefix("LAW_")
            said = column_meaning(base, meanings, **units) or "as in the input table"
            if any(c.endswith(ENDS) for c in shown) and len(shown) > 1:
                said += (f", with its {interval_words}" if interval_words else
                         ", with its 95% interval (the bootstrap's)" if source == "bootstrap" else
                         f", with its 95% interval (the {source} draws')")
            lines.append(f"  - {', '.join(f'`{c}`' for c in shown)}: {said}")
    return lines


def staged(writer):
    """A report writer ``writer(out_dir, ...)`` made to write into a staging folder whose files
    move into ``out_dir`` together (atomic.staged_output): a stop while they are written (seconds
    of plotting) left this run's tables beside an earlier run's report.md and plots."""
    @functools.wraps(writer)
    def write(out_dir, *args, **kwargs):
        with staged_output(out_dir) as staging:
            return writer(staging, *args, **kwargs)
    return write


def interrupted_lines(stopped: str | None) -> list[str]:
    """A report's lines for an interrupted run's ``stopped`` line: it as one bold sentence and a
    blank line, so a partial report says so at its top; none for a complete run."""
    return [f"**{stopped[0].upper()}{stopped[1:]}.**", ""] if stopped else []


def write_report_folder(out_dir, write, stopped: str | None = None) -> str:
    """Write a command's report folder: ``write(staging)`` through atomic.staged_output, so the
    files appear in ``out_dir`` together or not at all (a stop while they are written left new
    tables beside an earlier report.md). After an interrupted analysis (``stopped``: the line that
    says so) a folder that already holds a report (report.md) is left as it was: a partial report
    never replaces one. Returns the end of the interrupted line ('; written to OUT', or that the
    earlier report was kept); '' without ``out_dir``."""
    if not out_dir:
        return ""
    if stopped and (Path(out_dir) / "report.md").exists():
        return f"; {out_dir} holds the report of an earlier run, left as it was"
    staged(write)(out_dir)
    return f"; written to {out_dir}"

"""The options every analysis command shares: --data, --out, --json (one definition each)."""
from __future__ import annotations

import click

data_option = click.option(
    "--data", "data_path", type=click.Path(dir_okay=False), default=None,
    help="Run table (CSV, Parquet or JSON). Default: the data that ships with scalefit.")
out_option = click.option(
    "--out", "out_dir", type=click.Path(file_okay=False), default=None,
    help="Write a report (Markdown), tables (CSV) and plots (PNG and SVG) to this folder.")
json_option = click.option(
    "--json", "as_json", is_flag=True, default=False,
    help="Print the full result as one JSON document on stdout, and nothing else.")
seed_option = click.option("--seed", type=int, default=0, show_default=True,
                           help="Seed for bootstrap resampling.")


def analysis_options(func):
    """Decorate a command with --data, --out and --json."""
    for option in (json_option, out_option, data_option):
        func = option(func)
    return func


def split_values(values) -> list[str]:
    """Repeatable options that also take comma-separated lists: ('a,b', 'c') -> ['a', 'b', 'c']."""
    out = []
    for value in values or ():
        out += [v.strip() for v in str(value).split(",") if v.strip()]
    return out

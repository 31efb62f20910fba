"""`scalefit weights plot`: figures from a weights table (statistics against step, a histogram
with the fitted families). Reads tables and checkpoint files only; the `scalefit weights` sweep
that measures checkpoints is a command of the sweep engine (`scalefit.sweep.cli`), which attaches
this one as its `plot` subcommand.
"""
from __future__ import annotations

import click

from scalefit.errors import InputError
from scalefit.folder_settings import one_setting_per_folder
from scalefit.options import json_option, option_given, out_dir_callback, split_values
from scalefit.weightstats.group_names import GROUPS

DEFAULT_STATS = ("t_nu", "excess_kurtosis", "alpha")


@click.command("plot")
@click.option("--data", "data_path", default=None, type=click.Path(),  # read_table names a folder
              help="A weights table (Parquet/CSV) from `scalefit weights` or `scalefit eval "
              "--weights` (default: the shipped mini suite's checkpoints, every run).")
@click.option("--stat", "stats", multiple=True, help="Statistics to plot against step (default: t_nu; t_xi = 1/t_nu, the "
              "Student-t tail index, 0 = Gaussian, is derived from t_nu).")
@click.option("--group", "groups", multiple=True, help="Only these groups, e.g. mlp_in,attn_qkv (the groups: "
              f"{', '.join(GROUPS)}).")
@click.option("--tensor", help="One tensor by name instead of the groups.")
@click.option("--checkpoint", type=click.Path(), help="A checkpoint folder: also plot the histogram of "
              "--hist (a group or tensor) with the fitted densities.")
@click.option("--hist", "hist_of", default=None, help="Group or tensor for the histogram (default: mlp_in; in a "
              "model whose MLPs are all mixtures of experts, expert_in, every expert pooled); the groups: "
              f"{', '.join(GROUPS)}.")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False), help="Folder for PNG and SVG.",
              callback=out_dir_callback)  # checked when read, not when the first figure is saved
@json_option
@one_setting_per_folder(ignore=("stats",))  # one figure per statistic (t_nu_vs_step.png, ...): a re-run
# with other --stat adds its figures to the folder; one of other --data, --group, ... is refused (exit 2),
# not drawn over the first one's figures
def plot_command(data_path, stats, groups, tensor, checkpoint, hist_of, out_dir, as_json):
    """Plot statistics against step (log x) and, with --checkpoint, a histogram with fitted families."""
    from scalefit.report import dumps
    from scalefit.schema import checked_steps, refuse_categorical
    from scalefit.data import MINI_CHECKPOINTS
    from scalefit.data import data_path as data_path_of
    from scalefit.tables import read_table_or_shipped
    from scalefit.weightstats.report import histogram_plot, stat_plot

    if checkpoint is None and option_given("hist_of"):
        raise InputError("--hist: only with --checkpoint (the histogram is of that checkpoint's weights)")
    table, data_path = read_table_or_shipped(data_path, data_path_of(*MINI_CHECKPOINTS),
                                             "the shipped suite table is missing; pass --data TABLE "
                                             "(a table from `scalefit weights`)",
                                             "a weights table from `scalefit weights`: (model, "
                                             "step, tensor, group, layer, stat, value) rows")
    table = checked_steps(table, data_path)
    groups = split_values(groups, "--group", "group", " (e.g. mlp_in,attn_qkv) or leave it out") or None
    wanted = split_values(stats, "--stat", "statistic", " (e.g. t_nu,alpha) or leave it out") or ["t_nu"]
    for stat in wanted:  # a categorical --stat is refused before any figure is drawn
        refuse_categorical(table, stat, "--stat")
    # the checkpoint first: a missing shard or unknown --hist is said before any figure is drawn
    histogram = histogram_plot(checkpoint, hist_of, out_dir) if checkpoint else []
    files = []
    for stat in wanted:
        files += stat_plot(table, stat, out_dir, groups=groups, tensor=tensor, source=data_path)
    files += histogram
    files = [str(f) for f in files]
    if as_json:
        click.echo(dumps({"files": files}))
    else:
        click.echo("wrote " + ", ".join(files), err=True)


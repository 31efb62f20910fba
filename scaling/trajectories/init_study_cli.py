"""`scalefit init-study`: the init study's report (loss curves, steps to thresholds, final loss,
differences to pythia with their tests, weight-law trajectories, and the verdict in sentences)."""
from __future__ import annotations


import click
import numpy as np

from scalefit.data import INIT_STUDY_CHECKPOINTS
from scalefit.data import data_path as shipped_path
from scalefit.folder_settings import one_setting_per_folder
from scalefit.options import analysis_options
from scalefit.report import dumps, log_axis_with_zero, markdown_table, save_figure, write_text
from scalefit.scaling.flags import command_words
from scalefit.scaling.trajectories.init_contrasts import CONTROL, REACH_RULE, SHAPE_CONTROL
from scalefit.scaling.trajectories.init_study_text import FAR_WORDS
from scalefit.atomic import staged_output
from scalefit.tables import read_table_or_shipped, write_table

# The experiment's table once it ships (the [[init]] part of data/suites/init_study.toml, swept).
DEFAULT_TABLE = INIT_STUDY_CHECKPOINTS
# how the text and report.md's intervals and tests are made (the text said "95% interval" only)
INTERVAL_WORDS = ("(Welch t over seeds; a single run against the control's seeds as one new draw); "
                  "[a, b] = 95% interval")
# what init-study's --data holds: not a run table (the help said "Run table")
INIT_TABLE = ("Checkpoint table of init runs: long rows keyed on (model, step), as `suite sweep` "
              "writes them", f"the shipped init study's data/{'/'.join(DEFAULT_TABLE)}")


def plot_init_study(study):
    """Loss against step per condition, from step 0 (the init's own loss): the mean over seeds,
    the band from the lowest to the highest seed; colour = init, dashed = no warmup, one panel per
    size; the thresholds dotted and labelled with their loss."""
    import matplotlib.pyplot as plt

    curves = study.curves
    sizes = list(dict.fromkeys(curves["size"]))
    inits = list(dict.fromkeys([CONTROL, *sorted(set(curves["init"]) - {CONTROL})]))
    colors = dict(zip(inits, plt.cm.tab10(np.arange(len(inits)) % 10)))
    fig, axes = plt.subplots(1, len(sizes), figsize=(6.5 * len(sizes), 4.6), squeeze=False)
    for ax, size in zip(axes[0], sizes):
        for (init, warmup), c in curves[curves["size"] == size].groupby(["init", "warmup"]):
            c = c.sort_values("step")
            style = "-" if warmup == "warmup" else "--"
            ax.plot(c["step"], c["mean"], style, color=colors[init], lw=1.3,
                    label=f"{init}{'' if warmup == 'warmup' else ', no warmup'}")
            ax.fill_between(c["step"], c["lo"], c["hi"], color=colors[init], alpha=0.15, lw=0)
        for _, t in study.thresholds[study.thresholds["size"] == size].iterrows():
            ax.axhline(t["loss"], color="0.6", lw=0.7, ls=":")
            share = f" ({t['drop_fraction']:.0%} of pythia's drop)" if np.isfinite(t["drop_fraction"]) else ""
            ax.text(0.01, t["loss"], f"{t['loss']:.2f}{share}", transform=ax.get_yaxis_transform(),
                    fontsize=6.5, color="0.4", va="bottom")
        log_axis_with_zero(ax, "x")  # step 0: where each init starts
        ax.set_xlim(0, curves["step"].max() * 1.1)  # no margin into negative steps
        ax.set_yscale("log")  # a start at 27 nats left the thresholds (4.7-6.5) a sliver
        ax.set_xlabel("step (0, then log scale)")
        ax.set_ylabel(f"loss ({study.dataset}), nats/token, log scale")
        ax.set_title(f"{size}: mean over seeds, band = seed range; dotted: thresholds", fontsize=10)
        ax.legend(fontsize=7, loc="upper right")
    fig.tight_layout()
    return fig


def _md(sentences) -> list[str]:
    return [f"#{s}" if s.startswith("#") else f"- {s}" for s in sentences]


def _report(study, source: str) -> str:
    head = study.head  # what the inits are: the head, before the verdicts
    rest = study.sentences[len(head):]
    lines = ["# Init study: start from the learned weight law, and train", "",
             f"Data: {source}; loss on {study.dataset} in nats/token. Early = steps to the first threshold, "
             "late = final loss; each condition against pythia with the same size and warmup "
             f"{INTERVAL_WORDS}. {REACH_RULE}", "", *_md(head), "",
             "![loss curves](loss_curves.png)", "", "## What the data support", ""]
    lines += _md(rest)
    lines += ["", "## Thresholds", "", markdown_table(study.thresholds), "",
              "## Per condition (95% t intervals over seeds)", "", markdown_table(study.summary), "",
              "## Against pythia", "", markdown_table(study.contrasts), ""]
    if len(study.shape_contrasts):
        lines += [f"## The shape: against {SHAPE_CONTROL} (the same scale, Gaussian)", "",
                  markdown_table(study.shape_contrasts), ""]
    if len(study.warmup_effect):
        lines += ["## The warmup hypothesis", "", markdown_table(study.warmup_effect), ""]
    if len(study.shapes):
        lines += [f"## Weight laws ({study.stat}, mean over seeds)", "", markdown_table(study.shapes), ""]
    if len(study.tails):
        lines += [f"## Start against the source's law ({study.stat} at the first checkpoint; far: the ratio "
                  f"(S - G) / (R - G) {FAR_WORDS})", "", markdown_table(study.tails), ""]
    return "\n".join(lines)


@click.command("init-study")
@click.option("--dataset", default=None,
              help="Whose loss (default: the training distribution's evaluation set, is_train rows).")
@click.option("--thresholds", multiple=True, metavar="LOSS[,LOSS...]",
              help="Loss thresholds, any number and order, each below the runs' starting loss "
                   "(default: three, at 50%, 80% and 95% of pythia's drop from step 0).")
@click.option("--stat", default="excess_kurtosis", show_default=True,
              help="Weight statistic whose trajectory says where each init's law goes (t_nu, "
                   "gennorm_beta, ...).")
@analysis_options(table=INIT_TABLE)
@one_setting_per_folder
@command_words
def init_study_command(dataset, thresholds, stat, data_path, out_dir, as_json):
    """Does a model started from a learned weight law train slower, the same, or faster?

    \b
    Reads a checkpoint table of init runs (columns init, init_seed, warmup_steps, or models named
    SIZE-init-MODE[-nowarmup]-sSEED) and reports per condition: loss curves, steps to three loss
    thresholds and the final loss with intervals over seeds, the difference to pythia with its
    test, the weight-law trajectories, and which predicted outcome the data support, early and
    late, with and without warmup.
    Example:
      scalefit init-study --data runs/init-tables/checkpoints.parquet --out report/
    """
    from scalefit.scaling.trajectories.init_study import init_study, records_beside

    table, path = read_table_or_shipped(
        data_path, shipped_path(*DEFAULT_TABLE),
        "the init study has not shipped yet; pass --data TABLE (the checkpoints table of the "
        "[[init]] part of data/suites/init_study.toml)")
    runs, provenance = records_beside(path)  # runs.csv, provenance.json: what the inits are
    study = init_study(table, dataset=dataset, thresholds=thresholds, stat=stat,
                       source=str(path), runs=runs, provenance=provenance)
    shown = str(path) if data_path else f"the shipped table data/{'/'.join(DEFAULT_TABLE)}"  # no local path
    if out_dir:
        with staged_output(out_dir) as out:  # the folder never holds half of two runs
            for name in ("thresholds", "curves", "runs", "summary", "contrasts", "shape_contrasts", "shapes",
                         "tails", "warmup_effect"):
                write_table(getattr(study, name), out / f"{name}.csv")
            save_figure(plot_init_study(study), out, "loss_curves")
            write_text(out, "report.md", _report(study, shown))
    if as_json:
        click.echo(dumps({"data": str(path), **study.to_dict()}))
        return
    click.echo(study_header(study, shown))
    for line in study.sentences:
        click.echo(line)


def study_header(study, source: str) -> str:
    """The text report's first line: what was read and what its numbers are (the loss's dataset and
    unit, early and late), which the sentences below take as said."""
    return (f"Init study of {len(study.runs)} runs ({source}): loss on {study.dataset} in nats/token; "
            "early = steps to the first threshold, late = the final loss; each condition against "
            f"pythia of its size and warmup {INTERVAL_WORDS}.")

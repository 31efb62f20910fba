"""A sweep's report: the wide per-checkpoint view (train loss beside test losses), plots, Markdown.

The long table stays the record; this module only presents it. The wide view has one row per
(model, step) with `train_loss` (the dataset marked as the training distribution) and one
`{dataset}/{metric}` or `{task}/{metric}` column per measurement.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from scalefit.report import markdown_table, save_figure, write_text

FACTS = ["model", "step", "tokens", "lr"]


def wide_evals(evals: pd.DataFrame) -> pd.DataFrame:
    """One row per checkpoint: facts, `train_loss`, then one column per dataset|task and metric."""
    if evals is None or evals.empty:
        return pd.DataFrame(columns=FACTS)
    facts = [c for c in FACTS if c in evals]
    name = evals["dataset"].fillna(evals["task"]) if "task" in evals else evals["dataset"]
    keyed = evals.assign(_column=name.astype(str) + "/" + evals["metric"].astype(str))
    wide = keyed.pivot_table(index=["model", "step"], columns="_column", values="value", aggfunc="first")
    wide.columns.name = None
    out = evals[facts].drop_duplicates(["model", "step"]).merge(wide.reset_index(), on=["model", "step"])
    if "is_train" in evals:
        train = evals[(evals["is_train"] == True) & (evals["metric"] == "loss")]  # noqa: E712
        if not train.empty:
            out = out.merge(train[["model", "step", "value"]].rename(columns={"value": "train_loss"}),
                            on=["model", "step"], how="left")
            cols = facts + ["train_loss"] + [c for c in out.columns if c not in facts + ["train_loss"]]
            out = out[cols]
    return out.sort_values(["model", "step"]).reset_index(drop=True)


def plot_losses(evals: pd.DataFrame, out_dir) -> list[Path]:
    """Loss against training tokens, one panel per dataset, one line per model (PNG and SVG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = evals[(evals["metric"] == "loss") & evals["dataset"].notna()] if not evals.empty else evals
    if rows.empty:
        return []
    datasets = sorted(rows["dataset"].unique())
    fig, axes = plt.subplots(1, len(datasets), figsize=(4.5 * len(datasets), 3.6), squeeze=False)
    for ax, name in zip(axes[0], datasets):
        for model, part in rows[rows["dataset"] == name].groupby("model"):
            part = part.sort_values("tokens")
            x = part["tokens"].where(part["tokens"] > 0)
            ax.plot(x, part["value"], marker="o", ms=3, label=model)
        ax.set_xscale("log")
        ax.set_xlabel("training tokens")
        ax.set_ylabel("loss (nats/token)")
        train = rows.loc[rows["dataset"] == name, "is_train"].any() if "is_train" in rows else False
        ax.set_title(f"{name}{' (train)' if train else ''}")
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=7)
    return save_figure(fig, out_dir, "loss_vs_tokens")


def write_report(out_dir, evals: pd.DataFrame, failures: pd.DataFrame, meta: dict,
                 extra_tables: dict | None = None) -> Path:
    """README-style report.md: what was run, the wide table, failures, where the files are."""
    out_dir = Path(out_dir)
    wide = wide_evals(evals)
    plots = plot_losses(evals, out_dir) if evals is not None and not evals.empty else []
    lines = [f"# scalefit eval: {meta.get('suite', '')}", "",
             f"- device `{meta.get('device')}`, dtype `{meta.get('dtype')}`, seed {meta.get('seed')}",
             f"- checkpoints measured {meta.get('measured', 0)}, already done {meta.get('skipped', 0)}, "
             f"failed {meta.get('failed', 0)}", ""]
    if plots:
        lines += ["![loss against training tokens](loss_vs_tokens.png)", ""]
    lines += ["## Per checkpoint", "", "Loss in nats/token, bpb in bits per UTF-8 byte; "
              "`train_loss` is the dataset marked as the training distribution.", ""]
    lines += [markdown_table(wide) if not wide.empty else "(no rows)", ""]
    if failures is not None and not failures.empty:
        lines += ["## Failed checkpoints", "", markdown_table(failures), ""]
    tables = ["evals"] + sorted(extra_tables or [])
    lines += ["## Files", "", *[f"- `{t}.parquet`, `{t}.csv`: long table" for t in tables],
              "- `evals_wide.csv`: the table above", "- `run.json`: versions, device, dtype, options",
              "- `parts/`: one file per (checkpoint, measurement); a re-run skips what is there", ""]
    return write_text(out_dir, "report.md", "\n".join(lines))


def finish_sweep(summary, failures: pd.DataFrame, n_rows: int, table_path: str, out_dir) -> None:
    """The closing lines of a sweep on stderr; exit status 1 when any checkpoint failed."""
    import sys

    import click

    click.echo(f"{len(summary.measured)} checkpoints measured, {len(summary.skipped)} already done, "
               f"{len(summary.failed)} failed; {n_rows} rows in {table_path} "
               f"(report: {out_dir}/report.md)", err=True)
    for row in failures.itertuples(index=False):
        click.echo(f"failed: {row.model} step {row.step} ({row.location}): {row.error}", err=True)
    if len(failures):
        sys.exit(1)

"""A sweep's report: the wide per-checkpoint view, the loss plot, Markdown, and the closing lines.

The long table stays the record; this module only presents it. The wide view
(`scalefit.schema.wide_evals(evals, facts=True)`) has one row per (model, step) with
`train_loss` (the dataset marked as the training distribution) and one `{dataset}/{metric}` or
`{task}/{metric}` column per measurement. `evals_wide.csv` is that view with the settings it was
measured at as constant columns (`measured_wide`), so a copy of the CSV alone still says how. The
exit status is the CLI's to set: `finish_sweep` returns it.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from scalefit.atomic import write_frame
from scalefit.integrity import DUPLICATE_COLUMN
from scalefit.report import distinct_line_style, markdown_table, save_figure, write_text
from scalefit.schema import wide_evals

EXIT_FAILED = 1        # some checkpoint's latest attempt failed
# How `scalefit eval` scores a dataset's loss and bpb: said once, in `scalefit eval --help` and in
# the header of every report.md whose run scored a dataset
SCORING_CONVENTIONS = (
    "Scoring: windows tile the dataset's token stream across documents, so a document's first tokens may "
    "be scored with the end of the previous document as context. Each document after the first opens with "
    "the end-of-text token; that token is scored as a target and counts 0 bytes in bpb, so the bpb of the "
    "same text differs between a .txt file (one document) and a JSONL file of its parts. lm-eval scores "
    "each document on its own (loglikelihood_rolling), so its perplexities are not these numbers.")


def plot_losses(evals: pd.DataFrame, out_dir) -> list[Path]:
    """Loss against training tokens, one panel per dataset, one line per model (PNG and SVG)."""
    import matplotlib.pyplot as plt

    rows = evals[(evals["metric"] == "loss") & evals["dataset"].notna()] if not evals.empty else evals
    if rows.empty:
        return []
    datasets = sorted(rows["dataset"].unique())
    fig, axes = plt.subplots(1, len(datasets), figsize=(4.5 * len(datasets), 3.6), squeeze=False,
                             layout="constrained")
    for ax, name in zip(axes[0], datasets):
        for i, (model, part) in enumerate(rows[rows["dataset"] == name].groupby("model")):
            part = part.sort_values("tokens")
            x = part["tokens"].where(part["tokens"] > 0)
            ax.plot(x, part["value"], marker="o", ms=3, label=model, **distinct_line_style(i))
        dup = rows[(rows["dataset"] == name) & (rows[DUPLICATE_COLUMN].fillna("").astype(str) != "")] \
            if DUPLICATE_COLUMN in rows else rows.iloc[:0]
        if len(dup):  # the same weights under two labels: their points marked, as report.md's steps
            ax.scatter(dup["tokens"].where(dup["tokens"] > 0), dup["value"], marker="x", s=40, color="black",
                       zorder=5, label=f"duplicated weights ({DUPLICATE_MARK})")
        ax.set_xscale("log")
        ax.set_xlabel("training tokens")
        ax.set_ylabel("loss (nats/token)")
        train = rows.loc[rows["dataset"] == name, "is_train"].any() if "is_train" in rows else False
        ax.set_title(f"{name}{' (train)' if train else ''}")
        ax.grid(alpha=0.3)
    handles, labels = axes[0][0].get_legend_handles_labels()
    if len(labels) > LEGEND_INSIDE_MAX:  # a suite's 16 models: beside the panels, off the curves
        fig.legend(handles, labels, fontsize=7, loc="outside right upper")
    else:
        axes[0][0].legend(fontsize=7)
    return save_figure(fig, out_dir, "loss_vs_tokens")


LEGEND_INSIDE_MAX = 6  # models named in a legend inside the first panel; beyond, beside the panels


def integrity_lines(flags: pd.DataFrame | None) -> list[str]:
    """One line per integrity flag: '<model> step <N>: <flag> (<other>): <detail>'."""
    if flags is None or flags.empty:
        return []
    return [f"{r.model} step {int(r.step)}: {r.flag} ({r.other}){' [duplicate]' if r.duplicate else ''}: {r.detail}"
            for r in flags.itertuples(index=False)]


def run_lines(wide: pd.DataFrame, meta: dict) -> list[str]:
    """The report's lines on what the run did: its counts, or (interrupted: no counts were kept)
    how many checkpoints the table holds so far; and the warnings of a merge (missing shards)."""
    if meta.get("interrupted"):
        whole, partly = meta.get("whole"), meta.get("partly") or {}
        if whole is None:  # a run.json of an older scalefit: only the table's rows are known
            held = f"the {len(wide)} checkpoint{'s' * (len(wide) != 1)} measured so far"
        else:
            named = "; ".join(f"{name}: no {', '.join(lacks)}" for name, lacks in list(partly.items())[:3])
            held = (f"{whole} checkpoint{'s' * (whole != 1)} measured in full"
                    + (f" and {len(partly)} in part ({named}{'; ...' if len(partly) > 3 else ''})" if partly else ""))
        lines = [f"- interrupted: the table holds {held}; re-run the same command to measure the rest"]
    else:
        lines = [f"- checkpoints measured {meta.get('measured', 0)}{incomplete_text(meta)}, already done "
                 f"{meta.get('skipped', 0)}, failed {meta.get('failed', 0)}"]
    partly = meta.get("partly_measured") or {}
    if partly:  # a measurement asked of part of the merged checkpoints (a dataset added for a few steps)
        lines.append("- measured at part of the checkpoints only: " + ", ".join(
            f"{name} at {n} of {meta.get('checkpoints', '?')}" for name, n in partly.items()))
    return lines + [f"- warning: {w}" for w in meta.get("warnings") or []]


def incomplete_text(meta: dict, shown: int = 3) -> str:
    """', incomplete K (model step N: no loss_test, weights; ...)' for a merge's checkpoints that
    lack a measurement the others have (not counted as measured), naming the first `shown`; '' when none."""
    lacking = meta.get("incomplete_checkpoints") or {}
    if not lacking:
        return ""
    named = "; ".join(f"{name}: no {', '.join(missing)}" for name, missing in list(lacking.items())[:shown])
    more = f"; and {len(lacking) - shown} more" if len(lacking) > shown else ""
    return f", incomplete {len(lacking)} ({named}{more})"


def write_report(out_dir, evals: pd.DataFrame, failures: pd.DataFrame, meta: dict,
                 extra_tables: dict | None = None, integrity: pd.DataFrame | None = None) -> Path:
    """README-style report.md: what was run, the wide table, failures, where the files are."""
    out_dir = Path(out_dir)
    wide = wide_evals(evals, facts=True)
    plots = plot_losses(evals, out_dir) if evals is not None and not evals.empty else []
    facts = [f"{k} `{meta[k]}`" for k in ("device", "dtype", "seed") if meta.get(k) is not None]  # unrecorded: left out
    if meta.get("context") is not None:  # the losses' windows (a run that scored no dataset has none)
        facts += [f"context `{meta['context']}` tokens", f"stride `{meta.get('stride') or meta['context']}` tokens",
                  f"max tokens `{meta['max_tokens'] if meta.get('max_tokens') is not None else 'all'}`"]
    scoring = [f"- {SCORING_CONVENTIONS}"] if meta.get("context") is not None else []
    lines = [f"# scalefit eval: {meta.get('suite') or 'suite not recorded'}", "",
             *([f"- {', '.join(facts)}"] if facts else []), *scoring, *run_lines(wide, meta), ""]
    if plots:
        lines += ["![loss against training tokens](loss_vs_tokens.png)", ""]
    se_note = (" A `_se` column is its value's standard error: for a loss, a bootstrap over the dataset's "
               "documents (between its end-of-text tokens where a token file has no sidecar; over scored "
               "windows where nothing marks documents), bpb's the ratio of summed NLL to summed bytes over "
               "the same resamples; for a 0/1 task metric, the 95% Wilson interval's half-width / 1.96; for "
               "gold_ce and other means over examples, the examples' sd / sqrt(n); `se_by` in evals.csv "
               "says which. Blank with fewer than two, or for a metric that is not a mean."
               if any(c.endswith("_se") for c in wide.columns) else "")
    lines += ["## Per checkpoint", "", "Loss in nats/token, bpb in bits per UTF-8 byte; "
              "`train_loss` is the dataset marked as the training distribution." + se_note, ""]
    lines += [markdown_table(marked_steps(wide, evals)) if not wide.empty else "(no rows)", ""]
    lines += duplicate_note(evals)
    weights = (extra_tables or {}).get("weights") if isinstance(extra_tables, dict) else None
    if weights is not None and not weights.empty:  # eval --weights: the weights report's notes on its rows
        from scalefit.weightstats.report import GROUP_RULE, shape_bound_notes

        lines += ["## Weight statistics", "", "In `weights.parquet` (the rows of scalefit weights). " + GROUP_RULE,
                  "", *[f"{note}\n" for note in shape_bound_notes(weights)]]
    if failures is not None and not failures.empty:
        lines += ["## Failed checkpoints", "", markdown_table(failures), ""]
    if integrity is not None and not integrity.empty:
        lines += ["## Checkpoint integrity", "",
                  "From each checkpoint's weight fingerprint (`fingerprints.parquet`): identical weights under "
                  "two labels (`same_as_step`, `same_as_model`; duplicates are dropped by `scalefit "
                  "transitions` and `scalefit trajectory`) and steps that break the run's own trend "
                  "(`trend_break`, reported only).", "", markdown_table(integrity), ""]
    # the tables written beside the report (a --weights-only sweep writes no evals table)
    tables = (["evals"] if evals is not None and not evals.empty else []) + sorted(extra_tables or [])
    what = {"fingerprints": "one row per checkpoint: the fingerprint of its weight files"}
    long = ("long table; `duplicate_of`: the checkpoint(s) holding the same weights as the row's "
            "(see Checkpoint integrity), empty for the others")
    # the record files this folder holds (a merged folder, or a sweep stopped before its first
    # result, has no measurements.json or parts/); run.json is written right after this report
    held = [line for name, line in (
        ("measurements.json", "- `measurements.json`: the options each measurement of this folder was made with"),
        ("parts", "- `parts/`: one file per (checkpoint, measurement); a re-run skips what is there"))
        if (out_dir / name).exists()]
    lines += ["## Files", "", *[f"- `{t}.parquet`, `{t}.csv`: {what.get(t, long)}" for t in tables],
              "- `evals_wide.csv`: the table above, with how it was measured as its last columns "
              f"({', '.join(SETTING_COLUMNS)}) and `duplicate_of` (as in the long tables) before them", "- `run.json`: versions, device, dtype, options",
              "- `integrity.csv`: the checkpoint integrity flags (header only when none)", *held, ""]
    return write_text(out_dir, "report.md", "\n".join(lines))


SETTING_COLUMNS = ("context", "stride", "max_tokens", "dtype", "device")  # evals_wide.csv's last columns
DUPLICATE_MARK = "†"  # beside the step of a checkpoint whose weights another label also holds


def duplicate_labels_of(evals: pd.DataFrame | None) -> pd.DataFrame:
    """(model, step, duplicate_of) of the checkpoints of a sweep's long table whose weights repeat
    another's (its `duplicate_of` column, scalefit.integrity.mark_duplicates); empty when none."""
    if evals is None or evals.empty or DUPLICATE_COLUMN not in evals:
        return pd.DataFrame(columns=["model", "step", DUPLICATE_COLUMN])
    rows = evals[["model", "step", DUPLICATE_COLUMN]].drop_duplicates(["model", "step"])
    return rows[rows[DUPLICATE_COLUMN].fillna("").astype(str) != ""].reset_index(drop=True)


def marked_steps(wide: pd.DataFrame, evals: pd.DataFrame | None) -> pd.DataFrame:
    """The wide view as report.md shows it: the step of a duplicated checkpoint marked
    DUPLICATE_MARK (its numbers are those of the same weights under another label)."""
    dups = duplicate_labels_of(evals)
    if dups.empty:
        return wide
    keys = set(zip(dups["model"].astype(str), dups["step"].astype(int)))
    shown = wide.copy()
    shown["step"] = [f"{int(s)} {DUPLICATE_MARK}" if (str(m), int(s)) in keys else str(int(s))
                     for m, s in zip(wide["model"], wide["step"])]
    return shown


def duplicate_note(evals: pd.DataFrame | None) -> list[str]:
    """The footnote under report.md's table for the steps marked DUPLICATE_MARK ([] when none)."""
    dups = duplicate_labels_of(evals)
    if dups.empty:
        return []
    named = "; ".join(f"{r.model} step {int(r.step)} = {r.duplicate_of}" for r in dups.itertuples(index=False))
    return [f"{DUPLICATE_MARK} Duplicated weights ({named}): the same weights under two labels, so the same "
            "numbers twice; at most one label is right (see Checkpoint integrity). The tables mark these rows "
            "in `duplicate_of`; `--on-duplicate skip` leaves such a checkpoint unmeasured.", ""]


def measured_wide(evals: pd.DataFrame, meta: dict) -> pd.DataFrame:
    """evals_wide.csv: the wide view with how it was measured as its last columns, SETTING_COLUMNS.

    Each from where the sweep recorded it: `context` and `stride`, the windows of the losses, from
    the long table's loss rows (the context each checkpoint was scored at; run.json's where an older
    table lacks those columns); `max_tokens` ('all' where the losses were not cut), `dtype` and
    `device` from the run's record (run.json, as report.md's header states them; a merge's is its
    runs' values joined). A checkpoint with no loss row has no context, stride or max_tokens.
    """
    wide = wide_evals(evals, facts=True)
    keys = ["model", "step"]
    if evals is not None and {"context", "stride"} <= set(evals.columns):
        windows = evals.dropna(subset=["context"])[keys + ["context", "stride"]].drop_duplicates(keys)
        wide = wide.merge(windows.astype({"context": "Int64", "stride": "Int64"}), on=keys, how="left")
    else:  # a table of an older scalefit: the run's record
        # no --stride recorded: the windows did not overlap, stride = context (as report.md says)
        wide["context"], wide["stride"] = meta.get("context"), meta.get("stride") or meta.get("context")
    cut = meta.get("max_tokens") if meta.get("max_tokens") is not None else "all"
    wide["max_tokens"] = pd.Series(cut, index=wide.index, dtype=object).where(wide["context"].notna(), None)
    wide["dtype"], wide["device"] = meta.get("dtype"), meta.get("device")
    if evals is not None and DUPLICATE_COLUMN in evals:  # before the settings: a fact of the checkpoint
        marks = evals[keys + [DUPLICATE_COLUMN]].drop_duplicates(keys)
        wide = wide.merge(marks, on=keys, how="left")
        wide[DUPLICATE_COLUMN] = wide[DUPLICATE_COLUMN].fillna("")
    lead = [c for c in wide.columns if c not in SETTING_COLUMNS and c != DUPLICATE_COLUMN]
    return wide[lead + [c for c in (DUPLICATE_COLUMN,) if c in wide] + list(SETTING_COLUMNS)]


def write_sweep_report(out_dir, tables: dict, failures: pd.DataFrame, meta: dict, run_file: str,
                       integrity: pd.DataFrame | None = None) -> list[Path]:
    """What `scalefit eval` and `eval merge` write beside the tables: evals_wide.csv, report.md
    and the run metadata (`run_file`)."""
    from scalefit.sweep.runinfo import write_metadata

    evals = tables.get("evals", pd.DataFrame())
    return [write_frame(measured_wide(evals, meta), Path(out_dir) / "evals_wide.csv"),
            write_report(out_dir, evals, failures, meta, extra_tables={k: v for k, v in tables.items() if k != "evals"},
                         integrity=integrity),
            write_metadata(meta, out_dir, run_file)]


def finish_sweep(result, table: str) -> tuple[list[str], int]:
    """The closing lines of a sweep (for stderr) and its exit status: 1 when any checkpoint's
    latest attempt failed, else 0. `table` names the sweep's main table ("evals", "weights")."""
    summary, failures = result.summary, result.failures
    written = [name for name in (table, *sorted(result.tables))  # the measured tables, not the bookkeeping
               if name != "fingerprints" and len(result.tables.get(name, ()))]
    counts = ", ".join(f"{len(result.tables[name])} rows in {result.out_dir}/{name}.parquet"
                       for name in dict.fromkeys(written)) or f"0 rows (no {table}.parquet written)"
    measured = len(summary.measured)
    lines = [f"{measured} checkpoint{'s' * (measured != 1)} measured, {len(summary.skipped)} already done, "
             f"{len(summary.failed)} failed; {counts} (report: {result.out_dir}/report.md)"]
    said = {(f.get("model"), f.get("step")) for f in summary.failed}  # printed as they failed
    lines += [f"failed: {row.model} step {row.step} ({row.location}): {row.error}"
              for row in failures.itertuples(index=False) if (row.model, row.step) not in said]
    if said and len(failures):
        lines.append(f"the failed checkpoints are in {result.out_dir}/failures.csv")
    if summary.duplicates:
        lines.append(f"{len(summary.duplicates)} checkpoint{'s' * (len(summary.duplicates) != 1)} not measured: "
                     "weights identical to another's "
                     "(--on-duplicate skip)")
    flags = getattr(result, "integrity", None)
    lines += [f"integrity: {line}" for line in integrity_lines(flags)]
    duplicated = flags is not None and not flags.empty and bool(flags["duplicate"].astype(bool).any())
    if duplicated and getattr(result, "on_duplicate", "warn") == "fail":
        lines.append("checkpoints with duplicated weights (--on-duplicate fail): see integrity.csv")
        return lines, EXIT_FAILED
    return lines, EXIT_FAILED if len(failures) else 0

"""Long evaluation tables as they come (one row per model, step, task, metric, value): Pythia's
published evals, lm-eval results written as rows, ``scalefit eval``'s own table.

``TASK:METRIC`` names one measurement (``lambada_openai:ppl``, ``piqa:acc``); the table is
pivoted to one row per (model, step) by ``scalefit.schema.wide_evals``, whose rule keeps distinct
settings apart: a task run with several ``num_fewshot`` values gives one column per setting
(``piqa:acc@5shot``), never their average. Rows that repeat a measurement with different values
(two variants, suites or eval groups of one model and step) are an error naming the column that
tells them apart, so a user selects one with ``--subset``. A perplexity is turned into its loss
(ln ppl, nats), since the relations read losses.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from scalefit.errors import InputError, known, row_name
from scalefit.schema import KEYS, distinct_rows

PERPLEXITY_METRICS = ("ppl", "perplexity", "word_perplexity", "byte_perplexity")
METRIC_ALIASES = {"perplexity": "ppl", "ppl": "perplexity"}
RUN_FACTS = ("params", "params_nonembed", "params_nonembedding", "tokens", "flops")
# lm-eval's metrics that grow as a model improves (accuracies and scores): no loss, so no side of
# the shifted power law (loss -> loss), which fitted E_y = 0.60 to piqa's accuracies unsaid
HIGHER_IS_BETTER = ("acc", "acc_norm", "acc_mutual_info", "accuracy", "exact_match", "em", "f1",
                    "mc1", "mc2", "mcc", "bleu", "chrf", "rouge1", "rouge2", "rougel")


def is_long_evals(frame: pd.DataFrame) -> bool:
    """A long evaluation table: model, step, a task (or dataset) and metric, and a value."""
    return ({"model", "step", "metric", "value"} <= set(frame.columns)
            and bool({"task", "dataset"} & set(frame.columns)))


def is_measurement_spec(spec: str | None) -> bool:
    return spec is not None and ":" in spec


def higher_is_better(column) -> str | None:
    """The lm-eval metric a column holds where it is one of ``HIGHER_IS_BETTER`` (else None),
    read from its name as lm-eval and this module name them: 'piqa:acc@0shot' and 'acc,none'
    hold 'acc', a run table's 'piqa_acc' or 'arc_easy_acc_norm' end in it. The name decides, not
    the values: a downstream loss can lie below 1 as an accuracy does. A two-letter name (em,
    f1) counts only whole: as a column's tail it could end a loss's name ('loss_em')."""
    name = str(column).strip().lower()
    if ":" in name:  # TASK:METRIC[@Kshot]
        name = name.partition(":")[2].partition("@")[0]
    name = name.partition(",")[0]  # lm-eval 0.4 writes 'acc,none'
    return next((m for m in sorted(HIGHER_IS_BETTER, key=len, reverse=True)
                 if name == m or (len(m) > 2 and name.endswith((f"_{m}", f"/{m}", f".{m}")))),
                None)


def _task_names(frame) -> pd.Series:
    """Each row's task: ``dataset`` where it is set (loss rows of ``scalefit eval``), else
    ``task`` (benchmark rows), as ``schema.measurement_name`` names them."""
    if "dataset" in frame.columns and "task" in frame.columns:
        return frame["dataset"].where(frame["dataset"].notna(), frame["task"]).astype(str)
    return frame["task" if "task" in frame.columns else "dataset"].astype(str)


def _split(spec: str) -> tuple[str, str, int | None]:
    """'piqa:acc' -> ('piqa', 'acc', None); 'piqa:acc@5shot' / 'piqa:acc@5' -> (.., 5)."""
    task, _, metric = spec.partition(":")
    metric, _, shots = metric.partition("@")
    n_shots = None
    if shots:
        digits = shots.removesuffix("shot")
        if not digits.isdigit():
            raise InputError(f"'{spec}': the setting after @ is a number of shots (@0shot, @5)")
        n_shots = int(digits)
    if not task or not metric:
        raise InputError(f"'{spec}': expected TASK:METRIC (e.g. piqa:acc, lambada_openai:ppl)")
    return task, metric, n_shots


def _rows(frame: pd.DataFrame, spec: str, source: str) -> tuple[pd.DataFrame, str, str]:
    """The rows of one TASK:METRIC[@Kshot], the metric name the table uses, and the column
    name (schema.measurement_name's rule: the setting named where there were several)."""
    task, metric, n_shots = _split(spec)
    names = _task_names(frame)
    of_task = frame[names == task]
    if of_task.empty:
        raise InputError(f"{source}: '{spec}': no rows of task '{task}' "
                         f"(have: {known(names[frame['metric'].notna()])})")
    metrics = of_task["metric"].astype(str)
    base = metrics.str.partition(",")[0]  # lm-eval 0.4 writes 'acc,none'
    chosen = metric
    if not (base == metric).any() and (base == METRIC_ALIASES.get(metric, "")).any():
        chosen = METRIC_ALIASES[metric]
    rows = of_task[base == chosen]
    if rows.empty:
        raise InputError(f"{source}: '{spec}': task '{task}' has no metric '{metric}' "
                         f"(has: {', '.join(sorted(base.unique()))})")
    if "num_fewshot" in rows.columns:
        shots = pd.to_numeric(rows["num_fewshot"], errors="coerce")
        settings = sorted(int(s) for s in shots.dropna().unique())
        if n_shots is not None:
            rows = rows[shots == n_shots]
            if rows.empty:
                raise InputError(f"{source}: '{spec}': no {n_shots}-shot rows (settings: "
                                 f"{', '.join(f'{s}-shot' for s in settings)})")
        elif len(settings) > 1:
            raise InputError(f"{source}: '{spec}' was run with {len(settings)} settings; name "
                             "one (never averaged): "
                             + " or ".join(f"{task}:{metric}@{s}shot" for s in settings))
    elif n_shots is not None:
        raise InputError(f"{source}: '{spec}': the table has no num_fewshot column")
    column = f"{task}:{chosen}" + (f"@{n_shots}shot" if n_shots is not None else "")
    return rows, chosen, column


def _tell_apart(pair: pd.DataFrame) -> str:
    """How to keep one of two rows of one measurement: the first column they differ in."""
    differ = [c for c in pair.columns if c not in ("value", "stderr", "source_path")
              and pair[c].astype(str).nunique() > 1]
    return (f"they differ in {', '.join(differ)}: select one with --subset "
            f"{differ[0]}={pair[differ[0]].iloc[0]}" if differ
            else "a checkpoint is measured once: drop the copy")


def _check_values(rows: pd.DataFrame, values: pd.Series, spec: str, metric: str,
                  source: str) -> None:
    """Each value of one measurement, checked where its row of the file can still be named (the
    pivoted table's rows are no rows of the file): text that is no number (coerced to a missing
    value and dropped, unsaid), an infinite value, a negative loss or accuracy, a perplexity
    below 1 (exp of a mean negative log-likelihood; its ln, the loss, would be negative)."""
    v = values.to_numpy(float)
    text = np.isnan(v) & rows["value"].notna().to_numpy()
    perplexity = metric in PERPLEXITY_METRICS
    low = v < 1 if perplexity else v < 0  # a missing value (NaN) is left out later, not refused
    bad = np.flatnonzero(text | np.isinf(v) | low)
    if not bad.size:
        return
    i = int(bad[0])
    if text[i]:
        what = f"'{rows['value'].iloc[i]}' is not a number"
    elif perplexity:
        what = f"a perplexity is at least 1 (its ln, the loss, at least 0), got {v[i]:g}"
    elif np.isinf(v[i]):
        what = f"value {v[i]:g}; a loss or accuracy must be a finite number"
    else:
        what = f"a loss or accuracy is at least 0, got {v[i]:g}"
    raise InputError(f"{source}: '{spec}', {row_name(rows, i)} (model "
                     f"{rows['model'].iloc[i]}, step {rows['step'].iloc[i]}): {what}")


def wide_measurements(frame: pd.DataFrame, specs, source: str) -> tuple[pd.DataFrame, dict, list]:
    """One row per (model, step) with a column per TASK:METRIC in ``specs`` (named by the spec)
    and the runs' facts (params, tokens, flops) beside them; returns (table, {spec: column},
    notes). A perplexity column holds ln(ppl), the loss it is the exponential of."""
    keys = list(KEYS)
    wide = None
    names, notes = {}, []
    for spec in dict.fromkeys(specs):
        rows, metric, column = _rows(frame, spec, source)
        rows = distinct_rows(rows, KEYS, source, f"checkpoint for '{spec}'", hint=_tell_apart)
        values = pd.to_numeric(rows["value"], errors="coerce")
        _check_values(rows, values, spec, metric, source)
        if metric in PERPLEXITY_METRICS:
            values = np.log(values)
            column = f"ln {column}"
            notes.append(f"{spec}: ln of the perplexity (nats), the loss it exponentiates")
        part = rows[keys].assign(**{column: values.to_numpy()}).drop_duplicates(keys)
        wide = part if wide is None else wide.merge(part, on=keys, how="outer")
        names[spec] = column
    facts = [c for c in RUN_FACTS if c in frame.columns]
    if facts:
        per_run = frame[keys + facts].drop_duplicates(keys)
        wide = wide.merge(per_run, on=keys, how="left")
    return wide.sort_values(keys).reset_index(drop=True), names, notes


def as_measurements(frame, x, y, source):
    """(table, x, y, notes): a long evaluation table pivoted to its TASK:METRIC columns x, y
    (``wide_measurements``); any other table as it is. A name that is neither a column of a long
    table nor TASK:METRIC (``piqa_acc``) is refused, saying how to name a measurement: it was
    'column missing' with the pivoted table's columns."""
    if is_long_evals(frame):
        for name in (x, y):
            if name is not None and not is_measurement_spec(name) and name not in frame.columns:
                tasks = _task_names(frame)[frame["metric"].notna()]
                task = str(name).rpartition("_")[0]  # piqa_acc: task piqa
                metrics = frame.loc[tasks.index[tasks == task], "metric"].astype(str)
                like = (f" (task {task}: metrics {known(metrics.str.partition(',')[0])})"
                        if len(metrics) else f" (tasks: {known(tasks, 20)})")
                raise InputError(f"{source}: '{name}' is no column of this long evaluation table "
                                 "(one row per model, step, task, metric); name a measurement "
                                 f"as TASK:METRIC[@Kshot]{like}")
    specs = [s for s in (x, y) if is_measurement_spec(s) and s not in frame.columns]
    if not (specs and is_long_evals(frame)):
        return frame, x, y, []
    frame, names, notes = wide_measurements(frame, specs, source)
    return frame, names.get(x, x), names.get(y, y), notes

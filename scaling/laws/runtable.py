"""Load and validate a run table for law fitting: one row per run with N, D, C and a loss.

Every problem is an ``InputError`` naming the file, the column and the (1-based data) row, so the
CLI prints one line. Missing tokens are derived as flops/(6N), missing flops as 6ND; Kaplan laws
use ``params_nonembed`` when the table has it (Kaplan et al. 2020 count non-embedding parameters).
What a law needs (variables, extra columns, number of parameters) comes from the law registry.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from scalefit.errors import InputError, a_type, data_row, row_name, suggestion
from scalefit.options import file_column, map_hint
from scalefit.scaling.laws.convention import NONEMBED, TOTAL
from scalefit.scaling.laws.registry import law_for
from scalefit.schema import FLOPS_PER_PARAM_TOKEN  # one place: the table schema
from scalefit.tables import as_table, read_table


def _column(name: str) -> property:
    return property(lambda self: self.frame[name].to_numpy(float),
                    doc=f"canonical column {name} as floats")


@dataclass
class RunTable:
    """A validated run table: columns N, D, C, L (plus the original ones) and how N was chosen."""

    frame: pd.DataFrame
    source: str
    n_column: str
    loss_column: str
    notes: list[str] = field(default_factory=list)
    rows: np.ndarray | None = None  # 1-based row in the file of each run (None: 1, 2, ...)
    n_source: str = ""  # the file's own name of N's column where mapped (--params COL: COL), else ''

    N = _column("N")  # parameters (the column n_column names)
    D = _column("D")  # training tokens
    C = _column("C")  # training FLOPs
    L = _column("L")  # the loss fitted

    def variables(self, names) -> dict[str, np.ndarray]:
        """{variable: values} for the variables a law reads (N, D, C or its own columns')."""
        return {v: self.frame[v].to_numpy(float) for v in names}

    def file_row(self, i: int) -> int:
        """1-based row in the file of positional run i, for messages."""
        return int(self.rows[i]) if self.rows is not None else i + 1

    @property
    def n_nonembedding(self) -> bool:
        """Whether N counts non-embedding parameters, as Kaplan et al. 2020 do."""
        return counts_nonembedding(self.n_column, self.n_source)

    @property
    def kaplan_compute(self) -> bool:
        """N is non-embedding and no total count stands beside it to state it in (no 'params'
        column, or 'params' is that N, mapped with --params params_nonembed): a budget is then
        Kaplan's C = 6 N D, not the flops column, which counts all parameters."""
        return self.n_nonembedding and (self.n_column == TOTAL or TOTAL not in self.frame.columns)


NONEMBED_WORDS = "non-embedding, as Kaplan et al. 2020 count it"


def counts_nonembedding(n_column: str | None, n_source: str = "") -> bool:
    """Whether N read from ``n_column`` (mapped from the file's ``n_source``) is non-embedding."""
    return NONEMBED in (n_column, n_source)


def n_label(n_column: str | None, n_source: str = "") -> str:
    """'N = params_nonembed (non-embedding, as Kaplan et al. 2020 count it)': the column N came
    from, by the file's own name, and how it counts parameters."""
    return f"N = {n_source or n_column or TOTAL}" + (
        f" ({NONEMBED_WORDS})" if counts_nonembedding(n_column, n_source) else "")


def kaplan_compute_note(frame: pd.DataFrame) -> str:
    """What C means in a budget table whose N is non-embedding (``RunTable.kaplan_compute``)."""
    flops = (": not the table's flops column, which counts all parameters"
             if "flops" in frame.columns else "")
    return (f"C = {FLOPS_PER_PARAM_TOKEN:g} N D with this non-embedding N (Kaplan's convention), "
            f"in the budgets and in 'x largest run' alike{flops}")


def fit_n_note(extra: dict) -> str:
    """What N (and C, where it is Kaplan's) mean in the budget rows of a fit stated in its own
    N: its ``n_label``, and the allocation's ``compute_convention`` when it has one."""
    note = n_label(extra.get("n_column"), extra.get("n_source", ""))
    compute = extra.get("allocation", {}).get("compute_convention")
    return f"{note}; {compute}" if compute else note


VARIABLE_WORDS = {"N": "model sizes", "D": "token counts", "C": "compute budgets"}


def check_varies(table: RunTable, variables) -> None:
    """InputError when one of `variables` (N, D, C) has a single value over the table: a law term
    in it cannot be fitted, and its parameters would come back as whatever the optimizer left."""
    for v in variables:
        if v not in VARIABLE_WORDS or v not in table.frame.columns:
            continue
        x = table.frame[v].to_numpy(float)
        if x.size and np.ptp(np.log(x)) < 1e-9:
            column = file_column(table.frame, {"N": table.n_column or "params", "D": "tokens",
                                               "C": "flops"}[v])
            raise InputError(f"{table.source}: column '{column}': every run has the same value ({x[0]:.4g}); "
                             f"the law's {v} term needs runs at 2 or more {VARIABLE_WORDS[v]}")


def read_runs(path) -> tuple[pd.DataFrame, str]:
    """Read a run table file (CSV, Parquet, JSON); return it with its name for messages."""
    if Path(path).is_file() and Path(path).stat().st_size == 0:
        raise InputError(f"{path}: the file is empty; expected a run table: a header row and "
                         "one row per run with params, tokens or flops, and a loss (CSV, TSV, "
                         "Parquet or JSON)")
    return read_table(path), str(Path(path))


def _columns(df: pd.DataFrame) -> str:
    """The table's columns, for a missing-column message."""
    return ", ".join(map(str, df.columns))



def _near_column(name: str, columns) -> str:
    """"; did you mean 'Loss'?" for a column that differs from ``name`` in case only, or is
    near it (``suggestion`` at a table's cutoff 0.8); else ''."""
    same = [str(c) for c in columns if str(c).lower() == name.lower()]
    return f"; did you mean '{same[0]}'?" if same else suggestion(name, columns, cutoff=0.8,
                                                                  otherwise="")


SIZE_NAMES = ("params", "params_nonembed", "n", "n_params", "num_params", "nparams", "param_count",
              "parameters", "model_size", "size")  # what a table's model-size column is often called


def _near_size_column(df: pd.DataFrame) -> str:
    """"; did you mean 'n'?" for a numeric column named as model sizes are (``SIZE_NAMES``, any
    case), else the numeric column nearest 'params': Porian's table (n, and hparams holding
    'base') was offered 'hparams', a column of words."""
    numeric = [c for c in df.columns if pd.api.types.is_numeric_dtype(df[c])]
    named = [str(c) for c in numeric if str(c).lower() in SIZE_NAMES]
    return f"; did you mean '{named[0]}'?" if named else _near_column("params", numeric)


def numeric_column(df: pd.DataFrame, column: str, source: str, *,
                   text_only: bool = False) -> np.ndarray:
    """A column as floats; the first non-numeric, NaN or infinite cell is an InputError
    (``text_only``: only a cell holding text is; an empty cell reads NaN, 'inf' inf, for a
    caller that says itself what a missing or infinite value means)."""
    values = pd.to_numeric(df[column], errors="coerce").to_numpy(float)
    raw = df[column].to_numpy()
    for i, (v, r) in enumerate(zip(values, raw)):
        if not np.isfinite(v) and not (text_only and (pd.isna(r) or not np.isnan(v))):
            what = "is missing (NaN)" if (r is None or (isinstance(r, float) and np.isnan(r))) \
                else f"'{r}' is not a finite number"
            if isinstance(r, str) and re.fullmatch(r"\s*[-+]?[\d,]*\d,\d+\s*", r):  # 6,2193; 1,000
                what += (" (a decimal comma or a thousands separator: write numbers with a "
                         "decimal point and no commas, e.g. 6.2193 or 1000)")
            raise InputError(f"{source}: column '{file_column(df, column)}', {row_name(df, i)}: {what}")
    return values


def _positive(values: np.ndarray, column: str, source: str, df: pd.DataFrame) -> None:
    bad = np.flatnonzero(values <= 0)
    if bad.size:
        i = int(bad[0])
        raise InputError(f"{source}: column '{file_column(df, column)}', {row_name(df, i)}: "
                         f"must be positive, got {values[i]:g}")


def _counts(values: np.ndarray, column: str, source: str, df: pd.DataFrame) -> None:
    """Parameters, tokens and FLOPs are counts: positive, and none below 1 (a value such as 0.0152
    is a count written in billions, which would put every projection off by that unit)."""
    _positive(values, column, source, df)
    bad = np.flatnonzero(values < 1)
    if bad.size:
        i = int(bad[0])
        raise InputError(f"{source}: column '{file_column(df, column)}', {row_name(df, i)}: {values[i]:g} is "
                         f"below 1, but {column} is a count; write it in units (1.2e9, not 1.2 "
                         "for 1.2 billion)")


def _nonembed_within_total(df: pd.DataFrame, source: str) -> None:
    """params_nonembed is part of params: a row above it is two swapped columns (or a unit slip),
    with which a Kaplan law's N* was printed in non-embedding parameters as if total ones."""
    total, nonembed = (pd.to_numeric(df[c], errors="coerce").to_numpy(float, na_value=np.nan)
                       for c in ("params", "params_nonembed"))  # the column a law reads is checked apart
    with np.errstate(invalid="ignore"):
        bad = np.flatnonzero(nonembed > total)
    if bad.size:
        i = int(bad[0])
        raise InputError(f"{source}: column 'params_nonembed', {row_name(df, i)}: "
                         f"{nonembed[i]:g} is above params {total[i]:g}; the non-embedding "
                         "parameters are part of the total (are the two columns swapped?)")


def n_convention_warning(law, n_column: str | None, df: pd.DataFrame) -> str | None:
    """A warning when a total-parameter law (Hoffmann et al.) falls back to non-embedding counts
    because the table has no 'params' column: on the shipped runs the Chinchilla allocation
    exponent a moves from 0.52 to 0.88 between the two."""
    if n_column is None or "N" not in law.needs:
        return None
    if not law.nonembedding_n and n_column == "params_nonembed" and "params" not in df.columns:
        return ("N = params_nonembed counts N differently from the law's paper (Hoffmann et al. count all parameters, "
                "embeddings included) because the table has no 'params' column: its parameters and "
                "allocation are not comparable to the paper's; add a 'params' column (or map one with "
                "--params COL) to count as they do")
    return None  # Kaplan's form on total parameters is common practice: its "N = params" note says it


def mixed_conditions_warning(frame: pd.DataFrame) -> str | None:
    """A warning when runs at one (N, D) differ in a text column (other than model or run, and
    not a name every row has its own of): the table holds several conditions, e.g. Porian et
    al.'s five setups by 'label', and one fit reads them as repeated runs of one."""
    if not {"N", "D"} <= set(frame.columns) or len(frame) < 2:
        return None
    groups = frame.groupby([frame["N"], frame["D"]], sort=False)
    if groups.ngroups == len(frame):
        return None
    varying = [c for c in frame.columns
               if c not in ("model", "run") and not pd.api.types.is_numeric_dtype(frame[c])
               and frame[c].nunique() < len(frame)
               and (frame[c].groupby([frame["N"], frame["D"]], sort=False).nunique() > 1).any()]
    if not varying:
        return None
    column = max(varying, key=lambda c: frame[c].nunique())  # the finest: Porian's label
    values = list(dict.fromkeys(frame[column].dropna().astype(str)))
    shown = ", ".join(values[:3]) + (f", ... ({len(values)} in all)" if len(values) > 3 else "")
    return (f"runs at the same N and D differ in column '{column}' ({shown}): the fit mixes "
            "several conditions as if repeated runs of one; fit one with --subset "
            f"{column}=VALUE, or walk them with `scalefit reconcile --by {column}`")


def _distinct(values, rtol=0.02) -> int:
    """How many distinct values (log gaps above ``rtol`` apart) ``values`` holds."""
    values = np.sort(np.asarray(values, float))
    if values.size == 0:
        return 0
    return 1 + int(np.sum(np.diff(np.log(values)) > rtol))


def token_design(frame: pd.DataFrame) -> dict:
    """How a validated table samples D at each model size: ``sizes``, ``multi`` (sizes trained,
    or measured as checkpoints of one run, at more than one token count), ``tpp`` (tokens per
    parameter, min and max), ``trained`` (the word for how), and ``tied``: at most half the sizes
    see several D, so N and D move together and no law can split its N and D terms from data."""
    N, D = frame["N"].to_numpy(float), frame["D"].to_numpy(float)
    size = np.round(np.log(N), 2)
    sizes = np.unique(size)
    multi = int(sum(_distinct(D[size == s]) > 1 for s in sizes))
    tpp = D / N
    checkpoints = ("step" in frame.columns and "model" in frame.columns
                   and frame.groupby("model")["step"].nunique().max() > 1)
    return {"sizes": len(sizes), "multi": multi, "tpp": (float(tpp.min()), float(tpp.max())),
            "trained": "measured (as checkpoints of one run each)" if checkpoints else "trained",
            "tied": multi <= len(sizes) / 2}


def tied_text(design: dict) -> str:
    """'only 0 of the 20 model sizes were trained at more than one token count (...), so N and D
    move together ...': the clause fit's warning and compare's explanation share."""
    lo, hi = design["tpp"]
    return (f"only {design['multi']} of the {design['sizes']} model sizes were "
            f"{design['trained']} at more than one token count (tokens per parameter {lo:.3g} to "
            f"{hi:.3g}), so N and D move together and the split between the N and D terms rests "
            "on the functional form")


def tied_design_warning(frame: pd.DataFrame, law) -> str | None:
    """A warning when N and D move together (``token_design``) and ``law`` has both terms: its
    allocation (a, b, N*, D*) then comes from its form, not from the runs; else None."""
    if not {"N", "D"} <= set(law.needs) or not {"N", "D"} <= set(frame.columns):
        return None
    design = token_design(frame)
    if not design["tied"]:
        return None
    return (tied_text(design) + ": the allocation (a, b, N*, D*) is the form's, not the runs'; "
            "train some sizes at several token counts to separate the terms")


def _choose_n(df: pd.DataFrame, law) -> str | None:
    if law.nonembedding_n and "params_nonembed" in df.columns:
        return "params_nonembed"
    if "params" in df.columns:
        return "params"
    if "params_nonembed" in df.columns:
        return "params_nonembed"
    return None


# a law describes the loss on one data distribution; in a run table (one row per run) 'dataset'
# names the training set too (Porian et al.'s rw / owt2, Gadre et al.'s c4_original / rpj / ...)
DISTRIBUTION_COLUMNS = ("distribution", "dataset")


def mixed_values(df: pd.DataFrame, column: str) -> list[str]:
    """The distinct values of ``column`` (sorted, as text) where it holds more than one, else []:
    runs of several training distributions, which no one law or relation joins."""
    if column not in df.columns or df[column].nunique(dropna=True) < 2:
        return []
    return sorted(map(str, df[column].dropna().unique()))


def _one_distribution(df: pd.DataFrame, source: str, split_by=()) -> None:
    """Refuse runs trained on different data distributions in one fit (the shipped runs.csv holds
    prose and code runs): their losses are on different scales and no law joins them. Columns
    in ``split_by`` are ones the caller fits each value of apart (reconcile's --by, --panel)."""
    for column in (c for c in DISTRIBUTION_COLUMNS if c not in split_by):
        names = mixed_values(df, column)
        if names:
            raise InputError(f"{source}: column '{column}' holds runs of {len(names)} distributions "
                             f"({', '.join(names)}); a law is fitted to one: select it with "
                             f"--subset {column}={names[0]} (in Python, filter the rows)")


def validate_runs(df: pd.DataFrame, law: str, *, loss: str = "loss", source: str = "<run table>",
                  n_column: str | None = None, check_size: bool = True, split_by=()) -> RunTable:
    """Check a run table for ``law`` and return it with canonical N, D, C, L columns
    (``split_by``: columns whose values the caller fits apart, so they may differ)."""
    law_model = law_for(law)
    law = law_model.law_name
    needs, n_free = law_model.needs, law_model.n_free
    if not isinstance(loss, str):  # loss=5 raised AttributeError, loss=['loss'] TypeError
        raise InputError(f"loss (--loss): got {a_type(loss)}; give the loss column's name, a string "
                         "such as 'loss'")
    notes: list[str] = []
    if check_size and len(df) == 0:
        raise InputError(f"{source}: no data rows (columns: {_columns(df) or 'none'}); a run "
                         "table has one row per run with params, tokens or flops, and a loss")
    if loss not in df.columns:  # 'Loss' for 'loss' is offered first: the list can be long
        raise InputError(f"{source}: column '{loss}' is missing"
                         f"{_near_column(loss, df.columns)} "
                         f"(columns: {_columns(df)}; choose one with --loss COL or --columns loss=COL; "
                         "in Python, loss='COL')")
    if n_column is None:
        n_column = _choose_n(df, law_model)
    needs_n = "N" in needs or "D" in needs and "tokens" not in df.columns
    if needs_n and (n_column is None or n_column not in df.columns):
        raise InputError(f"{source}: column 'params' is missing{_near_size_column(df)} "
                         f"(law {law} needs N; columns: "
                         f"{_columns(df)}; {map_hint('params')})")
    has_tokens = "tokens" in df.columns
    has_flops = "flops" in df.columns
    if ("D" in needs or "C" in needs) and not (has_tokens or has_flops):
        raise InputError(f"{source}: column 'tokens' is missing{_near_column('tokens', df.columns)} "
                         f"(and no 'flops' to derive it; "
                         f"columns: {_columns(df)}; {map_hint('tokens')} or --flops COL)")

    if "C" in needs and not has_flops and n_column is None:
        raise InputError(f"{source}: column 'flops' is missing (and no 'params' to derive it; "
                         f"columns: {_columns(df)}; {map_hint('flops')})")
    _one_distribution(df, source, split_by)
    out = df.copy()
    out["L"] = numeric_column(df, loss, source)
    _positive(out["L"].to_numpy(), loss, source, df)
    N = None
    if n_column is not None and n_column in df.columns:
        N = numeric_column(df, n_column, source)
        _counts(N, n_column, source, df)
        out["N"] = N
    if N is not None and {"params", "params_nonembed"} <= set(df.columns):
        _nonembed_within_total(df, source)
    if has_tokens:
        D = numeric_column(df, "tokens", source)
        if not law_model.reads_checkpoints:  # a schedule law reads step, not tokens (0 at step 0)
            _counts(D, "tokens", source, df)
    if has_flops:
        C = numeric_column(df, "flops", source)
        _counts(C, "flops", source, df)
    if has_tokens and has_flops:
        pass
    elif has_flops and N is not None:
        D = C / (FLOPS_PER_PARAM_TOKEN * numeric_column(df, "params", source)
                 if "params" in df.columns else FLOPS_PER_PARAM_TOKEN * N)
        notes.append(f"tokens derived as flops / ({FLOPS_PER_PARAM_TOKEN:g} {'params' if 'params' in df.columns else n_column})")
    elif has_tokens and N is not None:
        C = FLOPS_PER_PARAM_TOKEN * (numeric_column(df, "params", source)
                                     if "params" in df.columns else N) * D
        notes.append(f"flops derived as {FLOPS_PER_PARAM_TOKEN:g} * {'params' if 'params' in df.columns else n_column} * tokens")
    elif has_tokens:
        C = np.full(len(df), np.nan)
    else:
        D = np.full(len(df), np.nan)
    if has_tokens or has_flops:
        out["D"] = D
        out["C"] = C
    if getattr(law_model, "reads_budget", False) and "budget" in df.columns:
        # a blank or text budget was dropped from every IsoFLOP group without a word
        budget = numeric_column(df, "budget", source)
        _positive(budget, "budget", source, df)
    for variable in law_model.extra_variables():
        column = law_model.columns[variable]
        if column not in df.columns:
            raise InputError(f"{source}: column '{column}' is missing (law {law} needs it; "
                             f"columns: {_columns(df)}; {map_hint(column)})")
        out[variable] = numeric_column(df, column, source)
        _positive(out[variable].to_numpy(), column, source, df)
    law_model.check_runs(out, source, df)  # a law's own rule on its columns (Muennighoff: U_D <= D)
    n_source = file_column(df, n_column) if n_column is not None else ""
    n_source = "" if n_source == n_column else n_source  # the mapping's: --params params_nonembed
    if n_column is not None:
        notes.append(n_label(n_column, n_source))

    _check_duplicates(df, source)
    min_points = n_free + 1
    if check_size and len(out) < getattr(law_model, "min_runs", 0):  # a law read per group
        raise InputError(f"{source}: {len(out)} row{'s' * (len(out) != 1)}; law {law} needs at "
                         f"least {law_model.min_runs} runs ({law_model.min_runs_why})")
    if check_size and len(out) < min_points:
        raise InputError(f"{source}: column '{loss}': {len(out)} rows, law {law} needs at least "
                         f"{min_points} points for {n_free} parameters")
    if check_size and len(out) > 1 and np.ptp(out["L"].to_numpy()) == 0:
        raise InputError(f"{source}: column '{loss}': every run has the same loss "
                         f"({out['L'].iloc[0]:g}); a law is fitted to how the loss varies "
                         "with N, D or C (is this the right --loss column?)")
    rows = np.array([data_row(df, i) for i in range(len(df))], dtype=int)
    return RunTable(out.reset_index(drop=True), source, n_column or "", loss, notes, rows, n_source)


def refuse_repeated_rows(df: pd.DataFrame, source: str, rule: str) -> None:
    """An InputError naming the first row equal in every column to an earlier one (a table
    concatenated twice), and ``rule``: why a table holds each row once."""
    same = df.duplicated(keep="first").to_numpy()
    if same.any():
        i = int(np.flatnonzero(same)[0])
        hashes = pd.util.hash_pandas_object(df, index=False).to_numpy()
        first = int(np.flatnonzero(hashes == hashes[i])[0])
        raise InputError(f"{source}: {row_name(df, i)}: repeats {row_name(df, first)} "
                         f"in every column ({int(same.sum())} such rows); {rule}")


def _check_duplicates(df: pd.DataFrame, source: str) -> None:
    """Two rows with the same run key (run; model, step; or model, tokens (flops where the
    table has no tokens)[, distribution]); a table with no key column: two rows equal in every
    column (a run counted twice)."""
    if "run" in df.columns:
        key = ["run"]
    elif "model" not in df.columns:
        refuse_repeated_rows(df, source, "a table without a 'run' column lists each run once (drop "
                             "the copies, or add a 'run' column that tells repeated runs apart)")
        return
    elif "step" in df.columns:
        key = ["model", "step"]
    else:
        length = "tokens" if "tokens" in df.columns else "flops"  # flops: tokens derived from it
        key = ["model"] + [c for c in (length, "distribution", "dataset") if c in df.columns]
    dup = df.duplicated(subset=key, keep="first").to_numpy()
    if dup.any():
        i = int(np.flatnonzero(dup)[0])
        values = ", ".join(f"{k}={df[k].iloc[i]}" for k in key)
        raise InputError(f"{source}: column '{key[-1]}', {row_name(df, i)}: "
                         f"duplicate run ({values})")


def load_runs(path, law: str, *, loss: str = "loss") -> RunTable:
    """Read and validate a run table file for ``law``."""
    df, source = read_runs(path)
    return validate_runs(df, law, loss=loss, source=source)


def as_run_table(runs, law: str, *, loss: str = "loss") -> RunTable:
    """Accept a DataFrame, a path or an existing RunTable and return a validated RunTable."""
    if isinstance(runs, (str, Path)):
        return load_runs(runs, law, loss=loss)
    frame, source = runs_and_source(runs)
    return validate_runs(frame, law, loss=loss, source=source)


def runs_and_source(runs, source: str = "<run table>") -> tuple[pd.DataFrame, str]:
    """(``run_frame(runs)``, its name): a path names itself and a RunTable keeps its source,
    unless ``source`` names them."""
    if source == "<run table>" and isinstance(runs, (str, Path, RunTable)):
        source = runs.source if isinstance(runs, RunTable) else str(runs)
    return run_frame(runs), source


def run_frame(runs) -> pd.DataFrame:
    """A run table as a DataFrame: a DataFrame (or a polars/pyarrow table), a CSV/Parquet/JSON
    path, rows as dicts, or a RunTable (the rows it was given, without the N, D, C, L it
    derived). Anything but a RunTable is read by tables.as_table, as every table argument is."""
    if isinstance(runs, RunTable):
        frame = runs.frame.drop(columns=["N", "D", "C", "L"], errors="ignore")
        return frame.set_axis(np.asarray(runs.rows) - 1) if runs.rows is not None else frame
    return as_table(runs, "runs")[0]

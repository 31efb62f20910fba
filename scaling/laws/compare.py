"""Kaplan vs Chinchilla (or any laws of the registry) on one run table: the fits side by side,
held-out error, allocations, and two data-derived sentences on why they disagree.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from scalefit.errors import InputError, a_type
from scalefit.options import split_values
from scalefit.scaling.fitresult import FitResult, flat_rows, percentile_ci
from scalefit.scaling.interval_text import intervals_overlap
from scalefit.scaling.holdout import held_out_mask, holdout_errors
from scalefit.scaling.laws.convention import NONEMBED, TOTAL
from scalefit.scaling.laws.fit import budget_compute, compute_basis, fit_law
from scalefit.scaling.laws.projection import (BEYOND_RUNS, CHECK_FACTOR, DATA_MULTIPLES, REACH, SUB_UNIT_TAIL,
                                              sub_unit_optimum_warning,
                                              budget_convention, checked_budgets, default_budgets,
                                              holdout_predictions, kind_of,
                                              n_convention_note, project)
from scalefit.scaling.laws.n_convention_gap import (CONVENTION, FORM, gap_sentence, n_convention_gap,
                                                    parts_beyond_zero)
from scalefit.scaling.laws.registry import REGISTRY, canonical_law, law_for
from scalefit.scaling.laws.runtable import (runs_and_source, tied_design_warning, tied_text,
                                             token_design, validate_runs)
from scalefit.scaling.resample import MIN_RESAMPLES_FOR_VERDICT, too_few_resamples
from scalefit.scaling.objective import HUBER_DELTA

SCHEDULE_COLUMNS = ("schedule_tokens", "lr_schedule_tokens", "decay_tokens", "total_tokens",
                    "max_tokens")


class BudgetRow(dict):
    """One budget row of several laws (``budget_rows``): a plain dict to every output (--json,
    budgets.csv), which also holds, out of them, each law's own kind at this budget
    (``law_kinds``: its ``project`` row's; the row's ``kind`` is the table's, any law's
    extrapolation or optimum beyond the runs making the row one). The report reads which law's
    optimum lies beyond every run from it, not from the words of ``outside_runs``."""

    law_kinds: dict[str, str] = {}


@dataclass
class Comparison:
    """Several laws fitted to the same runs; ``to_dict()`` is the JSON `scalefit compare` prints."""

    data: str  # where the runs came from
    n_runs: int
    n_fit: int
    n_holdout: int
    laws: list[str]  # as the user named them; the keys of ``fits``
    fits: dict[str, FitResult]
    holdout: dict[str, dict]  # per law: predictions of the held-out runs (empty: none held)
    budgets: list[dict]  # per budget: distance, projection/prediction, each law's optimum + CIs
    explanation: list[str]  # two sentences on why the laws' allocations differ
    published: dict[str, dict] = field(default_factory=dict)  # per law: published constants
    largest_fitted_flops: float = float("nan")  # the budgets' distances are multiples of it
    convention: str = ""  # what N means in the budget table
    allocation_difference: dict | None = None  # paired difference in a (allocation_difference)
    n_convention_gap: dict | None = None  # that gap split into N convention and form (n_convention_gap)
    budgets_given: bool = False  # the budgets came from --budget, not BUDGET_RULE
    # laws whose budgets count compute differently (``compute_basis``): per basis its laws and
    # largest fitted run; each budget row then says its basis ('compute'). Empty: one basis
    compute_bases: list[dict] = field(default_factory=list)

    def fit_dict(self, name: str) -> dict:
        """One law's fit as JSON: the FitResult's fields, ``law_given`` (the law as typed, the
        key of ``fits``, beside the registry's ``law``: as fit --json has it) and its held-out
        error."""
        entry = self.fits[name].to_dict()
        entry["law_given"] = name
        if name in self.holdout:
            entry["holdout"] = self.holdout[name]
        return entry

    def budgets_frame(self) -> pd.DataFrame:
        """The budget table, one row per budget: each law's N*, D*, loss with _ci95_lo/_hi columns;
        ``attrs['N_counts']`` says what every law's N* counts there (``convention``: the table's
        sentence, e.g. all parameters, Kaplan's converted with the runs' embedding counts)."""
        frame = flat_rows(self.budgets)
        frame.attrs["N_counts"] = self.convention
        return frame

    def __repr__(self) -> str:
        """A notebook's view: what was compared and each law's fit in one line; ``print()`` gives
        the report `scalefit compare` prints (``to_dict()`` its --json)."""
        from scalefit.scaling.laws.report import fit_line
        lines = [f"Comparison of {', '.join(self.laws)} on {self.data}: {self.n_runs} runs "
                 f"({self.n_fit} fitted, {self.n_holdout} held out)"]
        lines += [f"  {name}: {fit_line(self.fit_dict(name))}" for name in self.fits]
        difference = self.allocation_difference
        if difference is not None:
            lo, hi = difference["ci95"]
            lines.append(f"  a({difference['laws'][0]}) - a({difference['laws'][1]}) = "
                         f"{difference['a_difference']:.2f} [{lo:.2f}, {hi:.2f}] over "
                         f"{difference['n_resamples']} paired resamples")
        return "\n".join(lines + ["  print() for the report; .fits[law], .budgets_frame(), .to_dict()"])

    def __str__(self) -> str:
        from scalefit.scaling.laws.report import compare_text
        return compare_text(self.to_dict())

    def to_dict(self) -> dict:
        out = {"data": self.data, "n_runs": self.n_runs, "n_fit": self.n_fit,
               "n_holdout": self.n_holdout, "laws": list(self.laws),
               "loss_unit": next(iter(self.fits.values())).extra.get("loss_unit") if self.fits else None,
               "fits": {name: self.fit_dict(name) for name in self.fits},
               "largest_fitted_flops": self.largest_fitted_flops,
               "budget_rule": GIVEN_RULE if self.budgets_given else BUDGET_RULE,
               "budget_convention": self.convention,
               "budgets": self.budgets, "explanation": list(self.explanation)}
        if self.compute_bases:
            out["compute_bases"] = self.compute_bases
        if self.allocation_difference is not None:
            out["allocation_difference"] = self.allocation_difference
        if self.n_convention_gap is not None:
            out["n_convention_gap"] = self.n_convention_gap
        if self.published:
            out["published"] = self.published
        return out


BUDGET_RULE = (f"budgets: {' and '.join(f'{m:g}x' for m in DATA_MULTIPLES)} the largest fitted "
               f"run, the largest held-out run, and the published budgets within {REACH:g}x of "
               "the largest fitted run; 'projection': no run checks it, 'prediction': a held-out "
               f"run lies within {CHECK_FACTOR:g}x of its compute")


GIVEN_RULE = ("budgets: those given (--budget), in place of the default ones; 'projection': no "
              "run checks it, 'prediction': a held-out run lies within "
              f"{CHECK_FACTOR:g}x of its compute")


DEFAULT_LAWS = ("kaplan", "chinchilla")  # what `scalefit compare` compares without LAWS


def compare_laws(runs: pd.DataFrame, laws=DEFAULT_LAWS, *, loss: str = "loss",
                 delta: float = HUBER_DELTA, n_bootstrap: int = 1000, seed: int = 0, holdout=None,
                 progress: bool = False, source: str = "<run table>",
                 published: bool | None = None, budgets=None) -> Comparison:
    """Fit each law to the same runs (the largest-compute ``holdout`` kept out) and compare, with the
    defaults of `scalefit compare` (1000 bootstrap resamples: the verdict on the allocations needs
    them; n_bootstrap=0 for a quick look, whose verdict is 'unknown').

    laws: a law's name, a list of them, or names separated by commas ('kaplan,chinchilla').
    published: True puts each law's published constants (data/published_laws.toml) beside the
    fits; None (the default, as the command's with --data) or False leaves them out. The command
    shows them for the shipped runs, and with --published for any runs.
    budgets: FLOPs to project to (default: from the data's range, ``default_budgets``).
    """
    runs, source = runs_and_source(runs, source)
    budgets = checked_budgets(budgets)
    given = budgets is not None
    if laws is None:
        laws = DEFAULT_LAWS
    if not isinstance(laws, str) and not np.iterable(laws):  # tuple(5): 'int' object is not iterable
        raise InputError(f"laws: got {a_type(laws)}; give a law's name or a list of them "
                         "(registry.law_choices())")
    # compare_laws(runs, "chinchilla") is one law, "kaplan,chinchilla" two (no law's name has a comma)
    laws = tuple(split_values([laws])) if isinstance(laws, str) else tuple(laws)
    if not laws:
        raise InputError("laws: name at least one law (registry.law_choices())")
    distinct_laws(laws)
    curves = [law for law in laws if law_for(law).reads_checkpoints]
    if curves:  # it failed on the run table's missing 'step', naming `fit schedule-law`
        raise InputError(f"laws: {curves[0]} fits whole loss curves of a checkpoint table, not a "
                         "table of runs; compare laws of runs (kaplan, chinchilla, ...), and fit it "
                         f"alone: fit_law(checkpoints, '{curves[0]}') or `scalefit fit schedule-law`")
    first = law_for(laws[0])
    checked = "chinchilla" if first.predicts_loss else first.law_name
    table = validate_runs(runs, checked, loss=loss, source=source)
    mask = held_out_mask(table.C, holdout, min_fit=max(law_for(n).n_free for n in laws) + 1)
    # held-out runs' compute as the budgets state it (Kaplan's 6 N D with --params params_nonembed)
    train, held, held_flops = runs[~mask], runs[mask], budget_compute(table, checked)[mask]
    fits, held_errors, fitted_losses = {}, {}, []
    largest = smallest = float("nan")
    bases = {}  # law setting an allocation -> its compute basis, largest and smallest fitted run
    for name in laws:
        law = law_for(name)
        train_table = validate_runs(train, law.law_name, loss=loss, source=source)
        compute = budget_compute(train_table, law)
        largest = float(np.nanmax(compute))
        smallest = float(np.nanmin(compute))
        if law.sets_allocation():
            bases[name] = (compute_basis(train_table, law), largest, smallest)
        result = fit_law(train_table, law.law_name, loss=loss, delta=delta, n_bootstrap=n_bootstrap,
                         seed=seed, progress=progress, budgets=budgets if law.sets_allocation() else None,
                         held_flops=budget_compute(table, law)[mask], all_runs=table)
        if len(held):
            held_table = validate_runs(held, law.law_name, loss=loss, source=source,
                                       check_size=False)
            if law.predicts_loss:
                held_errors[name] = holdout_predictions(  # runs beside runs: the flops column
                    result, held_table, largest_fitted=float(np.nanmax(train_table.C)), seed=seed)
            else:
                held_errors[name] = holdout_errors(np.full(len(held_table.L), np.nan),
                                                   held_table.L)
                held_errors[name]["flops"] = held_table.C.tolist()
        fits[name] = result
        fitted_losses.append(tuple(np.asarray(train_table.L, float)))
    # paired only when every law was refitted to the same resamples of the same rows
    same_runs = len(set(fitted_losses)) == 1
    difference = allocation_difference(fits) if same_runs else None
    gap = n_convention_gap(train, fits, loss=loss, delta=delta, n_bootstrap=n_bootstrap,
                           seed=seed) if same_runs else None
    convention = common_convention(fits, table.frame)
    compute_bases = []
    if len({basis for basis, _, _ in bases.values()}) > 1:  # isoflop beside a law of 6 N_nonembed D
        rows, notes, compute_bases = mixed_budget_rows(fits, bases, budgets, table=table, mask=mask,
                                                       convention=convention)
        largest = compute_bases[0]["largest_fitted_flops"]
    else:
        if budgets is None:
            budgets = default_budgets([largest], held_flops)
        rows, notes = budget_rows(fits, budgets, frame=table.frame, largest_fitted=largest,
                                  held_flops=held_flops, convention=convention,
                                  smallest_fitted=smallest)
    for name, result in fits.items():  # compare's budgets: fit_law said it of its own, if it had to
        warning = sub_unit_optimum_warning(rows, f"{name}_")
        if warning and not any(w.endswith(SUB_UNIT_TAIL) for w in result.warnings):
            result.warnings.append(warning)
    explanation = explain_disagreement(table.frame, fits, difference, gap)
    stated = " ".join(explanation)
    for result in fits.values():  # a fit's warning the explanation states (N and D tied): once
        result.warnings = [w for w in result.warnings if f"{w[:1].upper()}{w[1:]}" not in stated]
    return Comparison(
        data=source, n_runs=int(len(runs)), n_fit=int(len(train)), n_holdout=int(len(held)),
        laws=list(laws), fits=fits, holdout=held_errors, budgets=rows,
        explanation=explanation,
        allocation_difference=difference, n_convention_gap=gap,
        published=published_constants(laws) if published else {},
        largest_fitted_flops=largest, convention=notes, budgets_given=given,
        compute_bases=compute_bases)


def published_constants(laws=None) -> dict[str, dict]:
    """{law: its published constants (Law.published: {source: {param: value}})} for those of
    ``laws`` (default: every law of the registry) that data/published_laws.toml has any for; a
    law with none is left out (compare printed a 'published constants' heading over nothing)."""
    names = list(REGISTRY) if laws is None else list(laws)
    return {name: rows for name in names if (rows := law_for(name).published())}


def common_convention(fits: dict[str, FitResult], frame: pd.DataFrame) -> str | None:
    """'params' (total N, what the table's flops count) whenever the table has total N: the
    same convention as each fit's own allocation budgets (``projection.budget_convention``)."""
    return budget_convention(frame)


def distinct_laws(laws, what: str = "laws") -> list[str]:
    """The registry names of ``laws``, refusing one named twice, an alias counting as its law's
    name (``["chinchilla", "hoffmann"]`` fitted one law twice and compared it with itself)."""
    names = [canonical_law(law) for law in laws]
    for i, name in enumerate(names):
        if name in names[:i]:
            first = laws[names.index(name)]
            same = (f"'{laws[i]}' is named twice" if str(laws[i]).lower() == str(first).lower()
                    else f"'{laws[i]}' is another name for '{first}' (law {name})")
            raise InputError(f"{what}: {same}; name each law once (got {' '.join(map(str, laws))})")
    return names


def budget_rows(fits: dict[str, FitResult], budgets, *, frame=None, largest_fitted: float,
                held_flops=(), convention: str | None = None,
                smallest_fitted: float = 0.0) -> tuple[list[dict], str]:
    """Per budget: its distance and kind (an extrapolation where any law's optimum lies outside
    the fitted runs' sizes or token counts: ``outside_fitted`` names the law), and each law's N*,
    D*, D*/N*, loss with 95% CIs (keys prefixed by the law's name); and the sentence saying what
    N means there."""
    per_law = {name: project(result, budgets, frame=frame, largest_fitted=largest_fitted,
                             held_flops=held_flops, convention=convention,
                             smallest_fitted=smallest_fitted)
               for name, result in fits.items()}
    rows = []
    for j, c in enumerate(budgets):
        kind, near = kind_of(c, held_flops, largest_fitted, smallest_fitted)
        row = BudgetRow(flops=float(c), times_largest_run=float(c / largest_fitted), kind=kind,
                        held_out_runs_near=near)
        row.law_kinds = {name: projected[j]["kind"] for name, projected in per_law.items() if projected}
        # one law's optimum outside the runs' sizes or token counts makes the row no interpolation
        outside = [f"{name} {projected[j]['outside_fitted']}" for name, projected in per_law.items()
                   if projected and "outside_fitted" in projected[j]]
        if outside:
            row.update(kind="extrapolation", outside_fitted="; ".join(outside))
        beyond = [f"{name} {projected[j]['outside_runs']}" for name, projected in per_law.items()
                  if projected and "outside_runs" in projected[j]]
        if kind == "prediction" and beyond:  # a held-out run checks the compute, not the optimum
            row.update(kind=BEYOND_RUNS, outside_runs="; ".join(beyond))
        for name, projected in per_law.items():
            if not projected:
                continue
            for key, value in projected[j].items():
                if key not in row:
                    row[f"{name}_{key}"] = value
        rows.append(row)
    return rows, convention_notes(fits, frame, convention)


def convention_notes(fits: dict[str, FitResult], frame, convention: str | None) -> str:
    """What N (and C) mean in the budget rows, said once where every law's is the same."""
    said = {name: n_convention_note(f, frame, convention) for name, f in fits.items()}
    if len(said) > 1 and len(set(said.values())) == 1:  # every law's N the same: said once
        return next(iter(said.values()))
    return "; ".join(f"{name}: {note}" for name, note in said.items())


def mixed_budget_rows(fits: dict[str, FitResult], bases: dict, budgets, *, table, mask,
                      convention: str | None) -> tuple[list[dict], str, list[dict]]:
    """Budget rows of laws whose budgets count compute differently (``bases``: law -> (its
    ``compute_basis``, largest and smallest fitted run in it)): IsoFLOP's optima are found at
    the flops column's budgets, a law of a non-embedding N with no total count beside it
    states C = 6 N_nonembed D, and no count of all parameters converts one into the other. So
    each basis gets rows of its own (``budget_rows``: its budgets, distances, kinds and
    held-out runs in that C), each row names it ('compute'), sorted by budget; with the notes
    and, per basis, its laws and largest fitted run."""
    groups: dict[str, list[str]] = {}
    for name, (basis, _, _) in bases.items():
        groups.setdefault(basis, []).append(name)
    rows, described = [], []
    for basis, names in groups.items():
        _, largest, smallest = bases[names[0]]
        held = budget_compute(table, law_for(fits[names[0]].law))[mask]
        own = budgets if budgets is not None else default_budgets([largest], held)
        part, _ = budget_rows({name: fits[name] for name in names}, own, frame=table.frame,
                              largest_fitted=largest, held_flops=held, convention=convention,
                              smallest_fitted=smallest)
        for row in part:  # in place: a BudgetRow keeps its law_kinds
            row["compute"] = basis
        rows += part
        described.append({"compute": basis, "laws": names, "largest_fitted_flops": largest})
    order = {basis: i for i, basis in enumerate(groups)}
    rows.sort(key=lambda row: (row["flops"], order[row["compute"]]))
    apart = "; ".join(f"{', '.join(b['laws'])} at C = {b['compute']}" for b in described)
    notes = (f"{convention_notes(fits, table.frame, convention)}; budgets on two bases, each row "
             f"saying its own ('C is'): {apart}; the same number of FLOPs on the two is not the "
             "same compute (no count of all parameters beside this N to convert one into the "
             "other)")
    return rows, notes, described


def _n_draws(fit: FitResult) -> int:
    return min((len(d) for d in (fit.draws or {}).values()), default=0)


def allocation_difference(fits: dict[str, FitResult]) -> dict | None:
    """The difference in allocation exponent a between the laws with the largest and the smallest
    a, with the 95% percentile interval of its per-resample values: each law refitted to the same
    resample of the same runs, so the interval holds what the two laws share (the two intervals'
    overlap is a far weaker test). None without aligned draws of a for both."""
    a = {n: f.extra.get("allocation", {}).get("a", np.nan) for n, f in fits.items()}
    finite = [n for n in fits if np.isfinite(a[n])]
    if len(finite) < 2:
        return None
    high, low = max(finite, key=lambda n: a[n]), min(finite, key=lambda n: a[n])
    resampled = [fits[n].allocation_draws or {} for n in (high, low)]
    if any(r.get("resampled") != "runs" for r in resampled):
        return None  # not both refitted to resamples of the runs: nothing to pair
    draws = [r["a"] for r in resampled]
    if len(draws[0]) != len(draws[1]):
        return None
    diff = np.asarray(draws[0], float) - np.asarray(draws[1], float)
    return {"laws": [high, low], "a_difference": float(a[high] - a[low]),
            "ci95": list(percentile_ci(diff)), "n_resamples": int(np.isfinite(diff).sum()),
            "share_at_or_below_zero": float(np.mean(diff[np.isfinite(diff)] <= 0))
            if np.isfinite(diff).any() else float("nan")}


def _readable(difference: dict | None) -> bool:
    """A paired difference whose interval a verdict may be read from (enough resamples)."""
    return (difference is not None and bool(np.all(np.isfinite(difference["ci95"])))
            and not too_few_resamples(difference["n_resamples"]))


def allocation_verdict(fits: dict[str, FitResult], difference: dict | None = None) -> tuple[str, str, str]:
    """('differ' | 'agree' | 'unknown', 'kaplan a = 0.87 [0.78, 0.91] vs ...', the law with the
    largest a). With the paired ``difference`` (``allocation_difference``: both laws refitted to
    the same resamples) 'differ' when its 95% interval excludes 0; without it only when the laws'
    own 95% intervals of a do not overlap. Only from MIN_RESAMPLES_FOR_VERDICT draws on
    ('unknown' below: the intervals are too rough). 'agree' means not told apart, not shown equal."""
    alloc = {n: f.extra.get("allocation", {}) for n, f in fits.items()}
    a = {n: al.get("a", np.nan) for n, al in alloc.items()}
    ci = {n: al.get("a_ci95") for n, al in alloc.items()}
    finite = [n for n in fits if np.isfinite(a[n])]
    more_n = max(finite, key=lambda n: a[n]) if finite else next(iter(fits))

    def text(n):
        c = ci[n]
        if not np.isfinite(a[n]):  # kaplan-n, kaplan-d, kaplan-c: 'a = nan' said nothing
            return f"{n} sets no allocation (it reads {', '.join(law_for(fits[n].law).needs)} only)"
        if c is not None and np.all(np.isfinite(c)):
            return f"{n} a = {a[n]:.2f} [{c[0]:.2f}, {c[1]:.2f}]"
        return f"{n} a = {a[n]:.2f}"
    a_text = " vs ".join(text(n) for n in fits)
    if len(finite) < 2 or any(ci[n] is None or not np.all(np.isfinite(ci[n])) for n in finite):
        return "unknown", a_text, more_n
    if any(too_few_resamples(_n_draws(fits[n])) for n in finite):
        return "unknown", a_text, more_n
    if _readable(difference):
        d_lo, d_hi = difference["ci95"]
        return ("differ" if d_lo > 0 or d_hi < 0 else "agree"), a_text, more_n
    return ("agree" if intervals_overlap(*(ci[n] for n in finite)) else "differ"), a_text, more_n


def _floor_text(fits: dict[str, FitResult], lowest: float) -> str:
    """The fitted irreducible loss beside the lowest observed loss, to the digits its bootstrap
    interval supports; one the runs do not pin down is said to be so, not quoted as a finding."""
    from scalefit.scaling.interval_text import interval_text
    from scalefit.scaling.laws.identifiability import NOT_IDENTIFIED, significant

    fit = next((f for f in fits.values() if "E" in f.params), None)
    if fit is None:
        return f"the lowest observed loss is {lowest:.3g}"
    e = fit.params["E"]
    status = fit.extra.get("identifiability", {}).get("E", {}).get("status")
    lo, hi = e.ci95
    # the interval rule (interval_text): '[1.8, 1.99]' read as two precisions of one interval
    ci = f" (95% CI {interval_text(lo, hi, e.value)})" if np.isfinite(lo) and np.isfinite(hi) else ""
    if status == NOT_IDENTIFIED:
        return (f"the irreducible loss E is not identified by these runs{ci}, so how much of the "
                f"flattening toward the lowest observed loss {lowest:.3g} is a floor they cannot say")
    shown = significant(e.value, status, e.ci95) if status else f"{e.value:.3g}"
    return (f"the fitted irreducible loss E = {shown}{ci} is {e.value / lowest:.0%} of "
            f"the lowest observed loss {lowest:.3g}")


def _in_sample_text(name: str, fit: FitResult) -> str:
    """'chinchilla RMSE(log L) 0.0087'; for a law with no loss surface (IsoFLOP) what it fits
    instead, where its RMSE printed 'nan'."""
    rmse = fit.extra.get("rmse_log", np.nan)
    if np.isfinite(rmse):
        return f"{name} RMSE(log L) {rmse:.4f}"
    if not law_for(fit.law).predicts_loss:
        return f"{name} no RMSE(log L) (it fits budget optima, not a loss surface)"
    return f"{name} RMSE(log L) not computed"


def explain_disagreement(frame: pd.DataFrame, fits: dict[str, FitResult],
                         difference: dict | None = None, gap: dict | None = None) -> list[str]:
    """Two sentences, computed from the runs, on why the two laws' allocations differ
    (``difference``: their paired difference in a, ``allocation_difference``, when both laws were
    refitted to the same resamples; the verdict then reads its interval; ``gap``: each law's a on
    each N count and that difference walked through the N convention and the functional form in
    both orders, ``n_convention_gap``)."""
    D = frame["D"].to_numpy(float)
    L = frame["L"].to_numpy(float)
    design = token_design(frame)
    verdict, a_text, more_n = allocation_verdict(fits, difference)
    paired = verdict != "unknown" and _readable(difference)
    if paired:
        high, low = difference["laws"]
        d_lo, d_hi = difference["ci95"]
        diff_text = (f"the difference {high} - {low} = {difference['a_difference']:.2f} "
                     f"[{d_lo:.2f}, {d_hi:.2f}] over the same resamples")
    draws = min((_n_draws(f) for f in fits.values()), default=0)
    undecided = (f"only {draws} bootstrap resamples, too few for 95% intervals to tell whether they "
                 f"differ: run with --bootstrap {MIN_RESAMPLES_FOR_VERDICT * 10}" if draws else
                 "no bootstrap intervals: run with --bootstrap to tell whether they differ")
    finite = [n for n, f in fits.items() if np.isfinite(f.extra.get("allocation", {}).get("a", np.nan))]
    comparable = len(finite) >= 2
    both_counts = {NONEMBED, TOTAL} <= set(frame.columns)
    # the gap's split is read in the first sentence where the table has both N counts
    split_shown = bool(gap) and comparable and both_counts
    if not comparable:
        undecided = "no two allocations to compare"  # not a matter of resamples
    if not comparable:  # a law of N or D alone sees no N-D trade-off and sets no allocation
        first = f"{a_text} ({undecided}); {_floor_text(fits, L.min())}."
    elif design["tied"]:
        tail = {"differ": f", with {more_n} putting more of extra compute into parameters " + (
                    f"({diff_text} excludes 0)." if paired else "(the 95% intervals do not overlap)."),
                "agree": (f"; {diff_text} includes 0, so these runs do not tell them apart." if paired
                          else ", which agree within their 95% intervals."),
                "unknown": f" ({undecided})."}[verdict]
        # each fit's warning of the design, said here once for them all (compare_laws drops it)
        tied = tied_design_warning(frame, law_for(fits[more_n].law)) or tied_text(design)
        first = f"{tied[:1].upper()}{tied[1:]}; {a_text}" + tail
    else:
        floor = _floor_text(fits, L.min())
        lo, hi = design["tpp"]
        seen = (f"{design['multi']} of the {design['sizes']} model sizes were "
                f"{design['trained']} at several token counts (tokens per parameter {lo:.3g} "
                f"to {hi:.3g}), so both laws see the N-D trade-off directly")
        if verdict == "differ":
            apart = f": {diff_text} excludes 0" if paired else " beyond their 95% intervals"
            flattening = f"{floor}, and a form without E reads that flattening as diminishing returns instead"
            # the reason follows the split of this very gap (given below) where it has intervals:
            # the form's E explanation only where the form's part excludes 0 on the gap's side
            split = (gap if split_shown and set(gap["laws"]) == ({*difference["laws"]} if paired else set(finite))
                     else None)
            beyond = parts_beyond_zero(split) if split else None
            side = "excludes 0 in the gap's direction"
            reason = (f": {flattening}" if beyond is None else {
                (CONVENTION,): f"; of the gap's split below, only the N convention's part {side}: these "
                               f"runs show the way N is counted widening the gap and cannot tell the "
                               f"form's part from 0; {floor}",
                (FORM,): f"; of the gap's split below, only the form's part {side}: {flattening}",
                (CONVENTION, FORM): f"; both parts of the gap's split below, the N convention's and the "
                                    f"form's, exclude 0 in the gap's direction: {flattening}",
                (): f"; neither part of the gap's split below {side}, so these runs cannot say whether "
                    f"the way N is counted or the form makes the gap; {floor}"}[tuple(beyond)])
            first = (f"{seen}, yet {a_text} differ{apart} ({more_n} puts more of extra compute into "
                     f"parameters){reason}.")
        elif verdict == "agree" and paired:
            first = (f"{seen}; {a_text}, and {diff_text} includes 0, so these runs do not tell "
                     f"the two allocations apart; {floor}.")
        elif verdict == "agree":
            first = f"{seen}, and {a_text} agree within their 95% intervals; {floor}."
        else:
            first = f"{seen}; {a_text} ({undecided}); {floor}."
    if comparable and both_counts:
        share = frame[NONEMBED].to_numpy(float) / frame[TOTAL].to_numpy(float)
        first = first[:-1] + (f"; Kaplan's N counts non-embedding parameters only, "
                              f"{share.min():.0%} to {share.max():.0%} of the total here"
                              + (f": {gap_sentence(gap)}." if gap else "."))
    sched = [c for c in SCHEDULE_COLUMNS if c in frame.columns]
    if not sched and {"steps", "batch_tokens"} <= set(frame.columns):
        frame = frame.assign(schedule_tokens=frame["steps"].astype(float)
                             * frame["batch_tokens"].astype(float))
        sched = ["schedule_tokens"]
    fit_text = ", ".join(_in_sample_text(n, f) for n, f in fits.items())
    if sched:
        total = frame[sched[0]].to_numpy(float)
        matched = int(np.sum(np.abs(total - D) <= 0.01 * D))
        second = (f"The learning-rate schedule spans the run's own length in {matched} of "
                  f"{len(D)} runs ({sched[0]}), " + (
                      "so short runs are not penalised by an unfinished decay" if matched == len(D)
                      else "so the other runs are read mid-schedule and look worse than a "
                           "matched run would, which biases the D exponent")
                  + f"; in-sample fit: {fit_text}.")
    elif "step" in frame.columns and "model" in frame.columns and \
            frame.groupby("model")["step"].nunique().max() > 1:
        per = frame.groupby("model")["step"].nunique()
        second = (f"Token counts come from intermediate checkpoints of one schedule per model "
                  f"({int(per.max())} checkpoints for the most-sampled model), not from runs "
                  f"whose schedule was matched to their length, which Porian et al. 2024 show "
                  f"pushes the fitted exponent toward Kaplan's; in-sample fit: {fit_text}.")
    else:
        second = (f"The table records no learning-rate schedule, so whether each run's schedule "
                  f"matched its length (Porian et al. 2024's main cause of the gap) cannot be "
                  f"checked; in-sample fit: {fit_text}.")
    return [first, second]

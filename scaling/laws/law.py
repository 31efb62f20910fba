"""What a scaling law is to scalefit: one ``Law`` class per law (lmfit's pattern, a plain function
of log L wrapped in a small ``lmfit.Model`` subclass) carrying everything the engine, the run-table
check, the allocation, the CLI and the reports ask of it.

A law module defines its classes and ends with ``LAWS = (...)``; `registry.py` lists the module.
The class attributes say what the run table must hold (``needs``; a variable other than N, D, C
comes from the column named in ``columns``), how the parameters are named and bounded, and how
many there are; the methods give the starting points (``starts``/``guess``), the loss surface
(``predict``), the compute-optimal frontier (``log_frontier``, ``exponents``) and the published
constants (``published``). A law fitted by another procedure than the log-space Huber engine
(IsoFLOP, Approach 2) defines ``fit_runs``.
"""
from __future__ import annotations

import inspect

import lmfit
import numpy as np

from scalefit.scaling.objective import HUBER_DELTA
from scalefit.schema import FLOPS_PER_PARAM_TOKEN

TINY = 1e-300
CANONICAL_VARIABLES = ("N", "D", "C")  # what the run-table check derives for every law


def safe_log(x):
    """log with a floor, so a non-positive prediction gives a huge residual instead of NaN."""
    return np.log(np.maximum(x, TINY))


class Law(lmfit.Model):
    """A scaling law as an lmfit Model of log L, with the paper's parameter names.

    Scale parameters listed in ``log_scales`` vary as their logarithms (``log_A``) and carry the
    paper's name (``A``) as a derived parameter, so lmfit reports both.
    """

    law_name: str = ""  # the engine's name: `scalefit fit NAME`, FitResult.law
    aliases: tuple[str, ...] = ()  # other names a user may type (`kaplan`, `hoffmann`)
    function = None  # log L as a plain function of the variables, then the parameters
    needs: tuple[str, ...] = ("N", "D")  # variables the law reads from the run table
    independent: tuple[str, ...] = ()  # the function's data arguments, when not ``needs``
    columns: dict[str, str] = {}  # run-table column of each variable beyond N, D, C
    nonembedding_n: bool = False  # N counts non-embedding parameters when the table has them
    predicts_loss: bool = True  # False: the law sets an allocation but no loss surface L(N, D)
    paper_names: tuple[str, ...] = ()
    log_scales: tuple[str, ...] = ()  # paper names that vary as log_<name>
    # {scale: the exponent that shapes its term}: the law's reducible terms, each gone with its
    # scale at 0 (Chinchilla's A/N^alpha, B/D^beta); calibrate.vanished_terms judges a law of two
    # or more, so a law that names none is never judged
    terms: dict[str, str] = {}
    bounds: dict = {}
    fit_runs = None  # a method (runs, **fit options) -> FitResult replacing the generic engine
    reads_checkpoints: bool = False  # True: fit_runs takes a checkpoint table as it is, not a run table

    def __init__(self, **kwargs):
        super().__init__(type(self).function,
                         independent_vars=list(self.independent or self.needs), **kwargs)
        for name, (lo, hi) in self.bounds.items():
            self.set_param_hint(name, min=lo, max=hi)
        for name in self.log_scales:
            self.set_param_hint(name, expr=f"exp(log_{name})")

    # --- what the run table must hold --------------------------------------------------------

    @classmethod
    def extra_variables(cls) -> tuple[str, ...]:
        """Variables read from their own columns (``columns``), beyond N, D and C."""
        return tuple(v for v in cls.needs if v not in CANONICAL_VARIABLES)

    @classmethod
    def check_runs(cls, frame, source: str, df) -> None:
        """A law's own rule on the validated columns of ``frame`` (``df``: the file's table, for
        row numbers), an InputError naming the rows that break it; none by default."""

    def free_params(self) -> list[str]:
        """The fitted (log-scale) parameter names: the function's arguments, in order."""
        args = inspect.signature(self.func).parameters
        return [name for name in args if name not in self.independent_vars]

    @property
    def n_free(self) -> int:
        return len(self.free_params())

    # --- starting points ---------------------------------------------------------------------

    def params_from(self, values: dict) -> lmfit.Parameters:
        """Parameters set from paper-named values (A, not log_A)."""
        params = self.make_params()
        for name, value in values.items():
            if name in self.log_scales:
                params[f"log_{name}"].set(value=float(np.log(value)))
            elif name in params:
                params[name].set(value=float(value))
        return params

    def paper_values(self, values: dict) -> dict:
        """Paper-named values from fitted ones (exp of each log scale)."""
        return {name: np.exp(values[f"log_{name}"]) if name in self.log_scales else values[name]
                for name in self.paper_names}

    def guess(self, data, **indep):
        """The best start for loss ``data`` (not log) at the independent variables."""
        return self.starts(data, k=1, **indep)[0]

    def starts(self, data, k=4, delta=HUBER_DELTA, **indep):  # pragma: no cover - each law's own
        raise NotImplementedError

    # --- what a fitted law says --------------------------------------------------------------

    def predict(self, values: dict, N, D, k: float = FLOPS_PER_PARAM_TOKEN, **extra):
        """Loss at (N, D) from paper-named values; C = k N D where the law reads compute."""
        raise ValueError(f"law '{self.law_name}' gives no loss surface L(N, D) to predict from")

    def log_frontier(self, values: dict, flops, k: float = FLOPS_PER_PARAM_TOKEN):
        """log N*(C), the compute-optimal size (NaN where the law has no N-D trade-off)."""
        return np.full(np.shape(np.asarray(flops, float)), np.nan)

    def exponents(self, values: dict) -> tuple[float, float]:
        """(a, b) with N* ~ C^a and D* ~ C^b; NaN for a law with a single input."""
        return float("nan"), float("nan")

    @classmethod
    def sets_allocation(cls) -> bool:
        """Whether the law has a compute-optimal frontier N*(C) (its own ``log_frontier``): a law
        of one variable (kaplan-n) or of the LR schedule (momentum) has none to project."""
        return cls.log_frontier is not Law.log_frontier

    def published(self) -> dict[str, dict]:
        """{source label: {param: value, 'a': .., 'b': ..}} from data/published_laws.toml."""
        return {}

    def param_units(self) -> str:
        """The units of the parameters that carry one (N_c in parameters, C_c in FLOPs), as
        the fit's text says them; '' where none does."""
        return ""

    def published_notes(self) -> list[str]:
        """What a reader of ``published()`` must know that its numbers do not say (a value
        derived here where the paper prints another); none by default."""
        return []


def allocation_exponents(values: dict, n_exponent: str, d_exponent: str) -> tuple[float, float]:
    """(a, b) of a law whose loss falls as N^-n_exponent and D^-d_exponent: a = d/(n+d)."""
    s = values[n_exponent] + values[d_exponent]
    return values[d_exponent] / s, values[n_exponent] / s

"""What the schedule-aware laws share: a ``Law`` of whole loss curves (not of a run table's
final losses), linear in some parameters once the others are fixed.

A schedule law's function reads per-point independent variables built from ``LossCurves``
(``independent_values``) and is linear in ``linear`` paper parameters given the rest, so its
starts are a grid over the nonlinear ones with the linear ones solved by least squares
(variable projection, as for the Chinchilla form); the engine then refines the best few with
the log-space Huber objective. With model size (``by_size``), the law's L0 and A become power
laws of N: L0(N) = E + K (N/N_REF)^-a and A(N) = A (N/N_REF)^-b, all else shared, so one fit
covers a suite whose runs differ in size (and peak LR).
"""
from __future__ import annotations

import itertools

import numpy as np

from scalefit.scaling.laws.law import CANONICAL_VARIABLES, Law
from scalefit.scaling.laws.varpro import huber_grid, top_k
from scalefit.scaling.objective import HUBER_DELTA

N_REF = 1e6  # N is read in units of a million parameters in the size-dependent forms
LOG_BOUND = (np.log(1e-12), np.log(1e12))
ALPHA_GRID = (0.1, 0.2, 0.35, 0.5, 0.7, 0.9, 1.2, 1.6)
A_GRID = (0.1, 0.3, 0.6, 1.0, 1.5)  # a: L0(N) exponent
B_GRID = (-0.5, 0.0, 0.3, 0.7)  # b: A(N) exponent


def size_terms(N, a, b):
    """(N/N_REF)^-a and (N/N_REF)^-b."""
    n = np.asarray(N, float) / N_REF
    return n ** (-a), n ** (-b)


class ScheduleLaw(Law):
    """A law L(step) of the LR schedule; ``by_size`` variants add N as an input."""

    # run-table variables: what the law reads of N, D, C (``__init_subclass__``), so a one-size
    # law fits a checkpoint table with no params column and a by-size law demands one
    needs: tuple[str, ...] = ()
    predicts_loss = False  # no surface L(N, D): a loss curve of a schedule instead
    reads_checkpoints = True  # fit_law gives fit_runs the table of checkpoints (model, step, lr, loss)
    by_size = False
    linear: tuple[str, ...] = ()  # paper names of the parameters the loss is linear in
    annealing: tuple[str, ...] = ()  # paper names of the loss-drop term's parameters
    # {scale: the parameters of its term}: a scale at its lower bound (~1e-12) zeroes its term,
    # and they are then not estimated (the fit leaves them at the grid's start)
    carried: dict = {}
    base_law = ""  # the law without N (for a by-size variant)
    n_refined = 4  # best grid starts refined by the full fit

    def __init_subclass__(cls, **kwargs):
        """``needs`` from ``independent``: N for a by-size law, nothing for a law of one size
        (a law that sets ``needs`` itself keeps it)."""
        super().__init_subclass__(**kwargs)
        if "needs" not in cls.__dict__:
            cls.needs = tuple(v for v in cls.independent if v in CANONICAL_VARIABLES)

    # --- what a subclass gives ----------------------------------------------------------------

    def independent_values(self, curves) -> dict:  # pragma: no cover - each law's own
        raise NotImplementedError

    def basis(self, indep: dict, nonlinear: dict) -> np.ndarray:  # pragma: no cover
        """(n_points, len(linear)) columns with L = basis @ (linear values)."""
        raise NotImplementedError

    def nonlinear_grid(self) -> list[dict]:  # pragma: no cover
        raise NotImplementedError

    # --- shared ------------------------------------------------------------------------------

    def loss_curve(self, values: dict, curves) -> np.ndarray:
        """Loss at each point of ``curves`` from paper-named values."""
        params = self.params_from(values)
        indep = self.independent_values(curves)
        return np.exp(self.eval(params, **indep))

    def starts(self, data, k=4, delta=HUBER_DELTA, **indep):
        """Variable projection: the nonlinear grid, the linear parameters by least squares
        (scales clipped positive), the ``k`` best by the Huber objective on log L."""
        L = np.asarray(data, float)
        cand, preds = [], []
        for nl in self.nonlinear_grid():
            X = self.basis(indep, nl)
            if not np.all(np.isfinite(X)):
                continue
            coef, *_ = np.linalg.lstsq(X, L, rcond=None)
            values, used = dict(nl), []
            for name, c in zip(self.linear, coef):
                fitted = f"log_{name}" if name in self.log_scales else name
                lo, hi = self.param_hints[fitted]["min"], self.param_hints[fitted]["max"]
                value = float(np.log(max(c, 1e-300))) if name in self.log_scales else float(c)
                value = float(np.clip(value, lo + 1e-6 * (1 + abs(lo)), hi - 1e-6 * (1 + abs(hi))))
                values[fitted] = value
                used.append(np.exp(value) if name in self.log_scales else value)
            cand.append(values)
            preds.append(np.log(np.maximum(X @ np.asarray(used), 1e-300)))
        obj = huber_grid(np.log(L), np.stack(preds), delta)
        out = []
        for i in top_k(obj, k):
            params = self.make_params()
            for name in self.free_params():
                params[name].set(value=float(cand[i][name]))
            out.append(params)
        return out


def grid(**axes) -> list[dict]:
    """Every combination of the named axes, as dicts."""
    names = list(axes)
    return [dict(zip(names, combo)) for combo in itertools.product(*axes.values())]


def _fit_runs(self, runs, *, loss="loss", delta=HUBER_DELTA, n_bootstrap=0, seed=0, progress=False,
              **options):
    """The registry's hook: a table of checkpoints (model, step, lr, loss) -> FitResult."""
    from scalefit.scaling.laws.curve_fit import fit_curves
    from scalefit.scaling.laws.curves import curves_from_table, loss_rows
    from scalefit.tables import as_table
    frame = getattr(runs, "frame", runs)  # a RunTable from `scalefit fit LAW`
    frame, _ = as_table(frame, None)  # a DataFrame, a path, row dicts
    base, by_size = self.law_name.removesuffix("-n"), self.law_name.endswith("-n")
    also = f", alias {' or '.join(self.aliases)}," if self.aliases else ""
    source = (f"{getattr(runs, 'source', '<table>')} (law {self.law_name}{also} fits whole loss "
              f"curves: `scalefit fit schedule-law --law {base}{' --by-size' if by_size else ''}`"
              " reads a checkpoint table, the shipped one by default)")
    curves = curves_from_table(loss_rows(frame, loss, source=source))
    return fit_curves(curves, self.law_name, delta=delta, n_bootstrap=n_bootstrap, seed=seed,
                      progress=progress)


ScheduleLaw.fit_runs = _fit_runs

"""lmfit models of the scaling laws, fitted in log space, each with a data-driven ``guess``.

Each model evaluates log L(N, D) of one law in `scaling/laws.py`, so lmfit's residual is the
log residual the field fits. Scale parameters (A, B, N_c, D_c, C_c) vary as their logarithms
(``log_A`` ...) with the paper's name as a derived parameter, so lmfit reports both. ``starts``
returns the best few starting points: for the Chinchilla and Kaplan L(N, D) forms a grid over the
exponents with non-negative least squares for the linear coefficients (variable projection).
"""
from __future__ import annotations

import itertools

import lmfit
import numpy as np

from scalefit.scaling.laws import forms as law_forms
from scalefit.scaling.objective import huber

_TINY = 1e-300


def _log(x):
    return np.log(np.maximum(x, _TINY))


def log_kaplan_n(N, log_N_c, alpha_N):
    """log of Kaplan's L(N) = (N_c/N)^alpha_N."""
    return alpha_N * (log_N_c - np.log(N))


def log_kaplan_d(D, log_D_c, alpha_D):
    """log of Kaplan's L(D) = (D_c/D)^alpha_D."""
    return alpha_D * (log_D_c - np.log(D))


def log_kaplan_c(C, log_C_c, alpha_C):
    """log of Kaplan's L(C) = (C_c/C)^alpha_C."""
    return alpha_C * (log_C_c - np.log(C))


def log_kaplan_nd(N, D, log_N_c, log_D_c, alpha_N, alpha_D):
    """log of Kaplan's L(N, D), computed without overflow for N_c ~ 1e13."""
    t1 = (alpha_N / alpha_D) * (log_N_c - np.log(N))
    t2 = log_D_c - np.log(D)
    return alpha_D * np.logaddexp(t1, t2)


def log_kaplan_nde(N, D, E, log_N_c, log_D_c, alpha_N, alpha_D):
    """log of Kaplan's L(N, D) plus an irreducible term E (Brandfonbrener et al. 2024)."""
    return _log(E + np.exp(log_kaplan_nd(N, D, log_N_c, log_D_c, alpha_N, alpha_D)))


def log_chinchilla(N, D, E, log_A, log_B, alpha, beta):
    """log of Hoffmann's L(N, D) = E + A/N^alpha + B/D^beta."""
    return _log(law_forms.chinchilla(N, D, E, np.exp(log_A), np.exp(log_B), alpha, beta))


# --- non-negative least squares over a batch of design matrices (k <= 3 columns) -------------

def batched_nnls(X, y, w):
    """Solve min ||w (X c - y)|| with c >= 0 for every design X[g] (g, n, k); exact for small k.

    Enumerates the active sets (2^k - 1 of them), solves each restricted least-squares problem by
    its normal equations in one batched call, and keeps the feasible one with least residual.
    Returns (coef (g, k), rss (g,)).
    """
    X = np.asarray(X, float)
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        return _batched_nnls(X, y, w)


def _batched_nnls(X, y, w):
    G, n, k = X.shape
    Xw = X * w[None, :, None]
    yw = y * w
    best = np.full(G, np.inf)
    coef = np.zeros((G, k))
    for size in range(1, k + 1):
        for cols in itertools.combinations(range(k), size):
            Xs = Xw[:, :, cols]
            XtX = np.einsum("gni,gnj->gij", Xs, Xs)
            Xty = np.einsum("gni,n->gi", Xs, yw)
            XtX = XtX + 1e-12 * np.trace(XtX, axis1=1, axis2=2)[:, None, None] * np.eye(size)
            try:
                c = np.linalg.solve(XtX, Xty[..., None])[..., 0]
            except np.linalg.LinAlgError:
                continue
            resid = np.einsum("gni,gi->gn", Xs, c) - yw
            rss = np.einsum("gn,gn->g", resid, resid)
            ok = np.all(c >= 0, axis=1) & np.isfinite(rss) & (rss < best)
            best = np.where(ok, rss, best)
            full = np.zeros((G, k))
            full[:, cols] = c
            coef = np.where(ok[:, None], full, coef)
    return coef, best


def _top_k(objective, k):
    order = np.argsort(np.where(np.isfinite(objective), objective, np.inf))
    return [int(i) for i in order[:k] if np.isfinite(objective[i])]


# --- the models --------------------------------------------------------------------------------

class ScalingModel(lmfit.Model):
    """An lmfit Model of log L with the paper's parameter names derived from the log-scale ones."""

    paper_names: tuple[str, ...] = ()
    log_scales: tuple[str, ...] = ()  # paper names that vary as log_<name>
    bounds: dict = {}

    def __init__(self, func, independent_vars, **kwargs):
        super().__init__(func, independent_vars=list(independent_vars), **kwargs)
        for name, (lo, hi) in self.bounds.items():
            self.set_param_hint(name, min=lo, max=hi)
        for name in self.log_scales:
            self.set_param_hint(name, expr=f"exp(log_{name})")

    def params_from(self, values: dict) -> lmfit.Parameters:
        """Parameters set from paper-named values (A, not log_A)."""
        params = self.make_params()
        for name, value in values.items():
            if name in self.log_scales:
                params[f"log_{name}"].set(value=float(np.log(value)))
            elif name in params:
                params[name].set(value=float(value))
        return params

    def guess(self, data, **indep):
        """The best start for loss ``data`` (not log) at the independent variables."""
        return self.starts(data, k=1, **indep)[0]

    def starts(self, data, k=4, **indep):  # pragma: no cover - overridden
        raise NotImplementedError


class _OneVariablePowerLaw(ScalingModel):
    """L = (X_c/X)^alpha: a straight line in log-log, so least squares gives the exact start."""

    var = "N"
    exponent = "alpha_N"
    scale = "N_c"

    def starts(self, data, k=4, **indep):
        x = np.log(np.asarray(indep[self.var], float))
        y = np.log(np.asarray(data, float))
        slope, icpt = np.polyfit(x, y, 1) if np.ptp(x) > 0 else (-0.05, y.mean())
        alpha = max(-slope, 1e-4)
        return [self.params_from({self.exponent: alpha, self.scale: np.exp(icpt / alpha)})]


class KaplanNModel(_OneVariablePowerLaw):
    """Kaplan et al. 2020 L(N) = (N_c/N)^alpha_N."""

    paper_names = ("N_c", "alpha_N")
    log_scales = ("N_c",)
    bounds = {"alpha_N": (1e-4, 3.0), "log_N_c": (-50, 500)}

    def __init__(self, **kwargs):
        super().__init__(log_kaplan_n, ["N"], **kwargs)


class KaplanDModel(_OneVariablePowerLaw):
    """Kaplan et al. 2020 L(D) = (D_c/D)^alpha_D."""

    paper_names = ("D_c", "alpha_D")
    log_scales = ("D_c",)
    bounds = {"alpha_D": (1e-4, 3.0), "log_D_c": (-50, 500)}
    var, exponent, scale = "D", "alpha_D", "D_c"

    def __init__(self, **kwargs):
        super().__init__(log_kaplan_d, ["D"], **kwargs)


class KaplanCModel(_OneVariablePowerLaw):
    """Kaplan et al. 2020 L(C) = (C_c/C)^alpha_C."""

    paper_names = ("C_c", "alpha_C")
    log_scales = ("C_c",)
    bounds = {"alpha_C": (1e-4, 3.0), "log_C_c": (-50, 500)}
    var, exponent, scale = "C", "alpha_C", "C_c"

    def __init__(self, **kwargs):
        super().__init__(log_kaplan_c, ["C"], **kwargs)


def _huber_grid(logL, logpred, delta):
    return huber(logL[None, :] - logpred, delta).sum(axis=1)


class KaplanNDModel(ScalingModel):
    """Kaplan et al. 2020 L(N, D) = [(N_c/N)^(alpha_N/alpha_D) + D_c/D]^alpha_D."""

    paper_names = ("N_c", "D_c", "alpha_N", "alpha_D")
    log_scales = ("N_c", "D_c")
    bounds = {"alpha_N": (1e-4, 3.0), "alpha_D": (1e-4, 3.0),
              "log_N_c": (-50, 500), "log_D_c": (-50, 500)}
    with_E = False

    def __init__(self, **kwargs):
        super().__init__(log_kaplan_nd, ["N", "D"], **kwargs)

    def starts(self, data, k=4, N=None, D=None, delta=1e-3):
        """Grid over (alpha_N, alpha_D) [and E]; L'^(1/alpha_D) is linear in (N_c^p, D_c)."""
        L = np.asarray(data, float)
        N = np.asarray(N, float)
        D = np.asarray(D, float)
        logL = np.log(L)
        a_grid = np.geomspace(0.02, 1.5, 18)
        e_grid = L.min() * np.array([0.0, 0.3, 0.5, 0.7, 0.8, 0.9, 0.95]) if self.with_E else [0.0]
        cand = []
        for E in e_grid:
            excess = L - E
            for aD in a_grid:
                # y = excess^(1/aD) = c1 * N^(-aN/aD) + c2 / D, with c1 = N_c^(aN/aD), c2 = D_c
                logy = np.log(excess) / aD
                shift = logy.max()
                y = np.exp(logy - shift)  # scaled to avoid overflow; coefficients scale too
                p = a_grid / aD
                logN0 = np.log(N).mean()
                X = np.stack([np.exp(-np.outer(p, np.log(N) - logN0)),
                              np.broadcast_to(np.exp(-(np.log(D) - np.log(D).mean())),
                                              (len(p), len(N)))], axis=2)
                coef, _ = batched_nnls(X, y, 1.0 / y)
                with np.errstate(divide="ignore", invalid="ignore"):
                    log_c1 = np.log(coef[:, 0]) + shift + p * logN0
                    log_c2 = np.log(coef[:, 1]) + shift + np.log(D).mean()
                    log_Nc = log_c1 / p
                for i, aN in enumerate(a_grid):
                    if coef[i, 0] > 0 and coef[i, 1] > 0:
                        cand.append((E, log_Nc[i], log_c2[i], aN, aD))
        if not cand:
            cand = [(0.0, np.log(1e13), np.log(1e13), 0.076, 0.095)]
        cand = np.array(cand)
        logpred = np.stack([log_kaplan_nde(N, D, *row) for row in cand])
        obj = _huber_grid(logL, logpred, delta)
        out = []
        for i in _top_k(obj, k):
            E, lNc, lDc, aN, aD = cand[i]
            params = self.make_params()
            values = {"log_N_c": lNc, "log_D_c": lDc, "alpha_N": aN, "alpha_D": aD, "E": E}
            for name, value in values.items():
                if name in params:
                    params[name].set(value=float(value))
            out.append(params)
        return out


class KaplanNDEModel(KaplanNDModel):
    """Kaplan's L(N, D) plus an irreducible term E (Brandfonbrener et al. 2024, loss-to-loss)."""

    paper_names = ("E", "N_c", "D_c", "alpha_N", "alpha_D")
    bounds = dict(KaplanNDModel.bounds, E=(0.0, np.inf))
    with_E = True

    def __init__(self, **kwargs):
        ScalingModel.__init__(self, log_kaplan_nde, ["N", "D"], **kwargs)


class ChinchillaModel(ScalingModel):
    """Hoffmann et al. 2022 L(N, D) = E + A/N^alpha + B/D^beta (Approach 3)."""

    paper_names = ("E", "A", "B", "alpha", "beta")
    log_scales = ("A", "B")
    bounds = {"E": (0.0, np.inf), "alpha": (1e-4, 3.0), "beta": (1e-4, 3.0),
              "log_A": (-50, 200), "log_B": (-50, 200)}

    def __init__(self, **kwargs):
        super().__init__(log_chinchilla, ["N", "D"], **kwargs)

    def starts(self, data, k=4, N=None, D=None, delta=1e-3):
        """Variable projection: for each (alpha, beta) on a grid, (E, A, B) >= 0 by weighted NNLS.

        L is linear in (E, A, B) once the exponents are fixed, so the grid search is over two
        dimensions only; weights 1/L make the squared error approximate the log residual.
        Returns the ``k`` grid points with the lowest Huber objective as lmfit Parameters.
        """
        L = np.asarray(data, float)
        N = np.asarray(N, float)
        D = np.asarray(D, float)
        grid = np.linspace(0.05, 1.5, 30)
        al, be = (g.ravel() for g in np.meshgrid(grid, grid, indexing="ij"))
        lnN = np.log(N) - np.log(N).mean()  # centre so columns stay O(1); rescale after
        lnD = np.log(D) - np.log(D).mean()
        X = np.stack([np.ones((al.size, N.size)), np.exp(-np.outer(al, lnN)),
                      np.exp(-np.outer(be, lnD))], axis=2)
        coef, _ = batched_nnls(X, L, 1.0 / L)
        E = coef[:, 0]
        with np.errstate(divide="ignore"):
            log_A = np.log(coef[:, 1]) + al * np.log(N).mean()
            log_B = np.log(coef[:, 2]) + be * np.log(D).mean()
        log_A = np.where(np.isfinite(log_A), log_A, -20.0)
        log_B = np.where(np.isfinite(log_B), log_B, -20.0)
        logpred = _log(E[:, None] + np.exp(log_A[:, None] - np.outer(al, np.log(N)))
                       + np.exp(log_B[:, None] - np.outer(be, np.log(D))))
        obj = _huber_grid(np.log(L), logpred, delta)
        out = []
        for i in _top_k(obj, k):
            params = self.make_params()
            for name, value in (("E", E[i]), ("log_A", log_A[i]), ("log_B", log_B[i]),
                                ("alpha", al[i]), ("beta", be[i])):
                params[name].set(value=float(value))
            out.append(params)
        return out


MODELS = {"kaplan-n": KaplanNModel, "kaplan-d": KaplanDModel, "kaplan-c": KaplanCModel,
          "kaplan-nd": KaplanNDModel, "kaplan-nde": KaplanNDEModel, "chinchilla": ChinchillaModel}


def model_for(law: str) -> ScalingModel:
    """The lmfit model of a law by its engine name."""
    return MODELS[law]()

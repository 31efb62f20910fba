"""Kaplan et al. 2020, "Scaling Laws for Neural Language Models" (arXiv:2001.08361): L(N), L(D),
L(C), L(N, D), and L(N, D) plus an irreducible term E (Brandfonbrener et al. 2024).

N counts non-embedding parameters, as Kaplan et al. count it, when the run table has
``params_nonembed``. Each law is fitted in log space; the plain formulas are in `forms.py`.
"""
from __future__ import annotations

import numpy as np

from scalefit.scaling.laws import forms as law_forms
from scalefit.scaling.laws.bootstrap import point_columns
from scalefit.scaling.laws.law import Law, allocation_exponents, safe_log
from scalefit.scaling.laws.published import published_laws
from scalefit.scaling.laws.varpro import batched_nnls, huber_grid, top_k
from scalefit.scaling.objective import HUBER_DELTA
from scalefit.schema import FLOPS_PER_PARAM_TOKEN


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
    """log of Kaplan's L(N, D) plus an irreducible term E (Brandfonbrener et al. 2024).

    As logaddexp(log E, log L_Kaplan): a trial step with a large exponent must not overflow
    exp() into NaN (it aborted about 15% of fits on synthetic data)."""
    return np.logaddexp(safe_log(E), log_kaplan_nd(N, D, log_N_c, log_D_c, alpha_N, alpha_D))


class _OneVariablePowerLaw(Law):
    """L = (X_c/X)^alpha: a straight line in log-log, so least squares gives the exact start."""

    nonembedding_n = True
    form = None  # the plain formula of forms.py, L(X, X_c, alpha)
    exponent = "alpha_N"
    scale = "N_c"

    def predict(self, values, N, D, k=FLOPS_PER_PARAM_TOKEN, **extra):
        """L at the law's one input: N, D, or C = k N D; broadcast over (N, D)."""
        N = np.asarray(N, float)
        D = np.asarray(D, float)
        x = {"N": N, "D": D, "C": k * N * D}[self.needs[0]]
        return type(self).form(x, values[self.scale], values[self.exponent]) * np.ones_like(N * D)

    def starts(self, data, k=4, delta=HUBER_DELTA, **indep):
        x = np.log(np.asarray(indep[self.needs[0]], float))
        y = np.log(np.asarray(data, float))
        slope, icpt = np.polyfit(x, y, 1) if np.ptp(x) > 0 else (-0.05, y.mean())
        alpha = max(-slope, 1e-4)
        with np.errstate(over="ignore"):  # a flat loss: the scale's start overflows to inf, which
            scale = np.exp(icpt / alpha)  # the parameter's bound then caps
        return [self.params_from({self.exponent: alpha, self.scale: scale})]


class KaplanN(_OneVariablePowerLaw):
    """Kaplan et al. 2020 L(N) = (N_c/N)^alpha_N (eq. 1.1): models trained to convergence."""

    law_name = "kaplan-n"
    function = staticmethod(log_kaplan_n)
    needs = ("N",)
    paper_names = ("N_c", "alpha_N")
    log_scales = ("N_c",)
    bounds = {"alpha_N": (1e-4, 3.0), "log_N_c": (-50, 500)}
    form = staticmethod(law_forms.kaplan_n)

    def param_units(self):
        return "N_c in parameters"


class KaplanD(_OneVariablePowerLaw):
    """Kaplan et al. 2020 L(D) = (D_c/D)^alpha_D (eq. 1.2): large models, early stopping."""

    law_name = "kaplan-d"
    function = staticmethod(log_kaplan_d)
    needs = ("D",)
    paper_names = ("D_c", "alpha_D")
    log_scales = ("D_c",)
    bounds = {"alpha_D": (1e-4, 3.0), "log_D_c": (-50, 500)}
    form = staticmethod(law_forms.kaplan_d)
    exponent, scale = "alpha_D", "D_c"

    def param_units(self):
        return "D_c in tokens"


class KaplanC(_OneVariablePowerLaw):
    """Kaplan et al. 2020 L(C) = (C_c/C)^alpha_C (eq. 1.3); C = k N D when predicting."""

    law_name = "kaplan-c"
    function = staticmethod(log_kaplan_c)
    needs = ("C",)
    paper_names = ("C_c", "alpha_C")
    log_scales = ("C_c",)
    bounds = {"alpha_C": (1e-4, 3.0), "log_C_c": (-50, 500)}
    form = staticmethod(law_forms.kaplan_c)
    exponent, scale = "alpha_C", "C_c"

    def param_units(self):
        """C_c in FLOPs, where Kaplan et al. give theirs in PF-days: a fitted 4.4e+27 beside
        their 3.1e8 read as 19 decades apart, not a factor of 6."""
        k = published_laws()["kaplan2020"]
        return (f"C_c in FLOPs (Kaplan et al. 2020 give C_c = {k['kaplan-c']['C_c_pf_days']:.3g} "
                f"PF-days = {k['kaplan-c']['C_c_pf_days'] * k['allocation']['pf_day_flops']:.3g} "
                f"FLOPs; 1 PF-day = {k['allocation']['pf_day_flops']:.3g} FLOPs)")


class KaplanND(Law):
    """Kaplan et al. 2020 L(N, D) = [(N_c/N)^(alpha_N/alpha_D) + D_c/D]^alpha_D (eq. 1.5)."""

    law_name = "kaplan-nd"
    aliases = ("kaplan",)
    function = staticmethod(log_kaplan_nd)
    nonembedding_n = True
    paper_names = ("N_c", "D_c", "alpha_N", "alpha_D")
    log_scales = ("N_c", "D_c")
    terms = {"N_c": "alpha_N", "D_c": "alpha_D"}  # (N_c/N)^(alpha_N/alpha_D) and D_c/D
    bounds = {"alpha_N": (1e-4, 3.0), "alpha_D": (1e-4, 3.0),
              "log_N_c": (-50, 500), "log_D_c": (-50, 500)}
    with_E = False

    def param_units(self):
        return "N_c in parameters, D_c in tokens"

    def starts(self, data, k=4, delta=HUBER_DELTA, N=None, D=None):
        """Grid over (alpha_N, alpha_D) [and E]; L'^(1/alpha_D) is linear in (N_c^p, D_c)."""
        L = np.asarray(data, float)
        N = np.asarray(N, float)
        D = np.asarray(D, float)
        logL = np.log(L)
        logN, logD = np.log(N), np.log(D)
        logN0, logD0 = logN.mean(), logD.mean()
        a_grid = np.geomspace(0.02, 1.5, 18)
        n_a = a_grid.size
        e_grid = L.min() * np.array([0.0, 0.3, 0.5, 0.7, 0.8, 0.9, 0.95]) if self.with_E else [0.0]
        # every (alpha_D, alpha_N) of one E in one batched NNLS: row g = i_D * n_a + i_N
        p = (a_grid[None, :] / a_grid[:, None]).ravel()  # alpha_N / alpha_D
        a_n, a_d = np.tile(a_grid, n_a), np.repeat(a_grid, n_a)
        cand = []
        for E in e_grid:
            # y = excess^(1/aD) = c1 * N^(-aN/aD) + c2 / D, with c1 = N_c^(aN/aD), c2 = D_c
            logy = np.log(L - E)[None, :] / a_grid[:, None]
            shift = logy.max(axis=1)
            y = np.repeat(np.exp(logy - shift[:, None]), n_a, axis=0)  # scaled against overflow
            shift = np.repeat(shift, n_a)  # coefficients scale too
            X = np.stack([np.exp(-np.multiply.outer(p, logN - logN0)),
                          np.broadcast_to(np.exp(-(logD - logD0)), (p.size, N.size))], axis=2)
            coef, _ = batched_nnls(X, y, 1.0 / y)
            with np.errstate(divide="ignore", invalid="ignore"):
                log_c1 = np.log(coef[:, 0]) + shift + p * logN0
                log_c2 = np.log(coef[:, 1]) + shift + logD0
                log_Nc = log_c1 / p
            keep = (coef[:, 0] > 0) & (coef[:, 1] > 0)
            cand += [(E, *row) for row in zip(log_Nc[keep], log_c2[keep], a_n[keep], a_d[keep])]
        if not cand:
            cand = [(0.0, np.log(1e13), np.log(1e13), 0.076, 0.095)]
        cand = np.array(cand)
        logpred = log_kaplan_nde(N, D, *point_columns(cand))
        obj = huber_grid(logL, logpred, delta)
        out = []
        for i in top_k(obj, k):
            E, lNc, lDc, aN, aD = cand[i]
            params = self.make_params()
            values = {"log_N_c": lNc, "log_D_c": lDc, "alpha_N": aN, "alpha_D": aD, "E": E}
            for name, value in values.items():
                if name in params:
                    params[name].set(value=float(value))
            out.append(params)
        return out

    def predict(self, values, N, D, k=FLOPS_PER_PARAM_TOKEN, **extra):
        return law_forms.kaplan_nd(N, D, values["N_c"], values["D_c"], values["alpha_N"],
                                   values["alpha_D"])

    def log_frontier(self, values, flops, k=FLOPS_PER_PARAM_TOKEN):
        logc = np.log(np.asarray(flops, float) / k)
        p = values["alpha_N"] / values["alpha_D"]
        # d/dN [N_c^p N^-p + D_c N / (C/k)] = 0  ->  N^(p+1) = p N_c^p (C/k) / D_c
        return (np.log(p) + p * np.log(values["N_c"]) + logc - np.log(values["D_c"])) / (p + 1)

    def exponents(self, values):
        return allocation_exponents(values, "alpha_N", "alpha_D")

    def published(self):
        """Kaplan's Table 2 L(N, D) constants with the a, b the fit's formula gives them
        (alpha_D / (alpha_N + alpha_D): 0.575), and beside them eq. 6.1's a = 0.73, another
        derivation (the C_min frontier of L(N, S) with early stopping): side by side, not one row
        setting 0.73 beside constants that give 0.575."""
        k = published_laws()["kaplan2020"]
        row = dict(k["kaplan-nd"])
        a, b = self.exponents(row)
        return {TABLE2: dict(row, a=a, b=b),
                EQ61: {"a": k["allocation"]["a"], "b": k["allocation"]["b"]}}

    def published_notes(self):
        k = published_laws()["kaplan2020"]
        a = self.published()[TABLE2]["a"]
        return [f"kaplan: the Table 2 row's a, b are alpha_D / (alpha_N + alpha_D) and alpha_N / "
                "(alpha_N + alpha_D) of its L(N, D) constants, the fit's formula (non-embedding N, "
                f"C = 6 N_nonembed D); eq. 6.1's a = {k['allocation']['a']:g} is fitted to "
                f"{k['allocation']['derivation']}: compare the fit's a with {a:.3g}, not "
                f"{k['allocation']['a']:g}"]


TABLE2 = "Kaplan 2020 Table 2 L(N, D)"
EQ61 = "Kaplan 2020 eq. 6.1 (C_min frontier)"


class KaplanNDE(KaplanND):
    """Kaplan's L(N, D) plus an irreducible term E (Brandfonbrener et al. 2024, "Loss-to-Loss
    Prediction", arXiv:2411.12925): the E of each dataset in a loss-to-loss law."""

    law_name = "kaplan-nde"
    aliases = ()
    function = staticmethod(log_kaplan_nde)
    paper_names = ("E", "N_c", "D_c", "alpha_N", "alpha_D")
    bounds = dict(KaplanND.bounds, E=(0.0, np.inf))
    with_E = True

    def predict(self, values, N, D, k=FLOPS_PER_PARAM_TOKEN, **extra):
        return law_forms.kaplan_nde(N, D, values["E"], values["N_c"], values["D_c"],
                                    values["alpha_N"], values["alpha_D"])

    def published(self):
        return {}


LAWS = (KaplanN, KaplanD, KaplanC, KaplanND, KaplanNDE)

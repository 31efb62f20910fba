"""Muennighoff et al. 2023, "Scaling Data-Constrained Language Models" (arXiv:2305.16264;
NeurIPS 2023): Chinchilla's form in effective data D' and effective parameters N', so that
repeated tokens and parameters in excess of what the unique data can feed are worth less.

    L(N, D, U_D) = E + A / N'^alpha + B / D'^beta
    R_D = D / U_D - 1                              (repetitions of the unique tokens)
    D'  = U_D + U_D R*_D (1 - exp(-R_D / R*_D))
    U_N = min(N, N*(U_D)),  R_N = max(N / U_N - 1, 0)   (excess parameters)
    N'  = U_N + U_N R*_N (1 - exp(-R_N / R*_N))

N*(U_D) = G (G U_D)^(beta/alpha), G = (alpha A / (beta B))^(1/(alpha+beta)), is the
compute-optimal size for U_D tokens on the law's own Chinchilla frontier (the authors'
``D_to_N``). U_D is read from the run table's ``unique_tokens`` column, which the run-table check
holds to U_D <= D (a run cannot see more unique tokens than it trains on); the functions cap it at D. With no repetition and no excess parameters
(R_D = R_N = 0) the law is Chinchilla's; as R*_D, R*_N grow it tends to Chinchilla's too. With
unique data unconstrained the compute-optimal frontier is Chinchilla's (eq. 4 of Hoffmann et al.).

Published fit on C4 (the authors' repository huggingface/datablations, README "Parametric Fit"):
E = exp(0.6254804) = 1.869, A = exp(6.255414) = 520.4, B = exp(7.3049974) = 1488.6,
alpha = beta = 0.3526596, R*_D = 15.387756, R*_N = 5.309743 (the paper's R*_D ~ 15.4: repeated
tokens lose their value over ~16 epochs; R*_N ~ 5.3). ``published()`` reads them from the
``[muennighoff2023]`` block of data/published_laws.toml when that block is there.
"""
from __future__ import annotations

import numpy as np

from scalefit.errors import InputError, row_name, rows_name
from scalefit.options import file_column
from scalefit.scaling.laws.chinchilla import Chinchilla, chinchilla_log_frontier
from scalefit.scaling.laws.law import Law, allocation_exponents, safe_log
from scalefit.scaling.laws.published import published_laws
from scalefit.scaling.laws.varpro import huber_grid, top_k
from scalefit.scaling.objective import HUBER_DELTA
from scalefit.schema import FLOPS_PER_PARAM_TOKEN

R_STAR_GRID = np.geomspace(0.3, 300.0, 13)  # start grid of R*_D and R*_N


def compute_optimal_params(U_D, A, B, alpha, beta):
    """N*(U_D): the compute-optimal parameters for U_D tokens on Chinchilla's frontier."""
    log_g = (np.log(alpha * A) - np.log(beta * B)) / (alpha + beta)
    return np.exp(log_g + beta / alpha * (log_g + np.log(U_D)))


def effective_data(D, U_D, R_D_star):
    """D' = U_D + U_D R*_D (1 - exp(-R_D/R*_D)), R_D = D/U_D - 1 (U_D capped at D)."""
    D = np.asarray(D, float)
    U_D = np.minimum(np.asarray(U_D, float), D)
    R_D = D / U_D - 1.0
    return U_D - U_D * R_D_star * np.expm1(-R_D / R_D_star)


def effective_params(N, U_D, A, B, alpha, beta, R_N_star):
    """N' = U_N + U_N R*_N (1 - exp(-R_N/R*_N)), U_N = min(N, N*(U_D)), R_N = N/U_N - 1."""
    N = np.asarray(N, float)
    U_N = np.minimum(N, compute_optimal_params(U_D, A, B, alpha, beta))
    R_N = np.maximum(N / U_N - 1.0, 0.0)
    return U_N - U_N * R_N_star * np.expm1(-R_N / R_N_star)


def data_constrained(N, D, U_D, E, A, B, alpha, beta, R_D_star, R_N_star):
    """L = E + A/N'^alpha + B/D'^beta (Muennighoff et al. 2023), N', D' as above."""
    U_D = np.minimum(np.asarray(U_D, float), np.asarray(D, float))
    N_eff = effective_params(N, U_D, A, B, alpha, beta, R_N_star)
    D_eff = effective_data(D, U_D, R_D_star)
    return E + A * N_eff ** (-alpha) + B * D_eff ** (-beta)


def log_data_constrained(N, D, U_D, E, log_A, log_B, alpha, beta, log_R_D_star, log_R_N_star):
    """log of the data-constrained L(N, D, U_D), scales and R* as their logarithms."""
    return safe_log(data_constrained(N, D, U_D, E, np.exp(log_A), np.exp(log_B), alpha, beta,
                                     np.exp(log_R_D_star), np.exp(log_R_N_star)))


class DataConstrained(Law):
    """Muennighoff et al. 2023 L(N, D, U_D) = E + A/N'^alpha + B/D'^beta with repeated data.

    Needs a ``unique_tokens`` column (U_D, the unique tokens each run's D tokens repeat) beside
    params and tokens. Parameters: Chinchilla's five plus R_D_star and R_N_star, the number of
    repetitions (of data, of excess parameters) after which further ones are worth 1/e as much.
    """

    law_name = "muennighoff"
    aliases = ("data-constrained",)
    function = staticmethod(log_data_constrained)
    needs = ("N", "D", "U_D")
    columns = {"U_D": "unique_tokens"}
    paper_names = ("E", "A", "B", "alpha", "beta", "R_D_star", "R_N_star")
    log_scales = ("A", "B", "R_D_star", "R_N_star")
    terms = Chinchilla.terms  # A/N'^alpha, B/D'^beta: R_D_star, R_N_star shape N', D', no term
    bounds = dict(Chinchilla.bounds, log_R_D_star=(np.log(1e-2), np.log(1e4)),
                  log_R_N_star=(np.log(1e-2), np.log(1e4)))

    @classmethod
    def check_runs(cls, frame, source, df):
        """InputError naming the rows whose unique tokens exceed their tokens (U_D > D): such a
        run repeats its data fewer than once, R_D < 0, and was fitted as if it held U_D = D."""
        if not {"U_D", "D"} <= set(frame.columns):
            return
        U_D, D = frame["U_D"].to_numpy(float), frame["D"].to_numpy(float)
        bad = np.flatnonzero(U_D > D)
        if bad.size:
            more = f", ... ({bad.size} in all)" if bad.size > 10 else ""
            i = int(bad[0])
            raise InputError(
                f"{source}: column '{file_column(df, cls.columns['U_D'])}', "
                f"{rows_name(df, bad[:10])}{more}: unique tokens above the run's tokens "
                f"({row_name(df, i)}: {U_D[i]:.4g} > {D[i]:.4g}); accepted: unique_tokens <= "
                "tokens (a run trains on its unique tokens D / U_D >= 1 times)")

    def starts(self, data, k=4, delta=HUBER_DELTA, N=None, D=None, U_D=None):
        """Chinchilla's variable-projection starts from the runs without repetition (all runs
        when fewer than 6 have none), each crossed with a grid of (R*_D, R*_N); the ``k`` best
        by the Huber objective on every run."""
        L, N, D = (np.asarray(x, float) for x in (data, N, D))
        U_D = np.minimum(np.asarray(U_D, float), D)
        once = D <= U_D * (1 + 1e-9)
        rows = once if once.sum() >= 6 else np.ones_like(once)
        base = Chinchilla().starts(L[rows], k=k, delta=delta, N=N[rows], D=D[rows])
        names = self.free_params()
        cand = []
        for params in base:
            v = {name: params[name].value for name in ("E", "log_A", "log_B", "alpha", "beta")}
            for rd in R_STAR_GRID:
                for rn in R_STAR_GRID:
                    cand.append(dict(v, log_R_D_star=np.log(rd), log_R_N_star=np.log(rn)))
        logpred = np.stack([log_data_constrained(N, D, U_D, **c) for c in cand])
        obj = huber_grid(np.log(L), logpred, delta)
        out = []
        for i in top_k(obj, k):
            params = self.make_params()
            for name in names:
                params[name].set(value=float(cand[i][name]))
            out.append(params)
        return out

    def predict(self, values, N, D, k=FLOPS_PER_PARAM_TOKEN, U_D=None, **extra):
        """Loss at (N, D) with U_D unique tokens (None: every token unique, U_D = D)."""
        v = values
        return data_constrained(N, D, D if U_D is None else U_D, v["E"], v["A"], v["B"],
                                v["alpha"], v["beta"], v["R_D_star"], v["R_N_star"])

    def log_frontier(self, values, flops, k=FLOPS_PER_PARAM_TOKEN):
        """Chinchilla's frontier: with unique data unconstrained, N* = N*(D*), so R_N = 0."""
        return chinchilla_log_frontier(values, flops, k)

    def exponents(self, values):
        return allocation_exponents(values, "alpha", "beta")

    def published(self):
        block = published_laws().get("muennighoff2023")
        if not block:
            return {}
        row = {name: block[name] for name in self.paper_names if name in block}
        a, b = allocation_exponents(row, "alpha", "beta")
        return {"Muennighoff 2023 (C4)": dict(row, a=a, b=b)}


LAWS = (DataConstrained,)

"""The loss-to-loss bootstrap that carries the uncertainty of E_x and E_y.

E_x and E_y are estimates (the irreducible terms of per-dataset Kaplan L(N, D) + E fits), and
kappa moves with them: holding them fixed gives intervals far narrower than the change two
held-out runs make. Each resample here draws units (runs, configurations, or whole models of a
checkpoint table: ``relations.resampling``), refits both Kaplan laws on the drawn runs
(warm-started from the full-data optimum, the same Huber log-space objective as the fit), and
refits the line log(L_y - E_y) = log K + kappa log(L_x - E_x) on the drawn pairs with that
resample's E_x, E_y. The Kaplan draws are kept, so a chained (N, D) -> L_x -> L_y prediction
carries them too.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.optimize import least_squares
from threadpoolctl import threadpool_limits

from scalefit.scaling.fitresult import FitResult
from scalefit.scaling.relations.resampling import UNIT, unit_codes
from scalefit.scaling.resample import resample_indices
from scalefit.scaling.objective import HUBER_DELTA

RELATION_DRAWS = ("K", "kappa", "E_x", "E_y")
KAPLAN_NAMES = ("E", "N_c", "D_c", "alpha_N", "alpha_D")


def _log_kaplan_nde_parts(theta, logN, logD):
    """log L of Kaplan + E (``laws.kaplan.log_kaplan_nde``) and the terms its Jacobian reuses."""
    E, lNc, lDc, aN, aD = theta
    t1 = (aN / aD) * (lNc - logN)
    t2 = lDc - logD
    s = np.logaddexp(t1, t2)
    with np.errstate(divide="ignore"):
        log_total = np.logaddexp(np.log(E), aD * s)  # log(E + P) without overflow
    return log_total, (t1, t2, s)


def _log_kaplan_nde_jac(theta, logN, parts):
    """The Jacobian of ``_log_kaplan_nde_parts``' log L in (E, log_N_c, log_D_c, alpha_N,
    alpha_D): analytic, so a refit costs a fifth of finite differences."""
    E, lNc, lDc, aN, aD = theta
    log_total, (t1, t2, s) = parts
    share = np.exp(aD * s - log_total)  # P / (E + P)
    w1, w2 = np.exp(t1 - s), np.exp(t2 - s)
    return np.stack([np.exp(-log_total), share * w1 * aN, share * aD * w2,
                     share * w1 * (lNc - logN), share * (s - w1 * t1)], axis=1)


def _log_kaplan_nde(E, lNc, lDc, aN, aD, logN, logD):
    """log L of Kaplan + E, broadcasting (B, 1) parameter columns over (n,) runs."""
    s = np.logaddexp((aN / aD) * (lNc - logN), lDc - logD)
    with np.errstate(divide="ignore"):
        return np.logaddexp(np.log(E), aD * s)


class KaplanRefits:
    """Refit one dataset's Kaplan + E law on many resamples of its runs at once.

    Warm-started from the fit's optimum with its bounds and objective (Huber(delta) on log
    residuals): all resamples together by ``laws.bootstrap.batched_huber_refit`` (a resample is
    a vector of counts over the runs), any it leaves unconverged one at a time by scipy's
    least_squares with the analytic Jacobian.
    """

    def __init__(self, fit: FitResult, delta: float):
        from scalefit.scaling.laws.registry import law_for
        self.law = law_for("kaplan-nde")
        self.names = self.law.free_params()
        assert tuple(self.names) == ("E", "log_N_c", "log_D_c", "alpha_N", "alpha_D")
        params = fit.model_result.params
        self.theta0 = np.array([params[n].value for n in self.names])
        self.bounds = (np.array([params[n].min for n in self.names], float),
                       np.array([params[n].max for n in self.names], float))
        runs = fit.components["runs"]
        self.logN = np.log(runs["params"].to_numpy(float))
        self.logD = np.log(runs["tokens"].to_numpy(float))
        self.log_loss = np.log(runs["loss"].to_numpy(float))
        self.delta = delta

    def one(self, rows, start=None):
        """theta of one resample given as row indices (from ``start``, default the full-data
        optimum); None when it does not converge."""
        from scalefit.scaling.laws.bootstrap import LSQ_OPTIONS
        n_, d_, y_ = self.logN[rows], self.logD[rows], self.log_loss[rows]
        lo, hi = self.bounds
        x0 = self.theta0 if start is None or not np.all(np.isfinite(start)) \
            else np.clip(start, lo, hi)
        last = {}  # the Jacobian is asked at the point just evaluated: its terms are kept

        def parts(t):
            key = t.tobytes()
            if last.get("key") != key:
                last.update(key=key, parts=_log_kaplan_nde_parts(t, n_, d_))
            return last["parts"]

        ret = least_squares(lambda t: parts(t)[0] - y_, x0,
                            jac=lambda t: _log_kaplan_nde_jac(t, n_, parts(t)),
                            bounds=self.bounds, f_scale=self.delta, max_nfev=2000,
                            **LSQ_OPTIONS)
        return ret.x if ret.status > 0 else None

    def many(self, counts) -> np.ndarray:
        """(B, 5) thetas for (B, n_runs) resample counts; NaN rows where a refit failed or a
        resample holds too few distinct runs (fewer than the 5 parameters + 1)."""
        from scalefit.scaling.laws.bootstrap import batched_huber_refit
        counts = np.asarray(counts, float)
        enough = (counts > 0).sum(axis=1) > len(self.names)
        thetas = np.full((counts.shape[0], len(self.names)), np.nan)
        if not enough.any():
            return thetas
        with np.errstate(all="ignore"):
            got, ok = batched_huber_refit(_log_kaplan_nde, self.theta0, self.bounds,
                                          {"logN": self.logN, "logD": self.logD},
                                          self.log_loss, self.delta, counts[enough])
        rows_enough = np.flatnonzero(enough)
        thetas[rows_enough[ok]] = got[ok]
        for i, b in zip(np.flatnonzero(~ok), rows_enough[~ok]):
            # the batch's last iterate is near the optimum: finish from there
            theta = self.one(np.repeat(np.arange(counts.shape[1]), counts[b].astype(int)),
                             start=got[i])
            if theta is not None:
                thetas[b] = theta
        return thetas

    def paper(self, thetas) -> dict:
        """{paper name: draws} (N_c, D_c from their logs)."""
        cols = dict(zip(self.names, np.asarray(thetas).T))
        return {n: np.asarray(v, float) for n, v in self.law.paper_values(cols).items()}


def _weighted_lines(u, v, w):
    """(log K, kappa) per row of v = log K + kappa u by least squares with weights w (counts)."""
    sw = w.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        um = (w * u).sum(axis=1) / sw
        vm = (w * v).sum(axis=1) / sw
        du = u - um[:, None]
        kappa = (w * du * (v - vm[:, None])).sum(axis=1) / (w * du * du).sum(axis=1)
    return vm - kappa * um, kappa


def _line(u, v, method, delta, start):
    """(log K, kappa) of v = log K + kappa u by a Huber(delta) fit from ``start`` (the robust
    method of `fit_shifted_power`), or None when the fit fails."""
    def residual(theta):
        return theta[0] + theta[1] * u - v
    ret = least_squares(residual, start, loss="huber" if method == "huber" else "linear",
                        f_scale=delta)
    return (float(ret.x[0]), float(ret.x[1])) if ret.status > 0 else None


def bootstrap_with_e(pairs: pd.DataFrame, x_runs: pd.DataFrame, y_runs: pd.DataFrame,
                     kaplan: dict, start: dict, *, method: str = "ols", delta: float = HUBER_DELTA,
                     kaplan_delta: float = HUBER_DELTA, n_bootstrap: int = 1000, seed: int = 0,
                     progress: bool = False) -> tuple[dict, int]:
    """Draws of K, kappa, E_x, E_y (and the Kaplan x and y parameters, as 'x:E', 'y:alpha_N',
    ...) over ``n_bootstrap`` unit resamples; returns (draws, number failed).

    ``kaplan`` holds the per-dataset fits {"x", "y"} (their ``components["runs"]`` are the runs
    resampled); ``pairs``, ``x_runs`` and ``y_runs`` carry the unit column that ties a pair to
    its runs; ``start`` the full-data relation (the Huber line's warm start). The resamples are
    ``scaling.resample.resample_indices`` over the units (what ``pairs_bootstrap`` draws).
    """
    ux = _units_of_fitted(x_runs, kaplan["x"].components["runs"])
    uy = _units_of_fitted(y_runs, kaplan["y"].components["runs"])
    codes, n_units = unit_codes(np.concatenate([pairs[UNIT].astype(str).to_numpy(), ux, uy]))
    n_p, n_x = len(pairs), len(ux)
    code_p, code_x, code_y = codes[:n_p], codes[n_p:n_p + n_x], codes[n_p + n_x:]
    idx = resample_indices(n_units, n_bootstrap, seed)
    drawn = np.zeros((n_bootstrap, n_units))
    np.add.at(drawn, (np.repeat(np.arange(n_bootstrap), n_units), idx.ravel()), 1.0)
    with threadpool_limits(limits=1):
        fx, fy = KaplanRefits(kaplan["x"], kaplan_delta), KaplanRefits(kaplan["y"], kaplan_delta)
        kx = fx.paper(fx.many(drawn[:, code_x]))
        ky = fy.paper(fy.many(drawn[:, code_y]))
    x = pairs["x"].to_numpy(float)
    y = pairs["y"].to_numpy(float)
    E_x, E_y = kx["E"][:, None], ky["E"][:, None]
    with np.errstate(invalid="ignore"):
        ok = (x - E_x > 0) & (y - E_y > 0)
    w = drawn[:, code_p] * ok
    u = np.log(np.where(ok, x - np.nan_to_num(E_x), 1.0))
    v = np.log(np.where(ok, y - np.nan_to_num(E_y), 1.0))
    if method == "ols":
        log_K, kappa = _weighted_lines(u, v, w)
    else:
        log_K, kappa = np.full(n_bootstrap, np.nan), np.full(n_bootstrap, np.nan)
        start_line = np.array([np.log(start["K"]), start["kappa"]])
        for b in range(n_bootstrap):
            rows = np.repeat(np.arange(n_p), w[b].astype(int))
            if rows.size >= 3 and np.ptp(u[b, rows]) > 0:
                line = _line(u[b, rows], v[b, rows], method, delta, start_line)
                if line is not None:
                    log_K[b], kappa[b] = line
    usable = ((w > 0).sum(axis=1) >= 3) & np.isfinite(kappa) & np.isfinite(kx["E"]) \
        & np.isfinite(ky["E"])
    draws = {"K": np.exp(log_K), "kappa": kappa, "E_x": kx["E"], "E_y": ky["E"]}
    draws.update({f"x:{n}": kx[n] for n in KAPLAN_NAMES})
    draws.update({f"y:{n}": ky[n] for n in KAPLAN_NAMES})
    for name in draws:
        draws[name] = np.where(usable, draws[name], np.nan)
    return draws, int((~usable).sum())


def _units_of_fitted(runs: pd.DataFrame, fitted: pd.DataFrame) -> np.ndarray:
    """The unit of each run a Kaplan fit saw (the runs with D > 0 and params, tokens present)."""
    usable = (runs["tokens"] > 0) & np.isfinite(runs["params"]) & np.isfinite(runs["tokens"])
    units = runs.loc[usable, UNIT].astype(str).to_numpy()
    assert len(units) == len(fitted)
    return units


def kaplan_draws(draws: dict, side: str) -> dict:
    """The Kaplan + E parameter draws of one side ('x' or 'y') by paper name."""
    return {n: draws[f"{side}:{n}"] for n in KAPLAN_NAMES}

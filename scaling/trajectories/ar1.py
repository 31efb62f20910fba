"""AR(1) errors for trajectory fits: consecutive checkpoints of one run are not independent.

A weight statistic measured along training wanders smoothly around any simple curve, so the
residuals of neighbouring checkpoints are correlated (lag-1 autocorrelation 0.3-0.8 on the mini
suite). Least squares that treats them as independent sees evidence for extra breakpoints that is
not there, bootstraps intervals that are too narrow, and tests correlations with far too many
degrees of freedom. Here: the Prais-Winsten transform that turns AR(1) errors into independent
ones (generalized least squares), the restricted maximum likelihood (REML) estimate of rho for a
fixed design (its likelihood, for a bootstrap that carries rho's uncertainty), AR(1) error series
for a sieve bootstrap, and how many independent points a correlation of two such residual series
is worth. Checkpoints are taken in order; the spacing between them is not modelled.
"""
from __future__ import annotations

import numpy as np

MAX_RHO = 0.95                      # beyond this the errors are a random walk, not AR(1) noise
RHO_GRID = np.linspace(0.0, MAX_RHO, 96)


def whiten(z: np.ndarray, rho: float) -> np.ndarray:
    """Prais-Winsten transform of a vector or of each column of a matrix (rows in order).

    With AR(1) errors of coefficient rho, the transformed errors are independent with equal
    variance, so least squares on whitened y and design is generalized least squares.
    """
    z = np.asarray(z, dtype=float)
    if rho == 0.0:
        return z
    out = np.empty_like(z)
    out[0] = np.sqrt(1.0 - rho * rho) * z[0]
    out[1:] = z[1:] - rho * z[:-1]
    return out


def _restricted_loglik(design: np.ndarray, y: np.ndarray, rho: float) -> np.ndarray:
    """REML log-likelihood (up to a constant) of AR(1) errors with coefficient rho, for each
    column of y (n x S) under one design.

    REML counts the degrees of freedom the regression uses, so rho is less biased toward 0 by
    the fitted coefficients than the plain maximum-likelihood estimate is.
    """
    n, p = design.shape
    xw, yw = whiten(design, rho), whiten(y, rho)
    coef, *_ = np.linalg.lstsq(xw, yw, rcond=None)
    resid = yw - xw @ coef
    sse = np.maximum(np.sum(resid * resid, axis=0), 1e-300)
    _, logdet = np.linalg.slogdet(xw.T @ xw)
    return -0.5 * (n - p) * np.log(sse) + 0.5 * np.log(1.0 - rho * rho) - 0.5 * logdet


def reml_rho(design: np.ndarray, y: np.ndarray) -> float | np.ndarray:
    """The REML estimate of the AR(1) coefficient on a grid over [0, MAX_RHO] (one per column
    when y is a matrix).

    Negative autocorrelation is taken as 0: it would make the fit claim more than independent
    errors allow.
    """
    design = np.asarray(design, dtype=float)
    y = np.asarray(y, dtype=float)
    if len(y) <= design.shape[1] + 2:
        return 0.0 if y.ndim == 1 else np.zeros(y.shape[1])
    values = np.array([_restricted_loglik(design, y, rho) for rho in RHO_GRID])
    best = RHO_GRID[np.argmax(values, axis=0)]
    return float(best) if y.ndim == 1 else best


def pooled_reml_rho(designs, ys) -> float:
    """One REML AR(1) coefficient for several runs (each its own design, variance and order)."""
    pairs = [(np.asarray(d, dtype=float), np.asarray(y, dtype=float)) for d, y in zip(designs, ys)]
    pairs = [(d, y) for d, y in pairs if len(y) > d.shape[1] + 2]
    if not pairs:
        return 0.0
    values = [sum(float(_restricted_loglik(d, y, rho)) for d, y in pairs) for rho in RHO_GRID]
    return float(RHO_GRID[int(np.argmax(values))])


def correlation_matrix(n: int, rho: float) -> np.ndarray:
    """Correlation matrix of n consecutive values of a stationary AR(1) series."""
    lags = np.abs(np.subtract.outer(np.arange(n), np.arange(n)))
    return rho ** lags


def effective_points(designs, rho_a: float, rho_b: float) -> float:
    """How many independent points the correlation of two residual series is worth, when each
    run's residuals are AR(1) errors (rho_a, rho_b) left after regressing on that run's design.

    Var(r) ~ tr(M Sa M Sb) / (tr(M Sa) tr(M Sb)) under no correlation, with M the residual
    projection and S the AR(1) correlation matrices, so n_eff = tr(M Sa) tr(M Sb) / tr(M Sa M Sb);
    with independent errors it is n minus the coefficients fitted.
    """
    trace_a = trace_b = cross = 0.0
    for design in designs:
        design = np.asarray(design, dtype=float)
        n = len(design)
        residual_maker = np.eye(n) - design @ np.linalg.pinv(design)
        ma = residual_maker @ correlation_matrix(n, rho_a)
        mb = residual_maker @ correlation_matrix(n, rho_b)
        trace_a += float(np.trace(ma))
        trace_b += float(np.trace(mb))
        cross += float(np.sum(ma * mb.T))
    return trace_a * trace_b / cross if cross > 0 else 0.0


def rho_posterior(design: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(RHO_GRID, weights): the REML likelihood of rho normalized over the grid (a flat prior).

    A bootstrap that draws its rho from these weights carries the uncertainty of rho, which on
    40-80 checkpoints is large (an estimate of 0.5 is consistent with 0.3-0.9).
    """
    design = np.asarray(design, dtype=float)
    y = np.asarray(y, dtype=float)
    if len(y) <= design.shape[1] + 2:
        weights = (RHO_GRID == 0.0).astype(float)
        return RHO_GRID, weights
    values = np.array([_restricted_loglik(design, y, rho) for rho in RHO_GRID])
    weights = np.exp(values - values.max())
    return RHO_GRID, weights / weights.sum()


def gaussian_loglik(sse_whitened: float, n: int, rho: float) -> float:
    """Profile Gaussian log-likelihood (up to a constant) of a fit under AR(1) errors, from the
    sum of squares of its whitened residuals: the one scale that BICs of different fits share."""
    return -0.5 * n * np.log(max(sse_whitened, 1e-300) / n) + 0.5 * np.log(1.0 - rho * rho)


def simulate_errors(innovations: np.ndarray, rho: float, rng: np.random.Generator) -> np.ndarray:
    """An AR(1) error series built from innovations resampled with replacement (sieve bootstrap).

    `innovations` are whitened residuals; the first draw is scaled to the stationary variance.
    """
    eta = rng.choice(innovations, size=len(innovations), replace=True)
    if rho == 0.0:
        return eta
    errors = np.empty_like(eta)
    errors[0] = eta[0] / np.sqrt(1.0 - rho * rho)
    for t in range(1, len(eta)):
        errors[t] = rho * errors[t - 1] + eta[t]
    return errors


def stationary_series(rho: float, shape, rng: np.random.Generator, scale: float = 1.0) -> np.ndarray:
    """Gaussian AR(1) series along axis 0 with marginal sd `scale` (columns independent): the
    null data that the coverage tests and benchmarks of these methods are measured on."""
    shocks = rng.normal(0.0, scale * np.sqrt(1.0 - rho * rho), shape)
    out = np.empty(shape)
    out[0] = shocks[0] / np.sqrt(1.0 - rho * rho)
    for t in range(1, shape[0]):
        out[t] = rho * out[t - 1] + shocks[t]
    return out

"""AR(1) errors for trajectory fits: consecutive checkpoints of one run are not independent.

A weight statistic measured along training wanders smoothly around any simple curve, so the
residuals of neighbouring checkpoints are correlated (REML rho 0.17-0.95 on the mini suite's
warmup runs). Least squares that treats them as independent sees evidence for extra breakpoints that is
not there, bootstraps intervals that are too narrow, and tests correlations with far too many
degrees of freedom. Here: the Prais-Winsten transform that turns AR(1) errors into independent
ones (generalized least squares), the restricted maximum likelihood (REML) estimate of rho for a
fixed design (its likelihood, for a bootstrap that carries rho's uncertainty), AR(1) error series
for a sieve bootstrap, how many independent points a correlation of two such residual series
is worth, and each run's design moments, from which the traces of the collapse F-test and the
sandwich intervals follow without N x N matrices of all checkpoints. Checkpoints are taken in
order; the spacing between them is not modelled. Where checkpoints of a run were left out (a
Student-t nu at its cap), ``lags`` says how many places apart in the run's series each kept one is
from the one before: k places apart, the errors' correlation is rho^k (``gap_lags``), not rho.
"""
from __future__ import annotations

import numpy as np

MAX_RHO = 0.95                      # beyond this the errors are a random walk, not AR(1) noise
RHO_GRID = np.linspace(0.0, MAX_RHO, 96)


GAP_WORDS = "rho^k for k apart across checkpoints left out"  # as transitions says it


def rho_text(rho: float) -> str:
    """rho as the output prints it: '0.72', or '>= 0.95' where the estimate sits at the grid's cap."""
    return f"{'>= ' if rho >= MAX_RHO else ''}{rho:.2f}"


def gap_lags(positions) -> np.ndarray | None:
    """The lags of points at these places (increasing whole numbers) in their run's series: the
    first 1, then each place minus the one before; None where every lag is 1 (no gap)."""
    positions = np.asarray(positions, dtype=int)
    lags = np.diff(positions, prepend=positions[0] - 1) if len(positions) else positions
    if np.any(lags < 1):
        raise ValueError("gap_lags: positions must increase")
    return None if np.all(lags == 1) else lags


def whiten(z: np.ndarray, rho, out: np.ndarray | None = None, lags=None) -> np.ndarray:
    """Prais-Winsten transform of a vector or of each column of a matrix (rows in order).

    With AR(1) errors of coefficient rho, the transformed errors are independent with equal
    variance, so least squares on whitened y and design is generalized least squares. ``rho``:
    one coefficient, or one per column (each column the same numbers as whitened alone). ``out``:
    an array to write into (a design's column, in a hot loop), else z itself at rho 0 or a new one.
    ``lags`` (``gap_lags``): a row k places after the one before is whitened against it with rho^k,
    scaled by sqrt((1 - rho^2) / (1 - rho^2k)) to the others' variance (the exact AR(1) transform
    of a series with points left out); None: every row follows the one before.
    """
    z = np.asarray(z, dtype=float)
    if lags is not None:
        return _whiten_gaps(z, rho, out, lags)
    zero = np.ndim(rho) == 0 and rho == 0.0
    if out is None:
        if zero:
            return z
        out = np.empty_like(z)
    elif zero:
        out[...] = z
        return out
    out[0] = np.sqrt(1.0 - rho * rho) * z[0]
    np.subtract(z[1:], rho * z[:-1], out=out[1:])
    return out


def _whiten_gaps(z: np.ndarray, rho, out, lags) -> np.ndarray:
    """``whiten`` of rows whose lags (``gap_lags``) are not all 1."""
    lags = np.asarray(lags, dtype=float)
    if len(lags) != len(z):
        raise ValueError(f"whiten: {len(lags)} lags for {len(z)} rows")
    rho = np.asarray(rho, dtype=float)
    if out is None:
        out = np.empty_like(z)
    if not len(z):
        return out
    k = lags[1:].reshape(-1, *[1] * (z.ndim - 1))
    phi = rho ** k
    scale = np.sqrt((1.0 - rho * rho) / (1.0 - phi * phi))
    head = np.sqrt(1.0 - rho * rho) * z[0]
    out[1:] = (z[1:] - phi * z[:-1]) * scale
    out[0] = head
    return out


def log_jacobian(rhos, lags=None) -> np.ndarray:
    """log |det| of the Prais-Winsten transform at each rho of ``rhos``: 0.5 log(1 - rho^2), and
    with ``lags`` (``gap_lags``) 0.5 log((1 - rho^2) / (1 - rho^2k)) more for each lag k."""
    rhos = np.asarray(rhos, dtype=float)
    out = 0.5 * np.log(1.0 - rhos * rhos)
    if lags is not None:
        k = np.asarray(lags, dtype=float)[1:]
        k = k[k > 1]
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = (1.0 - rhos[..., None] ** 2) / (1.0 - rhos[..., None] ** (2.0 * k))
        out = out + 0.5 * np.sum(np.log(np.where(rhos[..., None] == 0.0, 1.0, ratio)), axis=-1)
    return out


def whiten_stack(z: np.ndarray, rhos: np.ndarray, lags=None) -> np.ndarray:
    """``whiten(z, rho)`` for each rho of ``rhos``, stacked on a new first axis: the same numbers
    (the same operations on each element), made in a few array operations instead of two per rho.
    ``lags``: as whiten's (then rho by rho)."""
    z = np.asarray(z, dtype=float)
    rhos = np.asarray(rhos, dtype=float)
    if lags is not None:
        return np.stack([whiten(z, r, lags=lags) for r in rhos]) if len(rhos) else np.empty((0, *z.shape))
    out = np.empty((len(rhos), *z.shape))
    if len(z):
        scale = np.sqrt(1.0 - rhos * rhos).reshape(-1, *[1] * (z.ndim - 1))
        np.multiply(scale, z[0], out=out[:, 0])
        np.multiply(rhos.reshape(-1, *[1] * z.ndim), z[:-1], out=out[:, 1:])
        np.subtract(z[1:], out[:, 1:], out=out[:, 1:])
    out[rhos == 0.0] = z  # whiten's copy at rho 0
    return out


def _restricted_loglik(design: np.ndarray, y: np.ndarray, rhos: np.ndarray, lags=None) -> np.ndarray:
    """REML log-likelihood (up to a constant) of AR(1) errors at each coefficient of ``rhos``
    (rows), for each column of y (n x S) under one design.

    REML counts the degrees of freedom the regression uses, so rho is less biased toward 0 by
    the fitted coefficients than the plain maximum-likelihood estimate is. The rhos are solved as
    one stack (_LAPACK_LSTSQ, the kernel np.linalg.lstsq calls for each): the same numbers as a
    loop over rho, without its per-call cost (most of the time on 40-80 points). ``lags``: whiten's.
    """
    n, p = design.shape
    xw, yw = whiten_stack(design, rhos, lags), whiten_stack(y, rhos, lags)
    solve = _lstsq_one_by_one if y.shape[1] == 0 else _LAPACK_LSTSQ  # LAPACK takes no 0 columns
    with np.errstate(call=_lstsq_failed, invalid="call", over="ignore", divide="ignore",
                     under="ignore"):  # np.linalg.lstsq's own error handling
        coef = solve(xw, yw, np.finfo(float).eps * max(n, p), signature="ddd->ddid")[0]
    resid = yw - xw @ coef
    sse = np.maximum(np.sum(resid * resid, axis=1), 1e-300)
    _, logdet = np.linalg.slogdet(np.matmul(xw.transpose(0, 2, 1), xw))
    return -0.5 * (n - p) * np.log(sse) + log_jacobian(rhos, lags)[:, None] - (0.5 * logdet)[:, None]


def _lstsq_failed(err, flag):
    raise np.linalg.LinAlgError("SVD did not converge in Linear Least Squares")


def _lstsq_one_by_one(a, b, rcond, signature=None):
    """``np.linalg.lstsq`` on each system of a stack: the same LAPACK gelsd, so the same bits as
    numpy's batched gufunc, for a numpy that does not offer that gufunc under this name."""
    coefs = np.stack([np.linalg.lstsq(a_i, b_i, rcond=rcond)[0] for a_i, b_i in zip(a, b)])
    return (coefs,)


# What np.linalg.lstsq calls (gelsd) on a whole stack at once, same bits: a private numpy name
# (numpy 2's), so a numpy without it takes the loop instead of failing at import.
_LAPACK_LSTSQ = getattr(getattr(np.linalg, "_umath_linalg", None), "lstsq", _lstsq_one_by_one)

_REML_CHUNK = 2_000_000  # whitened values held at once (16 MB): the rho grid is solved in chunks


def reml_profile(design: np.ndarray, y: np.ndarray, lags=None, grid: np.ndarray = RHO_GRID) -> np.ndarray | None:
    """REML log-likelihood over ``grid`` (RHO_GRID unless given; rows, one column per column of
    y), or None when y has too few points beyond the design's coefficients to say anything about
    rho. ``lags``: whiten's."""
    design = np.asarray(design, dtype=float)
    y = np.asarray(y, dtype=float)
    if len(y) <= design.shape[1] + 2:
        return None
    columns = y[:, None] if y.ndim == 1 else y
    step = max(1, _REML_CHUNK // max(columns.size, 1))
    values = np.concatenate([_restricted_loglik(design, columns, grid[i:i + step], lags)
                             for i in range(0, len(grid), step)])
    return values[:, 0] if y.ndim == 1 else values


def reml_rho(design: np.ndarray, y: np.ndarray, lags=None) -> float | np.ndarray:
    """The REML estimate of the AR(1) coefficient on a grid over [0, MAX_RHO] (one per column
    when y is a matrix); ``lags``: whiten's (rho stays the lag-1 coefficient).

    Negative autocorrelation is taken as 0: it would make the fit claim more than independent
    errors allow.
    """
    values = reml_profile(design, y, lags)
    if values is None:
        return 0.0 if np.ndim(y) == 1 else np.zeros(np.shape(y)[1])
    best = RHO_GRID[np.argmax(values, axis=0)]
    return float(best) if np.ndim(y) == 1 else best


def _pooled_profile(designs, ys, lags=None) -> np.ndarray | None:
    """The summed REML profile of several runs (each its own design, variance and order;
    ``lags``: None, or one whiten's lags (or None) per run)."""
    profiles = [v for v in (reml_profile(d, y, g) for d, y, g in zip(designs, ys, run_lags(lags, len(designs))))
                if v is not None]
    return np.sum(profiles, axis=0) if profiles else None


def pooled_reml_rho(designs, ys, lags=None) -> float:
    """One REML AR(1) coefficient for several runs (each its own design, variance and order;
    ``lags``: _pooled_profile's)."""
    total = _pooled_profile(designs, ys, lags)
    return 0.0 if total is None else float(RHO_GRID[int(np.argmax(total))])


def pooled_rho_posterior(designs, ys, lags=None) -> tuple[np.ndarray, np.ndarray]:
    """(RHO_GRID, weights): the pooled REML likelihood of one rho for several runs, normalized
    over the grid (a flat prior); all weight on 0 where the runs are too short to say. Each y may
    be a matrix of series (one column each, as simulated sets): then one column of weights each.
    ``lags``: _pooled_profile's."""
    total = _pooled_profile(designs, ys, lags)
    if total is None:
        at_zero = (RHO_GRID == 0.0).astype(float)
        columns = np.shape(ys[0])[1:] if len(ys) else ()
        return RHO_GRID, np.tile(at_zero[:, None], columns) if columns else at_zero
    weights = np.exp(total - total.max(axis=0))
    return RHO_GRID, weights / weights.sum(axis=0)


def frobenius_squared(n: int, rho: float, lags=None) -> float:
    """tr(S S) = sum of rho^(2|i-j|) over an n x n AR(1) correlation matrix, in closed form;
    with ``lags`` (whiten's), over correlation_matrix's gapped one."""
    if lags is not None:
        return float(np.sum(correlation_matrix(n, rho, lags) ** 2))
    lags = np.arange(1, n)
    return float(n + 2.0 * np.sum((n - lags) * rho ** (2.0 * lags)))


def gram_inverse(design: np.ndarray) -> np.ndarray:
    """(X'X)^+ from the thin SVD of X, with the cutoff of np.linalg.pinv(X): forming X'X first
    would square the condition number (a fit's c and p columns are nearly collinear)."""
    u, sing, vt = np.linalg.svd(np.asarray(design, dtype=float), full_matrices=False)
    keep = sing > 1e-15 * (sing.max() if sing.size else 0.0)
    return (vt[keep].T / sing[keep] ** 2) @ vt[keep]


def design_moments(designs, rho: float, lags=None) -> list[tuple[np.ndarray, np.ndarray, float, int]]:
    """Per run with design X_b and AR(1) correlation S_b: (X'SX, (SX)'(SX), tr(SS), n).

    With the runs' gram_inverse (which does not depend on rho), every trace that the F-test and
    the sandwich intervals need, e.g. tr(M S M S) for the residual projection M of the stacked
    design, is a k x k expression in these, so the cost grows with the runs' lengths squared,
    not with the total number of checkpoints cubed. ``lags``: run_lags's (S_b gapped).
    """
    out = []
    for design, lag in zip(designs, run_lags(lags, len(designs))):
        x = np.asarray(design, dtype=float)
        sx = correlation_matrix(len(x), rho, lag) @ x
        out.append((x.T @ sx, sx.T @ sx, frobenius_squared(len(x), rho, lag), len(x)))
    return out


def run_lags(lags, n_runs: int) -> list:
    """One whiten's lags (or None) per run from ``lags``: None (no run has a gap) or a list of them."""
    if lags is None:
        return [None] * n_runs
    if len(lags) != n_runs:
        raise ValueError(f"{len(lags)} runs' lags for {n_runs} runs")
    return list(lags)


def series_positions(n: int, lags=None) -> np.ndarray:
    """The places of n points in their run's series, from their lags (``gap_lags``): 0, 1, ...
    where every lag is 1 (None)."""
    if lags is None:
        return np.arange(n)
    lags = np.asarray(lags, dtype=int)
    if len(lags) != n:
        raise ValueError(f"{len(lags)} lags for {n} points")
    return np.cumsum(lags) - lags[0] if n else lags


def correlation_matrix(n: int, rho: float, lags=None) -> np.ndarray:
    """Correlation matrix of n values of a stationary AR(1) series: rho^|i - j| for points at
    places i and j of the series (``series_positions``: consecutive without ``lags``, k apart
    across a gap of k - 1 points left out). The one definition of a gapped run's correlation."""
    places = series_positions(n, lags)
    return rho ** np.abs(np.subtract.outer(places, places))


def residual_maker(design: np.ndarray) -> np.ndarray:
    """M = I - X X^+: the projection onto what a least-squares fit on `design` leaves."""
    design = np.asarray(design, dtype=float)
    return np.eye(len(design)) - design @ np.linalg.pinv(design)


def effective_points(designs, rho_a: float, rho_b: float, lags=None) -> float:
    """How many independent points the correlation of two residual series is worth, when each
    run's residuals are AR(1) errors (rho_a, rho_b) left after regressing on that run's design.

    Var(r) ~ tr(M Sa M Sb) / (tr(M Sa) tr(M Sb)) under no correlation, with M the residual
    projection and S the AR(1) correlation matrices, so n_eff = tr(M Sa) tr(M Sb) / tr(M Sa M Sb);
    with independent errors it is n minus the coefficients fitted. ``lags``: run_lags's.
    """
    trace_a = trace_b = cross = 0.0
    for design, lag in zip(designs, run_lags(lags, len(designs))):
        m = residual_maker(design)
        ma = m @ correlation_matrix(len(m), rho_a, lag)
        mb = m @ correlation_matrix(len(m), rho_b, lag)
        trace_a += float(np.trace(ma))
        trace_b += float(np.trace(mb))
        cross += float(np.sum(ma * mb.T))
    return trace_a * trace_b / cross if cross > 0 else 0.0


def rho_posterior(design: np.ndarray, y: np.ndarray, lags=None) -> tuple[np.ndarray, np.ndarray]:
    """(RHO_GRID, weights): the REML likelihood of rho normalized over the grid (a flat prior).

    A bootstrap that draws its rho from these weights carries the uncertainty of rho, which on
    40-80 checkpoints is large (an estimate of 0.5 is consistent with 0.3-0.9). ``lags``: whiten's.
    """
    return pooled_rho_posterior([design], [y], None if lags is None else [lags])


def gaussian_loglik(sse_whitened: float, n: int, rho: float, lags=None) -> float:
    """Profile Gaussian log-likelihood (up to a constant) of a fit under AR(1) errors, from the
    sum of squares of its whitened residuals: the one scale that BICs of different fits share
    (``lags``: whiten's, whose transform's Jacobian it counts)."""
    return -0.5 * n * np.log(max(sse_whitened, 1e-300) / n) + float(log_jacobian(rho, lags))


def _recursion(shocks: np.ndarray, rho: float, lags=None) -> np.ndarray:
    """e_0 = shock_0 / sqrt(1 - rho^2), e_t = rho e_(t-1) + shock_t, along axis 0: a stationary
    AR(1) series from its innovations. With ``lags`` (whiten's), the series at those places only:
    e_t = rho^k e_(t-1) + shock_t sqrt((1 - rho^2k) / (1 - rho^2)) for a lag k (whiten's inverse)."""
    errors = np.empty_like(shocks)
    errors[0] = shocks[0] / np.sqrt(1.0 - rho * rho)
    if lags is not None:
        for t in range(1, len(shocks)):
            phi = rho ** float(lags[t])
            errors[t] = phi * errors[t - 1] + shocks[t] * np.sqrt((1.0 - phi * phi) / (1.0 - rho * rho))
        return errors
    for t in range(1, len(shocks)):
        errors[t] = rho * errors[t - 1] + shocks[t]
    return errors


def series_at_truths(shocks: np.ndarray, lags=None) -> np.ndarray:
    """Unit-variance AR(1) series at each rho of BIAS_TRUTHS from common standard-normal shocks
    (rows: time; columns: the shocks' columns for the first truth, then the next, ...), the
    simulations REML's bias and confidence distribution are read from (``lags``: _recursion's)."""
    return np.hstack([_recursion(shocks * np.sqrt(1.0 - r * r), r, lags) for r in BIAS_TRUTHS])


def simulate_errors(innovations: np.ndarray, rho: float, rng: np.random.Generator,
                    lags=None) -> np.ndarray:
    """An AR(1) error series built from innovations resampled with replacement (sieve bootstrap).

    `innovations` are whitened residuals; the first draw is scaled to the stationary variance.
    ``lags``: whiten's (the series at the places of the points kept).
    """
    eta = rng.choice(innovations, size=len(innovations), replace=True)
    return eta if rho == 0.0 else _recursion(eta, rho, lags)


def stationary_series(rho: float, shape, rng: np.random.Generator, scale: float = 1.0,
                      lags=None) -> np.ndarray:
    """Gaussian AR(1) series along axis 0 with marginal sd `scale` (columns independent): the
    null data that the coverage tests and benchmarks of these methods are measured on. ``lags``
    (whiten's): the series at the places of the points kept, correlated as correlation_matrix."""
    return _recursion(rng.normal(0.0, scale * np.sqrt(1.0 - rho * rho), shape), rho, lags)


BIAS_TRUTHS = np.linspace(0.0, MAX_RHO, 20)  # true rhos at which the REML estimate is simulated
BIAS_SIMS = 100                              # error series per true rho (split over pooled runs)
BIAS_SEED = 20261205                         # one stream: the same design gets the same correction


def bias_corrector(designs, n_sim: int | None = None, seed: int = BIAS_SEED, lags=None):
    """REML rho estimate -> bias-corrected rho (indirect inference), for runs with these designs.

    REML on 40-80 checkpoints underestimates a high rho (0.95 came out about 0.7 in the segmented
    fits), so GLS errors, intervals and tests taken at it are too narrow. Here: simulate AR(1)
    errors at each rho of BIAS_TRUTHS (common random numbers, unit scale: the estimate does not
    depend on the mean or the scale), re-estimate rho the same way (pooled REML on the same
    designs), and return the map that sends an estimate to the true rho whose mean estimate it
    is (linear interpolation over the monotone curve; an estimate below the mean at rho 0 gives
    0, one above the mean at MAX_RHO gives MAX_RHO). Works on floats and arrays of estimates.
    `n_sim` series per true rho (default BIAS_SIMS split over the runs, at least 10: a pooled
    estimate varies less). Used by the collapse report (its F-test over rho and its intervals),
    not by the transition search: there, with the breakpoints held, it raised the mean rho by
    0.02-0.05 but left the breakpoint intervals' coverage within a Monte Carlo SE (0 to +2 points),
    most of REML's bias coming from the extra breakpoints BIC chooses (bench/README.md).
    ``lags`` (run_lags's): each run's series simulated and re-estimated with its gaps.
    """
    designs = [np.asarray(d, dtype=float) for d in designs]
    n_sim = n_sim or max(10, BIAS_SIMS // max(len(designs), 1))
    rng = np.random.default_rng(seed)
    total = None
    for design, lag in zip(designs, run_lags(lags, len(designs))):
        shocks = rng.normal(size=(len(design), n_sim))
        errors = series_at_truths(shocks, lag)
        profile = reml_profile(design, errors, lag)
        if profile is not None:
            total = profile if total is None else total + profile
    if total is None:
        return lambda rho: rho
    means = RHO_GRID[np.argmax(total, axis=0)].reshape(len(BIAS_TRUTHS), n_sim).mean(axis=1)
    means = np.maximum.accumulate(means)

    def corrected(rho):
        out = np.interp(rho, means, BIAS_TRUTHS)
        return float(out) if np.ndim(rho) == 0 else out

    return corrected


def corrected_posterior(grid, weights, corrector) -> tuple[np.ndarray, np.ndarray]:
    """(rhos, weights): a likelihood over the rho grid carried through `corrector`, the grid
    points that land on one corrected rho merged (their weights summed); weights of several
    series (one column each) are merged column by column."""
    rhos, index = np.unique(np.round(corrector(np.asarray(grid, dtype=float)), 12), return_inverse=True)
    weights = np.asarray(weights, dtype=float)
    merged = np.zeros((len(rhos), *weights.shape[1:]))
    np.add.at(merged, index.ravel(), weights)
    return rhos, merged

"""Variable projection for the starts of a law: a law linear in some coefficients once its
exponents are fixed is searched on a grid of exponents only, the coefficients by non-negative
least squares (for all grid points at once), and the best grid points become the starts.
"""
from __future__ import annotations

import itertools

import numpy as np

from scalefit.scaling.objective import huber


def batched_nnls(X, y, w):
    """Solve min ||w (X c - y)|| with c >= 0 for every design X[g] (g, n, k); exact for small k.
    y and w are (n,), shared by every design, or (g, n), each design's own.

    Enumerates the active sets (2^k - 1 of them), solves each restricted least-squares problem by
    its normal equations in one batched call, and keeps the feasible one with least residual.
    Returns (coef (g, k), rss (g,)).
    """
    X = np.asarray(X, float)
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        return _batched_nnls(X, y, w)


def _batched_nnls(X, y, w):
    G, n, k = X.shape
    own = np.ndim(y) == 2  # each design its own targets and weights
    Xw = X * (w[:, :, None] if own else w[None, :, None])
    yw = y * w
    best = np.full(G, np.inf)
    coef = np.zeros((G, k))
    for size in range(1, k + 1):
        for cols in itertools.combinations(range(k), size):
            Xs = Xw[:, :, cols]
            XtX = np.einsum("gni,gnj->gij", Xs, Xs)
            Xty = np.einsum("gni,gn->gi" if own else "gni,n->gi", Xs, yw)
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


def huber_grid(logL, logpred, delta):
    """Summed Huber objective of each row of log predictions (grid points x runs)."""
    return huber(logL[None, :] - logpred, delta).sum(axis=1)


def top_k(objective, k):
    """Indices of the k lowest finite objectives, best first."""
    order = np.argsort(np.where(np.isfinite(objective), objective, np.inf))
    return [int(i) for i in order[:k] if np.isfinite(objective[i])]

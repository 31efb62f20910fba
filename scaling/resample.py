"""The one pairs bootstrap of the fitting layer: resample points with replacement, refit, collect.

The bootstrap intervals scalefit prints (law parameters, loss-to-loss parameters, whole models of
a checkpoint table, the warmup regression) draw their resamples here, so one seed gives one set of
resamples whatever is refitted on them; every refit loop, the accuracy laws' wild bootstrap's too,
runs through ``collect_draws``. (IsoFLOP exponents are drawn parametrically:
``laws.isoflop.line_draws``.)
"""
from __future__ import annotations

import sys
from typing import Callable

import numpy as np
from tqdm import tqdm


# Below this many resamples a 95% percentile interval sits near the draws' min and max: the tool
# then does not read "the intervals do not overlap", "excludes 0" or an explained share from it.
MIN_RESAMPLES_FOR_VERDICT = 100


def too_few_resamples(n_resamples: int) -> bool:
    """Whether a bootstrap of `n_resamples` (0: none was run) is too small to read a verdict from."""
    return 0 < n_resamples < MIN_RESAMPLES_FOR_VERDICT


def rough_intervals_note(n_resamples: int, what: str = "the 95% intervals", aside: str = "",
                         advise: int = 10 * MIN_RESAMPLES_FOR_VERDICT) -> str | None:
    """'N bootstrap resamples: <what> are rough<aside>; use --bootstrap ADVISE', or None when the
    bootstrap is large enough (or was not run). ``advise``: the count right for the command, its
    own default (predict curve's 200 refits, whose intervals are calibrated at that count; 1000
    was advised to it too)."""
    if not too_few_resamples(n_resamples):
        return None
    return (f"{n_resamples} bootstrap resamples: {what} are rough{aside}; "
            f"use --bootstrap {advise}")


def resample_indices(n_points: int, n_resamples: int, seed: int) -> np.ndarray:
    """(n_resamples, n_points) row indices drawn with replacement; row i is resample i."""
    rng = np.random.default_rng(seed)
    return rng.integers(0, n_points, (n_resamples, n_points))


def pairs_bootstrap(n_points: int, n_resamples: int, seed: int,
                    refit: Callable[[np.ndarray], dict | None], names, *,
                    progress: bool = False, desc: str = "bootstrap") -> tuple[dict, int]:
    """Call ``refit(idx)`` on each resample; return ({name: draws}, number failed).

    ``refit`` returns {name: value} for the quantities of one resample, or None when the refit
    failed (not converged, degenerate resample); a failed resample leaves NaN in every draw.
    """
    return collect_draws(resample_indices(n_points, n_resamples, seed), refit, names,
                         progress=progress, desc=desc)


def collect_draws(resamples, refit: Callable[[np.ndarray], dict | None], names, *,
                  progress: bool = False, desc: str = "bootstrap") -> tuple[dict, int]:
    """({name: draws}, number failed) of ``refit`` called on each row of ``resamples`` (row
    indices, or a wild bootstrap's responses): a refit that returns None leaves NaN in every
    draw. The one loop every bootstrap of the fitting layer runs its refits through."""
    n_resamples = len(resamples)
    draws = {name: np.full(n_resamples, np.nan) for name in names}
    failed = 0
    for i in tqdm(range(n_resamples), desc=desc, file=sys.stderr, disable=not progress,
                  leave=False):
        values = refit(resamples[i])
        if values is None:
            failed += 1
            continue
        for name in names:
            draws[name][i] = values[name]
    return draws, failed

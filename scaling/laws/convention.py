"""Which parameters N counts: Kaplan et al. 2020 count non-embedding parameters, Hoffmann et al.
2022 count all of them. A table that holds both columns says how one maps to the other.

``EmbeddingMap`` reads the runs' own (params, params_nonembed) pairs: between the runs' sizes
it interpolates the embedding count in log-log (so every run keeps its real ratio), beyond them
it follows the power law embed = c * N_nonembed^g fitted to the runs, from the nearest run (the
embedding matrix grows with width only, so the non-embedding share rises with size).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

TOTAL, NONEMBED = "params", "params_nonembed"
SAME_SIZE = 1e-9  # a total N within this relative distance of a run's is that run's size


@dataclass
class EmbeddingMap:
    """total N <-> non-embedding N from the runs' own sizes."""

    log_nonembed: np.ndarray  # sorted unique log N_nonembed of the runs
    log_embed: np.ndarray  # log(params - params_nonembed) at those sizes
    slope: float  # g in embed ~ N_nonembed^g (0 with one size: a constant embedding)
    runs: np.ndarray | None = None  # the runs' own (params, params_nonembed) rows, as the table has them

    @classmethod
    def from_frame(cls, frame: pd.DataFrame) -> "EmbeddingMap | None":
        """The map of a table with both columns and a positive embedding count, else None."""
        if TOTAL not in frame.columns or NONEMBED not in frame.columns:
            return None
        total = pd.to_numeric(frame[TOTAL], errors="coerce").to_numpy(float)
        nonembed = pd.to_numeric(frame[NONEMBED], errors="coerce").to_numpy(float)
        ok = np.isfinite(total) & np.isfinite(nonembed) & (nonembed > 0) & (total > nonembed)
        if not ok.any():
            return None
        sizes = pd.DataFrame({"x": np.log(nonembed[ok]), "y": np.log(total[ok] - nonembed[ok])})
        sizes = sizes.groupby("x", sort=True)["y"].mean()
        x, y = sizes.index.to_numpy(float), sizes.to_numpy(float)
        slope = float(np.polyfit(x, y, 1)[0]) if x.size > 1 else 0.0
        runs = np.column_stack([total, nonembed])[~(np.isnan(total) | np.isnan(nonembed))]
        return cls(x, y, slope, runs)

    def embed(self, nonembed) -> np.ndarray:
        """Embedding parameters at non-embedding size(s) ``nonembed``."""
        x = np.log(np.asarray(nonembed, float))
        inside = np.interp(x, self.log_nonembed, self.log_embed)
        below = self.log_embed[0] + self.slope * (x - self.log_nonembed[0])
        above = self.log_embed[-1] + self.slope * (x - self.log_nonembed[-1])
        y = np.where(x < self.log_nonembed[0], below,
                     np.where(x > self.log_nonembed[-1], above, inside))
        return np.exp(y)

    def total(self, nonembed) -> np.ndarray:
        """All parameters of a model with ``nonembed`` non-embedding parameters."""
        nonembed = np.asarray(nonembed, float)
        return nonembed + self.embed(nonembed)

    def nonembed(self, total, exact: bool = False) -> np.ndarray:
        """The inverse of ``total`` (monotone), by interpolation on a dense grid. ``exact``: a
        run's own non-embedding count where ``total`` is its size (within SAME_SIZE; the grid gave
        mini-5's 1643648 595100.75 for its 595072, 1.00005x the largest fitted N), else the grid's
        value refined by bisection in log N until ``total`` gives ``total`` back."""
        total = np.asarray(total, float)
        grid = np.geomspace(max(np.min(total), 1.0) * 1e-6, np.max(total) * 1.01, 4000)
        guess = np.exp(np.interp(np.log(total), np.log(self.total(grid)), np.log(grid)))
        if not exact:
            return guess
        lo, hi = np.log(guess) - 1e-2, np.log(guess) + 1e-2  # the grid's error is far under 1%
        for _ in range(60):
            mid = 0.5 * (lo + hi)
            below = self.total(np.exp(mid)) < total
            lo, hi = np.where(below, mid, lo), np.where(below, hi, mid)
        out = np.exp(0.5 * (lo + hi))
        for size, own in (() if self.runs is None else self.runs):
            out = np.where(np.abs(total / size - 1) <= SAME_SIZE, own, out)
        return out

    def describe(self) -> str:
        share = np.exp(self.log_nonembed) / (np.exp(self.log_nonembed) + np.exp(self.log_embed))
        return (f"Kaplan's non-embedding N converted to total parameters with the runs' own "
                f"embedding counts (non-embedding share {share.min():.0%} to {share.max():.0%}; "
                f"beyond the runs embed ~ N_nonembed^{self.slope:.2f})")

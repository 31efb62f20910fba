"""Fit bounds of the distribution families' shape statistics (t_nu, gennorm_beta, quartic_g):
a value at a bound is the bound, not an estimate, and reports and figures of every layer say so.

The bounds are the families' own (weightstats.families builds its records from BUILT_IN and
register_family adds a new family's shapes here), kept below the layers so that scaling/ draws a
capped nu without importing weightstats/.
"""
from __future__ import annotations

import numpy as np

# statistic column -> (family name, shape, (lower, upper) fit bounds) of the built-in families
BUILT_IN: dict[str, tuple[str, str, tuple[float, float]]] = {
    "t_nu": ("student_t", "nu", (0.3, 1e4)),
    "gennorm_beta": ("gennorm", "beta", (0.1, 50.0)),
    "quartic_g": ("quartic", "g", (0.0, 100.0)),
}
SHAPE_BOUNDS: dict[str, tuple[str, str, tuple[float, float]]] = dict(BUILT_IN)  # + registered ones


def bounds_of(stat: str) -> tuple[float, float]:
    """The (lower, upper) fit bounds of a shape statistic (KeyError for any other)."""
    return SHAPE_BOUNDS[stat][2]


def at_shape_bound(values, bound: float) -> np.ndarray:
    """Which values sit at a shape's fit bound (within 0.1%, as a bounded optimizer leaves them)."""
    return np.isclose(np.asarray(values, float), bound, rtol=1e-3)

"""Distribution families for weights, each a small spec as in scipy.stats: shape parameter names,
the standard log-density, a starting guess, bounds and a sampler. Every family is a
location-scale family; `loc` and `scale` are appended to its shape parameters.

One fitter (`binned_fit.fit_family`) serves them all. A family's record holds every fact about
it: besides the maths, its fixed `code` (the numeric value of `best_family` rows), its `prefix`
in tables (`t` for student_t: t_nu, t_bic), its `label` in figures and its `scipy_equivalent`.
A new family is one call, `register_family(Family(name=..., code=..., ...))`, built with
keywords; the fitter, the tables, the samplers and the plots read `FAMILIES`, the one registry.
Tables name a family by its `name` (`label` column of `best_family` rows).
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
from scipy import optimize, special, stats

from scalefit.errors import InputError, a_type, suggestion
from scalefit.shapes import SHAPE_BOUNDS, bounds_of

LOG_2PI = math.log(2 * math.pi)
SHAPE_AXES = ("log", "inverse", "linear")


@dataclass(frozen=True, kw_only=True)
class Family:
    """A location-scale family: log-density of the standard form, what fitting it needs, and how
    tables and figures name it. `prefix` and `label` default to `name`; a family with shapes
    and no `shape_axes` moves each shape on a linear axis."""

    name: str
    code: int  # fixed number of the family in tables (`value` of best_family rows); never reused
    shapes: tuple[str, ...]
    logpdf_std: Callable  # (z, *shapes) -> log-density at loc 0, scale 1
    start: Callable  # (excess_kurtosis) -> (*shapes, scale) for standardized data
    shape_bounds: tuple[tuple[float, float], ...]
    sample_std: Callable  # (rng, size, *shapes) -> standard draws
    score_std: Callable  # (z, *shapes) -> (d logpdf/dz, [d logpdf/d shape for each shape])
    cdf_std: Callable  # (z, *shapes) -> CDF of the standard form
    derived: Callable = field(default=lambda params: {})  # extra named values, original units
    closed_form: Callable | None = None  # (z, weights, median) -> (*shapes, loc, scale): exact MLE
    cusp_at_loc: bool = False  # density not smooth at loc (gennorm, Laplace): the fitter integrates the centre bins
    shape_axes: tuple[str, ...] = ()  # how the fitter moves each shape: "log", "inverse" or "linear"
    prefix: str = ""  # of its statistics in tables: <prefix>_<param>, <prefix>_bic ...
    label: str = ""  # its name in figure legends
    scipy_equivalent: object = None  # the same family in scipy.stats, for exact-MLE cross-checks

    def __post_init__(self):
        if not self.prefix:
            object.__setattr__(self, "prefix", self.name)
        if not self.label:
            object.__setattr__(self, "label", self.name)
        if self.shapes and not self.shape_axes:
            object.__setattr__(self, "shape_axes", ("linear",) * len(self.shapes))
        for what, given in (("shape_bounds", self.shape_bounds), ("shape_axes", self.shape_axes)):
            if len(given) != len(self.shapes):
                raise InputError(f"family '{self.name}': {len(given)} {what} for {len(self.shapes)} "
                                 f"shapes {self.shapes}")
        unknown = [a for a in self.shape_axes if a not in SHAPE_AXES]
        if unknown:
            raise InputError(f"family '{self.name}': shape axis '{unknown[0]}' (known: {', '.join(SHAPE_AXES)})")

    @property
    def params(self) -> tuple[str, ...]:
        """Parameter names in order: shapes, then loc and scale."""
        return (*self.shapes, "loc", "scale")

    def logpdf(self, x, *params):
        """Log-density at x for (shapes..., loc, scale)."""
        *shapes, loc, scale = params
        return self.logpdf_std((np.asarray(x, dtype=np.float64) - loc) / scale, *shapes) - math.log(scale)

    def cdf(self, x, *params):
        """CDF at x for (shapes..., loc, scale)."""
        *shapes, loc, scale = params
        return self.cdf_std((np.asarray(x, dtype=np.float64) - loc) / scale, *shapes)

    def sample(self, rng: np.random.Generator, size, *params) -> np.ndarray:
        """Draws of the given size for (shapes..., loc, scale)."""
        *shapes, loc, scale = params
        return loc + scale * self.sample_std(rng, size, *shapes)


# ---- standard log-densities -------------------------------------------------------------------

def gaussian_logpdf(z):
    """log N(z; 0, 1)."""
    return -0.5 * z * z - 0.5 * LOG_2PI


def student_t_logpdf(z, nu):
    """log t_nu(z), the Student-t density with nu degrees of freedom."""
    return (special.gammaln(0.5 * (nu + 1)) - special.gammaln(0.5 * nu) - 0.5 * math.log(nu * math.pi)
            - 0.5 * (nu + 1) * np.log1p(z * z / nu))


def logistic_logpdf(z):
    """log of the standard logistic density e^-z / (1 + e^-z)^2, written stably via |z|."""
    a = np.abs(z)
    return -a - 2.0 * np.log1p(np.exp(-a))


def laplace_logpdf(z):
    """log of the standard Laplace density exp(-|z|) / 2."""
    return -np.abs(z) - math.log(2.0)


def gennorm_logpdf(z, beta):
    """log of the generalized normal beta / (2 Gamma(1/beta)) exp(-|z|^beta): exp(-k|x|^alpha)."""
    return math.log(beta) - math.log(2.0) - special.gammaln(1.0 / beta) - np.abs(z) ** beta


def quartic_log_normaliser(g: float) -> float:
    """log of Z(g) = integral exp(-(z^2/2 + g z^4)) dz, stable from g = 0 to large g.

    Z = (1/2) sqrt(a/b) e^{a^2/8b} K_{1/4}(a^2/8b) with a = 1/2, b = g; the exponentially scaled
    Bessel function `kve` absorbs e^{a^2/8b}, so neither factor overflows as g -> 0.
    """
    if g <= 0:
        return 0.5 * LOG_2PI
    arg = 1.0 / (32.0 * g)
    if arg > 1e6:  # asymptotic series of the Gaussian limit: Z = sqrt(2 pi) (1 - 3g + ...)
        return 0.5 * LOG_2PI + math.log1p(-3.0 * g + 105.0 / 2.0 * g * g)
    return math.log(0.5) + 0.5 * math.log(0.5 / g) + math.log(special.kve(0.25, arg))


def quartic_logpdf(z, g):
    """log of exp(-(z^2/2 + g z^4)) / Z(g): the quartic perturbation of the Gaussian."""
    z2 = z * z
    return -(0.5 * z2 + g * z2 * z2) - quartic_log_normaliser(g)


# ---- scores (derivatives of the standard log-density) and CDFs -------------------------------

def gaussian_score(z):
    """d/dz log N(z; 0, 1)."""
    return -z, []


def student_t_score(z, nu):
    """d/dz and d/dnu of log t_nu(z)."""
    z2 = z * z
    d_nu = (0.5 * special.digamma(0.5 * (nu + 1)) - 0.5 * special.digamma(0.5 * nu) - 0.5 / nu
            - 0.5 * np.log1p(z2 / nu) + (nu + 1) * z2 / (2 * nu * (nu + z2)))
    return -(nu + 1) * z / (nu + z2), [d_nu]


def logistic_score(z):
    """d/dz of the standard logistic log-density: -tanh(z/2)."""
    return -np.tanh(0.5 * z), []


def laplace_score(z):
    """d/dz of the standard Laplace log-density: -sign(z)."""
    return -np.sign(z), []


def gennorm_score(z, beta):
    """d/dz and d/dbeta of the generalized normal log-density."""
    a = np.maximum(np.abs(z), 1e-300)
    a_beta = a ** beta
    d_beta = 1.0 / beta + special.digamma(1.0 / beta) / beta ** 2 - a_beta * np.log(a)
    return -beta * a_beta / a * np.sign(z), [d_beta]


def _quartic_dlogz(g: float) -> float:
    """d/dg log Z(g) = -E[z^4] under the quartic law, by a difference of the stable log Z."""
    h = max(1e-7, 1e-4 * g)
    if g <= h:
        return (quartic_log_normaliser(g + h) - quartic_log_normaliser(g)) / h
    return (quartic_log_normaliser(g + h) - quartic_log_normaliser(g - h)) / (2 * h)


def quartic_score(z, g):
    """d/dz and d/dg of the quartic log-density."""
    z2 = z * z
    return -(z + 4.0 * g * z2 * z), [-z2 * z2 - _quartic_dlogz(g)]


def _gennorm_cdf(z, beta):
    return 0.5 + 0.5 * np.sign(z) * special.gammainc(1.0 / beta, np.abs(z) ** beta)


def _laplace_cdf(z):
    return 0.5 + 0.5 * np.sign(z) * -np.expm1(-np.abs(z))


def _quartic_cdf(z, g):
    """CDF from 0 outwards (symmetry): 8-point Gauss-Legendre between the sorted |z| and a 0.25 grid."""
    z = np.asarray(z, dtype=np.float64)
    a = np.abs(z.reshape(-1))
    knots = np.union1d(a, np.arange(0.0, a.max(initial=0.0) + 0.25, 0.25))
    left, right = np.concatenate([[0.0], knots[:-1]]), knots
    nodes, weights = np.polynomial.legendre.leggauss(8)
    half, mid = 0.5 * (right - left), 0.5 * (right + left)
    x = mid[:, None] + half[:, None] * nodes[None, :]
    mass = np.cumsum((np.exp(quartic_logpdf(x, g)) * weights).sum(axis=1) * half)
    at = mass[np.searchsorted(knots, a)]
    return (0.5 + np.sign(z.reshape(-1)) * at).reshape(z.shape)


# ---- starting guesses from the excess kurtosis of standardized data ---------------------------

def _t_start(kurt):
    nu = 4.0 + 6.0 / kurt if kurt > 0.05 else 60.0
    nu = min(max(nu, 2.5), 200.0)
    return nu, math.sqrt((nu - 2) / nu)


def _gennorm_kurtosis(beta):
    return math.exp(special.gammaln(5 / beta) + special.gammaln(1 / beta) - 2 * special.gammaln(3 / beta)) - 3


def _gennorm_start(kurt):
    lo, hi = 0.3, 20.0
    target = min(max(kurt, _gennorm_kurtosis(hi) + 1e-6), _gennorm_kurtosis(lo) - 1e-6)
    beta = optimize.brentq(lambda b: _gennorm_kurtosis(b) - target, lo, hi)
    return beta, math.sqrt(math.exp(special.gammaln(1 / beta) - special.gammaln(3 / beta)))


def _quartic_start(kurt):
    return (0.05 if kurt < -0.1 else 1e-3), 1.0


def _quartic_sample(rng, size, g):
    """Rejection from N(0, 1): accept z with probability exp(-g z^4) (exact, since g >= 0)."""
    count = int(np.prod(size))
    out = np.empty(0)
    while out.size < count:
        z = rng.standard_normal(max(2 * (count - out.size), 1024))
        out = np.concatenate([out, z[rng.random(z.size) < np.exp(-g * z ** 4)]])
    return out[:count].reshape(size)


def _gennorm_sample(rng, size, beta):
    """|z|^beta ~ Gamma(1/beta): draw the Gamma, take the root, attach a random sign."""
    mag = rng.gamma(1.0 / beta, 1.0, size) ** (1.0 / beta)
    return np.where(rng.random(size) < 0.5, -mag, mag)


def _gaussian_mle(z, weights, median):
    loc = float(weights @ z)
    return loc, math.sqrt(float(weights @ (z - loc) ** 2))


def _laplace_mle(z, weights, median):
    return median, float(weights @ np.abs(z - median))


GAUSSIAN = Family(
    name="gaussian", code=0, label="Gaussian", scipy_equivalent=stats.norm,
    shapes=(), logpdf_std=gaussian_logpdf, start=lambda k: (1.0,), shape_bounds=(),
    sample_std=lambda rng, size: rng.standard_normal(size), score_std=gaussian_score, cdf_std=special.ndtr,
    closed_form=_gaussian_mle)
STUDENT_T = Family(
    name="student_t", code=1, prefix="t", label="Student-t", scipy_equivalent=stats.t,
    shapes=("nu",), logpdf_std=student_t_logpdf, start=_t_start, shape_bounds=(bounds_of("t_nu"),),
    sample_std=lambda rng, size, nu: rng.standard_t(nu, size), score_std=student_t_score,
    cdf_std=lambda z, nu: special.stdtr(nu, z),
    shape_axes=("inverse",))  # smooth in 1/nu around the Gaussian limit
LOGISTIC = Family(
    name="logistic", code=2, label="logistic", scipy_equivalent=stats.logistic,
    shapes=(), logpdf_std=logistic_logpdf, start=lambda k: (math.sqrt(3) / math.pi,),
    shape_bounds=(), sample_std=lambda rng, size: rng.logistic(0.0, 1.0, size), score_std=logistic_score,
    cdf_std=special.expit)
LAPLACE = Family(
    name="laplace", code=3, label="Laplace", scipy_equivalent=stats.laplace,
    shapes=(), logpdf_std=laplace_logpdf, start=lambda k: (1 / math.sqrt(2),), shape_bounds=(),
    sample_std=lambda rng, size: rng.laplace(0.0, 1.0, size), score_std=laplace_score, cdf_std=_laplace_cdf,
    closed_form=_laplace_mle, cusp_at_loc=True)
GENNORM = Family(
    name="gennorm", code=4, label="generalized normal", scipy_equivalent=stats.gennorm,
    shapes=("beta",), logpdf_std=gennorm_logpdf, start=_gennorm_start,
    shape_bounds=(bounds_of("gennorm_beta"),), sample_std=_gennorm_sample, score_std=gennorm_score, cdf_std=_gennorm_cdf,
    shape_axes=("log",), cusp_at_loc=True)
QUARTIC = Family(
    name="quartic", code=5, label="quartic",  # no scipy.stats equivalent
    shapes=("g",), logpdf_std=quartic_logpdf, start=_quartic_start, shape_bounds=(bounds_of("quartic_g"),),
    sample_std=_quartic_sample, score_std=quartic_score, cdf_std=_quartic_cdf,
    derived=lambda p: {"gamma": p["g"] / p["scale"] ** 4}, shape_axes=("linear",))

FAMILIES: dict[str, Family] = {}  # the registry, by name: add to it with register_family


def register_family(family: Family) -> Family:
    """Add a family to `FAMILIES` and return it; every fit, table, sampler and figure then knows it.

    A name is registered once (registering the same record again is a no-op); its `code` and its
    `prefix` must be free too, since tables store the code and name statistics by the prefix.
    """
    if not isinstance(family, Family):
        raise InputError(f"register_family takes a Family(...), not {a_type(family)}")
    known = FAMILIES.get(family.name)
    if known is family:
        return family
    if known is not None:
        raise InputError(f"family '{family.name}' is already registered "
                         f"(unregister_family('{family.name}') first to replace it)")
    if not (isinstance(family.code, int) and family.code >= 0):
        raise InputError(f"family '{family.name}': code {family.code!r} is not an integer >= 0 "
                         f"(the next free code is {next_family_code()})")
    for other in FAMILIES.values():
        if other.code == family.code:
            raise InputError(f"family '{family.name}': code {family.code} is family '{other.name}''s "
                             f"(the next free code is {next_family_code()})")
        if other.prefix == family.prefix:
            raise InputError(f"family '{family.name}': prefix '{family.prefix}' is family "
                             f"'{other.name}''s (its statistics would share names in tables)")
    FAMILIES[family.name] = family
    SHAPE_BOUNDS.update(_shape_entries(family))  # reports and figures of every layer read them there
    return family


def _shape_entries(family: Family) -> dict:
    return {f"{family.prefix}_{shape}": (family.name, shape, tuple(bounds))
            for shape, bounds in zip(family.shapes, family.shape_bounds)}


def unregister_family(name: str) -> Family:
    """Take a family out of `FAMILIES` (a notebook redefining one, a test cleaning up); returns it."""
    family = get_family(name)
    del FAMILIES[family.name]
    for stat in _shape_entries(family):
        SHAPE_BOUNDS.pop(stat, None)
    return family


def next_family_code() -> int:
    """The code a new family takes: one more than the largest registered (codes are never reused
    while tables that store them exist)."""
    return max((f.code for f in FAMILIES.values()), default=-1) + 1


def family_by_code(code) -> Family:
    """The registered family whose fixed code this is (a `best_family` row's value)."""
    for family in FAMILIES.values():
        if family.code == int(code):
            return family
    raise InputError(f"no registered family has code {code!r} (known: "
                     + ", ".join(f"{f.code} {f.name}" for f in FAMILIES.values())
                     + "); a table with it was written with a family registered by register_family")


for _family in (GAUSSIAN, STUDENT_T, LOGISTIC, LAPLACE, GENNORM, QUARTIC):
    register_family(_family)


class FamilyFacts(Mapping):
    """A read-only, live view {name: one fact} of the registered families (the older per-fact
    maps, kept for callers that read them); families are added with register_family."""

    def __init__(self, fact: str, what: str):
        self._fact, self._what = fact, what

    def _items(self) -> dict:
        return {name: getattr(f, self._fact) for name, f in FAMILIES.items()
                if getattr(f, self._fact) is not None}

    def __getitem__(self, name):
        return self._items()[name]

    def __iter__(self):
        return iter(self._items())

    def __len__(self):
        return len(self._items())

    def __setitem__(self, name, value):
        raise TypeError(f"{self._what} is read from the families' records: add a family with "
                        f"register_family(Family(name=..., {self._fact}=..., ...))")

    def __repr__(self):
        return repr(self._items())


# the same families in scipy.stats, for exact-MLE cross-checks (quartic has none)
SCIPY_EQUIVALENT = FamilyFacts("scipy_equivalent", "families.SCIPY_EQUIVALENT")


def get_family(name) -> Family:
    """A family by name (a `Family` is returned as it is); InputError naming the known ones
    otherwise, and pointing from a table prefix ('t' of t_nu) to its family."""
    if isinstance(name, Family):
        return name
    try:
        return FAMILIES[name]
    except (KeyError, TypeError):  # TypeError: an unhashable name
        pass
    by_prefix = [f.name for f in FAMILIES.values() if f.prefix == name]
    if by_prefix:
        raise InputError(f"unknown family '{name}'; did you mean '{by_prefix[0]}'? ('{name}' is the "
                         f"prefix of its statistics in tables, e.g. {name}_loc)")
    raise InputError(f"unknown family '{name}'" + suggestion(name, FAMILIES))

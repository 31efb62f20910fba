"""A fit's printed stderr does not depend on the CPU: scaling.fitresult.settle_covariance drops a
numerically singular lmfit covariance (whether J'J of an unidentified fit inverts, and to what, is
decided by the BLAS kernels: the same five-run Kaplan fit gave stderr 10^7 on an AVX-512 machine,
none on AVX2), and keeps a well-determined one bit for bit."""
import lmfit
import numpy as np

from scalefit.scaling.fitresult import SINGULAR_CORRELATION, settle_covariance


def _line_fit(x, y, model):
    return model.fit(y, model.make_params(a=1.0, b=0.5), x=x, method="least_squares")


def test_an_unidentified_pair_has_no_error_bars():
    """y = (a + b) x: a and b move together, J's two columns are equal; lmfit may still return a
    covariance (rounding makes J'J invertible), which settle_covariance drops."""
    x = np.linspace(1, 2, 12)
    y = 3 * x + np.random.default_rng(0).normal(0, 0.01, x.size)
    model = lmfit.Model(lambda x, a, b: (a + b) * x)
    result = _line_fit(x, y, model)
    result.errorbars, result.covar = True, np.array([[1.0, -1.0 + 1e-14], [-1.0 + 1e-14, 1.0]]) * 1e6
    settle_covariance(result)
    assert not result.errorbars
    assert all(np.isnan(result.params[n].stderr) for n in ("a", "b"))
    settle_covariance(result)  # a result without error bars is left as it is
    assert not result.errorbars


def test_a_derived_parameter_of_a_singular_fit_reads_zero_as_lmfit_leaves_it():
    x = np.linspace(1, 2, 12)
    y = 3 * x + np.random.default_rng(1).normal(0, 0.01, x.size)
    model = lmfit.Model(lambda x, a, b: (a + b) * x)
    params = model.make_params(a=1.0, b=0.5)
    params.add("s", expr="a + b")
    result = model.fit(y, params, x=x, method="least_squares")
    result.errorbars, result.covar = True, np.array([[4.0, -4.0], [-4.0, 4.0]])
    settle_covariance(result)
    assert result.params["s"].stderr == 0 and result.params["s"].correl is None


def test_a_well_determined_fit_keeps_its_covariance_bits():
    """Strongly correlated (0.99) but identified: nothing changes."""
    x = np.linspace(1, 2, 30)
    y = 2.0 + 3 * x + np.random.default_rng(2).normal(0, 0.01, x.size)
    model = lmfit.Model(lambda x, a, b: a + b * x)
    result = _line_fit(x, y, model)
    before = (result.errorbars, result.covar.copy(), {n: p.stderr for n, p in result.params.items()})
    corr = result.covar / np.outer(np.sqrt(np.diag(result.covar)), np.sqrt(np.diag(result.covar)))
    assert abs(corr[0, 1]) > 0.9 and np.linalg.eigvalsh(corr)[0] > SINGULAR_CORRELATION
    settle_covariance(result)
    assert result.errorbars == before[0] and np.array_equal(result.covar, before[1])
    assert {n: p.stderr for n, p in result.params.items()} == before[2]


def test_a_covariance_with_a_negative_variance_has_no_error_bars():
    x = np.linspace(1, 2, 12)
    model = lmfit.Model(lambda x, a, b: a + b * x)
    result = _line_fit(x, 1 + x, model)
    result.errorbars, result.covar = True, np.array([[1.0, 0.0], [0.0, -1e-30]])
    settle_covariance(result)
    assert not result.errorbars


def test_a_covariance_that_did_not_invert_reads_as_one_that_came_out_negative():
    """lmfit leaves stderr None where J'J did not invert and NaN where a variance came out negative;
    which happens is the CPU's doing, so both read the same: NaN, derived 0, no error bars."""
    x = np.linspace(1, 2, 12)
    model = lmfit.Model(lambda x, a, b: (a + b) * x)
    params = model.make_params(a=1.0, b=0.5)
    params.add("s", expr="a + b")
    result = model.fit(3 * x, params, x=x, method="least_squares")
    result.errorbars, result.covar = False, None
    for par in result.params.values():
        par.stderr = None
    settle_covariance(result)
    assert np.isnan(result.params["a"].stderr) and np.isnan(result.params["b"].stderr)
    assert result.params["s"].stderr == 0 and not result.errorbars

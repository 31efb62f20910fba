"""batched_huber_refit with a singular row in the batch: the other rows keep their Levenberg-
Marquardt step (one LinAlgError sent every active row to a gradient step for that iteration)."""
import numpy as np

from scalefit.scaling.laws.bootstrap import batched_huber_refit


def _line(t0, t1, x):
    return t0 + t1 * x


def test_one_singular_row_leaves_the_others_their_newton_step():
    """A linear law with no damping (lam0=0): one Gauss-Newton step lands on the least-squares
    line. Row 1 resamples only the point x = 0, where the slope moves nothing, so its matrix is
    singular; rows 0 and 2 must still reach their own lines in that one iteration."""
    x = np.array([0.0, 1.0, 2.0, 3.0])
    log_loss = np.array([1.0, 1.4, 2.1, 2.4])
    counts = np.array([[1.0, 1.0, 1.0, 1.0], [4.0, 0.0, 0.0, 0.0], [2.0, 0.0, 1.0, 1.0]])
    bounds = (np.array([-10.0, -10.0]), np.array([10.0, 10.0]))
    theta, _ = batched_huber_refit(_line, [0.0, 0.0], bounds, {"x": x}, log_loss, 10.0, counts,
                                   max_iter=1, lam0=0.0)
    design = np.column_stack([np.ones_like(x), x])
    for row in (0, 2):
        w = np.sqrt(counts[row])
        exact = np.linalg.lstsq(design * w[:, None], log_loss * w, rcond=None)[0]
        np.testing.assert_allclose(theta[row], exact, rtol=1e-6)
    # the singular row took its scaled gradient step: the intercept towards 1, the slope held
    assert theta[1, 1] == 0.0 and 0.0 < theta[1, 0] <= 1.0 + 1e-9

"""User maps autograd cannot differentiate get a NotDifferentiableError that says why."""

import math

import autograd.numpy as anp
import numpy as np
import pytest

import riemflow as rf


def _in_place(x):
    y = np.zeros(2)
    y[0] = x[0] * x[1]
    return y


def test_numpy_ufuncs_are_differentiated_correctly():
    """autograd's ArrayBox dispatches numpy ufuncs (np.sin) to its own: no error needed."""
    G = rf.Parametrization(lambda x: np.sin(x), 2)
    np.testing.assert_allclose(G.jacobian(np.ones(2)), np.cos(1.0) * np.eye(2), rtol=1e-15)


@pytest.mark.parametrize(
    "fn",
    [
        lambda x: np.dot(np.eye(2), x),  # a plain numpy non-ufunc on a traced array
        lambda x: np.array([x[0] * x[1], x[1]]),  # object array of traced values
        lambda x: np.asarray([math.exp(x[0])]),  # math on a traced scalar
        _in_place,
    ],
    ids=["np.dot", "np.array", "math.exp", "in-place"],
)
def test_plain_numpy_maps_are_refused(fn):
    G = rf.Parametrization(fn, 2)
    G(np.ones(2))  # evaluating is fine
    with pytest.raises(rf.errors.NotDifferentiableError, match="autograd.numpy"):
        G.jacobian(np.ones(2))


def test_maps_with_bad_output_shape():
    G = rf.Parametrization(lambda x: np.ones((2, 2)) * 1.0, 2, vectorized=False)
    with pytest.raises(rf.errors.ShapeError, match=r"\(d,\)"):
        G(np.ones(2))


def test_non_finite_values_are_a_domain_error():
    import autograd.numpy as anp

    G = rf.Parametrization(lambda x: anp.log(x), 2)
    with pytest.raises(rf.errors.DomainError, match="not finite"):
        G(np.array([1.0, -1.0]))


def test_unsupported_space():
    from geomstats.geometry.spd_matrices import SPDMatrices

    with pytest.raises(rf.errors.UnsupportedSpaceError, match=r"space\.metric"):
        rf.Parametrization(lambda x: x, SPDMatrices(2, equip=False))
    with pytest.raises(rf.errors.UnsupportedSpaceError):
        rf.Parametrization(lambda x: x, "R3")
    with pytest.raises(TypeError, match="callable"):
        rf.Parametrization(3.0)


def test_scalar_maps_that_broadcast_are_detected_as_vectorized():
    """`R(w) = sum(...)` returns `(B,)` on a batch: it must be evaluated in one call (a
    per-point loop made third derivatives of user potentials 60x slower)."""
    from riemflow._autodiff import PointwiseMap

    pm = PointwiseMap(lambda w: anp.sum(w * anp.log(w), axis=-1), "R")
    out = pm(np.array([[1.0, 2.0], [3.0, 4.0], [0.5, 0.5]]))
    assert pm.vectorized is True and np.shape(out) == (3, 1)

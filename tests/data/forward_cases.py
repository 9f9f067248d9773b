"""Models of the forward theorem shared by the potential and equivalence tests.

`ZOO`: commuting zoo models with non-default initializations (mixed signs, unbalanced),
each carrying a closed-form potential. `custom_commuting`: a commuting map outside the zoo
(an invertible mix of maps of disjoint variable blocks, docs/concepts.md, "Commuting
parametrizations"), which has none.
"""

import autograd.numpy as anp
import numpy as np

import riemflow as rf


def _quadratic_commuting():
    rng = np.random.default_rng(3)
    V, _ = np.linalg.qr(rng.standard_normal((3, 3)))
    A = np.stack([V @ np.diag(lam) @ V.T for lam in ([1.0, 0.5, -0.3], [0.2, -0.4, 0.9])])
    return rf.models.quadratic(A, init=np.array([0.6, -0.5, 0.8]))


ZOO = {
    "uu-vv general init": lambda: rf.models.diagonal_network(
        2, 2, init=(np.array([0.7, -1.3]), np.array([0.4, 0.9]))
    ),
    "u*u": lambda: rf.models.hadamard_square(2, init=np.array([0.8, -1.2])),
    "u^3-v^3 general init": lambda: rf.models.diagonal_network(
        2, 3, init=(np.array([0.7, 1.3]), np.array([0.5, -0.9]))
    ),
    "u^4 unsigned": lambda: rf.models.diagonal_network(
        2, 4, init=np.array([0.9, 0.6]), signed=False
    ),
    "u^2.5-v^2.5": lambda: rf.models.diagonal_network(2, 2.5, init=(0.8, 0.6)),
    "u*v general init": lambda: rf.models.hadamard_product(
        2, init=(np.array([1.0, 0.3]), np.array([0.4, -0.8]))
    ),
    "u1u2-v1v2": lambda: rf.models.diagonal_network(
        2,
        2,
        form="product",
        init=(
            np.array([0.6, 1.1]),
            np.array([0.9, 0.2]),
            np.array([0.5, 0.4]),
            np.array([-0.3, 0.7]),
        ),
    ),
    "linear": lambda: rf.models.linear(
        np.array([[1.0, 2.0, 0.0], [0.5, -1.0, 1.0]]), init=np.array([0.1, 0.2, 0.3])
    ),
    "quadratic commuting": _quadratic_commuting,
    "matrix sensing commuting": lambda: rf.models.matrix_sensing(
        np.stack([np.diag([1.0, 0.0]), np.diag([0.0, 1.0])]), rank=1, init=np.array([0.7, 0.4])
    ),
    "simplex sphere": lambda: rf.models.simplex_sphere(2, init=np.array([0.6, 0.48, 0.64])),
}


def custom_commuting():
    """A map outside the zoo: an invertible mix of maps of disjoint variable blocks."""
    M = np.array([[1.0, 0.5], [-0.3, 1.0]])

    def fn(x):
        h = anp.stack([x[..., 0] * x[..., 1] + x[..., 0], 0.5 * x[..., 2] ** 2 + x[..., 2]], -1)
        return anp.einsum("ij,...j->...i", M, h)

    return rf.Parametrization(fn, 3, name="custom mix"), np.array([1.0, 0.5, 0.2])


def cubic_map(d, M=None):
    """`w = u^3 + u - v^3 - v` (times an invertible `M` when given), `x = (u, v)`: a commuting
    user map with no closed form in riemflow."""

    def fn(x):
        u, v = x[..., :d], x[..., d:]
        g = u**3 + u - v**3 - v
        return g if M is None else anp.einsum("ij,...j->...i", M, g)

    name = "u^3 + u - v^3 - v" + ("" if M is None else " mixed")
    return rf.Parametrization(fn, 2 * d, name=name)


def cubic_dual_map(x0, d):
    """`grad r*` of the cubic map per coordinate, in closed form: along the joint flow
    `du/dmu = 3u^2 + 1`, `dv/dmu = -(3v^2 + 1)`, so
    `u(mu) = tan(atan(sqrt3 u0) + sqrt3 mu) / sqrt3` and the same for `v` with `-mu`."""
    s3 = np.sqrt(3.0)
    u0, v0 = x0[:d], x0[d:]

    def grad_conjugate(nu):
        u = np.tan(np.arctan(s3 * u0) + s3 * nu) / s3
        v = np.tan(np.arctan(s3 * v0) - s3 * nu) / s3
        return u**3 + u - v**3 - v

    return grad_conjugate

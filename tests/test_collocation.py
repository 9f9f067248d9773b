"""The structured operators of the Chebyshev collocation against an explicit Jacobian.

`Collocation` never forms `J`; here it is formed column by column from `jvp` on small
problems, and every structured operator (`vjp`, `normal_matrix` with and without its
low-degree block, `normal_diagonal`) must equal the explicit product to round-off
(relative 1e-12: sums of a few thousand products of order-one terms).
"""

import numpy as np
import pytest

import riemflow as rf
from riemflow.embedding.chebyshev import Collocation

CASES = {
    "d=2 log-ball": (rf.potentials.log_ball(2), [-0.5, -0.5], [0.5, 0.5], 5, 4),
    "d=3 log-det": (rf.potentials.log_det(2), [1.0, -0.3, 1.0], [2.0, 0.3, 2.0], 3, 7),
}


@pytest.fixture(params=list(CASES), scope="module")
def problem(request):
    R, lower, upper, degree, D = CASES[request.param]
    col = Collocation(R, lower, upper, degree, int(np.ceil(1.5 * (degree + 1))), 1.0)
    rng = np.random.default_rng(3)
    C = rng.normal(size=(degree + 1,) * col.d + (D,))
    dF = col.first(C)
    basis = np.eye(C.size).reshape((C.size,) + C.shape)
    J = np.stack([col.jvp(dF, e).reshape(-1) for e in basis], axis=1)
    return col, C, dF, J


def _close(a, b):
    return np.max(np.abs(a - b)) <= 1e-12 * np.max(np.abs(b))


def test_vjp_is_the_transpose_of_jvp(problem):
    col, C, dF, J = problem
    R = np.random.default_rng(4).normal(size=J.shape[0])
    assert _close(col.vjp(dF, R.reshape(col.residual(dF).shape)).reshape(-1), J.T @ R)


def test_normal_matrix_and_its_diagonal_equal_the_explicit_product(problem):
    col, C, dF, J = problem
    JTJ = J.T @ J
    assert _close(col.normal_matrix(dF), JTJ)
    assert _close(col.normal_diagonal(dF).reshape(-1), np.diag(JTJ))
    keep = np.zeros(C.shape, dtype=bool)
    keep[(slice(0, 2),) * col.d] = True  # the low-degree block the preconditioner factors
    idx = np.flatnonzero(keep.reshape(-1))
    assert _close(col.normal_matrix(dF, 2), JTJ[np.ix_(idx, idx)])

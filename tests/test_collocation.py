"""The Chebyshev collocation: its structured operators against an explicit Jacobian, and
the degree loop's stopping rule.

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


def test_a_degree_stops_where_its_honest_defect_meets_tol():
    """After the first degree, a fit first stops at node residual `check_factor * tol` and
    the honest defect decides whether it goes on to `node_tol_factor * tol`."""
    from riemflow.embedding.chebyshev import curved_embedding, fit_degree

    goals = []

    def recording(col, C, *, node_tol, **options):
        goals.append((col.degree, node_tol))
        return fit_degree(col, C, node_tol=node_tol, **options)

    R = rf.potentials.log_ball(2)
    box = rf.domains.Box(np.array([-0.5, -0.5]), np.array([0.5, 0.5]))
    tol = 1e-7
    res = curved_embedding(R, box, tol=tol, fit=recording)
    assert res.check.defect <= tol
    first = res.history[0].degree
    later = [(deg, goal) for deg, goal in goals if deg > first]
    assert later
    for deg in {deg for deg, _ in later}:
        stages = [goal for g, goal in later if g == deg]
        assert stages[0] == pytest.approx(0.5 * tol)
        assert stages[1:] in ([], [pytest.approx(0.05 * tol)])
    goals.clear()  # check_factor at or below node_tol_factor: one stage per degree
    res = curved_embedding(R, box, tol=tol, fit=recording, check_factor=0.05)
    later = [goal for deg, goal in goals if deg > first]
    assert later and all(goal == pytest.approx(0.05 * tol) for goal in later)


def test_bad_check_factor_and_winding_budgets_are_named():
    from riemflow.embedding.chebyshev import curved_embedding
    from riemflow.errors import InputError

    R = rf.potentials.log_ball(2)
    box = rf.domains.Box(np.array([-0.5, -0.5]), np.array([0.5, 0.5]))
    for bad in (0.0, -1.0, float("nan")):
        with pytest.raises(InputError, match="check_factor"):
            curved_embedding(R, box, tol=1e-6, check_factor=bad)
    with pytest.raises(InputError, match="time_limit"):
        rf.embedding.radial.radial_embedding(R.hessian, np.zeros(2), (0.0, 0.8), time_limit=-1)

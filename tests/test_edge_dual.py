"""implicit_bias near the edge of dom R*: the slack solve against 60-digit references, the
solve in theta where that converges, and the float64 diagnosis where it cannot."""

import mpmath as mp
import numpy as np
import pytest

import riemflow as rf
from riemflow import edge_dual
from riemflow.experiments import wind, woodworth


def _reference(eps: float, depth: int, alpha_p: float, digits: int = 250):
    """The Bregman projection of 0 on `x_1 + (1 - eps) x_2 = 1` for the depth-p network
    potential, `u0 = v0 = alpha`: `x_i = alpha^p h(s a_i)`, `h(s) = (1 - s)^-P - (1 + s)^-P`,
    `P = p / (p - 2)`, with the scalar dual `s` solving `<a, x> = 1` (bisection in
    `digits` digits: `1 - s` is about `alpha^(p-2)`, down to 1e-100, and must keep 60
    digits of its own)."""
    with mp.workdps(digits):
        a = [mp.mpf(1), 1 - mp.mpf(eps)]
        P = mp.mpf(depth) / (depth - 2)
        scale = mp.mpf(alpha_p)

        def x(s):
            return [scale * ((1 - s * ai) ** (-P) - (1 + s * ai) ** (-P)) for ai in a]

        lo, hi = mp.mpf(0), mp.mpf(1)
        for _ in range(4 * digits):
            mid = (lo + hi) / 2
            if sum(ai * xi for ai, xi in zip(a, x(mid), strict=True)) > 1:
                hi = mid
            else:
                lo = mid
        return [float(v) for v in x((lo + hi) / 2)]


@pytest.mark.parametrize(
    "depth, alpha_p", [(3, 1e-10), (3, 1e-30), (3, 1e-100), (3, 1e-300), (4, 1e-100), (5, 1e-30)]
)
def test_tiny_initializations_match_the_60_digit_reference(depth, alpha_p):
    """The issue's instance A = [1, 1 - eps], eps = 0.2: the solve in theta stopped at
    alpha^3 = 1e-30 (residual 3e-6) and 1e-100 (residual 1) saying "may have no solution"."""
    A, y = wind.hard_instance(0.2)
    alpha = alpha_p ** (1 / depth)
    want = _reference(0.2, depth, alpha_p)
    for R in (
        rf.potentials.diagonal_network(2, depth=depth, alpha=alpha),
        woodworth.paper_potential(2, alpha, depth),
    ):
        out = rf.implicit_bias(R, A, y, np.zeros(2), full_output=True)
        # float64 inputs (alpha, 0.8) carry ~1e-16 relative errors, amplified by the edge
        np.testing.assert_allclose(out.w, want, rtol=5e-14)
        assert out.feasibility <= 1e-14 and out.message.startswith("edge form")
    if (depth, alpha_p) == (3, 1e-30):
        assert abs(out.w[1] - 1.2482853208591677e-28) < 1e-13 * 1.25e-28


@pytest.mark.parametrize("alpha_p", [1e-30, 1e-100])
def test_nearly_parallel_columns_at_depth_three(alpha_p):
    """A = [1, 1 - eps] with eps = 1e-3: the second coordinate is about alpha^3 / eps^3
    (1e-21 and 1e-91), far below the first; both potentials against the 60-digit
    reference."""
    A, y = np.array([[1.0, 1.0 - 1e-3]]), np.ones(1)
    want = _reference(1e-3, 3, alpha_p)
    for R in (
        rf.potentials.diagonal_network(2, depth=3, alpha=alpha_p ** (1 / 3)),
        woodworth.paper_potential(2, alpha_p ** (1 / 3), 3),
    ):
        np.testing.assert_allclose(rf.implicit_bias(R, A, y, np.zeros(2)), want, rtol=5e-14)


def test_edge_solve_agrees_with_the_solve_in_theta_at_moderate_scales():
    rng = np.random.default_rng(11)
    for depth in (3, 4):
        X, y = rng.standard_normal((3, 10)), rng.standard_normal(3)
        u0, v0 = 0.3 + 0.1 * rng.uniform(size=10), 0.3 + 0.1 * rng.uniform(size=10)
        R = rf.potentials.power_network(u0, v0, depth=depth)
        w0 = u0**depth - v0**depth
        edge = rf.implicit_bias(R, X, y, w0, tol=1e-13, full_output=True)
        plain = rf.potentials.power_network(u0, v0, depth=depth)
        plain.edge_form = None  # the solve in theta alone
        ref = rf.implicit_bias(plain, X, y, w0, tol=1e-13)
        assert edge.message.startswith("edge form")
        np.testing.assert_allclose(edge.w, ref, rtol=1e-11, atol=1e-13)
        assert edge.stationarity < 1e-12


def test_face_problem_selects_the_face_limit():
    """A degenerate vertex (three coordinates saturate, n = 2) at alpha^3 = 1e-30: the limit
    is the face selection of Wind et al. (`face_limit`)."""
    A, y = wind.face_problem()
    R = rf.potentials.diagonal_network(6, depth=3, alpha=1e-10)
    np.testing.assert_allclose(
        rf.implicit_bias(R, A, y, np.zeros(6)), wind.face_limit(A, y, depth=3), atol=1e-12
    )


@pytest.mark.parametrize(
    "build",
    [
        lambda: rf.potentials.power_network([0.5, -1.2, 2.0], [0.7, 0.4, -1.1], depth=3),
        lambda: rf.potentials.power_network([0.5, 1.2, 2.0], None, depth=4),
        lambda: rf.potentials.power_network([0.5, 1.2, 2.0], [0.3, 0.4, 0.9], depth=3.5),
        lambda: rf.potentials.diagonal_network(3, depth=5, alpha=0.2),
        lambda: woodworth.paper_potential(3, 0.3, 3),
    ],
    ids=["signed mixed", "unsigned", "real depth", "depth 5", "paper Q_3"],
)
def test_edge_forms_describe_their_potentials(build):
    """The form's grad R* is the potential's, inside dom R* and up to its edges."""
    R = build()
    form = R.edge_form
    lo, hi = form.edges()
    rng = np.random.default_rng(0)
    upper = np.where(np.isfinite(lo) & np.isfinite(hi), rng.uniform(size=R.dim) < 0.5, True)
    upper = np.where(np.isfinite(hi), upper, False)
    end = np.where(upper, hi, lo)  # a finite end of dom R* per coordinate (0 is inside)
    for t in (0.1, 0.5, 0.9, 1 - 1e-6):
        mu = t * end
        # near the edge both lose the digits of the distance 1 - t (cancellation in the base)
        rtol = 1e-13 + 1e-14 / (1 - t)
        np.testing.assert_allclose(form.grad_conjugate(mu), R.grad_conjugate(mu), rtol=rtol)


def test_unsigned_network_projection_is_feasible_and_matches_theta_solve():
    rng = np.random.default_rng(5)
    X = rng.uniform(0.2, 1.0, (2, 6))
    y = X @ rng.uniform(0.5, 1.5, 6)
    u0 = np.full(6, 0.5)
    R = rf.potentials.power_network(u0, None, depth=3)
    w = rf.implicit_bias(R, X, y, u0**3)
    assert np.all(w > 0) and np.max(np.abs(X @ w - y)) < 1e-12
    plain = rf.potentials.power_network(u0, None, depth=3)
    plain.edge_form = None
    np.testing.assert_allclose(w, rf.implicit_bias(plain, X, y, u0**3), rtol=1e-10)


def test_the_known_limit_of_the_edge_solve_is_reported():
    """Degenerate face at depth 4, alpha^4 = 1e-300: the basis exchanges cycle; the error
    says so, and that float64 (not feasibility) stopped the fallback solve in theta."""
    A, y = wind.face_problem()
    R = rf.potentials.diagonal_network(6, depth=4, alpha=1e-75)
    with pytest.raises(rf.errors.ConvergenceError) as info:
        rf.implicit_bias(R, A, y, np.zeros(6))
    text = str(info.value)
    assert "degenerate faces" in text and "float64 resolution, not feasibility" in text


def test_degenerate_vertex_stays_exactly_degenerate():
    """Three coordinates of the face problem saturate together (n = 2); in 800-digit
    arithmetic the third one's slack constant is exactly 0 in the float data, so the face
    selection survives down to alpha^3 = 1e-300."""
    A, y = wind.face_problem()
    R = rf.potentials.diagonal_network(6, depth=3, alpha=1e-100)
    out = rf.implicit_bias(R, A, y, np.zeros(6), full_output=True)
    np.testing.assert_allclose(out.w, wind.face_limit(A, y, depth=3), atol=1e-15)


def _without_edge_form(depth, alpha):
    R = rf.potentials.diagonal_network(2, depth=depth, alpha=alpha)
    R.edge_form = None
    return R


@pytest.mark.parametrize("alpha_p", [1e-30, 1e-100])
def test_the_theta_solve_says_float64_stopped_it_not_feasibility(alpha_p):
    A, y = wind.hard_instance(0.2)
    with pytest.raises(rf.errors.ConvergenceError) as info:
        rf.implicit_bias(_without_edge_form(3, alpha_p ** (1 / 3)), A, y, np.zeros(2))
    text = str(info.value)
    assert "float64 resolution, not feasibility" in text and "may have no solution" not in text
    assert "has solutions in the domain" in text
    if alpha_p == 1e-100:
        assert "within one float64 spacing" in text


def test_infeasible_problems_are_called_infeasible():
    R = rf.potentials.negative_entropy(2)  # w > 0 only
    with pytest.raises(rf.errors.ConvergenceError) as info:
        rf.implicit_bias(R, np.array([[1.0, 1.0]]), np.array([-1.0]), np.ones(2), max_iter=50)
    assert "no solution in the domain" in str(info.value) and "infeasible" in str(info.value)
    # unsigned depth-3 network: w > 0, and y < 0 has no solution there either
    U = rf.potentials.power_network(np.full(2, 0.5), None, depth=3)
    with pytest.raises(rf.errors.ConvergenceError, match="infeasible"):
        rf.implicit_bias(U, np.array([[1.0, 1.0]]), np.array([-1.0]), np.full(2, 0.125))


def test_edge_solve_reports_budgets_and_bad_starts():
    A, y = wind.hard_instance(0.2)
    form = rf.potentials.diagonal_network(2, depth=3, alpha=1e-10).edge_form
    sol = edge_dual.solve(form, A, y, max_iter=1)
    assert not sol.converged and "budget" in sol.message
    with pytest.raises(rf.errors.ConvergenceError, match="outside dom R"):
        edge_dual.solve(form.started_at(np.array([1e40, 0.0])), A, y)
    with pytest.raises(rf.errors.InputError, match="depth"):
        edge_dual.PowerSum.terms(np.ones((1, 2)), np.ones((1, 2)), 2.0)

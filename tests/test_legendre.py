"""Legendre: the generic class, its reports, and what it refuses."""

import autograd.numpy as anp
import numpy as np
import pytest

import riemflow as rf


def test_generic_legendre_with_autograd_derivatives():
    """R(w) = sum exp(w) + |w|^2 / 2: no closed forms given, everything by autograd/Newton."""
    R = rf.Legendre(lambda w: anp.sum(anp.exp(w)) + 0.5 * anp.sum(w**2), 3)
    w = np.array([0.3, -1.0, 2.0])
    np.testing.assert_allclose(R.grad(w), np.exp(w) + w, rtol=1e-15)
    np.testing.assert_allclose(R.hessian(w), np.diag(np.exp(w) + 1), rtol=1e-15)
    np.testing.assert_allclose(
        R.third_derivative(w)[np.arange(3), np.arange(3), np.arange(3)], np.exp(w), rtol=1e-15
    )
    np.testing.assert_allclose(R.grad_conjugate(R.grad(w)), w, rtol=1e-14)
    v = np.array([0.0, 0.5, 1.0])
    want = R(w) - R(v) - (np.exp(v) + v) @ (w - v)
    assert R.bregman(w, v) == pytest.approx(want, rel=1e-14)
    assert R.bregman(w, w) == 0.0
    assert np.all(R.bregman(np.stack([w, v]), np.stack([v, w])) > 0)
    assert R.check().passed and R.check_flat().passed  # separable


def test_check_reports_a_concave_function():
    R = rf.Legendre(lambda w: -anp.sum(w**2), 2)
    rep = R.check()
    assert not rep.passed and rep.min_hessian_eigenvalue < 0
    assert "NOT Legendre" in str(rep)
    with pytest.raises(rf.errors.NotPositiveDefiniteError, match="no start point"):
        R.grad_conjugate(np.zeros(2))


def test_check_reports_missing_essential_smoothness():
    """|w|^2 / 2 restricted to the orthant: strictly convex but grad R stays bounded at the
    boundary (the mirror map is not onto), so it is not Legendre there."""
    R = rf.Legendre(lambda w: 0.5 * anp.sum(w**2), 2, domain=rf.domains.Box.orthant(2))
    rep = R.check()
    assert not rep.passed and rep.boundary_growth < 2.0
    with pytest.raises(rf.errors.ConvergenceError, match="outside the range"):
        R.grad_conjugate(np.array([-1.0, 1.0]))  # grad R = w cannot be negative here


def test_newton_failure_reports_residual():
    R = rf.Legendre(lambda w: anp.sum(anp.exp(w)), 1)  # grad R > 0: mu = -1 unreachable
    with pytest.raises(rf.errors.ConvergenceError) as info:
        R.grad_conjugate(np.array([-1.0]))
    assert info.value.residual > 0 and info.value.iterations >= 1


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda R: R.grad(np.array([1.0, -1.0])), rf.errors.DomainError, "outside the domain"),
        (lambda R: R(np.ones(3)), rf.errors.ShapeError, "last dimension 2"),
        (lambda R: R.hessian(np.array([np.nan, 1.0])), rf.errors.NonFiniteError, "non-finite"),
        (lambda R: R.grad_conjugate(np.array([np.inf, 0.0])), rf.errors.NonFiniteError, "mu"),
        (lambda R: R.bregman(np.ones(2), np.ones((2, 2))), rf.errors.ShapeError, "same shape"),
    ],
)
def test_bad_points(call, error, match):
    R = rf.potentials.negative_entropy(2)
    with pytest.raises(error, match=match):
        call(R)


def test_mu_outside_the_conjugate_domain():
    with pytest.raises(rf.errors.DomainError, match="outside the range"):
        rf.potentials.log_barrier(2).grad_conjugate(np.array([-1.0, 1.0]))
    with pytest.raises(rf.errors.DomainError, match="not finite"):
        rf.potentials.log_barrier(2).conjugate(np.array([1.0, 1.0]))


def test_non_differentiable_potential():
    R = rf.Legendre(lambda w: float(np.sum(w**2)), 2)
    with pytest.raises(rf.errors.NotDifferentiableError, match="autograd"):
        R.grad(np.ones(2))


def test_bad_constructor_arguments():
    with pytest.raises(rf.errors.NotPositiveDefiniteError, match="smallest eigenvalue"):
        rf.potentials.squared_euclidean(2, np.diag([1.0, -1.0]))
    with pytest.raises(rf.errors.ShapeError, match="matrix"):
        rf.potentials.squared_euclidean(2, np.eye(3))
    with pytest.raises(rf.errors.InputError, match="alpha"):
        rf.potentials.hyperbolic_entropy(2, -1.0)
    with pytest.raises(rf.errors.ShapeError, match="alpha"):
        rf.potentials.hyperbolic_entropy(2, [1.0, 2.0, 3.0])
    with pytest.raises(rf.errors.InputError, match="p"):
        rf.potentials.p_norm(2, 1.0)
    with pytest.raises(rf.errors.InputError, match="depth"):
        rf.potentials.diagonal_network(2, 1.5)
    with pytest.raises(rf.errors.InputError, match="too small"):
        rf.potentials.diagonal_network(2, 5, 1e-120)
    with pytest.raises(rf.errors.ShapeError, match="domain"):
        rf.Legendre(lambda w: anp.sum(w**2), 2, domain=[(0.0, 1.0)])
    with pytest.raises(rf.errors.InputError, match="lower < upper"):
        rf.domains.Box([1.0], [0.0])


def test_box_domain_from_pairs():
    R = rf.Legendre(
        lambda w: -anp.sum(anp.log(w - 1.0) + anp.log(3.0 - w)), 2, domain=[(1.0, 3.0), (1.0, 3.0)]
    )
    assert R.contains(np.array([2.0, 2.0])) and not R.contains(np.array([0.5, 2.0]))
    assert R.check().passed  # log barrier of the box: Legendre on it


def test_newton_stops_at_a_solution_at_zero_after_starting_elsewhere():
    # the commuting-quadratic potential R = Q^* is centered: grad R(w0) = 0 exactly, where a
    # step test relative to |mu| never passes (steps oscillate at 1e-16); started from the
    # previous (distant) solution, Newton used to exhaust its iterations there.
    rng = np.random.default_rng(0)
    V, _ = np.linalg.qr(rng.standard_normal((5, 5)))
    A = np.einsum("ij,aj,kj->aik", V, rng.uniform(-1, 1, (3, 5)), V)
    G, _ = rf.models.quadratic(A)
    x0 = rng.standard_normal(5)
    R = rf.mirror_potential(G, x0)
    w0 = G(x0)
    # about 1 start in 100 used to fail: try 300 (public path: each solve starts from the last)
    for mu_start in np.random.default_rng(1).uniform(-0.7, 0.7, (300, 3)):
        R.grad(R.grad_conjugate(mu_start))
        np.testing.assert_allclose(R.grad(w0), 0.0, rtol=0, atol=1e-13)

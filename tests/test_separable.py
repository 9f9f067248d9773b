"""The structured forward construction against closed forms and independent references.

Tolerance: the Chebyshev panels resolve the one-dimensional potentials to ~1e-12 relative
(`interpolation_tol = 1e-13`; measured 1e-15 .. 1e-13 against the closed forms here), and
`grad R` is a Newton solve on the interpolant to round-off. 1e-10 leaves two orders for
the conditioning of `grad R` near a blow-up, and sits two orders below the 1e-8 the
forward construction promises.
"""

import autograd.numpy as anp
import numpy as np
import pytest

import riemflow as rf
from riemflow.experiments.labarriere import random_layers
from riemflow.potentials import SignedDeepInit, product_network
from riemflow.separable import direct_sum, separable_potential
from riemflow.structure import find_structure

from .data.forward_cases import cubic_dual_map, cubic_map, custom_commuting

TOL = 1e-10


def _rel(a, b):
    a, b = np.asarray(a), np.asarray(b)
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-300))


def _compare(R, exact, w0, rng, spread=1.0, n=3):
    d = w0.size
    for w in w0 + spread * rng.uniform(-1, 1, size=(n, d)):
        assert _rel(R.grad(w), exact.grad(w)) < TOL
        assert _rel(R.hessian(w), exact.hessian(w)) < TOL
        assert abs(R(w) - exact(w)) < TOL * max(1.0, abs(exact(w)))
    mu = np.asarray(R.grad(w0 + 0.5 * spread * rng.uniform(-1, 1, size=(n, d))))
    assert _rel(R.grad_conjugate(mu), exact.grad_conjugate(mu)) < TOL
    assert _rel(R.conjugate(mu), exact.conjugate(mu)) < TOL
    assert _rel(R.hessian_conjugate(mu), exact.hessian_conjugate(mu)) < TOL


def _product(d, depth, seed, scale=1.0):
    U, V = random_layers(depth, d, 1.0, seed), random_layers(depth, d, scale, seed + 10)
    G, x0 = rf.models.diagonal_network(d, depth, form="product", init=list(U) + list(V))
    return G, x0, U, V


def test_depth2_general_init_against_the_exponential_pair():
    d = 6
    rng = np.random.default_rng(0)
    init = (rng.uniform(0.1, 2, d), rng.uniform(0.1, 2, d))
    G, x0 = rf.models.diagonal_network(d, 2, init=init)
    R = rf.mirror_potential(G, x0, closed_form=False)
    assert R.report.route == "separable" and R.name.startswith("numerical separable")
    assert R.report.separable.verified_error < 1e-11
    assert R.report.separable.error_estimate < 1e-11
    _compare(R, rf.mirror_potential(G, x0), G(x0), rng, spread=3.0)


def test_power_network_on_its_orthant_against_the_closed_form():
    d = 5
    rng = np.random.default_rng(1)
    init = (rng.uniform(0.3, 1.5, d), rng.uniform(0.3, 1.5, d))
    G, x0 = rf.models.diagonal_network(d, 3, init=init)
    R = rf.mirror_potential(G, x0, closed_form=False)
    _compare(R, rf.mirror_potential(G, x0), G(x0), rng, spread=2.0)


@pytest.mark.parametrize("depth", [3, 4])
def test_product_network_against_the_closed_form(depth):
    d = 40
    G, x0, U, V = _product(d, depth, depth, scale=0.8)
    R = rf.mirror_potential(G, x0, closed_form=False)
    assert R.report.structure.n_problems == d
    assert R.report.separable.bracket_pairs == (0, d * (d - 1) // 2)
    exact = product_network(U, V)
    rng = np.random.default_rng(depth)
    _compare(R, exact, G(x0), rng)
    X, y = rng.standard_normal((10, d)), rng.standard_normal(10)
    assert _rel(rf.implicit_bias(R, X, y, G(x0)), rf.implicit_bias(exact, X, y, G(x0))) < TOL


def test_identical_blocks_share_one_problem():
    d = 200
    G, x0 = rf.models.diagonal_network(d, 3, form="product", alpha=0.7)
    R = rf.mirror_potential(G, x0, closed_form=False)
    found = R.report.structure
    assert len(np.unique(found.family)) == 1 and found.n_problems == 1
    U = np.full((3, d), 0.7)
    _compare(R, product_network(U, U), G(x0), np.random.default_rng(0))


def test_user_cubic_map_against_its_closed_form_flow():
    d = 50
    rng = np.random.default_rng(2)
    x0 = rng.uniform(0.2, 1.0, 2 * d)
    G = cubic_map(d)
    R = rf.mirror_potential(G, x0)
    assert R.report.route == "separable" and R.report.structure.n_problems == d
    dual = cubic_dual_map(x0, d)
    w = G(x0) + rng.uniform(-2, 2, d)
    mu = np.asarray(R.grad(w))
    assert _rel(dual(mu), w) < TOL
    assert _rel(R.grad_conjugate(mu), dual(mu)) < TOL


def test_dense_output_mixing_against_its_closed_form_flow():
    d = 30
    rng = np.random.default_rng(3)
    M = rng.standard_normal((d, d)) / np.sqrt(d) + np.eye(d)
    x0 = rng.uniform(0.2, 1.0, 2 * d)
    G = cubic_map(d, M)
    R = rf.mirror_potential(G, x0)
    assert R.report.route == "separable" and R.report.structure.mixing is not None
    assert R.report.separable.verified_error < 1e-10
    dual = cubic_dual_map(x0, d)
    mu = 0.05 * rng.uniform(-1, 1, d)
    assert _rel(R.grad_conjugate(mu), M @ dual(M.T @ mu)) < TOL
    w = G(x0) + rng.uniform(-1, 1, d)
    assert _rel(M @ dual(M.T @ R.grad(w)), w) < TOL


def test_quadratic_family_with_a_declared_input_mixing():
    """Commuting quadratics `A_i = V diag(lam_i) V^T` (`d = D`): separable in `z = V^T x`
    after the output mixing (found); against the zoo's closed form."""
    d = 4
    rng = np.random.default_rng(4)
    V, _ = np.linalg.qr(rng.standard_normal((d, d)))
    A = np.einsum("ik,ak,jk->aij", V, rng.uniform(0.5, 2.0, size=(d, d)), V)
    G, x0 = rf.models.quadratic(A, init=rng.uniform(0.5, 1.0, d))
    R = rf.mirror_potential(G, x0, closed_form=False, structure=find_structure(G, x0, inner=V.T))
    assert R.report.route == "separable"
    exact = rf.mirror_potential(G, x0)
    for x in x0 * rng.uniform(0.7, 1.3, size=(3, d)):  # points of the range (a cone)
        w = G(x)
        assert _rel(R.grad(w), exact.grad(w)) < TOL
        assert _rel(R.hessian(w), exact.hessian(w)) < TOL
        assert abs(R(w) - exact(w)) < TOL * max(1.0, abs(exact(w)))
        mu = np.asarray(exact.grad(w))
        assert _rel(R.hessian_conjugate(mu), exact.hessian_conjugate(mu)) < TOL
    assert not R.domain.contains(-np.abs(G(x0)))  # outside the range


def test_hand_written_quadratic_family_is_rotated_without_being_told():
    """The same family written as a user map (no closed form attached): the input mixing
    is found from the eigenvectors of hess <c, G>, the output mixing from the Jacobian."""
    d = 4
    rng = np.random.default_rng(4)
    V, _ = np.linalg.qr(rng.standard_normal((d, d)))
    A = np.einsum("ik,ak,jk->aij", V, rng.uniform(0.5, 2.0, size=(d, d)), V)
    G = rf.Parametrization(lambda x: 0.5 * anp.einsum("kij,...i,...j->...k", A, x, x), d)
    x0 = rng.uniform(0.5, 1.0, d)
    R = rf.mirror_potential(G, x0)
    assert R.report.route == "separable" and R.report.structure.inner is not None
    exact = rf.mirror_potential(*rf.models.quadratic(A, init=x0))
    for x in x0 * rng.uniform(0.7, 1.3, size=(2, d)):
        w = G(x)
        assert _rel(R.grad(w), exact.grad(w)) < TOL
        assert _rel(R.hessian(w), exact.hessian(w)) < TOL


def test_gradient_flow_is_mirror_flow_with_the_separable_potential():
    d = 8
    G, x0, _, _ = _product(d, 3, 9)
    R = rf.mirror_potential(G, x0, closed_form=False)
    X = np.random.default_rng(0).standard_normal((3, d))
    loss = rf.losses.squared(X, np.array([1.0, -0.5, 0.2]))
    report = rf.verify_equivalence(
        loss, (0.0, 20.0), parametrization=G, x0=x0, legendre=R, n_times=41
    )
    assert report.passed, report


def test_extension_on_demand_and_the_edges_of_the_dual_interval():
    d = 10
    G, x0, U, V = _product(d, 3, 5)
    R, report = separable_potential(find_structure(G, x0), w_span=0.5)
    exact = product_network(U, V)
    before = report.n_extensions
    w = G(x0) + np.linspace(-30.0, 30.0, d)  # far outside the first span
    assert _rel(R.grad(w), exact.grad(w)) < TOL
    assert report.n_extensions > before
    assert report.error_estimate < 1e-11
    # past the blow-up of the joint flow (the dual interval's end): outside, as the closed form
    S = SignedDeepInit(U, V)
    mu_far = np.where(np.arange(d) % 2 == 0, 1.2 * S.mu_hi, 0.9 * S.mu_lo)
    with pytest.raises(rf.errors.DomainError):
        R.grad_conjugate(mu_far)
    inside = mu_far.copy()
    inside[::2] = 0.9 * S.mu_hi[::2]
    assert _rel(R.grad_conjugate(inside), S.grad_conjugate(inside)) < 1e-9


def test_legendre_check_third_derivatives_and_flatness():
    d = 4
    G, x0, U, V = _product(d, 3, 11)
    R = rf.mirror_potential(G, x0, closed_form=False)
    assert R.check(n_samples=16).passed
    w = G(x0) + 0.4
    # the third derivative is the differentiated interpolant of r*'': ~n^2 times the tail
    assert _rel(R.third_derivative(w), product_network(U, V).third_derivative(w)) < 1e-8
    assert R.check_flat(n_samples=4).passed


def test_a_map_without_structure_takes_the_joint_flow_route_and_reports_its_cost():
    G, u0 = rf.models.simplex_sphere(3)
    R = rf.mirror_potential(G, u0, closed_form=False)
    assert R.report.route == "joint flow" and "Euclidean" in R.report.notes[0]
    w = np.array([0.2, 0.3, 0.1])
    assert _rel(R.grad(w), rf.mirror_potential(G, u0).grad(w)) < 1e-8
    assert R.report.cost.solves > 0 and R.report.cost.per_solve > 0
    assert "joint-flow solves" in str(R.report)


def test_custom_mix_of_blocks_is_split_by_its_output_mixing():
    G, x0 = custom_commuting()
    R = rf.mirror_potential(G, x0)
    assert R.report.route == "separable" and R.report.structure.mixing is not None
    joint = rf.mirror_potential(G, x0, structure=None)
    assert joint.report.route == "joint flow"
    for mu in ([0.2, -0.1], [-0.3, 0.25]):
        mu = np.array(mu)
        assert _rel(R.grad_conjugate(mu), joint.grad_conjugate(mu)) < 1e-9
        assert _rel(R.hessian_conjugate(mu), joint.hessian_conjugate(mu)) < 1e-9


def test_scalar_and_multi_output_blocks():
    """Four scalar blocks (`u*u - v*v`) and one 2-output block of commuting quadratics."""
    m = 4

    def fn(x):
        u, v, z = x[..., :m], x[..., m : 2 * m], x[..., 2 * m :]
        q1 = 0.5 * (z[..., :1] ** 2 + z[..., 1:] ** 2)
        q2 = 0.5 * (z[..., :1] ** 2 - z[..., 1:] ** 2)
        return anp.concatenate([u * u - v * v, q1, q2], axis=-1)

    rng = np.random.default_rng(8)
    u0, v0, z0 = rng.uniform(0.3, 1.2, m), rng.uniform(0.3, 1.2, m), np.array([0.9, 0.6])
    x0 = np.concatenate([u0, v0, z0])
    G = rf.Parametrization(fn, 2 * m + 2, name="mixed blocks")
    # found with an output mixing (q1 +- q2 = z1^2, z2^2): every block scalar
    auto = rf.mirror_potential(G, x0)
    assert auto.report.route == "separable"
    R = rf.mirror_potential(G, x0, structure=find_structure(G, x0, mixing=None))
    assert R.report.route == "blocks"
    assert R.report.separable.bracket_pairs == (1, 15)
    assert R.report.separable.verified_error < 1e-10
    pair = rf.potentials.exponential_pair(u0**2, v0**2, 4.0)
    Gq, xq = rf.models.quadratic(np.stack([np.eye(2), np.diag([1.0, -1.0])]), init=z0)
    quadratic = rf.mirror_potential(Gq, xq)
    for scale in (0.8, 1.2):
        w = G(x0 * scale)
        assert _rel(R.grad(w)[:m], pair.grad(w[:m])) < TOL
        assert _rel(R.grad(w)[m:], quadratic.grad(w[m:])) < 1e-9
        assert abs(R(w) - pair(w[:m]) - quadratic(w[m:])) < 1e-9
        H = R.hessian(w)
        assert _rel(H[:m, :m], pair.hessian(w[:m])) < TOL and np.all(H[:m, m:] == 0)
        assert _rel(auto.grad(w), R.grad(w)) < 1e-9
    X, y = rng.standard_normal((3, 2 * m - 2)), rng.standard_normal(3)
    result = rf.implicit_bias(R, X, y, G(x0), full_output=True)
    assert result.feasibility < 1e-10 and result.stationarity < 1e-8
    assert _rel(rf.implicit_bias(auto, X, y, G(x0)), result.w) < 1e-9


def test_direct_sum_has_the_pieces_derivatives():
    a, b = rf.potentials.negative_entropy(2), rf.potentials.hyperbolic_entropy(1, 0.5)
    R = direct_sum([(np.array([0, 2]), a), (np.array([1]), b)], 3)
    w = np.array([0.7, -0.4, 1.9])
    np.testing.assert_allclose(R(w), a(w[[0, 2]]) + b(w[[1]]), rtol=1e-14)
    T = R.third_derivative(w)
    np.testing.assert_allclose(T[0, 0, 0], -1 / 0.7**2, rtol=1e-13)
    np.testing.assert_allclose(T[1, 1, 1], b.third_derivative(w[[1]])[0, 0, 0], rtol=1e-13)
    assert np.count_nonzero(T) == 3


def test_a_failed_verification_falls_back_to_the_joint_flow_route():
    """`structure_tol` below the measured gap (~1e-14) stands in for a dependency the
    detection missed: the joint-flow route is taken, and the report says why."""
    G, x0 = rf.models.diagonal_network(2, 2, init=(np.array([0.7, 1.2]), 0.5))
    R = rf.mirror_potential(G, x0, closed_form=False, structure_tol=1e-30)
    assert R.report.route == "joint flow"
    assert "missed an independent joint flow" in R.report.notes[-1]


def test_the_panels_have_a_time_budget():
    G, x0, _, _ = _product(3, 3, 1)
    with pytest.raises(rf.errors.ConvergenceError, match="max_seconds"):
        separable_potential(find_structure(G, x0), max_seconds=1e-9)

"""Gradient flow = mirror flow (forward theorem), its failure for non-commuting maps, the
implicit bias as a Bregman projection, and the discrete-time gap."""

import numpy as np
import pytest

import riemflow as rf
from riemflow.errors import ConvergenceError

from .data.forward_cases import ZOO, custom_commuting

# Both flows run at rtol 1e-12; measured deviations are 1e-13 .. 1e-10. The bar.
EQUIVALENCE_TOL = 1e-8


def _data(d, kind, seed=0, n=2):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    if kind == "squared":
        return rf.losses.squared(X, X @ rng.standard_normal(d))
    # separable classification: labels of a random direction
    y = np.sign(X @ rng.standard_normal(d))
    return rf.losses.DataLoss(X, y, kind=kind)


@pytest.mark.parametrize("kind", ["squared", "logistic", "exponential"])
@pytest.mark.parametrize("name", list(ZOO))
def test_zoo_gradient_flow_is_mirror_flow(name, kind):
    G, x0 = ZOO[name]()
    loss = _data(G.output_dim, kind)
    report = rf.verify_equivalence(loss, (0.0, 3.0), parametrization=G, x0=x0, n_times=41)
    assert report.passed, str(report)
    assert report.max_deviation < EQUIVALENCE_TOL
    gradient, mirror = report.trajectories
    assert gradient.loss[-1] < gradient.loss[0]
    # the dual invariant along the gradient flow: grad R(w(t)) = mu(t) = -int grad L
    R = report.legendre
    np.testing.assert_allclose(R.grad(gradient.w[-1]), mirror.mu[-1], rtol=1e-7, atol=1e-9)


def test_mini_batch_time_dependent_loss():
    """A stochastic mini-batch schedule (batch k on [k tau, (k+1) tau)) is one
    time-dependent loss; the theorem holds for it too."""
    G, x0 = ZOO["uu-vv general init"]()
    rng = np.random.default_rng(1)
    X = rng.standard_normal((6, 2))
    full = rf.losses.squared(X, X @ np.array([1.0, -0.5]))
    batches = [full.subset(rng.choice(6, 2, replace=False)) for _ in range(8)]
    tau = 0.25

    @rf.losses.time_dependent
    def loss(w, t):
        return batches[min(int(t / tau), len(batches) - 1)](w)

    report = rf.verify_equivalence(loss, (0.0, 2.0), parametrization=G, x0=x0, n_times=41)
    assert report.passed, str(report)


def test_custom_commuting_map_outside_the_zoo():
    G, x0 = custom_commuting()
    loss = rf.losses.squared(np.array([[1.0, -2.0]]), np.array([0.5]))
    R = rf.mirror_potential(G, x0)
    assert R.name.startswith("numerical")
    report = rf.verify_equivalence(
        loss, (0.0, 1.5), parametrization=G, x0=x0, legendre=R, n_times=16
    )
    assert report.passed, str(report)


@pytest.mark.parametrize("cols", [None, 2])
def test_matrix_factorization_is_not_a_mirror_flow(cols):
    G, x0 = rf.models.matrix_factorization(2, cols, init=None)
    x0 = x0 + np.random.default_rng(0).uniform(-0.3, 0.3, x0.size)  # a generic init
    # 1. the loop of linear losses has int grad L = 0: every mirror flow returns to w0 (as
    #    under the zero loss); gradient flow does not, by tau^2 dG [X_i, X_j] (+ O(tau^3))
    loops = [rf.loop_test(G, x0, tau=tau) for tau in (0.04, 0.02)]
    for loop in loops:
        assert not loop.closes, str(loop)
        assert loop.prediction_error < 0.2
    ratio = np.linalg.norm(loops[0].displacement) / np.linalg.norm(loops[1].displacement)
    assert 3.5 < ratio < 4.5  # second order in tau
    # 2. the local (path-dependent) potential does not reproduce the flow
    R_local = rf.mirror_potential(G, x0, local=True)
    loss = rf.losses.squared(np.eye(G.output_dim)[:2], np.array([1.5, -0.5]))
    report = rf.verify_equivalence(
        loss, (0.0, 2.0), parametrization=G, x0=x0, legendre=R_local, n_times=6
    )
    # commuting cases agree to ~1e-11 at these tolerances: 1e-6 is 5 orders above that
    assert not report.passed and report.max_deviation > 1e-6, str(report)


@pytest.mark.parametrize("name", ["uu-vv general init", "u^3-v^3 general init", "linear"])
def test_commuting_loops_close(name):
    G, x0 = ZOO[name]()
    loop = rf.loop_test(G, x0, tau=0.05)
    assert loop.closes and loop.relative_displacement < 1e-9, str(loop)


# -- implicit bias -------------------------------------------------------------------------
def _underdetermined(d=5, n=2, seed=0, positive=False):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    w = rng.uniform(0.2, 1.0, d) if positive else rng.standard_normal(d)
    return X, X @ w


@pytest.mark.parametrize(
    "name,positive",
    [
        ("uu-vv general init", False),
        ("u*u", True),
        ("u^3-v^3 general init", False),
        ("u*v general init", False),
        ("u1u2-v1v2", False),
    ],
)
def test_implicit_bias_is_the_limit_of_long_gradient_flows(name, positive):
    G, x0 = ZOO[name]()
    d = G.output_dim
    X, y = _underdetermined(d=d, n=1, seed=2, positive=positive)
    if name == "u*u":  # w = u^2 > 0: targets reachable with positive weights
        X = np.abs(X)
        y = X @ np.array([0.5, 1.5])
    loss = rf.losses.squared(X, y)
    R = rf.mirror_potential(G, x0)
    result = rf.implicit_bias(R, X, y, G(x0), full_output=True)
    assert result.feasibility < 1e-10 and result.stationarity < 1e-10
    traj = rf.gradient_flow(G, loss, x0, (0.0, 400.0), rtol=1e-11)
    assert traj.loss[-1] < 1e-20
    np.testing.assert_allclose(traj.w_final, result.w, atol=1e-6 * np.max(np.abs(result.w)))


def test_implicit_bias_of_a_numerical_potential_against_flow():
    """Depth-3 products with general init, with the numerical potential (not the model's
    closed form)."""
    G, x0 = rf.models.diagonal_network(2, 3, form="product", init=[0.5, 0.8, 1.1, 0.7, 0.6, 0.9])
    R = rf.mirror_potential(G, x0, closed_form=False)
    assert R.name.startswith("numerical")
    X, y = np.array([[1.0, -0.5]]), np.array([0.3])
    w_star = rf.implicit_bias(R, X, y, G(x0))
    traj = rf.gradient_flow(G, rf.losses.squared(X, y), x0, (0.0, 400.0), rtol=1e-11)
    assert traj.loss[-1] < 1e-20
    np.testing.assert_allclose(traj.w_final, w_star, atol=1e-6 * np.max(np.abs(w_star)))


def test_implicit_bias_five_dim_regression_against_flow():
    G, x0 = rf.models.diagonal_network(5, 2, alpha=0.4)
    X, y = _underdetermined(d=5, n=2, seed=4)
    R = rf.mirror_potential(G, x0)
    w_star = rf.implicit_bias(R, X, y, G(x0))
    traj = rf.gradient_flow(G, rf.losses.squared(X, y), x0, (0.0, 2000.0), rtol=1e-11)
    assert traj.loss[-1] < 1e-20
    np.testing.assert_allclose(traj.w_final, w_star, atol=1e-6 * np.max(np.abs(w_star)))


def test_small_alpha_limit_is_basis_pursuit_and_large_alpha_is_min_norm():
    rng = np.random.default_rng(7)
    d, n = 12, 5
    X = rng.standard_normal((n, d))
    w_true = np.zeros(d)
    w_true[[1, 6]] = [1.0, -2.0]
    y = X @ w_true
    l1 = rf.convex.basis_pursuit(X, y)
    l2 = rf.convex.min_norm(X, y)
    assert np.linalg.norm(l1 - w_true) < 1e-8  # exact recovery (2-sparse, n = 5)
    errors_l1 = []
    for alpha in (1e-2, 1e-4, 1e-8, 1e-30):
        R = rf.potentials.hyperbolic_entropy(d, alpha)
        errors_l1.append(np.max(np.abs(rf.implicit_bias(R, X, y, np.zeros(d)) - l1)))
    # the gap shrinks like a power of alpha (nondegenerate LP vertex) down to the solvers'
    # feasibility tolerances (1e-10 relative here)
    assert errors_l1[-1] < 1e-9 and np.all(np.diff(errors_l1) < 0), errors_l1
    errors_l2 = []
    for alpha in (1.0, 10.0, 1e4):
        R = rf.potentials.hyperbolic_entropy(d, alpha)
        errors_l2.append(np.max(np.abs(rf.implicit_bias(R, X, y, np.zeros(d)) - l2)))
    # R_alpha ~ |w|^2 / (8 alpha^2) - O(|w|^4 / alpha^6): the gap to min-norm ~ alpha^-4
    assert errors_l2[-1] < 1e-12 and errors_l2[0] / errors_l2[1] > 1e3, errors_l2


def test_implicit_bias_infeasible_reports_residual():
    R = rf.potentials.negative_entropy(2)  # w > 0 only
    with pytest.raises(ConvergenceError) as info:
        rf.implicit_bias(R, np.array([[1.0, 1.0]]), np.array([-1.0]), np.ones(2), max_iter=50)
    assert info.value.residual > 0.1


def test_convex_references():
    X = np.array([[1.0, 2.0, 0.0], [0.0, 1.0, 1.0]])
    y = np.array([2.0, 1.0])
    np.testing.assert_allclose(rf.convex.basis_pursuit(X, y), [0.0, 1.0, 0.0], atol=1e-12)
    np.testing.assert_allclose(rf.convex.min_norm(X, y), np.linalg.pinv(X) @ y, rtol=1e-12)
    with pytest.raises(ConvergenceError):
        rf.convex.min_norm(np.array([[1.0], [1.0]]), np.array([1.0, 2.0]))


# -- discrete time ------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["uu-vv general init", "u^3-v^3 general init", "simplex sphere"])
def test_descent_gap_is_first_order_in_the_step(name):
    G, x0 = ZOO[name]()
    rng = np.random.default_rng(3)
    X = 0.5 * rng.standard_normal((2, G.output_dim))
    loss = rf.losses.squared(X, X @ (G(x0) + 0.5))  # a target near the start
    lrs = (0.02, 0.01, 0.005, 0.0025, 0.00125)  # the last ones: lr |K| |hess L| << 1
    report = rf.discretization_gap(G, x0, loss, lrs=lrs, horizon=1.0)
    assert 0.9 < report.orders[-1] < 1.1 and 0.8 < report.slope < 1.4, str(report)
    assert np.all(np.diff(report.gaps) < 0)

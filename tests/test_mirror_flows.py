"""Mirror flow and mirror descent: closed forms, equivalence with reparametrized flows."""

import autograd.numpy as anp
import numpy as np
import pytest

import riemflow as rf

# flows at rtol 1e-12: observed deviations 1e-12 .. 1e-11 (see test_flows.FLOW_TOL)
FLOW_TOL = 1e-8


def _relative(a, b):
    return np.max(np.abs(a - b)) / np.max(np.abs(b))


def test_negative_entropy_mirror_flow_closed_form():
    """L(w) = <c, w>: mu(t) = log w0 - c t, so w(t) = w0 exp(-c t)."""
    R = rf.potentials.negative_entropy(3)
    c = np.array([1.0, -0.5, 0.2])
    w0 = np.array([0.5, 1.0, 2.0])
    t = np.linspace(0, 3, 13)
    traj = rf.mirror_flow(R, lambda w: anp.dot(c, w), w0, (0, 3), t_eval=t, rtol=1e-12)
    np.testing.assert_allclose(traj.w, w0 * np.exp(-np.outer(t, c)), rtol=1e-10)
    np.testing.assert_allclose(traj.mu, np.log(w0) - np.outer(t, c), atol=1e-10)
    assert traj.x is None


@pytest.mark.parametrize("kind", ["squared", "logistic"])
def test_hyperbolic_mirror_flow_is_gradient_flow_of_uu_minus_vv(kind):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((3, 5))
    y = X[:, 0] if kind == "squared" else np.sign(X[:, 0] + 0.1)
    loss = getattr(rf.losses, kind)(X, y)
    alpha = 0.3
    G, x0 = rf.models.diagonal_network(5, depth=2, alpha=alpha)
    R = rf.potentials.hyperbolic_entropy(5, alpha)
    t = np.linspace(0, 10, 21)
    grad = rf.gradient_flow(G, loss, x0, (0, 10), t_eval=t, rtol=1e-12, atol=1e-14)
    mirror = rf.mirror_flow(R, loss, G(x0), (0, 10), t_eval=t, rtol=1e-12)
    assert _relative(grad.w, mirror.w) < FLOW_TOL
    np.testing.assert_allclose(mirror.mu, R.grad(mirror.w), atol=1e-12)


def test_simplex_mirror_flow_is_gradient_flow_on_the_sphere():
    """u*u on the unit sphere: K = 4 hess R^{-1}, so it is mirror flow with R / 4 (here
    given by its value only: grad R* by Newton)."""
    G, u0 = rf.models.simplex_sphere(3)
    S = rf.potentials.simplex_entropy(3)
    quarter = rf.Legendre(lambda w: S.fn(w) / 4, 3, domain=S.domain)
    rng = np.random.default_rng(2)
    loss = rf.losses.squared(rng.standard_normal((2, 3)), rng.standard_normal(2))
    t = np.linspace(0, 4, 9)
    grad = rf.gradient_flow(G, loss, u0, (0, 4), t_eval=t, rtol=1e-12, atol=1e-14)
    mirror = rf.mirror_flow(quarter, loss, G(u0), (0, 4), t_eval=t, rtol=1e-12)
    assert _relative(grad.w, mirror.w) < FLOW_TOL
    assert np.all(rf.domains.Simplex(3).contains(mirror.w))


def test_mirror_descent_with_negative_entropy_is_exponentiated_gradient():
    rng = np.random.default_rng(3)
    X, y = rng.standard_normal((4, 3)), rng.standard_normal(4)
    loss = rf.losses.squared(X, y)
    w0, lr = np.array([0.2, 0.5, 1.0]), 0.1
    traj = rf.mirror_descent(rf.potentials.negative_entropy(3), loss, w0, lr=lr, steps=20)
    w = w0.copy()
    for k in range(20):
        w = w * np.exp(-lr * X.T @ (X @ w - y) / 4)  # unnormalized EG
        np.testing.assert_allclose(traj.w[k + 1], w, rtol=1e-14)


def test_mirror_descent_with_simplex_entropy_is_normalized_eg():
    """EG on the d + 1 weights p = (w, s), the last with zero gradient."""
    rng = np.random.default_rng(4)
    X, y = rng.standard_normal((4, 3)), rng.standard_normal(4)
    loss = rf.losses.squared(X, y)
    w0, lr = np.array([0.2, 0.3, 0.1]), 0.3
    traj = rf.mirror_descent(rf.potentials.simplex_entropy(3), loss, w0, lr=lr, steps=15)
    p = np.append(w0, 1 - w0.sum())
    for k in range(15):
        g = np.append(X.T @ (X @ p[:3] - y) / 4, 0.0)
        p = p * np.exp(-lr * g)
        p /= p.sum()
        np.testing.assert_allclose(traj.w[k + 1], p[:3], rtol=1e-13)


def test_stochastic_mirror_descent_uses_batches():
    R = rf.potentials.negative_entropy(2)
    loss = rf.losses.squared(np.eye(2), np.array([2.0, 0.5]))
    traj = rf.mirror_descent(R, loss, np.ones(2), lr=0.2, steps=2, batches=[[0], [1]])
    w = np.ones(2)
    w[0] *= np.exp(-0.2 * (w[0] - 2.0))  # step 1: sample 0 only
    w[1] *= np.exp(-0.2 * (w[1] - 0.5))  # step 2: sample 1 only
    np.testing.assert_allclose(traj.w[-1], w, rtol=1e-15)
    assert traj.method == "stochastic mirror descent"


def test_time_dependent_loss_in_mirror_flow():
    R = rf.potentials.squared_euclidean(1)

    @rf.losses.time_dependent
    def loss(w, t):
        return t * w[0]

    traj = rf.mirror_flow(R, loss, np.zeros(1), (0, 2), t_eval=[0.0, 1.0, 2.0], rtol=1e-12)
    np.testing.assert_allclose(traj.w[:, 0], -(np.array([0.0, 1.0, 2.0]) ** 2) / 2, atol=1e-12)


def test_blow_up_of_a_depth_3_potential_is_a_divergence_error():
    """mu(t) = t reaches the end of dom grad R* (c / k = 2/3 for alpha = 0.5) at t = 2/3."""
    R = rf.potentials.diagonal_network(1, 3, 0.5)
    with pytest.raises(rf.errors.DivergenceError) as info:
        rf.mirror_flow(R, lambda w: -w[0], np.zeros(1), (0, 2))
    # stages past the bound are rejected, so the solver closes in on it from below until
    # its step underflows: the time reached is the blow-up time to round-off
    assert abs(info.value.t_reached - 2 / 3) < 1e-9
    assert "left the domain of grad R*" in str(info.value)


def test_mirror_descent_leaving_the_dual_domain():
    R = rf.potentials.log_barrier(1)  # grad R* = -1/mu needs mu < 0
    with pytest.raises(rf.errors.DivergenceError, match="left the domain"):
        rf.mirror_descent(R, lambda w: -10 * w[0], np.ones(1), lr=1.0, steps=3)


def test_bad_mirror_arguments():
    R = rf.potentials.negative_entropy(2)
    loss = rf.losses.squared(np.eye(2), np.ones(2))
    with pytest.raises(rf.errors.DomainError, match="outside the domain"):
        rf.mirror_flow(R, loss, np.array([-1.0, 1.0]), (0, 1))
    with pytest.raises(rf.errors.ShapeError):
        rf.mirror_flow(R, loss, np.ones(3), (0, 1))
    with pytest.raises(rf.errors.InputError, match="Legendre"):
        rf.mirror_flow(lambda w: w, loss, np.ones(2), (0, 1))
    with pytest.raises(rf.errors.InputError, match="lr"):
        rf.mirror_descent(R, loss, np.ones(2), lr=-1.0, steps=1)

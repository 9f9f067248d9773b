"""Gradient flow and descent: closed-form ODEs, manifold constraints, failures."""

import autograd.numpy as anp
import numpy as np
import pytest
from scipy.integrate import solve_ivp

import riemflow as rf

# Both sides are integrated with DOP853 at rtol 1e-12 / 1e-13 (reference); the global
# errors measured are ~1e-11 relative, so 1e-8 is a tolerance with a 1000x margin that a
# wrong flow (a missing factor, a wrong metric) misses by many orders of magnitude.
FLOW_TOL = 1e-8


def _reference(velocity, w0, t_eval):
    sol = solve_ivp(
        velocity,
        (t_eval[0], t_eval[-1]),
        w0,
        method="DOP853",
        t_eval=t_eval,
        rtol=1e-13,
        atol=1e-15,
    )
    assert sol.success
    return sol.y.T


def _relative(a, b):
    return np.max(np.abs(a - b)) / np.max(np.abs(b))


def _regression(seed=0, n=4, d=6):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    w_true = np.zeros(d)
    w_true[:2] = [1.0, -0.7]
    return X, X @ w_true


@pytest.mark.parametrize("kind", ["squared", "logistic", "exponential"])
def test_uu_minus_vv_is_hyperbolic_entropy_flow(kind):
    """dw/dt = -4 sqrt(w^2 + 4 alpha^4) grad L(w) (docs/concepts.md, "Closed forms for diagonal
    networks")."""
    alpha = 0.4
    X, y = _regression()
    if kind == "squared":
        loss = rf.losses.squared(X, y)
    else:
        loss = getattr(rf.losses, kind)(X, np.sign(y + 0.1))
    G, x0 = rf.models.diagonal_network(6, depth=2, alpha=alpha)
    t = np.linspace(0, 8, 33)
    traj = rf.gradient_flow(G, loss, x0, (0, 8), t_eval=t, rtol=1e-12, atol=1e-14)
    grad_L = rf.Parametrization(lambda w: w, 6).loss_gradient  # Euclidean gradient of L

    def velocity(_, w):
        return -4 * np.sqrt(w**2 + 4 * alpha**4) * grad_L(loss, w)

    ref = _reference(velocity, np.zeros(6), t)
    assert _relative(traj.w, ref) < FLOW_TOL
    assert traj.loss[-1] < traj.loss[0]
    np.testing.assert_allclose(
        traj.loss, [loss(w) for w in traj.w], rtol=1e-12
    )  # batched: another summation order


def test_general_init_and_time_dependent_loss():
    """u0 != v0: dw/dt = -4 sqrt(w^2 + 4 u0^2 v0^2) grad L, also for a loss L(w, t)."""
    u0, v0 = np.array([0.5, 1.2, 0.3]), np.array([0.9, 0.2, 0.3])
    G, x0 = rf.models.diagonal_network(3, depth=2, init=(u0, v0))
    target = np.array([1.0, -1.0, 0.5])

    @rf.losses.time_dependent
    def loss(w, t):
        return 0.5 * anp.sum((w - anp.sin(t) * target) ** 2)

    t = np.linspace(0, 3, 31)
    traj = rf.gradient_flow(G, loss, x0, (0, 3), t_eval=t, rtol=1e-12, atol=1e-14)

    def velocity(s, w):
        return -4 * np.sqrt(w**2 + 4 * u0**2 * v0**2) * (w - np.sin(s) * target)

    ref = _reference(velocity, u0**2 - v0**2, t)
    assert _relative(traj.w, ref) < FLOW_TOL
    np.testing.assert_allclose(
        traj.loss, [loss(w, s) for w, s in zip(traj.w, t, strict=False)], rtol=1e-14
    )


def test_flow_on_the_sphere_stays_on_it_and_is_simplex_mirror_flow():
    G, u0 = rf.models.simplex_sphere(4)
    rng = np.random.default_rng(1)
    X, y = rng.standard_normal((2, 4)), rng.standard_normal(2)
    loss = rf.losses.squared(X, y)
    t = np.linspace(0, 20, 41)
    traj = rf.gradient_flow(G, loss, u0, (0, 20), t_eval=t)  # default tolerances
    assert traj.constraint_drift < 1e-10
    np.testing.assert_allclose(np.linalg.norm(traj.x, axis=1), 1.0, atol=1e-10)
    assert np.all(traj.x > 0)

    def velocity(_, w):
        g = X.T @ (X @ w - y) / 2
        return -4 * (w * g - w * (w @ g))

    tight = rf.gradient_flow(G, loss, u0, (0, 20), t_eval=t, rtol=1e-12, atol=1e-14)
    assert _relative(tight.w, _reference(velocity, G(u0), t)) < FLOW_TOL


@pytest.mark.parametrize("alpha", [1e-30, 1e-150])
def test_tiny_initialization_is_resolved_relative_to_its_scale(alpha):
    """u v = alpha^2 is conserved by the u*u - v*v flow; the default per-coordinate atol
    keeps it to 1e-8 relative (about 1000 steps at local rtol 1e-10; observed 1.4e-9) even
    though v shrinks far below any absolute tolerance (with atol = 1e-12 it crosses 0)."""
    G, x0 = rf.models.diagonal_network(1, depth=2, alpha=alpha)
    loss = rf.losses.squared(np.array([[1.0]]), np.array([1.0]))
    traj = rf.gradient_flow(G, loss, x0, (0.0, 300.0))
    u, v = traj.x[:, 0], traj.x[:, 1]
    np.testing.assert_allclose(u * v, alpha**2, rtol=1e-8)
    assert np.all(v > 0) and traj.loss[-1] < 1e-10


def test_intrinsic_flow_matches_extrinsic_flow():
    """The same flow in spherical coordinates (pullback metric) and on S^2 in R^3."""

    def spherical(z):
        t, p = z[..., 0], z[..., 1]
        return anp.stack([anp.sin(t) * anp.cos(p), anp.sin(t) * anp.sin(p), anp.cos(t)], -1)

    S = rf.spaces.immersed_manifold(spherical, 2, 3)
    G_in = rf.Parametrization(lambda z: spherical(z)[..., :2] ** 2, S)
    G_ex, _ = rf.models.simplex_sphere(2)
    z0 = np.array([0.9, 0.6])
    loss = rf.losses.squared(np.array([[1.0, -2.0]]), np.array([0.1]))
    t = np.linspace(0, 2, 11)
    a = rf.gradient_flow(G_in, loss, z0, (0, 2), t_eval=t, rtol=1e-12, atol=1e-14)
    b = rf.gradient_flow(G_ex, loss, spherical(z0), (0, 2), t_eval=t, rtol=1e-12, atol=1e-14)
    assert _relative(a.w, b.w) < FLOW_TOL


def test_gradient_descent_step_is_exact():
    G, x0 = rf.models.diagonal_network(3, depth=2, alpha=0.5)
    X, y = np.eye(3), np.array([1.0, -1.0, 0.0])
    loss = rf.losses.squared(X, y)
    traj = rf.gradient_descent(G, loss, x0, lr=0.1, steps=1)
    u, v = x0[:3], x0[3:]
    g = (u**2 - v**2 - y) / 3  # grad L at w0
    want = np.concatenate([u - 0.1 * 2 * u * g, v + 0.1 * 2 * v * g])
    np.testing.assert_allclose(traj.x[-1], want, rtol=1e-15)
    np.testing.assert_allclose(traj.t, [0.0, 0.1])


def test_stochastic_gradient_descent_uses_the_given_batches():
    G, x0 = rf.models.hadamard_square(2, alpha=1.0)
    X, y = np.array([[1.0, 0.0], [0.0, 1.0]]), np.array([2.0, 0.5])
    loss = rf.losses.squared(X, y)
    traj = rf.gradient_descent(G, loss, x0, lr=0.05, steps=4, batches=[[0], [1]])
    x = x0.copy()
    for k in range(4):
        i = k % 2
        g = np.zeros(2)
        g[i] = x[i] ** 2 - y[i]
        x = x - 0.05 * 2 * x * g
    np.testing.assert_allclose(traj.x[-1], x, rtol=1e-14)
    assert traj.method == "stochastic gradient descent"
    sized = rf.gradient_descent(G, loss, x0, lr=0.05, steps=200, batches=1, seed=3)
    again = rf.gradient_descent(G, loss, x0, lr=0.05, steps=200, batches=1, seed=3)
    np.testing.assert_array_equal(sized.x, again.x)  # seeded: bit-for-bit
    assert sized.loss[-1] < 1e-6


def test_gradient_descent_on_the_sphere_is_retracted():
    G, u0 = rf.models.simplex_sphere(3)
    loss = rf.losses.squared(np.array([[1.0, 1.0, -1.0]]), np.array([0.2]))
    traj = rf.gradient_descent(G, loss, u0, lr=0.05, steps=50, record_every=10)
    assert len(traj) == 6
    assert traj.constraint_drift < 1e-15
    assert traj.loss[-1] < traj.loss[0]


# -- failures -----------------------------------------------------------------------------
def test_diverging_flow_is_reported_with_its_time():
    """dx/dt = exp(x) from x = 0 blows up at t = 1."""
    G = rf.Parametrization(lambda x: x, 1)
    with pytest.raises(rf.errors.DivergenceError) as info:
        rf.gradient_flow(G, lambda w: -anp.exp(w[0]), np.zeros(1), (0.0, 2.0), max_norm=1e6)
    assert info.value.t_reached == pytest.approx(1.0, abs=1e-6)  # x = -log(1 - t)


def test_diverging_descent_is_reported():
    G = rf.Parametrization(lambda x: x, 1)
    with pytest.raises(rf.errors.DivergenceError, match="step"):
        rf.gradient_descent(G, lambda w: 10 * w[0] ** 2, np.ones(1), lr=1.0, steps=100)


@pytest.mark.parametrize(
    ("x0", "error", "match"),
    [
        (np.ones(3), rf.errors.ShapeError, "shape"),
        (np.array([1.0, np.nan, 1.0, 1.0]), rf.errors.NonFiniteError, "non-finite"),
        (np.array([1.0, -1.0, 1.0, 1.0]), rf.errors.DomainError, "outside the domain"),
        ("abc", rf.errors.InputError, "numeric"),
    ],
)
def test_bad_x0(x0, error, match):
    G, _ = rf.models.diagonal_network(2, depth=2)
    loss = rf.losses.squared(np.eye(2), np.ones(2))
    with pytest.raises(error, match=match) as info:
        rf.gradient_flow(G, loss, x0, (0, 1))
    assert info.value.argument == "x0"


def test_x0_off_the_sphere():
    G, _ = rf.models.simplex_sphere(2)
    loss = rf.losses.squared(np.eye(2), np.ones(2))
    with pytest.raises(rf.errors.DomainError, match="distance to the manifold"):
        rf.gradient_flow(G, loss, np.array([0.5, 0.5, 0.5]), (0, 1))


@pytest.mark.parametrize(
    ("kwargs", "argument"),
    [
        ({"t_span": (1.0, 0.0)}, "t_span"),
        ({"t_span": (0.0, np.inf)}, "t_span"),
        ({"t_span": (0.0, 1.0), "t_eval": [0.5, 2.0]}, "t_eval"),
        ({"t_span": (0.0, 1.0), "rtol": -1.0}, "rtol"),
    ],
)
def test_bad_flow_arguments(kwargs, argument):
    G, x0 = rf.models.hadamard_square(2)
    loss = rf.losses.squared(np.eye(2), np.ones(2))
    with pytest.raises(rf.errors.InputError) as info:
        rf.gradient_flow(G, loss, x0, **kwargs)
    assert info.value.argument == argument


def test_bad_descent_arguments():
    G, x0 = rf.models.hadamard_square(2)
    loss = rf.losses.squared(np.eye(2), np.ones(2))
    with pytest.raises(rf.errors.InputError, match="lr"):
        rf.gradient_descent(G, loss, x0, lr=0.0, steps=1)
    with pytest.raises(rf.errors.InputError, match="steps"):
        rf.gradient_descent(G, loss, x0, lr=0.1, steps=0)
    with pytest.raises(rf.errors.InputError, match="subset"):
        rf.gradient_descent(G, lambda w: w @ w, x0, lr=0.1, steps=1, batches=1)
    with pytest.raises(rf.errors.InputError, match="batch size"):
        rf.gradient_descent(G, loss, x0, lr=0.1, steps=1, batches=5)


def test_non_differentiable_loss_is_named():
    G, x0 = rf.models.hadamard_square(2)
    with pytest.raises(rf.errors.NotDifferentiableError, match="autograd.numpy"):
        rf.gradient_flow(G, lambda w: float(np.sum(w**2)), x0, (0, 1))


def test_trajectory_is_read_only():
    G, x0 = rf.models.hadamard_square(2)
    traj = rf.gradient_flow(G, rf.losses.squared(np.eye(2), np.ones(2)), x0, (0, 1))
    with pytest.raises(ValueError):
        traj.w[0, 0] = 1.0
    assert "Trajectory(" in repr(traj) and traj.w_final.shape == (2,)


def test_per_component_atol_accepted_and_checked():
    G, x0 = rf.models.diagonal_network(2, alpha=0.5)
    loss = rf.losses.squared(np.array([[1.0, 2.0]]), np.array([1.0]))
    traj = rf.gradient_flow(G, loss, x0, (0.0, 1.0), atol=np.full(4, 1e-13))
    assert traj.loss[-1] < traj.loss[0]
    with pytest.raises(rf.errors.ShapeError, match="atol"):
        rf.gradient_flow(G, loss, x0, (0.0, 1.0), atol=np.full(3, 1e-13))
    with pytest.raises(rf.errors.InputError, match="atol"):
        rf.gradient_flow(G, loss, x0, (0.0, 1.0), atol=np.array([1e-13, 0.0, 1e-13, 1e-13]))


def test_a_trial_stage_outside_dom_R_star_is_rejected_not_fatal():
    # a mini-batch schedule (a loss that jumps in time): DOP853 tries a large step across a
    # jump whose stages put mu at ~1e10, outside dom grad R* (exp overflow); the flow itself
    # stays bounded. Such stages must make the solver shrink the step (scipy 1.17 used to
    # end the flow there with a DivergenceError).
    u0, v0 = np.array([0.7, 0.2, 1.1]), np.array([0.4, 0.9, 0.3])
    G, x0 = rf.models.diagonal_network(3, depth=2, init=(u0, v0))
    rng = np.random.default_rng(0)
    rng.standard_normal((2, 3))
    full = rf.losses.squared(rng.standard_normal((6, 3)), rng.standard_normal(6))
    batches = [full.subset(rng.choice(6, 2, replace=False)) for _ in range(10)]

    @rf.losses.time_dependent
    def schedule(w, t):
        return batches[min(int(t / 0.3), 9)](w)

    report = rf.verify_equivalence(schedule, (0.0, 3.0), parametrization=G, x0=x0)
    assert report.passed and report.max_deviation < 1e-9

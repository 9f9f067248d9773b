"""The model zoo on matrix manifolds, products and hyperbolic space, each claim checked
against a closed form or a second computation.

Flow comparisons run both sides at `rtol=1e-12`; their global errors are ~1e-11 relative
on these problems (observed <= 3e-11), so 1e-8, `verify_equivalence`'s default, separates
agreement from a wrong flow (which is off by O(1)). Brackets of non-commuting models are
O(1) relative; of commuting ones round-off (observed <= 1e-15).
"""

import autograd.numpy as anp
import numpy as np
import pytest
from scipy.integrate import solve_ivp

import riemflow as rf

FLOW_TOL = 1e-8


def _sym_from_upper(n, w):
    rows, cols = np.triu_indices(n)
    P = np.zeros((n, n))
    P[rows, cols] = w
    P[cols, rows] = w
    return P


def _random_spd(rng, n):
    A = rng.standard_normal((n, n)) / np.sqrt(n)
    return A @ A.T + 0.5 * np.eye(n)


# -- SPD, affine-invariant metric: the mirror flow of -log det -----------------------------
@pytest.mark.parametrize("n", [2, 3])
def test_affine_spd_chart_is_the_mirror_flow_of_log_det(n):
    rng = np.random.default_rng(n)
    G, _ = rf.models.spd_chart(n)
    P0 = _random_spd(rng, n)
    w0 = G(P0)
    d = w0.size
    R = rf.potentials.log_det(n)
    # the Hessian of -log det in upper-triangle coordinates is the inverse kernel
    assert np.max(np.abs(G.kernel(P0) @ R.hessian(w0) - np.eye(d))) < 1e-12
    X = rng.standard_normal((d - 1, d))
    loss = rf.losses.squared(X, X @ (w0 + 0.2 * rng.standard_normal(d)))
    report = rf.verify_equivalence(loss, (0.0, 5.0), parametrization=G, x0=P0, n_times=21)
    assert report.passed and report.max_deviation < FLOW_TOL, str(report)
    assert "log det" in report.legendre.name
    flow = report.trajectories[0]
    assert flow.x.shape == (21, n, n) and flow.w.shape == (21, d)
    assert np.min(np.linalg.eigvalsh(flow.x)) > 0
    assert flow.constraint_drift < 1e-13 and flow.n_retractions == 0
    # the dual invariant grad R(w(t)) - grad R(w0) = mu(t) = -int grad L
    mirror = report.trajectories[1]
    np.testing.assert_allclose(
        R.grad(flow.w) - R.grad(w0), mirror.mu, atol=1e-9 * np.max(np.abs(mirror.mu))
    )
    assert G.check_commuting(n_samples=16).passed and G.check_regular(n_samples=16).passed


def test_affine_gradient_fields_are_P_S_P():
    """`d(-log det)/dw_ij = -2 (P^-1)_ij` off the diagonal: the field of a covector `c` is
    `P S P` with `S_ii = c_ii`, `S_ij = c_ij / 2`."""
    n = 3
    G, _ = rf.models.spd_chart(n)
    P = np.eye(n) + 0.3
    c = np.arange(1.0, 7.0)
    rows, cols = np.triu_indices(n)
    S = _sym_from_upper(n, np.where(rows == cols, 1.0, 0.5) * c)
    field = np.einsum("a,aij->ij", c, G.gradient_fields(P))
    np.testing.assert_allclose(field, P @ S @ P, atol=1e-14)


def test_joint_flow_on_spd_is_the_closed_form_resolvent():
    """`dP/ds = P M P` with a constant symmetric `M = M(mu)` has the solution
    `P(s) = (P0^-1 - s M)^-1`: `psi(P0; mu) = (P0^-1 - M(mu))^-1`."""
    n = 3
    G, _ = rf.models.spd_chart(n)
    P0 = _random_spd(np.random.default_rng(0), n)
    mu = np.array([0.2, -0.1, 0.05, 0.1, 0.02, -0.15])
    rows, cols = np.triu_indices(n)
    M = _sym_from_upper(n, np.where(rows == cols, 1.0, 0.5) * mu)
    want = np.linalg.inv(np.linalg.inv(P0) - M)
    np.testing.assert_allclose(G.flow(P0, mu), want, rtol=1e-10)
    np.testing.assert_allclose(G.flow(P0, mu, sequential=True), want, rtol=1e-10)


def test_numerical_mirror_potential_on_spd_equals_log_det():
    """The forward construction run numerically (joint flow in the matrix coordinates,
    Newton on `mu`) against the closed form centered at `w0`; `rtol=1e-12` resolves `psi`
    to ~1e-11, so 1e-8 relative."""
    n = 2
    G, _ = rf.models.spd_chart(n)
    P0 = np.array([[1.2, 0.3], [0.3, 0.7]])
    w0 = G(P0)
    closed = rf.mirror_potential(G, P0)
    numeric = rf.mirror_potential(G, P0, closed_form=False, n_check=4)
    w = w0 + np.array([0.1, -0.05, 0.2])
    np.testing.assert_allclose(numeric.grad(w), closed.grad(w), atol=1e-8)
    np.testing.assert_allclose(numeric.hessian(w), closed.hessian(w), rtol=1e-8)


# -- SPD, the other metrics ------------------------------------------------------------------
@pytest.mark.parametrize(
    ("metric", "commuting"),
    [("affine", True), ("bures_wasserstein", False), ("log_euclidean", False)],
)
def test_spd_metrics_change_whether_the_chart_commutes(metric, commuting):
    G, _ = rf.models.spd_chart(2, metric)
    assert G.check_commuting(n_samples=8).passed is commuting
    P = np.array([[1.5, 0.3], [0.3, 0.8]])
    loop = rf.loop_test(G, P)
    assert loop.closes is commuting, str(loop)
    # brackets against central differences of the fields (second method), relative to the
    # terms that cancel in a commuting bracket: O(h^2) ~ 1e-10
    X = G.gradient_fields(P)
    h = 1e-5
    D = np.stack(
        [
            (G.gradient_fields(P + h * X[i]) - G.gradient_fields(P - h * X[i])) / (2 * h)
            for i in range(3)
        ]
    )
    reference = D - np.swapaxes(D, 0, 1)
    assert np.max(np.abs(G.lie_brackets(P) - reference)) < 1e-8 * np.max(np.abs(D))


def test_bures_wasserstein_flow_is_the_matrix_ode():
    """`dP/dt = -2 (P S + S P)` with `S = M(grad L)`, integrated independently."""
    n = 2
    G, _ = rf.models.spd_chart(n, "bures_wasserstein")
    P0 = np.array([[1.5, 0.3], [0.3, 0.8]])
    c = np.array([0.3, -0.2, 0.1])
    rows, cols = np.triu_indices(n)
    S = _sym_from_upper(n, np.where(rows == cols, 1.0, 0.5) * c)
    t = np.linspace(0.0, 1.0, 6)
    flow = rf.gradient_flow(G, lambda w: anp.sum(w * c), P0, (0.0, 1.0), t_eval=t, rtol=1e-12)

    def rhs(_, p):
        P = p.reshape(n, n)
        return (-2.0 * (P @ S + S @ P)).ravel()

    ref = solve_ivp(rhs, (0.0, 1.0), P0.ravel(), t_eval=t, method="DOP853", rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(flow.x.reshape(6, -1), ref.y.T, rtol=0, atol=1e-10)


def test_log_euclidean_metric_commutes_in_log_coordinates():
    """In `w = triu(log P)` the log-Euclidean metric is constant: `K = diag(1, 1/2, 1)`, and
    gradient flow is the mirror flow of `|log P - log P0|_F^2 / 2` (the closed form)."""
    G, P0 = rf.models.spd_chart(2, "log_euclidean", chart="log")
    assert G.check_commuting(n_samples=8).passed
    P = G.sample(4, seed=1)
    np.testing.assert_allclose(
        G.kernel(P), np.broadcast_to(np.diag([1.0, 0.5, 1.0]), (4, 3, 3)), atol=1e-12
    )
    loss = rf.losses.squared(np.array([[1.0, 0.5, -1.0]]), np.array([0.4]))
    report = rf.verify_equivalence(loss, (0.0, 3.0), parametrization=G, x0=P0, n_times=7)
    assert report.passed, str(report)


# -- factorizations, sensing, rotations --------------------------------------------------------
def test_factorization_on_matrices_equals_the_flat_model():
    """The Frobenius metric is the Euclidean one: same kernels, brackets and loop."""
    G, _ = rf.models.symmetric_factorization(3, 2)
    flat, _ = rf.models.matrix_factorization(3, rank=2)
    U = G.sample(6, seed=0)
    np.testing.assert_array_equal(G.kernel(U), flat.kernel(U.reshape(6, -1)))
    np.testing.assert_allclose(
        G.lie_brackets(U).reshape(6, 6, 6, -1), flat.lie_brackets(U.reshape(6, -1)), atol=1e-14
    )
    U0 = np.random.default_rng(1).standard_normal((3, 2))
    loop = rf.loop_test(G, U0)
    assert not loop.closes and loop.relative_displacement > 1e-3
    assert loop.prediction_error < 0.3  # tau^2 dG [X_i, X_j] to leading order, O(tau)
    np.testing.assert_allclose(
        loop.displacement, rf.loop_test(flat, U0.ravel()).displacement, atol=1e-12
    )


def test_matrix_sensing_with_matrix_points():
    A = np.stack([np.diag([1.0, 0.0, 2.0]), np.diag([0.0, 1.0, -1.0])])
    G, U0 = rf.models.matrix_sensing(A, rank=2, alpha=0.7, matrix_points=True)
    flat, x0 = rf.models.matrix_sensing(A, rank=2, alpha=0.7)
    assert U0.shape == (3, 2) and G.point_shape == (3, 2)
    np.testing.assert_allclose(G.kernel(U0), flat.kernel(x0), atol=1e-15)
    assert G.check_commuting(n_samples=8).passed
    R, R_flat = rf.mirror_potential(G, U0), rf.mirror_potential(flat, x0)
    w = G(U0) + 0.05
    np.testing.assert_allclose(R.grad(w), R_flat.grad(w), atol=1e-14)
    B = np.random.default_rng(0).standard_normal((2, 3, 3))
    H, _ = rf.models.matrix_sensing(B, rank=2, matrix_points=True)
    assert not H.check_commuting(n_samples=8).passed


def _double_bracket_reference(W0, N, t):
    """`dW/dt = 2 [W, [W, N]]`, Brockett's flow, integrated independently."""
    n = N.shape[0]

    def rhs(_, v):
        W = v.reshape(n, n)
        C = W @ N - N @ W
        return (2.0 * (W @ C - C @ W)).ravel()

    ref = solve_ivp(
        rhs, (t[0], t[-1]), W0.ravel(), t_eval=t, method="DOP853", rtol=1e-13, atol=1e-15
    )
    return ref.y.T.reshape(-1, n, n)


@pytest.mark.parametrize("space", ["stiefel", "rotations"])
def test_stiefel_and_rotations_give_the_double_bracket_flow(space):
    """With `L = -tr(W N)` the gradient flow of `W = U U^T` on Stiefel (canonical metric) and
    of `W = Q diag(s) Q^T` on SO(n) (bi-invariant metric `tr(U^T V) / 2`) is
    `dW/dt = 2 [W, [W, N]]`."""
    rng = np.random.default_rng(3)
    n = 4 if space == "stiefel" else 3
    A = rng.standard_normal((n, n))
    N = 0.5 * (A + A.T)
    rows, cols = np.triu_indices(n)
    c = -np.where(rows == cols, 1.0, 2.0) * N[rows, cols]  # -tr(W N) in upper coordinates
    if space == "stiefel":
        G, _ = rf.models.symmetric_factorization(n, 2, space="stiefel")
        x0 = np.linalg.qr(rng.standard_normal((n, 2)))[0]
        W0 = x0 @ x0.T
    else:
        s = np.array([1.0, 2.0, 4.0])
        G, _ = rf.models.isospectral(s)
        x0 = np.linalg.qr(rng.standard_normal((n, n)))[0]
        x0[:, 0] *= np.sign(np.linalg.det(x0))
        W0 = x0 @ np.diag(s) @ x0.T
    t = np.linspace(0.0, 2.0, 11)
    flow = rf.gradient_flow(
        G, lambda w: anp.sum(w * c), x0, (0.0, 2.0), t_eval=t, rtol=1e-11, atol=1e-13
    )
    reference = _double_bracket_reference(W0, N, t)[:, rows, cols]
    assert np.max(np.abs(flow.w - reference)) < 1e-9 * np.max(np.abs(reference))
    assert flow.constraint_drift < 1e-10
    assert not G.check_commuting(n_samples=8).passed and not G.check_regular(n_samples=8).passed


def test_loose_tolerances_are_retracted_onto_the_manifold():
    """At `rtol=1e-5` the integrator drifts off Stiefel(5, 2) by more than `retract_tol`:
    the state is retracted (and the solve restarted), so the recorded points stay within
    `retract_tol` of the manifold, while without retraction the drift is only reported."""
    G, _ = rf.models.symmetric_factorization(5, 2, space="stiefel")
    U0 = np.linalg.qr(np.random.default_rng(0).standard_normal((5, 2)))[0]
    c = np.random.default_rng(1).standard_normal(G.output_dim)
    t = np.linspace(0.0, 3.0, 31)

    def loss(w):
        return anp.sum(w * c)

    kept = rf.gradient_flow(G, loss, U0, (0.0, 3.0), t_eval=t, rtol=1e-5, atol=1e-7)
    free = rf.gradient_flow(
        G, loss, U0, (0.0, 3.0), t_eval=t, rtol=1e-5, atol=1e-7, retract_tol=None
    )
    gap = np.einsum("tki,tkj->tij", kept.x, kept.x) - np.eye(2)
    assert kept.n_retractions > 0 and kept.constraint_drift > 1e-9
    assert np.max(np.abs(gap)) < 2.5e-9  # |U^T U - I| <= 2 |U - pi(U)| + O(drift^2)
    assert free.n_retractions == 0
    off = np.einsum("tki,tkj->tij", free.x, free.x) - np.eye(2)
    assert np.max(np.abs(off)) > np.max(np.abs(gap))


def test_descent_by_the_exponential_map_and_by_projection_approach_the_flow():
    """Both steps are first-order discretizations of the flow: the gap to the flow at t = 1
    halves with `lr` (local orders 0.86, 0.93, 0.97 from lr = 0.04 down, measured; the
    asymptotic order is 1). The exponential map (geomstats' Stiefel exp, ~20 ms a step)
    is run at the two largest steps only; it stays on the manifold to round-off."""
    G, _ = rf.models.symmetric_factorization(4, 2, space="stiefel")
    U0 = np.linalg.qr(np.random.default_rng(2).standard_normal((4, 2)))[0]
    c = np.random.default_rng(3).standard_normal(G.output_dim)

    def loss(w):
        return anp.sum(w * c)

    flow = rf.gradient_flow(G, loss, U0, (0.0, 1.0), t_eval=[0.0, 1.0], rtol=1e-12)
    for step, lrs in (("projection", [0.02, 0.01, 0.005]), ("exp", [0.04, 0.02])):
        gaps = []
        for lr in lrs:
            gd = rf.gradient_descent(G, loss, U0, lr=lr, steps=int(round(1 / lr)), step=step)
            gaps.append(np.max(np.abs(gd.w[-1] - flow.w[-1])))
            assert gd.constraint_drift < 1e-12
        orders = np.diff(np.log(gaps)) / np.diff(np.log(lrs))
        assert np.all((orders > 0.8) & (orders < 1.1)), (step, gaps)


# -- products and hyperbolic space -------------------------------------------------------------
def test_weight_normalization_on_sphere_times_line():
    G, x0 = rf.models.weight_normalization(3)
    target = np.array([0.5, -1.0, 2.0])
    flow = rf.gradient_flow(
        G,
        lambda w: 0.5 * anp.sum((w - target) ** 2),
        x0,
        (0.0, 30.0),
        t_eval=np.linspace(0, 30, 11),
    )
    np.testing.assert_allclose(flow.w[-1], target, atol=1e-8)
    np.testing.assert_allclose(np.linalg.norm(flow.x[:, :3], axis=1), 1.0, atol=1e-12)
    assert G.check_regular(n_samples=8).passed and not G.check_commuting(n_samples=8).passed
    assert not rf.loop_test(G, x0).closes


@pytest.mark.parametrize("model", ["ball", "half_space"])
def test_hyperbolic_line_is_a_mirror_flow_and_the_plane_is_not(model):
    """`d = 1`: the metric `4 / (1 - w^2)^2` (ball) or `1 / w^2` (half-line) is `R''` of
    `R = 2 w artanh(w)` or `-log w`; `d = 2`: not commuting. Kernels: `(1 - |x|^2)^2 / 4`
    and `x_d^2` times `I`."""
    G, x0 = rf.models.hyperbolic_chart(1, model=model, init=[0.2] if model == "ball" else [1.5])
    loss = rf.losses.squared(np.array([[1.0]]), np.array([0.9]))
    report = rf.verify_equivalence(loss, (0.0, 5.0), parametrization=G, x0=x0, n_times=11)
    assert report.passed, str(report)
    H, _ = rf.models.hyperbolic_chart(2, model=model)
    assert not H.check_commuting(n_samples=8).passed
    x = H.sample(3, seed=0)
    scale = (1 - np.sum(x**2, axis=1)) ** 2 / 4 if model == "ball" else x[:, 1] ** 2
    np.testing.assert_allclose(H.kernel(x), scale[:, None, None] * np.eye(2), rtol=1e-13)


def test_closed_form_pullbacks_take_matrix_points():
    """A user `vjp` is written for the point shape: `dG(U)^T c = (C + C^T) U` for
    `w = triu(U U^T)`, `C` the upper-triangular matrix holding `c`."""
    from geomstats.geometry.matrices import Matrices

    rows, cols = np.triu_indices(3)

    def fn(U):
        return anp.einsum("...ac,...bc->...ab", U, U)[..., rows, cols]

    def vjp(U, c):
        C = np.zeros(np.shape(c)[:-1] + (3, 3))
        C[..., rows, cols] = c
        return (C + np.swapaxes(C, -1, -2)) @ U

    G = rf.Parametrization(fn, Matrices(3, 2), vectorized=True, vjp=vjp)
    assert G.check_vjp() < 1e-14

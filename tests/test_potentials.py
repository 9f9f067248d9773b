"""Named potentials: closed forms against each other, against autograd, and against mpmath."""

import autograd.numpy as anp
import mpmath
import numpy as np
import pytest
from autograd import jacobian

import riemflow as rf
from riemflow import _autodiff

P = rf.potentials

POTENTIALS = {
    "squared_euclidean": lambda: P.squared_euclidean(
        3, np.array([[2.0, 0.5, 0.0], [0.5, 1.0, 0.2], [0.0, 0.2, 3.0]])
    ),
    "negative_entropy": lambda: P.negative_entropy(3),
    "simplex_entropy": lambda: P.simplex_entropy(3),
    "hyperbolic_entropy": lambda: P.hyperbolic_entropy(3, 0.3),
    "hyperbolic_entropy_per_coordinate": lambda: P.hyperbolic_entropy(3, [1e-3, 1.0, 10.0]),
    "diagonal_network_depth3": lambda: P.diagonal_network(3, 3, 0.5),
    "diagonal_network_depth4.5": lambda: P.diagonal_network(2, 4.5, [0.7, 1.2]),
    "log_barrier": lambda: P.log_barrier(3),
    "p_norm_3": lambda: P.p_norm(3, 3.0),
    "p_norm_1.5": lambda: P.p_norm(3, 1.5),
    "log_det_2": lambda: P.log_det(2),
    "log_det_3": lambda: P.log_det(3),
    "log_ball": lambda: P.log_ball(3),
    "single_neuron": lambda: P.single_neuron(1.3, [0.4, -0.7, 0.2]),
}
CURVED = {"simplex_entropy", "log_det_2", "log_det_3", "log_ball", "single_neuron"}


@pytest.fixture(params=sorted(POTENTIALS), scope="module")
def named(request):
    return request.param, POTENTIALS[request.param]()


def _points(R, n=25, seed=0):
    return R.domain.sample(np.random.default_rng(seed), n)


def _rel(a, b):
    return np.max(np.abs(a - b) / np.maximum(np.max(np.abs(b), axis=-1, keepdims=True), 1e-300))


def test_mirror_map_roundtrip(named):
    """grad R*(grad R(w)) = w to 1e-12 relative (closed forms: a few ulps)."""
    _, R = named
    w = _points(R)
    assert _rel(R.grad_conjugate(R.grad(w)), w) < 1e-12


def test_fenchel_young_equality(named):
    """R(w) + R*(grad R(w)) = <w, grad R(w)>, relative to the size of the terms."""
    _, R = named
    w = _points(R)
    mu = R.grad(w)
    lhs = R(w) + R.conjugate(mu)
    rhs = np.sum(w * mu, axis=1)
    scale = np.abs(R(w)) + np.abs(R.conjugate(mu)) + np.abs(rhs)
    assert np.max(np.abs(lhs - rhs) / scale) < 1e-13


def test_hessian_inverse_relation(named):
    """hess R(w) . d(grad R*)(grad R(w)) = I (the two are inverse Jacobians)."""
    _, R = named
    w = _points(R, 10)
    mu = R.grad(w)
    jac_conj = np.stack([jacobian(lambda m: R._conj_grad_map(m[None])[0])(m) for m in mu])
    product = np.einsum("bij,bjk->bik", R.hessian(w), jac_conj)
    np.testing.assert_allclose(product, np.broadcast_to(np.eye(R.dim), product.shape), atol=1e-12)


def test_closed_forms_agree_with_autograd(named):
    """The closed-form grad and Hessian equal autograd's derivatives of the value."""
    _, R = named
    w = _points(R, 10)
    grad_ad = _autodiff.gradient(lambda z: anp.sum(R._values(z)), w)[1]
    assert _rel(np.asarray(grad_ad), R.grad(w)) < 1e-12
    hess_ad = _autodiff.jacobian(
        lambda z: _autodiff.gradient(lambda y: anp.sum(R._values(y)), z)[1], w
    )
    np.testing.assert_allclose(hess_ad, R.hessian(w), atol=1e-10 * np.max(np.abs(R.hessian(w))))


def test_closed_form_inverse_agrees_with_newton(named):
    """A Legendre built from the value alone inverts the mirror map by Newton."""
    _, R = named
    bare = rf.Legendre(R.fn, R.dim, domain=R.domain)
    assert not bare.has_closed_form_inverse
    w = _points(R, 8)
    mu = R.grad(w)
    assert _rel(bare.grad_conjugate(mu), R.grad_conjugate(mu)) < 1e-12
    np.testing.assert_allclose(
        bare.conjugate(mu),
        R.conjugate(mu),
        rtol=1e-12,
        atol=1e-12 * np.max(np.abs(R.conjugate(mu))),
    )


def test_legendre_check_and_flatness(named):
    name, R = named
    report = R.check()
    assert report.passed, str(report)
    flat = R.check_flat(n_samples=8)
    assert flat.passed is (name not in CURVED), str(flat)
    if name in CURVED:
        assert flat.max_curvature > 0.05


# -- extreme parameters of the hyperbolic entropy, against mpmath --------------------------
mpmath.mp.dps = 60


def _mp_reference(w, alpha):
    # the textbook formula cancels: |w| << beta leaves R ~ w^2 / (8 beta) out of terms of
    # size beta, so the reference is evaluated with 1000 digits
    with mpmath.workdps(1000):
        beta = 2 * mpmath.mpf(alpha) ** 2
        w = mpmath.mpf(w)
        value = (w * mpmath.asinh(w / beta) - mpmath.sqrt(w**2 + beta**2) + beta) / 4
        return value, mpmath.asinh(w / beta) / 4, 1 / (4 * mpmath.sqrt(w**2 + beta**2))


def _mp_conjugate(mu, alpha):
    beta = 2 * mpmath.mpf(alpha) ** 2
    mu = mpmath.mpf(mu)
    return beta * mpmath.sinh(4 * mu), beta * mpmath.sinh(2 * mu) ** 2 / 2


@pytest.mark.parametrize("alpha", [1e-150, 1e-3, 1.0, 1e6])
def test_hyperbolic_entropy_extreme_scales_against_mpmath(alpha):
    """No overflow (w / beta up to 1e310), underflow (beta^2 = 4e-600) or cancellation
    (R ~ w^2 / (8 beta) when |w| << beta): full relative accuracy, 1e-13."""
    R = P.hyperbolic_entropy(1, alpha)
    ws = [-1e10, -3.0, -1e-3, 1e-300, 3e-298, 1e-150, 1e-8, 0.5, 7.0, 1e12]
    for w in ws:
        value, grad, hess = _mp_reference(w, alpha)
        point = np.array([w])
        assert R(point) == pytest.approx(float(value), rel=1e-13, abs=1e-320)
        assert R.grad(point)[0] == pytest.approx(float(grad), rel=1e-13)
        assert R.hessian(point)[0, 0] == pytest.approx(float(hess), rel=1e-13)
    for mu in [-180.0, -20.0, -0.3, 1e-9, 0.3, 20.0, 170.0]:
        grad_conj, conj = _mp_conjugate(mu, alpha)
        if abs(float(grad_conj)) > 1e300:
            continue  # beyond float range: not representable, nothing to test
        point = np.array([mu])
        assert R.grad_conjugate(point)[0] == pytest.approx(float(grad_conj), rel=1e-13)
        assert R.conjugate(point) == pytest.approx(float(conj), rel=1e-13)


def test_depth_potential_closed_form_conjugate():
    """grad R* of the depth-L potential is G(psi(x_init; mu)) for w = u^L - v^L."""
    G, x0 = rf.models.diagonal_network(2, depth=3, alpha=0.5)
    R = P.diagonal_network(2, 3, 0.5)
    mu = np.array([0.4, -0.6])  # inside |mu| < c / k = alpha^{-1} / 3 = 2/3
    np.testing.assert_allclose(R.grad_conjugate(mu), G(G.flow(x0, mu)), rtol=1e-9)
    with pytest.raises(rf.errors.DomainError, match="outside the range"):
        R.grad_conjugate(np.array([10.0, 0.0]))  # beyond the blow-up bound c / k = 2/3


# -- geometry ------------------------------------------------------------------------------
def test_log_det_metric_is_the_affine_invariant_spd_metric():
    from geomstats.geometry.spd_matrices import SPDMatrices

    n = 3
    R = P.log_det(n)
    cone = R.domain
    spd = SPDMatrices(n)
    for w in _points(R, 5):
        basis = cone.matrix(np.eye(cone.dim))  # E_a
        gram = np.array(
            [[spd.metric.inner_product(Ea, Eb, cone.matrix(w)) for Eb in basis] for Ea in basis]
        )
        np.testing.assert_allclose(R.hessian(w), gram, rtol=1e-12)


def test_simplex_entropy_has_the_curvature_of_the_radius_2_sphere():
    R = P.simplex_entropy(3)
    rng = np.random.default_rng(1)
    for w in _points(R, 5):
        X, Y = rng.standard_normal((2, 3))
        assert R.metric.sectional_curvature(X, Y, w) == pytest.approx(0.25, rel=1e-12)


@pytest.mark.parametrize("name", ["simplex_entropy", "log_ball", "log_det_2"])
def test_hessian_riemann_tensor_matches_geomstats_generic(name):
    """Our closed-form Christoffels / Riemann tensor vs geomstats' generic formulas
    (Koszul from the metric derivative; Riemann from derivatives of Christoffels)."""
    from geomstats.geometry.connection import Connection
    from geomstats.geometry.riemannian_metric import RiemannianMetric

    R = POTENTIALS[name]()
    metric = R.metric
    for w in _points(R, 3):
        np.testing.assert_allclose(
            metric.christoffels(w),
            RiemannianMetric.christoffels(metric, w),
            atol=1e-12 * np.max(np.abs(metric.christoffels(w))),
        )
        ours = metric.riemann_tensor(w)
        np.testing.assert_allclose(
            ours, Connection.riemann_tensor(metric, w), atol=1e-10 * np.max(np.abs(ours))
        )


def test_hessian_metric_geodesics():
    """Negative entropy: F = 2 sqrt(w) is an isometry to R^d, so geodesics are straight in F."""
    R = P.negative_entropy(2)
    w0, v = np.array([1.0, 0.5]), np.array([0.3, -0.2])
    end = R.metric.exp(v, w0)
    np.testing.assert_allclose(end, (np.sqrt(w0) + v / (2 * np.sqrt(w0))) ** 2, rtol=1e-9)
    np.testing.assert_allclose(R.metric.log(end, w0), v, rtol=1e-6)
    assert R.metric.dist(w0, end) == pytest.approx(np.linalg.norm(v / np.sqrt(w0)), rel=1e-6)


def test_single_neuron_potential_is_z_minus_z0_along_the_flow_and_refuses_bad_init():
    # along gradient flow of w = a z: a^2 - |z|^2 = delta is conserved and grad R(w) = z - z0
    G, x0 = rf.models.single_neuron(3, init=[1.3, 0.4, -0.7, 0.2])
    R = P.single_neuron(1.3, [0.4, -0.7, 0.2])
    X = np.array([[1.0, 2.0, -1.0], [0.5, 0.0, 1.0]])
    traj = rf.gradient_flow(G, rf.losses.squared(X, np.array([1.0, -2.0])), x0, (0.0, 3.0))
    a, z = traj.x[:, 0], traj.x[:, 1:]
    np.testing.assert_allclose(a**2 - np.sum(z**2, axis=1), 1.3**2 - 0.69, rtol=1e-10)
    np.testing.assert_allclose(R.grad(traj.w), z - x0[1:], atol=1e-10)
    np.testing.assert_allclose(R.conjugate(np.zeros(3)), 1.3**3 / 3, rtol=1e-15)
    with pytest.raises(rf.errors.InputError, match="a0"):
        P.single_neuron(0.5, [0.4, -0.7, 0.2])  # delta < 0
    with pytest.raises(rf.errors.ShapeError, match="z0"):
        P.single_neuron(1.0, [[0.1]])
    with pytest.raises(rf.errors.NonFiniteError, match="z0"):
        P.single_neuron(1.0, [np.nan])


@pytest.mark.parametrize("alpha", [1.0, 1e3, 1e6])
def test_depth_3_mirror_map_has_no_cancellation_at_large_scales(alpha):
    # grad R*(mu) = (c - k mu)^p - (c + k mu)^p, c = alpha^-1, k = 3, p = -3: two terms of
    # size alpha^3 whose difference is ~ 2 p k alpha^4 mu; written with expm1/log1p
    R = P.diagonal_network(1, 3, alpha)
    mu = np.array([1e-3, -0.1, 0.25]) / alpha
    with mpmath.workdps(50):
        c, k = 1 / mpmath.mpf(alpha), mpmath.mpf(3)
        ref = [float((c - k * mpmath.mpf(m)) ** -3 - (c + k * mpmath.mpf(m)) ** -3) for m in mu]
    got = R.grad_conjugate(mu[:, None])[:, 0]
    np.testing.assert_allclose(got, ref, rtol=4e-15)
    w = np.array([1.0, -2.5])
    np.testing.assert_allclose(R.grad_conjugate(R.grad(w[:, None]))[:, 0], w, rtol=1e-14)

"""Parametrization: derivatives against closed forms, batching, geometry kinds, joint flow."""

import autograd.numpy as anp
import numpy as np
import pytest
from geomstats.geometry.hypersphere import Hypersphere
from geomstats.geometry.poincare_ball import PoincareBall
from scipy.linalg import expm

import riemflow as rf
from tests.data import closed_forms

CASES = closed_forms.all_cases()
IDS = [c.name for c in CASES]

# Derivatives are exact autograd derivatives of polynomial maps: they agree with the hand
# formulas up to a few ulps of the entries (|x| ~ 1), far inside 1e-10.
TOL = 1e-10


def _projector(case, x):
    if case.G.geometry.kind == "extrinsic":
        return np.eye(x.size) - np.outer(x, x) / (x @ x)
    return np.eye(x.size)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_jacobian_matches_closed_form(case):
    xs = case.points(np.random.default_rng(0), 5)
    got = case.G.jacobian(xs)
    want = np.stack([case.jacobian(x) for x in xs])
    np.testing.assert_allclose(got, want, rtol=0, atol=TOL)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_gradient_fields_and_kernel_match_closed_form(case):
    xs = case.points(np.random.default_rng(1), 4)
    for x, fields, kernel in zip(xs, case.G.gradient_fields(xs), case.G.kernel(xs), strict=False):
        J = case.jacobian(x)
        P = _projector(case, x)
        np.testing.assert_allclose(fields, J @ P, rtol=0, atol=TOL)
        np.testing.assert_allclose(kernel, J @ P @ J.T, rtol=0, atol=TOL)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_lie_brackets_match_closed_form(case):
    xs = case.points(np.random.default_rng(2), 4)
    got = case.G.lie_brackets(xs)
    want = np.stack([case.brackets(x) for x in xs])
    np.testing.assert_allclose(got, want, rtol=0, atol=TOL)
    np.testing.assert_allclose(got, -np.swapaxes(got, 1, 2), rtol=0, atol=TOL)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_commuting_verdict(case):
    report = case.G.check_commuting(n_samples=32, seed=4)
    assert report.passed is case.commuting, str(report)
    if case.commuting:
        assert report.max_bracket < 1e-12
    else:
        # an honest non-commuting pair has relative brackets of order one somewhere
        assert report.max_bracket > 0.1
        assert report.worst_pair is not None and report.worst_point is not None
        i, j = report.worst_pair
        assert np.linalg.norm(case.brackets(np.asarray(report.worst_point))[i, j]) > 0
        # the absolute figure is the largest closed-form bracket over the same sample
        sample = case.G.geometry.sample(np.random.default_rng(4), 32)
        largest = max(np.linalg.norm(case.brackets(x), axis=-1).max() for x in sample)
        np.testing.assert_allclose(report.max_abs_bracket, largest, rtol=1e-10)
    assert report.n_points == 32 and report.rtol == 1e-8


def test_single_point_and_batch_agree():
    case = closed_forms.matrix_sensing(False)
    xs = case.points(np.random.default_rng(3), 3)
    batched = case.G.lie_brackets(xs)
    for x, b in zip(xs, batched, strict=False):
        np.testing.assert_array_equal(case.G.lie_brackets(x), b)
    assert case.G(xs).shape == (3, 3) and case.G(xs[0]).shape == (3,)


def test_non_broadcasting_map_is_detected_and_looped():
    """A map written for one point only (x[0], not x[..., 0]) still works on batches."""

    def chain(x):
        return anp.array([x[0] * x[1], x[1] * x[2]])

    G = rf.Parametrization(chain, 3)
    xs = np.random.default_rng(0).standard_normal((6, 3))
    want = np.stack([[x[1] * x[0], x[1] * x[2]] for x in xs])
    np.testing.assert_allclose(G(xs), want, rtol=1e-15)
    assert G._map.vectorized is False
    ref = closed_forms.bilinear_chain()
    np.testing.assert_allclose(
        G.lie_brackets(xs), np.stack([ref.brackets(x) for x in xs]), atol=TOL
    )


def test_vectorized_and_looped_evaluation_agree():
    case = closed_forms.diagonal_product(depth=3)
    looped = rf.Parametrization(case.G.fn, case.G.input_dim, vectorized=False)
    xs = case.points(np.random.default_rng(5), 4)
    np.testing.assert_allclose(looped.kernel(xs), case.G.kernel(xs), rtol=1e-14)
    np.testing.assert_allclose(looped.lie_brackets(xs), case.G.lie_brackets(xs), atol=1e-14)


def test_default_space_is_euclidean_of_first_point():
    G = rf.Parametrization(lambda x: x[..., :2] * x[..., 1:])
    assert G(np.ones(3)).shape == (2,)
    assert G.input_dim == 3 and G.manifold_dim == 3 and G.output_dim == 2
    with pytest.raises(rf.errors.ShapeError, match="last dimension 3"):
        G(np.ones(4))


def _spherical(z):
    t, p = z[..., 0], z[..., 1]
    return anp.stack([anp.sin(t) * anp.cos(p), anp.sin(t) * anp.sin(p), anp.cos(t)], axis=-1)


def _sphere_chart():
    sampler = lambda rng, n: np.column_stack(  # noqa: E731
        [rng.uniform(0.3, 1.2, n), rng.uniform(0.2, 1.3, n)]
    )
    return rf.spaces.immersed_manifold(_spherical, 2, 3, sampler=sampler, name="sphere chart")


def test_intrinsic_pullback_metric_matches_geomstats():
    S = _sphere_chart()
    z = S.sampler(np.random.default_rng(0), 7)
    G = rf.Parametrization(lambda z: _spherical(z)[..., :2] ** 2, S)
    ours = G.geometry.metric_matrix(z)
    theirs = S.metric.metric_matrix(z)
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-12)
    # and against the closed form diag(1, sin^2 theta)
    np.testing.assert_allclose(ours[:, 1, 1], np.sin(z[:, 0]) ** 2, atol=1e-14)


def test_intrinsic_and_extrinsic_sphere_give_the_same_geometry():
    """u*u on S^2 computed in spherical coordinates (pullback metric) and in ambient
    coordinates (tangent projection): the kernels and brackets must agree."""
    S = _sphere_chart()
    G_in = rf.Parametrization(lambda z: _spherical(z)[..., :2] ** 2, S)
    G_ex, _ = rf.models.simplex_sphere(2)
    z = S.sampler(np.random.default_rng(1), 6)
    u = _spherical(z)
    K_in, K_ex = G_in.kernel(z), G_ex.kernel(u)
    np.testing.assert_allclose(K_in, K_ex, rtol=1e-12, atol=1e-14)
    w = u[:, :2] ** 2
    closed = 4 * (np.einsum("bi,ij->bij", w, np.eye(2)) - np.einsum("bi,bj->bij", w, w))
    np.testing.assert_allclose(K_ex, closed, atol=1e-14)
    # gradient fields are pushed forward by dF: dF(z) grad_in G_i = grad_ex G_i
    dF = G_in.geometry.immersion_jacobian(z)
    pushed = np.einsum("bai,bki->bka", dF, G_in.gradient_fields(z))
    np.testing.assert_allclose(pushed, G_ex.gradient_fields(u), atol=1e-13)
    assert G_in.check_commuting(z).passed
    assert G_in.check_regular(z).passed


def test_generic_intrinsic_metric_poincare_ball():
    """A non-immersed intrinsic space: grad f = g^{-1} df with g = 4 / (1 - |x|^2)^2 I."""
    ball = PoincareBall(2)
    G = rf.Parametrization(lambda x: anp.stack([x[..., 0] ** 2, x[..., 0] * x[..., 1]], -1), ball)
    x = np.array([0.3, -0.2])
    J = np.array([[2 * x[0], 0.0], [x[1], x[0]]])
    factor = (1 - x @ x) ** 2 / 4
    np.testing.assert_allclose(G.gradient_fields(x), factor * J, rtol=1e-12)
    np.testing.assert_allclose(G.kernel(x), factor * J @ J.T, rtol=1e-12)


def test_regularity_reports():
    G, x0 = rf.models.hadamard_product(2)  # u*v: singular where u_i = v_i = 0
    rep = G.check_regular(np.array([[1.0, 2.0, 3.0, 4.0], [0.0, 1.0, 0.0, 2.0]]))
    assert not rep.passed and rep.min_singular_value == 0.0
    np.testing.assert_array_equal(rep.worst_point, [0.0, 1.0, 0.0, 2.0])
    good = G.check_regular(np.array([1.0, 2.0, 3.0, 4.0]))
    # K = diag(u^2 + v^2) = diag(10, 20): sigma_min = sqrt(10)
    assert good.passed and good.min_singular_value == pytest.approx(np.sqrt(10), rel=1e-14)
    assert good.min_relative_singular_value == pytest.approx(np.sqrt(0.5), rel=1e-14)
    # more outputs than manifold dimensions can never be regular
    M, _ = rf.models.matrix_factorization(2, rank=1)  # d = 3 > D = 2
    assert not M.check_regular().passed
    assert "exceeds the manifold dimension" in str(M.check_regular())
    with pytest.raises(rf.errors.NotRegularError, match="not regular"):
        M.require_regular()


def test_require_commuting_raises_with_report():
    G, _ = rf.models.bilinear_chain(3)
    with pytest.raises(rf.errors.NotCommutingError) as info:
        G.require_commuting(n_samples=8)
    assert info.value.report.max_bracket > 0.1
    assert "worst pair (0, 1)" in str(info.value)


def test_bracket_check_is_scale_invariant():
    """Rescaling x (tiny initialisations) must not change the relative verdict."""
    G, _ = rf.models.bilinear_chain(3)
    x = np.array([[0.3, -1.2, 0.8]])
    for s in (1e-150, 1.0, 1e100):
        rep = G.check_commuting(s * x)
        assert not rep.passed
        assert rep.max_bracket == pytest.approx(G.check_commuting(x).max_bracket, rel=1e-12)


# -- joint flow psi ---------------------------------------------------------------------
def test_joint_flow_diagonal_network_closed_form():
    u0, v0 = np.array([0.5, 1.0]), np.array([2.0, 0.3])
    G, x0 = rf.models.diagonal_network(2, depth=2, init=(u0, v0))
    mu = np.array([0.3, -0.7])
    psi = G.flow(x0, mu)
    np.testing.assert_allclose(
        psi, np.concatenate([u0 * np.exp(2 * mu), v0 * np.exp(-2 * mu)]), rtol=1e-10
    )
    np.testing.assert_allclose(G(psi), u0**2 * np.exp(4 * mu) - v0**2 * np.exp(-4 * mu), rtol=1e-10)


def test_joint_flow_commuting_quadratics_is_matrix_exponential():
    case = closed_forms.quadratic_family(True)
    B = np.einsum("kij->kij", closed_forms.quadratic_family(True).G.fn.__closure__[0].cell_contents)
    mu = np.array([0.2, -0.1, 0.15])
    want = expm(np.einsum("k,kij->ij", mu, B)) @ case.x_init
    np.testing.assert_allclose(case.G.flow(case.x_init, mu), want, rtol=1e-10)
    np.testing.assert_allclose(case.G.flow(case.x_init, mu, sequential=True), want, rtol=1e-10)


def test_joint_flow_sequential_differs_without_commuting():
    G, _ = rf.models.bilinear_chain(3)
    x, mu = np.array([1.0, 2.0, 3.0]), np.array([0.1, 0.2])
    gap = np.linalg.norm(G.flow(x, mu) - G.flow(x, mu, sequential=True))
    assert gap > 1e-3  # second-order in mu: about |mu_1 mu_2 [X_1, X_2]| / 2


def test_joint_flow_on_the_sphere_stays_on_it():
    G, u0 = rf.models.simplex_sphere(3)
    psi = G.flow(u0, np.array([0.2, -0.3, 0.1]))
    assert abs(np.linalg.norm(psi) - 1.0) < 1e-10
    np.testing.assert_allclose(
        G.flow(u0, np.array([0.2, -0.3, 0.1]), sequential=True), psi, atol=1e-9
    )


def test_joint_flow_blow_up_is_a_divergence_error():
    G, x0 = rf.models.diagonal_network(1, depth=3, alpha=1.0, signed=False)
    # du/ds = 3 mu u^2 blows up at s = 1 / (3 mu u0): mu = 1 is outside the domain of psi
    with pytest.raises(rf.errors.DivergenceError, match="blow-up|outside the domain"):
        G.flow(x0, np.array([1.0]))
    np.testing.assert_allclose(G.flow(x0, np.array([0.1])), 1 / (1 - 0.3), rtol=1e-10)


def test_hypersphere_space_kinds():
    G = rf.Parametrization(lambda u: u[..., :1] * u[..., 1:2], Hypersphere(2))
    assert G.geometry.kind == "extrinsic" and G.manifold_dim == 2 and G.input_dim == 3
    assert rf.Parametrization(lambda x: x, 2).geometry.kind == "euclidean"
    assert rf.Parametrization(lambda x: x, _sphere_chart()).geometry.kind == "intrinsic"


def test_single_output_commutes_trivially():
    G = rf.Parametrization(lambda x: anp.sum(x**3, axis=-1), 3)
    rep = G.check_commuting(n_samples=4)
    assert rep.passed and rep.worst_pair is None and rep.max_bracket == 0.0
    assert G.lie_brackets(np.ones(3)).shape == (1, 1, 3)

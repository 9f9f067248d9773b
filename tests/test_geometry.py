"""Riemannian gradients on geomstats manifolds of any point shape, against geomstats' metric.

The ground truth is the defining identity of the Riemannian gradient, `<grad f, v>_x =
df(x)[v]` for every tangent `v`, with geomstats' own `inner_product` on the left (called
point by point, the form every geomstats metric accepts; a product's metric is the sum of
its factors'), and tangency of the result. Every route is checked (closed forms and the
generic `inner_product` routes), and the closed forms against the generic route.
Tolerances: the identity holds to round-off (observed <= 5e-15 relative); 1e-10 leaves
room for the solve of the generic route's Gram matrix (condition numbers <= 1e3 at the
sampled points) while a wrong metric is off by O(1).
"""

import autograd.numpy as anp
import numpy as np
import pytest
from geomstats.geometry.euclidean import Euclidean
from geomstats.geometry.hyperbolic import Hyperbolic
from geomstats.geometry.hypersphere import Hypersphere
from geomstats.geometry.minkowski import Minkowski
from geomstats.geometry.poincare_half_space import PoincareHalfSpace
from geomstats.geometry.positive_lower_triangular_matrices import PositiveLowerTriangularMatrices
from geomstats.geometry.product_manifold import ProductManifold
from geomstats.geometry.riemannian_metric import RiemannianMetric
from geomstats.geometry.spd_matrices import SPDLogEuclideanMetric, SPDMatrices

import riemflow as rf
from riemflow import _autodiff
from riemflow._geometry import make_geometry
from tests.data.manifolds import KINDS, SPACES, VECTOR_KINDS, spd

IDS = sorted(SPACES)
RTOL = 1e-10


def _truth(geom, xb, u, v):
    """`<u, v>_x` from geomstats, point by point (a product: the sum over its factors)."""
    if geom.kind == "product":
        return sum(
            a * _truth(f, x, p, q)
            for f, a, x, p, q in zip(
                geom.factors,
                geom.scales,
                geom.blocks(xb),
                geom.blocks(u),
                geom.blocks(v),
                strict=True,
            )
        )
    metric = geom.space.metric
    shape = geom.point_shape
    return np.array(
        [
            float(metric.inner_product(p.reshape(shape), q.reshape(shape), x.reshape(shape)))
            for x, p, q in zip(xb, u, v, strict=True)
        ]
    )


def _check_identity(geom, sharp, seed=0):
    xb = geom.sample(np.random.default_rng(seed), 6)
    rng = np.random.default_rng(seed + 1)
    c = rng.standard_normal((xb.shape[0], 3, geom.point_dim))
    X = np.asarray(sharp(xb, c))
    v = np.asarray(geom.to_tangent(xb, rng.standard_normal(xb.shape)))
    for k in range(3):
        lhs = _truth(geom, xb, X[:, k], v)
        rhs = np.einsum("bi,bi->b", c[:, k], v)
        assert np.max(np.abs(lhs - rhs)) <= RTOL * np.max(np.abs(rhs))
        tangent = np.asarray(geom.to_tangent(xb, X[:, k]))
        assert np.max(np.abs(tangent - X[:, k])) <= RTOL * np.max(np.abs(X[:, k]))


@pytest.mark.parametrize("key", IDS)
def test_gradients_satisfy_the_defining_identity_with_geomstats_metric(key):
    geom = make_geometry(SPACES[key]())
    assert geom.kind == KINDS[key]
    _check_identity(geom, geom.sharp)


@pytest.mark.parametrize("key", [k for k in IDS if KINDS[k] in ("subspace", "embedded")])
def test_generic_route_satisfies_the_identity_and_matches_the_closed_form(key):
    geom = make_geometry(SPACES[key]())
    _check_identity(geom, geom.generic_sharp, seed=3)
    xb = geom.sample(np.random.default_rng(4), 8)
    c = np.random.default_rng(5).standard_normal((8, 2, geom.point_dim))
    closed, generic = np.asarray(geom.sharp(xb, c)), np.asarray(geom.generic_sharp(xb, c))
    assert np.max(np.abs(closed - generic)) <= RTOL * np.max(np.abs(generic))


@pytest.mark.parametrize("key", IDS)
def test_batches_equal_points_and_samples_lie_on_the_manifold(key):
    geom = make_geometry(SPACES[key]())
    xb = geom.sample(np.random.default_rng(6), 5)
    assert xb.shape == (5, geom.point_dim)
    assert np.all(geom.in_domain(xb)) and np.max(geom.distance_to_manifold(xb)) < 1e-10
    c = np.random.default_rng(7).standard_normal((5, 2, geom.point_dim))
    batched = np.asarray(geom.sharp(xb, c))
    single = np.concatenate([np.asarray(geom.sharp(xb[b : b + 1], c[b : b + 1])) for b in range(5)])
    assert np.max(np.abs(batched - single)) <= 1e-13 * np.max(np.abs(single))


@pytest.mark.parametrize("key", sorted(VECTOR_KINDS))
def test_vector_spaces_keep_their_routes(key):
    build, kind = VECTOR_KINDS[key]
    assert make_geometry(build()).kind == kind


def test_stacked_product_layout_keeps_the_point_shape():
    """geomstats stacks equally shaped factors: S^2 x R^3 has points (2, 3)."""
    G = rf.Parametrization(
        lambda x: x[..., 0, :] * x[..., 1, :],
        ProductManifold([Hypersphere(2), Euclidean(3)]),
    )
    x = np.stack([np.array([0.6, 0.0, 0.8]), np.array([1.0, -2.0, 0.5])])
    assert G.point_shape == (2, 3)
    assert G.gradient_fields(x).shape == (3, 2, 3) and G.lie_brackets(x).shape == (3, 3, 2, 3)
    fields = G.gradient_fields(x)  # sphere block: the tangent projection of e_i * v
    P = np.eye(3) - np.outer(x[0], x[0])
    np.testing.assert_allclose(fields[:, 0, :], (P @ np.diag(x[1])).T, atol=1e-15)
    np.testing.assert_allclose(fields[:, 1, :], np.diag(x[0]), atol=1e-15)


# -- regressions: defects of the vector-only geometry -----------------------------------------
def test_hyperboloid_uses_the_minkowski_metric():
    """`Hyperbolic(2)` (the hyperboloid) lives in Minkowski space, which geomstats models as
    a subclass of Euclidean: projecting the Euclidean differential, as a submanifold of a
    Euclidean space would, missed the identity by 0.39 and gave K a negative entry."""
    H = Hyperbolic(2)
    G = rf.Parametrization(lambda x: anp.stack([x[..., 0], x[..., 0] * x[..., 1]], -1), H)
    assert G.geometry.kind == "embedded"
    z = np.array([0.3, -0.2])
    x = np.concatenate([[np.sqrt(1 + z @ z)], z])
    v = H.to_tangent(np.random.default_rng(0).standard_normal(3), x)
    X, J = G.gradient_fields(x), G.jacobian(x)
    gaps = [abs(float(H.metric.inner_product(X[i], v, x)) - J[i] @ v) for i in range(2)]
    assert max(gaps) < 1e-13
    assert np.all(np.linalg.eigvalsh(G.kernel(x)) > 0)


def test_half_space_is_accepted_through_its_inner_product():
    """geomstats' `PoincareHalfSpace` has no metric matrix (its `metric_matrix` raises); a
    `hasattr` test accepted it and the first evaluation failed. Its metric is `I / y^2`."""
    G = rf.Parametrization(lambda x: x * 1.0, PoincareHalfSpace(2))
    assert G.geometry.kind == "subspace"
    x = np.array([[0.3, 0.5], [-1.0, 2.0]])
    np.testing.assert_allclose(G.kernel(x), x[:, 1, None, None] ** 2 * np.eye(2), atol=1e-15)


def _logm(P):
    lam, Q = anp.linalg.eigh(P)
    return anp.einsum("...ij,...j,...kj->...ik", Q, anp.log(lam), Q)


def test_directional_derivatives_are_exact_through_eigh():
    """autograd's `make_jvp_reversemode` traces at a zero cotangent and its `eigh` rule then
    drops the eigenvector term: `d logm(P)[V]` was off by 0.42 (of 2.1)."""
    rng = np.random.default_rng(0)
    A = rng.standard_normal((3, 3))
    P = A @ A.T + np.eye(3)
    V = rng.standard_normal((3, 3))
    V = V + V.T
    h = 1e-6
    central = (_logm(P + h * V) - _logm(P - h * V)) / (2 * h)  # error O(h^2) ~ 1e-12
    exact = _autodiff.directional_derivative(_logm, P, V)
    assert np.max(np.abs(exact - central)) < 1e-8 * np.max(np.abs(central))


def test_lie_brackets_through_eigh_match_finite_differences():
    """`triu(logm(P))` on R^4: the brackets were off by 0.089 where they are 0.052."""
    rows, cols = np.triu_indices(2)

    def fn(x):
        P = anp.reshape(x, anp.shape(x)[:-1] + (2, 2))
        return _logm(0.5 * (P + anp.swapaxes(P, -1, -2)))[..., rows, cols]

    G = rf.Parametrization(fn, 4)
    x = np.array([2.0, 0.3, 0.3, 1.0])
    X = G.gradient_fields(x)
    h = 1e-5
    D = np.stack(
        [
            (G.gradient_fields(x + h * X[i]) - G.gradient_fields(x - h * X[i])) / (2 * h)
            for i in range(3)
        ]
    )
    reference = D - np.swapaxes(D, 0, 1)
    assert np.max(np.abs(G.lie_brackets(x) - reference)) < 1e-8 * np.max(np.abs(D))


# -- refusals name the geomstats method ------------------------------------------------------
class _MetricWithoutInnerProduct(RiemannianMetric):
    """Only an exponential map: geomstats' default `inner_product` needs `metric_matrix`."""

    def exp(self, tangent_vec, base_point):
        return base_point + tangent_vec


class _SphereWithoutProjection(Hypersphere):
    def projection(self, point):
        raise NotImplementedError("no projection")


def _spd_without_inner_product():
    space = SPDMatrices(2, equip=False)
    space.equip_with_metric(_MetricWithoutInnerProduct)
    return space


@pytest.mark.parametrize(
    ("build", "match"),
    [
        (lambda: SPDMatrices(2, equip=False), r"space\.metric"),
        (lambda: Minkowski(3), r"signature \(2, 1\)"),
        (_spd_without_inner_product, r"metric\.inner_product failed"),
        (lambda: _SphereWithoutProjection(2), r"projection failed.*retract"),
    ],
    ids=["no metric", "pseudo-Riemannian", "no inner product", "no projection"],
)
def test_unsupported_spaces_are_refused_naming_the_geomstats_method(build, match):
    with pytest.raises(rf.errors.UnsupportedSpaceError, match=match):
        rf.Parametrization(lambda x: x[..., 0], build())


def test_complex_manifolds_are_refused():
    from geomstats.geometry.hpd_matrices import HPDMatrices

    with pytest.raises(rf.errors.UnsupportedSpaceError, match="complex"):
        rf.Parametrization(lambda x: x[..., 0, 0], HPDMatrices(2))


def test_a_metric_autograd_cannot_differentiate_refuses_only_the_brackets():
    """geomstats' CholeskyMetric builds matrices autograd cannot trace: gradients and
    kernels work, the Lie brackets name the metric."""
    G = rf.Parametrization(
        lambda L: L[..., [0, 1, 1], [0, 0, 1]], PositiveLowerTriangularMatrices(2)
    )
    x = np.array([[1.0, 0.0], [0.3, 2.0]])
    assert np.all(np.linalg.eigvalsh(G.kernel(x)) > 0)
    with pytest.raises(rf.errors.NotDifferentiableError, match="CholeskyMetric"):
        G.lie_brackets(x)


def test_brackets_at_repeated_eigenvalues_are_refused_for_eigh_based_metrics():
    G = rf.Parametrization(lambda P: P[..., [0, 0, 1], [0, 1, 1]], spd(2, SPDLogEuclideanMetric))
    with pytest.raises(rf.errors.NotDifferentiableError, match="repeated eigenvalues"):
        G.lie_brackets(np.eye(2))
    assert np.all(np.isfinite(G.kernel(np.eye(2))))  # values are fine there


def test_point_shapes_are_checked():
    G = rf.Parametrization(lambda P: P[..., 0, 0], SPDMatrices(2))
    with pytest.raises(rf.errors.ShapeError, match=r"shape \(2, 2\)"):
        G(np.ones(4))
    with pytest.raises(rf.errors.DomainError, match="outside the domain"):
        G(np.array([[1.0, 2.0], [2.0, 1.0]]))  # symmetric, not positive definite
    with pytest.raises(rf.errors.ShapeError, match="one point"):
        rf.gradient_flow(G, lambda w: w[0], np.stack([np.eye(2)] * 2), (0.0, 1.0))

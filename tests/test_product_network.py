"""The product network potential (signed, any depth, general initialization) against the
forward theorem's numerical construction, which knows nothing of its decomposition.

The joint-flow construction (`mirror_potential(..., closed_form=False, structure=None)`: an
ODE in `R^D` per dual point and a Newton solve) agrees with the closed forms of the zoo to
1e-12 .. 1e-14 relative (tests/test_forward.py); measured here 3e-15 .. 6e-14. The tolerance
1e-9 leaves room for the ODE tolerance (rtol 1e-12) amplified by the conditioning of the
Newton solve near the blow-up of depth >= 3, and still catches a wrong sign, factor or
normalization by many orders of magnitude.
"""

import numpy as np
import pytest

import riemflow as rf
from riemflow.experiments.labarriere import random_layers
from riemflow.potentials import SignedDeepInit, deep_product, product_network

TOL = 1e-9


def _rel(a, b):
    a, b = np.asarray(a), np.asarray(b)
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-300))


def _model(U, V=None):
    layers = list(U) + ([] if V is None else list(V))
    return rf.models.diagonal_network(
        U.shape[1], U.shape[0], form="product", init=layers, signed=V is not None
    )


def _joint_flow_potential(G, x0):
    return rf.mirror_potential(G, x0, closed_form=False, structure=None)


@pytest.mark.parametrize(("depth", "seed"), [(3, 0), (3, 1), (4, 0)])
def test_signed_potential_matches_the_joint_flow_construction(depth, seed):
    d = 3
    U, V = random_layers(depth, d, 1.0, seed), random_layers(depth, d, 0.7, seed + 100)
    G, x0 = _model(U, V)
    R = rf.mirror_potential(G, x0)
    assert R.name.startswith("signed product network potential")
    numeric = _joint_flow_potential(G, x0)
    w0 = G(x0)
    assert abs(R(w0)) < 1e-14 and np.max(np.abs(R.grad(w0))) < 1e-14
    rng = np.random.default_rng(seed)
    for w in w0 + rng.uniform(-1.0, 1.0, size=(2, d)):
        assert _rel(R.grad(w), numeric.grad(w)) < TOL
        assert _rel(R.hessian(w), numeric.hessian(w)) < TOL
        assert abs(R(w) - numeric(w)) < TOL * max(1.0, abs(numeric(w)))
    S = SignedDeepInit(U, V)
    ends = np.where(rng.random((2, d)) < 0.5, S.mu_lo, S.mu_hi)
    mu = np.clip(rng.uniform(0.3, 0.7, size=(2, d)) * ends, -2.0, 2.0)
    assert _rel(R.grad_conjugate(mu), numeric.grad_conjugate(mu)) < TOL
    assert _rel(R.conjugate(mu), numeric.conjugate(mu)) < TOL
    assert _rel(R.hessian_conjugate(mu), numeric.hessian_conjugate(mu)) < TOL


def test_third_derivatives_and_legendre_check():
    U, V = random_layers(3, 3, 1.0, 5), random_layers(3, 3, 1.0, 15)
    R = product_network(U, V)
    G, x0 = _model(U, V)
    w = G(x0) + 0.3
    # third derivatives: closed-form dK/dmu against the numerical construction's exact
    # DK(psi)[grad G_k] (both exact up to the ODE tolerance)
    assert _rel(R.third_derivative(w), _joint_flow_potential(G, x0).third_derivative(w)) < 1e-8
    assert R.check(n_samples=16).passed
    assert R.check_flat(n_samples=4).passed  # separable: flat


def test_gradient_flow_of_the_layers_is_mirror_flow_with_it():
    U, V = random_layers(3, 4, 1.0, 3), random_layers(3, 4, 1.0, 13)
    G, x0 = _model(U, V)
    X = np.random.default_rng(0).standard_normal((2, 4))
    loss = rf.losses.squared(X, np.array([1.0, -0.5]))
    report = rf.verify_equivalence(loss, (0.0, 5.0), parametrization=G, x0=x0, n_times=21)
    assert report.passed, report


def test_dispatch_unsigned_and_depth_two():
    U = random_layers(3, 4, 1.0, 2)
    w = np.prod(U, axis=0) * np.array([1.5, 0.5, 2.0, 0.8])
    unsigned = product_network(U)
    labarriere = deep_product(U)
    np.testing.assert_allclose(unsigned.grad(w), labarriere.grad(w), rtol=1e-14)
    G, x0 = _model(U)
    assert _rel(rf.mirror_potential(G, x0).grad(w), labarriere.grad(w)) < 1e-14
    U2, V2 = random_layers(2, 3, 1.0, 4), random_layers(2, 3, 1.0, 5)
    pair = rf.potentials.product_pair(U2[0], U2[1], V2[0], V2[1])
    w2 = np.array([0.4, -0.3, 1.1])
    np.testing.assert_allclose(product_network(U2, V2).grad(w2), pair.grad(w2), rtol=1e-15)


def test_different_depths_on_the_two_sides():
    """`u1 u2 u3 - v1 v2` (not a zoo model): the joint-flow construction of a user map."""
    import autograd.numpy as anp

    d = 2
    U, V = random_layers(3, d, 1.0, 6), random_layers(2, d, 1.0, 7)

    def fn(x):
        return x[..., :d] * x[..., d : 2 * d] * x[..., 2 * d : 3 * d] - anp.prod(
            anp.stack([x[..., 3 * d : 4 * d], x[..., 4 * d :]]), axis=0
        )

    G = rf.Parametrization(fn, 5 * d, name="u1 u2 u3 - v1 v2")
    x0 = np.concatenate(list(U) + list(V))
    R = product_network(U, V)
    assert "L'=2" in R.name
    numeric = _joint_flow_potential(G, x0)
    for w in G(x0) + np.array([[0.4, -0.7], [-1.2, 0.3]]):
        assert _rel(R.grad(w), numeric.grad(w)) < TOL
        assert _rel(R.hessian(w), numeric.hessian(w)) < TOL


def test_ties_and_frozen_coordinates():
    """Balanced layers (every delta 0: a half-line domain for that network) and a network
    frozen at a coordinate (two zero layers: only the other network moves it)."""
    U = np.array([[0.5, 0.5, 0.0], [0.5, -0.5, 0.0], [0.5, 0.5, 0.7]])
    V = np.array([[0.4, 0.8, 0.6], [0.4, 0.3, 0.9], [0.4, 0.5, 1.1]])
    G, x0 = _model(U, V)
    R = rf.mirror_potential(G, x0)
    numeric = _joint_flow_potential(G, x0)
    w0 = G(x0)
    for w in (w0 + 0.2, w0 - 0.3):
        assert _rel(R.grad(w), numeric.grad(w)) < TOL
        assert _rel(R.hessian(w), numeric.hessian(w)) < TOL
    # both networks balanced with opposite orientations: a half-line domain
    S = SignedDeepInit(np.full((3, 1), 0.5), np.full((3, 1), -0.5))
    assert S.w_lo[0] == 0.0 and S.w_hi[0] == np.inf


def test_implicit_bias_matches_the_joint_flow_construction():
    d = 5
    U, V = random_layers(3, d, 1.0, 7), random_layers(3, d, 0.7, 107)
    G, x0 = _model(U, V)
    rng = np.random.default_rng(1)
    X, y = rng.standard_normal((2, d)), rng.standard_normal(2)
    w0 = G(x0)
    closed = rf.implicit_bias(rf.mirror_potential(G, x0), X, y, w0)
    numeric = rf.implicit_bias(_joint_flow_potential(G, x0), X, y, w0)
    assert _rel(closed, numeric) < TOL


def test_bad_layers_are_refused_with_typed_errors():
    U = random_layers(3, 2, 1.0, 0)
    with pytest.raises(rf.errors.ShapeError, match="layers_v"):
        product_network(U, random_layers(3, 3, 1.0, 1))
    with pytest.raises(rf.errors.ShapeError, match="layers_u"):
        SignedDeepInit(U[:1], U)
    frozen = np.array([[0.0, 1.0], [0.0, 2.0], [1.0, 0.5]])
    with pytest.raises(rf.errors.NotRegularError, match="coordinate 0"):
        product_network(frozen, frozen)
    G, x0 = _model(frozen, frozen)  # the model refers the question to the numerical route
    assert G.closed_form_potential(x0) is None

"""Property tests: random commuting and non-commuting families are classified correctly."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import riemflow as rf

SEEDS = st.integers(min_value=0, max_value=2**32 - 1)


@settings(max_examples=200, deadline=None)
@given(seed=SEEDS, d=st.integers(2, 4), D=st.integers(2, 5))
def test_quadratics_with_a_shared_eigenbasis_commute(seed, d, D):
    rng = np.random.default_rng(seed)
    Q, _ = np.linalg.qr(rng.standard_normal((D, D)))
    A = np.stack([Q @ np.diag(rng.standard_normal(D)) @ Q.T for _ in range(d)])
    G, _ = rf.models.quadratic(A)
    assert G.check_commuting(n_samples=8, seed=seed).passed


@settings(max_examples=200, deadline=None)
@given(seed=SEEDS, D=st.integers(2, 5))
def test_generic_symmetric_quadratics_do_not_commute(seed, D):
    rng = np.random.default_rng(seed)
    S = rng.standard_normal((2, D, D))
    A = S + np.swapaxes(S, 1, 2)
    # generic symmetric pairs have a non-zero commutator, of relative size order one
    comm = A[1] @ A[0] - A[0] @ A[1]
    scale = np.linalg.norm(A[1] @ A[0]) + np.linalg.norm(A[0] @ A[1])
    if np.linalg.norm(comm) < 1e-3 * scale:
        return
    G, _ = rf.models.quadratic(A)
    assert not G.check_commuting(n_samples=8, seed=seed).passed


@settings(max_examples=200, deadline=None)
@given(seed=SEEDS, d=st.integers(1, 4), block=st.integers(1, 3))
def test_random_disjoint_block_maps_mixed_linearly_commute(seed, d, block):
    """G = A Ghat + b with Ghat_i a random polynomial of its own block of variables."""
    rng = np.random.default_rng(seed)
    coef = rng.standard_normal((d, block, 3))  # cubic polynomial per variable
    A, b = rng.standard_normal((d, d)), rng.standard_normal(d)

    def fn(x):
        blocks = x.reshape(x.shape[:-1] + (d, block))
        ghat = (coef[..., 0] * blocks + coef[..., 1] * blocks**2 + coef[..., 2] * blocks**3).sum(-1)
        return ghat @ A.T + b

    G = rf.Parametrization(fn, d * block)
    assert G.check_commuting(n_samples=8, seed=seed).passed


@settings(max_examples=200, deadline=None)
@given(seed=SEEDS, D=st.integers(2, 4))
def test_random_nonlinear_coupled_maps_do_not_commute(seed, D):
    """G_i = tanh(<a_i, x>) + <b_i, x>^2 with generic a, b: the gradient fields
    cos-weighted and linear directions rotate into each other, brackets of order one."""
    import autograd.numpy as anp

    rng = np.random.default_rng(seed)
    a, b = rng.standard_normal((2, D)), rng.standard_normal((2, D))

    def fn(x):
        return anp.tanh(x @ a.T) + (x @ b.T) ** 2

    G = rf.Parametrization(fn, D)
    report = G.check_commuting(n_samples=8, seed=seed)
    assert not report.passed and report.max_bracket > 1e-6


@settings(max_examples=25, deadline=None)
@given(seed=SEEDS, d=st.integers(1, 3))
def test_forward_potential_of_random_separable_maps(seed, d):
    """mirror_potential of G_i = g_i(x_i) (random increasing g_i) against the closed form
    hess R(G(x)) = diag(1 / g'(x)^2), and grad R* o grad R = id on its values."""
    import autograd.numpy as anp

    rng = np.random.default_rng(seed)
    a = rng.uniform(0.5, 2.0, d)
    b = rng.uniform(0.0, 0.5, d)
    c = rng.uniform(0.0, 0.5, d)

    def fn(x):
        return a * x + b * x**3 / 3 + c * anp.sinh(x)

    G = rf.Parametrization(fn, d)
    x0 = rng.uniform(-0.5, 0.5, d)
    R = rf.mirror_potential(G, x0)
    x = x0 + rng.uniform(-0.4, 0.4, d)
    w = G(x)
    slope = a + b * x**2 + c * np.cosh(x)
    # the joint flows of the numerical construction run at rtol ~1e-12
    np.testing.assert_allclose(R.hessian(w), np.diag(1.0 / slope**2), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(R.grad_conjugate(R.grad(w)), w, rtol=1e-9, atol=1e-12)


def _random_legendre(seed: int, d: int):
    """Random convex separable + PD quadratic + log barrier on the positive orthant:
    R(w) = sum_i c_i exp(a_i w_i) + w^T A w / 2 - b sum_i log w_i."""
    import autograd.numpy as anp

    rng = np.random.default_rng(seed)
    c, a = rng.uniform(0.1, 2.0, d), rng.uniform(-1.5, 1.5, d)
    B = rng.standard_normal((d, d))
    A = B @ B.T / d + rng.uniform(0.05, 1.0) * np.eye(d)
    b = rng.uniform(0.1, 2.0)

    def fn(w):
        quad = 0.5 * anp.einsum("...i,ij,...j->...", w, A, w)
        return anp.sum(c * anp.exp(a * w), axis=-1) + quad - b * anp.sum(anp.log(w), axis=-1)

    R = rf.Legendre(fn, d, domain=rf.domains.Box.orthant(d), name=f"random Legendre {seed}")
    return R, rng.uniform(0.2, 3.0, (4, d))


@settings(max_examples=200, deadline=None)
@given(seed=SEEDS, d=st.integers(1, 3))
def test_random_legendre_mirror_map_inverts_and_fenchel_young_holds(seed, d):
    R, W = _random_legendre(seed, d)
    mu = R.grad(W)
    back = R.grad_conjugate(mu)  # damped Newton on R(w) - <mu, w>
    # the Newton solve stops at ~1e-15 relative steps: 1e-10 leaves room for the
    # conditioning of hess R (eigenvalues between ~0.05 and ~1e2 here)
    np.testing.assert_allclose(back, W, rtol=1e-10)
    # Fenchel-Young equality at the pair (w, grad R(w)), relative to its terms' size
    lhs = R(W) + R.conjugate(mu)
    rhs = np.sum(W * mu, axis=1)
    scale = np.abs(R(W)) + np.abs(rhs) + 1.0
    assert np.all(np.abs(lhs - rhs) <= 1e-10 * scale)


@pytest.mark.slow  # ~3 s an example (a converse construction and two flows)
@settings(max_examples=25, deadline=None)
@given(seed=SEEDS)
def test_gradient_flow_on_the_converse_parametrization_is_the_mirror_flow_of_R(seed):
    """Round trip: the converse construction (a flat embedding of a random separable
    Legendre function) must give back R's mirror flows as gradient flows."""
    rng = np.random.default_rng(seed)
    a = rng.uniform(0.5, 2.0, 2)
    R = rf.potentials.hyperbolic_entropy(2, a)
    P = rf.commuting_parametrization(R, [(-0.5, 0.5)] * 2)
    w0 = rng.uniform(-0.2, 0.2, 2)
    loss = rf.losses.squared(rng.standard_normal((1, 2)), rng.standard_normal(1) * 0.1)
    report = rf.verify_equivalence(
        loss, (0.0, 0.5), parametrization=P, legendre=R, w0=w0, n_times=11
    )
    # flat metric: the embedding is exact (quadrature to 1e-12), so the flows agree to the
    # solvers' accuracy
    assert report.max_deviation < 1e-8, str(report)

"""Property tests: random commuting and non-commuting families are classified correctly."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

import riemflow as rf

SEEDS = st.integers(min_value=0, max_value=2**32 - 1)


@settings(max_examples=40, deadline=None)
@given(seed=SEEDS, d=st.integers(2, 4), D=st.integers(2, 5))
def test_quadratics_with_a_shared_eigenbasis_commute(seed, d, D):
    rng = np.random.default_rng(seed)
    Q, _ = np.linalg.qr(rng.standard_normal((D, D)))
    A = np.stack([Q @ np.diag(rng.standard_normal(D)) @ Q.T for _ in range(d)])
    G, _ = rf.models.quadratic(A)
    assert G.check_commuting(n_samples=8, seed=seed).passed


@settings(max_examples=40, deadline=None)
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


@settings(max_examples=40, deadline=None)
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

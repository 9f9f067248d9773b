"""Structure detection: blocks from the sparsity of dG, identical blocks, mixings, and the
checks that refuse declared structures the map contradicts."""

import autograd.numpy as anp
import numpy as np
import pytest

import riemflow as rf
from riemflow.structure import (
    BatchedMap,
    block_parametrization,
    connected_blocks,
    dependency_pattern,
    find_structure,
    verify_blocks,
)

from .data.forward_cases import cubic_map


def test_connected_blocks_of_a_jacobian_and_of_a_symmetric_hessian_pattern():
    P = np.zeros((3, 6), dtype=bool)
    P[0, [0, 3]] = P[1, [1, 4]] = P[2, [4, 2]] = True  # outputs 1 and 2 share input 4
    blocks, unused = connected_blocks(P)
    assert [(r.tolist(), c.tolist()) for r, c in blocks] == [([0], [0, 3]), ([1, 2], [1, 2, 4])]
    assert unused.tolist() == [5]
    H = np.eye(4, dtype=bool)
    H[0, 2] = H[2, 0] = True  # a block-separable Hessian: {0, 2}, {1}, {3}
    blocks, _ = connected_blocks(H)
    assert [r.tolist() for r, _ in blocks] == [[0, 2], [1], [3]]
    assert all(np.array_equal(r, c) for r, c in blocks)
    with pytest.raises(rf.errors.ShapeError, match="pattern"):
        connected_blocks(np.ones(3, dtype=bool))


@pytest.mark.parametrize("with_vjp", [True, False])
def test_dependency_pattern_is_the_jacobian_sparsity_either_way(with_vjp):
    """Reverse mode (cheap pullbacks: the closed-form vjp) or differences (autograd's
    pullback of a wide batched map): the same pattern, that of the hand-derived Jacobian."""
    d = 5
    G, x0 = rf.models.diagonal_network(d, 3, form="product", init=np.linspace(0.5, 1.5, 6 * d))
    if not with_vjp:
        G = rf.Parametrization(G.fn, G.input_dim, vectorized=True)
    pattern = dependency_pattern(BatchedMap(G), G.sample(1, seed=1)[0])
    expected = np.zeros((d, 6 * d), dtype=bool)
    for i in range(d):
        expected[i, i::d] = True
    np.testing.assert_array_equal(pattern, expected)


def test_probes_find_a_dependency_the_declared_blocks_miss():
    def fn(x):
        return anp.stack([x[..., 0] * x[..., 1], x[..., 1] + x[..., 2]], -1)

    G = rf.Parametrization(fn, 3)
    x0 = np.array([0.5, 1.0, 2.0])
    wrong = [([0], [0]), ([1], [1, 2])]
    assert verify_blocks(BatchedMap(G), x0[None, :], wrong) > 0
    with pytest.raises(rf.errors.InputError, match="blocks"):
        find_structure(G, x0, blocks=wrong)
    assert find_structure(G, x0).n_blocks == 1  # coupled through x_1: one block


def test_dead_inputs_identical_blocks_and_declared_blocks():
    d = 6

    def fn(x):  # the last input is dead
        return x[..., :d] * x[..., d : 2 * d]

    G = rf.Parametrization(fn, 2 * d + 1)
    x0 = np.concatenate([np.full(d, 0.8), np.r_[np.full(d - 1, 0.3), 0.6], [7.0]])
    found = find_structure(G, x0)
    assert found.n_blocks == d and found.dead.tolist() == [2 * d]
    assert len(np.unique(found.family)) == 1  # one function u v
    assert found.n_problems == 2  # two distinct initializations of it
    declared = find_structure(G, x0, blocks=[([i], [i, d + i]) for i in range(d)])
    assert declared.n_blocks == d and declared.n_problems == 2
    with pytest.raises(rf.errors.InputError, match="split the outputs"):
        find_structure(G, x0, blocks=[([0], [0, d])])
    Gb, xb = block_parametrization(found, 2)
    assert Gb(xb).tolist() == [0.8 * 0.3]


def test_output_mixing_found_and_rejected():
    d = 6
    rng = np.random.default_rng(3)
    M = rng.standard_normal((d, d)) / np.sqrt(d) + np.eye(d)
    x0 = rng.uniform(0.2, 1.0, 2 * d)
    found = find_structure(cubic_map(d, M), x0)
    assert found.mixing is not None and found.n_blocks == d and np.all(found.scalar)
    # the mixing is M up to column scales and order
    C = np.linalg.solve(M, found.mixing)
    assert np.count_nonzero(np.abs(C) > 1e-9 * np.abs(C).max()) == d
    # a map with no such structure: one block, no mixing
    G, x_q = rf.models.quadratic(
        np.stack([np.diag([1.0, 2.0]) + 0.3, np.array([[0.0, 1.0], [1.0, 0.0]])]),
        init=np.array([0.6, 0.4]),
    )
    plain = find_structure(G, x_q)
    assert plain.n_blocks == 1 and plain.mixing is None and not plain.separable
    assert any("output mixing" in note for note in plain.notes)


def test_declared_input_mixing_of_a_commuting_quadratic_family():
    d = 4
    rng = np.random.default_rng(4)
    V, _ = np.linalg.qr(rng.standard_normal((d, d)))
    A = np.einsum("ik,ak,jk->aij", V, rng.uniform(0.5, 2.0, size=(d, d)), V)
    G, x0 = rf.models.quadratic(A, init=rng.uniform(0.5, 1.0, d))
    assert find_structure(G, x0, inner=None).n_blocks == 1  # dense in x
    found = find_structure(G, x0, inner=V.T)
    assert found.separable and found.mixing is not None and np.all(found.scalar)
    np.testing.assert_allclose(found.x_init, V.T @ x0, rtol=1e-14)
    # found without being declared: the eigenbasis of hess <c, G> (up to signs and order)
    auto = find_structure(G, x0)
    assert auto.separable and np.all(auto.scalar) and "input mixing B found" in auto.notes[0]
    overlap = np.abs(auto.inner @ V)
    np.testing.assert_allclose(overlap.max(axis=1), 1.0, rtol=1e-10)
    with pytest.raises(rf.errors.InputError, match="orthogonal"):
        find_structure(G, x0, inner=2.0 * V.T)


def test_structures_of_non_euclidean_maps_are_refused():
    G, u0 = rf.models.simplex_sphere(3)
    with pytest.raises(rf.errors.InputError, match="Euclidean"):
        find_structure(G, u0)

"""Model zoo: formulas, initializations, domains, and what is refused."""

import numpy as np
import pytest

import riemflow as rf


def test_diagonal_network_forms_and_defaults():
    G, x0 = rf.models.diagonal_network(3, depth=2, alpha=0.1)
    np.testing.assert_array_equal(x0, np.full(6, 0.1))
    np.testing.assert_array_equal(G(x0), np.zeros(3))
    G, x0 = rf.models.diagonal_network(2, depth=3, signed=False, alpha=2.0)
    np.testing.assert_allclose(G(x0), [8.0, 8.0])
    G, x0 = rf.models.diagonal_network(
        2, depth=3, form="product", init=[1.0, 2.0, 3.0, 1.0, 1.0, 0.5]
    )
    np.testing.assert_allclose(G(x0), [6.0 - 0.5, 6.0 - 0.5])
    G, x0 = rf.models.diagonal_network(2, depth=2.5, alpha=1e-3)  # non-integer depth
    np.testing.assert_allclose(G(np.array([4.0, 1.0, 1.0, 1.0])), [32.0 - 1.0, 0.0])


def test_product_form_with_general_init_is_commuting_and_regular():
    rng = np.random.default_rng(0)
    init = [rng.uniform(0.5, 2.0, 3) for _ in range(6)]
    G, x0 = rf.models.diagonal_network(3, depth=3, form="product", init=init)
    assert G.check_commuting(seed=1).passed
    assert G.check_regular(x0).passed


def test_power_form_domain_is_the_init_orthant():
    G, x0 = rf.models.diagonal_network(2, depth=2, init=(np.array([1.0, -1.0]), 1.0))
    G(np.array([2.0, -3.0, 1.0, 1.0]))
    with pytest.raises(rf.errors.DomainError):
        G(np.array([2.0, 3.0, 1.0, 1.0]))
    assert G.check_regular().passed  # regular everywhere on that orthant


def test_hadamard_models():
    G, x0 = rf.models.hadamard_square(2, alpha=3.0)
    np.testing.assert_allclose(G.kernel(x0), 4 * 9.0 * np.eye(2))  # K = 4 diag(w)
    G, x0 = rf.models.hadamard_product(2, init=(1.0, 3.0))
    np.testing.assert_allclose(G.kernel(x0), 10.0 * np.eye(2))  # K = diag(u^2 + v^2)


def test_matrix_sensing_commutes_iff_measurements_commute():
    diag = np.stack([np.diag([1.0, 2.0, 0.0]), np.diag([0.0, 1.0, -1.0])])
    G, _ = rf.models.matrix_sensing(diag, rank=2)
    assert G.check_commuting(seed=0).passed
    off = diag.copy()
    off[1, 0, 1] = off[1, 1, 0] = 0.5  # no longer commutes with diag(1, 2, 0)
    G, _ = rf.models.matrix_sensing(off, rank=2)
    assert not G.check_commuting(seed=0).passed


def test_matrix_factorization_first_bracket_formula():
    """[grad W_11, grad W_12] = (-2 U_2, 2 U_1) in rows (1, 2) of U (W = U U^T)."""
    G, _ = rf.models.matrix_factorization(2, rank=3)
    U = np.array([[0.3, -1.0, 2.0], [1.5, 0.2, -0.4]])
    bracket = G.lie_brackets(U.ravel())[0, 1].reshape(2, 3)
    np.testing.assert_allclose(bracket, np.stack([-2 * U[1], 2 * U[0]]), atol=1e-12)


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda: rf.models.diagonal_network(0), rf.errors.InputError, "dim"),
        (lambda: rf.models.diagonal_network(2, depth=0.5), rf.errors.InputError, "depth"),
        (
            lambda: rf.models.diagonal_network(2, depth=2.5, form="product"),
            rf.errors.InputError,
            "integer",
        ),
        (lambda: rf.models.diagonal_network(2, form="tree"), rf.errors.InputError, "form"),
        (lambda: rf.models.diagonal_network(2, alpha=-1.0), rf.errors.InputError, "alpha"),
        (lambda: rf.models.diagonal_network(2, alpha=np.nan), rf.errors.NonFiniteError, "alpha"),
        (lambda: rf.models.diagonal_network(2, init=np.ones(3)), rf.errors.ShapeError, "init"),
        (lambda: rf.models.diagonal_network(2, init=(1.0,)), rf.errors.ShapeError, "init"),
        (
            lambda: rf.models.diagonal_network(2, depth=2.5, init=(1.0, -1.0)),
            rf.errors.DomainError,
            "positive",
        ),
        (
            lambda: rf.models.quadratic(np.array([[[0.0, 1.0], [0.0, 0.0]]])),
            rf.errors.InputError,
            "symmetric",
        ),
        (lambda: rf.models.quadratic(np.ones((2, 3))), rf.errors.ShapeError, "matrices"),
        (lambda: rf.models.linear(np.ones(3)), rf.errors.ShapeError, "A"),
        (lambda: rf.models.linear(np.ones((2, 3)), np.ones(3)), rf.errors.ShapeError, "b"),
        (
            lambda: rf.models.simplex_sphere(2, init=np.array([1.0, 1.0, 1.0])),
            rf.errors.DomainError,
            "manifold",
        ),
        (
            lambda: rf.models.simplex_sphere(2, init=np.array([-1.0, 0.0, 0.0])),
            rf.errors.DomainError,
            "outside",
        ),
        (lambda: rf.models.bilinear_chain(1), rf.errors.InputError, "dim"),
        (lambda: rf.models.single_neuron(2, init=[1.0, 0.5]), rf.errors.ShapeError, "init"),
        (lambda: rf.models.single_neuron(1, init=[-1.0, 0.5]), rf.errors.DomainError, "a0"),
    ],
)
def test_bad_model_arguments(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_unsigned_variants_commute_with_closed_form_jacobians():
    G, x0 = rf.models.hadamard_square(3, alpha=0.5)
    u = np.array([0.3, 1.2, 0.8])
    np.testing.assert_allclose(G.jacobian(u), np.diag(2 * u), atol=1e-15)
    assert G.check_commuting(seed=0).passed
    H, _ = rf.models.hadamard_product(2)
    x = np.array([0.3, -1.2, 0.8, 2.0])  # (u, v)
    np.testing.assert_allclose(H.jacobian(x), [[0.8, 0, 0.3, 0], [0, 2.0, 0, -1.2]], atol=1e-15)
    assert H.check_commuting(seed=0).passed
    P, _ = rf.models.diagonal_network(2, depth=3, signed=False, form="product")
    assert P.check_commuting(seed=0).passed


@pytest.mark.parametrize(
    "build",
    [
        lambda: rf.models.diagonal_network(3, 2, init=(np.array([0.5, -1.0, 2.0]), 0.7)),
        lambda: rf.models.diagonal_network(3, 3, init=(np.array([0.5, -1.0, 2.0]), -0.7)),
        lambda: rf.models.diagonal_network(3, 2.5, alpha=0.8, signed=False),
        lambda: rf.models.diagonal_network(3, 1),
        lambda: rf.models.diagonal_network(3, 3, form="product", init=np.linspace(-1, 1.3, 18)),
        lambda: rf.models.diagonal_network(
            3, 4, form="product", signed=False, init=np.linspace(0.4, 1.6, 12)
        ),
        lambda: rf.models.linear(np.array([[1.0, 2.0, 0.0], [0.0, -1.0, 3.0]])),
    ],
)
def test_closed_form_vjp_matches_autograd_and_flows_agree(build):
    """The zoo's closed-form pullbacks (used by the flows' fast path) equal autograd's, and
    a flow with them equals the flow of the same map without them."""
    G, x0 = build()
    assert G._vjp is not None
    assert G.check_vjp(n_samples=8) < 1e-14
    plain = rf.Parametrization(G.fn, G.input_dim, vectorized=True, domain=G._domain)
    loss = rf.losses.squared(np.array([[1.0, -0.5, 0.3]])[:, : G.output_dim], np.array([0.4]))
    fast = rf.gradient_flow(G, loss, x0, (0.0, 2.0), t_eval=[0.5, 1.0, 2.0], rtol=1e-12)
    slow = rf.gradient_flow(plain, loss, x0, (0.0, 2.0), t_eval=[0.5, 1.0, 2.0], rtol=1e-12)
    np.testing.assert_allclose(fast.x, slow.x, rtol=1e-13, atol=1e-15)


def test_single_neuron_brackets_are_the_closed_form_and_the_scaled_fields_commute():
    # grad G_i = a e_{z_i} + z_i e_a; [grad G_i, grad G_j] = +-(z_i e_{z_j} - z_j e_{z_i})
    G, _ = rf.models.single_neuron(3)
    x = np.array([1.7, 0.3, -0.5, 0.9])
    B = G.lie_brackets(x)
    z = x[1:]
    for i in range(3):
        for j in range(3):
            expected = np.zeros(4)
            expected[1 + j] += z[i]
            expected[1 + i] -= z[j]
            assert np.allclose(B[i, j], expected, atol=1e-14) or np.allclose(
                B[i, j], -expected, atol=1e-14
            )
    assert not G.check_commuting().passed
    assert G.check_regular().passed

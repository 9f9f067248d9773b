"""Hand-derived Jacobians, kernels and Lie brackets of the model zoo (test reference data).

Each case is built independently of riemflow's derivative code: from the model's formula
by hand (docs/concepts.md, "Commuting parametrizations"). Quadratic families use `G_i(x) = x^T B_i x
/ 2`, for which `grad G_i = B_i x`, `d(grad G_i) = B_i` and `[grad G_i, grad G_j] = (B_j B_i - B_i
B_j) x`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

import riemflow as rf


@dataclass
class Case:
    """A model with closed-form derivatives at points drawn by `points(rng, n)`."""

    name: str
    G: rf.Parametrization
    x_init: np.ndarray
    jacobian: Callable[[np.ndarray], np.ndarray]
    brackets: Callable[[np.ndarray], np.ndarray]
    commuting: bool
    points: Callable[[np.random.Generator, int], np.ndarray]


def _quadratic_jacobian(B):
    return lambda x: np.einsum("kij,j->ki", B, x)


def _quadratic_brackets(B):
    def brackets(x):
        BiBj = np.einsum("iab,jbc->ijac", B, B)  # B_i B_j
        return np.einsum("ijac,c->ija", np.swapaxes(BiBj, 0, 1) - BiBj, x)

    return brackets


def _gaussian(dim):
    return lambda rng, n: rng.standard_normal((n, dim))


def diagonal_power(dim=3, depth=3):
    G, x0 = rf.models.diagonal_network(dim, depth=depth, init=(0.7, 1.3))
    L = depth

    def jac(x):
        u, v = x[:dim], x[dim:]
        return np.hstack([np.diag(L * u ** (L - 1)), -np.diag(L * v ** (L - 1))])

    def pts(rng, n):
        return rng.uniform(0.2, 2.0, size=(n, 2 * dim))

    return Case(
        f"power depth {depth}", G, x0, jac, lambda x: np.zeros((dim, dim, 2 * dim)), True, pts
    )


def diagonal_product(dim=2, depth=3):
    G, x0 = rf.models.diagonal_network(dim, depth=depth, form="product", alpha=0.5)
    L = depth

    def jac(x):
        layers = x.reshape(2 * L, dim)
        J = np.zeros((dim, 2 * L * dim))
        for net, sign in ((0, 1.0), (1, -1.0)):
            for j in range(L):
                others = np.prod(np.delete(layers[net * L : (net + 1) * L], j, axis=0), axis=0)
                col = (net * L + j) * dim + np.arange(dim)
                J[np.arange(dim), col] = sign * others
        return J

    return Case(
        f"product depth {depth}",
        G,
        x0,
        jac,
        lambda x: np.zeros((dim, dim, 2 * L * dim)),
        True,
        _gaussian(2 * L * dim),
    )


def linear_map():
    A = np.array([[1.0, 2.0, 0.0, -1.0], [0.5, 0.0, 3.0, 1.0]])
    G, x0 = rf.models.linear(A, np.array([1.0, -1.0]))
    return Case("linear", G, x0, lambda x: A, lambda x: np.zeros((2, 2, 4)), True, _gaussian(4))


def quadratic_family(commuting: bool, seed=3):
    rng = np.random.default_rng(seed)
    Q, _ = np.linalg.qr(rng.standard_normal((4, 4)))
    if commuting:
        B = np.stack([Q @ np.diag(rng.standard_normal(4)) @ Q.T for _ in range(3)])
    else:
        S = rng.standard_normal((3, 4, 4))
        B = S + np.swapaxes(S, 1, 2)
    G, x0 = rf.models.quadratic(B)
    return Case(
        f"quadratic commuting={commuting}",
        G,
        x0,
        _quadratic_jacobian(B),
        _quadratic_brackets(B),
        commuting,
        _gaussian(4),
    )


def matrix_sensing(commuting: bool, k=3, r=2, seed=5):
    rng = np.random.default_rng(seed)
    if commuting:
        Q, _ = np.linalg.qr(rng.standard_normal((k, k)))
        A = np.stack([Q @ np.diag(rng.standard_normal(k)) @ Q.T for _ in range(3)])
        # A non-symmetric part must not matter: add an antisymmetric perturbation.
        S = rng.standard_normal((3, k, k))
        A = A + (S - np.swapaxes(S, 1, 2))
    else:
        A = rng.standard_normal((3, k, k))
    sym = 0.5 * (A + np.swapaxes(A, 1, 2))
    B = np.stack([2.0 * np.kron(s, np.eye(r)) for s in sym])  # x = U.ravel(), row-major
    G, x0 = rf.models.matrix_sensing(A, rank=r, alpha=0.5)
    return Case(
        f"matrix sensing commuting={commuting}",
        G,
        x0,
        _quadratic_jacobian(B),
        _quadratic_brackets(B),
        commuting,
        _gaussian(k * r),
    )


def symmetric_factorization(n=3, r=2):
    rows, cols = np.triu_indices(n)
    B = []
    for a, b in zip(rows, cols, strict=False):
        E = np.zeros((n, n))
        E[a, b] += 1.0
        E[b, a] += 1.0
        B.append(np.kron(E, np.eye(r)))
    B = np.stack(B)
    G, x0 = rf.models.matrix_factorization(n, rank=r)
    return Case(
        "U U^T", G, x0, _quadratic_jacobian(B), _quadratic_brackets(B), False, _gaussian(n * r)
    )


def asymmetric_factorization(n=2, m=3, r=2):
    D = (n + m) * r
    B = []
    for a in range(n):
        for b in range(m):
            M = np.zeros((D, D))
            for c in range(r):
                i, j = a * r + c, n * r + b * r + c  # U[a, c], V[b, c]
                M[i, j] = M[j, i] = 1.0
            B.append(M)
    B = np.stack(B)
    G, x0 = rf.models.matrix_factorization(n, m, rank=r)
    return Case("U V^T", G, x0, _quadratic_jacobian(B), _quadratic_brackets(B), False, _gaussian(D))


def bilinear_chain():
    G, x0 = rf.models.bilinear_chain(3)

    def jac(x):
        return np.array([[x[1], x[0], 0.0], [0.0, x[2], x[1]]])

    def brackets(x):
        out = np.zeros((2, 2, 3))
        out[0, 1] = [-x[2], 0.0, x[0]]
        out[1, 0] = -out[0, 1]
        return out

    return Case("(x1 x2, x2 x3)", G, x0, jac, brackets, False, _gaussian(3))


def sphere_squares(dim=3):
    G, u0 = rf.models.simplex_sphere(dim)

    def jac(u):
        J = np.zeros((dim, dim + 1))
        J[np.arange(dim), np.arange(dim)] = 2 * u[:dim]
        return J

    def pts(rng, n):
        z = rng.uniform(0.1, 1.0, size=(n, dim + 1))
        return z / np.linalg.norm(z, axis=1, keepdims=True)

    return Case("u*u on the sphere", G, u0, jac, lambda u: np.zeros((dim, dim, dim + 1)), True, pts)


def all_cases() -> list[Case]:
    return [
        diagonal_power(depth=2),
        diagonal_power(depth=3),
        diagonal_product(depth=2),
        diagonal_product(depth=3),
        linear_map(),
        quadratic_family(True),
        quadratic_family(False),
        matrix_sensing(True),
        matrix_sensing(False),
        symmetric_factorization(),
        asymmetric_factorization(),
        bilinear_chain(),
        sphere_squares(),
    ]

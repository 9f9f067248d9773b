"""Elementary Legendre functions: Euclidean, entropies, barriers, norms, log det, log ball.

Closed forms of `R`, `grad R`, `hess R` and `grad R*` ([Concepts: Legendre functions and
mirror flow](concepts.md#legendre-functions-and-mirror-flow)), written with `autograd.numpy` and
broadcasting over a leading batch axis.
"""

from __future__ import annotations

import autograd.numpy as anp
import numpy as np
from autograd.scipy.special import logsumexp

from .._validation import as_float_array, as_positive, as_positive_int, check_finite
from ..domains import Ball, Box, Simplex, SPDCone
from ..errors import InputError, NotPositiveDefiniteError, ShapeError
from ..legendre import Legendre
from ._common import diag_hessian

__all__ = [
    "squared_euclidean",
    "negative_entropy",
    "simplex_entropy",
    "log_barrier",
    "p_norm",
    "log_det",
    "log_ball",
]


def squared_euclidean(dim: int, matrix=None) -> Legendre:
    """`R(w) = w^T A w / 2` with a symmetric positive definite `A` (default `I`).

    The Hessian metric is constant, hence flat. `grad R* (mu) = A^{-1} mu`.

    Raises:
        ShapeError: `matrix` not `(dim, dim)`.
        NotPositiveDefiniteError: `matrix` not symmetric positive definite.

    Examples:
        >>> import numpy as np, riemflow as rf
        >>> R = rf.potentials.squared_euclidean(2, np.diag([1.0, 4.0]))
        >>> R.grad_conjugate(np.array([1.0, 1.0])).tolist()
        [1.0, 0.25]
    """
    dim = as_positive_int(dim, "dim")
    A = np.eye(dim) if matrix is None else check_finite(as_float_array(matrix, "matrix"), "matrix")
    if A.shape != (dim, dim):
        raise ShapeError(
            f"`matrix` must have shape ({dim}, {dim}); got {A.shape}", argument="matrix"
        )
    if np.max(np.abs(A - A.T)) > 1e-12 * max(1.0, np.max(np.abs(A))):
        raise NotPositiveDefiniteError("`matrix` must be symmetric")
    eig = np.linalg.eigvalsh(A)
    if eig[0] <= 0:
        raise NotPositiveDefiniteError(
            f"`matrix` must be positive definite; smallest eigenvalue {eig[0]:.3e}"
        )
    Ainv = np.linalg.inv(A)
    return Legendre(
        lambda w: 0.5 * anp.einsum("...i,ij,...j->...", w, A, w),
        dim,
        grad=lambda w: anp.einsum("ij,...j->...i", A, w),
        hessian=lambda w: A * anp.ones(anp.shape(w)[:-1] + (1, 1)),
        grad_conjugate=lambda mu: anp.einsum("ij,...j->...i", Ainv, mu),
        conjugate=lambda mu: 0.5 * anp.einsum("...i,ij,...j->...", mu, Ainv, mu),
        name="squared Euclidean",
        check_derivatives=False,
    )


def negative_entropy(dim: int) -> Legendre:
    """`R(w) = sum_i w_i log w_i - w_i` on the positive orthant (flat metric `diag(1/w)`).

    `grad R = log w`, `grad R*(mu) = exp(mu)`, `R*(mu) = sum exp(mu)`. Mirror descent with it
    is the unnormalized exponentiated gradient `w <- w * exp(-lr g)`.

    Examples:
        >>> import numpy as np, riemflow as rf
        >>> R = rf.potentials.negative_entropy(2)
        >>> R.grad(np.array([1.0, 1.0])).tolist()
        [0.0, 0.0]
    """
    dim = as_positive_int(dim, "dim")
    return Legendre(
        lambda w: anp.sum(w * anp.log(w) - w, axis=-1),
        dim,
        domain=Box.orthant(dim),
        grad=lambda w: anp.log(w),
        hessian=diag_hessian(lambda w: 1.0 / w),
        grad_conjugate=lambda mu: anp.exp(mu),
        conjugate=lambda mu: anp.sum(anp.exp(mu), axis=-1),
        name="negative entropy",
        check_derivatives=False,
    )


def _with_zero_logit(mu):
    return anp.concatenate([anp.zeros(anp.shape(mu)[:-1] + (1,)), mu], axis=-1)


def simplex_entropy(dim: int) -> Legendre:
    """Negative entropy on the probability simplex, in corner coordinates.

    `R(w) = sum_i w_i (log w_i - 1) + s (log s - 1)`, `s = 1 - sum_i w_i`, on
    `{w > 0, sum w < 1}`. `grad R = log(w / s)`, `hess R = diag(1/w) + 1 1^T / s`,
    `grad R*(mu) = exp(mu) / (1 + sum exp(mu))`, `R*(mu) = log(1 + sum exp(mu)) + 1`.
    Its Hessian metric is a piece of the round sphere of radius 2 (sectional curvature
    1/4): not flat, and not reachable by separable parametrizations ([Concepts: the converse via
    Nash embedding](concepts.md#the-converse-via-nash-embedding)). Mirror descent with it is
    exponentiated gradient on the `d + 1` weights.

    Examples:
        >>> import numpy as np, riemflow as rf
        >>> R = rf.potentials.simplex_entropy(2)
        >>> R.grad_conjugate(np.zeros(2)).round(6).tolist()
        [0.333333, 0.333333]
    """
    dim = as_positive_int(dim, "dim")

    def value(w):
        s = 1.0 - anp.sum(w, axis=-1)
        return anp.sum(w * (anp.log(w) - 1.0), axis=-1) + s * (anp.log(s) - 1.0)

    def grad(w):
        s = 1.0 - anp.sum(w, axis=-1, keepdims=True)
        return anp.log(w) - anp.log(s)

    def hessian(w):
        s = 1.0 - anp.sum(w, axis=-1)
        return (1.0 / w)[..., :, None] * np.eye(dim) + (1.0 / s)[..., None, None]

    def grad_conjugate(mu):
        return anp.exp(mu - logsumexp(_with_zero_logit(mu), axis=-1, keepdims=True))

    def conjugate(mu):
        return logsumexp(_with_zero_logit(mu), axis=-1) + 1.0

    return Legendre(
        value,
        dim,
        domain=Simplex(dim),
        grad=grad,
        hessian=hessian,
        grad_conjugate=grad_conjugate,
        conjugate=conjugate,
        name="simplex entropy",
        check_derivatives=False,
    )


def log_barrier(dim: int) -> Legendre:
    """Burg entropy `R(w) = -sum_i log w_i` on the positive orthant.

    `grad R = -1/w`, `hess R = diag(1/w^2)`, `grad R*(mu) = -1/mu` for `mu < 0`,
    `R*(mu) = -sum log(-mu) - d`. Separable, hence flat.

    Examples:
        >>> import numpy as np, riemflow as rf
        >>> rf.potentials.log_barrier(2).grad_conjugate(np.array([-1.0, -0.5])).tolist()
        [1.0, 2.0]
    """
    dim = as_positive_int(dim, "dim")
    return Legendre(
        lambda w: -anp.sum(anp.log(w), axis=-1),
        dim,
        domain=Box.orthant(dim),
        grad=lambda w: -1.0 / w,
        hessian=diag_hessian(lambda w: 1.0 / w**2),
        grad_conjugate=lambda mu: -1.0 / mu,
        conjugate=lambda mu: -anp.sum(anp.log(-mu), axis=-1) - dim,
        name="log barrier",
        check_derivatives=False,
    )


def p_norm(dim: int, p: float) -> Legendre:
    """`R(w) = sum_i |w_i|^p / p`, `p > 1`, on `R^d`.

    `grad R = sign(w) |w|^{p-1}`, `grad R*(mu) = sign(mu) |mu|^{q-1}` with
    `1/p + 1/q = 1`, `R*(mu) = sum |mu|^q / q`. `hess R = (p-1) diag(|w|^{p-2})` is not
    positive definite where a coordinate vanishes when `p > 2` (and unbounded when
    `p < 2`): Legendre away from the coordinate hyperplanes.

    Examples:
        >>> import numpy as np, riemflow as rf
        >>> rf.potentials.p_norm(2, 3.0).grad(np.array([2.0, -1.0])).tolist()
        [4.0, -1.0]
    """
    dim = as_positive_int(dim, "dim")
    p = as_positive(p, "p")
    if p <= 1:
        raise InputError(f"`p` must be > 1; got {p!r}", argument="p")
    q = p / (p - 1.0)
    return Legendre(
        lambda w: anp.sum(anp.abs(w) ** p, axis=-1) / p,
        dim,
        grad=lambda w: anp.sign(w) * anp.abs(w) ** (p - 1.0),
        hessian=diag_hessian(lambda w: (p - 1.0) * anp.abs(w) ** (p - 2.0)),
        grad_conjugate=lambda mu: anp.sign(mu) * anp.abs(mu) ** (q - 1.0),
        conjugate=lambda mu: anp.sum(anp.abs(mu) ** q, axis=-1) / q,
        name=f"p-norm power (p={p:g})",
        check_derivatives=False,
    )


def log_det(n: int) -> Legendre:
    """`R(P) = -log det P` on SPD `n x n` matrices, upper-triangle coordinates.

    `w = P[triu_indices(n)]` (`d = n(n+1)/2`, see `domains.SPDCone`). Writing `M(mu)` for
    the symmetric matrix with diagonal `mu_ii` and off-diagonal `mu_ij / 2`:
    `grad R(w) = -P^{-1}` in these coordinates (`M(grad R) = -P^{-1}`),
    `hess R[a, b] = tr(P^{-1} E_a P^{-1} E_b)` (`E_a` the coordinate matrices: the
    affine-invariant metric of geomstats' `SPDMatrices`), `grad R*(mu) = -M(mu)^{-1}` for
    `M(mu)` negative definite, `R*(mu) = -n - log det(-M(mu))`. The metric is curved for
    `n >= 2`.

    Examples:
        >>> import numpy as np, riemflow as rf
        >>> R = rf.potentials.log_det(2)
        >>> R.grad(np.array([2.0, 0.0, 4.0])).tolist()  # P = diag(2, 4)
        [-0.5, -0.0, -0.25]
    """
    cone = SPDCone(n)
    n = cone.n
    weights = np.where(cone.rows == cone.cols, 1.0, 2.0)  # d tr(P^-1 dP) / d w_a factor
    onehot = np.zeros((cone.dim, n, n))
    onehot[np.arange(cone.dim), cone.rows, cone.cols] = 1.0
    onehot[np.arange(cone.dim), cone.cols, cone.rows] = 1.0
    half = onehot / weights[:, None, None]  # M(mu) = sum_a mu_a E_a / weight_a

    def value(w):
        return -anp.linalg.slogdet(cone.matrix(w))[1]

    def grad(w):
        Pinv = anp.linalg.inv(cone.matrix(w))
        return -weights * Pinv[..., cone.rows, cone.cols]

    def hessian(w):
        Pinv = anp.linalg.inv(cone.matrix(w))
        left = anp.einsum("...ij,ajk->...aik", Pinv, onehot)  # P^-1 E_a
        return anp.einsum("...aik,...bki->...ab", left, left)

    def dual_matrix(mu):
        return anp.einsum("...a,aij->...ij", mu, half)

    def grad_conjugate(mu):
        P = -anp.linalg.inv(dual_matrix(mu))
        return P[..., cone.rows, cone.cols]

    def conjugate(mu):
        sign, logdet = anp.linalg.slogdet(-dual_matrix(mu))
        return anp.where(sign > 0, -n - logdet, np.nan)

    return Legendre(
        value,
        cone.dim,
        domain=cone,
        grad=grad,
        hessian=hessian,
        grad_conjugate=grad_conjugate,
        conjugate=conjugate,
        name=f"-log det ({n}x{n} SPD)",
        check_derivatives=False,
    )


def log_ball(dim: int) -> Legendre:
    """`R(w) = -log(1 - |w|^2)` on the open unit ball (curved Hessian metric for `d >= 2`).

    `grad R = 2w / (1 - |w|^2)`, `hess R = 2 I / (1 - |w|^2) + 4 w w^T / (1 - |w|^2)^2`,
    `grad R*(mu) = mu / (1 + s)`, `R*(mu) = s - 1 + log 2 - log(1 + s)` with
    `s = sqrt(1 + |mu|^2)`.

    Examples:
        >>> import numpy as np, riemflow as rf
        >>> R = rf.potentials.log_ball(2)
        >>> R.grad_conjugate(R.grad(np.array([0.3, -0.4]))).round(12).tolist()
        [0.3, -0.4]
    """
    dim = as_positive_int(dim, "dim")

    def one_minus_r2(w):
        return 1.0 - anp.sum(w * w, axis=-1, keepdims=True)

    def hessian(w):
        a = one_minus_r2(w)[..., None]
        return 2.0 * np.eye(dim) / a + 4.0 * w[..., :, None] * w[..., None, :] / a**2

    def s_of(mu, keepdims=False):
        return anp.sqrt(1.0 + anp.sum(mu * mu, axis=-1, keepdims=keepdims))

    return Legendre(
        lambda w: -anp.log(one_minus_r2(w)[..., 0]),
        dim,
        domain=Ball(dim),
        grad=lambda w: 2.0 * w / one_minus_r2(w),
        hessian=hessian,
        grad_conjugate=lambda mu: mu / (1.0 + s_of(mu, keepdims=True)),
        conjugate=lambda mu: s_of(mu) - 1.0 + np.log(2.0) - anp.log1p(s_of(mu)),
        name="-log(1 - |w|^2)",
        check_derivatives=False,
    )

"""Named Legendre functions with closed-form gradients, Hessians and inverse mirror maps.

Every formula here is written with `autograd.numpy`, broadcasts over a leading batch axis,
and is stable at extreme parameters (log-domain evaluation where values would overflow,
rewritten differences where they would cancel). Constants are chosen so that
`R(c) = 0` at a natural center `c` where convenient.

| potential | `R(w)` | domain | `grad R*(mu)` |
|---|---|---|---|
| `squared_euclidean` | `w^T A w / 2` | `R^d` | `A^{-1} mu` |
| `negative_entropy` | `sum w log w - w` | `w > 0` | `exp(mu)` |
| `simplex_entropy` | `sum w log w - w + s log s - s` | simplex | softmax, extra 0 logit |
| `hyperbolic_entropy` | MATH.md section 4 (`u*u - v*v`) | `R^d` | `2 alpha^2 sinh(4 mu)` |
| `diagonal_network` | depth-`L` network potential | `R^d` | closed form; `grad R` by root solve |
| `log_barrier` | `-sum log w` (Burg) | `w > 0` | `-1 / mu` |
| `p_norm` | `sum |w|^p / p` | `R^d` | `sign(mu) |mu|^{q-1}` |
| `log_det` | `-log det P` | SPD matrices | `-M(mu)^{-1}` |
| `log_ball` | `-log(1 - |w|^2)` | unit ball | `mu / (1 + sqrt(1 + |mu|^2))` |
"""

from __future__ import annotations

import autograd.numpy as anp
import numpy as np
from autograd.extend import defjvp, defvjp, primitive
from autograd.scipy.special import logsumexp

from ._validation import as_float_array, as_positive, as_positive_int, check_finite
from .domains import Ball, Box, Simplex, SPDCone
from .errors import InputError, NotPositiveDefiniteError, ShapeError
from .legendre import Legendre

__all__ = [
    "squared_euclidean",
    "negative_entropy",
    "simplex_entropy",
    "hyperbolic_entropy",
    "diagonal_network",
    "log_barrier",
    "p_norm",
    "log_det",
    "log_ball",
]


def _diag_hessian(diag_fn):
    """A Hessian `(..., d, d)` from its diagonal `(..., d)`."""

    def hessian(w):
        dvals = diag_fn(w)
        return dvals[..., :, None] * np.eye(anp.shape(w)[-1])

    return hessian


def squared_euclidean(dim: int, matrix=None) -> Legendre:
    """`R(w) = w^T A w / 2` with a symmetric positive definite `A` (default `I`).

    The Hessian metric is constant, hence flat. `grad R* (mu) = A^{-1} mu`.

    Raises:
        ShapeError: `matrix` not `(dim, dim)`.
        NotPositiveDefiniteError: `matrix` not symmetric positive definite.

    Example:
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
    )


def negative_entropy(dim: int) -> Legendre:
    """`R(w) = sum_i w_i log w_i - w_i` on the positive orthant (flat metric `diag(1/w)`).

    `grad R = log w`, `grad R*(mu) = exp(mu)`, `R*(mu) = sum exp(mu)`. Mirror descent with it
    is the unnormalized exponentiated gradient `w <- w * exp(-lr g)`.

    Example:
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
        hessian=_diag_hessian(lambda w: 1.0 / w),
        grad_conjugate=lambda mu: anp.exp(mu),
        conjugate=lambda mu: anp.sum(anp.exp(mu), axis=-1),
        name="negative entropy",
    )


def _with_zero_logit(mu):
    return anp.concatenate([anp.zeros(anp.shape(mu)[:-1] + (1,)), mu], axis=-1)


def simplex_entropy(dim: int) -> Legendre:
    """Negative entropy on the probability simplex, in corner coordinates.

    `R(w) = sum_i w_i (log w_i - 1) + s (log s - 1)`, `s = 1 - sum_i w_i`, on
    `{w > 0, sum w < 1}`. `grad R = log(w / s)`, `hess R = diag(1/w) + 1 1^T / s`,
    `grad R*(mu) = exp(mu) / (1 + sum exp(mu))`, `R*(mu) = log(1 + sum exp(mu)) + 1`.
    Its Hessian metric is a piece of the round sphere of radius 2 (sectional curvature
    1/4): not flat, and not reachable by separable parametrizations (MATH.md section 5).
    Mirror descent with it is exponentiated gradient on the `d + 1` weights.

    Example:
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
    )


def _alpha_vector(alpha, dim: int) -> np.ndarray:
    arr = check_finite(as_float_array(alpha, "alpha"), "alpha")
    if arr.ndim == 0:
        arr = np.full(dim, float(arr))
    if arr.shape != (dim,):
        raise ShapeError(
            f"`alpha` must be a scalar or have shape ({dim},); got {arr.shape}", argument="alpha"
        )
    if np.any(arr <= 0):
        raise InputError(f"`alpha` must be > 0; got min {arr.min()!r}", argument="alpha")
    return arr


def _asinh_ratio(w, log_beta, beta):
    """`arcsinh(w / beta)` without overflow of `w / beta` (beta may be ~1e-300)."""
    small = anp.abs(w) < beta
    z = anp.clip(w / beta, -1.0, 1.0)  # only used where |w| < beta
    big = anp.maximum(anp.abs(w), beta)
    large = anp.log(big) - log_beta + anp.log1p(anp.sqrt(1.0 + (beta / big) ** 2))
    return anp.where(small, anp.arcsinh(z), anp.sign(w) * large)


def _scaled_sinh(x, log_beta, beta):
    """`beta * sinh(x)` in log domain for large `|x|` (beta may be ~1e-300)."""
    ax = anp.abs(x)
    direct = beta * anp.sinh(anp.clip(x, -1.0, 1.0))
    ax_big = anp.maximum(ax, 1.0)
    logform = anp.sign(x) * 0.5 * anp.exp(log_beta + ax_big) * (-anp.expm1(-2.0 * ax_big))
    return anp.where(ax < 1.0, direct, logform)


def hyperbolic_entropy(dim: int, alpha=1.0) -> Legendre:
    """The potential of the depth-2 diagonal network `w = u*u - v*v`, `u0 = v0 = alpha`.

    With `beta = 2 alpha^2` (per coordinate when `alpha` is a vector), MATH.md section 4:
    `R(w) = 1/4 sum_i [w_i arcsinh(w_i / beta_i) - sqrt(w_i^2 + beta_i^2) + beta_i]`,
    `grad R = arcsinh(w / beta) / 4`, `hess R = diag(1 / (4 sqrt(w^2 + beta^2)))`,
    `grad R*(mu) = beta sinh(4 mu)`, `R*(mu) = beta sinh(2 mu)^2 / 2`.
    Gradient flow on `u*u - v*v` is mirror flow with this `R`
    (`dw/dt = -4 sqrt(w^2 + 4 alpha^4) grad L`); `alpha -> 0` gives l1-like, `alpha -> inf`
    l2-like implicit bias. Evaluated in log domain and without cancellation, so
    `alpha = 1e-150` and `alpha = 1e6` keep full relative accuracy.

    Args:
        dim: `d`.
        alpha: initialization scale `> 0`, scalar or `(d,)`.

    Example:
        >>> import numpy as np, riemflow as rf
        >>> R = rf.potentials.hyperbolic_entropy(1, alpha=1e-150)
        >>> float(R.grad(np.array([1.0]))[0])  # arcsinh(1 / 2e-300) / 4
        172.86...
    """
    dim = as_positive_int(dim, "dim")
    alpha = _alpha_vector(alpha, dim)
    log_beta = np.log(2.0) + 2.0 * np.log(alpha)
    beta = np.exp(log_beta)

    def value(w):
        h = anp.hypot(w, beta)
        # w asinh(w/b) - sqrt(w^2 + b^2) + b  ==  w (asinh(w/b) - w / (b + sqrt(w^2 + b^2)))
        return 0.25 * anp.sum(w * (_asinh_ratio(w, log_beta, beta) - w / (beta + h)), axis=-1)

    def conjugate(mu):
        y = anp.abs(2.0 * mu)
        y_big = anp.maximum(y, 1e-300)
        log_sinh = y_big - np.log(2.0) + anp.log(-anp.expm1(-2.0 * y_big))
        big = 0.5 * anp.exp(log_beta + 2.0 * log_sinh)
        small = 0.5 * beta * anp.sinh(anp.clip(y, 0.0, 1.0)) ** 2
        return anp.sum(anp.where(y < 1.0, small, big), axis=-1)

    label = f"{alpha[0]:g}" if np.all(alpha == alpha[0]) else "per coordinate"
    return Legendre(
        value,
        dim,
        grad=lambda w: 0.25 * _asinh_ratio(w, log_beta, beta),
        hessian=_diag_hessian(lambda w: 0.25 / anp.hypot(w, beta)),
        grad_conjugate=lambda mu: _scaled_sinh(4.0 * mu, log_beta, beta),
        conjugate=conjugate,
        name=f"hyperbolic entropy (alpha={label})",
    )


def _network_inverse(depth: float, c: np.ndarray):
    """`w -> mu` with `h(mu) = w` for the depth-`L` potential, as an autograd primitive.

    `h(mu) = (c - k mu)^{-L/(L-2)} - (c + k mu)^{-L/(L-2)}`, `k = L (L - 2)`, increasing
    on `(-c/k, c/k)`; solved per coordinate by Newton steps safeguarded with bisection.
    """
    L = float(depth)
    k = L * (L - 2.0)
    p = -L / (L - 2.0)
    bound = c / k

    def h(mu):
        return (c - k * mu) ** p - (c + k * mu) ** p

    def h_prime(mu):  # = K = L^2 (u^{2L-2} + v^{2L-2})
        return -p * k * ((c - k * mu) ** (p - 1.0) + (c + k * mu) ** (p - 1.0))

    @primitive
    def inverse(w):
        w = np.asarray(w, dtype=np.float64)
        lo = np.broadcast_to(-bound, w.shape).copy()
        hi = np.broadcast_to(bound, w.shape).copy()
        mu = np.zeros_like(w)
        with np.errstate(all="ignore"):
            for _ in range(200):
                f = h(mu) - w
                lo = np.where(f < 0, mu, lo)
                hi = np.where(f > 0, mu, hi)
                newton = mu - f / h_prime(mu)
                inside = (newton > lo) & (newton < hi) & np.isfinite(newton)
                new = np.where(inside, newton, 0.5 * (lo + hi))
                done = np.abs(new - mu) <= 4 * np.finfo(float).eps * np.maximum(np.abs(mu), 1e-300)
                mu = new
                if np.all(done | (f == 0)):
                    break
        return mu

    defvjp(inverse, lambda ans, w: lambda g: g / h_prime(ans))
    defjvp(inverse, lambda g, ans, w: g / h_prime(ans))
    return inverse, h, h_prime


def diagonal_network(dim: int, depth: float = 2, alpha=1.0) -> Legendre:
    """The potential of the depth-`L` network `w = u^L - v^L`, `u0 = v0 = alpha`.

    Depth 2 is `hyperbolic_entropy`. For `L > 2` (MATH.md section 4), with
    `c = alpha^{2-L}` and `k = L(L-2)`:
    `grad R*(mu) = (c - k mu)^{-L/(L-2)} - (c + k mu)^{-L/(L-2)}` on `|mu| < c / k`
    (the flow blows up in finite time beyond), `R*(mu) = (u^2 + v^2) / (2L) - alpha^2 / L`
    with `u = (c - k mu)^{-1/(L-2)}`, `v = (c + k mu)^{-1/(L-2)}`; `grad R` is its inverse,
    by a safeguarded scalar Newton solve (an autograd primitive, so Hessians and curvature
    stay exact), `hess R = 1 / (L^2 (u^{2L-2} + v^{2L-2}))`.

    Args:
        dim: `d`.
        depth: `L >= 2` (real values allowed).
        alpha: scale `> 0`, scalar or `(d,)`; `alpha^{2-L}` must be finite.

    Example:
        >>> import numpy as np, riemflow as rf
        >>> R = rf.potentials.diagonal_network(2, depth=3, alpha=0.5)
        >>> w = np.array([0.3, -1.0])
        >>> bool(np.allclose(R.grad_conjugate(R.grad(w)), w, rtol=1e-13))
        True
    """
    dim = as_positive_int(dim, "dim")
    if isinstance(depth, bool) or not np.isscalar(depth) or not float(depth) >= 2:
        raise InputError(f"`depth` must be a real number >= 2; got {depth!r}", argument="depth")
    if float(depth) == 2.0:
        return hyperbolic_entropy(dim, alpha)
    alpha = _alpha_vector(alpha, dim)
    L = float(depth)
    with np.errstate(over="ignore"):
        c = alpha ** (2.0 - L)
    if not np.all(np.isfinite(c)):
        raise InputError(
            f"`alpha` too small for depth {L:g}: alpha^(2-L) overflows (min alpha {alpha.min():g})",
            argument="alpha",
        )
    inverse, h, h_prime = _network_inverse(L, c)
    k = L * (L - 2.0)

    bound = c / k  # |mu| < c / k: beyond, the joint flow has blown up

    def inside(mu, values):
        return anp.where(anp.abs(mu) < bound, values, np.nan)

    def conjugate(mu):
        u = (c - k * mu) ** (-1.0 / (L - 2.0))
        v = (c + k * mu) ** (-1.0 / (L - 2.0))
        return anp.sum(inside(mu, (u**2 + v**2) / (2.0 * L) - alpha**2 / L), axis=-1)

    def value(w):
        mu = inverse(w)
        return anp.sum(mu * w, axis=-1) - conjugate(mu)

    return Legendre(
        value,
        dim,
        grad=lambda w: inverse(w),
        hessian=_diag_hessian(lambda w: 1.0 / h_prime(inverse(w))),
        grad_conjugate=lambda mu: inside(mu, h(mu)),
        conjugate=conjugate,
        name=f"depth-{L:g} diagonal network potential",
    )


def log_barrier(dim: int) -> Legendre:
    """Burg entropy `R(w) = -sum_i log w_i` on the positive orthant.

    `grad R = -1/w`, `hess R = diag(1/w^2)`, `grad R*(mu) = -1/mu` for `mu < 0`,
    `R*(mu) = -sum log(-mu) - d`. Separable, hence flat.

    Example:
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
        hessian=_diag_hessian(lambda w: 1.0 / w**2),
        grad_conjugate=lambda mu: -1.0 / mu,
        conjugate=lambda mu: -anp.sum(anp.log(-mu), axis=-1) - dim,
        name="log barrier",
    )


def p_norm(dim: int, p: float) -> Legendre:
    """`R(w) = sum_i |w_i|^p / p`, `p > 1`, on `R^d`.

    `grad R = sign(w) |w|^{p-1}`, `grad R*(mu) = sign(mu) |mu|^{q-1}` with
    `1/p + 1/q = 1`, `R*(mu) = sum |mu|^q / q`. `hess R = (p-1) diag(|w|^{p-2})` is not
    positive definite where a coordinate vanishes when `p > 2` (and unbounded when
    `p < 2`): Legendre away from the coordinate hyperplanes.

    Example:
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
        hessian=_diag_hessian(lambda w: (p - 1.0) * anp.abs(w) ** (p - 2.0)),
        grad_conjugate=lambda mu: anp.sign(mu) * anp.abs(mu) ** (q - 1.0),
        conjugate=lambda mu: anp.sum(anp.abs(mu) ** q, axis=-1) / q,
        name=f"p-norm power (p={p:g})",
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

    Example:
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
    )


def log_ball(dim: int) -> Legendre:
    """`R(w) = -log(1 - |w|^2)` on the open unit ball (curved Hessian metric for `d >= 2`).

    `grad R = 2w / (1 - |w|^2)`, `hess R = 2 I / (1 - |w|^2) + 4 w w^T / (1 - |w|^2)^2`,
    `grad R*(mu) = mu / (1 + s)`, `R*(mu) = s - 1 + log 2 - log(1 + s)` with
    `s = sqrt(1 + |mu|^2)`.

    Example:
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
    )

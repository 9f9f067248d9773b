"""Open convex domains of Legendre functions.

A domain answers membership (`contains`), draws points (`sample`), gives a start point for
Newton solves (`center`) and, for the essential-smoothness check of `Legendre.check`,
points approaching its boundary (`boundary_approach`). Points are `(d,)` vectors.

- `Box(lower, upper)`: products of open intervals, infinite ends allowed
  (`Box.whole(d)` is `R^d`, `Box.orthant(d)` the positive orthant).
- `Ball(dim, radius=1.0)`: the open Euclidean ball around 0.
- `Simplex(dim)`: `{w > 0, sum w < 1}`, the probability simplex in corner coordinates.
- `SPDCone(n)`: symmetric positive definite `n x n` matrices in upper-triangle coordinates
  `w = (P_11, P_12, ..., P_1n, P_22, ..., P_nn)` (`d = n(n+1)/2`).
"""

from __future__ import annotations

import autograd.numpy as anp
import numpy as np

from ._validation import as_float_array, as_positive, as_positive_int
from .errors import InputError, ShapeError

__all__ = ["Domain", "Box", "Ball", "Simplex", "SPDCone", "MirrorImage", "as_domain"]


class Domain:
    """Base class of open convex domains in `R^dim`."""

    dim: int

    def contains(self, w) -> np.ndarray:
        """Whether each point of `w: (d,)` or `(B, d)` is inside: bool or `(B,)`."""
        raise NotImplementedError

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """`n` points `(n, d)` inside the domain (a compact part of it)."""
        raise NotImplementedError

    def center(self) -> np.ndarray:
        """A point well inside the domain `(d,)`: the default start of Newton solves."""
        raise NotImplementedError

    @property
    def has_boundary(self) -> bool:
        """Whether the domain is not all of `R^d`."""
        return True

    def boundary_approach(self, rng: np.random.Generator, n: int, eps: np.ndarray) -> np.ndarray:
        """Points at distance about `eps[k]` from the boundary: `(n, len(eps), d)`.

        Each row is a path toward one random boundary point, so values along it show how
        a function behaves as the boundary is approached.
        """
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}(dim={self.dim})"


def _rows(w) -> tuple[np.ndarray, bool]:
    arr = np.asarray(w, dtype=np.float64)
    return (arr[None, :], True) if arr.ndim == 1 else (arr, False)


class Box(Domain):
    """The open box `prod_i (lower_i, upper_i)`; infinite ends allowed.

    Args:
        lower: lower ends `(d,)` (or a scalar with `dim`), may be `-inf`.
        upper: upper ends `(d,)` (or a scalar), may be `+inf`.
        dim: dimension when both ends are scalars.

    Examples:
        >>> import numpy as np, riemflow as rf
        >>> box = rf.domains.Box([0.0, -1.0], [np.inf, 1.0])
        >>> box.contains(np.array([[1.0, 0.0], [-1.0, 0.0]])).tolist()
        [True, False]
    """

    def __init__(self, lower, upper, dim: int | None = None):
        lo = as_float_array(lower, "lower")
        hi = as_float_array(upper, "upper")
        if dim is not None:
            dim = as_positive_int(dim, "dim")
            lo = np.broadcast_to(lo, (dim,)).copy()
            hi = np.broadcast_to(hi, (dim,)).copy()
        if lo.ndim != 1 or lo.shape != hi.shape or lo.size == 0:
            raise ShapeError(
                f"`lower` and `upper` must be matching 1-D arrays; got {lo.shape} and {hi.shape}",
                argument="lower",
            )
        if np.any(np.isnan(lo)) or np.any(np.isnan(hi)) or np.any(lo >= hi):
            raise InputError(
                f"a box needs lower < upper in every coordinate; got lower={lo}, upper={hi}",
                argument="lower",
            )
        self.lower, self.upper, self.dim = lo, hi, lo.size

    @classmethod
    def whole(cls, dim: int) -> Box:
        """All of `R^dim`."""
        return cls(-np.inf, np.inf, dim)

    @classmethod
    def orthant(cls, dim: int) -> Box:
        """The open positive orthant `{w > 0}`."""
        return cls(0.0, np.inf, dim)

    @property
    def has_boundary(self) -> bool:
        return bool(np.any(np.isfinite(self.lower)) or np.any(np.isfinite(self.upper)))

    def contains(self, w):
        rows, single = _rows(w)
        inside = np.all((rows > self.lower) & (rows < self.upper), axis=-1)
        return bool(inside[0]) if single else inside

    def _finite_window(self) -> tuple[np.ndarray, np.ndarray]:
        lo = np.where(np.isfinite(self.lower), self.lower, np.nan)
        hi = np.where(np.isfinite(self.upper), self.upper, np.nan)
        both = np.isfinite(lo) & np.isfinite(hi)
        a = np.where(both, lo, np.where(np.isfinite(lo), lo, np.where(np.isfinite(hi), hi - 2, -1)))
        b = np.where(both, hi, np.where(np.isfinite(lo), lo + 2, np.where(np.isfinite(hi), hi, 1)))
        return a, b

    def sample(self, rng, n):
        a, b = self._finite_window()
        margin = 0.05 * (b - a)
        return rng.uniform(a + margin, b - margin, size=(n, self.dim))

    def center(self):
        a, b = self._finite_window()
        return 0.5 * (a + b)

    def boundary_approach(self, rng, n, eps):
        eps = np.asarray(eps, dtype=np.float64)
        base = self.sample(rng, n)
        finite = np.flatnonzero(np.isfinite(self.lower) | np.isfinite(self.upper))
        out = np.repeat(base[:, None, :], eps.size, axis=1)
        for k in range(n):
            i = finite[rng.integers(finite.size)]
            use_lower = np.isfinite(self.lower[i]) and (
                not np.isfinite(self.upper[i]) or rng.random() < 0.5
            )
            out[k, :, i] = self.lower[i] + eps if use_lower else self.upper[i] - eps
        return out

    def __repr__(self):
        return f"Box(lower={self.lower.tolist()}, upper={self.upper.tolist()})"


class Ball(Domain):
    """The open ball `{|w| < radius}` in `R^dim`."""

    def __init__(self, dim: int, radius: float = 1.0):
        self.dim = as_positive_int(dim, "dim")
        self.radius = as_positive(radius, "radius")

    def contains(self, w):
        rows, single = _rows(w)
        inside = np.linalg.norm(rows, axis=-1) < self.radius
        return bool(inside[0]) if single else inside

    def _directions(self, rng, n):
        z = rng.standard_normal((n, self.dim))
        return z / np.linalg.norm(z, axis=-1, keepdims=True)

    def sample(self, rng, n):
        r = self.radius * 0.95 * rng.uniform(0, 1, size=(n, 1)) ** (1 / self.dim)
        return r * self._directions(rng, n)

    def center(self):
        return np.zeros(self.dim)

    def boundary_approach(self, rng, n, eps):
        eps = np.asarray(eps, dtype=np.float64)
        return (self.radius - eps)[None, :, None] * self._directions(rng, n)[:, None, :]

    def __repr__(self):
        return f"Ball(dim={self.dim}, radius={self.radius})"


class Simplex(Domain):
    """The open probability simplex `{w > 0, sum(w) < 1}` in corner coordinates.

    The full probability vector is `(w_1, ..., w_d, 1 - sum(w))`.
    """

    def __init__(self, dim: int):
        self.dim = as_positive_int(dim, "dim")

    def contains(self, w):
        rows, single = _rows(w)
        inside = np.all(rows > 0, axis=-1) & (1.0 - np.sum(rows, axis=-1) > 0)
        return bool(inside[0]) if single else inside

    def sample(self, rng, n):
        p = rng.dirichlet(np.full(self.dim + 1, 2.0), size=n)
        return p[:, : self.dim]

    def center(self):
        return np.full(self.dim, 1.0 / (self.dim + 1))

    def boundary_approach(self, rng, n, eps):
        eps = np.asarray(eps, dtype=np.float64)
        p = rng.dirichlet(np.full(self.dim + 1, 2.0), size=n)
        out = np.empty((n, eps.size, self.dim))
        for k in range(n):
            j = rng.integers(self.dim + 1)  # the full coordinate sent to eps
            for e, epsilon in enumerate(eps):
                q = p[k].copy()
                q[j] = 0.0
                q = q / q.sum() * (1.0 - epsilon)
                q[j] = epsilon
                out[k, e] = q[: self.dim]
        return out

    def __repr__(self):
        return f"Simplex(dim={self.dim})"


class SPDCone(Domain):
    """Symmetric positive definite `n x n` matrices, upper-triangle coordinates.

    `w = P[triu_indices(n)]` (row-major: `P_11, P_12, ..., P_nn`), `d = n(n+1)/2`.
    """

    def __init__(self, n: int):
        self.n = as_positive_int(n, "n")
        self.dim = self.n * (self.n + 1) // 2
        self.rows, self.cols = np.triu_indices(self.n)

    def matrix(self, w):
        """The symmetric matrices of `w: (..., d)`: `(..., n, n)` (autograd-traceable)."""
        n = self.n
        onehot = np.zeros((self.dim, n, n))
        onehot[np.arange(self.dim), self.rows, self.cols] = 1.0
        onehot[np.arange(self.dim), self.cols, self.rows] = 1.0
        return anp.einsum("...a,aij->...ij", w, onehot)

    def vector(self, P) -> np.ndarray:
        """Upper-triangle coordinates of symmetric matrices `(..., n, n)`: `(..., d)`."""
        P = np.asarray(P, dtype=np.float64)
        return P[..., self.rows, self.cols]

    def contains(self, w):
        rows, single = _rows(w)
        eig = np.linalg.eigvalsh(self.matrix(rows))
        inside = eig[..., 0] > 0
        return bool(inside[0]) if single else inside

    def sample(self, rng, n):
        A = rng.standard_normal((n, self.n, self.n)) / np.sqrt(self.n)
        P = A @ np.swapaxes(A, 1, 2) + 0.5 * np.eye(self.n)
        return self.vector(P)

    def center(self):
        return self.vector(np.eye(self.n))

    def boundary_approach(self, rng, n, eps):
        eps = np.asarray(eps, dtype=np.float64)
        out = np.empty((n, eps.size, self.dim))
        for k in range(n):
            Q, _ = np.linalg.qr(rng.standard_normal((self.n, self.n)))
            lam = rng.uniform(0.5, 2.0, self.n)
            for e, epsilon in enumerate(eps):
                lam_e = lam.copy()
                lam_e[0] = epsilon
                out[k, e] = self.vector(Q @ np.diag(lam_e) @ Q.T)
        return out

    def __repr__(self):
        return f"SPDCone(n={self.n})"


class MirrorImage(Domain):
    """The range of an inverse mirror map, `{grad R^*(mu)}`, when no formula describes it.

    Used by potentials known through their conjugate (the numerical forward construction,
    commuting quadratics). Membership cannot be decided cheaply, so `contains` accepts
    every finite point and a point outside the range is reported by the Newton solve of
    `grad R` (`ConvergenceError`); `sample` maps uniform dual points in
    `[-mu_scale, mu_scale]^d` through `grad_conjugate`, so checks draw points of the
    range; `center` is `grad R^*(0)`. It has no testable boundary.

    Args:
        center: `grad R^*(0)`, `(d,)`.
        grad_conjugate: `mu (B, d) -> (B, d)`.
        mu_scale: half-width of the sampled dual box.
    """

    def __init__(self, center, grad_conjugate, mu_scale: float):
        self._center = np.asarray(center, dtype=np.float64).copy()
        self.dim = int(self._center.size)
        self._grad_conjugate = grad_conjugate
        self._mu_scale = as_positive(mu_scale, "mu_scale")

    @property
    def has_boundary(self) -> bool:
        return False

    def contains(self, w):
        arr = np.asarray(w, dtype=np.float64)
        inside = np.all(np.isfinite(arr), axis=-1)
        return bool(inside) if arr.ndim == 1 else inside

    def center(self):
        return self._center.copy()

    def sample(self, rng, n):
        mu = self._mu_scale * rng.uniform(-1.0, 1.0, size=(n, self.dim))
        return np.asarray(self._grad_conjugate(mu), dtype=np.float64)


def as_domain(domain, dim: int) -> Domain:
    """A `Domain` from `None` (all of `R^dim`), a `Domain`, or box pairs `[(lo, hi), ...]`."""
    if domain is None:
        return Box.whole(dim)
    if isinstance(domain, Domain):
        if domain.dim != dim:
            raise ShapeError(
                f"`domain` has dimension {domain.dim}, expected {dim}", argument="domain"
            )
        return domain
    arr = as_float_array(domain, "domain")
    if arr.shape != (dim, 2):
        raise ShapeError(
            f"`domain` as a box must be a list of {dim} (lo, hi) pairs; got shape {arr.shape}",
            argument="domain",
        )
    return Box(arr[:, 0], arr[:, 1])

"""Open convex domains of Legendre functions.

A domain answers membership (`contains`), draws points (`sample`), gives a start point for
Newton solves (`center`) and, for the essential-smoothness check of `Legendre.check`,
points approaching its boundary (`boundary_approach`). Points are `(d,)` vectors.

- `Box(lower, upper)`: products of open intervals, infinite ends allowed
  (`Box.whole(d)` is `R^d`, `Box.orthant(d)` the positive orthant).
- `Ball(dim, radius=1.0, center=None)`: the open Euclidean ball.
- `Shell(dim, inner, outer, center=None)`: `{inner < |w - c| < outer}`.
- `Ellipsoid(center, axes)`: `{c + A x : |x| < 1}`.
- `Simplex(dim, margin=0.0)`: `{w > 0, sum w < 1}`, the probability simplex in corner
  coordinates, or with `margin > 0` the part where every barycentric coordinate
  `(w_1, ..., w_d, 1 - sum w)` exceeds `margin`.
- `SPDCone(n)`: symmetric positive definite `n x n` matrices in upper-triangle coordinates
  `w = (P_11, P_12, ..., P_1n, P_22, ..., P_nn)` (`d = n(n+1)/2`).
- `MappedBox(chart, lower, upper)`: the image of a box under a diffeomorphism `phi`.
- `ProductDomain(parts, blocks)`: a product of domains on blocks of coordinates.

Compact regions (the converse construction's domains) also give `closure_points`: points of
the closed region with a share concentrated on its boundary, edges and corners, where
numerical embeddings are least accurate; isometry defects are measured on them.
"""

from __future__ import annotations

import autograd.numpy as anp
import numpy as np

from . import _autodiff
from ._validation import as_float_array, as_positive, as_positive_int
from .errors import DomainError, InputError, NotCallableError, ShapeError

__all__ = [
    "Domain",
    "Box",
    "Ball",
    "Shell",
    "Ellipsoid",
    "Simplex",
    "SPDCone",
    "MappedBox",
    "ProductDomain",
    "MirrorImage",
    "as_domain",
    "lobatto_points",
]


def lobatto_points(m: int) -> np.ndarray:
    """`m >= 2` Chebyshev-Lobatto points `-cos(pi j / (m - 1))` of `[-1, 1]`, increasing
    (the end points included).

    Examples:
        >>> from riemflow.domains import lobatto_points
        >>> lobatto_points(3).round(12).tolist()
        [-1.0, -0.0, 1.0]
    """
    return -np.cos(np.pi * np.arange(m) / (m - 1))


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

    @property
    def is_compact(self) -> bool:
        """Whether the closure of the domain is compact (a region for the converse)."""
        return False

    def closure_points(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """About `n` points `(N, d)` of the closed domain, boundary, edges and corners
        included, with a share concentrated there (compact domains only).

        Raises:
            InputError: the domain is not compact.
        """
        raise InputError(f"{self!r} is not compact: it has no closure to sample", argument="domain")

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """The bounding box `(lower, upper)` of a compact domain, two `(d,)` arrays."""
        pts = self.closure_points(np.random.default_rng(0), 4096)
        return pts.min(axis=0), pts.max(axis=0)

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

    @property
    def is_compact(self) -> bool:
        return bool(np.all(np.isfinite(self.lower)) and np.all(np.isfinite(self.upper)))

    def closure_points(self, rng, n):
        """A Chebyshev-Lobatto tensor grid (`d <= 4`), every corner (`d <= 12`), uniform
        points, arcsine-distributed points (dense at the faces, edges and corners) and
        points on random faces (see `Domain.closure_points`)."""
        if not self.is_compact:
            return super().closure_points(rng, n)
        return box_closure_points(self.lower, self.upper, rng, n)

    def bounds(self):
        return self.lower.copy(), self.upper.copy()

    def __repr__(self):
        return f"Box(lower={self.lower.tolist()}, upper={self.upper.tolist()})"


def box_closure_points(lower, upper, rng: np.random.Generator, n: int) -> np.ndarray:
    """About `n` points of the closed box `[lower, upper]`: see `Box.closure_points`.

    Examples:
        >>> import numpy as np
        >>> from riemflow.domains import box_closure_points
        >>> pts = box_closure_points([0.0, 0.0], [1.0, 2.0], np.random.default_rng(0), 200)
        >>> bool(np.any(np.all(pts == [1.0, 2.0], axis=1)))  # corners included
        True
    """
    lower = np.asarray(lower, dtype=np.float64)
    upper = np.asarray(upper, dtype=np.float64)
    d = lower.size
    parts = []
    if d <= 4:
        per = max(2, int(round(min(n / 2, 20000) ** (1.0 / d))))
        axes = [
            0.5 * (lo + hi) + 0.5 * (hi - lo) * lobatto_points(per)
            for lo, hi in zip(lower, upper, strict=True)
        ]
        parts.append(np.stack(np.meshgrid(*axes, indexing="ij"), -1).reshape(-1, d))
    if d <= 12:
        parts.append(
            np.array(np.meshgrid(*zip(lower, upper, strict=True), indexing="ij")).reshape(d, -1).T
        )
    m = max(n // 4, 16)
    parts.append(rng.uniform(lower, upper, (m, d)))
    center, half = 0.5 * (lower + upper), 0.5 * (upper - lower)
    parts.append(center + half * np.cos(np.pi * rng.uniform(0.0, 1.0, (m, d))))
    faces = rng.uniform(lower, upper, (m, d))
    which = rng.integers(d, size=m)
    side = rng.integers(2, size=m).astype(bool)
    faces[np.arange(m), which] = np.where(side, upper[which], lower[which])
    parts.append(faces)
    return np.vstack(parts)


def _directions(rng, n: int, d: int) -> np.ndarray:
    z = rng.standard_normal((n, d))
    return z / np.linalg.norm(z, axis=-1, keepdims=True)


def _radial_closure_points(center, axes, r_lo, r_hi, rng, n) -> np.ndarray:
    """`center + axes @ x` for `x` on 41 Lobatto radii in `[r_lo, r_hi]` (the center itself
    when `r_lo = 0`) times random directions, plus volume and boundary points."""
    d = center.size
    n_r = 41
    radii = r_lo + (r_hi - r_lo) * 0.5 * (1.0 + lobatto_points(n_r))
    per = max(4, n // (2 * n_r))
    x = [np.repeat(radii, per)[:, None] * _directions(rng, n_r * per, d)]
    m = max(n // 4, 16)
    u = rng.uniform(0.0, 1.0, (m, 1))
    x.append((r_lo**d + u * (r_hi**d - r_lo**d)) ** (1.0 / d) * _directions(rng, m, d))
    x.append(r_hi * _directions(rng, m, d))
    if r_lo > 0:
        x.append(r_lo * _directions(rng, m, d))
    return center + np.vstack(x) @ np.asarray(axes).T


class Ball(Domain):
    """The open ball `{|w - center| < radius}` in `R^dim`.

    Args:
        dim: `d`.
        radius: the radius (default 1).
        center: `(d,)` (default 0).

    Examples:
        >>> import riemflow as rf
        >>> ball = rf.domains.Ball(2, radius=0.8)
        >>> ball.contains([[0.5, 0.5], [0.6, 0.6]]).tolist()
        [True, False]
    """

    def __init__(self, dim: int, radius: float = 1.0, center=None):
        self.dim = as_positive_int(dim, "dim")
        self.radius = as_positive(radius, "radius")
        self.c = _center(center, self.dim)

    def contains(self, w):
        rows, single = _rows(w)
        inside = np.linalg.norm(rows - self.c, axis=-1) < self.radius
        return bool(inside[0]) if single else inside

    def _directions(self, rng, n):
        return _directions(rng, n, self.dim)

    def sample(self, rng, n):
        r = self.radius * 0.95 * rng.uniform(0, 1, size=(n, 1)) ** (1 / self.dim)
        return self.c + r * self._directions(rng, n)

    def center(self):
        return self.c.copy()

    def boundary_approach(self, rng, n, eps):
        eps = np.asarray(eps, dtype=np.float64)
        return self.c + (self.radius - eps)[None, :, None] * self._directions(rng, n)[:, None, :]

    @property
    def is_compact(self) -> bool:
        return True

    def closure_points(self, rng, n):
        """41 Lobatto radii from the center to the sphere times random directions, plus
        uniform and boundary points."""
        return _radial_closure_points(self.c, np.eye(self.dim), 0.0, self.radius, rng, n)

    def bounds(self):
        return self.c - self.radius, self.c + self.radius

    def __repr__(self):
        where = "" if not np.any(self.c) else f", center={self.c.tolist()}"
        return f"Ball(dim={self.dim}, radius={self.radius}{where})"


def _center(center, dim: int) -> np.ndarray:
    if center is None:
        return np.zeros(dim)
    c = as_float_array(center, "center")
    if c.shape != (dim,) or not np.all(np.isfinite(c)):
        raise ShapeError(f"`center` must be a finite ({dim},) vector; got {c!r}", argument="center")
    return c


class Shell(Domain):
    """The open spherical shell `{inner < |w - center| < outer}` (`inner = 0`: a ball).

    Args:
        dim: `d`.
        inner: inner radius `>= 0`.
        outer: outer radius `> inner`.
        center: `(d,)` (default 0).

    Raises:
        InputError: not `0 <= inner < outer`.

    Examples:
        >>> import riemflow as rf
        >>> rf.domains.Shell(3, 0.2, 1.0).contains([[0.1, 0, 0], [0.5, 0, 0]]).tolist()
        [False, True]
    """

    def __init__(self, dim: int, inner: float, outer: float, center=None):
        self.dim = as_positive_int(dim, "dim")
        self.inner = as_positive(inner, "inner", allow_zero=True)
        self.outer = as_positive(outer, "outer")
        if not self.inner < self.outer:
            raise InputError(
                f"a shell needs inner < outer; got inner={inner}, outer={outer}", argument="inner"
            )
        self.c = _center(center, self.dim)

    def contains(self, w):
        rows, single = _rows(w)
        r = np.linalg.norm(rows - self.c, axis=-1)
        inside = (r > self.inner) & (r < self.outer)
        return bool(inside[0]) if single else inside

    def sample(self, rng, n):
        width = self.outer - self.inner
        lo, hi = self.inner + 0.05 * width, self.outer - 0.05 * width
        u = rng.uniform(0.0, 1.0, (n, 1))
        r = (lo**self.dim + u * (hi**self.dim - lo**self.dim)) ** (1.0 / self.dim)
        return self.c + r * _directions(rng, n, self.dim)

    def center(self):
        e = np.zeros(self.dim)
        e[0] = 0.5 * (self.inner + self.outer) if self.inner > 0 else 0.0
        return self.c + e

    def boundary_approach(self, rng, n, eps):
        eps = np.asarray(eps, dtype=np.float64)
        dirs = _directions(rng, n, self.dim)[:, None, :]
        return self.c + (self.outer - eps)[None, :, None] * dirs

    @property
    def is_compact(self) -> bool:
        return True

    def closure_points(self, rng, n):
        """41 Lobatto radii from `inner` to `outer` times random directions, plus uniform
        points and points on both spheres."""
        return _radial_closure_points(self.c, np.eye(self.dim), self.inner, self.outer, rng, n)

    def bounds(self):
        return self.c - self.outer, self.c + self.outer

    def __repr__(self):
        return (
            f"Shell(dim={self.dim}, inner={self.inner}, outer={self.outer}, "
            f"center={self.c.tolist()})"
        )


class Ellipsoid(Domain):
    """The open solid ellipsoid `{center + A x : |x| < 1}`.

    Args:
        center: `(d,)`.
        axes: `A`, an invertible `(d, d)` matrix, or the semi-axes `(d,)` (`A = diag`).

    Raises:
        ShapeError: mismatched shapes.
        InputError: a singular `A`.

    Examples:
        >>> import riemflow as rf
        >>> E = rf.domains.Ellipsoid([0.0, 0.0], [0.7, 0.35])
        >>> E.contains([[0.6, 0.0], [0.0, 0.6]]).tolist()
        [True, False]
    """

    def __init__(self, center, axes):
        c = as_float_array(center, "center")
        if c.ndim != 1 or c.size == 0:
            raise ShapeError(
                f"`center` must be a (d,) vector; got shape {c.shape}", argument="center"
            )
        self.dim = c.size
        self.c = _center(c, self.dim)
        A = as_float_array(axes, "axes")
        if A.shape == (self.dim,):
            A = np.diag(A)
        if A.shape != (self.dim, self.dim) or not np.all(np.isfinite(A)):
            raise ShapeError(
                f"`axes` must be ({self.dim},) semi-axes or a ({self.dim}, {self.dim}) matrix; "
                f"got shape {A.shape}",
                argument="axes",
            )
        s = np.linalg.svd(A, compute_uv=False)
        if not s[-1] > 1e-12 * s[0]:
            raise InputError(f"`axes` must be invertible; singular values {s}", argument="axes")
        self.A = A
        self.A_inv = np.linalg.inv(A)

    def contains(self, w):
        rows, single = _rows(w)
        inside = np.linalg.norm((rows - self.c) @ self.A_inv.T, axis=-1) < 1.0
        return bool(inside[0]) if single else inside

    def sample(self, rng, n):
        r = 0.95 * rng.uniform(0, 1, (n, 1)) ** (1.0 / self.dim)
        return self.c + (r * _directions(rng, n, self.dim)) @ self.A.T

    def center(self):
        return self.c.copy()

    def boundary_approach(self, rng, n, eps):
        eps = np.asarray(eps, dtype=np.float64)
        x = (1.0 - eps)[None, :, None] * _directions(rng, n, self.dim)[:, None, :]
        return self.c + x @ self.A.T

    @property
    def is_compact(self) -> bool:
        return True

    def closure_points(self, rng, n):
        """The ball's points (`Ball.closure_points`) mapped by `x -> c + A x`."""
        return _radial_closure_points(self.c, self.A, 0.0, 1.0, rng, n)

    def bounds(self):
        half = np.linalg.norm(self.A, axis=1)
        return self.c - half, self.c + half

    def __repr__(self):
        return f"Ellipsoid(center={self.c.tolist()}, axes={self.A.tolist()})"


class Simplex(Domain):
    """The open probability simplex `{w > 0, sum(w) < 1}` in corner coordinates, or with
    `margin > 0` its part where every barycentric coordinate exceeds `margin`.

    The full probability vector is `p = (w_1, ..., w_d, 1 - sum(w))`; the part is
    `{p_i > margin for all i}`, the simplex with each facet moved toward the opposite
    vertex by `margin` (in units of the barycentric coordinate). With `margin > 0` its
    closure is compact and stays away from the facets, where entropy-like potentials blow
    up: a region for the converse construction.

    Args:
        dim: `d`.
        margin: in `[0, 1 / (d + 1))` (default 0: the whole open simplex).

    Raises:
        InputError: `margin` outside `[0, 1 / (d + 1))`.

    Examples:
        >>> import riemflow as rf
        >>> part = rf.domains.Simplex(2, margin=0.05)
        >>> part.contains([[0.3, 0.3], [0.02, 0.5]]).tolist()
        [True, False]
    """

    def __init__(self, dim: int, margin: float = 0.0):
        self.dim = as_positive_int(dim, "dim")
        self.margin = as_positive(margin, "margin", allow_zero=True)
        if not self.margin < 1.0 / (self.dim + 1):
            raise InputError(
                f"`margin` must be in [0, 1/(d+1)) = [0, {1.0 / (self.dim + 1):.4g}); got {margin}",
                argument="margin",
            )

    def barycentric(self, w) -> np.ndarray:
        """`(w, 1 - sum w)`: `(..., d + 1)`."""
        w = np.asarray(w, dtype=np.float64)
        return np.concatenate([w, 1.0 - np.sum(w, axis=-1, keepdims=True)], axis=-1)

    def from_barycentric(self, b) -> np.ndarray:
        """Points of the (closed) part for barycentric coordinates `b` of it, rows summing
        to 1: `(..., d)`."""
        p = self.margin + (1.0 - (self.dim + 1) * self.margin) * np.asarray(b, dtype=np.float64)
        return p[..., : self.dim]

    def contains(self, w):
        rows, single = _rows(w)
        inside = np.all(self.barycentric(rows) > self.margin, axis=-1)
        return bool(inside[0]) if single else inside

    def sample(self, rng, n):
        return self.from_barycentric(rng.dirichlet(np.full(self.dim + 1, 2.0), size=n))

    def center(self):
        return np.full(self.dim, 1.0 / (self.dim + 1))

    def boundary_approach(self, rng, n, eps):
        eps = np.asarray(eps, dtype=np.float64)
        scale = 1.0 - (self.dim + 1) * self.margin
        p = rng.dirichlet(np.full(self.dim + 1, 2.0), size=n)
        out = np.empty((n, eps.size, self.dim))
        for k in range(n):
            j = rng.integers(self.dim + 1)  # the barycentric coordinate sent to the facet
            for e, epsilon in enumerate(eps):
                q = p[k].copy()
                q[j] = 0.0
                q = q / q.sum() * (1.0 - epsilon / scale)
                q[j] = epsilon / scale
                out[k, e] = self.from_barycentric(q)
        return out

    @property
    def is_compact(self) -> bool:
        return True

    def closure_points(self, rng, n):
        """A barycentric lattice (vertices and edges included; `d <= 3`), every vertex,
        Dirichlet(1/2) points (dense at the facets) and uniform points."""
        d = self.dim
        parts = [np.eye(d + 1)]
        if d <= 3:
            m = max(4, int(round((2 * n) ** (1.0 / d))))
            lattice = np.array([c for c in np.ndindex(*(m + 1,) * d) if sum(c) <= m], dtype=float)
            lattice /= m
            parts.append(np.column_stack([lattice, 1.0 - lattice.sum(axis=1)]))
        k = max(n // 4, 16)
        parts.append(rng.dirichlet(np.full(d + 1, 0.5), k))
        parts.append(rng.dirichlet(np.ones(d + 1), k))
        return self.from_barycentric(np.vstack(parts))

    def bounds(self):
        lo = np.full(self.dim, self.margin)
        return lo, np.full(self.dim, 1.0 - self.dim * self.margin)

    def __repr__(self):
        extra = f", margin={self.margin}" if self.margin else ""
        return f"Simplex(dim={self.dim}{extra})"


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


class MappedBox(Domain):
    """The image `phi(S)` of the box `S = [lower, upper]` under a diffeomorphism `phi`.

    The converse construction embeds the metric pulled back through `phi` on the box (see
    `riemflow.commuting_parametrization`); `phi` must be a diffeomorphism of a neighbourhood
    of the closed box onto its image.

    Args:
        chart: `phi: s (..., d) -> w (..., d)`, written with `autograd.numpy`.
        lower: the box's lower ends `(d,)`.
        upper: the box's upper ends `(d,)`.
        inverse: optional `phi^{-1}: w (B, d) -> s (B, d)`; default a Newton solve from
            the nearest point of a grid of images.
        jacobian: optional closed form `s (B, d) -> dphi(s) (B, d, d)`; default autograd.
        inner: optional compact domain inside the image that the caller asked for (a
            built-in chart covers a disk or a simplex part by a slightly larger image);
            defects are also measured on it.
        name: label.
        newton_tol: tolerance of the Newton inverse on `|phi(s) - w|_inf` (relative to
            `max(1, |w|_inf)`; default 1e-14).
        max_newton: iteration budget of the Newton inverse (default 60).

    Raises:
        NotCallableError: `chart` is not callable.

    Examples:
        >>> import autograd.numpy as anp, numpy as np, riemflow as rf
        >>> def polar(s):  # an annular sector
        ...     r, t = s[..., 0], s[..., 1]
        ...     return anp.stack([r * anp.cos(t), r * anp.sin(t)], -1)
        >>> K = rf.domains.MappedBox(polar, [0.3, 0.0], [0.8, 1.5], name="polar")
        >>> K.inverse(polar(np.array([[0.5, 1.0]]))).round(12).tolist()
        [[0.5, 1.0]]
    """

    def __init__(
        self,
        chart,
        lower,
        upper,
        *,
        inverse=None,
        jacobian=None,
        inner=None,
        name: str = "phi",
        newton_tol: float = 1e-14,
        max_newton: int = 60,
    ):
        for argument, value in (("chart", chart), ("inverse", inverse), ("jacobian", jacobian)):
            if value is not None and not callable(value):
                raise NotCallableError(
                    f"`{argument}` must be callable; got {value!r}", argument=argument
                )
        if chart is None:
            raise NotCallableError("`chart` must be callable; got None", argument="chart")
        self.chart = chart
        self.box = Box(lower, upper)
        if not self.box.is_compact:
            raise InputError(f"`lower`, `upper` must be finite; got {self.box!r}", argument="lower")
        self.dim = self.box.dim
        self.inner = None if inner is None else as_domain(inner, self.dim)
        self.name = str(name)
        self.newton_tol = as_positive(newton_tol, "newton_tol")
        self.max_newton = as_positive_int(max_newton, "max_newton")
        self._inverse = inverse
        self._jacobian = jacobian
        self._grid = None

    def __call__(self, s) -> np.ndarray:
        """`phi(s)`: `(B, d)` for `s: (B, d)`."""
        return np.asarray(self.chart(np.asarray(s, dtype=np.float64)), dtype=np.float64)

    def jacobian(self, s) -> np.ndarray:
        """`dphi(s)`: `(B, d, d)` for `s: (B, d)`."""
        sb = np.atleast_2d(np.asarray(s, dtype=np.float64))
        if self._jacobian is not None:
            return np.asarray(self._jacobian(sb), dtype=np.float64).reshape(-1, self.dim, self.dim)
        return np.asarray(_autodiff.jacobian(self.chart, sb, name="chart", tiled=True))

    def inverse(self, w, *, strict: bool = True) -> np.ndarray:
        """`phi^{-1}(w)`: `(B, d)` for `w: (B, d)`.

        Args:
            w: points of the image `(B, d)`.
            strict: raise for a point Newton cannot invert (else its row is NaN).

        Raises:
            DomainError: (`strict`) Newton did not reach `newton_tol` in `max_newton` steps
                (a point outside the image of the box).
        """
        wb = np.atleast_2d(np.asarray(w, dtype=np.float64))
        if self._inverse is not None:
            return np.asarray(self._inverse(wb), dtype=np.float64).reshape(wb.shape)
        if self._grid is None:
            axes = [
                0.5 * (lo + hi) + 0.5 * (hi - lo) * lobatto_points(25)
                for lo, hi in zip(self.box.lower, self.box.upper, strict=True)
            ]
            grid = np.stack(np.meshgrid(*axes, indexing="ij"), -1).reshape(-1, self.dim)
            self._grid = (grid, self(grid))
        grid, images = self._grid
        s = np.empty_like(wb)
        for start in range(0, wb.shape[0], 256):  # nearest grid image, in chunks
            chunk = wb[start : start + 256]
            gaps = np.sum((chunk[:, None, :] - images[None]) ** 2, axis=-1)
            s[start : start + 256] = grid[np.argmin(gaps, axis=1)]
        scale = np.maximum(1.0, np.max(np.abs(wb), axis=-1))
        miss = np.full(wb.shape[0], np.inf)
        with np.errstate(all="ignore"):
            for _ in range(self.max_newton):
                gap = self(s) - wb
                miss = np.max(np.abs(gap), axis=-1) / scale
                todo = ~(miss <= self.newton_tol)
                if not np.any(todo):
                    break
                J = self.jacobian(s[todo])
                s[todo] = s[todo] - np.linalg.solve(J, gap[todo][..., None])[..., 0]
        bad = ~(miss <= 1e3 * self.newton_tol)
        if np.any(bad):
            if strict:
                b = int(np.argmax(bad))
                raise DomainError(
                    f"phi^-1 ({self.name}): Newton stopped at |phi(s) - w| = {miss[b]:.2e} "
                    f"after {self.max_newton} steps at w = {wb[b]} (a point outside the image "
                    "of the box?)",
                    argument="w",
                )
            s[bad] = np.nan
        return s

    def chart_ratio(self, n: int = 41) -> float:
        """`min |det dphi| / max |det dphi|` on an `n`-point Lobatto grid of the closed box
        (0 when the sign changes): positive for a diffeomorphism up to the boundary."""
        axes = [
            0.5 * (lo + hi) + 0.5 * (hi - lo) * lobatto_points(n)
            for lo, hi in zip(self.box.lower, self.box.upper, strict=True)
        ]
        s = np.stack(np.meshgrid(*axes, indexing="ij"), -1).reshape(-1, self.dim)
        det = np.linalg.det(self.jacobian(s))
        if np.min(det) * np.max(det) <= 0:
            return 0.0
        return float(np.min(np.abs(det)) / np.max(np.abs(det)))

    def contains(self, w):
        rows, single = _rows(w)
        try:
            inside = np.asarray(self.box.contains(self.inverse(rows)), dtype=bool)
        except DomainError:
            inside = (
                np.array([bool(self.contains(row)) for row in rows])
                if rows.shape[0] > 1
                else np.zeros(1, bool)
            )
        return bool(inside[0]) if single else inside

    def sample(self, rng, n):
        return self(self.box.sample(rng, n))

    def center(self):
        return self(self.box.center()[None])[0]

    def boundary_approach(self, rng, n, eps):
        paths = self.box.boundary_approach(rng, n, eps)
        return self(paths.reshape(-1, self.dim)).reshape(paths.shape)

    @property
    def is_compact(self) -> bool:
        return True

    def closure_points(self, rng, n):
        """Images of the box's closure points (`Box.closure_points`), plus the closure
        points of `inner` when given."""
        pts = self(self.box.closure_points(rng, n))
        if self.inner is not None and self.inner.is_compact:
            pts = np.vstack([pts, self.inner.closure_points(rng, n)])
        return pts

    def __repr__(self):
        return f"MappedBox({self.name}, box={self.box!r})"


class ProductDomain(Domain):
    """The product `K_1 x ... x K_B` of domains on blocks of coordinates.

    Args:
        parts: the block domains (`Domain`s, or box pairs), part `b` of dimension
            `len(blocks[b])`.
        blocks: index lists partitioning `range(d)`.

    Raises:
        InputError: blocks that do not partition `range(d)`, or parts of the wrong dimension.

    Examples:
        >>> import riemflow as rf
        >>> balls = [rf.domains.Ball(2), rf.domains.Ball(2)]
        >>> K = rf.domains.ProductDomain(balls, [[0, 1], [2, 3]])
        >>> K.contains([[0.5, 0.5, 0.0, 0.9], [0.9, 0.9, 0.0, 0.0]]).tolist()
        [True, False]
    """

    def __init__(self, parts, blocks):
        self.blocks = [np.asarray(b, dtype=int).reshape(-1) for b in blocks]
        parts = list(parts)
        if len(parts) != len(self.blocks) or not parts:
            raise InputError(
                f"need one part per block; got {len(parts)} parts and {len(self.blocks)} blocks",
                argument="parts",
            )
        self.dim = int(sum(b.size for b in self.blocks))
        covered = np.sort(np.concatenate(self.blocks))
        if not np.array_equal(covered, np.arange(self.dim)):
            raise InputError("`blocks` must partition range(d)", argument="blocks")
        self.parts = [
            as_domain(part, idx.size) for part, idx in zip(parts, self.blocks, strict=True)
        ]

    def contains(self, w):
        rows, single = _rows(w)
        inside = np.ones(rows.shape[0], dtype=bool)
        for part, idx in zip(self.parts, self.blocks, strict=True):
            inside &= np.asarray(part.contains(rows[:, idx]), dtype=bool).reshape(-1)
        return bool(inside[0]) if single else inside

    def sample(self, rng, n):
        out = np.empty((n, self.dim))
        for part, idx in zip(self.parts, self.blocks, strict=True):
            out[:, idx] = part.sample(rng, n)
        return out

    def center(self):
        out = np.empty(self.dim)
        for part, idx in zip(self.parts, self.blocks, strict=True):
            out[idx] = part.center()
        return out

    @property
    def has_boundary(self) -> bool:
        return any(part.has_boundary for part in self.parts)

    def boundary_approach(self, rng, n, eps):
        eps = np.asarray(eps, dtype=np.float64)
        out = np.repeat(self.sample(rng, n)[:, None, :], eps.size, axis=1)
        bounded = [b for b, part in enumerate(self.parts) if part.has_boundary]
        for k in range(n):
            b = bounded[rng.integers(len(bounded))]
            out[k][:, self.blocks[b]] = self.parts[b].boundary_approach(rng, 1, eps)[0]
        return out

    @property
    def is_compact(self) -> bool:
        return all(part.is_compact for part in self.parts)

    def closure_points(self, rng, n):
        """Each block's closure points, combined row by row (rows cycled)."""
        if not self.is_compact:
            return super().closure_points(rng, n)
        per = [part.closure_points(rng, n) for part in self.parts]
        size = max(p.shape[0] for p in per)
        out = np.empty((size, self.dim))
        for p, idx in zip(per, self.blocks, strict=True):
            out[:, idx] = p[rng.permutation(size) % p.shape[0]]
        return out

    def bounds(self):
        lo, hi = np.empty(self.dim), np.empty(self.dim)
        for part, idx in zip(self.parts, self.blocks, strict=True):
            lo[idx], hi[idx] = part.bounds()
        return lo, hi

    def __repr__(self):
        return f"ProductDomain({len(self.parts)} blocks, dim={self.dim})"


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

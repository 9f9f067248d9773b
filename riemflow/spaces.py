"""Building geomstats manifolds that riemflow parametrizations live on.

geomstats' `ImmersedSet` is abstract; `immersed_manifold` makes one from a function, so a
manifold given in intrinsic coordinates `z` by an immersion `F: z -> F(z) in R^N` carries
the pullback metric `g(z) = dF(z)^T dF(z)` (geomstats `PullbackMetric`). `metric_space`
gives an open set of `R^m` any Riemannian metric `g(z)` directly, without an immersion.
"""

from __future__ import annotations

import autograd.numpy as anp
import numpy as np
from geomstats.geometry.base import ImmersedSet
from geomstats.geometry.euclidean import Euclidean

from ._geometry import apply_predicate
from ._validation import as_positive_int
from .errors import NotCallableError, ShapeError

__all__ = ["immersed_manifold", "metric_space"]


def _in_domain(point, dim: int, contains):
    """`contains` (or everywhere, when `None`) on points `(..., dim)`: a bool per point, or
    one bool for a single point."""
    point = np.asarray(point, dtype=np.float64)
    flat = point.reshape(-1, dim)
    inside = np.ones(flat.shape[0], dtype=bool)
    if contains is not None:
        inside = apply_predicate(contains, flat)
    return inside.reshape(point.shape[:-1]) if point.ndim > 1 else bool(inside[0])


class FunctionImmersedSet(ImmersedSet):
    """A geomstats `ImmersedSet` whose immersion is a user function.

    Use `immersed_manifold` to build one.
    """

    def __init__(self, immersion, dim, ambient_dim, *, contains=None, sampler=None, name=None):
        self._immersion_fn = immersion
        self._ambient_dim = ambient_dim
        self._contains = contains
        self.sampler = sampler
        self.name = name or getattr(immersion, "__name__", "immersion")
        super().__init__(dim=dim, equip=True)

    def _define_embedding_space(self):
        return Euclidean(self._ambient_dim)

    def immersion(self, point):
        """The immersion `F(z)`: `(..., dim) -> (..., ambient_dim)`."""
        return self._immersion_fn(point)

    def belongs(self, point, atol=None):
        """Whether `point` (shape `(..., dim)`) lies in the coordinate domain."""
        return _in_domain(point, self.dim, self._contains)

    def random_point(self, n_samples=1, bound=1.0):
        """Random points of the domain (unseeded; riemflow's checks pass a seeded rng)."""
        rng = np.random.default_rng()
        if self.sampler is not None:
            pts = np.asarray(self.sampler(rng, n_samples), dtype=np.float64)
        else:
            pts = rng.uniform(-bound, bound, size=(n_samples, self.dim))
        return pts[0] if n_samples == 1 else pts

    def __repr__(self):
        return f"immersed_manifold({self.name}, dim={self.dim}, ambient_dim={self._ambient_dim})"


def immersed_manifold(
    immersion, dim: int, ambient_dim: int, *, contains=None, sampler=None, name=None
) -> FunctionImmersedSet:
    """A manifold in intrinsic coordinates, immersed in `R^ambient_dim`.

    Its metric is the pullback of the Euclidean metric, $g(z) = dF(z)^T dF(z)$, as a
    geomstats `PullbackMetric` (so geomstats' Christoffel symbols, geodesics, ... work on
    it); riemflow computes $g$ itself with one batched autograd Jacobian.

    Args:
        immersion: `F`, written with `autograd.numpy`, mapping `z: (dim,)` (ideally also
            `(..., dim)`) to `(ambient_dim,)`.
        dim: the manifold dimension `m` (number of intrinsic coordinates).
        ambient_dim: `N`, the dimension of the Euclidean space `F` maps into.
        contains: optional predicate `z -> bool`: the open coordinate domain.
        sampler: optional `(rng, n) -> (n, dim)` drawing points of the domain; used by
            `check_commuting` / `check_regular` when no points are given.
        name: label for reprs and reports.

    Returns:
        A geomstats `ImmersedSet` equipped with its `PullbackMetric`.

    Examples:
        >>> import autograd.numpy as anp
        >>> import riemflow as rf
        >>> def sphere(z):  # spherical coordinates (theta, phi)
        ...     t, p = z[..., 0], z[..., 1]
        ...     s = anp.sin(t)
        ...     return anp.stack([s * anp.cos(p), s * anp.sin(p), anp.cos(t)], -1)
        >>> S = rf.spaces.immersed_manifold(sphere, 2, 3)
        >>> (S.metric.metric_matrix(anp.array([1.0, 0.5])).round(6) + 0.0).tolist()
        [[1.0, 0.0], [0.0, 0.708073]]
    """
    dim = as_positive_int(dim, "dim")
    ambient_dim = as_positive_int(ambient_dim, "ambient_dim")
    if not callable(immersion):
        raise NotCallableError(
            f"`immersion` must be callable; got {type(immersion).__name__}", argument="immersion"
        )
    return FunctionImmersedSet(
        immersion, dim, ambient_dim, contains=contains, sampler=sampler, name=name
    )


class _MetricMatrix:
    """`metric_matrix(z)` of a `MetricSpace`, batched when the user's function broadcasts."""

    def __init__(self, metric, dim: int, solve=None):
        self._fn = metric
        self._dim = dim
        self.solve = solve  # optional structured `g(z)^{-1} c` (IntrinsicGeometry.sharp)

    def metric_matrix(self, base_point):
        """The metric `g(z)`: `(..., dim) -> (..., dim, dim)`."""
        g = self._fn(base_point)
        shape = np.shape(base_point)[:-1] + (self._dim, self._dim)
        if np.shape(g) != shape:
            raise ShapeError(
                f"`metric` must map points (..., {self._dim}) to matrices (..., {self._dim}, "
                f"{self._dim}); got shape {np.shape(g)} for points of shape "
                f"{np.shape(base_point)}",
                argument="metric",
            )
        return g

    def inner_product(self, tangent_vec_a, tangent_vec_b, base_point):
        """`<u, v>_z = u^T g(z) v` (geomstats' signature)."""
        g = self.metric_matrix(base_point)
        return anp.einsum("...i,...ij,...j->...", tangent_vec_a, g, tangent_vec_b)


class MetricSpace:
    """An open set of `R^dim` with a Riemannian metric `g(z)` in its coordinates.

    Use `metric_space` to build one. riemflow computes gradients on it as
    `grad f = g^{-1} df` (intrinsic coordinates).
    """

    intrinsic = True

    def __init__(self, metric, dim: int, *, contains=None, sampler=None, name=None, solve=None):
        self.dim = dim
        self.shape = (dim,)
        self.metric = _MetricMatrix(metric, dim, solve)
        self._contains = contains
        self.sampler = sampler
        self.name = name or getattr(metric, "__name__", "metric")

    def belongs(self, point, atol=None):
        """Whether `point` (shape `(..., dim)`) lies in the coordinate domain."""
        return _in_domain(point, self.dim, self._contains)

    def random_point(self, n_samples=1, bound=1.0):
        """Random points of the domain (seeded from the global RNG, which riemflow seeds when
        it probes the space; its checks pass a seeded rng to `sampler`)."""
        rng = np.random.default_rng(np.random.randint(2**31))  # noqa: NPY002
        if self.sampler is not None:
            pts = np.asarray(self.sampler(rng, n_samples), dtype=np.float64)
        else:
            pts = rng.uniform(-bound, bound, size=(n_samples, self.dim))
        return pts[0] if n_samples == 1 else pts

    def to_tangent(self, vector, base_point=None):
        """Every vector of `R^dim` is tangent to an open set."""
        return vector

    def __repr__(self):
        return f"metric_space({self.name}, dim={self.dim})"


def metric_space(
    metric, dim: int, *, contains=None, sampler=None, name=None, solve=None
) -> MetricSpace:
    """An open set of `R^dim` in coordinates `z` with the Riemannian metric `g(z)`.

    Args:
        metric: `g`, written with `autograd.numpy`, mapping `z: (..., dim)` to a symmetric
            positive definite `(..., dim, dim)` (it must broadcast over leading axes).
        dim: the dimension `m`.
        contains: optional predicate `z -> bool`: the open coordinate domain.
        sampler: optional `(rng, n) -> (n, dim)` drawing points of the domain; used by the
            checks when no points are given (default uniform on `[-1, 1]^dim`).
        name: label for reprs and reports.
        solve: optional `(z (B, dim), c (B, k, dim)) -> g(z)^{-1} c` row by row, a
            structured inverse used on plain arrays instead of a dense solve (e.g. block by
            block for the block-diagonal metric of a product embedding).

    Returns:
        A space that `riemflow.Parametrization` accepts (intrinsic coordinates).

    Raises:
        NotCallableError: `metric` is not callable.
        InputError: `dim` not a positive integer.

    Examples:
        >>> import autograd.numpy as anp, numpy as np
        >>> import riemflow as rf
        >>> def heisenberg(x):  # g = dx1^2 + dx2^2 + (dx3 - x1 dx2)^2 / 2
        ...     a = x[..., 0]
        ...     one, zero = anp.ones_like(a), anp.zeros_like(a)
        ...     rows = [[one, zero, zero], [zero, 1 + a**2 / 2, -a / 2],
        ...             [zero, -a / 2, one / 2]]
        ...     return anp.stack([anp.stack(r, -1) for r in rows], -2)
        >>> M = rf.spaces.metric_space(heisenberg, 3)
        >>> G = rf.Parametrization(lambda x: x[..., :2], M)
        >>> G.kernel(np.array([0.3, -0.2, 0.5])).round(12).tolist()  # K = I
        [[1.0, 0.0], [0.0, 1.0]]
    """
    dim = as_positive_int(dim, "dim")
    if not callable(metric):
        raise NotCallableError(
            f"`metric` must be callable; got {type(metric).__name__}", argument="metric"
        )
    if solve is not None and not callable(solve):
        raise NotCallableError(
            f"`solve` must be callable; got {type(solve).__name__}", argument="solve"
        )
    return MetricSpace(metric, dim, contains=contains, sampler=sampler, name=name, solve=solve)

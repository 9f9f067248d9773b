"""Building geomstats manifolds that riemflow parametrizations live on.

geomstats' `ImmersedSet` is abstract; `immersed_manifold` makes one from a function, so a
manifold given in intrinsic coordinates `z` by an immersion `F: z -> F(z) in R^N` carries
the pullback metric `g(z) = dF(z)^T dF(z)` (geomstats `PullbackMetric`).
"""

from __future__ import annotations

import numpy as np
from geomstats.geometry.base import ImmersedSet
from geomstats.geometry.euclidean import Euclidean

from ._geometry import apply_predicate
from ._validation import as_positive_int
from .errors import NotCallableError

__all__ = ["immersed_manifold"]


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
        point = np.asarray(point, dtype=np.float64)
        flat = point.reshape(-1, self.dim)
        inside = np.ones(flat.shape[0], dtype=bool)
        if self._contains is not None:
            inside = apply_predicate(self._contains, flat)
        return inside.reshape(point.shape[:-1]) if point.ndim > 1 else bool(inside[0])

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

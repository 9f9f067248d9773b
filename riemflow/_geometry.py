"""Calculus on the three kinds of geomstats spaces riemflow supports (private).

A `Geometry` turns Euclidean gradients (differentials) of maps on coordinates into
Riemannian gradients, batched and autograd-differentiable (MATH.md section 1):

- `EuclideanGeometry`: an open subset of `R^D`, metric `I`; `grad f = df`.
- `IntrinsicGeometry`: intrinsic coordinates `z` with a metric matrix `g(z)`; for a
  geomstats `ImmersedSet` it is the pullback metric `g = dF^T dF` of the immersion `F`,
  computed with one batched autograd Jacobian; `grad f = g^{-1} df`.
- `ExtrinsicGeometry`: a submanifold of `R^D` in ambient coordinates (geomstats
  `Hypersphere` or any level set in a Euclidean space) with the induced metric;
  `grad f = P(x) df` with `P` the orthogonal projection onto the tangent space
  (geomstats' `to_tangent`). The projection is a smooth extension off the manifold, and the
  bracket of tangent fields does not depend on the extension, so Lie brackets computed in
  ambient coordinates are the intrinsic ones.
"""

from __future__ import annotations

import autograd.numpy as anp
import numpy as np
from geomstats.geometry.base import ImmersedSet
from geomstats.geometry.euclidean import Euclidean

from . import _autodiff
from .errors import DomainError, UnsupportedSpaceError


def apply_predicate(predicate, xb: np.ndarray) -> np.ndarray:
    """Evaluate a membership predicate on a batch, vectorised when it broadcasts."""
    try:
        out = np.asarray(predicate(xb))
        if out.shape == (xb.shape[0],):
            return out.astype(bool)
    except Exception:
        pass
    return np.array([bool(predicate(x)) for x in xb], dtype=bool)


def _traced(*arrays) -> bool:
    """Whether any argument is an autograd trace (not a plain array)."""
    return any(not isinstance(a, (np.ndarray, float, int)) for a in arrays)


class Geometry:
    """Base class: a space of points `(D,)` of manifold dimension `dim`."""

    kind = "abstract"

    def __init__(self, space, *, domain=None, sampler=None):
        self.space = space
        self.domain = domain
        self.sampler = sampler
        self.point_dim = int(space.shape[0])
        self.dim = int(space.dim)

    # -- calculus -----------------------------------------------------------------------
    def sharp(self, xb, covectors):
        """Riemannian gradients from differentials: `(B, D), (B, k, D) -> (B, k, D)`."""
        raise NotImplementedError

    def metric_matrix(self, xb):
        """Metric matrix in the coordinates of the points: `(B, D, D)`."""
        raise NotImplementedError

    # -- membership ---------------------------------------------------------------------
    def in_domain(self, xb: np.ndarray) -> np.ndarray:
        """Whether each point is in the user-given open domain: `(B,)` bool."""
        if self.domain is None:
            return np.ones(xb.shape[0], dtype=bool)
        return apply_predicate(self.domain, xb)

    def distance_to_manifold(self, xb: np.ndarray) -> np.ndarray:
        """Euclidean distance from each point to the manifold (0 for open sets): `(B,)`."""
        return np.zeros(xb.shape[0])

    def require_inside(self, xb: np.ndarray, name: str, what: str) -> None:
        """Raise `DomainError` (naming `name`) for the first point of `xb` off the manifold
        or outside the domain, with its distance to the manifold."""
        inside = self.in_domain(xb)
        if not np.all(inside):
            b = int(np.argmin(inside))
            dist = self.distance_to_manifold(xb[b : b + 1])[0]
            extra = f" (distance to the manifold {dist:.3e})" if dist > 0 else ""
            raise DomainError(
                f"`{name}` has a point outside {what} on {type(self.space).__name__}: "
                f"{np.array2string(xb[b], precision=6, threshold=8)}{extra}",
                argument=name,
            )

    def project(self, xb):
        """Nearest point on the manifold (identity for open sets): `(B, D)`."""
        return xb

    # -- sampling -----------------------------------------------------------------------
    def _default_sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return rng.uniform(-1.0, 1.0, size=(n, self.point_dim))

    def sample(self, rng: np.random.Generator, n: int, *, max_tries: int = 100) -> np.ndarray:
        """`n` random points of the domain (rejection sampling against `domain`)."""
        draw = self.sampler if self.sampler is not None else self._default_sample
        kept: list[np.ndarray] = []
        count = 0
        for _ in range(max_tries):
            pts = np.asarray(draw(rng, n), dtype=np.float64).reshape(n, self.point_dim)
            pts = pts[self.in_domain(pts) & np.all(np.isfinite(pts), axis=1)]
            kept.append(pts)
            count += pts.shape[0]
            if count >= n:
                return np.concatenate(kept)[:n]
        raise UnsupportedSpaceError(
            f"could not sample {n} points of the domain in {max_tries} rounds "
            f"({count} accepted): pass `sampler=` (rng, n) -> (n, {self.point_dim}) or "
            "explicit `points=`"
        )


class EuclideanGeometry(Geometry):
    """An open subset of `R^D` with the Euclidean metric."""

    kind = "euclidean"

    def sharp(self, xb, covectors):
        return covectors

    def metric_matrix(self, xb):
        return np.broadcast_to(np.eye(self.point_dim), (anp.shape(xb)[0],) + (self.point_dim,) * 2)


class IntrinsicGeometry(Geometry):
    """Intrinsic coordinates with a metric matrix (pullback metric for an immersion)."""

    kind = "intrinsic"

    def __init__(self, space, *, domain=None, sampler=None):
        super().__init__(space, domain=domain, sampler=sampler)
        if isinstance(space, ImmersedSet):
            self._immersion = _autodiff.PointwiseMap(space.immersion, "space.immersion")
        else:
            self._immersion = None

    def immersion_jacobian(self, xb):
        """`dF(z)`: `(B, N, D)` for an immersed set."""
        return _autodiff.jacobian(
            self._immersion, xb, name="space.immersion", tiled=self._immersion.tiles(xb)
        )

    def metric_matrix(self, xb):
        if self._immersion is not None:
            jac = self.immersion_jacobian(xb)
            return anp.einsum("bai,baj->bij", jac, jac)
        return self.space.metric.metric_matrix(xb)

    def sharp(self, xb, covectors):
        solve = getattr(getattr(self.space, "metric", None), "solve", None)
        if solve is not None and not _traced(xb, covectors):  # a structured inverse
            return solve(xb, covectors)
        g = self.metric_matrix(xb)
        return anp.swapaxes(anp.linalg.solve(g, anp.swapaxes(covectors, -1, -2)), -1, -2)

    def in_domain(self, xb):
        inside = super().in_domain(xb)
        try:
            inside &= np.asarray(self.space.belongs(xb), dtype=bool).reshape(-1)
        except NotImplementedError:  # geomstats' ImmersedSet has no membership test
            pass
        return inside


class ExtrinsicGeometry(Geometry):
    """A submanifold of `R^D` in ambient coordinates, with the induced metric."""

    kind = "extrinsic"

    def __init__(self, space, *, domain=None, sampler=None, atol: float = 1e-8):
        super().__init__(space, domain=domain, sampler=sampler)
        self.atol = atol

    def sharp(self, xb, covectors):
        n, k, dim = anp.shape(covectors)
        base = anp.reshape(xb[:, None, :] * np.ones((1, k, 1)), (n * k, dim))
        tangent = self.space.to_tangent(anp.reshape(covectors, (n * k, dim)), base)
        return anp.reshape(tangent, (n, k, dim))

    def metric_matrix(self, xb):
        n = anp.shape(xb)[0]
        eye = np.broadcast_to(np.eye(self.point_dim), (n, self.point_dim, self.point_dim))
        return self.sharp(xb, eye)  # the tangent projection P(x), symmetric

    def project(self, xb):
        return self.space.projection(xb)

    def distance_to_manifold(self, xb):
        return np.linalg.norm(np.asarray(self.project(xb)) - xb, axis=-1)

    def in_domain(self, xb):
        on = self.distance_to_manifold(xb) <= self.atol
        return on & super().in_domain(xb)

    def _default_sample(self, rng, n):
        return np.asarray(self.project(rng.standard_normal((n, self.point_dim))))


def make_geometry(space, *, domain=None, sampler=None) -> Geometry:
    """The `Geometry` for a geomstats space (or an int `D`, meaning `Euclidean(D)`)."""
    if isinstance(space, bool) or space is None:
        raise UnsupportedSpaceError(
            f"`space` must be a geomstats manifold or an int; got {space!r}"
        )
    if isinstance(space, (int, np.integer)):
        if space < 1:
            raise UnsupportedSpaceError(f"`space` as an int must be >= 1; got {space}")
        space = Euclidean(int(space))
    shape = getattr(space, "shape", None)
    if shape is None or not hasattr(space, "dim"):
        raise UnsupportedSpaceError(
            f"`space` must be a geomstats manifold (with .dim and .shape); got "
            f"{type(space).__name__}"
        )
    if len(shape) != 1:
        raise UnsupportedSpaceError(
            f"`space` points must be vectors; {type(space).__name__} has point shape {shape}. "
            "Flatten matrix coordinates into a vector space or an ImmersedSet."
        )
    if isinstance(space, Euclidean):
        return EuclideanGeometry(space, domain=domain, sampler=sampler)
    if isinstance(space, ImmersedSet) or (
        getattr(space, "intrinsic", False)
        and hasattr(getattr(space, "metric", None), "metric_matrix")
    ):
        return IntrinsicGeometry(space, domain=domain, sampler=sampler)
    embedding = getattr(space, "embedding_space", None)
    if isinstance(embedding, Euclidean) and hasattr(space, "to_tangent"):
        return ExtrinsicGeometry(space, domain=domain, sampler=sampler)
    raise UnsupportedSpaceError(
        f"riemflow cannot compute Riemannian gradients on {type(space).__name__}: supported "
        "are geomstats Euclidean, ImmersedSet (pullback metric), spaces in intrinsic "
        "coordinates with a metric_matrix, and submanifolds of a Euclidean space in ambient "
        "coordinates with to_tangent (e.g. Hypersphere)"
    )

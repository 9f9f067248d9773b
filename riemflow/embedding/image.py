"""An embedded image `M = F(K)` in ambient coordinates, and the converse parametrization
`G = F^{-1}` on it as a submanifold of `R^D` ([Concepts: the converse via Nash
embedding](concepts.md#the-converse-via-nash-embedding))."""

from __future__ import annotations

import autograd.numpy as anp
import numpy as np
from autograd.extend import defjvp, defvjp, primitive
from geomstats.geometry.euclidean import Euclidean

from .. import _autodiff
from ..domains import Domain
from ..parametrization import Parametrization
from .base import Embedding

__all__ = ["EmbeddedImage", "ambient_parametrization"]


class EmbeddedImage:
    """`M = F(K)` as a submanifold of `R^D` in ambient coordinates (for `ExtrinsicGeometry`).

    `coordinates(X)` is the nearest-point map `X -> argmin_w |F(w) - X|` (Gauss-Newton from
    the embedding's `initial_coordinates(X)` when it has them, else from the nearest of the
    points of a sample of `M` and of the last points solved for), an
    autograd primitive whose derivative on `M` is `dF (dF^T dF)^{-1}` ([Concepts: the
    converse via Nash embedding](concepts.md#the-converse-via-nash-embedding)); `to_tangent`
    projects onto `span dF` and `projection` is `F o coordinates`.

    Args:
        embedding: `F`.
        region: its domain `K`.
        grid: the sample of `M` has `min(grid^d, max_grid)` points.
        max_grid: see `grid`.
        memory: how many recent solutions are kept as starting points (a flow asks for
            points next to the last ones).
    """

    intrinsic = False

    def __init__(
        self,
        embedding: Embedding,
        region: Domain,
        *,
        grid: int = 12,
        max_grid: int = 4096,
        memory: int = 64,
    ):
        self.embedding = embedding
        self.region = region
        self.dim = embedding.dim
        self.shape = (embedding.ambient_dim,)
        self.embedding_space = Euclidean(embedding.ambient_dim)
        size = int(min(float(grid) ** self.dim, max_grid))
        self._grid = region.sample(np.random.default_rng(0), size)
        self._grid_images = np.asarray(embedding(self._grid))
        self._memory = memory
        self._recent = (np.zeros((0, self.dim)), np.zeros((0, embedding.ambient_dim)))
        self.coordinates = self._make_coordinates()

    def _jacobian(self, w):
        """`dF(w)` `(B, D, d)`: the embedding's closed form when it has one that autograd can
        trace, its own `jacobian` on plain arrays, else autograd (one reverse pass per
        ambient coordinate: slow for large `D`)."""
        traced = getattr(self.embedding, "jacobian_traced", None)
        if traced is not None:
            return traced(w)
        if isinstance(w, np.ndarray):
            return np.asarray(self.embedding.jacobian(w))
        return _autodiff.jacobian(lambda z: self.embedding(z), w, name="F")

    def _start(self, X: np.ndarray) -> np.ndarray:
        """Where Gauss-Newton starts: the embedding's own guess (`initial_coordinates`, e.g.
        the linear part of a spiral embedding, exact on `M`) when it has one, else the
        nearest of the sample of `M` and of the last points solved for."""
        guess = getattr(self.embedding, "initial_coordinates", None)
        if guess is not None:
            return np.asarray(guess(X), dtype=np.float64)
        candidates = np.vstack([self._recent[0], self._grid])
        images = np.vstack([self._recent[1], self._grid_images])
        nearest = np.empty(X.shape[0], dtype=int)
        for start in range(0, X.shape[0], 256):
            gaps = np.sum((X[start : start + 256, None, :] - images[None, :, :]) ** 2, axis=-1)
            nearest[start : start + 256] = np.argmin(gaps, axis=1)
        return candidates[nearest].copy()

    def _solve(self, X: np.ndarray) -> np.ndarray:
        w = self._start(X)
        for _ in range(50):
            J = np.asarray(self.embedding.jacobian(w))
            gap = X - np.asarray(self.embedding(w))
            step = np.linalg.solve(
                np.einsum("bai,baj->bij", J, J), np.einsum("bai,ba->bi", J, gap)[..., None]
            )[..., 0]
            w = w + step
            if np.max(np.abs(step)) <= 1e-15 * max(1.0, float(np.max(np.abs(w)))):
                break
        keep = self._memory
        self._recent = (
            np.vstack([w, self._recent[0]])[:keep],
            np.vstack([np.asarray(self.embedding(w)), self._recent[1]])[:keep],
        )
        return w

    def _lift(self, w, g):
        """`dF (dF^T dF)^{-1} g`: a coordinate covector to its tangent vector in `R^D`."""
        single = anp.ndim(w) == 1
        wb = anp.reshape(w, (1, -1)) if single else w
        gb = anp.reshape(g, (1, -1)) if single else g
        J = self._jacobian(wb)
        coeff = anp.linalg.solve(anp.einsum("bai,baj->bij", J, J), gb[..., None])[..., 0]
        out = anp.einsum("bai,bi->ba", J, coeff)
        return out[0] if single else out

    def _lower(self, w, v):
        """`(dF^T dF)^{-1} dF^T v`: the coordinates of the tangent part of `v` in `R^D`."""
        single = anp.ndim(w) == 1
        wb = anp.reshape(w, (1, -1)) if single else w
        vb = anp.reshape(v, (1, -1)) if single else v
        J = self._jacobian(wb)
        rhs = anp.einsum("bai,ba->bi", J, vb)[..., None]
        out = anp.linalg.solve(anp.einsum("bai,baj->bij", J, J), rhs)[..., 0]
        return out[0] if single else out

    def _make_coordinates(self):
        @primitive
        def coordinates(X):
            arr = np.asarray(X, dtype=np.float64)
            rows = arr[None, :] if arr.ndim == 1 else arr
            w = self._solve(rows)
            return w[0] if arr.ndim == 1 else w

        defvjp(coordinates, lambda ans, X: lambda g: self._lift(ans, g))
        defjvp(coordinates, lambda g, ans, X: self._lower(ans, g))
        return coordinates

    # the interface ExtrinsicGeometry uses
    def projection(self, point):
        return self.embedding(self.coordinates(point))

    def to_tangent(self, vector, base_point):
        w = self.coordinates(base_point)
        single = anp.ndim(w) == 1
        wb = anp.reshape(w, (1, -1)) if single else w
        coordinates = anp.reshape(self._lower(w, vector), anp.shape(wb))
        out = anp.einsum("bai,bi->ba", self._jacobian(wb), coordinates)  # J (J^T J)^-1 J^T v
        return out[0] if single else out

    def belongs(self, point, atol=1e-8):
        X = np.atleast_2d(np.asarray(point, dtype=np.float64))
        return np.linalg.norm(np.asarray(self.projection(X)) - X, axis=-1) <= atol

    def random_point(self, n_samples=1):
        pts = np.asarray(self.embedding(self.region.sample(np.random.default_rng(), n_samples)))
        return pts[0] if n_samples == 1 else pts


def ambient_parametrization(
    embedding: Embedding, region: Domain, name: str = "R", *, then=None, point_over=None
) -> Parametrization:
    """`G = F^{-1}` on `M = F(K)` in the coordinates of `R^D`: gradients are ambient
    gradients projected onto `T M = span dF`, and descent steps are retracted onto `M` by
    the nearest-point map.

    Args:
        embedding: `F` on `K`.
        region: `K`.
        name: the potential's name (for labels).
        then: optional map applied to the coordinates (`G = then o F^{-1}`: a chart `phi`
            when `F` lives on the box of a chart).
        point_over: optional `w -> coordinates` (the inverse of `then`); start points are
            `F(point_over(w))`.

    Returns:
        A `Parametrization` on the `EmbeddedImage`; its `point_over(w)` is the point of `M`
        over `w`.
    """
    image = EmbeddedImage(embedding, region)
    to_coordinates = point_over or (lambda w: np.asarray(w, dtype=np.float64))

    def inside(X):
        return np.asarray(region.contains(np.atleast_2d(image.coordinates(X))))

    def fn(X):
        w = image.coordinates(X)
        return w if then is None else then(w)

    return Parametrization(
        fn,
        image,
        name=f"F^-1 on F(K) in R^{embedding.ambient_dim} ({name})",
        domain=inside,
        sampler=lambda rng, n: np.asarray(embedding(region.sample(rng, n))),
        vectorized=True,
        point_over=lambda w: np.asarray(embedding(to_coordinates(w))),
    )

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
    the nearest point of a grid), an autograd primitive whose derivative on `M` is
    `dF (dF^T dF)^{-1}` ([Concepts: the converse via Nash
    embedding](concepts.md#the-converse-via-nash-embedding)); `to_tangent` projects onto `span dF`
    and `projection` is `F o coordinates`.
    """

    intrinsic = False

    def __init__(self, embedding: Embedding, region: Domain, *, grid: int = 12):
        self.embedding = embedding
        self.region = region
        self.dim = embedding.dim
        self.shape = (embedding.ambient_dim,)
        self.embedding_space = Euclidean(embedding.ambient_dim)
        self._grid = region.sample(np.random.default_rng(0), grid**self.dim)
        self._grid_images = np.asarray(embedding(self._grid))
        self.coordinates = self._make_coordinates()

    def _jacobian(self, w):
        return _autodiff.jacobian(lambda z: self.embedding(z), w, name="F")  # (B, D, d)

    def _solve(self, X: np.ndarray) -> np.ndarray:
        candidates, images = self._grid, self._grid_images
        nearest = np.argmin(np.sum((X[:, None, :] - images[None, :, :]) ** 2, axis=-1), axis=1)
        w = candidates[nearest].copy()
        for _ in range(50):
            J = np.asarray(self.embedding.jacobian(w))
            gap = X - np.asarray(self.embedding(w))
            step = np.linalg.solve(
                np.einsum("bai,baj->bij", J, J), np.einsum("bai,ba->bi", J, gap)[..., None]
            )[..., 0]
            w = w + step
            if np.max(np.abs(step)) <= 1e-15 * max(1.0, float(np.max(np.abs(w)))):
                break
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


def ambient_parametrization(P) -> Parametrization:
    """`G = F^{-1}` on `M = F(K)` in the coordinates of `R^D`: gradients are ambient
    gradients projected onto `T M = span dF`, and descent steps are retracted onto `M` by
    the nearest-point map. Start points are `P.embedding(w0)` (see `point_over`)."""
    image = EmbeddedImage(P.embedding, P.region)

    def inside(X):
        return np.asarray(P.region.contains(np.atleast_2d(image.coordinates(X))))

    return Parametrization(
        image.coordinates,
        image,
        name=f"F^-1 on F(K) in R^{P.ambient_dim} ({P.legendre.name})",
        domain=inside,
        sampler=lambda rng, n: np.asarray(P.embedding(P.region.sample(rng, n))),
        vectorized=True,
        point_over=lambda w: np.asarray(P.embedding(np.asarray(w, dtype=np.float64))),
    )

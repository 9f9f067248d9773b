"""Riemannian gradients on geomstats manifolds, with points of any shape (private).

A `Geometry` turns Euclidean differentials of maps on the points of a manifold `M` into
Riemannian gradients for the manifold's own metric, batched and autograd-differentiable
([Concepts: parametrizations and gradient flow](concepts.md#parametrizations-and-gradient-flow)).

Points of shape `point_shape` (`(D,)` for vectors, `(n, k)` for matrices, `(k, n)` for a
stacked product, ...) are handled as their row-major flattening `x in R^N`,
`N = prod(point_shape)`: a representation only, the metric is geomstats'. Every method takes
flat batches, points `(B, N)` and covectors `(B, k, N)`; `points` validates point-shaped
input into a flat batch and `shaped` gives results their point shape back. The kinds:

- `EuclideanGeometry`: an open subset of `R^D`, metric `I`; `grad f = df`.
- `IntrinsicGeometry`: intrinsic coordinates `z` with a metric matrix `g(z)`; for a
  geomstats `ImmersedSet` it is the pullback metric `g = dF^T dF` of the immersion `F`,
  computed with one batched autograd Jacobian; `grad f = g^{-1} df`.
- `ExtrinsicGeometry`: a submanifold of `R^D` in ambient coordinates with the metric
  induced by the Euclidean one (geomstats `Hypersphere`); `grad f = P(x) df` with `P` the
  orthogonal projection onto the tangent space (geomstats' `to_tangent`).
- `SubspaceGeometry`: an open subset of a linear subspace `V` of `R^N` (geomstats
  `VectorSpace`, `VectorSpaceOpenSet`: `Matrices`, `SPDMatrices` with `V` the symmetric
  matrices, `PoincareHalfSpace`, ...) with any metric. With `B: (m, N)` an orthonormal
  basis of `V` (the range of `to_tangent`) and `g_ab(x) = <B_a, B_b>_x` (geomstats'
  `inner_product`), `grad f = B^T g(x)^{-1} B df`.
- `EmbeddedGeometry`: a submanifold of `R^N` (geomstats `LevelSet`: `Stiefel`,
  `SpecialOrthogonal(n)`, the hyperboloid) with any metric on it, which need not be the
  induced one (Stiefel's canonical metric, the bi-invariant metric `tr(U^T V) / 2` of
  SO(n), the hyperboloid's Minkowski metric). With `P(x)` the tangent projector
  (`to_tangent`, not necessarily orthogonal) and `H_ab = <P e_a, P e_b>_x`,
  `grad f = A^{-1} P^T df` with `A = H + (I - P)^T (I - P)`: `A` is invertible and maps
  `T_x M` to itself, so this is the unique tangent `X` with `<X, v>_x = df[v]` for all
  `v in T_x M`.
- `ProductGeometry`: `ProductManifold` and `NFoldManifold` (either geomstats layout,
  concatenated `(sum N_i,)` or stacked `(k, *shape)`, flattens to the concatenation of
  the factors' points): the factors' geometries on consecutive blocks.

For the common metrics a closed form of the same gradient replaces the generic
`inner_product` route (faster, and matrix products only, so forward-mode derivatives work):

| space, metric | `grad f` (`S = sym(D)`, `D` the differential as a matrix) |
|---|---|
| `Matrices` (Frobenius) | `D` |
| `SPDMatrices`, affine-invariant | `P S P` |
| `SPDMatrices`, Bures-Wasserstein | `2 (P S + S P)` |
| `SPDMatrices`, log-Euclidean | `Q (Q^T S Q / Phi^2) Q^T` (`Phi`: divided differences of `log`) |
| `Stiefel`, canonical; `SpecialOrthogonal(n)`, bi-invariant | `D - Y D^T Y` |
| hyperboloid, Minkowski | `to_tangent(J D)`, `J = diag(-1, 1, ..., 1)` |

`make_geometry` keeps the first three kinds for the vector spaces they describe (their
numbers do not change), and checks every subspace and embedded route it builds, closed
form or generic, against the defining identity `<grad f, v>_x = df[v]` with geomstats'
own `inner_product` at sample points; it refuses a space (`UnsupportedSpaceError`) naming
the geomstats method that is missing or fails. Lie brackets of tangent fields computed in
ambient coordinates do not depend on how the fields are extended off `M` (or off `V`), so
brackets in these coordinates are the intrinsic ones.
"""

from __future__ import annotations

import math
import warnings

import autograd.numpy as anp
import numpy as np
from autograd import grad as autograd_grad
from geomstats.geometry.base import ImmersedSet, LevelSet, OpenSet, VectorSpace
from geomstats.geometry.complex_manifold import ComplexManifold
from geomstats.geometry.euclidean import Euclidean, EuclideanMetric
from geomstats.geometry.hyperboloid import Hyperboloid, HyperboloidMetric
from geomstats.geometry.invariant_metric import BiInvariantMetric
from geomstats.geometry.lie_group import MatrixLieGroup
from geomstats.geometry.matrices import Matrices, MatricesMetric
from geomstats.geometry.nfold_manifold import NFoldManifold, NFoldMetric
from geomstats.geometry.product_manifold import ProductManifold, ProductRiemannianMetric
from geomstats.geometry.spd_matrices import (
    SPDAffineMetric,
    SPDBuresWassersteinMetric,
    SPDLogEuclideanMetric,
    SPDMatrices,
)
from geomstats.geometry.stiefel import Stiefel, StiefelCanonicalMetric

from . import _autodiff
from ._validation import as_float_array, as_point, as_points, check_finite, check_magnitude
from .errors import (
    DivergenceError,
    DomainError,
    NotDifferentiableError,
    ShapeError,
    UnsupportedSpaceError,
)

__all__ = ["Geometry", "make_geometry", "apply_predicate"]

# relative tolerance of the construction check `<grad f, v>_x = df[v]` (observed <= 1e-13
# on every supported space; a wrong metric or closed form is off by O(1))
IDENTITY_RTOL = 1e-9


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


def _swap(a):
    return anp.swapaxes(a, -1, -2)


def _sym(m):
    return 0.5 * (m + _swap(m))


def _seeded(fn, seed: int):
    """Call `fn()` with numpy's global RNG seeded (geomstats samples from it), restoring it."""
    state = np.random.get_state()  # noqa: NPY002 (geomstats draws from the global RNG)
    try:
        np.random.seed(seed)  # noqa: NPY002
        return fn()
    finally:
        np.random.set_state(state)  # noqa: NPY002


def _describe(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text[:160]}"


def _space_name(space) -> str:
    return f"{type(space).__name__}{tuple(int(s) for s in space.shape)}"


class Geometry:
    """Base class: a space whose points have shape `point_shape` (`N` coordinates),
    of manifold dimension `dim`.

    Attributes:
        kind: `"euclidean"`, `"intrinsic"`, `"extrinsic"`, `"subspace"`, `"embedded"` or
            `"product"`.
        route: how gradients are computed (for reports and errors).
        point_shape: the shape of a point; point_dim: `N`; dim: `m`.
    """

    kind = "abstract"
    route = "abstract"

    def __init__(self, space, *, domain=None, sampler=None):
        self.space = space
        self.domain = domain
        self.sampler = sampler
        self.point_shape = tuple(int(s) for s in space.shape)
        self.point_dim = int(math.prod(self.point_shape))
        self.dim = int(space.dim)

    # -- shapes -------------------------------------------------------------------------
    def flatten(self, x):
        """`(..., *point_shape) -> (..., N)` (autograd-traceable)."""
        lead = anp.shape(x)[: anp.ndim(x) - len(self.point_shape)]
        return anp.reshape(x, tuple(lead) + (self.point_dim,))

    def unflatten(self, xf):
        """`(..., N) -> (..., *point_shape)` (autograd-traceable)."""
        return anp.reshape(xf, tuple(anp.shape(xf)[:-1]) + self.point_shape)

    def points(self, value, name: str) -> tuple[np.ndarray, bool]:
        """A point `point_shape` or a batch `(B, *point_shape)` as a finite flat `(B, N)`
        batch, and whether it was a single point.

        Raises:
            ShapeError, NonFiniteError: malformed input (named `name`).
        """
        if len(self.point_shape) == 1:
            return as_points(value, name, self.point_dim)
        arr = as_float_array(value, name)
        shape = self.point_shape
        single = arr.shape == shape
        if not single and not (arr.ndim == len(shape) + 1 and arr.shape[1:] == shape):
            raise ShapeError(
                f"`{name}` must be a point of shape {shape} or a batch of shape "
                f"(B, {', '.join(map(str, shape))}); got shape {arr.shape}",
                argument=name,
            )
        batch = arr[None] if single else arr
        if batch.shape[0] == 0:
            raise ShapeError(f"`{name}` is an empty batch (shape {arr.shape})", argument=name)
        batch = check_magnitude(check_finite(batch, name), name)
        return batch.reshape(batch.shape[0], self.point_dim), single

    def one_point(self, value, name: str) -> np.ndarray:
        """One point of shape `point_shape` (a batch is refused), finite.

        Raises:
            ShapeError, NonFiniteError: malformed input (named `name`).
        """
        if len(self.point_shape) == 1:
            return as_point(value, name, self.point_dim)
        xb, single = self.points(value, name)
        if not single:
            raise ShapeError(
                f"`{name}` must be one point of shape {self.point_shape}; got a batch of "
                f"{xb.shape[0]}",
                argument=name,
            )
        return xb[0].reshape(self.point_shape)

    def require_inside(self, xb: np.ndarray, name: str, owner: str) -> None:
        """Raise `DomainError` (naming `name`) at the first point of the flat batch `xb`
        off the manifold or outside the domain of the map `owner`."""
        inside = self.in_domain(xb)
        if np.all(inside):
            return
        b = int(np.argmin(inside))
        dist = self.distance_to_manifold(xb[b : b + 1])[0]
        extra = f" (distance to the manifold {dist:.3e})" if dist > 0 else ""
        point = np.array2string(np.asarray(self.unflatten(xb[b])), precision=6, threshold=8)
        raise DomainError(
            f"`{name}` has a point outside the domain of {owner} on "
            f"{type(self.space).__name__}: {point}{extra}",
            argument=name,
        )

    def shaped(self, arr, single: bool, point_axes: int = 0) -> np.ndarray:
        """A flat result as the public arrays have it: the last axis `N` back to
        `point_shape` when `point_axes`, the batch axis removed for a single point."""
        arr = np.asarray(arr, dtype=np.float64)
        if point_axes and len(self.point_shape) > 1:
            arr = arr.reshape(arr.shape[:-1] + self.point_shape)
        return arr[0] if single else arr

    # -- calculus -----------------------------------------------------------------------
    def sharp(self, xb, covectors):
        """Riemannian gradients from differentials: `(B, N), (B, k, N) -> (B, k, N)`."""
        raise NotImplementedError

    def metric_matrix(self, xb):
        """Metric matrix in the coordinates of the points: `(B, N, N)`."""
        raise NotImplementedError(f"no metric matrix on the {self.kind} route")

    def inner(self, xb, u, v):
        """geomstats' `<u, v>_x` on flat batches `(B, N)`: `(B,)` (the ground truth the
        routes are checked against)."""
        X, U, V = self.unflatten(xb), self.unflatten(u), self.unflatten(v)
        return anp.reshape(self.space.metric.inner_product(U, V, X), (-1,))

    def to_tangent(self, xb, vb):
        """geomstats' tangent projection of flat vectors `(B, N)` at points `(B, N)`."""
        return self.flatten(self.space.to_tangent(self.unflatten(vb), self.unflatten(xb)))

    def check_differentiable(self, xb) -> None:
        """Raise `NotDifferentiableError` naming geomstats' metric if autograd cannot
        differentiate `sharp` at `xb` (the Lie brackets need it); a no-op for the routes
        that never call geomstats' metric."""
        return None

    # -- membership and retraction ---------------------------------------------------------
    def in_domain(self, xb: np.ndarray) -> np.ndarray:
        """Whether each point is in the user-given open domain: `(B,)` bool."""
        if self.domain is None:
            return np.ones(xb.shape[0], dtype=bool)
        return apply_predicate(self.domain, np.asarray(self.unflatten(xb)))

    def distance_to_manifold(self, xb: np.ndarray) -> np.ndarray:
        """Euclidean distance from each point to the manifold (0 for open sets): `(B,)`."""
        return np.zeros(xb.shape[0])

    def project(self, xb):
        """Nearest point on the manifold (identity for open sets): `(B, N)`."""
        return xb

    @property
    def retracts(self) -> bool:
        """Whether points can leave `M` in `R^N` (so flows measure drift and retract)."""
        return False

    def flow_point(self, x: np.ndarray) -> np.ndarray:
        """Where a flow evaluates its velocity for the integrator's state `x: (N,)`: the
        state itself here; on the new embedded and subspace routes its retraction onto
        `M`, where geomstats' tangent projections are defined."""
        return x

    def exp(self, xb, vb) -> np.ndarray:
        """The Riemannian exponential `exp_x(v)` (geomstats' `metric.exp`): `(B, N)`.

        Raises:
            UnsupportedSpaceError: geomstats' `metric.exp` fails on this space.
        """
        metric = getattr(self.space, "metric", None)
        if metric is None:
            raise UnsupportedSpaceError(
                f"{type(self.space).__name__} has no geomstats metric, so no exponential "
                "map; use step='projection'"
            )
        try:
            out = metric.exp(self.unflatten(np.asarray(vb)), self.unflatten(np.asarray(xb)))
            return np.asarray(self.flatten(out), dtype=np.float64).reshape(np.shape(xb))
        except Exception as exc:
            raise UnsupportedSpaceError(
                f"geomstats' {type(metric).__name__}.exp failed on {_space_name(self.space)} "
                f"({_describe(exc)}); use step='projection'"
            ) from exc

    # -- sampling -----------------------------------------------------------------------
    def _default_sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return rng.uniform(-1.0, 1.0, size=(n, self.point_dim))

    def sample(self, rng: np.random.Generator, n: int, *, max_tries: int = 100) -> np.ndarray:
        """`n` random points of the domain, flat `(n, N)` (rejection against `domain`)."""
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
        shape = ", ".join(map(str, self.point_shape))
        raise UnsupportedSpaceError(
            f"could not sample {n} points of the domain in {max_tries} rounds "
            f"({count} accepted): pass `sampler=` (rng, n) -> (n, {shape}) or "
            "explicit `points=`"
        )

    def describe(self) -> str:
        """The space, its point shape and the route, for messages."""
        return f"{_space_name(self.space)} [{self.route}]"


class EuclideanGeometry(Geometry):
    """An open subset of `R^D` with the Euclidean metric."""

    kind = "euclidean"
    route = "Euclidean metric (identity)"

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
            self.route = "pullback metric dF^T dF of the immersion"
        else:
            self._immersion = None
            self.route = "geomstats metric_matrix"

    def exp(self, xb, vb):
        if self._immersion is not None:
            raise UnsupportedSpaceError(
                "geomstats' PullbackMetric.exp integrates geodesics with a fixed number of "
                "Euler steps (no tolerance riemflow could report); use step='projection'"
            )
        return super().exp(xb, vb)

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
    route = "orthogonal tangent projection (induced metric)"

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

    @property
    def retracts(self) -> bool:
        return True

    def in_domain(self, xb):
        on = self.distance_to_manifold(xb) <= self.atol
        return on & super().in_domain(xb)

    def _default_sample(self, rng, n):
        return np.asarray(self.project(rng.standard_normal((n, self.point_dim))))


# -- the routes for any metric and any point shape -------------------------------------------
class _MetricGeometry(Geometry):
    """Shared by the routes that read geomstats' metric: the closed form (when one is
    registered and passed the construction check), membership, sampling, retraction."""

    def __init__(self, space, *, domain=None, sampler=None, atol: float = 1e-8):
        super().__init__(space, domain=domain, sampler=sampler)
        self.atol = atol
        self.closed_form = None

    def sharp(self, xb, covectors):
        if self.closed_form is not None:
            return self.closed_form(self, xb, covectors)
        return self.generic_sharp(xb, covectors)

    def generic_sharp(self, xb, covectors):
        """The gradients from geomstats' `inner_product` and `to_tangent` only."""
        raise NotImplementedError

    def _pairs_inner(self, xb, U, V):
        """`<U[:, p], V[:, p]>_x` for `U, V: (B, p, N)`: `(B, p)`, one geomstats call."""
        n, p = anp.shape(U)[0], anp.shape(U)[1]
        X = self.unflatten(xb)
        reps = anp.reshape(
            X[:, None] * np.ones((1, p) + (1,) * len(self.point_shape)),
            (n * p,) + self.point_shape,
        )
        Ua = anp.reshape(U, (n * p,) + self.point_shape)
        Vb = anp.reshape(V, (n * p,) + self.point_shape)
        return anp.reshape(self.space.metric.inner_product(Ua, Vb, reps), (n, p))

    def check_differentiable(self, xb) -> None:
        c = np.random.default_rng(1).standard_normal((1, 2, self.point_dim))
        x = np.asarray(xb, dtype=np.float64)[:1]
        reason = None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                g = autograd_grad(lambda z: anp.sum(anp.sin(self.sharp(z, c))))(x)
                if not np.all(np.isfinite(g)):
                    reason = "non-finite derivative"
            except Exception as exc:
                reason = _describe(exc)
        if reason is not None:
            metric = type(self.space.metric).__name__
            raise NotDifferentiableError(
                f"the Lie brackets need derivatives of the Riemannian gradients on "
                f"{self.describe()}, but autograd cannot differentiate geomstats' "
                f"{metric}.inner_product / to_tangent there ({reason}); values, gradient "
                "fields, kernels and flows still work"
            )

    @property
    def retracts(self) -> bool:
        return True

    def distance_to_manifold(self, xb):
        xb = np.asarray(xb, dtype=np.float64)
        return np.linalg.norm(np.asarray(self.project(xb)) - xb, axis=-1)

    def flow_point(self, x):
        p = np.asarray(self.project(x[None]), dtype=np.float64)
        if not self.in_domain(p)[0]:
            raise DivergenceError(
                f"a trial step left {self.describe()}", t_reached=float("nan"), reason="left domain"
            )
        return p[0]

    def _default_sample(self, rng, n):
        seed = int(rng.integers(2**31 - 1))
        pts = _seeded(lambda: self.space.random_point(n_samples=n), seed)
        return np.asarray(pts, dtype=np.float64).reshape(n, self.point_dim)


class SubspaceGeometry(_MetricGeometry):
    """An open subset of a linear subspace `V` of `R^N` (the range of geomstats'
    `to_tangent`, a constant projector), with geomstats' metric."""

    kind = "subspace"

    def __init__(self, space, basis: np.ndarray, *, domain=None, sampler=None):
        super().__init__(space, domain=domain, sampler=sampler)
        self.basis = basis  # (m, N), orthonormal rows spanning V
        self.full = basis.shape[0] == self.point_dim
        self.projector = basis.T @ basis
        self.route = (
            f"geomstats inner_product on an orthonormal basis of the tangent space "
            f"(dim {basis.shape[0]} in R^{self.point_dim})"
        )
        m = basis.shape[0]
        ia, ib = np.triu_indices(m)
        self._pairs = (ia, ib)
        scatter = np.zeros((ia.size, m, m))
        scatter[np.arange(ia.size), ia, ib] = 1.0
        scatter[np.arange(ia.size), ib, ia] = 1.0
        self._scatter = scatter

    def gram(self, xb):
        """`g_ab(x) = <B_a, B_b>_x`: `(B, m, m)` (geomstats `inner_product`)."""
        n = anp.shape(xb)[0]
        ia, ib = self._pairs
        Ua = np.broadcast_to(self.basis[ia][None], (n, ia.size, self.point_dim))
        Ub = np.broadcast_to(self.basis[ib][None], (n, ia.size, self.point_dim))
        return anp.einsum("bp,pij->bij", self._pairs_inner(xb, Ua, Ub), self._scatter)

    def generic_sharp(self, xb, covectors):
        coeff = anp.einsum("aN,bkN->bak", self.basis, covectors)  # (B, m, k)
        return anp.einsum("bak,aN->bkN", _autodiff.solve(self.gram(xb), coeff), self.basis)

    def project(self, xb):
        if self.full:
            return xb
        return anp.einsum("ij,bj->bi", self.projector, xb)

    def distance_to_manifold(self, xb):
        if self.full:
            return np.zeros(np.shape(xb)[0])
        return super().distance_to_manifold(xb)

    @property
    def retracts(self) -> bool:
        return not self.full

    @property
    def whole(self) -> bool:
        """Whether the space is all of `R^N` (a geomstats `VectorSpace` of full rank, such as
        `Matrices`): no membership test, no retraction."""
        return self.full and isinstance(self.space, VectorSpace)

    def flow_point(self, x):
        if self.whole and self.domain is None:
            return x
        return super().flow_point(x)

    def _belongs(self, xb):
        xb = np.asarray(xb, dtype=np.float64)
        if self.whole:
            return np.ones(xb.shape[0], dtype=bool)
        scale = 1.0 + np.max(np.abs(xb), axis=1)
        near = self.distance_to_manifold(xb) <= self.atol * scale
        X = np.asarray(self.unflatten(np.asarray(self.project(xb))))
        if isinstance(self.space, SPDMatrices):  # geomstats' is_pd loops over matrices
            return near & (np.linalg.eigvalsh(_sym(X))[..., 0] > 0)
        try:
            out = np.asarray(self.space.belongs(X), dtype=bool).reshape(-1)
            if out.shape == (xb.shape[0],):
                return near & out
        except Exception:  # spaces without a (vectorised) membership test
            pass
        return near

    def in_domain(self, xb):
        return self._belongs(xb) & super().in_domain(xb)

    def _default_sample(self, rng, n):
        if isinstance(self.space, SPDMatrices):  # well-conditioned, spread eigenvalues
            k = self.space.n
            A = rng.standard_normal((n, k, k)) / np.sqrt(k)
            return (A @ np.swapaxes(A, 1, 2) + 0.5 * np.eye(k)).reshape(n, -1)
        return super()._default_sample(rng, n)


class EmbeddedGeometry(_MetricGeometry):
    """A submanifold of `R^N` (geomstats `LevelSet`) with geomstats' metric on it."""

    kind = "embedded"

    def __init__(self, space, *, domain=None, sampler=None):
        super().__init__(space, domain=domain, sampler=sampler)
        self.route = "geomstats inner_product and to_tangent projector"
        N = self.point_dim
        ia, ib = np.triu_indices(N)
        self._pairs = (ia, ib)
        scatter = np.zeros((ia.size, N, N))
        scatter[np.arange(ia.size), ia, ib] = 1.0
        scatter[np.arange(ia.size), ib, ia] = 1.0
        self._scatter = scatter

    def tangent_columns(self, xb):
        """`T[b, a] = to_tangent(e_a, x_b)`, i.e. `P(x)^T`: `(B, N, N)`."""
        n, N = anp.shape(xb)[0], self.point_dim
        reps = anp.reshape(xb[:, None, :] * np.ones((1, N, 1)), (n * N, N))
        E = np.reshape(np.broadcast_to(np.eye(N)[None], (n, N, N)), (n * N, N))
        return anp.reshape(self.to_tangent(reps, E), (n, N, N))

    def gram(self, xb, T=None):
        """`H_ab = <P e_a, P e_b>_x`: `(B, N, N)`."""
        T = self.tangent_columns(xb) if T is None else T
        ia, ib = self._pairs
        return anp.einsum("bp,pij->bij", self._pairs_inner(xb, T[:, ia], T[:, ib]), self._scatter)

    def generic_sharp(self, xb, covectors):
        T = self.tangent_columns(xb)  # rows a: P e_a
        normal = np.eye(self.point_dim) - T  # (I - P)^T
        A = self.gram(xb, T) + anp.einsum("bij,bkj->bik", normal, normal)
        rhs = anp.einsum("bai,bki->bak", T, covectors)  # P^T c: (B, N, k)
        return _swap(_autodiff.solve(A, rhs))

    def project(self, xb):
        return self.flatten(self.space.projection(self.unflatten(xb)))

    def in_domain(self, xb):
        on = self.distance_to_manifold(xb) <= self.atol
        return on & super().in_domain(xb)

    def _default_sample(self, rng, n):
        return np.asarray(self.project(super()._default_sample(rng, n)), dtype=np.float64)


class ProductGeometry(Geometry):
    """`ProductManifold` / `NFoldManifold`: factor geometries on consecutive blocks."""

    kind = "product"

    def __init__(self, space, factors: list[Geometry], *, scales=None, domain=None, sampler=None):
        super().__init__(space, domain=domain, sampler=sampler)
        self.factors = factors
        self.scales = [1.0] * len(factors) if scales is None else [float(a) for a in scales]
        sizes = [f.point_dim for f in factors]
        if sum(sizes) != self.point_dim:
            raise UnsupportedSpaceError(
                f"{_space_name(space)}: the point shape does not match the factors' "
                f"flattened sizes {sizes}"
            )
        self.bounds = np.cumsum([0] + sizes)
        self.route = "product of [" + "; ".join(f.describe() for f in factors) + "]"

    def blocks(self, arr):
        """The factors' parts of a flat array `(..., N)`."""
        return [arr[..., a:b] for a, b in zip(self.bounds[:-1], self.bounds[1:], strict=True)]

    def _each(self, method, *arrays):
        parts = zip(self.factors, *(self.blocks(a) for a in arrays), strict=True)
        return [getattr(f, method)(*blocks) for f, *blocks in parts]

    def sharp(self, xb, covectors):
        parts = self._each("sharp", xb, covectors)
        return anp.concatenate([p / a for p, a in zip(parts, self.scales, strict=True)], axis=-1)

    def check_differentiable(self, xb) -> None:
        for f, x in zip(self.factors, self.blocks(np.asarray(xb)), strict=True):
            f.check_differentiable(x)

    def to_tangent(self, xb, vb):
        return anp.concatenate(self._each("to_tangent", xb, vb), axis=-1)

    def inner(self, xb, u, v):
        parts = self._each("inner", xb, u, v)
        return sum(a * p for a, p in zip(self.scales, parts, strict=True))

    def project(self, xb):
        return anp.concatenate(self._each("project", xb), axis=-1)

    def distance_to_manifold(self, xb):
        parts = self._each("distance_to_manifold", np.asarray(xb))
        return np.sqrt(np.sum(np.square(parts), axis=0))

    @property
    def retracts(self) -> bool:
        return any(f.retracts for f in self.factors)

    def flow_point(self, x):
        return np.concatenate(self._each("flow_point", x))

    def in_domain(self, xb):
        xb = np.asarray(xb, dtype=np.float64)
        inside = np.all(np.stack(self._each("in_domain", xb)), axis=0)
        return inside & super().in_domain(xb)

    def exp(self, xb, vb):
        return np.concatenate(self._each("exp", np.asarray(xb), np.asarray(vb)), axis=-1)

    def _default_sample(self, rng, n):
        return np.concatenate([f.sample(rng, n) for f in self.factors], axis=-1)


# -- closed forms (each checked at construction against geomstats' inner_product) ------------
def _matrices(geom, xb, covectors):
    """Points `(B, 1, *shape)` and covectors `(B, k, *shape)` as matrices."""
    return geom.unflatten(xb)[:, None], geom.unflatten(covectors)


def _identity(geom, xb, covectors):
    return covectors


def _spd_affine(geom, xb, covectors):
    P, C = _matrices(geom, xb, covectors)
    return geom.flatten(P @ _sym(C) @ P)


def _spd_bures_wasserstein(geom, xb, covectors):
    P, C = _matrices(geom, xb, covectors)
    S = _sym(C)
    return geom.flatten(2.0 * (P @ S + S @ P))


def _log_divided_differences(lam, rtol: float = 1e-9):
    """`Phi_ij = (log l_i - log l_j) / (l_i - l_j)`, and `2 / (l_i + l_j)` on (near-)ties.

    Both branches are finite, so `where` passes no NaN to the derivative; the tie value
    differs from the limit by `O(gap^2)`. Derivatives through `eigh` are still singular at
    exact ties (the Lie brackets refuse such points)."""
    li, lj = lam[..., :, None], lam[..., None, :]
    gap = li - lj
    close = anp.abs(gap) <= rtol * anp.maximum(anp.abs(li), anp.abs(lj))
    ratio = (anp.log(li) - anp.log(lj)) / anp.where(close, 1.0, gap)
    return anp.where(close, 2.0 / (li + lj), ratio)


def _spd_log_euclidean(geom, xb, covectors):
    P, C = _matrices(geom, xb, covectors)
    lam, Q = anp.linalg.eigh(_sym(P[:, 0]))
    Q = Q[:, None]
    phi = _log_divided_differences(lam)[:, None]
    rotated = _swap(Q) @ _sym(C) @ Q
    return geom.flatten(Q @ (rotated / phi**2) @ _swap(Q))


def _canonical_stiefel(geom, xb, covectors):
    Y, D = _matrices(geom, xb, covectors)
    return geom.flatten(D - Y @ _swap(D) @ Y)


def _hyperboloid(geom, xb, covectors):
    n, k, N = anp.shape(covectors)
    J = np.ones(N)
    J[0] = -1.0
    base = anp.reshape(xb[:, None, :] * np.ones((1, k, 1)), (n * k, N))
    raised = anp.reshape(covectors * J, (n * k, N))
    return anp.reshape(geom.space.to_tangent(raised, base), (n, k, N))


def _log_euclidean_plain(space) -> bool:
    image = getattr(getattr(space.metric, "image_space", None), "metric", None)
    return type(image) is MatricesMetric  # a rescaled image metric: the generic route


_CLOSED_FORMS = [
    # (space type, metric type, extra condition, function, label)
    (Matrices, MatricesMetric, None, _identity, "closed form D (Frobenius metric)"),
    (SPDMatrices, SPDAffineMetric, None, _spd_affine, "closed form P S P (affine-invariant)"),
    (
        SPDMatrices,
        SPDBuresWassersteinMetric,
        None,
        _spd_bures_wasserstein,
        "closed form 2 (P S + S P) (Bures-Wasserstein)",
    ),
    (
        SPDMatrices,
        SPDLogEuclideanMetric,
        _log_euclidean_plain,
        _spd_log_euclidean,
        "closed form (d log_P)^-2 [S] by eigh (log-Euclidean)",
    ),
    (Stiefel, StiefelCanonicalMetric, None, _canonical_stiefel, "closed form D - Y D^T Y"),
    (
        MatrixLieGroup,
        BiInvariantMetric,
        lambda space: len(space.shape) == 2,
        _canonical_stiefel,
        "closed form D - Y D^T Y (bi-invariant, <U, V> = tr(U^T V) / 2)",
    ),
    (Hyperboloid, HyperboloidMetric, None, _hyperboloid, "closed form to_tangent(J D)"),
]


def _closed_form_for(space):
    for space_type, metric_type, condition, fn, label in _CLOSED_FORMS:
        if isinstance(space, space_type) and type(space.metric) is metric_type:
            if condition is None or condition(space):
                return fn, label
    return None


# -- construction ----------------------------------------------------------------------------
def _refuse(space, what: str, why: str, exc: BaseException | None = None):
    detail = f" ({_describe(exc)})" if exc is not None else ""
    return UnsupportedSpaceError(
        f"riemflow cannot compute Riemannian gradients on {_space_name(space)}: geomstats' "
        f"{what} failed at a sample point{detail}; it is needed {why}"
    )


def _require(space, what: str, call, why: str):
    """Run `call()`; on failure refuse the space naming the geomstats method."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return call()
    except UnsupportedSpaceError:
        raise
    except Exception as exc:
        raise _refuse(space, what, why, exc) from exc


def _sample_points(space) -> np.ndarray:
    """Two seeded sample points of the space (geomstats `random_point`; the global RNG is
    restored), point-shaped `(2, *shape)`."""
    if isinstance(space, SPDMatrices):  # distinct eigenvalues (eigh-based metrics)
        pts = np.stack([np.diag(np.arange(1.0, space.n + 1)) + 0.3, 2.1 * np.eye(space.n)])
        pts[1, 0, -1] = pts[1, -1, 0] = 0.4
        return pts

    def draw():
        pts = np.asarray(_seeded(lambda: space.random_point(n_samples=2), 0))
        if np.iscomplexobj(pts):
            raise TypeError(f"complex sample points ({pts.dtype})")
        return pts.astype(np.float64).reshape((2,) + tuple(space.shape))

    return _require(space, "random_point", draw, "to draw sample points for the checks")


def _identity_gap(geom: Geometry, flat: np.ndarray, sharp) -> float:
    """`max |<sharp(c), v>_x - c . v| / max |c . v|` over random covectors `c` and tangent
    vectors `v` (geomstats' `to_tangent` and `inner_product`, called point by point, the
    form every geomstats metric accepts), and the tangency of the result."""
    rng = np.random.default_rng(2)
    c = rng.standard_normal((flat.shape[0], 2, geom.point_dim))
    X = np.asarray(sharp(flat, c))
    v = np.asarray(geom.to_tangent(flat, rng.standard_normal(flat.shape)))
    shaped = np.asarray(geom.unflatten(flat))
    gaps, sizes = [], []
    for k in range(2):
        lhs = np.array(
            [
                float(geom.space.metric.inner_product(*np.asarray(geom.unflatten(a)), base))
                for a, base in zip(np.stack([X[:, k], v], axis=1), shaped, strict=True)
            ]
        )
        rhs = np.einsum("bi,bi->b", c[:, k], v)
        back = np.asarray(geom.to_tangent(flat, X[:, k]))
        gaps += [np.max(np.abs(lhs - rhs)), np.max(np.abs(back - X[:, k]))]
        sizes += [np.max(np.abs(rhs)), np.max(np.abs(X[:, k]))]
    return float(max(gaps) / max(max(sizes), 1e-300))


def _finish(geom: _MetricGeometry, closed, points: np.ndarray) -> _MetricGeometry:
    """Check the route against geomstats (the defining identity); a closed form that
    disagrees is dropped for the generic route, a generic route that disagrees refuses."""
    flat = points.reshape(points.shape[0], -1)
    if closed is not None:
        geom.closed_form = closed[0]
        gap = _require(
            geom.space,
            "metric.inner_product",
            lambda: _identity_gap(geom, flat, geom.sharp),
            "to check the closed-form gradient",
        )
        if gap <= IDENTITY_RTOL:
            geom.route = closed[1]
            return geom
        warnings.warn(
            f"{geom.describe()}: the closed form {closed[1]!r} disagrees with geomstats' "
            f"inner_product by {gap:.2e} (relative); using the generic route",
            RuntimeWarning,
            stacklevel=4,
        )
        geom.closed_form = None
    gap = _require(
        geom.space,
        "metric.inner_product",
        lambda: _identity_gap(geom, flat, geom.generic_sharp),
        "for the metric on the tangent space",
    )
    if not gap <= IDENTITY_RTOL:
        raise UnsupportedSpaceError(
            f"riemflow cannot compute Riemannian gradients on {_space_name(geom.space)}: "
            f"the gradients from geomstats' metric.inner_product and to_tangent miss the "
            f"defining identity <grad f, v> = df[v] by {gap:.2e} (relative) at sample points"
        )
    return geom


def _tangent_basis(space, points: np.ndarray):
    """An orthonormal basis `(m, N)` of the range of `to_tangent` when it is the same
    linear map at every sample point (an open subset of a linear subspace), else `None`."""
    shape = tuple(space.shape)
    N = int(math.prod(shape))
    maps = []
    for x in points:
        X = np.broadcast_to(x, (N,) + shape)
        T = np.asarray(space.to_tangent(np.eye(N).reshape((N,) + shape), X), dtype=np.float64)
        maps.append(T.reshape(N, N))
    if any(np.max(np.abs(M - maps[0])) > 1e-12 for M in maps[1:]):
        return None
    U, s, _ = np.linalg.svd(maps[0].T)
    rank = int(np.sum(s > 1e-9 * max(s[0], 1.0)))
    if rank != space.dim:
        raise UnsupportedSpaceError(
            f"{_space_name(space)}: geomstats' to_tangent has rank {rank}, but the space has "
            f"dim {space.dim}; riemflow cannot identify its tangent spaces"
        )
    return np.eye(N) if rank == N else U[:, :rank].T.copy()


def _is_flat_euclidean(space) -> bool:
    metric = getattr(space, "metric", None)
    if not isinstance(space, Euclidean) or not isinstance(metric, EuclideanMetric):
        return False
    try:
        matrix = np.asarray(metric.metric_matrix(), dtype=np.float64)
    except Exception:
        return False
    return bool(np.array_equal(matrix, np.eye(int(space.shape[0]))))


def _metric_matrix_works(space) -> bool:
    """Whether geomstats' `metric.metric_matrix` gives a finite `(1, D, D)` matrix at a
    sample point (`hasattr` is not enough: the base class defines it and raises)."""
    try:
        x = _sample_points(space)[0]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            g = np.asarray(space.metric.metric_matrix(x[None]), dtype=np.float64)
    except Exception:
        return False
    D = int(space.shape[0])
    return g.shape == (1, D, D) and bool(np.all(np.isfinite(g)))


def _induced_from_euclidean(space) -> bool:
    """Whether the space is a submanifold of a Euclidean space with the induced metric:
    `to_tangent` is an orthogonal projection and geomstats' inner product is the dot product
    on tangent vectors (or the space has no metric of its own, like riemflow's embedded
    images). The hyperboloid fails this (its ambient metric is Minkowski's)."""
    embedding = getattr(space, "embedding_space", None)
    if not isinstance(embedding, Euclidean) or not hasattr(space, "to_tangent"):
        return False
    metric = getattr(space, "metric", None)
    if metric is None:
        return True
    if not _is_flat_euclidean(embedding):
        return False
    try:
        x = _sample_points(space)[0]
        rng = np.random.default_rng(3)
        u, v = (np.asarray(space.to_tangent(rng.standard_normal(x.shape), x)) for _ in "uv")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            inner = float(np.asarray(metric.inner_product(u, v, x)))
    except Exception:
        return False
    return abs(inner - float(u @ v)) <= 1e-10 * max(1.0, float(np.abs(u) @ np.abs(v)))


def _check_metric(space) -> None:
    name = _space_name(space)
    metric = getattr(space, "metric", None)
    if metric is None:
        raise UnsupportedSpaceError(
            f"{name} has no metric: riemflow needs geomstats' `space.metric` (build the space "
            "with equip=True or call space.equip_with_metric(...))"
        )
    if isinstance(space, ComplexManifold):
        raise UnsupportedSpaceError(
            f"{name} is a complex manifold (geomstats ComplexManifold); riemflow's gradients "
            "and flows are real (float64)"
        )
    signature = getattr(metric, "signature", None)
    if signature is not None and len(signature) > 1 and signature[1] > 0:
        raise UnsupportedSpaceError(
            f"{name}: geomstats' {type(metric).__name__} has signature {tuple(signature)}, "
            "not Riemannian (positive definite); gradient flow needs a Riemannian metric"
        )


def _product(space, options) -> ProductGeometry:
    """A product of the factors' own geometries. geomstats' `ProductRiemannianMetric` is
    the sum of the factors' metrics and `NFoldMetric` their scaled sum, which is what
    `ProductGeometry` computes; each factor's route is checked when it is built. (geomstats'
    own product `inner_product` cannot serve as the check: it splits concatenated points
    by the factors' dimensions, which fails for matrix factors.)"""
    expected = NFoldMetric if isinstance(space, NFoldManifold) else ProductRiemannianMetric
    if type(space.metric) is not expected:
        raise UnsupportedSpaceError(
            f"{_space_name(space)}: riemflow computes gradients on products with geomstats' "
            f"{expected.__name__} (the sum of the factors' metrics); got "
            f"{type(space.metric).__name__}"
        )
    if isinstance(space, NFoldManifold):
        one = make_geometry(space.base_manifold)
        factors, scales = [one] * space.n_copies, space.metric.scales
    else:
        factors, scales = [make_geometry(f) for f in space.factors], None
    return ProductGeometry(space, factors, scales=scales, **options)


def make_geometry(space, *, domain=None, sampler=None) -> Geometry:
    """The `Geometry` of a geomstats manifold (or an int `D`, meaning `Euclidean(D)`).

    Args:
        space: a geomstats manifold equipped with a metric (points of any shape), or `D`.
        domain: optional predicate on point-shaped arrays restricting `M` to an open subset.
        sampler: optional `(rng, n) -> (n, *point_shape)` for the checks.

    Returns:
        The `Geometry`: the Euclidean, intrinsic (metric matrix or pullback) and extrinsic
        (induced metric) routes for vector points where they apply, else the product,
        subspace or embedded route, each checked against geomstats' `inner_product`.

    Raises:
        UnsupportedSpaceError: not a manifold, no metric, complex points, a metric that is
            not positive definite, or a geomstats method the route needs (named in the
            message) failing at a sample point.
    """
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
    options = dict(domain=domain, sampler=sampler)
    if isinstance(space, ImmersedSet):
        return IntrinsicGeometry(space, **options)
    vector = len(shape) == 1 and not isinstance(space, (ProductManifold, NFoldManifold))
    if vector and _is_flat_euclidean(space):
        return EuclideanGeometry(space, **options)
    if vector and _induced_from_euclidean(space):
        if getattr(space, "metric", None) is not None:  # a geomstats space: probe it
            _require(
                space,
                "projection",
                lambda: space.projection(_sample_points(space)),
                "to retract flows onto the manifold and to measure their drift",
            )
        return ExtrinsicGeometry(space, **options)
    _check_metric(space)
    if isinstance(space, (ProductManifold, NFoldManifold)):
        return _product(space, options)
    if vector and getattr(space, "intrinsic", False) and _metric_matrix_works(space):
        return IntrinsicGeometry(space, **options)
    points = _sample_points(space)
    closed = _closed_form_for(space)
    basis = None
    if not isinstance(space, LevelSet) and (
        isinstance(space, (VectorSpace, OpenSet)) or getattr(space, "intrinsic", True)
    ):
        basis = _require(
            space,
            "to_tangent",
            lambda: _tangent_basis(space, points),
            "to find the tangent spaces (the linear span the open set lives in)",
        )
    if basis is not None:
        return _finish(SubspaceGeometry(space, basis, **options), closed, points)
    geom = EmbeddedGeometry(space, **options)
    flat = points.reshape(points.shape[0], -1)
    T = _require(
        space,
        "to_tangent",
        lambda: np.asarray(geom.tangent_columns(flat)),
        "to project differentials onto the tangent spaces of an embedded manifold",
    )
    _require(
        space,
        "projection",
        lambda: np.asarray(geom.project(flat)),
        "to retract flows onto the manifold and to measure their drift",
    )
    idempotent = float(np.max(np.abs(np.einsum("bij,bjk->bik", T, T) - T)))
    if idempotent > 1e-8:
        raise UnsupportedSpaceError(
            f"{_space_name(space)}: geomstats' to_tangent is not a projection "
            f"(|P^2 - P| = {idempotent:.2e}); riemflow cannot identify its tangent spaces"
        )
    return _finish(geom, closed, points)

"""Parametrizations `w = G(x)` of a model by a point `x` of a Riemannian manifold.

Notation ([Concepts: parametrizations and gradient
flow](concepts.md#parametrizations-and-gradient-flow)): `M` has dimension `m` and its points have
the space's point shape, `(D,)` for vectors (`D = m` for open sets and intrinsic coordinates, `D >
m` for an embedded manifold in ambient coordinates) or a matrix shape such as `(n, n)` on
`SPDMatrices(n)` and `(n, k)` on `Matrices(n, k)` or `Stiefel(n, k)`; `G: M -> R^d`. Below, `S` is
the point shape (`S = (D,)` for vectors).

- Jacobian `dG(x)`: `(d, *S)`, the differentials of the `G_i` in the coordinates of `x`.
- Gradient fields `grad G_i`: the tangent vectors with `<grad G_i, v>_x = dG_i(x)[v]` for
  the manifold's own metric (`g^{-1} dG_i` in intrinsic coordinates, the tangent projection
  for an embedded manifold with the induced metric): `(d, *S)`.
- Tangent kernel `K(x) = dG g^{-1} dG^T`, `K_ij = <grad G_i, grad G_j>_x`: `(d, d)`,
  positive definite iff `G` is regular.
- Lie brackets `[grad G_i, grad G_j] = d(grad G_j) grad G_i - d(grad G_i) grad G_j`:
  `(d, d, *S)`, computed with exact autograd derivatives (forward over reverse mode).
- Joint flow `psi(x; mu)`: time-1 flow of `dx/ds = sum_i mu_i grad G_i(x)`: `S`.

Every method takes one point `S` or a batch `(B, *S)` and answers with or without the
leading batch axis accordingly; batches are evaluated in one vectorised call when the map
broadcasts over a leading axis. Inside, points are flattened to `N = prod(S)` coordinates
(a representation only: the metric is the manifold's own); the faces that take a batch
already validated by `points` (`values`, `covector_field`, `pullback`, `traced`) take that
flat `(B, N)` batch.
"""

from __future__ import annotations

from dataclasses import dataclass

import autograd.numpy as anp
import numpy as np

from . import _autodiff, conditions
from ._geometry import Geometry, make_geometry
from ._validation import as_point, as_points, as_positive, as_positive_int
from .conditions import CommutingReport, RegularityReport
from .errors import (
    DomainError,
    InputError,
    NotCallableError,
    NotDifferentiableError,
    ShapeError,
)
from .joint_flow import joint_flow, sequential_flow

__all__ = ["Parametrization", "CommutingReport", "RegularityReport", "TracedParametrization"]


def _flat_maps(fn, vjp, geometry: Geometry):
    """`fn` and `vjp` on flat points `(..., N)` for a space with matrix-shaped points (the
    user writes them for the point shape); unchanged for vector points."""
    if geometry is None or len(geometry.point_shape) == 1:
        return fn, vjp

    def flat_fn(x):
        return fn(geometry.unflatten(x))

    def flat_vjp(x, c):
        return np.asarray(geometry.flatten(vjp(geometry.unflatten(x), c)), dtype=np.float64)

    return flat_fn, None if vjp is None else flat_vjp


def _closed_form_pullback(vjp, vectorized: bool, xb: np.ndarray):
    """`c (B, d) -> dG(x)^T c (B, N)` by a closed-form `vjp`, row by row unless vectorized."""

    def pull(cotangent):
        if vectorized:
            return np.asarray(vjp(xb, cotangent), dtype=np.float64)
        rows = zip(xb, cotangent, strict=True)
        return np.stack([np.asarray(vjp(x, c), dtype=np.float64) for x, c in rows])

    return pull


def _finite(compute, xb: np.ndarray, what: str, name: str):
    """`compute()` with float overflow silenced, refused (`DomainError`) when its result is
    not finite at the (finite) points `xb`: e.g. an entry near the float64 limit squared."""
    with np.errstate(over="ignore", invalid="ignore"):
        out = compute()
    arr = np.asarray(out[0] if isinstance(out, tuple) else out, dtype=np.float64)
    bad = ~np.all(np.isfinite(arr.reshape(arr.shape[0], -1)), axis=1)
    if np.any(bad):
        b = int(np.argmax(bad))
        raise DomainError(
            f"{what} of {name} is not finite at `x`="
            f"{np.array2string(xb[b], precision=6, threshold=8)} (overflow in float64)",
            argument="x",
        )
    return out


@dataclass
class _Lazy:
    """Facts learned from the first evaluated point (`D` when `space` was not given, `d`)."""

    geometry: Geometry | None = None
    output_dim: int | None = None


class TracedParametrization:
    """The differentiable building blocks of a `Parametrization` (`G.traced`).

    Batched, no input validation, and traceable by autograd (inputs may be autograd boxes),
    so other computations can differentiate through them (the forward construction's
    third derivatives, the brackets). Inputs are flat batches `(B, N)` of points already
    checked by `Parametrization.points`.
    """

    def __init__(self, G: Parametrization):
        self._G = G

    def values(self, xb):
        """`G(x)`: `(B, d)`."""
        return self._G._values(xb)

    def jacobian(self, xb):
        """`dG(x)`: `(B, d, N)`."""
        G = self._G
        return _autodiff.jacobian(G._values, xb, name=G.name, tiled=G._map.tiles(xb))

    def fields(self, xb):
        """Gradient fields `grad G_i(x)` as rows: `(B, d, N)`."""
        return self._G.geometry.sharp(xb, self.jacobian(xb))

    def kernel(self, xb):
        """Tangent kernel `K(x) = dG g^{-1} dG^T`: `(B, d, d)` (not symmetrized)."""
        jac = self.jacobian(xb)
        return anp.einsum("bik,bjk->bij", jac, self._G.geometry.sharp(xb, jac))

    def kernel_derivatives(self, xb) -> np.ndarray:
        """`T[b, i, j, k] = DK(x_b)[grad G_k(x_b)]`: `(B, d, d, d)` (plain arrays)."""
        fields = np.asarray(self.fields(xb))
        return np.stack(
            [
                np.asarray(
                    _autodiff.directional_derivative(
                        self.kernel, xb, fields[:, k, :], name=self._G.name
                    )
                )
                for k in range(fields.shape[1])
            ],
            axis=-1,
        )

    def bracket_terms(self, xb) -> tuple[np.ndarray, np.ndarray]:
        """The two terms of every bracket: `T[b, i, j] = d(grad G_j)(grad G_i)`,
        `(B, d, d, N)`, so `[grad G_i, grad G_j] = T[:, i, j] - T[:, j, i]`; and the fields
        `(B, d, N)`. Plain arrays (forward-mode derivatives of the traced fields).

        Raises:
            NotDifferentiableError: autograd cannot differentiate `fn` or the space's
                metric (the message names geomstats' method), or the brackets are not
                finite (derivatives through an eigendecomposition at repeated eigenvalues).
        """
        G = self._G
        plain = np.asarray(self.fields(xb))
        try:
            with np.errstate(all="ignore"):  # non-finite terms are reported below
                terms = [
                    _autodiff.directional_derivative(self.fields, xb, plain[:, i, :], name=G.name)
                    for i in range(plain.shape[1])
                ]
        except NotDifferentiableError:
            G.geometry.check_differentiable(xb)  # names geomstats' metric when it is at fault
            raise
        terms = np.stack([np.asarray(t) for t in terms], axis=1)
        finite = np.all(np.isfinite(terms.reshape(terms.shape[0], -1)), axis=1)
        if not np.all(finite):
            b = int(np.argmin(finite))
            point = np.asarray(G.geometry.unflatten(np.asarray(xb)[b]))
            raise NotDifferentiableError(
                f"the Lie brackets of {G.name} on {G.geometry.describe()} are not finite at "
                f"x={np.array2string(point, precision=4, threshold=12)} (derivatives through "
                "an eigendecomposition are singular at repeated eigenvalues, e.g. P = alpha I "
                "for the log-Euclidean metric); check at points with distinct eigenvalues"
            )
        return terms, plain


class Parametrization(conditions.ConditionChecks):
    """A smooth map `G: M -> R^d` on a geomstats manifold, `w = G(x)`.

    Args:
        fn: the map for one point, `x -> w (d,)` with `x` of the space's point shape `S`
            (`(D,)`, or `(n, n)` on `SPDMatrices(n)`, ...), written with `autograd.numpy`.
            If it also broadcasts over leading batch axes (`x[..., i]`, `x[..., i, j]`,
            `einsum("...ij")`), batches are evaluated in one call.
        space: the manifold `M`, any geomstats manifold whose metric riemflow can turn
            into Riemannian gradients: `Euclidean(D)` (or just the int `D`), an
            `ImmersedSet` with its `PullbackMetric` (see
            `riemflow.spaces.immersed_manifold`), intrinsic coordinates with a
            `metric_matrix` or only an `inner_product` (`PoincareBall`,
            `PoincareHalfSpace`), matrix manifolds (`Matrices`, `SPDMatrices` with any of
            its metrics, `Stiefel`, `SpecialOrthogonal(n)`), submanifolds of a Euclidean or
            Minkowski space (`Hypersphere`, the hyperboloid), and products of these
            (`ProductManifold`, `NFoldManifold`). Default: `Euclidean(D)` with `D` taken
            from the first point evaluated.
        name: label used in reports and errors.
        domain: optional predicate `x -> bool` on points of shape `S` (may be vectorised
            `(B, *S) -> (B,)`) restricting `M` to an open subset, e.g. the positive orthant.
        sampler: optional `(rng, n) -> (n, *S)` drawing random points of the domain for the
            checks; default uniform on `[-1, 1]^D` (Euclidean, intrinsic) or geomstats'
            `random_point` (matrix and embedded manifolds), rejected outside `domain`.
        vectorized: whether `fn` broadcasts over a batch axis; `None` detects it.
        vjp: optional closed-form pullback of covectors, `(x, c) -> dG(x)^T c` for a
            point `x: S` and `c: (d,)` (or row-wise on batches when `fn` is vectorized).
            The flows and descents then evaluate `G` and its pullback without an autograd
            trace (the cost of a flow step at large `d`); all other derivatives stay
            autograd's. It is compared with autograd's pullback on the first points `G` is
            evaluated at, and refused (`InputError`) when they differ by more than
            `vjp_rtol` (relative).
        potential: optional closed form of the forward theorem ([Concepts: the forward
            theorem](concepts.md#the-forward-theorem)): `x_init -> Legendre` (or `None` where the
            closed form does not apply), used by `riemflow.mirror_potential` instead of the
            numerical construction.
        point_over: optional map `w (d,) -> x` giving the point of `M` over `w` (a
            section of `G`); parametrizations built by `riemflow.commuting_parametrization`
            have one, so flows on them can start from a `w0`.
        vjp_rtol: largest relative difference between `vjp` and autograd's pullback
            (default 1e-8: a correct closed form agrees to round-off, ~1e-15).

    Raises:
        UnsupportedSpaceError: `space` is not a manifold riemflow can do calculus on; the
            message names the geomstats method that is missing or fails (no
            `space.metric`, an `inner_product` or `to_tangent` that raises, a complex or
            pseudo-Riemannian space).

    Examples:
        >>> import autograd.numpy as anp
        >>> import riemflow as rf
        >>> G = rf.Parametrization(lambda x: anp.stack([x[..., 0] * x[..., 1],
        ...                                             x[..., 1] * x[..., 2]], -1), 3)
        >>> G.lie_brackets(anp.array([1.0, 2.0, 3.0]))[0, 1].tolist()  # (-x3, 0, x1)
        [-3.0, 0.0, 1.0]
        >>> G.check_commuting(seed=0).passed
        False
    """

    def __init__(
        self,
        fn,
        space=None,
        *,
        name: str | None = None,
        domain=None,
        sampler=None,
        vectorized: bool | None = None,
        vjp=None,
        potential=None,
        point_over=None,
        vjp_rtol: float = 1e-8,
    ):
        if not callable(fn):
            raise NotCallableError(
                f"`fn` must be callable, mapping x (D,) -> w (d,); got {fn!r}", argument="fn"
            )
        self.fn = fn
        self.name = name or getattr(fn, "__name__", "G")
        for argument, value, what in (
            ("vjp", vjp, "(x, c) -> dG(x)^T c"),
            ("potential", potential, "x_init -> Legendre"),
            ("point_over", point_over, "w -> x"),
        ):
            if value is not None and not callable(value):
                raise NotCallableError(
                    f"`{argument}` must be callable {what}; got {value!r}", argument=argument
                )
        self._potential = potential
        self._point_over = point_over
        self._domain = domain
        self._sampler = sampler
        self._lazy = _Lazy()
        self.traced = TracedParametrization(self)
        if space is not None:
            self._lazy.geometry = make_geometry(
                space, domain=domain, sampler=sampler or getattr(space, "sampler", None)
            )
        flat_fn, self._vjp = _flat_maps(fn, vjp, self._lazy.geometry)
        self._vjp_rtol = as_positive(vjp_rtol, "vjp_rtol")
        self._vjp_verified = self._vjp is None
        self._map = _autodiff.PointwiseMap(flat_fn, name=self.name, vectorized=vectorized)

    # -- structure ----------------------------------------------------------------------
    @property
    def geometry(self) -> Geometry:
        """The calculus adapter of the space (set once the dimension is known)."""
        if self._lazy.geometry is None:
            raise InputError(
                f"{self.name}: the input dimension is not known yet; pass `space=` (a "
                "geomstats manifold or an int D) or evaluate G at a point first",
                argument="space",
            )
        return self._lazy.geometry

    @property
    def space(self):
        """The geomstats manifold `M`."""
        return self.geometry.space

    @property
    def point_shape(self) -> tuple[int, ...]:
        """`S`, the shape of a point of `M` (`(D,)` for vectors)."""
        return self.geometry.point_shape

    @property
    def input_dim(self) -> int:
        """`N = prod(S)`, the number of coordinates of a point (`D` for vectors)."""
        return self.geometry.point_dim

    @property
    def manifold_dim(self) -> int:
        """`m`, the dimension of `M` (`m < D` for an embedded manifold)."""
        return self.geometry.dim

    @property
    def output_dim(self) -> int:
        """`d`, the dimension of `w = G(x)` (evaluates `G` once at a sample if unknown)."""
        if self._lazy.output_dim is None:
            self.values(self.geometry.sample(np.random.default_rng(0), 1))
        return self._lazy.output_dim

    def __repr__(self) -> str:
        space = type(self._lazy.geometry.space).__name__ if self._lazy.geometry else "R^D"
        return f"Parametrization({self.name!r} on {space})"

    # -- input handling -----------------------------------------------------------------
    def points(self, x, name: str = "x") -> tuple[np.ndarray, bool]:
        """Validate points of `M`: `S` or `(B, *S)` as a finite flat `(B, N)` array.

        Fixes `D` (and the default space `Euclidean(D)`) on first use.

        Returns:
            The flat `(B, N)` batch and whether `x` was a single point.

        Raises:
            ShapeError, NonFiniteError: `x` malformed.
            DomainError: a point off the manifold or outside the domain (named `name`).
        """
        if self._lazy.geometry is None:  # default space: Euclidean(D), D from this point
            first, _ = as_points(x, name)
            self._lazy.geometry = make_geometry(
                first.shape[1], domain=self._domain, sampler=self._sampler
            )
        xb, single = self.geometry.points(x, name)
        self.geometry.require_inside(xb, name, self.name)
        if not self._vjp_verified:  # the closed-form vjp is compared once, on first points
            self._vjp_verified = True
            conditions.require_vjp(self, xb[:4], rtol=self._vjp_rtol)
        return xb, single

    def start_point(self, x0, name: str = "x0") -> np.ndarray:
        """A validated start point of a flow or construction, where `G` is finite, flat
        `(N,)` (the point itself for vector points).

        Raises:
            ShapeError, NonFiniteError, DomainError: as `points`, or `G(x0)` not finite.
        """
        if self._lazy.geometry is None:
            self.points(as_point(x0, name), name)
        xb, _ = self.points(self.geometry.one_point(x0, name), name)
        self.values(xb, name)
        return xb[0]

    def _values(self, xb):
        out = self._map(xb)
        d = anp.shape(out)[-1]
        if self._lazy.output_dim is None:
            self._lazy.output_dim = int(d)
        return out

    def values(self, xb, name: str = "x") -> np.ndarray:
        """`G` on a batch of points already validated by `points`: `(B, d)`.

        Raises:
            ShapeError: `fn` returned the wrong shape.
            DomainError: `G` is not finite at a point (named `name`).
        """
        xb = np.asarray(xb, dtype=np.float64)
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):  # checked below
            out = np.asarray(self._values(xb), dtype=np.float64)
        if out.shape != (xb.shape[0], self._lazy.output_dim):
            raise ShapeError(
                f"{self.name} returned shape {out.shape} for {xb.shape[0]} point(s); "
                f"expected ({xb.shape[0]}, {self._lazy.output_dim})",
                argument="fn",
            )
        if not np.all(np.isfinite(out)):
            b = int(np.argmax(~np.all(np.isfinite(out), axis=1)))
            raise DomainError(
                f"{self.name} is not finite at `{name}`="
                f"{np.array2string(xb[b], precision=6, threshold=8)}: got {out[b]}",
                argument=name,
            )
        return out

    def _checked(self, x, name: str = "x") -> tuple[np.ndarray, bool]:
        xb, single = self.points(x, name)
        self.values(xb, name)
        return xb, single

    # -- public evaluation --------------------------------------------------------------
    def __call__(self, x) -> np.ndarray:
        """`G(x)`: `(d,)` for a point `S`, `(B, d)` for a batch `(B, *S)`.

        Raises:
            ShapeError, NonFiniteError: `x` malformed.
            DomainError: `x` outside the domain, or `G(x)` not finite.
        """
        xb, single = self.points(x)
        return self.geometry.shaped(self.values(xb), single)

    def jacobian(self, x) -> np.ndarray:
        """Jacobian `dG(x)` in the coordinates of `x`: `(d, *S)` or `(B, d, *S)`.

        Raises:
            NotDifferentiableError: autograd cannot differentiate `fn`.
        """
        xb, single = self._checked(x)
        jac = _finite(lambda: self.traced.jacobian(xb), xb, "dG", self.name)
        return self.geometry.shaped(jac, single, 1)

    def gradient_fields(self, x) -> np.ndarray:
        """Riemannian gradients `grad G_i(x)` as rows: `(d, *S)` or `(B, d, *S)`.

        Tangent vectors for the manifold's own metric (in ambient coordinates on an
        embedded manifold): `<grad G_i, v>_x = dG_i(x)[v]` for every tangent `v`.
        """
        xb, single = self._checked(x)
        fields = _finite(lambda: self.traced.fields(xb), xb, "grad G", self.name)
        return self.geometry.shaped(fields, single, 1)

    def kernel(self, x) -> np.ndarray:
        """Tangent kernel `K(x) = dG g^{-1} dG^T`: `(d, d)` or `(B, d, d)`.

        It pushes gradient flow forward: `dw/dt = -K(x) grad L(w)`.
        """
        xb, single = self._checked(x)
        kernel = np.asarray(_finite(lambda: self.traced.kernel(xb), xb, "K", self.name))
        return self.geometry.shaped(0.5 * (kernel + np.swapaxes(kernel, 1, 2)), single)

    def lie_brackets(self, x) -> np.ndarray:
        """Lie brackets `[grad G_i, grad G_j](x)`: `(d, d, *S)` or `(B, d, d, *S)`.

        Antisymmetric in `(i, j)`; exact autograd derivatives (no finite differences).

        Raises:
            NotDifferentiableError: autograd cannot differentiate `fn` or the metric, or
                the brackets are not finite at `x`.
        """
        xb, single = self._checked(x)
        terms, _ = _finite(lambda: self.traced.bracket_terms(xb), xb, "the brackets", self.name)
        return self.geometry.shaped(terms - np.swapaxes(terms, 1, 2), single, 1)

    # -- vector fields from covectors ---------------------------------------------------
    def covector_field(self, x, covector) -> tuple[np.ndarray, np.ndarray]:
        """`(G(x), sum_i c_i grad G_i(x))` for covectors `c` on a validated batch `x: (B, N)`.

        The vector field whose flow moves `w` along `-K c`: one pullback `dG(x)^T c`
        (the closed-form `vjp` when given, else one reverse pass through `G`), then
        `g^{-1}` (or the tangent projection). Gradient flow of `L o G` is this field with
        `c = -grad L(G(x))`; the joint flow uses a constant `c = mu`. Not traced (plain
        arrays in and out).

        Args:
            x: flat points `(B, N)` (validated by `points`).
            covector: `(B, d)`, or a function `w (B, d) -> c (B, d)` of `w = G(x)`.

        Returns:
            `w: (B, d)` and the field `(B, N)`.
        """
        xb = np.asarray(x, dtype=np.float64)
        w, pull = self.pullback(xb)
        c = covector(w) if callable(covector) else covector
        grad = pull(np.asarray(c, dtype=np.float64))
        return w, np.asarray(self.geometry.sharp(xb, grad[:, None, :]))[:, 0, :]

    @property
    def has_vjp(self) -> bool:
        """Whether a closed-form `vjp` was given."""
        return self._vjp is not None

    @property
    def closed_form(self):
        """`(fn, vjp)` when `G` and its pullback can be evaluated without autograd on single
        points (a vectorized `fn`, a closed-form `vjp`, a Euclidean space), else `None`:
        the flows then compute their right-hand side as `vjp(x, c(fn(x)))`."""
        if self._vjp is not None and self._map.vectorized and self.geometry.kind == "euclidean":
            return self.fn, self._vjp
        return None

    def loss_gradient(self, loss, x) -> np.ndarray:
        """Riemannian gradient of `L o G` at `x`: `S`.

        `dG(x)^T grad L(G(x))` raised with the metric (or projected onto the tangent
        space): one reverse pass through the loss and one through `G`.

        Args:
            loss: `L: (d,) -> float`, autograd-differentiable.
            x: a point `S`.
        """
        xb, _ = self.points(self.geometry.one_point(x, "x"))

        def gradient(w):
            return _autodiff.gradient(lambda z: loss(z[0]), w[:1], name="loss")[1]

        return self.geometry.shaped(self.covector_field(xb, gradient)[1], True, 1)

    def pullback(self, x, *, closed_form: bool = True):
        """`(G(x), pull)` on a validated batch `x: (B, N)`: `G(x): (B, d)` and the pullback
        of covectors `pull(c: (B, d)) = dG(x)^T c: (B, N)`, by the closed-form `vjp` when
        given (and `closed_form`), else by one reverse pass through `G`."""
        xb = np.asarray(x, dtype=np.float64)
        if self._vjp is None or not closed_form:
            w, pull = _autodiff.pullback(self._values, xb, name=self.name)
            return np.asarray(w, dtype=np.float64), pull
        pull = _closed_form_pullback(self._vjp, self._map.vectorized, xb)
        return np.asarray(self._values(xb), dtype=np.float64), pull

    # -- checks -------------------------------------------------------------------------
    def sample(self, n: int, *, seed: int | None = 0) -> np.ndarray:
        """`n` random points of the domain (`sampler`, or the space's default): `(n, *S)`."""
        n = as_positive_int(n, "n")
        geometry = self.geometry
        return geometry.shaped(geometry.sample(np.random.default_rng(seed), n), False, 1)

    # -- joint flow ---------------------------------------------------------------------
    def flow(
        self,
        x,
        mu,
        *,
        sequential: bool = False,
        rtol: float = 1e-11,
        atol: float = 1e-13,
        method: str = "DOP853",
    ) -> np.ndarray:
        """The joint flow `psi(x; mu)` of the gradient fields ([Concepts: the joint
        flow](concepts.md#the-joint-flow)).

        By default the time-1 flow of `dx/ds = sum_i mu_i grad G_i(x)`
        (`riemflow.joint_flow.joint_flow`). With `sequential=True`, the composition
        `Phi^{mu_1}_{grad G_1} o ... o Phi^{mu_d}_{grad G_d}(x)` (the flow of `grad G_d`
        applied first). For a commuting `G` the two agree; otherwise they differ, which
        is a second way to see a non-zero bracket.

        Args:
            x: start point `S`.
            mu: flow times `(d,)`.
            sequential: compose the single-field flows instead of flowing their sum.
            rtol: `solve_ivp` relative tolerance (with `atol`, resolves `psi` to about
                1e-10 relative on the zoo's closed forms).
            atol: `solve_ivp` absolute tolerance.
            method: `solve_ivp` method.

        Returns:
            `psi(x; mu)`: `S` (on a manifold embedded in `R^N`, retracted onto it wherever
            the integrator drifted off by more than 1e-9).

        Raises:
            DivergenceError: the flow blows up before time 1 (`mu` outside the domain
                of `psi`, e.g. for `u^3`).
            SolverError: the ODE solver failed, or the flow left the domain.
        """
        point = self.start_point(x, "x")
        mu = as_point(mu, "mu", self.output_dim)
        flow = sequential_flow if sequential else joint_flow
        end = flow(self, point, mu, rtol=rtol, atol=atol, method=method).x
        return self.geometry.shaped(end, False, 1)

    def closed_form_potential(self, x_init):
        """The closed-form potential for `x_init` (`S` or flat), or `None` (`potential`)."""
        x_init = np.reshape(np.asarray(x_init, dtype=np.float64), self.point_shape)
        return None if self._potential is None else self._potential(x_init)

    def point_over(self, w) -> np.ndarray:
        """The point `x` of `M` over `w` (`G(x) = w`): `S`.

        Raises:
            InputError: this parametrization has no `point_over` map.
        """
        if self._point_over is None:
            raise InputError(
                f"{self.name} cannot map `w0` onto its manifold (it has no `point_over`; "
                "parametrizations from `commuting_parametrization` have one); pass `x0`",
                argument="w0",
            )
        return np.asarray(self._point_over(as_point(w, "w0")), dtype=np.float64)

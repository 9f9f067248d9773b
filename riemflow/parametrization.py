"""Parametrizations `w = G(x)` of a model by a point `x` of a Riemannian manifold.

Notation (MATH.md sections 1-2): `M` has dimension `m` and its points have `D`
coordinates (`D = m` for open sets and intrinsic coordinates, `D > m` for an embedded
manifold in ambient coordinates); `G: M -> R^d`.

- Jacobian `dG(x)`: `(d, D)`.
- Gradient fields `grad G_i = g^{-1} dG_i` (projected onto `T_x M` for embedded manifolds):
  rows of a `(d, D)` array.
- Tangent kernel `K(x) = dG g^{-1} dG^T`: `(d, d)`, positive definite iff `G` is regular.
- Lie brackets `[grad G_i, grad G_j] = d(grad G_j) grad G_i - d(grad G_i) grad G_j`:
  `(d, d, D)`, computed with exact autograd derivatives (forward over reverse mode).
- Joint flow `psi(x; mu)`: time-1 flow of `dx/ds = sum_i mu_i grad G_i(x)`.

Every method takes one point `(D,)` or a batch `(B, D)` and answers with or without the
leading batch axis accordingly; batches are evaluated in one vectorised call when the map
broadcasts over a leading axis.
"""

from __future__ import annotations

from dataclasses import dataclass

import autograd.numpy as anp
import numpy as np
from scipy.integrate import solve_ivp

from . import _autodiff
from ._geometry import Geometry, make_geometry
from ._validation import as_point, as_points, as_positive, as_positive_int, readonly_copy
from .errors import (
    DivergenceError,
    DomainError,
    InputError,
    NotCallableError,
    NotCommutingError,
    NotRegularError,
    ShapeError,
    SolverError,
)
from .losses import euclidean_gradient

__all__ = ["Parametrization", "CommutingReport", "RegularityReport"]

# Largest number of float64 entries of a (B, d, d, D) bracket tensor held at once.
_BRACKET_CHUNK_ENTRIES = 4_000_000


@dataclass(frozen=True)
class CommutingReport:
    """Outcome of `Parametrization.check_commuting`.

    The relative bracket of a pair `(i, j)` at `x` is
    $|[X_i, X_j]| / (|dX_j X_i| + |dX_i X_j|)$ with $X_i = \\operatorname{grad} G_i$: 0 when
    the two terms cancel exactly, 1 when one of them vanishes; `0/0` counts as 0 (both terms
    zero, e.g. a linear `G`). It does not change when `G` or `x` is rescaled.

    Attributes:
        passed: every pair at every point satisfied
            `|[X_i, X_j]| <= atol + rtol * (|dX_j X_i| + |dX_i X_j|)`.
        max_bracket: the largest relative bracket norm found.
        max_abs_bracket: the largest absolute bracket norm found.
        worst_pair: `(i, j)` where `max_bracket` occurred (`None` if `d = 1`).
        worst_point: the point `(D,)` where it occurred.
        n_points: number of points checked.
        rtol, atol: the tolerances decided with.
    """

    passed: bool
    max_bracket: float
    max_abs_bracket: float
    worst_pair: tuple[int, int] | None
    worst_point: np.ndarray | None
    n_points: int
    rtol: float
    atol: float

    def __str__(self) -> str:
        verdict = "commuting" if self.passed else "NOT commuting"
        where = ""
        if self.max_abs_bracket == 0:
            where = " (every bracket vanishes exactly)"
        elif self.worst_pair is not None and self.worst_point is not None:
            pt = np.array2string(self.worst_point, precision=4, threshold=8)
            where = f", worst pair {self.worst_pair} at x={pt}"
        return (
            f"{verdict}: max relative bracket {self.max_bracket:.3e} "
            f"(absolute {self.max_abs_bracket:.3e}; rtol={self.rtol:g}, atol={self.atol:g}) "
            f"over {self.n_points} points{where}"
        )


@dataclass(frozen=True)
class RegularityReport:
    """Outcome of `Parametrization.check_regular`.

    Singular values of `dG(x)` are measured in the metric of `M`: they are the square roots
    of the eigenvalues of `K(x)` (on an embedded manifold, of `dG` restricted to `T_x M`).

    Attributes:
        passed: `d <= m` and `sigma_min(x) > rtol * sigma_max(x)` at every point.
        min_singular_value: smallest `sigma_min(x)` over the points.
        min_relative_singular_value: smallest `sigma_min(x) / sigma_max(x)`.
        worst_point: the point `(D,)` where the relative value is smallest.
        n_points: number of points checked.
        output_dim, manifold_dim: `d` and `m`.
        rtol: the tolerance decided with.
    """

    passed: bool
    min_singular_value: float
    min_relative_singular_value: float
    worst_point: np.ndarray | None
    n_points: int
    output_dim: int
    manifold_dim: int
    rtol: float

    def __str__(self) -> str:
        verdict = "regular" if self.passed else "NOT regular"
        if self.output_dim > self.manifold_dim:
            return (
                f"{verdict}: output dimension d={self.output_dim} exceeds the manifold "
                f"dimension m={self.manifold_dim}, so dG cannot have rank d"
            )
        pt = np.array2string(self.worst_point, precision=4, threshold=8)
        return (
            f"{verdict}: min singular value of dG {self.min_singular_value:.3e}, min relative "
            f"{self.min_relative_singular_value:.3e} (rtol={self.rtol:g}) over "
            f"{self.n_points} points, worst at x={pt}"
        )


@dataclass
class _Lazy:
    """Facts learned from the first evaluated point (`D` when `space` was not given, `d`)."""

    geometry: Geometry | None = None
    output_dim: int | None = None


class Parametrization:
    """A smooth map `G: M -> R^d` on a geomstats manifold, `w = G(x)`.

    Args:
        fn: the map for one point, `x: (D,) -> (d,)`, written with `autograd.numpy`. If
            it also broadcasts over a leading batch axis (`x[..., i]`, `axis=-1`), batches
            are evaluated in one call.
        space: the manifold `M`: a geomstats `Euclidean(D)` (or just the int `D`), an
            `ImmersedSet` in intrinsic coordinates with its `PullbackMetric` (see
            `riemflow.spaces.immersed_manifold`), or a submanifold of a Euclidean space in
            ambient coordinates such as `Hypersphere(m)`. Default: `Euclidean(D)` with `D`
            taken from the first point evaluated.
        name: label used in reports and errors.
        domain: optional predicate `x -> bool` (may be vectorised `(B, D) -> (B,)`)
            restricting `M` to an open subset, e.g. the positive orthant.
        sampler: optional `(rng, n) -> (n, D)` drawing random points of the domain for the
            checks; default uniform on `[-1, 1]^D` (Euclidean, intrinsic) or uniform on the
            manifold (embedded), rejected outside `domain`.
        vectorized: whether `fn` broadcasts over a batch axis; `None` detects it.
        vjp: optional closed-form pullback of covectors, `(x, c) -> dG(x)^T c` for a
            point `x: (D,)` and `c: (d,)` (or row-wise on batches `(B, D), (B, d)` when
            `fn` is vectorized). The flows and descents then evaluate `G` and its pullback
            without an autograd trace (the cost of a flow step at large `d`); all other
            derivatives stay autograd's. `check_vjp` compares it with autograd.
        potential: optional closed form of the forward theorem (MATH.md section 4):
            `x_init -> Legendre` (or `None` where the closed form does not apply), used by
            `riemflow.mirror_potential` instead of the numerical construction.

    Raises:
        UnsupportedSpaceError: `space` is not a kind riemflow can do calculus on.

    Example:
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
    ):
        if not callable(fn):
            raise NotCallableError(
                f"`fn` must be callable, mapping x (D,) -> w (d,); got {fn!r}", argument="fn"
            )
        self.fn = fn
        self.name = name or getattr(fn, "__name__", "G")
        self._map = _autodiff.PointwiseMap(fn, name=self.name, vectorized=vectorized)
        if vjp is not None and not callable(vjp):
            raise NotCallableError(
                f"`vjp` must be callable (x, c) -> dG(x)^T c; got {vjp!r}", argument="vjp"
            )
        self._vjp = vjp
        if potential is not None and not callable(potential):
            raise NotCallableError(
                f"`potential` must be callable x_init -> Legendre; got {potential!r}",
                argument="potential",
            )
        self._potential = potential
        self._domain = domain
        self._sampler = sampler
        self._lazy = _Lazy()
        if space is not None:
            self._lazy.geometry = make_geometry(
                space, domain=domain, sampler=sampler or getattr(space, "sampler", None)
            )

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
    def input_dim(self) -> int:
        """`D`, the number of coordinates of a point `x`."""
        return self.geometry.point_dim

    @property
    def manifold_dim(self) -> int:
        """`m`, the dimension of `M` (`m < D` for an embedded manifold)."""
        return self.geometry.dim

    @property
    def output_dim(self) -> int:
        """`d`, the dimension of `w = G(x)` (evaluates `G` once at a sample if unknown)."""
        if self._lazy.output_dim is None:
            self(self.geometry.sample(np.random.default_rng(0), 1)[0])
        return self._lazy.output_dim

    def __repr__(self) -> str:
        space = type(self._lazy.geometry.space).__name__ if self._lazy.geometry else "R^D"
        return f"Parametrization({self.name!r} on {space})"

    # -- input handling -----------------------------------------------------------------
    def _batch(self, x, name: str = "x") -> tuple[np.ndarray, bool]:
        if self._lazy.geometry is None:  # default space: Euclidean(D), D from this point
            first, _ = as_points(x, name)
            self._lazy.geometry = make_geometry(
                first.shape[1], domain=self._domain, sampler=self._sampler
            )
        xb, single = as_points(x, name, self.input_dim)
        inside = self.geometry.in_domain(xb)
        if not np.all(inside):
            b = int(np.argmin(inside))
            dist = self.geometry.distance_to_manifold(xb[b : b + 1])[0]
            extra = f" (distance to the manifold {dist:.3e})" if dist > 0 else ""
            raise DomainError(
                f"`{name}` has a point outside the domain of {self.name} on "
                f"{type(self.space).__name__}: {np.array2string(xb[b], precision=6, threshold=8)}"
                f"{extra}",
                argument=name,
            )
        return xb, single

    def _values(self, xb):
        out = self._map(xb)
        d = anp.shape(out)[-1]
        if self._lazy.output_dim is None:
            self._lazy.output_dim = int(d)
        return out

    def _checked_values(self, xb: np.ndarray, name: str = "x") -> np.ndarray:
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

    @staticmethod
    def _unbatch(arr, single: bool):
        arr = np.asarray(arr, dtype=np.float64)
        return arr[0] if single else arr

    # -- batched, differentiable building blocks (inputs (B, D)) ------------------------
    def _jacobian(self, xb):
        return _autodiff.jacobian(self._values, xb, name=self.name, tiled=self._map.tiles(xb))

    def _fields(self, xb):
        return self.geometry.sharp(xb, self._jacobian(xb))

    def _bracket_terms(self, xb):
        """`T[b, i, j] = d(grad G_j)(grad G_i)`: `(B, d, d, D)`, and the fields `(B, d, D)`."""
        fields = self._fields(xb)
        plain = np.asarray(fields)
        terms = [
            _autodiff.directional_derivative(self._fields, xb, plain[:, i, :], name=self.name)
            for i in range(plain.shape[1])
        ]
        return np.stack([np.asarray(t) for t in terms], axis=1), plain

    # -- public evaluation --------------------------------------------------------------
    def __call__(self, x) -> np.ndarray:
        """`G(x)`: `(d,)` for a point `(D,)`, `(B, d)` for a batch `(B, D)`.

        Raises:
            ShapeError, NonFiniteError: `x` malformed.
            DomainError: `x` outside the domain, or `G(x)` not finite.
        """
        xb, single = self._batch(x)
        return self._unbatch(self._checked_values(xb), single)

    def jacobian(self, x) -> np.ndarray:
        """Jacobian `dG(x)` in the coordinates of `x`: `(d, D)` or `(B, d, D)`.

        Raises:
            NotDifferentiableError: autograd cannot differentiate `fn`.
        """
        xb, single = self._batch(x)
        self._checked_values(xb)
        return self._unbatch(self._jacobian(xb), single)

    def gradient_fields(self, x) -> np.ndarray:
        """Riemannian gradients `grad G_i(x)` as rows: `(d, D)` or `(B, d, D)`.

        On an embedded manifold they are tangent vectors in ambient coordinates.
        """
        xb, single = self._batch(x)
        self._checked_values(xb)
        return self._unbatch(self._fields(xb), single)

    def kernel(self, x) -> np.ndarray:
        """Tangent kernel `K(x) = dG g^{-1} dG^T`: `(d, d)` or `(B, d, d)`.

        It pushes gradient flow forward: `dw/dt = -K(x) grad L(w)`.
        """
        xb, single = self._batch(x)
        self._checked_values(xb)
        jac = np.asarray(self._jacobian(xb))
        fields = np.asarray(self.geometry.sharp(xb, jac))
        kernel = np.einsum("bik,bjk->bij", jac, fields)
        return self._unbatch(0.5 * (kernel + np.swapaxes(kernel, 1, 2)), single)

    def lie_brackets(self, x) -> np.ndarray:
        """Lie brackets `[grad G_i, grad G_j](x)`: `(d, d, D)` or `(B, d, d, D)`.

        Antisymmetric in `(i, j)`; exact autograd derivatives (no finite differences).
        """
        xb, single = self._batch(x)
        self._checked_values(xb)
        terms, _ = self._bracket_terms(xb)
        return self._unbatch(terms - np.swapaxes(terms, 1, 2), single)

    def loss_gradient(self, loss, x) -> np.ndarray:
        """Riemannian gradient of `L o G` at `x`: `(D,)`.

        One reverse pass through `L o G`, then `g^{-1}` (or the tangent projection).

        Args:
            loss: `L: (d,) -> float`, autograd-differentiable.
            x: a point `(D,)`.
        """
        xb, _ = self._batch(as_point(x, "x"))
        return np.asarray(self._loss_gradient(lambda w: loss(w), xb))[0]

    def _loss_gradient(self, loss_of_w, xb):
        """Riemannian gradient of `sum_b L(G(x_b))`: `(B, D)`.

        Chain rule, `dG(x)^T grad L(G(x))`, with `grad L` from the loss's closed form when
        it has one (`DataLoss.gradient`) and `dG^T` from the closed-form `vjp` when given,
        else one reverse pass through `G` only (never through the loss).
        """

        def cotangent(w):
            with np.errstate(all="ignore"):  # non-finite gradients are reported by the flows
                if w.shape[0] == 1:  # the flows' case
                    return euclidean_gradient(loss_of_w, w[0])[None, :]
                return np.stack([euclidean_gradient(loss_of_w, wb) for wb in w])

        return self._covector_field(xb, cotangent)[1]

    def _point_loss_gradient(self, loss_of_w):
        """`x (D,) -> grad (L o G)(x) (D,)` for one point: the flows' right-hand side.

        When every piece has a closed form (a vectorized `fn`, the `vjp`, the loss's
        `gradient`, a Euclidean space) this is `vjp(x, grad L(fn(x)))` with no other work per
        call: at `d = 1000` the per-call overhead otherwise rivals the arithmetic. Any other
        case goes through `_loss_gradient`.
        """
        closed_loss = getattr(loss_of_w, "gradient", None)
        if (
            self._vjp is not None
            and self._map.vectorized
            and closed_loss is not None
            and self.geometry.kind == "euclidean"
        ):
            fn, vjp = self.fn, self._vjp

            def fast(x):
                return vjp(x, closed_loss(fn(x)))

            return fast
        return lambda x: np.asarray(self._loss_gradient(loss_of_w, x[None, :]))[0]

    def _covector_field(self, xb, cotangent):
        """`(G(x), grad <c, G>(x))` for covectors `c = cotangent(G(x))`: `(B, d), (B, D)`.

        The vector field `sum_i c_i grad G_i`: one pullback `dG^T c`, then `g^{-1}` (or the
        tangent projection). Not traced (plain arrays in and out).
        """
        if self._vjp is not None:
            w = np.asarray(self._values(xb), dtype=np.float64)
            pull = self._closed_form_pullback(xb)
        else:
            w, pull = _autodiff.pullback(self._values, xb, name=self.name)
            w = np.asarray(w, dtype=np.float64)
        grad = pull(np.asarray(cotangent(w), dtype=np.float64))
        return w, np.asarray(self.geometry.sharp(xb, grad[:, None, :]))[:, 0, :]

    def _closed_form_pullback(self, xb):
        def pull(cotangent):
            if self._map.vectorized:
                return np.asarray(self._vjp(xb, cotangent), dtype=np.float64)
            return np.stack(
                [
                    np.asarray(self._vjp(x, c), dtype=np.float64)
                    for x, c in zip(xb, cotangent, strict=True)
                ]
            )

        return pull

    def check_vjp(self, points=None, *, n_samples: int = 16, seed: int | None = 0) -> float:
        """Largest relative difference between the closed-form `vjp` and autograd's.

        Evaluated on `points` (default `n_samples` random points) with random
        cotangents; returns `max |vjp - autograd| / max |autograd|` (0 without a `vjp`).
        """
        if self._vjp is None:
            return 0.0
        xb = self._check_points(points, n_samples, seed)
        rng = np.random.default_rng(seed)
        cot = rng.standard_normal((xb.shape[0], self.output_dim))
        _, pull = _autodiff.pullback(self._values, xb, name=self.name)
        reference = np.asarray(pull(cot))
        closed = self._closed_form_pullback(xb)(cot)
        return float(np.max(np.abs(closed - reference)) / max(np.max(np.abs(reference)), 1e-300))

    # -- checks -------------------------------------------------------------------------
    def _check_points(self, points, n_samples: int, seed) -> np.ndarray:
        if points is None:
            n_samples = as_positive_int(n_samples, "n_samples")
            rng = np.random.default_rng(seed)
            points = self.geometry.sample(rng, n_samples)
        xb, _ = self._batch(points, "points")
        return xb

    def check_commuting(
        self,
        points=None,
        *,
        n_samples: int = 64,
        rtol: float = 1e-8,
        atol: float = 0.0,
        seed: int | None = 0,
    ) -> CommutingReport:
        """Check that the gradient fields of `G` commute (MATH.md section 2).

        Args:
            points: points `(B, D)` (or one `(D,)`) to check at; default `n_samples`
                random points of the domain drawn with `seed`.
            n_samples: number of random points when `points` is `None`.
            rtol: relative tolerance on each bracket (see `CommutingReport`): `1e-8`
                leaves room for the round-off of the two cancelling terms (observed
                `< 1e-13` on the model zoo) while an honest non-commuting pair has
                relative brackets of order 1 at generic points.
            atol: absolute tolerance on the bracket norm, default 0 (scale-free test).
            seed: seed of the random points.

        Returns:
            A `CommutingReport` with the largest relative and absolute brackets, the
            worst pair and point.

        Example:
            >>> import riemflow as rf
            >>> G, x0 = rf.models.diagonal_network(3, depth=2)
            >>> G.check_commuting().passed
            True
        """
        rtol = as_positive(rtol, "rtol", allow_zero=True)
        atol = as_positive(atol, "atol", allow_zero=True)
        if rtol == 0 and atol == 0:
            raise InputError(
                "`rtol` and `atol` are both 0: round-off makes every bracket non-zero, so "
                "the check could never pass; give one of them a positive value",
                argument="rtol",
            )
        xb = self._check_points(points, n_samples, seed)
        self._checked_values(xb, "points")
        d, dim = self.output_dim, self.input_dim
        chunk = max(1, _BRACKET_CHUNK_ENTRIES // max(1, d * d * dim))
        max_rel, max_abs, worst_pair, worst_point = 0.0, 0.0, None, None
        passed = True
        for start in range(0, xb.shape[0], chunk):
            part = xb[start : start + chunk]
            terms, _ = self._bracket_terms(part)
            bracket = np.linalg.norm(terms - np.swapaxes(terms, 1, 2), axis=-1)
            scale = np.linalg.norm(terms, axis=-1)
            scale = scale + np.swapaxes(scale, 1, 2)
            passed &= bool(np.all(bracket <= atol + rtol * scale))
            max_abs = max(max_abs, float(np.max(bracket)))
            rel = np.divide(bracket, scale, out=np.zeros_like(bracket), where=scale > 0)
            if d == 1:  # a single field commutes with itself
                continue
            rel[:, np.arange(d), np.arange(d)] = -1.0
            b, i, j = np.unravel_index(int(np.argmax(rel)), rel.shape)
            if worst_point is None or rel[b, i, j] > max_rel:
                max_rel, worst_pair, worst_point = float(rel[b, i, j]), (int(i), int(j)), part[b]
        if worst_pair is not None:
            worst_pair = (min(worst_pair), max(worst_pair))
        return CommutingReport(
            passed=passed,
            max_bracket=max_rel,
            max_abs_bracket=max_abs,
            worst_pair=worst_pair,
            worst_point=readonly_copy(worst_point),
            n_points=int(xb.shape[0]),
            rtol=rtol,
            atol=atol,
        )

    def check_regular(
        self,
        points=None,
        *,
        n_samples: int = 64,
        rtol: float = 1e-8,
        seed: int | None = 0,
    ) -> RegularityReport:
        """Check that `dG(x)` has rank `d` (so `K(x)` is positive definite).

        Args:
            points: points `(B, D)` (or one `(D,)`); default `n_samples` random points.
            n_samples: number of random points when `points` is `None`.
            rtol: `dG(x)` counts as rank-deficient when
                `sigma_min(x) <= rtol * sigma_max(x)`; `1e-8` is about `sqrt(eps)`, the
                accuracy to which `sigma_min` is resolved from the eigenvalues of `K`.
            seed: seed of the random points.

        Returns:
            A `RegularityReport`.
        """
        rtol = as_positive(rtol, "rtol", allow_zero=True)
        xb = self._check_points(points, n_samples, seed)
        kernels = np.atleast_3d(self.kernel(xb)).reshape(xb.shape[0], self.output_dim, -1)
        eig = np.clip(np.linalg.eigvalsh(kernels), 0.0, None)
        sigma = np.sqrt(eig)
        smax = sigma[:, -1]
        rel = np.divide(sigma[:, 0], smax, out=np.zeros_like(smax), where=smax > 0)
        worst = int(np.argmin(rel))
        d, m = self.output_dim, self.manifold_dim
        passed = d <= m and bool(np.all(sigma[:, 0] > rtol * smax))
        return RegularityReport(
            passed=passed,
            min_singular_value=float(np.min(sigma[:, 0])),
            min_relative_singular_value=float(rel[worst]),
            worst_point=readonly_copy(xb[worst]),
            n_points=int(xb.shape[0]),
            output_dim=d,
            manifold_dim=m,
            rtol=rtol,
        )

    def require_commuting(self, points=None, **kwargs) -> CommutingReport:
        """`check_commuting`, raising `NotCommutingError` (with the report) if it fails."""
        report = self.check_commuting(points, **kwargs)
        if not report.passed:
            raise NotCommutingError(f"{self.name} is not commuting: {report}", report=report)
        return report

    def require_regular(self, points=None, **kwargs) -> RegularityReport:
        """`check_regular`, raising `NotRegularError` (with the report) if it fails."""
        report = self.check_regular(points, **kwargs)
        if not report.passed:
            raise NotRegularError(f"{self.name} is not regular: {report}", report=report)
        return report

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
        """The joint flow `psi(x; mu)` of the gradient fields (MATH.md section 2).

        By default the time-1 flow of `dx/ds = sum_i mu_i grad G_i(x)`. With
        `sequential=True`, the composition
        `Phi^{mu_1}_{grad G_1} o ... o Phi^{mu_d}_{grad G_d}(x)` (the flow of `grad G_d`
        applied first). For a commuting `G` the two agree; otherwise they differ, which
        is a second way to see a non-zero bracket.

        Args:
            x: start point `(D,)`.
            mu: flow times `(d,)`.
            sequential: compose the single-field flows instead of flowing their sum.
            rtol: `solve_ivp` relative tolerance (with `atol`, resolves `psi` to about
                1e-10 relative on the zoo's closed forms).
            atol: `solve_ivp` absolute tolerance.
            method: `solve_ivp` method.

        Returns:
            `psi(x; mu)`: `(D,)`.

        Raises:
            DivergenceError: the flow blows up before time 1 (`mu` outside the domain
                of `psi`, e.g. for `u^3`), or leaves the domain.
            SolverError: the ODE solver failed.
        """
        xb, _ = self._batch(as_point(x, "x"))
        d = self.output_dim
        mu = as_point(mu, "mu", d)
        if not sequential:
            return self._integrate_field(xb[0], mu, rtol=rtol, atol=atol, method=method)
        point = xb[0]
        for i in reversed(range(d)):
            if mu[i] != 0.0:
                direction = np.zeros(d)
                direction[i] = mu[i]
                point = self._integrate_field(point, direction, rtol=rtol, atol=atol, method=method)
        return point

    def closed_form_potential(self, x_init):
        """The closed-form mirror potential for `x_init`, or `None` (see `potential`)."""
        if self._potential is None:
            return None
        return self._potential(np.asarray(x_init, dtype=np.float64))

    def _integrate_field(self, x, mu, *, rtol, atol, method) -> np.ndarray:
        covector = mu[None, :]

        def rhs(_, z):
            out = self._covector_field(z[None, :], lambda w: covector)[1][0]
            if not np.all(np.isfinite(out)):
                raise DivergenceError(
                    f"the gradient fields of {self.name} are not finite at {z}", reason="nan"
                )
            return out

        try:
            sol = solve_ivp(rhs, (0.0, 1.0), x, method=method, rtol=rtol, atol=atol)
        except DivergenceError:
            raise
        if sol.status != 0:
            t_reached = float(sol.t[-1]) if sol.t.size else 0.0
            raise DivergenceError(
                f"psi(x; mu) of {self.name} could not be integrated to s=1 (reached "
                f"s={t_reached:.6g}): {sol.message}. mu={mu} is probably outside the domain "
                "of the joint flow (finite-time blow-up)",
                t_reached=t_reached,
                reason=str(sol.message),
            )
        end = sol.y[:, -1]
        if not np.all(self.geometry.in_domain(end[None, :])):
            raise SolverError(
                f"psi(x; mu) of {self.name} left the domain: ended at {end}",
                t_reached=1.0,
                reason="left domain",
            )
        return end

"""Legendre functions: mirror maps, conjugates, Bregman divergences ([Concepts: Legendre functions
and mirror flow](concepts.md#legendre-functions-and-mirror-flow)).

`R` is a Legendre function on an open convex domain `Omega`: strictly convex with positive
definite Hessian, essentially smooth (`|grad R| -> infinity` at the boundary). Its mirror
map is `grad R`, inverted by `grad R*`. Derivatives default to autograd; closed forms given
by the caller are used instead (and are cross-checked by `Legendre.check`).

Shapes: points `w: (d,)` or batches `(B, d)`; `grad: (d,)`, `hessian: (d, d)`.
"""

from __future__ import annotations

from functools import cached_property

import autograd.numpy as anp
import numpy as np

from . import _autodiff, _transforms, conditions, hessian_metric
from ._newton import inverse_mirror_map
from ._transforms import as_batch, dual_solver, unbatch_like
from ._validation import as_points, as_positive, as_positive_int
from .conditions import LegendreReport
from .domains import Domain, as_domain
from .errors import (
    DomainError,
    NotCallableError,
    ShapeError,
)
from .hessian_metric import FlatnessReport

__all__ = ["Legendre", "LegendreReport", "FlatnessReport", "TracedLegendre"]


def _optional_map(fn, name: str, *, matrix_dim: int | None = None):
    """A closed form given to `Legendre` as a `PointwiseMap` (`None` stays `None`); maps to
    `(d, d)` matrices are flattened first."""
    if fn is None:
        return None
    return _autodiff.PointwiseMap(fn if matrix_dim is None else _matrix_map(fn, matrix_dim), name)


def _matrix_map(fn, dim: int):
    """`fn: (d,) -> (d, d)` as a map to flat vectors, for `PointwiseMap`."""

    def flat(w):
        return anp.reshape(fn(w), anp.shape(w)[:-1] + (dim * dim,))

    return flat


class TracedLegendre:
    """The differentiable building blocks of a `Legendre` function (`R.traced`).

    Points `(d,)` or batches `(B, d)`, no validation, traceable by autograd (inputs may be
    autograd boxes): the Hessian metric, the embeddings of the converse and the derived
    potentials (`Legendre.centered`, `scaled`, `from_conjugate`) differentiate through
    them. Closed forms given to `Legendre` are used where they exist.
    """

    def __init__(self, R: Legendre):
        self._R = R

    def value(self, w):
        """`R(w)`: scalar or `(B,)`."""
        return unbatch_like(self._R._values(as_batch(w)), w)

    def grad(self, w):
        """`grad R(w)`: `(d,)` or `(B, d)`."""
        return unbatch_like(self._R._grads(as_batch(w)), w)

    def hessian(self, w):
        """`hess R(w)`: `(d, d)` or `(B, d, d)`."""
        return unbatch_like(self._R._hessians(as_batch(w)), w)

    def third_derivative(self, w):
        """`T_{ijk} = d_k hess R_{ij}(w)`: `(d, d, d)` or `(B, d, d, d)`."""
        return unbatch_like(self._R._third_derivatives(as_batch(w)), w)

    def grad_conjugate(self, mu):
        """`grad R*(mu)`: the closed form, else the Newton solve as an autograd primitive."""
        R = self._R
        if R._conj_grad_map is not None:
            return unbatch_like(R._conj_grad_map(as_batch(mu)), mu)
        return dual_solver(R)(mu)

    def conjugate(self, mu):
        """`R*(mu)`: the closed form, else `<mu, w> - R(w)` at `w = grad R*(mu)`."""
        R = self._R
        if R._conj_map is not None:
            return unbatch_like(R._conj_map(as_batch(mu))[..., 0], mu)
        w = self.grad_conjugate(mu)
        return anp.sum(mu * w, axis=-1) - self.value(w)

    @property
    def has_hessian_conjugate(self) -> bool:
        """Whether `hess R*` has a closed form (see `hessian_conjugate`)."""
        return self._R._conj_hess_map is not None

    def hessian_conjugate(self, mu):
        """The closed form of `hess R*(mu)`: `(d, d)` or `(B, d, d)` (only when
        `has_hessian_conjugate`)."""
        R = self._R
        flat = R._conj_hess_map(as_batch(mu))
        return unbatch_like(anp.reshape(flat, (-1, R.dim, R.dim)), mu)


class Legendre:
    """A Legendre function `R` on an open convex domain.

    Args:
        fn: `R: (d,) -> float`, written with `autograd.numpy`.
        dim: `d`.
        domain: a `riemflow.domains.Domain`, box pairs `[(lo, hi), ...]`, or `None` for
            all of `R^d`.
        grad: optional closed-form mirror map `w -> grad R(w)`.
        hessian: optional closed-form `w -> hess R(w)` `(d, d)`; write it with
            `autograd.numpy` if curvature and geomstats' connection are wanted.
        grad_conjugate: optional closed-form inverse mirror map `mu -> grad R*(mu)`;
            otherwise a safeguarded Newton solve of `grad R(w) = mu` is used.
        conjugate: optional closed-form `mu -> R*(mu)`; else `<mu, w> - R(w)`, `w = grad R*(mu)`.
        hessian_conjugate: optional `mu -> hess R*(mu)` `(d, d)`; else `hess R(grad R*)^{-1}`.
        name: label in reports and errors.
        newton_tol: the Newton solve stops when its step is below
            `newton_tol * max(|w|_inf, tiny)`; `1e-15` reaches round-off in 1-2 steps
            after quadratic convergence sets in.
        max_newton: iteration budget of the Newton solve.
        newton_time_limit: seconds per Newton solve (default 15; `None`: none; BudgetError).
        check_derivatives: compare the given closed forms with autograd and with each other
            on 3 points of the domain when `R` is built (`conditions.require_closed_forms`),
            and refuse a mismatch.
        derivative_rtol: the relative difference refused by that comparison (default 1e-6;
            correct closed forms agree to ~1e-12).
        edge_form: optional `riemflow.edge_dual.PowerSum` (`grad R*` as a power sum, set by
            the depth >= 3 networks): `implicit_bias` then solves without cancellation.

    Raises:
        ShapeError: bad `dim`/`domain`.
        InputError: a closed form that does not match (naming it), see `check_derivatives`.

    Examples:
        >>> import autograd.numpy as anp, numpy as np, riemflow as rf
        >>> R = rf.Legendre(lambda w: anp.sum(w * anp.log(w) - w), 2,
        ...                 domain=rf.domains.Box.orthant(2))
        >>> R.grad(np.array([1.0, np.e])).round(12).tolist()
        [0.0, 1.0]
        >>> R.grad_conjugate(np.array([0.0, 1.0])).round(12).tolist()
        [1.0, 2.718281828459]
    """

    report = None
    """How `riemflow.mirror_potential` built this function (a `forward.ForwardReport`: the
    route, the structure, the measured interpolation error), else `None`."""

    def __init__(
        self,
        fn,
        dim: int,
        *,
        domain=None,
        grad=None,
        hessian=None,
        grad_conjugate=None,
        conjugate=None,
        hessian_conjugate=None,
        name: str | None = None,
        newton_tol: float = 1e-15,
        max_newton: int = 100,
        newton_time_limit: float | None = 15.0,
        check_derivatives: bool = True,
        derivative_rtol: float = 1e-6,
        edge_form=None,
    ):
        if not callable(fn):
            raise NotCallableError(f"`fn` must be callable w -> float; got {fn!r}", argument="fn")
        self.fn = fn
        self.dim = as_positive_int(dim, "dim")
        self.domain: Domain = as_domain(domain, self.dim)
        self.name = name or getattr(fn, "__name__", "R")
        self.newton_tol = as_positive(newton_tol, "newton_tol")
        self.max_newton = as_positive_int(max_newton, "max_newton")
        self.newton_time_limit = (
            None
            if newton_time_limit is None
            else as_positive(newton_time_limit, "newton_time_limit")
        )
        self._value_map = _autodiff.PointwiseMap(fn, name=self.name)
        self._grad_map = _optional_map(grad, "grad")
        self._hess_map = _optional_map(hessian, "hessian", matrix_dim=self.dim)
        self._conj_grad_map = _optional_map(grad_conjugate, "grad_conjugate")
        self._conj_map = _optional_map(conjugate, "conjugate")
        self._conj_hess_map = _optional_map(hessian_conjugate, "hessian*", matrix_dim=self.dim)
        self.traced = TracedLegendre(self)
        self.edge_form = edge_form
        given = (grad, hessian, grad_conjugate, conjugate, hessian_conjugate)
        names = ("grad", "hessian", "grad_conjugate", "conjugate", "hessian_conjugate")
        self.closed_forms = {n: f is not None for n, f in zip(names, given, strict=True)}
        if check_derivatives and any(self.closed_forms.values()):
            conditions.require_closed_forms(
                self, rtol=as_positive(derivative_rtol, "derivative_rtol")
            )

    def __repr__(self) -> str:
        return f"Legendre({self.name!r}, dim={self.dim}, domain={self.domain!r})"

    @property
    def has_closed_form_inverse(self) -> bool:
        """Whether `grad R*` is a closed form (else a Newton solve)."""
        return self._conj_grad_map is not None

    # -- batched, traceable building blocks -------------------------------------------
    def _values(self, wb):
        return self._value_map(wb)[:, 0]

    def _grads(self, wb):
        if self._grad_map is not None:
            return self._grad_map(wb)
        return _autodiff.gradient(lambda z: anp.sum(self._values(z)), wb, name=self.name)[1]

    def _hessians(self, wb):
        n = anp.shape(wb)[0]
        if self._hess_map is not None:
            flat = self._hess_map(wb)
        else:
            flat = anp.reshape(_autodiff.jacobian(self._grads, wb, name=self.name), (n, -1))
        return anp.reshape(flat, (n, self.dim, self.dim))

    def _third_derivatives(self, wb):
        """`T_{ijk} = d_k hess R_{ij}`: `(B, d, d, d)`."""
        n = anp.shape(wb)[0]

        def flat_hessians(z):
            return anp.reshape(self._hessians(z), (anp.shape(z)[0], -1))

        jac = _autodiff.jacobian(flat_hessians, wb, name=self.name)
        return anp.reshape(jac, (n, self.dim, self.dim, self.dim))

    # -- input handling -----------------------------------------------------------------
    def points(self, w, name: str = "w") -> tuple[np.ndarray, bool]:
        """Validate points of the domain: `(d,)` or `(B, d)` as a finite `(B, d)` array and
        whether `w` was a single point.

        Raises:
            ShapeError, NonFiniteError: `w` malformed.
            DomainError: a point outside the domain (named `name`).
        """
        wb, single = as_points(w, name, self.dim)
        inside = np.asarray(self.domain.contains(wb), dtype=bool)
        if not np.all(inside):
            b = int(np.argmin(inside))
            raise DomainError(
                f"`{name}` has a point outside the domain {self.domain!r} of {self.name}: "
                f"{np.array2string(wb[b], precision=6, threshold=8)}",
                argument=name,
            )
        return wb, single

    def _finite(self, arr, wb, what: str, name: str):
        arr = np.asarray(arr, dtype=np.float64)
        bad = ~np.isfinite(arr.reshape(arr.shape[0], -1)).all(axis=1)
        if np.any(bad):
            b = int(np.argmax(bad))
            raise DomainError(
                f"{what} of {self.name} is not finite at `{name}`="
                f"{np.array2string(wb[b], precision=6, threshold=8)}",
                argument=name,
            )
        return arr

    @staticmethod
    def _out(arr, single):
        return arr[0] if single else arr

    # -- evaluation ---------------------------------------------------------------------
    def __call__(self, w):
        """`R(w)`: float for `(d,)`, `(B,)` for `(B, d)`.

        Raises:
            DomainError: `w` outside the domain, or `R(w)` not finite.
        """
        wb, single = self.points(w)
        with np.errstate(all="ignore"):
            vals = self._finite(self._values(wb)[:, None], wb, "R", "w")[:, 0]
        return float(vals[0]) if single else vals

    def contains(self, w):
        """Whether `w` (`(d,)` or `(B, d)`) lies in the domain."""
        return self.domain.contains(np.asarray(w, dtype=np.float64))

    def grad(self, w) -> np.ndarray:
        """Mirror map `grad R(w)`: `(d,)` or `(B, d)`."""
        wb, single = self.points(w)
        with np.errstate(all="ignore"):
            return self._out(self._finite(self._grads(wb), wb, "grad R", "w"), single)

    def hessian(self, w) -> np.ndarray:
        """`hess R(w)`: `(d, d)` or `(B, d, d)` (the Hessian metric's matrix)."""
        wb, single = self.points(w)
        with np.errstate(all="ignore"):
            return self._out(self._finite(self._hessians(wb), wb, "hess R", "w"), single)

    def third_derivative(self, w) -> np.ndarray:
        """`T_{ijk} = d_i d_j d_k R(w)`: `(d, d, d)` or `(B, d, d, d)`."""
        wb, single = self.points(w)
        return self._out(np.asarray(self._third_derivatives(wb)), single)

    def bregman(self, w, v) -> np.ndarray | float:
        """Bregman divergence `D_R(w, v) = R(w) - R(v) - <grad R(v), w - v>`.

        `w` and `v` have the same shape, `(d,)` or `(B, d)`.
        """
        wb, single = self.points(w, "w")
        vb, _ = self.points(v, "v")
        if wb.shape != vb.shape:
            raise ShapeError(
                f"`w` and `v` must have the same shape; got {wb.shape}, {vb.shape}", argument="v"
            )
        vals = (
            np.asarray(self._values(wb))
            - np.asarray(self._values(vb))
            - np.einsum("bi,bi->b", np.asarray(self._grads(vb)), wb - vb)
        )
        return float(vals[0]) if single else vals

    # -- conjugate ----------------------------------------------------------------------
    def grad_conjugate(self, mu, *, start=None) -> np.ndarray:
        """Inverse mirror map `grad R*(mu)`: the `w` with `grad R(w) = mu`.

        Closed form when given, else a damped Newton solve of
        `min_w R(w) - <mu, w>` (backtracking keeps iterates in the domain and decreases
        the objective; warm-started from the previous solution).

        Args:
            mu: dual points `(d,)` or `(B, d)`.
            start: optional start point `(d,)` for the Newton solve.

        Raises:
            DomainError: the closed form is not finite at `mu` (outside `dom R*`).
            ConvergenceError: Newton did not converge, its line search stalled, or `hess R`
                degenerated at an iterate (reports residual and iterations); typically `mu`
                is outside the range of `grad R`.
            NotPositiveDefiniteError: no start point with a positive definite `hess R`.
        """
        mub, single = as_points(mu, "mu", self.dim)
        if self._conj_grad_map is not None:
            with np.errstate(all="ignore"):
                out = np.asarray(self._conj_grad_map(mub), dtype=np.float64)
            bad = ~np.all(np.isfinite(out), axis=1) | ~np.asarray(self.domain.contains(out))
            if np.any(bad):
                b = int(np.argmax(bad))
                raise DomainError(
                    f"grad R* of {self.name} is not defined at `mu`="
                    f"{np.array2string(mub[b], precision=6, threshold=8)} (outside the "
                    f"range of the mirror map); got "
                    f"{np.array2string(out[b], precision=6, threshold=8)}",
                    argument="mu",
                )
            return self._out(out, single)
        out = np.stack([inverse_mirror_map(self, m, start) for m in mub])
        return self._out(out, single)

    def hessian_conjugate(self, mu) -> np.ndarray:
        """`hess R*(mu) = hess R(w)^{-1}` at `w = grad R*(mu)`: `(d, d)` or `(B, d, d)`.

        The closed form when given (potentials built from their conjugate have it, e.g.
        `K(psi(x_init; mu))` for `mirror_potential`), else the inverse Hessian at the
        primal point.
        """
        mub, single = as_points(mu, "mu", self.dim)
        if self._conj_hess_map is not None:
            with np.errstate(all="ignore"):
                flat = np.asarray(self._conj_hess_map(mub), dtype=np.float64)
            out = flat.reshape(-1, self.dim, self.dim)
            if not np.all(np.isfinite(out)):
                b = int(np.argmax(~np.isfinite(out.reshape(len(out), -1)).all(axis=1)))
                raise DomainError(
                    f"hess R* of {self.name} is not finite at `mu`="
                    f"{np.array2string(mub[b], precision=6, threshold=8)}",
                    argument="mu",
                )
        else:
            w = np.atleast_2d(self.grad_conjugate(mub))
            out = np.linalg.inv(np.atleast_3d(self.hessian(w)).reshape(-1, self.dim, self.dim))
        return self._out(out, single)

    def conjugate(self, mu) -> np.ndarray | float:
        """Convex conjugate `R*(mu) = sup_w <mu, w> - R(w)`: float or `(B,)`."""
        mub, single = as_points(mu, "mu", self.dim)
        if self._conj_map is not None:
            with np.errstate(all="ignore"):
                vals = np.asarray(self._conj_map(mub), dtype=np.float64)[:, 0]
            if not np.all(np.isfinite(vals)):
                b = int(np.argmax(~np.isfinite(vals)))
                raise DomainError(
                    f"R* of {self.name} is not finite at `mu`="
                    f"{np.array2string(mub[b], precision=6, threshold=8)}",
                    argument="mu",
                )
        else:
            w = np.atleast_2d(self.grad_conjugate(mub))
            vals = np.einsum("bi,bi->b", mub, w) - np.asarray(self._values(w))
        return float(vals[0]) if single else vals

    # -- transformations ------------------------------------------------------------------
    def centered(self, w0, *, name: str | None = None) -> Legendre:
        """The Bregman divergence to `w0` as a Legendre function: `D_R(., w0)`.

        `R_0(w) = R(w) - R(w0) - <grad R(w0), w - w0>`: the same Hessian metric and mirror
        flows, normalized so that `R_0(w0) = 0` and `grad R_0(w0) = 0`, the normalization of
        the forward construction ([Concepts: the forward theorem](concepts.md#the-forward-theorem):
        `grad R(G(x_init)) = 0`). With `theta = grad R(w0)`: `grad R_0^*(mu) = grad R^*(mu + theta)`
        and `R_0^*(mu) = R^*(mu + theta) - R^*(theta)`.

        Args:
            w0: the center `(d,)`, inside the domain.
            name: label (default: derived from this one's).

        Examples:
            >>> import numpy as np, riemflow as rf
            >>> R = rf.potentials.negative_entropy(1).centered(np.array([2.0]))
            >>> R(np.array([2.0])), R.grad(np.array([2.0])).tolist()
            (0.0, [0.0])
        """
        return _transforms.centered(self, w0, name)

    def scaled(self, factor: float, *, name: str | None = None) -> Legendre:
        """`c R` for a constant `c > 0`: `grad (cR)^*(mu) = grad R^*(mu / c)`,
        `(cR)^*(mu) = c R^*(mu / c)`. Mirror flow with `c R` is mirror flow with `R` slowed
        down by `c`.

        Examples:
            >>> import numpy as np, riemflow as rf
            >>> R = rf.potentials.negative_entropy(1).scaled(0.25)
            >>> R.grad_conjugate(np.array([0.25])).round(12).tolist()  # exp(0.25 / 0.25)
            [2.718281828459]
        """
        return _transforms.scaled(self, as_positive(factor, "factor"), name)

    @classmethod
    def from_conjugate(
        cls,
        conjugate,
        dim: int,
        *,
        grad_conjugate,
        hessian_conjugate,
        domain=None,
        conjugate_domain=None,
        name: str | None = None,
        newton_tol: float = 1e-15,
        max_newton: int = 100,
        check_derivatives: bool = True,
    ) -> Legendre:
        """The Legendre function `R = Q^*` of a given conjugate `Q` ([Concepts: the forward
        theorem](concepts.md#the-forward-theorem)).

        For potentials known through their conjugate, such as the forward construction's
        `Q(mu)` with `grad Q = G o psi`: `grad R(w)` is the `mu` with `grad Q(mu) = w` (a
        damped Newton solve on `Q(mu) - <mu, w>`, Jacobian `hess Q`),
        `R(w) = <mu, w> - Q(mu)` and `hess R(w) = hess Q(mu)^{-1}`. `grad R` is an autograd
        primitive (its derivative is `hess R`), so `hess R` and curvature are exact when
        `hessian_conjugate` is written with `autograd.numpy`.

        Args:
            conjugate: `Q: (d,) -> float` (broadcasting over a batch axis, or not).
            dim: `d`.
            grad_conjugate: `grad Q`: `(d,) -> (d,)`.
            hessian_conjugate: `hess Q`: `(d,) -> (d, d)`.
            domain: the domain of `R` (the range of `grad Q`); default `R^d`.
            conjugate_domain: the domain of `Q`; default `R^d` (`Q` may return NaN where
                it is not defined: the Newton line search backtracks from there).
            name: label.
            newton_tol: step tolerance of the Newton solve (see `Legendre`).
            max_newton: iteration budget of the Newton solve.
            check_derivatives: check `grad_conjugate` and `hessian_conjugate` against
                autograd derivatives of `conjugate` on 3 points of `conjugate_domain`.

        Examples:
            >>> import autograd.numpy as anp, numpy as np, riemflow as rf
            >>> R = rf.Legendre.from_conjugate(  # Q = sum exp(mu): R = negative entropy
            ...     lambda mu: anp.sum(anp.exp(mu), axis=-1), 1,
            ...     grad_conjugate=anp.exp,
            ...     hessian_conjugate=lambda mu: anp.exp(mu)[..., None],
            ...     domain=rf.domains.Box.orthant(1))
            >>> R.grad(np.array([np.e])).round(12).tolist()
            [1.0]
        """
        return _transforms.from_conjugate(
            cls,
            conjugate,
            as_positive_int(dim, "dim"),
            grad_conjugate=grad_conjugate,
            hessian_conjugate=hessian_conjugate,
            domain=domain,
            conjugate_domain=conjugate_domain,
            name=name,
            newton_tol=newton_tol,
            max_newton=max_newton,
            check_derivatives=check_derivatives,
        )

    # -- geometry -----------------------------------------------------------------------
    @cached_property
    def metric(self):
        """The Hessian metric `hess R` as a geomstats `RiemannianMetric` on the domain.

        geomstats' Christoffel symbols, curvature and geodesics work on it; its
        Christoffel symbols and Riemann tensor use the Hessian-metric closed forms.
        """
        return hessian_metric.hessian_metric(self)

    def check(
        self,
        points=None,
        *,
        n_samples: int = 64,
        seed: int | None = 0,
        rtol: float = 1e-10,
        roundtrip_tol: float = 1e-10,
        boundary_eps=(1e-2, 1e-4, 1e-6, 1e-8),
        growth: float = 2.0,
    ) -> LegendreReport:
        """Check that `R` is Legendre on sampled points of its domain.

        Three checks: `hess R` is positive definite (`lambda_min > rtol * lambda_max`);
        the mirror map inverts (`|grad R*(grad R(w)) - w|_inf <= roundtrip_tol |w|_inf`);
        and, if the domain has a boundary, `|grad R|` increases along paths to it and
        grows at least `growth`-fold from distance `boundary_eps[0]` to
        `boundary_eps[-1]` (essential smoothness; `log` growth such as the entropy's
        gives 4x over the default distances).

        Args:
            points: points `(B, d)` to check; default `n_samples` from the domain.
            n_samples: number of sampled points (and of boundary paths).
            seed: seed of the samples.
            rtol: relative eigenvalue threshold for positive definiteness.
            roundtrip_tol: tolerance of the mirror-map roundtrip.
            boundary_eps: distances to the boundary, decreasing.
            growth: growth factor of `|grad R|` required toward the boundary.

        Returns:
            A `LegendreReport`.
        """
        return conditions.check_legendre(
            self,
            points,
            n_samples=n_samples,
            seed=seed,
            rtol=rtol,
            roundtrip_tol=roundtrip_tol,
            boundary_eps=boundary_eps,
            growth=growth,
        )

    def curvature(self, w) -> np.ndarray:
        """Riemann tensor of the Hessian metric, all indices lowered: `(d, d, d, d)`.

        `R_{aijk} = -(1/4) g^{mb} (T_{jma} T_{kib} - T_{kma} T_{jib})` with
        `T = d^3 R`; geomstats' convention `R_{ijk}^l = dx^l(R(X_j, X_k) X_i)` is this
        tensor with `a` raised (see `riemflow.hessian_metric.FlatnessReport`).
        """
        return hessian_metric.riemann_tensor(self, w)

    def check_flat(
        self, points=None, *, n_samples: int = 32, rtol: float = 1e-8, seed: int | None = 0
    ) -> FlatnessReport:
        """Check whether the Hessian metric is flat (its Riemann tensor vanishes).

        Args:
            points: points `(B, d)`; default `n_samples` from the domain.
            n_samples: number of sampled points.
            rtol: relative tolerance on the cancelling curvature terms (see
                `FlatnessReport`); separable potentials cancel exactly, curved ones such
                as the simplex entropy have relative curvature of order 1.
            seed: seed of the samples.
        """
        return hessian_metric.check_flat(self, points, n_samples=n_samples, rtol=rtol, seed=seed)

"""The hypotheses of the theorems, checked on points: commuting, regular, Legendre.

A parametrization `G` is *commuting* when the Lie brackets of its gradient fields vanish
and *regular* when `dG` has full rank `d` ([Concepts: commuting
parametrizations](concepts.md#commuting-parametrizations), regularity); a potential `R` is
*Legendre* when its Hessian is positive definite, its mirror map inverts and `|grad R|` blows up at
the boundary of its domain ([Concepts: Legendre functions and mirror
flow](concepts.md#legendre-functions-and-mirror-flow)). The checks measure these on sampled or given
points with exact autograd derivatives and return reports that carry the numbers they decided on;
`Parametrization.check_commuting`, `Parametrization.check_regular` and `Legendre.check` call them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import _autodiff
from ._validation import as_positive, as_positive_int, readonly_copy
from .errors import (
    ConvergenceError,
    DomainError,
    InputError,
    NotCommutingError,
    NotPositiveDefiniteError,
    NotRegularError,
)

__all__ = [
    "CommutingReport",
    "ConditionChecks",
    "LegendreReport",
    "check_legendre",
    "RegularityReport",
    "check_commuting",
    "check_vjp",
    "require_vjp",
    "require_closed_forms",
    "check_regular",
    "require_commuting",
    "require_regular",
    "sample_points",
]

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
        worst_point: the point where it occurred, of the space's point shape.
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
        worst_point: the point (of the space's point shape) where the relative value is
            smallest.
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


@dataclass(frozen=True)
class LegendreReport:
    """Outcome of `Legendre.check` on sampled points of the domain.

    Attributes:
        passed: all three checks passed.
        min_hessian_eigenvalue: smallest eigenvalue of `hess R` over the points.
        min_relative_eigenvalue: smallest `lambda_min / lambda_max` (PD iff `> rtol`).
        worst_point: the point `(d,)` of the smallest relative eigenvalue.
        max_roundtrip_error: largest `|grad R*(grad R(w)) - w|_inf / |w|_inf`.
        boundary_growth: smallest ratio `|grad R|` near / far from the boundary along
            paths to it (distances `boundary_eps[-1]` vs `boundary_eps[0]`); `None` when
            the domain is all of `R^d`.
        boundary_monotone: whether `|grad R|` increased along every path.
        n_points: number of points checked.
        rtol, roundtrip_tol, growth: the tolerances decided with.
    """

    passed: bool
    min_hessian_eigenvalue: float
    min_relative_eigenvalue: float
    worst_point: np.ndarray | None
    max_roundtrip_error: float
    boundary_growth: float | None
    boundary_monotone: bool | None
    n_points: int
    rtol: float
    roundtrip_tol: float
    growth: float

    def __str__(self) -> str:
        verdict = "Legendre" if self.passed else "NOT Legendre"
        boundary = (
            "no boundary"
            if self.boundary_growth is None
            else f"|grad R| grows x{self.boundary_growth:.3g} toward the boundary "
            f"(needed x{self.growth:g}, monotone: {self.boundary_monotone})"
        )
        return (
            f"{verdict} on {self.n_points} points: min Hessian eigenvalue "
            f"{self.min_hessian_eigenvalue:.3e} (relative {self.min_relative_eigenvalue:.3e}, "
            f"rtol={self.rtol:g}); roundtrip error {self.max_roundtrip_error:.3e} "
            f"(tol {self.roundtrip_tol:g}); {boundary}"
        )


def sample_points(G, points, n_samples: int, seed) -> np.ndarray:
    """`points` validated as a flat `(B, N)` batch of `G`'s domain, or `n_samples` random
    ones drawn with `seed` when `points` is `None`."""
    if points is None:
        points = G.sample(as_positive_int(n_samples, "n_samples"), seed=seed)
    xb, _ = G.points(points, "points")
    return xb


def check_vjp(G, points=None, *, n_samples: int = 16, seed: int | None = 0) -> float:
    """`G.check_vjp(...)`: the closed-form pullback against autograd's (documented there)."""
    if not G.has_vjp:
        return 0.0
    return _vjp_difference(G, sample_points(G, points, n_samples, seed), seed)


def _vjp_difference(G, xb: np.ndarray, seed: int | None = 0) -> float:
    """`max |vjp - autograd| / max |autograd|` on a validated flat batch, random covectors."""
    cot = np.random.default_rng(seed).standard_normal((xb.shape[0], G.output_dim))
    reference = np.asarray(G.pullback(xb, closed_form=False)[1](cot))
    closed = G.pullback(xb)[1](cot)
    return float(np.max(np.abs(closed - reference)) / max(np.max(np.abs(reference)), 1e-300))


def require_vjp(G, xb, *, rtol: float) -> float:
    """The closed-form `vjp` against autograd's pullback on a validated flat batch `xb`,
    raising `InputError` (naming `vjp`) above `rtol`."""
    difference = _vjp_difference(G, np.asarray(xb, dtype=np.float64))
    if not difference <= rtol:
        raise InputError(
            f"the closed-form `vjp` of {G.name} is not the pullback of its map: it differs "
            f"from autograd's dG(x)^T c by {difference:.3e} (relative, max over "
            f"{np.atleast_2d(xb).shape[0]} point(s) and random c; vjp_rtol={rtol:g})",
            argument="vjp",
        )
    return difference


def check_commuting(
    G,
    points=None,
    *,
    n_samples: int = 64,
    rtol: float = 1e-8,
    atol: float = 0.0,
    seed: int | None = 0,
) -> CommutingReport:
    """`G.check_commuting(...)`: the arguments and the report are documented there.

    The relative bracket of a pair `(i, j)` at `x` is `|[X_i, X_j]| / (|dX_j X_i| +
    |dX_i X_j|)`; a pair passes when `|[X_i, X_j]| <= atol + rtol (|dX_j X_i| + |dX_i X_j|)`.
    """
    rtol = as_positive(rtol, "rtol", allow_zero=True)
    atol = as_positive(atol, "atol", allow_zero=True)
    if rtol == 0 and atol == 0:
        raise InputError(
            "`rtol` and `atol` are both 0: round-off makes every bracket non-zero, so "
            "the check could never pass; give one of them a positive value",
            argument="rtol",
        )
    xb = sample_points(G, points, n_samples, seed)
    G.values(xb, "points")
    d, dim = G.output_dim, G.input_dim
    chunk = max(1, _BRACKET_CHUNK_ENTRIES // max(1, d * d * dim))
    max_rel, max_abs, worst_pair, worst_point = 0.0, 0.0, None, None
    passed = True
    for start in range(0, xb.shape[0], chunk):
        part = xb[start : start + chunk]
        with np.errstate(over="ignore", invalid="ignore"):
            terms, _ = G.traced.bracket_terms(part)
            bracket = np.linalg.norm(terms - np.swapaxes(terms, 1, 2), axis=-1)
            scale = np.linalg.norm(terms, axis=-1)
            scale = scale + np.swapaxes(scale, 1, 2)
        bad = ~np.all(np.isfinite(bracket.reshape(part.shape[0], -1)), axis=1)
        if np.any(bad):
            raise DomainError(
                f"the brackets of {G.name} are not finite at "
                f"{np.array2string(part[int(np.argmax(bad))], precision=6, threshold=8)} "
                "(overflow in float64)",
                argument="points",
            )
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
        worst_point=None
        if worst_point is None
        else readonly_copy(G.geometry.unflatten(worst_point)),
        n_points=int(xb.shape[0]),
        rtol=rtol,
        atol=atol,
    )


def check_regular(
    G,
    points=None,
    *,
    n_samples: int = 64,
    rtol: float = 1e-8,
    seed: int | None = 0,
) -> RegularityReport:
    """`G.check_regular(...)`: the arguments and the report are documented there.

    Singular values of `dG` in the metric of `M` are the square roots of the eigenvalues of
    `K(x)`; a point passes when `sigma_min > rtol * sigma_max` (and `d <= m`).
    """
    rtol = as_positive(rtol, "rtol", allow_zero=True)
    xb = sample_points(G, points, n_samples, seed)
    kernels = np.atleast_3d(G.kernel(G.geometry.unflatten(xb))).reshape(
        xb.shape[0], G.output_dim, -1
    )
    eig = np.clip(np.linalg.eigvalsh(kernels), 0.0, None)
    sigma = np.sqrt(eig)
    smax = sigma[:, -1]
    rel = np.divide(sigma[:, 0], smax, out=np.zeros_like(smax), where=smax > 0)
    worst = int(np.argmin(rel))
    d, m = G.output_dim, G.manifold_dim
    passed = d <= m and bool(np.all(sigma[:, 0] > rtol * smax))
    return RegularityReport(
        passed=passed,
        min_singular_value=float(np.min(sigma[:, 0])),
        min_relative_singular_value=float(rel[worst]),
        worst_point=readonly_copy(G.geometry.unflatten(xb[worst])),
        n_points=int(xb.shape[0]),
        output_dim=d,
        manifold_dim=m,
        rtol=rtol,
    )


def require_commuting(G, points=None, **kwargs) -> CommutingReport:
    """`check_commuting`, raising `NotCommutingError` (with the report) if it fails."""
    report = check_commuting(G, points, **kwargs)
    if not report.passed:
        raise NotCommutingError(f"{G.name} is not commuting: {report}", report=report)
    return report


def require_regular(G, points=None, **kwargs) -> RegularityReport:
    """`check_regular`, raising `NotRegularError` (with the report) if it fails."""
    report = check_regular(G, points, **kwargs)
    if not report.passed:
        raise NotRegularError(f"{G.name} is not regular: {report}", report=report)
    return report


def check_legendre(
    R,
    points=None,
    *,
    n_samples: int = 64,
    seed: int | None = 0,
    rtol: float = 1e-10,
    roundtrip_tol: float = 1e-10,
    boundary_eps=(1e-2, 1e-4, 1e-6, 1e-8),
    growth: float = 2.0,
) -> LegendreReport:
    """`R.check(...)`: whether `R` is Legendre on points of its domain (arguments and
    checks documented there)."""
    rng = np.random.default_rng(seed)
    n_samples = as_positive_int(n_samples, "n_samples")
    if points is None:
        points = R.domain.sample(rng, n_samples)
    wb, _ = R.points(points, "points")
    eig = np.linalg.eigvalsh(np.atleast_3d(R.hessian(wb)).reshape(-1, R.dim, R.dim))
    lmin, lmax = eig[:, 0], eig[:, -1]
    rel = np.where(lmax > 0, lmin / np.where(lmax > 0, lmax, 1.0), -np.inf)
    worst = int(np.argmin(rel))
    pd = bool(np.all(lmin > rtol * np.abs(lmax)))
    try:
        back = np.atleast_2d(R.grad_conjugate(np.atleast_2d(R.grad(wb))))
        scale = np.maximum(np.max(np.abs(wb), axis=1), 1e-300)
        roundtrip = float(np.max(np.max(np.abs(back - wb), axis=1) / scale))
    except (ConvergenceError, DomainError, NotPositiveDefiniteError):
        roundtrip = np.inf
    growth_ratio = monotone = None
    if R.domain.has_boundary:
        eps = np.asarray(boundary_eps, dtype=np.float64)
        paths = R.domain.boundary_approach(rng, n_samples, eps)
        with np.errstate(all="ignore"):
            norms = np.linalg.norm(
                np.asarray(R.traced.grad(paths.reshape(-1, R.dim))), axis=-1
            ).reshape(paths.shape[:2])
        norms = np.where(np.isfinite(norms), norms, np.inf)
        growth_ratio = float(np.min(norms[:, -1] / np.maximum(norms[:, 0], 1e-300)))
        monotone = bool(np.all(np.diff(norms, axis=1) > 0))
    passed = (
        pd
        and roundtrip <= roundtrip_tol
        and (growth_ratio is None or (monotone and growth_ratio >= growth))
    )
    return LegendreReport(
        passed=passed,
        min_hessian_eigenvalue=float(np.min(lmin)),
        min_relative_eigenvalue=float(rel[worst]),
        worst_point=readonly_copy(wb[worst]),
        max_roundtrip_error=roundtrip,
        boundary_growth=growth_ratio,
        boundary_monotone=monotone,
        n_points=int(wb.shape[0]),
        rtol=rtol,
        roundtrip_tol=roundtrip_tol,
        growth=growth,
    )


def require_closed_forms(R, *, rtol: float, n_points: int = 3, seed: int = 0) -> None:
    """Compare the closed forms given to a `Legendre` with autograd and with each other on
    `n_points` points of its domain, raising `InputError` (naming the argument) when one
    differs by more than `rtol` relative to the size of the reference:

    - `grad` against the autograd gradient of `R`;
    - `hessian` times a random direction against the derivative of `grad R` along it;
    - `grad_conjugate(grad R(w))` against `w`;
    - `conjugate(grad R(w))` against `<grad R(w), w> - R(w)` (Fenchel-Young equality);
    - `hessian_conjugate(grad R(w)) hess R(w)` against the identity.
    """
    traced = R.traced
    rng = np.random.default_rng(seed)
    wb = np.asarray(R.domain.sample(rng, n_points), dtype=np.float64)
    with np.errstate(all="ignore"):
        checks = []
        if R.closed_forms.get("grad"):
            auto = np.asarray(_autodiff.gradient(lambda z: np.sum(traced.value(z)), wb)[1])
            checks.append(("grad", np.asarray(traced.grad(wb)), auto))
        if R.closed_forms.get("hessian"):
            v = rng.standard_normal(wb.shape)
            auto = np.asarray(_autodiff.directional_derivative(traced.grad, wb, v))
            closed = np.einsum("bij,bj->bi", np.asarray(traced.hessian(wb)), v)
            checks.append(("hessian", closed, auto))
        mu = np.asarray(traced.grad(wb))
        if R.closed_forms.get("grad_conjugate"):
            checks.append(("grad_conjugate", np.asarray(traced.grad_conjugate(mu)), wb))
        if R.closed_forms.get("conjugate"):
            fenchel = np.sum(mu * wb, axis=-1) - np.asarray(traced.value(wb))
            checks.append(("conjugate", np.asarray(traced.conjugate(mu)), fenchel))
        if R.closed_forms.get("hessian_conjugate"):
            product = np.asarray(traced.hessian_conjugate(mu)) @ np.asarray(traced.hessian(wb))
            checks.append(
                ("hessian_conjugate", product, np.broadcast_to(np.eye(R.dim), product.shape))
            )
    for argument, closed, reference in checks:
        scale = max(float(np.max(np.abs(reference))), 1e-300)
        gap = float(np.max(np.abs(closed - reference))) / scale
        if not gap <= rtol:  # NaN fails too
            raise InputError(
                f"the closed-form `{argument}` given to Legendre {R.name!r} does not match "
                f"{_REFERENCES[argument]}: relative difference {gap:.3e} on {n_points} points "
                f"of its domain (derivative_rtol={rtol:g})",
                argument=argument,
            )


_REFERENCES = {
    "grad": "autograd's gradient of `fn`",
    "hessian": "the derivative of `grad`",
    "grad_conjugate": "the inverse of `grad` (grad R*(grad R(w)) = w)",
    "conjugate": "the Fenchel-Young equality R*(grad R(w)) = <grad R(w), w> - R(w)",
    "hessian_conjugate": "the inverse of `hessian`",
}


class ConditionChecks:
    """The checks of the conditions, as methods of every `Parametrization` (which
    inherits them): `check_commuting`, `check_regular`, their `require_*` forms and
    `check_vjp`."""

    def check_vjp(self, points=None, *, n_samples: int = 16, seed: int | None = 0) -> float:
        """Largest relative difference between the closed-form `vjp` and autograd's.

        Evaluated on `points` (default `n_samples` random points) with random
        cotangents; returns `max |vjp - autograd| / max |autograd|` (0 without a `vjp`).
        """
        return check_vjp(self, points, n_samples=n_samples, seed=seed)

    def check_commuting(
        self,
        points=None,
        *,
        n_samples: int = 64,
        rtol: float = 1e-8,
        atol: float = 0.0,
        seed: int | None = 0,
    ) -> CommutingReport:
        """Check that the gradient fields of `G` commute ([Concepts: Lie
        brackets](concepts.md#lie-brackets)).

        Args:
            points: points `(B, *S)` (or one `S`) to check at; default `n_samples`
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

        Examples:
            >>> import riemflow as rf
            >>> G, x0 = rf.models.diagonal_network(3, depth=2)
            >>> G.check_commuting().passed
            True
        """
        return check_commuting(self, points, n_samples=n_samples, rtol=rtol, atol=atol, seed=seed)

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
            points: points `(B, *S)` (or one `S`); default `n_samples` random points.
            n_samples: number of random points when `points` is `None`.
            rtol: `dG(x)` counts as rank-deficient when
                `sigma_min(x) <= rtol * sigma_max(x)`; `1e-8` is about `sqrt(eps)`, the
                accuracy to which `sigma_min` is resolved from the eigenvalues of `K`.
            seed: seed of the random points.

        Returns:
            A `RegularityReport`.
        """
        return check_regular(self, points, n_samples=n_samples, rtol=rtol, seed=seed)

    def require_commuting(self, points=None, **kwargs) -> CommutingReport:
        """`check_commuting`, raising `NotCommutingError` (with the report) if it fails."""
        return require_commuting(self, points, **kwargs)

    def require_regular(self, points=None, **kwargs) -> RegularityReport:
        """`check_regular`, raising `NotRegularError` (with the report) if it fails."""
        return require_regular(self, points, **kwargs)

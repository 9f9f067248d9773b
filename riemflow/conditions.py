"""The hypotheses of the theorems, checked on points: commuting, regular, Legendre.

A parametrization `G` is *commuting* when the Lie brackets of its gradient fields vanish
and *regular* when `dG` has full rank `d` ([Concepts: commuting
parametrizations](concepts.md#commuting-parametrizations), regularity); a potential `R` is
*Legendre* when its Hessian is positive definite, its mirror map inverts and `|grad R|` blows up at
the boundary of its domain ([Concepts: Legendre functions and mirror
flow](concepts.md#legendre-functions-and-mirror-flow)). The checks measure these on sampled or given
points (`riemflow.regions`) with exact autograd derivatives and return reports that carry the
numbers they decided on; `Parametrization.check_commuting`, `Parametrization.check_regular` and
`Legendre.check` call them. The brackets, their split along `ker dG` and the measures the commuting
verdict is decided on are in `riemflow.brackets`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import _autodiff
from ._validation import as_positive, as_positive_int, readonly_copy
from .brackets import RESOLVED_FACTOR, CommutingReport, check_commuting
from .errors import (
    ConvergenceError,
    DomainError,
    InputError,
    NotCommutingError,
    NotPositiveDefiniteError,
    NotRegularError,
)
from .regions import Region, as_region

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
        region: the `riemflow.regions.Region` checked (how the points were drawn).
    """

    passed: bool
    min_singular_value: float
    min_relative_singular_value: float
    worst_point: np.ndarray | None
    n_points: int
    output_dim: int
    manifold_dim: int
    rtol: float
    region: Region | None = None

    def __str__(self) -> str:
        verdict = "regular" if self.passed else "NOT regular"
        if self.output_dim > self.manifold_dim:
            return (
                f"{verdict}: output dimension d={self.output_dim} exceeds the manifold "
                f"dimension m={self.manifold_dim}, so dG cannot have rank d"
            )
        pt = np.array2string(self.worst_point, precision=4, threshold=8)
        text = (
            f"{verdict}: min singular value of dG {self.min_singular_value:.3e}, min relative "
            f"{self.min_relative_singular_value:.3e} (rtol={self.rtol:g}) over "
            f"{self.n_points} points, worst at x={pt}"
        )
        if self.region is not None:
            text += f"\n  region: {self.region.summary()}\n  {self.region.caveat()}"
        return text


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


def check_regular(
    G,
    points=None,
    *,
    n_samples: int = 64,
    rtol: float = 1e-8,
    seed: int | None = 0,
    region: Region | None = None,
) -> RegularityReport:
    """`G.check_regular(...)`: the arguments and the report are documented there.

    Singular values of `dG` in the metric of `M` are the square roots of the eigenvalues of
    `K(x)`; a point passes when `sigma_min > rtol * sigma_max` (and `d <= m`). With
    `region` (a `riemflow.regions.Region`) its points are checked and the report says
    what they sample.
    """
    rtol = as_positive(rtol, "rtol", allow_zero=True)
    if region is not None:
        region = as_region(G, region, points=points)
        xb = np.asarray(region.points, dtype=np.float64)
    else:
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
        region=region,
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
        region: Region | None = None,
        length_scale: float | None = None,
        order: int = 3,
        resolved_factor: float = RESOLVED_FACTOR,
    ) -> CommutingReport:
        """Check that the gradient fields of `G` commute, and whether their brackets leave
        `ker dG` ([Concepts: Lie brackets](concepts.md#lie-brackets), necessity). Measures, verdicts
        and arguments in full: `riemflow.brackets.check_commuting`.

        Args:
            points: points `(B, *S)` (or one `S`) to check at; default `n_samples`
                random points of the domain drawn with `seed`.
            n_samples: number of random points when `points` and `region` are `None`.
            rtol: tolerance on each `rho = ell |[X_i, X_j]|_g / (|X_i|_g |X_j|_g)`, the
                relative misclosure of loops of linear losses with legs `ell`, default
                `1e-8` (the trajectory tolerance of `verify_equivalence`).
            atol: absolute tolerance on `|[X_i, X_j]|_g`, default 0 (scale-free test).
            seed: seed of the random points.
            region: a `riemflow.regions.Region` (sampled, given, or reachable from an
                initialization) instead of `points`.
            length_scale: `ell` (default: the RMS distance of the points to their
                centroid in the metric of `M`; `|x|_g` for a single point).
            order: 3 (default) also checks `[X_k, [X_i, X_j]]` when the order-2 brackets
                lie in `ker dG`; 2 does not.
            resolved_factor: a measure above `rtol` decides only above this multiple of
                its float64 round-off floor (default 10); below, "unresolved".

        Returns:
            A `CommutingReport` (verdict, measures and their round-off floors, worst pair
            and point, region).

        Examples:
            >>> import riemflow as rf
            >>> G, x0 = rf.models.diagonal_network(3, depth=2)
            >>> G.check_commuting().passed
            True
        """
        return check_commuting(
            self,
            points,
            n_samples=n_samples,
            rtol=rtol,
            atol=atol,
            seed=seed,
            region=region,
            length_scale=length_scale,
            order=order,
            resolved_factor=resolved_factor,
        )

    def check_regular(
        self,
        points=None,
        *,
        n_samples: int = 64,
        rtol: float = 1e-8,
        seed: int | None = 0,
        region: Region | None = None,
    ) -> RegularityReport:
        """Check that `dG(x)` has rank `d` (so `K(x)` is positive definite).

        Args:
            points: points `(B, *S)` (or one `S`); default `n_samples` random points.
            n_samples: number of random points when `points` and `region` are `None`.
            rtol: `dG(x)` counts as rank-deficient when
                `sigma_min(x) <= rtol * sigma_max(x)`; `1e-8` is about `sqrt(eps)`, the
                accuracy to which `sigma_min` is resolved from the eigenvalues of `K`.
            seed: seed of the random points.
            region: a `riemflow.regions.Region` whose points are checked instead; the
                report says what they sample.

        Returns:
            A `RegularityReport`.
        """
        options = {"n_samples": n_samples, "seed": seed, "region": region}
        return check_regular(self, points, rtol=rtol, **options)

    def require_commuting(self, points=None, **kwargs) -> CommutingReport:
        """`check_commuting`, raising `NotCommutingError` (with the report) if it fails."""
        return require_commuting(self, points, **kwargs)

    def require_regular(self, points=None, **kwargs) -> RegularityReport:
        """`check_regular`, raising `NotRegularError` (with the report) if it fails."""
        return require_regular(self, points, **kwargs)

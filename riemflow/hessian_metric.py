"""The Hessian metric `g = hess R` of a Legendre function: geomstats metric and curvature.

For a Hessian metric the Christoffel symbols need only third derivatives of `R`:
`Gamma^k_{ij} = (1/2) g^{kl} T_{ijl}` with `T = d^3 R` (totally symmetric), and the Riemann
tensor has a closed form in `T` and `g^{-1}` (`riemann_tensor`). `HessianMetric` uses both,
so geomstats' geodesics and curvature run on exact autograd derivatives without
differentiating the metric matrix numerically; `check_flat` decides flatness ([Concepts:
Legendre functions and mirror flow](concepts.md#legendre-functions-and-mirror-flow)). Mirror flow
with `R` is the Riemannian gradient flow for this metric.
"""

from __future__ import annotations

from dataclasses import dataclass

import autograd.numpy as anp
import numpy as np
from geomstats.geometry.base import VectorSpaceOpenSet
from geomstats.geometry.euclidean import Euclidean
from geomstats.geometry.riemannian_metric import RiemannianMetric
from geomstats.numerics.geodesic import ExpODESolver, LogODESolver
from geomstats.numerics.ivp import ScipySolveIVP

from . import _autodiff
from ._validation import as_positive_int, readonly_copy

__all__ = [
    "DomainSpace",
    "HessianMetric",
    "hessian_metric",
    "FlatnessReport",
    "riemann_tensor",
    "check_flat",
    "christoffel_symbols",
]


def _batch(point):
    single = anp.ndim(point) == 1
    return (point[None, :] if single else point), single


def christoffel_symbols(R, w):
    """Christoffel symbols of `hess R`: `Gamma^k_{ij} = (1/2) g^{kl} T_{ijl}` with
    `T = d^3 R`, contravariant index first: `(d, d, d)` or `(B, d, d, d)` (traceable)."""
    wb, single = _batch(w)
    T = R.traced.third_derivative(wb)
    ginv = anp.linalg.inv(R.traced.hessian(wb))
    out = 0.5 * anp.einsum("nkl,nijl->nkij", ginv, T)
    return out[0] if single else out


class DomainSpace(VectorSpaceOpenSet):
    """The open domain of a Legendre function as a geomstats manifold (intrinsic)."""

    def __init__(self, domain, equip: bool = False):
        self.domain = domain
        super().__init__(embedding_space=Euclidean(domain.dim), dim=domain.dim, equip=equip)

    def belongs(self, point, atol=None):
        """Whether `point` (`(..., d)`) lies in the domain."""
        return self.domain.contains(np.asarray(point, dtype=np.float64))

    def projection(self, point):
        """Points are only checked, not moved: the domain is open (identity)."""
        return point

    def random_point(self, n_samples=1, bound=1.0):
        """Random points of the domain (unseeded; riemflow's checks pass seeds)."""
        pts = self.domain.sample(np.random.default_rng(), n_samples)
        return pts[0] if n_samples == 1 else pts


class HessianMetric(RiemannianMetric):
    """geomstats `RiemannianMetric` with matrix `hess R(w)` on the domain of `R`.

    Geodesics (`exp`) are integrated with scipy's DOP853 at `geodesic_rtol`,
    `geodesic_atol` (geomstats' default for pullback metrics is 100 Euler steps); `log`
    solves the geodesic boundary value problem with geomstats' `LogODESolver` (scipy
    `solve_bvp`), which needs `jacobian_christoffels` (provided here, exact).

    Args:
        space: the `DomainSpace`.
        legendre: the `Legendre` function `R`.
        geodesic_rtol: relative tolerance of the geodesic ODE (default 1e-10).
        geodesic_atol: absolute tolerance of the geodesic ODE (default 1e-12).
    """

    def __init__(self, space, legendre, geodesic_rtol: float = 1e-10, geodesic_atol: float = 1e-12):
        self.legendre = legendre
        super().__init__(space)
        integrator = ScipySolveIVP(method="DOP853", rtol=geodesic_rtol, atol=geodesic_atol)
        self.exp_solver = ExpODESolver(space, integrator=integrator)
        self.log_solver = LogODESolver(space)

    def metric_matrix(self, base_point=None):
        """`hess R(w)`: `(..., d, d)`."""
        wb, single = _batch(base_point)
        out = self.legendre.traced.hessian(wb)
        return out[0] if single else out

    def christoffels(self, base_point=None):
        """`Gamma^k_{ij} = (1/2) g^{kl} T_{ijl}`, contravariant index first: `(..., d, d, d)`."""
        return christoffel_symbols(self.legendre, base_point)

    def jacobian_christoffels(self, base_point=None):
        """`d_l Gamma^k_{ij}`, derivative index last: `(..., d, d, d, d)`."""
        wb, single = _batch(base_point)
        d = self.legendre.dim

        def flat(z):
            return anp.reshape(self.christoffels(z), (anp.shape(z)[0], d**3))

        out = anp.reshape(_autodiff.jacobian(flat, wb, name=self.legendre.name), (-1, d, d, d, d))
        return out[0] if single else out

    def riemann_tensor(self, base_point=None):
        """`R_{ijk}^l` in geomstats' convention, from the Hessian-metric closed form."""
        wb, single = _batch(np.asarray(base_point, dtype=np.float64))
        A, B = curvature_terms(self.legendre, wb)
        ginv = np.linalg.inv(np.asarray(self.legendre.traced.hessian(wb)))
        out = -0.25 * np.einsum("nla,naijk->nijkl", ginv, A - B)
        return out[0] if single else out


def hessian_metric(legendre) -> HessianMetric:
    """Equip the domain of `legendre` with its Hessian metric; returns the metric."""
    space = DomainSpace(legendre.domain)
    space.equip_with_metric(HessianMetric, legendre=legendre)
    return space.metric


# -- curvature ----------------------------------------------------------------------------
@dataclass(frozen=True)
class FlatnessReport:
    """Outcome of `Legendre.check_flat`: does the Riemann tensor of `hess R` vanish?

    For a Hessian metric, with `T = d^3 R`, the Riemann tensor is
    `R_{aijk} = -(A - B) / 4`, `A_{aijk} = g^{mb} T_{jma} T_{kib}`, `B` the same with
    `j, k` swapped. The relative curvature is `|A - B| / (|A| + |B|)` (0/0 counts as 0).

    Attributes:
        passed: `|A - B| <= rtol (|A| + |B|)` at every point.
        max_curvature: the largest relative curvature.
        max_abs_curvature: the largest `|Riemann|` (Frobenius norm, lowered indices).
        worst_point: where `max_curvature` occurred.
        n_points: number of points checked.
        rtol: the tolerance decided with.
    """

    passed: bool
    max_curvature: float
    max_abs_curvature: float
    worst_point: np.ndarray | None
    n_points: int
    rtol: float

    def __str__(self) -> str:
        verdict = "flat" if self.passed else "curved"
        return (
            f"{verdict}: max relative curvature {self.max_curvature:.3e} (absolute "
            f"{self.max_abs_curvature:.3e}, rtol={self.rtol:g}) over {self.n_points} points"
        )


def curvature_terms(R, wb):
    """`A_{aijk} = g^{mb} T_{jma} T_{kib}` and `B` (`A` with `j, k` swapped): two
    `(B, d, d, d, d)` arrays; the Riemann tensor is `-(A - B) / 4`."""
    T = np.asarray(R.traced.third_derivative(wb))
    ginv = np.linalg.inv(np.asarray(R.traced.hessian(wb)))
    A = np.einsum("nmb,njma,nkib->naijk", ginv, T, T)
    return A, np.swapaxes(A, 3, 4)


def riemann_tensor(R, w) -> np.ndarray:
    """The Riemann tensor of `hess R`, all indices lowered: `(d, d, d, d)` or `(B, ...)`
    (see `Legendre.curvature`)."""
    wb, single = R.points(w)
    A, B = curvature_terms(R, wb)
    out = -0.25 * (A - B)
    return out[0] if single else out


def check_flat(
    R, points=None, *, n_samples: int = 32, rtol: float = 1e-8, seed: int | None = 0
) -> FlatnessReport:
    """`R.check_flat(...)`: whether the Riemann tensor of `hess R` vanishes on points of the
    domain (arguments documented there)."""
    n_samples = as_positive_int(n_samples, "n_samples")
    if points is None:
        points = R.domain.sample(np.random.default_rng(seed), n_samples)
    wb, _ = R.points(points, "points")
    A, B = curvature_terms(R, wb)
    diff = np.linalg.norm((A - B).reshape(len(wb), -1), axis=1)
    scale = np.linalg.norm(A.reshape(len(wb), -1), axis=1) * 2.0  # |A| = |B|
    rel = np.divide(diff, scale, out=np.zeros_like(diff), where=scale > 0)
    worst = int(np.argmax(rel))
    return FlatnessReport(
        passed=bool(np.all(diff <= rtol * scale)),
        max_curvature=float(rel[worst]),
        max_abs_curvature=float(np.max(0.25 * diff)),
        worst_point=readonly_copy(wb[worst]),
        n_points=int(wb.shape[0]),
        rtol=rtol,
    )

"""The Hessian metric `g = hess R` of a Legendre function as a geomstats metric.

For a Hessian metric the Christoffel symbols need only third derivatives of `R`:
`Gamma^k_{ij} = (1/2) g^{kl} T_{ijl}` with `T = d^3 R` (totally symmetric), and the Riemann
tensor has the closed form of `Legendre.curvature`. `HessianMetric` uses both, so geomstats'
geodesics and curvature run on exact autograd derivatives without differentiating the
metric matrix numerically. Mirror flow with `R` is the Riemannian gradient flow for it.
"""

from __future__ import annotations

import autograd.numpy as anp
import numpy as np
from geomstats.geometry.base import VectorSpaceOpenSet
from geomstats.geometry.euclidean import Euclidean
from geomstats.geometry.riemannian_metric import RiemannianMetric
from geomstats.numerics.geodesic import ExpODESolver, LogODESolver
from geomstats.numerics.ivp import ScipySolveIVP

from . import _autodiff

__all__ = ["DomainSpace", "HessianMetric", "hessian_metric"]


def _batch(point):
    single = anp.ndim(point) == 1
    return (point[None, :] if single else point), single


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
        out = self.legendre._hessians(wb)
        return out[0] if single else out

    def christoffels(self, base_point=None):
        """`Gamma^k_{ij} = (1/2) g^{kl} T_{ijl}`, contravariant index first: `(..., d, d, d)`."""
        wb, single = _batch(base_point)
        T = self.legendre._third_derivatives(wb)
        ginv = anp.linalg.inv(self.legendre._hessians(wb))
        out = 0.5 * anp.einsum("nkl,nijl->nkij", ginv, T)
        return out[0] if single else out

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
        A, B = self.legendre._curvature_terms(wb)
        ginv = np.linalg.inv(np.asarray(self.legendre._hessians(wb)))
        out = -0.25 * np.einsum("nla,naijk->nijkl", ginv, A - B)
        return out[0] if single else out


def hessian_metric(legendre) -> HessianMetric:
    """Equip the domain of `legendre` with its Hessian metric; returns the metric."""
    space = DomainSpace(legendre.domain)
    space.equip_with_metric(HessianMetric, legendre=legendre)
    return space.metric

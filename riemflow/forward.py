"""The forward theorem: from a commuting parametrization to its Legendre function.

Concepts: the forward theorem. For a commuting, regular `G` and an initialization `x_init`, the
potential `R` with which gradient flow on `L o G` is mirror flow (for every loss) is the
convex conjugate of

    Q(mu) = int_0^1 <mu, G(psi(x_init; s mu))> ds,     grad Q(mu) = G(psi(x_init; mu)),
    hess Q(mu) = K(psi(x_init; mu)),

with `psi` the joint flow of the gradient fields. `mirror_potential` returns the model's
closed form when it has one (`Parametrization(potential=...)`, set by the model zoo) and
otherwise builds `R` numerically: one ODE solve of the augmented system

    dx/ds = sum_i mu_i grad G_i(x),   dq/ds = <mu, G(x)>,   x(0) = x_init, q(0) = 0

gives `grad Q(mu) = G(x(1))` and `Q(mu) = q(1)` (the line integral), and `R = Q^*` follows by
`Legendre.from_conjugate` (a Newton solve of `G(psi(x_init; mu)) = w` with Jacobian `K`).
The joint flow is `riemflow.joint_flow`; the limit of the flows on under-determined
regression, the Bregman projection, is `riemflow.bregman.implicit_bias`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from autograd.extend import defjvp, defvjp, primitive

from . import fibres
from ._validation import as_positive, as_positive_int
from .domains import MirrorImage
from .errors import DomainError, InputError, SolverError
from .joint_flow import joint_flow
from .legendre import Legendre
from .parametrization import Parametrization

__all__ = [
    "mirror_potential",
    "PotentialConstruction",
    "JOINT_FLOW_EVALUATIONS",
    "JOINT_FLOW_TIME_LIMIT",
]

#: evaluation budget of one joint flow of the numerical construction; a flow that needs
#: more (a stiff one far out in mu, on the way to a point outside the range of grad R*)
#: counts as outside the domain, and the Newton solves backtrack from it
JOINT_FLOW_EVALUATIONS = 10_000
#: its wall-time budget, seconds
JOINT_FLOW_TIME_LIMIT = 10.0


# -- the numerical construction -------------------------------------------------------------
class _JointFlow:
    """`psi(x_init; mu)` and the line integral `Q(mu)` for batches of `mu`, cached.

    Rows whose flow blows up or leaves the domain of `G` come back as NaN: the Newton
    solves backtrack from them, and `Legendre` reports them as outside the domain.
    """

    def __init__(self, G: Parametrization, x_init: np.ndarray, *, rtol: float, method: str):
        self.G, self.x_init, self.rtol, self.method = G, x_init, rtol, method
        self.w0 = np.asarray(G(x_init), dtype=np.float64)
        self.K0 = np.asarray(G.kernel(x_init), dtype=np.float64)
        scale = np.abs(x_init)
        self.atol_x = 1e-14 * np.where(scale > 0, scale, max(float(scale.max()), 1.0))
        self._cache: dict[bytes, tuple[np.ndarray, float]] = {}

    def _atol_q(self, mu: np.ndarray) -> float:
        # q ~ <mu, w0> + mu^T K0 mu / 2: resolve it relative to that size
        size = abs(float(mu @ self.w0)) + abs(float(mu @ self.K0 @ mu))
        return 1e-14 * size + 1e-300

    def _solve_one(self, mu: np.ndarray) -> tuple[np.ndarray, float]:
        key = mu.tobytes()
        if key in self._cache:
            return self._cache[key]
        try:
            with np.errstate(all="ignore"):
                end = joint_flow(
                    self.G,
                    self.x_init,
                    mu,
                    rtol=self.rtol,
                    atol=self.atol_x,
                    method=self.method,
                    line_integral=True,
                    integral_atol=self._atol_q(mu),
                    project=True,
                    max_evaluations=JOINT_FLOW_EVALUATIONS,
                    time_limit=JOINT_FLOW_TIME_LIMIT,
                )
            result = (end.x, end.integral)
        except (SolverError, DomainError, FloatingPointError):
            result = (np.full(self.x_init.size, np.nan), np.nan)
        if len(self._cache) > 256:
            self._cache.clear()
        self._cache[key] = result
        return result

    def psi(self, mub: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        out = [self._solve_one(np.ascontiguousarray(m, dtype=np.float64)) for m in mub]
        return np.stack([o[0] for o in out]), np.array([o[1] for o in out])

    # maps for Legendre.from_conjugate: (d,) or (B, d)
    def _rows(self, mu):
        mu = np.asarray(mu, dtype=np.float64)
        return (mu[None, :], True) if mu.ndim == 1 else (mu, False)

    def grad_conjugate(self, mu):
        mub, single = self._rows(mu)
        x, _ = self.psi(mub)
        ok = np.all(np.isfinite(x), axis=1)
        w = np.full((mub.shape[0], self.w0.size), np.nan)
        if np.any(ok):
            w[ok] = self.G.values(x[ok], "psi(x_init; mu)")
        return w[0] if single else w

    def conjugate(self, mu):
        mub, single = self._rows(mu)
        _, q = self.psi(mub)
        return q[0] if single else q

    def _kernels(self, mu):
        mub, single = self._rows(mu)
        x, _ = self.psi(mub)
        d = self.w0.size
        K = np.full((mub.shape[0], d, d), np.nan)
        ok = np.all(np.isfinite(x), axis=1)
        if np.any(ok):
            K[ok] = np.asarray(self.G.kernel(x[ok])).reshape(-1, d, d)
        return K[0] if single else K

    def _kernel_derivatives(self, mu):
        """`T[..., i, j, k] = d K_ij(psi(x_init; mu)) / d mu_k = DK(psi)[grad G_k(psi)]`.

        For commuting `G`, `d psi / d mu_k = grad G_k(psi)`, so the third derivative of `Q`
        is the derivative of the kernel along the gradient fields
        (`TracedParametrization.kernel_derivatives`): exact, no finite differences.
        """
        mub, single = self._rows(mu)
        x, _ = self.psi(mub)
        T = np.asarray(self.G.traced.kernel_derivatives(x))
        return T[0] if single else T

    def traced_hessian(self):
        """`hess Q = K o psi` as an autograd primitive (its derivative is
        `_kernel_derivatives`), so `hess R`, third derivatives and curvature of the
        numerical potential are exact up to the ODE tolerance."""

        @primitive
        def hessian_conjugate(mu):
            return self._kernels(np.asarray(mu, dtype=np.float64))

        def vjp(ans, mu):
            T = self._kernel_derivatives(np.asarray(mu, dtype=np.float64))
            return lambda g: np.einsum("...ij,...ijk->...k", g, T)

        defvjp(hessian_conjugate, vjp)
        defjvp(
            hessian_conjugate,
            lambda g, ans, mu: np.einsum(
                "...ijk,...k->...ij", self._kernel_derivatives(np.asarray(mu)), g
            ),
        )
        return hessian_conjugate


@dataclass(frozen=True)
class PotentialConstruction:
    """Result of `mirror_potential(..., full_output=True)`.

    Attributes:
        potential: the `Legendre` function.
        report: the `riemflow.fibres.ConstructionReport` saying why the construction is
            valid (`"forward theorem"` or `"constructed"`, with the figures it was decided
            on); `None` for a closed form or with `local=True`.
    """

    potential: Legendre
    report: fibres.ConstructionReport | None


def mirror_potential(
    G: Parametrization,
    x_init,
    *,
    closed_form: bool = True,
    local: bool = False,
    domain=None,
    check_points=None,
    n_check: int = 16,
    commuting_rtol: float = 1e-8,
    regular_rtol: float = 1e-8,
    rtol: float = 1e-12,
    method: str = "DOP853",
    seed: int | None = 0,
    region=None,
    flow_check: bool = False,
    full_output: bool = False,
) -> Legendre | PotentialConstruction:
    """The Legendre function `R` of the forward theorem for `G` and `x_init`.

    Gradient flow on `L o G` from `x_init` is mirror flow with `R` from `w0 = G(x_init)`,
    for every loss (MATH.md section 4). `R` is normalized: `R(w0) = 0`, `grad R(w0) = 0`.

    - If `G` carries a closed form (the model zoo does: diagonal networks of any depth and
      initialization, depth-2 products, linear maps, commuting quadratics and matrix
      sensing, the sphere parametrization of the simplex), it is returned.
    - Otherwise `R` is built numerically: `grad R^*(mu) = G(psi(x_init; mu))` and
      `R^*(mu) = int_0^1 <mu, G(psi(x_init; s mu))> ds` from one augmented ODE solve
      (`solve_ivp`, `method`, `rtol`), `hess R^* = K o psi`; `grad R(w)` solves
      `G(psi(x_init; mu)) = w` by damped Newton (Jacobian `K`), `R(w) = <mu, w> - R^*(mu)`
      and `hess R(w) = K(psi(x_init; mu))^{-1}`. Each evaluation integrates ODEs: expect
      milliseconds to seconds per call, not microseconds.

    Before building, the hypotheses are decided (`riemflow.fibres.decide`, Concepts:
    necessity): regularity, then the brackets of the gradient fields on the checked region,
    split along `ker dG` and measured at the region's length scale
    (`riemflow.brackets`):

    - they vanish: the forward theorem applies;
    - one (of order 2 or 3) leaves `ker dG`: `NotMirrorFlowError`, the proven statement
      (from initializations at that point the loop of linear losses moves `w`, which no
      mirror flow does), with the loop run there;
    - they lie in `ker dG` without vanishing, which the forward theorem does not cover:
      the same decision on the set reachable from `x_init`, then whether `K` is a function
      of `w` there and `K^{-1}` a Hessian metric in `w`; if so the same construction is
      valid (the proposition in `riemflow.fibres`) and `R` is built, else
      `NotMirrorFlowError` says which test failed.

    Args:
        G: a regular parametrization.
        x_init: the initialization `(D,)`.
        closed_form: use `G`'s closed form when it has one.
        local: build the numerical `R` without deciding anything. For a `G` whose flows
            are not mirror flows, `grad R^* = G o psi` along straight lines in `mu` is not a
            gradient field and the result is only the local, path-dependent construction;
            gradient flow will generally not be mirror flow with it (see
            `riemflow.loop_test`).
        domain: the domain of `R` for the numerical construction (a `Domain` or box pairs);
            default `domains.MirrorImage`, the image of the joint flow.
        check_points: points `(B, D)` where the hypotheses are checked (with `x_init`);
            default `x_init` and `n_check` samples of `G`'s domain.
        n_check: number of sampled check points.
        commuting_rtol: tolerance of every figure the decision is taken on: the bracket
            measures of `check_commuting` (its `rtol`), `K` along the fibres, the Hessian
            defect (default `1e-8`, the package's trajectory tolerance).
        regular_rtol: relative singular value tolerance of `check_regular`.
        rtol: `solve_ivp` relative tolerance of the joint flow; `1e-12` makes the numerical
            `R`, `grad R`, `hess R` agree with the closed forms to ~1e-10 relative.
        method: `solve_ivp` method of the joint flow.
        seed: seed of the sampled check points.
        region: where the hypotheses are checked instead of `check_points`: a
            `riemflow.regions.Region`, or `"reachable"` for the set reachable from `x_init`
            (`riemflow.regions.reachable_region`), where the flows from `x_init` live.
        flow_check: after building, compare gradient flow with the mirror flow of `R` on a
            least-squares loss with two samples (`riemflow.fibres.flow_check`) and put the
            deviation in the report.
        full_output: return a `PotentialConstruction` (the potential and the
            `ConstructionReport`) instead of the `Legendre` alone.

    Returns:
        A `Legendre` (`R.grad_conjugate` is `G o psi`, `R.conjugate` is `Q`), or a
        `PotentialConstruction`.

    Raises:
        InputError: `G` is not a `Parametrization`, bad `x_init` or `region`.
        NotMirrorFlowError: a bracket leaves `ker dG` at a checked point, or `K` is not a
            function of `w` (or `K^{-1}` not a Hessian metric) on the reachable set; the
            error carries the `CommutingReport` (`.report`). Not raised with `local`.
        NotCommutingError: the brackets could not be decided at float64 resolution.
        NotRegularError: `dG` loses rank at the check points.

    Example:
        >>> import numpy as np, riemflow as rf
        >>> G, x0 = rf.models.diagonal_network(2, alpha=0.5)
        >>> R = rf.mirror_potential(G, x0)           # closed form: the hyperbolic entropy
        >>> R_num = rf.mirror_potential(G, x0, closed_form=False)   # numerical
        >>> w = np.array([0.3, -1.0])
        >>> bool(np.allclose(R_num.grad(w), R.grad(w), rtol=1e-9))
        True
    """
    if not isinstance(G, Parametrization):
        raise InputError(
            f"`G` must be a riemflow Parametrization; got {type(G).__name__}", argument="G"
        )
    x0 = G.start_point(x_init, "x_init")
    if closed_form:
        R = G.closed_form_potential(x0)
        if R is not None:
            return PotentialConstruction(R, None) if full_output else R
    n_check = as_positive_int(n_check, "n_check")
    rtol = as_positive(rtol, "rtol")
    checked = fibres.check_region(G, x0, region, check_points, n_check, seed)
    G.require_regular(checked.points, rtol=regular_rtol)
    decision = None
    if not local:  # raises NotMirrorFlowError / NotCommutingError when it must refuse
        decision = fibres.decide(G, x0, checked, tol=as_positive(commuting_rtol, "commuting_rtol"))
    flow = _JointFlow(G, x0, rtol=rtol, method=method)
    d = flow.w0.size
    lam_max = float(np.linalg.eigvalsh(flow.K0)[-1])
    mu_scale = 0.5 * max(1.0, float(np.max(np.abs(flow.w0)))) / max(lam_max, 1e-300)
    if domain is None:
        domain = MirrorImage(flow.w0, flow.grad_conjugate, mu_scale)
    kind = "local potential" if local else "potential"
    if decision is not None and decision.outcome == fibres.CONSTRUCTED:
        kind = "potential (brackets in ker dG)"
    R = Legendre.from_conjugate(
        flow.conjugate,
        d,
        grad_conjugate=flow.grad_conjugate,
        hessian_conjugate=flow.traced_hessian(),
        domain=domain,
        name=f"numerical {kind} of {G.name}",
        check_derivatives=False,
    )
    if decision is not None and flow_check:
        decision = replace(decision, flow_deviation=fibres.flow_check(G, x0, R))
    return PotentialConstruction(R, decision) if full_output else R


def __getattr__(name: str):
    """`implicit_bias` and `ImplicitBias` moved to `riemflow.bregman` (deprecated here)."""
    if name in ("implicit_bias", "ImplicitBias"):
        import warnings

        from . import bregman

        warnings.warn(
            f"riemflow.forward.{name} moved to riemflow.bregman.{name} (also riemflow.{name})",
            DeprecationWarning,
            stacklevel=2,
        )
        return getattr(bregman, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

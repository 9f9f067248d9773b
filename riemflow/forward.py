"""The forward theorem: from a commuting parametrization to its Legendre function.

[Concepts: the forward theorem](concepts.md#the-forward-theorem). For a commuting, regular `G` and
an initialization `x_init`, the potential `R` with which gradient flow on `L o G` is mirror flow
(for every loss) is the convex conjugate of

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

Structure is used, not rediscovered: when the outputs of `G` depend on disjoint blocks of
inputs (`riemflow.structure`, found from the sparsity of `dG` or declared), the potential
is a sum of block potentials built by `riemflow.separable` (one-dimensional problems on
Chebyshev panels for scalar blocks), with no ODE per evaluation and no bracket check
between blocks. Every result carries a `ForwardReport` (`R.report`): the route taken, the
structure, the measured interpolation error, or the cost of the joint-flow solves.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace

import numpy as np
from autograd.extend import defjvp, defvjp, primitive

from . import fibres
from ._validation import as_positive, as_positive_int
from .domains import MirrorImage
from .errors import DomainError, InputError, RiemflowError, SolverError
from .joint_flow import joint_flow
from .legendre import Legendre
from .parametrization import Parametrization
from .regions import Region
from .separable import SeparableReport, structured_potential
from .structure import Structure, find_structure

__all__ = [
    "mirror_potential",
    "ForwardReport",
    "JointFlowCost",
    "JOINT_FLOW_EVALUATIONS",
    "JOINT_FLOW_TIME_LIMIT",
]

#: evaluation budget of one joint flow of the numerical construction; a flow that needs
#: more (a stiff one far out in mu, on the way to a point outside the range of grad R*)
#: counts as outside the domain, and the Newton solves backtrack from it
JOINT_FLOW_EVALUATIONS = 10_000
#: its wall-time budget, seconds
JOINT_FLOW_TIME_LIMIT = 10.0


class JointFlowCost:
    """The running cost of the joint-flow construction's evaluations (live counters).

    Every evaluation of `grad R*`, `R*` or `hess R*` at a new dual point is one ODE solve
    of the joint flow (a short hop from the nearest anchor, plus the anchor's own solve
    from `x_init` the first time it is used); a `grad R` evaluation is one per Newton
    iteration (typically 3-8).

    Attributes:
        solves: dual points evaluated so far.
        seconds: time spent on them.
    """

    def __init__(self):
        self.solves = 0
        self.seconds = 0.0

    @property
    def per_solve(self) -> float:
        """Mean seconds per dual point (`nan` before the first)."""
        return self.seconds / self.solves if self.solves else float("nan")

    def __str__(self) -> str:
        return f"{self.solves} joint-flow solves, {self.per_solve:.3g} s each"


@dataclass(frozen=True)
class ForwardReport:
    """How `mirror_potential` built its result (`R.report`).

    Attributes:
        route: `"closed form"`; `"separable"` (every block has one output, possibly after
            an output mixing: one-dimensional problems on Chebyshev panels); `"blocks"`
            (scalar and multi-output blocks, the latter by the joint-flow construction on
            each block alone); `"joint flow"` (the general construction, ODE solves per
            evaluation).
        structure: the `riemflow.structure.Structure` found or declared (`None` when it
            was not looked for).
        separable: the `riemflow.separable.SeparableReport` of the separable routes
            (interpolation error, verification against an independent joint flow).
        cost: the `JointFlowCost` of the joint-flow route (live).
        seconds: wall time of the construction's phases.
        notes: why this route, in words.
        decision: the `riemflow.fibres.ConstructionReport` of the joint-flow route: why
            the construction is valid (`"forward theorem"`: the brackets vanish on the
            checked region; `"constructed"`: they lie in `ker dG`, `K` is a function of `w`
            and `K^{-1}` a Hessian metric on the reachable set), with the figures, the
            region and what it does not say; `None` on the other routes or with
            `local=True`.

    Examples:
        >>> import numpy as np, riemflow as rf
        >>> G, x0 = rf.models.diagonal_network(4, depth=3, form="product",
        ...                                    init=np.linspace(0.5, 1.5, 24))
        >>> R = rf.mirror_potential(G, x0, closed_form=False)
        >>> R.report.route, R.report.structure.n_blocks, R.report.separable.bracket_pairs
        ('separable', 4, (0, 6))
        >>> R.report.separable.error_estimate < 1e-11
        True
    """

    route: str
    structure: Structure | None = None
    separable: SeparableReport | None = None
    cost: JointFlowCost | None = None
    seconds: dict = field(default_factory=dict)
    notes: tuple = ()
    decision: fibres.ConstructionReport | None = None

    def __str__(self) -> str:
        lines = [f"route: {self.route}"]
        if self.separable is not None:
            lines.append(str(self.separable))
        elif self.structure is not None:
            lines.append(f"structure: {self.structure}")
        if self.cost is not None:
            lines.append(f"cost: {self.cost}")
        shown = {} if self.separable is None else self.separable.seconds
        rest = {k: v for k, v in self.seconds.items() if k not in shown}
        if rest:
            lines.append("seconds: " + ", ".join(f"{k} {v:.3g}" for k, v in rest.items()))
        if self.decision is not None:
            lines.append(str(self.decision))
        return "\n".join(lines + list(self.notes))


# -- the numerical construction -------------------------------------------------------------
class _JointFlow:
    """`psi(x_init; mu)` and the line integral `Q(mu)` for batches of `mu`, cached.

    Rows whose flow blows up or leaves the domain of `G` come back as NaN: the Newton
    solves backtrack from them, and `Legendre` reports them as outside the domain.

    With `anchors` (commuting `G` only), a solve starts from the nearest point `a` of a
    lattice in `mu` (spacing `anchor_spacing` times the dual scale): `psi(x_init; mu) =
    Phi^{mu - a}(psi(x_init; a))` because the flows commute, and the line integral is
    path-independent, so `Q(mu) = Q(a) + int <mu - a, G>` along the short hop. Each anchor
    is one solve from `x_init`, kept; the result is a function of `mu` alone (whatever was
    evaluated before), and the successive evaluations of a flow, which stay close to each
    other, cost short hops instead of whole paths.
    """

    def __init__(
        self,
        G: Parametrization,
        x_init: np.ndarray,
        *,
        rtol: float,
        method: str,
        anchors: bool = False,
        anchor_spacing: float = 0.5,
    ):
        self.G, self.x_init, self.rtol, self.method = G, x_init, rtol, method
        self.cost = JointFlowCost()
        self.w0 = np.asarray(G.values(x_init[None, :])[0], dtype=np.float64)
        self.K0 = np.asarray(G.kernel(G.geometry.unflatten(x_init)), dtype=np.float64)
        scale = np.abs(x_init)
        self.atol_x = 1e-14 * np.where(scale > 0, scale, max(float(scale.max()), 1.0))
        lam_max = float(np.linalg.eigvalsh(self.K0)[-1])
        self.mu_scale = 0.5 * max(1.0, float(np.max(np.abs(self.w0)))) / max(lam_max, 1e-300)
        self.spacing = anchor_spacing * self.mu_scale if anchors else None
        self._cache: dict[bytes, tuple[np.ndarray, float]] = {}
        self._anchors: dict[bytes, tuple[np.ndarray, float]] = {}

    def _atol_q(self, mu: np.ndarray) -> float:
        # q ~ <mu, w0> + mu^T K0 mu / 2: resolve it relative to that size
        size = abs(float(mu @ self.w0)) + abs(float(mu @ self.K0 @ mu))
        return 1e-14 * size + 1e-300

    def _flow(self, x, mu, atol_q, first_step=None) -> tuple[np.ndarray, float]:
        """The joint flow from `x` by `mu` and its line integral; NaN where it fails."""
        try:
            with np.errstate(all="ignore"):
                end = joint_flow(
                    self.G,
                    x,
                    mu,
                    rtol=self.rtol,
                    atol=self.atol_x,
                    method=self.method,
                    line_integral=True,
                    integral_atol=atol_q,
                    project=True,
                    first_step=first_step,
                    max_evaluations=JOINT_FLOW_EVALUATIONS,
                    time_limit=JOINT_FLOW_TIME_LIMIT,
                )
            return end.x, end.integral
        except (SolverError, DomainError, FloatingPointError):
            return np.full(self.x_init.size, np.nan), np.nan

    def _anchor(self, a: np.ndarray) -> tuple[np.ndarray, float]:
        key = a.tobytes()
        if key not in self._anchors:
            if len(self._anchors) > 4096:
                self._anchors.clear()
            self._anchors[key] = self._flow(self.x_init, a, self._atol_q(a))
        return self._anchors[key]

    def _solve_one(self, mu: np.ndarray) -> tuple[np.ndarray, float]:
        key = mu.tobytes()
        if key in self._cache:
            return self._cache[key]
        start = time.perf_counter()
        atol_q = self._atol_q(mu)
        result = None
        if self.spacing is not None:
            a = self.spacing * np.round(mu / self.spacing)
            x_a, q_a = self._anchor(a)
            if np.all(np.isfinite(x_a)):
                x, q = self._flow(x_a, mu - a, atol_q, first_step=1.0)  # a short hop
                result = (x, q_a + q)
        if result is None:
            result = self._flow(self.x_init, mu, atol_q)
        self.cost.solves += 1
        self.cost.seconds += time.perf_counter() - start
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
            K[ok] = np.asarray(self.G.kernel(self.G.geometry.unflatten(x[ok]))).reshape(-1, d, d)
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


def _joint_flow_potential(
    G: Parametrization,
    x0: np.ndarray,
    *,
    local: bool,
    domain,
    check_points,
    n_check: int,
    commuting_rtol: float,
    regular_rtol: float,
    rtol: float,
    method: str,
    seed,
    region=None,
    flow_check: bool = False,
) -> tuple[Legendre, JointFlowCost, fibres.ConstructionReport | None]:
    """The general construction: the decision (`riemflow.fibres.decide`), then `R = Q^*`
    from joint-flow ODE solves."""
    checked = fibres.check_region(G, x0, region, check_points, n_check, seed)
    G.require_regular(G.geometry.unflatten(checked.points), rtol=regular_rtol)
    decision = None
    if not local:  # raises NotMirrorFlowError / NotCommutingError when it must refuse
        tol = as_positive(commuting_rtol, "commuting_rtol")
        decision = fibres.decide(G, x0, checked, tol=tol)
    flow = _JointFlow(G, x0, rtol=rtol, method=method, anchors=not local)
    d = flow.w0.size
    if domain is None:
        domain = MirrorImage(flow.w0, flow.grad_conjugate, flow.mu_scale)
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
    return R, flow.cost, decision


def _is_reachable(region) -> bool:
    """`region` is the string `"reachable"`."""
    return isinstance(region, str) and region == "reachable"


def _find(G: Parametrization, x0: np.ndarray, structure, seed) -> tuple[Structure | None, str]:
    """The structure to use (`None`: none) and a note on how it was decided."""
    if structure is None:
        return None, "structure not looked for (structure=None)"
    if isinstance(structure, Structure):
        return structure, "structure declared"
    if G.geometry.kind != "euclidean":
        if isinstance(structure, str) and structure == "auto":
            return None, "not a Euclidean space: blocks would not decouple the joint flow"
        raise InputError(
            f"a declared structure needs a Euclidean space; {G.name} is on "
            f"{type(G.space).__name__}",
            argument="structure",
        )
    if isinstance(structure, str):
        if structure != "auto":
            raise InputError(
                f"`structure` must be 'auto', None, a Structure or a list of (outputs, "
                f"inputs) blocks; got {structure!r}",
                argument="structure",
            )
        try:
            return find_structure(G, x0, seed=seed), "structure found from the sparsity of dG"
        except RiemflowError as exc:
            return None, f"structure detection failed ({exc})"
    return find_structure(G, x0, blocks=structure, seed=seed), "blocks declared"


def mirror_potential(
    G: Parametrization,
    x_init,
    *,
    closed_form: bool = True,
    structure="auto",
    local: bool = False,
    domain=None,
    check_points=None,
    n_check: int = 16,
    commuting_rtol: float = 1e-8,
    regular_rtol: float = 1e-8,
    rtol: float = 1e-12,
    method: str = "DOP853",
    interpolation_tol: float = 1e-13,
    structure_tol: float = 1e-8,
    seed: int | None = 0,
    region=None,
    flow_check: bool = False,
) -> Legendre:
    """The Legendre function `R` of the forward theorem for `G` and `x_init`.

    Gradient flow on `L o G` from `x_init` is mirror flow with `R` from `w0 = G(x_init)`,
    for every loss ([Concepts: the forward theorem](concepts.md#the-forward-theorem)). `R` is
    normalized: `R(w0) = 0`, `grad R(w0) = 0`. Three routes, in order:

    - **Closed form.** If `G` carries one (the model zoo does: diagonal networks of any
      depth and initialization in both forms, linear maps, commuting quadratics and matrix
      sensing, the sphere parametrization of the simplex), it is returned.
    - **Structure.** On a Euclidean space, when the outputs of `G` depend on disjoint
      blocks of inputs (`riemflow.structure.find_structure`: the sparsity of `dG`, an
      output mixing `G = A g`, or blocks declared with `structure=`), `R` is the sum of
      the blocks' potentials (`riemflow.separable`). Scalar blocks are one-dimensional
      problems, each represented by Chebyshev panels of one trajectory of its field
      (shared between identical blocks; the range grows on demand): evaluations cost
      about what a closed form costs. Multi-output blocks get the joint-flow construction
      on the block alone. Brackets between blocks vanish exactly and are not checked.
    - **Joint flow.** Otherwise `grad R^*(mu) = G(psi(x_init; mu))` and
      `R^*(mu) = int_0^1 <mu, G(psi(x_init; s mu))> ds` from one augmented ODE solve
      (`solve_ivp`, `method`, `rtol`), `hess R^* = K o psi`; `grad R(w)` solves
      `G(psi(x_init; mu)) = w` by damped Newton (Jacobian `K`), `R(w) = <mu, w> - R^*(mu)`
      and `hess R(w) = K(psi(x_init; mu))^{-1}`. Each evaluation integrates ODEs:
      milliseconds to seconds per call; `R.report.cost` counts them. On matrix and
      embedded manifolds the joint flow runs in the points' flat coordinates and is
      retracted onto the manifold where it drifts (see `riemflow.gradient_flow`).

    Before the joint-flow construction the hypotheses are decided (`riemflow.fibres.decide`,
    [Concepts: necessity](concepts.md#necessity)): regularity, then the brackets of the gradient
    fields on the checked region, split along `ker dG` and measured at the region's length scale
    (`riemflow.brackets`):

    - they vanish: the forward theorem applies;
    - one (of order 2 or 3) leaves `ker dG`: `NotMirrorFlowError`, the proven statement
      (from initializations at that point the loop of linear losses moves `w`, which no
      mirror flow does), with the loop run there;
    - they lie in `ker dG` without vanishing, which the forward theorem does not cover:
      the same decision on the set reachable from `x_init`, then whether `K` is a function
      of `w` there and `K^{-1}` a Hessian metric in `w`; if so the same construction is
      valid (the proposition of [Concepts: necessity](concepts.md#necessity)) and `R` is built, else
      `NotMirrorFlowError` says which test failed.

    `R.report.decision` carries what was decided and on which points.

    The result's `report` attribute is a `ForwardReport`: the route, the structure, the
    measured interpolation error (`R.report.separable.error_estimate`, the largest
    Chebyshev tail, and `verified_error`, the gap to an independent joint flow of the full
    map at a random dual point) or the cost of the joint-flow solves.

    Args:
        G: a regular parametrization.
        x_init: the initialization, of the space's point shape (`(D,)`, `(n, n)`, ...).
        closed_form: use `G`'s closed form when it has one.
        structure: `"auto"` (look for blocks on Euclidean spaces), `None` (the joint-flow
            route), a list of `(outputs, inputs)` blocks, or a
            `riemflow.structure.Structure` (e.g. with a declared output mixing `A` or
            orthogonal input mixing `B`).
        local: build the numerical `R` without deciding anything. For a `G` whose flows
            are not mirror flows, `grad R^* = G o psi` along straight lines in `mu` is not a
            gradient field and the result is only the local, path-dependent construction;
            gradient flow will generally not be mirror flow with it (see
            `riemflow.loop_test`).
        domain: the domain of `R` for the numerical construction (a `Domain` or box pairs);
            default the represented range (structured route) or `domains.MirrorImage`, the
            image of the joint flow.
        check_points: points `(B, *S)` where the hypotheses are checked on the
            joint-flow route (with `x_init`); default `x_init` and `n_check` samples of
            `G`'s domain (of each multi-output block's domain on the structured route).
        n_check: number of sampled check points.
        commuting_rtol: tolerance of every figure the decision is taken on (default
            `1e-8`, the package's trajectory tolerance): the bracket measures of
            `check_commuting` (its `rtol`: relative misclosure of loops of linear losses
            of the region's size), `K` along the fibres, the Hessian defect.
        regular_rtol: relative singular value tolerance of `check_regular`.
        rtol: `solve_ivp` relative tolerance of the joint flow; `1e-12` makes the numerical
            `R`, `grad R`, `hess R` agree with the closed forms to ~1e-10 relative.
        method: `solve_ivp` method of the joint flow.
        interpolation_tol: relative tolerance of the Chebyshev panels of the structured
            route; `1e-13` resolves the one-dimensional potentials to ~1e-12 relative.
        structure_tol: largest accepted gap of the structured potential to the independent
            joint flow at build time (a dependency the detection missed would show here);
            above it the joint-flow route is used, with a note. A smaller `commuting_rtol`
            takes its place, so that a map the bracket check would refuse at that
            tolerance is not accepted by its near-separable structure.
        seed: seed of the sampled check points, the structure detection and the
            verification point.
        region: where the hypotheses are checked instead of `check_points`: a
            `riemflow.regions.Region`, or `"reachable"` for the set reachable from `x_init`
            (`riemflow.regions.reachable_region`), where the flows from `x_init` live
            (each multi-output block's own reachable set on the structured route).
        flow_check: after a joint-flow construction, compare gradient flow with the
            mirror flow of `R` on a least-squares loss with two samples
            (`riemflow.fibres.flow_check`) and put the deviation in `R.report.decision`.

    Returns:
        A `Legendre` with a `report` (`ForwardReport`). On the numerical routes
        `R.grad_conjugate` is `G o psi` and `R.conjugate` is `Q`.

    Raises:
        InputError: `G` is not a `Parametrization`, bad `x_init`, `structure` or `region`.
        NotMirrorFlowError: a bracket of `G` (or of a multi-output block) leaves `ker dG`
            at a checked point, or `K` is not a function of `w` (or `K^{-1}` not a Hessian
            metric) on the reachable set; the error carries the `CommutingReport`
            (`.report`). Not raised with `local`.
        NotCommutingError: the brackets could not be decided at float64 resolution.
        NotRegularError: `dG` loses rank at the check points (or at `x_init`).

    Examples:
        >>> import numpy as np, riemflow as rf
        >>> G, x0 = rf.models.diagonal_network(2, alpha=0.5)
        >>> R = rf.mirror_potential(G, x0)           # closed form: the hyperbolic entropy
        >>> R_num = rf.mirror_potential(G, x0, closed_form=False)   # numerical
        >>> R_num.report.route
        'separable'
        >>> w = np.array([0.3, -1.0])
        >>> bool(np.allclose(R_num.grad(w), R.grad(w), rtol=1e-9))
        True
    """
    if not isinstance(G, Parametrization):
        raise InputError(
            f"`G` must be a riemflow Parametrization; got {type(G).__name__}", argument="G"
        )
    x0 = G.start_point(x_init, "x_init")
    start = time.perf_counter()
    if closed_form:
        R = G.closed_form_potential(x0)
        if R is not None:
            R.report = ForwardReport("closed form", seconds={"build": time.perf_counter() - start})
            return R
    n_check = as_positive_int(n_check, "n_check")
    rtol = as_positive(rtol, "rtol")
    # the structured route decides at the tolerance the caller asked the decision for
    structure_tol = min(
        as_positive(structure_tol, "structure_tol"), as_positive(commuting_rtol, "commuting_rtol")
    )
    options = {
        "check_points": check_points,
        "n_check": n_check,
        "commuting_rtol": commuting_rtol,
        "regular_rtol": regular_rtol,
        "rtol": rtol,
        "method": method,
        "seed": seed,
    }
    if not (region is None or isinstance(region, Region) or _is_reachable(region)):
        raise InputError(
            f"`region` must be None, 'reachable' or a riemflow.regions.Region; got {region!r}",
            argument="region",
        )
    found, note = _find(G, x0, structure, seed)
    notes = [note]
    seconds = {"structure": time.perf_counter() - start} if found is not None else {}
    if found is not None and found.separable:
        options_block = {**options, "check_points": None, "local": local, "domain": None}
        options_block["region"] = "reachable" if _is_reachable(region) else None
        R, separable = structured_potential(
            found,
            general=lambda G_b, x_b: _joint_flow_potential(G_b, x_b, **options_block)[0],
            tol=as_positive(interpolation_tol, "interpolation_tol"),
            domain=domain,
            seed=seed,
        )
        seconds.update(separable.seconds)
        if not separable.verified_error > structure_tol:  # nan: no check could run
            route = "separable" if np.all(found.scalar) else "blocks"
            R.report = ForwardReport(route, found, separable, seconds=seconds, notes=tuple(notes))
            return R
        notes.append(
            f"the structured potential missed an independent joint flow by "
            f"{separable.verified_error:.1e} > structure_tol={structure_tol:g}"
        )
    elif found is not None:
        notes.append("one block: no separable structure")
    start = time.perf_counter()
    R, cost, decision = _joint_flow_potential(
        G, x0, local=local, domain=domain, region=region, flow_check=flow_check, **options
    )
    seconds["build"] = time.perf_counter() - start
    R.report = ForwardReport(
        "joint flow", found, cost=cost, seconds=seconds, notes=tuple(notes), decision=decision
    )
    return R


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

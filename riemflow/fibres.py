"""Whether gradient flows from one initialization are mirror flows when the brackets of the
gradient fields do not vanish but lie in `ker dG`, and the decision `mirror_potential` takes.

[Concepts: necessity](concepts.md#necessity). Let `G` be regular, `x_init` given and `O` the set
reachable from `x_init` by the flows of the gradient fields `X_i` (every gradient flow of `L o G`
from `x_init` stays in `O`).

**Proposition** (derived for riemflow; local, with the hypotheses below; the forward
theorem of Li et al. is its special case of vanishing brackets). Suppose

    (F)  K(x) depends on x in O only through w = G(x):  K(x) = k(G(x)).

Then `dw/dt = -K(x) grad L(w) = -k(w) grad L(w)` for every loss `L`, also a time-dependent
one: the `w`-dynamics is the Riemannian gradient flow of `L` for the metric
`h = k^{-1}` on `W = G(O)`. The `X_i` are `G`-related to `Y_i = k e_i`, so
`dG [X_i, X_j] = [Y_i, Y_j] o G`, and `[Y_i, Y_j]^l = -k_la k_ci k_bj (d_c h_ab - d_b h_ac)`.
Hence the brackets lie in `ker dG` on `O` iff `d_c h_ab` is symmetric in all three
indices, i.e. iff `h = hess R` on (simply connected pieces of) `W`; then `w(t)` is the
mirror flow of `R` for every loss, and `R^*` is the forward construction:
`grad R^*(mu) = G(psi(x_init; mu))`, because the `w`-flow `dw/ds = k(w) mu` is the push
forward of the joint flow, whose end now depends on `mu` only.

Conversely, if (F) fails, `K(x') != K(x'')` with `G(x') = G(x'') = w` and `x', x''`
reachable: steer to `x'` (resp. `x''`) with a loop of linear losses that returns `w` to
itself, then apply one linear loss `<c, w>`; every mirror flow then moves with the velocity
`-hess R(w)^{-1} c` in both cases, gradient flow with `-K(x') c` resp. `-K(x'') c`. So no
mirror flow reproduces one of the two trajectories. For a vertical field `V`,
`dG [X_k, V] = -V(K e_k)`; so (F) holds on `O` iff the brackets of order 3 and more lie in
`ker dG` too: with the necessity theorem, "every iterated bracket of order >= 2 in `ker dG`"
is locally also sufficient. Hypotheses: the orbit has constant rank near the points
considered and fibre-intersect-orbit is connected; a global Legendre `R` needs `W` convex.

**What is checked** (on points, so a sampled verdict: `riemflow.regions`):

1. the brackets of orders 2 and 3 on the reachable region (`riemflow.brackets`);
2. (F): `ell |DK[P_v b]|_F / (|K|_F |P_v b|_g)` for the vertical parts `P_v b` of the
   brackets (exact autograd; 0 under (F)), and, as a second method, `K` at both ends of
   loops of linear losses that return `w` and move `x` along its fibre;
3. the Hessian test: with `Z_c = sum_j (K^{-1})_jc X_j` (the horizontal lift of `d/dw_c`),
   `d_c K = DK[Z_c]` and `d_c h = -h (d_c K) h`; the defect
   `ell_w max |d_c h_ab - d_b h_ac| / max |h|`;
4. optionally, end to end: gradient flow against the mirror flow of the constructed `R` on
   a least-squares loss with two samples, whose gradient turns (where a path-dependent
   construction drifts).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import _autodiff
from ._validation import as_positive, as_positive_int, readonly_copy
from .brackets import (
    COMMUTING,
    NOT_MIRROR,
    UNDECIDED,
    CommutingReport,
    bracket_split,
    check_commuting,
)
from .errors import (
    BudgetError,
    DivergenceError,
    DomainError,
    InputError,
    NotCommutingError,
    NotMirrorFlowError,
    SolverError,
)
from .flows import gradient_flow, mirror_flow
from .joint_flow import joint_flow
from .losses import squared
from .regions import Region, given_region, reachable_region

__all__ = [
    "ConstructionReport",
    "FibreReport",
    "HessianReport",
    "LoopEnd",
    "decide",
    "kernel_along_fibres",
    "hessian_defect",
    "loop_displacement",
    "flow_check",
    "check_region",
    "FORWARD_THEOREM",
    "CONSTRUCTED",
    "LOOP_EVALUATIONS",
    "LOOP_TIME_LIMIT",
    "FLOW_CHECK_EVALUATIONS",
    "FLOW_CHECK_TIME_LIMIT",
]

#: outcome: the brackets vanish on the region, the forward theorem applies
FORWARD_THEOREM = "forward theorem"
#: outcome: brackets in ker dG, (F) and the Hessian test passed, the potential was built
CONSTRUCTED = "constructed"

#: evaluation budget of one leg of a loop (a joint flow over a short time)
LOOP_EVALUATIONS = 20_000
#: wall-time budget of one leg, seconds
LOOP_TIME_LIMIT = 20.0
#: evaluation budget of each of the two flows of `flow_check`
FLOW_CHECK_EVALUATIONS = 200_000
#: wall-time budget of each of the two flows of `flow_check`, seconds
FLOW_CHECK_TIME_LIMIT = 120.0


@dataclass(frozen=True)
class LoopEnd:
    """A loop of linear losses `+c_i <e_i, w>, +c_j <e_j, w>, -c_i <e_i, w>, -c_j <e_j, w>`
    with `c_i = 1 / |X_i(x)|_g`, each leg of duration `leg` (so of length about `leg` in the
    metric of `M`). Every mirror flow returns to its start.

    Attributes:
        start: the start `(D,)`; end: the end `(D,)`.
        pair: `(i, j)`; leg: the leg length.
        closure: `|w_end - w_start|` in the `K(start)^{-1}` norm, divided by `leg`.
        fibre_move: `|end - start|_2 / leg` (how far the loop moved `x`, along its fibre
            when `w` closes).
        kernel_change: `|K(end) - K(start)|_F / |K(start)|_F`.
    """

    start: np.ndarray
    end: np.ndarray
    pair: tuple[int, int]
    leg: float
    closure: float
    fibre_move: float
    kernel_change: float


@dataclass(frozen=True)
class FibreReport:
    """(F), `K` a function of `w`, on the reachable region.

    Attributes:
        kernel_rate: largest `ell |DK[V]|_F / (|K|_F |V|_g)` over the points and the
            vertical parts `V` of the brackets checked (0 under (F)).
        loops: the `LoopEnd`s run from region points.
        max_closure: largest `closure` of the loops.
        max_kernel_change: largest `kernel_change` of the loops.
        n_moved: loops that moved `x` by more than `1e-3` of a leg.
        pairs: the pairs whose vertical brackets were used.
    """

    kernel_rate: float
    loops: tuple
    max_closure: float
    max_kernel_change: float
    n_moved: int
    pairs: tuple


@dataclass(frozen=True)
class HessianReport:
    """Symmetry of `d_c h_ab`, `h = K^{-1}` as a metric in the `w` coordinates.

    Attributes:
        defect: `ell_w max |d_c h_ab - d_b h_ac| / max |h|` (0 iff `h` is a Hessian metric
            in `w`, given (F)).
        scale: `ell_w max |d_c h_ab| / max |h|`, the size of the whole derivative.
        w_length: `ell_w`, the RMS distance of the `w = G(x)` of the points to their
            centroid (1 when they coincide).
    """

    defect: float
    scale: float
    w_length: float


@dataclass(frozen=True)
class ConstructionReport:
    """What `decide` found for one initialization.

    Attributes:
        outcome: `"forward theorem"` (the brackets vanish on the region) or
            `"constructed"` (brackets in `ker dG`, (F) and the Hessian test passed).
        reason: one sentence on what decided it.
        brackets: the `CommutingReport` that decided (on the reachable region for
            `"constructed"`).
        region: the `Region` it was decided on.
        fibres: the `FibreReport` (`None` for `"forward theorem"`).
        hessian: the `HessianReport` (`None` for `"forward theorem"`).
        flow_deviation: largest relative deviation of gradient flow from the mirror flow of
            the constructed potential on the test loss, when `flow_check` ran (else `None`).
        tol: the tolerance of every figure.
    """

    outcome: str
    reason: str
    brackets: CommutingReport
    region: Region
    fibres: FibreReport | None = None
    hessian: HessianReport | None = None
    flow_deviation: float | None = None
    tol: float = 1e-8

    def __str__(self) -> str:
        b = self.brackets
        lines = [f"{self.outcome}: {self.reason}", f"  checked on: {self.region.summary()}"]
        figures = f"  brackets at ell: transverse {b.transverse.value:.1e}, along the fibres "
        figures += f"{b.vertical.value:.1e}"
        if b.transverse3 is not None:
            figures += f", order 3 transverse {b.transverse3.value:.1e}"
        lines.append(figures + f" (tol={self.tol:g})")
        if self.fibres is not None:
            f = self.fibres
            lines.append(
                f"  K along the fibres: ell |DK[V]| / (|K| |V|) <= {f.kernel_rate:.1e}; "
                f"{f.n_moved} of {len(f.loops)} loops moved x along its fibre, w closed to "
                f"{f.max_closure:.1e} and K changed by <= {f.max_kernel_change:.1e} (relative)"
            )
        if self.hessian is not None:
            h = self.hessian
            lines.append(
                f"  Hessian test for h = K^-1 in w: ell_w |d_c h_ab - d_b h_ac| / |h| = "
                f"{h.defect:.1e} (ell_w |d h| / |h| = {h.scale:.2e}, ell_w = {h.w_length:.3g})"
            )
        if self.flow_deviation is not None:
            lines.append(
                "  gradient flow against the mirror flow of the constructed R (least squares, "
                f"two samples): max relative deviation {self.flow_deviation:.1e}"
            )
        lines.append(f"  {self.region.caveat()}")
        return "\n".join(lines)


# -- loops -----------------------------------------------------------------------------------
def loop_displacement(
    G,
    x,
    pair: tuple[int, int],
    leg: float,
    *,
    rtol: float = 1e-12,
    max_evaluations: int = LOOP_EVALUATIONS,
    time_limit: float | None = LOOP_TIME_LIMIT,
) -> LoopEnd:
    """Run one loop of linear losses from `x` (see `LoopEnd`) with joint flows.

    Args:
        G: the `Parametrization`.
        x: the start `(D,)` (validated).
        pair: `(i, j)`.
        leg: leg length in the metric of `M` (the duration of each leg).
        rtol: `solve_ivp` tolerance of each leg.
        max_evaluations: evaluation budget of each leg (default 20,000).
        time_limit: wall-time budget of each leg in seconds (default 20).

    Returns:
        A `LoopEnd`.

    Raises:
        DivergenceError, SolverError, BudgetError: a leg failed.

    Examples:
        >>> import numpy as np, riemflow as rf
        >>> G, _ = rf.models.bilinear_chain(3)
        >>> end = rf.fibres.loop_displacement(G, np.array([0.3, 0.5, -0.2]), (0, 1), 1e-2)
        >>> end.closure > 1e-3  # the bracket (-x3, 0, x1) leaves ker dG
        True
    """
    x = np.asarray(x, dtype=np.float64)
    i, j = int(pair[0]), int(pair[1])
    K0 = np.asarray(G.traced.kernel(x[None, :])[0], dtype=np.float64)
    d = K0.shape[0]
    w0 = np.asarray(G.values(x[None, :])[0], dtype=np.float64)
    atol = 1e-15 * max(1.0, float(np.max(np.abs(x))))
    point = x
    for index, sign in ((i, -1.0), (j, -1.0), (i, 1.0), (j, 1.0)):
        mu = np.zeros(d)
        mu[index] = sign * leg / np.sqrt(K0[index, index])
        point = joint_flow(
            G,
            point,
            mu,
            rtol=rtol,
            atol=atol,
            project=True,
            max_evaluations=max_evaluations,
            time_limit=time_limit,
        ).x
    dw = np.asarray(G.values(point[None, :])[0], dtype=np.float64) - w0
    closure = float(np.sqrt(max(float(dw @ np.linalg.solve(K0, dw)), 0.0))) / leg
    K1 = np.asarray(G.traced.kernel(point[None, :])[0], dtype=np.float64)
    return LoopEnd(
        start=readonly_copy(x),
        end=readonly_copy(point),
        pair=(i, j),
        leg=float(leg),
        closure=closure,
        fibre_move=float(np.linalg.norm(point - x)) / leg,
        kernel_change=float(np.linalg.norm(K1 - K0) / np.linalg.norm(K0)),
    )


def _vertical_pairs(split, ell, tol, max_pairs):
    """Pairs whose vertical brackets exceed `tol` (as `rho_par`), largest first."""
    nrm = np.array([split.field_norm[:, i] * split.field_norm[:, j] for i, j in split.pairs]).T
    rho_v = ell * split.vertical_norm / np.where(nrm > 0, nrm, np.inf)
    best = np.max(rho_v, axis=0) if rho_v.size else np.zeros(0)
    order = [int(p) for p in np.argsort(-best) if best[p] > tol]
    return order[:max_pairs], rho_v


def kernel_along_fibres(
    G,
    region: Region,
    *,
    tol: float = 1e-8,
    n_loops: int = 6,
    leg: float = 0.25,
    max_pairs: int = 6,
    seed: int | None = 0,
    rtol: float = 1e-12,
) -> FibreReport:
    """(F) on a region: is the tangent kernel `K` a function of `w = G(x)` there?

    Infinitesimally, `DK` along the vertical parts `V = P_v [X_i, X_j]` of the brackets
    (the directions in which the flows move `x` along its fibre) must vanish; the measure is
    `ell |DK[V]|_F / (|K|_F |V|_g)` (exact autograd). As a second method, `n_loops` loops
    of linear losses (`loop_displacement`, legs of length `leg * ell`) from region points
    return `w` and move `x` along its fibre, and `K` is compared at their two ends.

    Args:
        G: the `Parametrization`.
        region: the region (normally `reachable_region(G, x_init)`).
        tol: only vertical brackets with `rho_par > tol` are used.
        n_loops: number of loops.
        leg: leg length as a fraction of `ell`.
        max_pairs: at most this many pairs (the largest vertical brackets).
        seed: seed of the loops' start points.
        rtol: `solve_ivp` tolerance of the loops' legs.

    Returns:
        A `FibreReport`.

    Raises:
        DivergenceError, SolverError, BudgetError: a loop failed.
    """
    n_loops = as_positive_int(n_loops, "n_loops")
    leg = as_positive(leg, "leg")
    xb = np.asarray(region.points, dtype=np.float64)
    ell = region.length_scale
    split = bracket_split(G, xb)
    chosen, rho_v = _vertical_pairs(split, ell, tol, max_pairs)
    rates = [0.0]
    for p in chosen:
        V = np.asarray(split.vertical[:, p, :])
        vn = split.vertical_norm[:, p]
        keep = vn > 0
        if not np.any(keep):
            continue
        dK = np.asarray(
            _autodiff.directional_derivative(G.traced.kernel, xb[keep], V[keep], name=G.name)
        )
        size = np.linalg.norm(split.kernel[keep], axis=(1, 2)) * vn[keep]
        rates.append(float(np.max(ell * np.linalg.norm(dK, axis=(1, 2)) / size)))
    loops = []
    if chosen:
        rng = np.random.default_rng(seed)
        starts = rng.choice(xb.shape[0], size=min(n_loops, xb.shape[0]), replace=False)
        for s in starts:
            p = chosen[int(np.argmax(rho_v[s, chosen]))]
            loops.append(loop_displacement(G, xb[s], split.pairs[p], leg * ell, rtol=rtol))
    return FibreReport(
        kernel_rate=max(rates),
        loops=tuple(loops),
        max_closure=max((lp.closure for lp in loops), default=0.0),
        max_kernel_change=max((lp.kernel_change for lp in loops), default=0.0),
        n_moved=sum(lp.fibre_move > 1e-3 for lp in loops),
        pairs=tuple(split.pairs[p] for p in chosen),
    )


def hessian_defect(G, points) -> HessianReport:
    """The Hessian test for `h = K^{-1}` in the `w` coordinates at validated points.

    With the horizontal lift `Z_c = sum_j (K^{-1})_jc X_j` of `d/dw_c` (`dG Z_c = e_c`),
    `d_c K = DK[Z_c]` (exact autograd) and `d_c h = -h (d_c K) h`. Under (F) these are the
    derivatives of `h(w)`, and `h` is a Hessian metric iff `d_c h_ab` is symmetric in all
    three indices.

    Args:
        G: the `Parametrization`.
        points: validated points `(B, D)`.

    Returns:
        A `HessianReport`.

    Examples:
        >>> import numpy as np, riemflow as rf
        >>> G, x0 = rf.models.diagonal_network(2, alpha=0.5)
        >>> rf.fibres.hessian_defect(G, np.stack([x0, 1.1 * x0])).defect < 1e-14
        True
    """
    xb = np.asarray(points, dtype=np.float64)
    F = np.asarray(G.traced.fields(xb), dtype=np.float64)
    K = np.asarray(G.traced.kernel(xb), dtype=np.float64)
    K = 0.5 * (K + np.swapaxes(K, 1, 2))
    h = np.linalg.inv(K)
    derivatives = []
    for c in range(K.shape[1]):
        Z = np.einsum("bj,bjD->bD", h[:, :, c], F)
        dK = np.asarray(_autodiff.directional_derivative(G.traced.kernel, xb, Z, name=G.name))
        dK = 0.5 * (dK + np.swapaxes(dK, 1, 2))
        derivatives.append(-h @ dK @ h)
    dh = np.stack(derivatives, axis=1)  # (B, c, a, b) = d_c h_ab
    defect = np.abs(dh - np.swapaxes(dh, 1, 3))  # d_c h_ab - d_b h_ac
    w = np.asarray(G.values(xb), dtype=np.float64)
    spread = float(np.sqrt(np.mean(np.sum((w - w.mean(axis=0)) ** 2, axis=1))))
    w_length = spread if spread > 0 else 1.0
    size = float(np.max(np.abs(h)))
    return HessianReport(
        defect=w_length * float(np.max(defect)) / size,
        scale=w_length * float(np.max(np.abs(dh))) / size,
        w_length=w_length,
    )


def flow_check(
    G,
    x_init,
    R,
    *,
    t_end: float = 1.0,
    n_times: int = 11,
    seed: int = 3,
    rtol: float = 1e-12,
) -> float:
    """Gradient flow on `L o G` from `x_init` against the mirror flow of `R` from
    `G(x_init)`, for least squares with two random samples (whose gradient turns: a
    path-dependent construction drifts there): `max_t |w_G - w_R| / max_t |w_G|`.

    Budgets of each flow: `FLOW_CHECK_EVALUATIONS` evaluations (200,000) and
    `FLOW_CHECK_TIME_LIMIT` seconds (120).

    Args:
        G: the `Parametrization`.
        x_init: the initialization `(D,)`.
        R: the `Legendre` function.
        t_end: the flows run on `[0, t_end]`.
        n_times: number of compared times.
        seed: seed of the samples.
        rtol: `solve_ivp` tolerance of both flows.

    Returns:
        The largest relative deviation.
    """
    start = G.geometry.unflatten(np.reshape(np.asarray(x_init, dtype=np.float64), -1))
    w0 = np.asarray(G(start), dtype=np.float64)
    d = w0.size
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((min(2, d), d))
    loss = squared(X, X @ w0 + rng.standard_normal(X.shape[0]))
    times = np.linspace(0.0, t_end, n_times)
    budgets = {"max_evaluations": FLOW_CHECK_EVALUATIONS, "time_limit": FLOW_CHECK_TIME_LIMIT}
    tight = {"rtol": rtol, "atol": 1e-14, **budgets}
    gradient = gradient_flow(G, loss, start, (0.0, t_end), t_eval=times, **tight)
    mirror = mirror_flow(R, loss, w0, (0.0, t_end), t_eval=times, **tight)
    scale = float(np.max(np.linalg.norm(gradient.w, axis=1)))
    return float(np.max(np.linalg.norm(gradient.w - mirror.w, axis=1))) / max(scale, 1e-300)


# -- the decision ----------------------------------------------------------------------------
def _not_a_mirror_flow(G, report: CommutingReport, construction) -> None:
    """Raise the refusal of a construction on the reachable set that found no mirror flow."""
    raise NotMirrorFlowError(
        f"{G.name}: gradient flow from x_init is not a mirror flow for every loss: {construction}",
        report=report,
        construction=construction,
    )


def _refusal(G, report: CommutingReport, where: str, hint: str = "") -> str:
    """The proven statement, with the loop that shows it at the decisive point."""
    order3 = report.transverse.value <= report.rtol and report.transverse3 is not None
    which = (
        f"the order-3 bracket [X_{report.transverse3.k}, [X_i, X_j]] of the pair "
        f"{report.worst_pair}"
        if order3
        else f"the bracket of the pair {report.worst_pair}"
    )
    text = (
        f"{G.name}: gradient flow is not a mirror flow for every loss. At x = "
        f"{np.array2string(report.worst_point, precision=4, threshold=8)} ({where}) {which} "
        "leaves ker dG, so from initializations there the loop of linear losses +e_i, +e_j, "
        "-e_i, -e_j moves w while every mirror flow returns to its start: no mirror map "
        "reproduces that trajectory (Concepts: necessity)"
    )
    try:
        ell = report.length_scale
        start = np.reshape(report.worst_point, -1)  # flat coordinates
        loop = loop_displacement(G, start, report.worst_pair, 0.05 * ell)
        text += (
            f". The loop from there, legs of length {0.05 * ell:.3g}, ends "
            f"|w_end - w_start|_K^-1 = {loop.closure:.2e} x the leg length away (every mirror "
            f"flow: 0; the displacement is O(leg^{3 if order3 else 2}))"
        )
    except (DivergenceError, SolverError, BudgetError, DomainError):
        pass
    text += (
        ". local=True builds the local, path-dependent construction anyway (a diagnostic, "
        "not a potential of these flows)."
    )
    return f"{text}{hint}\n{report}"


def decide(
    G,
    x_init,
    region: Region,
    *,
    tol: float = 1e-8,
    reachable: dict | None = None,
    closure_factor: float = 1e3,
    kernel_atol: float = 1e-10,
) -> ConstructionReport:
    """Decide whether gradient flows of `G` from `x_init` are mirror flows, for every loss.

    1. The brackets on `region` (`riemflow.brackets.check_commuting`, `rtol=tol`):
       commuting: the forward theorem applies (`"forward theorem"`); a bracket (order 2 or
       3) leaves `ker dG`: refused (`NotMirrorFlowError`, with the loop at that point);
       no verdict at float64 resolution: refused (`NotCommutingError`).
    2. Brackets in `ker dG` that do not vanish (undecided): the same check on the set
       reachable from `x_init` (`riemflow.regions.reachable_region` with the options
       `reachable`), then (F) (`kernel_along_fibres`) and the Hessian test
       (`hessian_defect`) there, each against `tol`: passed: `"constructed"` (the forward
       construction is valid by the proposition of the module docstring); failed:
       `NotMirrorFlowError` with the reason.

    Args:
        G: the `Parametrization`.
        x_init: the validated initialization `(D,)`.
        region: where to check the brackets first.
        tol: tolerance of every figure (brackets, (F), Hessian defect).
        reachable: options of `reachable_region` for step 2.
        closure_factor: a loop returns `w` only to its ODE accuracy, so the relative
            change of `K` between its ends is tolerated up to
            `max(tol, closure_factor * closure + kernel_atol)` (default `1e3`; a `K` that
            varies along the fibre changes by O(1) of the loop's move along it).
        kernel_atol: the absolute part of that allowance (default `1e-10`, about the
            loops' ODE tolerance times their length).

    Returns:
        A `ConstructionReport` with outcome `"forward theorem"` or `"constructed"`.

    Raises:
        NotMirrorFlowError: a bracket leaves `ker dG`, or (F) or the Hessian test fails on
            the reachable set.
        NotCommutingError: no verdict at float64 resolution.

    Examples:
        >>> import numpy as np, riemflow as rf
        >>> G, x0 = rf.models.diagonal_network(2, alpha=0.5)
        >>> region = rf.regions.given_region(G, np.stack([x0, 1.1 * x0]))
        >>> rf.fibres.decide(G, x0, region).outcome
        'forward theorem'
        >>> B, xb = rf.models.bilinear_chain(3)[0], np.array([0.3, 0.5, -0.2])
        >>> rf.fibres.decide(B, xb, rf.regions.given_region(B, xb[None]))
        Traceback (most recent call last):
        ...
        riemflow.errors.NotMirrorFlowError: bilinear chain (D=3): gradient flow is not...
    """
    report = check_commuting(G, region=region, rtol=tol)
    if report.verdict == COMMUTING:
        return ConstructionReport(
            FORWARD_THEOREM,
            "the gradient fields commute on the checked points: the forward theorem applies",
            report,
            region,
            tol=tol,
        )
    if report.verdict == NOT_MIRROR:
        at_init = np.array_equal(np.reshape(report.worst_point, -1), np.reshape(x_init, -1))
        where = "x_init" if at_init else "a checked point"
        hint = ""
        if region.kind != "reachable":
            hint = (
                " This was decided on points that need not be reachable from x_init; "
                "region='reachable' decides on the set reachable from x_init alone."
            )
        raise NotMirrorFlowError(_refusal(G, report, where, hint), report=report)
    if report.verdict != UNDECIDED:
        raise NotCommutingError(
            f"{G.name}: no verdict at float64 resolution (rtol={tol:g}): {report}",
            report=report,
        )
    if region.kind != "reachable":
        region = reachable_region(G, x_init, **(reachable or {}))
        report = check_commuting(G, region=region, rtol=tol)
        if report.verdict == COMMUTING:
            return ConstructionReport(
                FORWARD_THEOREM,
                "the brackets vanish on the set reachable from x_init (not on the first "
                "region checked): the forward theorem applies to these flows",
                report,
                region,
                tol=tol,
            )
        if report.verdict == NOT_MIRROR:
            raise NotMirrorFlowError(_refusal(G, report, "reachable from x_init"), report=report)
        if report.verdict != UNDECIDED:
            raise NotCommutingError(
                f"{G.name}: no verdict at float64 resolution on the set reachable from "
                f"x_init (rtol={tol:g}): {report}",
                report=report,
            )
    fibres = kernel_along_fibres(G, region, tol=tol)
    allowed = closure_factor * fibres.max_closure + kernel_atol
    loops_agree = fibres.max_kernel_change <= max(tol, allowed)
    if not (fibres.kernel_rate <= tol and loops_agree):
        construction = ConstructionReport(
            NOT_MIRROR,
            f"K varies along the fibres of G inside the set reachable from x_init (ell |DK[V]| "
            f"/ (|K| |V|) = {fibres.kernel_rate:.1e}, K changed by {fibres.max_kernel_change:.1e} "
            "between the ends of a loop that returns w): after such a loop the same linear "
            "loss moves w with another velocity than before, which no mirror flow allows",
            report,
            region,
            fibres=fibres,
            tol=tol,
        )
        _not_a_mirror_flow(G, report, construction)
    hessian = hessian_defect(G, region.points)
    if not hessian.defect <= tol:
        construction = ConstructionReport(
            NOT_MIRROR,
            f"K is a function of w on the reachable set but K^-1 is not a Hessian metric in "
            f"w (defect {hessian.defect:.1e}): the w-dynamics is a Riemannian gradient flow "
            "that is not a mirror flow",
            report,
            region,
            fibres=fibres,
            hessian=hessian,
            tol=tol,
        )
        _not_a_mirror_flow(G, report, construction)
    return ConstructionReport(
        CONSTRUCTED,
        "the brackets do not vanish but lie in ker dG (orders 2 and 3), which the forward "
        "theorem does not cover; K is a function of w on the set reachable from x_init and "
        "K^-1 is a Hessian metric there, so gradient flow from x_init is the mirror flow of "
        "the potential built from the joint flow (grad R* = G o psi; Concepts: necessity)",
        report,
        region,
        fibres=fibres,
        hessian=hessian,
        tol=tol,
    )


def check_region(G, x_init, region, check_points, n_check: int, seed) -> Region:
    """The region `mirror_potential` checks first: a `Region`; `"reachable"` (the set
    reachable from `x_init`); or, by default, `x_init` with `check_points` or with `n_check`
    samples of `G`'s domain."""
    if isinstance(region, Region):
        return region
    if isinstance(region, str) and region == "reachable":
        return reachable_region(G, x_init)
    if region is not None:
        raise InputError(
            f"`region` must be None, 'reachable' or a riemflow.regions.Region; got {region!r}",
            argument="region",
        )
    if check_points is not None:
        xb, _ = G.points(check_points, "check_points")
        label = f"x_init and {xb.shape[0]} check point(s)"
    else:
        xb, _ = G.points(G.sample(n_check, seed=seed), "check_points")
        label = f"x_init and {n_check} points drawn by the sampler, seed {seed}"
    return given_region(G, G.geometry.unflatten(np.vstack([x_init[None, :], xb])), label=label)

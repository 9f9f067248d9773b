"""Numerical checks of the equivalence between gradient flow on `L o G` and mirror flow.

- `verify_equivalence`: runs both flows on one loss and reports the largest relative
  deviation of `w(t)` over the trajectory (forward direction: `G` and `x_init`, with
  `mirror_potential(G, x_init)` unless a Legendre function is given; converse direction: a
  parametrization built from `R`, started over `w0`).
- `loop_test`: the obstruction behind the necessity theorem ([Concepts:
  necessity](concepts.md#necessity)). The loss `+<e_i, w>`, `+<e_j, w>`, `-<e_i, w>`, `-<e_j, w>`
  (time `tau` each) has `int grad L dt = 0`, so every mirror flow, whatever its potential, returns
  to its start exactly, as it does under the zero loss. Gradient flow ends `tau^2 dG [grad G_i, grad
  G_j]` away (to leading order): when that bracket leaves `ker dG` the two losses drive the same
  dual path but the flows end at different points, which no mirror map allows; when it lies
  in `ker dG` (commuting fields, or brackets along the fibres of `G`) the loop closes to
  that order and the test does not decide.
- `discretization_gap`: gradient descent on `L o G` and mirror descent with `R` at step
  sizes `lr`: both are first-order discretizations of the same flow, so their gap shrinks
  like `lr`; the report fits the slope of `log gap` against `log lr`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._validation import as_point, as_positive, as_positive_int, as_time_span
from .brackets import RESOLVED_FACTOR, ROUNDOFF_FACTOR, bracket_split
from .errors import InputError
from .flows import gradient_descent, gradient_flow, mirror_descent, mirror_flow
from .forward import mirror_potential
from .legendre import Legendre
from .parametrization import Parametrization
from .trajectory import Trajectory

__all__ = [
    "verify_equivalence",
    "EquivalenceReport",
    "loop_test",
    "LoopReport",
    "discretization_gap",
    "DiscretizationReport",
]


def _relative_gap(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """`|a_k - b_k|_2 / max_k |a_k|_2` per row: deviations relative to the trajectory's size."""
    scale = float(np.max(np.linalg.norm(a, axis=1)))
    return np.linalg.norm(a - b, axis=1) / max(scale, 1e-300)


@dataclass(frozen=True)
class EquivalenceReport:
    """Outcome of `verify_equivalence`.

    Attributes:
        passed: `max_deviation <= tol`.
        max_deviation: `max_t |w_G(t) - w_R(t)|_2 / max_t |w_G(t)|_2`: gradient flow
            (`w_G`) against mirror flow (`w_R`), relative to the size of the trajectory
            (a per-time ratio is meaningless where `w(t)` passes near 0).
        deviations: the same ratio at each recorded time `(T,)`.
        worst_time: where the largest deviation occurred.
        trajectories: `(gradient flow, mirror flow)` `Trajectory` pair.
        legendre: the potential used (`mirror_potential(G, x_init)` unless given).
        tol: the tolerance decided with; rtol: the flows' `solve_ivp` tolerance.
    """

    passed: bool
    max_deviation: float
    deviations: np.ndarray
    worst_time: float
    trajectories: tuple[Trajectory, Trajectory]
    legendre: Legendre
    tol: float
    rtol: float

    def __str__(self) -> str:
        verdict = "equivalent" if self.passed else "NOT equivalent"
        return (
            f"{verdict}: max relative deviation {self.max_deviation:.3e} at "
            f"t={self.worst_time:.4g} (tol={self.tol:g}; flows at rtol={self.rtol:g}) between "
            f"gradient flow and mirror flow with {self.legendre.name}"
        )


def _start_point(G: Parametrization, x0, w0):
    if x0 is not None:
        return x0
    if w0 is None:
        raise InputError(
            "give `x0` (the initialization on the manifold of the parametrization) or `w0` "
            "for a parametrization built by `commuting_parametrization`",
            argument="x0",
        )
    return G.point_over(w0)


def verify_equivalence(
    loss,
    t_span,
    *,
    parametrization: Parametrization,
    x0=None,
    legendre: Legendre | None = None,
    w0=None,
    t_eval=None,
    n_times: int = 101,
    rtol: float = 1e-12,
    atol: float | None = None,
    tol: float = 1e-8,
    method: str = "DOP853",
) -> EquivalenceReport:
    """Run gradient flow on `L o G` and mirror flow with `R`; report their largest gap.

    Forward direction: `parametrization=G`, `x0=x_init`, and `R = mirror_potential(G, x0)`
    unless `legendre` is given. Converse direction: `parametrization=P` built from
    `legendre=R` (it has an `embedding`), started at the point of its manifold over `w0`.

    Args:
        loss: `L: (d,) -> float` (a `time_dependent` loss gets `t`; mini-batch schedules
            are time-dependent losses).
        t_span: `(t0, t1)`.
        parametrization: `G` (or the converse's `P`).
        x0: initialization on the manifold, of the space's point shape.
        legendre: the potential to compare with (default `mirror_potential(G, x0)`).
        w0: the start `(d,)` when `x0` is not given (converse direction).
        t_eval: times to compare at; default `n_times` equispaced times.
        n_times: number of comparison times when `t_eval` is `None`.
        rtol: `solve_ivp` relative tolerance of both flows. `1e-12` keeps each flow's
            global error near 1e-10 on the zoo's problems, well inside `tol`.
        atol: `solve_ivp` absolute tolerance of both flows (default: each flow's own
            scale-aware default, see `gradient_flow`).
        tol: the deviation that counts as agreement.
        method: `solve_ivp` method of both flows.

    Returns:
        An `EquivalenceReport`.

    Raises:
        InputError: missing start, mismatched `w0`, bad options.
        NotCommutingError: no `legendre` given and `G` is not commuting.
        DivergenceError, SolverError: a flow failed (reports the time reached).

    Examples:
        >>> import numpy as np, riemflow as rf
        >>> G, x0 = rf.models.diagonal_network(3, alpha=0.3)
        >>> L = rf.losses.squared(np.array([[1.0, 2.0, -1.0]]), np.array([1.0]))
        >>> rf.verify_equivalence(L, (0.0, 5.0), parametrization=G, x0=x0).passed
        True
    """
    G = parametrization
    if not isinstance(G, Parametrization):
        raise InputError(
            f"`parametrization` must be a riemflow Parametrization; got {type(G).__name__}",
            argument="parametrization",
        )
    x_start = _start_point(G, x0, w0)
    w_start = np.asarray(G(x_start), dtype=np.float64)
    if w0 is not None:
        w0 = as_point(w0, "w0", w_start.size)
        gap = float(np.max(np.abs(w0 - w_start)))
        if gap > 1e-8 * max(1.0, float(np.max(np.abs(w0)))):
            raise InputError(
                f"`w0` does not match the start of the parametrization: |G(x0) - w0| = {gap:.3e}",
                argument="w0",
            )
    R = mirror_potential(G, x_start) if legendre is None else legendre
    if not isinstance(R, Legendre):
        raise InputError(
            f"`legendre` must be a riemflow Legendre; got {type(R).__name__}", argument="legendre"
        )
    tol = as_positive(tol, "tol")
    if t_eval is None:
        t0, t1 = as_time_span(t_span)
        t_eval = np.linspace(t0, t1, as_positive_int(n_times, "n_times"))
    options = dict(t_eval=t_eval, rtol=rtol, atol=atol, method=method)
    gradient = gradient_flow(G, loss, x_start, t_span, **options)
    mirror = mirror_flow(R, loss, w_start, t_span, **options)
    deviations = _relative_gap(gradient.w, mirror.w)
    worst = int(np.argmax(deviations))
    return EquivalenceReport(
        passed=bool(deviations[worst] <= tol),
        max_deviation=float(deviations[worst]),
        deviations=deviations,
        worst_time=float(gradient.t[worst]),
        trajectories=(gradient, mirror),
        legendre=R,
        tol=tol,
        rtol=float(rtol),
    )


# -- loops -----------------------------------------------------------------------------------
class _LinearLoss:
    """`L(w) = <c, w>` with its closed-form gradient `c`."""

    time_dependent = False

    def __init__(self, c: np.ndarray):
        self.c = c

    def __call__(self, w):
        return (w * self.c).sum()

    def gradient(self, w):
        return self.c


@dataclass(frozen=True)
class LoopReport:
    """Outcome of `loop_test`.

    Attributes:
        closes: `relative_displacement <= tol`: the loop closed, as under every mirror flow.
        displacement: `w_end - w_start` after the loop `(d,)`; every mirror flow gives 0.
        relative_displacement: `|displacement|_2 / (tau (|K e_i|_2 + |K e_j|_2))`, relative
            to the length of a leg of the loop.
        predicted: leading-order prediction `tau^2 dG(x) [grad G_i, grad G_j](x)` `(d,)`.
        prediction_error: `|displacement - predicted|_2 / |predicted|_2` (`O(tau)` when the
            bracket is not in `ker dG`); NaN when `predicted` is within 10x of its float64
            round-off floor (the bracket lies in `ker dG`: the displacement, if any, is of
            higher order in `tau`, and a ratio of round-off to round-off means nothing).
        w_start, w_end: `(d,)`.
        pair: `(i, j)`; tau: leg duration; tol: tolerance decided with.
    """

    closes: bool
    displacement: np.ndarray
    relative_displacement: float
    predicted: np.ndarray
    prediction_error: float
    w_start: np.ndarray
    w_end: np.ndarray
    pair: tuple[int, int]
    tau: float
    tol: float

    def __str__(self) -> str:
        verdict = (
            "loop closes (consistent with a mirror flow)"
            if self.closes
            else "loop does NOT close: no mirror flow reproduces these gradient flows"
        )
        if np.isnan(self.prediction_error):
            prediction = (
                "leading-order prediction tau^2 dG [X_i, X_j] is at round-off (the bracket "
                "lies in ker dG; any displacement is of higher order in tau)"
            )
        else:
            prediction = (
                f"leading-order prediction tau^2 dG [X_i, X_j] off by "
                f"{self.prediction_error:.2e} (relative)"
            )
        return (
            f"{verdict}: |w_end - w_start| = {np.linalg.norm(self.displacement):.3e} "
            f"(relative {self.relative_displacement:.3e}, tol={self.tol:g}) after the loop "
            f"+e_{self.pair[0]}, +e_{self.pair[1]}, -e_{self.pair[0]}, -e_{self.pair[1]} "
            f"of legs tau={self.tau:g}; {prediction}"
        )


def loop_test(
    G: Parametrization,
    x_init,
    *,
    pair: tuple[int, int] | None = None,
    tau: float = 0.05,
    rtol: float = 1e-12,
    tol: float = 1e-6,
) -> LoopReport:
    """Gradient flow around a closed loop of linear losses: does `w` come back?

    Legs of duration `tau` with losses `+<e_i, w>`, `+<e_j, w>`, `-<e_i, w>`, `-<e_j, w>`:
    `int grad L dt = 0`, so under a mirror flow `grad R(w)` (hence `w`) returns to its
    start for every potential `R`, exactly as under the zero loss. Under gradient flow the
    point `x` moves by the flows of `-X_i, -X_j, X_i, X_j` (`X_i = grad G_i`), which closes
    when the fields commute and otherwise ends `tau^2 [X_i, X_j] + O(tau^3)` away, so `w`
    ends `tau^2 dG [X_i, X_j]` away unless the bracket lies in `ker dG`.

    Args:
        G: the parametrization.
        x_init: start, of the space's point shape.
        pair: `(i, j)`; default the pair with the largest bracket at `x_init`.
        tau: leg duration (small: the displacement is `O(tau^2)`, the prediction
            `O(tau^3)`-accurate).
        rtol: `solve_ivp` tolerance of each leg.
        tol: largest relative displacement that counts as closing; the legs' ODE error
            is ~1e-10 relative, a non-commuting pair gives `O(tau)`.

    Returns:
        A `LoopReport`.

    Examples:
        >>> import riemflow as rf
        >>> G, x0 = rf.models.matrix_factorization(2)
        >>> rf.loop_test(G, x0).closes
        False
    """
    if not isinstance(G, Parametrization):
        raise InputError(
            f"`G` must be a riemflow Parametrization; got {type(G).__name__}", argument="G"
        )
    tau = as_positive(tau, "tau")
    tol = as_positive(tol, "tol")
    flat = G.start_point(x_init, "x_init")
    x = G.geometry.unflatten(flat)  # the point shape
    w_start = np.asarray(G(x), dtype=np.float64)
    d = w_start.size
    if d < 2:
        raise InputError("a loop needs d >= 2 outputs", argument="G")
    brackets = np.asarray(G.lie_brackets(x)).reshape(d, d, -1)
    if pair is None:
        norms = np.linalg.norm(brackets, axis=-1)
        i, j = np.unravel_index(int(np.argmax(np.triu(norms, 1))), norms.shape)
        pair = (int(i), int(j)) if i != j else (0, 1)
    i, j = (int(pair[0]), int(pair[1]))
    if not (0 <= i < d and 0 <= j < d and i != j):
        raise InputError(f"`pair` must be two distinct indices < {d}; got {pair}", argument="pair")
    point = x
    for index, sign in ((i, 1.0), (j, 1.0), (i, -1.0), (j, -1.0)):
        c = np.zeros(d)
        c[index] = sign
        leg = gradient_flow(G, _LinearLoss(c), point, (0.0, tau), rtol=rtol)
        point = leg.x[-1]
    w_end = np.asarray(G(point), dtype=np.float64)
    displacement = w_end - w_start
    K = np.asarray(G.kernel(x))
    leg_length = tau * (np.linalg.norm(K[:, i]) + np.linalg.norm(K[:, j]))
    relative = float(np.linalg.norm(displacement) / max(leg_length, 1e-300))
    jacobian = np.asarray(G.jacobian(x)).reshape(d, -1)
    predicted = tau**2 * (jacobian @ brackets[i, j])
    size = float(np.linalg.norm(predicted))
    split = bracket_split(G, flat[None, :])  # round-off floor of the bracket's image
    p = split.pairs.index((min(i, j), max(i, j)))
    a, b = split.pairs[p]
    sizes = split.jacobian_scale[0, a] * split.field_norm[0, b]
    sizes += split.jacobian_scale[0, b] * split.field_norm[0, a] + split.term_norm[0, p]
    floor = tau**2 * np.linalg.norm(jacobian, 2) * ROUNDOFF_FACTOR * np.finfo(float).eps * sizes
    if size > RESOLVED_FACTOR * floor:
        error = float(np.linalg.norm(displacement - predicted) / size)
    else:
        error = float("nan")
    return LoopReport(
        closes=bool(relative <= tol),
        displacement=displacement,
        relative_displacement=relative,
        predicted=predicted,
        prediction_error=error,
        w_start=w_start,
        w_end=w_end,
        pair=(i, j),
        tau=tau,
        tol=tol,
    )


# -- discrete time ---------------------------------------------------------------------------
@dataclass(frozen=True)
class DiscretizationReport:
    """Outcome of `discretization_gap`.

    Attributes:
        lrs: step sizes `(S,)`, decreasing.
        gaps: `max_k |w_GD(k) - w_MD(k)|_2 / max_k |w_GD(k)|_2` per step size `(S,)`.
        slope: least-squares slope of `log gap` against `log lr` (1 for first order).
        orders: local orders between successive step sizes `(S - 1,)`; the last one is the
            closest to the asymptotic order when the largest steps are pre-asymptotic.
        horizon: the common time `steps * lr` of every run.
        trajectories: `(gradient descent, mirror descent)` per step size.
    """

    lrs: np.ndarray
    gaps: np.ndarray
    slope: float
    orders: np.ndarray
    horizon: float
    trajectories: tuple[tuple[Trajectory, Trajectory], ...]

    def __str__(self) -> str:
        rows = ", ".join(f"lr={a:g}: {g:.3e}" for a, g in zip(self.lrs, self.gaps, strict=True))
        return (
            f"gradient descent vs mirror descent up to t={self.horizon:g}: {rows}; "
            f"fitted order {self.slope:.3f} (local orders "
            f"{np.array2string(self.orders, precision=3)})"
        )


def discretization_gap(
    G: Parametrization,
    x_init,
    loss,
    *,
    lrs=(0.04, 0.02, 0.01, 0.005),
    horizon: float = 2.0,
    legendre: Legendre | None = None,
) -> DiscretizationReport:
    """Gradient descent on `L o G` against mirror descent with `R`, per step size.

    In continuous time the two coincide (forward theorem); at step size `lr` each is a
    first-order (Euler-type) discretization of that flow with a different `O(lr)` error,
    so their gap over a fixed horizon is `O(lr)`. This runs both for each `lr` up to time
    `horizon` (`round(horizon / lr)` steps) and fits the order.

    Args:
        G: the parametrization.
        x_init: initialization, of the space's point shape.
        loss: `L: (d,) -> float`.
        lrs: step sizes (at least 2).
        horizon: time covered by every run.
        legendre: potential for mirror descent (default `mirror_potential(G, x_init)`).

    Returns:
        A `DiscretizationReport`.

    Examples:
        >>> import numpy as np, riemflow as rf
        >>> G, x0 = rf.models.diagonal_network(2, alpha=0.5)
        >>> L = rf.losses.squared(np.array([[1.0, 2.0]]), np.array([1.0]))
        >>> report = rf.discretization_gap(G, x0, L, lrs=(0.01, 0.005, 0.0025))
        >>> round(float(report.orders[-1]), 1)  # first order in lr
        1.0
    """
    rates = np.sort(np.asarray(lrs, dtype=np.float64))[::-1]
    if rates.ndim != 1 or rates.size < 2 or np.any(~(rates > 0)):
        raise InputError(
            f"`lrs` must hold at least 2 positive step sizes; got {lrs}", argument="lrs"
        )
    horizon = as_positive(horizon, "horizon")
    R = mirror_potential(G, x_init) if legendre is None else legendre
    w_start = np.asarray(G(x_init), dtype=np.float64)
    gaps, runs = [], []
    for lr in rates:
        steps = max(1, int(round(horizon / lr)))
        gd = gradient_descent(G, loss, x_init, lr=float(lr), steps=steps)
        md = mirror_descent(R, loss, w_start, lr=float(lr), steps=steps)
        gaps.append(float(np.max(_relative_gap(gd.w, md.w))))
        runs.append((gd, md))
    gaps_arr = np.array(gaps)
    slope = float(np.polyfit(np.log(rates), np.log(gaps_arr), 1)[0])
    orders = np.diff(np.log(gaps_arr)) / np.diff(np.log(rates))
    return DiscretizationReport(
        lrs=rates,
        gaps=gaps_arr,
        slope=slope,
        orders=orders,
        horizon=horizon,
        trajectories=tuple(runs),
    )

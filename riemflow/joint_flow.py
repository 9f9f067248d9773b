"""The joint flow `psi(x; mu)` of the gradient fields of a parametrization.

For `G: M -> R^d` with gradient fields `X_i = grad G_i`, the joint flow is the time-1 flow
of `dx/ds = sum_i mu_i X_i(x)` ([Concepts: commuting
parametrizations](concepts.md#commuting-parametrizations)). For a commuting `G` it equals the
composition of the single-field flows, gradient flow is `x(t) = psi(x_init; mu(t))`, and the forward
theorem's conjugate potential is the line integral `Q(mu) = int_0^1 <mu, G(psi(x_init; s mu))> ds`,
which one augmented ODE gives together with `psi`:

    dx/ds = sum_i mu_i X_i(x),    dq/ds = <mu, G(x)>,    x(0) = x,  q(0) = 0.

`joint_flow` is the one integrator of it in riemflow: `Parametrization.flow` and the
numerical forward construction (`riemflow.mirror_potential`) both call it, with the same
failure reports (the guarded integration of every riemflow flow).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import _ode
from .errors import SolverError

__all__ = ["JointFlowEnd", "joint_flow", "sequential_flow"]


@dataclass(frozen=True)
class JointFlowEnd:
    """The end of one joint flow.

    Attributes:
        x: `psi(x; mu)`, flat `(N,)` (projected onto the manifold when asked).
        integral: the line integral `int_0^1 <mu, G(psi(x; s mu))> ds` when it was
            integrated, else `None`.
    """

    x: np.ndarray
    integral: float | None


def joint_flow(
    G,
    x,
    mu,
    *,
    rtol: float,
    atol,
    method: str = "DOP853",
    line_integral: bool = False,
    integral_atol: float = 1e-300,
    project: bool = False,
    max_norm: float = 1e12,
    max_evaluations: int = _ode.MAX_EVALUATIONS,
    time_limit: float | None = _ode.TIME_LIMIT,
    retract_tol: float = 1e-9,
    first_step: float | None = None,
) -> JointFlowEnd:
    """Integrate `dx/ds = sum_i mu_i grad G_i(x)` from `s = 0` to `1`.

    On a manifold embedded in the coordinates of its points the drift of the state off
    the manifold is measured at the solver's steps and retracted where it exceeds
    `retract_tol`, as in `riemflow.gradient_flow`.

    Args:
        G: the `Parametrization`.
        x: the start point, flat `(N,)`, already validated (`G.start_point`).
        mu: flow times `(d,)`.
        rtol: `solve_ivp` relative tolerance.
        atol: `solve_ivp` absolute tolerance on `x` (a scalar or `(D,)`).
        method: `solve_ivp` method.
        line_integral: also integrate `dq/ds = <mu, G(x)>` (the forward theorem's
            `Q(mu)`), with absolute tolerance `integral_atol`.
        integral_atol: absolute tolerance of `q`.
        project: map the end onto the manifold (nearest point; identity on open sets).
        max_norm: the flow counts as blowing up once `|(x, q)| > max_norm`.
        max_evaluations: budget of field evaluations (default 1e6).
        time_limit: wall-time budget in seconds (default 3600; `None`: none).
        retract_tol: largest drift off the manifold accepted without a retraction.
        first_step: the solver's first trial step in `s` (e.g. `1.0` for a short flow that
            one step may cover); default the solver's own estimate.

    Returns:
        A `JointFlowEnd`.

    Raises:
        DivergenceError: the flow blows up before `s = 1` (`mu` outside the domain of the
            joint flow, e.g. for `u^3`), its fields are not finite, or it stalls.
        BudgetError: a budget is spent.
        SolverError: the integrator failed, or the end is outside the domain of `G`.
    """
    x = np.asarray(x, dtype=np.float64)
    mu = np.asarray(mu, dtype=np.float64)
    D = x.size
    covector = mu[None, :]
    if not np.any(mu):
        return JointFlowEnd(x=x.copy(), integral=0.0 if line_integral else None)

    geometry = G.geometry

    def velocity(_, y):
        w, field = G.covector_field(geometry.flow_point(y[:D])[None, :], covector)
        if not line_integral:
            return field[0]
        return np.concatenate([field[0], [float(w[0] @ mu)]])

    y0 = np.concatenate([x, [0.0]]) if line_integral else x
    tolerance = np.broadcast_to(np.asarray(atol, dtype=np.float64), (D,))
    if line_integral:
        tolerance = np.concatenate([tolerance, [integral_atol]])
    options = dict(
        t_eval=None,
        rtol=rtol,
        atol=tolerance,
        method=method,
        max_norm=max_norm,
        max_evaluations=max_evaluations,
        time_limit=time_limit,
        first_step=first_step,
        what=(
            f"the joint flow psi(x; mu) of {G.name} (mu is probably outside the domain of "
            "the joint flow: a finite-time blow-up)"
        ),
    )
    if geometry.retracts:

        def retract(y):
            return np.concatenate([np.asarray(geometry.project(y[None, :D]))[0], y[D:]])

        sol = _ode.integrate_on_manifold(
            velocity,
            y0,
            (0.0, 1.0),
            distance=lambda ys: geometry.distance_to_manifold(ys[:, :D]),
            retract=retract,
            retract_tol=retract_tol,
            **options,
        )
    else:
        sol = _ode.integrate(velocity, y0, (0.0, 1.0), **options)
    end = sol.y[:D, -1]
    if project:
        end = np.asarray(geometry.project(end[None, :]))[0]
    if not bool(geometry.in_domain(end[None, :])[0]):
        shaped = np.asarray(geometry.unflatten(end))
        raise SolverError(
            f"psi(x; mu) of {G.name} left the domain: ended at "
            f"{np.array2string(shaped, precision=6, threshold=8)}",
            t_reached=1.0,
            reason="left domain",
        )
    return JointFlowEnd(x=end, integral=float(sol.y[D, -1]) if line_integral else None)


def sequential_flow(G, x, mu, **options) -> JointFlowEnd:
    """The composition `Phi^{mu_1}_{grad G_1} o ... o Phi^{mu_d}_{grad G_d}(x)` of the
    single-field flows (the flow of `grad G_d` applied first), each by `joint_flow` with
    `options`. It equals `joint_flow` exactly when the fields commute."""
    point = np.asarray(x, dtype=np.float64)
    mu = np.asarray(mu, dtype=np.float64)
    for i in reversed(range(mu.size)):
        if mu[i] != 0.0:
            direction = np.zeros(mu.size)
            direction[i] = mu[i]
            point = joint_flow(G, point, direction, **options).x
    return JointFlowEnd(x=point, integral=None)

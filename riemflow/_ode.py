"""The guarded ODE integration every flow in riemflow goes through (private).

One function, `integrate`, wraps scipy's `solve_ivp` with the checks and failure reports
the flows share: argument validation, a norm bound (`max_norm`), non-finite stages treated
as rejected steps (the solver shrinks the step), and typed errors with the time reached
(`DivergenceError` for blow-ups and step-size collapse, `SolverError` otherwise). The
gradient and mirror flows, the joint flow of the gradient fields and the converse's flows
all use it, so they fail the same way.

`integrate_on_manifold` is the same integration for a state that must stay on a manifold
embedded in `R^N` (a sphere, the Stiefel manifold, the symmetric matrices holding the SPD
cone): the exact flow stays on it, the integrator drifts off by its local errors. The
drift is measured at every recorded time; where it exceeds a threshold the state is
retracted onto the manifold and the integration restarts from there.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.integrate import solve_ivp

from ._validation import as_positive, as_time_grid, as_time_span, as_tolerance
from .errors import DivergenceError, SolverError

__all__ = ["integrate", "integrate_on_manifold", "ManifoldSolution", "default_atol"]


def default_atol(x0: np.ndarray, factor: float = 1e-12) -> np.ndarray:
    """Per-coordinate absolute tolerance `factor * |x0_i|` (zeros: `factor * max|x0|`)."""
    scale = np.abs(x0)
    fill = scale.max() if scale.max() > 0 else 1.0
    return factor * np.where(scale > 0, scale, fill)


def integrate(velocity, y0, t_span, *, t_eval, rtol, atol, method, max_norm, what):
    """`solve_ivp` of `dy/dt = velocity(t, y)` with riemflow's checks and failure reporting.

    Validates the shared arguments (`t_span`, `t_eval`, `rtol`, `atol`, `max_norm`;
    `atol=None` means `default_atol(y0)`). `|y| > max_norm`, non-finite states or
    velocities, and a step size collapsing to round-off (a finite-time singularity) raise
    `DivergenceError` with the time; any other solver failure a `SolverError`.
    """
    t0, t1 = as_time_span(t_span)
    t_eval = as_time_grid(t_eval, (t0, t1))
    rtol = as_positive(rtol, "rtol")
    atol = default_atol(y0) if atol is None else as_tolerance(atol, "atol", y0.size)
    max_norm = as_positive(max_norm, "max_norm")

    # A trial stage of a step can land outside the domain (a dual iterate past the blow-up of
    # grad R*, a state past max_norm) although the flow itself does not: such a stage returns
    # NaN, which makes the solver reject the step and shrink it. Only when it cannot shrink
    # further (a real singularity) is the last such failure raised, with the time reached.
    failures: list[DivergenceError] = []

    def rhs(t, y):
        size = np.linalg.norm(y)
        if not np.isfinite(size):  # a stage built from a rejected (NaN) one: nothing new
            return np.full_like(y, np.nan)
        if not size <= max_norm:
            failures.append(
                DivergenceError(
                    f"{what} diverged at t={t:.6g}: |y| = {np.linalg.norm(y):.3e} exceeds "
                    f"max_norm={max_norm:g}",
                    t_reached=float(t),
                    reason="blow-up",
                )
            )
            return np.full_like(y, np.nan)
        try:
            v = velocity(t, y)
        except DivergenceError as exc:
            failures.append(exc)
            return np.full_like(y, np.nan)
        if not np.isfinite(np.sum(v)):  # one reduction instead of an elementwise test
            failures.append(
                DivergenceError(
                    f"{what}: the gradient of the loss is not finite at t={t:.6g} "
                    f"(state {np.array2string(y, precision=4, threshold=8)})",
                    t_reached=float(t),
                    reason="non-finite gradient",
                )
            )
        return v

    sol = solve_ivp(rhs, (t0, t1), y0, method=method, t_eval=t_eval, rtol=rtol, atol=atol)
    if sol.status != 0 or not np.all(np.isfinite(sol.y)):
        reached = float(sol.t[-1]) if sol.t.size else t0
        if failures:
            last = failures[-1]
            raise DivergenceError(
                f"{last} (the solver stopped at t={reached:.6g} of [{t0:g}, {t1:g}]: "
                f"{sol.message})",
                t_reached=reached,
                reason=last.reason,
            ) from last
        error = DivergenceError if "step size" in str(sol.message) else SolverError
        raise error(
            f"{what} failed at t={reached:.6g} of [{t0:g}, {t1:g}]: {sol.message}",
            t_reached=reached,
            reason=str(sol.message),
        )
    return sol


@dataclass(frozen=True)
class ManifoldSolution:
    """The result of `integrate_on_manifold`, shaped like `solve_ivp`'s.

    Attributes:
        t: recorded times `(T,)`.
        y: recorded states `(n, T)` (retracted where their drift exceeded the threshold).
        nfev: right-hand side evaluations over all segments.
        message: the last segment's solver message.
        drift: the largest distance of the integrator's state from the manifold at the
            recorded times, measured before any retraction.
        n_retractions: how many times the state was retracted (and the solve restarted).
    """

    t: np.ndarray
    y: np.ndarray
    nfev: int
    message: str
    drift: float
    n_retractions: int


def integrate_on_manifold(
    velocity,
    y0,
    t_span,
    *,
    distance,
    retract,
    retract_tol: float | None,
    t_eval,
    rtol,
    atol,
    method,
    max_norm,
    what,
) -> ManifoldSolution:
    """`integrate`, keeping the state on a manifold: at every recorded time (the points of
    `t_eval`, else the solver's steps) the distance `distance(states (T, n)) -> (T,)` of the
    state from the manifold is measured; at the first time it exceeds `retract_tol` the
    state is replaced by `retract(state (n,))` and the integration restarts from it.
    `retract_tol=None` only measures. Without a retraction the result is `integrate`'s,
    bit for bit (one `solve_ivp` call)."""
    t0, t1 = as_time_span(t_span)
    remaining = as_time_grid(t_eval, (t0, t1))
    if retract_tol is not None:
        retract_tol = as_positive(retract_tol, "retract_tol")
    y0 = np.asarray(y0, dtype=np.float64)
    atol = default_atol(y0) if atol is None else atol  # one scale for every segment
    times, states, drifts = [], [], []
    start, y, nfev, retractions, restarted = t0, y0, 0, 0, False
    while True:
        sol = integrate(
            velocity,
            y,
            (start, t1),
            t_eval=remaining,
            rtol=rtol,
            atol=atol,
            method=method,
            max_norm=max_norm,
            what=what,
        )
        nfev += int(sol.nfev)
        ts, ys = sol.t, sol.y.T
        if restarted and remaining is None:  # the restart point is recorded already
            ts, ys = ts[1:], ys[1:]
        drift = np.asarray(distance(ys), dtype=np.float64).reshape(-1)
        bad = np.flatnonzero(drift > retract_tol) if retract_tol is not None else []
        stop = ys.shape[0] if len(bad) == 0 else int(bad[0]) + 1
        times.extend(ts[:stop])
        states.extend(np.array(ys[:stop]))
        drifts.extend(drift[:stop])
        if len(bad) == 0:
            break
        states[-1] = y = np.asarray(retract(ys[stop - 1]), dtype=np.float64)
        retractions += 1
        start, restarted = float(ts[stop - 1]), True
        if remaining is not None:
            remaining = remaining[remaining > start]
            if remaining.size == 0:
                break
        if not start < t1:
            break
    return ManifoldSolution(
        t=np.asarray(times),
        y=np.asarray(states).T,
        nfev=nfev,
        message=str(sol.message),
        drift=float(np.max(drifts)) if drifts else 0.0,
        n_retractions=retractions,
    )

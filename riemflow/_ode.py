"""The guarded ODE integration every flow in riemflow goes through (private).

One function, `integrate`, wraps scipy's `solve_ivp` with the checks and failure reports
the flows share: argument validation, a norm bound (`max_norm`), non-finite stages treated
as rejected steps (the solver shrinks the step), and typed errors with the time reached
(`DivergenceError` for blow-ups and step-size collapse, `SolverError` otherwise). The
gradient and mirror flows, the joint flow of the gradient fields and the converse's flows
all use it, so they fail the same way.
"""

from __future__ import annotations

import numpy as np
from scipy.integrate import solve_ivp

from ._validation import as_positive, as_time_grid, as_time_span, as_tolerance
from .errors import DivergenceError, SolverError

__all__ = ["integrate", "default_atol"]


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

"""The guarded ODE integration every flow in riemflow goes through (private).

One function, `integrate`, wraps scipy's `solve_ivp` with the checks and failure reports
the flows share: argument validation, a norm bound (`max_norm`), non-finite stages treated
as rejected steps (the solver shrinks the step), and typed errors with the time reached
(`DivergenceError` for blow-ups and step-size collapse, `SolverError` otherwise). The
gradient and mirror flows, the joint flow of the gradient fields and the converse's flows
all use it, so they fail the same way. Right-hand sides that jump at known times (losses
that switch) are integrated from one jump to the next (`switch_times`), the state and the
last step size carried across.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.integrate import solve_ivp

from ._validation import as_positive, as_time_grid, as_time_span, as_tolerance
from .errors import DivergenceError, SolverError

__all__ = ["integrate", "default_atol", "Solution"]


@dataclass(frozen=True)
class Solution:
    """The solution of `integrate`: the fields of scipy's `OdeResult` the flows read.

    Attributes:
        t: times `(T,)`.
        y: states `(n, T)`.
        nfev: right-hand side evaluations.
        status: 0 (failures raise).
        message: the solver's message.
    """

    t: np.ndarray
    y: np.ndarray
    nfev: int
    status: int
    message: str


def default_atol(x0: np.ndarray, factor: float = 1e-12) -> np.ndarray:
    """Per-coordinate absolute tolerance `factor * |x0_i|` (zeros: `factor * max|x0|`)."""
    scale = np.abs(x0)
    fill = scale.max() if scale.max() > 0 else 1.0
    return factor * np.where(scale > 0, scale, fill)


def integrate(
    velocity,
    y0,
    t_span,
    *,
    t_eval,
    rtol,
    atol,
    method,
    max_norm,
    what,
    switch_times=None,
    first_step=None,
):
    """`solve_ivp` of `dy/dt = velocity(t, y)` with riemflow's checks and failure reporting.

    Validates the shared arguments (`t_span`, `t_eval`, `rtol`, `atol`, `max_norm`;
    `atol=None` means `default_atol(y0)`). `|y| > max_norm`, non-finite states or
    velocities, and a step size collapsing to round-off (a finite-time singularity) raise
    `DivergenceError` with the time; any other solver failure a `SolverError`.

    With `switch_times` (times where `velocity` jumps), each interval between them is one
    `solve_ivp` call in which `velocity` sees times in `[a, b)` only (the end `b` is
    evaluated just before it), started from the previous interval's end state with its
    last step size. `first_step` is the solver's first trial step (default: its own
    estimate, which costs two evaluations). Returns a `Solution` (`t`, `y`, `nfev`,
    `status`, `message`).
    """
    t0, t1 = as_time_span(t_span)
    t_eval = as_time_grid(t_eval, (t0, t1))
    rtol = as_positive(rtol, "rtol")
    atol = default_atol(y0) if atol is None else as_tolerance(atol, "atol", y0.size)
    max_norm = as_positive(max_norm, "max_norm")
    cuts = np.zeros(0) if switch_times is None else np.asarray(switch_times, dtype=np.float64)
    cuts = np.unique(cuts[(cuts > t0) & (cuts < t1)])
    if cuts.size:
        edges = np.concatenate([[t0], cuts, [t1]])
        return _piecewise(velocity, y0, edges, t_eval, rtol, atol, method, max_norm, what)
    sol = _solve(velocity, y0, (t0, t1), t_eval, rtol, atol, method, max_norm, what, first_step)
    return Solution(sol.t, sol.y, int(sol.nfev), 0, str(sol.message))


def _piecewise(velocity, y0, edges, t_eval, rtol, atol, method, max_norm, what) -> Solution:
    """`integrate` over the intervals between `edges`, carrying the state and step size."""
    ts, ys, nfev, step, y = [], [], 0, None, y0
    for k, (a, b) in enumerate(zip(edges[:-1], edges[1:], strict=True)):
        last = k == edges.size - 2
        before_b = np.nextafter(b, a)

        def clamped(t, y, a=a, before_b=before_b):
            return velocity(min(max(t, a), before_b), y)

        grid = None
        if t_eval is not None:  # the recorded times in [a, b), and b to continue from
            kept = t_eval[(t_eval >= a) & ((t_eval <= b) if last else (t_eval < b))]
            grid = np.union1d(kept, [b])
        sol = _solve(clamped, y, (a, b), grid, rtol, atol, method, max_norm, what, step)
        nfev += int(sol.nfev)
        y = np.asarray(sol.y[:, -1])
        if grid is None:
            if sol.t.size >= 2:
                step = float(sol.t[-1] - sol.t[-2])
            keep = np.arange(0 if k == 0 else 1, sol.t.size)  # the start is the last end
        else:
            keep = np.flatnonzero(np.isin(sol.t, kept))
        ts.append(sol.t[keep])
        ys.append(sol.y[:, keep])
    return Solution(np.concatenate(ts), np.concatenate(ys, axis=1), nfev, 0, "switched: success")


def _solve(velocity, y0, t_span, t_eval, rtol, atol, method, max_norm, what, first_step):
    """One guarded `solve_ivp` call (see `integrate`)."""
    t0, t1 = t_span
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

    options = {} if first_step is None else {"first_step": min(first_step, t1 - t0)}
    sol = solve_ivp(
        rhs, (t0, t1), y0, method=method, t_eval=t_eval, rtol=rtol, atol=atol, **options
    )
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

"""The guarded ODE integration every flow in riemflow goes through (private).

One function, `integrate`, wraps scipy's `solve_ivp` with the checks and failure reports
the flows share: argument validation, a norm bound (`max_norm`), non-finite stages treated
as rejected steps (the solver shrinks the step), a non-finite start refused before the
solver sees it (scipy's first-step selection never ends on one), an evaluation and a
wall-time budget (`Budget`), and a stall test: when the steps have become so small that
the rest of the time span would need more than ten times the evaluation budget (a
non-smooth right-hand side that chatters at a kink, a stiff problem for an explicit
method), the solve stops at once with the time reached. The gradient and mirror flows,
the joint flow of the gradient fields and the converse's flows all use it, so they fail
the same way.
"""

from __future__ import annotations

import time

import numpy as np
from scipy.integrate import solve_ivp

from ._validation import as_positive, as_positive_int, as_time_grid, as_time_span, as_tolerance
from .errors import BudgetError, DivergenceError, SolverError

__all__ = [
    "Budget",
    "budgeted",
    "integrate",
    "default_atol",
    "MAX_EVALUATIONS",
    "TIME_LIMIT",
]

#: default evaluation budget of a flow: 20x the most any flow of the test suite needs
MAX_EVALUATIONS = 1_000_000
#: default wall-time budget of a flow, seconds (`None` disables it)
TIME_LIMIT = 3600.0
#: evaluations between two stall tests (at most; a tenth of the budget when smaller)
_STALL_WINDOW = 5_000


class Budget:
    """An evaluation and a wall-time budget for one solve: `spend()` once per evaluation
    (or iteration) raises `BudgetError` naming the budget that ran out.

    Args:
        what: the solve, for the error message.
        max_evaluations: evaluations allowed.
        time_limit: seconds allowed from construction (`None`: no limit).
    """

    def __init__(self, what: str, *, max_evaluations: int, time_limit: float | None):
        self.what = what
        self.max_evaluations = as_positive_int(max_evaluations, "max_evaluations")
        self.time_limit = None if time_limit is None else as_positive(time_limit, "time_limit")
        self.spent = 0
        self.start = time.perf_counter()

    @property
    def elapsed(self) -> float:
        """Seconds since the budget was opened."""
        return time.perf_counter() - self.start

    def spend(self, t: float | None = None) -> None:
        """Count one evaluation; raise `BudgetError` once either budget is exhausted."""
        self.spent += 1
        if self.spent > self.max_evaluations:
            self.exhausted(f"{self.max_evaluations} evaluations", t)
        if self.time_limit is not None and (self.spent & 63 == 0 or self.spent < 64):
            if self.elapsed > self.time_limit:
                self.exhausted(f"{self.time_limit:g} s", t)

    def exhausted(self, budget: str, t: float | None = None, hint: str = ""):
        """Raise the `BudgetError` of this solve."""
        where = "" if t is None else f" at t={t:.6g}"
        raise BudgetError(
            f"{self.what} stopped{where}: its budget of {budget} is spent ({self.spent} "
            f"evaluations in {self.elapsed:.3g} s){hint}",
            budget=budget,
            t_reached=t,
            iterations=self.spent,
        )


def budgeted(fun, budget: Budget):
    """`fun(t, y)` that spends one evaluation of `budget` per call (for solvers that call
    `solve_ivp` themselves with their own options: LSODA with a Jacobian, events)."""

    def wrapped(t, y):
        budget.spend(float(t))
        return fun(t, y)

    return wrapped


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
    max_evaluations: int = MAX_EVALUATIONS,
    time_limit: float | None = TIME_LIMIT,
):
    """`solve_ivp` of `dy/dt = velocity(t, y)` with riemflow's checks and failure reporting.

    Validates the shared arguments (`t_span`, `t_eval`, `rtol`, `atol`, `max_norm`,
    the budgets; `atol=None` means `default_atol(y0)`). `|y| > max_norm`, non-finite states
    or velocities (at the start: at once), a step size collapsing to round-off (a
    finite-time singularity) and a stalled solve raise `DivergenceError` with the time; a
    spent budget raises `BudgetError`; any other solver failure a `SolverError`.
    """
    t0, t1 = as_time_span(t_span)
    t_eval = as_time_grid(t_eval, (t0, t1))
    rtol = as_positive(rtol, "rtol")
    atol = default_atol(y0) if atol is None else as_tolerance(atol, "atol", y0.size)
    max_norm = as_positive(max_norm, "max_norm")
    budget = Budget(what, max_evaluations=max_evaluations, time_limit=time_limit)

    # A trial stage of a step can land outside the domain (a dual iterate past the blow-up of
    # grad R*, a state past max_norm) although the flow itself does not: such a stage returns
    # NaN, which makes the solver reject the step and shrink it. Only when it cannot shrink
    # further (a real singularity) is the last such failure raised, with the time reached.
    failures: list[DivergenceError] = []
    progress = {"t": t0, "window_start": t0}
    window = max(100, min(_STALL_WINDOW, budget.max_evaluations // 10))

    def evaluate(t, y):
        size = np.linalg.norm(y)
        if not np.isfinite(size):  # a stage built from a rejected (NaN) one: nothing new
            return np.full_like(y, np.nan)
        if not size <= max_norm:
            failures.append(
                DivergenceError(
                    f"{what} diverged at t={t:.6g}: |y| = {size:.3e} exceeds max_norm={max_norm:g}",
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
                    f"{what}: the right-hand side is not finite at t={t:.6g} "
                    f"(state {np.array2string(y, precision=4, threshold=8)})",
                    t_reached=float(t),
                    reason="non-finite velocity",
                )
            )
        return v

    def rhs(t, y):
        budget.spend(progress["t"])
        progress["t"] = max(progress["t"], float(t))
        if budget.spent % window == 0:
            _check_progress(budget, progress, t1, what, window)
        return evaluate(t, y)

    v0 = evaluate(t0, np.asarray(y0, dtype=np.float64))
    if not np.all(np.isfinite(v0)):
        cause = failures[-1] if failures else None
        raise DivergenceError(
            f"{what} cannot start: the right-hand side is not finite at t={t0:g} "
            f"({cause if cause is not None else 'NaN or Inf'})",
            t_reached=t0,
            reason=cause.reason if cause is not None else "non-finite velocity",
        ) from cause

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


def _check_progress(budget: Budget, progress: dict, t1: float, what: str, window: int) -> None:
    """Stop a solve whose remaining span would need over 10x its evaluation budget at the
    rate of the last window of evaluations, unless that rate is more than twice the rate of
    the window before (a solve that is speeding up, such as a stiff solver leaving a fast
    transient, is not stalled; so the first window alone never stops a solve)."""
    t, start = progress["t"], progress["window_start"]
    progress["window_start"] = t
    rate = (t - start) / window  # time covered per evaluation
    previous = progress.get("rate")
    progress["rate"] = rate
    accelerating = previous is None or rate > 2.0 * previous
    if not accelerating and t < t1 and (t1 - t) > 10.0 * budget.max_evaluations * max(rate, 0.0):
        raise DivergenceError(
            f"{what} stalled at t={t:.6g}: the last {window} evaluations advanced "
            f"the time by {t - start:.3e}, so the remaining {t1 - t:.3e} would need more "
            f"than 10x the budget of {budget.max_evaluations} evaluations. The step size "
            "collapsed: the right-hand side may be non-smooth (a kink where it changes "
            "sign, e.g. |x| in the map or the loss), the problem stiff (try method='LSODA' "
            "or 'Radau'), or the flow close to a finite-time blow-up",
            t_reached=t,
            reason="stalled",
        )

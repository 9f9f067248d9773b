"""The guarded ODE integration every flow in riemflow goes through (private).

One function, `integrate`, wraps scipy's `solve_ivp` with the checks and failure reports
the flows share: argument validation, a norm bound (`max_norm`), non-finite stages treated
as rejected steps (the solver shrinks the step), a non-finite start refused before the
solver sees it (scipy's first-step selection never ends on one), an evaluation and a wall-
time budget (`Budget`), and a stall test: when the steps have become so small that the
rest of the time span would need more than ten times the evaluation budget and more than
ten times the time budget at the rate of three consecutive windows, each covering under a
thousandth of the time integrated so far (a non-smooth right-hand side that chatters at a
kink, a stiff problem for an explicit method), the solve stops with the time reached. The
window is a number of evaluations or a second, whichever ends first (but at least ten
finite-difference Jacobians' worth of evaluations), so an expensive right-hand side (a
Newton solve per evaluation) stalls in seconds too, while a stiff solve that is slow per
evaluation but would finish within its time budget (an implicit method's finite-difference
Jacobians) is let run. The gradient and mirror flows, the joint flow of the gradient
fields and the converse's flows all use it, so they fail the same way. Right- hand sides
that jump at known times (losses that switch) are integrated from one jump to the next
(`switch_times`), the state and the last step size carried across.

`integrate_on_manifold` is the same integration for a state that must stay on a manifold
embedded in `R^N` (a sphere, the Stiefel manifold, the symmetric matrices holding the SPD
cone): the exact flow stays on it, the integrator drifts off by its local errors. The
drift is measured at every recorded time; where it exceeds a threshold the state is
retracted onto the manifold and the integration restarts from there.
"""

from __future__ import annotations

import collections
import time
from dataclasses import dataclass

import numpy as np
from scipy.integrate import solve_ivp

from ._validation import as_positive, as_positive_int, as_time_grid, as_time_span, as_tolerance
from .errors import BudgetError, DivergenceError, SolverError

__all__ = [
    "Solution",
    "Budget",
    "budgeted",
    "integrate",
    "integrate_on_manifold",
    "ManifoldSolution",
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
#: wall-clock seconds between two stall tests (at most)
_STALL_SECONDS = 1.0
#: consecutive slow windows that make a stall
_STALL_WINDOWS = 3
#: a slow window covers at most this fraction of the time integrated before it
_STALL_FRACTION = 1e-3
#: evaluations whose earliest time is taken as the solver's accepted time (a few steps'
#: stages of the highest-order method, DOP853's 12)
_RECENT = 40


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


#: a coordinate's absolute tolerance is at least this fraction of the largest coordinate's
_ATOL_SPREAD = 1e-30


def default_atol(x0: np.ndarray, factor: float = 1e-12) -> np.ndarray:
    """Per-coordinate absolute tolerance `factor * |x0_i|` (zeros: `factor * max|x0|`).

    Coordinates more than `1 / _ATOL_SPREAD` (1e30) times smaller than the largest get the
    tolerance of `_ATOL_SPREAD * max|x0|`: a tolerance of 1e-118 beside coordinates of order
    one made the solver's first steps 1e-90 long and its climb out of them take seconds.
    """
    scale = np.abs(x0)
    top = scale.max()
    fill = top if top > 0 else 1.0
    return factor * np.where(scale > 0, np.maximum(scale, _ATOL_SPREAD * top), fill)


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
    switch_times=None,
    first_step=None,
) -> Solution:
    """`solve_ivp` of `dy/dt = velocity(t, y)` with riemflow's checks and failure reporting.

    Validates the shared arguments (`t_span`, `t_eval`, `rtol`, `atol`, `max_norm`,
    the budgets; `atol=None` means `default_atol(y0)`). `|y| > max_norm`, non-finite states
    or velocities (at the start: at once), a step size collapsing to round-off (a
    finite-time singularity) and a stalled solve raise `DivergenceError` with the time; a
    spent budget raises `BudgetError`; any other solver failure a `SolverError`.

    With `switch_times` (times where `velocity` jumps), each interval between them is one
    `solve_ivp` call in which `velocity` sees times in `[a, b)` only (the end `b` is
    evaluated just before it), started from the previous interval's end state with its
    last step size; the budgets cover all intervals. `first_step` is the solver's first
    trial step (default: its own estimate, which costs two evaluations). Returns a
    `Solution` (`t`, `y`, `nfev`, `status`, `message`).
    """
    t0, t1 = as_time_span(t_span)
    t_eval = as_time_grid(t_eval, (t0, t1))
    rtol = as_positive(rtol, "rtol")
    atol = default_atol(y0) if atol is None else as_tolerance(atol, "atol", y0.size)
    max_norm = as_positive(max_norm, "max_norm")
    budget = Budget(what, max_evaluations=max_evaluations, time_limit=time_limit)
    options = dict(rtol=rtol, atol=atol, method=method, max_norm=max_norm, what=what)
    cuts = np.zeros(0) if switch_times is None else np.asarray(switch_times, dtype=np.float64)
    cuts = np.unique(cuts[(cuts > t0) & (cuts < t1)])
    if cuts.size:
        edges = np.concatenate([[t0], cuts, [t1]])
        return _piecewise(velocity, y0, edges, t_eval, budget, options)
    sol = _solve(velocity, y0, (t0, t1), t_eval, first_step, budget, **options)
    return Solution(sol.t, sol.y, int(sol.nfev), 0, str(sol.message))


def _piecewise(velocity, y0, edges, t_eval, budget, options) -> Solution:
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
        sol = _solve(clamped, y, (a, b), grid, step, budget, **options)
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


def _solve(velocity, y0, t_span, t_eval, first_step, budget, *, rtol, atol, method, max_norm, what):
    """One guarded `solve_ivp` call (see `integrate`)."""
    t0, t1 = t_span
    # A trial stage of a step can land outside the domain (a dual iterate past the blow-up of
    # grad R*, a state past max_norm) although the flow itself does not: such a stage returns
    # NaN, which makes the solver reject the step and shrink it. Only when it cannot shrink
    # further (a real singularity) is the last such failure raised, with the time reached.
    failures: list[DivergenceError] = []
    # the earliest of the last few evaluated times tracks the accepted time (trial stages,
    # of rejected steps above all, run ahead of it, up to the end of the span)
    progress = {
        "t": t0,
        "recent": collections.deque([t0], maxlen=_RECENT),
        "t0": t0,
        "window_start": t0,
        "slow": collections.deque(maxlen=_STALL_WINDOWS),
        "spent": budget.spent,
        "clock": time.perf_counter(),
    }
    # at least ten finite-difference Jacobians (n + 1 evaluations each, at one time) of an
    # implicit method per window, so a window always spans some steps
    shortest = 10 * (np.size(y0) + 1)
    window = max(100, shortest, min(_STALL_WINDOW, budget.max_evaluations // 10))

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
        progress["recent"].append(float(t))
        if (
            budget.spent - progress["spent"] >= window
            or budget.spent - progress["spent"] >= shortest
            and time.perf_counter() - progress["clock"] >= _STALL_SECONDS
        ):
            _check_progress(budget, progress, t1, what)
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


def _check_progress(budget: Budget, progress: dict, t1: float, what: str) -> None:
    """Stop a solve that has stalled: over `_STALL_WINDOWS` consecutive windows, the
    remaining span would need over 10x its evaluation budget and over 10x its time budget
    at each window's pace, and each window covered at most `_STALL_FRACTION` of the time
    integrated so far (so a flow whose steps start small and grow is let run)."""
    t, start = min(progress["recent"]), progress["window_start"]
    evaluations = budget.spent - progress["spent"]
    now = time.perf_counter()
    seconds = now - progress["clock"]
    progress.update(window_start=t, spent=budget.spent, clock=now)
    if t >= t1 or evaluations == 0:
        return
    covered = max(t - start, 0.0)
    # spans the rest of the solve would need at the last window's pace (inf if none)
    rest = (t1 - t) / covered if covered > 0 else np.inf
    over_evaluations = rest * evaluations > 10.0 * budget.max_evaluations
    over_time = budget.time_limit is None or rest * seconds > 10.0 * budget.time_limit
    # a window covering a tiny fraction of the time already integrated: the steps have
    # collapsed, not merely started small (a stiff transient, a long span)
    collapsed = covered <= _STALL_FRACTION * (t - progress["t0"])
    slow = progress["slow"]
    if not (over_evaluations and over_time and collapsed):
        slow.clear()
        return
    slow.append(covered)
    if len(slow) < _STALL_WINDOWS:
        return
    limit = "" if budget.time_limit is None else f" and {budget.time_limit:g} s"
    raise DivergenceError(
        f"{what} stalled at t={t:.6g}: each of the last {_STALL_WINDOWS} windows of "
        f"evaluations (the last: {evaluations} in {seconds:.2g} s) advanced the time by at "
        f"most {max(slow):.3e}, so the remaining {t1 - t:.3e} would need more than 10x the "
        f"budget of {budget.max_evaluations} evaluations{limit}. The step size collapsed: "
        "the right-hand side may be non-smooth (a kink where it changes sign, e.g. |x| in "
        "the map or the loss), the problem stiff (try method='LSODA' or 'Radau'), or the "
        "flow close to a finite-time blow-up",
        t_reached=t,
        reason="stalled",
    )


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
    max_evaluations: int = MAX_EVALUATIONS,
    time_limit: float | None = TIME_LIMIT,
    switch_times=None,
    first_step=None,
) -> ManifoldSolution:
    """`integrate`, keeping the state on a manifold: at every recorded time (the points of
    `t_eval`, else the solver's steps) the distance `distance(states (T, n)) -> (T,)` of the
    state from the manifold is measured; at the first time it exceeds `retract_tol` the
    state is replaced by `retract(state (n,))` and the integration restarts from it.
    `retract_tol=None` only measures. Without a retraction the result is `integrate`'s,
    bit for bit (one `solve_ivp` call). The evaluation budget is shared by the segments;
    the time budget applies to each."""
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
            max_evaluations=max(1, max_evaluations - nfev),
            time_limit=time_limit,
            switch_times=switch_times,
            first_step=None if restarted else first_step,
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

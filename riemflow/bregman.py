"""Bregman projections: where gradient flow on under-determined regression converges.

For a Legendre function `R`, data `X: (n, d)`, `y: (n,)` and a start `w0`, the Bregman
projection `argmin {D_R(w, w0) : Xw = y}` is the limit of mirror flow with `R` (hence, by
the forward theorem, of gradient flow on a commuting parametrization) on any loss
`f(Xw)` that drives it to an interpolator ([Concepts: the implicit bias is a Bregman
projection](concepts.md#the-implicit-bias-is-a-bregman-projection)). `implicit_bias` computes it in
the dual. The other reference programs the reproductions compare with (max-margin directions,
basis-pursuit faces) are in `riemflow.convex`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import edge_dual
from ._ode import Budget
from ._validation import (
    as_float_array,
    as_point,
    as_positive,
    as_positive_int,
    check_finite,
    check_magnitude,
)
from .errors import (
    BudgetError,
    ConvergenceError,
    DomainError,
    InputError,
    NotPositiveDefiniteError,
    ShapeError,
    SolverError,
)
from .legendre import Legendre

__all__ = ["implicit_bias", "ImplicitBias"]


@dataclass(frozen=True)
class ImplicitBias:
    """Result of `implicit_bias(..., full_output=True)`.

    Attributes:
        w: the Bregman projection `argmin {D_R(w, w0) : Xw = y}`: `(d,)`.
        multipliers: `lambda` with `grad R(w) = grad R(w0) + X^T lambda`: `(n,)`.
        feasibility: `|Xw - y|_inf / max(1, |y|_inf)` (primal KKT residual).
        stationarity: `|grad R(w) - grad R(w0) - X^T lambda|_inf / max(1, |X^T lambda|_inf)`
            (dual KKT residual: the accuracy of the mirror-map round trip).
        iterations: iterations of the dual solver.
        tol: the tolerance decided with.
        message: the solver's message.
    """

    w: np.ndarray
    multipliers: np.ndarray
    feasibility: float
    stationarity: float
    iterations: int
    tol: float
    message: str


#: up to this many rows, potentials with an edge form are solved in slack variables first
#: (more accurate near the edge; its exact decimal arithmetic costs ~n^2: 1 s at n = 20,
#: 4 s at n = 40 for d = 1000), beyond it only where the solve in `theta` fails
_EDGE_FIRST_ROWS = 20

#: largest |entry| of `X` and `y` implicit_bias accepts (products of two stay finite)
_LARGEST_DATA = 1e150


def _dual_directions(H, g):
    """Descent directions of the dual, best first: Newton; the pseudo-inverse Newton step
    (near the edge of dom R* at depth >= 3, H is singular to working precision and the
    solve's noise points anywhere); the negative gradient (directions where hess R* is
    ~1e-60, e.g. the hyperbolic entropy at alpha = 1e-30, need moves the pseudo-inverse
    drops)."""
    try:
        step = -np.linalg.solve(H, g)
        if np.all(np.isfinite(step)) and float(-g @ step) > 0:
            yield step
    except np.linalg.LinAlgError:
        pass
    try:
        step = -np.linalg.lstsq(H, g, rcond=None)[0]
        if float(-g @ step) > 0:
            yield step
    except np.linalg.LinAlgError:  # a non-finite H (overflow): only the gradient is left
        pass
    yield -g


def _line_search(objective, gradient, best, lam, phi, step, decrement):
    """Backtrack along `step` from `t = 1` until Armijo's rule holds (or, in the round-off
    regime of `phi`, until `|Xw - y|` decreases); `None` when the move becomes negligible.
    Steps can exceed any sensible move by 60 orders (hess R* ~ alpha^2 at alpha = 1e-30),
    so the floor is on the size of the move, not on `t`."""
    residual, t = best["residual"], 1.0
    size = float(np.max(np.abs(step)))
    while t * size > 1e-15 * max(1.0, float(np.max(np.abs(lam)))):
        trial = lam + t * step
        phi_trial = objective(trial)
        if np.isfinite(phi_trial):
            if phi_trial <= phi - 1e-4 * t * decrement:
                return trial, phi_trial
            if abs(phi_trial - phi) <= 1e-13 * (1.0 + abs(phi)):
                gradient(trial)  # round-off regime of phi: decide on the residual
                if best["residual"] < residual:
                    return trial, phi_trial
        t *= 0.5
    return None


def _damped_newton(objective, gradient, hessian, best, n, tol, max_iter, budget):
    """Minimize the dual `phi` from 0: Newton directions, halved until `phi` (inf outside its
    domain) decreases by Armijo's rule, or, once `phi` differences reach its round-off,
    until the residual `best["residual"]` (recorded by `gradient`) decreases."""
    lam = np.zeros(n)
    phi = objective(lam)
    if not np.isfinite(phi):
        raise ConvergenceError("the start grad R(w0) is outside the domain of R*")
    message = f"iteration budget {max_iter} spent"
    history: list[float] = []
    for it in range(1, max_iter + 1):
        budget.spend()
        g = gradient(lam)
        if best["residual"] <= tol:
            return lam, it - 1, "converged"
        if it > 25 and best["residual"] >= 0.5 * history[-25]:
            message = (
                f"stalled: |Xw - y| decreased by less than 2x in 25 Newton steps "
                f"(the dual is ill-conditioned: cond(X hess R* X^T) = "
                f"{np.linalg.cond(hessian(lam)):.1e})"
            )
            break
        history.append(best["residual"])
        H = hessian(lam)
        found = None
        for step in _dual_directions(H, g):
            found = _line_search(objective, gradient, best, lam, phi, step, float(-g @ step))
            if found is not None:
                break
        if found is None:
            message = (
                f"line search stalled at iteration {it}: no Newton, pseudo-inverse or "
                f"gradient step decreases phi or |Xw - y| (cond(X hess R* X^T) = "
                f"{np.linalg.cond(H):.1e}; near the edge of dom R* the reachable "
                "residual is ~cond * eps)"
            )
            break
        trial, phi_trial = found
        lam, phi = trial, phi_trial
    gradient(lam)
    return best["lam"], it, message


def implicit_bias(
    R: Legendre,
    X,
    y,
    w0,
    *,
    tol: float = 1e-10,
    max_iter: int = 500,
    time_limit: float | None = 600.0,
    full_output: bool = False,
):
    """The Bregman projection `argmin {D_R(w, w0) : Xw = y}` ([Concepts: the implicit bias
    is a Bregman projection](concepts.md#the-implicit-bias-is-a-bregman-projection)).

    If gradient flow on `L(Xw)` (e.g. under-determined least squares) with potential `R`
    from `w0` converges to an interpolator, this is its limit. Solved in the dual: the
    minimizer is `w = grad R^*(grad R(w0) + X^T lambda)` (so `grad R(w) - grad R(w0)` lies
    in the row space of `X`), with `lambda` minimizing the smooth convex
    `phi(lambda) = R^*(grad R(w0) + X^T lambda) - <lambda, y>`, whose gradient is `Xw - y`
    and Hessian `X hess R^*(.) X^T = X hess R(w)^{-1} X^T`, by damped Newton steps with a
    backtracking line search that treats points outside the domain of `R^*` as `+inf`
    (potentials of depth >= 3 have a bounded `dom R^*`, and at small initialization scales
    `hess R^*` is tiny there, so full Newton steps overshoot it by orders of magnitude),
    stopped when `|Xw - y|` is below `tol`.

    Near the edge of a bounded `dom R^*` (depth >= 3 networks at small initialization, where
    the solution's `theta` sits at relative distance about `alpha^(L-2)` from an edge) a
    solve in `theta` is limited by float64 itself: one ulp of `theta` moves `Xw` by more
    than `tol`, or the edge is within one ulp. Potentials with an `edge_form` (the depth >= 3
    network potentials) are solved in slack variables, without that cancellation, in exact
    decimal arithmetic (`riemflow.edge_dual.solve`): first when `n <= 20`, and for larger
    `n` (where its cost, about `n^2`, reaches seconds) only where the solve in `theta` does
    not reach `tol`. When a
    solve fails, the error says whether float64 resolution or infeasibility (a linear
    program over a box domain) stopped it (`riemflow.edge_dual.float64_resolution`).

    Args:
        R: the Legendre function.
        X: `(n, d)` with `n <= d` and full row rank.
        y: `(n,)`.
        w0: the reference point `(d,)` (the initialization `G(x_init)` of the flow).
        tol: required `|Xw - y|_inf / max(1, |y|_inf)`.
        max_iter: iteration budget of each dual solver (`theta`, then the edge form).
        time_limit: wall-time budget of each dual solver in seconds (default 600; `None`:
            none).
        full_output: return an `ImplicitBias` with the KKT residuals instead of `w`.

    Returns:
        `w: (d,)`, or an `ImplicitBias`.

    Raises:
        ShapeError, NonFiniteError: malformed `X`, `y`, `w0`.
        InputError: entries of `X`, `y` or `w0` above 1e150 in magnitude (their products
            overflow float64).
        DomainError: `w0` outside the domain of `R`.
        ConvergenceError: the feasibility residual did not reach `tol` (reports it and
            what stopped it: no solution of `Xw = y` in the domain of `R`, or the float64
            resolution of the dual).
        BudgetError: `time_limit` spent (a `ConvergenceError` too).

    Examples:
        >>> import numpy as np, riemflow as rf
        >>> R = rf.potentials.squared_euclidean(2)
        >>> X, y = np.array([[1.0, 1.0]]), np.array([2.0])
        >>> rf.implicit_bias(R, X, y, np.zeros(2)).round(12).tolist()
        [1.0, 1.0]
    """
    if not isinstance(R, Legendre):
        raise InputError(f"`R` must be a riemflow Legendre; got {type(R).__name__}", argument="R")
    X = check_magnitude(check_finite(as_float_array(X, "X"), "X"), "X")
    y = check_magnitude(check_finite(as_float_array(y, "y"), "y"), "y")
    if X.ndim != 2 or X.shape[1] != R.dim or X.shape[0] == 0:
        raise ShapeError(f"`X` must have shape (n, {R.dim}); got {X.shape}", argument="X")
    if y.shape != (X.shape[0],):
        raise ShapeError(f"`y` must have shape ({X.shape[0]},); got {y.shape}", argument="y")
    for name, arr in (("X", X), ("y", y)):
        if arr.size and float(np.max(np.abs(arr))) > _LARGEST_DATA:
            raise InputError(
                f"`{name}` has entries up to {float(np.max(np.abs(arr))):.3e}: the dual "
                f"solve's products would overflow float64 (largest {_LARGEST_DATA:.0e}); "
                "rescale the data",
                argument=name,
            )
    w0 = as_point(w0, "w0", R.dim)
    tol = as_positive(tol, "tol")
    max_iter = as_positive_int(max_iter, "max_iter")
    time_limit = None if time_limit is None else as_positive(time_limit, "time_limit")
    theta0 = np.asarray(R.grad(w0), dtype=np.float64)
    y_scale = max(1.0, float(np.max(np.abs(y))))
    edge_first = None  # what stopped the edge-form solve when it ran first
    if R.edge_form is not None and X.shape[0] <= _EDGE_FIRST_ROWS:
        edge_first = _edge_solve(R, X, y, w0, theta0, tol, max_iter, time_limit)
        if not isinstance(edge_first, str):
            return _edge_result(R, X, y, theta0, edge_first, tol, full_output)
    failures = (DomainError, ConvergenceError, NotPositiveDefiniteError, SolverError)
    budget = Budget(
        f"implicit_bias with {R.name}", max_evaluations=max_iter + 1, time_limit=time_limit
    )

    best = {"lam": np.zeros(X.shape[0]), "residual": np.inf}

    def primal(lam):
        return np.asarray(R.grad_conjugate(theta0 + X.T @ lam), dtype=np.float64)

    def objective(lam):
        try:
            value = float(R.conjugate(theta0 + X.T @ lam)) - float(lam @ y)
        except BudgetError:
            raise
        except failures:
            return np.inf  # outside dom R*: trust-region steps are shrunk
        return value if np.isfinite(value) else np.inf

    def gradient(lam):
        g = X @ primal(lam) - y
        residual = float(np.max(np.abs(g))) / y_scale
        if residual < best["residual"]:
            best.update(lam=np.array(lam, dtype=np.float64), residual=residual)
        return g

    def hessian(lam):  # X hess R*(theta) X^T: no Newton solve for potentials built from Q
        with np.errstate(all="ignore"):  # overflow is reported below
            H = np.asarray(R.hessian_conjugate(theta0 + X.T @ lam))
            diagonal = np.diagonal(H)
            if np.count_nonzero(H) == np.count_nonzero(diagonal):  # separable: O(n^2 d)
                out = (X * diagonal) @ X.T
            else:
                out = X @ H @ X.T
        if not np.all(np.isfinite(out)):
            raise ConvergenceError(
                "the dual Hessian X hess R* X^T is not finite (overflow: X or hess R* too "
                "large for float64)"
            )
        return out

    def fallback(reason: str, iterations: int):
        """The float64 dual did not reach `tol`: the edge-form solve where `R` has one
        (near the edge of dom R*, where float64 cancels), else a `ConvergenceError`."""
        edge_note = ""
        if R.edge_form is not None:
            solution = edge_first or _edge_solve(R, X, y, w0, theta0, tol, max_iter, time_limit)
            if not isinstance(solution, str):
                return _edge_result(R, X, y, theta0, solution, tol, full_output)
            edge_note = f"; the edge-form solve {solution}"
        raise ConvergenceError(
            f"implicit_bias: |Xw - y| = {best['residual']:.3e} (relative) after {iterations} "
            f"iterations, above tol={tol:g} ({reason}){edge_note}; "
            f"{_diagnosis(R, X, y, theta0, best, tol)}",
            residual=best["residual"],
            iterations=iterations,
        )

    try:
        lam, iterations, message = _damped_newton(
            objective, gradient, hessian, best, X.shape[0], tol, max_iter, budget
        )
    except BudgetError:
        raise
    except failures as exc:
        return fallback(f"{type(exc).__name__}: {exc}", max_iter)
    lam = best["lam"]
    w = primal(lam)
    feasibility = float(np.max(np.abs(X @ w - y))) / y_scale
    pull = X.T @ lam
    stationarity = float(np.max(np.abs(R.grad(w) - theta0 - pull))) / max(
        1.0, float(np.max(np.abs(pull)))
    )
    if not feasibility <= tol:
        return fallback(message, iterations)
    if full_output:
        return ImplicitBias(
            w=w,
            multipliers=lam,
            feasibility=feasibility,
            stationarity=stationarity,
            iterations=iterations,
            tol=tol,
            message=message,
        )
    return w


def _edge_solve(R, X, y, w0, theta0, tol, max_iter, time_limit):
    """The edge-form solve: an `EdgeSolution` within `tol`, else what stopped it (a str)."""
    form = R.edge_form
    if form.w_ref is not None and np.array_equal(w0, form.w_ref):
        theta0 = np.zeros(R.dim)  # grad R(w0) = 0 exactly (R is normalized there)
    try:
        solution = edge_dual.solve(
            form.started_at(theta0),
            X,
            y,
            tol=min(tol, 1e-14),
            max_iter=max_iter,
            time_limit=time_limit,
        )
    except BudgetError:
        raise
    except ConvergenceError as exc:
        return f"failed ({exc})"
    if not solution.residual <= tol:
        return (
            f"stopped at |Xw - y| = {solution.residual:.3e} ({solution.message}; basis "
            "exchanges on degenerate faces can cycle at extreme scales, see riemflow.edge_dual)"
        )
    return solution


def _edge_result(R, X, y, theta0, solution, tol, full_output):
    if not full_output:
        return solution.w
    pull = X.T @ solution.multipliers
    try:  # the round trip grad R(w) is an independent check of the slack solve
        with np.errstate(all="ignore"):
            gap = np.max(np.abs(np.asarray(R.grad(solution.w)) - theta0 - pull))
        stationarity = float(gap) / max(1.0, float(np.max(np.abs(pull))))
    except (DomainError, ConvergenceError, NotPositiveDefiniteError):
        stationarity = float("nan")
    return ImplicitBias(
        w=solution.w,
        multipliers=solution.multipliers,
        feasibility=solution.residual,
        stationarity=stationarity,
        iterations=solution.iterations,
        tol=tol,
        message=(
            f"edge form: {solution.message} (basis {solution.basis}, {solution.pivots} "
            "basis change(s))"
        ),
    )


def _diagnosis(R, X, y, theta0, best, tol) -> str:
    """What stopped a solve in `theta`: infeasibility or float64 resolution."""
    lam = best["lam"]
    try:
        if not np.any(lam):  # the solver never moved: look where the Newton ray ends
            lam = edge_dual.ray_to_edge(R, X, y, theta0)
        diagnosis = edge_dual.float64_resolution(R, X, y, lam, theta0)
    except (DomainError, ConvergenceError, NotPositiveDefiniteError, np.linalg.LinAlgError):
        return f"Xw = y may have no solution in the domain of {R.name}"
    return diagnosis.message(tol, best["residual"], R.name)

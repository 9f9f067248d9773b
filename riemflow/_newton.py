"""The damped Newton solve of `grad R(w) = mu` (private): riemflow's one inverse mirror map.

`Legendre.grad_conjugate` calls it when `grad R*` has no closed form, and through it every
potential known by its conjugate (`Legendre.from_conjugate`, the numerical forward
construction) inverts its mirror map. It minimizes the strictly convex `R(w) - <mu, w>`
with Newton steps (Cholesky of `hess R`) and a backtracking line search that keeps the
iterates in the domain and decreases the objective.
"""

from __future__ import annotations

import numpy as np

from ._ode import Budget
from .errors import ConvergenceError, NotPositiveDefiniteError

__all__ = ["inverse_mirror_map", "newton_inverse", "positive_definite_starts"]


def positive_definite_starts(candidates, *, contains, hessian, dim: int):
    """The candidates `(d,)` (skipping `None`) that lie in the domain and have a positive
    definite `hess R`, in order."""
    for candidate in candidates:
        if candidate is None:
            continue
        c = np.asarray(candidate, dtype=np.float64)
        if c.shape != (dim,) or not contains(c):
            continue
        with np.errstate(all="ignore"):
            H = np.asarray(hessian(c))
        if np.all(np.isfinite(H)) and np.linalg.eigvalsh(0.5 * (H + H.T))[0] > 0:
            yield c.copy()


def _failure(name, what, w, mu, g, iterations, hint) -> ConvergenceError:
    return ConvergenceError(
        f"grad R* of {name}: {what} w={np.array2string(w, precision=6, threshold=8)}; "
        f"mu={np.array2string(mu, precision=6, threshold=8)} may be outside the range of "
        f"grad R {hint}",
        residual=float(np.max(np.abs(g))),
        iterations=iterations,
    )


def newton_inverse(
    mu: np.ndarray,
    *,
    value,
    grad,
    hessian,
    contains,
    starts,
    tol: float,
    max_iter: int,
    name: str,
    time_limit: float | None = None,
) -> np.ndarray:
    """The `w` with `grad R(w) = mu`, by damped Newton on `phi(w) = R(w) - <mu, w>`.

    Args:
        mu: the dual point `(d,)`.
        value, grad, hessian: `R`, `grad R`, `hess R` at one point `(d,)` (plain arrays).
        contains: membership of one point in the domain of `R`.
        starts: start points to try, best first (the first one is used; see
            `positive_definite_starts`).
        tol: stop when a full step is below `tol * max(|w|_inf, tiny)`, or below what
            round-off in `grad R` can resolve.
        max_iter: iteration budget.
        name: the potential's name, for errors.
        time_limit: wall-time budget in seconds (`None`: none), checked at every
            evaluation of the objective.

    Raises:
        NotPositiveDefiniteError: no start point with a positive definite Hessian.
        ConvergenceError: the iteration budget is spent, the line search stalls, or
            `hess R` stops being positive definite at an iterate (residual and iterations
            reported).
        BudgetError: the time budget is spent.
    """
    budget = Budget(
        f"the Newton solve of grad R(w) = mu for {name} at mu="
        f"{np.array2string(mu, precision=6, threshold=8)} (mu may be outside the range of "
        "grad R)",
        max_evaluations=50 * max_iter,
        time_limit=time_limit,
    )
    w = next(iter(starts), None)
    if w is None:
        raise NotPositiveDefiniteError(
            f"grad R* of {name}: no start point with a positive definite Hessian "
            "(tried the given start, the domain center and 4 samples)"
        )

    def objective(z):
        budget.spend()
        return float(value(z)) - float(mu @ z)

    phi = objective(w)
    last_step = np.inf
    for it in range(1, max_iter + 1):
        budget.spend()
        g = np.asarray(grad(w)) - mu
        H = np.asarray(hessian(w))
        try:
            chol = np.linalg.cholesky(0.5 * (H + H.T))
        except np.linalg.LinAlgError:
            # the start had a PD Hessian: the iterates wandered where it degenerates
            raise _failure(
                name,
                "hess R is not positive definite at the Newton iterate",
                w,
                mu,
                g,
                it,
                "or R is not convex there",
            ) from None
        step = np.linalg.solve(chol.T, np.linalg.solve(chol, g))
        decrement = float(g @ step)
        t = 1.0
        while True:
            trial = w - t * step
            if contains(trial):
                phi_trial = objective(trial)
                # Newton decrement^2 = 2 (phi - min phi) to second order: below 1e-10 the
                # full step is safe (quadratic regime) and Armijo's test would compare
                # differences at round-off level
                if decrement < 1e-10 * (1 + abs(phi)) or (phi_trial <= phi - 1e-4 * t * decrement):
                    break
            t *= 0.5
            if t < 1e-14:
                raise _failure(
                    name, "the Newton line search stalled at", w, mu, g, it, "(the domain of R*)"
                )
        w, phi = trial, phi_trial
        size = float(np.max(np.abs(t * step)))
        # steps below what round-off in grad R (~eps |mu| per entry) moves w by are noise:
        # the stopping floor when the solution is at (or near) w = 0, where a step relative
        # to |w| can never get small enough
        noise = np.finfo(np.float64).eps * max(float(np.max(np.abs(mu))), 1e-300)
        floor = 4.0 * float(
            np.max(np.abs(np.linalg.solve(chol.T, np.linalg.solve(chol, np.full_like(g, noise)))))
        )
        scale = max(float(np.max(np.abs(w))), 1e-300)
        if t == 1.0 and (
            size <= max(tol * scale, floor) or (size >= last_step and size < 1e-10 * scale)
        ):
            return w
        last_step = size if t == 1.0 else np.inf
    raise ConvergenceError(
        f"grad R* of {name}: Newton did not converge in {max_iter} iterations at "
        f"mu={np.array2string(mu, precision=6, threshold=8)}",
        residual=float(np.max(np.abs(np.asarray(grad(w)) - mu))),
        iterations=max_iter,
    )


def inverse_mirror_map(R, mu: np.ndarray, start=None) -> np.ndarray:
    """`grad R*(mu)` for one `mu: (d,)` by `newton_inverse` on `R`'s traced building blocks,
    started from `start` (if given and admissible), else the domain's center, else 4
    seeded samples of the domain (potentials whose Hessian degenerates at the center, such
    as `|w|^p` at 0)."""

    def at(fn):
        return lambda z: np.asarray(fn(z))

    candidates = [start, R.domain.center(), *R.domain.sample(np.random.default_rng(0), 4)]
    starts = positive_definite_starts(
        candidates, contains=R.domain.contains, hessian=at(R.traced.hessian), dim=R.dim
    )
    return newton_inverse(
        mu,
        value=at(R.traced.value),
        grad=at(R.traced.grad),
        hessian=at(R.traced.hessian),
        contains=R.domain.contains,
        starts=starts,
        tol=R.newton_tol,
        max_iter=R.max_newton,
        name=R.name,
        time_limit=R.newton_time_limit,
    )

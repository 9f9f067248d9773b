"""Reference convex programs the implicit biases are compared with.

- `basis_pursuit(X, y)`: `argmin |w|_1` subject to `Xw = y`, a linear program solved by
  scipy's HiGHS (`w = w+ - w-`, `w+-` >= 0).
- `min_norm(X, y)`: `argmin |w|_2` subject to `Xw = y`, `X^T (X X^T)^{-1} y` by a least-squares
  solve.
- `max_margin(X, norm)`: the max-margin classifier of separable data (rows `y_n x_n`):
  `argmin |w|` subject to `Xw >= 1`, returned as a unit vector; `norm="l1"` is a linear
  program (HiGHS), `norm="l2"` a least-distance program solved exactly (active set) as a
  non-negative least-squares problem (Lawson and Hanson, *Solving Least Squares Problems*,
  ch. 23).

Each checks its constraints and raises `ConvergenceError` when the solver did not
reach a feasible point.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import linprog, nnls

from ._validation import as_matrix, as_system
from .errors import ConvergenceError, InputError

__all__ = ["basis_pursuit", "max_margin", "min_norm"]


def _residual(X, y, w) -> float:
    return float(np.max(np.abs(X @ w - y)) / max(1.0, float(np.max(np.abs(y)))))


def basis_pursuit(X, y, *, tol: float = 1e-9) -> np.ndarray:
    """`argmin |w|_1` subject to `Xw = y` (HiGHS; the dual simplex returns a vertex).

    Args:
        X: `(n, d)`.
        y: `(n,)`.
        tol: largest accepted `|Xw - y|_inf / max(1, |y|_inf)`; HiGHS' own feasibility
            tolerance is 1e-7 absolute on the scaled problem, typically ~1e-12 here.

    Raises:
        ConvergenceError: the program is infeasible or the residual exceeds `tol`.

    Examples:
        >>> import numpy as np, riemflow as rf
        >>> rf.convex.basis_pursuit(np.array([[1.0, 2.0]]), np.array([2.0])).tolist()
        [0.0, 1.0]
    """
    X, y = as_system(X, y)
    d = X.shape[1]
    res = linprog(
        np.ones(2 * d),
        A_eq=np.hstack([X, -X]),
        b_eq=y,
        bounds=(0, None),
        method="highs",
    )
    if res.status != 0:
        raise ConvergenceError(
            f"basis pursuit failed: {res.message}", residual=np.inf, iterations=0
        )
    w = res.x[:d] - res.x[d:]
    residual = _residual(X, y, w)
    if residual > tol:
        raise ConvergenceError(
            f"basis pursuit residual {residual:.3e} exceeds tol={tol:g}",
            residual=residual,
            iterations=int(getattr(res, "nit", 0)),
        )
    return w


def min_norm(X, y, *, tol: float = 1e-9) -> np.ndarray:
    """`argmin |w|_2` subject to `Xw = y`: `X^+ y` (`numpy.linalg.lstsq`).

    Raises:
        ConvergenceError: `Xw = y` has no solution (residual above `tol`, relative).

    Examples:
        >>> import numpy as np, riemflow as rf
        >>> rf.convex.min_norm(np.array([[1.0, 1.0]]), np.array([2.0])).round(12).tolist()
        [1.0, 1.0]
    """
    X, y = as_system(X, y)
    w = np.linalg.lstsq(X, y, rcond=None)[0]
    residual = _residual(X, y, w)
    if residual > tol:
        raise ConvergenceError(
            f"Xw = y has no solution: least-squares residual {residual:.3e} > tol={tol:g}",
            residual=residual,
            iterations=1,
        )
    return w


def max_margin(X, norm: str = "l2", *, tol: float = 1e-9) -> np.ndarray:
    """The unit max-margin direction of separable data: `w / |w|` for
    `w = argmin |w|` subject to `X w >= 1` (rows of `X` are `y_n x_n`, labels absorbed).

    - `norm="l2"`: the least-distance program `min |w|_2`, `Xw >= 1`, solved exactly by
      non-negative least squares: with `E = [X^T; 1^T]` and `f = e_{d+1}`, the NNLS residual
      `r = E lam - f` gives `w = -r[:d] / r[d]` (Lawson and Hanson, ch. 23).
    - `norm="l1"`: the linear program `min |w|_1`, `Xw >= 1` (HiGHS, `w = w+ - w-`). It may
      have several minimizers; HiGHS returns a vertex.

    Args:
        X: `(n, d)`, rows `y_n x_n`.
        norm: `"l2"` or `"l1"`.
        tol: largest accepted constraint violation `max(1 - Xw)` of the unnormalized `w`.

    Returns:
        `(d,)`, of unit Euclidean length (both norms), so directions compare directly.

    Raises:
        InputError: unknown `norm`, or the data are not linearly separable.
        ConvergenceError: the solver's answer violates a constraint by more than `tol`.

    Examples:
        >>> import numpy as np, riemflow as rf
        >>> X = np.array([[1.0, 0.75]])
        >>> rf.convex.max_margin(X, "l2").round(12).tolist()
        [0.8, 0.6]
        >>> rf.convex.max_margin(X, "l1").round(12).tolist()
        [1.0, 0.0]
    """
    X = as_matrix(X)
    n, d = X.shape
    if norm == "l2":
        E = np.vstack([X.T, np.ones((1, n))])
        f = np.zeros(d + 1)
        f[-1] = 1.0
        lam, _ = nnls(E, f)
        r = E @ lam - f
        if not abs(r[-1]) > 1e-12:  # r = 0 <=> 0 is in the convex hull of the rows
            raise InputError(
                "`X` is not linearly separable: no w with Xw >= 1 (0 lies in the convex hull "
                "of the rows y_n x_n)",
                argument="X",
            )
        w = -r[:d] / r[-1]
    elif norm == "l1":
        res = linprog(
            np.ones(2 * d),
            A_ub=-np.hstack([X, -X]),
            b_ub=-np.ones(n),
            bounds=(0, None),
            method="highs",
        )
        if res.status == 2:
            raise InputError("`X` is not linearly separable: no w with Xw >= 1", argument="X")
        if res.status != 0:
            raise ConvergenceError(
                f"l1 max margin failed: {res.message}", residual=np.inf, iterations=0
            )
        w = res.x[:d] - res.x[d:]
    else:
        raise InputError(f"`norm` must be 'l1' or 'l2'; got {norm!r}", argument="norm")
    violation = float(np.max(1.0 - X @ w))
    if violation > tol:
        raise ConvergenceError(
            f"{norm} max margin violates Xw >= 1 by {violation:.3e} > tol={tol:g}",
            residual=violation,
            iterations=0,
        )
    return w / np.linalg.norm(w)

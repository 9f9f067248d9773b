"""Reference convex programs the implicit biases are compared with.

- `basis_pursuit(X, y)`: `argmin |w|_1` subject to `Xw = y`, a linear program solved by
  scipy's HiGHS (`w = w+ - w-`, `w+-` >= 0).
- `min_norm(X, y)`: `argmin |w|_2` subject to `Xw = y`, `X^T (X X^T)^{-1} y` by a least-squares
  solve.

Both check the constraint residual and raise `ConvergenceError` when the solver did not
reach an interpolator.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import linprog

from ._validation import as_float_array, check_finite
from .errors import ConvergenceError, ShapeError

__all__ = ["basis_pursuit", "min_norm"]


def _system(X, y) -> tuple[np.ndarray, np.ndarray]:
    X = check_finite(as_float_array(X, "X"), "X")
    y = check_finite(as_float_array(y, "y"), "y")
    if X.ndim != 2 or X.size == 0:
        raise ShapeError(f"`X` must be a non-empty (n, d) matrix; got {X.shape}", argument="X")
    if y.shape != (X.shape[0],):
        raise ShapeError(f"`y` must have shape ({X.shape[0]},); got {y.shape}", argument="y")
    return X, y


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

    Example:
        >>> import numpy as np, riemflow as rf
        >>> rf.convex.basis_pursuit(np.array([[1.0, 2.0]]), np.array([2.0])).tolist()
        [0.0, 1.0]
    """
    X, y = _system(X, y)
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

    Example:
        >>> import numpy as np, riemflow as rf
        >>> rf.convex.min_norm(np.array([[1.0, 1.0]]), np.array([2.0])).round(12).tolist()
        [1.0, 1.0]
    """
    X, y = _system(X, y)
    w = np.linalg.lstsq(X, y, rcond=None)[0]
    residual = _residual(X, y, w)
    if residual > tol:
        raise ConvergenceError(
            f"Xw = y has no solution: least-squares residual {residual:.3e} > tol={tol:g}",
            residual=residual,
            iterations=1,
        )
    return w

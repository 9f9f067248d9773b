"""Wind, Antun, Hansen, *Implicit regularization in AI meets generalized hardness of
approximation in optimization* (2023).

The model $x = a^p - b^p$ (element-wise, $a(0) = b(0) = \\alpha$, any real depth $p \\ge 2$)
trained by gradient flow on $\\tfrac12|Ax - y|^2$ (under-determined) converges, as
$\\alpha \\to 0$, to a basis-pursuit solution. When basis pursuit has several minimizers
(a face), the depth decides which: $p = 2$ gives the minimizer of $\\sum_i |x_i|\\log|x_i|$
over the face, $p > 2$ the maximizer of $\\sum_i |x_i|^{2/p}$. The distance to the limit
shrinks like $\\alpha^p$ for $p > 2$ and at a problem-dependent rate for $p = 2$, which can
be arbitrarily slow: on $A = [1, 1 - \\varepsilon]$, $y = 1$ it is $(\\alpha^2)^\\varepsilon$.

**The flow at $\\alpha^p = 10^{-100}$.** `layer_flow` integrates the gradient flow of the
layers in log coordinates $z = (\\log a, \\log b)$:
$d\\log a/dt = -p\\,a^{p-2} g$, $d\\log b/dt = p\\,b^{p-2} g$, $g = A^T(Ax - y)$, so every
layer keeps its relative precision (an off-support $x_i \\sim \\alpha^p$ is computed as
accurately as an $O(1)$ one; nothing cancels or underflows), with
$x = e^{p z_a} - e^{p z_b}$. At small $\\alpha$ the flow waits at saddles for times of order
$\\alpha^{2-p}$ ($\\log(1/\\alpha)$ for $p = 2$); it is integrated in the clock
$d\\theta = \\kappa\\,dt$, $\\kappa = \\max_i p\\,\\max(a_i, b_i)^{p-2}|g_i| / |g|_\\infty$, the
kernel seen by the gradient: at a saddle the gradient sits on layers of size $\\alpha$ and
$\\kappa \\sim \\alpha^{p-2}$, so the wait takes $O(\\log(1/\\alpha))$ clock time; near the
minimum $\\kappa = O(1)$ and the clock is real time, the minimum a fixed point (a clock
$\\propto |g|$ would make the flow chatter around it). LSODA: the clock makes the
equilibrated coordinates stiff.
The flow stops when $|Ax - y| \\le$ `tol` $|y|$.

**The limits, computed independently.**

- The face and its selections: basis pursuit by HiGHS with its dual certificate $\\nu$; the
  face is $\\{x : Ax = y,\\ s_i x_i \\ge 0 \\text{ on } T,\\ x = 0 \\text{ off } T\\}$ with
  $T = \\{i : |A^T\\nu|_i = 1\\}$, $s = \\operatorname{sign}(A^T\\nu)$, on which the
  entropy and the power sums are optimized by SLSQP (`face_limit`), with the KKT residual
  checked.
- At moderate $\\alpha$, the flow's limit is the Bregman projection of 0 with the potential
  of Woodworth et al. (`riemflow.implicit_bias` with `woodworth.paper_potential`, any real
  depth).
- The hard instance in closed form: one constraint, so the dual is a scalar, solved in a
  cancellation-free variable at every $\\alpha$ (`hard_limit`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.integrate import solve_ivp
from scipy.optimize import brentq, linprog, minimize
from scipy.special import logsumexp

from .. import _ode
from .._validation import as_float_array, as_positive, as_real_at_least, as_system, check_finite
from ..bregman import implicit_bias
from ..errors import ConvergenceError, InputError, ShapeError, SolverError
from ..sweep import sweep
from ._claims import ClaimTable, relative_gap

NAME = "wind"
PAPER = (
    "J. S. Wind, V. Antun, A. C. Hansen, Implicit regularization in AI meets generalized "
    "hardness of approximation in optimization (2023)"
)

QUICK: dict = {
    "depths": (2, 3),
    "alpha_ps": (1e-2, 1e-6, 1e-8, 1e-10, 1e-30, 1e-100),
    "hard_eps": (0.2,),
}

#: tolerances compare() decides with, and why
TOLERANCES = {
    # flow limit against the Bregman projection (alpha^p >= 1e-8), max-abs gap relative to
    # |x|: measured 1e-12 (p = 2) .. 4e-7 (p = 4, alpha^p = 1e-8, where the dual of the
    # projection saturates to 1 - 1e-4 and the flow's in-support error is ~2e-7)
    "flow_vs_bregman": 1e-6,
    # hard instance: the off-support x_2 of the flow against the closed form, relative;
    # measured 1e-10 .. 1e-8 down to alpha^p = 1e-100
    "flow_vs_closed_form": 1e-6,
    # face selection: distance of the flow (smallest alpha) to its own depth's predicted
    # limit, as a fraction of the distance between the predictions of p = 2 and p = 4
    "selection": 0.05,
    # fitted log-log slopes on the hard instance (alpha^p from 1e-2 to 1e-100): p > 2 against
    # 1, p = 2 against eps; measured within 0.002 (p = 2) and 0.02 (p = 2.5, eps = 0.1)
    "slope": 0.02,
    # on the face problem (alpha^p from 1e-6 to 1e-10, where the flow resolves the face):
    # pre-asymptotic corrections of relative order (alpha^p)^((p-2)/p) remain, 0.045 at
    # p = 2.5 (slope 0.955), 0.02 at p = 3
    "face_slope": 0.05,
}

_CAP = 700.0  # largest exponent of a layer (e^700 ~ 1e304)


def _check_system(A, y) -> tuple[np.ndarray, np.ndarray]:
    A, y = as_system(A, y, names=("A", "y"))
    if not np.any(y != 0):
        raise InputError("`y` must not be 0 (the flow would not move)", argument="y")
    return A, y


# -- the flow -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class FlowLimit:
    """The end of `layer_flow`.

    Attributes:
        x: `(d,)`, `a^p - b^p` at the end.
        log_a, log_b: the layers' logs at the end.
        residual: `|Ax - y| / |y|`.
        clock: the clock time `theta` reached.
        evaluations: right-hand-side evaluations.
    """

    x: np.ndarray
    log_a: np.ndarray
    log_b: np.ndarray
    residual: float
    clock: float
    evaluations: int


def layer_flow(
    A,
    y,
    *,
    depth: float,
    alpha: float,
    tol: float = 1e-13,
    rtol: float = 1e-11,
    max_clock: float = 1e6,
) -> FlowLimit:
    """Gradient flow of `1/2 |A(a^p - b^p) - y|^2` from `a = b = alpha`, run until
    `|Ax - y| <= tol |y|` (see the module docstring for the log layers and the clock).

    Args:
        A: `(n, d)`.
        y: `(n,)`, not 0.
        depth: `p >= 2`, real.
        alpha: initialization scale `> 0`; `alpha^p` down to `1e-300` works.
        tol: relative residual at which the flow counts as converged.
        rtol: LSODA relative tolerance (and absolute tolerance on the logs, a relative one
            on the layers).
        max_clock: largest clock time.

    Returns:
        `FlowLimit`.

    Raises:
        ShapeError, NonFiniteError, InputError: bad `A`, `y`, `depth`, `alpha`, tolerances.
        SolverError: LSODA failed (reports the clock time reached).
        ConvergenceError: the residual did not reach `tol` by `max_clock` (e.g. `Ax = y`
            has no solution).

    Examples:
        >>> import numpy as np
        >>> from riemflow.experiments.wind import layer_flow
        >>> end = layer_flow(np.array([[1.0, 0.8]]), np.array([1.0]), depth=2, alpha=1e-50)
        >>> round(float(end.x[0]), 12), round(float(end.x[1]) / 1e-20, 9)  # (alpha^2)^0.2
        (1.0, 1.0)
    """
    A, y = _check_system(A, y)
    p = as_real_at_least(depth, "depth", 2.0)
    alpha = as_positive(alpha, "alpha")
    tol = as_positive(tol, "tol")
    rtol = as_positive(rtol, "rtol")
    max_clock = as_positive(max_clock, "max_clock")
    d = A.shape[1]
    y_norm = float(np.linalg.norm(y))

    def primal(z):
        with np.errstate(over="ignore", under="ignore"):
            return np.exp(np.minimum(p * z[:d], _CAP)) - np.exp(np.minimum(p * z[d:], _CAP))

    H = A.T @ A

    def _parts(z):
        g = A.T @ (A @ primal(z) - y)
        with np.errstate(divide="ignore"):
            log_g = np.log(np.abs(g))
        if not np.any(np.isfinite(log_g)):  # g = 0: a stationary point
            return g, None
        log_rate = math.log(p) + (p - 2.0) * z  # p a^{p-2}, p b^{p-2}
        # the clock: d theta = kappa dt, kappa = (smooth) max_i p a_i^{p-2} |g_i| / |g|_inf
        # (log-sum-exp for both maxima: a smooth field, so LSODA's Newton steps converge)
        log_kappa = float(logsumexp(log_rate + np.concatenate([log_g, log_g]))) - float(
            logsumexp(log_g)
        )
        with np.errstate(under="ignore", over="ignore"):
            f = np.exp(np.minimum(log_rate - log_kappa, _CAP))
        return g, f

    def velocity(_t, z):
        g, f = _parts(z)
        if f is None:
            return np.zeros_like(z)
        return np.concatenate([-f[:d] * g, f[d:] * g])

    def jacobian(_t, z):
        # the clock's own derivative is left out: the Jacobian only steers LSODA's Newton
        # iterations (and its stiffness detection), never the accuracy of the solution
        g, f = _parts(z)
        if f is None:
            return np.zeros((2 * d, 2 * d))
        with np.errstate(over="ignore", under="ignore"):
            dx = np.concatenate(
                [p * np.exp(np.minimum(p * z[:d], _CAP)), -p * np.exp(np.minimum(p * z[d:], _CAP))]
            )
        dg = np.hstack([H * dx[None, :d], H * dx[None, d:]])
        J = np.vstack([-f[:d, None] * dg, f[d:, None] * dg])
        idx = np.arange(d)
        J[idx, idx] -= (p - 2.0) * f[:d] * g
        J[d + idx, d + idx] += (p - 2.0) * f[d:] * g
        return J

    def converged(_t, z):
        r = float(np.linalg.norm(A @ primal(z) - y))
        return math.log(r + 1e-300) - math.log(tol * y_norm)

    converged.terminal = True
    converged.direction = -1
    z0 = np.full(2 * d, math.log(alpha))
    budget = _ode.Budget(
        "the layer flow", max_evaluations=_ode.MAX_EVALUATIONS, time_limit=_ode.TIME_LIMIT
    )
    sol = solve_ivp(
        _ode.budgeted(velocity, budget),
        (0.0, max_clock),
        z0,
        method="LSODA",
        jac=jacobian,
        rtol=rtol,
        atol=rtol,
        events=converged,
    )
    if sol.status == -1:
        raise SolverError(
            f"LSODA failed at clock time {sol.t[-1]:.6g}: {sol.message}",
            t_reached=float(sol.t[-1]),
            reason=str(sol.message),
        )
    z = sol.y[:, -1]
    x = primal(z)
    residual = float(np.linalg.norm(A @ x - y)) / y_norm
    if not np.all(np.isfinite(x)):
        raise SolverError("the flow produced non-finite layers", t_reached=float(sol.t[-1]))
    if sol.t_events[0].size == 0:
        raise ConvergenceError(
            f"the relative residual reached only {residual:.3e} > tol={tol:g} by clock time "
            f"{max_clock:g}",
            residual=residual,
            iterations=int(sol.nfev),
        )
    return FlowLimit(
        x=x,
        log_a=z[:d].copy(),
        log_b=z[d:].copy(),
        residual=residual,
        clock=float(sol.t[-1]),
        evaluations=int(sol.nfev),
    )


# -- the predicted limits -----------------------------------------------------------------------
def basis_pursuit_face(A, y, *, tol: float = 1e-9):
    """Basis pursuit's optimal value, dual certificate and face.

    Args:
        A: `(n, d)`.
        y: `(n,)`, not 0.
        tol: how close to 1 `|A^T nu|_i` must be for coordinate `i` to be saturated.

    Returns:
        `(value, nu, T, signs)`: `min |x|_1`, a dual solution `nu` (`|A^T nu|_inf <= 1`),
        the saturated coordinates `T` (`|A^T nu|_i >= 1 - tol`) and their signs. Every
        basis-pursuit solution is supported on `T` with those signs.

    Raises:
        ShapeError, NonFiniteError, InputError: bad `A` or `y`.
        ConvergenceError: HiGHS failed (e.g. `Ax = y` has no solution) or returned no
            dual certificate.

    Examples:
        >>> from riemflow.experiments.wind import basis_pursuit_face, face_problem
        >>> value, nu, T, signs = basis_pursuit_face(*face_problem())
        >>> round(value, 9), T.tolist(), signs.tolist()
        (1.0, [0, 1, 2], [1.0, 1.0, 1.0])
    """
    A, y = _check_system(A, y)
    d = A.shape[1]
    res = linprog(np.ones(2 * d), A_eq=np.hstack([A, -A]), b_eq=y, bounds=(0, None), method="highs")
    if res.status != 0:
        raise ConvergenceError(f"basis pursuit failed: {res.message}", residual=np.inf)
    nu = np.asarray(res.eqlin.marginals, dtype=np.float64)
    corr = A.T @ nu
    if np.max(np.abs(corr)) > 1 + 1e-7:  # HiGHS' sign convention: flip
        nu, corr = -nu, -corr
    if abs(abs(float(y @ nu)) - res.fun) > 1e-7 * max(1.0, res.fun):
        raise ConvergenceError("basis pursuit: no dual certificate", residual=np.inf)
    if float(y @ nu) < 0:
        nu, corr = -nu, -corr
    T = np.flatnonzero(np.abs(corr) >= 1 - tol)
    return float(res.fun), nu, T, np.sign(corr[T])


def face_limit(A, y, *, depth: float, tol: float = 1e-14) -> np.ndarray:
    """The predicted `alpha -> 0` limit on the basis-pursuit face: the minimizer of
    `sum |x_i| log |x_i|` (`depth = 2`) or the maximizer of `sum |x_i|^{2/depth}`
    (`depth > 2`) over the face (SLSQP on `z = s_T x_T >= 0`, `A_T diag(s) z = y`).

    Args:
        A: `(n, d)`.
        y: `(n,)`, not 0.
        depth: `p >= 2`.
        tol: SLSQP's `ftol` (the Newton polish then solves the optimality conditions to
            round-off).

    Returns:
        `(d,)`: the selected basis-pursuit solution (0 off the face's support).

    Raises:
        ShapeError, NonFiniteError, InputError: bad `A`, `y` or `depth`.
        ConvergenceError: SLSQP failed or its KKT residual exceeds `1e-7`.

    Examples:
        >>> import numpy as np
        >>> from riemflow.experiments.wind import face_limit, face_problem
        >>> A, y = face_problem()
        >>> face_limit(A, y, depth=2)[:3].round(4).tolist()
        [0.2384, 0.3233, 0.4384]
    """
    A, y = _check_system(A, y)
    p = as_real_at_least(depth, "depth", 2.0)
    _, _, T, s = basis_pursuit_face(A, y)
    B = A[:, T] * s
    q = 2.0 / p
    if p == 2:

        def f(z):
            zz = np.maximum(z, 1e-300)
            return float(np.sum(zz * np.log(zz))), np.log(zz) + 1.0
    else:

        def f(z):
            zz = np.maximum(z, 1e-300)
            return -float(np.sum(zz**q)), -q * zz ** (q - 1.0)

    # an interior start: the least-norm point of the face, pulled inside
    z0 = np.linalg.lstsq(B, y, rcond=None)[0]
    z0 = np.maximum(z0, 1e-3 * max(1e-3, float(np.max(np.abs(z0)))))
    res = minimize(
        lambda z: f(z)[0],
        z0,
        jac=lambda z: f(z)[1],
        method="SLSQP",
        bounds=[(1e-300, None)] * len(T),
        constraints=[{"type": "eq", "fun": lambda z: B @ z - y, "jac": lambda z: B}],
        options={"ftol": tol, "maxiter": 1000},
    )
    z = res.x
    # SLSQP stops on the objective (ftol), which fixes z only to ~sqrt(ftol): polish with
    # Newton steps on the KKT system grad f(z) = B^T nu, Bz = y (f'' diagonal, > 0)
    n = B.shape[0]
    nu = np.linalg.lstsq(B.T, f(z)[1], rcond=None)[0]
    for _ in range(50):
        hess = 1.0 / z if p == 2 else q * (1.0 - q) * z ** (q - 2.0)
        K = np.block([[np.diag(hess), -B.T], [B, np.zeros((n, n))]])
        F = np.concatenate([f(z)[1] - B.T @ nu, B @ z - y])
        step = np.linalg.solve(K, -F)
        t = 1.0
        for _ in range(80):  # halve until the step keeps z > 0 (z > 0 holds at t = 0)
            if not np.any(z + t * step[: len(z)] <= 0):
                break
            t *= 0.5
        else:
            raise ConvergenceError("the KKT polish could not keep the iterate positive")
        z, nu = z + t * step[: len(z)], nu + t * step[len(z) :]
        if np.max(np.abs(step[: len(z)])) <= 4 * np.finfo(float).eps * np.max(z):
            break
    # KKT: grad f(z) in the row space of B (interior optimum)
    grad = f(z)[1]
    coef = np.linalg.lstsq(B.T, grad, rcond=None)[0]
    kkt = float(np.linalg.norm(B.T @ coef - grad) / np.linalg.norm(grad))
    feas = float(np.linalg.norm(B @ z - y) / np.linalg.norm(y))
    if not res.success or kkt > 1e-7 or feas > 1e-10 or np.any(z <= 0):
        raise ConvergenceError(
            f"face selection (depth {p:g}): {res.message}; KKT residual {kkt:.2e}, "
            f"feasibility {feas:.2e}",
            residual=max(kkt, feas),
            iterations=int(res.nit),
        )
    x = np.zeros(A.shape[1])
    x[T] = s * z
    return x


def face_problem() -> tuple[np.ndarray, np.ndarray]:
    """A basis-pursuit problem whose minimizers form a segment on which the entropy and
    the power selections differ: columns 0-2 are `(1, 1), (1, 2), (1, 3)` with
    `y = (1, 2.2)` (the face is `(s - 0.2, 1.2 - 2s, s, 0, 0, 0)`, `s in [0.2, 0.6]`),
    columns 3-5 have `|a_j^T nu| < 1` for the certificate `nu = (1, 0)`.

    Returns:
        `(A, y)`: `(2, 6)` and `(2,)`.

    Examples:
        >>> from riemflow.experiments.wind import face_problem
        >>> A, y = face_problem()
        >>> A.shape, y.tolist()
        ((2, 6), [1.0, 2.2])
    """
    A = np.array([[1.0, 1.0, 1.0, 0.5, -0.6, 0.3], [1.0, 2.0, 3.0, 3.0, -1.0, -2.0]])
    return A, np.array([1.0, 2.2])


def hard_instance(eps: float) -> tuple[np.ndarray, np.ndarray]:
    """`A = [[1, 1 - eps]]`, `y = [1]`: basis pursuit's unique solution is `(1, 0)`.

    Args:
        eps: in `(0, 1)`; the p = 2 rate is `(alpha^2)^eps`.

    Returns:
        `(A, y)`: `(1, 2)` and `(1,)`.

    Raises:
        InputError: `eps` is not a number in `(0, 1)`.

    Examples:
        >>> from riemflow.experiments.wind import hard_instance
        >>> A, y = hard_instance(0.25)
        >>> A.tolist(), y.tolist()
        ([[1.0, 0.75]], [1.0])
    """
    eps = as_positive(eps, "eps")
    if not eps < 1:
        raise InputError(f"`eps` must be in (0, 1); got {eps!r}", argument="eps")
    return np.array([[1.0, 1.0 - eps]]), np.array([1.0])


def _log_h_tanh(t: float, P: float) -> float:
    """`log h(tanh t)`, `h(s) = (1-s)^-P - (1+s)^-P`, for `t > 0`, without cancellation:
    `(1-s)/(1+s) = e^{-2t}`, `1 - s = 2 / (1 + e^{2t})`."""
    log_one_minus = math.log(2.0) - 2.0 * t - math.log1p(math.exp(-2.0 * t))
    return -P * log_one_minus + math.log(-math.expm1(-2.0 * P * t))


def hard_limit(eps: float, *, depth: float, alpha: float) -> np.ndarray:
    """The Bregman projection (the flow's limit) on `hard_instance(eps)`, in closed form up
    to one scalar root: the dual is `s = sigma (1, 1 - eps)`, and `x = 2 alpha^2 sinh(s)`
    (`p = 2`) or `x = alpha^p h_p(s)`, `h_p(s) = (1-s)^{-P} - (1+s)^{-P}`, `P = p/(p-2)`
    (Woodworth et al.), solved for `x_1 + (1 - eps) x_2 = 1` in `log` form with the
    saturated coordinate written in `t = artanh(sigma)`: exact at `alpha^p = 1e-300`.

    Examples:
        >>> from riemflow.experiments.wind import hard_limit
        >>> x = hard_limit(0.2, depth=2, alpha=1e-50)
        >>> round(float(x[0]), 12), float(x[1]) / 1e-20  # (alpha^2)^eps
        (1.0, 1.0000...)
    """
    _, _ = hard_instance(eps)
    p = as_real_at_least(depth, "depth", 2.0)
    alpha = as_positive(alpha, "alpha")
    c = 1.0 - eps
    if p == 2:
        log_scale = math.log(2.0) + 2.0 * math.log(alpha)

        def log_sinh(v):
            return v + math.log(-math.expm1(-2.0 * v)) - math.log(2.0)

        def F(v):  # log(x_1 + c x_2) with x = 2 alpha^2 sinh(s)
            return log_scale + float(np.logaddexp(log_sinh(v), math.log(c) + log_sinh(c * v)))

        hi = _bracket_above(F, 1.0)
        v = brentq(F, 1e-300, hi, xtol=1e-14, rtol=4 * np.finfo(float).eps)
        return np.array([math.exp(log_scale + log_sinh(v)), math.exp(log_scale + log_sinh(c * v))])
    P = p / (p - 2.0)
    log_scale = p * math.log(alpha)

    def log_h2(t):  # s_2 = c tanh t = tanh t_2, never saturated (s_2 <= c < 1)
        return _log_h_tanh(math.atanh(c * math.tanh(t)), P)

    def G(t):
        return log_scale + float(np.logaddexp(_log_h_tanh(t, P), math.log(c) + log_h2(t)))

    hi = _bracket_above(G, 1.0)
    t = brentq(G, 1e-300, hi, xtol=1e-14, rtol=4 * np.finfo(float).eps)
    return np.array([math.exp(log_scale + _log_h_tanh(t, P)), math.exp(log_scale + log_h2(t))])


def _bracket_above(F, hi: float, doublings: int = 2000) -> float:
    """The first `hi * 2^k` with `F >= 0` for an increasing `F` (a bounded search)."""
    for _ in range(doublings):
        if not F(hi) < 0:
            return hi
        hi *= 2.0
    raise ConvergenceError(f"no sign change of an increasing function below {hi:g}")


def bregman_limit(A, y, *, depth: float, alpha: float, tol: float = 1e-10) -> np.ndarray:
    """The flow's limit as the Bregman projection of 0 with the potential of Woodworth et
    al. (`riemflow.implicit_bias` with `woodworth.paper_potential`): a second route. The
    dual of depth > 2 saturates like `1 - alpha^(p-2)`, below float64 resolution in the
    dual variable at small `alpha`; the potential's edge form (`riemflow.edge_dual`) solves
    it in slack variables instead, so tiny scales (measured down to `alpha^p = 1e-300` on
    the hard instance) keep full relative accuracy.

    Args:
        A: `(n, d)`, full row rank.
        y: `(n,)`, not 0.
        depth: `p >= 2`.
        alpha: initialization scale `> 0`.
        tol: required relative residual of the dual solve.

    Returns:
        `(d,)`, the projection.

    Raises:
        ShapeError, NonFiniteError, InputError: bad arguments.
        ConvergenceError: the dual solve stalled above `tol` (the message says whether
            float64 resolution or infeasibility stopped it).

    Examples:
        >>> import numpy as np
        >>> from riemflow.experiments.wind import bregman_limit, hard_instance, hard_limit
        >>> A, y = hard_instance(0.2)
        >>> limit = bregman_limit(A, y, depth=2, alpha=0.3)
        >>> gap = limit - hard_limit(0.2, depth=2, alpha=0.3)
        >>> bool(np.max(np.abs(gap)) < 1e-9)
        True
    """
    from . import woodworth

    A, y = _check_system(A, y)
    Q = woodworth.paper_potential(A.shape[1], alpha, as_real_at_least(depth, "depth", 2.0))
    return implicit_bias(Q, A, y, np.zeros(A.shape[1]), tol=tol, max_iter=2000)


# -- the experiment -----------------------------------------------------------------------------
def _system_of(problem: str):
    if problem == "face":
        return face_problem()
    if problem.startswith("hard:"):
        return hard_instance(float(problem[5:]))
    raise InputError(f"unknown problem {problem!r} ('face' or 'hard:EPS')", argument="problem")


def _point(problem, depth, alpha_p):
    A, y = _system_of(problem)
    alpha = alpha_p ** (1.0 / depth)
    end = layer_flow(A, y, depth=depth, alpha=alpha)
    x = end.x
    row = {
        "residual": end.residual,
        "clock": end.clock,
        "evaluations": end.evaluations,
        "x": x.tolist(),
    }
    if problem == "face":
        pred = face_limit(A, y, depth=depth)
        row["dist_limit"] = float(np.linalg.norm(x - pred))
        row["off_support"] = float(np.abs(x[3:]).sum())
        for other in (2.0, 4.0):
            row[f"dist_limit_p{other:g}"] = float(np.linalg.norm(x - face_limit(A, y, depth=other)))
        if alpha_p >= 1e-8:
            b = bregman_limit(A, y, depth=depth, alpha=alpha)
            row["gap_second_method"] = relative_gap(x, b)
    else:
        eps = float(problem[5:])
        exact = hard_limit(eps, depth=depth, alpha=alpha)
        # off the support of the limit (1, 0): x_2; on the constraint set the distance to
        # (1, 0) is x_2 sqrt(1 + (1 - eps)^2)
        row["off_support"] = float(abs(x[1]))
        row["dist_limit"] = float(abs(x[1]) * math.hypot(1.0, 1.0 - eps))
        row["gap_second_method"] = float(abs(x[1] / exact[1] - 1.0))
    return row


def run(
    depths=(2, 2.5, 3, 4),
    alpha_ps=(1e-2, 1e-4, 1e-6, 1e-8, 1e-10, 1e-20, 1e-30, 1e-50, 1e-70, 1e-100),
    hard_eps=(0.1, 0.2, 0.3),
    *,
    face_floor: float = 1e-10,
    store=None,
    n_jobs: int = 1,
    progress: bool = True,
):
    """Flows on the face problem and on the hard instances over depth and `alpha^p`.

    Rows: `problem` (`"face"` or `"hard:EPS"`), `depth`, `alpha_p`, the flow's end `x`,
    `dist_limit` (to the predicted limit: the face selection of that depth, or `(1, 0)`),
    `off_support`, `gap_second_method` (Bregman projection on the face for
    `alpha^p >= 1e-8`, the closed form on the hard instance, relative) and, on the face,
    the distances to the p = 2 and p = 4 selections.

    Args:
        depths: depths `p` of the grid.
        alpha_ps: values of `alpha^p`.
        hard_eps: the `eps` of the hard instances.
        face_floor: smallest `alpha^p` run on the face problem for `p > 2` (below ~1e-12
            the float64 flow no longer resolves the face selection at `p > 2`; `p = 2` is
            run at every `alpha^p`).
        store: results store of the sweep (`riemflow.sweep.sweep`).
        n_jobs: worker processes.
        progress: show a progress bar.
    """
    import pandas as pd

    points = []
    for depth in depths:
        for a in alpha_ps:
            if depth == 2 or a >= face_floor:
                points.append({"problem": "face", "depth": float(depth), "alpha_p": float(a)})
            for eps in hard_eps:
                points.append(
                    {"problem": f"hard:{eps:g}", "depth": float(depth), "alpha_p": float(a)}
                )
    df = sweep(_point, points, store=store, n_jobs=n_jobs, progress=progress, desc=NAME)
    return pd.DataFrame(df)


def fitted_slope(alpha_p, dist) -> float:
    """Least-squares slope of `log dist` against `log alpha^p`.

    Args:
        alpha_p: `(m,)`, positive, at least two distinct values.
        dist: `(m,)`, positive.

    Raises:
        ShapeError, NonFiniteError: different lengths, fewer than two points, NaN/Inf.
        InputError: a value `<= 0` (no logarithm).

    Examples:
        >>> from riemflow.experiments.wind import fitted_slope
        >>> round(fitted_slope([1e-10, 1e-20, 1e-30], [2e-3, 2e-5, 2e-7]), 12)
        0.2
    """
    x = check_finite(as_float_array(alpha_p, "alpha_p"), "alpha_p")
    v = check_finite(as_float_array(dist, "dist"), "dist")
    if x.ndim != 1 or x.shape != v.shape or x.size < 2:
        raise ShapeError(
            f"need two 1-D arrays of one length >= 2; got {x.shape} and {v.shape}",
            argument="dist",
        )
    for name, arr in (("alpha_p", x), ("dist", v)):
        if np.any(arr <= 0):
            raise InputError(f"`{name}` must be positive (log-log fit)", argument=name)
    lx, ly = np.log(x), np.log(v)
    return float(np.polyfit(lx, ly, 1)[0])


def compare(df):
    """The paper's claims next to riemflow's numbers (see `TOLERANCES`)."""

    T = TOLERANCES
    claims = ClaimTable()
    claim = claims.add

    face = df[df["problem"] == "face"]
    hard = df[df["problem"] != "face"]
    fin = all(np.all(np.isfinite(np.asarray(x, dtype=float))) for x in df["x"])
    # the event stops at |Ax - y| = 1e-13 |y| up to its root finding (measured 1.0004e-13)
    claim(
        f"flows at alpha^p down to {df['alpha_p'].min():.0e}: finite, |Ax - y| <= 1e-13 |y|",
        "no overflow or cancellation",
        float(df["residual"].max()),
        1.01e-13,
        fin and df["residual"].max() <= 1.01e-13,
    )
    second = face.dropna(subset=["gap_second_method"])
    if len(second):
        gap = float(second["gap_second_method"].max())
        claim(
            "face problem: flow limit = Bregman projection (implicit_bias), alpha^p >= 1e-8",
            "limit of the flow",
            gap,
            T["flow_vs_bregman"],
            gap <= T["flow_vs_bregman"],
        )
    if len(hard):
        gap = float(hard["gap_second_method"].max())
        claim(
            "hard instance: flow = closed form (off-support x_2, relative)",
            "limit of the flow",
            gap,
            T["flow_vs_closed_form"],
            gap <= T["flow_vs_closed_form"],
        )
    if len(face):
        A, y = face_problem()
        spread = float(np.linalg.norm(face_limit(A, y, depth=2) - face_limit(A, y, depth=4)))
        for depth, g in face.groupby("depth"):
            best = g.loc[g["alpha_p"].idxmin()]
            frac = float(best["dist_limit"]) / spread
            what = "min sum |x| log |x|" if depth == 2 else f"max sum |x|^(2/{depth:g})"
            claim(
                f"p = {depth:g}, alpha^p = {best['alpha_p']:.0e}: on the face, the flow's "
                f"limit is the {what} point (distance / |x_2 - x_4| = {spread:.1e})",
                what,
                frac,
                T["selection"],
                frac <= T["selection"],
            )
    for (problem, depth), g in hard.groupby(["problem", "depth"]):
        eps = float(problem[5:])
        slope = fitted_slope(g["alpha_p"], g["dist_limit"])
        expected = eps if depth == 2 else 1.0
        claim(
            f"{problem}, p = {depth:g}: log-log slope of the distance against alpha^p",
            f"{expected:g}" + (" ((alpha^2)^eps)" if depth == 2 else " (alpha^p)"),
            slope,
            T["slope"],
            abs(slope - expected) <= T["slope"],
        )
    for depth, g in face.groupby("depth"):
        # off the face's support the flow keeps its relative precision at every alpha (on
        # it, the O(alpha^p) deviation drowns in the O(1) entries below alpha^p ~ 1e-8)
        g = g[g["alpha_p"] <= 1e-6]
        if len(g) >= 2:
            slope = fitted_slope(g["alpha_p"], g["off_support"])
            if depth == 2:
                claim(
                    "face problem, p = 2: log-log slope of the off-support mass "
                    "(problem-dependent; slower than alpha^2 here)",
                    "< 1",
                    slope,
                    0.9,
                    slope < 0.9,
                )
            else:
                claim(
                    f"face problem, p = {depth:g}: log-log slope of the off-support mass "
                    "(alpha^p <= 1e-6)",
                    "1 (alpha^p)",
                    slope,
                    T["face_slope"],
                    abs(slope - 1.0) <= T["face_slope"],
                )
    return claims.table()


def plot(df):
    """Distance to the predicted limit against `alpha^p`: the face problem (one line per
    depth) and the hard instances (one line per depth and eps)."""
    from ..plotting import panels

    fig, axes = panels(2, height=3.4)
    face = df[df["problem"] == "face"]
    for depth, g in face.groupby("depth"):
        g = g.sort_values("alpha_p")
        axes[0].loglog(
            g["alpha_p"], np.maximum(g["dist_limit"], 1e-16), "-o", ms=3, label=f"$p = {depth:g}$"
        )
    axes[0].set_title("face problem: to each depth's selection", fontsize=9)
    hard = df[df["problem"] != "face"]
    for (problem, depth), g in hard.groupby(["problem", "depth"]):
        g = g.sort_values("alpha_p")
        axes[1].loglog(
            g["alpha_p"],
            g["dist_limit"],
            "-" if depth == 2 else ":",
            lw=1.2,
            label=_hard_label(problem, depth),
        )
    axes[1].set_title(r"$A = [1,\ 1 - \varepsilon]$: to $(1, 0)$", fontsize=9)
    for ax in axes:
        ax.set_xlabel(r"$\alpha^p$")
        ax.set_ylabel("distance to the limit")
    axes[0].legend(fontsize=8)
    axes[1].legend(fontsize=7, ncol=2)
    return fig


def _hard_label(problem: str, depth: float) -> str:
    """Mathtext legend entry of a hard instance: `hard:0.1` -> eps = 0.1, p = 2."""
    eps = problem.rpartition(":")[2]
    try:
        return rf"$\varepsilon = {float(eps):g}$, $p = {depth:g}$"
    except ValueError:
        return f"{problem}, $p = {depth:g}$"

"""Moroshko, Gunasekar, Woodworth, Lee, Srebro, Soudry, *Implicit Bias in Deep Linear
Classification: Initialization Scale vs Training Accuracy*, NeurIPS 2020.

The model $w = u^D - v^D$ (element-wise), $u(0) = v(0) = \\alpha$, is trained by gradient flow
on the exponential loss $L(w) = \\sum_n e^{-\\langle x_n, w\\rangle}$ of separable data (rows
$x_n$ of `X` are $y_n x_n$, labels absorbed); we look at the unit direction of $w$ when the
loss first reaches $\\varepsilon$. The paper describes the regimes by the ratio
$\\log(1/\\varepsilon)/\\alpha^D$: the $\\ell_2$ max-margin direction when it is small (the
kernel regime) and, at depth 2, the $\\ell_1$ max-margin direction in the limit where it is
large (the rich regime). At finite scales that ratio alone does not decide the direction.
What this module computes and checks, with its conditions (measured on `problem()`:
$n = 4$, $d = 8$, seed 0, unless said otherwise):

- **Kernel end.** With the ratio $\\le 2.5$ and $\\varepsilon \\le 10^{-100}$ the direction
  lies within 0.1 of the $\\ell_2$ max-margin direction (`TOLERANCES["kernel_end"]`); on a
  linear model the $\\ell_2$ direction itself is approached only like
  $1/\\log(1/\\varepsilon)$, hence the condition on $\\varepsilon$.
- **One data point, $D = 2$** (closed form, `single_point_direction`), $x$ with positive
  entries: the direction depends on $(\\alpha, \\varepsilon)$ only through
  $r = \\log(1/\\varepsilon)/\\alpha^2$, and its distance to the $\\ell_1$ direction
  $e_{\\arg\\max x}$ decays like $r^{-\\gamma}$, $\\gamma = 1 - x_{(2)}/x_{(1)}$: for
  $x = (1, 0.75)$, $|u - e_1|\\,r^{1/4}$ is 1.015 at $r = 10^2$ and 1.000 at $r = 10^{16}$,
  at $\\alpha = 1$ and at $\\alpha = 0.01$ alike. Coming within $\\delta$ of $\\ell_1$ needs
  $\\gamma \\log r \\gtrsim \\log(1/\\delta)$: the controlling quantity is the logarithm of
  the ratio, weighted by the data's relative gap, not the ratio.
- **Several points, $D = 2$, small $\\alpha$** (observed, not proven): the direction first
  comes within 0.1 of $\\ell_1$ at $\\log_{10}(1/\\varepsilon) = 6.5 \\cdot 10^3$,
  $2.45 \\cdot 10^5$ and $4.8 \\cdot 10^7$ for $\\alpha = 0.2, 0.15, 0.1$: there
  $\\log\\log(1/\\varepsilon)$ grows like $\\kappa \\log(1/\\alpha^2)$ with
  $\\kappa \\approx 6.3$-$6.5$ (data-dependent, fitted on these three scales), not like
  $\\log(1/\\alpha^2)$ as a threshold on the ratio would have it. Our reading: the flow first
  settles near the $\\ell_1$ max-margin direction of a smaller support, a saddle of its
  incremental dynamics, and leaves it slowly. At $\\alpha = 10^{-3}$ the direction is 0.24
  from $\\ell_1$ at $\\varepsilon = 10^{-8}$ (ratio $1.8 \\cdot 10^7$) and 0.27 at
  $\\varepsilon = 10^{-10000}$ (ratio $2.3 \\cdot 10^{10}$): a large ratio reached through a
  small $\\alpha$ is not closer to $\\ell_1$. Nor does the distance decrease monotonically
  along the flow: at $\\alpha = 0.2$ it falls to 0.16 at $\\varepsilon = 10^{-3}$, rises to
  0.18 at $10^{-10}$ and is back at 0.16 at $10^{-100}$.
- **$D > 2$.** The rich end ($\\varepsilon \\to 0$ at fixed small $\\alpha$) is a KKT point
  of the $\\ell_{2/D}$ max-margin problem (`kkt_residual`), not the $\\ell_1$ direction: at
  $\\alpha = 10^{-3}$, $\\varepsilon = 10^{-8}$, $D = 3$ the direction is 0.51 from
  $\\ell_1$.

The rich end can therefore need absurd accuracy.

**How the flow is computed down to $\\varepsilon = 10^{-10000}$.** Gradient flow on $(u, v)$ is
a mirror flow in $\\mu = -\\int_0^t \\nabla L\\,ds$ ([Concepts: the forward
theorem](concepts.md#the-forward-theorem)):

- $D = 2$: $w = 2\\alpha^2 \\sinh(4\\mu)$;
- $D > 2$: $w = a^{-p} - b^{-p}$ with $a = u^{2-D} = c - k\\mu$, $b = v^{2-D} = c + k\\mu$,
  $c = \\alpha^{2-D}$, $k = D(D-2)$, $p = D/(D-2)$ (a layer blows up when $a$ or $b$ reaches 0,
  at a finite rescaled time).

In the rescaled time $d\\tau = L\\,dt$ the dual moves by $d\\mu/d\\tau = X^T \\pi$ with
$\\pi = \\operatorname{softmax}(-Xw)$, a bounded velocity however small the loss is, and
$\\log L = \\operatorname{logsumexp}(-Xw)$ is evaluated in the log domain. The state is $\\mu$
for $D = 2$ (with $w$ formed as $\\operatorname{sign}(\\mu)\\exp(2\\log\\alpha +
\\log 2\\sinh 4|\\mu|)$) and $(\\log a, \\log b)$ for $D > 2$ (so the blow-up sits at
$-\\infty$ and is never stepped across, and $a$ keeps its relative accuracy as it
approaches 0); LSODA with the analytic Jacobian $-X^T(\\operatorname{diag}\\pi - \\pi\\pi^T)X\\,
\\partial w/\\partial(\\text{state})$ handles the stiffness of the late phase, where the
Jacobian grows like the margin. A terminal event stops at $\\log L = \\log \\varepsilon$.
(Integrating $a, b$ themselves, an explicit Runge-Kutta step can carry $a$ through 0 across
the blow-up onto the spurious even branch of $a^{-p}$, and a converged-looking wrong answer.)
"""

from __future__ import annotations

import functools
import math
import numbers
from dataclasses import dataclass

import numpy as np
from scipy.integrate import solve_ivp
from scipy.optimize import brentq
from scipy.special import logsumexp, softmax

from .. import _ode, convex, losses, models
from .._validation import as_float_array, as_matrix, as_positive, as_real_at_least, check_finite
from ..errors import ConvergenceError, InputError, ShapeError, SolverError
from ..flows import gradient_flow
from ..sweep import sweep
from ._claims import ClaimTable

NAME = "moroshko"
PAPER = (
    "E. Moroshko, S. Gunasekar, B. Woodworth, J. D. Lee, N. Srebro, D. Soudry, Implicit Bias "
    "in Deep Linear Classification: Initialization Scale vs Training Accuracy, NeurIPS 2020"
)

#: the single 2-D point of the "absurd accuracy" example, and its scale
SINGLE_POINT = (1.0, 0.75)

QUICK: dict = {
    "depths": (2, 3),
    "alphas": (0.3, 1.0, 10.0),
    "log10_losses": (-1.0, -10.0, -100.0, -1000.0, -10000.0),
    "network_points": ((2, 1.0, 1e4), (3, 1.0, 1e5)),
}

#: tolerances compare() decides with, and why
TOLERANCES = {
    # rescaled-time dual flow against riemflow.gradient_flow of the network in real time,
    # both to the same loss level: Euclidean gap of the unit directions (measured 1e-12 ..
    # 1e-10; both integrators at rtol 1e-11 / 1e-12)
    "flow_vs_network": 1e-8,
    # the single point against its closed form (mu = tau x exactly): unit-direction gap,
    # measured 1e-12 .. 1e-10 down to 1e-10000
    "single_point": 1e-8,
    # kernel end: largest |direction - l2 max margin| over the grid points with
    # log(1/eps)/alpha^D <= 2.5 and eps <= 1e-100 (the l2 direction itself is approached only
    # like 1/log(1/eps) on a linear model, so eps must be small too); measured 0.02 (D = 2,
    # alpha = 10, ratio 2.3), 0.045 (D = 3, ratio 2.3) and 0.004 (D = 3, ratio 0.23), against
    # |l1 - l2| = 0.6 between the two max-margin directions
    "kernel_end": 0.1,
    # rich end, D = 2: largest |direction - l1 max margin| at eps = 1e-10000 over the alphas
    # with 0.3 <= alpha <= 1 (ratio >= 2e4); measured 0.028 and 0.065
    "rich_end": 0.1,
    # "neither": some grid point is at least this far from both max-margin directions
    "neither": 0.15,
    # D >= 3, eps -> 0 at small alpha: relative residual of the KKT conditions of the
    # l_{2/D} max-margin problem at the direction reached (NNLS on the support and active
    # set; measured ~1e-5 at 1e-10000, the tiny off-support entries not yet 0)
    "kkt": 1e-3,
}


# -- the flow in rescaled time ------------------------------------------------------------------
@dataclass(frozen=True)
class LossLevel:
    """The state of the flow when the training loss first reaches `10**log10_loss`.

    Attributes:
        direction: `w / |w|`.
        norm: `|w|` (finite: `w` itself never overflows before `|w| ~ 1e308`).
        min_margin: `min_n <x_n, w>`.
        log10_loss: the level reached (`log10 L`, evaluated in the log domain).
        tau: the solver's clock when it is reached: the rescaled time `int L dt` for
            `D = 2`, the clock `theta` (`d tau = min(a, b) / k d theta`) for `D > 2`.
        evaluations: right-hand-side evaluations of the solver.
    """

    direction: np.ndarray
    norm: float
    min_margin: float
    log10_loss: float
    tau: float
    evaluations: int


def _log_2sinh(x):
    """`log(2 sinh x)` for `x >= 0` without overflow (`-inf` at 0)."""
    with np.errstate(divide="ignore"):
        return x + np.log(-np.expm1(-2.0 * x))


_CAP = 700.0  # largest exponent of |w| (exp(700) ~ 1e304)


class _DualFlow:
    """The rescaled-time flow of one (X, depth, alpha): state, primal map and Jacobian.

    State: `mu` for `D = 2`; `(log a, log b)` for `D > 2`, so the layers' blow-up (`a` or
    `b` reaching 0) is at `-inf`, never crossed, and `a` is integrated with relative
    accuracy however small it gets.
    """

    def __init__(self, X: np.ndarray, depth: float, alpha: float):
        self.X = X
        self.d = X.shape[1]
        self.depth = depth
        self.log_alpha = math.log(alpha)
        if depth == 2:
            self.y0 = np.zeros(self.d)
        else:
            self.k = depth * (depth - 2.0)
            self.p = depth / (depth - 2.0)
            log_c = (2.0 - depth) * self.log_alpha
            if log_c > 700.0:
                raise InputError(
                    f"alpha^(2 - depth) = exp({log_c:.0f}) overflows float64; use alpha >= "
                    f"{math.exp(-700.0 / (depth - 2.0)):.1e} at depth {depth:g}",
                    argument="alpha",
                )
            self.c = math.exp(log_c)
            self.y0 = np.full(2 * self.d, log_c)

    def primal(self, y: np.ndarray) -> np.ndarray:
        """`w` of a state. Exponents are capped at 700 (`|w| <= 1e304`), far beyond any
        level asked for, so that a trial step overshooting into overflow sees a large but
        finite field, which the solver's error test rejects (LSODA accepts NaN steps)."""
        with np.errstate(under="ignore", over="ignore"):
            if self.depth == 2:
                log_w = np.minimum(2.0 * self.log_alpha + _log_2sinh(4.0 * np.abs(y)), _CAP)
                return np.sign(y) * np.exp(log_w)
            return np.exp(np.minimum(-self.p * y[: self.d], _CAP)) - np.exp(
                np.minimum(-self.p * y[self.d :], _CAP)
            )

    def _pi(self, y):
        w = self.primal(y)
        if not np.all(np.isfinite(w)):
            return None
        return softmax(-(self.X @ w))

    def _clock(self, y):
        """`d tau / d theta` for `D > 2`: `min(a, b) / k`. In `tau` the layers blow up at a
        finite `tau*` of order `alpha^(2-D)`, and the last stretch before it is shorter than
        the float64 resolution of `tau` (1e-3 against 1e19 at `alpha = 1e-10`, `D = 4`); in
        `theta` the blow-up is at `+inf` and every stretch is resolved."""
        return np.exp(np.min(y)) / self.k

    def velocity(self, _t, y):
        pi = self._pi(y)
        if pi is None:
            return np.full_like(y, np.nan)  # makes the solver reject the step
        g = self.X.T @ pi
        if self.depth == 2:
            return g
        with np.errstate(over="ignore"):
            ia, ib = np.exp(-y[: self.d]), np.exp(-y[self.d :])
        return self._clock(y) * np.concatenate([-self.k * g * ia, self.k * g * ib])

    def jacobian(self, _t, y):
        pi = self._pi(y)
        if pi is None:
            return np.full((y.size, y.size), np.nan)
        C = self.X.T @ ((np.diag(pi) - np.outer(pi, pi)) @ self.X)  # d(X^T pi)/dw = -C
        with np.errstate(over="ignore"):
            if self.depth == 2:
                dw = 8.0 * np.exp(2.0 * self.log_alpha + np.log(np.cosh(4.0 * y)))
                return -C * dw[None, :]
            d, k, p = self.d, self.k, self.p
            ia, ib = np.exp(-y[:d]), np.exp(-y[d:])
            g = self.X.T @ pi
            # dg/dz: w = a^-p - b^-p with a = e^{z_a}: dw/dz_a = -p a^-p, dw/dz_b = p b^-p
            dg = np.hstack([C * (p * ia**p)[None, :], -C * (p * ib**p)[None, :]])
            J = np.vstack([-k * ia[:, None] * dg, k * ib[:, None] * dg])
            J[np.arange(d), np.arange(d)] += k * g * ia
            J[d + np.arange(d), d + np.arange(d)] -= k * g * ib
            # the clock's own derivative is left out: the Jacobian only steers LSODA's
            # Newton iterations, never the accuracy of the solution
            return self._clock(y) * J

    def log_loss(self, y) -> float:
        w = self.primal(y)
        return float(logsumexp(-(self.X @ w))) if np.all(np.isfinite(w)) else -np.inf


def flow_to_loss(
    X,
    *,
    depth: float,
    alpha: float,
    log10_loss: float,
    rtol: float = 1e-11,
    max_tau: float | None = None,
) -> LossLevel:
    """Gradient flow of `w = u^D - v^D` (`u(0) = v(0) = alpha`) on the exponential loss
    `sum_n exp(-<x_n, w>)`, stopped when the loss first reaches `10**log10_loss`.

    Integrated in the rescaled time `d tau = L dt` with the loss in the log domain (see the
    module docstring), so levels down to `10**-10000` take well under a second. Tested down
    to `10**-(10**6)`; far deeper levels (`10**-(10**20)`) make the late phase too stiff for
    LSODA, which then raises `SolverError`.

    Args:
        X: `(n, d)`, rows `y_n x_n`; must be linearly separable.
        depth: `D >= 2` (real; `u, v > 0` throughout).
        alpha: initialization scale, `> 0`.
        log10_loss: the level, below the initial `log10(n)`.
        rtol: LSODA relative tolerance (absolute tolerance 1e-3 rtol on the dual for
            `D = 2`, none for `D > 2`, whose state is positive).
        max_tau: largest integration time; default `1e3 (log(n / eps) + |log alpha| + 1) /
            gamma_1` (`gamma_1` the l1 max margin). For `D > 2` the solver's clock is not
            `tau` but `theta` with `d tau = min(a, b) / k d theta` (the blow-up is at
            `theta = inf`), and `max_tau` bounds `theta`.

    Returns:
        `LossLevel`.

    Raises:
        ShapeError, NonFiniteError: bad `X`.
        InputError: non-separable `X`, bad `depth`, `alpha`, `log10_loss` or `rtol`.
        SolverError: LSODA failed (the message says the rescaled time it reached).
        ConvergenceError: the level was not reached by `max_tau`.

    Examples:
        >>> import numpy as np
        >>> from riemflow.experiments.moroshko import flow_to_loss
        >>> X = np.array([[1.0, 0.75]])
        >>> level = flow_to_loss(X, depth=2, alpha=1.0, log10_loss=-4000)
        >>> level.direction.round(3).tolist(), round(level.log10_loss, 6)
        ([0.995, 0.103], -4000.0)
    """
    X = as_matrix(X)
    D = as_real_at_least(depth, "depth", 2.0)
    alpha = as_positive(alpha, "alpha")
    if not isinstance(log10_loss, numbers.Real) or not math.isfinite(log10_loss):
        raise InputError(
            f"`log10_loss` must be a finite number; got {log10_loss!r}", argument="log10_loss"
        )
    n = X.shape[0]
    if not log10_loss < math.log10(n):
        raise InputError(
            f"`log10_loss` must be below the initial loss log10(n) = {math.log10(n):.4g}; got "
            f"{log10_loss!r}",
            argument="log10_loss",
        )
    rtol = as_positive(rtol, "rtol")
    gamma_1 = _l1_margin(X)  # raises InputError when X is not separable
    flow = _DualFlow(X, D, alpha)
    target = float(log10_loss) * math.log(10.0)
    if max_tau is None:
        max_tau = 1e3 * (math.log(n) - target + abs(math.log(alpha)) + 1.0) / gamma_1
    max_tau = as_positive(max_tau, "max_tau")

    def reached(t, y):
        return flow.log_loss(y) - target

    reached.terminal = True
    reached.direction = -1
    # absolute tolerances: on the dual for D = 2 (|mu| grows to O(log(1/alpha))), on
    # log a, log b for D > 2 (an absolute error on a log is a relative one on a)
    atol = 1e-3 * rtol if D == 2 else rtol
    try:
        budget = _ode.Budget(
            "the rescaled flow", max_evaluations=_ode.MAX_EVALUATIONS, time_limit=_ode.TIME_LIMIT
        )
        sol = solve_ivp(
            _ode.budgeted(flow.velocity, budget),
            (0.0, max_tau),
            flow.y0,
            method="LSODA",
            jac=flow.jacobian,
            rtol=rtol,
            atol=atol,
            events=reached,
        )
    except ValueError as exc:  # scipy's event root bracketing on a failed step
        raise SolverError(f"LSODA failed locating the loss level: {exc}", reason=str(exc)) from exc
    if sol.status == -1:
        raise SolverError(
            f"LSODA failed at rescaled time tau = {sol.t[-1]:.6g}: {sol.message}",
            t_reached=float(sol.t[-1]),
            reason=str(sol.message),
        )
    if sol.t_events[0].size == 0:
        last = flow.log_loss(sol.y[:, -1]) / math.log(10.0)
        raise ConvergenceError(
            f"the loss reached only 10^{last:.6g} > 10^{log10_loss:g} by tau = {max_tau:.4g}",
            residual=last - float(log10_loss),
            iterations=int(sol.nfev),
        )
    y = sol.y_events[0][0]
    w = flow.primal(y)
    norm = float(np.linalg.norm(w))
    return LossLevel(
        direction=w / norm,
        norm=norm,
        min_margin=float(np.min(X @ w)),
        log10_loss=flow.log_loss(y) / math.log(10.0),
        tau=float(sol.t_events[0][0]),
        evaluations=int(sol.nfev),
    )


def direction_at_loss(
    X, *, depth: float, alpha: float, log10_loss: float, rtol: float = 1e-11
) -> np.ndarray:
    """The unit direction of `w = u^D - v^D` when the exponential training loss first
    reaches `10**log10_loss` (see `flow_to_loss`, which also returns the margin, norm and
    rescaled time).

    Args:
        X: `(n, d)`, rows `y_n x_n`; linearly separable.
        depth: `D >= 2`.
        alpha: initialization scale `> 0`.
        log10_loss: the level, below `log10(n)`.
        rtol: LSODA relative tolerance.

    Returns:
        `(d,)`, of unit Euclidean length.

    Raises:
        ShapeError, NonFiniteError, InputError, SolverError, ConvergenceError: as
            `flow_to_loss`.

    Examples:
        >>> import numpy as np
        >>> from riemflow.experiments.moroshko import direction_at_loss
        >>> X = np.array([[1.0, 0.75]])
        >>> direction_at_loss(X, depth=2, alpha=1.0, log10_loss=-1e-3).round(2).tolist()
        [0.8, 0.6]
    """
    return flow_to_loss(X, depth=depth, alpha=alpha, log10_loss=log10_loss, rtol=rtol).direction


@functools.lru_cache(maxsize=64)
def _l1_margin_cached(key: bytes, shape: tuple[int, int]) -> float:
    X = np.frombuffer(key).reshape(shape)
    u = convex.max_margin(X, "l1")
    return float(np.min(X @ u) / np.abs(u).sum())


def _l1_margin(X: np.ndarray) -> float:
    """The l1 margin `max_{|w|_1 <= 1} min_n <x_n, w>` (InputError when not separable)."""
    return _l1_margin_cached(np.ascontiguousarray(X).tobytes(), X.shape)


# -- one data point: the flow in closed form ----------------------------------------------------
def _check_point(x) -> np.ndarray:
    x = check_finite(as_float_array(x, "x"), "x")
    if x.ndim != 1 or x.size < 1 or not np.all(x > 0):
        raise InputError(f"`x` must be a 1-D vector with positive entries; got {x!r}", argument="x")
    return x


def _single_point_w(x: np.ndarray, D: float, alpha: float, s: float) -> np.ndarray:
    """`w` on the single-point flow at the parameter `s`: `s = tau` for `D = 2`; for
    `D > 2`, `s = log a_min` (the log of the smallest `a_i = c - k tau x_i`), so that the
    approach to the blow-up keeps its relative precision."""
    if D == 2:
        return np.exp(2.0 * math.log(alpha) + _log_2sinh(4.0 * s * x))
    p = D / (D - 2.0)
    c = alpha ** (2.0 - D)
    r = x / x.max()
    a = c * (1.0 - r) + math.exp(s) * r  # c - k tau x_i with k tau x_max = c - a_min
    b = 2.0 * c - a
    return a ** (-p) - b ** (-p)


def single_point_direction(x, *, depth: float, alpha: float, log10_loss: float) -> np.ndarray:
    """The direction of the flow on one point `x` (positive entries) at loss `10**log10_loss`,
    in closed form: with one point `softmax` is 1, so `mu = tau x` exactly and only the
    scalar `tau` solving `<x, w(tau)> = log(1/eps)` is computed (Brent's method).

    An independent check of `direction_at_loss`, which integrates the same flow.

    Args:
        x: `(d,)`, positive entries (the single row `y_1 x_1`).
        depth: `D >= 2`.
        alpha: initialization scale `> 0`.
        log10_loss: the level, `< 0` (the loss starts at 1).

    Returns:
        `(d,)`, of unit Euclidean length.

    Raises:
        InputError, NonFiniteError: bad `x`, `depth`, `alpha` or `log10_loss`.

    Examples:
        >>> from riemflow.experiments.moroshko import single_point_direction
        >>> single_point_direction([1.0, 0.75], depth=2, alpha=1.0,
        ...                        log10_loss=-4000).round(3).tolist()
        [0.995, 0.103]
    """
    x = _check_point(x)
    D = as_real_at_least(depth, "depth", 2.0)
    alpha = as_positive(alpha, "alpha")
    margin = -float(log10_loss) * math.log(10.0)
    if not margin > 0:
        raise InputError(
            f"`log10_loss` must be negative; got {log10_loss!r}", argument="log10_loss"
        )
    s = _solve_single_point(x, D, alpha, lambda w: math.log(x @ w) - math.log(margin))
    w = _single_point_w(x, D, alpha, s)
    return w / np.linalg.norm(w)


def _solve_single_point(x, D, alpha, f):
    """Root in the single-point parameter `s` of an increasing function `f(w(s))`."""
    if D == 2:
        lo, hi = 0.0, 1.0
        for _ in range(2000):  # f increases to +inf: a bounded bracket search
            if not f(_single_point_w(x, D, alpha, hi)) < 0:
                break
            lo, hi = hi, 2.0 * hi
        else:
            raise ConvergenceError(f"no bracket for the single-point root below s={hi:g}")
        g = lambda s: f(_single_point_w(x, D, alpha, s))  # noqa: E731
        return brentq(g, max(lo, 1e-300), hi, xtol=1e-300, rtol=4 * np.finfo(float).eps)
    log_c = (2.0 - D) * math.log(alpha)
    g = lambda s: f(_single_point_w(x, D, alpha, s))  # noqa: E731  (decreasing in s)
    lo = log_c - 1.0
    for _ in range(2000):  # g decreases to -inf as s -> log_c: a bounded bracket search
        if not g(lo) < 0:
            break
        lo -= 10.0
    else:
        raise ConvergenceError(f"no bracket for the single-point root above s={lo:g}")
    return brentq(lambda s: -g(s), lo, log_c - 1e-12, xtol=1e-15, rtol=4 * np.finfo(float).eps)


def loss_needed(x, *, depth: float, alpha: float, distance: float = 0.1) -> float:
    """`log10` of the loss at which the single-point flow's direction comes within
    `distance` (Euclidean, unit vectors) of the l1 max-margin direction `e_argmax(x)`;
    closed form (see `single_point_direction`).

    Args:
        x: `(d,)`, positive entries.
        depth: `D >= 2`.
        alpha: initialization scale `> 0`.
        distance: in `(0, sqrt 2)`.

    Returns:
        `log10(eps)`, a float (far below -308 where needed: never the loss itself).

    Raises:
        InputError, NonFiniteError: bad `x`, `depth`, `alpha` or `distance`.

    Examples:
        >>> from riemflow.experiments.moroshko import loss_needed
        >>> round(loss_needed([1.0, 0.75], depth=2, alpha=1.0))
        -4600
    """
    x = _check_point(x)
    D = as_real_at_least(depth, "depth", 2.0)
    alpha = as_positive(alpha, "alpha")
    if not 0 < distance < math.sqrt(2.0):
        raise InputError(
            f"`distance` must be in (0, sqrt 2); got {distance!r}", argument="distance"
        )
    target = np.zeros_like(x)
    target[np.argmax(x)] = 1.0

    def closer(w):  # increasing along the flow
        return distance - float(np.linalg.norm(w / np.linalg.norm(w) - target))

    s = _solve_single_point(x, D, alpha, closer)
    w = _single_point_w(x, D, alpha, s)
    return -float(x @ w) / math.log(10.0)


# -- the experiment -----------------------------------------------------------------------------
def problem(n: int = 4, d: int = 8, seed: int = 0) -> np.ndarray:
    """Separable data `(n, d)`, rows `y_n x_n` Gaussian (`n < d`: always separable), with
    distinct, unique l1 and l2 max-margin directions (seed 0: the l1 one has 3 non-zeros)."""
    return np.random.default_rng(seed).standard_normal((n, d))


def _point(depth, alpha, log10_loss, *, n, d, data_seed):
    X = problem(n, d, data_seed)
    l1, l2 = convex.max_margin(X, "l1"), convex.max_margin(X, "l2")
    level = flow_to_loss(X, depth=depth, alpha=alpha, log10_loss=log10_loss)
    u = level.direction
    return {
        "ratio": -log10_loss * math.log(10.0) / alpha**depth,
        "dist_l1": float(np.linalg.norm(u - l1)),
        "dist_l2": float(np.linalg.norm(u - l2)),
        "min_margin": level.min_margin,
        "tau": level.tau,
        "evaluations": level.evaluations,
        "direction": u.tolist(),
    }


def _network_check(depth, alpha, t_end, X):
    """`riemflow.gradient_flow` of the network in real time to `t_end`, then the rescaled
    flow to the loss reached there: the gap of the two directions."""
    G, x0 = models.diagonal_network(X.shape[1], depth=depth, alpha=alpha)
    loss = losses.exponential(X, reduction="sum")
    traj = gradient_flow(G, loss, x0, (0.0, t_end), t_eval=[t_end], rtol=1e-12, method="LSODA")
    w = traj.w[-1]
    log10_loss = math.log10(float(loss(w)))
    u = direction_at_loss(X, depth=depth, alpha=alpha, log10_loss=log10_loss)
    return {"log10_loss": log10_loss, "gap": float(np.linalg.norm(w / np.linalg.norm(w) - u))}


#: (depth, alpha, t_end) where the network's own flow is run in real time
NETWORK_POINTS = ((2, 0.3, 1e3), (2, 1.0, 1e4), (3, 1.0, 1e5), (4, 3.0, 1e3))
#: levels of the single-point check (depth 2 and 3, alpha = 1)
SINGLE_LEVELS = (-1.0, -10.0, -100.0, -1000.0, -4000.0, -10000.0)


def run(
    depths=(2, 3, 4),
    alphas=(0.1, 0.3, 1.0, 3.0, 10.0),
    log10_losses=(-1.0, -3.0, -10.0, -30.0, -100.0, -300.0, -1000.0, -3000.0, -10000.0, -1e5, -1e6),
    *,
    n: int = 4,
    d: int = 8,
    data_seed: int = 0,
    network_points=NETWORK_POINTS,
    store=None,
    n_jobs: int = 1,
    progress: bool = True,
):
    """The direction at loss `eps` over a grid of depth, alpha and eps, with three checks.

    Rows (`kind`):

    - `"grid"`: one per (depth, alpha, log10_loss): `ratio = log(1/eps) / alpha^D`, the
      distances of the unit direction to the l1 and l2 max-margin directions (convex
      programs, `riemflow.convex.max_margin`), the min margin, the rescaled time and the
      solver's evaluations (through `riemflow.sweep`: progress bar, resumable `store`);
    - `"network"`: `riemflow.gradient_flow` of `models.diagonal_network` in real time
      against the rescaled flow at the loss it reached (`gap`);
    - `"single_point"`: the one-point flow against its closed form (`gap`), and the loss
      needed to come within 0.1 of the l1 direction (`log10_loss`, kind `"needed"`).

    Args:
        depths: depths of the grid.
        alphas: initialization scales of the grid.
        log10_losses: loss levels of the grid.
        n: number of data points (`problem`).
        d: dimension of the data.
        data_seed: seed of the data.
        network_points: `(depth, alpha, t_end)` of the real-time checks.
        store: results store of the sweep (`riemflow.sweep.sweep`).
        n_jobs: worker processes.
        progress: show a progress bar.

    Returns:
        A tidy `pandas.DataFrame`.
    """
    import pandas as pd

    fn = functools.partial(_point, n=n, d=d, data_seed=data_seed)
    grid_df = sweep(
        fn,
        {"depth": list(depths), "alpha": list(alphas), "log10_loss": list(log10_losses)},
        store=store,
        n_jobs=n_jobs,
        progress=progress,
        desc=NAME,
    )
    grid_df = grid_df.assign(kind="grid")
    rows = []
    X = problem(n, d, data_seed)
    for depth, alpha, t_end in network_points:
        rows.append(
            {
                "kind": "network",
                "depth": depth,
                "alpha": alpha,
                "t_end": t_end,
                **_network_check(depth, alpha, t_end, X),
            }
        )
    x = np.array(SINGLE_POINT)
    for depth in (2, 3):
        for level in SINGLE_LEVELS:
            flow_dir = direction_at_loss(x[None, :], depth=depth, alpha=1.0, log10_loss=level)
            exact = single_point_direction(x, depth=depth, alpha=1.0, log10_loss=level)
            rows.append(
                {
                    "kind": "single_point",
                    "depth": depth,
                    "alpha": 1.0,
                    "log10_loss": level,
                    "gap": float(np.linalg.norm(flow_dir - exact)),
                    "dist_l1": float(np.linalg.norm(exact - [1.0, 0.0])),
                }
            )
    for depth in (2, 3, 4):
        level = loss_needed(x, depth=depth, alpha=1.0, distance=0.1)
        u = direction_at_loss(x[None, :], depth=depth, alpha=1.0, log10_loss=level)
        rows.append(
            {
                "kind": "needed",
                "depth": depth,
                "alpha": 1.0,
                "log10_loss": level,
                "dist_l1": float(np.linalg.norm(u - [1.0, 0.0])),
            }
        )
    return pd.concat([grid_df, pd.DataFrame(rows)], ignore_index=True)


def kkt_residual(
    direction, X, q: float, *, support_tol: float = 1e-3, active_tol: float = 1e-3
) -> float:
    """Relative residual of the KKT conditions of `min sum_i |w_i|^q` s.t. `Xw >= 1`
    (`0 < q <= 1`) at `w = direction / min_n <x_n, direction>`:
    `min_{lam >= 0} |X_{A,S}^T lam - q |w_S|^{q-1} sign(w_S)| / |q |w_S|^{q-1}|` over the
    support `S` (`|w_i| > support_tol max |w|`) and the active constraints `A` (margins
    below `1 + active_tol`); off the support the condition is void for `q < 1`.

    Args:
        direction: `(d,)`, separating the data.
        X: `(n, d)`, rows `y_n x_n`.
        q: the quasi-norm exponent, `0 < q <= 1` (`2 / D` for depth `D`).
        support_tol: relative size below which an entry counts as 0.
        active_tol: margin excess below which a constraint counts as active.

    Returns:
        The relative residual (0 at an exact KKT point).

    Raises:
        ShapeError, NonFiniteError: bad `X` or `direction`.
        InputError: `q` outside `(0, 1]`, or `direction` does not separate the data.

    Examples:
        >>> import numpy as np
        >>> from riemflow.experiments.moroshko import kkt_residual
        >>> X = np.array([[1.0, 0.5], [1.0, -0.5]])  # e_1 is the max margin for every q
        >>> kkt_residual(np.array([1.0, 0.0]), X, 0.5)
        0.0
    """
    X = as_matrix(X)
    u = check_finite(as_float_array(direction, "direction"), "direction")
    if u.shape != (X.shape[1],):
        raise ShapeError(
            f"`direction` must have shape ({X.shape[1]},); got {u.shape}", argument="direction"
        )
    if not 0 < q <= 1:
        raise InputError(f"`q` must be in (0, 1]; got {q!r}", argument="q")
    margin = float(np.min(X @ u))
    if not margin > 0:
        raise InputError("`direction` does not separate the data", argument="direction")
    w = u / margin
    S = np.abs(w) > support_tol * np.max(np.abs(w))
    A = X @ w < 1.0 + active_tol
    rhs = q * np.abs(w[S]) ** (q - 1.0) * np.sign(w[S])
    from scipy.optimize import nnls

    _, res = nnls(X[A][:, S].T, rhs)
    return float(res / np.linalg.norm(rhs))


def compare(df):
    """The paper's claims next to riemflow's numbers (see `TOLERANCES`)."""

    T = TOLERANCES
    claims = ClaimTable()
    claim = claims.add

    grid_df = df[df["kind"] == "grid"]
    net = df[df["kind"] == "network"]
    if len(net):
        gap = float(net["gap"].max())
        claim(
            "rescaled dual flow = riemflow.gradient_flow of the network (direction gap)",
            "same flow",
            gap,
            T["flow_vs_network"],
            gap <= T["flow_vs_network"],
        )
    single = df[df["kind"] == "single_point"]
    if len(single):
        gap = float(single["gap"].max())
        claim(
            "one point: rescaled flow = closed form, down to loss 1e-10000",
            "same flow",
            gap,
            T["single_point"],
            gap <= T["single_point"],
        )
    needed = df[df["kind"] == "needed"].set_index("depth")["log10_loss"]
    if 2 in needed.index:
        claim(
            "one 2-D point, depth 2: log10 of the loss needed to come within 0.1 of the "
            "l1 max-margin direction",
            "below -4000",
            float(needed[2]),
            -4000.0,
            needed[2] < -4000,
        )
    for depth in (D for D in needed.index if D != 2):
        claim(
            f"same point, depth {depth}: log10 loss needed (deeper is far milder)",
            "depth 2 is the slow case",
            float(needed[depth]),
            -100.0,
            needed[depth] > -100,
        )
    kernel = grid_df[(grid_df["ratio"] <= 2.5) & (grid_df["log10_loss"] <= -100)]
    if len(kernel):
        worst = float(kernel["dist_l2"].max())
        claim(
            "log(1/eps)/alpha^D small (<= 2.5, eps <= 1e-100): l2 max-margin direction",
            "l2 max margin",
            worst,
            T["kernel_end"],
            worst <= T["kernel_end"],
        )
    rich = grid_df[
        (grid_df["depth"] == 2)
        & (grid_df["log10_loss"] == grid_df["log10_loss"].min())
        & grid_df["alpha"].between(0.3, 1.0)
    ]
    if len(rich):
        worst = float(rich["dist_l1"].max())
        claim(
            f"depth 2, log(1/eps)/alpha^2 >= {rich['ratio'].min():.0e}: l1 max-margin direction",
            "l1 max margin",
            worst,
            T["rich_end"],
            worst <= T["rich_end"],
        )
    if len(grid_df):
        between = float(np.max(np.minimum(grid_df["dist_l1"], grid_df["dist_l2"])))
        claim(
            "in between: a direction far from both max-margin directions",
            "neither describes it",
            between,
            T["neither"],
            between >= T["neither"],
        )
    deep = grid_df[grid_df["depth"] > 2]
    if len(deep):
        X = problem()
        for depth in sorted(deep["depth"].unique()):
            sub = deep[deep["depth"] == depth]
            row = sub[
                (sub["alpha"] == sub["alpha"].min())
                & (sub["log10_loss"] == sub["log10_loss"].min())
            ].iloc[0]
            res = kkt_residual(row["direction"], X, 2.0 / depth)
            claim(
                f"depth {depth:g}, alpha = {row['alpha']:g}, eps -> 0: a KKT point of the "
                f"l_(2/D) max margin (distance to l1: {row['dist_l1']:.2f})",
                "not captured by the l1 limit",
                res,
                T["kkt"],
                res <= T["kkt"],
            )
    return claims.table()


def plot(df):
    """Distances to the two max-margin directions against `log(1/eps)/alpha^D`, one panel
    per depth (a line per alpha), and the single-point flow's approach to the l1 direction
    against the accuracy."""
    import matplotlib.pyplot as plt

    from ..plotting import panels

    grid_df = df[df["kind"] == "grid"]
    depths = sorted(grid_df["depth"].unique())
    nrows = (len(depths) + 2) // 2
    fig, axes = panels(2, nrows, height=2.7 * nrows)
    axes = np.ravel(axes)
    for ax in axes[len(depths) + 1 :]:  # an unused slot of the grid: no empty panel
        fig.delaxes(ax)
    colors = plt.cm.viridis(np.linspace(0, 0.9, grid_df["alpha"].nunique()))
    for ax, depth in zip(axes, depths, strict=False):
        sub = grid_df[grid_df["depth"] == depth]
        for color, (alpha, g) in zip(colors, sub.groupby("alpha"), strict=True):
            g = g.sort_values("ratio")
            ax.semilogx(
                g["ratio"], g["dist_l1"], "-o", color=color, ms=3, label=rf"$\alpha = {alpha:g}$"
            )
            ax.semilogx(g["ratio"], g["dist_l2"], "--s", color=color, ms=3)
        ax.set_title(rf"$D = {depth:g}$: to $\ell_1$ (solid), to $\ell_2$ (dashed)", fontsize=9)
        ax.set_xlabel(r"$\log(1/\varepsilon) / \alpha^D$")
        ax.set_ylabel("distance of directions")
        ax.legend(fontsize=7)
    ax = axes[len(depths)]
    single = df[df["kind"] == "single_point"]
    for depth, g in single.groupby("depth"):
        ax.loglog(-g["log10_loss"], g["dist_l1"], "-o", ms=3, label=f"$D = {depth:g}$")
    needed = df[df["kind"] == "needed"]
    for _, row in needed.iterrows():
        ax.axvline(-row["log10_loss"], color="gray", lw=0.6, ls=":")
    ax.axhline(0.1, color="gray", lw=0.6)
    ax.set_title(r"one point $x = (1, 3/4)$, $\alpha = 1$", fontsize=9)
    ax.set_xlabel(r"$\log_{10}(1/\varepsilon)$")
    ax.set_ylabel(r"distance to the $\ell_1$ direction")
    ax.legend(fontsize=7)
    return fig

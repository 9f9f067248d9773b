"""Gradient flow / descent on `L o G` and mirror flow / descent with `R` (Concepts:
[parametrizations and gradient flow](concepts.md#parametrizations-and-gradient-flow) and [Legendre
functions and mirror flow](concepts.md#legendre-functions-and-mirror-flow)).

`gradient_flow` integrates `dx/dt = -grad (L o G)(x)` with scipy's `solve_ivp`; the
gradient is one autograd reverse pass through `L o G`, raised with the metric of the
manifold ([Concepts: parametrizations and gradient
flow](concepts.md#parametrizations-and-gradient-flow)). Points of any shape are integrated in their
flat coordinates. On a manifold embedded in those coordinates (a sphere, the Stiefel manifold,
rotations, the symmetric matrices holding the SPD cone) the exact flow stays on the manifold; the
integrator's drift off it is measured at every recorded time (`Trajectory.constraint_drift`) and,
where it exceeds `retract_tol`, the state is retracted (geomstats' `projection`) and the integration
restarts from there. `gradient_descent` takes steps `x <- P_M(x - lr grad (L o G)(x))` (projected
gradient descent) or `x <- exp_x(-lr grad (L o G)(x))` (the manifold's exponential map), optionally
on mini-batches of a `DataLoss`.

`mirror_flow` integrates `d/dt grad R(w) = -grad L(w)` in the dual variable
`mu = grad R(w)`, so `w = grad R*(mu)` never leaves the domain of `R`; `mirror_descent`
takes the steps `mu <- mu - lr grad L(w)`. All four return the same `Trajectory`.
"""

from __future__ import annotations

import numbers

import numpy as np

from . import _ode, losses
from ._validation import as_point, as_positive, as_positive_int, as_time_span
from .errors import (
    BudgetError,
    ConvergenceError,
    DivergenceError,
    DomainError,
    InputError,
    NotCallableError,
    NotPositiveDefiniteError,
    SolverError,
)
from .legendre import Legendre
from .losses import (
    at_time,
    check_loss,
    gradient,
    gradient_function,
    is_time_dependent,
    values,
)
from .parametrization import Parametrization
from .trajectory import Trajectory

__all__ = [
    "gradient_flow",
    "gradient_descent",
    "mirror_flow",
    "mirror_descent",
    "loss_gradient_field",
]


def _check_parametrization(G) -> Parametrization:
    if not isinstance(G, Parametrization):
        raise InputError(
            f"`G` must be a riemflow Parametrization; got {type(G).__name__}", argument="G"
        )
    return G


def _check_loss(loss):
    if not callable(loss):
        raise NotCallableError(f"`loss` must be callable w -> float; got {loss!r}", argument="loss")
    return loss


def _loss_along(loss, t: np.ndarray, ws: np.ndarray, what: str) -> np.ndarray:
    """The loss at every recorded point; a non-finite value (a loss undefined where the
    trajectory went) is a `DivergenceError` at the first such time, never a silent NaN."""
    out = values(loss, t, ws)
    bad = ~np.isfinite(out)
    if np.any(bad):
        k = int(np.argmax(bad))
        raise DivergenceError(
            f"{what}: the loss is not finite ({float(out[k])}) at t={t[k]:.6g}, "
            f"w={np.array2string(ws[k], precision=4, threshold=8)} ({int(bad.sum())} of "
            f"{bad.size} recorded points): the loss is not defined where the trajectory went",
            t_reached=float(t[k]),
            reason="non-finite loss",
        )
    return out


def _require_positive_definite(R: Legendre, w: np.ndarray, name: str) -> None:
    """`hess R(w)` must be positive definite at the start of a mirror flow or descent."""
    H = np.asarray(R.hessian(w), dtype=np.float64)
    eig = np.linalg.eigvalsh(0.5 * (H + H.T))
    if not eig[0] > 0:
        raise NotPositiveDefiniteError(
            f"{R.name} is not a Legendre function at `{name}`="
            f"{np.array2string(w, precision=6, threshold=8)}: hess R has eigenvalue "
            f"{eig[0]:.3e} (largest {eig[-1]:.3e}), so it is not strictly convex there and "
            "its mirror map cannot be inverted"
        )


def loss_gradient_field(G: Parametrization, loss):
    """The right-hand side of gradient flow: `x (N,) -> grad (L o G)(x) (N,)` on flat points.

    The Riemannian gradient of `L o G` by the chain rule, `g^{-1} dG(x)^T grad L(G(x))`:
    `G.covector_field` of the covector `grad L(w)` (the loss's closed-form `gradient` when
    it has one, else one autograd pass through the loss). When `G.closed_form` is
    available this is `vjp(x, grad L(fn(x)))` with no other work per call (at `d = 1000`
    the per-call overhead of the general path rivals the arithmetic). `loss` is a loss of
    `w` only (see `riemflow.losses.at_time`).
    """
    grad_L = gradient_function(loss)
    closed = G.closed_form
    if closed is not None:
        fn, vjp = closed
        return lambda x: vjp(x, grad_L(fn(x)))

    def covectors(w):
        return np.stack([np.asarray(grad_L(wb), dtype=np.float64) for wb in w])

    return lambda x: G.covector_field(x[None, :], covectors)[1][0]


#: storage for the primal points a mirror flow keeps to avoid re-solving recorded states
_SOLVED_BYTES = 256 * 2**20


def _check_iterate(y, k: int, lr: float, max_norm: float, what: str) -> None:
    """Raise `DivergenceError` for a non-finite iterate or one beyond `max_norm`."""
    with np.errstate(over="ignore", invalid="ignore"):  # |y| of huge entries is inf
        size = float(np.linalg.norm(y))
    if not np.all(np.isfinite(y)) or not size <= max_norm:
        raise DivergenceError(
            f"{what} diverged at step {k} (lr={lr:g}): |y| = {size:.3e}",
            t_reached=float(k),
            reason="blow-up",
        )


def gradient_flow(
    G: Parametrization,
    loss,
    x0,
    t_span,
    *,
    t_eval=None,
    rtol: float = 1e-10,
    atol: float | None = None,
    method: str = "DOP853",
    max_norm: float = 1e12,
    max_evaluations: int = _ode.MAX_EVALUATIONS,
    time_limit: float | None = _ode.TIME_LIMIT,
    retract_tol: float | None = 1e-9,
    switch_times=None,
) -> Trajectory:
    """Gradient flow of `L o G` on the manifold of `G`.

    Solves `dx/dt = -grad (L o G)(x)` (Riemannian gradient of the manifold of `G`), so
    `w = G(x)` follows `dw/dt = -K(x) grad L(w)`. On a manifold embedded in the
    coordinates of its points, the state's distance from the manifold is measured at every
    recorded time and the state is retracted (and the integration restarted) where it
    exceeds `retract_tol`; on the matrix and embedded manifolds of geomstats the velocity is
    evaluated at the retracted state, where the tangent projections are defined.

    Args:
        G: the parametrization.
        loss: `L: (d,) -> float`, autograd-differentiable; a loss marked
            `time_dependent` is called as `L(w, t)`.
        x0: initial point on the manifold / in the domain, of the space's point shape `S`
            (`(D,)`, `(n, n)` on `SPDMatrices(n)`, ...).
        t_span: `(t0, t1)`, `t1 > t0`.
        t_eval: times `(T,)` to record at; default the solver's own steps.
        rtol: `solve_ivp` relative (local error) tolerance. The global error of `w(t)`
            is problem dependent: on the zoo's regression examples it is 10-1000 x `rtol`
            (e.g. 4e-8 at `rtol=1e-11` over `t in [0, 10]`), so ask for 1e-12 or tighter
            when comparing flows to 1e-8.
        atol: `solve_ivp` absolute tolerance. Default `None`: `1e-12 * |x0_i|` per
            coordinate (`1e-12 * max |x0|`, or `1e-12`, for zero coordinates; at least
            `1e-42 * max |x0|`), so tiny initializations (`alpha = 1e-20`) are resolved
            relative to their scale instead of being swamped by an absolute error larger
            than the coordinates.
        method: `solve_ivp` method (default `"DOP853"`, 8th order).
        max_norm: the flow counts as diverging once `|x| > max_norm`.
        max_evaluations: budget of right-hand-side evaluations (default 1e6, 20x what the
            longest flow of the test suite needs).
        time_limit: wall-time budget in seconds (default 3600; `None`: no limit).
        retract_tol: largest drift off the manifold accepted without a retraction (on
            spaces that have none to measure, ignored). `1e-9`: at the default `rtol` the
            zoo's flows on the sphere drift by less than 1e-12, so retractions only act
            at loose tolerances, where each costs a restart of the solver. `None`
            measures the drift without retracting.
        switch_times: times where a time-dependent loss jumps (default: those it declares,
            `riemflow.losses.switch_times`): the flow is integrated from one to the next.

    Returns:
        A `Trajectory` with `t`, `x: (T, *S)`, `w: (T, d)`, `loss`, `constraint_drift`
        (the drift before retraction) and `n_retractions`.

    Raises:
        ShapeError, NonFiniteError, DomainError: bad `x0` (wrong shape, NaN/Inf, off the
            manifold or outside the domain).
        InputError: bad `t_span`, `t_eval`, tolerances, or a non-callable loss.
        NotDifferentiableError: autograd cannot differentiate `L o G`.
        DivergenceError: non-finite gradient or loss, `|x|` beyond `max_norm`, or a stalled
            solve (the step size collapsed: a non-smooth or stiff right-hand side); reports
            the time.
        BudgetError: `max_evaluations` or `time_limit` spent.
        ShapeError, NonFiniteError: the loss does not return a finite scalar at the start.
        SolverError: the integrator failed or the flow left the domain.

    Examples:
        >>> import numpy as np, riemflow as rf
        >>> G, x0 = rf.models.diagonal_network(2, depth=2, alpha=0.5)
        >>> L = rf.losses.squared(np.array([[1.0, 2.0]]), np.array([1.0]))
        >>> traj = rf.gradient_flow(G, L, x0, (0.0, 20.0))
        >>> bool(traj.loss[-1] < 1e-12)
        True
    """
    G = _check_parametrization(G)
    loss = _check_loss(loss)
    x_start = G.start_point(x0)
    check_loss(loss, G.values(x_start[None, :], "x0")[0], as_time_span(t_span)[0])
    what = f"gradient flow of {G.name}"
    geometry = G.geometry
    on_manifold = geometry.flow_point  # the state itself, or its retraction onto M

    if is_time_dependent(loss):

        def velocity(t, x):
            return -loss_gradient_field(G, at_time(loss, t))(on_manifold(x))

    else:
        field = loss_gradient_field(G, loss)

        def velocity(t, x):
            return -field(on_manifold(x))

    sol = _integrate(
        geometry,
        velocity,
        x_start,
        t_span,
        retract_tol=retract_tol,
        t_eval=t_eval,
        rtol=rtol,
        atol=atol,
        method=method,
        max_norm=max_norm,
        what=what,
        max_evaluations=max_evaluations,
        time_limit=time_limit,
        switch_times=losses.switch_times(loss) if switch_times is None else switch_times,
    )
    xs = sol.y.T
    # Domain membership of the nearest points on M; the distance to M is reported apart.
    inside = geometry.in_domain(np.asarray(geometry.project(xs)))
    if not np.all(inside):
        k = int(np.argmin(inside))
        raise SolverError(
            f"gradient flow of {G.name} left the domain at t={sol.t[k]:.6g}",
            t_reached=float(sol.t[k]),
            reason="left domain",
        )
    ws = G.values(xs, "x(t)")
    return Trajectory(
        t=sol.t,
        w=ws,
        loss=_loss_along(loss, sol.t, ws, what),
        x=geometry.shaped(xs, False, 1),
        constraint_drift=sol.drift,
        method=method,
        n_evaluations=int(sol.nfev),
        message=str(sol.message),
        n_retractions=sol.n_retractions,
    )


def _integrate(geometry, velocity, y0, t_span, *, retract_tol, **options):
    """`_ode.integrate_on_manifold` on spaces whose points can leave `M` (drift measured,
    retraction by the nearest point), else `_ode.integrate` (no drift)."""
    if not geometry.retracts:
        sol = _ode.integrate(velocity, y0, t_span, **options)
        return _ode.ManifoldSolution(sol.t, sol.y, int(sol.nfev), str(sol.message), 0.0, 0)
    return _ode.integrate_on_manifold(
        velocity,
        y0,
        t_span,
        distance=geometry.distance_to_manifold,
        retract=lambda y: np.asarray(geometry.project(y[None, :]), dtype=np.float64)[0],
        retract_tol=retract_tol,
        **options,
    )


def _batch_schedule(loss, batches, steps: int, seed):
    """Per-step losses for `gradient_descent`'s `batches` argument."""
    if batches is None:
        return lambda k: loss
    if not hasattr(loss, "subset"):
        raise InputError(
            "`batches` needs a loss with a `.subset(indices)` method (a riemflow DataLoss "
            f"such as rf.losses.squared(X, y)); got {type(loss).__name__}",
            argument="batches",
        )
    n = loss.n_samples
    if isinstance(batches, numbers.Integral) and not isinstance(batches, bool):
        size = int(batches)
        if not 1 <= size <= n:
            raise InputError(
                f"`batches` as a batch size must be in [1, {n}]; got {size}", argument="batches"
            )
        rng = np.random.default_rng(seed)
        return lambda k: loss.subset(np.sort(rng.choice(n, size=size, replace=False)))
    try:
        schedule = [np.asarray(b) for b in batches]
    except TypeError as exc:
        raise InputError(
            "`batches` must be None, a batch size, or a sequence of index arrays; got "
            f"{type(batches).__name__}",
            argument="batches",
        ) from exc
    if not schedule:
        raise InputError("`batches` is an empty sequence", argument="batches")
    subsets = [loss.subset(b) for b in schedule]
    return lambda k: subsets[k % len(subsets)]


def gradient_descent(
    G: Parametrization,
    loss,
    x0,
    *,
    lr: float,
    steps: int,
    batches=None,
    seed: int | None = 0,
    record_every: int = 1,
    max_norm: float = 1e12,
    time_limit: float | None = _ode.TIME_LIMIT,
    step: str = "projection",
    retract_tol: float = 1e-12,
) -> Trajectory:
    """(Stochastic) gradient descent on `L o G`, kept on the manifold.

    `step="projection"`: `x_{k+1} = P_M(x_k - lr * grad (L_k o G)(x_k))` where `L_k` is the
    full loss or the k-th mini-batch loss and `P_M` the nearest-point projection (identity
    on open sets). `step="exp"`: `x_{k+1} = exp_{x_k}(-lr * grad (L_k o G)(x_k))` with the
    manifold's exponential map (geomstats' `metric.exp`), retracted by `P_M` where its
    round-off has moved it more than `retract_tol` off the manifold.

    Args:
        G: the parametrization.
        loss: `L: (d,) -> float`; a loss marked `time_dependent` gets `t = k * lr`.
        x0: initial point, of the space's point shape `S`.
        lr: step size `> 0`.
        steps: number of steps.
        batches: `None` (full loss), an int batch size (mini-batches drawn without
            replacement with `seed`), or a sequence of index arrays used in turn. Needs a
            `DataLoss` (anything with `.subset(indices)` and `.n_samples`).
        seed: seed for mini-batch sampling.
        record_every: keep every `record_every`-th iterate (the last one always).
        max_norm: iterates with `|x| > max_norm` count as diverging.
        time_limit: wall-time budget in seconds (default 3600; `None`: no limit); the
            iteration budget is `steps`.
        step: `"projection"` or `"exp"` (see above).
        retract_tol: the drift of an `"exp"` step beyond which it is retracted: `1e-12`,
            since the exponential map's output is on the manifold up to round-off, which
            compounds over steps if it is never corrected.

    Returns:
        A `Trajectory` with `t_k = k * lr`, `x: (T, *S)`; `loss` is the full loss at each
        kept iterate; `constraint_drift` is the largest distance from the manifold of the
        update's output before the corrective retraction (after `P_M` for `"projection"`).

    Raises:
        DivergenceError: a non-finite iterate or `|x| > max_norm` (reports the step).
        SolverError: an iterate left the domain.
        InputError: bad `lr`, `steps`, `batches`, `step`.
        UnsupportedSpaceError: `step="exp"` on a space without a usable exponential map.

    Examples:
        >>> import numpy as np, riemflow as rf
        >>> G, x0 = rf.models.diagonal_network(2, depth=2, alpha=0.5)
        >>> L = rf.losses.squared(np.array([[1.0, 2.0]]), np.array([1.0]))
        >>> traj = rf.gradient_descent(G, L, x0, lr=0.05, steps=500)
        >>> bool(traj.loss[-1] < 1e-10)
        True
    """
    G = _check_parametrization(G)
    loss = _check_loss(loss)
    lr = as_positive(lr, "lr")
    steps = as_positive_int(steps, "steps")
    record_every = as_positive_int(record_every, "record_every")
    max_norm = as_positive(max_norm, "max_norm")
    retract_tol = as_positive(retract_tol, "retract_tol")
    if step not in ("projection", "exp"):
        raise InputError(f"`step` must be 'projection' or 'exp'; got {step!r}", argument="step")
    x = G.start_point(x0)
    check_loss(loss, G.values(x[None, :], "x0")[0], 0.0)
    loss_at_step = _batch_schedule(loss, batches, steps, seed)
    geometry = G.geometry
    kept_t, kept_x = [0.0], [x.copy()]
    budget = _ode.Budget(
        f"gradient descent on {G.name}", max_evaluations=steps, time_limit=time_limit
    )
    drift, retractions = 0.0, 0
    for k in range(steps):
        budget.spend(k * lr)
        grad = loss_gradient_field(G, at_time(loss_at_step(k), k * lr))(x)
        with np.errstate(over="ignore", invalid="ignore"):  # an overflow is reported next
            target = x - lr * grad
        _check_iterate(target, k + 1, lr, max_norm, f"gradient descent on {G.name}")
        if step == "projection":
            x = np.asarray(geometry.project(target[None, :]))[0]
        else:
            x = geometry.exp(x[None, :], -lr * grad[None, :])[0]
        if geometry.retracts:
            off = float(geometry.distance_to_manifold(x[None, :])[0])
            drift = max(drift, off)
            if off > retract_tol:
                x = np.asarray(geometry.project(x[None, :]), dtype=np.float64)[0]
                retractions += 1
        _check_iterate(x, k + 1, lr, max_norm, f"gradient descent on {G.name}")
        if not geometry.in_domain(x[None, :])[0]:
            raise SolverError(
                f"gradient descent on {G.name} left the domain at step {k + 1} (lr={lr:g} "
                "may be too large)",
                t_reached=float(k + 1),
                reason="left domain",
            )
        if (k + 1) % record_every == 0 or k + 1 == steps:
            kept_t.append((k + 1) * lr)
            kept_x.append(x.copy())
    t = np.array(kept_t)
    xs = np.array(kept_x)
    ws = G.values(xs, "x_k")
    method = "gradient descent" if batches is None else "stochastic gradient descent"
    if step == "exp":
        method += " (exponential map)"
    what = f"{method} on {G.name}"
    return Trajectory(
        t=t,
        w=ws,
        loss=_loss_along(loss, t, ws, what),
        x=geometry.shaped(xs, False, 1),
        constraint_drift=max(drift, float(np.max(geometry.distance_to_manifold(xs)))),
        method=method,
        n_evaluations=steps,
        message=f"{steps} steps of size {lr:g}",
        n_retractions=retractions,
    )


def _check_legendre(R) -> Legendre:
    if not isinstance(R, Legendre):
        raise InputError(f"`R` must be a riemflow Legendre; got {type(R).__name__}", argument="R")
    return R


def _primal(R: Legendre, mu: np.ndarray, t: float, what: str, start=None) -> np.ndarray:
    """`grad R*(mu)`, with failures reported as the dual iterate leaving `dom R*`.

    `start` is the Newton solve's start point when `grad R*` has no closed form: the flows
    pass their own previous primal point (a warm start owned by the flow, so a result does
    not depend on what was computed with `R` before)."""
    try:
        return np.asarray(R.grad_conjugate(mu, start=start))
    except BudgetError:
        raise
    except (DomainError, ConvergenceError) as exc:
        raise DivergenceError(
            f"{what}: the dual iterate mu left the domain of grad R* at t={t:.6g} ({exc})",
            t_reached=float(t),
            reason="left dom R*",
        ) from exc


def mirror_flow(
    R: Legendre,
    loss,
    w0,
    t_span,
    *,
    t_eval=None,
    rtol: float = 1e-10,
    atol: float | None = None,
    method: str = "DOP853",
    max_norm: float = 1e12,
    max_evaluations: int = _ode.MAX_EVALUATIONS,
    time_limit: float | None = _ode.TIME_LIMIT,
    switch_times=None,
) -> Trajectory:
    """Mirror flow `d/dt grad R(w) = -grad L(w)`, integrated in `mu = grad R(w)`.

    Solves `dmu/dt = -grad L(grad R*(mu))` from `mu0 = grad R(w0)`; equivalently
    `dw/dt = -hess R(w)^{-1} grad L(w)`, the Riemannian gradient flow of `L` for the
    Hessian metric. Integrating the dual keeps `w` inside the domain.

    Args:
        R: the Legendre function.
        loss: `L: (d,) -> float`, autograd-differentiable (`time_dependent` losses get `t`).
        w0: initial point `(d,)` in the domain of `R`.
        t_span: `(t0, t1)`, `t1 > t0`.
        t_eval: times `(T,)` to record at; default the solver's steps.
        rtol: `solve_ivp` relative tolerance (see `gradient_flow` on global errors).
        atol: `solve_ivp` absolute tolerance on `mu`; default `1e-12 * |mu0_i|` per
            coordinate (`1e-12 * max |mu0|`, or `1e-12`, where `mu0_i` is 0; at least
            `1e-42 * max |mu0|`).
        method: `solve_ivp` method.
        max_norm: `|mu| > max_norm` counts as diverging.
        max_evaluations: budget of right-hand-side evaluations (default 1e6).
        time_limit: wall-time budget in seconds (default 3600; `None`: no limit).
        switch_times: times where a time-dependent loss jumps (default: those it declares,
            `riemflow.losses.switch_times`). The flow is integrated from one to the next with
            that interval's loss, `mu` carried across: no step straddles a jump and no dual
            solve is repeated there, so a switching loss costs what its pieces cost.

    Returns:
        A `Trajectory` with `t, w, mu, loss` (`x` is `None`).

    Raises:
        DomainError, ShapeError, NonFiniteError: bad `w0`.
        DivergenceError: `mu` leaves the domain of `grad R*` (e.g. the finite-time blow-up
            of depth >= 3 potentials), non-finite gradients or losses, `|mu| > max_norm`,
            or a stalled solve.
        NotPositiveDefiniteError: `hess R(w0)` is not positive definite (`R` is not
            Legendre there).
        BudgetError: `max_evaluations` or `time_limit` spent.
        SolverError: the integrator failed.

    Examples:
        >>> import numpy as np, riemflow as rf
        >>> R = rf.potentials.negative_entropy(2)
        >>> L = rf.losses.squared(np.eye(2), np.array([2.0, 0.5]))
        >>> traj = rf.mirror_flow(R, L, np.ones(2), (0.0, 80.0))
        >>> traj.w_final.round(6).tolist()
        [2.0, 0.5]
    """
    R = _check_legendre(R)
    loss = _check_loss(loss)
    w_start = as_point(w0, "w0", R.dim)
    mu_start = np.asarray(R.grad(w_start))
    _require_positive_definite(R, w_start, "w0")
    check_loss(loss, w_start, as_time_span(t_span)[0])

    what = f"mirror flow with {R.name}"
    last = [w_start]
    fixed_gradient = None if is_time_dependent(loss) else gradient_function(loss)
    # the primal points solved during the integration, by dual state: the explicit
    # Runge-Kutta methods evaluate the velocity at every step's end, so the recorded states
    # need no second Newton solve (bounded to _SOLVED_BYTES of storage)
    solved: dict[bytes, np.ndarray] = {}
    room = max(1, _SOLVED_BYTES // (16 * R.dim))

    def velocity(t, mu):
        w = _primal(R, mu, t, what, start=last[0])
        last[0] = w
        if not R.has_closed_form_inverse and len(solved) < room:
            solved[mu.tobytes()] = w
        if fixed_gradient is not None:
            return -np.asarray(fixed_gradient(w), dtype=np.float64)
        return -gradient(at_time(loss, t), w)

    sol = _ode.integrate(
        velocity,
        mu_start,
        t_span,
        t_eval=t_eval,
        rtol=rtol,
        atol=atol,
        method=method,
        max_norm=max_norm,
        what=what,
        max_evaluations=max_evaluations,
        time_limit=time_limit,
        switch_times=losses.switch_times(loss) if switch_times is None else switch_times,
    )
    mus = sol.y.T
    if R.has_closed_form_inverse:
        ws = np.atleast_2d(_primal(R, mus, float(sol.t[-1]), what))
    else:  # one Newton solve per recorded time, each started from the previous one
        ws = np.empty_like(mus)
        start = w_start
        for k, (tk, mu) in enumerate(zip(sol.t, mus, strict=True)):
            known = solved.get(mu.tobytes())
            if known is None:
                known = _primal(R, mu, float(tk), what, start=start)
            ws[k] = start = known
    return Trajectory(
        t=sol.t,
        w=ws,
        loss=_loss_along(loss, sol.t, ws, what),
        mu=mus,
        method=method,
        n_evaluations=int(sol.nfev),
        message=str(sol.message),
    )


def mirror_descent(
    R: Legendre,
    loss,
    w0,
    *,
    lr: float,
    steps: int,
    batches=None,
    seed: int | None = 0,
    record_every: int = 1,
    max_norm: float = 1e12,
    time_limit: float | None = _ode.TIME_LIMIT,
) -> Trajectory:
    """(Stochastic) mirror descent: `mu_{k+1} = mu_k - lr grad L_k(w_k)`, `w = grad R*(mu)`.

    With `negative_entropy` this is the (unnormalized) exponentiated gradient update, with
    `simplex_entropy` the normalized one on the `d + 1` weights.

    Args:
        R: the Legendre function.
        loss: `L: (d,) -> float`; `time_dependent` losses get `t = k * lr`.
        w0: initial point `(d,)` in the domain.
        lr: step size `> 0`.
        steps: number of steps.
        batches: as in `gradient_descent` (`None`, a batch size, or index arrays).
        seed: seed for mini-batch sampling.
        record_every: keep every `record_every`-th iterate (and the last).
        max_norm: `|mu| > max_norm` counts as diverging.
        time_limit: wall-time budget in seconds (default 3600; `None`: no limit); the
            iteration budget is `steps`.

    Returns:
        A `Trajectory` with `t_k = k * lr`, `w`, `mu` and the full loss.

    Raises:
        DivergenceError: non-finite iterate, `|mu| > max_norm`, or `mu` outside the domain
            of `grad R*` (reports the step).

    Examples:
        >>> import numpy as np, riemflow as rf
        >>> R = rf.potentials.negative_entropy(2)
        >>> L = rf.losses.squared(np.eye(2), np.array([2.0, 0.5]))
        >>> rf.mirror_descent(R, L, np.ones(2), lr=0.5, steps=200).w_final.round(6).tolist()
        [2.0, 0.5]
    """
    R = _check_legendre(R)
    loss = _check_loss(loss)
    lr = as_positive(lr, "lr")
    steps = as_positive_int(steps, "steps")
    record_every = as_positive_int(record_every, "record_every")
    max_norm = as_positive(max_norm, "max_norm")
    w = as_point(w0, "w0", R.dim)
    mu = np.asarray(R.grad(w))
    _require_positive_definite(R, w, "w0")
    check_loss(loss, w, 0.0)
    loss_at_step = _batch_schedule(loss, batches, steps, seed)
    kept_t, kept_mu, kept_w = [0.0], [mu.copy()], [w.copy()]
    budget = _ode.Budget(
        f"mirror descent with {R.name}", max_evaluations=steps, time_limit=time_limit
    )
    for k in range(steps):
        budget.spend(k * lr)
        grad = gradient(at_time(loss_at_step(k), k * lr), w)
        with np.errstate(over="ignore", invalid="ignore"):  # an overflow is reported next
            mu = mu - lr * grad
        _check_iterate(mu, k + 1, lr, max_norm, f"mirror descent with {R.name}")
        w = _primal(R, mu, (k + 1) * lr, f"mirror descent with {R.name}", start=w)
        if (k + 1) % record_every == 0 or k + 1 == steps:
            kept_t.append((k + 1) * lr)
            kept_mu.append(mu.copy())
            kept_w.append(w.copy())
    t, ws = np.array(kept_t), np.array(kept_w)
    return Trajectory(
        t=t,
        w=ws,
        loss=_loss_along(loss, t, ws, f"mirror descent with {R.name}"),
        mu=np.array(kept_mu),
        method="mirror descent" if batches is None else "stochastic mirror descent",
        n_evaluations=steps,
        message=f"{steps} steps of size {lr:g}",
    )

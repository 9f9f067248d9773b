"""Gradient flow / descent on `L o G` and mirror flow / descent with `R` (MATH.md 1, 3).

`gradient_flow` integrates `dx/dt = -grad (L o G)(x)` with scipy's `solve_ivp`; the
gradient is one autograd reverse pass through `L o G`, raised with the metric (intrinsic
coordinates) or projected onto the tangent space (embedded manifolds, where the exact
flow stays on the manifold and the recorded `constraint_drift` measures how well the
integrator kept it there). `gradient_descent` takes steps `x <- x - lr grad (L o G)(x)`,
retracted onto the manifold by nearest-point projection (projected gradient descent),
optionally on mini-batches of a `DataLoss`.

`mirror_flow` integrates `d/dt grad R(w) = -grad L(w)` in the dual variable
`mu = grad R(w)`, so `w = grad R*(mu)` never leaves the domain of `R`; `mirror_descent`
takes the steps `mu <- mu - lr grad L(w)`. All four return the same `Trajectory`.
"""

from __future__ import annotations

import numbers

import numpy as np

from . import _ode, losses
from ._validation import as_point, as_positive, as_positive_int
from .errors import (
    ConvergenceError,
    DivergenceError,
    DomainError,
    InputError,
    NotPositiveDefiniteError,
    SolverError,
)
from .legendre import Legendre
from .losses import at_time, gradient, gradient_function, is_time_dependent, values
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
        raise InputError(f"`loss` must be callable w -> float; got {loss!r}", argument="loss")
    return loss


def loss_gradient_field(G: Parametrization, loss):
    """The right-hand side of gradient flow: `x (D,) -> grad (L o G)(x) (D,)`.

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


def _check_iterate(y, k: int, lr: float, max_norm: float, what: str) -> None:
    """Raise `DivergenceError` for a non-finite iterate or one beyond `max_norm`."""
    if not np.all(np.isfinite(y)) or np.linalg.norm(y) > max_norm:
        raise DivergenceError(
            f"{what} diverged at step {k} (lr={lr:g}): |y| = {np.linalg.norm(y):.3e}",
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
    switch_times=None,
) -> Trajectory:
    """Gradient flow of `L o G` on the manifold of `G`.

    Solves `dx/dt = -grad (L o G)(x)` (Riemannian gradient of the manifold of `G`), so
    `w = G(x)` follows `dw/dt = -K(x) grad L(w)`.

    Args:
        G: the parametrization.
        loss: `L: (d,) -> float`, autograd-differentiable; a loss marked
            `time_dependent` is called as `L(w, t)`.
        x0: initial point `(D,)` on the manifold / in the domain.
        t_span: `(t0, t1)`, `t1 > t0`.
        t_eval: times `(T,)` to record at; default the solver's own steps.
        rtol: `solve_ivp` relative (local error) tolerance. The global error of `w(t)`
            is problem dependent: on the zoo's regression examples it is 10-1000 x `rtol`
            (e.g. 4e-8 at `rtol=1e-11` over `t in [0, 10]`), so ask for 1e-12 or tighter
            when comparing flows to 1e-8.
        atol: `solve_ivp` absolute tolerance. Default `None`: `1e-12 * |x0_i|` per
            coordinate (`1e-12 * max |x0|`, or `1e-12`, for zero coordinates), so tiny
            initializations (`alpha = 1e-20`) are resolved relative to their scale instead
            of being swamped by an absolute error larger than the coordinates.
        method: `solve_ivp` method (default `"DOP853"`, 8th order).
        max_norm: the flow counts as diverging once `|x| > max_norm`.
        switch_times: times where a time-dependent loss jumps (default: those it declares,
            `riemflow.losses.switch_times`): the flow is integrated from one to the next.

    Returns:
        A `Trajectory` with `t, x, w, loss` and `constraint_drift`.

    Raises:
        ShapeError, NonFiniteError, DomainError: bad `x0` (wrong shape, NaN/Inf, off the
            manifold or outside the domain).
        InputError: bad `t_span`, `t_eval`, tolerances, or a non-callable loss.
        NotDifferentiableError: autograd cannot differentiate `L o G`.
        DivergenceError: non-finite gradient or `|x|` beyond `max_norm`; reports the time.
        SolverError: the integrator failed or the flow left the domain.

    Example:
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

    if is_time_dependent(loss):

        def velocity(t, x):
            return -loss_gradient_field(G, at_time(loss, t))(x)

    else:
        field = loss_gradient_field(G, loss)

        def velocity(t, x):
            return -field(x)

    sol = _ode.integrate(
        velocity,
        x_start,
        t_span,
        t_eval=t_eval,
        rtol=rtol,
        atol=atol,
        method=method,
        max_norm=max_norm,
        what=f"gradient flow of {G.name}",
        switch_times=losses.switch_times(loss) if switch_times is None else switch_times,
    )
    xs = sol.y.T
    # Domain membership of the nearest points on M; the distance to M is reported apart.
    inside = G.geometry.in_domain(np.asarray(G.geometry.project(xs)))
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
        loss=values(loss, sol.t, ws),
        x=xs,
        constraint_drift=float(np.max(G.geometry.distance_to_manifold(xs))),
        method=method,
        n_evaluations=int(sol.nfev),
        message=str(sol.message),
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
) -> Trajectory:
    """(Stochastic) gradient descent on `L o G`, projected back onto the manifold.

    `x_{k+1} = P_M(x_k - lr * grad (L_k o G)(x_k))` where `L_k` is the full loss or the
    k-th mini-batch loss and `P_M` the nearest-point projection (identity on open sets).

    Args:
        G: the parametrization.
        loss: `L: (d,) -> float`; a loss marked `time_dependent` gets `t = k * lr`.
        x0: initial point `(D,)`.
        lr: step size `> 0`.
        steps: number of steps.
        batches: `None` (full loss), an int batch size (mini-batches drawn without
            replacement with `seed`), or a sequence of index arrays used in turn. Needs a
            `DataLoss` (anything with `.subset(indices)` and `.n_samples`).
        seed: seed for mini-batch sampling.
        record_every: keep every `record_every`-th iterate (the last one always).
        max_norm: iterates with `|x| > max_norm` count as diverging.

    Returns:
        A `Trajectory` with `t_k = k * lr`; `loss` is the full loss at each kept iterate.

    Raises:
        DivergenceError: a non-finite iterate or `|x| > max_norm` (reports the step).
        SolverError: an iterate left the domain.
        InputError: bad `lr`, `steps`, `batches`.

    Example:
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
    x = G.start_point(x0)
    loss_at_step = _batch_schedule(loss, batches, steps, seed)
    geometry = G.geometry
    kept_t, kept_x = [0.0], [x.copy()]
    for k in range(steps):
        grad = loss_gradient_field(G, at_time(loss_at_step(k), k * lr))(x)
        x = np.asarray(geometry.project((x - lr * grad)[None, :]))[0]
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
    return Trajectory(
        t=t,
        w=ws,
        loss=values(loss, t, ws),
        x=xs,
        constraint_drift=float(np.max(geometry.distance_to_manifold(xs))),
        method=method,
        n_evaluations=steps,
        message=f"{steps} steps of size {lr:g}",
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
    except (DomainError, ConvergenceError, NotPositiveDefiniteError) as exc:
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
            coordinate (`1e-12` where `mu0` is 0).
        method: `solve_ivp` method.
        max_norm: `|mu| > max_norm` counts as diverging.
        switch_times: times where a time-dependent loss jumps (default: those it declares,
            `riemflow.losses.switch_times`). The flow is integrated from one to the next with
            that interval's loss, `mu` carried across: no step straddles a jump and no dual
            solve is repeated there, so a switching loss costs what its pieces cost.

    Returns:
        A `Trajectory` with `t, w, mu, loss` (`x` is `None`).

    Raises:
        DomainError, ShapeError, NonFiniteError: bad `w0`.
        DivergenceError: `mu` leaves the domain of `grad R*` (e.g. the finite-time blow-up
            of depth >= 3 potentials), non-finite gradients, or `|mu| > max_norm`.
        SolverError: the integrator failed.

    Example:
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

    what = f"mirror flow with {R.name}"
    last = [w_start]
    fixed_gradient = None if is_time_dependent(loss) else gradient_function(loss)

    def velocity(t, mu):
        w = _primal(R, mu, t, what, start=last[0])
        last[0] = w
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
        switch_times=losses.switch_times(loss) if switch_times is None else switch_times,
    )
    mus = sol.y.T
    if R.has_closed_form_inverse:
        ws = np.atleast_2d(_primal(R, mus, float(sol.t[-1]), what))
    else:  # one Newton solve per recorded time, each started from the previous one
        ws = np.empty_like(mus)
        start = w_start
        for k, (tk, mu) in enumerate(zip(sol.t, mus, strict=True)):
            ws[k] = start = _primal(R, mu, float(tk), what, start=start)
    return Trajectory(
        t=sol.t,
        w=ws,
        loss=values(loss, sol.t, ws),
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

    Returns:
        A `Trajectory` with `t_k = k * lr`, `w`, `mu` and the full loss.

    Raises:
        DivergenceError: non-finite iterate, `|mu| > max_norm`, or `mu` outside the domain
            of `grad R*` (reports the step).

    Example:
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
    loss_at_step = _batch_schedule(loss, batches, steps, seed)
    kept_t, kept_mu, kept_w = [0.0], [mu.copy()], [w.copy()]
    for k in range(steps):
        grad = gradient(at_time(loss_at_step(k), k * lr), w)
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
        loss=values(loss, t, ws),
        mu=np.array(kept_mu),
        method="mirror descent" if batches is None else "stochastic mirror descent",
        n_evaluations=steps,
        message=f"{steps} steps of size {lr:g}",
    )

"""Legendre functions derived from others (private): centered, scaled, from a conjugate.

`Legendre.centered`, `Legendre.scaled` and `Legendre.from_conjugate` build their results
here. Each derived function gets closed forms of everything the original has (written on
its `traced` building blocks, so autograd still differentiates through them), and is built
by the original's own class (`type(R)`), so this module needs no import of it.
"""

from __future__ import annotations

import autograd.numpy as anp
import numpy as np
from autograd.extend import defjvp, defvjp, primitive

__all__ = ["centered", "scaled", "from_conjugate", "dual_solver"]


def as_batch(x):
    """`(d,) -> (1, d)`, `(B, d)` unchanged (works on autograd boxes)."""
    return anp.reshape(x, (1, -1)) if anp.ndim(x) == 1 else x


def unbatch_like(values, reference):
    """Drop the batch axis of `values` again when `reference` was a single point."""
    return values[0] if anp.ndim(reference) == 1 else values


def dual_solver(R):
    """`mu -> grad R^*(mu)` by `R`'s own inverse mirror map, as an autograd primitive.

    Its derivative is `hess R^*(mu) = hess R(w)^{-1}`, so potentials built on it (centered,
    scaled, or `from_conjugate`) keep exact higher derivatives where `hess R` is traced.
    """

    @primitive
    def solve(mu):
        mu = np.asarray(mu, dtype=np.float64)
        return np.asarray(R.grad_conjugate(mu), dtype=np.float64)

    def vjp(ans, mu):
        def pull(g):
            H = np.asarray(R.traced.hessian(np.atleast_2d(ans)), dtype=np.float64)
            out = np.linalg.solve(H, np.atleast_2d(g)[..., None])[..., 0]
            return out[0] if np.ndim(mu) == 1 else out

        return pull

    defvjp(solve, vjp)
    defjvp(solve, lambda g, ans, mu: vjp(ans, mu)(g))  # hess R^{-1} is symmetric
    return solve


def _shifted_hessian_conjugate(R, shift, factor):
    """`mu -> factor * hess R^*(mu * scale + shift)`-style closed form, or `None`."""
    if not R.traced.has_hessian_conjugate:
        return None
    return lambda mu: factor * R.traced.hessian_conjugate(shift(mu))


def centered(R, w0: np.ndarray, name: str | None):
    """`D_R(., w0)` as a Legendre function (see `Legendre.centered`)."""
    wb, _ = R.points(w0, "w0")
    center = wb[0].copy()
    theta = np.asarray(R.grad(center), dtype=np.float64)
    value0 = float(R(center))
    conj0 = float(np.dot(theta, center) - value0)  # R*(theta) = <theta, w0> - R(w0)
    traced = R.traced
    return type(R)(
        lambda w: R.fn(w) - value0 - anp.dot(w - center, theta),
        R.dim,
        domain=R.domain,
        grad=lambda w: traced.grad(w) - theta,
        hessian=traced.hessian,
        grad_conjugate=lambda mu: traced.grad_conjugate(mu + theta),
        conjugate=lambda mu: traced.conjugate(mu + theta) - conj0,
        hessian_conjugate=_shifted_hessian_conjugate(R, lambda mu: mu + theta, 1.0),
        name=name or f"{R.name} centered at w0",
        newton_tol=R.newton_tol,
        max_newton=R.max_newton,
        newton_time_limit=R.newton_time_limit,
        check_derivatives=False,
    )


def scaled(R, c: float, name: str | None):
    """`c R` as a Legendre function (see `Legendre.scaled`)."""
    traced = R.traced
    return type(R)(
        lambda w: c * R.fn(w),
        R.dim,
        domain=R.domain,
        grad=lambda w: c * traced.grad(w),
        hessian=lambda w: c * traced.hessian(w),
        grad_conjugate=lambda mu: traced.grad_conjugate(mu / c),
        conjugate=lambda mu: c * traced.conjugate(mu / c),
        hessian_conjugate=_shifted_hessian_conjugate(R, lambda mu: mu / c, 1.0 / c),
        name=name or f"{c:g} * {R.name}",
        newton_tol=R.newton_tol,
        max_newton=R.max_newton,
        newton_time_limit=R.newton_time_limit,
        check_derivatives=False,
    )


def from_conjugate(
    cls,
    conjugate,
    dim: int,
    *,
    grad_conjugate,
    hessian_conjugate,
    domain,
    conjugate_domain,
    name: str | None,
    newton_tol: float,
    max_newton: int,
    check_derivatives: bool,
):
    """`R = Q^*` from `Q`, `grad Q`, `hess Q` (see `Legendre.from_conjugate`); the closed
    forms of `Q` are checked when `check_derivatives`."""
    dual = cls(
        conjugate,
        dim,
        domain=conjugate_domain,
        grad=grad_conjugate,
        hessian=hessian_conjugate,
        name=f"({name or 'R'})*",
        newton_tol=newton_tol,
        max_newton=max_newton,
        check_derivatives=check_derivatives,
    )
    solve = dual_solver(dual)

    def value(w):
        mu = solve(w)
        return anp.sum(mu * w, axis=-1) - dual.traced.value(mu)

    def hessian(w):
        return anp.linalg.inv(dual.traced.hessian(solve(w)))

    return cls(
        value,
        dim,
        domain=domain,
        grad=solve,
        hessian=hessian,
        grad_conjugate=grad_conjugate,
        conjugate=conjugate,
        hessian_conjugate=hessian_conjugate,
        name=name,
        newton_tol=newton_tol,
        max_newton=max_newton,
        check_derivatives=False,
    )

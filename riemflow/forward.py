"""The forward theorem: from a commuting parametrization to its Legendre function.

MATH.md section 4. For a commuting, regular `G` and an initialization `x_init`, the
potential `R` with which gradient flow on `L o G` is mirror flow (for every loss) is the
convex conjugate of

    Q(mu) = int_0^1 <mu, G(psi(x_init; s mu))> ds,     grad Q(mu) = G(psi(x_init; mu)),
    hess Q(mu) = K(psi(x_init; mu)),

with `psi` the joint flow of the gradient fields. `mirror_potential` returns the model's
closed form when it has one (`Parametrization(potential=...)`, set by the model zoo) and
otherwise builds `R` numerically: one ODE solve of the augmented system

    dx/ds = sum_i mu_i grad G_i(x),   dq/ds = <mu, G(x)>,   x(0) = x_init, q(0) = 0

gives `grad Q(mu) = G(x(1))` and `Q(mu) = q(1)` (the line integral), and `R = Q^*` follows by
`Legendre.from_conjugate` (a Newton solve of `G(psi(x_init; mu)) = w` with Jacobian `K`).

`implicit_bias(R, X, y, w0)` is the Bregman projection `argmin {D_R(w, w0) : Xw = y}`,
the limit of gradient flow on under-determined regression when it interpolates.
"""

from __future__ import annotations

from dataclasses import dataclass

import autograd.numpy as anp
import numpy as np
from autograd.extend import defjvp, defvjp, primitive
from scipy.integrate import solve_ivp

from . import _autodiff
from ._validation import as_float_array, as_point, as_positive, as_positive_int, check_finite
from .domains import MirrorImage
from .errors import (
    ConvergenceError,
    DivergenceError,
    DomainError,
    InputError,
    NotCommutingError,
    NotPositiveDefiniteError,
    ShapeError,
    SolverError,
)
from .legendre import Legendre
from .parametrization import Parametrization

__all__ = ["mirror_potential", "implicit_bias", "ImplicitBias"]


# -- the numerical construction -------------------------------------------------------------
class _JointFlow:
    """`psi(x_init; mu)` and the line integral `Q(mu)` for batches of `mu`, cached.

    Rows whose flow blows up or leaves the domain of `G` come back as NaN: the Newton
    solves backtrack from them, and `Legendre` reports them as outside the domain.
    """

    def __init__(self, G: Parametrization, x_init: np.ndarray, *, rtol: float, method: str):
        self.G, self.x_init, self.rtol, self.method = G, x_init, rtol, method
        self.w0 = np.asarray(G(x_init), dtype=np.float64)
        self.K0 = np.asarray(G.kernel(x_init), dtype=np.float64)
        scale = np.abs(x_init)
        self.atol_x = 1e-14 * np.where(scale > 0, scale, max(float(scale.max()), 1.0))
        self._cache: dict[bytes, tuple[np.ndarray, float]] = {}

    def _atol_q(self, mu: np.ndarray) -> float:
        # q ~ <mu, w0> + mu^T K0 mu / 2: resolve it relative to that size
        size = abs(float(mu @ self.w0)) + abs(float(mu @ self.K0 @ mu))
        return 1e-14 * size + 1e-300

    def _solve_one(self, mu: np.ndarray) -> tuple[np.ndarray, float]:
        key = mu.tobytes()
        if key in self._cache:
            return self._cache[key]
        D = self.x_init.size
        covector = mu[None, :]
        G = self.G

        def rhs(_, y):
            w, field = G._covector_field(y[None, :D], lambda _w: covector)
            return np.concatenate([field[0], [float(w[0] @ mu)]])

        y0 = np.concatenate([self.x_init, [0.0]])
        atol = np.concatenate([self.atol_x, [self._atol_q(mu)]])
        nan = (np.full(D, np.nan), np.nan)
        if not np.any(mu):
            result = (self.x_init.copy(), 0.0)
        else:
            try:
                with np.errstate(all="ignore"):
                    sol = solve_ivp(
                        rhs, (0.0, 1.0), y0, method=self.method, rtol=self.rtol, atol=atol
                    )
                end = sol.y[:, -1]
                ok = sol.status == 0 and np.all(np.isfinite(end))
                if ok:
                    x = np.asarray(G.geometry.project(end[None, :D]))[0]
                    ok = bool(G.geometry.in_domain(x[None, :])[0])
                result = (x, float(end[D])) if ok else nan
            except (DivergenceError, DomainError, FloatingPointError):
                result = nan
        if len(self._cache) > 256:
            self._cache.clear()
        self._cache[key] = result
        return result

    def psi(self, mub: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        out = [self._solve_one(np.ascontiguousarray(m, dtype=np.float64)) for m in mub]
        return np.stack([o[0] for o in out]), np.array([o[1] for o in out])

    # maps for Legendre.from_conjugate: (d,) or (B, d)
    def _rows(self, mu):
        mu = np.asarray(mu, dtype=np.float64)
        return (mu[None, :], True) if mu.ndim == 1 else (mu, False)

    def grad_conjugate(self, mu):
        mub, single = self._rows(mu)
        x, _ = self.psi(mub)
        ok = np.all(np.isfinite(x), axis=1)
        w = np.full((mub.shape[0], self.w0.size), np.nan)
        if np.any(ok):
            w[ok] = self.G._checked_values(x[ok], "psi(x_init; mu)")
        return w[0] if single else w

    def conjugate(self, mu):
        mub, single = self._rows(mu)
        _, q = self.psi(mub)
        return q[0] if single else q

    def _kernels(self, mu):
        mub, single = self._rows(mu)
        x, _ = self.psi(mub)
        d = self.w0.size
        K = np.full((mub.shape[0], d, d), np.nan)
        ok = np.all(np.isfinite(x), axis=1)
        if np.any(ok):
            K[ok] = np.asarray(self.G.kernel(x[ok])).reshape(-1, d, d)
        return K[0] if single else K

    def _kernel_derivatives(self, mu):
        """`T[..., i, j, k] = d K_ij(psi(x_init; mu)) / d mu_k = DK(psi)[grad G_k(psi)]`.

        For commuting `G`, `d psi / d mu_k = grad G_k(psi)`, so the third derivative of `Q`
        is the derivative of the kernel along the gradient fields: exact autograd
        directional derivatives, no finite differences.
        """
        mub, single = self._rows(mu)
        x, _ = self.psi(mub)
        G = self.G

        def kernel(z):
            jac = G._jacobian(z)
            return anp.einsum("bik,bjk->bij", jac, G.geometry.sharp(z, jac))

        fields = np.asarray(G._fields(x))
        T = np.stack(
            [
                np.asarray(_autodiff.directional_derivative(kernel, x, fields[:, k, :]))
                for k in range(fields.shape[1])
            ],
            axis=-1,
        )
        return T[0] if single else T

    def traced_hessian(self):
        """`hess Q = K o psi` as an autograd primitive (its derivative is
        `_kernel_derivatives`), so `hess R`, third derivatives and curvature of the
        numerical potential are exact up to the ODE tolerance."""

        @primitive
        def hessian_conjugate(mu):
            return self._kernels(np.asarray(mu, dtype=np.float64))

        def vjp(ans, mu):
            T = self._kernel_derivatives(np.asarray(mu, dtype=np.float64))
            return lambda g: np.einsum("...ij,...ijk->...k", g, T)

        defvjp(hessian_conjugate, vjp)
        defjvp(
            hessian_conjugate,
            lambda g, ans, mu: np.einsum(
                "...ijk,...k->...ij", self._kernel_derivatives(np.asarray(mu)), g
            ),
        )
        return hessian_conjugate


def _check_points(G: Parametrization, x_init: np.ndarray, points, n_check: int, seed):
    if points is not None:
        xb, _ = G._batch(points, "check_points")
        return np.vstack([x_init[None, :], xb])
    samples = G.geometry.sample(np.random.default_rng(seed), n_check)
    return np.vstack([x_init[None, :], samples])


def mirror_potential(
    G: Parametrization,
    x_init,
    *,
    closed_form: bool = True,
    local: bool = False,
    domain=None,
    check_points=None,
    n_check: int = 16,
    commuting_rtol: float = 1e-8,
    regular_rtol: float = 1e-8,
    rtol: float = 1e-12,
    method: str = "DOP853",
    seed: int | None = 0,
) -> Legendre:
    """The Legendre function `R` of the forward theorem for `G` and `x_init`.

    Gradient flow on `L o G` from `x_init` is mirror flow with `R` from `w0 = G(x_init)`,
    for every loss (MATH.md section 4). `R` is normalized: `R(w0) = 0`, `grad R(w0) = 0`.

    - If `G` carries a closed form (the model zoo does: diagonal networks of any depth and
      initialization, depth-2 products, linear maps, commuting quadratics and matrix
      sensing, the sphere parametrization of the simplex), it is returned.
    - Otherwise `R` is built numerically: `grad R^*(mu) = G(psi(x_init; mu))` and
      `R^*(mu) = int_0^1 <mu, G(psi(x_init; s mu))> ds` from one augmented ODE solve
      (`solve_ivp`, `method`, `rtol`), `hess R^* = K o psi`; `grad R(w)` solves
      `G(psi(x_init; mu)) = w` by damped Newton (Jacobian `K`), `R(w) = <mu, w> - R^*(mu)`
      and `hess R(w) = K(psi(x_init; mu))^{-1}`. Each evaluation integrates ODEs: expect
      milliseconds to seconds per call, not microseconds.

    Args:
        G: a commuting, regular parametrization.
        x_init: the initialization `(D,)`.
        closed_form: use `G`'s closed form when it has one.
        local: build the numerical `R` even if `G` is not commuting. Then
            `grad R^* = G o psi` along straight lines in `mu` is not a gradient field and
            the result is only the local, path-dependent construction; gradient flow will
            generally not be mirror flow with it (see `riemflow.loop_test`).
        domain: the domain of `R` for the numerical construction (a `Domain` or box pairs);
            default `domains.MirrorImage`, the image of the joint flow.
        check_points: points `(B, D)` where commutation and regularity are checked
            (with `x_init`); default `x_init` and `n_check` samples of `G`'s domain.
        n_check: number of sampled check points.
        commuting_rtol: relative bracket tolerance of `check_commuting`.
        regular_rtol: relative singular value tolerance of `check_regular`.
        rtol: `solve_ivp` relative tolerance of the joint flow; `1e-12` makes the numerical
            `R`, `grad R`, `hess R` agree with the closed forms to ~1e-10 relative.
        method: `solve_ivp` method of the joint flow.
        seed: seed of the sampled check points.

    Returns:
        A `Legendre` (`R.grad_conjugate` is `G o psi`, `R.conjugate` is `Q`).

    Raises:
        InputError: `G` is not a `Parametrization`, bad `x_init`.
        NotCommutingError: `G` is not commuting at the check points (the error carries the
            `CommutingReport`: largest relative bracket, pair and point), unless `local`.
        NotRegularError: `dG` loses rank at the check points.

    Example:
        >>> import numpy as np, riemflow as rf
        >>> G, x0 = rf.models.diagonal_network(2, alpha=0.5)
        >>> R = rf.mirror_potential(G, x0)           # closed form: the hyperbolic entropy
        >>> R_num = rf.mirror_potential(G, x0, closed_form=False)   # numerical
        >>> w = np.array([0.3, -1.0])
        >>> bool(np.allclose(R_num.grad(w), R.grad(w), rtol=1e-9))
        True
    """
    if not isinstance(G, Parametrization):
        raise InputError(
            f"`G` must be a riemflow Parametrization; got {type(G).__name__}", argument="G"
        )
    x0 = as_point(x_init, "x_init", G.input_dim if G._lazy.geometry is not None else None)
    xb, _ = G._batch(x0, "x_init")
    G._checked_values(xb, "x_init")
    x0 = xb[0]
    if closed_form:
        R = G.closed_form_potential(x0)
        if R is not None:
            return R
    n_check = as_positive_int(n_check, "n_check")
    rtol = as_positive(rtol, "rtol")
    points = _check_points(G, x0, check_points, n_check, seed)
    G.require_regular(points, rtol=regular_rtol)
    if not local:
        report = G.check_commuting(points, rtol=commuting_rtol)
        if not report.passed:
            raise NotCommutingError(
                f"{G.name} is not commuting, so no single Legendre function describes its "
                f"gradient flows: {report}. Pass local=True for the local, path-dependent "
                "construction",
                report=report,
            )
    flow = _JointFlow(G, x0, rtol=rtol, method=method)
    d = flow.w0.size
    lam_max = float(np.linalg.eigvalsh(flow.K0)[-1])
    mu_scale = 0.5 * max(1.0, float(np.max(np.abs(flow.w0)))) / max(lam_max, 1e-300)
    if domain is None:
        domain = MirrorImage(flow.w0, flow.grad_conjugate, mu_scale)
    kind = "local potential" if local else "potential"
    return Legendre.from_conjugate(
        flow.conjugate,
        d,
        grad_conjugate=flow.grad_conjugate,
        hessian_conjugate=flow.traced_hessian(),
        domain=domain,
        name=f"numerical {kind} of {G.name}",
    )


# -- implicit bias ----------------------------------------------------------------------------
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
    step = -np.linalg.lstsq(H, g, rcond=None)[0]
    if float(-g @ step) > 0:
        yield step
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


def _damped_newton(objective, gradient, hessian, best, n, tol, max_iter):
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
        g = gradient(lam)
        if best["residual"] <= tol:
            return lam, it - 1, "converged"
        if it > 25 and best["residual"] >= 0.5 * history[-25]:
            message = (f"stalled: |Xw - y| decreased by less than 2x in 25 Newton steps "
                       f"(the dual is ill-conditioned: cond(X hess R* X^T) = "
                       f"{np.linalg.cond(hessian(lam)):.1e})")  # fmt: skip
            break
        history.append(best["residual"])
        H = hessian(lam)
        found = None
        for step in _dual_directions(H, g):
            found = _line_search(objective, gradient, best, lam, phi, step, float(-g @ step))
            if found is not None:
                break
        if found is None:
            message = (f"line search stalled at iteration {it}: no Newton, pseudo-inverse or "
                       f"gradient step decreases phi or |Xw - y| (cond(X hess R* X^T) = "
                       f"{np.linalg.cond(H):.1e}; near the edge of dom R* the reachable "
                       "residual is ~cond * eps)")  # fmt: skip
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
    full_output: bool = False,
):
    """The Bregman projection `argmin {D_R(w, w0) : Xw = y}` (MATH.md section 4).

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

    Args:
        R: the Legendre function.
        X: `(n, d)` with `n <= d` and full row rank.
        y: `(n,)`.
        w0: the reference point `(d,)` (the initialization `G(x_init)` of the flow).
        tol: required `|Xw - y|_inf / max(1, |y|_inf)`.
        max_iter: iteration budget of the dual solver.
        full_output: return an `ImplicitBias` with the KKT residuals instead of `w`.

    Returns:
        `w: (d,)`, or an `ImplicitBias`.

    Raises:
        ShapeError, NonFiniteError: malformed `X`, `y`, `w0`.
        DomainError: `w0` outside the domain of `R`.
        ConvergenceError: the feasibility residual did not reach `tol` (reports it), e.g.
            because `Xw = y` has no solution in the domain of `R`.

    Example:
        >>> import numpy as np, riemflow as rf
        >>> R = rf.potentials.squared_euclidean(2)
        >>> X, y = np.array([[1.0, 1.0]]), np.array([2.0])
        >>> rf.implicit_bias(R, X, y, np.zeros(2)).round(12).tolist()
        [1.0, 1.0]
    """
    if not isinstance(R, Legendre):
        raise InputError(f"`R` must be a riemflow Legendre; got {type(R).__name__}", argument="R")
    X = check_finite(as_float_array(X, "X"), "X")
    y = check_finite(as_float_array(y, "y"), "y")
    if X.ndim != 2 or X.shape[1] != R.dim or X.shape[0] == 0:
        raise ShapeError(f"`X` must have shape (n, {R.dim}); got {X.shape}", argument="X")
    if y.shape != (X.shape[0],):
        raise ShapeError(f"`y` must have shape ({X.shape[0]},); got {y.shape}", argument="y")
    w0 = as_point(w0, "w0", R.dim)
    tol = as_positive(tol, "tol")
    max_iter = as_positive_int(max_iter, "max_iter")
    theta0 = np.asarray(R.grad(w0), dtype=np.float64)
    y_scale = max(1.0, float(np.max(np.abs(y))))
    failures = (DomainError, ConvergenceError, NotPositiveDefiniteError, SolverError)

    best = {"lam": np.zeros(X.shape[0]), "residual": np.inf}

    def primal(lam):
        return np.asarray(R.grad_conjugate(theta0 + X.T @ lam), dtype=np.float64)

    def objective(lam):
        try:
            value = float(R.conjugate(theta0 + X.T @ lam)) - float(lam @ y)
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
        H = np.asarray(R.hessian_conjugate(theta0 + X.T @ lam))
        diagonal = np.diagonal(H)
        if np.count_nonzero(H) == np.count_nonzero(diagonal):  # separable: O(n^2 d)
            return (X * diagonal) @ X.T
        return X @ H @ X.T

    def failure(reason: str, iterations: int) -> ConvergenceError:
        return ConvergenceError(
            f"implicit_bias: |Xw - y| = {best['residual']:.3e} (relative) after {iterations} "
            f"iterations, above tol={tol:g} ({reason}); Xw = y may have no solution in the "
            f"domain of {R.name}",
            residual=best["residual"],
            iterations=iterations,
        )

    try:
        lam, iterations, message = _damped_newton(objective, gradient, hessian, best, X.shape[0],
                                                  tol, max_iter)  # fmt: skip
    except failures as exc:
        raise failure(f"{type(exc).__name__}: {exc}", max_iter) from exc
    lam = best["lam"]
    w = primal(lam)
    feasibility = float(np.max(np.abs(X @ w - y))) / y_scale
    pull = X.T @ lam
    stationarity = float(np.max(np.abs(R.grad(w) - theta0 - pull))) / max(
        1.0, float(np.max(np.abs(pull)))
    )
    if not feasibility <= tol:
        raise failure(message, iterations)
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

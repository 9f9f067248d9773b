"""The `riemflow demo`: the geometry core checked on its default examples, in seconds.

Each check computes one thing two ways and reports the figure it decided on:

1. `w = u*u` on the unit sphere `S^2` (the default embedded example): the gradient fields
   commute and `dG` is regular on the positive orthant; gradient flow on the sphere stays
   on it; `w(t)` matches an independent integration of the closed-form ODE
   `dw/dt = -4 (diag(w) - w w^T) grad L(w)` (mirror flow of the simplex entropy).
2. The depth-2 diagonal network `w = u*u - v*v`: `w(t)` matches the closed-form ODE
   `dw/dt = -4 sqrt(w^2 + 4 alpha^4) grad L(w)` (hyperbolic entropy), and the limit of a
   long flow is the Bregman projection computed by `implicit_bias` (the implicit bias).
3. Depth-3 products `u1 u2 u3 - v1 v2 v3`: gradient flow equals mirror flow with
   `mirror_potential` built numerically from the joint flow (forward theorem), not from
   the closed form the model carries.
4. Matrix factorization `W = U U^T` is detected as non-commuting, with the bracket found,
   and a loop of losses with zero net gradient does not close (no mirror flow allows it).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
from scipy.integrate import solve_ivp

from . import losses, models
from .bregman import implicit_bias
from .flows import gradient_flow
from .forward import mirror_potential
from .verify import loop_test, verify_equivalence

__all__ = ["DemoCheck", "DemoResult", "run_demo"]


@dataclass(frozen=True)
class DemoCheck:
    """One check of the demo: what was measured against which tolerance."""

    name: str
    passed: bool
    value: float
    tolerance: float
    detail: str


@dataclass(frozen=True)
class DemoResult:
    """All checks of the demo; `passed` if every one did."""

    checks: list[DemoCheck] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        """Whether every check passed."""
        return all(c.passed for c in self.checks)

    def to_dict(self) -> dict:
        """A JSON-ready dict."""
        return {"passed": self.passed, "checks": [asdict(c) for c in self.checks]}

    def __str__(self) -> str:
        lines = []
        for c in self.checks:
            mark = "PASS" if c.passed else "FAIL"
            lines.append(f"[{mark}] {c.name}: {c.value:.3e} (tolerance {c.tolerance:.0e})")
            lines.append(f"       {c.detail}")
        lines.append(f"{sum(c.passed for c in self.checks)} of {len(self.checks)} checks passed")
        return "\n".join(lines)


def _max_relative_deviation(a: np.ndarray, b: np.ndarray) -> float:
    scale = max(float(np.max(np.abs(b))), 1e-300)
    return float(np.max(np.abs(a - b)) / scale)


def _closed_form_flow(velocity, w0, t_eval) -> np.ndarray:
    sol = solve_ivp(
        lambda t, w: velocity(w),
        (t_eval[0], t_eval[-1]),
        w0,
        method="DOP853",
        t_eval=t_eval,
        rtol=1e-13,
        atol=1e-15,
    )
    return sol.y.T


def run_demo(seed: int = 0, *, tol: float = 1e-8) -> DemoResult:
    """Run the demo checks.

    Args:
        seed: seed of the random data and sample points.
        tol: tolerance on the flow deviations and the sphere drift. Flows run at rtol
            1e-12 and the closed-form references at 1e-13; the observed deviations are
            about 1e-11, the global error of the integrators.

    Returns:
        A `DemoResult`.
    """
    rng = np.random.default_rng(seed)
    checks: list[DemoCheck] = []

    # 1. u*u on the sphere S^2 ------------------------------------------------------------
    G, u0 = models.simplex_sphere(2)
    comm = G.check_commuting(seed=seed)
    checks.append(
        DemoCheck(
            "sphere u*u: gradient fields commute",
            comm.passed,
            comm.max_bracket,
            comm.rtol,
            str(comm),
        )
    )
    reg = G.check_regular(seed=seed)
    checks.append(
        DemoCheck(
            "sphere u*u: dG regular on the positive orthant",
            reg.passed,
            reg.min_relative_singular_value,
            reg.rtol,
            str(reg),
        )
    )
    X = rng.standard_normal((1, 2))
    loss = losses.squared(X, np.array([0.3]))
    t = np.linspace(0.0, 5.0, 51)
    traj = gradient_flow(G, loss, u0, (0.0, 5.0), t_eval=t, rtol=1e-12, atol=1e-14)
    checks.append(
        DemoCheck(
            "sphere u*u: gradient flow stays on the sphere",
            traj.constraint_drift <= tol,
            traj.constraint_drift,
            tol,
            "max distance of x(t) from S^2 along the flow",
        )
    )

    def simplex_velocity(w):
        grad = X.T @ (X @ w - np.array([0.3]))
        return -4.0 * (w * grad - w * (w @ grad))

    ref = _closed_form_flow(simplex_velocity, G(u0), t)
    dev = _max_relative_deviation(traj.w, ref)
    checks.append(
        DemoCheck(
            "sphere u*u: w(t) = mirror flow of the simplex entropy",
            dev <= tol,
            dev,
            tol,
            "vs dw/dt = -4 (diag(w) - w w^T) grad L(w), integrated separately",
        )
    )

    # 2. diagonal network u*u - v*v --------------------------------------------------------
    alpha = 0.3
    G2, x0 = models.diagonal_network(5, depth=2, alpha=alpha)
    X2 = rng.standard_normal((3, 5))
    y2 = X2 @ np.array([1.0, 0.0, 0.0, -0.5, 0.0])
    loss2 = losses.squared(X2, y2)
    t2 = np.linspace(0.0, 10.0, 41)
    traj2 = gradient_flow(G2, loss2, x0, (0.0, 10.0), t_eval=t2, rtol=1e-12, atol=1e-14)

    def hyperbolic_velocity(w):
        grad = X2.T @ (X2 @ w - y2) / X2.shape[0]
        return -4.0 * np.sqrt(w * w + 4 * alpha**4) * grad

    ref2 = _closed_form_flow(hyperbolic_velocity, G2(x0), t2)
    dev2 = _max_relative_deviation(traj2.w, ref2)
    checks.append(
        DemoCheck(
            "u*u - v*v: w(t) = mirror flow of the hyperbolic entropy",
            dev2 <= tol,
            dev2,
            tol,
            f"vs dw/dt = -4 sqrt(w^2 + 4 alpha^4) grad L(w), alpha={alpha}; "
            f"loss {traj2.loss[0]:.2e} -> {traj2.loss[-1]:.2e}",
        )
    )

    long = gradient_flow(G2, loss2, x0, (0.0, 3000.0), rtol=1e-11)
    w_star = implicit_bias(mirror_potential(G2, x0), X2, y2, G2(x0))
    gap = float(np.max(np.abs(long.w_final - w_star)) / np.max(np.abs(w_star)))
    checks.append(
        DemoCheck(
            "u*u - v*v: limit of gradient flow = Bregman projection of w0",
            gap <= 1e-6,
            gap,
            1e-6,
            f"implicit_bias(R, X, y, w0) vs w(T=3000), final loss {long.loss[-1]:.1e}",
        )
    )

    # 3. the forward theorem with a numerical potential ---------------------------------
    G4, x4 = models.diagonal_network(
        2, depth=3, form="product", init=[0.5, 0.8, 1.1, 0.7, 0.6, 0.9]
    )
    # the numerical construction (joint flow + line integral + Newton), not the closed form
    R4 = mirror_potential(G4, x4, closed_form=False, structure=None)
    loss4 = losses.logistic(rng.standard_normal((3, 2)), np.array([1.0, -1.0, 1.0]))
    report = verify_equivalence(
        loss4, (0.0, 2.0), parametrization=G4, x0=x4, legendre=R4, n_times=11, tol=tol
    )
    checks.append(
        DemoCheck(
            "u1 u2 u3 - v1 v2 v3: gradient flow = mirror flow of the numerical potential",
            report.passed,
            report.max_deviation,
            tol,
            str(report),
        )
    )

    # 4. a non-commuting parametrization is detected ------------------------------------
    G3, _ = models.matrix_factorization(3)
    comm3 = G3.check_commuting(seed=seed)
    checks.append(
        DemoCheck(
            "U U^T: detected as NOT commuting",
            not comm3.passed,
            comm3.max_bracket,
            comm3.rtol,
            str(comm3),
        )
    )
    loop = loop_test(G3, np.eye(3).ravel() + 0.1 * rng.standard_normal(9), tau=0.05)
    checks.append(
        DemoCheck(
            "U U^T: a loop of losses with zero net gradient does not close",
            not loop.closes,
            loop.relative_displacement,
            loop.tol,
            str(loop),
        )
    )
    return DemoResult(checks)

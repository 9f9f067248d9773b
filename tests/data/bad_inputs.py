"""The bad inputs tried against every public function, and the typed error each raises.

One table, two readers: `tests/test_reliability.py` runs every row (a test per row), and
`docs/reliability.md` prints it. A row is `Case(function, category, what, call, raises)`:
`call()` must raise `raises` (or a subclass) and nothing else.

Categories: shape, dtype, nan/inf, out-of-domain, singular, non-commuting, non-regular,
non-Legendre, solver failure, bad option.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import autograd.numpy as anp
import numpy as np

import riemflow as rf
from riemflow import errors as E
from riemflow.sweep import StoreBusyError


@dataclass(frozen=True)
class Case:
    function: str
    category: str
    what: str
    call: Callable[[], object]
    raises: type[BaseException]


def _diag2(alpha=0.5, dim=2):
    return rf.models.diagonal_network(dim, depth=2, alpha=alpha)


def _spd_space(equip=True):
    from geomstats.geometry.spd_matrices import SPDMatrices

    return SPDMatrices(2, equip=equip)


def _minkowski():
    from geomstats.geometry.minkowski import Minkowski

    return Minkowski(3)


def _sq_loss(n=1, d=2):
    return rf.losses.squared(np.ones((n, d)), np.ones(n))


def _non_commuting():
    # G(x) = (x1, x1 x2): brackets of grad G_1 = e_1 and grad G_2 = (x2, x1) are non-zero
    return rf.Parametrization(lambda x: anp.stack([x[0], x[0] * x[1]]), 2)


def _non_regular():
    # G(x) = (x1^2, x1^2): dG has rank 1 everywhere
    return rf.Parametrization(lambda x: anp.stack([x[0] ** 2, x[0] ** 2 + 0.0 * x[1]]), 2)


def _entropy(d=2):
    return rf.potentials.negative_entropy(d)


def _non_convex():
    return rf.Legendre(lambda w: anp.sum(anp.sin(w)), 1)


def _diverging_flow():
    # L(w) = -w^3 on the identity parametrization: w' = 3 w^2 blows up at t = 1/3
    G, _ = rf.models.linear(np.eye(1))
    return rf.gradient_flow(G, lambda w: -anp.sum(w**3), np.array([1.0]), (0.0, 1.0))


def _concave():
    return rf.Legendre(lambda w: -anp.sum(w**2), 2, name="concave")


def _abs_map():
    return rf.Parametrization(lambda x: anp.abs(x), 1, name="|x|")


def _kinked_potential():
    # (|x1| + x2, x2): commuting at smooth points, a kink where x1 = 0
    G = rf.Parametrization(
        lambda x: anp.stack([anp.abs(x[..., 0]) + x[..., 1], x[..., 1]], -1), 2, name="kinked"
    )
    return rf.mirror_potential(G, np.array([0.3, 0.2]))


def _flow(kind, G_x0, loss, **kwargs):
    G, x0 = G_x0
    if kind == "flow":
        return rf.gradient_flow(G, loss, x0, kwargs.pop("t_span", (0.0, 5.0)), **kwargs)
    return rf.gradient_descent(G, loss, x0, lr=0.05, steps=50)


def _nan_loss(w):
    # NaN for w >= 1 (a loss undefined there), with a finite gradient everywhere
    return anp.sum(anp.where(w >= 1.0, np.nan, 0.0) + (w - 2.0) ** 2)


def _sweep_fn(x):
    return {"y": x}


def _busy_store(tmp):
    import fcntl

    store = tmp / "s.sqlite"
    lock = open(tmp / "s.sqlite.lock", "w")
    fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    try:
        rf.sweep.sweep(_sweep_fn, {"x": [1, 2]}, store=store, progress=False)
    finally:
        lock.close()


def _moroshko():
    from riemflow.experiments import moroshko

    return moroshko


def _wind():
    from riemflow.experiments import wind

    return wind


def _labarriere():
    from riemflow.experiments import labarriere

    return labarriere


NAN2 = np.array([np.nan, 1.0])
INF2 = np.array([np.inf, 1.0])

CASES: list[Case] = [
    # -- Parametrization ---------------------------------------------------------------------
    Case(
        "Parametrization",
        "dtype",
        "a non-callable map",
        lambda: rf.Parametrization(3.0, 2),
        E.NotCallableError,
    ),
    Case(
        "Parametrization",
        "bad option",
        "a geomstats space without a metric",
        lambda: rf.Parametrization(lambda P: P[..., 0, 0], _spd_space(equip=False)),
        E.UnsupportedSpaceError,
    ),
    Case(
        "Parametrization",
        "bad option",
        "a pseudo-Riemannian space (Minkowski)",
        lambda: rf.Parametrization(lambda x: x[..., 0], _minkowski()),
        E.UnsupportedSpaceError,
    ),
    Case(
        "Parametrization.kernel",
        "shape",
        "a flat vector where the space has matrix points",
        lambda: rf.models.spd_chart(2)[0].kernel(np.ones(4)),
        E.ShapeError,
    ),
    Case(
        "Parametrization.kernel",
        "out-of-domain",
        "a symmetric matrix that is not positive definite on SPD",
        lambda: rf.models.spd_chart(2)[0].kernel(np.array([[1.0, 2.0], [2.0, 1.0]])),
        E.DomainError,
    ),
    Case(
        "Parametrization.lie_brackets",
        "singular",
        "log-Euclidean brackets at repeated eigenvalues",
        lambda: rf.models.spd_chart(2, "log_euclidean")[0].lie_brackets(np.eye(2)),
        E.NotDifferentiableError,
    ),
    Case(
        "Parametrization.jacobian",
        "shape",
        "x of the wrong length",
        lambda: _diag2()[0].jacobian(np.ones(3)),
        E.ShapeError,
    ),
    Case(
        "Parametrization.jacobian",
        "nan/inf",
        "x with a NaN",
        lambda: _diag2()[0].jacobian(np.r_[NAN2, 1.0, 1.0]),
        E.NonFiniteError,
    ),
    Case(
        "Parametrization.jacobian",
        "dtype",
        "x of strings",
        lambda: _diag2()[0].jacobian(np.array(["a", "b", "c", "d"])),
        E.InputError,
    ),
    Case(
        "Parametrization.kernel",
        "out-of-domain",
        "x outside the orthant of the init",
        lambda: _diag2()[0].kernel(np.array([-1.0, 1.0, 1.0, 1.0])),
        E.DomainError,
    ),
    Case(
        "Parametrization.check_commuting",
        "bad option",
        "rtol = atol = 0 (can never pass)",
        lambda: _diag2()[0].check_commuting(rtol=0.0),
        E.InputError,
    ),
    Case(
        "Parametrization.check_commuting",
        "bad option",
        "rtol = -1",
        lambda: _diag2()[0].check_commuting(rtol=-1.0),
        E.InputError,
    ),
    Case(
        "Parametrization.require_commuting",
        "non-commuting",
        "G = (x1, x1 x2)",
        lambda: _non_commuting().require_commuting(),
        E.NotCommutingError,
    ),
    Case(
        "Parametrization.require_regular",
        "non-regular",
        "G = (x1^2, x1^2)",
        lambda: _non_regular().require_regular(),
        E.NotRegularError,
    ),
    # -- models ------------------------------------------------------------------------------
    Case(
        "models.diagonal_network",
        "bad option",
        "depth 0",
        lambda: rf.models.diagonal_network(2, depth=0),
        E.InputError,
    ),
    Case(
        "models.diagonal_network",
        "out-of-domain",
        "non-integer depth, negative init",
        lambda: rf.models.diagonal_network(1, depth=2.5, init=[np.array([-1.0]), np.array([1.0])]),
        E.DomainError,
    ),
    Case(
        "models.diagonal_network",
        "bad option",
        "alpha = NaN",
        lambda: rf.models.diagonal_network(2, alpha=np.nan),
        E.InputError,
    ),
    Case(
        "models.linear", "shape", "a 1-D matrix", lambda: rf.models.linear(np.ones(3)), E.ShapeError
    ),
    Case(
        "models.quadratic",
        "shape",
        "non-square matrices",
        lambda: rf.models.quadratic([np.ones((2, 3))]),
        E.ShapeError,
    ),
    Case(
        "models.matrix_sensing",
        "nan/inf",
        "a measurement with Inf",
        lambda: rf.models.matrix_sensing([np.diag([np.inf, 1.0])]),
        E.NonFiniteError,
    ),
    # -- losses ------------------------------------------------------------------------------
    Case(
        "losses.squared",
        "shape",
        "y of the wrong length",
        lambda: rf.losses.squared(np.ones((3, 2)), np.ones(2)),
        E.ShapeError,
    ),
    Case(
        "losses.squared",
        "nan/inf",
        "X with a NaN",
        lambda: rf.losses.squared(np.array([[np.nan, 1.0]]), np.ones(1)),
        E.NonFiniteError,
    ),
    Case(
        "losses.exponential",
        "bad option",
        "unknown reduction",
        lambda: rf.losses.exponential(np.ones((1, 2)), reduction="max"),
        E.InputError,
    ),
    Case(
        "DataLoss.__call__",
        "shape",
        "w of the wrong length",
        lambda: _sq_loss()(np.ones(3)),
        E.ShapeError,
    ),
    # -- Legendre and potentials -------------------------------------------------------------
    Case(
        "Legendre", "bad option", "dim = 0", lambda: rf.Legendre(lambda w: w @ w, 0), E.InputError
    ),
    Case(
        "Legendre.grad",
        "out-of-domain",
        "w outside the domain (entropy at w < 0)",
        lambda: _entropy().grad(np.array([-1.0, 1.0])),
        E.DomainError,
    ),
    Case("Legendre.grad", "nan/inf", "w with Inf", lambda: _entropy().grad(INF2), E.NonFiniteError),
    Case(
        "Legendre.grad_conjugate",
        "shape",
        "mu of the wrong length",
        lambda: _entropy().grad_conjugate(np.ones(3)),
        E.ShapeError,
    ),
    Case("Legendre", "dtype", "a non-callable R", lambda: rf.Legendre(2.0, 1), E.NotCallableError),
    Case(
        "potentials.p_norm",
        "bad option",
        "p = 1 (not strictly convex)",
        lambda: rf.potentials.p_norm(2, p=1.0),
        E.InputError,
    ),
    Case(
        "potentials.hyperbolic_entropy",
        "bad option",
        "alpha = 0",
        lambda: rf.potentials.hyperbolic_entropy(2, alpha=0.0),
        E.InputError,
    ),
    Case(
        "potentials.product_network",
        "shape",
        "layers_v with another number of coordinates",
        lambda: rf.potentials.product_network(np.ones((3, 2)), np.ones((3, 3))),
        E.ShapeError,
    ),
    Case(
        "potentials.product_network",
        "non-regular",
        "two zero layers in both networks at a coordinate",
        lambda: rf.potentials.product_network(
            np.array([[0.0, 1.0], [0.0, 1.0], [1.0, 1.0]]),
            np.array([[0.0, 1.0], [0.0, 2.0], [1.0, 1.0]]),
        ),
        E.NotRegularError,
    ),
    Case(
        "losses.piecewise",
        "shape",
        "as many switch times as losses",
        lambda: rf.losses.piecewise([_sq_loss(), _sq_loss()], [0.5, 1.0]),
        E.InputError,
    ),
    Case(
        "losses.time_dependent",
        "bad option",
        "switch times not increasing",
        lambda: rf.losses.time_dependent(lambda w, t: 0.0, switch_times=[1.0, 0.5]),
        E.InputError,
    ),
    # -- flows -------------------------------------------------------------------------------
    Case(
        "gradient_flow",
        "shape",
        "x0 of the wrong length",
        lambda: rf.gradient_flow(_diag2()[0], _sq_loss(), np.ones(3), (0, 1)),
        E.ShapeError,
    ),
    Case(
        "gradient_flow",
        "nan/inf",
        "x0 with a NaN",
        lambda: rf.gradient_flow(_diag2()[0], _sq_loss(), np.r_[NAN2, 1, 1], (0, 1)),
        E.NonFiniteError,
    ),
    Case(
        "gradient_flow",
        "bad option",
        "t_span reversed",
        lambda: rf.gradient_flow(*_diag2()[:1], _sq_loss(), _diag2()[1], (1, 0)),
        E.InputError,
    ),
    Case(
        "gradient_flow",
        "solver failure",
        "a flow that blows up at t = 1/3",
        _diverging_flow,
        E.SolverError,
    ),
    Case(
        "gradient_flow",
        "dtype",
        "a loss that is not callable",
        lambda: rf.gradient_flow(_diag2()[0], 3.0, _diag2()[1], (0, 1)),
        E.InputError,
    ),
    Case(
        "mirror_flow",
        "out-of-domain",
        "w0 outside the domain of R",
        lambda: rf.mirror_flow(_entropy(), _sq_loss(), np.array([-1.0, 1.0]), (0, 1)),
        E.DomainError,
    ),
    Case(
        "mirror_flow",
        "bad option",
        "rtol = -1",
        lambda: rf.mirror_flow(_entropy(), _sq_loss(), np.ones(2), (0, 1), rtol=-1.0),
        E.InputError,
    ),
    Case(
        "gradient_descent",
        "bad option",
        "lr = 0",
        lambda: rf.gradient_descent(_diag2()[0], _sq_loss(), _diag2()[1], lr=0.0, steps=3),
        E.InputError,
    ),
    Case(
        "gradient_descent",
        "solver failure",
        "a step size that diverges",
        lambda: rf.gradient_descent(_diag2()[0], _sq_loss(), _diag2()[1], lr=1e3, steps=50),
        E.SolverError,
    ),
    Case(
        "gradient_descent",
        "bad option",
        "step = 'newton'",
        lambda: rf.gradient_descent(
            _diag2()[0], _sq_loss(), _diag2()[1], lr=0.1, steps=3, step="newton"
        ),
        E.InputError,
    ),
    Case(
        "gradient_flow",
        "bad option",
        "retract_tol = 0 on a matrix manifold",
        lambda: rf.gradient_flow(
            *rf.models.spd_chart(2), lambda w: w[0], (0.0, 1.0), retract_tol=0.0
        ),
        E.InputError,
    ),
    Case(
        "mirror_descent",
        "out-of-domain",
        "w0 outside the domain of R",
        lambda: rf.mirror_descent(_entropy(), _sq_loss(), np.array([0.0, 1.0]), lr=0.1, steps=3),
        E.DomainError,
    ),
    # -- forward and converse ----------------------------------------------------------------
    Case(
        "mirror_potential",
        "non-commuting",
        "G = (x1, x1 x2)",
        lambda: rf.mirror_potential(_non_commuting(), np.array([1.0, 2.0])),
        E.NotCommutingError,
    ),
    Case(
        "mirror_potential",
        "non-regular",
        "G = (x1^2, x1^2)",
        lambda: rf.mirror_potential(_non_regular(), np.array([1.0, 2.0])),
        E.NotRegularError,
    ),
    Case(
        "mirror_potential",
        "shape",
        "x_init of the wrong length",
        lambda: rf.mirror_potential(_diag2()[0], np.ones(3)),
        E.ShapeError,
    ),
    Case(
        "mirror_potential",
        "bad option",
        "structure='sometimes'",
        lambda: rf.mirror_potential(*_diag2(), closed_form=False, structure="sometimes"),
        E.InputError,
    ),
    Case(
        "mirror_potential",
        "bad option",
        "declared blocks the map contradicts (G = (x1, x1 x2) split in two)",
        lambda: rf.mirror_potential(
            _non_commuting(), np.array([1.0, 2.0]), structure=[([0], [0]), ([1], [1])]
        ),
        E.InputError,
    ),
    Case(
        "structure.find_structure",
        "bad option",
        "an input mixing that is not orthogonal",
        lambda: rf.structure.find_structure(*_diag2(), inner=2.0 * np.eye(4)),
        E.InputError,
    ),
    Case(
        "structure.find_structure",
        "dtype",
        "a map on the sphere (not Euclidean)",
        lambda: rf.structure.find_structure(*rf.models.simplex_sphere(2)),
        E.InputError,
    ),
    Case(
        "implicit_bias",
        "shape",
        "y of the wrong length",
        lambda: rf.implicit_bias(_entropy(), np.ones((1, 2)), np.ones(2), np.ones(2)),
        E.ShapeError,
    ),
    Case(
        "implicit_bias",
        "out-of-domain",
        "w0 outside the domain of R",
        lambda: rf.implicit_bias(_entropy(), np.ones((1, 2)), np.ones(1), -np.ones(2)),
        E.DomainError,
    ),
    Case(
        "implicit_bias",
        "solver failure",
        "Xw = y has no solution in dom R (w > 0, sum = -1)",
        lambda: rf.implicit_bias(_entropy(), np.ones((1, 2)), -np.ones(1), np.ones(2)),
        E.ConvergenceError,
    ),
    Case(
        "commuting_parametrization",
        "non-Legendre",
        "R = sum sin(w)",
        lambda: rf.commuting_parametrization(_non_convex(), rf.domains.Box([2.0], [4.0])),
        E.NotPositiveDefiniteError,
    ),
    Case(
        "commuting_parametrization",
        "bad option",
        "tol = 0",
        lambda: rf.commuting_parametrization(_entropy(1), rf.domains.Box([0.5], [1.0]), tol=0.0),
        E.InputError,
    ),
    Case(
        "verify_equivalence",
        "non-commuting",
        "G = (x1, x1 x2) without a potential",
        lambda: rf.verify_equivalence(
            _sq_loss(), (0, 1), parametrization=_non_commuting(), x0=np.array([1.0, 2.0])
        ),
        E.NotCommutingError,
    ),
    Case(
        "verify_equivalence",
        "bad option",
        "tol = NaN",
        lambda: rf.verify_equivalence(
            _sq_loss(), (0, 1), parametrization=_diag2()[0], x0=_diag2()[1], tol=np.nan
        ),
        E.InputError,
    ),
    # -- convex programs ---------------------------------------------------------------------
    Case(
        "convex.basis_pursuit",
        "singular",
        "an inconsistent system (rows equal, y differ)",
        lambda: rf.convex.basis_pursuit(np.ones((2, 2)), np.array([1.0, 2.0])),
        E.ConvergenceError,
    ),
    Case(
        "convex.min_norm",
        "singular",
        "an inconsistent system (rows equal, y differ)",
        lambda: rf.convex.min_norm(np.ones((2, 2)), np.array([1.0, 2.0])),
        E.ConvergenceError,
    ),
    Case(
        "convex.max_margin",
        "singular",
        "data that are not separable",
        lambda: rf.convex.max_margin(np.array([[1.0, 0.0], [-1.0, 0.0]])),
        E.InputError,
    ),
    # -- reproductions ----------------------------------------------------------------------
    Case(
        "experiments.moroshko.direction_at_loss",
        "out-of-domain",
        "a loss level above the initial loss log10(n)",
        lambda: _moroshko().direction_at_loss(np.ones((1, 2)), depth=2, alpha=1.0, log10_loss=1.0),
        E.InputError,
    ),
    Case(
        "experiments.moroshko.direction_at_loss",
        "singular",
        "data that are not separable",
        lambda: _moroshko().direction_at_loss(
            np.array([[1.0, 0.0], [-1.0, 0.0]]), depth=2, alpha=1.0, log10_loss=-1.0
        ),
        E.InputError,
    ),
    Case(
        "experiments.moroshko.kkt_residual",
        "shape",
        "a direction of the wrong length",
        lambda: _moroshko().kkt_residual(np.ones(3), np.ones((1, 2)), 0.5),
        E.ShapeError,
    ),
    Case(
        "experiments.moroshko.kkt_residual",
        "bad option",
        "q = 2 (not a quasi-norm)",
        lambda: _moroshko().kkt_residual(np.ones(2), np.ones((1, 2)), 2.0),
        E.InputError,
    ),
    Case(
        "experiments.wind.layer_flow",
        "solver failure",
        "Ax = y inconsistent",
        lambda: _wind().layer_flow(
            np.ones((2, 1)), np.array([1.0, -1.0]), depth=2, alpha=0.1, max_clock=200.0
        ),
        E.ConvergenceError,
    ),
    Case(
        "experiments.wind.hard_instance",
        "dtype",
        "eps given as a string",
        lambda: _wind().hard_instance("0.1"),
        E.InputError,
    ),
    Case(
        "experiments.wind.fitted_slope",
        "out-of-domain",
        "a zero distance (no logarithm)",
        lambda: _wind().fitted_slope([1e-2, 1e-4], [1e-3, 0.0]),
        E.InputError,
    ),
    Case(
        "experiments.labarriere.inverse_mirror_map",
        "out-of-domain",
        "mu beyond the range of the mirror map (depth 3)",
        lambda: _labarriere().inverse_mirror_map(np.array([1e6]), np.array([[1.0], [2.0], [3.0]])),
        E.DomainError,
    ),
    # -- answers in bounded time: budgets, stalls, user functions that are not what they claim
    Case(
        "mirror_flow",
        "non-Legendre",
        "a concave R: no positive definite Hessian anywhere",
        lambda: rf.mirror_flow(_concave(), _sq_loss(), np.ones(2), (0.0, 1.0)),
        E.NotPositiveDefiniteError,
    ),
    Case(
        "mirror_descent",
        "non-Legendre",
        "a concave R",
        lambda: rf.mirror_descent(_concave(), _sq_loss(), np.ones(2), lr=0.1, steps=3),
        E.NotPositiveDefiniteError,
    ),
    Case(
        "gradient_flow",
        "shape",
        "a loss that returns a vector",
        lambda: rf.gradient_flow(_diag2()[0], lambda w: w, _diag2()[1], (0.0, 1.0)),
        E.ShapeError,
    ),
    Case(
        "mirror_flow",
        "shape",
        "a loss that returns a vector",
        lambda: rf.mirror_flow(_entropy(), lambda w: w, np.ones(2), (0.0, 1.0)),
        E.ShapeError,
    ),
    Case(
        "gradient_flow",
        "nan/inf",
        "a loss that is NaN at the start",
        lambda: rf.gradient_flow(
            _diag2()[0], lambda w: anp.sum(w) * np.nan, _diag2()[1], (0.0, 1.0)
        ),
        E.NonFiniteError,
    ),
    Case(
        "gradient_flow",
        "nan/inf",
        "a loss that is NaN where the flow goes (finite gradient)",
        lambda: _flow("flow", _diag2(dim=1), _nan_loss),
        E.DivergenceError,
    ),
    Case(
        "mirror_flow",
        "nan/inf",
        "a loss that is NaN where the flow goes (finite gradient)",
        lambda: rf.mirror_flow(
            rf.potentials.hyperbolic_entropy(1, 0.5), _nan_loss, np.zeros(1), (0.0, 5.0)
        ),
        E.DivergenceError,
    ),
    Case(
        "gradient_descent",
        "nan/inf",
        "a loss that is NaN where the iterates go",
        lambda: _flow("descent", _diag2(dim=1), _nan_loss),
        E.DivergenceError,
    ),
    Case(
        "gradient_flow",
        "solver failure",
        "a non-smooth map |x| whose flow chatters at the kink",
        lambda: rf.gradient_flow(
            _abs_map(), rf.losses.squared(np.eye(1), [-1.0]), np.array([0.5]), (0.0, 1.0)
        ),
        E.DivergenceError,
    ),
    Case(
        "mirror_potential",
        "solver failure",
        "a kinked map: grad R* across the kink",
        lambda: _kinked_potential().grad_conjugate(np.array([-0.5, 0.1])),
        E.RiemflowError,
    ),
    Case(
        "Parametrization",
        "non-commuting",
        "a closed-form vjp that is not the pullback of the map (3x instead of 2x)",
        lambda: rf.gradient_flow(
            rf.Parametrization(lambda x: x * x, 2, vectorized=True, vjp=lambda x, c: 3 * x * c),
            _sq_loss(),
            np.array([1.0, 0.5]),
            (0.0, 0.2),
        ),
        E.InputError,
    ),
    Case(
        "Legendre",
        "non-Legendre",
        "a closed-form grad that is not the gradient of fn",
        lambda: rf.Legendre(lambda w: anp.sum(w**2) / 2, 2, grad=lambda w: 2 * w),
        E.InputError,
    ),
    Case(
        "Legendre",
        "non-Legendre",
        "a closed-form grad_conjugate that does not invert grad",
        lambda: rf.Legendre(
            lambda w: anp.sum(w**2) / 2, 2, grad=lambda w: w, grad_conjugate=lambda m: 2 * m
        ),
        E.InputError,
    ),
    Case(
        "flows",
        "bad option",
        "an evaluation budget too small for the flow",
        lambda: _flow("flow", _diag2(), _sq_loss(), t_span=(0.0, 50.0), max_evaluations=50),
        E.BudgetError,
    ),
    # -- sweeps ------------------------------------------------------------------------------
    Case("sweep.grid", "shape", "an empty axis", lambda: rf.sweep.grid(x=[]), E.InputError),
    Case(
        "sweep.sweep",
        "bad option",
        "errors = 'maybe'",
        lambda: rf.sweep.sweep(_sweep_fn, {"x": [1]}, errors="maybe", progress=False),
        E.InputError,
    ),
]

#: rows that need a temporary directory: (function, category, what, call(tmp_path), raises)
TMP_CASES: list[Case] = [
    Case(
        "sweep.sweep",
        "solver failure",
        "a store locked by another sweep",
        _busy_store,
        StoreBusyError,
    ),
]

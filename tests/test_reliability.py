"""Reliability: every row of the bad-input table raises its typed error; reports
state their tolerance and fail at an impossible one; seeded runs repeat bit for bit."""

import numpy as np
import pytest

import riemflow as rf
from riemflow.errors import RiemflowError
from tests.data.bad_inputs import CASES, TMP_CASES


def _id(case):
    return f"{case.function}-{case.category}-{case.what}"


@pytest.mark.parametrize("case", CASES, ids=_id)
def test_bad_input_raises_its_typed_error(case):
    assert issubclass(case.raises, RiemflowError)  # typed: riemflow.errors only
    with pytest.raises(case.raises) as info:
        case.call()
    # the message is there to read, and input errors name their argument
    assert str(info.value)
    if hasattr(info.value, "argument") and case.category not in ("solver failure",):
        assert info.value.argument, f"{case.function}: no argument named"


@pytest.mark.parametrize("case", TMP_CASES, ids=_id)
def test_bad_input_raises_its_typed_error_with_a_store(case, tmp_path):
    with pytest.raises(case.raises):
        case.call(tmp_path)


def test_the_table_covers_every_public_entry_point():
    covered = {c.function.split(".")[0] for c in CASES + TMP_CASES}
    for name in (
        "Parametrization",
        "Legendre",
        "gradient_flow",
        "mirror_flow",
        "gradient_descent",
        "mirror_descent",
        "mirror_potential",
        "implicit_bias",
        "commuting_parametrization",
        "verify_equivalence",
        "models",
        "losses",
        "potentials",
        "convex",
        "sweep",
    ):
        assert name in covered, name
    categories = {c.category for c in CASES}
    assert {
        "shape",
        "dtype",
        "nan/inf",
        "out-of-domain",
        "singular",
        "non-commuting",
        "non-regular",
        "non-Legendre",
        "solver failure",
    } <= categories


def test_solver_failures_report_the_time_reached():
    with pytest.raises(rf.errors.SolverError) as info:
        G, _ = rf.models.linear(np.eye(1))
        rf.gradient_flow(G, lambda w: -(w[0] ** 3), np.array([1.0]), (0.0, 1.0))
    assert info.value.t_reached is not None and 0.0 < info.value.t_reached <= 1.0 / 3.0 + 1e-6
    assert "t" in str(info.value)


# -- numerical honesty: a check at an impossible tolerance fails, and says so -----------------
def test_commuting_check_states_its_tolerance_and_fails_when_asked_too_much():
    c, s = np.cos(0.3), np.sin(0.3)
    Q = np.array([[c, -s], [s, c]])  # commuting, not diagonal: brackets are pure round-off
    G, _ = rf.models.quadratic([Q @ np.diag(d) @ Q.T for d in ([1.0, 2.0], [3.0, -1.0])])
    loose = G.check_commuting(rtol=1e-8)
    assert loose.passed and 0 < loose.max_bracket < 1e-13
    # demanding 1e-30 of a round-off figure must fail, and the report says what it used
    strict = G.check_commuting(rtol=1e-30)
    assert not strict.passed and strict.max_bracket == loose.max_bracket
    assert "rtol=1e-30" in str(strict)


def test_equivalence_report_fails_at_an_impossible_tolerance():
    G, x0 = rf.models.diagonal_network(2, depth=2, alpha=0.5)
    loss = rf.losses.squared(np.array([[1.0, 2.0]]), np.array([1.0]))
    ok = rf.verify_equivalence(loss, (0.0, 2.0), parametrization=G, x0=x0, tol=1e-8)
    assert ok.passed and ok.max_deviation <= 1e-8
    impossible = rf.verify_equivalence(loss, (0.0, 2.0), parametrization=G, x0=x0, tol=1e-300)
    assert not impossible.passed
    assert impossible.max_deviation == ok.max_deviation  # same measurement, judged honestly
    assert "tol=1e-300" in str(impossible)


def test_legendre_check_fails_at_an_impossible_tolerance():
    R = rf.potentials.negative_entropy(3)
    assert R.check().passed
    # rtol is the smallest accepted lambda_min / lambda_max, which cannot exceed 1
    strict = R.check(rtol=1.5)
    assert not strict.passed and "rtol=1.5" in str(strict)


# -- determinism ------------------------------------------------------------------------------
def test_seeded_runs_repeat_bit_for_bit():
    G, x0 = rf.models.diagonal_network(3, depth=2, alpha=0.3)
    X = np.random.default_rng(0).standard_normal((2, 3))
    loss = rf.losses.squared(X, X @ np.array([1.0, 0.0, -1.0]))
    a = rf.gradient_descent(G, loss, x0, lr=0.05, steps=50, batches=1, seed=7)
    b = rf.gradient_descent(G, loss, x0, lr=0.05, steps=50, batches=1, seed=7)
    c = rf.gradient_descent(G, loss, x0, lr=0.05, steps=50, batches=1, seed=8)
    assert np.array_equal(a.x, b.x)
    assert not np.array_equal(a.x, c.x)  # the seed is used
    r1 = G.check_commuting(seed=3)
    r2 = G.check_commuting(seed=3)
    assert r1.max_bracket == r2.max_bracket and np.array_equal(r1.worst_point, r2.worst_point)
    f1 = rf.gradient_flow(G, loss, x0, (0.0, 1.0))
    f2 = rf.gradient_flow(G, loss, x0, (0.0, 1.0))
    assert np.array_equal(f1.x, f2.x)


# -- answers in bounded time -------------------------------------------------------------------
def test_a_users_own_exception_passes_through_unchanged():
    """A map that raises its own error keeps it (not relabelled NotDifferentiableError);
    autograd failing on a map that works on plain arrays is NotDifferentiableError."""
    import autograd.numpy as anp

    class Mine(ValueError):
        pass

    def refuses(x):
        if x[0] > 10:
            raise Mine("x0 too large")
        return x * x

    G = rf.Parametrization(refuses, 2)
    with pytest.raises(Mine, match="x0 too large"):
        G.jacobian(np.array([11.0, 1.0]))
    with pytest.raises(Mine):
        G.lie_brackets(np.array([11.0, 1.0]))
    untraceable = rf.Parametrization(lambda x: anp.array([float(x[0]), x[1]]), 2)
    with pytest.raises(rf.errors.NotDifferentiableError, match="float"):
        untraceable.jacobian(np.array([1.0, 2.0]))


def test_time_budgets_are_reported():
    G, x0 = rf.models.diagonal_network(3, alpha=0.5)
    loss = rf.losses.squared(np.ones((1, 3)), np.ones(1))
    with pytest.raises(rf.errors.BudgetError, match="budget of 1e-06 s") as info:
        rf.gradient_flow(G, loss, x0, (0.0, 10.0), time_limit=1e-6)
    assert isinstance(info.value, rf.errors.SolverError)
    assert isinstance(info.value, rf.errors.ConvergenceError)
    with pytest.raises(rf.errors.BudgetError, match="budget of 50 evaluations"):
        rf.gradient_flow(G, loss, x0, (0.0, 50.0), max_evaluations=50)
    with pytest.raises(rf.errors.BudgetError, match="budget of 1e-06 s"):
        rf.gradient_descent(G, loss, x0, lr=0.01, steps=100_000, time_limit=1e-6)


@pytest.mark.slow
def test_grad_outside_the_range_of_a_numerical_potential_is_answered():
    """`G(x) = M (x * x)` (commuting, no closed form): `grad R(w)` at `w` outside the range
    of `grad R*` is answered within the Newton time budget: a DomainError when the
    separable construction (M is a linear change of variables) knows the range, else a
    ConvergenceError (or its BudgetError) from the budgeted Newton solve."""
    import time

    import autograd.numpy as anp

    M = np.array([[1.0, 0.3, -0.2], [0.1, 1.0, 0.4], [-0.3, 0.2, 1.0]])
    G = rf.Parametrization(lambda x: anp.einsum("ij,...j->...i", M, x * x), 3)
    R = rf.mirror_potential(G, np.array([0.5, 0.7, 0.9]))
    for w in (np.array([-5.0, -5.0, -5.0]), np.array([1.0, -3.0, 2.0])):
        start = time.perf_counter()
        with pytest.raises((rf.errors.ConvergenceError, rf.errors.DomainError)):
            R.grad(w)
        assert time.perf_counter() - start < 3 * R.newton_time_limit + 30

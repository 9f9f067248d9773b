"""Wind, Antun, Hansen (2023): the log-layer flow against closed forms and the Bregman
projection, the face selections against their optimality conditions, and the claims at
the QUICK size."""

import math

import numpy as np
import pytest

from riemflow.errors import ConvergenceError, InputError, NonFiniteError, ShapeError
from riemflow.experiments import wind as W


@pytest.fixture(scope="module")
def quick():
    return W.run(**W.QUICK, progress=False)


# -- the predicted limits -----------------------------------------------------------------------
def test_face_of_the_face_problem():
    A, y = W.face_problem()
    value, nu, T, signs = W.basis_pursuit_face(A, y)
    assert value == pytest.approx(1.0, abs=1e-9)
    np.testing.assert_allclose(nu, [1.0, 0.0], atol=1e-9)
    assert T.tolist() == [0, 1, 2] and signs.tolist() == [1.0, 1.0, 1.0]


def test_face_selections_are_the_closed_form_stationary_points():
    A, y = W.face_problem()
    # on the face x = (s - 0.2, 1.2 - 2s, s): entropy stationary at 3 s^2 - 4.6 s + 1.44 = 0
    s_entropy = (4.6 - math.sqrt(4.6**2 - 4 * 3 * 1.44)) / 6
    np.testing.assert_allclose(
        W.face_limit(A, y, depth=2)[:3],
        [s_entropy - 0.2, 1.2 - 2 * s_entropy, s_entropy],
        atol=1e-12,
    )
    for p in (2.5, 3.0, 4.0):
        x = W.face_limit(A, y, depth=p)
        q = 2 / p
        # d/ds sum x^q = q[(s - 0.2)^(q-1) - 2 (1.2 - 2s)^(q-1) + s^(q-1)] = 0
        assert abs(x[0] ** (q - 1) - 2 * x[1] ** (q - 1) + x[2] ** (q - 1)) < 1e-10
        np.testing.assert_allclose(A @ x, y, atol=1e-13)
        assert np.all(x[3:] == 0)
    # the selections differ by depth (what the flows must resolve)
    assert np.linalg.norm(W.face_limit(A, y, depth=2) - W.face_limit(A, y, depth=4)) > 5e-3


@pytest.mark.parametrize("depth", [2, 2.5, 4])
def test_hard_limit_solves_its_dual_equation(depth):
    eps, alpha = 0.2, 0.3
    x = W.hard_limit(eps, depth=depth, alpha=alpha)
    assert x[0] + (1 - eps) * x[1] == pytest.approx(1.0, rel=1e-13)
    # same dual variable through both coordinates: s_2 = (1 - eps) s_1
    if depth == 2:
        s = np.arcsinh(x / (2 * alpha**2))
    else:
        P = depth / (depth - 2)
        from scipy.optimize import brentq

        def dual(xi):
            return brentq(
                lambda v: alpha**depth * ((1 - v) ** -P - (1 + v) ** -P) - xi,
                1e-15,
                1 - 1e-15,
                xtol=1e-15,
            )

        s = np.array([dual(xi) for xi in x])
    assert s[1] == pytest.approx((1 - eps) * s[0], rel=1e-10)


def test_hard_limit_rate_is_alpha_squared_to_the_eps():
    # p = 2: x_2 ~ (alpha^2)^eps; the closed form at alpha^2 = 1e-100 and 1e-200
    for eps in (0.1, 0.3):
        a = W.hard_limit(eps, depth=2, alpha=1e-50)[1]
        b = W.hard_limit(eps, depth=2, alpha=1e-100)[1]
        assert math.log10(a / b) / 100 == pytest.approx(eps, abs=1e-3)


# -- the flow ----------------------------------------------------------------------------------
@pytest.mark.parametrize("depth", [2, 2.5, 3, 4])
@pytest.mark.parametrize("alpha_p", [1e-3, 1e-30, 1e-100])
def test_flow_on_the_hard_instance_is_the_closed_form(depth, alpha_p):
    alpha = alpha_p ** (1 / depth)
    A, y = W.hard_instance(0.2)
    end = W.layer_flow(A, y, depth=depth, alpha=alpha)
    exact = W.hard_limit(0.2, depth=depth, alpha=alpha)
    assert end.residual <= 1.01e-13
    # the off-support coordinate keeps its relative precision down to 1e-100
    assert end.x[1] == pytest.approx(exact[1], rel=1e-6)
    assert end.x[0] == pytest.approx(exact[0], rel=1e-9)  # LSODA rtol 1e-11; measured 3e-11


@pytest.mark.parametrize("depth", [2, 3, 4])
def test_flow_limit_is_the_bregman_projection(depth):
    A, y = W.face_problem()
    alpha = 1e-6 ** (1 / depth)
    x = W.layer_flow(A, y, depth=depth, alpha=alpha).x
    b = W.bregman_limit(A, y, depth=depth, alpha=alpha)
    assert np.max(np.abs(x - b)) / np.max(np.abs(b)) < 1e-6  # measured <= 3e-8


def test_bad_inputs_are_refused():
    A, y = W.face_problem()
    with pytest.raises(InputError, match="depth"):
        W.layer_flow(A, y, depth=1.0, alpha=0.1)
    with pytest.raises(InputError, match="alpha"):
        W.layer_flow(A, y, depth=2, alpha=-1.0)
    with pytest.raises(ShapeError):
        W.layer_flow(A, y[:1], depth=2, alpha=0.1)
    with pytest.raises(NonFiniteError):
        W.layer_flow(A * np.nan, y, depth=2, alpha=0.1)
    with pytest.raises(InputError, match="must not be 0"):
        W.layer_flow(A, 0 * y, depth=2, alpha=0.1)
    with pytest.raises(InputError, match="eps"):
        W.hard_instance(1.5)
    # no interpolant reachable: A x = y inconsistent
    with pytest.raises(ConvergenceError):
        W.layer_flow(
            np.array([[1.0], [1.0]]), np.array([1.0, -1.0]), depth=2, alpha=0.1, max_clock=200.0
        )


# -- the claims ---------------------------------------------------------------------------------
def test_quick_run_agrees_with_every_claim(quick):
    table = W.compare(quick)
    assert len(table) == 9
    assert table["agrees"].all(), table.to_string()


def test_quick_run_numbers(quick):
    face = quick[quick["problem"] == "face"].set_index(["depth", "alpha_p"])
    # p = 2 at alpha^2 = 1e-100: the entropy selection to the flow's precision, and far
    # from the p = 4 selection
    assert face.loc[(2.0, 1e-100), "dist_limit"] < 1e-11
    assert face.loc[(2.0, 1e-100), "dist_limit_p4"] > 5e-3
    # p = 3 resolved to 1e-6 of its selection at alpha^3 = 1e-8
    assert face.loc[(3.0, 1e-8), "dist_limit"] < 1e-6
    hard = quick[quick["problem"] == "hard:0.2"].set_index(["depth", "alpha_p"])
    # (alpha^2)^0.2 at alpha^2 = 1e-100: x_2 = 1e-20 times an O(1) constant
    assert 1e-21 < hard.loc[(2.0, 1e-100), "off_support"] < 1e-19


def test_plot_draws_both_panels(quick):
    fig = W.plot(quick)
    assert len(fig.axes) == 2 and all(len(ax.lines) >= 2 for ax in fig.axes)

"""Moroshko et al. (2020): the rescaled-time flow against closed forms and against the
network's own gradient flow, the max-margin programs, and the claims at the QUICK size."""

import math

import numpy as np
import pytest

import riemflow as rf
from riemflow.errors import InputError, NonFiniteError, ShapeError
from riemflow.experiments import moroshko as M

X = M.problem()


@pytest.fixture(scope="module")
def quick():
    return M.run(**M.QUICK, progress=False)


# -- the convex programs -----------------------------------------------------------------------
def test_max_margin_programs_satisfy_their_optimality_conditions():
    l2 = rf.convex.max_margin(X, "l2")
    l1 = rf.convex.max_margin(X, "l1")
    # l2: w / gamma is a non-negative combination of the active rows (KKT of min |w|^2/2)
    w = l2 / np.min(X @ l2)
    active = X @ w < 1 + 1e-9
    lam, res = __import__("scipy.optimize", fromlist=["nnls"]).nnls(X[active].T, w)
    assert res < 1e-10 * np.linalg.norm(w)
    # both beat every other direction on their own margin: random unit directions
    rng = np.random.default_rng(1)
    U = rng.standard_normal((20000, X.shape[1]))
    U /= np.linalg.norm(U, axis=1, keepdims=True)
    margins = np.min(U @ X.T, axis=1)
    assert np.max(margins) <= np.min(X @ l2) + 1e-12
    l1_margins = margins / np.abs(U).sum(axis=1)
    assert np.max(l1_margins) <= np.min(X @ l1) / np.abs(l1).sum() + 1e-12
    # this instance: the l1 direction is sparse, the two are far apart
    assert np.count_nonzero(np.abs(l1) > 1e-9) == 3
    assert np.linalg.norm(l1 - l2) > 0.5


def test_max_margin_refuses_non_separable_data():
    bad = np.array([[1.0, 0.0], [-1.0, 0.0]])
    for norm in ("l1", "l2"):
        with pytest.raises(InputError, match="not linearly separable"):
            rf.convex.max_margin(bad, norm)
    with pytest.raises(InputError, match="norm"):
        rf.convex.max_margin(X, "linf")


# -- the flow ----------------------------------------------------------------------------------
@pytest.mark.parametrize("depth", [2, 3, 4])
@pytest.mark.parametrize("level", [-1.0, -100.0, -4000.0, -10000.0])
def test_single_point_flow_is_its_closed_form(depth, level):
    x = np.array(M.SINGLE_POINT)
    flow = M.flow_to_loss(x[None, :], depth=depth, alpha=1.0, log10_loss=level)
    exact = M.single_point_direction(x, depth=depth, alpha=1.0, log10_loss=level)
    # LSODA at rtol 1e-11 against Brent's root of the closed form; measured <= 2e-10
    assert np.linalg.norm(flow.direction - exact) < 1e-8
    # the level is reached exactly (event location), in the log domain
    assert flow.log10_loss == pytest.approx(level, rel=1e-9, abs=1e-9)


def test_depth_two_needs_a_loss_below_1e_minus_4000():
    x = np.array(M.SINGLE_POINT)
    needed = M.loss_needed(x, depth=2, alpha=1.0, distance=0.1)
    assert -4700 < needed < -4000
    # the flow itself: still > 0.1 away at 1e-4000, within it at the level found
    before = M.direction_at_loss(x[None, :], depth=2, alpha=1.0, log10_loss=-4000.0)
    at = M.direction_at_loss(x[None, :], depth=2, alpha=1.0, log10_loss=needed)
    assert np.linalg.norm(before - [1, 0]) > 0.1
    assert np.linalg.norm(at - [1, 0]) == pytest.approx(0.1, abs=1e-8)
    # closed form check of the estimate log10(1/eps) ~ alpha^2 10^{1/(1-r)} / ln 10 (r = 3/4)
    assert abs(-needed / (1e4 / math.log(10)) - 1) < 0.1


@pytest.mark.parametrize(("depth", "alpha", "t_end"), [(2, 0.3, 1e3), (3, 1.0, 1e5)])
def test_rescaled_flow_is_the_networks_gradient_flow(depth, alpha, t_end):
    out = M._network_check(depth, alpha, t_end, X)
    assert out["log10_loss"] < -3  # a real piece of training, not the start
    assert out["gap"] < 1e-8


def test_flow_is_monotone_in_the_level_and_deterministic():
    a = M.flow_to_loss(X, depth=3, alpha=1.0, log10_loss=-50.0)
    b = M.flow_to_loss(X, depth=3, alpha=1.0, log10_loss=-500.0)
    assert a.tau < b.tau and a.min_margin < b.min_margin
    again = M.flow_to_loss(X, depth=3, alpha=1.0, log10_loss=-500.0)
    assert np.array_equal(b.direction, again.direction)
    # the min margin tracks log(1/eps) up to log n
    assert abs(b.min_margin - 500 * math.log(10)) < math.log(X.shape[0]) + 1e-9


def test_tiny_alpha_and_extreme_levels_stay_finite():
    # alpha^D = 1e-40 at depth 4 and a loss of 1e-1000000: no overflow, no NaN
    level = M.flow_to_loss(X, depth=4, alpha=1e-10, log10_loss=-1e6)
    assert np.all(np.isfinite(level.direction)) and np.isfinite(level.norm)
    level = M.flow_to_loss(X, depth=2, alpha=1e-100, log10_loss=-10000.0)
    assert np.all(np.isfinite(level.direction))


def test_bad_inputs_are_refused():
    with pytest.raises(InputError, match="log10_loss"):
        M.flow_to_loss(X, depth=2, alpha=1.0, log10_loss=1.0)  # above log10(n)
    with pytest.raises(InputError, match="depth"):
        M.flow_to_loss(X, depth=1.5, alpha=1.0, log10_loss=-1.0)
    with pytest.raises(InputError, match="alpha"):
        M.flow_to_loss(X, depth=2, alpha=0.0, log10_loss=-1.0)
    with pytest.raises(InputError, match="overflows"):
        M.flow_to_loss(X, depth=4, alpha=1e-200, log10_loss=-1.0)
    with pytest.raises(InputError, match="separable"):
        M.flow_to_loss(np.array([[1.0, 0.0], [-1.0, 0.0]]), depth=2, alpha=1.0, log10_loss=-1)
    with pytest.raises(NonFiniteError):
        M.flow_to_loss(np.array([[np.nan, 1.0]]), depth=2, alpha=1.0, log10_loss=-1.0)
    with pytest.raises(ShapeError):
        M.flow_to_loss(np.ones(3), depth=2, alpha=1.0, log10_loss=-1.0)
    with pytest.raises(InputError, match="positive"):
        M.single_point_direction([1.0, -1.0], depth=2, alpha=1.0, log10_loss=-3)


# -- the claims ---------------------------------------------------------------------------------
# -- the claims of the module docstring, with their conditions ---------------------------------
def test_single_point_distance_decays_like_a_power_of_the_ratio():
    """D = 2, x = (1, 0.75): |u - e1| r^(1/4) -> 1 with r = log(1/eps)/alpha^2, the same at
    alpha = 1 and 0.01 (closed form): the direction is a function of r, approached like
    r^-gamma, gamma = 1 - 0.75."""
    x = np.array([1.0, 0.75])
    for alpha in (1.0, 0.01):
        scaled = []
        for r in (1e2, 1e4, 1e8, 1e16):
            level = -r * alpha**2 / math.log(10.0)
            u = M.single_point_direction(x, depth=2, alpha=alpha, log10_loss=level)
            scaled.append(np.linalg.norm(u - [1.0, 0.0]) * r**0.25)
        np.testing.assert_allclose(scaled, [1.0149, 1.0146, 1.0018, 1.0000], atol=2e-4)


def _dist_l1(depth, alpha, log10_loss, X=None):
    X = M.problem() if X is None else X
    u = M.direction_at_loss(X, depth=depth, alpha=alpha, log10_loss=log10_loss)
    return float(np.linalg.norm(u - rf.convex.max_margin(X, "l1")))


def test_a_large_ratio_through_a_small_alpha_is_not_the_l1_direction():
    """alpha = 1e-3, eps = 1e-8: ratio 1.8e7 at D = 2, yet 0.24 from l1 (0.51 at D = 3);
    at eps = 1e-10000 (ratio 2.3e10) it is farther, 0.27."""
    assert _dist_l1(2, 1e-3, -8.0) == pytest.approx(0.238, abs=2e-3)
    assert _dist_l1(3, 1e-3, -8.0) == pytest.approx(0.514, abs=2e-3)
    assert _dist_l1(2, 1e-3, -1e4) == pytest.approx(0.266, abs=2e-3)


def test_l1_threshold_grows_like_a_high_power_of_one_over_alpha_squared():
    """The first loss with |u - l1| <= 0.1 (D = 2): log10(1/eps*) = 6.5e3, 2.45e5, 4.81e7
    at alpha = 0.2, 0.15, 0.1 (bracketed within 10%), so log log(1/eps*) grows like
    kappa log(1/alpha^2) with kappa ~ 6.3-6.5, not 1."""
    crossings = {0.2: 6.5e3, 0.15: 2.45e5, 0.1: 4.81e7}
    for alpha, level in crossings.items():
        assert _dist_l1(2, alpha, -0.9 * level) > 0.1 > _dist_l1(2, alpha, -1.1 * level)
    a = np.array(list(crossings))
    logs = np.log(np.array(list(crossings.values())) * math.log(10.0))
    kappa = np.diff(logs) / np.diff(np.log(1.0 / a**2))
    assert np.all((kappa > 6.0) & (kappa < 7.0)), kappa


def test_the_distance_to_l1_is_not_monotone_along_the_flow():
    d = [_dist_l1(2, 0.2, level) for level in (-3.0, -10.0, -100.0)]
    assert d[1] > d[0] + 0.01 and d[1] > d[2] + 0.01, d


def test_quick_run_agrees_with_every_claim(quick):
    table = M.compare(quick)
    assert len(table) == 9
    assert table["agrees"].all(), table.to_string()


def test_quick_run_numbers(quick):
    grid = quick[quick["kind"] == "grid"].set_index(["depth", "alpha", "log10_loss"])
    # depth 2, alpha = 1: the distance to l1 falls monotonically with eps
    d1 = grid.loc[(2, 1.0)]["dist_l1"].sort_index(ascending=False).to_numpy()
    assert np.all(np.diff(d1) < 0)
    # kernel end: alpha = 10 at 1e-100 is the l2 direction to a few percent
    assert grid.loc[(2, 10.0, -100.0), "dist_l2"] < 0.05
    assert grid.loc[(3, 10.0, -100.0), "dist_l2"] < 0.01  # measured 0.004
    # depth 3, small alpha: the direction settles away from l1 (not the rich limit)
    settled = grid.loc[(3, 0.3)]["dist_l1"]
    assert settled.loc[-10000.0] == pytest.approx(settled.loc[-1000.0], abs=1e-3)
    assert settled.loc[-10000.0] > 0.2
    net = quick[quick["kind"] == "network"]
    assert len(net) == 2 and (net["gap"] < 1e-8).all()


def test_plot_draws_every_panel(quick):
    fig = M.plot(quick)
    assert len(fig.axes) == 3
    assert all(len(ax.lines) > 0 for ax in fig.axes)

"""Losses that switch at declared times (mini-batch schedules): the flows integrate from
one switch to the next, and the joint-flow potential reuses its dual solves (anchors)."""

import numpy as np
import pytest

import riemflow as rf


@pytest.fixture(scope="module")
def setting():
    u0, v0 = np.array([0.7, 0.2, 1.1]), np.array([0.4, 0.9, 0.3])
    G, x0 = rf.models.diagonal_network(3, depth=2, init=(u0, v0))
    rng = np.random.default_rng(0)
    full = rf.losses.squared(rng.standard_normal((6, 3)), rng.standard_normal(6))
    batches = [full.subset(rng.choice(6, 2, replace=False)) for _ in range(4)]
    schedule = rf.losses.piecewise(batches, [0.3, 0.6, 0.9])

    @rf.losses.time_dependent
    def undeclared(w, t):
        return batches[min(int(t / 0.3), 3)](w)

    return G, x0, schedule, undeclared


def test_piecewise_losses_and_declared_switch_times():
    full = rf.losses.squared(np.eye(2), np.array([1.0, -1.0]))
    L = rf.losses.piecewise([full.subset([0]), full.subset([1]), full], [0.5, 1.0])
    assert rf.losses.is_time_dependent(L) and L.switch_times.tolist() == [0.5, 1.0]
    assert rf.losses.at_time(L, 0.5) is L.pieces[1]  # right-continuous; a DataLoss
    assert rf.losses.at_time(L, 7.0) is full
    assert rf.losses.switch_times(full).size == 0
    declared = rf.losses.time_dependent(switch_times=[1.0])(lambda w, t: w[0] * (t >= 1.0))
    assert declared.switch_times.tolist() == [1.0]
    with pytest.raises(rf.errors.InputError, match="switch_times"):
        rf.losses.piecewise([full, full], [0.5, 1.0])
    with pytest.raises(rf.errors.InputError, match="increasing"):
        rf.losses.time_dependent(lambda w, t: 0.0, switch_times=[1.0, 0.5])
    with pytest.raises(rf.errors.NotCallableError, match="losses"):
        rf.losses.piecewise([full, L], [0.5])


def test_segmented_flows_agree_with_unsegmented_ones_at_a_fraction_of_the_cost(setting):
    """The same mirror and gradient flows with and without the declared switch times:
    between switches both integrate the same smooth problem; without them, steps that
    straddle a jump are rejected until the jump is resolved (global error ~ 1e-11 at rtol
    1e-12 on this problem)."""
    G, x0, schedule, undeclared = setting
    R = rf.mirror_potential(G, x0)
    w0 = G(x0)
    span = (0.0, 1.2)
    plain = rf.mirror_flow(R, undeclared, w0, span, rtol=1e-12)
    segmented = rf.mirror_flow(R, schedule, w0, span, rtol=1e-12)
    assert np.max(np.abs(segmented.w_final - plain.w_final)) < 1e-9
    assert segmented.n_evaluations < plain.n_evaluations / 2
    also = rf.mirror_flow(R, undeclared, w0, span, rtol=1e-12, switch_times=[0.3, 0.6, 0.9])
    np.testing.assert_allclose(also.w_final, segmented.w_final, rtol=1e-12)
    gf = rf.gradient_flow(G, schedule, x0, span, rtol=1e-12)
    assert np.max(np.abs(gf.w_final - segmented.w_final)) < 1e-9
    # recorded times, including the switch times themselves, once each and in order
    grid = np.linspace(0.0, 1.2, 9)
    traj = rf.mirror_flow(R, schedule, w0, span, t_eval=grid, rtol=1e-12)
    np.testing.assert_array_equal(traj.t, grid)
    np.testing.assert_allclose(traj.w[-1], segmented.w_final, rtol=1e-10)
    assert np.isclose(traj.loss[3], schedule(traj.w[3], grid[3]))  # t = 0.45: second piece


def test_joint_flow_potential_under_a_switching_loss(setting):
    """The joint-flow potential (no closed form, no structure) under the schedule: the
    flow of the closed form, with about as many solves as right-hand sides."""
    G, x0, schedule, _ = setting
    w0 = G(x0)
    R = rf.mirror_potential(G, x0, closed_form=False, structure=None)
    assert R.report.route == "joint flow"
    traj = rf.mirror_flow(R, schedule, w0, (0.0, 1.2), rtol=1e-12)
    exact = rf.mirror_flow(rf.mirror_potential(G, x0), schedule, w0, (0.0, 1.2), rtol=1e-12)
    assert np.max(np.abs(traj.w_final - exact.w_final)) < 1e-9
    assert R.report.cost.solves < 1.2 * traj.n_evaluations


def test_anchored_solves_do_not_depend_on_what_was_evaluated_before(setting):
    """A dual point's value is one solve from its lattice anchor, itself one solve from
    x_init: the same bits whatever came first, and equal to the unanchored solve (local)
    and the closed form to the ODE tolerance."""
    G, x0, _, _ = setting
    rng = np.random.default_rng(2)
    mus = 0.3 * rng.uniform(-1, 1, size=(6, 3))
    first = rf.mirror_potential(G, x0, closed_form=False, structure=None)
    forward = np.array([first.grad_conjugate(m) for m in mus])
    second = rf.mirror_potential(G, x0, closed_form=False, structure=None)
    backward = np.array([second.grad_conjugate(m) for m in mus[::-1]])[::-1]
    np.testing.assert_array_equal(forward, backward)
    exact = rf.mirror_potential(G, x0).grad_conjugate(mus)
    np.testing.assert_allclose(forward, exact, rtol=1e-10)
    path = rf.mirror_potential(G, x0, closed_form=False, structure=None, local=True)
    np.testing.assert_allclose(path.grad_conjugate(mus), exact, rtol=1e-10)
    np.testing.assert_allclose(
        first.conjugate(mus), rf.mirror_potential(G, x0).conjugate(mus), rtol=1e-10
    )

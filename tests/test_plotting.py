"""Figures: what is drawn is the data given (read back from the artists), bad input refused."""

import numpy as np
import pandas as pd
import pytest

import riemflow as rf


@pytest.fixture(scope="module")
def flows():
    G, x0 = rf.models.diagonal_network(2, alpha=0.5)
    loss = rf.losses.squared(np.eye(2), [1.0, -1.0])
    grad = rf.gradient_flow(G, loss, x0, (0.0, 2.0), t_eval=np.linspace(0, 2, 21))
    R = rf.mirror_potential(G, x0)
    mirror = rf.mirror_flow(R, loss, G(x0), (0.0, 2.0), t_eval=np.linspace(0, 2, 21))
    return grad, mirror


def test_trajectories_draw_the_data(flows):
    grad, mirror = flows
    fig = rf.plotting.trajectories([grad, mirror], ["gradient", "mirror"])
    ax_w, ax_loss = fig.axes
    lines = ax_w.get_lines()
    assert len(lines) == 4  # 2 coordinates x 2 trajectories
    np.testing.assert_array_equal(lines[0].get_xdata(), grad.t)
    np.testing.assert_array_equal(lines[0].get_ydata(), grad.w[:, 0])
    np.testing.assert_array_equal(lines[3].get_ydata(), mirror.w[:, 1])
    assert len(ax_loss.get_lines()) == 2
    assert len(grad.plot("gradient flow").axes) == 2


def test_loss_is_drawn_down_to_the_solver_accuracy_only():
    t = np.linspace(0.0, 10.0, 11)
    loss = np.array([1.0, 1e-5, 1e-10, 1e-15, 1e-19, 1e-21, 1e-23, 1e-21, 1e-20, 1e-22, 1e-21])
    traj = rf.Trajectory(t=t, w=np.zeros((11, 1)), loss=loss)
    _, ax_loss = rf.plotting.trajectories(traj).axes
    drawn, floor = ax_loss.get_lines()
    # round-off climbing back up after the loss reached 1e-20 * max is not drawn
    np.testing.assert_array_equal(drawn.get_ydata(), loss[:5])
    assert floor.get_ydata()[0] == 1e-20 and floor.get_label() == "solver accuracy"
    _, everything = rf.plotting.trajectories(traj, loss_floor=0.0).axes
    np.testing.assert_array_equal(everything.get_lines()[0].get_ydata(), loss)
    with pytest.raises(rf.errors.InputError, match="loss_floor"):
        rf.plotting.trajectories(traj, loss_floor=-1.0)


def test_figures_are_sized_for_a_text_column(flows):
    for fig in (
        rf.plotting.trajectories(flows[0]),
        rf.plotting.potential(rf.potentials.negative_entropy(2), center=np.ones(2)),
    ):
        assert fig.get_size_inches()[0] == rf.plotting.WIDTH


def test_potential_slices_match_R(flows):
    R = rf.potentials.negative_entropy(2)
    fig = rf.plotting.potential(R, center=np.array([1.0, 1.0]), width=2.0, n=41)
    line = fig.axes[0].get_lines()[0]
    w = np.stack([line.get_xdata(), np.ones(line.get_xdata().size)], axis=1)
    assert np.all(w[:, 0] > 0)  # clipped to the domain w > 0
    np.testing.assert_allclose(line.get_ydata(), R(w), rtol=1e-14)


def test_sweep_figure_has_a_line_per_hue_and_a_band_over_seeds():
    df = pd.DataFrame(
        {
            "alpha": [0.1, 1.0] * 4,
            "depth": [2, 2, 3, 3] * 2,
            "seed": [0] * 4 + [1] * 4,
            "gap": [1, 2, 3, 4, 3, 4, 5, 6],
        }
    )
    fig = rf.plotting.sweep(df, "alpha", "gap", hue="depth", logx=True)
    (axis,) = fig.axes
    means = [line.get_ydata().tolist() for line in axis.get_lines()]
    assert means == [[2.0, 3.0], [4.0, 5.0]]
    assert len(axis.collections) == 2  # the min-max bands over seeds


@pytest.mark.parametrize(
    "call, error, match",
    [
        (lambda: rf.plotting.trajectories([]), rf.errors.InputError, "trajs"),
        (lambda: rf.plotting.potential("R"), rf.errors.InputError, "R"),
        (
            lambda: rf.plotting.potential(rf.potentials.negative_entropy(2), center=[1.0]),
            rf.errors.ShapeError,
            "center",
        ),
        (
            lambda: rf.plotting.sweep(pd.DataFrame({"a": [1]}), "a", "b"),
            rf.errors.InputError,
            "columns",
        ),
    ],
)
def test_bad_input(call, error, match):
    with pytest.raises(error, match=match):
        call()

"""Matplotlib figures of trajectories, potentials and sweeps.

Every function returns a `matplotlib.figure.Figure` (or draws on the `ax` it is given) and
never shows or saves it: call `fig.savefig(path)` when you want a file. matplotlib is
imported on first use, so `import riemflow` does not pay for it.

New figures are `WIDTH` inches wide whatever their number of panels, the width of a text
column (a page of the docs, a paper's column at 10 pt), so that they are shown at their
own size and their text at the size matplotlib was asked for. Labels use mathtext.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ._validation import as_positive_int
from .errors import InputError, ShapeError

__all__ = ["trajectories", "potential", "sweep", "panels", "WIDTH"]

#: width of a new figure, in inches (its panels share it)
WIDTH = 6.8
#: losses below this times the largest one are the solver's round-off (the square of the
#: flows' default `rtol`; see `trajectories`)
LOSS_FLOOR = 1e-20


def panels(ncols: int = 1, nrows: int = 1, *, height: float | None = None, width=WIDTH):
    """A new figure of `nrows x ncols` panels for a text column: `width` inches wide
    (default `WIDTH`) whatever the number of panels, constrained layout.

    The figures of `riemflow.experiments` are made with it; use it for your own so that a
    page or a paper shows them at their own size (text at the size it was set).

    Args:
        ncols: panels per row.
        nrows: rows of panels.
        height: in inches (default 2.9 per row).
        width: in inches.

    Returns:
        `(fig, axes)`, with `axes` as `plt.subplots` gives it: one `Axes` for one panel, an
        array of them otherwise.

    Examples:
        >>> import riemflow as rf
        >>> fig, (left, right) = rf.plotting.panels(2)
        >>> fig.get_size_inches().tolist() == [rf.plotting.WIDTH, 2.9]
        True
    """
    import matplotlib.pyplot as plt

    ncols, nrows = as_positive_int(ncols, "ncols"), as_positive_int(nrows, "nrows")
    height = 2.9 * nrows if height is None else float(height)
    fig, axes = plt.subplots(nrows, ncols, figsize=(float(width), height), constrained_layout=True)
    plt.close(fig)  # returned, not shown: no pyplot state leaks into the caller's session
    return fig, axes


def _axes(ax, ncols: int = 1, height: float = 2.9, width: float = WIDTH):
    if ax is not None:
        return ax.figure, np.atleast_1d(ax)
    fig, axes = panels(ncols, height=height, width=width)
    return fig, np.atleast_1d(axes)


def _is_trajectory(obj) -> bool:
    """A `riemflow.Trajectory`, recognised by its record fields (the `trajectory` module
    imports this one for `Trajectory.plot`, so this one does not import it)."""
    return all(hasattr(obj, field) for field in ("t", "w", "loss", "w_final"))


def trajectories(
    trajs,
    labels: Sequence[str] | None = None,
    *,
    coordinates=None,
    loss_floor: float | None = None,
    ax=None,
):
    """`w(t)` and the loss of one or several trajectories, on shared time axes.

    One color per coordinate of `w`, one line style per trajectory (solid, dashed, dotted,
    dash-dotted), so that coinciding curves (gradient flow and mirror flow) read as the
    equivalence they show.

    The loss of each trajectory is drawn on a log scale until it first falls below
    `loss_floor`, which is marked by a gray line: below it the values are the solver's
    round-off, not the flow (a converging flow's computed loss settles there and wanders
    up and down). The default, `1e-20` times the largest loss drawn, is what a relative
    error of `1e-10` in `w` (the flows' default `rtol`) leaves of a loss that is quadratic
    at its minimum.

    Args:
        trajs: a `Trajectory` or a sequence of them (e.g. gradient flow and mirror flow).
        labels: one label per trajectory, mathtext allowed (default "0", "1", ...).
        coordinates: indices of `w` to draw (default all, up to 6).
        loss_floor: the smallest loss drawn (default: see above; `0` draws every positive
            value).
        ax: two matplotlib axes `(w, loss)` to draw on (default a new figure, `WIDTH`
            inches wide).

    Returns:
        The figure.

    Examples:
        >>> import numpy as np, riemflow as rf
        >>> G, x0 = rf.models.diagonal_network(2, alpha=0.5)
        >>> loss = rf.losses.squared(np.eye(2), [1.0, -1.0])
        >>> traj = rf.gradient_flow(G, loss, x0, (0, 2))
        >>> len(rf.plotting.trajectories(traj).axes)
        2
    """
    trajs = [trajs] if _is_trajectory(trajs) else list(trajs)
    if not trajs or not all(_is_trajectory(t) for t in trajs):
        raise InputError("`trajs` must be a Trajectory or a sequence of them", argument="trajs")
    labels = [str(i) for i in range(len(trajs))] if labels is None else list(labels)
    if len(labels) != len(trajs):
        raise ShapeError(f"{len(labels)} labels for {len(trajs)} trajectories", argument="labels")
    d = trajs[0].w.shape[1]
    coords = list(range(min(d, 6))) if coordinates is None else [int(c) for c in coordinates]
    if any(not 0 <= c < d for c in coords):
        raise InputError(
            f"`coordinates` must be indices < {d}; got {coords}", argument="coordinates"
        )
    from matplotlib.lines import Line2D

    largest = max(float(np.max(t.loss, initial=0.0)) for t in trajs)
    floor = LOSS_FLOOR * largest if loss_floor is None else float(loss_floor)
    if not np.isfinite(floor) or floor < 0:
        raise InputError(
            f"`loss_floor` must be a finite number >= 0; got {loss_floor!r}", argument="loss_floor"
        )
    fig, (ax_w, ax_loss) = _axes(ax, ncols=2)
    styles = ["-", "--", ":", "-."]
    clipped = False
    for k, (traj, label) in enumerate(zip(trajs, labels, strict=True)):
        style = styles[k % len(styles)]
        for j, c in enumerate(coords):
            ax_w.plot(traj.t, traj.w[:, c], style, color=f"C{j}")
        below = np.flatnonzero(~(traj.loss > floor))  # also NaN: nothing drawn past it
        end = below[0] if below.size else traj.t.size
        clipped |= end < traj.t.size
        ax_loss.semilogy(traj.t[:end], traj.loss[:end], style, color="k", label=label)
    if clipped and floor > 0:
        ax_loss.axhline(floor, color="0.6", lw=0.8, label="solver accuracy")
    keys = [Line2D([], [], color=f"C{j}", label=f"$w_{{{c}}}$") for j, c in enumerate(coords)]
    ax_w.legend(handles=keys, fontsize=8, ncol=2 if len(coords) > 3 else 1)
    ax_w.set_xlabel("$t$")
    ax_w.set_ylabel("$w(t)$")
    ax_loss.set_xlabel("$t$")
    ax_loss.set_ylabel("$L(w(t))$")
    ax_loss.legend(fontsize=8)
    return fig


def potential(R, *, center=None, width: float = 1.0, n: int = 201, ax=None):
    """`R` and `grad R` along each coordinate axis through `center` (slices of a
    `d`-dimensional potential), clipped to its domain.

    Args:
        R: a `Legendre`.
        center: the point the slices go through (default the domain's center).
        width: half-length of the slices.
        n: points per slice.
        ax: two axes `(R, grad R)` to draw on.

    Examples:
        >>> import riemflow as rf
        >>> len(rf.plotting.potential(rf.potentials.hyperbolic_entropy(2, 0.3)).axes)
        2
    """
    from .legendre import Legendre

    if not isinstance(R, Legendre):
        raise InputError(f"`R` must be a riemflow Legendre; got {type(R).__name__}", argument="R")
    n = as_positive_int(n, "n")
    c = np.asarray(R.domain.center() if center is None else center, dtype=np.float64)
    if c.shape != (R.dim,):
        raise ShapeError(f"`center` must have shape ({R.dim},); got {c.shape}", argument="center")
    fig, (ax_r, ax_g) = _axes(ax, ncols=2)
    s = np.linspace(-width, width, n)
    for i in range(min(R.dim, 6)):
        points = np.repeat(c[None, :], n, axis=0)
        points[:, i] += s
        inside = np.asarray(R.domain.contains(points), dtype=bool)
        if not inside.any():
            continue
        pts = points[inside]
        ax_r.plot(pts[:, i], R(pts), color=f"C{i}", label=f"along $w_{{{i}}}$")
        ax_g.plot(pts[:, i], R.grad(pts)[:, i], color=f"C{i}")
    ax_r.set_xlabel("$w_i$")
    ax_r.set_ylabel("$R(w)$")
    ax_r.set_title(R.name, fontsize=9)
    ax_r.legend(fontsize=8)
    ax_g.set_xlabel("$w_i$")
    ax_g.set_ylabel(r"$\partial_i R$")
    return fig


def sweep(
    df, x: str, y: str, *, hue: str | None = None, logx: bool = False, logy: bool = False, ax=None
):
    """One line per value of `hue`: `y` against `x` from a sweep's DataFrame (the mean over
    the other columns, e.g. seeds, with their min-max band when there are several).

    Examples:
        >>> import pandas as pd, riemflow as rf
        >>> df = pd.DataFrame({"alpha": [0.1, 1.0, 0.1, 1.0], "depth": [2, 2, 3, 3],
        ...                    "gap": [0.1, 0.5, 0.05, 0.4]})
        >>> len(rf.plotting.sweep(df, "alpha", "gap", hue="depth", logx=True).axes)
        1
    """
    missing = [c for c in (x, y, hue) if c is not None and c not in df.columns]
    if missing:
        raise InputError(
            f"columns {missing} are not in the DataFrame (it has {list(df.columns)})", argument="df"
        )
    fig, (axis,) = _axes(ax, height=3.2, width=0.7 * WIDTH)
    groups = [(None, df)] if hue is None else list(df.groupby(hue, sort=True))
    for k, (key, group) in enumerate(groups):
        stats = group.groupby(x)[y].agg(["mean", "min", "max"]).sort_index()
        label = None if hue is None else f"{hue} = {key}"
        axis.plot(stats.index, stats["mean"], "o-", color=f"C{k}", label=label)
        if (stats["max"] > stats["min"]).any():
            axis.fill_between(stats.index, stats["min"], stats["max"], color=f"C{k}", alpha=0.2)
    axis.set_xscale("log" if logx else "linear")
    axis.set_yscale("log" if logy else "linear")
    axis.set_xlabel(x)
    axis.set_ylabel(y)
    if hue is not None:
        axis.legend(fontsize=8)
    return fig

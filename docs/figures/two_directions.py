"""Home page figure: the two directions on one example (run by markdown-exec at build).

`w = u*u` on the unit sphere `S^2` (positive octant) is a commuting parametrization of the
open simplex: its gradient flow is the mirror flow of the simplex entropy over 4 (the
forward direction), and the sphere of radius 2 is the isometric embedding of that
entropy's Hessian metric (the converse). Both flows are computed by riemflow; the grid is
the joint flow `psi(x_init; mu)` in closed form (`grad R(w) - grad R(w0) = mu`).
"""

import io

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.patches import FancyArrowPatch

import riemflow as rf

G, u0 = rf.models.simplex_sphere(2)
w0 = G(u0)
R = rf.potentials.simplex_entropy(2).scaled(0.25)
loss = rf.losses.squared(np.array([[1.0, -2.0]]), np.array([0.45]))
times = np.linspace(0.0, 3.0, 200)
flow = rf.gradient_flow(G, loss, u0, (0.0, 3.0), t_eval=times)
mirror = rf.mirror_flow(R, loss, w0, (0.0, 3.0), t_eval=times)


def joint_flow(mu):
    """psi(u0; mu) on the sphere: the point whose w has grad R(w) = grad R(w0) + mu."""
    e = np.concatenate([w0 * np.exp(4 * mu), [1 - w0.sum()]])
    return np.sqrt(e / e.sum())


VIEW = np.array([[-0.62, 0.78, 0.0], [-0.36, -0.29, 0.89]])  # orthographic projection


def seen(u):
    return np.asarray(u) @ VIEW.T


def draw():
    fig = plt.figure(figsize=(rf.plotting.WIDTH, 3.3))
    sphere = fig.add_axes([0.0, 0.02, 0.34, 0.78])
    simplex = fig.add_axes([0.68, 0.09, 0.30, 0.70])
    s = np.linspace(-0.7, 0.7, 60)
    for i, color in ((0, "C0"), (1, "C1")):  # flow lines of X_1 (blue) and X_2 (orange)
        for c in np.linspace(-0.45, 0.45, 7):
            mus = np.zeros((s.size, 2))
            mus[:, i], mus[:, 1 - i] = s, c
            points = np.array([joint_flow(m) for m in mus])
            sphere.plot(*seen(points).T, color=color, lw=0.6, alpha=0.7)
            simplex.plot(*(points[:, :2] ** 2).T, color=color, lw=0.6, alpha=0.7)
    t = np.linspace(0, np.pi / 2, 50)
    for a, b in ((0, 1), (1, 2), (0, 2)):  # the octant's edges
        arc = np.zeros((t.size, 3))
        arc[:, a], arc[:, b] = np.cos(t), np.sin(t)
        sphere.plot(*seen(arc).T, color="0.4", lw=0.8)
    simplex.plot([0, 1, 0, 0], [0, 0, 1, 0], color="0.4", lw=0.8)
    sphere.plot(*seen(flow.x).T, color="k", lw=1.8)
    sphere.plot(*seen(u0), "ko", ms=4)
    simplex.plot(*mirror.w.T, color="k", lw=1.8)
    simplex.plot(*w0, "ko", ms=4)
    for i, color, label in ((0, "C0", r"$X_1$"), (1, "C1", r"$X_2$")):  # the fields at x_init
        tip = seen(joint_flow(0.25 * np.eye(2)[i]))
        sphere.annotate("", tip, seen(u0), arrowprops={"arrowstyle": "-|>", "color": color})
        sphere.text(*tip + [0.02, -0.09 if i == 0 else 0.02], label, color=color, fontsize=10)
    sphere.text(*seen(u0) + [0.03, 0.04], r"$x_{\mathrm{init}}$", fontsize=10)
    sphere.text(*seen(flow.x[-1]) + [-0.05, 0.05], r"$x(t)$", fontsize=10)
    simplex.text(*w0 + [0.03, 0.03], r"$w_0$", fontsize=10)
    simplex.text(*mirror.w[-1] + [0.04, -0.02], r"$w(t)$", fontsize=10)
    simplex.text(0.55, 0.55, r"$\Omega$", fontsize=11)
    for ax in (sphere, simplex):
        ax.set_aspect("equal")
        ax.axis("off")
    simplex.set(xlim=(-0.05, 1.05), ylim=(-0.05, 1.05))

    def text(x, y, s, **kwargs):
        fig.text(x, y, s, ha="center", fontsize=10, **kwargs)

    text(0.17, 0.95, "gradient flow on a manifold", weight="bold")
    text(0.17, 0.86, r"$\dot x = -\mathrm{grad}\,(L\circ G)(x)$ on $M$")
    fig.text(0.05, 0.08, r"$M = S^2$", fontsize=11)
    text(0.83, 0.95, "mirror flow", weight="bold")
    text(0.83, 0.86, r"$\frac{d}{dt}\nabla R(w) = -\nabla L(w)$ on $\Omega$")
    arrow = {"arrowstyle": "-|>", "mutation_scale": 12, "lw": 1.2, "color": "k"}
    for start, end in (((0.37, 0.62), (0.64, 0.62)), ((0.64, 0.30), (0.37, 0.30))):
        fig.patches.append(FancyArrowPatch(start, end, transform=fig.transFigure, **arrow))
    text(0.505, 0.73, "forward theorem", weight="bold")
    text(0.505, 0.66, r"$G$ commuting $\Rightarrow$ $R = Q^*$")
    text(0.505, 0.53, r"$\nabla Q(\mu) = G(\psi(x_{\mathrm{init}};\mu))$")
    text(0.505, 0.41, "converse (Nash)", weight="bold")
    text(0.505, 0.34, r"$dF^\top dF = \nabla^2 R$ on $\Omega$")
    text(0.505, 0.21, r"$M = F(\Omega) \subset \mathbb{R}^D,\ G = F^{-1}$")
    return fig


with plt.rc_context({"mathtext.fontset": "cm"}):  # math in the page's (MathJax's) font
    figure = draw()
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg")
plt.close(figure)
print(buffer.getvalue())

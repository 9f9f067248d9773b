"""Concepts figure: two flows composed in both orders (run by markdown-exec at build).

Left, G(x) = (x1^2, x2^2) / 2: X_1 = (x1, 0) and X_2 = (0, x2) commute, the two paths end
at the same point, and the flow lines form the grid of coordinates mu of psi(x; mu).
Right, G(x) = (x1, x1 x2): X_1 = (1, 0), X_2 = (x2, x1), [X_1, X_2] = (0, 1); the paths miss
each other by s^2 [X_1, X_2] + O(s^3). The flows are in closed form; the brackets are
riemflow's.
"""

import io

import autograd.numpy as anp
import matplotlib.pyplot as plt
import numpy as np

import riemflow as rf

S = 0.5  # time along each field
x0 = np.array([0.5, 0.4])


def diagonal(x, i, s):  # flow of X_i = x_i e_i
    y = np.array(x, dtype=float)
    y[..., i] = y[..., i] * np.exp(s)
    return y


def chain(x, i, s):  # flows of X_1 = (1, 0) and X_2 = (x2, x1)
    x = np.asarray(x, dtype=float)
    if i == 0:
        return x + [s, 0.0]
    c, h = np.cosh(s), np.sinh(s)
    return np.array([c * x[0] + h * x[1], h * x[0] + c * x[1]])


models = {
    "commuting": (
        rf.Parametrization(lambda x: anp.stack([x[..., 0] ** 2, x[..., 1] ** 2], -1) / 2, 2),
        diagonal,
        r"$G = (x_1^2, x_2^2)/2$",
    ),
    "not commuting": (
        rf.Parametrization(lambda x: anp.stack([x[..., 0], x[..., 0] * x[..., 1]], -1), 2),
        chain,
        r"$G = (x_1, x_1 x_2)$",
    ),
}


def path(flow, x, first, second, n=40):
    s = np.linspace(0.0, S, n)
    leg1 = np.array([flow(x, first, t) for t in s])
    leg2 = np.array([flow(leg1[-1], second, t) for t in s])
    return np.concatenate([leg1, leg2])


def draw():
    fig, axes = rf.plotting.panels(2, height=3.1)
    for ax, (title, (G, flow, label)) in zip(axes, models.items(), strict=True):
        for c in np.linspace(-1.0, 1.5, 11):  # flow lines of X_i through those of X_j
            for i, color in ((0, "C0"), (1, "C1")):
                start = flow(x0, 1 - i, c)
                line = np.array([flow(start, i, t) for t in np.linspace(-3, 3, 120)])
                ax.plot(*line.T, color=color, lw=0.5, alpha=0.4)
        one_two, two_one = path(flow, x0, 0, 1), path(flow, x0, 1, 0)
        ax.plot(*one_two.T, color="C0", lw=2, label=r"$X_1$ then $X_2$")
        ax.plot(*two_one.T, color="C1", lw=2, ls="--", label=r"$X_2$ then $X_1$")
        ax.plot(*x0, "ko", ms=4)
        ax.text(*x0 + [-0.05, -0.12], "$x$", fontsize=11)
        gap = one_two[-1] - two_one[-1]
        bracket = G.lie_brackets(x0)[0, 1]  # [X_1, X_2](x) by autograd
        if np.linalg.norm(gap) > 1e-9:
            ax.annotate("", one_two[-1], two_one[-1], arrowprops={"arrowstyle": "-|>"})
            predicted = ", ".join(f"{v:.2f}" for v in S**2 * bracket)
            note = rf"gap $({gap[0]:.2f}, {gap[1]:.2f})$" "\n" rf"$s^2[X_1, X_2] = ({predicted})$"
        else:
            note = f"same end point\n(gap {np.linalg.norm(gap):.0e})"
        ax.text(0.97, 0.04, note, transform=ax.transAxes, ha="right", fontsize=9)
        ax.set_title(f"{title}: {label}", fontsize=10)
        ax.set(xlabel="$x_1$", ylabel="$x_2$", xlim=(0.2, 1.7), ylim=(0.2, 1.2))
        ax.set_aspect("equal")
    axes[0].legend(fontsize=9, loc="upper left")
    return fig


figure = draw()
buffer = io.StringIO()
figure.savefig(buffer, format="svg")
plt.close(figure)
print(buffer.getvalue())

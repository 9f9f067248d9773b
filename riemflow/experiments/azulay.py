"""Azulay, Moroshko, Nacson, Woodworth, Srebro, Globerson, Soudry, *On the Implicit Bias of
Initialization Shape: Beyond Infinitesimal Mirror Descent*, ICML 2021.

The model $w = u_+ \\odot v_+ - u_- \\odot v_-$ with $|u_0| = \\sqrt{\\alpha (1-s)/(1+s)}$,
$|v_0| = \\sqrt{\\alpha (1+s)/(1-s)}$ in both halves, so $u_0 v_0 = \\alpha$ (the scale) and
$s \\in [0, 1)$ is the *shape*: $s = 0$ is balanced, $s \\to 1$ puts all the weight in one
layer. Claim reproduced: at a fixed scale $\\alpha$ the limit of gradient flow moves from the
rich (minimum-$\\ell_1$) toward the kernel (minimum-$\\ell_2$) regime as $s \\to 1$.

The potential ([Concepts: closed forms for diagonal
networks](concepts.md#closed-forms-for-diagonal-networks), "w = u*v"): along gradient flow $u_i^2 -
v_i^2$ is conserved, and $w_i = \\kappa_i \\sinh(2\\mu_i)$ with $\\kappa_i = u_{0,i}^2 + v_{0,i}^2 =
2\\alpha(1+s^2)/(1-s^2)$, so the limit is $\\arg\\min\\{R(w) : Xw = y\\}$ with $\\nabla R(w) =
\\tfrac12 \\operatorname{arcsinh}(w/\\kappa)$. The paper writes its regularizer as $Q_k(\\beta) =
\\sum_i \\frac{\\sqrt{k_i}}{4}\\big[1 - \\sqrt{1 + 4\\beta_i^2/k_i} + \\frac{2\\beta_i}{\\sqrt{k_i}}
\\operatorname{arcsinh} \\frac{2\\beta_i}{\\sqrt{k_i}}\\big]$; we fix its scale from the flow,
$\\sqrt{k_i} = 2\\kappa_i$ (not checked against the paper's own normalization of $k$), and then
$Q_k$ equals riemflow's $R$ (`mirror_potential` of the model, normalized the same way: $R(0) = 0$,
$\\nabla R(0) = 0$). The shape enters only through
$\\kappa$: $(\\alpha, s)$ behaves as the balanced scale $\\alpha (1+s^2)/(1-s^2)$, which grows
without bound as $s \\to 1$.

Computed two ways: the Bregman projection `riemflow.implicit_bias` with
`riemflow.mirror_potential(G, x_init)` of the model (`models.diagonal_network(d, 2,
form="product")`), and a long gradient flow `riemflow.gradient_flow` of the same model;
the paper's $Q_k$ (`paper_potential`) is projected too. Sizes: $d = 200$, $n = 40$, a
4-sparse truth, noise variance 0.01 (the conventions of `woodworth.sparse_problem`), smaller
than Woodworth et al.'s $d = 1000$ so that the gradient flows of the $4d$ parameters run in
seconds (at $\\alpha \\ge 10^{-4}$; see `run`). Scales
$\\alpha = u_0 v_0 \\in \\{10^{-6}, 10^{-4}, 10^{-2}\\}$ (as $\\kappa = 2\\alpha$ at
$s = 0$, this $\\alpha$ plays the role of $\\alpha^2$ in Woodworth et al.'s $u^2 - v^2$) and
shapes up to $s = 1 - 10^{-6}$, where even $\\alpha = 10^{-6}$ reaches the kernel regime.
"""

from __future__ import annotations

import functools
import numbers

import autograd.numpy as anp
import numpy as np

from .. import losses, models
from .._validation import as_float_array, as_positive, as_positive_int, check_finite
from ..bregman import implicit_bias
from ..errors import InputError
from ..flows import gradient_flow
from ..forward import mirror_potential
from ..legendre import Legendre
from ..sweep import sweep
from ._claims import ClaimTable, relative_gap
from .woodworth import describe, sparse_instance

NAME = "azulay"
PAPER = (
    "S. Azulay, E. Moroshko, M. S. Nacson, B. Woodworth, N. Srebro, A. Globerson, D. Soudry, "
    "On the Implicit Bias of Initialization Shape: Beyond Infinitesimal Mirror Descent, "
    "ICML 2021"
)

SHAPES = (0.0, 0.5, 0.9, 0.99, 0.999, 0.9999, 0.99999, 0.999999)
ALPHAS = (1e-6, 1e-4, 1e-2)
#: scales where the gradient flow runs too (from alpha = 1e-6 it takes minutes per shape)
FLOW_ALPHAS = (1e-4, 1e-2)

QUICK: dict = {
    "dim": 40,
    "n_samples": 12,
    "sparsity": 2,
    "alphas": (1e-2,),
    "shapes": (0.0, 0.9, 0.999),
}

#: the tolerances compare() decides with, and why
TOLERANCES = {
    # long gradient flow (LSODA, rtol 1e-10, t = 1e4) against the Bregman projection,
    # relative max-abs gap: measured 1e-11 .. 1e-8
    "flow_vs_projection": 1e-6,
    # the projections with the paper's Q_k and with riemflow's R: the same function written
    # two ways, two dual solves to |Xw - y| <= 1e-10
    "paper_vs_riemflow": 1e-8,
    # flows from (alpha, s) and from the balanced (alpha (1+s^2)/(1-s^2), 0): two flows
    "shape_equivalence": 1e-6,
}


def _check_shape(shape) -> float:
    if isinstance(shape, bool) or not isinstance(shape, numbers.Real) or not -1 < shape < 1:
        raise InputError(
            f"`shape` must be a real number in (-1, 1); got {shape!r}", argument="shape"
        )
    return float(shape)


def shape_init(alpha: float, shape: float) -> tuple[float, float]:
    """The paper's initialization magnitudes $(u_0, v_0)$ of scale $\\alpha$ and shape $s$:
    $u_0 = \\sqrt{\\alpha(1-s)/(1+s)}$, $v_0 = \\sqrt{\\alpha(1+s)/(1-s)}$ ($u_0 v_0 = \\alpha$).

    Raises:
        InputError: `alpha <= 0` or `shape` outside (-1, 1).

    Examples:
        >>> from riemflow.experiments.azulay import shape_init
        >>> tuple(round(x, 12) for x in shape_init(2.0, 1 / 3))
        (1.0, 2.0)
    """
    alpha = as_positive(alpha, "alpha")
    s = _check_shape(shape)
    return float(np.sqrt(alpha * (1 - s) / (1 + s))), float(np.sqrt(alpha * (1 + s) / (1 - s)))


def effective_scale(alpha: float, shape: float) -> float:
    """$\\kappa = u_0^2 + v_0^2 = 2\\alpha(1+s^2)/(1-s^2)$: the only way the initialization
    enters the potential ($w = \\kappa \\sinh(2\\mu)$ along the flow; $\\sqrt{k} = 2\\kappa$).

    Examples:
        >>> from riemflow.experiments.azulay import effective_scale
        >>> effective_scale(1.0, 0.0), round(effective_scale(1.0, 0.5), 12)
        (2.0, 3.333333333333)
    """
    u0, v0 = shape_init(alpha, shape)
    return u0**2 + v0**2


def model(dim: int, alpha: float, shape: float):
    """`(G, x_init)`: $w = u_+ v_+ - u_- v_-$ (`models.diagonal_network(dim, 2,
    form="product")`) from the shape initialization, $x = (u_+, v_+, u_-, v_-)$, $w(0) = 0$.

    Examples:
        >>> from riemflow.experiments.azulay import model
        >>> G, x0 = model(3, 0.5, 0.9)
        >>> x0.shape, G(x0).tolist()
        ((12,), [0.0, 0.0, 0.0])
    """
    dim = as_positive_int(dim, "dim")
    u0, v0 = shape_init(alpha, shape)
    return models.diagonal_network(dim, 2, form="product", init=[u0, v0, u0, v0])


def paper_potential(dim: int, alpha: float, shape: float) -> Legendre:
    """The paper's regularizer $Q_k$ with $\\sqrt{k} = 2\\kappa$ (see the module docstring).

    $\\nabla Q_k(\\beta) = \\tfrac12\\operatorname{arcsinh}(2\\beta/\\sqrt{k})$,
    $\\nabla Q_k^*(\\mu) = \\tfrac{\\sqrt{k}}{2}\\sinh 2\\mu$,
    $Q_k^*(\\mu) = \\tfrac{\\sqrt{k}}{2}\\sinh^2\\mu$,
    $\\nabla^2 Q_k^*(\\mu) = \\sqrt{k}\\cosh 2\\mu$.

    Raises:
        InputError: bad `dim`, `alpha`, `shape`.

    Examples:
        >>> import numpy as np
        >>> from riemflow.experiments.azulay import paper_potential
        >>> Q = paper_potential(2, 0.1, 0.9)
        >>> w = np.array([0.3, -2.0])
        >>> bool(np.allclose(Q.grad_conjugate(Q.grad(w)), w, rtol=1e-14))
        True
    """
    dim = as_positive_int(dim, "dim")
    root_k = 2.0 * effective_scale(alpha, shape)

    def value(beta):
        z = 2.0 * beta / root_k
        # 1 - sqrt(1 + z^2) = -z^2 / (1 + sqrt(1 + z^2)): no cancellation at small z
        return (
            0.25
            * root_k
            * anp.sum(-(z**2) / (1.0 + anp.sqrt(1.0 + z**2)) + z * anp.arcsinh(z), axis=-1)
        )

    def diagonal(values):
        return values[..., :, None] * np.eye(dim)

    return Legendre(
        value,
        dim,
        grad=lambda beta: 0.5 * anp.arcsinh(2.0 * beta / root_k),
        hessian=lambda beta: diagonal(1.0 / anp.sqrt(root_k**2 + 4.0 * beta**2)),
        grad_conjugate=lambda mu: 0.5 * root_k * anp.sinh(2.0 * mu),
        conjugate=lambda mu: anp.sum(0.5 * root_k * anp.sinh(mu) ** 2, axis=-1),
        hessian_conjugate=lambda mu: diagonal(root_k * anp.cosh(2.0 * mu)),
        name=f"Azulay Q_k (alpha={alpha:g}, s={shape:g})",
        check_derivatives=False,
    )


def projection(
    X, y, alpha: float, shape: float, *, potential: str = "riemflow", tol: float = 1e-10
) -> np.ndarray:
    """The predicted limit $\\arg\\min\\{R(w) : Xw = y\\}$ (`riemflow.implicit_bias`).

    Args:
        X: `(n, d)`, `y`: `(n,)`.
        alpha: the initialization scale.
        shape: the initialization shape `s`.
        potential: `"riemflow"` (`mirror_potential(G, x_init)` of `model`) or `"paper"`
            (`paper_potential`).
        tol: feasibility tolerance of the dual solve.

    Raises:
        InputError: bad arguments. ConvergenceError: the dual solve did not reach `tol`.

    Examples:
        >>> import numpy as np
        >>> from riemflow.experiments.azulay import projection
        >>> X, y = np.array([[1.0, 2.0]]), np.array([2.0])
        >>> projection(X, y, 1e-10, 0.0).round(4).tolist()  # rich: basis pursuit (0, 1)
        [0.0, 1.0]
        >>> # the kernel regime: the minimum-l2 interpolant (0.4, 0.8)
        >>> projection(X, y, 1e-10, 1 - 1e-16).round(4).tolist()
        [0.4, 0.8]
    """
    X = check_finite(as_float_array(X, "X"), "X")
    if X.ndim != 2:
        raise InputError(f"`X` must be (n, d); got shape {X.shape}", argument="X")
    d = X.shape[1]
    if potential == "riemflow":
        G, x0 = model(d, alpha, shape)
        R = mirror_potential(G, x0)
    elif potential == "paper":
        R = paper_potential(d, alpha, shape)
    else:
        raise InputError(
            f"`potential` must be 'riemflow' or 'paper'; got {potential!r}", argument="potential"
        )
    return implicit_bias(R, X, y, np.zeros(d), tol=tol)


def flow_limit(
    X,
    y,
    alpha: float,
    shape: float,
    *,
    t_final: float = 1e4,
    rtol: float = 1e-10,
    method: str = "LSODA",
):
    """The end of a long gradient flow of `model(d, alpha, shape)` on
    $\\frac{1}{2n}|Xw - y|^2$ (`riemflow.gradient_flow`; LSODA for the stiff end).

    Returns:
        The `Trajectory` (`.w_final`, `.loss`).

    Raises:
        DivergenceError, SolverError: the integration failed (with the time reached).

    Examples:
        >>> import numpy as np
        >>> from riemflow.experiments.azulay import flow_limit
        >>> X, y = np.array([[1.0, 2.0]]), np.array([2.0])
        >>> traj = flow_limit(X, y, 0.5, 0.5, t_final=200)
        >>> bool(traj.loss[-1] < 1e-20)
        True
    """
    X = check_finite(as_float_array(X, "X"), "X")
    if X.ndim != 2:
        raise InputError(f"`X` must be (n, d); got shape {X.shape}", argument="X")
    G, x0 = model(X.shape[1], alpha, shape)
    t_final = as_positive(t_final, "t_final")
    return gradient_flow(
        G, losses.squared(X, y), x0, (0.0, t_final), t_eval=[0.0, t_final], rtol=rtol, method=method
    )


def _point(alpha, shape, dim, n_samples, sparsity, noise_var, instance, flow, equivalent, t_final):
    """One sweep point: the limit at `(alpha, shape)` up to four ways (see `run`)."""
    P, bp, l2 = sparse_instance(dim, n_samples, sparsity, noise_var, instance)
    w = projection(P.X, P.y, alpha, shape)
    rows = [{"method": "bregman", **describe(P, bp, l2, w), "gap": None, "final_loss": None}]
    w_paper = projection(P.X, P.y, alpha, shape, potential="paper")
    rows.append(
        {
            "method": "paper_potential",
            **describe(P, bp, l2, w_paper),
            "gap": relative_gap(w_paper, w),
            "final_loss": None,
        }
    )
    if not flow:
        return rows
    traj = flow_limit(P.X, P.y, alpha, shape, t_final=t_final)
    rows.append(
        {
            "method": "flow",
            **describe(P, bp, l2, traj.w_final),
            "gap": relative_gap(traj.w_final, w),
            "final_loss": float(traj.loss[-1]),
        }
    )
    if equivalent and shape != 0.0:
        balanced = alpha * (1 + shape**2) / (1 - shape**2)  # same kappa, shape 0
        twin = flow_limit(P.X, P.y, balanced, 0.0, t_final=t_final)
        rows.append(
            {
                "method": "balanced_flow",
                **describe(P, bp, l2, twin.w_final),
                "gap": relative_gap(twin.w_final, traj.w_final),
                "final_loss": float(twin.loss[-1]),
            }
        )
    return rows


def run(
    *,
    dim: int = 200,
    n_samples: int = 40,
    sparsity: int = 4,
    noise_var: float = 0.01,
    alphas=ALPHAS,
    shapes=SHAPES,
    flow_alphas=FLOW_ALPHAS,
    equivalence_shapes=(0.9,),
    t_final: float = 1e4,
    instance: int = 0,
    store=None,
    n_jobs: int = 1,
    progress: bool = True,
):
    """The shape sweep: the limit for every `(alpha, shape)`, by projection and by flow.

    Args:
        dim: `d` of the instance (`woodworth.sparse_problem`).
        n_samples: `n` of the instance.
        sparsity: non-zeros of the truth.
        noise_var: label noise variance.
        instance: seed of the instance.
        alphas: scales $\\alpha = u_0 v_0$.
        shapes: shapes $s$.
        flow_alphas: the scales at which the gradient flow is run too (`None`: all of
            `alphas`). From $\\alpha = 10^{-6}$ the stiff flows take one to two minutes
            per shape, so the default leaves that scale to the projections.
        equivalence_shapes: shapes at which the flow is also run from the balanced
            initialization with the same $\\kappa$ (scale $\\alpha (1+s^2)/(1-s^2)$, $s = 0$).
        t_final: length of the gradient flows.
        store: results store (passed to `riemflow.sweep.sweep`, as are the next two).
        n_jobs: worker processes.
        progress: show a progress bar.

    Returns:
        A `pandas.DataFrame`: `alpha`, `shape`, the instance's parameters, `kappa`
        ($u_0^2 + v_0^2$), `method` (`bregman`: riemflow's potential; `paper_potential`;
        `flow`; `balanced_flow`), `l1`, `l2`, `excess_error`, `population_error`, `dist_bp`,
        `dist_l2` (as in `woodworth.run`), `gap` (relative max-abs gap to the `bregman` row;
        for `balanced_flow`, to the `flow` row) and `final_loss` (flows).

    Takes about 2 minutes on one core at the default sizes.
    """
    base = {
        "dim": int(dim),
        "n_samples": int(n_samples),
        "sparsity": int(sparsity),
        "noise_var": float(noise_var),
        "instance": int(instance),
    }
    flown = {float(a) for a in (alphas if flow_alphas is None else flow_alphas)}
    twins = {float(e) for e in equivalence_shapes}
    points = [
        {
            "alpha": float(a),
            "shape": float(s),
            **base,
            "flow": float(a) in flown,
            "equivalent": float(a) in flown and float(s) in twins,
        }
        for a in alphas
        for s in shapes
    ]
    fn = functools.partial(_point, t_final=float(t_final))
    df = sweep(fn, points, store=store, n_jobs=n_jobs, progress=progress, desc=NAME)
    df = df.drop(columns=["seed", "flow", "equivalent"])
    df.insert(
        2, "kappa", [effective_scale(a, s) for a, s in zip(df["alpha"], df["shape"], strict=True)]
    )
    df.attrs.update(t_final=float(t_final))
    return df


def compare(df):
    """The paper's claims next to riemflow's numbers."""

    tol = TOLERANCES
    claims = ClaimTable()
    claim = claims.add

    breg = df[df["method"] == "bregman"]
    for alpha, sub in breg.groupby("alpha"):
        sub = sub.sort_values("shape")
        steps = np.diff(sub["l1"].to_numpy())
        first, last = sub.iloc[0], sub.iloc[-1]
        claim(
            f"alpha={alpha:g}: the l1 norm of the limit grows with s "
            f"(s={first['shape']:g}: {first['l1']:.4g}, s={last['shape']:g}: {last['l1']:.4g}; "
            "smallest increment)",
            "> 0",
            float(steps.min()),
            "> 0",
            bool(np.all(steps > 0)),
        )
        claim(
            f"alpha={alpha:g}: s -> 1 moves to the kernel regime (|w - w_l2|/|w_l2| at "
            f"s={last['shape']:g} / at s={first['shape']:g})",
            "< 1",
            float(last["dist_l2"] / first["dist_l2"]),
            "< 1",
            last["dist_l2"] < first["dist_l2"],
        )
    flows = df[df["method"] == "flow"]
    if len(flows):
        v = float(flows["gap"].max())
        claim(
            f"gradient flow of u+v+ - u-v- = Bregman projection with mirror_potential "
            f"({len(flows)} points)",
            "equal",
            v,
            tol["flow_vs_projection"],
            v <= tol["flow_vs_projection"],
        )
    paper = df[df["method"] == "paper_potential"]
    if len(paper):
        v = float(paper["gap"].max())
        claim(
            "projection with the paper's Q_k (sqrt k = 2 kappa) = with riemflow's R",
            "equal",
            v,
            tol["paper_vs_riemflow"],
            v <= tol["paper_vs_riemflow"],
        )
    twins = df[df["method"] == "balanced_flow"]
    if len(twins):
        v = float(twins["gap"].max())
        claim(
            "shape acts through kappa only: flow from (alpha, s) = flow from "
            "(alpha (1+s^2)/(1-s^2), 0)",
            "equal (derived)",
            v,
            tol["shape_equivalence"],
            v <= tol["shape_equivalence"],
        )
    return claims.table()


def plot(df):
    """Left: the l1 norm of the limit against $1 - s$ for each scale, with basis pursuit and
    minimum l2 as horizontal lines (lines: projection, o: gradient flow). Right: the
    distances to the two interpolants against $\\kappa$, every point on one curve."""
    from ..plotting import panels
    from .woodworth import sparse_instance as instance_of

    fig, (left, right) = panels(2, height=3.4)
    first = df.iloc[0]
    _, bp, l2 = instance_of(
        int(first["dim"]),
        int(first["n_samples"]),
        int(first["sparsity"]),
        float(first["noise_var"]),
        int(first["instance"]),
    )
    breg = df[df["method"] == "bregman"]
    flows = df[df["method"] == "flow"]
    for alpha, sub in breg.groupby("alpha"):
        sub = sub.sort_values("shape")
        gap = 1.0 - sub["shape"].to_numpy()
        (line,) = left.semilogx(gap, sub["l1"], "-", label=rf"$\alpha$={alpha:g}")
        fl = flows[flows["alpha"] == alpha].sort_values("shape")
        left.semilogx(1.0 - fl["shape"], fl["l1"], "o", color=line.get_color(), mfc="none")
    left.axhline(np.abs(bp).sum(), color="k", ls="--", lw=1, label="basis pursuit")
    left.axhline(np.abs(l2).sum(), color="k", ls=":", lw=1, label=r"min $\ell_2$")
    left.invert_xaxis()
    left.set_xlabel(r"$1 - s$ ($s \to 1$ to the right)")
    left.set_ylabel(r"$\|w\|_1$ of the limit")
    left.set_title("shape at a fixed scale", fontsize=9)
    left.legend(fontsize=8)
    order = breg.sort_values("kappa")
    right.loglog(order["kappa"], order["dist_bp"], "o", label=r"$|w - w_{BP}| / |w_{BP}|$")
    right.loglog(order["kappa"], order["dist_l2"], "s", label=r"$|w - w_{\ell_2}| / |w_{\ell_2}|$")
    right.set_xlabel(r"$\kappa = u_0^2 + v_0^2 = 2\alpha\,(1+s^2)/(1-s^2)$")
    right.set_ylabel("relative distance")
    right.set_title(r"every $(\alpha, s)$ on one curve of $\kappa$", fontsize=9)
    right.legend(fontsize=8)
    return fig

"""Labarrière, Molinari, Rosasco, Villa, Vega, *Optimization Insights into Deep Diagonal
Linear Networks* (2024, arXiv:2412.16765).

The model is $\\theta = u_1 \\odot \\cdots \\odot u_L$ (element-wise, $L \\ge 2$ layers
$u_j \\in \\mathbb{R}^d$) from a *general* initialization $u_j(0)$: layers of different
scales and signs. Gradient flow on the layers of $L(\\theta)$ is, per coordinate,
$\\dot u_j = -g\\,\\theta / u_j$ with $g = \\partial L / \\partial \\theta$, so
$\\tfrac{d}{dt} u_j^2 = -2 g \\theta$ for every $j$: the differences $u_j^2 - u_k^2$ are
conserved. Claims reproduced: the flow of $\\theta$ is a mirror flow whose potential depends
on the initialization; its limit on an underdetermined regression is the Bregman projection
of $\\theta(0)$ for that potential; the initialization scale (and, through it, the depth)
governs the training speed.

**The mirror map** is the library potential `riemflow.potentials.deep_product` (its
docstring has the derivation: the smallest layer $v$ parametrizes the flow, the lower limit
of the mirror-map integral is $v_0 = v(0)$ so that tied and balanced initializations work,
and $Q^*(\\mu) = \\sum_i (v_i^2 - v_{0,i}^2)/2$); this module re-exports `DeepInit`,
`mirror_map`, `inverse_mirror_map`, `mirror_hessian` and `potential` (= `deep_product`).

The experiment (`run`): random general initializations of depths 2, 3, 4 (layer scales a
factor up to 4 apart, 30% negative entries) and balanced ones (all $\\delta_k = 0$), on a small
underdetermined regression (`problem`): gradient flow of the layers
(`riemflow.gradient_flow` on `models.diagonal_network(form="product")`) against
`riemflow.mirror_flow` with `potential(layers0)` from $\\theta(0)$, the long-time limit
against `riemflow.implicit_bias`, the conservation laws; and the time to reach a relative
loss of $10^{-6}$ over a grid of depths and scales $\\alpha$ (`riemflow.sweep`).
"""

from __future__ import annotations

import functools

import numpy as np

from .. import losses, models
from .._validation import as_positive, as_positive_int
from ..bregman import implicit_bias
from ..errors import InputError
from ..flows import gradient_flow, mirror_flow
from ..forward import mirror_potential
from ..potentials import power_network
from ..potentials.deep_product import DeepInit as DeepInit
from ..potentials.deep_product import deep_product as potential
from ..potentials.deep_product import inverse_mirror_map as inverse_mirror_map
from ..potentials.deep_product import mirror_hessian as mirror_hessian
from ..potentials.deep_product import mirror_map as mirror_map
from ..sweep import sweep
from ._claims import ClaimTable, relative_gap
from ._series import first_crossing

NAME = "labarriere"
PAPER = (
    "H. Labarrière, C. Molinari, L. Rosasco, S. Villa, C. Vega, Optimization Insights into "
    "Deep Diagonal Linear Networks, 2024 (arXiv:2412.16765)"
)

#: initialization scales of the training-speed grid
SPEED_ALPHAS = (0.1, 0.2, 0.5, 1.0, 1.5, 2.0)

QUICK: dict = {
    "depths": (2, 3, 4),
    "seeds": (0,),
    "balanced_depths": (3,),
    "speed_alphas": (0.2, 1.0, 2.0),
}

#: the tolerances compare() decides with, and why
TOLERANCES = {
    # gradient flow of the layers against the mirror flow of Q from theta(0), both by LSODA
    # at rtol 1e-12: max over time of |theta_gf - theta_mf|_inf / max |theta|. Two
    # independent integrations, each with a global error of 10-100 x rtol; measured 5e-12 ..
    # 6e-11
    "flow_vs_mirror": 1e-8,
    # the end of the long flow against the Bregman projection (dual Newton to 1e-13), and
    # the part of grad Q(theta(T)) off the row space of X: the flow's distance to its limit
    # (loss <= 1e-25 at t_final) plus its integration error; measured <= 6e-11
    "limit_vs_projection": 1e-8,
    # max over t, j of |(u_j^2 - u_j*^2)(t) - delta_j| / max u^2: only the integrator's
    # error (LSODA does not conserve quadratic invariants exactly); measured <= 2e-11
    "conservation": 1e-9,
    # grad Q against scipy quad (epsrel 1e-13), riemflow's numerical forward construction
    # (joint flows at rtol ~1e-12), the inverse round trip and Q = L * power_network at
    # balanced init: closed forms and quadratures in float64; measured 4e-15
    "potential": 1e-10,
}


# -- instances ----------------------------------------------------------------------------------
def problem(dim: int = 6, n_samples: int = 3, seed: int = 0):
    """An underdetermined regression `(X, y)`: `X (n, d)` standard Gaussian, `y = X theta*`
    with a 2-sparse `theta*` (entries +-1 at random places).

    Raises:
        InputError: non-positive sizes or `n_samples >= dim`.

    Examples:
        >>> from riemflow.experiments.labarriere import problem
        >>> X, y = problem(6, 3, seed=1)
        >>> X.shape, y.shape
        ((3, 6), (3,))
    """
    dim = as_positive_int(dim, "dim")
    n_samples = as_positive_int(n_samples, "n_samples")
    if n_samples >= dim:
        raise InputError(
            f"`n_samples` must be < `dim` (underdetermined); got {n_samples} >= {dim}",
            argument="n_samples",
        )
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n_samples, dim))
    theta_star = np.zeros(dim)
    support = rng.choice(dim, size=min(2, dim), replace=False)
    theta_star[support] = rng.choice([-1.0, 1.0], size=support.size)
    return X, X @ theta_star


def random_layers(
    depth: int,
    dim: int,
    alpha: float = 1.0,
    seed: int = 0,
    *,
    spread: float = 1.0,
    negative: float = 0.3,
) -> np.ndarray:
    """A general initialization `(L, d)`: layer `j` has scale $\\alpha 2^{r_j}$,
    $r_j \\sim U(-\\text{spread}, \\text{spread})$, entries that scale times $U(0.6, 1.4)$,
    each negative with probability `negative`.

    Raises:
        InputError: bad sizes, `alpha`, `spread` or `negative`.

    Examples:
        >>> from riemflow.experiments.labarriere import random_layers
        >>> U = random_layers(3, 4, 0.5, seed=2)
        >>> U.shape, bool((abs(U) > 0.5 * 0.5 * 0.6 - 1e-12).all())
        ((3, 4), True)
    """
    depth = as_positive_int(depth, "depth")
    dim = as_positive_int(dim, "dim")
    alpha = as_positive(alpha, "alpha")
    spread = as_positive(spread, "spread", allow_zero=True)
    negative = as_positive(negative, "negative", allow_zero=True)
    if negative > 1:
        raise InputError(f"`negative` is a probability; got {negative!r}", argument="negative")
    rng = np.random.default_rng(seed)
    scales = alpha * 2.0 ** rng.uniform(-spread, spread, size=depth)
    mags = scales[:, None] * rng.uniform(0.6, 1.4, size=(depth, dim))
    return np.where(rng.random((depth, dim)) < negative, -mags, mags)


def balanced_layers(depth: int, dim: int, alpha: float = 1.0, seed: int = 0) -> np.ndarray:
    """$|u_j(0)| = \\alpha$ for every layer and coordinate (all $\\delta_k = 0$), random signs.

    Examples:
        >>> from riemflow.experiments.labarriere import balanced_layers
        >>> abs(balanced_layers(3, 2, 0.5)).tolist()
        [[0.5, 0.5], [0.5, 0.5], [0.5, 0.5]]
    """
    depth = as_positive_int(depth, "depth")
    dim = as_positive_int(dim, "dim")
    alpha = as_positive(alpha, "alpha")
    signs = np.where(np.random.default_rng(seed).random((depth, dim)) < 0.3, -1.0, 1.0)
    return alpha * signs


def _network(layers0):
    L, d = layers0.shape
    return models.diagonal_network(d, depth=L, init=list(layers0), signed=False, form="product")


# -- the experiment -----------------------------------------------------------------------------
def potential_point(depth: int, seed: int = 0) -> list[dict]:
    """The mirror map against independent computations, for a general initialization of
    depth `depth` (`d = 3`): `scipy.integrate.quad` at 21 random points (`quad_gap`, relative
    to $\\max|\\nabla Q|$), the inverse round trip (`roundtrip_gap`, relative to
    $|\\theta|$), riemflow's numerical forward construction `riemflow.mirror_potential` of
    the product model at 2 points (`forward_gap`), and at a balanced initialization
    $Q = L\\cdot$`potentials.power_network` (`balanced_gap`)."""
    from scipy.integrate import quad

    U = random_layers(depth, 3, 1.0, seed)
    init = DeepInit(U)
    rng = np.random.default_rng(seed)
    theta = init.theta0 * np.exp(rng.uniform(-3, 3, size=(21, 3))) * rng.choice([-1, 1], (21, 3))
    mu = init.mirror_map(theta)
    ref = np.zeros_like(mu)
    v = init.smallest_layer(theta)
    for b in range(theta.shape[0]):
        for i in range(3):
            dk = init.deltas[:, i]
            val, _ = quad(
                lambda w, dk=dk: 1.0 / np.sqrt(np.prod(w * w + dk)),
                init.v0[i],
                v[b, i],
                epsabs=0.0,
                epsrel=1e-13,
                limit=200,
            )
            ref[b, i] = init.sign[i] * val
    inside = np.all(np.isfinite(mu), axis=1)
    back = init.inverse_mirror_map(mu)
    scale = np.maximum(np.abs(theta), 1e-300)
    B = balanced_layers(depth, 3, 0.8, seed)
    binit = DeepInit(B)
    pos = np.abs(binit.theta0) * np.exp(rng.uniform(-3, 3, size=(21, 3)))
    bt = np.sign(binit.theta0) * pos
    R = power_network(np.abs(B[0]), None, depth=depth)
    bref = depth * np.sign(binit.theta0) * np.asarray(R.grad(pos))
    # riemflow's numerical forward construction for the product model (Concepts: the
    # forward theorem), which does not use the closed form the model carries
    G, x0 = _network(U)
    near = init.theta0 * np.array([[1.6, 0.7, 1.2], [0.5, 1.3, 0.9]])
    forward = np.asarray(mirror_potential(G, x0, closed_form=False).grad(near))
    return [
        {
            "quad_gap": relative_gap(mu[inside], ref[inside]),
            "roundtrip_gap": float(np.max(np.abs(back - theta) / scale)),
            "balanced_gap": relative_gap(binit.mirror_map(bt), bref),
            "forward_gap": relative_gap(init.mirror_map(near), forward),
        }
    ]


def flow_point(
    depth: int,
    init: str = "general",
    seed: int = 0,
    *,
    alpha: float = 1.0,
    dim: int = 6,
    n_samples: int = 3,
    t_final: float = 250.0,
    n_times: int = 60,
    rtol: float = 1e-12,
    method: str = "LSODA",
) -> list[dict]:
    """One initialization: the layer gradient flow against the mirror flow of $Q$, its limit
    against the Bregman projection, and the conservation laws.

    Args:
        depth: `L`.
        init: `"general"` (`random_layers`) or `"balanced"` (`balanced_layers`).
        seed: seed of the instance (`problem`) and of the initialization.
        alpha: layer scale.
        dim: dimension of `problem`.
        n_samples: number of samples of `problem`.
        t_final: length of both flows.
        n_times: recorded times (0 and a geometric grid up to `t_final`).
        rtol: `solve_ivp` tolerance of both flows.
        method: `solve_ivp` method of both flows (LSODA: the end of the flow is stiff, and at
            `rtol=1e-12` it is both faster and more accurate here than DOP853).

    Returns:
        One row: `trajectory_gap` (max over time of $|\\theta_{gf} - \\theta_{mf}|_\\infty$
        over $\\max|\\theta_{gf}|$), `dual_gap` (max over time of
        $|\\nabla Q(\\theta_{gf}(t)) - \\mu_{mf}(t)|_\\infty$), `limit_gap` (end of the flow
        against `implicit_bias`, relative), `conservation` (max drift of $u_j^2 - u_k^2$
        over $\\max u^2$), `rowspace` (the part of $\\nabla Q(\\theta_{gf}(T))$ off the row
        space of `X`, relative), `final_loss`, `initial_loss`, `nfev_gf`, `nfev_mf`.
    """
    if init not in ("general", "balanced"):
        raise InputError(f"`init` must be 'general' or 'balanced'; got {init!r}", argument="init")
    X, y = problem(dim, n_samples, seed)
    if init == "general":
        U = random_layers(depth, dim, alpha, seed)
    else:  # theta keeps the signs of theta(0): those of the min-norm interpolant, so that
        # an interpolant exists in that orthant (the flow's domain)
        U = balanced_layers(depth, dim, alpha, seed)
        U[0] = np.abs(U[0]) * np.sign(np.linalg.pinv(X) @ y) * np.prod(np.sign(U[1:]), axis=0)
    structure = DeepInit(U)
    G, x0 = _network(U)
    loss = losses.squared(X, y)
    t_final = as_positive(t_final, "t_final")
    t_eval = np.concatenate([[0.0], np.geomspace(1e-2, t_final, n_times - 1)])
    gf = gradient_flow(G, loss, x0, (0.0, t_final), t_eval=t_eval, rtol=rtol, method=method)
    Q = potential(structure)
    mf = mirror_flow(
        Q, loss, structure.theta0, (0.0, t_final), t_eval=t_eval, rtol=rtol, method=method
    )
    layers = gf.x.reshape(len(gf.t), depth, dim)
    sq = layers**2
    cols = np.arange(dim)
    drift = sq - sq[:, structure.smallest, cols][:, None, :] - (U**2 - structure.v0**2)
    limit = implicit_bias(Q, X, y, structure.theta0, tol=1e-13)
    mu_end = np.asarray(Q.grad(gf.w[-1]))
    coef = np.linalg.lstsq(X.T, mu_end, rcond=None)[0]
    return [
        {
            "trajectory_gap": relative_gap(mf.w, gf.w),
            "dual_gap": float(np.max(np.abs(np.asarray(Q.grad(gf.w)) - mf.mu))),
            "limit_gap": relative_gap(gf.w[-1], limit),
            "conservation": float(np.max(np.abs(drift)) / np.max(sq)),
            "rowspace": float(np.linalg.norm(mu_end - X.T @ coef) / np.linalg.norm(mu_end)),
            "initial_loss": float(gf.loss[0]),
            "final_loss": float(gf.loss[-1]),
            "nfev_gf": int(gf.n_evaluations),
            "nfev_mf": int(mf.n_evaluations),
        }
    ]


def speed_point(
    depth: int,
    alpha: float,
    seed: int = 0,
    *,
    dim: int = 6,
    n_samples: int = 3,
    target: float = 1e-6,
    t_max: float = 1e5,
    rtol: float = 1e-10,
    method: str = "LSODA",
) -> list[dict]:
    """Training speed at depth `L` and scale `alpha`: the layer gradient flow from
    `alpha * random_layers(L, d, 1, seed, spread=0.25)` (one shape per depth and seed, scaled)
    until the loss falls below `target` times its initial value.

    The flow runs in chunks of doubling length (1, 2, 4, ... up to `t_max`), each continuing
    from the last state, recorded on 100 points per chunk; the crossing times are
    interpolated linearly in log-loss.

    Returns:
        One row: `t_target` (time to the relative loss `target`), `t_escape` (to relative
        loss 1/2: the end of the initial plateau), `kernel0` (mean tangent kernel
        $K(\\theta_0)$ over coordinates), `initial_loss`, `final_loss`, `t_reached`.
    """
    X, y = problem(dim, n_samples, seed)
    alpha = as_positive(alpha, "alpha")
    U = alpha * random_layers(depth, dim, 1.0, seed, spread=0.25)
    G, x = _network(U)
    loss = losses.squared(X, y)
    initial = float(loss(np.prod(U, axis=0)))
    ts, values = [0.0], [initial]
    t0, chunk = 0.0, 1.0
    while True:
        grid = np.linspace(t0, t0 + chunk, 101)
        traj = gradient_flow(G, loss, x, (t0, t0 + chunk), t_eval=grid, rtol=rtol, method=method)
        ts += traj.t[1:].tolist()
        values += traj.loss[1:].tolist()
        t0, x = t0 + chunk, traj.x[-1]
        if values[-1] <= target * initial or t0 >= t_max:
            break
        chunk = min(2.0 * chunk, t_max - t0)
    ts, rel = np.array(ts), np.log(np.maximum(np.array(values), 1e-300) / initial)
    return [
        {
            "t_target": first_crossing(ts, rel, np.log(target)),
            "t_escape": first_crossing(ts, rel, np.log(0.5)),
            "kernel0": float(np.mean(DeepInit(U).kernel(np.prod(U, axis=0)))),
            "initial_loss": initial,
            "final_loss": float(values[-1]),
            "t_reached": float(t0),
        }
    ]


def _point(kind, depth, seed, init=None, alpha=None, *, dim, n_samples, t_final):
    """One sweep point (see `run`)."""
    if kind == "potential":
        return potential_point(depth, seed)
    if kind == "flow":
        return flow_point(
            depth, init, seed, alpha=alpha, dim=dim, n_samples=n_samples, t_final=t_final
        )
    return speed_point(depth, alpha, seed, dim=dim, n_samples=n_samples)


def run(
    *,
    depths=(2, 3, 4),
    seeds=(0, 1, 2),
    balanced_depths=(2, 3, 4),
    alpha: float = 1.0,
    dim: int = 6,
    n_samples: int = 3,
    t_final: float = 250.0,
    speed_depths=(2, 3, 4),
    speed_alphas=SPEED_ALPHAS,
    store=None,
    n_jobs: int = 1,
    progress: bool = True,
):
    """The reproduction: closed-form checks, flows against mirror flows and projections, and
    the training-speed grid.

    Args:
        depths: depths `L` of the general initializations (`random_layers`).
        seeds: seeds of the instances and initializations (one flow per depth and seed).
        balanced_depths: depths with a balanced initialization (`balanced_layers`, all
            $\\delta_k = 0$; the first layer's signs are those of the min-norm interpolant).
        alpha: layer scale of those flows.
        dim: dimension of `problem`.
        n_samples: number of samples of `problem`.
        t_final: length of the flows (the loss is below 1e-25 by `t = 250` at the default
            sizes).
        speed_depths: depths of the training-speed grid (`speed_point`, seed 0).
        speed_alphas: scales of the training-speed grid.
        store: results store (passed to `riemflow.sweep.sweep`, as are the next two).
        n_jobs: worker processes.
        progress: show a progress bar.

    Returns:
        A `pandas.DataFrame`, one row per point: `kind` (`potential`, `flow`, `speed`),
        `depth`, `seed`, `init`, `alpha`, and the columns of `potential_point`,
        `flow_point` or `speed_point`.

    Takes about 30 s on one core with the defaults (`QUICK`: about 8 s).
    """
    base = {"dim": int(dim), "n_samples": int(n_samples), "t_final": float(t_final)}
    points = [{"kind": "potential", "depth": int(L), "seed": 0} for L in depths]
    points += [
        {"kind": "flow", "depth": int(L), "seed": int(s), "init": "general", "alpha": float(alpha)}
        for L in depths
        for s in seeds
    ]
    points += [
        {"kind": "flow", "depth": int(L), "seed": 0, "init": "balanced", "alpha": float(alpha)}
        for L in balanced_depths
    ]
    points += [
        {"kind": "speed", "depth": int(L), "seed": 0, "init": "general", "alpha": float(a)}
        for L in speed_depths
        for a in speed_alphas
    ]
    for point in points:
        point.setdefault("init", None)
        point.setdefault("alpha", None)
    fn = functools.partial(_point, **base)
    df = sweep(fn, points, store=store, n_jobs=n_jobs, progress=progress, desc=NAME)
    df.attrs.update(base)
    return df


# -- the claims ---------------------------------------------------------------------------------
def _ratios(values) -> np.ndarray:
    values = np.asarray(values, dtype=float)
    return values[1:] / values[:-1]


def compare(df):
    """The paper's claims next to riemflow's numbers (one row per claim)."""

    tol = TOLERANCES
    claims = ClaimTable()
    claim = claims.add

    pot = df[df["kind"] == "potential"]
    if len(pot):
        v = float(pot[["quad_gap", "roundtrip_gap", "balanced_gap", "forward_gap"]].max().max())
        claim(
            "mirror map = S int_{v0}^{v} prod (w^2 + delta_k)^(-1/2) dw (vs scipy quad and "
            "rf.mirror_potential of the model), inverse round trip, balanced init: "
            "Q = L * power_network (max rel. gap)",
            "derived",
            v,
            tol["potential"],
            v <= tol["potential"],
        )
    flows = df[df["kind"] == "flow"]
    for kind in ("general", "balanced"):
        sub = flows[flows["init"] == kind]
        if not len(sub):
            continue
        per_depth = sub.groupby("depth")["trajectory_gap"].max()
        text = ", ".join(f"L={int(L)}: {g:.1e}" for L, g in per_depth.items())
        v = float(sub["trajectory_gap"].max())
        claim(
            f"{kind} init: layer gradient flow = mirror flow of Q from theta(0) (max_t "
            f"|theta_gf - theta_mf| / max|theta|; {text})",
            "equal",
            v,
            tol["flow_vs_mirror"],
            v <= tol["flow_vs_mirror"],
        )
    if len(flows):
        v = float(flows["limit_gap"].max())
        claim(
            f"limit of the flow = argmin {{D_Q(theta, theta0) : X theta = y}} ({len(flows)} "
            f"flows, final loss <= {flows['final_loss'].max():.0e})",
            "equal",
            v,
            tol["limit_vs_projection"],
            v <= tol["limit_vs_projection"],
        )
        v = float(flows["rowspace"].max())
        claim(
            "grad Q(theta(T)) lies in the row space of X (relative part off it)",
            "0",
            v,
            tol["limit_vs_projection"],
            v <= tol["limit_vs_projection"],
        )
        v = float(flows["conservation"].max())
        claim(
            "u_j^2 - u_k^2 conserved along the flow (max drift / max u^2)",
            "0",
            v,
            tol["conservation"],
            v <= tol["conservation"],
        )
    speed = df[df["kind"] == "speed"]
    alphas = sorted(speed["alpha"].unique()) if len(speed) else []
    if len(alphas) >= 2:
        table = speed.pivot_table(index="alpha", columns="depth", values=["t_escape", "t_target"])
        esc, tgt = table["t_escape"], table["t_target"]
        worst = max(float(np.max(_ratios(esc[L].to_numpy()))) for L in esc.columns)
        grid = ", ".join(f"{a:g}" for a in alphas)
        claim(
            f"smaller init escapes the initial plateau later, at every depth (largest ratio "
            f"t_escape(alpha_next) / t_escape(alpha), alpha = {grid})",
            "< 1",
            worst,
            "< 1",
            worst < 1.0,
        )
        a_min, a_max = alphas[0], alphas[-1]
        if len(esc.columns) >= 2 and a_min < 1.0:
            r = float(np.min(_ratios(esc.loc[a_min].to_numpy())))
            times = ", ".join(f"L={int(L)}: {t:.3g}" for L, t in esc.loc[a_min].items())
            claim(
                f"alpha={a_min:g} < 1: deeper escapes later (smallest t_escape(L+1) / "
                f"t_escape(L); {times})",
                "> 1",
                r,
                "> 1",
                r > 1.0,
            )
        if len(tgt.columns) >= 2 and a_max > 1.0:
            r = float(np.max(_ratios(tgt.loc[a_max].to_numpy())))
            times = ", ".join(f"L={int(L)}: {t:.3g}" for L, t in tgt.loc[a_max].items())
            claim(
                f"alpha={a_max:g} > 1: deeper trains faster (largest t_1e-6(L+1) / "
                f"t_1e-6(L); {times})",
                "< 1",
                r,
                "< 1",
                r < 1.0,
            )
        r = float(np.min(tgt.loc[a_min].to_numpy() / tgt.loc[a_max].to_numpy()))
        claim(
            f"time to relative loss 1e-6: alpha={a_min:g} slower than alpha={a_max:g} at "
            "every depth (smallest ratio)",
            "> 1",
            r,
            "> 1",
            r > 1.0,
        )
    return claims.table()


def plot(df):
    """Left: the gaps of every flow (trajectory, limit, conservation) with their tolerances.
    Right: time to relative loss 1e-6 (solid) and to leave the initial plateau (dashed)
    against the initialization scale, per depth."""
    from ..plotting import panels

    fig, (left, right) = panels(2, height=3.6)
    flows = df[df["kind"] == "flow"].reset_index(drop=True)
    labels = [f"L={int(r.depth)} {r.init[:3]} s{int(r.seed)}" for r in flows.itertuples()]
    x = np.arange(len(flows))
    for k, (column, tol_key, label) in enumerate(
        (
            ("trajectory_gap", "flow_vs_mirror", "flow vs mirror flow"),
            ("limit_gap", "limit_vs_projection", "limit vs Bregman projection"),
            ("conservation", "conservation", r"drift of $u_j^2 - u_k^2$"),
        )
    ):
        (line,) = left.semilogy(
            x + 0.2 * (k - 1), np.maximum(flows[column], 1e-17), "o", label=label
        )
        left.axhline(TOLERANCES[tol_key], color=line.get_color(), ls=":", lw=1)
    left.set_xticks(x, labels, rotation=60, ha="right", fontsize=8)
    left.set_ylabel("relative gap")
    left.set_title("layers vs mirror flow of $Q$ (dotted: tolerances)", fontsize=9)
    left.legend(fontsize=8)
    speed = df[df["kind"] == "speed"]
    for L, sub in speed.groupby("depth"):
        sub = sub.sort_values("alpha")
        (line,) = right.loglog(sub["alpha"], sub["t_target"], "o-", label=f"$L = {int(L)}$")
        right.loglog(sub["alpha"], sub["t_escape"], "s--", color=line.get_color(), mfc="none")
    if len(speed):
        from matplotlib.ticker import NullFormatter

        ticks = sorted(speed["alpha"].unique())
        right.set_xticks(ticks, [f"{a:g}" for a in ticks])
        right.xaxis.set_minor_formatter(NullFormatter())
    right.set_xlabel(r"initialization scale $\alpha$")
    right.set_ylabel("time")
    right.set_title(
        r"time to loss $\times 10^{-6}$ (solid), $\times \frac{1}{2}$ (dashed)", fontsize=9
    )
    right.legend(fontsize=8)
    return fig

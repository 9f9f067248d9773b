"""Li, Wang, Lee, Arora (NeurIPS 2022): gradient flow on a commuting parametrization is a
mirror flow, for every loss, with the potential of the forward construction.

Reproduced on the paper's examples (Concepts: [commuting
parametrizations](concepts.md#commuting-parametrizations) and [closed forms for diagonal
networks](concepts.md#closed-forms-for-diagonal-networks)), each against its closed form:

- `quadratic`: $G_i(x) = x^\\top A_i x / 2$ with commuting symmetric $A_i$ (random common
  eigenbasis): closed-form $Q(\\mu) = |\\exp(\\sum_i \\mu_i A_i) x_{init}|^2 / 4$ (+ const);
- `sensing`: matrix sensing $w_i = \\langle A_i, U U^\\top \\rangle$ with commuting
  measurements (a quadratic family with matrices $2 A_i \\otimes I_r$);
- `neuron`: one neuron $w = a z$, not commuting but time-warped: $d \\nabla R(w) = -a \\nabla
  L\\, dt$ with $\\nabla R(w) = w / s - z_0$, $s^2 = \\delta/2 + \\sqrt{|w|^2 + \\delta^2/4}$;
- `noncommuting`: a quadratic family with generic (non-commuting) $A_i$, the control.

For each: the Lie brackets (`check_commuting`), the closed-form potential against the
numerical forward construction (`mirror_potential(..., closed_form=False)`), gradient flow
against mirror flow (`verify_equivalence`; for the neuron, against the mirror flow run at
speed $a(t)$), the limit of a long gradient flow against the Bregman projection
(`implicit_bias`) for an underdetermined squared loss $|Xw - y|^2$, and the loop test
(`loop_test`), whose displacement is 0 under every mirror flow and $O(\\tau^2)$ otherwise.
"""

from __future__ import annotations

import functools

import numpy as np
from scipy.integrate import solve_ivp

from .. import losses, models, potentials
from ..bregman import implicit_bias
from ..errors import GeometryError, SolverError
from ..flows import gradient_flow
from ..forward import mirror_potential
from ..sweep import sweep
from ..verify import loop_test, verify_equivalence
from ._claims import ClaimTable

NAME = "li"
PAPER = (
    "Z. Li, T. Wang, J. D. Lee, S. Arora, Implicit Bias of Gradient Descent on Reparametrized "
    "Models: On Equivalence to Mirror Descent, NeurIPS 2022"
)
CASES = ("quadratic", "sensing", "neuron", "noncommuting")
QUICK = {"seeds": (0,), "taus": (0.05, 0.025)}

#: the tolerances compare() decides with, and why
TOLERANCES = {
    # brackets of commuting families are exact polynomials: round-off only
    "bracket_commuting": 1e-8,
    # a generic pair has a bracket of the size of the fields
    "bracket_noncommuting": 1e-2,
    # two ODE solutions at rtol 1e-12 (closed form vs numerical psi)
    "closed_vs_numerical": 1e-9,
    # two flows at rtol 1e-12 over t in [0, 5]
    "equivalence": 1e-8,
    # the flow's distance to its limit at t_final, plus the projection's 1e-10
    "implicit_bias": 1e-7,
    # the loops' legs are solved at rtol 1e-12: a closing loop shows ~1e-10
    "loop_closes": 1e-6,
    # an open loop at the smallest tau (relative displacement ~ tau |bracket|): 100x above
    # the closing tolerance
    "loop_opens": 1e-4,
    # |fitted slope - 1| of that error against tau (an O(tau^2) term bends it at large tau)
    "loop_slope": 0.3,
}


def _commuting_matrices(rng, n_matrices: int, size: int) -> np.ndarray:
    V, _ = np.linalg.qr(rng.standard_normal((size, size)))
    lam = rng.uniform(-1.0, 1.0, (n_matrices, size))
    return np.einsum("ij,aj,kj->aik", V, lam, V)


def _problem(case: str, seed: int):
    """`(G, x0, X, y, R_closed)`; `R_closed` is None for the non-commuting control."""
    rng = np.random.default_rng(seed)
    if case == "quadratic":
        A = _commuting_matrices(rng, 3, 5)
        G, _ = models.quadratic(A)
        x0 = rng.standard_normal(5)
    elif case == "sensing":
        A = _commuting_matrices(rng, 3, 3)
        G, _ = models.matrix_sensing(A, rank=2)
        x0 = rng.standard_normal(6)
    elif case == "neuron":
        z0 = 0.25 * rng.standard_normal(4)
        G, x0 = models.single_neuron(4, init=np.concatenate([[1.0], z0]))
    elif case == "noncommuting":
        B = rng.standard_normal((3, 5, 5))
        G, _ = models.quadratic(B + np.swapaxes(B, 1, 2))
        x0 = rng.standard_normal(5)
    else:
        raise ValueError(case)
    d = np.asarray(G(x0)).size
    X = rng.standard_normal((d - 1, d))  # underdetermined: the limit depends on the bias
    # labels of a teacher of the same model near x0, so that Xw = y meets the range of G
    y = X @ np.asarray(G(x0 + 0.5 * rng.standard_normal(x0.size)))
    if case == "neuron":
        R = potentials.single_neuron(x0[0], x0[1:])
    elif case == "noncommuting":
        R = None
    else:
        R = mirror_potential(G, x0)
    return G, x0, X, y, R


def _warped_mirror_flow(a0, z0, loss, t_eval, rtol):
    """The neuron's prediction, solved apart from the gradient flow in `(a, z)`: mirror flow
    of `potentials.single_neuron(a0, z0)` at speed `a`, `d mu / dt = -a grad L(w)` with
    `w = grad R*(mu) = a (mu + z0)`, `a = sqrt(delta + |mu + z0|^2)`."""
    delta = a0**2 - z0 @ z0

    def rhs(_t, mu):
        z = mu + z0
        a = np.sqrt(delta + z @ z)
        return -a * loss.gradient(a * z)

    sol = solve_ivp(
        rhs,
        (0.0, t_eval[-1]),
        np.zeros(z0.size),
        method="DOP853",
        t_eval=t_eval,
        rtol=rtol,
        atol=1e-14,
    )
    if not sol.success:
        raise SolverError(
            f"time-warped mirror flow failed: {sol.message}", t_reached=float(sol.t[-1])
        )
    z = sol.y.T + z0
    return np.sqrt(delta + np.sum(z * z, axis=1))[:, None] * z


def measure(
    case: str,
    seed: int,
    taus=(0.1, 0.05, 0.025, 0.0125),
    t_final: float = 3000.0,
    rtol: float = 1e-12,
) -> list[dict]:
    """Every measurement of one case at one seed (one sweep point), as result rows
    `{quantity, tau, value}`."""
    G, x0, X, y, R = _problem(case, seed)
    loss = losses.squared(X, y)
    w0 = np.asarray(G(x0))
    rows = [{"quantity": "bracket", "tau": None, "value": G.check_commuting().max_bracket}]
    if case in ("quadratic", "sensing"):
        rep = verify_equivalence(loss, (0.0, 5.0), parametrization=G, x0=x0, legendre=R, rtol=rtol)
        rows.append({"quantity": "equivalence", "tau": None, "value": rep.max_deviation})
        numerical = mirror_potential(G, x0, closed_form=False)
        mus = R.grad(rep.trajectories[0].w[::25])
        gap = np.abs(numerical.grad_conjugate(mus) - R.grad_conjugate(mus)).max()
        scale = np.abs(R.grad_conjugate(mus)).max()
        rows.append({"quantity": "closed_vs_numerical", "tau": None, "value": gap / scale})
    elif case == "neuron":
        t_eval = np.linspace(0.0, 5.0, 101)
        flow = gradient_flow(G, loss, x0, (0.0, 5.0), t_eval=t_eval, rtol=rtol)
        warped = _warped_mirror_flow(x0[0], x0[1:], loss, t_eval, rtol)
        scale = np.abs(flow.w).max()
        rows.append(
            {
                "quantity": "equivalence",
                "tau": None,
                "value": float(np.abs(flow.w - warped).max() / scale),
            }
        )
    if R is not None:
        # near its limit the flow is stiff (fast directions of the loss Hessian, slow ones of
        # the bias): LSODA switches to BDF there, ~100x fewer evaluations than DOP853
        limit = gradient_flow(G, loss, x0, (0.0, t_final), rtol=rtol, method="LSODA").w_final
        target = implicit_bias(R, X, y, w0)
        gap = float(np.abs(limit - target).max() / np.abs(target).max())
        rows.append({"quantity": "implicit_bias", "tau": None, "value": gap})
    else:
        try:
            mirror_potential(G, x0)
            refused = 0.0
        except GeometryError:
            refused = 1.0
        rows.append({"quantity": "potential_refused", "tau": None, "value": refused})
    for tau in taus:
        rep = loop_test(G, x0, tau=float(tau), rtol=rtol)
        rows.append({"quantity": "loop", "tau": float(tau), "value": rep.relative_displacement})
        if np.isfinite(rep.prediction_error):
            rows.append(
                {
                    "quantity": "loop_prediction_error",
                    "tau": float(tau),
                    "value": rep.prediction_error,
                }
            )
    return rows


def run(
    *,
    cases=CASES,
    seeds=(0, 1, 2),
    taus=(0.1, 0.05, 0.025, 0.0125),
    t_final: float = 3000.0,
    store=None,
    n_jobs: int = 1,
    progress: bool = True,
):
    """Every measurement for every case and seed: a long table with columns `case`, `seed`
    (the instance's seed), `quantity`, `tau` (loop legs, else NaN) and `value`.

    Sizes: `quadratic` `d = 3` forms on `R^5`; `sensing` 3 commuting measurements of a
    `3 x 2` factor; `neuron` `k = 4`; `noncommuting` 3 generic forms on `R^5`; data
    `X: (d - 1, d)`. The paper proves the statements; it has no numbers to match, so the
    claims are checked at the solvers' accuracy.
    """
    points = [{"case": c, "instance": int(s)} for c in cases for s in seeds]
    fn = functools.partial(_point, taus=[float(t) for t in taus], t_final=float(t_final))
    df = sweep(fn, points, store=store, n_jobs=n_jobs, progress=progress, desc=NAME)
    df = df.drop(columns="seed").rename(columns={"instance": "seed"})
    df.attrs.update(taus=tuple(taus), t_final=t_final)
    return df


def _point(case, instance, *, taus, t_final):
    return measure(case, instance, taus=taus, t_final=t_final)


def _slope(sub) -> float:
    tau, value = np.log(sub["tau"].to_numpy(float)), np.log(sub["value"].to_numpy(float))
    return float(np.polyfit(tau, value, 1)[0])


def compare(df):
    """The paper's claims next to the measured figures (worst case over seeds)."""

    tol = TOLERANCES

    def worst(cases, quantity, how="max"):
        sub = df[df["case"].isin(cases) & (df["quantity"] == quantity)]["value"]
        return float(sub.max() if how == "max" else sub.min())

    commuting = [c for c in ("quadratic", "sensing") if c in set(df["case"])]
    other = [c for c in ("neuron", "noncommuting") if c in set(df["case"])]
    claims = ClaimTable()
    claim = claims.add

    if commuting:
        v = worst(commuting, "bracket")
        claim(
            "commuting families: Lie brackets vanish",
            "0",
            v,
            tol["bracket_commuting"],
            v <= tol["bracket_commuting"],
        )
        v = worst(commuting, "closed_vs_numerical")
        claim(
            "closed-form Q = numerical forward construction",
            "equal",
            v,
            tol["closed_vs_numerical"],
            v <= tol["closed_vs_numerical"],
        )
        v = worst(commuting, "equivalence")
        claim(
            "gradient flow = mirror flow with R (every loss)",
            "equal",
            v,
            tol["equivalence"],
            v <= tol["equivalence"],
        )
        v = worst(commuting, "loop")
        claim(
            "loops of losses close (commuting)", "0", v, tol["loop_closes"], v <= tol["loop_closes"]
        )
    if other:
        v = worst(other, "bracket", how="min")
        claim(
            "neuron and generic quadratics do not commute",
            "> 0",
            v,
            tol["bracket_noncommuting"],
            v >= tol["bracket_noncommuting"],
        )
        loops = df[df["case"].isin(other) & (df["quantity"] == "loop")]
        v = float(loops[loops["tau"] == loops["tau"].min()]["value"].min())
        claim(
            "their loops open (relative displacement, smallest tau)",
            "> 0",
            v,
            tol["loop_opens"],
            v >= tol["loop_opens"],
        )
        errors = df[df["case"].isin(other) & (df["quantity"] == "loop_prediction_error")]
        slopes = [_slope(g) for _, g in errors.groupby(["case", "seed"]) if len(g) > 1]
        if slopes:
            v = max(abs(s - 1.0) for s in slopes)
            claim(
                "displacement = tau^2 dG [X_i, X_j] + O(tau^3): the relative error of that "
                "prediction is O(tau), |fitted slope - 1|",
                "0",
                v,
                tol["loop_slope"],
                v <= tol["loop_slope"],
            )
    if "neuron" in set(df["case"]):
        v = worst(["neuron"], "equivalence")
        claim(
            "neuron: gradient flow = mirror flow of R at speed a(t)",
            "equal",
            v,
            tol["equivalence"],
            v <= tol["equivalence"],
        )
    biased = [c for c in ("quadratic", "sensing", "neuron") if c in set(df["case"])]
    if biased:
        v = worst(biased, "implicit_bias")
        claim(
            "limit = Bregman projection argmin D_R(w, w0), Xw = y",
            "equal",
            v,
            tol["implicit_bias"],
            v <= tol["implicit_bias"],
        )
    if "noncommuting" in set(df["case"]):
        v = worst(["noncommuting"], "potential_refused", how="min")
        claim(
            "mirror_potential refuses the non-commuting control (1 = refused)",
            "1",
            v,
            0.0,
            v == 1.0,
        )
    return claims.table()


def plot(df):
    """Left: loop displacement against the leg length (closing loops at round-off, opening
    ones with slope 1). Right: the measured gaps per case, against their tolerances."""
    from ..plotting import panels

    fig, (left, right) = panels(2, height=3.2)
    loops = df[df["quantity"] == "loop"]
    for case, group in loops.groupby("case", sort=False):
        mean = group.groupby("tau")["value"].max()
        left.loglog(mean.index, mean.to_numpy(), "o-", label=case)
    left.set_xlabel(r"leg length $\tau$")
    left.set_ylabel("relative loop displacement")
    left.set_title("loop test: 0 for every mirror flow", fontsize=9)
    left.legend(fontsize=8)
    quantities = ["equivalence", "closed_vs_numerical", "implicit_bias"]
    cases = [c for c in CASES if c in set(df["case"]) and c != "noncommuting"]
    width = 0.8 / len(quantities)
    for k, quantity in enumerate(quantities):
        values = [
            df[(df["case"] == c) & (df["quantity"] == quantity)]["value"].max() for c in cases
        ]
        right.bar(
            np.arange(len(cases)) + k * width,
            np.nan_to_num(values, nan=0.0) + 1e-18,
            width,
            label=quantity.replace("_", " "),
        )
    right.set_yscale("log")
    low, high = right.get_ylim()
    right.set_ylim(low, high * (high / low) ** 0.35)  # room for the legend above the bars
    right.set_xticks(np.arange(len(cases)) + width, cases, rotation=25, ha="right")
    right.set_ylabel("relative gap (worst seed)")
    right.set_title("closed forms against flows", fontsize=9)
    right.legend(fontsize=8)
    return fig

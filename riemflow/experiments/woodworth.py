"""Woodworth, Gunasekar, Lee, Moroshko, Savarese, Golan, Soudry, Srebro, *Kernel and Rich
Regimes in Overparametrized Models*, COLT 2020.

The model $w = u^D - v^D$ with $u(0) = v(0) = \\alpha$ (element-wise), trained by gradient
flow on an underdetermined least-squares problem, converges to
$\\arg\\min \\{Q^D_\\alpha(w) : Xw = y\\}$ with

- $D = 2$: $Q_\\alpha(w) = \\alpha^2 \\sum_i q(w_i / \\alpha^2)$,
  $q(z) = 2 - \\sqrt{4 + z^2} + z \\operatorname{arcsinh}(z/2)$;
- $D \\ge 3$: $Q^D_\\alpha(w) = \\alpha^D \\sum_i q_D(w_i / \\alpha^D)$, $q_D' = h_D^{-1}$,
  $h_D(s) = (1 - s)^{-D/(D-2)} - (1 + s)^{-D/(D-2)}$ on $(-1, 1)$.

Claims reproduced: $\\alpha \\to 0$ gives the minimum-$\\ell_1$ interpolant (basis pursuit, the
"rich" regime), $\\alpha \\to \\infty$ the minimum-$\\ell_2$ one (the "kernel" regime); deeper
networks reach the rich regime at larger $\\alpha$; on a sparse problem the rich limit has the
lower population error.

Relation to riemflow's potentials ([Concepts: closed forms for diagonal
networks](concepts.md#closed-forms-for-diagonal-networks), `potentials.diagonal_network`, which is
normalized by the forward construction): $Q_\\alpha = 4 R$ for $D = 2$ (the hyperbolic entropy) and
$Q^D_\\alpha = D(D-2)\\,\\alpha^{D-2} R$ for $D \\ge 3$; both vanish with their gradient at $w = 0$,
so no affine term remains and the Bregman projections coincide.

The limit is computed two independent ways: the Bregman projection `riemflow.implicit_bias`
with the paper's closed form (`paper_potential`, written here in a cancellation-free form, in
the dual variable $s = \\nabla Q$), and a long gradient flow (`riemflow.gradient_flow` on
`models.diagonal_network`); riemflow's own potential (`mirror_potential` of the model) is a
third route, recorded where its dual solve converges (see `compare`).

Sizes: the paper's $d = 1000$, $n = 100$, a 5-sparse truth, label noise of variance 0.01,
$\\alpha$ from $10^{-4}$ to $10^2$, $D = 2, 3, 4$. Our conventions (the paper's random instance is
not reproduced): Gaussian design $x \\sim N(0, I_d)$, truth with `sparsity` entries
$\\pm 1/\\sqrt{k}$ (unit norm, random support and signs), population error
$E(\\langle w, x\\rangle - y)^2 = |w - w^*|^2 + \\sigma^2$. The gradient flows run at the
paper's size for a few $(D, \\alpha)$ only: below $\\alpha \\approx 0.1$ at $D \\ge 3$ the flow
needs times of order $\\alpha^{-(D-2)}$ and beyond to converge.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import autograd.numpy as anp
import numpy as np
from autograd.extend import defjvp, defvjp, primitive

from .. import convex, losses, models
from .._validation import (
    as_float_array,
    as_positive,
    as_positive_int,
    as_real_at_least,
    check_finite,
)
from ..bregman import implicit_bias
from ..edge_dual import PowerSum
from ..errors import ConvergenceError, InputError, SolverError
from ..flows import gradient_flow
from ..forward import mirror_potential
from ..legendre import Legendre
from ..sweep import sweep
from ._claims import ClaimTable, relative_gap

NAME = "woodworth"
PAPER = (
    "B. Woodworth, S. Gunasekar, J. D. Lee, E. Moroshko, P. Savarese, I. Golan, D. Soudry, "
    "N. Srebro, Kernel and Rich Regimes in Overparametrized Models, COLT 2020"
)

#: the paper's alpha grid: 1e-4 .. 1e2, four points a decade
ALPHAS = tuple(float(a) for a in np.logspace(-4, 2, 25))
#: (depth, alpha) points where the long gradient flow is run at full size (converges by t=1e4)
FLOW_POINTS = ((2, 0.01), (2, 0.1), (2, 1.0), (3, 0.1), (3, 1.0), (4, 0.3), (4, 1.0))
#: scales where the projection with riemflow's own potential is computed too (per depth)
CHECK_ALPHAS = (1e-4, 1e-2, 1.0, 100.0)

QUICK: dict = {
    "dim": 100,
    "n_samples": 25,
    "sparsity": 3,
    "alphas": (1e-4, 1e-3, 1e-2, 0.1, 1.0, 10.0, 100.0),
    "flow_points": ((2, 0.1), (3, 0.3), (4, 1.0)),
    "check_alphas": (1e-3, 1.0, 100.0),
}

#: the tolerances compare() decides with, and why
TOLERANCES = {
    # alpha -> 0: relative l1 excess |w|_1 / |w_BP|_1 - 1 at the smallest alpha. The paper's
    # rate is O(1 / log(1/alpha)) for D = 2 (0.8% at alpha = 1e-4 on the paper's instance)
    # and polynomial in alpha for D >= 3 (accepted down to -1e-6: basis pursuit itself is a
    # HiGHS vertex with a feasibility error of ~1e-9, so its l1 norm is not exact either)
    "rich_l1_excess": 0.02,
    # alpha -> inf: |w - w_l2| / |w_l2| at the largest alpha; the gap is O(alpha^-D) (1e-13
    # at alpha = 100, D = 2), the tolerance is far above it and far below the O(1) gap to BP
    "kernel_distance": 1e-6,
    # long gradient flow (LSODA, rtol 1e-10, t = 1e4) against the Bregman projection,
    # relative max-abs gap; measured 1e-11 .. 1e-9 at the flow points
    "flow_vs_projection": 1e-6,
    # Bregman projections with the paper's Q and with riemflow's R (two dual solves to
    # |Xw - y| <= 1e-8, usually overshot by orders; 1.5e-8 at D = 4, alpha = 1e-4, the
    # float64 floor of the dual there), relative max-abs gap
    "paper_vs_riemflow": 1e-7,
    # Q = c R at sampled points: both closed forms in float64, relative
    "potential_scale": 1e-10,
}


# -- the paper's potentials ---------------------------------------------------------------------
def _logcosh(t):
    return anp.log1p(2.0 * anp.sinh(0.5 * t) ** 2)  # log cosh t, exact for small t


def h(s, depth: float):
    """$h_D(s) = (1 - s)^{-D/(D-2)} - (1 + s)^{-D/(D-2)}$ on $(-1, 1)$, $D > 2$.

    Evaluated as $2 \\cosh^p(t) \\sinh(p t)$ with $t = \\operatorname{artanh} s$,
    $p = D/(D-2)$: no cancellation near $s = 0$. NaN outside $(-1, 1)$.

    Examples:
        >>> from riemflow.experiments.woodworth import h
        >>> float(h(0.5, 3))  # 0.5^-3 - 1.5^-3
        7.703703703703...
    """
    D = as_real_at_least(depth, "depth", 2.0)
    if D == 2:
        raise InputError("h_D is defined for depth > 2 (D = 2: 2 sinh)", argument="depth")
    p = D / (D - 2.0)
    t = anp.arctanh(s)
    return 2.0 * anp.exp(p * _logcosh(t)) * anp.sinh(p * t)


def _h_prime(t, p):
    """$h_D'(s) = p[(1-s)^{-p-1} + (1+s)^{-p-1}]$ at $s = \\tanh t$."""
    return 2.0 * p * anp.exp((p + 1.0) * _logcosh(t)) * anp.cosh((p + 1.0) * t)


def _big_h(t, p):
    """$H(s) = \\int_0^s h_D = [(1-s)^{-r} + (1+s)^{-r} - 2] / r$, $r = p - 1$, at
    $s = \\tanh t$: $(2/r)[(\\cosh^r t - 1)\\cosh(rt) + 2 \\sinh^2(rt/2)]$, two
    non-negative terms (no cancellation)."""
    r = p - 1.0
    return (2.0 / r) * (
        anp.expm1(r * _logcosh(t)) * anp.cosh(r * t) + 2.0 * anp.sinh(0.5 * r * t) ** 2
    )


def _artanh_h_inverse(z: np.ndarray, p: float, max_iter: int = 200) -> np.ndarray:
    """`t = artanh(h_D^{-1}(z))`: a safeguarded Newton solve of
    `log h(tanh t) = log |z|` (bracketed, bisection fallback), vectorized."""
    z = np.asarray(z, dtype=np.float64)
    az = np.abs(z)
    target = np.log(np.where(az > 0, az, 1.0))

    def f(t):
        return np.log(2.0) + p * _logcosh(t) + np.log(np.sinh(p * t)) - target

    with np.errstate(all="ignore"):
        lo = np.zeros_like(az)
        hi = np.ones_like(az)
        for _ in range(80):  # h grows like e^{2pt}: t <= ~400 covers every float
            low = f(hi) < 0
            if not np.any(low & (az > 0)):
                break
            lo = np.where(low, hi, lo)
            hi = np.where(low, 2.0 * hi, hi)
        t = np.clip(np.arcsinh(az) / (2.0 * p), lo, hi)
        t = np.where((t <= lo) | (t >= hi), 0.5 * (lo + hi), t)
        for _ in range(max_iter):
            ft = f(t)
            lo = np.where(ft < 0, t, lo)
            hi = np.where(ft > 0, t, hi)
            slope = p * np.tanh(t) + p / np.tanh(p * t)
            new = t - ft / slope
            inside = (new > lo) & (new < hi) & np.isfinite(new)
            new = np.where(inside, new, 0.5 * (lo + hi))
            done = np.abs(new - t) <= 4.0 * np.finfo(float).eps * np.abs(new)
            t = new
            if np.all(done | (az == 0)):
                break
    return np.where(az > 0, np.sign(z) * t, 0.0)


def h_inverse(z, depth: float) -> np.ndarray:
    """$h_D^{-1}(z) \\in (-1, 1)$, the derivative $q_D'$ of the paper's $q_D$ ($D > 2$).

    Examples:
        >>> from riemflow.experiments.woodworth import h, h_inverse
        >>> round(float(h_inverse(h(0.25, 4), 4)), 14)
        0.25
    """
    D = as_real_at_least(depth, "depth", 2.0)
    if D == 2:
        raise InputError("h_D is defined for depth > 2", argument="depth")
    z = check_finite(as_float_array(z, "z"), "z")
    return np.tanh(_artanh_h_inverse(z, D / (D - 2.0)))


def q(z, depth: float = 2):
    """The paper's scalar potential $q_D$ (element-wise), normalized by $q_D(0) = 0$.

    - $D = 2$: $q(z) = 2 - \\sqrt{4 + z^2} + z \\operatorname{arcsinh}(z/2)$;
    - $D > 2$: $q_D(z) = \\int_0^z h_D^{-1} = z s - H(s)$ with $s = h_D^{-1}(z)$,
      $H(s) = \\int_0^s h_D = \\frac{D-2}{2}[(1-s)^{-2/(D-2)} + (1+s)^{-2/(D-2)} - 2]$.

    Args:
        z: points, any shape.
        depth: $D \\ge 2$.

    Raises:
        InputError, NonFiniteError: bad `depth` or `z`.

    Examples:
        >>> import numpy as np
        >>> from riemflow.experiments.woodworth import q
        >>> float(q(2.0, 2))  # 2 - sqrt(8) + 2 arcsinh(1)
        0.93432...
    """
    D = as_real_at_least(depth, "depth", 2.0)
    z = check_finite(as_float_array(z, "z"), "z")
    if D == 2:
        return -(z**2) / (2.0 + np.sqrt(4.0 + z**2)) + z * np.arcsinh(0.5 * z)
    p = D / (D - 2.0)
    t = _artanh_h_inverse(z, p)
    return z * np.tanh(t) - _big_h(t, p)


def riemflow_scale(alpha: float, depth: float) -> float:
    """The constant `c` with $Q^D_\\alpha = c R$, `R = potentials.diagonal_network(d, D,
    alpha)` (riemflow's normalization, [Concepts: closed forms for diagonal
    networks](concepts.md#closed-forms-for-diagonal-networks)): `4` for `D = 2`,
    $D(D-2)\\alpha^{D-2}$ for `D > 2`.

    Derivation ($D > 2$): riemflow's $\\nabla R^*(\\mu) = (c_0 - k\\mu)^{-p} - (c_0 + k\\mu)^{-p}$
    with $c_0 = \\alpha^{2-D}$, $k = D(D-2)$, $p = D/(D-2)$ equals
    $\\alpha^D h_D(k \\alpha^{D-2} \\mu)$, while $\\nabla Q^* = \\alpha^D h_D$; so
    $\\nabla Q = k\\alpha^{D-2} \\nabla R$, and both vanish at 0.

    Examples:
        >>> from riemflow.experiments.woodworth import riemflow_scale
        >>> riemflow_scale(0.5, 2), riemflow_scale(0.5, 4)
        (4.0, 2.0)
    """
    D = as_real_at_least(depth, "depth", 2.0)
    alpha = as_positive(alpha, "alpha")
    return 4.0 if D == 2 else D * (D - 2.0) * alpha ** (D - 2.0)


def _diagonal(values, dim):
    return values[..., :, None] * np.eye(dim)


def paper_potential(dim: int, alpha: float, depth: float = 2) -> Legendre:
    """The paper's $Q^D_\\alpha(w) = \\alpha^D \\sum_i q_D(w_i / \\alpha^D)$ as a `Legendre`.

    Written in the paper's dual variable $s = \\nabla Q(w)$, with closed forms throughout:

    - $D = 2$: $\\nabla Q = \\operatorname{arcsinh}(w / 2\\alpha^2)$,
      $\\nabla Q^*(s) = 2\\alpha^2 \\sinh s$, $Q^*(s) = 4\\alpha^2 \\sinh^2(s/2)$;
    - $D > 2$: $\\nabla Q = h_D^{-1}(w/\\alpha^D)$ (scalar root solve, an autograd
      primitive), $\\nabla Q^*(s) = \\alpha^D h_D(s)$, $Q^*(s) = \\alpha^D H(s)$,
      $\\nabla^2 Q^*(s) = \\alpha^D h_D'(s)$ on $|s| < 1$ (NaN outside: `implicit_bias`'s
      line search backs off from there).

    All evaluated in $t = \\operatorname{artanh} s$ without cancellation, so the projection
    keeps full accuracy in the kernel regime (riemflow's own depth >= 3 potential loses
    digits there: see `compare`).

    Args:
        dim: `d`.
        alpha: initialization scale `> 0` ($\\alpha^D$ must be a normal float).
        depth: $D \\ge 2$.

    Raises:
        InputError: bad `dim`, `alpha`, `depth`.

    Examples:
        >>> import numpy as np
        >>> from riemflow.experiments.woodworth import paper_potential
        >>> Q = paper_potential(2, 0.5, 3)
        >>> w = np.array([0.3, -2.0])
        >>> bool(np.allclose(Q.grad_conjugate(Q.grad(w)), w, rtol=1e-14))
        True
    """
    dim = as_positive_int(dim, "dim")
    alpha = as_positive(alpha, "alpha")
    D = as_real_at_least(depth, "depth", 2.0)
    with np.errstate(all="ignore"):
        scale = alpha**D
    if not (np.isfinite(scale) and scale >= np.finfo(float).tiny):
        raise InputError(f"alpha^D = {alpha:g}^{D:g} leaves the float range", argument="alpha")
    if D == 2:

        def value(w):
            z = w / scale
            return scale * anp.sum(
                -(z**2) / (2.0 + anp.sqrt(4.0 + z**2)) + z * anp.arcsinh(0.5 * z), axis=-1
            )

        return Legendre(
            value,
            dim,
            grad=lambda w: anp.arcsinh(0.5 * w / scale),
            hessian=lambda w: _diagonal(1.0 / anp.sqrt(4.0 * scale**2 + w**2), dim),
            grad_conjugate=lambda s: 2.0 * scale * anp.sinh(s),
            conjugate=lambda s: anp.sum(4.0 * scale * anp.sinh(0.5 * s) ** 2, axis=-1),
            hessian_conjugate=lambda s: _diagonal(2.0 * scale * anp.cosh(s), dim),
            name=f"Woodworth Q (D=2, alpha={alpha:g})",
            check_derivatives=False,
        )
    p = D / (D - 2.0)

    @primitive
    def artanh_grad(w):  # t = artanh(grad Q(w))
        return _artanh_h_inverse(np.asarray(w) / scale, p)

    def dt_dw(t):  # dt/dw = (1 - s^2)^{-1} ds/dw = cosh^2 t / (alpha^D h'(s))
        return np.cosh(t) ** 2 / (scale * _h_prime(t, p))

    defvjp(artanh_grad, lambda t, w: lambda g: g * dt_dw(t))
    defjvp(artanh_grad, lambda g, t, w: g * dt_dw(t))

    def value(w):
        t = artanh_grad(w)
        return anp.sum(w * anp.tanh(t) - scale * _big_h(t, p), axis=-1)

    def dual_t(s):
        return anp.arctanh(s)  # NaN outside (-1, 1)

    return Legendre(
        value,
        dim,
        grad=lambda w: anp.tanh(artanh_grad(w)),
        hessian=lambda w: _diagonal(1.0 / (scale * _h_prime(artanh_grad(w), p)), dim),
        grad_conjugate=lambda s: (
            2.0 * scale * anp.exp(p * _logcosh(dual_t(s))) * anp.sinh(p * dual_t(s))
        ),
        conjugate=lambda s: anp.sum(scale * _big_h(dual_t(s), p), axis=-1),
        hessian_conjugate=lambda s: _diagonal(scale * _h_prime(dual_t(s), p), dim),
        name=f"Woodworth Q (D={D:g}, alpha={alpha:g})",
        check_derivatives=False,
        # grad Q*(s) = alpha^D ((1 - s)^-p - (1 + s)^-p): solved near |s| = 1 in slacks
        edge_form=PowerSum(
            a=np.array([[scale], [-scale]]) * np.ones((2, dim)),
            b=np.ones((2, dim)),
            s=np.array([[1.0], [-1.0]]) * np.ones((2, dim)),
            p=-p,
            theta0=np.zeros(dim),
            w_ref=np.zeros(dim),
            name=f"Woodworth Q (D={D:g}, alpha={alpha:g})",
        ),
    )


# -- the sparse regression problem ------------------------------------------------------------
@dataclass(frozen=True)
class SparseProblem:
    """A sparse regression instance with Gaussian design.

    Attributes:
        X: design `(n, d)`, i.i.d. $N(0, 1)$ entries (rows $x \\sim N(0, I_d)$).
        y: labels `(n,)`, $y = X w^* + \\varepsilon$, $\\varepsilon \\sim N(0, \\sigma^2)$.
        w_star: the truth `(d,)`: `sparsity` entries $\\pm 1/\\sqrt{k}$ (unit norm).
        noise_var: $\\sigma^2$.
        seed: the seed it was drawn with.
    """

    X: np.ndarray
    y: np.ndarray
    w_star: np.ndarray
    noise_var: float
    seed: int

    def excess_error(self, w) -> float:
        """$|w - w^*|^2$: the population error minus the noise variance."""
        return float(np.sum((np.asarray(w) - self.w_star) ** 2))

    def population_error(self, w) -> float:
        """$E_{x, \\varepsilon}(\\langle w, x\\rangle - y)^2 = |w - w^*|^2 + \\sigma^2$."""
        return self.excess_error(w) + self.noise_var


def sparse_problem(
    dim: int = 1000,
    n_samples: int = 100,
    sparsity: int = 5,
    noise_var: float = 0.01,
    seed: int = 0,
) -> SparseProblem:
    """The paper's sparse regression instance (our conventions: see the module docstring).

    Raises:
        InputError: non-positive sizes, `n_samples >= dim` (not underdetermined),
            `sparsity > dim`, negative `noise_var`.

    Examples:
        >>> from riemflow.experiments.woodworth import sparse_problem
        >>> P = sparse_problem(50, 10, 2, seed=1)
        >>> P.X.shape, int((P.w_star != 0).sum()), round(float(P.w_star @ P.w_star), 12)
        ((10, 50), 2, 1.0)
    """
    dim = as_positive_int(dim, "dim")
    n_samples = as_positive_int(n_samples, "n_samples")
    sparsity = as_positive_int(sparsity, "sparsity")
    noise_var = as_positive(noise_var, "noise_var", allow_zero=True)
    if n_samples >= dim:
        raise InputError(
            f"`n_samples` must be < `dim` (underdetermined); got {n_samples} >= {dim}",
            argument="n_samples",
        )
    if sparsity > dim:
        raise InputError(f"`sparsity` must be <= dim={dim}; got {sparsity}", argument="sparsity")
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n_samples, dim))
    w_star = np.zeros(dim)
    support = rng.choice(dim, size=sparsity, replace=False)
    w_star[support] = rng.choice([-1.0, 1.0], size=sparsity) / np.sqrt(sparsity)
    y = X @ w_star + np.sqrt(noise_var) * rng.standard_normal(n_samples)
    return SparseProblem(X=X, y=y, w_star=w_star, noise_var=float(noise_var), seed=int(seed))


@functools.lru_cache(maxsize=8)
def sparse_instance(dim, n_samples, sparsity, noise_var, seed):
    """A `sparse_problem` with its two reference interpolants: `(P, basis pursuit (d,),
    minimum l2 norm (d,))`.

    Examples:
        >>> from riemflow.experiments.woodworth import sparse_instance
        >>> P, bp, l2 = sparse_instance(12, 6, 2, 0.0, 0)
        >>> bp.shape, l2.shape
        ((12,), (12,))
    """
    P = sparse_problem(dim, n_samples, sparsity, noise_var, seed)
    return P, convex.basis_pursuit(P.X, P.y), convex.min_norm(P.X, P.y)


# -- the limits ---------------------------------------------------------------------------------
def _potential(kind: str, dim: int, alpha: float, depth: float) -> Legendre:
    if kind == "paper":
        return paper_potential(dim, alpha, depth)
    if kind == "riemflow":
        G, x0 = models.diagonal_network(
            dim, depth=as_real_at_least(depth, "depth", 2.0), alpha=alpha
        )
        return mirror_potential(G, x0)
    raise InputError(
        f"`potential` must be 'paper' or 'riemflow'; got {kind!r}", argument="potential"
    )


def projection(
    X,
    y,
    alpha: float,
    depth: float = 2,
    *,
    potential: str = "paper",
    tol: float = 1e-8,
    stage_tol: float = 1e-6,
    floor_margin: float = 10.0,
    max_iter: int = 500,
    step: float = 10.0,
):
    """The predicted limit $\\arg\\min\\{Q^D_\\alpha(w) : Xw = y\\}$ (`riemflow.implicit_bias`).

    For $\\alpha < 1$ the dual solve is path-followed: `implicit_bias` solves a chain of
    projections with $\\alpha_k^D$ decreasing from 1 to $\\alpha^D$ by at most the factor
    `step`, each started from the reference point $w_0 = \\nabla Q_{\\alpha_k}^*(s_{k-1})$,
    $s_{k-1} = X^\\top\\lambda_{k-1}$ the previous dual solution. Because
    $\\nabla Q(w_0)$ lies in the row space of $X$, $\\arg\\min\\{D_Q(w, w_0) : Xw = y\\} =
    \\arg\\min\\{Q(w) : Xw = y\\}$: the answer is unchanged, but the damped Newton solve
    starts next to it. Started cold at $\\alpha^D = 10^{-16}$ ($D = 4$, $\\alpha = 10^{-4}$) the
    dual, a barrier of weight $\\alpha^D$ on $\\{|X^\\top\\lambda|_\\infty < 1\\}$, makes
    no progress at all (the classic reason interior-point methods follow a path).

    Args:
        X: `(n, d)`, `y`: `(n,)`.
        alpha: initialization scale.
        depth: `D`.
        potential: `"paper"` (`paper_potential`) or `"riemflow"` (`mirror_potential` of
            `models.diagonal_network(d, D, alpha)`, riemflow's closed form, rescaled to the
            same dual variable).
        tol: feasibility tolerance `|Xw - y|_inf / max(1, |y|_inf)` of the final dual
            solve. At small $\\alpha$ the dual point $s = X^\\top\\lambda$ is next to
            $\\pm 1$ on the support ($1 - |s| \\approx 10^{-8}$ at $D = 4$,
            $\\alpha = 10^{-4}$) and $w = \\alpha^D h_D(s)$ is known only to
            $p\\,\\varepsilon / (1 - |s|)$ relative: when a solve stalls above `tol` but
            below `floor = floor_margin * |X| (|w| p eps / (1 - |s|))` (with `w`, `s` of the
            previous stage), its best point is accepted (about 1e-8 at $D = 4$,
            $\\alpha = 10^{-4}$); above the floor the `ConvergenceError` is raised.
        stage_tol: the same for the intermediate stages of the path (warm starts only).
        floor_margin: safety factor on the resolvable residual (the last stage's dual point
            is closer to $\\pm 1$ than the previous one's by about $10^{1/p}$).
        max_iter: Newton budget of every dual solve.
        step: largest ratio $\\alpha_{k-1}^D / \\alpha_k^D$ of the path (> 1).

    Raises:
        InputError: bad `potential`, `alpha`, `depth`, `step`.
        ConvergenceError: a dual solve stalled above both `tol` and the float64 floor.

    Examples:
        >>> import numpy as np
        >>> from riemflow.experiments.woodworth import projection
        >>> X, y = np.array([[1.0, 2.0]]), np.array([2.0])
        >>> projection(X, y, 1e-3, 3).round(6).tolist()  # basis pursuit: (0, 1)
        [0.0, 1.0]
    """
    X = check_finite(as_float_array(X, "X"), "X")
    if X.ndim != 2:
        raise InputError(f"`X` must be (n, d); got shape {X.shape}", argument="X")
    d = X.shape[1]
    alpha = as_positive(alpha, "alpha")
    D = as_real_at_least(depth, "depth", 2.0)
    step = as_positive(step, "step")
    tol, stage_tol = as_positive(tol, "tol"), as_positive(stage_tol, "stage_tol")
    floor_margin = as_positive(floor_margin, "floor_margin")
    if step <= 1.0:
        raise InputError(f"`step` must be > 1; got {step!r}", argument="step")
    n_stages = 0 if alpha >= 1.0 else int(np.ceil(D * np.log(1.0 / alpha) / np.log(step)))
    path = alpha ** np.linspace(0.0, 1.0, n_stages + 1) if n_stages else np.array([alpha])
    w0 = np.zeros(d)
    s = np.zeros(d)  # the paper's dual point grad Q(w) = X^T lambda
    floor = 0.0
    y_scale = max(1.0, float(np.max(np.abs(y))))
    for a_k in path:
        Q = paper_potential(d, a_k, D)
        if a_k != path[0]:
            w0 = np.asarray(Q.grad_conjugate(s))
        R = Q if potential == "paper" else _potential(potential, d, a_k, D)
        last = a_k == path[-1]
        target = tol if last else max(tol, stage_tol)
        try:
            res = implicit_bias(R, X, y, w0, tol=target, max_iter=max_iter, full_output=True)
        except ConvergenceError as exc:
            if exc.residual is None or not exc.residual <= floor:
                raise
            # deterministic: the same solve stops at the same best point, now accepted
            res = implicit_bias(
                R, X, y, w0, tol=exc.residual * (1 + 1e-9), max_iter=max_iter, full_output=True
            )
        c = 1.0 if potential == "paper" else riemflow_scale(a_k, D)
        s = s + c * (X.T @ res.multipliers)
        eps = np.finfo(float).eps
        if D == 2:  # w = 2 alpha^2 sinh(s): dw / w = coth(s) ds, ds ~ eps |s|
            sensitivity = eps * (1.0 + np.abs(s))
        else:  # w = alpha^D h_D(s): dw / w ~ p ds / (1 - |s|), ds ~ eps
            sensitivity = (D / (D - 2.0)) * eps / np.maximum(1.0 - np.abs(s), 1e-300)
        floor = floor_margin * float(np.max(np.abs(X) @ (np.abs(res.w) * sensitivity))) / y_scale
    return res.w


def flow_limit(
    X,
    y,
    alpha: float,
    depth: float = 2,
    *,
    t_final: float = 1e4,
    rtol: float = 1e-10,
    method: str = "LSODA",
):
    """The end of a long gradient flow on $u^D - v^D$ from $u = v = \\alpha$.

    `riemflow.gradient_flow` on `models.diagonal_network(d, D, alpha)` with the loss
    $\\frac{1}{2n}|Xw - y|^2$, up to `t_final`. Near its limit the flow is stiff (fast
    directions of the loss, slow ones of the bias): LSODA switches to BDF there.

    Returns:
        The `Trajectory` (`.w_final`, `.loss`).

    Raises:
        DivergenceError, SolverError: the integration failed (with the time reached).

    Examples:
        >>> import numpy as np
        >>> from riemflow.experiments.woodworth import flow_limit
        >>> traj = flow_limit(np.array([[1.0, 2.0]]), np.array([2.0]), 0.5, 2, t_final=200)
        >>> bool(traj.loss[-1] < 1e-20)
        True
    """
    X = check_finite(as_float_array(X, "X"), "X")
    if X.ndim != 2:
        raise InputError(f"`X` must be (n, d); got shape {X.shape}", argument="X")
    G, x0 = models.diagonal_network(
        X.shape[1], depth=as_real_at_least(depth, "depth", 2.0), alpha=alpha
    )
    t_final = as_positive(t_final, "t_final")
    return gradient_flow(
        G, losses.squared(X, y), x0, (0.0, t_final), t_eval=[0.0, t_final], rtol=rtol, method=method
    )


def describe(P, bp, l2, w) -> dict:
    """Figures of an interpolant `w` of the problem `P` (see `sparse_instance`): its l1 and l2
    norms, excess and population errors, and relative distances to the basis-pursuit
    (`bp`) and minimum-norm (`l2`) interpolants.

    Examples:
        >>> from riemflow.experiments.woodworth import describe, sparse_instance
        >>> P, bp, l2 = sparse_instance(12, 6, 2, 0.0, 0)
        >>> describe(P, bp, l2, bp)["dist_bp"]
        0.0
    """
    return {
        "l1": float(np.sum(np.abs(w))),
        "l2": float(np.linalg.norm(w)),
        "excess_error": P.excess_error(w),
        "population_error": P.population_error(w),
        "dist_bp": float(np.linalg.norm(w - bp) / np.linalg.norm(bp)),
        "dist_l2": float(np.linalg.norm(w - l2) / np.linalg.norm(l2)),
    }


def _point(kind, depth, alpha, dim, n_samples, sparsity, noise_var, instance, t_final):
    """One sweep point: a list of result rows (see `run`)."""
    P, bp, l2 = sparse_instance(dim, n_samples, sparsity, noise_var, instance)
    empty = {"gap": None, "final_loss": None, "status": "ok"}
    if kind == "reference":
        return [
            {"method": "basis_pursuit", **describe(P, bp, l2, bp), **empty},
            {"method": "min_l2", **describe(P, bp, l2, l2), **empty},
        ]
    if kind == "potential":  # Q = c R, values and gradients, |w| / alpha^D in 0.46 .. 7e11 and 0
        w = np.concatenate([np.sinh(np.linspace(-28.0, 28.0, 64)), [0.0]]) * alpha**depth
        w = w[:, None]  # a batch of 1-d points: values compared per coordinate
        Q = paper_potential(1, alpha, depth)
        R = _potential("riemflow", 1, alpha, depth)
        c = riemflow_scale(alpha, depth)
        value_gap = relative_gap(c * np.asarray(R(w)), np.asarray(Q(w)))
        grad_gap = relative_gap(c * np.asarray(R.grad(w)), np.asarray(Q.grad(w)))
        return [
            {
                "method": "potential_check",
                **dict.fromkeys(_COLUMNS),
                "gap": max(value_gap, grad_gap),
                "final_loss": None,
                "status": "ok",
            }
        ]
    w = projection(P.X, P.y, alpha, depth)
    if kind == "bregman":
        return [{"method": "bregman", **describe(P, bp, l2, w), **empty}]
    if kind == "riemflow":
        row = {"method": "riemflow_potential", **dict.fromkeys(_COLUMNS), **empty}
        try:
            w_rf = projection(P.X, P.y, alpha, depth, potential="riemflow")
            row.update(describe(P, bp, l2, w_rf), gap=relative_gap(w_rf, w))
        except (ConvergenceError, SolverError) as exc:  # recorded, reported by compare()
            row["status"] = f"{type(exc).__name__}: {str(exc)[:200]}"
        return [row]
    traj = flow_limit(P.X, P.y, alpha, depth, t_final=t_final)
    w_flow = traj.w_final
    return [
        {
            "method": "flow",
            **describe(P, bp, l2, w_flow),
            "gap": relative_gap(w_flow, w),
            "final_loss": float(traj.loss[-1]),
            "status": "ok",
        }
    ]


_COLUMNS = ("l1", "l2", "excess_error", "population_error", "dist_bp", "dist_l2")


def run(
    *,
    dim: int = 1000,
    n_samples: int = 100,
    sparsity: int = 5,
    noise_var: float = 0.01,
    alphas=ALPHAS,
    depths=(2, 3, 4),
    flow_points=FLOW_POINTS,
    check_alphas=CHECK_ALPHAS,
    t_final: float = 1e4,
    instance: int = 0,
    store=None,
    n_jobs: int = 1,
    progress: bool = True,
):
    """The kernel-to-rich sweep: the limit for every `(depth, alpha)`, two ways.

    Args:
        dim: `d` of the instance (`sparse_problem`; the paper's sizes by default).
        n_samples: `n` of the instance.
        sparsity: non-zeros of the truth.
        noise_var: label noise variance.
        alphas: initialization scales of the Bregman projections (default 25 values,
            1e-4 .. 1e2).
        depths: `D` values.
        flow_points: `(depth, alpha)` pairs where the long gradient flow is run.
        check_alphas: scales where the projection is also computed with riemflow's own
            potential (for every depth).
        t_final: length of the gradient flows.
        instance: seed of the instance.
        store: results store (passed to `riemflow.sweep.sweep`, as are the next two).
        n_jobs: worker processes.
        progress: show a progress bar.

    Returns:
        A `pandas.DataFrame`, one row per result: `kind` (`reference`, `potential`,
        `bregman`, `riemflow`, `flow`), `depth`, `alpha` (NaN for the references), the
        instance's parameters, `method` (`basis_pursuit`, `min_l2`, `potential_check`,
        `bregman`, `riemflow_potential`, `flow`), `l1`, `l2` (norms of the limit),
        `excess_error` ($|w - w^*|^2$), `population_error` (plus the noise variance),
        `dist_bp`, `dist_l2` (distances to the two interpolants, relative to their norms),
        `gap` (`riemflow_potential`: relative max-abs gap between the projections with
        riemflow's R and the paper's Q; `flow`: gradient flow against the projection;
        `potential_check`: $|Q - cR|$ and $|\\nabla Q - c\\nabla R|$, relative),
        `final_loss` (flows) and `status` (`ok`, or why riemflow's dual solve failed).

    Takes about 2 minutes on one core at the default sizes.
    """
    base = {
        "dim": int(dim),
        "n_samples": int(n_samples),
        "sparsity": int(sparsity),
        "noise_var": float(noise_var),
        "instance": int(instance),
    }
    points = [{"kind": "reference", "depth": None, "alpha": None, **base}]
    points += [
        {"kind": "potential", "depth": int(D), "alpha": a, **base}
        for D in depths
        for a in (1e-3, 1.0)
    ]
    points += [
        {"kind": "bregman", "depth": int(D), "alpha": float(a), **base}
        for D in depths
        for a in alphas
    ]
    points += [
        {"kind": "riemflow", "depth": int(D), "alpha": float(a), **base}
        for D in depths
        for a in check_alphas
    ]
    points += [{"kind": "flow", "depth": int(D), "alpha": float(a), **base} for D, a in flow_points]
    fn = functools.partial(_point, t_final=float(t_final))
    df = sweep(fn, points, store=store, n_jobs=n_jobs, progress=progress, desc=NAME)
    df = df.drop(columns="seed")
    df.attrs.update(t_final=float(t_final))
    return df


# -- the claims ---------------------------------------------------------------------------------
def transition_alpha(df, depth: int, level: float = 0.5) -> float:
    """The `alpha` where the l1 norm of the limit has moved `level` of the way from basis
    pursuit to the minimum-l2 interpolant (log-linear interpolation on the sweep's grid).

    Raises:
        InputError: the sweep has no such crossing for `depth`.
    """
    ref = df[df["kind"] == "reference"].set_index("method")["l1"]
    sub = df[(df["method"] == "bregman") & (df["depth"] == depth)].sort_values("alpha")
    frac = (sub["l1"].to_numpy() - ref["basis_pursuit"]) / (ref["min_l2"] - ref["basis_pursuit"])
    alphas = sub["alpha"].to_numpy(float)
    above = np.nonzero(frac >= level)[0]
    if above.size == 0 or above[0] == 0:
        raise InputError(
            f"no crossing of level {level} for depth {depth} on this alpha grid", argument="df"
        )
    k = above[0]
    x0, x1 = np.log(alphas[k - 1]), np.log(alphas[k])
    f0, f1 = frac[k - 1], frac[k]
    return float(np.exp(x0 + (level - f0) * (x1 - x0) / (f1 - f0)))


def compare(df):
    """The paper's claims next to riemflow's numbers (one row per claim and depth)."""

    tol = TOLERANCES
    claims = ClaimTable()
    claim = claims.add

    ref = df[df["kind"] == "reference"].set_index("method")
    breg = df[df["method"] == "bregman"]
    depths = sorted(int(D) for D in breg["depth"].unique())
    for D in depths:
        sub = breg[breg["depth"] == D].sort_values("alpha")
        small, large = sub.iloc[0], sub.iloc[-1]
        excess = small["l1"] / ref.loc["basis_pursuit", "l1"] - 1.0
        claim(
            f"D={D}: alpha={small['alpha']:.0e} -> min l1 (|w|_1/|w_BP|_1 - 1; "
            f"|w - w_BP|/|w_BP| = {small['dist_bp']:.1e})",
            "-> 0",
            float(excess),
            tol["rich_l1_excess"],
            -1e-6 <= excess <= tol["rich_l1_excess"],
        )
        claim(
            f"D={D}: alpha={large['alpha']:.0e} -> min l2 (|w - w_l2|/|w_l2|)",
            "-> 0",
            float(large["dist_l2"]),
            tol["kernel_distance"],
            large["dist_l2"] <= tol["kernel_distance"],
        )
        ratio = small["population_error"] / ref.loc["min_l2", "population_error"]
        claim(
            f"D={D}: sparse truth, rich limit generalizes better (pop. error rich / kernel)",
            "< 1",
            float(ratio),
            "< 1",
            ratio < 1.0,
        )
    if len(depths) > 1:
        try:
            where = [transition_alpha(df, D) for D in depths]
            text = ", ".join(f"D={D}: {a:.3g}" for D, a in zip(depths, where, strict=True))
            claim(
                f"transition alpha (half-way in l1) grows with depth ({text})",
                "increasing",
                float(min(np.diff(np.log(where)))),
                "> 0",
                bool(np.all(np.diff(where) > 0)),
                quantity="smallest log ratio of successive transition alphas",
            )
        except InputError as exc:
            claim("transition alpha grows with depth", "increasing", float("nan"), "> 0", False)
            claims.rows[-1]["claim"] += f" ({exc})"
    flows = df[df["method"] == "flow"]
    if len(flows):
        v = float(flows["gap"].max())
        claim(
            f"long gradient flow = Bregman projection ({len(flows)} (D, alpha) points, "
            f"final loss <= {flows['final_loss'].max():.0e})",
            "equal",
            v,
            tol["flow_vs_projection"],
            v <= tol["flow_vs_projection"],
        )
    checks = df[df["method"] == "riemflow_potential"]
    if len(checks):
        ok = checks[checks["status"] == "ok"]
        failed = checks[checks["status"] != "ok"]
        where = ", ".join(f"D={int(r.depth)} alpha={r.alpha:.0e}" for r in failed.itertuples())
        v = float(ok["gap"].max()) if len(ok) else float("nan")
        claim(
            f"projection with the paper's Q = with riemflow's R ({len(ok)}/{len(checks)} "
            f"points; riemflow's dual solve failed at: {where or 'none'})",
            "equal",
            v,
            tol["paper_vs_riemflow"],
            len(ok) > 0 and v <= tol["paper_vs_riemflow"],
            complete=len(failed) == 0,
        )
    pot = df[df["method"] == "potential_check"]
    if len(pot):
        v = float(pot["gap"].max())
        claim(
            "Q = 4 R (D=2), Q = D(D-2) alpha^(D-2) R (D>=3): values and gradients",
            "equal",
            v,
            tol["potential_scale"],
            v <= tol["potential_scale"],
        )
    return claims.table()


def plot(df):
    """Left: population error of the limit against alpha for each depth, with basis pursuit
    and minimum l2 as horizontal lines and the gradient flows as markers. Right: its l1
    norm."""
    from ..plotting import panels

    fig, (left, right) = panels(2, height=3.2)
    ref = df[df["kind"] == "reference"].set_index("method")
    breg = df[df["method"] == "bregman"]
    flows = df[df["method"] == "flow"]
    for ax, column, label in (
        (left, "population_error", "population error"),
        (right, "l1", r"$\|w\|_1$"),
    ):
        for D, sub in breg.groupby("depth"):
            sub = sub.sort_values("alpha")
            (line,) = ax.semilogx(sub["alpha"], sub[column], "-", label=f"$D = {int(D)}$")
            fl = flows[flows["depth"] == D]
            if len(fl):
                ax.semilogx(fl["alpha"], fl[column], "o", color=line.get_color(), mfc="none")
        ax.axhline(
            ref.loc["basis_pursuit", column], color="k", ls="--", lw=1, label="basis pursuit"
        )
        ax.axhline(ref.loc["min_l2", column], color="k", ls=":", lw=1, label=r"min $\ell_2$")
        ax.set_xlabel(r"initialization scale $\alpha$")
        ax.set_ylabel(label)
    left.set_title("limit (lines: Bregman projection, o: flow)", fontsize=9)
    right.set_title(r"$\ell_1$ norm of the limit", fontsize=9)
    left.legend(fontsize=8)
    return fig

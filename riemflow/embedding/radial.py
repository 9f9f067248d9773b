"""Exact isometric embeddings of radial Hessian metrics, from one-dimensional quadratures
([Concepts: the converse via Nash embedding](concepts.md#the-converse-via-nash-embedding)).

For `R(w) = phi(|L (w - c)|)` (a radial potential, or an affine image of one, `L`
invertible) write `x = L (w - c)`, `r = |x|`, `u = x / r`. With `R0(x) = phi(|x|)`,

    hess R0(x) = phi''(r) u u^T + (phi'(r) / r) (I - u u^T),

so the Hessian metric is the warped product `P(r) dr^2 + B(r)^2 dOmega^2` with
`P = phi''` and `B^2 = r phi'(r) = r^2 T(r)`, `T = phi'(r) / r` (the tangential eigenvalue),
and `hess R = L^T hess R0(L (w - c)) L`. An embedding of `R0` composed with `x(w)` embeds `R`.

Winding construction. Take sphere maps `V_j: R^d -> R^{N_j}`,
homogeneous of degree `k_j`, with `|V_j(u)| = 1` and `|dV_j(u) v| = kappa_j |v|` for unit
`u` and `v` tangent to the sphere (conformal on the sphere): `V_1(x) = x` (`kappa = 1`), the
traceless Veronese map `x x^T - |x|^2 I / d` (`k = 2`, `kappa^2 = 2d / (d - 1)`), symmetric
tensor powers `x^{(.)k}` (`kappa^2 = k`), and for `d = 2` the circle maps `Re/Im (x1 + i x2)^k`
(`kappa = k`). Put

    F0(x) = ( h(r), rho_1(r) V_1(u), ..., rho_J(r) V_J(u) ).

Because the blocks sit in orthogonal coordinates, `|V_j| = 1` (so `V_j . dV_j = 0`) and the
`V_j` are conformal on the sphere,

    dF0^T dF0 = (h'^2 + sum_j rho_j'^2) du_r^2 + (sum_j kappa_j^2 rho_j^2) dOmega^2 ,

an exact identity. So `F0` is isometric iff `sum_j kappa_j^2 rho_j^2 = B^2` and
`h'^2 = P - sum_j rho_j'^2 >= 0`. Write `rho_j = B c_j / kappa_j` with `sum_j c_j^2 = 1`:
a constant `c` needs `P >= B'^2 sum_j c_j^2 / kappa_j^2`, and winding (weight on a large
`kappa`) lowers the right side by up to `kappa_max^2`: a hypersurface of revolution
(`J = 1`) needs `P >= B'^2`, which fails e.g. for `-log(1 - r^2)` (`P / B'^2 = 1 - r^4`) and
for `r^p / p`, `p != 2` (`P / B'^2 = 4 (p - 1) / p^2`).

Smoothness at the center (a ball containing `c`): `rho_j(r) V_j(u) = (rho_j / r^{k_j}) V_j(x)`
is smooth iff `rho_j / r^{k_j}` is a smooth function of `t = r^2`, and `h` is smooth iff
`h'^2 / r^2` is positive at `r = 0`. The weights are nested spherical coordinates
(`WindingDesign`): `c_1 = cos th_1`, `c_2 = sin th_1 cos th_2`, ..., with
`th_j = Theta_j (r / sqrt(r^2 + s_j^2))^{k_{j+1} - k_j}`, so `c_j ~ r^{k_j - 1}` with the right
parity and both conditions hold; the Veronese level `k = 2` (next to the round one) takes
the leading `O(r^4)` deficit of `-log(1 - r^2)`-like potentials (a level `k >= 3` alone next
to the round one would leave `h ~ r^3`, not smooth). Then everything is a function of `t`
and `F0` is analytic at the center. On a shell the angles are constants.

The functions `h, rho_j` of one variable are Chebyshev interpolants (`_cheb1d`) of closed
forms in `P, T` (themselves interpolated from `hess R` along one ray), and `h` is the exact
antiderivative of the interpolant of `sqrt(P - sum rho_j'^2)` computed from the
interpolated `rho_j`: the isometry holds to the interpolation accuracy, ~1e-14.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field

import autograd.numpy as anp
import numpy as np
from autograd import make_vjp
from scipy.optimize import minimize

from .._ode import Budget
from ..errors import ConvergenceError, InputError
from ._cheb1d import Cheb1D, interpolate
from .base import Embedding

__all__ = [
    "SphereMap",
    "RadialProfile",
    "WindingDesign",
    "RadialEmbedding",
    "radial_embedding",
    "batched_jacobian",
]


# -- conformal maps of the unit sphere into unit spheres ----------------------------------------
def _harmonic_basis(d: int, k: int, combos, weights) -> np.ndarray:
    """Orthonormal basis (in weighted-monomial coordinates) of the harmonic polynomials of
    degree `k`: the kernel of the Laplacian `Sym^k -> Sym^{k-2}`."""
    index = {tuple(np.bincount(c, minlength=d)): n for n, c in enumerate(combos)}
    lower = list(itertools.combinations_with_replacement(range(d), k - 2))
    lower_index = {tuple(np.bincount(c, minlength=d)): n for n, c in enumerate(lower)}
    lap = np.zeros((len(lower), len(combos)))
    # p = sum_n a_n w_n x^alpha_n;
    # Laplacian of x^alpha: sum_i alpha_i (alpha_i - 1) x^(alpha - 2 e_i)
    for alpha, n in index.items():
        for i in range(d):
            if alpha[i] >= 2:
                beta = list(alpha)
                beta[i] -= 2
                lap[lower_index[tuple(beta)], n] += alpha[i] * (alpha[i] - 1) * weights[n]
    _, sv, vt = np.linalg.svd(lap)
    rank = int(np.sum(sv > 1e-12 * sv[0]))
    return vt[rank:].T


class SphereMap:
    """`V: R^d -> R^N`, homogeneous of degree `k`, `|V(u)| = 1` and `|dV(u) v| = kappa |v|`
    for unit `u` and `v` tangent to the sphere at `u`.

    Kinds: `k = 1` identity; `d = 2`: `(Re z^k, Im z^k)`, `z = x1 + i x2` (`kappa = k`);
    `d >= 3, k = 2`: the traceless Veronese map (orthonormal coordinates of
    `(x x^T - |x|^2 I / d) / sqrt(1 - 1/d)`, `N = d(d+1)/2 - 1`, `kappa^2 = 2d/(d-1)`);
    `d >= 3, k >= 3`: the standard minimal immersion by spherical harmonics of degree `k`
    (`kind="harmonic"`, default): the harmonic part of `x^{(.)k}`, `N = C(d+k-1, k) -
    C(d+k-3, k-2)`, `kappa^2 = k (k + d - 2) / (d - 1)`; or the whole symmetric tensor power
    (`kind="tensor"`): monomials `x^alpha` (`|alpha| = k`) weighted by `sqrt(k! / alpha!)`
    (`N = C(d+k-1, k)`, `kappa^2 = k`).

    Why these are conformal with `|V(u)| = 1`: the weighted monomials are orthonormal
    coordinates of `Sym^k R^d` with the `O(d)`-invariant (Bombieri) inner product, in which
    `|x^{(.)k}| = |x|^k` and `d(u^{(.)k}) v` has norm `sqrt(k) |v|` for `v` tangent; the
    orthogonal projection onto harmonic polynomials commutes with `O(d)`, so `|Pi u^{(.)k}|`
    is the same for every unit `u` and `Pi u^{(.)k}` is an `O(d)`-equivariant immersion of the
    sphere, hence homothetic (the isotropy group acts irreducibly on the tangent space);
    `kappa^2` is the eigenvalue `k (k + d - 2)` of the sphere's Laplacian divided by `d - 1`
    (Takahashi's theorem).
    """

    def __init__(self, d: int, k: int, kind: str = "harmonic"):
        self.d, self.k = int(d), int(k)
        if self.k < 1:
            raise InputError(f"sphere map degree must be >= 1; got {k}", argument="k")
        if self.k == 1:
            self.kind, self.kappa, self.dim_out = "round", 1.0, self.d
        elif self.d == 1:
            raise InputError("no winding on S^0 (d = 1 is flat)", argument="k")
        elif self.d == 2:
            self.kind, self.kappa, self.dim_out = "circle", float(self.k), 2
        elif self.k == 2:
            self.kind = "veronese"
            self.kappa = math.sqrt(2.0 * self.d / (self.d - 1.0))
            self.dim_out = self.d * (self.d + 1) // 2 - 1
            q, _ = np.linalg.qr(np.column_stack([np.ones(self.d), np.eye(self.d)[:, : self.d - 1]]))
            self._helmert = q[:, 1:]  # orthonormal basis of {sum = 0}
            self._pairs = np.array(list(itertools.combinations(range(self.d), 2)))
            self._norm = math.sqrt(1.0 - 1.0 / self.d)
        else:
            combos = list(itertools.combinations_with_replacement(range(self.d), self.k))
            self._index = np.array(combos)  # (N, k)
            weights = []
            for combo in combos:
                counts = np.bincount(combo, minlength=self.d)
                weights.append(
                    math.factorial(self.k) / np.prod([math.factorial(c) for c in counts])
                )
            self._weights = np.sqrt(np.array(weights))
            if kind == "tensor":
                self.kind, self.kappa = "tensor", math.sqrt(self.k)
                self._basis = None
                self.dim_out = len(combos)
            else:
                self.kind = "harmonic"
                self._basis = _harmonic_basis(
                    self.d, self.k, combos, self._weights
                )  # (N_k, N_harm)
                self._norm = float(
                    np.linalg.norm(self._basis.T @ self._monomials_np(np.eye(self.d)[:1]).T)
                )
                self.kappa = math.sqrt(self.k * (self.k + self.d - 2) / (self.d - 1))
                self.dim_out = self._basis.shape[1]

    def __call__(self, x):
        """`V(x)` for `x (..., d)` (autograd-traceable)."""
        if self.kind == "round":
            return x
        if self.kind == "circle":
            x1, x2 = x[..., 0], x[..., 1]
            c, s = x1, x2
            for _ in range(self.k - 1):
                c, s = c * x1 - s * x2, s * x1 + c * x2
            return anp.stack([c, s], axis=-1)
        if self.kind == "veronese":
            off = np.sqrt(2.0) * x[..., self._pairs[:, 0]] * x[..., self._pairs[:, 1]]
            diag = anp.dot(x * x, self._helmert)
            return anp.concatenate([diag, off], axis=-1) / self._norm
        out = x[..., self._index[:, 0]]
        for col in range(1, self.k):
            out = out * x[..., self._index[:, col]]
        out = out * self._weights
        if self.kind == "harmonic":
            out = anp.dot(out, self._basis) / self._norm
        return out

    def _monomials_np(self, x):
        out = x[..., self._index[:, 0]]
        for col in range(1, self.k):
            out = out * x[..., self._index[:, col]]
        return out * self._weights

    def jacobian(self, x):
        """`dV(x)`: `(..., N, d)` in closed form (autograd-traceable)."""
        if self.kind == "round":
            return anp.zeros(anp.shape(x)[:-1] + (self.d, self.d)) + np.eye(self.d)
        if self.kind == "circle":
            x1, x2 = x[..., 0], x[..., 1]
            c, s = 1.0 + 0.0 * x1, 0.0 * x1  # z^(k-1)
            for _ in range(self.k - 1):
                c, s = c * x1 - s * x2, s * x1 + c * x2
            k = float(self.k)
            row0 = anp.stack([k * c, -k * s], axis=-1)
            row1 = anp.stack([k * s, k * c], axis=-1)
            return anp.stack([row0, row1], axis=-2)
        if self.kind == "veronese":
            i, j = self._pairs[:, 0], self._pairs[:, 1]
            Ei, Ej = np.eye(self.d)[i], np.eye(self.d)[j]  # (N_off, d)
            off = np.sqrt(2.0) * (x[..., j][..., None] * Ei + x[..., i][..., None] * Ej)
            diag = 2.0 * self._helmert.T * x[..., None, :]  # (..., d - 1, d)
            return anp.concatenate([diag, off], axis=-2) / self._norm
        factors = [x[..., self._index[:, col]] for col in range(self.k)]
        out = 0.0
        for col in range(self.k):
            others = 1.0
            for other in range(self.k):
                if other != col:
                    others = others * factors[other]
            out = out + others[..., None] * np.eye(self.d)[self._index[:, col]]
        out = out * self._weights[:, None]
        if self.kind == "harmonic":
            out = anp.einsum("...ni,nm->...mi", out, self._basis) / self._norm
        return out

    def __repr__(self) -> str:
        return (
            f"SphereMap({self.kind}, d={self.d}, k={self.k}, kappa={self.kappa:.4g}, "
            f"N={self.dim_out})"
        )


# -- the radial profile of R --------------------------------------------------------------------
@dataclass
class RadialProfile:
    """`P(v) = phi''(r)` and `T(v) = phi'(r) / r` as Chebyshev series in `v`.

    `mode = "ball"`: `v = t = r^2` on `[0, r_max^2]` (the closed domain contains the center;
    both are smooth in `t`); `mode = "shell"`: `v = r` on `[r_min, r_max]`, `r_min > 0`.
    """

    mode: str
    P: Cheb1D
    T: Cheb1D
    r_min: float
    r_max: float

    @classmethod
    def from_hessian(
        cls,
        hessian_along_ray,
        d: int,
        r_min: float,
        r_max: float,
        mode: str,
        *,
        rtol: float = 1e-15,
    ) -> RadialProfile:
        """From `r (n,) -> hess R0(r e_1) (n, d, d)`: `P = H_11`, `T = H_22`."""
        if mode == "ball":
            a, b = 0.0, r_max**2

            def radius(v):
                return np.sqrt(v)
        else:
            a, b = r_min, r_max

            def radius(v):
                return v

        cache: dict[bytes, np.ndarray] = {}

        def entries(v):
            key = np.asarray(v).tobytes()
            if key not in cache:
                cache[key] = np.asarray(hessian_along_ray(radius(np.asarray(v))))
            return cache[key]

        P = interpolate(lambda v: entries(v)[:, 0, 0], a, b, rtol=rtol)
        T = interpolate(lambda v: entries(v)[:, 1, 1], a, b, rtol=rtol) if d > 1 else P
        return cls(mode, P, T, r_min, r_max)


# -- the weights (the winding schedule) ---------------------------------------------------------
@dataclass
class WindingDesign:
    """Sphere maps and weights `c_j(r)` (see the module docstring).

    The weights are nested spherical coordinates of a point of the unit sphere of `R^J`,
    `c_1 = cos th_1`, `c_2 = sin th_1 cos th_2`, ..., `c_J = sin th_1 ... sin th_{J-1}`, so
    `sum_j c_j^2 = 1` holds exactly; weight moves outward level by level as the angles grow,
    and a level can hand its weight on to the next one (`th_2` rising makes `c_2` fall).
    On a ball `th_j(r) = Theta_j q_j(r)^{k_{j+1} - k_j}`, `q_j = r / sqrt(r^2 + s_j^2)`, so
    `c_j / r^{k_j - 1}` is an analytic even function (`F` analytic at the center); on a
    shell the angles are constants `Theta_j`.

    Attributes:
        maps: the `SphereMap`s, first the round one.
        angle: `Theta_j` `(J - 1,)`.
        spread: `s_j` `(J - 1,)` of the ball schedule (unused on a shell).
        merit: the design objective: on a ball `min (h'^2 / r^2) r_max^2 / P`, on a shell
            `min h'^2 / P` (the fraction of the radial metric left to the height `h`).
        round_weight: `min_r c_1(r)` (the round part keeps `F` injective).
    """

    maps: list
    angle: np.ndarray
    spread: np.ndarray
    merit: float
    round_weight: float
    history: list = field(default_factory=list)

    def angles(self, r: np.ndarray, mode: str):
        """`th_j(r)` and `th_j'(r)`: two `(J - 1, n)` arrays."""
        r = np.asarray(r, dtype=np.float64)
        J = len(self.maps)
        th = np.zeros((J - 1, r.size))
        dth = np.zeros((J - 1, r.size))
        for j in range(J - 1):
            if mode == "ball":
                m = self.maps[j + 1].k - self.maps[j].k
                s2 = self.spread[j] ** 2
                q = r / np.sqrt(r * r + s2)
                dq = s2 / (r * r + s2) ** 1.5
                th[j] = self.angle[j] * q**m
                dth[j] = self.angle[j] * m * q ** (m - 1) * dq
            else:
                th[j] = self.angle[j]
        return th, dth

    def weights(self, r: np.ndarray, mode: str):
        """`c_j(r)` and `c_j'(r)`: two `(J, n)` arrays."""
        th, dth = self.angles(r, mode)
        J = len(self.maps)
        n = np.size(r)
        c = np.ones((J, n))
        dc = np.zeros((J, n))
        for j in range(J):
            # c_j = prod_{i < j} sin th_i * (cos th_j if j < J - 1 else 1)
            factors = [np.sin(th[i]) for i in range(j)] + ([np.cos(th[j])] if j < J - 1 else [])
            dfactors = [np.cos(th[i]) * dth[i] for i in range(j)] + (
                [-np.sin(th[j]) * dth[j]] if j < J - 1 else []
            )
            value = np.ones(n)
            for f in factors:
                value = value * f
            deriv = np.zeros(n)
            for a in range(len(factors)):
                term = dfactors[a]
                for b in range(len(factors)):
                    if b != a:
                        term = term * factors[b]
                deriv = deriv + term
            c[j], dc[j] = value, deriv
        return c, dc


class _Grid:
    """`P`, `B`, `B'` of a profile on fixed radii (computed once per design)."""

    def __init__(self, profile: RadialProfile, r: np.ndarray):
        self.profile, self.r = profile, r
        if profile.mode == "ball":
            t = r * r
            T = profile.T.values(t)
            sqT = np.sqrt(T)
            self.P = profile.P.values(t)
            self.B = r * sqT
            self.dB = sqT + t * profile.T.derivative().values(t) / sqT
        else:
            T = profile.T.values(r)
            sqT = np.sqrt(T)
            self.P = profile.P.values(r)
            self.B = r * sqT
            self.dB = sqT + r * profile.T.derivative().values(r) / (2.0 * sqT)


def _slack(grid: _Grid, maps, gamma, spread):
    """`h'^2 = P - sum_j rho_j'^2` on the grid's radii for given weights (closed forms)."""
    design = WindingDesign(maps, np.asarray(gamma), np.asarray(spread), 0.0, 0.0)
    c, dc = design.weights(grid.r, grid.profile.mode)
    kappa = np.array([m.kappa for m in maps])[:, None]
    drho = (grid.dB * c + grid.B * dc) / kappa
    return grid.P - np.sum(drho**2, axis=0), grid.P, c[0]


def _merit(grid: _Grid, maps, gamma, spread, round_min, budget: Budget | None = None):
    if budget is not None:
        budget.spend()
    S, P, c1 = _slack(grid, maps, gamma, spread)
    if grid.profile.mode == "ball":
        value = np.min(S / (grid.r * grid.r) * grid.profile.r_max**2 / P)
    else:
        value = np.min(S / P)
    if np.min(c1) < round_min:
        value = min(value, -1.0 + np.min(c1))
    return float(value)


def _optimize_weights(grid: _Grid, maps, *, round_min, min_slack, spread_min, rng, budget):
    """Amplitudes (and ball spreads) of the winding levels.

    Smooth weights need large spreads, a large slack needs fast winding; so: first the
    best merit `m*` (a grid for one level; a grid of starts + Nelder-Mead for several), then,
    on a ball, the largest spreads whose merit is still `>= max(min_slack, m* / 2)` (the
    profile functions then have the fewest Chebyshev terms), the largest merit among those.
    """
    profile = grid.profile
    n_w = len(maps) - 1
    ball = profile.mode == "ball"
    if n_w == 1:
        gammas = np.arccos(round_min) * np.linspace(0.02, 1.0, 50)  # Theta_1
        spreads = profile.r_max * np.geomspace(spread_min, 8.0, 40) if ball else np.zeros(1)
        table = np.array(
            [[_merit(grid, maps, [g], [s], round_min, budget) for g in gammas] for s in spreads]
        )
        best = float(np.max(table))
        if best < min_slack:  # infeasible with this level set: report the best one
            i_s, i_g = np.unravel_index(int(np.argmax(table)), table.shape)
            return np.array([gammas[i_g]]), np.array([spreads[i_s]]), best
        target = max(min_slack, 0.5 * best) if ball else best
        feasible = np.argwhere(table >= target - 1e-15)
        i_s = int(np.max(feasible[:, 0]))  # the largest feasible spread
        i_g = int(np.argmax(table[i_s]))
        return np.array([gammas[i_g]]), np.array([spreads[i_s]]), float(table[i_s, i_g])

    def unpack(z):
        g = (0.5 * np.pi) / (1.0 + np.exp(-z[:n_w]))
        g[0] = min(g[0], np.arccos(round_min))  # keeps c_1 >= round_min
        s = profile.r_max * (spread_min + np.exp(z[n_w:])) if ball else np.zeros(n_w)
        return g, s

    def merit(z):
        g, s = unpack(z)
        return _merit(grid, maps, g, s, round_min, budget)

    n_par = 2 * n_w if ball else n_w
    axes_g = [(-2.0, 0.0, 1.5, 4.0)] * n_w
    axes_s = [(-2.5, -1.0, 0.5)] * (n_par - n_w)
    starts = [np.array(z, dtype=float) for z in itertools.product(*(axes_g + axes_s))]
    starts += [rng.normal(0.5, 1.5, n_par) for _ in range(8)]
    scored = sorted(starts, key=merit, reverse=True)[:3]
    best_z, best = None, -np.inf
    for z0 in scored:
        res = minimize(
            lambda z: -merit(z),
            z0,
            method="Nelder-Mead",
            options={"maxiter": 300 * n_par, "xatol": 1e-5, "fatol": 1e-8},
        )
        if -res.fun > best:
            best_z, best = res.x, -float(res.fun)
    z = best_z
    if ball and best >= min_slack:  # push the spreads up while the merit stays >= the target
        target = max(min_slack, 0.5 * best)
        for _ in range(60):
            trial = z.copy()
            trial[n_w:] += 0.05
            if merit(trial) < target:
                break
            z = trial
    g, s = unpack(z)
    return g, s, merit(z)


def design_winding(
    profile: RadialProfile,
    d: int,
    *,
    min_slack: float = 0.02,
    round_min: float = 0.05,
    max_ambient_dim: int = 2000,
    max_level: int = 8,
    spread_min: float = 0.25,
    seed: int = 0,
    time_limit: float | None = 60.0,
    max_evaluations: int = 100_000,
) -> WindingDesign:
    """Choose sphere maps and weights so that `h'^2 >= min_slack * P` (see `WindingDesign`).

    Tries the ladder of level sets `[1]` (hypersurface of revolution, shells only),
    `[1, 2]`, `[1, 2, k]` for `k = 3, 4, ...` (`d = 2`: circles of degree `k`; `d >= 3`:
    tensor powers) while the ambient dimension stays `<= max_ambient_dim`; for each, the
    amplitudes (and spreads on a ball) are optimized by a grid start + Nelder-Mead (a few
    hundred evaluations of closed forms on ~400 radii).

    Args:
        min_slack: required merit (the fraction of `P` left to `h'^2`; on a ball relative
            to `r^2 / r_max^2`, so `h` is analytic at the center).
        round_min: smallest weight of the round level (keeps `F` injective).
        max_ambient_dim: largest `D` allowed.
        max_level: largest winding degree tried.
        spread_min: smallest spread `s_j / r_max` of a ball schedule. The weights are
            analytic in `t = r^2` except at `t = -s_j^2`, so this bounds the Chebyshev
            degrees of the profile functions (0.25: about 60-80 terms to round-off).
        seed: seed of the random starts.
        time_limit: wall-time budget of the design in seconds (default 60; `None`: none).
            A design typically takes 0.1-1 s; the budget bounds a long ladder.
        max_evaluations: budget of merit evaluations (one per weight vector tried; default
            100000, a design typically needs a few thousand).

    Raises:
        ConvergenceError: no design in the ladder reaches `min_slack`.
        BudgetError: `time_limit` or `max_evaluations` spent before a design was found.
    """
    budget = Budget(
        f"the winding design of the radial embedding (d={d})",
        max_evaluations=max_evaluations,
        time_limit=time_limit,
    )
    if profile.mode == "ball":
        r = profile.r_max * np.concatenate(
            [np.geomspace(1e-3, 0.05, 40), np.linspace(0.05, 1.0, 360)]
        )
    else:
        r = np.linspace(profile.r_min, profile.r_max, 400)
    grid = _Grid(profile, r)
    ladders: list[list[int]] = []
    if profile.mode == "shell":
        ladders.append([1])
    ladders.append([1, 2])
    ladders += [[1, 2, k] for k in range(3, max_level + 1)]
    history = []
    best = None
    rng = np.random.default_rng(seed)
    for ladder in ladders:
        if d == 1 and len(ladder) > 1:
            break
        maps = [SphereMap(d, k) for k in ladder]
        D = 1 + sum(m.dim_out for m in maps)
        if D > max_ambient_dim:
            break
        n_w = len(ladder) - 1
        if n_w == 0:
            value = _merit(grid, maps, [], [], round_min, budget)
            gamma, spread = np.zeros(0), np.zeros(0)
        else:
            gamma, spread, value = _optimize_weights(
                grid,
                maps,
                round_min=round_min,
                min_slack=min_slack,
                spread_min=spread_min,
                rng=rng,
                budget=budget,
            )
        _, _, c1 = _slack(grid, maps, gamma, spread)
        design = WindingDesign(maps, gamma, spread, value, float(np.min(c1)))
        history.append((ladder, value, D))
        if best is None or value > best.merit:
            best = design
        if value >= min_slack:
            design.history = history
            return design
    raise ConvergenceError(
        f"no winding design reaches h'^2 >= {min_slack:g} P on r in [{profile.r_min:g}, "
        f"{profile.r_max:g}] (tried {[(h[0], round(h[1], 4), h[2]) for h in history]}); "
        "raise max_ambient_dim / max_level or lower min_slack",
        residual=float(best.merit) if best is not None else float("nan"),
        iterations=len(history),
    )


# -- the embedding ------------------------------------------------------------------------------
class RadialEmbedding(Embedding):
    """`F(w) = F0(L (w - c))`, `F0(x) = (h, rho_1 V_1(u), ..., rho_J V_J(u))` (module docstring).

    Ball mode evaluates `h(t)` and `beta_j(t) V_j(x)` with `beta_j = rho_j / r^{k_j}`,
    `t = |x|^2` (analytic at the center); shell mode `h(r)` and `rho_j(r) V_j(x / r)`.

    Attributes:
        center, linear: `c` and `L`; design: the `WindingDesign`; profile: `RadialProfile`;
        parts: the Chebyshev series `h` and `beta_j` / `rho_j`.
    """

    def __init__(
        self, center, linear, profile: RadialProfile, design: WindingDesign, height, parts
    ):
        self.center = np.asarray(center, dtype=np.float64)
        self.linear = np.asarray(linear, dtype=np.float64)
        self.profile, self.design = profile, design
        self.height, self.parts = height, list(parts)
        self._dheight = height.derivative()
        self._dparts = [p.derivative() for p in self.parts]
        d = self.center.size
        D = 1 + sum(m.dim_out for m in design.maps)
        levels = "+".join(f"{m.kind}(k={m.k})" for m in design.maps)
        super().__init__(self._evaluate, d, D, f"radial ({profile.mode}), winding {levels}")

    def _evaluate(self, w):
        x = anp.dot(w - self.center, self.linear.T)
        t = anp.sum(x * x, axis=-1)
        if self.profile.mode == "ball":
            blocks = [self.height(t)[..., None]]
            for m, beta in zip(self.design.maps, self.parts, strict=True):
                blocks.append(beta(t)[..., None] * m(x))
        else:
            r = anp.sqrt(t)
            u = x / r[..., None]
            blocks = [self.height(r)[..., None]]
            for m, rho in zip(self.design.maps, self.parts, strict=True):
                blocks.append(rho(r)[..., None] * m(u))
        return anp.concatenate(blocks, axis=-1)

    def jacobian_traced(self, w):
        """`dF(w)` `(..., D, d)` in closed form, written with `autograd.numpy` (so the
        pullback metric and its derivatives, e.g. Lie brackets, are cheap and exact)."""
        x = anp.dot(w - self.center, self.linear.T)
        t = anp.sum(x * x, axis=-1)
        blocks = []
        if self.profile.mode == "ball":
            blocks.append((2.0 * self._dheight(t))[..., None, None] * x[..., None, :])
            for m, beta, dbeta in zip(self.design.maps, self.parts, self._dparts, strict=True):
                Vx = m(x)
                blocks.append(
                    beta(t)[..., None, None] * m.jacobian(x)
                    + (2.0 * dbeta(t))[..., None, None] * Vx[..., :, None] * x[..., None, :]
                )
        else:
            r = anp.sqrt(t)
            u = x / r[..., None]
            proj = (np.eye(self.dim) - u[..., :, None] * u[..., None, :]) / r[
                ..., None, None
            ]  # du/dx
            blocks.append(self._dheight(r)[..., None, None] * u[..., None, :])
            for m, rho, drho in zip(self.design.maps, self.parts, self._dparts, strict=True):
                Vu = m(u)
                blocks.append(
                    drho(r)[..., None, None] * Vu[..., :, None] * u[..., None, :]
                    + rho(r)[..., None, None] * anp.matmul(m.jacobian(u), proj)
                )
        return anp.matmul(anp.concatenate(blocks, axis=-2), self.linear)

    def metric_traced(self, w):
        """`dF^T dF` `(..., d, d)` (autograd-traceable)."""
        J = self.jacobian_traced(w)
        return anp.einsum("...ai,...aj->...ij", J, J)

    def jacobian(self, w) -> np.ndarray:
        """`dF(w)`: `(D, d)` or `(B, D, d)` (closed form, `jacobian_traced`)."""
        arr = np.asarray(w, dtype=np.float64)
        return np.asarray(self.jacobian_traced(arr))

    def to_arrays(self) -> tuple[dict, dict]:
        """The embedding as arrays and a JSON-able dict (for `save`), read back by
        `RadialEmbedding.from_arrays`."""
        arrays = {
            "radial_center": self.center,
            "radial_linear": self.linear,
            "radial_height": self.height.coefficients,
            "radial_P": self.profile.P.coefficients,
            "radial_T": self.profile.T.coefficients,
            "radial_angle": np.asarray(self.design.angle, dtype=np.float64),
            "radial_spread": np.asarray(self.design.spread, dtype=np.float64),
        }
        for j, part in enumerate(self.parts):
            arrays[f"radial_part_{j}"] = part.coefficients
        meta = {
            "mode": self.profile.mode,
            "interval": [self.height.a, self.height.b],
            "profile_interval": [self.profile.P.a, self.profile.P.b],
            "radii": [self.profile.r_min, self.profile.r_max],
            "levels": [
                [m.k, "tensor" if m.kind == "tensor" else "harmonic"] for m in self.design.maps
            ],
            "merit": self.design.merit,
            "round_weight": self.design.round_weight,
        }
        return arrays, meta

    @classmethod
    def from_arrays(cls, arrays, meta) -> RadialEmbedding:
        """The embedding saved by `to_arrays`."""
        d = np.asarray(arrays["radial_center"]).size
        a, b = meta["interval"]
        pa, pb = meta["profile_interval"]
        profile = RadialProfile(
            meta["mode"],
            Cheb1D(arrays["radial_P"], pa, pb),
            Cheb1D(arrays["radial_T"], pa, pb),
            *meta["radii"],
        )
        maps = [SphereMap(d, k, kind) for k, kind in meta["levels"]]
        design = WindingDesign(
            maps,
            np.asarray(arrays["radial_angle"]),
            np.asarray(arrays["radial_spread"]),
            meta["merit"],
            meta["round_weight"],
        )
        parts = [Cheb1D(arrays[f"radial_part_{j}"], a, b) for j in range(len(maps))]
        return cls(
            arrays["radial_center"],
            arrays["radial_linear"],
            profile,
            design,
            Cheb1D(arrays["radial_height"], a, b),
            parts,
        )


def batched_jacobian(fn, xb: np.ndarray, k: int) -> np.ndarray:
    """Jacobian `(B, k, n)` of a row-wise map `fn: (B, n) -> (B, k)`, one reverse pass on
    the batch tiled `k` times."""
    n, dim = xb.shape
    tiled = np.repeat(xb[None], k, axis=0).reshape(k * n, dim)
    vjp, out = make_vjp(fn)(tiled)
    cot = np.zeros((k, n, k))
    cot[np.arange(k), :, np.arange(k)] = 1.0
    rows = vjp(cot.reshape(k * n, k))
    return np.swapaxes(np.reshape(rows, (k, n, dim)), 0, 1)


def radial_embedding(
    hessian,
    center,
    r_range,
    *,
    linear=None,
    mode: str | None = None,
    min_slack: float = 0.02,
    round_min: float = 0.05,
    max_ambient_dim: int = 2000,
    max_level: int = 8,
    interp_rtol: float = 1e-15,
    time_limit: float | None = 60.0,
) -> RadialEmbedding:
    """The exact winding embedding of a radial (or affine-radial) Hessian metric.

    Args:
        hessian: `w (B, d) -> hess R(w) (B, d, d)` (e.g. `R.hessian`).
        center: `c` `(d,)`.
        r_range: `(r_min, r_max)`, the range of `|L (w - c)|` over the closed domain.
        linear: `L` `(d, d)` (default identity).
        mode: `"ball"` (center inside: everything analytic at `c`) or `"shell"`; default
            `"ball"` when `r_min == 0`.
        min_slack: see `design_winding`.
        round_min: see `design_winding`.
        max_ambient_dim: see `design_winding`.
        max_level: see `design_winding`.
        interp_rtol: relative accuracy of the one-dimensional Chebyshev interpolants.
        time_limit: wall-time budget of the winding design in seconds (see
            `design_winding`; default 60, `None`: none).

    Returns:
        A `RadialEmbedding` `F` with `dF^T dF = hess R` to round-off on the range.

    Raises:
        ConvergenceError: no winding design in the ladder; or `h'^2 < 0` after
            interpolation (should not happen when the design's slack is positive).
        BudgetError: the winding design's time budget ran out.

    Examples:
        >>> import numpy as np, riemflow as rf
        >>> R = rf.potentials.log_ball(3)
        >>> F = radial_embedding(R.hessian, np.zeros(3), (0.0, 0.8))
        >>> w = np.array([[0.3, -0.2, 0.5]])
        >>> bool(np.max(np.abs(F.metric(w) - R.hessian(w))) < 1e-12)
        True
    """
    c = np.asarray(center, dtype=np.float64)
    d = c.size
    L = np.eye(d) if linear is None else np.asarray(linear, dtype=np.float64)
    Linv = np.linalg.inv(L)
    r_min, r_max = float(r_range[0]), float(r_range[1])
    mode = mode or ("ball" if r_min <= 0.0 else "shell")
    if mode == "shell" and r_min <= 0:
        raise InputError("a shell needs r_min > 0", argument="r_range")

    def along_ray(r):
        x = np.zeros((np.size(r), d))
        x[:, 0] = r
        H = np.asarray(hessian(c + x @ Linv.T)).reshape(-1, d, d)
        return Linv.T @ H @ Linv  # hess R0 = L^-T hess R L^-1

    profile = RadialProfile.from_hessian(along_ray, d, r_min, r_max, mode, rtol=interp_rtol)
    design = design_winding(
        profile,
        d,
        min_slack=min_slack,
        round_min=round_min,
        max_ambient_dim=max_ambient_dim,
        max_level=max_level,
        time_limit=time_limit,
    )
    maps = design.maps
    T = profile.T
    if mode == "ball":
        a, b = 0.0, r_max**2

        def beta_fn(j):
            k = maps[j].k

            def fn(t):  # beta_j = rho_j / r^k_j = sqrt(T) c_j / (kappa_j r^(k_j - 1))
                r = np.sqrt(t)
                c_all, _ = design.weights(r, "ball")
                return np.sqrt(T.values(t)) * c_all[j] / (maps[j].kappa * r ** (k - 1))

            return fn

        parts = [interpolate(beta_fn(j), a, b, rtol=interp_rtol) for j in range(len(maps))]
        dparts = [p.derivative() for p in parts]

        def q_fn(t):
            s_over_t = (
                profile.P.values(t) - (parts[0].values(t) + 2 * t * dparts[0].values(t)) ** 2
            ) / t
            for j in range(1, len(maps)):
                k = maps[j].k
                s_over_t = (
                    s_over_t
                    - t ** (k - 2) * (k * parts[j].values(t) + 2 * t * dparts[j].values(t)) ** 2
                )
            if np.any(s_over_t <= 0):
                raise ConvergenceError(
                    f"radial embedding: h'^2 / r^2 <= 0 at t = {t[np.argmin(s_over_t)]:.3e}",
                    residual=float(np.min(s_over_t)),
                    iterations=0,
                )
            return 0.5 * np.sqrt(s_over_t)

        q = interpolate(q_fn, a, b, rtol=interp_rtol)
        height = q.antiderivative(0.0)
    else:
        a, b = r_min, r_max

        def rho_fn(j):
            def fn(r):
                c_all, _ = design.weights(r, "shell")
                return np.sqrt(T.values(r)) * r * c_all[j] / maps[j].kappa

            return fn

        parts = [interpolate(rho_fn(j), a, b, rtol=interp_rtol) for j in range(len(maps))]
        dparts = [p.derivative() for p in parts]

        def q_fn(r):
            S = profile.P.values(r) - sum(dp.values(r) ** 2 for dp in dparts)
            if np.any(S <= 0):
                raise ConvergenceError(
                    f"radial embedding: h'^2 <= 0 at r = {r[np.argmin(S)]:.3e}",
                    residual=float(np.min(S)),
                    iterations=0,
                )
            return np.sqrt(S)

        q = interpolate(q_fn, a, b, rtol=interp_rtol)
        height = q.antiderivative(a)
    return RadialEmbedding(c, L, profile, design, height, parts)

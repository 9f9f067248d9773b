r"""The mirror potential of a product network `theta = u_1 * ... * u_L` (any init), and of
the signed network `u_1 * ... * u_L - v_1 * ... * v_L'` (`product_network`).

Labarriere, Molinari, Rosasco, Villa, Vega (2024) show that gradient flow on the layers of
`theta = u_1 * ... * u_L` (element-wise, `L >= 2` layers, a *general* initialization:
layers of different scales and signs) is a mirror flow whose potential depends on the
initialization. Per coordinate, gradient flow gives `d/dt u_j^2 = -2 g theta` for every
`j`, so the differences `u_j^2 - u_k^2` are conserved.

**The mirror map** (per coordinate; [Concepts: closed forms for diagonal
networks](concepts.md#closed-forms-for-diagonal-networks)). Let $j^*$ be the layer of
smallest initial magnitude (the first one on ties), $v = u_{j^*}$ (signed),
$\delta_k = u_k^2 - v^2 \ge 0$ for $k \ne j^*$ (conserved), $\sigma_k = \operatorname{sign}
u_k(0)$ and $S = \prod_{k \ne j^*} \sigma_k$. A layer with $\delta_k > 0$ never vanishes,
so its sign is constant; a tied layer ($\delta_k = 0$) equals $\pm v$, and $v$ itself never
crosses 0 then. Hence along the flow $u_k = \sigma_k \sqrt{v^2 + \delta_k}$ and
$\theta = S\, v\, P(v)$, $P(v) = \prod_{k \ne j^*} \sqrt{v^2 + \delta_k}$, a strictly
monotone function of $v$; the mirror flow has

$$\nabla Q(\theta) = S \int_{v_0}^{v(\theta)} \prod_{k \ne j^*} (w^2 + \delta_k)^{-1/2}\,dw,
\qquad \nabla^2 Q(\theta) = \frac{1}{K}, \quad K = \sum_j \prod_{k \ne j} u_k^2$$

($K$ is the tangent kernel). The lower limit is $v_0 = v(0)$: with a tie at the minimum
(in particular the balanced initialization, all $\delta_k = 0$) the integrand behaves like
$|w|^{-m}$ at 0 and an integral from 0 diverges. With ties, $\theta$ keeps the sign of
$\theta(0)$ (the domain is a half-line); without, the domain is $\mathbb{R}$. For
$L \ge 3$ the range of $\nabla Q$ is bounded on the side(s) where $v$ is unbounded
(finite-time blow-up of the dual flow). $G$ is homogeneous of degree $L$, so
$Q^*(\mu) = \sum_i (v_i^2 - v_{0,i}^2)/2$. Balanced initialization $|u_j(0)| = a$:
$Q = L \cdot$ `potentials.power_network(a, depth=L)`.

**The signed network** (`SignedDeepInit`, `product_network`). The `u` and `v` layers are
disjoint variables, so the joint flow with covector $\mu$ moves the `u` layers along the
flow of their product's field for time $\mu$ and the `v` layers for time $-\mu$:
$\nabla R^*(\mu) = \nabla R_u^*(\mu) - \nabla R_v^*(-\mu)$,
$R^*(\mu) = R_u^*(\mu) + R_v^*(-\mu)$ with the unsigned conjugates above, and
$\nabla R$ is one increasing scalar root per coordinate.

**Numerics.** $v(\theta)$: Newton on $s = \log|v|$ for the convex increasing
$\log|\theta| = s + \frac12\sum_k \log(e^{2s} + \delta_k)$, started from an upper bound
of the root (monotone convergence). The primitive: in $s$ the integrand $e^{s}/P(e^s)$ is
analytic in the strip $|\operatorname{Im} s| < \pi/2$, so panels of width $\le 1$ with
16-point Gauss-Legendre rules are exact to round-off; the panels cover the scales
$\log\sqrt{\delta_k}$, $\log|v_0|$ with a margin of 12 on both sides, beyond which the
first two terms of the asymptotic expansions are exact to $e^{-48}$. The inverse map is a
bracketed Newton solve (bisection fallback).
"""

from __future__ import annotations

import autograd.numpy as anp
import numpy as np
from autograd.extend import defjvp, defvjp, primitive
from scipy.special import expit

from .._validation import as_float_array, check_finite
from ..domains import Box
from ..errors import DomainError, InputError, NotRegularError, ShapeError
from ..legendre import Legendre
from .networks import product_pair

__all__ = [
    "DeepInit",
    "deep_product",
    "mirror_map",
    "inverse_mirror_map",
    "mirror_hessian",
    "SignedDeepInit",
    "product_network",
]

_NODES, _WEIGHTS = np.polynomial.legendre.leggauss(16)
_PANEL = 1.0  # widest quadrature panel in s = log|w|: analytic strip |Im s| < pi/2
_MARGIN = 12.0  # panels reach this far past the scales; asymptotic expansions beyond
_S_LIMIT = 800.0  # |log|v|| beyond this is outside float64 anyway
_EPS = np.finfo(np.float64).eps


# -- the mirror map -----------------------------------------------------------------------------
def _expint(k: float, s1, s2, log_scale=0.0):
    """`int_{s1}^{s2} exp(k t + log_scale) dt` element-wise (`k` a scalar), anchored at the
    end with the larger exponent (so `s1 = -inf` for `k > 0` and `s2 = inf` for `k < 0`)."""
    if k == 0.0:
        return np.exp(log_scale) * (s2 - s1)
    if k > 0:
        return -np.exp(k * s2 + log_scale) * np.expm1(-k * (s2 - s1)) / k
    return np.exp(k * s1 + log_scale) * np.expm1(k * (s2 - s1)) / k


class DeepInit:
    """The constants of one initialization of $\\theta = u_1 \\odot \\cdots \\odot u_L$,
    and the per-coordinate maps between $\\theta$, the smallest layer $v$ and the dual
    $\\mu = \\nabla Q(\\theta)$ (see the module docstring).

    Args:
        layers0: the initial layers `(L, d)`, `L >= 2`.

    Attributes:
        layers0: `(L, d)` (read-only copy).
        depth, dim: `L`, `d`.
        smallest: `j*` per coordinate `(d,)` (first index of the smallest magnitude).
        v0: the smallest layer at initialization, signed `(d,)`.
        deltas: $\\delta_k = u_k^2 - v^2$ of the other layers `(L - 1, d)` (in layer order).
        other_signs: signs of the other layers `(L - 1, d)`.
        sign: $S$, the sign of the other layers' product `(d,)`.
        ties: the number $m$ of other layers with $\\delta_k = 0$ `(d,)`.
        theta0: $\\theta(0)$ `(d,)`.

    Raises:
        ShapeError: `layers0` not `(L, d)` with `L >= 2`, `d >= 1`.
        NonFiniteError: NaN or Inf in `layers0`.
        NotRegularError: a coordinate where two layers vanish (then $\\theta_i \\equiv 0$ along
            every flow and $dG$ has rank < d).

    Examples:
        >>> import numpy as np
        >>> from riemflow.potentials.deep_product import DeepInit
        >>> init = DeepInit(np.array([[0.5, -2.0], [1.0, 1.0], [-0.5, 0.3]]))
        >>> init.smallest.tolist(), init.v0.tolist(), init.sign.tolist(), init.ties.tolist()
        ([0, 2], [0.5, 0.3], [-1.0, -1.0], [1, 0])
    """

    def __init__(self, layers0):
        U = check_finite(as_float_array(layers0, "layers0"), "layers0")
        if U.ndim != 2 or U.shape[0] < 2 or U.shape[1] < 1:
            raise ShapeError(
                f"`layers0` must be an (L, d) array with L >= 2 layers; got shape {U.shape}",
                argument="layers0",
            )
        L, d = U.shape
        mags = np.abs(U)
        cols = np.arange(d)
        smallest = np.argmin(mags, axis=0)
        others = np.array([[j for j in range(L) if j != smallest[i]] for i in range(d)]).T
        v0 = U[smallest, cols]
        other = U[others, cols]
        a0 = np.abs(v0)
        deltas = (np.abs(other) - a0) * (np.abs(other) + a0)  # exact 0 on ties
        ties = np.sum(deltas == 0.0, axis=0)
        bad = np.flatnonzero((ties > 0) & (v0 == 0.0))
        if bad.size:
            raise NotRegularError(
                f"`layers0` has two zero layers at coordinate {int(bad[0])}: theta stays 0 "
                "there along every flow and dG is not of full rank (no mirror map)"
            )
        self.layers0 = U.copy()
        self.layers0.flags.writeable = False
        self.depth, self.dim = L, d
        self.smallest, self.v0, self.deltas = smallest, v0, deltas
        self._others = others
        self.other_signs = np.sign(other)
        self.sign = np.prod(self.other_signs, axis=0)
        self.ties = ties
        self.theta0 = np.prod(U, axis=0)
        with np.errstate(divide="ignore"):
            self.log_deltas = np.log(deltas)  # -inf on ties
            self.s0 = np.log(a0)  # -inf where v0 = 0 (no tie there)
        self._sigma = np.sign(v0)
        positive = deltas > 0
        # asymptotics: below the panels f(s) ~ e^{(1-m)s} / C (1 - sum_k e^{2s} / (2 delta_k)),
        # C = prod_{delta > 0} sqrt(delta); above, f ~ e^{(2-L)s} (1 - sum_k delta_k e^{-2s} / 2)
        self._log_c = 0.5 * np.sum(np.where(positive, self.log_deltas, 0.0), axis=0)
        self._half_delta = 0.5 * np.sum(deltas, axis=0)
        scales = np.where(positive, 0.5 * self.log_deltas, np.nan)
        scales = np.vstack([scales, np.where(v0 != 0, self.s0, np.nan)[None, :]])
        self._a = np.nanmin(scales, axis=0) - _MARGIN
        self._b = np.nanmax(scales, axis=0) + _MARGIN
        self._n = np.ceil((self._b - self._a) / _PANEL).astype(int)
        self._h = (self._b - self._a) / self._n
        k = np.arange(int(self._n.max()))
        nodes = self._a[:, None, None] + self._h[:, None, None] * (
            k[None, :, None] + 0.5 * (_NODES[None, None, :] + 1.0)
        )
        vals = self._f(nodes, self.log_deltas[:, :, None, None])
        panels = 0.5 * self._h[:, None] * np.sum(vals * _WEIGHTS, axis=-1)
        panels = np.where(k[None, :] < self._n[:, None], panels, 0.0)
        cum = np.concatenate([np.zeros((d, 1)), np.cumsum(panels, axis=1)], axis=1)
        # tables are anchored at the panel edge below s0 where the integrand grows toward
        # -inf (ties), so that int_{s0}^s never subtracts the huge int_a^s0 (at a = s0 - 12,
        # depth 4 balanced: e^{24} times the values near s0); at a otherwise
        ref = np.where(ties > 0, np.floor((self.s0 - self._a) / self._h), 0).astype(int)
        self._cum = np.empty_like(cum)
        for i in range(d):
            k0 = ref[i]
            below = -np.cumsum(panels[i, :k0][::-1])[::-1]
            above = np.cumsum(panels[i, k0:])
            self._cum[i] = np.concatenate([below, [0.0], above])
        self._top = self._cum[cols, self._n]  # int_ref^b f
        self._bottom = self._cum[:, 0]  # int_ref^a f
        # the anchor: A(s) = int_{-inf}^s f (no tie) or int_{s0}^s f (ties)
        tail_a = self._lower_tail(self._a, cols)
        with np.errstate(invalid="ignore"):
            at_s0 = self._from_ref(np.where(np.isfinite(self.s0), self.s0, self._a), cols)
        self._offset = np.where(ties == 0, tail_a, -at_s0)
        self._A0 = np.where((ties == 0) & (v0 != 0), tail_a + at_s0, 0.0)
        with np.errstate(over="ignore"):
            up = _expint(2.0 - L, self._b, np.inf) if L > 2 else np.full(d, np.inf)
            up = up - self._half_delta * _expint(-float(L), self._b, np.inf)
        self._A_inf = self._offset + self._top + up  # sup of A (inf for L = 2)

    # -- the integrand and its primitive in s = log|w| ----------------------------------
    @staticmethod
    def _f(s, log_deltas):
        """$e^s / P(e^s)$, `log_deltas` broadcast against `s` with a leading `L-1` axis."""
        with np.errstate(over="ignore"):  # ties, s -> -inf: the integrand is unbounded
            return np.exp(s - 0.5 * np.sum(np.logaddexp(2.0 * s, log_deltas), axis=0))

    def _lower_tail(self, s, idx):
        """$\\int_{-\\infty}^s f$ for coordinates without ties, `s` below the panels."""
        out = _expint(1.0, -np.inf, s, -self._log_c[idx])
        for k in range(self.depth - 1):
            ld = self.log_deltas[k, idx]
            corr = _expint(3.0, -np.inf, s, np.where(np.isfinite(ld), -ld, -np.inf))
            out = out - 0.5 * np.exp(-self._log_c[idx]) * corr
        return out

    def _from_ref(self, s, idx):
        """$\\int_r^s f$ for any `s`, `r` the anchor of the tables (`a`, or the panel edge
        below `s0` with ties), `idx` the coordinates of `s`."""
        a, b, h, n = self._a[idx], self._b[idx], self._h[idx], self._n[idx]
        ld = self.log_deltas[:, idx]
        inside = np.minimum(np.maximum(s, a), b)
        k = np.minimum(((inside - a) / h).astype(int), n - 1)  # inside >= a: floor
        base = a + k * h
        half = 0.5 * (inside - base)
        nodes = base[..., None] + half[..., None] * (_NODES + 1.0)
        part = half * np.sum(self._f(nodes, ld[..., None]) * _WEIGHTS, axis=-1)
        out = self._cum[idx, k] + part
        below, above = s < a, s > b
        if np.any(below):
            m = self.ties[idx].astype(float)
            sb = np.where(below, s, a)
            lower = np.zeros_like(sb)
            for mk in np.unique(m[below]):
                sel = below & (m == mk)
                lower = np.where(sel, _expint(1.0 - mk, sb, a, -self._log_c[idx]), lower)
                for k_ in range(self.depth - 1):
                    ldk = ld[k_]
                    scale = np.where(np.isfinite(ldk), -ldk - self._log_c[idx], -np.inf)
                    lower = np.where(sel, lower - 0.5 * _expint(3.0 - mk, sb, a, scale), lower)
            out = np.where(below, self._bottom[idx] - lower, out)
        if np.any(above):
            L = float(self.depth)
            sa = np.where(above, s, b)
            upper = _expint(2.0 - L, b, sa) - self._half_delta[idx] * _expint(-L, b, sa)
            out = np.where(above, self._top[idx] + upper, out)
        return out

    def _A(self, s, idx):
        """The anchored primitive: $\\int_{-\\infty}^s f$ (no tie; the exact lower tail below
        the panels) or $\\int_{s_0}^s f$ (ties)."""
        with np.errstate(over="ignore", invalid="ignore"):
            out = self._from_ref(s, idx) + self._offset[idx]
            low = (self.ties[idx] == 0) & (s < self._a[idx])
            if np.any(low):
                out = np.where(low, self._lower_tail(np.where(low, s, self._a[idx]), idx), out)
        return out

    # -- theta <-> v <-> mu ---------------------------------------------------------------
    def _points(self, x, name: str):
        arr = check_finite(as_float_array(x, name), name)
        if arr.ndim not in (1, 2) or arr.shape[-1] != self.dim:
            raise ShapeError(
                f"`{name}` must have shape ({self.dim},) or (B, {self.dim}); got {arr.shape}",
                argument=name,
            )
        return arr

    def _log_v(self, theta):
        """`s = log|v|` with `log|theta| = s + sum_k log(e^{2s} + delta_k) / 2` (Newton from
        an upper bound of the root: the right side is convex and increasing)."""
        idx = np.broadcast_to(np.arange(self.dim), theta.shape)
        ld = self.log_deltas[:, idx]
        m = self.ties[idx]
        with np.errstate(divide="ignore"):
            target = np.log(np.abs(theta))
        zero = theta == 0
        tgt = np.where(zero, 0.0, target)
        s = np.minimum(tgt / self.depth, (tgt - self._log_c[idx]) / (1.0 + m))
        finished = np.zeros(s.shape, dtype=bool)
        for _ in range(200):
            g = s + 0.5 * np.sum(np.logaddexp(2.0 * s, ld), axis=0) - tgt
            slope = 1.0 + np.sum(expit(2.0 * s - ld), axis=0)
            new = s - g / slope
            step = np.abs(new - s)
            size = np.maximum(1.0, np.abs(new))
            # monotone Newton on a convex function: once the step is 1e-9 the next is ~1e-18
            done = (step <= 1e-9 * size) | (np.abs(g) <= 4.0 * _EPS * np.maximum(1.0, np.abs(tgt)))
            s = np.where(finished, s, new)
            finished = finished | done | zero
            if np.all(finished):
                break
        return np.where(zero, -np.inf, s)

    def smallest_layer(self, theta) -> np.ndarray:
        """$v(\\theta)$, the signed smallest layer on the flow through `theta`.

        Args:
            theta: `(d,)` or `(B, d)`.

        Raises:
            ShapeError, NonFiniteError: malformed `theta`.
            DomainError: `theta` outside the domain (a coordinate with ties where `theta`
                has not the sign of `theta0`).
        """
        theta = self._points(theta, "theta")
        self._check_domain(theta)
        s = self._log_v(theta)
        with np.errstate(under="ignore"):
            return self.sign * np.sign(theta) * np.exp(s)

    def _check_domain(self, theta):
        ok = (self.ties == 0) | (theta * self.theta0 > 0)
        if not np.all(ok):
            i = int(np.argwhere(~ok)[0][-1])
            raise DomainError(
                f"`theta` has coordinate {i} = {np.asarray(theta)[..., i].ravel()[0]!r}, but "
                f"there the smallest layer is tied with another, so theta keeps the sign of "
                f"theta0 = {self.theta0[i]!r} along the flow (the domain is a half-line)",
                argument="theta",
            )

    def layers(self, v) -> np.ndarray:
        """The layers on the flow where the smallest layer is `v`: `(L, d)` (or
        `(B, L, d)`), $u_{j^*} = v$, $u_k = \\sigma_k \\sqrt{v^2 + \\delta_k}$.

        Examples:
            >>> import numpy as np
            >>> from riemflow.potentials.deep_product import DeepInit
            >>> init = DeepInit(np.array([[0.5, -2.0], [1.0, 1.0], [-0.5, 0.3]]))
            >>> bool(np.allclose(init.layers(init.v0), init.layers0))
            True
        """
        v = check_finite(as_float_array(v, "v"), "v")
        out = np.zeros(v.shape[:-1] + (self.depth, self.dim))
        cols = np.arange(self.dim)
        out[..., self.smallest, cols] = v
        others = self.other_signs * np.sqrt(v[..., None, :] ** 2 + self.deltas)
        out[..., self._others, cols] = others
        return out

    def mirror_map(self, theta, *, origin: str = "init") -> np.ndarray:
        """$\\nabla Q(\\theta)$ (see `mirror_map`)."""
        theta = self._points(theta, "theta")
        origin = self._origin(origin)
        self._check_domain(theta)
        s = self._log_v(theta)
        idx = np.broadcast_to(np.arange(self.dim), theta.shape)
        sv = np.sign(theta) * self.sign  # sign of v
        with np.errstate(invalid="ignore"):
            A = np.where(np.isfinite(s), self._A(np.where(np.isfinite(s), s, 0.0), idx), 0.0)
        free = self.ties == 0
        if origin == "zero":
            return self.sign * sv * A
        return np.where(
            free, self.sign * (sv * A - self._sigma * self._A0), self.sign * self._sigma * A
        )

    def _origin(self, origin):
        if origin not in ("init", "zero"):
            raise InputError(
                f"`origin` must be 'init' or 'zero'; got {origin!r}", argument="origin"
            )
        if origin == "zero" and np.any(self.ties > 0):
            i = int(np.argmax(self.ties > 0))
            raise DomainError(
                f"origin='zero' needs no ties at the smallest layer; coordinate {i} has "
                f"{int(self.ties[i])}, where int_0^v of the mirror-map integrand diverges",
                argument="origin",
            )
        return origin

    def _solve(self, target, idx, start=None):
        """`s` with `A(s) = target` (bracketed Newton, bisection fallback), started from
        `start` where it is given and finite (the caller's previous solution: an outer
        solve passes its own last iterate, so no state is kept here)."""
        m = self.ties[idx]
        with np.errstate(divide="ignore", invalid="ignore"):
            floor = np.where(m == 0, np.log(target) + self._log_c[idx], -np.inf)
        lo = np.where(np.isfinite(floor), floor, -np.inf)
        hi = np.full_like(lo, np.inf)
        s = np.where(
            m == 0, np.minimum(np.maximum(floor, self._a[idx]), self._b[idx]), self.s0[idx]
        )
        if start is not None:
            s = np.where(np.isfinite(start), start, s)
        grow = np.ones_like(s)
        previous = np.full_like(s, np.inf)
        finished = np.zeros(s.shape, dtype=bool)
        for _ in range(300):
            F = self._A(s, idx) - target
            D = self._f(s, self.log_deltas[:, idx])
            lo = np.where(F <= 0, np.maximum(lo, s), lo)
            hi = np.where(F >= 0, np.minimum(hi, s), hi)
            with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                new = s - F / D
            both = np.isfinite(lo) & np.isfinite(hi)
            # Newton crawls (one unit of s per step) where A is exponential in s (the tails
            # e^{(1-m)s}, e^{s}): bisect when |F| did not drop at least 4x in the last step
            slow = both & ~(np.abs(F) <= 0.25 * previous)
            previous = np.abs(F)
            ok = np.isfinite(new) & (new >= lo) & (new <= hi) & ~slow
            fallback = np.where(
                both, 0.5 * (lo + hi), np.where(np.isfinite(lo), lo + grow, hi - grow)
            )
            grow = np.where(ok | both, grow, 2.0 * grow)
            new = np.minimum(np.maximum(np.where(ok, new, fallback), -_S_LIMIT), _S_LIMIT)
            size = np.maximum(1.0, np.abs(new))
            step = np.abs(new - s)
            done = (
                (step <= 4.0 * _EPS * size)
                | (ok & (step <= 1e-9 * size))  # quadratic: the error after this step ~ 1e-18
                | (np.abs(F) <= 4.0 * _EPS * np.abs(target))  # A resolved to round-off
                | (hi - lo <= 4.0 * _EPS * size)
            )
            s = np.where(finished, s, new)  # converged entries stay put while others iterate
            finished = finished | done
            if np.all(finished):
                break
        return s

    def inverse_mirror_map(self, mu, *, origin: str = "init") -> np.ndarray:
        """$\\nabla Q^*(\\mu) = \\theta$ (see `inverse_mirror_map`); NaN outside the range of
        $\\nabla Q$."""
        mu = self._points(mu, "mu")
        return self._theta_of_v(self._v_of_mu(mu, origin=self._origin(origin)))

    def _v_of_mu(self, mu, *, origin: str = "init", start=None):
        idx = np.broadcast_to(np.arange(self.dim), mu.shape)
        free = self.ties[idx] == 0
        shift = self._sigma * self._A0 if origin == "init" else 0.0
        tau = np.where(free, self.sign * mu + shift, self.sign * self._sigma * mu)
        target = np.where(free, np.abs(tau), tau)
        vsign = np.where(free, np.sign(tau), self._sigma)
        valid = target < self._A_inf[idx]
        zero = free & (tau == 0)
        dummy = np.where(free, np.minimum(1.0, 0.5 * self._A_inf[idx]), 0.0)  # solvable
        target_ok = np.where(valid & ~zero, target, dummy)
        if start is not None:  # a previous smallest layer v: its log|v|
            with np.errstate(divide="ignore", invalid="ignore"):
                start = np.log(np.abs(np.broadcast_to(start, mu.shape)))
        s = self._solve(target_ok, idx, start)
        with np.errstate(under="ignore", over="ignore"):
            v = vsign * np.exp(s)
        return np.where(valid, np.where(zero, 0.0, v), np.nan)

    def _theta_of_v(self, v):
        with np.errstate(over="ignore", invalid="ignore"):
            return self.sign * v * np.sqrt(np.prod(v[..., None, :] ** 2 + self.deltas, axis=-2))

    def kernel(self, theta) -> np.ndarray:
        """$K(\\theta) = 1 / \\nabla^2 Q = \\sum_j \\prod_{k \\ne j} u_k^2$ per coordinate."""
        theta = self._points(theta, "theta")
        self._check_domain(theta)
        s = self._log_v(theta)
        return self._kernel_of_s(s)

    def _kernel_of_s(self, s):
        ld = self.log_deltas if np.ndim(s) == 1 else self.log_deltas[:, None, :]
        with np.errstate(over="ignore"):
            return np.exp(np.sum(np.logaddexp(2.0 * s, ld), axis=0)) * (
                1.0 + np.sum(expit(2.0 * s - ld), axis=0)
            )

    def dual_range(self) -> tuple[np.ndarray, np.ndarray]:
        """The open interval of $\\nabla Q$ per coordinate, `(lower, upper)` (bounded for
        `L >= 3` on the side(s) where $v$ is unbounded)."""
        free = self.ties == 0
        lo_phi = np.where(free, -self._A_inf - self._sigma * self._A0, -np.inf)
        hi_phi = np.where(free, self._A_inf - self._sigma * self._A0, self._A_inf)
        # mu = S * phi (no tie) or S sigma * A (ties)
        flip = np.where(free, self.sign, self.sign * self._sigma)
        lo = np.where(flip > 0, lo_phi, -hi_phi)
        hi = np.where(flip > 0, hi_phi, -lo_phi)
        return lo, hi

    def domain(self) -> Box:
        """The domain of $Q$: $\\mathbb{R}$ per coordinate without ties, else the open
        half-line of $\\theta_0$'s sign."""
        tied = self.ties > 0
        lower = np.where(tied & (self.theta0 > 0), 0.0, -np.inf)
        upper = np.where(tied & (self.theta0 < 0), 0.0, np.inf)
        return Box(lower, upper)


def _as_init(layers0) -> DeepInit:
    return layers0 if isinstance(layers0, DeepInit) else DeepInit(layers0)


def mirror_map(theta, layers0, *, origin: str = "init") -> np.ndarray:
    """The mirror map $\\nabla Q(\\theta)$ of the layer gradient flow from `layers0`.

    Per coordinate, $S \\int_{v_0}^{v(\\theta)} \\prod_{k \\ne j^*} (w^2 + \\delta_k)^{-1/2}\\,dw$
    (`origin="init"`, riemflow's normalization $\\nabla Q(\\theta_0) = 0$), or
    $S \\int_0^{v(\\theta)}$ (`origin="zero"`, the form with lower limit 0; only without ties at the
    smallest layer, where it converges).

    Args:
        theta: `(d,)` or `(B, d)`.
        layers0: the initial layers `(L, d)` or a `DeepInit`.
        origin: `"init"` or `"zero"`.

    Returns:
        $\\nabla Q(\\theta)$, the shape of `theta`.

    Raises:
        ShapeError, NonFiniteError: malformed `theta` or `layers0`.
        NotRegularError: two zero layers at a coordinate.
        DomainError: `theta` outside the domain, or `origin="zero"` with ties.
        InputError: unknown `origin`.

    Examples:
        >>> import numpy as np
        >>> from riemflow.potentials.deep_product import mirror_map
        >>> layers0 = np.array([[1.0], [2.0]])  # L = 2: S arcsinh(v / sqrt(delta)) - const
        >>> float(mirror_map(np.array([2.0]), layers0)[0])
        0.0
        >>> v = 0.7; theta = v * np.sqrt(v**2 + 3.0)  # delta = 4 - 1 = 3
        >>> mu = mirror_map(np.array([theta]), layers0, origin="zero")[0]
        >>> bool(np.isclose(mu, np.arcsinh(v / np.sqrt(3.0)), rtol=1e-14, atol=0))
        True
    """
    return _as_init(layers0).mirror_map(theta, origin=origin)


def inverse_mirror_map(mu, layers0, *, origin: str = "init") -> np.ndarray:
    """$\\theta = \\nabla Q^*(\\mu)$, the inverse of `mirror_map`.

    Raises:
        DomainError: some `mu` is outside the range of $\\nabla Q$
            (`DeepInit.dual_range`; `DeepInit.inverse_mirror_map` returns NaN there
            instead, for line searches that treat it as outside the domain).
        ShapeError, NonFiniteError, NotRegularError, InputError: as `mirror_map`.

    Examples:
        >>> import numpy as np
        >>> from riemflow.potentials.deep_product import inverse_mirror_map, mirror_map
        >>> layers0 = np.array([[0.5, -1.0], [1.5, 0.4], [-0.8, 2.0]])
        >>> theta = np.array([-0.3, 2.5])
        >>> bool(np.allclose(inverse_mirror_map(mirror_map(theta, layers0), layers0), theta,
        ...                  rtol=1e-13))
        True
    """
    theta = _as_init(layers0).inverse_mirror_map(mu, origin=origin)
    if np.any(np.isnan(theta)):
        bad = np.argwhere(np.isnan(np.atleast_1d(theta)))[0].tolist()
        raise DomainError(
            f"`mu` is outside the range of the mirror map at index {bad} (see DeepInit.dual_range)",
            argument="mu",
        )
    return theta


def mirror_hessian(theta, layers0) -> np.ndarray:
    """The diagonal of $\\nabla^2 Q(\\theta) = 1 / K$, in closed form:
    $K = P(v)^2 (1 + \\sum_{k \\ne j^*} v^2 / (v^2 + \\delta_k))$.

    Examples:
        >>> import numpy as np
        >>> from riemflow.potentials.deep_product import mirror_hessian
        >>> float(mirror_hessian(np.array([0.0]), np.array([[1.0], [2.0]]))[0])  # 1 / delta
        0.3333...
    """
    return 1.0 / _as_init(layers0).kernel(theta)


def deep_product(layers0, *, name: str | None = None) -> Legendre:
    """$Q$ as a `riemflow.Legendre`, normalized by $Q(\\theta_0) = 0$, $\\nabla Q(\\theta_0) = 0$.

    Value $Q(\\theta) = \\sum_i [\\mu_i \\theta_i - (v_i^2 - v_{0,i}^2)/2]$, mirror map
    `mirror_map` (an autograd primitive with derivative $1/K$), closed-form Hessian, inverse
    mirror map `inverse_mirror_map`, conjugate
    $Q^*(\\mu) = \\sum_i (v_i^2 - v_{0,i}^2)/2$ and its Hessian $K$. Domain `DeepInit.domain`.

    Args:
        layers0: the initial layers `(L, d)` or a `DeepInit`.
        name: label.

    Raises:
        ShapeError, NonFiniteError, NotRegularError: malformed `layers0` (see `DeepInit`).

    Examples:
        >>> import numpy as np
        >>> from riemflow.potentials import deep_product
        >>> Q = deep_product(np.array([[0.5, -1.0], [1.5, 0.4], [-0.8, 2.0]]))
        >>> theta0 = np.array([-0.6, -0.8])
        >>> bool(abs(Q(theta0)) < 1e-15 and np.abs(Q.grad(theta0)).max() < 1e-15)
        True
    """
    init = _as_init(layers0)
    d = init.dim
    v0 = init.v0
    S, deltas = init.sign, init.deltas

    def _theta_points(w):
        w = np.asarray(w, dtype=np.float64)
        init._check_domain(w)
        return w

    @primitive
    def mu_of_theta(w):
        return init.mirror_map(_theta_points(w))

    @primitive
    def v_of_theta(w):
        return init.smallest_layer(_theta_points(w))

    @primitive
    def v_of_mu(mu):
        mu = np.asarray(mu, dtype=np.float64)
        return init._v_of_mu(mu)

    def inverse_kernel(w):
        return 1.0 / init.kernel(_theta_points(w))

    def dv_dtheta(v):  # 1 / (S P(v) (1 + sum v^2 / (v^2 + delta)))
        q = v[..., None, :] ** 2 + deltas
        P = np.sqrt(np.prod(q, axis=-2))
        with np.errstate(invalid="ignore"):
            ratio = np.sum(
                np.where(q > 0, v[..., None, :] ** 2 / np.where(q > 0, q, 1.0), 0.0), axis=-2
            )
        return 1.0 / (S * P * (1.0 + ratio))

    def dv_dmu(v):  # S P(v)
        return S * np.sqrt(np.prod(v[..., None, :] ** 2 + deltas, axis=-2))

    defvjp(mu_of_theta, lambda ans, w: lambda g: g * inverse_kernel(w))
    defjvp(mu_of_theta, lambda g, ans, w: g * inverse_kernel(w))
    defvjp(v_of_theta, lambda ans, w: lambda g: g * dv_dtheta(ans))
    defjvp(v_of_theta, lambda g, ans, w: g * dv_dtheta(ans))
    defvjp(v_of_mu, lambda ans, mu: lambda g: g * dv_dmu(ans))
    defjvp(v_of_mu, lambda g, ans, mu: g * dv_dmu(ans))

    def kernel_of_v(v):  # traced: P^2 (1 + sum v^2 / (v^2 + delta)); ties have v != 0
        q = v[..., None, :] ** 2 + deltas
        return anp.prod(q, axis=-2) * (1.0 + anp.sum(v[..., None, :] ** 2 / q, axis=-2))

    def diagonal(values):
        return values[..., :, None] * np.eye(d)

    def value(w):
        v = v_of_theta(w)
        return anp.sum(mu_of_theta(w) * w - 0.5 * (v - v0) * (v + v0), axis=-1)

    def conjugate(mu):
        v = v_of_mu(mu)
        return anp.sum(0.5 * (v - v0) * (v + v0), axis=-1)

    def grad_conjugate(mu):
        v = v_of_mu(mu)
        return S * v * anp.sqrt(anp.prod(v[..., None, :] ** 2 + deltas, axis=-2))

    return Legendre(
        value,
        d,
        domain=init.domain(),
        grad=mu_of_theta,
        hessian=lambda w: diagonal(1.0 / kernel_of_v(v_of_theta(w))),
        grad_conjugate=grad_conjugate,
        conjugate=conjugate,
        hessian_conjugate=lambda mu: diagonal(kernel_of_v(v_of_mu(mu))),
        name=name or f"deep diagonal network potential (L={init.depth}, general init)",
        check_derivatives=False,
    )


# -- the signed network u_1 ... u_L - v_1 ... v_L' ----------------------------------------------
class _Half:
    """One unsigned product network of the signed model, per coordinate, with the
    coordinates where it is frozen (two zero layers: its product stays 0 and its kernel
    vanishes) masked out."""

    def __init__(self, layers):
        U = np.array(layers, dtype=np.float64)
        self.frozen = np.sum(U == 0.0, axis=0) >= 2
        if np.any(self.frozen):  # a regular stand-in; its terms are masked everywhere
            U[:, self.frozen] = 1.0 + np.arange(U.shape[0])[:, None]
        self.init = DeepInit(U)
        lo, hi = self.init.dual_range()
        self.mu_lo = np.where(self.frozen, -np.inf, lo)
        self.mu_hi = np.where(self.frozen, np.inf, hi)
        box = self.init.domain()
        self.theta_lo = np.where(self.frozen, 0.0, box.lower)
        self.theta_hi = np.where(self.frozen, 0.0, box.upper)
        self.v0 = self.init.v0

    def v_of_mu(self, mu, start=None):
        """The smallest layer `v(mu)`, NaN outside the dual interval; `start` a previous
        `v` to start the scalar solves from."""
        mu = np.asarray(np.where(self.frozen, 0.0, mu), dtype=np.float64)
        return self.init._v_of_mu(mu, start=start)

    def theta(self, v):
        with np.errstate(over="ignore", invalid="ignore"):
            return np.where(self.frozen, 0.0, self.init._theta_of_v(v))

    def _q(self, v):
        q = v[..., None, :] ** 2 + self.init.deltas
        return q, np.where(q > 0, q, 1.0)

    def kernel(self, v):
        """`K = P(v)^2 (1 + sum_k v^2 / (v^2 + delta_k))`; 0 where frozen."""
        q, safe = self._q(v)
        with np.errstate(over="ignore", invalid="ignore"):
            ratio = np.sum(np.where(q > 0, v[..., None, :] ** 2 / safe, 0.0), axis=-2)
            K = np.prod(q, axis=-2) * (1.0 + ratio)
        return np.where(self.frozen, 0.0, K)

    def kernel_slope(self, v):
        """`dK/dmu = K'(v) dv/dmu` with `dv/dmu = S P(v)`; 0 where frozen."""
        q, safe = self._q(v)
        with np.errstate(over="ignore", invalid="ignore"):
            P2 = np.prod(q, axis=-2)
            r = np.sum(np.where(q > 0, v[..., None, :] ** 2 / safe, 0.0), axis=-2)
            dP2 = P2 * np.sum(np.where(q > 0, 2.0 * v[..., None, :] / safe, 0.0), axis=-2)
            dr = np.sum(
                np.where(q > 0, 2.0 * v[..., None, :] * self.init.deltas / safe**2, 0.0), axis=-2
            )
            out = (dP2 * (1.0 + r) + P2 * dr) * self.init.sign * np.sqrt(P2)
        return np.where(self.frozen, 0.0, out)

    def half_square(self, v):
        """`(v^2 - v0^2) / 2`, this network's part of `R*`; 0 where frozen."""
        return np.where(self.frozen, 0.0, 0.5 * (v - self.v0) * (v + self.v0))


class SignedDeepInit:
    """The per-coordinate maps of the signed product network
    $w = u_1 \\cdots u_L - v_1 \\cdots v_{L'}$ from a general initialization.

    The joint flow with covector $\\mu$ moves the `u` layers along the flow of $P_u$'s field
    for time $\\mu$ and the `v` layers along $P_v$'s for time $-\\mu$, independently
    (disjoint variables, Euclidean metric). With $R_u$, $R_v$ the unsigned potentials
    (`deep_product`),

    $$\\nabla R^*(\\mu) = \\nabla R_u^*(\\mu) - \\nabla R_v^*(-\\mu), \\quad
    R^*(\\mu) = R_u^*(\\mu) + R_v^*(-\\mu), \\quad
    \\nabla^2 R^*(\\mu) = K_u(\\mu) + K_v(-\\mu)$$

    on $\\operatorname{dom} R^* = \\operatorname{dom} R_u^* \\cap (-\\operatorname{dom} R_v^*)$
    (bounded for depth $\\ge 3$: the flow blows up in finite time). $\\nabla R(w)$ is the root
    of the increasing scalar $\\nabla R^*(\\mu) - w$ per coordinate. A coordinate where one
    network has two zero layers keeps only the other network's terms.

    Args:
        layers_u: initial `u` layers `(L, d)`, `L >= 2`.
        layers_v: initial `v` layers `(L', d)`, `L' >= 2`.

    Attributes:
        dim: `d`.
        w0: $w(0)$ `(d,)`.
        mu_lo: the lower end of the dual interval per coordinate.
        mu_hi: its upper end.
        w_lo: the lower end of the domain of $R$ per coordinate (the range of
            $\\nabla R^*$): $-\\infty$ unless both networks are tied at their smallest layer
            with opposite orientations (a half-line).
        w_hi: its upper end.

    Raises:
        ShapeError, NonFiniteError: malformed layers.
        NotRegularError: a coordinate where both networks have two zero layers (`w` is
            constant along every flow there).

    Examples:
        >>> import numpy as np
        >>> from riemflow.potentials.deep_product import SignedDeepInit
        >>> u0, v0 = np.array([[0.5], [1.0], [-0.8]]), np.array([[0.3], [0.9], [1.2]])
        >>> S = SignedDeepInit(u0, v0)
        >>> S.w0.round(6).tolist(), bool(S.mu_lo[0] < 0 < S.mu_hi[0])
        ([-0.724], True)
    """

    def __init__(self, layers_u, layers_v):
        U = check_finite(as_float_array(layers_u, "layers_u"), "layers_u")
        V = check_finite(as_float_array(layers_v, "layers_v"), "layers_v")
        for name, arr in (("layers_u", U), ("layers_v", V)):
            if arr.ndim != 2 or arr.shape[0] < 2 or arr.shape[1] < 1:
                raise ShapeError(
                    f"`{name}` must be an (L, d) array with L >= 2 layers; got shape {arr.shape}",
                    argument=name,
                )
        if U.shape[1] != V.shape[1]:
            raise ShapeError(
                f"`layers_u` and `layers_v` must have the same number d of coordinates; got "
                f"{U.shape[1]} and {V.shape[1]}",
                argument="layers_v",
            )
        self.dim = U.shape[1]
        self.a, self.b = _Half(U), _Half(V)
        both = self.a.frozen & self.b.frozen
        if np.any(both):
            raise NotRegularError(
                f"coordinate {int(np.argmax(both))}: both networks have two zero layers, so w "
                "stays constant along every flow there (dG has rank < d)"
            )
        self.mu_lo = np.maximum(self.a.mu_lo, -self.b.mu_hi)
        self.mu_hi = np.minimum(self.a.mu_hi, -self.b.mu_lo)
        self.w0 = np.where(self.a.frozen, 0.0, np.prod(U, axis=0)) - np.where(
            self.b.frozen, 0.0, np.prod(V, axis=0)
        )
        self.w_lo = self._end(self.mu_lo, lower=True)
        self.w_hi = self._end(self.mu_hi, lower=False)

    def _end(self, m, lower: bool):
        """The limit of `grad R*` at an end `m` of the dual interval."""
        a, b = self.a, self.b
        a_end = m == (a.mu_lo if lower else a.mu_hi)
        b_end = -m == (b.mu_hi if lower else b.mu_lo)
        mm = np.where(np.isfinite(m), m, 0.0)
        with np.errstate(all="ignore"):
            ta = a.theta(a.v_of_mu(np.where(a_end, 0.0, mm)))
            tb = b.theta(b.v_of_mu(np.where(b_end, 0.0, -mm)))
        ta = np.where(a_end, a.theta_lo if lower else a.theta_hi, ta)
        tb = np.where(b_end, b.theta_hi if lower else b.theta_lo, tb)
        return np.where(a.frozen, 0.0, ta) - np.where(b.frozen, 0.0, tb)

    # -- the conjugate side ---------------------------------------------------------------
    def layers_of_mu(self, mu, start=None):
        """The smallest layers `(v_u(mu), v_v(-mu))`, NaN outside the dual interval;
        `start` a previous pair to start the scalar solves from."""
        mu = np.asarray(mu, dtype=np.float64)
        inside = (mu > self.mu_lo) & (mu < self.mu_hi)
        safe = np.where(inside, mu, 0.0)
        sa, sb = (None, None) if start is None else start
        va, vb = self.a.v_of_mu(safe, sa), self.b.v_of_mu(-safe, sb)
        return np.where(inside, va, np.nan), np.where(inside, vb, np.nan)

    def grad_conjugate(self, mu):
        """$\\nabla R^*(\\mu)$ per coordinate, NaN outside the dual interval."""
        va, vb = self.layers_of_mu(mu)
        return self.a.theta(va) - self.b.theta(vb)

    def conjugate_terms(self, mu):
        """The terms of $R^*(\\mu)$ per coordinate."""
        va, vb = self.layers_of_mu(mu)
        return self.a.half_square(va) + self.b.half_square(vb)

    def kernel(self, mu):
        """$\\nabla^2 R^*(\\mu)$ per coordinate: $K_u(\\mu) + K_v(-\\mu)$."""
        va, vb = self.layers_of_mu(mu)
        return self.a.kernel(va) + self.b.kernel(vb)

    def kernel_slope(self, mu):
        """The third derivative of $R^*$ per coordinate."""
        va, vb = self.layers_of_mu(mu)
        return self.a.kernel_slope(va) - self.b.kernel_slope(vb)

    # -- the primal side ------------------------------------------------------------------
    def mirror_map(self, w, *, max_iter: int = 200):
        """$\\nabla R(w)$: the $\\mu$ with $\\nabla R^*(\\mu) = w$ per coordinate, NaN
        outside the domain.

        Bracketed Newton on the increasing $h(\\mu) = \\nabla R^*(\\mu) - w$ (slope
        $K_u + K_v > 0$) from $\\mu = 0$; bisection where a Newton step leaves the bracket,
        infinite bracket ends found by doubling outward. The inner scalar solves start from
        the previous iterate's layers.
        """
        w = np.asarray(w, dtype=np.float64)
        shape = w.shape
        inside = (w > self.w_lo) & (w < self.w_hi)
        lo = np.broadcast_to(self.mu_lo, shape).copy()
        hi = np.broadcast_to(self.mu_hi, shape).copy()
        mu = np.where(
            (lo < 0) & (hi > 0), 0.0, np.where(np.isfinite(lo + hi), 0.5 * (lo + hi), 0.0)
        )
        done = ~inside
        outward = np.ones(shape)
        layers = None
        with np.errstate(all="ignore"):
            for _ in range(max_iter):
                va, vb = layers = self.layers_of_mu(mu, layers)
                ta, tb = self.a.theta(va), self.b.theta(vb)
                f = ta - tb - w
                slope = self.a.kernel(va) + self.b.kernel(vb)
                bad = ~np.isfinite(f)
                lo = np.where(~bad & (f < 0), np.maximum(lo, mu), lo)
                hi = np.where(~bad & (f > 0), np.minimum(hi, mu), hi)
                newton = mu - f / slope
                ok = ~bad & np.isfinite(newton) & (newton > lo) & (newton < hi)
                both = np.isfinite(lo) & np.isfinite(hi)
                fallback = np.where(
                    both,
                    0.5 * (lo + hi),
                    np.where(np.isfinite(lo), lo + outward, hi - outward),
                )
                outward = np.where(ok | both, outward, 2.0 * outward)
                new = np.where(ok, newton, fallback)
                size = np.maximum(np.abs(new), 1e-300)
                step = np.abs(new - mu)
                scale = np.abs(ta) + np.abs(tb) + np.abs(w)
                # quadratic convergence: a step of 1e-9 leaves an error ~1e-18
                converged = ok & (
                    (step <= 4 * _EPS * size)
                    | (np.abs(f) <= 2 * _EPS * scale)
                    | ((step <= 1e-9 * size) & (np.abs(f) <= 1e-8 * scale))
                )
                converged |= (hi - lo) <= 4 * _EPS * np.maximum(np.abs(lo), np.abs(hi))
                mu = np.where(done, mu, new)
                done = done | converged
                if np.all(done):
                    break
        return np.where(inside, mu, np.nan)


def product_network(layers_u, layers_v=None, *, name: str | None = None) -> Legendre:
    """The mirror potential of the product network $w = u_1 \\cdots u_L - v_1 \\cdots v_{L'}$
    (or $w = u_1 \\cdots u_L$ without `layers_v`) from any initialization.

    Dispatches on depth: two layers on each side to `product_pair` (an exponential pair),
    the unsigned network to `deep_product` (Labarriere et al.), and the signed network of
    any depths to the combination of `SignedDeepInit`. Normalized like the forward
    construction: $R(w_0) = 0$, $\\nabla R(w_0) = 0$. For the signed network $\\nabla R^*$,
    $R^*$ and $\\nabla^2 R^*$ are closed forms up to the unsigned networks' scalar solves,
    $\\nabla R$ is one monotone scalar root solve per coordinate (an autograd primitive with
    derivative $\\nabla^2 R = 1 / (K_u + K_v)$, so third derivatives and curvature are
    exact).

    Args:
        layers_u: initial `u` layers `(L, d)`, `L >= 2`.
        layers_v: initial `v` layers `(L', d)`, `L' >= 2`, or `None` (unsigned).
        name: label.

    Returns:
        A `Legendre` on the range of $\\nabla R^*$ (a `Box`).

    Raises:
        ShapeError, NonFiniteError: malformed layers.
        NotRegularError: a coordinate where the model is not regular (two zero layers in
            both networks, or in the only one).

    Examples:
        >>> import numpy as np
        >>> from riemflow.potentials import product_network
        >>> U = np.array([[0.5, -1.0], [1.5, 0.4], [-0.8, 2.0]])
        >>> V = np.array([[0.3, 0.6], [0.9, 1.1], [1.2, 0.7]])
        >>> R = product_network(U, V)
        >>> w0 = np.prod(U, axis=0) - np.prod(V, axis=0)
        >>> bool(abs(R(w0)) < 1e-15 and np.abs(R.grad(w0)).max() < 1e-15)
        True
    """
    U = check_finite(as_float_array(layers_u, "layers_u"), "layers_u")
    if layers_v is None:
        if U.ndim == 2 and U.shape[0] == 2:
            return product_pair(U[0], U[1])
        return deep_product(U, name=name)
    V = check_finite(as_float_array(layers_v, "layers_v"), "layers_v")
    if U.ndim == 2 and V.ndim == 2 and U.shape[0] == V.shape[0] == 2 and U.shape[1:] == V.shape[1:]:
        return product_pair(U[0], U[1], V[0], V[1])
    S = SignedDeepInit(U, V)
    d = S.dim

    def plain(x):
        return np.asarray(x, dtype=np.float64)

    @primitive
    def mirror_map(w):
        return S.mirror_map(plain(w))

    @primitive
    def kernel(mu):
        return S.kernel(plain(mu))

    @primitive
    def grad_conjugate(mu):
        return S.grad_conjugate(plain(mu))

    @primitive
    def conjugate_terms(mu):
        return S.conjugate_terms(plain(mu))

    defvjp(mirror_map, lambda ans, w: lambda g: g / kernel(ans))
    defjvp(mirror_map, lambda g, ans, w: g / kernel(ans))
    defvjp(kernel, lambda ans, mu: lambda g: g * S.kernel_slope(plain(mu)))
    defjvp(kernel, lambda g, ans, mu: g * S.kernel_slope(plain(mu)))
    defvjp(grad_conjugate, lambda ans, mu: lambda g: g * kernel(mu))
    defjvp(grad_conjugate, lambda g, ans, mu: g * kernel(mu))
    defvjp(conjugate_terms, lambda ans, mu: lambda g: g * grad_conjugate(mu))
    defjvp(conjugate_terms, lambda g, ans, mu: g * grad_conjugate(mu))

    def diagonal(values):
        return values[..., :, None] * np.eye(d)

    def conjugate(mu):
        return anp.sum(conjugate_terms(mu), axis=-1)

    def value(w):
        mu = mirror_map(w)
        return anp.sum(mu * w, axis=-1) - conjugate(mu)

    depths = f"L={U.shape[0]}" + (f", L'={V.shape[0]}" if V.shape[0] != U.shape[0] else "")
    return Legendre(
        value,
        d,
        domain=Box(S.w_lo, S.w_hi),
        grad=mirror_map,
        hessian=lambda w: diagonal(1.0 / kernel(mirror_map(w))),
        grad_conjugate=grad_conjugate,
        conjugate=conjugate,
        hessian_conjugate=lambda mu: diagonal(kernel(mu)),
        name=name or f"signed product network potential ({depths}, general init)",
        check_derivatives=False,
    )

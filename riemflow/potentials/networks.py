"""Mirror potentials of diagonal networks, from any initialization.

The forward theorem's Legendre functions of the diagonal models (Concepts: closed forms):
`w = u*u - v*v` (`hyperbolic_entropy`, `exponential_pair`), `w = u^L - v^L`
(`power_network`, `diagonal_network`), depth-2 products `w = u_1 u_2 - v_1 v_2`
(`product_pair`) and one hidden neuron (`single_neuron`). Deep products of `L >= 3`
layers are in `riemflow.potentials.deep_product`.
"""

from __future__ import annotations

import autograd.numpy as anp
import numpy as np
from autograd.extend import defjvp, defvjp, primitive

from .._validation import as_float_array, as_positive, as_positive_int, check_finite
from ..domains import Box
from ..edge_dual import PowerSum
from ..errors import InputError, NotRegularError, ShapeError
from ..legendre import Legendre
from ._common import diag_hessian
from .elementary import squared_euclidean

__all__ = [
    "hyperbolic_entropy",
    "exponential_pair",
    "power_network",
    "diagonal_network",
    "product_pair",
    "single_neuron",
]


def _alpha_vector(alpha, dim: int) -> np.ndarray:
    arr = check_finite(as_float_array(alpha, "alpha"), "alpha")
    if arr.ndim == 0:
        arr = np.full(dim, float(arr))
    if arr.shape != (dim,):
        raise ShapeError(
            f"`alpha` must be a scalar or have shape ({dim},); got {arr.shape}", argument="alpha"
        )
    if np.any(arr <= 0):
        raise InputError(f"`alpha` must be > 0; got min {arr.min()!r}", argument="alpha")
    return arr


def _asinh_ratio(w, log_beta, beta):
    """`arcsinh(w / beta)` without overflow of `w / beta` (beta may be ~1e-300)."""
    small = anp.abs(w) < beta
    z = anp.clip(w / beta, -1.0, 1.0)  # only used where |w| < beta
    big = anp.maximum(anp.abs(w), beta)
    large = anp.log(big) - log_beta + anp.log1p(anp.sqrt(1.0 + (beta / big) ** 2))
    return anp.where(small, anp.arcsinh(z), anp.sign(w) * large)


def _scaled_sinh(x, log_beta, beta):
    """`beta * sinh(x)` in log domain for large `|x|` (beta may be ~1e-300)."""
    ax = anp.abs(x)
    direct = beta * anp.sinh(anp.clip(x, -1.0, 1.0))
    ax_big = anp.maximum(ax, 1.0)
    logform = anp.sign(x) * 0.5 * anp.exp(log_beta + ax_big) * (-anp.expm1(-2.0 * ax_big))
    return anp.where(ax < 1.0, direct, logform)


def hyperbolic_entropy(dim: int, alpha=1.0) -> Legendre:
    """The potential of the depth-2 diagonal network `w = u*u - v*v`, `u0 = v0 = alpha`.

    With `beta = 2 alpha^2` (per coordinate when `alpha` is a vector), [Concepts: closed forms for
    diagonal networks](concepts.md#closed-forms-for-diagonal-networks): `R(w) = 1/4 sum_i [w_i
    arcsinh(w_i / beta_i) - sqrt(w_i^2 + beta_i^2) + beta_i]`, `grad R = arcsinh(w / beta) / 4`,
    `hess R = diag(1 / (4 sqrt(w^2 + beta^2)))`, `grad R*(mu) = beta sinh(4 mu)`, `R*(mu) = beta
    sinh(2 mu)^2 / 2`. Gradient flow on `u*u - v*v` is mirror flow with this `R`
    (`dw/dt = -4 sqrt(w^2 + 4 alpha^4) grad L`); `alpha -> 0` gives l1-like, `alpha -> inf`
    l2-like implicit bias. Evaluated in log domain and without cancellation, so
    `alpha = 1e-150` and `alpha = 1e6` keep full relative accuracy.

    Args:
        dim: `d`.
        alpha: initialization scale `> 0`, scalar or `(d,)`.

    Examples:
        >>> import numpy as np, riemflow as rf
        >>> R = rf.potentials.hyperbolic_entropy(1, alpha=1e-150)
        >>> float(R.grad(np.array([1.0]))[0])  # arcsinh(1 / 2e-300) / 4 = log(1e300) / 4
        172.6938819745...
    """
    dim = as_positive_int(dim, "dim")
    alpha = _alpha_vector(alpha, dim)
    log_beta = np.log(2.0) + 2.0 * np.log(alpha)
    beta = np.exp(log_beta)

    def value(w):
        h = anp.hypot(w, beta)
        # w asinh(w/b) - sqrt(w^2 + b^2) + b  ==  w (asinh(w/b) - w / (b + sqrt(w^2 + b^2)))
        return 0.25 * anp.sum(w * (_asinh_ratio(w, log_beta, beta) - w / (beta + h)), axis=-1)

    def conjugate(mu):
        y = anp.abs(2.0 * mu)
        y_big = anp.maximum(y, 1e-300)
        log_sinh = y_big - np.log(2.0) + anp.log(-anp.expm1(-2.0 * y_big))
        big = 0.5 * anp.exp(log_beta + 2.0 * log_sinh)
        small = 0.5 * beta * anp.sinh(anp.clip(y, 0.0, 1.0)) ** 2
        return anp.sum(anp.where(y < 1.0, small, big), axis=-1)

    label = f"{alpha[0]:g}" if np.all(alpha == alpha[0]) else "per coordinate"
    return Legendre(
        value,
        dim,
        grad=lambda w: 0.25 * _asinh_ratio(w, log_beta, beta),
        hessian=diag_hessian(lambda w: 0.25 / anp.hypot(w, beta)),
        grad_conjugate=lambda mu: _scaled_sinh(4.0 * mu, log_beta, beta),
        conjugate=conjugate,
        name=f"hyperbolic entropy (alpha={label})",
        check_derivatives=False,
    )


def exponential_pair(
    a=None,
    b=None,
    rate: float = 4.0,
    *,
    log_a=None,
    log_b=None,
    name: str = "exponential pair",
) -> Legendre:
    """The Legendre function with `grad R^*(mu) = a e^{rate mu} - b e^{-rate mu}`.

    Per coordinate, `a, b >= 0` not both zero (`(d,)` arrays or scalars with a `(d,)`
    partner). This is the mirror potential of every depth-2 diagonal model ([Concepts: closed forms
    for diagonal networks](concepts.md#closed-forms-for-diagonal-networks)): `u*u - v*v` from `(u0,
    v0)` has `a = u0^2`, `b = v0^2`, `rate = 4`; `u*v` from `(u0, v0)` has `a = p^2`, `b = q^2`,
    `rate = 2` with `p, q = (u0 +- v0) / 2`. Normalized as the forward construction is: `R(w0) = 0`
    and `grad R(w0) = 0` at `w0 = a - b`. With `beta = 2 sqrt(ab)` and `ell = log(a / b) / 2`:

    - `a, b > 0` (domain `R`): `grad R(w) = (arcsinh(w / beta) - ell) / rate`;
    - `b = 0` (domain `w > 0`): `grad R(w) = log(w / a) / rate`;
    - `a = 0` (domain `w < 0`): `grad R(w) = -log(-w / b) / rate`;

    and in all cases `hess R(w) = 1 / (rate sqrt(w^2 + beta^2))`,
    `R(w) = w grad R(w) - (sqrt(w^2 + beta^2) - a - b) / rate`,
    `R^*(mu) = (a (e^{rate mu} - 1) + b (e^{-rate mu} - 1)) / rate`. Evaluated in log
    domain: scales down to `a = 1e-300` keep full relative accuracy, and scales below the
    float range (`alpha^2` for `alpha = 1e-160`) can be given by their logarithms.

    Args:
        a: the scale of `e^{rate mu}`, `(d,)` (or a scalar broadcast against `b`).
        b: the scale of `e^{-rate mu}`, `(d,)` (or a scalar).
        rate: `rate > 0`.
        log_a: `log a` instead of `a` (`-inf` for a zero scale).
        log_b: `log b` instead of `b`.
        name: label.

    Examples:
        >>> import numpy as np, riemflow as rf
        >>> R = rf.potentials.exponential_pair([1.0, 1.0], [1.0, 0.0])
        >>> R.domain.contains(np.array([-1.0, 0.5])), R.grad(np.array([0.0, 1.0])).tolist()
        (True, [0.0, 0.0])
    """
    rate = as_positive(rate, "rate")
    if (log_a is None) != (log_b is None) or (log_a is None) == (a is None or b is None):
        raise InputError(
            "give the scales as `a` and `b`, or as `log_a` and `log_b`", argument="log_a"
        )
    if log_a is not None:
        la = np.atleast_1d(as_float_array(log_a, "log_a"))
        lb = np.atleast_1d(as_float_array(log_b, "log_b"))
        la, lb = np.broadcast_arrays(la, lb)
        if la.ndim != 1 or np.any(np.isnan(la) | np.isnan(lb)) or np.any(la == np.inf):
            raise InputError(
                f"`log_a`, `log_b` must be (d,) arrays in [-inf, inf); got {la}, {lb}",
                argument="log_a",
            )
        if np.any(lb == np.inf) or np.any((la == -np.inf) & (lb == -np.inf)):
            raise InputError(
                f"`log_a` and `log_b` must not both be -inf in a coordinate; got {la}, {lb}",
                argument="log_a",
            )
        return _exponential_pair(la, lb, rate, name)
    a_arr = check_finite(as_float_array(a, "a"), "a")
    b_arr = check_finite(as_float_array(b, "b"), "b")
    a_arr, b_arr = np.broadcast_arrays(np.atleast_1d(a_arr), np.atleast_1d(b_arr))
    if a_arr.ndim != 1:
        raise ShapeError(f"`a` and `b` must be (d,) arrays; got {a_arr.shape}", argument="a")
    if np.any(a_arr < 0) or np.any(b_arr < 0) or np.any((a_arr == 0) & (b_arr == 0)):
        raise InputError(
            f"`a` and `b` must be >= 0 and not both 0 in a coordinate; got a={a_arr}, b={b_arr}",
            argument="a",
        )
    with np.errstate(divide="ignore"):
        log_a, log_b = np.log(a_arr), np.log(b_arr)
    return _exponential_pair(log_a, log_b, rate, name)


def product_pair(u1, u2, v1=None, v2=None) -> Legendre:
    """The mirror potential of the depth-2 product network `w = u_1 u_2 - v_1 v_2` (or
    `w = u_1 u_2` without `v`), from any initialization `(u1, u2, v1, v2)`, `(d,)` each.

    Along the joint flow `u_1 u_2 = p^2 e^{2 mu} - q^2 e^{-2 mu}` with `p, q = (u_1 +- u_2) / 2`
    (Concepts: closed forms), and `-v_1 v_2` contributes the mirror image, so `w` is an
    `exponential_pair` with `a = p_u^2 + q_v^2`, `b = q_u^2 + p_v^2`, `rate = 2`.

    Raises:
        NotRegularError: a coordinate with `a = b = 0` (`u_1 = u_2 = 0` and
            `v_1 = v_2 = 0` there: `dG` loses rank).

    Examples:
        >>> import numpy as np, riemflow as rf
        >>> R = rf.potentials.product_pair(np.array([1.0]), np.array([3.0]))
        >>> R.grad(np.array([3.0])).tolist()  # the initialization w0 = u1 u2
        [0.0]
    """

    def halves(first, second):
        first = np.atleast_1d(as_float_array(first, "u1"))
        second = np.atleast_1d(as_float_array(second, "u2"))
        return 0.5 * (first + second), 0.5 * (first - second)

    p_u, q_u = halves(u1, u2)
    a, b = p_u**2, q_u**2
    if v1 is not None:
        p_v, q_v = halves(v1, v2)
        a, b = a + q_v**2, b + p_v**2
    if np.any((a == 0) & (b == 0)):
        i = int(np.argmax((a == 0) & (b == 0)))
        raise NotRegularError(
            f"the product network is not regular at coordinate {i} of its initialization "
            "(both products vanish with both factors: dG has rank < d there)"
        )
    with np.errstate(divide="ignore"):
        return _exponential_pair(np.log(a), np.log(b), 2.0, "depth-2 product network potential")


def _scaled_expm1(log_scale, scale, x):
    """`scale * (e^x - 1)` without overflow of `e^x` when `scale` is tiny."""
    small = anp.abs(x) < 1.0
    direct = scale * anp.expm1(anp.clip(x, -1.0, 1.0))
    large = anp.exp(log_scale + anp.where(small, 0.0, x)) - scale
    return anp.where(small, direct, large)


def _exponential_pair(log_a, log_b, rate: float, name: str) -> Legendre:
    """`exponential_pair` from `log a`, `log b` (`-inf` for 0), so that scales below the
    float range of `a` itself (`alpha^2` for `alpha = 1e-160`) stay exact."""
    log_a = np.asarray(log_a, dtype=np.float64)
    log_b = np.asarray(log_b, dtype=np.float64)
    dim = log_a.size
    k = float(rate)
    a, b = np.exp(log_a), np.exp(log_b)
    both = np.isfinite(log_a) & np.isfinite(log_b)
    only_a = np.isfinite(log_a) & ~np.isfinite(log_b)
    # both > 0: w = beta sinh(k mu + ell); dummies (never selected) elsewhere
    log_beta = np.where(both, np.log(2.0) + 0.5 * (log_a + log_b), 0.0)
    beta = np.where(both, np.exp(log_beta), 0.0)
    beta_safe = np.where(both, beta, 1.0)
    ell = np.where(both, 0.5 * (log_a - log_b), 0.0)
    log_single = np.where(only_a, log_a, log_b)  # the one finite log where not `both`
    log_single = np.where(both, 0.0, log_single)
    lower = np.where(only_a, 0.0, -np.inf)
    upper = np.where(both | only_a, np.inf, 0.0)

    def grad(w):
        sinh_branch = (_asinh_ratio(w, log_beta, beta_safe) - ell) / k
        magnitude = anp.log(anp.where(both, 1.0, anp.abs(w) + (w == 0))) - log_single
        single = anp.where(only_a, magnitude, -magnitude) / k
        return anp.where(both, sinh_branch, single)

    w0 = a - b

    def value(w):
        # sqrt(w^2 + beta^2) - (a + b) = (w - w0)(w + w0) / (sqrt(w^2 + beta^2) + a + b):
        # a + b = sqrt(w0^2 + beta^2), so the difference cancels when beta >> |w|
        spread = (w - w0) * (w + w0) / (anp.hypot(w, beta) + a + b)
        return anp.sum(w * grad(w) - spread / k, axis=-1)

    def grad_conjugate(mu):
        x = k * mu
        pair = _scaled_sinh(x + ell, log_beta, beta_safe)
        up = anp.exp(anp.where(only_a, log_single + x, 0.0))
        down = -anp.exp(anp.where(only_a | both, 0.0, log_single - x))
        return anp.where(both, pair, anp.where(only_a, up, down))

    def conjugate(mu):
        x = k * mu
        term_a = anp.where(
            np.isfinite(log_a), _scaled_expm1(np.where(np.isfinite(log_a), log_a, 0.0), a, x), 0.0
        )
        term_b = anp.where(
            np.isfinite(log_b), _scaled_expm1(np.where(np.isfinite(log_b), log_b, 0.0), b, -x), 0.0
        )
        return anp.sum(term_a + term_b, axis=-1) / k

    return Legendre(
        value,
        dim,
        domain=Box(lower, upper),
        grad=grad,
        hessian=diag_hessian(lambda w: 1.0 / (k * anp.hypot(w, beta))),
        grad_conjugate=grad_conjugate,
        conjugate=conjugate,
        name=name,
        check_derivatives=False,
    )


def _power_terms(u0, v0, depth: float):
    """Signs `sigma (T, d)` and `c = |u_t0|^{2-L}` of the terms `sigma |u_t|^L` of
    `w = u^L - v^L` (`T = 2`) or `w = u^L` (`T = 1`)."""
    L = float(depth)
    integral = L.is_integer()
    rows, signs = [u0], [1.0]
    if v0 is not None:
        rows.append(v0)
        signs.append(-1.0)
    sigma, mags = [], []
    for row, sign in zip(rows, signs, strict=True):
        if integral:
            parity = np.where(row < 0, (-1.0) ** int(L), 1.0)
        elif np.any(row <= 0):
            raise InputError(
                f"a non-integer depth {L:g} needs positive initializations; got min {row.min():g}",
                argument="u0",
            )
        else:
            parity = np.ones_like(row)
        sigma.append(sign * parity)
        mags.append(np.abs(row))
    return np.array(sigma), np.array(mags)


def power_network(u0, v0=None, *, depth: float = 2) -> Legendre:
    """The mirror potential of `w = u^L - v^L` (or `w = u^L`) from any initialization.

    Per coordinate, `w` is a sum of terms `sigma_t |u_t|^L` (`sigma = sign(u_t0)^L` for
    `u`, `-sign(v_t0)^L` for `v`). Along the joint flow ([Concepts: closed forms for diagonal
    networks](concepts.md#closed-forms-for-diagonal-networks)), `|u_t|^{2-L} = c_t - sigma_t k mu`
    with `c_t = |u_t0|^{2-L}`, `k = L(L-2)`, so

    - `grad R^*(mu) = sum_t sigma_t (c_t - sigma_t k mu)^{L/(2-L)}` on the interval of
      `mu` where every base is positive (bounded for `L > 2`: finite-time blow-up);
    - `R^*(mu) = sum_t (|u_t|^2 - |u_t0|^2) / (2L)` (`G` is homogeneous of degree `L`);
    - `grad R` is its inverse, by a safeguarded scalar Newton/bisection solve (an autograd
      primitive), `hess R = 1 / (L^2 sum_t |u_t|^{2L-2})`;
    - `L = 2` is `exponential_pair(u0^2, v0^2, rate=4)` (log-domain formulas).

    Normalized so that `R(w0) = 0`, `grad R(w0) = 0` at `w0 = G(u0, v0)`. The domain is
    the range of `grad R^*`, an interval per coordinate (all of `R` for the usual signed
    network with `u0, v0 > 0`, `w > 0` for `u^L` with `u0 > 0`).

    Args:
        u0: initialization of `u`, `(d,)`, no zeros (`G` is not regular there).
        v0: initialization of `v`, `(d,)`, or `None` for the unsigned `w = u^L`.
        depth: `L = 1` (linear) or `L >= 2` (real; non-integer needs positive
            initializations). For `1 < L < 2` the flow reaches `u = 0` in finite time and
            there is no Legendre potential.

    Raises:
        InputError, ShapeError: bad depth or initializations (zeros, shapes), or
            `|u0|^{2-L}` outside the float range.

    Examples:
        >>> import numpy as np, riemflow as rf
        >>> u0, v0 = np.array([1.0, 2.0]), np.array([0.5, 0.5])
        >>> R = rf.potentials.power_network(u0, v0, depth=3)
        >>> w0 = np.array([1.0 - 0.125, 8.0 - 0.125])
        >>> R.grad(w0).round(12).tolist(), round(R(w0), 12)
        ([0.0, 0.0], 0.0)
    """
    u0 = check_finite(np.atleast_1d(as_float_array(u0, "u0")), "u0")
    if u0.ndim != 1:
        raise ShapeError(f"`u0` must be a (d,) array; got {u0.shape}", argument="u0")
    if v0 is not None:
        v0 = check_finite(np.atleast_1d(as_float_array(v0, "v0")), "v0")
        if v0.shape != u0.shape:
            raise ShapeError(
                f"`v0` must have the shape of `u0` {u0.shape}; got {v0.shape}", argument="v0"
            )
    if isinstance(depth, bool) or not np.isscalar(depth) or not float(depth) >= 1:
        raise InputError(f"`depth` must be a real number >= 1; got {depth!r}", argument="depth")
    if 1.0 < float(depth) < 2.0:
        raise InputError(
            f"depth {depth} in (1, 2): the joint flow reaches u = 0, where u^L is not smooth, "
            "in finite time, so the potential is not essentially smooth (not Legendre)",
            argument="depth",
        )
    for name, row in (("u0", u0), ("v0", v0)):
        if row is not None and np.any(row == 0):
            raise InputError(
                f"`{name}` has zero entries: the network is not regular there", argument=name
            )
    L = float(depth)
    label = f"depth-{L:g} network potential" + (" (signed)" if v0 is not None else "")
    if L == 1.0:  # linear: grad R^*(mu) = w0 + T mu with T the number of terms
        w0 = u0 - (0.0 if v0 is None else v0)
        n_terms = 1.0 if v0 is None else 2.0
        return squared_euclidean(u0.size, np.eye(u0.size) / n_terms).centered(w0, name=label)
    if L == 2.0:
        log_b = -np.inf * np.ones_like(u0) if v0 is None else 2.0 * np.log(np.abs(v0))
        return _exponential_pair(2.0 * np.log(np.abs(u0)), log_b, 4.0, label)
    sigma, mags = _power_terms(u0, v0, L)
    with np.errstate(over="ignore", divide="ignore"):
        c = mags ** (2.0 - L)
    if not np.all(np.isfinite(c) & (c > 0)):
        raise InputError(
            f"the initialization is too extreme for depth {L:g}: |u0|^(2-L) leaves the float "
            f"range (min |u0| {mags.min():g}, max {mags.max():g})",
            argument="u0",
        )
    return _power_potential(sigma, c, mags, L, label)


def _power_potential(sigma, c, mags, L: float, name: str) -> Legendre:
    k = L * (L - 2.0)
    p = L / (2.0 - L)
    sk = sigma * k  # constraint sk * mu < c per term
    with np.errstate(divide="ignore"):
        bound = c / sk
    mu_hi = np.min(np.where(sk > 0, bound, np.inf), axis=0)
    mu_lo = np.max(np.where(sk < 0, bound, -np.inf), axis=0)
    dim = c.shape[1]

    def bases(mu):
        return c - sk * mu  # (T, ..., d) by broadcasting (T, 1.., d)

    def expand(arr, mu):
        return anp.reshape(arr, (arr.shape[0],) + (1,) * (anp.ndim(mu) - 1) + (dim,))

    # sigma (c - sk mu)^p = sigma |u0|^L (1 - sk mu / c)^p: written as the constant w0 plus
    # expm1 terms, so that u0 = v0 (w0 = 0) does not subtract two numbers of size alpha^L
    # (at alpha = 1000, depth 3, that cancellation cost 7 digits)
    w_init = np.sum(sigma * mags**L, axis=0)
    scale = sigma * mags**L
    ratio = sk / c

    def relative(mu, power):  # (1 - sk mu / c)^power - 1, accurately near mu = 0
        return anp.expm1(power * anp.log1p(-expand(ratio, mu) * mu))

    def h(mu):
        return w_init + anp.sum(expand(scale, mu) * relative(mu, p), axis=0)

    def h_prime(mu):
        return L**2 * anp.sum((expand(c, mu) - expand(sk, mu) * mu) ** (p - 1.0), axis=0)

    def end_value(mu_end, own):
        """`h` at an end of the interval: terms whose base vanishes there (`own`) tend to
        `sigma inf` (L > 2) or 0 (L < 2); at an infinite end the roles swap."""
        finite = np.isfinite(mu_end)
        with np.errstate(all="ignore"):
            base = c - sk * np.where(finite, mu_end, 0.0)
            regular = sigma * base**p
        blow = sigma * np.inf
        limit = np.where(finite & own, blow if p < 0 else 0.0, regular)
        limit = np.where(~finite, 0.0 if p < 0 else blow, limit)
        return np.sum(limit, axis=0)

    lower = end_value(mu_lo, sk < 0)
    upper = end_value(mu_hi, sk > 0)

    @primitive
    def inverse(w):
        w = np.asarray(w, dtype=np.float64)
        shape = w.shape
        lo = np.broadcast_to(mu_lo, shape).copy()
        hi = np.broadcast_to(mu_hi, shape).copy()
        with np.errstate(all="ignore"):
            # make infinite ends finite: step outward until h brackets w
            for side, sign in ((lo, -1.0), (hi, 1.0)):
                other = hi if sign < 0 else lo
                infinite = ~np.isfinite(side)
                if np.any(infinite):
                    anchor = np.where(np.isfinite(other), other, 0.0)
                    step = np.ones(shape)
                    trial = anchor + sign * step
                    for _ in range(2100):
                        f = h(trial) - w
                        ok = (f < 0) if sign < 0 else (f > 0)
                        done = ok | ~infinite
                        if np.all(done):
                            break
                        step = np.where(done, step, 2.0 * step)
                        trial = np.where(done, trial, anchor + sign * step)
                    side[...] = np.where(infinite, trial, side)
            mu = np.where(np.isfinite(0.5 * (lo + hi)), 0.5 * (lo + hi), 0.0)
            mu = np.clip(np.zeros(shape), lo, hi) if np.all((lo < 0) & (hi > 0)) else mu
            for _ in range(300):
                f = h(mu) - w
                lo = np.where(f < 0, mu, lo)
                hi = np.where(f > 0, mu, hi)
                newton = mu - f / h_prime(mu)
                inside = (newton > lo) & (newton < hi) & np.isfinite(newton)
                new = np.where(inside, newton, 0.5 * (lo + hi))
                tol = 4 * np.finfo(float).eps * np.maximum(np.abs(new), 1e-300)
                done = (np.abs(new - mu) <= tol) | (f == 0) | (hi - lo <= tol)
                mu = new
                if np.all(done):
                    break
        return mu

    defvjp(inverse, lambda ans, w: lambda g: g / h_prime(ans))
    defjvp(inverse, lambda g, ans, w: g / h_prime(ans))

    def inside(mu, values):
        ok = (mu > mu_lo) & (mu < mu_hi)
        return anp.where(ok, values, np.nan)

    def conjugate(mu):
        q = anp.sum(expand(mags, mu) ** 2 * relative(mu, 2.0 / (2.0 - L)), axis=0) / (2.0 * L)
        return anp.sum(inside(mu, q), axis=-1)

    def value(w):
        mu = inverse(w)
        return anp.sum(mu * w, axis=-1) - conjugate(mu)

    return Legendre(
        value,
        dim,
        domain=Box(lower, upper),
        grad=inverse,
        hessian=diag_hessian(lambda w: 1.0 / h_prime(inverse(w))),
        grad_conjugate=lambda mu: inside(mu, h(mu)),
        conjugate=conjugate,
        name=name,
        check_derivatives=False,
        edge_form=PowerSum.terms(sigma, c, L, w_ref=w_init, name=name) if L > 2 else None,
    )


def diagonal_network(dim: int, depth: float = 2, alpha=1.0) -> Legendre:
    """The potential of the depth-`L` network `w = u^L - v^L`, `u0 = v0 = alpha`.

    `power_network(alpha, alpha, depth=L)`; depth 2 is `hyperbolic_entropy`. For `L > 2`
    ([Concepts: closed forms for diagonal
    networks](concepts.md#closed-forms-for-diagonal-networks)), with `c = alpha^{2-L}` and `k =
    L(L-2)`: `grad R*(mu) = (c - k mu)^{-L/(L-2)} - (c + k mu)^{-L/(L-2)}` on `|mu| < c / k` (the
    flow blows up in finite time beyond), `R*(mu) = (u^2 + v^2) / (2L) - alpha^2 / L` with `u = (c -
    k mu)^{-1/(L-2)}`, `v = (c + k mu)^{-1/(L-2)}`; `grad R` is its inverse, by a safeguarded scalar
    Newton solve (an autograd primitive, so Hessians and curvature stay exact), `hess R = 1 / (L^2
    (u^{2L-2} + v^{2L-2}))`.

    Args:
        dim: `d`.
        depth: `L >= 2` (real values allowed).
        alpha: scale `> 0`, scalar or `(d,)`; `alpha^{2-L}` must be finite.

    Examples:
        >>> import numpy as np, riemflow as rf
        >>> R = rf.potentials.diagonal_network(2, depth=3, alpha=0.5)
        >>> w = np.array([0.3, -1.0])
        >>> bool(np.allclose(R.grad_conjugate(R.grad(w)), w, rtol=1e-13))
        True
    """
    dim = as_positive_int(dim, "dim")
    if isinstance(depth, bool) or not np.isscalar(depth) or not float(depth) >= 2:
        raise InputError(f"`depth` must be a real number >= 2; got {depth!r}", argument="depth")
    if float(depth) == 2.0:
        return hyperbolic_entropy(dim, alpha)
    alpha = _alpha_vector(alpha, dim)
    L = float(depth)
    with np.errstate(over="ignore"):
        c = alpha ** (2.0 - L)
    if not np.all(np.isfinite(c)):
        raise InputError(
            f"`alpha` too small for depth {L:g}: alpha^(2-L) overflows (min alpha {alpha.min():g})",
            argument="alpha",
        )
    sigma, mags = _power_terms(alpha, alpha, L)
    return _power_potential(
        sigma, mags ** (2.0 - L), mags, L, f"depth-{L:g} diagonal network potential"
    )


def single_neuron(a0: float, z0) -> Legendre:
    """The time-warped potential of one neuron `w = a z` from `(a0, z0)` ([Concepts: the time-warped
    case](concepts.md#the-time-warped-case)).

    With `delta = a0^2 - |z0|^2 > 0` (conserved along gradient flow) and
    `s(w)^2 = delta / 2 + sqrt(|w|^2 + delta^2 / 4)` (which is `a^2` along the flow):

    - `grad R(w) = w / s - z0` (`= z - z0` along the flow),
    - `R(w) = (2/3) s^3 - delta s - <z0, w>`,
    - `hess R(w) = I / s - w w^T / (2 s^3 sqrt(|w|^2 + delta^2/4))`,
    - `R^*(mu) = (delta + |mu + z0|^2)^{3/2} / 3`, `grad R^*(mu) = a (mu + z0)` with
      `a = sqrt(delta + |mu + z0|^2)`.

    Gradient flow of `L(a z)` satisfies `d grad R(w) / dt = -a grad L(w)`: the mirror flow of
    this `R` at speed `a(t)`, so the Bregman implicit bias holds although the model does
    not commute. Domain: all of `R^k`.

    Examples:
        >>> import numpy as np, riemflow as rf
        >>> R = rf.potentials.single_neuron(2.0, [0.5, -1.0])
        >>> R.grad(np.array([1.0, -2.0])).round(12).tolist()  # at w0 = a0 z0
        [0.0, 0.0]
    """
    a0 = float(as_positive(a0, "a0"))
    z0 = check_finite(as_float_array(z0, "z0"), "z0")
    if z0.ndim != 1:
        raise ShapeError(f"`z0` must be a (k,) array; got shape {z0.shape}", argument="z0")
    delta = a0**2 - float(z0 @ z0)
    if delta <= 0:
        raise InputError(
            f"need a0^2 > |z0|^2 (delta = {delta:.3e}): with delta <= 0 the Hessian "
            "degenerates at w = 0",
            argument="a0",
        )
    k = z0.size

    def radius(w):
        return anp.sqrt(anp.sum(w * w, axis=-1) + 0.25 * delta**2)

    def speed(w):  # s(w) = a along the flow
        return anp.sqrt(0.5 * delta + radius(w))

    def value(w):
        s = speed(w)
        return 2.0 / 3.0 * s**3 - delta * s - anp.sum(z0 * w, axis=-1)

    def grad(w):
        return w / speed(w)[..., None] - z0

    def hessian(w):
        s, q = speed(w)[..., None, None], radius(w)[..., None, None]
        outer = w[..., :, None] * w[..., None, :]
        return anp.eye(k) / s - outer / (2.0 * s**3 * q)

    def conjugate(mu):
        return (delta + anp.sum((mu + z0) ** 2, axis=-1)) ** 1.5 / 3.0

    def grad_conjugate(mu):
        z = mu + z0
        return anp.sqrt(delta + anp.sum(z * z, axis=-1))[..., None] * z

    def hessian_conjugate(mu):
        z = mu + z0
        a = anp.sqrt(delta + anp.sum(z * z, axis=-1))[..., None, None]
        return a * anp.eye(k) + z[..., :, None] * z[..., None, :] / a

    return Legendre(
        value,
        k,
        grad=grad,
        hessian=hessian,
        conjugate=conjugate,
        grad_conjugate=grad_conjugate,
        hessian_conjugate=hessian_conjugate,
        name=f"single-neuron potential (a0={a0:g}, delta={delta:.3g})",
        check_derivatives=False,
    )

"""Batched autograd derivatives of point-wise maps (private).

Users write maps for one point, `x: (D,) -> (d,)`, with `autograd.numpy`. Many such maps
also broadcast over a leading batch axis (`x[..., i]`, `anp.einsum('...i', ...)`); a
`PointwiseMap` detects this once and then evaluates whole batches in one call, falling back
to a Python loop over points only for maps that do not broadcast.

Because a point-wise map's output row `b` depends only on input row `b`, the batched
Jacobian is `d` vector-Jacobian products with cotangents `e_i` broadcast over the batch, and
a directional derivative of any batched map is one forward-mode (`make_jvp`) pass. Both
nest, so derivatives of derivatives (Lie brackets) stay exact.

autograd defines only reverse-mode rules for `numpy.linalg`; `solve` here is a batched
linear solve with both rules (each written with `solve` itself, so they nest to any
order), which keeps forward mode available to the metrics that solve a linear system.
Where forward mode has no rule the directional derivative is a reverse-over-reverse pass
(`jvp_reverse`), traced at a non-zero cotangent: autograd's own `make_jvp_reversemode`
traces at a zero cotangent, and autograd's VJP of `eigh` adds its eigenvector term only
when that cotangent is non-zero, so the derivative of anything built on eigenvectors
(`logm`, `sqrtm` by eigendecomposition) silently lost that term.
"""

from __future__ import annotations

import functools
import warnings

import autograd.numpy as anp
import numpy as np
from autograd.core import make_jvp, make_vjp
from autograd.extend import defjvp, defvjp, primitive
from autograd.tracer import getval

from .errors import NotCallableError, NotDifferentiableError, RiemflowError, ShapeError

_HINT = (
    "write the map with `import autograd.numpy as anp` (anp.sin, anp.stack, ...) instead of "
    "plain numpy or math, avoid in-place assignment into arrays and float()/np.asarray() "
    "on its inputs"
)


def _as_output(value, name: str) -> np.ndarray | object:
    """Check a map's output; scalars become 1-vectors (`d = 1`)."""
    if getattr(getattr(getval(value), "dtype", None), "kind", "") == "O":
        raise NotDifferentiableError(
            f"`{name}` returned an array of Python objects, which autograd cannot "
            f"differentiate (typically np.array([...]) built from traced values); {_HINT}"
        )
    return value


class PointwiseMap:
    """A map `(D,) -> (d,)` evaluated on batches `(B, D) -> (B, d)`.

    Args:
        fn: the user's map for one point.
        name: how errors refer to it.
        vectorized: `True` if `fn` already maps `(B, D) -> (B, d)` row by row, `False` to
            always loop, `None` to detect on the first batch of two or more points (the
            batched call must agree with single-point calls, else the loop is used).
    """

    def __init__(self, fn, name: str = "fn", vectorized: bool | None = None):
        if not callable(fn):
            raise NotCallableError(
                f"`{name}` must be callable; got {type(fn).__name__}", argument=name
            )
        self.fn = fn
        self.name = name
        self.vectorized = vectorized

    # -- evaluation ---------------------------------------------------------------------
    def _single(self, x):
        out = self.fn(x)
        out = _as_output(out, self.name)
        if anp.ndim(out) == 0:
            out = anp.reshape(out, (1,))
        if anp.ndim(out) != 1:
            raise ShapeError(
                f"`{self.name}` must map a point (D,) to a vector (d,); got output shape "
                f"{anp.shape(out)} for an input of shape {anp.shape(x)}",
                argument=self.name,
            )
        return out

    def _detect(self, xb: np.ndarray) -> bool:
        try:
            out = np.asarray(self.fn(xb), dtype=np.float64)
        except Exception:
            return False
        ref = [np.asarray(self._single(xb[b]), dtype=np.float64) for b in (0, xb.shape[0] - 1)]
        if out.shape == (xb.shape[0],) and ref[0].shape == (1,):
            out = out[:, None]  # a scalar map (a potential R(w)) broadcast to (B,)
        if out.shape != (xb.shape[0], ref[0].shape[0]):
            return False
        scale = max(1.0, float(np.max(np.abs(ref[0]))), float(np.max(np.abs(ref[1]))))
        return bool(
            np.allclose(out[0], ref[0], rtol=1e-12, atol=1e-14 * scale)
            and np.allclose(out[-1], ref[1], rtol=1e-12, atol=1e-14 * scale)
        )

    def tiles(self, xb) -> bool:
        """Whether `jacobian` may tile this batch (`tiled=`): a batch of two or more points
        of a vectorized map (detected now if not known yet). Single points never tile, so
        a result does not depend on whether an earlier batch call detected the map: the
        flows' per-point evaluations give the same bits on a fresh or a used object."""
        n = anp.shape(xb)[0]
        if n < 2:
            return False
        if self.vectorized is None:
            self.vectorized = self._detect(np.asarray(getval(xb), dtype=np.float64))
        return bool(self.vectorized)

    def __call__(self, xb):
        """Evaluate on a batch `(B, D)` (possibly traced by autograd): `(B, d)`."""
        n = anp.shape(xb)[0]
        if self.vectorized is None and n >= 2:
            plain = np.asarray(getval(xb), dtype=np.float64)
            self.vectorized = self._detect(plain)
        if self.vectorized:
            out = _as_output(self.fn(xb), self.name)
            if anp.ndim(out) == 1 and n >= 1:
                out = anp.reshape(out, (n, 1))
            return out
        return anp.stack([self._single(xb[b]) for b in range(n)], axis=0)


def _quiet(fn):
    """Silence autograd's "Output seems independent of input": constant maps (linear
    gradient fields, constant losses) are legitimate here and get exact zero derivatives."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Output seems independent of input")
            return fn(*args, **kwargs)

    return wrapper


@_quiet
def jacobian(fn, xb, name: str = "fn", *, tiled: bool = False):
    """Batched Jacobian of a point-wise batched map: `(B, D) -> (B, d, D)`.

    `fn` maps `(B, D) -> (B, k)` row by row. Nestable inside autograd traces.

    Args:
        fn: the batched map.
        xb: `(B, D)`.
        name: how errors refer to `fn`.
        tiled: `fn` is vectorized (one call for the whole batch, no Python loop over
            rows): evaluate it once on the batch repeated `k` times and pull back the `k`
            unit cotangents in ONE backward pass. Without it, `k` backward passes are
            stacked row by row, and under forward mode (the Lie brackets) autograd's rule
            for that stack pads each row with `k - 1` zero blocks, `O(k^2)` traffic: at
            `d = 50` the tiled form makes `check_commuting` about 10x faster. Looped maps
            gain nothing from it and keep the rows.
    """
    if tiled:
        return _tiled_jacobian(fn, xb, name)
    try:
        vjp, out = make_vjp(fn, xb)
    except Exception as exc:
        _reraise(name, exc, fn, xb)
    _as_output(out, name)
    k = anp.shape(out)[-1]
    rows = []
    for i in range(k):
        cot = np.zeros(anp.shape(out))
        cot[..., i] = 1.0
        try:
            rows.append(vjp(cot))
        except Exception as exc:
            _reraise(name, exc)
    return anp.stack(rows, axis=-2)


def _tiled_jacobian(fn, xb, name: str):
    n, dim = anp.shape(xb)
    try:
        probe = fn(xb[:1])
    except Exception as exc:
        _reraise(name, exc, fn, xb[:1])
    k = anp.shape(_as_output(probe, name))[-1]
    # row r * n + b of the tiled batch is point b, paired with the unit cotangent e_r
    tiled = anp.reshape(xb[None, :, :] * np.ones((k, 1, 1)), (k * n, dim))
    cot = np.zeros((k, n, k))
    cot[np.arange(k), :, np.arange(k)] = 1.0
    try:
        vjp, _ = make_vjp(fn, tiled)
        rows = vjp(cot.reshape(k * n, k))
    except Exception as exc:
        _reraise(name, exc, fn, xb)
    return anp.swapaxes(anp.reshape(rows, (k, n, dim)), 0, 1)


@_quiet
def pullback(fn, xb, name: str = "fn"):
    """`(fn(xb), vjp)` for a batched map: `vjp(cotangent (B, k)) -> (B, D)`.

    Failures of autograd become `NotDifferentiableError` (at tracing and at the pullback);
    exceptions of the map itself pass through (see `_reraise`).
    """
    try:
        vjp, out = make_vjp(fn, xb)
    except Exception as exc:
        _reraise(name, exc, fn, xb)
    _as_output(out, name)

    def pull(cotangent):
        try:
            return vjp(cotangent)
        except Exception as exc:
            _reraise(name, exc)

    return out, _quiet(pull)


@_quiet
def gradient(fn, xb, name: str = "fn"):
    """Gradient of a scalar function of a batch `(B, D)`; returns `(value, (B, D))`."""
    try:
        vjp, out = make_vjp(fn, xb)
    except Exception as exc:
        _reraise(name, exc, fn, xb)
    _as_output(out, name)
    try:
        return out, vjp(np.ones(anp.shape(out)))
    except Exception as exc:
        _reraise(name, exc)


@_quiet
def jvp_reverse(fn, xb, vb, *, seed: int = 0):
    """`d fn(xb)[vb]` by reverse over reverse mode, exact through `eigh`.

    The pullback `c -> dfn(x)^T c` is linear in `c`, so its own pullback at any `c` is
    `v -> dfn(x) v`; it is traced at a seeded random cotangent rather than at zero, because
    autograd's VJP of `eigh` drops its eigenvector term when the cotangent is zero (its
    shortcut for eigenvalue-only functions), which made that JVP wrong for `logm`-like maps.

    Args:
        fn: a batched map, traceable by autograd.
        xb: the point (any shape `fn` takes).
        vb: the direction, same shape as `xb`.
        seed: seed of the random cotangent (the result does not depend on it).

    Returns:
        The directional derivative, shape of `fn(xb)`.
    """
    vjp, out = make_vjp(fn, xb)
    cotangent = np.random.default_rng(seed).standard_normal(anp.shape(out)) + 1.0
    vjp_of_vjp, _ = make_vjp(vjp, cotangent)
    return vjp_of_vjp(vb)


@_quiet
def directional_derivative(fn, xb, vb, name: str = "fn"):
    """Derivative of a batched map at `xb` along `vb` (same shape as `xb`).

    Forward mode (one traced evaluation); where autograd's forward rules fail (no rule, or
    one that does not broadcast, such as `linalg.solve` on batched right-hand sides) it falls
    back to the reverse-over-reverse JVP (`jvp_reverse`), which is exact too, only slower.
    """
    try:
        return make_jvp(fn, xb)(vb)[1]
    except ShapeError:
        raise
    except Exception:
        pass  # inside a nested derivative (reported as NotDifferentiableError there)
    try:
        return jvp_reverse(fn, xb, vb)
    except Exception as exc:
        _reraise(name, exc, fn, xb)


def _reraise(name: str, exc: BaseException, fn=None, xb=None):
    """Raise the right exception for `exc`, raised while autograd differentiated `fn`.

    riemflow's own errors pass through, and so does an exception the map raises on plain
    arrays too (the map's own, such as a `ValueError` of the user's: checked by evaluating
    `fn` once more without autograd); anything else is autograd failing on the map, a
    `NotDifferentiableError` chained to the original.
    """
    if isinstance(exc, RiemflowError):
        raise exc
    if fn is not None:
        try:
            with np.errstate(all="ignore"):
                fn(np.asarray(getval(xb), dtype=np.float64))
        except Exception:
            raise exc from None
    raise _not_differentiable(name, exc) from exc


@primitive
def solve(a, b):
    """`a^{-1} b` for batches `a: (..., N, N)`, `b: (..., N, k)` (same leading axes), with
    forward and reverse autograd rules (autograd's `linalg.solve` has no batched forward
    rule), each written with `solve` itself so derivatives nest to any order."""
    return np.linalg.solve(a, b)


def _transpose(a):
    return anp.swapaxes(a, -1, -2)


defvjp(
    solve,
    lambda ans, a, b: lambda g: -anp.matmul(solve(_transpose(a), g), _transpose(ans)),
    lambda ans, a, b: lambda g: solve(_transpose(a), g),
)
defjvp(
    solve,
    lambda g, ans, a, b: -solve(a, anp.matmul(g, ans)),
    lambda g, ans, a, b: solve(a, g),
)


def _not_differentiable(name: str, exc: BaseException) -> NotDifferentiableError:
    return NotDifferentiableError(
        f"autograd could not differentiate `{name}`: {type(exc).__name__}: {exc}. {_HINT}"
    )

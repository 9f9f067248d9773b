"""Losses on data `(X, y)`, as autograd-differentiable callables `w: (d,) -> float`.

Any autograd-differentiable callable works as a loss in riemflow's flows; the classes here
add what the stochastic variants need (`subset` for mini-batches) and stable formulas.
With `n` samples, rows `x_n` of `X: (n, d)` and margins `m_n = y_n <x_n, w>`:

- `squared(X, y)`:      $L(w) = \\frac{1}{2n} \\sum_n (\\langle x_n, w\\rangle - y_n)^2$
- `exponential(X, y)`:  $L(w) = \\frac{1}{n} \\sum_n e^{-m_n}$
- `logistic(X, y)`:     $L(w) = \\frac{1}{n} \\sum_n \\log(1 + e^{-m_n})$

`reduction="sum"` drops the `1/n`. A time-dependent loss `L(w, t)` is marked with
`time_dependent` (see `time_dependent`); flows then pass the time.
"""

from __future__ import annotations

import autograd.numpy as anp
import numpy as np
from scipy.special import expit

from . import _autodiff
from ._validation import as_float_array, check_finite
from .errors import InputError, NotCallableError, ShapeError

__all__ = ["DataLoss", "squared", "exponential", "logistic", "time_dependent"]


def euclidean_gradient(loss_of_w, w: np.ndarray) -> np.ndarray:
    """`grad L(w)`: `(d,)`; the loss's own closed-form `gradient` if it has one, else one
    autograd reverse pass (private helper of the flows, not re-exported)."""
    closed = getattr(loss_of_w, "gradient", None)
    if closed is not None:
        return np.asarray(closed(w), dtype=np.float64)
    _, grad = _autodiff.gradient(lambda z: loss_of_w(z[0]), w[None, :], name="loss")
    return np.asarray(grad, dtype=np.float64)[0]


_KINDS = ("squared", "exponential", "logistic")


class DataLoss:
    """A loss on a data set `(X, y)`; callable `w: (d,) -> float`.

    Args:
        X: design matrix `(n, d)`.
        y: targets `(n,)` (regression) or labels in `{-1, +1}` (classification; `None`
            means all `+1`, i.e. the rows of `X` are already `y_n x_n`).
        kind: `"squared"`, `"exponential"` or `"logistic"`.
        reduction: `"mean"` (default) or `"sum"` over samples.

    Raises:
        ShapeError, NonFiniteError: malformed `X` or `y`.

    Example:
        >>> import numpy as np, riemflow as rf
        >>> L = rf.losses.squared(np.eye(2), np.array([1.0, 0.0]))
        >>> float(L(np.zeros(2)))
        0.25
    """

    time_dependent = False

    def __init__(self, X, y=None, *, kind: str = "squared", reduction: str = "mean"):
        if kind not in _KINDS:
            raise InputError(f"`kind` must be one of {_KINDS}; got {kind!r}", argument="kind")
        if reduction not in ("mean", "sum"):
            raise InputError(
                f"`reduction` must be 'mean' or 'sum'; got {reduction!r}", argument="reduction"
            )
        X = check_finite(as_float_array(X, "X"), "X")
        if X.ndim != 2 or X.shape[0] == 0:
            raise ShapeError(
                f"`X` must be a non-empty (n, d) matrix; got shape {X.shape}", argument="X"
            )
        if y is None:
            if kind == "squared":
                raise InputError("`y` is required for the squared loss", argument="y")
            y = np.ones(X.shape[0])
        y = check_finite(as_float_array(y, "y"), "y")
        if y.shape != (X.shape[0],):
            raise ShapeError(
                f"`y` must have shape ({X.shape[0]},) to match X; got {y.shape}", argument="y"
            )
        self.X, self.y, self.kind, self.reduction = X, y, kind, reduction
        self._signed = X * y[:, None]  # rows y_n x_n, for margins

    @property
    def n_samples(self) -> int:
        """Number of samples `n`."""
        return self.X.shape[0]

    @property
    def dim(self) -> int:
        """Dimension `d` of `w`."""
        return self.X.shape[1]

    def __call__(self, w):
        """The loss at `w: (d,)` (a float, or an autograd box while traced)."""
        if anp.shape(w) != (self.dim,):
            raise ShapeError(
                f"loss expects w of shape ({self.dim},); got {anp.shape(w)}", argument="w"
            )
        if self.kind == "squared":
            r = anp.dot(self.X, w) - self.y
            terms = 0.5 * r * r
        elif self.kind == "exponential":
            terms = anp.exp(-anp.dot(self._signed, w))
        else:  # logistic, stable for large |margin|
            terms = anp.logaddexp(0.0, -anp.dot(self._signed, w))
        total = anp.sum(terms)
        return total / self.n_samples if self.reduction == "mean" else total

    def values(self, W) -> np.ndarray:
        """The loss at each row of `W: (T, d)`: `(T,)` (one matrix product for a whole
        trajectory)."""
        W = np.asarray(W, dtype=np.float64)
        if W.ndim != 2 or W.shape[1] != self.dim:
            raise ShapeError(f"`W` must have shape (T, {self.dim}); got {W.shape}", argument="W")
        if self.kind == "squared":
            terms = 0.5 * (W @ self.X.T - self.y) ** 2
        elif self.kind == "exponential":
            terms = np.exp(-(W @ self._signed.T))
        else:
            terms = np.logaddexp(0.0, -(W @ self._signed.T))
        total = np.sum(terms, axis=1)
        return total / self.n_samples if self.reduction == "mean" else total

    def gradient(self, w) -> np.ndarray:
        """`grad L(w)`: `(d,)`, in closed form (no autograd trace; the flows use it).

        squared: `X^T (Xw - y)`; exponential: `-sum_n e^{-m_n} y_n x_n`; logistic:
        `-sum_n sigmoid(-m_n) y_n x_n` (`scipy.special.expit`, stable); divided by `n`
        for `reduction="mean"`.
        """
        w = np.asarray(w, dtype=np.float64)
        if w.shape != (self.dim,):
            raise ShapeError(f"loss expects w of shape ({self.dim},); got {w.shape}", argument="w")
        if self.kind == "squared":
            g = self.X.T @ (self.X @ w - self.y)
        else:
            margins = self._signed @ w
            weights = np.exp(-margins) if self.kind == "exponential" else expit(-margins)
            g = -(self._signed.T @ weights)
        return g / self.n_samples if self.reduction == "mean" else g

    def subset(self, indices) -> DataLoss:
        """The same loss on the samples `indices` (a mini-batch)."""
        idx = np.asarray(indices)
        if idx.ndim != 1 or idx.size == 0:
            raise ShapeError(
                f"`indices` must be a non-empty 1-D array; got shape {idx.shape}",
                argument="indices",
            )
        if idx.dtype.kind not in "iu" or idx.min() < 0 or idx.max() >= self.n_samples:
            raise InputError(
                f"`indices` must be integers in [0, {self.n_samples}); got {idx!r}",
                argument="indices",
            )
        return DataLoss(self.X[idx], self.y[idx], kind=self.kind, reduction=self.reduction)

    def __repr__(self) -> str:
        return f"{self.kind}(n={self.n_samples}, d={self.dim}, reduction={self.reduction!r})"


def squared(X, y, *, reduction: str = "mean") -> DataLoss:
    """Squared loss $\\frac{1}{2n}\\|Xw - y\\|^2$ (see `DataLoss`)."""
    return DataLoss(X, y, kind="squared", reduction=reduction)


def exponential(X, y=None, *, reduction: str = "mean") -> DataLoss:
    """Exponential loss $\\frac{1}{n}\\sum_n e^{-y_n \\langle x_n, w\\rangle}$ (see `DataLoss`)."""
    return DataLoss(X, y, kind="exponential", reduction=reduction)


def logistic(X, y=None, *, reduction: str = "mean") -> DataLoss:
    """Logistic loss $\\frac{1}{n}\\sum_n \\log(1 + e^{-y_n \\langle x_n, w\\rangle})$."""
    return DataLoss(X, y, kind="logistic", reduction=reduction)


def time_dependent(fn):
    """Mark `fn(w, t) -> float` as a time-dependent loss for the flows.

    Example:
        >>> import riemflow as rf
        >>> L = rf.losses.time_dependent(lambda w, t: (w[0] - t) ** 2)
        >>> L.time_dependent
        True
    """
    if not callable(fn):
        raise NotCallableError(f"`fn` must be callable (w, t) -> float; got {fn!r}", argument="fn")

    class _TimeDependent:
        time_dependent = True

        def __call__(self, w, t):
            return fn(w, t)

        def __repr__(self):
            return f"time_dependent({getattr(fn, '__name__', fn)!r})"

    return _TimeDependent()

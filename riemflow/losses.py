"""Losses `L: R^d -> R`, and the protocol riemflow's flows read from a loss.

Any autograd-differentiable callable `w: (d,) -> float` works as a loss in riemflow's
flows. A loss may offer more, and the flows use what it offers (the protocols below):

| member | protocol | used for |
|---|---|---|
| `gradient(w) -> (d,)` | `LossWithGradient` | `grad L` in closed form (no autograd trace) |
| `values(W) -> (T,)` | `BatchedLoss` | the loss along a whole trajectory in one call |
| `subset(indices)`, `n_samples` | `SubsampledLoss` | mini-batches of the stochastic descents |
| `time_dependent = True`, called as `L(w, t)` | `TimeDependentLoss` | losses that change in time |

The losses on data `(X, y)` implement the first three. With `n` samples, rows `x_n` of
`X: (n, d)` and margins `m_n = y_n <x_n, w>`:

- `squared(X, y)`:      $L(w) = \\frac{1}{2n} \\sum_n (\\langle x_n, w\\rangle - y_n)^2$
- `exponential(X, y)`:  $L(w) = \\frac{1}{n} \\sum_n e^{-m_n}$
- `logistic(X, y)`:     $L(w) = \\frac{1}{n} \\sum_n \\log(1 + e^{-m_n})$

`reduction="sum"` drops the `1/n`. A time-dependent loss `L(w, t)` is marked with
`time_dependent`.
"""

from __future__ import annotations

import warnings
from typing import Protocol, runtime_checkable

import autograd.numpy as anp
import numpy as np
from scipy.special import expit

from . import _autodiff
from ._validation import as_float_array, check_finite
from .errors import InputError, NonFiniteError, NotCallableError, ShapeError

__all__ = [
    "Loss",
    "LossWithGradient",
    "BatchedLoss",
    "SubsampledLoss",
    "TimeDependentLoss",
    "DataLoss",
    "SquaredLoss",
    "ExponentialLoss",
    "LogisticLoss",
    "squared",
    "exponential",
    "logistic",
    "time_dependent",
    "check_loss",
    "is_time_dependent",
    "at_time",
    "gradient",
    "gradient_function",
    "values",
]


# -- the protocol ------------------------------------------------------------------------
@runtime_checkable
class Loss(Protocol):
    """A loss: `L(w) -> float` for `w: (d,)`, differentiable by autograd."""

    def __call__(self, w): ...


@runtime_checkable
class LossWithGradient(Protocol):
    """A loss with a closed-form gradient `grad L(w): (d,)` (plain arrays, not traced)."""

    def gradient(self, w) -> np.ndarray: ...


@runtime_checkable
class BatchedLoss(Protocol):
    """A loss evaluated on every row of `W: (T, d)` at once: `(T,)`."""

    def values(self, W) -> np.ndarray: ...


@runtime_checkable
class SubsampledLoss(Protocol):
    """A loss that is a sum over `n_samples` samples, restricted by `subset(indices)`."""

    n_samples: int

    def subset(self, indices) -> Loss: ...


@runtime_checkable
class TimeDependentLoss(Protocol):
    """A loss `L(w, t)` that depends on time, marked `time_dependent = True`."""

    time_dependent: bool

    def __call__(self, w, t): ...


def check_loss(loss, w, t: float = 0.0, *, name: str = "loss") -> float:
    """Evaluate `loss` at `w: (d,)` (at time `t` if it depends on time) and check that it is
    a finite real scalar there; the flows call it at their start point.

    Returns:
        The loss value.

    Raises:
        NotCallableError: `loss` is not callable.
        ShapeError: the loss does not return a scalar (naming the shape it returned).
        NonFiniteError: the loss is NaN or infinite at `w`.

    Exceptions the loss raises itself pass through unchanged.

    Example:
        >>> import numpy as np, riemflow as rf
        >>> rf.losses.check_loss(lambda w: (w**2).sum(), np.array([1.0, 2.0]))
        5.0
    """
    if not callable(loss):
        raise NotCallableError(f"`{name}` must be callable w -> float; got {loss!r}", argument=name)
    value = at_time(loss, t)(np.asarray(w, dtype=np.float64))
    shape = np.shape(value)
    if int(np.prod(shape)) != 1 or len(shape) > 1:
        raise ShapeError(
            f"`{name}` must return a real scalar; it returned shape {shape} at "
            f"w={np.array2string(np.asarray(w), precision=4, threshold=8)}",
            argument=name,
        )
    try:
        value = float(np.reshape(value, ()))
    except (TypeError, ValueError) as exc:
        raise ShapeError(
            f"`{name}` must return a real scalar; it returned {type(value).__name__}",
            argument=name,
        ) from exc
    if not np.isfinite(value):
        raise NonFiniteError(
            f"`{name}` is not finite ({value!r}) at the start "
            f"w={np.array2string(np.asarray(w), precision=4, threshold=8)}",
            argument=name,
        )
    return value


def is_time_dependent(loss) -> bool:
    """Whether `loss` is marked as a time-dependent loss `L(w, t)`."""
    return bool(getattr(loss, "time_dependent", False))


def at_time(loss, t: float):
    """`w -> L(w)` at time `t` (the loss itself when it does not depend on time)."""
    if is_time_dependent(loss):
        return lambda w: loss(w, t)
    return loss


def gradient(loss, w) -> np.ndarray:
    """`grad L(w)`: `(d,)`; the loss's own closed-form `gradient` if it has one, else one
    autograd reverse pass through `L` (for a loss of `w` only: use `at_time` first)."""
    return gradient_function(loss)(w)


def gradient_function(loss):
    """`w (d,) -> grad L(w) (d,)`, decided once: the loss's closed-form `gradient` (as it
    is: plain arrays), else an autograd reverse pass. Flows call it at every step."""
    if isinstance(loss, LossWithGradient):
        return loss.gradient

    def autograd_gradient(w):
        w = np.asarray(w, dtype=np.float64)
        _, grad = _autodiff.gradient(lambda z: loss(z[0]), w[None, :], name="loss")
        return np.asarray(grad, dtype=np.float64)[0]

    return autograd_gradient


def values(loss, t, W) -> np.ndarray:
    """The loss at the rows of `W: (T, d)` at times `t: (T,)`: `(T,)` (one batched call
    for a `BatchedLoss` that does not depend on time)."""
    if isinstance(loss, BatchedLoss) and not is_time_dependent(loss):
        return np.asarray(loss.values(W), dtype=np.float64)
    return np.array([float(at_time(loss, tk)(wk)) for tk, wk in zip(t, W, strict=True)])


def euclidean_gradient(loss_of_w, w: np.ndarray) -> np.ndarray:
    """Deprecated alias of `gradient`."""
    warnings.warn(
        "riemflow.losses.euclidean_gradient is deprecated; use riemflow.losses.gradient",
        DeprecationWarning,
        stacklevel=2,
    )
    return gradient(loss_of_w, w)


# -- losses on data -------------------------------------------------------------------------
class DataLoss:
    """A loss on a data set `(X, y)`, `L(w) = sum_n phi(s_n(w))` (or the mean): callable
    `w: (d,) -> float`.

    The score `s = A w - b` is the residual `X w - y` (squared loss) or the margins
    `y_n <x_n, w>` (classification losses); each kind is a subclass that gives `phi` and
    its derivative. `DataLoss(X, y, kind=...)` builds the subclass of that kind.

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
    kind = ""
    _kinds: dict[str, type[DataLoss]] = {}

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if cls.kind:
            DataLoss._kinds[cls.kind] = cls

    def __new__(cls, X=None, y=None, *, kind: str | None = None, reduction: str = "mean"):
        if cls is DataLoss:
            if kind not in DataLoss._kinds:
                raise InputError(
                    f"`kind` must be one of {tuple(DataLoss._kinds)}; got {kind!r}",
                    argument="kind",
                )
            cls = DataLoss._kinds[kind]
        return super().__new__(cls)

    def __init__(self, X, y=None, *, kind: str | None = None, reduction: str = "mean"):
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
            if self.kind == "squared":
                raise InputError("`y` is required for the squared loss", argument="y")
            y = np.ones(X.shape[0])
        y = check_finite(as_float_array(y, "y"), "y")
        if y.shape != (X.shape[0],):
            raise ShapeError(
                f"`y` must have shape ({X.shape[0]},) to match X; got {y.shape}", argument="y"
            )
        self.X, self.y, self.reduction = X, y, reduction
        self._A, self._b = self._score_map(X, y)

    # the kind: s = A w - b and phi(s), phi'(s)
    @staticmethod
    def _score_map(X, y):
        raise NotImplementedError

    @staticmethod
    def _phi(s):
        raise NotImplementedError

    @staticmethod
    def _dphi(s):
        raise NotImplementedError

    @property
    def n_samples(self) -> int:
        """Number of samples `n`."""
        return self.X.shape[0]

    @property
    def dim(self) -> int:
        """Dimension `d` of `w`."""
        return self.X.shape[1]

    def _reduce(self, total):
        return total / self.n_samples if self.reduction == "mean" else total

    def __call__(self, w):
        """The loss at `w: (d,)` (a float, or an autograd box while traced)."""
        if anp.shape(w) != (self.dim,):
            raise ShapeError(
                f"loss expects w of shape ({self.dim},); got {anp.shape(w)}", argument="w"
            )
        return self._reduce(anp.sum(self._phi(anp.dot(self._A, w) - self._b)))

    def values(self, W) -> np.ndarray:
        """The loss at each row of `W: (T, d)`: `(T,)` (one matrix product for a whole
        trajectory)."""
        W = np.asarray(W, dtype=np.float64)
        if W.ndim != 2 or W.shape[1] != self.dim:
            raise ShapeError(f"`W` must have shape (T, {self.dim}); got {W.shape}", argument="W")
        return self._reduce(np.sum(self._phi(W @ self._A.T - self._b), axis=1))

    def gradient(self, w) -> np.ndarray:
        """`grad L(w) = A^T phi'(A w - b)`: `(d,)`, in closed form (no autograd trace; the
        flows use it), divided by `n` for `reduction="mean"`."""
        w = np.asarray(w, dtype=np.float64)
        if w.shape != (self.dim,):
            raise ShapeError(f"loss expects w of shape ({self.dim},); got {w.shape}", argument="w")
        return self._reduce(self._A.T @ self._dphi(self._A @ w - self._b))

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
        return type(self)(self.X[idx], self.y[idx], reduction=self.reduction)

    def __repr__(self) -> str:
        return f"{self.kind}(n={self.n_samples}, d={self.dim}, reduction={self.reduction!r})"


class SquaredLoss(DataLoss):
    """`phi(s) = s^2 / 2` of the residual `s = X w - y` (see `DataLoss`)."""

    kind = "squared"

    @staticmethod
    def _score_map(X, y):
        return X, y

    @staticmethod
    def _phi(s):
        return 0.5 * s * s

    @staticmethod
    def _dphi(s):
        return s


class _MarginLoss(DataLoss):
    """Classification losses of the margins `s = y_n <x_n, w>` (rows `y_n x_n`, `b = 0`)."""

    @staticmethod
    def _score_map(X, y):
        return X * y[:, None], np.zeros(X.shape[0])


class ExponentialLoss(_MarginLoss):
    """`phi(s) = e^{-s}` of the margins (see `DataLoss`)."""

    kind = "exponential"

    @staticmethod
    def _phi(s):
        return anp.exp(-s)

    @staticmethod
    def _dphi(s):
        return -np.exp(-s)


class LogisticLoss(_MarginLoss):
    """`phi(s) = log(1 + e^{-s})` of the margins, stable for large `|s|` (see `DataLoss`)."""

    kind = "logistic"

    @staticmethod
    def _phi(s):
        return anp.logaddexp(0.0, -s)

    @staticmethod
    def _dphi(s):
        return -expit(-s)


def squared(X, y, *, reduction: str = "mean") -> DataLoss:
    """Squared loss $\\frac{1}{2n}\\|Xw - y\\|^2$ (see `DataLoss`)."""
    return SquaredLoss(X, y, reduction=reduction)


def exponential(X, y=None, *, reduction: str = "mean") -> DataLoss:
    """Exponential loss $\\frac{1}{n}\\sum_n e^{-y_n \\langle x_n, w\\rangle}$ (see `DataLoss`)."""
    return ExponentialLoss(X, y, reduction=reduction)


def logistic(X, y=None, *, reduction: str = "mean") -> DataLoss:
    """Logistic loss $\\frac{1}{n}\\sum_n \\log(1 + e^{-y_n \\langle x_n, w\\rangle})$."""
    return LogisticLoss(X, y, reduction=reduction)


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

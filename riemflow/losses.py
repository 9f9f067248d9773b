"""Losses `L: R^d -> R`, and the protocol riemflow's flows read from a loss.

Any autograd-differentiable callable `w: (d,) -> float` works as a loss in riemflow's
flows. A loss may offer more, and the flows use what it offers (the protocols below):

| member | protocol | used for |
|---|---|---|
| `gradient(w) -> (d,)` | `LossWithGradient` | `grad L` in closed form (no autograd trace) |
| `values(W) -> (T,)` | `BatchedLoss` | the loss along a whole trajectory in one call |
| `subset(indices)`, `n_samples` | `SubsampledLoss` | mini-batches of the stochastic descents |
| `time_dependent = True`, called as `L(w, t)` | `TimeDependentLoss` | losses that change in time |
| `switch_times`, `piece(t)` | (optional) | losses that jump: the flows integrate between jumps |

The losses on data `(X, y)` implement the first three. With `n` samples, rows `x_n` of
`X: (n, d)` and margins `m_n = y_n <x_n, w>`:

- `squared(X, y)`:      $L(w) = \\frac{1}{2n} \\sum_n (\\langle x_n, w\\rangle - y_n)^2$
- `exponential(X, y)`:  $L(w) = \\frac{1}{n} \\sum_n e^{-m_n}$
- `logistic(X, y)`:     $L(w) = \\frac{1}{n} \\sum_n \\log(1 + e^{-m_n})$

`reduction="sum"` drops the `1/n`. A time-dependent loss `L(w, t)` is marked with
`time_dependent`; one that jumps at known times (a mini-batch schedule) declares them
(`time_dependent(fn, switch_times=...)`, or `piecewise(losses, switch_times)`), and the
flows then integrate from one jump to the next with a fixed loss, carrying their state
across (no step straddles a jump, and no dual solve is repeated there).
"""

from __future__ import annotations

import warnings
from typing import Protocol, runtime_checkable

import autograd.numpy as anp
import numpy as np
from scipy.special import expit

from . import _autodiff
from ._validation import as_float_array, check_finite, check_magnitude
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
    "piecewise",
    "switch_times",
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

    Examples:
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
    """`w -> L(w)` at time `t` (the loss itself when it does not depend on time; the active
    piece, with its closed-form gradient, for a `piecewise` loss)."""
    if is_time_dependent(loss):
        piece = getattr(loss, "piece", None)
        if callable(piece):
            return piece(t)
        return lambda w: loss(w, t)
    return loss


def switch_times(loss) -> np.ndarray:
    """The times where a time-dependent `loss` jumps, as declared (sorted, `(k,)`; empty
    when none are declared or the loss does not depend on time).

    Examples:
        >>> import numpy as np, riemflow as rf
        >>> full = rf.losses.squared(np.eye(2), np.ones(2))
        >>> rf.losses.switch_times(rf.losses.piecewise([full, full], [0.5])).tolist()
        [0.5]
        >>> rf.losses.switch_times(full).size
        0
    """
    if not is_time_dependent(loss):
        return np.zeros(0)
    times = getattr(loss, "switch_times", None)
    return np.zeros(0) if times is None else np.sort(np.asarray(times, dtype=np.float64))


def _as_switch_times(times, name: str = "switch_times") -> np.ndarray:
    arr = check_finite(as_float_array(times, name), name).ravel()
    if np.any(np.diff(arr) <= 0):
        raise InputError(f"`{name}` must be strictly increasing; got {arr.tolist()}", argument=name)
    return arr


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

    Examples:
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
        X = check_magnitude(check_finite(as_float_array(X, "X"), "X"), "X")
        if X.ndim != 2 or X.shape[0] == 0:
            raise ShapeError(
                f"`X` must be a non-empty (n, d) matrix; got shape {X.shape}", argument="X"
            )
        if y is None:
            if self.kind == "squared":
                raise InputError("`y` is required for the squared loss", argument="y")
            y = np.ones(X.shape[0])
        y = check_magnitude(check_finite(as_float_array(y, "y"), "y"), "y")
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


def time_dependent(fn=None, *, switch_times=None):
    """Mark `fn(w, t) -> float` as a time-dependent loss for the flows.

    Args:
        fn: the loss `L(w, t)`.
        switch_times: the times where `L` jumps (e.g. a mini-batch schedule), if known:
            the flows then integrate from one to the next with the loss of that interval
            (its value just after the start), carrying their state across, instead of
            resolving each jump by rejected steps. Can also be used as a decorator
            factory: `@time_dependent(switch_times=...)`.

    Raises:
        NotCallableError: `fn` is not callable.
        InputError: `switch_times` not strictly increasing.

    Examples:
        >>> import riemflow as rf
        >>> L = rf.losses.time_dependent(lambda w, t: (w[0] - t) ** 2)
        >>> L.time_dependent
        True
        >>> step = rf.losses.time_dependent(
        ...     lambda w, t: w[0] * (t >= 1), switch_times=[1.0]
        ... )
        >>> step.switch_times
        array([1.])
    """
    if fn is None:
        return lambda f: time_dependent(f, switch_times=switch_times)
    if not callable(fn):
        raise NotCallableError(f"`fn` must be callable (w, t) -> float; got {fn!r}", argument="fn")
    times = None if switch_times is None else _as_switch_times(switch_times)

    class _TimeDependent:
        time_dependent = True

        def __call__(self, w, t):
            return fn(w, t)

        def __repr__(self):
            return f"time_dependent({getattr(fn, '__name__', fn)!r})"

    loss = _TimeDependent()
    loss.switch_times = times
    return loss


class Piecewise:
    """A loss that switches between fixed losses at given times (see `piecewise`).

    Attributes:
        pieces: the losses, in order.
        switch_times: `(k,)` the times where the next piece takes over.
    """

    time_dependent = True

    def __init__(self, pieces, switch_times):
        self.pieces = list(pieces)
        self.switch_times = _as_switch_times(switch_times)
        if not self.pieces or self.switch_times.size != len(self.pieces) - 1:
            raise InputError(
                f"`switch_times` must hold one time fewer than `losses` ({len(self.pieces)} "
                f"losses); got {self.switch_times.size}",
                argument="switch_times",
            )
        for k, piece in enumerate(self.pieces):
            if not callable(piece) or is_time_dependent(piece):
                raise NotCallableError(
                    f"`losses[{k}]` must be a loss w -> float (not time-dependent); got {piece!r}",
                    argument="losses",
                )

    def piece(self, t: float):
        """The loss active at time `t` (`losses[k]` on `[t_k, t_{k+1})`)."""
        return self.pieces[int(np.searchsorted(self.switch_times, t, side="right"))]

    def __call__(self, w, t):
        return self.piece(t)(w)

    def __repr__(self) -> str:
        return f"piecewise({len(self.pieces)} losses, switching at {self.switch_times.tolist()})"


def piecewise(losses, switch_times) -> Piecewise:
    """The time-dependent loss `L(w, t) = losses[k](w)` for `t` in `[t_k, t_{k+1})`, with
    `t_0 = -inf` and `t_k = switch_times[k - 1]`: a mini-batch schedule, for instance.

    The flows integrate it from one switch to the next with that piece's own (closed-form)
    gradient, carrying their state across the switches.

    Args:
        losses: `k + 1` losses of `w` only.
        switch_times: `k` strictly increasing times.

    Raises:
        InputError: mismatched lengths, times not increasing.
        NotCallableError: a piece that is not a loss of `w`.

    Examples:
        >>> import numpy as np, riemflow as rf
        >>> full = rf.losses.squared(np.eye(2), np.array([1.0, -1.0]))
        >>> L = rf.losses.piecewise([full.subset([0]), full.subset([1])], [0.5])
        >>> float(L(np.zeros(2), 0.2)), float(L(np.array([0.0, -1.0]), 0.7))
        (0.5, 0.0)
    """
    return Piecewise(losses, switch_times)

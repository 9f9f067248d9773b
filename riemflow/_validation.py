"""Input checks shared by every public function (private).

Each check converts to float64 and raises a typed `riemflow.errors` exception that names
the argument and echoes what was received.
"""

from __future__ import annotations

import numbers

import numpy as np

from .errors import InputError, NonFiniteError, ShapeError


def _describe(value) -> str:
    shape = getattr(value, "shape", None)
    if shape is not None:
        return f"an array of shape {tuple(shape)} and dtype {getattr(value, 'dtype', '?')}"
    return f"{value!r} of type {type(value).__name__}"


def as_float_array(value, name: str) -> np.ndarray:
    """`value` as a float64 array, or `InputError` if it is not numeric."""
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InputError(
            f"`{name}` must be a real numeric array; got {_describe(value)} ({exc})",
            argument=name,
        ) from exc
    return arr


def check_finite(arr: np.ndarray, name: str) -> np.ndarray:
    """Raise `NonFiniteError` naming `name` if `arr` has a NaN or an Inf."""
    if not np.all(np.isfinite(arr)):
        bad = np.argwhere(~np.isfinite(arr))
        first = tuple(int(i) for i in bad[0])
        raise NonFiniteError(
            f"`{name}` contains {len(bad)} non-finite value(s) (NaN or Inf); "
            f"the first is {arr[first]!r} at index {first}",
            argument=name,
        )
    return arr


#: largest magnitude of an entry of a point or of data: products of two such entries (squares,
#: Gram matrices, `X^T X`) stay finite in float64 (largest ~1.8e308)
LARGEST_ENTRY = 1e150


def check_magnitude(arr: np.ndarray, name: str) -> np.ndarray:
    """Raise `InputError` naming `name` if an entry of `arr` exceeds `LARGEST_ENTRY` in
    magnitude (the products the package forms would overflow float64)."""
    if arr.size:
        largest = float(np.max(np.abs(arr)))
        if largest > LARGEST_ENTRY:
            raise InputError(
                f"`{name}` has entries up to {largest:.3e} in magnitude: products of two "
                f"such entries overflow float64 (entries must be at most {LARGEST_ENTRY:.0e}); "
                "rescale the problem",
                argument=name,
            )
    return arr


def as_point(value, name: str, dim: int | None = None) -> np.ndarray:
    """A finite float64 point of shape `(dim,)`, entries at most `LARGEST_ENTRY`."""
    arr = as_float_array(value, name)
    if arr.ndim != 1:
        raise ShapeError(
            f"`{name}` must be a 1-D point of shape ({dim if dim is not None else 'D'},); "
            f"got shape {arr.shape}",
            argument=name,
        )
    if dim is not None and arr.shape[0] != dim:
        raise ShapeError(f"`{name}` must have shape ({dim},); got shape {arr.shape}", argument=name)
    return check_magnitude(check_finite(arr, name), name)


def as_points(value, name: str, dim: int | None = None) -> tuple[np.ndarray, bool]:
    """Points of shape `(D,)` or `(B, D)` as a finite `(B, D)` array.

    Returns:
        The `(B, D)` array and whether the input was a single point (so the caller can
        strip the batch axis from its result).
    """
    arr = as_float_array(value, name)
    if arr.ndim not in (1, 2):
        raise ShapeError(
            f"`{name}` must be a point (D,) or a batch of points (B, D); got shape {arr.shape}",
            argument=name,
        )
    single = arr.ndim == 1
    batch = arr[None, :] if single else arr
    if dim is not None and batch.shape[1] != dim:
        raise ShapeError(
            f"`{name}` must have last dimension {dim}; got shape {arr.shape}", argument=name
        )
    if batch.shape[0] == 0:
        raise ShapeError(f"`{name}` is an empty batch (shape {arr.shape})", argument=name)
    return check_magnitude(check_finite(batch, name), name), single


def as_positive(value, name: str, *, allow_zero: bool = False) -> float:
    """A finite positive (or non-negative) real scalar."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise InputError(f"`{name}` must be a real number; got {_describe(value)}", argument=name)
    value = float(value)
    if not np.isfinite(value):
        raise NonFiniteError(f"`{name}` must be finite; got {value!r}", argument=name)
    if value < 0 or (value == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise InputError(f"`{name}` must be {bound}; got {value!r}", argument=name)
    return value


def as_real_at_least(value, name: str, minimum: float) -> float:
    """A real scalar (not a bool) `>= minimum`, as a float; NaN is refused."""
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Real)
        or not float(value) >= minimum
    ):
        raise InputError(
            f"`{name}` must be a real number >= {minimum:g}; got {value!r}", argument=name
        )
    return float(value)


def as_tolerance(value, name: str, size: int) -> float | np.ndarray:
    """A positive scalar, or positive finite per-component values `(size,)` (solve_ivp's
    `atol` accepts both)."""
    if np.ndim(value) == 0:
        return as_positive(value, name)
    arr = check_finite(as_float_array(value, name), name)
    if arr.shape != (size,):
        raise ShapeError(
            f"`{name}` must be a scalar or have shape ({size},); got {arr.shape}", argument=name
        )
    if np.any(arr <= 0):
        raise InputError(f"`{name}` must be > 0; got min {arr.min()!r}", argument=name)
    return arr


def as_positive_int(value, name: str) -> int:
    """A positive Python int."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise InputError(
            f"`{name}` must be a positive integer; got {_describe(value)}", argument=name
        )
    return int(value)


def as_time_span(t_span, name: str = "t_span") -> tuple[float, float]:
    """A finite `(t0, t1)` with `t1 > t0`."""
    arr = as_float_array(t_span, name)
    if arr.shape != (2,):
        raise ShapeError(f"`{name}` must be a pair (t0, t1); got shape {arr.shape}", argument=name)
    check_finite(arr, name)
    t0, t1 = float(arr[0]), float(arr[1])
    if not t1 > t0:
        raise InputError(f"`{name}` must satisfy t1 > t0; got ({t0!r}, {t1!r})", argument=name)
    return t0, t1


def as_time_grid(t_eval, t_span: tuple[float, float], name: str = "t_eval") -> np.ndarray | None:
    """`None`, or a strictly increasing finite 1-D grid inside `t_span`."""
    if t_eval is None:
        return None
    arr = as_float_array(t_eval, name)
    if arr.ndim != 1 or arr.size == 0:
        raise ShapeError(
            f"`{name}` must be a non-empty 1-D array; got shape {arr.shape}", argument=name
        )
    check_finite(arr, name)
    if np.any(np.diff(arr) <= 0):
        raise InputError(f"`{name}` must be strictly increasing", argument=name)
    t0, t1 = t_span
    if arr[0] < t0 or arr[-1] > t1:
        raise InputError(
            f"`{name}` must lie inside t_span=({t0}, {t1}); got [{arr[0]}, {arr[-1]}]",
            argument=name,
        )
    return arr


def readonly_copy(arr) -> np.ndarray | None:
    """A float64 copy of `arr` that cannot be written to (`None` stays `None`)."""
    if arr is None:
        return None
    arr = np.array(arr, dtype=np.float64, copy=True)
    arr.flags.writeable = False
    return arr


def as_matrix(X, name: str = "X") -> np.ndarray:
    """A finite, non-empty `(n, d)` float64 matrix (errors name it `name`)."""
    X = check_finite(as_float_array(X, name), name)
    if X.ndim != 2 or X.size == 0:
        raise ShapeError(
            f"`{name}` must be a non-empty (n, d) matrix; got {X.shape}", argument=name
        )
    return X


def as_system(X, y, names: tuple[str, str] = ("X", "y")) -> tuple[np.ndarray, np.ndarray]:
    """A linear system's matrix `(n, d)` and right-hand side `(n,)`, validated (finite,
    shapes); errors name the arguments as `names`."""
    nx, ny = names
    X = as_matrix(X, nx)
    y = check_finite(as_float_array(y, ny), ny)
    if y.shape != (X.shape[0],):
        raise ShapeError(f"`{ny}` must have shape ({X.shape[0]},); got {y.shape}", argument=ny)
    return X, y

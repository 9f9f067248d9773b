"""The `Trajectory` record shared by every flow and descent in riemflow."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._validation import readonly_copy

__all__ = ["Trajectory"]


@dataclass(frozen=True)
class Trajectory:
    """A trajectory of a flow or a descent, time-major (arrays are read-only).

    Attributes:
        t: times `(T,)` (for a descent with step `lr`, `t_k = k * lr`).
        w: model parameters `w(t)`: `(T, d)`.
        loss: loss values `L(w(t))` (at time `t` for a time-dependent loss): `(T,)`.
        x: points on the manifold (gradient side) `(T, *S)` with `S` the space's point
            shape (`(T, D)` for vector points), else `None`.
        mu: dual variables (mirror side) `(T, d)`, else `None`.
        constraint_drift: largest Euclidean distance from the manifold of the states the
            integrator (or the descent's update rule) produced, measured at the recorded
            times before any retraction (0 on open sets; for an embedded manifold, how well
            the method stayed on it).
        method: the integrator or update rule used.
        n_evaluations: number of gradient evaluations spent.
        message: the solver's closing message.
        n_retractions: how many times the state was retracted onto the manifold because
            its drift exceeded the method's `retract_tol` (the recorded `x` are then within
            `retract_tol` of the manifold).
    """

    t: np.ndarray
    w: np.ndarray
    loss: np.ndarray
    x: np.ndarray | None = None
    mu: np.ndarray | None = None
    constraint_drift: float = 0.0
    method: str = ""
    n_evaluations: int = 0
    message: str = ""
    n_retractions: int = 0

    def __post_init__(self):
        for name in ("t", "w", "loss", "x", "mu"):
            object.__setattr__(self, name, readonly_copy(getattr(self, name)))

    def __len__(self) -> int:
        return self.t.shape[0]

    def plot(self, label: str | None = None, **kwargs):
        """`w(t)` and the loss (see `riemflow.plotting.trajectories`): a matplotlib figure."""
        from .plotting import trajectories

        return trajectories([self], None if label is None else [label], **kwargs)

    @property
    def w_final(self) -> np.ndarray:
        """`w` at the last recorded time: `(d,)`."""
        return self.w[-1]

    def __repr__(self) -> str:
        return (
            f"Trajectory(T={len(self)}, t=[{self.t[0]:g}, {self.t[-1]:g}], d={self.w.shape[1]}, "
            f"loss {self.loss[0]:.3e} -> {self.loss[-1]:.3e}, method={self.method!r})"
        )

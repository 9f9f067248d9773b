"""The `Embedding` type: a map `F: Omega -> R^D` and its isometry defect against `hess R`."""

from __future__ import annotations

import numpy as np

from .. import _autodiff

__all__ = ["Embedding"]


class Embedding:
    """A map `F: Omega -> R^D` (`w: (d,)` or `(B, d)`), autograd-differentiable.

    Attributes:
        dim: `d`; ambient_dim: `D`; method: how it was built.
    """

    def __init__(self, fn, dim: int, ambient_dim: int, method: str):
        self._fn = fn
        self.dim, self.ambient_dim, self.method = int(dim), int(ambient_dim), method

    def __call__(self, w):
        """`F(w)`: `(D,)` or `(B, D)` (traceable by autograd)."""
        return self._fn(w)

    def jacobian(self, w) -> np.ndarray:
        """`dF(w)`: `(D, d)` or `(B, D, d)`."""
        arr = np.asarray(w, dtype=np.float64)
        wb = arr[None, :] if arr.ndim == 1 else arr
        jac = np.asarray(_autodiff.jacobian(lambda z: self._fn(z), wb, name="F"))
        return jac[0] if arr.ndim == 1 else jac

    def metric(self, w) -> np.ndarray:
        """The pullback metric `dF^T dF`: `(d, d)` or `(B, d, d)`."""
        J = self.jacobian(w)
        return np.einsum("...ai,...aj->...ij", J, J)

    def defect(self, R, points) -> float:
        """Isometry defect `max |dF^T dF - hess R| / max |hess R|` over `points` `(B, d)`."""
        H = np.asarray(R.hessian(points)).reshape(-1, self.dim, self.dim)
        g = self.metric(points).reshape(-1, self.dim, self.dim)
        return float(np.max(np.abs(g - H)) / np.max(np.abs(H)))

    def __repr__(self) -> str:
        return f"Embedding({self.method}, d={self.dim}, D={self.ambient_dim})"

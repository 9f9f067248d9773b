"""Helpers shared by the potential modules (private)."""

from __future__ import annotations

import autograd.numpy as anp
import numpy as np

__all__ = ["diag_hessian"]


def diag_hessian(diag_fn):
    """A Hessian `(..., d, d)` from its diagonal `(..., d)`."""

    def hessian(w):
        dvals = diag_fn(w)
        return dvals[..., :, None] * np.eye(anp.shape(w)[-1])

    return hessian

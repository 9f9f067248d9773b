"""Exact isometric embeddings of flat Hessian metrics into `R^d` (Concepts: the converse).

- `separable_embedding`: `R = sum_i r_i(w_i)` (diagonal Hessian depending on `w_i` only):
  `F_i(w) = int_{c_i}^{w_i} sqrt(r_i''(s)) ds` by adaptive quadrature, `D = d`, and
  `dF = diag(sqrt(r_i''))` exactly.
- `flat_embedding`: any flat Hessian metric: a parallel orthonormal coframe `theta` is
  transported from a base point `c` along the straight line to `w` (`dE/ds = -Gamma(c', E)`)
  and integrated, `F(w) = int_0^1 theta(gamma'(s)) ds` (path independent because the metric
  is flat and the coframe parallel); `D = d`, `dF = theta`, and
  `d^2 F_a / dw_k dw_i = Gamma^j_{ki} dF_a / dw_j`.
"""

from __future__ import annotations

import autograd.numpy as anp
import numpy as np
from autograd.extend import defjvp, defvjp, primitive
from scipy.integrate import quad, solve_ivp

from .. import _ode
from ..errors import SolverError
from ..hessian_metric import christoffel_symbols
from ..legendre import Legendre
from .base import Embedding

__all__ = ["separable_embedding", "flat_embedding"]


def separable_embedding(R: Legendre, center: np.ndarray) -> Embedding:
    """`F_i(w) = int_{c_i}^{w_i} sqrt(h_i(s)) ds` for `hess R = diag(h_i(w_i))` (exact).

    `F` is an autograd primitive whose derivative is the exact `diag(sqrt(h_i(w_i)))`,
    itself traced through `R`'s Hessian, so second derivatives are exact too.
    """
    d = R.dim
    c = np.asarray(center, dtype=np.float64)

    def diag_sqrt(w):  # traceable: sqrt(h_i(w_i)) with the other coordinates at c
        H = R.traced.hessian(w)
        return anp.sqrt(anp.diagonal(H, axis1=-2, axis2=-1))

    def integral(i: int, wi: float) -> float:
        def h(s):
            point = c.copy()
            point[i] = s
            return float(np.sqrt(np.asarray(R.hessian(point))[i, i]))

        value, _ = quad(h, c[i], wi, epsabs=0.0, epsrel=1e-13, limit=200)
        return value

    @primitive
    def F(w):
        arr = np.asarray(w, dtype=np.float64)
        rows = arr[None, :] if arr.ndim == 1 else arr
        out = np.array([[integral(i, row[i]) for i in range(d)] for row in rows])
        return out[0] if arr.ndim == 1 else out

    defvjp(F, lambda ans, w: lambda g: g * diag_sqrt(w))
    defjvp(F, lambda g, ans, w: g * diag_sqrt(w))
    return Embedding(F, d, d, "separable: F_i = int sqrt(r_i'')")


def flat_embedding(R: Legendre, center: np.ndarray, *, rtol: float = 1e-12) -> Embedding:
    """Isometric coordinates of a flat Hessian metric, by a parallel orthonormal coframe.

    At the base point `c` the coframe is `theta = g(c)^{1/2}`. Along `gamma(s) = c + s (w - c)`
    the frame `E` (columns orthonormal, `E^T g E = I`) is transported,
    `dE/ds = -Gamma(gamma)[gamma', E]`, and `F(w) = int_0^1 E^T g gamma' ds`. Then
    `dF(w) = E(w)^T g(w)` exactly (up to the ODE tolerance `rtol`), and, the coframe being
    parallel, `d(dF)_{ai} / dw_k = Gamma^j_{ki} dF_{aj}`: both are autograd primitives.
    """
    d = R.dim
    c = np.asarray(center, dtype=np.float64)
    gc = np.asarray(R.hessian(c))
    evals, evecs = np.linalg.eigh(gc)
    E0 = evecs @ np.diag(evals**-0.5) @ evecs.T  # g(c)^{-1/2}: E0^T g E0 = I

    def transport(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """`(F, dF)` at a batch `(B, d)`: one ODE for all the straight lines from `c`
        (one batched Hessian / third-derivative evaluation per step)."""
        B = points.shape[0]
        v = points - c

        def rhs(s, y):
            state = y.reshape(B, d * d + d)
            p = c + s * v
            E = state[:, : d * d].reshape(B, d, d)
            gamma = christoffel_symbols(R, p).reshape(B, d, d, d)
            dE = -np.einsum("bkij,bi,bja->bka", gamma, v, E)
            g = np.asarray(R.hessian(p)).reshape(B, d, d)
            dF = np.einsum("bka,bkl,bl->ba", E, g, v)
            return np.concatenate([dE.reshape(B, -1), dF], axis=1).ravel()

        y0 = np.tile(np.concatenate([E0.ravel(), np.zeros(d)]), B)
        budget = _ode.Budget(
            "the parallel transport of the coframe",
            max_evaluations=_ode.MAX_EVALUATIONS,
            time_limit=_ode.TIME_LIMIT,
        )
        sol = solve_ivp(
            _ode.budgeted(rhs, budget), (0.0, 1.0), y0, method="DOP853", rtol=rtol, atol=1e-14
        )
        if sol.status != 0 or not np.all(np.isfinite(sol.y[:, -1])):
            raise SolverError(
                f"the parallel transport of the coframe failed: {sol.message}",
                t_reached=float(sol.t[-1]),
                reason=str(sol.message),
            )
        end = sol.y[:, -1].reshape(B, d * d + d)
        E = end[:, : d * d].reshape(B, d, d)
        g = np.asarray(R.hessian(points)).reshape(B, d, d)
        return end[:, d * d :], np.einsum("bka,bkl->bal", E, g)

    def rows(w):
        arr = np.asarray(w, dtype=np.float64)
        return (arr[None, :], True) if arr.ndim == 1 else (arr, False)

    @primitive
    def coframe(w):  # dF(w): (D, d) = (d, d)
        wb, single = rows(w)
        out = transport(wb)[1]
        return out[0] if single else out

    def coframe_vjp(ans, w):
        wb, single = rows(w)
        gam = christoffel_symbols(R, wb).reshape(-1, d, d, d)  # (B, j, k, i) as Gamma^j_{ki}
        theta = ans[None] if single else ans  # (B, a, j)

        def pull(g):  # d(dF_{ai})/dw_k = Gamma^j_{ki} dF_{aj}
            gb = g[None] if single else g
            out = np.einsum("bai,bjki,baj->bk", gb, gam, theta)
            return out[0] if single else out

        return pull

    defvjp(coframe, coframe_vjp)

    @primitive
    def F(w):
        wb, single = rows(w)
        out = transport(wb)[0]
        return out[0] if single else out

    def F_vjp(ans, w):
        return lambda g: anp.einsum("...a,...ai->...i", g, coframe(w))

    defvjp(F, F_vjp)
    return Embedding(F, d, d, "flat: parallel orthonormal coframe")

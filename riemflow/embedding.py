"""Isometric embeddings `F: (Omega, hess R) -> R^D` of Hessian metrics (MATH.md section 5).

An `Embedding` is a map `F` with `dF(w)^T dF(w) = hess R(w)`, written so that autograd
differentiates it (the pullback metric and Lie brackets of the converse parametrization
need first and second derivatives of `F`). Three constructions:

- `separable_embedding`: `R = sum_i r_i(w_i)` (diagonal Hessian depending on `w_i` only):
  `F_i(w) = int_{c_i}^{w_i} sqrt(r_i''(s)) ds` by adaptive quadrature, `D = d`, and
  `dF = diag(sqrt(r_i''))` exactly.
- `flat_embedding`: any flat Hessian metric: a parallel orthonormal coframe `theta` is
  transported from a base point `c` along the straight line to `w` (`dE/ds = -Gamma(c', E)`)
  and integrated, `F(w) = int_0^1 theta(gamma'(s)) ds` (path independent because the metric
  is flat and the coframe parallel); `D = d`, `dF = theta`, and
  `d^2 F_a / dw_k dw_i = Gamma^j_{ki} dF_a / dw_j`.
- `ChebyshevEmbedding`: curved metrics, `D > d`: `F` as a tensor Chebyshev series on a box,
  fitted by collocation (see `riemflow.converse`).
"""

from __future__ import annotations

import autograd.numpy as anp
import numpy as np
from autograd.extend import defjvp, defvjp, primitive
from scipy.integrate import quad, solve_ivp

from .legendre import Legendre

__all__ = ["Embedding", "ChebyshevEmbedding", "separable_embedding", "flat_embedding"]


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
        from . import _autodiff

        arr = np.asarray(w, dtype=np.float64)
        wb = arr[None, :] if arr.ndim == 1 else arr
        jac = np.asarray(_autodiff.jacobian(lambda z: self._fn(z), wb, name="F"))
        return jac[0] if arr.ndim == 1 else jac

    def metric(self, w) -> np.ndarray:
        """The pullback metric `dF^T dF`: `(d, d)` or `(B, d, d)`."""
        J = self.jacobian(w)
        return np.einsum("...ai,...aj->...ij", J, J)

    def defect(self, R: Legendre, points) -> float:
        """Isometry defect `max |dF^T dF - hess R| / max |hess R|` over `points` `(B, d)`."""
        H = np.asarray(R.hessian(points)).reshape(-1, self.dim, self.dim)
        g = self.metric(points).reshape(-1, self.dim, self.dim)
        return float(np.max(np.abs(g - H)) / np.max(np.abs(H)))

    def __repr__(self) -> str:
        return f"Embedding({self.method}, d={self.dim}, D={self.ambient_dim})"


# -- flat metrics ------------------------------------------------------------------------------
def separable_embedding(R: Legendre, center: np.ndarray) -> Embedding:
    """`F_i(w) = int_{c_i}^{w_i} sqrt(h_i(s)) ds` for `hess R = diag(h_i(w_i))` (exact).

    `F` is an autograd primitive whose derivative is the exact `diag(sqrt(h_i(w_i)))`,
    itself traced through `R`'s Hessian, so second derivatives are exact too.
    """
    d = R.dim
    c = np.asarray(center, dtype=np.float64)

    def diag_sqrt(w):  # traceable: sqrt(h_i(w_i)) with the other coordinates at c
        H = R._hessians_traced(w)
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


def _christoffel(R: Legendre, w: np.ndarray) -> np.ndarray:
    """`Gamma^k_{ij} = (1/2) g^{kl} T_{lij}` of the Hessian metric at `w`: `(..., d, d, d)`."""
    T = np.asarray(R.third_derivative(w))
    return 0.5 * np.einsum("...kl,...lij->...kij", np.linalg.inv(np.asarray(R.hessian(w))), T)


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
            gamma = _christoffel(R, p).reshape(B, d, d, d)
            dE = -np.einsum("bkij,bi,bja->bka", gamma, v, E)
            g = np.asarray(R.hessian(p)).reshape(B, d, d)
            dF = np.einsum("bka,bkl,bl->ba", E, g, v)
            return np.concatenate([dE.reshape(B, -1), dF], axis=1).ravel()

        y0 = np.tile(np.concatenate([E0.ravel(), np.zeros(d)]), B)
        sol = solve_ivp(rhs, (0.0, 1.0), y0, method="DOP853", rtol=rtol, atol=1e-14)
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
        gam = _christoffel(R, wb).reshape(-1, d, d, d)  # (B, j, k, i) as Gamma^j_{ki}
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


# -- Chebyshev series on a box -------------------------------------------------------------------
def chebyshev_nodes(m: int) -> np.ndarray:
    """`m` Chebyshev points of the first kind in `(-1, 1)`, increasing."""
    return np.cos((2 * np.arange(m)[::-1] + 1) * np.pi / (2 * m))


def chebyshev_basis(x: np.ndarray, degree: int) -> tuple[np.ndarray, np.ndarray]:
    """`T_k(x)` and `T_k'(x)` for `k <= degree`: two `(len(x), degree + 1)` arrays."""
    x = np.asarray(x, dtype=np.float64)
    T = np.zeros((x.size, degree + 1))
    dT = np.zeros_like(T)
    T[:, 0] = 1.0
    if degree >= 1:
        T[:, 1] = x
        dT[:, 1] = 1.0
    for k in range(1, degree):
        T[:, k + 1] = 2 * x * T[:, k] - T[:, k - 1]
        dT[:, k + 1] = 2 * T[:, k] + 2 * x * dT[:, k] - dT[:, k - 1]
    return T, dT


class ChebyshevEmbedding(Embedding):
    """`F_a(w) = sum_alpha C[alpha, a] T_alpha1(xi_1) ... T_alphad(xi_d)` on a box.

    `xi = 2 (w - lower) / (upper - lower) - 1`; coefficients `C: (degree + 1,)*d + (D,)`.
    Evaluation uses the three-term recurrence with `autograd.numpy`, so every derivative is
    exact.
    """

    def __init__(self, coefficients: np.ndarray, lower: np.ndarray, upper: np.ndarray):
        self.coefficients = np.asarray(coefficients, dtype=np.float64)
        self.lower = np.asarray(lower, dtype=np.float64)
        self.upper = np.asarray(upper, dtype=np.float64)
        d = self.lower.size
        self.degree = self.coefficients.shape[0] - 1
        super().__init__(
            self._evaluate, d, self.coefficients.shape[-1], f"Chebyshev degree {self.degree}"
        )

    def jacobian(self, w) -> np.ndarray:
        """`dF(w)`: `(D, d)` or `(B, D, d)`, from the derivative recurrence (no tracing)."""
        arr = np.asarray(w, dtype=np.float64)
        wb = arr[None, :] if arr.ndim == 1 else arr
        scale = 2.0 / (self.upper - self.lower)
        xi = (wb - self.lower) * scale - 1.0
        bases = [chebyshev_basis(xi[:, i], self.degree) for i in range(self.dim)]
        letters = "ijklmnop"[: self.dim]
        spec = ",".join(f"b{c}" for c in letters) + f",{letters}a->ba"
        columns = []
        for i in range(self.dim):
            factors = [bases[k][1] * scale[k] if k == i else bases[k][0] for k in range(self.dim)]
            columns.append(np.einsum(spec, *factors, self.coefficients, optimize=True))
        jac = np.stack(columns, axis=-1)  # (B, D, d)
        return jac[0] if arr.ndim == 1 else jac

    def _basis(self, x):
        terms = [anp.ones(anp.shape(x)), x]
        for _ in range(1, self.degree):
            terms.append(2.0 * x * terms[-1] - terms[-2])
        return anp.stack(terms[: self.degree + 1], axis=-1)  # (..., N + 1)

    def _evaluate(self, w):
        xi = 2.0 * (w - self.lower) / (self.upper - self.lower) - 1.0
        batch = anp.shape(w)[:-1]
        n, d = self.degree + 1, self.dim
        # contract one Chebyshev axis of C with T(xi_i) per coordinate:
        # batch + (n,)*(d - i) + (D,) after step i
        out = anp.tensordot(self._basis(xi[..., 0]), self.coefficients, axes=([-1], [0]))
        for i in range(1, d):
            Ti = anp.reshape(self._basis(xi[..., i]), batch + (n,) + (1,) * (d - i))
            out = anp.sum(Ti * out, axis=len(batch))
        return out

"""Numerical isometric embeddings of curved Hessian metrics: Chebyshev collocation.

`F` is a tensor Chebyshev series on a box in `R^D`, `D > d`, fitted by collocation of
`dF^T dF = hess R` on an oversampled Chebyshev grid with damped Gauss-Newton
(Levenberg-Marquardt) steps using the exact structured Jacobian
`d r_ij / d C = B_i (x) dF_j + dF_i (x) B_j`, continuation from the flat embedding of the
metric at the center, and degree refinement until the isometry defect measured on fresh
points (not the nodes) is below the tolerance ([Concepts: the converse via Nash
embedding](concepts.md#the-converse-via-nash-embedding)).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import autograd.numpy as anp
import numpy as np
from scipy.linalg import cho_factor, cho_solve
from threadpoolctl import threadpool_limits

from .._ode import Budget
from ..domains import Box, Domain
from ..errors import ConvergenceError, InputError
from ..legendre import Legendre
from .base import Embedding

__all__ = [
    "ChebyshevEmbedding",
    "Collocation",
    "DegreeStep",
    "chebyshev_basis",
    "chebyshev_nodes",
    "curved_embedding",
    "lm_solve",
]


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


@dataclass(frozen=True)
class DegreeStep:
    """One degree of the curved construction.

    Attributes:
        degree: Chebyshev degree per coordinate.
        n_nodes: collocation nodes per coordinate.
        node_residual: `max |dF^T dF - hess R| / max |hess R|` at the nodes.
        defect: the same on fresh random points of the domain (the figure of merit).
        iterations: Levenberg-Marquardt iterations at this degree.
        seconds: wall time of this degree.
    """

    degree: int
    n_nodes: int
    node_residual: float
    defect: float
    iterations: int
    seconds: float


class Collocation:
    """Nodes, basis derivative matrices and target metric of one degree."""

    def __init__(self, R: Legendre, lower, upper, degree: int, n_nodes: int):
        d = R.dim
        self.d, self.degree, self.n_nodes = d, degree, n_nodes
        x = chebyshev_nodes(n_nodes)
        T, dT = chebyshev_basis(x, degree)
        scale = 2.0 / (upper - lower)
        grids = np.meshgrid(
            *[lower[i] + (x + 1) * (upper[i] - lower[i]) / 2 for i in range(d)], indexing="ij"
        )
        self.points = np.stack([g.ravel() for g in grids], axis=-1)  # (P, d)
        # B_i = T (x) ... (x) T' (x) ... (x) T (derivative in slot i), rows = nodes
        self.B = []
        for i in range(d):
            mat = np.ones((1, 1))
            for k in range(d):
                factor = dT * scale[k] if k == i else T
                mat = np.kron(mat, factor)
            self.B.append(mat)
        H = np.asarray(R.hessian(self.points)).reshape(-1, d, d)
        self.pairs = [(i, j) for i in range(d) for j in range(i, d)]
        self.target = np.stack([H[:, i, j] for i, j in self.pairs])  # (pairs, P)


def lm_solve(
    col: Collocation,
    C: np.ndarray,
    target: np.ndarray,
    scale: float,
    *,
    tol: float,
    max_iter: int,
    budget: Budget | None = None,
) -> tuple[np.ndarray, float, int]:
    """Damped Gauss-Newton on `r_ij = (dF_i . dF_j - H_ij) / scale` at the nodes.

    `C: (n_basis, D)`. The Jacobian is formed from its structure,
    `d r_ij / d C[:, a] = (B_i * dF_j[:, a] + dF_i[:, a] * B_j) / scale`, and the step solves
    `(J^T J + lambda I) delta = -J^T r` by a Cholesky factorization and two triangular
    solves (`scipy.linalg.cho_factor` / `cho_solve`). Returns `(C, max |r|, iterations)`.

    BLAS runs on one thread here (`threadpoolctl`): the systems are a few hundred unknowns,
    too small to gain from a second thread, and on a loaded machine a spinning second BLAS
    thread slows each small factorization by an order of magnitude.
    """
    with threadpool_limits(limits=LM_BLAS_THREADS, user_api="blas"):
        return _lm_iterations(col, C, target, scale, tol=tol, max_iter=max_iter, budget=budget)


#: BLAS threads of the Levenberg-Marquardt solves (see `lm_solve`)
LM_BLAS_THREADS = 1


def _lm_iterations(col, C, target, scale, *, tol, max_iter, budget):
    nb, D = C.shape
    n = nb * D

    def residual(Cm):
        dF = [B @ Cm for B in col.B]
        r = np.stack([np.sum(dF[i] * dF[j], axis=1) for i, j in col.pairs]) - target
        return r / scale, dF

    r, dF = residual(C)
    cost = float(np.sum(r * r))
    lam = 1e-6
    it = 0
    maxima = [float(np.max(np.abs(r)))]
    diagonal = np.diag_indices(n)
    for it in range(1, max_iter + 1):  # noqa: B007 - `it` is returned
        if budget is not None:
            budget.spend()
        if maxima[-1] <= tol:
            break
        if len(maxima) >= 4 and maxima[-1] > 0.7 * maxima[-4]:
            break  # stagnation: this degree cannot represent a better solution
        JTJ = np.zeros((n, n))
        JTr = np.zeros(n)
        for (i, j), rp in zip(col.pairs, r, strict=True):
            Jp = col.B[i][:, :, None] * dF[j][:, None, :] + col.B[j][:, :, None] * dF[i][:, None, :]
            Jp = Jp.reshape(Jp.shape[0], n) / scale
            JTJ += Jp.T @ Jp
            JTr += Jp.T @ rp
        base = JTJ[diagonal].copy()
        mean_diag = float(np.mean(base))
        accepted = False
        for _ in range(30):
            JTJ[diagonal] = base + lam * mean_diag
            try:
                factor = cho_factor(JTJ, check_finite=False)
            except np.linalg.LinAlgError:
                lam *= 10.0
                continue
            step = -cho_solve(factor, JTr, check_finite=False).reshape(nb, D)
            r_new, dF_new = residual(C + step)
            cost_new = float(np.sum(r_new * r_new))
            if cost_new < cost:
                C, r, dF, cost = C + step, r_new, dF_new, cost_new
                lam = max(lam / 5.0, 1e-15)
                accepted = True
                maxima.append(float(np.max(np.abs(r))))
                break
            lam *= 4.0
        if not accepted:
            break
    return C, float(np.max(np.abs(r))), it


def curved_embedding(
    R: Legendre,
    region: Domain,
    *,
    tol: float,
    ambient_dim: int,
    degrees,
    oversampling: float,
    n_check: int,
    seed,
    max_iter: int,
    time_limit: float | None = None,
) -> tuple[ChebyshevEmbedding, float, tuple[DegreeStep, ...]]:
    if not isinstance(region, Box):
        raise InputError(
            "the curved construction needs a box domain [(lo, hi), ...] (a Chebyshev grid)",
            argument="domain",
        )
    d, D = R.dim, ambient_dim
    lower, upper = region.lower, region.upper
    center = 0.5 * (lower + upper)
    Hc = np.asarray(R.hessian(center))
    evals, evecs = np.linalg.eigh(Hc)
    root = evecs @ np.diag(np.sqrt(evals)) @ evecs.T
    rng = np.random.default_rng(seed)
    check = region.sample(rng, n_check)
    H_check = np.asarray(R.hessian(check)).reshape(-1, d, d)
    scale = float(np.max(np.abs(H_check)))

    # free initial map, degree 2: the flat embedding of hess R(center) in the first d
    # coordinates, small generic quadratics in the others (so the Jacobian in the extra
    # directions is not zero and bending is possible)
    half = 0.5 * (upper - lower)
    coeffs = np.zeros((3,) * d + (D,))
    for i in range(d):
        index = [0] * d
        index[i] = 1
        coeffs[tuple(index)][:d] = root[:, i] * half[i]  # w - c = half * xi = half * T_1
    bump = 0.05 * np.sqrt(np.max(evals)) * np.max(half)
    for a in range(d, D):
        for i in range(d):
            for j in range(i, d):
                index = [0] * d
                index[i] += 1
                index[j] += 1
                if max(index) <= 2:
                    coeffs[tuple(index)][a] = bump * rng.standard_normal()
    history: list[DegreeStep] = []
    budget = Budget(
        f"the isometric embedding of {R.name}",
        max_evaluations=max_iter * (len(degrees) + 3),
        time_limit=time_limit,
    )
    embedding = None
    previous_degree = 2
    for degree in degrees:
        start = time.perf_counter()
        grown = np.zeros((degree + 1,) * d + (D,))
        keep = tuple(slice(0, min(previous_degree, degree) + 1) for _ in range(d))
        grown[keep] = coeffs[keep]
        coeffs = grown
        n_nodes = max(degree + 2, int(np.ceil(oversampling * (degree + 1))))
        col = Collocation(R, lower, upper, degree, n_nodes)
        C = coeffs.reshape(-1, D)
        total = 0
        if not history:  # continuation from the metric at the center to hess R
            center_target = np.stack([np.full(col.points.shape[0], Hc[i, j]) for i, j in col.pairs])
            for t in (0.25, 0.5, 0.75):
                C, _, its = lm_solve(
                    col,
                    C,
                    (1 - t) * center_target + t * col.target,
                    scale,
                    tol=1e-6,
                    max_iter=max_iter,
                    budget=budget,
                )
                total += its
        C, node_residual, its = lm_solve(
            col, C, col.target, scale, tol=0.1 * tol, max_iter=max_iter, budget=budget
        )
        total += its
        coeffs = C.reshape((degree + 1,) * d + (D,))
        previous_degree = degree
        embedding = ChebyshevEmbedding(coeffs, lower, upper)
        g = embedding.metric(check)
        defect = float(np.max(np.abs(g - H_check)) / scale)
        history.append(
            DegreeStep(degree, n_nodes, node_residual, defect, total, time.perf_counter() - start)
        )
        if defect <= tol:
            return embedding, defect, tuple(history)
    table = ", ".join(f"degree {h.degree}: {h.defect:.2e}" for h in history)
    raise ConvergenceError(
        f"isometric embedding of {R.name} into R^{D}: defect {history[-1].defect:.3e} above "
        f"tol={tol:g} after degrees {[h.degree for h in history]} ({table}); raise "
        "`max_degree`, `ambient_dim` or `tol`",
        residual=history[-1].defect,
        iterations=sum(h.iterations for h in history),
    )

"""Spiral embeddings of curved metrics on a box: Nash's spirals, made exact.

The map ([Concepts: the converse via Nash
embedding](concepts.md#the-converse-via-nash-embedding)) is a linear part and one planar
spiral per direction `nu_k` of a fixed frame:

    F(w) = (S (w - c), F_1(w), ..., F_K(w)),
    F_k(w) = (a_k(w) / lam_k) (cos(lam_k psi_k(w)), sin(lam_k psi_k(w))),
    psi_k(w) = nu_k . (w - c).

Differentiating, the cross terms of `F_k` cancel, so for any amplitudes `a_k > 0` and
frequencies `lam_k > 0`, exactly,

    dF^T dF = S^T S + sum_k a_k^2 nu_k nu_k^T + grad a_k grad a_k^T / lam_k^2.

`F` is therefore isometric for `g` when the amplitudes solve the fixed point

    sum_k a_k^2 nu_k nu_k^T = g - S^T S - sum_k grad a_k grad a_k^T / lam_k^2,       (*)

a pointwise problem once the last sum is known. With `T = g(c)^{1/2}` and `nu_k = T mu_k`
(`mu_k` a fixed set of unit vectors, `frame`), the right-hand side `Q` is written as a
positive combination of the `nu_k nu_k^T` by the smooth entropic choice
`a_k^2 = exp(mu_k^T Z mu_k)` (the combination that maximizes the entropy of the weights;
`Z` symmetric, one small Newton solve per point, `entropic_weights`). The frequencies are
chosen so that the last sum of (*) stays below `spiral_margin` times the smallest
eigenvalue of `Q`; then iterating (*) contracts (its correction is of order
`spiral_margin`), and a few iterations reach round-off. The linear part (`S^T S` a fraction
`linear_fraction` of the smallest whitened eigenvalue of `g`) makes `F` injective with
`|F(w) - F(w')| >= |S (w - w')|`, and gives the nearest-point map its start
(`initial_coordinates`).

Discretization: the amplitudes are tensor Chebyshev interpolants on the Lobatto nodes of
the box (the faces and corners are nodes); (*) holds at the nodes to round-off and the
defect between them is the interpolation error of the amplitudes, which falls
geometrically with the degree for analytic metrics. There is no large linear system: a
degree costs a few passes over the nodes. Each degree is judged by the same honest
defect as the collocation route (`chebyshev.honest_defect`: `dF^T dF` is a polynomial of
degree `2 N` per variable, bounded between the points of a fine Lobatto grid). `D = d + 2K`
is larger than the collocation route's `d (d + 1) / 2 + 1`: `K = d^2` directions (the
coordinate axes and the diagonals `(e_i +- e_j) / sqrt 2`), more when the whitened metric
is too anisotropic on the box for them (`frame`, levels 2-4).
"""

from __future__ import annotations

import itertools
import math
import os
import time
from dataclasses import asdict, dataclass

import autograd.numpy as anp
import numpy as np
from numpy.polynomial import chebyshev as npcheb

from .._ode import Budget
from .._validation import as_positive, as_positive_int
from ..domains import Box, lobatto_points
from ..errors import ConvergenceError, FrameError, InputError, NotPositiveDefiniteError
from ._files import read_npz, write_npz
from .base import Embedding
from .chebyshev import (
    MEMORY_LIMIT,
    ChebyshevEmbedding,
    CostEstimate,
    DefectCheck,
    DegreeStep,
    ProgressEvent,
    admit_degree,
    as_progress,
    chebyshev_basis,
    fingerprint_points,
    flop_rate,
    honest_defect,
    kron_apply,
    next_degree,
)

__all__ = [
    "SpiralEmbedding",
    "SpiralResult",
    "entropic_weights",
    "estimate_spiral_cost",
    "frame",
    "spiral_embedding",
]

#: largest frame level (`frame`)
MAX_FRAME_LEVEL = 4
#: bytes of the intermediate arrays of one batch of `SpiralEmbedding.metric`
METRIC_BATCH_BYTES = 2**28
#: flops spent on each random point set of the defect check (`spiral_embedding`)
SCATTERED_FLOPS = 2e10


# -- the frame ------------------------------------------------------------------------------------
def frame(d: int, level: int = 1) -> np.ndarray:
    """The unit directions `mu_k` `(K, d)` of the spirals, in whitened coordinates.

    Level 1: the coordinate axes and the diagonals `(e_i +- e_j) / sqrt 2` (`K = d^2`); the
    positive combinations of their `mu mu^T` hold every whitened metric close enough to the
    identity (diagonally dominant ones). Each level adds directions (duplicates dropped),
    so that more anisotropic metrics are positive combinations: 2, the vectors with every
    entry `+-1`; 3, every vector with entries in `{-1, 0, 1}`; 4, also those with entries in
    `{-2, ..., 2}` on two coordinates.

    Args:
        d: dimension.
        level: 1 to 4.

    Returns:
        `(K, d)` unit vectors, the first nonzero entry of each positive.

    Raises:
        InputError: `d` or `level` not a positive integer, or `level` above 4.

    Examples:
        >>> from riemflow.embedding.spiral import frame
        >>> [frame(3, level).shape[0] for level in (1, 2, 3, 4)]
        [9, 13, 13, 25]
    """
    d = as_positive_int(d, "d")
    level = as_positive_int(level, "level")
    if level > MAX_FRAME_LEVEL:
        raise InputError(f"`level` must be 1 to {MAX_FRAME_LEVEL}; got {level}", argument="level")
    vectors = [np.eye(d)[i] for i in range(d)]
    for i, j in itertools.combinations(range(d), 2):
        for s in (1.0, -1.0):
            v = np.zeros(d)
            v[i], v[j] = 1.0, s
            vectors.append(v)
    if level >= 2:
        for signs in itertools.product((1.0, -1.0), repeat=d - 1):
            vectors.append(np.array((1.0,) + signs))
    if level >= 3:
        vectors.extend(np.array(v, dtype=float) for v in itertools.product((-1, 0, 1), repeat=d))
    if level >= 4:
        for i, j in itertools.combinations(range(d), 2):
            for a, b in itertools.product(range(-2, 3), repeat=2):
                v = np.zeros(d)
                v[i], v[j] = a, b
                vectors.append(v)
    out: list[np.ndarray] = []
    for v in vectors:
        n = np.linalg.norm(v)
        if n == 0:
            continue
        u = v / n
        u = u * np.sign(u[np.flatnonzero(np.abs(u) > 1e-12)[0]])
        if all(abs(float(u @ w)) < 1 - 1e-12 for w in out):
            out.append(u)
    return np.array(out)


# -- the pointwise decomposition ------------------------------------------------------------------
class _Infeasible(Exception):
    """`Q` is not a positive combination of the frame's `mu mu^T` at some points."""

    def __init__(self, count: int, worst):
        super().__init__(f"{count} points")
        self.count, self.worst = count, worst


def _symmetric_parts(mu: np.ndarray):
    d = mu.shape[1]
    iu = np.triu_indices(d)
    P = mu[:, iu[0]] * mu[:, iu[1]]  # (K, p): entries of mu mu^T
    weight = np.where(iu[0] == iu[1], 1.0, 2.0)
    return iu, P, P * weight  # <Z, mu mu^T> = (P * weight) @ z


def entropic_weights(
    Q: np.ndarray,
    mu: np.ndarray,
    *,
    start: np.ndarray | None = None,
    rtol: float = 1e-14,
    max_iter: int = 60,
    chunk: int = 20_000,
) -> tuple[np.ndarray, np.ndarray]:
    """Weights `c > 0` with `sum_k c_k mu_k mu_k^T = Q` at every point, of largest entropy.

    `c_k = exp(mu_k^T Z mu_k)`, `Z` symmetric: the minimizer of `sum_k c_k (log c_k - 1)`
    under the constraint, found by damped Newton steps on its concave dual, point by point
    (batched). Smooth in `Q`; exists when `Q` lies inside the cone of the `mu mu^T`.

    Args:
        Q: `(B, d, d)` symmetric positive definite matrices.
        mu: `(K, d)` directions whose `mu mu^T` span the symmetric matrices.
        start: optional `(B, p)` upper-triangular entries of `Z` to start from.
        rtol: stop when `max |sum c mu mu^T - Q| <= rtol trace Q` at every point.
        max_iter: Newton steps.
        chunk: points per batch.

    Returns:
        `c` `(B, K)` and the entries of `Z` `(B, p)` (a start for a nearby `Q`).

    Raises:
        ConvergenceError: some `Q` is not inside the cone (the weights would be infinite);
            `.residual` is the worst relative constraint error.

    Examples:
        >>> import numpy as np
        >>> from riemflow.embedding.spiral import entropic_weights, frame
        >>> mu = frame(2)
        >>> c, _ = entropic_weights(np.array([[[2.0, 0.5], [0.5, 1.0]]]), mu)
        >>> bool(np.all(c > 0)), np.einsum("bk,ki,kj->bij", c, mu, mu).round(12).tolist()
        (True, [[[2.0, 0.5], [0.5, 1.0]]])
    """
    try:
        return _entropic(Q, mu, start, rtol, max_iter, chunk)[:2]
    except _Infeasible as exc:
        raise ConvergenceError(
            f"{exc.count} of {len(Q)} matrices are not positive combinations of the "
            f"{len(mu)} directions' mu mu^T (worst relative constraint error {exc.worst:.2e}): "
            "use more directions",
            residual=exc.worst,
        ) from None


def _entropic(Q, mu, start, rtol, max_iter, chunk):
    Q = np.asarray(Q, dtype=np.float64)
    iu, P, M = _symmetric_parts(mu)
    diag = iu[0] == iu[1]
    c_all = np.empty((Q.shape[0], mu.shape[0]))
    z_all = np.empty((Q.shape[0], P.shape[1]))
    bad, worst, steps = 0, 0.0, 0
    for lo in range(0, Q.shape[0], chunk):
        q = Q[lo : lo + chunk][:, iu[0], iu[1]]
        wq = q * np.where(diag, 1.0, 2.0)
        tr = np.sum(q[:, diag], axis=1)
        if start is None:
            z = np.zeros_like(q)
            z[:, diag] = np.log(tr / mu.shape[0])[:, None]
        else:
            z = np.array(start[lo : lo + chunk], dtype=np.float64)

        def dual(z, wq=wq):
            e = np.exp(np.clip(z @ M.T, -700.0, 700.0))
            return e, np.sum(e, axis=1) - np.sum(z * wq, axis=1)

        c, f = dual(z)
        for step_count in range(max_iter + 1):
            err = np.max(np.abs(c @ P - q), axis=1) / tr
            if np.all(err <= rtol) or step_count == max_iter:
                break
            grad = c @ M - wq
            hess = np.einsum("bk,kp,kq->bpq", c, M, M)
            hess += (1e-14 * np.trace(hess, axis1=1, axis2=2))[:, None, None] * np.eye(len(q[0]))
            if np.max(np.abs(z)) > 600:  # weights of e^600: outside the cone
                break
            step = np.linalg.solve(hess, grad[..., None])[..., 0]
            slope = np.sum(step * grad, axis=1)
            t = np.ones(len(z))
            for _ in range(40):
                c1, f1 = dual(z - t[:, None] * step)
                short = ~(f1 <= f - 1e-4 * t * slope + 1e-15 * np.abs(f))
                if not short.any():
                    break
                t[short] *= 0.5
            z = z - t[:, None] * step
            c, f = dual(z)
        steps = max(steps, step_count)
        err = np.max(np.abs(c @ P - q), axis=1) / tr
        fail = ~(err <= max(rtol, 1e-11))
        if fail.any():
            bad += int(fail.sum())
            worst = max(worst, float(np.nanmax(np.where(np.isfinite(err), err, np.inf))))
        c_all[lo : lo + chunk], z_all[lo : lo + chunk] = c, z
    if bad:
        raise _Infeasible(bad, worst)
    return c_all, z_all, steps


# -- the map --------------------------------------------------------------------------------------
class SpiralEmbedding(Embedding):
    """`F(w) = (S (w - c), (a_k(w) / lam_k) (cos, sin)(lam_k nu_k . (w - c)))` (see the
    module docstring); `D = d + 2 K`, coordinates ordered `(linear, cosines, sines)`.

    Args:
        center: `c` `(d,)`.
        linear: `S` `(d, d)`, invertible.
        directions: `nu_k` `(K, d)`.
        frequencies: `lam_k` `(K,)`.
        amplitude: a `ChebyshevEmbedding` with the `K` amplitudes as its outputs.

    Attributes:
        degree, lower, upper: of the amplitudes' Chebyshev series; center, linear,
        directions, frequencies, amplitude: as given.

    Examples:
        >>> import numpy as np
        >>> from riemflow.embedding import ChebyshevEmbedding
        >>> from riemflow.embedding.spiral import SpiralEmbedding
        >>> A = np.zeros((3, 1)); A[0, 0], A[1, 0] = 1.0, 0.2  # a(w) = 1 + 0.2 w
        >>> a = ChebyshevEmbedding(A, [-1], [1])
        >>> F = SpiralEmbedding([0.0], [[1.0]], [[1.0]], [5.0], a)
        >>> w = np.array([0.3])
        >>> F.metric(w).round(12).tolist()  # 1 + a^2 + (a'/lam)^2 = 1 + 1.06^2 + 0.04^2
        [[2.1252]]
        >>> round(float(F.jacobian(w)[:, 0] @ F.jacobian(w)[:, 0]), 12)  # dF^T dF
        2.1252
    """

    def __init__(self, center, linear, directions, frequencies, amplitude: ChebyshevEmbedding):
        self.center = np.asarray(center, dtype=np.float64).reshape(-1)
        self.linear = np.asarray(linear, dtype=np.float64)
        self.directions = np.asarray(directions, dtype=np.float64)
        self.frequencies = np.asarray(frequencies, dtype=np.float64).reshape(-1)
        self.amplitude = amplitude
        d, K = self.center.size, self.frequencies.size
        self.degree = amplitude.degree
        self.lower, self.upper = amplitude.lower, amplitude.upper
        C = amplitude.coefficients
        half = 0.5 * (self.upper - self.lower)
        parts = []
        for i in range(d):  # the gradient's series, padded back to the full degree
            dC = npcheb.chebder(C, axis=i) / half[i]
            pad = [(0, 0)] * C.ndim
            pad[i] = (0, 1)
            parts.append(np.pad(dC, pad))
        self._gradient = ChebyshevEmbedding(
            np.concatenate(parts, axis=-1), self.lower, self.upper
        )  # outputs ordered (i, k)
        self._solve_linear = np.linalg.inv(self.linear)
        super().__init__(
            self._evaluate,
            d,
            d + 2 * K,
            f"spirals: {K} directions, amplitudes of Chebyshev degree {self.degree}",
        )

    def _phases(self, w):
        return anp.dot(w - self.center, self.directions.T) * self.frequencies

    def _evaluate(self, w):
        a = self.amplitude(w) / self.frequencies
        phase = self._phases(w)
        lin = anp.dot(w - self.center, self.linear.T)
        return anp.concatenate([lin, a * anp.cos(phase), a * anp.sin(phase)], axis=-1)

    def _grad_amplitude(self, w):
        g = self._gradient(w)
        K = self.frequencies.size
        return anp.swapaxes(anp.reshape(g, anp.shape(g)[:-1] + (self.dim, K)), -1, -2)

    def jacobian_traced(self, w):
        """`dF(w)` `(..., D, d)` in closed form, written with `autograd.numpy` (so the
        pullback metric and its derivatives, e.g. Lie brackets, are exact)."""
        a = self.amplitude(w)[..., None]
        ga = self._grad_amplitude(w) / self.frequencies[:, None]
        phase = self._phases(w)
        cos, sin = anp.cos(phase)[..., None], anp.sin(phase)[..., None]
        rows_cos = ga * cos - a * sin * self.directions
        rows_sin = ga * sin + a * cos * self.directions
        lin = self.linear + anp.zeros(anp.shape(w)[:-1] + self.linear.shape)
        return anp.concatenate([lin, rows_cos, rows_sin], axis=-2)

    def jacobian(self, w) -> np.ndarray:
        """`dF(w)`: `(D, d)` or `(B, D, d)` (closed form)."""
        return np.asarray(self.jacobian_traced(np.asarray(w, dtype=np.float64)))

    def metric(self, w) -> np.ndarray:
        """`dF^T dF = S^T S + sum_k a_k^2 nu_k nu_k^T + grad a_k grad a_k^T / lam_k^2`."""
        arr = np.asarray(w, dtype=np.float64)
        wb = np.atleast_2d(arr)
        K = self.frequencies.size
        # the series are contracted one axis at a time: (rows, n^(d-1), K d) intermediates
        per_row = 8 * (self.degree + 1) ** (self.dim - 1) * K * self.dim
        rows = max(1, int(METRIC_BATCH_BYTES // per_row))
        parts = []
        for lo in range(0, len(wb), rows):
            chunk = wb[lo : lo + rows]
            a = self.amplitude.values(chunk)
            ga = self._gradient.values(chunk).reshape(len(chunk), self.dim, K).transpose(0, 2, 1)
            parts.append(self._assemble(a, ga))
        g = np.concatenate(parts) if parts else np.zeros((0, self.dim, self.dim))
        return g[0] if arr.ndim == 1 else g

    def _assemble(self, a, ga):
        scaled = ga / self.frequencies[:, None]
        return (
            self.linear.T @ self.linear
            + np.einsum("bk,ki,kj->bij", a * a, self.directions, self.directions)
            + np.einsum("bki,bkj->bij", scaled, scaled)
        )

    def tensor_metric(self, values, derivatives) -> np.ndarray:
        """`dF^T dF` on a tensor grid `(B, d, d)` (row-major), from the one-dimensional
        basis matrices `values[k] = T(x_k)`, `derivatives[k] = T'(x_k)` of each axis (the
        interface of `chebyshev.honest_defect`)."""
        d, C = self.dim, self.amplitude.coefficients
        K = C.shape[-1]
        half = 0.5 * (self.upper - self.lower)
        a = kron_apply(values, C).reshape(-1, K)
        ga = np.stack(
            [
                kron_apply([derivatives[k] if k == i else values[k] for k in range(d)], C).reshape(
                    -1, K
                )
                / half[i]
                for i in range(d)
            ],
            axis=-1,
        )
        return self._assemble(a, ga)

    def initial_coordinates(self, X) -> np.ndarray:
        """`c + S^{-1} X_linear`: exact on `M`, the start of the nearest-point map off it."""
        X = np.atleast_2d(np.asarray(X, dtype=np.float64))
        return self.center + X[:, : self.dim] @ self._solve_linear.T

    def to_arrays(self) -> dict:
        """The map as arrays (for `save`), read back by `SpiralEmbedding.from_arrays`."""
        return {
            "spiral_center": self.center,
            "spiral_linear": self.linear,
            "spiral_directions": self.directions,
            "spiral_frequencies": self.frequencies,
            "coefficients": self.amplitude.coefficients,
            "lower": self.lower,
            "upper": self.upper,
        }

    @classmethod
    def from_arrays(cls, arrays) -> SpiralEmbedding:
        """The map saved by `to_arrays`."""
        return cls(
            arrays["spiral_center"],
            arrays["spiral_linear"],
            arrays["spiral_directions"],
            arrays["spiral_frequencies"],
            ChebyshevEmbedding(arrays["coefficients"], arrays["lower"], arrays["upper"]),
        )


# -- cost -----------------------------------------------------------------------------------------
def estimate_spiral_cost(
    d: int,
    n_directions: int,
    degree: int,
    *,
    iterations: int = 12,
    newton_steps: int = 4,
    max_grid_points: int = 2_000_000,
    chunk: int = 20_000,
    rate: float | None = None,
) -> CostEstimate:
    """Unknowns, memory and time of one degree of the spiral construction.

    Model: `n^d` nodes (`n = degree + 1`), `K` amplitudes each; `iterations` fixed-point
    passes of `newton_steps` Newton steps per point (`2 K p^2 + p^3 / 3` flops each,
    `p = d (d + 1) / 2`) and a gradient (`2 K d n` flops per node); the honest check on
    `min((8 degree + 1)^d, max_grid_points)` grid points (`2 K (d + 1) n` flops each for the
    amplitudes, `4 K d^2` for the metric, `500 d^2` for the Hessian of `R`).
    Memory: the node fields (metric, weights, gradients: `n^d (3 d^2 + K (d + 3) + 2 p)`
    numbers, three copies) and a batch of Newton matrices. Time: at the measured
    `chebyshev.flop_rate`, times 10 (small batched operations and the Hessian evaluations
    run far below it; measured 9 s at `d = 3`, degree 18, and 37 s at `d = 4`, degree 11,
    against 7 s and 17 s predicted on a 2-core machine); `spiral_embedding` recalibrates
    it on each degree.

    Args:
        d: dimension.
        n_directions: `K`.
        degree: Chebyshev degree of the amplitudes.
        iterations: fixed-point passes assumed.
        newton_steps: Newton steps per point and pass assumed.
        max_grid_points: the check's grid cap.
        chunk: points per Newton batch.
        rate: flop/s (default `flop_rate()`).

    Returns:
        A `CostEstimate` (`unknowns`: amplitude values; `residuals`: metric entries at
        the nodes; `direct` is True: there is no linear system beyond `p x p`).

    Examples:
        >>> from riemflow.embedding.spiral import estimate_spiral_cost
        >>> e = estimate_spiral_cost(4, 24, 10, rate=1e9)
        >>> e.unknowns, e.ambient_dim, e.memory_bytes < 2**30
        (351384, 52, True)
    """
    n, K = degree + 1, int(n_directions)
    p = d * (d + 1) // 2
    nodes = n**d
    grid = min((8 * degree + 1) ** d, max_grid_points) + 40_000
    per_node = iterations * (newton_steps * (2 * K * p * p + p**3 // 3) + 2 * K * d * n)
    flops = nodes * per_node + grid * (2 * K * (d + 1) * n + 4 * K * d * d + 500 * d * d)
    memory = 8 * 3 * nodes * (3 * d * d + K * (d + 3) + 2 * p) + 8 * min(nodes, chunk) * (
        K * p + 2 * p * p
    )
    rate = flop_rate() if rate is None else rate
    return CostEstimate(
        d, d + 2 * K, degree, n, nodes * K, nodes * p, int(memory), 10.0 * flops / rate, True
    )


# -- the construction -----------------------------------------------------------------------------
@dataclass(frozen=True)
class SpiralResult:
    """What `spiral_embedding` returns.

    Attributes:
        embedding: the `SpiralEmbedding`.
        check: its `DefectCheck` on the closed box.
        history: one `DegreeStep` per degree (`iterations`: fixed-point passes;
            `inner_iterations`: Newton steps summed over the passes).
        frame_level: the level of `frame` used.
        estimate: the `CostEstimate` of the last degree.
        seconds: wall time.
    """

    embedding: SpiralEmbedding
    check: DefectCheck
    history: tuple
    frame_level: int
    estimate: CostEstimate | None
    seconds: float


class _Nodes:
    """The Lobatto grid of one degree: points, the metric there, and differentiation."""

    def __init__(self, metric, lower, upper, degree: int):
        d = lower.size
        self.degree, self.d = degree, d
        x = lobatto_points(degree + 1)
        B0, B1 = chebyshev_basis(x, degree)
        self.to_coefficients = np.linalg.inv(B0)
        half = 0.5 * (upper - lower)
        self.differentiation = [B1 @ self.to_coefficients / half[i] for i in range(d)]
        axes = [0.5 * (lower[i] + upper[i]) + half[i] * x for i in range(d)]
        self.points = np.stack(np.meshgrid(*axes, indexing="ij"), -1).reshape(-1, d)
        self.shape = (degree + 1,) * d
        self.H = np.asarray(metric.hessian(self.points), dtype=np.float64).reshape(-1, d, d)

    def gradient(self, values: np.ndarray) -> np.ndarray:
        """`(B, K)` node values of interpolants -> their gradients at the nodes `(B, K, d)`."""
        K = values.shape[-1]
        A = values.reshape(self.shape + (K,))
        return np.stack(
            [
                np.moveaxis(np.tensordot(Dm, A, axes=([1], [i])), 0, i).reshape(-1, K)
                for i, Dm in enumerate(self.differentiation)
            ],
            axis=-1,
        )

    def coefficients(self, values: np.ndarray) -> np.ndarray:
        K = values.shape[-1]
        return kron_apply([self.to_coefficients] * self.d, values.reshape(self.shape + (K,)))


def _amplitudes(
    nodes: _Nodes,
    Hw: np.ndarray,
    Tinv: np.ndarray,
    b: float,
    q_min: float,
    mu: np.ndarray,
    *,
    spiral_margin: float,
    max_passes: int,
    budget: Budget,
):
    """Solve (*) at the nodes for the whitened metric `Hw = T^-1 g T^-1` there, whose
    smallest eigenvalue less `b` is `q_min`: `(a (B, K), frequencies, passes, newton steps,
    residual)`."""
    d = nodes.d
    base = Hw - b * np.eye(d)
    scale = float(np.max(np.abs(Hw)))
    frequencies = None
    for _attempt in range(6):
        correction = np.zeros_like(base)
        z, history, steps = None, [], 0
        for passes in range(1, max_passes + 1):
            budget.spend()
            c, z, newton = _entropic(base - correction, mu, z, 1e-14, 60, 20_000)
            steps += newton
            a = np.sqrt(c)
            ga = np.einsum("bki,ij->bkj", nodes.gradient(a), Tinv)  # whitened gradients
            if frequencies is None:
                size = np.max(np.linalg.norm(ga, axis=-1), axis=0)
                # a constant amplitude needs no particular frequency: at least one radian
                # of phase per unit of psi_k
                frequencies = np.maximum(size * math.sqrt(len(mu) / (spiral_margin * q_min)), 1.0)
            scaled = ga / frequencies[:, None]
            new = np.einsum("bki,bkj->bij", scaled, scaled)
            change = float(np.max(np.abs(new - correction))) / scale
            correction = new
            history.append(change)
            if change <= 1e-15 or (passes >= 3 and change <= 1e-12 and change >= 0.5 * history[-2]):
                break  # round-off reached
            if passes >= 4 and change > 0.7 * history[-2] and change > 1e-10:
                break  # not contracting
        if history[-1] <= 1e-10:
            g = b * np.eye(d) + np.einsum("bk,ki,kj->bij", c, mu, mu) + correction
            residual = float(np.max(np.abs(g - Hw))) / scale
            return a, frequencies, passes, steps, residual
        frequencies = 2.0 * frequencies  # a smaller correction contracts faster
    raise ConvergenceError(
        f"the spiral amplitudes did not converge (last change {history[-1]:.2e} after "
        f"{passes} passes at frequencies up to {float(np.max(frequencies)):.3g})",
        residual=history[-1],
        iterations=passes,
    )


def spiral_embedding(
    metric,
    box: Box,
    *,
    tol: float,
    start_degree: int = 4,
    max_degree: int = 64,
    frame_level: int | None = None,
    linear_fraction: float = 0.3,
    spiral_margin: float = 0.05,
    max_passes: int = 60,
    time_limit: float | None = 1800.0,
    memory_limit: float = MEMORY_LIMIT,
    progress=None,
    check_random: int = 20_000,
    check_seed: int | None = 12345,
    grid_factor: float = 4.0,
    max_grid_points: int = 8_000_000,
    stall_degrees: int = 3,
    checkpoint=None,
) -> SpiralResult:
    """An isometric embedding of `(box, g)` into `R^(d + 2K)` with honest defect `<= tol`.

    See the module docstring for the map. Degrees of the amplitudes start at
    `start_degree` and grow by the observed geometric decay of the defect (at most +8 per
    step, +4 without a decay yet) up to `max_degree`; each is judged by
    `chebyshev.honest_defect`.

    Args:
        metric: anything with `.dim`, `.name` and `.hessian(points (B, d)) -> (B, d, d)`.
        box: a compact `Box`.
        tol: required honest defect.
        start_degree: the first degree.
        max_degree: largest degree tried.
        frame_level: the `frame` level (default: the smallest whose directions hold the
            metric at the first degree's nodes).
        linear_fraction: `S^T S = linear_fraction * m * T^2`, `m` the smallest eigenvalue
            of the whitened metric `T^{-1} g T^{-1}` on the nodes, `T = g(center)^{1/2}`.
        spiral_margin: the frequencies keep `sum grad a grad a^T / lam^2` below this times
            the smallest eigenvalue of the rest (the contraction of the fixed point;
            larger values mean lower frequencies and more passes).
        max_passes: fixed-point passes per degree.
        time_limit: wall-time budget in seconds (`None`: none).
        memory_limit: bytes a degree may use (estimated before it runs).
        progress: `None`, `True` or a callable receiving `ProgressEvent`s.
        check_random: points of each random set of `honest_defect`, at most what costs
            `SCATTERED_FLOPS` (a scattered point costs `2 (N + 1)^d K (d + 1)` flops: about
            3000 at `d = 4`, degree 12; the grid, which bounds the whole box, is not cut).
        check_seed: of `honest_defect`.
        grid_factor: of `honest_defect`.
        max_grid_points: of `honest_defect` (default 8M: at `d = 4` the grid factor bounding
            the polynomial between grid points is then below 3 up to degree 11).
        stall_degrees: stop when this many successive degrees fail to lower the best
            defect by 10%.
        checkpoint: optional `.npz` path: each completed degree (its map and the history)
            is kept there, and a later call with the same path, box and metric resumes
            after it.

    Returns:
        A `SpiralResult`.

    Raises:
        CostError: the first degree does not fit `memory_limit` (nothing computed).
        BudgetError: the time budget ran out, or the next degree would not fit.
        NotPositiveDefiniteError: the metric is not finite and positive definite at the
            center or at the nodes of the box.
        ConvergenceError: `tol` not reached by `max_degree`.
        FrameError: no frame level holds the metric (too anisotropic on the box: a smaller
            box, a chart, or the collocation route).

    Examples:
        >>> import riemflow as rf
        >>> from riemflow.domains import Box
        >>> from riemflow.embedding.spiral import spiral_embedding
        >>> box = Box([-0.5, -0.5], [0.5, 0.5])
        >>> res = spiral_embedding(rf.potentials.log_ball(2), box, tol=1e-6)
        >>> res.embedding.ambient_dim, res.check.defect <= 1e-6  # d + 2 K, K = 8 directions
        (18, True)
        >>> [step.degree for step in res.history]
        [4, 8, 13]
    """
    tol = as_positive(tol, "tol")
    max_degree = as_positive_int(max_degree, "max_degree")
    start_degree = min(max(2, as_positive_int(start_degree, "start_degree")), max_degree)
    linear_fraction = as_positive(linear_fraction, "linear_fraction")
    if linear_fraction >= 1:
        raise InputError(
            f"`linear_fraction` must be in (0, 1); got {linear_fraction}",
            argument="linear_fraction",
        )
    spiral_margin = as_positive(spiral_margin, "spiral_margin")
    if spiral_margin >= 1:
        raise InputError(
            f"`spiral_margin` must be in (0, 1); got {spiral_margin}", argument="spiral_margin"
        )
    max_passes = as_positive_int(max_passes, "max_passes")
    memory_limit = as_positive(memory_limit, "memory_limit")
    progress = as_progress(progress)
    start = time.perf_counter()
    lower, upper = np.asarray(box.lower, dtype=np.float64), np.asarray(box.upper, dtype=np.float64)
    d = lower.size
    name = getattr(metric, "name", "the metric")
    budget = Budget(
        f"the spiral embedding of {name}",
        max_evaluations=max_passes * 6 * (max_degree + 1),
        time_limit=time_limit,
    )
    center = 0.5 * (lower + upper)
    H0 = np.asarray(metric.hessian(center[None]), dtype=np.float64).reshape(d, d)
    if not np.all(np.isfinite(H0)):
        raise NotPositiveDefiniteError(
            f"the metric of {name} is not finite at the center {center.tolist()} of the box"
        )
    ev, V = np.linalg.eigh(0.5 * (H0 + H0.T))
    if not ev[0] > 0:
        raise NotPositiveDefiniteError(
            f"the metric of {name} is not positive definite at the center {center.tolist()} "
            f"of the box (smallest eigenvalue {ev[0]:.3e})"
        )
    T = (V * np.sqrt(ev)) @ V.T
    Tinv = np.linalg.inv(T)
    rate = flop_rate()
    levels = [frame_level] if frame_level is not None else list(range(1, MAX_FRAME_LEVEL + 1))
    level = levels[0]
    records: list[DegreeStep] = []
    best = None
    calibration = 1.0
    est = None
    fingerprint = np.asarray(metric.hessian(fingerprint_points(lower, upper)), dtype=np.float64)
    if checkpoint is not None and os.path.exists(checkpoint):
        F, records, level = _load_checkpoint(checkpoint, lower, upper, fingerprint)
        if progress:
            progress(
                ProgressEvent(
                    "resume",
                    f"resuming after degree {records[-1].degree} (defect "
                    f"{records[-1].defect:.2e}) from {checkpoint}",
                    {"degree": records[-1].degree, "defect": records[-1].defect},
                )
            )
        if records[-1].defect <= tol:
            check = honest_defect(
                F,
                metric,
                grid_factor=grid_factor,
                max_grid_points=max_grid_points,
                n_random=check_random,
                seed=check_seed,
            )
            return SpiralResult(F, check, tuple(records), level, None, time.perf_counter() - start)
    while True:
        N = next_degree(
            records, tol, start=start_degree, max_degree=max_degree, max_step=8, first_step=4
        )
        if N is None:
            break
        mu = frame(d, level)
        est = estimate_spiral_cost(d, len(mu), N, max_grid_points=max_grid_points, rate=rate)
        est = CostEstimate(**{**asdict(est), "seconds": est.seconds * calibration})
        admit_degree(
            est,
            what=f"the spiral embedding of {name}",
            records=records,
            budget=budget,
            time_limit=time_limit,
            memory_limit=memory_limit,
            progress=progress,
            kept=f" (kept in {checkpoint}; a later call resumes from it)" if checkpoint else "",
        )
        t_wall, t_cpu = time.perf_counter(), time.process_time()
        nodes = _Nodes(metric, lower, upper, N)
        whitened = np.einsum("ij,bjk,kl->bil", Tinv, nodes.H, Tinv)
        finite = bool(np.all(np.isfinite(whitened)))
        whitened_min = float(np.min(np.linalg.eigvalsh(whitened))) if finite else math.nan
        if not whitened_min > 0:
            raise NotPositiveDefiniteError(
                f"the metric of {name} is not positive definite at the nodes of the box "
                f"(smallest whitened eigenvalue {whitened_min:.3e})"
            )
        b = linear_fraction * whitened_min
        while True:
            try:
                a, lam, passes, steps, residual = _amplitudes(
                    nodes,
                    whitened,
                    Tinv,
                    b,
                    whitened_min - b,
                    frame(d, level),
                    spiral_margin=spiral_margin,
                    max_passes=max_passes,
                    budget=budget,
                )
                break
            except _Infeasible as exc:
                later = [lv for lv in levels if lv > level]
                if not later:
                    raise FrameError(
                        f"the metric of {name} on {box!r} is too anisotropic for the spiral "
                        f"directions (level {level}, {len(frame(d, level))} directions: "
                        f"{exc.count} nodes outside their cone); use a smaller box, a chart, "
                        "or the collocation route",
                        residual=exc.worst,
                        nodes=exc.count,
                    ) from None
                size = len(frame(d, level))
                level = next((lv for lv in later if len(frame(d, lv)) > size), later[-1])
                if progress:
                    progress(
                        ProgressEvent(
                            "route",
                            f"spiral frame level {level} ({len(frame(d, level))} directions)",
                            {"frame_level": level},
                        )
                    )
        mu = frame(d, level)
        F = SpiralEmbedding(
            center,
            math.sqrt(b) * T,
            mu @ T,
            lam,
            ChebyshevEmbedding(nodes.coefficients(a), lower, upper),
        )
        per_point = 2 * (N + 1) ** d * len(mu) * (d + 1)  # flops of one scattered metric
        check = honest_defect(
            F,
            metric,
            grid_factor=grid_factor,
            max_grid_points=max_grid_points,
            n_random=min(check_random, max(2000, int(SCATTERED_FLOPS // per_point))),
            seed=check_seed,
            grid_only_above=tol,
        )
        model = estimate_spiral_cost(d, len(mu), N, max_grid_points=max_grid_points, rate=rate)
        spent = time.perf_counter() - t_wall  # the model covers the solve and the check
        calibration = min(1000.0, max(0.1, spent / max(model.seconds, 1e-9)))
        record = DegreeStep(
            degree=N,
            n_nodes=N + 1,
            node_residual=residual,
            defect=check.defect,
            iterations=passes,
            seconds=time.perf_counter() - t_wall,
            unknowns=int(a.size),
            measured=check.measured,
            inner_iterations=steps,
            check_seconds=check.seconds,
            cpu_seconds=time.process_time() - t_cpu,
        )
        records.append(record)
        if best is None or check.defect < best[1].defect:
            best = (F, check)
        if checkpoint is not None:
            _save_checkpoint(checkpoint, F, records, level, fingerprint)
        if progress:
            progress(
                ProgressEvent(
                    "degree",
                    f"degree {N}: defect {check.defect:.2e} (nodes {residual:.2e}), "
                    f"{passes} passes, D={F.ambient_dim}, {record.seconds:.1f} s",
                    asdict(record),
                )
            )
        if check.defect <= tol:
            return SpiralResult(F, check, tuple(records), level, est, time.perf_counter() - start)
        if len(records) > stall_degrees:
            before = min(r.defect for r in records[:-stall_degrees])
            if min(r.defect for r in records[-stall_degrees:]) > 0.9 * before:
                break
    table = ", ".join(f"degree {h.degree}: {h.defect:.2e}" for h in records)
    raise ConvergenceError(
        f"spiral embedding of {name}: defect {min(h.defect for h in records):.3e} (best) "
        f"above tol={tol:g} after degrees {[h.degree for h in records]} ({table}); raise "
        "`max_degree` or `tol`",
        residual=min(h.defect for h in records),
        iterations=sum(h.iterations for h in records),
    )


def _save_checkpoint(path, F: SpiralEmbedding, records, level: int, fingerprint) -> None:
    meta = {
        "format": "riemflow-spiral-checkpoint-1",
        "frame_level": level,
        "history": [asdict(r) for r in records],
    }
    write_npz(path, meta, fingerprint=fingerprint, **F.to_arrays())


def _load_checkpoint(path, lower, upper, fingerprint):
    data, meta = read_npz(
        path, "riemflow-spiral-checkpoint-1", argument="checkpoint", what="a spiral checkpoint"
    )
    same = (
        np.array_equal(data["lower"], lower)
        and np.array_equal(data["upper"], upper)
        and data["fingerprint"].shape == fingerprint.shape
        and np.allclose(data["fingerprint"], fingerprint, rtol=1e-12, atol=0)
    )
    if not same:
        raise InputError(
            f"`checkpoint` {path!r} holds a construction of another box or metric: remove it "
            "or pass another path",
            argument="checkpoint",
        )
    arrays = {k: data[k] for k in data.files}
    records = [DegreeStep(**r) for r in meta["history"]]
    return SpiralEmbedding.from_arrays(arrays), records, int(meta["frame_level"])

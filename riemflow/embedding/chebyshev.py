"""Numerical isometric embeddings of curved metrics on a box: Chebyshev collocation.

`F` is a tensor Chebyshev series on a box in `R^D`, `D > d`. The equation
`dF^T dF = g` (`g = hess R`, or any metric given by a `.hessian(points)` method) is
collocated on an oversampled tensor grid of Chebyshev-Lobatto nodes (the faces, edges and
corners of the closed box are nodes) and solved in the least-squares sense by
Levenberg-Marquardt, degree by degree ([Concepts: the converse via Nash
embedding](concepts.md#the-converse-via-nash-embedding)):

- the residual's Jacobian has Kronecker structure, `d r_ij / d C = B_i (x) dF_j + dF_i (x)
  B_j` with `B_i` a tensor product of one-dimensional basis matrices, so `J v`, `J^T v`
  and the normal matrix `J^T J` are contracted axis by axis (`Collocation`), never formed
  from an explicit `J`;
- one degree is fitted by `fit_degree`, the seam of this module: damped Gauss-Newton steps
  on the structured normal equations, a Cholesky factorization when the unknowns fit
  `direct_unknowns`, preconditioned conjugate gradients (a Cholesky factor of the
  low-degree block plus the diagonal) above; another solver with the same signature can
  replace it (`curved_embedding(..., fit=...)`);
- the first degree starts from the flat embedding of the metric at the center with its
  Christoffel correction and small normal bumps, and continues from the metric of that map
  to the target; each further degree starts from the previous map;
- every degree is judged by its honest isometry defect (`honest_defect`): the maximum of
  `|dF^T dF - g| / max |g|` over a fine Chebyshev-Lobatto grid of the closed box, inflated by
  the factor that bounds a polynomial of the degree of `dF^T dF` between grid points, and
  over random points, points concentrated on the faces and the corners;
- before each degree its cost is estimated (`estimate_cost`): a degree that cannot fit the
  memory or the remaining time is refused before any work (`CostError` when nothing was
  computed yet, `BudgetError` carrying the best map otherwise); `progress` receives an
  event per step and per degree, and `checkpoint` keeps the last completed degree on disk,
  from which a later call resumes.
"""

from __future__ import annotations

import math
import os
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import autograd.numpy as anp
import numpy as np
from scipy.linalg import cho_factor, cho_solve
from threadpoolctl import threadpool_info, threadpool_limits

from .._ode import Budget
from .._validation import as_positive, as_positive_int
from ..domains import Box, lobatto_points
from ..errors import BudgetError, ConvergenceError, CostError, InputError
from ._files import read_npz, write_npz
from .base import Embedding

__all__ = [
    "ChebyshevEmbedding",
    "Collocation",
    "CostEstimate",
    "DefectCheck",
    "DegreeStep",
    "FitResult",
    "ProgressEvent",
    "chebyshev_basis",
    "chebyshev_nodes",
    "curved_embedding",
    "estimate_cost",
    "fit_degree",
    "honest_defect",
    "kron_apply",
    "admit_degree",
    "next_degree",
    "progress_bar",
    "progress_printer",
]

#: BLAS threads of the Levenberg-Marquardt solves (see `fit_degree`)
LM_BLAS_THREADS = 1
#: default memory limit of a curved construction, bytes
MEMORY_LIMIT = 8 * 2**30
#: default largest number of unknowns solved by a dense Cholesky step
DIRECT_UNKNOWNS = 12_500
#: rows from which a Cholesky factorization runs on all the caller's BLAS threads
PARALLEL_FACTOR_SIZE = 2000


# -- one-dimensional bases ------------------------------------------------------------------------
def chebyshev_nodes(m: int) -> np.ndarray:
    """`m` Chebyshev points of the first kind in `(-1, 1)`, increasing."""
    return np.cos((2 * np.arange(m)[::-1] + 1) * np.pi / (2 * m))


def chebyshev_basis(x: np.ndarray, degree: int) -> tuple[np.ndarray, np.ndarray]:
    """`T_k(x)` and `T_k'(x)` for `k <= degree`: two `(len(x), degree + 1)` arrays."""
    x = np.asarray(x, dtype=np.float64).reshape(-1)
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


def kron_apply(mats, X: np.ndarray) -> np.ndarray:
    """`(mats[0] (x) ... (x) mats[d-1]) X` on the first `d` axes of `X`.

    `X: (n_1, ..., n_d) + rest`, `mats[k]: (m_k, n_k)`; returns `(m_1, ..., m_d) + rest`:
    one `tensordot` per axis, no Kronecker matrix formed.
    """
    for k, M in enumerate(mats):
        X = np.moveaxis(np.tensordot(M, X, axes=([1], [k])), 0, k)
    return X


# -- the map --------------------------------------------------------------------------------------
class ChebyshevEmbedding(Embedding):
    """`F_a(w) = sum_alpha C[alpha, a] T_alpha1(xi_1) ... T_alphad(xi_d)` on a box.

    `xi = 2 (w - lower) / (upper - lower) - 1`; coefficients `C: (degree + 1,)*d + (D,)`.
    Evaluation uses the three-term recurrence with `autograd.numpy`, so every derivative is
    exact; `jacobian` contracts the derivative recurrence without tracing.

    Args:
        coefficients: `C`.
        lower: the box's lower ends `(d,)`.
        upper: the box's upper ends `(d,)`.

    Examples:
        >>> import numpy as np
        >>> from riemflow.embedding import ChebyshevEmbedding
        >>> C = np.zeros((2, 2, 3)); C[1, 0, 0] = C[0, 1, 1] = 1.0  # F(w) = (xi_1, xi_2, 0)
        >>> F = ChebyshevEmbedding(C, [0.0, 0.0], [2.0, 2.0])
        >>> F(np.array([1.5, 0.5])).tolist(), F.jacobian(np.array([1.5, 0.5]))[:2].tolist()
        ([0.5, -0.5, 0.0], [[1.0, 0.0], [0.0, 1.0]])
    """

    def __init__(self, coefficients: np.ndarray, lower, upper):
        self.coefficients = np.asarray(coefficients, dtype=np.float64)
        self.lower = np.asarray(lower, dtype=np.float64)
        self.upper = np.asarray(upper, dtype=np.float64)
        d = self.lower.size
        self.degree = self.coefficients.shape[0] - 1
        super().__init__(
            self._evaluate, d, self.coefficients.shape[-1], f"Chebyshev degree {self.degree}"
        )

    def _bases(self, wb: np.ndarray):
        scale = 2.0 / (self.upper - self.lower)
        xi = (wb - self.lower) * scale - 1.0
        return [chebyshev_basis(xi[:, i], self.degree) for i in range(self.dim)], scale

    def jacobian(self, w) -> np.ndarray:
        """`dF(w)`: `(D, d)` or `(B, D, d)`, from the derivative recurrence (no tracing)."""
        arr = np.asarray(w, dtype=np.float64)
        wb = arr[None, :] if arr.ndim == 1 else arr
        bases, scale = self._bases(wb)
        columns = []
        for i in range(self.dim):
            mats = [bases[k][1] * scale[k] if k == i else bases[k][0] for k in range(self.dim)]
            columns.append(_scattered(self.coefficients, mats))
        jac = np.stack(columns, axis=-1)  # (B, D, d)
        return jac[0] if arr.ndim == 1 else jac

    def tensor_metric(self, values, derivatives) -> np.ndarray:
        """`dF^T dF` on a tensor grid `(B, d, d)` (row-major), from the one-dimensional
        basis matrices `values[k] = T(x_k)`, `derivatives[k] = T'(x_k)` of each axis (what
        `honest_defect` evaluates)."""
        half = 0.5 * (self.upper - self.lower)
        J = np.stack(
            [
                kron_apply(
                    [derivatives[k] if k == i else values[k] for k in range(self.dim)],
                    self.coefficients,
                ).reshape(-1, self.ambient_dim)
                / half[i]
                for i in range(self.dim)
            ],
            axis=-1,
        )
        return np.einsum("bai,baj->bij", J, J)

    def values(self, w) -> np.ndarray:
        """`F(w)` as a plain array `(B, D)` for `w: (B, d)` (no tracing)."""
        wb = np.atleast_2d(np.asarray(w, dtype=np.float64))
        bases, _ = self._bases(wb)
        return _scattered(self.coefficients, [b[0] for b in bases])

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


def _scattered(C: np.ndarray, mats) -> np.ndarray:
    """`sum_alpha C[alpha] prod_k mats[k][b, alpha_k]` per row `b`: `(B, D)`."""
    out = np.tensordot(mats[0], C, axes=([1], [0]))  # (B, n, ..., n, D)
    for k in range(1, len(mats)):
        out = np.einsum("bj...,bj->b...", out, mats[k])
    return out


# -- records --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class DegreeStep:
    """One degree of the curved construction.

    Attributes:
        degree: Chebyshev degree per coordinate.
        n_nodes: collocation nodes per coordinate (Chebyshev-Lobatto).
        node_residual: `max |dF^T dF - g| / max |g|` at the nodes.
        defect: the honest isometry defect (`honest_defect`: the closed box, off the
            nodes); the figure of merit.
        iterations: Levenberg-Marquardt steps at this degree.
        seconds: wall time of this degree (fit and check).
        unknowns: Chebyshev coefficients solved for, `(degree + 1)^d D`.
        measured: the largest defect actually seen on the check points (`defect` also
            bounds the values between the grid points).
        inner_iterations: conjugate-gradient iterations (0 for direct steps).
        check_seconds: wall time of the defect check.
        cpu_seconds: process CPU time of this degree.
    """

    degree: int
    n_nodes: int
    node_residual: float
    defect: float
    iterations: int
    seconds: float
    unknowns: int = 0
    measured: float = float("nan")
    inner_iterations: int = 0
    check_seconds: float = 0.0
    cpu_seconds: float = 0.0


@dataclass(frozen=True)
class CostEstimate:
    """The predicted cost of one degree of the curved construction.

    Attributes:
        d: dimension; ambient_dim: `D`; degree: Chebyshev degree; n_nodes: nodes per axis.
        unknowns: `(degree + 1)^d D`; residuals: `n_nodes^d d (d + 1) / 2`.
        memory_bytes: peak memory of the step (dense normal matrix or its coarse block).
        seconds: predicted wall time of the degree on this machine (flop rate measured).
        direct: whether the steps are dense Cholesky solves (else preconditioned CG).
    """

    d: int
    ambient_dim: int
    degree: int
    n_nodes: int
    unknowns: int
    residuals: int
    memory_bytes: int
    seconds: float
    direct: bool

    def __str__(self) -> str:
        big = self.memory_bytes >= 2**80  # an exact integer past the float range
        gib = self.memory_bytes // 2**30 if big else self.memory_bytes / 2**30
        about = "~" if self.seconds < math.inf else ""
        return (
            f"degree {self.degree}: {_count(self.unknowns)} unknowns, "
            f"{_count(self.residuals)} residuals, {_count(gib, 2)} GiB, "
            f"{about}{_count(self.seconds, 0)} s"
        )


def _count(x, digits: int | None = None) -> str:
    """An exact count, or `~1.2e+34` past 10^15, `> 1e308` past the float range
    (high-dimensional estimates)."""
    if isinstance(x, int) and x >= 10**15:
        digits10 = len(str(x)) - 1
        return f"~{int(str(x)[:2]) / 10:.1f}e+{digits10}"
    if x == math.inf:
        return "> 1e308"
    if x >= 1e15:
        return f"~{float(x):.1e}"
    return f"{x:.{digits}f}" if digits is not None else str(x)


def _as_float(x: int) -> float:
    """A (possibly astronomically large) exact integer as a float, `inf` past the range."""
    try:
        return float(x)
    except OverflowError:
        return math.inf


@dataclass(frozen=True)
class ProgressEvent:
    """A progress report of a long construction.

    Attributes:
        kind: `"estimate"`, `"step"` (a Levenberg-Marquardt step), `"continuation"`,
            `"degree"` (a completed degree), `"resume"` (from a checkpoint), `"route"`.
        message: one human-readable line.
        info: the numbers behind it.
    """

    kind: str
    message: str
    info: dict = field(default_factory=dict)


def progress_printer(stream=None) -> Callable[[ProgressEvent], None]:
    """A `progress` callback printing each event's message to `stream` (default stderr).

    Examples:
        >>> from riemflow.embedding.chebyshev import ProgressEvent, progress_printer
        >>> import sys
        >>> progress_printer(sys.stdout)(ProgressEvent("degree", "degree 5: defect 1e-4"))
        [riemflow converse] degree 5: defect 1e-4
    """

    def show(event: ProgressEvent) -> None:
        print(f"[riemflow converse] {event.message}", file=stream or sys.stderr, flush=True)

    return show


def progress_bar(stream=None) -> Callable[[ProgressEvent], None]:
    """A `progress` callback drawing a tqdm bar of Levenberg-Marquardt steps (continuation
    included), with the current degree and defect beside it; route, estimate and resume
    messages are written above the bar. The bar closes on the `"done"` event.

    Args:
        stream: where to draw (default stderr).

    Returns:
        The callback.

    Examples:
        >>> import io
        >>> from riemflow.embedding.chebyshev import ProgressEvent, progress_bar
        >>> out = io.StringIO()
        >>> show = progress_bar(out)
        >>> show(ProgressEvent("step", "LM step"))
        >>> show(ProgressEvent("degree", "degree 5", {"degree": 5, "defect": 1e-4}))
        >>> show(ProgressEvent("done", "finished"))
        >>> "degree=5" in out.getvalue() and "finished" in out.getvalue()
        True
    """
    from tqdm.auto import tqdm

    state = {"bar": None}

    def bar():
        if state["bar"] is None:
            state["bar"] = tqdm(
                desc="riemflow converse", unit="step", file=stream or sys.stderr, leave=True
            )
        return state["bar"]

    def show(event: ProgressEvent) -> None:
        if event.kind in ("step", "continuation"):
            bar().update(1)
        elif event.kind == "degree":
            bar().set_postfix(
                degree=event.info.get("degree"), defect=f"{event.info.get('defect', 0):.2e}"
            )
        else:
            bar().write(f"[riemflow converse] {event.message}", file=stream or sys.stderr)
        if event.kind == "done":
            bar().close()
            state["bar"] = None

    return show


def as_progress(progress):
    """A `progress` argument as a callback: `None`/`False` -> `None`, `True` ->
    `progress_bar()`, a callable as given.

    Raises:
        InputError: anything else, naming `progress`.

    Examples:
        >>> from riemflow.embedding.chebyshev import as_progress
        >>> as_progress(None) is None, as_progress(print) is print
        (True, True)
        >>> as_progress("yes")
        Traceback (most recent call last):
        ...
        riemflow.errors.InputError: `progress` must be None, True or a callable; got 'yes'
    """
    if progress is None or progress is False:
        return None
    if progress is True:
        return progress_bar()
    if not callable(progress):
        raise InputError(
            f"`progress` must be None, True or a callable; got {progress!r}", argument="progress"
        )
    return progress


# -- collocation ----------------------------------------------------------------------------------
class Collocation:
    """Lobatto nodes, one-dimensional matrices, target and Kronecker operators at one degree.

    In the box coordinates `x = (w - c) / h` in `[-1, 1]^d` the residual is
    `r_ij = (dF_i . dF_j - h_i h_j g_ij) / (h_i h_j s)`, `i <= j`, at the nodes (`dF_i` the
    `x`-derivatives, `s` the metric's scale), so `max |r|` is the isometry defect at the
    nodes.

    Args:
        metric: anything with `.hessian(points (B, d)) -> (B, d, d)`.
        lower: the box's lower ends `(d,)`.
        upper: the box's upper ends `(d,)`.
        degree: `N`.
        n_nodes: `m >= N + 1` Lobatto points per axis.
        scale: `s`.
    """

    def __init__(self, metric, lower, upper, degree: int, n_nodes: int, scale: float):
        lower = np.asarray(lower, dtype=np.float64)
        upper = np.asarray(upper, dtype=np.float64)
        self.d = d = lower.size
        self.degree, self.n, self.m = degree, degree + 1, n_nodes
        self.half = 0.5 * (upper - lower)
        self.center = 0.5 * (upper + lower)
        x = lobatto_points(n_nodes)
        self.T, self.dT = chebyshev_basis(x, degree)
        axes = [self.center[k] + self.half[k] * x for k in range(d)]
        self.points = np.stack(np.meshgrid(*axes, indexing="ij"), -1).reshape(-1, d)
        H = np.asarray(metric.hessian(self.points), dtype=np.float64).reshape(-1, d, d)
        self.scale = float(scale)
        self.pairs = [(i, j) for i in range(d) for j in range(i, d)]
        self.weight = np.array([1.0 / (self.half[i] * self.half[j] * scale) for i, j in self.pairs])
        shape = (n_nodes,) * d
        self.target = np.stack(
            [(self.half[i] * self.half[j] * H[:, i, j]).reshape(shape) for i, j in self.pairs],
            axis=-1,
        )  # (m,)*d + (p,), x-coordinates, unweighted

    def first(self, C: np.ndarray) -> list[np.ndarray]:
        """`[dF/dx_i]` at the nodes, each `(m,)*d + (D,)`."""
        return [
            kron_apply([self.dT if k == i else self.T for k in range(self.d)], C)
            for i in range(self.d)
        ]

    def metric(self, dF) -> np.ndarray:
        """`dF_i . dF_j` for the pairs: `(m,)*d + (p,)`."""
        return np.stack([np.sum(dF[i] * dF[j], axis=-1) for i, j in self.pairs], axis=-1)

    def residual(self, dF, target=None) -> np.ndarray:
        """The weighted residual `(m,)*d + (p,)` (against `target`, default the metric's)."""
        return (self.metric(dF) - (self.target if target is None else target)) * self.weight

    def jvp(self, dF, V: np.ndarray) -> np.ndarray:
        """`J V`: coefficients `(n,)*d + (D,)` to residuals `(m,)*d + (p,)`."""
        dV = self.first(V)
        return (
            np.stack(
                [np.sum(dV[i] * dF[j] + dF[i] * dV[j], axis=-1) for i, j in self.pairs], axis=-1
            )
            * self.weight
        )

    def vjp(self, dF, Rr: np.ndarray) -> np.ndarray:
        """`J^T R`: residuals `(m,)*d + (p,)` to coefficients `(n,)*d + (D,)`."""
        Rw = Rr * self.weight
        G = [np.zeros_like(dF[0]) for _ in range(self.d)]
        for q, (i, j) in enumerate(self.pairs):
            rq = Rw[..., q, None]
            G[i] += rq * dF[j]
            G[j] += rq * dF[i]
        out = 0.0
        for i in range(self.d):
            out = out + kron_apply([self.dT.T if k == i else self.T.T for k in range(self.d)], G[i])
        return out

    def _pair_fields(self, dF):
        """`c[q][k]`: the field multiplying `d(dV)/dx_k` in residual `q` (or None)."""
        out = []
        for q, (i, j) in enumerate(self.pairs):
            row: list = [None] * self.d
            w = self.weight[q]
            if i == j:
                row[i] = 2.0 * w * dF[i]
            else:
                row[i] = w * dF[j]
                row[j] = w * dF[i]
            out.append(row)
        return out

    def normal_matrix(self, dF, n_keep: int | None = None) -> np.ndarray:
        """`J^T J` on the coefficients of degree `< n_keep` in every variable (default all),
        dense, ordered as `C.reshape(-1)`.

        `J^T J = sum_{k,l} sum_x B_k[x, .] B_l[x, .]^T (x) S_kl(x)` with `S_kl = sum_q c_qk
        c_ql^T` (`(D, D)` at each node): a weighted Kronecker Gram matrix per derivative
        pair `(k, l)`, contracted axis by axis (`O(d^2 D^2 n^(2d) m)` flops against
        `O(m^d d^2 (n^d D)^2)` for an explicit `J`). Node axes `d-1, ..., 1` are contracted
        per pair; the pairs are then grouped by the Gram matrix of axis 0 (at most four
        kinds), and one matrix product over the stacked groups contracts axis 0 and sums
        the pairs at once. Peak memory: about 2.5 matrices of the result's size.
        """
        d, m = self.d, self.m
        nk = self.n if n_keep is None else n_keep
        basis = (self.T[:, :nk], self.dT[:, :nk])
        grams = {
            (u, v): np.einsum("xa,xb->xab", basis[u], basis[v]).reshape(m, nk * nk)
            for u in (0, 1)
            for v in (0, 1)
        }
        c = self._pair_fields(dF)
        D = dF[0].shape[-1]
        fields = {}  # S_kl in the layout (D_a, x_1, ..., x_d, D_b)
        for k in range(d):
            for l in range(k, d):  # noqa: E741 - S_lk is S_kl with D_a and D_b swapped
                S = None
                for row in c:
                    if row[k] is None or row[l] is None:
                        continue
                    term = np.einsum("...a,...b->a...b", row[k], row[l])
                    S = term if S is None else S + term
                if S is not None:
                    fields[k, l] = S
                    if l != k:
                        fields[l, k] = np.ascontiguousarray(np.swapaxes(S, 0, -1))
        groups: dict[tuple[int, int], np.ndarray] = {}
        for (k, l), X in fields.items():  # noqa: E741
            for t in range(d - 1, 0, -1):  # (D m^t, m, rest) -> (D m^t, nk^2, rest)
                X = np.matmul(grams[int(t == k), int(t == l)].T, X.reshape(D * m**t, m, -1))
            key = (int(k == 0), int(l == 0))
            X = X.reshape(D, m, -1)
            groups[key] = X if key not in groups else groups[key] + X
        keys = list(groups)
        W = np.concatenate([grams[key] for key in keys], axis=0)  # (kinds m, nk^2)
        Y = np.concatenate([groups.pop(key) for key in keys], axis=1)  # (D, kinds m, rest)
        out = np.matmul(W.T, Y)  # (D_a, a_1 b_1, ..., a_d b_d, D_b)
        del Y
        shape = (D,) + (nk, nk) * d + (D,)
        perm = [1 + 2 * t for t in range(d)] + [0] + [2 + 2 * t for t in range(d)] + [2 * d + 1]
        size = nk**d * D
        return np.ascontiguousarray(out.reshape(shape).transpose(perm)).reshape(size, size)

    def normal_diagonal(self, dF) -> np.ndarray:
        """`diag(J^T J)`, shape `(n,)*d + (D,)`."""
        c = self._pair_fields(dF)
        out = 0.0
        for k in range(self.d):
            for l in range(self.d):  # noqa: E741
                S = None
                for row in c:
                    if row[k] is None or row[l] is None:
                        continue
                    term = row[k] * row[l]
                    S = term if S is None else S + term
                if S is None:
                    continue
                mats = [
                    ((self.dT if t == k else self.T) * (self.dT if t == l else self.T)).T
                    for t in range(self.d)
                ]
                out = out + kron_apply(mats, S)
        return out


# -- the seam: one degree's fit -------------------------------------------------------------------
@dataclass
class FitResult:
    """What `fit_degree` returns.

    Attributes:
        coefficients: the fitted `C` `(n,)*d + (D,)`.
        node_residual: `max |r|` at the nodes.
        iterations: outer (Gauss-Newton) steps.
        inner_iterations: inner (conjugate-gradient) iterations, 0 for direct steps.
        reason: why it stopped: `"tol"`, `"stagnation"`, `"no decrease"`, `"max_iter"`.
    """

    coefficients: np.ndarray
    node_residual: float
    iterations: int
    inner_iterations: int
    reason: str


def fit_degree(
    col: Collocation,
    C: np.ndarray,
    *,
    target: np.ndarray | None = None,
    node_tol: float,
    max_iter: int,
    budget: Budget | None = None,
    progress=None,
    direct_unknowns: int = DIRECT_UNKNOWNS,
    stagnation: float = 0.7,
    damping: float = 1e-6,
    inner_rtol: float = 1e-2,
    inner_max_iter: int = 200,
) -> FitResult:
    """Fit one degree: least squares of the collocation residual from the map `C`.

    The seam of the curved construction: `curved_embedding` calls it (or a replacement
    with the same signature) for each degree and each continuation stage. This one is
    Levenberg-Marquardt: each step solves `(J^T J + lam mean(diag) I) s = -J^T r` (`lam`
    follows the step's gain ratio after an accepted step, Nielsen's rule, and grows 4x
    after a rejected one); with at most `direct_unknowns` unknowns by a Cholesky
    factorization of the structured normal matrix (`Collocation.normal_matrix`), above by
    conjugate gradients on the matrix-free `J^T J` preconditioned by the Cholesky factor of
    its low-degree block (`direct_unknowns` coefficients) plus its diagonal on the rest.
    BLAS runs on `LM_BLAS_THREADS` thread(s), except the factorizations of matrices of at
    least `PARALLEL_FACTOR_SIZE` rows, which use the BLAS threads the caller had.

    Args:
        col: the collocation problem.
        C: the start `(n,)*d + (D,)`.
        target: the metric at the nodes to fit (default the problem's; a continuation
            passes intermediate ones).
        node_tol: stop when `max |r| <= node_tol`.
        max_iter: outer-step budget.
        budget: the construction's `Budget` (one evaluation per outer step).
        progress: callback receiving a `ProgressEvent` per step.
        direct_unknowns: largest number of unknowns solved directly (default 12500: the
            normal matrix, its factor and the assembly's intermediates take about 4 GB).
        stagnation: stop when 3 accepted steps reduce `max |r|` by less than this factor
            (the degree cannot represent a better map).
        damping: initial `lam`, relative to the mean diagonal of `J^T J`.
        inner_rtol: relative residual of the conjugate-gradient solves.
        inner_max_iter: conjugate-gradient iterations per step (above `direct_unknowns`).

    Returns:
        A `FitResult`.
    """
    blas_threads = max(
        [info.get("num_threads", 1) for info in threadpool_info() if info["user_api"] == "blas"],
        default=1,
    )
    with threadpool_limits(limits=LM_BLAS_THREADS, user_api="blas"):
        return _levenberg_marquardt(
            col,
            C,
            target,
            node_tol,
            max_iter,
            budget,
            progress,
            direct_unknowns,
            stagnation,
            damping,
            inner_rtol,
            inner_max_iter,
            blas_threads,
        )


def _levenberg_marquardt(
    col,
    C,
    target,
    node_tol,
    max_iter,
    budget,
    progress,
    direct_unknowns,
    stagnation,
    damping,
    inner_rtol,
    inner_max_iter,
    blas_threads,
):
    d, D = col.d, C.shape[-1]
    size = C.size
    direct = size <= direct_unknowns
    n_c = col.n if direct else max(2, min(col.n, int((direct_unknowns / D) ** (1.0 / d))))
    coarse = np.zeros(C.shape, dtype=bool)
    coarse[(slice(0, n_c),) * d] = True
    dF = col.first(C)
    r = col.residual(dF, target)
    cost = float(np.sum(r * r))
    maxima = [float(np.max(np.abs(r)))]
    lam_rel = damping
    reason, it, inner_total = "max_iter", 0, 0
    for it in range(1, max_iter + 1):
        if maxima[-1] <= node_tol:
            reason = "tol"
            break
        if len(maxima) >= 4 and maxima[-1] > stagnation * maxima[-4]:
            reason = "stagnation"
            break
        if budget is not None:
            budget.spend()
        A = col.normal_matrix(dF, None if direct else n_c)
        diag = A.diagonal().copy() if direct else col.normal_diagonal(dF)
        mean_diag = float(np.mean(diag))
        g = col.vjp(dF, r)
        accepted, inner = False, 0
        for _ in range(30):
            lam = lam_rel * mean_diag
            A[np.diag_indices_from(A)] = (diag if direct else diag[coarse]).reshape(-1) + lam
            try:
                factor = _cholesky(A, blas_threads)
            except np.linalg.LinAlgError:
                lam_rel *= 10.0
                continue
            if direct:
                step = -cho_solve(factor, g.reshape(-1), check_finite=False).reshape(C.shape)
            else:
                dinv = 1.0 / (diag + lam)

                def prec(v, factor=factor, dinv=dinv):
                    out = v * dinv
                    out[coarse] = cho_solve(factor, v[coarse], check_finite=False)
                    return out

                step, inner = _pcg(col, dF, g, lam, prec, inner_rtol, inner_max_iter)
                inner_total += inner
            dF_new = col.first(C + step)
            r_new = col.residual(dF_new, target)
            cost_new = float(np.sum(r_new * r_new))
            if cost_new < cost:
                # Nielsen's update: the damping follows the gain ratio of the step (the
                # decrease of the sum of squares over the one the linear model predicted)
                predicted = float(np.sum(lam * step * step) - np.sum(g * step))
                gain = (cost - cost_new) / predicted if predicted > 0 else 1.0
                lam_rel = max(lam_rel * max(1 / 3, 1 - (2 * gain - 1) ** 3), 1e-15)
                C, dF, r, cost = C + step, dF_new, r_new, cost_new
                accepted = True
                maxima.append(float(np.max(np.abs(r))))
                break
            lam_rel *= 4.0
        if not accepted:
            reason = "no decrease"
            break
        if progress is not None:
            progress(
                ProgressEvent(
                    "step",
                    f"degree {col.degree}: step {it}, node residual {maxima[-1]:.2e}"
                    + (f" ({inner} CG iterations)" if inner else ""),
                    {"degree": col.degree, "step": it, "node_residual": maxima[-1], "cg": inner},
                )
            )
    else:
        it = max_iter
    if maxima[-1] <= node_tol:
        reason = "tol"
    return FitResult(C, maxima[-1], it, inner_total, reason)


def _cholesky(A, blas_threads: int):
    """`cho_factor(A)`, on `blas_threads` BLAS threads when `A` is large enough to gain."""
    if A.shape[0] >= PARALLEL_FACTOR_SIZE and blas_threads > 1:
        with threadpool_limits(limits=blas_threads, user_api="blas"):
            return cho_factor(A, check_finite=False)
    return cho_factor(A, check_finite=False)


def _pcg(col, dF, g, lam, prec, rtol, max_iter):
    """Conjugate gradients on `(J^T J + lam I) s = -g` preconditioned by `prec`; returns
    the step and the iterations."""
    b = -g
    x = np.zeros_like(g)
    res = b.copy()
    z = prec(res)
    p = z.copy()
    rz = float(np.sum(res * z))
    bn = float(np.linalg.norm(b))
    its = 0
    for its in range(1, max_iter + 1):  # noqa: B007
        Ap = col.vjp(dF, col.jvp(dF, p)) + lam * p
        alpha = rz / float(np.sum(p * Ap))
        x += alpha * p
        res -= alpha * Ap
        if np.linalg.norm(res) <= rtol * bn:
            break
        z = prec(res)
        rz_new = float(np.sum(res * z))
        p = z + (rz_new / rz) * p
        rz = rz_new
    return x, its


# -- the honest defect ----------------------------------------------------------------------------
@dataclass(frozen=True)
class DefectCheck:
    """The honest isometry defect of a Chebyshev map on the closed box.

    Attributes:
        defect: `max(bound_factor * grid_max, random_max, boundary_max)`, the reported
            figure; it bounds `|dF^T dF - g| / max |g|` anywhere on the closed box (up to
            the interpolation error of `g` itself between grid points).
        grid_max: the largest value on the tensor Chebyshev-Lobatto grid.
        grid_points: grid points per axis `K`.
        bound_factor: `sec(q pi / (2 (K - 1)))^d`, `q = 2 degree`: a polynomial of degree
            `q` per variable is at most this factor times its grid maximum on the box.
        random_max: on uniform random points.
        boundary_max: on points on or within `1e-8 .. 1e-1` of the faces, and the corners.
        scale: `max |g|` over all points.
        worst_point: where the largest value was found `(d,)`.
        seconds: wall time of the check.
    """

    defect: float
    grid_max: float
    grid_points: int
    bound_factor: float
    random_max: float
    boundary_max: float
    scale: float
    worst_point: tuple
    seconds: float

    @property
    def measured(self) -> float:
        """The largest value actually measured."""
        return max(self.grid_max, self.random_max, self.boundary_max)


def honest_defect(
    F,
    metric,
    *,
    grid_factor: float = 4.0,
    max_grid_points: int = 2_000_000,
    n_random: int = 20_000,
    seed: int | None = 12345,
    chunk: int = 200_000,
    grid_only_above: float | None = None,
) -> DefectCheck:
    """`max |dF^T dF - g| / max |g|` over the closed box, off the collocation nodes.

    Three point sets: (a) a tensor Chebyshev-Lobatto grid of `K = grid_factor q + 1` points
    per axis (`q = 2 N`, the degree of `dF^T dF`; capped so that `K^d <= max_grid_points`),
    whose maximum times `sec(q pi / (2 (K - 1)))^d` bounds the polynomial part everywhere;
    (b) `n_random` uniform points; (c) `n_random` points with random coordinates moved onto
    a face or within `10^-U(1, 8)` of it, and the `2^d` corners.

    Args:
        F: the map: a `ChebyshevEmbedding`, or any map with its `dim`, `degree`, `lower`,
            `upper`, `metric(points)` and `tensor_metric(values, derivatives)` whose
            `dF^T dF` has degree at most `2 degree` per variable (`SpiralEmbedding`).
        metric: anything with `.hessian(points (B, d)) -> (B, d, d)`.
        grid_factor: grid points per axis per degree of `dF^T dF` (default 4: factor
            `1.082^d`).
        max_grid_points: cap of `K^d`.
        n_random: size of (b) and of (c).
        seed: seed of (b) and (c), independent of the construction.
        chunk: points per evaluation batch.
        grid_only_above: skip (b) and (c) when the grid bound alone already exceeds this
            value (the defect is then reported from the grid; used between degrees).

    Returns:
        A `DefectCheck`.
    """
    start = time.perf_counter()
    d, N = F.dim, F.degree
    q = 2 * N
    K = int(math.ceil(grid_factor * q)) + 1
    K = max(3, min(K, int(math.floor(max_grid_points ** (1.0 / d)))))
    x = lobatto_points(K)
    B0, B1 = chebyshev_basis(x, N)
    half = 0.5 * (F.upper - F.lower)
    center = 0.5 * (F.upper + F.lower)
    rows_per = max(1, chunk // K ** (d - 1))
    num, den, worst = 0.0, 0.0, center
    for lo in range(0, K, rows_per):
        sl = slice(lo, min(K, lo + rows_per))
        g = F.tensor_metric([B0[sl]] + [B0] * (d - 1), [B1[sl]] + [B1] * (d - 1))
        grids = np.meshgrid(x[sl], *([x] * (d - 1)), indexing="ij")
        pts = center + half * np.stack([c.ravel() for c in grids], axis=-1)
        H = np.asarray(metric.hessian(pts), dtype=np.float64).reshape(-1, d, d)
        err = np.max(np.abs(g - H), axis=(1, 2))
        b = int(np.argmax(err))
        if err[b] > num:
            num, worst = float(err[b]), pts[b]
        den = max(den, float(np.max(np.abs(H))))
    factor = 1.0 / math.cos(q * math.pi / (2 * (K - 1))) ** d if K - 1 > q else math.inf
    grid_max = num / den
    maxima = {"random": 0.0, "boundary": 0.0}
    if grid_only_above is None or factor * grid_max <= grid_only_above:
        rng = np.random.default_rng(seed)
        U = rng.uniform(-1, 1, size=(n_random, d))
        Bd = rng.uniform(-1, 1, size=(n_random, d))
        mask = rng.random((n_random, d)) < 0.5
        mask[np.arange(n_random), rng.integers(0, d, n_random)] = True
        gap = np.where(
            rng.random((n_random, d)) < 0.3, 0.0, 10.0 ** -rng.uniform(1, 8, (n_random, d))
        )
        Bd = np.where(mask, np.sign(Bd) * (1 - gap), Bd)
        corners = np.array(np.meshgrid(*([[-1.0, 1.0]] * d), indexing="ij")).reshape(d, -1).T
        values = {}
        for name, X in (("random", U), ("boundary", np.vstack([Bd, corners]))):
            pts = center + half * X
            errs = []
            for s in range(0, len(pts), chunk):
                P = pts[s : s + chunk]
                H = np.asarray(metric.hessian(P), dtype=np.float64).reshape(-1, d, d)
                errs.append(np.max(np.abs(F.metric(P) - H), axis=(1, 2)))
                den = max(den, float(np.max(np.abs(H))))
            e = np.concatenate(errs)
            values[name] = (e, pts)
        grid_max = num / den
        for name, (e, pts) in values.items():
            b = int(np.argmax(e))
            maxima[name] = float(e[b]) / den
            if e[b] > num:
                num, worst = float(e[b]), pts[b]
    defect = max(factor * grid_max, maxima["random"], maxima["boundary"])
    return DefectCheck(
        defect=float(defect),
        grid_max=float(grid_max),
        grid_points=K,
        bound_factor=float(factor),
        random_max=maxima["random"],
        boundary_max=maxima["boundary"],
        scale=float(den),
        worst_point=tuple(float(v) for v in worst),
        seconds=time.perf_counter() - start,
    )


# -- cost -----------------------------------------------------------------------------------------
_RATE: list[float] = []


def flop_rate() -> float:
    """This machine's measured rate of a small dense matrix product (flop/s), once per
    process: the unit of `estimate_cost`'s time model."""
    if not _RATE:
        rng = np.random.default_rng(0)
        A, X = rng.standard_normal((200, 200)), rng.standard_normal((200, 400))
        with threadpool_limits(limits=LM_BLAS_THREADS, user_api="blas"):
            A @ X
            begin = time.perf_counter()
            for _ in range(5):
                A @ X
            elapsed = (time.perf_counter() - begin) / 5
        _RATE.append(2 * 200 * 200 * 400 / max(elapsed, 1e-9))
    return _RATE[0]


def estimate_cost(
    d: int,
    ambient_dim: int,
    degree: int,
    *,
    n_nodes: int | None = None,
    iterations: int = 10,
    direct_unknowns: int = DIRECT_UNKNOWNS,
    inner_iterations: int = 100,
    rate: float | None = None,
) -> CostEstimate:
    """Unknowns, memory and time of one degree of the curved construction, before it runs.

    Model: unknowns `n^d D` (`n = degree + 1`), residuals `m^d p` (`m` nodes per axis,
    `p = d (d + 1) / 2`). A direct step forms the normal matrix (`d (d + 1) m D^2 n^(2d)`
    flops) and factors it (`(n^d D)^3 / 3`); memory: the matrix, its factor and one
    intermediate of the same size, plus the derivative fields. Above `direct_unknowns`, a
    step forms and factors the coarse block and runs `inner_iterations` matrix-free
    products. Time: `iterations` steps at the measured `flop_rate` (times 2 for the rest:
    the defect check, Python overhead); `curved_embedding` recalibrates it on each
    measured degree.

    Args:
        d: dimension.
        ambient_dim: `D`.
        degree: Chebyshev degree.
        n_nodes: nodes per axis (default `ceil(1.5 (degree + 1))`).
        iterations: Levenberg-Marquardt steps assumed.
        direct_unknowns: see `fit_degree`.
        inner_iterations: conjugate-gradient iterations per step assumed above it.
        rate: flop/s (default `flop_rate()`).

    Returns:
        A `CostEstimate`.

    Examples:
        >>> from riemflow.embedding.chebyshev import estimate_cost
        >>> e = estimate_cost(3, 7, 7, rate=1e9)
        >>> e.unknowns, e.residuals, e.direct
        (3584, 10368, True)
    """
    D, n = int(ambient_dim), degree + 1
    m = int(math.ceil(1.5 * n)) if n_nodes is None else int(n_nodes)
    p = d * (d + 1) // 2
    unknowns, residuals = n**d * D, m**d * p
    direct = unknowns <= direct_unknowns
    nc = unknowns if direct else min(unknowns, direct_unknowns)
    n_c = n if direct else max(2, int((direct_unknowns / D) ** (1.0 / d)))
    # exact integer arithmetic: at d = 1000 these counts exceed the float range
    fields = 8 * m**d * D * (3 * d + 2 * p)
    memory = 8 * 3 * nc * nc + 8 * D * D * n_c ** (2 * d) + fields + 8 * 10 * unknowns
    form = d * (d + 1) * m * D * D * n_c ** (2 * d)
    factor = nc**3 // 3
    matvec = 4 * d * d * m * n ** (d - 1) * max(m, n) * D + 6 * m**d * p * D
    step = form + factor + 4 * matvec + (0 if direct else inner_iterations * 2 * matvec)
    rate = flop_rate() if rate is None else rate
    seconds = 2.0 * iterations * _as_float(step) / rate
    return CostEstimate(d, D, degree, m, unknowns, residuals, memory, seconds, direct)


# -- the degree loop, shared by the constructions of this package ---------------------------------
def next_degree(
    records, tol: float, *, start: int, max_degree: int, max_step: int, first_step: int
) -> int | None:
    """The next degree of a degree-by-degree construction.

    `start` first; then the geometric decay of the defect between the last two degrees
    predicts the degree that reaches `tol` (with a 10% margin), at most `max_step` further
    (`first_step` further while no decay is seen); `None` once `max_degree` was done.

    Examples:
        >>> from riemflow.embedding.chebyshev import DegreeStep, next_degree
        >>> done = [DegreeStep(4, 5, 0.0, 1e-3, 1, 0.0),
        ...         DegreeStep(8, 9, 0.0, 1e-5, 1, 0.0)]  # half a decade per degree
        >>> next_degree(done, 1e-8, start=4, max_degree=64, max_step=8, first_step=4)
        15
    """
    if not records:
        return start
    last = records[-1]
    if last.degree >= max_degree:
        return None
    if len(records) >= 2 and records[-1].defect < records[-2].defect:
        a, b = records[-2], records[-1]
        slope = (math.log(b.defect) - math.log(a.defect)) / (b.degree - a.degree)
        step = max(1, min(max_step, int(math.ceil(1.1 * math.log(tol / b.defect) / slope))))
    else:
        step = first_step
    return min(max_degree, last.degree + step)


def admit_degree(
    est: CostEstimate,
    *,
    what: str,
    records,
    budget: Budget,
    time_limit: float | None,
    memory_limit: float,
    progress,
    kept: str = "",
) -> None:
    """Announce the next degree's estimate (`progress`) and refuse a degree that cannot fit.

    Args:
        est: the degree's `CostEstimate`.
        what: the construction, for the messages.
        records: the `DegreeStep`s completed so far.
        budget: the construction's `Budget` (its elapsed time).
        time_limit: seconds allowed in all (`None`: none).
        memory_limit: bytes a degree may use.
        progress: `None` or a callable receiving the `"estimate"` `ProgressEvent`.
        kept: appended to a `BudgetError`'s message.

    Raises:
        CostError: nothing computed yet and the degree exceeds the memory or the time left.
        BudgetError: the same after completed degrees; reports the best defect reached
            (`kept` says where it is kept).

    Examples:
        >>> from riemflow._ode import Budget
        >>> from riemflow.embedding.chebyshev import admit_degree, estimate_cost
        >>> est = estimate_cost(3, 7, 9, rate=1e9)
        >>> budget = Budget("demo", max_evaluations=1, time_limit=None)
        >>> admit_degree(est, what="demo", records=[], budget=budget, time_limit=None,
        ...              memory_limit=2**40, progress=None)  # fits: returns
        >>> admit_degree(est, what="demo", records=[], budget=budget, time_limit=None,
        ...              memory_limit=2**20, progress=None)
        Traceback (most recent call last):
        ...
        riemflow.errors.CostError: demo (d=3, D=7) cannot fit: degree 9: ...
    """
    remaining = math.inf if time_limit is None else time_limit - budget.elapsed
    if progress:
        progress(
            ProgressEvent(
                "estimate",
                f"next: {est} ({remaining:.0f} s left)",
                {**asdict(est), "remaining_seconds": remaining},
            )
        )
    if est.memory_bytes <= memory_limit and est.seconds <= remaining:
        return
    kind = "memory" if est.memory_bytes > memory_limit else "time"
    limit = (
        f"memory_limit={memory_limit / 2**30:.2f} GiB"
        if kind == "memory"
        else f"{remaining:.0f} s left of time_limit={time_limit:g} s"
    )
    if not records:
        raise CostError(
            f"{what} (d={est.d}, D={est.ambient_dim}) cannot fit: {est}, above {limit}",
            estimate=est,
        )
    raise BudgetError(
        f"{what} stopped before degree {est.degree}: {est}, above {limit}; best defect "
        f"{records[-1].defect:.3e} at degree {records[-1].degree}{kept}",
        budget=kind,
        residual=records[-1].defect,
        iterations=sum(r.iterations for r in records),
    )


# -- the initial map ------------------------------------------------------------------------------
def _initial_map(metric, lower, upper, D: int, degree: int, bump: float, rng) -> np.ndarray:
    """`F0(x) = A (x + Gamma(x, x) / 2) + normal quadratics` in box coordinates `x`.

    `A = g_x(0)^{1/2}` (the metric at the center in `x`-coordinates), `Gamma` its Christoffel
    symbols there (central differences of `g`), so `dF0^T dF0 = g_x + O(|x|^2)`; quadratic
    bumps `x_i x_j` of amplitude about `bump sqrt(max eig g_x(0))` in the coordinates
    `d, ..., D - 1` let the map bend.
    """
    d = lower.size
    c, h = 0.5 * (lower + upper), 0.5 * (upper - lower)

    def gx(point):
        return np.asarray(metric.hessian(point[None]), dtype=np.float64).reshape(d, d) * np.outer(
            h, h
        )

    Hx = gx(c)
    ev, U = np.linalg.eigh(Hx)
    A = U @ np.diag(np.sqrt(ev)) @ U.T
    step = 1e-4
    dH = np.zeros((d, d, d))
    for k in range(d):
        e = np.zeros(d)
        e[k] = step * h[k]
        dH[:, :, k] = (gx(c + e) - gx(c - e)) / (2 * step)
    # Gamma^l_ij = g^lk (d_i g_kj + d_j g_ki - d_k g_ij) / 2, with dH[a, b, k] = d_k g_ab
    term = np.transpose(dH, (0, 2, 1)) + dH - np.transpose(dH, (2, 0, 1))
    Gam = 0.5 * np.einsum("lk,kij->lij", np.linalg.inv(Hx), term)
    return _assemble_initial(A, Gam, d, D, degree, bump * math.sqrt(float(np.max(ev))), rng)


def _assemble_initial(A, Gam, d, D, degree, amp, rng):
    n = degree + 1
    C = np.zeros((n,) * d + (D,))

    def idx(*ks):
        a = [0] * d
        for k in ks:
            a[k] += 1
        return tuple(a)

    # x_i = T_1(x_i); x_i x_j = T_1 T_1 (i != j); x_i^2 = (T_0 + T_2) / 2
    for i in range(d):
        C[idx(i)][:d] += A[:, i]
    for i in range(d):
        for j in range(d):
            coef = 0.5 * A @ Gam[:, i, j]
            if i == j:
                C[idx()][:d] += 0.5 * coef
                C[idx(i, i)][:d] += 0.5 * coef
            else:
                C[idx(i, j)][:d] += coef
    pairs = [(i, j) for i in range(d) for j in range(i, d)]
    for q, (i, j) in enumerate(pairs):
        a = d + q
        if a >= D:
            break
        size = amp * math.exp(0.3 * rng.standard_normal())
        if i == j:
            C[idx()][a] += 0.25 * size
            C[idx(i, i)][a] += 0.25 * size
        else:
            C[idx(i, j)][a] += size * 0.5 * math.sqrt(2.0)
    return C


# -- the degree loop ------------------------------------------------------------------------------
@dataclass(frozen=True)
class CurvedResult:
    """What `curved_embedding` returns.

    Attributes:
        embedding: the `ChebyshevEmbedding`.
        check: its `DefectCheck` (`check.defect` is the honest defect).
        history: one `DegreeStep` per degree computed (resumed ones included).
        estimate: the cost estimate of the last degree.
        resumed_from: the degree read from the checkpoint (`None`: a fresh start).
    """

    embedding: ChebyshevEmbedding
    check: DefectCheck
    history: tuple
    estimate: CostEstimate | None = None
    resumed_from: int | None = None


def fingerprint_points(lower, upper) -> np.ndarray:
    """Three fixed points `(3, d)` of the box where a checkpoint records the metric, so that
    a resumed construction can tell it is the same metric.

    Examples:
        >>> import numpy as np
        >>> from riemflow.embedding.chebyshev import fingerprint_points
        >>> fingerprint_points(np.zeros(2), np.ones(2)).round(3).tolist()
        [[0.123, 0.223], [0.456, 0.556], [0.789, 0.889]]
    """
    t = np.array([0.123, 0.456, 0.789])[:, None]
    return lower + (upper - lower) * ((t + np.arange(lower.size) * 0.1) % 1.0)


def _save_checkpoint(path, lower, upper, D, C, records, fingerprint, name) -> None:
    meta = {
        "format": "riemflow-converse-checkpoint-1",
        "name": name,
        "records": [asdict(r) for r in records],
    }
    write_npz(
        path, meta, lower=lower, upper=upper, D=np.array(D), coefficients=C, fingerprint=fingerprint
    )


def _load_checkpoint(path, lower, upper, D, fingerprint):
    data, meta = read_npz(
        path,
        "riemflow-converse-checkpoint-1",
        argument="checkpoint",
        what="a riemflow converse checkpoint",
    )
    same = (
        np.allclose(data["lower"], lower, rtol=0, atol=0)
        and np.allclose(data["upper"], upper, rtol=0, atol=0)
        and int(data["D"]) == D
        and np.max(np.abs(data["fingerprint"] - fingerprint)) <= 1e-12 * np.max(np.abs(fingerprint))
    )
    if not same:
        raise InputError(
            f"`checkpoint` {path!r} belongs to another construction (box, ambient dimension or "
            "metric differ); remove it or pass another path",
            argument="checkpoint",
        )
    records = [DegreeStep(**r) for r in meta["records"]]
    return np.asarray(data["coefficients"]), records


def curved_embedding(
    metric,
    box: Box,
    *,
    tol: float,
    ambient_dim: int | None = None,
    max_degree: int = 32,
    start_degree: int | None = None,
    oversampling: float = 1.5,
    max_iter: int = 60,
    seed: int | None = 0,
    time_limit: float | None = 1800.0,
    memory_limit: float = MEMORY_LIMIT,
    direct_unknowns: int = DIRECT_UNKNOWNS,
    node_tol_factor: float = 0.05,
    check_factor: float = 0.5,
    bump: float = 0.3,
    progress=None,
    checkpoint=None,
    check_random: int = 20_000,
    check_seed: int | None = 12345,
    grid_factor: float = 4.0,
    continuation_stages: int = 40,
    fit: Callable = fit_degree,
    resume: CurvedResult | None = None,
    stall_degrees: int = 3,
) -> CurvedResult:
    """An isometric embedding of `(box, g)` into `R^D` with honest defect `<= tol`.

    See the module docstring for the method. Degrees start at `start_degree` and grow by
    the observed geometric decay of the defect (at most +4 per step, +2 without a decay
    yet) up to `max_degree`.

    Args:
        metric: anything with `.dim`, `.name` and `.hessian(points (B, d)) -> (B, d, d)`
            (a `Legendre`, a block of one, a metric pulled back to a box).
        box: a compact `Box`.
        tol: required honest defect (`honest_defect`).
        ambient_dim: `D` (default `d (d + 1) / 2 + 1`).
        max_degree: largest degree tried.
        start_degree: the first degree, where the continuation runs (default 8 for
            `d <= 2`, 3 above: a continuation at a degree that cannot represent the metric
            ends in a poor local solution that later degrees do not leave, and in `d = 2`
            degree 8 is cheap).
        oversampling: Lobatto nodes per axis / (degree + 1) (least squares).
        max_iter: Levenberg-Marquardt steps per fit.
        seed: seed of the initial map's bump amplitudes.
        time_limit: wall-time budget in seconds (default 1800; `None`: none).
        memory_limit: bytes a degree may use (estimated before it runs; default 8 GiB).
        direct_unknowns: see `fit_degree`.
        node_tol_factor: each fit stops at node residual `node_tol_factor * tol`.
        check_factor: a fit first stops at node residual `check_factor * tol` (when that is
            above `node_tol_factor * tol`), where the honest defect is measured: the degree
            is done when it meets `tol`, and its fit continues otherwise.
        bump: relative amplitude of the initial map's normal bumps.
        progress: `None`, `True` (a tqdm bar on stderr, `progress_bar`) or a callable receiving
            `ProgressEvent`s.
        checkpoint: optional path of an `.npz` file holding the last completed degree; an
            existing one (same box, `D` and metric) is resumed from.
        check_random: random points of each of the two random sets of `honest_defect`.
        check_seed: their seed.
        grid_factor: of `honest_defect`.
        continuation_stages: budget of continuation stages at the first degree.
        fit: the per-degree solver (`fit_degree`'s signature).
        resume: an earlier result on the same box and metric to continue from (its last
            map starts the next degree).
        stall_degrees: stop (`ConvergenceError`) when this many successive degrees fail to
            lower the best defect by 10%: the fits, not the degree, are then the limit, and
            more degrees only cost time.

    Returns:
        A `CurvedResult`.

    Raises:
        CostError: the first degree's estimated memory or time exceeds the limits (nothing
            was computed).
        BudgetError: the time budget ran out, or the next degree would not fit; reports the
            best defect reached (kept in `checkpoint` when given).
        ConvergenceError: `tol` not reached by `max_degree`, or the continuation stalled.
    """
    tol = as_positive(tol, "tol")
    max_degree = as_positive_int(max_degree, "max_degree")
    stall_degrees = as_positive_int(stall_degrees, "stall_degrees")
    if start_degree is None:
        start_degree = 8 if box.dim <= 2 else 3
    start_degree = min(as_positive_int(start_degree, "start_degree"), max_degree)
    oversampling = as_positive(oversampling, "oversampling")
    check_factor = as_positive(check_factor, "check_factor")
    if oversampling < 1.0:
        raise InputError(
            f"`oversampling` must be >= 1; got {oversampling}", argument="oversampling"
        )
    memory_limit = as_positive(memory_limit, "memory_limit")
    progress = as_progress(progress)
    lower, upper = np.asarray(box.lower, dtype=np.float64), np.asarray(box.upper, dtype=np.float64)
    d = lower.size
    p = d * (d + 1) // 2
    D = p + 1 if ambient_dim is None else as_positive_int(ambient_dim, "ambient_dim")
    if D <= d:
        raise InputError(
            f"a curved metric needs ambient_dim > d = {d}; got {D}", argument="ambient_dim"
        )
    name = getattr(metric, "name", "the metric")
    budget = Budget(
        f"the isometric embedding of {name}",
        max_evaluations=max_iter * (max_degree + continuation_stages + 2),
        time_limit=time_limit,
    )
    rate = flop_rate()
    fingerprint = np.asarray(metric.hessian(fingerprint_points(lower, upper)), dtype=np.float64)
    xs = lobatto_points(max(2, min(9, int(6561 ** (1.0 / d) + 1e-9))))  # <= 9^4 points
    coarse = np.stack(
        np.meshgrid(
            *[0.5 * (lower[k] + upper[k]) + 0.5 * (upper[k] - lower[k]) * xs for k in range(d)],
            indexing="ij",
        ),
        -1,
    ).reshape(-1, d)
    scale = float(np.max(np.abs(np.asarray(metric.hessian(coarse)))))

    def nodes(N):
        return max(N + 2, int(math.ceil(oversampling * (N + 1))))

    def estimate(N):
        return estimate_cost(d, D, N, n_nodes=nodes(N), direct_unknowns=direct_unknowns, rate=rate)

    records: list[DegreeStep] = []
    C = None
    resumed = None
    if resume is not None:
        C, records = resume.embedding.coefficients, list(resume.history)
        resumed = records[-1].degree
        if records[-1].defect <= tol:
            return CurvedResult(resume.embedding, resume.check, tuple(records), None, resumed)
    elif checkpoint is not None and os.path.exists(checkpoint):
        C, records = _load_checkpoint(checkpoint, lower, upper, D, fingerprint)
        resumed = records[-1].degree
        if progress:
            progress(
                ProgressEvent(
                    "resume",
                    f"resuming after degree {resumed} "
                    f"(defect {records[-1].defect:.2e}) from {checkpoint}",
                    {"degree": resumed, "defect": records[-1].defect},
                )
            )
        if records[-1].defect <= tol:
            F = ChebyshevEmbedding(C, lower, upper)
            check = honest_defect(
                F, metric, grid_factor=grid_factor, n_random=check_random, seed=check_seed
            )
            return CurvedResult(F, check, tuple(records), None, resumed)
    else:  # refuse at once what cannot fit even with one decade per degree from 1e-2
        optimistic = min(max_degree, start_degree + max(0, math.ceil(math.log10(1e-2 / tol))))
        first, last = estimate(start_degree), estimate(optimistic)
        total = sum(estimate(N).seconds for N in range(start_degree, optimistic + 1, 2))
        why = None
        if first.memory_bytes > memory_limit:
            why = (
                f"its first degree needs {first}, above memory_limit={memory_limit / 2**30:.2f} GiB"
            )
        elif last.memory_bytes > memory_limit:
            why = (
                f"tol={tol:g} needs about degree {optimistic} or more: {last}, above "
                f"memory_limit={memory_limit / 2**30:.2f} GiB"
            )
        elif time_limit is not None and total > time_limit:
            why = (
                f"tol={tol:g} needs about degree {optimistic} or more: ~{total:.0f} s "
                f"in all, above time_limit={time_limit:g} s"
            )
        if why is not None:
            raise CostError(
                f"the numerical embedding of {name} (d={d}, D={D}) cannot fit: {why}",
                estimate=first if first.memory_bytes > memory_limit else last,
            )
    calibration = 1.0
    best = None
    est = None
    while True:
        N = next_degree(
            records, tol, start=start_degree, max_degree=max_degree, max_step=4, first_step=2
        )
        if N is None:
            break
        est = estimate(N)
        est = CostEstimate(**{**asdict(est), "seconds": est.seconds * calibration})
        admit_degree(
            est,
            what=f"the numerical embedding of {name}",
            records=records,
            budget=budget,
            time_limit=time_limit,
            memory_limit=memory_limit,
            progress=progress,
            kept=f" (kept in {checkpoint}; a later call resumes from it)" if checkpoint else "",
        )
        t_wall, t_cpu = time.perf_counter(), time.process_time()
        n_nodes = nodes(N)
        col = Collocation(metric, lower, upper, N, n_nodes, scale)
        node_tol = node_tol_factor * tol
        options = dict(
            max_iter=max_iter, budget=budget, progress=progress, direct_unknowns=direct_unknowns
        )
        iterations = inner = 0

        def measure(C):
            return honest_defect(
                ChebyshevEmbedding(C, lower, upper),
                metric,
                grid_factor=grid_factor,
                n_random=check_random,
                seed=check_seed,
                grid_only_above=tol,
            )

        check, check_seconds = None, 0.0
        if C is None:
            C = _initial_map(metric, lower, upper, D, N, bump, np.random.default_rng(seed))
            C, its, inn = _continuation(
                col, C, node_tol, continuation_stages, fit, options, progress, name
            )
            iterations += its
            inner += inn
        else:
            grown = np.zeros((N + 1,) * d + (D,))
            keep = (slice(0, min(C.shape[0], N + 1)),) * d
            grown[keep] = C[keep]
            goals = [node_tol] if check_factor * tol <= node_tol else [check_factor * tol, node_tol]
            for goal in goals:  # stop early where the honest defect may already meet tol
                result = fit(col, grown, node_tol=goal, **options)
                grown = C = result.coefficients
                iterations += result.iterations
                inner += result.inner_iterations
                if goal == node_tol or result.node_residual > goal:
                    break
                check = measure(C)
                check_seconds += check.seconds
                if check.defect <= tol:
                    break
                check = None
        node_residual = float(np.max(np.abs(col.residual(col.first(C)))))
        solve_seconds = time.perf_counter() - t_wall - check_seconds
        model = estimate(N).seconds
        calibration = min(100.0, max(0.1, solve_seconds / max(model, 1e-9)))
        F = ChebyshevEmbedding(C, lower, upper)
        if check is None:
            check = measure(C)
        record = DegreeStep(
            degree=N,
            n_nodes=n_nodes,
            node_residual=node_residual,
            defect=check.defect,
            iterations=iterations,
            seconds=time.perf_counter() - t_wall,
            unknowns=C.size,
            measured=check.measured,
            inner_iterations=inner,
            check_seconds=check.seconds,
            cpu_seconds=time.process_time() - t_cpu,
        )
        records.append(record)
        if best is None or check.defect < best[1].defect:
            best = (F, check)
        if checkpoint is not None:
            _save_checkpoint(checkpoint, lower, upper, D, C, records, fingerprint, name)
        if progress:
            progress(
                ProgressEvent(
                    "degree",
                    f"degree {N}: defect {check.defect:.2e} (nodes {node_residual:.2e}), "
                    f"{iterations} steps, {record.seconds:.1f} s",
                    asdict(record),
                )
            )
        if check.defect <= tol:
            return CurvedResult(F, check, tuple(records), est, resumed)
        if len(records) > stall_degrees:
            before = min(r.defect for r in records[:-stall_degrees])
            if min(r.defect for r in records[-stall_degrees:]) > 0.9 * before:
                break
    table = ", ".join(f"degree {h.degree}: {h.defect:.2e}" for h in records)
    stalled = records[-1].degree < max_degree
    raise ConvergenceError(
        f"isometric embedding of {name} into R^{D}: defect "
        f"{min(h.defect for h in records):.3e} (best) above tol={tol:g} after degrees "
        f"{[h.degree for h in records]} ({table})"
        + (f"; the defect stopped falling for {stall_degrees} degrees" if stalled else "")
        + "; raise `max_degree`, `ambient_dim` or `tol`",
        residual=min(h.defect for h in records),
        iterations=sum(h.iterations for h in records),
    )


def _continuation(col, C, node_tol, stages, fit, options, progress, name):
    """From the metric of the initial map to the target, at the first degree: stage `t`
    fits `(1 - t) g(F0) + t g`; a stage is accepted when it reaches its goal (`1e-3`, or
    `node_tol` at `t = 1`) or halves the residual; the step in `t` doubles after easy stages
    and halves after failed ones."""
    g0 = col.metric(col.first(C))
    t_now, dt = 0.0, 0.25
    iterations = inner = 0
    for _ in range(stages):
        t_try = min(1.0, t_now + dt)
        target = (1 - t_try) * g0 + t_try * col.target
        goal = node_tol if t_try >= 1.0 else max(node_tol, 1e-3)
        before = float(np.max(np.abs(col.residual(col.first(C), target))))
        result = fit(
            col,
            C,
            target=target,
            node_tol=goal,
            **{**options, "max_iter": options["max_iter"] if t_try >= 1.0 else 5},
        )
        iterations += result.iterations
        inner += result.inner_iterations
        ok = result.node_residual <= max(goal, 1e-3) or (
            result.reason != "tol" and result.node_residual < 0.5 * before
        )
        if progress:
            progress(
                ProgressEvent(
                    "continuation",
                    f"continuation t={t_try:.3f}: node residual {result.node_residual:.2e} "
                    f"({'accepted' if ok else 'rejected'})",
                    {"t": t_try, "accepted": ok, "node_residual": result.node_residual},
                )
            )
        if ok:
            C, t_now = result.coefficients, t_try
            if t_now >= 1.0:
                return C, iterations, inner
            if result.iterations <= 3:
                dt = min(1.0 - t_now, 2 * dt)
        else:
            dt *= 0.5
    raise ConvergenceError(
        f"isometric embedding of {name}: the continuation from the flat map stalled at "
        f"t = {t_now:.3f} (degree {col.degree}); try another `seed` or a larger `ambient_dim`",
        residual=float(np.max(np.abs(col.residual(col.first(C))))),
        iterations=iterations,
    )

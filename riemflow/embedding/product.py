"""Products of block embeddings, for block-separable potentials `R = sum_b R_b(w_b)`
([Concepts: the converse via Nash embedding](concepts.md#the-converse-via-nash-embedding)).

`hess R` is block diagonal, so `F = (F_1(w_1), ..., F_B(w_B))` with `dF_b^T dF_b = hess R_b`
is isometric (`dF` is block diagonal with blocks `dF_b`, `dF^T dF = diag(dF_b^T dF_b)`), and
`D = sum_b D_b`. Blocks that are the same function up to a shift share one construction:
block `b` in group `g` is `F_g(w_b - shift_b)`.

Everything is evaluated group by group on the stacked blocks `(batch * n_members, d_b)`,
so one call of the group's embedding serves all its members: evaluation, Jacobians, the
block-diagonal metric and its inverse (`sharp`) cost `O(d)` (`d_b^3` per block), never a
`d x d` matrix.
"""

from __future__ import annotations

from dataclasses import dataclass

import autograd.numpy as anp
import numpy as np

from ._cheb1d import interpolate
from .base import Embedding

__all__ = ["ProductEmbedding", "GroupEmbedding", "IntervalEmbedding"]


@dataclass(frozen=True)
class GroupEmbedding:
    """One construction shared by several blocks.

    Attributes:
        embedding: `F_g` on the block dimension `d_b` (an `Embedding`).
        index: `(n, d_b)` coordinates of each member block in `w`.
        shift: `(n, d_b)`: member `i` evaluates `F_g(w[index[i]] - shift[i])`.
        defect: the isometry defect of `F_g` on its block domain (closed points).
        scale: `max |hess R_b|` there (to combine block defects into the product's).
        construction: how `F_g` was built.
        domain: the representative's block domain (for measurements).
        seconds: wall time of its construction.
    """

    embedding: Embedding
    index: np.ndarray
    shift: np.ndarray
    defect: float
    scale: float
    construction: str
    domain: object = None
    seconds: float = 0.0

    @property
    def n(self) -> int:
        return self.index.shape[0]

    @property
    def block_dim(self) -> int:
        return self.index.shape[1]


class IntervalEmbedding(Embedding):
    """Exact embedding of a one-dimensional block: `F(w) = int_lo^w sqrt(h(s)) ds`.

    `sqrt(h)` is interpolated by a Chebyshev series to round-off  and
    integrated exactly, so `F' = sqrt(h)` up to ~1e-15 relative and every evaluation is a
    vectorized Clenshaw recurrence (riemflow's `separable_embedding` calls `quad` per point).
    """

    def __init__(self, hessian_1d, lower: float, upper: float, *, rtol: float = 1e-15):
        self.root = interpolate(
            lambda s: np.sqrt(np.asarray(hessian_1d(s))), lower, upper, rtol=rtol
        )
        self.primitive = self.root.antiderivative(lower)
        super().__init__(
            lambda w: self.primitive(w[..., 0])[..., None],
            1,
            1,
            f"interval: F = int sqrt(h), Chebyshev degree {self.root.degree}",
        )

    def jacobian(self, w) -> np.ndarray:
        arr = np.asarray(w, dtype=np.float64)
        out = self.root.values(arr[..., 0])[..., None, None]
        return out


class ProductEmbedding(Embedding):
    """`F(w) = (F_g(w[index_g[i]] - shift_g[i]))_{g, i}`: a product of shared block embeddings.

    Attributes:
        groups: the `GroupEmbedding`s; dim: `d`; ambient_dim: `sum_g n_g D_g`.
    """

    def __init__(self, groups, dim: int):
        self.groups = list(groups)
        D = sum(g.n * g.embedding.ambient_dim for g in self.groups)
        kinds = ", ".join(f"{g.n} x [{g.construction}]" for g in self.groups)
        super().__init__(
            self._evaluate, dim, D, f"product of {sum(g.n for g in self.groups)} blocks: {kinds}"
        )

    # -- evaluation (autograd-traceable) ---------------------------------------------------------
    def _evaluate(self, w):
        batch = anp.shape(w)[:-1]
        parts = []
        for g in self.groups:
            Wg = w[..., g.index] - g.shift  # batch + (n, d_b)
            flat = anp.reshape(Wg, (-1, g.block_dim))
            Fg = g.embedding(flat)
            parts.append(anp.reshape(Fg, batch + (g.n * g.embedding.ambient_dim,)))
        return anp.concatenate(parts, axis=-1)

    # -- block calculus (NumPy, vectorized per group) --------------------------------------------
    def jacobian_blocks(self, w) -> list[np.ndarray]:
        """Per group `(B, n_g, D_g, d_b)`."""
        wb = np.atleast_2d(np.asarray(w, dtype=np.float64))
        out = []
        for g in self.groups:
            flat = (wb[:, g.index] - g.shift).reshape(-1, g.block_dim)
            J = np.asarray(g.embedding.jacobian(flat)).reshape(wb.shape[0], g.n, -1, g.block_dim)
            out.append(J)
        return out

    def metric_blocks(self, w) -> list[np.ndarray]:
        """Per group `(B, n_g, d_b, d_b)`: the diagonal blocks of `dF^T dF`."""
        return [np.einsum("bnai,bnaj->bnij", J, J) for J in self.jacobian_blocks(w)]

    def sharp(self, w, covector) -> np.ndarray:
        """`(dF^T dF)^{-1} covector` at `w`, block by block: `(B, d)` (or `(d,)`)."""
        wb = np.atleast_2d(np.asarray(w, dtype=np.float64))
        cb = np.atleast_2d(np.asarray(covector, dtype=np.float64))
        out = np.empty_like(cb)
        for g, G in zip(self.groups, self.metric_blocks(wb), strict=True):
            rhs = cb[:, g.index]  # (B, n, d_b)
            out[:, g.index] = np.linalg.solve(G, rhs[..., None])[..., 0]
        return out[0] if np.ndim(w) == 1 else out

    def solve(self, w, covectors) -> np.ndarray:
        """`(dF^T dF)^{-1} c` for covectors `c: (B, k, d)` at `w: (B, d)`, block by block:
        `(B, k, d)` (the `solve` of a `spaces.metric_space`)."""
        wb = np.atleast_2d(np.asarray(w, dtype=np.float64))
        cb = np.asarray(covectors, dtype=np.float64)
        out = np.empty_like(cb)
        for g, G in zip(self.groups, self.metric_blocks(wb), strict=True):
            rhs = np.moveaxis(cb[:, :, g.index], 1, -1)  # (B, n, d_b, k)
            out[:, :, g.index] = np.moveaxis(np.linalg.solve(G, rhs), -1, 1)
        return out

    def metric(self, w) -> np.ndarray:
        """Dense `dF^T dF` `(B, d, d)` (or `(d, d)`), assembled from the blocks."""
        wb = np.atleast_2d(np.asarray(w, dtype=np.float64))
        out = np.zeros((wb.shape[0], self.dim, self.dim))
        for g, G in zip(self.groups, self.metric_blocks(wb), strict=True):
            rows = g.index[:, :, None]
            cols = g.index[:, None, :]
            out[:, rows, cols] = G
        return out[0] if np.ndim(w) == 1 else out

    def jacobian(self, w) -> np.ndarray:
        """Dense `dF` `(B, D, d)` (only for moderate `d`)."""
        wb = np.atleast_2d(np.asarray(w, dtype=np.float64))
        out = np.zeros((wb.shape[0], self.ambient_dim, self.dim))
        start = 0
        for g, J in zip(self.groups, self.jacobian_blocks(wb), strict=True):
            Dg = g.embedding.ambient_dim
            for i in range(g.n):
                out[:, start + i * Dg : start + (i + 1) * Dg, g.index[i]] = J[:, i]
            start += g.n * Dg
        return out[0] if np.ndim(w) == 1 else out

    def combined_defect(self) -> float:
        """The product's isometry defect from the blocks' (block-diagonal metrics):
        `max_g defect_g scale_g / max_g scale_g`."""
        scale = max(g.scale for g in self.groups)
        return max(g.defect * g.scale for g in self.groups) / scale

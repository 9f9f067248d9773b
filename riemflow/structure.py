"""Separable structure of a map: blocks of outputs and inputs, identical blocks, mixings.

A map `G: R^D -> R^d` is *separable* when its outputs fall into blocks that depend on
disjoint groups of inputs. On the Euclidean metric the gradient fields of different
blocks then have disjoint supports: their brackets vanish exactly, the joint flow splits
into one flow per block, and the forward theorem's potential is a sum over blocks,
`R(w) = sum_b R_b(w_b)` ([Concepts: the forward theorem](concepts.md#the-forward-theorem)). This
module finds that structure; `riemflow.separable` builds the potential from it.

- **Blocks** are the connected components of the bipartite graph "output `i` depends on
  input `j`" (`connected_blocks`, for any sparsity pattern: the converse construction reads
  block-separable Hessians the same way). The pattern is the sparsity of `dG` at a random
  point of the domain, computed the cheaper way (`dependency_pattern`): `d` Jacobian rows
  by one batched pullback (exact structural zeros), or `D` batched evaluations at
  `x + h_j e_j` (an output depends on `j` if it changes). It is then checked by random
  probes at `x_init` and other samples (`verify_blocks`): each probe moves the inputs of a
  random half of the blocks, and the outputs of the other half must not change. A given
  missed dependency survives one probe with probability 3/4, all `n_probes = 48` with
  probability `1e-6`; if one is found, the pattern is the union over all points. Inputs no
  output depends on are *dead* (the flow never moves them).
- **Identical blocks.** Blocks of the same sizes are evaluated at the same local inputs in
  one call of `G`, for a few random draws; equal outputs (to round-off) make them one
  *family*. Scalar blocks of one family with the same local initialization are the same
  one-dimensional problem and share one representation.
- **Output mixing** `G = A g` with `g` separable into scalar blocks: every column of `dG(x)`
  is `A[:, k] dg_k/dx_j`, parallel to a column of `A`. Clustering the normalized columns
  recovers `A` up to column scales (absorbed into `g`); if there are exactly `d` classes and
  `A` is well conditioned, `A^{-1} G` must split into scalar blocks (now with a relative
  threshold `mixing_rtol`: its zeros are round-off). `A` can also be declared. Examples:
  the commuting quadratic families in their common eigenbasis, `M (u^3 + u - v^3 - v)`.
- **Input mixing** `G(x) = g(Bx)` with `B` orthogonal (only then is the Euclidean metric,
  and with it the joint flow, preserved): the structure is that of `g` from `B x_init`.
  `B` is declared (`inner=B`) or, for a map that is one dense block of not too many
  inputs, tried from the eigenvectors of `hess_x <c, G>` at a random point for a random
  covector `c` (`find_input_mixing`; exact for one-input blocks, such as commuting
  quadratic families in their common eigenbasis).

Examples:
    >>> import numpy as np, riemflow as rf
    >>> G, x0 = rf.models.diagonal_network(4, depth=3, form="product",
    ...                                    init=np.linspace(0.5, 1.5, 24))
    >>> s = rf.structure.find_structure(G, x0)
    >>> s.n_blocks, bool(np.all(s.scalar)), s.n_problems
    (4, True, 4)
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field

import autograd.numpy as anp
import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from threadpoolctl import threadpool_limits

from ._validation import as_float_array, as_positive, as_positive_int
from .errors import InputError, ShapeError
from .parametrization import Parametrization

__all__ = [
    "BatchedMap",
    "Structure",
    "block_parametrization",
    "connected_blocks",
    "dependency_pattern",
    "find_input_mixing",
    "find_output_mixing",
    "find_structure",
    "verify_blocks",
]


class BatchedMap:
    """`g = T G` (or `G` itself) on batches of points: values, pullbacks, Jacobians.

    Plain arrays in and out, no validation and no finiteness checks (points outside the
    domain give NaN rows, which callers treat as "outside"). Pullbacks use `G`'s
    closed-form `vjp` when it has one, else one reverse pass for the whole batch.

    Args:
        G: a `Parametrization` on a Euclidean space (so pullbacks are gradient fields).
        transform: optional `(d', d)` matrix `T`; the map is then `x -> T G(x)`.

    Attributes:
        input_dim: `D`.
        output_dim: `d'`.
        rows: rows of `G` evaluated so far (values and pullbacks): the cost measure.

    Examples:
        >>> import numpy as np, riemflow as rf
        >>> G, x0 = rf.models.hadamard_product(2, init=(1.0, 3.0))
        >>> rf.structure.BatchedMap(G).jacobian(x0).tolist()
        [[3.0, 0.0, 1.0, 0.0], [0.0, 3.0, 0.0, 1.0]]
    """

    def __init__(self, G: Parametrization, transform=None):
        self.G = G
        self.T = None if transform is None else np.asarray(transform, dtype=np.float64)
        self.input_dim = G.input_dim
        self.output_dim = G.output_dim if self.T is None else self.T.shape[0]
        self.rows = 0
        self._ratio: float | None = None

    def values(self, X) -> np.ndarray:
        """`g(X)`: `(B, d')` for `X: (B, D)`."""
        X = np.asarray(X, dtype=np.float64)
        self.rows += X.shape[0]
        with np.errstate(all="ignore"):
            W = np.asarray(self.G.traced.values(X), dtype=np.float64)
            return W if self.T is None else W @ self.T.T

    def pullback(self, X, C) -> tuple[np.ndarray, np.ndarray]:
        """`(g(X), dg(X)^T C)`: `(B, d')` and `(B, D)` for `X: (B, D)`, `C: (B, d')`."""
        X = np.asarray(X, dtype=np.float64)
        C = np.asarray(C, dtype=np.float64)
        self.rows += X.shape[0]
        with np.errstate(all="ignore"):
            W, pull = self.G.pullback(X)
            P = np.asarray(pull(C if self.T is None else C @ self.T), dtype=np.float64)
            return (W if self.T is None else W @ self.T.T), P

    def jacobian(self, x) -> np.ndarray:
        """`dg(x)`: `(d', D)`, one batched pullback with the unit covectors."""
        x = np.asarray(x, dtype=np.float64)
        rows = np.broadcast_to(x, (self.output_dim, self.input_dim)).copy()
        return self.pullback(rows, np.eye(self.output_dim))[1]

    def cost_ratio(self, x, rows: int = 32) -> float:
        """Measured cost of a pullback row over a value row (at least 1), on `rows` copies
        of `x`; measured once."""
        if self._ratio is None:
            X = np.broadcast_to(np.asarray(x, dtype=np.float64), (rows, self.input_dim)).copy()
            C = np.ones((rows, self.output_dim))
            seconds = []
            for call in (lambda: self.values(X), lambda: self.pullback(X, C)):
                call()
                start = time.perf_counter()
                for _ in range(3):
                    call()
                seconds.append(time.perf_counter() - start)
            self._ratio = max(seconds[1] / max(seconds[0], 1e-9), 1.0)
        return self._ratio


@dataclass(frozen=True)
class Structure:
    """The blocks of a separable map (see the module docstring).

    Attributes:
        parametrization: the map the blocks describe: `G`, or `g = G(B^T .)` for a declared
            input mixing `B`.
        x_init: its initialization `(D,)` (`B x_init` with an input mixing).
        blocks: `(outputs, inputs)` index arrays (ascending), one pair per block.
        dead: inputs no output depends on.
        block_of_output: `(d,)` block of each output.
        scalar: `(n_blocks,)` whether the block has one output.
        family: `(n_blocks,)` function family of each block (identical local maps).
        problem: `(n_blocks,)` distinct one-dimensional problem of each scalar block (its
            family and local initialization); `-1` for multi-output blocks.
        mixing: `A` with `G = A g` and `g` split into the blocks (`None`: the identity).
        inner: the declared orthogonal input mixing `B` (`None`: the identity).
        n_points: points the sparsity was measured or verified on.
        rows: rows of `G` evaluated by the detection.
        seconds: time spent.
        notes: what was found and how, for reports.
    """

    parametrization: Parametrization
    x_init: np.ndarray
    blocks: list
    dead: np.ndarray
    block_of_output: np.ndarray
    scalar: np.ndarray
    family: np.ndarray
    problem: np.ndarray
    mixing: np.ndarray | None = None
    inner: np.ndarray | None = None
    n_points: int = 0
    rows: int = 0
    seconds: float = 0.0
    notes: list = field(default_factory=list)

    @property
    def n_blocks(self) -> int:
        """Number of blocks."""
        return len(self.blocks)

    @property
    def separable(self) -> bool:
        """Whether the block construction applies: more than one block, or every block
        with one output (a single output, or scalar blocks after an output mixing)."""
        return len(self.blocks) > 1 or bool(np.all(self.scalar))

    @property
    def n_problems(self) -> int:
        """Number of distinct one-dimensional problems (shared by identical scalar blocks)."""
        return int(self.problem.max()) + 1 if np.any(self.problem >= 0) else 0

    @property
    def n_bracket_pairs(self) -> int:
        """Pairs of outputs whose brackets can be non-zero: those inside one block."""
        return int(sum(len(o) * (len(o) - 1) // 2 for o, _ in self.blocks))

    def __str__(self) -> str:
        sizes = np.array([len(o) for o, _ in self.blocks])
        text = (
            f"{self.n_blocks} blocks ({int(np.sum(sizes == 1))} scalar, "
            f"{int(np.sum(sizes > 1))} multi-output), {self.dead.size} dead inputs, "
            f"{len(np.unique(self.family))} function families, {self.n_problems} distinct "
            "1-D problems"
        )
        if self.mixing is not None:
            text += ", output mixing A (A^-1 G separable)"
        if self.inner is not None:
            text += ", orthogonal input mixing B"
        return text


def connected_blocks(pattern) -> tuple[list, np.ndarray]:
    """The connected components of a sparsity pattern, read as a bipartite graph.

    Row `i` and column `j` are joined when `pattern[i, j]` is true; a block is a set of rows
    and the columns joined to them. For a Jacobian pattern the rows are outputs and the
    columns inputs; for a symmetric Hessian pattern each block's rows equal its columns.

    Args:
        pattern: boolean `(m, n)`.

    Returns:
        `(blocks, unused)`: a list of `(rows, columns)` index arrays (ascending; blocks
        ordered by their first row; a row with no entry is a block with no columns), and
        the columns joined to no row.

    Raises:
        ShapeError: `pattern` is not 2-D.

    Examples:
        >>> import numpy as np
        >>> from riemflow.structure import connected_blocks
        >>> P = np.array([[1, 0, 1, 0], [0, 1, 0, 0], [0, 0, 1, 0]], dtype=bool)
        >>> blocks, unused = connected_blocks(P)
        >>> [(r.tolist(), c.tolist()) for r, c in blocks], unused.tolist()
        ([([0, 2], [0, 2]), ([1], [1])], [3])
    """
    pattern = np.asarray(pattern, dtype=bool)
    if pattern.ndim != 2:
        raise ShapeError(
            f"`pattern` must be a 2-D boolean array; got shape {pattern.shape}",
            argument="pattern",
        )
    m, n = pattern.shape
    rows, cols = np.nonzero(pattern)
    graph = coo_matrix((np.ones(rows.size), (rows, m + cols)), shape=(m + n, m + n))
    _, labels = connected_components(graph, directed=False)
    used = np.zeros(n, dtype=bool)
    used[cols] = True
    order: dict[int, int] = {}
    members: list[tuple[list[int], list[int]]] = []
    for i in range(m):
        label = int(labels[i])
        if label not in order:
            order[label] = len(members)
            members.append(([], []))
        members[order[label]][0].append(i)
    for j in np.flatnonzero(used):
        members[order[int(labels[m + j])]][1].append(int(j))
    blocks = [(np.array(r, dtype=int), np.array(c, dtype=int)) for r, c in members]
    return blocks, np.flatnonzero(~used)


def _perturbed(x, rng):
    """`x_j` moved by a random 20-50% of its size (0.1 times that at 0): stays in its
    orthant, so maps with an orthant domain stay finite."""
    factor = rng.uniform(0.2, 0.5, size=x.size)
    return np.where(x != 0.0, x * (1.0 + factor), 0.1 * factor)


def dependency_pattern(
    bmap: BatchedMap, x, *, rtol: float = 0.0, seed: int | None = 0, chunk: int = 256
) -> np.ndarray:
    """The sparsity pattern of `dg(x)` at one point: boolean `(d, D)`.

    Computed the cheaper way: the `d` rows of the Jacobian by one batched pullback (exact
    structural zeros), or, when `d` pullback rows cost more than `D` value rows
    (`BatchedMap.cost_ratio`), `D` evaluations at `x + h_j e_j` in batches of `chunk`
    (`h_j` a random 20-50% of `|x_j|`).

    Args:
        bmap: the map.
        x: the point `(D,)`.
        rtol: `0`: every non-zero entry counts; `> 0`: entries below `rtol` times their
            column's largest do not (transformed maps `A^{-1} G`, whose zeros are
            round-off).
        seed: seed of the moves.
        chunk: rows per batch of the differences.

    Returns:
        `pattern[i, j]`: output `i` depends on input `j` (non-finite entries count).

    Examples:
        >>> import numpy as np, riemflow as rf
        >>> from riemflow.structure import BatchedMap, dependency_pattern
        >>> G, x0 = rf.models.hadamard_product(2, init=(1.0, 3.0))
        >>> dependency_pattern(BatchedMap(G), x0).astype(int).tolist()
        [[1, 0, 1, 0], [0, 1, 0, 1]]
    """
    rng = np.random.default_rng(seed)
    x = np.asarray(x, dtype=np.float64)
    d, D = bmap.output_dim, bmap.input_dim
    if d * bmap.cost_ratio(x) < D:
        M = np.abs(bmap.jacobian(x))
    else:
        M = np.zeros((d, D))
        moved = _perturbed(x, rng)
        for start in range(0, D, chunk):
            idx = np.arange(start, min(start + chunk, D))
            X = np.broadcast_to(x, (idx.size + 1, D)).copy()  # row 0: the base point
            X[1 + np.arange(idx.size), idx] = moved[idx]
            W = bmap.values(X)
            with np.errstate(invalid="ignore"):
                M[:, idx] = np.abs(W[1:] - W[0]).T
    M = np.where(np.isfinite(M), M, np.inf)  # left the domain: a dependency (the safe side)
    if rtol > 0:
        top = np.max(np.where(np.isfinite(M), M, 0.0), axis=0)
        return M > rtol * top
    return M > 0


def verify_blocks(
    bmap: BatchedMap, points, blocks, *, n_probes: int = 48, rtol: float = 0.0, seed=0
) -> int:
    """Random probes of a block structure: the number of probes that found an output
    depending on another block's inputs (0: consistent).

    At each point, `n_probes - 1` random halvings of the blocks, all in one batched
    evaluation with the point itself as row 0: the inputs of the blocks in one half move
    (as in `dependency_pattern`), and every output of the other half must keep its value
    (to `rtol` times the largest change or value, 0: exactly).

    Args:
        bmap: the map.
        points: `(P, D)` points.
        blocks: `(outputs, inputs)` pairs.
        n_probes: probes per point (a given missed dependency survives each with
            probability 3/4).
        rtol: relative threshold of a change.
        seed: seed of the halvings and moves.

    Examples:
        >>> import numpy as np, riemflow as rf
        >>> from riemflow.structure import BatchedMap, verify_blocks
        >>> G, x0 = rf.models.hadamard_product(2, init=(1.0, 3.0))
        >>> verify_blocks(BatchedMap(G), x0[None, :], [([0], [0, 2]), ([1], [1, 3])])
        0
        >>> verify_blocks(BatchedMap(G), x0[None, :], [([0], [0, 1]), ([1], [2, 3])]) > 0
        True
    """
    rng = np.random.default_rng(None if seed is None else seed + 1)
    D = bmap.input_dim
    block_of_input = -np.ones(D, dtype=int)
    block_of_output = np.empty(bmap.output_dim, dtype=int)
    for b, (outs, ins) in enumerate(blocks):
        block_of_input[ins] = b
        block_of_output[outs] = b
    live = block_of_input >= 0
    found = 0
    for x in np.atleast_2d(np.asarray(points, dtype=np.float64)):
        halves = rng.random((n_probes, len(blocks))) < 0.5
        halves[0] = False  # row 0: the point itself (same batch, same rounding)
        move = np.zeros((n_probes, D), dtype=bool)
        move[:, live] = halves[:, block_of_input[live]]
        W = bmap.values(np.where(move, _perturbed(x, rng), x))
        with np.errstate(invalid="ignore"):
            change = np.abs(W - W[0])
        still = ~halves[:, block_of_output]  # outputs whose block did not move
        finite = np.where(np.isfinite(change), change, 0.0)
        noise = rtol * np.maximum(
            np.max(finite, axis=1, keepdims=True), np.max(np.abs(W[0]), initial=0.0)
        )
        found += int(np.sum(np.any(still & ~(change <= noise), axis=1)))
    return found


def find_output_mixing(bmap: BatchedMap, x, *, rtol: float = 1e-9, max_condition: float = 1e10):
    """`A` `(d, d)` with `G = A g` and every input of `g` feeding one output, from the
    columns of `dG(x)` (see the module docstring), or `None` if the columns do not fall
    into `d` classes of parallel vectors (cosine within `rtol` of 1) or `A` has a
    condition number above `max_condition`.

    Examples:
        >>> import autograd.numpy as anp, numpy as np, riemflow as rf
        >>> from riemflow.structure import BatchedMap, find_output_mixing
        >>> M = np.array([[1.0, 0.5], [-0.3, 1.0]])
        >>> G = rf.Parametrization(lambda x: anp.einsum("ij,...j->...i", M, x**3 + x), 2)
        >>> A = find_output_mixing(BatchedMap(G), np.array([0.5, 0.8]))
        >>> bool(np.allclose(A / np.linalg.norm(A, axis=0), M / np.linalg.norm(M, axis=0)))
        True
    """
    J = bmap.jacobian(x)
    d = J.shape[0]
    norms = np.linalg.norm(J, axis=0)
    if not np.all(np.isfinite(norms)) or np.max(norms, initial=0.0) == 0.0:
        return None
    live = np.flatnonzero(norms > 1e-300 * np.max(norms))
    C = J[:, live] / norms[live]
    lead = np.argmax(np.abs(C), axis=0)
    C = C * np.sign(C[lead, np.arange(C.shape[1])])
    directions = []
    assigned = np.zeros(C.shape[1], dtype=bool)
    while not np.all(assigned):
        j = int(np.argmin(assigned))
        assigned |= (C.T @ C[:, j] > 1.0 - rtol) & ~assigned
        directions.append(C[:, j])
        if len(directions) > d:
            return None
    if len(directions) != d:
        return None
    A = np.stack(directions, axis=1)
    return A if np.linalg.cond(A) <= max_condition else None


def find_input_mixing(G: Parametrization, x, *, seed: int | None = 0) -> np.ndarray:
    """A candidate orthogonal `B` `(D, D)` with `G(x) = A g(Bx)`, `g` separable into
    one-input blocks: the eigenvectors (as rows) of `hess_x <c, G>(x)` for a random
    covector `c`. For such maps that Hessian is `B^T diag(sum_i c_i A_ik g_k''(z_k)) B`, so
    its eigenvectors are the rows of `B` (the commuting quadratic families: the common
    eigenbasis of the `A_i`). A candidate only: `find_structure` keeps it if `G(B^T z)`
    splits into blocks.

    Examples:
        >>> import autograd.numpy as anp, numpy as np, riemflow as rf
        >>> V, _ = np.linalg.qr(np.random.default_rng(0).standard_normal((3, 3)))
        >>> A = np.stack([V @ np.diag(lam) @ V.T for lam in np.eye(3) + 0.5])
        >>> def quadratics(x):
        ...     return 0.5 * anp.einsum("kij,...i,...j->...k", A, x, x)
        >>> G = rf.Parametrization(quadratics, 3)
        >>> B = rf.structure.find_input_mixing(G, np.array([0.3, -0.2, 0.9]))
        >>> bool(np.allclose(np.abs(B @ V), np.eye(3)[np.argmax(np.abs(B @ V), axis=1)]))
        True
    """
    from autograd import hessian

    x = np.asarray(x, dtype=np.float64)
    c = np.random.default_rng(seed).standard_normal(G.output_dim)
    with warnings.catch_warnings():  # a linear map has a zero Hessian: not an error here
        warnings.filterwarnings("ignore", message="Output seems independent of input")
        H = np.asarray(hessian(lambda z: anp.sum(c * G.traced.values(z[None, :])[0]))(x))
    _, vectors = np.linalg.eigh(0.5 * (H + H.T))
    return vectors.T


def _families(bmap: BatchedMap, x0, blocks, rng, n_trials: int, rtol: float):
    """Family index per block: blocks whose local maps agree at common random inputs."""
    family = -np.ones(len(blocks), dtype=int)
    by_size: dict[tuple[int, int], list[int]] = {}
    for b, (outs, ins) in enumerate(blocks):
        by_size.setdefault((len(outs), len(ins)), []).append(b)
    count = 0
    for (_, n_in), members in by_size.items():
        if len(members) == 1 or n_in == 0:
            for b in members:
                family[b], count = count, count + 1
            continue
        # local inputs near the first member's initialization (same orthant), moved by
        # random factors, given to every member in one evaluation per trial
        ref = x0[blocks[members[0]][1]]
        ref = np.where(ref != 0.0, ref, 0.5)
        X = np.broadcast_to(x0, (n_trials, x0.size)).copy()
        trials = ref * rng.uniform(0.5, 1.5, size=(n_trials, n_in))
        for b in members:
            X[:, blocks[b][1]] = trials
        W = bmap.values(X)
        signature = np.stack(
            [W[:, blocks[b][0]].ravel() for b in members]
        )  # (members, trials * outputs)
        left = list(range(len(members)))
        while left:
            first = signature[left[0]]
            tol = 8.0 * rtol * np.maximum(np.abs(first), 1e-300) + 1e-300
            # a block always matches itself (its signature may hold NaN, which equals nothing)
            same = [left[0]] + [m for m in left[1:] if np.all(np.abs(signature[m] - first) <= tol)]
            for m in same:
                family[members[m]] = count
            count += 1
            left = [m for m in left if m not in same]
    return family


def _problems(x0, blocks, family, scalar):
    """Distinct one-dimensional problems: (family, local initialization) of scalar blocks."""
    problem = -np.ones(len(blocks), dtype=int)
    seen: dict[tuple[int, bytes], int] = {}
    for b, (_, ins) in enumerate(blocks):
        if scalar[b]:
            problem[b] = seen.setdefault((int(family[b]), x0[ins].tobytes()), len(seen))
    return problem


def _declared_blocks(blocks, d: int, D: int):
    """Validate declared blocks: outputs partition `range(d)`, inputs disjoint in `range(D)`."""
    try:
        pairs = [
            (np.sort(np.asarray(o, dtype=int).ravel()), np.sort(np.asarray(i, dtype=int).ravel()))
            for o, i in blocks
        ]
    except (TypeError, ValueError) as exc:
        raise InputError(
            f"`blocks` must be a list of (outputs, inputs) index lists; got {blocks!r}",
            argument="blocks",
        ) from exc
    outs = np.concatenate([o for o, _ in pairs]) if pairs else np.array([], dtype=int)
    ins = np.concatenate([i for _, i in pairs]) if pairs else np.array([], dtype=int)
    if not np.array_equal(np.sort(outs), np.arange(d)):
        raise InputError(
            f"`blocks` must split the outputs 0..{d - 1} into disjoint groups; got outputs "
            f"{np.sort(outs).tolist()}",
            argument="blocks",
        )
    if ins.size and (ins.min() < 0 or ins.max() >= D or np.unique(ins).size != ins.size):
        raise InputError(
            f"the inputs of `blocks` must be disjoint indices in 0..{D - 1}", argument="blocks"
        )
    used = np.zeros(D, dtype=bool)
    used[ins] = True
    return pairs, np.flatnonzero(~used)


def _rotated(G: Parametrization, B: np.ndarray) -> Parametrization:
    """`g(z) = G(B^T z)` for an orthogonal `B`: the same map in rotated inputs."""
    fn, geometry = G.fn, G.geometry

    def g(z):
        return fn(anp.matmul(z, B))

    return Parametrization(
        g,
        G.input_dim,
        name=f"{G.name} in the basis B",
        domain=lambda z: geometry.in_domain(np.atleast_2d(z) @ B),
        sampler=lambda rng, n: geometry.sample(rng, n) @ B.T,
    )


def find_structure(
    G: Parametrization,
    x_init,
    *,
    blocks=None,
    mixing="auto",
    inner="auto",
    n_points: int = 3,
    n_probes: int = 48,
    mixing_rtol: float = 1e-9,
    max_condition: float = 1e10,
    family_rtol: float = 1e-13,
    max_inner_dim: int = 200,
    seed: int | None = 0,
) -> Structure:
    """The blocks of `G` around `x_init` (see the module docstring).

    Args:
        G: a `Parametrization` on a Euclidean space.
        x_init: the initialization `(D,)`.
        blocks: declared blocks, a list of `(outputs, inputs)` index lists: no sparsity
            measurement, only the random probes (identical blocks are still found).
        mixing: `"auto"` (look for an output mixing `A` when the blocks are not all
            scalar), `None` (do not), or a declared `A` `(d, d)` with `A^{-1} G` separable.
        inner: a declared orthogonal `B` `(D, D)` with `G(x) = g(Bx)`, `g` separable;
            `"auto"` (when `G` is one dense block of at most `max_inner_dim` inputs, try the
            eigenbasis of `find_input_mixing`); `None` (do not).
        max_inner_dim: largest `D` for which an input mixing is looked for (a Hessian and
            its eigenvectors, `O(D^3)`).
        n_points: points the structure is checked on (`x_init` and random samples of
            `G`'s domain; the sparsity is measured at the last one).
        n_probes: random probes per point (`verify_blocks`).
        mixing_rtol: relative threshold of the transformed map's structural zeros and of
            parallel Jacobian columns (`1e-9`: far above round-off, far below a genuine
            dependency).
        max_condition: largest accepted condition number of a found `A`.
        family_rtol: relative tolerance of equal outputs of identical blocks.
        seed: seed of the samples, moves and probes.

    Returns:
        A `Structure` (`structure.separable` says whether there is anything to split).

    Raises:
        InputError: `G` is not a `Parametrization` on a Euclidean space; `blocks`, `mixing`
            or `inner` malformed, or declared blocks (or mixing) contradicted by a probe.

    Examples:
        >>> import autograd.numpy as anp, numpy as np, riemflow as rf
        >>> M = np.array([[1.0, 0.5], [-0.3, 1.0]])
        >>> G = rf.Parametrization(lambda x: anp.einsum("ij,...j->...i", M, x**3 + x), 2)
        >>> s = rf.structure.find_structure(G, np.array([0.5, 0.8]))
        >>> s.n_blocks, s.mixing is not None
        (2, True)
    """
    if not isinstance(G, Parametrization):
        raise InputError(
            f"`G` must be a riemflow Parametrization; got {type(G).__name__}", argument="G"
        )
    # one BLAS thread: small products (a mixing of a few dozen rows), where a threaded BLAS
    # on a loaded machine waits more than it computes
    with threadpool_limits(limits=1, user_api="blas"):
        return _find_structure(
            G,
            x_init,
            blocks=blocks,
            mixing=mixing,
            inner=inner,
            n_points=n_points,
            n_probes=n_probes,
            mixing_rtol=mixing_rtol,
            max_condition=max_condition,
            family_rtol=family_rtol,
            max_inner_dim=max_inner_dim,
            seed=seed,
        )


def _find_structure(G, x_init, *, blocks, mixing, inner, n_points, n_probes, **options):
    start = time.perf_counter()
    x0 = G.start_point(x_init, "x_init")
    if G.geometry.kind != "euclidean":
        raise InputError(
            f"{G.name} is not on a Euclidean space ({type(G.space).__name__}): its blocks "
            "would not decouple the joint flow",
            argument="G",
        )
    n_points = as_positive_int(n_points, "n_points")
    n_probes = as_positive_int(n_probes, "n_probes")
    mixing_rtol = as_positive(options["mixing_rtol"], "mixing_rtol")
    max_condition, family_rtol, seed = (
        options[k] for k in ("max_condition", "family_rtol", "seed")
    )
    notes: list[str] = []
    B, look_inside = None, isinstance(inner, str) and inner == "auto"
    if inner is not None and not look_inside:
        B = as_float_array(inner, "inner")
        D = x0.size
        if B.shape != (D, D) or np.max(np.abs(B @ B.T - np.eye(D))) > 1e-10:
            raise InputError(
                f"`inner` must be an orthogonal ({D}, {D}) matrix (B B^T = I): only then is "
                "the Euclidean metric, and with it the joint flow, preserved",
                argument="inner",
            )
        G, x0 = _rotated(G, B), B @ x0
        notes.append("input mixing B declared")
    rng = np.random.default_rng(seed)
    bmap = BatchedMap(G)
    maps = [bmap]
    d, D = bmap.output_dim, bmap.input_dim
    points = np.vstack([x0[None, :], G.sample(n_points - 1, seed=seed)]) if n_points > 1 else x0
    points = np.atleast_2d(points)
    A = None
    if isinstance(mixing, str) and mixing == "auto":
        declared_mixing = None
    elif mixing is None:
        declared_mixing = None
    else:
        declared_mixing = as_float_array(mixing, "mixing")
        if declared_mixing.shape != (d, d) or np.linalg.cond(declared_mixing) > max_condition:
            raise InputError(
                f"`mixing` must be an invertible ({d}, {d}) matrix A with A^-1 G separable, "
                f"'auto' or None; got shape {declared_mixing.shape}",
                argument="mixing",
            )
    if blocks is not None:
        found, dead = _declared_blocks(blocks, d, D)
        if declared_mixing is not None:
            maps.append(BatchedMap(G, np.linalg.inv(declared_mixing)))
        target = maps[-1]
        rtol = 0.0 if declared_mixing is None else mixing_rtol
        if verify_blocks(target, points, found, n_probes=n_probes, rtol=rtol, seed=seed):
            raise InputError(
                "an output of the declared `blocks` depends on another block's inputs "
                "(found by random probes)",
                argument="blocks",
            )
        A, bmap = declared_mixing, target
        notes.append("blocks declared, checked by random probes")
    else:
        if declared_mixing is not None:
            A = declared_mixing
            bmap = BatchedMap(G, np.linalg.inv(A))
            maps.append(bmap)
        rtol = 0.0 if A is None else mixing_rtol
        pattern = dependency_pattern(bmap, points[-1], rtol=rtol, seed=seed)
        found, dead = connected_blocks(pattern)
        if verify_blocks(bmap, points, found, n_probes=n_probes, rtol=rtol, seed=seed):
            for x in points[:-1]:  # a dependency the last point did not show
                pattern |= dependency_pattern(bmap, x, rtol=rtol, seed=seed)
            found, dead = connected_blocks(pattern)
        notes.append(
            f"sparsity of dG at a random point, checked by {n_probes} random probes at "
            f"{len(points)} points"
        )
        if declared_mixing is not None and any(len(o) > 1 for o, _ in found):
            raise InputError(
                "the declared `mixing` does not make A^-1 G separable into scalar blocks",
                argument="mixing",
            )
        if declared_mixing is None and mixing is not None and any(len(o) > 1 for o, _ in found):
            candidate = find_output_mixing(
                bmap, points[-1], rtol=mixing_rtol, max_condition=max_condition
            )
            if candidate is None:
                notes.append("no output mixing (the Jacobian's columns are not in d classes)")
            else:
                tmap = BatchedMap(G, np.linalg.inv(candidate))
                maps.append(tmap)
                pattern = dependency_pattern(tmap, points[-1], rtol=mixing_rtol, seed=seed)
                mixed, mixed_dead = connected_blocks(pattern)
                scalar = all(len(o) == 1 for o, _ in mixed)
                if scalar and not verify_blocks(
                    tmap, points, mixed, n_probes=n_probes, rtol=mixing_rtol, seed=seed
                ):
                    A, bmap, found, dead = candidate, tmap, mixed, mixed_dead
                    notes.append("output mixing A found: A^-1 G splits into scalar blocks")
                else:
                    notes.append("candidate output mixing rejected (A^-1 G not separable)")
    block_of_output = np.empty(d, dtype=int)
    for b, (outs, _) in enumerate(found):
        block_of_output[outs] = b
    scalar = np.array([len(o) == 1 for o, _ in found])
    if look_inside and blocks is None and len(found) == 1 and not scalar[0] and d > 1:
        if D <= options["max_inner_dim"]:
            candidate = find_input_mixing(G, points[-1], seed=seed)
            rotated = _find_structure(
                G,
                x_init,
                blocks=None,
                mixing=mixing,
                inner=candidate,
                n_points=n_points,
                n_probes=n_probes,
                **options,
            )
            if rotated.separable:
                rotated.notes[0] = "input mixing B found: the eigenvectors of hess <c, G>"
                return rotated
            notes.append("candidate input mixing rejected (G(B^T z) not separable)")
    family = _families(bmap, x0, found, rng, 3, family_rtol)
    return Structure(
        parametrization=G,
        x_init=x0,
        blocks=found,
        dead=dead,
        block_of_output=block_of_output,
        scalar=scalar,
        family=family,
        problem=_problems(x0, found, family, scalar),
        mixing=A,
        inner=B,
        n_points=len(points),
        rows=sum(m.rows for m in maps),
        seconds=time.perf_counter() - start,
        notes=notes,
    )


def block_parametrization(structure: Structure, block: int) -> tuple[Parametrization, np.ndarray]:
    """The map of one block alone, `z -> G(x_init with x[inputs] = z)[outputs]`, and its
    initialization `x_init[inputs]`: the other inputs stay at `x_init` (they do not move
    its outputs). Its domain and samples are those of `G` restricted to the block.

    Examples:
        >>> import numpy as np, riemflow as rf
        >>> G, x0 = rf.models.hadamard_product(2, init=(1.0, 3.0))
        >>> s = rf.structure.find_structure(G, x0)
        >>> Gb, xb = rf.structure.block_parametrization(s, 1)
        >>> outputs, inputs = s.blocks[1]
        >>> Gb(xb).tolist(), inputs.tolist()
        ([3.0], [1, 3])
    """
    G, x0 = structure.parametrization, structure.x_init
    outs, ins = structure.blocks[block]
    fn, geometry = G.fn, G.geometry
    embed = np.zeros((ins.size, x0.size))
    embed[np.arange(ins.size), ins] = 1.0
    base = x0.copy()
    base[ins] = 0.0

    def fn_block(z):
        return fn(base + anp.matmul(z, embed))[..., outs]

    def full(z):
        X = np.broadcast_to(x0, (np.atleast_2d(z).shape[0], x0.size)).copy()
        X[:, ins] = np.atleast_2d(z)
        return X

    return (
        Parametrization(
            fn_block,
            ins.size,
            name=f"{G.name}, block {block}",
            domain=lambda z: geometry.in_domain(full(z)),
            sampler=lambda rng, n: geometry.sample(rng, n)[:, ins],
        ),
        x0[ins].copy(),
    )

"""Recognising (or declaring) the structure of a potential: blocks, shared blocks, radial.

Structure turns a large embedding problem into small exact ones ([Concepts: the converse via
Nash embedding](concepts.md#the-converse-via-nash-embedding)): a block-separable potential is
embedded block by block, a radial one from one-dimensional quadratures. This module only decides the
structure; the embeddings are `riemflow.embedding.product` and `riemflow.embedding.radial`. (It is
separate from any structure detection of the forward construction, which reads Jacobian sparsity.)

Declarations (pass one as `structure=` to `commuting_parametrization`):

- `Blocks(blocks, potentials=None, same=None)`: `R(w) = sum_b R_b(w[blocks[b]])`;
  optionally the block potentials themselves (Legendres of the block dimension) and
  which blocks are the same function (`same[b]` = index of the block whose construction
  block `b` reuses, with the shift `lower_b - lower_same[b]` of their boxes).
- `Radial(center=None, linear=None)`: `R(w) = phi(|L (w - c)|)`; a missing center is found.

Detection, from `hess R` on sample points only (a plain `rf.Legendre(fn, d)` needs nothing
declared):

- `detect_blocks`: the sparsity pattern of `hess R` at a few random points of the domain,
  union over the points; its connected components are the blocks. A Hessian that is block
  diagonal everywhere means `R = sum_b R_b + const` (mixed partials vanish).
- `group_blocks`: blocks with boxes of the same shape whose block Hessians agree at the
  same relative positions in their boxes are "the same function" up to a shift (their
  potentials differ by an affine function, which leaves the metric unchanged), so their
  embeddings are translates of one. All blocks' diagonal Hessian blocks at one relative
  position come from `d_b` Hessian-vector products (probe `j` = the `j`-th coordinate of
  every block), so grouping costs `O(n_points * d_b)` gradient evaluations, linear in `d`.
- `detect_radial`: at each sample point `hess R = a I + b u u^T` has one simple eigenvalue
  whose eigenvector is `u = (w - c) / |w - c|`; the lines through the points along those
  eigenvectors meet at `c` (least squares), and the form is then checked at the points and
  at rotated copies `c + |w - c| u'`.
"""

from __future__ import annotations

from dataclasses import dataclass

import autograd.numpy as anp
import numpy as np
from autograd import elementwise_grad, hessian_vector_product
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components

from .._validation import as_positive
from ..errors import InputError
from ..legendre import Legendre

__all__ = ["Blocks", "Radial", "BlockGroup", "detect_blocks", "group_blocks", "detect_radial"]


@dataclass(frozen=True)
class Blocks:
    """Declared block separability `R(w) = sum_b R_b(w[blocks[b]])`.

    Attributes:
        blocks: index lists partitioning `range(d)`.
        potentials: optional block Legendres `R_b` (dimension `len(blocks[b])`); default the
            restrictions of `R` (other coordinates frozen).
        same: optional `same[b]`: the block whose construction `b` reuses (translated by the
            offset of their boxes); `same[b] == b` for a representative. Default: detected.

    Examples:
        >>> import riemflow as rf
        >>> rf.embedding.Blocks([[0, 1], [2, 3]], same=[0, 0]).same
        [0, 0]
    """

    blocks: list
    potentials: list | None = None
    same: list | None = None


@dataclass(frozen=True)
class Radial:
    """Declared radial symmetry `R(w) = phi(|L (w - c)|)`.

    Attributes:
        center: `c` `(d,)`; `None`: detected from `hess R`.
        linear: `L` `(d, d)` invertible; `None`: the identity (an affine image of a radial
            potential must be declared with its `L`).

    Examples:
        >>> import riemflow as rf
        >>> rf.embedding.Radial(center=[0.0, 0.0]).linear is None
        True
    """

    center: np.ndarray | None = None
    linear: np.ndarray | None = None


@dataclass(frozen=True)
class BlockGroup:
    """Blocks that share one construction.

    Attributes:
        representative: the block index whose embedding is built.
        members: block indices `(n,)` (the representative included).
        shifts: `(n, d_b)`: block `members[i]` at `w_b` uses the embedding at
            `w_b - shifts[i]` (0 for the representative).
    """

    representative: int
    members: np.ndarray
    shifts: np.ndarray


# -- blocks -------------------------------------------------------------------------------------
def detect_blocks(
    R: Legendre, points: np.ndarray, *, rtol: float = 1e-12, max_dense_dim: int = 5000
) -> list[np.ndarray]:
    """Blocks of `hess R`: connected components of `{(i, j) : |H_ij| > rtol max |H|}` at
    `points` (union over the points).

    Args:
        R: the potential.
        points: `(n, d)` points of the domain (2-3 random ones suffice for a generic
            coupling: an entry vanishing at random points is zero on an open set).
        rtol: relative size below which an entry counts as zero.
        max_dense_dim: largest `d` for which full Hessians are formed (`d^2` floats each);
            above it, declare the blocks (`Blocks`).

    Returns:
        Sorted index arrays, one per block (one block = no structure).

    Raises:
        InputError: `d > max_dense_dim`.

    Examples:
        >>> import autograd.numpy as anp, numpy as np, riemflow as rf
        >>> def fn(w):  # exp(w1 + w2) + w3^2: blocks {0, 1} and {2}
        ...     return anp.exp(w[..., 0] + w[..., 1]) + w[..., 2] ** 2
        >>> R = rf.Legendre(fn, 3)
        >>> [b.tolist() for b in rf.embedding.detect_blocks(R, np.array([[0.1, 0.2, 0.3]]))]
        [[0, 1], [2]]
    """
    d = R.dim
    rtol = as_positive(rtol, "rtol")
    if d > max_dense_dim:
        raise InputError(
            f"d = {d} > max_dense_dim = {max_dense_dim}: declare the blocks "
            "(structure=Blocks(...)) instead of detecting them from dense Hessians",
            argument="structure",
        )
    pattern = np.zeros((d, d), dtype=bool)
    for p in np.atleast_2d(points):
        H = np.asarray(R.hessian(p))
        pattern |= np.abs(H) > rtol * np.max(np.abs(H))
    n, labels = connected_components(csr_matrix(pattern | pattern.T), directed=False)
    return [np.flatnonzero(labels == k) for k in range(n)]


def _block_hessians_at(R: Legendre, x: np.ndarray, blocks, sizes) -> list[np.ndarray]:
    """Diagonal blocks `H_bb(x)` of a block-diagonal `hess R`, by `max d_b` Hessian-vector
    products (probe `j` has a 1 at the `j`-th coordinate of every block)."""
    hvp = hessian_vector_product(lambda z: R.fn(z))
    out = [np.zeros((s, s)) for s in sizes]
    for j in range(max(sizes)):
        probe = np.zeros(R.dim)
        for idx in blocks:
            if j < idx.size:
                probe[idx[j]] = 1.0
        Hv = np.asarray(hvp(x, probe))
        for b, idx in enumerate(blocks):
            if j < idx.size:
                out[b][:, j] = Hv[idx]
    return out


def group_blocks(
    R: Legendre,
    blocks,
    lower: np.ndarray,
    upper: np.ndarray,
    *,
    n_points: int = 6,
    rtol: float = 1e-10,
    seed: int | None = 0,
) -> list[BlockGroup]:
    """Group blocks that are the same function up to a shift (see the module docstring).

    Args:
        R: the potential (block-diagonal Hessian; `R.fn` autograd-traceable).
        blocks: index arrays.
        lower: the domain box's lower ends `(d,)` (block `b`'s box is
            `[lower[blocks[b]], upper[blocks[b]]]`).
        upper: its upper ends `(d,)`.
        n_points: relative positions compared (random in the unit box).
        rtol: blocks match when their Hessians agree to `rtol * max |H|` at every position.
        seed: seed of the positions.

    Returns:
        `BlockGroup`s covering every block once.

    Examples:
        >>> import numpy as np, riemflow as rf
        >>> R = rf.potentials.log_barrier(4)  # -sum log w_i: four equal 1-D blocks
        >>> blocks = [np.array([i]) for i in range(4)]
        >>> lower, upper = np.array([1.0, 2.0, 1.0, 1.0]), np.array([2.0, 3.0, 2.0, 3.0])
        >>> [g.members.tolist() for g in rf.embedding.group_blocks(R, blocks, lower, upper)]
        [[0, 2], [1], [3]]
    """
    rng = np.random.default_rng(seed)
    sizes = [idx.size for idx in blocks]
    widths = [upper[idx] - lower[idx] for idx in blocks]
    signatures = [[] for _ in blocks]
    for _ in range(n_points):
        rel = rng.uniform(0.0, 1.0, max(sizes))
        x = lower.copy()
        for idx in blocks:
            x[idx] = lower[idx] + rel[: idx.size] * (upper[idx] - lower[idx])
        for b, Hb in enumerate(_block_hessians_at(R, x, blocks, sizes)):
            signatures[b].append(Hb.ravel())
    # a key per block: its size and box shape; match signatures within a key
    groups: list[BlockGroup] = []
    unassigned = list(range(len(blocks)))
    sig = [np.concatenate(s) for s in signatures]
    while unassigned:
        rep = unassigned[0]
        candidates = [
            b
            for b in unassigned
            if sizes[b] == sizes[rep] and np.allclose(widths[b], widths[rep], rtol=1e-14, atol=0)
        ]
        S = np.stack([sig[b] for b in candidates])
        scale = max(float(np.max(np.abs(S))), 1e-300)
        match = np.max(np.abs(S - sig[rep]), axis=1) <= rtol * scale
        members = np.array([b for b, m in zip(candidates, match, strict=True) if m])
        shifts = np.stack([lower[blocks[b]] - lower[blocks[rep]] for b in members])
        groups.append(BlockGroup(rep, members, shifts))
        taken = set(members.tolist())
        unassigned = [b for b in unassigned if b not in taken]
    return groups


# -- radial -------------------------------------------------------------------------------------
def _simple_direction(H: np.ndarray, rtol: float):
    """For `H = a I + b u u^T` (`d >= 3`): `u`, or `None` if `H` is (nearly) isotropic,
    or `False` if `H` has no `(d-1)`-fold eigenvalue."""
    lam, vec = np.linalg.eigh(H)
    scale = np.max(np.abs(lam))
    low = lam[-2] - lam[0] <= rtol * scale  # lam_0..lam_{d-2} equal: simple one on top
    high = lam[-1] - lam[1] <= rtol * scale
    if low and high:
        return None
    if low:
        return vec[:, -1]
    if high:
        return vec[:, 0]
    return False


def _center_from_lines(points, directions):
    d = points.shape[1]
    A = np.zeros((d, d))
    rhs = np.zeros(d)
    for p, e in zip(points, directions, strict=True):
        Pm = np.eye(d) - np.outer(e, e)
        A += Pm
        rhs += Pm @ p
    cond = np.linalg.cond(A)
    c = np.linalg.solve(A, rhs)
    miss = max(
        float(np.linalg.norm((np.eye(d) - np.outer(e, e)) @ (c - p)))
        for p, e in zip(points, directions, strict=True)
    )
    return c, miss, cond


def _radial_form_error(H, w, c):
    """`max |H - (a I + b u u^T)| / max |H|` with `a, b` fitted (u = (w - c)/|w - c|)."""
    u = w - c
    r = np.linalg.norm(u)
    if r == 0:
        return 0.0, None, None
    u = u / r
    d = H.shape[0]
    radial = u @ H @ u
    a = (np.trace(H) - radial) / (d - 1)
    model = a * np.eye(d) + (radial - a) * np.outer(u, u)
    return float(np.max(np.abs(H - model)) / np.max(np.abs(H))), a, radial


def detect_radial(
    R: Legendre,
    points: np.ndarray,
    *,
    center=None,
    rtol: float = 1e-9,
    seed: int | None = 0,
):
    """Whether `hess R = a(r) I + b(r) u u^T` around some center; returns the center or None.

    Args:
        R: the potential (`d >= 2`).
        points: `(n, d)` points of the domain (n >= 8 recommended).
        center: a declared center (then only the form is checked).
        rtol: relative tolerance of the eigenvalue multiplicity, of the lines' common point
            (relative to the points' spread), of the radial form, and of the rotation test.
        seed: seed of the rotated copies.

    Returns:
        The center `(d,)` if `R` looks radial at all the points and at rotated copies, else
        `None`.

    Examples:
        >>> import autograd.numpy as anp, numpy as np, riemflow as rf
        >>> c = np.array([0.2, -0.1, 0.05])
        >>> R = rf.Legendre(lambda w: anp.exp(anp.sum((w - c) ** 2, -1)), 3)
        >>> pts = np.random.default_rng(0).uniform(-1, 1, (12, 3))
        >>> np.round(rf.embedding.detect_radial(R, pts), 10).tolist()
        [0.2, -0.1, 0.05]
        >>> rf.embedding.detect_radial(rf.potentials.negative_entropy(3), pts + 2.0) is None
        True
    """
    d = R.dim
    if d < 2:
        return None
    pts = np.atleast_2d(points)
    H = np.asarray(R.hessian(pts)).reshape(-1, d, d)
    spread = float(np.max(np.linalg.norm(pts - pts.mean(0), axis=1))) or 1.0
    if center is None:
        candidates = []
        if d >= 3:
            dirs, keep = [], []
            for k in range(len(pts)):
                u = _simple_direction(H[k], rtol)
                if u is False:
                    return None
                if u is not None:
                    dirs.append(u)
                    keep.append(k)
            if len(keep) < 2:
                return None
            candidates.append(_center_from_lines(pts[keep], np.array(dirs)))
        else:
            for which in (0, 1):  # the radial eigenvector: smaller or larger eigenvalue
                dirs = np.array([np.linalg.eigh(h)[1][:, which] for h in H])
                candidates.append(_center_from_lines(pts, dirs))
        c, miss, cond = min(candidates, key=lambda item: item[1])
        if not (cond < 1e8 and miss <= 1e3 * rtol * spread):
            return None
        # snap to round-off: coordinates that are zero up to the solve's accuracy
        c = np.where(np.abs(c) <= 10 * miss + 1e-15 * spread, 0.0, c)
    else:
        c = np.asarray(center, dtype=np.float64)
    for k in range(len(pts)):
        err, _, _ = _radial_form_error(H[k], pts[k], c)
        if err > rtol:
            return None
    # rotated copies: same radius, new direction, same eigenvalues
    rng = np.random.default_rng(seed)
    radii = np.linalg.norm(pts - c, axis=1)
    z = rng.standard_normal(pts.shape)
    rot = c + radii[:, None] * z / np.linalg.norm(z, axis=1, keepdims=True)
    ok = np.asarray(R.domain.contains(rot), dtype=bool)
    if np.sum(ok) < 2:
        return c
    H2 = np.asarray(R.hessian(rot[ok])).reshape(-1, d, d)
    for k, h2 in zip(np.flatnonzero(ok), H2, strict=True):
        err1, a1, r1 = _radial_form_error(H[k], pts[k], c)
        err2, a2, r2 = _radial_form_error(h2, rot[k], c)
        if a1 is None or a2 is None:
            continue
        scale = max(abs(a1), abs(r1))
        if err2 > rtol or abs(a1 - a2) > rtol * scale or abs(r1 - r2) > rtol * scale:
            return None
    return c


def restricted(
    R: Legendre,
    idx,
    base: np.ndarray,
    *,
    copies=None,
    shifts=None,
    name: str | None = None,
) -> Legendre:
    """The block potential `v -> R(base with w[idx] = v)` as a Legendre of dimension
    `len(idx)` (exact derivatives by autograd through `R.fn`; never a `d x d` Hessian).

    Each evaluation costs an evaluation of `R` in `R^d`. When the block has copies (other
    blocks that are the same function, up to a shift of their coordinates: `group_blocks`),
    Hessians of a batch are packed: one evaluation of `R` places a different point in every
    copy, so `n` copies give `n` Hessians for the price of one, and a block of a product of
    `n` equal blocks costs about what the block alone would.

    Args:
        R: the potential (block-diagonal Hessian when `copies` is given).
        idx: the block's coordinates `(k,)`.
        base: the point `(d,)` whose other coordinates are frozen.
        copies: optional `(n, k)`: the coordinates of the block's copies (`idx` among them).
        shifts: `(n, k)`: copy `i` at `v + shifts[i]` is the block at `v`.
        name: label (default `R.name[idx]`).

    Returns:
        A `Legendre` of dimension `len(idx)` on all of `R^k` (points outside `dom R` give
        non-finite values, which it reports as `DomainError`).

    Examples:
        >>> import numpy as np, riemflow as rf
        >>> R = rf.potentials.negative_entropy(3)
        >>> Rb = rf.embedding.restricted(R, [1, 2], np.ones(3))
        >>> Rb.hessian(np.array([0.5, 2.0])).tolist()
        [[2.0, 0.0], [0.0, 0.5]]
    """
    idx = np.asarray(idx, dtype=int).reshape(-1)
    d, k = R.dim, idx.size
    E = np.zeros((k, d))
    E[np.arange(k), idx] = 1.0
    frozen = np.asarray(base, dtype=np.float64).copy()
    frozen[idx] = 0.0
    members = idx[None, :] if copies is None else np.asarray(copies, dtype=int).reshape(-1, k)
    offsets = np.zeros(members.shape) if shifts is None else np.asarray(shifts, dtype=np.float64)
    offsets = offsets.reshape(members.shape)
    n = members.shape[0]
    probes = np.zeros((k, d))
    for j in range(k):
        probes[j, members[:, j]] = 1.0

    def fn(v):
        return R.fn(frozen + anp.dot(v, E))

    def full_gradients(X):
        return elementwise_grad(lambda Z: anp.sum(R.fn(Z)))(X)

    def packed(v):  # (B, k) -> (B, k, k): n points per evaluation of R
        B = v.shape[0]
        C = -(-B // n)
        padded = np.concatenate([v, np.repeat(v[:1], C * n - B, axis=0)])
        X = np.tile(np.asarray(base, dtype=np.float64), (C, 1))
        X[:, members] = padded.reshape(C, n, k) + offsets
        out = np.empty((C, n, k, k))
        for j in range(k):
            column = elementwise_grad(lambda Z, j=j: anp.sum(full_gradients(Z) * probes[j]))(X)
            out[..., j] = column[:, members]
        return out.reshape(C * n, k, k)[:B]

    def block_hessian(v):  # traceable: the restriction's own autograd Hessian
        def gradients(z):
            return elementwise_grad(lambda y: anp.sum(fn(y)))(z)

        columns = [
            elementwise_grad(lambda z, j=j: anp.sum(gradients(z)[..., j]))(v) for j in range(k)
        ]
        return anp.stack(columns, axis=-1)

    rows = max(1, n * max(1, _RESTRICTED_CHUNK // (n * d)))

    def hessian(v):
        if isinstance(v, np.ndarray) and v.ndim == 2:
            parts = [packed(v[i : i + rows]) for i in range(0, v.shape[0], rows)]
            return np.concatenate(parts) if parts else np.zeros((0, k, k))
        return block_hessian(v)

    label = idx.tolist() if k < 6 else f"{idx[0]}..{idx[-1]}"
    return Legendre(fn, k, hessian=hessian, name=name or f"{R.name}[{label}]")


#: largest batch size times d of one evaluation of a restricted potential's Hessian
_RESTRICTED_CHUNK = 2_000_000

"""Lie brackets of the gradient fields, split along `ker dG`, and what they mean for the flow.

Notation ([Concepts: Lie brackets](concepts.md#lie-brackets), necessity): `X_i = grad G_i`, `K = dG
g^{-1} dG^T`, `[X_i, X_j] = dX_j X_i - dX_i X_j`.

**The split.** At a regular point `T_x M` is the `g`-orthogonal sum of the *horizontal*
space `H = span{X_i}` and the *vertical* space `V = ker dG(x)`, the tangent space of the
fibre `G^{-1}(w)`. A vector `b` splits as `b = P_h b + P_v b` with `P_h b = sum_k c_k X_k`,
`c = K^{-1} dG b`. Since `<X_i, b>_g = (dG b)_i`, `|P_h b|_g^2 = (dG b)^T K^{-1} (dG b)`:
the horizontal part of a bracket is carried by its image `dG [X_i, X_j]`, what the
`w`-dynamics sees, measured with `K^{-1}`. The vertical part is formed explicitly as
`b - sum_k c_k X_k`, so it stays accurate when it is the small one. Also `|X_i|_g^2 = K_ii`.

**The measures.** For a pair `(i, j)` at `x` and a length `ell` (in the metric of `M`):

    rho_perp = ell |P_h [X_i, X_j]|_g / (|X_i|_g |X_j|_g)   transverse: what w sees
    rho_par  = ell |P_v [X_i, X_j]|_g / (|X_i|_g |X_j|_g)   along the fibres
    rho      = ell |[X_i, X_j]|_g     / (|X_i|_g |X_j|_g)   total
    rho3_perp(k) = ell^2 |P_h [X_k, [X_i, X_j]]|_g / (|X_i|_g |X_j|_g |X_k|_g)

Meaning: the loop of linear losses `+c_i <e_i, w>, +c_j <e_j, w>, -c_i <e_i, w>,
-c_j <e_j, w>` with `c_i = 1 / |X_i|_g`, each for time `ell`, moves `x` by a length `ell` per
leg; every mirror flow returns exactly (`int grad L dt = 0`), while gradient flow ends, to
leading order, `ell^2 c_i c_j [X_i, X_j]` away in `x`, i.e. `ell^2 c_i c_j dG [X_i, X_j]` in
`w`. Measured with `K^{-1}` and divided by the leg length, that is `rho_perp`: the relative
amount by which loops of the region's size fail to close, i.e. how far gradient flow is from
every mirror flow on them. The measures do not change when `G` or one coordinate `w_i` is
rescaled, nor under isometries of `M`, and they grow linearly with `ell`, so a tolerance on
them means something only at a stated length. The former relative bracket
`|[X_i, X_j]| / (|dX_j X_i| + |dX_i X_j|)` is `rho` at the length
`|X_i||X_j| / (|dX_j X_i| + |dX_i X_j|)` over which the fields themselves vary: for
`x + eps B(x)` that length is about `1 / eps`, so it read 1 at every `eps` although the
flows are `eps`-close to a mirror flow. It is still reported (`max_term_ratio`).

**Round-off.** A bracket is a difference of two terms, each a sum of products of size
`|dX_j| |X_i|`; its round-off floor is taken as
`ell * 8 eps (|dX_j X_i|_g + |dX_i X_j|_g + |dX_i| |X_j|_g + |dX_j| |X_i|_g) / (|X_i| |X_j|)`,
with `|dX_i|` estimated by `sqrt(D) |dX_i r|_g` along one random `g`-unit `r` (one more
forward-mode pass; an estimate, calibrated on the model zoo and rotated maps, not a bound).
A failure within 10x of its floor is *unresolved*, not a verdict.

**Verdicts** at a tolerance `rtol` on every measure:

- `"commuting"`: every `rho <= rtol`; the forward theorem applies at these points;
- `"not a mirror flow"`: some resolved `rho_perp > rtol`, or, when those pass, some
  `rho3_perp > rtol`: at that point a bracket leaves `ker dG`, so from initializations there
  the loop of linear losses moves `w` although every mirror flow returns (the necessity
  theorem, [Concepts: necessity](concepts.md#necessity));
- `"undecided"`: brackets that do not vanish but lie in `ker dG` at orders 2 and 3: the
  necessity theorem does not exclude a mirror flow and the forward theorem does not apply
  (`riemflow.fibres` decides it on the reachable set of an initialization);
- `"unresolved"`: the decisive figure is within 10x of its round-off floor.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from . import _autodiff
from ._validation import as_positive, as_positive_int, readonly_copy
from .errors import DomainError, InputError
from .regions import Region, as_region, metric_at, tangent_norm

__all__ = [
    "CommutingReport",
    "WorstBracket",
    "BracketSplit",
    "bracket_split",
    "order3_brackets",
    "check_commuting",
    "COMMUTING",
    "NOT_MIRROR",
    "UNDECIDED",
    "UNRESOLVED",
    "ROUNDOFF_FACTOR",
    "RESOLVED_FACTOR",
]

#: verdict: every bracket below tolerance at the length scale
COMMUTING = "commuting"
#: verdict: a bracket (order 2 or 3) leaves ker dG
NOT_MIRROR = "not a mirror flow"
#: verdict: brackets in ker dG that do not vanish
UNDECIDED = "undecided"
#: verdict: the decisive figure is at its round-off floor
UNRESOLVED = "unresolved"

#: the round-off floor is this many machine epsilons times the size of the summed products
ROUNDOFF_FACTOR = 8.0
#: a figure counts as resolved when it exceeds its floor by this factor
RESOLVED_FACTOR = 10.0
_EPS = float(np.finfo(np.float64).eps)
# Largest number of float64 entries of a (B, d, d, D) bracket tensor held at once.
_CHUNK_ENTRIES = 4_000_000


# -- the split at a batch of points ----------------------------------------------------------
@dataclass(frozen=True)
class BracketSplit:
    """The brackets of the pairs `i < j` at a batch of points, split along `ker dG`.

    Pairs are listed in `pairs` (the order of `numpy.triu_indices(d, 1)`); `P = d(d-1)/2`.

    Attributes:
        points: `(B, D)`.
        pairs: `[(i, j), ...]`, `P` pairs.
        fields: `X_i` as rows `(B, d, D)`; jacobian: `dG` on tangent vectors `(B, d, D)`;
            kernel: `K` `(B, d, d)`; metric: `g` `(B, D, D)` in intrinsic coordinates, else
            `None` (tangent vectors are measured with the Euclidean norm).
        brackets: `[X_i, X_j]` `(B, P, D)`.
        transverse: `dG [X_i, X_j]` `(B, P, d)` (what `w` sees).
        vertical: `P_v [X_i, X_j]` `(B, P, D)` (along the fibres).
        horizontal_norm, vertical_norm, total_norm: `|P_h b|_g`, `|P_v b|_g`, `|b|_g`
            `(B, P)`.
        term_norm: `|dX_j X_i|_g + |dX_i X_j|_g` `(B, P)`.
        coordinate_norm, coordinate_term_norm: the same two sizes in the Euclidean norm of
            the coordinates `(B, P)` (the former relative bracket's figures).
        field_norm: `|X_i|_g = sqrt(K_ii)` `(B, d)`.
        jacobian_scale: `sqrt(D) |dX_i r|_g` for a random `g`-unit `r`, an estimate of the
            size of `dX_i` (round-off of the terms) `(B, d)`.
    """

    points: np.ndarray
    pairs: list
    fields: np.ndarray
    jacobian: np.ndarray
    kernel: np.ndarray
    metric: np.ndarray | None
    brackets: np.ndarray
    transverse: np.ndarray
    vertical: np.ndarray
    horizontal_norm: np.ndarray
    vertical_norm: np.ndarray
    total_norm: np.ndarray
    term_norm: np.ndarray
    coordinate_norm: np.ndarray
    coordinate_term_norm: np.ndarray
    field_norm: np.ndarray
    jacobian_scale: np.ndarray


def _metric(G, xb) -> np.ndarray | None:
    return metric_at(G, xb)


def _horizontal(vectors, jac, fields, kernel, g):
    """Split vectors `(B, P, D)`: `dG v (B, P, d)`, `|P_h v|_g (B, P)`, `P_v v (B, P, D)`.

    `K` is scaled to unit diagonal before its Cholesky factor is taken (kernels of tiny
    initializations span many orders); where `K` is singular (an irregular point) the
    pseudo-inverse projects onto the span of the fields instead. Every product is a
    contiguous batched matrix product (BLAS).
    """
    vectors = np.ascontiguousarray(vectors)
    t = vectors @ np.ascontiguousarray(np.swapaxes(jac, 1, 2))  # dG v: (B, P, d)
    diag = np.einsum("bii->bi", kernel)
    scale = np.sqrt(np.where(diag > 0, diag, 1.0))
    scaled = kernel / (scale[:, :, None] * scale[:, None, :])
    try:  # K / scale = L L^T; rows: z = (L^{-1} t_s)^T, |P_h v|_g = |z|, c_s = L^{-T} L^{-1} t_s
        inverse = np.linalg.inv(np.linalg.cholesky(scaled))
    except np.linalg.LinAlgError:
        inverse = np.stack([_inverse_factor(m) for m in scaled])
    z = (t / scale[:, None, :]) @ np.ascontiguousarray(np.swapaxes(inverse, 1, 2))
    c = (z @ inverse) / scale[:, None, :]
    vertical = vectors - c @ np.ascontiguousarray(fields)
    return t, np.sqrt(np.einsum("bpk,bpk->bp", z, z)), vertical


def _inverse_factor(matrix: np.ndarray) -> np.ndarray:
    """`A` with `A^T A` the (pseudo-)inverse of a symmetric positive semi-definite matrix:
    the inverse Cholesky factor, or `diag(lambda^{-1/2}) V^T` on the eigenvalues above
    round-off (a singular kernel at an irregular point)."""
    try:
        return np.linalg.inv(np.linalg.cholesky(matrix))
    except np.linalg.LinAlgError:
        lam, vec = np.linalg.eigh(matrix)
        keep = lam > max(lam[-1], 0.0) * matrix.shape[-1] * _EPS
        return np.where(keep, 1.0 / np.sqrt(np.where(keep, lam, 1.0)), 0.0)[:, None] * vec.T


def bracket_split(G, xb) -> BracketSplit:
    """Fields, kernel and the brackets of every pair `i < j` at validated points `(B, D)`,
    split along `ker dG` (module docstring).

    The brackets are `d` forward-mode passes (`G.traced.bracket_terms`), exact; the split
    is linear algebra on them, and the round-off scale one more forward pass.

    Args:
        G: the `Parametrization`.
        xb: points `(B, D)` already validated by `G.points`.

    Returns:
        A `BracketSplit`.

    Examples:
        >>> import numpy as np, riemflow as rf
        >>> G, _ = rf.models.bilinear_chain(3)    # G = (x1 x2, x2 x3)
        >>> s = rf.brackets.bracket_split(G, np.array([[0.3, 0.5, -0.2]]))
        >>> s.pairs, s.brackets[0, 0].tolist()    # [X1, X2] = (-x3, 0, x1)
        ([(0, 1)], [0.2, 0.0, 0.3])
        >>> s.transverse[0, 0].round(12).tolist()  # dG [X1, X2]: what w sees
        [0.1, 0.15]
    """
    xb = np.asarray(xb, dtype=np.float64)
    with np.errstate(over="ignore", invalid="ignore"):
        terms, F = G.traced.bracket_terms(xb)
    terms, F = np.asarray(terms, dtype=np.float64), np.asarray(F, dtype=np.float64)
    bad = ~np.all(np.isfinite(terms.reshape(xb.shape[0], -1)), axis=1)
    if np.any(bad):
        raise DomainError(
            f"the brackets of {G.name} are not finite at "
            f"{np.array2string(xb[int(np.argmax(bad))], precision=6, threshold=8)} "
            "(overflow in float64)",
            argument="points",
        )
    B, d, D = F.shape
    g = _metric(G, xb)
    if G.geometry.kind in ("euclidean", "extrinsic"):
        J = F  # dG on tangent vectors: rows X_i (the induced metric is Euclidean)
    elif g is not None:
        J = F @ g  # rows g X_i (X_i = g^{-1} dG_i)
    else:  # the differential in flat coordinates (any metric)
        J = np.asarray(G.traced.jacobian(xb), dtype=np.float64)

    def _g_norm(v, g):
        return tangent_norm(G, xb, v, g)

    K = np.einsum("bik,bjk->bij", J, F)
    K = 0.5 * (K + np.swapaxes(K, 1, 2))
    iu, ju = np.triu_indices(d, 1)
    size = _g_norm(terms, g)  # |dX_j X_i|_g: (B, d, d)
    full = terms - np.swapaxes(terms, 1, 2)
    total = _g_norm(full, g)[:, iu, ju]
    term_norm = size[:, iu, ju] + size[:, ju, iu]
    if g is None:
        coordinate, coordinate_terms = total, term_norm
    else:
        coordinate = np.linalg.norm(full, axis=-1)[:, iu, ju]
        plain = np.linalg.norm(terms, axis=-1)
        coordinate_terms = plain[:, iu, ju] + plain[:, ju, iu]
    if iu.size and np.any(total > 0):
        br = full[:, iu, ju, :]
        t, h_norm, vertical = _horizontal(br, J, F, K, g)
        v_norm = _g_norm(vertical, g)
    else:  # every bracket vanishes exactly (separable maps): nothing to split
        br = vertical = np.broadcast_to(0.0, (B, iu.size, D))
        t = np.broadcast_to(0.0, (B, iu.size, d))
        h_norm = v_norm = np.zeros((B, iu.size))
    r = np.random.default_rng(12345).standard_normal((B, D))
    if G.geometry.kind == "extrinsic":  # a tangent direction
        r = np.asarray(G.geometry.sharp(xb, r[:, None, :]), dtype=np.float64)[:, 0, :]
    elif G.geometry.kind not in ("euclidean", "intrinsic"):
        r = np.asarray(G.geometry.to_tangent(xb, r), dtype=np.float64)
    r = r / np.maximum(_g_norm(r[:, None, :], g), 1e-300)
    derivative = np.asarray(_autodiff.directional_derivative(G.traced.fields, xb, r, name=G.name))
    return BracketSplit(
        points=xb,
        pairs=[(int(i), int(j)) for i, j in zip(iu, ju, strict=True)],
        fields=F,
        jacobian=J,
        kernel=K,
        metric=g,
        brackets=br,
        transverse=t,
        vertical=vertical,
        horizontal_norm=h_norm,
        vertical_norm=v_norm,
        total_norm=total,
        term_norm=term_norm,
        coordinate_norm=coordinate,
        coordinate_term_norm=coordinate_terms,
        field_norm=np.sqrt(np.clip(np.einsum("bii->bi", K), 0.0, None)),
        jacobian_scale=np.sqrt(D) * _g_norm(derivative, g),
    )


def order3_brackets(G, xb, pair: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """`[X_k, [X_i, X_j]]` for every `k` at validated points `(B, D)`, and the sizes of its
    two terms.

    `[X_k, b] = Db[X_k] - DX_k[b]` with `b = [X_i, X_j]`: the first term is a forward-mode
    derivative of the traced bracket (itself forward over reverse mode), evaluated for all
    `k` in one pass on the batch repeated `d` times; exact third derivatives of `G`, no
    finite differences.

    Args:
        G: the `Parametrization`.
        xb: points `(B, D)`.
        pair: `(i, j)`.

    Returns:
        `brackets (B, d, D)` (row `k` is `[X_k, [X_i, X_j]]`) and the term sizes
        `|Db[X_k]|_g + |DX_k[b]|_g` `(B, d)`.

    Examples:
        >>> import numpy as np, riemflow as rf
        >>> G, _ = rf.models.bilinear_chain(3)    # [X1, [X1, X2]] = (0, x3, x2)
        >>> b, _ = rf.brackets.order3_brackets(G, np.array([[0.3, 0.5, -0.2]]), (0, 1))
        >>> b[0, 0].tolist()
        [0.0, -0.2, 0.5]
    """
    i, j = int(pair[0]), int(pair[1])
    fields = G.traced.fields
    xb = np.asarray(xb, dtype=np.float64)
    F = np.asarray(fields(xb), dtype=np.float64)
    B, d, D = F.shape

    def bracket(x):
        f = fields(x)
        a = _autodiff.directional_derivative(fields, x, f[:, i, :], name=G.name)[:, j, :]
        b = _autodiff.directional_derivative(fields, x, f[:, j, :], name=G.name)[:, i, :]
        return a - b

    tiled_x = np.tile(xb, (d, 1))  # row k * B + b: point b, direction X_k
    tiled_v = np.concatenate([F[:, k, :] for k in range(d)], axis=0)
    first = np.asarray(_autodiff.directional_derivative(bracket, tiled_x, tiled_v, name=G.name))
    first = first.reshape(d, B, D).transpose(1, 0, 2)
    b = np.asarray(bracket(xb), dtype=np.float64)
    second = np.asarray(_autodiff.directional_derivative(fields, xb, b, name=G.name))
    g = _metric(G, xb)
    return first - second, tangent_norm(G, xb, first, g) + tangent_norm(G, xb, second, g)


# -- the report ------------------------------------------------------------------------------
@dataclass(frozen=True)
class WorstBracket:
    """The largest value of one measure, where it occurred, and its round-off floor there.

    Attributes:
        value: the measure (dimensionless, at the region's length scale).
        floor: its round-off floor at that pair and point.
        pair: `(i, j)` (`None` when `d = 1`).
        point: the point in flat coordinates `(N,)` (`None` when `d = 1`).
        k: for an order-3 measure, the field `X_k` of `[X_k, [X_i, X_j]]`.
    """

    value: float
    floor: float
    pair: tuple[int, int] | None
    point: np.ndarray | None
    k: int | None = None

    def text(self, what: str) -> str:
        """One line for reports."""
        if self.pair is None:
            return f"{what} 0 (d = 1)"
        where = self.pair if self.k is None else f"k={self.k}, {self.pair}"
        pt = np.array2string(self.point, precision=3, threshold=6)
        return f"{what} {self.value:.2e} (round-off floor {self.floor:.1e}) at {where}, x={pt}"


@dataclass(frozen=True)
class CommutingReport:
    """Outcome of `Parametrization.check_commuting` (module `riemflow.brackets`).

    Brackets are judged at the region's length scale `ell`: `rho`, `rho_perp`,
    `rho_par`, `rho3_perp` are the relative amounts by which loops of linear losses with legs
    of length `ell` fail to close (in `x`, in `w`, along the fibres of `G`, and for
    loops of loops), see `riemflow.brackets`.

    Attributes:
        passed: the verdict is `"commuting"` (every `rho <= rtol`, or `|[X_i, X_j]| <= atol`).
        max_bracket: the largest `rho = ell |[X_i, X_j]|_g / (|X_i|_g |X_j|_g)` over the
            pairs and points. (Before the measures were defined at a length scale this was
            the relative bracket `|[X_i, X_j]| / (|dX_j X_i| + |dX_i X_j|)`, now
            `max_term_ratio`.)
        max_abs_bracket: the largest `|[X_i, X_j]|` (Euclidean norm of the coordinates).
        worst_pair: the pair `(i, j)` that decided the verdict (the largest transverse
            bracket for `"not a mirror flow"`, else the largest `rho`); `None` if `d = 1`.
        worst_point: the point where it occurred, of the space's point shape.
        n_points: number of points checked.
        rtol: the tolerance on every measure.
        atol: absolute tolerance on `|[X_i, X_j]|` (Euclidean norm of the coordinates).
        verdict: `"commuting"`, `"not a mirror flow"`, `"undecided"` or `"unresolved"`.
        total: worst `rho` (a `WorstBracket`).
        transverse: worst `rho_perp`: the part `dG [X_i, X_j]` that moves `w`.
        vertical: worst `rho_par`: the part along the fibres, which `w` never sees.
        transverse3: worst `rho3_perp` (order 3), or `None` when it was not computed.
        region: the `riemflow.regions.Region` checked (points, how drawn, `ell`).
        length_scale: `ell`.
        max_term_ratio: the largest former relative bracket
            `|[X_i, X_j]| / (|dX_j X_i| + |dX_i X_j|)` (0/0 counts as 0).
        notes: remarks on the computation (pairs given order 3, floors above `rtol`).
    """

    passed: bool
    max_bracket: float
    max_abs_bracket: float
    worst_pair: tuple[int, int] | None
    worst_point: np.ndarray | None
    n_points: int
    rtol: float
    atol: float
    verdict: str = COMMUTING
    total: WorstBracket | None = None
    transverse: WorstBracket | None = None
    vertical: WorstBracket | None = None
    transverse3: WorstBracket | None = None
    region: Region | None = None
    length_scale: float = 1.0
    max_term_ratio: float = 0.0
    notes: tuple = field(default_factory=tuple)

    @property
    def label(self) -> str:
        """The verdict in words, as the first line of `str(report)` gives it."""
        return {
            COMMUTING: "commuting",
            NOT_MIRROR: "NOT commuting, and brackets leave ker dG: not a mirror flow",
            UNDECIDED: "NOT commuting, but the brackets lie in ker dG: undecided",
            UNRESOLVED: "NOT commuting at this tolerance: unresolved (float64 round-off)",
        }[self.verdict]

    def __str__(self) -> str:
        where = ""
        if self.max_abs_bracket == 0:
            where = " (every bracket vanishes exactly)"
        elif self.worst_pair is not None and self.worst_point is not None:
            pt = np.array2string(self.worst_point, precision=4, threshold=8)
            where = f", worst pair {self.worst_pair} at x={pt}"
        lines = [
            f"{self.label}: max bracket rho {self.max_bracket:.3e} at length ell = "
            f"{self.length_scale:.3g} (rtol={self.rtol:g}, atol={self.atol:g}; absolute "
            f"{self.max_abs_bracket:.3e}) over {self.n_points} points{where}",
            f"  {_MEANING[self.verdict]}",
        ]
        if self.region is not None:
            lines.append(f"  region: {self.region.summary()}")
        if self.transverse is not None:
            lines.append("  " + self.transverse.text("transverse rho_perp (dG [X_i, X_j]):"))
            lines.append("  " + self.vertical.text("along the fibres rho_par:"))
        if self.transverse3 is not None:
            lines.append("  " + self.transverse3.text("order 3 rho3_perp (dG [X_k, [X_i, X_j]]):"))
        lines.append(
            "  former relative bracket |[X_i, X_j]| / (|dX_j X_i| + |dX_i X_j|): "
            f"{self.max_term_ratio:.2e}"
        )
        lines.extend(f"  note: {note}" for note in self.notes)
        if self.region is not None:
            lines.append(f"  {self.region.caveat()}")
        return "\n".join(lines)


_MEANING = {
    COMMUTING: (
        "every bracket is below rtol at the length scale: the forward theorem applies at "
        "these points (Concepts: the forward theorem)"
    ),
    NOT_MIRROR: (
        "a bracket leaves ker dG: from initializations at that point the loop of linear "
        "losses +e_i, +e_j, -e_i, -e_j moves w, while every mirror flow returns to its start, "
        "so no mirror map reproduces that trajectory (Concepts: necessity; "
        "riemflow.loop_test runs the loop)"
    ),
    UNDECIDED: (
        "the brackets do not vanish but lie in ker dG (orders 2 and 3): the necessity "
        "theorem does not exclude a mirror flow and the forward theorem does not apply; "
        "mirror_potential decides it on the reachable set of an initialization "
        "(riemflow.fibres)"
    ),
    UNRESOLVED: (
        "the decisive figure is within 10x of its float64 round-off floor: no verdict at "
        "this tolerance (raise rtol, or judge at another length scale)"
    ),
}


# -- the check -------------------------------------------------------------------------------
class _Worst:
    """Running maximum of a measure over chunks of points."""

    def __init__(self):
        self.value, self.floor, self.pair, self.point, self.k = -1.0, 0.0, None, None, None

    def update(self, values, floors, points, pair_of):
        if values.size == 0:
            return
        flat = int(np.argmax(values))
        idx = np.unravel_index(flat, values.shape)
        if values[idx] > self.value:
            self.value, self.floor = float(values[idx]), float(floors[idx])
            self.point = points[idx[0]]
            self.pair, self.k = pair_of(idx[1:])

    def result(self) -> WorstBracket:
        if self.pair is None:
            return WorstBracket(0.0, 0.0, None, None)
        return WorstBracket(self.value, self.floor, self.pair, readonly_copy(self.point), self.k)


def check_commuting(
    G,
    points=None,
    *,
    n_samples: int = 64,
    rtol: float = 1e-8,
    atol: float = 0.0,
    seed: int | None = 0,
    region: Region | None = None,
    length_scale=None,
    order: int = 3,
    max_order3_pairs: int = 6,
    resolved_factor: float = RESOLVED_FACTOR,
) -> CommutingReport:
    """Brackets of the gradient fields, their part outside `ker dG`, and the verdict.

    The measures and verdicts are defined in the module docstring.

    Args:
        G: the `Parametrization`.
        points: points `(B, D)` (or one `(D,)`) to check at; default `n_samples` random
            points of the domain drawn with `seed`.
        n_samples: number of random points when neither `points` nor `region` is given.
        rtol: tolerance on every measure `rho` (dimensionless), default `1e-8`: a map that
            passes has loops of the region's size closing to `1e-8` relative, to leading
            order, which is the package's trajectory tolerance (`verify_equivalence`)
            and above the round-off floors on the model zoo (`< 1e-13`).
        atol: absolute tolerance on `|[X_i, X_j]|` (Euclidean norm of the coordinates): a
            pair also passes when its bracket is below it (default 0, scale-free test).
        seed: seed of the random points.
        region: a `riemflow.regions.Region` to check on (`sampled_region`, `given_region`,
            `reachable_region`) instead of `points`.
        length_scale: `ell`, the length in the metric of `M` at which the brackets are
            judged, for a region built from `points` or samples; default the RMS distance
            of the points to their centroid (`|x|_g` for a single point).
        order: 2, or 3 (default) to also compute `[X_k, [X_i, X_j]]` for the pairs whose
            brackets lie in `ker dG` and do not vanish, the only case where order 3 can
            change the verdict; it costs nothing for commuting maps.
        max_order3_pairs: at most this many pairs (the largest vertical brackets first)
            get order 3 (default 6).
        resolved_factor: a measure above `rtol` decides only when it also exceeds this
            multiple of its float64 round-off floor (default 10, `RESOLVED_FACTOR`); below
            it the verdict is "unresolved".

    Returns:
        A `CommutingReport`.

    Examples:
        >>> import riemflow as rf
        >>> G, _ = rf.models.bilinear_chain(3)
        >>> report = rf.brackets.check_commuting(G)   # 64 points of [-1, 1]^3, seed 0
        >>> report.verdict, report.worst_pair, report.n_points
        ('not a mirror flow', (0, 1), 64)
        >>> report.transverse.value > 1.0   # loops of the region's size miss by O(1)
        True

    Raises:
        InputError: `rtol` and `atol` both 0, negative tolerances, `order` not 2 or 3, or
            a bad `region`.
    """
    rtol = as_positive(rtol, "rtol", allow_zero=True)
    atol = as_positive(atol, "atol", allow_zero=True)
    if rtol == 0 and atol == 0:
        raise InputError(
            "`rtol` and `atol` are both 0: round-off makes every bracket non-zero, so "
            "the check could never pass; give one of them a positive value",
            argument="rtol",
        )
    if isinstance(order, bool) or order not in (2, 3):
        raise InputError(f"`order` must be 2 or 3; got {order!r}", argument="order")
    max_order3_pairs = as_positive_int(max_order3_pairs, "max_order3_pairs")
    resolved_factor = as_positive(resolved_factor, "resolved_factor")
    region = as_region(
        G, region, points=points, n_samples=n_samples, seed=seed, length_scale=length_scale
    )
    xb = np.asarray(region.points, dtype=np.float64)
    G.values(xb, "points")
    ell = region.length_scale
    d, dim = G.output_dim, G.input_dim
    state = _Order2(d, rtol, atol, ell, resolved_factor)
    chunk = max(1, _CHUNK_ENTRIES // max(1, d * d * dim))
    for start in range(0, xb.shape[0], chunk):
        state.add(bracket_split(G, xb[start : start + chunk]))
    notes: list[str] = []
    order3 = None
    if order == 3 and d >= 2 and not state.resolved_transverse and state.failed_total:
        pairs = state.order3_candidates(rtol)
        if len(pairs) > max_order3_pairs:
            notes.append(
                f"order 3 computed for {max_order3_pairs} of {len(pairs)} pairs with vertical "
                "brackets above rtol (the largest first)"
            )
            pairs = pairs[:max_order3_pairs]
        if pairs:
            order3 = _Order3(rtol, ell, resolved_factor)
            chunk3 = max(1, chunk // d)
            for start in range(0, xb.shape[0], chunk3):
                part = xb[start : start + chunk3]
                order3.add(G, part, pairs, bracket_split(G, part))
    verdict = state.verdict(order3)
    total = state.total.result()
    if total.floor > rtol:
        notes.append(
            f"the round-off floor {total.floor:.1e} of the largest bracket exceeds rtol={rtol:g}"
        )
    transverse3 = order3.worst.result() if order3 is not None else None
    decisive = total
    if verdict == NOT_MIRROR:
        decisive = state.transverse.result() if state.resolved_transverse else transverse3
    return CommutingReport(
        passed=verdict == COMMUTING,
        max_bracket=total.value,
        max_abs_bracket=state.max_abs,
        worst_pair=decisive.pair,
        worst_point=None
        if decisive.point is None
        else readonly_copy(G.geometry.unflatten(decisive.point)),
        n_points=region.n_points,
        rtol=rtol,
        atol=atol,
        verdict=verdict,
        total=total,
        transverse=state.transverse.result(),
        vertical=state.vertical.result(),
        transverse3=transverse3,
        region=region,
        length_scale=ell,
        max_term_ratio=state.max_ratio,
        notes=tuple(notes),
    )


class _Order2:
    """Order-2 figures accumulated over chunks of points."""

    def __init__(self, d, rtol, atol, ell, resolved_factor):
        self.d, self.rtol, self.atol, self.ell = d, rtol, atol, ell
        self.resolved_factor = resolved_factor
        self.total, self.transverse, self.vertical = _Worst(), _Worst(), _Worst()
        self.max_abs, self.max_ratio = 0.0, 0.0
        self.resolved_transverse = self.failed_transverse = False
        self.failed_total = self.resolved_total = False
        self.score = np.zeros((d, d))  # per pair: largest rho_par
        self.resolved_vertical = np.zeros((d, d))  # per pair: largest resolved rho_par
        self.pairs = None

    def add(self, split: BracketSplit) -> None:
        if not split.pairs:
            return
        self.pairs = split.pairs
        nrm = split.field_norm[:, [p[0] for p in split.pairs]]
        nrm = nrm * split.field_norm[:, [p[1] for p in split.pairs]]
        safe = np.where(nrm > 0, nrm, np.inf)
        ii = [p[0] for p in split.pairs]
        jj = [p[1] for p in split.pairs]
        inner = split.jacobian_scale[:, ii] * split.field_norm[:, jj]
        inner = inner + split.jacobian_scale[:, jj] * split.field_norm[:, ii]
        floor = self.ell * ROUNDOFF_FACTOR * _EPS * (split.term_norm + inner) / safe
        rho = self.ell * split.total_norm / safe
        rho_t = self.ell * split.horizontal_norm / safe
        rho_v = self.ell * split.vertical_norm / safe
        pair_of = lambda idx: (split.pairs[int(idx[0])], None)  # noqa: E731
        self.total.update(rho, floor, split.points, pair_of)
        self.transverse.update(rho_t, floor, split.points, pair_of)
        self.vertical.update(rho_v, floor, split.points, pair_of)
        self.max_abs = max(self.max_abs, float(np.max(split.coordinate_norm)))
        terms = split.coordinate_term_norm
        ratio = np.divide(split.coordinate_norm, terms, out=np.zeros_like(terms), where=terms > 0)
        self.max_ratio = max(self.max_ratio, float(np.max(ratio)))
        exempt = split.coordinate_norm <= self.atol
        fail_t = (rho_t > self.rtol) & ~exempt
        fail = (rho > self.rtol) & ~exempt
        resolved = self.resolved_factor * floor
        self.failed_transverse |= bool(np.any(fail_t))
        self.resolved_transverse |= bool(np.any(fail_t & (rho_t > resolved)))
        self.failed_total |= bool(np.any(fail))
        self.resolved_total |= bool(np.any(fail & (rho > resolved)))
        score = np.max(np.where(exempt, 0.0, rho_v), axis=0)
        kept = np.max(np.where((rho_v > resolved) & ~exempt, rho_v, 0.0), axis=0)
        self.score[ii, jj] = np.maximum(self.score[ii, jj], score)
        self.resolved_vertical[ii, jj] = np.maximum(self.resolved_vertical[ii, jj], kept)

    def order3_candidates(self, rtol) -> list:
        """Pairs whose vertical bracket is above `rtol` and resolved, largest first."""
        pairs = [
            (i, j)
            for i in range(self.d)
            for j in range(i + 1, self.d)
            if self.score[i, j] > rtol and self.resolved_vertical[i, j] > rtol
        ]
        return sorted(pairs, key=lambda p: -self.score[p])

    def verdict(self, order3) -> str:
        failed3 = order3 is not None and order3.failed
        if self.resolved_transverse or (order3 is not None and order3.resolved):
            return NOT_MIRROR
        if self.failed_transverse or failed3:
            return UNRESOLVED
        if not self.failed_total:
            return COMMUTING
        return UNDECIDED if self.resolved_total else UNRESOLVED


class _Order3:
    """Order-3 figures `rho3_perp` accumulated over chunks of points."""

    def __init__(self, rtol, ell, resolved_factor):
        self.rtol, self.ell, self.resolved_factor = rtol, ell, resolved_factor
        self.worst = _Worst()
        self.failed = self.resolved = False

    def add(self, G, xb, pairs, split: BracketSplit) -> None:
        index = {p: n for n, p in enumerate(split.pairs)}
        ell, fn = self.ell, split.field_norm
        stretch = 1.0 + ell * split.jacobian_scale / np.where(fn > 0, fn, np.inf)  # (B, d)
        for i, j in pairs:
            brackets, term_norm = order3_brackets(G, xb, (i, j))
            _, h_norm, _ = _horizontal(
                brackets, split.jacobian, split.fields, split.kernel, split.metric
            )
            n3 = (fn[:, i] * fn[:, j])[:, None] * fn
            safe = np.where(n3 > 0, n3, np.inf)
            rho3 = ell**2 * h_norm / safe
            p = index[(i, j)]
            nij = fn[:, i] * fn[:, j]
            nij = np.where(nij > 0, nij, np.inf)
            rho2 = ell * split.total_norm[:, p] / nij
            inner = split.jacobian_scale[:, i] * fn[:, j] + split.jacobian_scale[:, j] * fn[:, i]
            floor2 = ell * ROUNDOFF_FACTOR * _EPS * (split.term_norm[:, p] + inner) / nij
            # the bracket [X_i, X_j] is known only to its floor, and that uncertainty is
            # carried (and differentiated) into the order-3 bracket
            floor3 = ell**2 * ROUNDOFF_FACTOR * _EPS * term_norm / safe
            floor3 = floor3 + (ROUNDOFF_FACTOR * _EPS * rho2 + floor2)[:, None] * stretch
            self.worst.update(rho3, floor3, xb, lambda idx, ij=(i, j): (ij, int(idx[0])))
            fail = rho3 > self.rtol
            self.failed |= bool(np.any(fail))
            self.resolved |= bool(np.any(fail & (rho3 > self.resolved_factor * floor3)))

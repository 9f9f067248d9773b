"""Curved metrics on the image of a box: embed the metric pulled back through a chart
([Concepts: the converse via Nash embedding](concepts.md#the-converse-via-nash-embedding)).

If `K = phi(S)` for a box `S` and a diffeomorphism `phi` of the closed box onto `K`, then
`F: (K, hess R) -> R^D` is isometric iff `F_s = F o phi` is isometric for the pulled-back
metric

    g_s(s) = dphi(s)^T hess R(phi(s)) dphi(s)          on S.

`g_s` is in general not a Hessian metric, but the Chebyshev collocation solver only
evaluates the metric (`.hessian(points)`; no values, gradients or third derivatives), so
`PulledBackMetric` feeds it directly. `F = F_s o phi^{-1}` and, in the coordinates `s` of
`M = F_s(S)`, the commuting parametrization is `G = phi`: gradient flow of `L o phi` for the
metric `dF_s^T dF_s` pushes forward to `dw/dt = -dphi g_s^{-1} dphi^T grad L = -hess R^{-1}
grad L` (mirror flow) when `dF_s^T dF_s = g_s`.

The defect is measured in the coordinates `w` that `R` lives in:
`dF^T dF - hess R = dphi^{-T} (dF_s^T dF_s - g_s) dphi^{-1}` at `w = phi(s)`.

Built-in charts. No diffeomorphism of the closed square onto a closed disk or triangle
exists (a corner of the square has to go to a smooth boundary point or a vertex with a
different angle, and the Jacobian degenerates there: the elliptical grid map, polar
coordinates and the Duffy map all do). A defect measured on the closed domain then blows up
near the degenerate point. So the built-ins cover the requested compact domain by the image
of a box under a map that is a diffeomorphism up to the corners, inside `dom R`:

- `disk_chart(radius, center, roundness=a)`: `(u sqrt(1 - a v^2), v sqrt(1 - a u^2))` scaled
  by the radius; for `a < 1/2` its Jacobian determinant is `>= (1 - 2a)/(1 - a) > 0` on the
  closed square, and the image (a rounded square through the four points at distance
  `radius` on the axes, corners at `radius sqrt(2 (1 - a))`) contains the closed disk;
  `a = 1/2` is the elliptical grid map onto the disk itself (singular at the corners).
  `ellipsoid_chart` is its affine image.
- `simplex_chart(dim, margin)`: softmax, `w = e^s / (1 + sum e^s)` on `[-m, m]^d` with
  `m = log((1 - d margin) / margin)`: its image is `{|log(w_i / w_{d+1})| <= m}`, which
  contains `Simplex(dim, margin)`; the chart is a diffeomorphism onto the open simplex
  and it resolves the square-root boundary layers of entropy-like potentials (in `s` the
  simplex entropy's metric is the covariance of the softmax: analytic in a strip), which a
  Chebyshev basis on a box in `w` would need degree ~50-80 for.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import autograd.numpy as anp
import numpy as np

from ..domains import Ball, Domain, Ellipsoid, MappedBox, Shell, Simplex, lobatto_points
from ..errors import BudgetError, ConvergenceError, CostError, InputError
from .base import Embedding
from .chebyshev import curved_embedding

__all__ = [
    "ChartEmbedding",
    "MappedResult",
    "PulledBackMetric",
    "builtin_chart",
    "chart_defect",
    "disk_chart",
    "ellipsoid_chart",
    "mapped_embedding",
    "simplex_chart",
]


class PulledBackMetric:
    """`g_s(s) = dphi(s)^T hess R(phi(s)) dphi(s)`: a metric on the box of a chart, in the
    form the Chebyshev construction reads (`.dim`, `.name`, `.hessian(points)`).

    Args:
        hessian: `w (B, d) -> hess R(w) (B, d, d)`.
        chart: the `MappedBox`.
        name: the potential's name.
    """

    def __init__(self, hessian, chart: MappedBox, name: str = "R"):
        self._hessian = hessian
        self.chart = chart
        self.dim = chart.dim
        self.name = f"the pullback of {name} through {chart.name}"

    def hessian(self, s) -> np.ndarray:
        """`g_s(s)`: `(B, d, d)` for `s: (B, d)` (or `(d, d)` for `(d,)`)."""
        s = np.asarray(s, dtype=np.float64)
        sb = np.atleast_2d(s)
        J = self.chart.jacobian(sb)
        H = np.asarray(self._hessian(self.chart(sb))).reshape(-1, self.dim, self.dim)
        out = np.einsum("bai,bac,bcj->bij", J, H, J)
        return out[0] if s.ndim == 1 else out


class ChartEmbedding(Embedding):
    """`F = F_s o phi^{-1}` on `K = phi(S)`: the embedding in the coordinates `w` of `R`.

    Values go through the Newton inverse of the chart (an autograd primitive whose
    derivative is `dphi^{-1}`); `jacobian` is `dF_s(s) dphi(s)^{-1}` at `s = phi^{-1}(w)`.

    Attributes:
        box_embedding: `F_s` on the box `S`.
        chart: the `MappedBox`.
    """

    def __init__(self, box_embedding: Embedding, chart: MappedBox):
        self.box_embedding, self.chart = box_embedding, chart
        super().__init__(
            self._evaluate,
            chart.dim,
            box_embedding.ambient_dim,
            f"{box_embedding.method} on the box of {chart.name}, composed with its inverse",
        )

    def _evaluate(self, w):
        return self.box_embedding(_chart_inverse(self.chart)(w))

    def jacobian(self, w) -> np.ndarray:
        """`dF(w) = dF_s(s) dphi(s)^{-1}`: `(D, d)` or `(B, D, d)`."""
        arr = np.asarray(w, dtype=np.float64)
        s = self.chart.inverse(np.atleast_2d(arr))
        J = np.einsum(
            "bai,bij->baj",
            np.asarray(self.box_embedding.jacobian(s)),
            np.linalg.inv(self.chart.jacobian(s)),
        )
        return J[0] if arr.ndim == 1 else J


def _chart_inverse(chart: MappedBox):
    """`phi^{-1}` as an autograd primitive (derivative `dphi^{-1}` at `phi^{-1}(w)`)."""
    from autograd.extend import defvjp, primitive

    @primitive
    def inverse(w):
        arr = np.asarray(w, dtype=np.float64)
        s = chart.inverse(np.atleast_2d(arr))
        return s[0] if arr.ndim == 1 else s

    def vjp(ans, w):
        Jinv = np.linalg.inv(chart.jacobian(np.atleast_2d(ans)))

        def pull(g):
            out = np.einsum("...i,...ij->...j", np.atleast_2d(g), Jinv)
            return out[0] if np.ndim(w) == 1 else out

        return pull

    defvjp(inverse, vjp)
    return inverse


# -- built-in charts ----------------------------------------------------------------------------
def _rounded_square(a: float):
    def chart(s):
        u, v = s[..., 0], s[..., 1]
        return anp.stack([u * anp.sqrt(1.0 - a * v * v), v * anp.sqrt(1.0 - a * u * u)], axis=-1)

    def jacobian(s):
        s = np.asarray(s, dtype=np.float64)
        u, v = s[..., 0], s[..., 1]
        A, B = np.sqrt(1.0 - a * v * v), np.sqrt(1.0 - a * u * u)
        J = np.empty(s.shape + (2,))
        J[..., 0, 0], J[..., 0, 1] = A, -a * u * v / A
        J[..., 1, 0], J[..., 1, 1] = -a * u * v / B, B
        return J

    return chart, jacobian


def ellipsoid_chart(
    center, axes, *, roundness: float = 0.4, inner: Domain | None = None
) -> MappedBox:
    """`w = c + A psi_a(s)` on `[-1, 1]^2`, `psi_a(u, v) = (u sqrt(1 - a v^2), v sqrt(1 - a u^2))`.

    For `a < 1/2` the Jacobian determinant of `psi_a` is at least `(1 - 2a) / (1 - a)` on the
    closed square, and its image, a rounded square through the points at distance 1 on the
    axes with corners at `sqrt(2 (1 - a))` (1.095 for the default `a = 0.4`), contains the
    closed unit disk; so the image of the chart contains the ellipse `{c + A x : |x| <= 1}`
    and must lie in `dom R`.

    Args:
        center: `c` `(2,)`.
        axes: `A` `(2, 2)`.
        roundness: `a` in `(0, 1/2)`.
        inner: the domain asked for (default the ellipse).

    Returns:
        A `MappedBox`.

    Raises:
        InputError: not two-dimensional, or `roundness` outside `(0, 1/2)`.

    Examples:
        >>> import numpy as np
        >>> from riemflow.embedding.mapped import ellipsoid_chart
        >>> K = ellipsoid_chart([0.0, 0.0], np.eye(2))
        >>> # (1 - 2a) / (1 - a) = 1/3
        >>> K.chart_ratio() > 0.1, K(np.array([[1.0, 0.0]])).tolist()
        (True, [[1.0, 0.0]])
    """
    c = np.asarray(center, dtype=np.float64)
    A = np.asarray(axes, dtype=np.float64)
    if c.shape != (2,) or A.shape != (2, 2):
        raise InputError("the rounded-square chart is two-dimensional", argument="domain")
    if not 0.0 < roundness < 0.5:
        raise InputError(f"`roundness` must be in (0, 1/2); got {roundness}", argument="roundness")
    psi, dpsi = _rounded_square(roundness)

    def chart(s):
        return c + anp.dot(psi(s), A.T)

    def jacobian(s):
        return np.einsum("ij,bjk->bik", A, dpsi(np.atleast_2d(s)))

    inner = inner if inner is not None else Ellipsoid(c, A)
    return MappedBox(
        chart,
        [-1.0, -1.0],
        [1.0, 1.0],
        jacobian=jacobian,
        inner=inner,
        name=f"the rounded square (a={roundness:g})",
    )


def disk_chart(
    radius: float, center=None, *, roundness: float = 0.4, inner: Domain | None = None
) -> MappedBox:
    """The rounded-square chart (`ellipsoid_chart`) of the disk of `radius` around `center`.

    Args:
        radius: the disk's radius.
        center: `(2,)` (default 0).
        roundness: see `ellipsoid_chart`.
        inner: the domain asked for (default the disk).

    Returns:
        A `MappedBox` whose image contains the closed disk.

    Examples:
        >>> from riemflow.embedding.mapped import disk_chart
        >>> disk_chart(0.8).inner
        Ball(dim=2, radius=0.8)
    """
    c = np.zeros(2) if center is None else np.asarray(center, dtype=np.float64)
    inner = inner if inner is not None else Ball(2, radius, center=c)
    return ellipsoid_chart(c, radius * np.eye(2), roundness=roundness, inner=inner)


def simplex_chart(dim: int, margin: float) -> MappedBox:
    """The softmax chart `w = e^s / (1 + sum e^s)` on `[-m, m]^dim` covering
    `Simplex(dim, margin)`, `m = log((1 - dim margin) / margin)`; inverse
    `s = log(w / (1 - sum w))` in closed form.

    In `s` the square-root boundary layers of entropy-like potentials disappear (the simplex
    entropy's metric is the covariance of the softmax, analytic in a strip around the real
    box), where a Chebyshev basis in `w` would need degrees of 50 to 80 for `margin = 0.05`.

    Args:
        dim: `d`.
        margin: the part's margin (in `(0, 1 / (d + 1))`).

    Returns:
        A `MappedBox` with `inner = Simplex(dim, margin)`.

    Examples:
        >>> from riemflow.embedding.mapped import simplex_chart
        >>> K = simplex_chart(2, 0.05)
        >>> round(float(K.box.upper[0]), 6), K.inner
        (2.890372, Simplex(dim=2, margin=0.05))
    """
    part = Simplex(dim, margin)
    if margin <= 0:
        raise InputError("the softmax chart needs margin > 0", argument="margin")
    m = float(np.log((1.0 - dim * margin) / margin))

    def chart(s):
        e = anp.exp(s)
        return e / (1.0 + anp.sum(e, axis=-1, keepdims=True))

    def jacobian(s):
        p = np.asarray(chart(np.atleast_2d(np.asarray(s, dtype=np.float64))))
        return p[..., :, None] * np.eye(dim) - p[..., :, None] * p[..., None, :]

    def inverse(w):
        w = np.asarray(w, dtype=np.float64)
        return np.log(w) - np.log(1.0 - np.sum(w, axis=-1, keepdims=True))

    return MappedBox(
        chart,
        np.full(dim, -m),
        np.full(dim, m),
        inverse=inverse,
        jacobian=jacobian,
        inner=part,
        name=f"softmax on [-{m:.4g}, {m:.4g}]^{dim}",
    )


def builtin_chart(region: Domain, *, roundness: float = 0.4) -> MappedBox | None:
    """The built-in chart of a non-box region, or `None`: a `MappedBox` itself, the
    rounded square of a disk (`Ball`, a `Shell` with `inner = 0`) or an ellipse in `d = 2`,
    the softmax chart of a `Simplex` with `margin > 0`.

    Args:
        region: the domain.
        roundness: of the rounded-square charts.

    Returns:
        A `MappedBox` or `None`.

    Examples:
        >>> import riemflow as rf
        >>> from riemflow.embedding.mapped import builtin_chart
        >>> builtin_chart(rf.domains.Ball(2, radius=0.8)).name
        'the rounded square (a=0.4)'
        >>> builtin_chart(rf.domains.Ball(3, radius=0.8)) is None
        True
    """
    if isinstance(region, MappedBox):
        return region
    if region.dim == 2 and isinstance(region, Ball):
        return disk_chart(region.radius, region.c, roundness=roundness, inner=region)
    if region.dim == 2 and isinstance(region, Shell) and region.inner == 0:
        return disk_chart(region.outer, region.c, roundness=roundness, inner=region)
    if region.dim == 2 and isinstance(region, Ellipsoid):
        return ellipsoid_chart(region.c, region.A, roundness=roundness, inner=region)
    if isinstance(region, Simplex) and region.margin > 0:
        return simplex_chart(region.dim, region.margin)
    return None


# -- the construction ---------------------------------------------------------------------------
@dataclass(frozen=True)
class MappedResult:
    """What `mapped_embedding` returns.

    Attributes:
        box_embedding: `F_s` on the chart's box.
        defect: the honest defect in `w` (`chart_defect`).
        defect_s: the honest defect of `F_s` for the pulled-back metric on the closed box.
        history: the `DegreeStep`s of the last round.
        rounds: one dict per round (`tol_s`, `seed`, degree, defects, or the error).
        seconds: wall time.
    """

    box_embedding: Embedding
    defect: float
    defect_s: float
    history: tuple
    rounds: tuple
    seconds: float


def chart_defect(
    hessian,
    box_embedding,
    chart: MappedBox,
    *,
    grid_points: int = 0,
    n: int = 4000,
    seed: int | None = 12345,
    bound_factor: float = 1.0,
) -> float:
    """The isometry defect in `w` of `F = F_s o phi^{-1}`: `max |dF^T dF - H| / max |H|`.

    `dF^T dF - H = dphi^{-T} (dF_s^T dF_s - g_s) dphi^{-1}` at `w = phi(s)`, measured on the
    images of a tensor Lobatto grid of the closed box (`grid_points` per axis, faces and
    corners included), of the box's closure points (`Box.closure_points`), and on the
    closure points of the requested domain `chart.inner`; the grid's maximum is multiplied by
    `bound_factor` (the box check's factor bounding a polynomial between grid points). When
    the chart has a requested domain, the box's points whose images fall outside it are
    left out (the image of the box may reach further, where `|H|` is larger): the figure is
    the defect on the domain, numerator and `max |H|` alike, which a check there finds.

    Args:
        hessian: `w (B, d) -> hess R(w) (B, d, d)`.
        box_embedding: `F_s`.
        chart: the `MappedBox`.
        grid_points: grid points per axis (0: none).
        n: about how many closure points of each kind.
        seed: their seed.
        bound_factor: see above.

    Returns:
        The defect.
    """
    rng = np.random.default_rng(seed)
    d = chart.dim
    sets = []
    if grid_points:
        x = lobatto_points(grid_points)
        axes = [
            0.5 * (lo + hi) + 0.5 * (hi - lo) * x
            for lo, hi in zip(chart.box.lower, chart.box.upper, strict=True)
        ]
        grid = np.stack(np.meshgrid(*axes, indexing="ij"), -1).reshape(-1, d)
        sets.append((grid, bound_factor, False))
    sets.append((chart.box.closure_points(rng, n), 1.0, False))
    inner = chart.inner is not None and chart.inner.is_compact
    if inner:
        sets.append((chart.inverse(chart.inner.closure_points(rng, n)), 1.0, True))
    num = den = 0.0
    for s, factor, on_domain in sets:
        for start in range(0, s.shape[0], 100_000):
            sb = s[start : start + 100_000]
            w = chart(sb)
            if inner and not on_domain:  # the box's image reaches past the domain
                keep = np.asarray(chart.inner.contains(w), dtype=bool)
                sb, w = sb[keep], w[keep]
                if not sb.shape[0]:
                    continue
            Jinv = np.linalg.inv(chart.jacobian(sb))
            J = np.einsum("bai,bij->baj", np.asarray(box_embedding.jacobian(sb)), Jinv)
            H = np.asarray(hessian(w)).reshape(-1, d, d)
            num = max(num, factor * float(np.max(np.abs(np.einsum("bai,baj->bij", J, J) - H))))
            den = max(den, float(np.max(np.abs(H))))
    return num / den


def mapped_embedding(
    R,
    chart: MappedBox,
    *,
    tol: float,
    max_rounds: int = 4,
    min_chart_ratio: float = 1e-3,
    seed: int | None = 0,
    time_limit: float | None = 1800.0,
    construct=None,
    **options,
) -> MappedResult:
    """Isometric embedding of `(K, hess R)` for `K` inside the image of a box under `chart`.

    Runs a construction on the box (`curved_embedding` unless `construct` is given) for the
    pulled-back metric, with a
    tolerance `tol_s` in `s` starting at `tol / 3`, then measures the defect in `w`
    (`chart_defect`); while it is above `tol`, `tol_s` is lowered by the observed ratio and
    the construction continues from its last map at higher degrees (at most `max_rounds`
    rounds; a round whose solver stalls restarts from another `seed`).

    Args:
        R: the potential (anything with `.hessian` and `.name`).
        chart: a `MappedBox` whose closure lies in `dom R`.
        tol: required defect in `w`.
        max_rounds: rounds of the construction.
        min_chart_ratio: smallest `min |det dphi| / max |det dphi|` on the closed box
            accepted (a chart degenerating at a corner is refused: the defect in `w` could
            not be bounded there).
        seed: seed of the first round's initial map.
        time_limit: wall-time budget of all rounds in seconds (`None`: none).
        construct: the construction on the box (default `curved_embedding`, continued
            from the last round's map); another is called as `construct(metric, box,
            tol=tol_s, time_limit=..., **options)` and returns a result with `embedding`,
            `check` and `history` (`spiral.spiral_embedding`: its rounds start afresh).
        **options: passed to the construction (`ambient_dim`, `max_degree`, `max_iter`,
            `memory_limit`, `progress`, ...).

    Returns:
        A `MappedResult`.

    Raises:
        InputError: a degenerate chart.
        CostError, BudgetError: from `curved_embedding`.
        ConvergenceError: `tol` not reached.
    """
    start = time.perf_counter()
    ratio = chart.chart_ratio()
    if ratio < min_chart_ratio:
        raise InputError(
            f"the chart {chart.name} degenerates on the closed box (min/max |det dphi| = "
            f"{ratio:.1e} < min_chart_ratio={min_chart_ratio:g}): the defect in w could not be "
            "bounded there; use a chart that is a diffeomorphism up to the corners",
            argument="domain",
        )
    metric = PulledBackMetric(R.hessian, chart, getattr(R, "name", "R"))
    tol_s = tol / 3.0
    rounds: list[dict] = []
    previous = None
    best = None
    for round_ in range(1, max_rounds + 1):
        left = None if time_limit is None else time_limit - (time.perf_counter() - start)
        if left is not None and left <= 0:
            break
        try:
            if construct is None:
                res = curved_embedding(
                    metric,
                    chart.box,
                    tol=tol_s,
                    seed=seed,
                    time_limit=left,
                    resume=previous,
                    **options,
                )
            else:
                res = construct(metric, chart.box, tol=tol_s, time_limit=left, **options)
        except (CostError, BudgetError):
            if best is None:
                raise
            break
        except ConvergenceError as exc:  # the solver stalled: another initial map
            if construct is not None:
                if best is None:
                    raise
                break
            rounds.append({"round": round_, "tol_s": tol_s, "seed": seed, "error": str(exc)[:300]})
            seed = (seed or 0) + 1
            previous = None
            continue
        K = res.check.grid_points
        defect = chart_defect(
            R.hessian, res.embedding, chart, grid_points=K, bound_factor=res.check.bound_factor
        )
        rounds.append(
            {
                "round": round_,
                "tol_s": tol_s,
                "seed": seed,
                "degree": res.embedding.degree,
                "defect_s": res.check.defect,
                "defect_w": defect,
            }
        )
        if best is None or defect < best[1]:
            best = (res, defect)
        if defect <= tol:
            break
        tol_s = max(tol / 1e3, min(tol_s, res.check.defect) * min(0.5, 0.5 * tol / defect))
        previous = res
    if best is None or best[1] > tol:
        got = "no map" if best is None else f"defect {best[1]:.3e}"
        raise ConvergenceError(
            f"the embedding of {getattr(R, 'name', 'R')} on {chart!r}: {got} above tol={tol:g} "
            f"after {len(rounds)} round(s) ({rounds})",
            residual=None if best is None else best[1],
            iterations=len(rounds),
        )
    res, defect = best
    return MappedResult(
        res.embedding,
        defect,
        res.check.defect,
        res.history,
        tuple(rounds),
        time.perf_counter() - start,
    )

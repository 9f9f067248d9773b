"""The converse: a commuting parametrization from a Legendre function.

[Concepts: the converse via Nash embedding](concepts.md#the-converse-via-nash-embedding).

Given `R` and a compact region `K` inside `dom R`, find an isometric embedding
`F: (K, hess R) -> R^D`, put `M = F(K)` with the metric induced from `R^D`, and
`G = F^{-1}: M -> R^d`. Gradient flow of `L o G` on `M` is then mirror flow with `R`, for
every loss: the gradient fields of `G` are the coordinate fields of the dual coordinates
`mu = grad R(w)`, so they commute.

`commuting_parametrization` returns `G` in intrinsic coordinates: the point of `M` over
`w` has coordinates `w` (or, on the image of a box under a chart `phi`, the box
coordinates `s` with `G = phi`), the metric is the pullback `dF^T dF`, and `.ambient()`
gives the same `G` on `M` in the coordinates of `R^D`. The embeddings are built by
`riemflow.embedding`, by the first route that applies:

1. **blocks**: `hess R` block diagonal (detected on sample points, or declared with
   `embedding.Blocks`): the product of the blocks' embeddings, blocks that are the same
   function built once (`embedding.product`); each block goes through 2-5;
2. **interval**: `d = 1`, `F = int sqrt(R'')` exactly;
3. **flat**: a flat `hess R` (`R.check_flat`), exactly in `R^d` (`embedding.flat`);
4. **radial**: `R(w) = phi(|L (w - c)|)` (detected, or declared with `embedding.Radial`), an
   exact winding embedding from one-dimensional quadratures (`embedding.radial`);
5. **numerical**: a curved metric without structure, `d <= max_dim`, on a box or on the
   box of a chart for other domains (`embedding.mapped`: built-in charts for disks,
   ellipses and simplices, or a `domains.MappedBox` from the caller), by one of two
   constructions: exact Nash spirals whose amplitudes are Chebyshev interpolants
   (`embedding.spiral`, `D = d + 2K`, the default for `d >= 3`: a few passes over the nodes,
   no large linear system), or Chebyshev collocation of `dF^T dF = hess R` with
   Levenberg-Marquardt steps (`embedding.chebyshev`, `D = d (d + 1) / 2 + 1`, the default
   for `d = 2`: the smallest `D`).

Every result carries an honest isometry defect: the maximum of
`|dF^T dF - hess R| / max |hess R|` over the closed region, its boundary and corners
included (`Domain.closure_points`; a bound over a fine grid for the numerical routes).
This module holds the result type, its save/load, and the choice between the routes.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass

import numpy as np

from ._validation import as_positive, as_positive_int
from .domains import (
    Box,
    Domain,
    MappedBox,
    ProductDomain,
    as_domain,
)
from .embedding import (
    ChebyshevEmbedding,
    DegreeStep,
    Embedding,
    ambient_parametrization,
    chebyshev_nodes,
    flat_embedding,
    separable_embedding,
)
from .embedding._files import read_npz
from .embedding.chebyshev import (
    MEMORY_LIMIT,
    CostEstimate,
    ProgressEvent,
    curved_embedding,
    estimate_cost,
    progress_bar,
)
from .embedding.mapped import ChartEmbedding, builtin_chart, mapped_embedding
from .embedding.product import GroupEmbedding, IntervalEmbedding, ProductEmbedding
from .embedding.radial import RadialEmbedding, radial_embedding
from .embedding.spiral import SpiralEmbedding, estimate_spiral_cost, spiral_embedding
from .embedding.structure import (
    Blocks,
    Radial,
    detect_blocks,
    detect_radial,
    group_blocks,
    restricted,
)
from .errors import (
    ConvergenceError,
    CostError,
    DomainError,
    FrameError,
    InputError,
    NotPositiveDefiniteError,
)
from .legendre import Legendre
from .parametrization import Parametrization
from .spaces import immersed_manifold, metric_space

__all__ = [
    "commuting_parametrization",
    "ConverseParametrization",
    "DegreeStep",
    "estimate",
    "load",
]

#: the routes `commuting_parametrization` chooses among
ROUTES = ("product", "interval", "separable", "flat", "radial", "spiral", "chebyshev", "mapped")
#: the numerical constructions of a curved metric without structure (`numerical=`)
NUMERICAL = ("auto", "spiral", "collocation")


class ConverseParametrization(Parametrization):
    """`G = F^{-1}` on `M = F(K)`, in intrinsic coordinates (see `commuting_parametrization`).

    Coordinates are `w` (`G` the identity, `point_over(w) = w`), or, for a region given as
    the image of a box under a chart `phi` (`route == "mapped"`), the box coordinates `s`
    (`G = phi`, `point_over(w) = phi^{-1}(w)`).

    Attributes:
        legendre: `R`.
        embedding: `F` as a map of `w` (an `Embedding`: `F(w)` `(D,)`, `F.jacobian(w)`
            `(D, d)`, `F.metric(w)`).
        isometry_defect: `max |dF^T dF - hess R| / max |hess R|` on the closed region
            (boundary and corners included).
        ambient_dim: `D`.
        construction: how `F` was built.
        route: one of `ROUTES`.
        history: per-degree `DegreeStep`s of a numerical construction (empty otherwise).
        region: the domain `K`.
        chart: the `MappedBox` of the mapped route (else `None`).
        box_embedding: `F_s = F o phi` on the chart's box (mapped route), else `F`.
        groups: the `GroupEmbedding`s of a product (else empty).
        seconds: wall time of the construction.
        cpu_seconds: its process CPU time.
    """

    def __init__(
        self,
        R: Legendre,
        embedding: Embedding,
        region: Domain,
        *,
        defect: float,
        construction: str,
        history: tuple[DegreeStep, ...] = (),
        route: str = "",
        space=None,
        chart: MappedBox | None = None,
    ):
        d = R.dim
        coordinates = embedding if chart is None else embedding.box_embedding
        where = region if chart is None else chart.box
        if space is None:
            space = immersed_manifold(
                coordinates,
                d,
                embedding.ambient_dim,
                contains=where.contains,
                sampler=where.sample,
                name=f"F({R.name})",
            )
        if chart is None:
            fn = _identity
            point_over = _copy
        else:
            fn = chart.chart

            def point_over(w):
                return chart.inverse(np.asarray(w, dtype=np.float64)[None])[0]

        super().__init__(
            fn,
            space,
            name=f"F^-1 on the embedding of {R.name}",
            vectorized=True,
            point_over=point_over,
        )
        self.legendre = R
        self.embedding = embedding
        self.box_embedding = coordinates
        self.region = region
        self.chart = chart
        self.isometry_defect = float(defect)
        self.ambient_dim = embedding.ambient_dim
        self.construction = construction
        self.route = route
        self.history = tuple(history)
        self.groups = tuple(getattr(embedding, "groups", ()))
        self.seconds = float("nan")
        self.cpu_seconds = float("nan")

    def ambient(self) -> Parametrization:
        """The same `G` on `M` in the coordinates of `R^D` (see `ambient_parametrization`);
        its `point_over(w)` is `F(w)`."""
        if self.chart is None:
            return ambient_parametrization(self.embedding, self.region, self.legendre.name)
        return ambient_parametrization(
            self.box_embedding,
            self.chart.box,
            self.legendre.name,
            then=self.chart.chart,
            point_over=lambda w: self.chart.inverse(np.asarray(w, dtype=np.float64)[None])[0],
        )

    def save(self, path, *, grid_points: int = 9) -> None:
        """Write the embedding to a NumPy `.npz` file, readable without riemflow.

        Arrays: `points` `(P, d)` (a tensor grid of `grid_points` Chebyshev nodes per
        coordinate of the region's bounding box, kept where they lie in the region, for
        `d <= 4`; random points of the region above, at most what keeps the table under
        about 10^7 numbers), `values` `F(points)` `(P, D)`, `jacobians` `dF(points)`
        `(P, D, d)`, `metric` `hess R(points)` `(P, d, d)`; the data `load` turns back into
        this parametrization: for a numerical embedding its `coefficients`, `lower`,
        `upper` (of the chart's box for the mapped route), for a radial one its
        one-dimensional series (`radial_*`); and `meta`, a JSON string (potential, route,
        defect, ambient dimension, construction, per-degree history).
        """
        grid_points = as_positive_int(grid_points, "grid_points")
        d, D = self.legendre.dim, self.ambient_dim
        rng = np.random.default_rng(0)
        most = max(1, int(1e7 // (D * d + D + d * d)))
        if d <= 4:
            lo, hi = self.region.bounds() if self.region.is_compact else (None, None)
            if lo is None:
                sample = self.region.sample(rng, 4096)
                lo, hi = sample.min(axis=0), sample.max(axis=0)
            nodes = [
                0.5 * (lo[i] + hi[i]) + 0.5 * (hi[i] - lo[i]) * chebyshev_nodes(grid_points)
                for i in range(d)
            ]
            points = np.stack(np.meshgrid(*nodes, indexing="ij"), axis=-1).reshape(-1, d)
            points = points[np.asarray(self.region.contains(points), dtype=bool)]
        else:
            points = self.region.sample(rng, min(grid_points**2, most))
        points = points[:most]
        arrays = {
            "points": points,
            "values": np.asarray(self.embedding(points)),
            "jacobians": np.asarray(self.embedding.jacobian(points)),
            "metric": np.asarray(self.legendre.hessian(points)),
        }
        meta = {
            "format": "riemflow-converse-1",
            "potential": self.legendre.name,
            "dim": d,
            "region": repr(self.region),
            "route": self.route,
            "ambient_dim": D,
            "isometry_defect": self.isometry_defect,
            "construction": self.construction,
            "history": [step.__dict__ for step in self.history],
        }
        if isinstance(self.box_embedding, SpiralEmbedding):
            arrays.update(self.box_embedding.to_arrays())
            meta["spiral"] = True
        elif isinstance(self.box_embedding, ChebyshevEmbedding):
            arrays.update(
                coefficients=self.box_embedding.coefficients,
                lower=self.box_embedding.lower,
                upper=self.box_embedding.upper,
            )
        elif isinstance(self.embedding, RadialEmbedding):
            radial_arrays, radial_meta = self.embedding.to_arrays()
            arrays.update(radial_arrays)
            meta["radial"] = radial_meta
        np.savez(path, meta=np.array(json.dumps(meta)), **arrays)

    @classmethod
    def load(cls, path, R: Legendre, domain) -> ConverseParametrization:
        """The construction saved by `save` (see `riemflow.converse.load`)."""
        return load(path, R, domain)

    def __repr__(self) -> str:
        return (
            f"ConverseParametrization({self.legendre.name!r}: D={self.ambient_dim}, "
            f"defect {self.isometry_defect:.2e}, {self.construction})"
        )


def _identity(z):
    return z * 1.0


def _copy(w):
    return np.asarray(w, dtype=np.float64).copy()


def load(path, R: Legendre, domain) -> ConverseParametrization:
    """The numerical (Chebyshev, on a box or a chart's box) or radial construction saved by
    `ConverseParametrization.save`.

    Args:
        path: the `.npz` file.
        R: the potential it was built from (its Hessian is re-checked against the file).
        domain: the region it was built on (for the mapped route: the same domain, or the
            same `MappedBox`).

    Returns:
        The `ConverseParametrization` (same embedding, defect and history).

    Raises:
        InputError: not a riemflow converse file; one of a route that is rebuilt instead
            (flat and interval embeddings are exact and rebuilt by
            `commuting_parametrization` in milliseconds, products block by block); one
            that does not match `R` (its stored metric differs) or `domain`.

    Examples:
        >>> import numpy as np, riemflow as rf, tempfile, pathlib
        >>> R = rf.potentials.log_ball(3)
        >>> P = rf.commuting_parametrization(R, rf.domains.Ball(3, radius=0.5))
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "ball.npz"
        >>> P.save(path)
        >>> Q = rf.converse.load(path, R, rf.domains.Ball(3, radius=0.5))
        >>> Q.route, bool(np.all(Q.embedding(np.zeros(3)) == P.embedding(np.zeros(3))))
        ('radial', True)
    """
    data, meta = read_npz(
        path, "riemflow-converse-1", argument="path", what="a riemflow converse file"
    )
    route = meta.get("route", "chebyshev" if "coefficients" in data else "flat")
    if "coefficients" not in data and "radial" not in meta:
        raise InputError(
            f"`path` {path!r} holds a {meta['construction']} embedding, saved as a table: "
            "rebuild it exactly with commuting_parametrization(R, domain)",
            argument="path",
        )
    region = _region(R, domain)
    points = data["points"]
    stored = data["metric"]
    try:
        now = np.asarray(R.hessian(points)) if points.shape[1] == R.dim else None
    except InputError:  # the saved points are outside dom R
        now = None
    if now is None or np.max(np.abs(stored - now)) > 1e-12 * np.max(np.abs(now)):
        raise InputError(
            f"`R` ({R.name}) is not the potential saved in {path!r} ({meta['potential']})",
            argument="R",
        )
    history = tuple(DegreeStep(**step) for step in meta["history"])
    options = dict(defect=meta["isometry_defect"], construction=meta["construction"])
    if "radial" in meta:
        F = RadialEmbedding.from_arrays({k: data[k] for k in data.files}, meta["radial"])
        return _radial_result(R, F, region, route="radial", **options)
    if meta.get("spiral"):
        box_embedding = SpiralEmbedding.from_arrays({k: data[k] for k in data.files})
    else:
        box_embedding = ChebyshevEmbedding(data["coefficients"], data["lower"], data["upper"])
    if route == "mapped":
        chart = builtin_chart(region)
        if chart is None or repr(region) != meta["region"]:
            raise InputError(
                f"`domain` {region!r} is not the region saved in {path!r} ({meta['region']})",
                argument="domain",
            )
        F = ChartEmbedding(box_embedding, chart)
        return ConverseParametrization(
            R, F, chart.inner or region, history=history, route=route, chart=chart, **options
        )
    return ConverseParametrization(
        R, box_embedding, region, history=history, route=route, **options
    )


# -- checks of the input ------------------------------------------------------------------------
def _region(R: Legendre, domain) -> Domain:
    """The compact region, its closure checked to lie in `dom R` (on its closure points)."""
    region = as_domain(domain, R.dim)
    if not region.is_compact:
        hint = ""
        if isinstance(region, Box):
            hint = " (finite box ends)"
        raise InputError(
            f"`domain` must be compact{hint}: a box [(lo, hi), ...], a Ball, Shell, Ellipsoid, "
            f"Simplex, MappedBox or ProductDomain; got {region!r}",
            argument="domain",
        )
    rng = np.random.default_rng(0)
    probe = region.closure_points(rng, 64 if R.dim <= 64 else 8)
    outside = ~np.asarray(R.domain.contains(probe), dtype=bool)
    if not np.any(outside) and R.dim <= 64:  # a plain Legendre: dom R is where R is finite
        try:
            R.hessian(probe[: min(len(probe), 256)])
        except DomainError:
            values = np.array([np.all(np.isfinite(_quiet_hessian(R, p))) for p in probe])
            outside = ~values
    if np.any(outside):
        hint = ""
        if getattr(region, "margin", None) == 0.0:
            hint = "; for a potential singular on the facets use Simplex(dim, margin=...)"
        raise DomainError(
            f"`domain` leaves the domain of {R.name}: e.g. "
            f"{np.array2string(probe[int(np.argmax(outside))], precision=6, threshold=8)} is "
            f"outside {R.domain!r} (the closure of the region must lie inside dom R{hint})",
            argument="domain",
        )
    return region


def _quiet_hessian(R: Legendre, point) -> np.ndarray:
    try:
        return np.asarray(R.hessian(point))
    except DomainError:
        return np.array([np.nan])


def _require_legendre(hessian, points: np.ndarray, name: str) -> None:
    d = points.shape[1]
    H = np.asarray(hessian(points)).reshape(-1, d, d)
    eig = np.linalg.eigvalsh(0.5 * (H + np.swapaxes(H, 1, 2)))
    worst = int(np.argmin(eig[:, 0] / np.abs(eig[:, -1])))
    if not eig[worst, 0] > 1e-12 * abs(eig[worst, -1]):
        raise NotPositiveDefiniteError(
            f"{name} is not Legendre on the domain: hess R has eigenvalue "
            f"{eig[worst, 0]:.3e} (largest {eig[worst, -1]:.3e}) at "
            f"{np.array2string(points[worst], precision=6, threshold=8)}; no Riemannian "
            "metric to embed"
        )


def _is_separable(R: Legendre, points: np.ndarray, rtol: float = 1e-10) -> bool:
    H = np.asarray(R.hessian(points)).reshape(-1, R.dim, R.dim)
    off = H - np.einsum("bii->bi", H)[:, :, None] * np.eye(R.dim)
    if np.max(np.abs(off)) > rtol * np.max(np.abs(H)):
        return False
    T = np.asarray(R.third_derivative(points)).reshape(-1, R.dim, R.dim, R.dim)
    diag_t = np.einsum("biik->bik", T)  # d h_i / d w_k must vanish for k != i
    mixed = diag_t - np.einsum("bii->bi", diag_t)[:, :, None] * np.eye(R.dim)
    return bool(np.max(np.abs(mixed)) <= rtol * max(np.max(np.abs(T)), 1e-300))


def _measure(hessian, embedding: Embedding, points: np.ndarray) -> tuple[float, float]:
    """`(max |dF^T dF - H| / max |H|, max |H|)` over `points` `(B, d)`, in chunks."""
    d = points.shape[1]
    num = den = 0.0
    for start in range(0, points.shape[0], 2000):
        pts = points[start : start + 2000]
        H = np.asarray(hessian(pts)).reshape(-1, d, d)
        J = np.asarray(embedding.jacobian(pts)).reshape(pts.shape[0], -1, d)
        num = max(num, float(np.max(np.abs(np.einsum("bai,baj->bij", J, J) - H))))
        den = max(den, float(np.max(np.abs(H))))
    return num / den, den


# -- the options, once --------------------------------------------------------------------------
@dataclass(frozen=True)
class _Options:
    tol: float
    detect: tuple
    ambient_dim: int | None
    max_degree: int
    oversampling: float
    max_iter: int
    flat_rtol: float
    n_check: int
    seed: int | None
    time_limit: float | None
    memory_limit: float
    max_dim: int
    numerical: str
    progress: object
    checkpoint: object
    block_rtol: float
    same_rtol: float
    radial_rtol: float
    radial_options: dict
    roundness: float
    max_dense_dim: int
    dense_dim_max: int
    flat_check_max_dim: int
    start: float

    def left(self) -> float | None:
        """Seconds left of `time_limit` (`None`: no limit); at least a microsecond, so a
        spent budget makes the next solver stop with its `BudgetError` at once."""
        if self.time_limit is None:
            return None
        return max(1e-6, self.time_limit - (time.perf_counter() - self.start))

    def say(self, kind: str, message: str, **info) -> None:
        if self.progress is not None:
            self.progress(ProgressEvent(kind, message, info))


# -- one potential without block structure ------------------------------------------------------
@dataclass(frozen=True)
class _Built:
    embedding: Embedding
    defect: float
    scale: float
    construction: str
    route: str
    history: tuple = ()
    chart: MappedBox | None = None
    seconds: float = 0.0


def _radius_range(region: Domain, c: np.ndarray, L: np.ndarray) -> tuple[float, float, bool]:
    """`(r_min, r_max, contains c)` of `|L (w - c)|` over the closed region."""
    d = region.dim
    same_center = np.allclose(getattr(region, "c", np.full(d, np.nan)), c, rtol=0, atol=1e-14)
    identity = np.allclose(L, np.eye(d))
    kind = type(region).__name__
    if kind == "Shell" and same_center and identity:
        return region.inner, region.outer, region.inner == 0.0
    if kind == "Ball" and same_center and identity:
        return 0.0, region.radius, True
    if kind == "Ellipsoid" and same_center:
        return 0.0, float(np.linalg.svd(L @ region.A, compute_uv=False)[0]), True
    if isinstance(region, Box) and identity:
        nearest = np.clip(c, region.lower, region.upper)
        far = np.where(
            np.abs(region.lower - c) > np.abs(region.upper - c), region.lower, region.upper
        )
        inside = bool(np.all(nearest == c))
        return float(np.linalg.norm(nearest - c)), float(np.linalg.norm(far - c)), inside
    pts = region.closure_points(np.random.default_rng(0), 4000)
    r = np.linalg.norm((pts - c) @ L.T, axis=1)
    inside = bool(np.asarray(region.contains(c)))
    return (0.0 if inside else 0.98 * float(np.min(r))), float(np.max(r)) * (1 + 1e-9), inside


def _structure_hint(d: int) -> str:
    return (
        f"a curved metric in d = {d} without structure: if R is a sum of potentials of "
        "smaller blocks of coordinates, declare structure=rf.embedding.Blocks([...]) (or let "
        "it be detected on a box); if R(w) = phi(|L (w - c)|), declare "
        "structure=rf.embedding.Radial(center=..., linear=...); flat (e.g. separable) "
        "potentials are embedded exactly in any dimension"
    )


def _build_single(
    R, region: Domain, opts: _Options, rng, *, declared=None, label="", flat: bool | None = None
) -> _Built:
    """The embedding of a potential without block structure (routes 2-5)."""
    d = R.dim
    start = time.perf_counter()
    n_exact = min(opts.n_check, 2000)
    checks = region.closure_points(
        np.random.default_rng(None if opts.seed is None else opts.seed + 1), n_exact
    )
    if d == 1:
        lo, hi = float(np.min(checks)), float(np.max(checks))
        F = IntervalEmbedding(lambda s: np.asarray(R.hessian(s[:, None])).reshape(-1), lo, hi)
        defect, scale = _measure(R.hessian, F, checks)
        return _Built(
            F,
            defect,
            scale,
            "interval, exact: F = int sqrt(R'')",
            "interval",
            seconds=time.perf_counter() - start,
        )
    radial = declared if isinstance(declared, Radial) else None
    auto = declared is None
    if auto and "flat" in opts.detect and d <= opts.flat_check_max_dim:
        if flat is None:
            flat = R.check_flat(region.sample(rng, 16), rtol=opts.flat_rtol).passed
        if flat:
            center = region.center()
            if isinstance(region, Box) and _is_separable(R, region.sample(rng, 8)):
                F, route = separable_embedding(R, center), "separable"
                pts = checks[: min(len(checks), 256)]
            else:
                F, route = flat_embedding(R, center), "flat"
                pts = checks[: min(len(checks), 512)]
            defect, scale = _measure(R.hessian, F, pts)
            return _Built(
                F,
                defect,
                scale,
                f"flat metric, exact: {F.method}",
                route,
                seconds=time.perf_counter() - start,
            )
    if auto and "radial" in opts.detect:
        c = detect_radial(R, region.sample(rng, 12), rtol=opts.radial_rtol, seed=opts.seed)
        if c is not None:
            radial = Radial(center=c)
    if radial is not None:
        c = radial.center
        if c is None:
            c = detect_radial(R, region.sample(rng, 12), rtol=opts.radial_rtol, seed=opts.seed)
            if c is None:
                raise InputError(
                    f"{R.name} was declared Radial but hess R shows no center on the domain: "
                    "pass Radial(center=...)",
                    argument="structure",
                )
        c = np.asarray(c, dtype=np.float64)
        L = np.eye(d) if radial.linear is None else np.asarray(radial.linear, dtype=np.float64)
        r_lo, r_hi, inside = _radius_range(region, c, L)
        mode = "ball" if inside or r_lo < 1e-9 * r_hi else "shell"
        F = radial_embedding(
            R.hessian,
            c,
            (0.0 if mode == "ball" else r_lo, r_hi),
            linear=L,
            mode=mode,
            **{"time_limit": opts.left(), **opts.radial_options},
        )
        defect, scale = _measure(R.hessian, F, checks)
        return _Built(
            F,
            defect,
            scale,
            f"radial, exact: {F.method}, D={F.ambient_dim}",
            "radial",
            seconds=time.perf_counter() - start,
        )
    # curved, no structure: the numerical routes
    if d > opts.max_dim:
        raise CostError(
            f"{R.name}: the numerical embedding is limited to d <= max_dim={opts.max_dim} (a "
            f"tensor Chebyshev series has (degree+1)^d coefficients per ambient coordinate); "
            + _structure_hint(d),
            estimate=_first_estimate(d, opts),
        )
    chart = None if isinstance(region, Box) else builtin_chart(region, roundness=opts.roundness)
    method = opts.numerical
    if method == "auto":
        method = "collocation" if d <= 2 or opts.ambient_dim is not None else "spiral"
        try:
            return _build_numerical(R, region, chart, method, opts, checks, label, start)
        except FrameError as exc:  # the spirals' cone misses the metric: collocation can
            if method != "spiral":
                raise
            opts.say("route", f"{label}spirals refused ({exc}); Chebyshev collocation instead")
            method = "collocation"
    return _build_numerical(R, region, chart, method, opts, checks, label, start)


def _build_numerical(R, region, chart, method, opts, checks, label, start) -> _Built:
    """Route 5: the spiral or the collocation construction, on a box or a chart's box."""
    d = R.dim
    common = dict(
        max_degree=opts.max_degree, memory_limit=opts.memory_limit, progress=opts.progress
    )
    if method == "collocation":
        common.update(
            ambient_dim=opts.ambient_dim, oversampling=opts.oversampling, max_iter=opts.max_iter
        )
    spiral = method == "spiral"
    how = "spirals" if spiral else "Chebyshev collocation"
    if isinstance(region, Box) or chart is None:
        box = region if isinstance(region, Box) else Box(*region.bounds())
        if not isinstance(region, Box):  # no chart: the bounding box, when it lies in dom R
            try:
                _region(R, box)
            except DomainError as exc:
                raise InputError(
                    f"no chart for {region!r} and its bounding box leaves dom R: pass a "
                    "domains.MappedBox (a box and your diffeomorphism onto the region)",
                    argument="domain",
                ) from exc
        build, extra = (spiral_embedding, {}) if spiral else (curved_embedding, {"seed": opts.seed})
        opts.say("route", f"{label}numerical: {how} on {box!r}")
        try:
            res = build(
                R,
                box,
                tol=opts.tol,
                time_limit=opts.left(),
                checkpoint=opts.checkpoint,
                **extra,
                **common,
            )
        except CostError as exc:
            raise CostError(f"{exc}; {_structure_hint(d)}", estimate=exc.estimate) from None
        F = res.embedding
        defect = res.check.defect
        if not isinstance(region, Box):  # measured on the requested region too
            defect = max(defect, _measure(R.hessian, F, checks)[0])
        made = F.method if spiral else f"Chebyshev collocation, degree {F.degree}"
        return _Built(
            F,
            defect,
            res.check.scale,
            f"curved metric: {made}, D={F.ambient_dim}",
            "spiral" if spiral else "chebyshev",
            history=res.history,
            seconds=time.perf_counter() - start,
        )
    opts.say("route", f"{label}numerical: {how} on the box of {chart.name}")
    try:
        res = mapped_embedding(
            R,
            chart,
            tol=opts.tol,
            seed=opts.seed,
            time_limit=opts.left(),
            construct=spiral_embedding if spiral else None,
            **common,
        )
    except CostError as exc:
        raise CostError(f"{exc}; {_structure_hint(d)}", estimate=exc.estimate) from None
    F = ChartEmbedding(res.box_embedding, chart)
    made = (
        res.box_embedding.method
        if spiral
        else f"Chebyshev collocation, degree {res.box_embedding.degree}"
    )
    return _Built(
        F,
        res.defect,
        float("nan"),
        f"curved metric: {made}, on the box of {chart.name}, D={F.ambient_dim}",
        "mapped",
        history=res.history,
        chart=chart,
        seconds=time.perf_counter() - start,
    )


def _first_estimate(d: int, opts: _Options) -> CostEstimate:
    D = opts.ambient_dim or d * (d + 1) // 2 + 1
    return estimate_cost(d, D, 3)


def _radial_result(R, F, region, **kwargs) -> ConverseParametrization:
    space = metric_space(
        F.metric_traced,
        R.dim,
        contains=region.contains,
        sampler=region.sample,
        name=f"F({R.name})",
    )
    return ConverseParametrization(R, F, region, space=space, **kwargs)


# -- products -----------------------------------------------------------------------------------
def _block_parts(region: Domain, blocks) -> list[Domain]:
    if isinstance(region, Box):
        return [Box(region.lower[idx], region.upper[idx]) for idx in blocks]
    if isinstance(region, ProductDomain):
        parts = []
        for idx in blocks:
            match = [
                p
                for p, b in zip(region.parts, region.blocks, strict=True)
                if np.array_equal(np.sort(b), np.sort(idx))
            ]
            if not match:
                raise InputError(
                    "the blocks of `structure` must be the blocks of the ProductDomain",
                    argument="structure",
                )
            parts.append(match[0])
        return parts
    raise InputError(
        f"a block-separable construction needs a box or a ProductDomain; got {region!r}",
        argument="domain",
    )


def _groups(R, region, blocks, parts, declared: Blocks | None, opts: _Options):
    if declared is not None and declared.same is not None:
        same = [int(b) for b in declared.same]
        if len(same) != len(blocks) or any(same[b] != same[same[b]] for b in range(len(blocks))):
            raise InputError(
                "`same` must give, for every block, a representative that is its own",
                argument="structure",
            )
        out = []
        for rep in sorted(set(same)):
            members = np.array([b for b in range(len(blocks)) if same[b] == rep])
            shifts = np.stack([_lower(parts[b]) - _lower(parts[rep]) for b in members])
            out.append((rep, members, shifts))
        return out
    boxes = all(isinstance(p, Box) for p in parts)
    if boxes and (declared is None or declared.potentials is None):
        lower, upper = np.empty(R.dim), np.empty(R.dim)
        for p, idx in zip(parts, blocks, strict=True):
            lower[idx], upper[idx] = p.lower, p.upper
        found = group_blocks(R, blocks, lower, upper, rtol=opts.same_rtol, seed=opts.seed)
        return [(g.representative, g.members, g.shifts) for g in found]
    return [(b, np.array([b]), np.zeros((1, blocks[b].size))) for b in range(len(blocks))]


def _lower(part: Domain) -> np.ndarray:
    return part.lower if isinstance(part, Box) else np.zeros(part.dim)


def _build_product(
    R, region, blocks, declared: Blocks | None, opts: _Options, rng
) -> ConverseParametrization:
    parts = _block_parts(region, blocks)
    groups = _groups(R, region, blocks, parts, declared, opts)
    opts.say(
        "route",
        f"blocks: {len(blocks)} blocks in {len(groups)} construction(s)",
        blocks=len(blocks),
        groups=len(groups),
    )
    base = region.center()
    built = []
    for number, (rep, members, shifts) in enumerate(groups):
        idx = blocks[rep]
        if declared is not None and declared.potentials is not None:
            Rb = declared.potentials[rep]
            if not isinstance(Rb, Legendre) or Rb.dim != idx.size:
                raise InputError(
                    f"`potentials[{rep}]` must be a Legendre of dimension {idx.size}",
                    argument="structure",
                )
        else:
            Rb = restricted(
                R, idx, base, copies=np.stack([blocks[b] for b in members]), shifts=shifts
            )
        if idx.size <= 64:
            _require_legendre(Rb.hessian, parts[rep].closure_points(rng, 64)[:256], R.name)
        label = (
            f"block group {number + 1}/{len(groups)} ({members.size} blocks of dimension "
            f"{idx.size}): "
        )
        one = _build_single(Rb, parts[rep], opts, rng, label=label)
        index = np.stack([blocks[b] for b in members])
        built.append(
            GroupEmbedding(
                one.embedding,
                index,
                shifts,
                one.defect,
                one.scale
                if np.isfinite(one.scale)
                else _measure(Rb.hessian, one.embedding, parts[rep].closure_points(rng, 256))[1],
                one.construction,
                parts[rep],
                one.seconds,
            )
        )
        opts.say("route", f"{label}{one.construction}, defect {one.defect:.2e}")
    F = ProductEmbedding(built, R.dim)
    defect = F.combined_defect()
    kinds = "; ".join(f"{g.n} x {g.construction}" for g in built)
    construction = f"product of {len(blocks)} blocks in {len(built)} construction(s): {kinds}"
    space = None
    if R.dim > opts.dense_dim_max:  # the block-diagonal metric, solved block by block
        space = metric_space(
            F.metric,
            R.dim,
            solve=F.solve,
            contains=region.contains,
            sampler=region.sample,
            name=f"F({R.name})",
        )
    return ConverseParametrization(
        R, F, region, defect=defect, construction=construction, route="product", space=space
    )


# -- the route ----------------------------------------------------------------------------------
def _blocks_of(R: Legendre, region: Domain, structure, opts: _Options, rng):
    if isinstance(structure, Blocks):
        blocks = [np.asarray(b, dtype=int).reshape(-1) for b in structure.blocks]
        covered = np.sort(np.concatenate(blocks)) if blocks else np.array([])
        if not np.array_equal(covered, np.arange(R.dim)):
            raise InputError(
                "the blocks of `structure` must partition range(d)", argument="structure"
            )
        return blocks
    if (
        structure == "auto"
        and "blocks" in opts.detect
        and R.dim >= 2
        and isinstance(region, (Box, ProductDomain))
    ):
        if R.dim > opts.max_dense_dim:
            return None
        found = detect_blocks(
            R, region.sample(rng, 2), rtol=opts.block_rtol, max_dense_dim=opts.max_dense_dim
        )
        return found if len(found) > 1 else None
    return None


def commuting_parametrization(
    R: Legendre,
    domain,
    *,
    tol: float = 1e-8,
    structure="auto",
    detect=("blocks", "flat", "radial"),
    ambient_dim: int | None = None,
    max_degree: int = 32,
    oversampling: float = 1.5,
    flat_rtol: float = 1e-8,
    n_check: int = 2000,
    seed: int | None = 0,
    max_iter: int = 60,
    time_limit: float | None = 1800.0,
    memory_limit: float = MEMORY_LIMIT,
    max_dim: int = 4,
    numerical: str = "auto",
    progress=None,
    checkpoint=None,
    block_rtol: float = 1e-12,
    same_rtol: float = 1e-10,
    radial_rtol: float = 1e-9,
    radial_options: dict | None = None,
    roundness: float = 0.4,
    max_dense_dim: int = 5000,
    dense_dim_max: int = 64,
    flat_check_max_dim: int = 16,
) -> ConverseParametrization:
    """A commuting parametrization whose gradient flows are the mirror flows of `R`.

    Builds an isometric embedding `F` of `(K, hess R)` ([Concepts: the converse via Nash
    embedding](concepts.md#the-converse-via-nash-embedding)) and returns `G = F^{-1}` on `M = F(K)`,
    by the first route that applies (see `riemflow.converse`): a product of block embeddings for a
    block-separable `R`, an exact embedding in `R^d` for a flat metric, an exact winding embedding
    for a radial `R`, and for a curved metric without structure (`d <= max_dim`) a numerical
    construction, degree by degree until the honest defect is at most `tol`, on a box or on
    the box of a chart of the region: exact Nash spirals with interpolated amplitudes
    (`numerical="spiral"`, `D = d + 2K`, `K >= d^2`) or Chebyshev collocation with
    Levenberg-Marquardt steps (`numerical="collocation"`, `D = d (d + 1) / 2 + 1` by
    default). Structure is recognised from `hess R` on sample points: a plain
    `rf.Legendre(fn, d)` needs nothing declared.

    Args:
        R: the Legendre function.
        domain: the compact region `K`: box pairs `[(lo, hi), ...]` (or a finite `Box`), a
            `Ball`, `Shell`, `Ellipsoid`, `Simplex` (with `margin > 0` for potentials
            singular on its facets), a `MappedBox` (a box and a diffeomorphism onto `K`) or
            a `ProductDomain`. Its closure must lie in `dom R`.
        tol: required isometry defect `max |dF^T dF - hess R| / max |hess R|` over the
            closed region (exact routes report theirs, about 1e-14).
        structure: `"auto"` (detect), `"none"` (the numerical route: no detection),
            `embedding.Blocks(...)` or `embedding.Radial(...)`.
        detect: what `"auto"` looks for, also inside blocks (detected or declared with
            `embedding.Blocks`): `"blocks"`, `"flat"`, `"radial"`.
        ambient_dim: `D` of the collocation route.
        max_degree: largest Chebyshev degree tried.
        oversampling: collocation nodes per coordinate / (degree + 1) (collocation).
        flat_rtol: relative curvature tolerance of the flatness test.
        n_check: closure points the defect of the exact routes is measured on (at most
            2000; the numerical routes use their own grid bound).
        seed: seed of the sample points and of the initial map.
        max_iter: Levenberg-Marquardt steps per fit (collocation). Each fit stops when the
            node residual is below `tol / 20`, or when it stagnates (less than a 30%
            decrease over 3 accepted steps: the degree cannot represent a better map, refine
            it).
        time_limit: wall-time budget in seconds (default 1800; `None`: none); a spent
            budget raises `BudgetError`.
        memory_limit: bytes a numerical degree may use (default 8 GiB), estimated before
            it runs; a construction that cannot fit is refused at once (`CostError`).
        max_dim: largest `d` of the numerical route (default 4).
        numerical: the construction of a curved metric without structure: `"spiral"`
            (`embedding.spiral`: exact spirals, `D = d + 2K`; fast in `d = 3, 4`),
            `"collocation"` (`embedding.chebyshev`: the smallest `D`, cost growing like the
            cube of the unknowns), or `"auto"` (default): collocation for `d <= 2` or when
            `ambient_dim` is given, spirals otherwise.
        progress: `None`, `True` (a tqdm bar of the steps on stderr, with the degree and
            defect, and a line per route/estimate event: `embedding.chebyshev.progress_bar`;
            `progress_printer()` prints a line per event instead) or a callable receiving
            `embedding.chebyshev.ProgressEvent`s: the route, the cost estimate before each
            degree, each Levenberg-Marquardt step, each completed degree.
        checkpoint: optional `.npz` path for the numerical route on a box: the last
            completed degree is kept there, and a later call with the same path (same
            potential, box, `D`) resumes from it.
        block_rtol: a Hessian entry below `block_rtol max |hess R|` counts as zero (blocks).
        same_rtol: blocks are the same function when their Hessians agree to this at
            random relative positions of their boxes.
        radial_rtol: tolerance of the radial detection.
        radial_options: passed to `embedding.radial.radial_embedding` (`min_slack`,
            `round_min`, `max_ambient_dim`, `max_level`, `interp_rtol`).
        roundness: the built-in disk and ellipse charts' parameter.
        max_dense_dim: largest `d` whose full Hessians are formed to detect blocks
            (above, declare them).
        dense_dim_max: largest `d` of a product whose metric is the autograd pullback of
            the immersion (above: its block-diagonal closed form, solved block by block;
            flows only, no Lie brackets).
        flat_check_max_dim: largest `d` the flatness test (third derivatives, `O(d^3)` a
            point) runs at.

    Returns:
        A `ConverseParametrization` (a `Parametrization` with `.embedding`,
        `.isometry_defect`, `.ambient_dim`, `.construction`, `.route`, `.history`).

    Raises:
        InputError: a domain that is not compact or has no chart; a bad declaration.
        DomainError: the domain leaves `dom R`.
        NotPositiveDefiniteError: `hess R` is not positive definite on the domain.
        CostError: the numerical route cannot fit (dimension, memory or time); the message
            says which structure would make it tractable.
        ConvergenceError: `tol` not reached; reports the defect and degrees tried.
        FrameError: `numerical="spiral"` on a metric too anisotropic for the spirals'
            directions (`"auto"` falls back to collocation).
        BudgetError: the time budget ran out.

    Examples:
        >>> import numpy as np, riemflow as rf
        >>> P = rf.commuting_parametrization(rf.potentials.negative_entropy(2),
        ...                                  [(0.5, 2.0), (0.5, 2.0)])
        >>> P.ambient_dim, P.isometry_defect < 1e-12
        (2, True)
        >>> P = rf.commuting_parametrization(rf.potentials.log_ball(10),
        ...                                  rf.domains.Ball(10, radius=0.8), tol=1e-10)
        >>> P.route, P.isometry_defect <= 1e-10
        ('radial', True)
    """
    start, cpu = time.perf_counter(), time.process_time()
    if not isinstance(R, Legendre):
        raise InputError(f"`R` must be a riemflow Legendre; got {type(R).__name__}", argument="R")
    tol = as_positive(tol, "tol")
    if not (structure in ("auto", "none") or isinstance(structure, (Blocks, Radial))):
        raise InputError(
            f"`structure` must be 'auto', 'none', embedding.Blocks or embedding.Radial; got "
            f"{structure!r}",
            argument="structure",
        )
    detect = tuple(detect)
    unknown = [k for k in detect if k not in ("blocks", "flat", "radial")]
    if unknown:
        raise InputError(
            f"`detect` may hold 'blocks', 'flat', 'radial'; got {unknown}", argument="detect"
        )
    opts = _Options(
        tol=tol,
        detect=detect if structure == "auto" or isinstance(structure, Blocks) else (),
        ambient_dim=None if ambient_dim is None else as_positive_int(ambient_dim, "ambient_dim"),
        max_degree=as_positive_int(max_degree, "max_degree"),
        oversampling=as_positive(oversampling, "oversampling"),
        max_iter=as_positive_int(max_iter, "max_iter"),
        flat_rtol=as_positive(flat_rtol, "flat_rtol"),
        n_check=as_positive_int(n_check, "n_check"),
        seed=seed,
        time_limit=None if time_limit is None else as_positive(time_limit, "time_limit"),
        memory_limit=as_positive(memory_limit, "memory_limit"),
        max_dim=as_positive_int(max_dim, "max_dim"),
        numerical=numerical,
        progress=(progress_bar() if progress is True else progress) or None,
        checkpoint=checkpoint,
        block_rtol=as_positive(block_rtol, "block_rtol"),
        same_rtol=as_positive(same_rtol, "same_rtol"),
        radial_rtol=as_positive(radial_rtol, "radial_rtol"),
        radial_options=dict(radial_options or {}),
        roundness=float(roundness),
        max_dense_dim=as_positive_int(max_dense_dim, "max_dense_dim"),
        dense_dim_max=as_positive_int(dense_dim_max, "dense_dim_max"),
        flat_check_max_dim=as_positive_int(flat_check_max_dim, "flat_check_max_dim"),
        start=start,
    )
    if numerical not in NUMERICAL:
        raise InputError(
            f"`numerical` must be one of {NUMERICAL}; got {numerical!r}", argument="numerical"
        )
    if opts.progress is not None and not callable(opts.progress):
        raise InputError(
            f"`progress` must be None, True or a callable; got {progress!r}", argument="progress"
        )
    region = _region(R, domain)
    rng = np.random.default_rng(seed)
    flat = (
        "flat" in opts.detect
        and not isinstance(structure, Blocks)
        and R.dim <= opts.flat_check_max_dim
        and R.check_flat(region.sample(rng, 16), rtol=opts.flat_rtol).passed
    )
    blocks = None if flat else _blocks_of(R, region, structure, opts, rng)
    if blocks is not None:
        P = _build_product(
            R, region, blocks, structure if isinstance(structure, Blocks) else None, opts, rng
        )
    else:
        if R.dim <= 64:
            _require_legendre(R.hessian, region.closure_points(rng, 64)[:256], R.name)
        declared = (
            structure
            if isinstance(structure, Radial)
            else ("none" if structure == "none" else None)
        )
        one = _build_single(R, region, opts, rng, declared=declared, flat=flat)
        options = dict(
            defect=one.defect, construction=one.construction, history=one.history, route=one.route
        )
        if one.route == "radial":
            P = _radial_result(R, one.embedding, region, **options)
        elif one.route == "mapped":
            P = ConverseParametrization(
                R, one.embedding, one.chart.inner or region, chart=one.chart, **options
            )
        else:
            P = ConverseParametrization(R, one.embedding, region, **options)
    P.seconds = time.perf_counter() - start
    P.cpu_seconds = time.process_time() - cpu
    opts.say("done", f"{P!r} in {P.seconds:.1f} s (CPU {P.cpu_seconds:.1f} s)")
    if P.isometry_defect > tol and P.route not in ("chebyshev", "mapped"):
        raise ConvergenceError(
            f"the {P.route} embedding of {R.name} has defect {P.isometry_defect:.3e} above "
            f"tol={tol:g} (exact routes reach round-off; a block or radial profile that "
            "interpolates poorly?)",
            residual=P.isometry_defect,
        )
    return P


def estimate(
    R: Legendre,
    domain,
    *,
    tol: float = 1e-8,
    ambient_dim: int | None = None,
    max_degree: int = 32,
    start_degree: int = 3,
    numerical: str = "auto",
) -> list[CostEstimate]:
    """The cost of the numerical route, degree by degree, before running it.

    From `start_degree` up to the degree a defect of 1e-2 at the start would need to reach
    `tol` at one decade per degree (the optimistic end of what curved metrics show: two
    to four degrees per decade are common), capped at `max_degree`. Structured potentials
    (blocks, flat, radial) do not take this route; see `commuting_parametrization`.

    Args:
        R: the potential.
        domain: its region (for `d`).
        tol: the tolerance.
        ambient_dim: `D` of the collocation route (default `d (d + 1) / 2 + 1`).
        max_degree: the largest degree listed.
        start_degree: the first.
        numerical: `"auto"`, `"spiral"` or `"collocation"`, as in
            `commuting_parametrization` (spiral rows assume the first frame level,
            `K = d^2` directions; a more anisotropic metric takes more).

    Returns:
        `CostEstimate`s (unknowns, memory, predicted seconds on this machine) per degree.

    Examples:
        >>> import riemflow as rf
        >>> box = [(1, 2), (-0.3, 0.3), (1, 2)]
        >>> rows = rf.converse.estimate(rf.potentials.log_det(2), box, tol=1e-6)
        >>> [(e.degree, e.unknowns, e.ambient_dim) for e in rows][:2]  # spirals at d = 3
        [(3, 576, 21), (4, 1125, 21)]
        >>> rows = rf.converse.estimate(rf.potentials.log_det(2), box, tol=1e-6,
        ...                             numerical="collocation")
        >>> [(e.degree, e.unknowns, e.ambient_dim) for e in rows][:2]
        [(3, 448, 7), (4, 875, 7)]
    """
    region = as_domain(domain, R.dim)
    tol = as_positive(tol, "tol")
    if numerical not in NUMERICAL:
        raise InputError(
            f"`numerical` must be one of {NUMERICAL}; got {numerical!r}", argument="numerical"
        )
    d = region.dim
    if numerical == "auto":
        numerical = "collocation" if d <= 2 or ambient_dim is not None else "spiral"
    D = d * (d + 1) // 2 + 1 if ambient_dim is None else as_positive_int(ambient_dim, "ambient_dim")
    last = min(max_degree, start_degree + max(0, int(np.ceil(np.log10(1e-2 / tol)))))
    if numerical == "spiral":
        return [estimate_spiral_cost(d, d * d, N) for N in range(start_degree, last + 1)]
    return [estimate_cost(d, D, N) for N in range(start_degree, last + 1)]

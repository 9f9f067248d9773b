"""Where a sampled check was decided: the points, what they sample, and the length scale.

Every check of a differential condition (brackets, regularity, the tangent kernel along the
fibres of `G`) is made at finitely many points, so its verdict is a statement about those
points. A `Region` carries them together with what a report has to say about them
([Concepts: necessity](concepts.md#necessity)):

- how many points, drawn how: the domain's sampler with a seed, the caller's points, or
  points reachable from an initialization by the flows of the gradient fields;
- the dimension of their affine hull: points on a line or a plane cannot see brackets that
  vanish exactly there, so a map that commutes only on a subset passes where it was
  sampled, and only there;
- the length scale `ell` (in the metric of `M`) at which brackets are judged
  (`riemflow.brackets`): by default the RMS distance of the points to their centroid.

Three constructors: `sampled_region` (what `check_commuting` does by default),
`given_region` (the caller's points) and `reachable_region` (points reachable from an
initialization, the set on which the flows from it live).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ._validation import as_positive, as_positive_int, readonly_copy
from .errors import BudgetError, DivergenceError, DomainError, InputError, SolverError
from .joint_flow import joint_flow

__all__ = [
    "Region",
    "sampled_region",
    "given_region",
    "reachable_region",
    "as_region",
    "rms_radius",
    "REACHABLE_LEG_EVALUATIONS",
    "REACHABLE_LEG_TIME_LIMIT",
]

#: evaluation budget of one leg of `reachable_region` (a leg is a joint flow over unit time;
#: the zoo's legs need a few hundred field evaluations)
REACHABLE_LEG_EVALUATIONS = 20_000
#: wall-time budget of one leg, seconds
REACHABLE_LEG_TIME_LIMIT = 20.0
#: how often a leg that blows up or leaves the domain is halved before it is dropped
_LEG_HALVINGS = 6


@dataclass(frozen=True)
class Region:
    """Points where a check is decided, and what they sample.

    Attributes:
        points: `(B, D)`.
        kind: `"sampled"`, `"given"` or `"reachable"`.
        description: one line for reports, e.g. `"64 points drawn by the default sampler
            (uniform on [-1, 1]^3), seed 0"`.
        length_scale: `ell > 0`, the length (in the metric of `M`) at which brackets are
            judged.
        length_source: how `ell` was chosen.
        affine_dim: dimension of the affine hull of the points (`D` for a generic cloud,
            0 for a single point).
        point_dim: `D`.
        extra: facts of the kind of region (the initialization, the legs, ...).
    """

    points: np.ndarray
    kind: str
    description: str
    length_scale: float
    length_source: str
    affine_dim: int
    point_dim: int
    extra: dict = field(default_factory=dict)

    @property
    def n_points(self) -> int:
        """Number of points."""
        return int(self.points.shape[0])

    def caveat(self) -> str:
        """What a verdict decided on this region does and does not say."""
        text = (
            f"sampled verdict: it holds at these {self.n_points} point(s); a condition that "
            "holds only on a subset (e.g. brackets vanishing on a line) passes when every "
            "point lies on it, and nothing is checked between the points"
        )
        if self.affine_dim < self.point_dim:
            text += (
                f"; these points span only a {self.affine_dim}-dimensional affine subspace of "
                f"the {self.point_dim}-dimensional coordinate space"
            )
        return text

    def summary(self) -> str:
        """The region in one line: points, spanned dimension, length scale."""
        return (
            f"{self.description}; spanning dimension {self.affine_dim} of {self.point_dim}; "
            f"length scale ell = {self.length_scale:.3g} ({self.length_source})"
        )


def _affine_dim(xb: np.ndarray) -> int:
    if xb.shape[0] < 2:
        return 0
    s = np.linalg.svd(xb - xb.mean(axis=0), compute_uv=False)
    if s[0] == 0:
        return 0
    return int(np.sum(s > 1e-9 * s[0]))


def metric_at(G, xb: np.ndarray) -> np.ndarray | None:
    """The metric matrices `(B, N, N)` in the coordinates of the points, for intrinsic
    coordinates; `None` elsewhere (tangent vectors are then measured by `tangent_norm`:
    Euclidean on open sets and embedded manifolds with the induced metric, geomstats'
    `inner_product` on the other spaces)."""
    if G.geometry.kind != "intrinsic":
        return None
    return np.asarray(G.geometry.metric_matrix(xb), dtype=np.float64)


def tangent_norm(G, xb: np.ndarray, v: np.ndarray, g: np.ndarray | None = None) -> np.ndarray:
    """`|v|_x` in the metric of `M` for tangent vectors `v (B, ..., N)` at flat points
    `xb (B, N)`, with `g = metric_at(G, xb)`: `(B, ...)`.

    Examples:
        >>> import numpy as np, riemflow as rf
        >>> G, _ = rf.models.bilinear_chain(3)
        >>> rf.regions.tangent_norm(G, np.zeros((1, 3)), np.array([[[3.0, 4.0, 0.0]]]))
        array([[5.]])
    """
    v = np.asarray(v, dtype=np.float64)
    B, N = v.shape[0], v.shape[-1]
    if g is not None:
        flat = v.reshape(B, -1, N)
        sq = np.sum((flat @ g) * flat, axis=-1)
        return np.sqrt(np.clip(sq, 0.0, None)).reshape(v.shape[:-1])
    if G.geometry.kind in ("euclidean", "extrinsic", "intrinsic", "abstract"):
        return np.sqrt(np.einsum("...i,...i->...", v, v))
    flat = v.reshape(B, -1, N)
    k = flat.shape[1]
    base = np.repeat(np.asarray(xb, dtype=np.float64), k, axis=0)
    vectors = flat.reshape(B * k, N)
    sq = np.asarray(G.geometry.inner(base, vectors, vectors), dtype=np.float64)
    return np.sqrt(np.clip(sq, 0.0, None)).reshape(v.shape[:-1])


def rms_radius(G, xb) -> float:
    """RMS distance of points `(B, D)` to their centroid, in the metric of `M` at the point
    nearest the centroid (chord lengths on an embedded manifold); 0 for fewer than 2.

    Examples:
        >>> import numpy as np, riemflow as rf
        >>> G, _ = rf.models.bilinear_chain(3)
        >>> rf.regions.rms_radius(G, np.array([[1.0, 0, 0], [-1.0, 0, 0]]))
        1.0
    """
    xb = np.asarray(xb, dtype=np.float64)
    if xb.shape[0] < 2:
        return 0.0
    diff = xb - xb.mean(axis=0)
    near = xb[[int(np.argmin(np.linalg.norm(diff, axis=1)))]]
    g = metric_at(G, near)
    norms = tangent_norm(G, near, diff[None, :, :], g)[0]
    return float(np.sqrt(np.mean(norms**2)))


def _length(G, xb: np.ndarray, length_scale) -> tuple[float, str]:
    if length_scale is not None:
        return float(as_positive(length_scale, "length_scale")), "given"
    radius = rms_radius(G, xb)
    if radius > 0:
        return radius, "RMS distance of the points to their centroid, in the metric of M"
    # one point (or identical points): no region. Its own size |x|_g keeps the measures
    # invariant under x -> s x for homogeneous maps
    size = float(tangent_norm(G, xb[:1], xb[:1, None, :], metric_at(G, xb[:1]))[0, 0])
    if size > 0 and np.isfinite(size):
        return size, "|x|_g of the single point (no region; pass length_scale=)"
    return 1.0, "unit length (a single point at the origin; pass length_scale=)"


def _sampler_words(G) -> str:
    geometry = G.geometry
    if geometry.sampler is not None:
        return "the parametrization's sampler"
    if geometry.kind == "extrinsic":
        return "the default sampler (uniform on the manifold)"
    if geometry.kind not in ("euclidean", "intrinsic"):
        return f"the default sampler of {type(geometry.space).__name__} (geomstats random_point)"
    restricted = " restricted to the domain" if geometry.domain is not None else ""
    return f"the default sampler (uniform on [-1, 1]^{geometry.point_dim}{restricted})"


def _region(G, xb, kind, description, length_scale, extra=None) -> Region:
    ell, source = _length(G, xb, length_scale)
    return Region(
        points=readonly_copy(xb),
        kind=kind,
        description=description,
        length_scale=ell,
        length_source=source,
        affine_dim=_affine_dim(xb),
        point_dim=int(xb.shape[1]),
        extra=dict(extra or {}),
    )


def sampled_region(G, n: int = 64, *, seed: int | None = 0, length_scale=None) -> Region:
    """`n` random points of `G`'s domain, drawn by its sampler with `seed`.

    Args:
        G: the `Parametrization`.
        n: number of points.
        seed: seed of the sampler.
        length_scale: `ell`; default the RMS distance of the points to their centroid.

    Returns:
        A `Region` of kind `"sampled"`.

    Raises:
        InputError: `n` or `length_scale` not positive.

    Examples:
        >>> import riemflow as rf
        >>> G, _ = rf.models.bilinear_chain(3)
        >>> rf.regions.sampled_region(G, 8).description
        '8 points drawn by the default sampler (uniform on [-1, 1]^3), seed 0'
    """
    n = as_positive_int(n, "n")
    xb, _ = G.points(G.sample(n, seed=seed), "points")
    words = f"{xb.shape[0]} points drawn by {_sampler_words(G)}, seed {seed}"
    return _region(G, xb, "sampled", words, length_scale)


def given_region(G, points, *, length_scale=None, label: str | None = None) -> Region:
    """The caller's points (one `(D,)` or a batch `(B, D)`) as a `Region`.

    Args:
        G: the `Parametrization`.
        points: `(D,)` or `(B, D)` points of `G`'s domain.
        length_scale: `ell`; default the RMS distance of the points to their centroid, or
            `|x|_g` for a single point.
        label: optional words for the report, e.g. `"x_init and 16 samples"`.

    Returns:
        A `Region` of kind `"given"`.

    Raises:
        ShapeError, NonFiniteError, DomainError: malformed points (named `points`).

    Examples:
        >>> import numpy as np, riemflow as rf
        >>> G, _ = rf.models.bilinear_chain(3)
        >>> line = np.stack([np.zeros(4), np.linspace(0.2, 1.0, 4), np.zeros(4)], -1)
        >>> rf.regions.given_region(G, line).affine_dim
        1
    """
    xb, _ = G.points(points, "points")
    lo, hi = xb.min(axis=0), xb.max(axis=0)
    if xb.shape[1] <= 6:
        box = "[" + ", ".join(f"[{a:.3g}, {b:.3g}]" for a, b in zip(lo, hi, strict=True)) + "]"
    else:
        box = f"of widths up to {float(np.max(hi - lo)):.3g}"
    what = f" ({label})" if label else ""
    words = f"{xb.shape[0]} given point(s){what}, bounding box {box}"
    return _region(G, xb, "given", words, length_scale)


def reachable_region(
    G,
    x_init,
    *,
    n_paths: int = 8,
    legs: int = 4,
    w_radius: float | None = None,
    seed: int | None = 0,
    length_scale=None,
    rtol: float = 1e-10,
    max_evaluations: int = REACHABLE_LEG_EVALUATIONS,
    time_limit: float | None = REACHABLE_LEG_TIME_LIMIT,
) -> Region:
    """Points reachable from `x_init` by gradient flow of piecewise linear losses.

    Each of `n_paths` random paths has `legs` legs. A leg follows the constant combination
    `dx/ds = sum_i c_i X_i(x)` of the gradient fields for unit time (the joint flow
    `psi(x; c)`), which is gradient flow of the loss `-<c, w>`, with `c = s u`, `u`
    standard normal and `s` chosen so that the leg moves `w` by about
    `w_radius / sqrt(legs)` at its start. Every leg's end is kept, with `x_init`:
    `1 + n_paths * legs` points. When the fields do not commute, a path of legs in changing
    directions leaves the `d`-dimensional image of `mu -> psi(x_init; mu)`: these points
    sample the orbit of `x_init`, the set every gradient flow from `x_init` lives in.

    A leg that blows up, leaves the domain or spends its budget is halved (up to 6 times)
    and then dropped, with the rest of its path; the description counts the dropped legs.

    Args:
        G: the `Parametrization`.
        x_init: the initialization `(D,)`.
        n_paths: number of random paths.
        legs: legs per path.
        w_radius: about how far (Euclidean, in `w`) a path wanders; default
            `0.5 max(1, |G(x_init)|_inf)`, the scale `mirror_potential` uses for its
            domain.
        seed: seed of the controls.
        length_scale: `ell`; default the RMS distance of the points to their centroid.
        rtol: `solve_ivp` relative tolerance of each leg.
        max_evaluations: field-evaluation budget of each leg (default 20,000).
        time_limit: wall-time budget of each leg in seconds (default 20; `None`: none).

    Returns:
        A `Region` of kind `"reachable"` (`extra` holds `x_init`, `w_radius`, `n_paths`,
        `legs` and `dropped`).

    Raises:
        ShapeError, NonFiniteError, DomainError: bad `x_init`.
        InputError: bad counts, radius or tolerances.

    Examples:
        >>> import numpy as np, riemflow as rf
        >>> G, x0 = rf.models.diagonal_network(2, alpha=0.5)
        >>> region = rf.regions.reachable_region(G, x0, n_paths=2, legs=2)
        >>> region.n_points, region.kind
        (5, 'reachable')
    """
    x0 = G.start_point(x_init, "x_init")
    n_paths = as_positive_int(n_paths, "n_paths")
    legs = as_positive_int(legs, "legs")
    rtol = as_positive(rtol, "rtol")
    w0 = np.asarray(G.values(x0[None, :], "x_init")[0], dtype=np.float64)
    if w_radius is None:
        w_radius = 0.5 * max(1.0, float(np.max(np.abs(w0))))
    w_radius = as_positive(w_radius, "w_radius")
    rng = np.random.default_rng(seed)
    per_leg = w_radius / np.sqrt(legs)
    points, dropped = [x0], 0
    for _ in range(n_paths):
        x = x0
        for _ in range(legs):
            u = rng.standard_normal(w0.size)
            K = np.asarray(G.traced.kernel(x[None, :])[0], dtype=np.float64)
            c = per_leg * u / max(float(np.linalg.norm(K @ u)), 1e-300)
            x_new = _leg(G, x, c, rtol, max_evaluations, time_limit)
            if x_new is None:
                dropped += 1
                break
            x = x_new
            points.append(x)
    xb = np.array(points)
    words = (
        f"{xb.shape[0]} points reachable from x_init = "
        f"{np.array2string(x0, precision=3, threshold=6)} ({n_paths} random paths of {legs} "
        f"legs, each moving w by about {per_leg:.2g}; seed {seed}"
        + (f"; {dropped} leg(s) dropped: blow-up, domain or budget" if dropped else "")
        + ")"
    )
    extra = {"x_init": x0, "w_radius": w_radius, "n_paths": n_paths, "legs": legs}
    extra["dropped"] = dropped
    return _region(G, xb, "reachable", words, length_scale, extra)


def _leg(G, x, c, rtol, max_evaluations, time_limit):
    """End of the joint flow `psi(x; c)`, halving `c` on failure; `None` if it never ends
    inside the domain."""
    atol = 1e-14 * max(1.0, float(np.max(np.abs(x))))
    for _ in range(_LEG_HALVINGS + 1):
        try:
            with np.errstate(all="ignore"):
                end = joint_flow(
                    G,
                    x,
                    c,
                    rtol=rtol,
                    atol=atol,
                    project=True,
                    max_evaluations=max_evaluations,
                    time_limit=time_limit,
                ).x
            G.values(end[None, :], "x")
            return end
        except (DivergenceError, SolverError, DomainError, BudgetError):
            c = 0.5 * c
    return None


def as_region(G, region=None, *, points=None, n_samples: int = 64, seed=0, length_scale=None):
    """The `Region` a check decides on.

    Args:
        G: the `Parametrization`.
        region: a `Region` (used as is), or `None`.
        points: with `region=None`: the caller's points (`given_region`); else
            `n_samples` points drawn with `seed` (`sampled_region`).
        n_samples: the sampled region's size.
        seed: the sampled region's seed.
        length_scale: `ell` of a region built here (a given `Region` keeps its own).

    Returns:
        A `Region`.

    Raises:
        InputError: `region` is not a `Region` or `None`, or is given together with
            `points`.
    """
    if region is not None:
        if not isinstance(region, Region):
            raise InputError(
                f"`region` must be a riemflow.regions.Region (sampled_region, given_region, "
                f"reachable_region) or None; got {type(region).__name__}",
                argument="region",
            )
        if points is not None:
            raise InputError("give `points` or `region`, not both", argument="region")
        return region
    if points is not None:
        return given_region(G, points, length_scale=length_scale)
    return sampled_region(G, n_samples, seed=seed, length_scale=length_scale)

"""The converse: a commuting parametrization from a Legendre function.

[Concepts: the converse via Nash embedding](concepts.md#the-converse-via-nash-embedding).

Given `R` and a compact domain `K` inside `dom R`, find an isometric embedding
`F: (K, hess R) -> R^D`, put `M = F(K)` with the metric induced from `R^D`, and
`G = F^{-1}: M -> R^d`. Gradient flow of `L o G` on `M` is then mirror flow with `R`, for
every loss: the gradient fields of `G` are the coordinate fields of the dual coordinates
`mu = grad R(w)`, so they commute.

`commuting_parametrization` returns `G` in intrinsic coordinates: the point of `M` over
`w` has coordinates `w`, the metric is the pullback `dF^T dF` of the embedding, and `G` is
the identity map of the coordinates; `.ambient()` gives the same `G` on `M` in the
coordinates of `R^D` (tangent projections, nearest-point retraction). The embeddings are
built by `riemflow.embedding`: exactly in `R^d` for a flat `hess R` (decided by
`R.check_flat`), numerically by Chebyshev collocation in `R^D`, `D > d`, for a curved one.
This module holds the result type, its save/load, and the choice between the routes.
"""

from __future__ import annotations

import json

import numpy as np

from ._validation import as_positive, as_positive_int
from .domains import Ball, Box, Domain, as_domain
from .embedding import (
    ChebyshevEmbedding,
    DegreeStep,
    Embedding,
    ambient_parametrization,
    chebyshev_nodes,
    flat_embedding,
    separable_embedding,
)
from .embedding.chebyshev import curved_embedding
from .errors import DomainError, InputError, NotPositiveDefiniteError
from .legendre import Legendre
from .parametrization import Parametrization
from .spaces import immersed_manifold

__all__ = ["commuting_parametrization", "ConverseParametrization", "DegreeStep", "load"]


class ConverseParametrization(Parametrization):
    """`G = F^{-1}` on `M = F(K)`, in intrinsic coordinates (see `commuting_parametrization`).

    Attributes:
        legendre: `R`.
        embedding: `F` (an `Embedding`: `F(w)`, `F.jacobian(w)`, `F.metric(w)`).
        isometry_defect: `max |dF^T dF - hess R| / max |hess R|` on fresh random points.
        ambient_dim: `D`.
        construction: how `F` was built.
        history: per-degree `DegreeStep`s of the curved construction (empty when flat).
        region: the domain `K`.
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
    ):
        d = R.dim
        space = immersed_manifold(
            embedding,
            d,
            embedding.ambient_dim,
            contains=region.contains,
            sampler=region.sample,
            name=f"F({R.name})",
        )
        super().__init__(
            lambda z: z * 1.0,
            space,
            name=f"F^-1 on the embedding of {R.name}",
            vectorized=True,
            point_over=lambda w: np.asarray(w, dtype=np.float64).copy(),
        )
        self.legendre = R
        self.embedding = embedding
        self.region = region
        self.isometry_defect = float(defect)
        self.ambient_dim = embedding.ambient_dim
        self.construction = construction
        self.history = tuple(history)

    def ambient(self) -> Parametrization:
        """The same `G` on `M` in the coordinates of `R^D` (see `ambient_parametrization`);
        its `point_over(w)` is `F(w)`."""
        return ambient_parametrization(self)

    def save(self, path, *, grid_points: int = 9) -> None:
        """Write the embedding to a NumPy `.npz` file, readable without riemflow.

        Arrays: `points` `(P, d)` (a tensor grid of `grid_points` Chebyshev nodes per
        coordinate of the region's bounding box, kept where they lie in the region),
        `values` `F(points)` `(P, D)`, `jacobians` `dF(points)` `(P, D, d)`, `metric`
        `hess R(points)` `(P, d, d)`; for a numerical (Chebyshev) embedding also its
        `coefficients`, `lower`, `upper`, which `load` turns back into this
        parametrization; and `meta`, a JSON string (potential, defect, ambient dimension,
        construction, per-degree history).
        """
        grid_points = as_positive_int(grid_points, "grid_points")
        rng = np.random.default_rng(0)
        if isinstance(self.region, Box):
            lo, hi = self.region.lower, self.region.upper
        else:
            sample = self.region.sample(rng, 4096)
            lo, hi = sample.min(axis=0), sample.max(axis=0)
        nodes = [
            0.5 * (lo[i] + hi[i]) + 0.5 * (hi[i] - lo[i]) * chebyshev_nodes(grid_points)
            for i in range(self.legendre.dim)
        ]
        points = np.stack(np.meshgrid(*nodes, indexing="ij"), axis=-1).reshape(
            -1, self.legendre.dim
        )
        points = points[np.asarray(self.region.contains(points), dtype=bool)]
        arrays = {
            "points": points,
            "values": np.asarray(self.embedding(points)),
            "jacobians": np.asarray(self.embedding.jacobian(points)),
            "metric": np.asarray(self.legendre.hessian(points)),
        }
        if isinstance(self.embedding, ChebyshevEmbedding):
            arrays.update(
                coefficients=self.embedding.coefficients,
                lower=self.embedding.lower,
                upper=self.embedding.upper,
            )
        meta = {
            "format": "riemflow-converse-1",
            "potential": self.legendre.name,
            "dim": self.legendre.dim,
            "region": repr(self.region),
            "ambient_dim": self.ambient_dim,
            "isometry_defect": self.isometry_defect,
            "construction": self.construction,
            "history": [step.__dict__ for step in self.history],
        }
        np.savez(path, meta=np.array(json.dumps(meta)), **arrays)

    @classmethod
    def load(cls, path, R: Legendre, domain) -> ConverseParametrization:
        """The numerical (Chebyshev) construction saved by `save` (see `riemflow.converse.load`)."""
        return load(path, R, domain)

    def __repr__(self) -> str:
        return (
            f"ConverseParametrization({self.legendre.name!r}: D={self.ambient_dim}, "
            f"defect {self.isometry_defect:.2e}, {self.construction})"
        )


def load(path, R: Legendre, domain) -> ConverseParametrization:
    """The numerical (Chebyshev) construction saved by `ConverseParametrization.save`.

    Args:
        path: the `.npz` file.
        R: the potential it was built from (its Hessian is re-checked against the file).
        domain: the region it was built on.

    Raises:
        InputError: not a riemflow converse file, one without Chebyshev coefficients (flat
            embeddings are exact and rebuilt by `commuting_parametrization` in
            milliseconds), or one that does not match `R` (its stored metric differs).
    """
    try:
        data = np.load(path, allow_pickle=False)
        meta = json.loads(str(data["meta"]))
    except (OSError, ValueError, KeyError) as exc:
        raise InputError(
            f"`path` {path!r} is not a riemflow converse file ({exc})", argument="path"
        ) from exc
    if meta.get("format") != "riemflow-converse-1":
        raise InputError(f"`path` {path!r} is not a riemflow converse file", argument="path")
    if "coefficients" not in data:
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
    embedding = ChebyshevEmbedding(data["coefficients"], data["lower"], data["upper"])
    history = tuple(DegreeStep(**step) for step in meta["history"])
    return ConverseParametrization(
        R,
        embedding,
        region,
        defect=meta["isometry_defect"],
        construction=meta["construction"],
        history=history,
    )


# -- checks of the input -------------------------------------------------------------------------
def _region(R: Legendre, domain) -> Domain:
    region = as_domain(domain, R.dim)
    if isinstance(region, Box):
        if not (np.all(np.isfinite(region.lower)) and np.all(np.isfinite(region.upper))):
            raise InputError(
                f"`domain` must be compact (finite box ends or a ball); got {region!r}",
                argument="domain",
            )
        corners = (
            np.array(np.meshgrid(*zip(region.lower, region.upper, strict=True), indexing="ij"))
            .reshape(R.dim, -1)
            .T
        )
        probe = corners
    elif isinstance(region, Ball):
        probe = region.boundary_approach(np.random.default_rng(0), 64, np.array([0.0]))[:, 0]
    else:
        raise InputError(
            f"`domain` must be a box [(lo, hi), ...] or a Ball; got {type(region).__name__}",
            argument="domain",
        )
    outside = ~np.asarray(R.domain.contains(probe), dtype=bool)
    if np.any(outside):
        raise DomainError(
            f"`domain` leaves the domain of {R.name}: e.g. "
            f"{np.array2string(probe[int(np.argmax(outside))], precision=6)} is outside "
            f"{R.domain!r} (the closure of the region must lie inside dom R)",
            argument="domain",
        )
    return region


def _require_legendre(R: Legendre, region: Domain, rng) -> None:
    points = region.sample(rng, 64)
    H = np.asarray(R.hessian(points)).reshape(-1, R.dim, R.dim)
    eig = np.linalg.eigvalsh(0.5 * (H + np.swapaxes(H, 1, 2)))
    worst = int(np.argmin(eig[:, 0] / np.abs(eig[:, -1])))
    if not eig[worst, 0] > 1e-12 * abs(eig[worst, -1]):
        raise NotPositiveDefiniteError(
            f"{R.name} is not Legendre on the domain: hess R has eigenvalue "
            f"{eig[worst, 0]:.3e} (largest {eig[worst, -1]:.3e}) at "
            f"{np.array2string(points[worst], precision=6)}; no Riemannian metric to embed"
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


# -- curved metrics: Chebyshev collocation + Levenberg-Marquardt ---------------------------------


def commuting_parametrization(
    R: Legendre,
    domain,
    *,
    tol: float = 1e-8,
    ambient_dim: int | None = None,
    max_degree: int = 32,
    oversampling: float = 1.5,
    flat_rtol: float = 1e-8,
    n_check: int = 256,
    seed: int | None = 0,
    max_iter: int = 60,
    time_limit: float | None = 1800.0,
) -> ConverseParametrization:
    """A commuting parametrization whose gradient flows are the mirror flows of `R`.

    Builds an isometric embedding `F` of `(K, hess R)` ([Concepts: the converse via Nash
    embedding](concepts.md#the-converse-via-nash-embedding)) and returns `G = F^{-1}` on `M = F(K)`.
    Flat metrics (decided with `R.check_flat(rtol=flat_rtol)`) are embedded exactly in `R^d`; curved
    ones numerically in `R^D`, `D > d` (default `d (d + 1) / 2 + 1`), by Chebyshev collocation with
    Levenberg-Marquardt and degree refinement (degrees 6, 10, 14, ... for `d <= 2`; 4, 6, 7, 8, ...
    above, where the unknowns grow like degree^d; up to `max_degree`) until the isometry defect on
    `n_check` fresh random points is at most `tol`.

    Args:
        R: the Legendre function.
        domain: the compact region `K`: box pairs `[(lo, hi), ...]` (or a `Box` with finite
            ends); a `Ball` for flat metrics. Its closure must lie in `dom R`.
        tol: required isometry defect `max |dF^T dF - hess R| / max |hess R|`.
        ambient_dim: `D` for curved metrics.
        max_degree: largest Chebyshev degree tried.
        oversampling: collocation nodes per coordinate / (degree + 1).
        flat_rtol: relative curvature tolerance of the flatness test.
        n_check: fresh random points the defect is measured on.
        seed: seed of those points and of the initial map.
        max_iter: Levenberg-Marquardt iterations per solve. Each solve stops when the node
            residual is below `tol / 10`, or when it stagnates (less than a 30% decrease
            over 3 accepted steps: the degree cannot represent a better map, refine it).
        time_limit: wall-time budget of the curved construction in seconds (default 1800;
            `None`: none); a spent budget raises `BudgetError`.

    Returns:
        A `ConverseParametrization` (a `Parametrization` with `.embedding`,
        `.isometry_defect`, `.ambient_dim`, `.construction`, `.history`).

    Raises:
        InputError: a domain that is not compact or not a box/ball.
        DomainError: the domain leaves `dom R`.
        NotPositiveDefiniteError: `hess R` is not positive definite on the domain.
        ConvergenceError: `tol` not reached; reports the defect and degrees tried.

    Examples:
        >>> import numpy as np, riemflow as rf
        >>> P = rf.commuting_parametrization(rf.potentials.negative_entropy(2),
        ...                                  [(0.5, 2.0), (0.5, 2.0)])
        >>> P.ambient_dim, P.isometry_defect < 1e-12
        (2, True)
    """
    if not isinstance(R, Legendre):
        raise InputError(f"`R` must be a riemflow Legendre; got {type(R).__name__}", argument="R")
    tol = as_positive(tol, "tol")
    max_degree = as_positive_int(max_degree, "max_degree")
    n_check = as_positive_int(n_check, "n_check")
    region = _region(R, domain)
    rng = np.random.default_rng(seed)
    _require_legendre(R, region, rng)
    d = R.dim
    center = region.center()
    check = region.sample(np.random.default_rng(None if seed is None else seed + 1), n_check)
    flat = R.check_flat(region.sample(rng, 16), rtol=flat_rtol).passed
    if flat:
        if _is_separable(R, region.sample(rng, 16)):
            F = separable_embedding(R, center)
        else:
            F = flat_embedding(R, center)
        defect = F.defect(R, check)
        return ConverseParametrization(
            R, F, region, defect=defect, construction=f"flat metric, exact: {F.method}"
        )
    D = d * (d + 1) // 2 + 1 if ambient_dim is None else as_positive_int(ambient_dim, "ambient_dim")
    if D <= d:
        raise InputError(
            f"a curved metric needs ambient_dim > d = {d}; got {D}", argument="ambient_dim"
        )
    # the unknowns grow like degree^d: finer steps in higher dimension
    if d <= 2:
        degrees = list(range(6, max_degree + 1, 4))
    else:
        degrees = [k for k in (4, 6) if k <= max_degree] + list(range(7, max_degree + 1))
    degrees = degrees or [max_degree]
    F, defect, history = curved_embedding(
        R,
        region,
        tol=tol,
        ambient_dim=D,
        degrees=degrees,
        oversampling=oversampling,
        n_check=n_check,
        seed=seed,
        max_iter=max_iter,
        time_limit=time_limit,
    )
    return ConverseParametrization(
        R,
        F,
        region,
        defect=defect,
        construction=f"curved metric: Chebyshev collocation, degree {F.degree}, D={D}",
        history=history,
    )

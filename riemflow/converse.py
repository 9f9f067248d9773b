"""The converse: a commuting parametrization from a Legendre function (MATH.md section 5).

Given `R` and a compact domain `K` inside `dom R`, find an isometric embedding
`F: (K, hess R) -> R^D`, put `M = F(K)` with the metric induced from `R^D`, and
`G = F^{-1}: M -> R^d`. Gradient flow of `L o G` on `M` is then mirror flow with `R`, for
every loss: the gradient fields of `G` are the coordinate fields of the dual coordinates
`mu = grad R(w)`, so they commute.

`commuting_parametrization` returns `G` in intrinsic coordinates: the point of `M` over
`w` has coordinates `w`, the metric is the pullback `dF^T dF` of the embedding, and `G` is
the identity map of the coordinates; `.ambient()` gives the same `G` on `M` in the
coordinates of `R^D` (tangent projections, nearest-point retraction). Constructions:

- flat `hess R` (decided by `R.check_flat`): exact, `D = d` (separable quadrature, or a
  parallel orthonormal coframe); defect at round-off / ODE-tolerance level;
- curved `hess R`: `F` as a tensor Chebyshev series on a box in `R^D`, `D > d`, fitted by
  collocation of `dF^T dF = hess R` on an oversampled Chebyshev grid with damped
  Gauss-Newton (Levenberg-Marquardt) steps using the exact structured Jacobian
  `d r_ij / d C = B_i (x) dF_j + dF_i (x) B_j`, continuation from the flat embedding of the
  metric at the center, and degree refinement until the isometry defect measured on fresh
  random points (not the nodes) is below `tol`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import autograd.numpy as anp
import numpy as np
from autograd.extend import defjvp, defvjp, primitive
from scipy.linalg import cho_factor, cho_solve
from threadpoolctl import threadpool_limits

from ._validation import as_positive, as_positive_int
from .domains import Ball, Box, Domain, as_domain
from .embedding import (
    ChebyshevEmbedding,
    Embedding,
    chebyshev_basis,
    chebyshev_nodes,
    flat_embedding,
    separable_embedding,
)
from .errors import ConvergenceError, DomainError, InputError, NotPositiveDefiniteError
from .legendre import Legendre
from .parametrization import Parametrization
from .spaces import immersed_manifold

__all__ = ["commuting_parametrization", "ConverseParametrization", "DegreeStep"]


@dataclass(frozen=True)
class DegreeStep:
    """One degree of the curved construction.

    Attributes:
        degree: Chebyshev degree per coordinate.
        n_nodes: collocation nodes per coordinate.
        node_residual: `max |dF^T dF - hess R| / max |hess R|` at the nodes.
        defect: the same on fresh random points of the domain (the figure of merit).
        iterations: Levenberg-Marquardt iterations at this degree.
        seconds: wall time of this degree.
    """

    degree: int
    n_nodes: int
    node_residual: float
    defect: float
    iterations: int
    seconds: float


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
        )
        self.legendre = R
        self.embedding = embedding
        self.region = region
        self.isometry_defect = float(defect)
        self.ambient_dim = embedding.ambient_dim
        self.construction = construction
        self.history = tuple(history)

    def point_over(self, w) -> np.ndarray:
        """The point of `M` over `w`, in this parametrization's coordinates: `w` itself."""
        return np.asarray(w, dtype=np.float64).copy()

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
        import json

        grid_points = as_positive_int(grid_points, "grid_points")
        rng = np.random.default_rng(0)
        if isinstance(self.region, Box):
            lo, hi = self.region.lower, self.region.upper
        else:
            sample = self.region.sample(rng, 4096)
            lo, hi = sample.min(axis=0), sample.max(axis=0)
        nodes = [0.5 * (lo[i] + hi[i]) + 0.5 * (hi[i] - lo[i]) * chebyshev_nodes(grid_points)
                 for i in range(self.legendre.dim)]  # fmt: skip
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
    import json

    try:
        data = np.load(path, allow_pickle=False)
        meta = json.loads(str(data["meta"]))
    except (OSError, ValueError, KeyError) as exc:
        raise InputError(f"`path` {path!r} is not a riemflow converse file ({exc})",
                         argument="path") from exc  # fmt: skip
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
        raise InputError(f"`R` ({R.name}) is not the potential saved in {path!r} "
                         f"({meta['potential']})", argument="R")  # fmt: skip
    embedding = ChebyshevEmbedding(data["coefficients"], data["lower"], data["upper"])
    history = tuple(DegreeStep(**step) for step in meta["history"])
    return ConverseParametrization(R, embedding, region, defect=meta["isometry_defect"],
                                   construction=meta["construction"], history=history)  # fmt: skip


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
class _Collocation:
    """Nodes, basis derivative matrices and target metric of one degree."""

    def __init__(self, R: Legendre, lower, upper, degree: int, n_nodes: int):
        d = R.dim
        self.d, self.degree, self.n_nodes = d, degree, n_nodes
        x = chebyshev_nodes(n_nodes)
        T, dT = chebyshev_basis(x, degree)
        scale = 2.0 / (upper - lower)
        grids = np.meshgrid(
            *[lower[i] + (x + 1) * (upper[i] - lower[i]) / 2 for i in range(d)], indexing="ij"
        )
        self.points = np.stack([g.ravel() for g in grids], axis=-1)  # (P, d)
        # B_i = T (x) ... (x) T' (x) ... (x) T (derivative in slot i), rows = nodes
        self.B = []
        for i in range(d):
            mat = np.ones((1, 1))
            for k in range(d):
                factor = dT * scale[k] if k == i else T
                mat = np.kron(mat, factor)
            self.B.append(mat)
        H = np.asarray(R.hessian(self.points)).reshape(-1, d, d)
        self.pairs = [(i, j) for i in range(d) for j in range(i, d)]
        self.target = np.stack([H[:, i, j] for i, j in self.pairs])  # (pairs, P)


def _lm_solve(
    col: _Collocation, C: np.ndarray, target: np.ndarray, scale: float, *, tol: float, max_iter: int
) -> tuple[np.ndarray, float, int]:
    """Damped Gauss-Newton on `r_ij = (dF_i . dF_j - H_ij) / scale` at the nodes.

    `C: (n_basis, D)`. The Jacobian is formed from its structure,
    `d r_ij / d C[:, a] = (B_i * dF_j[:, a] + dF_i[:, a] * B_j) / scale`, and the step solves
    `(J^T J + lambda I) delta = -J^T r` by a Cholesky factorization and two triangular
    solves (`scipy.linalg.cho_factor` / `cho_solve`). Returns `(C, max |r|, iterations)`.

    BLAS runs on one thread here (`threadpoolctl`): the systems are a few hundred unknowns,
    too small to gain from a second thread, and on a shared 2-core machine OpenBLAS's
    spinning second thread made each 196 x 196 factorization take ~30 ms and whole
    constructions 3 to 58 s (issue 8, `benchmarks/converse.py`: 56 s -> 2.2 s in one run).
    """
    with threadpool_limits(limits=_LM_BLAS_THREADS, user_api="blas"):
        return _lm_iterations(col, C, target, scale, tol=tol, max_iter=max_iter)


#: BLAS threads of the Levenberg-Marquardt solves (see `_lm_solve`)
_LM_BLAS_THREADS = 1


def _lm_iterations(col, C, target, scale, *, tol, max_iter):
    nb, D = C.shape
    n = nb * D

    def residual(Cm):
        dF = [B @ Cm for B in col.B]
        r = np.stack([np.sum(dF[i] * dF[j], axis=1) for i, j in col.pairs]) - target
        return r / scale, dF

    r, dF = residual(C)
    cost = float(np.sum(r * r))
    lam = 1e-6
    it = 0
    maxima = [float(np.max(np.abs(r)))]
    diagonal = np.diag_indices(n)
    for it in range(1, max_iter + 1):  # noqa: B007 - `it` is returned
        if maxima[-1] <= tol:
            break
        if len(maxima) >= 4 and maxima[-1] > 0.7 * maxima[-4]:
            break  # stagnation: this degree cannot represent a better solution
        JTJ = np.zeros((n, n))
        JTr = np.zeros(n)
        for (i, j), rp in zip(col.pairs, r, strict=True):
            Jp = col.B[i][:, :, None] * dF[j][:, None, :] + col.B[j][:, :, None] * dF[i][:, None, :]
            Jp = Jp.reshape(Jp.shape[0], n) / scale
            JTJ += Jp.T @ Jp
            JTr += Jp.T @ rp
        base = JTJ[diagonal].copy()
        mean_diag = float(np.mean(base))
        accepted = False
        for _ in range(30):
            JTJ[diagonal] = base + lam * mean_diag
            try:
                factor = cho_factor(JTJ, check_finite=False)
            except np.linalg.LinAlgError:
                lam *= 10.0
                continue
            step = -cho_solve(factor, JTr, check_finite=False).reshape(nb, D)
            r_new, dF_new = residual(C + step)
            cost_new = float(np.sum(r_new * r_new))
            if cost_new < cost:
                C, r, dF, cost = C + step, r_new, dF_new, cost_new
                lam = max(lam / 5.0, 1e-15)
                accepted = True
                maxima.append(float(np.max(np.abs(r))))
                break
            lam *= 4.0
        if not accepted:
            break
    return C, float(np.max(np.abs(r))), it


def _curved_embedding(
    R: Legendre,
    region: Domain,
    *,
    tol: float,
    ambient_dim: int,
    degrees,
    oversampling: float,
    n_check: int,
    seed,
    max_iter: int,
) -> tuple[ChebyshevEmbedding, float, tuple[DegreeStep, ...]]:
    if not isinstance(region, Box):
        raise InputError(
            "the curved construction needs a box domain [(lo, hi), ...] (a Chebyshev grid)",
            argument="domain",
        )
    d, D = R.dim, ambient_dim
    lower, upper = region.lower, region.upper
    center = 0.5 * (lower + upper)
    Hc = np.asarray(R.hessian(center))
    evals, evecs = np.linalg.eigh(Hc)
    root = evecs @ np.diag(np.sqrt(evals)) @ evecs.T
    rng = np.random.default_rng(seed)
    check = region.sample(rng, n_check)
    H_check = np.asarray(R.hessian(check)).reshape(-1, d, d)
    scale = float(np.max(np.abs(H_check)))

    # free initial map, degree 2: the flat embedding of hess R(center) in the first d
    # coordinates, small generic quadratics in the others (so the Jacobian in the extra
    # directions is not zero and bending is possible)
    half = 0.5 * (upper - lower)
    coeffs = np.zeros((3,) * d + (D,))
    for i in range(d):
        index = [0] * d
        index[i] = 1
        coeffs[tuple(index)][:d] = root[:, i] * half[i]  # w - c = half * xi = half * T_1
    bump = 0.05 * np.sqrt(np.max(evals)) * np.max(half)
    for a in range(d, D):
        for i in range(d):
            for j in range(i, d):
                index = [0] * d
                index[i] += 1
                index[j] += 1
                if max(index) <= 2:
                    coeffs[tuple(index)][a] = bump * rng.standard_normal()
    history: list[DegreeStep] = []
    embedding = None
    previous_degree = 2
    for degree in degrees:
        start = time.perf_counter()
        grown = np.zeros((degree + 1,) * d + (D,))
        keep = tuple(slice(0, min(previous_degree, degree) + 1) for _ in range(d))
        grown[keep] = coeffs[keep]
        coeffs = grown
        n_nodes = max(degree + 2, int(np.ceil(oversampling * (degree + 1))))
        col = _Collocation(R, lower, upper, degree, n_nodes)
        C = coeffs.reshape(-1, D)
        total = 0
        if not history:  # continuation from the metric at the center to hess R
            center_target = np.stack([np.full(col.points.shape[0], Hc[i, j]) for i, j in col.pairs])
            for t in (0.25, 0.5, 0.75):
                C, _, its = _lm_solve(
                    col,
                    C,
                    (1 - t) * center_target + t * col.target,
                    scale,
                    tol=1e-6,
                    max_iter=max_iter,
                )
                total += its
        C, node_residual, its = _lm_solve(
            col, C, col.target, scale, tol=0.1 * tol, max_iter=max_iter
        )
        total += its
        coeffs = C.reshape((degree + 1,) * d + (D,))
        previous_degree = degree
        embedding = ChebyshevEmbedding(coeffs, lower, upper)
        g = embedding.metric(check)
        defect = float(np.max(np.abs(g - H_check)) / scale)
        history.append(
            DegreeStep(degree, n_nodes, node_residual, defect, total, time.perf_counter() - start)
        )
        if defect <= tol:
            return embedding, defect, tuple(history)
    table = ", ".join(f"degree {h.degree}: {h.defect:.2e}" for h in history)
    raise ConvergenceError(
        f"isometric embedding of {R.name} into R^{D}: defect {history[-1].defect:.3e} above "
        f"tol={tol:g} after degrees {[h.degree for h in history]} ({table}); raise "
        "`max_degree`, `ambient_dim` or `tol`",
        residual=history[-1].defect,
        iterations=sum(h.iterations for h in history),
    )


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
) -> ConverseParametrization:
    """A commuting parametrization whose gradient flows are the mirror flows of `R`.

    Builds an isometric embedding `F` of `(K, hess R)` (MATH.md section 5) and returns
    `G = F^{-1}` on `M = F(K)`. Flat metrics (decided with `R.check_flat(rtol=flat_rtol)`)
    are embedded exactly in `R^d`; curved ones numerically in `R^D`, `D > d` (default
    `d (d + 1) / 2 + 1`), by Chebyshev collocation with Levenberg-Marquardt and degree
    refinement (degrees 6, 10, 14, ... for `d <= 2`; 4, 6, 7, 8, ... above, where the
    unknowns grow like degree^d; up to `max_degree`) until the isometry defect on
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

    Returns:
        A `ConverseParametrization` (a `Parametrization` with `.embedding`,
        `.isometry_defect`, `.ambient_dim`, `.construction`, `.history`).

    Raises:
        InputError: a domain that is not compact or not a box/ball.
        DomainError: the domain leaves `dom R`.
        NotPositiveDefiniteError: `hess R` is not positive definite on the domain.
        ConvergenceError: `tol` not reached; reports the defect and degrees tried.

    Example:
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
    F, defect, history = _curved_embedding(
        R,
        region,
        tol=tol,
        ambient_dim=D,
        degrees=degrees,
        oversampling=oversampling,
        n_check=n_check,
        seed=seed,
        max_iter=max_iter,
    )
    return ConverseParametrization(
        R,
        F,
        region,
        defect=defect,
        construction=f"curved metric: Chebyshev collocation, degree {F.degree}, D={D}",
        history=history,
    )


# -- the same parametrization in ambient coordinates ----------------------------------------------
class EmbeddedImage:
    """`M = F(K)` as a submanifold of `R^D` in ambient coordinates (for `ExtrinsicGeometry`).

    `coordinates(X)` is the nearest-point map `X -> argmin_w |F(w) - X|` (Gauss-Newton from
    the nearest point of a grid), an autograd primitive whose derivative on `M` is
    `dF (dF^T dF)^{-1}` (MATH.md section 5); `to_tangent` projects onto `span dF` and
    `projection` is `F o coordinates`.
    """

    intrinsic = False

    def __init__(self, embedding: Embedding, region: Domain, *, grid: int = 12):
        from geomstats.geometry.euclidean import Euclidean

        self.embedding = embedding
        self.region = region
        self.dim = embedding.dim
        self.shape = (embedding.ambient_dim,)
        self.embedding_space = Euclidean(embedding.ambient_dim)
        self._grid = region.sample(np.random.default_rng(0), grid**self.dim)
        self._grid_images = np.asarray(embedding(self._grid))
        self._last: np.ndarray | None = None
        self.coordinates = self._make_coordinates()

    def _jacobian(self, w):
        from . import _autodiff

        return _autodiff.jacobian(lambda z: self.embedding(z), w, name="F")  # (B, D, d)

    def _solve(self, X: np.ndarray) -> np.ndarray:
        candidates = self._grid if self._last is None else np.vstack([self._grid, self._last])
        images = (
            self._grid_images
            if self._last is None
            else np.vstack([self._grid_images, np.asarray(self.embedding(self._last))])
        )
        nearest = np.argmin(np.sum((X[:, None, :] - images[None, :, :]) ** 2, axis=-1), axis=1)
        w = candidates[nearest].copy()
        for _ in range(50):
            J = np.asarray(self.embedding.jacobian(w))
            gap = X - np.asarray(self.embedding(w))
            step = np.linalg.solve(
                np.einsum("bai,baj->bij", J, J), np.einsum("bai,ba->bi", J, gap)[..., None]
            )[..., 0]
            w = w + step
            if np.max(np.abs(step)) <= 1e-15 * max(1.0, float(np.max(np.abs(w)))):
                break
        self._last = w[-1:].copy()  # warm start for the next call (flows move slowly)
        return w

    def _lift(self, w, g):
        """`dF (dF^T dF)^{-1} g`: a coordinate covector to its tangent vector in `R^D`."""
        single = anp.ndim(w) == 1
        wb = anp.reshape(w, (1, -1)) if single else w
        gb = anp.reshape(g, (1, -1)) if single else g
        J = self._jacobian(wb)
        coeff = anp.linalg.solve(anp.einsum("bai,baj->bij", J, J), gb[..., None])[..., 0]
        out = anp.einsum("bai,bi->ba", J, coeff)
        return out[0] if single else out

    def _lower(self, w, v):
        """`(dF^T dF)^{-1} dF^T v`: the coordinates of the tangent part of `v` in `R^D`."""
        single = anp.ndim(w) == 1
        wb = anp.reshape(w, (1, -1)) if single else w
        vb = anp.reshape(v, (1, -1)) if single else v
        J = self._jacobian(wb)
        rhs = anp.einsum("bai,ba->bi", J, vb)[..., None]
        out = anp.linalg.solve(anp.einsum("bai,baj->bij", J, J), rhs)[..., 0]
        return out[0] if single else out

    def _make_coordinates(self):
        @primitive
        def coordinates(X):
            arr = np.asarray(X, dtype=np.float64)
            rows = arr[None, :] if arr.ndim == 1 else arr
            w = self._solve(rows)
            return w[0] if arr.ndim == 1 else w

        defvjp(coordinates, lambda ans, X: lambda g: self._lift(ans, g))
        defjvp(coordinates, lambda g, ans, X: self._lower(ans, g))
        return coordinates

    # the interface ExtrinsicGeometry uses
    def projection(self, point):
        return self.embedding(self.coordinates(point))

    def to_tangent(self, vector, base_point):
        w = self.coordinates(base_point)
        single = anp.ndim(w) == 1
        wb = anp.reshape(w, (1, -1)) if single else w
        coordinates = anp.reshape(self._lower(w, vector), anp.shape(wb))
        out = anp.einsum("bai,bi->ba", self._jacobian(wb), coordinates)  # J (J^T J)^-1 J^T v
        return out[0] if single else out

    def belongs(self, point, atol=1e-8):
        X = np.atleast_2d(np.asarray(point, dtype=np.float64))
        return np.linalg.norm(np.asarray(self.projection(X)) - X, axis=-1) <= atol

    def random_point(self, n_samples=1):
        pts = np.asarray(self.embedding(self.region.sample(np.random.default_rng(), n_samples)))
        return pts[0] if n_samples == 1 else pts


def ambient_parametrization(P: ConverseParametrization) -> Parametrization:
    """`G = F^{-1}` on `M = F(K)` in the coordinates of `R^D`: gradients are ambient
    gradients projected onto `T M = span dF`, and descent steps are retracted onto `M` by
    the nearest-point map. Start points are `P.embedding(w0)` (see `point_over`)."""
    image = EmbeddedImage(P.embedding, P.region)

    def inside(X):
        return np.asarray(P.region.contains(np.atleast_2d(image.coordinates(X))))

    G = Parametrization(
        image.coordinates,
        image,
        name=f"F^-1 on F(K) in R^{P.ambient_dim} ({P.legendre.name})",
        domain=inside,
        sampler=lambda rng, n: np.asarray(P.embedding(P.region.sample(rng, n))),
        vectorized=True,
    )
    G.point_over = lambda w: np.asarray(P.embedding(np.asarray(w, dtype=np.float64)))
    return G

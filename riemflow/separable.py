"""The forward construction for separable parametrizations: sums of one-dimensional potentials.

When the outputs of `G` depend on disjoint blocks of inputs (`riemflow.structure`), on the
Euclidean metric the joint flow splits into one flow per block and the forward theorem's
potential ([Concepts: the forward theorem](concepts.md#the-forward-theorem)) is a sum over blocks:

    R(w) = sum_b R_b(w_b),    R*(mu) = sum_b R_b*(mu_b),    hess R* block diagonal.

- **Scalar blocks** are one-dimensional problems, all built together from one trajectory
  each (`riemflow.scalar_flows.ScalarFlows`, Chebyshev panels), and shared between blocks
  that are the same function from the same start. `grad R*`, `R*`, `hess R* = diag(r*'')`
  and `grad R` (the inverse of `r*'`) are then Clenshaw sums and scalar Newton solves,
  vectorized over coordinates: an evaluation costs about what a closed form costs. Each
  is an autograd primitive with a closed-form derivative (the derivative of `r*''` is the
  differentiated interpolant), so `hess R`, third derivatives, curvature and
  `Legendre.check` work.
- **An output mixing** `G = A g` (`g` separable) keeps the structure:
  `R_G(w) = R_g(A^{-1} w)`, `grad R_G*(mu) = A grad R_g*(A^T mu)`,
  `hess R_G* = A diag(r*'') A^T`. A declared orthogonal input mixing `G(x) = g(Bx)` is
  handled by `riemflow.structure` (the potential of `g` from `B x_init`).
- **Multi-output blocks** get the general construction on the block alone (`general`
  below), so brackets are checked only on the pairs inside a block: pairs in different
  blocks have disjoint supports and vanish exactly. The pieces are combined by
  `direct_sum`.

The domain of the result is the range of `grad R*` over the represented dual intervals,
extended on demand (`RepresentedRange`). The interpolation error is measured and reported
(`SeparableReport`): the Chebyshev tails of every panel, and an independent check at
build time, one joint-flow ODE solve of the full map at a random dual point.
"""

from __future__ import annotations

import time

import autograd.numpy as anp
import numpy as np
from autograd.extend import defjvp, defvjp, primitive

from ._validation import as_positive
from .domains import Domain
from .errors import DomainError, InputError, SolverError
from .joint_flow import joint_flow
from .legendre import Legendre
from .scalar_flows import ScalarFlows
from .structure import BatchedMap, Structure, block_parametrization

__all__ = [
    "RepresentedRange",
    "SeparableConjugate",
    "SeparableReport",
    "direct_sum",
    "separable_potential",
    "structured_potential",
]


class SeparableConjugate:
    """`R_g*` of a map `g` whose blocks all have one output, per coordinate.

    For output `k` with problem `p(k)`: `grad R_g*(nu)_k = r_p*'(nu_k)`,
    `hess R_g* = diag(r_p*''(nu_k))`, `R_g*(nu) = sum_k r_p*(nu_k)` and
    `grad R_g(z)_k = (r_p*')^{-1}(z_k)`. Arrays `(..., d)` are evaluated in one flat call.

    Args:
        flows: the problems (`ScalarFlows`).
        out_problem: `(d,)` the problem of each output.
    """

    def __init__(self, flows: ScalarFlows, out_problem):
        self.flows = flows
        self.out_problem = np.asarray(out_problem, dtype=int)
        self.dim = self.out_problem.size

    def _flat(self, arr):
        arr = np.asarray(arr, dtype=np.float64)
        prob = np.broadcast_to(self.out_problem, arr.shape).ravel()
        return arr.ravel(), prob, arr.shape

    def evaluate(self, nu, what) -> dict[str, np.ndarray]:
        """`{"f": r*', "K": r*'', "dK": r*''', "F": r*}` (those asked) at `nu (..., d)`."""
        vals, prob, shape = self._flat(nu)
        return {k: v.reshape(shape) for k, v in self.flows.evaluate(prob, vals, what).items()}

    def mirror(self, z) -> np.ndarray:
        """`grad R_g(z)`: `(..., d)`."""
        vals, prob, shape = self._flat(z)
        return self.flows.invert(prob, vals).reshape(shape)

    @property
    def w0(self) -> np.ndarray:
        """`g(x_init)`: `(d,)`."""
        return self.flows.w0[self.out_problem]


class RepresentedRange(Domain):
    """The domain of a separable potential: the range of `grad R*` over the represented
    dual intervals, extended on demand (`contains` extends the coordinates whose range
    does not reach the point yet, up to their edges). With an output mixing `A`, `w` is
    inside when `A^{-1} w` is.

    Args:
        conj: the `SeparableConjugate`.
        transform: `A^{-1}` `(d, d)`, or `None`.
    """

    def __init__(self, conj: SeparableConjugate, transform=None):
        self.conj = conj
        self.T = transform
        self.dim = conj.dim

    @property
    def has_boundary(self) -> bool:
        return False  # its ends move on demand: no fixed boundary to approach

    def contains(self, w):
        arr = np.asarray(w, dtype=np.float64)
        z = np.atleast_2d(arr if self.T is None else arr @ self.T.T)
        finite = np.all(np.isfinite(z), axis=-1)
        inside = finite.copy()
        if np.any(finite):
            vals, probs, _ = self.conj._flat(z[finite])
            flows = self.conj.flows
            flows.ensure_f(probs, vals)
            ok = (vals > flows.f_end[-1][probs]) & (vals < flows.f_end[+1][probs])
            inside[finite] = ok.reshape(-1, self.dim).all(axis=-1)
        return bool(inside[0]) if arr.ndim == 1 else inside

    def _lift(self, z):
        return z if self.T is None else np.linalg.solve(self.T, z.T).T

    def center(self):
        return self._lift(self.conj.w0[None, :])[0]

    def sample(self, rng, n):
        flows, prob = self.conj.flows, self.conj.out_problem
        lo, hi = flows.mu_end[-1][prob], flows.mu_end[+1][prob]
        nu = lo + (hi - lo) * rng.uniform(0.05, 0.95, size=(n, prob.size))
        return self._lift(self.conj.evaluate(nu, ("f",))["f"])

    def __repr__(self) -> str:
        return f"RepresentedRange(dim={self.dim}, extended on demand)"


class SeparableReport:
    """How a separable potential was built and how accurate it is (live: counters and the
    error estimate include the extensions made on demand since).

    Attributes:
        structure: the `Structure` used.
        tol: the relative tolerance of the Chebyshev panels.
        verified_error: `|grad R*(mu) - G(psi(x_init; mu))|_inf / |G(psi)|_inf` at a random
            dual point inside the represented intervals, `psi` from an independent
            joint-flow ODE solve of the full map (`rtol = verify_rtol`): it checks the
            structure, the mixing and the interpolants at once (`nan`: not checked).
        seconds: wall time per phase.
        notes: what was found, in words.
    """

    def __init__(self, structure: Structure, flows: ScalarFlows | None, tol: float):
        self.structure = structure
        self.flows = flows
        self.tol = tol
        self.verified_error = float("nan")
        self.seconds: dict[str, float] = {}
        self.notes: list[str] = []

    @property
    def error_estimate(self) -> float:
        """Largest relative Chebyshev tail over the panels built so far (0 without scalar
        blocks): the resolution of `r*'` and `r*''`."""
        return 0.0 if self.flows is None else self.flows.error_estimate()

    @property
    def n_problems(self) -> int:
        """Distinct one-dimensional problems (identical blocks share one)."""
        return 0 if self.flows is None else self.flows.P

    @property
    def n_panels(self) -> int:
        """Chebyshev panels built so far."""
        return 0 if self.flows is None else self.flows.n_panels

    @property
    def n_extensions(self) -> int:
        """Extensions of the represented intervals (the first construction is one)."""
        return 0 if self.flows is None else self.flows.n_extensions

    @property
    def rows(self) -> int:
        """Rows of `G` evaluated by the one-dimensional flows so far."""
        return 0 if self.flows is None else self.flows.bmap.rows

    @property
    def bracket_pairs(self) -> tuple[int, int]:
        """`(checked, all)`: pairs of outputs whose brackets were checked (inside a block)
        and all `d (d - 1) / 2` pairs (the others have disjoint supports)."""
        d = self.structure.block_of_output.size
        return self.structure.n_bracket_pairs, d * (d - 1) // 2

    def __str__(self) -> str:
        lines = [f"structure: {self.structure}"]
        if self.flows is not None:
            f = self.flows
            lines.append(
                f"1-D problems: {f.P}, panels {f.n_panels} ({f.n_attempts} attempts, "
                f"{f.n_iterations} Picard iterations, {f.n_extensions} extensions), "
                f"rows of G {f.bmap.rows}"
            )
        checked, total = self.bracket_pairs
        lines.append(f"bracket pairs checked: {checked} of {total} (the others vanish exactly)")
        lines.append(
            f"error: Chebyshev tails <= {self.error_estimate:.1e} (tol {self.tol:g}); "
            f"against an independent joint flow {self.verified_error:.1e}"
        )
        if self.seconds:
            lines.append("seconds: " + ", ".join(f"{k} {v:.3g}" for k, v in self.seconds.items()))
        return "\n".join(lines + self.notes)


def _scalar_legendre(conj: SeparableConjugate, mixing, domain, name: str) -> Legendre:
    """The `Legendre` of `G = A g` (`A = mixing`, `None` for the identity) from `R_g*`."""
    d = conj.dim

    def plain(x):
        return np.asarray(x, dtype=np.float64)

    @primitive
    def g_mirror(z):
        return conj.mirror(plain(z))

    @primitive
    def g_kernel(nu):
        return conj.evaluate(plain(nu), ("K",))["K"]

    @primitive
    def g_grad(nu):
        return conj.evaluate(plain(nu), ("f",))["f"]

    @primitive
    def g_terms(nu):
        return conj.evaluate(plain(nu), ("F",))["F"]

    def kernel_slope(nu):
        return conj.evaluate(plain(nu), ("dK",))["dK"]

    defvjp(g_mirror, lambda ans, z: lambda g: g / g_kernel(ans))
    defjvp(g_mirror, lambda g, ans, z: g / g_kernel(ans))
    defvjp(g_kernel, lambda ans, nu: lambda g: g * kernel_slope(nu))
    defjvp(g_kernel, lambda g, ans, nu: g * kernel_slope(nu))
    defvjp(g_grad, lambda ans, nu: lambda g: g * g_kernel(nu))
    defjvp(g_grad, lambda g, ans, nu: g * g_kernel(nu))
    defvjp(g_terms, lambda ans, nu: lambda g: g * g_grad(nu))
    defjvp(g_terms, lambda g, ans, nu: g * g_grad(nu))

    if mixing is None:

        def value(w):
            mu = g_mirror(w)
            return anp.sum(mu * w - g_terms(mu), axis=-1)

        return Legendre(
            value,
            d,
            domain=domain or RepresentedRange(conj),
            grad=g_mirror,
            hessian=lambda w: (1.0 / g_kernel(g_mirror(w)))[..., :, None] * np.eye(d),
            grad_conjugate=g_grad,
            conjugate=lambda mu: anp.sum(g_terms(mu), axis=-1),
            hessian_conjugate=lambda mu: g_kernel(mu)[..., :, None] * np.eye(d),
            name=name,
            check_derivatives=False,
        )
    A = np.asarray(mixing, dtype=np.float64)
    T = np.linalg.inv(A)

    def value(w):
        z = anp.matmul(w, T.T)
        nu = g_mirror(z)
        return anp.sum(nu * z - g_terms(nu), axis=-1)

    def hessian(w):
        k = 1.0 / g_kernel(g_mirror(anp.matmul(w, T.T)))
        return anp.einsum("ai,...a,aj->...ij", T, k, T)

    def hessian_conjugate(mu):
        return anp.einsum("ia,...a,ja->...ij", A, g_kernel(anp.matmul(mu, A)), A)

    return Legendre(
        value,
        d,
        domain=domain or RepresentedRange(conj, T),
        grad=lambda w: anp.matmul(g_mirror(anp.matmul(w, T.T)), T),
        hessian=hessian,
        grad_conjugate=lambda mu: anp.matmul(g_grad(anp.matmul(mu, A)), A.T),
        conjugate=lambda mu: anp.sum(g_terms(anp.matmul(mu, A)), axis=-1),
        hessian_conjugate=hessian_conjugate,
        name=name,
        check_derivatives=False,
    )


def _scalar_flows(structure: Structure, blocks, outs, transform, *, tol, n_nodes, w_span, seconds):
    """The one-dimensional problems of the scalar `blocks`, on the map `transform @ G`
    whose outputs are `outs` (all of them, or a selection), built over `w0 +- w_span`.

    Returns:
        `(flows, out_problem)`: the `ScalarFlows` and the problem of each of `outs`.
    """
    G, x0 = structure.parametrization, structure.x_init
    problems = sorted({int(structure.problem[b]) for b in blocks})
    renumber = {p: k for k, p in enumerate(problems)}
    first = {}
    for b in blocks:
        first.setdefault(int(structure.problem[b]), int(b))
    position = {int(o): k for k, o in enumerate(outs)}
    # the blocks of each family host its problems' evaluations (identical maps)
    families = sorted({int(structure.family[b]) for b in blocks})
    members = {f: [int(b) for b in blocks if structure.family[b] == f] for f in families}
    hosts = [
        (
            np.array([position[int(structure.blocks[b][0][0])] for b in members[f]]),
            np.stack([structure.blocks[b][1] for b in members[f]]),
        )
        for f in families
    ]
    flows = ScalarFlows(
        BatchedMap(G, transform),
        x0,
        [position[int(structure.blocks[first[p]][0][0])] for p in problems],
        [structure.blocks[first[p]][1] for p in problems],
        family=[families.index(int(structure.family[first[p]])) for p in problems],
        hosts=hosts,
        n_nodes=n_nodes,
        tol=tol,
        max_seconds=seconds,
    )
    span = 2.0 * max(1.0, float(np.max(np.abs(flows.w0)))) if w_span is None else w_span
    span = as_positive(span, "w_span")
    flows.extend(f_target={+1: flows.w0 + span, -1: flows.w0 - span})
    out_problem = np.array(
        [renumber[int(structure.problem[structure.block_of_output[o]])] for o in outs]
    )
    return flows, out_problem


def _verify(R: Legendre, structure: Structure, flows, out_problem, outs, rtol, seed) -> float:
    """The relative gap of `grad R*` to one independent joint flow of the full map at a
    random dual point inside the represented intervals of the scalar outputs `outs` (0 on
    the other outputs)."""
    rng = np.random.default_rng(seed)
    lo, hi = flows.mu_end[-1][out_problem], flows.mu_end[+1][out_problem]
    nu = lo + (hi - lo) * rng.uniform(0.1, 0.9, size=out_problem.size)
    A = structure.mixing
    mu = np.zeros(structure.block_of_output.size)
    mu[outs] = nu if A is None else np.linalg.solve(A.T, nu)  # A^T mu = nu
    G, x0 = structure.parametrization, structure.x_init
    scale = np.maximum(np.abs(x0), 1e-3 * max(float(np.max(np.abs(x0))), 1e-300))
    try:
        end = joint_flow(G, x0, mu, rtol=rtol, atol=1e-15 * scale)
        reference = G.values(end.x[None, :])[0]
        got = np.asarray(R.grad_conjugate(mu))
    except (SolverError, DomainError):
        return float("nan")
    return float(np.max(np.abs(got - reference)) / max(np.max(np.abs(reference)), 1e-300))


def separable_potential(
    structure: Structure,
    *,
    tol: float = 1e-13,
    n_nodes: int = 21,
    w_span: float | None = None,
    verify: bool = True,
    verify_rtol: float = 1e-13,
    max_seconds: float = 300.0,
    domain=None,
    seed: int | None = 0,
    name: str | None = None,
) -> tuple[Legendre, SeparableReport]:
    """The forward potential of a map whose blocks all have one output (possibly after an
    output mixing): one-dimensional problems on Chebyshev panels (module docstring).

    Args:
        structure: from `riemflow.structure.find_structure`, every block scalar.
        tol: relative tolerance of the panels (Picard iteration and coefficient tails):
            `1e-13` resolves `r*'` and `r*''` to about `1e-12` relative.
        n_nodes: Chebyshev points per panel.
        w_span: the first construction covers `w0 +- w_span` per coordinate (of `g`);
            default `2 max(1, |w0|_inf)`. More is built on demand.
        verify: compare with one independent joint flow of the full map
            (`SeparableReport.verified_error`).
        verify_rtol: `solve_ivp` relative tolerance of that joint flow.
        max_seconds: time budget of each extension of the panels.
        domain: the domain of `R`; default the represented range (`RepresentedRange`).
        seed: seed of the verification point.
        name: label of the potential.

    Returns:
        `(R, report)`: a `Legendre` and its `SeparableReport`.

    Raises:
        InputError: a multi-output block (use `structured_potential`).
        NotRegularError: an output with zero gradient at `x_init`.
        ConvergenceError: the panels did not cover `w0 +- w_span` within `max_seconds`.

    Examples:
        >>> import numpy as np, riemflow as rf
        >>> G, x0 = rf.models.diagonal_network(3, init=(np.array([0.7, 0.2, 1.1]), 0.5))
        >>> s = rf.structure.find_structure(G, x0)
        >>> R, report = rf.separable.separable_potential(s)
        >>> w = np.array([0.5, -1.0, 2.0])
        >>> exact = rf.mirror_potential(G, x0)          # the closed form
        >>> bool(np.allclose(R.grad(w), exact.grad(w), rtol=1e-11, atol=0))
        True
        >>> report.error_estimate < 1e-11
        True
    """
    if not np.all(structure.scalar):
        raise InputError(
            "`structure` has multi-output blocks: use structured_potential", argument="structure"
        )
    tol = as_positive(tol, "tol")
    start = time.perf_counter()
    d = structure.block_of_output.size
    outs = np.arange(d)
    transform = None if structure.mixing is None else np.linalg.inv(structure.mixing)
    flows, out_problem = _scalar_flows(
        structure,
        np.arange(structure.n_blocks),
        outs,
        transform,
        tol=tol,
        n_nodes=n_nodes,
        w_span=w_span,
        seconds=max_seconds,
    )
    report = SeparableReport(structure, flows, tol)
    report.seconds["flows"] = time.perf_counter() - start
    R = _scalar_legendre(
        SeparableConjugate(flows, out_problem),
        structure.mixing,
        domain,
        name or f"numerical separable potential of {structure.parametrization.name}",
    )
    if verify:
        start = time.perf_counter()
        report.verified_error = _verify(R, structure, flows, out_problem, outs, verify_rtol, seed)
        report.seconds["verify"] = time.perf_counter() - start
    return R, report


class _ProductDomain(Domain):
    """The product of the pieces' domains, each on its own coordinates."""

    def __init__(self, pieces, dim: int):
        self.pieces, self.dim = pieces, dim

    @property
    def has_boundary(self) -> bool:
        return False  # boundary paths of a product are not drawn; pieces are checked alone

    def contains(self, w):
        arr = np.asarray(w, dtype=np.float64)
        inside = np.ones(arr.shape[:-1], dtype=bool)
        for idx, R in self.pieces:
            inside &= np.asarray(R.domain.contains(arr[..., idx]), dtype=bool)
        return bool(inside) if arr.ndim == 1 else inside

    def center(self):
        out = np.zeros(self.dim)
        for idx, R in self.pieces:
            out[idx] = R.domain.center()
        return out

    def sample(self, rng, n):
        out = np.zeros((n, self.dim))
        for idx, R in self.pieces:
            out[:, idx] = R.domain.sample(rng, n)
        return out


def direct_sum(pieces, dim: int, *, domain=None, name: str = "direct sum") -> Legendre:
    """`R(w) = sum_b R_b(w[idx_b])` for Legendre functions on disjoint sets of coordinates.

    Every map is assembled from the pieces' traced building blocks (`R_b.traced`), so the
    sum has exact derivatives of every order the pieces have; Hessians are block diagonal.

    Args:
        pieces: `(indices, R_b)` pairs whose index arrays partition `range(dim)`.
        dim: `d`.
        domain: the domain; default the product of the pieces' domains.
        name: label.

    Examples:
        >>> import numpy as np, riemflow as rf
        >>> R = rf.separable.direct_sum([(np.array([1]), rf.potentials.negative_entropy(1)),
        ...                              (np.array([0]), rf.potentials.log_barrier(1))], 2)
        >>> R.grad(np.array([2.0, 1.0])).tolist()  # (-1 / 2, log 1)
        [-0.5, 0.0]
    """
    pieces = [(np.asarray(idx, dtype=int), R) for idx, R in pieces]
    inverse = np.argsort(np.concatenate([idx for idx, _ in pieces]))
    embeds = []
    for idx, _ in pieces:
        E = np.zeros((dim, idx.size))
        E[idx, np.arange(idx.size)] = 1.0
        embeds.append(E)

    def assemble(parts):
        return anp.concatenate(parts, axis=-1)[..., inverse]

    def block_diagonal(mats):
        pairs = zip(embeds, mats, strict=True)
        return sum(anp.einsum("ia,...ab,jb->...ij", E, M, E) for E, M in pairs)

    def hessian_conjugate(R, mu):
        if R.traced.has_hessian_conjugate:
            return R.traced.hessian_conjugate(mu)
        return anp.linalg.inv(R.traced.hessian(R.traced.grad_conjugate(mu)))

    return Legendre(
        lambda w: sum(R.traced.value(w[..., idx]) for idx, R in pieces),
        dim,
        domain=domain or _ProductDomain(pieces, dim),
        grad=lambda w: assemble([R.traced.grad(w[..., idx]) for idx, R in pieces]),
        hessian=lambda w: block_diagonal([R.traced.hessian(w[..., idx]) for idx, R in pieces]),
        grad_conjugate=lambda mu: assemble(
            [R.traced.grad_conjugate(mu[..., idx]) for idx, R in pieces]
        ),
        conjugate=lambda mu: sum(R.traced.conjugate(mu[..., idx]) for idx, R in pieces),
        hessian_conjugate=lambda mu: block_diagonal(
            [hessian_conjugate(R, mu[..., idx]) for idx, R in pieces]
        ),
        name=name,
        check_derivatives=False,
    )


def structured_potential(
    structure: Structure,
    *,
    general,
    tol: float = 1e-13,
    n_nodes: int = 21,
    w_span: float | None = None,
    verify: bool = True,
    verify_rtol: float = 1e-13,
    max_seconds: float = 300.0,
    domain=None,
    seed: int | None = 0,
    name: str | None = None,
) -> tuple[Legendre, SeparableReport]:
    """The forward potential of a separable map with blocks of any size: the scalar blocks
    as one batch of one-dimensional problems (as `separable_potential`), every
    multi-output block by `general(G_b, x_b) -> Legendre` on the block alone
    (`structure.block_parametrization`), combined by `direct_sum`.

    Args:
        structure: from `riemflow.structure.find_structure`.
        general: the construction for multi-output blocks (`riemflow.mirror_potential`
            passes its joint-flow construction, which checks the block's brackets).
        tol: relative tolerance of the panels (as `separable_potential`).
        n_nodes: Chebyshev points per panel.
        w_span: the first construction's half-width around `w0` (as `separable_potential`).
        verify: compare with one independent joint flow of the full map (moving the scalar
            blocks only).
        verify_rtol: `solve_ivp` relative tolerance of that joint flow.
        max_seconds: time budget of each extension of the panels.
        seed: seed of the verification point.
        domain: the domain of `R`; default the product of the pieces' domains.
        name: label.

    Returns:
        `(R, report)`.

    Examples:
        >>> import autograd.numpy as anp, numpy as np, riemflow as rf
        >>> def fn(x):  # a scalar block (u v) and a 2-output block of commuting quadratics
        ...     a, b = x[..., 2] ** 2, x[..., 3] ** 2
        ...     q = 0.5 * anp.stack([a + b, a - b], -1)
        ...     return anp.concatenate([x[..., :1] * x[..., 1:2], q], -1)
        >>> G = rf.Parametrization(fn, 4)
        >>> s = rf.structure.find_structure(G, np.array([1.0, 0.4, 0.9, 0.6]), mixing=None)
        >>> general = lambda Gb, xb: rf.mirror_potential(Gb, xb, structure=None)
        >>> R, report = rf.separable.structured_potential(s, general=general)
        >>> report.bracket_pairs
        (1, 3)
    """
    G = structure.parametrization
    name = name or f"numerical separable potential of {G.name}"
    options = {
        "tol": tol,
        "n_nodes": n_nodes,
        "w_span": w_span,
        "verify_rtol": verify_rtol,
        "max_seconds": max_seconds,
        "seed": seed,
    }
    if np.all(structure.scalar):
        return separable_potential(structure, verify=verify, domain=domain, name=name, **options)
    if structure.mixing is not None:
        raise InputError(
            "an output mixing with multi-output blocks is not supported", argument="structure"
        )
    tol = as_positive(tol, "tol")
    start = time.perf_counter()
    d = structure.block_of_output.size
    pieces, flows, out_problem = [], None, None
    scalar_blocks = np.flatnonzero(structure.scalar)
    outs = np.sort(np.concatenate([structure.blocks[b][0] for b in scalar_blocks] + [[]]))
    outs = outs.astype(int)
    if outs.size:
        selection = np.eye(d)[outs]
        flows, out_problem = _scalar_flows(
            structure,
            scalar_blocks,
            outs,
            selection,
            tol=tol,
            n_nodes=n_nodes,
            w_span=w_span,
            seconds=max_seconds,
        )
        conj = SeparableConjugate(flows, out_problem)
        pieces.append((outs, _scalar_legendre(conj, None, None, "scalar blocks")))
    for b in np.flatnonzero(~structure.scalar):
        G_b, x_b = block_parametrization(structure, int(b))
        pieces.append((structure.blocks[b][0], general(G_b, x_b)))
    R = direct_sum(pieces, d, domain=domain, name=name)
    report = SeparableReport(structure, flows, tol)
    report.seconds["blocks"] = time.perf_counter() - start
    report.notes.append(
        f"{int(np.sum(~structure.scalar))} multi-output block(s) built by the joint-flow "
        "construction on each block alone"
    )
    if verify and flows is not None:
        start = time.perf_counter()
        report.verified_error = _verify(R, structure, flows, out_problem, outs, verify_rtol, seed)
        report.seconds["verify"] = time.perf_counter() - start
    return R, report

"""The dual of `implicit_bias` near the edge of `dom R*`, and what stops it when float64 does.

`implicit_bias` minimizes `phi(lambda) = R*(theta0 + X^T lambda) - <lambda, y>` ([Concepts:
the implicit bias is a Bregman projection](concepts.md#the-implicit-bias-is-a-bregman-projection)).
For the depth-`L >= 3` network potentials (`potentials.power_network`,
`potentials.diagonal_network`, Woodworth et al.'s `Q_D`), `dom R*` is a box and, per coordinate,

    grad R*_i(theta) = sum_t a_ti (b_ti - s_ti theta)^p,     p = L / (2 - L) < 0,

which blows up at the edges `hi_i = min_{s > 0} b / s`, `lo_i = max_{s < 0} b / s`. With a
tiny initialization the solution sits at relative distance about `alpha^(L-2)` from an edge
(the limit is a vertex of the dual polytope of basis pursuit). In float64 `theta` carries 16
digits, so its distance to the edge carries `16 + log10(alpha^(L-2))` of them: at
`alpha^3 = 1e-30` six, and one ulp of `theta` moves `Xw` by about `3e-6` relative; at
`alpha^3 = 1e-100` the distance is below one ulp and cannot be represented at all. That
float64 limit, not infeasibility, is what stops a solve in `theta`.

**The edge form.** `PowerSum` describes such a `grad R*`; `solve` describes the dual point by
the distances ("slacks") `r_i` of the coordinates to the edges that matter. A basis `B` of
saturated coordinates (independent columns of `X`), with sides `sigma_b` (+1: upper edge),
gives `theta_b = e_b - sigma_b r_b` and

    lambda = lambda_a + P r_B + N eta,    X_B^T lambda_a = e_B - theta0_B,
    X_B^T P = -diag(sigma_B),             X_B^T N = 0  (N orthonormal),

so that every slack is an affine function `r_i = gamma_i + A_i r_B + C_i eta` whose
constants are computed once in 800-digit decimal arithmetic (every float64 input is exact
there) and rounded; basic slacks are exact by construction. `w_i` is evaluated from `r_i`
(the term that defines the edge has its base exactly `s sigma r`), products are formed
ratio-first so nothing underflows at `alpha^p = 1e-300`, and Newton's method runs on
`z = (log r_B, eta)` with an Armijo rule on `phi`, whose differences are formed term by term
without cancellation (`base^q expm1(q log1p(dbase / base))`). It starts from the linear
program that the `alpha -> 0` limit solves (its active set gives `B`); a coordinate whose
slack loses more than 8 digits joins `B`, exchanging the basic coordinate farthest from its
edge when `B` is full (the point is carried over in 800 digits).

Known limit: on degenerate faces (more than `n` coordinates saturating together) at extreme
scales the exchanges can cycle (measured on Wind et al.'s face problem at depth 4,
`alpha^4 = 1e-300`); `solve` then stops with its message, and `implicit_bias` falls back to
the solve in `theta`.

`float64_resolution` diagnoses a solve in `theta` that stopped: how far one float64 step of
`theta` moves `Xw`, whether the edge is within one step, and (for box domains) whether
`Xw = y` is feasible at all, by a linear program.
"""

from __future__ import annotations

import decimal
from dataclasses import dataclass, field, replace

import numpy as np
from scipy.optimize import linprog

from ._ode import Budget
from ._validation import as_positive, as_positive_int
from .errors import ConvergenceError, InputError

__all__ = [
    "PowerSum",
    "EdgeSolution",
    "solve",
    "Resolution",
    "float64_resolution",
    "ray_to_edge",
    "DIGITS",
    "MAX_ITER",
    "TIME_LIMIT",
]

#: digits of the decimal arithmetic of the basis constants and of basis changes: every
#: float64 input is exact in it, and its round-off (relative 1e-800) underflows below the
#: float range, so a vertex that is degenerate in the float data stays exactly degenerate
DIGITS = 800
#: default Newton-iteration budget of `solve`
MAX_ITER = 300
#: default wall-time budget of `solve`, seconds
TIME_LIMIT = 60.0
_EPS = float(np.finfo(np.float64).eps)
_HALVINGS = 200  # line-search halvings (each loop is bounded by this)


# -- the potentials --------------------------------------------------------------------------
@dataclass(frozen=True)
class PowerSum:
    """`grad R*_i(theta) = sum_t a[t, i] (b[t, i] - s[t, i] theta)^p` on the box where every
    base is positive: the edge form of a potential (`Legendre.edge_form`).

    Attributes:
        a, b, s: `(T, d)` (`b > 0`; terms with `s = 0` are constants).
        p: the exponent, `< 0`.
        theta0: `grad R(w0)` for the projection's reference point `(d,)` (0 for riemflow's
            normalized potentials at their initialization).
        w_ref: the point `(d,)` where `grad R` is 0 (the initialization), or `None`.
        name: label.
    """

    a: np.ndarray
    b: np.ndarray
    s: np.ndarray
    p: float
    theta0: np.ndarray
    w_ref: np.ndarray | None = None
    name: str = "power sum"

    @property
    def dim(self) -> int:
        """`d`."""
        return int(self.a.shape[1])

    def edges(self) -> tuple[np.ndarray, np.ndarray]:
        """`(lo, hi)`: the ends of `dom R*` per coordinate (`+-inf` where unbounded)."""
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = self.b / self.s
        hi = np.min(np.where(self.s > 0, ratio, np.inf), axis=0)
        lo = np.max(np.where(self.s < 0, ratio, -np.inf), axis=0)
        return lo, hi

    def grad_conjugate(self, theta) -> np.ndarray:
        """`grad R*(theta)` for `theta: (d,)` (NaN outside the box)."""
        base = self.b - self.s * np.asarray(theta, dtype=np.float64)
        with np.errstate(all="ignore"):
            return np.sum(self.a * np.where(base > 0, base, np.nan) ** self.p, axis=0)

    def started_at(self, theta0) -> PowerSum:
        """The same form with the reference `grad R(w0) = theta0`."""
        return replace(self, theta0=np.asarray(theta0, dtype=np.float64))

    @staticmethod
    def terms(sigma, c, depth: float, *, w_ref=None, name: str | None = None) -> PowerSum:
        """The form of `potentials.power_network` from its terms: signs `sigma (T, d)` and
        `c = |u_t0|^(2-L)` (`grad R*(mu) = sum_t sigma_t (c_t - sigma_t L(L-2) mu)^(L/(2-L))`).

        Raises:
            InputError: `depth <= 2` (then `dom R*` is all of `R^d`: no edge).
        """
        L = float(depth)
        if not L > 2:
            raise InputError(f"edge forms need depth > 2; got {depth!r}", argument="depth")
        sigma = np.asarray(sigma, dtype=np.float64)
        return PowerSum(
            a=sigma,
            b=np.asarray(c, dtype=np.float64),
            s=sigma * L * (L - 2.0),
            p=L / (2.0 - L),
            theta0=np.zeros(sigma.shape[1]),
            w_ref=None if w_ref is None else np.asarray(w_ref, dtype=np.float64),
            name=name or f"depth-{L:g} network",
        )


# -- exact-input decimal linear algebra ------------------------------------------------------
def _dec(values) -> list:
    """Exact decimal copies of float64 values (nested lists of the same shape)."""
    if np.ndim(values) == 0:
        return decimal.Decimal(float(values))
    return [_dec(v) for v in values]


def _dot(u, v):
    return sum((a * b for a, b in zip(u, v, strict=True)), decimal.Decimal(0))


def _inverse(M: list) -> list:
    """Gauss-Jordan inverse of a small square decimal matrix (partial pivoting)."""
    n = len(M)
    rows = [list(M[i]) + [decimal.Decimal(int(i == j)) for j in range(n)] for i in range(n)]
    for col in range(n):
        pivot = max(range(col, n), key=lambda r: abs(rows[r][col]))
        if rows[pivot][col] == 0:
            raise np.linalg.LinAlgError("singular basis")
        rows[col], rows[pivot] = rows[pivot], rows[col]
        head = rows[col][col]
        rows[col] = [v / head for v in rows[col]]
        for r in range(n):
            if r != col and rows[r][col] != 0:
                factor = rows[r][col]
                rows[r] = [v - factor * h for v, h in zip(rows[r], rows[col], strict=True)]
    return [row[n:] for row in rows]


# -- slacks ----------------------------------------------------------------------------------
class _Sides:
    """Per coordinate: the anchor `e_i` (nearer finite edge), the side `sigma_i`, and the base
    constants `beta = b - s e` (exactly 0 for the term that defines the edge)."""

    def __init__(self, form: PowerSum, sides: np.ndarray):
        lo, hi = form.edges()
        self.form = form
        edge = np.where(sides > 0, hi, np.where(sides < 0, lo, 0.0))
        self.has_edge = np.isfinite(edge) & (sides != 0)
        self.edge = np.where(self.has_edge, edge, 0.0)
        self.sides = np.where(self.has_edge, sides, 1).astype(np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            defining = self.has_edge & (form.b / form.s == self.edge)
        defining &= np.sign(form.s) == self.sides
        self.beta = np.where(defining, 0.0, form.b - form.s * self.edge)
        self.width = np.where(self.has_edge, hi - lo, np.inf)

    def conjugate_change(self, r, dr) -> tuple[float, float]:
        """`sum_i R*_i(theta + dtheta) - R*_i(theta)` for slack changes `dr`, term by term
        without cancellation (`R*_i = sum_t a base^q / (-q s)`, `q = p + 1`), and the sum
        of the terms' sizes (its round-off scale); `inf` outside the box."""
        f = self.form
        q = f.p + 1.0
        base = self.beta + f.s * self.sides * r
        with np.errstate(all="ignore"):
            ratio = np.where(f.s != 0, f.s * self.sides * dr / base, 0.0)
            if np.any(ratio <= -1):
                return np.inf, np.inf
            terms = np.where(
                f.s != 0,
                f.a * base**q * np.expm1(q * np.log1p(ratio)) / np.where(f.s != 0, -q * f.s, 1.0),
                0.0,
            )
        if not np.all(np.isfinite(terms)):
            return np.inf, np.inf
        return float(np.sum(terms)), float(np.sum(np.abs(terms)))

    def primal(self, r):
        """`w_i`, `dw_i / dr_i` and `r_i dw_i / dr_i` at slacks `r`; `None` outside."""
        f = self.form
        base = self.beta + f.s * self.sides * r
        if not np.all(base > 0):
            return None
        with np.errstate(over="ignore", under="ignore"):
            powers = f.a * f.p * base**f.p
            unit = f.s * self.sides / base  # ratio first: nothing underflows at 1e-300
            w = np.sum(f.a * base**f.p, axis=0)
            slope = np.sum(powers * unit, axis=0)
            slope_r = np.sum(powers * (unit * r), axis=0)
        if not (np.all(np.isfinite(w)) and np.all(np.isfinite(slope))):
            return None
        return w, slope, slope_r


# The decimal linear algebra of a basis that depends on `X` and the basis alone (the Gram
# inverse and the products with every column), shared by solves on the same data (a sweep
# over initialization scales solves one `X` many times). Entries: a handful per sweep.
_PRODUCTS: dict = {}
_PRODUCTS_SIZE = 64


def _basis_products(X, basis: list) -> tuple:
    """`(Xd, XBinv, N, Nd, XP, XN)` for the basis: `X` in decimals, `X_B (X_B^T X_B)^{-1}`,
    an orthonormal complement `N` of `span X_B` (float64 and decimal), and `X_i . XBinv_c`,
    `X_i . N_c` for every column `i` (in `DIGITS` digits)."""
    key = (X.shape, X.tobytes(), tuple(basis))
    hit = _PRODUCTS.get(key)
    if hit is not None:
        return hit
    n, d = X.shape
    m = len(basis)
    with decimal.localcontext() as ctx:
        ctx.prec = DIGITS
        Xd = _dec(X)
        if m:
            XB = [[Xd[row][i] for i in basis] for row in range(n)]  # (n, m)
            gram = [[_dot([r[a] for r in XB], [r[b] for r in XB]) for b in range(m)]
                    for a in range(m)]  # fmt: skip
            inv = _inverse(gram)
            XBinv = [[_dot(XB[row], [inv[k][c] for k in range(m)]) for c in range(m)]
                     for row in range(n)]  # fmt: skip
            u, _, _ = np.linalg.svd(X[:, basis], full_matrices=True)
            N = u[:, m:]
        else:
            XBinv = [[] for _ in range(n)]
            N = np.eye(n)
        Nd = _dec(N)
        columns = [[Xd[row][i] for row in range(n)] for i in range(d)]
        XP = [[_dot(col, [XBinv[row][c] for row in range(n)]) for c in range(m)] for col in columns]
        XN = [
            [_dot(col, [Nd[row][c] for row in range(n)]) for c in range(N.shape[1])]
            for col in columns
        ]
    if len(_PRODUCTS) >= _PRODUCTS_SIZE:
        _PRODUCTS.clear()
    _PRODUCTS[key] = result = (Xd, XBinv, N, Nd, XP, XN)
    return result


class _Basis:
    """The affine slack representation `r = gamma + A r_B + C eta` of a basis `B`."""

    def __init__(self, X, form: PowerSum, sides: _Sides, basis):
        self.basis = [int(i) for i in basis]
        n, d = X.shape
        m = len(self.basis)
        Xd, XBinv, N, Nd, XP, XN = _basis_products(X, self.basis)
        with decimal.localcontext() as ctx:
            ctx.prec = DIGITS
            edge, t0 = _dec(sides.edge), _dec(form.theta0)
            sg = [int(v) for v in sides.sides]
            rhs = [edge[i] - t0[i] for i in self.basis]
            lam_a = [_dot(XBinv[row], rhs) for row in range(n)]
            P = [[-XBinv[row][c] * sg[self.basis[c]] for c in range(m)] for row in range(n)]
            gamma, A, C = np.zeros(d), np.zeros((d, m)), np.zeros((d, N.shape[1]))
            for i in range(d):
                column = [Xd[row][i] for row in range(n)]
                gamma[i] = float(sg[i] * (edge[i] - t0[i] - _dot(column, lam_a)))
                for c in range(m):  # -sg_i X_i . P_c, P_c = -sg_c XBinv_c
                    A[i, c] = float(sg[i] * sg[self.basis[c]] * XP[i][c])
                for c in range(N.shape[1]):
                    C[i, c] = float(-sg[i] * XN[i][c])
            for c, i in enumerate(self.basis):
                gamma[i], A[i, :], C[i, :] = 0.0, 0.0, 0.0
                A[i, c] = 1.0
        self.lam_a, self.P, self.N = lam_a, P, Nd
        self.gamma, self.A, self.C, self.Nf = gamma, A, C, N
        self.Pf = np.array([[float(v) for v in row] for row in P]).reshape(n, m)
        self.lam_af = np.array([float(v) for v in lam_a])

    def slacks(self, rB, eta):
        return self.gamma + self.A @ rB + self.C @ eta

    def precision(self, rB, eta, r):
        """Relative precision of each computed slack (size of the summed terms * eps / r)."""
        size = np.abs(self.gamma) + np.abs(self.A) @ np.abs(rB) + np.abs(self.C) @ np.abs(eta)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(r > 0, _EPS * size / r, np.inf)

    def multipliers(self, rB, eta) -> list:
        """`lambda` in `DIGITS` digits."""
        with decimal.localcontext() as ctx:
            ctx.prec = DIGITS
            rBd, etad = _dec(rB), _dec(eta)
            return [
                self.lam_a[row] + _dot(self.P[row], rBd) + _dot(self.N[row], etad)
                for row in range(len(self.lam_a))
            ]


def _slack_exact(X, form, sides, lam, i) -> float:
    with decimal.localcontext() as ctx:
        ctx.prec = DIGITS
        column = _dec(X[:, i])
        edge, t0 = decimal.Decimal(float(sides.edge[i])), decimal.Decimal(float(form.theta0[i]))
        return float(int(sides.sides[i]) * (edge - t0 - _dot(column, lam)))


def _rebase(X, form, sides, basis, rB, eta, new):
    """The same dual point in the basis `new`, carried over in `DIGITS` digits."""
    lam = basis.multipliers(rB, eta)
    nb = _Basis(X, form, sides, new)
    new_rB = np.array(
        [
            rB[basis.basis.index(i)] if i in basis.basis else _slack_exact(X, form, sides, lam, i)
            for i in new
        ]
    )
    with decimal.localcontext() as ctx:
        ctx.prec = DIGITS
        rBd = _dec(new_rB)
        rest = [lam[row] - nb.lam_a[row] - _dot(nb.P[row], rBd) for row in range(len(lam))]
        k = nb.Nf.shape[1]
        new_eta = np.array(
            [float(_dot([nb.N[r][c] for r in range(len(lam))], rest)) for c in range(k)]
        )
    return nb, new_rB, new_eta


def _full_rank(X, columns) -> bool:
    return np.linalg.matrix_rank(X[:, columns], tol=1e-10 * np.linalg.norm(X)) == len(columns)


def _start(form, X, y):
    """Sides, basis and start from the linear program of the `alpha -> 0` limit:
    `max <y, lambda>` over `theta0 + X^T lambda` in the box `dom R*` (the dual of basis
    pursuit for the network potentials). Its active coordinates, as a full-rank subset,
    become the basis; the iteration starts half way to the LP vertex. Without a bounded LP:
    no basis, `lambda = 0`."""
    n, d = X.shape
    lo, hi = form.edges()
    finite_lo, finite_hi = np.isfinite(lo), np.isfinite(hi)
    keep = np.concatenate([finite_hi, finite_lo])
    A_ub = np.vstack([X.T, -X.T])[keep]
    b_ub = np.concatenate([hi - form.theta0, -(lo - form.theta0)])[keep]
    scale = float(np.max(np.abs(b_ub))) if b_ub.size else 1.0
    scale = scale if scale > 0 else 1.0  # HiGHS treats bounds above 1e20 as infinite
    result = linprog(-y, A_ub=A_ub, b_ub=b_ub / scale, bounds=[(None, None)] * n, method="highs")
    if result.status != 0:
        sides = _Sides(form, np.where(finite_hi, 1, np.where(finite_lo, -1, 0)))
        return sides, _Basis(X, form, sides, []), np.zeros(0), np.zeros(n)
    lam_lp = result.x * scale
    theta = form.theta0 + X.T @ lam_lp
    gap_hi = np.where(finite_hi, hi - theta, np.inf)
    gap_lo = np.where(finite_lo, theta - lo, np.inf)
    side = np.where(gap_hi <= gap_lo, 1, -1)
    side = np.where(np.isfinite(np.minimum(gap_hi, gap_lo)), side, 0)
    sides = _Sides(form, side)
    width = np.where(np.isfinite(hi - lo), hi - lo, np.abs(theta) + 1.0)
    gap = np.minimum(gap_hi, gap_lo) / width
    marginals = np.zeros(2 * d)
    marginals[np.flatnonzero(keep)] = np.abs(result.ineqlin.marginals)
    marginals = np.maximum(marginals[:d], marginals[d:])
    active = (marginals > 1e-9 * max(float(np.max(marginals)), 1e-300)) | (gap <= 1e-9)
    chosen: list[int] = []
    for i in np.argsort(gap):
        if active[i] and side[i] != 0 and _full_rank(X, chosen + [int(i)]):
            chosen.append(int(i))
        if len(chosen) == n:
            break
    basis = _Basis(X, form, sides, chosen)
    lam0 = 0.5 * lam_lp
    theta0 = form.theta0 + X.T @ lam0
    rB = np.array([sides.sides[i] * (sides.edge[i] - theta0[i]) for i in chosen])
    eta = basis.Nf.T @ (lam0 - basis.lam_af - basis.Pf @ rB)
    return sides, basis, rB, eta


# -- the solve -------------------------------------------------------------------------------
@dataclass(frozen=True)
class EdgeSolution:
    """Result of `solve`.

    Attributes:
        w: the Bregman projection `(d,)`.
        multipliers: `lambda` `(n,)` (rounded from `DIGITS` digits).
        residual: `|Xw - y|_inf / max(1, |y|_inf)`.
        basis: the saturated coordinates and their sides, `[(i, sigma_i), ...]`.
        slacks: the distances `r_i` of `theta_i` to their anchors (edges) `(d,)`.
        relative_slacks: `r_i / |edge_i|`: how close to the edge, relative.
        iterations: Newton iterations; pivots: basis changes.
        converged: `residual <= tol`.
        message: what stopped the iteration.
    """

    w: np.ndarray
    multipliers: np.ndarray
    residual: float
    basis: list
    slacks: np.ndarray
    relative_slacks: np.ndarray
    iterations: int
    pivots: int
    converged: bool
    message: str = field(default="")


def _pivot(X, form, sides, basis, rB, eta, r, pivot_precision):
    """Move one coordinate whose slack is losing digits into the basis (exchanging the
    basic coordinate farthest from its edge when the basis is full); `None` if none."""
    n = X.shape[0]
    precision = basis.precision(rB, eta, r)
    relative = r / np.where(sides.has_edge, np.abs(sides.edge) + 1e-300, np.inf)
    for i in np.argsort(-precision):
        i = int(i)
        if not (precision[i] > pivot_precision and sides.has_edge[i]) or i in basis.basis:
            continue
        if len(basis.basis) < n:
            if _full_rank(X, basis.basis + [i]):
                return _rebase(X, form, sides, basis, rB, eta, basis.basis + [i])
            continue
        for out in sorted(basis.basis, key=lambda b: -relative[b]):
            if relative[out] <= relative[i]:
                break
            trial = [b for b in basis.basis if b != out] + [i]
            if _full_rank(X, trial):
                return _rebase(X, form, sides, basis, rB, eta, trial)
    return None


def solve(
    form: PowerSum,
    X,
    y,
    *,
    tol: float = 1e-14,
    max_iter: int = MAX_ITER,
    time_limit: float | None = TIME_LIMIT,
    pivot_precision: float = 1e-8,
    max_log_step: float = 20.0,
) -> EdgeSolution:
    """`argmin {D_R(w, w0) : Xw = y}` for a potential with a power-sum `grad R*`, solved in
    slack variables (module docstring), cancellation-free near the edge of `dom R*`.

    Args:
        form: the potential's `PowerSum`, with `theta0 = grad R(w0)`.
        X: `(n, d)`, full row rank.
        y: `(n,)`.
        tol: target `|Xw - y|_inf / max(1, |y|_inf)` (default `1e-14`: a few ulps).
        max_iter: Newton-iteration budget (default 300; the test problems need 8-45).
        time_limit: wall-time budget in seconds (default 60; `None`: none).
        pivot_precision: a coordinate joins the basis when the relative precision of its
            slack (eps times the size of the terms summed, over the slack) exceeds this
            (default `1e-8`: 8 digits lost).
        max_log_step: largest change of `log r_b` per iteration (default 20: a factor
            `e^20` on a basic slack).

    Returns:
        An `EdgeSolution` (`converged` says whether `tol` was reached).

    Raises:
        BudgetError: a budget was spent.
        ConvergenceError: the start `theta0` is outside `dom R*`, or the basis became
            singular.

    Examples:
        >>> import numpy as np, riemflow as rf
        >>> R = rf.potentials.diagonal_network(2, depth=3, alpha=1e-10)
        >>> sol = rf.edge_dual.solve(R.edge_form, np.array([[1.0, 0.8]]), np.array([1.0]))
        >>> sol.converged, float(sol.w[1])  # 60-digit reference: 1.2482853208591677e-28
        (True, 1.248285320859...e-28)
    """
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    n, d = X.shape
    tol = as_positive(tol, "tol")
    max_iter = as_positive_int(max_iter, "max_iter")
    budget = Budget(
        f"the edge-form dual solve of {form.name}",
        max_evaluations=max_iter + 1,
        time_limit=time_limit,
    )
    scale_y = max(1.0, float(np.max(np.abs(y))))
    try:
        sides, basis, rB, eta = _start(form, X, y)
    except (np.linalg.LinAlgError, ArithmeticError) as exc:
        raise ConvergenceError(f"edge-form start failed: {exc}") from exc

    def evaluate(bs, rB, eta):
        r = bs.slacks(rB, eta)
        if np.any(sides.has_edge & ((r <= 0) | (r >= sides.width))):
            return None
        out = sides.primal(r)
        if out is None:
            return None
        w, slope, slope_r = out
        return r, w, slope, slope_r, X @ w - y

    state = evaluate(basis, rB, eta)
    if state is None:
        raise ConvergenceError(
            f"the reference point grad R(w0) is outside dom R* of {form.name}", residual=np.inf
        )
    pivots, message, iterations = 0, f"iteration budget {max_iter} spent", max_iter
    for it in range(max_iter):
        r, w, slope, slope_r, F = state
        residual = float(np.max(np.abs(F))) / scale_y
        if residual <= tol:
            message, iterations = "converged", it
            break
        budget.spend()
        try:
            moved = _pivot(X, form, sides, basis, rB, eta, r, pivot_precision)
        except (np.linalg.LinAlgError, ArithmeticError) as exc:
            raise ConvergenceError(f"edge-form basis change failed: {exc}") from exc
        if moved is not None:
            basis, rB, eta = moved
            pivots += 1
            state = evaluate(basis, rB, eta)
            if state is None:
                message, iterations = f"a basis change left dom R* at iteration {it}", it
                break
            r, w, slope, slope_r, F = state
        step = _newton_step(X, basis, rB, slope, slope_r, F)
        if step is None:
            message = f"non-finite Newton step at iteration {it} (hess R* under/overflows)"
            iterations = it
            break
        m = len(basis.basis)
        largest = float(np.max(np.abs(step[:m]))) if m else 0.0
        if largest > max_log_step:
            step = step * (max_log_step / largest)
        accepted = _line_search(X, y, sides, basis, rB, eta, r, F, step, evaluate)
        if accepted is None:
            message = f"line search stalled at iteration {it}: residual {residual:.3e}"
            iterations = it
            break
        rB, eta, state = accepted
    r, w, _, _, F = state
    residual = float(np.max(np.abs(F))) / scale_y
    lam = np.array([float(v) for v in basis.multipliers(rB, eta)])
    edge = np.where(sides.has_edge, np.abs(sides.edge), np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        relative = r / edge
    return EdgeSolution(
        w=w,
        multipliers=lam,
        residual=residual,
        basis=[(int(i), int(sides.sides[i])) for i in basis.basis],
        slacks=r,
        relative_slacks=relative,
        iterations=iterations,
        pivots=pivots,
        converged=residual <= tol,
        message=message,
    )


def _newton_step(X, basis, rB, slope, slope_r, F):
    """Newton step in `z = (log r_B, eta)`: `dF = X [r dw/dr on A | dw/dr on C] dz`."""
    d, m = slope.size, len(basis.basis)
    cols = np.zeros((d, m))
    for c, i in enumerate(basis.basis):
        cols[:, c] = slope * basis.A[:, c] * rB[c]
        cols[i, c] = slope_r[i]  # the basic coordinate itself: r dw/dr, no underflow
    J = X @ np.hstack([cols, slope[:, None] * basis.C])
    try:
        step = np.linalg.solve(J, -F)
    except np.linalg.LinAlgError:
        step = np.linalg.lstsq(J, -F, rcond=None)[0]
    return step if np.all(np.isfinite(step)) else None


def _line_search(X, y, sides, basis, rB, eta, r, F, step, evaluate):
    """Backtracking along `step`: a fraction-to-the-boundary rule on the non-basic slacks,
    then Armijo on `phi` (differences without cancellation) with a curvature cap, or, in
    `phi`'s round-off regime, a decrease of `|F|`. `None` when no step is accepted."""
    m = len(basis.basis)
    t = 1.0
    nonbasic = sides.has_edge.copy()
    nonbasic[basis.basis] = False
    for _ in range(_HALVINGS):
        r_t = basis.slacks(rB * np.exp(t * step[:m]), eta + t * step[m:])
        if np.all(r_t[nonbasic] >= 1e-3 * r[nonbasic]) and np.all(
            (sides.width - r_t)[nonbasic] >= 1e-3 * (sides.width - r)[nonbasic]
        ):
            break
        t *= 0.5
    direction = basis.Pf @ (rB * step[:m]) + basis.Nf @ step[m:]
    slope_phi = float(F @ direction)  # < 0 for the Newton direction
    norm0 = float(np.linalg.norm(F))
    for _ in range(_HALVINGS):
        drB = rB * np.expm1(t * step[:m])
        deta = t * step[m:]
        trial_rB, trial_eta = rB + drB, eta + deta
        trial = evaluate(basis, trial_rB, trial_eta)
        if trial is not None:
            dR, size = sides.conjugate_change(r, basis.A @ drB + basis.C @ deta)
            dlam = basis.Pf @ drB + basis.Nf @ deta
            dphi = dR - float(dlam @ y)
            size += float(np.abs(dlam) @ np.abs(y))
            curvature = float(trial[4] @ (basis.Pf @ (trial_rB * step[:m]) + basis.Nf @ step[m:]))
            if (
                dphi <= 1e-4 * t * slope_phi
                and abs(dphi) > 1e-12 * size
                and curvature <= 0.9 * abs(slope_phi)
            ):
                return trial_rB, trial_eta, trial
            if abs(dphi) <= 1e-12 * size and np.linalg.norm(trial[4]) < norm0:
                return trial_rB, trial_eta, trial
        t *= 0.5
        if t * float(np.max(np.abs(step))) < 1e-300:
            break
    return None


# -- what stops a solve in theta -------------------------------------------------------------
@dataclass(frozen=True)
class Resolution:
    """How finely float64 resolves the dual residual at a multiplier, and feasibility.

    Attributes:
        floor: the largest change of `Xw` (relative to `max(1, |y|_inf)`) that one float64
            step of one coordinate of `theta` makes: how finely `theta` resolves `Xw`.
        worst: the coordinate where it is attained.
        theta, spacing: `theta_worst` and the gap to the next float64.
        edge_within_spacing: the edge of `dom R*` is within one float64 step of
            `theta_worst`: no float64 dual point lies closer to it.
        sign_change: for `n = 1`, whether `Xw - y` changes sign within one float64 step of
            `lambda` (a root lies there); `None` for `n > 1`.
        feasible: whether `Xw = y` has a solution in the box `dom R` (a linear program);
            `None` when `dom R` is not a box.
        witness: such a solution, or `None`.
    """

    floor: float
    worst: int
    theta: float
    spacing: float
    edge_within_spacing: bool
    sign_change: bool | None
    feasible: bool | None
    witness: np.ndarray | None

    def stopped_by_float64(self, tol: float) -> bool:
        """Whether float64 resolution (not feasibility) explains a residual above `tol`."""
        return self.feasible is not False and (self.floor > tol or self.edge_within_spacing)

    def message(self, tol: float, residual: float, name: str) -> str:
        """The diagnosis in words."""
        if self.feasible is False:
            return (
                f"Xw = y has no solution in the domain of {name} (a linear program over its "
                "box finds none): infeasible"
            )
        feasibility = (
            f"Xw = y has solutions in the domain of {name}, e.g. w = "
            f"{np.array2string(self.witness, precision=3, threshold=6)}"
            if self.feasible
            else f"whether Xw = y has a solution in the domain of {name} was not decided (the "
            "domain is not a box)"
        )
        if not self.stopped_by_float64(tol):
            return (
                f"{feasibility}; float64 resolves |Xw - y| to ~{self.floor:.1e} at the best "
                "multiplier, so resolution is not what stopped the solve"
            )
        text = (
            f"float64 resolution, not feasibility, stopped the dual solve ({feasibility}): at "
            f"the best multiplier theta_{self.worst} = {self.theta:.6g}"
        )
        if self.edge_within_spacing:
            text += (
                f", and the edge of dom R* is within one float64 spacing ({self.spacing:.2g}) "
                "of it: no float64 dual point lies closer, so the solution's dual point is "
                "not representable in theta"
            )
        else:
            text += (
                f"; adjacent float64 values of theta_{self.worst} are {self.spacing:.2g} apart "
                f"and one such step changes |Xw - y| by ~{self.floor:.1e} (relative), above "
                f"tol={tol:g}"
            )
        if self.sign_change:
            text += "; Xw - y changes sign within one float64 step of lambda (a root lies there)"
        return text + f" (residual reached {residual:.1e})"


def _feasible_in_box(R, X, y):
    lower = getattr(R.domain, "lower", None)
    upper = getattr(R.domain, "upper", None)
    if lower is None or upper is None:
        return None, None
    lower, upper = np.asarray(lower, dtype=np.float64), np.asarray(upper, dtype=np.float64)
    width = upper - lower
    margin = np.where(np.isfinite(width), 1e-9 * width, 0.0)  # strictly inside
    bounds = [
        (lo + m if np.isfinite(lo) else None, hi - m if np.isfinite(hi) else None)
        for lo, hi, m in zip(lower, upper, margin, strict=True)
    ]
    result = linprog(np.zeros(X.shape[1]), A_eq=X, b_eq=y, bounds=bounds, method="highs")
    return result.status == 0, (result.x if result.status == 0 else None)


def _in_domain(R, theta) -> bool:
    try:
        with np.errstate(all="ignore"):
            return bool(np.all(np.isfinite(np.asarray(R.grad_conjugate(theta), dtype=float))))
    except (ArithmeticError, ValueError, ConvergenceError):  # riemflow's errors are ValueErrors
        return False


def ray_to_edge(R, X, y, theta0) -> np.ndarray:
    """The last float64 multiplier along the Newton direction at `lambda = 0` before the
    residual stops decreasing along it or `dom R*` ends (doubling, then bisection; at most
    about 3,000 evaluations of `grad R*`). Where a solve in `theta` never moved, this is
    where float64 resolution is judged.

    Args:
        R: the `Legendre` function.
        X: `(n, d)`.
        y: `(n,)`.
        theta0: `grad R(w0)` `(d,)`.

    Returns:
        The multiplier `(n,)`.
    """

    def residual(lam):
        with np.errstate(over="ignore", invalid="ignore"):  # past 1e308 along the ray
            theta = theta0 + X.T @ lam
        if not (np.all(np.isfinite(theta)) and _in_domain(R, theta)):
            return None
        return X @ np.asarray(R.grad_conjugate(theta), dtype=np.float64) - y

    zero = np.zeros(X.shape[0])
    g0 = residual(zero)
    if g0 is None:
        return zero
    try:  # Newton's direction; where hess R* under/overflows, the gradient's
        H = np.atleast_2d(np.asarray(R.hessian_conjugate(theta0), dtype=np.float64))
        direction = -np.linalg.solve(X @ H @ X.T, g0)
    except (ArithmeticError, ValueError, ConvergenceError, np.linalg.LinAlgError):
        direction = -g0
    if not (np.all(np.isfinite(direction)) and np.any(direction)):
        return zero
    direction = direction / np.max(np.abs(direction))

    def descending(t):
        g = residual(t * direction)
        return g is not None and float(g @ direction) < 0

    lo, hi = 0.0, 1.0
    for _ in range(1100):  # doubling up to ~1e300
        if not descending(hi):
            break
        lo, hi = hi, 2.0 * hi
    for _ in range(2000):  # bisection to adjacent floats
        mid = 0.5 * (lo + hi)
        if mid in (lo, hi):
            break
        lo, hi = (mid, hi) if descending(mid) else (lo, mid)
    return lo * direction


def float64_resolution(R, X, y, lam, theta0) -> Resolution:
    """Diagnose a dual solve in `theta` that stopped at the multiplier `lam` (see
    `Resolution`): each coordinate of `theta = theta0 + X^T lam` is moved by one float64
    step each way, and the change of `Xw` (or leaving `dom R*`) is measured directly.

    Args:
        R: the `Legendre` function (`grad_conjugate`, `domain`).
        X: `(n, d)`.
        y: `(n,)`.
        lam: the multiplier `(n,)`.
        theta0: `grad R(w0)` `(d,)`.

    Returns:
        A `Resolution`.

    Examples:
        >>> import numpy as np, riemflow as rf
        >>> R = rf.potentials.diagonal_network(2, depth=3, alpha=1e-10)
        >>> X, y = np.array([[1.0, 0.8]]), np.array([1.0])
        >>> lam = rf.edge_dual.ray_to_edge(R, X, y, np.zeros(2))
        >>> found = rf.edge_dual.float64_resolution(R, X, y, lam, np.zeros(2))
        >>> found.stopped_by_float64(1e-10)
        True
    """
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    lam = np.asarray(lam, dtype=np.float64)
    theta = theta0 + X.T @ lam
    scale = max(1.0, float(np.max(np.abs(y))))
    Xw = X @ np.asarray(R.grad_conjugate(theta), dtype=np.float64)
    change = np.zeros(theta.size)
    within = np.zeros(theta.size, dtype=bool)
    for i in range(theta.size):
        for direction in (np.inf, -np.inf):
            probe = theta.copy()
            probe[i] = np.nextafter(theta[i], direction)
            if not _in_domain(R, probe):
                within[i] = True
                continue
            moved = X @ np.asarray(R.grad_conjugate(probe), dtype=np.float64) - Xw
            change[i] = max(change[i], float(np.max(np.abs(moved))) / scale)
    worst = int(np.argmax(within)) if np.any(within) else int(np.argmax(change))
    sign_change = None
    if X.shape[0] == 1:
        values = []
        for step in (lam, np.nextafter(lam, np.inf), np.nextafter(lam, -np.inf)):
            point = theta0 + X.T @ step
            if _in_domain(R, point):
                values.append(float((X @ np.asarray(R.grad_conjugate(point)) - y)[0]))
        sign_change = bool(values) and any(values[0] * v <= 0 for v in values[1:])
    feasible, witness = _feasible_in_box(R, X, y)
    return Resolution(
        floor=float(change[worst]),
        worst=worst,
        theta=float(theta[worst]),
        spacing=float(np.spacing(np.abs(theta[worst]))),
        edge_within_spacing=bool(within[worst]),
        sign_change=sign_change,
        feasible=feasible,
        witness=witness,
    )

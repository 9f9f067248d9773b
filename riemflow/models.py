"""The model zoo: parametrizations from the implicit-bias literature.

Every constructor returns `(G, x_init)`: a `Parametrization` and its default (or given)
initialization. Maps broadcast over a leading batch axis, so checks on many points run
vectorised. Which ones commute ([Concepts: commuting
parametrizations](concepts.md#commuting-parametrizations)):

| model | `G(x)` | commuting |
|---|---|---|
| `diagonal_network(form="power")` | `u^L - v^L` (or `u^L`) | yes (disjoint variables) |
| `diagonal_network(form="product")` | `u_1 ... u_L - v_1 ... v_L` | yes (disjoint variables) |
| `hadamard_square` | `u * u` | yes |
| `hadamard_product` | `u * v` | yes |
| `linear` | `A x + b` | yes (constant fields) |
| `quadratic` | `x^T A_i x / 2` | iff the `A_i` commute |
| `matrix_sensing` | `<A_i, U U^T>` | iff the symmetric parts of the `A_i` commute |
| `matrix_factorization` | `U U^T` or `U V^T` | no |
| `bilinear_chain` | `(x_1 x_2, x_2 x_3, ...)` | no |
| `single_neuron` | `a z` (`a` scalar) | no, but time-warped: the fields over `a` commute |
| `simplex_sphere` | `u * u` on the unit sphere | yes |

On other geomstats manifolds, with points of the space's shape (matrices included) and the
manifold's own metric:

| model | space | `G(x)` | commuting |
|---|---|---|---|
| `spd_chart(metric="affine")` | `SPDMatrices(n)`, affine-invariant | `triu(P)` | yes: `log_det` |
| `spd_chart(metric="bures_wasserstein")` | `SPDMatrices(n)`, Bures-Wasserstein | `triu(P)` | no |
| `spd_chart(metric="log_euclidean")` | `SPDMatrices(n)`, log-Euclidean | `triu(P)` | no |
| `spd_chart(metric="log_euclidean", chart="log")` | same | `triu(log P)` | yes: `|log P|^2 / 2` |
| `symmetric_factorization(space=...)` | `Matrices(n, r)` or `Stiefel(n, r)` | `triu(U U^T)` | no |
| `matrix_sensing(matrix_points=True)` | `Matrices(k, r)` | `<A_i, U U^T>` | iff the `A_i` commute |
| `isospectral` | `SpecialOrthogonal(n)`, bi-invariant | `triu(Q diag(s) Q^T)` | no |
| `weight_normalization` | `Hypersphere(k - 1) x Euclidean(1)` | `r u` | no |
| `hyperbolic_chart` | `PoincareBall(d)`, `PoincareHalfSpace(d)` | `x` | iff `d = 1` |
"""

from __future__ import annotations

import numbers

import autograd.numpy as anp
import numpy as np
from geomstats.geometry.euclidean import Euclidean
from geomstats.geometry.hypersphere import Hypersphere
from geomstats.geometry.matrices import Matrices
from geomstats.geometry.poincare_ball import PoincareBall
from geomstats.geometry.poincare_half_space import PoincareHalfSpace
from geomstats.geometry.product_manifold import ProductManifold
from geomstats.geometry.spd_matrices import (
    SPDAffineMetric,
    SPDBuresWassersteinMetric,
    SPDLogEuclideanMetric,
    SPDMatrices,
)
from geomstats.geometry.special_orthogonal import SpecialOrthogonal
from geomstats.geometry.stiefel import Stiefel

from ._validation import as_float_array, as_positive, as_positive_int, check_finite
from .domains import Ball
from .errors import (
    ConvergenceError,
    DomainError,
    InputError,
    NotCommutingError,
    NotRegularError,
    ShapeError,
)
from .legendre import Legendre
from .parametrization import Parametrization
from .potentials import (
    commuting_quadratic,
    log_barrier,
    log_det,
    power_network,
    product_network,
    simplex_entropy,
    squared_euclidean,
)

__all__ = [
    "diagonal_network",
    "hadamard_square",
    "hadamard_product",
    "linear",
    "quadratic",
    "matrix_sensing",
    "matrix_factorization",
    "bilinear_chain",
    "single_neuron",
    "simplex_sphere",
    "spd_chart",
    "symmetric_factorization",
    "isospectral",
    "weight_normalization",
    "hyperbolic_chart",
]


def _closed_form_or_none(build, *args):
    """The closed-form potential, or `None` where its hypotheses fail at this
    initialization (the numerical route of `mirror_potential` then reports why)."""
    try:
        return build(*args)
    except (NotCommutingError, NotRegularError, ConvergenceError):
        return None


def _init_vector(init, n_blocks: int, block_dim: int, alpha: float) -> np.ndarray:
    """The initialization as one `(n_blocks * block_dim,)` vector.

    `init` is `None` (every entry `alpha`), a flat array of the full size, or a sequence of
    `n_blocks` per-block arrays / scalars.
    """
    size = n_blocks * block_dim
    if init is None:
        return np.full(size, alpha)
    if isinstance(init, (list, tuple)):
        if len(init) != n_blocks:
            raise ShapeError(
                f"`init` as a sequence must have one entry per layer ({n_blocks}); got {len(init)}",
                argument="init",
            )
        blocks = []
        for k, block in enumerate(init):
            arr = check_finite(as_float_array(block, f"init[{k}]"), f"init[{k}]")
            if arr.ndim == 0:
                arr = np.full(block_dim, float(arr))
            if arr.shape != (block_dim,):
                raise ShapeError(
                    f"`init[{k}]` must be a scalar or have shape ({block_dim},); got {arr.shape}",
                    argument="init",
                )
            blocks.append(arr)
        return np.concatenate(blocks)
    arr = check_finite(as_float_array(init, "init"), "init")
    if arr.shape != (size,):
        raise ShapeError(f"`init` must have shape ({size},); got {arr.shape}", argument="init")
    return arr.copy()


def _orthant_sampler(reference: np.ndarray, alpha: float):
    """Points with the signs of `reference`, magnitudes log-uniform in [1/4, 2] x scale."""
    sign = np.where(reference < 0, -1.0, 1.0)
    scale = np.where(reference != 0, np.abs(reference), alpha)

    def sample(rng, n):
        mag = np.exp(rng.uniform(np.log(0.25), np.log(2.0), size=(n, reference.size)))
        return sign * scale * mag

    return sample


def _orthant(reference: np.ndarray):
    sign = np.where(reference < 0, -1.0, 1.0)

    def contains(x):
        return np.all(np.asarray(x) * sign > 0, axis=-1)

    return contains


def diagonal_network(
    dim: int,
    depth: float = 2,
    *,
    alpha: float = 1.0,
    init=None,
    signed: bool = True,
    form: str = "power",
):
    """Diagonal linear network of depth `L`, in either of its two forms.

    - `form="power"`: $w = u^{L} - v^{L}$ (`signed`) or $w = u^{L}$, element-wise, with
      $x = (u, v) \\in \\mathbb{R}^{2d}$ (or $x = u$). The domain is the open orthant of
      the initialization's signs, where $G$ is regular; gradient flow never leaves it.
      `depth` may be non-integer (then the domain must be the positive orthant).
    - `form="product"`: $w = u_1 \\odot \\cdots \\odot u_L - v_1 \\odot \\cdots \\odot v_L$
      (`signed`) or $w = u_1 \\odot \\cdots \\odot u_L$, with $x$ the layers concatenated
      ($D = 2Ld$ or $Ld$); general initialization (Labarriere et al. 2024). Domain:
      all of $\\mathbb{R}^D$. The closed-form potential at every depth $L \\ge 2$ is
      `potentials.product_network`, and the pullback has a closed form.

    Each $w_i$ depends on its own variables only, so the gradient fields commute.

    Args:
        dim: `d`, the number of outputs.
        depth: `L >= 1` (an integer for `form="product"`).
        alpha: initialization scale: every entry of the default `x_init` is `alpha`, so
            `G(x_init) = 0` when signed (`alpha^L` when not).
        init: explicit initialization: a flat `(D,)` array or a sequence with one scalar or
            `(d,)` array per layer (`(u, v)` for the signed power form).
        signed: subtract a second network (so `w` can take both signs).
        form: `"power"` or `"product"`.

    Returns:
        `(G, x_init)`.

    Raises:
        InputError, ShapeError: bad `depth`, `form`, `alpha` or `init`.
        DomainError: a non-integer power with a non-positive initialization.

    Examples:
        >>> import riemflow as rf
        >>> G, x0 = rf.models.diagonal_network(3, depth=2, alpha=0.1)
        >>> x0.shape, G(x0).tolist()
        ((6,), [0.0, 0.0, 0.0])
    """
    dim = as_positive_int(dim, "dim")
    alpha = as_positive(alpha, "alpha")
    if form not in ("power", "product"):
        raise InputError(f"`form` must be 'power' or 'product'; got {form!r}", argument="form")
    if isinstance(depth, bool) or not isinstance(depth, numbers.Real) or not depth >= 1:
        raise InputError(f"`depth` must be a real number >= 1; got {depth!r}", argument="depth")
    integral = float(depth).is_integer()
    if form == "product" and not integral:
        raise InputError(
            f"`depth` must be an integer for form='product'; got {depth!r}", argument="depth"
        )
    power = int(depth) if integral else float(depth)
    n_nets = 2 if signed else 1

    if form == "power":
        x_init = _init_vector(init, n_nets, dim, alpha)
        if not integral and np.any(x_init <= 0):
            raise DomainError(
                f"a non-integer depth {depth} needs a positive initialization; got min "
                f"{x_init.min():.3e}",
                argument="init",
            )

        signs = np.array([1.0, -1.0])

        def fn(x):
            powers = x * x if power == 2 else x**power
            if not signed:
                return powers
            if isinstance(x, np.ndarray):  # plain evaluation (flow steps): slices are cheapest
                return powers[..., :dim] - powers[..., dim:]
            # traced: (1, -1) @ (u^L, v^L) rather than slices, whose VJP (np.add.at) would
            # dominate the batched Jacobians of the checks
            return anp.matmul(signs, anp.reshape(powers, anp.shape(x)[:-1] + (2, dim)))

        def vjp(x, c):  # dG^T c = L x^{L-1} (c, -c); never traced
            cot = np.concatenate([c, -c], axis=-1) if signed else c
            slope = x if power == 2 else x ** (power - 1)
            return power * slope * cot

        # docs/concepts.md, "Closed forms for diagonal networks": any depth >= 2 (or 1), any init
        def potential(x):
            u0, v0 = (x[:dim], x[dim:]) if signed else (x, None)
            return power_network(u0, v0, depth=power)

        formula = f"u^{power} - v^{power}" if signed else f"u^{power}"
        domain = None if power == 1 else _orthant(x_init)  # u^L is singular at 0 for L != 1
    else:
        x_init = _init_vector(init, n_nets * power, dim, alpha)

        def _prod(x, first):
            out = x[..., first * dim : (first + 1) * dim]
            for layer in range(first + 1, first + power):
                out = out * x[..., layer * dim : (layer + 1) * dim]
            return out

        def fn(x):
            return _prod(x, 0) - _prod(x, power) if signed else _prod(x, 0)

        formula = "u_1*...*u_L - v_1*...*v_L" if signed else "u_1*...*u_L"
        formula = formula.replace("L", str(power))
        domain = None
        signs = np.array([1.0, -1.0][:n_nets])[:, None, None]

        def vjp(x, c):  # layer j: +-c prod_{k != j} u_k (prefix times suffix products)
            layers = x.reshape(x.shape[:-1] + (n_nets, power, dim))
            prefix, suffix = np.ones_like(layers), np.ones_like(layers)
            for j in range(1, power):
                prefix[..., j, :] = prefix[..., j - 1, :] * layers[..., j - 1, :]
                k = power - 1 - j
                suffix[..., k, :] = suffix[..., k + 1, :] * layers[..., k + 1, :]
            return (signs * prefix * suffix * c[..., None, None, :]).reshape(x.shape)

        def potential(x):  # any depth >= 2 and init (depth >= 3: Labarriere et al.)
            if power == 1:
                return None  # w = u - v: the numerical construction
            layers = x.reshape(n_nets * power, dim)
            v_layers = layers[power:] if signed else None
            return _closed_form_or_none(product_network, layers[:power], v_layers)

    G = Parametrization(
        fn,
        x_init.size,
        name=f"diagonal network w = {formula} (d={dim})",
        domain=domain,
        sampler=_orthant_sampler(x_init, alpha),
        vectorized=True,
        vjp=vjp,
        potential=potential,
    )
    G(x_init)  # validates the initialization against the domain
    return G, x_init


def hadamard_square(dim: int, *, alpha: float = 1.0, init=None):
    """$w = u \\odot u$ on the positive orthant ($u > 0$): depth-2 unsigned power network.

    Gradient flow is $\\dot w = -4 w \\odot \\nabla L(w)$ ([Concepts: closed forms for diagonal
    networks](concepts.md#closed-forms-for-diagonal-networks)).

    Examples:
        >>> import riemflow as rf
        >>> G, x0 = rf.models.hadamard_square(2, alpha=2.0)
        >>> G(x0).tolist()
        [4.0, 4.0]
    """
    return diagonal_network(dim, 2, alpha=alpha, init=init, signed=False, form="power")


def hadamard_product(dim: int, *, alpha: float = 1.0, init=None):
    """$w = u \\odot v$, $x = (u, v)$; default init $u = v = \\alpha$ (balanced).

    Regular except where $u_i = v_i = 0$ for some `i`; `init=(u0, v0)` for other
    initializations.

    Examples:
        >>> import riemflow as rf
        >>> G, x0 = rf.models.hadamard_product(2, init=(1.0, 3.0))
        >>> G(x0).tolist()
        [3.0, 3.0]
    """
    return diagonal_network(dim, 2, alpha=alpha, init=init, signed=False, form="product")


def linear(A, b=None, *, init=None):
    """$w = A x + b$, $A$: `(d, D)`; commuting (constant gradient fields).

    Regular iff `A` has full row rank. Default `x_init = 0`.

    Examples:
        >>> import numpy as np, riemflow as rf
        >>> G, x0 = rf.models.linear(np.array([[1.0, 2.0]]), np.array([3.0]))
        >>> G(np.array([1.0, 1.0])).tolist()
        [6.0]
    """
    A = check_finite(as_float_array(A, "A"), "A")
    if A.ndim != 2:
        raise ShapeError(f"`A` must be a (d, D) matrix; got shape {A.shape}", argument="A")
    d, D = A.shape
    b = np.zeros(d) if b is None else check_finite(as_float_array(b, "b"), "b")
    if b.shape != (d,):
        raise ShapeError(f"`b` must have shape ({d},); got {b.shape}", argument="b")
    x_init = np.zeros(D) if init is None else _init_vector(init, 1, D, 0.0)

    def fn(x):
        return anp.einsum("ij,...j->...i", A, x) + b

    def potential(x):  # psi(x; mu) = x + A^T mu: R(w) = (w - w0)^T (A A^T)^{-1} (w - w0) / 2
        gram = A @ A.T
        if np.linalg.matrix_rank(gram) < d:
            return None
        metric = np.linalg.inv(gram)
        return squared_euclidean(d, 0.5 * (metric + metric.T)).centered(
            A @ x + b, name="linear map potential"
        )

    G = Parametrization(
        fn,
        D,
        name=f"linear map (d={d}, D={D})",
        vectorized=True,
        vjp=lambda x, c: anp.einsum("ij,...i->...j", A, c),
        potential=potential,
    )
    return G, x_init


def _symmetric_stack(matrices, name: str, *, require: bool) -> np.ndarray:
    A = check_finite(as_float_array(matrices, name), name)
    if A.ndim != 3 or A.shape[1] != A.shape[2]:
        raise ShapeError(
            f"`{name}` must be a stack (d, D, D) of square matrices; got {A.shape}", argument=name
        )
    asym = np.max(np.abs(A - np.swapaxes(A, 1, 2)), initial=0.0)
    if require and asym > 1e-12 * max(1.0, np.max(np.abs(A))):
        raise InputError(
            f"`{name}` must hold symmetric matrices; max |A - A^T| = {asym:.3e}", argument=name
        )
    return 0.5 * (A + np.swapaxes(A, 1, 2))


def quadratic(matrices, *, init=None):
    """Quadratic forms $G_i(x) = x^T A_i x / 2$ with symmetric $A_i$: `(d, D, D)`.

    Commuting exactly when the $A_i$ commute pairwise: the bracket is
    $[\\nabla G_i, \\nabla G_j] = (A_j A_i - A_i A_j) x$. Then
    $\\psi(x; \\mu) = \\exp(\\sum_i \\mu_i A_i) x$. Default `x_init = 1 / sqrt(D)`.

    Examples:
        >>> import numpy as np, riemflow as rf
        >>> A = np.stack([np.diag([1.0, 0.0]), np.diag([0.0, 2.0])])
        >>> G, x0 = rf.models.quadratic(A)
        >>> G(np.array([1.0, 1.0])).tolist()
        [0.5, 1.0]
    """
    A = _symmetric_stack(matrices, "matrices", require=True)
    D = A.shape[1]
    x_init = np.full(D, 1.0 / np.sqrt(D)) if init is None else _init_vector(init, 1, D, 0.0)

    def fn(x):
        return 0.5 * anp.einsum("kij,...i,...j->...k", A, x, x)

    G = Parametrization(
        fn,
        D,
        name=f"quadratic forms (d={A.shape[0]}, D={D})",
        vectorized=True,
        potential=lambda x: _closed_form_or_none(commuting_quadratic, A, x),
    )
    return G, x_init


def matrix_sensing(
    measurements,
    *,
    rank: int | None = None,
    alpha: float = 1.0,
    init=None,
    matrix_points: bool = False,
):
    """Matrix sensing $w_i = \\langle A_i, U U^T \\rangle$, $U$: `(k, r)`, and $x$ is `U.ravel()`.

    Only the symmetric parts of the $A_i$ matter; the gradient fields commute iff those
    commute pairwise (then the model is a `quadratic` family with commuting matrices
    $2 A_i \\otimes I_r$). Default $U_0 = \\alpha I_{k \\times r}$.

    Args:
        measurements: `(n, k, k)` stack of measurement matrices.
        rank: `r` (default `k`).
        alpha: default initialization scale.
        init: `U0` as `(k, r)` or flat `(k r,)`.
        matrix_points: the points are the matrices `U: (k, r)` themselves, on geomstats
            `Matrices(k, r)` (Frobenius metric: the same flows as the flat form), and
            `x_init` is `(k, r)`.

    Examples:
        >>> import numpy as np, riemflow as rf
        >>> A = np.stack([np.diag([1.0, 0.0]), np.diag([0.0, 1.0])])
        >>> G, x0 = rf.models.matrix_sensing(A, alpha=0.5)
        >>> G(x0).tolist()
        [0.25, 0.25]
    """
    A = _symmetric_stack(measurements, "measurements", require=False)
    k = A.shape[1]
    r = k if rank is None else as_positive_int(rank, "rank")
    alpha = as_positive(alpha, "alpha")
    if init is None:
        x_init = alpha * np.eye(k, r).ravel()
    else:
        x_init = _init_vector(np.asarray(init, dtype=np.float64).ravel(), 1, k * r, alpha)

    def fn(x):
        U = x if matrix_points else anp.reshape(x, anp.shape(x)[:-1] + (k, r))
        gram = anp.einsum("...ac,...bc->...ab", U, U)
        return anp.einsum("nab,...ab->...n", A, gram)

    # <A_i, U U^T> = x^T (A_i (x) I_r) x: the quadratic family with matrices 2 A_i (x) I_r
    quad = 2.0 * np.einsum("nab,cd->nacbd", A, np.eye(r)).reshape(A.shape[0], k * r, k * r)
    G = Parametrization(
        fn,
        Matrices(k, r) if matrix_points else k * r,
        name=f"matrix sensing (n={A.shape[0]}, k={k}, r={r})",
        vectorized=True,
        potential=lambda x: _closed_form_or_none(commuting_quadratic, quad, np.ravel(x)),
    )
    return G, x_init.reshape(k, r) if matrix_points else x_init


def matrix_factorization(
    n_rows: int,
    n_cols: int | None = None,
    *,
    rank: int | None = None,
    alpha: float = 1.0,
    init=None,
):
    """Matrix factorization, the classic non-commuting parametrization.

    - `n_cols=None`: $W = U U^T$, $U$: `(n, r)`, $w$ = the upper triangle of $W$
      ($i \\le j$, row-major; $d = n(n+1)/2$), $x$ = `U.ravel()`.
    - otherwise: $W = U V^T$, $U$: `(n, r)`, $V$: `(m, r)`, $w$ = `W.ravel()`
      ($d = nm$), $x$ = `(U.ravel(), V.ravel())`.

    Already $[\\nabla W_{11}, \\nabla W_{12}] \\ne 0$: for $U U^T$ it is $-2 U_{2\\cdot}$ in
    row 1 and $2 U_{1\\cdot}$ in row 2 of $U$. Default init $U_0 = V_0 = \\alpha I$.

    Examples:
        >>> import riemflow as rf
        >>> G, x0 = rf.models.matrix_factorization(2, alpha=1.0)
        >>> G(x0).tolist()  # W = I: entries (1,1), (1,2), (2,2)
        [1.0, 0.0, 1.0]
        >>> G.check_commuting().passed
        False
    """
    n = as_positive_int(n_rows, "n_rows")
    alpha = as_positive(alpha, "alpha")
    if n_cols is None:
        r = n if rank is None else as_positive_int(rank, "rank")
        rows, cols = np.triu_indices(n)
        x_init = (
            alpha * np.eye(n, r).ravel()
            if init is None
            else _init_vector(np.asarray(init, dtype=np.float64).ravel(), 1, n * r, alpha)
        )

        def fn(x):
            U = anp.reshape(x, anp.shape(x)[:-1] + (n, r))
            W = anp.einsum("...ac,...bc->...ab", U, U)
            return W[..., rows, cols]

        name = f"symmetric factorization W = U U^T (n={n}, r={r})"
        D = n * r
    else:
        m = as_positive_int(n_cols, "n_cols")
        r = min(n, m) if rank is None else as_positive_int(rank, "rank")
        if init is None:
            x_init = alpha * np.concatenate([np.eye(n, r).ravel(), np.eye(m, r).ravel()])
        else:
            x_init = _init_vector(np.asarray(init, dtype=np.float64).ravel(), 1, (n + m) * r, alpha)

        def fn(x):
            batch = anp.shape(x)[:-1]
            U = anp.reshape(x[..., : n * r], batch + (n, r))
            V = anp.reshape(x[..., n * r :], batch + (m, r))
            W = anp.einsum("...ac,...bc->...ab", U, V)
            return anp.reshape(W, batch + (n * m,))

        name = f"factorization W = U V^T (n={n}, m={m}, r={r})"
        D = (n + m) * r
    return Parametrization(fn, D, name=name, vectorized=True), x_init


def bilinear_chain(dim: int = 3, *, init=None):
    """$w_i = x_i x_{i+1}$, $i = 1 .. D-1$: the smallest non-commuting example.

    For `dim = 3`, $G(x) = (x_1 x_2, x_2 x_3)$ and
    $[\\nabla G_1, \\nabla G_2] = (-x_3, 0, x_1)$. Default `x_init = 1`.

    Examples:
        >>> import numpy as np, riemflow as rf
        >>> G, x0 = rf.models.bilinear_chain(3)
        >>> G.lie_brackets(np.array([1.0, 2.0, 3.0]))[0, 1].tolist()
        [-3.0, 0.0, 1.0]
    """
    dim = as_positive_int(dim, "dim")
    if dim < 2:
        raise InputError(f"`dim` must be >= 2; got {dim}", argument="dim")
    x_init = np.ones(dim) if init is None else _init_vector(init, 1, dim, 1.0)

    def fn(x):
        return x[..., :-1] * x[..., 1:]

    return Parametrization(fn, dim, name=f"bilinear chain (D={dim})", vectorized=True), x_init


def single_neuron(dim: int, *, init=None):
    r"""One hidden linear neuron $w = a z$, $x = (a, z)$, $a > 0$, $z \in \mathbb{R}^k$.

    Not commuting ($[\nabla G_i, \nabla G_j] = z_j e_i - z_i e_j$ in the `z` block, up to
    the sign convention of `lie_brackets`), but "time-warped" ([Concepts: the time-warped
    case](concepts.md#the-time-warped-case)): the fields $\nabla G_i / a$ commute, so along gradient
    flow $d \nabla R(w) = -a \nabla L\, dt$ with the potential
    `riemflow.potentials.single_neuron(a0, z0)`: the flow is the mirror flow of that `R` run at
    speed `a(t)`, and converges to the same Bregman projection. Regular where $a \neq 0$; the
    potential needs $\delta = a_0^2 - |z_0|^2 > 0$.

    Args:
        dim: `k`, the size of `w`.
        init: `(a0, z0)` as a flat `(1 + k,)` array; default `a0 = 1`, `z0 = 0.5 / sqrt(k)`
            (`delta = 0.75`).

    Examples:
        >>> import numpy as np, riemflow as rf
        >>> G, x0 = rf.models.single_neuron(2, init=[2.0, 0.5, -1.0])
        >>> G(x0).tolist(), bool(G.check_commuting().passed)
        ([1.0, -2.0], False)
    """
    k = as_positive_int(dim, "dim")
    if init is None:
        x_init = np.concatenate([[1.0], np.full(k, 0.5 / np.sqrt(k))])
    else:
        x_init = check_finite(as_float_array(init, "init"), "init").ravel()
        if x_init.shape != (k + 1,):
            raise ShapeError(
                f"`init` must be (a0, z0) of shape ({k + 1},); got {x_init.shape}",
                argument="init",
            )
        if x_init[0] <= 0:
            raise DomainError(f"`init`: a0 must be > 0; got {x_init[0]!r}", argument="init")

    def fn(x):
        return x[..., :1] * x[..., 1:]

    def positive(x):
        return np.asarray(x)[..., 0] > 0

    def sample(rng, n):
        a = np.exp(rng.uniform(np.log(0.5), np.log(2.0), size=(n, 1)))
        return np.concatenate([a, rng.standard_normal((n, k)) / np.sqrt(k)], axis=-1)

    G = Parametrization(
        fn,
        k + 1,
        name=f"single neuron a z (k={k})",
        domain=positive,
        sampler=sample,
        vectorized=True,
    )
    return G, x_init


def simplex_sphere(dim: int, *, init=None):
    """$w = (u_1^2, ..., u_d^2)$ for $u$ on the unit sphere $S^d \\subset \\mathbb{R}^{d+1}$.

    A geomstats `Hypersphere(d)` in ambient coordinates (gradients projected onto the
    tangent space), restricted to the open positive orthant. `w` ranges over the open
    simplex `{w > 0, sum w < 1}` (the last weight is `s = u_{d+1}^2 = 1 - sum w`). The
    gradient fields commute and $K = 4(\\operatorname{diag}(w) - w w^T)$, the inverse
    Hessian of the simplex entropy $R(w) = \\sum_i w_i(\\log w_i - 1) + s(\\log s - 1)$
    times 4: gradient flow here is mirror flow with $R / 4$ ([Concepts: the converse via Nash
    embedding](concepts.md#the-converse-via-nash-embedding)).

    Args:
        dim: `d` (the sphere is `S^d`, points in `R^{d+1}`).
        init: a point `(d+1,)` of the positive orthant of the sphere; default the
            barycenter `1 / sqrt(d+1)`.

    Examples:
        >>> import riemflow as rf
        >>> G, u0 = rf.models.simplex_sphere(2)
        >>> G(u0).round(6).tolist()
        [0.333333, 0.333333]
    """
    dim = as_positive_int(dim, "dim")
    sphere = Hypersphere(dim)
    x_init = (
        np.full(dim + 1, 1.0 / np.sqrt(dim + 1))
        if init is None
        else _init_vector(init, 1, dim + 1, 0.0)
    )

    def fn(u):
        return u[..., :dim] ** 2

    def positive(u):
        return np.all(np.asarray(u) > 0, axis=-1)

    def sample(rng, n):
        z = np.abs(rng.standard_normal((n, dim + 1))) + 1e-3
        return z / np.linalg.norm(z, axis=-1, keepdims=True)

    G = Parametrization(
        fn,
        sphere,
        name=f"u*u on the sphere S^{dim}",
        domain=positive,
        sampler=sample,
        vectorized=True,
        potential=lambda u: (
            simplex_entropy(dim).scaled(0.25).centered(u[:dim] ** 2, name="simplex entropy / 4")
        ),
    )
    G(x_init)  # validates that init is on the sphere and positive
    return G, x_init


# -- models on matrix manifolds, products and hyperbolic space --------------------------------
def _upper_triangle(n: int):
    """`W (..., n, n) -> W[..., i, j]` for `i <= j`, row-major (`d = n(n+1)/2`): the
    coordinates of `riemflow.potentials.log_det` and `riemflow.domains.SPDCone`."""
    rows, cols = np.triu_indices(n)

    def upper(W):
        return W[..., rows, cols]

    return upper


def _log_spd(P):
    """`log P` for symmetric positive definite `P (..., n, n)` by `eigh` (autograd-traceable;
    its derivatives need distinct eigenvalues)."""
    lam, Q = anp.linalg.eigh(P)
    return anp.einsum("...ij,...j,...kj->...ik", Q, anp.log(lam), Q)


def _init_matrix(init, shape: tuple[int, ...], default: np.ndarray) -> np.ndarray:
    if init is None:
        return default
    arr = check_finite(as_float_array(init, "init"), "init")
    if arr.shape != shape:
        raise ShapeError(f"`init` must have shape {shape}; got {arr.shape}", argument="init")
    return arr.copy()


_SPD_METRICS = {
    "affine": SPDAffineMetric,
    "bures_wasserstein": SPDBuresWassersteinMetric,
    "log_euclidean": SPDLogEuclideanMetric,
}


def spd_chart(
    n: int, metric: str = "affine", *, chart: str = "entries", alpha: float = 1.0, init=None
):
    """A coordinate chart of the SPD matrices `SPDMatrices(n)` with a chosen metric.

    The point is the matrix $P$ itself (points `(n, n)`); $w$ is the upper triangle of $P$
    (`chart="entries"`) or of $\\log P$ (`chart="log"`), `d = n(n+1)/2`. Writing $S$ for the
    symmetric matrix with $S_{ii} = \\partial L / \\partial w_{ii}$ and
    $S_{ij} = \\frac12 \\partial L / \\partial w_{ij}$ (for the entries chart), gradient flow
    of $L \\circ G$ is

    - `metric="affine"` ($\\langle U, V \\rangle_P = \\operatorname{tr}(P^{-1} U P^{-1} V)$,
      geomstats' default): $\\dot P = -P S P$. In the entries chart this metric is the
      Hessian of $R(w) = -\\log\\det P$, so the gradient fields commute and the flow is the
      mirror flow of `riemflow.potentials.log_det` for every loss (the closed form
      `mirror_potential` returns, centered at $w_0$).
    - `metric="bures_wasserstein"`: $\\dot P = -2 (P S + S P)$; not commuting for $n \\ge 2$:
      no mirror flow describes it (`riemflow.loop_test`).
    - `metric="log_euclidean"` ($\\langle U, V \\rangle_P = \\langle d\\log_P U, d\\log_P V
      \\rangle_F$): $\\dot P = -(d \\log_P)^{-2}[S]$; not commuting in the entries chart for
      $n \\ge 2$, but commuting in the log chart, where the metric is constant: there the
      flow is the mirror flow of $R(w) = \\frac12 \\|\\log P - \\log P_0\\|_F^2$ (the closed
      form returned).

    Args:
        n: the matrix size.
        metric: `"affine"`, `"bures_wasserstein"` or `"log_euclidean"`.
        chart: `"entries"` (`w = triu(P)`) or `"log"` (`w = triu(log P)`, computed by
            `eigh`; its derivatives need distinct eigenvalues).
        alpha: scale of the default initialization.
        init: `P0`, an SPD `(n, n)` matrix; default `alpha I`, or
            `alpha diag(1, ..., 2)` (evenly spaced) when the metric or the chart goes
            through `eigh` (log-Euclidean, log chart), whose derivatives are singular at
            repeated eigenvalues.

    Returns:
        `(G, P0)`.

    Raises:
        InputError: unknown `metric` or `chart`, bad `alpha`.
        ShapeError, DomainError: `init` not an SPD `(n, n)` matrix.

    Examples:
        >>> import numpy as np, riemflow as rf
        >>> G, P0 = rf.models.spd_chart(2)
        >>> G(P0).tolist(), G.gradient_fields(P0).shape
        ([1.0, 0.0, 1.0], (3, 2, 2))
        >>> G.check_commuting(n_samples=8).passed
        True
    """
    n = as_positive_int(n, "n")
    alpha = as_positive(alpha, "alpha")
    if metric not in _SPD_METRICS:
        raise InputError(
            f"`metric` must be one of {', '.join(_SPD_METRICS)}; got {metric!r}", argument="metric"
        )
    if chart not in ("entries", "log"):
        raise InputError(f"`chart` must be 'entries' or 'log'; got {chart!r}", argument="chart")
    space = SPDMatrices(n, equip=False)
    space.equip_with_metric(_SPD_METRICS[metric])
    spread = metric == "log_euclidean" or chart == "log"
    default = alpha * (np.diag(np.linspace(1.0, 2.0, n)) if spread else np.eye(n))
    P0 = _init_matrix(init, (n, n), default)
    upper = _upper_triangle(n)
    d = n * (n + 1) // 2
    weights = np.where(np.equal(*np.triu_indices(n)), 1.0, 2.0)

    def entries(P):
        return upper(P)

    def logs(P):
        return upper(_log_spd(P))

    def potential(P):
        w0 = upper(P) if chart == "entries" else upper(_log_spd(P))
        if metric == "affine" and chart == "entries":
            return log_det(n).centered(w0, name=f"-log det P centered at P0 (n={n})")
        if metric == "log_euclidean" and chart == "log":
            R = squared_euclidean(d, np.diag(weights))
            return R.centered(w0, name=f"|log P - log P0|_F^2 / 2 (n={n})")
        return None  # not commuting: mirror_potential reports the brackets

    G = Parametrization(
        entries if chart == "entries" else logs,
        space,
        name=f"{'triu(P)' if chart == 'entries' else 'triu(log P)'} on SPD({n}), {metric} metric",
        vectorized=True,
        potential=potential,
    )
    G(P0)  # validates init: symmetric positive definite
    return G, P0


def symmetric_factorization(
    n: int, rank: int | None = None, *, space: str = "matrices", alpha: float = 1.0, init=None
):
    """$W = U U^T$ with the factor $U$: `(n, r)` as a matrix point, $w$ the upper triangle of
    $W$ (`d = n(n+1)/2`).

    - `space="matrices"`: $U$ in geomstats `Matrices(n, r)` with the Frobenius metric: the
      same gradient flow as `matrix_factorization(n, rank=r)` on the flattened $U$. Not
      commuting: $[\\nabla W_{11}, \\nabla W_{12}] \\ne 0$.
    - `space="stiefel"`: $U$ on `Stiefel(n, r)` ($U^T U = I$) with geomstats' canonical
      metric; $W$ is then an orthogonal projector. For a linear loss
      $L = -\\operatorname{tr}(W N)$ the flow is Brockett's double-bracket flow
      $\\dot W = 2 [W, [W, N]]$. Not regular ($d$ exceeds the dimension of the manifold)
      and not commuting.

    Args:
        n: rows of $U$.
        rank: `r`, columns of $U$ (default `n` on `Matrices`, `min(2, n)` on `Stiefel`).
        space: `"matrices"` or `"stiefel"`.
        alpha: default initialization $U_0 = \\alpha I_{n \\times r}$ on `Matrices` (on
            `Stiefel`, $U_0 = I_{n \\times r}$).
        init: `U0`, `(n, r)`.

    Returns:
        `(G, U0)`.

    Examples:
        >>> import numpy as np, riemflow as rf
        >>> G, U0 = rf.models.symmetric_factorization(3, 2, space="stiefel")
        >>> U0.shape, G(U0).tolist()
        ((3, 2), [1.0, 0.0, 0.0, 1.0, 0.0, 0.0])
    """
    n = as_positive_int(n, "n")
    alpha = as_positive(alpha, "alpha")
    if space not in ("matrices", "stiefel"):
        raise InputError(
            f"`space` must be 'matrices' or 'stiefel'; got {space!r}", argument="space"
        )
    default_rank = n if space == "matrices" else min(2, n)
    r = default_rank if rank is None else as_positive_int(rank, "rank")
    if space == "stiefel":
        if r > n:
            raise InputError(f"`rank` must be <= n = {n} on Stiefel; got {r}", argument="rank")
        manifold, default = Stiefel(n, r), np.eye(n, r)
    else:
        manifold, default = Matrices(n, r), alpha * np.eye(n, r)
    U0 = _init_matrix(init, (n, r), default)
    upper = _upper_triangle(n)

    def fn(U):
        return upper(anp.einsum("...ac,...bc->...ab", U, U))

    G = Parametrization(
        fn, manifold, name=f"W = U U^T on {type(manifold).__name__}({n}, {r})", vectorized=True
    )
    G(U0)  # validates init (on Stiefel: orthonormal columns)
    return G, U0


def isospectral(spectrum, *, init=None):
    """$W = Q \\operatorname{diag}(s) Q^T$ for $Q$ on `SpecialOrthogonal(n)` (points
    `(n, n)`, geomstats' bi-invariant metric $\\langle U, V \\rangle = \\operatorname{tr}(U^T
    V) / 2$), $w$ the upper triangle of $W$: the orbit of $\\operatorname{diag}(s)$, an
    isospectral manifold.

    For $L = -\\operatorname{tr}(W N)$ the flow is the double-bracket flow
    $\\dot W = 2 [W, [W, N]]$, which sorts the spectrum along the eigenvectors of $N$. Not
    regular ($d = n(n+1)/2 > n(n-1)/2$) and not commuting.

    Args:
        spectrum: `s`, `(n,)`.
        init: `Q0`, a rotation `(n, n)`; default `I`.

    Returns:
        `(G, Q0)`.

    Examples:
        >>> import numpy as np, riemflow as rf
        >>> G, Q0 = rf.models.isospectral([1.0, 2.0])
        >>> G(Q0).tolist()
        [1.0, 0.0, 2.0]
    """
    s = check_finite(as_float_array(spectrum, "spectrum"), "spectrum")
    if s.ndim != 1 or s.size < 2:
        raise ShapeError(
            f"`spectrum` must have shape (n,), n >= 2; got {s.shape}", argument="spectrum"
        )
    n = s.size
    Q0 = _init_matrix(init, (n, n), np.eye(n))
    upper = _upper_triangle(n)

    def fn(Q):
        return upper(anp.einsum("...ac,c,...bc->...ab", Q, s, Q))

    G = Parametrization(fn, SpecialOrthogonal(n), name=f"Q diag(s) Q^T on SO({n})", vectorized=True)
    G(Q0)  # validates init: a rotation
    return G, Q0


def weight_normalization(dim: int, *, init=None):
    """$w = r u$ with the direction $u$ on the sphere $S^{k-1}$ and the scale $r > 0$: the
    product manifold `ProductManifold([Hypersphere(k - 1), Euclidean(1)])` (geomstats
    concatenates the factors: points `(k + 1,)` = `(u, r)`), each factor with its own
    metric.

    Regular ($r > 0$) but not commuting: in $w$ the metric is $dr^2 + d\\theta^2$ (a
    cylinder), which is not a Hessian metric in these coordinates.

    Args:
        dim: `k`.
        init: `(u0, r0)` as `(k + 1,)`; default `u0 = 1 / sqrt(k)`, `r0 = 1`.

    Returns:
        `(G, x0)`.

    Examples:
        >>> import riemflow as rf
        >>> G, x0 = rf.models.weight_normalization(2)
        >>> G(x0).round(6).tolist(), G.check_regular(n_samples=8).passed
        ([0.707107, 0.707107], True)
    """
    k = as_positive_int(dim, "dim")
    if k < 2:
        raise InputError(f"`dim` must be >= 2; got {k}", argument="dim")
    space = ProductManifold([Hypersphere(k - 1), Euclidean(1)])
    default = np.concatenate([np.full(k, 1.0 / np.sqrt(k)), [1.0]])
    x0 = _init_matrix(init, (k + 1,), default)

    def fn(x):
        return x[..., k:] * x[..., :k]

    def positive(x):
        return np.asarray(x)[..., k] > 0

    def sample(rng, n):
        u = rng.standard_normal((n, k))
        r = np.exp(rng.uniform(np.log(0.5), np.log(2.0), size=(n, 1)))
        return np.concatenate([u / np.linalg.norm(u, axis=-1, keepdims=True), r], axis=-1)

    G = Parametrization(
        fn,
        space,
        name=f"w = r u on S^{k - 1} x R (k={k})",
        domain=positive,
        sampler=sample,
        vectorized=True,
    )
    G(x0)  # validates init: |u| = 1, r > 0
    return G, x0


def _hyperbolic_line(model: str, w0: np.ndarray) -> Legendre:
    """The mirror potential of the identity chart of the hyperbolic line at `w0`: the metric
    `R''` is `4 / (1 - w^2)^2` (ball: `R = 2 w artanh(w)`) or `1 / w^2` (half-line:
    `R = -log w`)."""
    if model == "half_space":
        return log_barrier(1).centered(w0, name="-log w (hyperbolic half-line)")

    def value(w):
        return anp.sum(2.0 * w * anp.arctanh(w), axis=-1)

    def grad(w):
        return 2.0 * w / (1.0 - w * w) + 2.0 * anp.arctanh(w)

    def hessian(w):
        return (4.0 / (1.0 - w * w) ** 2)[..., None]

    R = Legendre(value, 1, domain=Ball(1), grad=grad, hessian=hessian, name="2 w artanh(w)")
    return R.centered(w0, name="2 w artanh(w) (Poincare line)")


def hyperbolic_chart(dim: int, *, model: str = "ball", init=None):
    """The identity chart $w = x$ of hyperbolic space in intrinsic coordinates.

    - `model="ball"`: geomstats `PoincareBall(d)`, metric $4 / (1 - |x|^2)^2 I$ (from
      geomstats' `metric_matrix`); $K = (1 - |x|^2)^2 / 4 \\, I$.
    - `model="half_space"`: geomstats `PoincareHalfSpace(d)`, metric $I / x_d^2$ (from
      geomstats' `inner_product` alone); $K = x_d^2 I$.

    For `d = 1` the chart is the mirror flow of $R(w) = 2 w \\operatorname{artanh}(w)$ (ball)
    or $R(w) = -\\log w$ (half-line), the closed forms returned; for `d >= 2` the fields do
    not commute (the hyperbolic metric is not a Hessian metric in these coordinates).

    Args:
        dim: `d`.
        model: `"ball"` or `"half_space"`.
        init: `x0`, `(d,)`; default the origin (ball) or `(0, ..., 0, 1)` (half-space).

    Returns:
        `(G, x0)`.

    Examples:
        >>> import numpy as np, riemflow as rf
        >>> G, x0 = rf.models.hyperbolic_chart(2, model="half_space")
        >>> G.kernel(np.array([0.3, 0.5])).round(12).tolist()
        [[0.25, 0.0], [0.0, 0.25]]
    """
    d = as_positive_int(dim, "dim")
    if model == "ball":
        space, default = PoincareBall(d), np.zeros(d)
    elif model == "half_space":
        space, default = PoincareHalfSpace(d), np.concatenate([np.zeros(d - 1), [1.0]])
    else:
        raise InputError(f"`model` must be 'ball' or 'half_space'; got {model!r}", argument="model")
    x0 = _init_matrix(init, (d,), default)

    def identity(x):
        return x * 1.0

    def potential(x):
        return _hyperbolic_line(model, np.asarray(x, dtype=np.float64)) if d == 1 else None

    G = Parametrization(
        identity,
        space,
        name=f"identity chart on {type(space).__name__}({d})",
        vectorized=True,
        potential=potential,
    )
    G(x0)  # validates init
    return G, x0

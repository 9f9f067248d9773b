"""The model zoo: parametrizations from the implicit-bias literature.

Every constructor returns `(G, x_init)`: a `Parametrization` and its default (or given)
initialization. Maps broadcast over a leading batch axis, so checks on many points run
vectorised. Which ones commute (MATH.md section 2):

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
"""

from __future__ import annotations

import numbers

import autograd.numpy as anp
import numpy as np
from geomstats.geometry.hypersphere import Hypersphere

from ._validation import as_float_array, as_positive, as_positive_int, check_finite
from .errors import (
    ConvergenceError,
    DomainError,
    InputError,
    NotCommutingError,
    NotRegularError,
    ShapeError,
)
from .parametrization import Parametrization
from .potentials import (
    commuting_quadratic,
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

    Example:
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

        def potential(x):  # MATH.md section 4: any depth >= 2 (or 1), any init
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

    Gradient flow is $\\dot w = -4 w \\odot \\nabla L(w)$ (MATH.md section 4).

    Example:
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

    Example:
        >>> import riemflow as rf
        >>> G, x0 = rf.models.hadamard_product(2, init=(1.0, 3.0))
        >>> G(x0).tolist()
        [3.0, 3.0]
    """
    return diagonal_network(dim, 2, alpha=alpha, init=init, signed=False, form="product")


def linear(A, b=None, *, init=None):
    """$w = A x + b$, $A$: `(d, D)`; commuting (constant gradient fields).

    Regular iff `A` has full row rank. Default `x_init = 0`.

    Example:
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

    Example:
        >>> import numpy as np, riemflow as rf
        >>> G, x0 = rf.models.quadratic(np.stack([np.diag([1.0, 0.0]), np.diag([0.0, 2.0])]))
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


def matrix_sensing(measurements, *, rank: int | None = None, alpha: float = 1.0, init=None):
    """Matrix sensing $w_i = \\langle A_i, U U^T \\rangle$, $U$: `(k, r)`, $x = $ `U.ravel()`.

    Only the symmetric parts of the $A_i$ matter; the gradient fields commute iff those
    commute pairwise (then the model is a `quadratic` family with commuting matrices
    $2 A_i \\otimes I_r$). Default $U_0 = \\alpha I_{k \\times r}$.

    Args:
        measurements: `(n, k, k)` stack of measurement matrices.
        rank: `r` (default `k`).
        alpha: default initialization scale.
        init: `U0` as `(k, r)` or flat `(k r,)`.

    Example:
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
        U = anp.reshape(x, anp.shape(x)[:-1] + (k, r))
        gram = anp.einsum("...ac,...bc->...ab", U, U)
        return anp.einsum("nab,...ab->...n", A, gram)

    # <A_i, U U^T> = x^T (A_i (x) I_r) x: the quadratic family with matrices 2 A_i (x) I_r
    quad = 2.0 * np.einsum("nab,cd->nacbd", A, np.eye(r)).reshape(A.shape[0], k * r, k * r)
    G = Parametrization(
        fn,
        k * r,
        name=f"matrix sensing (n={A.shape[0]}, k={k}, r={r})",
        vectorized=True,
        potential=lambda x: _closed_form_or_none(commuting_quadratic, quad, x),
    )
    return G, x_init


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

    Example:
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

    Example:
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
    the sign convention of `lie_brackets`), but "time-warped" (MATH.md section 4): the fields
    $\nabla G_i / a$ commute, so along gradient flow $d \nabla R(w) = -a \nabla L\, dt$ with
    the potential `riemflow.potentials.single_neuron(a0, z0)`: the flow is the mirror flow of
    that `R` run at speed `a(t)`, and converges to the same Bregman projection. Regular where
    $a \neq 0$; the potential needs $\delta = a_0^2 - |z_0|^2 > 0$.

    Args:
        dim: `k`, the size of `w`.
        init: `(a0, z0)` as a flat `(1 + k,)` array; default `a0 = 1`, `z0 = 0.5 / sqrt(k)`
            (`delta = 0.75`).

    Example:
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
    times 4: gradient flow here is mirror flow with $R / 4$ (MATH.md section 5).

    Args:
        dim: `d` (the sphere is `S^d`, points in `R^{d+1}`).
        init: a point `(d+1,)` of the positive orthant of the sphere; default the
            barycenter `1 / sqrt(d+1)`.

    Example:
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

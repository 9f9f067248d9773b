"""The catalog of named models, potentials, losses and reproductions.

The command line (`riemflow verify --model NAME`, `--potential NAME`, `--loss NAME`,
`riemflow reproduce NAME`), the docs' tables and the tests all read these four registries,
so a new model, potential, loss or reproduction is added here once. Each entry builds its
object from the few options the command line has (`dim`, `depth`, `alpha`, `p`, a seeded
`rng`):

- `MODELS[name].build(dim, depth=, alpha=, rng=) -> (G, x_init)`; `.commuting` says what
  the check must find;
- `POTENTIALS[name].build(dim, alpha=, p=) -> Legendre`; `.curved` says whether its Hessian
  metric is curved (a numerical embedding) or flat (an exact one);
- `LOSSES[name].build(w0, samples, rng) -> loss`: a random data set around `w0`;
- `REPRODUCTIONS`: the names of `riemflow.experiments`, in the order of the Concepts page's
  references (`riemflow.experiments.get(name)` imports one).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from . import losses, models, potentials
from .errors import InputError
from .experiments import NAMES as REPRODUCTIONS

__all__ = [
    "ModelEntry",
    "PotentialEntry",
    "LossEntry",
    "MODELS",
    "POTENTIALS",
    "LOSSES",
    "REPRODUCTIONS",
    "model",
    "potential",
    "loss",
]


@dataclass(frozen=True)
class ModelEntry:
    """A named model: `build(dim, depth=, alpha=, rng=) -> (G, x_init)`.

    Attributes:
        description: one line for help texts and tables.
        commuting: whether its gradient fields commute.
        build: the constructor.
    """

    description: str
    commuting: bool
    build: Callable


@dataclass(frozen=True)
class PotentialEntry:
    """A named Legendre function: `build(dim, alpha=, p=) -> Legendre`.

    Attributes:
        description: one line for help texts and tables.
        curved: whether its Hessian metric is curved (else flat).
        build: the constructor.
    """

    description: str
    curved: bool
    build: Callable


@dataclass(frozen=True)
class LossEntry:
    """A named loss on random data: `build(w0, samples, rng) -> loss`.

    Attributes:
        description: one line for help texts and tables.
        build: the constructor.
    """

    description: str
    build: Callable


def _random_commuting(dim: int, size: int, rng) -> np.ndarray:
    """`dim` random symmetric matrices `(dim, size, size)` with one common eigenbasis."""
    V, _ = np.linalg.qr(rng.standard_normal((size, size)))
    return np.einsum("ij,aj,kj->aik", V, rng.uniform(-1, 1, (dim, size)), V)


def _product(dim, *, depth, alpha, rng):
    L = int(depth)
    return models.diagonal_network(dim, L, form="product", init=rng.uniform(0.5, 1.5, 2 * L * dim))


def _quadratic(dim, *, depth, alpha, rng):
    G, _ = models.quadratic(_random_commuting(dim, dim + 2, rng))
    return G, rng.standard_normal(dim + 2)


def _sensing(dim, *, depth, alpha, rng):
    G, _ = models.matrix_sensing(_random_commuting(dim, dim, rng), rank=2)
    return G, rng.standard_normal(2 * dim)


MODELS: dict[str, ModelEntry] = {
    "diagonal": ModelEntry(
        "w = u^L - v^L (power form, --depth L, --alpha)",
        True,
        lambda dim, *, depth, alpha, rng: models.diagonal_network(dim, depth, alpha=alpha),
    ),
    "product": ModelEntry(
        "w = u_1 ... u_L - v_1 ... v_L (--depth L, random positive init)", True, _product
    ),
    "hadamard": ModelEntry(
        "w = u * v (random positive init)",
        True,
        lambda dim, *, depth, alpha, rng: models.hadamard_product(
            dim, init=rng.uniform(0.5, 1.5, 2 * dim)
        ),
    ),
    "quadratic": ModelEntry(
        "G_i = x^T A_i x / 2, random commuting A_i on R^(dim+2)", True, _quadratic
    ),
    "sensing": ModelEntry(
        "matrix sensing <A_i, U U^T> with commuting A_i (k = dim, rank 2)", True, _sensing
    ),
    "sphere": ModelEntry(
        "w = u * u on the sphere S^dim (simplex entropy)",
        True,
        lambda dim, *, depth, alpha, rng: models.simplex_sphere(dim),
    ),
    "neuron": ModelEntry(
        "w = a z (one neuron): not commuting, time-warped",
        False,
        lambda dim, *, depth, alpha, rng: models.single_neuron(dim),
    ),
    "factorization": ModelEntry(
        "W = U U^T (dim x dim, upper triangle): not commuting",
        False,
        lambda dim, *, depth, alpha, rng: models.matrix_factorization(dim, alpha=alpha),
    ),
    "spd": ModelEntry(
        "triu(P) on SPD(dim), affine-invariant metric: the mirror flow of -log det (P0 = alpha I)",
        True,
        lambda dim, *, depth, alpha, rng: models.spd_chart(dim, alpha=alpha),
    ),
    "spd_bures_wasserstein": ModelEntry(
        "triu(P) on SPD(dim), Bures-Wasserstein metric: not commuting",
        False,
        lambda dim, *, depth, alpha, rng: models.spd_chart(dim, "bures_wasserstein", alpha=alpha),
    ),
    "spd_log_euclidean": ModelEntry(
        "triu(P) on SPD(dim), log-Euclidean metric: not commuting",
        False,
        lambda dim, *, depth, alpha, rng: models.spd_chart(dim, "log_euclidean", alpha=alpha),
    ),
    "spd_log": ModelEntry(
        "triu(log P) on SPD(dim), log-Euclidean metric: |log P - log P0|^2 / 2",
        True,
        lambda dim, *, depth, alpha, rng: models.spd_chart(
            dim, "log_euclidean", chart="log", alpha=alpha
        ),
    ),
    "stiefel": ModelEntry(
        "W = U U^T, U on Stiefel(dim + 1, 2), canonical metric: not commuting",
        False,
        lambda dim, *, depth, alpha, rng: models.symmetric_factorization(
            dim + 1, 2, space="stiefel"
        ),
    ),
    "isospectral": ModelEntry(
        "W = Q diag(1, ..., dim) Q^T, Q on SO(dim), bi-invariant metric: not commuting",
        False,
        lambda dim, *, depth, alpha, rng: models.isospectral(np.arange(1.0, dim + 1)),
    ),
    "weight_norm": ModelEntry(
        "w = r u, (u, r) on S^(dim-1) x R: not commuting",
        False,
        lambda dim, *, depth, alpha, rng: models.weight_normalization(dim),
    ),
    "poincare": ModelEntry(
        "w = x on the Poincare ball of dimension dim: not commuting (dim >= 2)",
        False,
        lambda dim, *, depth, alpha, rng: models.hyperbolic_chart(dim),
    ),
}

POTENTIALS: dict[str, PotentialEntry] = {
    "negative_entropy": PotentialEntry(
        "sum w log w - w on w > 0",
        False,
        lambda dim, *, alpha, p: potentials.negative_entropy(dim),
    ),
    "hyperbolic_entropy": PotentialEntry(
        "the depth-2 diagonal network potential (--alpha)",
        False,
        lambda dim, *, alpha, p: potentials.hyperbolic_entropy(dim, alpha),
    ),
    "product_network": PotentialEntry(
        "w = u1 u2 u3 - v1 v2 v3 from unbalanced layers (scales 2, 1, 1/2 and 3/2, -1, 7/10 "
        "times --alpha)",
        False,
        lambda dim, *, alpha, p: potentials.product_network(
            alpha * np.array([[2.0], [1.0], [0.5]]) * np.ones(dim),
            alpha * np.array([[1.5], [-1.0], [0.7]]) * np.ones(dim),
        ),
    ),
    "p_norm": PotentialEntry(
        "|w|_p^p / p (--p)", False, lambda dim, *, alpha, p: potentials.p_norm(dim, p)
    ),
    "log_barrier": PotentialEntry(
        "-sum log w", False, lambda dim, *, alpha, p: potentials.log_barrier(dim)
    ),
    "simplex_entropy": PotentialEntry(
        "entropy of (w, 1 - sum w): a piece of a sphere",
        True,
        lambda dim, *, alpha, p: potentials.simplex_entropy(dim),
    ),
    "log_ball": PotentialEntry(
        "-log(1 - |w|^2)", True, lambda dim, *, alpha, p: potentials.log_ball(dim)
    ),
    "log_det": PotentialEntry(
        "-log det P, P SPD of size n = --dim, in upper-triangle coordinates",
        True,
        lambda dim, *, alpha, p: potentials.log_det(dim),
    ),
}


def _regression(w0, samples, rng):
    d = w0.size
    X = rng.standard_normal((samples, d)) / np.sqrt(d)
    return losses.squared(X, X @ (w0 + 0.5 * rng.standard_normal(d)))


def _classification(kind):
    build = losses.exponential if kind == "exponential" else losses.logistic

    def make(w0, samples, rng):
        X = rng.standard_normal((samples, w0.size)) / np.sqrt(w0.size)
        return build(X, np.sign(rng.standard_normal(samples)))

    return make


LOSSES: dict[str, LossEntry] = {
    "squared": LossEntry("least squares on random data around w0 + noise", _regression),
    "exponential": LossEntry(
        "exponential loss on random data with random labels", _classification("exponential")
    ),
    "logistic": LossEntry(
        "logistic loss on random data with random labels", _classification("logistic")
    ),
}


def _lookup(registry: dict, name: str, what: str):
    if name not in registry:
        raise InputError(
            f"unknown {what} {name!r}; choose from {', '.join(registry)}", argument=what
        )
    return registry[name]


def model(name: str, dim: int, *, depth: float = 2.0, alpha: float = 1.0, seed: int = 0):
    """The catalog model `name`: `(G, x_init)` (random parts drawn with `seed`).

    Examples:
        >>> import riemflow as rf
        >>> G, x0 = rf.catalog.model("diagonal", 3, alpha=0.5)
        >>> G(x0).tolist()
        [0.0, 0.0, 0.0]
    """
    entry = _lookup(MODELS, name, "model")
    return entry.build(dim, depth=depth, alpha=alpha, rng=np.random.default_rng(seed))


def potential(name: str, dim: int, *, alpha: float = 1.0, p: float = 3.0):
    """The catalog potential `name`: a `Legendre`.

    Examples:
        >>> import riemflow as rf
        >>> rf.catalog.potential("log_ball", 2).dim
        2
    """
    return _lookup(POTENTIALS, name, "potential").build(dim, alpha=alpha, p=p)


def loss(name: str, w0, samples: int, *, seed: int = 0):
    """The catalog loss `name` on `samples` random data points around `w0`."""
    w0 = np.asarray(w0, dtype=np.float64)
    return _lookup(LOSSES, name, "loss").build(w0, samples, np.random.default_rng(seed))

"""Named Legendre functions with closed-form gradients, Hessians and inverse mirror maps.

Three modules: `elementary` (Euclidean, entropies, barriers, norms, log det, log ball),
`networks` (diagonal networks from any initialization), `deep_product` (products of
layers, signed or not, of any depth: `product_network`); commuting quadratic families are
in `quadratic`. Every name is importable from `riemflow.potentials` directly.

Every formula here is written with `autograd.numpy`, broadcasts over a leading batch axis,
and is stable at extreme parameters (log-domain evaluation where values would overflow,
rewritten differences where they would cancel). Constants are chosen so that
`R(c) = 0` at a natural center `c` where convenient.

| potential | `R(w)` | domain | `grad R*(mu)` |
|---|---|---|---|
| `squared_euclidean` | `w^T A w / 2` | `R^d` | `A^{-1} mu` |
| `negative_entropy` | `sum w log w - w` | `w > 0` | `exp(mu)` |
| `simplex_entropy` | `sum w log w - w + s log s - s` | simplex | softmax, extra 0 logit |
| `hyperbolic_entropy` | `u*u - v*v` | `R^d` | `2 alpha^2 sinh(4 mu)` |
| `diagonal_network` | depth-`L` network potential | `R^d` | closed form; `grad R` by root solve |
| `power_network` | `u^L - v^L` from any `(u0, v0)` | an interval per coordinate | as above |
| `exponential_pair` | depth-2 models, any init | interval | `a e^{k mu} - b e^{-k mu}` |
| `product_network` | `u_1...u_L - v_1...v_L`, any init | `R^d` (or half-lines) | scalar solves |
| `log_barrier` | `-sum log w` (Burg) | `w > 0` | `-1 / mu` |
| `p_norm` | `sum |w|^p / p` | `R^d` | `sign(mu) |mu|^{q-1}` |
| `log_det` | `-log det P` | SPD matrices | `-M(mu)^{-1}` |
| `log_ball` | `-log(1 - |w|^2)` | unit ball | `mu / (1 + sqrt(1 + |mu|^2))` |

`u*u - v*v`: see [Concepts: closed forms for diagonal
networks](concepts.md#closed-forms-for-diagonal-networks).

"""

from __future__ import annotations

from .deep_product import DeepInit, SignedDeepInit, deep_product, product_network
from .elementary import (
    log_ball,
    log_barrier,
    log_det,
    negative_entropy,
    p_norm,
    simplex_entropy,
    squared_euclidean,
)
from .networks import (
    diagonal_network,
    exponential_pair,
    hyperbolic_entropy,
    power_network,
    product_pair,
    single_neuron,
)
from .quadratic import commuting_quadratic

__all__ = [
    "squared_euclidean",
    "negative_entropy",
    "simplex_entropy",
    "hyperbolic_entropy",
    "diagonal_network",
    "power_network",
    "exponential_pair",
    "product_pair",
    "deep_product",
    "DeepInit",
    "product_network",
    "SignedDeepInit",
    "commuting_quadratic",
    "single_neuron",
    "log_barrier",
    "p_norm",
    "log_det",
    "log_ball",
]

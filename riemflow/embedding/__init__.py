"""Isometric embeddings `F: (Omega, hess R) -> R^D` of Hessian metrics ([Concepts: the
converse via Nash embedding](concepts.md#the-converse-via-nash-embedding)).

An `Embedding` is a map `F` with `dF(w)^T dF(w) = hess R(w)`, written so that autograd
differentiates it (the pullback metric and Lie brackets of the converse parametrization
need first and second derivatives of `F`). Constructions, one module each:

- `flat`: exact embeddings of flat metrics into `R^d` (`separable_embedding`,
  `flat_embedding`);
- `chebyshev`: curved metrics, `D > d`: `ChebyshevEmbedding`, a tensor Chebyshev series
  fitted by collocation (`curved_embedding`);
- `image`: the embedded image `M = F(K)` in ambient coordinates (`EmbeddedImage`) and the
  parametrization `F^{-1}` on it (`ambient_parametrization`).

`riemflow.commuting_parametrization` chooses among them.
"""

from __future__ import annotations

from .base import Embedding
from .chebyshev import ChebyshevEmbedding, DegreeStep, chebyshev_basis, chebyshev_nodes
from .flat import flat_embedding, separable_embedding
from .image import EmbeddedImage, ambient_parametrization

__all__ = [
    "Embedding",
    "ChebyshevEmbedding",
    "DegreeStep",
    "EmbeddedImage",
    "ambient_parametrization",
    "chebyshev_basis",
    "chebyshev_nodes",
    "flat_embedding",
    "separable_embedding",
]
